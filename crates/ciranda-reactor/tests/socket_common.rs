#![cfg(not(loom))]
//! What the socket types share (`net/socket.rs`): descriptors, addresses, options, std
//! conversions, the connect wait and `bind`, checked on every type that has them.

use ciranda_reactor::block_on;
use ciranda_reactor::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::stream::StreamExt;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ciranda-sc-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// The descriptor impls agree with each other, and `Debug` is the std socket's.
fn check_fd<S: AsFd + AsRawFd + std::fmt::Debug>(socket: &S, std_debug_start: &str) {
    assert_eq!(socket.as_raw_fd(), socket.as_fd().as_raw_fd());
    assert!(socket.as_raw_fd() >= 0);
    let debug = format!("{socket:?}");
    assert!(debug.starts_with(std_debug_start), "{debug}");
}

fn is_nonblocking(fd: impl AsFd) -> bool {
    // SAFETY: F_GETFL on a descriptor we hold open only reads its flags.
    let flags = unsafe { libc::fcntl(fd.as_fd().as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

#[test]
fn tcp_listener_and_stream_share_the_socket_surface() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        check_fd(&listener, "TcpListener");
        assert!(is_nonblocking(&listener));
        let addr = listener.local_addr()?;
        listener.set_ttl(42)?;
        assert_eq!(listener.ttl()?, 42);

        let client = TcpStream::connect(addr).await?;
        let server = listener.incoming().next().await.unwrap()?;
        check_fd(&client, "TcpStream");
        assert_eq!(client.peer_addr()?, addr);
        assert_eq!(client.local_addr()?, server.peer_addr()?);
        assert!(client.take_error()?.is_none());
        client.set_ttl(7)?;
        assert_eq!(client.ttl()?, 7);

        // shutdown(Write): the peer reads end-of-file.
        client.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        (&server).read_to_end(&mut rest).await?;
        assert!(rest.is_empty());

        // into_std keeps the descriptor non-blocking; from_std takes it back.
        let std_stream = server.into_std()?;
        assert!(is_nonblocking(&std_stream));
        let server = TcpStream::from_std(std_stream)?;
        assert_eq!(server.peer_addr()?, client.local_addr()?);

        let std_listener = listener.into_std()?;
        assert!(is_nonblocking(&std_listener));
        assert_eq!(std_listener.local_addr()?, addr);
        let listener = TcpListener::from_std(std_listener)?;
        assert_eq!(listener.local_addr()?, addr);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn tcp_bind_takes_the_first_address_that_works() {
    block_on(async {
        let taken = TcpListener::bind("127.0.0.1:0").await?;
        let port = taken.local_addr()?.port();
        // The first address is in use; the second (any port) works.
        let addrs = [
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ];
        let listener = TcpListener::bind(&addrs[..]).await?;
        assert_ne!(listener.local_addr()?.port(), port);
        // All in use: the last error, as the caller would get it from std.
        let err = TcpListener::bind(&addrs[..1]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn udp_socket_shares_the_socket_surface() {
    block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        check_fd(&a, "UdpSocket");
        assert!(is_nonblocking(&a));
        a.set_ttl(9)?;
        assert_eq!(a.ttl()?, 9);
        assert_eq!(
            a.peer_addr().unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        a.connect(b.local_addr()?).await?;
        assert_eq!(a.peer_addr()?, b.local_addr()?);
        assert!(a.take_error()?.is_none());

        let std_socket = a.into_std()?;
        assert!(is_nonblocking(&std_socket));
        let a = UdpSocket::from_std(std_socket)?;
        a.send(b"x").await?;
        let mut buf = [0; 1];
        let (n, from) = b.recv_from(&mut buf).await?;
        assert_eq!((n, from), (1, a.local_addr()?));
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn unix_listener_and_stream_share_the_socket_surface() {
    let path = socket_path("surface");
    block_on(async {
        let listener = UnixListener::bind(&path)?;
        check_fd(&listener, "UnixListener");
        assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));

        let mut client = UnixStream::connect(&path).await?;
        let (server, _) = listener.accept().await?;
        check_fd(&client, "UnixStream");
        assert!(is_nonblocking(&client) && is_nonblocking(&server));
        assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
        assert!(server.local_addr()?.as_pathname().is_some());
        assert!(client.take_error()?.is_none());

        client.write_all(b"bye").await?;
        client.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        (&server).read_to_end(&mut got).await?;
        assert_eq!(got, b"bye");

        let std_listener = std::os::unix::net::UnixListener::bind(socket_path("from-std"))?;
        let listener = UnixListener::from_std(std_listener)?;
        assert!(is_nonblocking(&listener));
        io::Result::Ok(())
    })
    .unwrap();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(socket_path("from-std"));
}

#[test]
fn unix_connect_reports_why_it_failed() {
    let path = socket_path("refused");
    block_on(async {
        // Nothing there at all.
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        // A socket file whose listener is gone.
        drop(std::os::unix::net::UnixListener::bind(&path)?);
        let err = UnixStream::connect(&path).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        io::Result::Ok(())
    })
    .unwrap();
    let _ = std::fs::remove_file(&path);
}
