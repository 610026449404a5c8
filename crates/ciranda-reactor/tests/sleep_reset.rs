#![cfg(not(loom))]
//! `Sleep::reset` keeps the waker of the sleep's last poll registered for the new deadline, as
//! Tokio does: a task that resets a sleep and then waits on something else, without polling
//! the sleep again, is woken at the new deadline. It used to drop the waker until the next poll,
//! and such a task was never woken.

use ciranda_reactor::time::{self, Instant, Sleep};
use ciranda_reactor::{Reactor, block_on};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter() -> (Arc<CountWake>, Waker) {
    let count = Arc::new(CountWake(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (count, waker)
}

/// Polls `sleep` once with `waker`.
fn poll_with(sleep: &mut Sleep, waker: &Waker) -> Poll<()> {
    Pin::new(sleep).poll(&mut Context::from_waker(waker))
}

fn wakes(count: &CountWake) -> usize {
    count.0.load(Ordering::SeqCst)
}

fn paused() -> Reactor {
    Reactor::builder().start_paused(true).build().unwrap()
}

/// Runs `f` on a thread and fails if it does not finish within a minute.
fn within_a_minute(f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        f();
        done.send(()).unwrap();
    });
    match finished.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => thread.join().unwrap(),
        // The thread panicked (its assertion is reported by the join) or hangs.
        Err(mpsc::RecvTimeoutError::Disconnected) => thread.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("not woken at the new deadline"),
    }
}

/// Once `waiter` has polled `sleep` (it says so on `was_polled`) and settled in the poller,
/// resets the sleep to 20 ms from now from this thread, and expects `waiter` to finish within
/// a minute, not before the new deadline.
fn reset_to_20ms_and_join(
    sleep: &Mutex<Option<Sleep>>,
    was_polled: &mpsc::Receiver<()>,
    waiter: std::thread::JoinHandle<()>,
) {
    was_polled.recv_timeout(Duration::from_secs(60)).unwrap();
    // Let the waiting thread settle in the poller.
    std::thread::sleep(Duration::from_millis(50));
    let reset_at = std::time::Instant::now();
    sleep
        .lock()
        .unwrap()
        .as_mut()
        .unwrap()
        .reset(Instant::now() + Duration::from_millis(20));
    within_a_minute(move || waiter.join().unwrap());
    assert!(
        reset_at.elapsed() >= Duration::from_millis(20),
        "woken early"
    );
}

#[test]
fn a_reset_sleep_wakes_its_last_waker_at_the_new_deadline_without_another_poll() {
    let reactor = paused();
    let _entered = reactor.enter();
    let (count, waker) = counter();
    let mut sleep = time::sleep(Duration::from_secs(3600));
    assert!(poll_with(&mut sleep, &waker).is_pending());
    sleep.reset(Instant::now() + Duration::from_millis(10));
    // Not polled again.
    assert_eq!(reactor.advance_clock(Duration::from_millis(5)), 0);
    assert_eq!(wakes(&count), 0, "woken before the new deadline");
    assert_eq!(reactor.advance_clock(Duration::from_millis(10)), 1);
    assert_eq!(wakes(&count), 1, "not woken at the new deadline");
    assert!(sleep.has_fired());
    assert!(poll_with(&mut sleep, &waker).is_ready());
    // Nothing is left in the wheel: the old deadline wakes nobody.
    assert_eq!(reactor.advance_clock(Duration::from_secs(3600)), 0);
    assert_eq!(wakes(&count), 1);
}

#[test]
fn a_sleep_reset_later_is_not_woken_at_its_old_deadline() {
    let reactor = paused();
    let _entered = reactor.enter();
    let (count, waker) = counter();
    let mut sleep = time::sleep(Duration::from_millis(10));
    assert!(poll_with(&mut sleep, &waker).is_pending());
    sleep.reset(Instant::now() + Duration::from_secs(60));
    assert_eq!(reactor.advance_clock(Duration::from_millis(20)), 0);
    assert_eq!(wakes(&count), 0, "woken at the old deadline");
    assert_eq!(reactor.advance_clock(Duration::from_secs(60)), 1);
    assert_eq!(wakes(&count), 1, "not woken at the new deadline");
}

#[test]
fn a_sleep_reset_to_a_passed_deadline_wakes_its_waker_at_once() {
    let reactor = paused();
    let _entered = reactor.enter();
    let (count, waker) = counter();
    let mut sleep = time::sleep(Duration::from_secs(3600));
    assert!(poll_with(&mut sleep, &waker).is_pending());
    let start = Instant::now();
    reactor.advance_clock(Duration::from_secs(1));
    sleep.reset(start);
    assert_eq!(wakes(&count), 1, "a passed deadline did not wake the waker");
    assert!(sleep.is_elapsed());
    assert!(poll_with(&mut sleep, &waker).is_ready());
    assert_eq!(reactor.advance_clock(Duration::from_secs(3600)), 0);
    assert_eq!(wakes(&count), 1);
}

/// A sleep that completed, or was never polled, holds no waker: a reset queues nothing.
#[test]
fn a_completed_or_unpolled_sleep_holds_no_waker_after_a_reset() {
    let reactor = paused();
    let _entered = reactor.enter();
    let (count, waker) = counter();
    let mut never_polled = time::sleep(Duration::from_millis(10));
    never_polled.reset(Instant::now() + Duration::from_millis(20));
    let mut done = time::sleep(Duration::from_millis(10));
    assert!(poll_with(&mut done, &waker).is_pending());
    assert_eq!(reactor.advance_clock(Duration::from_millis(10)), 1);
    assert!(poll_with(&mut done, &waker).is_ready());
    done.reset(Instant::now() + Duration::from_millis(10));
    assert_eq!(reactor.advance_clock(Duration::from_secs(1)), 0);
    assert_eq!(wakes(&count), 1);
    assert!(poll_with(&mut done, &waker).is_ready());
    assert!(poll_with(&mut never_polled, &waker).is_ready());
}

/// The task's shape: poll a far sleep, reset it near, then wait on something else (here:
/// nothing but the wake-up). On a paused clock `block_on` jumps to the new deadline only if
/// the wheel holds it; the old code left the wheel empty and `block_on` waited for ever.
#[test]
fn a_task_that_resets_a_sleep_and_waits_elsewhere_is_woken_paused_clock() {
    within_a_minute(|| {
        let reactor = paused();
        let _entered = reactor.enter();
        let mut sleep = time::sleep(Duration::from_secs(3600));
        let start = Instant::now();
        let mut polls = 0;
        block_on(poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                assert!(Pin::new(&mut sleep).poll(cx).is_pending());
                sleep.reset(start + Duration::from_millis(250));
                return Poll::Pending;
            }
            Poll::Ready(())
        }));
        assert_eq!(start.elapsed(), Duration::from_millis(250));
    });
}

/// The same on the real clock, with the reset made by another thread while the polling thread
/// waits in the poller with no deadline but the old one (an hour): the reset must also cut
/// that wait short.
#[test]
fn a_sleep_reset_from_another_thread_wakes_the_waiting_task_real_clock() {
    let sleep = Arc::new(Mutex::new(None::<Sleep>));
    let (polled, was_polled) = mpsc::channel();
    let waiter = {
        let sleep = sleep.clone();
        std::thread::spawn(move || {
            let mut first = true;
            block_on(poll_fn(|cx| {
                if !first {
                    return Poll::Ready(());
                }
                first = false;
                let mut slot = sleep.lock().unwrap();
                let s = slot.insert(time::sleep(Duration::from_secs(3600)));
                assert!(Pin::new(s).poll(cx).is_pending());
                polled.send(()).unwrap();
                Poll::Pending
            }));
        })
    };
    reset_to_20ms_and_join(&sleep, &was_polled, waiter);
}

/// After its runtime shut down (`set_runtime_shut_down`), a reactor is still driven by the
/// threads that entered it (a `block_on` through a handle), and a sleep polled there holds that
/// thread's waker. A reset from a thread that does not drive the reactor used to remove the
/// entry and drop that waker without waking it, as if the resetting thread were the one to
/// wait: the waiter was woken neither at the new deadline nor at the old one.
#[test]
fn a_reset_from_outside_a_shut_down_runtime_keeps_the_waker_of_a_thread_that_drives_it() {
    let reactor = paused();
    reactor.set_runtime_shut_down();
    let (count, waker) = counter();
    let mut sleep = {
        let _entered = reactor.enter();
        let mut sleep = time::sleep(Duration::from_secs(3600));
        assert!(poll_with(&mut sleep, &waker).is_pending());
        sleep
    };
    // No reactor entered here: this thread could not wait on the sleep itself.
    sleep.reset(reactor.now() + Duration::from_millis(10));
    assert_eq!(wakes(&count), 0, "woken before the new deadline");
    assert_eq!(reactor.advance_clock(Duration::from_millis(10)), 1);
    assert_eq!(wakes(&count), 1, "not woken at the new deadline");
    {
        let _entered = reactor.enter();
        assert!(poll_with(&mut sleep, &waker).is_ready());
    }
    // A poll on a thread that cannot wait still fails, whoever reset the sleep in between.
    {
        let _entered = reactor.enter();
        sleep.reset(reactor.now() + Duration::from_secs(60));
        assert!(poll_with(&mut sleep, &waker).is_pending());
    }
    sleep.reset(reactor.now() + Duration::from_secs(120));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        poll_with(&mut sleep, &waker)
    }));
    assert!(
        polled.is_err(),
        "a poll outside the shut-down runtime waited"
    );
}

/// The same with a real `block_on` on the real clock: it waits in the poller for its sleep's
/// hour while another thread, outside the runtime, resets the sleep to 20 ms. The old code
/// dropped the `block_on`'s waker and left it waiting for the hour.
#[test]
fn a_block_on_after_shutdown_is_woken_at_a_deadline_reset_from_outside() {
    let reactor = Reactor::new().unwrap();
    reactor.set_runtime_shut_down();
    let sleep = Arc::new(Mutex::new(None::<Sleep>));
    let (polled, was_polled) = mpsc::channel();
    let waiter = {
        let sleep = sleep.clone();
        let reactor = reactor.clone();
        std::thread::spawn(move || {
            let _entered = reactor.enter();
            block_on(poll_fn(|cx| {
                let mut slot = sleep.lock().unwrap();
                let first = slot.is_none();
                let s = slot.get_or_insert_with(|| time::sleep(Duration::from_secs(3600)));
                let poll = Pin::new(s).poll(cx);
                if first {
                    assert!(poll.is_pending());
                    polled.send(()).unwrap();
                }
                poll
            }));
        })
    };
    reset_to_20ms_and_join(&sleep, &was_polled, waiter);
}
