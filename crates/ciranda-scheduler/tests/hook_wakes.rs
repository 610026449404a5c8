#![cfg(not(loom))]
//! Tasks woken inside the parking hook, on the parking worker's own thread (what a hook that
//! drives I/O and timers does), are queued on that worker and wake no other worker for the
//! first task; one other worker is woken when more than one got queued (see the `Park`
//! contract). Before issue 21 every such wake went through `notify_parked`, which, with the
//! worker still listed as parked, could even pick the parking worker itself: an unpark (an
//! eventfd write in the facade's hook) per I/O wake-up, and a wasted park of another worker.
//!
//! The hook below parks on `ThreadParkers` and, once armed, wakes the stored wakers right
//! after its parker returns, still inside `park`. The test reaches a quiet point (every
//! worker blocked in the hook without a timeout, so no watcher is about), arms the hook,
//! unparks worker 0's parker directly (not through `Park::unpark`, which is what is counted)
//! and counts the `Park::unpark` calls that follow.

use ciranda_scheduler::Scheduler;
use ciranda_scheduler::park::{Park, ParkContext, ThreadParkers};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock, mpsc};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    parkers: OnceLock<ThreadParkers>,
    /// Wakers of tasks waiting for the "event".
    pending: Mutex<Vec<Waker>>,
    /// The hook wakes `pending` after its parker returns.
    armed: AtomicBool,
    /// The hook panics right after waking `pending` (once).
    panic_after_waking: AtomicBool,
    /// Workers blocked in the hook without a timeout.
    blocked: AtomicUsize,
    unparks: AtomicUsize,
}

struct WakingHook(Arc<State>);

impl Park for WakingHook {
    fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
        let state = &self.0;
        let parkers = state.parkers.get().unwrap();
        if timeout != Some(Duration::ZERO) {
            if timeout.is_none() {
                state.blocked.fetch_add(1, SeqCst);
            }
            parkers.park(cx, timeout);
            if timeout.is_none() {
                state.blocked.fetch_sub(1, SeqCst);
            }
        }
        if state.armed.load(SeqCst) {
            let wakers = std::mem::take(&mut *state.pending.lock().unwrap());
            let woke = !wakers.is_empty();
            for waker in wakers {
                waker.wake();
            }
            if woke && state.panic_after_waking.swap(false, SeqCst) {
                panic!("test hook panics after waking tasks");
            }
        }
    }

    fn unpark(&self, worker: usize) {
        self.0.unparks.fetch_add(1, SeqCst);
        self.0.parkers.get().unwrap().unpark(worker);
    }
}

/// Pending until the hook wakes it once.
struct WaitForEvent {
    state: Arc<State>,
    registered: bool,
}

impl Future for WaitForEvent {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.registered {
            return Poll::Ready(());
        }
        self.registered = true;
        self.state.pending.lock().unwrap().push(cx.waker().clone());
        Poll::Pending
    }
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `tasks` tasks that each wait for one event, fires the events inside worker 0's hook,
/// and returns how many `Park::unpark` calls followed, once every task has finished and every
/// worker is blocked again.
fn unparks_after_hook_wakes(workers: usize, tasks: usize, panic_after_waking: bool) -> usize {
    let state = Arc::new(State::default());
    state.panic_after_waking.store(panic_after_waking, SeqCst);
    let hook_state = state.clone();
    let sched = Scheduler::builder()
        .worker_threads(workers)
        .park_hook(move |n| {
            hook_state
                .parkers
                .set(ThreadParkers::new(n))
                .expect("the hook is made once");
            WakingHook(hook_state)
        })
        .build()
        .unwrap();
    let (done_tx, done_rx) = mpsc::channel();
    // With a worker for each task, each task holds its worker (inside its poll) until every
    // task has started. Otherwise worker 0 could finish its task and park before the worker
    // woken for the second task (a searcher) had started that task: a searcher that finds
    // work wakes another parked worker to keep looking, and that wake of worker 0 would count
    // as a second unpark. A preempted thread makes that order likely enough to fail the test.
    let together = (workers >= tasks).then(|| Arc::new((Mutex::new(0usize), Condvar::new())));
    for _ in 0..tasks {
        let (state, done, together) = (state.clone(), done_tx.clone(), together.clone());
        sched.handle().spawn(async move {
            WaitForEvent {
                state,
                registered: false,
            }
            .await;
            if let Some(together) = together {
                // Bounded: if no other worker ever runs the other task, the unpark count
                // shows it.
                let (started, all_in) = &*together;
                let mut started = started.lock().unwrap();
                *started += 1;
                all_in.notify_all();
                let _ = all_in
                    .wait_timeout_while(started, Duration::from_secs(10), |n| *n < tasks)
                    .unwrap();
            }
            done.send(()).unwrap();
        });
    }
    wait_until("every task waits and every worker is blocked", || {
        state.pending.lock().unwrap().len() == tasks && state.blocked.load(SeqCst) == workers
    });
    let before = state.unparks.load(SeqCst);
    state.armed.store(true, SeqCst);
    // Straight to the parker: this wake-up is the "event", not a scheduler notification.
    state.parkers.get().unwrap().parker(0).unpark();
    for _ in 0..tasks {
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a task woken inside the hook never ran");
    }
    let still_alive = if panic_after_waking {
        workers - 1
    } else {
        workers
    };
    wait_until("every worker is blocked again", || {
        state.blocked.load(SeqCst) == still_alive
    });
    state.unparks.load(SeqCst) - before
}

/// One task woken inside the hook is run by the worker that woke it: nobody else is woken.
#[test]
fn one_task_woken_in_the_hook_wakes_no_worker() {
    for workers in [1, 2, 3] {
        for round in 0..20 {
            assert_eq!(
                unparks_after_hook_wakes(workers, 1, false),
                0,
                "{workers} workers, round {round}"
            );
        }
    }
}

/// Two tasks woken inside the hook: one other worker is woken, once, for the second.
#[test]
fn two_tasks_woken_in_the_hook_wake_one_worker() {
    for round in 0..20 {
        assert_eq!(unparks_after_hook_wakes(2, 2, false), 1, "round {round}");
        // With one worker there is nobody to wake.
        assert_eq!(unparks_after_hook_wakes(1, 2, false), 0, "round {round}");
    }
}

/// A hook that panics after waking a task kills its worker; the task it queued there is
/// still announced, so another worker steals and runs it instead of every worker sleeping.
#[test]
fn tasks_woken_by_a_hook_that_then_panics_still_run() {
    for round in 0..5 {
        let unparks = unparks_after_hook_wakes(2, 1, true);
        assert_eq!(unparks, 1, "round {round}");
    }
}
