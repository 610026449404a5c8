//! Per-task timing for the task dump (`TaskInfo::busy_duration` / `idle_duration`), on only
//! when asked for (`Builder::task_timing(true)`, or a `slow_poll_threshold`, which times
//! every poll anyway).
//!
//! Off by default because it costs two clock reads and a lock per poll; the task header
//! stays free of it (a table beside the tasks, keyed by id, instead of 16 bytes more in every
//! task). Entries are made at spawn and removed when the worker sees the task complete.
//!
//! A worker records a poll after the poll has returned, and by then the task may have been
//! woken, run to completion by another worker and forgotten: such a late record finds no
//! entry and keeps nothing. The table also remembers which tasks a slow poll was reported
//! for (`slow_poll_threshold` reports a task once), so that the decision and the forgetting
//! happen under one lock.

use crate::loom::Mutex;
use crate::task::TaskId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// What the table keeps per live task.
#[derive(Clone, Copy)]
struct Times {
    busy: Duration,
    /// When the last poll ended (the spawn, before the first poll).
    last_end: Instant,
    /// A slow poll of the task was reported.
    reported_slow: bool,
}

/// One lock per shard, each on its own cache line, so workers timing different tasks
/// rarely meet.
#[repr(align(128))]
struct Shard(Mutex<HashMap<TaskId, Times>>);

pub(crate) struct TaskTimes {
    shards: Box<[Shard]>,
}

impl TaskTimes {
    pub(crate) fn new() -> TaskTimes {
        TaskTimes {
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(HashMap::new())))
                .collect(),
        }
    }

    fn shard(&self, id: TaskId) -> &Mutex<HashMap<TaskId, Times>> {
        &self.shards[(id.as_u64() as usize) % SHARDS].0
    }

    /// A task was spawned now.
    pub(crate) fn spawned(&self, id: TaskId) {
        self.shard(id).lock().insert(
            id,
            Times {
                busy: Duration::ZERO,
                last_end: Instant::now(),
                reported_slow: false,
            },
        );
    }

    /// A poll of `id` ran from `started` for `took`; a completed task is forgotten. `true`
    /// when the poll is to be reported as slow: it took longer than `slow` and no slow poll
    /// of the task was reported before.
    ///
    /// The record of a poll that returned pending may come after the record of a later poll
    /// run by another worker (the task was woken as soon as it was idle), even after its
    /// completion was recorded: the entry is then gone and stays gone (made anew, it would
    /// never be removed), and the end of the poll recorded last is not taken for the later
    /// one's.
    pub(crate) fn polled(
        &self,
        id: TaskId,
        started: Instant,
        took: Duration,
        completed: bool,
        slow: Option<Duration>,
    ) -> bool {
        let is_slow = slow.is_some_and(|threshold| took > threshold);
        let mut shard = self.shard(id).lock();
        if completed {
            let reported = shard.remove(&id).is_some_and(|times| times.reported_slow);
            return is_slow && !reported;
        }
        let Some(times) = shard.get_mut(&id) else {
            // Completed and forgotten since: nothing to keep. Whether a slow poll of the task
            // was reported is forgotten too; this one is reported rather than hidden.
            return is_slow;
        };
        times.busy = times.busy.saturating_add(took);
        times.last_end = times.last_end.max(started + took);
        let report = is_slow && !times.reported_slow;
        times.reported_slow |= is_slow;
        report
    }

    /// `(busy, idle)` of a live task, idle counted up to `now`.
    pub(crate) fn get(&self, id: TaskId, now: Instant) -> Option<(Duration, Duration)> {
        let times = *self.shard(id).lock().get(&id)?;
        Some((times.busy, now.saturating_duration_since(times.last_end)))
    }

    /// How many live tasks are remembered as reported slow.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn reported_slow_len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.0.lock().values().filter(|t| t.reported_slow).count())
            .sum()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::park::{Park, ParkContext, ThreadParkers};
    use crate::shared::Shared;
    use crate::task::TaskId;
    use crate::{Handle, Scheduler};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::task::{Context, Poll};
    use std::thread::ThreadId;
    use std::time::{Duration, Instant};

    /// What the test's task and parking hook share.
    #[derive(Default)]
    struct State {
        shared: OnceLock<Arc<Shared>>,
        /// The task under test.
        task: OnceLock<TaskId>,
        /// Set by the task's first poll: the thread polling it. Taken by whichever comes
        /// first, the hook's `unpark` on that thread (inside the task's requeue, after its
        /// poll returned) or the task's second poll (the hook was not called: try again).
        armed: Mutex<Option<ThreadId>>,
        /// The hook held the first poller until the task's completion was recorded.
        held: Mutex<Option<ThreadId>>,
        /// The first poller reached its parking hook after being held: its run is over.
        first_poller_done: AtomicBool,
        /// A worker is parked with a timeout: the LIFO slot's watcher, which a spawn does not
        /// wake (and a yield behind a filled slot does).
        watcher_parked: AtomicBool,
        /// The task spawned to wake the other worker has run (there).
        warm_up_ran: Arc<AtomicBool>,
    }

    impl State {
        fn times(&self) -> &super::TaskTimes {
            self.shared.get().unwrap().times.as_ref().unwrap()
        }

        fn entry_of_task(&self) -> bool {
            let id = *self.task.get().unwrap();
            self.times().get(id, Instant::now()).is_some()
        }
    }

    struct Hook {
        parkers: ThreadParkers,
        state: Arc<State>,
    }

    impl Park for Hook {
        fn park(&self, cx: &ParkContext<'_>, timeout: Option<Duration>) {
            let me = std::thread::current().id();
            if *self.state.held.lock().unwrap() == Some(me) {
                self.state.first_poller_done.store(true, SeqCst);
            }
            let watching = timeout.is_some_and(|t| t > Duration::ZERO);
            if watching {
                self.state.watcher_parked.store(true, SeqCst);
            }
            self.parkers.park(cx, timeout);
            if watching {
                self.state.watcher_parked.store(false, SeqCst);
            }
        }

        fn unpark(&self, worker: usize) {
            self.parkers.unpark(worker);
            let me = std::thread::current().id();
            let mut armed = self.state.armed.lock().unwrap();
            if *armed != Some(me) {
                return;
            }
            *armed = None;
            drop(armed);
            // This is the first poller, inside the task's requeue: its poll has returned and
            // its time is not recorded yet. Hold it until the worker just woken has stolen the
            // task, polled it to completion and recorded that.
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.state.task.get().is_none() || self.state.entry_of_task() {
                assert!(
                    Instant::now() < deadline,
                    "the task was not completed elsewhere"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            *self.state.held.lock().unwrap() = Some(me);
        }
    }

    /// Wakes the other worker (a spawn), waits until it parks again as the LIFO slot's
    /// watcher, spawns a filler into this worker's LIFO slot (which the watcher is not woken
    /// for) and yields (which, behind the filled slot, wakes the watcher); completes on its
    /// second poll. `true` when the hook held the first poller.
    struct YieldOnce {
        state: Arc<State>,
        polled: bool,
        /// The first poll takes longer than the test's slow-poll threshold.
        slow: bool,
    }

    impl Future for YieldOnce {
        type Output = bool;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
            if self.polled {
                return Poll::Ready(self.state.armed.lock().unwrap().take().is_none());
            }
            self.polled = true;
            if self.slow {
                std::thread::sleep(Duration::from_millis(20));
            }
            let ran = self.state.warm_up_ran.clone();
            drop(crate::spawn(async move { ran.store(true, SeqCst) }));
            let deadline = Instant::now() + Duration::from_secs(1);
            while !(self.state.warm_up_ran.load(SeqCst) && self.state.watcher_parked.load(SeqCst))
                && Instant::now() < deadline
            {
                std::thread::yield_now();
            }
            drop(crate::spawn(async {}));
            *self.state.armed.lock().unwrap() = Some(std::thread::current().id());
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    /// A poll's time is recorded by its worker once the poll has returned. By then another
    /// worker may have run the task to completion and recorded that (removing its entry):
    /// the late record of the earlier poll must not bring the entry back, or a completed
    /// task's entry stays in the table for ever (a leak per occurrence on a long-running
    /// server with task timing or a slow-poll threshold on).
    #[test]
    fn a_late_record_of_an_earlier_poll_does_not_resurrect_a_completed_task() {
        late_record_after_completion(false);
    }

    /// The same with a slow-poll threshold, and an earlier poll that was slow: its report
    /// comes after the completion too, and must not leave the task remembered as reported.
    #[test]
    fn a_late_slow_poll_report_does_not_remember_a_completed_task() {
        late_record_after_completion(true);
    }

    fn late_record_after_completion(slow: bool) {
        let mut held = 0;
        for _ in 0..200 {
            let state = Arc::new(State::default());
            let hook_state = state.clone();
            let builder = Scheduler::builder().worker_threads(2);
            let builder = if slow {
                builder.slow_poll_threshold(Duration::from_millis(1))
            } else {
                builder.task_timing(true)
            };
            let sched = builder
                .park_hook(move |n| Hook {
                    parkers: ThreadParkers::new(n),
                    state: hook_state,
                })
                .build()
                .unwrap();
            let handle: Handle = sched.handle().clone();
            state.shared.set(handle.shared.clone()).ok().unwrap();
            let task = handle.spawn(YieldOnce {
                state: state.clone(),
                polled: false,
                slow,
            });
            state.task.set(task.id()).unwrap();
            if !sched.block_on(task).unwrap() {
                continue;
            }
            held += 1;
            let deadline = Instant::now() + Duration::from_secs(30);
            while !state.first_poller_done.load(SeqCst) {
                assert!(Instant::now() < deadline, "the first poller never parked");
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(
                handle.shared.slow_reported_len(),
                0,
                "the completed task is remembered as reported slow"
            );
            assert!(
                !state.entry_of_task(),
                "the completed task's timing entry came back"
            );
            if held == 5 {
                return;
            }
        }
        panic!("the interleaving was reached only {held} times in 200 runs");
    }
}
