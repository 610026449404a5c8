//! `scheduler/chained_spawn` without criterion, split into its three parts: the wake-up of a
//! worker by the remote spawn that starts the chain (from the spawn to the first task's
//! poll), the chain itself, and the wake-up of the bench thread by the last task (from its
//! `send` to the bench thread's return from `recv`). One runtime per process; prints the
//! median, 10th and 90th percentiles of each part over the iterations.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example chain_probe
//! target/release/examples/chain_probe <runtime> [chain length] [iterations]
//! ```
//!
//! `runtime` is `ciranda`, `tokio` or `smol`; the chain is 1 000 spawns long by default (the
//! bench's), over 2 000 iterations. `CIRANDA_BENCH_WORKERS` sets the worker count as for the
//! benches.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Instant;

/// When the first task of the current chain was polled.
static FIRST_POLL: Mutex<Option<Instant>> = Mutex::new(None);

macro_rules! probe {
    ($rt:ident, $len:expr, $iters:expr) => {{
        use common::$rt as rt;

        fn chain(done: mpsc::SyncSender<Instant>, n: usize) {
            if n == 0 {
                done.send(Instant::now()).unwrap();
            } else {
                rt::detach(rt::spawn(async move { chain(done, n - 1) }));
            }
        }

        let runtime = rt::Rt::new(common::workers());
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let (mut total, mut start_wake, mut chain_run, mut end_wake) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..$iters {
            let done_tx = done_tx.clone();
            let spawned = Instant::now();
            rt::detach(runtime.spawn(async move {
                *FIRST_POLL.lock().unwrap() = Some(Instant::now());
                chain(done_tx, $len)
            }));
            let sent = done_rx.recv().unwrap();
            let returned = Instant::now();
            let first = FIRST_POLL.lock().unwrap().take().unwrap();
            total.push(returned - spawned);
            start_wake.push(first - spawned);
            chain_run.push(sent - first);
            end_wake.push(returned - sent);
        }
        println!("{} chain of {}, {} iterations", rt::NAME, $len, $iters);
        println!("  whole iteration          {}", common::summary(total));
        println!("  spawn → first poll       {}", common::summary(start_wake));
        println!("  the chain                {}", common::summary(chain_run));
        println!("  last send → recv returns {}", common::summary(end_wake));
    }};
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let len: usize = args
        .get(2)
        .map_or(1_000, |a| a.parse().expect("chain length"));
    let iters: usize = args
        .get(3)
        .map_or(2_000, |a| a.parse().expect("iterations"));
    match args.get(1).map(String::as_str) {
        Some("ciranda") => probe!(ciranda_rt, len, iters),
        Some("tokio") => probe!(tokio_rt, len, iters),
        Some("smol") => probe!(smol_rt, len, iters),
        _ => eprintln!("usage: chain_probe ciranda|tokio|smol [chain length] [iterations]"),
    }
}
