//! The task's atomic state word: lifecycle bits and a reference count in one `usize`.
//!
//! Keeping both in one word lets every transition below be a single compare-and-swap, so a
//! wake, an abort, a completion and a `JoinHandle` drop racing each other always agree on
//! who does what. The transition table lives in the [`task`](super) module docs.

use crate::loom::atomic::{AtomicUsize, Ordering::*};

/// The future is being polled (or cancelled) by exactly one thread, which owns the stage.
pub(crate) const RUNNING: usize = 0b00_0001;
/// The future is gone: the output (or the error) is stored or already dropped.
pub(crate) const COMPLETE: usize = 0b00_0010;
/// A wake-up is pending: the task is in a run queue, or will be re-queued after its poll.
pub(crate) const NOTIFIED: usize = 0b00_0100;
/// Abort or shutdown was requested; the next thread to hold `RUNNING` drops the future.
pub(crate) const CANCELLED: usize = 0b00_1000;
/// A `JoinHandle` exists and will read the output.
pub(crate) const JOIN_INTEREST: usize = 0b01_0000;
/// The join waker slot holds a waker and belongs to the runtime side until it is cleared.
pub(crate) const JOIN_WAKER: usize = 0b10_0000;
/// Set together with `COMPLETE` when the output is a `JoinError` (panic or cancellation).
pub(crate) const FAILED: usize = 0b100_0000;

const LIFECYCLE_MASK: usize = RUNNING | COMPLETE | NOTIFIED | CANCELLED | FAILED;
const REF_SHIFT: usize = 7;
/// One reference in the count held in the high bits.
pub(crate) const REF_ONE: usize = 1 << REF_SHIFT;

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(crate) usize);

impl Snapshot {
    pub(crate) fn is(self, bits: usize) -> bool {
        self.0 & bits == bits
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
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
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: queued once, with a `JoinHandle`, holding `refs` references.
    pub(crate) fn new(refs: usize) -> State {
        State(AtomicUsize::new(
            NOTIFIED | JOIN_INTEREST | (refs * REF_ONE),
        ))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// Applies `f` in a CAS loop; `f` returns `None` to stop without writing.
    fn update<R>(&self, mut f: impl FnMut(Snapshot) -> (Option<usize>, R)) -> (Snapshot, R) {
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

    /// A worker that popped the task from a queue takes the right to run it.
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|s| {
            debug_assert!(s.is(NOTIFIED), "a queued task must be NOTIFIED: {s:?}");
            if s.0 & (RUNNING | COMPLETE) != 0 {
                // Shut down (or cancelled) while it sat in the queue: the queue's reference
                // is all that is left to release.
                return (None, ToRunning::Skip);
            }
            let next = (s.0 & !NOTIFIED) | RUNNING;
            let action = if s.is(CANCELLED) {
                ToRunning::Cancel
            } else {
                ToRunning::Poll
            };
            (Some(next), action)
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
        let prev = Snapshot(self.0.fetch_xor(RUNNING | COMPLETE | failed, AcqRel));
        debug_assert!(prev.is(RUNNING) && !prev.is(COMPLETE));
        prev
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
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        // A count this large means references leak; stop before the counter wraps.
        if prev > usize::MAX / 2 {
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
