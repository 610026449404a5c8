//! The glue between scheduler and reactor: the scheduler's parking hook, implemented with
//! the reactor.
//!
//! An idle worker tries to become the *driver*: the one thread blocked in the reactor's
//! `Poller::wait` (with the next timer as timeout). Only one thread may wait on the poller,
//! so the others park on their own condition variable. Unparking a worker sets its token and,
//! if that worker is the driver, wakes the poller with `notify()`.
//!
//! **A busy worker never starves I/O and timers.** The driver role is held only while parked:
//! a worker that comes back from the reactor having woken tasks (I/O events, timers) first
//! hands the role to a worker parked on its condvar, so the poller is watched again while it
//! runs them (a worker that found the poller taken and lists itself for the hand-off only
//! after that turn ended sees no turn running, and goes back to take the poller instead). A
//! driver woken by `unpark` needs no hand-off: the scheduler counted it as a searcher, and
//! the last searcher to find work always wakes another worker, which parks into the free
//! poller. When every worker is busy, each one still polls the reactor without
//! blocking every `EVENT_INTERVAL` ticks (the scheduler's zero-timeout park; the reactor skips the poller in
//! such a turn while no descriptor is registered, and only fires due timers).
//!
//! Lost wake-ups are prevented by ordering: the driver sets its `driving` flag, then checks
//! its token; `unpark` sets the token, then reads the flag (both `SeqCst`). Either the driver
//! sees the token and does not wait, or `unpark` sees the flag and notifies the poller, whose
//! notification is sticky until the next wait.
//!
//! That notification can still be *consumed by another thread's turn* — a busy worker's
//! zero-timeout maintenance turn that got the poller just before the flagged driver did. So
//! after every turn, a worker that held the poller re-notifies it if some flagged driver has
//! a pending token (found by a stress test: 10 producers × 100 000 messages hung once in
//! twenty runs before this).
//!
//! **`block_on` threads drive the reactor once the workers are gone.** While the scheduler
//! runs, a thread in `Handle::block_on` parks on its own parker and leaves the poller to the
//! workers: an idle worker always comes back to it, and busy ones poll it every `EVENT_INTERVAL` ticks.
//! (Letting `block_on` threads hold the poller as well would mean handing it back to a worker
//! every time such a thread returns — an extra worker wake-up per `block_on` wait — for no
//! gain while workers live.) When the scheduler shuts down, its workers leave for good, but a
//! `Handle` keeps the reactor alive, and a `block_on` through it — after the runtime was
//! dropped, or one already waiting in a blocking call that shutdown is waiting for — still
//! needs its timers and sockets. So from [`Park::shutdown`] on, a `block_on` thread drives the
//! reactor itself: it takes a turn (waiting for I/O, the next timer, or its waker), or, when
//! another thread holds the poller (a worker on its way out, another `block_on` thread),
//! sleeps until its waker fires or that turn ends, then tries again. `shutdown` wakes the
//! `block_on` threads parked before it (they register while parked), so they switch over.
//! It also marks the reactor (`Reactor::set_runtime_shut_down`): from then on such a
//! `block_on` is the only driver, so a wait of this reactor polled on any other thread (in
//! another runtime, say) fails at once instead of waiting for nobody.
//!
//! The hook holds a `ReactorRef`, not a handle: it lives as long as the scheduler's shared
//! state, which a stray task waker can keep alive indefinitely, and must not keep the
//! reactor from shutting down when the runtime and its handles are gone.
//!
//! The hand-over loses no wake-up and never puts two threads in the poller:
//! * `try_turn` admits one thread at a time; the others return at once.
//! * The `block_on` waker leaves its token, then (if the thread marked itself as waiting in
//!   the hook) notifies the poller; the thread marks itself, then checks the token — and
//!   checks it once more under the turn, right before the wait (`try_turn_unless`), so a
//!   notification consumed by another thread's turn cannot strand it.
//! * After its turn a `block_on` thread re-notifies for flagged drivers with a pending token,
//!   like a worker does, so it cannot strand a worker on its way out either.
//! * `wait_for_turn` registers the waker only while a turn is running; if the turn ended in
//!   between, the thread just loops and takes the poller itself.
//!
//! **Turns that hand nothing over.** Only a parked worker in the poller (flagged `driving` for
//! its whole turn) hands the poller over or comes back to it. Any other holder leaves without
//! looking at the hand-off list: a busy worker's zero-timeout turn, or a thread outside the
//! scheduler turning this reactor (`ciranda_reactor::block_on` on a thread that entered the
//! runtime). A worker that finds the poller taken while no other worker is flagged therefore
//! also asks the reactor to wake it when that turn ends (`Reactor::wait_for_turn`), and takes
//! the poller then. One that sees another worker flagged leaves it to that one, which gets the
//! poller or finds it taken and looks the same way after clearing its flag (of workers failing
//! at once, the last to clear its flag sees none flagged).

use ciranda_reactor::{AutoAdvance, ReactorRef};
use ciranda_scheduler::park::{BlockOnContext, Park, ParkContext, ThreadParkers};
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::task::{Wake, Waker};
use std::time::Duration;

pub(crate) struct ReactorParkHook {
    /// Not a handle: this hook lives as long as the scheduler's shared state, which any task
    /// waker kept somewhere keeps alive, and must not keep the reactor from shutting down
    /// once the runtime and its handles are gone. Whoever calls into the hook while the
    /// reactor matters holds a handle: a worker (entered for life), a `Handle::block_on`.
    reactor: ReactorRef,
    parkers: Arc<ThreadParkers>,
    driving: Box<[AtomicBool]>,
    /// Per worker, a waker that unparks it, for `Reactor::wait_for_turn` (see "Turns that
    /// hand nothing over" in the module docs).
    turn_ended: Box<[Waker]>,
    /// Workers parked on their condvar (not driving), for hand-offs.
    waiting: Mutex<Vec<usize>>,
    waiting_count: AtomicUsize,
    /// `block_on` threads parked while workers drive, and whether the scheduler shut down.
    block_on: Mutex<BlockOnWaiters>,
}

/// See "`block_on` threads drive the reactor once the workers are gone" in the module docs.
struct BlockOnWaiters {
    /// Set by `Park::shutdown`: from then on `block_on` threads drive the reactor.
    shut_down: bool,
    /// Wakers of the `block_on` threads parked on their parkers, keyed by the parker's
    /// address (unique while the thread waits), for `shutdown` to wake.
    parked: Vec<(usize, Waker)>,
}

impl ReactorParkHook {
    pub(crate) fn new(reactor: ReactorRef, workers: usize) -> ReactorParkHook {
        let parkers = Arc::new(ThreadParkers::new(workers));
        let turn_ended = (0..workers)
            .map(|worker| {
                Waker::from(Arc::new(UnparkWorker {
                    parkers: parkers.clone(),
                    worker,
                }))
            })
            .collect();
        ReactorParkHook {
            reactor,
            parkers,
            driving: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            turn_ended,
            waiting: Mutex::new(Vec::with_capacity(workers)),
            waiting_count: AtomicUsize::new(0),
            block_on: Mutex::new(BlockOnWaiters {
                shut_down: false,
                parked: Vec::new(),
            }),
        }
    }

    /// One wait of a `block_on` thread after shutdown: a turn of the reactor, or, when another
    /// thread holds the poller, sleep until the waker fires or that turn ends. Returns early
    /// rather than late: `block_on` polls again and calls back.
    fn drive_for_block_on(&self, cx: &BlockOnContext<'_>) {
        let parker = cx.parker();
        cx.set_waiting_in_hook(true);
        if parker.try_park() {
            cx.set_waiting_in_hook(false);
            return;
        }
        let is_idle = || cx.runtime_is_idle();
        let turned = self
            .reactor
            .try_turn_unless(None, AutoAdvance::WhenIdle(&is_idle), || parker.has_token());
        cx.set_waiting_in_hook(false);
        match turned {
            Some(_) => {
                self.renotify_flagged_drivers(usize::MAX);
                // A token left meanwhile is served by the poll `block_on` does next.
                parker.try_park();
            }
            // Both the waker and the end of that turn leave a token on the parker.
            None if self.reactor.wait_for_turn(cx.waker()) => parker.park(),
            // That turn just ended: take the poller on the next call.
            None => {}
        }
    }

    /// Passes on a poller notification our turn may have consumed although it was meant for
    /// a worker about to wait in the poller (see the module docs).
    fn renotify_flagged_drivers(&self, me: usize) {
        let stranded = self.driving.iter().enumerate().any(|(worker, driving)| {
            worker != me && driving.load(SeqCst) && self.parkers.parker(worker).has_token()
        });
        if stranded {
            self.reactor.notify();
        }
    }

    /// Gives the driver role to a worker parked on its condvar, if there is one.
    fn hand_off(&self) {
        if self.waiting_count.load(SeqCst) == 0 {
            return;
        }
        let next = self.waiting.lock().last().copied();
        if let Some(worker) = next {
            self.parkers.unpark(worker);
        }
    }

    /// Is a worker other than `worker` flagged as driving (inside or entering its turn)?
    fn other_worker_driving(&self, worker: usize) -> bool {
        self.driving
            .iter()
            .enumerate()
            .any(|(other, driving)| other != worker && driving.load(SeqCst))
    }

    fn park_on_condvar(&self, worker: usize, timeout: Option<Duration>) {
        {
            let mut waiting = self.waiting.lock();
            waiting.push(worker);
            self.waiting_count.fetch_add(1, SeqCst);
        }
        if self.reactor.is_clock_paused() {
            // The driver may be waiting for the runtime to go idle to advance the virtual
            // clock; we just went idle, so let it look again.
            self.reactor.notify();
        }
        // A driver coming back with events hands the poller to a worker it sees listed here;
        // one whose turn ended before we were listed saw nobody, and would leave us asleep
        // beside a free poller while it runs what it woke (for good, if that task never
        // yields). So if no turn runs now, return instead: the scheduler looks for work and
        // parks again, and this time we take the poller. (We list ourselves, then read
        // `turning`; the driver clears `turning`, then reads the list's count: one of the two
        // sees the other.)
        //
        // Only a flagged driver hands over, though: if no other worker is flagged, the turn
        // is a busy worker's zero-timeout one or another thread's (see "Turns that hand
        // nothing over"), so the reactor itself wakes us when it ends; if it ended already,
        // return as above.
        let turning = self.reactor.is_turning()
            && (self.other_worker_driving(worker)
                || self.reactor.wait_for_turn(&self.turn_ended[worker]));
        if turning {
            self.parkers.parker(worker).park_timeout(timeout);
        }
        let mut waiting = self.waiting.lock();
        if let Some(at) = waiting.iter().position(|&w| w == worker) {
            waiting.swap_remove(at);
            self.waiting_count.fetch_sub(1, SeqCst);
        }
    }
}

/// Unparks one worker: the waker a worker registers with `Reactor::wait_for_turn`. A wake
/// after the worker already left its condvar leaves a token, which only makes its next park
/// return at once.
struct UnparkWorker {
    parkers: Arc<ThreadParkers>,
    worker: usize,
}

impl Wake for UnparkWorker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.parkers.parker(self.worker).unpark();
    }
}

impl Park for ReactorParkHook {
    fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
        let worker = cx.worker();
        if timeout == Some(Duration::ZERO) {
            // Maintenance from a busy worker: poll I/O and timers if nobody else is.
            if self
                .reactor
                .try_turn(Some(Duration::ZERO), AutoAdvance::Never)
                .is_some()
            {
                self.renotify_flagged_drivers(worker);
            }
            return;
        }
        let parker = self.parkers.parker(worker);
        if parker.try_park() {
            return;
        }
        self.driving[worker].store(true, SeqCst);
        if parker.try_park() {
            self.driving[worker].store(false, SeqCst);
            return;
        }
        // A worker that parks with a timeout (the LIFO watcher) expects to look for work when
        // it ends: it must not jump the clock past that.
        let is_idle = || cx.runtime_is_idle();
        let auto_advance = match timeout {
            None => AutoAdvance::WhenIdle(&is_idle),
            Some(_) => AutoAdvance::Never,
        };
        let turned = self.reactor.try_turn(timeout, auto_advance);
        self.driving[worker].store(false, SeqCst);
        match turned {
            Some(woken) => {
                // Any token that arrived meanwhile is stale: the scheduler re-checks its
                // queues after every park.
                parker.try_park();
                self.renotify_flagged_drivers(worker);
                if woken > 0 {
                    self.hand_off();
                }
            }
            None => self.park_on_condvar(worker, timeout),
        }
    }

    fn unpark(&self, worker: usize) {
        self.parkers.unpark(worker);
        if self.driving[worker].load(SeqCst) {
            self.reactor.notify();
        }
    }

    fn notify_idle_change(&self) {
        if self.reactor.is_clock_paused() {
            self.reactor.notify();
        }
    }

    fn park_block_on(&self, cx: &BlockOnContext<'_>) {
        let key = std::ptr::from_ref(cx.parker()) as usize;
        {
            let mut waiters = self.block_on.lock();
            if !waiters.shut_down {
                // Workers drive the reactor. Registered under the lock that `shutdown` takes,
                // so either it finds us here or we see `shut_down`.
                waiters.parked.push((key, cx.waker().clone()));
                drop(waiters);
                cx.parker().park();
                let mut waiters = self.block_on.lock();
                if let Some(at) = waiters.parked.iter().position(|(k, _)| *k == key) {
                    waiters.parked.swap_remove(at);
                }
                return;
            }
        }
        self.drive_for_block_on(cx);
    }

    fn unpark_block_on(&self) {
        self.reactor.notify();
    }

    fn shutdown(&self) {
        // Our workers stop driving: waits of this reactor polled anywhere but a `block_on`
        // through a handle of this runtime would wait for nobody (see `Handle::block_on`).
        self.reactor.set_runtime_shut_down();
        let parked = {
            let mut waiters = self.block_on.lock();
            waiters.shut_down = true;
            std::mem::take(&mut waiters.parked)
        };
        // They poll once more, find their future pending and come back to drive.
        for (_, waker) in parked {
            waker.wake();
        }
    }
}
