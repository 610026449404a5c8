#![cfg(not(loom))]
//! A paused clock and a host-name lookup in flight: the lookup runs on a thread of its own
//! (a reactor built without a blocking spawner), which the driver's "every task is idle"
//! check cannot see, so the clock must not jump while it runs.

use ciranda_reactor::net::TcpStream;
use ciranda_reactor::{Reactor, block_on, time};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `body` on a thread and fails the test if it has not finished within `limit`.
fn with_watchdog(limit: Duration, body: impl FnOnce() + Send + 'static) {
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

#[test]
fn a_paused_clock_does_not_jump_while_a_lookup_is_in_flight() {
    with_watchdog(Duration::from_secs(60), || {
        let reactor = Reactor::builder().start_paused(true).build().unwrap();
        let _entered = reactor.enter();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        for round in 0..20 {
            let start = time::Instant::now();
            let connected = block_on(time::timeout(
                Duration::from_secs(10),
                TcpStream::connect(("localhost", port)),
            ));
            let waited = time::Instant::now() - start;
            match connected {
                Ok(stream) => {
                    stream.unwrap();
                }
                Err(_) => panic!(
                    "round {round}: the 10 s timeout elapsed (the paused clock jumped \
                     {waited:?}) while the lookup of \"localhost\" was still running"
                ),
            }
            listener.accept().unwrap();
        }
    });
}
