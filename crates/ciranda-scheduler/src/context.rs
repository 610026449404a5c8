//! Everything the scheduler keeps per thread, in one place: the current runtime (what
//! `Handle::current()` returns), the worker or blocking pool the thread serves, its `block_on`
//! spin policy and its block of task ids. (The cooperative budget lives in [`crate::coop`].)
//!
//! Each is its own `thread_local!` rather than one struct: only `CURRENT` holds a value with
//! a destructor. The others are destructor-free, so they stay readable while the thread is
//! torn down — a task dropped by another thread-local's destructor can still take an id and
//! ask whether it is on a worker.

use crate::Handle;
use crate::shared::Shared;
use crate::spin::Policy;
use crate::task::TaskId;
use crate::worker::Worker;
use std::cell::{Cell, RefCell};
use std::ptr;

thread_local! {
    /// The runtimes entered on this thread and not yet left, innermost (current) last, each
    /// with the number of the guard that entered it.
    static CURRENT: RefCell<Entered> = const {
        RefCell::new(Entered {
            stack: Vec::new(),
            next_guard: 0,
        })
    };
    /// What this thread is busy with for a runtime while it runs user code, innermost last:
    /// a blocking call, a `block_on` whose future is being polled. Each is counted active for
    /// the paused clock; a `block_on` that waits inside them holds them up (see [`suspend`]).
    static BUSY: RefCell<Vec<(*const Shared, Busy)>> = const { RefCell::new(Vec::new()) };
    /// The worker running on this thread, set while `Worker::run` borrows it.
    static CURRENT_WORKER: Cell<*const Worker> = const { Cell::new(ptr::null()) };
    /// The blocking pool this thread serves, as an identity only (never dereferenced).
    static BLOCKING_POOL: Cell<*const ()> = const { Cell::new(ptr::null()) };
    /// The runtime whose shutdown is dropping its unfinished tasks on this thread right now
    /// (see [`enter_drain`]), as an identity only (never dereferenced).
    static DRAINING: Cell<*const ()> = const { Cell::new(ptr::null()) };
    /// Optimistic start: a thread's first waits spin, and the score soon says whether to go on.
    static SPIN_POLICY: Policy = const { Policy::new() };
    /// The thread's reserved block of task ids: `(next, end)`.
    static TASK_IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// Makes a handle the thread's current one until dropped; returned by [`Handle::enter`].
/// Guards nest: the current handle is the one of the latest guard still alive, so dropping
/// the latest guard restores the handle that was current before it, and a guard dropped out
/// of order (before a later one) only takes its own handle out: once every guard is gone,
/// no runtime is left current.
///
/// # Examples
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
/// assert!(ciranda_scheduler::Handle::try_current().is_none());
/// let _guard = sched.handle().enter();
/// assert!(ciranda_scheduler::Handle::try_current().is_some());
/// ```
#[must_use = "the handle stops being current when the guard is dropped"]
pub struct EnterGuard {
    /// The number of this guard's entry in `CURRENT`.
    number: u64,
    // Entering is per thread: the guard must be dropped on the thread that made it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl std::fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

/// The thread's entered runtimes (see `CURRENT`). A guard removes its own entry wherever it
/// is, so guards dropped out of order (kept in structs, say) cannot leave a runtime current
/// that no guard holds any more — nor keep it alive in this thread-local.
struct Entered {
    stack: Vec<(u64, Handle)>,
    next_guard: u64,
}

pub(crate) fn enter(handle: Handle) -> EnterGuard {
    try_enter(handle).expect(
        "ciranda: Handle::enter during thread teardown: this thread's runtime context is gone",
    )
}

/// Like [`enter`], but `None` when the thread's context is already gone: a thread-local's
/// destructor that runs late in the thread's teardown (a runtime kept in a thread-local and
/// dropped there). `CURRENT.with` would panic there, and a panic in a thread-local's
/// destructor aborts the process.
pub(crate) fn try_enter(handle: Handle) -> Option<EnterGuard> {
    let number = CURRENT
        .try_with(|current| {
            let mut current = current.borrow_mut();
            let number = current.next_guard;
            current.next_guard = number.wrapping_add(1);
            current.stack.push((number, handle));
            number
        })
        .ok()?;
    Some(EnterGuard {
        number,
        _not_send: std::marker::PhantomData,
    })
}

pub(crate) fn current() -> Option<Handle> {
    CURRENT
        .try_with(|current| current.borrow().stack.last().map(|(_, h)| h.clone()))
        .ok()
        .flatten()
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // The removed handle is dropped outside the borrow: dropping a handle can run code.
        let _removed = CURRENT.try_with(|current| {
            let mut current = current.borrow_mut();
            // Normally the last entry; searched from there for a guard dropped out of order.
            let index = current
                .stack
                .iter()
                .rposition(|(number, _)| *number == self.number)?;
            Some(current.stack.remove(index))
        });
    }
}

/// Marks `worker` as the one running on this thread until the guard drops.
pub(crate) fn set_worker(worker: &Worker) -> WorkerGuard<'_> {
    CURRENT_WORKER.with(|w| w.set(worker));
    WorkerGuard(std::marker::PhantomData)
}

/// Clears the current worker when dropped; returned by [`set_worker`].
pub(crate) struct WorkerGuard<'a>(std::marker::PhantomData<&'a Worker>);

impl Drop for WorkerGuard<'_> {
    fn drop(&mut self) {
        let _ = CURRENT_WORKER.try_with(|w| w.set(ptr::null()));
    }
}

/// `true` on a worker thread of any scheduler.
pub(crate) fn on_worker_thread() -> bool {
    CURRENT_WORKER
        .try_with(|w| !w.get().is_null())
        .unwrap_or(false)
}

/// The index of the worker (of any scheduler) running on this thread, if any.
pub(crate) fn worker_index() -> Option<usize> {
    let worker = CURRENT_WORKER.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: as in `with_worker`: the pointer is set only while `set_worker`'s guard borrows
    // the worker on this thread, and cleared before that borrow ends.
    unsafe { worker.as_ref() }.map(Worker::index)
}

/// The worker of `shared` running on this thread, if any. Always inlined: it is on every
/// wake's path, and its caller's closure is the rest of that path.
#[inline(always)]
pub(crate) fn with_worker<R>(shared: &Shared, f: impl FnOnce(Option<&Worker>) -> R) -> R {
    let worker = CURRENT_WORKER.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: `CURRENT_WORKER` is set only by `set_worker`, whose guard borrows the worker on
    // this very thread and clears the pointer before the borrow ends, so it is live here.
    let worker = unsafe { worker.as_ref() }.filter(|w| ptr::eq(w.shared(), shared));
    // One call of `f`, so the compiler inlines the caller's closure instead of keeping it a
    // function of its own.
    f(worker)
}

/// Records that this thread serves the blocking pool `pool` (for the rest of its life).
pub(crate) fn set_blocking_pool<T>(pool: *const T) {
    BLOCKING_POOL.with(|p| p.set(pool.cast()));
}

/// `true` if this thread serves the blocking pool `pool`.
pub(crate) fn serves_blocking_pool<T>(pool: *const T) -> bool {
    BLOCKING_POOL
        .try_with(|p| ptr::eq(p.get(), pool.cast()))
        .unwrap_or(false)
}

/// Records that this thread drops the unfinished tasks of `shared` (its shutdown's drain)
/// until the guard drops; a nested drain (a destructor dropping another runtime) is current
/// until its own guard drops.
pub(crate) fn enter_drain(shared: &Shared) -> DrainGuard {
    let me = ptr::from_ref(shared).cast::<()>();
    DrainGuard(DRAINING.try_with(|d| d.replace(me)).ok())
}

/// Restores the drain that was current before [`enter_drain`].
pub(crate) struct DrainGuard(Option<*const ()>);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            let _ = DRAINING.try_with(|d| d.set(previous));
        }
    }
}

/// `true` while a shutdown drops unfinished tasks on this thread (any runtime's): one
/// thread-local read, for `JoinHandle::poll`'s pending path.
#[inline]
pub(crate) fn draining() -> bool {
    DRAINING.try_with(|d| !d.get().is_null()).unwrap_or(false)
}

/// `true` while the shutdown of `shared` drops its unfinished tasks on this thread.
pub(crate) fn drains(shared: &Shared) -> bool {
    let me = ptr::from_ref(shared).cast::<()>();
    DRAINING.try_with(|d| ptr::eq(d.get(), me)).unwrap_or(false)
}

/// Runs `f` with this thread's spin policy; `None` once the thread is being torn down.
pub(crate) fn with_spin_policy<R>(f: impl FnOnce(&Policy) -> R) -> Option<R> {
    SPIN_POLICY.try_with(f).ok()
}

/// Runs `f` with this thread's block of task ids; `None` once the thread is being torn down.
pub(crate) fn with_task_ids<R>(f: impl FnOnce(&Cell<(u64, u64)>) -> R) -> Option<R> {
    TASK_IDS.try_with(f).ok()
}

/// For a spawn onto `shared` from this thread: the index of the worker when this thread is one
/// of `shared`'s workers, and the task being polled here by a worker or current-thread driver
/// *of `shared`*, the new task's parent. A task of another runtime is no parent: it is not
/// in this runtime's task list. The worker records its task in its own struct around each run,
/// so a poll costs no thread-local access; only a spawn looks it up (once, for both).
pub(crate) fn spawner(shared: &Shared) -> (Option<usize>, Option<TaskId>) {
    with_worker(shared, |worker| match worker {
        Some(worker) => (Some(worker.index()), worker.current_task()),
        // Not one of its workers: perhaps the driver of a current-thread runtime.
        None => (None, crate::current_thread::current_task(shared)),
    })
}

/// Something a thread is busy with for a runtime, counted active while it lasts (see the
/// `activity` module).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Busy {
    /// Polling a `block_on` future (`Shared::block_on_active`).
    BlockOn,
    /// Running a call of the blocking pool (the pool's activity count).
    BlockingCall,
}

/// Records that this thread is busy with `busy` for `shared` until the guard drops.
pub(crate) fn enter_busy(shared: &Shared, busy: Busy) -> BusyGuard {
    let _ = BUSY.try_with(|stack| stack.borrow_mut().push((ptr::from_ref(shared), busy)));
    BusyGuard(std::marker::PhantomData)
}

/// Pops the entry [`enter_busy`] pushed; guards nest.
pub(crate) struct BusyGuard(std::marker::PhantomData<*const ()>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let _ = BUSY.try_with(|stack| stack.borrow_mut().pop());
    }
}

/// A thread about to wait in a `block_on` of `shared` stops counting, for that runtime, as
/// busy with what it is nested in — the blocking call it runs, the outer `block_on`s whose
/// futures are being polled: none of them can go on before this wait ends, so they must not
/// keep a paused clock from jumping to the timer it waits for. `own_frames` innermost entries
/// are the waiting `block_on`'s own (counted by itself) and are left alone. The counts come
/// back when the returned guard drops (after the wait, or if it unwinds).
pub(crate) fn suspend(shared: &Shared, own_frames: usize) -> Suspended<'_> {
    let (mut block_ons, mut calls) = (0, 0);
    let _ = BUSY.try_with(|stack| {
        let stack = stack.borrow();
        let enclosing = &stack[..stack.len().saturating_sub(own_frames)];
        for &(owner, busy) in enclosing {
            if ptr::eq(owner, shared) {
                match busy {
                    Busy::BlockOn => block_ons += 1,
                    Busy::BlockingCall => calls += 1,
                }
            }
        }
    });
    for _ in 0..block_ons {
        shared.block_on_active.deactivate();
    }
    for _ in 0..calls {
        shared.blocking.suspend_call();
    }
    Suspended {
        shared,
        block_ons,
        calls,
    }
}

/// Counts back what [`suspend`] took off, when dropped.
pub(crate) struct Suspended<'a> {
    shared: &'a Shared,
    block_ons: usize,
    calls: usize,
}

impl Drop for Suspended<'_> {
    fn drop(&mut self) {
        for _ in 0..self.calls {
            self.shared.blocking.resume_call();
        }
        for _ in 0..self.block_ons {
            self.shared.block_on_active.activate();
        }
    }
}
