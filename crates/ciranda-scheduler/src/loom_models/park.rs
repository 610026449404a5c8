//! Models of parking: the `Parker` token on its own, then the idle protocol end to end —
//! real `Worker`s (`Worker::turn`: local queue, injector, stealing, `Idle` searching and
//! parked counters, `Worker::park`'s register-then-re-check) on a real `Shared` with
//! `ThreadParkers`, and tasks spawned through the real `Handle::spawn` →
//! `Shared::schedule_remote` → `Idle::worker_to_notify` → `Park::unpark` path.
//!
//! A lost wake-up leaves a task queued while every worker sleeps and the spawner waits on
//! its `JoinHandle`: loom reports that as a deadlock.

use super::block_on;
use crate::Handle;
use crate::blocking::{BlockingConfig, BlockingPool};
use crate::loom::Arc as LoomArc;
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use crate::park::{Park, Parker, ThreadParkers};
use crate::queue;
use crate::registry::Registry;
use crate::shared::{Config, Shared};
use crate::worker::{Stealable, Worker};
use loom::thread;
use std::sync::Arc;
use std::time::Duration;

/// `unpark` lands before `park` (a token: `park` returns at once), while the parker is
/// between its fast path and `PARKED`, or while it waits on the condvar. `park` must return
/// in every case (else loom reports a deadlock).
#[test]
fn parker_unpark_races_park() {
    loom::model(|| {
        let parker = LoomArc::new(Parker::new());
        let unparker = parker.clone();
        let thread = thread::spawn(move || unparker.unpark());
        parker.park();
        thread.join().unwrap();
    });
}

/// Two unparks against a parker that re-checks a condition, as the workers do: the tokens
/// may collapse into one, but the last unpark always happens after the last change the
/// parker must see, so it never sleeps through it.
#[test]
fn parker_collapsed_tokens_lose_no_round() {
    loom::model(|| {
        let parker = LoomArc::new(Parker::new());
        let round = LoomArc::new(AtomicUsize::new(0));
        let (unparker, rounds) = (parker.clone(), round.clone());
        let thread = thread::spawn(move || {
            for i in 1..=2 {
                rounds.store(i, SeqCst);
                unparker.unpark();
            }
        });
        while round.load(SeqCst) < 2 {
            parker.park();
        }
        thread.join().unwrap();
    });
}

/// A stale token (an unpark whose news the parker already saw, like a spawn's notification
/// for a task the worker found by itself) races the unpark that publishes a flag, as the
/// shutdown unpark publishes the stop flag. The parker sees the stale token when it tries
/// to register as `PARKED` and returns; if the publishing unpark lands in between and the
/// two tokens collapse, consuming the token must still order the flag before `park`
/// returns, or the parker reads the old flag, parks again without a token, and sleeps
/// forever (loom: deadlock).
#[test]
fn parker_collapsed_token_publishes_the_later_unpark() {
    loom::model(|| {
        let parker = LoomArc::new(Parker::new());
        let flag = LoomArc::new(AtomicBool::new(false));
        let stale = parker.clone();
        let (unparker, set) = (parker.clone(), flag.clone());
        let stale = thread::spawn(move || stale.unpark());
        let publisher = thread::spawn(move || {
            set.store(true, SeqCst);
            unparker.unpark();
        });
        while !flag.load(SeqCst) {
            parker.park();
        }
        stale.join().unwrap();
        publisher.join().unwrap();
    });
}

/// A zero-timeout park (the workers' periodic I/O poll) racing an unpark either consumes
/// the token or leaves it; either way it never blocks, and a later blocking park still
/// returns once the condition it waits for is set.
#[test]
fn parker_zero_timeout_keeps_the_token_protocol() {
    loom::model(|| {
        let parker = LoomArc::new(Parker::new());
        let ready = LoomArc::new(AtomicBool::new(false));
        let (unparker, set) = (parker.clone(), ready.clone());
        let thread = thread::spawn(move || {
            set.store(true, SeqCst);
            unparker.unpark();
        });
        parker.park_timeout(Some(Duration::ZERO));
        while !ready.load(SeqCst) {
            parker.park();
        }
        thread.join().unwrap();
    });
}

/// A real `Shared` with `workers` workers, `ThreadParkers`, and the loom run queues.
pub(super) fn runtime(workers: usize) -> (Handle, Vec<Worker>) {
    let (locals, remotes): (Vec<_>, Vec<_>) = (0..workers)
        .map(|_| {
            let (local, steal) = queue::local();
            (local, Stealable::new(steal))
        })
        .unzip();
    let blocking = BlockingPool::new(BlockingConfig {
        max_threads: 1,
        keep_alive: Duration::from_secs(1),
        thread_name: "model-blocking".into(),
        stack_size: None,
        on_thread_start: None,
        on_thread_stop: None,
    });
    let config = Config {
        thread_name: "model".into(),
        thread_stack_size: None,
        on_thread_start: None,
        on_thread_stop: None,
        slow_poll_threshold: None,
        on_unhandled_panic: None,
        unhandled_panic: crate::UnhandledPanic::Ignore,
        task_timing: false,
    };
    let park: Arc<dyn Park> = Arc::new(ThreadParkers::new(workers));
    let mut shared = Shared::new(remotes.into(), park, blocking, config);
    // A spawn picks its registry shard by task id, and ids keep growing from one loom
    // iteration to the next: one shard keeps the model deterministic.
    shared.registry = Registry::new(1);
    let handle = Handle {
        shared: Arc::new(shared),
    };
    let workers = locals
        .into_iter()
        .enumerate()
        .map(|(index, local)| Worker::new(handle.clone(), index, local))
        .collect();
    (handle, workers)
}

/// Worker threads, each turning (find a task and run it, or park) until [`Turning::stop`].
pub(super) struct Turning {
    handle: Handle,
    stop: LoomArc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Turning {
    /// Starts a thread per worker of `handle`'s runtime.
    pub(super) fn start(handle: &Handle, workers: Vec<Worker>) -> Turning {
        let stop = LoomArc::new(AtomicBool::new(false));
        let threads = workers
            .into_iter()
            .map(|worker| {
                let stop = stop.clone();
                thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        worker.turn();
                    }
                })
            })
            .collect();
        Turning {
            handle: handle.clone(),
            stop,
            threads,
        }
    }

    /// Like a shutdown: raises the flag, then unparks every worker (a token if it is not
    /// asleep yet) so each one sees the flag, and joins the threads.
    pub(super) fn stop(self) {
        self.stop.store(true, SeqCst);
        for worker in 0..self.threads.len() {
            self.handle.shared.park.unpark(worker);
        }
        for thread in self.threads {
            thread.join().unwrap();
        }
    }
}

/// Worker threads turn until told to stop; the model thread spawns `tasks` tasks from
/// outside (through the injector) and awaits each.
/// Every worker starts unparked and not searching, so the spawns race workers that are
/// looking at their queues, registering as parked, re-checking, and sleeping.
fn spawned_tasks_always_run(workers: usize, tasks: usize) {
    loom::model(move || {
        let (handle, worker_list) = runtime(workers);
        let turning = Turning::start(&handle, worker_list);

        let joins: Vec<_> = (0..tasks).map(|i| handle.spawn(async move { i })).collect();
        for (i, join) in joins.into_iter().enumerate() {
            assert_eq!(block_on(join).unwrap(), i);
        }

        turning.stop();
        // Every worker left its loop awake: it is counted unparked and listed nowhere as a
        // sleeper (a drifting count would make a later notifier skip a sleeper).
        let (searching, unparked, sleepers) = handle.shared.idle.counts_for_model();
        assert_eq!(unparked, workers, "every worker is counted unparked");
        assert_eq!(sleepers, 0, "no worker is left on the sleeper list");
        assert!(searching <= workers);
        // Release the registry's references so every task is freed within the model.
        handle.shared.registry.drain();
    });
}

/// One worker: the spawn's notification and the worker's park race directly.
#[test]
fn one_worker_no_lost_wakeup() {
    spawned_tasks_always_run(1, 1);
}

/// One worker, two spawns: the second may find the worker awake, searching its queues,
/// already parked, or just woken by the first (its token already spent).
///
/// At `LOOM_MAX_PREEMPTIONS=4` this found a worker that never saw the stop flag: the second
/// spawn's notification reached the worker after it had run both tasks (a stale token), the
/// stop unpark collapsed into that token while the worker was registering as `PARKED`, and
/// the parker took the token with a plain store, which does not order the stop flag before
/// its return ([`parker_collapsed_token_publishes_the_later_unpark`] is the cheap version).
#[test]
fn one_worker_two_spawns_no_lost_wakeup() {
    spawned_tasks_always_run(1, 2);
}

/// Two workers: a spawn wakes a sleeper only when nobody searches, so the model checks
/// that a searcher that misses the task always re-checks after registering as parked,
/// and that a worker woken (and counted as searching) by a notifier hands its searching
/// slot back when it parks again.
#[test]
fn two_workers_no_lost_wakeup() {
    spawned_tasks_always_run(2, 1);
}
