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
//! scheduler opens one) the budget is unlimited. A foreign executor's `block_on` nested
//! inside a task's poll runs under that task's budget; since it polls again in place
//! instead of letting the poll end, a spent budget is filled again after
//! [`REFUSALS_BEFORE_REFILL`] refusals, so such code slows down but never spins forever.
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

/// Refusals a spent budget gives before it is filled again within the same poll.
///
/// A refusal wakes the task and returns `Pending`, which normally ends the task's poll, and
/// the next poll opens a new budget. Code that polls in place instead — a foreign
/// executor's `block_on` nested in a task, a hand-written busy-poll loop — never ends that
/// poll: without a refill every leaf future would refuse forever and the worker would spin.
/// A fan-out combinator (`FuturesUnordered`) may see up to one refusal per child before it
/// returns, so a refill there lets at most a budget's worth of children more proceed.
///
/// # Examples
///
/// ```
/// use std::task::{Context, Waker};
/// let mut cx = Context::from_waker(Waker::noop());
/// ciranda_coop::with_budget(0, || {
///     for _ in 0..ciranda_coop::REFUSALS_BEFORE_REFILL {
///         assert!(ciranda_coop::poll_proceed(&mut cx).is_pending());
///     }
///     // Still in the same poll: whoever polls in place gets a new budget.
///     assert!(ciranda_coop::poll_proceed(&mut cx).is_ready());
///     assert_eq!(ciranda_coop::remaining(), Some(ciranda_coop::BUDGET - 1));
/// });
/// ```
pub const REFUSALS_BEFORE_REFILL: u8 = BUDGET;

// The thread's budget is one counter `v` (`Option<u16>`, `None`: no budget in force).
// Units and refusals share it so that opening a budget stays a single store:
//
// | `v`                      | meaning                         | `poll_proceed`             |
// |--------------------------|---------------------------------|----------------------------|
// | `R + 1 ..= R + units`    | `v - R` units left              | allowed, `v - 1`           |
// | `1 ..= R`                | spent, `v` refusals left        | refused, `v - 1`           |
// | `0`                      | spent, refusals used up         | allowed, refill: `R + BUDGET - 1` |
//
// where `R` = `REFUSALS_BEFORE_REFILL`; `with_budget(units)` sets `R + units`.
const R: u16 = REFUSALS_BEFORE_REFILL as u16;

thread_local! {
    // Destructor-free, so it stays usable while the thread is torn down.
    static REMAINING: Cell<Option<u16>> = const { Cell::new(None) };
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
pub fn with_budget<T>(units: u8, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<u16>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = REMAINING.try_with(|cell| cell.set(self.0));
        }
    }
    let previous = REMAINING.with(|cell| cell.replace(Some(R + u16::from(units))));
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
    let v = REMAINING.try_with(Cell::get).ok().flatten()?;
    // At most `R + u8::MAX` (set by `with_budget`), so the units fit in a `u8`.
    Some(u8::try_from(v.saturating_sub(R)).unwrap_or(u8::MAX))
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
            Some(v) if v > R => {
                cell.set(Some(v - 1));
                true
            }
            Some(0) => {
                // Refused `R` times and still in the same poll: somebody polls in place.
                cell.set(Some(R + u16::from(BUDGET) - 1));
                true
            }
            Some(v) => {
                cell.set(Some(v - 1));
                false
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
        // After an allowed `poll_proceed` the counter is at least `R`; a refusal's count is
        // never raised.
        if let Some(v) = cell.get().filter(|&v| v >= R) {
            cell.set(Some((v + 1).min(R + u16::from(BUDGET))));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn proceed_once() -> bool {
        poll_proceed(&mut Context::from_waker(Waker::noop())).is_ready()
    }

    #[test]
    fn a_budget_allows_its_units_then_refuses_then_refills() {
        with_budget(3, || {
            assert!((0..3).all(|_| proceed_once()));
            assert_eq!(remaining(), Some(0));
            assert!((0..REFUSALS_BEFORE_REFILL).all(|_| !proceed_once()));
            assert_eq!(remaining(), Some(0));
            // The refill: a full budget, of which this call takes one unit.
            assert!(proceed_once());
            assert_eq!(remaining(), Some(BUDGET - 1));
            assert!((0..BUDGET - 1).all(|_| proceed_once()));
            assert!(!proceed_once());
        });
    }

    #[test]
    fn a_refund_never_turns_a_refusal_into_a_unit() {
        with_budget(0, || {
            assert!(!proceed_once());
            refund();
            assert_eq!(remaining(), Some(0));
            // Refusals left: REFUSALS_BEFORE_REFILL - 1 more, then the refill.
            assert!((1..REFUSALS_BEFORE_REFILL).all(|_| !proceed_once()));
            assert!(proceed_once());
        });
    }

    #[test]
    fn refunds_stop_at_a_full_budget_and_budgets_nest() {
        with_budget(BUDGET, || {
            refund();
            assert_eq!(remaining(), Some(BUDGET));
            with_budget(2, || {
                assert!(proceed_once());
                refund();
                refund();
                assert_eq!(remaining(), Some(3));
            });
            assert_eq!(remaining(), Some(BUDGET));
        });
        assert_eq!(remaining(), None);
        assert!(proceed_once());
        with_budget(u8::MAX, || assert_eq!(remaining(), Some(u8::MAX)));
    }
}
