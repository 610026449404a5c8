//! `Sleep`: a future that completes at a deadline.

use super::Instant;
use crate::coop;
use crate::reactor::{NO_REACTOR_TIMER, Reactor, ReactorRef};
use crate::wheel::TimerKey;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// Waits for `duration` on the current reactor's clock (`asyncio.sleep`).
///
/// Huge durations (up to `Duration::MAX`) do not overflow: the deadline saturates about 30 years
/// ahead. A deadline past the timer wheel's range (about 36 million years after the runtime
/// started, e.g. `Duration::from_millis(u64::MAX)`) is "never" too: a paused clock jumps to
/// the end of that range and fires it there.
///
/// The deadline is fixed now. Inside a runtime the sleep belongs to its reactor and clock;
/// made outside any runtime, it counts from now on the real clock and binds to the runtime
/// that first polls it, so `rt.block_on(sleep(d))` just works.
///
/// # Panics
/// When polled outside any runtime while still unbound; when polled after the runtime it
/// belongs to has shut down for good, or, once that runtime has shut down, polled outside a
/// `block_on` through one of its handles (see `Reactor`'s "Shut down"): it would never fire.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let start = std::time::Instant::now();
///     ciranda::time::sleep(Duration::from_millis(20)).await;
///     assert!(start.elapsed() >= Duration::from_millis(20));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    match Reactor::with_current(|r| (r.object_ref(), r.now())) {
        Some((reactor, now)) => Sleep::new(Some(reactor), now.saturating_add(duration)),
        None => Sleep::new(None, Instant::now().saturating_add(duration)),
    }
}

/// Waits until `deadline` on the current reactor's clock (bound as [`sleep`] says).
///
/// # Panics
/// As [`sleep`].
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new_current(deadline)
}

/// The future returned by [`sleep`] and [`sleep_until`].
///
/// It holds its reactor (tasks may move between threads) and a slot in the reactor's timing
/// wheel while it waits; dropping it cancels the timer in O(1). `Sleep` is `Unpin`. One made
/// outside any runtime binds to the reactor of the thread that first polls it.
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, Instant, Sleep};
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let mut s: Sleep = time::sleep(Duration::from_secs(60));
///     assert!(!s.is_elapsed());
///     s.reset(Instant::now() + Duration::from_millis(1));
///     (&mut s).await;
///     assert!(s.is_elapsed());
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping a `Sleep` removes its timer and loses nothing else: a new [`sleep_until`] with the same
/// [`deadline`](Sleep::deadline) resumes the wait.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    /// `None` until bound (made outside any runtime and not polled yet).
    reactor: Option<ReactorRef>,
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
    /// A sleep bound to the current reactor if there is one, else unbound.
    pub(crate) fn new_current(deadline: Instant) -> Sleep {
        Sleep::new(Reactor::with_current(Reactor::object_ref), deadline)
    }

    pub(crate) fn new(reactor: Option<ReactorRef>, deadline: Instant) -> Sleep {
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
        self.elapsed || self.now() >= self.deadline
    }

    /// Has the runtime's timer wheel fired this sleep? True once the wheel, turning past the
    /// deadline, has woken (or is waking) the task that last polled the sleep, or once a poll
    /// returned `Ready`.
    ///
    /// Unlike [`is_elapsed`](Sleep::is_elapsed) it reads no clock: one atomic load. It is what a
    /// future that polls a `Sleep` on every one of its own polls can ask first: while it is
    /// `false` and the sleep was last polled with the same waker and not reset since, that
    /// waker is still queued in the wheel and will be woken, so the poll can be skipped. A
    /// sleep whose deadline passed but that the wheel has not reached yet (the runtime moves it
    /// when it turns its reactor), or that was never polled, or reset since its last poll, has
    /// not fired. (A [`reset`](Sleep::reset) to a deadline that has passed wakes the waker at
    /// once and leaves nothing queued: poll after a reset.)
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::time::{self, Instant};
    /// use std::time::Duration;
    ///
    /// ciranda::run(async {
    ///     let mut s = time::sleep(Duration::from_millis(1));
    ///     assert!(!s.has_fired()); // not polled yet: no timer in the wheel
    ///     (&mut s).await;
    ///     assert!(s.has_fired());
    ///     s.reset(Instant::now() + Duration::from_secs(60));
    ///     assert!(!s.has_fired());
    /// });
    /// ```
    pub fn has_fired(&self) -> bool {
        if self.elapsed {
            return true;
        }
        match (&self.key, &self.reactor) {
            (Some(key), Some(reactor)) => reactor.timer_fired(*key),
            _ => false,
        }
    }

    /// The clock of the reactor this sleep belongs to (the current one, or the real clock,
    /// while unbound).
    pub(crate) fn now(&self) -> Instant {
        match &self.reactor {
            Some(reactor) => reactor.now(),
            None => Instant::now(),
        }
    }

    /// Moves the deadline (forwards or backwards); the sleep waits again.
    ///
    /// A sleep that is waiting keeps the waker of its last poll for the new deadline: that task
    /// is woken when the new deadline comes (at once, if it has passed) even if it does not
    /// poll the sleep again meanwhile (it may wait on something else first). A sleep that has
    /// completed or was never polled holds no waker; its next poll registers one.
    pub fn reset(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.elapsed = false;
        if let Some(reactor) = &self.reactor {
            reactor.reset_timer(&mut self.key, deadline.into_std());
        }
    }

    fn cancel(&mut self) {
        if let (Some(key), Some(reactor)) = (self.key.take(), &self.reactor) {
            reactor.cancel_timer(key);
        }
    }

    /// Polls the deadline without consulting the cooperative budget.
    ///
    /// # Panics
    /// See [`sleep`].
    pub(crate) fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.elapsed {
            return Poll::Ready(());
        }
        let reactor = match &self.reactor {
            Some(reactor) => reactor,
            None => self.reactor.insert(
                Reactor::with_current(Reactor::object_ref)
                    .unwrap_or_else(|| panic!("{NO_REACTOR_TIMER}")),
            ),
        };
        match ready!(reactor.poll_timer(&mut self.key, self.deadline.into_std(), cx)) {
            Ok(()) => {
                self.elapsed = true;
                Poll::Ready(())
            }
            Err(gone) => panic!("{}", gone.0),
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.elapsed {
            return Poll::Ready(());
        }
        // Not due, the unit goes back: spent, it would make a task that polls many pending
        // timers at once refuse the rest, wake itself and spin (and keep a paused clock from
        // ever jumping) instead of sleeping.
        coop::proceed(cx, |cx| this.poll_deadline(cx))
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}
