//! One registered file descriptor: the reports the poller delivered for it, per direction, and
//! the wakers waiting on it.
//!
//! The poller runs edge-triggered: it reports a direction each time the descriptor's state
//! changes (data arrived, buffer space freed, hang-up, error) and needs no re-arming, so a wait
//! costs no system call. A descriptor is added with no interest and armed for both directions
//! at its first wait (one `epoll_ctl`, which also reports what is already there): a socket
//! that never waits costs the reactor no event. A socket the crate made itself (accepted or
//! connecting), which the poller cannot refuse, is not even added until that first wait,
//! which then adds it armed: one that never waits costs no `epoll_ctl` at all, neither to
//! add nor to delete. Each direction keeps:
//!
//! * `reports`: how many reports were delivered (a wrapping counter, atomic so that an I/O
//!   operation can sample it without the lock);
//! * the waiters (see `Waiters`): one latest-waker slot for the `poll_*` methods, and a slab
//!   with one entry per waiting future, which that future removes when it is dropped.
//!
//! **An I/O loop samples `reports` before each attempt and, when the attempt fails with
//! `WouldBlock`, waits only if no report was delivered since the sample.** Whatever makes the
//! descriptor ready after the failed attempt is a state change that happens after it, so the
//! poller reports it after it, and the delivery of that report comes after the sample. Both
//! the check and the delivery run under the source lock: either the waiter sees the counter
//! moved and retries at once, or its waker is stored when the delivery takes the waiters.
//! A report of an older change that is delivered after the sample only costs one retry.
//!
//! **A short transfer on a byte stream drains the direction.** A TCP read that returns fewer
//! bytes than asked for emptied the receive queue, a short write filled the send buffer; the
//! next attempt would fail with `EAGAIN`. The stream's I/O loop records the sample it made
//! before such a transfer (`drained`), and while `reports` still equals it, the next attempt
//! skips the system call and waits at once. This is the same argument as above: whatever
//! arrives after the short transfer is reported after it. It stops holding when the kernel
//! queue can hold more than one short read returns (data behind a peer's FIN or a pending
//! error, before urgent data): the poller flags those reports as exceptional, and after the
//! first one the source never skips again.
//!
//! A wait with no operation ([`Source::poll_ready`], behind `readable()`/`writable()`) asks
//! the descriptor's level first (`poll(2)`, zero timeout), then waits as above: it returns as
//! soon as the direction is ready, as a oneshot poller's re-arm would. A level found ready
//! voids the direction's `drained` mark: what made it ready may be reported only at the
//! reactor's next turn, and the transfer that follows must ask the kernel, not wait for
//! that report (a caller retrying without yielding would otherwise spin).
//!
//! State machine of one direction (under the source lock):
//!
//! | state    | event                                   | next state, action                    |
//! |----------|-----------------------------------------|---------------------------------------|
//! | idle     | `poll_ready_since(s)`, `reports == s`   | waiting: store the waker (slot or own entry) |
//! | any      | `poll_ready_since(s)`, `reports != s`   | unchanged: `Ready`, the caller retries |
//! | waiting  | `poll_ready_since(s)`, `reports == s`   | waiting: replace the slot's waker / the entry's waker unless it `will_wake` |
//! | waiting  | a waiting future is dropped (`withdraw`) | its entry removed; idle if it was the last |
//! | any      | report delivered (`deliver`)            | idle: `reports += 1` (which also voids `drained`), slot and slab emptied (woken after the lock is released); an exceptional report sets `exceptional` for good |
//! | any      | short transfer after sample `s`, not `exceptional` | unchanged; `drained = s` (lock-free) |
//! | any      | `poll_ready` finds the level ready       | unchanged; `drained` voided (lock-free) |
//! | any      | deregistered or orphaned (`close`)      | closed: `reports += 1`, wakers handed out, waits fail |
//!
//! No waker is cloned, replaced or dropped under the lock: a waker's clone or drop may call
//! back into the source.
//!
//! Deregistration takes the source lock, deletes the descriptor from the poller and marks the
//! source closed before the owner closes the descriptor, so nothing is delivered for a
//! descriptor number that a new file may reuse.

use crate::loom::{AtomicBool, AtomicUsize, Mutex};
use crate::readiness::Interest;
use slab::Slab;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::task::{Context, Poll, Waker};

/// Index of the read direction.
pub(crate) const READ: usize = 0;
/// Index of the write direction.
pub(crate) const WRITE: usize = 1;

/// The error of a wait on a source whose reactor lost its last handle (see `Reactor`'s
/// "shut down" docs).
pub(crate) const RUNTIME_GONE_IO: &str = "ciranda: the runtime this I/O object was registered with has been shut down, so no thread will report its readiness again; create sockets inside the runtime that uses them";

/// The error of a wait polled outside its runtime's `block_on` after that runtime shut down
/// (see `Reactor::set_runtime_shut_down`).
pub(crate) const RUNTIME_SHUT_DOWN_IO: &str = "ciranda: the runtime this I/O object was registered with has been shut down; only a `block_on` through a handle of that runtime still reports its readiness, and this wait was polled outside one; create sockets inside the runtime that uses them";

/// Who waits in one direction.
///
/// `latest` serves the `poll_*` methods (`AsyncRead::poll_read`, `poll_readable`, ...), which
/// have no future that could withdraw a waker: as futures-io specifies, only the waker of the
/// most recent call is woken, so it replaces the one before and the slot never grows. A wait
/// that is a future of ours (`readable()`, `read_with`, `accept`, ...) takes an entry of
/// `futures` instead and removes exactly that entry when it is dropped, so any number of tasks
/// can wait at once and a cancelled wait leaves nothing behind.
#[derive(Debug, Default)]
struct Waiters {
    latest: Option<Waker>,
    futures: Slab<Waker>,
}

#[derive(Debug, Default)]
struct State {
    waiters: [Waiters; 2],
    /// The poller reports this descriptor (set by the first wait; see `poll_ready_since`).
    armed: bool,
    /// The descriptor is in the poller's set: from registration, or only from the first wait
    /// for a source made with [`Source::unadded`] (then `close` has nothing to delete until
    /// that wait).
    added: bool,
    closed: Option<Closed>,
}

impl State {
    /// Runs `arm` (told whether the descriptor is in the poller's set) unless the source is
    /// armed already; after it succeeds the descriptor is both.
    fn arm_once(&mut self, arm: impl FnOnce(bool) -> io::Result<()>) -> io::Result<()> {
        if !self.armed {
            arm(self.added)?;
            self.armed = true;
            self.added = true;
        }
        Ok(())
    }
}

/// Why a source stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closed {
    /// Its owner deregistered it.
    Deregistered,
    /// Every handle of its reactor is gone: nothing will ever deliver a report.
    Orphaned,
}

impl Closed {
    fn error(self) -> io::Error {
        match self {
            Closed::Deregistered => {
                io::Error::other("ciranda-reactor: the I/O source was deregistered")
            }
            Closed::Orphaned => io::Error::other(RUNTIME_GONE_IO),
        }
    }
}

/// Where a waiting operation keeps its waker (see [`Waiters`]).
pub(crate) enum Waiter<'a> {
    /// A `poll_*` call: the direction's single latest-waker slot.
    Latest,
    /// A future of ours: its own entry, remembered in the future between polls.
    Keyed(&'a mut WaitKey),
}

impl Waiter<'_> {
    /// The same place, for one more wait of the same operation.
    pub(crate) fn reborrow(&mut self) -> Waiter<'_> {
        match self {
            Waiter::Latest => Waiter::Latest,
            Waiter::Keyed(key) => Waiter::Keyed(key),
        }
    }
}

/// A waiting future's entry in a direction's waiter slab: the slab index and the `reports`
/// count it was added under. Every delivery (and the close) empties the slab and bumps the
/// count, so a key whose count is behind names an entry that is gone; a future completed
/// after it was woken therefore drops without taking the lock.
#[derive(Debug, Default)]
pub(crate) struct WaitKey(Option<(usize, usize)>);

/// A registration: the descriptor, the poller key (slot index + generation) and the state.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) raw: RawFd,
    pub(crate) key: usize,
    /// Reports delivered per direction (also bumped by the close); written under `state`'s
    /// lock only.
    reports: [AtomicUsize; 2],
    /// Per direction, the `reports` sample taken before a short transfer: while `reports`
    /// still equals it, the direction is known to be drained (see the module docs).
    drained: [AtomicUsize; 2],
    /// The poller reported a hang-up, an error or urgent data: short transfers prove nothing.
    exceptional: AtomicBool,
    state: Mutex<State>,
}

impl Source {
    /// A source whose descriptor the caller has added to the poller (with no interest).
    pub(crate) fn new(raw: RawFd, key: usize) -> Self {
        Self::with_added(raw, key, true)
    }

    /// A source whose descriptor is not in the poller yet: its first wait adds it, armed
    /// (`arm` is called with `false`). A socket that never waits then costs neither the
    /// `EPOLL_CTL_ADD` nor the `EPOLL_CTL_DEL`.
    pub(crate) fn unadded(raw: RawFd, key: usize) -> Self {
        Self::with_added(raw, key, false)
    }

    fn with_added(raw: RawFd, key: usize, added: bool) -> Self {
        Source {
            raw,
            key,
            reports: [AtomicUsize::new(0), AtomicUsize::new(0)],
            // Never equal to a sample until a short transfer is recorded.
            drained: [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)],
            exceptional: AtomicBool::new(false),
            state: Mutex::new(State {
                added,
                ..State::default()
            }),
        }
    }

    /// The number of reports delivered for `dir` so far: sample it before an I/O attempt and
    /// hand it to [`poll_ready_since`](Source::poll_ready_since) if the attempt would block.
    #[inline]
    pub(crate) fn reports(&self, dir: usize) -> usize {
        // Acquire: pairs with the Release increment, so that an attempt made after seeing a
        // report also sees what the reactor did before delivering it.
        self.reports[dir].load(Acquire)
    }

    /// Is `dir` known to be drained since `since` (a fresh sample) was taken: a short transfer
    /// after that sample, and no report since?
    #[inline]
    pub(crate) fn is_drained(&self, dir: usize, since: usize) -> bool {
        // Relaxed: any value read was stored by a transfer made after the sample it names,
        // and `since` is current; a stale value only costs the system call.
        self.drained[dir].load(Relaxed) == since
    }

    /// Records a short transfer in `dir` made after `since` was sampled, unless an exceptional
    /// report was delivered (then a short read may have left data, an error or EOF behind).
    #[inline]
    pub(crate) fn mark_drained(&self, dir: usize, since: usize) {
        // Acquire pairs with the Release of the delivery that set it: an exceptional report
        // delivered before `since` was sampled is seen here.
        if !self.exceptional.load(Acquire) {
            self.drained[dir].store(since, Relaxed);
        }
    }

    /// Forgets a short transfer's mark in `dir`: something other than a report proved the
    /// direction ready (its level, a peek that found data), and the next transfer must ask
    /// the kernel; a caller that retried it without yielding would otherwise spin until the
    /// reactor's next turn. A void that races a new mark only costs one system call.
    #[inline]
    pub(crate) fn void_drained(&self, dir: usize) {
        // Relaxed: the caller's own next transfer is ordered after this store by program
        // order (or by whatever moved the task to another thread).
        self.drained[dir].store(usize::MAX, Relaxed);
    }

    /// Waits for a report in `dir` delivered after `since` was sampled: `Ready` at once if
    /// one already was (the caller retries its operation), else `Pending` with the waker
    /// stored where `waiter` says.
    ///
    /// The descriptor is added to the poller with no interest and `arm` (called under the
    /// lock, once) turns both directions on at its first wait: a socket that never has to wait
    /// (an accepted connection whose request is already there) then costs the reactor no
    /// event at all, where registering it armed would wake the reactor with its initial
    /// readiness. Arming checks the level, as every `epoll_ctl` does, so what arrived before
    /// is reported too.
    ///
    /// `arm` is told whether the descriptor is in the poller's set already (else it adds it,
    /// armed; see [`Source::unadded`]).
    ///
    /// `may_wait` is asked under the lock right before a waker would be stored; its error
    /// fails the wait instead (the reactor's runtime shut down and nobody here drives it).
    ///
    /// The waker is cloned before the lock is taken and whatever waker it replaces is dropped
    /// after the lock is released: a waker whose clone or drop calls back into this source
    /// (reads it, drops it, waits on it) must not find the lock held by its own thread.
    pub(crate) fn poll_ready_since(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        since: usize,
        waiter: Waiter<'_>,
        may_wait: impl FnOnce() -> io::Result<()>,
        arm: impl FnOnce(bool) -> io::Result<()>,
    ) -> Poll<io::Result<()>> {
        let waker = cx.waker().clone();
        let (poll, spare) = {
            let mut state = self.state.lock();
            if let Some(closed) = state.closed {
                (Poll::Ready(Err(closed.error())), Some(waker))
            // Relaxed: the counter only changes under the lock we hold.
            } else if self.reports[dir].load(Relaxed) != since {
                (Poll::Ready(Ok(())), Some(waker))
            } else if let Err(e) = may_wait() {
                (Poll::Ready(Err(e)), Some(waker))
            } else if let Err(e) = state.arm_once(arm) {
                (Poll::Ready(Err(e)), Some(waker))
            } else {
                let waiters = &mut state.waiters[dir];
                let spare = match waiter {
                    Waiter::Latest => match &mut waiters.latest {
                        Some(w) if w.will_wake(&waker) => Some(waker),
                        slot => slot.replace(waker),
                    },
                    Waiter::Keyed(key) => match key.0 {
                        // Our entry is still there (no report since it was added).
                        Some((index, at)) if at == since => {
                            let w = &mut waiters.futures[index];
                            if w.will_wake(&waker) {
                                Some(waker)
                            } else {
                                Some(std::mem::replace(w, waker))
                            }
                        }
                        _ => {
                            key.0 = Some((waiters.futures.insert(waker), since));
                            None
                        }
                    },
                };
                (Poll::Pending, spare)
            }
        };
        drop(spare);
        poll
    }

    /// Removes a waiting future's entry, if a delivery did not take it already; the waker is
    /// dropped after the lock is released.
    pub(crate) fn withdraw(&self, dir: usize, key: &mut WaitKey) {
        let Some((index, at)) = key.0.take() else {
            return;
        };
        // A delivery since the entry was added took it (and bumped the count): no lock needed.
        if self.reports(dir) != at {
            return;
        }
        let removed = {
            let mut state = self.state.lock();
            if self.reports[dir].load(Relaxed) == at {
                state.waiters[dir].futures.try_remove(index)
            } else {
                None
            }
        };
        drop(removed);
    }

    /// Whether the source is closed (deregistered, or its reactor shut down for good).
    pub(crate) fn is_closed(&self) -> bool {
        self.state.lock().closed.is_some()
    }

    /// Waits until `dir` is ready, with no operation to retry: `Ready` at once if the
    /// descriptor's level says so, else as [`poll_ready_since`](Source::poll_ready_since).
    pub(crate) fn poll_ready(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        waiter: Waiter<'_>,
        may_wait: impl FnOnce() -> io::Result<()>,
        arm: impl FnOnce(bool) -> io::Result<()>,
    ) -> Poll<io::Result<()>> {
        let since = self.reports(dir);
        if self.state.lock().closed.is_none() && level_ready(self.raw, dir) {
            // What made the descriptor ready may not be reported yet (until the reactor's next
            // turn): the caller's next transfer must ask the kernel, not wait for that report.
            self.void_drained(dir);
            return Poll::Ready(Ok(()));
        }
        self.poll_ready_since(dir, cx, since, waiter, may_wait, arm)
    }

    /// Records a report for the directions that are set: hands their wakers to `out` (the
    /// caller wakes them after releasing every lock). `exceptional`: the report includes a
    /// hang-up, an error or urgent data (see `drained`).
    pub(crate) fn deliver(
        &self,
        readable: bool,
        writable: bool,
        exceptional: bool,
        out: &mut Vec<Waker>,
    ) {
        let mut state = self.state.lock();
        if state.closed.is_some() {
            return;
        }
        if exceptional {
            // Before the counters' Release increments below (see `mark_drained`).
            self.exceptional.store(true, Release);
        }
        for (dir, reported) in [(READ, readable), (WRITE, writable)] {
            if reported {
                self.reports[dir].fetch_add(1, Release);
                take_waiters(&mut state.waiters[dir], out);
            }
        }
    }

    /// Marks the source closed and runs `delete` (removal from the poller) under its lock if
    /// the descriptor is in the poller's set; returns the wakers still waiting, for the caller
    /// to wake. A second close does nothing.
    pub(crate) fn close(&self, why: Closed, delete: impl FnOnce()) -> Vec<Waker> {
        let mut state = self.state.lock();
        let mut wakers = Vec::new();
        if state.closed.is_some() {
            return wakers;
        }
        state.closed = Some(why);
        if state.added {
            delete();
        }
        for dir in [READ, WRITE] {
            // Keys taken before the close are stale from now on (see `WaitKey`).
            self.reports[dir].fetch_add(1, Release);
            take_waiters(&mut state.waiters[dir], &mut wakers);
        }
        wakers
    }

    /// Live wakers stored in `dir` (tests).
    #[cfg(test)]
    pub(crate) fn waiting(&self, dir: usize) -> usize {
        let state = self.state.lock();
        let waiters = &state.waiters[dir];
        usize::from(waiters.latest.is_some()) + waiters.futures.len()
    }
}

/// Moves every waker of one direction to `out`; the slab keeps its buffer.
fn take_waiters(waiters: &mut Waiters, out: &mut Vec<Waker>) {
    out.extend(waiters.latest.take());
    if !waiters.futures.is_empty() {
        out.extend(waiters.futures.drain());
    }
}

/// Asks the kernel whether `fd` is ready in `dir` now. An error (or a descriptor the kernel
/// does not know) counts as ready: the caller's next operation reports it. (Under loom there
/// is no kernel: never ready by its level; the models drive readiness through reports.)
fn level_ready(fd: RawFd, dir: usize) -> bool {
    let interest = if dir == READ {
        Interest::READABLE
    } else {
        Interest::WRITABLE
    };
    crate::readiness::level(fd, interest).satisfies(interest)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Nop;

    impl Wake for Nop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    /// A waker with an identity of its own (`will_wake` is false against any other).
    fn waker() -> Waker {
        Waker::from(std::sync::Arc::new(Nop))
    }

    fn wait(source: &Source, waiter: Waiter<'_>) -> Poll<io::Result<()>> {
        let since = source.reports(READ);
        let w = waker();
        source.poll_ready_since(
            READ,
            &mut Context::from_waker(&w),
            since,
            waiter,
            || Ok(()),
            |_| Ok(()),
        )
    }

    #[test]
    fn the_latest_slot_keeps_one_waker_and_each_future_its_own_entry() {
        let source = Source::new(0, 1);
        for _ in 0..3 {
            assert!(wait(&source, Waiter::Latest).is_pending());
        }
        assert_eq!(
            source.waiting(READ),
            1,
            "poll_* keeps the latest waker only"
        );

        let (mut k1, mut k2) = (WaitKey::default(), WaitKey::default());
        assert!(wait(&source, Waiter::Keyed(&mut k1)).is_pending());
        assert!(wait(&source, Waiter::Keyed(&mut k2)).is_pending());
        assert_eq!(source.waiting(READ), 3, "two futures, two entries");
        assert!(wait(&source, Waiter::Keyed(&mut k1)).is_pending());
        assert_eq!(
            source.waiting(READ),
            3,
            "a new waker replaces the future's own entry"
        );
        source.withdraw(READ, &mut k1);
        assert_eq!(
            source.waiting(READ),
            2,
            "a dropped future removes exactly its entry"
        );

        let mut out = Vec::new();
        source.deliver(true, false, false, &mut out);
        assert_eq!((out.len(), source.waiting(READ)), (2, 0));
        // The delivery took k2's entry: its key is stale, withdrawing it touches nothing.
        assert!(wait(&source, Waiter::Latest).is_pending());
        source.withdraw(READ, &mut k2);
        assert_eq!(source.waiting(READ), 1);
        // A stale key waits again under a new entry.
        assert!(wait(&source, Waiter::Keyed(&mut k2)).is_pending());
        assert_eq!(source.waiting(READ), 2);

        let woken = source.close(Closed::Orphaned, || {});
        assert_eq!((woken.len(), source.waiting(READ)), (2, 0));
        source.withdraw(READ, &mut k2);
        let Poll::Ready(Err(e)) = wait(&source, Waiter::Latest) else {
            panic!("a wait on a closed source fails");
        };
        assert!(e.to_string().contains("has been shut down"), "{e}");
        assert_eq!(source.waiting(READ), 0);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    //! The readiness hand-off between a task doing non-blocking reads and the reactor thread,
    //! with a fake edge-triggered poller: the task must never sleep through data that arrived
    //! after its read found nothing.

    use super::*;
    use crate::loom::{Arc, AtomicBool};
    use std::sync::atomic::Ordering::SeqCst;
    use std::task::Wake;

    struct Flag(AtomicBool);

    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, SeqCst);
        }
    }

    /// `arrivals` pieces of data arrive on the reactor thread; the fake poller reports an
    /// edge per arrival once armed, and arming reports data already there (as `epoll_ctl`
    /// does). The task reads until it has them all, waiting whenever a read finds nothing;
    /// the first wait arms the source, which (as for an accepted socket) is not in the poller
    /// before it.
    fn reads_never_sleep_through_data(arrivals: usize) {
        loom::model(move || {
            let source = Arc::new(Source::unadded(0, 1));
            // Data in the "socket" not read yet; whether the poller reports the descriptor;
            // an event the poller has queued and no turn has delivered yet.
            let buffered = Arc::new(AtomicUsize::new(0));
            // The poller's own state, under its lock as in the kernel (epoll's `ep->lock`
            // orders an arrival's callback against an `epoll_ctl`): armed, and queued.
            let poller = Arc::new(Mutex::new((false, false)));
            // One reactor turn: deliver the queued event, if any.
            let turn = {
                let (source, poller) = (source.clone(), poller.clone());
                move || {
                    let queued = core::mem::take(&mut poller.lock().1);
                    if queued {
                        let mut wakers = Vec::new();
                        source.deliver(true, false, false, &mut wakers);
                        for w in wakers {
                            w.wake();
                        }
                    }
                }
            };
            let done = Arc::new(AtomicBool::new(false));
            let reactor = {
                let (buffered, poller, done, turn) =
                    (buffered.clone(), poller.clone(), done.clone(), turn.clone());
                loom::thread::spawn(move || {
                    for _ in 0..arrivals {
                        buffered.fetch_add(1, SeqCst);
                        {
                            let mut p = poller.lock();
                            if p.0 {
                                p.1 = true; // the edge of this arrival
                            }
                        }
                        turn();
                    }
                    done.store(true, SeqCst);
                })
            };

            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let arm = || {
                let mut p = poller.lock();
                p.0 = true;
                if buffered.load(SeqCst) > 0 {
                    p.1 = true;
                }
                Ok(())
            };
            let mut arm = Some(arm);
            let mut got = 0;
            while got < arrivals {
                let since = source.reports(READ);
                let read = buffered.swap(0, SeqCst);
                if read > 0 {
                    got += read;
                    continue;
                }
                // The read would block.
                flag.0.store(false, SeqCst);
                let arm_once = |added: bool| {
                    // The fake poller has no set to add to: arming is the first `EPOLL_CTL_ADD`.
                    assert!(!added, "an unadded source is armed by adding it");
                    arm.take().map_or(Ok(()), |arm| arm())
                };
                let ok = || Ok(());
                match source.poll_ready_since(READ, &mut cx, since, Waiter::Latest, ok, arm_once) {
                    Poll::Ready(r) => r.unwrap(),
                    Poll::Pending => {
                        // Sleep until woken. Once the reactor thread is done, this thread
                        // turns the reactor itself (as a parked worker would); a wake-up still
                        // missing then means the task sleeps forever.
                        while !flag.0.load(SeqCst) {
                            if done.load(SeqCst) {
                                turn();
                                assert!(
                                    flag.0.load(SeqCst),
                                    "data arrived but the waiting task was never woken"
                                );
                            }
                            loom::thread::yield_now();
                        }
                    }
                }
            }
            reactor.join().unwrap();
        });
    }

    /// A waiting future is dropped (`withdraw`) while the reactor delivers a report: exactly
    /// one of them takes its entry, no waker stays stored or leaks, and the delivery wakes
    /// at most that one.
    #[test]
    fn a_withdrawn_wait_racing_a_delivery_leaves_no_waker() {
        loom::model(|| {
            let source = Arc::new(Source::new(0, 1));
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut key = WaitKey::default();
            let since = source.reports(READ);
            let mut cx = Context::from_waker(&waker);
            let first = source.poll_ready_since(
                READ,
                &mut cx,
                since,
                Waiter::Keyed(&mut key),
                || Ok(()),
                |_| Ok(()),
            );
            assert!(first.is_pending());
            let reactor = {
                let source = source.clone();
                loom::thread::spawn(move || {
                    let mut out = Vec::new();
                    source.deliver(true, false, false, &mut out);
                    out.len()
                })
            };
            source.withdraw(READ, &mut key);
            let delivered = reactor.join().unwrap();
            assert!(delivered <= 1);
            assert_eq!(source.waiting(READ), 0);
            drop(waker);
            assert_eq!(
                std::sync::Arc::strong_count(&flag),
                1,
                "a waker clone leaked"
            );
        });
    }

    /// What the peer does, in order, on the reactor thread.
    #[derive(Clone, Copy, PartialEq)]
    enum Peer {
        Data,
        Fin,
    }

    /// A byte-stream reader with the short-read rule: every read that returns data asks for
    /// more than there is, so it records `drained`, and a read while `drained` matches the
    /// fresh sample waits without asking the "kernel". A FIN is reported as exceptional (as
    /// epoll's RDHUP) and, as in the kernel, a read that returns data says nothing about a
    /// FIN behind it. The reader must get every piece of data and then EOF, whatever the
    /// interleaving of arrivals, reports and reads.
    fn short_reads_never_sleep_through_data_or_eof(peer: &'static [Peer]) {
        loom::model(move || {
            let source = Arc::new(Source::new(0, 1));
            // The "socket": data not read yet, and whether the FIN arrived.
            let buffered = Arc::new(AtomicUsize::new(0));
            let fin = Arc::new(AtomicBool::new(false));
            // The poller (armed from the start here): a queued edge and its flags.
            let poller = Arc::new(Mutex::new(None::<bool>));
            let turn = {
                let (source, poller) = (source.clone(), poller.clone());
                move || {
                    let queued = poller.lock().take();
                    if let Some(exceptional) = queued {
                        let mut wakers = Vec::new();
                        source.deliver(true, false, exceptional, &mut wakers);
                        for w in wakers {
                            w.wake();
                        }
                    }
                }
            };
            let done = Arc::new(AtomicBool::new(false));
            let reactor = {
                let (buffered, fin, poller, done, turn) = (
                    buffered.clone(),
                    fin.clone(),
                    poller.clone(),
                    done.clone(),
                    turn.clone(),
                );
                loom::thread::spawn(move || {
                    for &what in peer {
                        {
                            // The arrival and its edge under the poller lock, as `ep->lock`
                            // orders a wake-up callback against the collection. A queued
                            // edge's flags are computed at collection from the state then;
                            // or-ing them in is the same for our purpose.
                            let mut p = poller.lock();
                            match what {
                                Peer::Data => {
                                    buffered.fetch_add(1, SeqCst);
                                }
                                Peer::Fin => fin.store(true, SeqCst),
                            }
                            let exceptional = what == Peer::Fin || p.unwrap_or(false);
                            *p = Some(exceptional);
                        }
                        turn();
                    }
                    done.store(true, SeqCst);
                })
            };

            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&waker);
            let data = peer.iter().filter(|&&p| p == Peer::Data).count();
            let ends_with_fin = peer.contains(&Peer::Fin);
            let mut got = 0;
            loop {
                if !ends_with_fin && got == data {
                    break;
                }
                let since = source.reports(READ);
                let read = if source.is_drained(READ, since) {
                    None // skipped: the kernel would say EAGAIN
                } else {
                    // One atomic read in the kernel: the FIN is looked at first, and the data
                    // that came before it is then there to take.
                    let at_fin = fin.load(SeqCst);
                    let n = buffered.swap(0, SeqCst);
                    if n > 0 {
                        Some(n)
                    } else if at_fin {
                        Some(0)
                    } else {
                        None
                    }
                };
                match read {
                    Some(0) => break,
                    Some(n) => {
                        got += n;
                        source.mark_drained(READ, since); // short: asked for more
                        continue;
                    }
                    None => {}
                }
                flag.0.store(false, SeqCst);
                let ok = || Ok(());
                match source.poll_ready_since(READ, &mut cx, since, Waiter::Latest, ok, |_| Ok(()))
                {
                    Poll::Ready(r) => r.unwrap(),
                    Poll::Pending => {
                        while !flag.0.load(SeqCst) {
                            if done.load(SeqCst) {
                                turn();
                                assert!(
                                    flag.0.load(SeqCst),
                                    "the peer is done but the waiting reader was never woken"
                                );
                            }
                            loom::thread::yield_now();
                        }
                    }
                }
            }
            assert_eq!(got, data, "EOF before all the data");
            reactor.join().unwrap();
        });
    }

    #[test]
    fn short_reads_two_arrivals() {
        short_reads_never_sleep_through_data_or_eof(&[Peer::Data, Peer::Data]);
    }

    #[test]
    fn short_read_then_fin() {
        short_reads_never_sleep_through_data_or_eof(&[Peer::Data, Peer::Fin]);
    }

    #[test]
    fn one_arrival() {
        reads_never_sleep_through_data(1);
    }

    #[test]
    fn two_arrivals() {
        reads_never_sleep_through_data(2);
    }
}
