//! Permits given back to a [`RawSemaphore`] by one busy releaser without writing the
//! semaphore's word each time: the bounded `mpsc` channel's receiver frees one slot per
//! message, and a release per message made the semaphore's cache line travel between the
//! receiver's core and the senders' on every message.
//!
//! # Protocol
//!
//! One atomic word on its own cache line holds `count << 1 | FLAG`.
//!
//! * **Release.** Adds to `count` with one `fetch_add`. While `FLAG` is clear nobody waits for
//!   these permits, so they may sit here: whoever runs out of permits takes them first
//!   ([`take`](DeferredRelease::take) in `try_acquire_deferred`, and under the waiters' lock in
//!   `poll_acquire_slow`).
//! * **`FLAG`.** Set, under the semaphore's waiters lock, by an acquirer about to queue — in
//!   the same `swap` that takes the stored count, so a release ordered before that `swap`
//!   is in the permits the acquirer sees, and one ordered after it sees `FLAG`. A release that
//!   sees `FLAG` hands its permits to the semaphore at once (hand-off to the queued waiters)
//!   and, under the waiters lock, clears `FLAG` if nobody is queued any more.
//! * **Invariant** (under the waiters lock): a non-empty waiter queue implies `FLAG` is set,
//!   because `FLAG` is set before a waiter queues and cleared only when the queue is empty.
//!   So no permit can sit here while somebody waits for it longer than one releaser's hand-off.
//!
//! Every access is a read-modify-write of the one word, so their total order alone carries the
//! argument (no fences, and loom checks it as written).
//!
//! | `FLAG` | waiters queued | a release                                  |
//! |--------|----------------|--------------------------------------------|
//! | clear  | none           | stays here until an acquirer runs out      |
//! | set    | maybe          | goes to the semaphore (hand-off), flag re-checked |

use crate::loom::{AtomicUsize, Ordering};
use crate::semaphore::RawSemaphore;

const FLAG: usize = 1;
const SHIFT: usize = 1;

/// Released permits not yet added to the semaphore's word, on a cache line of their own.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct DeferredRelease {
    word: AtomicUsize,
}

impl DeferredRelease {
    pub(crate) fn new() -> Self {
        DeferredRelease {
            word: AtomicUsize::new(0),
        }
    }

    /// Gives back `n` permits of `sem`; parked acquirers are served at once.
    #[inline]
    pub(crate) fn release(&self, n: usize, sem: &RawSemaphore) {
        let old = self.word.fetch_add(n << SHIFT, Ordering::AcqRel);
        if old & FLAG != 0 {
            self.flush(sem);
        }
    }

    /// Somebody waits (or was about to): hand everything stored to the semaphore, then drop the
    /// flag if the queue is empty again.
    #[cold]
    fn flush(&self, sem: &RawSemaphore) {
        let stored = self.take();
        sem.release_then(stored, |queue_empty| {
            if queue_empty {
                self.word.fetch_and(!FLAG, Ordering::AcqRel);
            }
        });
    }

    /// The permits stored here (part of the semaphore's available permits).
    pub(crate) fn count(&self) -> usize {
        self.word.load(Ordering::Acquire) >> SHIFT
    }

    /// Takes every stored permit, leaving the flag as it is.
    pub(crate) fn take(&self) -> usize {
        let mut word = self.word.load(Ordering::Acquire);
        while word >> SHIFT != 0 {
            match self.word.compare_exchange_weak(
                word,
                word & FLAG,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return word >> SHIFT,
                Err(actual) => word = actual,
            }
        }
        0
    }

    /// Under the waiters lock, before queueing: sets the flag and takes every stored permit.
    pub(crate) fn flag_and_take(&self) -> usize {
        self.word.swap(FLAG, Ordering::AcqRel) >> SHIFT
    }

    /// Under the waiters lock, with the queue empty: releases go back to being stored.
    pub(crate) fn clear_flag(&self) {
        self.word.fetch_and(!FLAG, Ordering::AcqRel);
    }
}
