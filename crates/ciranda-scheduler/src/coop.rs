//! Cooperative scheduling budget.
//!
//! A task that loops over always-ready operations (a channel that is never empty, a socket
//! that always has data) never returns `Pending` on its own, and would keep its worker
//! forever. Each task poll therefore gets a budget of [`BUDGET`] operations; ciranda's leaf
//! futures (join handles, channels, locks, sockets, timers) spend one unit each time they
//! complete, and once the budget is spent they return `Pending` after waking their task,
//! which sends the task to the back of its run queue.
//!
//! Outside a task poll (in `block_on`'s future, or on a foreign executor) the budget is
//! unlimited unless the caller sets one up with [`budget`].
//!
//! Crates that cannot depend on the scheduler take [`poll_proceed`] as a plain function
//! pointer (see `docs/CONVENTIONS.md`).

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations a task may complete in one poll before it is made to yield (Tokio's figure).
pub const BUDGET: u8 = 128;

thread_local! {
    // `None`: no budget in force (unconstrained).
    static REMAINING: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Runs `f` with a fresh budget, restoring the previous one afterwards (also on panic).
///
/// ```
/// use ciranda_scheduler::coop;
/// let remaining = coop::budget(|| coop::remaining());
/// assert_eq!(remaining, Some(coop::BUDGET));
/// assert_eq!(coop::remaining(), None);
/// ```
pub fn budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u8>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = REMAINING.try_with(|cell| cell.set(self.0));
        }
    }
    let previous = REMAINING.with(|cell| cell.replace(Some(BUDGET)));
    let _restore = Restore(previous);
    f()
}

/// The budget left in the current poll, `None` when unconstrained.
pub fn remaining() -> Option<u8> {
    REMAINING.try_with(Cell::get).ok().flatten()
}

/// Spends one unit of budget. When the budget is exhausted, wakes the task and returns
/// `Pending`, so the caller returns `Pending` too and the task yields.
///
/// Call it when an operation is about to complete; if it turns out not to complete, give
/// the unit back with [`refund`].
///
/// ```
/// use ciranda_scheduler::coop;
/// use std::task::{Context, Poll, Waker};
/// let mut cx = Context::from_waker(Waker::noop());
/// coop::budget(|| {
///     for _ in 0..coop::BUDGET {
///         assert!(coop::poll_proceed(&mut cx).is_ready());
///     }
///     assert!(coop::poll_proceed(&mut cx).is_pending());
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

/// Gives back a unit taken by [`poll_proceed`] for an operation that did not complete.
#[inline]
pub fn refund() {
    let _ = REMAINING.try_with(|cell| {
        if let Some(n) = cell.get() {
            cell.set(Some(n.saturating_add(1).min(BUDGET)));
        }
    });
}
