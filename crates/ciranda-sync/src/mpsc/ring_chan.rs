//! The ring core: a bounded channel's messages in a lock-free [`Ring`], its free slots counted
//! by a semaphore (see `channel` for which bounded channels use it).
//!
//! A send takes a permit (FIFO among blocked senders, as in the locked core), claims an index,
//! publishes its message there and wakes the receiver if it is parked. The receiver takes
//! messages in index order and gives one permit back for each
//! ([`RawSemaphore::give_back`]), so a sender and a receiver that run at the same time on two
//! threads share no lock and no counter they both write for every message.
//!
//! Parking, on the receiver's side:
//!
//! | receiver                                   | sender                                  |
//! |--------------------------------------------|-----------------------------------------|
//! | registers its waker, sets `rx_parked` (under `rx`) | publishes the slot                |
//! | `SeqCst` fence                             | `SeqCst` fence                          |
//! | looks at the slot at its head again        | reads `rx_parked`; if set, takes the waker (under `rx`) and wakes it |
//!
//! Of the two fences one comes first, so either the receiver sees the message or the sender
//! sees the receiver parked: a message is never left unannounced.
//!
//! Before parking, a receiver that found the ring empty watches its head slot for a moment
//! ([`SPINS`] pause instructions): when the sender is running on another thread its next
//! message usually lands within that time, and the park, the wake-up and the waker's clone
//! cost several times more. A watch that sees nothing makes the receiver skip the next 2, 4,
//! up to 64 watches, so a receiver whose senders are idle (or on its own thread) pays for
//! one watch in 64 parks.

use core::task::{Context, Poll, Waker};

use super::ring::{self, Ring};
use super::{SendError, TryRecvError};
use crate::coop;
use crate::event::Event;
use crate::loom::{Arc, AtomicBool, AtomicUsize, Mutex, Ordering, fence};
use crate::semaphore::RawSemaphore;
use crate::waiters::{WakeList, WakeOnDrop};

/// Pause instructions a receiver spends watching for the next message before it parks (two
/// under loom, where each look is a step to explore).
const SPINS: usize = if cfg!(loom) { 2 } else { 32 };
/// The most watches skipped after watches that saw nothing: `1 << MAX_MISSES`.
const MAX_MISSES: u32 = 6;

/// What senders and the receiver change only under the `rx` lock: the receiver's waker and
/// whether every sender is gone.
struct RxState {
    rx_waker: Option<Waker>,
    tx_gone: bool,
}

/// Keeps what senders write for every message (the semaphore's word) off the lines the
/// receiver writes when it parks, and off the `Arc`'s counts.
#[repr(align(128))]
pub(super) struct SenderLine<T>(pub(super) T);

impl<T> core::ops::Deref for SenderLine<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The state a ring channel's halves share.
pub(super) struct RingChan<T> {
    pub(super) sem: SenderLine<RawSemaphore>,
    ring: Ring<T>,
    pub(super) bound: usize,
    /// Set under `rx` by a receiver that registered its waker and found nothing; cleared by
    /// the sender that takes the waker (see the module docs).
    rx_parked: AtomicBool,
    rx: Mutex<RxState>,
    senders: AtomicUsize,
    pub(super) rx_closed_event: Event,
}

impl<T> RingChan<T> {
    /// Whether a ring for `cap` messages of type `T` is small enough to allocate up front.
    pub(super) fn fits(cap: usize) -> bool {
        Ring::<T>::fits(cap)
    }

    /// The shared state of a channel of capacity `cap`, which must [`fit`](Self::fits).
    pub(super) fn new(cap: usize) -> Arc<Self> {
        Self::with_ring(cap, Ring::new(cap))
    }

    fn with_ring(cap: usize, ring: Ring<T>) -> Arc<Self> {
        Arc::new(RingChan {
            sem: SenderLine(RawSemaphore::for_channel(cap)),
            ring,
            bound: cap,
            rx_parked: AtomicBool::new(false),
            rx: Mutex::new(RxState {
                rx_waker: None,
                tx_gone: false,
            }),
            senders: AtomicUsize::new(1),
            rx_closed_event: Event::new(),
        })
    }

    /// A channel and its receiver whose first message gets index `first` (see
    /// [`Ring::starting_at`]).
    #[cfg(all(test, not(loom)))]
    fn starting_at(cap: usize, first: usize) -> (Arc<Self>, RingRx<T>) {
        let chan = Self::with_ring(cap, Ring::starting_at(cap, first));
        let mut rx = RingRx::new(chan.clone());
        rx.head = first & ring::LAST_INDEX;
        (chan, rx)
    }

    /// Enqueues `value` for a sender holding a permit; gives the permit back and fails if the
    /// receiver closed the channel first.
    ///
    /// # Safety
    ///
    /// The caller took one permit from `self.sem` for this message and has not given it back:
    /// the permit is what guarantees that the slot of the index claimed here is empty.
    #[inline]
    pub(super) unsafe fn push(&self, value: T) -> Result<(), SendError<T>> {
        let Some(index) = self.ring.claim() else {
            self.sem.release(1);
            return Err(SendError(value));
        };
        // SAFETY: `index` was just claimed and is published only here, and the caller has held
        // a permit since before the claim (this function's contract).
        unsafe { self.ring.publish(index, value) };
        fence(Ordering::SeqCst);
        if self.rx_parked.load(Ordering::Relaxed) {
            self.wake_receiver();
        }
        Ok(())
    }

    #[cold]
    fn wake_receiver(&self) {
        let mut rx = self.rx.lock();
        self.rx_parked.store(false, Ordering::Relaxed);
        let waker = rx.rx_waker.take();
        drop(rx);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub(super) fn add_sender(&self) {
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn drop_sender(&self) {
        if self.senders.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let mut rx = self.rx.lock();
        rx.tx_gone = true;
        let waker = rx.rx_waker.take();
        drop(rx);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The receiving half of a ring channel: the shared state and the receiver's own position.
pub(super) struct RingRx<T> {
    chan: Arc<RingChan<T>>,
    /// The next index to take.
    head: usize,
    /// Where the ring ended when the receiver closed it.
    end: Option<usize>,
    /// A message taken whose slot's hand-off panicked (a sender's waker): returned next.
    stash: Option<T>,
    /// Watches still to skip, and how many in a row saw nothing (see the module docs).
    watches_to_skip: u32,
    misses: u32,
}

impl<T> RingRx<T> {
    pub(super) fn new(chan: Arc<RingChan<T>>) -> Self {
        RingRx {
            chan,
            head: 0,
            end: None,
            stash: None,
            watches_to_skip: 0,
            misses: 0,
        }
    }

    /// The next message, if it is published.
    #[inline]
    fn next(&mut self) -> Option<T> {
        if let Some(value) = self.stash.take() {
            return Some(value);
        }
        if self.end == Some(self.head) {
            return None;
        }
        let value = self.chan.ring.take(self.head)?;
        self.head = ring::next_index(self.head);
        // Kept here while its slot is handed on: if a sender's waker panics there, the
        // message is not lost but returned by the next `recv`.
        self.stash = Some(value);
        self.chan.sem.give_back(1);
        self.stash.take()
    }

    /// After `next` found nothing: whether nothing ever will come (closed and drained, or
    /// every sender gone and nothing left to take).
    fn drained(&self, rx: &RxState) -> bool {
        self.end == Some(self.head) || (rx.tx_gone && !self.chan.ring.is_published(self.head))
    }

    pub(super) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        coop::proceed(cx, |cx| {
            if let Some(value) = self.next() {
                return Poll::Ready(Some(value));
            }
            if let Some(value) = self.watch() {
                return Poll::Ready(Some(value));
            }
            self.park(cx)
        })
    }

    /// Watches the head slot for a moment before parking (see the module docs).
    #[inline(never)]
    fn watch(&mut self) -> Option<T> {
        if self.watches_to_skip > 0 {
            self.watches_to_skip -= 1;
            return None;
        }
        if self.end.is_some() {
            return None;
        }
        for _ in 0..SPINS {
            core::hint::spin_loop();
            if self.chan.ring.is_published(self.head) {
                self.misses = 0;
                return self.next();
            }
        }
        self.misses = (self.misses + 1).min(MAX_MISSES);
        self.watches_to_skip = 1 << self.misses;
        None
    }

    #[inline(never)]
    fn park(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // Borrowed, not cloned: the `Arc`'s counts are written by nobody else per message.
        let chan = &*self.chan;
        let mut rx = chan.rx.lock();
        let mut stale = None;
        if !matches!(&rx.rx_waker, Some(w) if w.will_wake(cx.waker())) {
            // The clone is foreign code: not under the lock.
            drop(rx);
            let fresh = cx.waker().clone();
            rx = chan.rx.lock();
            stale = rx.rx_waker.replace(fresh);
        }
        let drained = self.drained(&rx);
        if !drained {
            chan.rx_parked.store(true, Ordering::Relaxed);
        }
        drop(rx);
        drop(stale);
        if drained {
            // The last sender may have published just before it left.
            return Poll::Ready(self.next());
        }
        fence(Ordering::SeqCst);
        match self.next() {
            Some(value) => Poll::Ready(Some(value)),
            None => Poll::Pending,
        }
    }

    pub(super) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        if let Some(value) = self.next() {
            return Ok(value);
        }
        let rx = self.chan.rx.lock();
        let drained = self.drained(&rx);
        drop(rx);
        if drained {
            self.next().ok_or(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    pub(super) fn close(&mut self) {
        let mut wakers = WakeList::new();
        self.close_deferred(&mut wakers);
        wakers.wake_all();
    }

    /// Closes the semaphore (blocked sends fail), then the ring (sends that took a permit
    /// but had not claimed an index fail), then sets the `closed()` event; the wakers are left
    /// in `wakers`. The messages claimed before are still received.
    fn close_deferred(&mut self, wakers: &mut WakeList) {
        if self.end.is_some() {
            return;
        }
        self.chan.sem.close_deferred(wakers);
        self.end = Some(self.chan.ring.close());
        self.chan.rx_closed_event.set_deferred(wakers);
    }

    pub(super) fn len(&self) -> usize {
        let end = self.end.unwrap_or_else(|| self.chan.ring.claimed());
        ring::distance(self.head, end) + usize::from(self.stash.is_some())
    }
}

impl<T> Drop for RingRx<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        self.close_deferred(&mut wakers);
        // The guard wakes the parked senders and `closed()` waiters even if a destructor below
        // (a message's, or a waker's) panics.
        let wake_at_end = WakeOnDrop(Some(wakers));
        let end = self.end.expect("closed above");
        // Messages still being published are dropped with the ring, by the last sender.
        self.chan.ring.receiver_left_at(self.head);
        let indices =
            core::iter::successors(Some(self.head), |&index| Some(ring::next_index(index)));
        let drained: Vec<T> = indices
            .take(ring::distance(self.head, end))
            .filter_map(|index| self.chan.ring.take_leaving(index))
            .collect();
        // The receiver's own waker is of no use any more; it may even own a sender (a cycle
        // through the channel). Dropped after unlocking, like every waker.
        let own = self.chan.rx.lock().rx_waker.take();
        drop(own);
        drop(drained);
        drop(wake_at_end);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdAtomicUsize;

    use super::ring::LAST_INDEX;

    /// Sends `value` as `Sender::try_send` does.
    fn send<T>(chan: &RingChan<T>, value: T) {
        chan.sem.try_acquire(1).expect("a free slot");
        // SAFETY: the permit just taken is this message's.
        unsafe { chan.push(value) }.unwrap_or_else(|_| panic!("the receiver is there"));
    }

    /// A message that counts its drops.
    struct Counted(std::sync::Arc<StdAtomicUsize>);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A message that counts its drops, and whose drop then panics if `panics`.
    struct PanicsOnDrop {
        drops: std::sync::Arc<StdAtomicUsize>,
        panics: bool,
    }

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::Relaxed);
            if self.panics {
                panic!("expected test panic: message drop");
            }
        }
    }

    /// Messages left behind when the channel goes: three published before the receiver is
    /// dropped (it drops them) and three claimed before and published after (dropped with the
    /// ring, by the last sender). Whichever one's destructor panics, the panic reaches the drop
    /// that ran it and every other message is still dropped.
    #[test]
    fn a_message_whose_drop_panics_does_not_leak_the_others() {
        const EARLY: usize = 3;
        const LATE: usize = 3;
        for bad in 0..EARLY + LATE {
            let drops = std::sync::Arc::new(StdAtomicUsize::new(0));
            let message = |k: usize| PanicsOnDrop {
                drops: drops.clone(),
                panics: k == bad,
            };
            let (chan, rx) = RingChan::starting_at(8, 0);
            for k in 0..EARLY {
                send(&chan, message(k));
            }
            let late: Vec<usize> = (0..LATE)
                .map(|_| {
                    chan.sem.try_acquire(1).unwrap();
                    chan.ring.claim().expect("not closed yet")
                })
                .collect();
            let mut panics = 0;
            let unwound = |f: &mut dyn FnMut()| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err()
            };
            let mut rx = Some(rx);
            panics += usize::from(unwound(&mut || drop(rx.take())));
            for (k, index) in (EARLY..).zip(late) {
                // SAFETY: claimed above under the permit taken before it.
                unsafe { chan.ring.publish(index, message(k)) };
            }
            let mut chan = Some(chan);
            panics += usize::from(unwound(&mut || drop(chan.take())));
            assert_eq!(panics, 1, "message {bad} panics");
            assert_eq!(
                drops.load(Ordering::Relaxed),
                EARLY + LATE,
                "message {bad} panics"
            );
        }
    }

    /// The claim counter wraps (after 2^31 messages on a 32-bit target): messages keep
    /// arriving, in order, and the receiver counts them right across the wrap.
    #[test]
    fn messages_pass_the_wrap_of_the_index() {
        let (chan, mut rx) = RingChan::starting_at(4, LAST_INDEX - 9);
        let mut next = 0;
        for round in 0..8 {
            for k in 0..3 {
                send(&chan, round * 3 + k);
            }
            assert_eq!(rx.len(), 3, "round {round}");
            for _ in 0..3 {
                assert_eq!(rx.try_recv(), Ok(next), "round {round}");
                next += 1;
            }
            assert_eq!(rx.len(), 0, "round {round}");
            assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        }
    }

    /// The receiver dropped soon after the wrap, with messages left in the ring and one still
    /// being published: each message is dropped exactly once (none taken before the wrap is
    /// dropped again, none left behind leaks).
    #[test]
    fn receiver_drop_after_the_wrap_drops_each_message_once() {
        for left in 0..3 {
            let drops = std::sync::Arc::new(StdAtomicUsize::new(0));
            let (chan, mut rx) = RingChan::starting_at(4, LAST_INDEX - 5);
            let mut sent = 0;
            // Indices LAST_INDEX - 5 ..= LAST_INDEX, 0, 1 sent and received, two at a time
            // (the slots of LAST_INDEX - 1 and LAST_INDEX keep those messages' stamps).
            for _ in 0..4 {
                for _ in 0..2 {
                    send(&chan, Counted(drops.clone()));
                    sent += 1;
                }
                drop(rx.try_recv().unwrap());
                drop(rx.try_recv().unwrap());
            }
            // `left` messages published and not received, and one claimed and published
            // only after the receiver is gone.
            for _ in 0..left {
                send(&chan, Counted(drops.clone()));
                sent += 1;
            }
            chan.sem.try_acquire(1).unwrap();
            let late = chan.ring.claim().expect("not closed yet");
            drop(rx);
            // SAFETY: claimed just above under the permit taken before it.
            unsafe { chan.ring.publish(late, Counted(drops.clone())) };
            sent += 1;
            drop(chan);
            assert_eq!(
                drops.load(Ordering::Relaxed),
                sent,
                "{left} left in the ring"
            );
        }
    }
}
