//! Task identifiers.

use crate::context;
use std::fmt;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// A task's identifier: unique among all tasks of the process for its lifetime.
///
/// Ids are handed out in blocks per thread, so they are unique but not ordered by spawn
/// time across threads.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let a = ciranda::spawn(async {});
///     let b = ciranda::spawn(async {});
///     assert_ne!(a.id(), b.id());
/// });
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(NonZeroU64);

/// How many ids a thread reserves at once, so spawning does not touch a shared counter.
const BLOCK: u64 = 1024;
static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);

impl TaskId {
    pub(crate) fn next() -> TaskId {
        let raw = context::with_task_ids(|ids| {
            let (mut next, mut end) = ids.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
                end = next + BLOCK;
            }
            ids.set((next + 1, end));
            next
        })
        // During thread teardown the thread-local is gone: take a single id.
        .unwrap_or_else(|| NEXT_BLOCK.fetch_add(1, Ordering::Relaxed));
        TaskId(NonZeroU64::new(raw).expect("task id counter overflowed"))
    }

    /// The id as a number (never zero).
    pub fn as_u64(self) -> u64 {
        self.0.get()
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
