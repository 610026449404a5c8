//! `JoinSet`: a dynamic set of tasks awaited in completion order.

use super::{AbortHandle, JoinError, JoinHandle};
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A set of spawned tasks whose results arrive in completion order.
///
/// Dropping the set aborts every task still in it (structured concurrency: nothing outlives
/// its owner by accident).
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let mut set = ciranda::task::JoinSet::new();
///     for i in 0..3u64 {
///         set.spawn(async move { i * 10 });
///     }
///     let mut total = 0;
///     while let Some(result) = set.join_next().await {
///         total += result.unwrap();
///     }
///     assert_eq!(total, 30);
///     assert!(set.is_empty());
/// });
/// ```
pub struct JoinSet<T> {
    /// One slot per task still in the set; `None` slots are listed in `free`.
    entries: Vec<Option<Entry<T>>>,
    free: Vec<usize>,
    len: usize,
    /// Numbers the insertions, so that a wake meant for a task already returned is not
    /// taken for the task that reuses its slot.
    next_key: u64,
    ready: Arc<Ready>,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    key: u64,
    /// Registered as the task's join waker from the moment it enters the set: its wake
    /// queues the entry, so the queue holds the tasks in the order they finished, even those
    /// that finished before the set was polled (`FuturesUnordered` would return those in
    /// insertion order).
    waker: Waker,
}

/// The entries whose task finished (or whose waker fired), in the order of those wakes, and
/// the waker of the `join_next` waiting for one.
#[derive(Default)]
struct Ready(parking_lot::Mutex<ReadyState>);

#[derive(Default)]
struct ReadyState {
    queue: VecDeque<(usize, u64)>,
    waiter: Option<Waker>,
}

impl Ready {
    /// Leaves `waker` to be woken by the next entry queued; `false` when one is queued
    /// already. The waker is cloned and dropped outside the lock: it is foreign code.
    fn park(&self, waker: &Waker) -> bool {
        {
            let state = self.0.lock();
            if !state.queue.is_empty() {
                return false;
            }
            if state.waiter.as_ref().is_some_and(|w| w.will_wake(waker)) {
                return true;
            }
        }
        let waker = waker.clone();
        let previous = {
            let mut state = self.0.lock();
            if !state.queue.is_empty() {
                return false;
            }
            state.waiter.replace(waker)
        };
        drop(previous);
        true
    }
}

/// The join waker of one entry.
struct EntryWaker {
    ready: Arc<Ready>,
    slot: usize,
    key: u64,
}

impl Wake for EntryWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let mut state = self.ready.0.lock();
            state.queue.push_back((self.slot, self.key));
            state.waiter.take()
        };
        // Outside the lock: a waker is foreign code.
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            entries: Vec::new(),
            free: Vec::new(),
            len: 0,
            next_key: 0,
            ready: Arc::default(),
        }
    }

    /// Tasks not yet returned by [`join_next`](Self::join_next).
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no task is left.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an already spawned task.
    pub fn insert(&mut self, mut handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        let slot = self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        });
        let key = self.next_key;
        self.next_key += 1;
        let waker = Waker::from(Arc::new(EntryWaker {
            ready: self.ready.clone(),
            slot,
            key,
        }));
        if handle
            .poll_finished(&mut Context::from_waker(&waker))
            .is_ready()
        {
            waker.wake_by_ref();
        }
        self.entries[slot] = Some(Entry { handle, key, waker });
        self.len += 1;
        abort
    }

    /// Aborts every task in the set; they still come out of `join_next` (as cancelled,
    /// unless they finished first).
    pub fn abort_all(&self) {
        for entry in self.entries.iter().flatten() {
            entry.handle.abort();
        }
    }

    /// Aborts every task and waits until all of them are gone.
    ///
    /// # Cancel safety
    ///
    /// Every task is aborted in the first poll. A future dropped after that leaves them aborted;
    /// those not yet reaped stay in the set and come out of [`join_next`](Self::join_next) (as
    /// cancelled, unless they finished first).
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Waits for the next task to finish; `None` once the set is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a result leaves the set only in the poll that returns it, so a dropped
    /// `join_next()` loses none.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Polls for the next finished task.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.len == 0 {
            return Poll::Ready(None);
        }
        loop {
            let next = self.ready.0.lock().queue.pop_front();
            let Some((slot, key)) = next else {
                if self.ready.park(cx.waker()) {
                    return Poll::Pending;
                }
                continue; // an entry was queued meanwhile
            };
            let Some(entry) = self.entries[slot].as_mut().filter(|entry| entry.key == key) else {
                continue; // the task was returned already; its slot may hold another now
            };
            if entry
                .handle
                .poll_finished(&mut Context::from_waker(&entry.waker))
                .is_pending()
            {
                continue; // a spurious wake; the waker is registered again
            }
            match Pin::new(&mut entry.handle).poll(cx) {
                Poll::Ready(output) => {
                    self.entries[slot] = None;
                    self.free.push(slot);
                    self.len -= 1;
                    return Poll::Ready(Some(output));
                }
                Poll::Pending => {
                    // The caller's coop budget is spent (it was woken to come back): the
                    // entry keeps its place at the head of the queue.
                    self.ready.0.lock().queue.push_front((slot, key));
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns `future` on the current runtime and adds it to the set.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(crate::spawn(future))
    }

    /// Runs a blocking function on the blocking pool and adds it to the set.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(crate::spawn_blocking(f))
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}
