//! Synchronisation workloads on ciranda, Tokio and smol (`async-lock`, `async-channel`,
//! `event-listener`), with the same number of workers. Shapes follow Tokio's `sync_*` benches.
//!
//! * `mutex_uncontended`: lock, increment, unlock in one task; time per lock.
//! * `mutex_contended`: 8 tasks × 1 000 lock/increment/unlock on one mutex.
//! * `semaphore_contended`: 5 permits, 6 tasks × 1 000 acquire/release.
//! * `mpsc_bounded`: 5 sender tasks × 1 000 messages into a channel of capacity 100 (Tokio's
//!   `contention/bounded_full`), received in `block_on`.
//! * `mpsc_unbounded`: the same through an unbounded channel.
//! * `notify_one` / `notify_waiters`: 10 waiting tasks; the bench thread notifies until they
//!   have counted 500 wake-ups (Tokio's `sync_notify` shape).
//! * `oneshot_request_reply`: 1 000 round trips to a server task: a oneshot sender goes over
//!   a channel of capacity 10, the reply comes back on it.

#[macro_use]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

fn mutex_uncontended(c: &mut Criterion) {
    let mut g = common::group(c, "sync/mutex_uncontended");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let mutex = Arc::new(rt::Mutex::new(0u64));
        g.bench_function(rt::NAME, |b| {
            b.iter_custom(|iters| {
                let mutex = mutex.clone();
                runtime.block_on(rt::join(runtime.spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        *rt::lock(&mutex).await += 1;
                    }
                    start.elapsed()
                })))
            })
        });
    });
    g.finish();
}

fn mutex_contended(c: &mut Criterion) {
    const TASKS: usize = 8;
    const LOCKS: usize = 1_000;
    let mut g = common::slow_group(c, "sync/mutex_contended");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let mutex = Arc::new(rt::Mutex::new(0u64));
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let mutex = mutex.clone();
                            rt::spawn(async move {
                                for _ in 0..LOCKS {
                                    *rt::lock(&mutex).await += 1;
                                }
                            })
                        })
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

fn semaphore_contended(c: &mut Criterion) {
    const TASKS: usize = 6;
    const ACQUIRES: usize = 1_000;
    let mut g = common::slow_group(c, "sync/semaphore_contended");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let sem = Arc::new(rt::Semaphore::new(5));
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            let sem = sem.clone();
                            rt::spawn(async move {
                                for _ in 0..ACQUIRES {
                                    drop(black_box(rt::acquire(&sem).await));
                                }
                            })
                        })
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

const SENDERS: usize = 5;
const MESSAGES: usize = 1_000;

fn mpsc_bounded(c: &mut Criterion) {
    let mut g = common::slow_group(c, "sync/mpsc_bounded");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let (tx, mut rx) = rt::bounded::<usize>(100);
                    for _ in 0..SENDERS {
                        let tx = tx.clone();
                        rt::detach(rt::spawn(async move {
                            for i in 0..MESSAGES {
                                rt::send(&tx, i).await;
                            }
                        }));
                    }
                    for _ in 0..SENDERS * MESSAGES {
                        black_box(rt::recv(&mut rx).await);
                    }
                })
            })
        });
    });
    g.finish();
}

fn mpsc_unbounded(c: &mut Criterion) {
    let mut g = common::slow_group(c, "sync/mpsc_unbounded");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let (tx, mut rx) = rt::unbounded::<usize>();
                    for _ in 0..SENDERS {
                        let tx = tx.clone();
                        rt::detach(rt::spawn(async move {
                            for i in 0..MESSAGES {
                                rt::usend(&tx, i);
                            }
                        }));
                    }
                    for _ in 0..SENDERS * MESSAGES {
                        black_box(rt::urecv(&mut rx).await);
                    }
                })
            })
        });
    });
    g.finish();
}

const WAITERS: usize = 10;
const WAKEUPS: usize = 500;

fn notify_one(c: &mut Criterion) {
    let mut g = common::slow_group(c, "sync/notify_one");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let notify = Arc::new(rt::notify_new());
        let counter = Arc::new(AtomicUsize::new(0));
        for _ in 0..WAITERS {
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

fn notify_waiters(c: &mut Criterion) {
    let mut g = common::slow_group(c, "sync/notify_waiters");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let notify = Arc::new(rt::notify_new());
        let counter = Arc::new(AtomicUsize::new(0));
        for _ in 0..WAITERS {
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
                    rt::notify_waiters(&notify);
                }
            })
        });
    });
    g.finish();
}

fn oneshot_request_reply(c: &mut Criterion) {
    const ROUND_TRIPS: usize = 1_000;
    let mut g = common::slow_group(c, "sync/oneshot_request_reply");
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let (tx, mut rx) = rt::bounded::<rt::OTx<()>>(10);
        rt::detach(runtime.spawn(async move {
            while let Some(reply) = rt::recv(&mut rx).await {
                rt::osend(reply, ());
            }
        }));
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    for _ in 0..ROUND_TRIPS {
                        let (otx, orx) = rt::oneshot();
                        rt::send(&tx, otx).await;
                        rt::orecv(orx).await;
                    }
                })
            })
        });
        drop(tx);
    });
    g.finish();
}

criterion_group! {
    name = sync;
    config = common::criterion();
    targets = mutex_uncontended, mutex_contended, semaphore_contended, mpsc_bounded,
        mpsc_unbounded, notify_one, notify_waiters, oneshot_request_reply
}
criterion_main!(sync);
