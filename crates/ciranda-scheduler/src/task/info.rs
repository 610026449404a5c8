//! `TaskInfo`: a snapshot of a live task, as listed by `Handle::tasks()` (asyncio's
//! `all_tasks()`).

use super::TaskId;
use super::TaskName;
use super::raw::{Header, RawTask, TaskRef};
use super::state::{CANCELLED, NOTIFIED, RUNNING};
use std::fmt;
use std::ptr;

/// What a live task is doing at the moment of the snapshot.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::task::TaskState;
/// assert_ne!(TaskState::Idle, TaskState::Running);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// Waiting for a waker to fire.
    Idle,
    /// In a run queue, waiting for a worker.
    Scheduled,
    /// Being polled by a worker right now.
    Running,
    /// Aborted (or shut down); its future is about to be dropped.
    Cancelling,
}

/// A snapshot of one live task: id, name and state.
///
/// # Examples
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
/// let handle = ciranda_scheduler::task::Builder::new()
///     .name("sleeper")
///     .spawn_on(std::future::pending::<()>(), &sched.handle());
/// let tasks = sched.handle().tasks();
/// let info = tasks.iter().find(|t| t.id() == handle.id()).unwrap();
/// assert_eq!(info.name(), Some("sleeper"));
/// ```
pub struct TaskInfo {
    id: TaskId,
    name: Option<TaskName>,
    state: TaskState,
    /// A reference to the task, for [`abort`](TaskInfo::abort) (like an `AbortHandle`'s: it
    /// keeps the allocation, not the future, alive).
    task: TaskRef,
}

impl Clone for TaskInfo {
    fn clone(&self) -> Self {
        TaskInfo {
            id: self.id,
            name: self.name.clone(),
            state: self.state,
            task: self.task.clone_ref(),
        }
    }
}

impl TaskInfo {
    /// A snapshot of a task the caller holds a reference to.
    pub(crate) fn of(header: &Header) -> TaskInfo {
        header.state.ref_inc();
        // SAFETY: `ref_inc` just made the reference the snapshot owns; the header belongs
        // to a live task (the caller holds a reference to it).
        let task =
            unsafe { TaskRef::from_raw(RawTask::from_ptr(ptr::from_ref(header).cast_mut())) };
        let snapshot = header.state.load();
        let state = if snapshot.is(CANCELLED) {
            TaskState::Cancelling
        } else if snapshot.is(RUNNING) {
            TaskState::Running
        } else if snapshot.is(NOTIFIED) {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        };
        TaskInfo {
            id: header.id,
            name: header.name.clone(),
            state,
            task,
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The task's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What the task was doing when the snapshot was taken.
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// Requests the task's cancellation, like [`AbortHandle::abort`](super::AbortHandle) —
    /// asyncio's `for t in all_tasks(): t.cancel()`. It only flips the task's state word
    /// (and queues the task if it was idle, so its future is dropped by the runtime); a task
    /// that completed since the snapshot is left alone.
    ///
    /// ```
    /// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
    /// let waiter = sched.spawn(std::future::pending::<()>());
    /// for task in sched.handle().tasks() {
    ///     task.abort();
    /// }
    /// assert!(sched.block_on(waiter).unwrap_err().is_cancelled());
    /// ```
    pub fn abort(&self) {
        self.task.remote_abort();
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id.as_u64())
            .field("name", &self.name.as_deref())
            .field("state", &self.state)
            .finish()
    }
}
