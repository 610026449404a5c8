//! Network faults: a peer that resets the connection in the middle of a write (while the
//! writer streams, and while it waits on a full socket buffer) or of a read gives an `Err`,
//! never a panic or a hang; a slow reader applies backpressure — the writer waits, ciranda
//! buffers nothing of its own and memory stays bounded; the same holds for a bounded channel.

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::{sleep, timeout};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::Poll;
use std::time::Duration;

const MB: usize = 1 << 20;

fn rt() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

/// Makes the next close send RST (SO_LINGER 0).
fn reset_on_close(fd: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a properly sized option value.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0);
}

async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

fn is_reset(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

#[test]
fn peer_reset_while_the_writer_streams_is_an_error() {
    let rt = rt();
    rt.block_on(async {
        for _ in 0..20 {
            let (mut writer, reader) = pair().await;
            let sent = Arc::new(AtomicUsize::new(0));
            let s = sent.clone();
            let w = ciranda::spawn(async move {
                let chunk = vec![7u8; 64 * 1024];
                loop {
                    writer.write_all(&chunk).await?;
                    s.fetch_add(chunk.len(), SeqCst);
                }
                #[allow(unreachable_code)]
                std::io::Result::Ok(())
            });
            // Read a little from a plain blocking socket, then reset mid-stream.
            let mut std_reader = reader.into_std().unwrap();
            std_reader.set_nonblocking(false).unwrap();
            let read = ciranda::spawn_blocking(move || {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0;
                while total < 2 * MB {
                    total += std::io::Read::read(&mut std_reader, &mut buf).unwrap();
                }
                reset_on_close(std_reader.as_raw_fd());
                drop(std_reader);
                total
            })
            .await
            .unwrap();
            assert!(read >= 2 * MB);
            let err = timeout(Duration::from_secs(10), w)
                .await
                .expect("the writer noticed the reset")
                .unwrap()
                .unwrap_err();
            assert!(is_reset(err.kind()), "{err:?}");
        }
    });
}

#[test]
fn peer_reset_while_the_writer_waits_on_a_full_buffer_wakes_it_with_an_error() {
    let rt = rt();
    rt.block_on(async {
        let (mut writer, reader) = pair().await;
        let pendings = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicUsize::new(0));
        let (p, s) = (pendings.clone(), sent.clone());
        let w = ciranda::spawn(async move {
            let chunk = vec![1u8; 64 * 1024];
            loop {
                let n = std::future::poll_fn(|cx| {
                    let r = Pin::new(&mut writer).poll_write(cx, &chunk);
                    if r.is_pending() {
                        p.fetch_add(1, SeqCst);
                    }
                    r
                })
                .await?;
                s.fetch_add(n, SeqCst);
            }
            #[allow(unreachable_code)]
            std::io::Result::Ok(())
        });
        // Nobody reads: the writer fills the socket buffers and comes to a stop, waiting in
        // `poll_write` (no progress for 200 ms).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut last = usize::MAX;
        loop {
            sleep(Duration::from_millis(200)).await;
            let now = sent.load(SeqCst);
            if now == last && pendings.load(SeqCst) >= 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never stopped"
            );
            last = now;
        }
        assert!(!w.is_finished());
        // Reset while it waits.
        reset_on_close(reader.as_raw_fd());
        drop(reader);
        let err = timeout(Duration::from_secs(10), w)
            .await
            .expect("the waiting writer was woken by the reset")
            .unwrap()
            .unwrap_err();
        assert!(is_reset(err.kind()), "{err:?}");
    });
}

#[test]
fn peer_reset_while_a_reader_waits_is_an_error() {
    let rt = rt();
    rt.block_on(async {
        for _ in 0..20 {
            let (mut reader, writer) = pair().await;
            let r = ciranda::spawn(async move {
                let mut buf = [0u8; 16];
                let n = reader.read(&mut buf).await?;
                assert_eq!(&buf[..n], b"some");
                reader.read(&mut buf).await
            });
            let mut writer = writer;
            writer.write_all(b"some").await.unwrap();
            sleep(Duration::from_millis(2)).await;
            reset_on_close(writer.as_raw_fd());
            drop(writer);
            let res = timeout(Duration::from_secs(10), r)
                .await
                .expect("the reader was woken")
                .unwrap();
            match res {
                Err(e) => assert!(is_reset(e.kind()), "{e:?}"),
                Ok(n) => assert_eq!(n, 0, "a reset reads as an error or end of stream"),
            }
        }
    });
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// The most a loopback connection can hold in kernel buffers (send + receive, autotuned).
fn kernel_buffer_bound() -> usize {
    let max_of = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.split_whitespace().nth(2)?.parse::<usize>().ok())
            .unwrap_or(8 * MB)
    };
    max_of("/proc/sys/net/ipv4/tcp_wmem") + max_of("/proc/sys/net/ipv4/tcp_rmem")
}

#[test]
fn a_slow_reader_makes_the_writer_wait_and_memory_stays_bounded() {
    const TOTAL: usize = 64 * MB;
    let rt = rt();
    rt.block_on(async {
        let (mut writer, mut reader) = pair().await;
        let sent = Arc::new(AtomicUsize::new(0));
        let pendings = Arc::new(AtomicUsize::new(0));
        let (s, p) = (sent.clone(), pendings.clone());
        let w = ciranda::spawn(async move {
            // Byte `i` of the stream is `i % 251`.
            let pattern: Vec<u8> = (0..64 * 1024 + 251).map(|i| (i % 251) as u8).collect();
            let mut off = 0usize;
            while off < TOTAL {
                let len = (64 * 1024).min(TOTAL - off);
                let chunk = &pattern[off % 251..off % 251 + len];
                let mut done = 0;
                while done < len {
                    let n = std::future::poll_fn(|cx| {
                        let r = Pin::new(&mut writer).poll_write(cx, &chunk[done..len]);
                        if r.is_pending() {
                            p.fetch_add(1, SeqCst);
                        }
                        r
                    })
                    .await
                    .unwrap();
                    done += n;
                    s.fetch_add(n, SeqCst);
                }
                off += len;
            }
            writer.close().await.unwrap();
        });
        let rss_start = rss();
        let bound = kernel_buffer_bound() + 64 * 1024;
        // Phase 1: the reader reads nothing; the writer must come to a stop (waiting in
        // `poll_write`), not buffer in userspace: no progress for 200 ms while it waits.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut last = usize::MAX;
        let stalled = loop {
            sleep(Duration::from_millis(200)).await;
            let now = sent.load(SeqCst);
            if now == last && pendings.load(SeqCst) >= 1 {
                break now;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never stopped: {now} bytes accepted with no reader"
            );
            last = now;
        };
        assert!(stalled < TOTAL);
        assert!(
            stalled <= bound,
            "{stalled} bytes accepted, more than kernel buffers"
        );
        // Phase 2: read slowly, checking that the writer never runs ahead of the reader by
        // more than what the kernel holds, and that the data arrive intact.
        let mut buf = vec![0u8; 256 * 1024];
        let mut received = 0usize;
        let mut reads = 0u32;
        let mut peak_rss = rss();
        loop {
            let n = reader.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(
                    *b,
                    ((received + i) % 251) as u8,
                    "corrupted at {}",
                    received + i
                );
            }
            received += n;
            let ahead = sent.load(SeqCst).saturating_sub(received);
            assert!(ahead <= bound, "writer {ahead} bytes ahead of the reader");
            reads += 1;
            if reads % 64 == 0 {
                // Be slow now and then.
                sleep(Duration::from_millis(2)).await;
                peak_rss = peak_rss.max(rss());
            }
        }
        assert_eq!(received, TOTAL);
        w.await.unwrap();
        let growth = peak_rss.saturating_sub(rss_start);
        eprintln!(
            "slow reader: stalled at {stalled} bytes, {} waits, RSS growth {} KB",
            pendings.load(SeqCst),
            growth / 1024
        );
        assert!(growth < 32 * MB, "memory grew by {} MB", growth / MB);
    });
}

#[test]
fn a_slow_consumer_of_a_bounded_channel_makes_producers_wait() {
    use ciranda::sync::mpsc;
    let rt = rt();
    rt.block_on(async {
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(8);
        let sent = Arc::new(AtomicUsize::new(0));
        let producers: Vec<_> = (0..4)
            .map(|_| {
                let (tx, sent) = (tx.clone(), sent.clone());
                ciranda::spawn(async move {
                    for _ in 0..1000 {
                        tx.send(vec![0u8; 16 * 1024]).await.unwrap();
                        sent.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        drop(tx);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while sent.load(SeqCst) < 8 {
            assert!(
                std::time::Instant::now() < deadline,
                "the channel never filled"
            );
            sleep(Duration::from_millis(5)).await;
        }
        sleep(Duration::from_millis(100)).await;
        // Nobody received yet: at most `cap` messages went in; the producers wait.
        assert_eq!(sent.load(SeqCst), 8);
        let mut received = 0;
        while let Some(m) = rx.recv().await {
            assert_eq!(m.len(), 16 * 1024);
            received += 1;
            assert!(
                sent.load(SeqCst) <= received + 8 + 4,
                "channel over capacity"
            );
            if received % 100 == 0 {
                sleep(Duration::from_millis(1)).await;
            }
        }
        assert_eq!(received, 4000);
        for p in producers {
            p.await.unwrap();
        }
    });
}

/// An `AsyncWrite` that never takes anything; used to check that `timeout` gets a stuck
/// writer out (a slow or dead peer must never hang the caller who set a deadline).
struct Stuck;
impl AsyncWrite for Stuck {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        _: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Pending
    }
    fn poll_flush(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn deadlines_get_callers_out_of_a_dead_peer() {
    let rt = rt();
    rt.block_on(async {
        // A peer that never reads: write_all with a deadline.
        let (mut writer, _silent) = pair().await;
        let big = vec![0u8; 64 * MB];
        let r = timeout(Duration::from_millis(200), writer.write_all(&big)).await;
        assert!(r.is_err(), "the deadline fired");
        // A peer that never writes: read with a deadline.
        let (mut reader, silent2) = pair().await;
        let mut buf = [0u8; 1];
        assert!(
            timeout(Duration::from_millis(50), reader.read(&mut buf))
                .await
                .is_err()
        );
        let mut stuck = Stuck;
        assert!(
            timeout(Duration::from_millis(20), stuck.write_all(b"x"))
                .await
                .is_err()
        );
        // The reader is still usable afterwards: the timed-out read lost nothing.
        let mut peer = silent2;
        peer.write_all(b"z").await.unwrap();
        reader.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"z");
        drop(writer);
    });
}
