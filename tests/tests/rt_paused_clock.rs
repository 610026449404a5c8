#![cfg(not(loom))]
//! The paused clock jumps only when nothing is in flight (issue 15, defect 7).
//!
//! On the multi-thread runtime a paused clock auto-advances to the next timer when every task
//! is idle. "Idle" must mean idle: no task queued, running or being woken, no `block_on`
//! future woken, no blocking job, no wake-up of an earlier reactor turn still being delivered.
//! A task woken by a timer that had not run yet when the driver decided the runtime was idle
//! used to let the clock jump to the next, far deadline: a `sleep(10 ms)` ended at virtual
//! 10 s, and a timeout fired before the work it guarded completed.
//!
//! Each test repeats a short scenario many times, on fresh runtimes, because the window is a
//! few hundred nanoseconds wide; `scripts/stress.sh` runs them with both cores saturated.

use ciranda::Runtime;
use ciranda::time::{Instant, sleep, timeout};
use std::time::Duration;

const ROUNDS: usize = 200;

fn paused_runtime(workers: usize) -> Runtime {
    Runtime::builder()
        .worker_threads(workers)
        .start_paused(true)
        .build()
        .unwrap()
}

/// A spawned task sleeps in steps of 10 ms while `block_on` guards it with a 10 s timeout:
/// every step must end exactly 10 virtual ms after it began, and the guard must not fire.
#[test]
fn a_task_woken_by_a_timer_runs_before_the_clock_jumps_again() {
    for round in 0..ROUNDS {
        let rt = paused_runtime(2);
        let steps = rt.block_on(async {
            let worker = ciranda::spawn(async {
                let mut steps = Vec::new();
                for _ in 0..5 {
                    let start = Instant::now();
                    sleep(Duration::from_millis(10)).await;
                    steps.push(start.elapsed());
                }
                steps
            });
            timeout(Duration::from_secs(10), worker).await
        });
        let steps = steps
            .unwrap_or_else(|_| panic!("round {round}: the 10 s guard fired first"))
            .unwrap();
        assert_eq!(
            steps,
            vec![Duration::from_millis(10); 5],
            "round {round}: a step's sleep ended late in virtual time"
        );
    }
}

/// A chain of tasks hands a token on through timers: each link sleeps 1 ms and spawns the next.
/// The total virtual time is exactly the sum of the sleeps.
#[test]
fn a_chain_of_timer_woken_tasks_takes_exactly_its_virtual_time() {
    fn link(left: u32) -> ciranda::task::JoinHandle<u32> {
        ciranda::spawn(async move {
            sleep(Duration::from_millis(1)).await;
            if left == 0 {
                0
            } else {
                link(left - 1).await.unwrap() + 1
            }
        })
    }
    for round in 0..ROUNDS / 4 {
        let rt = paused_runtime(2);
        let (links, took) = rt.block_on(async {
            let start = Instant::now();
            let guard = timeout(Duration::from_secs(3600), link(20)).await;
            (guard, start.elapsed())
        });
        let links = links
            .unwrap_or_else(|_| panic!("round {round}: the one-hour guard fired first"))
            .unwrap();
        assert_eq!(links, 20);
        assert_eq!(took, Duration::from_millis(21), "round {round}");
    }
}

/// A task woken by a blocking job (not by a timer) must also run before the clock jumps.
#[test]
fn a_task_woken_by_a_blocking_job_runs_before_the_clock_jumps() {
    for round in 0..ROUNDS / 2 {
        let rt = paused_runtime(2);
        let result = rt.block_on(async {
            let start = Instant::now();
            let worker = ciranda::spawn(async {
                for _ in 0..3 {
                    ciranda::spawn_blocking(|| std::hint::black_box(1 + 1))
                        .await
                        .unwrap();
                    sleep(Duration::from_millis(5)).await;
                }
            });
            let guarded = timeout(Duration::from_secs(10), worker).await;
            (guarded.is_ok(), start.elapsed())
        });
        assert_eq!(
            result,
            (true, Duration::from_millis(15)),
            "round {round}: the guard fired or time jumped"
        );
    }
}

#[test]
fn a_sleep_made_in_block_on_takes_exactly_its_virtual_time_on_a_fresh_paused_runtime() {
    // `Handle::time`'s doctest, many times: a fresh paused runtime (its workers still
    // starting), one sleep made and awaited inside `block_on`, the runtime's clock read
    // before and after. (The doctest once made the sleep outside the runtime, where it
    // counts from its creation on the real clock: the real time since the runtime's clock
    // started leaked into the result, 2.75 ms on a loaded machine.)
    for round in 0..100 {
        let rt = Runtime::builder().start_paused(true).build().unwrap();
        let handle = rt.handle();
        let before = handle.time();
        rt.block_on(async { ciranda::time::sleep(Duration::from_secs(5)).await });
        let slept = handle.time() - before;
        assert_eq!(slept, Duration::from_secs(5), "round {round}");
    }
}

/// Synchronous code calls back into async code (`Handle::block_on` inside `spawn_blocking`, the
/// docs' pattern) and waits for a task that sleeps: while that `block_on` waits, the blocking
/// call does nothing, so the clock must jump. Counting the call as busy the whole time kept
/// the runtime from ever looking idle: the sleep never ended and the test hung.
#[test]
fn a_blocking_call_waiting_in_block_on_lets_the_clock_jump() {
    for flavor in [ciranda::Flavor::MultiThread, ciranda::Flavor::CurrentThread] {
        let slept =
            ciranda_tests::support::within(20, "block_on inside spawn_blocking", move || {
                let rt = Runtime::builder()
                    .flavor(flavor)
                    .start_paused(true)
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let start = Instant::now();
                    let late = ciranda::spawn(async {
                        sleep(Duration::from_secs(5)).await;
                        7
                    });
                    let handle = ciranda::Handle::current();
                    let got = ciranda::spawn_blocking(move || {
                        handle.block_on(async move {
                            sleep(Duration::from_secs(1)).await;
                            late.await.unwrap()
                        })
                    })
                    .await
                    .unwrap();
                    (got, start.elapsed())
                })
            });
        assert_eq!(slept, (7, Duration::from_secs(5)), "{flavor:?}");
    }
}

/// The same for a `block_on` nested in the future of another `block_on` on one thread: the
/// outer one cannot go on before the inner one returns, so it must not hold the clock still.
#[test]
fn a_block_on_nested_in_another_lets_the_clock_jump() {
    let slept = ciranda_tests::support::within(20, "nested block_on", || {
        let rt = paused_runtime(1);
        let handle = rt.handle();
        rt.block_on(async move {
            let start = Instant::now();
            let inner = handle.block_on(async {
                sleep(Duration::from_secs(3)).await;
                Instant::now()
            });
            (inner - start, start.elapsed())
        })
    });
    assert_eq!(slept, (Duration::from_secs(3), Duration::from_secs(3)));
}

/// The blocking pool is full (`max_blocking_threads(2)`) and both its threads wait in
/// `Handle::block_on` for sleeps, while more calls wait in its queue for a thread. Those calls
/// cannot start before a sleep ends, so they must not hold the clock still: counting them as
/// active kept the runtime from ever looking idle, and the sleeps, the calls and `block_on`
/// waited for ever.
#[test]
fn calls_queued_behind_a_full_pool_of_waiting_calls_let_the_clock_jump() {
    for flavor in [ciranda::Flavor::MultiThread, ciranda::Flavor::CurrentThread] {
        let (finished, took) =
            ciranda_tests::support::within(20, "a full blocking pool", move || {
                let rt = Runtime::builder()
                    .flavor(flavor)
                    .max_blocking_threads(2)
                    .start_paused(true)
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let start = Instant::now();
                    let calls: Vec<_> = (1..=5u64)
                        .map(|i| {
                            let handle = ciranda::Handle::current();
                            ciranda::spawn_blocking(move || {
                                handle.block_on(async move {
                                    sleep(Duration::from_secs(i)).await;
                                    (i, start.elapsed())
                                })
                            })
                        })
                        .collect();
                    let mut finished = Vec::new();
                    for call in calls {
                        finished.push(call.await.unwrap());
                    }
                    (finished, start.elapsed())
                })
            });
        // Two threads, FIFO: calls 1 and 2 start at 0 s; 3 starts when 1 ends (1 s) and ends
        // at 4 s; 4 starts when 2 ends (2 s) and ends at 6 s; 5 starts at 4 s, ends at 9 s.
        let secs = |s| Duration::from_secs(s);
        assert_eq!(
            finished,
            [
                (1, secs(1)),
                (2, secs(2)),
                (3, secs(4)),
                (4, secs(6)),
                (5, secs(9))
            ],
            "{flavor:?}"
        );
        assert_eq!(took, secs(9), "{flavor:?}");
    }
}
