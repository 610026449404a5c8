//! Mirrors `asyncio.wait_for(aw, timeout)` and `async with asyncio.timeout(delay):`: give an
//! operation a deadline; when it passes, the operation is cancelled (its future dropped) and
//! the caller gets an error (`TimeoutError` in Python, `Elapsed` here).
//!
//! Run it with `cargo run --example timeouts`.

use ciranda::task::{WaitFor, wait};
use ciranda::time::{Duration, Instant, sleep, timeout, timeout_at};

/// Prints when dropped before the operation finished: shows that a timed-out operation was
/// cancelled (its future dropped), like `except CancelledError:` in Python.
struct CancelNotice {
    finished: bool,
}

impl Drop for CancelNotice {
    fn drop(&mut self) {
        if !self.finished {
            println!("  (slow operation cancelled: its future was dropped)");
        }
    }
}

async fn slow_operation() -> &'static str {
    let mut notice = CancelNotice { finished: false };
    sleep(Duration::from_secs(60)).await;
    notice.finished = true;
    "slow result"
}

async fn fast_operation() -> &'static str {
    sleep(Duration::from_millis(10)).await;
    "fast result"
}

#[ciranda::main]
async fn main() {
    // `await asyncio.wait_for(fast(), timeout=1)`: finishes in time.
    match timeout(Duration::from_secs(1), fast_operation()).await {
        Ok(value) => println!("fast operation: Ok({value})"),
        Err(elapsed) => println!("fast operation: {elapsed}"),
    }

    // `await asyncio.wait_for(slow(), timeout=0.1)`: the deadline passes, the operation is
    // dropped, the caller gets `Err(Elapsed)`.
    match timeout(Duration::from_millis(100), slow_operation()).await {
        Ok(value) => println!("slow operation: Ok({value})"),
        Err(elapsed) => println!("slow operation: Err({elapsed})"),
    }

    // `async with asyncio.timeout(0.2):` around several steps: wrap them in one async block,
    // or share one deadline with `timeout_at`.
    let deadline = Instant::now() + Duration::from_millis(200);
    let steps = async {
        fast_operation().await;
        println!("  step 1 done");
        slow_operation().await;
        println!("  step 2 done");
    };
    let result = timeout_at(deadline, steps).await;
    println!(
        "two steps under one deadline: timed out = {}",
        result.is_err()
    );

    // `Elapsed` converts into `io::Error` (kind `TimedOut`), so `?` works in I/O code.
    let as_io: std::io::Error = timeout(Duration::from_millis(1), slow_operation())
        .await
        .unwrap_err()
        .into();
    println!("as io::Error: kind {:?}", as_io.kind());

    // A zero timeout still polls the future once: ready work succeeds.
    let ready = timeout(Duration::ZERO, async { 42 }).await;
    println!("zero timeout on ready work: {ready:?}");

    // Careful with tasks: a timeout around a `JoinHandle` drops the *handle* on expiry, which
    // detaches the task instead of cancelling it. Abort it yourself.
    let task = ciranda::spawn(slow_operation());
    let abort = task.abort_handle();
    if timeout(Duration::from_millis(20), task).await.is_err() {
        println!("task timed out; still running: {}", !abort.is_finished());
        abort.abort();
        while !abort.is_finished() {
            ciranda::task::yield_now().await;
        }
        println!("task aborted: finished = {}", abort.is_finished());
    }

    // `asyncio.wait(tasks, timeout=...)`: nothing is cancelled, you get (done, pending).
    let quick = ciranda::spawn(fast_operation());
    let slow = ciranda::spawn(slow_operation());
    let (done, pending) = wait(
        vec![quick, slow],
        WaitFor::AllCompleted,
        Some(Duration::from_millis(200)),
    )
    .await;
    println!(
        "wait with timeout: {} done, {} pending",
        done.len(),
        pending.len()
    );
    for task in pending {
        task.abort();
        let _ = task.await;
    }
}
