//! How idle workers wait: the parking hook and the default condition-variable parker.
//!
//! A worker with nothing to run calls [`Park::park`]; a thread that makes work for a parked
//! worker calls [`Park::unpark`]. The scheduler ships [`ThreadParkers`] (one [`Parker`] per
//! worker); an embedder can supply its own hook to do useful work while idle — ciranda's
//! facade blocks in the I/O reactor instead of on a condition variable. The scheduler itself
//! never knows what the hook does.
//!
//! The hook also decides how a thread blocked in `block_on` waits ([`Park::park_block_on`]),
//! and hears when the scheduler shuts down ([`Park::shutdown`]): a hook that drives I/O can
//! then let `block_on` threads drive it themselves once no worker will.

use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::loom::{Condvar, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

/// What the scheduler tells a parking hook about the worker that parks.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::park::{Park, ParkContext, ThreadParkers};
/// use std::time::Duration;
/// struct Logging(ThreadParkers);
/// impl Park for Logging {
///     fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
///         self.0.park(cx, timeout)
///     }
///     fn unpark(&self, worker: usize) {
///         self.0.unpark(worker)
///     }
/// }
/// let sched = ciranda_scheduler::Scheduler::builder()
///     .worker_threads(2)
///     .park_hook(|workers| Logging(ThreadParkers::new(workers)))
///     .build()
///     .unwrap();
/// assert_eq!(sched.block_on(sched.spawn(async { 1 })).unwrap(), 1);
/// ```
pub struct ParkContext<'a> {
    pub(crate) worker: usize,
    pub(crate) is_idle: &'a dyn Fn() -> bool,
}

impl ParkContext<'_> {
    /// The index of the parking worker, in `0..worker_threads`.
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// `true` when no worker runs a task, no task is queued, and no blocking task or
    /// `block_on` future is running: the whole runtime waits on outside events. A virtual
    /// clock may then jump to its next timer.
    pub fn runtime_is_idle(&self) -> bool {
        (self.is_idle)()
    }
}

/// What the scheduler tells a parking hook about a thread blocked in `block_on` whose future
/// is pending (see [`Park::park_block_on`]).
///
/// The future's waker leaves a token on [`parker`](Self::parker) (and, while the thread is
/// marked as [waiting in the hook](Self::set_waiting_in_hook), also calls
/// [`Park::unpark_block_on`]). `block_on` polls the future again whenever `park_block_on`
/// returns, so returning early only costs a spurious poll.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::park::{BlockOnContext, Park, ParkContext, ThreadParkers};
/// use std::time::Duration;
/// struct Capped(ThreadParkers);
/// impl Park for Capped {
///     fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
///         self.0.park(cx, timeout)
///     }
///     fn unpark(&self, worker: usize) {
///         self.0.unpark(worker)
///     }
///     fn park_block_on(&self, cx: &BlockOnContext<'_>) {
///         // Wait for the future's waker, but never longer than 10 ms at a time.
///         cx.parker().park_timeout(Some(Duration::from_millis(10)));
///     }
/// }
/// let sched = ciranda_scheduler::Scheduler::builder()
///     .worker_threads(1)
///     .park_hook(|workers| Capped(ThreadParkers::new(workers)))
///     .build()
///     .unwrap();
/// assert_eq!(sched.block_on(sched.spawn(async { 2 })).unwrap(), 2);
/// ```
pub struct BlockOnContext<'a> {
    pub(crate) parker: &'a Parker,
    pub(crate) waiting_in_hook: &'a AtomicBool,
    pub(crate) waker: &'a Waker,
    pub(crate) is_idle: &'a dyn Fn() -> bool,
}

impl BlockOnContext<'_> {
    /// The parker the future's waker unparks: a pending token means "poll again".
    pub fn parker(&self) -> &Parker {
        self.parker
    }

    /// The future's waker. Waking it makes `block_on` poll the future again (spuriously, if
    /// nothing happened), so a hook that waits for something else — the end of another
    /// thread's reactor turn — can register it there.
    pub fn waker(&self) -> &Waker {
        self.waker
    }

    /// Marks the thread as blocked somewhere the parker cannot reach (`true`: in a poller), or
    /// no longer (`false`). While marked, each wake-up of the future calls
    /// [`Park::unpark_block_on`] *after* leaving the parker's token, so a hook that marks the
    /// thread and then checks [`Parker::has_token`] before blocking never misses a wake-up:
    /// either it sees the token, or the waker sees the mark (both `SeqCst`). Clear the mark
    /// before returning.
    pub fn set_waiting_in_hook(&self, waiting: bool) {
        self.waiting_in_hook.store(waiting, SeqCst);
    }

    /// `true` when no worker runs a task (or all have exited after shutdown), no task is
    /// queued, and no blocking task or other `block_on` future is running (this thread
    /// counts as idle while it waits); see [`ParkContext::runtime_is_idle`].
    pub fn runtime_is_idle(&self) -> bool {
        (self.is_idle)()
    }
}

/// A parking hook: how an idle worker waits, and how it is woken.
///
/// Contract:
/// * `unpark(w)` before `park(w, ..)` makes that next `park` return at once (a token, not a
///   pulse); several `unpark`s before one `park` may collapse into one.
/// * `park` may return spuriously; the scheduler re-checks its queues every time.
/// * `park(w, Some(Duration::ZERO))` must not block: the scheduler calls it every few dozen
///   tasks so a hook that drives I/O can poll for events even when no worker is ever idle.
/// * `park_block_on` returns once the `block_on` thread's parker has a token, and may return
///   spuriously.
/// * A task of this scheduler woken on the parking worker's own thread during `park` (a hook
///   that drives I/O or timers runs their wakers there) is queued on that worker and wakes no
///   other worker: the worker runs it once `park` returns, and then wakes one other worker if
///   more than one task got queued. So `park` must return soon after it wakes such a task,
///   not keep waiting.
///
/// # Examples
///
/// A hook that counts how often workers park, and otherwise parks as the default does
/// (more in [`ParkContext`] and [`BlockOnContext`]):
///
/// ```
/// use ciranda_scheduler::park::{Park, ParkContext, ThreadParkers};
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::time::Duration;
///
/// struct Counting {
///     inner: ThreadParkers,
///     parks: Arc<AtomicUsize>,
/// }
///
/// impl Park for Counting {
///     fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
///         self.parks.fetch_add(1, Ordering::Relaxed);
///         self.inner.park(cx, timeout)
///     }
///     fn unpark(&self, worker: usize) {
///         self.inner.unpark(worker)
///     }
/// }
///
/// let parks = Arc::new(AtomicUsize::new(0));
/// let counter = parks.clone();
/// let sched = ciranda_scheduler::Scheduler::builder()
///     .worker_threads(2)
///     .park_hook(move |workers| Counting { inner: ThreadParkers::new(workers), parks: counter })
///     .build()
///     .unwrap();
/// assert_eq!(sched.block_on(sched.spawn(async { 1 })).unwrap(), 1);
/// println!("workers parked {} times", parks.load(Ordering::Relaxed));
/// ```
pub trait Park: Send + Sync + 'static {
    /// Blocks the calling worker until `unpark(cx.worker())` or the timeout.
    fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>);
    /// Wakes worker `worker` (or makes its next `park` return at once).
    fn unpark(&self, worker: usize);

    /// Called when a `block_on` future or a blocking task stops running, which may have made
    /// the runtime idle ([`ParkContext::runtime_is_idle`]). A hook that advances a virtual
    /// clock when idle re-checks then; the default does nothing.
    fn notify_idle_change(&self) {}

    /// Blocks a thread in `block_on` until its future is woken (a token on
    /// [`cx.parker()`](BlockOnContext::parker)), or spuriously. Called on the `block_on`
    /// thread each time its future is pending; never on a worker.
    ///
    /// The default parks on that parker. A hook that drives I/O may drive it here instead —
    /// ciranda's facade does once the scheduler has shut down, since no worker will.
    fn park_block_on(&self, cx: &BlockOnContext<'_>) {
        cx.parker().park();
    }

    /// Called by the waker of a `block_on` future, after it left its token, when the thread
    /// had marked itself [waiting in the hook](BlockOnContext::set_waiting_in_hook): the hook
    /// must make that wait return (a reactor notifies its poller). The default does nothing.
    fn unpark_block_on(&self) {}

    /// Called once when the scheduler starts shutting down, after its shutdown flag is set and
    /// before the workers are unparked to exit: from then on no worker waits in the hook for
    /// long (each is unparked right after this call) and workers leave for good. Threads
    /// parked in [`park_block_on`](Self::park_block_on) keep waiting unless the hook wakes
    /// them (through their [`waker`](BlockOnContext::waker)). The default does nothing.
    fn shutdown(&self) {}
}

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// A one-token thread parker on a `parking_lot` mutex and condition variable.
///
/// Everything a thread did before `unpark` happens before the `park` that takes the token
/// returns, also when several unparks collapsed into that one token.
///
/// | state      | `park`                                    | `unpark`                    |
/// |------------|-------------------------------------------|-----------------------------|
/// | `EMPTY`    | → `PARKED`, wait on the condvar           | → `NOTIFIED`                |
/// | `NOTIFIED` | → `EMPTY`, return at once                 | stays `NOTIFIED`            |
/// | `PARKED`   | (one parker per thread: not reachable)    | → `NOTIFIED`, signal        |
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::park::Parker;
/// use std::sync::Arc;
/// let parker = Arc::new(Parker::new());
/// let p = parker.clone();
/// let t = std::thread::spawn(move || p.unpark());
/// parker.park(); // returns once the other thread unparked (before or after this call)
/// t.join().unwrap();
/// ```
#[derive(Default)]
pub struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl std::fmt::Debug for Parker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parker").finish_non_exhaustive()
    }
}

impl Parker {
    /// A parker without a token.
    pub fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            condvar: Condvar::new(),
        }
    }

    /// Consumes a pending token without blocking; `true` if there was one.
    ///
    /// # Examples
    ///
    /// ```
    /// let parker = ciranda_scheduler::park::Parker::new();
    /// assert!(!parker.try_park());
    /// parker.unpark();
    /// assert!(parker.try_park());
    /// ```
    pub fn try_park(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
    }

    /// `true` when an [`unpark`](Self::unpark) token is pending (it is not consumed).
    ///
    /// # Examples
    ///
    /// ```
    /// let parker = ciranda_scheduler::park::Parker::new();
    /// parker.unpark();
    /// assert!(parker.has_token());
    /// assert!(parker.try_park());
    /// assert!(!parker.has_token());
    /// ```
    pub fn has_token(&self) -> bool {
        self.state.load(SeqCst) == NOTIFIED
    }

    /// Blocks until [`unpark`](Self::unpark) (consuming its token).
    pub fn park(&self) {
        self.park_timeout(None);
    }

    /// Blocks until [`unpark`](Self::unpark) or the timeout; `Some(ZERO)` only consumes a
    /// pending token.
    pub fn park_timeout(&self, timeout: Option<Duration>) {
        if self.try_park() {
            return;
        }
        if timeout == Some(Duration::ZERO) {
            return;
        }
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut guard = self.lock.lock();
        if let Err(actual) = self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            debug_assert_eq!(actual, NOTIFIED, "only one thread may park on a Parker");
            // Take the token with a read-modify-write, not a store: another `unpark` may have
            // landed on it since the compare-exchange read it (the two collapse), and only
            // reading that unpark's write orders what its caller did before it (a shutdown
            // flag) before our return. A store would consume its token without that.
            self.state.swap(EMPTY, SeqCst);
            return;
        }
        loop {
            match deadline {
                None => self.condvar.wait(&mut guard),
                Some(deadline) => {
                    let now = Instant::now();
                    // Under loom the real clock would make the explored paths depend on how
                    // fast the machine runs them (loom then aborts: "is the model fully
                    // deterministic?"); there a timed wait ends only by a wake-up.
                    let expired = !cfg!(loom) && now >= deadline;
                    if expired
                        || self
                            .condvar
                            .wait_for(&mut guard, deadline.saturating_duration_since(now))
                    {
                        // Timed out: give up PARKED, taking a token that raced in (a
                        // read-modify-write for the same reason as above).
                        self.state.swap(EMPTY, SeqCst);
                        return;
                    }
                }
            }
            if self.try_park() {
                return;
            }
            // Spurious condvar wake-up: still PARKED, wait again.
        }
    }

    /// Wakes the parked thread, or leaves a token for its next `park`.
    pub fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            EMPTY | NOTIFIED => {}
            _parked => {
                // Taking the lock orders this notify after the parker's wait started: the
                // parker holds the lock from its PARKED transition until it waits.
                drop(self.lock.lock());
                self.condvar.notify_one();
            }
        }
    }
}

/// The default parking hook: one [`Parker`] per worker.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::park::{Park, ThreadParkers};
/// let parkers = ThreadParkers::new(2);
/// parkers.unpark(1); // leaves a token for worker 1
/// ```
#[derive(Debug)]
pub struct ThreadParkers {
    parkers: Box<[Parker]>,
}

impl ThreadParkers {
    /// Parkers for `workers` workers.
    pub fn new(workers: usize) -> ThreadParkers {
        ThreadParkers {
            parkers: (0..workers).map(|_| Parker::new()).collect(),
        }
    }

    /// The parker of worker `worker`.
    pub fn parker(&self, worker: usize) -> &Parker {
        &self.parkers[worker]
    }
}

impl Park for ThreadParkers {
    fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
        self.parkers[cx.worker()].park_timeout(timeout);
    }

    fn unpark(&self, worker: usize) {
        self.parkers[worker].unpark();
    }
}
