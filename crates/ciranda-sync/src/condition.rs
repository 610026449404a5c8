//! `Condition` (asyncio's `Condition`), usable with any ciranda [`Mutex`].
//!
//! A [`WaitList`] of "notified?" flags under a shim mutex. `wait(guard)` queues itself *before*
//! unlocking the mutex, so a `notify` issued after the unlock cannot be missed; then it waits
//! for its flag and re-takes the mutex.
//!
//! | phase of `wait`        | slot            | if the future is dropped                   |
//! |------------------------|-----------------|--------------------------------------------|
//! | queued                 | linked, `false` | slot removed; nothing to pass on           |
//! | notified               | unlinked, `true`| notification passed to the next waiter     |
//! | re-taking the mutex    | unlinked, `true`| notification passed on (lock future drops) |
//! | returned               | freed           | —                                          |
//!
//! `notify(n)` marks up to `n` queued waiters in arrival order; with nobody queued it stores
//! nothing.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::coop;
use crate::loom::Mutex as ShimMutex;
use crate::mutex::{Mutex, MutexGuard};
use crate::waiters::{Key, Queued, WaitList, WakeList, poll_wait};

/// A condition variable for async code: wait for a notification while temporarily giving up a
/// [`Mutex`] guard.
///
/// # Examples
///
/// ```
/// use ciranda::sync::{Condition, Mutex};
/// use std::sync::Arc;
///
/// ciranda::run(async {
///     let state = Arc::new((Mutex::new(false), Condition::new()));
///     let s2 = state.clone();
///     let setter = ciranda::spawn(async move {
///         let (lock, cond) = &*s2;
///         *lock.lock().await = true;
///         cond.notify_all();
///     });
///     let (lock, cond) = &*state;
///     let guard = cond.wait_while(lock.lock().await, |ready| !*ready).await;
///     assert!(*guard);
///     drop(guard);
///     setter.await.unwrap();
/// });
/// ```
pub struct Condition {
    waiters: ShimMutex<WaitList<bool>>,
}

impl Condition {
    crate::loom::const_fn! {
        /// Creates a condition; it is not tied to any particular mutex.
        pub fn new() -> Self {
            Condition {
                waiters: ShimMutex::new(WaitList::new()),
            }
        }
    }

    /// Releases `guard`, waits for a notification, re-takes the same mutex and returns the new
    /// guard. Spurious wake-ups do not happen, but the protected state may have changed again by
    /// the time the mutex is re-taken: re-check it (or use [`wait_while`](Condition::wait_while)).
    ///
    /// # Cancel safety
    ///
    /// The guard is released as soon as the wait begins and is not given back if the future is
    /// dropped: the mutex stays unlocked. A notification the dropped waiter had already received
    /// goes to the next waiter; if it was re-taking the mutex, its place in the mutex's queue goes
    /// to the next task.
    pub async fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        let mutex: &'a Mutex<T> = MutexGuard::mutex(&guard);
        let mut waiter = CondWaiter {
            cond: self,
            key: Some(self.waiters.lock().push_back(false, None)),
            polled: false,
        };
        drop(guard);
        (&mut waiter).await;
        let guard = mutex.lock().await;
        waiter.finish();
        guard
    }

    /// Waits (as [`wait`](Condition::wait)) until `condition` returns `false`, checking it first
    /// and after every notification, always with the mutex held.
    ///
    /// # Cancel safety
    ///
    /// As for [`wait`](Condition::wait): dropping the future leaves the mutex unlocked (the guard
    /// was moved in) and passes on a notification it had received.
    pub async fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> MutexGuard<'a, T>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes the longest-waiting task, if any.
    pub fn notify_one(&self) {
        self.notify(1);
    }

    /// Wakes up to `n` waiting tasks, in arrival order. With nobody waiting nothing is stored.
    pub fn notify(&self, n: usize) {
        let mut waiters = self.waiters.lock();
        let mut wakers = WakeList::new();
        for _ in 0..n {
            if !waiters.grant_front(&mut wakers, |notified| *notified = true) {
                break;
            }
        }
        drop(waiters);
        wakers.wake_all();
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }
}

impl Default for Condition {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiting", &self.waiters.lock().len())
            .finish()
    }
}

/// One `wait` call's slot; the leaf future waiting for the notification.
struct CondWaiter<'a> {
    cond: &'a Condition,
    key: Option<Key>,
    /// Whether the slot holds a waker yet (it is queued without one).
    polled: bool,
}

impl CondWaiter<'_> {
    /// The mutex was re-taken: the notification is consumed, free the slot.
    fn finish(mut self) {
        if let Some(key) = self.key.take() {
            // The temporary guard is released at the end of the `let`, before the waker drops.
            let (_, stale) = self.cond.waiters.lock().remove(key);
            drop(stale);
        }
    }
}

impl Future for &mut CondWaiter<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        coop::proceed(cx, |cx| {
            let Some(key) = self.key else {
                return Poll::Ready(());
            };
            // The first poll most likely waits: clone its waker before taking the lock (foreign
            // code). Later polls clone only for a new waker, with the lock released.
            let fresh = (!self.polled).then(|| cx.waker().clone());
            self.polled = true;
            let cond = self.cond;
            poll_wait(
                cx.waker(),
                &mut self.key,
                fresh,
                || cond.waiters.lock(),
                |waiters, _| {
                    if *waiters.get(key) {
                        // Stays in the list: `Drop` removes it (and passes a notification on if needed).
                        Queued::Done((), None)
                    } else {
                        Queued::Waiting(waiters)
                    }
                },
            )
        })
    }
}

impl Drop for CondWaiter<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut waiters = self.cond.waiters.lock();
        let (notified, stale) = waiters.remove(key);
        let mut wakers = WakeList::new();
        if notified {
            // Notified but never returned to the caller: pass it on.
            waiters.grant_front(&mut wakers, |notified| *notified = true);
        }
        drop(waiters);
        drop(stale);
        wakers.wake_all();
    }
}
