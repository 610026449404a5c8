//! The task's atomic state word: lifecycle bits, a reference count and the poll count in
//! one `u64`.
//!
//! Keeping the first two in one word lets every transition below be a single
//! compare-and-swap, so a wake, an abort, a completion and a `JoinHandle` drop racing each
//! other always agree on who does what. The transition table lives in the [`task`](super)
//! module docs. The poll count rides along in the high half: `transition_to_running` is a
//! compare-and-swap anyway, so counting there is free, and the header needs no 32-bit field
//! of its own (which alignment would round up to eight bytes).
//!
//! Layout, low to high: 7 lifecycle bits, 25 bits of reference count, 32 bits of polls.

use crate::loom::atomic::{AtomicU64, Ordering::*};

/// The future is being polled (or cancelled) by exactly one thread, which owns the stage.
pub(crate) const RUNNING: u64 = 0b00_0001;
/// The future is gone: the output (or the error) is stored or already dropped.
pub(crate) const COMPLETE: u64 = 0b00_0010;
/// A wake-up is pending: the task is in a run queue, or will be re-queued after its poll.
pub(crate) const NOTIFIED: u64 = 0b00_0100;
/// Abort or shutdown was requested; the next thread to hold `RUNNING` drops the future.
pub(crate) const CANCELLED: u64 = 0b00_1000;
/// A `JoinHandle` exists and will read the output.
pub(crate) const JOIN_INTEREST: u64 = 0b01_0000;
/// The join waker slot holds a waker and belongs to the runtime side until it is cleared.
pub(crate) const JOIN_WAKER: u64 = 0b10_0000;
/// Set together with `COMPLETE` when the output is a `JoinError` (panic or cancellation).
pub(crate) const FAILED: u64 = 0b100_0000;

const LIFECYCLE_MASK: u64 = RUNNING | COMPLETE | NOTIFIED | CANCELLED | FAILED;
const REF_SHIFT: u32 = 7;
/// One reference in the count held above the lifecycle bits.
pub(crate) const REF_ONE: u64 = 1 << REF_SHIFT;
const POLL_SHIFT: u32 = 32;
const REF_MASK: u64 = (1 << (POLL_SHIFT - REF_SHIFT)) - 1;
/// One poll in the count held in the high half.
const POLL_ONE: u64 = 1 << POLL_SHIFT;
/// `ref_inc` aborts once the count reaches this: far beyond any real use (each reference is
/// a waker, queue entry or handle somebody stores), and half the field, so that concurrent
/// increments cannot carry into the poll count before one of them sees it.
const REF_LIMIT: u64 = REF_MASK / 2;

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) u64);

impl Snapshot {
    pub(crate) fn is(self, bits: u64) -> bool {
        self.0 & bits == bits
    }
    pub(crate) fn ref_count(self) -> u64 {
        (self.0 >> REF_SHIFT) & REF_MASK
    }
    /// Polls so far (wrapping at `u32::MAX`).
    pub(crate) fn polls(self) -> u32 {
        (self.0 >> POLL_SHIFT) as u32
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("running", &self.is(RUNNING))
            .field("complete", &self.is(COMPLETE))
            .field("notified", &self.is(NOTIFIED))
            .field("cancelled", &self.is(CANCELLED))
            .field("join_interest", &self.is(JOIN_INTEREST))
            .field("join_waker", &self.is(JOIN_WAKER))
            .field("failed", &self.is(FAILED))
            .field("refs", &self.ref_count())
            .field("polls", &self.polls())
            .finish()
    }
}

/// What the caller of [`State::transition_to_running`] must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// Drop the future: the task was aborted.
    Cancel,
    /// The task already completed (shut down while queued): just drop the queue's reference.
    Skip,
}

/// What the caller of [`State::transition_to_idle`] must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Parked until a waker fires; the caller's reference was released (`dealloc` says whether
    /// it was the last one).
    Idle { dealloc: bool },
    /// Woken during the poll: re-queue it; the caller's reference moves to the queue.
    Requeue,
    /// Aborted during the poll: the caller still holds `RUNNING` and drops the future now.
    Cancel,
}

/// What a waker must do after [`State::transition_to_notified_by_val`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WakeAction {
    /// Nothing: the task is running, queued or done.
    Nothing,
    /// Push the task to a run queue; the waker's reference moves to the queue.
    Submit,
    /// The waker held the last reference: free the task.
    Dealloc,
}

/// The state word.
pub(crate) struct State(AtomicU64);

impl State {
    /// A new task: queued once, with a `JoinHandle`, holding `refs` references.
    pub(crate) fn new(refs: usize) -> State {
        debug_assert!((refs as u64) < REF_LIMIT);
        State(AtomicU64::new(
            NOTIFIED | JOIN_INTEREST | (refs as u64 * REF_ONE),
        ))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// Applies `f` in a CAS loop; `f` returns `None` to stop without writing.
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<u64>, R)) -> (Snapshot, R) {
        let mut current = self.0.load(Acquire);
        loop {
            let (next, result) = f(Snapshot(current));
            let Some(next) = next else {
                return (Snapshot(current), result);
            };
            match self.0.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return (Snapshot(current), result),
                Err(actual) => current = actual,
            }
        }
    }

    /// A worker that popped the task from a queue takes the right to run it; a poll (not a
    /// cancellation) is counted in the same swap.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            debug_assert!(s.is(NOTIFIED), "a queued task must be NOTIFIED: {s:?}");
            if s.0 & (RUNNING | COMPLETE) != 0 {
                // Shut down (or cancelled) while it sat in the queue: the queue's reference
                // is all that is left to release.
                return (None, ToRunning::Skip);
            }
            let next = (s.0 & !NOTIFIED) | RUNNING;
            if s.is(CANCELLED) {
                (Some(next), ToRunning::Cancel)
            } else {
                (Some(next.wrapping_add(POLL_ONE)), ToRunning::Poll)
            }
        })
        .1
    }

    /// After a `Pending` poll, gives up `RUNNING`.
    pub(crate) fn transition_to_idle(&self) -> ToIdle {
        self.update(|s| {
            debug_assert!(s.is(RUNNING));
            if s.is(CANCELLED) {
                return (None, ToIdle::Cancel);
            }
            let mut next = s.0 & !RUNNING;
            if s.is(NOTIFIED) {
                // The runner's reference becomes the queue's reference.
                (Some(next), ToIdle::Requeue)
            } else {
                next -= REF_ONE;
                let dealloc = Snapshot(next).ref_count() == 0;
                (Some(next), ToIdle::Idle { dealloc })
            }
        })
        .1
    }

    /// After the future finished or was dropped: `RUNNING` → `COMPLETE` (plus `FAILED` when
    /// the output is an error). Returns the state before the transition so the caller sees
    /// `JOIN_INTEREST` / `JOIN_WAKER` as they were.
    pub(crate) fn transition_to_complete(&self, failed: bool) -> Snapshot {
        let failed = if failed { FAILED } else { 0 };
        // RUNNING is set and COMPLETE and FAILED are clear, so adding flips them: one
        // `lock xadd`, where a `fetch_xor` whose result is used compiles to a CAS loop.
        let delta = (COMPLETE | failed).wrapping_sub(RUNNING);
        let prev = Snapshot(self.0.fetch_add(delta, AcqRel));
        debug_assert!(prev.is(RUNNING) && !prev.is(COMPLETE) && !prev.is(FAILED));
        prev
    }

    /// [`transition_to_complete`](Self::transition_to_complete) for a task without a
    /// `JoinHandle` (`JOIN_INTEREST` clear, so nothing is read after completion), releasing
    /// the reference the run holds in the same read-modify-write. `true` when that
    /// reference was the last.
    pub(crate) fn complete_and_release(&self, failed: bool) -> bool {
        let failed = if failed { FAILED } else { 0 };
        let delta = (COMPLETE | failed).wrapping_sub(RUNNING + REF_ONE);
        // AcqRel: the release of a reference, as in `ref_dec`.
        let prev = Snapshot(self.0.fetch_add(delta, AcqRel));
        debug_assert!(
            prev.is(RUNNING)
                && !prev.is(COMPLETE)
                && !prev.is(FAILED)
                && !prev.is(JOIN_INTEREST)
                && prev.ref_count() >= 1
        );
        prev.ref_count() == 1
    }

    /// A waker consumed by `wake()`: schedules the task, or releases the waker's reference.
    pub(crate) fn transition_to_notified_by_val(&self) -> WakeAction {
        self.update(|s| {
            if s.is(RUNNING) {
                // The runner re-queues it after the poll; our reference is not needed.
                let next = (s.0 | NOTIFIED) - REF_ONE;
                debug_assert!(
                    Snapshot(next).ref_count() > 0,
                    "the runner holds a reference"
                );
                (Some(next), WakeAction::Nothing)
            } else if s.0 & (COMPLETE | NOTIFIED) != 0 {
                let next = s.0 - REF_ONE;
                let action = if Snapshot(next).ref_count() == 0 {
                    WakeAction::Dealloc
                } else {
                    WakeAction::Nothing
                };
                (Some(next), action)
            } else {
                (Some(s.0 | NOTIFIED), WakeAction::Submit)
            }
        })
        .1
    }

    /// `wake_by_ref()`: schedules the task with a new reference, or does nothing.
    pub(crate) fn transition_to_notified_by_ref(&self) -> bool {
        self.update(|s| {
            if s.is(RUNNING) {
                if s.is(NOTIFIED) {
                    (None, false)
                } else {
                    (Some(s.0 | NOTIFIED), false)
                }
            } else if s.0 & (COMPLETE | NOTIFIED) != 0 {
                (None, false)
            } else {
                (Some((s.0 | NOTIFIED) + REF_ONE), true)
            }
        })
        .1
    }

    /// `abort()` from a handle: returns `true` when the caller must submit the task (with the
    /// reference this transition added) so a worker drops its future.
    pub(crate) fn transition_to_aborted(&self) -> bool {
        self.update(|s| {
            if s.0 & (COMPLETE | CANCELLED) != 0 {
                (None, false)
            } else if s.is(RUNNING) {
                // The runner sees CANCELLED when the poll returns.
                (Some(s.0 | CANCELLED | NOTIFIED), false)
            } else if s.is(NOTIFIED) {
                // Already queued: the worker that pops it sees CANCELLED.
                (Some(s.0 | CANCELLED), false)
            } else {
                (Some((s.0 | CANCELLED | NOTIFIED) + REF_ONE), true)
            }
        })
        .1
    }

    /// Shutdown: takes `RUNNING` from an idle or queued task so the caller can drop its
    /// future in place. Returns `false` when the task is complete, or running elsewhere (then
    /// it is marked cancelled and its runner drops it after the current poll).
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|s| {
            if s.is(COMPLETE) {
                (None, false)
            } else if s.is(RUNNING) {
                if s.is(CANCELLED) {
                    (None, false)
                } else {
                    (Some(s.0 | CANCELLED), false)
                }
            } else {
                (Some(s.0 | RUNNING | CANCELLED), true)
            }
        })
        .1
    }

    /// The `JoinHandle` is dropped. Returns the state before the drop: if it was `COMPLETE`,
    /// the output belongs to the caller, who must drop it; otherwise the runtime drops the
    /// output on completion. The join waker slot belongs to the caller afterwards unless the
    /// task was complete with `JOIN_WAKER` still set (then the completing thread frees it).
    pub(crate) fn drop_join_interest(&self) -> Snapshot {
        self.update(|s| {
            debug_assert!(s.is(JOIN_INTEREST));
            let next = if s.is(COMPLETE) {
                s.0 & !JOIN_INTEREST
            } else {
                s.0 & !(JOIN_INTEREST | JOIN_WAKER)
            };
            (Some(next), ())
        })
        .0
    }

    /// The fast path of a `JoinHandle` drop, for a task not complete whose handle has no
    /// waker published (a detached spawn): clears `JOIN_INTEREST` and releases the handle's
    /// reference in one compare-and-swap, where the slow path takes two read-modify-writes.
    /// `None` (nothing changed) once the task is complete or `JOIN_WAKER` is set: the slow
    /// path must run. `Some(last)`: whether the released reference was the last one.
    /// `current` is the caller's snapshot, the compare-and-swap's first guess.
    pub(crate) fn drop_join_handle_fast(&self, current: Snapshot) -> Option<bool> {
        let mut current = current.0;
        loop {
            let s = Snapshot(current);
            if s.is(COMPLETE) || s.is(JOIN_WAKER) {
                return None;
            }
            debug_assert!(s.is(JOIN_INTEREST) && s.ref_count() >= 1);
            let next = (current & !JOIN_INTEREST) - REF_ONE;
            // AcqRel: the release of a reference, as in `ref_dec`.
            match self.0.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return Some(s.ref_count() == 1),
                Err(actual) => current = actual,
            }
        }
    }

    /// The `JoinHandle` publishes the waker it just wrote. Fails (returning the state) when
    /// the task completed first; the slot then still belongs to the handle.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        let (prev, ok) = self.update(|s| {
            debug_assert!(s.is(JOIN_INTEREST) && !s.is(JOIN_WAKER));
            if s.is(COMPLETE) {
                (None, false)
            } else {
                (Some(s.0 | JOIN_WAKER), true)
            }
        });
        if ok { Ok(()) } else { Err(prev) }
    }

    /// The `JoinHandle` takes its slot back to replace the waker. Fails when the task
    /// completed first (the runtime may be reading the slot: leave it alone).
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        let (prev, ok) = self.update(|s| {
            // Once COMPLETE, the runtime may already have woken the waker and cleared
            // JOIN_WAKER (`unset_join_waker_after_complete`) since the handle looked.
            debug_assert!(s.is(JOIN_INTEREST) && (s.is(JOIN_WAKER) || s.is(COMPLETE)));
            if s.is(COMPLETE) {
                (None, false)
            } else {
                (Some(s.0 & !JOIN_WAKER), true)
            }
        });
        if ok { Ok(()) } else { Err(prev) }
    }

    /// After completion the runtime has woken the join waker and hands the slot back.
    /// Returns the state before: without `JOIN_INTEREST` the handle is gone and the caller
    /// must drop the waker itself.
    pub(crate) fn unset_join_waker_after_complete(&self) -> Snapshot {
        Snapshot(self.0.fetch_and(!JOIN_WAKER, AcqRel))
    }

    pub(crate) fn ref_inc(&self) {
        let prev = Snapshot(self.0.fetch_add(REF_ONE, Relaxed));
        // A count this large means references leak; stop before the field overflows.
        if prev.ref_count() >= REF_LIMIT {
            crate::report::report(format_args!(
                "task reference count overflow ({} references to one task): aborting",
                prev.ref_count()
            ));
            std::process::abort();
        }
    }

    /// Releases one reference; `true` when it was the last.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.0.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }
}

const _: () = assert!(LIFECYCLE_MASK < REF_ONE);
const _: () = assert!(REF_MASK << REF_SHIFT < POLL_ONE);

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn polls_are_counted_beside_the_references_without_touching_them() {
        let state = State::new(3);
        assert_eq!((state.load().ref_count(), state.load().polls()), (3, 0));
        assert_eq!(state.transition_to_running(), ToRunning::Poll);
        assert_eq!(state.load().polls(), 1);
        // Re-queued by a wake during the poll: the reference moves to the queue.
        assert!(!state.transition_to_notified_by_ref());
        assert_eq!(state.transition_to_idle(), ToIdle::Requeue);
        assert_eq!(state.transition_to_running(), ToRunning::Poll);
        assert_eq!(state.transition_to_idle(), ToIdle::Idle { dealloc: false });
        let s = state.load();
        assert_eq!((s.ref_count(), s.polls()), (2, 2));
        // An abort's run cancels instead of polling: not counted.
        assert!(state.transition_to_aborted());
        assert_eq!(state.transition_to_running(), ToRunning::Cancel);
        assert_eq!(state.load().polls(), 2);
    }

    #[test]
    fn the_poll_count_wraps_without_carrying_into_the_references() {
        let state = State::new(2);
        // Start just below the wrap.
        state
            .0
            .fetch_add(u64::from(u32::MAX) << POLL_SHIFT, Relaxed);
        assert_eq!(state.load().polls(), u32::MAX);
        assert_eq!(state.transition_to_running(), ToRunning::Poll);
        let s = state.load();
        assert_eq!((s.polls(), s.ref_count()), (0, 2));
        assert!(s.is(RUNNING | JOIN_INTEREST) && !s.is(NOTIFIED));
    }
}
