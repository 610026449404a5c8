//! Mirrors the `asyncio.Lock` counter: 10 tasks each add 1 to a shared counter 100 000 times
//! under the lock (`async with lock: counter += 1`); the total is exactly 1 000 000.
//!
//! Unlike asyncio, ciranda runs these tasks in parallel on several threads. Rust will not let
//! tasks share a plain `u64` mutably at all; `ciranda::sync::Mutex` gives each task exclusive
//! access in turn, and its guard may be held across `.await`.
//!
//! Run it with `cargo run --release --example lock_counter`.

use ciranda::sync::Mutex;
use std::sync::Arc;

const TASKS: u64 = 10;
const INCREMENTS: u64 = 100_000;

/// `async def increment()`: take the lock for every single increment.
async fn increment(counter: Arc<Mutex<u64>>) {
    for _ in 0..INCREMENTS {
        let mut value = counter.lock().await;
        *value += 1;
        // The guard unlocks here, when it goes out of scope (the end of `async with`).
    }
}

#[ciranda::main]
async fn main() {
    let counter = Arc::new(Mutex::new(0u64));
    let tasks = (0..TASKS).map(|_| increment(counter.clone()));
    ciranda::gather(tasks).await;
    println!(
        "{TASKS} tasks x {INCREMENTS} increments: final counter = {}",
        *counter.lock().await
    );
    println!("expected {}", TASKS * INCREMENTS);
}
