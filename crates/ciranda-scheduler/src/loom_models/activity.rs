//! The idle check (`Shared::is_idle`, see the `activity` module): it may say "idle" only if
//! at some instant during the call nothing was queued, running or woken.
//!
//! A task that was spawned before the check began and had not finished when it ended was in
//! flight for the whole check, so the answer must be `false`. The first two models run a real
//! worker thread (pops, runs, registers as parked, re-checks, sleeps) against `is_idle` on a
//! real `Shared`; the interleaving that broke the old single collect (the worker read as
//! parked, then waking, taking the task and running it before the queues are read) needs
//! more switches than loom can afford with a whole worker, so the third model cuts the
//! decision down to the real `Idle` word and the real double collect, and explores it to five
//! preemptions. A single collect fails that one.

use crate::loom::Arc as LoomArc;
use crate::loom::atomic::{AtomicBool, Ordering::SeqCst};
use loom::thread;

use super::block_on;
use super::park::{Turning, runtime};

/// `spawn` is called before the check; the task's body sets `finished` when it runs.
fn check_races_a_task(spawn_child: bool) {
    loom::model(move || {
        let (handle, workers) = runtime(1);
        let turning = Turning::start(&handle, workers);
        let finished = LoomArc::new(AtomicBool::new(false));

        let done = finished.clone();
        let (parent, child) = if spawn_child {
            // The parent runs on the worker and spawns the child there: the child goes to the
            // worker's LIFO slot while the worker is active, then the parent ends.
            let inner = handle.clone();
            let parent = handle
                .spawn(async move { Some(inner.spawn(async move { done.store(true, SeqCst) })) });
            (Some(parent), None)
        } else {
            (
                None,
                Some(handle.spawn(async move { done.store(true, SeqCst) })),
            )
        };
        let idle = handle.shared.is_idle();
        let finished_by_then = finished.load(SeqCst);
        assert!(
            !idle || finished_by_then,
            "is_idle said idle while a task spawned before the check had not finished"
        );

        // The child's handle comes back through the parent's output when it has one.
        let child = match parent {
            Some(parent) => block_on(parent).unwrap().unwrap(),
            None => child.unwrap(),
        };
        block_on(child).unwrap();
        turning.stop();
        handle.shared.registry.drain();
    });
}

/// A task spawned from outside (injector + notify) races the check.
#[test]
fn idle_check_sees_a_task_spawned_from_outside() {
    check_races_a_task(false);
}

/// A task spawned on the worker (LIFO slot) by a task that then ends races the check.
#[test]
fn idle_check_sees_a_task_spawned_on_the_worker() {
    check_races_a_task(true);
}

/// The decision itself, on the real `Idle` word and the real double collect, with everything
/// else cut away so that loom can afford the interleaving that matters (five switches): the
/// worker found nothing, the producer pushes a task (no wake-up needed: the worker is not
/// parked yet), the worker registers as parked, the checker reads the word, the worker
/// re-checks, finds the task and takes it, the checker reads the queue. A single collect says
/// "idle" there while the task runs; the second read of the word sees the unpark.
#[test]
fn idle_check_sees_a_worker_that_takes_a_task_after_registering_as_parked() {
    use crate::activity::double_collect;
    use crate::idle::Idle;
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(5);
    builder.check(|| {
        let idle = LoomArc::new(Idle::new(1));
        let queued = LoomArc::new(AtomicBool::new(false));
        let token = LoomArc::new(AtomicBool::new(false));
        let finished = LoomArc::new(AtomicBool::new(false));
        let worker = {
            let (idle, queued, token, finished) = (
                idle.clone(),
                queued.clone(),
                token.clone(),
                finished.clone(),
            );
            thread::spawn(move || {
                // It looked at the queue (empty) before this point.
                idle.transition_to_parked(0, false);
                crate::loom::atomic::fence(SeqCst);
                if !queued.load(SeqCst) {
                    // Asleep until a notifier counted it unparked and left a token.
                    while !token.load(SeqCst) {
                        thread::yield_now();
                    }
                }
                idle.unpark_self(0, false);
                assert!(queued.swap(false, SeqCst), "the task was queued");
                finished.store(true, SeqCst);
            })
        };
        queued.store(true, SeqCst);
        if idle.worker_to_notify().is_some() {
            token.store(true, SeqCst);
        }
        let is_idle = double_collect(
            || idle.word(),
            |word| Idle::all_parked_in(*word),
            || !queued.load(SeqCst),
        );
        assert!(
            !is_idle || finished.load(SeqCst),
            "is_idle said idle while the queued task had not finished"
        );
        worker.join().unwrap();
    });
}

/// The blocking pool's share of the idle check: a call queued behind a full pool whose only
/// thread waits in `block_on` (its call suspended) is not counted, so a paused clock can jump
/// to the timer that wait needs; once the wait ends, the queued call is counted again before
/// anything else can act. A spawn racing the suspension must end in the same counts whatever
/// the order, and the count must never be left behind (the final drain returns it to zero).
#[test]
fn a_call_queued_behind_suspended_calls_is_not_counted_until_one_resumes() {
    loom::model(|| {
        let (handle, _workers) = runtime(1);
        let pool = &handle.shared.blocking;
        // The model runtime's pool has `max_threads` 1: this thread fills it.
        pool.model_thread_running_a_call();
        let suspender = {
            let handle = handle.clone();
            thread::spawn(move || handle.shared.blocking.suspend_call())
        };
        let queued = pool.spawn(&handle, || 7, None);
        suspender.join().unwrap();
        assert_eq!(
            pool.model_active(),
            0,
            "the only thread waits and the queued call cannot start: nothing is active"
        );
        let resumer = {
            let handle = handle.clone();
            thread::spawn(move || handle.shared.blocking.resume_call())
        };
        // Once the resumption has counted anything, the count never falls back to zero
        // (which an idle check would take for "nothing can act").
        let first = pool.model_active();
        let second = pool.model_active();
        assert!(
            first == 0 || second > 0,
            "the count fell back to zero during a resumption: {first} then {second}"
        );
        resumer.join().unwrap();
        assert_eq!(
            pool.model_active(),
            2,
            "the resumed call and the queued one"
        );
        pool.model_thread_left();
        assert_eq!(
            pool.model_active(),
            1,
            "the queued call, a thread free for it"
        );
        pool.shutdown(None);
        assert_eq!(
            pool.model_active(),
            0,
            "the shutdown cancelled the queued call"
        );
        drop(queued);
        handle.shared.registry.drain();
    });
}
