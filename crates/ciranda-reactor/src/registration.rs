//! One registered file descriptor: its readiness per direction and the wakers waiting on it.
//!
//! The poller runs in oneshot mode: after it reports an event for a descriptor, the descriptor
//! is disarmed until re-armed with `Poller::modify`. Each direction (read, write) keeps:
//!
//! * `tick`: the reactor tick at which the last event for this direction was delivered;
//! * `ticks`: `Some((reactor_tick, tick))` sampled when a waiter started waiting;
//! * `wakers`: the tasks waiting for this direction.
//!
//! A waiter is ready once `tick` differs from both sampled values: an event was delivered after
//! the wait began, and not by the turn that was already under way when it began (that turn may
//! have collected its events before the descriptor was armed). Stale readiness never completes
//! a wait: the I/O operation is always retried first, and readiness only says "try again".
//!
//! State machine of one direction (under the source lock):
//!
//! | state          | event                         | next state, action                                   |
//! |----------------|-------------------------------|------------------------------------------------------|
//! | idle (no waker)| `poll_ready`                  | waiting: push waker, sample ticks, re-arm the poller |
//! | waiting        | `poll_ready`, no new event    | waiting: add the waker if it is a new one            |
//! | waiting        | event delivered (`deliver`)   | idle: tick = turn, wakers handed out (woken after the lock is released); the other direction re-armed if it still waits |
//! | idle, ticks moved | `poll_ready`               | idle: `Ready`, ticks cleared                         |
//! | any            | deregistered                  | closed: nothing is re-armed any more                 |
//!
//! The poller is re-armed only under the source lock and only while the source is registered;
//! deregistration takes the same lock, deletes the descriptor from the poller and marks the
//! source closed before the owner closes the descriptor. So a re-arm can never reach a closed
//! descriptor, or a new descriptor that reused its number.

use crate::loom::Mutex;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll, Waker};

/// Index of the read direction.
pub(crate) const READ: usize = 0;
/// Index of the write direction.
pub(crate) const WRITE: usize = 1;

#[derive(Debug, Default)]
struct Direction {
    tick: usize,
    ticks: Option<(usize, usize)>,
    wakers: Vec<Waker>,
}

#[derive(Debug, Default)]
struct State {
    dirs: [Direction; 2],
    closed: bool,
}

impl State {
    fn interest(&self) -> Interest {
        Interest {
            readable: !self.dirs[READ].wakers.is_empty(),
            writable: !self.dirs[WRITE].wakers.is_empty(),
        }
    }
}

/// Which directions the poller should report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Interest {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
}

impl Interest {
    pub(crate) fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }
}

/// A registration: the descriptor, the poller key (slot index + generation) and the state.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) raw: RawFd,
    pub(crate) key: usize,
    state: Mutex<State>,
}

impl Source {
    pub(crate) fn new(raw: RawFd, key: usize) -> Self {
        Source {
            raw,
            key,
            state: Mutex::new(State::default()),
        }
    }

    /// Waits for readiness in `dir`. `ticker` is the reactor's current tick; `rearm` sets the
    /// poller's interest for this source (called under the source lock, only while registered).
    ///
    /// `after_would_block`: the caller's I/O operation has just failed with `WouldBlock`, so
    /// an event delivered before this call is already used up, and the wait starts afresh
    /// (re-arming checks the descriptor's level, so nothing that arrives later is missed).
    /// Without it, an event since the last wait began makes this `Ready` — right for
    /// `readable().await`, but for an I/O loop it would cost one more failed system call every
    /// time the previous wait ended in a successful operation.
    pub(crate) fn poll_ready(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        ticker: usize,
        after_would_block: bool,
        rearm: impl FnOnce(Interest) -> io::Result<()>,
    ) -> Poll<io::Result<()>> {
        let mut state = self.state.lock();
        if state.closed {
            return Poll::Ready(Err(io::Error::other(
                "ciranda-reactor: the I/O source was deregistered",
            )));
        }
        let d = &mut state.dirs[dir];
        if let Some((a, b)) = d.ticks {
            if d.tick != a && d.tick != b {
                d.ticks = None;
                if !after_would_block {
                    return Poll::Ready(Ok(()));
                }
            }
        }
        let was_empty = d.wakers.is_empty();
        if !d.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            d.wakers.push(cx.waker().clone());
        }
        if d.ticks.is_none() {
            d.ticks = Some((ticker, d.tick));
        }
        if was_empty {
            let interest = state.interest();
            if let Err(e) = rearm(interest) {
                // Leave no waker behind for an interest the poller does not know about.
                let d = &mut state.dirs[dir];
                d.wakers.clear();
                d.ticks = None;
                return Poll::Ready(Err(e));
            }
        }
        Poll::Pending
    }

    /// Records an event delivered at reactor tick `tick`: hands the wakers of the ready
    /// directions to `out` (the caller wakes them after releasing every lock) and re-arms the
    /// directions that still wait.
    pub(crate) fn deliver(
        &self,
        readable: bool,
        writable: bool,
        tick: usize,
        out: &mut Vec<Waker>,
        rearm: impl FnOnce(Interest) -> io::Result<()>,
    ) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        if readable {
            state.dirs[READ].tick = tick;
            out.append(&mut state.dirs[READ].wakers);
        }
        if writable {
            state.dirs[WRITE].tick = tick;
            out.append(&mut state.dirs[WRITE].wakers);
        }
        let interest = state.interest();
        if !interest.is_empty() {
            // An error here (the descriptor is in a bad state) surfaces on the next operation;
            // the waiting tasks are woken so they try it.
            if rearm(interest).is_err() {
                for d in &mut state.dirs {
                    out.append(&mut d.wakers);
                }
            }
        }
    }

    /// Marks the source closed and runs `delete` (removal from the poller) under its lock;
    /// returns the wakers still waiting, for the caller to wake.
    pub(crate) fn close(&self, delete: impl FnOnce()) -> Vec<Waker> {
        let mut state = self.state.lock();
        if state.closed {
            return Vec::new();
        }
        state.closed = true;
        delete();
        let mut wakers = Vec::new();
        for d in &mut state.dirs {
            wakers.append(&mut d.wakers);
        }
        wakers
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The readiness hand-off between a task doing non-blocking reads and the reactor thread,
    //! with a fake oneshot poller: the task must never sleep through data that arrived.

    use super::*;
    use crate::loom::{Arc, AtomicBool, AtomicUsize};
    use std::sync::atomic::Ordering::SeqCst;
    use std::task::Wake;

    /// A oneshot poller for one descriptor: `armed` is the registered interest.
    #[derive(Default)]
    struct FakePoller {
        armed: Mutex<Interest>,
    }

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    #[test]
    fn no_lost_readiness() {
        no_lost_readiness_with(false);
    }

    /// The same with the wait an I/O loop starts after `WouldBlock`, which ignores earlier
    /// events.
    #[test]
    fn no_lost_readiness_after_would_block() {
        no_lost_readiness_with(true);
    }

    fn no_lost_readiness_with(after_would_block: bool) {
        loom::model(move || {
            let source = Arc::new(Source::new(0, 1));
            let poller = Arc::new(FakePoller::default());
            let data = Arc::new(AtomicBool::new(false));
            let ticker = Arc::new(AtomicUsize::new(0));

            // One turn of the reactor: report the event when armed and the data is there.
            let turn = {
                let (source, poller, data, ticker) =
                    (source.clone(), poller.clone(), data.clone(), ticker.clone());
                move || {
                    let tick = ticker.fetch_add(1, SeqCst) + 1;
                    let fired = {
                        let mut armed = poller.armed.lock();
                        let fired = armed.readable && data.load(SeqCst);
                        if fired {
                            *armed = Interest::default();
                        }
                        fired
                    };
                    if fired {
                        let mut wakers = Vec::new();
                        source.deliver(true, false, tick, &mut wakers, |i| {
                            *poller.armed.lock() = i;
                            Ok(())
                        });
                        for w in wakers {
                            w.wake();
                        }
                    }
                }
            };

            // The reactor thread: data arrives, then a turn.
            let reactor = {
                let (data, turn) = (data.clone(), turn.clone());
                loom::thread::spawn(move || {
                    data.store(true, SeqCst);
                    turn();
                })
            };

            // The task: try the read; on "would block" wait for readiness.
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let arm = |i: Interest| {
                // Arming a oneshot poller on a ready descriptor reports it at the next turn,
                // as epoll_ctl(MOD) does.
                *poller.armed.lock() = i;
                Ok(())
            };
            let mut got = data.load(SeqCst);
            if !got {
                match source.poll_ready(READ, &mut cx, ticker.load(SeqCst), after_would_block, arm)
                {
                    Poll::Ready(r) => {
                        r.unwrap();
                        got = data.load(SeqCst);
                    }
                    Poll::Pending => {}
                }
            }
            reactor.join().unwrap();
            // The reactor keeps turning as long as someone waits: one more turn.
            turn();
            if !got {
                assert!(flag.0.load(SeqCst), "the task waited but was never woken");
                // Woken: the retried read finds the data.
                assert!(data.load(SeqCst));
                // A task that would wait again (an event of the turn under way when the wait
                // began is not trusted) is re-armed and woken by the next turn.
                flag.0.store(false, SeqCst);
                let arm = |i: Interest| {
                    *poller.armed.lock() = i;
                    Ok(())
                };
                if source
                    .poll_ready(READ, &mut cx, ticker.load(SeqCst), after_would_block, arm)
                    .is_pending()
                {
                    turn();
                    assert!(flag.0.load(SeqCst), "a second wait was lost");
                    let ready =
                        source.poll_ready(READ, &mut cx, ticker.load(SeqCst), false, |_| Ok(()));
                    assert!(
                        ready.is_ready(),
                        "an event after the wait began must make it ready"
                    );
                }
            }
        });
    }
}
