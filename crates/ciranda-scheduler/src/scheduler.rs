//! `Scheduler`: the owner of the worker threads; dropping it shuts the runtime down.

use crate::hooks::call_hook;
use crate::{Builder, Handle, JoinHandle};
use std::fmt;
use std::future::Future;
use std::time::{Duration, Instant};

/// The work-stealing scheduler: worker threads, their run queues, the blocking pool.
///
/// Dropping it shuts it down: workers stop after their current poll (on the current-thread
/// flavor, so does a thread driving it in `Handle::block_on`), every unfinished task's
/// future is dropped exactly once, and the blocking pool's threads are joined (a blocking
/// function that is already running is waited for; use
/// [`shutdown_timeout`](Scheduler::shutdown_timeout) to bound that wait).
///
/// The unfinished futures are dropped on the thread that shuts down, one after another. A
/// destructor among them may wait there, through [`Handle::block_on`], for another task of
/// this scheduler (say, a guard that stops and awaits the task it started): that task,
/// which will never run again, is cancelled as its `JoinHandle` is polled, so the wait ends
/// with a cancelled [`JoinError`](crate::JoinError) instead of lasting for ever.
///
/// # Examples
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
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking function on the blocking pool; see [`Handle::spawn_blocking`].
    #[track_caller]
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

    /// Shuts down, waiting at most `timeout` for workers (or the thread driving a
    /// current-thread scheduler) to finish their current poll and for running blocking tasks
    /// (and for the threads' `on_thread_stop` hooks). Threads still busy after the timeout
    /// are detached; their tasks are cancelled as soon as the poll returns.
    ///
    /// # Examples
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
        if !shared.begin_shutdown() {
            return;
        }
        // Before the workers go: a hook driving I/O lets `block_on` threads take over. The
        // hook's methods are user code: one that panics must not stop the shutdown half-way
        // (the flag raised but workers left asleep, every future kept, the blocking pool
        // running), so a panic is reported and the shutdown goes on.
        call_hook("Park::shutdown", || shared.park.shutdown());
        for worker in 0..shared.stealable.len() {
            call_hook("Park::unpark", || shared.park.unpark(worker));
        }
        if let Some(flavor) = &shared.current_thread {
            // A thread driving it (through a handle) stops driving, once its current poll is
            // over, as a worker does: wait for that, so that every future is dropped below,
            // before the shutdown returns (not on the driving thread itself).
            call_hook("Park::unpark", || shared.park.unpark(0));
            flavor.wait_for_driver(deadline);
        }
        // Shutting down from one of our own workers (a task dropped the scheduler): that
        // worker leaves its loop only after the current poll, so do not wait for it.
        let own_worker = shared.current_worker_index().is_some();
        let total = self.threads.len() - usize::from(own_worker);
        shared.wait_for_workers(total, deadline);
        let me = std::thread::current().id();
        for thread in std::mem::take(&mut self.threads) {
            let joinable = thread.thread().id() != me
                && (thread.is_finished() || deadline.is_none_or(|d| Instant::now() < d));
            if joinable {
                let _ = thread.join();
            }
        }
        // Futures dropped below may look up the current runtime. Not while the thread is torn
        // down (a scheduler kept in a thread-local): its context is gone, and `enter` would
        // panic in a thread-local's destructor, which aborts the process.
        let _context = crate::context::try_enter(self.handle.clone());
        shared.drain_injector();
        {
            // A destructor the drain runs may wait, in `block_on`, for another task of this
            // runtime that the drain has not reached yet: that task's `JoinHandle` then
            // cancels it in place, as the drain would, instead of waiting for ever for the
            // drain it is called from (see `RawTask::cancel_if_drained_here`).
            let _draining = crate::context::enter_drain(&shared);
            shared.registry.drain();
        }
        shared.drain_injector();
        shared.blocking.shutdown(deadline);
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}
