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

use core::ops::DerefMut;
use std::sync::Arc;

use crate::coop;
use crate::loom::Mutex as ShimMutex;
use crate::mutex::{Mutex, MutexGuard, OwnedMutexGuard};
use crate::waiters::{Key, Queued, WaitList, WakeList, poll_wait};

/// A guard of a ciranda [`Mutex`] that [`Condition::wait`] can release and take again: a
/// [`MutexGuard`] (from [`Mutex::lock`]) or an [`OwnedMutexGuard`] (from
/// [`Mutex::lock_owned`]). `wait` gives back a guard of the same kind. Sealed: implemented
/// for those two only.
///
/// # Examples
///
/// ```
/// use ciranda::sync::{Condition, Mutex};
/// use std::sync::Arc;
///
/// ciranda::run(async {
///     let ready = Arc::new(Mutex::new(false));
///     let cond = Arc::new(Condition::new());
///     // An owned guard belongs to no borrow, so the task can own everything it waits on.
///     let waiter = ciranda::spawn({
///         let (ready, cond) = (ready.clone(), cond.clone());
///         async move { *cond.wait_while(ready.lock_owned().await, |r| !*r).await }
///     });
///     *ready.lock().await = true;
///     cond.notify_all();
///     assert!(waiter.await.unwrap());
/// });
/// ```
pub trait ConditionGuard: DerefMut + sealed::Sealed {}

impl<T: ?Sized> ConditionGuard for MutexGuard<'_, T> {}
impl<T: ?Sized> ConditionGuard for OwnedMutexGuard<T> {}

mod sealed {
    use core::future::Future;

    /// How [`Condition::wait`](super::Condition::wait) releases a guard and takes the same
    /// mutex again.
    pub trait Sealed: Sized {
        /// What stays of the guard while it is released: the mutex to lock again.
        type Mutex;
        /// Releases the guard, keeping its mutex.
        fn unlock(self) -> Self::Mutex;
        /// Waits for the mutex again (FIFO, like any `lock`).
        fn relock(mutex: Self::Mutex) -> impl Future<Output = Self>;
    }
}

impl<'a, T: ?Sized> sealed::Sealed for MutexGuard<'a, T> {
    type Mutex = &'a Mutex<T>;

    fn unlock(self) -> &'a Mutex<T> {
        MutexGuard::mutex(&self)
    }

    fn relock(mutex: &'a Mutex<T>) -> impl Future<Output = Self> {
        mutex.lock()
    }
}

impl<T: ?Sized> sealed::Sealed for OwnedMutexGuard<T> {
    type Mutex = Arc<Mutex<T>>;

    fn unlock(self) -> Arc<Mutex<T>> {
        OwnedMutexGuard::mutex(&self).clone()
    }

    fn relock(mutex: Arc<Mutex<T>>) -> impl Future<Output = Self> {
        mutex.lock_owned()
    }
}

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
    /// guard, of the same kind: `guard` may come from [`Mutex::lock`] or [`Mutex::lock_owned`]
    /// (see [`ConditionGuard`]) of any mutex. A wait returns only after a notification: one
    /// sent to it, or one handed on by a waiter dropped after receiving it (see *Cancel
    /// safety*; that includes a share of a [`notify_all`](Condition::notify_all) made before
    /// this wait began). Either way the protected state may have changed again by the time the
    /// mutex is re-taken: re-check it (or use [`wait_while`](Condition::wait_while)).
    ///
    /// # Cancel safety
    ///
    /// The guard is released as soon as the wait begins and is not given back if the future is
    /// dropped: the mutex stays unlocked. A notification the dropped waiter had already received
    /// goes to the next waiter; if it was re-taking the mutex, its place in the mutex's queue goes
    /// to the next task.
    pub async fn wait<G: ConditionGuard>(&self, guard: G) -> G {
        let mut waiter = CondWaiter {
            cond: self,
            key: Some(self.waiters.lock().push_back(false, None)),
            polled: false,
        };
        // Queued first, released second: a notify right after the unlock finds the slot.
        let mutex = guard.unlock();
        (&mut waiter).await;
        let guard = G::relock(mutex).await;
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
    pub async fn wait_while<G, F>(&self, mut guard: G, mut condition: F) -> G
    where
        G: ConditionGuard,
        F: FnMut(&mut G::Target) -> bool,
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
        // Counted under the lock, written with it released: the writer is the caller's code
        // and may notify this condition.
        let waiting = self.waiters.lock().len();
        f.debug_struct("Condition")
            .field("waiting", &waiting)
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
                // Nothing is taken out of the slot here, so there is nothing to hold.
                |waiters, _, _| {
                    if *waiters.get(key) {
                        // Stays in the list: `Drop` removes it (and passes a notification on
                        // if needed).
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
