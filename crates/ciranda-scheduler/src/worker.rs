//! A worker thread: its run loop, its LIFO slot, stealing and parking.
//!
//! Where a worker looks for its next task, in order:
//!
//! 1. the injector first, every other tick while it holds tasks (and every
//!    [`GLOBAL_INTERVAL`] ticks in any case), so tasks spawned from outside wait at most a
//!    tick or two even behind long polls (Tokio's self-tuned interval left 1 000 remote
//!    spawns waiting ~70 ms behind a busy chain), while local tasks still get every other
//!    tick; it takes a fair batch (its length / workers, up to
//!    [`MAX_INJECT_BATCH`](crate::queue::MAX_INJECT_BATCH)), not one task, so a flood of
//!    remote spawns is taken in a few big pulls. (A pause of the look for `n` ticks after a
//!    batch of `n` saved 10% on `spawn_many_remote_busy1` but cost 40–80% on
//!    `spawn_many_remote_busy2`, whose remote tasks trickle in while every worker runs a
//!    chain of long polls, and made its iterations bimodal; it was removed.);
//! 2. the LIFO slot — the task the running task just woke (message-passing latency) — at
//!    most [`MAX_LIFO_STREAK`] times in a row, after which the slot is flushed to the queue;
//! 3. the local queue, FIFO;
//! 4. the injector;
//! 5. stealing (if fewer than half the workers are already searching): about half of a
//!    random victim's queue, then other workers' LIFO slots — the slot is stealable so a
//!    task woken by a task that then blocks its worker is not stranded;
//! 6. otherwise it parks (see [`crate::idle`] for the protocol).
//!
//! Every [`EVENT_INTERVAL`] ticks the worker also calls the parking hook with a zero
//! timeout, so a hook that drives I/O and timers polls them even when no worker is idle.

use crate::Handle;
use crate::context;
use crate::coop;
use crate::hooks::call_hook;
use crate::loom::atomic::{
    AtomicPtr,
    Ordering::{AcqRel, Relaxed},
};
use crate::metrics::{self, WorkerCounters};
use crate::park::ParkContext;
use crate::queue::{Local, Stealer};
use crate::report::report;
use crate::shared::{Reason, Shared};
use crate::task::TaskId;
use crate::task::raw::{Header, Notified, RawTask};
use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

/// How long the watcher — the one parked worker that sleeps with a timeout while another
/// worker is active — sleeps before it looks for work that no wake-up announced: a task in
/// the LIFO slot of a worker whose task does not yield (see `schedule_local`). It bounds how
/// long such a task waits, and costs an idle worker about 200 wake-ups a second only while
/// another worker is busy; a fully idle runtime has no watcher and sleeps for good.
const LIFO_WATCH: Duration = Duration::from_millis(5);

/// Ticks between forced looks at the injector.
pub(crate) const GLOBAL_INTERVAL: u32 = 31;
/// Ticks between zero-timeout calls to the parking hook (I/O and timers).
pub(crate) const EVENT_INTERVAL: u32 = 61;
/// LIFO-slot polls in a row before the slot is flushed to the back of the queue.
pub(crate) const MAX_LIFO_STREAK: u8 = 3;

/// What other threads may take from a worker: its queue's stealing end and its LIFO slot.
///
/// Aligned to 128 bytes (a cache-line pair, what x86's adjacent-line prefetcher moves
/// together): each worker swaps its own LIFO slot on every wake it makes and every task it
/// takes, and two workers' slots in one line made every such swap a transfer of that line.
#[repr(align(128))]
pub(crate) struct Stealable {
    /// The stealing end of the worker's local queue.
    pub(crate) queue: Stealer,
    /// Holds a task (with its queue reference) or null.
    pub(crate) lifo: AtomicPtr<Header>,
}

impl Stealable {
    pub(crate) fn new(queue: Stealer) -> Stealable {
        Stealable {
            queue,
            lifo: AtomicPtr::new(ptr::null_mut()),
        }
    }

    pub(crate) fn take_lifo(&self) -> Option<Notified> {
        if self
            .lifo
            .load(crate::loom::atomic::Ordering::Relaxed)
            .is_null()
        {
            return None;
        }
        let ptr = self.lifo.swap(ptr::null_mut(), AcqRel);
        // SAFETY: a non-null slot holds a task together with its queue reference, which the
        // swap just moved to us.
        (!ptr.is_null()).then(|| unsafe { Notified::from_raw(RawTask::from_ptr(ptr)) })
    }

    /// The LIFO slot holds a task.
    pub(crate) fn has_lifo(&self) -> bool {
        !self
            .lifo
            .load(crate::loom::atomic::Ordering::Relaxed)
            .is_null()
    }

    pub(crate) fn has_work(&self) -> bool {
        !self.queue.is_empty()
            || !self
                .lifo
                .load(crate::loom::atomic::Ordering::Relaxed)
                .is_null()
    }
}

// `loom_models/park.rs` still names this type `Remote`; it is frozen on this branch
// (another branch is changing it), so the old name stays for that model until it is updated.

/// The state a worker thread owns. Fields are `Cell`s because the schedule path reaches
/// the worker through a shared reference while `run` is on the stack.
pub(crate) struct Worker {
    handle: Handle,
    index: usize,
    local: Local,
    tick: Cell<u32>,
    lifo_streak: Cell<u8>,
    searching: Cell<bool>,
    rng: Cell<u64>,
    completed: Cell<usize>,
    /// The task this worker is running (the parent of tasks spawned during its poll). Kept
    /// as a pointer: its id is read only when it spawns (see `RawTask::id`).
    current_task: Cell<Option<RawTask>>,
    /// Start of the current busy stretch (since the last park), for `worker_busy_duration`.
    busy_since: Cell<Instant>,
    /// Polls not yet added to this worker's counter: published with the busy time, so a
    /// poll costs an increment of a field already in cache rather than a store to the
    /// counter block (issue 19's per-poll cost, measured with `benches/examples/poll_probe.rs`).
    unpublished_polls: Cell<u64>,
    /// `Some(n)` while this worker is inside the parking hook, `n` counting the tasks woken
    /// there (by a hook that drives I/O and timers) and queued here. Those wake no other
    /// worker during the call; one is woken after it if more than one task got queued (see
    /// `announce_hook_wakes`).
    hook_queued: Cell<Option<u32>>,
}

impl Worker {
    pub(crate) fn new(handle: Handle, index: usize, local: Local) -> Worker {
        Worker {
            handle,
            index,
            local,
            tick: Cell::new(0),
            lifo_streak: Cell::new(0),
            searching: Cell::new(false),
            rng: Cell::new(
                0x9E37_79B9_7F4A_7C15 ^ (index as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407),
            ),
            completed: Cell::new(0),
            current_task: Cell::new(None),
            busy_since: Cell::new(Instant::now()),
            unpublished_polls: Cell::new(0),
            hook_queued: Cell::new(None),
        }
    }

    /// The task this worker is running, if any.
    pub(crate) fn current_task(&self) -> Option<TaskId> {
        // SAFETY: the pointer is set only while `run_task` runs the task on this thread,
        // which is where spawns that ask for it happen (see `RawTask::id`).
        self.current_task.get().map(|task| unsafe { task.id() })
    }

    /// This worker's index among the scheduler's workers.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// The thread body. The worker's exit is reported to shutdown however the thread ends —
    /// also if it unwinds — so shutdown never waits for a worker that is gone.
    pub(crate) fn run(self) {
        /// Reports the exit once the worker and everything it held are dropped.
        struct Exited {
            shared: Arc<Shared>,
            index: usize,
        }
        impl Drop for Exited {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    report(format_args!(
                        "worker {} exits because of a panic in the runtime; shutdown will not \
                         wait for it",
                        self.index
                    ));
                }
                self.shared.worker_exited();
            }
        }
        let _exited = Exited {
            shared: self.handle.shared.clone(),
            index: self.index,
        };
        self.serve();
    }

    fn serve(self) {
        self.busy_since.set(Instant::now());
        let _context = self.handle.enter();
        let current = context::set_worker(&self);
        if let Some(start) = &self.shared().config.on_thread_start {
            // A panicking start hook is reported; the worker then serves tasks as usual.
            call_hook("on_thread_start", || start());
        }
        self.run_loop();
        self.publish(Instant::now());
        drop(current);
        // Leftover queue entries only hold references: shutdown drops the futures.
        while let Some(task) = self.shared().stealable[self.index].take_lifo() {
            drop(task);
        }
        while let Some(task) = self.local.pop() {
            drop(task);
        }
        self.shared()
            .registry
            .report_completed(self.completed.replace(0));
        if let Some(stop) = &self.shared().config.on_thread_stop {
            call_hook("on_thread_stop", || stop());
        }
    }

    fn run_loop(&self) {
        while !self.shared().is_shutdown() {
            self.turn();
        }
    }

    /// One pass of the run loop: run one task, or park. The loom models drive workers
    /// through this, turn by turn.
    pub(crate) fn turn(&self) {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if tick % EVENT_INTERVAL == 0 {
            self.maintenance();
        }
        if let Some(task) = self.next_task(tick) {
            self.run_task(task);
        } else if let Some(task) = self.steal_work() {
            self.run_task(task);
        } else {
            self.park();
        }
    }

    fn next_task(&self, tick: u32) -> Option<Notified> {
        let own = &self.shared().stealable[self.index];
        // `is_empty` is two loads of a line that only remote spawns write.
        if tick % GLOBAL_INTERVAL == 0 || (tick % 2 == 0 && !self.shared().injector.is_empty()) {
            if let Some(task) = self.pull_injector() {
                return Some(task);
            }
        }
        if self.lifo_streak.get() < MAX_LIFO_STREAK {
            if let Some(task) = own.take_lifo() {
                self.lifo_streak.set(self.lifo_streak.get() + 1);
                return Some(task);
            }
        } else if let Some(task) = own.take_lifo() {
            // The streak is over: the slot's task waits its turn like any other.
            self.local.push(task);
        }
        self.lifo_streak.set(0);
        self.local.pop().or_else(|| self.pull_injector())
    }

    fn pull_injector(&self) -> Option<Notified> {
        let shared = self.shared();
        shared
            .injector
            .pop_batch_into(&self.local, shared.stealable.len())
    }

    fn next_random(&self) -> u64 {
        // xorshift64*: cheap, and good enough to spread victims.
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn steal_work(&self) -> Option<Notified> {
        let shared = self.shared();
        let workers = shared.stealable.len();
        if workers > 1 {
            if !self.searching.get() {
                if !shared.idle.transition_to_searching() {
                    return None;
                }
                self.searching.set(true);
            }
            let start = (self.next_random() % workers as u64) as usize;
            for offset in 0..workers {
                let victim = (start + offset) % workers;
                if victim == self.index {
                    continue;
                }
                if let Some(task) = shared.stealable[victim].queue.steal_half_into(&self.local) {
                    self.count(|c| &c.steals);
                    return Some(task);
                }
            }
            for offset in 0..workers {
                let victim = (start + offset) % workers;
                if victim == self.index {
                    continue;
                }
                if let Some(task) = shared.stealable[victim].take_lifo() {
                    self.count(|c| &c.steals);
                    return Some(task);
                }
            }
        }
        self.pull_injector()
    }

    fn run_task(&self, task: Notified) {
        let shared = self.shared();
        if self.searching.replace(false) && shared.idle.transition_from_searching() {
            // The last searcher found work: more may be coming, so get another one looking.
            shared.notify_parked();
        }
        self.unpublished_polls.set(self.unpublished_polls.get() + 1);
        self.current_task.set(Some(task.raw()));
        let completed = match &shared.times {
            None => coop::budget(|| task.run()),
            Some(times) => shared.run_timed(task, times),
        };
        self.current_task.set(None);
        if completed {
            self.completed.set(self.completed.get() + 1);
        }
    }

    /// Bumps one of this worker's counters (only this thread writes them).
    #[inline]
    fn count(&self, counter: impl FnOnce(&WorkerCounters) -> &AtomicU64) {
        metrics::add(counter(&self.shared().counters.workers[self.index]), 1);
    }

    /// Publishes the polls counted since the last call and the busy time since
    /// `busy_since`, and starts a new busy stretch at `now`.
    fn publish(&self, now: Instant) {
        let counters = &self.shared().counters.workers[self.index];
        metrics::add(&counters.polls, self.unpublished_polls.replace(0));
        let since = self.busy_since.replace(now);
        metrics::add_busy(counters, since, now);
    }

    fn park_context<'a>(&self, is_idle: &'a dyn Fn() -> bool) -> ParkContext<'a> {
        ParkContext {
            worker: self.index,
            is_idle,
        }
    }

    fn maintenance(&self) {
        self.publish(Instant::now());
        let shared = self.shared();
        shared.registry.report_completed(self.completed.replace(0));
        let is_idle = || false;
        let mut hook_call = HookCall {
            shared,
            worker: self.index,
            role: HookRole::Active {
                searching: self.searching.get(),
            },
            hook_queued: &self.hook_queued,
            armed: true,
        };
        self.hook_queued.set(Some(0));
        shared
            .park
            .park(&self.park_context(&is_idle), Some(Duration::ZERO));
        hook_call.armed = false;
        let queued = self.hook_queued.take().unwrap_or(0);
        self.announce_hook_wakes(queued);
    }

    /// Tasks woken inside the parking hook were queued on this worker without waking anyone
    /// (Tokio treats wakes from inside its driver the same way): this worker runs one of them
    /// next, so only a second one is worth another worker. A searching worker is not asked:
    /// when it runs its task it stops searching, and as the last searcher it wakes one.
    fn announce_hook_wakes(&self, queued: u32) {
        if queued > 1 && !self.searching.get() {
            self.shared().notify_parked();
        }
    }

    fn park(&self) {
        // Published before the worker can be seen parked, so a snapshot taken once the
        // runtime is idle has every poll and all busy time in it.
        let now = Instant::now();
        self.publish(now);
        let shared = self.shared();
        shared.registry.report_completed(self.completed.replace(0));
        shared
            .registry
            .sweep_if_worthwhile(|| !shared.has_work(), || shared.idle.others_unparked());
        let was_searching = self.searching.replace(false);
        shared.idle.transition_to_parked(self.index, was_searching);
        // The hook may panic and kill this thread while it is registered as a sleeper.
        let mut hook_call = HookCall {
            shared,
            worker: self.index,
            role: HookRole::Parked { watching: false },
            hook_queued: &self.hook_queued,
            armed: true,
        };
        // Re-check after registering: a task pushed before our registration was visible to
        // its notifier is visible to us now (both sides fence with SeqCst).
        let mut slept = false;
        if !shared.has_work() && !shared.is_shutdown() {
            if shared.idle.all_parked() {
                // The last worker to go to sleep settles the registry (see
                // `Registry::settle`), so a finished burst's memory returns before the runtime
                // sleeps. Work pushed meanwhile stops the walk at the end of a step, and its
                // notifier sees us registered as parked; a worker that wakes meanwhile comes
                // through here again when it parks.
                shared
                    .registry
                    .settle(|| !shared.has_work(), || !shared.idle.all_parked());
            }
            slept = true;
            self.count(|c| &c.parks);
            let is_idle = || shared.is_idle();
            let watching = shared.idle.start_watching();
            hook_call.role = HookRole::Parked { watching };
            if !watching && shared.idle.all_parked() && shared.idle.is_watched() {
                // The runtime may have just become idle while the watcher sleeps with a
                // timeout, possibly in the reactor: a hook with a paused clock must not wait
                // for that timeout to jump to the next timer.
                shared.park.notify_idle_change();
            }
            let timeout = watching.then_some(LIFO_WATCH);
            self.hook_queued.set(Some(0));
            shared.park.park(&self.park_context(&is_idle), timeout);
            if watching {
                shared.idle.stop_watching();
            }
        }
        hook_call.armed = false;
        let queued = self.hook_queued.take().unwrap_or(0);
        // Parked time is not busy time: the stretch starts again now. A pass that found
        // work at the re-check never left the stretch, which `publish` took up to `now`
        // (the clock is read once per such pass: a worker may pass through here several
        // times per request under HTTP load, and a clock read is most of the pass).
        self.busy_since
            .set(if slept { Instant::now() } else { now });
        // A searcher whose re-check found work goes back to it searching (see
        // `Idle::unpark_self`); a notifier that took us off the sleeper list counted us as
        // searching too.
        let resume_searching = was_searching && !slept;
        self.searching
            .set(shared.idle.unpark_self(self.index, resume_searching));
        // Only now, off the sleeper list: while on it, the notification could pick this
        // very worker.
        self.announce_hook_wakes(queued);
    }

    /// Queues a task woken on this worker: into the LIFO slot, or at the back of the queue
    /// for a yield.
    pub(crate) fn schedule_local(&self, task: Notified, reason: Reason) {
        let shared = self.shared();
        let hook_queued = self.hook_queued.get();
        if let Some(queued) = hook_queued {
            self.hook_queued.set(Some(queued + 1));
        }
        if reason == Reason::Yielded {
            self.local.push(task);
            // A task is requeued once its poll has returned, so this worker runs its next
            // task right away. When the task just pushed is all there is here, that next task
            // is this one: waking a worker would only let it steal the task (an eventfd write
            // and a migration every time a task's budget runs out). Announce only a queue
            // with more than this one task in it.
            if self.local.len() == 1 && shared.stealable[self.index].lifo.load(Relaxed).is_null() {
                return;
            }
        } else {
            let raw = task.into_raw();
            let previous = shared.stealable[self.index].lifo.swap(raw.as_ptr(), AcqRel);
            if previous.is_null() {
                if shared.idle.is_watched() {
                    // This worker runs the slot's task as soon as the running task's poll
                    // returns. If that poll never returns, the slot (which is stealable) must
                    // not strand the task (tokio#4941): the watcher, a parked worker that
                    // wakes within `LIFO_WATCH`, will steal it. Waking a worker here instead
                    // would cost a wake-up per message on every hand-off chain (a lock passed
                    // between tasks, request/reply) and scatter the chain over the cores.
                    return;
                }
                // Without a watcher the filled slot is announced: the worker that wakes finds
                // nothing if this one runs the task first, parks again and becomes the
                // watcher, so this happens once per busy spell.
            } else {
                // SAFETY: the slot held the previous task together with its queue reference.
                self.local
                    .push(unsafe { Notified::from_raw(RawTask::from_ptr(previous)) });
            }
        }
        if hook_queued.is_some() {
            // Woken inside the parking hook: announced once the hook returns.
            return;
        }
        shared.notify_parked();
    }
}

/// Armed around a call into the parking hook (user code). If the hook panics, the worker
/// thread unwinds and dies, and this guard, dropped still armed, takes the worker out of the
/// idle bookkeeping: it counts as parked for good (so the runtime can still be seen idle),
/// gets no more wake-ups, gives up the watcher role, and a wake-up it had been sent goes to
/// another worker.
struct HookCall<'a> {
    shared: &'a Shared,
    worker: usize,
    role: HookRole,
    /// The worker's count of tasks woken inside the hook: if the hook panics after queuing
    /// some, nobody was told about them yet.
    hook_queued: &'a Cell<Option<u32>>,
    armed: bool,
}

/// How the idle bookkeeping counts a worker while it is in the hook.
enum HookRole {
    /// Registered as parked (a park), possibly as the watcher.
    Parked { watching: bool },
    /// Counted as active (maintenance), possibly searching.
    Active { searching: bool },
}

impl Drop for HookCall<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let idle = &self.shared.idle;
        let resend = match self.role {
            HookRole::Parked { watching } => idle.forget_dead(self.worker, watching),
            HookRole::Active { searching } => idle.forget_dead_active(searching),
        };
        // Tasks the hook queued here before panicking are stealable, but unannounced.
        let queued = self.hook_queued.take().unwrap_or(0);
        if resend || queued > 0 {
            // We are unwinding: a panic in the hook's `unpark` must not escape (that would
            // abort the process).
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.shared.notify_parked();
            }));
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::Scheduler;
    use std::future::poll_fn;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::{Poll, Waker};
    use std::time::{Duration, Instant};

    /// Waits (generously) until `cond` holds; `false` if it never did.
    fn eventually(mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Tasks wait at the gate until it opens; opening wakes them all at once.
    #[derive(Default)]
    struct Gate {
        open: AtomicBool,
        waiters: Mutex<Vec<Waker>>,
    }

    impl Gate {
        async fn pass(&self) {
            poll_fn(|cx| {
                let mut waiters = self.waiters.lock().unwrap();
                if self.open.load(SeqCst) {
                    return Poll::Ready(());
                }
                waiters.push(cx.waker().clone());
                Poll::Pending
            })
            .await;
        }

        fn open(&self) {
            let waiters = {
                let mut waiters = self.waiters.lock().unwrap();
                self.open.store(true, SeqCst);
                std::mem::take(&mut *waiters)
            };
            waiters.into_iter().for_each(Waker::wake);
        }
    }

    /// A finished burst's memory returns before the runtime sleeps, even when the workers go
    /// idle together while other threads walk the registry (`Handle::metrics`, scrapers):
    /// a worker going idle finds a shard's lock taken and leaves that shard's lap to a worker
    /// it sees awake, which may be doing the same. Every task cell holds a handle, so the
    /// runtime's reference count tells how many cells the registry still keeps.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "a million tasks under wall-clock bounds: hours when interpreted"
    )]
    fn a_burst_is_freed_when_the_workers_go_idle_together_beside_registry_walks() {
        const BURST: usize = 50_000;
        let sched = Scheduler::builder().worker_threads(2).build().unwrap();
        let handle = sched.handle().clone();
        let shared = handle.shared.clone();
        let stop = Arc::new(AtomicBool::new(false));
        // Two, so that one may walk a shard while the other waits for the next one.
        let scrapers: Vec<_> = (0..2)
            .map(|_| {
                let (handle, stop) = (handle.clone(), stop.clone());
                std::thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        std::hint::black_box(handle.metrics());
                    }
                })
            })
            .collect();
        assert!(eventually(|| shared.is_idle()));
        let baseline = Arc::strong_count(&shared);
        for round in 0..20 {
            let gate = Arc::new(Gate::default());
            let done = Arc::new(AtomicUsize::new(0));
            for _ in 0..BURST {
                let (gate, done) = (gate.clone(), done.clone());
                drop(handle.spawn(async move {
                    gate.pass().await;
                    done.fetch_add(1, SeqCst);
                }));
            }
            assert!(eventually(|| gate.waiters.lock().unwrap().len() == BURST));
            // The whole burst completes at once: both workers run out of tasks together.
            gate.open();
            assert!(eventually(|| done.load(SeqCst) == BURST));
            // A worker may still be on its way to sleep (waiting for a shard's lock, or woken
            // by a stale notification); what none of them freed before it slept stays.
            let freed = eventually(|| Arc::strong_count(&shared) == baseline);
            let kept = Arc::strong_count(&shared) - baseline;
            assert!(
                freed,
                "round {round}: {kept} completed tasks still held by the registry of an idle runtime"
            );
        }
        stop.store(true, SeqCst);
        for scraper in scrapers {
            scraper.join().unwrap();
        }
    }
}
