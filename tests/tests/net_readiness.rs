//! Readiness under the multi-threaded runtime after the reactor stopped asking the kernel
//! when it already knows the answer (issue 21): a TCP read shorter than its buffer ends the
//! reads until the poller reports again, the poller is epoll used directly, and a
//! notification with nobody in the poller is only a flag. Each workload must finish with
//! every byte and datagram accounted for; a lost wake-up turns into a timeout failure.

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream, UdpSocket};
use ciranda::time::timeout;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

fn runtime() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

/// Message sizes that hit every case of a 4 KiB read buffer: tiny, exactly the buffer,
/// one over, several buffers.
fn size(conn: usize, round: usize) -> usize {
    const SIZES: [usize; 7] = [1, 63, 64, 4095, 4096, 4097, 3 * 4096 + 5];
    SIZES[(conn * 7 + round) % SIZES.len()]
}

#[test]
fn echo_of_every_message_size_over_short_and_full_reads_loses_nothing() {
    const CONNS: usize = 16;
    const ROUNDS: usize = 300;
    let rt = runtime();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        ciranda::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                ciranda::spawn(async move {
                    // hyper's shape: a large buffer, whatever arrived is echoed at once.
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            return;
                        }
                        s.write_all(&buf[..n]).await.unwrap();
                    }
                });
            }
        });
        let clients: Vec<_> = (0..CONNS)
            .map(|conn| {
                ciranda::spawn(async move {
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    s.set_nodelay(true).unwrap();
                    let mut back = vec![0u8; 4 * 4096];
                    for round in 0..ROUNDS {
                        let n = size(conn, round);
                        let msg: Vec<u8> = (0..n).map(|i| (i + round + conn) as u8).collect();
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut back[..n]).await.unwrap();
                        assert_eq!(&back[..n], &msg[..], "conn {conn} round {round}");
                    }
                })
            })
            .collect();
        let all = async {
            for c in clients {
                c.await.unwrap();
            }
        };
        timeout(Duration::from_secs(60), all)
            .await
            .expect("an echo stalled: a read slept through its data");
    });
}

#[test]
fn eof_right_behind_the_last_short_read_is_seen() {
    // The peer writes a little and closes at once, so data and FIN often arrive in one
    // report: the read that takes the data is short, and the next must still find EOF.
    let rt = runtime();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for round in 0..200usize {
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.write_all(&vec![round as u8; 1 + round % 50]).unwrap();
            });
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            let read_all = async {
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
            };
            timeout(Duration::from_secs(10), read_all)
                .await
                .unwrap_or_else(|_| panic!("round {round}: EOF behind a short read never seen"));
            assert_eq!(got, vec![round as u8; 1 + round % 50]);
            writer.join().unwrap();
        }
    });
}

#[test]
fn full_reads_of_fixed_frames_then_eof_lose_nothing() {
    // `read_exact` of fixed-size frames fills its buffer each time, so after the first
    // `EAGAIN` the stream asks the kernel how much is left (`TCP_INQ`) and skips reads it
    // says would fail. Frames come one, two or three per write; the peer closes only once
    // every frame was read (so no FIN report rescues a read that slept through a frame),
    // then the EOF must be read too.
    const FRAME: usize = 64;
    let rt = runtime();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for round in 0..40usize {
            let frames = 50 + round;
            let (all_read, wait_all_read) = std::sync::mpsc::channel::<()>();
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                let mut c = std::net::TcpStream::connect(addr).unwrap();
                c.set_nodelay(true).unwrap();
                let mut sent = 0;
                while sent < frames {
                    let burst = (1 + (sent + round) % 3).min(frames - sent);
                    let bytes: Vec<u8> = (sent..sent + burst)
                        .flat_map(|f| [f as u8; FRAME])
                        .collect();
                    c.write_all(&bytes).unwrap();
                    sent += burst;
                    if sent % 7 == 0 {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
                let _ = wait_all_read.recv();
            });
            let (mut s, _) = listener.accept().await.unwrap();
            let read_all = async {
                let mut frame = [0u8; FRAME];
                for f in 0..frames {
                    s.read_exact(&mut frame).await.unwrap();
                    assert_eq!(frame, [f as u8; FRAME], "round {round} frame {f}");
                }
                all_read.send(()).unwrap();
                s.read(&mut frame).await.unwrap()
            };
            let tail = timeout(Duration::from_secs(10), read_all)
                .await
                .unwrap_or_else(|_| panic!("round {round}: a read slept through a frame or EOF"));
            assert_eq!(tail, 0, "round {round}: bytes after the last frame");
            writer.join().unwrap();
        }
    });
}

#[test]
fn many_tasks_reading_one_udp_socket_receive_every_datagram_once() {
    const READERS: usize = 8;
    const DATAGRAMS: usize = 4_000;
    let rt = runtime();
    rt.block_on(async {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let seen: Arc<Vec<AtomicUsize>> =
            Arc::new((0..DATAGRAMS).map(|_| AtomicUsize::new(0)).collect());
        let received = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (socket, seen, received) = (socket.clone(), seen.clone(), received.clone());
                ciranda::spawn(async move {
                    // Datagrams far shorter than the buffer: "short" reads that must not
                    // count as draining a datagram socket.
                    let mut buf = [0u8; 1500];
                    while received.load(SeqCst) < DATAGRAMS {
                        let n = match timeout(Duration::from_millis(200), socket.recv(&mut buf))
                            .await
                        {
                            Ok(r) => r.unwrap(),
                            Err(_) => continue, // the others took the rest
                        };
                        assert_eq!(n, 4);
                        let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
                        seen[i].fetch_add(1, SeqCst);
                        received.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        let sender = {
            let received = received.clone();
            std::thread::spawn(move || {
                let out = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                for i in 0..DATAGRAMS {
                    // At most 64 in flight: loopback drops what overflows the receive buffer,
                    // and a drop must not read as a lost wake-up.
                    while i >= received.load(SeqCst) + 64 {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    out.send_to(&(i as u32).to_le_bytes(), addr).unwrap();
                }
            })
        };
        let all = async {
            for r in readers {
                r.await.unwrap();
            }
        };
        timeout(Duration::from_secs(60), all)
            .await
            .expect("readers of one UDP socket stalled");
        sender.join().unwrap();
        for (i, n) in seen.iter().enumerate() {
            assert_eq!(
                n.load(SeqCst),
                1,
                "datagram {i} received {} times",
                n.load(SeqCst)
            );
        }
    });
}
