//! Cancelled I/O waits leave no waker behind (issue 15, item 4).
//!
//! Before the fix every distinct waker that waited on a source stayed in its registration
//! until the next readiness event: on an idle connection, waits that were dropped (a
//! `timeout` around a read, a `select` that took another branch) piled up without bound,
//! each pinning its task. Now a dropped wait of ours (`readable()`, `peek`, `accept`,
//! `recv_from`, `read_with`, the timer of a `timeout`) removes exactly its own entry, and the
//! `poll_*` methods (`AsyncRead`, which has no future to drop) keep only the latest waker per
//! direction, as futures-io specifies.
//!
//! Each wait is polled once with a waker of its own (an `Arc` whose live instances are
//! counted and which carries 512 bytes, like a small task) and then dropped. Alone in its
//! file: it measures the process's RSS.

use ciranda::Runtime;
use ciranda::io::{Async, AsyncReadExt};
use ciranda::net::{TcpListener, TcpStream, UdpSocket};
use ciranda::time::timeout;
use std::future::Future;
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

const WAITS: usize = 100_000;

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// A waker standing for a task: counted while alive, with a task-sized payload.
struct Counted([u8; 512]);

impl Wake for Counted {
    fn wake(self: Arc<Self>) {}
}

impl Drop for Counted {
    fn drop(&mut self) {
        assert_eq!(self.0[511], 1);
        LIVE.fetch_sub(1, SeqCst);
    }
}

fn counted_waker() -> Waker {
    LIVE.fetch_add(1, SeqCst);
    Waker::from(Arc::new(Counted([1; 512])))
}

/// Polls `f` once with a fresh counted waker (it must wait), then drops both.
fn wait_once_then_drop<F: Future>(what: &str, f: F) {
    let waker = counted_waker();
    let mut f = pin!(f);
    assert!(
        f.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending(),
        "{what}: the socket is idle, the wait must be pending"
    );
}

fn rss_after_trim() -> usize {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

#[test]
fn a_hundred_thousand_dropped_waits_on_idle_sockets_leave_no_waker_and_no_memory() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let (listener, stream, _peer, udp) = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (listener, stream, peer, udp)
    });
    let _entered = rt.enter();
    let (unix, _unix_peer) = UnixStream::pair().unwrap();
    let unix = Async::new(unix).unwrap();

    let mut buf = [0u8; 16];
    let mut one_round = |i: usize| match i % 7 {
        0 => wait_once_then_drop("readable", stream.readable()),
        1 => wait_once_then_drop("peek", stream.peek(&mut buf)),
        2 => wait_once_then_drop(
            "timeout(read)",
            timeout(Duration::from_secs(3600), stream.readable()),
        ),
        3 => wait_once_then_drop("accept", listener.accept()),
        4 => wait_once_then_drop("recv_from", udp.recv_from(&mut buf)),
        5 => wait_once_then_drop(
            "read_with",
            unix.read_with(|mut s| std::io::Read::read(&mut s, &mut [0u8; 4])),
        ),
        _ => wait_once_then_drop("readable (unix)", unix.readable()),
    };
    // Warm-up of the same shape, so that buffers that legitimately stay are in the baseline.
    for i in 0..1_000 {
        one_round(i);
    }
    assert_eq!(LIVE.load(SeqCst), 0, "after the warm-up");
    let before = rss_after_trim();
    for i in 0..WAITS {
        one_round(i);
    }
    assert_eq!(
        LIVE.load(SeqCst),
        0,
        "every dropped wait must withdraw its waker"
    );
    let after = rss_after_trim();
    // Before the fix: 100 000 wakers of ~530 bytes pinned (plus the lists), > 50 MB.
    assert!(
        after < before + 16 * 1024 * 1024,
        "RSS grew from {before} to {after} bytes"
    );

    // `AsyncRead` keeps the latest waker only: one stays, whatever the number of polls.
    for _ in 0..WAITS {
        wait_once_then_drop("AsyncRead::read", (&stream).read(&mut buf));
    }
    assert_eq!(
        LIVE.load(SeqCst),
        1,
        "only the latest poll_read waker is kept"
    );
    drop(stream);
    assert_eq!(LIVE.load(SeqCst), 0, "dropping the socket releases it");
}
