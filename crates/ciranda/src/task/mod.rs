//! Tasks: spawning, joining, cancelling, and asyncio's task combinators.
//!
//! | asyncio | ciranda |
//! |---|---|
//! | `create_task(c)` | [`spawn`](crate::spawn) → [`JoinHandle`] |
//! | task name | [`Builder::new().name("fetch").spawn(fut)`](Builder) |
//! | `task.cancel()` / `task.done()` | [`JoinHandle::abort`] / [`JoinHandle::is_finished`] |
//! | `await task` | `handle.await` → `Result<T, JoinError>` |
//! | `sleep(0)` | [`yield_now`] |
//! | `TaskGroup` | [`TaskGroup`] |
//! | `wait(..., return_when=)` | [`wait`] with [`WaitFor`] |
//! | `as_completed` | [`as_completed`] |
//! | a dynamic set of tasks | [`JoinSet`] |
//! | `gather(*aws)` (eager) | [`gather`] → [`Gather`], [`try_gather`] → [`TryGather`] |
//! | `gather(..., return_exceptions=True)` on tasks | [`gather_handles`] |

mod builder;
mod gather;
mod group;
mod join_set;
mod wait;

pub use builder::Builder;
pub use ciranda_scheduler::task::{
    AbortHandle, JoinError, JoinHandle, TaskDump, TaskId, TaskInfo, TaskState, YieldNow, yield_now,
};
pub use gather::{Gather, TryGather, gather, gather_handles, try_gather};
pub use group::{GroupError, GroupSpawner, SpawnError, TaskGroup};
pub use join_set::JoinSet;
pub use wait::{AsCompleted, WaitFor, as_completed, wait};

/// The error of a blocking call (a `fs` operation, a standard stream's read or write) that
/// did not complete: the runtime shut down before running it, or it panicked. Its
/// `JoinError` alone says only "task 7 was cancelled"; the kind stays the one `JoinError`
/// converts to.
pub(crate) fn blocking_call_error(e: JoinError) -> std::io::Error {
    let why = if e.is_cancelled() {
        "the runtime shut down before running the blocking call"
    } else {
        "the blocking call panicked"
    };
    let e = std::io::Error::from(e);
    std::io::Error::new(e.kind(), format!("{why} ({e})"))
}
