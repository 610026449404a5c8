//! Clock jumps do not matter: ciranda's time is monotonic.
//!
//! How this is tested (changing the machine's wall clock in a test would need `CAP_SYS_TIME`
//! and would disturb every other process, so the tests do not do it):
//!
//! 1. ciranda's clock *is* the OS monotonic clock: `ciranda::time::Instant::now()` is a
//!    `std::time::Instant` (`CLOCK_MONOTONIC` on Linux), bracketed by two `std` readings, and
//!    it advances exactly like `clock_gettime(CLOCK_MONOTONIC)`. `CLOCK_MONOTONIC` is never
//!    stepped by `settimeofday`/`clock_settime(CLOCK_REALTIME)` or NTP steps (only slewed).
//! 2. No crate of the runtime reads the wall clock at all: their sources never mention
//!    `SystemTime`, `UNIX_EPOCH`, `CLOCK_REALTIME` or `gettimeofday` (checked here, so a
//!    regression fails the suite).
//! 3. `Instant::now()` never goes backwards, across threads and across pause/resume of the
//!    virtual clock.
//! 4. Forward jumps — what a suspended machine or a stalled process sees — are simulated with
//!    the virtual clock: after jumping a year, every timer that became due fires exactly
//!    once, none that is not due fires, intervals follow their missed-tick policy, and
//!    `Duration::MAX` (documented as "about 30 years") neither overflows nor fires early.

use ciranda::Runtime;
use ciranda::time::{self, Instant, MissedTickBehavior, interval, sleep, sleep_until, timeout};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into our struct.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(r, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn ciranda_time_is_the_monotonic_clock() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..100 {
            let before = std::time::Instant::now();
            let now = Instant::now().into_std();
            let after = std::time::Instant::now();
            assert!(before <= now && now <= after);
        }
        // Each ciranda reading is bracketed by two CLOCK_MONOTONIC ones, so the interval it
        // measures must lie between the inner and the outer monotonic intervals, however long
        // the thread is preempted between the reads. (A fixed 25 ms tolerance between paired
        // reads fails whenever a loaded machine preempts the thread longer between them.)
        let (m0, c0, m0_after) = (monotonic_now(), Instant::now(), monotonic_now());
        sleep(Duration::from_millis(50)).await;
        let (m1, c1, m1_after) = (monotonic_now(), Instant::now(), monotonic_now());
        let ciranda = c1 - c0;
        let (inner, outer) = (m1 - m0_after, m1_after - m0);
        assert!(
            inner <= ciranda && ciranda <= outer,
            "ciranda {ciranda:?} vs CLOCK_MONOTONIC between {inner:?} and {outer:?}"
        );
        assert!(ciranda >= Duration::from_millis(50));
    });
}

#[test]
fn no_runtime_crate_reads_the_wall_clock() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates");
    let Ok(crates) = std::fs::read_dir(&root) else {
        eprintln!("skipped: sources not found at {}", root.display());
        return;
    };
    let forbidden = ["SystemTime", "UNIX_EPOCH", "CLOCK_REALTIME", "gettimeofday"];
    let mut files = 0;
    let mut stack: Vec<_> = crates
        .filter_map(|e| Some(e.ok()?.path().join("src")))
        .collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for word in forbidden {
                    assert!(
                        !text.contains(word),
                        "{} uses {word}: timers must only use the monotonic clock",
                        path.display()
                    );
                }
            }
        }
    }
    assert!(files > 20, "only {files} source files found");
}

#[test]
fn now_never_goes_backwards_across_threads_and_pause_resume() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            rt.spawn(async {
                let mut last = Instant::now();
                for i in 0..20_000 {
                    let now = Instant::now();
                    assert!(now >= last, "time went backwards");
                    last = now;
                    if i % 1000 == 0 {
                        ciranda::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for r in readers {
        rt.block_on(r).unwrap();
    }
    // Pause, jump, resume: the clock continues from where it stood, never back.
    rt.block_on(async {
        let t0 = Instant::now();
        time::pause();
        let t1 = Instant::now();
        time::advance(Duration::from_secs(3600)).await;
        let t2 = Instant::now();
        time::resume();
        let t3 = Instant::now();
        sleep(Duration::from_millis(2)).await;
        let t4 = Instant::now();
        assert!(t0 <= t1 && t1 < t2 && t2 <= t3 && t3 < t4);
        assert!(t2 - t1 >= Duration::from_secs(3600));
    });
}

#[test]
fn a_forward_jump_fires_exactly_the_due_timers_once() {
    let rt = Runtime::builder()
        .worker_threads(2)
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let fired = Arc::new(AtomicUsize::new(0));
        let armed = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        // 1 000 timers due within the year, 100 after it, 10 never.
        let mut handles = Vec::new();
        for i in 0..1110u64 {
            let (fired, armed) = (fired.clone(), armed.clone());
            let d = match i {
                0..1000 => Duration::from_secs(1 + i * 31_000),
                1000..1100 => Duration::from_secs(400 * 86_400 + i),
                _ => Duration::MAX,
            };
            handles.push(ciranda::spawn(async move {
                let deadline = start.saturating_add(d);
                let mut timer = std::pin::pin!(sleep_until(deadline));
                // Arm the timer, then count it as armed.
                let first = futures_util::poll!(timer.as_mut());
                assert!(first.is_pending());
                armed.fetch_add(1, SeqCst);
                timer.await;
                fired.fetch_add(1, SeqCst);
                // Fired at or after its deadline, never before.
                assert!(Instant::now() >= start.saturating_add(d));
            }));
        }
        // The clock stands still meanwhile: every timer is armed before the jump.
        while armed.load(SeqCst) < 1110 {
            ciranda::task::yield_now().await;
        }
        let year = Duration::from_secs(365 * 86_400);
        time::advance(year).await;
        // Let every woken task run.
        for _ in 0..10 {
            ciranda::task::yield_now().await;
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while fired.load(SeqCst) < 1000 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            ciranda::task::yield_now().await;
        }
        assert_eq!(fired.load(SeqCst), 1000, "exactly the due timers fired");
        // A timeout that became due during the jump expires; its future is dropped.
        let r = timeout(Duration::from_secs(1), std::future::pending::<()>()).await;
        assert!(r.is_err());
        for h in handles.iter().skip(1000) {
            assert!(!h.is_finished());
        }
        // A second jump past the 400-day timers fires them, still not the MAX ones.
        time::advance(Duration::from_secs(40 * 86_400)).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while fired.load(SeqCst) < 1100 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            ciranda::task::yield_now().await;
        }
        assert_eq!(fired.load(SeqCst), 1100);
        for h in handles.iter().skip(1100) {
            assert!(
                !h.is_finished(),
                "a Duration::MAX sleep fired after 440 days"
            );
        }
        // A huge jump (136 years) overflows nothing. `Duration::MAX` stands for "never" and is
        // documented as about 30 years away, so those timers fire now too, once each.
        time::advance(Duration::from_secs(u64::from(u32::MAX))).await;
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(fired.load(SeqCst), 1110);
    });
}

#[test]
fn intervals_follow_their_missed_tick_policy_after_a_jump() {
    let rt = Runtime::builder()
        .worker_threads(1)
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let period = Duration::from_secs(1);
        for behavior in [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ] {
            let mut iv = interval(period);
            iv.set_missed_tick_behavior(behavior);
            let first = iv.tick().await;
            // The process "stalls" for 10.5 periods.
            time::advance(Duration::from_millis(10_500)).await;
            let late = iv.tick().await;
            assert_eq!(
                late,
                first + period,
                "{behavior:?}: the missed tick comes first"
            );
            let next = iv.tick().await;
            match behavior {
                // Burst: the missed ticks follow at once, one per tick().
                MissedTickBehavior::Burst => assert_eq!(next, first + 2 * period),
                // Delay: one period after the late tick was taken.
                MissedTickBehavior::Delay => {
                    assert_eq!(next, first + Duration::from_millis(10_500) + period)
                }
                // Skip: the next multiple of the period after now.
                MissedTickBehavior::Skip => assert_eq!(next, first + 11 * period),
            }
        }
    });
}
