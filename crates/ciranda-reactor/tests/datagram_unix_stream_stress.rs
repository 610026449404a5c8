#![cfg(not(loom))]
//! Datagram sockets (UDP, `UnixDatagram`) and Unix streams against the short-read rule of
//! TCP (a short read drains the direction, so the next read waits for a report without asking
//! the kernel; `io::poll_transfer`). That rule must not reach these sockets:
//!
//! * a datagram read is short whenever the datagram is smaller than the buffer, with any
//!   number of datagrams still queued behind it;
//! * a Unix stream read stops at a boundary between two writers when the receiver passes
//!   credentials (`SO_PASSCRED`), with the second writer's bytes still queued.
//!
//! In both cases the data behind the short read arrived in the same report as the data
//! before it, so a reader that waited for another report would wait for good. The tests make
//! that happen on purpose (a current-thread runtime collects every arrival of one burst in
//! one report) and under concurrency (readers on one worker of two, writers on plain
//! threads), and check that every wait ends when the other side goes away. A hang fails the
//! test (watchdog).

#[path = "support/frames.rs"]
mod frames;
#[path = "support/watchdog.rs"]
mod watchdog;

use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{UdpSocket, UnixDatagram, UnixStream};
use ciranda::{Flavor, Runtime};
use frames::{FRAME, frame, write_frames};
use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::time::Duration;
use watchdog::with_watchdog;

/// A runtime whose only thread turns the reactor only when no task can run: every datagram
/// or byte sent during one poll is collected in one report.
fn current_thread() -> Runtime {
    Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap()
}

fn two_workers() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

fn sock_path(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ciranda-dus-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// The burst each round sends back to back: every datagram shorter than the reader's buffer,
/// one of them empty.
const BURST: [&[u8]; 4] = [b"first", b"", b"third", b"fourth, the last"];

/// A task that receives one burst on `$socket` (an `Arc`) with `$recv` (an expression of
/// `s`, the socket, and `buf`, a 64-byte buffer, giving `io::Result<usize>`): every receive is
/// short.
macro_rules! burst_reader {
    ($socket:expr, |$s:ident, $buf:ident| $recv:expr) => {{
        let socket = $socket;
        ciranda::spawn(async move {
            let $s = &*socket;
            let mut got = Vec::new();
            let mut storage = [0u8; 64];
            for _ in 0..BURST.len() {
                let $buf = &mut storage[..];
                let n: usize = $recv.unwrap();
                got.push(storage[..n].to_vec());
            }
            got
        })
    }};
}

/// The reader runs first and waits (its socket armed) until the whole burst is queued, all of
/// it while the runtime's only thread is busy here, so one report covers the burst; every
/// datagram must still arrive, in order.
async fn burst_round(reader: ciranda::task::JoinHandle<Vec<Vec<u8>>>, send_burst: impl FnOnce()) {
    ciranda::task::yield_now().await;
    assert!(!reader.is_finished(), "the reader waits before the burst");
    send_burst();
    assert_eq!(reader.await.unwrap(), BURST.map(|d| d.to_vec()).to_vec());
}

#[test]
fn udp_datagrams_reported_together_are_each_received_after_a_short_one() {
    with_watchdog(Duration::from_secs(20), || {
        current_thread().block_on(async {
            let rx = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            tx.connect(rx.local_addr().unwrap()).unwrap();
            rx.connect(tx.local_addr().unwrap()).await.unwrap();
            let send = || {
                for d in BURST {
                    tx.send(d).unwrap();
                }
            };
            for round in 0..9 {
                let reader = match round % 3 {
                    0 => burst_reader!(rx.clone(), |s, buf| s.recv(buf).await),
                    1 => burst_reader!(rx.clone(), |s, buf| s.recv_from(buf).await.map(|r| r.0)),
                    // A peek (short too), then the receive of the same datagram.
                    _ => burst_reader!(rx.clone(), |s, buf| {
                        let (peeked, _) = s.peek_from(buf).await.unwrap();
                        let n = s.recv(buf).await.unwrap();
                        assert_eq!(peeked, n, "the peek saw the datagram received");
                        io::Result::Ok(n)
                    }),
                };
                burst_round(reader, send).await;
            }
        });
    });
}

#[test]
fn unix_datagrams_reported_together_are_each_received_after_a_short_one() {
    with_watchdog(Duration::from_secs(20), || {
        current_thread().block_on(async {
            let (a, b) = UnixDatagram::pair().unwrap();
            let b = Arc::new(b);
            let send = || {
                for d in BURST {
                    a.try_send(d).unwrap();
                }
            };
            for round in 0..8 {
                let reader = if round % 2 == 0 {
                    burst_reader!(b.clone(), |s, buf| s.recv(buf).await)
                } else {
                    burst_reader!(b.clone(), |s, buf| s.recv_from(buf).await.map(|r| r.0))
                };
                burst_round(reader, send).await;
            }
        });
    });
}

/// Two datagrams sent back to back from a plain thread to a reader on a two-worker runtime,
/// which acknowledges both before the next pair goes: the pair arrives in one report or two,
/// whichever the race gives, and the reader must get the second after a short read of the
/// first.
#[test]
fn back_to_back_datagrams_reach_a_reader_on_another_thread() {
    with_watchdog(Duration::from_secs(30), || {
        two_workers().block_on(async {
            const PAIRS: usize = 300;
            // UDP.
            let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let to = rx.local_addr().unwrap();
            let (ack, acked) = std::sync::mpsc::channel::<()>();
            let sender = std::thread::spawn(move || {
                let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                for i in 0..PAIRS as u32 {
                    tx.send_to(&(2 * i).to_le_bytes(), to).unwrap();
                    tx.send_to(&(2 * i + 1).to_le_bytes(), to).unwrap();
                    if acked.recv().is_err() {
                        return;
                    }
                }
            });
            let reader = ciranda::spawn(async move {
                let mut buf = [0u8; 64];
                for i in 0..2 * PAIRS as u32 {
                    let (n, _) = rx.recv_from(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], &i.to_le_bytes(), "UDP datagram {i}");
                    if i % 2 == 1 {
                        ack.send(()).unwrap();
                    }
                }
            });
            reader.await.unwrap();
            sender.join().unwrap();

            // Unix datagrams.
            let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
            let b = UnixDatagram::from_std(b).unwrap();
            let (ack, acked) = std::sync::mpsc::channel::<()>();
            let sender = std::thread::spawn(move || {
                for i in 0..PAIRS as u32 {
                    a.send(&(2 * i).to_le_bytes()).unwrap();
                    a.send(&(2 * i + 1).to_le_bytes()).unwrap();
                    if acked.recv().is_err() {
                        return;
                    }
                }
            });
            let reader = ciranda::spawn(async move {
                let mut buf = [0u8; 64];
                for i in 0..2 * PAIRS as u32 {
                    let n = b.recv(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], &i.to_le_bytes(), "Unix datagram {i}");
                    if i % 2 == 1 {
                        ack.send(()).unwrap();
                    }
                }
            });
            reader.await.unwrap();
            sender.join().unwrap();
        });
    });
}

/// A Unix stream whose receiver passes credentials (`SO_PASSCRED`) never glues bytes of two
/// writers (two processes) into one read: the read of the first writer's bytes is short with
/// the second writer's queued behind it, both reported together. Every byte must arrive
/// without another report. (The second writer is `printf`, writing to the stream as its
/// standard output.)
#[cfg(target_os = "linux")]
#[test]
fn a_unix_stream_read_cut_at_a_writer_boundary_is_not_taken_as_drained() {
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};
    with_watchdog(Duration::from_secs(20), || {
        current_thread().block_on(async {
            for round in 0..3 {
                let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
                socket2::SockRef::from(&ours).set_passcred(true).unwrap();
                let ours = UnixStream::from_std(ours).unwrap();
                let reader = ciranda::spawn(async move {
                    let mut buf = [0u8; 64];
                    let mut reads: Vec<Vec<u8>> = Vec::new();
                    while reads.concat().len() < 4 {
                        let n = (&ours).read(&mut buf).await.unwrap();
                        assert_ne!(n, 0, "round {round}: EOF before the data");
                        reads.push(buf[..n].to_vec());
                    }
                    (reads, ours)
                });
                ciranda::task::yield_now().await;
                assert!(!reader.is_finished(), "the reader waits before the writes");
                // Both writes while the runtime's only thread is here: one report for both.
                std::io::Write::write_all(&mut &theirs, b"ab").unwrap();
                let second: OwnedFd = theirs.try_clone().unwrap().into();
                let status = Command::new("printf")
                    .arg("cd")
                    .stdout(Stdio::from(second))
                    .status()
                    .unwrap();
                assert!(status.success());
                let (reads, ours) = reader.await.unwrap();
                assert_eq!(
                    reads,
                    [b"ab".to_vec(), b"cd".to_vec()],
                    "round {round}: the kernel cuts the read at the writer boundary"
                );
                drop(theirs);
                let mut buf = [0u8; 8];
                assert_eq!((&ours).read(&mut buf).await.unwrap(), 0, "then EOF");
            }
        });
    });
}

/// The echo side: the read half reads whole frames and hands them to a task that writes them
/// back on the write half; at EOF the write half's drop shuts the write side down. The read
/// half is returned: the stream stays open, so the client's EOF can only come from that
/// shutdown.
async fn echo_split(stream: UnixStream) -> ciranda::net::unix::OwnedReadHalf {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = ciranda::sync::mpsc::unbounded_channel::<[u8; FRAME]>();
    let write = ciranda::spawn(async move {
        while let Some(f) = rx.recv().await {
            let (a, b) = f.split_at(FRAME / 3);
            let bufs = [io::IoSlice::new(a), io::IoSlice::new(b)];
            let mut sent = writer.write_vectored(&bufs).await.unwrap();
            while sent < FRAME {
                sent += writer.write(&f[sent..]).await.unwrap();
            }
        }
    });
    loop {
        let mut f = [0u8; FRAME];
        match reader.read_exact(&mut f).await {
            Ok(()) => tx.send(f).unwrap(),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("echo read: {e}"),
        }
    }
    drop(tx);
    write.await.unwrap();
    reader
}

/// One client: a task writes `frames` frames (then shuts the write side down) while this one
/// reads the echo frame by frame, with reads of one and a half frames (short at the end of
/// each burst), and then the EOF.
async fn client(c: usize, stream: UnixStream, frames: usize) {
    let (mut reader, writer) = stream.into_split();
    let write = ciranda::spawn(write_frames(writer, c, frames));
    let mut got = Vec::new();
    let mut buf = [0u8; FRAME + FRAME / 2];
    loop {
        let n = reader.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(
        got.len(),
        frames * FRAME,
        "connection {c}: every byte, then EOF"
    );
    for (i, f) in got.chunks(FRAME).enumerate() {
        assert_eq!(f, frame(c, i), "connection {c}, frame {i}");
    }
    write.await.unwrap();
}

/// The TCP split-halves echo (`split_echo_stress.rs`) on Unix streams: each end split, its
/// halves driven by different tasks on two workers.
#[test]
fn split_unix_stream_halves_on_two_workers_echo_every_frame_and_end_with_eof() {
    with_watchdog(Duration::from_secs(30), || {
        two_workers().block_on(async {
            const CONNECTIONS: usize = 4;
            let (mut echoes, mut clients) = (Vec::new(), Vec::new());
            for c in 0..CONNECTIONS {
                let (a, b) = UnixStream::pair().unwrap();
                echoes.push(ciranda::spawn(echo_split(a)));
                clients.push(ciranda::spawn(client(c, b, 1_500)));
            }
            for t in clients {
                t.await.unwrap();
            }
            for t in echoes {
                drop(t.await.unwrap());
            }
        });
    });
}

/// Sends on `sender` until the next send would block (the receiver's queue is full).
fn fill(sender: &UnixDatagram) {
    while sender.try_send(b"fill").is_ok() {}
}

/// Sends waiting for a full receiver end with an error when the receiver is dropped: a
/// connected `send` (woken by the kernel) and an unconnected `send_to` (pausing between
/// tries), each waiting in a task on another worker. And a Unix stream write waiting for
/// buffer space ends when the peer is dropped.
#[test]
fn waits_for_room_end_with_an_error_when_the_receiver_goes_away() {
    let path = sock_path("gone");
    let p = path.clone();
    with_watchdog(Duration::from_secs(30), move || {
        two_workers().block_on(async move {
            for unconnected in [false, true] {
                let receiver = UnixDatagram::bind(&p).unwrap();
                let sender = Arc::new(UnixDatagram::unbound().unwrap());
                sender.connect(&p).unwrap();
                fill(&sender);
                let waiting = {
                    let (sender, p) = (sender.clone(), p.clone());
                    ciranda::spawn(async move {
                        if unconnected {
                            // A second socket, not connected: the path of `send_to`'s pause.
                            let other = UnixDatagram::unbound().unwrap();
                            while other.try_send_to(b"fill", &p).is_ok() {}
                            other.send_to(b"last", &p).await
                        } else {
                            sender.send(b"last").await
                        }
                    })
                };
                ciranda::time::sleep(Duration::from_millis(20)).await;
                assert!(!waiting.is_finished(), "the send waits for room");
                drop(receiver);
                let err = waiting.await.unwrap().unwrap_err();
                assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
                std::fs::remove_file(&p).unwrap();
            }

            let (ours, peer) = UnixStream::pair().unwrap();
            let writer = ciranda::spawn(async move {
                let chunk = vec![7u8; 64 * 1024];
                loop {
                    if let Err(e) = (&ours).write(&chunk).await {
                        return e;
                    }
                }
            });
            ciranda::time::sleep(Duration::from_millis(20)).await;
            assert!(!writer.is_finished(), "the write waits for room");
            drop(peer);
            let err = writer.await.unwrap();
            assert!(
                matches!(
                    err.kind(),
                    ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
                ),
                "{err}"
            );
        });
    });
    let _ = std::fs::remove_file(&path);
}

/// Whether `socket` polls writable now (its level; the wait is dropped either way).
fn writable_now(socket: &UnixDatagram) -> bool {
    let wait = std::pin::pin!(socket.writable());
    std::future::Future::poll(
        wait,
        &mut std::task::Context::from_waker(std::task::Waker::noop()),
    )
    .is_ready()
}

/// A `send_to` (and a `poll_send_to`) to a full receiver this socket is not connected to,
/// while its datagrams queued at another receiver, which does not read, hold over a quarter
/// of its send buffer. The kernel then polls the socket not writable although it still has
/// room to send (up to the whole buffer), and nothing reports the full receiver's reads to
/// it. The send must complete once the full receiver reads; it used to take the socket's
/// level for a full buffer of its own and wait for a write report that only a read by the
/// other receiver would bring.
#[test]
fn a_send_to_a_full_receiver_completes_while_another_receiver_holds_the_senders_buffer() {
    let (slow_path, full_path) = (sock_path("slow"), sock_path("full"));
    let paths = (slow_path.clone(), full_path.clone());
    with_watchdog(Duration::from_secs(30), move || {
        current_thread().block_on(async move {
            let (slow_path, full_path) = paths;
            let _slow = UnixDatagram::bind(&slow_path).unwrap();
            let full = UnixDatagram::bind(&full_path).unwrap();
            let sender = Arc::new(UnixDatagram::unbound().unwrap());
            let big = vec![0u8; 16 * 1024];
            let mut parked = 0;
            while writable_now(&sender) {
                assert!(parked < 10, "the sender's buffer never passed a quarter");
                sender.try_send_to(&big, &slow_path).unwrap();
                parked += 1;
            }
            let filler = UnixDatagram::unbound().unwrap();
            for use_poll in [false, true] {
                let mut fills = 0;
                while filler.try_send_to(b"fill", &full_path).is_ok() {
                    fills += 1;
                }
                assert!(fills > 0);
                let send = {
                    let (sender, full_path) = (sender.clone(), full_path.clone());
                    ciranda::spawn(async move {
                        if use_poll {
                            std::future::poll_fn(|cx| sender.poll_send_to(cx, b"last", &full_path))
                                .await
                        } else {
                            sender.send_to(b"last", &full_path).await
                        }
                    })
                };
                ciranda::time::sleep(Duration::from_millis(20)).await;
                assert!(
                    !send.is_finished(),
                    "the send waits while the receiver is full"
                );
                let mut buf = [0u8; 16];
                for _ in 0..fills {
                    let n = full.recv(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], b"fill");
                }
                let sent = ciranda::time::timeout(Duration::from_secs(2), send)
                    .await
                    .unwrap_or_else(|_| {
                        panic!("poll: {use_poll}: the send never went after the receiver read")
                    });
                assert_eq!(sent.unwrap().unwrap(), 4);
                let n = full.recv(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"last");
            }
        });
    });
    let _ = std::fs::remove_file(&slow_path);
    let _ = std::fs::remove_file(&full_path);
}
