//! Timers made outside a runtime (issue 15, item 8).
//!
//! From the user's point of view `rt.block_on(sleep(d))` runs inside a runtime (asyncio's
//! `run_until_complete(asyncio.sleep(1))` just works, and so does smol's timer). Before the
//! fix it panicked, naming a crate the user cannot reach, at a line inside the library. Now a
//! timer made outside any runtime fixes its deadline on the real clock and binds to the
//! runtime that first polls it; calls that cannot wait (`pause`, `resume`, `spawn`,
//! `Handle::current`) panic at the caller's line with a message in the facade's words.

use ciranda::Runtime;
use ciranda::time::{Duration, Instant, interval, sleep, sleep_until, timeout};
use std::panic::Location;
use std::sync::{Mutex, OnceLock};
use std::time::Instant as StdInstant;

fn runtime() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

#[test]
fn a_sleep_made_outside_completes_in_block_on_and_not_early() {
    let start = StdInstant::now();
    let s = sleep(Duration::from_millis(30));
    let rt = runtime();
    rt.block_on(s);
    assert!(start.elapsed() >= std::time::Duration::from_millis(30));

    let start = StdInstant::now();
    let deadline = Instant::now() + Duration::from_millis(30);
    rt.block_on(sleep_until(deadline));
    assert!(start.elapsed() >= std::time::Duration::from_millis(30));
}

#[test]
fn a_sleep_made_outside_completes_in_a_spawned_task() {
    let start = StdInstant::now();
    let s = sleep(Duration::from_millis(20));
    let rt = runtime();
    rt.block_on(rt.spawn(s)).unwrap();
    assert!(start.elapsed() >= std::time::Duration::from_millis(20));
}

#[test]
fn timeouts_and_intervals_made_outside_work_in_block_on() {
    let expired = timeout(Duration::from_millis(20), std::future::pending::<()>());
    let ready = timeout(Duration::from_secs(10), async { 7 });
    let start = StdInstant::now();
    let mut ticks = interval(Duration::from_millis(5));
    let rt = runtime();
    assert!(rt.block_on(expired).is_err());
    assert_eq!(rt.block_on(ready), Ok(7));
    rt.block_on(async {
        for _ in 0..4 {
            ticks.tick().await;
        }
    });
    // Ticks at 0, 5, 10 and 15 ms after the interval was made (not early).
    assert!(start.elapsed() >= std::time::Duration::from_millis(10));
}

#[test]
fn a_sleep_made_outside_follows_a_paused_runtime_clock() {
    // An hour of virtual time: the paused clock jumps to the deadline once everything idles.
    let s = sleep(Duration::from_secs(3600));
    let rt = Runtime::builder()
        .worker_threads(1)
        .start_paused(true)
        .build()
        .unwrap();
    let start = StdInstant::now();
    rt.block_on(s);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

/// Panic locations seen on this test's thread, captured by a panic hook (other threads go to
/// the previous hook).
fn locations() -> &'static Mutex<Vec<(std::thread::ThreadId, String)>> {
    static SEEN: OnceLock<Mutex<Vec<(std::thread::ThreadId, String)>>> = OnceLock::new();
    SEEN.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let file = info
                .location()
                .map(|l| l.file().to_string())
                .unwrap_or_default();
            SEEN.get()
                .unwrap()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((std::thread::current().id(), file));
            previous(info);
        }));
        Mutex::new(Vec::new())
    })
}

fn panic_location_and_message(f: impl FnOnce()) -> (String, String) {
    let seen = locations();
    let me = std::thread::current().id();
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let file = seen
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(t, _)| *t == me)
        .map(|(_, f)| f.clone())
        .expect("the hook saw the panic");
    (file, message)
}

/// A call that should panic, boxed (closures rather than paths: a path's caller would be the
/// `FnOnce` shim, not this file).
type Call = Box<dyn FnOnce()>;

#[test]
#[allow(clippy::redundant_closure)]
fn no_runtime_panics_point_at_the_callers_line_in_the_facades_words() {
    let here = Location::caller().file();
    let calls: [(&str, Call); 4] = [
        ("time::pause", Box::new(|| ciranda::time::pause())),
        ("time::resume", Box::new(|| ciranda::time::resume())),
        ("spawn", Box::new(|| drop(ciranda::spawn(async {})))),
        (
            "Handle::current",
            Box::new(|| drop(ciranda::Handle::current())),
        ),
    ];
    for (what, call) in calls {
        let (file, message) = panic_location_and_message(call);
        assert_eq!(
            file, here,
            "{what}: the panic must point at the caller ({message})"
        );
        assert!(!message.contains("ciranda_reactor"), "{what}: {message}");
        assert!(
            message.contains("outside a runtime") || message.contains("no ciranda runtime"),
            "{what}: {message}"
        );
    }
    let (_, message) = panic_location_and_message(|| ciranda::time::pause());
    assert!(message.contains("ciranda::run"), "{message}");
    assert!(message.contains("Runtime::block_on"), "{message}");
    assert!(message.contains("#[ciranda::main]"), "{message}");
}
