//! `TaskInfo`: a snapshot of a live task, as listed by `Handle::tasks()` (asyncio's
//! `all_tasks()`).

use super::TaskId;
use super::TaskName;
use super::raw::{RawTask, TaskRef};
use super::state::{CANCELLED, NOTIFIED, RUNNING};
use std::fmt;
use std::panic::Location;
use std::time::Duration;

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
pub struct TaskInfo {
    id: TaskId,
    name: Option<TaskName>,
    state: TaskState,
    parent: Option<TaskId>,
    location: &'static Location<'static>,
    polls: u32,
    /// `(time in poll, time since the last poll ended)`, when task timing is on.
    timing: Option<(Duration, Duration)>,
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
            parent: self.parent,
            location: self.location,
            polls: self.polls,
            timing: self.timing,
            task: self.task.clone_ref(),
        }
    }
}

impl TaskInfo {
    /// A snapshot of `task`.
    ///
    /// Takes the task's own pointer, not a `&Header`: the snapshot's reference may turn out
    /// to be the last one, and the release that frees the whole cell must go through a
    /// pointer that may access the whole cell, which one made from a header reference may
    /// not (Miri's aliasing models report that as undefined behaviour).
    ///
    /// # Safety
    /// The caller holds a reference to `task` for the duration of the call.
    pub(crate) unsafe fn of(task: RawTask) -> TaskInfo {
        // SAFETY: the caller's reference keeps the task alive during this call.
        let header = unsafe { task.header() };
        header.state.ref_inc();
        // SAFETY: `ref_inc` just made the reference the snapshot owns.
        let task = unsafe { TaskRef::from_raw(task) };
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
            name: header.name().cloned(),
            state,
            parent: header.parent,
            location: header.location(),
            polls: header.polls(),
            timing: None,
            task,
        }
    }

    /// Adds the times measured by task timing (see `Builder::task_timing`).
    pub(crate) fn set_timing(&mut self, busy: Duration, idle: Duration) {
        self.timing = Some((busy, idle));
    }

    /// The task that spawned this one: the task a worker of the same runtime was polling
    /// when `spawn` was called, or `None` for a task spawned from outside any task (from
    /// `block_on`, a plain thread, a blocking function, or a task of another runtime).
    pub fn parent(&self) -> Option<TaskId> {
        self.parent
    }

    /// Where the task was spawned: the caller of `spawn`, `task::Builder::spawn`,
    /// `spawn_blocking`, `TaskGroup::spawn`, `JoinSet::spawn` and the like (all
    /// `#[track_caller]`).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// How many times the task has been polled (wraps at `u32::MAX`).
    pub fn poll_count(&self) -> u32 {
        self.polls
    }

    /// Total time spent in the task's polls. Measured only while task timing is on
    /// (`Builder::task_timing(true)`, or a `slow_poll_threshold`); zero otherwise, since
    /// timing every poll costs two clock reads.
    pub fn busy_duration(&self) -> Duration {
        self.timing.map_or(Duration::ZERO, |(busy, _)| busy)
    }

    /// Time since the task's last poll ended (since its spawn if it was never polled) — how
    /// long it has been waiting. Measured only while task timing is on; zero otherwise.
    pub fn idle_duration(&self) -> Duration {
        self.timing.map_or(Duration::ZERO, |(_, idle)| idle)
    }

    /// `true` when the busy and idle durations were measured (task timing is on).
    pub fn is_timed(&self) -> bool {
        self.timing.is_some()
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
            .field("parent", &self.parent.map(TaskId::as_u64))
            .field("location", &self.location)
            .field("polls", &self.polls)
            .finish()
    }
}
