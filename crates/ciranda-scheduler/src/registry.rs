//! The registry of live tasks: what `Handle::tasks()` lists and what shutdown cancels.
//!
//! Spawning must not take a lock, so the registry is a set of lock-free push-only lists
//! (one shard per worker, so a worker's spawns touch a cache line no one else writes) with
//! *lazy removal*: a task that completes stays linked, and a sweep later unlinks completed
//! tasks in bulk and releases the registry's reference to each. Sweeps run when a shard has
//! seen more pushes than it had survivors at the last sweep, and when a worker goes idle and
//! the tasks completed since the last sweep reach a quarter of the live ones. Both keep the
//! cost amortised O(1) per task and the completed-but-linked tasks a bounded fraction of the
//! live ones, so memory returns once a burst of tasks is over.
//!
//! # Invariants
//!
//! * The registry holds one reference to every task linked in it, so a linked node is never
//!   freed.
//! * Nodes are pushed at the head with a CAS; only a thread holding the shard's `sweep` lock
//!   unlinks nodes or walks the list, so a walker never meets a node being unlinked.
//! * Shutdown first sets the `closing` flag, then swaps each head for the [`closed`]
//!   sentinel: from then on `insert` fails, so a task spawned during or after shutdown is
//!   cancelled by its spawner and nothing is ever linked into a registry nobody will drain
//!   again.
//! * The flag makes closing look atomic across shards. Without it, a spawner that saw one of
//!   its tasks cancelled by the drain of shard 0 could still link its next task into shard 1
//!   (not swapped yet) and get a handle that only finishes once the drain reaches shard 1 —
//!   "spawned after shutdown" would then not mean "cancelled at once". The flag is stored
//!   before any task is cancelled, so whoever observes a cancellation (an `Acquire` of the
//!   task's state) also observes the flag.

use crate::loom::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use crate::loom::{Mutex, MutexGuard};
use crate::task::TaskInfo;
use crate::task::raw::{Header, RawTask, TaskRef};
use crate::task::state::COMPLETE;
use std::ptr;

/// Pushes a shard absorbs before it considers a sweep, whatever its size.
const MIN_SWEEP: usize = 256;

/// The head of a closed shard. Task headers are 8-byte aligned, so 1 is never a task.
fn closed() -> *mut Header {
    ptr::without_provenance_mut(1)
}

pub(crate) struct Registry {
    shards: Box<[Shard]>,
    /// Set by `drain` before it closes any shard; `insert` refuses once it is set.
    closing: AtomicBool,
    /// Completions reported by workers since the last full sweep (an estimate).
    completed_unswept: AtomicUsize,
}

#[repr(align(128))]
struct Shard {
    head: AtomicPtr<Header>,
    pushed_since_sweep: AtomicUsize,
    survivors: AtomicUsize,
    sweep: Mutex<()>,
}

impl Registry {
    pub(crate) fn new(shards: usize) -> Registry {
        Registry {
            shards: (0..shards.max(1))
                .map(|_| Shard {
                    head: AtomicPtr::new(ptr::null_mut()),
                    pushed_since_sweep: AtomicUsize::new(0),
                    survivors: AtomicUsize::new(0),
                    sweep: Mutex::new(()),
                })
                .collect(),
            closing: AtomicBool::new(false),
            completed_unswept: AtomicUsize::new(0),
        }
    }

    /// Workers report the tasks they completed (in batches, to keep this line cold).
    pub(crate) fn report_completed(&self, completed: usize) {
        if completed > 0 {
            self.completed_unswept.fetch_add(completed, Relaxed);
        }
    }

    /// Links `task`, taking over the registry's reference. Once the registry is closed it
    /// refuses the task and hands the reference back.
    pub(crate) fn insert(&self, task: TaskRef, hint: usize) -> Result<(), TaskRef> {
        if self.closing.load(SeqCst) {
            return Err(task);
        }
        let shard = &self.shards[hint % self.shards.len()];
        let node = task.as_ptr();
        // Acquire: seeing the `closed` sentinel must also show the `closing` flag stored
        // before it, so every later insert by this thread is refused too.
        let mut head = shard.head.load(Acquire);
        loop {
            if head == closed() {
                return Err(task);
            }
            task.header().registry_next.store(head, Relaxed);
            match shard
                .head
                .compare_exchange_weak(head, node, AcqRel, Acquire)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        // The list owns the reference now; `drain` and the sweep release it.
        let _linked = task.into_raw();
        // An estimate that only decides when to sweep: a load and a store, not a
        // read-modify-write, so two spawners racing on one shard may count one push (the
        // sweep then comes a push later).
        let pushed = shard.pushed_since_sweep.load(Relaxed) + 1;
        shard.pushed_since_sweep.store(pushed, Relaxed);
        if pushed >= MIN_SWEEP && pushed >= shard.survivors.load(Relaxed) {
            // A spawner never waits: if another thread is sweeping this shard, that is enough.
            if let Some(sweeping) = shard.sweep.try_lock() {
                shard.sweep_completed(sweeping);
            }
        }
        Ok(())
    }

    /// Unlinks completed tasks everywhere once enough of them accumulated to be worth a walk
    /// over the live ones.
    pub(crate) fn sweep_if_worthwhile(&self) {
        let completed = self.completed_unswept.load(Relaxed);
        if completed == 0 {
            return;
        }
        let linked: usize = self
            .shards
            .iter()
            .map(|s| s.survivors.load(Relaxed) + s.pushed_since_sweep.load(Relaxed))
            .sum();
        if completed.saturating_mul(4) < linked {
            return;
        }
        if self
            .completed_unswept
            .compare_exchange(completed, 0, Relaxed, Relaxed)
            .is_err()
        {
            return; // another worker is sweeping or more completions arrived: next time
        }
        // The counter was reset above, so nothing would trigger this sweep again: every shard
        // must be swept now, waiting for a spawner's sweep of the same shard if need be.
        // (Skipping a busy shard kept a burst's completed tasks linked — and their memory
        // held — until the next burst.)
        for shard in self.shards.iter() {
            shard.sweep_completed(shard.sweep.lock());
        }
    }

    /// Snapshots of every task that has not completed.
    pub(crate) fn live_tasks(&self) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            let _walk = shard.sweep.lock();
            let mut node = shard.head.load(Acquire);
            while !node.is_null() && node != closed() {
                // SAFETY: linked nodes hold a registry reference and cannot be unlinked
                // while we hold the shard's sweep lock.
                let header = unsafe { &*node };
                if !header.state.load().is(COMPLETE) {
                    out.push(TaskInfo::of(header));
                }
                node = header.registry_next.load(Relaxed);
            }
        }
        out
    }

    /// How many tasks have not completed: a walk over the live ones, like `live_tasks`.
    pub(crate) fn live_count(&self) -> usize {
        let mut count = 0;
        for shard in self.shards.iter() {
            let _walk = shard.sweep.lock();
            let mut node = shard.head.load(Acquire);
            while !node.is_null() && node != closed() {
                // SAFETY: as in `live_tasks`: linked nodes hold a registry reference and stay
                // linked while we hold the shard's sweep lock.
                let header = unsafe { &*node };
                count += usize::from(!header.state.load().is(COMPLETE));
                node = header.registry_next.load(Relaxed);
            }
        }
        count
    }

    /// Shutdown: closes every shard, then cancels each task in place (dropping its future on
    /// this thread unless it is running elsewhere) and releases the registry's references.
    /// All shards are closed before any future is dropped, so tasks spawned by those drops
    /// are refused (and cancelled by their spawner) rather than linked.
    pub(crate) fn drain(&self) {
        self.closing.store(true, SeqCst);
        let lists: Vec<*mut Header> = self
            .shards
            .iter()
            .map(|shard| {
                let _walk = shard.sweep.lock();
                shard.pushed_since_sweep.store(0, Relaxed);
                shard.survivors.store(0, Relaxed);
                shard.head.swap(closed(), AcqRel)
            })
            .collect();
        for mut node in lists {
            while !node.is_null() && node != closed() {
                // SAFETY: the closing swap took the whole list: its nodes are ours to walk
                // and each carries the registry reference, which `task` now owns.
                let task = unsafe { TaskRef::from_raw(RawTask::from_ptr(node)) };
                node = task.header().registry_next.load(Relaxed);
                task.shutdown();
                drop(task);
            }
        }
    }
}

impl Shard {
    /// Unlinks the completed tasks; the caller holds the shard's sweep lock.
    fn sweep_completed(&self, _sweeping: MutexGuard<'_, ()>) {
        self.pushed_since_sweep.store(0, Relaxed);
        let mut node = self.head.load(Acquire);
        loop {
            if node.is_null() || node == closed() {
                return;
            }
            match self
                .head
                .compare_exchange_weak(node, ptr::null_mut(), Acquire, Acquire)
            {
                Ok(_) => break,
                Err(actual) => node = actual,
            }
        }
        let mut kept_head: *mut Header = ptr::null_mut();
        let mut kept_tail: Option<RawTask> = None;
        let mut kept = 0;
        while !node.is_null() {
            // SAFETY: the list was taken whole under the sweep lock; each node carries a
            // registry reference, which `task` now owns.
            let task = unsafe { TaskRef::from_raw(RawTask::from_ptr(node)) };
            node = task.header().registry_next.load(Relaxed);
            if task.header().state.load().is(COMPLETE) {
                drop(task);
            } else {
                // The list keeps the reference.
                let task = task.into_raw();
                match kept_tail {
                    None => kept_head = task.as_ptr(),
                    // SAFETY: `tail` is a node kept in the list, which holds its reference.
                    Some(tail) => unsafe { tail.header() }
                        .registry_next
                        .store(task.as_ptr(), Relaxed),
                }
                kept_tail = Some(task);
                kept += 1;
            }
        }
        if let Some(tail) = kept_tail {
            // Put the survivors back in front of whatever was pushed meanwhile.
            let mut head = self.head.load(Relaxed);
            loop {
                // SAFETY: `tail` is a node kept in the list, which holds its reference.
                unsafe { tail.header() }.registry_next.store(head, Relaxed);
                match self
                    .head
                    .compare_exchange_weak(head, kept_head, AcqRel, Relaxed)
                {
                    Ok(_) => break,
                    Err(actual) => head = actual,
                }
            }
        }
        self.survivors.store(kept, Relaxed);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.drain();
    }
}
