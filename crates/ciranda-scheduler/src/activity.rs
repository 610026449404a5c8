//! Is the runtime idle? The decision that lets a paused clock jump.
//!
//! With a paused clock, the driver of the reactor advances virtual time to the next timer only
//! when nothing in the runtime can still act before that timer: no task queued or running, no
//! `block_on` future woken or being polled, no blocking call queued or running. Deciding that
//! from several counters that other threads change concurrently is a snapshot problem: read
//! one after the other, they can show a moment that never existed. A worker can be counted
//! parked when the first counter is read, wake, take the last queued task and run it before
//! the queues are read — and the runtime looks idle while a task runs (issue 15, defect 7).
//!
//! So each counter of *active things* carries a generation in the same atomic word, bumped by
//! every transition from inactive to active, and [`Shared::is_idle`] reads the words twice
//! around the queues (a *double collect*):
//!
//! 1. read every activity word; each must show nothing active;
//! 2. read every queue; each must be empty;
//! 3. read every activity word again; each must be unchanged.
//!
//! Why that is enough: a word that reads the same twice was not written in between (an
//! activation bumps the generation, a deactivation lowers the count), so every word stayed
//! at "nothing active" from its first read to its second. Every queue read falls inside all
//! of those intervals, while no worker (the only consumer of queues) and no producer of the
//! runtime could act; a queue found empty stayed empty. At any instant between the two
//! collects the runtime was therefore truly idle. Only a thread outside the runtime (or an
//! I/O event, which the reactor checks itself) can make work in the meantime, and that is a
//! race with virtual time that no ordering could settle.
//!
//! | word                       | active count               | activation bumps it when      |
//! |----------------------------|----------------------------|-------------------------------|
//! | `Idle`'s state             | unparked workers           | a worker is unparked          |
//! | `Shared::block_on_active`  | `block_on` threads         | a `block_on` future is woken or starts |
//! | the blocking pool's count  | blocking calls running, and queued ones a thread can take | a call is queued, or a thread can take one again |
//!
//! A `block_on` that waits inside a blocking call or inside another `block_on`'s future on
//! the same thread (synchronous code calling back into async code) takes what it is nested in
//! off these counts for as long as it waits (`context::suspend`): neither can go on before
//! the wait ends, so neither may keep a paused clock from jumping to the timer it waits for.
//! For the same reason, calls queued behind a full blocking pool whose every call waits so
//! are not counted either: no thread can take them before one of those waits ends.
//!
//! The loom model `loom_models/activity.rs` checks the decision against a worker that takes
//! a woken task, a `block_on` thread and a blocking call.

use crate::loom::atomic::{AtomicU64, Ordering::SeqCst};

/// Bits of an activity word that count active things; the generation sits above them.
pub(crate) const COUNT_BITS: u32 = 32;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// One activation in the generation half of a word.
pub(crate) const GENERATION_ONE: u64 = 1 << COUNT_BITS;

/// The double collect: `collect` reads every activity word, `all_inactive` says whether a
/// collection shows nothing active, `queues_empty` reads every queue. `true` only if at some
/// instant during the call nothing was active and nothing queued (see the module docs).
pub(crate) fn double_collect<W: PartialEq>(
    collect: impl Fn() -> W,
    all_inactive: impl FnOnce(&W) -> bool,
    queues_empty: impl FnOnce() -> bool,
) -> bool {
    let first = collect();
    all_inactive(&first) && queues_empty() && collect() == first
}

/// A count of active things and the generation of their activations, in one atomic word.
pub(crate) struct ActivityCount(AtomicU64);

impl ActivityCount {
    pub(crate) fn new() -> Self {
        ActivityCount(AtomicU64::new(0))
    }

    /// One more thing is active: counted, and the generation moves on.
    pub(crate) fn activate(&self) {
        self.0.fetch_add(1 | GENERATION_ONE, SeqCst);
    }

    /// One thing stopped being active.
    pub(crate) fn deactivate(&self) {
        let previous = self.0.fetch_sub(1, SeqCst);
        debug_assert!(previous & COUNT_MASK > 0, "activity count underflow");
    }

    /// The whole word, for a double collect.
    pub(crate) fn word(&self) -> u64 {
        self.0.load(SeqCst)
    }

    /// How many things are active in `word`.
    pub(crate) fn count(word: u64) -> u64 {
        word & COUNT_MASK
    }
}
