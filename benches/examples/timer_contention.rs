//! Contention on the reactor's timer wheels: T plain threads (not workers), each entered
//! in the same runtime, arm and cancel timers as fast as they can (poll a `sleep` once, which
//! inserts it in a wheel under that wheel's mutex, then drop it, which removes it under the
//! same mutex). The runtime has one wheel per worker, and plain threads are spread over them
//! round-robin, so T threads share `TIMER_CONTENTION_WORKERS` wheels (default 2). Prints,
//! per thread count, the total arm+cancel pairs per second and the cost of one pair. On a
//! machine with fewer cores than threads this measures the locks' hand-off cost under
//! oversubscription, not parallel scaling; see docs/scaling.md.
//!
//! With `TIMER_CONTENTION_SEPARATE=1` each thread enters a runtime of its own instead, so no
//! two threads share a wheel, a lock or a poller.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example timer_contention
//! target/release/examples/timer_contention 1 2 4 8 16
//! TIMER_CONTENTION_WORKERS=16 target/release/examples/timer_contention 1 2 4 8 16
//! TIMER_CONTENTION_SEPARATE=1 target/release/examples/timer_contention 1 2 4 8 16
//! ```

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

const PAIRS_PER_THREAD: usize = 200_000;

/// `runtimes`: thread `t` enters `runtimes[t % runtimes.len()]`.
fn run(runtimes: &[ciranda::Runtime], threads: usize) -> f64 {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let handle = runtimes[t % runtimes.len()].handle();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let _entered = handle.enter();
                let mut cx = Context::from_waker(Waker::noop());
                barrier.wait();
                for i in 0..PAIRS_PER_THREAD {
                    // 1-101 s: spread over levels 1-2 of the wheel, as timeouts are, and never
                    // due before the poll even when the thread is preempted.
                    let ms = 1_000 + ((i * 7919 + t * 104_729) % 100_000) as u64;
                    let mut sleep = pin!(ciranda::time::sleep(Duration::from_millis(ms)));
                    assert!(sleep.as_mut().poll(&mut cx).is_pending());
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for w in workers {
        w.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    (threads * PAIRS_PER_THREAD) as f64 / elapsed
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("thread counts"))
        .collect();
    let counts = if counts.is_empty() {
        vec![1, 2, 4, 8, 16]
    } else {
        counts
    };
    let separate = std::env::var_os("TIMER_CONTENTION_SEPARATE").is_some();
    let workers: usize = std::env::var("TIMER_CONTENTION_WORKERS").map_or(2, |w| {
        w.parse().expect("TIMER_CONTENTION_WORKERS: a worker count")
    });
    let runtime = || {
        ciranda::Runtime::builder()
            .worker_threads(workers)
            .build()
            .unwrap()
    };
    let most = counts.iter().copied().max().unwrap_or(1);
    let runtimes: Vec<_> = (0..if separate { most } else { 1 })
        .map(|_| runtime())
        .collect();
    println!("| threads | arm+cancel pairs/s (all threads) | ns per pair (wall, per thread) |");
    println!("|--:|--:|--:|");
    for &t in &counts {
        let rate = run(&runtimes, t);
        println!("| {t} | {:.0} | {:.0} |", rate, t as f64 * 1e9 / rate);
    }
}
