//! `Promise<T>` (asyncio's `Future`): a value set once and awaited by any number of tasks.
//!
//! The value and a [`WaitList`] of waiters share one shim mutex; an atomic flag mirrors "set" so
//! [`Promise::is_set`] is lock-free. `set` stores the value and releases every waiter in the same
//! critical section; a released waiter clones the value when it is next polled.
//!
//! | promise    | `wait` poll                                  | `set(v)`            |
//! |------------|----------------------------------------------|---------------------|
//! | empty      | queue (slot `false`) → `Pending`             | store, release all  |
//! | set        | `Ready(value.clone())`                       | `Err(v)`            |

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::coop;
use crate::loom::{AtomicBool, Mutex, Ordering};
use crate::waiters::{Key, Queued, WaitList, WakeList, poll_wait};

struct State<T> {
    value: Option<T>,
    waiters: WaitList<bool>,
}

/// A write-once value that many tasks can wait for.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Promise;
/// use std::sync::Arc;
///
/// ciranda::run(async {
///     let p = Arc::new(Promise::new());
///     let p2 = p.clone();
///     let waiter = ciranda::spawn(async move { p2.wait().await });
///     assert_eq!(p.set(String::from("done")), Ok(()));
///     assert_eq!(p.set(String::from("again")), Err(String::from("again")));
///     assert_eq!(waiter.await.unwrap(), "done");
///     assert_eq!(p.try_get().as_deref(), Some("done"));
/// });
/// ```
pub struct Promise<T> {
    is_set: AtomicBool,
    state: Mutex<State<T>>,
}

impl<T> Promise<T> {
    crate::loom::const_fn! {
        /// Creates an empty promise.
        pub fn new() -> Self {
            Promise {
                is_set: AtomicBool::new(false),
                state: Mutex::new(State {
                    value: None,
                    waiters: WaitList::new(),
                }),
            }
        }
    }

    /// Sets the value and wakes every waiter; if it was already set, gives `value` back.
    pub fn set(&self, value: T) -> Result<(), T> {
        let mut state = self.state.lock();
        if state.value.is_some() {
            return Err(value);
        }
        state.value = Some(value);
        self.is_set.store(true, Ordering::Release);
        let mut wakers = WakeList::new();
        while state
            .waiters
            .grant_front(&mut wakers, |released| *released = true)
        {}
        drop(state);
        wakers.wake_all();
        Ok(())
    }

    /// `true` once a value was set.
    pub fn is_set(&self) -> bool {
        self.is_set.load(Ordering::Acquire)
    }

    /// Consumes the promise, returning the value if it was set.
    pub fn into_inner(self) -> Option<T> {
        let Promise { state, .. } = self;
        let mut state = state.lock();
        state.value.take()
    }
}

impl<T: Clone> Promise<T> {
    /// A clone of the value, if it was set.
    pub fn try_get(&self) -> Option<T> {
        if !self.is_set() {
            return None;
        }
        self.state.lock().value.clone()
    }

    /// Waits for the value and returns a clone of it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: waiting takes nothing (every waiter gets its own clone of the result), so
    /// dropping the future loses nothing.
    pub fn wait(&self) -> PromiseWait<'_, T> {
        PromiseWait {
            promise: self,
            key: None,
        }
    }
}

impl<T> Default for Promise<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("value", &self.state.lock().value)
            .finish()
    }
}

/// The future returned by [`Promise::wait`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let p = ciranda::sync::Promise::new();
///     assert!(ciranda::time::timeout(Duration::from_millis(10), p.wait()).await.is_err());
///     p.set(1).unwrap();
///     assert_eq!(p.wait().await, 1);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PromiseWait<'a, T> {
    promise: &'a Promise<T>,
    key: Option<Key>,
}

impl<T: Clone> Future for PromiseWait<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        coop::proceed(cx, |cx| {
            // A first poll of an unset promise is about to wait: clone before taking the lock.
            let fresh = (this.key.is_none() && !this.promise.is_set()).then(|| cx.waker().clone());
            let promise = this.promise;
            poll_wait(
                cx.waker(),
                &mut this.key,
                fresh,
                || promise.state.lock(),
                // Nothing is taken (the value is cloned), so there is nothing to hold.
                |state, queued, _| match &state.value {
                    Some(value) => {
                        let value = value.clone();
                        let stale = queued.take().and_then(|key| state.waiters.remove(key).1);
                        Queued::Done(value, stale)
                    }
                    None => Queued::Enqueue(&mut state.waiters, false),
                },
            )
        })
    }
}

impl<T> Drop for PromiseWait<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The temporary guard is released at the end of the `let`, before the waker drops.
            let (_, stale) = self.promise.state.lock().waiters.remove(key);
            drop(stale);
        }
    }
}

impl<T> fmt::Debug for PromiseWait<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PromiseWait")
            .field("registered", &self.key.is_some())
            .finish()
    }
}
