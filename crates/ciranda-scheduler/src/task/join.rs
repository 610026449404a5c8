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
            self.cancel_if_drained_here();
            Poll::Pending
        }
    }

    /// Called by a poll that found the task unfinished. If a shutdown is dropping unfinished
    /// tasks on this thread, one of the destructors it runs waits for this task (through
    /// `block_on`): the task will never run again, and the drain would drop it only after this
    /// wait. It is cancelled here if it is that runtime's; the completion wakes the poll's
    /// waker. Off the drain: one thread-local read.
    #[inline]
    fn cancel_if_drained_here(&self) {
        if crate::context::draining() {
            // SAFETY: we are the task's JoinHandle, holding a reference.
            unsafe { self.raw().cancel_if_drained_here() };
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
            } else {
                this.cancel_if_drained_here();
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

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::task::raw::{self, Notified, Schedule};
    use crate::task::{JoinError, JoinHandle, TaskId};
    use std::future::Future;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::task::{Context, RawWaker, RawWakerVTable, Waker};

    /// What became of the task: its cell freed (its scheduler value dropped), its output
    /// dropped.
    #[derive(Default)]
    struct Counts {
        freed: AtomicUsize,
        outputs_dropped: AtomicUsize,
    }

    /// The task's scheduler value: dropped exactly when the cell is freed. These tasks are
    /// run by hand and never woken.
    struct Sched(Arc<Counts>);

    impl Drop for Sched {
        fn drop(&mut self) {
            self.0.freed.fetch_add(1, SeqCst);
        }
    }

    impl Schedule for Sched {
        unsafe fn schedule(_this: *const Self, _task: Notified) {
            unreachable!("these tasks are never woken");
        }
        unsafe fn requeue(_this: *const Self, _task: Notified) {
            unreachable!("these tasks complete in their first poll");
        }
        fn unhandled_panic(&self, error: &JoinError) {
            panic!("no task here panics: {error}");
        }
    }

    struct Output(Arc<Counts>);

    impl Drop for Output {
        fn drop(&mut self) {
            self.0.outputs_dropped.fetch_add(1, SeqCst);
        }
    }

    /// A foreign waker whose destructor panics once while `armed` is set.
    fn waker_with_panicking_drop(armed: &'static AtomicBool) -> Waker {
        unsafe fn clone(data: *const ()) -> RawWaker {
            RawWaker::new(data, &VTABLE)
        }
        unsafe fn wake(data: *const ()) {
            // SAFETY: `wake` consumes the waker, as `drop_waker` does.
            unsafe { drop_waker(data) }
        }
        unsafe fn wake_by_ref(_: *const ()) {}
        unsafe fn drop_waker(data: *const ()) {
            // SAFETY: the data pointer is the `&'static AtomicBool` given below.
            let armed = unsafe { &*data.cast::<AtomicBool>() };
            if armed.swap(false, SeqCst) {
                panic!("a waker's destructor panics");
            }
        }
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);
        let data = (armed as *const AtomicBool).cast::<()>();
        // SAFETY: the functions above keep the `RawWaker` contract: the data is `'static` and
        // the waker owns nothing.
        unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
    }

    /// A queued task (not yet run) that finishes in its first poll, with its handle polled
    /// once with `waker`, so the handle's clone of it is in the join waker slot.
    fn task_with_registered_waker(
        counts: &Arc<Counts>,
        waker: &Waker,
    ) -> (Notified, JoinHandle<Output>) {
        let output = Output(counts.clone());
        let future = async move { output };
        let raw::NewTask { notified, mut join } =
            raw::allocate(future, Sched(counts.clone()), TaskId::next(), None);
        let polled = Pin::new(&mut join).poll(&mut Context::from_waker(waker));
        assert!(polled.is_pending(), "the task has not run yet");
        (notified, join)
    }

    /// A `JoinHandle` dropped before its task finishes takes its waker back from the slot and
    /// drops it. That destructor is foreign code: when it panics, the handle must still have
    /// released its reference, or the task is never freed.
    #[test]
    fn a_panicking_waker_dropped_by_the_join_handle_does_not_leak_the_task() {
        let armed: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let waker = waker_with_panicking_drop(armed);
        let counts = Arc::new(Counts::default());
        let (notified, join) = task_with_registered_waker(&counts, &waker);
        armed.store(true, SeqCst);
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(join)));
        assert!(
            dropped.is_err(),
            "the waker's panic reaches the handle's owner"
        );
        assert!(notified.run(), "the task finishes in its first poll");
        assert_eq!(
            counts.outputs_dropped.load(SeqCst),
            1,
            "the detached output"
        );
        assert_eq!(counts.freed.load(SeqCst), 1, "the task was freed");
    }

    /// The same after the task finished: the runtime woke the handle's waker and handed the
    /// slot back, so the handle's drop finds its waker there (with `JOIN_WAKER` clear) and
    /// drops it; the unread output must be dropped and the task freed all the same.
    #[test]
    fn a_panicking_waker_left_after_completion_does_not_leak_the_output() {
        let armed: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let waker = waker_with_panicking_drop(armed);
        let counts = Arc::new(Counts::default());
        let (notified, join) = task_with_registered_waker(&counts, &waker);
        assert!(notified.run(), "the task finishes in its first poll");
        assert!(join.is_finished());
        armed.store(true, SeqCst);
        let dropped = catch_unwind(AssertUnwindSafe(move || drop(join)));
        assert!(
            dropped.is_err(),
            "the waker's panic reaches the handle's owner"
        );
        assert_eq!(counts.outputs_dropped.load(SeqCst), 1, "the unread output");
        assert_eq!(counts.freed.load(SeqCst), 1, "the task was freed");
    }
}
