//! A bound on a test that could hang: the body runs on a thread of its own, and the test
//! fails with "hung for ..." if it has not finished in time.

use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on a thread and fails the test if it has not finished within `limit`; a panic
/// of the body is the test's panic.
pub fn with_watchdog(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        body();
        let _ = done.send(());
    });
    match finished.recv_timeout(limit) {
        Ok(()) => thread.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked: report its panic.
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("hung for {limit:?}"),
    }
}
