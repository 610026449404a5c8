//! Multi-producer, single-consumer channels: bounded ([`channel`]) and unbounded
//! ([`unbounded_channel`]).
//!
//! Two cores carry the messages:
//!
//! * **The ring** (`ring_chan`): a bounded channel whose buffer, `cap` rounded up to a power
//!   of two times the message size plus 8 bytes, takes at most 256 KiB. A lock-free ring
//!   allocated at creation; a batch semaphore with `cap` permits counts its free slots. A send
//!   first acquires one permit (so blocked senders are served FIFO and a dropped `send` future
//!   passes its permit on), then claims a slot and publishes its message; the receiver gives
//!   one permit back per message it returns.
//! * **The locked core** (`locked`): the unbounded channel, and a bounded channel too large
//!   for a ring (it then uses the same semaphore). A `VecDeque` under a mutex, grown as
//!   messages come, which the receiver takes in batches.
//!
//! Closing works like Tokio's:
//!
//! | event                     | senders                                  | receiver                        |
//! |---------------------------|------------------------------------------|---------------------------------|
//! | `Receiver::close()`       | pending and later sends fail, value back | drains what is buffered, then `None` |
//! | receiver dropped          | as above; buffered messages are dropped  | —                               |
//! | last sender dropped       | —                                        | drains what is buffered, then `None` |
//!
//! A send that acquired its permit just before the receiver closed, but had not enqueued its
//! message, fails too (its value comes back in the `SendError`): a send either enqueued before
//! the close, and its message is received, or fails. (In a ring, a message being enqueued at
//! the very moment the receiver is dropped is dropped a little later, with the channel.)
//!
//! Wakers that panic: closing publishes the whole closed state (semaphore, queue, `closed()`
//! event) before waking anybody; a `recv` whose freeing of a slot wakes a panicking sender
//! keeps its message for the next `recv` (the bound may be exceeded by that one message until
//! then).

mod locked;
mod ring;
mod ring_chan;

use core::fmt;
use core::task::{Context, Poll};

use futures_core::Stream;

use crate::event::{Event, EventWait};
use crate::loom::Arc;
use crate::semaphore::{RawAcquire, RawSemaphore, TryAcquireRaw};
use locked::{LockedChan, LockedRx};
use ring_chan::{RingChan, RingRx};

/// Creates a bounded channel holding at most `cap` messages; `send` waits for room.
///
/// # Memory
///
/// When its buffer fits in 256 KiB (`cap` rounded up to a power of two, times the size of `T`
/// plus 8 bytes; for a `u64`, up to 16 384 messages), the channel allocates it here, once,
/// and senders and the receiver exchange messages through it without a lock. A larger
/// channel grows a queue as messages come instead, and shrinks it as it empties. Either way
/// the bound is `cap`.
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
    if RingChan::<T>::fits(cap) {
        let chan = RingChan::new(cap);
        (
            Sender {
                chan: Core::Ring(chan.clone()),
            },
            Receiver {
                rx: BoundedRx::Ring(RingRx::new(chan)),
            },
        )
    } else {
        let chan = LockedChan::new(Some(RawSemaphore::with_deposits(cap)), cap);
        (
            Sender {
                chan: Core::Locked(chan.clone()),
            },
            Receiver {
                rx: BoundedRx::Locked(LockedRx::new(chan)),
            },
        )
    }
}

/// Which core a bounded channel runs on (see the module docs).
enum Core<T> {
    Ring(Arc<RingChan<T>>),
    Locked(Arc<LockedChan<T>>),
}

impl<T> Core<T> {
    fn sem(&self) -> &RawSemaphore {
        match self {
            Core::Ring(chan) => &chan.sem,
            Core::Locked(chan) => chan
                .sem
                .as_ref()
                .expect("a bounded channel always has a semaphore"),
        }
    }

    /// Enqueues `value` for a sender holding a permit.
    ///
    /// # Safety
    ///
    /// The caller took one permit from [`sem`](Self::sem) for this message and has not given
    /// it back (the ring's slots are reused on the strength of it).
    unsafe fn push(&self, value: T) -> Result<(), SendError<T>> {
        match self {
            // SAFETY: the caller's permit, passed on (this function's contract).
            Core::Ring(chan) => unsafe { chan.push(value) },
            Core::Locked(chan) => chan.push_with_permit(value),
        }
    }

    fn rx_closed_event(&self) -> &Event {
        match self {
            Core::Ring(chan) => &chan.rx_closed_event,
            Core::Locked(chan) => &chan.rx_closed_event,
        }
    }

    fn bound(&self) -> usize {
        match self {
            Core::Ring(chan) => chan.bound,
            Core::Locked(chan) => chan.bound,
        }
    }

    fn add_sender(&self) -> Self {
        match self {
            Core::Ring(chan) => {
                chan.add_sender();
                Core::Ring(chan.clone())
            }
            Core::Locked(chan) => {
                chan.add_sender();
                Core::Locked(chan.clone())
            }
        }
    }

    fn drop_sender(&self) {
        match self {
            Core::Ring(chan) => chan.drop_sender(),
            Core::Locked(chan) => chan.drop_sender(),
        }
    }
}

/// The bounded receiver's half of its core.
enum BoundedRx<T> {
    Ring(RingRx<T>),
    Locked(LockedRx<T>),
}

impl<T> BoundedRx<T> {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self {
            BoundedRx::Ring(rx) => rx.poll_recv(cx),
            BoundedRx::Locked(rx) => rx.poll_recv(cx),
        }
    }

    fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self {
            BoundedRx::Ring(rx) => rx.try_recv(),
            BoundedRx::Locked(rx) => rx.try_recv(),
        }
    }

    fn close(&mut self) {
        match self {
            BoundedRx::Ring(rx) => rx.close(),
            BoundedRx::Locked(rx) => rx.close(),
        }
    }

    fn len(&self) -> usize {
        match self {
            BoundedRx::Ring(rx) => rx.len(),
            BoundedRx::Locked(rx) => rx.len(),
        }
    }
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
    let chan = LockedChan::new(None, usize::MAX);
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver {
            rx: LockedRx::new(chan),
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
    chan: Core<T>,
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
        if RawAcquire::new(self.chan.sem(), 1).await.is_err() {
            return Err(SendError(value));
        }
        // SAFETY: the permit acquired just above is this message's.
        unsafe { self.chan.push(value) }
    }

    /// Enqueues `value` if there is room now and no other sender is waiting.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.sem().try_acquire(1) {
            Ok(()) => {
                // SAFETY: the permit just taken is this message's.
                let pushed = unsafe { self.chan.push(value) };
                pushed.map_err(|SendError(v)| TrySendError::Closed(v))
            }
            Err(TryAcquireRaw::NoPermits) => Err(TrySendError::Full(value)),
            Err(TryAcquireRaw::Closed) => Err(TrySendError::Closed(value)),
        }
    }

    /// `true` once the receiver was closed or dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.rx_closed_event().is_set()
    }

    /// Waits until the receiver is closed or dropped.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing; call `closed` again to wait again.
    pub fn closed(&self) -> EventWait<'_> {
        self.chan.rx_closed_event().wait()
    }

    /// The number of messages that can be sent right now without waiting: never more than
    /// [`max_capacity`](Sender::max_capacity), so `max_capacity() - capacity()` is the number
    /// of messages in the channel (or being sent). Read while other threads send and receive,
    /// it is a count the channel had during the call (bar a reading thread descheduled
    /// through an exact round of sends and receives, which can make it larger, never above
    /// `max_capacity()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (tx, mut rx) = ciranda::sync::mpsc::channel::<u8>(4);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.capacity(), 3);
    /// assert_eq!(tx.max_capacity() - tx.capacity(), 1); // one message in the channel
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// assert_eq!(tx.capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.chan.sem().available_permits()
    }

    /// The capacity the channel was created with.
    pub fn max_capacity(&self) -> usize {
        self.chan.bound()
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            chan: self.chan.add_sender(),
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
            .field("max_capacity", &self.chan.bound())
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
    rx: BoundedRx<T>,
}

/// The receiving API, the same for both receivers: each holds its core's receiving half
/// (`BoundedRx` or `LockedRx`) in `rx`, with the same methods, so the code is written once,
/// here.
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
                core::future::poll_fn(|cx| self.rx.poll_recv(cx)).await
            }

            /// Polls for the next message (the building block of `recv` and of the `Stream`
            /// impl).
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.rx.poll_recv(cx)
            }

            /// Takes a message if one is buffered.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.rx.try_recv()
            }

            /// Closes the channel for senders; what is already buffered can still be received.
            pub fn close(&mut self) {
                self.rx.close();
            }

            /// The number of buffered messages.
            pub fn len(&self) -> usize {
                self.rx.len()
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
                self.get_mut().rx.poll_recv(cx)
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
    chan: Arc<LockedChan<T>>,
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
    rx: LockedRx<T>,
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
