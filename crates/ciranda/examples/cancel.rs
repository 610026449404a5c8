//! Mirrors asyncio's `task.cancel()`: start two tasks, cancel the long one, then await both
//! (`gather(task1, task2, return_exceptions=True)`) and look at how each one ended.
//!
//! In ciranda, cancelling a task means dropping its future at its next `.await`: the code after
//! that point never runs, and destructors (`Drop`) do the cleanup that an
//! `except CancelledError:` / `finally:` block does in Python.
//!
//! Run it with `cargo run --example cancel`.

use ciranda::time::sleep;
use std::time::Duration;

/// Prints when the routine's future is dropped, whether it finished or was cancelled: the
/// Rust counterpart of a `finally:` block.
struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("{}: cleanup ran", self.0);
    }
}

async fn routine(name: &'static str, delay: Duration) -> String {
    let _cleanup = Cleanup(name);
    sleep(delay).await;
    println!("{name}: finished its work");
    format!("{name} done")
}

#[ciranda::main]
async fn main() {
    let task1 = ciranda::spawn(routine("routine 1", Duration::from_millis(50)));
    let task2 = ciranda::spawn(routine("routine 2", Duration::from_secs(60)));

    // Wait for the quick one, then look at the states (`task.done()` is `is_finished()`).
    let result1 = task1.await;
    println!("routine 1 result: {result1:?}");
    println!("routine 2 done before cancel: {}", task2.is_finished());

    // `task2.cancel()`: ask for cancellation, then await the handle to see the outcome.
    task2.abort();
    match task2.await {
        Ok(value) => println!("routine 2 finished anyway: {value}"),
        Err(error) if error.is_cancelled() => {
            println!("routine 2 is_cancelled: {}", error.is_cancelled())
        }
        Err(error) => println!("routine 2 failed: {error}"),
    }

    // Cancelling a task that has already finished changes nothing: it keeps its output
    // (asyncio's `cancel()` returns False for a done task).
    let quick = ciranda::spawn(async { 7 });
    while !quick.is_finished() {
        ciranda::task::yield_now().await;
    }
    quick.abort();
    println!(
        "abort after finish: {:?}",
        quick.await.map_err(|e| e.is_cancelled())
    );

    // An `AbortHandle` cancels a task from elsewhere without owning its output.
    let worker = ciranda::spawn(routine("routine 3", Duration::from_secs(60)));
    let abort = worker.abort_handle();
    ciranda::spawn(async move {
        sleep(Duration::from_millis(20)).await;
        abort.abort();
    });
    let outcome = worker.await;
    println!(
        "routine 3 cancelled from another task: {}",
        outcome.is_err_and(|e| e.is_cancelled())
    );
}
