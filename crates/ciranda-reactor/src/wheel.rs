//! A hierarchical timing wheel over integer ticks (the reactor's are 62.5 µs, see `clock`).
//!
//! Six levels: level 0 has 1 024 slots of one tick, so it holds the timers of the current
//! 1 024-tick block (64 ms), and levels 1 to 5 have 64 slots each, a slot of level `l` spanning
//! `2^(10 + 6(l - 1))` ticks: level 1 holds the rest of the current `2^16`-tick block (~4 s) in
//! 1 024-tick slots, and so on up to level 5 whose slots span `2^34` ticks (~12 days) and whose
//! whole ring spans `2^40` ticks (~2 years), an "epoch". Level 0 is wider than the others
//! because a timer whose deadline lies past the end of the current level-0 block is placed
//! twice (it cascades): with a 16 ms level 0, a third of the 0–10 ms sleeps of a busy server
//! did, with 64 ms about one in twelve.
//! Deadlines in a later epoch than the current time (months away, or the clamped "never"
//! deadlines of `Duration::MAX` sleeps) sit in an unordered overflow list that is re-sorted into
//! the wheel when time enters a new epoch.
//!
//! Placement rule: a timer with deadline `d`, at current time `e < d`, lives at the level of the
//! most significant digit (8 bits for level 0, 6 above) in which `d` and `e` differ, in the slot given by `d`'s digit at
//! that level. Consequences used below:
//!
//! * every occupied slot of level `l` has a digit strictly greater than `e`'s digit at `l` (the
//!   higher digits are equal and `d > e`), so the next slot of a level is simply its lowest
//!   occupied bit, found with `trailing_zeros` on the level's occupancy bitmap (four words for
//!   level 0, one above);
//! * every timer at level `l` expires after every timer at a lower level, so the first non-empty
//!   level holds the next expiry.
//!
//! When time reaches the start of an occupied slot of level `l > 0`, the slot is emptied and its
//! timers are placed again ("cascade"): each moves to a lower level, or fires if its deadline is
//! now. Timers are kept in intrusive doubly-linked lists threaded through a chunked slab
//! ([`Entries`]), so insert and cancel are O(1); a cancel needs the key only (a generation guards
//! against slot reuse).
//!
//! # Memory after a burst
//!
//! A plain `Slab` never shrinks: a million timers armed at once would keep ~72 MB (72 bytes an
//! entry) for the wheel's whole life. The entries cannot move so that it can shrink, because
//! an entry's index is the [`TimerKey`] held by a `Sleep` future, out of the wheel's reach:
//! `Slab::compact` would need every key to go through an indirection (one more allocation or
//! table lookup per timer, on the hot path). The options weighed:
//!
//! * dropping the slab when it becomes empty costs nothing, but a single pending timer anywhere
//!   keeps the whole peak, and a server nearly always has one (idle timeouts, intervals);
//! * trimming the vacant tail (`Slab::shrink_to_fit`) stops at the highest live entry, which
//!   after a burst can be anywhere, and the slab's LIFO free list hands the freed high slots
//!   straight to new timers;
//! * a chunked slab, chosen: keys `c * CHUNK ..` belong to chunk `c`, its own small `Slab`, and a
//!   chunk is freed when its last entry goes. Keys never move. A new timer takes the lowest
//!   chunk with room, so a steady load packs into the low chunks while the chunks of a burst
//!   drain and are freed; a timer that outlives the burst pins its own chunk (72 KB), not the
//!   peak.
//!
//! The price: every entry access indexes twice (chunk, then entry), and insert finds the lowest
//! chunk with room in a bitmap (one bit a chunk), normally with one `trailing_zeros` on the word
//! a hint points to; the hint moves forward only when that word fills up, a scan of one word
//! per 64 chunks (16 words for a million timers). Chunk buffers are allocated and freed on a
//! cold path: chunk 0 is never freed (a wheel that never holds more than `CHUNK` timers behaves
//! exactly like a plain slab), a chunk is allocated only once every lower chunk is full, and the
//! buffer of one emptied chunk is kept as a spare for the next chunk that needs one, so a load
//! hovering at a chunk boundary does not allocate and free a buffer per timer. After a burst the
//! wheel keeps chunk 0, the spare and the chunks its pending timers sit in.

use slab::Slab;
use std::num::NonZeroU64;
use std::ops::{Index, IndexMut};

const LEVELS: usize = 6;
/// Level 0 has 1 024 one-tick slots (64 ms at the reactor's tick), so that the common short
/// sleeps (a few ms) rarely cross into level 1 and need a cascade; the upper levels have 64.
const L0_BITS: u32 = 10;
const L0_SLOTS: usize = 1 << L0_BITS;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Slots of all levels, numbered level 0 first; each upper level fills one occupancy word.
const ALL_SLOTS: usize = L0_SLOTS + SLOTS * (LEVELS - 1);
const WORDS: usize = ALL_SLOTS / 64;
/// Bits of time covered by the whole wheel: deadlines differing from the current time above
/// these bits go to the overflow list.
const WHEEL_BITS: u32 = L0_BITS + SLOT_BITS * (LEVELS as u32 - 1);

/// The lowest bit of time a level's digit covers.
const fn level_shift(level: usize) -> u32 {
    if level == 0 {
        0
    } else {
        L0_BITS + SLOT_BITS * (level as u32 - 1)
    }
}

/// Width of a level's digit.
const fn level_bits(level: usize) -> u32 {
    if level == 0 { L0_BITS } else { SLOT_BITS }
}

/// A slot's index among all levels' slots (and its bit in the occupancy words).
const fn flat(level: usize, slot: usize) -> usize {
    if level == 0 {
        slot
    } else {
        L0_SLOTS + SLOTS * (level - 1) + slot
    }
}

/// The occupancy words of a level.
const fn level_words(level: usize) -> std::ops::Range<usize> {
    if level == 0 {
        0..L0_SLOTS / 64
    } else {
        let w = flat(level, 0) / 64;
        w..w + 1
    }
}
const NIL: usize = usize::MAX;

/// log2 of the entries per chunk of [`Entries`]: 1 024 (72 KB of timers). Tiny under `cfg(test)`,
/// so that the unit and property tests cross chunk boundaries all the time.
const CHUNK_BITS: u32 = if cfg!(test) { 2 } else { 10 };
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: usize = CHUNK - 1;

/// A slab cut into chunks of `CHUNK` consecutive keys, which gives the memory of a chunk back
/// when the chunk empties (see the module documentation for why). Key `k` lives at offset
/// `k % CHUNK` of chunk `k / CHUNK`; keys are stable while their entry lives.
#[derive(Debug)]
struct Entries<E> {
    /// Chunk `c` holds keys `c * CHUNK .. (c + 1) * CHUNK`. A chunk `c > 0` either has exactly
    /// `CHUNK` capacity or none ("released": empty and unallocated); chunk 0 grows like a plain
    /// slab and is never released. The last chunk is never a released one.
    chunks: Vec<Slab<E>>,
    /// Bit `c % 64` of word `c / 64` is set iff chunk `c` has room (fewer than `CHUNK` entries;
    /// a released chunk has room).
    room: Vec<u64>,
    /// Every word of `room` before this index is zero.
    room_from: usize,
    /// The buffer of one released chunk (empty, `CHUNK` capacity), or an unallocated slab.
    spare: Slab<E>,
    len: usize,
}

impl<E> Entries<E> {
    const fn new() -> Self {
        Entries {
            chunks: Vec::new(),
            room: Vec::new(),
            room_from: 0,
            spare: Slab::new(),
            len: 0,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, key: usize) -> Option<&E> {
        self.chunks.get(key >> CHUNK_BITS)?.get(key & CHUNK_MASK)
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut E> {
        self.chunks
            .get_mut(key >> CHUNK_BITS)?
            .get_mut(key & CHUNK_MASK)
    }

    /// Stores `value` in the lowest chunk with room; returns its key.
    fn insert(&mut self, value: E) -> usize {
        let c = match self.room.get(self.room_from) {
            Some(&bits) if bits != 0 => self.room_from * 64 + bits.trailing_zeros() as usize,
            _ => self.find_room(),
        };
        if c != 0 && self.chunks[c].capacity() == 0 {
            self.allocate(c);
        }
        let chunk = &mut self.chunks[c];
        let offset = chunk.insert(value);
        if chunk.len() == CHUNK {
            self.room[c / 64] &= !(1 << (c % 64));
        }
        self.len += 1;
        (c << CHUNK_BITS) | offset
    }

    /// Removes and returns the entry at `key`.
    ///
    /// # Panics
    /// If `key` holds no entry.
    fn remove(&mut self, key: usize) -> E {
        let c = key >> CHUNK_BITS;
        let chunk = &mut self.chunks[c];
        let was_full = chunk.len() == CHUNK;
        let value = chunk.remove(key & CHUNK_MASK);
        let now_empty = chunk.is_empty();
        self.len -= 1;
        if was_full {
            self.room[c / 64] |= 1 << (c % 64);
            self.room_from = self.room_from.min(c / 64);
        }
        if now_empty && c != 0 {
            self.release(c);
        }
        value
    }

    /// The lowest chunk with room past the words the hint skips: moves the hint to it, or adds
    /// a chunk (not allocated yet) if every chunk is full.
    #[cold]
    fn find_room(&mut self) -> usize {
        while let Some(&bits) = self.room.get(self.room_from) {
            if bits != 0 {
                return self.room_from * 64 + bits.trailing_zeros() as usize;
            }
            self.room_from += 1;
        }
        let c = self.chunks.len();
        self.chunks.push(Slab::new());
        if c % 64 == 0 {
            self.room.push(0);
        }
        self.room[c / 64] |= 1 << (c % 64);
        self.room_from = c / 64;
        c
    }

    /// Gives chunk `c > 0` its buffer: the spare if there is one, else a new one.
    #[cold]
    fn allocate(&mut self, c: usize) {
        self.chunks[c] = if self.spare.capacity() != 0 {
            std::mem::take(&mut self.spare)
        } else {
            Slab::with_capacity(CHUNK)
        };
    }

    /// Chunk `c > 0` became empty: its buffer becomes the spare, or is freed if there is one
    /// already; released chunks at the end leave the directory.
    #[cold]
    fn release(&mut self, c: usize) {
        let buffer = std::mem::take(&mut self.chunks[c]);
        if self.spare.capacity() == 0 {
            self.spare = buffer;
        }
        while self.chunks.len() > 1 && self.chunks.last().is_some_and(|s| s.capacity() == 0) {
            self.chunks.pop();
            let last = self.chunks.len();
            self.room[last / 64] &= !(1 << (last % 64));
        }
        let words = self.chunks.len().div_ceil(64);
        self.room.truncate(words);
        self.room_from = self.room_from.min(words);
        // The directory itself (a few dozen bytes a chunk) shrinks with a margin, amortised.
        if self.chunks.capacity() > 4 * self.chunks.len().max(16) {
            self.chunks.shrink_to(2 * self.chunks.len());
            self.room.shrink_to(2 * words);
        }
    }

    /// Entries the allocated chunks and the spare have room for.
    #[cfg(all(test, not(loom)))]
    fn capacity(&self) -> usize {
        self.chunks.iter().map(Slab::capacity).sum::<usize>() + self.spare.capacity()
    }

    /// Checks every invariant of the structure (tests).
    #[cfg(all(test, not(loom)))]
    fn check(&self) {
        let mut len = 0;
        for (c, chunk) in self.chunks.iter().enumerate() {
            len += chunk.len();
            assert!(chunk.len() <= CHUNK);
            assert!(
                chunk.capacity() <= CHUNK,
                "chunk {c} has capacity {}",
                chunk.capacity()
            );
            if c > 0 {
                assert!(
                    chunk.capacity() == CHUNK || (chunk.capacity() == 0 && chunk.is_empty()),
                    "chunk {c}: {} entries, capacity {}",
                    chunk.len(),
                    chunk.capacity()
                );
                assert!(
                    !chunk.is_empty() || chunk.capacity() == 0,
                    "empty chunk {c} kept"
                );
            }
            let bit = self.room[c / 64] >> (c % 64) & 1 == 1;
            assert_eq!(bit, chunk.len() < CHUNK, "room bit of chunk {c}");
        }
        if self.chunks.len() > 1 {
            assert_ne!(
                self.chunks.last().map(Slab::capacity),
                Some(0),
                "released tail"
            );
        }
        assert_eq!(len, self.len);
        assert_eq!(self.room.len(), self.chunks.len().div_ceil(64));
        let used = self.chunks.len() % 64;
        if let (Some(&last), true) = (self.room.last(), used != 0) {
            assert_eq!(last >> used, 0, "room bits past the last chunk");
        }
        assert!(self.room_from <= self.room.len());
        assert!(
            self.room[..self.room_from].iter().all(|&w| w == 0),
            "stale hint"
        );
        assert!(self.spare.is_empty());
        assert!(self.spare.capacity() == 0 || self.spare.capacity() == CHUNK);
    }
}

impl<E> Index<usize> for Entries<E> {
    type Output = E;

    fn index(&self, key: usize) -> &E {
        &self.chunks[key >> CHUNK_BITS][key & CHUNK_MASK]
    }
}

impl<E> IndexMut<usize> for Entries<E> {
    fn index_mut(&mut self, key: usize) -> &mut E {
        &mut self.chunks[key >> CHUNK_BITS][key & CHUNK_MASK]
    }
}

/// Identifies one timer in a [`Wheel`]; stale keys (fired or cancelled timers) are recognised.
/// A key also names its wheel's shard (see [`Wheel::for_shard`]), so an owner of several wheels
/// finds the one to cancel in, and carries its timer's deadline tick, so an owner learns
/// whether the timer fired by comparing it with the wheel's published time. The fields are
/// packed so that `Option<TimerKey>` stays three words in every `Sleep` (the deadline is never
/// tick 0: a timer is only inserted later than the wheel's time, which starts at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    index: u32,
    shard: u32,
    generation: u64,
    deadline: NonZeroU64,
}

impl TimerKey {
    /// The shard of the wheel that handed the key out.
    pub(crate) fn shard(self) -> usize {
        self.shard as usize
    }

    /// The tick the timer is due at.
    pub(crate) fn deadline(self) -> u64 {
        self.deadline.get()
    }
}

/// A pending timer's deadline as a key stores it: later than the wheel's time, so not 0.
fn deadline_of(deadline: u64) -> NonZeroU64 {
    NonZeroU64::new(deadline).expect("a pending timer is due after tick 0")
}

/// An entry's index as a key stores it.
fn index_of(index: usize) -> u32 {
    u32::try_from(index).expect("ciranda: more than 4 294 967 295 timers pending in one wheel")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Slot { level: usize, slot: usize },
    Overflow,
}

#[derive(Debug)]
struct Entry<T> {
    deadline: u64,
    generation: u64,
    prev: usize,
    next: usize,
    place: Place,
    value: T,
}

#[derive(Clone, Copy, Debug)]
struct List {
    head: usize,
    tail: usize,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };

    fn is_empty(&self) -> bool {
        self.head == NIL
    }
}

/// The timing wheel. `T` is the payload handed back when a timer fires (a `Waker` in the
/// reactor).
#[derive(Debug)]
pub(crate) struct Wheel<T> {
    /// Current time in ticks: every timer with a deadline at or before it has fired.
    elapsed: u64,
    /// Stamped into every key, see [`TimerKey::shard`].
    shard: u32,
    entries: Entries<Entry<T>>,
    /// Every level's slots, numbered by [`flat`].
    slots: [List; ALL_SLOTS],
    /// Bit `f % 64` of word `f / 64` is set iff `slots[f]` is non-empty.
    occupied: [u64; WORDS],
    overflow: List,
    /// A lower bound of the overflow deadlines (exact after each re-sort; a cancel can only
    /// make it stale downwards, which costs one early, empty visit).
    overflow_min: u64,
    next_generation: u64,
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Wheel<T> {
    /// An empty wheel at time 0.
    pub(crate) fn new() -> Self {
        Self::for_shard(0)
    }

    /// An empty wheel at time 0 whose keys name `shard`.
    pub(crate) fn for_shard(shard: u32) -> Self {
        Wheel {
            elapsed: 0,
            shard,
            entries: Entries::new(),
            slots: [List::EMPTY; ALL_SLOTS],
            occupied: [0; WORDS],
            overflow: List::EMPTY,
            overflow_min: u64::MAX,
            next_generation: 0,
        }
    }

    /// The wheel's current time: every deadline at or before it has fired.
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of pending timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// No pending timer?
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Adds a timer. A deadline that is not in the future (`deadline <= elapsed`) is refused
    /// and the value handed back: the caller treats the timer as fired.
    pub(crate) fn insert(&mut self, deadline: u64, value: T) -> Result<TimerKey, T> {
        if deadline <= self.elapsed {
            return Err(value);
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let index = self.entries.insert(Entry {
            deadline,
            generation,
            prev: NIL,
            next: NIL,
            place: Place::Overflow,
            value,
        });
        self.link(index);
        Ok(TimerKey {
            index: index_of(index),
            shard: self.shard,
            generation,
            deadline: deadline_of(deadline),
        })
    }

    /// Cancels a timer; `None` if it already fired or was cancelled.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.contains(key) {
            return None;
        }
        self.unlink(key.index as usize);
        Some(self.entries.remove(key.index as usize).value)
    }

    /// Moves a pending timer to `deadline`, keeping its entry and payload: `Some(Ok(key))`
    /// with its new key (the old one goes stale). A deadline that is not in the future removes
    /// the timer and hands the payload back (`Some(Err(value))`), as `insert` refuses one.
    /// `None` if the timer already fired or was cancelled.
    pub(crate) fn reschedule(
        &mut self,
        key: TimerKey,
        deadline: u64,
    ) -> Option<Result<TimerKey, T>> {
        if !self.contains(key) {
            return None;
        }
        if deadline <= self.elapsed {
            return self.remove(key).map(Err);
        }
        let index = key.index as usize;
        self.unlink(index);
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        {
            let entry = &mut self.entries[index];
            entry.deadline = deadline;
            entry.generation = generation;
        }
        self.link(index);
        Some(Ok(TimerKey {
            index: key.index,
            shard: self.shard,
            generation,
            deadline: deadline_of(deadline),
        }))
    }

    /// Removes every pending timer and returns their payloads (the reactor shutting down).
    /// The time and the key generations carry on, so every key handed out so far stays stale.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let fresh = Wheel {
            elapsed: self.elapsed,
            next_generation: self.next_generation,
            ..Wheel::for_shard(self.shard)
        };
        let old = std::mem::replace(self, fresh);
        let mut values = Vec::with_capacity(old.entries.len());
        for chunk in old.entries.chunks {
            values.extend(chunk.into_iter().map(|(_, entry)| entry.value));
        }
        values
    }

    /// The payloads of every pending timer, in no particular order.
    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.entries
            .chunks
            .iter_mut()
            .flat_map(|chunk| chunk.iter_mut().map(|(_, entry)| &mut entry.value))
    }

    /// Is this timer still pending?
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|e| key.shard == self.shard && e.generation == key.generation)
    }

    /// The payload of a pending timer.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index as usize) {
            Some(e) if key.shard == self.shard && e.generation == key.generation => {
                Some(&mut e.value)
            }
            _ => None,
        }
    }

    fn place_for(&self, deadline: u64) -> Place {
        debug_assert!(deadline > self.elapsed);
        let diff = deadline ^ self.elapsed;
        if diff >> WHEEL_BITS != 0 {
            return Place::Overflow;
        }
        // Highest differing bit, rounded down to its level (`| 1` keeps `leading_zeros` defined;
        // level 0 takes every difference in its own digit).
        let significant = 63 - (diff | 1).leading_zeros();
        let level = if significant < L0_BITS {
            0
        } else {
            1 + ((significant - L0_BITS) / SLOT_BITS) as usize
        };
        let digit_mask = (1u64 << level_bits(level)) - 1;
        let slot = ((deadline >> level_shift(level)) & digit_mask) as usize;
        Place::Slot { level, slot }
    }

    fn set_occupied(&mut self, flat: usize, occupied: bool) {
        let bit = 1u64 << (flat % 64);
        if occupied {
            self.occupied[flat / 64] |= bit;
        } else {
            self.occupied[flat / 64] &= !bit;
        }
    }

    fn list_mut(&mut self, place: Place) -> &mut List {
        match place {
            Place::Slot { level, slot } => &mut self.slots[flat(level, slot)],
            Place::Overflow => &mut self.overflow,
        }
    }

    /// Appends the entry to the list its deadline belongs to at the current time.
    fn link(&mut self, index: usize) {
        let place = self.place_for(self.entries[index].deadline);
        let list = *self.list_mut(place);
        {
            let entry = &mut self.entries[index];
            entry.place = place;
            entry.prev = list.tail;
            entry.next = NIL;
        }
        if list.tail == NIL {
            *self.list_mut(place) = List {
                head: index,
                tail: index,
            };
        } else {
            self.entries[list.tail].next = index;
            self.list_mut(place).tail = index;
        }
        match place {
            Place::Slot { level, slot } => self.set_occupied(flat(level, slot), true),
            Place::Overflow => {
                self.overflow_min = self.overflow_min.min(self.entries[index].deadline)
            }
        }
    }

    /// Removes the entry from its list (the entry itself stays in the slab).
    ///
    /// Always inlined: `remove` (every cancelled timer) kept it inline while it was its only
    /// caller, and `reschedule` must not cost `remove` a call.
    #[inline(always)]
    fn unlink(&mut self, index: usize) {
        let (prev, next, place) = {
            let e = &self.entries[index];
            (e.prev, e.next, e.place)
        };
        if prev == NIL {
            self.list_mut(place).head = next;
        } else {
            self.entries[prev].next = next;
        }
        if next == NIL {
            self.list_mut(place).tail = prev;
        } else {
            self.entries[next].prev = prev;
        }
        match place {
            Place::Slot { level, slot } => {
                if self.slots[flat(level, slot)].is_empty() {
                    self.set_occupied(flat(level, slot), false);
                }
            }
            Place::Overflow => {
                if self.overflow.is_empty() {
                    // A stale bound must not outlive the entries: a later insert would take it
                    // for its own epoch even after time moved past it.
                    self.overflow_min = u64::MAX;
                }
            }
        }
    }

    /// The next time at which the wheel has work: a deadline, or the start of a slot that must
    /// be cascaded (never later than the earliest pending deadline, always after `elapsed`).
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.next_expiration_place().map(|(time, _)| time)
    }

    fn next_expiration_place(&self) -> Option<(u64, Place)> {
        for level in 0..LEVELS {
            let words = level_words(level);
            let first = words.start;
            let Some((w, bits)) = words
                .map(|w| (w, self.occupied[w]))
                .find(|&(_, bits)| bits != 0)
            else {
                continue;
            };
            let slot = (w - first) * 64 + bits.trailing_zeros() as usize;
            let shift = level_shift(level);
            let block_mask = (1u64 << (shift + level_bits(level))) - 1;
            let time = (self.elapsed & !block_mask) + ((slot as u64) << shift);
            debug_assert!(time > self.elapsed, "occupied slot behind the wheel's time");
            return Some((time, Place::Slot { level, slot }));
        }
        if !self.overflow.is_empty() {
            // The start of the epoch of the earliest overflow deadline: time jumps there in one
            // step however far away it is (no walk through the empty epochs in between).
            let time = self.overflow_min & !((1u64 << WHEEL_BITS) - 1);
            debug_assert!(time > self.elapsed, "overflow entry in the current epoch");
            return Some((time, Place::Overflow));
        }
        None
    }

    /// Advances the wheel's time to `now`, calling `fire(key, value)` for every timer whose
    /// deadline (`key.deadline()`) is at or before `now`, in non-decreasing deadline order.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(TimerKey, T)) {
        while let Some((time, place)) = self.next_expiration_place() {
            if time > now {
                break;
            }
            self.elapsed = time;
            let list = std::mem::replace(self.list_mut(place), List::EMPTY);
            match place {
                Place::Slot { level, slot } => self.set_occupied(flat(level, slot), false),
                // Recomputed by `link` from the entries that stay in the overflow list.
                Place::Overflow => self.overflow_min = u64::MAX,
            }
            let mut cursor = list.head;
            while cursor != NIL {
                let next = self.entries[cursor].next;
                if self.entries[cursor].deadline <= self.elapsed {
                    let entry = self.entries.remove(cursor);
                    let key = TimerKey {
                        index: index_of(cursor),
                        shard: self.shard,
                        generation: entry.generation,
                        deadline: deadline_of(entry.deadline),
                    };
                    fire(key, entry.value);
                } else {
                    self.link(cursor);
                }
                cursor = next;
            }
        }
        if now > self.elapsed {
            self.elapsed = now;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    fn drain(wheel: &mut Wheel<u32>, now: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        wheel.advance(now, |key, v| out.push((key.deadline(), v)));
        out
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = Wheel::new();
        w.insert(5, 1).unwrap();
        w.insert(70, 2).unwrap();
        w.insert(5000, 3).unwrap();
        assert_eq!(w.next_expiration(), Some(5));
        assert!(drain(&mut w, 4).is_empty());
        assert_eq!(drain(&mut w, 5), vec![(5, 1)]);
        assert!(w.next_expiration().unwrap() <= 70);
        assert!(drain(&mut w, 69).is_empty());
        assert_eq!(drain(&mut w, 70), vec![(70, 2)]);
        assert!(drain(&mut w, 4999).is_empty());
        assert_eq!(drain(&mut w, 1 << 40), vec![(5000, 3)]);
        assert_eq!(w.len(), 0);
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn past_deadline_is_refused() {
        let mut w = Wheel::new();
        drain(&mut w, 10);
        assert_eq!(w.insert(10, 7), Err(7));
        assert_eq!(w.insert(3, 8), Err(8));
        assert!(w.insert(11, 9).is_ok());
    }

    #[test]
    fn cancel_and_stale_keys() {
        let mut w = Wheel::new();
        let a = w.insert(100, 1).unwrap();
        assert_eq!(w.remove(a), Some(1));
        assert_eq!(w.remove(a), None);
        let b = w.insert(100, 2).unwrap();
        // Same slab slot, new generation: the old key must not reach the new timer.
        assert!(!w.contains(a));
        assert!(w.contains(b));
        assert_eq!(w.next_expiration(), Some(100));
        assert_eq!(w.remove(b), Some(2));
        // Past level 0's block: the next expiration is the level-1 slot's start (a cascade).
        let c = w.insert(1_100, 3).unwrap();
        assert_eq!(w.next_expiration(), Some(1_024));
        assert_eq!(w.remove(c), Some(3));
        assert_eq!(w.next_expiration(), None);
    }

    #[test]
    fn keys_carry_their_deadline_and_stay_three_words_as_options() {
        let mut w = Wheel::new();
        assert_eq!(w.insert(1, 'a').unwrap().deadline(), 1);
        assert_eq!(w.insert(70_000, 'b').unwrap().deadline(), 70_000);
        let mut fired = Vec::new();
        w.advance(70_000, |key, v| fired.push((key.deadline(), v)));
        assert_eq!(fired, [(1, 'a'), (70_000, 'b')]);
        assert_eq!(std::mem::size_of::<Option<TimerKey>>(), 24);
    }

    #[test]
    fn take_all_empties_the_wheel_and_old_keys_stay_stale() {
        let mut w = Wheel::new();
        let keys: Vec<_> = (0..10u32)
            .map(|i| w.insert(5 + u64::from(i) * 1_000, i).unwrap())
            .collect();
        let mut values = w.take_all();
        values.sort_unstable();
        assert_eq!(values, (0..10).collect::<Vec<_>>());
        assert_eq!((w.len(), w.next_expiration()), (0, None));
        let fresh = w.insert(5, 99).unwrap();
        for k in keys {
            assert!(!w.contains(k));
            assert_eq!(w.remove(k), None);
        }
        assert_eq!(w.remove(fresh), Some(99));
    }

    #[test]
    fn far_deadlines_do_not_overflow() {
        let mut w = Wheel::new();
        w.insert(u64::MAX, 1).unwrap();
        w.insert(u64::MAX - 1, 2).unwrap();
        w.insert(1 << 50, 3).unwrap();
        assert_eq!(w.next_expiration(), Some(1 << 50));
        assert_eq!(drain(&mut w, 1 << 50), vec![(1 << 50, 3)]);
        assert_eq!(
            drain(&mut w, u64::MAX),
            vec![(u64::MAX - 1, 2), (u64::MAX, 1)]
        );
        assert_eq!(w.next_expiration(), None);
        assert_eq!(w.insert(u64::MAX, 4), Err(4));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Cancel(usize),
        Advance(u64),
        Reschedule(usize, u64),
    }

    fn delta() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..80,
            2 => 0u64..600,
            3 => 0u64..5_000,
            2 => 0u64..(1 << 20),
            1 => 0u64..(1 << 40),
            1 => Just(u64::MAX / 2),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => delta().prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Cancel),
            3 => delta().prop_map(Op::Advance),
            2 => (any::<usize>(), delta()).prop_map(|(i, d)| Op::Reschedule(i, d)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Every timer fires exactly once, never early, never late (at the first advance past its
        /// deadline), in deadline order; cancelled timers never fire.
        #[test]
        fn matches_btreemap_model(ops in proptest::collection::vec(op(), 1..200)) {
            let mut wheel: Wheel<u32> = Wheel::new();
            let mut model: BTreeMap<(u64, u32), TimerKey> = BTreeMap::new();
            let mut live: Vec<(u64, u32, TimerKey)> = Vec::new();
            let mut now = 0u64;
            let mut next_id = 0u32;
            for op in ops {
                match op {
                    Op::Insert(d) => {
                        let deadline = now.saturating_add(d);
                        let id = next_id;
                        next_id += 1;
                        match wheel.insert(deadline, id) {
                            Ok(key) => {
                                prop_assert!(deadline > now);
                                model.insert((deadline, id), key);
                                live.push((deadline, id, key));
                            }
                            Err(v) => {
                                prop_assert_eq!(v, id);
                                prop_assert!(deadline <= now);
                            }
                        }
                    }
                    Op::Cancel(i) => {
                        if !live.is_empty() {
                            let (deadline, id, key) = live.swap_remove(i % live.len());
                            prop_assert_eq!(wheel.remove(key), Some(id));
                            prop_assert!(model.remove(&(deadline, id)).is_some());
                            prop_assert_eq!(wheel.remove(key), None);
                        }
                    }
                    Op::Reschedule(i, d) => {
                        if !live.is_empty() {
                            // Earlier or later than before; `d == 0` is a deadline now, refused.
                            let deadline = now.saturating_add(d);
                            let (old, id, key) = live.swap_remove(i % live.len());
                            prop_assert!(model.remove(&(old, id)).is_some());
                            match wheel.reschedule(key, deadline) {
                                Some(Ok(new)) => {
                                    prop_assert!(deadline > now);
                                    prop_assert_eq!(new.deadline(), deadline);
                                    prop_assert!(!wheel.contains(key), "the old key is stale");
                                    model.insert((deadline, id), new);
                                    live.push((deadline, id, new));
                                }
                                Some(Err(v)) => {
                                    prop_assert_eq!(v, id);
                                    prop_assert!(deadline <= now);
                                    prop_assert!(!wheel.contains(key));
                                }
                                None => prop_assert!(false, "a live timer was not found"),
                            }
                            prop_assert!(wheel.reschedule(key, deadline.max(now + 1)).is_none());
                        }
                    }
                    Op::Advance(d) => {
                        if let (Some(next), Some(((first, _), _))) =
                            (wheel.next_expiration(), model.iter().next())
                        {
                            prop_assert!(next <= *first, "wheel would sleep past a deadline");
                            prop_assert!(next > now);
                        }
                        now = now.saturating_add(d);
                        let fired = drain(&mut wheel, now);
                        let expected: Vec<(u64, u32)> =
                            model.range(..=(now, u32::MAX)).map(|(k, _)| *k).collect();
                        for (deadline, _) in &fired {
                            prop_assert!(*deadline <= now, "fired early");
                        }
                        for pair in fired.windows(2) {
                            prop_assert!(pair[0].0 <= pair[1].0, "out of order: {:?}", pair);
                        }
                        let mut sorted = fired.clone();
                        sorted.sort();
                        prop_assert_eq!(sorted, expected.clone());
                        for k in expected {
                            model.remove(&k);
                        }
                        live.retain(|(d, id, _)| model.contains_key(&(*d, *id)));
                    }
                }
                prop_assert_eq!(wheel.len(), model.len());
                prop_assert_eq!(wheel.elapsed(), now);
                wheel.entries.check();
            }
            // Whatever the history, once every timer is gone so is the memory of its chunk.
            for (_, _, key) in live {
                wheel.remove(key);
            }
            drain(&mut wheel, u64::MAX);
            prop_assert_eq!(wheel.len(), 0);
            wheel.entries.check();
            prop_assert!(wheel.entries.capacity() <= 2 * CHUNK);
        }

        /// The chunked slab against a `HashMap`: keys are unique and stable, every value comes
        /// back once, and the structure's invariants hold after every step.
        #[test]
        fn entries_match_a_hashmap(
            ops in proptest::collection::vec((any::<bool>(), any::<usize>(), 1usize..40), 1..120)
        ) {
            let mut entries: Entries<u32> = Entries::new();
            let mut model: HashMap<usize, u32> = HashMap::new();
            let mut keys: Vec<usize> = Vec::new();
            let mut next = 0u32;
            // Runs of inserts and of removes, so the load swings over many chunks.
            for (grow, pick, run) in ops {
                for _ in 0..run {
                    if grow || keys.is_empty() {
                        let key = entries.insert(next);
                        prop_assert!(model.insert(key, next).is_none(), "key {} given twice", key);
                        keys.push(key);
                        next += 1;
                    } else {
                        let key = keys.swap_remove(pick % keys.len());
                        prop_assert_eq!(Some(entries.remove(key)), model.remove(&key));
                        prop_assert!(entries.get(key).is_none());
                    }
                }
                entries.check();
                prop_assert_eq!(entries.len(), model.len());
                for (&key, &value) in &model {
                    prop_assert_eq!(entries.get(key), Some(&value));
                    prop_assert_eq!(entries[key], value);
                }
                // Never more chunks allocated than the live keys pin, plus chunk 0 and the spare.
                let pinned: std::collections::HashSet<usize> =
                    model.keys().map(|k| k >> CHUNK_BITS).collect();
                prop_assert!(entries.capacity() <= (pinned.len() + 2) * CHUNK);
            }
            for key in keys {
                entries.remove(key);
            }
            entries.check();
            prop_assert_eq!(entries.chunks.len(), 1);
            prop_assert!(entries.capacity() <= 2 * CHUNK);
        }
    }

    /// Arms `n` timers at once at deadlines spread over 1..=1000 in a scrambled order.
    fn burst(wheel: &mut Wheel<u32>, n: u32) -> Vec<TimerKey> {
        (0..n)
            .map(|i| {
                let deadline = wheel.elapsed() + 1 + u64::from(i.wrapping_mul(7919) % 1000);
                wheel.insert(deadline, i).unwrap()
            })
            .collect()
    }

    #[test]
    fn a_fired_burst_gives_its_memory_back() {
        let mut w = Wheel::new();
        burst(&mut w, 20_000);
        assert!(w.entries.capacity() >= 20_000);
        let mut fired = 0;
        for t in 1..=1001 {
            fired += drain(&mut w, t).len();
            w.entries.check();
        }
        assert_eq!(fired, 20_000);
        assert_eq!(w.len(), 0);
        assert!(
            w.entries.capacity() <= 2 * CHUNK,
            "{}",
            w.entries.capacity()
        );
        assert_eq!(w.entries.chunks.len(), 1);
        // The wheel still works, with the same chunk.
        let k = w.insert(2000, 1).unwrap();
        assert_eq!(drain(&mut w, 2000), vec![(2000, 1)]);
        assert!(!w.contains(k));
    }

    #[test]
    fn a_cancelled_burst_gives_its_memory_back_and_old_keys_stay_stale() {
        let mut w = Wheel::new();
        let mut keys = burst(&mut w, 20_000);
        // Cancel in a scrambled order.
        let n = keys.len();
        for i in 0..n {
            keys.swap(i, (i * 7919) % n);
        }
        for (i, &k) in keys.iter().enumerate() {
            assert!(w.remove(k).is_some());
            if i % 1000 == 0 {
                w.entries.check();
            }
        }
        w.entries.check();
        assert!(
            w.entries.capacity() <= 2 * CHUNK,
            "{}",
            w.entries.capacity()
        );
        // New timers reuse the low keys; none of the old keys reaches them.
        burst(&mut w, 100);
        for k in keys {
            assert!(!w.contains(k));
            assert!(w.get_mut(k).is_none());
            assert_eq!(w.remove(k), None);
        }
        assert_eq!(w.len(), 100);
    }

    /// A steady load of timers re-armed as they fire (idle timeouts, intervals) does not pin the
    /// memory of a burst it outlives: re-armed timers pack into the lowest chunks.
    #[test]
    fn a_steady_load_does_not_pin_a_burst() {
        const STEADY: u32 = 300;
        // Ids of the steady timers; the burst's are 0..20 000.
        const FIRST: u32 = 1 << 30;
        let mut w = Wheel::new();
        let rearm = |w: &mut Wheel<u32>, id: u32| {
            let deadline = w.elapsed() + 5 + u64::from(id % 17);
            w.insert(deadline, id).unwrap();
        };
        for id in FIRST..FIRST + STEADY {
            rearm(&mut w, id);
        }
        burst(&mut w, 20_000);
        let peak = w.entries.capacity();
        for t in 1..=1100 {
            for (_, id) in drain(&mut w, t) {
                if id >= FIRST {
                    rearm(&mut w, id);
                }
            }
        }
        w.entries.check();
        assert_eq!(w.len(), STEADY as usize);
        let kept = w.entries.capacity();
        assert!(
            kept <= STEADY as usize + 3 * CHUNK,
            "{STEADY} steady timers keep {kept} entries of a {peak}-entry peak"
        );
    }
}
