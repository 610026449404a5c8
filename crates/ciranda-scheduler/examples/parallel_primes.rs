//! Embedding only the scheduler: count primes in parallel with tasks, a blocking call and
//! a task list, without any I/O reactor.
//!
//! Run with `cargo run --release -p ciranda-scheduler --example parallel_primes`.

use ciranda_scheduler::task::{Builder, yield_now};
use ciranda_scheduler::{Scheduler, spawn};
use std::time::Instant;

fn is_prime(n: u64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

/// Counts primes in `range`, yielding every 10 000 numbers so other tasks get a turn.
async fn count_primes(range: std::ops::Range<u64>) -> usize {
    let mut count = 0;
    for (i, n) in range.enumerate() {
        if is_prime(n) {
            count += 1;
        }
        if i % 10_000 == 9_999 {
            yield_now().await;
        }
    }
    count
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sched = Scheduler::builder().thread_name("primes").build()?;
    let workers = sched.handle().num_workers();
    let started = Instant::now();
    let total = sched.block_on(async {
        let chunk = 250_000u64;
        let handles: Vec<_> = (0..8u64)
            .map(|i| {
                let name = format!("chunk-{i}");
                Builder::new()
                    .name(&name)
                    .spawn(count_primes(i * chunk..(i + 1) * chunk))
            })
            .collect();
        let listed = ciranda_scheduler::Handle::current().tasks();
        println!("{} tasks live, e.g. {:?}", listed.len(), listed.first());
        // Blocking work goes to the blocking pool, never onto a worker.
        let label = spawn(async {
            ciranda_scheduler::spawn_blocking(|| format!("pid {}", std::process::id()))
                .await
                .unwrap()
        });
        let mut total = 0;
        for handle in handles {
            total += handle.await?;
        }
        println!("computed in {}", label.await?);
        Ok::<usize, ciranda_scheduler::JoinError>(total)
    })?;
    println!(
        "{total} primes below 2 000 000 on {workers} workers in {:?}",
        started.elapsed()
    );
    assert_eq!(total, 148_933);
    Ok(())
}
