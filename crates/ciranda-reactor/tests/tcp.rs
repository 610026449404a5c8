#![cfg(not(loom))]
//! TCP: echo under load, half-close, reset, refused connections, splitting, close-on-exec.

use ciranda_reactor::net::{TcpListener, TcpStream};
use ciranda_reactor::{Reactor, block_on, time};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use futures_util::stream::{FuturesUnordered, StreamExt, TryStreamExt};
use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Raises RLIMIT_NOFILE's soft limit to `want` (or the hard limit); returns the new soft limit.
fn raise_nofile(want: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: setrlimit reads the struct we pass; raising the soft limit up to the hard
        // limit is always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    }
    lim.rlim_cur
}

async fn echo_conn(mut s: TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n]).await?;
    }
}

#[test]
fn echo_1000_connections_100_round_trips() {
    const CONNS: usize = 1000;
    const ROUNDS: usize = 100;
    // Two sockets per connection in this process, plus headroom.
    let limit = raise_nofile(2 * CONNS as libc::rlim_t + 256);
    if limit < 2 * CONNS as libc::rlim_t + 64 {
        eprintln!("skipped: RLIMIT_NOFILE is {limit}, too low for {CONNS} connections");
        return;
    }
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = listener
            .incoming()
            .take(CONNS)
            .try_for_each_concurrent(None, echo_conn);
        let clients: FuturesUnordered<_> = (0..CONNS)
            .map(|i| async move {
                let mut s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let mut back = [0u8; 16];
                for round in 0..ROUNDS {
                    let msg = format!("{i:07}/{round:07}.");
                    assert_eq!(msg.len(), 16);
                    s.write_all(msg.as_bytes()).await?;
                    s.read_exact(&mut back).await?;
                    assert_eq!(&back[..], msg.as_bytes());
                }
                s.close().await?;
                io::Result::Ok(())
            })
            .collect();
        let clients = clients.try_collect::<Vec<()>>();
        let (server, clients) = futures_util::join!(server, clients);
        server?;
        assert_eq!(clients?.len(), CONNS);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn half_close_then_read_to_eof() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (mut server, _) = listener.accept().await?;
        client.write_all(b"request").await?;
        client.shutdown(Shutdown::Write)?;
        let mut got = Vec::new();
        server.read_to_end(&mut got).await?;
        assert_eq!(got, b"request");
        // The other direction still works after the half-close.
        server.write_all(b"response").await?;
        server.close().await?;
        let mut back = Vec::new();
        client.read_to_end(&mut back).await?;
        assert_eq!(back, b"response");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn peer_reset_is_an_error() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        // SO_LINGER 0: closing sends RST instead of FIN.
        socket2::SockRef::from(&server).set_linger(Some(Duration::ZERO))?;
        drop(server);
        let mut buf = [0u8; 8];
        // The reset surfaces on the next read, as an error (not as EOF).
        let err = match client.read(&mut buf).await {
            Ok(n) => panic!("peer reset surfaced as Ok({n})"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn connect_to_closed_port_is_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = block_on(TcpStream::connect(("127.0.0.1", port))).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn connect_by_host_name_uses_blocking_spawner() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let jobs = Arc::new(AtomicUsize::new(0));
    let counted = jobs.clone();
    let reactor = Reactor::builder()
        .blocking_spawner(move |job| {
            counted.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(job);
        })
        .build()
        .unwrap();
    let _g = reactor.enter();
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (c, s) = futures_util::join!(
            TcpStream::connect(format!("localhost:{port}")),
            listener.accept()
        );
        // "localhost" may resolve to ::1 first: every address is tried in order.
        let (c, (s, _)) = (c?, s?);
        assert_eq!(c.local_addr()?, s.peer_addr()?);
        io::Result::Ok(())
    })
    .unwrap();
    assert!(
        jobs.load(Ordering::SeqCst) >= 1,
        "the lookup did not use the spawner"
    );
}

#[test]
fn bad_addresses_are_errors_not_hangs() {
    block_on(async {
        let e = TcpStream::connect("no-port-here").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("host:port"), "{e}");
        let e = TcpListener::bind("127.0.0.1:99999").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("invalid port"), "{e}");
    });
}

#[test]
fn addresses_that_do_not_parse_or_resolve_are_named_in_the_error() {
    block_on(async {
        // An empty host or a broken IPv6 bracket never parses: refused before any lookup.
        for bad in [":80", "[::1:80", "[::1", "::1]:80"] {
            let e = TcpStream::connect(bad).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
            let e = TcpListener::bind(bad).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}: {e}");
            assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        // A name that does not resolve (".invalid" is reserved, RFC 2606): the error says
        // which one, in every spelling of the address.
        let e = TcpStream::connect("no-such-host.invalid:80")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("\"no-such-host.invalid\""), "{e}");
        let e = TcpStream::connect(String::from("no-such-host.invalid:80"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("\"no-such-host.invalid\""), "{e}");
        let e = TcpListener::bind(("no-such-host.invalid", 80))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("\"no-such-host.invalid\""), "{e}");
    });
}

#[test]
fn into_split_halves_work_from_separate_futures() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let (mut sr, mut sw) = server.into_split();
        let (mut cr, mut cw) = client.into_split();
        let pump = async {
            // Server copies everything back, then its write half is dropped: EOF for the client.
            futures_util::io::copy(&mut sr, &mut sw).await?;
            drop(sw);
            io::Result::Ok(())
        };
        let talk = async {
            let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
            let writer = async {
                cw.write_all(&data).await?;
                drop(cw); // shutdown(Write)
                io::Result::Ok(())
            };
            let reader = async {
                let mut back = Vec::new();
                cr.read_to_end(&mut back).await?;
                io::Result::Ok(back)
            };
            let (w, r) = futures_util::join!(writer, reader);
            w?;
            assert_eq!(r?, data);
            io::Result::Ok(())
        };
        let (p, t) = futures_util::join!(pump, talk);
        p.and(t)
    })
    .unwrap();
}

#[test]
fn shared_reference_reads_and_writes() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        let mut writer = &client;
        let mut reader = &client;
        writer.write_all(b"abc").await?;
        (&server).write_all(b"xyz").await?;
        let mut buf = [0; 3];
        reader.read_exact(&mut buf).await?;
        assert_eq!(&buf, b"xyz");
        let mut buf = [0; 3];
        assert_eq!(server.peek(&mut buf).await?, 3);
        (&server).read_exact(&mut buf).await?;
        assert_eq!(&buf, b"abc");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn sockets_are_close_on_exec_and_nonblocking() {
    fn check(fd: i32) {
        // SAFETY: F_GETFD/F_GETFL only read the flags of a descriptor we hold open.
        let fd_flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // SAFETY: as above.
        let fl_flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert!(
            fd_flags & libc::FD_CLOEXEC != 0,
            "fd {fd} is not close-on-exec"
        );
        assert!(fl_flags & libc::O_NONBLOCK != 0, "fd {fd} is blocking");
    }
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let client = TcpStream::connect(listener.local_addr()?).await?;
        let (server, _) = listener.accept().await?;
        check(listener.as_raw_fd());
        check(client.as_raw_fd());
        check(server.as_raw_fd());
        let udp = ciranda_reactor::net::UdpSocket::bind("127.0.0.1:0").await?;
        check(udp.as_raw_fd());
        let (a, b) = ciranda_reactor::net::UnixStream::pair()?;
        check(a.as_raw_fd());
        check(b.as_raw_fd());
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn read_with_timeout_on_silent_peer() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let mut client = TcpStream::connect(listener.local_addr()?).await?;
        let (_server, _) = listener.accept().await?;
        let mut buf = [0; 1];
        let r = time::timeout(Duration::from_millis(20), client.read(&mut buf)).await;
        assert!(r.is_err(), "a silent peer produced {r:?}");
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn outside_a_reactor_is_a_clear_error() {
    let err = std::thread::spawn(|| {
        futures_util::FutureExt::now_or_never(TcpListener::bind("127.0.0.1:0"))
            .expect("fails at once")
            .unwrap_err()
    })
    .join()
    .unwrap();
    let message = err.to_string();
    assert!(message.contains("no ciranda runtime"), "{message}");
    assert!(message.contains("Runtime::block_on"), "{message}");
    assert!(!message.contains("ciranda_reactor"), "{message}");
}

/// `accept` hands back the client's address and a socket that is already non-blocking (set by
/// `accept4` itself on Linux), and `connect` makes a non-blocking socket as well.
#[test]
fn accepted_and_connected_sockets_are_nonblocking_with_the_right_addresses() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let client = std::net::TcpStream::connect(addr)?;
        let (server, peer) = listener.accept().await?;
        assert_eq!(peer, client.local_addr()?);
        assert_eq!(server.peer_addr()?, peer);
        assert!(socket2::SockRef::from(&server).nonblocking()?);

        let connected = TcpStream::connect(addr).await?;
        let (accepted, peer) = listener.accept().await?;
        assert_eq!(peer, connected.local_addr()?);
        assert_eq!(accepted.peer_addr()?, connected.local_addr()?);
        assert!(socket2::SockRef::from(&connected).nonblocking()?);
        io::Result::Ok(())
    })
    .unwrap();
}

/// Waits of ours keep one waker entry per future, so futures waiting on one socket at once
/// are all woken: four `accept`s pending on one listener, then four `readable()`s pending on
/// one stream that a single write makes readable.
#[test]
fn several_futures_waiting_on_one_socket_are_all_served() {
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepts: FuturesUnordered<_> = (0..4).map(|_| listener.accept()).collect();
        let connects = async {
            // Let every accept wait first.
            time::sleep(Duration::from_millis(20)).await;
            let mut clients = Vec::new();
            for _ in 0..4 {
                clients.push(TcpStream::connect(addr).await?);
            }
            io::Result::Ok(clients)
        };
        let (accepted, clients) = futures_util::join!(accepts.try_collect::<Vec<_>>(), connects);
        let (accepted, mut clients) = (accepted?, clients?);
        assert_eq!(accepted.len(), 4);

        let (server, _) = &accepted[0];
        let readers: FuturesUnordered<_> = (0..4).map(|_| server.readable()).collect();
        let writer = async {
            time::sleep(Duration::from_millis(20)).await;
            clients[0].write_all(b"x").await
        };
        let (ready, written) = futures_util::join!(readers.try_collect::<Vec<_>>(), writer);
        written?;
        assert_eq!(ready?.len(), 4);
        io::Result::Ok(())
    })
    .unwrap();
}

#[cfg(target_os = "linux")]
#[path = "support/epoll_set.rs"]
mod epoll_set;
#[cfg(target_os = "linux")]
use epoll_set::in_an_epoll_set;

/// A socket made by `accept` or `connect` enters the poller only at its first wait: one
/// whose reads and writes never have to wait costs no `epoll_ctl`. A wait that follows still
/// sees what arrives after it, and a connection that waits to connect is armed by that wait.
#[cfg(target_os = "linux")]
#[test]
fn made_sockets_enter_the_poller_at_their_first_wait() {
    use std::io::Write;
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut client = std::net::TcpStream::connect(addr)?;
        client.set_nodelay(true)?;
        client.write_all(b"req")?;
        let (mut server, _) = listener.accept().await?;
        let fd = server.as_raw_fd();
        assert!(
            !in_an_epoll_set().contains(&fd),
            "an accepted socket is in the poller before any wait"
        );
        // The request is there already: reading it and replying waits for nothing.
        let mut req = [0u8; 3];
        server.read_exact(&mut req).await?;
        server.write_all(b"ok").await?;
        assert_eq!(&req, b"req");
        assert!(
            !in_an_epoll_set().contains(&fd),
            "reads and writes that did not wait put the socket in the poller"
        );

        // Now a read that waits: the data comes from another thread after it started.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            client.write_all(b"late").unwrap();
            client
        });
        let mut late = [0u8; 4];
        time::timeout(Duration::from_secs(10), server.read_exact(&mut late))
            .await
            .expect("the waiting read was never woken")?;
        assert_eq!(&late, b"late");
        assert!(
            in_an_epoll_set().contains(&fd),
            "a socket that waited is not in the poller"
        );
        let mut client = writer.join().unwrap();

        // Both directions are armed by that first wait: a later write wait is served too,
        // and so is a peer's FIN after a read drained the socket.
        client.write_all(b"x")?;
        client.shutdown(Shutdown::Write)?;
        let mut rest = Vec::new();
        time::timeout(Duration::from_secs(10), server.read_to_end(&mut rest))
            .await
            .expect("EOF was never reported")?;
        assert_eq!(rest, b"x");

        // A connection made by `connect` that waits for the handshake is armed by that wait
        // and then reads what arrives later.
        let connected = TcpStream::connect(addr).await?;
        let (mut accepted, _) = listener.accept().await?;
        let mut connected = connected;
        let reader = async {
            let mut buf = [0u8; 2];
            connected.read_exact(&mut buf).await.map(|_| buf)
        };
        let writer = async {
            time::sleep(Duration::from_millis(20)).await;
            accepted.write_all(b"hi").await
        };
        let (read, written) =
            futures_util::join!(time::timeout(Duration::from_secs(10), reader), writer);
        written?;
        assert_eq!(
            &read.expect("the connected socket's wait was never woken")?,
            b"hi"
        );
        io::Result::Ok(())
    })
    .unwrap();
}
