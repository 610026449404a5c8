//! The cooperative budget, as the sync primitives see it.
//!
//! `ciranda-sync` does not depend on the scheduler, yet its leaf futures (`lock`, `acquire`,
//! `recv`, `get`, ...) take part in the scheduler's per-poll budget so that a task that loops
//! over always-ready operations still yields now and then. The budget lives in the
//! `ciranda-coop` crate, below both: every leaf future calls [`ciranda_coop::poll_proceed`] at
//! the start of a poll that may complete, and when it answers `Poll::Pending` (having woken
//! the task) the future returns `Pending` without having taken anything.
//!
//! Outside a scheduler's task poll (on another executor) the budget is unlimited and the
//! check costs one thread-local read.

pub(crate) use ciranda_coop::poll_proceed;
