//! A reactor's clock: real time, or a virtual clock that stands still while paused.
//!
//! | state   | `now()`                        | `advance(d)`     | `pause()`            | `resume()`                       |
//! |---------|--------------------------------|------------------|----------------------|----------------------------------|
//! | running | `base` + real time since `since` | panics         | freeze at `now()` rounded up to a tick | no-op          |
//! | paused  | the frozen instant             | frozen += d      | no-op                | `base` = frozen, `since` = real now: time goes on from the frozen instant |
//!
//! Time never goes backwards: while paused the frozen instant only moves forwards, and on resume
//! the clock runs on from it. It does not catch up with the real time that passed while paused:
//! a clock paused for a second and resumed is a second behind one that was never paused, as in
//! Tokio.
//!
//! The timer wheel counts whole ticks of [`TICK`] (62.5 µs, a sixteenth of a millisecond)
//! since the clock's `origin` (its creation). A timer fires at the first tick at or after its
//! deadline, so it is never early and at most a tick late (plus scheduling latency: the
//! poller's waits are exact, see `poller`). The tick trades lateness against firing rounds:
//! each tick that holds timers is one round of wake-ups when the workers are idle. At 1 ms a
//! sleep's median lateness was about 1 ms, at 250 µs 0.25 ms, at 62.5 µs (with the poller's
//! timer slack at 1 ns) 0.06 ms, on this project's 2-vCPU machine; the wheel's first level
//! spans 1 024 ticks (64 ms) so that short sleeps rarely cascade, whatever the tick.
//! A tick that divides a millisecond keeps whole-millisecond deadlines exact on a paused
//! clock, which jumps to ticks.
//!
//! Most clocks are never paused, and every `sleep`, `timeout` and `Instant::now()` reads the
//! clock, often from several workers at once. Until the first `pause()` (or for a clock
//! created paused) `now()` is the real time with no lock and no shared write: the `virtual`
//! flag is read before and after the real clock, and `pause()` sets it before it reads the
//! real clock for the frozen instant. A reader that saw the flag clear both times read the
//! real clock before the pause did, so its instant is not after the frozen one and time
//! still never goes backwards across threads. Once set the flag stays set (a resumed clock
//! may lag behind the real time) and `now()` takes the lock.
//!
//! `Instant::now()` first asks a process-wide flag, [`real_now_if_no_clock_virtual`], set
//! before any clock's own flag: while no clock in the process has ever been virtual, every
//! clock reads the real time, so the current reactor need not be looked up at all (a
//! thread-local and three pointers fewer on every `timeout` and `Instant::now()`). The same
//! argument as above keeps time monotonic across that path.

use crate::loom::{AtomicBool, Mutex};
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant as StdInstant};

#[derive(Debug)]
struct State {
    /// `Some(now)` while paused.
    frozen: Option<StdInstant>,
    /// While running, the clock reads `base` plus the real time elapsed since `since`: the
    /// instant it was resumed at, and the real instant of that resume. An offset would not do:
    /// a clock resumed behind the real time needs a negative one.
    base: StdInstant,
    since: StdInstant,
}

impl State {
    /// The instant of a running clock.
    fn running_now(&self) -> StdInstant {
        add_or_max(
            self.base,
            StdInstant::now().saturating_duration_since(self.since),
        )
    }
}

/// Set before the first clock in the process turns virtual (a pause, or a clock created
/// paused), and never cleared. A plain `std` atomic under loom too: loom's cannot live in a
/// `static`, and under loom the fast path it guards is switched off, so the timer models
/// (`timer_shards.rs`, `registration.rs`) read their clocks through the per-clock flag. No
/// model races a pause against `now()`: real time moves by microseconds between loom's
/// steps, less than the tick a pause rounds up to, so a broken order would not show there;
/// `tests/tests/time_monotonic.rs` checks it with real threads.
static ANY_CLOCK_VIRTUAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The real time, if no clock in the process has ever been virtual (then every clock reads
/// the real time); `None` otherwise, and the caller asks its own clock.
#[inline]
pub(crate) fn real_now_if_no_clock_virtual() -> Option<StdInstant> {
    if cfg!(loom) || ANY_CLOCK_VIRTUAL.load(SeqCst) {
        return None;
    }
    let real = StdInstant::now();
    // Read again after the real clock, as `Clock::now` does: a pause that set the flag in
    // between may have frozen its clock before `real`.
    (!ANY_CLOCK_VIRTUAL.load(SeqCst)).then_some(real)
}

/// A per-reactor clock (every test runtime has its own, so paused clocks do not interfere).
#[derive(Debug)]
pub(crate) struct Clock {
    origin: StdInstant,
    /// Set by the first pause (or at creation when paused): `now()` must take the lock.
    is_virtual: AtomicBool,
    state: Mutex<State>,
}

impl Clock {
    pub(crate) fn new(start_paused: bool) -> Self {
        if start_paused {
            ANY_CLOCK_VIRTUAL.store(true, SeqCst);
        }
        let origin = StdInstant::now();
        Clock {
            origin,
            is_virtual: AtomicBool::new(start_paused),
            state: Mutex::new(State {
                frozen: start_paused.then_some(origin),
                base: origin,
                since: origin,
            }),
        }
    }

    /// Time since the clock was created, virtual time included.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now().saturating_duration_since(self.origin)
    }

    /// The clock's current instant.
    pub(crate) fn now(&self) -> StdInstant {
        if !self.is_virtual.load(SeqCst) {
            let real = StdInstant::now();
            if !self.is_virtual.load(SeqCst) {
                return real;
            }
        }
        let state = self.state.lock();
        match state.frozen {
            Some(frozen) => frozen,
            None => state.running_now(),
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.is_virtual.load(SeqCst) && self.state.lock().frozen.is_some()
    }

    /// Freezes the clock at its current instant rounded up to a tick (no-op when already
    /// paused).
    ///
    /// Rounded up, so that the virtual clock stands on the wheel's tick grid as a clock
    /// created paused does: a deadline a whole number of ticks away (any whole millisecond)
    /// is then a tick itself, and `advance` to it, or a jump, fires it exactly there. Frozen
    /// inside a tick, every such deadline would round up to the next tick: `advance(d)`
    /// would not fire a `sleep(d)` armed after the pause, and a jump would overshoot it.
    /// Forwards by less than a tick, so time still never goes backwards.
    pub(crate) fn pause(&self) {
        let mut state = self.state.lock();
        // Both before the real clock is read below: see the module docs.
        ANY_CLOCK_VIRTUAL.store(true, SeqCst);
        self.is_virtual.store(true, SeqCst);
        if state.frozen.is_none() {
            let now = state.running_now();
            state.frozen = Some(self.instant_of_tick(self.tick_ceil(now)).max(now));
        }
    }

    /// Lets the clock run again from where it stands (no-op when running).
    pub(crate) fn resume(&self) {
        let mut state = self.state.lock();
        if let Some(frozen) = state.frozen.take() {
            // From where it stands: the real time that passed while paused is not added.
            state.base = frozen;
            state.since = StdInstant::now();
        }
    }

    /// Moves a paused clock forwards by `by`, saturating far in the future.
    ///
    /// # Panics
    /// If the clock is not paused.
    pub(crate) fn advance(&self, by: Duration) {
        let mut state = self.state.lock();
        let frozen = state
            .frozen
            .as_mut()
            .expect("ciranda time::advance: the clock is not paused (call time::pause() first or start the runtime paused)");
        *frozen = add_or_max(*frozen, by);
    }

    /// Moves a paused clock forwards to `tick` if it stands before it; returns whether it moved.
    pub(crate) fn advance_to_tick(&self, tick: u64) -> bool {
        let target = self.instant_of_tick(tick);
        let mut state = self.state.lock();
        match state.frozen.as_mut() {
            Some(frozen) if *frozen < target => {
                *frozen = target;
                true
            }
            _ => false,
        }
    }

    /// Whole ticks from the origin to `instant`, rounded down (the wheel's "now").
    pub(crate) fn tick_floor(&self, instant: StdInstant) -> u64 {
        ticks(instant.saturating_duration_since(self.origin)).0
    }

    /// Ticks from the origin to `instant`, rounded up (a timer's tick: firing when the floor
    /// of "now" reaches it is never early).
    pub(crate) fn tick_ceil(&self, instant: StdInstant) -> u64 {
        let (whole, rest) = ticks(instant.saturating_duration_since(self.origin));
        whole.saturating_add(u64::from(rest != 0))
    }

    /// The instant of a tick, saturating to the latest representable instant.
    pub(crate) fn instant_of_tick(&self, tick: u64) -> StdInstant {
        let d = Duration::new(
            tick / TICKS_PER_SEC,
            (tick % TICKS_PER_SEC) as u32 * TICK_NANOS,
        );
        add_or_max(self.origin, d)
    }
}

/// The timer wheel's unit of time.
pub(crate) const TICK: Duration = Duration::from_nanos(62_500);
const TICK_NANOS: u32 = TICK.subsec_nanos();
const TICKS_PER_SEC: u64 = 1_000_000_000 / TICK_NANOS as u64;

/// Whole ticks in `d` (saturating) and the nanoseconds left over.
fn ticks(d: Duration) -> (u64, u32) {
    let whole = d
        .as_secs()
        .saturating_mul(TICKS_PER_SEC)
        .saturating_add(u64::from(d.subsec_nanos() / TICK_NANOS));
    (whole, d.subsec_nanos() % TICK_NANOS)
}

/// `instant + d`, or a point about 30 years after `instant` when that overflows.
pub(crate) fn add_or_max(instant: StdInstant, d: Duration) -> StdInstant {
    instant
        .checked_add(d)
        .unwrap_or_else(|| far_future(instant))
}

/// About 30 years after `from`: the stand-in for "never" (same trick as Tokio's
/// `Instant::far_future`); representable on every platform std supports.
pub(crate) fn far_future(from: StdInstant) -> StdInstant {
    const THIRTY_YEARS: Duration = Duration::from_secs(86_400 * 365 * 30);
    from.checked_add(THIRTY_YEARS).unwrap_or(from)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_stands_still_and_advances() {
        let c = Clock::new(true);
        let a = c.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), a);
        c.advance(Duration::from_secs(3));
        assert_eq!(c.now(), a + Duration::from_secs(3));
        c.resume();
        assert!(c.now() >= a + Duration::from_secs(3));
        c.pause();
        let b = c.now();
        assert!(b >= a + Duration::from_secs(3));
    }

    #[test]
    fn a_running_clock_pauses_at_or_after_every_earlier_reading() {
        let c = Clock::new(false);
        assert!(!c.is_paused());
        let before = c.now();
        assert!(before >= c.origin);
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let c = &c;
                move || (0..10_000).map(|_| c.now()).max().unwrap()
            })
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = readers.into_iter().map(|r| s.spawn(r)).collect();
            c.pause();
            let frozen = c.now();
            for h in handles {
                let latest = h.join().unwrap();
                // Readings before the pause precede the frozen instant; readings after it
                // are the frozen instant: none is later.
                assert!(latest <= frozen);
            }
            assert!(frozen >= before);
            assert!(c.is_paused());
        });
    }

    #[test]
    fn ticks_round_the_right_way() {
        let c = Clock::new(true);
        // 62.5 µs ticks: 1 600 µs is 25.6 ticks.
        let t = c.now() + Duration::from_micros(1600);
        assert_eq!(c.tick_floor(t), 25);
        assert_eq!(c.tick_ceil(t), 26);
        let t = c.now() + Duration::from_millis(2);
        assert_eq!((c.tick_floor(t), c.tick_ceil(t)), (32, 32));
        assert_eq!(c.tick_ceil(c.now() - Duration::from_millis(0)), 0);
        let t = c.now() + Duration::new(3, 1);
        assert_eq!((c.tick_floor(t), c.tick_ceil(t)), (48_000, 48_001));
    }

    /// A tick's instant is never before a deadline rounded up to it, and the first tick at
    /// or after it: a timer fires at that instant, never earlier, at most a tick later.
    #[test]
    fn a_deadline_s_tick_is_the_first_at_or_after_it() {
        let c = Clock::new(true);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let deadline = c.now() + Duration::from_nanos(x % 5_000_000_000);
            let tick = c.tick_ceil(deadline);
            let at = c.instant_of_tick(tick);
            assert!(at >= deadline, "tick {tick} at {at:?} before {deadline:?}");
            assert!(at - deadline < TICK);
            assert_eq!(c.tick_floor(at), tick);
        }
    }

    #[test]
    fn huge_durations_saturate() {
        let c = Clock::new(true);
        c.advance(Duration::MAX);
        assert!(c.now() > c.origin);
        let _ = c.instant_of_tick(u64::MAX);
    }
}
