//! The locked core: messages in a `VecDeque` under a mutex, taken by the receiver in batches.
//! The unbounded channel's, and the bounded channel's when its ring would be too large (see
//! `channel`).

use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;

use super::{SendError, TryRecvError};
use crate::coop;
use crate::event::Event;
use crate::loom::{Arc, AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::semaphore::RawSemaphore;
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

pub(super) struct LockedChan<T> {
    /// `None` for an unbounded channel.
    pub(super) sem: Option<RawSemaphore>,
    pub(super) bound: usize,
    inner: Mutex<Inner<T>>,
    senders: AtomicUsize,
    pub(super) rx_closed_event: Event,
}

impl<T> LockedChan<T> {
    pub(super) fn new(sem: Option<RawSemaphore>, bound: usize) -> Arc<Self> {
        Arc::new(LockedChan {
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
    pub(super) fn push(&self, value: T) -> Result<(), T> {
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
    pub(super) fn push_with_permit(&self, value: T) -> Result<(), SendError<T>> {
        self.push(value).map_err(|value| {
            if let Some(sem) = &self.sem {
                sem.release(1);
            }
            SendError(value)
        })
    }

    pub(super) fn is_closed(&self) -> bool {
        self.rx_closed_event.is_set()
    }

    pub(super) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn drop_sender(&self) {
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
    ///
    /// If a message came meanwhile (or the channel ended), the clone goes unused, and it is
    /// dropped before the message is taken: its destructor may panic, and a message taken
    /// first would leave with the unwinding poll. So it stays queued for the next `recv`.
    #[inline(never)]
    fn park(&self, taken: &mut Batch<T>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let fresh = cx.waker().clone();
        let mut inner = self.inner.lock();
        if taken.items.is_empty() && inner.queue.is_empty() && !inner.tx_gone && !inner.rx_closed {
            let stale = inner.rx_waker.replace(fresh);
            drop(inner);
            drop(stale);
            return Poll::Pending;
        }
        drop(inner);
        drop(fresh);
        // Only this receiver takes messages out, so what was queued is still there.
        Poll::Ready(self.next_or_locked(taken).ok())
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

/// The receiving half of a locked core: the shared channel and the batch taken from it.
pub(super) struct LockedRx<T> {
    chan: Arc<LockedChan<T>>,
    taken: Batch<T>,
}

impl<T> LockedRx<T> {
    pub(super) fn new(chan: Arc<LockedChan<T>>) -> Self {
        LockedRx {
            chan,
            taken: Batch::new(),
        }
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(&mut self.taken, cx)
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv(&mut self.taken)
    }

    pub(super) fn close(&mut self) {
        self.chan.close();
    }

    pub(super) fn len(&self) -> usize {
        self.chan.len(&self.taken)
    }
}

impl<T> Drop for LockedRx<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}
