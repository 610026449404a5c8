//! The sync workloads of `benches/sync.rs` and `benches/shapes.rs` without criterion, one
//! runtime and one workload per process, so that `valgrind --tool=callgrind`, `strace -c -f`
//! and `/usr/bin/time -v` see only that workload. Prints the median, minimum, 90th and 99th
//! percentiles, maximum and mean time per iteration and, for ciranda, the workers' polls,
//! parks and steals per iteration (from the runtime's metrics).
//!
//! ```text
//! cargo build --release -p ciranda-benches --example sync_probe
//! target/release/examples/sync_probe <runtime> <workload> [iterations]
//! ```
//!
//! `runtime` is `ciranda`, `tokio` or `smol`; `workload` is one of `notify_one_w{W}`
//! (W waiters, 500 wake-ups), `oneshot_rr` (1 000 round trips), `mpsc_p{P}_c{C}` (P senders
//! share 16 000 messages into capacity C, received in `block_on`), `mpsc_p{P}_c{C}_in_task`
//! (the same received in a spawned task), `semaphore` (`semaphore_contended`: 5 permits,
//! 6 tasks × 1 000 acquire/release) and `mutex_t{T}` (`mutex_contended`'s shape: T tasks ×
//! 1 000 lock/increment/unlock).
//!
//! `SYNC_PROBE_PER_WORKER=1` prints each worker's counters where the sums are taken;
//! `SYNC_PROBE_EACH=1` prints every measured iteration with its own polls, parks and steals
//! (a process that mixes fast and slow iterations shows which is which; the counters are
//! read between iterations, which the next iteration's start may feel).

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

const MESSAGES: usize = 16_000;
const WAKEUPS: usize = 500;
const ROUND_TRIPS: usize = 1_000;

/// Which workload, parsed from its name.
#[derive(Clone, Copy)]
enum Workload {
    NotifyOne {
        waiters: usize,
    },
    Oneshot,
    Semaphore,
    Mutex {
        tasks: usize,
    },
    Mpsc {
        producers: usize,
        capacity: usize,
        in_task: bool,
    },
}

fn parse(name: &str) -> Workload {
    if let Some(w) = name.strip_prefix("notify_one_w") {
        return Workload::NotifyOne {
            waiters: w.parse().expect("notify_one_w<waiters>"),
        };
    }
    if name == "oneshot_rr" {
        return Workload::Oneshot;
    }
    if name == "semaphore" {
        return Workload::Semaphore;
    }
    if let Some(t) = name.strip_prefix("mutex_t") {
        return Workload::Mutex {
            tasks: t.parse().expect("mutex_t<tasks>"),
        };
    }
    if let Some(rest) = name.strip_prefix("mpsc_p") {
        let (rest, in_task) = match rest.strip_suffix("_in_task") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (p, c) = rest.split_once("_c").expect("mpsc_p<P>_c<C>[_in_task]");
        return Workload::Mpsc {
            producers: p.parse().expect("producers"),
            capacity: c.parse().expect("capacity"),
            in_task,
        };
    }
    panic!("unknown workload {name:?}");
}

/// The runtime's worker counters summed: (polls, parks, steals); zeros off ciranda.
type Counters = (u64, u64, u64);

fn report(label: &str, times: &mut [Duration], before: Counters, after: Counters) {
    times.sort();
    let n = times.len() as u64;
    println!(
        "{label}: median {:?} min {:?} p90 {:?} p99 {:?} max {:?} mean {:?} over {} iterations; per iteration: polls {} parks {} steals {}",
        times[times.len() / 2],
        times[0],
        times[times.len() * 9 / 10],
        times[times.len() * 99 / 100],
        times[times.len() - 1],
        times.iter().sum::<Duration>() / times.len() as u32,
        n,
        (after.0 - before.0) / n,
        (after.1 - before.1) / n,
        (after.2 - before.2) / n,
    );
}

/// Runs `one` a tenth of `iters` times to warm up, then `iters` times timed, and reports.
/// With `SYNC_PROBE_EACH`, prints every timed iteration with its own counters.
fn measure(
    iters: usize,
    mut one: impl FnMut(),
    counters: &dyn Fn() -> Counters,
    label: &str,
    times: &mut Vec<Duration>,
) {
    for _ in 0..iters / 10 {
        one();
    }
    let before = counters();
    let each = std::env::var_os("SYNC_PROBE_EACH").is_some();
    // With `each`: the counters after the previous iteration (one snapshot serves as the end
    // of one iteration and the start of the next).
    let mut last = before;
    for _ in 0..iters {
        let start = Instant::now();
        one();
        times.push(start.elapsed());
        if each {
            let now = counters();
            println!(
                "  {:?} polls {} parks {} steals {}",
                times[times.len() - 1],
                now.0 - last.0,
                now.1 - last.1,
                now.2 - last.2
            );
            last = now;
        }
    }
    report(label, times, before, counters());
}

macro_rules! probe {
    ($rt:ident, $workload:expr, $iters:expr, $counters:expr) => {{
        use crate::common::$rt as rt;
        let runtime = rt::Rt::new(common::workers());
        let counters = || $counters(&runtime);
        let mut times = Vec::with_capacity($iters);
        let label = format!("{}", rt::NAME);
        match $workload {
            Workload::NotifyOne { waiters } => {
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
                let one = || {
                    counter.store(0, Relaxed);
                    while counter.load(Relaxed) < WAKEUPS {
                        rt::notify_one(&notify);
                    }
                };
                measure($iters, one, &counters, &label, &mut times);
            }
            Workload::Oneshot => {
                let (tx, mut rx) = rt::bounded::<rt::OTx<()>>(10);
                rt::detach(runtime.spawn(async move {
                    while let Some(reply) = rt::recv(&mut rx).await {
                        rt::osend(reply, ());
                    }
                }));
                let one = || {
                    runtime.block_on(async {
                        for _ in 0..ROUND_TRIPS {
                            let (otx, orx) = rt::oneshot();
                            rt::send(&tx, otx).await;
                            rt::orecv(orx).await;
                        }
                    })
                };
                measure($iters, one, &counters, &label, &mut times);
            }
            Workload::Semaphore => {
                let sem = Arc::new(rt::Semaphore::new(5));
                let one = || {
                    runtime.block_on(async {
                        let tasks: Vec<_> = (0..6)
                            .map(|_| {
                                let sem = sem.clone();
                                rt::spawn(async move {
                                    for _ in 0..1_000 {
                                        drop(black_box(rt::acquire(&sem).await));
                                    }
                                })
                            })
                            .collect();
                        for t in tasks {
                            rt::join(t).await;
                        }
                    })
                };
                measure($iters, one, &counters, &label, &mut times);
            }
            Workload::Mutex { tasks } => {
                let mutex = Arc::new(rt::Mutex::new(0u64));
                let one = || {
                    runtime.block_on(async {
                        let handles: Vec<_> = (0..tasks)
                            .map(|_| {
                                let mutex = mutex.clone();
                                rt::spawn(async move {
                                    for _ in 0..1_000 {
                                        *rt::lock(&mutex).await += 1;
                                    }
                                })
                            })
                            .collect();
                        for h in handles {
                            rt::join(h).await;
                        }
                    })
                };
                measure($iters, one, &counters, &label, &mut times);
            }
            Workload::Mpsc {
                producers,
                capacity,
                in_task,
            } => {
                let body = move || async move {
                    let (tx, mut rx) = rt::bounded::<usize>(capacity);
                    for _ in 0..producers {
                        let tx = tx.clone();
                        rt::detach(rt::spawn(async move {
                            for i in 0..MESSAGES / producers {
                                rt::send(&tx, i).await;
                            }
                        }));
                    }
                    drop(tx);
                    for _ in 0..MESSAGES / producers * producers {
                        black_box(rt::recv(&mut rx).await);
                    }
                };
                let one = || {
                    if in_task {
                        runtime.block_on(rt::join(runtime.spawn(body())))
                    } else {
                        runtime.block_on(body())
                    }
                };
                measure($iters, one, &counters, &label, &mut times);
            }
        }
    }};
}

fn ciranda_counters(runtime: &common::ciranda_rt::Rt) -> Counters {
    let m = runtime.block_on(async { ciranda::Handle::current().metrics() });
    if std::env::var_os("SYNC_PROBE_PER_WORKER").is_some() {
        for w in 0..m.num_workers() {
            println!(
                "  worker {w}: polls {} parks {} steals {}",
                m.worker_poll_count(w),
                m.worker_park_count(w),
                m.worker_steal_count(w)
            );
        }
    }
    (0..m.num_workers()).fold((0, 0, 0), |(p, k, s), w| {
        (
            p + m.worker_poll_count(w),
            k + m.worker_park_count(w),
            s + m.worker_steal_count(w),
        )
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (runtime, workload) = match &args[..] {
        [r, w, ..] => (r.as_str(), parse(w)),
        _ => panic!("usage: sync_probe <ciranda|tokio|smol> <workload> [iterations]"),
    };
    let iters: usize = args.get(2).map_or(200, |n| n.parse().expect("iterations"));
    match runtime {
        "ciranda" => probe!(ciranda_rt, workload, iters, ciranda_counters),
        "tokio" => probe!(tokio_rt, workload, iters, |_: &tokio_rt::Rt| (0, 0, 0)),
        "smol" => probe!(smol_rt, workload, iters, |_: &smol_rt::Rt| (0, 0, 0)),
        other => panic!("unknown runtime {other:?}"),
    }
}

use common::{smol_rt, tokio_rt};
