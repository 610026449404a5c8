//! `JoinError`: why a task produced no output.

use super::TaskId;
use super::TaskName;
use std::any::Any;
use std::fmt;

/// Why awaiting a [`JoinHandle`](super::JoinHandle) gave no value: the task was cancelled
/// (aborted, or dropped at shutdown) or it panicked.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let handle = ciranda::spawn(async { panic!("boom") });
///     let err = handle.await.unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
/// });
/// ```
pub struct JoinError {
    id: TaskId,
    name: Option<TaskName>,
    repr: Repr,
}

enum Repr {
    Cancelled,
    // The payload is only reachable by value (`into_panic`), never through `&self`, so the
    // mutex is uncontended; it exists to make `JoinError: Sync` without unsafe code.
    Panic(parking_lot::Mutex<Box<dyn Any + Send + 'static>>),
}

impl JoinError {
    pub(crate) fn cancelled(id: TaskId, name: Option<TaskName>) -> JoinError {
        JoinError {
            id,
            name,
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(
        id: TaskId,
        name: Option<TaskName>,
        payload: Box<dyn Any + Send + 'static>,
    ) -> JoinError {
        JoinError {
            id,
            name,
            repr: Repr::Panic(parking_lot::Mutex::new(payload)),
        }
    }

    /// The task was aborted or dropped by shutdown before it finished.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        self.id
    }

    /// The name the task was spawned with, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The panic payload, to resume it with [`std::panic::resume_unwind`].
    ///
    /// # Panics
    ///
    /// When the task was cancelled rather than panicking; see [`try_into_panic`](Self::try_into_panic).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("JoinError::into_panic called on a cancelled task's error, not a panic")
    }

    /// The panic payload, or the error back when the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload.into_inner()),
            Repr::Cancelled => Err(self),
        }
    }

    /// The panic message when the payload is a string (as `panic!` makes it).
    pub fn panic_message(&self) -> Option<String> {
        match &self.repr {
            Repr::Panic(payload) => panic_message(&**payload.lock()).map(str::to_owned),
            Repr::Cancelled => None,
        }
    }

    fn fmt_task(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " ({name:?})")?;
        }
        Ok(())
    }
}

/// The text of a panic payload made by `panic!`, if it is one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

// Display and Debug copy the message out (`panic_message`) before they write: the payload's
// lock must not be held while the formatter's writer, which may format this error again, runs.
impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_task(f)?;
        match &self.repr {
            Repr::Cancelled => f.write_str(" was cancelled"),
            Repr::Panic(_) => match self.panic_message() {
                Some(message) => write!(f, " panicked: {message}"),
                None => f.write_str(" panicked"),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => write!(f, "JoinError::Cancelled({:?})", self.id),
            Repr::Panic(_) => write!(
                f,
                "JoinError::Panic({:?}, {:?})",
                self.id,
                self.panic_message()
                    .as_deref()
                    .unwrap_or("<non-string payload>")
            ),
        }
    }
}

impl std::error::Error for JoinError {}

/// An `io::Error` of kind [`Other`](std::io::ErrorKind::Other) whose inner error is the
/// `JoinError` (reach it with [`get_ref`](std::io::Error::get_ref) and `downcast_ref`), for a
/// cancellation as for a panic.
///
/// Not [`Interrupted`](std::io::ErrorKind::Interrupted) for a cancellation: that kind means
/// "try again", and std's I/O helpers and the usual retry loops do, while a blocking call
/// the runtime's shutdown cancelled fails the same way on every retry.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let handle = ciranda::spawn(std::future::pending::<()>());
///     handle.abort();
///     let err: std::io::Error = handle.await.unwrap_err().into();
///     assert_eq!(err.kind(), std::io::ErrorKind::Other);
///     let inner = err.get_ref().unwrap().downcast_ref::<ciranda::task::JoinError>();
///     assert!(inner.unwrap().is_cancelled());
/// });
/// ```
impl From<JoinError> for std::io::Error {
    fn from(err: JoinError) -> std::io::Error {
        std::io::Error::other(err)
    }
}
