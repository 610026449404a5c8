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
use crate::waiters::{Key, NeedWaker, WaitList, WakeList};

struct State<T> {
    value: Option<T>,
    waiters: WaitList<bool>,
}

/// A write-once value that many tasks can wait for.
///
/// # Examples
///
/// ```
/// use ciranda_sync::Promise;
/// use std::sync::Arc;
/// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     struct T(std::thread::Thread);
/// #     impl std::task::Wake for T { fn wake(self: std::sync::Arc<Self>) { self.0.unpark() } }
/// #     let w = std::task::Waker::from(std::sync::Arc::new(T(std::thread::current())));
/// #     let mut cx = std::task::Context::from_waker(&w);
/// #     let mut f = std::pin::pin!(f);
/// #     loop { if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v } std::thread::park() }
/// # }
///
/// let p = Arc::new(Promise::new());
/// let p2 = p.clone();
/// let t = std::thread::spawn(move || block_on(p2.wait()));
/// assert_eq!(p.set(String::from("done")), Ok(()));
/// assert_eq!(p.set(String::from("again")), Err(String::from("again")));
/// assert_eq!(t.join().unwrap(), "done");
/// assert_eq!(p.try_get().as_deref(), Some("done"));
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
/// use futures_util::FutureExt;
/// let p = ciranda_sync::Promise::new();
/// assert!(p.wait().now_or_never().is_none());
/// p.set(1).unwrap();
/// assert_eq!(p.wait().now_or_never(), Some(1));
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
        if coop::poll_proceed(cx).is_pending() {
            return Poll::Pending;
        }
        // A first poll of an unset promise is about to wait: clone before taking the lock.
        let mut fresh = (this.key.is_none() && !this.promise.is_set()).then(|| cx.waker().clone());
        loop {
            let mut state = this.promise.state.lock();
            if let Some(value) = &state.value {
                let value = value.clone();
                let stale = match this.key.take() {
                    Some(key) => state.waiters.remove(key).1,
                    None => None,
                };
                drop(state);
                drop(stale);
                return Poll::Ready(value);
            }
            // Wakers are cloned and dropped only with the lock released: that is foreign code.
            let stale = match this.key {
                Some(key) => state.waiters.update_waker(key, cx.waker(), &mut fresh),
                None => match fresh.take() {
                    Some(waker) => {
                        this.key = Some(state.waiters.push_back(false, Some(waker)));
                        Ok(None)
                    }
                    None => Err(NeedWaker),
                },
            };
            drop(state);
            match stale {
                Ok(stale) => {
                    drop(stale);
                    return Poll::Pending;
                }
                Err(NeedWaker) => fresh = Some(cx.waker().clone()),
            }
        }
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
