//! `gather`, `try_gather`, `gather_handles`: asyncio's `gather`.

use super::{JoinError, JoinHandle, JoinSet};
use std::convert::Infallible;
use std::future::Future;

/// Panics with the child's panic, or reports a child cancelled from outside.
fn resume(error: JoinError) -> ! {
    match error.try_into_panic() {
        Ok(payload) => std::panic::resume_unwind(payload),
        Err(error) => panic!("ciranda::gather: a child task was cancelled: {error}"),
    }
}

/// Runs every future as its own task (in parallel across workers) and returns their outputs
/// in input order — asyncio's `gather(*aws)`.
///
/// Futures that return `Result` give back `Vec<Result<T, E>>` unchanged (asyncio's
/// `return_exceptions=True`). If a child panics, the other children are cancelled and the
/// panic is resumed here. Dropping the returned future cancels every child.
///
/// **Lazy**, unlike asyncio's: the children are spawned when the returned future is first
/// polled, so `let _ = gather(..)` runs nothing (to start work at once, `spawn` it and gather
/// the handles). The items are one type: a `JoinHandle<T>` is a future of
/// `Result<T, JoinError>`, so to mix spawned tasks and plain futures, map the plain ones to the
/// same type by boxing (`Box::pin(fut) as Pin<Box<dyn Future<Output = _> + Send>>`), or spawn
/// them too and use [`gather_handles`].
///
/// # Panics
///
/// Outside a runtime; and with a child's panic, as said above.
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
/// # Cancel safety
///
/// Dropping the future aborts every child still running and drops the outputs gathered so far.
pub async fn gather<I, F>(futures: I) -> Vec<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let collected: Result<Vec<F::Output>, Infallible> = collect_in_order(
        futures
            .into_iter()
            .map(|future| async move { Ok(future.await) }),
    )
    .await;
    match collected {
        Ok(values) => values,
    }
}

/// Like [`gather`] for fallible futures, but fails fast: the first `Err` (in completion
/// order) cancels the other children and is returned.
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
/// Dropping the future aborts every child still running and drops the outputs gathered so far.
pub async fn try_gather<I, F, T, E>(futures: I) -> Result<Vec<T>, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    collect_in_order(futures).await
}

/// Spawns every future, then collects outputs in input order while watching completions in
/// the order they happen: the first `Err` or panic, whichever child it comes from, ends the
/// wait at once. The children live in a `JoinSet`, so that whatever ends this function (a
/// return, a panic, even one of the input iterator's part-way, or the future dropped) aborts
/// those still running.
async fn collect_in_order<I, F, T, E>(futures: I) -> Result<Vec<T>, E>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let mut children = JoinSet::new();
    for (index, future) in futures.into_iter().enumerate() {
        children.spawn(async move { (index, future.await) });
    }
    let mut slots: Vec<Option<T>> = (0..children.len()).map(|_| None).collect();
    while let Some(joined) = children.join_next().await {
        match joined {
            Ok((index, Ok(value))) => slots[index] = Some(value),
            Ok((_, Err(error))) => return Err(error),
            Err(error) => resume(error),
        }
    }
    Ok(slots
        .into_iter()
        .map(|slot| slot.expect("every child finished"))
        .collect())
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
