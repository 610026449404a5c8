//! Mirrors Python's async iterators and async generators (`async for`): values that arrive
//! over time, one `.await` each.
//!
//! ```python
//! async def one_at_a_time(keys):
//!     for k in keys:
//!         await asyncio.sleep(0.05)
//!         yield k
//!
//! async for key in one_at_a_time(["Americas", "Africa", "Europe", "Asia"]):
//!     print(key)
//! ```
//!
//! Rust has no `yield` in async functions yet; `ciranda::stream::unfold` builds the same
//! generator from a state and an async step. `while let Some(x) = stream.next().await` is
//! `async for`, and `StreamExt` adds the itertools-like adapters.
//!
//! Run it with `cargo run --example stream`.

use ciranda::stream::{self, Stream, StreamExt};
use ciranda::time::{interval, sleep};
use std::time::Duration;

/// The async generator: yields each key after a short sleep.
fn one_at_a_time(keys: Vec<&'static str>) -> impl Stream<Item = &'static str> {
    stream::unfold(keys.into_iter(), |mut keys| async move {
        let key = keys.next()?; // `StopAsyncIteration` when the keys run out
        sleep(Duration::from_millis(50)).await;
        Some((key, keys))
    })
}

/// An async generator with its own state: a countdown.
fn countdown(from: u32) -> impl Stream<Item = u32> {
    stream::unfold(from, |n| async move {
        if n == 0 {
            return None;
        }
        sleep(Duration::from_millis(10)).await;
        Some((n, n - 1))
    })
}

#[ciranda::main]
async fn main() {
    // `async for key in one_at_a_time(keys)`; the stream must be pinned to call `next`.
    let keys = one_at_a_time(vec!["Americas", "Africa", "Europe", "Asia"]);
    let mut keys = std::pin::pin!(keys);
    while let Some(key) = keys.next().await {
        println!("{key}");
    }

    // An async comprehension: `[n * n async for n in countdown(5) if n % 2 == 1]`.
    let odd_squares: Vec<u32> = countdown(5)
        .filter(|n| std::future::ready(n % 2 == 1))
        .map(|n| n * n)
        .collect()
        .await;
    println!("odd squares from countdown(5): {odd_squares:?}");

    // Timers are streams too: the first three ticks of an interval.
    let ticks = interval(Duration::from_millis(10)).take(3).count().await;
    println!("interval ticks taken: {ticks}");

    // `as_completed`: results of concurrent tasks as a stream, fastest first.
    let mut finished = ciranda::task::as_completed([30u64, 10, 20].map(|ms| async move {
        sleep(Duration::from_millis(ms * 10)).await;
        ms
    }));
    let mut order = Vec::new();
    while let Some(ms) = finished.next().await {
        order.push(ms);
    }
    println!("as_completed order: {order:?}");
}
