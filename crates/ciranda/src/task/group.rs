//! `TaskGroup`: asyncio's `TaskGroup` — structured concurrency with every failure kept.

use super::join_set::Inserter;
use super::{AbortHandle, JoinError, JoinHandle, JoinSet, TaskId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{Future, poll_fn};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// A group of fallible tasks joined together — asyncio's `TaskGroup`.
///
/// * [`join`](Self::join) returns the outputs in spawn order when every member succeeds.
/// * The first error or panic cancels the other members at once, as asyncio does, even
///   before `join` is awaited; a member the owner spawns after that is cancelled at once
///   (a [`GroupSpawner`] refuses it). `join` still waits until each one has finished or had
///   its future dropped, then returns a [`GroupError`] holding every error and panic that
///   happened (asyncio's `ExceptionGroup`).
/// * A member aborted from outside (through the [`AbortHandle`] `spawn` returned) makes
///   `join` fail too, listed in [`GroupError::cancelled`].
/// * Members can join the group from anywhere while it runs, also from inside another member
///   and while `join` waits (asyncio's `tg.create_task` inside the `async with` block):
///   through a [`GroupSpawner`] from [`spawner`](Self::spawner). `join` waits for them too.
/// * Dropping the group (or the `join` future) cancels the members still running.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let mut group = ciranda::task::TaskGroup::new();
///     for i in 0..3u32 {
///         group.spawn(async move { Ok::<_, String>(i * 2) });
///     }
///     assert_eq!(group.join().await.unwrap(), vec![0, 2, 4]);
///
///     let mut group = ciranda::task::TaskGroup::new();
///     group.spawn(async { Err::<u32, _>("bad input".to_string()) });
///     group.spawn(std::future::pending()); // cancelled by the failure above
///     let error = group.join().await.unwrap_err();
///     assert_eq!(error.errors(), ["bad input".to_string()]);
/// });
/// ```
pub struct TaskGroup<T, E> {
    /// Each member's output with its index. A `JoinSet` from the spawn on, so that `join`
    /// meets the outcomes in the order they happened, even those that happened before it was
    /// reached; its `Drop` cancels the members still running.
    members: JoinSet<Member<T, E>>,
    /// How every spawn, the owner's too, adds its member to `members`.
    inserter: Inserter<Member<T, E>>,
    shared: Arc<Shared>,
}

/// A member's output, with its index (its place in spawn order); an error carries its place
/// among the group's errors.
type Member<T, E> = (usize, Result<T, (ErrorOrder, E)>);

/// When a member's error happened: taken by the member as its future returns the error,
/// before its task is finished. The set meets outcomes in the order their tasks' completions
/// were announced, which a member finishing on another worker can overtake between its task's
/// end and its announcement; `join` sorts the errors by this instead.
type ErrorOrder = u64;

/// What the group shares with its members and spawners, so that a failing member cancels
/// the others itself instead of waiting for `join` to notice, and a spawner knows whether
/// the group still takes members.
#[derive(Default)]
struct Shared {
    state: parking_lot::Mutex<SharedState>,
    /// The next member's index: the number of indices taken so far, including those in
    /// `never_spawned`.
    next_index: AtomicUsize,
    /// Indices taken by spawns that panicked before their task existed (outside a runtime):
    /// no member has them, so `len` leaves them out and `join` skips them.
    never_spawned: AtomicUsize,
    /// The next error's [`ErrorOrder`].
    next_error: AtomicU64,
}

/// How many successful members `join` forgets at once: a finished member's task stays
/// allocated until its batch is forgotten (or the group ends).
const FORGET_BATCH: usize = 32;

/// Hashes the group's keys: member indices and task ids, both handed out in sequence (by the
/// group and by the runtime), never chosen by a peer, so no flooding to defend against. A
/// multiply-shift spreads sequential keys over the table; SipHash showed in the time of a
/// group of trivial members (measurement log in `docs/benchmarks.md`, 2026-12-06 12:40).
type SequentialKeys = BuildHasherDefault<MultiplyShift>;

/// The hasher of [`SequentialKeys`]: one multiplication by an odd constant (2^64 / φ) per
/// integer written.
#[derive(Default)]
struct MultiplyShift(u64);

impl Hasher for MultiplyShift {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
struct SharedState {
    /// Each member whose outcome `join` has not taken yet, by index. `join` forgets a member
    /// as it takes its outcome: an `AbortHandle` keeps the task's whole allocation (sized for
    /// its future) alive, so a long-lived group would otherwise hold every finished member's.
    aborts: HashMap<usize, AbortHandle, SequentialKeys>,
    /// The index of each member in `aborts`, for the outcomes that are `JoinError`s.
    index_of: HashMap<TaskId, usize, SequentialKeys>,
    /// Set at the first failure: the members the group cancelled then (those unfinished) whose
    /// outcome `join` has not taken yet.
    cancelled_by_group: Option<HashSet<usize, SequentialKeys>>,
    /// Spawns that took an index and have not yet added their member to the set: `join`
    /// must not finish while one is under way.
    in_flight: usize,
    /// `join` finished or the group was dropped: spawners are refused.
    closed: bool,
}

impl Shared {
    /// The first failure (of member `failed`) aborts every other member still unfinished and
    /// records them; later calls do nothing.
    fn fail(&self, failed: usize) {
        let mut state = self.state.lock();
        if state.cancelled_by_group.is_some() {
            return;
        }
        // A member that already finished, even if `join` has not read it yet (one cancelled
        // from outside just before this failure), keeps its own outcome: counting it as ours
        // would drop it from `cancelled()`. So does one aborted from outside whose future is
        // not dropped yet (it waits in a run queue for that): the abort came first.
        let unfinished: HashSet<usize, SequentialKeys> = state
            .aborts
            .iter()
            .filter(|&(&i, abort)| {
                i != failed && !abort.is_finished() && !abort.is_abort_requested()
            })
            .map(|(i, _)| *i)
            .collect();
        for (i, abort) in &state.aborts {
            if unfinished.contains(i) {
                abort.abort();
            }
        }
        state.cancelled_by_group = Some(unfinished);
    }

    /// Members spawned so far: the indices taken, less those no member has.
    fn members(&self) -> usize {
        let never_spawned = self.never_spawned.load(Ordering::Relaxed);
        self.next_index
            .load(Ordering::Relaxed)
            .saturating_sub(never_spawned)
    }

    /// `true` once a member has failed or the group is closed (dropped): a member starting
    /// now must not run, its abort is on its way.
    fn refuses_start(&self) -> bool {
        let state = self.state.lock();
        state.closed || state.cancelled_by_group.is_some()
    }

    /// The index of the member that ran as task `id`, whose outcome `join` has not taken yet.
    fn index_of(&self, id: TaskId) -> usize {
        self.state.lock().index_of[&id]
    }

    /// `join` took the outcomes of the members in `indices`, all successes: the group forgets
    /// them (and empties `indices`).
    fn forget(&self, indices: &mut Vec<usize>) {
        let mut state = self.state.lock();
        for index in indices.drain(..) {
            state.forget(index);
        }
    }

    /// `join` took member `index`'s outcome: the group forgets the member. `true` when the
    /// group had cancelled it after a failure.
    fn joined(&self, index: usize) -> bool {
        self.state.lock().forget(index)
    }
}

impl SharedState {
    /// Forgets member `index` (its `AbortHandle`, its index entry, its mark in the cancelled
    /// set); `true` when the group had cancelled it after a failure.
    fn forget(&mut self, index: usize) -> bool {
        if let Some(abort) = self.aborts.remove(&index) {
            self.index_of.remove(&abort.id());
        }
        self.cancelled_by_group
            .as_mut()
            .is_some_and(|set| set.remove(&index))
    }
}

/// Lives in a member's future: dropped after an `Err`, or by the unwinding of a panic out of
/// the member's own poll, it fails the group. Dropped with a pending future (a cancellation)
/// it does nothing.
struct FailOnDrop {
    group: Arc<Shared>,
    index: usize,
    errored: bool,
    /// Set around each poll of the member's future, and still set when it drops only if that
    /// poll unwound: the member panicked. Whether the thread is panicking says nothing here:
    /// a runtime may be driven from a destructor during an unrelated panic (`block_on` in a
    /// cleanup guard, on the current-thread flavor, or a runtime dropped while its owner
    /// unwinds), and the members it polls or cancels then are not failing.
    polling: bool,
}

impl Drop for FailOnDrop {
    fn drop(&mut self) {
        if self.errored || self.polling {
            self.group.fail(self.index);
        }
    }
}

/// Ends a spawn's time in flight, also when spawning unwound (outside a runtime): `join`
/// may be waiting for it.
struct InFlight<'a, T, E> {
    shared: &'a Shared,
    inserter: &'a Inserter<Member<T, E>>,
}

impl<T, E> Drop for InFlight<'_, T, E> {
    fn drop(&mut self) {
        self.shared.state.lock().in_flight -= 1;
        // After the decrement, so that a `join` woken by it sees the member in the set or
        // the count at zero.
        self.inserter.signal();
    }
}

/// Counts an index whose spawn panicked (outside a runtime) as taken by no member; forgotten
/// once the task exists.
struct NeverSpawned<'a>(&'a Shared);

impl Drop for NeverSpawned<'_> {
    fn drop(&mut self) {
        self.0.never_spawned.fetch_add(1, Ordering::Relaxed);
    }
}

/// Spawns member `future` on the current runtime with the next index and records it; the
/// caller adds the handle to the group's set (the owner directly, a spawner through the
/// inserter).
#[track_caller]
fn spawn_member<T, E, F>(shared: &Arc<Shared>, future: F) -> (JoinHandle<Member<T, E>>, AbortHandle)
where
    T: Send + 'static,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    // Unique among concurrent spawners by the atomic alone; `join` reads the total only once
    // no spawn is in flight.
    let index = shared.next_index.fetch_add(1, Ordering::Relaxed);
    // Outside a runtime the spawn panics and no member gets `index`, but the group lives on
    // (a spawner's panic is its caller's): the index is counted as never spawned unless the
    // task exists.
    let never_spawned = NeverSpawned(shared);
    let group = shared.clone();
    let handle = crate::spawn(async move {
        if group.refuses_start() {
            // Spawned into a failed group: the spawn aborts this member as soon as it has
            // its handle, but a worker may reach the task first; the future must not start.
            // Likewise when the group was dropped while this member's spawn was under way
            // (its spawner saw it open): the spawner's insertion into the closed set, or the
            // set's drop, aborts it. (`closed` set by `join`'s end cannot be seen here: `join`
            // ends only once every member has finished.)
            return std::future::pending().await;
        }
        let mut on_failure = FailOnDrop {
            group,
            index,
            errored: false,
            polling: false,
        };
        let mut future = std::pin::pin!(future);
        let output = poll_fn(|cx| {
            on_failure.polling = true;
            let poll = future.as_mut().poll(cx);
            on_failure.polling = false;
            poll
        })
        .await;
        on_failure.errored = output.is_err();
        let output = output.map_err(|error| {
            // Relaxed: the order is between errors; each member's own happens-before with
            // `join` comes from its task's completion.
            let order = on_failure.group.next_error.fetch_add(1, Ordering::Relaxed);
            (order, error)
        });
        (index, output)
    });
    std::mem::forget(never_spawned);
    let abort = handle.abort_handle();
    let mut state = shared.state.lock();
    state.index_of.insert(handle.id(), index);
    state.aborts.insert(index, abort.clone());
    if let Some(cancelled) = &mut state.cancelled_by_group {
        // The group failed meanwhile (or before, for the owner's spawn): cancelled.
        abort.abort();
        cancelled.insert(index);
    }
    drop(state);
    (handle, abort)
}

impl<T, E> fmt::Debug for TaskGroup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("members", &self.len())
            .finish()
    }
}

impl<T, E> Default for TaskGroup<T, E> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T, E> TaskGroup<T, E> {
    /// An empty group.
    pub fn new() -> TaskGroup<T, E> {
        let mut members = JoinSet::new();
        let inserter = members.inserter();
        TaskGroup {
            members,
            inserter,
            shared: Arc::default(),
        }
    }

    /// Members spawned so far, through [`spawn`](Self::spawn) and the group's spawners.
    pub fn len(&self) -> usize {
        self.shared.members()
    }

    /// `true` when nothing was spawned.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A handle that spawns members into this group from anywhere: from inside a member, or
    /// from another task while [`join`](Self::join) waits — asyncio's `tg.create_task` where
    /// `tg` was passed along. It can be cloned and sent to other tasks.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::task::TaskGroup;
    ///
    /// ciranda::run(async {
    ///     let mut group = TaskGroup::<u32, String>::new();
    ///     let spawner = group.spawner();
    ///     group.spawn(async move {
    ///         // A member adds a sibling; `join` waits for it too.
    ///         spawner.spawn(async { Ok(2) }).expect("the group is running");
    ///         Ok(1)
    ///     });
    ///     assert_eq!(group.join().await.unwrap(), vec![1, 2]);
    /// });
    /// ```
    pub fn spawner(&self) -> GroupSpawner<T, E> {
        GroupSpawner {
            inserter: self.inserter.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T: Send + 'static, E: Send + 'static> TaskGroup<T, E> {
    /// Spawns a member on the current runtime. Into a group where a member failed already,
    /// the member is cancelled at once (asyncio refuses it; [`GroupSpawner::spawn`] does too).
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        // No spawn of the owner's can race `join`'s end (`join` takes the group), so it goes
        // straight into the set, without the spawners' in-flight count.
        let (handle, abort) = spawn_member(&self.shared, future);
        self.members.insert(handle);
        abort
    }

    /// Waits for every member, also those spawned while it waits; see the type docs for
    /// the rules. Once it returns, the group's spawners are refused.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every member still running, as dropping the group does; the
    /// outputs, errors and panics collected so far are dropped.
    pub async fn join(mut self) -> Result<Vec<T>, GroupError<E>> {
        // Dropping this future drops `self`, whose `members` set cancels the members still
        // running.
        let mut results: Vec<Option<T>> = Vec::new();
        let mut failure = GroupError {
            errors: Vec::new(),
            panics: Vec::new(),
            cancelled: Vec::new(),
        };
        let mut errors: Vec<(ErrorOrder, E)> = Vec::new();
        // Members that succeeded, for the group to forget a batch at a time (one lock per
        // batch rather than per member).
        let mut succeeded = Vec::new();
        while let Some(outcome) = poll_fn(|cx| self.poll_outcome(cx)).await {
            let (index, failed) = match outcome {
                Ok((index, Ok(value))) => {
                    succeeded.push(index);
                    if succeeded.len() == FORGET_BATCH {
                        self.shared.forget(&mut succeeded);
                    }
                    if results.len() <= index {
                        results.resize_with(index + 1, || None);
                    }
                    results[index] = Some(value);
                    (index, false)
                }
                Ok((index, Err(error))) => {
                    self.shared.joined(index);
                    errors.push(error);
                    (index, true)
                }
                Err(error) => {
                    let index = self.shared.index_of(error.id());
                    let cancelled_by_group = self.shared.joined(index);
                    if error.is_panic() {
                        failure.panics.push(error);
                        (index, true)
                    } else {
                        if !cancelled_by_group {
                            failure.cancelled.push(error.id());
                        }
                        (index, false)
                    }
                }
            };
            if failed {
                // Usually done already by the member itself; not when its future panicked
                // in its destructor after returning `Ok`.
                self.shared.fail(index);
            }
        }
        errors.sort_unstable_by_key(|&(order, _)| order);
        failure.errors = errors.into_iter().map(|(_, error)| error).collect();
        if failure.errors.is_empty() && failure.panics.is_empty() && failure.cancelled.is_empty() {
            // Every member succeeded; the indices left empty are those of spawns that panicked
            // before their task existed.
            let outputs: Vec<T> = results.into_iter().flatten().collect();
            assert_eq!(
                outputs.len(),
                self.len(),
                "ciranda: TaskGroup::join is missing a member's output"
            );
            Ok(outputs)
        } else {
            Err(failure)
        }
    }

    /// The next member's outcome; `None` once every member is done and no spawn is under
    /// way, which closes the group to spawners in the same step.
    fn poll_outcome(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Member<T, E>, JoinError>>> {
        loop {
            match self.members.poll_join_next(cx) {
                Poll::Ready(None) => {}
                other => return other,
            }
            {
                let mut state = self.shared.state.lock();
                // A spawn adds its member before it leaves flight, so under this lock
                // "none in flight and nothing new" means no member is left to come.
                if state.in_flight == 0 && !self.members.has_incoming() {
                    state.closed = true;
                    return Poll::Ready(None);
                }
            }
            // A spawn is under way: its end signals the set.
            if self.members.park(cx.waker()) {
                return Poll::Pending;
            }
        }
    }
}

impl<T, E> Drop for TaskGroup<T, E> {
    fn drop(&mut self) {
        // Spawners are refused from now on; `members`' drop (next) cancels the members.
        self.shared.state.lock().closed = true;
    }
}

/// Spawns members into a [`TaskGroup`] from anywhere — asyncio's `tg.create_task` on a
/// group passed to another coroutine. Made by [`TaskGroup::spawner`]; cloneable and `Send`.
///
/// A spawner is refused once the group is done (its `join` returned, or it was dropped) and
/// once a member has failed (the group is cancelling the others), as asyncio's
/// `create_task` is; the future comes back in the [`SpawnError`].
///
/// # Examples
///
/// ```
/// use ciranda::task::TaskGroup;
///
/// ciranda::run(async {
///     let group = TaskGroup::<u32, String>::new();
///     let spawner = group.spawner();
///     // Another task adds members while `join` waits.
///     let feeder = ciranda::spawn(async move {
///         for i in 0..3 {
///             spawner.spawn(async move { Ok(i) }).unwrap();
///         }
///     });
///     // The group is empty until the feeder runs, so wait for it before joining: `join`
///     // returns as soon as no member is left, as asyncio's `TaskGroup` does.
///     feeder.await.unwrap();
///     assert_eq!(group.join().await.unwrap(), vec![0, 1, 2]);
/// });
/// ```
pub struct GroupSpawner<T, E> {
    inserter: Inserter<Member<T, E>>,
    shared: Arc<Shared>,
}

impl<T, E> Clone for GroupSpawner<T, E> {
    fn clone(&self) -> Self {
        GroupSpawner {
            inserter: self.inserter.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<T, E> fmt::Debug for GroupSpawner<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Copied out first: the formatter is the caller's code and must not run under the
        // group's lock.
        let (closed, failed) = {
            let state = self.shared.state.lock();
            (state.closed, state.cancelled_by_group.is_some())
        };
        f.debug_struct("GroupSpawner")
            .field("members", &self.shared.members())
            .field("closed", &closed)
            .field("failed", &failed)
            .finish()
    }
}

impl<T: Send + 'static, E: Send + 'static> GroupSpawner<T, E> {
    /// Spawns a member into the group on the current runtime. Its output takes its place in
    /// `join`'s vector by spawn order, among the owner's spawns and other spawners'.
    ///
    /// # Errors
    ///
    /// [`SpawnError`], with the future, when the group is done or a member has failed.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<AbortHandle, SpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        {
            let mut state = self.shared.state.lock();
            if state.closed {
                return Err(SpawnError {
                    future,
                    finished: true,
                });
            }
            if state.cancelled_by_group.is_some() {
                return Err(SpawnError {
                    future,
                    finished: false,
                });
            }
            state.in_flight += 1;
        }
        let _in_flight = InFlight {
            shared: &self.shared,
            inserter: &self.inserter,
        };
        let (handle, abort) = spawn_member(&self.shared, future);
        // Before `_in_flight` ends: `join` finishes only when no spawn is in flight and the
        // set has nothing new.
        self.inserter.insert_quietly(handle);
        Ok(abort)
    }
}

/// A [`GroupSpawner::spawn`] the group refused, with the future it did not spawn — asyncio's
/// `RuntimeError` from `create_task` on a finished or shutting-down `TaskGroup`.
///
/// # Examples
///
/// ```
/// use ciranda::task::TaskGroup;
///
/// ciranda::run(async {
///     let group = TaskGroup::<(), ()>::new();
///     let spawner = group.spawner();
///     group.join().await.unwrap();
///     let refused = spawner.spawn(async { Ok(()) }).unwrap_err();
///     assert!(refused.is_finished());
///     let _future = refused.into_future(); // not lost: given back
/// });
/// ```
pub struct SpawnError<F> {
    future: F,
    finished: bool,
}

impl<F> SpawnError<F> {
    /// `true` when the group is done: its `join` returned or it was dropped.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// `true` when a member failed and the group is cancelling the others.
    pub fn is_shutting_down(&self) -> bool {
        !self.finished
    }

    /// The future that was not spawned.
    pub fn into_future(self) -> F {
        self.future
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.finished {
            f.write_str("the task group is finished: its join returned or it was dropped")
        } else {
            f.write_str("the task group is shutting down: a member failed")
        }
    }
}

impl<F> std::error::Error for SpawnError<F> {}

/// Every failure of a [`TaskGroup`]: errors returned, panics, and members cancelled from
/// outside — asyncio's `ExceptionGroup`.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let mut group = ciranda::task::TaskGroup::<(), &str>::new();
///     group.spawn(async { Err("first") });
///     group.spawn(async { panic!("second") });
///     let error = group.join().await.unwrap_err();
///     assert!(error.errors().len() + error.panics().len() >= 1);
///     println!("{error}");
/// });
/// ```
pub struct GroupError<E> {
    errors: Vec<E>,
    panics: Vec<JoinError>,
    cancelled: Vec<TaskId>,
}

impl<E> GroupError<E> {
    /// Errors returned by members, in the order they happened.
    pub fn errors(&self) -> &[E] {
        &self.errors
    }

    /// Panics of members, as `JoinError`s (see [`JoinError::into_panic`]).
    pub fn panics(&self) -> &[JoinError] {
        &self.panics
    }

    /// Members that were aborted from outside the group.
    pub fn cancelled(&self) -> &[TaskId] {
        &self.cancelled
    }

    /// The errors, by value.
    pub fn into_errors(self) -> Vec<E> {
        self.errors
    }

    /// The panics, by value (to resume one with `std::panic::resume_unwind`).
    pub fn into_panics(self) -> Vec<JoinError> {
        self.panics
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupError")
            .field("errors", &self.errors)
            .field("panics", &self.panics)
            .field("cancelled", &self.cancelled)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task group failed: {} error(s), {} panic(s), {} cancelled from outside",
            self.errors.len(),
            self.panics.len(),
            self.cancelled.len()
        )?;
        for error in &self.errors {
            write!(f, "; error: {error}")?;
        }
        for panic in &self.panics {
            write!(f, "; {panic}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Display + fmt::Debug> std::error::Error for GroupError<E> {}
