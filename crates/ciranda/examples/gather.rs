//! Mirrors asyncio's `gather`: run several coroutines at once and get their results back in
//! the order they were passed, whatever order they finish in; failures stay in their slot
//! (`return_exceptions=True`), or the first one wins (`try_gather`, fail fast).
//!
//! Run it with `cargo run --example gather`.

use ciranda::time::sleep;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

/// `async def fetch_data(id, sleep_time)`: pretend to download something.
async fn fetch_data(id: u32, delay_ms: u64) -> String {
    sleep(Duration::from_millis(delay_ms)).await;
    format!("sample data from coroutine {id}")
}

/// A fetch that fails for one id, returning the error as a value.
async fn fetch_checked(id: u32) -> Result<String, String> {
    sleep(Duration::from_millis(20 * u64::from(id))).await;
    if id == 2 {
        Err(format!("coroutine {id}: connection refused"))
    } else {
        Ok(format!("data {id}"))
    }
}

#[ciranda::main]
async fn main() {
    // 1. Results in input order. The second fetch finishes first and the third last, but
    //    `gather` still returns [1, 2, 3]. Each future runs as its own task, in parallel.
    let finished = Arc::new(Mutex::new(Vec::new()));
    let jobs = [(1, 200), (2, 100), (3, 300)].map(|(id, delay_ms)| {
        let finished = finished.clone();
        async move {
            let data = fetch_data(id, delay_ms).await;
            finished.lock().unwrap().push(id);
            data
        }
    });
    let results = ciranda::gather(jobs).await;
    for result in &results {
        println!("received result: {result}");
    }
    println!("completion order: {:?}", finished.lock().unwrap());

    // 2. Errors in place: futures that return `Result` give a `Vec<Result<..>>`, one entry
    //    per input, like `gather(..., return_exceptions=True)`.
    let results = ciranda::gather((1..=3).map(fetch_checked)).await;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(data) => println!("slot {i}: ok: {data}"),
            Err(error) => println!("slot {i}: error: {error}"),
        }
    }

    // 3. Fail fast: `try_gather` returns the first error and cancels the other children,
    //    like a plain `gather` that raises.
    match ciranda::try_gather((1..=3).map(fetch_checked)).await {
        Ok(all) => println!("try_gather: all succeeded: {all:?}"),
        Err(error) => println!("try_gather: failed fast: {error}"),
    }

    // 4. A list built in a loop: `gather(*[square(n) for n in numbers])`.
    let numbers = [1u64, 2, 4, 8, 16, 32];
    let squares = ciranda::gather(numbers.map(|n| async move {
        sleep(Duration::from_millis(10)).await;
        n * n
    }))
    .await;
    println!("squares: {squares:?}");
}
