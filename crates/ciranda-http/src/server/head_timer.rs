//! `HeadTimer`: hyper's HTTP/1.1 header-read timer for one server connection, on one ciranda
//! sleep that moves only when it fires.
//!
//! hyper makes a new sleep as each request head starts and drops it once the head is parsed,
//! so on [`CirandaTimer`](crate::rt::CirandaTimer) every keep-alive request inserts a timer
//! into the runtime's wheel and removes it again, under the wheel's lock, which every worker
//! shares. One connection's deadlines only move later (each is "now + header_read_timeout"),
//! so one sleep per connection, armed at the earliest deadline still wanted, serves them all:
//! a later deadline is picked up when that sleep fires, about once per timeout period instead
//! of twice per request. A poll that finds the sleep armed with this task's waker and not yet
//! fired costs an atomic load and an uncontended lock.
//!
//! All sleeps of one `HeadTimer` must be polled by one task (hyper's connection task): the
//! shared sleep holds one waker.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::armed_sleep::ArmedSleep;
use ciranda::time::Instant;

/// hyper's [`Timer`](hyper::rt::Timer) for one server connection; see the module's docs.
#[derive(Clone, Default)]
pub(super) struct HeadTimer {
    shared: Arc<Mutex<Shared>>,
}

/// The connection's one sleep.
#[derive(Default)]
struct Shared {
    /// Armed at its own deadline, the earliest of the deadlines wanted since it last fired.
    sleep: Option<ArmedSleep>,
}

/// One of hyper's sleeps: done when `deadline` has passed.
struct HeadSleep {
    deadline: Instant,
    shared: Arc<Mutex<Shared>>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        let sleep = match &mut shared.sleep {
            Some(sleep) if sleep.deadline() <= deadline => sleep,
            // No sleep yet, or armed later than we need: (re)arm at our deadline.
            slot => slot.insert(ArmedSleep::until(deadline)),
        };
        loop {
            ready!(sleep.poll_due(cx));
            if sleep.deadline() >= deadline {
                return Poll::Ready(());
            }
            // It fired for an earlier request's deadline: move it to ours.
            sleep.reset(deadline);
        }
    }
}

impl hyper::rt::Sleep for HeadSleep {}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            deadline: Instant::now().saturating_add(duration),
            shared: self.shared.clone(),
        })
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            deadline: Instant::from_std(deadline),
            shared: self.shared.clone(),
        })
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<HeadSleep>() {
            Some(mut ours) => ours.deadline = Instant::from_std(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::rt::Timer;
    use std::future::poll_fn;

    fn paused() -> ciranda::Runtime {
        ciranda::Runtime::builder()
            .start_paused(true)
            .build()
            .unwrap()
    }

    #[test]
    fn each_sleep_ends_at_its_own_deadline_on_one_shared_sleep() {
        paused().block_on(async {
            let timer = HeadTimer::default();
            let t0 = timer.now();
            // Armed at 10 s, then dropped before it fires (a head that arrived in time).
            let mut first = timer.sleep_until(t0 + Duration::from_secs(10));
            poll_fn(|cx| {
                assert!(first.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            drop(first);
            // The next head's deadline is later: the shared sleep fires at 10 s for nobody and
            // must not end this one early.
            timer.sleep_until(t0 + Duration::from_secs(25)).await;
            assert_eq!(timer.now() - t0, Duration::from_secs(25));
            // An earlier deadline than the one armed re-arms it earlier.
            let mut later = timer.sleep_until(t0 + Duration::from_secs(100));
            poll_fn(|cx| {
                assert!(later.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            timer.sleep(Duration::from_secs(5)).await;
            assert_eq!(timer.now() - t0, Duration::from_secs(30));
            later.await;
            assert_eq!(timer.now() - t0, Duration::from_secs(100));
        });
    }

    #[test]
    fn reset_moves_the_deadline_either_way() {
        paused().block_on(async {
            let timer = HeadTimer::default();
            let t0 = timer.now();
            let mut s = timer.sleep_until(t0 + Duration::from_secs(50));
            timer.reset(&mut s, t0 + Duration::from_secs(3));
            s.as_mut().await;
            assert_eq!(timer.now() - t0, Duration::from_secs(3));
            timer.reset(&mut s, t0 + Duration::from_secs(8));
            s.await;
            assert_eq!(timer.now() - t0, Duration::from_secs(8));
        });
    }

    #[test]
    fn a_first_poll_with_no_budget_left_still_queues_the_waker() {
        paused().block_on(async {
            let timer = HeadTimer::default();
            let t0 = timer.now();
            let mut s = timer.sleep_until(t0 + Duration::from_secs(7));
            let mut first = true;
            let waited = ciranda::time::timeout(
                Duration::from_secs(3600),
                poll_fn(|cx| {
                    if std::mem::take(&mut first) {
                        // The task's budget is spent, as after a long run of ready operations.
                        ciranda_coop::with_budget(0, || s.as_mut().poll(cx))
                    } else {
                        s.as_mut().poll(cx)
                    }
                }),
            )
            .await;
            assert!(waited.is_ok(), "the sleep never woke its task");
            assert_eq!(timer.now() - t0, Duration::from_secs(7));
        });
    }
}
