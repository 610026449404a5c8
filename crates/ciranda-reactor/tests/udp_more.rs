#![cfg(not(loom))]
//! `UdpSocket` beyond send/receive: `peek`, `peek_sender` (zero-length and long datagrams, waits,
//! cancellation), the `poll_*` methods (values, queueing, which waker is woken), and multicast
//! (a loopback round trip, join/leave and their errors, the option getters and setters).

use ciranda_reactor::block_on;
use ciranda_reactor::net::UdpSocket;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

/// Polls `fut` once with a waker that does nothing.
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

async fn connected_pair() -> io::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind("127.0.0.1:0").await?;
    let b = UdpSocket::bind("127.0.0.1:0").await?;
    a.connect(b.local_addr()?).await?;
    b.connect(a.local_addr()?).await?;
    Ok((a, b))
}

#[test]
fn peek_leaves_the_datagram_queued_whole_even_when_truncated() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = connected_pair().await?;
            a.send(b"hello world").await?;
            a.send(b"second").await?;
            let mut small = [0; 5];
            assert_eq!(b.peek(&mut small).await?, 5);
            assert_eq!(&small, b"hello");
            let mut buf = [0; 32];
            // The same datagram again, now whole: the short peek discarded nothing.
            assert_eq!(b.peek(&mut buf).await?, 11);
            assert_eq!(&buf[..11], b"hello world");
            assert_eq!(b.recv(&mut buf).await?, 11);
            assert_eq!(&buf[..11], b"hello world");
            let n = b.peek(&mut buf).await?;
            assert_eq!(&buf[..n], b"second");
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"second");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn peek_sender_names_the_next_sender_and_consumes_nothing() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let r = UdpSocket::bind("127.0.0.1:0").await?;
            let x = UdpSocket::bind("127.0.0.1:0").await?;
            let y = UdpSocket::bind("127.0.0.1:0").await?;
            let to = r.local_addr()?;
            let long = vec![7u8; 1000];
            x.send_to(&long, to).await?;
            y.send_to(b"", to).await?; // an empty datagram has a sender too
            x.send_to(b"last", to).await?;

            assert_eq!(r.peek_sender().await?, x.local_addr()?);
            assert_eq!(r.peek_sender().await?, x.local_addr()?);
            // The peek into no buffer left the long datagram whole.
            let mut buf = vec![0; 2000];
            let (n, from) = r.recv_from(&mut buf).await?;
            assert_eq!((n, from), (1000, x.local_addr()?));
            assert_eq!(&buf[..n], &long[..]);

            assert_eq!(r.peek_sender().await?, y.local_addr()?);
            assert_eq!(r.recv_from(&mut buf).await?, (0, y.local_addr()?));

            assert_eq!(r.peek_sender().await?, x.local_addr()?);
            let (n, from) = r.recv_from(&mut buf).await?;
            assert_eq!((&buf[..n], from), (&b"last"[..], x.local_addr()?));
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn peek_sender_and_peek_wait_for_a_datagram_and_a_dropped_wait_loses_nothing() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = connected_pair().await?;
            let mut buf = [0; 16];
            {
                let dropped = pin!(b.peek_sender());
                assert!(poll_once(dropped).is_pending());
            }
            {
                let dropped = pin!(b.peek(&mut buf));
                assert!(poll_once(dropped).is_pending());
            }
            // Waits already under way when the datagram comes.
            let mut peeked = [0; 16];
            let (sender, n, sent) =
                futures_util::join!(b.peek_sender(), b.peek(&mut peeked), async {
                    ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
                    a.send(b"kept").await
                });
            assert_eq!(sent?, 4);
            assert_eq!(sender?, a.local_addr()?);
            assert_eq!(&peeked[..n?], b"kept");
            let n = b.recv(&mut buf).await?;
            assert_eq!(&buf[..n], b"kept");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn poll_methods_send_receive_and_peek() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = connected_pair().await?;
            let c = UdpSocket::bind("127.0.0.1:0").await?;
            let mut buf = [0; 16];
            let mut cx = Context::from_waker(Waker::noop());
            assert!(b.poll_recv(&mut cx, &mut buf).is_pending());
            assert!(b.poll_peek_from(&mut cx, &mut buf).is_pending());

            assert_eq!(poll_fn(|cx| a.poll_send(cx, b"0123456789")).await?, 10);
            let mut small = [0; 4];
            let (n, from) = poll_fn(|cx| b.poll_peek_from(cx, &mut small)).await?;
            assert_eq!((&small[..n], from), (&b"0123"[..], a.local_addr()?));
            let (n, from) = poll_fn(|cx| b.poll_peek_from(cx, &mut buf)).await?;
            assert_eq!((&buf[..n], from), (&b"0123456789"[..], a.local_addr()?));
            // poll_recv truncates, and the rest is gone.
            assert_eq!(poll_fn(|cx| b.poll_recv(cx, &mut small)).await?, 4);
            assert_eq!(&small, b"0123");
            assert!(b.poll_recv(&mut cx, &mut buf).is_pending());

            // A connected socket's poll_recv filters out other senders (as recv does).
            c.send_to(b"stranger", b.local_addr()?).await?;
            a.send(b"peer").await?;
            let n = poll_fn(|cx| b.poll_recv(cx, &mut buf)).await?;
            assert_eq!(&buf[..n], b"peer");

            // An unconnected socket cannot poll_send: the system's error, at once.
            match c.poll_send(&mut cx, b"x") {
                Poll::Ready(Err(e)) => assert_eq!(e.raw_os_error(), Some(libc::EDESTADDRREQ)),
                other => panic!("poll_send on an unconnected socket: {other:?}"),
            }
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn only_the_most_recent_poll_recv_waker_is_woken() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = connected_pair().await?;
            let first = Arc::new(Counter::default());
            let second = Arc::new(Counter::default());
            let mut buf = [0; 16];
            let first_waker = Waker::from(first.clone());
            let second_waker = Waker::from(second.clone());
            assert!(
                b.poll_recv(&mut Context::from_waker(&first_waker), &mut buf)
                    .is_pending()
            );
            assert!(
                b.poll_peek_from(&mut Context::from_waker(&second_waker), &mut buf)
                    .is_pending()
            );
            a.send(b"wake").await?;
            // Turn the reactor (sleeping does) until the readiness has been reported.
            while second.0.load(Ordering::SeqCst) == 0 {
                ciranda_reactor::time::sleep(Duration::from_millis(5)).await;
            }
            assert_eq!(
                first.0.load(Ordering::SeqCst),
                0,
                "a replaced waker was woken"
            );
            let n = poll_fn(|cx| b.poll_recv(cx, &mut buf)).await?;
            assert_eq!(&buf[..n], b"wake");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_member_on_loopback_receives_the_group_and_stops_after_leaving() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let group = Ipv4Addr::new(239, 255, 73, 41);
            let member = UdpSocket::bind("0.0.0.0:0").await?;
            let port = member.local_addr()?.port();
            member.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
            let sender = UdpSocket::bind("127.0.0.1:0").await?;
            assert_eq!(sender.multicast_if_v4()?, Ipv4Addr::UNSPECIFIED);
            // Out through loopback, where the member joined.
            sender.set_multicast_if_v4(Ipv4Addr::LOCALHOST)?;
            assert_eq!(sender.multicast_if_v4()?, Ipv4Addr::LOCALHOST);
            sender.set_multicast_loop_v4(true)?;
            assert!(sender.multicast_loop_v4()?);
            sender.send_to(b"to the group", (group, port)).await?;
            let mut buf = [0; 32];
            let (n, from) = member.recv_from(&mut buf).await?;
            assert_eq!(
                (&buf[..n], from),
                (&b"to the group"[..], sender.local_addr()?)
            );

            // After leaving, a datagram to the group is not delivered: the unicast one sent
            // after it is the next to arrive (a late multicast one could only come after it).
            member.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
            sender.send_to(b"to the group again", (group, port)).await?;
            sender
                .send_to(b"direct", (Ipv4Addr::LOCALHOST, port))
                .await?;
            let (n, _) = member.recv_from(&mut buf).await?;
            assert_eq!(&buf[..n], b"direct");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// The errors are Linux's (other systems may pick other codes for the same mistakes).
#[cfg(target_os = "linux")]
#[test]
fn bad_multicast_joins_and_leaves_are_the_systems_errors() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let group = Ipv4Addr::new(239, 255, 73, 42);
            let s = UdpSocket::bind("0.0.0.0:0").await?;
            let kind = |r: io::Result<()>| r.unwrap_err().kind();
            let raw = |r: io::Result<()>| r.unwrap_err().raw_os_error();
            // Not a group.
            assert_eq!(
                kind(s.join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST)),
                io::ErrorKind::InvalidInput
            );
            // An interface address that is no local address (TEST-NET-3).
            assert_eq!(
                raw(s.join_multicast_v4(group, Ipv4Addr::new(203, 0, 113, 77))),
                Some(libc::ENODEV)
            );
            assert_eq!(
                kind(s.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)),
                io::ErrorKind::AddrNotAvailable
            );
            s.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
            assert_eq!(
                kind(s.join_multicast_v4(group, Ipv4Addr::LOCALHOST)),
                io::ErrorKind::AddrInUse
            );
            s.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
            assert_eq!(
                kind(s.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)),
                io::ErrorKind::AddrNotAvailable
            );
            // IPv6 options on an IPv4 socket.
            assert_eq!(raw(s.set_multicast_loop_v6(true)), Some(libc::ENOPROTOOPT));
            assert_eq!(
                raw(s.join_multicast_v6(&"ff02::4321".parse().unwrap(), 1)),
                Some(libc::ENOPROTOOPT)
            );

            let s6 = UdpSocket::bind("[::1]:0").await?;
            let group6: Ipv6Addr = "ff02::7341".parse().unwrap();
            assert_eq!(
                kind(s6.join_multicast_v6(&Ipv6Addr::LOCALHOST, 1)),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(
                raw(s6.join_multicast_v6(&group6, 0x7fff_fff0)),
                Some(libc::ENODEV)
            );
            // Index 1 is the loopback interface on Linux.
            s6.join_multicast_v6(&group6, 1)?;
            assert_eq!(
                kind(s6.join_multicast_v6(&group6, 1)),
                io::ErrorKind::AddrInUse
            );
            s6.leave_multicast_v6(&group6, 1)?;
            assert_eq!(
                kind(s6.leave_multicast_v6(&group6, 1)),
                io::ErrorKind::AddrNotAvailable
            );
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn multicast_options_read_back_what_was_set() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let s = UdpSocket::bind("127.0.0.1:0").await?;
            assert!(s.multicast_loop_v4()?);
            s.set_multicast_loop_v4(false)?;
            assert!(!s.multicast_loop_v4()?);
            s.set_multicast_loop_v4(true)?;
            assert!(s.multicast_loop_v4()?);
            assert_eq!(s.multicast_ttl_v4()?, 1);
            s.set_multicast_ttl_v4(42)?;
            assert_eq!(s.multicast_ttl_v4()?, 42);
            #[cfg(target_os = "linux")]
            assert_eq!(
                s.set_multicast_ttl_v4(256).unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
            assert_eq!(s.multicast_ttl_v4()?, 42);
            // No local interface has a TEST-NET-3 address.
            #[cfg(target_os = "linux")]
            assert_eq!(
                s.set_multicast_if_v4(Ipv4Addr::new(203, 0, 113, 77))
                    .unwrap_err()
                    .kind(),
                io::ErrorKind::AddrNotAvailable
            );
            assert_eq!(s.multicast_if_v4()?, Ipv4Addr::UNSPECIFIED);

            let s6 = UdpSocket::bind("[::1]:0").await?;
            assert!(s6.multicast_loop_v6()?);
            s6.set_multicast_loop_v6(false)?;
            assert!(!s6.multicast_loop_v6()?);
            s6.set_multicast_loop_v6(true)?;
            assert!(s6.multicast_loop_v6()?);
            assert_eq!(s6.multicast_if_v6()?, 0);
            // Index 1 is the loopback interface on Linux.
            #[cfg(target_os = "linux")]
            {
                s6.set_multicast_if_v6(1)?;
                assert_eq!(s6.multicast_if_v6()?, 1);
            }
            io::Result::Ok(())
        })
        .unwrap();
    });
}
