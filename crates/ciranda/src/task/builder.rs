//! `task::Builder`: spawn a named task.

use super::JoinHandle;
use std::future::Future;

/// Spawns a task with a name, shown by [`Handle::tasks`](crate::Handle::tasks), in
/// `JoinError` messages and in slow-poll reports.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let handle = ciranda::task::Builder::new().name("fetch").spawn(async { 7 });
///     assert_eq!(handle.name(), Some("fetch"));
///     assert_eq!(handle.await.unwrap(), 7);
/// });
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

    /// Spawns on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_on(future, &crate::Handle::current())
    }

    /// Spawns on the runtime of `handle`.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &crate::Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.name {
            Some(name) => handle.spawn_with_name(future, name),
            None => handle.spawn(future),
        }
    }

    /// Runs a blocking function on the current runtime's blocking pool, named.
    ///
    /// # Panics
    ///
    /// Outside a runtime, as [`spawn_blocking`](crate::spawn_blocking) does.
    #[track_caller]
    pub fn spawn_blocking<F, R>(self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let mut builder = ciranda_scheduler::task::Builder::new();
        if let Some(name) = self.name {
            builder = builder.name(name);
        }
        builder.spawn_blocking(f)
    }
}
