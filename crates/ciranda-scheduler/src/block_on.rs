//! `block_on`: drive one future on the calling thread.
//!
//! The thread counts as *active* (for `Handle::is_idle`, which lets a virtual clock jump)
//! from the moment its future is woken until it has polled it and found it pending again:
//!
//! | state     | meaning                                      | counted active |
//! |-----------|----------------------------------------------|----------------|
//! | `POLLING` | polling the future                           | yes            |
//! | `IDLE`    | parked, waiting for a wake-up                | no             |
//! | `WOKEN`   | woken; about to poll (or woken mid-poll)     | yes            |
//! | `DONE`    | `block_on` returned; late wake-ups are ignored | no           |
//!
//! The waker increments the count and then moves `IDLE → WOKEN` (taking the increment back
//! if the move fails), so a timer that fires for this future can never be followed by a
//! clock jump before the future saw it, and the thread's own decrement never comes first.
//!
//! Before it waits, the thread may spin for a few microseconds if its recent wake-ups came
//! that fast (see `spin`). Otherwise, how the thread waits is the parking hook's choice
//! ([`Park::park_block_on`]): the default parks on the thread's own parker; ciranda's facade
//! drives the reactor there once the scheduler has shut down. The waker always leaves a token
//! on the parker, and calls [`Park::unpark_block_on`] as well while the hook has marked the
//! thread as waiting inside it.
//!
//! [`Park::park_block_on`]: crate::park::Park::park_block_on
//! [`Park::unpark_block_on`]: crate::park::Park::unpark_block_on

use crate::Handle;
use crate::context::{self, Busy, on_worker_thread};
use crate::coop;
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::park::{BlockOnContext, Parker};
use crate::shared::Shared;
use crate::spin;
use crate::unhandled::UnhandledPanic;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

const POLLING: usize = 0;
const IDLE: usize = 1;
const WOKEN: usize = 2;
const DONE: usize = 3;

struct ThreadWaker {
    parker: Parker,
    /// Set while the parking hook waits for this thread somewhere other than on `parker`
    /// (`BlockOnContext::set_waiting_in_hook`).
    waiting_in_hook: AtomicBool,
    state: AtomicUsize,
    shared: Arc<Shared>,
}

impl ThreadWaker {
    fn wake_up(&self) {
        let mut state = self.state.load(SeqCst);
        while state == IDLE || state == POLLING {
            // Counted *before* the thread can see `WOKEN`: from then on it may poll, finish
            // and uncount itself at once. Counting after the CAS left a moment in which the
            // woken thread was not counted (a paused clock could jump) and let its uncount
            // come first (the count underflowed).
            let counted = state == IDLE;
            if counted {
                self.shared.block_on_active.activate();
            }
            match self.state.compare_exchange(state, WOKEN, SeqCst, SeqCst) {
                Ok(_) => break,
                Err(actual) => {
                    if counted {
                        self.shared.block_on_active.deactivate();
                    }
                    state = actual;
                }
            }
        }
        self.parker.unpark();
        // After the token (both `SeqCst`): a hook that marked the thread and then found no
        // token is reached here.
        if self.waiting_in_hook.load(SeqCst) {
            self.shared.park.unpark_block_on();
        }
    }
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_up();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_up();
    }
}

/// Leaves the active count balanced when `block_on` returns or its future panics.
struct LeaveOnUnwind<'a>(&'a ThreadWaker);

impl Drop for LeaveOnUnwind<'_> {
    fn drop(&mut self) {
        if self.0.state.swap(DONE, SeqCst) != IDLE {
            self.0.shared.block_on_active.deactivate();
        }
        self.0.shared.notify_idle_change();
    }
}

pub(crate) fn block_on<F: Future>(handle: &Handle, future: F) -> F::Output {
    if handle.shared.current_thread.is_some() && !handle.shared.is_shutdown() {
        return crate::current_thread::block_on(handle, future);
    }
    match block_on_unless(handle, pin!(future), &|_| false) {
        Some(output) => output,
        None => unreachable!("block_on gave up without being asked to"),
    }
}

/// Drives `future` on the calling thread until it completes, or until `give_up` (asked with
/// the future's waker after each pending poll, before waiting) returns `true`: then `None`,
/// and the future stays pinned where it is, to be driven otherwise. A `give_up` that will
/// become true must make sure the waker is woken when it does.
pub(crate) fn block_on_unless<F: Future>(
    handle: &Handle,
    mut future: Pin<&mut F>,
    give_up: &dyn Fn(&Waker) -> bool,
) -> Option<F::Output> {
    assert!(
        !crate::current_thread::driving(),
        "ciranda: block_on called from inside a task of a current-thread runtime. That thread \
         runs every task of its runtime and would stop while it waits; `.await` the future \
         instead, or move the synchronous code to spawn_blocking first."
    );
    assert!(
        !on_worker_thread(),
        "ciranda: block_on called on a runtime worker thread. Blocking a worker stalls every \
         task queued on it and deadlocks if the future waits for one of them. Inside async \
         code, `.await` the future instead; from synchronous code running on a worker, move \
         that code to spawn_blocking first."
    );
    let _context = handle.enter();
    let shared = &handle.shared;
    // A fresh parker per call: a nested block_on must not steal the outer one's wake-ups.
    let thread = Arc::new(ThreadWaker {
        parker: Parker::new(),
        waiting_in_hook: AtomicBool::new(false),
        state: AtomicUsize::new(POLLING),
        shared: shared.clone(),
    });
    shared.block_on_active.activate();
    let leave = LeaveOnUnwind(&thread);
    // While its future is polled, a `block_on` nested in it waits for us (see `suspend`).
    let _busy = context::enter_busy(shared, Busy::BlockOn);
    let waker = Waker::from(thread.clone());
    let mut cx = Context::from_waker(&waker);
    // Registered before the first check, so a task failing the runtime later wakes us.
    let _fatal = (shared.config.unhandled_panic == UnhandledPanic::ShutdownRuntime)
        .then(|| shared.fatal.watch(&waker));
    // `Shared::is_idle`, except that workers that exited after shutdown count as parked.
    let is_idle = || shared.is_idle_unless_exited(shared.is_shutdown());
    loop {
        shared.fatal.check();
        if let Poll::Ready(output) = coop::budget(|| future.as_mut().poll(&mut cx)) {
            drop(leave);
            return Some(output);
        }
        if give_up(&waker) {
            drop(leave);
            return None;
        }
        match thread.state.compare_exchange(POLLING, IDLE, SeqCst, SeqCst) {
            Ok(_) => {
                shared.block_on_active.deactivate();
                // What this thread is nested in waits too: a blocking call that called us, an
                // outer `block_on` whose future did. Our own entry (the last) is counted above.
                let suspended = context::suspend(shared, 1);
                shared.notify_idle_change();
                // A wake-up that comes within a few tens of microseconds is cheaper to spin
                // for than to sleep through (see `spin`); otherwise the hook decides how to
                // wait.
                if !spin::spin_for_token(&thread.parker) {
                    shared.park.park_block_on(&BlockOnContext {
                        parker: &thread.parker,
                        waiting_in_hook: &thread.waiting_in_hook,
                        waker: &waker,
                        is_idle: &is_idle,
                    });
                }
                // Normally a waker moved us to WOKEN (and counted us); after a spurious
                // return we are still IDLE and count ourselves.
                if thread.state.swap(POLLING, SeqCst) == IDLE {
                    shared.block_on_active.activate();
                }
                // Counted again only now that this thread is (counted as) active itself.
                drop(suspended);
            }
            // Woken during the poll: still counted active, poll again at once.
            Err(_) => thread.state.store(POLLING, SeqCst),
        }
    }
}
