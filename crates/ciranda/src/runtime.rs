//! `Runtime`: the scheduler with the reactor plugged in — asyncio's event loop.

use crate::driver::ReactorParkHook;
use crate::task::{JoinError, JoinHandle, TaskInfo};
use ciranda_reactor::Reactor;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// A ciranda runtime: work-stealing worker threads, an I/O reactor with timers, and a
/// blocking pool — asyncio's event loop, on every core.
///
/// Most programs use [`ciranda::run`](crate::run) or `#[ciranda::main]`; build a `Runtime`
/// yourself to configure it, to keep it across several `block_on` calls, or to shut it down
/// with a timeout.
///
/// Dropping the runtime shuts it down: every unfinished task's future is dropped exactly
/// once (their `JoinHandle`s report cancellation), then the reactor closes.
///
/// # Examples
///
/// ```
/// let rt = ciranda::Runtime::builder().worker_threads(2).build()?;
/// let greeting = rt.block_on(async {
///     ciranda::time::sleep(std::time::Duration::from_millis(1)).await;
///     ciranda::spawn(async { "hello" }).await.unwrap()
/// });
/// assert_eq!(greeting, "hello");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    // Field order is drop order: the scheduler (and every task future) goes first, while
    // the reactor its sockets and timers deregister from is still alive.
    scheduler: Option<ciranda_scheduler::Scheduler>,
    handle: Handle,
}

/// A cheap, cloneable handle to a [`Runtime`]: spawn tasks, run blocking work, block on
/// futures, list tasks — from any thread.
///
/// # Examples
///
/// ```
/// let rt = ciranda::Runtime::new()?;
/// let handle = rt.handle();
/// let n = std::thread::spawn(move || handle.block_on(async { 6 * 7 })).join().unwrap();
/// assert_eq!(n, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    scheduler: ciranda_scheduler::Handle,
    reactor: Reactor,
}

/// Two handles are equal when they belong to the same runtime — asyncio's
/// `get_running_loop() is loop`.
///
/// ```
/// let rt = ciranda::Runtime::new()?;
/// let other = ciranda::Runtime::new()?;
/// assert!(rt.block_on(async { ciranda::Handle::current() == rt.handle() }));
/// assert_ne!(rt.handle(), other.handle());
/// # Ok::<(), std::io::Error>(())
/// ```
impl PartialEq for Handle {
    fn eq(&self, other: &Handle) -> bool {
        self.scheduler == other.scheduler
    }
}

impl Eq for Handle {}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("flavor", &self.scheduler.flavor())
            .field("workers", &self.scheduler.num_workers())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("handle", &self.handle)
            .finish()
    }
}

/// Configures a [`Runtime`].
///
/// The options that belong to the scheduler are forwarded to
/// [`ciranda_scheduler::Builder`] (one line each in the `forward_to_scheduler!` list below);
/// the builder adds the reactor's (`start_paused`) and wraps the thread start hook so every
/// runtime thread enters the reactor.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let rt = ciranda::Runtime::builder()
///     .worker_threads(2)
///     .thread_name("app")
///     .max_blocking_threads(16)
///     .slow_poll_threshold(Duration::from_millis(100))
///     .build()?;
/// # drop(rt);
/// // asyncio's order: one thread, tasks run in the order they were spawned or woken.
/// let rt = ciranda::Runtime::builder().flavor(ciranda::Flavor::CurrentThread).build()?;
/// let order = rt.block_on(async {
///     let tasks: Vec<_> = (0..3).map(|i| ciranda::spawn(async move { i })).collect();
///     ciranda::gather(tasks).await
/// });
/// assert_eq!(order.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 1, 2]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Builder {
    scheduler: ciranda_scheduler::Builder,
    start_paused: bool,
    /// The user's start hook, run after the runtime's own (which enters the reactor).
    on_thread_start: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("scheduler", &self.scheduler)
            .field("start_paused", &self.start_paused)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .finish()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

/// Defines `Builder` methods that pass their arguments on to the scheduler's builder method
/// of the same name: `doc comment, fn name(arg: Type);` per option. Adding an option is one
/// entry here.
macro_rules! forward_to_scheduler {
    ($($(#[$attr:meta])* fn $name:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $($arg: $ty),*) -> Self {
                self.scheduler = self.scheduler.$name($($arg),*);
                self
            }
        )*
    };
}

impl Builder {
    /// The defaults: one worker per core, up to 512 blocking threads, a real clock.
    pub fn new() -> Builder {
        Builder {
            scheduler: ciranda_scheduler::Builder::new(),
            start_paused: false,
            on_thread_start: None,
        }
    }

    forward_to_scheduler! {
        /// The flavor (default [`Flavor::MultiThread`](crate::Flavor)):
        /// [`Flavor::CurrentThread`](crate::Flavor) runs every task on the thread in
        /// `block_on`, in the order it was spawned or woken (asyncio's order); see
        /// [`Flavor`](crate::Flavor).
        fn flavor(flavor: crate::Flavor);

        /// Number of worker threads (default: available parallelism; zero is rejected by
        /// [`build`](Self::build)). Ignored by the current-thread flavor.
        fn worker_threads(n: usize);

        /// Prefix of thread names (`{name}-worker-{i}`, `{name}-blocking`); a name containing
        /// a NUL byte is rejected by [`build`](Self::build).
        fn thread_name(name: impl Into<String>);

        /// Stack size of every runtime thread. A size the OS refuses makes
        /// [`build`](Self::build) fail (or, on the current-thread flavor, the first
        /// `spawn_blocking` panic) with a message naming this option.
        fn thread_stack_size(bytes: usize);

        /// Upper bound of the blocking pool (default 512; zero is rejected by `build`).
        fn max_blocking_threads(n: usize);

        /// How long an idle blocking thread lingers (default 10 s).
        fn blocking_keep_alive(keep_alive: Duration);

        /// asyncio's debug mode: a task poll longer than `threshold` is reported once on stderr
        /// with the task's id and name.
        fn slow_poll_threshold(threshold: Duration);

        /// Called with a detached task's panic (nobody else will see it); default: stderr. A
        /// panic in the hook itself is caught and reported on stderr: it never takes a worker
        /// down.
        fn on_unhandled_panic(f: impl Fn(&JoinError) + Send + Sync + 'static);

        /// Called on every runtime thread right before it exits. A panic in it is caught and
        /// reported on stderr; the thread still exits and shutdown still returns.
        fn on_thread_stop(f: impl Fn() + Send + Sync + 'static);

        /// What to do with a panic in a task whose `JoinHandle` was dropped: the default,
        /// [`UnhandledPanic::Ignore`](crate::UnhandledPanic::Ignore), reports it and carries
        /// on; [`UnhandledPanic::ShutdownRuntime`](crate::UnhandledPanic::ShutdownRuntime)
        /// makes `block_on` (and [`run`]) panic with that task's message. A panic
        /// whose `JoinHandle` is still held never counts: awaiting it returns the `JoinError`.
        ///
        /// ```
        /// use ciranda::UnhandledPanic;
        /// let rt = ciranda::Runtime::builder()
        ///     .unhandled_panic(UnhandledPanic::ShutdownRuntime)
        ///     .build()?;
        /// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ///     rt.block_on(async {
        ///         drop(ciranda::spawn(async { panic!("lost") })); // detached
        ///         std::future::pending::<()>().await
        ///     })
        /// }));
        /// assert!(caught.unwrap_err().downcast::<String>().unwrap().contains("lost"));
        /// # Ok::<(), std::io::Error>(())
        /// ```
        fn unhandled_panic(policy: crate::UnhandledPanic);

        /// Times every task poll, so [`Handle::dump`] shows each task's time in poll and time
        /// since its last poll; off by default (two clock reads per poll). A
        /// [`slow_poll_threshold`](Self::slow_poll_threshold) turns it on too.
        fn task_timing(on: bool);

        /// Current-thread flavor only: runs ready tasks in a pseudo-random order fixed by
        /// `seed` instead of asyncio's FIFO, to test code against other interleavings; the
        /// same seed replays the same order while the program's inputs are the same (a paused
        /// clock, no real I/O). With the multi-thread flavor [`build`](Self::build) fails with
        /// `InvalidInput`.
        ///
        /// ```
        /// // Code that assumes one `yield_now` lets a just-spawned task run first: true in
        /// // asyncio's FIFO order, not in every order.
        /// use std::sync::Arc;
        /// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        ///
        /// fn child_ran_first(seed: Option<u64>) -> bool {
        ///     let mut builder = ciranda::Runtime::builder().flavor(ciranda::Flavor::CurrentThread);
        ///     if let Some(seed) = seed {
        ///         builder = builder.run_order_seed(seed);
        ///     }
        ///     builder.build().unwrap().block_on(async {
        ///         let ran = Arc::new(AtomicBool::new(false));
        ///         let flag = ran.clone();
        ///         let child = ciranda::spawn(async move { flag.store(true, SeqCst) });
        ///         ciranda::task::yield_now().await;
        ///         let first = ran.load(SeqCst);
        ///         child.await.unwrap();
        ///         first
        ///     })
        /// }
        /// assert!(child_ran_first(None)); // FIFO: always
        /// let seed = (0..64).find(|&s| !child_ran_first(Some(s))).expect("a seed breaks it");
        /// assert!(!child_ran_first(Some(seed))); // and the same seed replays it
        /// ```
        fn run_order_seed(seed: u64);
    }

    /// Called on every runtime thread (workers and blocking threads) when it starts, inside
    /// the runtime: [`Handle::current`] works there. A panic in it is caught and reported on
    /// stderr; the thread then serves as usual.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let counter = started.clone();
    /// let rt = ciranda::Runtime::builder()
    ///     .worker_threads(2)
    ///     .on_thread_start(move || {
    ///         counter.fetch_add(1, SeqCst);
    ///     })
    ///     .build()?;
    /// rt.block_on(async { ciranda::spawn(async {}).await.unwrap() });
    /// drop(rt);
    /// assert!(started.load(SeqCst) >= 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Starts with the clock paused (for tests): time only moves when every task is idle,
    /// and then jumps straight to the next timer; [`time::advance`](crate::time::advance)
    /// moves it by hand.
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    ///
    /// `InvalidInput` naming the option for bad values (zero workers, zero blocking
    /// threads, a NUL byte in the thread name); the OS error when the poller or a thread
    /// cannot be created.
    ///
    /// ```
    /// let err = ciranda::Runtime::builder().thread_name("bad\0name").build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("thread_name"));
    /// ```
    pub fn build(self) -> io::Result<Runtime> {
        let reactor = Reactor::builder()
            .start_paused(self.start_paused)
            // A timer wheel per worker: workers arm and cancel timers without meeting on a
            // lock. Other threads (a `block_on` caller, the blocking pool) share them. Past
            // `MAX_TIMER_WHEELS` workers share wheels (each is about 22 KB even when empty).
            .timer_shards(self.scheduler.num_workers().clamp(1, MAX_TIMER_WHEELS))
            .timer_shard_of_thread(ciranda_scheduler::worker_index)
            .blocking_spawner(Box::new(|job: Box<dyn FnOnce() + Send>| {
                // Resolve on the pool of whatever runtime the caller runs in; a plain
                // thread otherwise (the reactor must not keep a runtime alive).
                match ciranda_scheduler::Handle::try_current() {
                    Some(handle) => drop(handle.spawn_blocking(job)),
                    None => drop(std::thread::spawn(job)),
                }
            }))
            .build()?;
        // Not handles: both live in the scheduler's shared state, which a task waker kept
        // anywhere keeps alive; only `Runtime`, `Handle` and the threads that entered the
        // reactor may keep it from shutting down (see `Handle::block_on`).
        let for_threads = reactor.downgrade();
        let for_park = reactor.downgrade();
        let user_start = self.on_thread_start;
        let scheduler = self
            .scheduler
            .on_thread_start(move || {
                // Workers and blocking threads see this runtime's reactor for their whole
                // life; the thread-local slot drops its clone when the thread exits.
                std::mem::forget(for_threads.enter());
                if let Some(start) = &user_start {
                    start();
                }
            })
            .park_hook(move |workers| ReactorParkHook::new(for_park, workers))
            .build()?;
        let handle = Handle {
            scheduler: scheduler.handle(),
            reactor,
        };
        Ok(Runtime {
            scheduler: Some(scheduler),
            handle,
        })
    }
}

/// The most timer wheels a runtime keeps: one per worker up to this many workers, then
/// worker `i` uses wheel `i % MAX_TIMER_WHEELS`.
const MAX_TIMER_WHEELS: usize = 256;

impl Runtime {
    /// A runtime with the default configuration.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread — asyncio's `run_until_complete`. Tasks
    /// it spawns run on the workers; on the current-thread flavor, on this thread, in the
    /// order they were spawned or woken (and only while some thread is in `block_on`).
    ///
    /// # Panics
    ///
    /// On a worker thread (blocking a worker would stall it): `.await` instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// Runs a blocking function on the blocking pool; see [`crate::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.handle.spawn_blocking(f)
    }

    /// Makes this runtime current on this thread until the guard drops; see
    /// [`Handle::enter`].
    pub fn enter(&self) -> EnterGuard<'_> {
        self.handle.enter()
    }

    /// A handle usable from any thread.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Shuts down — asyncio's `loop.close()` — waiting at most `timeout` for workers to
    /// finish their current poll and for running blocking calls (and for the threads'
    /// `on_thread_stop` hooks). Bytes a [`fs::File`](crate::fs::File) or a standard output
    /// stream accepted and had not started writing are still written; a write to a pipe, a
    /// FIFO or a terminal is waited for no longer than `timeout` either.
    pub fn shutdown_timeout(mut self, timeout: Duration) {
        if let Some(scheduler) = self.scheduler.take() {
            // As in `drop`: not entered during the thread's teardown.
            let _reactor = self.handle.reactor.try_enter();
            // Such writes, whose jobs the shutdown drops unrun, are made by the drop: bounded
            // by the deadline where they may wait for a reader (see `io::late_write`).
            let _deadline = crate::io::late_write::ShutdownDeadline::enter(
                std::time::Instant::now().checked_add(timeout),
            );
            scheduler.shutdown_timeout(timeout);
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(scheduler) = self.scheduler.take() {
            // Futures dropped during shutdown may deregister sockets and timers. A runtime
            // kept in a thread-local may be dropped after the thread's reactor context is gone:
            // `enter` would panic there, which aborts the process in a thread-local's
            // destructor. Sockets and timers hold their reactor anyway; only
            // `Reactor::current()` in a destructor then finds nothing.
            let _reactor = self.handle.reactor.try_enter();
            drop(scheduler);
        }
    }
}

impl Handle {
    /// The runtime this thread runs in — asyncio's `get_running_loop()`.
    ///
    /// # Panics
    ///
    /// Outside a runtime, with a message saying where it can be called.
    ///
    /// # Examples
    ///
    /// ```
    /// ciranda::run(async {
    ///     let handle = ciranda::Handle::current();
    ///     let waiter = handle.spawn(std::future::pending::<()>());
    ///     assert!(handle.tasks().iter().any(|t| t.id() == waiter.id()));
    ///     waiter.abort();
    /// });
    /// ```
    #[track_caller]
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "ciranda: Handle::current() called outside a runtime; call it inside \
             ciranda::run / Runtime::block_on, from a spawned task, or after Handle::enter()",
        )
    }

    /// The current runtime's handle, or `None` outside any runtime.
    pub fn try_current() -> Option<Handle> {
        Some(Handle {
            scheduler: ciranda_scheduler::Handle::try_current()?,
            reactor: Reactor::try_current()?,
        })
    }

    /// Makes this runtime current on this thread until the guard drops (so `spawn`,
    /// `sleep` and sockets work from a plain thread).
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard {
            _reactor: self.reactor.enter(),
            _scheduler: self.scheduler.enter(),
        }
    }

    /// Spawns a task; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.scheduler.spawn(future)
    }

    /// Runs a blocking function on the blocking pool; see [`crate::spawn_blocking`].
    #[track_caller]
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        self.scheduler.spawn_blocking(f)
    }

    /// Runs `future` to completion on this thread, which must not be a worker — the way
    /// synchronous code calls into async code (for instance from `spawn_blocking`).
    ///
    /// While the runtime runs, its workers drive I/O and timers and this thread just sleeps
    /// until the future is woken. The current-thread flavor has no workers: this thread runs
    /// the runtime's tasks, I/O and timers while it waits, unless another thread in
    /// `block_on` does already (then it polls its own future here, and takes over when that
    /// thread's `block_on` returns). After the runtime has shut down (or while it shuts down)
    /// the handle still keeps the reactor alive, and this thread drives it itself: timers
    /// fire and sockets work as before, one `block_on` thread in the poller at a time. Tasks
    /// spawned then are cancelled at once, and host-name lookups (which need the blocking
    /// pool) fail with an error.
    ///
    /// Only such a `block_on` drives the reactor then. So once the runtime has shut down, a
    /// timer or socket of it that has to wait anywhere else — in another runtime, on a thread
    /// that merely holds a `Handle` — fails at once instead of hanging: a timer panics, an
    /// I/O wait returns an `io::Error`, both saying that its runtime has been shut down
    /// (waits already pending there are woken and fail the same way).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ciranda::Runtime::new()?;
    /// let handle = rt.handle();
    /// drop(rt);
    /// // The timer is created inside `block_on`, where the runtime is current.
    /// handle.block_on(async { ciranda::time::sleep(Duration::from_millis(1)).await });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    ///
    /// On a worker thread; `.await` the future there instead.
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _reactor = self.reactor.enter();
        self.scheduler.block_on(future)
    }

    /// Every live task: id, name and state — asyncio's `all_tasks()`.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.scheduler.tasks()
    }

    /// A snapshot of the runtime's counters (tasks, queues, blocking threads, and per
    /// worker polls, steals, parks, busy time); see [`RuntimeMetrics`](crate::RuntimeMetrics)
    /// and `docs/observability.md`.
    ///
    /// ```
    /// ciranda::run(async {
    ///     ciranda::spawn(async {}).await.unwrap();
    ///     let m = ciranda::Handle::current().metrics();
    ///     assert!(m.spawned_tasks_count() >= 1);
    ///     assert_eq!(m.num_workers(), ciranda::Handle::current().num_workers());
    /// });
    /// ```
    pub fn metrics(&self) -> crate::RuntimeMetrics {
        self.scheduler.metrics()
    }

    /// Every live task with its parent, spawn location, state and poll count; its `Display`
    /// draws the tree of who spawned whom — asyncio's `pstree`. See
    /// [`TaskDump`](crate::task::TaskDump).
    ///
    /// ```
    /// ciranda::run(async {
    ///     let waiter = ciranda::spawn(std::future::pending::<()>());
    ///     let dump = ciranda::Handle::current().dump();
    ///     let info = dump.tasks().iter().find(|t| t.id() == waiter.id()).unwrap();
    ///     assert_eq!(info.location().file(), file!());
    ///     println!("{dump}");
    ///     waiter.abort();
    /// });
    /// ```
    pub fn dump(&self) -> crate::task::TaskDump {
        self.scheduler.dump()
    }

    /// The number of worker threads (1 for the current-thread flavor).
    pub fn num_workers(&self) -> usize {
        self.scheduler.num_workers()
    }

    /// The runtime's flavor.
    pub fn flavor(&self) -> crate::Flavor {
        self.scheduler.flavor()
    }

    /// Time on the runtime's clock since the runtime started — asyncio's `loop.time()`
    /// (which starts at an arbitrary point; this one starts at zero). It follows the
    /// virtual clock when paused: [`time::advance`](crate::time::advance) and the
    /// auto-advance of a paused runtime move it. For deadlines use
    /// [`time::Instant::now`](crate::time::Instant::now), which reads the same clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = ciranda::Runtime::builder().start_paused(true).build()?;
    /// let handle = rt.handle();
    /// let before = handle.time();
    /// // Made inside the runtime, the sleep counts on its (virtual) clock. (One made outside,
    /// // as in `rt.block_on(sleep(d))`, counts from its creation on the real clock.)
    /// rt.block_on(async { ciranda::time::sleep(Duration::from_secs(5)).await });
    /// let slept = handle.time() - before; // virtual time: no real wait
    /// assert_eq!(slept, Duration::from_secs(5));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn time(&self) -> Duration {
        self.reactor.elapsed()
    }

    /// The scheduler handle, for code that embeds only `ciranda-scheduler` APIs.
    pub fn scheduler(&self) -> &ciranda_scheduler::Handle {
        &self.scheduler
    }

    #[track_caller]
    pub(crate) fn spawn_with_name<F>(&self, future: F, name: &str) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ciranda_scheduler::task::Builder::new()
            .name(name)
            .spawn_on(future, &self.scheduler)
    }
}

/// Keeps a runtime current on this thread; returned by [`Handle::enter`].
///
/// # Examples
///
/// ```
/// let rt = ciranda::Runtime::new()?;
/// let _guard = rt.enter();
/// let task = ciranda::spawn(async { 1 });
/// assert_eq!(rt.block_on(task).unwrap(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the runtime stops being current when the guard drops"]
pub struct EnterGuard<'a> {
    // Dropped in reverse order of entering.
    _scheduler: ciranda_scheduler::EnterGuard,
    _reactor: ciranda_reactor::EnterGuard<'a>,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

/// Runs `future` on a fresh default runtime and returns its output — asyncio's
/// `asyncio.run(main())`. When the future finishes, the runtime shuts down: tasks still
/// running are cancelled (their futures dropped).
///
/// # Panics
///
/// If the runtime cannot start (for example the OS refuses threads), with the reason; and
/// when called from inside a runtime worker.
///
/// # Examples
///
/// ```
/// let answer = ciranda::run(async {
///     let task = ciranda::spawn(async { 21 * 2 });
///     task.await.unwrap()
/// });
/// assert_eq!(answer, 42);
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    let runtime = Runtime::new()
        .unwrap_or_else(|error| panic!("ciranda::run: failed to start the runtime: {error}"));
    runtime.block_on(future)
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Handle>();
    send_sync::<Runtime>();
};

/// The environment variable that picks the flavor of `#[ciranda::main]` and
/// `#[ciranda::test]` functions written without `flavor = ..`.
pub(crate) const FLAVOR_VAR: &str = "CIRANDA_FLAVOR";

/// The flavor for a `#[ciranda::main]` / `#[ciranda::test]` without `flavor = ..`:
/// `CIRANDA_FLAVOR=current_thread` or `multi_thread`; unset or empty means multi-thread.
/// (Used by the macros' expansion; not part of the API.)
///
/// # Panics
///
/// On any other value, naming the variable and the values it takes.
#[doc(hidden)]
pub fn flavor_from_env() -> crate::Flavor {
    let value = std::env::var_os(FLAVOR_VAR).unwrap_or_default();
    match value.to_str() {
        Some("" | "multi_thread") => crate::Flavor::MultiThread,
        Some("current_thread") => crate::Flavor::CurrentThread,
        _ => panic!(
            "ciranda: {FLAVOR_VAR} must be `current_thread` or `multi_thread` (or unset), got \
             {value:?}"
        ),
    }
}
