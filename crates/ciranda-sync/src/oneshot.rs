//! A one-shot channel: one value, from one [`Sender`] to one [`Receiver`].
//!
//! The two handles share one allocation: a state word, the value's cell and one waker cell
//! per side. There is no lock: every change of state is a read-modify-write of the state
//! word (a poll that finds the value reads it), and the common life of a channel — a send,
//! one wait, the receiver's drop — costs three of them and no reference count (the state
//! word counts the two handles too).
//!
//! # The state word
//!
//! | bit           | set by                          | means                                               |
//! |---------------|---------------------------------|-----------------------------------------------------|
//! | `RX_WAKER`    | the receiver, to wait           | `rx_waker` holds the receiver's waker               |
//! | `TX_WAKER`    | the sender, in `poll_closed`    | `tx_waker` holds the sender's waker                 |
//! | `SENT`        | `send`                          | `value` holds the value; the receiver owns the cell |
//! | `TX_DROPPED`  | dropping an unsent sender       | no value will come (`RecvError`)                    |
//! | `RX_CLOSED`   | `close`, dropping the receiver  | a `send` fails and gives its value back             |
//! | `TX_RELEASED` | the sender's last step          | the sender never touches the allocation again       |
//! | `RX_RELEASED` | the receiver's last step        | the receiver never touches the allocation again     |
//!
//! # Who may touch which cell
//!
//! * `value`: the sender writes it before publishing `SENT` (or takes it back when the
//!   receiver closed first, `SENT` unpublished); from `SENT` on it is the receiver's.
//! * A waker cell whose bit is clear belongs to its own side, which fills it and then sets
//!   the bit. While the bit is set the cell belongs to whoever clears the bit with a
//!   read-modify-write: the other side clears it in the same step that publishes what the
//!   waker waits for (`SENT`/`TX_DROPPED` for the receiver's, `RX_CLOSED` for the sender's)
//!   and then moves the waker out and wakes it; its own side clears it to replace or drop it.
//!   So a side that finds its bit cleared by the other also finds the event published.
//! * The allocation is freed by the side that sets its `*_RELEASED` bit second, or that finds
//!   the other's already set: each side's release is its last access (a `Release` store the
//!   freeing side's `Acquire` pairs with).
//!
//! A waker is cloned before, and a replaced or woken waker dropped or woken after, the
//! read-modify-write that publishes the change, so foreign waker code (which may send,
//! receive or drop a handle of this channel) always meets a consistent state.
//!
//! | event                 | effect                                                        |
//! |-----------------------|---------------------------------------------------------------|
//! | `send(v)`             | `Err(v)` if the receiver is closed/dropped, else store + wake |
//! | sender dropped        | `TX_DROPPED`, wake the receiver (it gets `RecvError`)         |
//! | `Receiver::close()`   | `RX_CLOSED`, wake the sender's `closed()`; a value sent before stays receivable |
//! | receiver dropped      | `RX_CLOSED`, drop a stored value, wake the sender             |
//! | receiver polled       | value → `Ok`; else sender gone or closed → `Err(RecvError)`; else wait |
//!
//! A `send` racing the receiver's drop either fails (value returned to the caller) or lands
//! before the drop (value dropped by the receiver) — never both, never leaked: `SENT` and
//! `RX_CLOSED` are set by compare-and-swaps of one word, so one of them comes first.

use core::fmt;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom::{AtomicUsize, Ordering::*, UnsafeCell};
use crate::waiters::{WakeList, WakeOnDrop};

const RX_WAKER: usize = 1 << 0;
const TX_WAKER: usize = 1 << 1;
const SENT: usize = 1 << 2;
const TX_DROPPED: usize = 1 << 3;
const RX_CLOSED: usize = 1 << 4;
const TX_RELEASED: usize = 1 << 5;
const RX_RELEASED: usize = 1 << 6;

/// Nothing more will come from the sender: the value, or its absence.
const TX_DONE: usize = SENT | TX_DROPPED;

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
}

/// Under loom the free counts as a write of every cell, so a handle that touches a cell after
/// the other freed the allocation (a use after free) is reported as a race.
#[cfg(loom)]
impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        self.value.with_mut(|_| ());
        self.rx_waker.with_mut(|_| ());
        self.tx_waker.with_mut(|_| ());
    }
}

/// The shared allocation, owned jointly by the two handles (see the module's table).
struct Shared<T> {
    ptr: NonNull<Inner<T>>,
}

impl<T> Shared<T> {
    fn inner(&self) -> &Inner<T> {
        // SAFETY: the allocation lives until both handles have released it, and a handle
        // calls this only before its own release (each release is a handle's last access).
        unsafe { self.ptr.as_ref() }
    }

    /// Frees the allocation, dropping what it still holds (a value never received, a waker
    /// never claimed).
    ///
    /// # Safety
    /// The other handle has released the allocation (its `*_RELEASED` bit was observed with
    /// `Acquire`, or set before this handle's `AcqRel` release), and this one is done with it.
    unsafe fn free(&self) {
        // SAFETY: the caller's contract: no one else will touch it again; it came from
        // `Box::into_raw` in `channel`.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }

    /// Sets `bit` (this handle's `*_RELEASED`) as this handle's last access, and frees the
    /// allocation if the other handle had released it already.
    fn release(&self, bit: usize, other: usize) {
        let prev = self.inner().state.fetch_or(bit, AcqRel);
        if prev & other != 0 {
            // SAFETY: the other side released it before our `AcqRel` read-modify-write, and
            // this was our last access.
            unsafe { self.free() };
        }
    }

    /// Moves the value out (`None` if it was received already).
    ///
    /// # Safety
    /// The caller is the receiver and has observed `SENT` with `Acquire`: the cell is the
    /// receiver's, and the sender's write of it happened before.
    unsafe fn take_value(&self) -> Option<T> {
        // SAFETY: exclusive access, per the caller's contract.
        self.inner().value.with_mut(|v| unsafe { (*v).take() })
    }
}

/// Moves the waker out of `cell`.
///
/// # Safety
/// The caller owns the cell: its bit is clear and this side cleared it, or it is this
/// side's cell with the bit clear (see the module's rules).
unsafe fn take_waker(cell: &UnsafeCell<Option<Waker>>) -> Option<Waker> {
    // SAFETY: exclusive access, per the caller's contract.
    cell.with_mut(|w| unsafe { (*w).take() })
}

/// The waker in `cell` if `bit` is among `claimed`, the waker bits this side just cleared
/// with a read-modify-write; `None` otherwise (the cell is not ours then).
///
/// # Safety
/// `claimed` holds only bits this side cleared itself, so a cell whose bit it has is ours.
unsafe fn take_claimed(
    claimed: usize,
    bit: usize,
    cell: &UnsafeCell<Option<Waker>>,
) -> Option<Waker> {
    if claimed & bit == 0 {
        return None;
    }
    // SAFETY: the caller cleared the cell's bit: the cell is ours.
    unsafe { take_waker(cell) }
}

/// Replaces the waker in `cell`, returning the old one.
///
/// # Safety
/// As for [`take_waker`].
unsafe fn put_waker(cell: &UnsafeCell<Option<Waker>>, waker: Waker) -> Option<Waker> {
    // SAFETY: exclusive access, per the caller's contract.
    cell.with_mut(|w| unsafe { (*w).replace(waker) })
}

// SAFETY: the handles move a `T` (the value) between threads and drop wakers, which are
// `Send + Sync`; all shared access goes through the state word's protocol. So `T: Send` is
// what either handle needs, as for an `Arc<Mutex<Option<T>>>`.
unsafe impl<T: Send> Send for Shared<T> {}
// SAFETY: `&Sender`/`&Receiver` only read the state word (`is_closed`, `Debug`).
unsafe impl<T: Send> Sync for Shared<T> {}

impl<T> std::panic::UnwindSafe for Shared<T> {}
impl<T> std::panic::RefUnwindSafe for Shared<T> {}

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
    let inner = Box::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    let ptr = NonNull::from(Box::leak(inner));
    (
        Sender {
            shared: Shared { ptr },
        },
        Receiver {
            shared: Shared { ptr },
            registered: None,
        },
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
        // The send is this handle's end: it releases the channel itself.
        let this = ManuallyDrop::new(self);
        let inner = this.shared.inner();
        // SAFETY: `SENT` is not published, so the value cell is the sender's.
        inner.value.with_mut(|v| unsafe { *v = Some(value) });
        match this.publish(SENT) {
            Ok(()) => Ok(()),
            Err(()) => {
                // The receiver closed first: `SENT` was never published, so the cell is
                // still ours.
                // SAFETY: as above.
                let value = inner.value.with_mut(|v| unsafe { (*v).take() });
                this.finish();
                Err(value.expect("the value written above"))
            }
        }
    }

    /// Publishes `event` (`SENT`: fails if the receiver closed first), claiming both waker
    /// cells; then releases the channel and wakes the receiver. Without a waker to handle,
    /// the release is part of the same compare-and-swap.
    fn publish(&self, event: usize) -> Result<(), ()> {
        let inner = self.shared.inner();
        let mut cur = inner.state.load(Relaxed);
        loop {
            if event == SENT && cur & RX_CLOSED != 0 {
                return Err(());
            }
            let claims = cur & (RX_WAKER | TX_WAKER);
            let mut new = (cur | event) & !(RX_WAKER | TX_WAKER);
            if claims == 0 {
                new |= TX_RELEASED;
            }
            match inner.state.compare_exchange_weak(cur, new, AcqRel, Relaxed) {
                Ok(_) if claims == 0 => {
                    if cur & RX_RELEASED != 0 {
                        // SAFETY: the receiver released first; that was our last access.
                        unsafe { self.shared.free() };
                    }
                    return Ok(());
                }
                Ok(_) => {
                    // SAFETY: `claims` are the bits this compare-and-swap cleared.
                    let rx_waker = unsafe { take_claimed(claims, RX_WAKER, &inner.rx_waker) };
                    // SAFETY: as above.
                    let own = unsafe { take_claimed(claims, TX_WAKER, &inner.tx_waker) };
                    self.shared.release(TX_RELEASED, RX_RELEASED);
                    // The guard wakes the receiver even if our own waker's destructor panics
                    // (a panic of that wake-up is then dropped). The other way round, a
                    // wake-up's panic would drop our waker while unwinding, and a second
                    // panic there aborts the process.
                    let mut wakers = WakeList::new();
                    wakers.push(rx_waker);
                    let wake_at_end = WakeOnDrop(Some(wakers));
                    drop(own);
                    drop(wake_at_end);
                    return Ok(());
                }
                Err(actual) => cur = actual,
            }
        }
    }

    /// Ends this handle after a failed `send`: drops its own `closed()` waker, if it still
    /// holds it, and releases the channel.
    fn finish(&self) {
        let inner = self.shared.inner();
        let prev = inner.state.fetch_and(!TX_WAKER, Acquire);
        // SAFETY: `prev` had the bit if we cleared it. (With the bit clear the receiver may
        // be moving the waker out: it claimed it when it closed.)
        let own = unsafe { take_claimed(prev, TX_WAKER, &inner.tx_waker) };
        self.shared.release(TX_RELEASED, RX_RELEASED);
        drop(own);
    }

    /// `true` once the receiver was dropped or closed (a `send` would fail).
    pub fn is_closed(&self) -> bool {
        self.shared.inner().state.load(Acquire) & RX_CLOSED != 0
    }

    /// Polls for the receiver being dropped or closed.
    ///
    /// Like every leaf future of this crate, it takes part in the cooperative budget: once
    /// the receiver is gone it is always ready, and a task looping over it still yields when
    /// its budget is spent (it wakes itself and returns `Pending`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// ciranda::run(async {
    ///     let (mut tx, rx) = ciranda::sync::oneshot::channel::<u8>();
    ///     drop(rx);
    ///     poll_fn(|cx| tx.poll_closed(cx)).await;
    ///     assert!(tx.is_closed());
    /// });
    /// ```
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        coop::proceed(cx, |cx| self.poll_closed_now(cx))
    }

    /// The closed check of `poll_closed`, under the cooperative budget.
    fn poll_closed_now(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let inner = self.shared.inner();
        let mut cur = inner.state.load(Acquire);
        if cur & RX_CLOSED != 0 {
            return Poll::Ready(());
        }
        // A waker is cloned before anything is claimed: its `clone` is foreign code that
        // may call back into this channel.
        let fresh = cx.waker().clone();
        if cur & TX_WAKER != 0 {
            let prev = inner.state.fetch_and(!TX_WAKER, Acquire);
            if prev & TX_WAKER == 0 {
                // The receiver claimed it, so it closed.
                return Poll::Ready(());
            }
            cur = prev & !TX_WAKER;
        }
        // SAFETY: the bit is clear and was cleared by us or never set: the cell is ours.
        let stale = unsafe { put_waker(&inner.tx_waker, fresh) };
        loop {
            if cur & RX_CLOSED != 0 {
                // SAFETY: the bit is still clear: the cell is ours.
                let ours = unsafe { take_waker(&inner.tx_waker) };
                drop(stale);
                drop(ours);
                return Poll::Ready(());
            }
            match inner
                .state
                .compare_exchange_weak(cur, cur | TX_WAKER, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
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
        let inner = self.shared.inner();
        if inner.state.load(Acquire) & RX_RELEASED != 0 {
            // SAFETY: the receiver is gone for good; we are the last user.
            unsafe { self.shared.free() };
            return;
        }
        // `TX_DROPPED` cannot fail; `publish` wakes the receiver (it gets `RecvError`) and
        // drops our own `closed()` waker, which may own the receiver (a cycle through the
        // channel).
        let _ = self.publish(TX_DROPPED);
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
    /// Which waker the `rx_waker` cell holds while `RX_WAKER` is set (its data and vtable
    /// pointers, as `Waker::will_wake` compares them), so a re-poll with the same waker
    /// needs no read-modify-write. The stored clone's, not the polling waker's: a clone may
    /// have data of its own, and the waker it was cloned from may be gone by the next poll,
    /// its address reused by another task's waker. The clone, in the cell, is alive whenever
    /// the bit is seen set, so an equal identity is the same waker, as in `will_wake`.
    registered: Option<(usize, usize)>,
}

/// The identity `Waker::will_wake` compares.
fn identity(waker: &Waker) -> (usize, usize) {
    (waker.data() as usize, waker.vtable() as *const _ as usize)
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let cur = self.shared.inner().state.load(Acquire);
        if cur & SENT != 0 {
            // SAFETY: `SENT` observed with `Acquire`.
            return unsafe { self.shared.take_value() }.ok_or(TryRecvError::Closed);
        }
        if cur & (TX_DROPPED | RX_CLOSED) != 0 {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel: a later `send` fails and gives its value back. A value sent before
    /// the close can still be received.
    pub fn close(&mut self) {
        let inner = self.shared.inner();
        let mut cur = inner.state.load(Relaxed);
        // Closing claims the sender's waker cell, to wake its `closed()`.
        loop {
            if cur & RX_CLOSED != 0 {
                return;
            }
            let new = (cur | RX_CLOSED) & !TX_WAKER;
            match inner.state.compare_exchange_weak(cur, new, AcqRel, Relaxed) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        // SAFETY: the compare-and-swap above cleared the bits `cur` has.
        if let Some(waker) = unsafe { take_claimed(cur, TX_WAKER, &inner.tx_waker) } {
            waker.wake();
        }
    }

    /// The receive step of `poll`, under the cooperative budget.
    fn poll_value(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        let inner = self.shared.inner();
        let mut cur = inner.state.load(Acquire);
        if cur & (TX_DONE | RX_CLOSED) == 0 {
            if cur & RX_WAKER != 0 && self.registered == Some(identity(cx.waker())) {
                // The same waker is stored, and the sender will wake it.
                return Poll::Pending;
            }
            match self.register(cx.waker(), cur) {
                Ok(()) => return Poll::Pending,
                Err(now) => cur = now,
            }
        }
        self.registered = None;
        if cur & SENT != 0 {
            // SAFETY: `SENT` observed with `Acquire`.
            return Poll::Ready(unsafe { self.shared.take_value() }.ok_or(RecvError(())));
        }
        Poll::Ready(Err(RecvError(())))
    }

    /// Stores a clone of `waker` for the sender to wake. `Err` carries the state that
    /// made waiting needless (the sender is done, or the channel closed), observed with
    /// `Acquire`.
    ///
    /// The clone is made before anything is claimed (foreign code that may call back into
    /// this channel, e.g. send on it), and the waker it replaces is dropped only after the
    /// new one is published.
    fn register(&mut self, waker: &Waker, mut cur: usize) -> Result<(), usize> {
        let inner = self.shared.inner();
        let fresh = waker.clone();
        if cur & RX_WAKER != 0 {
            let prev = inner.state.fetch_and(!RX_WAKER, Acquire);
            if prev & RX_WAKER == 0 {
                // Cleared by the sender, in the step that published `SENT`/`TX_DROPPED`.
                self.registered = None;
                return Err(prev);
            }
            cur = prev & !RX_WAKER;
        }
        self.registered = None;
        let stored = identity(&fresh);
        // SAFETY: the bit is clear, cleared by us or never set: the cell is ours.
        let stale = unsafe { put_waker(&inner.rx_waker, fresh) };
        loop {
            if cur & (TX_DONE | RX_CLOSED) != 0 {
                // SAFETY: the bit is still clear: the cell is ours.
                let ours = unsafe { take_waker(&inner.rx_waker) };
                drop(ours);
                drop(stale);
                return Err(cur);
            }
            match inner
                .state
                .compare_exchange_weak(cur, cur | RX_WAKER, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.registered = Some(stored);
        drop(stale);
        Ok(())
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        coop::proceed(cx, |cx| this.poll_value(cx))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let inner = self.shared.inner();
        let mut cur = inner.state.load(Acquire);
        if cur & TX_RELEASED != 0 {
            // SAFETY: the sender is gone for good; we are the last user (the free drops a
            // value never received and our own waker, if the cell still holds one).
            unsafe { self.shared.free() };
            return;
        }
        // A value sent is ours from `SENT` on: taken out first, so that a drop with no waker
        // to handle can release in the same compare-and-swap that closes.
        let mut value = None;
        // Close, and claim both waker cells: the sender's, to wake its `closed()`; our own,
        // which may own the sender (a cycle through the channel) and must go now.
        loop {
            if cur & SENT != 0 && value.is_none() {
                // SAFETY: `SENT` observed with `Acquire` (the load above or a failed
                // compare-and-swap below).
                value = unsafe { self.shared.take_value() };
            }
            let claims = cur & (RX_WAKER | TX_WAKER);
            let mut new = (cur | RX_CLOSED) & !(RX_WAKER | TX_WAKER);
            if claims == 0 {
                new |= RX_RELEASED;
            }
            match inner.state.compare_exchange_weak(cur, new, AcqRel, Acquire) {
                Ok(_) if claims == 0 => {
                    if cur & TX_RELEASED != 0 {
                        // SAFETY: the sender released first; that was our last access.
                        unsafe { self.shared.free() };
                    }
                    drop(value);
                    return;
                }
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        // SAFETY: the compare-and-swap above cleared the waker bits `cur` has.
        let tx_waker = unsafe { take_claimed(cur, TX_WAKER, &inner.tx_waker) };
        // SAFETY: as above.
        let own = unsafe { take_claimed(cur, RX_WAKER, &inner.rx_waker) };
        self.shared.release(RX_RELEASED, TX_RELEASED);
        // The guard wakes the sender even if a destructor below panics (`wake_all` then drops
        // a waker's panic rather than aborting).
        let mut wakers = WakeList::new();
        wakers.push(tx_waker);
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
/// assert_eq!(
///     err.to_string(),
///     "oneshot channel closed without a value (the sender was dropped without sending, \
///      or the receiver was closed)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecvError(());

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Both causes: the error does not record which one it was, and a receiver closed
        // with the sender still alive must not be told that the sender was dropped.
        f.write_str(
            "oneshot channel closed without a value (the sender was dropped without sending, \
             or the receiver was closed)",
        )
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
