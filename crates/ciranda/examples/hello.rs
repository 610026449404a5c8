//! Mirrors asyncio's first lesson: `say_after` awaited one after the other (about 3 s), then
//! the same two calls as tasks created with `create_task` (about 2 s, because they overlap).
//!
//! Run it with `cargo run --example hello`.

use ciranda::time::{Instant, sleep};
use std::time::Duration;

/// `async def say_after(delay, what)`: sleep without blocking the loop, then print.
async fn say_after(delay: Duration, what: &str) {
    sleep(delay).await;
    println!("{what}");
}

#[ciranda::main]
async fn main() {
    // Sequential: each `.await` finishes before the next call starts, 1 s + 2 s.
    println!("sequential: started");
    let start = Instant::now();
    say_after(Duration::from_secs(1), "hello").await;
    say_after(Duration::from_secs(2), "world").await;
    println!(
        "sequential: finished in {:.1} s",
        start.elapsed().as_secs_f64()
    );

    // Concurrent: `ciranda::spawn` is `asyncio.create_task`. Both tasks start at once and run
    // while `main` waits, so the total is the longest delay, 2 s.
    println!("tasks: started");
    let start = Instant::now();
    let task1 = ciranda::spawn(say_after(Duration::from_secs(1), "hello"));
    let task2 = ciranda::spawn(say_after(Duration::from_secs(2), "world"));
    task1.await.expect("task 1 failed");
    task2.await.expect("task 2 failed");
    println!("tasks: finished in {:.1} s", start.elapsed().as_secs_f64());
}
