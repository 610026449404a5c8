//! Whether the last searcher that found work wakes one more worker when nothing else is
//! queued: an adaptive rule, scored on what those extra searchers find.
//!
//! A worker woken for one task stops searching when it finds it. If it was the last searcher
//! and more tasks are queued, it always wakes another worker. With nothing else queued, the
//! extra searcher pays only if work arrives while it is still awake: a `block_on` thread
//! that frees a channel slot every few microseconds hands its next wake-up to that searcher
//! without a system call, but on request/reply shapes and slower channel batches the extra
//! searcher finds nothing and parks again, one wasted wake-up and park per message. So the
//! scheduler keeps a score of how such wake-ups ended and makes them only while they pay:
//!
//! | the extra searcher                       | score             |
//! |------------------------------------------|-------------------|
//! | ran a task before parking again          | +1, at most [`SCORE_MAX`] |
//! | parked again without running a task      | −1                |
//!
//! Extra wake-ups are made while the score is at least [`SCORE_TO_WAKE`]; below it, one in
//! [`TRIAL_EVERY`] decisions still makes one, so a runtime whose pattern changed finds its way
//! back. The score is per runtime and only a hint: its atomics are relaxed, and a lost update
//! costs at most one wrong decision.

use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

const SCORE_MAX: usize = 8;
const SCORE_TO_WAKE: usize = 4;
const TRIAL_EVERY: usize = 32;

pub(crate) struct ExtraSearcher {
    score: AtomicUsize,
    decisions: AtomicUsize,
    /// Per worker: woken as an extra searcher, outcome not scored yet.
    woken: Box<[AtomicBool]>,
}

impl ExtraSearcher {
    pub(crate) fn new(workers: usize) -> Self {
        ExtraSearcher {
            // Start with the old behaviour (always wake) and learn from there.
            score: AtomicUsize::new(SCORE_MAX),
            decisions: AtomicUsize::new(0),
            woken: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Whether to wake one more worker although nothing is queued.
    pub(crate) fn should_wake(&self) -> bool {
        if self.score.load(Relaxed) >= SCORE_TO_WAKE {
            return true;
        }
        self.decisions.fetch_add(1, Relaxed) % TRIAL_EVERY == 0
    }

    /// `worker` is being woken as an extra searcher.
    pub(crate) fn mark(&self, worker: usize) {
        self.woken[worker].store(true, Relaxed);
    }

    /// Scores the outcome of `worker`'s wake-up if it was an extra searcher's: `found` when it
    /// is about to run a task, not when it is about to park again.
    pub(crate) fn settle(&self, worker: usize, found: bool) {
        if !self.woken[worker].load(Relaxed) || !self.woken[worker].swap(false, Relaxed) {
            return;
        }
        let score = self.score.load(Relaxed);
        let next = if found {
            (score + 1).min(SCORE_MAX)
        } else {
            score.saturating_sub(1)
        };
        self.score.store(next, Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wakes_while_extra_searchers_find_work_and_learns_when_they_do_not() {
        let extra = ExtraSearcher::new(2);
        assert!(extra.should_wake(), "starts with the old behaviour");
        // Extra searchers that park empty-handed bring the score under the threshold.
        for _ in 0..=SCORE_MAX - SCORE_TO_WAKE {
            extra.mark(1);
            extra.settle(1, false);
        }
        let woken = (0..TRIAL_EVERY * 4).filter(|_| extra.should_wake()).count();
        assert_eq!(woken, 4, "one trial per TRIAL_EVERY decisions");
        // A settle without a mark scores nothing: still one trial, then none.
        extra.settle(0, true);
        assert!(extra.should_wake());
        assert!(!(0..TRIAL_EVERY - 1).any(|_| extra.should_wake()));
        // Extra searchers that find work bring it back.
        extra.mark(0);
        extra.settle(0, true);
        assert!(extra.should_wake());
    }
}
