//! Run queues: a per-worker local queue with its stealer, and the global injector.
//!
//! Normal builds use `crossbeam-deque` (a Chase-Lev deque per worker, a segmented MPMC
//! injector). crossbeam is not loom-instrumented, so under `cfg(loom)` this module swaps in
//! a `Mutex<VecDeque>` with the same interface: loom then checks *our* protocol (parking,
//! notification, task states) while crossbeam's own test suite covers crossbeam.

use crate::task::raw::Notified;

/// The most tasks one steal takes from a queue that held `len` a moment ago (`len` is a racy
/// snapshot): half, rounded up, at least one, counting the task handed back to run. crossbeam
/// may take fewer (it takes at most this limit); the loom queue takes exactly this many of
/// what it holds.
fn half(len: usize) -> usize {
    len.div_ceil(2).max(1)
}

/// Most tasks one pull from the injector moves to a worker: enough that a flood of remote
/// spawns reaches the workers in few pulls (each pull is a turn taken from local tasks),
/// little enough that one worker does not hoard what the others could run.
pub(crate) const MAX_INJECT_BATCH: usize = 256;

/// A worker's fair share of an injector holding `len` tasks: `len / workers`, at least one
/// and at most [`MAX_INJECT_BATCH`].
fn inject_share(len: usize, workers: usize) -> usize {
    (len / workers).clamp(1, MAX_INJECT_BATCH)
}

#[cfg(not(loom))]
mod imp {
    use super::*;
    use crossbeam_deque::{Injector, Steal, Worker};

    /// The owner's end of a worker's queue (FIFO: pop from the front, push to the back).
    pub(crate) struct Local(Worker<Notified>);
    /// Another worker's end of the same queue.
    pub(crate) struct Stealer(crossbeam_deque::Stealer<Notified>);
    /// The global queue for tasks scheduled from outside the workers.
    pub(crate) struct Inject(Injector<Notified>);

    pub(crate) fn local() -> (Local, Stealer) {
        let worker = Worker::new_fifo();
        let stealer = worker.stealer();
        (Local(worker), Stealer(stealer))
    }

    fn settle(mut attempt: impl FnMut() -> Steal<Notified>) -> Option<Notified> {
        loop {
            match attempt() {
                Steal::Success(task) => return Some(task),
                Steal::Empty => return None,
                Steal::Retry => std::hint::spin_loop(),
            }
        }
    }

    impl Local {
        #[inline]
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }
        #[inline]
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.pop()
        }
        #[inline]
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Stealer {
        /// Moves about half of this queue into `dest` and returns one task to run.
        pub(crate) fn steal_half_into(&self, dest: &Local) -> Option<Notified> {
            if self.0.is_empty() {
                return None;
            }
            settle(|| {
                let limit = half(self.0.len());
                self.0.steal_batch_with_limit_and_pop(&dest.0, limit)
            })
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        /// Tasks in the queue (for metrics).
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }

    impl Inject {
        pub(crate) fn new() -> Inject {
            Inject(Injector::new())
        }
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }
        /// Takes a fair share ([`inject_share`]) into `dest` and returns one of it to run.
        ///
        /// crossbeam moves at most 32 tasks per steal, and no further than the end of the
        /// injector's current block; the rest of the share is taken with more steals, which
        /// stop at the first contended or empty one (another worker takes it next).
        pub(crate) fn pop_batch_into(&self, dest: &Local, workers: usize) -> Option<Notified> {
            if self.0.is_empty() {
                return None;
            }
            let share = inject_share(self.0.len(), workers);
            // `dest` is the caller's own queue: what it gains is what the steals moved (less
            // whatever thieves take meanwhile, which only makes this pull a little bigger).
            let before = dest.0.len();
            let first = settle(|| self.0.steal_batch_with_limit_and_pop(&dest.0, share))?;
            loop {
                let moved = dest.0.len().saturating_sub(before);
                if moved + 1 >= share
                    || !self
                        .0
                        .steal_batch_with_limit(&dest.0, share - 1 - moved)
                        .is_success()
                {
                    return Some(first);
                }
            }
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            settle(|| self.0.steal())
        }
        #[inline]
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
        /// Tasks in the queue (for metrics).
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
    }
}

#[cfg(loom)]
mod imp {
    use super::*;
    use crate::loom::{Arc, Mutex};
    use std::collections::VecDeque;

    type Shared = Arc<Mutex<VecDeque<Notified>>>;

    pub(crate) struct Local(Shared);
    pub(crate) struct Stealer(Shared);
    pub(crate) struct Inject(Mutex<VecDeque<Notified>>);

    pub(crate) fn local() -> (Local, Stealer) {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        (Local(queue.clone()), Stealer(queue))
    }

    impl Local {
        pub(crate) fn push(&self, task: Notified) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl Stealer {
        pub(crate) fn steal_half_into(&self, dest: &Local) -> Option<Notified> {
            let mut batch: VecDeque<Notified> = {
                let mut victim = self.0.lock();
                let take = half(victim.len()).min(victim.len());
                victim.drain(..take).collect()
            };
            let first = batch.pop_front()?;
            let mut dest = dest.0.lock();
            dest.extend(batch);
            Some(first)
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }

    impl Inject {
        pub(crate) fn new() -> Inject {
            Inject(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, task: Notified) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop_batch_into(&self, dest: &Local, workers: usize) -> Option<Notified> {
            let mut batch: VecDeque<Notified> = {
                let mut queue = self.0.lock();
                let take = inject_share(queue.len(), workers).min(queue.len());
                queue.drain(..take).collect()
            };
            let first = batch.pop_front()?;
            dest.0.lock().extend(batch);
            Some(first)
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
    }
}

pub(crate) use imp::{Inject, Local, Stealer, local};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::task::raw::{self, Schedule};
    use crate::task::{JoinError, TaskId};

    /// Tasks that only sit in queues here.
    struct Unscheduled;

    impl Schedule for Unscheduled {
        unsafe fn schedule(_this: *const Self, _task: Notified) {
            unreachable!("queue tests never wake a task");
        }
        unsafe fn requeue(_this: *const Self, _task: Notified) {
            unreachable!("queue tests never run a task");
        }
        fn unhandled_panic(&self, error: &JoinError) {
            panic!("no queue test task panics: {error}");
        }
    }

    fn task() -> Notified {
        raw::allocate(async {}, Unscheduled, TaskId::next(), None).notified
    }

    #[test]
    fn an_injector_pull_takes_a_fair_share_beyond_one_steal() {
        let injector = Inject::new();
        for _ in 0..1_000 {
            injector.push(task());
        }
        let (local, _stealer) = local();
        // Two workers: half of 1 000, capped at MAX_INJECT_BATCH, the returned task included
        // (crossbeam alone moves at most 32 per steal).
        assert!(injector.pop_batch_into(&local, 2).is_some());
        assert_eq!(local.len(), MAX_INJECT_BATCH - 1);
        // A small injector: its share (len / workers, at least one).
        let rest = 1_000 - MAX_INJECT_BATCH;
        assert!(injector.pop_batch_into(&local, 8).is_some());
        assert_eq!(local.len() - (MAX_INJECT_BATCH - 1) + 1, rest / 8);
    }

    #[test]
    fn an_injector_pull_adds_its_share_to_what_the_queue_held() {
        let injector = Inject::new();
        for _ in 0..10 {
            injector.push(task());
        }
        let (local, _stealer) = local();
        for _ in 0..5 {
            local.push(task());
        }
        assert!(injector.pop_batch_into(&local, 1).is_some());
        assert_eq!(local.len(), 14);
        assert!(injector.pop_batch_into(&local, 1).is_none());
    }
}
