//! `block_on`: drive one future on the calling thread.

use crate::Handle;
use crate::coop;
use crate::loom::atomic::Ordering::SeqCst;
use crate::park::Parker;
use crate::worker::on_worker_thread;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

struct ThreadWaker(Parker);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Counts this thread as "running a future" for `Handle::is_idle` while alive.
struct Active<'a>(&'a Handle);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.shared.block_on_active.fetch_sub(1, SeqCst);
        self.0.shared.park.notify_idle_change();
    }
}

pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    assert!(
        !on_worker_thread(),
        "ciranda: block_on called on a runtime worker thread. Blocking a worker stalls every \
         task queued on it and deadlocks if the future waits for one of them. Inside async \
         code, `.await` the future instead; from synchronous code running on a worker, move \
         that code to spawn_blocking first."
    );
    let _context = handle.enter();
    // A fresh parker per call: a nested block_on must not steal the outer one's wake-ups.
    let parker = Arc::new(ThreadWaker(Parker::new()));
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        handle.shared.block_on_active.fetch_add(1, SeqCst);
        let active = Active(handle);
        let poll = coop::budget(|| future.as_mut().poll(&mut cx));
        drop(active);
        if let Poll::Ready(output) = poll {
            return output;
        }
        parker.0.park();
    }
}
