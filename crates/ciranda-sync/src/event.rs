//! `Event` (asyncio's `Event`): a flag tasks can wait for.
//!
//! The flag is an atomic read lock-free by [`Event::is_set`] and by the fast path of `wait`. The
//! waiters are a [`WaitList`] under a shim mutex; `set` changes the flag *under the lock* and
//! releases every queued waiter in the same critical section, so a waiter either sees the flag
//! when it checks under the lock or is in the list that `set` drains — no lost wake-ups.
//!
//! | waiter slot | meaning                               | poll        |
//! |-------------|---------------------------------------|-------------|
//! | `false`     | queued, flag was clear when it queued | `Pending`   |
//! | `true`      | released by a `set`                   | `Ready(())` |
//!
//! A released waiter stays released even if `clear` follows at once.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::coop;
use crate::loom::{AtomicBool, Mutex, Ordering};
use crate::waiters::{Key, WaitList, WakeList, poll_wait};

/// A settable, clearable flag that tasks can wait on.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Event;
/// use std::sync::Arc;
/// let ev = Arc::new(Event::new());
/// let ev2 = ev.clone();
/// let t = std::thread::spawn(move || ev2.set());
/// ciranda::run(ev.wait());
/// assert!(ev.is_set());
/// ev.clear();
/// assert!(!ev.is_set());
/// t.join().unwrap();
/// ```
pub struct Event {
    flag: AtomicBool,
    waiters: Mutex<WaitList<bool>>,
}

impl Event {
    crate::loom::const_fn! {
        /// Creates a cleared event.
        pub fn new() -> Self {
            Event {
                flag: AtomicBool::new(false),
                waiters: Mutex::new(WaitList::new()),
            }
        }
    }

    /// Sets the flag and releases every task waiting at this moment.
    pub fn set(&self) {
        let mut wakers = WakeList::new();
        self.set_deferred(&mut wakers);
        wakers.wake_all();
    }

    /// `set`, with the released waiters' wakers left in `wakers` for the caller to wake once
    /// it has published the rest of its own state.
    pub(crate) fn set_deferred(&self, wakers: &mut WakeList) {
        let mut waiters = self.waiters.lock();
        // A read-modify-write like `clear`'s (see there), so that every write of the flag is
        // one and its order a chain: the loom model of a `set` racing a `clear` relies on it
        // (loom does not order a plain store after an earlier read-modify-write).
        self.flag.swap(true, Ordering::AcqRel);
        while waiters.grant_front(wakers, |released| *released = true) {}
    }

    /// Clears the flag; later `wait`s block until the next [`set`](Event::set).
    pub fn clear(&self) {
        // A read-modify-write, not a store: a `set` that comes before it in the flag's order
        // is then also seen by it (its `Acquire` side), so the caller sees what the setter
        // wrote before setting, or the flag stays set after this. A plain store could land
        // after that `set` and erase it without either, and the caller's next `wait`, made
        // because it saw no work, waited for good.
        self.flag.swap(false, Ordering::AcqRel);
    }

    /// `true` while the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Waits until the flag is set (returns at once if it already is).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: waiting takes nothing from the event, so dropping the future loses nothing and
    /// does not affect other waiters.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

/// The future returned by [`Event::wait`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let ev = ciranda::sync::Event::new();
///     // Not set: the wait does not finish (the timeout drops it, losing nothing).
///     assert!(ciranda::time::timeout(Duration::from_millis(10), ev.wait()).await.is_err());
///     ev.set();
///     ev.wait().await;
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<Key>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        coop::proceed(cx, |cx| {
            let event = this.event;
            if this.key.is_some() {
                return poll_wait(
                    cx.waker(),
                    &mut this.key,
                    None,
                    || event.waiters.lock(),
                    |waiters, queued, hold| {
                        waiters.finish_if(queued, hold, |&released| released.then_some(()))
                    },
                );
            }
            if event.flag.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            // About to wait: clone the waker before taking the lock (its `clone` may call `set`).
            // Declared before the guard, so an unused clone is dropped after unlocking.
            let fresh = cx.waker().clone();
            let mut waiters = event.waiters.lock();
            if event.flag.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            this.key = Some(waiters.push_back(false, Some(fresh)));
            Poll::Pending
        })
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The temporary guard is released at the end of the `let`, before the waker drops.
            let (_, stale) = self.event.waiters.lock().remove(key);
            drop(stale);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("registered", &self.key.is_some())
            .finish()
    }
}
