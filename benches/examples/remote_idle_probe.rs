//! `scheduler/spawn_many_remote_idle` over many runtime instances, with the ciranda side's
//! per-iteration counters: the workload is bimodal per instance on a 2-vCPU machine, and the
//! counters (parks, polls and steals per worker) say what the workers did in each mode.
//!
//! ```text
//! remote_idle_probe [instances] [iters]     # defaults: 10 instances, 30 iterations
//! CIRANDA_ONLY=1 remote_idle_probe ...       # ciranda's instances only (for A/B of builds)
//! ```
//!
//! Prints, per ciranda instance, its median iteration and the median per-iteration deltas of
//! each worker's parks, polls and steals; then every instance's median for ciranda, Tokio and
//! smol (instances of the three alternate). With `CIRANDA_ONLY` set, ciranda's instances run
//! back to back, so two builds alternated a few instances at a time compare under the same
//! host conditions (`perf record` then sees ciranda alone, too).

#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

const NUM_SPAWN: usize = 10_000;

/// One worker's counters at a point in time.
#[derive(Clone, Copy, Default)]
struct Counts {
    parks: u64,
    polls: u64,
    steals: u64,
}

fn counts(runtime: &ciranda::Runtime) -> Vec<Counts> {
    let m = runtime.handle().metrics();
    (0..m.num_workers())
        .map(|w| Counts {
            parks: m.worker_park_count(w),
            polls: m.worker_poll_count(w),
            steals: m.worker_steal_count(w),
        })
        .collect()
}

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn ciranda_instance(iters: usize) -> Duration {
    let workers = common::workers();
    let runtime = ciranda::Runtime::builder()
        .worker_threads(workers)
        .build()
        .expect("ciranda runtime");
    let mut times = Vec::with_capacity(iters);
    let mut spawn_times = Vec::with_capacity(iters);
    let mut deltas: Vec<Vec<Counts>> = Vec::with_capacity(iters);
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    for _ in 0..iters {
        let before = counts(&runtime);
        let start = Instant::now();
        for _ in 0..NUM_SPAWN {
            handles.push(runtime.spawn(async {}));
        }
        spawn_times.push(start.elapsed());
        runtime.block_on(async {
            for h in handles.drain(..) {
                h.await.unwrap();
            }
        });
        times.push(start.elapsed());
        // Let the workers publish their counters (they do when they park).
        std::thread::sleep(Duration::from_millis(2));
        let after = counts(&runtime);
        deltas.push(
            before
                .iter()
                .zip(&after)
                .map(|(b, a)| Counts {
                    parks: a.parks - b.parks,
                    polls: a.polls - b.polls,
                    steals: a.steals - b.steals,
                })
                .collect(),
        );
    }
    let med = median(times.clone());
    let per_worker: Vec<String> = (0..workers)
        .map(|w| {
            let col = |f: fn(&Counts) -> u64| median(deltas.iter().map(|d| f(&d[w])).collect());
            format!(
                "w{w}: parks {} polls {} steals {}",
                col(|c| c.parks),
                col(|c| c.polls),
                col(|c| c.steals)
            )
        })
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    println!(
        "ciranda instance: median {:.2} ms (spawning {:.2}; min {:.2}, max {:.2}); {}",
        med.as_secs_f64() * 1e3,
        median(spawn_times).as_secs_f64() * 1e3,
        sorted[0].as_secs_f64() * 1e3,
        sorted[sorted.len() - 1].as_secs_f64() * 1e3,
        per_worker.join("; ")
    );
    med
}

/// The bench's iteration on a fresh instance of another runtime (`$rt`: a facade module of
/// `benches/common`): the median of `iters` iterations.
macro_rules! other_instance {
    ($name:ident, $rt:ident) => {
        fn $name(iters: usize) -> Duration {
            use common::$rt as rt;
            let runtime = rt::Rt::new(common::workers());
            let mut times = Vec::with_capacity(iters);
            let mut handles = Vec::with_capacity(NUM_SPAWN);
            for _ in 0..iters {
                let start = Instant::now();
                for _ in 0..NUM_SPAWN {
                    handles.push(runtime.spawn(async {}));
                }
                runtime.block_on(async {
                    for h in handles.drain(..) {
                        rt::join(h).await;
                    }
                });
                times.push(start.elapsed());
            }
            median(times)
        }
    };
}
other_instance!(tokio_instance, tokio_rt);
other_instance!(smol_instance, smol_rt);

/// The spawning loop alone while the one worker is held by a spinning task, so nothing
/// consumes the injector: the remote spawn's cost without a consumer on another core.
fn ciranda_uncontended(iters: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let runtime = ciranda::Runtime::builder()
        .worker_threads(1)
        .build()
        .expect("ciranda runtime");
    let mut spawn_times = Vec::with_capacity(iters);
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    for _ in 0..iters {
        let hold = Arc::new(AtomicBool::new(true));
        let held = hold.clone();
        let holder = runtime.spawn(async move { while held.load(Relaxed) {} });
        std::thread::sleep(Duration::from_millis(1));
        let start = Instant::now();
        for _ in 0..NUM_SPAWN {
            handles.push(runtime.spawn(async {}));
        }
        spawn_times.push(start.elapsed());
        hold.store(false, Relaxed);
        runtime.block_on(async {
            holder.await.unwrap();
            for h in handles.drain(..) {
                h.await.unwrap();
            }
        });
    }
    println!(
        "ciranda, nothing consuming: spawning {:.2} ms",
        median(spawn_times).as_secs_f64() * 1e3
    );
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("uncontended") {
        let iters = std::env::args()
            .nth(2)
            .map_or(30, |a| a.parse().expect("iters"));
        for _ in 0..5 {
            ciranda_uncontended(iters);
        }
        return;
    }
    let mut args = std::env::args().skip(1);
    let instances: usize = args.next().map_or(10, |a| a.parse().expect("instances"));
    let iters: usize = args.next().map_or(30, |a| a.parse().expect("iters"));
    let (mut ciranda, mut tokio, mut smol) = (Vec::new(), Vec::new(), Vec::new());
    let ciranda_only = std::env::var_os("CIRANDA_ONLY").is_some();
    for _ in 0..instances {
        ciranda.push(ciranda_instance(iters));
        if !ciranda_only {
            tokio.push(tokio_instance(iters));
            smol.push(smol_instance(iters));
        }
    }
    let show = |name: &str, v: &[Duration]| {
        let list: Vec<String> = v
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
            .collect();
        println!(
            "{name:8} median {:.2} ms; instances (ms): {}",
            median(v.to_vec()).as_secs_f64() * 1e3,
            list.join(" ")
        );
    };
    show("ciranda", &ciranda);
    if !ciranda_only {
        show("tokio", &tokio);
        show("smol", &smol);
    }
}
