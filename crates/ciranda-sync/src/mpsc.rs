//! Multi-producer, single-consumer channels: bounded ([`channel`]) and unbounded
//! ([`unbounded_channel`]).
//!
//! Messages live in a `VecDeque` under a shim mutex together with the receiver's waker. A bounded
//! channel adds a batch semaphore with `cap` permits: a send first acquires one permit (so
//! blocked senders are served FIFO and a dropped `send` future passes its permit on), then
//! pushes; the receiver releases one permit per message it returns.
//!
//! The receiver takes messages in batches: when its own buffer is empty it swaps the whole
//! shared queue into it under one lock, then serves from the buffer without locking, so
//! senders meet the receiver on the lock once per batch instead of once per message. A message
//! in the receiver's buffer keeps its permit until it is returned: the bound still counts it.
//!
//! Closing works like Tokio's:
//!
//! | event                     | senders                                  | receiver                        |
//! |---------------------------|------------------------------------------|---------------------------------|
//! | `Receiver::close()`       | pending and later sends fail, value back | drains what is buffered, then `None` |
//! | receiver dropped          | as above; buffered messages are dropped  | —                               |
//! | last sender dropped       | —                                        | drains what is buffered, then `None` |
//!
//! A send that acquired its permit just before the receiver closed fails too (its value comes
//! back in the `SendError`): after the close is observed nothing more is enqueued.
//!
//! Wakers that panic: closing publishes the whole closed state (semaphore, queue, `closed()`
//! event) before waking anybody; a `recv` whose freeing of a slot wakes a panicking sender
//! keeps its message first in the batch for the next `recv` (the bound may be exceeded by that
//! one message until then).

use core::fmt;
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;

use futures_core::Stream;

use crate::coop;
use crate::event::{Event, EventWait};
use crate::loom::{Arc, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::semaphore::{RawAcquire, RawSemaphore, TryAcquireRaw};
use crate::waiters::{WakeList, WakeOnDrop};

struct Inner<T> {
    queue: VecDeque<T>,
    rx_waker: Option<Waker>,
    rx_closed: bool,
    tx_gone: bool,
}

impl<T> Inner<T> {
    /// Moves everything queued into the receiver's empty batch `taken`; `false` if nothing is.
    fn take_batch(&mut self, taken: &mut Batch<T>) -> bool {
        debug_assert!(
            taken.items.is_empty() && !taken.front_released,
            "a batch is taken only once the last one is served"
        );
        if self.queue.is_empty() {
            return false;
        }
        core::mem::swap(&mut self.queue, &mut taken.items);
        true
    }
}

/// The receiver's own batch of messages, taken from the shared queue in one go.
struct Batch<T> {
    items: VecDeque<T>,
    /// The front message's slot was already handed on to the senders: freeing it woke a
    /// sender whose waker panicked, and the message stayed here to be returned next.
    front_released: bool,
}

impl<T> Batch<T> {
    fn new() -> Self {
        Batch {
            items: VecDeque::new(),
            front_released: false,
        }
    }
}

struct Chan<T> {
    /// `None` for an unbounded channel.
    sem: Option<RawSemaphore>,
    bound: usize,
    inner: Mutex<Inner<T>>,
    senders: AtomicUsize,
    rx_closed_event: Event,
}

impl<T> Chan<T> {
    fn new(sem: Option<RawSemaphore>, bound: usize) -> Arc<Self> {
        Arc::new(Chan {
            sem,
            bound,
            inner: Mutex::new(Inner {
                queue: VecDeque::new(),
                rx_waker: None,
                rx_closed: false,
                tx_gone: false,
            }),
            senders: AtomicUsize::new(1),
            rx_closed_event: Event::new(),
        })
    }

    /// Enqueues `value` unless the receiver closed; wakes the receiver.
    fn push(&self, value: T) -> Result<(), T> {
        let mut inner = self.inner.lock();
        if inner.rx_closed {
            return Err(value);
        }
        inner.queue.push_back(value);
        let waker = inner.rx_waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Bounded push after a permit was acquired: on failure the permit goes back.
    fn push_with_permit(&self, value: T) -> Result<(), SendError<T>> {
        self.push(value).map_err(|value| {
            if let Some(sem) = &self.sem {
                sem.release(1);
            }
            SendError(value)
        })
    }

    fn is_closed(&self) -> bool {
        self.rx_closed_event.is_set()
    }

    fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut inner = self.inner.lock();
        inner.tx_gone = true;
        let waker = inner.rx_waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Returns the next message of the receiver's batch `taken`, freeing its slot.
    ///
    /// The slot is freed *before* the message leaves the batch: freeing it may wake a parked
    /// sender, and if that sender's waker panics, the panic unwinds out of `recv` with the
    /// message still at the front of the batch (marked as already freed), so the next `recv`
    /// returns it. Nothing is lost; the bound may be exceeded by that one message meanwhile.
    fn pop_taken(&self, taken: &mut Batch<T>) -> Option<T> {
        if taken.items.is_empty() {
            return None;
        }
        if let Some(sem) = &self.sem {
            if !taken.front_released {
                taken.front_released = true;
                sem.release(1);
            }
            taken.front_released = false;
        }
        taken.items.pop_front()
    }

    /// The next message: from the batch, else from a fresh batch of the shared queue. With
    /// nothing queued, returns the lock still held, so the caller decides (end of stream, or
    /// register its waker) without a gap in which a send could slip by unseen.
    fn next_or_locked(&self, taken: &mut Batch<T>) -> Result<T, MutexGuard<'_, Inner<T>>> {
        if let Some(value) = self.pop_taken(taken) {
            return Ok(value);
        }
        let mut inner = self.inner.lock();
        if !inner.take_batch(taken) {
            return Err(inner);
        }
        drop(inner);
        Ok(self
            .pop_taken(taken)
            .expect("a batch just taken is not empty"))
    }

    fn poll_recv(&self, taken: &mut Batch<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        coop::proceed(cx, |cx| {
            let inner = match self.next_or_locked(taken) {
                Ok(value) => return Poll::Ready(Some(value)),
                Err(inner) => inner,
            };
            if inner.tx_gone || inner.rx_closed {
                return Poll::Ready(None);
            }
            if matches!(&inner.rx_waker, Some(w) if w.will_wake(cx.waker())) {
                return Poll::Pending;
            }
            drop(inner);
            self.park(taken, cx)
        })
    }

    /// `poll_recv` with a waker that is not stored yet. The clone is made, and the waker it
    /// replaces dropped, with the lock released (foreign code; a waker's `clone` may even send
    /// on this channel), so everything is checked again once the lock is re-taken.
    #[inline(never)]
    fn park(&self, taken: &mut Batch<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Declared before the guard: if unused, it is dropped after the lock is released.
        let fresh = cx.waker().clone();
        let mut inner = match self.next_or_locked(taken) {
            Ok(value) => return Poll::Ready(Some(value)),
            Err(inner) => inner,
        };
        if inner.tx_gone || inner.rx_closed {
            return Poll::Ready(None);
        }
        let stale = inner.rx_waker.replace(fresh);
        drop(inner);
        drop(stale);
        Poll::Pending
    }

    fn try_recv(&self, taken: &mut Batch<T>) -> Result<T, TryRecvError> {
        self.next_or_locked(taken).map_err(|inner| {
            if inner.tx_gone || inner.rx_closed {
                TryRecvError::Disconnected
            } else {
                TryRecvError::Empty
            }
        })
    }

    /// Publishes every part of the closed state — the semaphore (parked sends fail), the
    /// queue (later pushes fail), the `closed()` event — and only then wakes anybody, so a
    /// waker that panics cannot leave the channel half closed.
    ///
    /// The semaphore is closed first: once `rx_closed` is set, a failed push returns its permit
    /// to a semaphore with no waiters left, which wakes nobody (and cannot panic).
    fn close(&self) {
        let mut wakers = WakeList::new();
        self.close_deferred(&mut wakers);
        wakers.wake_all();
    }

    /// `close` without the waking, for the receiver's drop.
    fn close_deferred(&self, wakers: &mut WakeList) {
        if let Some(sem) = &self.sem {
            sem.close_deferred(wakers);
        }
        self.inner.lock().rx_closed = true;
        self.rx_closed_event.set_deferred(wakers);
    }

    fn len(&self, taken: &Batch<T>) -> usize {
        taken.items.len() + self.inner.lock().queue.len()
    }

    fn drop_receiver(&self) {
        let mut wakers = WakeList::new();
        self.close_deferred(&mut wakers);
        // The guard wakes the parked senders and `closed()` waiters even if a destructor below
        // (a message's, or a waker's) panics.
        let wake_at_end = WakeOnDrop(Some(wakers));
        let mut inner = self.inner.lock();
        let drained = core::mem::take(&mut inner.queue);
        // The receiver's own waker is of no use any more; it may even own a sender (a cycle
        // through the channel). Dropped after unlocking, like every waker.
        let own = inner.rx_waker.take();
        drop(inner);
        drop(own);
        drop(drained);
        drop(wake_at_end);
    }
}

/// Creates a bounded channel holding at most `cap` messages; `send` waits for room.
///
/// # Panics
///
/// If `cap == 0` or `cap > Semaphore::MAX_PERMITS`.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let (tx, mut rx) = ciranda::sync::mpsc::channel(8);
///     ciranda::spawn(async move {
///         for i in 0..20 {
///             tx.send(i).await.unwrap();
///         }
///     });
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, (0..20).collect::<Vec<_>>());
/// });
/// ```
pub fn channel<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
    assert!(cap >= 1, "mpsc::channel capacity must be at least 1, got 0");
    // Checked here, not only by the semaphore underneath, whose message would name a
    // semaphore the caller never made and point at a `try_new` that is not theirs.
    assert!(
        cap <= crate::semaphore::MAX_PERMITS,
        "mpsc::channel capacity must be at most Semaphore::MAX_PERMITS ({}), got {cap}",
        crate::semaphore::MAX_PERMITS
    );
    let chan = Chan::new(Some(RawSemaphore::with_deposits(cap)), cap);
    (
        Sender { chan: chan.clone() },
        Receiver {
            chan,
            taken: Batch::new(),
        },
    )
}

/// Creates an unbounded channel: `send` never waits.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = ciranda::sync::mpsc::unbounded_channel();
/// tx.send("a").unwrap();
/// drop(tx);
/// assert_eq!(rx.try_recv(), Ok("a"));
/// assert_eq!(rx.try_recv(), Err(ciranda::sync::mpsc::TryRecvError::Disconnected));
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = Chan::new(None, usize::MAX);
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver {
            chan,
            taken: Batch::new(),
        },
    )
}

/// The sending half of a bounded channel; clone it for more producers.
///
/// # Examples
///
/// ```
/// use ciranda::sync::mpsc::{self, TrySendError};
/// let (tx, _rx) = mpsc::channel(1);
/// let tx2 = tx.clone();
/// tx.try_send(1).unwrap();
/// assert_eq!(tx2.try_send(2), Err(TrySendError::Full(2)));
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Waits for room (FIFO among senders), then enqueues `value`. Fails, giving the value
    /// back, once the receiver is closed or dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops `value` with it: the message is never
    /// enqueued, and the place among waiting senders is lost (a slot already granted to it goes to
    /// the next sender). Once the future has completed, the message is in the channel.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        let Some(sem) = &self.chan.sem else {
            unreachable!("a bounded channel always has a semaphore")
        };
        if RawAcquire::new(sem, 1).await.is_err() {
            return Err(SendError(value));
        }
        self.chan.push_with_permit(value)
    }

    /// Enqueues `value` if there is room now and no other sender is waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let Some(sem) = &self.chan.sem else {
            unreachable!("a bounded channel always has a semaphore")
        };
        match sem.try_acquire(1) {
            Ok(()) => self
                .chan
                .push_with_permit(value)
                .map_err(|SendError(v)| TrySendError::Closed(v)),
            Err(TryAcquireRaw::NoPermits) => Err(TrySendError::Full(value)),
            Err(TryAcquireRaw::Closed) => Err(TrySendError::Closed(value)),
        }
    }

    /// `true` once the receiver was closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Waits until the receiver is closed or dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing; call `closed` again to wait again.
    pub fn closed(&self) -> EventWait<'_> {
        self.chan.rx_closed_event.wait()
    }

    /// The number of messages that can be sent right now without waiting.
    pub fn capacity(&self) -> usize {
        self.chan
            .sem
            .as_ref()
            .map_or(0, RawSemaphore::available_permits)
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::Sender")
            .field("max_capacity", &self.chan.bound)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of a bounded channel; also a [`Stream`] of messages.
///
/// # Examples
///
/// ```
/// let (tx, mut rx) = ciranda::sync::mpsc::channel::<u8>(4);
/// tx.try_send(1).unwrap();
/// rx.close();
/// assert!(tx.try_send(2).is_err()); // closed: value given back
/// assert_eq!(rx.try_recv(), Ok(1)); // buffered messages still arrive
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
    /// Messages already moved out of the shared queue, in order (see `Inner::take_batch`).
    taken: Batch<T>,
}

/// The receiving API, the same for both receivers: each is a `Chan` plus the batch of messages
/// it has already taken out of the shared queue, so the code is written once, here.
macro_rules! receiver_api {
    ($receiver:ident, $debug_name:literal) => {
        impl<T> $receiver<T> {
            /// Waits for the next message; `None` once every sender is gone (or the receiver
            /// closed) and the buffer is empty.
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: a message leaves the channel only in the poll that returns it, so
            /// dropping the future loses no message: it stays first for the next `recv`.
            pub async fn recv(&mut self) -> Option<T> {
                core::future::poll_fn(|cx| self.chan.poll_recv(&mut self.taken, cx)).await
            }

            /// Polls for the next message (the building block of `recv` and of the `Stream`
            /// impl).
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.chan.poll_recv(&mut self.taken, cx)
            }

            /// Takes a message if one is buffered.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.chan.try_recv(&mut self.taken)
            }

            /// Closes the channel for senders; what is already buffered can still be received.
            pub fn close(&mut self) {
                self.chan.close();
            }

            /// The number of buffered messages.
            pub fn len(&self) -> usize {
                self.chan.len(&self.taken)
            }

            /// `true` when no message is buffered.
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }
        }

        // Buffered messages are never pinned (they are only moved out by value), so a
        // receiver may be moved even when `T` is not `Unpin`.
        impl<T> Unpin for $receiver<T> {}

        impl<T> Stream for $receiver<T> {
            type Item = T;

            fn poll_next(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
                let this = self.get_mut();
                this.chan.poll_recv(&mut this.taken, cx)
            }
        }

        impl<T> Drop for $receiver<T> {
            fn drop(&mut self) {
                self.chan.drop_receiver();
            }
        }

        impl<T> fmt::Debug for $receiver<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct($debug_name)
                    .field("len", &self.len())
                    .finish()
            }
        }
    };
}

receiver_api!(Receiver, "mpsc::Receiver");

/// The sending half of an unbounded channel; clone it for more producers.
///
/// # Examples
///
/// ```
/// let (tx, rx) = ciranda::sync::mpsc::unbounded_channel();
/// drop(rx);
/// assert_eq!(tx.send(5).unwrap_err().0, 5);
/// ```
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Enqueues `value` without waiting; gives it back once the receiver is closed or dropped.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.chan.push(value).map_err(SendError)
    }

    /// `true` once the receiver was closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Waits until the receiver is closed or dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing; call `closed` again to wait again.
    pub fn closed(&self) -> EventWait<'_> {
        self.chan.rx_closed_event.wait()
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        UnboundedSender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("mpsc::UnboundedSender")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of an unbounded channel; also a [`Stream`] of messages.
///
/// # Examples
///
/// ```
/// use ciranda::stream::StreamExt;
///
/// let (tx, rx) = ciranda::sync::mpsc::unbounded_channel();
/// for i in 0..3 {
///     tx.send(i).unwrap();
/// }
/// drop(tx);
/// assert_eq!(ciranda::run(rx.collect::<Vec<_>>()), [0, 1, 2]);
/// ```
pub struct UnboundedReceiver<T> {
    chan: Arc<Chan<T>>,
    /// Messages already moved out of the shared queue, in order (see `Inner::take_batch`).
    taken: Batch<T>,
}

receiver_api!(UnboundedReceiver, "mpsc::UnboundedReceiver");

/// The receiver is closed or dropped; the unsent value is given back in field `0`.
///
/// # Examples
///
/// ```
/// let (tx, rx) = ciranda::sync::mpsc::unbounded_channel();
/// drop(rx);
/// let err = tx.send(String::from("x")).unwrap_err();
/// assert_eq!(err.to_string(), "channel closed");
/// assert_eq!(err.into_inner(), "x");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that could not be sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`] failed; the value is given back either way.
///
/// # Examples
///
/// ```
/// use ciranda::sync::mpsc::{self, TrySendError};
/// let (tx, rx) = mpsc::channel(1);
/// tx.try_send(1).unwrap();
/// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
/// drop(rx);
/// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is full, or other senders are waiting (would block).
    Full(T),
    /// The receiver is closed or dropped.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that could not be sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full (would block)"),
            TrySendError::Closed(_) => f.write_str("channel closed"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// Why `try_recv` returned no message.
///
/// # Examples
///
/// ```
/// use ciranda::sync::mpsc::{self, TryRecvError};
/// let (tx, mut rx) = mpsc::channel::<u8>(1);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing buffered, senders still alive (would block).
    Empty,
    /// Nothing buffered, and every sender is gone or the receiver was closed.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty (would block)"),
            TryRecvError::Disconnected => f.write_str("channel closed and empty"),
        }
    }
}

impl std::error::Error for TryRecvError {}
