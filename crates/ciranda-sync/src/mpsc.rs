//! Multi-producer, single-consumer channels: bounded ([`channel`]) and unbounded
//! ([`unbounded_channel`]).
//!
//! Messages go through a lock-free queue of blocks ([`mpsc_queue`](crate::mpsc_queue)): a
//! send claims a slot with one compare-and-swap of the queue's tail and writes its message;
//! the receiver reads slots in order from a head of its own. A send and a receive never meet
//! on a lock, and a receiver that is not waiting costs a send nothing more: the receiver
//! waits by setting a flag in the same tail word, which the next claim sees and clears. A
//! bounded channel adds a batch semaphore with `cap` permits: a send first acquires one permit
//! (so blocked senders are served FIFO and a dropped `send` future passes its permit on), then
//! pushes; the receiver releases one permit per message it returns.
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
//! back in the `SendError`): closing closes the queue, whose claims check for the close in
//! the same compare-and-swap, so after the close nothing more is enqueued, and a claim made
//! before it is drained like any other message.
//!
//! Wakers that panic: closing publishes the whole closed state (semaphore, queue, `closed()`
//! event) before waking anybody; a `recv` whose freeing of a slot wakes a panicking sender
//! keeps its message in the receiver for the next `recv` (the bound may be exceeded by that
//! one message until then).

use core::fmt;
use core::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::coop;
use crate::event::{Event, EventWait};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, spin_loop};
use crate::mpsc_queue::{Head, MessageQueue, Pop, Pushed};
use crate::semaphore::{RawAcquire, RawSemaphore, TryAcquireRaw};
use crate::waiters::{WakeList, WakeOnDrop};

/// Looks at a claimed slot before the receiver waits for its sender.
const CLAIMED_SPINS: u32 = if cfg!(loom) { 1 } else { 64 };

/// What the receiver owns: its head of the queue, and the message it took out of the queue
/// and has not returned yet.
struct RxState<T> {
    head: Head<T>,
    item: Option<T>,
    /// `item`'s slot was already handed on to the senders: freeing it woke a sender whose
    /// waker panicked, and the message stayed here to be returned next.
    released: bool,
}

/// Why the receiver got no message.
enum Nothing {
    /// Nothing queued; `closed`: closed by the receiver, so nothing ever will be.
    Empty { closed: bool },
    /// A sender is writing the next message.
    Claimed,
}

/// What a channel's handles share.
struct Chan<T> {
    /// `None` for an unbounded channel.
    sem: Option<RawSemaphore>,
    bound: usize,
    queue: MessageQueue<T>,
    /// The waker of a receiver that waits (the queue's `RX_WAITING` flag says so); taken by
    /// the sender that clears the flag. Locked only around storing and taking it.
    rx_waker: Mutex<Option<Waker>>,
    /// Set (with `Release`) by the last sender's drop, after its last push.
    tx_gone: AtomicBool,
    senders: AtomicUsize,
    rx_closed_event: Event,
}

impl<T> Chan<T> {
    fn new(sem: Option<RawSemaphore>, bound: usize) -> (Arc<Self>, RxState<T>) {
        let (queue, head) = MessageQueue::new();
        let chan = Arc::new(Chan {
            sem,
            bound,
            queue,
            rx_waker: Mutex::new(None),
            tx_gone: AtomicBool::new(false),
            senders: AtomicUsize::new(1),
            rx_closed_event: Event::new(),
        });
        let rx = RxState {
            head,
            item: None,
            released: false,
        };
        (chan, rx)
    }

    /// Enqueues `value` unless the receiver closed; wakes the receiver if it waits.
    fn push(&self, value: T) -> Result<(), T> {
        match self.queue.push(value) {
            Pushed::Queued(rx_waiting) => {
                if rx_waiting {
                    self.wake_rx();
                }
                Ok(())
            }
            Pushed::Closed(value) => Err(value),
        }
    }

    /// Wakes the waiting receiver: its flag was just cleared by this thread.
    fn wake_rx(&self) {
        let waker = self.rx_waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
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
        // AcqRel: the last sender's drop comes after every other sender's pushes.
        if self.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        self.tx_gone.store(true, Ordering::Release);
        // A read-modify-write of the tail word, ordered with the receiver's `wait`: either it
        // finds the receiver waiting and wakes it, or the receiver's `wait` comes after it and
        // sees `tx_gone`.
        if self.queue.take_rx_waiting() {
            self.wake_rx();
        }
    }

    /// The next message, freeing its slot.
    ///
    /// The slot is freed *before* the message leaves `rx.item`: freeing it may wake a parked
    /// sender, and if that sender's waker panics, the panic unwinds out of `recv` with the
    /// message still in `rx.item` (marked as already freed), so the next `recv` returns it.
    /// Nothing is lost; the bound may be exceeded by that one message meanwhile.
    fn next(&self, rx: &mut RxState<T>) -> Result<T, Nothing> {
        if rx.item.is_none() {
            match rx.head.pop(&self.queue) {
                Pop::Value(value) => rx.item = Some(value),
                Pop::Empty { closed } => return Err(Nothing::Empty { closed }),
                Pop::Claimed => return Err(Nothing::Claimed),
            }
        }
        if let Some(sem) = &self.sem {
            if !rx.released {
                rx.released = true;
                sem.release(1);
            }
            rx.released = false;
        }
        Ok(rx
            .item
            .take()
            .expect("the receiver's message was just filled"))
    }

    /// [`next`](Self::next), giving a sender that claimed the next slot a moment to finish
    /// writing it (a few instructions away, unless its thread was preempted) before the
    /// caller waits for it.
    fn next_soon(&self, rx: &mut RxState<T>) -> Result<T, Nothing> {
        let mut tries = 0;
        loop {
            match self.next(rx) {
                Err(Nothing::Claimed) if tries < CLAIMED_SPINS => {
                    tries += 1;
                    spin_loop();
                }
                other => return other,
            }
        }
    }

    /// With nothing queued: has every sender gone? Their pushes all came before, and the
    /// `Acquire` here makes them visible to the receiver's next look.
    fn senders_gone(&self) -> bool {
        self.tx_gone.load(Ordering::Acquire)
    }

    fn poll_recv(&self, rx: &mut RxState<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        coop::proceed(cx, |cx| match self.next_soon(rx) {
            Ok(value) => Poll::Ready(Some(value)),
            Err(Nothing::Empty { closed: true }) => Poll::Ready(None),
            Err(Nothing::Empty { closed: false }) if self.senders_gone() => {
                Poll::Ready(self.next(rx).ok())
            }
            // Nothing queued, or the next message still being written.
            Err(_) => self.park(rx, cx),
        })
    }

    /// `poll_recv` with nothing to take: stores the waker, sets the queue's waiting flag, and
    /// looks again (see `mpsc_queue`'s docs for why that second look cannot miss a push). A
    /// new waker is cloned, and the one it replaces dropped, with the lock released: a
    /// waker's `clone` or `drop` is foreign code, which may even send on this channel.
    #[inline(never)]
    fn park(&self, rx: &mut RxState<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let stored = matches!(&*self.rx_waker.lock(), Some(w) if w.will_wake(cx.waker()));
        if !stored {
            let fresh = cx.waker().clone();
            let stale = self.rx_waker.lock().replace(fresh);
            drop(stale);
        }
        rx.head.wait(&self.queue);
        let found = match self.next(rx) {
            // Its sender wakes us once it is written.
            Err(Nothing::Claimed) => return Poll::Pending,
            Err(Nothing::Empty { closed: false }) if !self.senders_gone() => {
                return Poll::Pending;
            }
            Ok(value) => Some(value),
            Err(Nothing::Empty { closed: true }) => None,
            Err(Nothing::Empty { closed: false }) => self.next(rx).ok(),
        };
        // Not waiting after all: the next push need not wake us.
        self.queue.take_rx_waiting();
        Poll::Ready(found)
    }

    fn try_recv(&self, rx: &mut RxState<T>) -> Result<T, TryRecvError> {
        match self.next(rx) {
            Ok(value) => Ok(value),
            // Being written: not there yet.
            Err(Nothing::Claimed) => Err(TryRecvError::Empty),
            Err(Nothing::Empty { closed: true }) => Err(TryRecvError::Disconnected),
            Err(Nothing::Empty { closed: false }) if self.senders_gone() => {
                self.next(rx).map_err(|_| TryRecvError::Disconnected)
            }
            Err(Nothing::Empty { closed: false }) => Err(TryRecvError::Empty),
        }
    }

    /// Publishes every part of the closed state — the semaphore (parked sends fail), the
    /// queue (later pushes fail), the `closed()` event — and only then wakes anybody, so a
    /// waker that panics cannot leave the channel half closed.
    ///
    /// The semaphore is closed first: once the queue is closed, a failed push returns its
    /// permit to a semaphore with no waiters left, which wakes nobody (and cannot panic).
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
        self.queue.close();
        self.rx_closed_event.set_deferred(wakers);
    }

    fn len(&self, rx: &RxState<T>) -> usize {
        usize::from(rx.item.is_some()) + rx.head.len(&self.queue)
    }

    fn drop_receiver(&self, rx: &mut RxState<T>) {
        let mut wakers = WakeList::new();
        self.close_deferred(&mut wakers);
        // The guard wakes the parked senders and `closed()` waiters even if a destructor below
        // (a message's, or a waker's) panics.
        let wake_at_end = WakeOnDrop(Some(wakers));
        // The receiver's own waker is of no use any more; it may even own a sender (a cycle
        // through the channel). Dropped after unlocking, like every waker.
        let own = self.rx_waker.lock().take();
        drop(own);
        // Closed, the queue takes no more messages: every buffered one is dropped here.
        rx.head.close_and_drain(&self.queue);
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
    let (chan, rx) = Chan::new(Some(RawSemaphore::new(cap)), cap);
    (Sender { chan: chan.clone() }, Receiver { chan, rx })
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
    let (chan, rx) = Chan::new(None, usize::MAX);
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver { chan, rx },
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
    /// The receiver's head of the queue and the message it holds.
    rx: RxState<T>,
}

/// The receiving API, the same for both receivers: each is a `Chan` plus the receiver's own
/// state (its head of the queue), so the code is written once, here.
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
                core::future::poll_fn(|cx| self.chan.poll_recv(&mut self.rx, cx)).await
            }

            /// Polls for the next message (the building block of `recv` and of the `Stream`
            /// impl).
            pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
                self.chan.poll_recv(&mut self.rx, cx)
            }

            /// Takes a message if one is buffered.
            pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
                self.chan.try_recv(&mut self.rx)
            }

            /// Closes the channel for senders; what is already buffered can still be received.
            pub fn close(&mut self) {
                self.chan.close();
            }

            /// The number of buffered messages.
            pub fn len(&self) -> usize {
                self.chan.len(&self.rx)
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
                this.chan.poll_recv(&mut this.rx, cx)
            }
        }

        impl<T> Drop for $receiver<T> {
            fn drop(&mut self) {
                self.chan.drop_receiver(&mut self.rx);
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
    /// The receiver's head of the queue and the message it holds.
    rx: RxState<T>,
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
