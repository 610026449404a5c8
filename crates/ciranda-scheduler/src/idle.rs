//! Which workers are searching for work and which are parked.
//!
//! Rules (the protocol the loom models in `loom_models/park.rs` check):
//!
//! * At most half of the workers search (steal) at once, so a burst of wake-ups does not
//!   turn every core into a thief hammering the same queues.
//! * A new task wakes a parked worker only when nobody is searching: a searcher will find it.
//! * A searcher that finds work and was the last searcher wakes one more worker, so work that
//!   keeps arriving keeps being picked up in parallel. A searcher whose re-check after
//!   registering as parked (below) finds work goes back to it still searching, so this rule
//!   holds for it too (see [`Idle::unpark_self`]).
//! * A worker about to park first registers as parked, then re-checks every queue after a
//!   `SeqCst` fence; a notifier pushes first, fences, then reads the counters. One of the
//!   two always sees the other, so a wake-up is never lost.
//!
//! * While some worker is active, one parked worker is the *watcher*: it sleeps with a
//!   timeout (`LIFO_WATCH` in the worker module) and then looks for work, so a task
//!   left in the LIFO slot of a worker whose task never yields is found without the filling
//!   worker paying a wake-up for every slot it fills (see `Worker::schedule_local`).
//!
//! The counters live in one atomic word (`searching` in bits 0–15, `unparked` in bits 16–31)
//! so a notifier decides with a single load; the list of sleepers is behind a mutex taken only
//! when a worker parks or must be woken. The upper half is the generation of unparks: every
//! transition of a worker from parked to unparked bumps it in the same atomic step, so the
//! idle check can tell that a word read twice was not touched in between (see `activity`).

use crate::activity::{COUNT_BITS, GENERATION_ONE};
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst, fence};

const UNPARKED_SHIFT: u32 = COUNT_BITS / 2;
const SEARCHING_MASK: u64 = (1 << UNPARKED_SHIFT) - 1;
const ONE_UNPARKED: u64 = 1 << UNPARKED_SHIFT;
const UNPARKED_MASK: u64 = SEARCHING_MASK << UNPARKED_SHIFT;
/// A worker leaves the parked set: counted unparked, and the generation moves on.
const UNPARK: u64 = ONE_UNPARKED | GENERATION_ONE;
// The builder's limit fits in each counter.
const _: () = assert!(crate::MAX_WORKERS as u64 <= SEARCHING_MASK);

pub(crate) struct Idle {
    state: AtomicU64,
    /// A parked worker sleeps with the LIFO-watch timeout.
    watching: AtomicBool,
    sleepers: Mutex<Sleepers>,
    num_workers: usize,
}

/// The workers registered as parked, and those a notifier took off that list.
struct Sleepers {
    /// Registered as parked (`transition_to_parked`), newest last.
    parked: Vec<usize>,
    /// Taken off `parked` by a notifier, which counted them unparked and searching and is
    /// waking them. Each leaves this list when it finds itself taken off (`unpark_self`), when
    /// it dies (`forget_dead`), or when the hook's `unpark` failed (`unpark_failed`).
    notified: Vec<usize>,
}

impl Sleepers {
    /// Takes `worker` off `notified`; `false` if it was not there.
    fn take_notified(&mut self, worker: usize) -> bool {
        let at = self.notified.iter().position(|&w| w == worker);
        at.map(|at| self.notified.swap_remove(at)).is_some()
    }
}

fn searching(state: u64) -> usize {
    (state & SEARCHING_MASK) as usize
}

fn unparked(state: u64) -> usize {
    ((state & UNPARKED_MASK) >> UNPARKED_SHIFT) as usize
}

impl Idle {
    pub(crate) fn new(num_workers: usize) -> Idle {
        Idle {
            state: AtomicU64::new((num_workers as u64) << UNPARKED_SHIFT),
            watching: AtomicBool::new(false),
            sleepers: Mutex::new(Sleepers {
                parked: Vec::with_capacity(num_workers),
                notified: Vec::with_capacity(num_workers),
            }),
            num_workers,
        }
    }

    fn should_wake_one(&self) -> bool {
        let state = self.state.load(SeqCst);
        searching(state) == 0 && unparked(state) < self.num_workers
    }

    /// Called after making a task visible in a queue: the worker to unpark, if one is needed.
    /// The chosen worker is counted as unparked and searching before it even wakes.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        fence(SeqCst);
        if !self.should_wake_one() {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        if !self.should_wake_one() {
            return None;
        }
        let worker = sleepers.parked.pop()?;
        sleepers.notified.push(worker);
        self.state.fetch_add(UNPARK | 1, SeqCst);
        Some(worker)
    }

    /// The hook's `unpark` of `worker`, chosen by [`worker_to_notify`](Idle::worker_to_notify),
    /// panicked: the worker may sleep on, counted searching, and a notifier wakes nobody while
    /// someone searches, so no later wake-up would reach any worker. Unless it woke up by
    /// itself since (and took the notification as its own), it goes back to the parked list
    /// and counts, for the next notifier to wake.
    pub(crate) fn unpark_failed(&self, worker: usize) {
        let mut sleepers = self.sleepers.lock();
        if sleepers.take_notified(worker) {
            self.state.fetch_sub(ONE_UNPARKED | 1, SeqCst);
            sleepers.parked.push(worker);
        }
    }

    /// Starts searching if fewer than half of the workers already do.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.num_workers {
            return false;
        }
        self.state.fetch_add(1, SeqCst);
        true
    }

    /// Stops searching (work was found); `true` if this was the last searcher, which must
    /// then wake another worker.
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(1, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// Registers `worker` as parked. The caller must re-check every queue afterwards.
    pub(crate) fn transition_to_parked(&self, worker: usize, is_searching: bool) {
        let mut sleepers = self.sleepers.lock();
        let dec = ONE_UNPARKED | u64::from(is_searching);
        self.state.fetch_sub(dec, SeqCst);
        sleepers.parked.push(worker);
    }

    /// A parked worker woke up on its own (work it saw, a timeout, I/O, shutdown): if it is
    /// still listed as a sleeper, takes it off and counts it unparked, and searching again if
    /// `resume_searching`. Returns whether the worker is searching now: `true` also when a
    /// notifier already took it off the list (and counted it searching).
    ///
    /// `resume_searching` is for a searcher whose re-check after registering found work: the
    /// notifier of that work may have seen it searching and woken nobody, while another
    /// worker, seeing every worker parked, went to sleep for good rather than as the watcher.
    /// Back as a searcher, the worker is the last searcher when it runs that work, and wakes
    /// that sleeper (which then parks as the watcher); back as a plain active worker it
    /// would wake nobody, and a task that never yields would leave the sleeper, and the
    /// timers and I/O it would drive, asleep.
    pub(crate) fn unpark_self(&self, worker: usize, resume_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let Some(at) = sleepers.parked.iter().position(|&w| w == worker) else {
            // A notifier took us off the list and counted us searching.
            sleepers.take_notified(worker);
            return true;
        };
        sleepers.parked.swap_remove(at);
        self.state
            .fetch_add(UNPARK | u64::from(resume_searching), SeqCst);
        resume_searching
    }

    /// Takes a worker that died while registered as parked out of the bookkeeping: off the
    /// sleeper list, or, if a notifier already took it off and counted it as unparked and
    /// searching, out of those counts. It then counts as parked for good, so the runtime can
    /// still be seen idle, and no wake-up goes to it any more. `was_watching`: it held the
    /// watcher role, which another worker may now take. Returns `true` when a notifier had
    /// picked it: that wake-up must go to another worker.
    pub(crate) fn forget_dead(&self, worker: usize, was_watching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let notified = match sleepers.parked.iter().position(|&w| w == worker) {
            Some(at) => {
                sleepers.parked.swap_remove(at);
                false
            }
            None => {
                sleepers.take_notified(worker);
                self.state.fetch_sub(ONE_UNPARKED | 1, SeqCst);
                true
            }
        };
        drop(sleepers);
        if was_watching {
            self.stop_watching();
        }
        notified
    }

    /// Takes a worker that died while counted as active (unparked, and `searching` or not)
    /// out of the counts, so that it counts as parked for good. Returns `true` when it was
    /// searching: another worker should look for the work it was after.
    pub(crate) fn forget_dead_active(&self, searching: bool) -> bool {
        self.state
            .fetch_sub(ONE_UNPARKED | u64::from(searching), SeqCst);
        searching
    }

    /// A worker about to park (already registered as parked) becomes the watcher if another
    /// worker is still active and nobody watches yet; it must then park with a timeout and
    /// call [`stop_watching`](Idle::stop_watching) when it wakes.
    pub(crate) fn start_watching(&self) -> bool {
        !self.all_parked() && !self.watching.swap(true, SeqCst)
    }

    pub(crate) fn stop_watching(&self) {
        self.watching.store(false, SeqCst);
    }

    /// A parked worker will look for work within the watch interval.
    pub(crate) fn is_watched(&self) -> bool {
        self.watching.load(SeqCst)
    }

    /// Some worker other than the caller (which is unparked) is unparked.
    pub(crate) fn others_unparked(&self) -> bool {
        unparked(self.state.load(SeqCst)) > 1
    }

    /// Every worker is parked.
    pub(crate) fn all_parked(&self) -> bool {
        Self::all_parked_in(self.word())
    }

    /// The state word, generation included, for the idle check's double collect.
    pub(crate) fn word(&self) -> u64 {
        self.state.load(SeqCst)
    }

    /// Every worker is parked in `word`.
    pub(crate) fn all_parked_in(word: u64) -> bool {
        unparked(word) == 0
    }
}

#[cfg(all(test, loom))]
impl Idle {
    /// `(searching, unparked, listed)` (`listed`: parked or notified), for the loom models'
    /// end-of-run checks.
    pub(crate) fn counts_for_model(&self) -> (usize, usize, usize) {
        let sleepers = self.sleepers.lock();
        let state = self.state.load(SeqCst);
        let listed = sleepers.parked.len() + sleepers.notified.len();
        (searching(state), unparked(state), listed)
    }
}
