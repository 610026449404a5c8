//! `timeout`: a deadline around any future.

use super::{Instant, Sleep};
use crate::coop;

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs `future` with a time limit (`asyncio.wait_for` / `asyncio.timeout`).
///
/// The inner future is polled once before the deadline is looked at: with
/// `Duration::ZERO` the result is `Ok` only if the future is ready on its first poll. On expiry
/// the inner future is dropped (cancelled) when the `Timeout` is. A poll that finds the task's
/// cooperative budget already spent does not count: ciranda's futures inside refuse to complete
/// then, so the `Timeout` yields and looks again with a fresh budget (a
/// `timeout(Duration::ZERO, rx.recv())` drain loop does not stop at the budget's end).
///
/// The deadline is fixed now, on the current reactor's clock (the real clock outside any
/// runtime). The timer itself is set up only if the inner future has to wait, on the reactor
/// of the thread polling it: a `Timeout` around a future that is ready at once costs one clock
/// read, and writes no memory shared with other threads (no reactor handle is cloned), so such
/// calls scale across workers.
///
/// # Panics
/// When the inner future returns `Pending` and the timer has to be set up outside any runtime
/// (await a `Timeout` inside `ciranda::run`, `Runtime::block_on` or `#[ciranda::main]`), or
/// on a runtime that has shut down for good (see [`sleep`](super::sleep)).
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, Elapsed};
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let slow = time::sleep(Duration::from_secs(10));
///     let r: Result<(), Elapsed> = time::timeout(Duration::from_millis(5), slow).await;
///     assert!(r.is_err());
///     assert_eq!(time::timeout(Duration::ZERO, async { 1 }).await, Ok(1));
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        deadline: Instant::now().saturating_add(duration),
        sleep: None,
    }
}

/// Like [`timeout`] with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future,
        deadline,
        sleep: None,
    }
}

/// The future returned by [`timeout`] and [`timeout_at`].
///
/// # Examples
///
/// ```
/// use ciranda::time::{timeout, Timeout};
/// use std::future::Ready;
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let t: Timeout<Ready<u8>> = timeout(Duration::from_secs(1), std::future::ready(7));
///     assert_eq!(t.await, Ok(7));
/// });
/// ```
///
/// # Cancel safety
///
/// A `Timeout` owns its future: dropping it drops that future, so what is lost is what the inner
/// future's own cancel safety says (nothing for a channel's `recv`, the place in the queue for
/// `Mutex::lock`). When the deadline passes first, the inner future is not polled again.
#[must_use = "futures do nothing unless polled"]
pub struct Timeout<F> {
    future: F,
    deadline: Instant,
    /// Set up the first time the inner future is pending.
    sleep: Option<Sleep>,
}

impl<F: fmt::Debug> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("future", &self.future)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.future
    }

    /// The inner future, by value (the timer is cancelled).
    pub fn into_inner(self) -> F {
        self.future
    }

    /// The deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `future`: it is never moved out of a pinned `Timeout`
        // (`into_inner` takes `self` by value, which a pinned `!Unpin` value cannot give), the
        // `Drop` of `Timeout` is the automatic one, and `Timeout` is `Unpin` only when `F` is
        // (auto trait). `sleep` is `Unpin` and is only reached through `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` stays pinned for the life of the `Timeout`.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        // Spent before the inner future was even polled: its leaf futures refuse to complete
        // (however ready they are), so its `Pending` says nothing, and a deadline that has
        // passed (`Duration::ZERO`) must not turn that refusal into `Elapsed`.
        let budget_spent_before = coop::remaining() == Some(0);
        if let Poll::Ready(out) = future.poll(cx) {
            return Poll::Ready(Ok(out));
        }
        if budget_spent_before {
            // Yield instead, as a refused leaf does (the task is woken and polled again with
            // a fresh budget), so the inner future gets a real poll before the deadline is
            // looked at. The yield is a refusal of the budget's: code that polls in place
            // (a foreign `block_on` in a task) gets the budget refilled after enough of
            // them, and then the deadline is looked at instead of yielding for ever.
            if coop::poll_proceed(cx).is_pending() {
                return Poll::Pending;
            }
            coop::refund(); // refilled: nothing was spent here
        }
        let deadline = this.deadline;
        // Bound to the polling thread's reactor by its first poll.
        let sleep = this.sleep.get_or_insert_with(|| Sleep::new(None, deadline));
        // The deadline does not consult the budget: a future that used the budget up in this
        // poll must still be able to time out.
        match sleep.poll_deadline(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed(()))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The error of a [`Timeout`] whose deadline passed first.
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, Elapsed};
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let e: Elapsed = time::timeout(Duration::ZERO, std::future::pending::<()>())
///         .await
///         .unwrap_err();
///     assert_eq!(e.to_string(), "deadline has elapsed");
///     let io: std::io::Error = e.into();
///     assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}
