//! `TaskInfo`: a snapshot of a live task, as listed by `Handle::tasks()` (asyncio's
//! `all_tasks()`).

use super::TaskId;
use super::TaskName;
use super::raw::Header;
use super::state::{CANCELLED, NOTIFIED, RUNNING};
use std::fmt;

/// What a live task is doing at the moment of the snapshot.
///
/// # Examples
///
/// ```
/// use ciranda::task::TaskState;
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
/// ciranda::run(async {
///     let handle = ciranda::task::Builder::new()
///         .name("sleeper")
///         .spawn(std::future::pending::<()>());
///     let tasks = ciranda::Handle::current().tasks();
///     let info = tasks.iter().find(|t| t.id() == handle.id()).unwrap();
///     assert_eq!(info.name(), Some("sleeper"));
/// });
/// ```
#[derive(Clone)]
pub struct TaskInfo {
    id: TaskId,
    name: Option<TaskName>,
    state: TaskState,
}

impl TaskInfo {
    pub(crate) fn of(header: &Header) -> TaskInfo {
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
