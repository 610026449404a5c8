//! Mirrors an `asyncio.Future()` shared by several coroutines: one task loads the
//! configuration and calls `future.set_result(..)`; three tasks `await` the same future and
//! all receive the value.
//!
//! `ciranda::sync::Promise<T>` is that future: set once, awaited by any number of tasks
//! (each gets a clone of the value).
//!
//! Run it with `cargo run --example shared_promise`.

use ciranda::sync::Promise;
use ciranda::time::sleep;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
struct Configuration {
    url: String,
    timeout_secs: u64,
}

/// `async def load_configuration(future)`: simulates reading a file, then sets the result.
async fn load_configuration(promise: Arc<Promise<Configuration>>) {
    sleep(Duration::from_millis(200)).await;
    let configuration = Configuration {
        url: "http://example.com".to_string(),
        timeout_secs: 5,
    };
    println!("loader: configuration loaded");
    promise
        .set(configuration)
        .expect("only the loader sets the configuration");
}

/// `async def use_configuration(name, future)`: waits for the value, then uses it.
async fn use_configuration(name: String, promise: Arc<Promise<Configuration>>) -> String {
    let configuration = promise.wait().await;
    format!(
        "{name} using the configuration: {} with a timeout of {} seconds",
        configuration.url, configuration.timeout_secs
    )
}

#[ciranda::main]
async fn main() {
    let promise = Arc::new(Promise::new());

    // Three tasks wait for the same value.
    let users: Vec<_> = (1..=3)
        .map(|i| ciranda::spawn(use_configuration(format!("task {i}"), promise.clone())))
        .collect();
    println!(
        "3 tasks waiting for the configuration (set yet: {})",
        promise.is_set()
    );

    // Load the configuration in the background (a detached task: its handle is dropped).
    ciranda::spawn(load_configuration(promise.clone()));

    for line in ciranda::task::gather_handles(users).await {
        println!("{}", line.expect("a user task failed"));
    }
    println!("set now: {}", promise.is_set());

    // A promise is set once; a second `set` gives the value back (asyncio raises
    // `InvalidStateError`).
    let again = Configuration {
        url: "http://other.example".to_string(),
        timeout_secs: 1,
    };
    match promise.set(again) {
        Ok(()) => println!("second set accepted?!"),
        Err(rejected) => println!("second set rejected, value given back: {}", rejected.url),
    }
}
