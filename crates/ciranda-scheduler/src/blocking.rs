//! The blocking pool: threads for functions that block (file I/O, DNS, CPU-heavy work).
//!
//! A blocking function runs as an ordinary task (same `JoinHandle`, same abort and panic
//! semantics) whose future calls the function once. The pool keeps a FIFO of such tasks
//! under a mutex and lets a thread that stayed idle for `blocking_keep_alive` exit.
//!
//! # Which thread runs a queued call
//!
//! Every queued call gets a thread of its own if it needs one (so calls that really block
//! run in parallel, up to `max_blocking_threads`), but the pool wakes threads one at a time:
//!
//! * A thread that was just woken or started and has not yet taken a call is *searching*.
//! * A push wakes an idle thread (or starts one) only when no thread is searching: a
//!   searching thread is about to take from the queue anyway. A thread started and still in
//!   its `on_thread_start` hook is not "about to" (a user hook may take seconds): while only
//!   such threads search, a push still wakes an idle thread if there is one.
//! * A searching thread that takes a call and leaves calls behind passes the baton: it
//!   wakes (or starts) the next thread before it runs its call.
//! * A thread that finishes a call takes the next queued one without waking anybody.
//!
//! Invariant, under the pool's lock: *the queue is non-empty only while a thread is
//! searching, or while every thread is busy and the pool is at its limit.* So a queued call
//! never waits for a thread that nobody will wake, and a burst of short calls is absorbed by
//! the few threads that are already awake instead of waking one thread per call (each wake is
//! a futex call and a context switch).
//!
//! Aborting a blocking task that has not started cancels it; one that is running cannot be
//! interrupted and runs to the end.

use crate::Handle;
use crate::activity::ActivityCount;
use crate::context;
use crate::hooks::{ThreadHook, call_hook};
use crate::loom::{Condvar, Mutex};
use crate::task::raw::{self, Notified, Schedule};
use crate::task::{JoinError, JoinHandle, TaskId, TaskName};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub(crate) struct BlockingConfig {
    pub(crate) max_threads: usize,
    pub(crate) keep_alive: Duration,
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    pub(crate) on_thread_start: Option<ThreadHook>,
    pub(crate) on_thread_stop: Option<ThreadHook>,
}

pub(crate) struct BlockingPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<PoolState>,
    work_available: Condvar,
    thread_exited: Condvar,
    /// Calls running (less those suspended) and queued calls a thread can take (see
    /// [`PoolState::counted_queued`]): the pool is idle when this is zero.
    active: ActivityCount,
    config: BlockingConfig,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Notified>,
    threads: usize,
    idle: usize,
    /// Wake-ups handed to idle threads and not yet consumed.
    wakeups: usize,
    /// Threads woken or started that have not yet taken a call nor gone idle (see the
    /// module docs); includes the unconsumed `wakeups`.
    searching: usize,
    /// Of the `searching` threads, those started and still in their `on_thread_start` hook:
    /// a user hook may take long, so these are not about to take from the queue.
    starting: usize,
    shutdown: bool,
    /// Running calls that wait in a `block_on` of this runtime (`suspend_call`): not counted
    /// in `active` meanwhile.
    suspended: usize,
    /// How many of the queued calls `active` counts: all of them, unless the pool is
    /// [`stranded`](Self::stranded), then none. A call queued behind a full pool whose every
    /// thread waits in `block_on` cannot start before one of those waits ends, which (on a
    /// paused clock) may take virtual time to pass: counted, it would keep the clock still,
    /// and the waits it needs would never end.
    counted_queued: usize,
    /// Threads that left the pool (no longer in `threads`, so a new thread may start in
    /// their place) and are still running `on_thread_stop`: shutdown waits for them too, up
    /// to its deadline, so that joining them afterwards is immediate.
    stopping: usize,
    next_thread_id: usize,
    running: HashMap<usize, std::thread::JoinHandle<()>>,
    /// Threads that left on their own (keep-alive): joined later.
    exited: Vec<std::thread::JoinHandle<()>>,
}

impl PoolState {
    /// No thread can take a queued call before a running call's `block_on` wait ends: the
    /// pool is at its limit, and every thread runs a call that is suspended.
    fn stranded(&self, max_threads: usize) -> bool {
        self.threads >= max_threads
            && self.idle == 0
            && self.searching == 0
            && self.suspended == self.threads
    }

    /// A call just queued needs a thread to be woken or started for it: no thread is about to
    /// search the queue. A thread still in its start hook does not count while an idle one
    /// could be woken instead (the hook may take long); with no idle thread, it takes the
    /// call when its hook ends, as a busy thread does when its call ends.
    fn needs_searcher(&self) -> bool {
        self.searching == 0 || (self.searching == self.starting && self.idle > 0)
    }
}

/// The future of a blocking task: calls the function on its first poll.
struct BlockingTask<F>(Option<F>);

impl<F> Unpin for BlockingTask<F> {}

impl<F: FnOnce() -> R, R> Future for BlockingTask<F> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let f = self
            .0
            .take()
            .expect("a blocking task is polled exactly once");
        Poll::Ready(f())
    }
}

/// Blocking tasks are never woken (their only poll completes them); the handle is kept to
/// report panics through the scheduler's hook.
struct BlockingSchedule(Handle);

impl Schedule for BlockingSchedule {
    unsafe fn schedule(_this: *const Self, task: Notified) {
        debug_assert!(false, "a blocking task is never re-scheduled");
        drop(task);
    }

    unsafe fn requeue(this: *const Self, task: Notified) {
        // SAFETY: forwarded from the caller.
        unsafe { Self::schedule(this, task) }
    }

    fn unhandled_panic(&self, error: &JoinError) {
        Schedule::unhandled_panic(&self.0, error);
    }
}

impl BlockingPool {
    pub(crate) fn new(config: BlockingConfig) -> BlockingPool {
        BlockingPool {
            inner: Arc::new(Inner {
                state: Mutex::new(PoolState::default()),
                work_available: Condvar::new(),
                thread_exited: Condvar::new(),
                active: ActivityCount::new(),
                config,
            }),
        }
    }

    /// `(threads, idle threads)` of the pool (for metrics).
    pub(crate) fn thread_counts(&self) -> (usize, usize) {
        let state = self.inner.state.lock();
        (state.threads, state.idle)
    }

    /// A running call waits (in a `block_on` of this runtime): not counted active meanwhile,
    /// nor are the queued calls once no thread is left to take them.
    pub(crate) fn suspend_call(&self) {
        let inner = &self.inner;
        let mut state = inner.state.lock();
        state.suspended += 1;
        inner.active.deactivate();
        inner.recount_queued(&mut state);
    }

    /// The call that [`suspend_call`](Self::suspend_call) took off goes on: counted again,
    /// and so are the queued calls (its thread takes them when it is done).
    pub(crate) fn resume_call(&self) {
        let inner = &self.inner;
        let mut state = inner.state.lock();
        state.suspended -= 1;
        // Before the queued ones are counted: the count must not pass through zero.
        inner.active.activate();
        inner.recount_queued(&mut state);
    }

    /// The activity word of queued and running calls (see the `activity` module).
    pub(crate) fn activity_word(&self) -> u64 {
        self.inner.active.word()
    }

    #[track_caller]
    pub(crate) fn spawn<F, R>(&self, handle: &Handle, f: F, name: Option<TaskName>) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let raw::NewTask { notified, join } = raw::allocate(
            BlockingTask(Some(f)),
            BlockingSchedule(handle.clone()),
            TaskId::next(),
            name,
        );
        let inner = &self.inner;
        let mut state = inner.state.lock();
        if state.shutdown {
            drop(state);
            notified.shutdown();
            drop(notified);
            return join;
        }
        state.queue.push_back(notified);
        if state.needs_searcher() {
            if let Err(message) = Inner::wake_or_start(inner, &mut state, handle) {
                // No thread at all, and none could start: nobody would ever run the call.
                // Take it back (it is the last one queued: the pool had no thread to leave
                // others behind) and fail loudly, instead of keeping it queued to run at some
                // later spawn, or never, with the pool counted busy meanwhile.
                let refused = state.queue.pop_back();
                drop(state);
                if let Some(task) = refused {
                    task.shutdown();
                    drop(task);
                }
                panic!("{message}");
            }
        }
        // After the wake-up or start above, which may have made the pool able to take it.
        inner.recount_queued(&mut state);
        join
    }

    /// Cancels queued tasks and joins the threads, waiting until `deadline` for running ones.
    pub(crate) fn shutdown(&self, deadline: Option<Instant>) {
        let inner = &self.inner;
        let queued: Vec<Notified> = {
            let mut state = inner.state.lock();
            state.shutdown = true;
            inner.work_available.notify_all();
            let queued = state.queue.drain(..).collect();
            inner.recount_queued(&mut state);
            queued
        };
        for task in queued {
            task.shutdown();
            drop(task);
        }
        // Shutting down from one of our own threads (a blocking call dropped the runtime):
        // that thread finishes its call after we return, so do not wait for it.
        let own_thread = context::serves_blocking_pool(Arc::as_ptr(inner));
        let threads: Vec<std::thread::JoinHandle<()>> = {
            let mut state = inner.state.lock();
            inner
                .thread_exited
                .wait_while_until(&mut state, deadline, |state| {
                    state.threads + state.stopping > usize::from(own_thread)
                });
            let running = std::mem::take(&mut state.running);
            let mut all: Vec<_> = state.exited.drain(..).collect();
            all.extend(running.into_values());
            all
        };
        let me = std::thread::current().id();
        for thread in threads {
            // Threads still busy past the deadline are left to finish on their own.
            let joinable = thread.thread().id() != me
                && (thread.is_finished() || deadline.is_none_or(|d| Instant::now() < d));
            if joinable {
                let _ = thread.join();
            }
        }
    }
}

/// For the loom models, which cannot run the pool's real threads (`std::thread`): the pool
/// counts a thread that runs a call, or stops counting it.
#[cfg(all(test, loom))]
impl BlockingPool {
    /// One more thread, busy with a running call.
    pub(crate) fn model_thread_running_a_call(&self) {
        let mut state = self.inner.state.lock();
        state.threads += 1;
        self.inner.active.activate();
        self.inner.recount_queued(&mut state);
    }

    /// A thread made by [`model_thread_running_a_call`](Self::model_thread_running_a_call)
    /// finished its call and left without taking another.
    pub(crate) fn model_thread_left(&self) {
        let mut state = self.inner.state.lock();
        state.threads -= 1;
        self.inner.recount_queued(&mut state);
        self.inner.active.deactivate();
    }

    /// Active calls, running and queued, as the idle check reads them.
    pub(crate) fn model_active(&self) -> u64 {
        ActivityCount::count(self.activity_word())
    }
}

impl Inner {
    /// Brings `active`'s share of queued calls to what [`PoolState::counted_queued`] says it
    /// must be, after a change to the queue or to what the threads are doing. Counts come
    /// before discounts, so that the total never dips to zero on the way.
    fn recount_queued(&self, state: &mut PoolState) {
        let target = if state.stranded(self.config.max_threads) {
            0
        } else {
            state.queue.len()
        };
        while state.counted_queued < target {
            self.active.activate();
            state.counted_queued += 1;
        }
        while state.counted_queued > target {
            self.active.deactivate();
            state.counted_queued -= 1;
        }
    }

    /// A thread took the queue's head to run it: the call is counted as running from now on,
    /// taking over its count as a queued call if it had one.
    fn take_queued(&self, state: &mut PoolState) {
        if state.counted_queued > state.queue.len() {
            state.counted_queued -= 1;
        } else {
            self.active.activate();
        }
    }

    /// Makes one more thread search the queue: wakes an idle one, else starts one if the
    /// pool is below its limit (else every thread is busy and the first to finish takes the
    /// queue's head). `Err` with the message to panic with when the pool has no thread and
    /// the OS refused to start one.
    fn wake_or_start(
        this: &Arc<Inner>,
        state: &mut PoolState,
        handle: &Handle,
    ) -> Result<(), String> {
        if state.idle > 0 {
            state.idle -= 1;
            state.wakeups += 1;
            state.searching += 1;
            this.work_available.notify_one();
            Ok(())
        } else if state.threads < this.config.max_threads {
            Inner::start_thread(this, state, handle)
        } else {
            Ok(())
        }
    }

    fn start_thread(
        this: &Arc<Inner>,
        state: &mut PoolState,
        handle: &Handle,
    ) -> Result<(), String> {
        // Reap threads that exited on their own.
        state.exited.retain(|t| !t.is_finished());
        let id = state.next_thread_id;
        state.next_thread_id += 1;
        let config = &this.config;
        let mut builder = std::thread::Builder::new().name(config.thread_name.clone());
        if let Some(size) = config.stack_size {
            builder = builder.stack_size(size);
        }
        let inner = this.clone();
        let handle = handle.clone();
        match builder.spawn(move || inner.run(id, handle)) {
            Ok(thread) => {
                state.threads += 1;
                state.searching += 1;
                state.starting += 1;
                state.running.insert(id, thread);
                Ok(())
            }
            // Nobody could ever run the queued task: the caller fails loudly instead of
            // hanging.
            Err(error) if state.threads == 0 => Err(format!(
                "ciranda: cannot spawn a blocking-pool thread{}: {error}",
                crate::builder::with_stack_size(config.stack_size)
            )),
            // Existing threads will get to the queued task when they finish theirs.
            Err(_) => Ok(()),
        }
    }

    fn run(self: Arc<Inner>, id: usize, handle: Handle) {
        /// Counts the thread out of the pool if it unwinds before doing so itself, so that
        /// shutdown never waits for a thread that is gone.
        struct Leaving<'a> {
            inner: &'a Inner,
            counted: bool,
        }
        impl Drop for Leaving<'_> {
            fn drop(&mut self) {
                if !self.counted {
                    self.inner.state.lock().threads -= 1;
                    self.inner.thread_exited.notify_all();
                }
            }
        }
        let mut leaving = Leaving {
            inner: &self,
            counted: false,
        };
        let _context = handle.enter();
        context::set_blocking_pool(Arc::as_ptr(&self));
        if let Some(start) = &self.config.on_thread_start {
            call_hook("on_thread_start", || start());
        }
        // Started by `start_thread`, which counted this thread as searching and starting.
        let mut searching = true;
        let mut state = self.state.lock();
        state.starting -= 1;
        loop {
            while let Some(task) = state.queue.pop_front() {
                self.take_queued(&mut state);
                if searching {
                    searching = false;
                    state.searching -= 1;
                    if state.needs_searcher() && !state.queue.is_empty() && !state.shutdown {
                        // Pass the baton before running a call that may block for long.
                        // (This thread is in the pool, so a refused start is no error.)
                        let _ = Inner::wake_or_start(&self, &mut state, &handle);
                    }
                }
                drop(state);
                {
                    // A `block_on` inside the call may take it off the count while it waits.
                    let _busy = context::enter_busy(&handle.shared, context::Busy::BlockingCall);
                    task.run();
                }
                self.active.deactivate();
                // A panic in the hook must not end this thread between two calls, since a
                // call queued meanwhile counts on it to take that call: contained there.
                handle.shared.notify_idle_change();
                state = self.state.lock();
            }
            if searching {
                searching = false;
                state.searching -= 1;
            }
            if state.shutdown {
                break;
            }
            state.idle += 1;
            let timed_out = loop {
                let timed_out = self
                    .work_available
                    .wait_for(&mut state, self.config.keep_alive);
                if state.wakeups > 0 {
                    // `wake_or_start` counted us as searching.
                    state.wakeups -= 1;
                    searching = true;
                    break false;
                }
                if state.shutdown || timed_out {
                    state.idle -= 1;
                    break timed_out;
                }
            };
            if timed_out && state.queue.is_empty() && !state.shutdown {
                // Idle for the whole keep-alive: leave, and let shutdown join us later.
                if let Some(me) = state.running.remove(&id) {
                    state.exited.push(me);
                }
                break;
            }
        }
        state.threads -= 1;
        state.stopping += 1;
        leaving.counted = true;
        drop(state);
        /// Counts the thread out of `stopping` once its stop hook is over (a hook's panic is
        /// contained, but count it out on any way out).
        struct Stopped<'a>(&'a Inner);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                self.0.state.lock().stopping -= 1;
                self.0.thread_exited.notify_all();
            }
        }
        let _stopped = Stopped(&self);
        if let Some(stop) = &self.config.on_thread_stop {
            call_hook("on_thread_stop", || stop());
        }
    }
}
