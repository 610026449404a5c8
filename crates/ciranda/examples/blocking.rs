//! Mirrors `loop.run_in_executor(None, blocking_fn)` / `asyncio.to_thread`: a blocking call
//! (here `std::thread::sleep`, standing for a synchronous library, file I/O or heavy
//! computation) runs on the blocking pool while the event loop keeps ticking.
//!
//! It also shows the mistake it avoids: the same blocking call made directly inside a task
//! holds a worker thread, and with one worker the loop stops ticking meanwhile.
//!
//! Run it with `cargo run --example blocking`.

use ciranda::time::{MissedTickBehavior, interval, sleep};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const BLOCKING_CALL: Duration = Duration::from_millis(300);

/// A synchronous function, like `requests.get` or `time.sleep(0.3)`.
fn blocking_call() -> u64 {
    std::thread::sleep(BLOCKING_CALL);
    (1..=1_000u64).sum()
}

fn verdict(ticks: usize) -> &'static str {
    if ticks == 0 {
        "stalled"
    } else {
        "kept ticking"
    }
}

// One worker thread makes the difference visible: everything async runs on that thread.
#[ciranda::main(worker_threads = 1)]
async fn main() {
    // A ticker task: the event loop's heartbeat, every 20 ms.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = ticks.clone();
        ciranda::spawn(async move {
            let mut every = interval(Duration::from_millis(20));
            // After a stall, do not fire the missed ticks in a burst: just carry on.
            every.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    sleep(Duration::from_millis(50)).await; // let it start

    // Wrong: a blocking call inside a task keeps the only worker busy for 300 ms.
    let counted = ticks.clone();
    let during = ciranda::spawn(async move {
        let before = counted.load(Ordering::SeqCst);
        let result = blocking_call();
        (result, counted.load(Ordering::SeqCst) - before)
    });
    let (result, ticked) = during.await.expect("task failed");
    println!(
        "blocking inside a task: result {result}; the loop {} ({ticked} ticks during the call)",
        verdict(ticked)
    );

    // Right: `spawn_blocking` runs it on the blocking pool; the worker stays free.
    let before = ticks.load(Ordering::SeqCst);
    let result = ciranda::spawn_blocking(blocking_call)
        .await
        .expect("blocking call failed");
    let ticked = ticks.load(Ordering::SeqCst) - before;
    println!(
        "spawn_blocking: result {result}; the loop {} ({ticked} ticks during the call)",
        verdict(ticked)
    );

    ticker.abort();
}
