//! `Barrier` (asyncio's `Barrier`): `n` tasks wait until all have arrived, then all proceed.
//!
//! One record under a shim mutex: the number arrived in the current generation and a
//! [`WaitList`] of arrivals. The `n`-th arrival is the leader: it releases the whole generation
//! at once (each slot set to `true`) and starts a new, empty one, so the barrier is reusable.
//!
//! | arrival's slot  | meaning                        | if the `wait` future is dropped     |
//! |-----------------|--------------------------------|-------------------------------------|
//! | linked, `false` | waiting for the generation     | the arrival is withdrawn (count - 1) |
//! | unlinked, `true`| released                       | nothing: the generation is complete |

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::coop;
use crate::loom::Mutex;
use crate::waiters::{Key, WaitList, WakeList, WakeOnDrop, poll_wait};

struct State {
    arrived: usize,
    waiters: WaitList<bool>,
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
    /// # Cancel safety
    ///
    /// Dropping the future before its generation is complete withdraws this arrival: `n_waiting`
    /// goes down again and the barrier still waits for `parties` arrivals. Once the generation has
    /// been released, dropping it loses nothing.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            done: false,
            led: false,
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("waiting", &self.n_waiting())
            .finish()
    }
}

/// The future returned by [`Barrier::wait`]. Dropping it before the generation completes
/// withdraws the arrival.
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
    barrier: &'a Barrier,
    key: Option<Key>,
    done: bool,
    /// This arrival released its generation but has not returned yet (a waker panicked).
    led: bool,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        assert!(!this.done, "BarrierWait polled after completion");
        coop::proceed(cx, |cx| this.poll_arrival(cx))
    }
}

impl BarrierWait<'_> {
    /// The poll past the budget check.
    fn poll_arrival(&mut self, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        if self.led {
            // The generation was released by this arrival; a waker's panic unwound out of the
            // poll that did it. The leader's result is still this future's to return.
            self.led = false;
            self.done = true;
            return Poll::Ready(BarrierWaitResult { leader: true });
        }
        let barrier = self.barrier;
        if self.key.is_some() {
            let polled = poll_wait(
                cx.waker(),
                &mut self.key,
                None,
                || barrier.state.lock(),
                |state, queued, hold| {
                    state.waiters.finish_if(queued, hold, |&released| {
                        released.then_some(BarrierWaitResult { leader: false })
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
            if state.arrived + 1 == barrier.parties {
                state.arrived = 0;
                let mut wakers = WakeList::new();
                while state
                    .waiters
                    .grant_front(&mut wakers, |released| *released = true)
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
                return Poll::Ready(BarrierWaitResult { leader: true });
            }
            // This arrival waits: it needs its own waker clone, made with the lock released
            // (foreign code), and the arrival counts only once it is queued.
            let Some(waker) = fresh.take() else {
                drop(state);
                fresh = Some(cx.waker().clone());
                continue;
            };
            state.arrived += 1;
            self.key = Some(state.waiters.push_back(false, Some(waker)));
            return Poll::Pending;
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.barrier.state.lock();
        let (released, stale) = state.waiters.remove(key);
        if !released {
            state.arrived -= 1;
        }
        drop(state);
        drop(stale);
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("arrived", &self.key.is_some())
            .finish()
    }
}

/// What [`Barrier::wait`] returns.
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
