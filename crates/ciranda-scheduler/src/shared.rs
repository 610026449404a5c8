//! `Shared`: the state the workers, the handles and every task share, and the one place a
//! woken task is queued (`Shared::schedule`).

use crate::activity::{self, ActivityCount};
use crate::blocking::BlockingPool;
use crate::context;
use crate::coop;
use crate::current_thread::CurrentThread;
use crate::hooks::{PanicHook, ThreadHook, call_hook};
use crate::idle::Idle;
use crate::loom::atomic::{AtomicBool, Ordering::*, fence};
use crate::loom::{Condvar, Mutex};
use crate::metrics::Counters;
use crate::park::Park;
use crate::queue::Inject;
use crate::registry::Registry;
use crate::report::report;
use crate::task::raw::{Notified, TaskRef};
use crate::task::{JoinError, TaskId};
use crate::timing::TaskTimes;
use crate::unhandled::{Fatal, UnhandledPanic};
use crate::worker::{Stealable, Worker};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scheduler's configuration, as the builder left it.
pub(crate) struct Config {
    pub(crate) thread_name: String,
    pub(crate) thread_stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<ThreadHook>,
    pub(crate) on_thread_stop: Option<ThreadHook>,
    pub(crate) slow_poll_threshold: Option<Duration>,
    pub(crate) on_unhandled_panic: Option<PanicHook>,
    pub(crate) unhandled_panic: UnhandledPanic,
    pub(crate) task_timing: bool,
}

/// Armed around the hook's `unpark` of the worker a notifier chose: dropped only if that call
/// unwinds (it is forgotten otherwise), when it gives the worker back (`Idle::unpark_failed`).
struct UnparkFailed<'a> {
    idle: &'a Idle,
    worker: usize,
}

impl Drop for UnparkFailed<'_> {
    fn drop(&mut self) {
        self.idle.unpark_failed(self.worker);
    }
}

/// Why a task is being queued: it decides where a worker puts it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reason {
    /// Spawned, or made runnable by a waker or an abort: on a worker it goes to the LIFO
    /// slot, to run next.
    Woken,
    /// Woken while it ran (a yield, or its budget ran out), queued once its poll returned: it
    /// goes to the back of the queue, never ahead of others.
    Yielded,
}

/// State shared by the workers, the handles and every task.
pub(crate) struct Shared {
    pub(crate) stealable: Box<[Stealable]>,
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
    /// Failed by an unhandled panic under `UnhandledPanic::ShutdownRuntime`.
    pub(crate) fatal: Fatal,
    /// Per-worker counters for `Handle::metrics`.
    pub(crate) counters: Counters,
    /// Per-task times, when task timing is on.
    pub(crate) times: Option<TaskTimes>,
    /// The current-thread flavor's queues (`None`: the work-stealing flavor).
    pub(crate) current_thread: Option<CurrentThread>,
}

impl Shared {
    pub(crate) fn new(
        stealable: Box<[Stealable]>,
        park: Arc<dyn Park>,
        blocking: BlockingPool,
        config: Config,
    ) -> Shared {
        let workers = stealable.len();
        let times =
            (config.task_timing || config.slow_poll_threshold.is_some()).then(TaskTimes::new);
        Shared {
            idle: Idle::new(workers),
            injector: Inject::new(),
            registry: Registry::new(workers),
            stealable,
            park,
            blocking,
            config,
            shutdown: AtomicBool::new(false),
            block_on_active: ActivityCount::new(),
            workers_exited: Mutex::new(0),
            workers_exited_changed: Condvar::new(),
            fatal: Fatal::new(),
            counters: Counters::new(workers),
            times,
            current_thread: None,
        }
    }

    #[inline]
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    /// Tells the parking hook that a `block_on` future or a blocking call stopped running.
    /// The hook is user code, called here on threads that are not workers (a `block_on`
    /// caller's, a blocking thread): its panic is reported and contained, since it would
    /// otherwise replace the caller's result, or abort the process when `block_on` leaves
    /// by unwinding.
    pub(crate) fn notify_idle_change(&self) {
        call_hook("Park::notify_idle_change", || {
            self.park.notify_idle_change()
        });
    }

    pub(crate) fn notify_parked(&self) {
        if let Some(worker) = self.idle.worker_to_notify() {
            // The hook's `unpark` is user code: if it panics, the worker it did not wake goes
            // back to the sleepers (the panic goes on to the caller, as before).
            let failed = UnparkFailed {
                idle: &self.idle,
                worker,
            };
            self.park.unpark(worker);
            std::mem::forget(failed);
        }
    }

    /// Queues a task: locally when called on one of this scheduler's workers, else through
    /// the injector. The caller keeps `Shared` alive by other means (a spawn holds the new
    /// task's `JoinHandle`; a yield is queued by the worker or current-thread driver polling
    /// the task, which holds `Shared`).
    #[inline]
    pub(crate) fn schedule(&self, task: Notified, reason: Reason) {
        // SAFETY: `self` is live for the whole call, and the remote path's keep-alive is not
        // asked for.
        unsafe { Shared::schedule_task(self, task, reason, false) }
    }

    /// [`schedule`](Self::schedule) through the task's own handle (a wake), whose reference
    /// went into `task`. That handle lives in the task's cell and may be the last one to
    /// `Shared`: once the task is queued another thread may run, complete and free it, and
    /// `Shared` with it. On a worker of this scheduler the worker holds `Shared`; the remote
    /// paths keep a reference to the task while they use `Shared`, and release it only once
    /// no reference to `Shared` is in use, hence `this` by pointer: a reference argument must
    /// stay valid until its function returns.
    ///
    /// # Safety
    /// `this` points at a live `Shared` when the call begins, reached from the handle in
    /// `task`'s cell (or kept alive by the caller).
    #[inline]
    pub(crate) unsafe fn schedule_woken(this: *const Shared, task: Notified) {
        // SAFETY: forwarded from the caller; the keep-alive is asked for.
        unsafe { Shared::schedule_task(this, task, Reason::Woken, true) }
    }

    /// Every wake's, yield's and spawn's path, kept to one body so the compiler inlines the
    /// worker's local push into it (a second copy made it call a closure instead, about a
    /// dozen instructions a yield; `benches/examples/poll_probe.rs` counts them). `this` is a
    /// pointer so that the remote path's keep-alive, released last, is released under no
    /// reference argument to `Shared` (returning it to the caller instead cost the local path
    /// about four instructions a call).
    ///
    /// # Safety
    /// `this` points at a live `Shared` when the call begins; unless `keep_task_alive`, the
    /// caller keeps it alive until the call returns.
    unsafe fn schedule_task(
        this: *const Shared,
        task: Notified,
        reason: Reason,
        keep_task_alive: bool,
    ) {
        // SAFETY: live now (the caller's contract). A local reference, not a protected
        // argument: after the keep-alive's release below it is not used again.
        let shared = unsafe { &*this };
        if let Some(flavor) = &shared.current_thread {
            let keep = shared.schedule_current_thread(flavor, task);
            // Released after the call above returned: nothing borrows `Shared` any more.
            drop(keep);
            return;
        }
        let remote = context::with_worker(shared, |worker| match worker {
            Some(worker) => {
                worker.schedule_local(task, reason);
                None
            }
            None => Some(task),
        });
        if let Some(task) = remote {
            let keep = keep_task_alive.then(|| task.keep_alive());
            shared.schedule_remote(task);
            // Last: it may be the task's last reference, and the handle that frees may be
            // the last one to `Shared`.
            drop(keep);
        }
    }

    /// One FIFO for spawns, wakes and yields alike (asyncio's `call_soon`). Out of line, so
    /// the multi-thread flavor's schedule path stays small. Returns the keep-alive of a push
    /// from another thread (see [`CurrentThread::schedule`]).
    #[inline(never)]
    fn schedule_current_thread(&self, flavor: &CurrentThread, task: Notified) -> Option<TaskRef> {
        flavor.schedule(self, task)
    }

    /// The worker index to shard a new task's registry entry by.
    pub(crate) fn current_worker_index(&self) -> Option<usize> {
        context::with_worker(self, |worker| worker.map(Worker::index))
    }

    /// Which per-thread spawn counter the calling thread may write (it is its only writer):
    /// a worker's own, or the current-thread driver's while this thread drives. `None`:
    /// the shared remote counter, a read-modify-write.
    #[inline]
    pub(crate) fn spawn_counter(&self, worker: Option<usize>) -> Option<usize> {
        if worker.is_some() || self.current_thread.is_none() {
            return worker;
        }
        crate::current_thread::driver_index(self)
    }

    /// Queues a task through the injector and wakes a parked worker for it.
    pub(crate) fn schedule_remote(&self, task: Notified) {
        self.injector.push(task);
        self.notify_parked(); // fences SeqCst after the push
        if self.shutdown.load(SeqCst) {
            // Shutdown may already have drained the injector: nobody else will.
            self.drain_injector();
        }
    }

    /// Polls `task` with task timing on (a `slow_poll_threshold`, or `task_timing`): the
    /// poll is recorded for the dump and a slow one reported. `true` when it completed.
    pub(crate) fn run_timed(&self, task: Notified, times: &TaskTimes) -> bool {
        let (id, name) = (task.header().id, task.header().name().cloned());
        let started = Instant::now();
        let completed = coop::budget(|| task.run());
        let took = started.elapsed();
        // The table remembers the tasks reported (each is reported once) until they complete,
        // so a long-running server does not accumulate ids.
        let threshold = self.config.slow_poll_threshold;
        if times.polled(id, started, took, completed, threshold) {
            if let Some(threshold) = threshold {
                self.report_slow_poll(id, name.as_deref(), took, threshold);
            }
        }
        completed
    }

    /// Raises the shutdown flag; `false` if it was already raised (shutdown is under way).
    pub(crate) fn begin_shutdown(&self) -> bool {
        !self.shutdown.swap(true, SeqCst)
    }

    /// Waits until `total` workers have exited, or until `deadline`.
    pub(crate) fn wait_for_workers(&self, total: usize, deadline: Option<Instant>) {
        let mut exited = self.workers_exited.lock();
        self.workers_exited_changed
            .wait_while_until(&mut exited, deadline, |exited| *exited < total);
    }

    /// Drops every task in the injector (their queue references).
    pub(crate) fn drain_injector(&self) {
        while let Some(task) = self.injector.pop() {
            drop(task);
        }
        if let Some(flavor) = &self.current_thread {
            flavor.drain_remote();
        }
    }

    /// Any queued task anywhere.
    pub(crate) fn has_work(&self) -> bool {
        fence(SeqCst);
        !self.injector.is_empty()
            || self.stealable.iter().any(Stealable::has_work)
            || self
                .current_thread
                .as_ref()
                .is_some_and(CurrentThread::has_remote_work)
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
        let name = name.map(|n| format!(" ({n:?})")).unwrap_or_default();
        report(format_args!(
            "task {id}{name} ran for {took:?} in one poll (slow_poll_threshold is \
             {threshold:?}); a long poll blocks its worker: move blocking work to spawn_blocking \
             or add yields"
        ));
    }

    /// How many live tasks are remembered as reported slow (for tests).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn slow_reported_len(&self) -> usize {
        self.times.as_ref().map_or(0, TaskTimes::reported_slow_len)
    }

    pub(crate) fn report_unhandled_panic(&self, error: &JoinError) {
        match &self.config.on_unhandled_panic {
            // Called on a worker, a blocking thread, or whichever thread drops a finished
            // `JoinHandle`: its panic must not unwind into any of them.
            Some(hook) => call_hook("on_unhandled_panic", || hook(error)),
            None => report(format_args!(
                "{error}; its JoinHandle was dropped, so nobody else will see this \
                 (asyncio: \"Task exception was never retrieved\")"
            )),
        }
        if self.config.unhandled_panic == UnhandledPanic::ShutdownRuntime {
            self.fatal.fail(error);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Shared;
    use crate::Scheduler;
    use std::time::{Duration, Instant};

    /// How many tasks stay remembered as slow once the worker is done with them. A task's
    /// completion is published (and its `JoinHandle` resolved) inside its last poll; the worker
    /// forgets it just after that poll returns, so the caller may look a moment too early:
    /// wait (generously) for the count to drop.
    fn remembered_after_settling(shared: &Shared) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let remembered = shared.slow_reported_len();
            if remembered == 0 || Instant::now() >= deadline {
                return remembered;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

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
        assert_eq!(
            remembered_after_settling(&shared),
            0,
            "finished tasks are forgotten"
        );
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
        assert_eq!(
            remembered_after_settling(&shared),
            0,
            "an aborted task is forgotten too"
        );
    }
}
