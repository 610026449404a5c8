//! The bounded channel's message ring: many senders write, one receiver reads, no lock.
//!
//! The ring does not count free slots itself. The channel's semaphore does: a sender holds a
//! permit from before it claims an index until the receiver has emptied that index's slot, and
//! there are no more permits than slots. So when index `i` is claimed, the message `i - len`
//! that used the same slot has been taken, and the claim never waits.
//!
//! | step                   | who            | what                                             |
//! |------------------------|----------------|--------------------------------------------------|
//! | `claim`                | a sender       | `fetch_add` on the claim counter: the next index |
//! | `publish(i, v)`        | that sender    | writes the slot, then sets its `full` flag       |
//! | `take(i)`              | the receiver   | reads `full`; if set, moves the value out, clears it |
//! | `close`                | the receiver   | sets `CLOSED` in the counter; later claims fail  |
//!
//! Closing returns the number of claims made before it: the receiver drains exactly those
//! (each will be published; its sender is between two lines of `send`), so a send either
//! claimed before the close and is received, or fails and gets its value back.

use core::mem::MaybeUninit;

use crate::loom::{AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// The most memory a ring takes: channels whose ring would be larger use the locked core.
const MAX_RING_BYTES: usize = 256 * 1024;

/// The low bit of the claim counter: set once the receiver closed the ring.
const CLOSED: usize = 1;
/// One claim in the counter (the index lives above the `CLOSED` bit).
const CLAIM: usize = 2;

/// A slot: `full` says whether `value` holds a message.
struct Slot<T> {
    full: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Keeps the claim counter, which senders write, off the slots' and the receiver's lines.
#[repr(align(128))]
struct Claims(AtomicUsize);

pub(super) struct Ring<T> {
    slots: Box<[Slot<T>]>,
    mask: usize,
    claims: Claims,
}

// SAFETY: a slot's value is written by the one sender that claimed its index and read by the
// one receiver after it saw `full` (a release/acquire pair), and moved between threads only
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

    /// A ring with room for at least `cap` messages (rounded up to a power of two).
    pub(super) fn new(cap: usize) -> Self {
        let len = cap
            .checked_next_power_of_two()
            .expect("ring capacity fits in usize");
        let slots = (0..len)
            .map(|_| Slot {
                full: AtomicBool::new(false),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Ring {
            slots,
            mask: len - 1,
            claims: Claims(AtomicUsize::new(0)),
        }
    }

    /// The next index to write, or `None` once the ring is closed. The caller must hold a
    /// permit of the channel's semaphore, and publish the index.
    #[inline]
    pub(super) fn claim(&self) -> Option<usize> {
        // Relaxed: the slot's reuse is ordered by the permit, and `close` is a read-modify-
        // write of the same counter, so each claim is either before or after it.
        let prev = self.claims.0.fetch_add(CLAIM, Ordering::Relaxed);
        (prev & CLOSED == 0).then_some(prev / CLAIM)
    }

    /// Writes the message of a claimed index and hands it to the receiver.
    ///
    /// # Safety
    ///
    /// `index` came from [`claim`](Self::claim) on this ring, is published once, and the
    /// caller held a permit from before the claim (so the slot's previous message was taken).
    #[inline]
    pub(super) unsafe fn publish(&self, index: usize, value: T) {
        let slot = &self.slots[index & self.mask];
        debug_assert!(
            !slot.full.load(Ordering::Relaxed),
            "a claimed slot is empty"
        );
        // SAFETY: the claim made this sender the slot's only writer, and the receiver reads it
        // only after seeing `full`, set below.
        slot.value.with_mut(|p| unsafe { (*p).write(value) });
        slot.full.store(true, Ordering::Release);
    }

    /// Takes the message at `index` if it is published. Only the receiver calls this: in index
    /// order while it receives, and once more for every index left when it goes away.
    #[inline]
    pub(super) fn take(&self, index: usize) -> Option<T> {
        let slot = &self.slots[index & self.mask];
        if !slot.full.load(Ordering::Acquire) {
            return None;
        }
        // SAFETY: `full` (acquired above) says the sender's write is complete and visible; the
        // receiver is the only reader, and moves the value out once before clearing the flag.
        let value = slot.value.with(|p| unsafe { (*p).assume_init_read() });
        slot.full.store(false, Ordering::Relaxed);
        Some(value)
    }

    /// Whether the message at `index` is published (the receiver's look before parking).
    #[inline]
    pub(super) fn is_published(&self, index: usize) -> bool {
        self.slots[index & self.mask].full.load(Ordering::Acquire)
    }

    /// Claims made so far (an upper bound on the messages sent: some may be unpublished).
    pub(super) fn claimed(&self) -> usize {
        self.claims.0.load(Ordering::Relaxed) / CLAIM
    }

    /// Closes the ring; returns how many indices were claimed before (all to be published).
    /// Idempotent: a second close returns the same number.
    pub(super) fn close(&self) -> usize {
        let prev = self.claims.0.fetch_or(CLOSED, Ordering::Relaxed);
        if prev & CLOSED != 0 {
            // Claims after the first close moved the counter on; they do not count.
            unreachable_second_close()
        }
        prev / CLAIM
    }
}

#[cold]
fn unreachable_second_close() -> ! {
    unreachable!("the receiver closes the ring once and remembers where it ended")
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        for slot in self.slots.iter_mut() {
            if slot.full.load(Ordering::Relaxed) {
                // SAFETY: `&mut self`: no sender or receiver is left; `full` says the value
                // was written and not taken.
                slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            }
        }
    }
}
