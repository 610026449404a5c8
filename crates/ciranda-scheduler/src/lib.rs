//! ciranda's work-stealing scheduler: tasks, join handles, worker threads, a blocking pool
//! and `block_on` — usable on its own, without an I/O reactor.
//!
//! ```
//! let sched = ciranda_scheduler::Scheduler::builder().worker_threads(4).build()?;
//! let handle = sched.handle();                  // Clone + Send: spawn from anywhere
//! let h = handle.spawn(async { 40 + 2 });       // JoinHandle<T>
//! assert_eq!(sched.block_on(h)?, 42);           // drives the future on this thread
//! let read = sched.block_on(sched.spawn_blocking(|| std::fs::read("/nonexistent")))?;
//! assert!(read.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! * **Tasks** are one allocation each (header, future, output) with an atomic state word;
//!   a waker points at the task itself. See [`task`] for the state machine.
//! * **Queues**: each worker has a `crossbeam-deque` FIFO and a one-task LIFO slot for the
//!   task the running task just woke; tasks spawned or woken from outside go to a global
//!   injector. Idle workers steal half of a random victim's queue.
//! * **Fairness**: a worker takes from the injector every other tick while it holds tasks
//!   (every `GLOBAL_INTERVAL` ticks in any case), runs at most `MAX_LIFO_STREAK` LIFO tasks
//!   in a row, and every task poll has a [`coop`] budget of [`coop::BUDGET`] operations.
//! * **Parking**: at most half the workers search for work at once; the rest park through a
//!   [`park::Park`] hook (a condition variable by default; ciranda's facade plugs its I/O
//!   reactor in there). No wake-up is lost and an idle scheduler uses no CPU. A `block_on`
//!   thread whose recent wake-ups came within microseconds spins briefly before it parks.
//! * **Flavors**: [`Flavor::MultiThread`] (the default) is all of the above;
//!   [`Flavor::CurrentThread`] runs every task on the thread in `block_on`, in the order
//!   tasks were spawned or woken (asyncio's order), with the same tasks, handles and hook.
//! * **Shutdown** drops every unfinished task's future exactly once; their `JoinHandle`s
//!   then report cancellation.
//!
//! `docs/architecture.md` in the repository follows a task and a wake-up through all of it.

#![deny(unsafe_op_in_unsafe_fn)]

mod loom;

/// The cooperative budget every task poll runs under (the `ciranda-coop` crate, shared with
/// the reactor and the sync primitives).
pub use ciranda_coop as coop;
pub mod park;
pub mod task;

mod activity;
mod block_on;
mod blocking;
mod builder;
mod context;
mod current_thread;
mod dump;
mod handle;
mod hooks;
mod idle;
mod metrics;
mod queue;
mod registry;
mod report;
mod scheduler;
mod shared;
mod spin;
mod timing;
#[cfg(feature = "tracing")]
mod trace;
mod unhandled;
mod worker;
mod yield_now;

#[cfg(all(test, loom))]
mod loom_models;

pub use builder::{Builder, Flavor, MAX_WORKERS};
pub use context::EnterGuard;
pub use handle::Handle;
pub use metrics::RuntimeMetrics;
pub use scheduler::Scheduler;
pub use task::{JoinError, JoinHandle, yield_now};
pub use unhandled::UnhandledPanic;

use std::future::Future;

/// Spawns a task on the current runtime; see [`Handle::spawn`].
///
/// # Panics
///
/// Outside a runtime (see [`Handle::current`]).
///
/// # Examples
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(2).build().unwrap();
/// let total = sched.block_on(async {
///     let a = ciranda_scheduler::spawn(async { 1 });
///     let b = ciranda_scheduler::spawn(async { 2 });
///     a.await.unwrap() + b.await.unwrap()
/// });
/// assert_eq!(total, 3);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Handle::spawn_owned(Handle::current(), future, None)
}

/// The index (`0..num_workers`) of the worker thread calling it, in the scheduler it works
/// for; `None` on every other thread: a `block_on` caller, the blocking pool, a plain
/// thread, the current-thread flavor. Meant for sharding per-worker state: the `ciranda`
/// runtime gives each worker a timer wheel of its own with it. A thread-local read.
///
/// # Examples
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(2).build().unwrap();
/// assert_eq!(ciranda_scheduler::worker_index(), None);
/// let index = sched.block_on(async { ciranda_scheduler::spawn(async { ciranda_scheduler::worker_index() }).await });
/// assert!(matches!(index.unwrap(), Some(0 | 1)));
/// ```
pub fn worker_index() -> Option<usize> {
    context::worker_index()
}

/// Runs a blocking function on the current runtime's blocking pool; see
/// [`Handle::spawn_blocking`].
///
/// # Panics
///
/// Outside a runtime (see [`Handle::current`]).
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    Handle::current().spawn_blocking(f)
}
