//! A hierarchical timing wheel over integer millisecond ticks.
//!
//! Six levels of 64 slots each. A slot of level `l` spans `64^l` ticks, so level 0 holds the
//! timers of the current 64 ms block one millisecond per slot, level 1 the rest of the current
//! 4 096 ms block in 64 ms slots, and so on up to level 5 whose slots span `2^30` ms (~12 days)
//! and whose whole ring spans `2^36` ms (~2.2 years), an "epoch". Deadlines in a later epoch than
//! the current time (years away, or the clamped "never" deadlines of `Duration::MAX` sleeps) sit
//! in an unordered overflow list that is re-sorted into the wheel when time enters a new epoch.
//!
//! Placement rule: a timer with deadline `d`, at current time `e < d`, lives at the level of the
//! most significant 6-bit digit in which `d` and `e` differ, in the slot given by `d`'s digit at
//! that level. Consequences used below:
//!
//! * every occupied slot of level `l` has a digit strictly greater than `e`'s digit at `l` (the
//!   higher digits are equal and `d > e`), so the next slot of a level is simply its lowest
//!   occupied bit, found with one `trailing_zeros` on the level's occupancy bitmap;
//! * every timer at level `l` expires after every timer at a lower level, so the first non-empty
//!   level holds the next expiry.
//!
//! When time reaches the start of an occupied slot of level `l > 0`, the slot is emptied and its
//! timers are placed again ("cascade"): each moves to a lower level, or fires if its deadline is
//! now. Timers are kept in intrusive doubly-linked lists threaded through a `Slab`, so insert and
//! cancel are O(1); a cancel needs the key only (a generation guards against slot reuse).

use slab::Slab;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Bits of time covered by the whole wheel: deadlines differing from the current time above
/// these bits go to the overflow list.
const WHEEL_BITS: u32 = SLOT_BITS * LEVELS as u32;
const NIL: usize = usize::MAX;

/// Identifies one timer in a [`Wheel`]; stale keys (fired or cancelled timers) are recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey {
    index: usize,
    generation: u64,
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
    entries: Slab<Entry<T>>,
    slots: [[List; SLOTS]; LEVELS],
    /// Bit `s` of `occupied[l]` is set iff `slots[l][s]` is non-empty.
    occupied: [u64; LEVELS],
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
        Wheel {
            elapsed: 0,
            entries: Slab::new(),
            slots: [[List::EMPTY; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            overflow: List::EMPTY,
            overflow_min: u64::MAX,
            next_generation: 0,
        }
    }

    /// The wheel's current time: every deadline at or before it has fired.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of pending timers.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
        Ok(TimerKey { index, generation })
    }

    /// Cancels a timer; `None` if it already fired or was cancelled.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        if !self.contains(key) {
            return None;
        }
        self.unlink(key.index);
        Some(self.entries.remove(key.index).value)
    }

    /// Is this timer still pending?
    pub(crate) fn contains(&self, key: TimerKey) -> bool {
        self.entries
            .get(key.index)
            .is_some_and(|e| e.generation == key.generation)
    }

    /// The payload of a pending timer.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        match self.entries.get_mut(key.index) {
            Some(e) if e.generation == key.generation => Some(&mut e.value),
            _ => None,
        }
    }

    fn place_for(&self, deadline: u64) -> Place {
        debug_assert!(deadline > self.elapsed);
        let diff = deadline ^ self.elapsed;
        if diff >> WHEEL_BITS != 0 {
            return Place::Overflow;
        }
        // Highest differing bit, rounded down to its level (`| (SLOTS - 1)` keeps level 0 for
        // differences in the lowest digit).
        let significant = 63 - (diff | (SLOTS as u64 - 1)).leading_zeros();
        let level = (significant / SLOT_BITS) as usize;
        let slot = ((deadline >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as usize;
        Place::Slot { level, slot }
    }

    fn list_mut(&mut self, place: Place) -> &mut List {
        match place {
            Place::Slot { level, slot } => &mut self.slots[level][slot],
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
            Place::Slot { level, slot } => self.occupied[level] |= 1 << slot,
            Place::Overflow => {
                self.overflow_min = self.overflow_min.min(self.entries[index].deadline)
            }
        }
    }

    /// Removes the entry from its list (the entry itself stays in the slab).
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
                if self.slots[level][slot].is_empty() {
                    self.occupied[level] &= !(1 << slot);
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
            let bits = self.occupied[level];
            if bits != 0 {
                let slot = bits.trailing_zeros() as usize;
                let level_shift = SLOT_BITS * level as u32;
                let block_mask = (1u64 << (level_shift + SLOT_BITS)) - 1;
                let time = (self.elapsed & !block_mask) + ((slot as u64) << level_shift);
                debug_assert!(time > self.elapsed, "occupied slot behind the wheel's time");
                return Some((time, Place::Slot { level, slot }));
            }
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

    /// Advances the wheel's time to `now`, calling `fire(key, deadline, value)` for every timer
    /// whose deadline is at or before `now`, in non-decreasing deadline order.
    pub(crate) fn advance(&mut self, now: u64, mut fire: impl FnMut(TimerKey, u64, T)) {
        while let Some((time, place)) = self.next_expiration_place() {
            if time > now {
                break;
            }
            self.elapsed = time;
            let list = std::mem::replace(self.list_mut(place), List::EMPTY);
            match place {
                Place::Slot { level, slot } => self.occupied[level] &= !(1 << slot),
                // Recomputed by `link` from the entries that stay in the overflow list.
                Place::Overflow => self.overflow_min = u64::MAX,
            }
            let mut cursor = list.head;
            while cursor != NIL {
                let next = self.entries[cursor].next;
                if self.entries[cursor].deadline <= self.elapsed {
                    let entry = self.entries.remove(cursor);
                    let key = TimerKey {
                        index: cursor,
                        generation: entry.generation,
                    };
                    fire(key, entry.deadline, entry.value);
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
    use std::collections::BTreeMap;

    fn drain(wheel: &mut Wheel<u32>, now: u64) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        wheel.advance(now, |_, d, v| out.push((d, v)));
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
        assert_eq!(w.next_expiration(), Some(64));
        assert_eq!(w.remove(b), Some(2));
        assert_eq!(w.next_expiration(), None);
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
    }

    fn delta() -> impl Strategy<Value = u64> {
        prop_oneof![
            4 => 0u64..80,
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
            }
        }
    }
}
