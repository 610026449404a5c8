//! The channels' message queue: many senders, one receiver, no lock.
//!
//! Messages sit in a linked list of blocks of [`BLOCK_CAP`] slots. A sender claims a slot by
//! advancing the shared *tail* word with one compare-and-swap, writes the message, then marks
//! the slot written. The receiver owns the *head* (a position and a block pointer kept in the
//! receiver itself, never shared), reads slots in order, and frees each block once it has
//! read all of it. So a message costs the sender one read-modify-write and one store, and the
//! receiver none: the receiver and the senders share only the slots and the tail word.
//!
//! # The tail word
//!
//! | bits            | meaning                                                          |
//! |-----------------|------------------------------------------------------------------|
//! | 0 (`CLOSED`)    | no more claims: a sender that sees it gives its message back     |
//! | 1 (`RX_WAITING`)| the receiver found nothing and waits to be woken                 |
//! | `SHIFT`..       | the position of the next slot to claim                           |
//!
//! Positions count [`LAP`] per block: offsets `0..BLOCK_CAP` are slots, and offset
//! `BLOCK_CAP` marks "the next block is being installed": the sender that claims a block's
//! last slot links a new block, moves the tail's block pointer to it and steps the position
//! past the mark before it writes its message; senders that see the mark wait for it.
//!
//! # Waking the receiver without a lock
//!
//! The receiver, finding nothing to take, sets `RX_WAITING` with a read-modify-write of the
//! tail word. Every claim is a compare-and-swap of the same word, so the two are ordered: a
//! claim that comes later sees the bit (and clears it, in the same swap), and its sender
//! wakes the receiver once its message is written. A claim that came earlier shows in the
//! position the receiver read; the receiver then marks the head's slot `RX_WAITS` with a
//! read-modify-write of the slot's state, which that slot's sender also ends its push with
//! (setting `WRITTEN`): again ordered, so either the sender sees the mark and wakes the
//! receiver, or the receiver sees the message written. Either way the receiver looks at the
//! head once more before it waits. No sender pays more than its claim and its slot's state
//! unless the receiver waits.
//!
//! | slot state bit | set by                          | meaning                              |
//! |----------------|---------------------------------|--------------------------------------|
//! | `WRITTEN`      | the slot's sender, last         | the message is there to read         |
//! | `RX_WAITS`     | the receiver, when it waits     | wake the receiver once written       |
//!
//! # Invariants the `unsafe` code relies on
//!
//! * A sender dereferences a block only after its compare-and-swap claimed a slot in it, and
//!   a block is only freed by the receiver once every slot in it was written and read: so no
//!   sender can be inside a block being freed. A sender that loaded the tail's block pointer
//!   and lost its compare-and-swap never dereferences what it loaded.
//! * The receiver reaches a block's last slot only after reading it written, and its sender
//!   linked the next block before writing it: the next block is there when the head moves.
//! * A claimed slot is written exactly once, by the sender that claimed it, and read exactly
//!   once, by the receiver, after it saw `WRITTEN` (release/acquire).
//! * When the receiver goes, it drops the messages written so far and hands the rest — claims
//!   still being written, and their blocks — to the queue, which drops them with the channel,
//!   once no sender is left.

use core::mem::MaybeUninit;
use core::ptr;

use crate::loom::{AtomicPtr, AtomicUsize, Ordering, UnsafeCell, spin_loop};

/// Positions per block: its slots and the "next block being installed" mark. Under loom a
/// block is small, so that the models cross block boundaries in a handful of messages.
const LAP: usize = if cfg!(loom) { 4 } else { 32 };
/// Slots per block.
const BLOCK_CAP: usize = LAP - 1;
/// The tail word's flag bits below the position.
const SHIFT: usize = 2;
const CLOSED: usize = 1;
const RX_WAITING: usize = 2;
/// A slot's state bits (module docs).
const WRITTEN: usize = 1;
const RX_WAITS: usize = 2;

struct Slot<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    state: AtomicUsize,
}

struct Block<T> {
    next: AtomicPtr<Block<T>>,
    slots: [Slot<T>; BLOCK_CAP],
}

impl<T> Block<T> {
    fn new() -> Box<Block<T>> {
        Box::new(Block {
            next: AtomicPtr::new(ptr::null_mut()),
            slots: core::array::from_fn(|_| Slot {
                value: UnsafeCell::new(MaybeUninit::uninit()),
                state: AtomicUsize::new(0),
            }),
        })
    }
}

/// Keeps what it holds on a cache line (two, for adjacent-line prefetching) of its own.
#[repr(align(128))]
struct Padded<T>(T);

/// The shared side: the tail word and the block it points into.
pub(crate) struct MessageQueue<T> {
    tail: Padded<AtomicUsize>,
    tail_block: AtomicPtr<Block<T>>,
    /// Where a departed receiver stopped (position, block), if claims were still being
    /// written then; dropped with the queue.
    leftover: AtomicPtr<Block<T>>,
    leftover_position: AtomicUsize,
}

// SAFETY: messages move from a sender's thread to the receiver's, hence `T: Send`; every
// shared access goes through atomics, and a slot's value is written once by the sender that
// claimed it and read once by the receiver after `WRITTEN` (module invariants).
unsafe impl<T: Send> Send for MessageQueue<T> {}
// SAFETY: as above; `&MessageQueue` only offers `push`, `close` and the tail's flags.
unsafe impl<T: Send> Sync for MessageQueue<T> {}

/// What a sender's push did.
pub(crate) enum Pushed<T> {
    /// Queued; `true` if the receiver was waiting and must be woken (this push cleared its
    /// flag).
    Queued(bool),
    /// The queue is closed: the message comes back.
    Closed(T),
}

/// What the receiver's look at the head found.
pub(crate) enum Pop<T> {
    Value(T),
    /// Nothing claimed after the head; `closed` if no more can be.
    Empty {
        closed: bool,
    },
    /// A sender claimed the head's slot and is writing it; it wakes a waiting receiver once
    /// it has.
    Claimed,
}

impl<T> MessageQueue<T> {
    /// An empty queue and its one head.
    pub(crate) fn new() -> (MessageQueue<T>, Head<T>) {
        let first = Box::into_raw(Block::new());
        let queue = MessageQueue {
            tail: Padded(AtomicUsize::new(0)),
            tail_block: AtomicPtr::new(first),
            leftover: AtomicPtr::new(ptr::null_mut()),
            leftover_position: AtomicUsize::new(0),
        };
        (
            queue,
            Head {
                position: 0,
                block: first,
            },
        )
    }

    /// Queues `value` unless the queue is closed.
    pub(crate) fn push(&self, value: T) -> Pushed<T> {
        let mut tail = self.tail.0.load(Ordering::Acquire);
        let mut block = self.tail_block.load(Ordering::Acquire);
        let mut next_block: Option<Box<Block<T>>> = None;
        loop {
            if tail & CLOSED != 0 {
                return Pushed::Closed(value);
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // Another sender is installing the next block.
                spin_loop();
                tail = self.tail.0.load(Ordering::Acquire);
                block = self.tail_block.load(Ordering::Acquire);
                continue;
            }
            if offset + 1 == BLOCK_CAP && next_block.is_none() {
                // Allocated before the claim, so the others wait on the mark for less.
                next_block = Some(Block::new());
            }
            // The claim takes the receiver's waiting flag too: this sender wakes it.
            let claimed = (tail + (1 << SHIFT)) & !RX_WAITING;
            match self.tail.0.compare_exchange_weak(
                tail,
                claimed,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: the swap claimed `offset` in `block`: the tail read `tail`,
                    // whose lap's block is `block` (a position reaches a lap only after its
                    // block is installed, and `block` was loaded after `tail`), and that block
                    // is not freed before this slot is written and read (module invariants).
                    let block = unsafe { &*block };
                    if offset + 1 == BLOCK_CAP {
                        let next = Box::into_raw(next_block.take().expect("allocated above"));
                        block.next.store(next, Ordering::Release);
                        self.tail_block.store(next, Ordering::Release);
                        // Past the mark (flags set meanwhile are kept).
                        self.tail.0.fetch_add(1 << SHIFT, Ordering::Release);
                    }
                    let slot = &block.slots[offset];
                    // SAFETY: this sender claimed the slot; nobody reads it before `WRITTEN`.
                    slot.value
                        .with_mut(|p| unsafe { p.write(MaybeUninit::new(value)) });
                    // AcqRel: publishes the message, and is ordered with the receiver's mark.
                    let state = slot.state.fetch_or(WRITTEN, Ordering::AcqRel);
                    let wake = tail & RX_WAITING != 0 || state & RX_WAITS != 0;
                    return Pushed::Queued(wake);
                }
                Err(current) => {
                    tail = current;
                    block = self.tail_block.load(Ordering::Acquire);
                }
            }
        }
    }

    /// Refuses every later claim; claims made before it are still written and read.
    pub(crate) fn close(&self) {
        self.tail.0.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Clears `RX_WAITING`; whether it was set (the caller then wakes the receiver). A
    /// read-modify-write, ordered with the receiver's [`Head::wait`]: the last sender's drop
    /// ends with one, and a receiver that does not wait after all clears its flag with it.
    pub(crate) fn take_rx_waiting(&self) -> bool {
        self.tail.0.fetch_and(!RX_WAITING, Ordering::AcqRel) & RX_WAITING != 0
    }

    fn position(&self) -> usize {
        self.tail.0.load(Ordering::Acquire) >> SHIFT
    }
}

/// The receiver's side: where the next message is. Only the receiver holds it.
pub(crate) struct Head<T> {
    position: usize,
    block: *mut Block<T>,
}

// SAFETY: the head is the receiver's cursor into blocks of `T`; moving it moves the receiving
// side, which takes `T`s (hence `T: Send`).
unsafe impl<T: Send> Send for Head<T> {}
// SAFETY: through `&Head` only the position is read (`len`).
unsafe impl<T: Send> Sync for Head<T> {}

impl<T> Head<T> {
    /// Takes the next message, if one is written.
    pub(crate) fn pop(&mut self, queue: &MessageQueue<T>) -> Pop<T> {
        if self.block.is_null() {
            return Pop::Empty { closed: true }; // drained for good by `close_and_drain`
        }
        let offset = self.position % LAP;
        // SAFETY: the head's block is alive until the head frees it below (module invariants).
        let slot = unsafe { &(*self.block).slots[offset] };
        if slot.state.load(Ordering::Acquire) & WRITTEN == 0 {
            let tail = queue.tail.0.load(Ordering::Acquire);
            return if tail >> SHIFT == self.position {
                Pop::Empty {
                    closed: tail & CLOSED != 0,
                }
            } else {
                Pop::Claimed
            };
        }
        // SAFETY: written (acquire above pairs with the sender's release), and read once: the
        // head moves past it right after.
        let value = slot.value.with_mut(|p| unsafe { p.read().assume_init() });
        self.position += 1;
        if offset + 1 == BLOCK_CAP {
            // SAFETY: the last slot was written after its sender linked the next block, and
            // every slot of this block is read now: no sender touches it any more.
            unsafe {
                let next = (*self.block).next.load(Ordering::Acquire);
                debug_assert!(
                    !next.is_null(),
                    "the next block is linked before the last slot"
                );
                drop(Box::from_raw(self.block));
                self.block = next;
            }
            self.position += 1; // past the mark
        }
        Pop::Value(value)
    }

    /// Asks to be woken by the next message (see the module docs): sets `RX_WAITING`, and if
    /// a claim came first, marks the head's slot `RX_WAITS`. The receiver looks at the head
    /// again afterwards, and clears the flag ([`MessageQueue::take_rx_waiting`]) if it does
    /// not wait after all.
    pub(crate) fn wait(&self, queue: &MessageQueue<T>) {
        let tail = queue.tail.0.fetch_or(RX_WAITING, Ordering::AcqRel);
        if tail >> SHIFT != self.position && !self.block.is_null() {
            // SAFETY: the head's block is alive (module invariants).
            let slot = unsafe { &(*self.block).slots[self.position % LAP] };
            slot.state.fetch_or(RX_WAITS, Ordering::AcqRel);
        }
    }

    /// Messages claimed and not yet taken (one being written counts).
    pub(crate) fn len(&self, queue: &MessageQueue<T>) -> usize {
        if self.block.is_null() {
            return 0;
        }
        // Each lap has one mark; the count of real slots before position `p` is `p - p / LAP`.
        let real = |p: usize| p - p / LAP;
        real(queue.position()) - real(self.position)
    }

    /// Closes the queue and drops every message written in it; the receiver's last act. Claims
    /// still being written (made before the close) are handed to the queue with their
    /// blocks, and dropped with it. A head dropped without this leaks its blocks.
    pub(crate) fn close_and_drain(&mut self, queue: &MessageQueue<T>) {
        queue.close();
        self.drain_closed(queue);
    }

    fn drain_closed(&mut self, queue: &MessageQueue<T>) {
        /// If a message's destructor panics, the rest are still dropped (as a `Vec` drops the
        /// rest of its elements) and the blocks freed or handed over.
        struct Rest<'a, T> {
            head: &'a mut Head<T>,
            queue: &'a MessageQueue<T>,
        }
        impl<T> Drop for Rest<'_, T> {
            fn drop(&mut self) {
                self.head.drain_closed(self.queue);
            }
        }
        loop {
            match self.pop(queue) {
                Pop::Value(message) => {
                    let rest = Rest { head: self, queue };
                    drop(message);
                    core::mem::forget(rest);
                }
                Pop::Empty { .. } => {
                    if !self.block.is_null() {
                        // SAFETY: closed with nothing claimed: no sender touches the head's
                        // block (the last one) again, and no block follows it.
                        drop(unsafe { Box::from_raw(self.block) });
                    }
                    break;
                }
                Pop::Claimed => {
                    queue
                        .leftover_position
                        .store(self.position, Ordering::Relaxed);
                    // Release: the position above travels with the block.
                    queue.leftover.store(self.block, Ordering::Release);
                    break;
                }
            }
        }
        self.block = ptr::null_mut();
    }
}

impl<T> Drop for MessageQueue<T> {
    fn drop(&mut self) {
        let mut block = self.leftover.load(Ordering::Acquire);
        if block.is_null() {
            return;
        }
        // Every handle is gone, so every claim was written: drop the messages from where the
        // receiver stopped to the tail, freeing the blocks on the way.
        let end = self.position();
        let mut position = self.leftover_position.load(Ordering::Relaxed);
        while position != end {
            let offset = position % LAP;
            if offset == BLOCK_CAP {
                // SAFETY: the receiver handed this block over; its messages are read, and the
                // next one was linked before its last slot was written.
                unsafe {
                    let next = (*block).next.load(Ordering::Acquire);
                    drop(Box::from_raw(block));
                    block = next;
                }
            } else {
                // SAFETY: a claimed slot between the receiver's position and the tail, written
                // (its sender finished before the last handle went) and not read.
                unsafe {
                    let slot = &(*block).slots[offset];
                    debug_assert!(slot.state.load(Ordering::Acquire) & WRITTEN != 0);
                    slot.value.with_mut(|p| drop(p.read().assume_init()));
                }
            }
            position += 1;
        }
        // SAFETY: the block the tail is in; nothing else points at it any more.
        drop(unsafe { Box::from_raw(block) });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    fn pop_all<T>(head: &mut Head<T>, queue: &MessageQueue<T>) -> Vec<T> {
        let mut out = Vec::new();
        while let Pop::Value(v) = head.pop(queue) {
            out.push(v);
        }
        out
    }

    #[test]
    fn order_and_len_across_many_blocks() {
        let (queue, mut head) = MessageQueue::new();
        for i in 0..200 {
            assert!(matches!(queue.push(i), Pushed::Queued(false)));
            assert_eq!(head.len(&queue), i + 1);
        }
        // Read half, push more, read the rest: the head frees blocks behind it as it goes.
        let mut got = Vec::new();
        for _ in 0..77 {
            match head.pop(&queue) {
                Pop::Value(v) => got.push(v),
                _ => panic!("a message was queued"),
            }
        }
        assert_eq!(head.len(&queue), 123);
        for i in 200..260 {
            assert!(matches!(queue.push(i), Pushed::Queued(false)));
        }
        got.extend(pop_all(&mut head, &queue));
        assert_eq!(got, (0..260).collect::<Vec<_>>());
        assert_eq!(head.len(&queue), 0);
        assert!(matches!(head.pop(&queue), Pop::Empty { closed: false }));
        head.close_and_drain(&queue);
    }

    #[test]
    fn the_waiting_flag_goes_to_the_next_push_only() {
        let (queue, mut head) = MessageQueue::new();
        head.wait(&queue);
        assert!(matches!(queue.push(1), Pushed::Queued(true)));
        assert!(matches!(queue.push(2), Pushed::Queued(false)));
        assert_eq!(pop_all(&mut head, &queue), [1, 2]);
        head.wait(&queue);
        assert!(
            queue.take_rx_waiting(),
            "a sender gone wakes a waiting receiver"
        );
        assert!(!queue.take_rx_waiting());
        head.close_and_drain(&queue);
    }

    #[test]
    fn closing_refuses_later_claims_and_keeps_earlier_ones() {
        let (queue, mut head) = MessageQueue::new();
        for i in 0..40 {
            assert!(matches!(queue.push(i), Pushed::Queued(_)));
        }
        queue.close();
        assert!(matches!(queue.push(99), Pushed::Closed(99)));
        assert_eq!(pop_all(&mut head, &queue), (0..40).collect::<Vec<_>>());
        assert!(matches!(head.pop(&queue), Pop::Empty { closed: true }));
        head.close_and_drain(&queue);
        assert!(matches!(head.pop(&queue), Pop::Empty { closed: true }));
        assert_eq!(head.len(&queue), 0);
    }

    struct Counted(Arc<AtomicUsize>, bool);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            if self.1 {
                panic!("a message's destructor panics");
            }
        }
    }

    #[test]
    fn draining_drops_every_message_once_even_if_one_destructor_panics() {
        let drops = Arc::new(AtomicUsize::new(0));
        let (queue, mut head) = MessageQueue::new();
        for i in 0..70 {
            assert!(matches!(
                queue.push(Counted(drops.clone(), i == 33)),
                Pushed::Queued(_)
            ));
        }
        let drained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            head.close_and_drain(&queue);
        }));
        assert!(
            drained.is_err(),
            "the destructor's panic reaches the caller"
        );
        assert_eq!(
            drops.load(Ordering::SeqCst),
            70,
            "the rest were dropped too"
        );
        assert!(head.block.is_null(), "and the blocks freed");
    }

    #[test]
    fn senders_on_threads_lose_nothing_and_keep_their_order() {
        const SENDERS: usize = 4;
        const EACH: usize = 5_000;
        let (queue, mut head) = MessageQueue::new();
        let queue = Arc::new(queue);
        let threads: Vec<_> = (0..SENDERS)
            .map(|s| {
                let queue = queue.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        assert!(matches!(queue.push((s, i)), Pushed::Queued(_)));
                    }
                })
            })
            .collect();
        let mut next = [0; SENDERS];
        let mut received = 0;
        while received < SENDERS * EACH {
            match head.pop(&queue) {
                Pop::Value((s, i)) => {
                    assert_eq!(i, next[s], "sender {s}'s messages out of order");
                    next[s] += 1;
                    received += 1;
                }
                Pop::Claimed | Pop::Empty { .. } => std::hint::spin_loop(),
            }
        }
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(head.len(&queue), 0);
        head.close_and_drain(&queue);
    }
}
