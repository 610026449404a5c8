//! `gather`, `try_gather` (and their futures `Gather`, `TryGather`), `gather_handles`:
//! asyncio's `gather`.

use super::{JoinError, JoinHandle, JoinSet};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Panics with the child's panic, or reports a child cancelled from outside.
fn resume(error: JoinError) -> ! {
    match error.try_into_panic() {
        Ok(payload) => std::panic::resume_unwind(payload),
        Err(error) => panic!(
            "ciranda::gather/try_gather: a child task was cancelled from outside the gather \
             (its AbortHandle, Handle::tasks, or a runtime shutdown): {error}"
        ),
    }
}

/// Runs every future as its own task (in parallel across workers) and returns their outputs
/// in input order — asyncio's `gather(*aws)`.
///
/// Futures that return `Result` give back `Vec<Result<T, E>>` unchanged (asyncio's
/// `return_exceptions=True`). If a child panics, the other children are cancelled and the
/// panic is resumed in the task that awaits the [`Gather`]. Dropping the `Gather` cancels
/// every child.
///
/// **Eager**, like asyncio's (whose `gather` wraps its awaitables in tasks at once): called
/// where spawning works — in a task, inside `block_on` or `run`, on a blocking-pool thread, or
/// on a thread under [`Handle::enter`](crate::Handle::enter) — `gather` spawns every child
/// before it returns, so the children run while the caller does other things, before the
/// `Gather` is awaited. Called where no runtime is current (a `Gather` built on a plain thread
/// and handed to [`Runtime::block_on`](crate::Runtime::block_on)), it cannot spawn yet: it
/// holds the futures and spawns them when first polled, inside the runtime. Either way the
/// input iterator is run to its end at the call, so the code that makes each future runs
/// there, and a panic of the iterator comes out of the call (the children spawned so far are
/// aborted first).
///
/// The items are one type: a `JoinHandle<T>` is a future of `Result<T, JoinError>`, so to mix
/// spawned tasks and plain futures, map the plain ones to the same type by boxing
/// (`Box::pin(fut) as Pin<Box<dyn Future<Output = _> + Send>>`), or spawn them too and use
/// [`gather_handles`].
///
/// # Panics
///
/// With the input iterator's panic, at the call; with a child's panic, where the `Gather` is
/// awaited; there too when a child was cancelled from outside the gather (through its
/// `AbortHandle`, [`Handle::tasks`](crate::Handle::tasks) or a runtime shutdown), since the
/// gather has no output to give for it; and when a `Gather` built outside a runtime is first
/// polled outside one too.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// ciranda::run(async {
///     let results = ciranda::gather((1..=3u64).map(|i| async move {
///         ciranda::time::sleep(Duration::from_millis(10 * (4 - i))).await;
///         i * i
///     }))
///     .await;
///     assert_eq!(results, vec![1, 4, 9]); // input order, not completion order
/// });
/// ```
///
/// The children start at the call:
///
/// ```
/// use ciranda::sync::Event;
/// use std::sync::Arc;
/// ciranda::run(async {
///     let started = Arc::new(Event::new());
///     let s = started.clone();
///     let gathering = ciranda::gather([async move {
///         s.set();
///         "done"
///     }]);
///     started.wait().await; // set by the child, before the gather is awaited
///     assert_eq!(gathering.await, ["done"]);
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping the `Gather`, even one never polled, aborts every child still running and drops
/// the outputs gathered so far.
#[track_caller]
pub fn gather<I, F>(futures: I) -> Gather<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Gather(Collect::new(
        futures
            .into_iter()
            .map(|future| async move { Ok(future.await) }),
    ))
}

/// Like [`gather`] for fallible futures, but fails fast: the first `Err` (in completion
/// order) cancels the other children and is returned.
///
/// Eager as [`gather`] is: the children are spawned at the call where spawning works, else
/// when the [`TryGather`] is first polled; a panic of the input iterator comes out of the call.
///
/// # Panics
///
/// As [`gather`].
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let ok: Result<Vec<u32>, String> =
///         ciranda::try_gather((0..3).map(|i| async move { Ok(i) })).await;
///     assert_eq!(ok.unwrap(), vec![0, 1, 2]);
///
///     let failed = ciranda::try_gather((0..3).map(|i| async move {
///         if i == 1 { Err(format!("task {i} failed")) } else { Ok(i) }
///     }))
///     .await;
///     assert_eq!(failed.unwrap_err(), "task 1 failed");
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping the `TryGather`, even one never polled, aborts every child still running and drops
/// the outputs gathered so far.
#[track_caller]
pub fn try_gather<I, F, T, E>(futures: I) -> TryGather<T, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    TryGather(Collect::new(futures))
}

/// The future returned by [`gather`]: the outputs of its children, in input order.
///
/// Its children are tasks spawned by `gather` itself (or, for a `Gather` made where no runtime
/// was current, by its first poll); they run whether it is polled or not. It is `Send` when
/// the output is, and `Unpin`, so it can be stored in a struct and awaited later.
///
/// # Examples
///
/// ```
/// use ciranda::task::Gather;
///
/// struct Squares {
///     pending: Gather<u64>,
/// }
///
/// ciranda::run(async {
///     let squares = Squares {
///         pending: ciranda::gather((1..=3u64).map(|i| async move { i * i })),
///     };
///     // The children are running already.
///     assert_eq!(squares.pending.await, [1, 4, 9]);
/// });
///
/// // Made where no runtime is current: the children are spawned by the first poll.
/// let rt = ciranda::Runtime::new()?;
/// let gathering: Gather<u32> = ciranda::gather((1..=2).map(|i| async move { i }));
/// assert_eq!(rt.block_on(gathering), [1, 2]);
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Cancel safety
///
/// Dropping a `Gather`, even one never polled, aborts every child still running and drops the
/// outputs gathered so far.
#[must_use = "dropping a `Gather` cancels its children; `.await` it"]
pub struct Gather<T>(Collect<T, Infallible>);

/// The future returned by [`try_gather`]: the outputs of its children in input order, or the
/// first `Err` in completion order.
///
/// Its children are tasks spawned by `try_gather` itself (or, for a `TryGather` made where no
/// runtime was current, by its first poll); they run whether it is polled or not. It is `Send`
/// when `T` and `E` are, and `Unpin`.
///
/// # Examples
///
/// ```
/// use ciranda::task::TryGather;
///
/// ciranda::run(async {
///     let parsing: TryGather<u32, std::num::ParseIntError> =
///         ciranda::try_gather(["1", "2", "x"].map(|s| async move { s.parse::<u32>() }));
///     assert!(parsing.await.is_err());
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping a `TryGather`, even one never polled, aborts every child still running and drops
/// the outputs gathered so far.
#[must_use = "dropping a `TryGather` cancels its children; `.await` it"]
pub struct TryGather<T, E>(Collect<T, E>);

// Nothing in them is ever pinned: the children are boxed in their tasks, the outputs are
// moved out.
impl<T> Unpin for Gather<T> {}
impl<T, E> Unpin for TryGather<T, E> {}

impl<T> Future for Gather<T> {
    type Output = Vec<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        self.get_mut()
            .0
            .poll_collect(cx)
            .map(|collected| match collected {
                Ok(values) => values,
                Err(never) => match never {},
            })
    }
}

impl<T, E> Future for TryGather<T, E> {
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, E>> {
        self.get_mut().0.poll_collect(cx)
    }
}

impl<T> fmt::Debug for Gather<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_fields(&mut f.debug_struct("Gather"))
    }
}

impl<T, E> fmt::Debug for TryGather<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_fields(&mut f.debug_struct("TryGather"))
    }
}

/// The children's set: each child returns its input index with its output.
type Children<T, E> = JoinSet<(usize, Result<T, E>)>;

/// Spawns the futures of a gather made where no runtime was current into its set.
type Unspawned<T, E> = Box<dyn FnOnce(&mut Children<T, E>) + Send>;

/// What [`Gather`] and [`TryGather`] share: the children, spawned or still to spawn, and the
/// outputs so far by input index.
///
/// Outputs are collected in input order while completions are watched in the order they
/// happen: the first `Err` or panic, whichever child it comes from, ends the wait at once. The
/// children live in a `JoinSet`, so that whatever ends the gather (its output, a panic, even
/// one of the input iterator's part-way, or the future dropped) aborts those still running.
struct Collect<T, E> {
    /// The futures not spawned yet, when the gather was made where no runtime was current;
    /// the first poll spawns them.
    unspawned: Option<Unspawned<T, E>>,
    children: Children<T, E>,
    /// One slot per child, by input index, filled as they finish; `None` before the
    /// children are spawned and once the output has been returned.
    slots: Option<Vec<Option<T>>>,
}

fn empty_slots<T>(len: usize) -> Vec<Option<T>> {
    (0..len).map(|_| None).collect()
}

impl<T: Send + 'static, E: Send + 'static> Collect<T, E> {
    /// Spawns every future now if a runtime is current; else keeps them for the first poll.
    #[track_caller]
    fn new<I, F>(futures: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
    {
        let mut children = JoinSet::new();
        match ciranda_scheduler::Handle::try_current() {
            Some(runtime) => {
                // A panic of the iterator drops `children`, which aborts those spawned.
                for (index, future) in futures.into_iter().enumerate() {
                    children.insert(runtime.spawn(async move { (index, future.await) }));
                }
                Collect {
                    unspawned: None,
                    slots: Some(empty_slots(children.len())),
                    children,
                }
            }
            None => {
                // The children are spawned by the first poll, but they were asked for here:
                // the task dump shows this call's caller as their spawn location, as it does
                // for an eager gather.
                let location = std::panic::Location::caller();
                let futures: Vec<F> = futures.into_iter().collect();
                let spawn = move |children: &mut Children<T, E>| {
                    if futures.is_empty() {
                        return; // nothing to spawn: no runtime needed
                    }
                    let runtime = ciranda_scheduler::Handle::current();
                    for (index, future) in futures.into_iter().enumerate() {
                        let child = async move { (index, future.await) };
                        children.insert(runtime.spawn_at(child, location));
                    }
                };
                Collect {
                    unspawned: Some(Box::new(spawn)),
                    slots: None,
                    children,
                }
            }
        }
    }
}

impl<T, E> Collect<T, E> {
    fn poll_collect(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<T>, E>> {
        if let Some(spawn) = self.unspawned.take() {
            // Polled outside any runtime, this panics before the first spawn.
            spawn(&mut self.children);
            self.slots = Some(empty_slots(self.children.len()));
        }
        let slots = self
            .slots
            .as_mut()
            .expect("ciranda::gather polled after it completed");
        loop {
            match ready!(self.children.poll_join_next(cx)) {
                Some(Ok((index, Ok(value)))) => slots[index] = Some(value),
                Some(Ok((_, Err(error)))) => {
                    self.stop();
                    return Poll::Ready(Err(error));
                }
                Some(Err(error)) => {
                    self.stop();
                    resume(error)
                }
                None => break,
            }
        }
        let slots = self.slots.take().expect("checked above");
        Poll::Ready(Ok(slots
            .into_iter()
            .map(|slot| slot.expect("every child finished"))
            .collect()))
    }

    /// Ends the gather early: aborts the children still running (without waiting for the
    /// future's drop) and drops the outputs gathered so far.
    fn stop(&mut self) {
        self.children.abort_all();
        self.slots = None;
    }

    fn fmt_fields(&self, f: &mut fmt::DebugStruct<'_, '_>) -> fmt::Result {
        let finished = self.slots.as_ref().map_or(0, |slots| {
            slots.iter().filter(|slot| slot.is_some()).count()
        });
        f.field("spawned", &self.unspawned.is_none())
            .field("running", &self.children.len())
            .field("finished", &finished)
            .finish()
    }
}

/// Awaits already spawned tasks and returns every outcome in input order, panics and
/// cancellations included as `JoinError`s (nothing is cancelled or resumed).
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let handles = vec![
///         ciranda::spawn(async { 1 }),
///         ciranda::spawn(async { panic!("boom") }),
///     ];
///     let results = ciranda::task::gather_handles(handles).await;
///     assert_eq!(*results[0].as_ref().unwrap(), 1);
///     assert!(results[1].as_ref().unwrap_err().is_panic());
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping the future drops the handles it was given: the tasks not yet awaited are detached (they
/// run on, not cancelled), and the outputs collected so far are dropped.
pub async fn gather_handles<T>(handles: Vec<JoinHandle<T>>) -> Vec<Result<T, JoinError>> {
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await);
    }
    out
}
