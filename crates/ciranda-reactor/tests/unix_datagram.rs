#![cfg(not(loom))]
//! `UnixDatagram`: boundaries, addresses (paths, abstract names, unnamed senders), `connect`,
//! waits in both directions, several receivers on one socket, truncation, bad input, std
//! conversions.

use ciranda_reactor::block_on;
use ciranda_reactor::net::UnixDatagram;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

fn sock_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("ciranda-dgram-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn a_pair_keeps_datagram_boundaries_both_ways() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixDatagram::pair()?;
            a.send(b"one").await?;
            a.send(b"").await?; // an empty datagram is a datagram
            a.send(b"three").await?;
            let mut buf = [0; 32];
            assert_eq!(b.recv(&mut buf).await?, 3);
            assert_eq!(&buf[..3], b"one");
            assert_eq!(b.recv(&mut buf).await?, 0);
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"three");
            b.send(b"back").await?;
            let (n, from) = a.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"back");
            assert!(from.is_unnamed());
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_bound_socket_receives_from_named_and_unnamed_senders_and_replies() {
    let server_path = sock_path("server");
    let client_path = sock_path("client");
    let paths = (server_path.clone(), client_path.clone());
    with_watchdog(Duration::from_secs(30), move || {
        let (server_path, client_path) = paths;
        block_on(async {
            let server = UnixDatagram::bind(&server_path)?;
            assert_eq!(
                server.local_addr()?.as_pathname(),
                Some(server_path.as_path())
            );
            let anonymous = UnixDatagram::unbound()?;
            let named = UnixDatagram::bind(&client_path)?;
            assert_eq!(anonymous.send_to(b"from nobody", &server_path).await?, 11);
            named.send_to(b"from client", &server_path).await?;
            let mut buf = [0; 32];
            let (n, from) = server.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"from nobody");
            assert!(from.is_unnamed());
            let (n, from) = server.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"from client");
            let reply_to = from.as_pathname().expect("the client is bound to a path");
            assert_eq!(reply_to, client_path.as_path());
            server.send_to(b"reply", reply_to).await?;
            let (n, from) = named.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"reply");
            assert_eq!(from.as_pathname(), Some(server_path.as_path()));
            io::Result::Ok(())
        })
        .unwrap();
    });
    let _ = std::fs::remove_file(&server_path);
    let _ = std::fs::remove_file(&client_path);
}

#[cfg(target_os = "linux")]
#[test]
fn an_abstract_name_binds_and_receives_without_a_file() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("\0ciranda-dgram-abstract-{}", std::process::id());
    with_watchdog(Duration::from_secs(30), move || {
        block_on(async {
            let server = UnixDatagram::bind(&name)?;
            assert_eq!(
                server.local_addr()?.as_abstract_name(),
                Some(&name.as_bytes()[1..])
            );
            let client = UnixDatagram::unbound()?;
            client.connect(&name)?;
            client.send(b"hi").await?;
            let mut buf = [0; 8];
            let n = server.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"hi");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn connect_sets_the_peer_and_fails_at_once_when_nothing_is_bound() {
    let server_path = sock_path("connect");
    let missing = sock_path("missing");
    let path = server_path.clone();
    with_watchdog(Duration::from_secs(30), move || {
        let server_path = path;
        block_on(async {
            let server = UnixDatagram::bind(&server_path)?;
            let client = UnixDatagram::unbound()?;
            let err = client.connect(&missing).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
            client.connect(&server_path)?;
            assert_eq!(
                client.peer_addr()?.as_pathname(),
                Some(server_path.as_path())
            );
            client.send(b"connected").await?;
            let mut buf = [0; 16];
            let (n, _) = server.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"connected");
            io::Result::Ok(())
        })
        .unwrap();
    });
    let _ = std::fs::remove_file(&server_path);
}

#[test]
fn bad_paths_are_errors_that_say_why() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let err = UnixDatagram::bind("").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("empty"), "{err}");
            let err = UnixDatagram::bind("/tmp/a\0b").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("NUL"), "{err}");
            let s = UnixDatagram::unbound()?;
            let err = s.send_to(b"x", "/tmp/c\0d").await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let err = s.connect("").unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            // Sending without a peer.
            let err = s.send(b"x").await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotConnected, "{err}");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_long_datagram_is_truncated_and_the_next_one_is_whole() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixDatagram::pair()?;
            a.send(b"0123456789").await?;
            a.send(b"next").await?;
            let mut small = [0; 4];
            assert_eq!(b.recv(&mut small).await?, 4);
            assert_eq!(&small, b"0123");
            let mut buf = [0; 16];
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"next");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_waiting_recv_is_woken_by_a_send_and_a_dropped_one_loses_nothing() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixDatagram::pair()?;
            let mut buf = [0; 8];
            {
                let dropped = pin!(b.recv(&mut buf));
                assert!(poll_once(dropped).is_pending());
            }
            a.send(b"kept").await?;
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"kept");
            // A receive that is already waiting when the datagram comes.
            let mut buf2 = [0; 8];
            let (got, sent) = futures_util::join!(b.recv(&mut buf2), async {
                ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
                a.send(b"later").await
            });
            assert_eq!(sent?, 5);
            assert_eq!(&buf2[..got?], b"later");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn several_receivers_on_one_socket_each_get_one_datagram() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixDatagram::pair()?;
            let recv_one = || async {
                let mut buf = [0; 8];
                let n = b.recv(&mut buf).await?;
                io::Result::Ok(buf[..n].to_vec())
            };
            let sends = async {
                // Let all three wait first.
                ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
                for m in [&b"x"[..], b"y", b"z"] {
                    a.send(m).await?;
                }
                io::Result::Ok(())
            };
            let (r1, r2, r3, s) = futures_util::join!(recv_one(), recv_one(), recv_one(), sends);
            s?;
            let mut got = vec![r1?, r2?, r3?];
            got.sort();
            assert_eq!(got, vec![b"x".to_vec(), b"y".to_vec(), b"z".to_vec()]);
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// Fills `b`'s queue from `a` (connected to it) until a send would block, then has a send
/// wait while `b` drains: the send must complete, and every datagram arrive in order.
async fn fill_then_wait(a: &UnixDatagram, b: &UnixDatagram) -> io::Result<()> {
    let mut sent = 0usize;
    loop {
        assert!(sent < 1_000_000, "the peer's queue never filled");
        match poll_once(pin!(a.send(b"fill"))) {
            Poll::Ready(r) => {
                r?;
                sent += 1;
            }
            Poll::Pending => break,
        }
    }
    assert!(sent > 0);
    // The waiting send completes once the kernel reports room again, while the receiver
    // drains (for a pair only once most of the queued bytes are read, as for a blocking send).
    let mut buf = [0; 8];
    let (last, count) = futures_util::join!(a.send(b"last"), async {
        ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
        let mut count = 0;
        loop {
            let n = b.recv(&mut buf).await?;
            if &buf[..n] == b"last" {
                return io::Result::Ok(count);
            }
            assert_eq!(&buf[..n], b"fill");
            count += 1;
        }
    });
    assert_eq!(last?, 4);
    // Every datagram arrived, in order, the one that waited last.
    assert_eq!(count?, sent);
    Ok(())
}

#[test]
fn a_send_to_a_full_pair_peer_waits_until_it_receives() {
    with_watchdog(Duration::from_secs(60), || {
        block_on(async {
            let (a, b) = UnixDatagram::pair()?;
            fill_then_wait(&a, &b).await
        })
        .unwrap();
    });
}

#[test]
fn a_send_to_a_full_bound_socket_waits_until_it_receives() {
    // Here the receiver's queue length is the limit (`net.unix.max_dgram_qlen`), not the
    // sender's buffer: the kernel's other way of reporting room.
    let path = sock_path("full");
    let server_path = path.clone();
    with_watchdog(Duration::from_secs(60), move || {
        block_on(async {
            let server = UnixDatagram::bind(&server_path)?;
            let client = UnixDatagram::unbound()?;
            client.connect(&server_path)?;
            fill_then_wait(&client, &server).await
        })
        .unwrap();
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_send_after_shutdown_of_the_write_side_is_broken_pipe() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, _b) = UnixDatagram::pair()?;
            a.shutdown(std::net::Shutdown::Write)?;
            let err = a.send(b"x").await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn from_std_makes_a_blocking_socket_non_blocking_and_into_std_gives_it_back() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (std_a, std_b) = std::os::unix::net::UnixDatagram::pair()?;
            // A blocking `recv` here would hang the test thread: the poll must say Pending.
            let b = UnixDatagram::from_std(std_b)?;
            let mut buf = [0; 8];
            assert!(poll_once(pin!(b.recv(&mut buf))).is_pending());
            std_a.send(b"std")?;
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"std");
            let back = b.into_std()?;
            std_a.send(b"again")?;
            let n = back.recv(&mut buf)?;
            assert_eq!(&buf[..n], b"again");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// Counts the polls of the future inside.
struct CountPolls<'a, F> {
    fut: std::pin::Pin<&'a mut F>,
    polls: &'a std::cell::Cell<usize>,
}

impl<F: Future> Future for CountPolls<'_, F> {
    type Output = F::Output;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.fut.as_mut().poll(cx)
    }
}

/// Sends `fill` datagrams from `client` (not connected) to `path` until the receiver's queue
/// is full; returns how many went.
fn fill_queue_of(client: &UnixDatagram, path: &std::path::Path) -> usize {
    let mut sent = 0usize;
    while client.try_send_to(b"fill", path).is_ok() {
        sent += 1;
        assert!(sent < 1_000_000, "the receiver's queue never filled");
    }
    sent
}

/// After 300 ms, reads `server`'s queue up to the datagram `last`; returns the `fill`s before it.
async fn fills_before_last(server: &UnixDatagram, buf: &mut [u8]) -> io::Result<usize> {
    ciranda_reactor::time::sleep(Duration::from_millis(300)).await;
    let mut count = 0;
    loop {
        let n = server.recv(buf).await?;
        if &buf[..n] == b"last" {
            return Ok(count);
        }
        assert_eq!(&buf[..n], b"fill");
        count += 1;
    }
}

#[test]
fn a_send_to_a_full_receiver_it_is_not_connected_to_pauses_instead_of_spinning() {
    // The kernel reports the unconnected sender writable all along; without pauses the send
    // was retried at every turn of the reactor (tens of thousands of polls in 300 ms).
    let path = sock_path("full-unconnected");
    let server_path = path.clone();
    with_watchdog(Duration::from_secs(60), move || {
        block_on(async {
            let server = UnixDatagram::bind(&server_path)?;
            let client = UnixDatagram::unbound()?;
            let sent = fill_queue_of(&client, &server_path);
            let polls = std::cell::Cell::new(0);
            let mut buf = [0; 8];
            let send = pin!(client.send_to(b"last", &server_path));
            let (last, received) = futures_util::join!(
                CountPolls {
                    fut: send,
                    polls: &polls
                },
                fills_before_last(&server, &mut buf)
            );
            assert_eq!(last?, 4);
            assert_eq!(received?, sent, "every datagram, the one that waited last");
            // Pauses of 0.2, 0.4, ... up to 50 ms fill 300 ms with about a dozen tries; a
            // loaded machine only makes them fewer.
            assert!(polls.get() < 100, "{} polls: the send spun", polls.get());
            io::Result::Ok(())
        })
        .unwrap();
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn poll_send_to_a_full_receiver_it_is_not_connected_to_pauses_instead_of_spinning() {
    // As for `send_to` above, driven through `poll_send_to`: the pause lives in the socket.
    let path = sock_path("full-unconnected-poll");
    let server_path = path.clone();
    with_watchdog(Duration::from_secs(60), move || {
        block_on(async {
            let server = UnixDatagram::bind(&server_path)?;
            let client = UnixDatagram::unbound()?;
            let sent = fill_queue_of(&client, &server_path);
            let mut polls = 0usize;
            let mut buf = [0; 8];
            let send = std::future::poll_fn(|cx| {
                polls += 1;
                client.poll_send_to(cx, b"last", &server_path)
            });
            let (last, received) = futures_util::join!(send, fills_before_last(&server, &mut buf));
            assert_eq!(last?, 4);
            assert_eq!(received?, sent, "every datagram, the one that waited last");
            // Pauses of 0.2, 0.4, ... up to 50 ms fill 300 ms with about a dozen tries.
            assert!(polls < 100, "{polls} polls: the send spun");
            // The pause ended with the send: a datagram to a receiver with room goes at once.
            let mut cx = Context::from_waker(Waker::noop());
            assert!(matches!(
                client.poll_send_to(&mut cx, b"again", &server_path),
                Poll::Ready(Ok(5))
            ));
            let n = server.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"again");
            io::Result::Ok(())
        })
        .unwrap();
    });
    let _ = std::fs::remove_file(&path);
}
