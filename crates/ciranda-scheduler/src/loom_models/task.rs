//! Models of the task state machine on the real allocation (`raw::allocate`), vtable,
//! `JoinHandle` and task wakers, scheduled by a tiny test scheduler: a loom
//! `Mutex<VecDeque<Notified>>` that one or two runner threads drain.
//!
//! Every model ends with the same checks, after all threads joined:
//! * the future was dropped exactly once;
//! * the output was made at most once and dropped exactly as often as it was made (by the
//!   `JoinHandle` reader, the handle's drop, or the completing thread);
//! * the task allocation was freed exactly once: its scheduler value holds a drop guard,
//!   and a loom `Arc` whose leak loom reports;
//! * wakers handed to the `JoinHandle` are all released (none leaked, none dropped twice).
//!
//! loom's `UnsafeCell` tracking checks that the stage and the join waker slot are never
//! touched by two threads without a happens-before edge.

use super::{DropCounter, DropGuard, TestWaker, block_on};
use crate::loom::{Arc, Condvar, Mutex};
use crate::task::raw::{self, Notified, Schedule, TaskRef};
use crate::task::{JoinError, JoinHandle, TaskId};
use loom::thread;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The value every model task returns.
const VALUE: u32 = 42;

/// The models' run queue. Runners drain it until it is empty and every helper thread (the
/// threads that may still wake or abort the task) has said it is done.
struct RunQueue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

struct QueueState {
    tasks: VecDeque<Notified>,
    helpers: usize,
}

impl RunQueue {
    fn new(helpers: usize) -> Arc<RunQueue> {
        Arc::new(RunQueue {
            state: Mutex::new(QueueState {
                tasks: VecDeque::new(),
                helpers,
            }),
            changed: Condvar::new(),
        })
    }

    fn push(&self, task: Notified) {
        self.state.lock().tasks.push_back(task);
        self.changed.notify_all();
    }

    fn helper_done(&self) {
        self.state.lock().helpers -= 1;
        self.changed.notify_all();
    }

    /// Runs queued tasks until nothing can be queued any more. A task re-queued by a poll
    /// is pushed before its runner looks at the queue again, so no runner leaves work behind.
    fn run(&self) {
        loop {
            let task = {
                let mut state = self.state.lock();
                loop {
                    if let Some(task) = state.tasks.pop_front() {
                        break Some(task);
                    }
                    if state.helpers == 0 {
                        break None;
                    }
                    self.changed.wait(&mut state);
                }
            };
            match task {
                Some(task) => {
                    task.run();
                }
                None => return,
            }
        }
    }
}

/// The `Schedule` stored in the task cell: dropped exactly when the cell is freed.
struct TestSchedule {
    queue: Arc<RunQueue>,
    _freed: DropGuard,
}

impl TestSchedule {
    /// # Safety
    /// `this` is live when the call begins (it may be freed once `task` is queued).
    unsafe fn push(this: *const Self, task: Notified) {
        // SAFETY: `this` is live here; the queue it leads to is the fixture's too, which
        // keeps it alive after the task (and this value) may be freed.
        let queue = unsafe { &*Arc::as_ptr(&(*this).queue) };
        queue.push(task);
    }
}

impl Schedule for TestSchedule {
    unsafe fn schedule(this: *const Self, task: Notified) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::push(this, task) }
    }
    unsafe fn requeue(this: *const Self, task: Notified) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::push(this, task) }
    }
    fn unhandled_panic(&self, error: &JoinError) {
        panic!("no model task panics: {error}");
    }
}

/// What a model task returns.
struct Output {
    value: u32,
    _alive: DropGuard,
}

/// A one-shot event with a waker slot: what a model future waits for.
#[derive(Default)]
struct Gate(Mutex<GateState>);

#[derive(Default)]
struct GateState {
    open: bool,
    waker: Option<Waker>,
}

#[derive(Clone, Copy)]
enum WakeBy {
    Value,
    Ref,
}

impl Gate {
    fn open(&self, by: WakeBy) {
        let waker = {
            let mut state = self.0.lock();
            state.open = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            match by {
                WakeBy::Value => waker.wake(),
                WakeBy::Ref => waker.wake_by_ref(),
            }
        }
    }
}

/// Pending until its gate opens, then ready with an `Output`.
struct Gated {
    gate: Arc<Gate>,
    outputs: DropCounter,
    _alive: DropGuard,
}

impl Future for Gated {
    type Output = Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        let mut state = self.gate.0.lock();
        if state.open {
            return Poll::Ready(Output {
                value: VALUE,
                _alive: self.outputs.guard(),
            });
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Wakes itself during its first poll (a yield), then stays pending for good: only an
/// abort can finish it.
struct YieldThenHang {
    yielded: bool,
    _alive: DropGuard,
}

impl Future for YieldThenHang {
    type Output = Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

/// A slot another thread waits on for a clone of the task's waker.
#[derive(Default)]
struct WakerSlot {
    waker: Mutex<Option<Waker>>,
    filled: Condvar,
}

impl WakerSlot {
    fn put(&self, waker: Waker) {
        *self.waker.lock() = Some(waker);
        self.filled.notify_all();
    }

    fn take(&self) -> Waker {
        let mut slot = self.waker.lock();
        loop {
            if let Some(waker) = slot.take() {
                return waker;
            }
            self.filled.wait(&mut slot);
        }
    }
}

/// First poll: hands a clone of its waker to another thread and yields (so it completes
/// without help); second poll: ready.
struct LeaveWaker {
    slot: Arc<WakerSlot>,
    polled: bool,
    outputs: DropCounter,
    _alive: DropGuard,
}

impl Future for LeaveWaker {
    type Output = Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Output> {
        if self.polled {
            return Poll::Ready(Output {
                value: VALUE,
                _alive: self.outputs.guard(),
            });
        }
        self.polled = true;
        self.slot.put(cx.waker().clone());
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// One model task with its queue and its counters.
struct Fixture {
    queue: Arc<RunQueue>,
    futures: DropCounter,
    outputs: DropCounter,
    freed: DropCounter,
}

impl Fixture {
    fn new(helpers: usize) -> Fixture {
        Fixture {
            queue: RunQueue::new(helpers),
            futures: DropCounter::default(),
            outputs: DropCounter::default(),
            freed: DropCounter::default(),
        }
    }

    fn test_schedule(&self) -> TestSchedule {
        TestSchedule {
            queue: self.queue.clone(),
            _freed: self.freed.guard(),
        }
    }

    /// Allocates `future` as a queued task nobody tracks (as `spawn_blocking` does): its
    /// references are the first queue entry's and the `JoinHandle`'s.
    fn spawn<F>(&self, future: F) -> JoinHandle<Output>
    where
        F: Future<Output = Output> + Send + 'static,
    {
        let raw::NewTask { notified, join } =
            raw::allocate(future, self.test_schedule(), TaskId::next(), None);
        self.queue.push(notified);
        join
    }

    /// Allocates `future` as a queued task (as `Handle::spawn` does), with a third reference
    /// that the caller keeps (the registry's, in the real scheduler).
    fn spawn_registered<F>(&self, future: F) -> (JoinHandle<Output>, TaskRef)
    where
        F: Future<Output = Output> + Send + 'static,
    {
        let (registered, raw::NewTask { notified, join }) =
            raw::allocate_registered(future, self.test_schedule(), TaskId::next(), None);
        self.queue.push(notified);
        (join, registered)
    }

    fn gated_future(&self) -> (Arc<Gate>, Gated) {
        let gate = Arc::new(Gate::default());
        let future = Gated {
            gate: gate.clone(),
            outputs: self.outputs.clone(),
            _alive: self.futures.guard(),
        };
        (gate, future)
    }

    fn gated(&self) -> (Arc<Gate>, JoinHandle<Output>) {
        let (gate, future) = self.gated_future();
        (gate, self.spawn(future))
    }

    fn gated_registered(&self) -> (Arc<Gate>, JoinHandle<Output>, TaskRef) {
        let (gate, future) = self.gated_future();
        let (join, task) = self.spawn_registered(future);
        (gate, join, task)
    }

    /// The end-of-model checks; call once every thread joined and every handle is gone.
    fn check(&self) {
        assert_eq!(self.futures.made(), 1);
        assert_eq!(
            self.futures.dropped(),
            1,
            "the future is dropped exactly once"
        );
        assert!(
            self.outputs.made() <= 1,
            "the future completed at most once"
        );
        assert_eq!(
            self.outputs.dropped(),
            self.outputs.made(),
            "the output is dropped exactly once"
        );
        assert_eq!(self.freed.made(), 1);
        assert_eq!(self.freed.dropped(), 1, "the task is freed exactly once");
    }
}

fn poll_with<T>(join: &mut JoinHandle<T>, waker: &TestWaker) -> Poll<Result<T, JoinError>> {
    let waker = waker.waker();
    Pin::new(join).poll(&mut Context::from_waker(&waker))
}

fn expect_output(result: Result<Output, JoinError>) {
    let output = result.expect("the task was neither aborted nor shut down");
    assert_eq!(output.value, VALUE);
}

/// Polls a handle whose task must be complete, expects the output, and drops the handle.
fn expect_ready(mut join: JoinHandle<Output>) {
    let waker = TestWaker::new();
    match poll_with(&mut join, &waker) {
        Poll::Ready(result) => expect_output(result),
        Poll::Pending => panic!("the task is complete once the queue is drained"),
    }
    drop(join);
    assert_eq!(
        waker.live(),
        0,
        "a handle that read the output keeps no waker"
    );
}

/// A waker fires (by value) before the first poll (no waker stored yet: the poll finds
/// the gate open), during it (`RUNNING | NOTIFIED` → re-queue) or after it (idle →
/// submit), while the `JoinHandle` registers its waker and waits. Checks that the wake is never lost (else loom reports a deadlock), that the
/// output reaches the handle exactly once, and that the waker's reference is released.
#[test]
fn wake_by_value_races_poll_and_join() {
    loom::model(|| {
        let fx = Fixture::new(2);
        let (gate, join) = fx.gated();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let joiner = thread::spawn(move || {
            expect_output(block_on(join));
            queue.helper_done();
        });

        fx.queue.run();
        opener.join().unwrap();
        joiner.join().unwrap();
        assert_eq!(fx.outputs.made(), 1);
        fx.check();
    });
}

/// The same race through `wake_by_ref`, which takes a new reference for the queue when
/// the task is idle and none while it runs; the opener then drops its own waker. The
/// handle is read after the runner is done: the task must be complete by then.
#[test]
fn wake_by_ref_races_poll() {
    loom::model(|| {
        let fx = Fixture::new(1);
        let (gate, join) = fx.gated();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Ref);
            queue.helper_done();
        });

        fx.queue.run();
        opener.join().unwrap();
        expect_ready(join);
        assert_eq!(fx.outputs.made(), 1);
        fx.check();
    });
}

/// `abort()` lands while the task is queued, running, idle (its waker parked in the gate)
/// or complete, racing a wake-up. The future must be dropped exactly once, by the runner
/// that sees `CANCELLED`; the handle gets either the output or a cancellation error.
#[test]
fn abort_races_wake_and_completion() {
    loom::model(|| {
        let fx = Fixture::new(2);
        let (gate, join) = fx.gated();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let aborter = thread::spawn(move || {
            join.abort();
            queue.helper_done();
            join
        });

        fx.queue.run();
        opener.join().unwrap();
        let mut join = aborter.join().unwrap();
        let waker = TestWaker::new();
        match poll_with(&mut join, &waker) {
            Poll::Ready(Ok(output)) => assert_eq!(output.value, VALUE),
            Poll::Ready(Err(error)) => {
                assert!(error.is_cancelled());
                assert_eq!(fx.outputs.made(), 0, "a cancelled task made no output");
            }
            Poll::Pending => panic!("the task is complete once the queue is drained"),
        }
        drop(join);
        assert_eq!(waker.live(), 0);
        fx.check();
    });
}

/// The `JoinHandle` registers a join waker, then is dropped, racing completion: whoever
/// comes second drops the output (the handle if `COMPLETE` was set, else the completing
/// runner), and the join waker is freed by the handle or — when the runner is reading it
/// at that moment (`COMPLETE | JOIN_WAKER`) — by the runner after it woke it.
#[test]
fn join_handle_drop_races_completion() {
    loom::model(|| {
        let fx = Fixture::new(2);
        let (gate, join) = fx.gated();
        let waker = TestWaker::new();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let handle_waker = waker.clone();
        let dropper = thread::spawn(move || {
            let mut join = join;
            if let Poll::Ready(result) = poll_with(&mut join, &handle_waker) {
                expect_output(result);
            }
            drop(join);
            queue.helper_done();
        });

        fx.queue.run();
        opener.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(fx.outputs.made(), 1);
        assert_eq!(waker.live(), 0, "the join waker is released exactly once");
        fx.check();
    });
}

/// A `JoinHandle` dropped without ever being polled (a detached spawn) races the task's
/// completion: the handle's one-step release (no join waker published) against the runner's
/// completion, which drops the output itself and releases in one step when it finds the
/// handle gone, or stores it for the handle otherwise. The output is dropped exactly once,
/// by one side, and the task freed exactly once, by whoever releases last.
#[test]
fn unpolled_join_handle_drop_races_completion() {
    loom::model(|| {
        let fx = Fixture::new(2);
        let (gate, join) = fx.gated();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let dropper = thread::spawn(move || {
            drop(join);
            queue.helper_done();
        });

        fx.queue.run();
        opener.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(fx.outputs.made(), 1);
        fx.check();
    });
}

/// The `JoinHandle` polls with waker A, then with a different waker B (taking the slot
/// back with `unset_join_waker` and publishing B), racing completion. Whichever waker is
/// registered when the task completes is woken exactly once, a replaced one never, and a
/// poll after completion returns the output.
#[test]
fn join_waker_registration_races_completion() {
    loom::model(|| {
        let fx = Fixture::new(2);
        let (gate, join) = fx.gated();
        let (a, b) = (TestWaker::new(), TestWaker::new());

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let (handle_a, handle_b) = (a.clone(), b.clone());
        let joiner = thread::spawn(move || {
            let mut join = join;
            let mut pending = Vec::new();
            for waker in [&handle_a, &handle_b] {
                match poll_with(&mut join, waker) {
                    Poll::Ready(result) => {
                        expect_output(result);
                        queue.helper_done();
                        return (None, pending);
                    }
                    Poll::Pending => pending.push(waker.clone()),
                }
            }
            queue.helper_done();
            (Some(join), pending)
        });

        fx.queue.run();
        opener.join().unwrap();
        let (join, pending) = joiner.join().unwrap();
        // The task is complete now: the runner drained the queue after the gate opened.
        match pending.len() {
            // A registered, then found the task complete while replacing it by B: A was
            // woken if completion came before B's poll looked, B never.
            1 => assert!(a.wakes() <= 1 && b.wakes() == 0),
            // B replaced A before completion: only B is woken, once.
            2 => assert!(a.wakes() == 0 && b.wakes() == 1),
            _ => {}
        }
        if let Some(join) = join {
            expect_ready(join);
        }
        assert_eq!(fx.outputs.made(), 1);
        assert_eq!(a.live(), 0, "waker A is released");
        assert_eq!(b.live(), 0, "waker B is released");
        fx.check();
    });
}

/// Shutdown (`TaskRef::shutdown` + releasing the registry's reference) races a wake-up
/// and the runner: it drops the future in place when the task is idle or queued (the
/// queued entry is then skipped), or marks it cancelled while it runs so the runner drops
/// it after the poll. The `JoinHandle` then resolves either way.
#[test]
fn shutdown_races_wake_and_poll() {
    loom::model(|| {
        let fx = Fixture::new(2);
        let (gate, join, task) = fx.gated_registered();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let shutter = thread::spawn(move || {
            task.shutdown();
            drop(task);
            match block_on(join) {
                Ok(output) => assert_eq!(output.value, VALUE),
                Err(error) => assert!(error.is_cancelled()),
            }
            queue.helper_done();
        });

        fx.queue.run();
        opener.join().unwrap();
        shutter.join().unwrap();
        fx.check();
    });
}

/// Two runners: a wake during a poll makes the runner re-queue the task, and the other
/// runner may pick it up and complete it while the first is still returning from `poll`.
/// The handle is dropped from the waking thread meanwhile, so the last reference can fall
/// to either runner or to the waker.
#[test]
fn requeued_task_runs_on_another_runner() {
    loom::model(|| {
        let fx = Fixture::new(1);
        let (gate, join) = fx.gated();

        let queue = fx.queue.clone();
        let opener = thread::spawn(move || {
            gate.open(WakeBy::Value);
            drop(join);
            queue.helper_done();
        });
        let queue = fx.queue.clone();
        let runner = thread::spawn(move || queue.run());

        fx.queue.run();
        opener.join().unwrap();
        runner.join().unwrap();
        assert_eq!(fx.outputs.made(), 1);
        fx.check();
    });
}

/// A task that wakes itself during its poll (a yield: `RUNNING | NOTIFIED`, then
/// re-queue) and then never completes is aborted concurrently: the abort finds it queued
/// (the next run cancels it), running (the runner cancels it after the poll instead of
/// re-queueing it) or idle (the abort queues it). It must end cancelled in every case —
/// an abort lost on the way leaves the task pending forever.
#[test]
fn abort_races_yield() {
    loom::model(|| {
        let fx = Fixture::new(1);
        let future = YieldThenHang {
            yielded: false,
            _alive: fx.futures.guard(),
        };
        let join = fx.spawn(future);

        let queue = fx.queue.clone();
        let aborter = thread::spawn(move || {
            join.abort();
            queue.helper_done();
            join
        });

        fx.queue.run();
        let mut join = aborter.join().unwrap();
        let waker = TestWaker::new();
        match poll_with(&mut join, &waker) {
            Poll::Ready(Err(error)) => assert!(error.is_cancelled()),
            Poll::Ready(Ok(_)) => unreachable!("the future never completes"),
            Poll::Pending => panic!("the abort was lost: the task never finished"),
        }
        drop(join);
        assert_eq!(waker.live(), 0);
        assert_eq!(fx.outputs.made(), 0);
        fx.check();
    });
}

/// A stale waker (a clone the task handed out before it yielded and completed) fires
/// while the task is queued, running, or already complete, after the `JoinHandle` was
/// dropped: the wake must then just release its reference — and free the task when it
/// was the last one (`WakeAction::Dealloc`) — never schedule a finished task.
#[test]
fn stale_wake_races_completion() {
    loom::model(|| {
        let fx = Fixture::new(1);
        let slot = Arc::new(WakerSlot::default());
        let future = LeaveWaker {
            slot: slot.clone(),
            polled: false,
            outputs: fx.outputs.clone(),
            _alive: fx.futures.guard(),
        };
        let join = fx.spawn(future);

        let queue = fx.queue.clone();
        let waker = thread::spawn(move || {
            let waker = slot.take();
            drop(join);
            waker.wake();
            queue.helper_done();
        });

        fx.queue.run();
        waker.join().unwrap();
        assert_eq!(fx.outputs.made(), 1);
        fx.check();
    });
}
