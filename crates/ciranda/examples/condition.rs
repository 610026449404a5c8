//! Mirrors `asyncio.Condition`: a lock plus a way to wait until the state it protects reaches
//! a certain value. Consumers wait with the lock released and get it back when notified.
//!
//! In ciranda the condition is separate from the lock: a `ciranda::sync::Mutex` protects the
//! state and a `ciranda::sync::Condition` is used with its guard (`wait(guard).await` gives
//! the guard back).
//!
//! Run it with `cargo run --example condition`.

use ciranda::sync::{Condition, Mutex};
use ciranda::time::sleep;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// Shared state: a resource that is not ready at first, and the condition announcing it.
struct Resource {
    data: Mutex<Option<String>>,
    ready: Condition,
}

/// `async with cond: await cond.wait_for(lambda: data is not None)`.
async fn consumer(id: u32, resource: Arc<Resource>) -> String {
    let guard = resource.data.lock().await;
    let guard = resource
        .ready
        .wait_while(guard, |data| data.is_none())
        .await;
    format!(
        "consumer {id} sees: {}",
        guard.as_deref().unwrap_or("nothing")
    )
}

/// A work queue protected by a mutex, with a condition for "an item arrived".
struct Jobs {
    items: Mutex<VecDeque<Option<u32>>>,
    arrived: Condition,
}

#[ciranda::main]
async fn main() {
    // 1. notify_all: three consumers wait for the resource; the producer prepares it and wakes
    //    them all.
    let resource = Arc::new(Resource {
        data: Mutex::new(None),
        ready: Condition::new(),
    });
    let consumers: Vec<_> = (1..=3)
        .map(|id| ciranda::spawn(consumer(id, resource.clone())))
        .collect();
    sleep(Duration::from_millis(50)).await;
    {
        let mut data = resource.data.lock().await;
        *data = Some("the shared resource".to_string());
        println!("producer: resource ready, notify_all");
        resource.ready.notify_all();
    }
    for line in ciranda::task::gather_handles(consumers).await {
        println!("{}", line.expect("consumer failed"));
    }

    // 2. notify_one: a producer hands items one by one to a consumer that sleeps on the
    //    condition whenever the queue is empty. `None` means "no more items".
    let jobs = Arc::new(Jobs {
        items: Mutex::new(VecDeque::new()),
        arrived: Condition::new(),
    });
    let worker = {
        let jobs = jobs.clone();
        ciranda::spawn(async move {
            let mut total = 0;
            loop {
                let guard = jobs.items.lock().await;
                let mut guard = jobs.arrived.wait_while(guard, |q| q.is_empty()).await;
                match guard.pop_front().expect("not empty") {
                    Some(item) => {
                        println!("worker: got item {item}");
                        total += item;
                    }
                    None => return total,
                }
            }
        })
    };
    for item in (1..=5).map(Some).chain([None]) {
        sleep(Duration::from_millis(10)).await;
        jobs.items.lock().await.push_back(item);
        jobs.arrived.notify_one();
    }
    println!("worker: total = {}", worker.await.expect("worker failed"));
}
