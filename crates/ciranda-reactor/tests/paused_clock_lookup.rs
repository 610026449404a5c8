#![cfg(not(loom))]
//! A paused clock and a host-name lookup in flight: the lookup runs on a thread of its own
//! (a reactor built without a blocking spawner), which the driver's "every task is idle"
//! check cannot see, so the clock must not jump while it runs.

use ciranda_reactor::net::TcpStream;
use ciranda_reactor::{Reactor, block_on, time};
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

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
