//! `JoinSet`: a dynamic set of tasks awaited in completion order.

use super::{AbortHandle, JoinError, JoinHandle};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// A set of spawned tasks whose results arrive in completion order.
///
/// Completion order is the order in which the runtime tells the set that its tasks finished,
/// which it does right after each task's end. Two tasks that finish at nearly the same moment
/// on different workers may arrive in either order, even when one's
/// [`is_finished`](AbortHandle::is_finished) turned true first.
///
/// Dropping the set aborts every task still in it (structured concurrency: nothing outlives
/// its owner by accident).
///
/// Awaited (through `Handle::block_on`) in a destructor that a runtime's shutdown runs while
/// it drops unfinished tasks, the set cancels its tasks of that runtime that the shutdown has
/// not reached yet, as a `JoinHandle` awaited there does: they would never run again, and the
/// wait would last for ever.
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
    /// Entries added through [`Inserter`]s and not yet given a slot; `None` until the first
    /// [`inserter`](Self::inserter) call, so that a set nobody inserts into from outside
    /// never takes this lock.
    incoming: Option<Arc<Incoming<T>>>,
    /// The slot of each entry that came through an inserter, by key (its waker was made
    /// before it had a slot, so its wakes queue [`REMOTE`]).
    remote_slots: HashMap<u64, usize>,
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
///
/// An item is `(slot, key)`, with two kinds of slot that are not indices:
///
/// | slot | queued by | means |
/// |---|---|---|
/// | an index | a local entry's waker | that entry's task finished (or its waker fired) |
/// | [`REMOTE`] | the waker of an entry added by an [`Inserter`] | the same, for the entry with that key |
/// | [`SIGNAL`] | [`Inserter::signal`] | nothing finished: look at the inserters' entries |
#[derive(Default)]
struct Ready(parking_lot::Mutex<ReadyState>);

#[derive(Default)]
struct ReadyState {
    queue: VecDeque<(usize, u64)>,
    waiter: Option<Waker>,
}

/// The slot of the items queued by entries that came through an [`Inserter`]: their wakers
/// were made before the set gave them a slot.
const REMOTE: usize = usize::MAX;

/// The slot of an item that only wakes the set ([`Inserter::signal`]).
const SIGNAL: usize = usize::MAX - 1;

/// Keys of entries added through an [`Inserter`] start here, apart from the set's own.
const REMOTE_KEYS: u64 = 1 << 63;

impl Ready {
    /// Queues `item` without waking anyone; the caller wakes the set later.
    fn push_quietly(&self, item: (usize, u64)) {
        self.0.lock().queue.push_back(item);
    }

    /// Queues `item` and wakes the waiting `join_next`, outside the lock (a waker is
    /// foreign code).
    fn push(&self, item: (usize, u64)) {
        let waiter = {
            let mut state = self.0.lock();
            state.queue.push_back(item);
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

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
        self.ready.push((self.slot, self.key));
    }
}

/// What a set's [`Inserter`]s share with it.
struct Incoming<T>(parking_lot::Mutex<IncomingState<T>>);

struct IncomingState<T> {
    /// Entries inserted and not yet moved into the set's slots, with their keys and wakers.
    entries: Vec<(u64, JoinHandle<T>, Waker)>,
    next_key: u64,
    /// The set was dropped: what is inserted now is aborted at once.
    closed: bool,
}

/// Adds tasks to a [`JoinSet`] without borrowing it, from any thread (for `TaskGroup`'s
/// spawner). A task added after the set was dropped is aborted at once, as the set's drop
/// would have done.
pub(crate) struct Inserter<T> {
    ready: Arc<Ready>,
    incoming: Arc<Incoming<T>>,
}

impl<T> Clone for Inserter<T> {
    fn clone(&self) -> Self {
        Inserter {
            ready: self.ready.clone(),
            incoming: self.incoming.clone(),
        }
    }
}

impl<T> Inserter<T> {
    /// Adds `handle` to the set. Wakes nobody, so that it can run under the caller's lock:
    /// call [`signal`](Self::signal) once that lock is released.
    pub(crate) fn insert_quietly(&self, mut handle: JoinHandle<T>) {
        let mut incoming = self.incoming.0.lock();
        if incoming.closed {
            drop(incoming);
            handle.abort();
            return; // the handle drops outside the lock
        }
        let key = incoming.next_key;
        incoming.next_key += 1;
        let waker = Waker::from(Arc::new(EntryWaker {
            ready: self.ready.clone(),
            slot: REMOTE,
            key,
        }));
        // Registering our own waker runs none of the user's code. The entry goes in under
        // the same lock as its key was taken, so a wake that arrives before the set moves
        // it (from the task's worker, at any moment after this poll) finds it there.
        if handle
            .poll_finished(&mut Context::from_waker(&waker))
            .is_ready()
        {
            self.ready.push_quietly((REMOTE, key));
        }
        incoming.entries.push((key, handle, waker));
    }

    /// Wakes the set's `join_next` (or makes its next [`JoinSet::park`] fail), so that it
    /// looks at what was inserted.
    pub(crate) fn signal(&self) {
        self.ready.push((SIGNAL, 0));
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
            incoming: None,
            remote_slots: HashMap::new(),
        }
    }

    /// A handle that adds tasks to this set from elsewhere.
    pub(crate) fn inserter(&mut self) -> Inserter<T> {
        let incoming = self.incoming.get_or_insert_with(|| {
            Arc::new(Incoming(parking_lot::Mutex::new(IncomingState {
                entries: Vec::new(),
                next_key: REMOTE_KEYS,
                closed: false,
            })))
        });
        Inserter {
            ready: self.ready.clone(),
            incoming: incoming.clone(),
        }
    }

    /// `true` when an [`Inserter`] added a task that `join_next` has not seen yet.
    pub(crate) fn has_incoming(&self) -> bool {
        self.incoming
            .as_ref()
            .is_some_and(|incoming| !incoming.0.lock().entries.is_empty())
    }

    /// Leaves `waker` to be woken by the next task that finishes or the next
    /// [`Inserter::signal`]; `false` when one of those is queued already.
    pub(crate) fn park(&self, waker: &Waker) -> bool {
        self.ready.park(waker)
    }

    /// Gives the entries that came through inserters their slots; `false` when there were
    /// none. With none and an empty set, every queued item is stale and is dropped: a
    /// signal left behind would otherwise keep `park` from parking.
    fn move_incoming(&mut self) -> bool {
        let Some(incoming) = &self.incoming else {
            return false;
        };
        let moved = {
            let mut incoming = incoming.0.lock();
            if incoming.entries.is_empty() && self.len == 0 {
                // Under the inserters' lock: an insertion queues its item under it too.
                self.ready.0.lock().queue.clear();
                return false;
            }
            std::mem::take(&mut incoming.entries)
        };
        let any = !moved.is_empty();
        for (key, handle, waker) in moved {
            let slot = self.free_slot();
            self.entries[slot] = Some(Entry { handle, key, waker });
            self.remote_slots.insert(key, slot);
            self.len += 1;
        }
        any
    }

    /// Inside a runtime's shutdown drain (a destructor the drain runs, waiting on this set
    /// through `block_on`): the set's tasks that the drain has not reached will never run
    /// again, so no wake would ever come for them. Polling each handle cancels those of the
    /// runtime being drained on the spot, and their completions queue them here. `true` when
    /// that queued any. Off the drain: one thread-local read.
    fn cancel_drained(&mut self) -> bool {
        if !ciranda_scheduler::task::in_shutdown_drain() {
            return false;
        }
        self.move_incoming();
        for entry in self.entries.iter_mut().flatten() {
            // Registers the entry's own waker again (already there): its wake queues it.
            let _ = entry
                .handle
                .poll_finished(&mut Context::from_waker(&entry.waker));
        }
        !self.ready.0.lock().queue.is_empty()
    }

    fn free_slot(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            self.entries.push(None);
            self.entries.len() - 1
        })
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
        let slot = self.free_slot();
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
        if let Some(incoming) = &self.incoming {
            for (_, handle, _) in &incoming.0.lock().entries {
                handle.abort();
            }
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
        loop {
            if self.len == 0 && !self.move_incoming() {
                return Poll::Ready(None);
            }
            let next = self.ready.0.lock().queue.pop_front();
            let Some((slot, key)) = next else {
                if self.cancel_drained() {
                    continue;
                }
                if self.ready.park(cx.waker()) {
                    return Poll::Pending;
                }
                continue; // an entry was queued meanwhile
            };
            let slot = match slot {
                SIGNAL => {
                    self.move_incoming();
                    continue;
                }
                REMOTE => {
                    let mut found = self.remote_slots.get(&key).copied();
                    // Not moved yet, or returned already (then its key is gone for good).
                    if found.is_none() && self.move_incoming() {
                        found = self.remote_slots.get(&key).copied();
                    }
                    match found {
                        Some(slot) => slot,
                        None => continue,
                    }
                }
                slot => slot,
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
                    if key >= REMOTE_KEYS {
                        self.remote_slots.remove(&key);
                    }
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
        for entry in self.entries.iter().flatten() {
            entry.handle.abort();
        }
        if let Some(incoming) = &self.incoming {
            // Closed in the critical section that takes the entries inserted so far: an
            // insertion is either among them, aborted here, or finds the set closed and aborts
            // its task itself. (Aborting them under one lock and closing under the next let an
            // insertion in between escape both.) They are dropped here, not left to the last
            // inserter, since an inserter may outlive the set (inside one of these very tasks).
            let left = {
                let mut incoming = incoming.0.lock();
                incoming.closed = true;
                std::mem::take(&mut incoming.entries)
            };
            for (_, handle, _) in &left {
                handle.abort();
            }
            drop(left);
        }
    }
}
