//! Bad input to the time API: documented panics carry a message naming the problem, extreme
//! values neither overflow nor hang.
//!
//! | input | documented outcome |
//! |---|---|
//! | `interval(ZERO)`, `interval_at(_, ZERO)` | panic: "the period must be non-zero" |
//! | `time::advance` on a running clock | panic naming `pause()` |
//! | `sleep`, `sleep_until`, `interval`, `timeout` made outside a runtime | valid: bound to the runtime that first polls them (`time_outside_runtime.rs`); polled outside any runtime: panic naming the missing runtime |
//! | `pause`, `resume` outside a runtime | panic naming the missing runtime, at the caller's line (`Instant::now` reads the real clock there) |
//! | `sleep(Duration::MAX)`, `timeout(Duration::MAX, _)` | valid: "never" (~30 years), no overflow |
//! | `sleep_until` in the past, `sleep(ZERO)` | ready at once |
//! | `timeout(ZERO, f)` | `Err(Elapsed)` unless `f` is ready on its first poll |
//! | `Instant + Duration::MAX` | panics like `std` (documented); `saturating_add` does not |

use ciranda::Runtime;
use ciranda::time::{self, Instant, interval, interval_at, sleep, sleep_until, timeout};
use std::time::Duration;

fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn zero_periods_panic_with_a_message() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let _guard = rt.enter();
    let m = panic_message(|| drop(interval(Duration::ZERO)));
    assert!(m.contains("period must be non-zero"), "{m}");
    let m = panic_message(|| drop(interval_at(Instant::now(), Duration::ZERO)));
    assert!(m.contains("period must be non-zero"), "{m}");
    // The smallest valid period works.
    let ticks = rt.block_on(async {
        let mut iv = interval(Duration::from_nanos(1));
        for _ in 0..3 {
            iv.tick().await;
        }
        3
    });
    assert_eq!(ticks, 3);
}

#[test]
fn advancing_a_running_clock_panics_with_advice() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let h = rt.spawn(async { time::advance(Duration::from_secs(1)).await });
    let err = rt.block_on(h).unwrap_err();
    let m = err.panic_message().unwrap();
    assert!(m.contains("not paused"), "{m}");
    assert!(m.contains("pause"), "{m}");
}

#[test]
fn clock_controls_outside_a_runtime_panic_naming_the_missing_runtime() {
    for (what, f) in [
        ("pause", Box::new(time::pause) as Box<dyn Fn()>),
        ("resume", Box::new(time::resume)),
    ] {
        let m = panic_message(f);
        assert!(m.contains("no ciranda runtime"), "{what}: {m}");
        assert!(m.contains("ciranda::run"), "{what}: {m}");
    }
}

#[test]
fn timers_polled_outside_any_runtime_panic_naming_the_missing_runtime() {
    let mut s = std::pin::pin!(sleep(Duration::from_millis(1)));
    let m = panic_message(|| {
        let _ = std::future::Future::poll(
            s.as_mut(),
            &mut std::task::Context::from_waker(std::task::Waker::noop()),
        );
    });
    assert!(m.contains("outside a ciranda runtime"), "{m}");
    assert!(m.contains("Runtime::block_on"), "{m}");
}

#[test]
fn extreme_durations_do_not_overflow_or_hang() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        // "Never": no overflow, and it can be cancelled.
        let r = timeout(Duration::from_millis(10), sleep(Duration::MAX)).await;
        assert!(r.is_err());
        assert_eq!(timeout(Duration::MAX, async { 7 }).await.unwrap(), 7);
        let far = Instant::now().saturating_add(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(365 * 86_400));
        // In the past, or zero: ready at once.
        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        sleep_until(past).await;
        sleep(Duration::ZERO).await;
        assert!(
            timeout(Duration::ZERO, std::future::pending::<()>())
                .await
                .is_err()
        );
        assert_eq!(timeout(Duration::ZERO, async { 1 }).await.unwrap(), 1);
        // A sleep reset to the far future and back.
        let mut s = Box::pin(sleep(Duration::MAX));
        s.as_mut().reset(Instant::now() + Duration::from_millis(1));
        s.await;
    });
    let m = panic_message(|| {
        let _guard = rt.enter();
        let _ = Instant::now() + Duration::MAX;
    });
    assert!(m.contains("overflow"), "{m}");
}
