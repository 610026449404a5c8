//! The reactor's timers, sharded: one wheel and one lock per shard (per worker, in the
//! runtime), so that workers arming and cancelling timers at the same time do not meet on a
//! lock.
//!
//! A timer lives in the shard of the thread that armed it (its key names the shard, so a
//! cancel from any thread finds it). Whoever turns the reactor fires every shard and bounds
//! its wait by the earliest deadline of all of them; two atomics per shard and one for the
//! reactor let it do that without taking the lock of a shard with nothing due:
//!
//! * `next_hint`, per shard: a lower bound of the wheel's next expiration (`u64::MAX`: empty).
//!   An insert lowers it (`fetch_min`) under the shard's lock; a firing, or a turn about to
//!   wait, recomputes it exactly under the same lock. A cancel leaves it alone, so it may be
//!   stale downwards, which costs one early look at the shard and never a late timer.
//! * `fired_through`, per shard: the wheel's time after its last firing, so a woken `Sleep`
//!   learns that it fired without the lock (see `Reactor::poll_timer`). A turn also advances
//!   a shard whose time lags `LAG_TICKS` behind, even with nothing due: a wheel places a
//!   timer by its distance from the wheel's time, so in a wheel left behind a short timer
//!   lands on a coarse level and pays cascades. An empty wheel catches up at its next insert.
//! * `wait_bound`, per reactor: while a thread waits in the poller, the tick its wait ends at
//!   (`UNBOUNDED`: no timer bounds it; `NOT_WAITING`: nobody waits, or the wait does not
//!   block). A timer inserted before it must notify the poller.
//!
//! The wait and an insert race like this:
//!
//! | the turn about to wait                          | an insert at tick `t` into shard `s`   |
//! |-------------------------------------------------|----------------------------------------|
//! | 1. `wait_bound = UNBOUNDED`                     | a. under `s`'s lock: insert, then      |
//! | 2. each shard: read `next_hint` with a          |    `next_hint.fetch_min(t)` (`AcqRel`) |
//! |    read-modify-write (`AcqRel`); if finite,     | b. read `wait_bound`; notify if        |
//! |    lock the shard and read its wheel            |    `t < bound`                         |
//! | 3. `wait_bound = min` of step 2                 |                                        |
//!
//! Both sides touch `s`'s hint with a read-modify-write, so one reads the other's. If a. reads
//! step 2's (step 2 missed the timer), it synchronises with the turn: step 1 happens before b.,
//! so b. reads `UNBOUNDED` or step 3's bound, and notifies whenever the wait ends after `t`.
//! If step 2 reads a.'s, the turn sees `t`. (A plain load in step 2 would need `SeqCst` on
//! both sides, the store-buffering pattern; loom treats `SeqCst` as acquire/release and
//! reports that version as a missed notification.) The loom model at the end of this file
//! checks the race.

use crate::loom::{AtomicU64, Mutex, MutexGuard};
use crate::wheel::{TimerKey, Wheel};
use std::cell::Cell;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::Waker;

/// `wait_bound` when no thread waits in the poller: no insert notifies.
const NOT_WAITING: u64 = 0;
/// `wait_bound` when a thread waits with no timer bounding its wait: every insert notifies.
const UNBOUNDED: u64 = u64::MAX;
/// `next_hint` of an empty shard.
const EMPTY: u64 = u64::MAX;
/// The latest tick a timer is armed at, one before [`EMPTY`] so that a shard holding a timer
/// never looks empty. Later deadlines (past about 36.5 million years of clock time, such as
/// `Duration::from_millis(u64::MAX)`, whose ticks saturate) are "never", as the clamped
/// deadlines of `Duration::MAX` sleeps are: they fire when the clock reaches this tick.
const LAST_TICK: u64 = EMPTY - 1;
/// How far (in ticks, 4 ms) a shard's time may lag the clock before a turn advances it.
const LAG_TICKS: u64 = 64;

/// Which shard a thread's timers go to: `Some(worker index)` on a runtime's worker.
pub(crate) type ShardOfThread = Box<dyn Fn() -> Option<usize> + Send + Sync>;

/// Every shard of one reactor, and the bound of the current poller wait.
pub(crate) struct TimerShards {
    shards: Box<[Shard]>,
    wait_bound: AtomicU64,
    shard_of_thread: Option<ShardOfThread>,
}

/// One wheel and what lets a turn skip it. Aligned to keep two shards' hot atomics and locks
/// off one cache line (128: adjacent-line prefetching pairs lines on x86).
#[repr(align(128))]
pub(crate) struct Shard {
    timers: Mutex<Timers>,
    /// The wheel's time, published after each firing: a timer of this shard whose tick is at
    /// or before it has fired, so a woken `Sleep` polled again knows it without the lock.
    fired_through: AtomicU64,
    next_hint: AtomicU64,
}

/// What a shard's lock guards.
pub(crate) struct Timers {
    pub(crate) wheel: Wheel<Waker>,
    /// Set when the reactor's last handle went: the wheel was emptied and timers fail.
    pub(crate) shut_down: bool,
}

thread_local! {
    /// The shard a thread without a worker index uses, assigned round-robin on first use.
    static THREAD_SEED: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Hands out [`THREAD_SEED`]s (a plain std atomic: a counter no model needs to see).
static NEXT_THREAD_SEED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl TimerShards {
    /// `count` shards (at least one); `shard_of_thread` picks a thread's shard (modulo
    /// `count`) where it knows one, other threads are spread round-robin.
    pub(crate) fn new(count: usize, shard_of_thread: Option<ShardOfThread>) -> TimerShards {
        let count = count.clamp(1, u32::MAX as usize);
        TimerShards {
            shards: (0..count)
                .map(|i| Shard {
                    timers: Mutex::new(Timers {
                        wheel: Wheel::for_shard(i as u32),
                        shut_down: false,
                    }),
                    fired_through: AtomicU64::new(0),
                    next_hint: AtomicU64::new(EMPTY),
                })
                .collect(),
            wait_bound: AtomicU64::new(NOT_WAITING),
            shard_of_thread,
        }
    }

    /// Every shard, in index order (the order to lock several in).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Shard> {
        self.shards.iter()
    }

    /// The shard that handed out `key`.
    pub(crate) fn of_key(&self, key: TimerKey) -> &Shard {
        &self.shards[key.shard()]
    }

    /// The shard this thread arms timers in.
    pub(crate) fn for_this_thread(&self) -> &Shard {
        let n = self.shards.len();
        if n == 1 {
            return &self.shards[0];
        }
        let index = self
            .shard_of_thread
            .as_ref()
            .and_then(|f| f())
            .unwrap_or_else(thread_seed);
        &self.shards[index % n]
    }

    /// Adds a timer at `tick` (at most [`LAST_TICK`]) under `shard`'s lock (`timers` is its
    /// guard; `now_tick` the clock's tick, before `tick`). `Ok((key, notify))`:
    /// `notify` says that a thread waits in the poller past `tick` and must be woken to
    /// shorten its wait. `Err(waker)`: the shard's wheel already passed `tick` (the clock
    /// passed the deadline).
    pub(crate) fn insert(
        &self,
        shard: &Shard,
        timers: &mut Timers,
        now_tick: u64,
        tick: u64,
        waker: Waker,
    ) -> Result<(TimerKey, bool), Waker> {
        // At `EMPTY` the hint below would not move: a turn would skip the shard and wait
        // without a bound, for ever on a paused clock.
        let tick = tick.min(LAST_TICK);
        if timers.wheel.is_empty() && !timers.shut_down {
            // Nothing to fire: bring the wheel's time up to the clock so that the timer is
            // placed by its real distance (see `LAG_TICKS`).
            shard.fire_due(timers, now_tick, &mut Vec::new());
        }
        let key = timers.wheel.insert(tick, waker)?;
        shard.next_hint.fetch_min(tick, AcqRel);
        let notify = tick < self.wait_bound.load(Acquire);
        Ok((key, notify))
    }

    /// Moves the pending timer `key` of `shard` (`timers` is its guard) to `tick` (at most
    /// [`LAST_TICK`]), keeping its waker: `Some(Ok((key, notify)))` with its new key and
    /// `notify` as [`insert`](Self::insert) says; `Some(Err(waker))` when the wheel already
    /// passed `tick` (the timer is removed); `None` when it fired or was cancelled. The entry
    /// stays where it is in the slab, so this does not share `insert`'s code (which the poll
    /// that arms a timer inlines).
    pub(crate) fn reschedule(
        &self,
        shard: &Shard,
        timers: &mut Timers,
        key: TimerKey,
        tick: u64,
    ) -> Option<Result<(TimerKey, bool), Waker>> {
        let tick = tick.min(LAST_TICK);
        // The wheel holds this timer, so it is not empty and needs no catching up (a turn
        // advances a lagging shard).
        let key = match timers.wheel.reschedule(key, tick)? {
            Ok(key) => key,
            Err(waker) => return Some(Err(waker)),
        };
        shard.next_hint.fetch_min(tick, AcqRel);
        let notify = tick < self.wait_bound.load(Acquire);
        Some(Ok((key, notify)))
    }

    /// Fires, in every shard, the timers due at `now_tick` into `out`, skipping without its
    /// lock a shard whose hint says nothing is due and whose time does not lag.
    pub(crate) fn fire_due(&self, now_tick: u64, out: &mut Vec<Waker>) {
        for shard in self.iter() {
            let lags = now_tick.saturating_sub(shard.fired_through.load(Relaxed)) > LAG_TICKS;
            if lags || shard.next_hint.load(Acquire) <= now_tick {
                shard.fire_due(&mut shard.lock(), now_tick, out);
            }
        }
    }

    /// Fires every shard at `now_tick`, whatever its hint says (a paused clock moved by hand).
    pub(crate) fn fire_all(&self, now_tick: u64, out: &mut Vec<Waker>) {
        for shard in self.iter() {
            shard.fire_due(&mut shard.lock(), now_tick, out);
        }
    }

    /// A thread is about to wait in the poller: from now on every insert notifies it, until
    /// [`bound_wait`](Self::bound_wait). Returns the earliest expiration of all shards
    /// (exact: each shard that may hold a timer is looked at under its lock).
    pub(crate) fn begin_wait(&self) -> Option<u64> {
        self.wait_bound.store(UNBOUNDED, Release);
        self.next_expiration()
    }

    /// The waiting thread's wait ends at `tick` (`None`: no timer bounds it).
    pub(crate) fn bound_wait(&self, tick: Option<u64>) {
        self.wait_bound.store(tick.unwrap_or(UNBOUNDED), Release);
    }

    /// The wait is over: inserts no longer notify.
    pub(crate) fn end_wait(&self) {
        self.wait_bound.store(NOT_WAITING, Release);
    }

    /// The earliest expiration of all shards, refreshing their hints; `None` if none holds a
    /// timer.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        let mut earliest = None::<u64>;
        for shard in self.iter() {
            // A read-modify-write that changes nothing: see the table at the top.
            if shard.next_hint.fetch_min(EMPTY, AcqRel) == EMPTY {
                continue;
            }
            let timers = shard.lock();
            let next = timers.wheel.next_expiration();
            shard.next_hint.store(next.unwrap_or(EMPTY), Release);
            if let Some(next) = next {
                earliest = Some(earliest.map_or(next, |e| e.min(next)));
            }
        }
        earliest
    }

    /// Locks every shard, in index order, for a paused clock's jump.
    pub(crate) fn lock_all(&self) -> AllShards<'_> {
        AllShards {
            guards: self.iter().map(|shard| (shard, shard.lock())).collect(),
        }
    }

    /// Pending timers in all shards.
    pub(crate) fn pending(&self) -> usize {
        self.iter().map(|shard| shard.lock().wheel.len()).sum()
    }
}

impl Shard {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Timers> {
        self.timers.lock()
    }

    /// Has the wheel's time reached `tick` (so a timer of this shard at `tick` fired)?
    pub(crate) fn has_fired_through(&self, tick: u64) -> bool {
        self.fired_through.load(Acquire) >= tick
    }

    /// Fires the timers due at `now_tick` (`timers` is this shard's guard), publishes the
    /// wheel's new time in `fired_through` (written only when it moves) and refreshes the hint.
    /// After the shutdown sweep the time is not published: the timers it took did not fire,
    /// and must not look fired.
    pub(crate) fn fire_due(&self, timers: &mut Timers, now_tick: u64, out: &mut Vec<Waker>) {
        let before = timers.wheel.elapsed();
        timers.wheel.advance(now_tick, |_, waker| out.push(waker));
        let after = timers.wheel.elapsed();
        if after != before && !timers.shut_down {
            // Release: a reader that sees the new time also sees the fired entries gone.
            self.fired_through.store(after, Release);
        }
        let next = timers.wheel.next_expiration().unwrap_or(EMPTY);
        if self.next_hint.load(Relaxed) != next {
            self.next_hint.store(next, Release);
        }
    }
}

/// Every shard locked (see [`TimerShards::lock_all`]).
pub(crate) struct AllShards<'a> {
    guards: Vec<(&'a Shard, MutexGuard<'a, Timers>)>,
}

impl AllShards<'_> {
    /// The earliest expiration of all shards.
    pub(crate) fn next_expiration(&self) -> Option<u64> {
        self.guards
            .iter()
            .filter_map(|(_, timers)| timers.wheel.next_expiration())
            .min()
    }

    /// Fires every shard at `now_tick`.
    pub(crate) fn fire_due(&mut self, now_tick: u64, out: &mut Vec<Waker>) {
        for (shard, timers) in &mut self.guards {
            shard.fire_due(timers, now_tick, out);
        }
    }
}

/// This thread's round-robin shard seed.
fn thread_seed() -> usize {
    THREAD_SEED
        .try_with(|seed| match seed.get() {
            Some(s) => s,
            None => {
                let s = NEXT_THREAD_SEED.fetch_add(1, Relaxed);
                seed.set(Some(s));
                s
            }
        })
        // A thread being torn down: any shard is correct.
        .unwrap_or(0)
}

#[cfg(test)]
impl TimerShards {
    /// Shard `i` (tests pick shards explicitly).
    fn shard(&self, i: usize) -> &Shard {
        &self.shards[i]
    }

    /// Adds a timer at `tick` to shard `i`; `Some(notify)` if it was added.
    fn insert_into(&self, i: usize, tick: u64) -> Option<(TimerKey, bool)> {
        let shard = self.shard(i);
        let mut timers = shard.lock();
        self.insert(shard, &mut timers, 0, tick, Waker::noop().clone())
            .ok()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::Duration;

    thread_local!(static HINT: Cell<Option<usize>> = const { Cell::new(None) });

    #[test]
    fn a_thread_arms_in_its_own_shard_and_cancels_from_anywhere() {
        let shards = TimerShards::new(3, Some(Box::new(|| HINT.with(Cell::get))));
        let mut keys = Vec::new();
        for hint in [0, 1, 2, 4] {
            HINT.with(|h| h.set(Some(hint)));
            let shard = shards.for_this_thread();
            let (key, _) = shards
                .insert(
                    shard,
                    &mut shard.lock(),
                    0,
                    10 + hint as u64,
                    Waker::noop().clone(),
                )
                .unwrap();
            assert_eq!(key.shard(), hint % 3);
            keys.push(key);
        }
        assert_eq!(shards.pending(), 4);
        // Another thread, another hint: the key still names the right wheel.
        std::thread::scope(|s| {
            s.spawn(|| {
                HINT.with(|h| h.set(Some(0)));
                for key in &keys {
                    assert!(shards.of_key(*key).lock().wheel.remove(*key).is_some());
                }
            });
        });
        assert_eq!(shards.pending(), 0);
    }

    #[test]
    fn a_key_of_one_shard_is_stale_in_another() {
        let shards = TimerShards::new(2, None);
        let (key, _) = shards.insert_into(0, 5).unwrap();
        // Same index and generation in shard 1's wheel: the shard field tells them apart.
        let (other, _) = shards.insert_into(1, 5).unwrap();
        assert_ne!(key, other);
        assert!(!shards.shard(1).lock().wheel.contains(key));
        assert!(shards.shard(0).lock().wheel.contains(key));
    }

    #[test]
    fn every_shard_fires_in_one_turn_and_the_wait_sees_the_earliest() {
        let shards = TimerShards::new(4, None);
        for (i, tick) in [(0, 40), (1, 10), (2, 30), (3, 20)] {
            shards.insert_into(i, tick).unwrap();
        }
        assert_eq!(shards.begin_wait(), Some(10));
        shards.end_wait();
        let mut fired = Vec::new();
        shards.fire_due(25, &mut fired);
        assert_eq!(fired.len(), 2);
        assert!(shards.shard(1).has_fired_through(10));
        assert!(shards.shard(3).has_fired_through(20));
        assert!(!shards.shard(2).has_fired_through(30));
        assert_eq!(shards.next_expiration(), Some(30));
        shards.fire_due(40, &mut fired);
        assert_eq!(fired.len(), 4);
        assert_eq!(shards.next_expiration(), None);
    }

    /// A cancel leaves the hint low; the next exact look repairs it, so a turn does not keep
    /// waking for a timer that is gone.
    #[test]
    fn a_cancelled_timer_costs_one_look() {
        let shards = TimerShards::new(2, None);
        let (key, _) = shards.insert_into(1, 7).unwrap();
        assert!(shards.shard(1).lock().wheel.remove(key).is_some());
        assert_eq!(shards.shard(1).next_hint.load(SeqCst), 7);
        assert_eq!(shards.begin_wait(), None);
        assert_eq!(shards.shard(1).next_hint.load(SeqCst), EMPTY);
    }

    /// A turn with nothing due in a shard does not take its lock: a thread holding it (a
    /// worker arming timers) does not hold up the turn.
    #[test]
    fn a_turn_passes_a_busy_shard_with_nothing_due() {
        let shards = TimerShards::new(2, None);
        shards.insert_into(0, 100).unwrap();
        shards.insert_into(1, 5).unwrap();
        let held = shards.shard(0).lock();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut fired = Vec::new();
                shards.fire_due(50, &mut fired);
                tx.send(fired.len()).unwrap();
            });
            let done = rx.recv_timeout(Duration::from_secs(10));
            drop(held);
            assert_eq!(done, Ok(1), "the turn waited for a shard with nothing due");
        });
    }

    /// A wheel whose only timers are far off is still brought up to the clock by turns, and
    /// an empty one at its next insert: a short timer then goes to the finest level.
    #[test]
    fn wheels_keep_up_with_the_clock() {
        let shards = TimerShards::new(2, None);
        shards.insert_into(0, 1_000_000).unwrap();
        let mut fired = Vec::new();
        shards.fire_due(LAG_TICKS, &mut fired);
        assert_eq!(shards.shard(0).lock().wheel.elapsed(), 0, "no lag yet");
        shards.fire_due(10_000, &mut fired);
        assert!(fired.is_empty());
        assert_eq!(shards.shard(0).lock().wheel.elapsed(), 10_000);
        assert!(shards.shard(0).has_fired_through(10_000));
        assert_eq!(
            shards.shard(1).lock().wheel.elapsed(),
            10_000,
            "empty, but lagging"
        );

        let empty = TimerShards::new(1, None);
        let shard = empty.shard(0);
        let tick = 20_000;
        let (key, _) = empty
            .insert(
                shard,
                &mut shard.lock(),
                tick,
                tick + 3,
                Waker::noop().clone(),
            )
            .unwrap();
        assert_eq!(shard.lock().wheel.elapsed(), tick);
        assert!(shard.lock().wheel.contains(key));
    }

    #[derive(Clone, Debug)]
    enum Op {
        /// Arm a timer `d` ticks after the clock in shard `s` (the insert's catch-up included).
        Insert(usize, u64),
        /// Cancel the `i`-th pending timer (modulo), from its key's shard.
        Cancel(usize),
        /// Move the `i`-th pending timer (modulo) to `d` ticks after the clock, in its shard
        /// (`Sleep::reset`; earlier or later than before, `d == 0` a deadline now).
        Reschedule(usize, u64),
        /// The clock moves on `d` ticks; a turn fires what is due (hint-skipping, lag catch-up).
        Turn(u64),
        /// A turn about to wait computes its bound.
        Wait,
        /// A paused clock moved by hand: every shard fired.
        FireAll(u64),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..3usize, prop_oneof![1..8u64, 1..200u64, 1..100_000u64])
                .prop_map(|(s, d)| Op::Insert(s, d)),
            2 => any::<usize>().prop_map(Op::Cancel),
            2 => (any::<usize>(), prop_oneof![0..8u64, 0..200u64, 0..100_000u64])
                .prop_map(|(i, d)| Op::Reschedule(i, d)),
            3 => prop_oneof![0..4u64, 0..100u64, 0..5_000u64].prop_map(Op::Turn),
            1 => Just(Op::Wait),
            1 => (0..300u64).prop_map(Op::FireAll),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Against a model of pending timers: the lock-free "fired" shortcut never says a
        /// pending timer fired (whatever the catch-ups did to its wheel's time), every hint
        /// stays a lower bound of its shard's next timer, a turn fires every timer due in
        /// every shard and nothing early, and the wait's bound is the earliest deadline.
        #[test]
        fn shards_match_a_model(ops in proptest::collection::vec(op(), 1..150)) {
            use proptest::prelude::*;
            let shards = TimerShards::new(3, None);
            let mut now = 0u64;
            let mut pending: Vec<(TimerKey, u64)> = Vec::new();
            let mut fired = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(i, d) => {
                        let shard = shards.shard(i);
                        let mut timers = shard.lock();
                        let tick = now + d;
                        let (key, _) = shards
                            .insert(shard, &mut timers, now, tick, Waker::noop().clone())
                            .expect("a wheel is never ahead of the clock");
                        pending.push((key, tick));
                    }
                    Op::Cancel(i) if !pending.is_empty() => {
                        let (key, _) = pending.swap_remove(i % pending.len());
                        prop_assert!(shards.of_key(key).lock().wheel.remove(key).is_some());
                    }
                    Op::Cancel(_) => {}
                    Op::Reschedule(i, d) if !pending.is_empty() => {
                        let (key, _) = pending.swap_remove(i % pending.len());
                        let shard = shards.of_key(key);
                        let mut timers = shard.lock();
                        let tick = now + d;
                        match shards.reschedule(shard, &mut timers, key, tick) {
                            Some(Ok((new, _))) => {
                                prop_assert!(tick > timers.wheel.elapsed());
                                prop_assert_eq!(new.shard(), key.shard(), "moved to another shard");
                                prop_assert_eq!(new.deadline(), tick);
                                prop_assert!(!timers.wheel.contains(key), "the old key is live");
                                pending.push((new, tick));
                            }
                            // Refused as `insert` refuses it: the wheel's time passed the tick.
                            Some(Err(_)) => {
                                prop_assert!(tick <= timers.wheel.elapsed());
                                prop_assert!(!timers.wheel.contains(key));
                            }
                            None => prop_assert!(false, "a pending timer was not found"),
                        }
                    }
                    Op::Reschedule(..) => {}
                    Op::Turn(d) | Op::FireAll(d) => {
                        now += d;
                        fired.clear();
                        if matches!(op, Op::Turn(_)) {
                            shards.fire_due(now, &mut fired);
                        } else {
                            shards.fire_all(now, &mut fired);
                        }
                        let due = pending.iter().filter(|(_, t)| *t <= now).count();
                        prop_assert_eq!(fired.len(), due, "due timers left pending at {}", now);
                        pending.retain(|(_, t)| *t > now);
                    }
                    Op::Wait => {
                        let next = shards.begin_wait();
                        shards.end_wait();
                        let earliest = pending.iter().map(|(_, t)| *t).min();
                        // A wheel may report a cascade point before the deadline (even at or
                        // before `now`, in a wheel a turn did not advance: the wait is then
                        // zero and the next firing cascades), never after it.
                        prop_assert_eq!(next.is_some(), earliest.is_some());
                        if let (Some(n), Some(e)) = (next, earliest) {
                            prop_assert!(n <= e, "bound {} for {} at {}", n, e, now);
                        }
                    }
                }
                for (key, tick) in &pending {
                    let shard = shards.of_key(*key);
                    prop_assert!(
                        !shard.has_fired_through(*tick),
                        "pending timer at {} looks fired (now {})", tick, now
                    );
                    prop_assert!(shard.next_hint.load(SeqCst) <= *tick);
                    prop_assert!(shard.lock().wheel.contains(*key));
                }
            }
        }
    }

    /// A tick that saturated (a deadline past the clock's range) must not leave the shard's
    /// hint at `EMPTY`: the wait would skip the shard and never end on a paused clock.
    #[test]
    fn a_timer_past_the_clock_s_range_bounds_the_wait() {
        let shards = TimerShards::new(2, None);
        let (key, _) = shards.insert_into(1, u64::MAX).unwrap();
        assert_eq!(key.deadline(), LAST_TICK);
        assert!(shards.begin_wait().is_some_and(|t| t <= LAST_TICK));
        shards.end_wait();
        let mut fired = Vec::new();
        shards.fire_all(LAST_TICK, &mut fired);
        assert_eq!(fired.len(), 1);
        assert!(shards.shard(1).has_fired_through(key.deadline()));
    }

    #[test]
    fn inserts_notify_a_wait_they_end_early() {
        let shards = TimerShards::new(2, None);
        // Nobody waits: no insert notifies.
        assert!(!shards.insert_into(0, 1).unwrap().1);
        assert_eq!(shards.begin_wait(), Some(1));
        shards.bound_wait(Some(100));
        assert!(shards.insert_into(1, 50).unwrap().1);
        assert!(!shards.insert_into(1, 100).unwrap().1);
        assert!(!shards.insert_into(0, 150).unwrap().1);
        shards.bound_wait(None);
        assert!(shards.insert_into(0, 1_000_000).unwrap().1);
        shards.end_wait();
        assert!(!shards.insert_into(1, 2).unwrap().1);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The race of the table at the top: a turn computing its wait while another thread arms
    //! an earlier timer in another shard. Either the wait's bound covers the timer or the
    //! insert notifies the poller; never neither.

    use super::*;
    use crate::loom::Arc;

    /// What the inserting shard (shard 1) holds before the race.
    #[derive(Clone, Copy)]
    enum Before {
        /// Nothing: the turn passes it on its hint alone.
        Empty,
        /// A timer at this tick: its hint is finite, so the turn takes that shard's lock.
        Timer(u64),
        /// A timer at this tick, cancelled: the wheel is empty but its hint stale (finite),
        /// so the insert's catch-up rewrites the hint with a plain store under the lock.
        Cancelled(u64),
        /// A timer at this tick, which the other thread moves to the earlier tick instead of
        /// inserting one (`Sleep::reset`, through `reschedule`).
        Moved(u64),
    }

    /// The turn computes its wait (after a non-blocking firing at `now_tick`, as `try_turn`
    /// does before it blocks) while another thread arms a timer at `now_tick + 5` in shard 1
    /// (clock read at `now_tick`: a wheel left behind catches up in the insert).
    fn wait_or_notify(before: Before, now_tick: u64) {
        loom::model(move || {
            // A wheel's slot table is built on the stack before it moves into its shard: more
            // than a model thread's default stack.
            let body = move || {
                let shards = Arc::new(TimerShards::new(2, None));
                shards.insert_into(0, now_tick + 20).unwrap();
                let moved = match before {
                    Before::Empty => None,
                    Before::Timer(tick) => {
                        shards.insert_into(1, now_tick + tick).unwrap();
                        None
                    }
                    Before::Cancelled(tick) => {
                        let (key, _) = shards.insert_into(1, now_tick + tick).unwrap();
                        assert!(shards.shard(1).lock().wheel.remove(key).is_some());
                        None
                    }
                    Before::Moved(tick) => Some(shards.insert_into(1, now_tick + tick).unwrap().0),
                };
                let at = now_tick + 5;
                let inserting = shards.clone();
                let inserter = loom::thread::spawn(move || {
                    let shard = inserting.shard(1);
                    let mut timers = shard.lock();
                    match moved {
                        Some(key) => {
                            let moved = inserting.reschedule(shard, &mut timers, key, at);
                            moved.expect("pending").expect("in the future").1
                        }
                        None => {
                            let waker = Waker::noop().clone();
                            let inserted =
                                inserting.insert(shard, &mut timers, now_tick, at, waker);
                            inserted.unwrap().1
                        }
                    }
                });
                let mut fired = Vec::new();
                shards.fire_due(now_tick, &mut fired);
                assert!(fired.is_empty());
                let next = shards.begin_wait();
                shards.bound_wait(next);
                let bound = next.unwrap_or(u64::MAX);
                let notified = inserter.join().unwrap();
                assert!(
                    bound <= at || notified,
                    "the wait ends at {bound} and nobody told it of the timer at {at}"
                );
                // Whatever the interleaving, the hint stays a lower bound of shard 1's timer.
                assert!(shards.shard(1).next_hint.load(Acquire) <= at);
            };
            let turner = loom::thread::Builder::new().stack_size(1 << 22).spawn(body);
            turner.unwrap().join().unwrap();
        });
    }

    #[test]
    fn an_insert_into_an_empty_shard_bounds_or_notifies_the_wait() {
        wait_or_notify(Before::Empty, 0);
    }

    #[test]
    fn an_insert_into_a_busy_shard_bounds_or_notifies_the_wait() {
        wait_or_notify(Before::Timer(30), 0);
    }

    /// The insert's catch-up (an empty wheel brought up to the clock) rewrites a stale hint
    /// with a plain store between the turn's read of it and the insert's own `fetch_min`.
    #[test]
    fn an_insert_that_catches_up_a_wheel_with_a_stale_hint_bounds_or_notifies_the_wait() {
        wait_or_notify(Before::Cancelled(30), LAG_TICKS + 1);
    }

    /// The turn's firing before the wait locks the lagging shards (`LAG_TICKS`) and rewrites
    /// their hints while the insert runs.
    #[test]
    fn an_insert_racing_the_turns_catch_up_firing_bounds_or_notifies_the_wait() {
        wait_or_notify(Before::Timer(30), LAG_TICKS + 1);
    }

    /// A reset that moves a timer earlier publishes it as an insert does: the turn that
    /// computed its wait from the old tick is notified, or its bound saw the new one.
    #[test]
    fn a_timer_moved_earlier_bounds_or_notifies_the_wait() {
        wait_or_notify(Before::Moved(30), 0);
    }

    /// The same while the turn's firing catches the lagging shard up.
    #[test]
    fn a_timer_moved_earlier_during_the_turns_catch_up_firing_bounds_or_notifies_the_wait() {
        wait_or_notify(Before::Moved(30), LAG_TICKS + 1);
    }
}
