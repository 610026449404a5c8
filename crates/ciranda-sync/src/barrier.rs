//! `Barrier` (asyncio's `Barrier`): `n` tasks wait until all have arrived, then all proceed.
//!
//! One record under a shim mutex: the number arrived in the current generation and a
//! [`WaitList`] of arrivals. The `n`-th arrival is the leader: it releases the whole generation
//! at once (each slot set to `Released`) and starts a new, empty one, so the barrier is reusable.
//!
//! [`abort`](Barrier::abort) and [`reset`](Barrier::reset) fail every queued arrival at once
//! (each slot set to `Broken`) and start a new, empty generation; `abort` also sets the
//! `broken` flag, which makes every later arrival fail without counting, until `reset` clears
//! it. All of it happens under the lock, so a generation is all-or-nothing: either its last
//! arrival came first (every arrival released, one leader) or the abort/reset did (every
//! queued arrival fails, and so does the would-be last one if the barrier is still broken).
//! A released slot is final: an abort right after a release does not touch it.
//!
//! | arrival's slot         | meaning                      | if the `wait` future is dropped      |
//! |------------------------|------------------------------|--------------------------------------|
//! | linked, `Waiting`      | waiting for the generation   | the arrival is withdrawn (count - 1) |
//! | unlinked, `Released`   | released                     | nothing: the generation is complete  |
//! | unlinked, `Broken`     | failed by `abort` or `reset` | nothing: it no longer counts         |
//! | none, barrier `broken` | fails at its first poll      | nothing: it never arrived            |

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::coop;
use crate::loom::Mutex;
use crate::waiters::{Key, WaitList, WakeList, WakeOnDrop, poll_wait};

/// What a queued arrival's slot says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrival {
    Waiting,
    Released,
    Broken,
}

struct State {
    arrived: usize,
    /// Set by `abort`, cleared by `reset`: arrivals fail at once.
    broken: bool,
    waiters: WaitList<Arrival>,
}

impl State {
    /// Fails every queued arrival and starts a new, empty generation. The wakers are to be
    /// woken after the lock is released.
    fn fail_all(&mut self) -> WakeList {
        self.arrived = 0;
        let mut wakers = WakeList::new();
        while self
            .waiters
            .grant_front(&mut wakers, |slot| *slot = Arrival::Broken)
        {}
        wakers
    }
}

/// A reusable rendezvous point for a fixed number of tasks.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Barrier;
/// use std::sync::Arc;
///
/// ciranda::run(async {
///     let barrier = Arc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             ciranda::spawn(async move { b.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for task in tasks {
///         leaders += usize::from(task.await.unwrap());
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    state: Mutex<State>,
}

impl Barrier {
    /// Creates a barrier for `n` tasks.
    ///
    /// # Panics
    ///
    /// If `n == 0`; use [`Barrier::try_new`] to get an `Err` instead.
    pub fn new(n: usize) -> Self {
        match Self::try_new(n) {
            Ok(barrier) => barrier,
            Err(err) => panic!("Barrier::new: {err}"),
        }
    }

    /// Creates a barrier for `n` tasks, or an error if `n == 0`.
    pub fn try_new(n: usize) -> Result<Self, ZeroPartiesError> {
        if n == 0 {
            return Err(ZeroPartiesError(()));
        }
        Ok(Barrier {
            parties: n,
            state: Mutex::new(State {
                arrived: 0,
                broken: false,
                waiters: WaitList::new(),
            }),
        })
    }

    /// The number of tasks the barrier waits for.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of tasks waiting in the current generation.
    pub fn n_waiting(&self) -> usize {
        self.state.lock().arrived
    }

    /// Arrives at the barrier and waits for the rest of this generation. The arrival that
    /// completes the generation is the leader.
    ///
    /// # Panics
    ///
    /// The future panics, with "Barrier::wait on a broken barrier (aborted or reset while
    /// waiting; use Barrier::wait_checked to handle it)", where asyncio's `wait()` raises
    /// `BrokenBarrierError`: when the barrier is [broken](Barrier::is_broken) at its first poll,
    /// or when [`abort`](Barrier::abort) or [`reset`](Barrier::reset) is called while it waits.
    /// Use [`Barrier::wait_checked`] to get an `Err` instead.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before its generation is complete withdraws this arrival: `n_waiting`
    /// goes down again and the barrier still waits for `parties` arrivals. Once the generation has
    /// been released (or failed), dropping it loses nothing.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            arrive: Arrive::new(self),
        }
    }

    /// Like [`wait`](Barrier::wait), but a broken barrier is an `Err` instead of a panic: the
    /// future fails with [`BrokenBarrierError`] if the barrier is broken when it is first polled
    /// (without arriving), or if [`abort`](Barrier::abort) or [`reset`](Barrier::reset) is
    /// called while it waits. A generation completes for all its arrivals or for none: an
    /// arrival released by its generation's last arrival returns `Ok` even if `abort` follows
    /// at once.
    ///
    /// # Cancel safety
    ///
    /// As for [`wait`](Barrier::wait): dropping it before its generation completes withdraws
    /// the arrival.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::{Barrier, BrokenBarrierError};
    /// use std::sync::Arc;
    ///
    /// ciranda::run(async {
    ///     let barrier = Arc::new(Barrier::new(2));
    ///     let b = barrier.clone();
    ///     let waiter = ciranda::spawn(async move { b.wait_checked().await });
    ///     while barrier.n_waiting() == 0 {
    ///         ciranda::time::sleep(std::time::Duration::from_millis(1)).await;
    ///     }
    ///     barrier.abort();
    ///     let failed: Result<_, BrokenBarrierError> = waiter.await.unwrap();
    ///     assert!(failed.is_err());
    ///     // Later waits fail at once, until `reset`.
    ///     assert!(barrier.wait_checked().await.is_err());
    /// });
    /// ```
    pub fn wait_checked(&self) -> BarrierWaitChecked<'_> {
        BarrierWaitChecked {
            arrive: Arrive::new(self),
        }
    }

    /// Puts the barrier in the broken state (asyncio's `Barrier.abort()`): every arrival waiting
    /// now fails ([`wait_checked`](Barrier::wait_checked) returns [`BrokenBarrierError`],
    /// [`wait`](Barrier::wait) panics), and so does every later one, at once and without
    /// arriving, until [`reset`](Barrier::reset). An arrival already released by its
    /// generation's last arrival is not affected. Calling it on a broken barrier does nothing.
    ///
    /// # Panics
    ///
    /// If a waiter's waker panics, after every waiter has been woken and the barrier is broken
    /// (see the crate docs on wakers that panic).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = ciranda::sync::Barrier::new(2);
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// ciranda::run(async {
    ///     assert!(barrier.wait_checked().await.is_err());
    /// });
    /// ```
    pub fn abort(&self) {
        let mut state = self.state.lock();
        state.broken = true;
        let wakers = state.fail_all();
        drop(state);
        wakers.wake_all();
    }

    /// Returns the barrier to its initial state, empty and not broken (asyncio's
    /// `Barrier.reset()`): arrivals waiting now fail as after [`abort`](Barrier::abort), and
    /// arrivals after the call start a new generation of `parties`. An arrival already released
    /// by its generation's last arrival is not affected.
    ///
    /// # Panics
    ///
    /// If a waiter's waker panics, after every waiter has been woken and the barrier is reset.
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = ciranda::sync::Barrier::new(1);
    /// barrier.abort();
    /// barrier.reset();
    /// assert!(!barrier.is_broken());
    /// ciranda::run(async {
    ///     assert!(barrier.wait().await.is_leader());
    /// });
    /// ```
    pub fn reset(&self) {
        let mut state = self.state.lock();
        state.broken = false;
        let wakers = state.fail_all();
        drop(state);
        wakers.wake_all();
    }

    /// Whether the barrier is broken: [`abort`](Barrier::abort) was called and
    /// [`reset`](Barrier::reset) was not since (asyncio's `Barrier.broken`).
    ///
    /// # Examples
    ///
    /// ```
    /// let barrier = ciranda::sync::Barrier::new(3);
    /// assert!(!barrier.is_broken());
    /// barrier.abort();
    /// assert!(barrier.is_broken());
    /// ```
    pub fn is_broken(&self) -> bool {
        self.state.lock().broken
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Both read in one look under the lock: `abort` empties the generation as it breaks the
        // barrier, so two looks could show arrivals waiting at a broken barrier. The lock is
        // released before formatting (the formatter's writer is foreign code).
        let (waiting, broken) = {
            let state = self.state.lock();
            (state.arrived, state.broken)
        };
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &waiting)
            .field("broken", &broken)
            .finish()
    }
}

/// The future returned by [`Barrier::wait`]. Dropping it before the generation completes
/// withdraws the arrival. It panics if the barrier is broken (see [`Barrier::wait`]).
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let b = ciranda::sync::Barrier::new(1);
///     assert!(b.wait().await.is_leader());
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct BarrierWait<'a> {
    arrive: Arrive<'a>,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        match self.get_mut().arrive.poll(cx) {
            Poll::Ready(Ok(result)) => Poll::Ready(result),
            Poll::Ready(Err(BrokenBarrierError(()))) => panic!(
                "Barrier::wait on a broken barrier (aborted or reset while waiting; \
                 use Barrier::wait_checked to handle it)"
            ),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("arrived", &self.arrive.key.is_some())
            .finish()
    }
}

/// The future returned by [`Barrier::wait_checked`]: a [`BarrierWait`] that fails with
/// [`BrokenBarrierError`] instead of panicking. Dropping it before the generation completes
/// withdraws the arrival.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let b = ciranda::sync::Barrier::new(1);
///     assert!(b.wait_checked().await.unwrap().is_leader());
///     b.abort();
///     assert!(b.wait_checked().await.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct BarrierWaitChecked<'a> {
    arrive: Arrive<'a>,
}

impl Future for BarrierWaitChecked<'_> {
    type Output = Result<BarrierWaitResult, BrokenBarrierError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().arrive.poll(cx)
    }
}

impl fmt::Debug for BarrierWaitChecked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitChecked")
            .field("arrived", &self.arrive.key.is_some())
            .finish()
    }
}

/// One arrival, shared by both wait futures.
struct Arrive<'a> {
    barrier: &'a Barrier,
    key: Option<Key>,
    done: bool,
    /// This arrival released its generation but has not returned yet (a waker panicked).
    led: bool,
}

type Arrived = Result<BarrierWaitResult, BrokenBarrierError>;

impl<'a> Arrive<'a> {
    fn new(barrier: &'a Barrier) -> Self {
        Arrive {
            barrier,
            key: None,
            done: false,
            led: false,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Arrived> {
        assert!(!self.done, "BarrierWait polled after completion");
        coop::proceed(cx, |cx| self.poll_arrival(cx))
    }

    /// The poll past the budget check.
    fn poll_arrival(&mut self, cx: &mut Context<'_>) -> Poll<Arrived> {
        if self.led {
            // The generation was released by this arrival; a waker's panic unwound out of the
            // poll that did it. The leader's result is still this future's to return.
            self.led = false;
            self.done = true;
            return Poll::Ready(Ok(BarrierWaitResult { leader: true }));
        }
        let barrier = self.barrier;
        if self.key.is_some() {
            let polled = poll_wait(
                cx.waker(),
                &mut self.key,
                None,
                || barrier.state.lock(),
                |state, queued, hold| {
                    state.waiters.finish_if(queued, hold, |&slot| match slot {
                        Arrival::Waiting => None,
                        Arrival::Released => Some(Ok(BarrierWaitResult { leader: false })),
                        Arrival::Broken => Some(Err(BrokenBarrierError(()))),
                    })
                },
            );
            // Set only once the slot is gone: a poll that unwinds before leaves the release in
            // the slot, for a re-poll to return.
            self.done = polled.is_ready();
            return polled;
        }
        // A first arrival most likely waits: clone its waker before taking the lock.
        let mut fresh = (barrier.parties > 1).then(|| cx.waker().clone());
        loop {
            let mut state = barrier.state.lock();
            if state.broken {
                // Fails without arriving. The unused clone is dropped with the lock released;
                // if that panics, a re-poll looks at the barrier again.
                drop(state);
                drop(fresh);
                self.done = true;
                return Poll::Ready(Err(BrokenBarrierError(())));
            }
            if state.arrived + 1 == barrier.parties {
                state.arrived = 0;
                let mut wakers = WakeList::new();
                while state
                    .waiters
                    .grant_front(&mut wakers, |slot| *slot = Arrival::Released)
                {}
                drop(state);
                // Recorded before any foreign code runs (the unused clone's drop, the wakers):
                // a panic unwinds out of this poll, and a later poll must return the leader's
                // result, not arrive again.
                self.led = true;
                // The released arrivals are woken even if the drop panics.
                let wakers = WakeOnDrop(Some(wakers));
                drop(fresh);
                drop(wakers);
                self.led = false;
                self.done = true;
                return Poll::Ready(Ok(BarrierWaitResult { leader: true }));
            }
            // This arrival waits: it needs its own waker clone, made with the lock released
            // (foreign code), and the arrival counts only once it is queued.
            let Some(waker) = fresh.take() else {
                drop(state);
                fresh = Some(cx.waker().clone());
                continue;
            };
            state.arrived += 1;
            self.key = Some(state.waiters.push_back(Arrival::Waiting, Some(waker)));
            return Poll::Pending;
        }
    }
}

impl Drop for Arrive<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.barrier.state.lock();
        let (slot, stale) = state.waiters.remove(key);
        // Only a queued arrival still counts; a released or failed one left with its
        // generation.
        if slot == Arrival::Waiting {
            state.arrived -= 1;
        }
        drop(state);
        drop(stale);
    }
}

/// What [`Barrier::wait`] returns (and [`Barrier::wait_checked`] in its `Ok`).
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let b = ciranda::sync::Barrier::new(1);
///     let result = b.wait().await;
///     assert!(result.is_leader());
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// `true` for exactly one task per generation: the one whose arrival completed it.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

/// [`Barrier::try_new`] was given zero parties.
///
/// # Examples
///
/// ```
/// let err = ciranda::sync::Barrier::try_new(0).unwrap_err();
/// assert_eq!(err.to_string(), "a barrier needs at least one party, got 0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroPartiesError(());

impl fmt::Display for ZeroPartiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a barrier needs at least one party, got 0")
    }
}

impl std::error::Error for ZeroPartiesError {}

/// The barrier was broken while an arrival waited at it, or before it arrived: asyncio's
/// `BrokenBarrierError`. [`Barrier::wait_checked`] returns it when [`Barrier::abort`] or
/// [`Barrier::reset`] is called while it waits, or when the barrier is
/// [broken](Barrier::is_broken) at its first poll.
///
/// # Examples
///
/// ```
/// use ciranda::sync::{Barrier, BrokenBarrierError};
///
/// let barrier = Barrier::new(2);
/// barrier.abort();
/// ciranda::run(async {
///     let err: BrokenBarrierError = barrier.wait_checked().await.unwrap_err();
///     assert_eq!(err.to_string(), "barrier broken (aborted or reset while waiting)");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokenBarrierError(());

impl fmt::Display for BrokenBarrierError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("barrier broken (aborted or reset while waiting)")
    }
}

impl std::error::Error for BrokenBarrierError {}

/// A loom model of `Debug` racing `abort`: the one look under the lock shows the barrier as it
/// was before the abort or after it, never half of each (two looks, one per field, showed an
/// arrival waiting at a broken barrier).
#[cfg(all(test, loom))]
mod debug_model {
    use super::Barrier;
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Waker};
    use loom::sync::Arc;
    use loom::thread;

    #[test]
    fn debug_racing_abort_shows_one_state() {
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let mut arrival = pin!(b.wait_checked());
            let polled = arrival
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
            assert!(polled.is_pending(), "the first of two arrivals waits");
            let b2 = b.clone();
            let aborter = thread::spawn(move || b2.abort());
            let shown = format!("{:?}", *b);
            aborter.join().unwrap();
            assert!(
                shown == "Barrier { parties: 2, waiting: 1, broken: false }"
                    || shown == "Barrier { parties: 2, waiting: 0, broken: true }",
                "a state the barrier never had: {shown}"
            );
        });
    }
}
