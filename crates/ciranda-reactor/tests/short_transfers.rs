#![cfg(not(loom))]
//! A TCP read shorter than its buffer (a write shorter than its data) drains the direction:
//! the next transfer waits without asking the kernel until the poller reports something new.
//! These tests drive the reactor turn by turn to pin down the orders in which that rule could
//! lose readiness: data, a FIN or a reset arriving before or after the short transfer, and
//! reports delivered before or after it.

use ciranda_reactor::net::{TcpListener, TcpStream};
use ciranda_reactor::{AutoAdvance, Reactor, block_on, time};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::future::Future;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A connected pair: ours registered with `reactor`, the peer a blocking std socket.
fn pair(reactor: &Reactor) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    let _entered = reactor.enter();
    (TcpStream::from_std(ours).unwrap(), peer)
}

fn poll_read(s: &mut TcpStream, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    Pin::new(s).poll_read(cx, buf)
}

/// Turns the reactor until `count` has been woken at least `at_least` times (loopback
/// delivery is almost always immediate; the bound only turns a lost wake-up into a failure).
fn turn_until_woken(reactor: &Reactor, count: &Count, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count.0.load(SeqCst) < at_least {
        assert!(
            Instant::now() < deadline,
            "no readiness report within 10 s: a wake-up was lost"
        );
        reactor.try_turn(Some(Duration::from_millis(10)), AutoAdvance::Never);
    }
}

/// A reactor and a waker that counts its wake-ups.
fn setup() -> (Reactor, Arc<Count>, Waker) {
    let reactor = Reactor::new().unwrap();
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (reactor, count, waker)
}

#[test]
fn a_fin_reported_before_a_short_read_is_still_read_as_eof() {
    let (reactor, count, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let (mut ours, mut peer) = pair(&reactor);
    let mut buf = [0u8; 64];
    // Arms the registration: nothing there yet.
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    peer.write_all(b"abc").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    // Let the poller report data and FIN (usually one report, IN|RDHUP) before we read.
    turn_until_woken(&reactor, &count, 1);
    std::thread::sleep(Duration::from_millis(20));
    reactor.try_turn(Some(Duration::ZERO), AutoAdvance::Never);
    let Poll::Ready(Ok(3)) = poll_read(&mut ours, &mut cx, &mut buf) else {
        panic!("the data first");
    };
    // A short read, but the FIN is behind it and no edge will come for it again: this read
    // must ask the kernel (before the fix it waited forever).
    match poll_read(&mut ours, &mut cx, &mut buf) {
        Poll::Ready(Ok(0)) => {}
        other => panic!("expected EOF after the short read, got {other:?}"),
    }
}

#[test]
fn a_fin_after_a_short_read_wakes_the_reader() {
    let (reactor, count, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let (mut ours, mut peer) = pair(&reactor);
    let mut buf = [0u8; 64];
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    peer.write_all(b"abc").unwrap();
    turn_until_woken(&reactor, &count, 1);
    let Poll::Ready(Ok(3)) = poll_read(&mut ours, &mut cx, &mut buf) else {
        panic!("the data first");
    };
    // Drained: the next read waits (without a system call).
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    peer.shutdown(Shutdown::Write).unwrap();
    turn_until_woken(&reactor, &count, 2);
    let Poll::Ready(Ok(0)) = poll_read(&mut ours, &mut cx, &mut buf) else {
        panic!("EOF after the FIN");
    };
}

#[test]
fn data_arriving_between_a_short_read_and_the_next_poll_is_read() {
    let (reactor, count, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let (mut ours, mut peer) = pair(&reactor);
    let mut buf = [0u8; 64];
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    for round in 1..=50u8 {
        peer.write_all(&[round; 10]).unwrap();
        // The report may or may not have been delivered before the read (nobody waits, so
        // it wakes nobody); both must work.
        if round % 2 == 0 {
            std::thread::sleep(Duration::from_millis(2));
            reactor.try_turn(Some(Duration::from_millis(5)), AutoAdvance::Never);
        }
        let mut got = 0;
        while got < 10 {
            match poll_read(&mut ours, &mut cx, &mut buf[got..]) {
                Poll::Ready(Ok(n)) => {
                    assert!(n > 0, "EOF in round {round}");
                    got += n;
                }
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => turn_until_woken(&reactor, &count, count.0.load(SeqCst) + 1),
            }
        }
        assert_eq!(&buf[..10], &[round; 10]);
    }
}

#[test]
fn a_peer_writing_exactly_the_buffer_size_never_stalls_the_reader() {
    let (reactor, _, _) = setup();
    let _entered = reactor.enter();
    let (mut ours, peer) = pair(&reactor);
    let writer = std::thread::spawn(move || {
        let mut peer = peer;
        for round in 0..200u32 {
            peer.write_all(&[round as u8; 64]).unwrap();
            let mut ack = [0u8; 1];
            peer.read_exact(&mut ack).unwrap();
        }
    });
    block_on(async {
        let mut buf = [0u8; 64];
        for round in 0..200u32 {
            let r = time::timeout(Duration::from_secs(10), ours.read_exact(&mut buf)).await;
            r.expect("a full-buffer message stalled the reader")
                .unwrap();
            assert_eq!(buf, [round as u8; 64]);
            ours.write_all(b"k").await.unwrap();
        }
    });
    writer.join().unwrap();
}

#[test]
fn a_reset_after_a_short_read_is_reported() {
    let (reactor, count, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let (mut ours, mut peer) = pair(&reactor);
    let mut buf = [0u8; 64];
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    peer.write_all(b"abc").unwrap();
    turn_until_woken(&reactor, &count, 1);
    let Poll::Ready(Ok(3)) = poll_read(&mut ours, &mut cx, &mut buf) else {
        panic!("the data first");
    };
    // Drained: waits without a system call.
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    // SO_LINGER 0: close sends RST.
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    turn_until_woken(&reactor, &count, 2);
    match poll_read(&mut ours, &mut cx, &mut buf) {
        Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected a reset, got {other:?}"),
    }
}

#[test]
fn short_writes_against_a_slow_reader_finish() {
    let (reactor, _, _) = setup();
    let _entered = reactor.enter();
    let (mut ours, peer) = pair(&reactor);
    const TOTAL: usize = 8 << 20;
    let reader = std::thread::spawn(move || {
        let mut peer = peer;
        let mut buf = vec![0u8; 100_000];
        let mut got = 0;
        while got < TOTAL {
            let n = peer.read(&mut buf).unwrap();
            assert!(n > 0, "early EOF");
            assert!(buf[..n].iter().all(|&b| b == 7));
            got += n;
            // Slow: the writer's buffer fills and its writes come back short.
            std::thread::sleep(Duration::from_micros(200));
        }
        got
    });
    block_on(async {
        let data = vec![7u8; 1 << 20];
        for _ in 0..TOTAL / data.len() {
            let r = time::timeout(Duration::from_secs(30), ours.write_all(&data)).await;
            r.expect("a writer stalled after a short write").unwrap();
        }
        ours.flush().await.unwrap();
    });
    assert_eq!(reader.join().unwrap(), TOTAL);
}

#[test]
fn small_vectored_writes_against_a_slow_reader_arrive_whole_and_in_order() {
    // Two small buffers per write (hyper's head and body) are gathered into one `send`;
    // against a reader that falls behind, those sends come back short and the writer waits
    // for writable edges, taking the rest from the front of the buffers as `writev` would.
    let (reactor, _, _) = setup();
    let _entered = reactor.enter();
    // Small socket buffers, so the reader's pauses fill them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    socket2::SockRef::from(&peer)
        .set_recv_buffer_size(16 << 10)
        .unwrap();
    let (ours, _) = listener.accept().unwrap();
    socket2::SockRef::from(&ours)
        .set_send_buffer_size(16 << 10)
        .unwrap();
    let mut ours = TcpStream::from_std(ours).unwrap();
    const MESSAGES: usize = 40_000;
    const HEAD: usize = 107;
    const BODY: usize = 13;
    let message = |i: usize| -> Vec<u8> {
        (0..HEAD + BODY)
            .map(|j| (i.wrapping_mul(31) + j) as u8)
            .collect()
    };
    let reader = std::thread::spawn(move || {
        let mut peer = peer;
        let mut got = vec![0u8; HEAD + BODY];
        for i in 0..MESSAGES {
            peer.read_exact(&mut got).unwrap();
            assert_eq!(got, message(i), "message {i}");
            if i % 1_000 == 0 {
                // Fall behind now and then: the send buffer fills and sends come back short.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).unwrap();
        rest.len()
    });
    block_on(async {
        let mut shorts = 0;
        for i in 0..MESSAGES {
            let whole = message(i);
            let mut at = 0;
            while at < whole.len() {
                // What is left of the head (empty once it is sent) and of the body.
                let (head, body) = whole[at..].split_at(HEAD.saturating_sub(at));
                let bufs = [io::IoSlice::new(head), io::IoSlice::new(body)];
                let write = futures_util::future::poll_fn(|cx| {
                    Pin::new(&mut ours).poll_write_vectored(cx, &bufs)
                });
                let n = time::timeout(Duration::from_secs(30), write)
                    .await
                    .expect("a writer stalled after a short write")
                    .unwrap();
                assert!(n > 0);
                shorts += usize::from(at + n < whole.len());
                at += n;
            }
        }
        ours.close().await.unwrap();
        assert!(
            shorts > 0,
            "the reader never fell behind far enough for a short write"
        );
    });
    assert_eq!(reader.join().unwrap(), 0, "bytes after the last message");
}

#[test]
fn a_read_moved_to_another_task_wakes_the_new_one() {
    let (reactor, count, waker) = setup();
    let _entered = reactor.enter();
    let (ours, mut peer) = pair(&reactor);
    let ours = Arc::new(ours);
    // Task A polls a read (short-drained state included) and is dropped from the picture;
    // task B (block_on) polls the same read future afterwards.
    let mut buf = [0u8; 64];
    let mut read = Box::pin(async {
        let mut s = &*ours;
        let mut got = 0;
        while got < 6 {
            let n = s.read(&mut buf[got..]).await.unwrap();
            assert!(n > 0);
            got += n;
        }
        got
    });
    assert!(
        read.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    peer.write_all(b"abc").unwrap();
    turn_until_woken(&reactor, &count, 1);
    // A reads the short "abc" and waits again.
    assert!(
        read.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        peer.write_all(b"def").unwrap();
        peer
    });
    let got = block_on(async { time::timeout(Duration::from_secs(10), read).await });
    assert_eq!(got.expect("the moved read was never woken"), 6);
    assert_eq!(&buf[..6], b"abcdef");
    drop(writer.join().unwrap());
}

#[test]
fn request_reply_with_large_buffers_completes() {
    // hyper's shape: each read asks for far more than a request, so every read is short.
    let reactor = Reactor::new().unwrap();
    let _entered = reactor.enter();
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = async {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut served = 0;
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return served;
                }
                s.write_all(&buf[..n]).await.unwrap();
                served += 1;
            }
        };
        let client = async {
            let mut c = TcpStream::connect(addr).await.unwrap();
            let mut buf = vec![0u8; 8192];
            for i in 0..2_000u32 {
                let msg = i.to_le_bytes();
                c.write_all(&msg).await.unwrap();
                c.read_exact(&mut buf[..4]).await.unwrap();
                assert_eq!(&buf[..4], &msg);
            }
            c.shutdown(Shutdown::Write).unwrap();
        };
        let (served, ()) = time::timeout(Duration::from_secs(30), async {
            futures_util::join!(server, client)
        })
        .await
        .expect("a request/reply exchange stalled");
        assert!((1..=2_000).contains(&served), "{served}");
    });
}

#[test]
fn a_vectored_write_of_more_buffers_than_iov_max_is_not_taken_as_short() {
    // std's `write_vectored` passes at most IOV_MAX (1024) buffers: 2 000 one-byte buffers
    // write 1 024 bytes with the send buffer nearly empty. Taken as "short", the next write
    // would wait for a writable edge that never comes.
    let (reactor, _, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let (mut ours, mut peer) = pair(&reactor);
    let bytes = [5u8; 2_000];
    let slices: Vec<io::IoSlice<'_>> = bytes.chunks(1).map(io::IoSlice::new).collect();
    for _ in 0..2 {
        match Pin::new(&mut ours).poll_write_vectored(&mut cx, &slices) {
            Poll::Ready(Ok(n)) => assert!(n > 0 && n <= 1_024, "{n}"),
            other => panic!("the send buffer has room, got {other:?}"),
        }
    }
    let mut got = [0u8; 2_048];
    peer.read_exact(&mut got).unwrap();
    assert!(got.iter().all(|&b| b == 5));
}

struct Panics;

impl Wake for Panics {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}

#[test]
fn a_panicking_waker_stored_by_a_skipped_read_breaks_nothing() {
    let (reactor, count, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let (mut ours, mut peer) = pair(&reactor);
    let mut buf = [0u8; 64];
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    peer.write_all(b"abc").unwrap();
    turn_until_woken(&reactor, &count, 1);
    let Poll::Ready(Ok(3)) = poll_read(&mut ours, &mut cx, &mut buf) else {
        panic!("the data first");
    };
    // Drained: this read stores the panicking waker without a system call.
    let bad = Waker::from(Arc::new(Panics));
    assert!(poll_read(&mut ours, &mut Context::from_waker(&bad), &mut buf).is_pending());
    peer.write_all(b"def").unwrap();
    // The turn wakes it; its panic stays inside the turn.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        reactor.try_turn(Some(Duration::from_millis(10)), AutoAdvance::Never);
        match poll_read(&mut ours, &mut cx, &mut buf) {
            Poll::Ready(Ok(3)) => break,
            Poll::Pending => assert!(Instant::now() < deadline, "the data never came"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(&buf[..3], b"def");
}

/// Blocks until the kernel reports `events` on `fd` (`poll(2)`, bounded at 10 s): the state
/// of the socket itself, with the reactor not turned meanwhile.
fn wait_for_level(fd: std::os::fd::RawFd, events: libc::c_short) {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid `pollfd` that lives across the call; `fd` is open (the caller's).
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "the kernel never reported {events:#x}");
}

#[test]
fn readable_after_a_short_read_means_the_next_read_reads() {
    // `readable()` asks the descriptor's level; the read after a short one waits for the
    // next report without asking the kernel. Data that arrives between the two is readable
    // at once, but its report comes only with the reactor's next turn: a task that waits with
    // `readable()` and then tries a read without yielding (a read polled once) must get the
    // data, not `Pending` again and again (a spin that, on one thread, never lets the
    // reactor turn).
    use futures_util::FutureExt;
    use std::os::fd::AsRawFd;
    let (reactor, _, _) = setup();
    let _entered = reactor.enter();
    let (mut ours, mut peer) = pair(&reactor);
    block_on(async {
        let mut buf = [0u8; 64];
        peer.write_all(b"abc").unwrap();
        // Short: the direction counts as drained until the next report.
        assert_eq!(ours.read(&mut buf).await.unwrap(), 3);
        peer.write_all(b"def").unwrap();
        wait_for_level(ours.as_raw_fd(), libc::POLLIN);
        for _ in 0..1_000 {
            ours.readable().await.unwrap();
            if let Some(read) = ours.read(&mut buf).now_or_never() {
                assert_eq!(read.unwrap(), 3);
                assert_eq!(&buf[..3], b"def");
                return;
            }
        }
        panic!("readable() returned a thousand times and no read read the data");
    });
}

#[test]
fn writable_after_a_short_write_means_the_next_write_writes() {
    // As above for writes: a write shorter than its buffer marks the direction full; once
    // the peer has read and `writable()` says so, a write polled once must write.
    use futures_util::FutureExt;
    use std::os::fd::AsRawFd;
    let (reactor, _, _) = setup();
    let _entered = reactor.enter();
    let (mut ours, mut peer) = pair(&reactor);
    block_on(async {
        let big = vec![9u8; 64 << 20];
        let n = ours.write(&big).await.unwrap();
        assert!(n < big.len(), "a 64 MiB write was not short");
        let mut sink = vec![0u8; n];
        peer.read_exact(&mut sink).unwrap();
        wait_for_level(ours.as_raw_fd(), libc::POLLOUT);
        for _ in 0..1_000 {
            ours.writable().await.unwrap();
            if let Some(written) = ours.write(b"x").now_or_never() {
                assert_eq!(written.unwrap(), 1);
                return;
            }
        }
        panic!("writable() returned a thousand times and no write wrote");
    });
}

#[test]
fn a_peek_that_finds_data_after_a_short_read_means_the_next_read_reads() {
    // `peek` always asks the kernel; a read after a short one does not until the next
    // report. Once a peek has returned data, a read polled once must take it.
    use futures_util::FutureExt;
    use std::os::fd::AsRawFd;
    let (reactor, _, _) = setup();
    let _entered = reactor.enter();
    let (mut ours, mut peer) = pair(&reactor);
    block_on(async {
        let mut buf = [0u8; 64];
        peer.write_all(b"abc").unwrap();
        assert_eq!(ours.read(&mut buf).await.unwrap(), 3);
        peer.write_all(b"def").unwrap();
        wait_for_level(ours.as_raw_fd(), libc::POLLIN);
        assert_eq!(ours.peek(&mut buf).await.unwrap(), 3);
        let read = ours.read(&mut buf).now_or_never();
        let n = read
            .expect("peek saw data, but the read that followed waited without asking")
            .unwrap();
        assert_eq!(&buf[..n], b"def");
    });
}

/// `TCP_INQ`, which ciranda's reads switch on for themselves (after a read that filled its
/// buffer and a failed one), is off again on the std stream `into_std` hands out: that code's
/// own `recvmsg` calls did not ask for a control message with every read.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn into_std_switches_off_the_receive_queue_hint_its_reads_switched_on() {
    use std::os::fd::AsRawFd;
    fn inq(stream: &std::net::TcpStream) -> libc::c_int {
        let mut value: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a valid descriptor, and pointers to a live `c_int` and its length.
        let rc = unsafe {
            libc::getsockopt(
                stream.as_raw_fd(),
                libc::SOL_TCP,
                libc::TCP_INQ,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt(TCP_INQ): {}", io::Error::last_os_error());
        value
    }

    let (reactor, _count, waker) = setup();
    let (mut ours, mut peer) = pair(&reactor);
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 4];
    peer.write_all(b"0123").unwrap();
    wait_for_level(ours.as_raw_fd(), libc::POLLIN);
    assert!(matches!(
        poll_read(&mut ours, &mut cx, &mut buf),
        Poll::Ready(Ok(4))
    ));
    // A full read, then one that finds nothing: the hint goes on.
    assert!(poll_read(&mut ours, &mut cx, &mut buf).is_pending());
    let std_stream = ours.into_std().unwrap();
    assert_eq!(inq(&std_stream), 0, "TCP_INQ left on");
}
