//! `yield_now`: asyncio's `await asyncio.sleep(0)`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields to the scheduler once: the task goes to the back of its worker's run queue, so
/// every task queued before it runs first.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     ciranda::task::yield_now().await;
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
///
/// # Examples
///
/// ```
/// let future: ciranda::task::YieldNow = ciranda::task::yield_now();
/// # drop(future);
/// ```
///
/// # Cancel safety
///
/// Nothing to lose: a `YieldNow` dropped before it completes only skips the yield.
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // A wake while the task runs marks it NOTIFIED; the worker then re-queues it at the
        // back of the local queue (never in the LIFO slot).
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
