//! Running a future on the calling thread while driving the reactor there.

use crate::reactor::{AutoAdvance, Reactor, ReactorRef};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// The waker of one `block_on` call: it sets a flag and unparks the thread (or notifies the
/// poller, when the thread waits in it).
///
/// `std::sync::Arc` rather than the loom shim's: `Wake` is implemented for std's `Arc` only,
/// and this signal is not part of a loom-modelled protocol.
struct BlockOnWaker {
    /// Set by a wake; consumed before each poll.
    notified: AtomicBool,
    /// Set while the thread is (about to be) blocked in the reactor's poller.
    in_reactor: AtomicBool,
    thread: Thread,
    /// Not a handle: a waker kept somewhere must not keep the reactor from shutting down.
    reactor: ReactorRef,
}

impl Wake for BlockOnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.notified.swap(true, SeqCst) {
            // Dekker-style pairing with `block_on`: it sets `in_reactor` and then re-reads
            // `notified`, we set `notified` and then read `in_reactor`; one of us sees the other.
            if self.in_reactor.load(SeqCst) {
                self.reactor.notify();
            }
            self.thread.unpark();
        }
    }
}

/// Unparks a thread; registered with [`Reactor::wait_for_turn`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the calling thread, driving the reactor while it waits.
///
/// Uses the thread's current reactor (see [`Reactor::enter`]) or, when there is none, a
/// reactor of this thread's own created on first use; that reactor is current while the future
/// runs, so sockets and timers created inside it find it.
///
/// I/O objects belong to the reactor they were created under: one created in a `block_on` and
/// then used from a `block_on` on another thread is only driven while its own reactor is (share
/// one reactor between threads by entering it on each).
///
/// With a paused clock, the thread auto-advances virtual time to the next timer whenever the
/// future waits and no I/O is ready (it assumes it is the only driver of that reactor).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let out = ciranda_reactor::block_on(async {
///     ciranda_reactor::time::sleep(Duration::from_millis(1)).await;
///     6 * 7
/// });
/// assert_eq!(out, 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    let reactor = Reactor::try_current().unwrap_or_else(Reactor::thread_default);
    let _guard = reactor.enter();
    let signal = Arc::new(BlockOnWaker {
        notified: AtomicBool::new(false),
        in_reactor: AtomicBool::new(false),
        thread: thread::current(),
        reactor: reactor.object_ref(),
    });
    let waker = Waker::from(signal.clone());
    let unpark = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        // Wait for a wake-up, driving the reactor meanwhile.
        while !signal.notified.swap(false, SeqCst) {
            signal.in_reactor.store(true, SeqCst);
            if signal.notified.load(SeqCst) {
                signal.in_reactor.store(false, SeqCst);
                continue;
            }
            // The signal is checked again inside the turn, right before the poller wait: a
            // notification meant for us may have been consumed by another thread's turn.
            // The clock may jump while our future has not been woken: it is the only task.
            let idle = || !signal.notified.load(SeqCst);
            let turned = reactor.try_turn_unless(None, AutoAdvance::WhenIdle(&idle), || {
                signal.notified.load(SeqCst)
            });
            signal.in_reactor.store(false, SeqCst);
            if turned.is_none() && reactor.wait_for_turn(&unpark) {
                // Another thread drives the reactor: sleep until our waker fires or its turn
                // ends (then we take the poller over). Spurious unparks just loop.
                if !signal.notified.load(SeqCst) {
                    thread::park();
                }
            }
        }
    }
}
