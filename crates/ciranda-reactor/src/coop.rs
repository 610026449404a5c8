//! The cooperative budget, as the reactor's leaf futures see it.
//!
//! The reactor does not depend on the scheduler, yet its leaf futures (socket reads and writes,
//! accepts, timers) take part in the scheduler's per-poll budget so that a task that always
//! finds its socket ready still yields now and then. The budget lives in the `ciranda-coop`
//! crate, below both: leaf futures poll through [`ciranda_coop::proceed`], which spends a unit
//! *before* the operation is performed (a read cannot be undone once it has consumed bytes)
//! and gives it back when the operation does not complete; when the budget is spent it says
//! `Pending` (having woken the task), so the task is rescheduled behind others. Outside a scheduler's task poll the budget is unlimited.

pub(crate) use ciranda_coop::{poll_proceed, proceed, refund, remaining};

#[cfg(all(test, not(loom)))]
mod tests {
    use std::task::Context;

    #[test]
    fn no_budget_scope_means_unlimited() {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..=ciranda_coop::BUDGET {
            assert!(ciranda_coop::poll_proceed(&mut cx).is_ready());
        }
    }
}
