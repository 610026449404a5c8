//! A quick tour of ciranda for asyncio users, in about a second: tasks, `gather`,
//! `TaskGroup`, a lock, a semaphore, a queue with workers, a timeout, blocking work and an
//! async stream. Each section has its own, longer example in this directory.
//!
//! Run it with `cargo run --release --example tour`.

use ciranda::stream::{self, StreamExt};
use ciranda::sync::{Mutex, Queue, Semaphore};
use ciranda::task::TaskGroup;
use ciranda::time::{Duration, Instant, sleep, timeout};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn say_after(delay_ms: u64, what: &str) {
    sleep(Duration::from_millis(delay_ms)).await;
    println!("  {what}");
}

#[ciranda::main]
async fn main() {
    println!("1. tasks (asyncio.create_task) -- examples/hello.rs");
    let start = Instant::now();
    say_after(100, "hello").await;
    say_after(200, "world").await;
    let sequential = start.elapsed();
    let start = Instant::now();
    let hello = ciranda::spawn(say_after(100, "hello"));
    let world = ciranda::spawn(say_after(200, "world"));
    hello.await.unwrap();
    world.await.unwrap();
    let concurrent = start.elapsed();
    println!(
        "  awaited one by one: {:.2} s; as two tasks: {:.2} s",
        sequential.as_secs_f64(),
        concurrent.as_secs_f64()
    );

    println!("2. gather: results in input order -- examples/gather.rs");
    let delays = [30u64, 10, 20];
    let results = ciranda::gather(delays.map(|ms| async move {
        sleep(Duration::from_millis(ms)).await;
        format!("slept {ms} ms")
    }))
    .await;
    println!("  {results:?}");

    println!("3. TaskGroup: one failure cancels the rest -- examples/task_group.rs");
    let mut group = TaskGroup::new();
    group.spawn(async { Ok(1) });
    group.spawn(async {
        sleep(Duration::from_millis(20)).await;
        Err("member 2 failed")
    });
    group.spawn(async {
        sleep(Duration::from_secs(60)).await; // cancelled by the failure above
        Ok(3)
    });
    match group.join().await {
        Ok(values) => println!("  all succeeded: {values:?}"),
        Err(error) => println!("  errors: {:?}", error.errors()),
    }

    println!("4. Lock: 10 tasks x 10 000 increments -- examples/lock_counter.rs");
    let counter = Arc::new(Mutex::new(0u32));
    ciranda::gather((0..10).map(|_| {
        let counter = counter.clone();
        async move {
            for _ in 0..10_000 {
                *counter.lock().await += 1;
            }
        }
    }))
    .await;
    println!("  counter = {}", *counter.lock().await);

    println!("5. Semaphore(3) -- examples/semaphore.rs");
    let semaphore = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    ciranda::gather((0..9).map(|_| {
        let (semaphore, inside, max) = (semaphore.clone(), inside.clone(), max.clone());
        async move {
            let _permit = semaphore.acquire().await.unwrap();
            max.fetch_max(inside.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            sleep(Duration::from_millis(30)).await;
            inside.fetch_sub(1, Ordering::SeqCst);
        }
    }))
    .await;
    println!(
        "  9 tasks, at most {} at a time",
        max.load(Ordering::SeqCst)
    );

    println!("6. Queue: producer, 3 workers, join -- examples/queue_workers.rs");
    let queue = Arc::new(Queue::new(4));
    let total = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let (queue, total) = (queue.clone(), total.clone());
            ciranda::spawn(async move {
                loop {
                    let job: usize = queue.get().await;
                    sleep(Duration::from_millis(5)).await;
                    total.fetch_add(job, Ordering::SeqCst);
                    queue.task_done();
                }
            })
        })
        .collect();
    for job in 1..=10 {
        queue.put(job).await;
    }
    queue.join().await;
    for worker in workers {
        worker.abort();
    }
    println!(
        "  jobs 1..=10 processed, sum = {}",
        total.load(Ordering::SeqCst)
    );

    println!("7. timeout (asyncio.wait_for) -- examples/timeouts.rs");
    let late = timeout(Duration::from_millis(50), sleep(Duration::from_secs(60))).await;
    let on_time = timeout(Duration::from_secs(1), async { "done" }).await;
    let late = late.map_err(|elapsed| elapsed.to_string());
    println!("  slow: {late:?}; fast: {on_time:?}");

    println!("8. spawn_blocking (asyncio.to_thread) -- examples/blocking.rs");
    let sum = ciranda::spawn_blocking(|| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        (1..=100u64).sum::<u64>()
    })
    .await
    .unwrap();
    println!("  computed on the blocking pool: {sum}");

    println!("9. async generator (async for) -- examples/stream.rs");
    let countdown = stream::unfold(3, |n| async move {
        if n == 0 {
            return None;
        }
        sleep(Duration::from_millis(10)).await;
        Some((n, n - 1))
    });
    let values: Vec<u32> = countdown.collect().await;
    println!("  countdown: {values:?}");
}
