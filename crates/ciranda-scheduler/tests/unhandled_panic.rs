//! `Builder::unhandled_panic`: with `ShutdownRuntime`, a panic nobody can read any more
//! (detached task, or a handle dropped without reading the stored panic) makes `block_on`
//! panic with that task's message; a panic whose handle is held and awaited does not.

#![cfg(not(loom))]

use ciranda_scheduler::{JoinHandle, Scheduler, UnhandledPanic, task};
use std::future::pending;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

const MARK: &str = "expected unhandled-panic test panic";

/// Keeps the panics these tests provoke (and the runtime's reports) off stderr.
fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !text.contains(MARK) {
                default(info);
            }
        }));
    });
}

fn sched(policy: UnhandledPanic, reports: Arc<AtomicUsize>) -> Scheduler {
    Scheduler::builder()
        .worker_threads(2)
        .unhandled_panic(policy)
        .on_unhandled_panic(move |_| {
            reports.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap()
}

/// The message `block_on` panicked with, or `None` if it returned.
fn block_on_panic<T>(sched: &Scheduler, f: impl Future<Output = T>) -> Option<String> {
    match catch_unwind(AssertUnwindSafe(|| sched.block_on(f))) {
        Ok(_) => None,
        Err(payload) => Some(
            payload
                .downcast::<String>()
                .map(|s| *s)
                .unwrap_or_else(|_| "<non-string>".into()),
        ),
    }
}

#[test]
fn a_detached_panic_shuts_the_runtime_down() {
    quiet();
    let reports = Arc::new(AtomicUsize::new(0));
    let sched = sched(UnhandledPanic::ShutdownRuntime, reports.clone());
    let message = block_on_panic(&sched, async {
        let detached = task::Builder::new()
            .name("doomed")
            .spawn(async { panic!("{MARK}: detached") });
        drop(detached);
        pending::<()>().await
    })
    .expect("block_on panics");
    assert!(message.contains(&format!("{MARK}: detached")), "{message}");
    assert!(message.contains("\"doomed\""), "names the task: {message}");
    assert!(message.contains("ShutdownRuntime"), "{message}");
    assert_eq!(reports.load(SeqCst), 1, "still reported through the hook");
    // The runtime stays failed: a later block_on panics at once.
    let again = block_on_panic(&sched, async { 1 }).expect("failed for good");
    assert_eq!(again, message);
}

#[test]
fn an_awaited_panic_does_not() {
    quiet();
    let reports = Arc::new(AtomicUsize::new(0));
    let sched = sched(UnhandledPanic::ShutdownRuntime, reports.clone());
    let result = sched.block_on(async {
        let held = ciranda_scheduler::spawn(async { panic!("{MARK}: awaited") });
        // Give the task time to panic while the handle is held.
        while !held.is_finished() {
            ciranda_scheduler::yield_now().await;
        }
        held.await
    });
    assert!(result.unwrap_err().is_panic());
    assert_eq!(sched.block_on(async { 5 }), 5, "the runtime still runs");
    assert_eq!(reports.load(SeqCst), 0);
}

#[test]
fn dropping_the_handle_after_the_panic_shuts_down() {
    quiet();
    let reports = Arc::new(AtomicUsize::new(0));
    let sched = sched(UnhandledPanic::ShutdownRuntime, reports.clone());
    let handle = sched.spawn(async { panic!("{MARK}: read by nobody") });
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    // The panic is stored: still observable, so nothing happened yet.
    assert_eq!(sched.block_on(async { 3 }), 3);
    assert_eq!(reports.load(SeqCst), 0);
    // Dropping the handle unread makes it unobservable: the policy triggers now.
    drop(handle);
    let message = block_on_panic(&sched, async { 4 }).expect("block_on panics");
    assert!(message.contains("read by nobody"), "{message}");
    assert_eq!(reports.load(SeqCst), 1);
}

#[test]
fn the_first_of_several_panics_wins() {
    quiet();
    let reports = Arc::new(AtomicUsize::new(0));
    let sched = sched(UnhandledPanic::ShutdownRuntime, reports.clone());
    let first = sched.spawn(async { panic!("{MARK}: first") });
    let second = sched.spawn(async { panic!("{MARK}: second") });
    while !(first.is_finished() && second.is_finished()) {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(first);
    drop(second);
    let message = block_on_panic(&sched, pending::<()>()).expect("block_on panics");
    assert!(message.contains(&format!("{MARK}: first")), "{message}");
    assert!(!message.contains("second"), "{message}");
    assert_eq!(reports.load(SeqCst), 2, "both are reported");
}

#[test]
fn a_panic_while_block_on_sleeps_wakes_it() {
    quiet();
    let sched = sched(UnhandledPanic::ShutdownRuntime, Arc::default());
    // The future never wakes by itself: only the failure can end this block_on.
    let (tx, rx) = std::sync::mpsc::channel::<JoinHandle<()>>();
    let spawner = {
        let handle = sched.handle();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let h = handle.spawn(async { panic!("{MARK}: late") });
            drop(h);
            drop(tx);
        })
    };
    let message = block_on_panic(&sched, pending::<()>()).expect("block_on panics");
    assert!(message.contains("late"), "{message}");
    spawner.join().unwrap();
    assert!(rx.recv().is_err());
}

#[test]
fn the_default_reports_and_carries_on() {
    quiet();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let sched = Scheduler::builder()
        .worker_threads(1)
        .on_unhandled_panic(move |e| hook_seen.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    let out = sched.block_on(async {
        drop(ciranda_scheduler::spawn(async {
            panic!("{MARK}: ignored")
        }));
        // Bounded by time, not by a count of sleeps (which a loaded machine stretches).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while seen.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            ciranda_scheduler::yield_now().await;
            std::thread::sleep(Duration::from_micros(100));
        }
        7
    });
    assert_eq!(out, 7);
    assert_eq!(sched.block_on(async { 8 }), 8);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("ignored"));
    // Explicit Ignore is the same.
    let ignore = self::sched(UnhandledPanic::Ignore, Arc::default());
    drop(ignore.spawn(async { panic!("{MARK}: ignored too") }));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(ignore.block_on(async { 9 }), 9);
}

#[test]
fn a_blocking_task_counts_too() {
    quiet();
    let sched = sched(UnhandledPanic::ShutdownRuntime, Arc::default());
    drop(sched.spawn_blocking(|| panic!("{MARK}: blocking")));
    let message = block_on_panic(&sched, pending::<()>()).expect("block_on panics");
    assert!(message.contains("blocking"), "{message}");
}
