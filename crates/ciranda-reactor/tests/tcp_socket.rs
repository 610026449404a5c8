#![cfg(not(loom))]
//! `TcpSocket`: options read back, a connection from a chosen source address, listening with
//! a backlog, `SO_REUSEPORT` listeners sharing a port, errors (refused, no runtime, a port in
//! use), and the descriptor conversions.

use ciranda_reactor::block_on;
use ciranda_reactor::net::{TcpListener, TcpSocket};
use futures_util::future::select;
use futures_util::{AsyncReadExt, AsyncWriteExt};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::pin::pin;
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

fn localhost() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn options_read_back_what_was_set() {
    let s = TcpSocket::new_v4().unwrap();
    s.set_reuseaddr(true).unwrap();
    assert!(s.reuseaddr().unwrap());
    s.set_reuseaddr(false).unwrap();
    assert!(!s.reuseaddr().unwrap());
    s.set_reuseport(true).unwrap();
    assert!(s.reuseport().unwrap());
    s.set_keepalive(true).unwrap();
    assert!(s.keepalive().unwrap());
    s.set_nodelay(true).unwrap();
    assert!(s.nodelay().unwrap());
    assert_eq!(s.linger().unwrap(), None);
    s.set_zero_linger().unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
    s.set_send_buffer_size(64 * 1024).unwrap();
    s.set_recv_buffer_size(64 * 1024).unwrap();
    // Linux doubles what was asked for (its bookkeeping); other systems keep it.
    assert!(s.send_buffer_size().unwrap() >= 64 * 1024);
    assert!(s.recv_buffer_size().unwrap() >= 64 * 1024);
    // A size past `int` is clamped, not wrapped into a negative one.
    s.set_send_buffer_size(u32::MAX).unwrap();
    assert!(s.send_buffer_size().unwrap() > 0);
    assert!(format!("{s:?}").contains("TcpSocket"));

    let s6 = TcpSocket::new_v6().unwrap();
    s6.bind("[::1]:0".parse().unwrap()).unwrap();
    assert!(s6.local_addr().unwrap().is_ipv6());
    let s4 = TcpSocket::new_for_addr(localhost()).unwrap();
    s4.bind(localhost()).unwrap();
    assert!(s4.local_addr().unwrap().is_ipv4());
    assert!(s4.take_error().unwrap().is_none());
}

#[test]
fn a_connection_from_a_chosen_source_and_a_listener_with_a_backlog() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let server = TcpSocket::new_v4()?;
            server.bind(localhost())?;
            let listener = server.listen(16)?;
            let addr = listener.local_addr()?;

            let client = TcpSocket::new_v4()?;
            client.bind(localhost())?;
            let source = client.local_addr()?;
            let mut stream = client.connect(addr).await?;
            assert_eq!(stream.local_addr()?, source);
            let (mut accepted, peer) = listener.accept().await?;
            assert_eq!(peer, source);
            stream.write_all(b"ping").await?;
            let mut buf = [0; 4];
            accepted.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"ping");
            accepted.write_all(b"pong").await?;
            stream.read_exact(&mut buf).await?;
            assert_eq!(&buf, b"pong");

            // Unbound: the system picks the source.
            let other = TcpSocket::new_v4()?.connect(addr).await?;
            let (_, peer) = listener.accept().await?;
            assert_eq!(peer, other.local_addr()?);
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn reuseport_listeners_share_a_port_and_a_taken_port_is_refused() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let first = TcpSocket::new_v4()?;
            first.set_reuseport(true)?;
            first.bind(localhost())?;
            let addr = first.local_addr()?;
            let first = first.listen(8)?;
            let second = TcpSocket::new_v4()?;
            second.set_reuseport(true)?;
            second.bind(addr)?;
            let second = second.listen(8)?;
            assert_eq!(second.local_addr()?, first.local_addr()?);

            // Without the option the port is taken.
            let third = TcpSocket::new_v4()?;
            assert_eq!(
                third.bind(addr).unwrap_err().kind(),
                io::ErrorKind::AddrInUse
            );

            // Connections reach one listener or the other; none is lost.
            let mut clients = Vec::new();
            for _ in 0..8 {
                clients.push(TcpSocket::new_v4()?.connect(addr).await?);
            }
            let mut peers = Vec::new();
            while peers.len() < 8 {
                // `accept` is cancel-safe: the losing one drops no connection.
                let (a, b) = (pin!(first.accept()), pin!(second.accept()));
                let (_, peer) = select(a, b).await.factor_first().0?;
                peers.push(peer);
            }
            peers.sort();
            let mut sources = clients
                .iter()
                .map(|c| c.local_addr())
                .collect::<io::Result<Vec<_>>>()?;
            sources.sort();
            assert_eq!(peers, sources);
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_refused_connection_and_no_runtime_are_errors() {
    with_watchdog(Duration::from_secs(30), || {
        // A port nobody listens on: bind one, note it, close it.
        let addr = std::net::TcpListener::bind(localhost())
            .unwrap()
            .local_addr()
            .unwrap();
        block_on(async {
            let err = TcpSocket::new_v4()?.connect(addr).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
            io::Result::Ok(())
        })
        .unwrap();
        // Creating and configuring needs no runtime; listening does.
        let s = TcpSocket::new_v4().unwrap();
        s.bind(localhost()).unwrap();
        let err = s.listen(1).unwrap_err();
        assert!(err.to_string().contains("no ciranda runtime"), "{err}");
    });
}

#[test]
fn descriptor_conversions_round_trip() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let listener = TcpListener::bind(localhost()).await?;
            let s = TcpSocket::new_v4()?;
            s.set_nodelay(true)?;
            let fd = s.into_raw_fd();
            // SAFETY: `fd` was just released by `into_raw_fd`; nothing else owns it.
            let s = unsafe { TcpSocket::from_raw_fd(fd) };
            assert!(s.nodelay()?);
            let stream = s.connect(listener.local_addr()?).await?;
            let (_, peer) = listener.accept().await?;
            assert_eq!(peer, stream.local_addr()?);

            // A blocking socket handed over as a descriptor is made non-blocking when it
            // connects.
            let blocking =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            blocking.set_nonblocking(false)?;
            // SAFETY: as above.
            let s = unsafe { TcpSocket::from_raw_fd(blocking.into_raw_fd()) };
            let stream = s.connect(listener.local_addr()?).await?;
            // Nothing to read: a non-blocking attempt says so (a blocking one would hang).
            assert_eq!(
                stream.try_read(&mut [0; 8]).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
            let (_, peer) = listener.accept().await?;
            assert_eq!(peer, stream.local_addr()?);

            let std = std::net::TcpStream::from(socket2::Socket::new(
                socket2::Domain::IPV4,
                socket2::Type::STREAM,
                None,
            )?);
            let s = TcpSocket::from_std_stream(std)?;
            let stream = s.connect(listener.local_addr()?).await?;
            listener.accept().await?;
            drop(stream);
            io::Result::Ok(())
        })
        .unwrap();
    });
}
