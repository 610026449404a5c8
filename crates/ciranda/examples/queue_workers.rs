//! Mirrors the `asyncio.Queue` workers pattern: a producer puts jobs in a bounded queue,
//! three workers `get()` them and call `task_done()`, `queue.join()` waits until every job is
//! processed, then the workers (stuck in `get()` forever) are cancelled.
//!
//! Run it with `cargo run --example queue_workers`.

use ciranda::sync::Queue;
use ciranda::time::sleep;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const JOBS: u64 = 20;

/// Totals kept by the workers.
#[derive(Default)]
struct Stats {
    processed: AtomicU64,
    sum: AtomicU64,
}

/// `async def worker(name, queue)`: loop forever, one job at a time.
async fn worker(queue: Arc<Queue<u64>>, stats: Arc<Stats>) {
    loop {
        let job = queue.get().await;
        sleep(Duration::from_millis(5 * (job % 4))).await; // "process" the job
        stats.processed.fetch_add(1, Ordering::SeqCst);
        stats.sum.fetch_add(job, Ordering::SeqCst);
        queue.task_done();
    }
}

#[ciranda::main]
async fn main() {
    // A bounded queue: the producer waits in `put` while five jobs are pending.
    let queue = Arc::new(Queue::new(5));
    let stats = Arc::new(Stats::default());

    let workers: Vec<_> = (0..3)
        .map(|_| ciranda::spawn(worker(queue.clone(), stats.clone())))
        .collect();

    let producer = {
        let queue = queue.clone();
        ciranda::spawn(async move {
            for job in 1..=JOBS {
                queue.put(job).await;
            }
        })
    };
    producer.await.expect("producer failed");
    println!(
        "producer: put {JOBS} jobs (queue bound {})",
        queue.maxsize()
    );

    // `await queue.join()`: returns once `task_done` was called for every job.
    queue.join().await;
    println!(
        "join returned: {} jobs processed, sum = {} (expected {})",
        stats.processed.load(Ordering::SeqCst),
        stats.sum.load(Ordering::SeqCst),
        JOBS * (JOBS + 1) / 2
    );
    println!("queue empty: {}", queue.is_empty());

    // The workers are still waiting in `get()`: cancel them, as asyncio's example does with
    // `task.cancel()` followed by `gather(*tasks, return_exceptions=True)`.
    for w in &workers {
        w.abort();
    }
    let cancelled = ciranda::task::gather_handles(workers)
        .await
        .into_iter()
        .filter(|r| r.as_ref().is_err_and(|e| e.is_cancelled()))
        .count();
    println!("workers cancelled: {cancelled}");
}
