//! The cooperative budget, as the sync primitives see it.
//!
//! `ciranda-sync` does not depend on the scheduler, yet its leaf futures (`lock`, `acquire`,
//! `recv`, `get`, ...) take part in the scheduler's per-poll budget so that a task that loops
//! over always-ready operations still yields now and then. The budget lives in the
//! `ciranda-coop` crate, below both: every leaf future calls [`ciranda_coop::poll_proceed`] at
//! the start of a poll that may complete, and when it answers [`Poll::Pending`] (having woken
//! the task) the future returns `Pending` without having taken anything.
//!
//! Outside a scheduler's task poll (on another executor) the budget is unlimited and the
//! check costs one thread-local read.

use core::task::{Context, Poll};

pub(crate) use ciranda_coop::poll_proceed;

/// The signature budget hooks had before the budget moved to `ciranda-coop`.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll};
///
/// let hook: ciranda_sync::coop::Hook = |_cx: &mut Context<'_>| Poll::Ready(());
/// ciranda_sync::coop::set_hook(hook); // no effect
/// ```
pub type Hook = fn(&mut Context<'_>) -> Poll<()>;

/// Does nothing: the sync primitives now spend the one budget in `ciranda-coop`, so there is
/// no hook to install. Kept so that existing callers still compile.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll};
///
/// fn always_proceed(_: &mut Context<'_>) -> Poll<()> {
///     Poll::Ready(())
/// }
/// ciranda_sync::coop::set_hook(always_proceed); // no effect
/// ```
pub fn set_hook(hook: Hook) {
    let _ = hook;
}

/// Does nothing, like [`set_hook`]: there is no hook to remove.
///
/// # Examples
///
/// ```
/// ciranda_sync::coop::clear_hook();
/// ```
pub fn clear_hook() {}
