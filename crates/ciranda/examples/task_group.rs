//! Mirrors asyncio's `TaskGroup` (`async with asyncio.TaskGroup() as tg: tg.create_task(..)`):
//! the group waits for every member; when one fails, the others are cancelled and every
//! failure is reported together, like an `ExceptionGroup`.
//!
//! Run it with `cargo run --example task_group`.

use ciranda::task::TaskGroup;
use ciranda::time::sleep;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sets a flag when dropped before `done` was called: shows that a member's future was
/// dropped (cancelled) while it was still running.
struct CancelProbe {
    cancelled: Arc<AtomicBool>,
    done: bool,
}

impl Drop for CancelProbe {
    fn drop(&mut self) {
        if !self.done {
            self.cancelled.store(true, Ordering::SeqCst);
        }
    }
}

async fn download(name: &'static str, delay_ms: u64) -> Result<String, String> {
    sleep(Duration::from_millis(delay_ms)).await;
    Ok(format!("{name}: {} bytes", name.len() * 100))
}

#[ciranda::main]
async fn main() {
    // Every member succeeds: `join` gives the outputs in spawn order.
    let mut group = TaskGroup::new();
    group.spawn(download("index.html", 30));
    group.spawn(download("style.css", 10));
    group.spawn(download("app.js", 20));
    match group.join().await {
        Ok(pages) => {
            for page in pages {
                println!("downloaded {page}");
            }
        }
        Err(error) => println!("unexpected failure: {error}"),
    }

    // One member fails: the slow member is cancelled (its future is dropped), and `join`
    // returns every error that happened.
    let slow_cancelled = Arc::new(AtomicBool::new(false));
    let mut group: TaskGroup<String, String> = TaskGroup::new();
    group.spawn(download("fast.txt", 10));
    group.spawn(async {
        sleep(Duration::from_millis(50)).await;
        Err("broken.txt: 404 not found".to_string())
    });
    let cancelled = slow_cancelled.clone();
    group.spawn(async move {
        let mut probe = CancelProbe {
            cancelled,
            done: false,
        };
        sleep(Duration::from_secs(30)).await;
        probe.done = true;
        Ok("slow.txt".to_string())
    });
    match group.join().await {
        Ok(pages) => println!("unexpected success: {pages:?}"),
        Err(error) => {
            println!("group failed: {error}");
            for e in error.errors() {
                println!("  error: {e}");
            }
            println!("  panics: {}", error.panics().len());
        }
    }
    println!(
        "slow member cancelled by the group: {}",
        slow_cancelled.load(Ordering::SeqCst)
    );

    // A panic counts as a failure too; it comes back as a `JoinError` instead of
    // unwinding through `join`.
    let mut group: TaskGroup<u32, String> = TaskGroup::new();
    group.spawn(async { Ok(1) });
    group.spawn(async {
        sleep(Duration::from_millis(10)).await;
        panic!("member exploded")
    });
    if let Err(error) = group.join().await {
        for panic in error.panics() {
            println!(
                "panic kept in the group error: is_panic = {}",
                panic.is_panic()
            );
        }
    }
}
