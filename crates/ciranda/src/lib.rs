//! # ciranda — asyncio's model, on a work-stealing multi-threaded runtime
//!
//! ciranda gives Rust the shape of Python's asyncio — one call to run the loop, tasks,
//! `gather`, `TaskGroup`, timers, locks, events, queues, TCP streams — on worker threads that
//! steal work from each other, so the same clear code uses every core.
//!
//! ## A tour
//!
//! ```
//! use ciranda::sync::{Mutex, Queue};
//! use ciranda::time::{sleep, timeout};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! async fn say_after(delay_ms: u64, what: &'static str) -> &'static str {
//!     sleep(Duration::from_millis(delay_ms)).await;
//!     what
//! }
//!
//! let summary = ciranda::run(async {
//!     // asyncio.create_task + await
//!     let hello = ciranda::spawn(say_after(20, "hello"));
//!     let world = ciranda::spawn(say_after(10, "world"));
//!     let words = (hello.await.unwrap(), world.await.unwrap());
//!
//!     // asyncio.gather: in parallel, results in input order
//!     let squares = ciranda::gather((1..=4u64).map(|i| async move { i * i })).await;
//!
//!     // asyncio.Lock shared by tasks
//!     let counter = Arc::new(Mutex::new(0));
//!     let workers: Vec<_> = (0..4)
//!         .map(|_| {
//!             let counter = counter.clone();
//!             ciranda::spawn(async move {
//!                 for _ in 0..100 {
//!                     *counter.lock().await += 1;
//!                 }
//!             })
//!         })
//!         .collect();
//!     for w in workers {
//!         w.await.unwrap();
//!     }
//!
//!     // asyncio.Queue with task_done/join
//!     let queue = Arc::new(Queue::new(2));
//!     let consumer = {
//!         let queue = queue.clone();
//!         ciranda::spawn(async move {
//!             let mut sum = 0;
//!             for _ in 0..3 {
//!                 sum += queue.get().await;
//!                 queue.task_done();
//!             }
//!             sum
//!         })
//!     };
//!     for i in 1..=3 {
//!         queue.put(i).await;
//!     }
//!     queue.join().await;
//!
//!     // asyncio.wait_for
//!     let late = timeout(Duration::from_millis(5), sleep(Duration::from_secs(10))).await;
//!
//!     (words, squares, *counter.lock().await, consumer.await.unwrap(), late.is_err())
//! });
//! assert_eq!(summary, (("hello", "world"), vec![1, 4, 9, 16], 400, 6, true));
//! ```
//!
//! ## asyncio → ciranda
//!
//! | asyncio | ciranda |
//! |---|---|
//! | `asyncio.run(main())` | [`run`], `#[ciranda::main]` |
//! | `loop.run_until_complete(f)` | [`Runtime::block_on`] |
//! | `asyncio.get_running_loop()` | [`Handle::current`] |
//! | `asyncio.create_task(c)` | [`spawn`] → [`task::JoinHandle`] |
//! | `asyncio.gather(*aws)` | [`gather`], [`try_gather`], [`task::gather_handles`] |
//! | `asyncio.TaskGroup` | [`task::TaskGroup`] |
//! | `asyncio.wait` / `as_completed` | [`task::wait`], [`task::as_completed`] |
//! | `asyncio.sleep`, `wait_for` | [`time::sleep`], [`time::timeout`] |
//! | `asyncio.to_thread` | [`spawn_blocking`] |
//! | `Lock`, `Semaphore`, `Event`, `Condition`, `Barrier`, `Queue`, `Future` | [`sync`] |
//! | `start_server` / `open_connection` | [`net::TcpListener`], [`net::TcpStream`] |
//! | `create_datagram_endpoint` | [`net::UdpSocket`], [`net::UnixDatagram`] |
//! | `loop.getaddrinfo` | [`net::lookup_host`] |
//! | `loop.add_reader` / `add_writer`, `loop.sock_recv` | [`io::Async::ready`], `readable()` + `try_read` on the [`net`] types |
//! | `socket.socket()` configured before `connect` / `listen` | [`net::TcpSocket`] |
//! | `StreamReader`/`StreamWriter` methods | [`io`] extension traits |
//! | async iterators | [`stream`] |
//! | `loop.add_signal_handler(SIGINT, ...)` | [`signal::ctrl_c`] |
//! | `loop.add_signal_handler(SIGTERM, ...)` | [`signal::unix::signal`] |
//! | `asyncio.create_subprocess_exec` | [`process::Command`] |
//! | `aiofiles`, `to_thread(open(...).read)` | [`fs`] |
//! | `sys.stdin` / `sys.stdout` | [`io::stdin`], [`io::stdout`], [`io::stderr`] |
//!
//! `docs/asyncio.md` in the repository walks through each of them with the Python beside
//! the Rust.
//!
//! ## Guarantees
//!
//! * A panicking task never takes a worker down: the panic comes back as a
//!   [`task::JoinError`] from its handle, or is reported on stderr if nobody holds one.
//! * Waiting operations in [`sync`] are cancel-safe and FIFO-fair.
//! * A task that never yields cannot starve the others forever: every poll has a budget
//!   that ciranda's own futures spend.
//! * Shutdown drops every unfinished task's future exactly once.

#![deny(unsafe_op_in_unsafe_fn)]

mod driver;
pub mod fs;
pub mod process;
pub mod runtime;
pub mod signal;
pub mod task;

pub use ciranda_macros::{main, test};
pub use ciranda_scheduler::Flavor;
pub use ciranda_scheduler::{RuntimeMetrics, UnhandledPanic};

/// What the macros' expansions call; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::runtime::flavor_from_env;
    pub use ciranda_scheduler::MAX_WORKERS;
}
pub use runtime::{EnterGuard, Handle, Runtime, run};
pub use task::{gather, try_gather};

/// Timers and time: `sleep`, `timeout`, `interval`, `Instant`, and the virtual clock for
/// tests (`pause`, `resume`, `advance`).
pub mod time {
    pub use ciranda_reactor::time::*;
}

/// TCP, UDP and Unix sockets implementing the `futures-io` traits — asyncio's streams.
pub mod net {
    pub use ciranda_reactor::net::*;
}

pub mod io;

/// Async iterators: `Stream`, its extension trait, and constructors.
pub mod stream {
    pub use futures_core::Stream;
    pub use futures_util::stream::{
        StreamExt, empty, iter, once, pending, poll_fn, repeat, repeat_with, unfold,
    };
}

/// asyncio's coordination primitives, fair and cancel-safe, usable from any executor:
/// locks, semaphores, events, conditions, barriers, promises, queues and channels.
pub mod sync {
    pub use ciranda_sync::*;
}

use std::future::Future;

/// Spawns a task on the current runtime — asyncio's `create_task`. It runs in the
/// background at once; await the [`task::JoinHandle`] for its output, or drop it to let the
/// task run detached.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let task = ciranda::spawn(async { 1 + 1 });
///     assert_eq!(task.await.unwrap(), 2);
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ciranda_scheduler::spawn(future)
}

/// Runs a blocking function on the blocking pool — asyncio's `to_thread`. The event loop
/// keeps running other tasks meanwhile.
///
/// # Panics
///
/// Outside a runtime.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let text = ciranda::spawn_blocking(|| std::fs::read_to_string("/proc/self/comm"));
///     assert!(text.await.unwrap().is_ok());
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    ciranda_scheduler::spawn_blocking(f)
}
