//! `TaskGroup`: asyncio's `TaskGroup` — structured concurrency with every failure kept.

use super::{AbortHandle, JoinError, JoinSet, TaskId};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::{Future, poll_fn};
use std::sync::Arc;

/// A group of fallible tasks joined together — asyncio's `TaskGroup`.
///
/// * [`join`](Self::join) returns the outputs in spawn order when every member succeeds.
/// * The first error or panic cancels the other members at once, as asyncio does, even
///   before `join` is awaited; a member spawned after that is cancelled at once. `join`
///   still waits until each one has finished or had its future dropped, then returns a
///   [`GroupError`] holding every error and panic that happened (asyncio's `ExceptionGroup`).
/// * A member aborted from outside (through the [`AbortHandle`] `spawn` returned) makes
///   `join` fail too, listed in [`GroupError::cancelled`].
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
    members: JoinSet<(usize, Result<T, E>)>,
    /// The index of each member, for the outcomes that are `JoinError`s.
    index_of: HashMap<TaskId, usize>,
    shared: Arc<Shared>,
}

/// What the group shares with its members, so that a failing member cancels the others
/// itself instead of waiting for `join` to notice.
#[derive(Default)]
struct Shared(parking_lot::Mutex<SharedState>);

#[derive(Default)]
struct SharedState {
    /// One per member, in spawn order (the member's index).
    aborts: Vec<AbortHandle>,
    /// Set at the first failure: the members the group cancelled then (those unfinished).
    cancelled_by_group: Option<HashSet<usize>>,
}

impl Shared {
    /// The first failure (of member `failed`) aborts every other member still unfinished and
    /// records them; later calls do nothing.
    fn fail(&self, failed: usize) {
        let mut state = self.0.lock();
        if state.cancelled_by_group.is_some() {
            return;
        }
        // A member that already finished, even if `join` has not read it yet (one cancelled
        // from outside just before this failure), keeps its own outcome: counting it as ours
        // would drop it from `cancelled()`. So does one aborted from outside whose future is
        // not dropped yet (it waits in a run queue for that): the abort came first.
        let unfinished: HashSet<usize> = state
            .aborts
            .iter()
            .enumerate()
            .filter(|(i, abort)| {
                *i != failed && !abort.is_finished() && !abort.is_abort_requested()
            })
            .map(|(i, _)| i)
            .collect();
        for i in &unfinished {
            state.aborts[*i].abort();
        }
        state.cancelled_by_group = Some(unfinished);
    }

    /// `true` once a member has failed.
    fn failed(&self) -> bool {
        self.0.lock().cancelled_by_group.is_some()
    }

    /// `true` when the group cancelled member `index` after a failure.
    fn cancelled_by_group(&self, index: usize) -> bool {
        let state = self.0.lock();
        state
            .cancelled_by_group
            .as_ref()
            .is_some_and(|set| set.contains(&index))
    }
}

/// Lives in a member's future: dropped after an `Err`, or while unwinding from a panic, it
/// fails the group. Dropped with a pending future (a cancellation) it does nothing.
struct FailOnDrop {
    group: Arc<Shared>,
    index: usize,
    errored: bool,
    /// The thread was unwinding already when the member was last polled: a runtime driven
    /// from a destructor during a panic (`block_on` in a cleanup guard, on the current-thread
    /// flavor). Only a panic that began since then is the member's own.
    unwinding: bool,
}

impl Drop for FailOnDrop {
    fn drop(&mut self) {
        if self.errored || (std::thread::panicking() && !self.unwinding) {
            self.group.fail(self.index);
        }
    }
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
        TaskGroup {
            members: JoinSet::new(),
            index_of: HashMap::new(),
            shared: Arc::default(),
        }
    }

    /// Members spawned so far.
    pub fn len(&self) -> usize {
        self.index_of.len()
    }

    /// `true` when nothing was spawned.
    pub fn is_empty(&self) -> bool {
        self.index_of.is_empty()
    }
}

impl<T: Send + 'static, E: Send + 'static> TaskGroup<T, E> {
    /// Spawns a member on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let index = self.len();
        let group = self.shared.clone();
        let handle = crate::spawn(async move {
            if group.failed() {
                // Spawned into a failed group: `spawn` aborts this member as soon as it has
                // its handle, but a worker may reach the task first; the future must not start.
                return std::future::pending().await;
            }
            let mut on_failure = FailOnDrop {
                group,
                index,
                errored: false,
                unwinding: false,
            };
            let mut future = std::pin::pin!(future);
            let output = poll_fn(|cx| {
                on_failure.unwinding = std::thread::panicking();
                future.as_mut().poll(cx)
            })
            .await;
            on_failure.errored = output.is_err();
            (index, output)
        });
        self.index_of.insert(handle.id(), index);
        let abort = self.members.insert(handle);
        let mut state = self.shared.0.lock();
        state.aborts.push(abort.clone());
        if let Some(cancelled) = &mut state.cancelled_by_group {
            // The group already failed: asyncio refuses new tasks then; this one is cancelled.
            abort.abort();
            cancelled.insert(index);
        }
        abort
    }

    /// Waits for every member; see the type docs for the rules.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels every member still running, as dropping the group does; the
    /// outputs, errors and panics collected so far are dropped.
    pub async fn join(mut self) -> Result<Vec<T>, GroupError<E>> {
        // Dropping this future drops `self`, whose `members` set cancels the members still
        // running.
        let mut results: Vec<Option<T>> = (0..self.len()).map(|_| None).collect();
        let mut failure = GroupError {
            errors: Vec::new(),
            panics: Vec::new(),
            cancelled: Vec::new(),
        };
        while let Some(outcome) = self.members.join_next().await {
            let (index, failed) = match outcome {
                Ok((index, Ok(value))) => {
                    results[index] = Some(value);
                    (index, false)
                }
                Ok((index, Err(error))) => {
                    failure.errors.push(error);
                    (index, true)
                }
                Err(error) => {
                    let index = self.index_of[&error.id()];
                    if error.is_panic() {
                        failure.panics.push(error);
                        (index, true)
                    } else {
                        if !self.shared.cancelled_by_group(index) {
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
        if failure.errors.is_empty() && failure.panics.is_empty() && failure.cancelled.is_empty() {
            Ok(results
                .into_iter()
                .map(|r| r.expect("every member succeeded"))
                .collect())
        } else {
            Err(failure)
        }
    }
}

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
