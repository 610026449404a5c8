//! Adaptive spinning before a `block_on` thread parks.
//!
//! Parking costs the thread a futex wait and its waker a futex wake. On a machine whose idle
//! cores halt (a virtual machine without a cpuidle driver, for one), that pair costs tens of
//! microseconds: on the 2-vCPU host of `docs/benchmarks.md` a parked thread runs again about
//! 25 µs after its wake-up. A thread that consumes what the workers produce — a channel
//! receiver or a request/reply client in `block_on` — is often woken again within a few
//! microseconds, and often within a few tens: the producer it just unblocked needed a
//! wake-up of its own first. Spinning through those waits instead of parking keeps it in
//! step with its producers and, more than that, keeps it from the cycle in which both sides
//! park after every batch and each waits out the other's wake-up (a bounded channel of 100
//! fed by five senders: about 10 ms an iteration in that cycle, under 1 ms out of it). A
//! thread whose wake-ups come later than the spin gains nothing from spinning and, with no
//! spare core, takes time from the very workers it waits for. So each thread scores how its
//! recent spins ended and spins only while they pay:
//!
//! | the spin ended                                      | score       |
//! |-----------------------------------------------------|-------------|
//! | woken within [`SPIN_LIMIT`]                         | +1, at most [`SCORE_MAX`] |
//! | gave up after [`SPIN_LIMIT`]                        | −1          |
//!
//! The thread spins while its score is at least [`SCORE_TO_SPIN`]. Below that it parks at
//! once, except for a trial of [`TRIAL_WAITS`] spinning waits every [`TRIAL_EVERY`] waits, so
//! a thread whose pattern changed finds its way back. The score is per thread and outlives a
//! `block_on` call: a loop of short `block_on` calls keeps what it learned. A thread that
//! waits long every time spins for at most `TRIAL_WAITS × SPIN_LIMIT` (320 µs) per
//! `TRIAL_EVERY` waits.
//!
//! Workers do not spin here: an idle worker parks through the parking hook at once (spinning
//! workers kept the other runtime threads off the cores and doubled `ping_pong`).

use crate::context;
use crate::park::Parker;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// The longest a thread spins before it parks: somewhat more than a halted vCPU's wake-up,
/// so that a wait for a producer that must itself be woken first ends within it.
const SPIN_LIMIT: Duration = Duration::from_micros(40);
const SCORE_MAX: u32 = 8;
const SCORE_TO_SPIN: u32 = 4;
/// While the score is low, a trial of `TRIAL_WAITS` spinning waits starts every
/// `TRIAL_EVERY` waits.
const TRIAL_EVERY: u32 = 512;
const TRIAL_WAITS: u32 = 8;
/// Token checks between two looks at the clock.
const CHECKS_PER_CLOCK_READ: u32 = 32;

/// When a thread spins before it parks: kept per thread in [`crate::context`].
pub(crate) struct Policy {
    score: Cell<u32>,
    waits: Cell<u32>,
    trial_left: Cell<u32>,
}

impl Policy {
    /// A fresh policy that starts out spinning: the score soon says whether to go on.
    pub(crate) const fn new() -> Policy {
        Policy {
            score: Cell::new(SCORE_MAX),
            waits: Cell::new(0),
            trial_left: Cell::new(0),
        }
    }

    fn should_spin(&self) -> bool {
        let waits = self.waits.get().wrapping_add(1);
        self.waits.set(waits);
        if self.score.get() >= SCORE_TO_SPIN {
            return true;
        }
        if waits % TRIAL_EVERY == 0 {
            self.trial_left.set(TRIAL_WAITS);
        }
        match self.trial_left.get() {
            0 => false,
            left => {
                self.trial_left.set(left - 1);
                true
            }
        }
    }

    fn record(&self, hit: bool) {
        let score = self.score.get();
        self.score.set(if hit {
            (score + 1).min(SCORE_MAX)
        } else {
            score.saturating_sub(1)
        });
    }
}

/// Spins for a while if this thread's recent waits say it pays, watching `parker` for a token.
/// Returns `true` if it consumed one (the caller then skips parking), `false` if the caller
/// should park.
pub(crate) fn spin_for_token(parker: &Parker) -> bool {
    if cfg!(loom) {
        // Loom would explore every interleaving of a spin loop: models park at once.
        return false;
    }
    // A thread being torn down (its thread-local gone) just parks.
    context::with_spin_policy(|policy| {
        if !policy.should_spin() {
            return false;
        }
        let woken = spin(parker);
        policy.record(woken);
        woken
    })
    .unwrap_or(false)
}

/// Watches `parker` for up to [`SPIN_LIMIT`]; returns whether a token came (and was
/// consumed).
fn spin(parker: &Parker) -> bool {
    let started = Instant::now();
    loop {
        for _ in 0..CHECKS_PER_CLOCK_READ {
            // Only this thread consumes its parker's tokens: one seen here is still there.
            if parker.has_token() && parker.try_park() {
                return true;
            }
            std::hint::spin_loop();
        }
        if started.elapsed() >= SPIN_LIMIT {
            return false;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn fresh(score: u32, waits: u32) -> Policy {
        Policy {
            score: Cell::new(score),
            waits: Cell::new(waits),
            trial_left: Cell::new(0),
        }
    }

    #[test]
    fn spin_consumes_a_token_or_gives_up_at_the_limit() {
        let parker = Parker::new();
        parker.unpark();
        assert!(spin(&parker));
        assert!(!parker.has_token(), "the token was consumed");
        let started = Instant::now();
        assert!(!spin(&parker));
        assert!(started.elapsed() >= SPIN_LIMIT);
    }

    #[test]
    fn a_pending_token_is_taken_without_parking() {
        let parker = Parker::new();
        parker.unpark();
        assert!(spin_for_token(&parker));
        assert!(!parker.has_token());
    }

    #[test]
    fn misses_stop_the_spinning_until_a_trial() {
        let policy = fresh(SCORE_MAX, 0);
        let mut spun = 0;
        for _ in 0..TRIAL_EVERY {
            if policy.should_spin() {
                spun += 1;
                policy.record(false);
            }
        }
        // One miss per point from SCORE_MAX down to SCORE_TO_SPIN, then parking at once
        // until the trial that starts at wait TRIAL_EVERY (its first wait is the last here).
        assert_eq!(spun, SCORE_MAX - SCORE_TO_SPIN + 1 + 1);
        assert_eq!(policy.score.get(), SCORE_TO_SPIN - 2);
        // The rest of the trial spins, then nothing until the next one.
        let mut spun = 0;
        for _ in 0..TRIAL_EVERY - 1 {
            if policy.should_spin() {
                spun += 1;
                policy.record(false);
            }
        }
        assert_eq!(spun, TRIAL_WAITS - 1);
        assert_eq!(policy.score.get(), 0);
    }

    #[test]
    fn hits_in_a_trial_bring_the_spinning_back() {
        let policy = fresh(0, TRIAL_EVERY - 1);
        for _ in 0..SCORE_TO_SPIN {
            assert!(policy.should_spin(), "the trial spins");
            policy.record(true);
        }
        assert_eq!(policy.score.get(), SCORE_TO_SPIN);
        // Past the trial, the score alone keeps it spinning, up to its cap.
        for _ in 0..100 {
            assert!(policy.should_spin());
            policy.record(true);
        }
        assert_eq!(policy.score.get(), SCORE_MAX);
    }

    #[test]
    fn an_occasional_miss_does_not_stop_a_spinning_thread() {
        let policy = fresh(SCORE_MAX, 0);
        for i in 0..1_000 {
            assert!(policy.should_spin(), "wait {i}");
            // One late wake-up in ten, as a producer-paced receiver sees.
            policy.record(i % 10 != 0);
        }
    }
}
