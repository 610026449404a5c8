//! A one-shot channel: one value, from one [`Sender`] to one [`Receiver`].
//!
//! The shared state is a small record under a shim mutex (a one-waiter case of the waiter core:
//! each side has at most one waker slot). An uncontended send or receive takes the lock once.
//!
//! | event                 | effect                                                        |
//! |-----------------------|---------------------------------------------------------------|
//! | `send(v)`             | `Err(v)` if the receiver is closed/dropped, else store + wake |
//! | sender dropped        | mark `tx_gone`, wake the receiver (it gets `RecvError`)       |
//! | `Receiver::close()`   | mark `rx_closed`, wake the sender's `closed()`; a value sent before stays receivable |
//! | receiver dropped      | mark `rx_closed`, drop a stored value, wake the sender        |
//! | receiver polled       | value → `Ok`; else `tx_gone` → `Err(RecvError)`; else wait    |
//!
//! The value and the flags change together under the lock, so a `send` racing the receiver's
//! drop either fails (value returned to the caller) or lands before the drop (value dropped
//! with the channel) — never both, never leaked.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom::{Arc, Mutex};
use crate::waiters::{WakeList, WakeOnDrop};

struct Inner<T> {
    value: Option<T>,
    tx_gone: bool,
    rx_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

type Shared<T> = Arc<Mutex<Inner<T>>>;

/// Creates a one-shot channel.
///
/// # Examples
///
/// ```
/// let (tx, rx) = ciranda::sync::oneshot::channel();
/// std::thread::spawn(move || tx.send(42).unwrap());
/// assert_eq!(ciranda::run(rx), Ok(42));
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Inner {
        value: None,
        tx_gone: false,
        rx_closed: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending half of a [`channel`].
///
/// # Examples
///
/// ```
/// let (tx, rx) = ciranda::sync::oneshot::channel::<u8>();
/// drop(rx);
/// assert!(tx.is_closed());
/// assert_eq!(tx.send(7), Err(7)); // the value comes back
/// ```
pub struct Sender<T> {
    shared: Shared<T>,
}

impl<T> Sender<T> {
    /// Sends `value`; returns it back as `Err` if the receiver was dropped or closed.
    pub fn send(self, value: T) -> Result<(), T> {
        let mut inner = self.shared.lock();
        if inner.rx_closed {
            return Err(value);
        }
        inner.value = Some(value);
        let waker = inner.rx_waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
        // `self` is dropped here: `tx_gone` is set, which the receiver only looks at after
        // it found no value.
    }

    /// `true` once the receiver was dropped or closed (a `send` would fail).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().rx_closed
    }

    /// Polls for the receiver being dropped or closed.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.shared.lock();
        if inner.rx_closed {
            return Poll::Ready(());
        }
        if matches!(&inner.tx_waker, Some(w) if w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        drop(inner);
        // A new waker: cloned, and the old one dropped, with the lock released (foreign code
        // that may call back into this channel), so the state is checked again.
        let fresh = cx.waker().clone();
        let mut inner = self.shared.lock();
        if inner.rx_closed {
            return Poll::Ready(());
        }
        let stale = inner.tx_waker.replace(fresh);
        drop(inner);
        drop(stale);
        Poll::Pending
    }

    /// Waits until the receiver is dropped or closed (useful to abandon work nobody wants).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing; the sender can still send.
    pub async fn closed(&mut self) {
        core::future::poll_fn(|cx| self.poll_closed(cx)).await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.tx_gone = true;
        let waker = inner.rx_waker.take();
        // Our own `closed()` waker is of no use any more; it may even own the receiver (a
        // cycle through the channel), so it goes now, after unlocking, like every waker.
        let own = inner.tx_waker.take();
        drop(inner);
        drop(own);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`channel`]; a future resolving to the value, or [`RecvError`] if
/// the sender was dropped without sending.
///
/// # Examples
///
/// ```
/// use ciranda::sync::oneshot::{self, TryRecvError};
/// let (tx, mut rx) = oneshot::channel();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// tx.send("hi").unwrap();
/// assert_eq!(rx.try_recv(), Ok("hi"));
/// ```
///
/// # Cancel safety
///
/// Awaiting `&mut receiver` and dropping that future loses nothing: the value stays in the
/// channel until a poll returns it. Dropping the receiver itself closes the channel: a value
/// already sent is dropped with it, and a later `send` gives its value back as `Err`.
pub struct Receiver<T> {
    shared: Shared<T>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut inner = self.shared.lock();
        if let Some(value) = inner.value.take() {
            return Ok(value);
        }
        if inner.tx_gone || inner.rx_closed {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel: a later `send` fails and gives its value back. A value sent before
    /// the close can still be received.
    pub fn close(&mut self) {
        let mut inner = self.shared.lock();
        inner.rx_closed = true;
        let waker = inner.tx_waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        coop::proceed(cx, |cx| {
            let mut inner = self.shared.lock();
            if let Some(value) = inner.value.take() {
                return Poll::Ready(Ok(value));
            }
            if inner.tx_gone || inner.rx_closed {
                return Poll::Ready(Err(RecvError(())));
            }
            if matches!(&inner.rx_waker, Some(w) if w.will_wake(cx.waker())) {
                return Poll::Pending;
            }
            drop(inner);
            self.park(cx)
        })
    }
}

impl<T> Receiver<T> {
    /// `poll` with a waker that is not stored yet. The clone is made, and the waker it
    /// replaces dropped, with the lock released (foreign code that may call back into this
    /// channel, e.g. send on it), so the state is checked again once the lock is re-taken.
    #[inline(never)]
    fn park(&self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        // Declared before the guard: if unused, it is dropped after the lock is released.
        let fresh = cx.waker().clone();
        let mut inner = self.shared.lock();
        if let Some(value) = inner.value.take() {
            return Poll::Ready(Ok(value));
        }
        if inner.tx_gone || inner.rx_closed {
            return Poll::Ready(Err(RecvError(())));
        }
        let stale = inner.rx_waker.replace(fresh);
        drop(inner);
        drop(stale);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.rx_closed = true;
        let value = inner.value.take();
        let tx_waker = inner.tx_waker.take();
        // Our own waker is of no use any more (and may own the sender: a cycle through the
        // channel); dropped after unlocking, like every waker.
        let own = inner.rx_waker.take();
        drop(inner);
        let Some(tx_waker) = tx_waker else {
            drop(own);
            drop(value);
            return;
        };
        // The guard wakes the sender even if a destructor below panics (`wake_all` then drops
        // a waker's panic rather than aborting).
        let mut wakers = WakeList::new();
        wakers.push(Some(tx_waker));
        let wake_at_end = WakeOnDrop(Some(wakers));
        drop(own);
        drop(value);
        drop(wake_at_end);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

/// The sender was dropped without sending (or the receiver closed before a value arrived).
///
/// # Examples
///
/// ```
/// let (tx, rx) = ciranda::sync::oneshot::channel::<i32>();
/// drop(tx);
/// let err = ciranda::run(rx).unwrap_err();
/// assert_eq!(err.to_string(), "oneshot sender dropped without sending");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending")
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`] returned no value.
///
/// # Examples
///
/// ```
/// use ciranda::sync::oneshot::{self, TryRecvError};
/// let (tx, mut rx) = oneshot::channel::<()>();
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet, and the sender is still alive (would block).
    Empty,
    /// The sender was dropped without sending, or the receiver was closed.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no value sent yet (would block)"),
            TryRecvError::Closed => f.write_str("oneshot channel closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}
