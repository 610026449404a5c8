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
//!
//! Indices count modulo `2^(usize::BITS - 1)`, the claim counter's room above the `CLOSED`
//! bit: after [`LAST_INDEX`] comes 0 ([`next_index`]), and the receiver's head, the end and
//! the ring's drop compare indices by their distance ([`distance`]), never by `<`. A 32-bit
//! target wraps after 2^31 messages. Every index in use is within one ring's length of the
//! receiver's head (behind it: taken; ahead: claimed under a permit), so distances below the
//! ring's length are unambiguous.

use core::mem::MaybeUninit;

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};

/// The most memory a ring takes: channels whose ring would be larger use the locked core.
const MAX_RING_BYTES: usize = 256 * 1024;

/// The low bit of the claim counter: set once the receiver closed the ring.
const CLOSED: usize = 1;
/// One claim in the counter (the index lives above the `CLOSED` bit).
const CLAIM: usize = 2;
/// The highest index: the claim counter holds `usize::MAX / CLAIM + 1` of them, then wraps.
pub(super) const LAST_INDEX: usize = usize::MAX / CLAIM;

/// The index after `index` (0 after [`LAST_INDEX`], as the claim counter wraps).
#[inline]
pub(super) fn next_index(index: usize) -> usize {
    index.wrapping_add(1) & LAST_INDEX
}

/// How many indices from `from` on come before `to`: `to - from` modulo the index space.
#[inline]
pub(super) fn distance(from: usize, to: usize) -> usize {
    to.wrapping_sub(from) & LAST_INDEX
}

/// A slot: `stamp` is one more than the index of the last message written to `value` (an
/// index is at most [`LAST_INDEX`], so the stamp never wraps to 0, which means "none").
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

    /// A ring whose first message gets index `first` (tests: the wrap of the claim counter
    /// is reached without sending half of `usize::MAX` messages).
    #[cfg(all(test, not(loom)))]
    pub(super) fn starting_at(cap: usize, first: usize) -> Self {
        let ring = Self::new(cap);
        ring.claims
            .0
            .store((first & LAST_INDEX) * CLAIM, Ordering::Relaxed);
        ring
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
            {
                let stamp = slot.stamp.load(Ordering::Relaxed);
                // None yet, or one a whole number of laps (at least one) behind.
                stamp == 0 || (stamp - 1 != index && distance(stamp - 1, index) & self.mask == 0)
            },
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

    /// Records where a receiver that is going away stopped: messages from `head` on (up to a
    /// ring's length past it) that it did not take are dropped with the ring.
    pub(super) fn receiver_left_at(&self, head: usize) {
        self.receiver_left_at.store(head, Ordering::Relaxed);
    }

    /// The index the next claim gets: the end of the claims made so far (an upper bound on
    /// the messages sent: some may be unpublished).
    pub(super) fn claimed(&self) -> usize {
        self.claims.0.load(Ordering::Relaxed) / CLAIM
    }

    /// Closes the ring; returns the end of the indices claimed before (all to be published).
    /// Called once: the receiver remembers the answer.
    pub(super) fn close(&self) -> usize {
        let prev = self.claims.0.fetch_or(CLOSED, Ordering::Relaxed);
        debug_assert_eq!(prev & CLOSED, 0, "the ring is closed once");
        prev / CLAIM
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // The receiver's half holds the ring, so it recorded where it stopped before this (if
        // its drop did not unwind first: then what is left here leaks).
        let head = self.receiver_left_at.load(Ordering::Relaxed);
        if head == usize::MAX {
            return;
        }
        let len = self.slots.len();
        let mut left = LeftBehind {
            slots: self.slots.iter_mut(),
            head,
            len,
        };
        left.drop_messages();
    }
}

/// The slots a ring's drop has yet to look at for messages nobody took. A message's destructor
/// may panic: the guard's own drop, run as that panic unwinds, then drops the messages in the
/// slots after it (as a `Vec`'s drop does; a second panic there aborts the process, as it does
/// in a `Vec`).
struct LeftBehind<'a, T> {
    slots: core::slice::IterMut<'a, Slot<T>>,
    /// Where the receiver stopped taking.
    head: usize,
    /// The ring's length.
    len: usize,
}

impl<T> LeftBehind<'_, T> {
    fn drop_messages(&mut self) {
        // Each slot leaves the iterator before its message is dropped, so the guard's drop
        // does not drop a message whose destructor panicked a second time.
        for slot in self.slots.by_ref() {
            let stamp = slot.stamp.load(Ordering::Relaxed);
            // Message `stamp - 1` was written here (0: none, or cleared by the receiver). A
            // message the receiver took is behind `head`, at a distance from it of nearly the
            // whole index space, not below `len`.
            if stamp != 0 && distance(self.head, stamp - 1) < self.len {
                // SAFETY: the ring is being dropped (`&mut`): no sender or receiver is left.
                // Message `stamp - 1` is at or past where the receiver stopped (and within the
                // claims it left in flight, at most a ring's length) and was not cleared by
                // it: nobody took it, and this slot is looked at once.
                slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
        }
    }
}

impl<T> Drop for LeftBehind<'_, T> {
    fn drop(&mut self) {
        // Empty unless a message's destructor panicked in `drop_messages`.
        self.drop_messages();
    }
}
