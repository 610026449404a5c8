//! `Scheduler` (the owner), `Handle` (a cheap clone for spawning) and their shared state.

use crate::activity::{self, ActivityCount};
use crate::blocking::BlockingPool;
use crate::context::{self, EnterGuard};
use crate::idle::Idle;
use crate::loom::atomic::{AtomicBool, Ordering::*, fence};
use crate::loom::{Condvar, Mutex};
use crate::park::Park;
use crate::queue::Inject;
use crate::registry::Registry;
use crate::report::{drop_payload, report};
use crate::task::raw::{self, Notified, Schedule};
use crate::task::{JoinError, JoinHandle, TaskId, TaskInfo, TaskName, panic_message};
use crate::worker::Remote;
use crate::{Builder, block_on};
use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A callback run on each runtime thread when it starts or stops.
pub(crate) type ThreadHook = Arc<dyn Fn() + Send + Sync>;
/// A callback for panics nobody will read.
pub(crate) type PanicHook = Arc<dyn Fn(&JoinError) + Send + Sync>;

/// Calls a user hook (`name` is its builder option) on a runtime thread. A panic in it is
/// contained: reported on stderr with the hook's name, and the thread carries on — a hook
/// must never take a worker (or the shutdown that waits for it) down with it.
pub(crate) fn call_hook(name: &str, hook: impl FnOnce()) {
    let Err(payload) = catch_unwind(AssertUnwindSafe(hook)) else {
        return;
    };
    let message = panic_message(&*payload).unwrap_or("<non-string payload>");
    let thread = std::thread::current();
    report(format_args!(
        "the {name} hook panicked on thread {:?}: {message}; the panic was caught and the \
         thread carries on",
        thread.name().unwrap_or("<unnamed>")
    ));
    // The payload's destructor is user code as well: contain it too.
    drop_payload(payload);
}

pub(crate) struct Config {
    pub(crate) thread_name: String,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<ThreadHook>,
    pub(crate) on_thread_stop: Option<ThreadHook>,
    pub(crate) slow_poll_threshold: Option<Duration>,
    pub(crate) on_unhandled_panic: Option<PanicHook>,
}

/// State shared by the workers, the handles and every task.
pub(crate) struct Shared {
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) injector: Inject,
    pub(crate) idle: Idle,
    pub(crate) park: Arc<dyn Park>,
    pub(crate) registry: Registry,
    pub(crate) blocking: BlockingPool,
    pub(crate) config: Config,
    shutdown: AtomicBool,
    /// Threads polling a `block_on` future, or woken to poll it.
    pub(crate) block_on_active: ActivityCount,
    workers_exited: Mutex<usize>,
    workers_exited_changed: Condvar,
    /// Live tasks already reported by `slow_poll_threshold` (each is reported once); a task
    /// leaves the set when it completes, so a long-running server does not accumulate ids.
    slow_reported: Mutex<HashSet<TaskId>>,
    /// `slow_reported` is not empty: completions skip its lock otherwise.
    any_slow_reported: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        remotes: Box<[Remote]>,
        park: Arc<dyn Park>,
        blocking: BlockingPool,
        config: Config,
    ) -> Shared {
        let workers = remotes.len();
        Shared {
            idle: Idle::new(workers),
            injector: Inject::new(),
            registry: Registry::new(workers),
            remotes,
            park,
            blocking,
            config,
            shutdown: AtomicBool::new(false),
            block_on_active: ActivityCount::new(),
            workers_exited: Mutex::new(0),
            workers_exited_changed: Condvar::new(),
            slow_reported: Mutex::new(HashSet::new()),
            any_slow_reported: AtomicBool::new(false),
        }
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    pub(crate) fn notify_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            self.park.unpark(worker);
        }
    }

    pub(crate) fn schedule_remote(&self, task: Notified) {
        self.injector.push(task);
        self.notify_parked(); // fences SeqCst after the push
        if self.shutdown.load(SeqCst) {
            // Shutdown may already have drained the injector: nobody else will.
            self.drain_injector();
        }
    }

    fn drain_injector(&self) {
        while let Some(task) = self.injector.pop() {
            drop(task);
        }
    }

    /// Any queued task anywhere.
    pub(crate) fn has_work(&self) -> bool {
        fence(SeqCst);
        !self.injector.is_empty() || self.remotes.iter().any(Remote::has_work)
    }

    /// Nothing in the runtime can act: no worker unparked, no `block_on` future woken or
    /// polled, no blocking call, no queued task — at one instant during the call. A double
    /// collect of the activity words around the queues; see the `activity` module.
    pub(crate) fn is_idle(&self) -> bool {
        self.is_idle_unless_exited(false)
    }

    /// [`is_idle`](Self::is_idle); with `workers_gone`, workers count as parked whatever their
    /// word says (they exited at shutdown, or are exiting and will not run a task again).
    pub(crate) fn is_idle_unless_exited(&self, workers_gone: bool) -> bool {
        let collect = || {
            (
                self.idle.word(),
                self.block_on_active.word(),
                self.blocking.activity_word(),
            )
        };
        let all_inactive = |&(workers, block_on, blocking): &(u64, u64, u64)| {
            (workers_gone || Idle::all_parked_in(workers))
                && ActivityCount::count(block_on) == 0
                && ActivityCount::count(blocking) == 0
        };
        activity::double_collect(collect, all_inactive, || !self.has_work())
    }

    pub(crate) fn worker_exited(&self) {
        *self.workers_exited.lock() += 1;
        self.workers_exited_changed.notify_all();
    }

    pub(crate) fn report_slow_poll(
        &self,
        id: TaskId,
        name: Option<&str>,
        took: Duration,
        threshold: Duration,
    ) {
        {
            let mut reported = self.slow_reported.lock();
            if !reported.insert(id) {
                return;
            }
            self.any_slow_reported.store(true, Relaxed);
        }
        let name = name.map(|n| format!(" ({n:?})")).unwrap_or_default();
        report(format_args!(
            "task {id}{name} ran for {took:?} in one poll (slow_poll_threshold is \
             {threshold:?}); a long poll blocks its worker: move blocking work to spawn_blocking \
             or add yields"
        ));
    }

    /// A task timed by `slow_poll_threshold` completed: it is no longer remembered as
    /// reported.
    pub(crate) fn forget_slow_poll(&self, id: TaskId) {
        if !self.any_slow_reported.load(Relaxed) {
            return;
        }
        let mut reported = self.slow_reported.lock();
        reported.remove(&id);
        if reported.is_empty() {
            self.any_slow_reported.store(false, Relaxed);
        }
    }

    /// How many live tasks are remembered as reported slow (for tests).
    #[cfg(test)]
    pub(crate) fn slow_reported_len(&self) -> usize {
        self.slow_reported.lock().len()
    }

    fn report_unhandled_panic(&self, error: &JoinError) {
        match &self.config.on_unhandled_panic {
            // Called on a worker, a blocking thread, or whichever thread drops a finished
            // `JoinHandle`: its panic must not unwind into any of them.
            Some(hook) => call_hook("on_unhandled_panic", || hook(error)),
            None => report(format_args!(
                "{error}; its JoinHandle was dropped, so nobody else will see this \
                 (asyncio: \"Task exception was never retrieved\")"
            )),
        }
    }
}

/// A handle to a running [`Scheduler`]: cheap to clone, `Send + Sync`, usable from any
/// thread to spawn tasks, run blocking work, or block on a future.
///
/// A handle does not keep the scheduler running: once the [`Scheduler`] is dropped or shut
/// down, tasks spawned through a handle are cancelled at once (their `JoinHandle` reports
/// a cancelled [`JoinError`]).
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(2).build().unwrap();
/// let handle = sched.handle();
/// let from_thread = std::thread::spawn(move || handle.block_on(handle.spawn(async { 7 })))
///     .join()
///     .unwrap();
/// assert_eq!(from_thread.unwrap(), 7);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.remotes.len())
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The handle of the runtime this thread runs in (a worker, a blocking thread, inside
    /// `block_on`, or under [`Handle::enter`]) — asyncio's `get_running_loop()`.
    ///
    /// # Panics
    ///
    /// Outside any runtime, with a message saying where it may be called.
    ///
    /// ```
    /// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
    /// let workers = sched.block_on(async { ciranda_scheduler::Handle::current().num_workers() });
    /// assert_eq!(workers, 1);
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "ciranda: Handle::current() called outside a runtime; call it from a task, from \
             inside block_on, or after Handle::enter()",
        )
    }

    /// The current runtime's handle, or `None` outside any runtime.
    pub fn try_current() -> Option<Handle> {
        context::current()
    }

    /// Makes this runtime current on this thread until the guard drops, so
    /// [`Handle::current`] and [`spawn`](crate::spawn) work from plain threads.
    pub fn enter(&self) -> EnterGuard {
        context::enter(self.clone())
    }

    /// Spawns a task — asyncio's `create_task`. It starts running in the background at once;
    /// the returned [`JoinHandle`] awaits its output. Dropping the handle detaches the task.
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(future, None)
    }

    pub(crate) fn spawn_named<F>(&self, future: F, name: Option<TaskName>) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.shared;
        let id = TaskId::next();
        let task = raw::allocate(future, self.clone(), id, name, 3);
        let hint = shared
            .current_worker_index()
            .unwrap_or(id.as_u64() as usize);
        // SAFETY: `allocate` made three references: one for the registry (moved in by
        // `insert`), one for the first queue entry and one for the JoinHandle.
        let (notified, join) = unsafe { (Notified::from_raw(task), JoinHandle::from_raw(task)) };
        if shared.registry.insert(task, hint) {
            shared.schedule(notified, false);
        } else {
            // Shut down: the registry is closed. Cancel right here.
            task.shutdown();
            task.drop_reference();
            drop(notified);
        }
        join
    }

    /// Runs a blocking function on the blocking pool — asyncio's `to_thread` /
    /// `run_in_executor`. The pool grows up to `max_blocking_threads`; idle threads exit
    /// after `blocking_keep_alive`.
    ///
    /// ```
    /// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
    /// let sum = sched.block_on(sched.handle().spawn_blocking(|| (1..=10).sum::<u32>()));
    /// assert_eq!(sum.unwrap(), 55);
    /// ```
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.blocking.spawn(self, f, None)
    }

    pub(crate) fn spawn_blocking_named<F, R>(&self, f: F, name: Option<TaskName>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.blocking.spawn(self, f, name)
    }

    /// Runs `future` to completion on the calling thread while the workers run everything
    /// else. Use it from threads that are not workers (`main`, a plain thread, a blocking
    /// task).
    ///
    /// While the future is pending the thread sleeps, after spinning for up to 20 µs when
    /// its recent wake-ups came within 2 µs (a receiver fed by tasks on the workers): a sleep
    /// and wake-up cost more than that. A thread whose wake-ups come later stops spinning
    /// after a few waits, and spins only in a short trial every 512 waits after that.
    ///
    /// # Panics
    ///
    /// On a worker thread: blocking a worker would stall every task queued on it, or deadlock
    /// if the future waits for one of them. Inside async code, `.await` the future instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on::block_on(self, future)
    }

    /// Snapshots of every live task (not yet completed) — asyncio's `all_tasks()`.
    /// Blocking-pool tasks are not listed.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.shared.registry.live_tasks()
    }

    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.shared.remotes.len()
    }

    /// `true` when nothing runs and nothing is queued: every worker is parked, no blocking
    /// task or `block_on` future is running.
    pub fn is_idle(&self) -> bool {
        self.shared.is_idle()
    }
}

impl Schedule for Handle {
    fn schedule(&self, task: Notified) {
        self.shared.schedule(task, false);
    }

    fn requeue(&self, task: Notified) {
        self.shared.schedule(task, true);
    }

    fn unhandled_panic(&self, error: &JoinError) {
        self.shared.report_unhandled_panic(error);
    }
}

/// The work-stealing scheduler: worker threads, their run queues, the blocking pool.
///
/// Dropping it shuts it down: workers stop after their current poll, every unfinished
/// task's future is dropped exactly once, and the blocking pool's threads are joined (a
/// blocking function that is already running is waited for; use
/// [`shutdown_timeout`](Scheduler::shutdown_timeout) to bound that wait).
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(4).build()?;
/// let handle = sched.handle();
/// let h = handle.spawn(async { 40 + 2 });
/// assert_eq!(sched.block_on(h)?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Scheduler {
    handle: Handle,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("workers", &self.threads.len())
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A builder with the defaults (one worker per available core).
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A scheduler with the default configuration.
    pub fn new() -> std::io::Result<Scheduler> {
        Builder::new().build()
    }

    pub(crate) fn from_parts(
        handle: Handle,
        threads: Vec<std::thread::JoinHandle<()>>,
    ) -> Scheduler {
        Scheduler { handle, threads }
    }

    /// A handle for spawning from anywhere.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Spawns a task; see [`Handle::spawn`].
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking function on the blocking pool; see [`Handle::spawn_blocking`].
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Drives `future` on the calling thread; see [`Handle::block_on`].
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Shuts down, waiting at most `timeout` for workers to finish their current poll and
    /// for running blocking tasks. Threads still busy after the timeout are detached; their
    /// tasks are cancelled as soon as the poll returns.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(2).build().unwrap();
    /// let pending = sched.spawn(std::future::pending::<()>());
    /// sched.shutdown_timeout(Duration::from_secs(5));
    /// assert!(pending.is_finished());
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        self.shutdown(Instant::now().checked_add(timeout));
    }

    fn shutdown(&mut self, deadline: Option<Instant>) {
        let shared = self.handle.shared.clone();
        if shared.shutdown.swap(true, SeqCst) {
            return;
        }
        // Before the workers go: a hook driving I/O lets `block_on` threads take over.
        shared.park.shutdown();
        for worker in 0..shared.remotes.len() {
            shared.park.unpark(worker);
        }
        // Shutting down from one of our own workers (a task dropped the scheduler): that
        // worker leaves its loop only after the current poll, so do not wait for it.
        let own_worker = shared.current_worker_index().is_some();
        let total = self.threads.len() - usize::from(own_worker);
        {
            let mut exited = shared.workers_exited.lock();
            while *exited < total {
                match deadline {
                    None => shared.workers_exited_changed.wait(&mut exited),
                    Some(deadline) => {
                        let now = Instant::now();
                        if now >= deadline {
                            break;
                        }
                        shared
                            .workers_exited_changed
                            .wait_for(&mut exited, deadline - now);
                    }
                }
            }
        }
        let me = std::thread::current().id();
        for thread in std::mem::take(&mut self.threads) {
            let joinable = thread.thread().id() != me
                && (thread.is_finished() || deadline.is_none_or(|d| Instant::now() < d));
            if joinable {
                let _ = thread.join();
            }
        }
        // Futures dropped below may look up the current runtime.
        let _context = self.handle.enter();
        shared.drain_injector();
        shared.registry.drain();
        shared.drain_injector();
        shared.blocking.shutdown(deadline);
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::Scheduler;
    use std::time::Duration;

    /// A task reported by `slow_poll_threshold` is remembered (so it is reported once) only
    /// while it lives: a long-running server must not accumulate the ids of every slow task
    /// it ever ran (issue 15, defect 6).
    #[test]
    fn slow_poll_reports_forget_finished_tasks() {
        let sched = Scheduler::builder()
            .worker_threads(1)
            .slow_poll_threshold(Duration::from_millis(1))
            .build()
            .unwrap();
        let shared = sched.handle().shared.clone();
        for _ in 0..5 {
            let slow = sched.handle().spawn(async {
                std::thread::sleep(Duration::from_millis(5));
            });
            sched.block_on(slow).unwrap();
        }
        // The worker forgets a task right after the poll that completed it, which may be
        // just after its JoinHandle saw the completion.
        let forgotten = |what: &str| {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while shared.slow_reported_len() != 0 {
                assert!(std::time::Instant::now() < deadline, "{what}");
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        forgotten("finished tasks are forgotten");
        // A live task that was slow once stays remembered: it is not reported again.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let live = sched.handle().spawn(async move {
            std::thread::sleep(Duration::from_millis(5));
            crate::yield_now().await;
            drop(tx);
            std::future::pending::<()>().await;
        });
        assert!(rx.recv_timeout(Duration::from_secs(30)).is_err());
        assert_eq!(shared.slow_reported_len(), 1);
        live.abort();
        assert!(sched.block_on(live).unwrap_err().is_cancelled());
        forgotten("an aborted task is forgotten too");
    }
}
