#![cfg(not(loom))]
//! The runtime's timers live in one wheel per worker (the reactor's timer shards): a timer
//! goes to the wheel of the thread that first polls it, every reactor turn fires all wheels,
//! and a wait in the poller is bounded by the earliest deadline of any of them. These tests
//! arm timers on every worker and on the `block_on` thread, move them between threads, cancel
//! them elsewhere, and check the order and the count of what fires.

use ciranda::Runtime;
use ciranda::sync::Mutex;
use ciranda::time::{Instant, sleep};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

/// A fixed permutation of `0..n` (multiplication by a unit modulo a prime `n`).
fn shuffled(n: u64) -> Vec<u64> {
    (0..n).map(|i| (i * 37) % n).collect()
}

/// Under the paused clock the jumps go through every wheel: timers armed on different
/// workers and on the `block_on` thread wake in deadline order, each at its own deadline.
#[test]
fn timers_on_every_worker_wake_in_deadline_order_under_the_paused_clock() {
    for workers in [1, 2, 4] {
        let rt = Runtime::builder()
            .worker_threads(workers)
            .start_paused(true)
            .build()
            .unwrap();
        let order = rt.block_on(async {
            let woken = Arc::new(Mutex::new(Vec::new()));
            let start = Instant::now();
            let mut tasks = Vec::new();
            for secs in shuffled(61) {
                let woken = woken.clone();
                tasks.push(ciranda::spawn(async move {
                    sleep(Duration::from_secs(secs + 1)).await;
                    woken
                        .lock()
                        .await
                        .push(((secs + 1) * 1000, start.elapsed()));
                }));
                // Spread the tasks over the workers before the next one arms.
                ciranda::task::yield_now().await;
            }
            // Timers of the `block_on` thread's own shard, between theirs.
            sleep(Duration::from_millis(30_500)).await;
            woken.lock().await.push((30_500, start.elapsed()));
            for task in tasks {
                task.await.unwrap();
            }
            Arc::try_unwrap(woken).unwrap().into_inner()
        });
        let deadlines: Vec<u64> = order.iter().map(|(ms, _)| *ms).collect();
        let mut sorted = deadlines.clone();
        sorted.sort_unstable();
        assert_eq!(deadlines, sorted, "{workers} workers: woken out of order");
        for (ms, at) in order {
            let expected = Duration::from_millis(ms);
            assert!(
                at >= expected && at < expected + Duration::from_millis(5),
                "{workers} workers: the timer of {expected:?} woke at {at:?}"
            );
        }
    }
}

/// A sleep armed on one worker and polled, cancelled or completed on other threads: its
/// key finds its wheel from anywhere, and a wheel that lost its timers bounds no wait.
#[test]
// The tasks hand their armed sleeps back to be awaited or dropped elsewhere, on purpose.
#[allow(clippy::async_yields_async)]
fn sleeps_move_between_threads_and_are_cancelled_anywhere() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        // Armed on workers, handed back to the `block_on` thread.
        let mut armed = Vec::new();
        for i in 0..64u64 {
            let handle = ciranda::spawn(async move {
                // Long enough that no preemption between making and polling it (a loaded
                // machine's) lets it expire before its first poll arms it.
                let mut sleep = Box::pin(sleep(Duration::from_millis(1_000 + i % 7)));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(sleep.as_mut().poll(&mut cx).is_pending());
                sleep
            });
            armed.push(handle.await.unwrap());
        }
        // Half are cancelled here, the rest are awaited here (their waker changes thread).
        let start = Instant::now();
        let kept: Vec<_> = armed
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| (i % 2 == 0).then_some(s))
            .collect();
        assert_eq!(kept.len(), 32);
        for sleep in kept {
            sleep.await;
        }
        assert!(start.elapsed() < Duration::from_secs(10));
        // Cancelled on a plain thread, armed on a worker.
        let sleep = ciranda::spawn(async {
            let mut sleep = Box::pin(sleep(Duration::from_secs(3600)));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(sleep.as_mut().poll(&mut cx).is_pending());
            sleep
        })
        .await
        .unwrap();
        std::thread::spawn(move || drop(sleep)).join().unwrap();
    });
}

/// Under a running clock: many tasks on both workers sleep a few milliseconds each, and
/// each wakes no earlier than its deadline (and, generously, not seconds late: an insert
/// into an idle worker's wheel must shorten the poller's wait).
#[test]
fn short_sleeps_on_every_worker_end_at_their_deadlines() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let late = rt.block_on(async {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                ciranda::spawn(async move {
                    let want = Duration::from_millis(1 + i % 13);
                    let start = Instant::now();
                    sleep(want).await;
                    let took = start.elapsed();
                    assert!(took >= want, "slept {took:?} of {want:?}");
                    took - want
                })
            })
            .collect();
        let mut late = Duration::ZERO;
        for task in tasks {
            late = late.max(task.await.unwrap());
        }
        late
    });
    assert!(late < Duration::from_secs(2), "a sleep ended {late:?} late");
}

/// A far timer armed first bounds the poller's wait; a nearer one armed afterwards on
/// another thread (another wheel) must end that wait, not wait behind it.
#[test]
fn a_nearer_timer_on_another_wheel_ends_the_pollers_wait() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    for _ in 0..20 {
        let took = rt.block_on(async {
            let far = ciranda::spawn(sleep(Duration::from_secs(30)));
            // Let the far timer arm and the workers go idle in the poller.
            std::thread::sleep(Duration::from_millis(5));
            let start = Instant::now();
            // Armed on the `block_on` thread, which does not drive the reactor while a worker
            // waits in the poller: only the notification ends that wait.
            sleep(Duration::from_millis(2)).await;
            far.abort();
            start.elapsed()
        });
        assert!(
            took < Duration::from_secs(5),
            "the 2 ms sleep took {took:?}"
        );
    }
}
