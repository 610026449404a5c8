//! The cooperative budget, as the sync primitives see it.
//!
//! `ciranda-sync` does not depend on the scheduler, yet its leaf futures (`lock`, `acquire`,
//! `recv`, `get`, ...) take part in the scheduler's per-poll budget so that a task that loops
//! over always-ready operations still yields now and then. The budget lives in the
//! `ciranda-coop` crate, below both: every leaf future polls through [`ciranda_coop::proceed`],
//! which spends a unit before the poll (and when the budget is spent answers `Poll::Pending`,
//! having woken the task, before anything is taken) and gives it back when the poll does not
//! complete.
//!
//! Outside a scheduler's task poll (on another executor) the budget is unlimited and the
//! check costs one thread-local read.

pub(crate) use ciranda_coop::proceed;
