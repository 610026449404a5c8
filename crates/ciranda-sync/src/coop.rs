//! The cooperative-budget hook.
//!
//! `ciranda-sync` must not depend on the scheduler, yet its leaf futures (`lock`, `acquire`,
//! `recv`, `get`, ...) should take part in the scheduler's per-poll budget so that a task that
//! loops over always-ready operations still yields now and then. The scheduler (through the
//! facade) installs a hook with [`set_hook`]; every leaf future calls it at the start of a poll
//! that may complete, and when the hook answers [`Poll::Pending`] the future wakes itself and
//! returns `Pending` without having taken anything.
//!
//! With no hook installed the budget is unlimited and the check costs one atomic load.

use core::sync::atomic::{AtomicPtr, Ordering};
use core::task::{Context, Poll};

/// The signature of a budget hook: `Ready(())` lets the operation proceed, `Pending` asks the
/// caller to yield.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll};
///
/// // A hook that never limits anything.
/// let hook: ciranda_sync::coop::Hook = |_cx: &mut Context<'_>| Poll::Ready(());
/// ciranda_sync::coop::set_hook(hook);
/// # ciranda_sync::coop::clear_hook();
/// ```
pub type Hook = fn(&mut Context<'_>) -> Poll<()>;

/// The installed hook, as a type-erased function pointer; null means "no hook".
static HOOK: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Installs `hook` as the budget check of every leaf future in this crate, replacing any
/// previous hook. The hook does not need to wake the task: a future that is told to yield wakes
/// itself before returning `Pending`.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll};
///
/// fn always_proceed(_: &mut Context<'_>) -> Poll<()> {
///     Poll::Ready(())
/// }
/// ciranda_sync::coop::set_hook(always_proceed);
/// # ciranda_sync::coop::clear_hook();
/// ```
pub fn set_hook(hook: Hook) {
    HOOK.store(hook as *mut (), Ordering::Release);
}

/// Removes the installed hook: the budget becomes unlimited again.
///
/// # Examples
///
/// ```
/// ciranda_sync::coop::clear_hook();
/// ```
pub fn clear_hook() {
    HOOK.store(core::ptr::null_mut(), Ordering::Release);
}

/// Asks the installed hook whether the current task may complete one more operation. On
/// `Pending` the task has already been woken so that it is polled again later.
#[inline]
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let ptr = HOOK.load(Ordering::Acquire);
    if ptr.is_null() {
        return Poll::Ready(());
    }
    // SAFETY: the only non-null values ever stored in `HOOK` come from `set_hook`, which stores
    // a `Hook` function pointer cast to `*mut ()`. Function pointers and data pointers have the
    // same size and representation on every platform Rust supports for std, so transmuting it
    // back yields the original, valid function pointer. Function pointers are never dangling.
    let hook = unsafe { core::mem::transmute::<*mut (), Hook>(ptr) };
    let verdict = hook(cx);
    if verdict.is_pending() {
        cx.waker().wake_by_ref();
    }
    verdict
}
