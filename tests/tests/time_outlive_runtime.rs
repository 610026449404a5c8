//! Timers that outlive their runtime (issue 15, item 5).
//!
//! A timer belongs to the reactor of the runtime it was made in. Once that runtime is dropped
//! and no `Handle` of it is left, no thread can ever drive its clock again: before the fix, a
//! `sleep` awaited in another runtime then never completed. Now the reactor shuts down when
//! its last handle goes; a waiting timer is woken and panics with a message saying what
//! happened, and one polled later panics at once (one whose deadline has already passed
//! completes: it needs no clock). A `timeout` sets its timer on the runtime that polls it, so
//! it completes there. Each test runs under a hang detector.

use ciranda::Runtime;
use ciranda::time::{Duration, interval, sleep, timeout};
use ciranda_tests::support::{panic_message, within};
use std::sync::mpsc;

const GONE: &str = "belongs to a runtime that has been shut down";

fn runtime(workers: usize) -> Runtime {
    Runtime::builder().worker_threads(workers).build().unwrap()
}

#[test]
fn a_sleep_from_a_dropped_runtime_fails_at_once_in_another() {
    for workers in [1, 2] {
        let message = within(20, "sleep after its runtime", move || {
            let a = runtime(workers);
            // Long enough that completing would be wrong (a due timer may complete).
            let s = {
                let _entered = a.enter();
                sleep(Duration::from_secs(3600))
            };
            drop(a);
            let b = runtime(1);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.block_on(s)));
            panic_message(&*r.expect_err("the sleep must fail, not complete"))
        });
        assert!(message.contains(GONE), "{message}");
    }
}

#[test]
fn a_sleep_waiting_in_another_runtime_fails_when_its_runtime_is_dropped() {
    let message = within(20, "sleep while its runtime goes", || {
        let a = runtime(1);
        let s = {
            let _entered = a.enter();
            sleep(Duration::from_secs(3600))
        };
        let b = runtime(1);
        let (started_tx, started_rx) = mpsc::channel();
        let task = b.spawn(async move {
            let mut s = std::pin::pin!(s);
            // Registered in A's wheel before A goes.
            std::future::poll_fn(|cx| {
                let _ = std::future::Future::poll(s.as_mut(), cx);
                std::task::Poll::Ready(())
            })
            .await;
            started_tx.send(()).unwrap();
            s.await;
        });
        started_rx.recv().unwrap();
        drop(a);
        let err = b.block_on(task).expect_err("the waiting sleep must fail");
        err.panic_message().unwrap_or_default().to_string()
    });
    assert!(message.contains(GONE), "{message}");
}

#[test]
fn an_interval_from_a_dropped_runtime_fails_at_its_first_wait() {
    let message = within(20, "interval after its runtime", || {
        let a = runtime(1);
        let mut iv = {
            let _entered = a.enter();
            interval(Duration::from_secs(3600))
        };
        drop(a);
        let b = runtime(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            b.block_on(async {
                // The first tick is due at once and needs no clock; the second waits an hour.
                iv.tick().await;
                iv.tick().await;
            })
        }));
        panic_message(&*r.expect_err("the second tick must fail"))
    });
    assert!(message.contains(GONE), "{message}");
}

#[test]
fn a_timeout_from_a_dropped_runtime_sets_its_timer_on_the_runtime_polling_it() {
    within(20, "timeout after its runtime", || {
        let a = runtime(1);
        let t = {
            let _entered = a.enter();
            timeout(Duration::from_millis(20), std::future::pending::<()>())
        };
        drop(a);
        let b = runtime(1);
        assert!(b.block_on(t).is_err(), "expires on B's clock");
    });
}

#[test]
fn while_a_handle_lives_its_block_on_still_drives_the_timers() {
    // The reactor shuts down only when nothing can drive it: a `Handle` can.
    within(20, "sleep through a handle", || {
        let a = runtime(1);
        let handle = a.handle();
        let start = std::time::Instant::now();
        let s = {
            let _entered = a.enter();
            sleep(Duration::from_millis(20))
        };
        drop(a);
        handle.block_on(s);
        assert!(start.elapsed() >= std::time::Duration::from_millis(20));
    });
}

static KEPT_WAKERS: std::sync::Mutex<Vec<std::task::Waker>> = std::sync::Mutex::new(Vec::new());

/// Stores a task waker of `rt` where it outlives `rt` (as a static sync primitive's waiter
/// list would): it keeps the scheduler's shared state, and with it the parking hook, alive.
fn keep_a_task_waker_of(rt: &Runtime) {
    let task = rt.spawn(std::future::poll_fn(|cx| {
        KEPT_WAKERS.lock().unwrap().push(cx.waker().clone());
        std::task::Poll::Ready(())
    }));
    rt.block_on(task).unwrap();
}

#[test]
fn a_sleep_of_a_dropped_runtime_fails_while_a_task_waker_of_it_is_kept() {
    let message = within(20, "sleep after its runtime, a task waker kept", || {
        let a = runtime(1);
        keep_a_task_waker_of(&a);
        let s = {
            let _entered = a.enter();
            sleep(Duration::from_secs(3600))
        };
        drop(a);
        let b = runtime(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.block_on(s)));
        panic_message(&*r.expect_err("the sleep must fail, not complete"))
    });
    assert!(message.contains(GONE), "{message}");
    // The reactor itself shut down (its last handle went), not just the runtime.
    assert!(message.contains("no thread will ever drive"), "{message}");
}

#[test]
fn a_sleep_of_a_dropped_runtime_fails_in_another_while_a_handle_of_it_lives() {
    within(20, "sleep after its runtime, a handle kept", || {
        let a = runtime(1);
        let handle = a.handle();
        let start = std::time::Instant::now();
        let (s, later) = {
            let _entered = a.enter();
            (
                sleep(Duration::from_secs(3600)),
                sleep(Duration::from_millis(20)),
            )
        };
        drop(a);
        let b = runtime(1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.block_on(s)));
        let message = panic_message(&*r.expect_err("the sleep must fail, not complete"));
        assert!(message.contains(GONE), "{message}");
        // The handle's own `block_on` still drives A's timers, old and new.
        handle.block_on(async {
            later.await;
            sleep(Duration::from_millis(10)).await;
        });
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
    });
}

#[test]
fn a_sleep_waiting_in_another_runtime_fails_when_its_runtime_shuts_down_under_a_live_handle() {
    let message = within(20, "waiting sleep, its runtime goes, a handle kept", || {
        let a = runtime(1);
        let handle = a.handle();
        let s = {
            let _entered = a.enter();
            sleep(Duration::from_secs(3600))
        };
        let b = runtime(1);
        let (started_tx, started_rx) = mpsc::channel();
        let task = b.spawn(async move {
            let mut s = std::pin::pin!(s);
            // Registered in A's wheel before A goes.
            std::future::poll_fn(|cx| {
                assert!(std::future::Future::poll(s.as_mut(), cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            started_tx.send(()).unwrap();
            s.await;
        });
        started_rx.recv().unwrap();
        drop(a);
        let err = b.block_on(task).expect_err("the waiting sleep must fail");
        drop(handle);
        err.panic_message().unwrap_or_default().to_string()
    });
    assert!(message.contains(GONE), "{message}");
}

/// After its runtime is dropped, a `Handle::block_on` still drives the reactor and may wait on
/// its timers. A sleep it waits on, reset from a thread outside the runtime, used to lose that
/// `block_on`'s waker (the reset removed the timer because the *resetting* thread could not
/// wait on the reactor): the `block_on` was woken neither at the new deadline nor at the old.
#[test]
fn a_handle_block_on_is_woken_at_a_deadline_reset_from_outside_after_its_runtime_is_dropped() {
    use ciranda::time::{Instant, Sleep};
    use std::sync::{Arc, Mutex};
    within(
        60,
        "block_on after its runtime, sleep reset from outside",
        || {
            let a = runtime(1);
            let handle = a.handle();
            drop(a);
            let shared = Arc::new(Mutex::new(None::<Sleep>));
            let (polled_tx, polled_rx) = mpsc::channel();
            let waiter = {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    handle.block_on(std::future::poll_fn(|cx| {
                        let mut slot = shared.lock().unwrap();
                        let first = slot.is_none();
                        let s = slot.get_or_insert_with(|| sleep(Duration::from_secs(3600)));
                        let poll = std::future::Future::poll(std::pin::Pin::new(s), cx);
                        if first {
                            assert!(poll.is_pending());
                            polled_tx.send(()).unwrap();
                        }
                        poll
                    }))
                })
            };
            polled_rx.recv().unwrap();
            let reset_at = std::time::Instant::now();
            let deadline = Instant::now() + Duration::from_millis(50);
            shared.lock().unwrap().as_mut().unwrap().reset(deadline);
            waiter.join().unwrap();
            assert!(
                reset_at.elapsed() >= Duration::from_millis(50),
                "woken early"
            );
        },
    );
}
