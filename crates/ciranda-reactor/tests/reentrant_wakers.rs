#![cfg(not(loom))]
//! Wakers that call back into the reactor from their `clone` or `drop` (or that hold its last
//! handle) must not deadlock it: the reactor clones a waker before it takes a lock and drops
//! or wakes one only after releasing it.
//!
//! Every scenario runs on a thread of its own under a deadlock detector: a regression fails
//! after a generous limit instead of hanging the suite.

use ciranda_reactor::net::UnixDatagram;
use ciranda_reactor::{Async, AutoAdvance, Reactor, time};
use futures_util::io::AsyncRead;
use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::time::Duration;

/// Runs `f` on a new thread; fails if it panics or does not finish within the limit (a
/// deadlocked thread is left behind, the test fails rather than hangs).
fn without_deadlock(what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(())) => {}
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: deadlock (no progress in 20 s)"),
    }
}

/// Callbacks a [`hooked`] waker runs on every clone and drop, and counters of its calls.
struct Hooks {
    on_clone_or_drop: Box<dyn Fn() + Send + Sync>,
    clones: AtomicUsize,
    drops: AtomicUsize,
    wakes: AtomicUsize,
}

impl Hooks {
    fn new(f: impl Fn() + Send + Sync + 'static) -> Arc<Hooks> {
        Arc::new(Hooks {
            on_clone_or_drop: Box::new(f),
            clones: AtomicUsize::new(0),
            drops: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
        })
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker of its own identity (`will_wake` is false against any other) that runs the hooks.
fn hooked(hooks: &Arc<Hooks>) -> Waker {
    let data = Arc::into_raw(hooks.clone()).cast::<()>();
    // SAFETY: `data` is an `Arc<Hooks>` reference given up by `into_raw`; every vtable
    // function below treats it as exactly that, and `drop_waker` gives it back.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Arc::into_raw` in `hooked` (or here) and the waker being
    // cloned still owns its count, so the `Arc` is alive while we borrow it.
    let hooks = unsafe { &*data.cast::<Hooks>() };
    hooks.clones.fetch_add(1, SeqCst);
    (hooks.on_clone_or_drop)();
    // SAFETY: as above; the new waker owns the count added here.
    unsafe { Arc::increment_strong_count(data.cast::<Hooks>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: `wake` consumes the waker: same contract as `wake_by_ref` then `drop_waker`.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker owns a count of this `Arc`, alive for the call.
    let hooks = unsafe { &*data.cast::<Hooks>() };
    hooks.wakes.fetch_add(1, SeqCst);
}

unsafe fn drop_waker(data: *const ()) {
    {
        // SAFETY: the waker being dropped still owns its count until the decrement below.
        let hooks = unsafe { &*data.cast::<Hooks>() };
        hooks.drops.fetch_add(1, SeqCst);
        (hooks.on_clone_or_drop)();
    }
    // SAFETY: gives back the count this waker owned (taken by `hooked` or `clone`).
    unsafe { Arc::decrement_strong_count(data.cast::<Hooks>()) };
}

fn poll_once<F: Future + ?Sized>(f: Pin<&mut F>, waker: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(waker))
}

/// Sets a timer on the current reactor and cancels it again (the wheel's lock, twice).
fn touch_the_wheel() {
    let mut s = pin!(time::sleep(Duration::from_secs(3600)));
    let _ = poll_once(s.as_mut(), Waker::noop());
}

#[test]
fn timer_wakers_that_set_and_cancel_timers_when_cloned_or_dropped() {
    without_deadlock("timer", || {
        let reactor = Reactor::new().unwrap();
        let _entered = reactor.enter();
        let hooks = Hooks::new(touch_the_wheel);
        let mut sleep = Box::pin(time::sleep(Duration::from_secs(60)));
        // First poll: the waker is cloned into the wheel.
        assert!(poll_once(sleep.as_mut(), &hooked(&hooks)).is_pending());
        // A new waker: the new one is cloned, the stored one dropped.
        assert!(poll_once(sleep.as_mut(), &hooked(&hooks)).is_pending());
        // Cancel: the stored waker is dropped.
        drop(sleep);
        // A timer that fires wakes (and drops) a hooked waker too.
        let mut short = pin!(time::sleep(Duration::from_millis(20)));
        assert!(poll_once(short.as_mut(), &hooked(&hooks)).is_pending());
        while hooks.wakes.load(SeqCst) == 0 {
            reactor.try_turn(Some(Duration::from_millis(5)), AutoAdvance::Never);
        }
        assert!(poll_once(short.as_mut(), &hooked(&hooks)).is_ready());
        assert!(hooks.clones.load(SeqCst) >= 2);
        assert!(hooks.drops.load(SeqCst) >= 2);
        assert_eq!(reactor.registrations(), 0);
    });
}

#[test]
fn io_wakers_that_wait_on_the_same_socket_and_register_others_when_cloned_or_dropped() {
    without_deadlock("io", || {
        let reactor = Reactor::new().unwrap();
        let _entered = reactor.enter();
        let (a, b) = UnixStream::pair().unwrap();
        let a = Arc::new(Async::new(a).unwrap());
        // Each clone or drop waits on `a` itself (its lock), withdraws that wait, and
        // registers and deregisters another socket (the registry's lock).
        let hooks = {
            let a = Arc::downgrade(&a);
            Hooks::new(move || {
                if let Some(a) = a.upgrade() {
                    let mut wait = pin!(a.readable());
                    let _ = poll_once(wait.as_mut(), Waker::noop());
                }
                let (x, _y) = UnixStream::pair().unwrap();
                drop(Async::new(x).unwrap());
            })
        };
        let mut buf = [0u8; 8];
        // `AsyncRead` on an idle socket: the latest-waker slot, filled then replaced.
        for _ in 0..2 {
            let r =
                Pin::new(&mut &*a).poll_read(&mut Context::from_waker(&hooked(&hooks)), &mut buf);
            assert!(r.is_pending());
        }
        // A future of ours: its own entry, filled, replaced, then withdrawn by the drop.
        {
            let mut one = [0u8; 1];
            let mut wait = pin!(a.read_with(|mut s| std::io::Read::read(&mut s, &mut one)));
            assert!(poll_once(wait.as_mut(), &hooked(&hooks)).is_pending());
            assert!(poll_once(wait.as_mut(), &hooked(&hooks)).is_pending());
        }
        // Data arrives: the reactor delivers and wakes the stored (hooked) waker.
        (&b).write_all(b"x").unwrap();
        while hooks.wakes.load(SeqCst) == 0 {
            reactor.try_turn(Some(Duration::from_millis(5)), AutoAdvance::Never);
        }
        let r = Pin::new(&mut &*a).poll_read(&mut Context::from_waker(&hooked(&hooks)), &mut buf);
        assert!(matches!(r, Poll::Ready(Ok(1))));
        // Deregistration with a hooked waker still waiting.
        let r = Pin::new(&mut &*a).poll_read(&mut Context::from_waker(&hooked(&hooks)), &mut buf);
        assert!(r.is_pending());
        drop(Arc::into_inner(a).expect("no other strong reference"));
        assert_eq!(reactor.registrations(), 0);
        drop(b);
    });
}

#[test]
fn poll_send_to_wakers_that_send_on_the_same_socket_when_cloned_or_dropped() {
    // `UnixDatagram::poll_send_to` keeps its pause for a full receiver (a sleep) behind a
    // lock in the socket: the sleep's wakers must be cloned and dropped with it released.
    let path = std::env::temp_dir().join(format!("ciranda-reentrant-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server_path = path.clone();
    without_deadlock("poll_send_to", move || {
        let reactor = Reactor::new().unwrap();
        let _entered = reactor.enter();
        let server = UnixDatagram::bind(&server_path).unwrap();
        let client = Arc::new(UnixDatagram::unbound().unwrap());
        let mut filled = 0;
        while client.try_send_to(b"fill", &server_path).is_ok() {
            filled += 1;
        }
        assert!(filled > 0);
        // Each clone or drop polls a send on the same socket.
        let hooks = {
            let client = Arc::downgrade(&client);
            let path = server_path.clone();
            Hooks::new(move || {
                if let Some(client) = client.upgrade() {
                    let mut cx = Context::from_waker(Waker::noop());
                    let _ = client.poll_send_to(&mut cx, b"hook", &path);
                }
            })
        };
        let send = |waker: &Waker| {
            client.poll_send_to(&mut Context::from_waker(waker), b"last", &server_path)
        };
        // Refused: a pause starts, its sleep clones the waker.
        assert!(send(&hooked(&hooks)).is_pending());
        // Another waker: the running pause clones it and drops the one it held.
        assert!(send(&hooked(&hooks)).is_pending());
        assert!(hooks.clones.load(SeqCst) >= 2);
        assert!(hooks.drops.load(SeqCst) >= 1);
        // The receiver reads; the send goes when a pause ends, which wakes its waker.
        let mut buf = [0u8; 8];
        let mut received = 0;
        while server.try_recv(&mut buf).is_ok() {
            received += 1;
        }
        assert!(received >= filled);
        let sent = loop {
            match send(&hooked(&hooks)) {
                Poll::Ready(sent) => break sent.unwrap(),
                Poll::Pending => {
                    reactor.try_turn(Some(Duration::from_millis(5)), AutoAdvance::Never);
                }
            }
        };
        assert_eq!(sent, 4);
        assert!(
            hooks.wakes.load(SeqCst) >= 1,
            "a pause ended and woke its waker"
        );
        // `last` arrived (after any the hooks sent once the queue had room).
        loop {
            let n = server.try_recv(&mut buf).unwrap();
            if &buf[..n] == b"last" {
                break;
            }
            assert_eq!(&buf[..n], b"hook");
        }
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_turn_waiter_whose_clone_waits_for_the_turn_too() {
    without_deadlock("turn waiters", || {
        let reactor = Reactor::new().unwrap();
        let turner = {
            let reactor = reactor.clone();
            std::thread::spawn(move || reactor.try_turn(None, AutoAdvance::Never))
        };
        while !reactor.is_turning() {
            std::thread::yield_now();
        }
        let hooks = {
            let reactor = reactor.clone();
            Hooks::new(move || {
                reactor.wait_for_turn(Waker::noop());
            })
        };
        // The turn may end before we register: either answer is fine, no deadlock is.
        let waiting = reactor.wait_for_turn(&hooked(&hooks));
        reactor.notify();
        turner.join().unwrap();
        if waiting {
            assert_eq!(hooks.wakes.load(SeqCst), 1);
        }
    });
}

/// A waker holding the last handle of the reactor: when the wheel drops it, the reactor
/// shuts down (taking the wheel's lock) from inside the timer code.
struct HoldsTheReactor {
    _reactor: Mutex<Option<Reactor>>,
    woken: AtomicUsize,
}

impl Wake for HoldsTheReactor {
    fn wake(self: Arc<Self>) {
        self.woken.fetch_add(1, SeqCst);
    }
}

#[test]
fn the_last_handle_dropped_with_a_stored_waker_shuts_the_reactor_down_cleanly() {
    without_deadlock("shutdown from a waker drop", || {
        let reactor = Reactor::new().unwrap();
        let mut sleep = {
            let _entered = reactor.enter();
            Box::pin(time::sleep(Duration::from_secs(60)))
        };
        let holder = Arc::new(HoldsTheReactor {
            _reactor: Mutex::new(Some(reactor)),
            woken: AtomicUsize::new(0),
        });
        assert!(poll_once(sleep.as_mut(), &Waker::from(holder.clone())).is_pending());
        drop(holder);
        // Now the wheel holds the only reference to the last handle. Replacing the waker
        // drops it: the reactor shuts down, and wakes the new waker.
        let second = Arc::new(HoldsTheReactor {
            _reactor: Mutex::new(None),
            woken: AtomicUsize::new(0),
        });
        assert!(poll_once(sleep.as_mut(), &Waker::from(second.clone())).is_pending());
        assert_eq!(
            second.woken.load(SeqCst),
            1,
            "the shutdown wakes the waiting timer"
        );
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = poll_once(sleep.as_mut(), Waker::noop());
        }))
        .expect_err("a timer of a reactor that shut down panics");
        let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("has been shut down"), "{message}");
    });
}

struct PanicsOnWake;

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}

#[test]
fn wakers_swept_when_the_runtime_shuts_down_may_call_back_or_panic() {
    without_deadlock("runtime shutdown sweep", || {
        let a = Reactor::new().unwrap();
        let b = Reactor::new().unwrap();
        let _in_a = a.enter();
        let hooks = Hooks::new(touch_the_wheel);
        let (x, mut peer) = UnixStream::pair().unwrap();
        let x = Async::new(x).unwrap();
        let mut sleep = Box::pin(time::sleep(Duration::from_secs(3600)));
        let mut other = Box::pin(time::sleep(Duration::from_secs(3600)));
        let mut readable = Box::pin(x.readable());
        assert!(poll_once(sleep.as_mut(), &hooked(&hooks)).is_pending());
        assert!(poll_once(readable.as_mut(), &hooked(&hooks)).is_pending());
        let panics = Waker::from(Arc::new(PanicsOnWake));
        assert!(poll_once(other.as_mut(), &panics).is_pending());

        a.set_runtime_shut_down();
        assert_eq!(
            hooks.wakes.load(SeqCst),
            2,
            "both waits are woken to look again"
        );

        // Where the reactor is current (a `block_on` through the runtime's handle), waits
        // keep working.
        assert!(poll_once(sleep.as_mut(), &hooked(&hooks)).is_pending());
        assert!(poll_once(readable.as_mut(), &hooked(&hooks)).is_pending());
        // Anywhere else, they fail at once.
        {
            let _in_b = b.enter();
            let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _ = poll_once(other.as_mut(), &hooked(&hooks));
            }))
            .expect_err("a timer polled outside its runtime's block_on panics");
            let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(message.contains("has been shut down"), "{message}");
            let mut elsewhere = Box::pin(x.readable());
            let Poll::Ready(Err(e)) = poll_once(elsewhere.as_mut(), &hooked(&hooks)) else {
                panic!("an I/O wait polled outside its runtime's block_on fails");
            };
            assert!(e.to_string().contains("has been shut down"), "{e}");
        }
        // Back on the driving thread: the waiting readable() completes when data comes.
        peer.write_all(b"x").unwrap();
        let before = hooks.wakes.load(SeqCst);
        while hooks.wakes.load(SeqCst) == before {
            a.try_turn(Some(Duration::from_millis(5)), AutoAdvance::Never);
        }
        assert!(matches!(
            poll_once(readable.as_mut(), &hooked(&hooks)),
            Poll::Ready(Ok(()))
        ));
    });
}
