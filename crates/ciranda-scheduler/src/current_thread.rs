//! The current-thread flavor: every task runs on the thread that calls `block_on`, in the
//! order it was spawned or woken — asyncio's event loop (one thread, a FIFO ready queue,
//! `call_soon`).
//!
//! It shares everything but the run loop with the work-stealing flavor: the task cell
//! (`task/raw.rs`), the registry of live tasks, the blocking pool, `Handle`, `JoinHandle` and
//! the parking hook. A runtime of this flavor has no worker threads; the thread inside
//! `block_on` is its one *driver*:
//!
//! ```text
//!  spawn / wake on the driver ──► RunQueue (FIFO) ──► run loop: pop, poll, repeat
//!  spawn / wake elsewhere ──► remote queue + Park::unpark(0) ──┘   nothing ready:
//!                                                                   Park::park(0) (I/O, timers)
//! ```
//!
//! * **Which ready task runs next** is decided in one place, the [`RunQueue`] interface
//!   (push and pop): the loop pops whatever it returns. [`Fifo`] is asyncio's order;
//!   [`Seeded`] (`Builder::run_order_seed`) is a seeded, replayable pseudo-random order for
//!   exploring interleavings in tests (the loop, the wakers and the remote path do not
//!   change). The block_on
//!   future itself is an entry of the same queue ([`Ready::BlockOn`]), so it takes its turn
//!   like asyncio's main task.
//! * **Wakes from other threads** (a blocking call that finished, another thread's spawn) go
//!   to a thread-safe FIFO and unpark the driver through the parking hook as worker 0 — the
//!   same hook the facade plugs its reactor into, so I/O and timers work. The driver moves
//!   them into its run queue before each pop.
//! * **I/O and timers**: the driver calls the hook with a zero timeout every
//!   [`EVENT_INTERVAL`] polls, and with no timeout when nothing is ready; wakes made inside
//!   the hook (timers, I/O) run on the driver, so they are queued in the order the reactor
//!   delivers them (timers in deadline order, to the reactor's tick).
//! * **Paused clock**: the driver counts as active (in `block_on_active`) except while it
//!   waits in the hook, and its idle predicate adds "its own queue is empty" to the runtime's,
//!   so virtual time jumps only when nothing is ready and nothing is in flight. Everything
//!   the driver does is then a function of the program: the output is deterministic.
//! * **One driver at a time.** `block_on` on another thread while one drives polls its own
//!   future on its own thread (tasks it spawns run on the driver) and takes the driver role
//!   over when the driver leaves. `block_on` from inside a task of a current-thread runtime
//!   panics: the driver would wait for itself.
//! * **Between `block_on` calls** nothing runs: tasks spawned then wait in the remote queue
//!   for the next `block_on` (as Tokio's current-thread runtime). Shutdown drops them.

use crate::Handle;
use crate::block_on;
use crate::context::{self, on_worker_thread};
use crate::coop;
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst, fence};
use crate::metrics::{self, WorkerCounters};
use crate::park::{ParkContext, Parker};
use crate::queue::Inject;
use crate::shared::Shared;
use crate::task::TaskId;
use crate::task::raw::{Notified, RawTask, TaskRef};
use crate::unhandled::UnhandledPanic;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::ptr;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Polls between zero-timeout calls to the parking hook (I/O and timers) while tasks keep
/// being ready; the work-stealing workers use the same interval.
pub(crate) const EVENT_INTERVAL: u32 = crate::worker::EVENT_INTERVAL;

/// The index the driver has in the parking hook (the hook is built for one "worker").
const DRIVER: usize = 0;

/// Something ready to run on the driver.
pub(crate) enum Ready {
    /// A task, with its queue reference.
    Task(Notified),
    /// The future passed to `block_on` (asyncio's main task).
    BlockOn,
}

/// The one decision of the current-thread run loop: which ready entry runs next. The loop
/// pushes every entry that becomes ready (in the order it does) and runs whatever `pop`
/// returns. [`Fifo`] gives asyncio's order; a deterministic-simulation scheduler (a seeded,
/// replayable choice among the ready entries) implements this trait instead.
pub(crate) trait RunQueue {
    /// An entry became ready (spawned, woken, yielded, or delivered from another thread).
    fn push(&mut self, ready: Ready);
    /// The entry to run next, or `None` when nothing is ready.
    fn pop(&mut self) -> Option<Ready>;
    /// `true` when nothing is ready.
    fn is_empty(&self) -> bool;
}

/// asyncio's ready queue: first in, first out.
#[derive(Default)]
pub(crate) struct Fifo(VecDeque<Ready>);

impl RunQueue for Fifo {
    #[inline]
    fn push(&mut self, ready: Ready) {
        self.0.push_back(ready);
    }
    #[inline]
    fn pop(&mut self) -> Option<Ready> {
        self.0.pop_front()
    }
    #[inline]
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A seeded, replayable order: each `pop` takes a pseudo-random one of the ready entries,
/// chosen by a generator started from the seed. The same seed and the same program (the same
/// pushes, which a paused clock and no outside input make so) give the same order, so a run
/// that went wrong can be replayed; other seeds explore other interleavings.
pub(crate) struct Seeded {
    ready: Vec<Ready>,
    state: u64,
}

impl Seeded {
    pub(crate) fn new(seed: u64) -> Seeded {
        Seeded {
            ready: Vec::new(),
            state: seed,
        }
    }

    /// splitmix64: every seed, 0 included, gives a well-mixed sequence.
    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl RunQueue for Seeded {
    fn push(&mut self, ready: Ready) {
        self.ready.push(ready);
    }
    fn pop(&mut self) -> Option<Ready> {
        if self.ready.is_empty() {
            return None;
        }
        // The modulo's bias (at most len / 2^64) does not matter for choosing an order.
        let index = (self.next() % self.ready.len() as u64) as usize;
        Some(self.ready.swap_remove(index))
    }
    fn is_empty(&self) -> bool {
        self.ready.is_empty()
    }
}

/// The run queue the driver uses: asyncio's FIFO, or the seeded order the builder asked for.
pub(crate) enum Queue {
    Fifo(Fifo),
    Seeded(Seeded),
}

impl Queue {
    fn new(seed: Option<u64>) -> Queue {
        match seed {
            None => Queue::Fifo(Fifo::default()),
            Some(seed) => Queue::Seeded(Seeded::new(seed)),
        }
    }
}

impl RunQueue for Queue {
    #[inline]
    fn push(&mut self, ready: Ready) {
        match self {
            Queue::Fifo(q) => q.push(ready),
            Queue::Seeded(q) => q.push(ready),
        }
    }
    #[inline]
    fn pop(&mut self) -> Option<Ready> {
        match self {
            Queue::Fifo(q) => q.pop(),
            Queue::Seeded(q) => q.pop(),
        }
    }
    #[inline]
    fn is_empty(&self) -> bool {
        match self {
            Queue::Fifo(q) => q.is_empty(),
            Queue::Seeded(q) => q.is_empty(),
        }
    }
}

/// The flavor's shared state (in `Shared`): what other threads reach.
pub(crate) struct CurrentThread {
    /// Tasks made ready off the driver thread (or while no thread drives), in arrival order.
    remote: Inject,
    /// The `block_on` future was woken off the driver thread.
    block_on_woken: AtomicBool,
    /// Which `block_on` call drives (its number): wakers of older calls are ignored.
    generation: AtomicU64,
    /// A thread holds the driver role.
    driving: AtomicBool,
    /// `block_on` calls waiting for the role (woken when it is released; see [`RoleWait`]).
    role_waiters: Mutex<RoleWaiters>,
    /// Runs ready entries in the seeded order instead of FIFO; each `block_on` call starts
    /// the order from the seed again.
    run_order_seed: Option<u64>,
}

impl CurrentThread {
    pub(crate) fn new(run_order_seed: Option<u64>) -> CurrentThread {
        CurrentThread {
            remote: Inject::new(),
            block_on_woken: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            driving: AtomicBool::new(false),
            role_waiters: Mutex::new(RoleWaiters::default()),
            run_order_seed,
        }
    }

    /// Queues a task: on the driver's run queue when called on the driving thread, else on
    /// the remote queue, unparking the driver.
    ///
    /// Once on the remote queue, the task may run, complete and be freed on the driver before
    /// this call returns, and with it the last handle to `shared` (a waker consumed by its
    /// `wake` held the only reference): a reference to the task keeps both alive, and is
    /// returned, for the caller to drop once it no longer borrows `shared` (`self` included,
    /// which lives in it) nor the task's cell.
    #[must_use = "the keep-alive must outlive every borrow of `Shared` and of the task's cell"]
    pub(crate) fn schedule(&self, shared: &Shared, task: Notified) -> Option<TaskRef> {
        let task = with_driver(shared, |driver| match driver {
            Some(driver) => {
                driver.queue.borrow_mut().push(Ready::Task(task));
                None
            }
            None => Some(task),
        })?;
        let keep = task.keep_alive();
        self.remote.push(task);
        shared.park.unpark(DRIVER);
        if shared.is_shutdown() {
            // Shutdown may already have drained the queue: nobody else will.
            self.drain_remote();
        }
        Some(keep)
    }

    /// Anything made ready from outside that the driver has not taken yet.
    pub(crate) fn has_remote_work(&self) -> bool {
        !self.remote.is_empty() || self.block_on_woken.load(SeqCst)
    }

    /// Tasks in the remote queue (for `RuntimeMetrics::global_queue_depth`).
    pub(crate) fn remote_len(&self) -> usize {
        self.remote.len()
    }

    /// Drops every task in the remote queue (their queue references).
    pub(crate) fn drain_remote(&self) {
        while let Some(task) = self.remote.pop() {
            drop(task);
        }
    }

    /// A place among the role waiters for one wait of a `block_on` call that polls its future
    /// on its own thread while another thread drives (see [`RoleWait`]).
    fn role_wait(&self) -> RoleWait<'_> {
        let mut waiters = self.role_waiters.lock();
        let ticket = waiters.next_ticket;
        waiters.next_ticket = ticket.wrapping_add(1);
        RoleWait {
            flavor: self,
            ticket,
        }
    }

    /// Waits until no other thread holds the driver role, or until `deadline`: a thread that
    /// drives this runtime through a handle leaves once its current poll is over and it sees
    /// the shutdown (which has unparked it), as a worker does. Returns at once on the thread
    /// that holds the role (a task or the `block_on` future shutting its own runtime down):
    /// that one leaves only after the shutdown returns.
    pub(crate) fn wait_for_driver(&self, deadline: Option<Instant>) {
        if !self.driving.load(SeqCst) || HOLDING.with(|holding| ptr::eq(holding.get(), self)) {
            return;
        }
        let waiter = Arc::new(UnparkWaiter(Parker::new()));
        let waker = Waker::from(waiter.clone());
        let wait = self.role_wait();
        while !wait.register(&waker) {
            let timeout = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return,
                },
            };
            waiter.0.park_timeout(timeout);
        }
    }

    fn try_acquire(&self) -> bool {
        self.driving
            .compare_exchange(false, true, SeqCst, SeqCst)
            .is_ok()
    }

    fn release(&self) {
        self.driving.store(false, SeqCst);
        // Registered under this lock, then `driving` read: either the waiter sees the role
        // free or its waker is taken here.
        let waiters = std::mem::take(&mut self.role_waiters.lock().wakers);
        for (_, waker) in waiters {
            // A waker we did not write must not unwind out of `block_on`'s exit.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    }
}

/// The `block_on` calls waiting for the driver role, for [`CurrentThread::release`] to wake.
#[derive(Default)]
struct RoleWaiters {
    /// Each waiting call's waker, under the ticket of its [`RoleWait`].
    wakers: Vec<(u64, Waker)>,
    next_ticket: u64,
}

/// One wait of a `block_on` call for the driver role while another thread drives. Its waker
/// is listed for the driver's release to wake, and taken off the list when the wait ends
/// (the future finished, or the role was free): a listed waker holds the runtime's shared
/// state, so one left behind per call kept memory for as long as the driver kept the role (a
/// server's `main`: for good), made each later wait scan a longer list, and, left there by a
/// wait that ended in a shutdown, kept the runtime's state alive after its last handle.
struct RoleWait<'a> {
    flavor: &'a CurrentThread,
    ticket: u64,
}

impl RoleWait<'_> {
    /// Lists `waker` to be woken when the driver role is released (once until that release);
    /// `true` if the role is free.
    fn register(&self, waker: &Waker) -> bool {
        let flavor = self.flavor;
        {
            let mut waiters = flavor.role_waiters.lock();
            if !waiters.wakers.iter().any(|(t, _)| *t == self.ticket) {
                waiters.wakers.push((self.ticket, waker.clone()));
            }
        }
        !flavor.driving.load(SeqCst)
    }
}

impl Drop for RoleWait<'_> {
    fn drop(&mut self) {
        let removed = {
            let mut waiters = self.flavor.role_waiters.lock();
            let at = waiters.wakers.iter().position(|(t, _)| *t == self.ticket);
            at.map(|at| waiters.wakers.swap_remove(at))
        };
        // Dropped with the lock released, as every waker the runtime lets go of.
        drop(removed);
    }
}

/// The waker of [`CurrentThread::wait_for_driver`]: unparks the shutting-down thread.
struct UnparkWaiter(Parker);

impl Wake for UnparkWaiter {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The driving thread's own state, on its stack while it drives.
struct Driver {
    shared: *const Shared,
    queue: RefCell<Queue>,
    /// `Ready::BlockOn` is in the queue.
    block_on_queued: Cell<bool>,
    /// Counted in `block_on_active` (all the time but the waits in the hook).
    active: Cell<bool>,
    generation: u64,
    /// The task being polled (the parent of the tasks it spawns, for the dump).
    /// Kept as a pointer, as a worker does (see `Worker::current_task`).
    current_task: Cell<Option<RawTask>>,
}

impl Driver {
    fn wake_block_on(&self) {
        if !self.block_on_queued.replace(true) {
            self.queue.borrow_mut().push(Ready::BlockOn);
        }
    }

    /// Moves what other threads made ready into the run queue, in arrival order.
    fn pull_remote(&self, flavor: &CurrentThread) {
        if flavor.block_on_woken.load(SeqCst) && flavor.block_on_woken.swap(false, SeqCst) {
            self.wake_block_on();
        }
        if flavor.remote.is_empty() {
            return;
        }
        let mut queue = self.queue.borrow_mut();
        while let Some(task) = flavor.remote.pop() {
            queue.push(Ready::Task(task));
        }
    }

    fn is_empty(&self) -> bool {
        self.queue.borrow().is_empty()
    }
}

thread_local! {
    /// The driver running on this thread, set while it drives.
    static CURRENT_DRIVER: Cell<*const Driver> = const { Cell::new(ptr::null()) };
    /// The runtime whose driver role this thread holds (see [`Role`]): from before `drive`
    /// until the role is released, a little longer than `CURRENT_DRIVER`. Destructor-free, so
    /// readable while the thread is torn down.
    static HOLDING: Cell<*const CurrentThread> = const { Cell::new(ptr::null()) };
}

/// The driver of `shared` running on this thread, if any.
fn with_driver<R>(shared: &Shared, f: impl FnOnce(Option<&Driver>) -> R) -> R {
    let driver = CURRENT_DRIVER.try_with(Cell::get).unwrap_or(ptr::null());
    if driver.is_null() {
        return f(None);
    }
    // SAFETY: `CURRENT_DRIVER` is set only by `drive`, which clears it (through its guard)
    // before the driver on its stack goes away, so a non-null pointer is live here.
    let driver = unsafe { &*driver };
    if ptr::eq(driver.shared, shared) {
        f(Some(driver))
    } else {
        f(None)
    }
}

/// `Some(DRIVER)` (the driver's index in the metrics) while this thread drives `shared`.
pub(crate) fn driver_index(shared: &Shared) -> Option<usize> {
    with_driver(shared, |driver| driver.map(|_| DRIVER))
}

/// The task the driver of `shared` on this thread is polling, if any (see
/// `context::spawner`).
pub(crate) fn current_task(shared: &Shared) -> Option<TaskId> {
    with_driver(shared, |driver| {
        let task = driver?.current_task.get()?;
        // SAFETY: set only while the driver runs the task on this thread (see `RawTask::id`).
        Some(unsafe { task.id() })
    })
}

/// `true` while this thread drives a current-thread runtime (any of them).
pub(crate) fn driving() -> bool {
    CURRENT_DRIVER
        .try_with(|d| !d.get().is_null())
        .unwrap_or(false)
}

/// Wakes the `block_on` future of one driving call.
struct BlockOnWaker {
    shared: Arc<Shared>,
    generation: u64,
}

impl BlockOnWaker {
    fn wake_up(&self) {
        let Some(flavor) = self.shared.current_thread.as_ref() else {
            return;
        };
        if flavor.generation.load(SeqCst) != self.generation {
            return; // that block_on call is over
        }
        let local = with_driver(&self.shared, |driver| match driver {
            Some(driver) if driver.generation == self.generation => {
                driver.wake_block_on();
                true
            }
            _ => false,
        });
        if !local && !flavor.block_on_woken.swap(true, SeqCst) {
            self.shared.park.unpark(DRIVER);
        }
    }
}

impl Wake for BlockOnWaker {
    fn wake(self: Arc<Self>) {
        self.wake_up();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_up();
    }
}

/// `block_on` on a current-thread runtime: drive it, or wait for the role while polling the
/// future here.
pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    assert!(
        !driving(),
        "ciranda: block_on called from inside a task of a current-thread runtime. That thread \
         runs every task of the runtime, so it would wait for itself; `.await` the future \
         instead, or move the synchronous code to spawn_blocking first."
    );
    assert!(
        !on_worker_thread(),
        "ciranda: block_on called on a runtime worker thread; `.await` the future instead."
    );
    let shared = &handle.shared;
    let flavor = shared
        .current_thread
        .as_ref()
        .expect("a current-thread runtime");
    let mut future = pin!(future);
    loop {
        if shared.is_shutdown() {
            // Nothing runs tasks any more: poll the future here, as on any runtime.
            if let Some(output) = block_on::block_on_unless(handle, future.as_mut(), &|_| false) {
                return output;
            }
            unreachable!("block_on gave up without being asked to");
        }
        if flavor.try_acquire() {
            let role = Role::held(flavor);
            let output = drive(handle, flavor, future.as_mut());
            drop(role);
            match output {
                Some(output) => return output,
                None => continue, // shut down under us
            }
        }
        let wait = flavor.role_wait();
        let waited =
            block_on::block_on_unless(handle, future.as_mut(), &|waker| wait.register(waker));
        drop(wait);
        if let Some(output) = waited {
            return output;
        }
    }
}

/// Holds the driver role for this thread (see [`HOLDING`]) and releases it, also on
/// unwinding.
struct Role<'a> {
    flavor: &'a CurrentThread,
    /// What `HOLDING` said before (null unless a parking hook's `notify_idle_change`, run
    /// by a driver that is leaving, called `block_on` on another runtime): restored on drop.
    previous: *const CurrentThread,
}

impl<'a> Role<'a> {
    /// The role was just acquired by this thread.
    fn held(flavor: &'a CurrentThread) -> Role<'a> {
        let previous = HOLDING.with(|holding| holding.replace(ptr::from_ref(flavor)));
        Role { flavor, previous }
    }
}

impl Drop for Role<'_> {
    fn drop(&mut self) {
        HOLDING.with(|holding| holding.set(self.previous));
        self.flavor.release();
    }
}

/// Clears the thread's driver and hands its leftovers to the next one, also on unwinding.
struct Leave<'a> {
    shared: &'a Shared,
    flavor: &'a CurrentThread,
    driver: &'a Driver,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let _ = CURRENT_DRIVER.try_with(|d| d.set(ptr::null()));
        // Tasks still ready wait for the next driver, ahead of later arrivals.
        self.driver.pull_remote(self.flavor);
        let mut queue = self.driver.queue.borrow_mut();
        while let Some(ready) = queue.pop() {
            if let Ready::Task(task) = ready {
                if self.shared.is_shutdown() {
                    drop(task);
                } else {
                    self.flavor.remote.push(task);
                }
            }
        }
        drop(queue);
        // A shutdown that ran whole between a check above and its push has drained the queue
        // already: nobody else would drop what was pushed after (as in `schedule`). The fence
        // orders the pushes before the look, against `begin_shutdown`'s swap.
        fence(SeqCst);
        if self.shared.is_shutdown() {
            self.flavor.drain_remote();
        }
        // Later wakes of this call's future are ignored.
        self.flavor.generation.fetch_add(1, SeqCst);
        self.flavor.block_on_woken.store(false, SeqCst);
        if self.driver.active.get() {
            self.shared.block_on_active.deactivate();
        }
        self.shared.notify_idle_change();
    }
}

/// The run loop. `None` when the runtime shut down before the future finished.
fn drive<F: Future>(
    handle: &Handle,
    flavor: &CurrentThread,
    mut future: Pin<&mut F>,
) -> Option<F::Output> {
    let shared = &*handle.shared;
    let _context = handle.enter();
    let generation = flavor.generation.fetch_add(1, SeqCst) + 1;
    let driver = Driver {
        shared,
        queue: RefCell::new(Queue::new(flavor.run_order_seed)),
        block_on_queued: Cell::new(false),
        active: Cell::new(true),
        generation,
        current_task: Cell::new(None),
    };
    shared.block_on_active.activate();
    CURRENT_DRIVER.with(|d| d.set(&driver));
    let _leave = Leave {
        shared,
        flavor,
        driver: &driver,
    };
    let waker = Waker::from(Arc::new(BlockOnWaker {
        shared: handle.shared.clone(),
        generation,
    }));
    let mut cx = Context::from_waker(&waker);
    driver.wake_block_on();
    let is_idle = || driver.is_empty() && !driver.block_on_queued.get() && shared.is_idle();
    let park_cx = ParkContext {
        worker: DRIVER,
        is_idle: &is_idle,
    };
    // Registered before the first check, so an unhandled panic on another thread (a
    // blocking task) wakes the driver.
    let _fatal = (shared.config.unhandled_panic == UnhandledPanic::ShutdownRuntime)
        .then(|| shared.fatal.watch(&waker));
    // The driver is worker 0 of the metrics; one driver at a time writes them.
    let counters = &shared.counters.workers[DRIVER];
    let mut busy_since = Instant::now();
    let mut polls: u32 = 0;
    let mut completed = 0;
    loop {
        shared.fatal.check();
        if shared.is_shutdown() {
            publish_busy(counters, &mut busy_since);
            return None;
        }
        driver.pull_remote(flavor);
        let next = driver.queue.borrow_mut().pop();
        match next {
            Some(Ready::BlockOn) => {
                driver.block_on_queued.set(false);
                if let Poll::Ready(output) = coop::budget(|| future.as_mut().poll(&mut cx)) {
                    shared.registry.report_completed(completed);
                    // Nothing runs until the next `block_on`: the tasks this call completed
                    // must not stay linked until then. A call that never ran out of ready
                    // tasks (a burst spawned and joined) never took the idle path's walk, so
                    // the registry is settled here, as by the last worker to go to sleep.
                    // The walk stops if work arrived (the next driver comes for it).
                    shared.registry.settle(|| !shared.has_work(), || false);
                    // The stretch since the last park or tick: the next driver starts its own.
                    publish_busy(counters, &mut busy_since);
                    return Some(output);
                }
            }
            Some(Ready::Task(task)) => {
                metrics::add(&counters.polls, 1);
                driver.current_task.set(Some(task.raw()));
                let done = run_task(shared, task);
                driver.current_task.set(None);
                if done {
                    completed += 1;
                }
            }
            None => {
                shared
                    .registry
                    .report_completed(std::mem::take(&mut completed));
                // The driver is the only thread that runs tasks: nobody else goes idle later.
                shared
                    .registry
                    .sweep_if_worthwhile(|| !shared.has_work(), || false);
                // Waiting: not active, so a paused clock may jump (see the module docs).
                driver.active.set(false);
                shared.block_on_active.deactivate();
                // So is what this thread is nested in (a blocking call driving from inside).
                let suspended = context::suspend(shared, 0);
                metrics::add(&counters.parks, 1);
                publish_busy(counters, &mut busy_since);
                shared.park.park(&park_cx, None);
                busy_since = Instant::now();
                shared.block_on_active.activate();
                driver.active.set(true);
                drop(suspended);
                continue;
            }
        }
        polls = polls.wrapping_add(1);
        if polls % EVENT_INTERVAL == 0 {
            publish_busy(counters, &mut busy_since);
            // A driver that never runs out of tasks still reports its completions: the
            // registry's laps wait for them (see `registry`).
            shared
                .registry
                .report_completed(std::mem::take(&mut completed));
            // Ready tasks keep coming: still poll I/O and timers now and then.
            shared.park.park(&park_cx, Some(Duration::ZERO));
        }
    }
}

/// Adds the busy stretch since `since` to the driver's busy time and starts a new one.
fn publish_busy(counters: &WorkerCounters, since: &mut Instant) {
    let now = Instant::now();
    metrics::add_busy(counters, std::mem::replace(since, now), now);
}

/// Polls one task; `true` when it completed (timed as on the workers when task timing is on).
fn run_task(shared: &Shared, task: Notified) -> bool {
    match &shared.times {
        None => coop::budget(|| task.run()),
        Some(times) => shared.run_timed(task, times),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::{Flavor, Scheduler};
    use std::sync::Arc;
    use std::sync::atomic::Ordering::SeqCst;
    use std::time::{Duration, Instant};

    /// A `block_on` made while another thread holds the driver role polls its future on its
    /// own thread and lists its waker, to take the role over if the driver leaves first. The
    /// waker stayed listed after the call returned, until the driver left: beside a driver
    /// that keeps the role (a server's `main`), every such call that waited once left its
    /// waker behind, with a reference to the runtime's shared state.
    #[test]
    fn block_on_calls_beside_a_driver_leave_no_waker_behind() {
        let sched = Scheduler::builder()
            .flavor(Flavor::CurrentThread)
            .build()
            .unwrap();
        let handle = sched.handle();
        let gate = handle.spawn(std::future::pending::<()>());
        let open = gate.abort_handle();
        let driver = std::thread::spawn({
            let handle = handle.clone();
            move || handle.block_on(gate)
        });
        let flavor = handle.shared.current_thread.as_ref().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !flavor.driving.load(SeqCst) {
            assert!(Instant::now() < deadline, "the other thread never drove");
            std::thread::sleep(Duration::from_millis(1));
        }
        let references = Arc::strong_count(&handle.shared);
        for i in 0..100 {
            // Pending once (the yield wakes it at once): the call waits for the role once.
            let out = handle.block_on(async move {
                crate::yield_now().await;
                i
            });
            assert_eq!(out, i);
        }
        assert_eq!(
            flavor.role_waiters.lock().wakers.len(),
            0,
            "a returned block_on left its waker listed for the driver role"
        );
        assert_eq!(
            Arc::strong_count(&handle.shared),
            references,
            "returned block_on calls still hold the runtime"
        );
        open.abort();
        assert!(driver.join().unwrap().unwrap_err().is_cancelled());
    }

    /// A burst spawned and joined inside one `block_on` call: the call returns without the
    /// driver ever running out of ready tasks, and nothing runs until the next call. Every
    /// task cell holds a handle, so the runtime's reference count tells how many cells the
    /// registry still keeps after the call.
    #[test]
    fn a_burst_joined_inside_block_on_is_freed_when_block_on_returns() {
        // Any size shows it (no lap is asked for while the burst is spawned); a small one
        // keeps Miri's interpreted run short.
        const BURST: usize = if cfg!(miri) { 500 } else { 50_000 };
        let sched = Scheduler::builder()
            .flavor(Flavor::CurrentThread)
            .build()
            .unwrap();
        let handle = sched.handle().clone();
        let shared = handle.shared.clone();
        let baseline = Arc::strong_count(&shared);
        let sum = handle.block_on(async {
            let tasks: Vec<_> = (0..BURST).map(|i| crate::spawn(async move { i })).collect();
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, BURST * (BURST - 1) / 2);
        let kept = Arc::strong_count(&shared) - baseline;
        assert_eq!(
            kept, 0,
            "{kept} completed tasks still held by the registry after block_on returned"
        );
    }
}
