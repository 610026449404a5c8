//! Bad input to the runtime: every `Builder` option with an invalid value, and every call
//! made from the wrong place, gives an `Err` naming the problem or a documented panic with a
//! clear message — never a hang, a crash, or silent misbehaviour.
//!
//! | input | documented outcome |
//! |---|---|
//! | `worker_threads(0)` | `Err(InvalidInput)` naming `worker_threads` |
//! | `worker_threads(MAX_WORKERS + 1)` | `Err(InvalidInput)` naming `worker_threads` |
//! | `max_blocking_threads(0)` | `Err(InvalidInput)` naming `max_blocking_threads` |
//! | `thread_name` with a NUL byte | `Err(InvalidInput)` naming `thread_name` |
//! | `thread_stack_size(0)` / tiny | the OS minimum is used; the runtime works |
//! | `blocking_keep_alive(ZERO / MAX)`, `slow_poll_threshold(ZERO)` | valid extremes: work |
//! | `Handle::current()` outside a runtime | panic naming where to call it |
//! | `spawn` / `spawn_blocking` outside a runtime | the same panic |
//! | `block_on` on a worker thread | panic with advice (instead of a deadlock) |
//! | `ciranda::run` inside a runtime | the same panic |
//! | polling a `JoinHandle` after it returned | panic naming the misuse |
//! | `JoinError::into_panic` on a cancellation | panic naming the misuse |
//! | a panicking `on_thread_start` / `on_thread_stop` hook | caught, reported on stderr naming the hook; the thread goes on (workers serve tasks, shutdown returns) |
//! | the scheduler's own `Builder` | same checks as the facade's |

use ciranda::Runtime;
use ciranda_scheduler::MAX_WORKERS;
use ciranda_tests::support::within;
use std::future::Future;
use std::io::ErrorKind;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

#[test]
fn zero_workers_is_an_error_naming_the_option() {
    let err = Runtime::builder().worker_threads(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
    let err = ciranda_scheduler::Scheduler::builder()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn too_many_workers_is_an_error_naming_the_limit() {
    let err = Runtime::builder()
        .worker_threads(MAX_WORKERS + 1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
    assert!(err.to_string().contains(&MAX_WORKERS.to_string()), "{err}");
    let err = Runtime::builder()
        .worker_threads(usize::MAX)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn zero_blocking_threads_is_an_error_naming_the_option() {
    let err = Runtime::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_blocking_threads"), "{err}");
}

#[test]
fn a_thread_name_with_a_nul_byte_is_an_error() {
    let r = std::panic::catch_unwind(|| Runtime::builder().thread_name("bad\0name").build());
    match r {
        Ok(Err(e)) => {
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(e.to_string().contains("thread_name"), "{e}");
        }
        Ok(Ok(_)) => panic!("a NUL in a thread name was accepted"),
        Err(_) => panic!("build() panicked instead of returning an error"),
    }
    let err = ciranda_scheduler::Scheduler::builder()
        .thread_name("\0")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("thread_name"), "{err}");
}

#[test]
fn tiny_stack_sizes_are_raised_to_the_os_minimum_and_work() {
    // std raises a too-small stack size to the platform minimum; the runtime must run on it
    // (its run loop and a small task fit in the minimum stack).
    for size in [0, 1, 4096] {
        let rt = Runtime::builder()
            .worker_threads(1)
            .thread_stack_size(size)
            .build()
            .unwrap();
        let n = rt.block_on(async {
            let h = ciranda::spawn(async { 1 + 1 });
            let b = ciranda::spawn_blocking(|| 2);
            h.await.unwrap() + b.await.unwrap()
        });
        assert_eq!(n, 4);
    }
}

#[test]
fn extreme_but_valid_durations_work() {
    for keep_alive in [Duration::ZERO, Duration::from_nanos(1), Duration::MAX] {
        let rt = Runtime::builder()
            .worker_threads(1)
            .blocking_keep_alive(keep_alive)
            .slow_poll_threshold(Duration::ZERO)
            .build()
            .unwrap();
        for _ in 0..3 {
            let v = rt.block_on(rt.spawn_blocking(|| 5)).unwrap();
            assert_eq!(v, 5);
            std::thread::sleep(Duration::from_millis(2));
        }
        // Shutdown does not wait for the keep-alive.
        let started = std::time::Instant::now();
        drop(rt);
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let rt = Runtime::builder()
        .worker_threads(1)
        .slow_poll_threshold(Duration::MAX)
        .start_paused(true)
        .build()
        .unwrap();
    assert_eq!(rt.block_on(async { 1 }), 1);
}

#[test]
fn calls_outside_a_runtime_panic_with_a_message_saying_where_to_call_them() {
    let m = panic_message(|| drop(ciranda::Handle::current()));
    assert!(m.contains("outside a runtime"), "{m}");
    let m = panic_message(|| drop(ciranda::spawn(async {})));
    assert!(m.contains("outside a runtime"), "{m}");
    let m = panic_message(|| drop(ciranda::spawn_blocking(|| {})));
    assert!(m.contains("outside a runtime"), "{m}");
    let m = panic_message(|| drop(ciranda::task::Builder::new().name("x").spawn(async {})));
    assert!(m.contains("outside a runtime"), "{m}");
    assert!(ciranda::Handle::try_current().is_none());
}

#[test]
fn blocking_on_a_worker_panics_with_advice_instead_of_deadlocking() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let handle = rt.handle();
    let h = rt.spawn(async move { handle.block_on(async { 1 }) });
    let err = rt.block_on(h).unwrap_err();
    assert!(err.is_panic());
    let m = err.panic_message().unwrap();
    assert!(
        m.contains("block_on called on a runtime worker thread"),
        "{m}"
    );
    assert!(m.contains(".await"), "{m}");
    // ciranda::run inside a runtime: the same.
    let h = rt.spawn(async { ciranda::run(async { 1 }) });
    let err = rt.block_on(h).unwrap_err();
    assert!(err.panic_message().unwrap().contains("block_on"), "{err}");
    // The runtime is fine afterwards.
    assert_eq!(rt.block_on(rt.spawn(async { 3 })).unwrap(), 3);
}

#[test]
fn misusing_join_handles_and_errors_panics_with_a_message() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let mut h = rt.spawn(async { 1 });
    let mut cx = Context::from_waker(Waker::noop());
    while !h.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(matches!(Pin::new(&mut h).poll(&mut cx), Poll::Ready(Ok(1))));
    let m = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut h).poll(&mut cx);
    }));
    assert!(m.contains("JoinHandle polled after"), "{m}");
    let cancelled = rt.spawn(std::future::pending::<()>());
    cancelled.abort();
    let err = rt.block_on(cancelled).unwrap_err();
    assert!(err.is_cancelled());
    assert!(err.to_string().contains("cancelled"), "{err}");
    let m = panic_message(std::panic::AssertUnwindSafe(|| drop(err.into_panic())));
    assert!(m.contains("into_panic called on a cancelled task"), "{m}");
}

#[test]
fn error_types_are_std_errors_with_messages() {
    fn is_error<E: std::error::Error + Send + Sync + 'static>(e: &E) -> String {
        format!("{e} / {e:?}")
    }
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let h = rt.spawn(async { panic!("expected test panic: boom") });
    let err = rt.block_on(h).unwrap_err();
    assert!(is_error(&err).contains("boom"));
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), ErrorKind::Other);
    let e = rt
        .block_on(async {
            ciranda::time::timeout(Duration::ZERO, std::future::pending::<()>()).await
        })
        .unwrap_err();
    assert!(!is_error(&e).is_empty());
    let io: std::io::Error = e.into();
    assert_eq!(io.kind(), ErrorKind::TimedOut);
}

/// A cancelled task's `JoinError` converted to `io::Error` was of kind `Interrupted`, which
/// std's I/O helpers and the usual retry loops take as "try again". A file operation that the
/// runtime's shutdown cancelled fails the same way on every retry, so such a loop spun for
/// good. The kind is `Other` now, as a panic's is, with the `JoinError` inside.
#[test]
fn a_cancelled_tasks_io_error_does_not_ask_for_a_retry() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let h = rt.spawn(std::future::pending::<()>());
    h.abort();
    let err = rt.block_on(h).unwrap_err();
    assert!(err.is_cancelled());
    let io: std::io::Error = err.into();
    assert_eq!(io.kind(), ErrorKind::Other);
    let inner = io
        .get_ref()
        .and_then(|e| e.downcast_ref::<ciranda::task::JoinError>())
        .expect("the JoinError inside the io::Error");
    assert!(inner.is_cancelled());
    // The case that spun: a retry-on-Interrupted loop around a file read, after the shutdown.
    let handle = rt.handle();
    drop(rt);
    let mut tries = 0;
    let e = loop {
        tries += 1;
        match handle.block_on(ciranda::fs::read("Cargo.toml")) {
            Err(e) if e.kind() == ErrorKind::Interrupted && tries < 100 => continue,
            other => break other.expect_err("a read on a shut-down runtime"),
        }
    };
    assert_eq!(tries, 1, "retried {tries} times: {e}");
    assert_eq!(e.kind(), ErrorKind::Other, "{e}");
}

#[test]
fn a_panicking_thread_start_hook_is_reported_not_a_hang() {
    // The hook's panic is caught and reported on stderr; every thread then serves as usual.
    within(30, "scheduler with a panicking on_thread_start", || {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let sched = ciranda_scheduler::Scheduler::builder()
            .worker_threads(2)
            .on_thread_start(move || {
                c.fetch_add(1, SeqCst);
                panic!("expected test panic: start hook")
            })
            .build()
            .expect("a panicking start hook is contained: build() succeeds");
        // Both workers run tasks: each of these two spins until the other one has started.
        let started = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let started = started.clone();
                sched.spawn(async move {
                    started.fetch_add(1, SeqCst);
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while started.load(SeqCst) < 2 {
                        assert!(std::time::Instant::now() < deadline, "a worker is missing");
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for h in handles {
            sched.block_on(h).unwrap();
        }
        // A blocking thread (whose start hook panicked too) serves as well.
        assert_eq!(sched.block_on(sched.spawn_blocking(|| 5)).unwrap(), 5);
        assert_eq!(calls.load(SeqCst), 3);
        drop(sched);
    });
}

#[test]
fn a_panicking_thread_stop_hook_is_reported_not_a_hang() {
    within(30, "scheduler with a panicking on_thread_stop", || {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        let sched = ciranda_scheduler::Scheduler::builder()
            .worker_threads(2)
            .on_thread_stop(move || {
                c.fetch_add(1, SeqCst);
                panic!("expected test panic: stop hook")
            })
            .build()
            .unwrap();
        assert_eq!(sched.block_on(sched.spawn_blocking(|| 5)).unwrap(), 5);
        drop(sched);
        // Both workers and the blocking thread ran their hook and were joined.
        assert_eq!(calls.load(SeqCst), 3);
    });
}
