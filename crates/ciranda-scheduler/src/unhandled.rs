//! The unhandled-panic policy: what the runtime does with a task panic nobody can read any
//! more — asyncio's "Task exception was never retrieved", as an option.
//!
//! A panic becomes *unobservable* when the task's `JoinHandle` is gone and the panic is
//! stored in no one's reach: at panic time if the task was detached (handle dropped
//! before), or when a handle is dropped without reading a panic already stored. Both paths
//! end in the same place (`Schedule::unhandled_panic`, from the task cell's
//! `discard_output`), so the race "the handle is dropped just after the task panicked" has
//! one answer whichever side wins: the policy triggers exactly once, on whichever thread
//! made the panic unobservable. A panic whose handle is still held never triggers it; an
//! awaited handle returns it as a `JoinError` as usual.
//!
//! With [`UnhandledPanic::ShutdownRuntime`] the first such panic marks the runtime as failed
//! and wakes every `block_on` in progress; `block_on` checks the mark before each poll of its
//! future and panics with the task's message. Later `block_on` calls on the same runtime
//! panic the same way: the runtime is failed for good. Workers stop taking tasks once the
//! owner of the runtime drops it, which the unwinding `block_on` of `run`, `#[main]` and
//! `#[test]` does.

use crate::loom::Mutex;
use crate::task::JoinError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;

/// What the runtime does when a task panics and nobody will ever read that panic (its
/// `JoinHandle` was dropped).
///
/// # Examples
///
/// ```
/// use ciranda_scheduler::{Scheduler, UnhandledPanic};
/// let sched = Scheduler::builder()
///     .worker_threads(1)
///     .unhandled_panic(UnhandledPanic::ShutdownRuntime)
///     .build()
///     .unwrap();
/// drop(sched.spawn(async { panic!("boom") })); // detached
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     sched.block_on(std::future::pending::<()>())
/// }));
/// let message = caught.unwrap_err().downcast::<String>().unwrap();
/// assert!(message.contains("boom"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum UnhandledPanic {
    /// Report it (through `on_unhandled_panic`, or on stderr) and carry on: the default.
    #[default]
    Ignore,
    /// Report it, then fail the runtime: `block_on` (and `run`) panic with the task's id,
    /// name and panic message. The first such panic wins; later ones are only reported.
    ShutdownRuntime,
}

/// The failed mark of a runtime under [`UnhandledPanic::ShutdownRuntime`].
pub(crate) struct Fatal {
    failed: AtomicBool,
    state: Mutex<FatalState>,
}

#[derive(Default)]
struct FatalState {
    /// The message `block_on` panics with: the first unhandled panic's.
    message: Option<String>,
    /// The wakers of `block_on` calls in progress, by ticket.
    waiters: Vec<(u64, Waker)>,
    next_ticket: u64,
}

impl Fatal {
    pub(crate) fn new() -> Fatal {
        Fatal {
            failed: AtomicBool::new(false),
            state: Mutex::new(FatalState::default()),
        }
    }

    /// Fails the runtime with `error` unless it already failed, and wakes every `block_on`.
    pub(crate) fn fail(&self, error: &JoinError) {
        let waiters = {
            let mut state = self.state.lock();
            if state.message.is_some() {
                return; // the first panic wins
            }
            state.message = Some(format!(
                "ciranda: {error}, and its JoinHandle was dropped: the runtime shuts down \
                 (unhandled_panic = ShutdownRuntime)"
            ));
            self.failed.store(true, Ordering::Release);
            std::mem::take(&mut state.waiters)
        };
        // Outside the lock: a waker is foreign code and may call back into the runtime.
        for (_, waker) in waiters {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
        }
    }

    /// Panics with the failure's message if the runtime failed.
    #[inline]
    #[track_caller]
    pub(crate) fn check(&self) {
        if self.failed.load(Ordering::Acquire) {
            self.fail_here();
        }
    }

    #[cold]
    #[track_caller]
    fn fail_here(&self) -> ! {
        let message = self.state.lock().message.clone().unwrap_or_default();
        panic!("{message}");
    }

    /// Registers the waker of a `block_on` in progress until the guard drops, so a failure
    /// wakes it. Register before the first check: a failure after the check then wakes it.
    pub(crate) fn watch(&self, waker: &Waker) -> Watch<'_> {
        let mut state = self.state.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        if state.message.is_none() {
            state.waiters.push((ticket, waker.clone()));
        }
        Watch {
            fatal: self,
            ticket,
        }
    }
}

/// Unregisters a `block_on`'s waker; returned by [`Fatal::watch`].
pub(crate) struct Watch<'a> {
    fatal: &'a Fatal,
    ticket: u64,
}

impl Drop for Watch<'_> {
    fn drop(&mut self) {
        let removed = {
            let mut state = self.fatal.state.lock();
            let position = state.waiters.iter().position(|(t, _)| *t == self.ticket);
            position.map(|i| state.waiters.swap_remove(i))
        };
        // The waker is dropped outside the lock.
        drop(removed);
    }
}
