//! Mirrors `asyncio.Event`: tasks wait until another task sets the flag; `set()` releases every
//! waiter at once, `clear()` makes later waits block again.
//!
//! Run it with `cargo run --example event`.

use ciranda::sync::Event;
use ciranda::time::{sleep, timeout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `async def waiter(event)`: wait for the flag, report whether it came after the set.
async fn waiter(id: u32, event: Arc<Event>, announced: Arc<AtomicBool>) -> String {
    event.wait().await;
    format!(
        "waiter {id}: ... got it! (after set: {})",
        announced.load(Ordering::SeqCst)
    )
}

#[ciranda::main]
async fn main() {
    let event = Arc::new(Event::new());
    let announced = Arc::new(AtomicBool::new(false));

    // Spawn tasks that wait until the event is set.
    let waiters: Vec<_> = (1..=3)
        .map(|id| ciranda::spawn(waiter(id, event.clone(), announced.clone())))
        .collect();
    println!("3 waiters waiting for it ... (is_set: {})", event.is_set());

    // Sleep a little, then set the event.
    sleep(Duration::from_millis(100)).await;
    println!("main: setting the event");
    announced.store(true, Ordering::SeqCst);
    event.set();

    // Wait until the waiter tasks are finished.
    for line in ciranda::task::gather_handles(waiters).await {
        println!("{}", line.expect("waiter failed"));
    }

    // While the flag is set, `wait` returns at once.
    event.wait().await;
    println!(
        "wait on a set event returns at once (is_set: {})",
        event.is_set()
    );

    // After `clear`, a new `wait` blocks until the next `set`.
    event.clear();
    let blocked = timeout(Duration::from_millis(50), event.wait())
        .await
        .is_err();
    println!("after clear: a new wait blocks (still waiting after 50 ms: {blocked})");
}
