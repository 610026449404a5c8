#![cfg(not(loom))]
//! UDP ping-pong and Unix-domain echo.

use ciranda_reactor::block_on;
use ciranda_reactor::net::{UdpSocket, UnixListener, UnixStream};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::stream::{StreamExt, TryStreamExt};
use std::io;

#[test]
fn udp_ping_pong() {
    block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        let b_addr = b.local_addr()?;
        let pinger = async {
            let mut buf = [0u8; 8];
            for i in 0..200u32 {
                a.send_to(&i.to_be_bytes(), b_addr).await?;
                let (n, from) = a.recv_from(&mut buf).await?;
                assert_eq!(from, b_addr);
                assert_eq!(&buf[..n], &(i + 1).to_be_bytes());
            }
            io::Result::Ok(())
        };
        let ponger = async {
            let mut buf = [0u8; 8];
            for _ in 0..200 {
                let (n, from) = b.recv_from(&mut buf).await?;
                let i = u32::from_be_bytes(buf[..n].try_into().unwrap());
                b.send_to(&(i + 1).to_be_bytes(), from).await?;
            }
            io::Result::Ok(())
        };
        let (p, q) = futures_util::join!(pinger, ponger);
        p.and(q)
    })
    .unwrap();
}

#[test]
fn udp_connected_send_recv() {
    block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").await?;
        let b = UdpSocket::bind("127.0.0.1:0").await?;
        a.connect(b.local_addr()?).await?;
        b.connect(a.local_addr()?).await?;
        assert_eq!(a.peer_addr()?, b.local_addr()?);
        a.send(b"one").await?;
        let mut buf = [0; 8];
        let (n, _) = b.peek_from(&mut buf).await?;
        assert_eq!(&buf[..n], b"one");
        let n = b.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"one");
        b.send(b"two").await?;
        let n = a.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"two");
        io::Result::Ok(())
    })
    .unwrap();
}

fn sock_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ciranda-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn unix_echo() {
    let path = sock_path("echo");
    block_on(async {
        let listener = UnixListener::bind(&path)?;
        let server = listener
            .incoming()
            .take(10)
            .try_for_each_concurrent(None, |s| async move {
                let (mut r, mut w) = s.into_split();
                futures_util::io::copy(&mut r, &mut w).await?;
                io::Result::Ok(())
            });
        let clients = futures_util::future::try_join_all((0..10u8).map(|i| {
            let path = path.clone();
            async move {
                let mut s = UnixStream::connect(&path).await?;
                let msg = vec![i; 10_000];
                s.write_all(&msg).await?;
                s.shutdown(std::net::Shutdown::Write)?;
                let mut back = Vec::new();
                s.read_to_end(&mut back).await?;
                assert_eq!(back, msg);
                io::Result::Ok(())
            }
        }));
        let (s, c) = futures_util::join!(server, clients);
        s?;
        c?;
        io::Result::Ok(())
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unix_connect_to_missing_path_fails() {
    let path = sock_path("missing");
    let err = block_on(UnixStream::connect(&path)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}

#[cfg(target_os = "linux")]
#[path = "support/epoll_set.rs"]
mod epoll_set;
#[cfg(target_os = "linux")]
use epoll_set::in_an_epoll_set;

/// As for TCP: an accepted Unix stream enters the poller only at its first wait, and that
/// wait is still woken by what arrives after it.
#[cfg(target_os = "linux")]
#[test]
fn accepted_unix_streams_enter_the_poller_at_their_first_wait() {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let path = sock_path("lazy");
    block_on(async {
        let listener = UnixListener::bind(&path)?;
        let mut client = std::os::unix::net::UnixStream::connect(&path)?;
        client.write_all(b"req")?;
        let (mut server, _) = listener.accept().await?;
        let fd = server.as_raw_fd();
        let mut req = [0u8; 3];
        server.read_exact(&mut req).await?;
        assert_eq!(&req, b"req");
        assert!(
            !in_an_epoll_set().contains(&fd),
            "an accepted stream that never waited is in the poller"
        );
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            client.write_all(b"late").unwrap();
        });
        let mut late = [0u8; 4];
        ciranda_reactor::time::timeout(
            std::time::Duration::from_secs(10),
            server.read_exact(&mut late),
        )
        .await
        .expect("the waiting read was never woken")?;
        assert_eq!(&late, b"late");
        assert!(
            in_an_epoll_set().contains(&fd),
            "a stream that waited is not in the poller"
        );
        writer.join().unwrap();
        io::Result::Ok(())
    })
    .unwrap();
    std::fs::remove_file(&path).unwrap();
}

/// A non-blocking `connect` to a Unix listener whose backlog is full fails with `EAGAIN` and
/// starts no connection (unlike TCP's `EINPROGRESS`). It used to count as started: the
/// unconnected socket polls writable (and hung up) at once, so the wait for the connection
/// spun forever inside one poll. It must fail instead.
#[test]
fn unix_connect_to_a_full_backlog_fails_instead_of_spinning() {
    use socket2::{Domain, SockAddr, Socket, Type};
    let path = sock_path("full");
    let listener = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
    listener.bind(&SockAddr::unix(&path).unwrap()).unwrap();
    listener.listen(0).unwrap();
    // Fill the backlog: connect until the kernel refuses with EAGAIN.
    let mut queued = Vec::new();
    loop {
        let s = Socket::new(Domain::UNIX, Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        match s.connect(&SockAddr::unix(&path).unwrap()) {
            Ok(()) => queued.push(s),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("unexpected connect error: {e}"),
        }
        assert!(queued.len() < 1000, "the backlog never filled");
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.clone();
    std::thread::spawn(move || {
        let _ = tx.send(block_on(UnixStream::connect(&p)).map(drop));
    });
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("connect to a full backlog hung");
    let err = result.expect_err("connected although the backlog is full");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
    drop(queued);
    drop(listener);
    std::fs::remove_file(&path).unwrap();
}

/// A name that starts with a NUL byte is an abstract address (Linux): no file, gone with the
/// socket. `UnixStream::connect` took such names, but `UnixListener::bind` refused them
/// ("paths must not contain interior null bytes"), so a server on an abstract name (as Tokio's
/// `UnixListener::bind("\0name")` makes) could not be written.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn unix_listener_binds_an_abstract_name() {
    #[cfg(target_os = "android")]
    use std::os::android::net::SocketAddrExt;
    #[cfg(target_os = "linux")]
    use std::os::linux::net::SocketAddrExt;
    let name = format!("ciranda-{}-abstract", std::process::id());
    let path = format!("\0{name}");
    block_on(async {
        let listener = UnixListener::bind(&path)?;
        assert_eq!(
            listener.local_addr()?.as_abstract_name(),
            Some(name.as_bytes())
        );
        let mut client = UnixStream::connect(&path).await?;
        let (mut server, _) = listener.accept().await?;
        client.write_all(b"abstract").await?;
        client.close().await?;
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?;
        assert_eq!(got, b"abstract");
        // Nothing was created in the filesystem, and the name is taken while bound.
        assert!(!std::path::Path::new(&name).exists());
        let e = UnixListener::bind(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        io::Result::Ok(())
    })
    .unwrap();
}

/// A filesystem path with a NUL byte inside cannot be a socket path: the kernel would stop
/// at the NUL and bind (or connect to) the shorter path in front of it, silently. Only an
/// abstract name, which starts with NUL, may carry NUL bytes.
#[test]
fn unix_path_with_an_interior_nul_is_an_error_not_a_shorter_path() {
    let short = sock_path("nul");
    let mut with_nul = short.clone().into_os_string();
    with_nul.push("\0rest");
    block_on(async {
        let e = UnixListener::bind(&with_nul).map(drop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("NUL"), "{e}");
        assert!(!short.exists(), "bind created the path cut at the NUL");
        let e = UnixStream::connect(&with_nul).await.map(drop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("NUL"), "{e}");
    });
    let _ = std::fs::remove_file(&short);
}

/// An empty path is neither a filesystem path nor an abstract name (which starts with NUL).
/// Linux took an empty address as a request to autobind: `UnixListener::bind("")` succeeded,
/// on a random abstract name no client could know, so a server whose socket path came from an
/// unset setting started without a word and was unreachable; `UnixStream::connect("")` failed
/// with a bare "Invalid argument". Both are `InvalidInput` errors that say the path is empty.
#[test]
fn an_empty_unix_socket_path_is_an_error_not_an_autobound_name() {
    block_on(async {
        let e = UnixListener::bind("").map(drop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("empty"), "{e}");
        let e = UnixStream::connect("").await.map(drop).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("empty"), "{e}");
    });
}

#[test]
fn unix_listener_and_stream_into_std_hand_back_working_sockets() {
    let path = sock_path("into-std");
    block_on(async {
        let listener = UnixListener::bind(&path)?;
        let mut client = UnixStream::connect(&path).await?;
        let (server, _) = listener.accept().await?;
        // Both handed back deregistered and still non-blocking.
        let listener = listener.into_std()?;
        let mut server = server.into_std()?;
        client.write_all(b"ping").await?;
        let mut buf = [0; 4];
        loop {
            match std::io::Read::read(&mut server, &mut buf) {
                Ok(n) => {
                    assert_eq!(&buf[..n], b"ping");
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(e) => return Err(e),
            }
        }
        assert_eq!(
            listener.accept().unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "the listener is still non-blocking"
        );
        // And can be wrapped again.
        let again = UnixListener::from_std(listener)?;
        let _second = UnixStream::connect(&path).await?;
        again.accept().await?;
        io::Result::Ok(())
    })
    .unwrap();
    let _ = std::fs::remove_file(&path);
}
