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

fn raw(data: *const ()) -> RawTask {
    // SAFETY: every RawWaker with this vtable was built from a live task header, and each
    // waker holds (or borrows) a reference that keeps it alive.
    unsafe { RawTask::from_ptr(data as *mut Header) }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    raw(data).header().state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    let task = raw(data);
    match task.header().state.transition_to_notified_by_val() {
        // The waker's reference moves into the run queue.
        WakeAction::Submit => task.schedule(),
        WakeAction::Dealloc => task.drop_reference_last(),
        WakeAction::Nothing => {}
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    let task = raw(data);
    if task.header().state.transition_to_notified_by_ref() {
        // The transition took a new reference for the queue.
        task.schedule();
    }
}

unsafe fn drop_waker(data: *const ()) {
    raw(data).drop_reference();
}
