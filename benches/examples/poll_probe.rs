//! The scheduler's cost per poll, for instruction counts: `scheduler/yield_many`'s workload
//! (200 tasks × 1 000 `yield_now`, spawned from outside) on ciranda alone, a fixed number of
//! rounds, without criterion's own work around it.
//!
//! ```text
//! poll_probe [workers] [rounds]     # defaults: 1 worker, 20 rounds
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='poll_probe::round' \
//!     target/release/examples/poll_probe 1 5
//! ```
//!
//! `POLL_PROBE_PAD=1` gives each task a 256-byte future, so no two tasks share a cache line.
//!
//! With one worker the count is deterministic enough to compare two builds: instructions per
//! poll = callgrind's total for `round` / (rounds × 200 × 1 001).

#[path = "../common/mod.rs"]
mod common;

use common::ciranda_rt as rt;
use std::sync::mpsc;
use std::time::Instant;

const TASKS: usize = 200;
const YIELDS: usize = 1_000;

/// One round of the workload; its own symbol so callgrind can count it alone.
#[inline(never)]
fn round(runtime: &rt::Rt, tx: &mpsc::SyncSender<()>, rx: &mpsc::Receiver<()>) {
    let pad = std::env::var_os("POLL_PROBE_PAD").is_some();
    for _ in 0..TASKS {
        let tx = tx.clone();
        if pad {
            // A 256-byte future: no two tasks' headers share a cache line.
            let padding = [0u8; 256];
            rt::detach(runtime.spawn(async move {
                let padding = std::hint::black_box(padding);
                for _ in 0..YIELDS {
                    rt::yield_now().await;
                }
                std::hint::black_box(&padding);
                tx.send(()).unwrap();
            }));
        } else {
            rt::detach(runtime.spawn(async move {
                for _ in 0..YIELDS {
                    rt::yield_now().await;
                }
                tx.send(()).unwrap();
            }));
        }
    }
    for _ in 0..TASKS {
        rx.recv().unwrap();
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let workers: usize = args.next().map_or(1, |a| a.parse().expect("workers"));
    let rounds: usize = args.next().map_or(20, |a| a.parse().expect("rounds"));
    let runtime = rt::Rt::new(workers);
    let (tx, rx) = mpsc::sync_channel(TASKS);
    round(&runtime, &tx, &rx); // warm-up
    let start = Instant::now();
    for _ in 0..rounds {
        round(&runtime, &tx, &rx);
    }
    let per_round = start.elapsed() / rounds as u32;
    let polls = (TASKS * (YIELDS + 1)) as f64;
    println!(
        "{workers} workers, {rounds} rounds: {per_round:?} per round, {:.2} ns per poll",
        per_round.as_nanos() as f64 / polls
    );
}
