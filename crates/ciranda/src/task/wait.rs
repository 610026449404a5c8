//! `wait` and `as_completed`: asyncio's `wait(..., return_when=)` and `as_completed`.

use super::{JoinHandle, JoinSet};
use futures_core::Stream;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// When [`wait`] returns — asyncio's `return_when`.
///
/// # Examples
///
/// ```
/// use ciranda::task::WaitFor;
/// assert_ne!(WaitFor::FirstCompleted, WaitFor::AllCompleted);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WaitFor {
    /// As soon as any task finishes.
    FirstCompleted,
    /// As soon as any task ends in a `JoinError` (panic or cancellation), or when all are
    /// done. For tasks that return `Result`, use `TaskGroup` or `try_gather`.
    FirstError,
    /// When every task has finished.
    AllCompleted,
}

/// Waits for tasks until `mode` is satisfied or `timeout` passes, and splits them into
/// `(done, pending)`, each in input order. Nothing is cancelled; a handle in `done` is
/// finished and still holds its output.
///
/// # Examples
///
/// ```
/// use ciranda::task::{WaitFor, wait};
/// use std::time::Duration;
/// ciranda::run(async {
///     let quick = ciranda::spawn(async { 1 });
///     let slow = ciranda::spawn(std::future::pending::<i32>());
///     let (done, pending) = wait(vec![quick, slow], WaitFor::FirstCompleted, None).await;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 1);
///
///     let (done, pending) =
///         wait(pending, WaitFor::AllCompleted, Some(Duration::from_millis(20))).await;
///     assert!(done.is_empty() && pending.len() == 1); // timed out
/// });
/// ```
///
/// # Panics
///
/// With a `timeout`, as [`sleep`](crate::time::sleep) does: when polled where no runtime is
/// current, or after the runtime shut down for good (the timeout is a sleep on the runtime's
/// timer). Without one it needs no runtime.
///
/// # Cancel safety
///
/// Dropping the future drops the handles it was given: the tasks are detached (they run on, not
/// cancelled) and their outputs are lost to you. Nothing else is changed.
pub async fn wait<T>(
    mut handles: Vec<JoinHandle<T>>,
    mode: WaitFor,
    timeout: Option<Duration>,
) -> (Vec<JoinHandle<T>>, Vec<JoinHandle<T>>) {
    let mut deadline = pin!(timeout.map(crate::time::sleep));
    // Each handle gets a join waker of its own that lists its index, so a poll looks only at
    // the handles whose task finished since the last one: looking at every handle on every
    // wake-up made waiting for n tasks that finish one by one cost O(n²) (20 000 tasks took
    // half a minute).
    let woken = Arc::new(Woken::default());
    let wakers: Vec<Waker> = (0..handles.len())
        .map(|index| {
            Waker::from(Arc::new(IndexWaker {
                woken: woken.clone(),
                index,
            }))
        })
        .collect();
    let mut seen = vec![false; handles.len()];
    let mut finished = 0;
    let mut failed = false;
    // The first poll registers every handle, as if each had been woken.
    let mut to_check: Vec<usize> = (0..handles.len()).collect();
    poll_fn(|cx| {
        loop {
            for index in to_check.drain(..) {
                let handle = &mut handles[index];
                if !seen[index]
                    && handle
                        .poll_finished(&mut Context::from_waker(&wakers[index]))
                        .is_ready()
                {
                    seen[index] = true;
                    finished += 1;
                    failed |= handle.is_failed();
                }
            }
            let all = finished == handles.len();
            let satisfied = match mode {
                WaitFor::FirstCompleted => finished > 0 || all,
                WaitFor::FirstError => failed || all,
                WaitFor::AllCompleted => all,
            };
            if satisfied {
                return Poll::Ready(());
            }
            // Cloned before the lock: a waker is foreign code.
            let waker = cx.waker().clone();
            let replaced = {
                let mut state = woken.0.lock();
                if state.indices.is_empty() {
                    state.waiter.replace(waker)
                } else {
                    std::mem::swap(&mut to_check, &mut state.indices);
                    continue; // the clone drops with the lock released
                }
            };
            drop(replaced);
            break;
        }
        match deadline.as_mut().as_pin_mut() {
            Some(sleep) => sleep.poll(cx),
            None => Poll::Pending,
        }
    })
    .await;
    // The handles keep their index wakers; ours is no longer needed.
    let waiter = woken.0.lock().waiter.take();
    drop(waiter);
    handles.into_iter().partition(JoinHandle::is_finished)
}

/// What the join wakers of a [`wait`] share: the indices of the handles woken since its last
/// poll, and its waker.
#[derive(Default)]
struct Woken(parking_lot::Mutex<WokenState>);

#[derive(Default)]
struct WokenState {
    indices: Vec<usize>,
    waiter: Option<Waker>,
}

/// The join waker of handle `index` of a [`wait`].
struct IndexWaker {
    woken: Arc<Woken>,
    index: usize,
}

impl Wake for IndexWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let waiter = {
            let mut state = self.woken.0.lock();
            state.indices.push(self.index);
            state.waiter.take()
        };
        // Outside the lock: a waker is foreign code.
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// Runs every future as its own task and yields their outputs in completion order —
/// asyncio's `as_completed`. A child's panic is resumed when its turn comes; dropping the
/// stream cancels the children still running. The children are spawned at the call, and the
/// task dump ([`Handle::dump`](crate::Handle::dump)) shows the caller's line as where.
///
/// # Panics
///
/// Outside a runtime, at the call. When a child panicked (its panic is resumed) or was
/// cancelled from outside, where the stream reaches that child's turn.
///
/// # Examples
///
/// ```
/// use ciranda::stream::StreamExt;
/// use std::time::Duration;
/// // A paused clock makes the order exact: time jumps from one timer to the next only once
/// // every task is idle (on the real clock, a loaded machine may fire two of these in one
/// // turn and finish them in either order).
/// let rt = ciranda::Runtime::builder().start_paused(true).build().unwrap();
/// rt.block_on(async {
///     let delays = [30u64, 10, 20];
///     let mut stream = ciranda::task::as_completed(delays.map(|ms| async move {
///         ciranda::time::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some(ms) = stream.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, vec![10, 20, 30]);
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping the stream aborts the children still running; outputs not yet yielded are dropped.
/// Dropping only a `next()` future loses nothing: an output is taken from the stream only in the
/// poll that yields it.
#[track_caller]
pub fn as_completed<I, F>(futures: I) -> AsCompleted<F::Output>
where
    I: IntoIterator<Item = F>,
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = JoinSet::new();
    for future in futures {
        set.spawn(future);
    }
    AsCompleted { set }
}

/// The stream returned by [`as_completed`].
///
/// # Examples
///
/// ```
/// use ciranda::stream::StreamExt;
/// ciranda::run(async {
///     let stream: ciranda::task::AsCompleted<u8> = ciranda::task::as_completed([async { 1u8 }]);
///     assert_eq!(stream.collect::<Vec<_>>().await, vec![1]);
/// });
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<T> {
    set: JoinSet<T>,
}

impl<T> Stream for AsCompleted<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match std::task::ready!(self.set.poll_join_next(cx)) {
            None => Poll::Ready(None),
            Some(Ok(value)) => Poll::Ready(Some(value)),
            Some(Err(error)) => match error.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(error) => panic!("ciranda::task::as_completed: a child was cancelled: {error}"),
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.set.len(), Some(self.set.len()))
    }
}
