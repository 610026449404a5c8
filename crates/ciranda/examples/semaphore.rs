//! Mirrors `asyncio.Semaphore(3)`: ten tasks want to call a rate-limited API, at most three
//! may be inside `async with semaphore:` at the same time. The example measures how many were
//! inside at once.
//!
//! Run it with `cargo run --example semaphore`.

use ciranda::sync::Semaphore;
use ciranda::time::sleep;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const LIMIT: usize = 3;

/// Counts the tasks currently inside the limited section and the highest count seen.
#[derive(Default)]
struct Occupancy {
    inside: AtomicUsize,
    max: AtomicUsize,
}

/// `async def task(id)`: acquire, do the slow call, release.
async fn call_api(id: usize, semaphore: Arc<Semaphore>, occupancy: Arc<Occupancy>) -> usize {
    // `async with semaphore:` — the permit is released when `_permit` is dropped.
    let _permit = semaphore
        .acquire()
        .await
        .expect("the semaphore is never closed");
    let now = occupancy.inside.fetch_add(1, Ordering::SeqCst) + 1;
    occupancy.max.fetch_max(now, Ordering::SeqCst);
    sleep(Duration::from_millis(100)).await; // the slow request
    occupancy.inside.fetch_sub(1, Ordering::SeqCst);
    id
}

#[ciranda::main]
async fn main() {
    let semaphore = Arc::new(Semaphore::new(LIMIT));
    let occupancy = Arc::new(Occupancy::default());
    let tasks = (0..10).map(|id| call_api(id, semaphore.clone(), occupancy.clone()));
    let done = ciranda::gather(tasks).await;
    println!("{} tasks done, results in order: {done:?}", done.len());
    println!(
        "limit {LIMIT}: max concurrency observed = {}",
        occupancy.max.load(Ordering::SeqCst)
    );
    println!("permits available again: {}", semaphore.available_permits());

    // `try_acquire` does not wait: with every permit taken, it fails at once.
    let held: Vec<_> = (0..LIMIT)
        .map(|_| semaphore.try_acquire().unwrap())
        .collect();
    println!(
        "with {} permits held, try_acquire fails: {}",
        held.len(),
        semaphore.try_acquire().is_err()
    );
}
