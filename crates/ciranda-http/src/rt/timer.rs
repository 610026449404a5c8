//! `CirandaTimer`: hyper's timeouts on ciranda's timer wheel and clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// hyper's [`Timer`](hyper::rt::Timer) on [`ciranda::time`]: header-read timeouts, HTTP/2
/// keep-alive pings and the client pool's idle expiry all run on the current runtime's timer
/// wheel and read its clock, so a runtime started paused (`#[ciranda::test(start_paused =
/// true)]`) drives hyper's timeouts in virtual time.
///
/// Deadlines hyper passes in are points on the clock `now()` returns (ciranda's clock, which
/// is the real clock unless paused).
///
/// # Panics
/// Creating a sleep outside a ciranda runtime panics, as [`ciranda::time::sleep`] does.
///
/// # Examples
///
/// ```
/// use ciranda_http::rt::CirandaTimer;
/// use hyper::rt::Timer;
/// use std::time::Duration;
///
/// let rt = ciranda::Runtime::builder().start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let start = CirandaTimer::new().now();
///     CirandaTimer::new().sleep(Duration::from_secs(3600)).await; // virtual: no waiting
///     assert!(CirandaTimer::new().now() - start >= Duration::from_secs(3600));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CirandaTimer {
    _private: (),
}

impl CirandaTimer {
    /// The timer (it has no state of its own: every sleep goes to the current runtime).
    pub fn new() -> Self {
        CirandaTimer { _private: () }
    }
}

/// A ciranda sleep seen through hyper's `Sleep` trait.
struct CirandaSleep(ciranda::time::Sleep);

impl Future for CirandaSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for CirandaSleep {}

impl hyper::rt::Timer for CirandaTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CirandaSleep(ciranda::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(CirandaSleep(ciranda::time::sleep_until(
            ciranda::time::Instant::from_std(deadline),
        )))
    }

    fn now(&self) -> Instant {
        ciranda::time::Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        // Reuse our own sleep (no new allocation); anything else is replaced.
        match sleep.as_mut().downcast_mut_pin::<CirandaSleep>() {
            Some(mut ours) => ours.0.reset(ciranda::time::Instant::from_std(new_deadline)),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;

    #[test]
    fn paused_clock_drives_sleeps_and_resets() {
        let rt = ciranda::Runtime::builder()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let timer = CirandaTimer::new();
            let t0 = timer.now();
            let mut s = timer.sleep(Duration::from_secs(10));
            // Moving the deadline earlier is honoured by the same boxed sleep.
            timer.reset(&mut s, t0 + Duration::from_secs(2));
            s.await;
            assert_eq!(timer.now() - t0, Duration::from_secs(2));
            timer.sleep_until(t0 + Duration::from_secs(5)).await;
            assert_eq!(timer.now() - t0, Duration::from_secs(5));
        });
    }
}
