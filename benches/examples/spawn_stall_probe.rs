//! The longest single `spawn` while many tasks are alive: `L` tasks wait forever, then one
//! task spawns `S` short tasks (each completes at once) and times every `spawn` call. A
//! registry sweep on the spawner's path shows up as one call that takes milliseconds. Prints
//! the median, 99.9th percentile and maximum call over the rounds.
//!
//! ```text
//! cargo build --profile bench -p ciranda-benches --example spawn_stall_probe
//! target/release/examples/spawn_stall_probe [live tasks] [spawns] [rounds]
//! ```

use std::future::pending;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let live = args.next().unwrap_or(100_000);
    let spawns = args.next().unwrap_or(200_000);
    let rounds = args.next().unwrap_or(5);
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        for _ in 0..live {
            drop(ciranda::spawn(pending::<()>()));
        }
    });
    let mut calls: Vec<Duration> = Vec::with_capacity(spawns * rounds);
    let mut totals = Vec::new();
    for _ in 0..rounds {
        let (mine, total) = rt.block_on(async move {
            ciranda::spawn(async move {
                let mut mine = Vec::with_capacity(spawns);
                let start = Instant::now();
                for _ in 0..spawns {
                    let t = Instant::now();
                    drop(ciranda::spawn(async {}));
                    mine.push(t.elapsed());
                }
                (mine, start.elapsed())
            })
            .await
            .unwrap()
        });
        calls.extend(mine);
        totals.push(total);
    }
    calls.sort();
    let at = |q: f64| calls[((calls.len() - 1) as f64 * q) as usize];
    println!(
        "{live} live tasks, {spawns} spawns x {rounds}: spawn median {:?}, p99.9 {:?}, max {:?}; loop {:?}",
        at(0.5),
        at(0.999),
        calls[calls.len() - 1],
        totals
    );
}
