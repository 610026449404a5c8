//! `task::Builder`: spawn with a name.

use super::JoinHandle;
use super::TaskName;
use crate::Handle;
use std::future::Future;

/// Spawns a task with options — today, a name shown by [`Handle::tasks`], in
/// [`JoinError`](super::JoinError) messages and in slow-poll reports.
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::{Scheduler, task::Builder};
/// let sched = Scheduler::builder().worker_threads(1).build().unwrap();
/// let handle = Builder::new().name("fetch").spawn_on(async { 1 }, &sched.handle());
/// assert_eq!(handle.name(), Some("fetch"));
/// assert_eq!(sched.block_on(handle).unwrap(), 1);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder<'a> {
    name: Option<&'a str>,
}

impl<'a> Builder<'a> {
    /// A builder with no name.
    pub fn new() -> Builder<'a> {
        Builder { name: None }
    }

    /// Names the task.
    pub fn name(self, name: &'a str) -> Builder<'a> {
        Builder { name: Some(name) }
    }

    fn name_arc(&self) -> Option<TaskName> {
        self.name.map(TaskName::from)
    }

    /// Spawns on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a runtime (see [`Handle::current`]).
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Handle::spawn_owned(Handle::current(), future, self.name_arc())
    }

    /// Spawns on the runtime of `handle`.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_with_name(future, self.name_arc())
    }

    /// Runs a blocking function on the current runtime's blocking pool, named.
    ///
    /// # Panics
    ///
    /// Outside a runtime (see [`Handle::current`]).
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        Handle::current().spawn_blocking_with_name(f, self.name_arc())
    }
}
