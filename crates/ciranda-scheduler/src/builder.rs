//! `Builder`: configuration of a [`Scheduler`].

use crate::blocking::{BlockingConfig, BlockingPool};
use crate::current_thread::CurrentThread;
use crate::hooks::{PanicHook, ThreadHook};
use crate::park::{Park, ThreadParkers};
use crate::queue;
use crate::shared::{Config, Shared};
use crate::task::JoinError;
use crate::unhandled::UnhandledPanic;
use crate::worker::{Stealable, Worker};
use crate::{Handle, Scheduler};
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// The most workers a scheduler may have (the idle counters use half a word each).
pub const MAX_WORKERS: usize = 1 << 15;

type MakePark = Box<dyn FnOnce(usize) -> Arc<dyn Park>>;

/// How a scheduler runs its tasks.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::{Flavor, Scheduler};
/// let sched = Scheduler::builder().flavor(Flavor::CurrentThread).build().unwrap();
/// let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let handles: Vec<_> = (0..5)
///     .map(|i| {
///         let order = order.clone();
///         sched.spawn(async move { order.lock().unwrap().push(i) })
///     })
///     .collect();
/// sched.block_on(async {
///     for h in handles {
///         h.await.unwrap();
///     }
/// });
/// assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]); // the order they were spawned
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Flavor {
    /// Worker threads that steal work from each other (the default). Tasks run in parallel;
    /// there is no order across tasks (each primitive still serves its waiters FIFO).
    #[default]
    MultiThread,
    /// No worker threads: every task runs on the thread that calls `block_on`, one at a time,
    /// in the order it was spawned or woken — asyncio's event loop. Timers that fire together
    /// wake their tasks in deadline order (to the facade's 62.5 µs timer tick; within a tick,
    /// in the order they were made), and with a paused clock a program's output is the
    /// same on every run. Tasks run only while some thread is in `block_on`; `spawn_blocking`
    /// still uses the blocking pool. `worker_threads` is ignored.
    CurrentThread,
}

/// Configures and starts a [`Scheduler`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let sched = ciranda_scheduler::Scheduler::builder()
///     .worker_threads(2)
///     .thread_name("crunch")
///     .max_blocking_threads(8)
///     .blocking_keep_alive(Duration::from_secs(1))
///     .build()
///     .unwrap();
/// assert_eq!(sched.handle().num_workers(), 2);
/// ```
pub struct Builder {
    flavor: Flavor,
    worker_threads: Option<usize>,
    thread_name: String,
    thread_stack_size: Option<usize>,
    on_thread_start: Option<ThreadHook>,
    on_thread_stop: Option<ThreadHook>,
    max_blocking_threads: usize,
    blocking_keep_alive: Duration,
    make_park: Option<MakePark>,
    slow_poll_threshold: Option<Duration>,
    on_unhandled_panic: Option<PanicHook>,
    unhandled_panic: UnhandledPanic,
    task_timing: bool,
    run_order_seed: Option<u64>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("flavor", &self.flavor)
            .field("worker_threads", &self.worker_threads)
            .field("thread_name", &self.thread_name)
            .field("thread_stack_size", &self.thread_stack_size)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("blocking_keep_alive", &self.blocking_keep_alive)
            .field("slow_poll_threshold", &self.slow_poll_threshold)
            .field("unhandled_panic", &self.unhandled_panic)
            .field("run_order_seed", &self.run_order_seed)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: one worker per available core, threads named `ciranda-worker-N` and
    /// `ciranda-blocking`, up to 512 blocking threads kept 10 s when idle.
    pub fn new() -> Builder {
        Builder {
            flavor: Flavor::MultiThread,
            worker_threads: None,
            thread_name: "ciranda".to_owned(),
            thread_stack_size: None,
            on_thread_start: None,
            on_thread_stop: None,
            max_blocking_threads: 512,
            blocking_keep_alive: Duration::from_secs(10),
            make_park: None,
            slow_poll_threshold: None,
            on_unhandled_panic: None,
            unhandled_panic: UnhandledPanic::Ignore,
            task_timing: false,
            run_order_seed: None,
        }
    }

    /// The flavor (default [`Flavor::MultiThread`]); see [`Flavor`].
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Number of worker threads (default: `std::thread::available_parallelism()`). Zero is
    /// rejected by [`build`](Self::build).
    pub fn worker_threads(mut self, n: usize) -> Self {
        self.worker_threads = Some(n);
        self
    }

    /// Prefix of thread names: workers are `{name}-worker-{i}`, blocking threads
    /// `{name}-blocking`. A name containing a NUL byte is rejected by [`build`](Self::build).
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Stack size of every thread the scheduler starts. A size the OS refuses fails
    /// [`build`](Self::build) (the first worker cannot start), or, with the current-thread
    /// flavor, the first `spawn_blocking` (which panics); either way the message names this
    /// option.
    pub fn thread_stack_size(mut self, bytes: usize) -> Self {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Runs on each worker and blocking thread when it starts. A panic in it is caught and
    /// reported on stderr; the thread then serves tasks as usual.
    pub fn on_thread_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_start = Some(Arc::new(f));
        self
    }

    /// Runs on each worker and blocking thread before it exits. A panic in it is caught and
    /// reported on stderr; the thread still exits normally and shutdown still returns.
    pub fn on_thread_stop(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_thread_stop = Some(Arc::new(f));
        self
    }

    /// Upper bound of the blocking pool (default 512); zero is rejected by `build`.
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = n;
        self
    }

    /// How long an idle blocking thread waits for work before exiting (default 10 s).
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Self {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// Replaces how idle workers wait. `make` receives the number of workers and returns
    /// the hook (see [`Park`]); the default is [`ThreadParkers`].
    pub fn park_hook<P: Park>(mut self, make: impl FnOnce(usize) -> P + 'static) -> Self {
        self.make_park = Some(Box::new(move |workers| {
            Arc::new(make(workers)) as Arc<dyn Park>
        }));
        self
    }

    /// Reports (once per task, on stderr) any poll that takes longer than `threshold`, with
    /// the task's id and name — asyncio's debug-mode "Executing task took 0.1 seconds".
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Self {
        self.slow_poll_threshold = Some(threshold);
        self
    }

    /// Called with the error of a task that panicked after its `JoinHandle` was dropped
    /// (nobody else will see it). The default prints it on stderr. It runs on a worker, a
    /// blocking thread, or the thread that drops the `JoinHandle` of a task that panicked;
    /// a panic in it is caught there and reported on stderr.
    pub fn on_unhandled_panic(mut self, f: impl Fn(&JoinError) + Send + Sync + 'static) -> Self {
        self.on_unhandled_panic = Some(Arc::new(f));
        self
    }

    /// What to do when a task panics and its `JoinHandle` was dropped (see
    /// [`UnhandledPanic`]); the default, [`UnhandledPanic::Ignore`], reports and carries on.
    /// With [`UnhandledPanic::ShutdownRuntime`], `block_on` panics with that task's message.
    /// The report (`on_unhandled_panic`, or stderr) is made under either policy.
    pub fn unhandled_panic(mut self, policy: UnhandledPanic) -> Self {
        self.unhandled_panic = policy;
        self
    }

    /// Times every task poll, so the task dump ([`Handle::dump`]) shows each task's time in
    /// poll and time since its last poll (`TaskInfo::busy_duration` / `idle_duration`).
    /// Off by default: it costs two clock reads and a short lock per poll. A
    /// [`slow_poll_threshold`](Self::slow_poll_threshold) turns it on as well.
    pub fn task_timing(mut self, on: bool) -> Self {
        self.task_timing = on;
        self
    }

    /// Current-thread flavor only: runs the ready tasks in a pseudo-random order fixed by
    /// `seed` instead of asyncio's first-in-first-out, to test code against interleavings
    /// FIFO never produces. The same seed replays the same order as long as the program's
    /// inputs are the same (no real I/O or wall-clock timing in the way: a paused clock
    /// helps); a loop over seeds explores. Each `block_on` call starts from the seed again.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda_scheduler::{Flavor, Scheduler};
    /// use std::sync::{Arc, Mutex};
    ///
    /// fn order(seed: u64) -> Vec<u32> {
    ///     let sched = Scheduler::builder()
    ///         .flavor(Flavor::CurrentThread)
    ///         .run_order_seed(seed)
    ///         .build()
    ///         .unwrap();
    ///     let seen = Arc::new(Mutex::new(Vec::new()));
    ///     let log = seen.clone();
    ///     sched.block_on(async move {
    ///         let tasks: Vec<_> = (0..8)
    ///             .map(|i| {
    ///                 let log = log.clone();
    ///                 ciranda_scheduler::spawn(async move { log.lock().unwrap().push(i) })
    ///             })
    ///             .collect();
    ///         for task in tasks {
    ///             task.await.unwrap();
    ///         }
    ///     });
    ///     let order = seen.lock().unwrap().clone();
    ///     order
    /// }
    /// assert_eq!(order(7), order(7)); // replayable
    /// assert!((0..20).any(|seed| order(seed) != (0..8).collect::<Vec<_>>())); // not FIFO
    /// ```
    ///
    /// With the multi-thread flavor, [`build`](Self::build) returns an `InvalidInput` error.
    pub fn run_order_seed(mut self, seed: u64) -> Self {
        self.run_order_seed = Some(seed);
        self
    }

    /// How many worker threads [`build`](Self::build) would start: 0 for the current-thread
    /// flavor, else the configured count (which `build` checks) or the available parallelism.
    ///
    /// ```
    /// use ciranda_scheduler::{Flavor, Scheduler};
    ///
    /// assert_eq!(Scheduler::builder().worker_threads(3).num_workers(), 3);
    /// assert_eq!(Scheduler::builder().flavor(Flavor::CurrentThread).num_workers(), 0);
    /// ```
    pub fn num_workers(&self) -> usize {
        match self.worker_threads {
            _ if self.flavor == Flavor::CurrentThread => 0,
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for zero (or more than [`MAX_WORKERS`]) worker threads, zero
    /// blocking threads, a [`run_order_seed`](Self::run_order_seed) without the
    /// current-thread flavor, or a [`thread_name`](Self::thread_name) containing a NUL byte
    /// (the OS cannot name a thread that); the OS error's kind, with a message naming the
    /// thread (and [`thread_stack_size`](Self::thread_stack_size) if set), if a thread cannot
    /// be spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = ciranda_scheduler::Scheduler::builder().worker_threads(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("worker_threads"));
    /// let err = ciranda_scheduler::Scheduler::builder().thread_name("a\0b").build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(err.to_string().contains("thread_name"));
    /// ```
    pub fn build(self) -> io::Result<Scheduler> {
        let current_thread = self.flavor == Flavor::CurrentThread;
        let workers = self.num_workers();
        if workers == 0 && !current_thread {
            return Err(invalid("worker_threads must be at least 1, got 0"));
        }
        if workers > MAX_WORKERS {
            return Err(invalid(&format!(
                "worker_threads must be at most {MAX_WORKERS}, got {workers}"
            )));
        }
        if self.run_order_seed.is_some() && !current_thread {
            return Err(invalid(
                "run_order_seed needs the current-thread flavor (Flavor::CurrentThread): \
                 with worker threads the order is the threads', not the scheduler's",
            ));
        }
        if self.max_blocking_threads == 0 {
            return Err(invalid("max_blocking_threads must be at least 1, got 0"));
        }
        if self.thread_name.contains('\0') {
            // std::thread::Builder::spawn would panic on it.
            return Err(invalid(&format!(
                "thread_name must not contain a NUL byte, got {:?}",
                self.thread_name
            )));
        }
        // The current-thread driver is worker 0 of the hook.
        let park_slots = workers.max(1);
        let park = match self.make_park {
            Some(make) => make(park_slots),
            None => Arc::new(ThreadParkers::new(park_slots)),
        };
        let (locals, stealable): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| {
                let (local, steal) = queue::local();
                (local, Stealable::new(steal))
            })
            .unzip();
        let blocking = BlockingPool::new(BlockingConfig {
            max_threads: self.max_blocking_threads,
            keep_alive: self.blocking_keep_alive,
            thread_name: format!("{}-blocking", self.thread_name),
            stack_size: self.thread_stack_size,
            on_thread_start: self.on_thread_start.clone(),
            on_thread_stop: self.on_thread_stop.clone(),
        });
        let config = Config {
            thread_name: self.thread_name,
            thread_stack_size: self.thread_stack_size,
            on_thread_start: self.on_thread_start,
            on_thread_stop: self.on_thread_stop,
            slow_poll_threshold: self.slow_poll_threshold,
            on_unhandled_panic: self.on_unhandled_panic,
            unhandled_panic: self.unhandled_panic,
            task_timing: self.task_timing,
        };
        let mut shared = Shared::new(stealable.into(), park, blocking, config);
        if current_thread {
            shared.current_thread = Some(CurrentThread::new(self.run_order_seed));
            // The driver reports as worker 0 in `Handle::metrics`.
            shared.counters = crate::metrics::Counters::new(1);
        }
        let handle = Handle {
            shared: Arc::new(shared),
        };
        let mut threads = Vec::with_capacity(workers);
        let mut spawn_error = None;
        for (index, local) in locals.into_iter().enumerate() {
            let config = &handle.shared.config;
            let mut builder =
                std::thread::Builder::new().name(format!("{}-worker-{index}", config.thread_name));
            if let Some(size) = config.thread_stack_size {
                builder = builder.stack_size(size);
            }
            let worker = Worker::new(handle.clone(), index, local);
            match builder.spawn(move || worker.run()) {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    // The OS's own message ("Invalid argument") does not say what was
                    // refused; the option most likely at fault is named beside it.
                    spawn_error = Some(io::Error::new(
                        error.kind(),
                        format!(
                            "cannot start worker thread {}-worker-{index}{}: {error}",
                            config.thread_name,
                            with_stack_size(config.thread_stack_size)
                        ),
                    ));
                    break;
                }
            }
        }
        let scheduler = Scheduler::from_parts(handle, threads);
        match spawn_error {
            // Dropping the scheduler shuts down the workers that did start.
            Some(error) => Err(error),
            None => Ok(scheduler),
        }
    }
}

/// `" with thread_stack_size(N)"` when the option is set, for the message of a thread the OS
/// refused to start: a stack size it cannot give is the usual reason.
pub(crate) fn with_stack_size(stack_size: Option<usize>) -> String {
    stack_size.map_or_else(String::new, |bytes| {
        format!(" with thread_stack_size({bytes})")
    })
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}
