//! Cooperative-budget hook.
//!
//! The reactor does not depend on the scheduler, yet its leaf futures (socket reads and writes,
//! accepts, timers) must take part in the scheduler's per-poll budget so that a task that always
//! finds its socket ready still yields now and then. The scheduler's budget check is installed
//! here once by the facade (`ciranda` installs `ciranda_scheduler::coop::poll_proceed`). With no
//! hook installed the budget is unlimited.
//!
//! Leaf futures consult the hook *before* they perform the operation (a read cannot be undone
//! once it has consumed bytes), and when the hook says `Pending` they wake their own task and
//! return `Pending`, so the task is rescheduled behind others.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::task::{Context, Poll};

/// The signature of a budget hook: `Ready(())` means "go on", `Pending` means "yield now".
///
/// ```
/// use ciranda_reactor::coop::Hook;
/// use std::task::{Context, Poll};
///
/// fn always(_cx: &mut Context<'_>) -> Poll<()> {
///     Poll::Ready(())
/// }
/// let hook: Hook = always;
/// # let _ = hook;
/// ```
pub type Hook = fn(&mut Context<'_>) -> Poll<()>;

/// The installed hook as a type-erased function pointer; null means "no hook".
///
/// A plain `std` atomic on purpose: a `static` cannot hold a loom atomic, and the hook is not
/// part of any protocol a loom model explores.
static HOOK: AtomicPtr<()> = AtomicPtr::new(std::ptr::null_mut());

/// Installs the budget hook every leaf future of this crate consults before making progress.
///
/// Installing again replaces the previous hook (the facade installs the same function for every
/// runtime, so replacing is harmless).
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll};
///
/// fn unlimited(_cx: &mut Context<'_>) -> Poll<()> {
///     Poll::Ready(())
/// }
/// ciranda_reactor::coop::set_hook(unlimited);
/// ```
pub fn set_hook(hook: Hook) {
    HOOK.store(hook as *mut (), Ordering::Release);
}

/// Asks the installed hook whether the current task may go on; `Ready` when no hook is set.
///
/// On `Pending` the caller's task has already been woken (by the hook or here), so the caller
/// only has to return `Pending`.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let ptr = HOOK.load(Ordering::Acquire);
    if ptr.is_null() {
        return Poll::Ready(());
    }
    // SAFETY: the only values ever stored in `HOOK` are null (checked above) and `Hook` function
    // pointers cast to `*mut ()` by `set_hook`; function pointers and data pointers have the same
    // size on every platform Rust supports with `std` atomics, and casting back to the exact
    // original function-pointer type is sound.
    let hook: Hook = unsafe { std::mem::transmute::<*mut (), Hook>(ptr) };
    match hook(cx) {
        Poll::Ready(()) => Poll::Ready(()),
        Poll::Pending => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn no_hook_means_unlimited() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        // Other tests in this binary never install a hook.
        assert!(poll_proceed(&mut cx).is_ready());
    }
}
