//! `Sleep`: a future that completes at a deadline.

use super::Instant;
use crate::coop;
use crate::reactor::Reactor;
use crate::wheel::TimerKey;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// Waits for `duration` on the current reactor's clock (`asyncio.sleep`).
///
/// Huge durations (up to `Duration::MAX`) do not overflow: the deadline saturates about 30 years
/// ahead.
///
/// # Panics
/// Outside a reactor context ("must be used inside a ciranda runtime or
/// `ciranda_reactor::block_on`").
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda_reactor::block_on(async {
///     let start = std::time::Instant::now();
///     ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    let reactor = Reactor::current();
    let deadline = reactor.now().saturating_add(duration);
    Sleep::new(reactor, deadline)
}

/// Waits until `deadline` on the current reactor's clock.
///
/// # Panics
/// Outside a reactor context.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(Reactor::current(), deadline)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It holds its reactor (tasks may move between threads) and a slot in the reactor's timing
/// wheel while it waits; dropping it cancels the timer in O(1). `Sleep` is `Unpin`.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::time::{self, Instant, Sleep};
/// use std::time::Duration;
///
/// ciranda_reactor::block_on(async {
///     let mut s: Sleep = time::sleep(Duration::from_secs(60));
///     assert!(!s.is_elapsed());
///     s.reset(Instant::now() + Duration::from_millis(1));
///     (&mut s).await;
///     assert!(s.is_elapsed());
/// });
/// ```
pub struct Sleep {
    reactor: Reactor,
    deadline: Instant,
    key: Option<TimerKey>,
    elapsed: bool,
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

impl Sleep {
    pub(crate) fn new(reactor: Reactor, deadline: Instant) -> Sleep {
        Sleep {
            reactor,
            deadline,
            key: None,
            elapsed: false,
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Has the deadline been reached (as of the last poll, or now on the clock)?
    pub fn is_elapsed(&self) -> bool {
        self.elapsed || self.reactor.now() >= self.deadline
    }

    /// Moves the deadline (forwards or backwards); the sleep waits again.
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(key) = self.key.take() {
            self.reactor.cancel_timer(key);
        }
        self.deadline = deadline;
        self.elapsed = false;
    }

    /// Polls the deadline without consulting the cooperative budget.
    pub(crate) fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.elapsed {
            return Poll::Ready(());
        }
        ready!(
            self.reactor
                .poll_timer(&mut self.key, self.deadline.into_std(), cx)
        );
        self.elapsed = true;
        Poll::Ready(())
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.elapsed {
            ready!(coop::poll_proceed(cx));
        }
        this.poll_deadline(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.reactor.cancel_timer(key);
        }
    }
}
