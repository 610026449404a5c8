#![cfg(not(loom))]
//! How many workers one task wakes. A worker woken for a task is counted as searching; when
//! it finds the task and was the last searcher, it wakes one more worker if some task is
//! still queued, and otherwise only while such extra searchers have been finding work
//! (`extra_searcher.rs`). On request/reply shapes they find nothing and park again: two parks
//! per wake-up (`sync_probe`'s `oneshot_rr`, `notify_one_w1`) until the rule learns that.
//! Counted with a hook that counts `Park::unpark` calls, from a quiet point where every
//! worker is blocked without a timeout (no watcher about).

use ciranda_scheduler::Scheduler;
use ciranda_scheduler::park::{Park, ParkContext, ThreadParkers};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, OnceLock, mpsc};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Counts {
    parkers: OnceLock<ThreadParkers>,
    /// Workers blocked in the hook without a timeout.
    blocked: AtomicUsize,
    unparks: AtomicUsize,
}

struct CountingHook(Arc<Counts>);

impl Park for CountingHook {
    fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
        let counts = &self.0;
        if timeout.is_none() {
            counts.blocked.fetch_add(1, SeqCst);
        }
        counts.parkers.get().unwrap().park(cx, timeout);
        if timeout.is_none() {
            counts.blocked.fetch_sub(1, SeqCst);
        }
    }

    fn unpark(&self, worker: usize) {
        self.0.unparks.fetch_add(1, SeqCst);
        self.0.parkers.get().unwrap().unpark(worker);
    }
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn scheduler(workers: usize) -> (Scheduler, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let hook_counts = counts.clone();
    let sched = Scheduler::builder()
        .worker_threads(workers)
        .park_hook(move |n| {
            hook_counts
                .parkers
                .set(ThreadParkers::new(n))
                .expect("the hook is made once");
            CountingHook(hook_counts)
        })
        .build()
        .unwrap();
    (sched, counts)
}

/// One task spawned from outside while every worker sleeps wakes one worker, once the rule
/// has seen its extra searchers find nothing: at first it wakes a second one (the old
/// behaviour), within a few rounds only the occasional trial does.
#[test]
fn one_remote_task_wakes_one_worker() {
    const ROUNDS: usize = 60;
    const LEARNING: usize = 20;
    for workers in [2, 3, 4] {
        let (sched, counts) = scheduler(workers);
        let (done_tx, done_rx) = mpsc::channel();
        let mut extra_after_learning = 0;
        for round in 0..ROUNDS {
            wait_until("every worker is blocked", || {
                counts.blocked.load(SeqCst) == workers
            });
            let before = counts.unparks.load(SeqCst);
            let done = done_tx.clone();
            sched.handle().spawn(async move { done.send(()).unwrap() });
            done_rx
                .recv_timeout(Duration::from_secs(30))
                .expect("the task ran");
            wait_until("every worker is blocked again", || {
                counts.blocked.load(SeqCst) == workers
            });
            let unparks = counts.unparks.load(SeqCst) - before;
            assert!(
                (1..=2).contains(&unparks),
                "{workers} workers, round {round}: {unparks} wake-ups for one task"
            );
            if round >= LEARNING && unparks == 2 {
                extra_after_learning += 1;
            }
        }
        // One trial in 32 decisions: at most two in the last 40 rounds.
        assert!(
            extra_after_learning <= 2,
            "{workers} workers: {extra_after_learning} extra wake-ups after learning"
        );
    }
}

/// Tasks spawned from outside faster than one worker takes them still spread: with more
/// queued behind the task it found, the last searcher wakes another worker. Each task blocks
/// its worker until every worker has started one, so this finishes only if all of them were
/// woken.
#[test]
fn queued_work_still_wakes_more_workers() {
    for workers in [2, 3] {
        let (sched, counts) = scheduler(workers);
        wait_until("every worker is blocked", || {
            counts.blocked.load(SeqCst) == workers
        });
        let started = Arc::new(AtomicUsize::new(0));
        let (done_tx, done_rx) = mpsc::channel();
        for _ in 0..workers {
            let (started, done) = (started.clone(), done_tx.clone());
            sched.handle().spawn(async move {
                started.fetch_add(1, SeqCst);
                // Blocks the worker (no yield): the others must be running already.
                wait_until("every worker runs one task", || {
                    started.load(SeqCst) >= workers
                });
                done.send(()).unwrap();
            });
        }
        for _ in 0..workers {
            done_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("every task ran");
        }
    }
}
