//! `JoinHandle` and `AbortHandle`: the user's side of a task.

use super::raw::{Header, RawTask, TaskRef};
use super::{JoinError, TaskId, state};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

/// An owned permission to await a task's output — asyncio's `Task` object.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] when the task panicked or was
/// cancelled. Dropping it *detaches* the task: it keeps running and its output is dropped
/// when it finishes (a panic is then reported on stderr, never lost silently).
///
/// Awaiting a `JoinHandle` is cancel-safe: dropping the `.await` loses nothing, the handle can
/// be awaited again.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let handle = ciranda::spawn(async { 6 * 7 });
///     assert_eq!(handle.await.unwrap(), 42);
/// });
/// ```
///
/// # Cancel safety
///
/// A `JoinHandle` is itself the future, so dropping an unfinished `.await` on it (in a `select`, a
/// timeout) drops the handle: the task is detached, not cancelled; it runs on and its output is
/// dropped when it finishes. Poll `&mut handle` instead to keep the handle, and the output, for
/// later; use [`abort`](JoinHandle::abort) to cancel.
pub struct JoinHandle<T> {
    /// The task's header, with [`OUTPUT_TAKEN`] set in the address once this handle has
    /// returned the output. The task's stage has no tag to say that (see `raw::Stage`), and
    /// a flag beside the pointer would make every handle two words.
    task: NonNull<Header>,
    _output: PhantomData<T>,
}

/// The low bit of [`JoinHandle::task`]: the handle has taken the output. A header is aligned
/// to eight bytes, so the bit is clear in its address.
const OUTPUT_TAKEN: usize = 1;
const _: () = assert!(std::mem::align_of::<Header>() > OUTPUT_TAKEN);

// SAFETY: the handle only moves `T` out of the task (needs `T: Send`) and otherwise uses the
// task's thread-safe state protocol.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` exposes only `is_finished`, `id` and `abort`, which touch the atomic
// state word, never `T`.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// The caller transfers the task's `JoinHandle` reference, and `T` is the task's output.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            task: raw.as_non_null(),
            _output: PhantomData,
        }
    }

    /// The task, without this handle's mark.
    fn raw(&self) -> RawTask {
        let ptr = self.task.as_ptr().map_addr(|addr| addr & !OUTPUT_TAKEN);
        // SAFETY: `ptr` is the task's header address (from `RawTask::as_ptr`) with the mark
        // cleared, which is exactly what `from_raw` stored.
        unsafe { RawTask::from_ptr(ptr) }
    }

    fn output_taken(&self) -> bool {
        self.task.addr().get() & OUTPUT_TAKEN != 0
    }

    /// Requests cancellation — asyncio's `task.cancel()`. The future is dropped at its next
    /// scheduling point (at once if idle, after the current poll if running); awaiting the
    /// handle then gives a cancelled [`JoinError`]. A task that already finished keeps its
    /// output.
    ///
    /// # Examples
    ///
    /// ```
    /// ciranda::run(async {
    ///     let handle = ciranda::spawn(std::future::pending::<()>());
    ///     handle.abort();
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        // SAFETY: the handle owns a reference.
        unsafe { self.raw().remote_abort() };
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle owns a reference, which keeps the task alive while it is borrowed.
        unsafe { self.raw().header() }
    }

    /// `true` once the task's future has finished or been dropped — asyncio's `task.done()`.
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is(state::COMPLETE)
    }

    /// Waits until the task has finished *without* taking its output: `Ready` once
    /// [`is_finished`](Self::is_finished) is true, otherwise the waker is registered. For
    /// combinators such as `wait` that hand finished handles back to the caller.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    ///
    /// ciranda::run(async {
    ///     let mut handle = ciranda::spawn(async { 5 });
    ///     poll_fn(|cx| handle.poll_finished(cx)).await;
    ///     assert!(handle.is_finished());
    ///     assert_eq!(handle.await.unwrap(), 5); // the output is still there
    /// });
    /// ```
    pub fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.header().can_read_output(cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// `true` once the task has finished with a [`JoinError`] (it panicked or was
    /// cancelled); `false` while it runs or when it produced a value.
    pub fn is_failed(&self) -> bool {
        self.header().state.load().is(state::FAILED)
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        self.header().state.ref_inc();
        AbortHandle {
            // SAFETY: `ref_inc` just made the reference the abort handle owns.
            task: unsafe { TaskRef::from_raw(self.raw()) },
        }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.header().id
    }

    /// The task's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        self.header().name().map(|name| &**name)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(
            !this.output_taken(),
            "JoinHandle polled after it already returned the task's output"
        );
        crate::coop::proceed(cx, |cx| {
            let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
            // SAFETY: `out` has the task's output type, we are its JoinHandle, and we have
            // not taken the output (checked above).
            unsafe {
                this.raw().try_read_output(
                    &mut out as *mut Poll<Result<T, JoinError>> as *mut (),
                    cx.waker(),
                )
            };
            if out.is_ready() {
                this.task = this.task.map_addr(|addr| addr | OUTPUT_TAKEN);
            }
            out
        })
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: we are the task's JoinHandle, giving up its reference.
        unsafe { self.raw().drop_join_handle(self.output_taken()) };
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// A cloneable handle that can abort a task without owning its output.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let handle = ciranda::spawn(std::future::pending::<()>());
///     let abort = handle.abort_handle();
///     abort.abort();
///     assert!(handle.await.unwrap_err().is_cancelled());
///     assert!(abort.is_finished());
/// });
/// ```
pub struct AbortHandle {
    task: TaskRef,
}

impl AbortHandle {
    /// Requests cancellation; see [`JoinHandle::abort`].
    pub fn abort(&self) {
        self.task.remote_abort();
    }

    /// `true` once the task's future has finished or been dropped.
    pub fn is_finished(&self) -> bool {
        self.task.header().state.load().is(state::COMPLETE)
    }

    /// `true` once cancellation was requested — by [`abort`](Self::abort) on any handle of
    /// the task, or by the runtime's shutdown — even if the future has not been dropped yet
    /// (it is dropped at the task's next scheduling point). A task that was already finished
    /// when the abort came keeps `false`; one aborted while its last poll was running keeps
    /// `true` even if that poll produced the output.
    ///
    /// # Examples
    ///
    /// ```
    /// ciranda::run(async {
    ///     let handle = ciranda::spawn(std::future::pending::<()>());
    ///     let abort = handle.abort_handle();
    ///     assert!(!abort.is_abort_requested());
    ///     abort.abort();
    ///     assert!(abort.is_abort_requested());
    ///     assert!(handle.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn is_abort_requested(&self) -> bool {
        self.task.header().state.load().is(state::CANCELLED)
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.header().id
    }

    /// The task's name, if it was spawned with one.
    pub fn name(&self) -> Option<&str> {
        self.task.header().name().map(|name| &**name)
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> Self {
        AbortHandle {
            task: self.task.clone_ref(),
        }
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
