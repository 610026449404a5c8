#![cfg(not(loom))]
//! The attempts that never wait (`try_read`, `try_write`, `try_recv`, `try_send`, ...) on every
//! socket type and split half: values, `WouldBlock` when nothing is there, end of stream, how
//! they combine with `readable`/`writable` and with the streams' own reads (a short read's
//! drained mark neither hides data from an attempt nor, once an attempt moved bytes, delays
//! the next read); `ready(Interest)`, `try_io` and `async_io`; the Unix halves' `reunite`,
//! TCP's zero linger.

use ciranda_reactor::block_on;
use ciranda_reactor::io::{Interest, Ready};
use ciranda_reactor::net::unix::ReuniteError;
use ciranda_reactor::net::{
    TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream,
};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use std::future::Future;
use std::io::{self, ErrorKind, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

/// Polls `fut` once with a waker that does nothing (the reactor does not turn meanwhile).
fn poll_once<F: Future>(fut: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

/// Blocks the thread (without turning the reactor) until `fd` is readable, so data sent on
/// loopback is in the receive queue before the test asks for it.
fn wait_level_readable(fd: &impl AsRawFd) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` for the call's duration; the descriptor is open (borrowed).
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "the data did not arrive within 10 s");
}

fn would_block<T: std::fmt::Debug>(r: io::Result<T>) -> bool {
    matches!(r, Err(ref e) if e.kind() == ErrorKind::WouldBlock)
}

async fn tcp_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

/// Reads with `try_read` after `readable` until `want` bytes came (spurious reports retried).
async fn read_by_attempts(
    readable: impl AsyncFn() -> io::Result<()>,
    try_read: impl Fn(&mut [u8]) -> io::Result<usize>,
    want: usize,
) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while got.len() < want {
        readable().await?;
        match try_read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[test]
fn tcp_try_read_and_try_write_move_bytes_and_say_would_block_and_eof() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (client, server) = tcp_pair().await?;
            let mut buf = [0; 64];
            assert!(would_block(server.try_read(&mut buf)));
            assert_eq!(client.try_write(b"")?, 0);

            assert_eq!(client.try_write(b"hello ")?, 6);
            assert_eq!(
                client.try_write_vectored(&[IoSlice::new(b"wor"), IoSlice::new(b"ld")])?,
                5
            );
            let got = read_by_attempts(
                || server.readable(),
                |b| server.try_read(b),
                "hello world".len(),
            )
            .await?;
            assert_eq!(got, b"hello world");
            assert!(would_block(server.try_read(&mut buf)));

            client.try_write(b"vectored")?;
            wait_level_readable(&server);
            let (mut a, mut b) = ([0; 3], [0; 16]);
            let n = server
                .try_read_vectored(&mut [IoSliceMut::new(&mut a), IoSliceMut::new(&mut b)])?;
            assert_eq!(n, 8);
            assert_eq!((&a, &b[..5]), (b"vec", &b"tored"[..]));

            client.shutdown(Shutdown::Write)?;
            wait_level_readable(&server);
            assert_eq!(server.try_read(&mut buf)?, 0, "end of stream");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn tcp_try_write_fills_the_buffer_then_writable_waits_for_room() {
    with_watchdog(Duration::from_secs(60), || {
        block_on(async {
            let (mut client, server) = tcp_pair().await?;
            let chunk = vec![7u8; 64 * 1024];
            let mut sent = 0;
            loop {
                match server.try_write(&chunk) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            assert!(sent > 0);
            // Full: a `writable` wait does not complete while nobody reads.
            {
                let mut wait = pin!(server.writable());
                assert!(poll_once(wait.as_mut()).is_pending());
            }
            // The peer reads everything; room appears and the next attempt writes.
            let reader = async {
                let mut all = vec![0; sent];
                client.read_exact(&mut all).await?;
                assert!(all.iter().all(|&b| b == 7));
                io::Result::Ok(client)
            };
            let mut client = reader.await?;
            server.writable().await?;
            let n = loop {
                match server.try_write(b"after") {
                    Ok(n) => break n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => server.writable().await?,
                    Err(e) => return Err(e),
                }
            };
            assert_eq!(n, 5);
            let mut tail = [0; 5];
            client.read_exact(&mut tail).await?;
            assert_eq!(&tail, b"after");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn tcp_try_write_after_shutdown_is_broken_pipe() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (client, _server) = tcp_pair().await?;
            client.shutdown(Shutdown::Write)?;
            let err = client.try_write(b"late").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BrokenPipe);
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// A short read marks the read side drained (the next read waits for the reactor's report
/// rather than ask the kernel). An attempt must ask the kernel anyway, and once it has moved
/// bytes, the stream's next read must ask too, not wait for a report of data the attempt
/// already saw arrive.
#[test]
fn an_attempt_sees_data_behind_a_short_reads_mark_and_voids_it() {
    attempt_sees_data_behind_the_mark_and_voids_it(|server, buf| server.try_read(buf));
}

/// The check of the test above for `attempt`, a read of `server` that never waits.
fn attempt_sees_data_behind_the_mark_and_voids_it(
    attempt: fn(&TcpStream, &mut [u8]) -> io::Result<usize>,
) {
    with_watchdog(Duration::from_secs(30), move || {
        block_on(async {
            let (client, mut server) = tcp_pair().await?;
            client.try_write(b"a")?;
            let mut buf = [0; 100];
            assert_eq!(server.read(&mut buf).await?, 1, "a short read: drained");

            // No yield from here on: the reactor does not turn, so nothing is reported.
            client.try_write(b"bc")?;
            wait_level_readable(&server);
            assert_eq!(attempt(&server, &mut buf)?, 2);
            assert_eq!(&buf[..2], b"bc");

            client.try_write(b"de")?;
            wait_level_readable(&server);
            let mut read = pin!(server.read(&mut buf));
            match poll_once(read.as_mut()) {
                Poll::Ready(n) => assert_eq!(n?, 2),
                Poll::Pending => panic!("the read waited for a report of data already there"),
            }
            assert_eq!(&buf[..2], b"de");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn tcp_halves_have_attempts_and_readiness_waits() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (client, mut server) = tcp_pair().await?;
            let (cr, cw) = client.into_split();
            cw.writable().await?;
            assert_eq!(cw.try_write(b"owned")?, 5);
            assert_eq!(cw.try_write_vectored(&[IoSlice::new(b"!")])?, 1);
            {
                let (r, w) = TcpStream::split(&mut server);
                let got = read_by_attempts(|| r.readable(), |b| r.try_read(b), 6).await?;
                assert_eq!(got, b"owned!");
                assert!(would_block(r.try_read(&mut [0; 4])));
                w.writable().await?;
                assert_eq!(w.try_write(b"back")?, 4);
                assert_eq!(w.try_write_vectored(&[IoSlice::new(b"?")])?, 1);
            }
            let got = read_by_attempts(|| cr.readable(), |b| cr.try_read(b), 5).await?;
            assert_eq!(got, b"back?");
            {
                let (r, w) = TcpStream::split(&mut server);
                assert_eq!(r.local_addr()?, w.local_addr()?);
                assert_eq!(r.peer_addr()?, cw.local_addr()?);
                cw.try_write(b"p")?;
                let mut peeked = [0; 1];
                assert_eq!(r.peek(&mut peeked).await?, 1);
                assert_eq!(
                    r.try_read(&mut [0; 1])?,
                    1,
                    "the peeked byte is still there"
                );
            }
            let mut one = [0; 1];
            assert!(would_block(
                cr.try_read_vectored(&mut [IoSliceMut::new(&mut one)])
            ));
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn tcp_zero_linger_resets_the_connection_on_drop() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (mut client, server) = tcp_pair().await?;
            assert_eq!(server.linger()?, None);
            server.set_zero_linger()?;
            assert_eq!(server.linger()?, Some(Duration::ZERO));
            server.try_write(b"unread")?;
            drop(server);
            let mut buf = [0; 16];
            // The reset may overtake the data: what is read before the error is the data.
            let mut got = Vec::new();
            let err = loop {
                match client.read(&mut buf).await {
                    Ok(0) => panic!("an orderly close, not a reset"),
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) => break e,
                }
            };
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
            assert!(b"unread".starts_with(&got));
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn unix_stream_attempts_and_halves() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixStream::pair()?;
            let mut buf = [0; 16];
            assert!(would_block(b.try_read(&mut buf)));
            assert_eq!(a.try_write(b"unix")?, 4);
            assert_eq!(
                a.try_write_vectored(&[IoSlice::new(b"-"), IoSlice::new(b"v")])?,
                2
            );
            let got = read_by_attempts(|| b.readable(), |x| b.try_read(x), 6).await?;
            assert_eq!(got, b"unix-v");

            let (br, bw) = b.into_split();
            bw.writable().await?;
            assert_eq!(bw.try_write(b"half")?, 4);
            assert_eq!(bw.try_write_vectored(&[IoSlice::new(b"s")])?, 1);
            let got = read_by_attempts(|| a.readable(), |x| a.try_read(x), 5).await?;
            assert_eq!(got, b"halfs");
            a.try_write(b"z")?;
            let got = read_by_attempts(|| br.readable(), |x| br.try_read(x), 1).await?;
            assert_eq!(got, b"z");
            let mut one = [0; 1];
            assert!(would_block(
                br.try_read_vectored(&mut [IoSliceMut::new(&mut one)])
            ));

            a.shutdown(Shutdown::Write)?;
            wait_level_readable(br.as_ref());
            assert_eq!(br.try_read(&mut buf)?, 0, "end of stream");
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn unix_halves_reunite_with_the_write_side_open_and_refuse_strangers() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let path = std::env::temp_dir().join(format!(
                "ciranda-try-io-reunite-{}.sock",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            let listener = UnixListener::bind(&path)?;
            let a = UnixStream::connect(&path).await?;
            let (mut peer, _) = listener.accept().await?;
            let (other, _other_peer) = UnixStream::pair()?;

            let (r, w) = a.into_split();
            assert_eq!(r.peer_addr()?.as_pathname(), Some(path.as_path()));
            assert!(w.local_addr()?.is_unnamed());
            let (other_r, other_w) = other.into_split();
            let err = r.reunite(other_w).unwrap_err();
            assert!(err.to_string().contains("not from the same UnixStream"));
            // The halves come back and belong where they did.
            let ReuniteError(r, other_w) = err;
            let mut a = r.reunite(w).expect("halves of the same stream");
            drop((other_r, other_w));
            // Reuniting did not shut the write side down: the peer reads data, not EOF.
            a.write_all(b"whole").await?;
            let mut got = [0; 5];
            peer.read_exact(&mut got).await?;
            assert_eq!(&got, b"whole");
            peer.write_all(b"back").await?;
            let mut back = [0; 4];
            a.read_exact(&mut back).await?;
            assert_eq!(&back, b"back");
            // Reunited from the write half's side; then a write half forgotten leaves the
            // write side open until the stream itself goes.
            let (r, w) = a.into_split();
            let a = w.reunite(r).expect("halves of the same stream");
            let (r, w) = a.into_split();
            w.forget();
            peer.write_all(b"?").await?;
            let mut one = [0; 1];
            let got = read_by_attempts(|| r.readable(), |x| r.try_read(x), 1).await?;
            assert_eq!(got, b"?");
            {
                let mut eof = pin!(peer.read(&mut one));
                assert!(poll_once(eof.as_mut()).is_pending(), "no end of stream yet");
            }
            drop(r);
            let mut rest = Vec::new();
            peer.read_to_end(&mut rest).await?;
            assert!(rest.is_empty());
            let _ = std::fs::remove_file(&path);
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn udp_attempts_send_receive_and_peek() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await?;
            let b = UdpSocket::bind("127.0.0.1:0").await?;
            let mut buf = [0; 32];
            assert!(would_block(b.try_recv_from(&mut buf)));
            assert!(would_block(b.try_peek_from(&mut buf)));
            assert!(would_block(b.try_peek_sender()));

            assert_eq!(a.try_send_to(b"first", b.local_addr()?)?, 5);
            b.readable().await?;
            wait_level_readable(&b);
            assert_eq!(b.try_peek_sender()?, a.local_addr()?);
            assert_eq!(b.try_peek_from(&mut buf)?, (5, a.local_addr()?));
            assert_eq!(b.try_recv_from(&mut buf)?, (5, a.local_addr()?));
            assert_eq!(&buf[..5], b"first");
            assert!(would_block(b.try_recv_from(&mut buf)));

            a.connect(b.local_addr()?).await?;
            b.connect(a.local_addr()?).await?;
            assert!(would_block(b.try_recv(&mut buf)));
            assert!(would_block(b.try_peek(&mut buf)));
            assert_eq!(a.try_send(b"second")?, 6);
            wait_level_readable(&b);
            assert_eq!(b.try_peek(&mut buf)?, 6);
            assert_eq!(b.try_recv(&mut buf)?, 6);
            assert_eq!(&buf[..6], b"second");
            // An unconnected socket has no peer to send to.
            let lone = UdpSocket::bind("127.0.0.1:0").await?;
            #[cfg(target_os = "linux")]
            assert_eq!(
                lone.try_send(b"x").unwrap_err().raw_os_error(),
                Some(libc::EDESTADDRREQ)
            );
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn unix_datagram_attempts_until_the_peer_queue_is_full() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixDatagram::pair()?;
            let mut buf = [0; 64];
            assert!(would_block(b.try_recv(&mut buf)));
            assert!(would_block(b.try_recv_from(&mut buf)));
            let mut sent = 0;
            loop {
                match a.try_send(b"datagram") {
                    Ok(n) => {
                        assert_eq!(n, 8);
                        sent += 1;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            assert!(sent > 0);
            {
                let mut wait = pin!(a.writable());
                assert!(poll_once(wait.as_mut()).is_pending(), "the queue is full");
            }
            for _ in 0..sent {
                assert_eq!(b.try_recv(&mut buf)?, 8);
            }
            assert!(would_block(b.try_recv(&mut buf)));

            let path = std::env::temp_dir()
                .join(format!("ciranda-try-io-dgram-{}.sock", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let bound = UnixDatagram::bind(&path)?;
            let sender = UnixDatagram::unbound()?;
            assert_eq!(sender.try_send_to(b"to path", &path)?, 7);
            let (n, from) = bound.try_recv_from(&mut buf)?;
            assert_eq!(&buf[..n], b"to path");
            assert!(from.is_unnamed());
            let _ = std::fs::remove_file(&path);
            assert_eq!(
                sender.try_send_to(b"gone", &path).unwrap_err().kind(),
                ErrorKind::NotFound
            );
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// A waker that counts its wakes.
#[derive(Default)]
struct Counter(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Counter {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn ready_reports_what_the_level_says_and_waits_for_the_rest() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (client, server) = tcp_pair().await?;
            let both = Interest::READABLE | Interest::WRITABLE;
            // Room to write, nothing to read.
            let ready = server.ready(both).await?;
            assert!(ready.is_writable() && !ready.is_readable() && !ready.is_error());
            {
                let mut wait = pin!(server.ready(Interest::READABLE));
                assert!(poll_once(wait.as_mut()).is_pending());
            }
            // Woken by the report of data that arrives while it waits (on both directions'
            // interest: a read-only wait and a wait that includes writing, after filling the
            // buffer so that only reading can wake it).
            let (ready, ()) = futures_util::future::join(server.ready(Interest::READABLE), async {
                ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
                client.try_write(b"data").unwrap();
            })
            .await;
            assert!(ready?.is_readable());
            let mut buf = [0; 16];
            assert_eq!(server.try_read(&mut buf)?, 4);

            let chunk = vec![0u8; 64 * 1024];
            while server.try_write(&chunk).is_ok() {}
            let (ready, ()) = futures_util::future::join(server.ready(both), async {
                ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
                client.try_write(b"more").unwrap();
            })
            .await;
            let ready = ready?;
            assert!(ready.is_readable() && !ready.is_writable(), "{ready:?}");

            // The peer's end of the stream: read-closed (Linux reports the half-close).
            client.shutdown(Shutdown::Write)?;
            let ready = server.ready(Interest::READABLE).await?;
            assert!(ready.is_readable());
            #[cfg(any(target_os = "linux", target_os = "android"))]
            assert!(ready.is_read_closed(), "{ready:?}");
            assert!(!Ready::EMPTY.satisfies(Interest::READABLE));
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn a_dropped_ready_wait_leaves_no_waker_behind() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (a, b) = UnixStream::pair()?;
            let counter = std::sync::Arc::new(Counter::default());
            let waker = Waker::from(counter.clone());
            {
                let mut wait = pin!(b.ready(Interest::READABLE));
                assert!(
                    wait.as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending()
                );
            }
            a.try_write(b"x")?;
            // Turns the reactor until the report is delivered.
            b.readable().await?;
            ciranda_reactor::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
            io::Result::Ok(())
        })
        .unwrap();
    });
}

/// `recv(2)` on `fd`, as a user's own operation.
fn raw_recv(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of its length for the call's duration; the descriptor
    // is open (borrowed).
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[test]
fn try_io_passes_the_result_through_and_voids_the_drained_mark() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let (_client, server) = tcp_pair().await?;
            let mut buf = [0; 100];
            let err = server
                .try_io(Interest::READABLE, || raw_recv(&server, &mut buf))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::WouldBlock);
            io::Result::Ok(())
        })
        .unwrap();
    });
    attempt_sees_data_behind_the_mark_and_voids_it(|server, buf| {
        server.try_io(Interest::READABLE, || raw_recv(server, buf))
    });
}

#[test]
fn async_io_waits_and_retries_a_users_operation() {
    with_watchdog(Duration::from_secs(30), || {
        block_on(async {
            let a = UdpSocket::bind("127.0.0.1:0").await?;
            let b = UdpSocket::bind("127.0.0.1:0").await?;
            let mut buf = [0; 16];
            let attempts = std::cell::Cell::new(0);
            let (got, ()) = futures_util::future::join(
                b.async_io(Interest::READABLE, || {
                    attempts.set(attempts.get() + 1);
                    raw_recv(&b, &mut buf)
                }),
                async {
                    ciranda_reactor::time::sleep(Duration::from_millis(20)).await;
                    a.try_send_to(b"dgram", b.local_addr().unwrap()).unwrap();
                },
            )
            .await;
            assert_eq!(got?, 5);
            assert_eq!(&buf[..5], b"dgram");
            // Not run before the socket was ready (once found readable, then at most a
            // spurious round).
            assert!((1..=2).contains(&attempts.get()), "{}", attempts.get());
            io::Result::Ok(())
        })
        .unwrap();
    });
}
