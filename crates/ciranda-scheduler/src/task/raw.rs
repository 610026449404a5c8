//! The task allocation: one heap block holding header, scheduler handle and stage, plus the
//! type-erased pointer and the functions (`Vtable`) that work on it.
//!
//! # Invariants
//!
//! * A `RawTask` points at the `Header` of a live `Cell<F, S>` allocated by [`allocate`];
//!   `Header` is the first field of the `#[repr(C)]` cell, so the two pointers are the same.
//! * The allocation lives while the reference count in the state word is non-zero; whoever
//!   brings it to zero calls `Vtable::dealloc` and nothing touches the task afterwards.
//! * The stage (future, then output) is accessed only by the thread holding `RUNNING`, or,
//!   once `COMPLETE` is set, by the `JoinHandle` if `JOIN_INTEREST` was set at completion and
//!   by the completing thread otherwise.
//! * The join waker slot is written only by its owner: the `JoinHandle` while `JOIN_WAKER`
//!   is clear; the runtime reads it while `JOIN_WAKER` is set.

use super::error::panic_message;
use super::site::Site;
use super::state::{self, JOIN_INTEREST, JOIN_WAKER, State, ToIdle, ToRunning};
use super::{JoinError, JoinHandle, TaskId, TaskName};
use crate::loom::UnsafeCell;
use crate::loom::atomic::AtomicPtr;
use crate::report::{drop_caught, drop_payload, report};
use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// What a task needs from whoever runs it.
///
/// `schedule` and `requeue` take the scheduler value by pointer, not `&self`: it lives in
/// the task's cell, and the reference the task is queued with may be the task's last (a
/// waker consumed by `wake`, the runner's after a yield). Once queued, the task may be run,
/// completed and freed by another thread before the call returns, and a reference argument
/// must stay valid until its function returns (Rust's aliasing rules protect it; Miri
/// reports the free as undefined behaviour).
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Queues a task that a waker (or an abort) made runnable.
    ///
    /// # Safety
    /// `this` points at the scheduler value in `task`'s cell, live when the call begins. It
    /// may be freed as soon as `task` is queued: the implementation reads what it needs
    /// through `this` first, and neither uses `this` nor keeps a reference made from it
    /// after giving `task` away.
    unsafe fn schedule(this: *const Self, task: Notified);
    /// Queues a task that was woken while it ran (a yield, or a budget-forced yield): it goes
    /// to the back of the queue, never ahead of others.
    ///
    /// # Safety
    /// As for [`schedule`](Self::schedule).
    unsafe fn requeue(this: *const Self, task: Notified);
    /// A task panicked and nobody will ever read the panic: report it. Must not unwind (it
    /// is called on workers and from `drop`); the scheduler calls the user's hook under
    /// `catch_unwind`.
    fn unhandled_panic(&self, error: &JoinError);
    /// `true` while this thread runs the shutdown drain that drops this scheduler's
    /// unfinished tasks (a destructor it calls is on the stack). The default: never (a
    /// scheduler without such a drain, the blocking pool's).
    fn drains_here(&self) -> bool {
        false
    }
}

pub(crate) struct Vtable {
    /// Runs (or cancels) the task; consumes one reference, the queue's. Returns `true` when
    /// this run completed the task.
    poll: unsafe fn(NonNull<Header>) -> bool,
    /// Hands the task, with one reference, to its scheduler.
    schedule: unsafe fn(NonNull<Header>),
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
    /// Moves the output into `*dst` (a `Poll<Result<T, JoinError>>`) if the task completed,
    /// or registers the waker.
    try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    /// The `JoinHandle` went away after completion: drop the unread output.
    drop_output: unsafe fn(NonNull<Header>),
    /// Drops the future in place; the caller won `RUNNING` through `transition_to_shutdown`.
    shutdown: unsafe fn(NonNull<Header>),
    /// Cancels the task in place if this thread runs its scheduler's shutdown drain.
    cancel_if_drained_here: unsafe fn(NonNull<Header>),
}

/// The part of a task every handle can use without knowing its future's type.
///
/// # Layout
///
/// A poll touches the state word (twice, read-modify-write), the vtable, the scheduler
/// handle and the future; nothing else in the header. Those hot words come last, next to
/// the scheduler handle and the stage, and the words only a spawn, a join, the registry or
/// a dump touch come first. Small tasks are allocated next to each other, and two workers
/// often poll neighbours: with the hot words first, one task's state word shared a cache
/// line with its neighbour's future, and that line moved between the cores on every poll
/// (issue 19: 14 → 19 ns per poll with two workers in `benches/examples/poll_probe.rs`).
/// Laid out this way, the cold words (and the allocator's chunk header) put 56 bytes
/// between one task's hot words and the next one's, which keeps them apart in the 96- and
/// 112-byte chunks that small tasks use.
#[repr(C)]
pub(crate) struct Header {
    /// Link in the scheduler's registry of live tasks (written by the registry only).
    pub(crate) registry_next: AtomicPtr<Header>,
    pub(crate) id: TaskId,
    /// Where the task was spawned (the user's line, through `#[track_caller]`) and its name.
    site: Site,
    join_waker: UnsafeCell<Option<Waker>>,
    /// The task of the same runtime that a worker (or the current-thread driver) was polling
    /// when this one was spawned, if any.
    pub(crate) parent: Option<TaskId>,
    /// The task's `tracing` span (feature `tracing` only).
    #[cfg(feature = "tracing")]
    pub(crate) span: crate::trace::TaskSpan,
    pub(crate) state: State,
    vtable: &'static Vtable,
}

#[repr(C)]
struct Cell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
}

/// What the task cell holds: first the future, then its outcome. An untagged union, because
/// the state word already says which field is live, and a tag would cost a word: a 16-byte
/// future (an async block holding an `Arc`) has no niche for an enum's tag, so the tag took
/// the cell from 88 to 96 bytes, which glibc serves from a 112-byte chunk instead of a
/// 96-byte one (the memory bench's idle task).
///
/// | state word               | live field                                                  |
/// |--------------------------|-------------------------------------------------------------|
/// | not `COMPLETE`           | `future` (but see below)                                    |
/// | `COMPLETE`, not `FAILED` | `output`, until it is taken                                 |
/// | `COMPLETE` and `FAILED`  | `failure`: the panic's payload, or `None` for a cancellation |
///
/// Two windows break the table, each known to the one thread that may touch the stage then:
/// the holder of `RUNNING` has dropped the future and not yet stored the outcome (no field
/// is live), and the outcome has been taken (none is live again). The taker is whoever owns
/// the completed stage: the `JoinHandle` (which marks itself, see [`JoinHandle`]), or the
/// completing thread when no handle is left. A task is freed only after its outcome was
/// taken, so `dealloc` drops the future if the task never completed and nothing otherwise.
///
/// A panic's payload is boxed once more so that it is a thin pointer (8 bytes, not 16): the
/// extra allocation is paid only when a task panics, and the stage is then as large as the
/// future or the output.
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<F::Output>,
    failure: ManuallyDrop<Option<Box<Payload>>>,
}

type Payload = Box<dyn Any + Send + 'static>;

/// How a run ended, on its way into the stage (or straight to the bin when no `JoinHandle`
/// is left to read it).
enum Outcome<T> {
    Finished(T),
    Cancelled,
    Panicked(Box<Payload>),
}

impl<T> Outcome<T> {
    fn is_failure(&self) -> bool {
        !matches!(self, Outcome::Finished(_))
    }
}

/// An untyped, non-owning pointer to a task: the vtable's view of it. It is `Copy` and owns
/// nothing, so every method that touches the task is `unsafe`: the caller must hold a
/// reference for the length of the call. The owners of references are typed: [`Notified`]
/// (a queue entry), [`TaskRef`] (the registry's or an `AbortHandle`'s), `JoinHandle` and
/// the task's `Waker`s.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask(NonNull<Header>);

// SAFETY: a task is shared between threads by design; every access to its interior goes
// through the state-word protocol described in the module docs, and the future and output
// it holds are `Send` (required by `allocate`).
unsafe impl Send for RawTask {}
// SAFETY: as above; `&RawTask` only exposes the same protocol-guarded operations.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// # Safety
    /// The caller holds a reference to the task for as long as it uses the returned header
    /// (the lifetime `'a` is the caller's to bound).
    pub(crate) unsafe fn header<'a>(self) -> &'a Header {
        // SAFETY: by the module invariant the pointer is live while a reference is held, which
        // the caller guarantees.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn as_ptr(self) -> *mut Header {
        self.0.as_ptr()
    }

    pub(crate) fn as_non_null(self) -> NonNull<Header> {
        self.0
    }

    /// The task's id, read through the pointer without forming a reference to the header.
    ///
    /// A worker records the task it runs as a `RawTask` and reads the id only when the
    /// task spawns (it is the child's parent); reading it on every poll would load a word
    /// that sits among the header's cold words, next to the previous task's future (see
    /// [`Header`]'s layout).
    ///
    /// # Safety
    /// The allocation has not been freed: the caller holds a reference, or the task is
    /// running on this thread. In the second case the id stays readable even while the
    /// last reference's `dealloc` runs destructors, because `dealloc` drops the fields in
    /// place, the id has no destructor, and the memory is freed only after them.
    pub(crate) unsafe fn id(self) -> TaskId {
        // SAFETY: the allocation is live (caller's contract) and `id` is never written
        // after `allocate_raw`; the read forms no reference, so it cannot alias the
        // `&mut`s that `dealloc`'s destructors hold on other fields.
        unsafe { std::ptr::addr_of!((*self.0.as_ptr()).id).read() }
    }

    /// # Safety
    /// `ptr` came from [`RawTask::as_ptr`] of a live task.
    pub(crate) unsafe fn from_ptr(ptr: *mut Header) -> RawTask {
        // SAFETY: the caller passes a pointer that came out of a `NonNull`.
        RawTask(unsafe { NonNull::new_unchecked(ptr) })
    }

    /// Releases one reference, freeing the task if it was the last.
    ///
    /// # Safety
    /// The caller holds a reference and gives it up: it must not touch the task afterwards.
    pub(crate) unsafe fn drop_reference(self) {
        // SAFETY: the caller's reference keeps the task alive until the decrement.
        let header = unsafe { self.header() };
        if header.state.ref_dec() {
            // SAFETY: the count reached zero: nobody else can reach the task any more.
            unsafe { (header.vtable.dealloc)(self.0) }
        }
    }

    /// Frees a task whose count a state transition already brought to zero.
    ///
    /// # Safety
    /// The caller's state transition released the last reference (the count is zero), and
    /// nothing touches the task afterwards.
    pub(crate) unsafe fn drop_reference_last(self) {
        // SAFETY: with a count of zero nobody can free the task but us, so it is still live.
        let header = unsafe { self.header() };
        debug_assert_eq!(header.state.load().ref_count(), 0);
        // SAFETY: the count is zero: nobody else can reach the task any more.
        unsafe { (header.vtable.dealloc)(self.0) }
    }

    /// Schedules the task, moving one reference the caller holds into the queue.
    ///
    /// # Safety
    /// The caller holds a reference and transfers it to the queue entry.
    pub(crate) unsafe fn schedule(self) {
        // SAFETY: the caller holds a reference that this call transfers.
        unsafe { (self.header().vtable.schedule)(self.0) }
    }

    /// Cancels the task (drops its future in place, unless it is complete or running
    /// elsewhere) if this thread is running the shutdown drain of the task's scheduler, which
    /// would drop it anyway. Its `JoinHandle` calls this when it finds the task unfinished:
    /// the handle is being awaited by a destructor the drain runs (in a `block_on`, since the
    /// shutting-down thread is not a worker), and the task, which will never run again, would
    /// otherwise be dropped only after that wait, by the drain the wait is called from.
    ///
    /// # Safety
    /// The caller holds a reference for the length of the call.
    pub(crate) unsafe fn cancel_if_drained_here(self) {
        // SAFETY: the caller's reference keeps the task alive.
        unsafe { (self.header().vtable.cancel_if_drained_here)(self.0) }
    }

    /// # Safety
    /// `dst` points at a `Poll<Result<T, JoinError>>` where `T` is the task's output type,
    /// and the caller is the task's `JoinHandle`, which has not taken the output yet.
    pub(crate) unsafe fn try_read_output(self, dst: *mut (), waker: &Waker) {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.try_read_output)(self.0, dst, waker) }
    }

    /// The `JoinHandle` is dropped; releases its reference too. `output_taken`: the handle
    /// already returned the output, so there is none left to drop.
    ///
    /// # Safety
    /// The caller is the task's `JoinHandle`, giving up its reference.
    pub(crate) unsafe fn drop_join_handle(self, output_taken: bool) {
        // SAFETY: the JoinHandle's reference keeps the task alive until released below.
        let header = unsafe { self.header() };
        let current = header.state.load();
        // The waker this handle left in the slot, taken back when the slot is ours. It is
        // dropped last, after every transition and the release of the handle's reference:
        // it is foreign code, and a destructor that panics must not skip them (the task, and
        // an unread output, would never be freed).
        let mut waker = None;
        if !current.is(JOIN_WAKER) {
            // JOIN_WAKER is clear, and only this handle sets it: the slot is ours (it holds
            // a waker when a registration lost to completion, or when the runtime woke the
            // registered waker and handed the slot back).
            // SAFETY: as just argued.
            waker = header.join_waker.with_mut(|slot| unsafe { (*slot).take() });
            if let Some(last) = header.state.drop_join_handle_fast(current) {
                if last {
                    // SAFETY: that was the last reference.
                    unsafe { (header.vtable.dealloc)(self.0) };
                }
                drop(waker);
                return;
            }
        }
        let prev = header.state.drop_join_interest();
        if prev.is(state::COMPLETE) && !output_taken {
            // SAFETY: the task completed while JOIN_INTEREST was set: the output is ours, and
            // still there.
            unsafe { (header.vtable.drop_output)(self.0) };
        }
        if !(prev.is(state::COMPLETE) && prev.is(JOIN_WAKER)) {
            // The slot is ours: the runtime no longer reads it (or never will). It is empty
            // if the waker was taken above: only this handle fills it.
            // SAFETY: ownership of the join waker slot as argued just above.
            let left = header.join_waker.with_mut(|slot| unsafe { (*slot).take() });
            waker = waker.or(left);
        }
        // SAFETY: the JoinHandle's reference, given up as the caller promised.
        unsafe { self.drop_reference() };
        drop(waker);
    }

    /// Shutdown: drops the future in place unless it is complete or running elsewhere.
    ///
    /// # Safety
    /// The caller holds a reference for the length of the call.
    pub(crate) unsafe fn shutdown(self) {
        // SAFETY: the caller's reference keeps the task alive.
        let header = unsafe { self.header() };
        if header.state.transition_to_shutdown() {
            // SAFETY: `transition_to_shutdown` gave this thread `RUNNING`.
            unsafe { (header.vtable.shutdown)(self.0) }
        }
    }

    /// Abort from a handle.
    ///
    /// # Safety
    /// The caller holds a reference for the length of the call.
    pub(crate) unsafe fn remote_abort(self) {
        // SAFETY: the caller's reference keeps the task alive.
        if unsafe { self.header() }.state.transition_to_aborted() {
            // SAFETY: the transition took a reference for the queue, which moves into it.
            unsafe { self.schedule() };
        }
    }
}

/// Initial references of a task tracked by the registry: the registry's, the first queue
/// entry's and the `JoinHandle`'s.
pub(crate) const REFS_REGISTERED: usize = 3;
/// Initial references of a task nobody tracks (a blocking task): the first queue entry's and
/// the `JoinHandle`'s.
pub(crate) const REFS_UNREGISTERED: usize = 2;

/// An owned reference to a task, released on drop: the registry's, an `AbortHandle`'s, or (as
/// a [`Notified`]) a queue entry's. Unlike [`RawTask`] it is not `Copy`, and reading the task
/// through it is safe.
#[derive(Debug)]
pub(crate) struct TaskRef(RawTask);

impl TaskRef {
    /// # Safety
    /// The caller transfers one reference of `raw` to the new value.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> TaskRef {
        TaskRef(raw)
    }

    /// Gives up ownership without releasing the reference (the caller now holds it).
    pub(crate) fn into_raw(self) -> RawTask {
        ManuallyDrop::new(self).0
    }

    pub(crate) fn as_ptr(&self) -> *mut Header {
        self.0.as_ptr()
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: we own a reference, which keeps the task alive while `self` is borrowed.
        unsafe { self.0.header() }
    }

    /// A new owned reference to the same task.
    pub(crate) fn clone_ref(&self) -> TaskRef {
        self.header().state.ref_inc();
        // SAFETY: `ref_inc` just made the reference the new value owns.
        unsafe { TaskRef::from_raw(self.0) }
    }

    /// Shutdown: drops the future in place unless it is complete or running elsewhere.
    pub(crate) fn shutdown(&self) {
        // SAFETY: we own a reference.
        unsafe { self.0.shutdown() }
    }

    /// Abort from a handle.
    pub(crate) fn remote_abort(&self) {
        // SAFETY: we own a reference.
        unsafe { self.0.remote_abort() }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference and give it up; `self` is not used afterwards.
        unsafe { self.0.drop_reference() };
    }
}

/// A task in a run queue: an owned reference ([`TaskRef`]) that stands for "runnable".
pub(crate) struct Notified(TaskRef);

impl Notified {
    /// # Safety
    /// The caller transfers one reference of `raw` to the new value.
    pub(crate) unsafe fn from_raw(raw: RawTask) -> Notified {
        // SAFETY: the caller transfers the reference, as `TaskRef::from_raw` requires.
        Notified(unsafe { TaskRef::from_raw(raw) })
    }

    pub(crate) fn into_raw(self) -> RawTask {
        self.0.into_raw()
    }

    /// The task, without a reference: what a worker records as the task it runs.
    pub(crate) fn raw(&self) -> RawTask {
        (self.0).0
    }

    pub(crate) fn header(&self) -> &Header {
        self.0.header()
    }

    /// A new reference to the task. A waker's `wake` hands its own reference to the queue:
    /// once the task is pushed, another thread may run, complete and free it, and with it
    /// its scheduler handle, possibly the last one to the runtime's `Shared`. Whoever keeps
    /// using `Shared` after the push holds one of these until done.
    pub(crate) fn keep_alive(&self) -> TaskRef {
        self.0.clone_ref()
    }

    /// Shutdown of a queued task: drops the future in place unless it is complete or
    /// running elsewhere. The queue's reference is released when `self` drops.
    pub(crate) fn shutdown(&self) {
        self.0.shutdown();
    }

    /// Polls (or cancels) the task, consuming the queue's reference; `true` when the task
    /// completed in this run.
    pub(crate) fn run(self) -> bool {
        let vtable = self.header().vtable;
        let raw = self.into_raw();
        // SAFETY: we hold the queue's reference, which `poll` consumes.
        unsafe { (vtable.poll)(raw.0) }
    }
}

impl std::fmt::Debug for Notified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Notified({})", self.header().id)
    }
}

/// A freshly allocated task, as its owners: the first queue entry and the `JoinHandle`.
pub(crate) struct NewTask<T> {
    pub(crate) notified: Notified,
    pub(crate) join: JoinHandle<T>,
}

/// [`allocate_registered_at`] at the caller's location: the loom models' way in.
#[cfg(all(test, loom))]
#[track_caller]
pub(crate) fn allocate_registered<F, S>(
    future: F,
    scheduler: S,
    id: TaskId,
    name: Option<TaskName>,
) -> (TaskRef, NewTask<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    allocate_registered_at(future, scheduler, id, name, Location::caller(), None)
}

/// Allocates a task tracked by the registry, which reports `location` as its spawn location
/// and `parent` as the task that spawned it: its three references come back as their owners — the registry's [`TaskRef`] (for
/// `Registry::insert`), the first queue entry and the `JoinHandle`.
pub(crate) fn allocate_registered_at<F, S>(
    future: F,
    scheduler: S,
    id: TaskId,
    name: Option<TaskName>,
    location: &'static Location<'static>,
    parent: Option<TaskId>,
) -> (TaskRef, NewTask<F::Output>)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = allocate_raw(
        future,
        scheduler,
        id,
        name,
        REFS_REGISTERED,
        location,
        parent,
    );
    // SAFETY: `allocate_raw` made `REFS_REGISTERED` references: this one is the registry's;
    // `owners` takes the other two.
    let registry = unsafe { TaskRef::from_raw(raw) };
    // SAFETY: as above.
    (registry, unsafe { owners(raw) })
}

/// Allocates a task nobody tracks (a blocking task): its two references come back as their
/// owners, the first queue entry and the `JoinHandle`.
#[track_caller]
pub(crate) fn allocate<F, S>(
    future: F,
    scheduler: S,
    id: TaskId,
    name: Option<TaskName>,
) -> NewTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    let raw = allocate_raw(
        future,
        scheduler,
        id,
        name,
        REFS_UNREGISTERED,
        Location::caller(),
        // Never listed (task lists come from the registry): no parent to record.
        None,
    );
    // SAFETY: `allocate_raw` made `REFS_UNREGISTERED` references, both taken by `owners`.
    unsafe { owners(raw) }
}

/// # Safety
/// The caller transfers two references of `raw`, a task whose output is `T`.
unsafe fn owners<T>(raw: RawTask) -> NewTask<T> {
    // SAFETY: one reference each, transferred by the caller; `T` is the output type.
    unsafe {
        NewTask {
            notified: Notified::from_raw(raw),
            join: JoinHandle::from_raw(raw),
        }
    }
}

/// Allocates a task holding `refs` references, owned by nobody yet: the caller hands each to
/// its owner. [`REFS_REGISTERED`] and [`REFS_UNREGISTERED`] name the usual counts. `location`
/// is the spawn location the task reports, `parent` the task that spawned it.
pub(crate) fn allocate_raw<F, S>(
    future: F,
    scheduler: S,
    id: TaskId,
    name: Option<TaskName>,
    refs: usize,
    location: &'static Location<'static>,
    parent: Option<TaskId>,
) -> RawTask
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    #[cfg(feature = "tracing")]
    let span =
        crate::trace::TaskSpan::new(id, name.as_deref(), refs == REFS_UNREGISTERED, location);
    let cell = Box::new(Cell {
        header: Header {
            registry_next: AtomicPtr::new(std::ptr::null_mut()),
            id,
            site: Site::new(location, name),
            join_waker: UnsafeCell::new(None),
            parent,
            #[cfg(feature = "tracing")]
            span,
            state: State::new(refs),
            vtable: vtable::<F, S>(),
        },
        scheduler,
        stage: UnsafeCell::new(Stage {
            future: ManuallyDrop::new(future),
        }),
    });
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    RawTask(ptr)
}

fn vtable<F, S>() -> &'static Vtable
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
    S: Schedule,
{
    &Vtable {
        poll: poll::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_output: drop_output::<F, S>,
        shutdown: shutdown::<F, S>,
        cancel_if_drained_here: cancel_if_drained_here::<F, S>,
    }
}

/// # Safety
/// `ptr` is the header of a live `Cell<F, S>`.
unsafe fn cell<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
    // SAFETY: `Header` is the first field of the `repr(C)` cell, so the cast is exact; the
    // caller guarantees the allocation is live for as long as the reference is used.
    unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
}

/// The scheduler value of the cell at `ptr`, as a pointer: [`Schedule::schedule`] and
/// [`Schedule::requeue`] take it so, since the task may be freed before they return.
///
/// # Safety
/// `ptr` is the header of a live `Cell<F, S>`.
unsafe fn scheduler<F: Future, S>(ptr: NonNull<Header>) -> *const S {
    let cell = ptr.cast::<Cell<F, S>>().as_ptr();
    // SAFETY: the cell is live (caller's contract); no reference to it is formed.
    unsafe { std::ptr::addr_of!((*cell).scheduler) }
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference, so the cell is live.
    let scheduler = unsafe { scheduler::<F, S>(ptr) };
    // SAFETY: the caller's reference is transferred to the `Notified`, as `from_raw`
    // requires; `scheduler` is that task's scheduler value, live until the task is queued.
    unsafe { S::schedule(scheduler, Notified::from_raw(RawTask(ptr))) }
}

unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    /// Frees the memory when dropped, so a panicking field destructor does not leak it.
    struct Free(*mut u8, std::alloc::Layout);
    impl Drop for Free {
        fn drop(&mut self) {
            // SAFETY: `self.0` was allocated by the global allocator with layout `self.1`
            // (see below) and is freed exactly once, here.
            unsafe { std::alloc::dealloc(self.0, self.1) }
        }
    }
    /// Drops the cell's fields in place when dropped (the stage's are `ManuallyDrop`, so
    /// that is the header and the scheduler handle), even if the future's destructor panics.
    struct DropFields<F: Future, S>(*mut Cell<F, S>);
    impl<F: Future, S> Drop for DropFields<F, S> {
        fn drop(&mut self) {
            // SAFETY: the cell is live and initialized, and this guard is its only dropper.
            unsafe { std::ptr::drop_in_place(self.0) }
        }
    }
    let cell = ptr.cast::<Cell<F, S>>().as_ptr();
    // `Box::new` in `allocate_raw` allocated the cell with the global allocator and this
    // exact layout.
    let _free = Free(cell.cast(), std::alloc::Layout::new::<Cell<F, S>>());
    // The fields are dropped in place, never through a `Box`: the worker running this task
    // may read its id through a raw pointer while these destructors run (`RawTask::id`),
    // which a `Box`'s uniqueness would forbid; so only the fields used here are borrowed,
    // never the whole cell.
    // SAFETY: the reference count reached zero, so this is the only pointer left and the
    // cell is initialized; the borrows end before `_fields` drops the cell.
    let (stage, state) = unsafe { (&(*cell).stage, &(*cell).header.state) };
    // Under loom the free counts as a write of the cell's data, so an access by a thread
    // whose release of its reference the freeing thread did not acquire (or an access
    // after the free) is reported as a race.
    #[cfg(loom)]
    {
        stage.with_mut(|_| ());
        // SAFETY: as above.
        unsafe { &(*cell).header.join_waker }.with_mut(|_| ());
    }
    // Declared after `_free`, so the fields are dropped before the memory is freed.
    let _fields = DropFields(cell);
    // A task freed before it completed still holds its future (a blocking task whose queue
    // entry was dropped at shutdown). A completed one holds nothing: its outcome was taken
    // before the last reference went (see `Stage`).
    if !state.load().is(state::COMPLETE) {
        // SAFETY: not COMPLETE, and no thread holds RUNNING (it would hold a reference), so
        // the future is live, and it is dropped once, here.
        stage.with_mut(|stage| unsafe { ManuallyDrop::drop(&mut (*stage).future) });
    }
}

unsafe fn poll<F: Future, S: Schedule>(ptr: NonNull<Header>) -> bool {
    let raw = RawTask(ptr);
    // SAFETY: the caller's queue reference keeps the task alive during this function.
    let cell = unsafe { cell::<F, S>(ptr) };
    match cell.header.state.transition_to_running() {
        ToRunning::Skip => {
            // SAFETY: the queue's reference, which this run consumes.
            unsafe { raw.drop_reference() };
            false
        }
        ToRunning::Cancel => {
            cell.cancel_and_complete();
            // SAFETY: the queue's reference, which this run consumes.
            unsafe { raw.drop_reference() };
            true
        }
        ToRunning::Poll => {
            // The waker borrows the queue reference we hold for the duration of the poll.
            // SAFETY: `ptr` is a live task header and the vtable's functions take exactly
            // such a pointer; `ManuallyDrop` keeps us from releasing a reference we did not take.
            let waker = ManuallyDrop::new(unsafe { super::waker::waker_from_header(ptr) });
            let mut cx = Context::from_waker(&waker);
            // SAFETY: we hold RUNNING until after the guard is dropped below.
            #[cfg(feature = "tracing")]
            let entered = unsafe { cell.header.span.enter(cell.header.id) };
            let result = cell.stage.with_mut(|stage| {
                // SAFETY: we hold RUNNING, so the stage is exclusively ours.
                let stage = unsafe { &mut *stage };
                // SAFETY: RUNNING without COMPLETE: the future is the live field (see `Stage`).
                // It lives in the heap cell and is dropped in place, never moved, so pinning
                // it is sound.
                let future = unsafe { Pin::new_unchecked(&mut *stage.future) };
                catch_unwind(AssertUnwindSafe(|| future.poll(&mut cx)))
            });
            #[cfg(feature = "tracing")]
            crate::trace::exit(entered, cell.header.id);
            match result {
                Ok(Poll::Pending) => match cell.header.state.transition_to_idle() {
                    ToIdle::Idle { dealloc } => {
                        if dealloc {
                            // SAFETY: our reference was the last one.
                            unsafe { (cell.header.vtable.dealloc)(ptr) }
                        }
                        false
                    }
                    ToIdle::Requeue => {
                        // The task may be freed before `requeue` returns (our reference
                        // may be its last): `cell` is not used again.
                        // SAFETY: we still hold our reference, so the cell is live.
                        let scheduler = unsafe { scheduler::<F, S>(ptr) };
                        // SAFETY: our reference moves into the queue, as `from_raw`
                        // requires; `scheduler` is the task's, live until it is queued.
                        unsafe { S::requeue(scheduler, Notified::from_raw(raw)) };
                        false
                    }
                    ToIdle::Cancel => {
                        cell.cancel_and_complete();
                        // SAFETY: the queue's reference, which this run consumes.
                        unsafe { raw.drop_reference() };
                        true
                    }
                },
                Ok(Poll::Ready(output)) => {
                    let outcome = match cell.drop_future() {
                        Ok(()) => Outcome::Finished(output),
                        Err(payload) => {
                            // The future panicked in its destructor after producing the
                            // output: the task failed with that panic, and the output, which
                            // nobody can read now, goes here. Its destructor is user code too;
                            // a second panic is dropped, the first is what the user sees.
                            if let Err(again) = drop_caught(output) {
                                drop_payload(again);
                            }
                            Outcome::Panicked(Box::new(payload))
                        }
                    };
                    // SAFETY: `raw` is this cell's task; the queue's reference, which this
                    // run consumes.
                    unsafe { Cell::<F, S>::complete_and_release(outcome, raw) };
                    true
                }
                Err(payload) => {
                    // The payload of a panic while dropping the panicked future is dropped:
                    // the first panic is the one the user needs to see.
                    if let Err(again) = cell.drop_future() {
                        drop_payload(again);
                    }
                    let outcome = Outcome::Panicked(Box::new(payload));
                    // SAFETY: `raw` is this cell's task; the queue's reference, which this
                    // run consumes.
                    unsafe { Cell::<F, S>::complete_and_release(outcome, raw) };
                    true
                }
            }
        }
    }
}

unsafe fn shutdown<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference (the registry's) and RUNNING.
    unsafe { cell::<F, S>(ptr) }.cancel_and_complete();
}

/// # Safety
/// The caller holds a reference to the task for the length of the call.
unsafe fn cancel_if_drained_here<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the cell alive; the borrow ends here.
    let drained_here = unsafe { cell::<F, S>(ptr) }.scheduler.drains_here();
    if drained_here {
        // SAFETY: the caller's reference, as `shutdown` requires.
        unsafe { RawTask(ptr).shutdown() };
    }
}

/// # Safety
/// The caller is the task's `JoinHandle`, holding its reference, and has not taken the
/// output yet.
unsafe fn try_read_output<F: Future, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    if cell.header.can_read_output(waker) {
        // SAFETY: COMPLETE with JOIN_INTEREST: the outcome belongs to the JoinHandle, which
        // has not taken it (the caller's contract).
        let output = match unsafe { cell.take_outcome() } {
            Outcome::Finished(output) => Ok(output),
            Outcome::Cancelled => Err(cell.header.join_error(None)),
            Outcome::Panicked(payload) => Err(cell.header.join_error(Some(*payload))),
        };
        // SAFETY: the caller guarantees `dst` has this type.
        unsafe { *dst.cast::<Poll<Result<F::Output, JoinError>>>() = Poll::Ready(output) };
    }
}

/// # Safety
/// The caller is the task's `JoinHandle`, holding its reference; the task is complete and
/// the handle has not taken the output.
unsafe fn drop_output<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F, S>(ptr) };
    // SAFETY: the handle owns the completed stage and its outcome is still there.
    let outcome = unsafe { cell.take_outcome() };
    cell.discard(outcome);
}

impl<F: Future, S: Schedule> Cell<F, S> {
    /// Drops the future; returns the payload if its destructor panicked.
    /// The caller holds RUNNING, the future is live, and the caller completes the task
    /// next (a dropped future is never dropped again, nor polled).
    fn drop_future(&self) -> Result<(), Box<dyn std::any::Any + Send>> {
        self.stage.with_mut(|stage| {
            // SAFETY: the caller holds RUNNING, so the stage is exclusively theirs, and the
            // future is its live field (see above).
            catch_unwind(AssertUnwindSafe(|| unsafe {
                ManuallyDrop::drop(&mut (*stage).future)
            }))
        })
    }

    /// Moves the outcome out of the completed stage, which holds nothing afterwards.
    ///
    /// # Safety
    /// The caller owns the completed stage (see [`Stage`]) and its outcome is still there.
    unsafe fn take_outcome(&self) -> Outcome<F::Output> {
        // FAILED was published with COMPLETE, which the caller has seen.
        let failed = self.header.state.load().is(state::FAILED);
        self.stage.with_mut(|stage| {
            // SAFETY: the caller's contract; FAILED names the live field.
            unsafe {
                if failed {
                    match ManuallyDrop::take(&mut (*stage).failure) {
                        None => Outcome::Cancelled,
                        Some(payload) => Outcome::Panicked(payload),
                    }
                } else {
                    Outcome::Finished(ManuallyDrop::take(&mut (*stage).output))
                }
            }
        })
    }

    fn cancel_and_complete(&self) {
        let outcome = match self.drop_future() {
            Ok(()) => Outcome::Cancelled,
            Err(payload) => Outcome::Panicked(Box::new(payload)),
        };
        self.complete(outcome);
    }

    /// [`complete`](Self::complete), then the release of the reference the run holds.
    ///
    /// A task whose `JoinHandle` is gone (a detached task: `JOIN_INTEREST` is never set
    /// again) has no reader for its output and no join waker: the output is dropped at once,
    /// and completion and the release are published in one read-modify-write instead of two.
    ///
    /// Takes the task, not `&self`: a reference argument must stay valid until its function
    /// returns (Rust's aliasing rules protect it), and this call may free the cell.
    ///
    /// # Safety
    /// `raw` is this cell's task. The caller holds RUNNING and gives up `raw`'s reference
    /// (the queue's, which the run consumes); the task may be freed on return.
    unsafe fn complete_and_release(outcome: Outcome<F::Output>, raw: RawTask) {
        // SAFETY: the caller's reference keeps the cell alive until it is released below;
        // this borrow is a local, unused after the release.
        let this = unsafe { cell::<F, S>(raw.0) };
        if this.header.state.load().is(JOIN_INTEREST) {
            this.complete(outcome);
            // SAFETY: the reference the caller gives up.
            unsafe { raw.drop_reference() };
            return;
        }
        let failed = outcome.is_failure();
        this.close_span();
        // The outcome never enters the stage, which stays empty (the future was dropped in
        // place): nobody will read it.
        this.discard(outcome);
        let dealloc = this.header.vtable.dealloc;
        if this.header.state.complete_and_release(failed) {
            // SAFETY: that was the last reference; nothing here touches the cell after.
            unsafe { dealloc(raw.0) };
        }
    }

    /// Closes the task's `tracing` span as it completes. The caller holds RUNNING.
    #[inline]
    fn close_span(&self) {
        // SAFETY: the caller holds RUNNING and no poll (so no entered guard) is in progress.
        #[cfg(feature = "tracing")]
        unsafe {
            self.header.span.close(self.header.id)
        };
    }

    /// Stores the outcome (`Finished`, `Cancelled` or `Panicked`) and publishes completion.
    /// The caller holds RUNNING.
    fn complete(&self, outcome: Outcome<F::Output>) {
        let failed = outcome.is_failure();
        self.close_span();
        let stored = match outcome {
            Outcome::Finished(output) => Stage {
                output: ManuallyDrop::new(output),
            },
            Outcome::Cancelled => Stage {
                failure: ManuallyDrop::new(None),
            },
            Outcome::Panicked(payload) => Stage {
                failure: ManuallyDrop::new(Some(payload)),
            },
        };
        // SAFETY: we hold RUNNING and the future was dropped, so the stage is ours and holds
        // nothing live until COMPLETE is published below; writing over it drops nothing.
        self.stage.with_mut(|stage| unsafe { stage.write(stored) });
        let prev = self.header.state.transition_to_complete(failed);
        if !prev.is(JOIN_INTEREST) {
            // The JoinHandle left before completion: nobody will read the output.
            // SAFETY: without a handle the completed stage is ours, with the outcome just
            // stored.
            let outcome = unsafe { self.take_outcome() };
            self.discard(outcome);
        } else if prev.is(JOIN_WAKER) {
            self.header.join_waker.with(|slot| {
                // SAFETY: JOIN_WAKER is set, so the slot holds a waker that the handle will
                // not touch until we clear the bit below.
                if let Some(waker) = unsafe { &*slot } {
                    // A foreign waker may panic; the task is complete regardless.
                    let _ = catch_unwind(AssertUnwindSafe(|| waker.wake_by_ref()));
                }
            });
            let after = self.header.state.unset_join_waker_after_complete();
            if !after.is(JOIN_INTEREST) {
                // The handle was dropped meanwhile and left the waker to us.
                // SAFETY: JOIN_WAKER is now clear and the handle is gone: the slot is ours.
                let waker = self
                    .header
                    .join_waker
                    .with_mut(|slot| unsafe { (*slot).take() });
                // A foreign waker's destructor may panic; the worker must not unwind.
                if let Err(payload) = drop_caught(waker) {
                    drop_payload(payload);
                }
            }
        }
    }

    /// Drops an outcome nobody will read; a panic in it is reported as unhandled.
    fn discard(&self, outcome: Outcome<F::Output>) {
        match outcome {
            Outcome::Panicked(payload) => {
                let error = self.header.join_error(Some(*payload));
                self.scheduler.unhandled_panic(&error);
                self.drop_contained(error);
            }
            Outcome::Finished(output) => self.drop_contained(output),
            Outcome::Cancelled => {}
        }
    }

    /// Drops an output (or a panic payload) nobody will read: a panicking destructor must
    /// not take the worker down, so it is reported instead.
    fn drop_contained<T>(&self, value: T) {
        if let Err(payload) = drop_caught(value) {
            let message = panic_message(&*payload).unwrap_or("<non-string payload>");
            report(format_args!(
                "the output of task {} panicked while being dropped: {message}",
                self.header.id
            ));
            drop_payload(payload);
        }
    }
}

impl Header {
    /// The task's name, if it was spawned with one.
    pub(crate) fn name(&self) -> Option<&TaskName> {
        self.site.name()
    }

    /// Where the task was spawned.
    pub(crate) fn location(&self) -> &'static Location<'static> {
        self.site.location()
    }

    /// Polls so far (wrapping at `u32::MAX`); counted by `State::transition_to_running`.
    pub(crate) fn polls(&self) -> u32 {
        self.state.load().polls()
    }

    /// The error a failed task's handle reads: a cancellation, or the panic and its payload.
    fn join_error(&self, panic: Option<Payload>) -> JoinError {
        match panic {
            None => JoinError::cancelled(self.id, self.name().cloned()),
            Some(payload) => JoinError::panic(self.id, self.name().cloned(), payload),
        }
    }

    /// The `JoinHandle`'s side of the join-waker protocol: `true` when the output is ready,
    /// otherwise `waker` is registered to be woken on completion. Only the task's
    /// `JoinHandle` may call it.
    pub(crate) fn can_read_output(&self, waker: &Waker) -> bool {
        let snapshot = self.state.load();
        if snapshot.is(state::COMPLETE) {
            return true;
        }
        if snapshot.is(JOIN_WAKER) {
            // SAFETY: shared read of the slot; while JOIN_WAKER is set the runtime only
            // reads it too.
            let same = self.join_waker.with(|slot| unsafe {
                (*slot)
                    .as_ref()
                    .is_some_and(|current| current.will_wake(waker))
            });
            if same {
                return false;
            }
            if self.state.unset_join_waker().is_err() {
                return true;
            }
        }
        // SAFETY: JOIN_WAKER is clear and we are the JoinHandle: the slot is ours.
        self.join_waker
            .with_mut(|slot| unsafe { *slot = Some(waker.clone()) });
        self.state.set_join_waker().is_err()
    }
}

// The `tracing` feature adds the task's span to the header: the sizes below are without it.
#[cfg(all(test, not(loom), not(feature = "tracing")))]
mod tests {
    use super::*;
    use crate::Handle;
    use std::mem::size_of;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    fn cell_size<F: Future>(_: &F) -> usize {
        size_of::<Cell<F, Handle>>()
    }

    #[test]
    fn a_small_task_fits_in_the_allocators_96_byte_class() {
        // Header: registry link, id, site (spawn location and name in one word), join waker
        // (16), parent id, then the hot words: state word (with the poll count), vtable.
        assert_eq!(size_of::<Header>(), 64, "the task header grew");
        assert_eq!(
            std::mem::offset_of!(Header, state),
            48,
            "the state word is no longer behind the cold words (see `Header`'s layout)"
        );
        // A task awaiting `pending()`: the stage is as large as the thin payload pointer.
        // glibc serves a request of at most 88 bytes from a 96-byte chunk.
        let idle = async { std::future::pending::<()>().await };
        assert_eq!(cell_size(&idle), 80, "an idle task's cell");
        // The memory bench's idle task holds an `Arc` too: a 16-byte async block, which has
        // no niche a tagged stage could use (that cell was 96 bytes, a 112-byte chunk).
        let polled = Arc::new(AtomicUsize::new(0));
        let counting = async move {
            polled.fetch_add(1, Relaxed);
            std::future::pending::<()>().await;
        };
        assert_eq!(size_of_val(&counting), 16);
        assert_eq!(
            cell_size(&counting),
            88,
            "the memory bench's idle task's cell"
        );
        type Boxed = Cell<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>, Handle>;
        assert_eq!(size_of::<Boxed>(), 88);
    }
}
