//! `CirandaExecutor`: hyper's background tasks as ciranda tasks.

use std::future::Future;

/// Spawns hyper's background futures (HTTP/2 connection drivers, pooled connection tasks) as
/// ciranda tasks.
///
/// `CirandaExecutor::new()` spawns on the runtime current at the time of each spawn
/// ([`ciranda::spawn`]); [`CirandaExecutor::with_handle`] pins it to one runtime, so it may
/// also be used from threads outside any runtime.
///
/// # Panics
/// An executor made with `new()` panics when asked to spawn outside a ciranda runtime (as
/// [`ciranda::spawn`] does).
///
/// # Examples
///
/// ```
/// use ciranda_http::rt::CirandaExecutor;
/// use hyper::rt::Executor;
///
/// ciranda::run(async {
///     let (tx, rx) = ciranda::sync::oneshot::channel();
///     CirandaExecutor::new().execute(async move {
///         tx.send(42).unwrap();
///     });
///     assert_eq!(rx.await.unwrap(), 42);
/// });
/// ```
#[derive(Clone, Debug, Default)]
pub struct CirandaExecutor {
    handle: Option<ciranda::Handle>,
}

impl CirandaExecutor {
    /// An executor that spawns on whichever ciranda runtime is current when it spawns.
    pub fn new() -> Self {
        CirandaExecutor { handle: None }
    }

    /// An executor that always spawns on `handle`'s runtime.
    pub fn with_handle(handle: ciranda::Handle) -> Self {
        CirandaExecutor {
            handle: Some(handle),
        }
    }
}

impl<F> hyper::rt::Executor<F> for CirandaExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // Detached: hyper's tasks end on their own when their connection closes.
        match &self.handle {
            Some(handle) => drop(handle.spawn(future)),
            None => drop(ciranda::spawn(future)),
        }
    }
}
