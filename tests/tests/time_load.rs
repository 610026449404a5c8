//! Load on the timers: one million timers armed at once (spread over one second) all fire,
//! none early, and the process's resident memory returns near its baseline afterwards.
//!
//! Alone in its binary: it measures the whole process's RSS.

use ciranda::Runtime;
use ciranda::stream::StreamExt;
use ciranda::time::{Instant, sleep_until};
use futures_util::stream::FuturesUnordered;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// Resident set size in bytes, after asking the allocator to give its free pages back (so
/// that memory ciranda still holds is told apart from memory malloc merely caches).
fn rss_after_trim() -> usize {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    rss()
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

const MB: usize = 1 << 20;

/// Arms `tasks × per_task` timers at once, deadlines spread over `spread`; returns how many
/// fired, the peak RSS seen, and the fewest timers armed when one fired.
fn storm(rt: &Runtime, tasks: usize, per_task: usize, spread: Duration) -> (usize, usize, usize) {
    let fired = Arc::new(AtomicUsize::new(0));
    let armed_at_fire = Arc::new(AtomicUsize::new(usize::MAX));
    let early = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(AtomicUsize::new(0));
    let peak = rt.block_on(async {
        let start = Instant::now() + Duration::from_millis(200);
        let spread_ms = spread.as_millis() as u64;
        let handles: Vec<_> = (0..tasks)
            .map(|t| {
                let (fired, early, armed) = (fired.clone(), early.clone(), armed.clone());
                let armed_at_fire = armed_at_fire.clone();
                ciranda::spawn(async move {
                    let mut set: FuturesUnordered<_> = (0..per_task)
                        .map(|i| {
                            let n = (t * per_task + i) as u64;
                            let deadline =
                                start + Duration::from_millis(n.wrapping_mul(7919) % spread_ms);
                            async move {
                                sleep_until(deadline).await;
                                Instant::now() >= deadline
                            }
                        })
                        .collect();
                    // The first poll arms every timer of this task.
                    let mut first = true;
                    while let Some(on_time) = std::future::poll_fn(|cx| {
                        let r = set.poll_next_unpin(cx);
                        if first {
                            first = false;
                            armed.fetch_add(per_task, SeqCst);
                        }
                        r
                    })
                    .await
                    {
                        fired.fetch_add(1, SeqCst);
                        armed_at_fire.fetch_min(armed.load(SeqCst), SeqCst);
                        if !on_time {
                            early.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        // Sample the RSS while the timers are armed.
        let mut peak = 0;
        while handles.iter().any(|h| !h.is_finished()) {
            peak = peak.max(rss());
            ciranda::time::sleep(Duration::from_millis(20)).await;
        }
        for h in handles {
            h.await.unwrap();
        }
        peak
    });
    assert_eq!(armed.load(SeqCst), tasks * per_task);
    assert_eq!(early.load(SeqCst), 0, "a timer fired before its deadline");
    (fired.load(SeqCst), peak, armed_at_fire.load(SeqCst))
}

/// The tests in this binary measure the process's RSS: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PER_TASK: usize = 1000;

/// Runs a storm of `tasks × 1000` timers; returns (baseline, peak, after) RSS, the last one
/// measured while the runtime is still alive, and the runtime.
fn million(paused: bool, tasks: usize) -> (usize, usize, usize, Runtime) {
    let rt = Runtime::builder()
        .worker_threads(2)
        .start_paused(paused)
        .build()
        .unwrap();
    // Warm up with the same shape, so thread-local and first-use allocations are made.
    assert_eq!(storm(&rt, 10, 1000, Duration::from_millis(100)).0, 10_000);
    let baseline = rss_after_trim();
    let started = std::time::Instant::now();
    // On the paused clock each distinct deadline is one jump of the clock: keep them to 100.
    let spread = Duration::from_millis(if paused { 100 } else { 1000 });
    let (fired, peak, armed_at_fire) = storm(&rt, tasks, PER_TASK, spread);
    let took = started.elapsed();
    assert_eq!(fired, tasks * PER_TASK, "every timer fired exactly once");
    if paused {
        // The paused clock stands still while tasks run: all were armed at once.
        assert_eq!(
            armed_at_fire,
            tasks * PER_TASK,
            "all armed before the first fired"
        );
    }
    let after = rss_after_trim();
    eprintln!(
        "{}k timers (paused clock: {paused}): {took:?}; RSS baseline {} MB, peak {} MB, after {} MB",
        tasks,
        baseline / MB,
        peak / MB,
        after / MB
    );
    // The runtime still keeps time.
    let t = rt.block_on(async {
        let s = Instant::now();
        ciranda::time::sleep(Duration::from_millis(5)).await;
        s.elapsed()
    });
    assert!(t >= Duration::from_millis(5));
    (baseline, peak, after, rt)
}

/// Generous: whatever is kept after the burst must be small next to the burst.
fn assert_near_baseline(baseline: usize, peak: usize, after: usize) {
    let growth = peak.saturating_sub(baseline).max(1);
    let kept = after.saturating_sub(baseline);
    assert!(
        kept <= 32 * MB || kept * 4 <= growth,
        "RSS did not return near baseline: baseline {} MB, peak {} MB, after {} MB",
        baseline / MB,
        peak / MB,
        after / MB
    );
}

#[test]
fn one_million_timers_on_the_real_clock_fire_once_none_early_and_memory_returns() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (baseline, peak, after, rt) = million(false, 1000);
    assert_near_baseline(baseline, peak, after);
    drop(rt);
}

#[test]
fn timers_armed_all_at_once_fire_once_and_memory_returns_with_the_runtime() {
    // 200 000 at once on the paused clock (it fires more slowly than the real one in debug
    // builds; the real-clock test above holds the million).
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (baseline, peak, _, rt) = million(true, 200);
    drop(rt);
    assert_near_baseline(baseline, peak, rss_after_trim());
}

/// The timer wheel frees the chunks of its slab as they empty, so the memory of a million
/// timers armed at once (~72 MB) returns while the runtime keeps running.
#[test]
fn one_million_timers_armed_at_once_memory_returns_while_the_runtime_lives() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (baseline, peak, after, rt) = million(true, 1000);
    assert_near_baseline(baseline, peak, after);
    drop(rt);
}
