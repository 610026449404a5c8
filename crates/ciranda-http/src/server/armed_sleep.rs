//! `ArmedSleep`: a sleep polled by one task that remembers whether the wheel holds that
//! task's waker, so a poll that finds it armed and not yet fired costs one atomic load
//! ([`Sleep::has_fired`]) instead of a clock read and the wheel's lock, which every worker
//! shares. `serve`'s per-connection timers (hyper's
//! header-read timer, the idle timeout) are polled on every poll of their connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use ciranda::time::{Instant, Sleep};

pub(super) struct ArmedSleep {
    sleep: Sleep,
    /// The waker `sleep` is known to have queued in the wheel (with its current deadline).
    queued: Option<Waker>,
}

impl ArmedSleep {
    /// A sleep until `deadline`.
    pub(super) fn until(deadline: Instant) -> ArmedSleep {
        ArmedSleep {
            sleep: ciranda::time::sleep_until(deadline),
            queued: None,
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.sleep.deadline()
    }

    /// Moves the deadline. The sleep keeps the waker it queued, now for the new deadline, but
    /// a deadline that has passed wakes it at once and leaves nothing queued: so `queued` is
    /// forgotten and the next poll looks (with the same waker it finds the entry and clones
    /// nothing).
    pub(super) fn reset(&mut self, deadline: Instant) {
        self.queued = None;
        self.sleep.reset(deadline);
    }

    /// Ready once the deadline has passed: once the wheel fired the sleep, or a poll of it
    /// (the first one, or one with a new waker) found the clock past the deadline.
    #[inline]
    pub(super) fn poll_due(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self
            .queued
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
            && !self.sleep.has_fired()
        {
            return Poll::Pending; // the wheel will wake this task when it fires the sleep
        }
        // With a unit of budget of its own, so a `Pending` means the waker is queued (a
        // refusal by an exhausted budget would not queue it, and the fast path above would
        // then wait for a wake-up that never comes).
        let polled = ciranda_coop::with_budget(1, || Pin::new(&mut self.sleep).poll(cx));
        self.queued = polled.is_pending().then(|| cx.waker().clone());
        polled
    }
}
