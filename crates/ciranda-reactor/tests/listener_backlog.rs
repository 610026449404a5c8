#![cfg(not(loom))]
//! A TCP listener's `listen(2)` backlog: a burst of connections that arrives before the accept
//! loop gets to them waits in the kernel's queue instead of having its SYNs dropped.

use ciranda_reactor::net::TcpListener;
use ciranda_reactor::{block_on, time};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// More than std's backlog of 128 (129 connections fit in its queue).
const BURST: usize = 256;

fn somaxconn() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether a non-blocking client socket has finished its handshake.
fn connected(socket: &socket2::Socket) -> bool {
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` that lives for the call, zero timeout.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & libc::POLLOUT != 0 && socket.peer_addr().is_ok()
}

#[test]
fn a_burst_of_connections_waits_in_the_backlog_until_accepted() {
    match somaxconn() {
        Some(max) if max > BURST => {}
        other => {
            eprintln!("skipped: net.core.somaxconn is {other:?}, not above {BURST}");
            return;
        }
    }
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().into();
        // The accept loop is busy elsewhere: nobody accepts while the burst arrives.
        let clients: Vec<socket2::Socket> = (0..BURST)
            .map(|_| {
                let s = socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::STREAM.nonblocking(),
                    None,
                )
                .unwrap();
                let _ = s.connect(&addr); // EINPROGRESS
                s
            })
            .collect();
        // On loopback every handshake completes at once unless the listener's queue is full;
        // a dropped SYN is retried after 1 s, 3 s, 7 s, and finds the queue still full.
        let start = Instant::now();
        let mut done = 0;
        while start.elapsed() < Duration::from_secs(10) {
            done = clients.iter().filter(|s| connected(s)).count();
            if done == BURST {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            done, BURST,
            "only {done} of {BURST} connections completed while the listener was not accepting"
        );
        // And every one of them is in the queue: accepted without a retry.
        for i in 0..BURST {
            time::timeout(Duration::from_secs(10), listener.accept())
                .await
                .unwrap_or_else(|_| panic!("connection {i} of {BURST} was not queued"))
                .unwrap();
        }
    });
}
