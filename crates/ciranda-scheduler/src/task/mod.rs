//! Tasks: one heap allocation per spawned future, and the handles that reach it.
//!
//! A task is a single allocation holding a header (state word, vtable, id, name, join
//! waker), the scheduler handle and a *stage* that holds first the future, then its output.
//! The stage is an untagged union: the state word (`COMPLETE`, `FAILED`) says which is
//! there, and a `JoinHandle` that returned the output marks itself so that its drop does
//! not drop it again.
//! The waker's data pointer is the task itself: cloning a waker bumps the reference count,
//! waking allocates nothing.
//!
//! # The state word
//!
//! One `AtomicUsize`: seven flag bits and a reference count in the rest.
//!
//! | bit             | meaning                                                                |
//! |-----------------|------------------------------------------------------------------------|
//! | `RUNNING`       | one thread owns the stage and is polling or dropping the future        |
//! | `COMPLETE`      | the future is gone; the output (or `JoinError`) is stored or dropped   |
//! | `NOTIFIED`      | a wake-up is pending: queued, or re-queued after the current poll      |
//! | `CANCELLED`     | abort/shutdown requested: the next holder of `RUNNING` drops the future|
//! | `JOIN_INTEREST` | a `JoinHandle` exists and will take the output                         |
//! | `JOIN_WAKER`    | the join waker slot is published to the runtime side                   |
//! | `FAILED`        | set with `COMPLETE` when the output is a `JoinError`                   |
//!
//! References are held by the registry of live tasks (until the task is complete and swept),
//! by each run-queue entry, by the `JoinHandle`, by each `AbortHandle` and by each `Waker`.
//! Each holder is a type that owns its reference and releases it on drop: `TaskRef` (the
//! registry's, an `AbortHandle`'s), `Notified` (a queue entry), `JoinHandle`, `Waker`. The
//! untyped `RawTask` owns nothing, so its methods are `unsafe fn`s for those owners to call.
//! A new task starts as `NOTIFIED | JOIN_INTEREST` with `REFS_REGISTERED` (three) references
//! (registry, its first queue entry, its `JoinHandle`), handed out by `allocate_registered`
//! as their owners; a blocking task, which the registry does not track, starts with
//! `REFS_UNREGISTERED` (two).
//!
//! # Transitions
//!
//! | event                      | from                    | to                                   | then                                  |
//! |----------------------------|-------------------------|--------------------------------------|---------------------------------------|
//! | worker pops task           | `NOTIFIED`              | `RUNNING` (clears `NOTIFIED`)        | poll (or drop if `CANCELLED`)         |
//! | worker pops task           | `RUNNING` or `COMPLETE` | unchanged                            | release the queue's reference         |
//! | poll → `Pending`           | `RUNNING`               | idle, reference released             | wait for a waker                      |
//! | poll → `Pending`, woken    | `RUNNING \| NOTIFIED`   | `NOTIFIED`                           | re-queue at the back (a yield)        |
//! | poll → `Pending`, aborted  | `RUNNING \| CANCELLED`  | stays `RUNNING`                      | drop the future, complete             |
//! | poll → `Ready` / panic     | `RUNNING`               | `COMPLETE`                           | store output, wake join waker         |
//! | `wake` / `wake_by_ref`     | idle                    | `NOTIFIED`                           | push to a run queue                   |
//! | `wake` / `wake_by_ref`     | `RUNNING`               | `RUNNING \| NOTIFIED`                | runner re-queues after the poll       |
//! | `wake` / `wake_by_ref`     | `NOTIFIED` / `COMPLETE` | unchanged                            | nothing                               |
//! | `abort`                    | idle                    | `NOTIFIED \| CANCELLED`              | push so a worker drops the future     |
//! | `abort`                    | `NOTIFIED`              | `+ CANCELLED`                        | the popping worker drops it           |
//! | `abort`                    | `RUNNING`               | `+ CANCELLED \| NOTIFIED`            | the runner drops it after the poll    |
//! | shutdown                   | idle or `NOTIFIED`      | `RUNNING \| CANCELLED`               | drop the future in place, complete    |
//! | `JoinHandle` dropped       | not `COMPLETE`          | clears `JOIN_INTEREST`, `JOIN_WAKER` | the completer drops the output        |
//! | `JoinHandle` dropped       | `COMPLETE`              | clears `JOIN_INTEREST`               | the handle drops an unread output     |
//!
//! Every transition is one compare-and-swap on the word, so racing wakes, aborts,
//! completions and handle drops always agree on who drops the future (exactly once) and who
//! frees the allocation (whoever takes the count to zero).
//!
//! # The join waker
//!
//! The `JoinHandle` writes its waker into the slot while `JOIN_WAKER` is clear, then sets
//! the bit; from then on only the runtime reads the slot. To replace the waker the handle
//! first clears the bit (which fails once `COMPLETE` is set). On completion the runtime wakes
//! the stored waker, then clears `JOIN_WAKER` to hand the slot back; if the handle was dropped
//! in between, the runtime frees the waker itself.

mod builder;
mod error;
mod id;
mod info;
mod join;
mod name;
pub(crate) mod raw;
mod site;
pub(crate) mod state;
mod waker;

pub use crate::dump::TaskDump;
pub use crate::yield_now::{YieldNow, yield_now};
pub use builder::Builder;
pub use error::JoinError;
pub(crate) use error::panic_message;
pub use id::TaskId;
pub use info::{TaskInfo, TaskState};
pub use join::{AbortHandle, JoinHandle};
pub(crate) use name::TaskName;

/// `true` while a runtime's shutdown is dropping its unfinished tasks on this thread (the
/// drain of `Runtime`'s drop, `shutdown_timeout` and the like), so inside a destructor that
/// the drain runs.
///
/// For combinators that wait on [`JoinHandle`]s through wakers of their own (a set that
/// polls a handle only once its task's completion woke it): during the drain a task not yet
/// reached will never run again and nothing will wake them, but polling its handle there
/// cancels it on the spot when it belongs to the runtime being drained (as
/// [`JoinHandle`]'s own poll does). Such a combinator polls each handle it still waits for
/// when this is `true` and it is about to return `Pending`. One thread-local read.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::task::in_shutdown_drain;
///
/// assert!(!in_shutdown_drain());
/// let sched = ciranda_scheduler::Scheduler::new()?;
/// assert!(!sched.block_on(async { in_shutdown_drain() }));
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn in_shutdown_drain() -> bool {
    crate::context::draining()
}
