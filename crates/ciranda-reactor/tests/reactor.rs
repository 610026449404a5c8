#![cfg(not(loom))]
//! The driving contract: one turner at a time, notify, hand-over, timers across threads.

use ciranda_reactor::net::{TcpListener, TcpStream};
use ciranda_reactor::{Async, AutoAdvance, Reactor, block_on, time};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

struct Unpark(thread::Thread, AtomicBool);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.1.store(true, Ordering::SeqCst);
        self.0.unpark();
    }
}

fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting: {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn one_turner_at_a_time_and_notify_wakes_it() {
    let reactor = Reactor::new().unwrap();
    let r2 = reactor.clone();
    let turner = thread::spawn(move || {
        let start = Instant::now();
        let n = r2.try_turn(Some(Duration::from_secs(60)), AutoAdvance::Never);
        (n, start.elapsed())
    });
    wait_until("the other thread turns", || reactor.is_turning());
    // Busy poller: return at once, without blocking.
    let start = Instant::now();
    assert_eq!(reactor.try_turn(None, AutoAdvance::Never), None);
    assert!(start.elapsed() < Duration::from_secs(30));
    reactor.notify();
    let (n, took) = turner.join().unwrap();
    assert_eq!(n, Some(0));
    assert!(
        took < Duration::from_secs(50),
        "notify did not end the wait"
    );
    assert!(!reactor.is_turning());
    // A notify with nobody waiting makes the next turn return at once.
    reactor.notify();
    assert_eq!(reactor.try_turn(None, AutoAdvance::Never), Some(0));
}

/// Busy workers take a zero-timeout turn every few dozen tasks. With nothing registered
/// such a turn leaves the poller alone, so a notification meant for a thread that is about to
/// wait in the poller survives it (and a busy worker pays no system call for nothing).
#[test]
fn a_zero_timeout_turn_with_nothing_registered_leaves_a_notification_in_place() {
    let reactor = Reactor::new().unwrap();
    assert_eq!(reactor.registrations(), 0);
    reactor.notify();
    assert_eq!(
        reactor.try_turn(Some(Duration::ZERO), AutoAdvance::Never),
        Some(0)
    );
    // Still notified: this wait ends at once rather than after its 60 s.
    let start = Instant::now();
    assert_eq!(
        reactor.try_turn(Some(Duration::from_secs(60)), AutoAdvance::Never),
        Some(0)
    );
    assert!(
        start.elapsed() < Duration::from_secs(50),
        "the zero-timeout turn consumed the notification"
    );

    // With a descriptor registered, a zero-timeout turn does poll: its readiness arrives.
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let _entered = reactor.enter();
    let a = Async::new(a).unwrap();
    let woken = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut read = pin!(a.readable());
    assert!(
        read.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    std::io::Write::write_all(&mut b, b"x").unwrap();
    wait_until("the zero-timeout turns report the readiness", || {
        reactor.try_turn(Some(Duration::ZERO), AutoAdvance::Never);
        woken.1.load(Ordering::SeqCst)
    });
}

#[test]
fn wait_for_turn_wakes_when_the_turn_ends() {
    let reactor = Reactor::new().unwrap();
    let signal = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
    let waker = Waker::from(signal.clone());
    assert!(!reactor.wait_for_turn(&waker), "nobody turns yet");
    let r2 = reactor.clone();
    let turner =
        thread::spawn(move || r2.try_turn(Some(Duration::from_secs(60)), AutoAdvance::Never));
    wait_until("the other thread turns", || reactor.is_turning());
    assert!(reactor.wait_for_turn(&waker));
    reactor.notify();
    wait_until("woken at the end of the turn", || {
        signal.1.load(Ordering::SeqCst)
    });
    turner.join().unwrap();
    assert_eq!(
        reactor.try_turn(Some(Duration::ZERO), AutoAdvance::Never),
        Some(0)
    );
}

#[test]
fn a_timer_made_elsewhere_shortens_a_turn_in_progress() {
    let reactor = Reactor::new().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (r2, stop2) = (reactor.clone(), stop.clone());
    // A driver blocked without a timeout, as an idle runtime thread would be.
    let driver = thread::spawn(move || {
        while !stop2.load(Ordering::SeqCst) {
            r2.try_turn(None, AutoAdvance::Never);
        }
    });
    wait_until("the driver turns", || reactor.is_turning());
    let _g = reactor.enter();
    let signal = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let start = Instant::now();
    let mut sleep = pin!(time::sleep(Duration::from_millis(20)));
    assert!(sleep.as_mut().poll(&mut cx).is_pending());
    wait_until("the timer fires", || signal.1.load(Ordering::SeqCst));
    assert!(start.elapsed() >= Duration::from_millis(20), "fired early");
    assert!(sleep.as_mut().poll(&mut cx).is_ready());
    stop.store(true, Ordering::SeqCst);
    reactor.notify();
    driver.join().unwrap();
}

#[test]
fn block_on_threads_share_one_reactor() {
    // Several threads block_on futures of one reactor: only one waits in the poller at a time,
    // the others sleep until it is free or their future is woken.
    let reactor = Reactor::new().unwrap();
    let listener = {
        let _g = reactor.enter();
        block_on(TcpListener::bind("127.0.0.1:0")).unwrap()
    };
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..4)
        .map(|i| {
            let reactor = reactor.clone();
            thread::spawn(move || {
                let _g = reactor.enter();
                block_on(async {
                    let mut s = TcpStream::connect(addr).await?;
                    for round in 0..50u32 {
                        s.write_all(&[i, round as u8]).await?;
                        let mut b = [0; 2];
                        s.read_exact(&mut b).await?;
                        assert_eq!(b, [i, round as u8]);
                        time::sleep(Duration::from_millis(1)).await;
                    }
                    std::io::Result::Ok(())
                })
            })
        })
        .collect();
    let server = {
        let reactor = reactor.clone();
        thread::spawn(move || {
            let _g = reactor.enter();
            block_on(async {
                let mut conns = Vec::new();
                for _ in 0..4 {
                    conns.push(listener.accept().await?.0);
                }
                let echo = conns.into_iter().map(|mut s| async move {
                    let mut buf = [0; 64];
                    loop {
                        let n = s.read(&mut buf).await?;
                        if n == 0 {
                            return std::io::Result::Ok(());
                        }
                        s.write_all(&buf[..n]).await?;
                    }
                });
                futures_util::future::try_join_all(echo).await.map(drop)
            })
        })
    };
    for c in clients {
        c.join().unwrap().unwrap();
    }
    server.join().unwrap().unwrap();
}

#[test]
fn sockets_move_between_threads_with_their_reactor() {
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    let (listener, client) = block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        let c = TcpStream::connect(l.local_addr()?).await?;
        std::io::Result::Ok((l, c))
    })
    .unwrap();
    let r2 = reactor.clone();
    let t = thread::spawn(move || {
        let _g = r2.enter();
        block_on(async move {
            let (mut s, _) = listener.accept().await?;
            let mut b = [0; 5];
            s.read_exact(&mut b).await?;
            std::io::Result::Ok(b)
        })
    });
    block_on(async move {
        let mut client = client;
        time::sleep(Duration::from_millis(5)).await;
        client.write_all(b"moved").await
    })
    .unwrap();
    assert_eq!(&t.join().unwrap().unwrap(), b"moved");
}

#[test]
fn async_wraps_any_descriptor() {
    block_on(async {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        let a = Async::new(a)?;
        let b = Async::new(b)?;
        // Read side waits; the write side wakes it.
        let reader = async {
            let mut buf = [0; 3];
            (&b).read_exact(&mut buf).await?;
            std::io::Result::Ok(buf)
        };
        let writer = async {
            time::sleep(Duration::from_millis(2)).await;
            (&a).write_all(b"fd!").await
        };
        let (r, w) = futures_util::join!(reader, writer);
        w?;
        assert_eq!(&r?, b"fd!");
        let std_a = a.into_inner()?;
        drop(std_a);
        let mut buf = [0; 1];
        assert_eq!((&b).read(&mut buf).await?, 0, "EOF after the peer closed");
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn turns_report_woken_wakers() {
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    let signal = Arc::new(Unpark(thread::current(), AtomicBool::new(false)));
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = Async::new(b).unwrap();
    assert!(b.poll_readable(&mut cx).is_pending());
    use std::io::Write;
    (&a).write_all(b"x").unwrap();
    let mut woken = 0;
    let start = Instant::now();
    while woken == 0 {
        assert!(start.elapsed() < Duration::from_secs(30));
        woken += reactor
            .try_turn(Some(Duration::from_millis(100)), AutoAdvance::Never)
            .unwrap();
    }
    assert_eq!(woken, 1);
    assert!(signal.1.load(Ordering::SeqCst));
    assert!(b.poll_readable(&mut cx).is_ready());
}

/// A Unix stream that counts the reads that found nothing.
struct CountingStream {
    inner: std::os::unix::net::UnixStream,
    would_block: Arc<std::sync::atomic::AtomicUsize>,
}

impl std::io::Read for CountingStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let res = self.inner.read(buf);
        if matches!(&res, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
            self.would_block.fetch_add(1, Ordering::SeqCst);
        }
        res
    }
}

impl std::os::fd::AsFd for CountingStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

#[test]
fn a_read_that_would_block_waits_at_once() {
    // After a wait that ended in a successful read, the next `WouldBlock` starts a new wait
    // straight away: the event that ended the previous wait is not taken for fresh data, which
    // would cost a second failed read per wait.
    use std::io::Write;
    use std::sync::atomic::AtomicUsize;
    const ROUNDS: usize = 50;
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let would_block = Arc::new(AtomicUsize::new(0));
    let counting = CountingStream {
        inner: a,
        would_block: would_block.clone(),
    };
    let writer = thread::spawn(move || {
        for i in 0..ROUNDS {
            // Give the reader time to find the stream empty and wait.
            thread::sleep(Duration::from_millis(2));
            b.write_all(&[i as u8]).unwrap();
        }
    });
    block_on(async {
        let mut a = Async::new(counting).unwrap();
        for i in 0..ROUNDS {
            let mut byte = [0u8; 1];
            a.read_exact(&mut byte).await.unwrap();
            assert_eq!(byte[0], i as u8);
        }
    });
    writer.join().unwrap();
    let failed = would_block.load(Ordering::SeqCst);
    assert!(
        failed <= ROUNDS,
        "{failed} reads found nothing for {ROUNDS} waits: more than one per wait"
    );
}

#[test]
fn enter_guards_dropped_out_of_order_leave_the_right_reactor_current() {
    let a = Reactor::new().unwrap();
    let b = Reactor::new().unwrap();
    let guard_a = a.enter();
    let guard_b = b.enter();
    assert!(Reactor::current().ptr_eq(&b));
    // A guard kept in a structure may go first: b's guard is alive, so b stays current.
    drop(guard_a);
    assert!(Reactor::current().ptr_eq(&b), "b's guard is alive");
    drop(guard_b);
    // No guard left: nothing is current, and the thread holds neither reactor.
    assert!(Reactor::try_current().is_none());
    drop(a);
    drop(b);
}

/// `Debug` reads the registration and timer counts first and writes with no lock held: the
/// writer is the caller's code, and one that formats the reactor again (or registers a socket
/// with it) used to deadlock on the registrations' lock, held through the whole statement.
#[test]
fn debug_writes_with_no_lock_held() {
    use std::fmt::Write;

    struct FormatsItAgain<'a> {
        reactor: &'a Reactor,
        out: String,
        again: usize,
    }

    impl Write for FormatsItAgain<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let again = format!("{:?}", self.reactor);
            assert!(again.starts_with("Reactor {"), "{again}");
            self.again += 1;
            self.out.push_str(s);
            Ok(())
        }
    }

    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let reactor = Reactor::new().unwrap();
        let mut writer = FormatsItAgain {
            reactor: &reactor,
            out: String::new(),
            again: 0,
        };
        write!(writer, "{reactor:?}").unwrap();
        let _ = tx.send((writer.out, writer.again));
    });
    let (shown, again) = rx.recv_timeout(Duration::from_secs(10)).expect(
        "formatting a Reactor through a writer that formats it again deadlocked (or panicked)",
    );
    assert!(shown.starts_with("Reactor { registrations: "), "{shown}");
    assert!(shown.contains("timers: 0"), "{shown}");
    assert!(again > 0);
}

/// Counts its wake-ups and, on its first, runs `then` (on the waking thread).
struct CountThen(
    std::sync::atomic::AtomicUsize,
    std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
);

impl Wake for CountThen {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        let then = self.1.lock().unwrap().take();
        if let Some(then) = then {
            then();
        }
    }
}

#[test]
fn a_waker_that_turns_the_reactor_again_loses_no_wake_up_of_either_turn() {
    use std::io::Write;
    let reactor = Reactor::new().unwrap();
    let _g = reactor.enter();
    let pairs: Vec<_> = (0..3)
        .map(|_| {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            (a, Arc::new(Async::new(b).unwrap()))
        })
        .collect();
    let counters: Vec<_> = (0..3)
        .map(|_| Arc::new(CountThen(0.into(), std::sync::Mutex::new(None))))
        .collect();
    // The first reader's waker makes the third readable and turns the reactor until that
    // one's waker ran: a turn nested in the outer turn's wake-ups, on the same thread.
    let (third_writer, third_count) = (pairs[2].0.try_clone().unwrap(), counters[2].clone());
    let nested = reactor.clone();
    *counters[0].1.lock().unwrap() = Some(Box::new(move || {
        (&third_writer).write_all(b"z").unwrap();
        let start = Instant::now();
        while third_count.0.load(Ordering::SeqCst) == 0 {
            assert!(start.elapsed() < Duration::from_secs(30), "nested turn");
            nested.try_turn(Some(Duration::from_millis(100)), AutoAdvance::Never);
        }
    }));
    for ((_, reader), count) in pairs.iter().zip(&counters) {
        let waker = Waker::from(count.clone());
        assert!(
            reader
                .poll_readable(&mut Context::from_waker(&waker))
                .is_pending()
        );
    }
    (&pairs[0].0).write_all(b"x").unwrap();
    (&pairs[1].0).write_all(b"y").unwrap();
    let start = Instant::now();
    while counters[..2]
        .iter()
        .any(|c| c.0.load(Ordering::SeqCst) == 0)
    {
        assert!(start.elapsed() < Duration::from_secs(30), "outer turns");
        reactor.try_turn(Some(Duration::from_millis(100)), AutoAdvance::Never);
    }
    let counts: Vec<_> = counters
        .iter()
        .map(|c| c.0.load(Ordering::SeqCst))
        .collect();
    assert_eq!(counts, [1, 1, 1]);
}
