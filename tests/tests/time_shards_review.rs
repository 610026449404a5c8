#![cfg(not(loom))]
//! Review of the timer shards (one wheel per worker): timers armed on threads that are not
//! workers (a plain thread inside `Runtime::enter`, the blocking pool, the `block_on` thread)
//! while a worker waits in the poller for a far timer of another wheel; paused-clock jumps
//! over timers of every wheel, exact to the deadline; a runtime dropped with timers pending in
//! every wheel.

use ciranda::Runtime;
use ciranda::time::{Instant, sleep};
use ciranda_tests::support::{panic_message, within};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

/// Wakes a parked plain thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` to completion on this (plain) thread, parking between polls: nobody but the
/// runtime's workers drives the reactor its timers live in.
fn park_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Generous: a lost notification waits for the 30 s timer.
const PROMPT: Duration = Duration::from_secs(5);

/// A worker waits in the poller for a 30 s timer of its own wheel; a 20 ms sleep armed on a
/// plain thread (in another wheel, picked round-robin) must end that wait.
#[test]
fn a_sleep_armed_on_a_plain_thread_ends_a_workers_longer_wait() {
    within(120, "plain-thread sleeps", || {
        for workers in [1, 2, 3] {
            let rt = Runtime::builder().worker_threads(workers).build().unwrap();
            let far = rt.spawn(sleep(Duration::from_secs(30)));
            for round in 0..10 {
                // Let the far timer arm and the workers go idle in the poller.
                std::thread::sleep(Duration::from_millis(5));
                let took = std::thread::scope(|s| {
                    s.spawn(|| {
                        let _entered = rt.enter();
                        let start = std::time::Instant::now();
                        park_on(sleep(Duration::from_millis(20)));
                        start.elapsed()
                    })
                    .join()
                    .unwrap()
                });
                assert!(
                    took >= Duration::from_millis(20) && took < PROMPT,
                    "{workers} workers, round {round}: the 20 ms sleep took {took:?}"
                );
            }
            far.abort();
        }
    });
}

/// Same, from the blocking pool (`Handle::block_on` on a blocking thread) and from several at
/// once, each in its own round-robin wheel.
#[test]
fn sleeps_armed_on_the_blocking_pool_end_a_workers_longer_wait() {
    within(120, "blocking-pool sleeps", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let far = rt.spawn(sleep(Duration::from_secs(30)));
        for round in 0..10u64 {
            std::thread::sleep(Duration::from_millis(5));
            let jobs: Vec<_> = (0..4u64)
                .map(|i| {
                    let handle = rt.handle();
                    rt.spawn_blocking(move || {
                        let want = Duration::from_millis(10 + (i * 7 + round) % 11);
                        let start = std::time::Instant::now();
                        handle.block_on(sleep(want));
                        (want, start.elapsed())
                    })
                })
                .collect();
            for job in jobs {
                let (want, took) = rt.block_on(job).unwrap();
                assert!(
                    took >= want && took < PROMPT,
                    "round {round}: a {want:?} sleep took {took:?}"
                );
            }
        }
        far.abort();
    });
}

/// A sleep armed (first polled) on a worker, then awaited on a plain thread with a new waker
/// while the worker that armed it waits in the poller bounded by it: the waker swap must not
/// lose the wake-up, whichever wheel the timer is in.
#[test]
#[allow(clippy::async_yields_async)]
fn a_sleep_armed_on_a_worker_wakes_a_plain_thread_that_awaits_it() {
    within(120, "moved sleeps", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let far = rt.spawn(sleep(Duration::from_secs(30)));
        for round in 0..20u64 {
            let armed = rt
                .block_on(rt.spawn(async move {
                    // Long enough to be still pending on the plain thread even when a loaded
                    // machine delays that thread's start (15 ms did not survive stress.sh).
                    let made = std::time::Instant::now();
                    let mut s = Box::pin(sleep(Duration::from_millis(250 + round % 5)));
                    let mut cx = Context::from_waker(Waker::noop());
                    assert!(s.as_mut().poll(&mut cx).is_pending());
                    (s, made)
                }))
                .unwrap();
            let (armed, made) = armed;
            let start = std::time::Instant::now();
            let (first_pending, age) = std::thread::spawn(move || {
                let mut armed = armed;
                let pending = {
                    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
                    armed
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending()
                };
                let age = made.elapsed();
                park_on(armed);
                (pending, age)
            })
            .join()
            .unwrap();
            // Still pending where it moved to: the waker swap is what the test exercises.
            assert!(
                first_pending,
                "round {round}: fired before it moved, {age:?} after it was made"
            );
            let took = start.elapsed();
            assert!(
                took < PROMPT,
                "round {round}: the moved sleep took {took:?}"
            );
        }
        far.abort();
    });
}

/// Paused clock: sleeps armed on the workers, on the `block_on` thread and on blocking
/// threads, with deadlines interleaved, each wake at exactly its deadline (the clock jumps to
/// the earliest deadline of all wheels, never past a pending one), in deadline order, and a
/// `time::advance` in the middle fires what it passes over and nothing more.
#[test]
fn paused_jumps_take_every_wheel_in_order_and_are_exact() {
    within(120, "paused jumps", || {
        for workers in [1, 2, 4] {
            let rt = Runtime::builder()
                .worker_threads(workers)
                .start_paused(true)
                .build()
                .unwrap();
            let log = Arc::new(Mutex::new(Vec::<(u64, Duration)>::new()));
            let handle = rt.handle();
            rt.block_on(async {
                let start = Instant::now();
                let mut tasks = Vec::new();
                // Workers: deadlines 3, 10, 17, ... ms.
                for i in 0..30u64 {
                    let log = log.clone();
                    let ms = 3 + i * 7;
                    tasks.push(ciranda::spawn(async move {
                        sleep(Duration::from_millis(ms)).await;
                        log.lock().unwrap().push((ms, start.elapsed()));
                    }));
                    ciranda::task::yield_now().await;
                }
                // Blocking threads: 5, 12, 19, ... ms (their wheels are picked round-robin).
                let mut blocking = Vec::new();
                for i in 0..6u64 {
                    let log = log.clone();
                    let handle = handle.clone();
                    let ms = 5 + i * 7;
                    blocking.push(ciranda::spawn_blocking(move || {
                        handle.block_on(sleep(Duration::from_millis(ms)));
                        log.lock().unwrap().push((ms, start.elapsed()));
                    }));
                }
                // The `block_on` thread: 1, 8, 15, ... ms, and an advance of 100 ms at 50 ms.
                for ms in (1..50u64).step_by(7) {
                    ciranda::time::sleep_until(start + Duration::from_millis(ms)).await;
                    log.lock().unwrap().push((ms, start.elapsed()));
                }
                ciranda::time::sleep_until(start + Duration::from_millis(50)).await;
                ciranda::time::advance(Duration::from_millis(100)).await;
                log.lock().unwrap().push((150, start.elapsed()));
                for task in tasks {
                    task.await.unwrap();
                }
                for job in blocking {
                    job.await.unwrap();
                }
            });
            let log = Arc::try_unwrap(log).unwrap().into_inner().unwrap();
            assert_eq!(log.len(), 30 + 6 + 7 + 1);
            for &(ms, at) in &log {
                let want = Duration::from_millis(ms);
                if ms <= 50 {
                    assert_eq!(
                        at, want,
                        "{workers} workers: the {ms} ms timer woke at {at:?}"
                    );
                } else {
                    // Passed over by the advance to 150 ms: woken then, not before.
                    assert_eq!(
                        at,
                        Duration::from_millis(150).max(want),
                        "{workers} workers: the {ms} ms timer woke at {at:?}"
                    );
                }
            }
            let mut by_time = log.clone();
            by_time.sort_by_key(|&(ms, at)| (at, ms));
            let order: Vec<u64> = by_time.iter().map(|&(ms, _)| ms).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "{workers} workers: out of deadline order");
        }
    });
}

const GONE: &str = "belongs to a runtime that has been shut down";

/// A runtime dropped with sleeps pending in every wheel: the sleeps awaited in another
/// runtime all fail (none completes, none hangs), and so does each armed sleep polled later.
#[test]
// The tasks hand their armed sleeps back to be awaited elsewhere, on purpose.
#[allow(clippy::async_yields_async)]
fn a_runtime_dropped_with_timers_in_every_wheel_fails_them_all() {
    ciranda_tests::support::quiet_expected_panics(GONE);
    within(120, "timers of a dropped runtime", || {
        for workers in [2, 4] {
            let a = Runtime::builder().worker_threads(workers).build().unwrap();
            // Armed on a's workers (their wheels) and on plain threads (round-robin wheels).
            let mut armed = Vec::new();
            for i in 0..4 * workers as u64 {
                let s = a
                    .block_on(a.spawn(async move {
                        let mut s = Box::pin(sleep(Duration::from_secs(3600 + i)));
                        let mut cx = Context::from_waker(Waker::noop());
                        assert!(s.as_mut().poll(&mut cx).is_pending());
                        s
                    }))
                    .unwrap();
                armed.push(s);
            }
            for i in 0..4u64 {
                let s = std::thread::scope(|sc| {
                    sc.spawn(|| {
                        let _entered = a.enter();
                        let mut s = Box::pin(sleep(Duration::from_secs(7200 + i)));
                        let mut cx = Context::from_waker(Waker::noop());
                        assert!(s.as_mut().poll(&mut cx).is_pending());
                        s
                    })
                    .join()
                    .unwrap()
                });
                armed.push(s);
            }
            let n = armed.len();
            // Half are awaited in runtime b (waiting when a goes), half are polled afterwards.
            let b = Runtime::builder().worker_threads(2).build().unwrap();
            let (started_tx, started_rx) = std::sync::mpsc::channel();
            let mut waiting = Vec::new();
            let mut later = Vec::new();
            for (i, s) in armed.into_iter().enumerate() {
                if i % 2 == 0 {
                    let started_tx = started_tx.clone();
                    waiting.push(b.spawn(async move {
                        let mut s = s;
                        std::future::poll_fn(|cx| {
                            let _ = s.as_mut().poll(cx);
                            Poll::Ready(())
                        })
                        .await;
                        started_tx.send(()).unwrap();
                        s.await;
                    }));
                } else {
                    later.push(s);
                }
            }
            for _ in 0..waiting.len() {
                started_rx.recv().unwrap();
            }
            drop(a);
            let mut failed = 0;
            for task in waiting {
                let err = b.block_on(task).expect_err("a waiting sleep completed");
                let message = err.panic_message().unwrap_or_default().to_string();
                assert!(message.contains(GONE), "{message}");
                failed += 1;
            }
            for s in later {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.block_on(s)));
                let message = panic_message(&*r.expect_err("a later sleep completed"));
                assert!(message.contains(GONE), "{message}");
                failed += 1;
            }
            assert_eq!(failed, n);
        }
    });
}

/// Many plain threads at once (each its own round-robin wheel), each sleeping short and
/// cancelling sleeps armed on the others, while the workers sit in the poller bounded by a far
/// timer: every sleep ends at or after its deadline, and none waits for the far timer.
#[test]
fn concurrent_plain_threads_arm_and_cancel_in_every_wheel() {
    within(120, "concurrent plain-thread sleeps", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let far = rt.spawn(sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(5));
        let handed = Mutex::new(Vec::new());
        let worst = worst_across_threads(0..6, |t| {
            let _entered = rt.enter();
            let mut worst = Duration::ZERO;
            for i in 0..40u64 {
                // One armed here, cancelled on whichever thread takes it (long: it must still
                // be pending when polled, on a loaded machine too).
                let mut spare = Box::pin(sleep(Duration::from_secs(10 + i % 3)));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(spare.as_mut().poll(&mut cx).is_pending());
                let other = {
                    let mut handed = handed.lock().unwrap();
                    handed.push(spare);
                    if handed.len() > 3 { handed.pop() } else { None }
                };
                drop(other);
                let want = Duration::from_millis(1 + (i + t) % 4);
                worst = worst.max(lateness(want, || park_on(sleep(want))));
            }
            worst
        });
        assert!(worst < PROMPT, "a sleep ended {worst:?} late");
        far.abort();
    });
}

/// After the runtime is dropped, `Handle::block_on` threads drive the reactor themselves:
/// one waits for a message under a 30 s timeout (its timer bounds its waits in the poller),
/// three others sleep briefly at once, each in its own round-robin wheel. Every sleep ends at
/// or after its deadline and promptly: an insert into another wheel ends the long wait.
#[test]
fn block_on_threads_drive_every_wheel_after_the_runtime_is_dropped() {
    within(120, "handle block_on sleeps after shutdown", || {
        let rt = Runtime::builder().worker_threads(4).build().unwrap();
        let handle = rt.handle();
        drop(rt);
        let (done_tx, done_rx) = ciranda::sync::oneshot::channel::<()>();
        let waiter = {
            let handle = handle.clone();
            std::thread::spawn(move || {
                handle.block_on(ciranda::time::timeout(Duration::from_secs(30), done_rx))
            })
        };
        // Let the waiter take the poller with its 30 s timer.
        std::thread::sleep(Duration::from_millis(20));
        let worst = worst_across_threads(1..4, |t| {
            let mut worst = Duration::ZERO;
            for i in 0..10u64 {
                let want = Duration::from_millis(5 + (i + t) % 7);
                worst = worst.max(lateness(want, || handle.block_on(sleep(want))));
            }
            worst
        });
        done_tx.send(()).unwrap();
        let got = waiter.join().unwrap();
        assert!(matches!(got, Ok(Ok(()))), "the waiter timed out");
        assert!(worst < PROMPT, "a sleep ended {worst:?} late");
    });
}

/// Paused clock: intervals on every worker (each tick re-arms the interval's sleep with
/// `reset`, in the wheel of whichever worker polls it then) tick exactly on their schedule.
#[test]
fn intervals_on_every_worker_tick_on_schedule_under_the_paused_clock() {
    within(120, "paused intervals", || {
        let rt = Runtime::builder()
            .worker_threads(4)
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..8u64)
                .map(|i| {
                    ciranda::spawn(async move {
                        let period = Duration::from_millis(3 + i * 2);
                        let mut interval = ciranda::time::interval_at(start + period, period);
                        let mut late = Vec::new();
                        for k in 1..=20u32 {
                            let at = interval.tick().await;
                            let now = start.elapsed();
                            if at != start + period * k || now != period * k {
                                late.push((k, at - start, now));
                            }
                            // Give other tasks (and workers) the next poll.
                            ciranda::task::yield_now().await;
                        }
                        (period, late)
                    })
                })
                .collect();
            for task in tasks {
                let (period, late) = task.await.unwrap();
                assert!(
                    late.is_empty(),
                    "interval of {period:?}: off schedule {late:?}"
                );
            }
        });
    });
}

/// Runs `thread(t)` on a scoped thread for each `t` in `ids`, all at once, and returns the
/// largest lateness they report.
fn worst_across_threads(
    ids: std::ops::Range<u64>,
    thread: impl Fn(u64) -> Duration + Sync,
) -> Duration {
    std::thread::scope(|s| {
        let threads: Vec<_> = ids
            .map(|t| {
                let thread = &thread;
                s.spawn(move || thread(t))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .max()
            .expect("at least one thread")
    })
}

/// Runs `wait` (a sleep of `want`), checks that it did not end early and returns how late it
/// ended.
fn lateness(want: Duration, wait: impl FnOnce()) -> Duration {
    let start = std::time::Instant::now();
    wait();
    let took = start.elapsed();
    assert!(took >= want, "slept {took:?} of {want:?}");
    took - want
}
