#![cfg(not(loom))]
//! Timers on the real clock and on the virtual clock.

use ciranda_reactor::time::{self, Instant, MissedTickBehavior};
use ciranda_reactor::{AutoAdvance, Reactor, block_on};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

fn paused() -> Reactor {
    Reactor::builder().start_paused(true).build().unwrap()
}

/// A deterministic pseudo-random sequence (xorshift).
fn durations(n: usize, max_ms: u64, mut seed: u64) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            Duration::from_micros(seed % (max_ms * 1000))
        })
        .collect()
}

#[test]
fn ten_thousand_timers_fire_in_order_real_clock() {
    let ds = durations(10_000, 200, 0x9e37_79b9_7f4a_7c15);
    let fired = RefCell::new(Vec::with_capacity(ds.len()));
    block_on(async {
        // Deadlines start well after the set-up, so nearly every timer waits in the wheel; one
        // whose deadline passed before its first poll completes at once and is not compared.
        let base = Instant::now() + Duration::from_millis(300);
        let all: FuturesUnordered<_> = ds
            .iter()
            .map(|d| {
                let deadline = base + *d;
                let fired = &fired;
                async move {
                    let late = Instant::now() >= deadline;
                    time::sleep_until(deadline).await;
                    let now = Instant::now();
                    assert!(now >= deadline, "fired early: {now:?} < {deadline:?}");
                    if !late {
                        fired.borrow_mut().push(deadline);
                    }
                }
            })
            .collect();
        all.collect::<Vec<()>>().await;
    });
    let fired = fired.into_inner();
    eprintln!("{} of {} timers waited in the wheel", fired.len(), ds.len());
    assert!(!fired.is_empty(), "set-up took longer than 300 ms");
    // In deadline order, at the wheel's 1 ms resolution.
    for pair in fired.windows(2) {
        assert!(
            pair[1] + Duration::from_millis(1) > pair[0],
            "out of order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[test]
fn ten_thousand_timers_fire_in_exact_order_virtual_clock() {
    let reactor = paused();
    let _g = reactor.enter();
    let ds: Vec<Duration> = durations(10_000, 100_000, 42)
        .into_iter()
        .map(|d| Duration::from_millis(d.as_millis() as u64))
        .collect();
    let start = Instant::now();
    let fired = RefCell::new(Vec::new());
    block_on(async {
        let all: FuturesUnordered<_> = ds
            .iter()
            .map(|d| {
                let fired = &fired;
                let d = *d;
                async move {
                    time::sleep(d).await;
                    // Virtual time: exactly at the deadline.
                    assert_eq!(Instant::now() - start, d.max(Duration::ZERO));
                    fired.borrow_mut().push(d);
                }
            })
            .collect();
        all.collect::<Vec<()>>().await;
    });
    let fired = fired.into_inner();
    let mut sorted = ds.clone();
    sorted.sort();
    assert_eq!(fired, sorted);
}

#[test]
fn sleep_is_never_early() {
    block_on(async {
        for ms in [0u64, 1, 2, 5, 13] {
            let start = std::time::Instant::now();
            time::sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms));
        }
    });
}

/// Polls `fut` once with a waker that counts its wake-ups.
fn poll_once<F: Future + Unpin>(fut: &mut F, wakes: &Arc<CountWake>) -> Poll<F::Output> {
    let waker = Waker::from(wakes.clone());
    std::pin::Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

#[test]
fn has_fired_turns_true_when_the_wheel_fires_the_sleep_not_when_the_clock_passes() {
    block_on(async {
        let wakes = Arc::new(CountWake(AtomicUsize::new(0)));
        let mut s = time::sleep(Duration::from_millis(10));
        assert!(!s.has_fired(), "not polled: no timer in the wheel");
        assert!(poll_once(&mut s, &wakes).is_pending());
        assert!(!s.has_fired());
        // The clock passes the deadline while nothing turns this thread's reactor.
        std::thread::sleep(Duration::from_millis(20));
        assert!(s.is_elapsed(), "is_elapsed reads the clock");
        assert!(!s.has_fired(), "has_fired asks the wheel only");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        // Waiting for another sleep turns the wheel past both deadlines.
        time::sleep(Duration::from_millis(5)).await;
        assert!(s.has_fired());
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "firing woke the first sleep's waker"
        );
        assert!(poll_once(&mut s, &wakes).is_ready());
        assert!(s.has_fired());
        // Moved, it waits again, and has not fired until the wheel reaches the new deadline.
        s.reset(Instant::now() + Duration::from_millis(10));
        assert!(!s.has_fired());
        assert!(poll_once(&mut s, &wakes).is_pending());
        assert!(!s.has_fired());
        time::sleep(Duration::from_millis(30)).await;
        assert!(s.has_fired());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
    });
}

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_ready_timeout_sets_no_timer_and_a_pending_one_uses_the_current_reactor() {
    let reactor = paused();
    let _entered = reactor.enter();
    let start = reactor.now();
    let t = time::timeout(Duration::from_secs(3), std::future::ready(5));
    // The deadline is fixed at creation, on the reactor's clock.
    assert_eq!(t.deadline(), start + Duration::from_secs(3));
    assert_eq!(block_on(t), Ok(5));
    // A pending inner future arms the timer on the current reactor: the paused clock jumps
    // to it.
    let r = block_on(time::timeout(
        Duration::from_secs(7),
        std::future::pending::<()>(),
    ));
    assert!(r.is_err());
    assert_eq!(reactor.now(), start + Duration::from_secs(7));
}

#[test]
fn a_timeout_first_pending_outside_any_reactor_panics_with_a_message() {
    let reactor = Reactor::new().unwrap();
    let t = {
        let _entered = reactor.enter();
        time::timeout(Duration::from_secs(1), std::future::pending::<()>())
    };
    let mut t = pin!(t);
    let waker = Waker::noop();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = t.as_mut().poll(&mut Context::from_waker(waker));
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("polled outside a ciranda runtime"),
        "{message}"
    );
}

#[test]
fn timeout_cancels_the_inner_future() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let r = block_on(async {
        time::timeout(Duration::from_millis(10), async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        })
        .await
    });
    assert!(r.is_err());
    assert!(dropped.load(Ordering::SeqCst), "inner future not dropped");
}

#[test]
fn timeout_polls_inner_first() {
    block_on(async {
        assert_eq!(time::timeout(Duration::ZERO, async { 5 }).await, Ok(5));
        let mut first = true;
        let once_pending = std::future::poll_fn(|cx| {
            if first {
                first = false;
                cx.waker().wake_by_ref();
                Poll::Pending
            } else {
                Poll::Ready(6)
            }
        });
        assert!(time::timeout(Duration::ZERO, once_pending).await.is_err());
        // A ready future beats an expired deadline.
        let deadline = Instant::now() - Duration::from_millis(1);
        assert_eq!(time::timeout_at(deadline, async { 7 }).await, Ok(7));
        // Not expired: the value comes through.
        let v = time::timeout(Duration::from_secs(10), async {
            time::sleep(Duration::from_millis(2)).await;
            8
        })
        .await;
        assert_eq!(v, Ok(8));
    });
}

#[test]
fn duration_max_does_not_panic() {
    block_on(async {
        let r = time::timeout(Duration::from_millis(5), time::sleep(Duration::MAX)).await;
        assert!(r.is_err());
        let mut s = time::sleep(Duration::MAX);
        assert!(!s.is_elapsed());
        s.reset(Instant::now());
        s.await;
        let r = time::timeout(Duration::MAX, async { 1 }).await;
        assert_eq!(r, Ok(1));
    });
    // On a paused clock auto-advance jumps all the way (about 30 years), without overflow.
    let reactor = paused();
    let _g = reactor.enter();
    block_on(async {
        let start = Instant::now();
        time::sleep(Duration::MAX).await;
        assert!(start.elapsed() > Duration::from_secs(86_400 * 365 * 29));
        time::sleep(Duration::from_millis(1)).await;
    });
}

/// Durations that do not overflow an `Instant` but lie past the end of the wheel's tick range
/// (about 36.5 million years: `Duration::from_millis(u64::MAX)`, a common "no timeout") are
/// "never" like `Duration::MAX`: on a paused clock auto-advance must still jump to them. Their
/// tick once saturated to the value a shard's hint uses for "empty", so the shard looked empty
/// to the turn computing its wait, which then waited for ever.
#[test]
fn deadlines_past_the_wheel_s_range_are_jumped_to_on_a_paused_clock() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for far in [
            Duration::from_millis(u64::MAX),
            Duration::from_secs(u64::MAX / 8),
        ] {
            let reactor = paused();
            let _g = reactor.enter();
            block_on(async {
                let start = Instant::now();
                let r = time::timeout(far, std::future::pending::<()>()).await;
                assert!(r.is_err());
                assert!(start.elapsed() > Duration::from_secs(86_400 * 365 * 1_000_000));
                // The clock stands at the end of the wheel's range: timers set there fire at
                // once instead of hanging.
                time::sleep(far).await;
                time::sleep(Duration::from_millis(1)).await;
            });
        }
        tx.send(()).unwrap();
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(60)),
        Ok(()),
        "auto-advance never reached a far deadline"
    );
}

#[test]
fn auto_advance_jumps_to_the_next_timer() {
    let reactor = paused();
    let _g = reactor.enter();
    let wall = std::time::Instant::now();
    block_on(async {
        let start = Instant::now();
        time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(3600));
        let r = time::timeout(
            Duration::from_secs(10),
            time::sleep(Duration::from_secs(20)),
        )
        .await;
        assert!(r.is_err());
        assert_eq!(start.elapsed(), Duration::from_secs(3610));
        let mut iv = time::interval(Duration::from_millis(250));
        let ticks: Vec<Instant> = (&mut iv).take(4).collect().await;
        for (i, t) in ticks.iter().enumerate() {
            assert_eq!(*t - ticks[0], Duration::from_millis(250) * i as u32);
        }
    });
    // Generous bound: virtual hours must not take real time.
    assert!(wall.elapsed() < Duration::from_secs(30));
}

struct CountWake(AtomicUsize);

impl Wake for CountWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn advance_fires_exactly_the_due_timers() {
    let reactor = paused();
    let _g = reactor.enter();
    let counter = Arc::new(CountWake(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut a = pin!(time::sleep(Duration::from_millis(10)));
    let mut b = pin!(time::sleep(Duration::from_millis(20)));
    let mut c = pin!(time::sleep(Duration::from_millis(30)));
    assert!(a.as_mut().poll(&mut cx).is_pending());
    assert!(b.as_mut().poll(&mut cx).is_pending());
    assert!(c.as_mut().poll(&mut cx).is_pending());
    // Real time passing changes nothing on a paused clock.
    assert_eq!(
        reactor.try_turn(Some(Duration::from_millis(30)), AutoAdvance::Never),
        Some(0)
    );
    assert!(a.as_mut().poll(&mut cx).is_pending());

    assert_eq!(reactor.advance_clock(Duration::from_millis(15)), 1);
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    assert!(a.as_mut().poll(&mut cx).is_ready());
    assert!(b.as_mut().poll(&mut cx).is_pending());

    assert_eq!(reactor.advance_clock(Duration::from_millis(15)), 2);
    assert!(b.as_mut().poll(&mut cx).is_ready());
    assert!(c.as_mut().poll(&mut cx).is_ready());

    // time::advance inside block_on, against a sleep that must not fire early.
    block_on(async {
        let start = Instant::now();
        let long = time::sleep(Duration::from_secs(10));
        time::advance(Duration::from_secs(4)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(4));
        assert!(!long.is_elapsed());
        long.await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    });
}

#[test]
fn pause_and_resume_keep_time_monotonic() {
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    time::pause();
    let a = Instant::now();
    std::thread::sleep(Duration::from_millis(3));
    assert_eq!(Instant::now(), a);
    block_on(time::advance(Duration::from_secs(2)));
    assert_eq!(Instant::now() - a, Duration::from_secs(2));
    time::resume();
    let b = Instant::now();
    assert!(b >= a + Duration::from_secs(2));
    block_on(time::sleep(Duration::from_millis(2)));
    assert!(Instant::now() >= b + Duration::from_millis(2));
}

/// `resume` runs the clock on from where it stood: the real time spent paused is not added,
/// or every timer due within it would fire at once on resume.
#[test]
fn resume_goes_on_from_the_frozen_instant() {
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    let real_pause = Duration::from_millis(200);
    time::pause();
    let frozen = Instant::now();
    let later = time::sleep(Duration::from_millis(100));
    std::thread::sleep(real_pause);
    time::resume();
    let resumed = Instant::now();
    assert!(
        resumed - frozen < real_pause / 2,
        "resume jumped {:?} ahead",
        resumed - frozen
    );
    assert!(!later.is_elapsed());
    // Paused again and advanced, it goes on from there too.
    time::pause();
    block_on(time::advance(Duration::from_secs(2)));
    let advanced = Instant::now();
    std::thread::sleep(real_pause);
    time::resume();
    assert!(Instant::now() - advanced < real_pause / 2);
    block_on(later);
}

#[test]
#[should_panic(expected = "the clock is not paused")]
fn advance_on_a_running_clock_panics() {
    let reactor = Reactor::new().unwrap();
    reactor.advance_clock(Duration::from_secs(1));
}

#[test]
fn interval_missed_tick_behaviours() {
    let reactor = paused();
    let _g = reactor.enter();
    block_on(async {
        let p = Duration::from_millis(100);
        let start = Instant::now();
        // Burst: late by 350 ms, the missed ticks come at once.
        let mut iv = time::interval(p);
        assert_eq!(iv.tick().await, start);
        time::advance(Duration::from_millis(350)).await;
        assert_eq!(iv.tick().await, start + p);
        assert_eq!(iv.tick().await, start + 2 * p);
        assert_eq!(iv.tick().await, start + 3 * p);
        assert_eq!(iv.tick().await, start + 4 * p);
        assert_eq!(Instant::now() - start, Duration::from_millis(400));

        let start = Instant::now();
        let mut iv = time::interval(p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        iv.tick().await;
        time::advance(Duration::from_millis(250)).await;
        assert_eq!(iv.tick().await, start + p); // late tick, taken at +250
        assert_eq!(iv.tick().await, start + Duration::from_millis(350));

        let start = Instant::now();
        let mut iv = time::interval(p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        iv.tick().await;
        time::advance(Duration::from_millis(250)).await;
        assert_eq!(iv.tick().await, start + p);
        assert_eq!(iv.tick().await, start + 3 * p);
    });
}

/// An interval that is never late keeps its schedule whatever the missed-tick behaviour: a
/// `Delay` interval must not drift by the wheel's rounding (a deadline fires at the first 62.5 µs
/// tick at or after it) or by scheduling latency, only start over after a real stall.
#[test]
fn a_delay_interval_that_keeps_up_does_not_drift() {
    let reactor = paused();
    let _g = reactor.enter();
    block_on(async {
        // 60 Hz: 16 666 667 ns, not a whole number of wheel ticks.
        let p = Duration::from_secs(1) / 60;
        let mut iv = time::interval(p);
        iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let start = iv.tick().await;
        for k in 1..=120u32 {
            assert_eq!(iv.tick().await - start, p * k, "tick {k}");
        }
        // A real stall still starts the schedule over.
        time::advance(p * 3).await;
        let late = iv.tick().await;
        assert_eq!(late - start, p * 121);
        let taken = Instant::now();
        assert_eq!(iv.tick().await, taken + p);
    });
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn zero_period_panics() {
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    let _ = time::interval(Duration::ZERO);
}

#[test]
fn a_sleep_made_outside_a_reactor_binds_to_the_reactor_of_its_first_poll() {
    std::thread::spawn(|| {
        let start = std::time::Instant::now();
        let s = time::sleep(Duration::from_millis(20));
        let reactor = Reactor::new().unwrap();
        let _g = reactor.enter();
        block_on(s);
        assert!(start.elapsed() >= Duration::from_millis(20));
    })
    .join()
    .unwrap();
}

#[test]
#[should_panic(expected = "a timer was polled outside a ciranda runtime")]
fn an_unbound_sleep_polled_outside_a_reactor_panics() {
    let _ = std::thread::spawn(|| {
        let mut s = pin!(time::sleep(Duration::from_millis(1)));
        let _ = s.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    })
    .join()
    .map_err(|e| std::panic::resume_unwind(e));
}

#[test]
fn dropped_sleeps_leave_no_timer_behind() {
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    block_on(async {
        for _ in 0..1000 {
            let r = time::timeout(Duration::ZERO, time::sleep(Duration::from_secs(60))).await;
            assert!(r.is_err());
        }
    });
    assert!(format!("{reactor:?}").contains("timers: 0"), "{reactor:?}");
}

#[test]
fn many_paused_runtimes_in_parallel_do_not_interfere() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let reactor = paused();
                let _g = reactor.enter();
                block_on(async move {
                    let start = Instant::now();
                    time::sleep(Duration::from_secs(100 * (i + 1))).await;
                    assert_eq!(start.elapsed(), Duration::from_secs(100 * (i + 1)));
                });
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// The wheel's tick is 62.5 µs: a paused clock jumps to the first tick at or after a
/// sub-millisecond deadline, not to the next whole millisecond.
#[test]
fn sub_millisecond_deadlines_fire_at_the_next_tick_on_a_paused_clock() {
    let reactor = paused();
    let _g = reactor.enter();
    block_on(async {
        let start = Instant::now();
        // 25.6 ticks: the 26th.
        time::sleep(Duration::from_micros(1_600)).await;
        assert_eq!(start.elapsed(), Duration::from_micros(1_625));
        time::sleep(Duration::from_micros(250)).await;
        assert_eq!(start.elapsed(), Duration::from_micros(1_875));
        time::sleep(Duration::from_nanos(1)).await;
        assert_eq!(start.elapsed(), Duration::from_nanos(1_937_500));
        // Whole milliseconds stay exact.
        time::sleep(Duration::from_millis(7)).await;
        assert_eq!(start.elapsed(), Duration::from_nanos(8_937_500));
    });
}

/// Sleeps of every sub-millisecond phase, on the real clock, all pending at once: none wakes
/// before its deadline (the poller's timeout is now exact to the nanosecond, and the tick
/// finer: both must still round the right way).
#[test]
fn sub_millisecond_sleeps_are_never_early_real_clock() {
    let ds = durations(2_000, 4, 0x2545_f491_4f6c_dd1d);
    block_on(async {
        let all: FuturesUnordered<_> = ds
            .iter()
            .enumerate()
            .map(|(i, d)| async move {
                let start = std::time::Instant::now();
                if i % 2 == 0 {
                    time::sleep(*d).await;
                } else {
                    time::sleep_until(Instant::from_std(start) + *d).await;
                }
                let slept = start.elapsed();
                assert!(slept >= *d, "woke after {slept:?} of a {d:?} sleep");
            })
            .collect();
        all.collect::<Vec<()>>().await;
        // One at a time too: then the poller's wait is what ends each sleep.
        for d in &ds[..40] {
            let start = std::time::Instant::now();
            time::sleep(*d).await;
            assert!(start.elapsed() >= *d);
        }
    });
}

/// A clock paused while running (`time::pause()` at the top of a test, not `start_paused`)
/// freezes at a real instant that falls anywhere inside a wheel tick. A sleep armed then and
/// an `advance` by its exact duration must still fire it, and auto-advance must land on its
/// deadline, not on the tick after it.
#[test]
fn a_clock_paused_while_running_fires_sleeps_at_their_exact_deadlines() {
    for _ in 0..20 {
        let reactor = Reactor::new().unwrap();
        let _g = reactor.enter();
        // Let the real clock run into some tick before pausing.
        std::thread::sleep(Duration::from_micros(37));
        time::pause();
        let counter = Arc::new(CountWake(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let start = Instant::now();
        let mut s = pin!(time::sleep(Duration::from_secs(1)));
        assert!(s.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            reactor.advance_clock(Duration::from_secs(1)),
            1,
            "a sleep due at the advanced-to instant was not woken"
        );
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(s.as_mut().poll(&mut cx).is_ready());
        assert_eq!(start.elapsed(), Duration::from_secs(1));

        block_on(async {
            let t = Instant::now();
            time::sleep(Duration::from_millis(250)).await;
            assert_eq!(t.elapsed(), Duration::from_millis(250));
        });

        // Resumed and paused again: the same.
        time::resume();
        std::thread::sleep(Duration::from_micros(53));
        time::pause();
        block_on(async {
            let t = Instant::now();
            time::sleep(Duration::from_secs(3)).await;
            assert_eq!(t.elapsed(), Duration::from_secs(3));
        });
    }
}
