#![cfg(not(loom))]
//! Bad input gets a clear error or a panic that says why.

use ciranda_scheduler::Scheduler;
use std::io::ErrorKind;

#[test]
fn zero_workers_is_an_error_naming_the_option() {
    let err = Scheduler::builder().worker_threads(0).build().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"), "{err}");
}

#[test]
fn too_many_workers_is_an_error() {
    let err = Scheduler::builder()
        .worker_threads(ciranda_scheduler::MAX_WORKERS + 1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("at most"), "{err}");
}

#[test]
fn zero_blocking_threads_is_an_error() {
    let err = Scheduler::builder()
        .max_blocking_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("max_blocking_threads"), "{err}");
}

#[test]
fn block_on_inside_a_worker_panics_with_advice_instead_of_deadlocking() {
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let handle = s.handle();
    let err = s
        .block_on(s.spawn(async move { handle.block_on(async { 1 }) }))
        .unwrap_err();
    let message = err.panic_message().unwrap();
    assert!(
        message.contains("block_on called on a runtime worker thread"),
        "{message}"
    );
    assert!(message.contains(".await"), "{message}");
    // The worker survived.
    assert_eq!(s.block_on(s.spawn(async { 2 })).unwrap(), 2);
}

#[test]
#[should_panic(expected = "JoinHandle polled after it already returned")]
fn polling_a_join_handle_after_completion_panics() {
    use std::future::Future;
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let mut h = s.spawn(async { 1 });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(std::pin::Pin::new(&mut h).poll(&mut cx).is_ready());
    let _ = std::pin::Pin::new(&mut h).poll(&mut cx);
}

#[test]
fn a_stack_size_the_os_refuses_is_an_error_naming_the_option() {
    // No OS gives a thread a stack of `usize::MAX` bytes: the first worker cannot start.
    let err = Scheduler::builder()
        .worker_threads(1)
        .thread_stack_size(usize::MAX)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("thread_stack_size"), "{err}");
    assert!(err.to_string().contains("worker"), "{err}");
}

#[test]
fn a_stack_size_the_os_refuses_names_the_option_when_the_blocking_pool_starts() {
    // The current-thread flavor starts no thread in `build`: the first blocking thread is
    // the first one the OS refuses, and `spawn_blocking` panics saying why.
    let s = Scheduler::builder()
        .flavor(ciranda_scheduler::Flavor::CurrentThread)
        .thread_stack_size(usize::MAX)
        .build()
        .unwrap();
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.block_on(async { ciranda_scheduler::spawn_blocking(|| 1).await })
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("thread_stack_size"), "{message}");
}

#[test]
fn a_blocking_call_no_thread_could_start_for_is_not_left_queued() {
    // The first blocking thread cannot start: `spawn_blocking` panics, and the call it
    // refused must be gone with it, not wait in the queue to run later (or keep the runtime
    // from ever looking idle, which stops a paused clock).
    let s = Scheduler::builder()
        .flavor(ciranda_scheduler::Flavor::CurrentThread)
        .thread_stack_size(usize::MAX)
        .build()
        .unwrap();
    let captured = std::sync::Arc::new(());
    for _ in 0..2 {
        let held = captured.clone();
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            s.handle().spawn_blocking(move || drop(held))
        }));
        let message = refused
            .unwrap_err()
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert!(message.contains("thread_stack_size"), "{message}");
        assert_eq!(
            std::sync::Arc::strong_count(&captured),
            1,
            "the refused call is still held by the pool"
        );
        assert!(s.handle().is_idle(), "a refused call counts as queued");
    }
}
