#![cfg(not(loom))]
//! How many workers one task wakes. A worker woken for a task is counted as searching; when
//! it finds the task and was the last searcher, it wakes one more worker only if some task is
//! still queued. Before issue 21 it always did, and on request/reply shapes that worker found
//! nothing and parked again: two parks per wake-up (`sync_probe`'s `oneshot_rr`,
//! `notify_one_w1`). Counted with a hook that counts `Park::unpark` calls, from a quiet point
//! where every worker is blocked without a timeout (no watcher about).

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

/// One task spawned from outside while every worker sleeps wakes exactly one worker.
#[test]
fn one_remote_task_wakes_one_worker() {
    for workers in [2, 3, 4] {
        let (sched, counts) = scheduler(workers);
        let (done_tx, done_rx) = mpsc::channel();
        for round in 0..20 {
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
            assert_eq!(
                counts.unparks.load(SeqCst) - before,
                1,
                "{workers} workers, round {round}"
            );
        }
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
