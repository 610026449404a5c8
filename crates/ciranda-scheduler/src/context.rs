//! The thread-local "current runtime": what `Handle::current()` returns.

use crate::Handle;
use std::cell::RefCell;

thread_local! {
    static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) };
}

/// Makes a handle the thread's current one until dropped; returned by [`Handle::enter`].
/// Guards nest: dropping one restores the handle that was current before it.
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
/// assert!(ciranda_scheduler::Handle::try_current().is_none());
/// let _guard = sched.handle().enter();
/// assert!(ciranda_scheduler::Handle::try_current().is_some());
/// ```
#[must_use = "the handle stops being current when the guard is dropped"]
pub struct EnterGuard {
    previous: Option<Handle>,
    // Entering is per thread: the guard must be dropped on the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

pub(crate) fn enter(handle: Handle) -> EnterGuard {
    let previous = CURRENT.with(|current| current.borrow_mut().replace(handle));
    EnterGuard {
        previous,
        _not_send: std::marker::PhantomData,
    }
}

pub(crate) fn current() -> Option<Handle> {
    CURRENT
        .try_with(|current| current.borrow().clone())
        .ok()
        .flatten()
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // The restored value is dropped outside the borrow: dropping a handle can run code.
        let _replaced =
            CURRENT.try_with(|current| std::mem::replace(&mut *current.borrow_mut(), previous));
    }
}
