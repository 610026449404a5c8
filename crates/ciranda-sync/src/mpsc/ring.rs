//! The bounded channel's message ring: many senders write, one receiver reads, no lock.
//!
//! The ring does not count free slots itself. The channel's semaphore does: a sender holds a
//! permit from before it claims an index until the receiver has taken that index's message,
//! and there are no more permits than slots. So when index `i` is claimed, the message
//! `i - len` that used the same slot has been taken, and the claim never waits.
//!
//! Each slot carries a stamp: `i + 1` once message `i` is in it (0 before the slot's first
//! message). The receiver at index `i` waits for stamp `i + 1`; it never writes a slot while
//! it receives, so the slots' cache lines move from the receiver to the senders as a read
//! share, not as a modified line.
//!
//! | step                   | who            | what                                             |
//! |------------------------|----------------|--------------------------------------------------|
//! | `claim`                | a sender       | `fetch_add` on the claim counter: the next index |
//! | `publish(i, v)`        | that sender    | writes the slot, then stamps it `i + 1`          |
//! | `take(i)`              | the receiver   | reads the stamp; if `i + 1`, moves the value out |
//! | `close`                | the receiver   | sets `CLOSED` in the counter; later claims fail  |
//! | `take_leaving(i)`      | the receiver, going away | `take`, then clears the stamp          |
//! | `receiver_left_at(h)`  | the receiver, going away | every message from `h` on not cleared is dropped with the ring |
//!
//! Closing returns the number of claims made before it: the receiver drains exactly those
//! (each will be published; its sender is between two lines of `send`), so a send either
//! claimed before the close and is received, or fails and gets its value back.

use core::mem::MaybeUninit;

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

/// The most memory a ring takes: channels whose ring would be larger use the locked core.
const MAX_RING_BYTES: usize = 256 * 1024;

/// The low bit of the claim counter: set once the receiver closed the ring.
const CLOSED: usize = 1;
/// One claim in the counter (the index lives above the `CLOSED` bit).
const CLAIM: usize = 2;

/// A slot: `stamp` is one more than the index of the last message written to `value`.
struct Slot<T> {
    stamp: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Keeps the claim counter, which senders write, off the slots' and the receiver's lines.
#[repr(align(128))]
struct Claims(AtomicUsize);

pub(super) struct Ring<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    claims: Claims,
    /// Where the receiver stopped taking when it went away; `usize::MAX` while it is there.
    receiver_left_at: AtomicUsize,
}

// SAFETY: a slot's value is written by the one sender that claimed its index and read by the
// one receiver after it saw the stamp (a release/acquire pair), and moved between threads only
// by value: the same requirements as sending `T` through any channel.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as above; `&Ring` only lets a sender write a slot it claimed and the receiver read
// a slot published to it.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// Whether a ring for `cap` messages takes at most [`MAX_RING_BYTES`].
    pub(super) fn fits(cap: usize) -> bool {
        cap.checked_next_power_of_two()
            .and_then(|len| len.checked_mul(core::mem::size_of::<Slot<T>>()))
            .is_some_and(|bytes| bytes <= MAX_RING_BYTES)
    }

    /// A ring with room for at least `cap` messages (rounded up to a power of two); `cap`
    /// must [`fit`](Self::fits).
    pub(super) fn new(cap: usize) -> Self {
        debug_assert!(Self::fits(cap), "a ring for {cap} messages is too large");
        let len = cap.next_power_of_two();
        let slots = (0..len)
            .map(|_| Slot {
                stamp: AtomicUsize::new(0),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            slots,
            mask: len - 1,
            claims: Claims(AtomicUsize::new(0)),
            receiver_left_at: AtomicUsize::new(usize::MAX),
        }
    }

    /// The next index to write, or `None` once the ring is closed. The caller must hold a
    /// permit of the channel's semaphore, and publish the index.
    #[inline]
    pub(super) fn claim(&self) -> Option<usize> {
        // AcqRel, not Relaxed: the permit this sender holds orders its write after the
        // receiver's take of the message its *permit* last carried, which need not be the
        // one that used this index's slot (a permit taken early can claim late). Claims
        // `i - len ..= i` are `len + 1` claims over at most `len` permits, so one permit
        // carried two of them: its second claimant saw the take of the first, which is at or
        // after the take of `i - len`, and every later claim synchronizes with it through
        // this counter. (Miri reported the race with `Relaxed`; on x86 the instruction is
        // the same.) `close` is a read-modify-write of the same counter, so each claim is
        // either before or after it.
        let prev = self.claims.0.fetch_add(CLAIM, Ordering::AcqRel);
        (prev & CLOSED == 0).then_some(prev / CLAIM)
    }

    /// Writes the message of a claimed index and hands it to the receiver.
    ///
    /// # Safety
    ///
    /// `index` came from [`claim`](Self::claim) on this ring, is published once, and the
    /// caller has held a permit since before the claim (so the slot's previous message was
    /// taken, and that take happened before this write).
    #[inline]
    pub(super) unsafe fn publish(&self, index: usize, value: T) {
        let slot = &self.slots[index & self.mask];
        debug_assert!(
            slot.stamp.load(Ordering::Relaxed) <= index,
            "a claimed slot still holds a message from this round or later"
        );
        // SAFETY: the claim made this sender the slot's only writer; the receiver reads the
        // value only after seeing the stamp, set below, and took the previous one before the
        // permit this sender holds was given back.
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        slot.stamp.store(index.wrapping_add(1), Ordering::Release);
    }

    /// Whether message `index` is published (the receiver's look while it watches or parks).
    #[inline]
    pub(super) fn is_published(&self, index: usize) -> bool {
        self.slots[index & self.mask].stamp.load(Ordering::Acquire) == index.wrapping_add(1)
    }

    /// Takes message `index` if it is published. Only the receiver calls this, once per
    /// index, in index order.
    #[inline]
    pub(super) fn take(&self, index: usize) -> Option<T> {
        if !self.is_published(index) {
            return None;
        }
        let slot = &self.slots[index & self.mask];
        // SAFETY: the stamp (acquired above) says the sender's write of message `index` is
        // complete and visible; the receiver takes each index once, and the slot is written
        // again only after the permit it gives back for this message.
        Some(slot.value.with(|p| unsafe { (*p).assume_init_read() }))
    }

    /// [`take`](Self::take) by a receiver that is going away, which may skip indices still
    /// being published: clears the stamp, so that the ring's drop knows this one is gone.
    pub(super) fn take_leaving(&self, index: usize) -> Option<T> {
        let value = self.take(index)?;
        self.slots[index & self.mask]
            .stamp
            .store(0, Ordering::Relaxed);
        Some(value)
    }

    /// Records where a receiver that is going away stopped: messages from `head` on that it
    /// did not take are dropped with the ring.
    pub(super) fn receiver_left_at(&self, head: usize) {
        self.receiver_left_at.store(head, Ordering::Relaxed);
    }

    /// Claims made so far (an upper bound on the messages sent: some may be unpublished).
    pub(super) fn claimed(&self) -> usize {
        self.claims.0.load(Ordering::Relaxed) / CLAIM
    }

    /// Closes the ring; returns how many indices were claimed before (all to be published).
    /// Called once: the receiver remembers the answer.
    pub(super) fn close(&self) -> usize {
        let prev = self.claims.0.fetch_or(CLOSED, Ordering::Relaxed);
        debug_assert_eq!(prev & CLOSED, 0, "the ring is closed once");
        prev / CLAIM
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // The receiver's half holds the ring, so it recorded where it stopped before this.
        let head = self.receiver_left_at.load(Ordering::Relaxed);
        for slot in self.slots.iter_mut() {
            let stamp = slot.stamp.load(Ordering::Relaxed);
            // Message `stamp - 1` was written here (a cleared stamp, 0, is never above).
            if stamp > head {
                // SAFETY: `&mut self`: no sender or receiver is left. Message `stamp - 1` is
                // at or past where the receiver stopped and was not cleared by it: nobody
                // took it.
                slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
        }
    }
}
