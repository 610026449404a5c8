//! The task's waker: its data pointer is the task itself, so waking allocates nothing.

use super::raw::{Header, RawTask};
use super::state::WakeAction;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker for the task at `ptr` that owns one reference (or borrows one, inside
/// `ManuallyDrop`).
///
/// # Safety
/// `ptr` is a live task header.
pub(crate) unsafe fn waker_from_header(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable functions below uphold the `RawWaker` contract for task pointers.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

/// # Safety
/// `data` is the data pointer of a waker built by [`waker_from_header`] that is still live:
/// it holds (or borrows) a reference, which keeps the task alive during the call.
unsafe fn raw(data: *const ()) -> RawTask {
    // SAFETY: such a pointer came from a live task header.
    unsafe { RawTask::from_ptr(data as *mut Header) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: `Waker` calls its vtable only with the data of a live waker of this vtable,
    // whose reference keeps the task alive.
    let header = unsafe { raw(data).header() };
    #[cfg(feature = "tracing")]
    crate::trace::waker_op(header, "waker.clone");
    header.state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: as in `clone`; this waker owns its reference.
    let task = unsafe { raw(data) };
    // SAFETY: the waker's reference keeps the task alive here.
    #[cfg(feature = "tracing")]
    crate::trace::waker_op(unsafe { task.header() }, "waker.wake");
    // SAFETY: the waker's reference is live until one of the arms below releases it.
    match unsafe { task.header() }
        .state
        .transition_to_notified_by_val()
    {
        // SAFETY: the waker's reference moves into the run queue.
        WakeAction::Submit => unsafe { task.schedule() },
        // SAFETY: the transition released the waker's reference, the last one.
        WakeAction::Dealloc => unsafe { task.drop_reference_last() },
        WakeAction::Nothing => {}
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: as in `clone`.
    let task = unsafe { raw(data) };
    // SAFETY: the waker's reference keeps the task alive here.
    #[cfg(feature = "tracing")]
    crate::trace::waker_op(unsafe { task.header() }, "waker.wake_by_ref");
    // SAFETY: the waker's reference keeps the task alive; it is not consumed here.
    if unsafe { task.header() }
        .state
        .transition_to_notified_by_ref()
    {
        // SAFETY: the transition took a new reference for the queue, which moves into it.
        unsafe { task.schedule() };
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: the dropped waker's reference keeps the task alive here.
    #[cfg(feature = "tracing")]
    crate::trace::waker_op(unsafe { raw(data).header() }, "waker.drop");
    // SAFETY: as in `clone`; the dropped waker gives up the reference it owned.
    unsafe { raw(data).drop_reference() };
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::task::raw::{self, Notified, Schedule};
    use crate::task::{JoinError, TaskId};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    /// A scheduler whose queue is drained by another thread so fast that the task has run
    /// (and, here, completed and been freed) before `schedule` or `requeue` returns: what a
    /// worker that steals the task may do while the thread that queued it is preempted.
    struct RunElsewhere(Arc<AtomicUsize>);

    impl Drop for RunElsewhere {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    fn run_on_another_thread(task: Notified) {
        std::thread::spawn(move || {
            task.run();
        })
        .join()
        .expect("the task does not panic");
    }

    impl Schedule for RunElsewhere {
        unsafe fn schedule(_this: *const Self, task: Notified) {
            run_on_another_thread(task);
        }
        unsafe fn requeue(_this: *const Self, task: Notified) {
            run_on_another_thread(task);
        }
        fn unhandled_panic(&self, error: &JoinError) {
            panic!("no task here panics: {error}");
        }
    }

    /// Pending in its first poll, where it hands out a clone of its waker (`Keep`) or wakes
    /// itself (`Yield`); ready in its second.
    struct PendingOnce {
        polled: bool,
        yield_now: bool,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl Future for PendingOnce {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.polled {
                return Poll::Ready(());
            }
            self.polled = true;
            if self.yield_now {
                cx.waker().wake_by_ref();
            } else {
                *self.waker.lock().unwrap() = Some(cx.waker().clone());
            }
            Poll::Pending
        }
    }

    /// A detached task that ran once and left its waker with us, or (`yield_now`) one that
    /// yields in its first run. Returns the counter of frees and the waker, if any.
    fn detached_task(yield_now: bool) -> (Arc<AtomicUsize>, Option<Waker>) {
        let freed = Arc::new(AtomicUsize::new(0));
        let slot = Arc::new(Mutex::new(None));
        let future = PendingOnce {
            polled: false,
            yield_now,
            waker: slot.clone(),
        };
        let raw::NewTask { notified, join } =
            raw::allocate(future, RunElsewhere(freed.clone()), TaskId::next(), None);
        drop(join);
        notified.run();
        let waker = slot.lock().unwrap().take();
        (freed, waker)
    }

    /// A `wake` moves the waker's reference, here the task's last, into the queue: the task
    /// may be freed, its scheduler value with it, before the scheduler's `schedule` returns.
    /// Nothing may hold a reference to that value across the call (under Miri, a reference
    /// argument to freed memory is undefined behaviour).
    #[test]
    fn a_wake_may_free_the_task_before_schedule_returns() {
        let (freed, waker) = detached_task(false);
        waker.expect("the first poll left its waker").wake();
        assert_eq!(freed.load(SeqCst), 1, "the task was freed once");
    }

    /// The same for a task that yields: its runner's reference goes into the queue.
    #[test]
    fn a_yield_may_free_the_task_before_requeue_returns() {
        let (freed, waker) = detached_task(true);
        assert!(waker.is_none());
        assert_eq!(freed.load(SeqCst), 1, "the task was freed once");
    }
}
