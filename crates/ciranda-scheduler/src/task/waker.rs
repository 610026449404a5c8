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
