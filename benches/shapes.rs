//! Shape sweeps: the sync and timer workloads of `sync.rs` and `timers.rs` at other
//! constants, so that a result holds across a workload's shape rather than at one point.
//! An independent harness with other constants than ours found ciranda behind smol on a
//! contended bounded channel with more producers than cores and a large capacity, and only
//! level with it on sleeps spawned from outside the runtime; these groups cover those shapes
//! and their neighbours.
//!
//! Every group is `shapes/<workload>_<shape>`; one iteration is one whole batch:
//!
//! * `mpsc_bounded_p{P}_c{C}`: P sender tasks share [`MESSAGES`] messages into a channel of
//!   capacity C, received in `block_on` (outside the workers). P ∈ {1, 4, 16}, C ∈ {1, 32,
//!   1024}.
//! * `mpsc_bounded_p16_c1024_in_task`: the same with the receiver a spawned task.
//! * `sleeps_outside_{N}`: N tasks sleeping seeded-random 0–10 ms, spawned by the bench
//!   thread (a remote spawn each), N ∈ {10 000, 100 000}; `sleeps_in_task_10000` spawns them
//!   from a task (`timers/many_sleeps` is the 100 000 point).
//! * `mutex_contended_t{T}`: T tasks × 1 000 locks of one mutex, T ∈ {2, 32}
//!   (`sync/mutex_contended` is T = 8).
//! * `semaphore_p{P}`: 16 tasks × 500 acquire/release of a semaphore with P permits,
//!   P ∈ {1, 64}.
//! * `notify_one_w{W}`: W waiting tasks, the bench thread notifies one at a time until they
//!   counted 500 wake-ups, W ∈ {1, 100} (`sync/notify_one` is W = 10).

#[macro_use]
mod common;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::time::Duration;

/// Messages per `mpsc_bounded` iteration, shared out among the senders.
const MESSAGES: usize = 16_000;

/// A flat-sampled group with shorter times than `slow_group`: a sweep has many points.
fn sweep_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = common::group(c, name);
    g.sampling_mode(SamplingMode::Flat);
    if common::quick() {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300));
    } else {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
    g
}

fn mpsc_bounded(c: &mut Criterion) {
    for producers in [1, 4, 16] {
        for capacity in [1, 32, 1024] {
            let name = format!("shapes/mpsc_bounded_p{producers}_c{capacity}");
            let mut g = sweep_group(c, &name);
            each_runtime!(rt => {
                let runtime = rt::Rt::new(common::workers());
                g.bench_function(rt::NAME, |b| {
                    b.iter(|| {
                        runtime.block_on(async {
                            let (tx, mut rx) = rt::bounded::<usize>(capacity);
                            for _ in 0..producers {
                                let tx = tx.clone();
                                rt::detach(rt::spawn(async move {
                                    for i in 0..MESSAGES / producers {
                                        rt::send(&tx, i).await;
                                    }
                                }));
                            }
                            for _ in 0..MESSAGES / producers * producers {
                                black_box(rt::recv(&mut rx).await);
                            }
                        })
                    })
                });
            });
            g.finish();
        }
    }
    let mut g = sweep_group(c, "shapes/mpsc_bounded_p16_c1024_in_task");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(rt::join(runtime.spawn(async {
                    let (tx, mut rx) = rt::bounded::<usize>(1024);
                    for _ in 0..16 {
                        let tx = tx.clone();
                        rt::detach(rt::spawn(async move {
                            for i in 0..MESSAGES / 16 {
                                rt::send(&tx, i).await;
                            }
                        }));
                    }
                    for _ in 0..MESSAGES {
                        black_box(rt::recv(&mut rx).await);
                    }
                })))
            })
        });
    });
    g.finish();
}

/// `n` seeded pseudo-random delays in `[0, max)` (xorshift; the same for every runtime).
fn delays(n: usize, max: Duration) -> Arc<Vec<Duration>> {
    let mut x: u64 = 0x5EED_0F5A_9E55;
    let max = max.as_nanos() as u64;
    Arc::new(
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                Duration::from_nanos(x % max)
            })
            .collect(),
    )
}

fn sleeps(c: &mut Criterion) {
    for (tasks, outside) in [(10_000, true), (100_000, true), (10_000, false)] {
        let name = if outside {
            format!("shapes/sleeps_outside_{tasks}")
        } else {
            format!("shapes/sleeps_in_task_{tasks}")
        };
        let delays = delays(tasks, Duration::from_millis(10));
        let mut g = sweep_group(c, &name);
        each_runtime!(rt => {
            let runtime = rt::Rt::new(common::workers());
            let (tx, rx) = mpsc::sync_channel(1);
            let rem = Arc::new(AtomicUsize::new(0));
            g.bench_function(rt::NAME, |b| {
                b.iter(|| {
                    rem.store(tasks, Relaxed);
                    let sleeper = |d: Duration| {
                        let (tx, rem) = (tx.clone(), rem.clone());
                        async move {
                            rt::sleep(d).await;
                            if rem.fetch_sub(1, Relaxed) == 1 {
                                tx.send(()).unwrap();
                            }
                        }
                    };
                    if outside {
                        for &d in delays.iter() {
                            rt::detach(runtime.spawn(sleeper(d)));
                        }
                    } else {
                        let futures: Vec<_> = delays.iter().map(|&d| sleeper(d)).collect();
                        rt::detach(runtime.spawn(async move {
                            for f in futures {
                                rt::detach(rt::spawn(f));
                            }
                        }));
                    }
                    rx.recv().unwrap();
                })
            });
        });
        g.finish();
    }
}

fn mutex_contended(c: &mut Criterion) {
    const LOCKS: usize = 1_000;
    for tasks in [2, 32] {
        let mut g = sweep_group(c, &format!("shapes/mutex_contended_t{tasks}"));
        each_runtime!(rt => {
            let runtime = rt::Rt::new(common::workers());
            let mutex = Arc::new(rt::Mutex::new(0u64));
            g.bench_function(rt::NAME, |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                let mutex = mutex.clone();
                                rt::spawn(async move {
                                    for _ in 0..LOCKS {
                                        *rt::lock(&mutex).await += 1;
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            rt::join(h).await;
                        }
                    })
                })
            });
        });
        g.finish();
    }
}

fn semaphore(c: &mut Criterion) {
    const TASKS: usize = 16;
    const ACQUIRES: usize = 500;
    for permits in [1, 64] {
        let mut g = sweep_group(c, &format!("shapes/semaphore_p{permits}"));
        each_runtime!(rt => {
            let runtime = rt::Rt::new(common::workers());
            let sem = Arc::new(rt::Semaphore::new(permits));
            g.bench_function(rt::NAME, |b| {
                b.iter(|| {
                    runtime.block_on(async {
                        let handles: Vec<_> = (0..TASKS)
                            .map(|_| {
                                let sem = sem.clone();
                                rt::spawn(async move {
                                    for _ in 0..ACQUIRES {
                                        let permit = rt::acquire(&sem).await;
                                        rt::yield_now().await;
                                        drop(black_box(permit));
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            rt::join(h).await;
                        }
                    })
                })
            });
        });
        g.finish();
    }
}

fn notify_one(c: &mut Criterion) {
    const WAKEUPS: usize = 500;
    for waiters in [1, 100] {
        let mut g = sweep_group(c, &format!("shapes/notify_one_w{waiters}"));
        each_runtime!(rt => {
            let runtime = rt::Rt::new(common::workers());
            let notify = Arc::new(rt::notify_new());
            let counter = Arc::new(AtomicUsize::new(0));
            for _ in 0..waiters {
                let (notify, counter) = (notify.clone(), counter.clone());
                rt::detach(runtime.spawn(async move {
                    loop {
                        rt::notified(&notify).await;
                        counter.fetch_add(1, Relaxed);
                    }
                }));
            }
            g.bench_function(rt::NAME, |b| {
                b.iter(|| {
                    counter.store(0, Relaxed);
                    while counter.load(Relaxed) < WAKEUPS {
                        rt::notify_one(&notify);
                    }
                })
            });
        });
        g.finish();
    }
}

criterion_group! {
    name = shapes;
    config = common::criterion();
    targets = mpsc_bounded, sleeps, mutex_contended, semaphore, notify_one
}
criterion_main!(shapes);
