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
//! so a notifier decides with a single load. The upper half is the generation of unparks:
//! every transition of a worker from parked to unparked bumps it in the same atomic step, so
//! the idle check can tell that a word read twice was not touched in between (see `activity`).
//!
//! The list of parked workers is behind a mutex taken when a worker parks, when one must be
//! woken, when one wakes before a notifier flagged it (by itself, or ahead of the flag), and
//! on the failure paths. A worker woken by a notifier claims that notification without the
//! lock (which the next notifier, typically a spawner from outside, needs), through a flag
//! per worker:
//!
//! | step                                              | `notified[w]`                    |
//! |---------------------------------------------------|----------------------------------|
//! | a notifier takes `w` off the list                 | set, under the lock, after the counts |
//! | `w` leaves `park` (`unpark_self`)                 | swapped off; was it unset, `w` locks and leaves the list |
//! | the hook's `unpark(w)` panicked (`unpark_failed`) | swapped off under the lock; was it set, `w` goes back on the list |
//! | `w` died in the hook (`forget_dead`)              | cleared under the lock           |
//!
//! Exactly one swap sees a set flag, so a notification is claimed once.

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
    /// Registered as parked (`transition_to_parked`), newest last.
    parked: Mutex<Vec<usize>>,
    /// Per worker: a notifier took it off `parked`, counted it unparked and searching, and is
    /// waking it, and nobody has claimed that notification yet. Set under the `parked` lock;
    /// cleared by whoever swaps it first: the worker on its way out of `park`
    /// (`unpark_self`, without the lock: the common path of a wake-up), the notifier whose
    /// call into the hook failed (`unpark_failed`), or the worker's death (`forget_dead`).
    notified: Box<[NotifiedFlag]>,
    num_workers: usize,
}

/// A worker's `notified` flag, on a cache line of its own: the small allocation would
/// otherwise share lines with whatever the allocator put next to it.
#[repr(align(128))]
struct NotifiedFlag(AtomicBool);

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
            parked: Mutex::new(Vec::with_capacity(num_workers)),
            notified: (0..num_workers)
                .map(|_| NotifiedFlag(AtomicBool::new(false)))
                .collect(),
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
        let mut parked = self.parked.lock();
        if !self.should_wake_one() {
            return None;
        }
        let worker = parked.pop()?;
        self.state.fetch_add(UNPARK | 1, SeqCst);
        // After the counts: a worker that claims this sees itself counted searching. A swap
        // rather than a store (on x86 both are one `xchg`): loom misses the order the lock
        // gives from a store made under it to a thread that did an RMW on the same atomic
        // before taking the lock (tokio-rs/loom#424), and reports a lost claim that cannot be.
        self.notified[worker].0.swap(true, SeqCst);
        Some(worker)
    }

    /// The hook's `unpark` of `worker`, chosen by [`worker_to_notify`](Idle::worker_to_notify),
    /// panicked: the worker may sleep on, counted searching, and a notifier wakes nobody while
    /// someone searches, so no later wake-up would reach any worker. Unless it woke up by
    /// itself since (and took the notification as its own), it goes back to the parked list
    /// and counts, for the next notifier to wake.
    ///
    /// The flag taken back may be a later notifier's (the worker claimed ours, parked again and
    /// was picked again before this call): the counts undone are then that notification's,
    /// and the worker, listed again, takes itself off the list when that notifier's `unpark`
    /// wakes it, as a worker that woke by itself does.
    pub(crate) fn unpark_failed(&self, worker: usize) {
        let mut parked = self.parked.lock();
        if self.notified[worker].0.swap(false, SeqCst) {
            self.state.fetch_sub(ONE_UNPARKED | 1, SeqCst);
            parked.push(worker);
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
        let mut parked = self.parked.lock();
        let dec = ONE_UNPARKED | u64::from(is_searching);
        self.state.fetch_sub(dec, SeqCst);
        parked.push(worker);
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
        // A notifier took us off the list and counted us searching: the usual way out of a
        // sleep, taken without the lock (a spawner from outside takes it to notify).
        if self.notified[worker].0.swap(false, SeqCst) {
            return true;
        }
        let mut parked = self.parked.lock();
        let Some(at) = parked.iter().position(|&w| w == worker) else {
            // Notified since the swap above, under the lock we now hold.
            let claimed = self.notified[worker].0.swap(false, SeqCst);
            debug_assert!(claimed, "worker {worker} is neither parked nor notified");
            return true;
        };
        parked.swap_remove(at);
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
        let mut parked = self.parked.lock();
        let notified = match parked.iter().position(|&w| w == worker) {
            Some(at) => {
                parked.swap_remove(at);
                false
            }
            None => {
                // Off the list means notified and unclaimed: the worker claims only on its
                // way out of `park`, and `unpark_failed` lists it again when it takes a flag.
                let claimed = self.notified[worker].0.swap(false, SeqCst);
                debug_assert!(claimed, "worker {worker} is neither parked nor notified");
                self.state.fetch_sub(ONE_UNPARKED | 1, SeqCst);
                true
            }
        };
        drop(parked);
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
        let parked = self.parked.lock();
        let state = self.state.load(SeqCst);
        let notified = self.notified.iter().filter(|n| n.0.load(SeqCst)).count();
        let listed = parked.len() + notified;
        (searching(state), unparked(state), listed)
    }
}
