//! Wake-ups per spawn as the number of workers grows: the model of `docs/scaling.md` ("A
//! model of wake-ups per spawn"), counted with the runtime's metrics rather than timed, so
//! that it means something on a machine with fewer cores than workers.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example wakeup_model
//! target/release/examples/wakeup_model [workers ...]    # default: 1 2 4 8 16 32 64
//! ```
//!
//! For each worker count, six shapes of `SPAWNS` tasks, each shape `ROUNDS` times,
//! every round starting with all workers parked:
//!
//! * `burst_in_task`: one task spawns them all, then awaits every handle;
//! * `busy_burst_in_task`: the same with tasks that each keep a core busy for `BUSY` (a
//!   burst that takes long enough for parked workers to join in);
//! * `trickle_in_task`: one task spawns one and awaits it, `SPAWNS` times;
//! * `burst_outside`: the main thread spawns them all, then waits for every handle;
//! * `busy_burst_outside`: the same with busy tasks;
//! * `trickle_outside`: the main thread spawns one and waits for it, `SPAWNS` times.
//!
//! Prints, per shape, worker parks per round and parks, steals and polls per spawn (medians
//! over the rounds). A park ends with a wake-up, so parks count the wake-ups the spawns cost,
//! searches that found nothing included. After each round the probe waits until every
//! worker is parked again, so the parks that close the round are counted with it. With more
//! workers than cores the kernel decides when a woken worker runs, which these counts include:
//! they are this scheduler's decisions under that delay, not a prediction of time.

#[allow(unused_macros, unused_imports)]
#[path = "../common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

const SPAWNS: usize = 2_000;
const ROUNDS: usize = 15;
/// How long each task of the busy shapes keeps its core.
const BUSY: Duration = Duration::from_micros(20);

/// A task body that keeps its core busy for `BUSY` without yielding.
fn busy() {
    let start = Instant::now();
    while start.elapsed() < BUSY {
        std::hint::spin_loop();
    }
}

/// Parks, steals and polls summed over the workers.
#[derive(Clone, Copy, Default)]
struct Counts {
    parks: u64,
    steals: u64,
    polls: u64,
}

fn counts(runtime: &ciranda::Runtime) -> Counts {
    let m = runtime.handle().metrics();
    (0..m.num_workers()).fold(Counts::default(), |c, w| Counts {
        parks: c.parks + m.worker_park_count(w),
        steals: c.steals + m.worker_steal_count(w),
        polls: c.polls + m.worker_poll_count(w),
    })
}

/// Waits until the parks counter has stood still for a while: every worker woken by the
/// round has searched, found nothing and parked again.
fn settle(runtime: &ciranda::Runtime) -> Counts {
    let mut last = counts(runtime);
    let mut still_since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(2));
        let now = counts(runtime);
        if now.parks != last.parks || now.polls != last.polls {
            last = now;
            still_since = Instant::now();
        } else if still_since.elapsed() >= Duration::from_millis(20) {
            return now;
        }
    }
}

/// Where the spawns come from, how they are paced, and what each task does.
struct Shape {
    name: &'static str,
    /// Spawned by the main thread (remote spawns) rather than by a task.
    outside: bool,
    /// All spawned before any is awaited, rather than one spawned and awaited at a time.
    burst: bool,
    /// Each task keeps its core for `BUSY`; otherwise it does nothing.
    busy: bool,
}

const SHAPES: [Shape; 6] = [
    Shape {
        name: "burst_in_task",
        outside: false,
        burst: true,
        busy: false,
    },
    Shape {
        name: "busy_burst_in_task",
        outside: false,
        burst: true,
        busy: true,
    },
    Shape {
        name: "trickle_in_task",
        outside: false,
        burst: false,
        busy: false,
    },
    Shape {
        name: "burst_outside",
        outside: true,
        burst: true,
        busy: false,
    },
    Shape {
        name: "busy_burst_outside",
        outside: true,
        burst: true,
        busy: true,
    },
    Shape {
        name: "trickle_outside",
        outside: true,
        burst: false,
        busy: false,
    },
];

fn round(runtime: &ciranda::Runtime, shape: &Shape) {
    let busy_task = shape.busy;
    let task = move || async move {
        if busy_task {
            busy();
        }
    };
    match (shape.outside, shape.burst) {
        (false, true) => runtime.block_on(async {
            ciranda::spawn(async move {
                let handles: Vec<_> = (0..SPAWNS).map(|_| ciranda::spawn(task())).collect();
                for h in handles {
                    h.await.unwrap();
                }
            })
            .await
            .unwrap();
        }),
        (false, false) => runtime.block_on(async {
            ciranda::spawn(async move {
                for _ in 0..SPAWNS {
                    ciranda::spawn(task()).await.unwrap();
                }
            })
            .await
            .unwrap();
        }),
        (true, true) => {
            let handles: Vec<_> = (0..SPAWNS).map(|_| runtime.spawn(task())).collect();
            runtime.block_on(async {
                for h in handles {
                    h.await.unwrap();
                }
            });
        }
        (true, false) => {
            for _ in 0..SPAWNS {
                runtime.block_on(runtime.spawn(task())).unwrap();
            }
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let workers: Vec<usize> = {
        let args: Vec<usize> = std::env::args()
            .skip(1)
            .map(|a| a.parse().expect("usage: wakeup_model [workers ...]"))
            .collect();
        if args.is_empty() {
            vec![1, 2, 4, 8, 16, 32, 64]
        } else {
            args
        }
    };
    println!(
        "per spawn, median of {ROUNDS} rounds of {SPAWNS} spawns (the trickle shapes' spawner \
         task or thread counted in)"
    );
    println!("| workers | shape | parks per round | parks | steals | polls |");
    println!("|--:|---|--:|--:|--:|--:|");
    for &w in &workers {
        let runtime = ciranda::Runtime::builder()
            .worker_threads(w)
            .build()
            .expect("runtime");
        // Idle parks over a settle window with no work, to subtract (normally none).
        let before = settle(&runtime);
        let idle = settle(&runtime).parks - before.parks;
        for shape in &SHAPES {
            let (mut parks, mut steals, mut polls) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                let before = settle(&runtime);
                round(&runtime, shape);
                let after = settle(&runtime);
                let per = |n: u64| n as f64 / SPAWNS as f64;
                parks.push(per((after.parks - before.parks).saturating_sub(idle)));
                steals.push(per(after.steals - before.steals));
                polls.push(per(after.polls - before.polls));
            }
            let parks = median(parks);
            println!(
                "| {w} | `{}` | {:.0} | {parks:.3} | {:.3} | {:.3} |",
                shape.name,
                parks * SPAWNS as f64,
                median(steals),
                median(polls)
            );
        }
    }
}
