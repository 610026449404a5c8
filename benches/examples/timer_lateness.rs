//! How late timers fire: the `shapes/sleeps_*` workload (N tasks sleeping seeded-random
//! 0–10 ms, spawned from the calling thread or from a task) on ciranda, Tokio and smol, with
//! each task recording its wake-up time minus its deadline. A batch lasts about as long as
//! its longest sleep plus that sleep's lateness, so the tail of this distribution is what
//! the bench's batch time shows.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example timer_lateness
//! target/release/examples/timer_lateness [tasks] [rounds]
//! ```
//!
//! Prints, per runtime and shape, the lateness percentiles over every round (µs), the batch
//! time (first spawn to the last task's end, median and range over the rounds, ms) and how
//! long the spawning took (median, ms). A wake-up before its deadline is counted and
//! reported: it would be a bug. `LATENESS_VERBOSE=1` also prints, per round, the longest
//! sleep's lateness and the tasks woken more than 1 ms late (on this shared VM they come in
//! groups that woke together, a kernel tick apart).

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The bench's seeded delays (`benches/shapes.rs`'s `delays`).
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

struct Round {
    /// Wake-up minus deadline, ns, per task.
    lateness: Vec<i64>,
    batch: Duration,
    spawning: Duration,
}

macro_rules! probe {
    ($rt:ident, $tasks:expr, $rounds:expr, $outside:expr) => {{
        use common::$rt as rt;
        let runtime = rt::Rt::new(common::workers());
        let delays = delays($tasks, Duration::from_millis(10));
        let (tx, rx) = mpsc::sync_channel(1);
        let mut rounds = Vec::new();
        // One unrecorded round first: the runtimes grow their queues and wheels.
        for round in 0..=$rounds {
            let lateness: Arc<Vec<AtomicI64>> =
                Arc::new((0..$tasks).map(|_| AtomicI64::new(0)).collect());
            let rem = Arc::new(AtomicUsize::new($tasks));
            let last = Arc::new(std::sync::Mutex::new(None::<Instant>));
            let sleeper = {
                let (tx, rem, lateness, last) =
                    (tx.clone(), rem.clone(), lateness.clone(), last.clone());
                move |i: usize, d: Duration| {
                    let (tx, rem, lateness, last) =
                        (tx.clone(), rem.clone(), lateness.clone(), last.clone());
                    async move {
                        let deadline = Instant::now() + d;
                        rt::sleep(d).await;
                        let woke = Instant::now();
                        let late = if woke >= deadline {
                            (woke - deadline).as_nanos() as i64
                        } else {
                            -((deadline - woke).as_nanos() as i64)
                        };
                        lateness[i].store(late, Relaxed);
                        if rem.fetch_sub(1, Relaxed) == 1 {
                            // Read again: a task preempted between its wake-up and the count
                            // may be the last to count while others woke after it.
                            *last.lock().unwrap() = Some(Instant::now());
                            tx.send(()).unwrap();
                        }
                    }
                }
            };
            let start = Instant::now();
            if $outside {
                for (i, &d) in delays.iter().enumerate() {
                    rt::detach(runtime.spawn(sleeper(i, d)));
                }
            } else {
                let futures: Vec<_> = delays
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| sleeper(i, d))
                    .collect();
                rt::detach(runtime.spawn(async move {
                    for f in futures {
                        rt::detach(rt::spawn(f));
                    }
                }));
            }
            let spawning = start.elapsed();
            rx.recv().unwrap();
            let batch = last.lock().unwrap().unwrap() - start;
            if std::env::var_os("LATENESS_VERBOSE").is_some() {
                let (i, d) = delays
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, d)| **d)
                    .unwrap();
                let (w, worst) = lateness
                    .iter()
                    .map(|a| a.load(Relaxed))
                    .enumerate()
                    .max_by_key(|&(_, l)| l)
                    .unwrap();
                eprintln!(
                    "round {round}: batch {:.3} ms, longest sleep {:.3} ms late {:.1} µs, worst: sleep {:.3} ms late {:.1} µs",
                    batch.as_secs_f64() * 1e3,
                    d.as_secs_f64() * 1e3,
                    lateness[i].load(Relaxed) as f64 / 1e3,
                    delays[w].as_secs_f64() * 1e3,
                    worst as f64 / 1e3,
                );
                let mut late: Vec<(u128, i64)> = (0..$tasks)
                    .filter(|&j| lateness[j].load(Relaxed) > 1_000_000)
                    .map(|j| (delays[j].as_micros(), lateness[j].load(Relaxed) / 1000))
                    .collect();
                late.sort_unstable();
                eprintln!("  over 1 ms late (delay µs, late µs): {late:?}");
            }
            if round > 0 {
                rounds.push(Round {
                    lateness: lateness.iter().map(|a| a.load(Relaxed)).collect(),
                    batch,
                    spawning,
                });
            }
        }
        report(rt::NAME, if $outside { "outside" } else { "in_task" }, rounds);
    }};
}

fn report(runtime: &str, shape: &str, rounds: Vec<Round>) {
    let mut all: Vec<i64> = rounds
        .iter()
        .flat_map(|r| r.lateness.iter().copied())
        .collect();
    all.sort_unstable();
    let early = all.iter().filter(|&&l| l < 0).count();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize] as f64 / 1e3;
    let mean = all.iter().sum::<i64>() as f64 / all.len() as f64 / 1e3;
    let mut batches: Vec<f64> = rounds.iter().map(|r| r.batch.as_secs_f64() * 1e3).collect();
    batches.sort_by(f64::total_cmp);
    let mut spawns: Vec<f64> = rounds
        .iter()
        .map(|r| r.spawning.as_secs_f64() * 1e3)
        .collect();
    spawns.sort_by(f64::total_cmp);
    println!(
        "{runtime:8} {shape:8} late µs: mean {mean:7.1} p50 {:7.1} p90 {:7.1} p99 {:7.1} max {:8.1} | batch ms: med {:6.2} [{:6.2}, {:6.2}] | spawn ms {:5.2} | early {early}",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        batches[batches.len() / 2],
        batches[0],
        batches[batches.len() - 1],
        spawns[spawns.len() / 2],
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let tasks: usize = args.next().map_or(10_000, |a| a.parse().expect("tasks"));
    let rounds: usize = args.next().map_or(20, |a| a.parse().expect("rounds"));
    let only: Option<String> = args.next();
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    for outside in [true, false] {
        if run("ciranda") {
            probe!(ciranda_rt, tasks, rounds, outside);
        }
        if run("tokio") {
            probe!(tokio_rt, tasks, rounds, outside);
        }
        if run("smol") {
            probe!(smol_rt, tasks, rounds, outside);
        }
    }
}
