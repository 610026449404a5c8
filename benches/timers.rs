//! Timer workloads on ciranda, Tokio and smol, with the same number of workers.
//!
//! * `many_sleeps`: 100 000 tasks, each sleeping a seeded-random 0–10 ms (the same durations
//!   for every runtime), spawned from one task; an iteration ends when the last one wakes.
//! * `timeout_ready`: `timeout(1 s, ready future)`, one task per worker (Tokio's
//!   `time_timeout` shape); time per call.
//! * `sleep_register_drop`: create a 60 s sleep, poll it once (registering it), drop it
//!   (Tokio's `time_drop_sleep_contention` shape), one task per worker; time per sleep.

#[macro_use]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::future::{Future, poll_fn};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// splitmix64: a fixed, dependency-free sequence of pseudo-random numbers.
fn durations(n: usize, seed: u64, max: Duration) -> Vec<Duration> {
    let mut state = seed;
    let max_us = max.as_micros() as u64;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            Duration::from_micros(z % (max_us + 1))
        })
        .collect()
}

fn many_sleeps(c: &mut Criterion) {
    const TASKS: usize = 100_000;
    let delays = Arc::new(durations(TASKS, 0x5EED, Duration::from_millis(10)));
    let mut g = common::slow_group(c, "timers/many_sleeps");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let (tx, rx) = mpsc::sync_channel(1);
        let rem = Arc::new(AtomicUsize::new(0));
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                rem.store(TASKS, Relaxed);
                let (tx, rem, delays) = (tx.clone(), rem.clone(), delays.clone());
                rt::detach(runtime.spawn(async move {
                    for &d in delays.iter() {
                        let (tx, rem) = (tx.clone(), rem.clone());
                        rt::detach(rt::spawn(async move {
                            rt::sleep(d).await;
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        }));
                    }
                }));
                rx.recv().unwrap();
            })
        });
    });
    g.finish();
}

/// `many_sleeps` on one thread (ciranda's and Tokio's current-thread runtimes, a smol
/// executor run by the `block_on` thread), spawned and awaited inside `block_on`.
fn current_thread_many_sleeps(c: &mut Criterion) {
    const TASKS: usize = 100_000;
    let delays = Arc::new(durations(TASKS, 0x5EED, Duration::from_millis(10)));
    let mut g = common::slow_group(c, "current_thread/many_sleeps");
    each_runtime!(rt => {
        let runtime = rt::Rt::current_thread();
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let tasks: Vec<_> = delays
                        .iter()
                        .map(|&d| rt::spawn(async move { rt::sleep(d).await }))
                        .collect();
                    for t in tasks {
                        rt::join(t).await;
                    }
                })
            })
        });
    });
    g.finish();
}

async fn quick_job() -> usize {
    1
}

fn timeout_ready(c: &mut Criterion) {
    let workers = common::workers();
    let mut g = common::group(c, "timers/timeout_ready");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(workers);
        g.bench_function(rt::NAME, |b| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(workers as u64);
                let start = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..workers)
                        .map(|_| {
                            rt::spawn(async move {
                                for _ in 0..per_task {
                                    let out = rt::timeout(Duration::from_secs(1), quick_job());
                                    assert_eq!(black_box(out.await), Some(1));
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        rt::join(t).await;
                    }
                });
                start.elapsed()
            })
        });
    });
    g.finish();
}

fn sleep_register_drop(c: &mut Criterion) {
    let workers = common::workers();
    let mut g = common::group(c, "timers/sleep_register_drop");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(workers);
        g.bench_function(rt::NAME, |b| {
            b.iter_custom(|iters| {
                let per_task = iters.div_ceil(workers as u64);
                let start = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..workers)
                        .map(|_| {
                            rt::spawn(async move {
                                for _ in 0..per_task {
                                    let mut sleep = pin!(rt::sleep(Duration::from_secs(60)));
                                    poll_fn(|cx| {
                                        let _ = black_box(sleep.as_mut().poll(cx).is_ready());
                                        Poll::Ready(())
                                    })
                                    .await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        rt::join(t).await;
                    }
                });
                start.elapsed()
            })
        });
    });
    g.finish();
}

criterion_group! {
    name = timers;
    config = common::criterion();
    targets = many_sleeps, timeout_ready, sleep_register_drop, current_thread_many_sleeps
}
criterion_main!(timers);
