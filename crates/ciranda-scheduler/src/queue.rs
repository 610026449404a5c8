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
        /// Takes a fair share (`len / workers`, at least one) into `dest`, returns one to run.
        pub(crate) fn pop_batch_into(&self, dest: &Local, workers: usize) -> Option<Notified> {
            if self.0.is_empty() {
                return None;
            }
            settle(|| {
                let limit = (self.0.len() / workers).max(1);
                self.0.steal_batch_with_limit_and_pop(&dest.0, limit)
            })
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
                let take = (queue.len() / workers).max(1).min(queue.len());
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
