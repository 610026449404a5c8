#![cfg(not(loom))]
//! The short-transfer rule and the `TCP_INQ` hint under concurrency: each stream is split,
//! its read half and write half driven by different tasks on a two-worker runtime, and every
//! read asks for exactly one frame (so reads fill their buffer, which switches the hint on,
//! and then skip the system call whenever the kernel said nothing was left). A read that
//! waits for a report that never comes hangs the test (watchdog); a transfer that loses or
//! reorders bytes fails its comparison.

#[path = "support/frames.rs"]
mod frames;
#[path = "support/watchdog.rs"]
mod watchdog;

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use frames::{FRAME, frame, write_frames};
use std::io::{ErrorKind, IoSlice};
use std::time::Duration;
use watchdog::with_watchdog;

fn runtime() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

/// The server side of one connection: the read half reads whole frames (peeking at some
/// first) and hands them to a task that writes them back on the write half; at EOF the
/// writer's drop shuts the write side down.
async fn echo_split(stream: TcpStream) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = ciranda::sync::mpsc::unbounded_channel::<[u8; FRAME]>();
    let write = ciranda::spawn(async move {
        while let Some(f) = rx.recv().await {
            // Two buffers, one of them empty, and the frame cut in two: the gathered path.
            let (a, b) = f.split_at(FRAME / 3);
            let bufs = [IoSlice::new(a), IoSlice::new(&[]), IoSlice::new(b)];
            let mut sent = 0;
            while sent < FRAME {
                let n = if sent == 0 {
                    writer.write_vectored(&bufs).await.unwrap()
                } else {
                    writer.write(&f[sent..]).await.unwrap()
                };
                assert_ne!(n, 0);
                sent += n;
            }
        }
    });
    let mut i = 0usize;
    loop {
        if i % 5 == 0 {
            let mut peeked = [0u8; 1];
            // Zero at EOF, otherwise a byte the read below must still return.
            let _ = reader.peek(&mut peeked).await.unwrap();
        }
        let mut f = [0u8; FRAME];
        match reader.read_exact(&mut f).await {
            Ok(()) => tx.send(f).unwrap(),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("server read: {e}"),
        }
        i += 1;
    }
    drop(tx);
    write.await.unwrap();
}

/// One client: a task writes `frames` frames in bursts (then shuts the write side down), while
/// this one reads the echo frame by frame and then the server's EOF.
async fn client(c: usize, addr: std::net::SocketAddr, frames: usize) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, writer) = stream.into_split();
    let write = ciranda::spawn(write_frames(writer, c, frames));
    for i in 0..frames {
        let mut f = [0u8; FRAME];
        reader.read_exact(&mut f).await.unwrap();
        assert_eq!(f, frame(c, i), "connection {c}, frame {i}");
    }
    let mut rest = [0u8; FRAME];
    assert_eq!(
        reader.read(&mut rest).await.unwrap(),
        0,
        "EOF after the echo"
    );
    write.await.unwrap();
}

/// Eight connections, each split on both ends, echo 3 000 frames of 61 bytes.
#[test]
fn split_halves_on_two_workers_echo_every_frame_and_end_with_eof() {
    with_watchdog(Duration::from_secs(60), || {
        runtime().block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            const CONNECTIONS: usize = 8;
            let server = ciranda::spawn(async move {
                let mut conns = Vec::new();
                for _ in 0..CONNECTIONS {
                    let (s, _) = listener.accept().await.unwrap();
                    conns.push(ciranda::spawn(echo_split(s)));
                }
                for c in conns {
                    c.await.unwrap();
                }
            });
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|c| ciranda::spawn(client(c, addr, 3_000)))
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            server.await.unwrap();
        });
    });
}

/// The peer writes whole frames from a plain thread, pausing between bursts, then resets the
/// connection (zero linger). The reader, reading exact frames with the hint on, must get every
/// frame the peer wrote before the reset or an error, and never hang.
#[test]
fn exact_frame_reads_end_at_a_reset_without_hanging() {
    with_watchdog(Duration::from_secs(60), || {
        runtime().block_on(async {
            for round in 0..20 {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let frames = 200 + round * 7;
                let peer = std::thread::spawn(move || {
                    use std::io::Write;
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    for i in 0..frames {
                        s.write_all(&frame(round, i)).unwrap();
                        if i % 50 == 49 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    socket2::SockRef::from(&s)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                    drop(s);
                });
                let (mut s, _) = listener.accept().await.unwrap();
                let mut got = 0;
                loop {
                    let mut f = [0u8; FRAME];
                    match s.read_exact(&mut f).await {
                        Ok(()) => {
                            assert_eq!(f, frame(round, got), "round {round}, frame {got}");
                            got += 1;
                        }
                        Err(e) => {
                            assert!(
                                matches!(
                                    e.kind(),
                                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                                ),
                                "{e}"
                            );
                            break;
                        }
                    }
                }
                assert!(got <= frames);
                peer.join().unwrap();
            }
        });
    });
}

/// Urgent data (`MSG_OOB`) in the middle of the stream: a TCP read stops short at the urgent
/// mark with data still queued behind it, the one case where a short read does not mean the
/// queue is empty; the poller's urgent-data report must keep the reader from waiting on it.
/// The peer sends five bytes, an urgent byte and five more, then waits until the reader has
/// all ten before it sends anything else: a reader that waits for a report with data still
/// queued hangs. Reads of three bytes (full, so the receive-queue hint switches on) and of 64
/// (short).
#[test]
fn reads_around_urgent_data_get_every_inline_byte() {
    with_watchdog(Duration::from_secs(60), || {
        runtime().block_on(async {
            for (round, size) in (0..20).map(|r| (r, if r % 2 == 0 { 3 } else { 64 })) {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let (ack, acked) = std::sync::mpsc::channel::<()>();
                let peer = std::thread::spawn(move || {
                    use std::io::Write;
                    let s = std::net::TcpStream::connect(addr).unwrap();
                    s.set_nodelay(true).unwrap();
                    let sock = socket2::SockRef::from(&s);
                    for i in 0..20u8 {
                        (&s).write_all(&[b'a' + i; 5]).unwrap();
                        // Without SO_OOBINLINE the urgent byte leaves the stream.
                        sock.send_out_of_band(b"!").unwrap();
                        (&s).write_all(&[b'A' + i; 5]).unwrap();
                        if acked.recv().is_err() {
                            return; // the reader failed
                        }
                    }
                    s.shutdown(std::net::Shutdown::Write).unwrap();
                });
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = vec![0u8; size];
                for i in 0..20u8 {
                    let mut got: Vec<u8> = Vec::new();
                    while got.len() < 10 {
                        let n = s.read(&mut buf).await.unwrap();
                        assert_ne!(n, 0, "round {round}: EOF before the data");
                        // Linux keeps one urgent byte out of band; should an earlier one be
                        // overtaken, it is read inline.
                        got.extend(buf[..n].iter().copied().filter(|&b| b != b'!'));
                    }
                    let mut want = vec![b'a' + i; 5];
                    want.extend_from_slice(&[b'A' + i; 5]);
                    assert_eq!(got, want, "round {round}, reads of {size}");
                    ack.send(()).unwrap();
                }
                assert_eq!(s.read(&mut buf).await.unwrap(), 0);
                peer.join().unwrap();
            }
        });
    });
}

/// A read waiting after a short read (its direction marked drained) in one task, and the
/// stream's read side shut down by another: the kernel reports the shutdown as a hang-up, so
/// the waiting read returns EOF instead of sleeping until the peer sends something.
#[test]
fn a_read_waiting_after_a_short_read_ends_when_another_task_shuts_the_read_side() {
    with_watchdog(Duration::from_secs(60), || {
        runtime().block_on(async {
            for round in 0..50 {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let mut peer = TcpStream::connect(listener.local_addr().unwrap())
                    .await
                    .unwrap();
                let (s, _) = listener.accept().await.unwrap();
                let s = std::sync::Arc::new(s);
                peer.write_all(b"abc").await.unwrap();
                let reader = {
                    let s = s.clone();
                    ciranda::spawn(async move {
                        let mut buf = [0u8; 64];
                        // Short: the read direction is drained from here on.
                        assert_eq!((&*s).read(&mut buf).await.unwrap(), 3);
                        (&*s).read(&mut buf).await.unwrap()
                    })
                };
                // Let the reader reach its second wait (most rounds), or not (some).
                for _ in 0..round % 4 {
                    ciranda::task::yield_now().await;
                }
                s.shutdown(std::net::Shutdown::Read).unwrap();
                assert_eq!(reader.await.unwrap(), 0, "round {round}");
                drop(peer);
            }
        });
    });
}

/// A vectored read into more buffers than one `readv`/`recvmsg` takes (`IOV_MAX`, 1 024)
/// fills only the first 1 024, so its being shorter than all the buffers proves nothing: the
/// next read must ask the kernel for the rest, not wait for a report. The peer sends 1 500
/// bytes and then nothing until the reader has them all. Each round first reads a 4-byte
/// message exactly (a full read), so that in most rounds the failed read that follows
/// switches the receive-queue hint on.
#[test]
fn a_vectored_read_into_more_buffers_than_iov_max_is_not_taken_as_short() {
    with_watchdog(Duration::from_secs(60), || {
        runtime().block_on(async {
            for round in 0..20 {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let (ack, acked) = std::sync::mpsc::channel::<()>();
                let peer = std::thread::spawn(move || {
                    use std::io::Write;
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    s.write_all(b"ping").unwrap();
                    acked.recv().unwrap();
                    let data: Vec<u8> = (0..1_500u32).map(|i| (i % 251) as u8).collect();
                    s.write_all(&data).unwrap();
                    // Nothing more (no FIN either) until the reader has everything.
                    let _ = acked.recv();
                    data
                });
                let (mut s, _) = listener.accept().await.unwrap();
                let mut ping = [0u8; 4];
                s.read_exact(&mut ping).await.unwrap();
                assert_eq!(&ping, b"ping");
                ack.send(()).unwrap();
                let mut got = Vec::new();
                while got.len() < 1_500 {
                    let mut storage = vec![[0u8; 1]; 2_000];
                    let mut bufs: Vec<std::io::IoSliceMut<'_>> = storage
                        .iter_mut()
                        .map(|b| std::io::IoSliceMut::new(b))
                        .collect();
                    let n = s.read_vectored(&mut bufs).await.unwrap();
                    assert_ne!(n, 0, "round {round}: EOF");
                    got.extend(storage[..n].iter().map(|b| b[0]));
                }
                ack.send(()).unwrap();
                assert_eq!(got, peer.join().unwrap(), "round {round}");
            }
        });
    });
}
