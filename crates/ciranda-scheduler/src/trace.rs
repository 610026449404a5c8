//! `tracing` instrumentation (cargo feature `tracing`), in the shape console-subscriber reads,
//! so `tokio-console` lists ciranda's tasks:
//!
//! * a span per task, named `runtime.spawn` (target `runtime::task`), with the fields
//!   `kind` (`"task"` or `"blocking"`), `task.id`, `task.name` (when named), `loc.file`,
//!   `loc.line` and `loc.col` (the spawn location); it is entered around each poll and
//!   closed when the task completes (returns, panics or is cancelled);
//! * an event per waker operation, target `runtime::waker`, with `op` (`"waker.clone"`,
//!   `"waker.wake"`, `"waker.wake_by_ref"` or `"waker.drop"`) and `task.id`, which is the
//!   *span* id of the task (console-subscriber looks the task up by it).
//!
//! Without the feature this module is not compiled and the task header has no span field.
//!
//! The subscriber is foreign code, like a hook, and it is called from places nothing may
//! unwind out of: a worker's run of a task (out of which a panic killed the worker and left
//! the task marked running for good), a completion, a shutdown, a waker (where a panic lost
//! the wake-up or the waker's reference). Every call into it goes through
//! [`subscriber_call`]: a panic is reported on stderr, and the task goes on untraced for that
//! call.

use crate::report::report;
use crate::task::TaskId;
use crate::task::raw::Header;
use crate::task::state::COMPLETE;
use std::cell::UnsafeCell;
use std::panic::Location;

/// Runs `call`, a call into the subscriber (`what` it does, for the report, about task `id`
/// when known). A panic in it is caught and reported on stderr; `None` then.
fn subscriber_call<R>(what: &str, id: Option<TaskId>, call: impl FnOnce() -> R) -> Option<R> {
    crate::hooks::contain(call, |message| {
        let task = id.map(|id| format!(" of task {id}")).unwrap_or_default();
        report(format_args!(
            "the tracing subscriber panicked {what}{task}: {message}; the panic was caught and \
             the task goes on"
        ));
    })
}

/// The span of one task, in its header.
pub(crate) struct TaskSpan {
    /// Taken (and so closed) at completion, by the thread holding `RUNNING`.
    span: UnsafeCell<Option<tracing::Span>>,
    /// The span's id for waker events, `0` when no subscriber took the span. Written once at
    /// creation, so any thread may read it.
    span_id: u64,
}

// SAFETY: `span` is touched only by the thread holding the task's `RUNNING` bit (entering,
// closing) or by the drop of the header (nobody else left); `span_id` is immutable.
unsafe impl Sync for TaskSpan {}

impl TaskSpan {
    pub(crate) fn new(
        id: TaskId,
        name: Option<&str>,
        blocking: bool,
        location: &'static Location<'static>,
    ) -> TaskSpan {
        let kind = if blocking { "blocking" } else { "task" };
        // No parent: a task outlives the poll (or the span) that spawned it.
        let make = || {
            tracing::trace_span!(
                target: "runtime::task",
                parent: None,
                "runtime.spawn",
                kind = kind,
                task.id = id.as_u64(),
                // At creation: console-subscriber reads a task's fields only then (an `Option`
                // records nothing when `None`).
                task.name = name,
                loc.file = location.file(),
                loc.line = location.line(),
                loc.col = location.column(),
            )
        };
        let span = subscriber_call("creating the span", Some(id), make)
            .unwrap_or_else(tracing::Span::none);
        let span_id = span.id().map_or(0, |id| id.into_u64());
        TaskSpan {
            span: UnsafeCell::new(Some(span)),
            span_id,
        }
    }

    /// Enters the span for one poll (of task `id`); give the guard to [`exit`] after it.
    ///
    /// # Safety
    /// The caller holds the task's `RUNNING` bit until the guard is dropped, and does not
    /// call [`close`](Self::close) meanwhile.
    pub(crate) unsafe fn enter(&self, id: TaskId) -> Option<tracing::span::Entered<'_>> {
        // SAFETY: RUNNING makes this thread the only one touching the slot.
        let span = unsafe { (*self.span.get()).as_ref() }?;
        subscriber_call("entering the span", Some(id), || span.enter())
    }

    /// Closes the span (of task `id`): the task is complete.
    ///
    /// # Safety
    /// The caller holds the task's `RUNNING` bit, and no guard of [`enter`](Self::enter) is
    /// alive.
    pub(crate) unsafe fn close(&self, id: TaskId) {
        // SAFETY: as above.
        if let Some(span) = unsafe { (*self.span.get()).take() } {
            subscriber_call("closing the span", Some(id), || drop(span));
        }
    }
}

impl Drop for TaskSpan {
    /// A task freed before it completed (a blocking task whose queue entry was dropped) still
    /// has its span: closing it calls the subscriber too.
    fn drop(&mut self) {
        if let Some(span) = self.span.get_mut().take() {
            subscriber_call("closing the span", None, || drop(span));
        }
    }
}

/// Leaves the span entered by [`TaskSpan::enter`] for a poll of task `id`.
pub(crate) fn exit(entered: Option<tracing::span::Entered<'_>>, id: TaskId) {
    if let Some(entered) = entered {
        subscriber_call("leaving the span", Some(id), || drop(entered));
    }
}

/// Emits a waker event for the task of `header` (unless it is complete: its span is closed
/// and its id may belong to another span by now).
pub(crate) fn waker_op(header: &Header, op: &'static str) {
    let span_id = header.span.span_id;
    if span_id == 0 || header.state.load().is(COMPLETE) {
        return;
    }
    subscriber_call("recording a waker event", Some(header.id), || {
        tracing::trace!(target: "runtime::waker", op = op, task.id = span_id);
    });
}
