//! Runtime metrics: per-worker counters and the snapshot [`RuntimeMetrics`] that
//! `Handle::metrics()` returns.
//!
//! Every worker counter lives on the worker's own cache line and is written only by that
//! worker's thread, with a relaxed load and store (no read-modify-write, no line shared with
//! another writer): counting costs a poll or a spawn next to nothing. Spawns from outside the
//! workers (a `block_on` thread, a plain thread) share one counter, on a line of its own;
//! they already go through the shared injector. Busy time is measured per busy stretch —
//! from the end of a park to the start of the next one — not per poll; it and the poll
//! count are kept in the worker and published at each park and every few dozen ticks
//! (`EVENT_INTERVAL`), so a worker that never parks still reports them.

use crate::current_thread::CurrentThread;
use crate::shared::Shared;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Counters of one worker, written only by that worker's thread.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WorkerCounters {
    pub(crate) polls: AtomicU64,
    pub(crate) steals: AtomicU64,
    pub(crate) parks: AtomicU64,
    pub(crate) busy_nanos: AtomicU64,
    pub(crate) spawns: AtomicU64,
}

/// Adds `n` to a counter that only the calling thread writes.
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Adds the busy stretch `from..to` to a worker's busy time (only its thread writes it).
pub(crate) fn add_busy(counters: &WorkerCounters, from: Instant, to: Instant) {
    let nanos = u64::try_from(to.saturating_duration_since(from).as_nanos()).unwrap_or(u64::MAX);
    add(&counters.busy_nanos, nanos);
}

/// Spawns made off the workers: written by any thread, so a read-modify-write.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct RemoteCounter(pub(crate) AtomicU64);

/// The counters of one scheduler.
pub(crate) struct Counters {
    pub(crate) workers: Box<[WorkerCounters]>,
    pub(crate) remote_spawns: RemoteCounter,
}

impl Counters {
    pub(crate) fn new(workers: usize) -> Counters {
        Counters {
            workers: (0..workers).map(|_| WorkerCounters::default()).collect(),
            remote_spawns: RemoteCounter::default(),
        }
    }

    /// Counts a spawn: on the worker's own counter when `worker` is the calling thread's.
    #[inline]
    pub(crate) fn count_spawn(&self, worker: Option<usize>) {
        match worker {
            Some(index) => add(&self.workers[index].spawns, 1),
            None => {
                self.remote_spawns.0.fetch_add(1, Relaxed);
            }
        }
    }

    pub(crate) fn spawned(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.spawns.load(Relaxed))
            .fold(self.remote_spawns.0.load(Relaxed), u64::wrapping_add)
    }

    pub(crate) fn worker(&self, index: usize, local_queue_depth: usize) -> WorkerMetrics {
        let w = &self.workers[index];
        WorkerMetrics {
            local_queue_depth,
            polls: w.polls.load(Relaxed),
            steals: w.steals.load(Relaxed),
            parks: w.parks.load(Relaxed),
            busy: Duration::from_nanos(w.busy_nanos.load(Relaxed)),
        }
    }
}

/// Takes the snapshot `Handle::metrics()` returns.
pub(crate) fn snapshot(shared: &Shared) -> RuntimeMetrics {
    let (blocking_threads, idle_blocking_threads) = shared.blocking.thread_counts();
    RuntimeMetrics {
        alive_tasks: shared.registry.live_count(),
        spawned_tasks: shared.counters.spawned(),
        // The current-thread flavor queues what comes from outside its driver in a queue of
        // its own (the injector stays empty there): count both.
        global_queue_depth: shared.injector.len()
            + shared
                .current_thread
                .as_ref()
                .map_or(0, CurrentThread::remote_len),
        blocking_threads,
        idle_blocking_threads,
        workers: if shared.current_thread.is_some() {
            // The driver's run queue lives on its stack: its depth is not tracked.
            vec![shared.counters.worker(0, 0)]
        } else {
            shared
                .stealable
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    shared
                        .counters
                        .worker(i, s.queue.len() + usize::from(s.has_lifo()))
                })
                .collect()
        },
    }
}

/// One worker's numbers in a [`RuntimeMetrics`] snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorkerMetrics {
    pub(crate) local_queue_depth: usize,
    pub(crate) polls: u64,
    pub(crate) steals: u64,
    pub(crate) parks: u64,
    pub(crate) busy: Duration,
}

/// A snapshot of a runtime's counters, taken by `Handle::metrics()`. Counters are
/// cumulative since the runtime started; depths and thread counts are as of the snapshot.
/// Each value is read on its own (relaxed), so they need not add up exactly while tasks run.
///
/// # Examples
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(2).build().unwrap();
/// sched.block_on(sched.spawn(async { ciranda_scheduler::yield_now().await })).unwrap();
/// // Workers publish their poll counts and busy time when they park.
/// while !sched.handle().is_idle() {
///     std::thread::yield_now();
/// }
/// let m = sched.handle().metrics();
/// assert_eq!(m.num_workers(), 2);
/// assert!(m.spawned_tasks_count() >= 1);
/// let polls: u64 = (0..m.num_workers()).map(|i| m.worker_poll_count(i)).sum();
/// assert!(polls >= 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeMetrics {
    pub(crate) alive_tasks: usize,
    pub(crate) spawned_tasks: u64,
    pub(crate) global_queue_depth: usize,
    pub(crate) blocking_threads: usize,
    pub(crate) idle_blocking_threads: usize,
    pub(crate) workers: Vec<WorkerMetrics>,
}

impl RuntimeMetrics {
    /// The number of worker threads.
    pub fn num_workers(&self) -> usize {
        self.workers.len()
    }

    /// Tasks spawned and not yet completed (blocking-pool tasks not included).
    pub fn num_alive_tasks(&self) -> usize {
        self.alive_tasks
    }

    /// Tasks spawned since the runtime started (blocking-pool tasks not included).
    pub fn spawned_tasks_count(&self) -> u64 {
        self.spawned_tasks
    }

    /// Tasks waiting in the global (injector) queue: spawned or woken from outside the
    /// workers and not yet taken by one. On the current-thread flavor: tasks spawned or woken
    /// off the driving thread (or while no thread is inside `block_on`) that the driver has
    /// not yet taken.
    pub fn global_queue_depth(&self) -> usize {
        self.global_queue_depth
    }

    /// Threads of the blocking pool, busy or idle.
    pub fn blocking_threads(&self) -> usize {
        self.blocking_threads
    }

    /// Threads of the blocking pool waiting for work.
    pub fn idle_blocking_threads(&self) -> usize {
        self.idle_blocking_threads
    }

    /// Tasks queued on worker `worker` (its local queue and its LIFO slot). Always 0 on the
    /// current-thread flavor, whose one run queue lives on the driving thread's stack (its
    /// polls, parks and busy time are worker 0's).
    ///
    /// # Panics
    ///
    /// If `worker` is not below [`num_workers`](Self::num_workers).
    #[track_caller]
    pub fn worker_local_queue_depth(&self, worker: usize) -> usize {
        self.worker(worker).local_queue_depth
    }

    /// Task runs (polls, including runs that only dropped an aborted task) on `worker`.
    ///
    /// A worker publishes its count when it parks and every few dozen polls (like its busy
    /// time), so a snapshot taken while it runs may miss its latest polls.
    ///
    /// # Panics
    ///
    /// If `worker` is not below [`num_workers`](Self::num_workers).
    #[track_caller]
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.worker(worker).polls
    }

    /// Successful steals by `worker`: each took a batch (about half) of another worker's
    /// queue, or its LIFO slot. Batches taken from the global queue are not steals.
    ///
    /// # Panics
    ///
    /// If `worker` is not below [`num_workers`](Self::num_workers).
    #[track_caller]
    pub fn worker_steal_count(&self, worker: usize) -> u64 {
        self.worker(worker).steals
    }

    /// Times `worker` went to sleep for lack of work.
    ///
    /// # Panics
    ///
    /// If `worker` is not below [`num_workers`](Self::num_workers).
    #[track_caller]
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.worker(worker).parks
    }

    /// Time `worker` spent awake (running tasks and looking for them) rather than parked,
    /// up to its last park or maintenance tick.
    ///
    /// # Panics
    ///
    /// If `worker` is not below [`num_workers`](Self::num_workers).
    #[track_caller]
    pub fn worker_busy_duration(&self, worker: usize) -> Duration {
        self.worker(worker).busy
    }

    #[track_caller]
    fn worker(&self, worker: usize) -> &WorkerMetrics {
        match self.workers.get(worker) {
            Some(w) => w,
            // A `RuntimeMetrics::default()` has no workers: "numbered 0 to 0" would be wrong.
            None if self.workers.is_empty() => panic!(
                "ciranda: worker index {worker} is out of range: these metrics have no workers \
                 (a `RuntimeMetrics::default()`, not read from a runtime)"
            ),
            None => panic!(
                "ciranda: worker index {worker} is out of range: the runtime has {} worker(s), \
                 numbered 0 to {}",
                self.workers.len(),
                self.workers.len() - 1
            ),
        }
    }
}
