//! `Handle`: a cheap clone of the runtime for spawning, running blocking work and blocking
//! on a future from any thread.

use crate::RuntimeMetrics;
use crate::block_on;
use crate::context::{self, EnterGuard};
use crate::shared::{Reason, Shared};
use crate::task::raw::{self, Notified, Schedule};
use crate::task::{JoinError, JoinHandle, TaskDump, TaskId, TaskInfo, TaskName};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

/// A handle to a running [`Scheduler`](crate::Scheduler): cheap to clone, `Send + Sync`, usable from any
/// thread to spawn tasks, run blocking work, or block on a future.
///
/// A handle does not keep the scheduler running: once the [`Scheduler`](crate::Scheduler) is dropped or shut
/// down, tasks spawned through a handle are cancelled at once (their `JoinHandle` reports
/// a cancelled [`JoinError`]).
///
/// # Examples
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
            .field("flavor", &self.flavor())
            .field("workers", &self.shared.stealable.len())
            .finish_non_exhaustive()
    }
}

/// Two handles are equal when they belong to the same runtime — asyncio's
/// `get_running_loop() is loop`.
///
/// ```
/// let a = ciranda_scheduler::Scheduler::new().unwrap();
/// let b = ciranda_scheduler::Scheduler::new().unwrap();
/// assert_eq!(a.handle(), a.handle());
/// assert_ne!(a.handle(), b.handle());
/// assert!(a.block_on(async { ciranda_scheduler::Handle::current() == a.handle() }));
/// ```
impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Handle {}

impl Handle {
    /// The handle of the runtime this thread runs in (a worker, a blocking thread, inside
    /// `block_on`, or under [`Handle::enter`]) — asyncio's `get_running_loop()`.
    ///
    /// # Panics
    ///
    /// Outside any runtime, with a message saying where it may be called.
    ///
    /// # Examples
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
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with_name(future, None)
    }

    /// [`spawn`](Self::spawn), with an optional name (`task::Builder` passes one).
    #[track_caller]
    pub(crate) fn spawn_with_name<F>(
        &self,
        future: F,
        name: Option<TaskName>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Handle::spawn_owned(self.clone(), future, name)
    }

    /// [`spawn`](Self::spawn), but the task reports `location` as its spawn location (in
    /// [`tasks`](Self::tasks), [`dump`](Self::dump) and its tracing span) instead of this
    /// call's line. For code that spawns on its caller's behalf after the call that asked
    /// for it has returned (a future that spawns when first polled): that call takes
    /// `Location::caller()` under `#[track_caller]` and passes it here.
    ///
    /// # Examples
    ///
    /// ```
    /// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
    /// let handle = sched.handle();
    /// let asked_here = std::panic::Location::caller();
    /// let task = handle.spawn_at(std::future::pending::<()>(), asked_here);
    /// assert_eq!(handle.tasks()[0].location(), asked_here);
    /// task.abort();
    /// ```
    pub fn spawn_at<F>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Handle::spawn_owned_at(self.clone(), future, None, location)
    }

    /// Spawns `future` with `handle` as the task's own reference to its scheduler, so a
    /// caller that owns a handle already (the free [`spawn`](crate::spawn), from
    /// [`Handle::current`]) does not clone it once more and drop its own: two fewer
    /// read-modify-writes of the runtime's shared reference count per spawn.
    #[track_caller]
    #[inline]
    pub(crate) fn spawn_owned<F>(
        handle: Handle,
        future: F,
        name: Option<TaskName>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Handle::spawn_owned_at(handle, future, name, Location::caller())
    }

    /// [`spawn_owned`](Self::spawn_owned), with the spawn location given.
    fn spawn_owned_at<F>(
        handle: Handle,
        future: F,
        name: Option<TaskName>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (worker, parent) = crate::context::spawner(&handle.shared);
        let shared_ptr = Arc::as_ptr(&handle.shared);
        let id = TaskId::next();
        let (registered, raw::NewTask { notified, join }) =
            raw::allocate_registered_at(future, handle, id, name, location, parent);
        // SAFETY: the task's cell owns `handle`, so the `Shared` lives as long as the cell,
        // which is freed only with the task's last reference (the handle is dropped in
        // `dealloc`). `join` is one of those references and is held until this function
        // returns, after the last use of `shared`.
        let shared = unsafe { &*shared_ptr };
        let hint = worker.unwrap_or(id.as_u64() as usize);
        match shared.registry.insert(registered, hint) {
            Ok(()) => {
                shared.counters.count_spawn(shared.spawn_counter(worker));
                if let Some(times) = &shared.times {
                    times.spawned(id);
                }
                shared.schedule(notified, Reason::Woken)
            }
            Err(refused) => {
                // Shut down: the registry is closed. Cancel right here.
                refused.shutdown();
                drop(refused);
                drop(notified);
            }
        }
        join
    }

    /// Runs a blocking function on the blocking pool — asyncio's `to_thread` /
    /// `run_in_executor`. The pool grows up to `max_blocking_threads`; idle threads exit
    /// after `blocking_keep_alive`.
    ///
    /// # Examples
    ///
    /// ```
    /// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
    /// let sum = sched.block_on(sched.handle().spawn_blocking(|| (1..=10).sum::<u32>()));
    /// assert_eq!(sum.unwrap(), 55);
    /// ```
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.shared.blocking.spawn(self, f, None)
    }

    /// [`spawn_blocking`](Self::spawn_blocking), with an optional name.
    #[track_caller]
    pub(crate) fn spawn_blocking_with_name<F, R>(
        &self,
        f: F,
        name: Option<TaskName>,
    ) -> JoinHandle<R>
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
    /// While the future is pending the thread sleeps, after spinning for a few microseconds when
    /// its recent wake-ups came that fast (a receiver fed by tasks on the workers): a sleep and
    /// wake-up cost more than that. A thread whose wake-ups come later stops spinning after a
    /// few waits, and spins only in an occasional short trial after that (the constants and
    /// their reasons are in the scheduler's `spin` module).
    ///
    /// On a [`Flavor::CurrentThread`](crate::Flavor) runtime the calling thread runs every
    /// task while it waits (one thread at a time drives; a second thread calling `block_on`
    /// meanwhile polls its own future and takes over when the first returns).
    ///
    /// # Panics
    ///
    /// On a worker thread: blocking a worker would stall every task queued on it, or deadlock
    /// if the future waits for one of them. Inside async code, `.await` the future instead.
    /// Likewise inside a task of a current-thread runtime (re-entrant `block_on`).
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        block_on::block_on(self, future)
    }

    /// Snapshots of every live task (not yet completed) — asyncio's `all_tasks()`.
    /// Blocking-pool tasks are not listed.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        crate::dump::live_tasks(&self.shared)
    }

    /// A snapshot of the runtime's counters: tasks, queues, blocking threads and, per
    /// worker, polls, steals, parks and busy time. See [`RuntimeMetrics`].
    pub fn metrics(&self) -> RuntimeMetrics {
        crate::metrics::snapshot(&self.shared)
    }

    /// Every live task with its parent, spawn location, state and poll count, drawn as a
    /// tree by its `Display` — asyncio's `pstree`. See [`TaskDump`].
    pub fn dump(&self) -> TaskDump {
        TaskDump::new(crate::dump::live_tasks(&self.shared))
    }

    /// The number of worker threads; 1 for [`Flavor::CurrentThread`](crate::Flavor) (the
    /// thread in `block_on`).
    pub fn num_workers(&self) -> usize {
        self.shared.stealable.len().max(1)
    }

    /// The runtime's flavor.
    ///
    /// ```
    /// use ciranda_scheduler::{Flavor, Scheduler};
    /// let sched = Scheduler::builder().flavor(Flavor::CurrentThread).build().unwrap();
    /// assert_eq!(sched.handle().flavor(), Flavor::CurrentThread);
    /// ```
    pub fn flavor(&self) -> crate::Flavor {
        if self.shared.current_thread.is_some() {
            crate::Flavor::CurrentThread
        } else {
            crate::Flavor::MultiThread
        }
    }

    /// `true` when nothing runs and nothing is queued: every worker is parked, no blocking
    /// task or `block_on` future is running (a blocking task or `block_on` future that waits
    /// in a nested `block_on` of this runtime counts as waiting, not running).
    pub fn is_idle(&self) -> bool {
        self.shared.is_idle()
    }
}

impl Schedule for Handle {
    unsafe fn schedule(this: *const Self, task: Notified) {
        // SAFETY: `this` is live here (the caller's contract). `Shared` is reached through
        // the `Arc`'s pointer and no reference to the handle outlives this statement: the
        // handle may be freed with the task once it is queued. `Shared` itself stays alive
        // while it is used: a worker of this scheduler holds it, or else the keep-alive that
        // `Shared::schedule_woken` takes on its remote path does, released last.
        let shared = unsafe { Arc::as_ptr(&(*this).shared) };
        // SAFETY: `shared` is live now, reached from the handle in `task`'s cell.
        unsafe { Shared::schedule_woken(shared, task) }
    }

    unsafe fn requeue(this: *const Self, task: Notified) {
        // A yield is queued by whoever is polling the task: one of this scheduler's workers,
        // or the current-thread driver, which runs inside a `block_on` of this scheduler. Both
        // hold `Shared` for the whole call, so, unlike a wake's, this push needs no keep-alive
        // of the task; `Shared::schedule` is the spawn's path, whose local push the compiler
        // inlines (through `schedule_woken` it made an out-of-line call of about ten more
        // instructions a yield: `benches/examples/poll_probe.rs` under callgrind).
        // SAFETY: `this` is live here (the caller's contract), and no reference to the
        // handle outlives this statement.
        let shared = unsafe { &*Arc::as_ptr(&(*this).shared) };
        shared.schedule(task, Reason::Yielded);
    }

    fn unhandled_panic(&self, error: &JoinError) {
        self.shared.report_unhandled_panic(error);
    }

    fn drains_here(&self) -> bool {
        crate::context::drains(&self.shared)
    }
}
