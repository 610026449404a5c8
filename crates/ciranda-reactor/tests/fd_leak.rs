#![cfg(not(loom))]
//! Deregistration on drop: the descriptor count returns to its baseline. Alone in its binary,
//! so no other test opens descriptors meanwhile.

use ciranda_reactor::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use ciranda_reactor::{Async, Reactor, block_on, time};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::time::Duration;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd is readable on Linux")
        .count()
}

#[test]
fn descriptors_and_registrations_return_to_baseline() {
    if std::fs::metadata("/proc/self/fd").is_err() {
        eprintln!("skipped: no /proc/self/fd on this system");
        return;
    }
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    // The reactor's own descriptors (poller, notifier) are part of the baseline.
    let baseline = open_fds();
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut pairs = Vec::new();
        for _ in 0..50 {
            let (c, s) = futures_util::join!(TcpStream::connect(addr), listener.accept());
            let (mut c, (mut s, _)) = (c?, s?);
            c.write_all(b"x").await?;
            let mut b = [0];
            s.read_exact(&mut b).await?;
            // Leave a waiter registered on one side when it is dropped.
            let _ = time::timeout(Duration::from_millis(1), s.read(&mut b)).await;
            pairs.push((c, s));
        }
        let (r, w) = pairs.pop().unwrap().0.into_split();
        drop(w);
        drop(r);
        let udp = UdpSocket::bind("127.0.0.1:0").await?;
        let (ua, ub) = UnixStream::pair()?;
        let (x, y) = std::os::unix::net::UnixStream::pair()?;
        let x = Async::new(x)?;
        let y = Async::new(y)?.into_inner()?; // deregistered, closed below
        assert!(open_fds() > baseline + 100);
        assert!(reactor.registrations() > 100);
        drop((listener, pairs, udp, ua, ub, x, y));
        std::io::Result::Ok(())
    })
    .unwrap();
    assert_eq!(reactor.registrations(), 0);
    // The default-resolver thread and friends may need a moment to go; descriptors don't.
    assert_eq!(open_fds(), baseline, "descriptors leaked");
    // A failed connect cleans up too.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _ = block_on(TcpStream::connect(("127.0.0.1", port)));
    assert_eq!(open_fds(), baseline, "a failed connect leaked its socket");
    assert_eq!(reactor.registrations(), 0);
}
