//! `Interval`: ticks at a fixed period.

use super::{Instant, Sleep};
use crate::coop;
use futures_core::Stream;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// How late a [`MissedTickBehavior::Delay`] tick may be taken and still count as on time (when
/// the period is at least twice as long).
const ON_TIME: Duration = Duration::from_millis(5);

/// Ticks every `period`, the first tick at once (`tick().await`, or as a `Stream`).
///
/// Made outside any runtime, it binds to the runtime that first polls it, as
/// [`sleep`](super::sleep()) does.
///
/// # Panics
/// If `period` is zero; when polled as [`sleep`](super::sleep()) says.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let mut ticks = ciranda::time::interval(Duration::from_millis(2));
///     let first = ticks.tick().await;
///     let second = ticks.tick().await;
///     assert_eq!(second - first, Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    Interval::new(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// Made outside any runtime, it binds to the runtime that first polls it, as
/// [`sleep`](super::sleep()) does.
///
/// # Panics
/// If `period` is zero; when polled as [`sleep`](super::sleep()) says.
#[track_caller]
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval::new(start, period)
}

/// What an [`Interval`] does when ticks were missed (the task was late).
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, MissedTickBehavior};
/// use std::time::Duration;
///
/// let rt = ciranda::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let mut iv = time::interval(Duration::from_secs(1));
///     iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
///     let start = iv.tick().await;
///     time::advance(Duration::from_millis(2500)).await;
///     assert_eq!(iv.tick().await, start + Duration::from_secs(1)); // the late one
///     assert_eq!(iv.tick().await, start + Duration::from_secs(3)); // 2 s skipped
/// });
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks at once, one per `tick()`, to catch up (the default).
    #[default]
    Burst,
    /// Start over: the next tick is one period after the late one was taken. A tick taken less
    /// than `ON_TIME` (a few milliseconds, or half a period if that is shorter) after its
    /// instant is not late: the timer's own rounding and scheduling latency do not make the
    /// interval drift.
    Delay,
    /// Drop the missed ticks: the next tick is the next multiple of the period after now.
    Skip,
}

/// Periodic ticks; see [`interval`].
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, Interval, MissedTickBehavior};
/// use ciranda::stream::StreamExt;
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let mut iv: Interval = time::interval(Duration::from_millis(1));
///     iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
///     let three: Vec<_> = iv.take(3).collect().await;
///     assert!(three[0] < three[1] && three[1] < three[2]);
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    #[track_caller]
    fn new(start: Instant, period: Duration) -> Interval {
        assert!(
            !period.is_zero(),
            "ciranda time::interval: the period must be non-zero"
        );
        Interval {
            sleep: Sleep::new_current(start),
            period,
            missed: MissedTickBehavior::default(),
        }
    }

    /// Waits for the next tick and returns its scheduled instant.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a tick is taken only in the poll that returns it, so a dropped `tick()` loses
    /// none; the next `tick()` returns it.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        // No tick taken, the unit goes back (see `Sleep`'s `poll`).
        ready!(coop::proceed(cx, |cx| self.sleep.poll_deadline(cx)));
        let scheduled = self.sleep.deadline();
        let now = self.sleep.now();
        let next = match self.missed {
            MissedTickBehavior::Burst => scheduled.saturating_add(self.period),
            MissedTickBehavior::Delay => {
                // Without this slack every tick would start over by the timer's lateness (up to
                // a wheel tick of rounding, plus scheduling), and the interval would drift.
                let slack = ON_TIME.min(self.period / 2);
                if now.saturating_duration_since(scheduled) < slack {
                    scheduled.saturating_add(self.period)
                } else {
                    now.saturating_add(self.period)
                }
            }
            MissedTickBehavior::Skip => {
                let late = now.saturating_duration_since(scheduled);
                let period = self.period.as_nanos();
                let periods = late.as_nanos() / period + 1;
                let skip = u64::try_from(period.saturating_mul(periods))
                    .map(Duration::from_nanos)
                    .unwrap_or(Duration::MAX);
                scheduled.saturating_add(skip)
            }
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// Makes the next tick happen one period from now.
    pub fn reset(&mut self) {
        let next = self.sleep.now().saturating_add(self.period);
        self.sleep.reset(next);
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The policy for missed ticks.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the policy for missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

impl Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}
