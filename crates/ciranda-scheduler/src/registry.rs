//! The registry of live tasks: what `Handle::tasks()` lists and what shutdown cancels.
//!
//! Spawning must not take a lock, so the registry is a set of lock-free push-only lists
//! (one shard per worker, so a worker's spawns touch a cache line no one else writes) with
//! *lazy removal*: a task that completes stays linked, and sweeps later unlink completed
//! tasks and release the registry's reference to each. A sweep reads every node it passes
//! (a cache miss for a task nobody touched lately), so it walks the list in bounded *steps*
//! of at most [`SPAWN_STEP`] or [`IDLE_STEP`] nodes, each resuming where the previous one
//! stopped; a walk from the head to the end is a *lap*. With whole-list sweeps, one spawn
//! among 400 000 live tasks took 7 ms (`benches/examples/spawn_stall_probe.rs`).
//!
//! Laps are asked for, and steps taken, by:
//!
//! | who | asks for a lap when | then steps |
//! |---|---|---|
//! | a spawn (its shard) | the shard saw as many pushes since its last lap began as that lap kept (at least [`MIN_SWEEP`]), and the completions reported reach a quarter of the shard's linked tasks | [`SPAWN_STEP`] nodes every [`STEP_EVERY`] pushes while the lap lasts, never waiting for the lock |
//! | a worker going idle (every shard) | the completions reported since the last such request reach a quarter of all linked tasks | [`IDLE_STEP`] nodes at a time until the lap is over or work arrives; the last worker awake waits out a spawner's step |
//!
//! Workers and the current-thread driver report completions in batches (every
//! `EVENT_INTERVAL` polls and when they go idle). Both rules keep the walking amortised O(1)
//! per task and the completed-but-linked tasks a bounded fraction of the live ones. A spawn
//! walks at most one step; a worker going idle stops between steps as soon as work is
//! queued, and otherwise finishes the lap before it sleeps, so a finished burst's memory
//! returns even if nothing runs afterwards (the idle worker may be the last one awake, which
//! is why it waits out a spawner's step instead of skipping that shard).
//!
//! # Invariants
//!
//! * The registry holds one reference to every task linked in it, so a linked node is never
//!   freed.
//! * Spawners push nodes at the head with a CAS and touch no other link. Only a thread
//!   holding the shard's `sweep` lock reads or writes the links between nodes, or moves the
//!   head anywhere but to a newly pushed node; so a walker never meets a node being
//!   unlinked. (A step that unlinks the head does so with a CAS, which fails if a spawner
//!   pushed meanwhile; a push that raced with that CAS links its node in front of whatever
//!   the head is when its own CAS succeeds, so the list stays whole.)
//! * The step cursor (`Sweep::resume_after`) is a node that is linked, or null (start the
//!   next step at the head). It is kept, never unlinked, by the step that stores it, and
//!   `drain` resets it before it takes the list.
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

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use crate::task::TaskInfo;
use crate::task::raw::{Header, RawTask, TaskRef};
use crate::task::state::COMPLETE;
use std::ptr;

/// Pushes a shard absorbs before it considers a lap, whatever its size.
const MIN_SWEEP: usize = 256;
/// Pushes between two steps of a lap under way, on the spawn path.
const STEP_EVERY: usize = 64;
/// Nodes a step on the spawn path visits at most: about 8 per push while a lap is under way,
/// and tens of microseconds when every node misses the cache.
const SPAWN_STEP: usize = 512;
/// Nodes a step of a worker going idle visits at most, in each shard.
const IDLE_STEP: usize = 4096;

/// The head of a closed shard. Task headers are 8-byte aligned, so 1 is never a task.
fn closed() -> *mut Header {
    ptr::without_provenance_mut(1)
}

pub(crate) struct Registry {
    shards: Box<[Shard]>,
    /// Set by `drain` before it closes any shard; `insert` refuses once it is set.
    closing: AtomicBool,
    /// Completions reported by workers and not yet taken off by a step (an estimate: a step
    /// may free a task whose completion is reported later).
    completed_unswept: AtomicUsize,
}

#[repr(align(128))]
struct Shard {
    head: AtomicPtr<Header>,
    /// Pushes ever made (a load and a store, not a read-modify-write: two spawners racing on
    /// one shard may count one push). Only decides when to step.
    pushed: AtomicUsize,
    /// `pushed` at which a spawn looks at this shard's laps again.
    next_step_at: AtomicUsize,
    /// `pushed` when the current lap began, and the nodes the last finished lap kept: the
    /// shard's linked tasks are about `kept + pushed - lap_began`.
    lap_began: AtomicUsize,
    kept: AtomicUsize,
    /// Laps asked for, and the requests the last finished lap answered (it answers those
    /// made before it began): a lap is due while they differ.
    laps_requested: AtomicUsize,
    laps_answered: AtomicUsize,
    /// A worker going idle holds `sweep` and steps until the lap is over or work arrives.
    idle_walking: AtomicBool,
    sweep: Mutex<Sweep>,
}

/// Where the walk of a shard stands; only read and written under the shard's `sweep` lock.
struct Sweep {
    /// The node after which the next step starts (see the module's invariants), or null for
    /// the head.
    resume_after: *mut Header,
    /// Nodes kept so far in the current lap.
    kept_this_lap: usize,
    /// `laps_requested` when the current lap began.
    answers: usize,
}

// SAFETY: `resume_after` points to a task header that the registry keeps linked (and so
// alive) while it is stored, and it is only dereferenced by the thread holding the lock that
// owns the `Sweep`; task headers are shared between threads anyway (`Sync` atomics).
unsafe impl Send for Sweep {}

impl Registry {
    pub(crate) fn new(shards: usize) -> Registry {
        Registry {
            shards: (0..shards.max(1))
                .map(|_| Shard {
                    head: AtomicPtr::new(ptr::null_mut()),
                    pushed: AtomicUsize::new(0),
                    next_step_at: AtomicUsize::new(MIN_SWEEP),
                    lap_began: AtomicUsize::new(0),
                    kept: AtomicUsize::new(0),
                    laps_requested: AtomicUsize::new(0),
                    laps_answered: AtomicUsize::new(0),
                    idle_walking: AtomicBool::new(false),
                    sweep: Mutex::new(Sweep {
                        resume_after: ptr::null_mut(),
                        kept_this_lap: 0,
                        answers: 0,
                    }),
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
        // The list owns the reference now; the steps and `drain` release it.
        let _linked = task.into_raw();
        let pushed = shard.pushed.load(Relaxed).wrapping_add(1);
        shard.pushed.store(pushed, Relaxed);
        if pushed.wrapping_sub(shard.next_step_at.load(Relaxed)) as isize >= 0 {
            self.step_on_spawn(shard, pushed);
        }
        Ok(())
    }

    /// The spawn path's part in the sweeping: go on with a lap that is due, or ask for one
    /// once the shard has seen as many pushes since its last lap began as that lap kept and
    /// enough completions were reported to be worth a walk.
    #[cold]
    fn step_on_spawn(&self, shard: &Shard, pushed: usize) {
        // Looked at again a little later whatever happens here (a step that stops sets its
        // own), so a spawner does not retry a lock someone holds on every push.
        shard
            .next_step_at
            .store(pushed.wrapping_add(STEP_EVERY), Relaxed);
        if !shard.lap_due() {
            let since = pushes_since(pushed, shard.lap_began.load(Relaxed));
            let worth = since >= shard.kept.load(Relaxed).max(MIN_SWEEP)
                && self.completed_unswept.load(Relaxed).saturating_mul(4) >= shard.linked();
            if !worth {
                return;
            }
            shard.laps_requested.fetch_add(1, Relaxed);
        }
        // A spawner never waits: if another thread is stepping through this shard, a later
        // push tries again.
        if let Some(mut sweep) = shard.sweep.try_lock() {
            shard.step(&mut sweep, SPAWN_STEP);
        }
    }

    /// Called by a worker going idle: once the completions reported since the last such
    /// request reach a quarter of the linked tasks, asks every shard for a lap; then steps
    /// through each shard whose lap is due, until the lap is over or `keep_going` says that
    /// work arrived (checked between steps, so new work waits one step at most, while an
    /// idle runtime still gives a finished burst's memory back before it sleeps).
    /// `others_awake`: some other worker has not gone idle yet.
    pub(crate) fn sweep_if_worthwhile(
        &self,
        keep_going: impl Fn() -> bool,
        others_awake: impl Fn() -> bool,
    ) {
        let completed = self.completed_unswept.load(Relaxed);
        if completed > 0 {
            let linked = self
                .shards
                .iter()
                .map(Shard::linked)
                .fold(0, usize::saturating_add);
            if completed.saturating_mul(4) >= linked
                && self
                    .completed_unswept
                    .compare_exchange(completed, 0, Relaxed, Relaxed)
                    .is_ok()
            {
                for shard in self.shards.iter() {
                    shard.laps_requested.fetch_add(1, Relaxed);
                }
            }
        }
        for shard in self.shards.iter() {
            if !shard.lap_due() {
                continue;
            }
            let mut sweep = match shard.sweep.try_lock() {
                Some(sweep) => sweep,
                // Another idle worker walking this shard finishes the lap (or stops because
                // work arrived, and steps again at its next park).
                None if shard.idle_walking.load(Relaxed) => continue,
                // A spawner is taking a step. Awake workers go idle again later and go on
                // with the lap; the last one awake waits the step out (it is short), or
                // nobody would finish the lap if the spawner stops here. Only then: a
                // waiter blocked on the lock costs the spawner a futex wake at its unlock.
                None if others_awake() => continue,
                None => shard.sweep.lock(),
            };
            shard.idle_walking.store(true, Relaxed);
            loop {
                shard.step(&mut sweep, IDLE_STEP);
                if !shard.lap_due() || !keep_going() {
                    break;
                }
            }
            shard.idle_walking.store(false, Relaxed);
        }
    }

    /// Called by the last worker to go to sleep (registered as parked, every other worker
    /// too): finishes the laps still due, then weighs the completions reported against the
    /// linked tasks those laps left, and walks the lap that asks for. Every earlier
    /// [`sweep_if_worthwhile`](Self::sweep_if_worthwhile) ran beside another worker still
    /// awake: it may have left a shard whose lock another thread held to a worker that was
    /// skipping it too, and weighed the completions against a count a lap not yet walked
    /// would have lowered, so a finished burst's tasks could stay linked in a runtime that
    /// then sleeps.
    pub(crate) fn settle(&self, keep_going: impl Fn() -> bool, others_awake: impl Fn() -> bool) {
        self.sweep_if_worthwhile(&keep_going, &others_awake);
        self.sweep_if_worthwhile(&keep_going, &others_awake);
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
                    // SAFETY: as above, the registry's reference keeps the task alive; `node`
                    // is the pointer the task was linked with, from `RawTask::as_ptr`.
                    out.push(unsafe { TaskInfo::of(RawTask::from_ptr(node)) });
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
                let mut sweep = shard.sweep.lock();
                // The walk's cursor points into the list about to be taken.
                sweep.resume_after = ptr::null_mut();
                sweep.kept_this_lap = 0;
                shard.kept.store(0, Relaxed);
                shard.lap_began.store(shard.pushed.load(Relaxed), Relaxed);
                shard
                    .laps_answered
                    .store(shard.laps_requested.load(Relaxed), Relaxed);
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

/// Pushes counted since `mark`, an earlier reading of a shard's `pushed`; 0 when `mark` is
/// ahead of `pushed`. That happens: `pushed` and the mark are read one after the other, and
/// a lap may begin between the two reads (storing a newer `lap_began`); and two spawners
/// racing on one shard may store an older count over a newer one. The wrapped difference
/// would then read as nearly `usize::MAX` pushes (it made a worker's sum of the shards
/// overflow, which panics in a debug build).
fn pushes_since(pushed: usize, mark: usize) -> usize {
    let since = pushed.wrapping_sub(mark);
    if since as isize >= 0 { since } else { 0 }
}

impl Shard {
    /// A lap was asked for that no finished lap has answered.
    fn lap_due(&self) -> bool {
        self.laps_requested.load(Relaxed) != self.laps_answered.load(Relaxed)
    }

    /// About how many tasks are linked here.
    fn linked(&self) -> usize {
        let since = pushes_since(self.pushed.load(Relaxed), self.lap_began.load(Relaxed));
        self.kept.load(Relaxed).saturating_add(since)
    }

    /// Visits up to `budget` nodes from where the last step stopped, unlinking completed
    /// tasks and releasing the registry's reference to each. The caller holds the shard's
    /// sweep lock (`sweep`).
    fn step(&self, sweep: &mut Sweep, budget: usize) {
        let mut visited = 0;
        let mut prev = sweep.resume_after;
        if prev.is_null() {
            // A lap begins at the head, and answers the requests made so far.
            self.lap_began.store(self.pushed.load(Relaxed), Relaxed);
            sweep.kept_this_lap = 0;
            sweep.answers = self.laps_requested.load(Relaxed);
            // Completed nodes at the head leave by CAS: a spawner may be pushing.
            loop {
                let head = self.head.load(Acquire);
                if head.is_null() || head == closed() {
                    return self.finish_lap(sweep);
                }
                if visited == budget {
                    return self.pause(sweep, ptr::null_mut());
                }
                visited += 1;
                // SAFETY: `head` is linked (it holds a registry reference) and only this
                // thread, holding the sweep lock, may unlink it.
                let header = unsafe { &*head };
                if !header.state.load().is(COMPLETE) {
                    prev = head;
                    sweep.kept_this_lap += 1;
                    break;
                }
                let next = header.registry_next.load(Relaxed);
                if self
                    .head
                    .compare_exchange(head, next, AcqRel, Acquire)
                    .is_ok()
                {
                    // SAFETY: unlinked: the registry's reference is ours to release.
                    drop(unsafe { TaskRef::from_raw(RawTask::from_ptr(head)) });
                }
                // Else a spawner pushed in front: look at the new head (this node is now
                // behind it and is reached from its predecessor).
            }
        }
        // From here on `prev` is a kept node; its successors are unlinked by rewriting its
        // link, which no spawner touches.
        loop {
            // SAFETY: `prev` is linked and kept (module invariants); we hold the sweep lock.
            let prev_header = unsafe { &*prev };
            let node = prev_header.registry_next.load(Relaxed);
            if node.is_null() {
                return self.finish_lap(sweep);
            }
            if visited == budget {
                return self.pause(sweep, prev);
            }
            visited += 1;
            // SAFETY: `node` is linked, as its predecessor's link says, and only this thread
            // may unlink it.
            let header = unsafe { &*node };
            if header.state.load().is(COMPLETE) {
                prev_header
                    .registry_next
                    .store(header.registry_next.load(Relaxed), Relaxed);
                // SAFETY: unlinked: the registry's reference is ours to release.
                drop(unsafe { TaskRef::from_raw(RawTask::from_ptr(node)) });
            } else {
                prev = node;
                sweep.kept_this_lap += 1;
            }
        }
    }

    /// The step ran out of budget after `resume_after`: the next one goes on from there,
    /// [`STEP_EVERY`] pushes from now if a spawn takes it.
    fn pause(&self, sweep: &mut Sweep, resume_after: *mut Header) {
        sweep.resume_after = resume_after;
        self.next_step_at
            .store(self.pushed.load(Relaxed).wrapping_add(STEP_EVERY), Relaxed);
    }

    /// The walk reached the end: the lap answered the requests made before it began, and the
    /// spawn path looks again once as many pushes came as it kept (so walking stays
    /// proportional to spawning), and at least [`MIN_SWEEP`].
    fn finish_lap(&self, sweep: &mut Sweep) {
        sweep.resume_after = ptr::null_mut();
        let kept = sweep.kept_this_lap;
        self.kept.store(kept, Relaxed);
        self.laps_answered.store(sweep.answers, Relaxed);
        let pushed = self.pushed.load(Relaxed);
        self.next_step_at
            .store(pushed.wrapping_add(kept.max(MIN_SWEEP)), Relaxed);
    }
}

/// What the loom models need to drive and inspect the walk directly.
#[cfg(all(test, loom))]
impl Registry {
    /// Nodes linked in shard `shard`, completed or not.
    pub(crate) fn linked_in(&self, shard: usize) -> usize {
        let shard = &self.shards[shard];
        let _walk = shard.sweep.lock();
        let mut count = 0;
        let mut node = shard.head.load(Acquire);
        while !node.is_null() && node != closed() {
            count += 1;
            // SAFETY: as in `live_tasks`.
            node = unsafe { &*node }.registry_next.load(Relaxed);
        }
        count
    }

    /// One step of at most `budget` nodes through shard `shard`, asking for a lap first if
    /// none is due.
    pub(crate) fn step_in(&self, shard: usize, budget: usize) {
        let shard = &self.shards[shard];
        if !shard.lap_due() {
            shard.laps_requested.fetch_add(1, Relaxed);
        }
        let mut sweep = shard.sweep.lock();
        shard.step(&mut sweep, budget);
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.drain();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A lap that began between a reader's two loads, or a spawner's stale store, leaves
    /// `lap_began` ahead of `pushed`: that is no pushes since, not nearly `usize::MAX`.
    #[test]
    fn a_mark_ahead_of_the_push_count_counts_no_pushes() {
        let registry = Registry::new(2);
        for shard in registry.shards.iter() {
            shard.pushed.store(5, Relaxed);
            shard.lap_began.store(10, Relaxed);
            shard.kept.store(3, Relaxed);
            assert_eq!(shard.linked(), 3);
        }
        // The idle worker's sum over the shards (it overflowed here, a panic in debug).
        registry.report_completed(1);
        registry.sweep_if_worthwhile(|| true, || false);
        assert!(registry.shards.iter().all(|shard| !shard.lap_due()));
        // Two completions reach a quarter of the 6 linked tasks: every shard gets a lap,
        // which finishes at once on an empty list.
        registry.report_completed(1);
        registry.sweep_if_worthwhile(|| true, || false);
        assert!(registry.shards.iter().all(|shard| !shard.lap_due()));
        assert!(
            registry
                .shards
                .iter()
                .all(|shard| shard.kept.load(Relaxed) == 0)
        );
        assert_eq!(pushes_since(7, 5), 2);
        assert_eq!(pushes_since(2, usize::MAX - 1), 4);
    }
}
