//! `signal::ctrl_c()` made outside a runtime (issue 15, item 8).
//!
//! Before the fix `rt.block_on(ciranda::signal::ctrl_c())` returned "no reactor" at once,
//! so a `run_forever`-style program exited immediately. Now the handler is registered when
//! `ctrl_c()` is called and the future binds to the runtime that first polls it. Alone in its
//! file: it installs a `SIGINT` handler for the whole process.

use ciranda::Runtime;
use ciranda::time::{Duration, sleep};
use futures_util::future::{Either, select};
use std::sync::mpsc;

#[test]
fn ctrl_c_made_outside_waits_for_the_signal_in_block_on() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();

    // It waits: a short sleep wins the race.
    let interrupted = ciranda::signal::ctrl_c();
    let raced = rt.block_on(async {
        match select(interrupted, Box::pin(sleep(Duration::from_millis(100)))).await {
            Either::Left((r, _)) => Some(r),
            Either::Right(_) => None,
        }
    });
    assert!(
        raced.is_none(),
        "ctrl_c() completed without a signal: {raced:?}"
    );

    // And it completes when the signal comes (raised after a delay, from another thread).
    let interrupted = ciranda::signal::ctrl_c();
    let raiser = std::thread::spawn(|| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        // SAFETY: `kill` on our own pid with SIGINT; a handler is registered (above).
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGINT) }, 0);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(rt.block_on(interrupted).map_err(|e| e.to_string())));
    let r = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("ctrl_c() never completed after SIGINT");
    assert_eq!(r, Ok(()));
    raiser.join().unwrap();

    // Polled outside any runtime, it panics saying where to await it.
    let payload = std::panic::catch_unwind(|| {
        let mut c = std::pin::pin!(ciranda::signal::ctrl_c());
        let _ = std::future::Future::poll(
            c.as_mut(),
            &mut std::task::Context::from_waker(std::task::Waker::noop()),
        );
    })
    .expect_err("polled outside a runtime");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("outside a ciranda runtime"), "{message}");
    assert!(message.contains("Runtime::block_on"), "{message}");
}
