//! ciranda's cooperative scheduling budget, in one place.
//!
//! A task that loops over always-ready operations (a channel that is never empty, a socket
//! that always has data) never returns `Pending` on its own, and would keep its worker
//! forever. Each task poll therefore gets a budget of [`BUDGET`] operations: the scheduler
//! opens it with [`budget`] around every poll, and ciranda's leaf futures (join handles,
//! channels, locks, sockets, timers) spend one unit each time they complete an operation,
//! polling through [`proceed`] (a [`poll_proceed`] before the operation, a [`refund`] when it
//! turns out not to complete). Once the budget is spent they return `Pending` after waking
//! their task, which sends the task to the back of its run queue.
//!
//! Outside a budget scope (in a foreign executor, or in `block_on`'s future before the
//! scheduler opens one) the budget is unlimited.
//!
//! # Why a crate
//!
//! The scheduler, the reactor and the sync primitives must share this one counter, but the
//! reactor and the sync crate must not depend on the scheduler (they work on any executor).
//! The counter is a thread-local with no dependencies, so it sits below all three: each calls
//! it directly, with no hook to install at start-up and no function pointer to type-erase.
//!
//! ```
//! use std::task::{Context, Waker};
//! let mut cx = Context::from_waker(Waker::noop());
//! assert!(ciranda_coop::poll_proceed(&mut cx).is_ready()); // no budget in force
//! ciranda_coop::with_budget(1, || {
//!     assert!(ciranda_coop::poll_proceed(&mut cx).is_ready());
//!     assert!(ciranda_coop::poll_proceed(&mut cx).is_pending()); // spent: yield
//! });
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may complete in one poll before it is made to yield (Tokio's figure).
pub const BUDGET: u8 = 128;

thread_local! {
    // `None`: no budget in force (unconstrained). Destructor-free, so it stays usable while
    // the thread is torn down.
    static REMAINING: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` with a fresh budget of [`BUDGET`], restoring the previous one afterwards (also
/// on panic). The scheduler calls it around every task poll.
///
/// # Examples
///
/// ```
/// let remaining = ciranda_coop::budget(ciranda_coop::remaining);
/// assert_eq!(remaining, Some(ciranda_coop::BUDGET));
/// assert_eq!(ciranda_coop::remaining(), None);
/// ```
pub fn budget<R>(f: impl FnOnce() -> R) -> R {
    with_budget(BUDGET, f)
}

/// Runs `f` with a budget of `units` operations, restoring the previous one afterwards (also
/// on panic). For tests and for executors that want a budget other than [`BUDGET`].
///
/// # Examples
///
/// ```
/// assert_eq!(ciranda_coop::with_budget(3, ciranda_coop::remaining), Some(3));
/// ```
pub fn with_budget<R>(units: u8, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = REMAINING.try_with(|cell| cell.set(self.0));
        }
    }
    let previous = REMAINING.with(|cell| cell.replace(Some(units)));
    let _restore = Restore(previous);
    f()
}

/// The budget left in the current poll, `None` when unconstrained.
///
/// # Examples
///
/// ```
/// assert_eq!(ciranda_coop::remaining(), None);
/// ```
pub fn remaining() -> Option<u8> {
    REMAINING.try_with(Cell::get).ok().flatten()
}

/// Spends one unit of budget. When the budget is exhausted, wakes the task and returns
/// `Pending`, so the caller returns `Pending` too and the task yields.
///
/// Call it when an operation is about to complete (before it takes anything: a read cannot
/// be undone); if it turns out not to complete, give the unit back with [`refund`].
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
/// let mut cx = Context::from_waker(Waker::noop());
/// ciranda_coop::budget(|| {
///     for _ in 0..ciranda_coop::BUDGET {
///         assert!(ciranda_coop::poll_proceed(&mut cx).is_ready());
///     }
///     assert!(ciranda_coop::poll_proceed(&mut cx).is_pending());
/// });
/// ```
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    let allowed = REMAINING
        .try_with(|cell| match cell.get() {
            None => true,
            Some(0) => false,
            Some(n) => {
                cell.set(Some(n - 1));
                true
            }
        })
        .unwrap_or(true);
    if allowed {
        Poll::Ready(())
    } else {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The shape of every leaf future's poll: spends one unit with [`poll_proceed`] (returning
/// `Pending`, the task woken, once the budget is spent), then polls the operation `op`, and
/// gives the unit back with [`refund`] if `op` returns `Pending`: only completed operations
/// count. A task that polls many pending operations at once (a `select` over a hundred
/// channels) must not have the later ones refused, or it wakes itself and spins instead of
/// sleeping.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Poll, Waker};
/// let mut cx = Context::from_waker(Waker::noop());
/// ciranda_coop::with_budget(1, || {
///     // Not ready: the unit comes back.
///     assert!(ciranda_coop::proceed(&mut cx, |_| Poll::<()>::Pending).is_pending());
///     assert_eq!(ciranda_coop::remaining(), Some(1));
///     // Ready: spent.
///     assert!(ciranda_coop::proceed(&mut cx, |_| Poll::Ready(())).is_ready());
///     assert_eq!(ciranda_coop::remaining(), Some(0));
/// });
/// ```
#[inline]
pub fn proceed<T>(cx: &mut Context<'_>, op: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
    if poll_proceed(cx).is_pending() {
        return Poll::Pending;
    }
    let polled = op(cx);
    if polled.is_pending() {
        refund();
    }
    polled
}

/// Gives back a unit taken by [`poll_proceed`] for an operation that did not complete.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
/// let mut cx = Context::from_waker(Waker::noop());
/// ciranda_coop::with_budget(1, || {
///     assert!(ciranda_coop::poll_proceed(&mut cx).is_ready());
///     ciranda_coop::refund(); // the operation did not complete after all
///     assert_eq!(ciranda_coop::remaining(), Some(1));
/// });
/// ```
#[inline]
pub fn refund() {
    let _ = REMAINING.try_with(|cell| {
        if let Some(n) = cell.get() {
            cell.set(Some(n.saturating_add(1).min(BUDGET)));
        }
    });
}
