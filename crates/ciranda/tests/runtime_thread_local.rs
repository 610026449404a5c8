//! A `Runtime` kept in a thread-local (a synchronous library's per-thread runtime) is dropped
//! by the thread-local's destructor when its thread exits, possibly after the runtime's own
//! per-thread context is gone. Entering that context there panicked, and a panic in a
//! thread-local's destructor aborts the whole process.
//!
//! The abort cannot be caught, so each case runs in a child process: this test binary again,
//! with `CHILD` set and the case's name as the filter.

#![cfg(not(loom))]

use ciranda::{Flavor, Runtime};
use std::cell::RefCell;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "CIRANDA_THREAD_LOCAL_CHILD";
const DONE: &str = "thread-local runtime dropped";

thread_local! {
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
}

/// In the child: a thread keeps a runtime in a thread-local, gives it pending tasks (a timer,
/// a future that never completes), a finished blocking call and a `block_on`, then exits.
fn child(flavor: Flavor) {
    let thread = std::thread::spawn(move || {
        // The runtime's slot is set up first, so it is destroyed after the contexts that
        // `block_on` sets up later (thread-locals go in reverse order of first use).
        RUNTIME.with(|slot| {
            let runtime = Runtime::builder()
                .flavor(flavor)
                .worker_threads(1)
                .build()
                .unwrap();
            *slot.borrow_mut() = Some(runtime);
        });
        RUNTIME.with(|slot| {
            let slot = slot.borrow();
            let runtime = slot.as_ref().unwrap();
            drop(runtime.spawn(ciranda::time::sleep(Duration::from_secs(3600))));
            drop(runtime.spawn(std::future::pending::<()>()));
            let answer = runtime.block_on(async {
                ciranda::spawn_blocking(|| 40).await.unwrap()
                    + ciranda::spawn(async { 2 }).await.unwrap()
            });
            assert_eq!(answer, 42);
        });
    });
    thread.join().unwrap();
    println!("{DONE}");
}

/// Runs `case` in a child process and checks that it exited normally (not aborted), within a
/// generous deadline.
fn in_child(case: &str) {
    let mut process = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", case, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while process.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = process.kill();
            let _ = process.wait();
            panic!("{case}: the child process hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = process.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(DONE),
        "{case}: the child process failed ({}):\n{stderr}",
        output.status
    );
}

#[test]
fn a_current_thread_runtime_in_a_thread_local_is_dropped_at_thread_exit() {
    if std::env::var_os(CHILD).is_some() {
        return child(Flavor::CurrentThread);
    }
    in_child("a_current_thread_runtime_in_a_thread_local_is_dropped_at_thread_exit");
}

#[test]
fn a_multi_thread_runtime_in_a_thread_local_is_dropped_at_thread_exit() {
    if std::env::var_os(CHILD).is_some() {
        return child(Flavor::MultiThread);
    }
    in_child("a_multi_thread_runtime_in_a_thread_local_is_dropped_at_thread_exit");
}
