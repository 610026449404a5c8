//! Wakers that no primitive's author wrote: a waker whose `clone` panics, and the wakers of an
//! executor that polls a task inside `wake`, on the waking thread.
//!
//! The first kind unwinds out of the poll that clones it. Every primitive clones a waker
//! before it takes anything (or puts back what it took first), so the poll that unwinds
//! leaves no trace if it was a first poll, and a queued waiter keeps its place and its old
//! waker if it was a re-poll with a new waker.
//!
//! The second kind, [`Inline`], re-enters the primitive from inside its wake-up: every wake a
//! primitive hands out polls the woken task at once, and the task's next step (an unlock, a
//! send, a notification) wakes the next task, inline again. That is only sound if no wake-up
//! runs under the primitive's lock and its state is published before the first one runs.
//! Each scenario runs under a 10 s deadlock bound and checks that every task completed and
//! what the tasks counted.
#![cfg(not(loom))]

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, RawWaker, RawWakerVTable, Wake, Waker};

use ciranda_sync::{
    Barrier, Condition, Event, Mutex, Notify, Promise, Queue, RwLock, Semaphore, mpsc, oneshot,
};
use common::{Task, within_10s};

// ---------------------------------------------------------------------------------------------
// A waker whose clone panics

const CLONE_PANIC: &str = "expected test panic: waker clone";

/// A waker whose `clone` panics; waking or dropping it does nothing.
fn clone_panics() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        panic!("expected test panic: waker clone");
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the functions ignore the data pointer (null), and none has anything to free.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// Polls `task` once with a [`clone_panics`] waker, expecting the poll to unwind with it.
#[track_caller]
fn poll_clone_panics<F: Future>(task: &mut Task<F>) {
    let waker = clone_panics();
    let polled = catch_unwind(AssertUnwindSafe(|| task.poll_with(&waker)));
    let payload = polled.err().expect("the poll cloned the waker");
    assert_eq!(common::panic_message(&*payload), CLONE_PANIC);
}

/// Two futures made by `wait`, each polled with a [`clone_panics`] waker: `queued` on a
/// re-poll (its first poll queued it with a good waker), `first` on its first poll.
#[track_caller]
fn queued_and_first<F: Future>(wait: impl Fn() -> F) -> (Task<F>, Task<F>) {
    let mut queued = Task::new(wait());
    queued.pending();
    poll_clone_panics(&mut queued);
    let mut first = Task::new(wait());
    poll_clone_panics(&mut first);
    (queued, first)
}

#[test]
fn notify_a_waker_whose_clone_panics() {
    let notify = Notify::new();
    // `queued`'s re-poll keeps its place and its old waker; `first` never queued.
    let (mut queued, mut first) = queued_and_first(|| notify.notified());
    notify.notify_one();
    assert_eq!(queued.wakes(), 1, "the old waker was kept");
    queued.ready();
    // Nobody waits now: the permit is stored, and the unwound future takes it.
    notify.notify_one();
    first.ready();
}

#[test]
fn event_and_promise_a_waker_whose_clone_panics() {
    let event = Event::new();
    let (mut queued, mut first) = queued_and_first(|| event.wait());
    event.set();
    assert_eq!(queued.wakes(), 1, "the old waker was kept");
    queued.ready();
    first.ready();

    let promise = Promise::new();
    let (mut queued, mut first) = queued_and_first(|| promise.wait());
    promise.set(3).unwrap();
    assert_eq!(queued.wakes(), 1, "the old waker was kept");
    assert_eq!(queued.ready(), 3);
    assert_eq!(first.ready(), 3);
}

#[test]
fn semaphore_and_mutex_a_waker_whose_clone_panics() {
    // `acquire` and `lock` are `async fn`s: a poll that unwound poisons them, so each is
    // dropped after it; what matters is that it took nothing and kept nobody's place.
    let sem = Semaphore::new(0);
    let mut queued = Task::new(sem.acquire());
    queued.pending();
    poll_clone_panics(&mut queued);
    let mut first = Task::new(sem.acquire_many(2));
    poll_clone_panics(&mut first);
    let mut behind = Task::new(sem.acquire());
    behind.pending();
    drop(queued);
    drop(first);
    sem.add_permits(1);
    assert!(
        behind.is_woken(),
        "the permit went past the dropped waiters"
    );
    let permit = behind.ready().unwrap();
    assert_eq!(sem.available_permits(), 0);
    drop(permit);
    assert_eq!(sem.available_permits(), 1);

    let mutex = Mutex::new(0u32);
    let held = mutex.try_lock().unwrap();
    let (queued, first) = queued_and_first(|| mutex.lock());
    let mut behind = Task::new(mutex.lock());
    behind.pending();
    drop(queued);
    drop(first);
    drop(held);
    assert!(behind.is_woken(), "the lock went past the dropped waiters");
    *behind.ready() += 1;
    drop(behind);
    assert_eq!(*mutex.try_lock().unwrap(), 1);
}

#[test]
fn rwlock_and_condition_a_waker_whose_clone_panics() {
    let lock = RwLock::new(0u32);
    let read = lock.try_read().unwrap();
    let mut writer = Task::new(lock.write());
    writer.pending();
    poll_clone_panics(&mut writer);
    drop(writer);
    let mut first = Task::new(lock.write());
    poll_clone_panics(&mut first);
    drop(first);
    drop(read);
    *lock.try_write().expect("no writer kept its place") += 1;
    assert_eq!(*lock.try_read().unwrap(), 1);

    let mutex = Mutex::new(0u32);
    let cond = Condition::new();
    // The wait released the guard before its first poll unwound; its slot goes with it.
    let mut first = Task::new(async {
        let guard = mutex.lock().await;
        drop(cond.wait(guard).await);
    });
    poll_clone_panics(&mut first);
    drop(first);
    let mut waiter = Task::new(async {
        let guard = mutex.lock().await;
        *cond.wait(guard).await += 1;
    });
    waiter.pending();
    cond.notify_one();
    assert!(
        waiter.is_woken(),
        "the notification went to the waiter still there"
    );
    waiter.ready();
    drop(waiter);
    assert_eq!(*mutex.try_lock().unwrap(), 1);
}

#[test]
fn barrier_a_waker_whose_clone_panics() {
    let barrier = Barrier::new(2);
    // A first arrival: it did not arrive.
    let mut first = Task::new(barrier.wait());
    poll_clone_panics(&mut first);
    assert_eq!(barrier.n_waiting(), 0);
    let mut waiting = Task::new(barrier.wait());
    waiting.pending();
    // A re-poll: still one arrival, with its old waker.
    poll_clone_panics(&mut waiting);
    assert_eq!(barrier.n_waiting(), 1);
    let mut leader = Task::new(barrier.wait());
    assert!(leader.ready().is_leader());
    assert_eq!(waiting.wakes(), 1, "the old waker was kept");
    assert!(!waiting.ready().is_leader());
}

#[test]
fn queue_a_waker_whose_clone_panics() {
    let queue = Queue::new(1);
    let mut get = Task::new(queue.get());
    get.pending();
    poll_clone_panics(&mut get);
    let mut first = Task::new(queue.get());
    poll_clone_panics(&mut first);
    queue.try_put(1).unwrap();
    assert_eq!(get.wakes(), 1, "the old waker was kept");
    assert_eq!(get.ready(), 1);
    // The unwound first poll never queued: the next item is there for it.
    queue.try_put(2).unwrap();
    assert_eq!(first.ready(), 2);

    // A put on a full queue: the item stays in the future, never enqueued.
    queue.try_put(3).unwrap();
    let mut put = Task::new(queue.put(4));
    poll_clone_panics(&mut put);
    assert_eq!(queue.len(), 1);
    let mut queued_put = Task::new(queue.put(5));
    queued_put.pending();
    poll_clone_panics(&mut queued_put);
    assert_eq!(queue.try_get(), Ok(3));
    assert_eq!(queued_put.wakes(), 1, "the old waker was kept");
    queued_put.ready();
    // The first put polls again: it is behind nobody now and the queue is full.
    put.pending();
    assert_eq!(queue.try_get(), Ok(5));
    assert!(put.is_woken());
    put.ready();
    assert_eq!(queue.try_get(), Ok(4));

    // join: five items taken, none done yet.
    let mut join = Task::new(queue.join());
    poll_clone_panics(&mut join);
    join.pending();
    poll_clone_panics(&mut join);
    for _ in 0..5 {
        queue.task_done();
    }
    assert_eq!(join.wakes(), 1, "the old waker was kept");
    join.ready();
}

#[test]
fn channels_a_waker_whose_clone_panics() {
    let (tx, rx) = oneshot::channel::<u32>();
    let mut rx = Task::new(rx);
    poll_clone_panics(&mut rx);
    rx.pending();
    poll_clone_panics(&mut rx);
    tx.send(1).unwrap();
    assert_eq!(rx.wakes(), 1, "the old waker was kept");
    assert_eq!(rx.ready(), Ok(1));

    let (mut tx, rx) = oneshot::channel::<u32>();
    let waker = clone_panics();
    let polled = catch_unwind(AssertUnwindSafe(|| {
        tx.poll_closed(&mut Context::from_waker(&waker))
    }));
    assert_eq!(common::panic_message(&*polled.unwrap_err()), CLONE_PANIC);
    drop(rx);
    assert!(tx.is_closed());

    // A ring channel, a bounded one too large for a ring, and an unbounded one.
    let (tx, rx) = mpsc::channel::<u32>(1);
    let mut rx = Task::new(RecvAll(rx));
    poll_clone_panics(&mut rx);
    tx.try_send(1).unwrap();
    let mut send = Task::new(tx.send(2));
    poll_clone_panics(&mut send);
    drop(send);
    drop(tx);
    assert_eq!(rx.ready(), [1]);

    let (tx, rx) = mpsc::channel::<[u8; 4096]>(64);
    let mut rx = Task::new(RecvAll(rx));
    poll_clone_panics(&mut rx);
    tx.try_send([1; 4096]).unwrap();
    drop(tx);
    assert_eq!(rx.ready().len(), 1);

    let (tx, rx) = mpsc::unbounded_channel::<u32>();
    let mut rx = Task::new(RecvAll(rx));
    poll_clone_panics(&mut rx);
    tx.send(1).unwrap();
    drop(tx);
    assert_eq!(rx.ready(), [1]);
}

/// The two receiver types [`RecvAll`] drains.
trait PollRecv: Unpin {
    type Item;
    fn poll_next(&mut self, cx: &mut Context<'_>) -> std::task::Poll<Option<Self::Item>>;
}

impl<T> PollRecv for mpsc::Receiver<T> {
    type Item = T;
    fn poll_next(&mut self, cx: &mut Context<'_>) -> std::task::Poll<Option<T>> {
        self.poll_recv(cx)
    }
}

impl<T> PollRecv for mpsc::UnboundedReceiver<T> {
    type Item = T;
    fn poll_next(&mut self, cx: &mut Context<'_>) -> std::task::Poll<Option<T>> {
        self.poll_recv(cx)
    }
}

/// Receives every message of a channel; a future that can be polled again after a poll that
/// unwound (an `async fn` could not).
struct RecvAll<R>(R);

impl<R: PollRecv> Future for RecvAll<R> {
    type Output = Vec<R::Item>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> std::task::Poll<Vec<R::Item>> {
        let rx = &mut self.get_mut().0;
        let mut got = Vec::new();
        loop {
            match rx.poll_next(cx) {
                std::task::Poll::Ready(Some(message)) => got.push(message),
                std::task::Poll::Ready(None) => return std::task::Poll::Ready(got),
                // Messages taken in a poll that then waits would be lost: none are sent
                // between the polls here.
                std::task::Poll::Pending => {
                    assert!(got.is_empty());
                    return std::task::Poll::Pending;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// An executor that polls inside `wake`

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A task of an executor that polls it on whichever thread wakes it, inside `wake`.
struct Inline {
    fut: StdMutex<Option<BoxFuture>>,
    /// Woken since its last poll began: to be polled again.
    woken: AtomicBool,
}

impl Inline {
    /// Spawns `fut` and polls it at once, on this thread.
    fn spawn(fut: impl Future<Output = ()> + Send + 'static) -> Arc<Inline> {
        let fut: BoxFuture = Box::pin(fut);
        let task = Arc::new(Inline {
            fut: StdMutex::new(Some(fut)),
            woken: AtomicBool::new(false),
        });
        task.run();
        task
    }

    fn is_done(&self) -> bool {
        self.fut.lock().unwrap().is_none()
    }

    /// Polls the task until nobody woke it since its last poll began. A wake-up during a poll
    /// (from inside it, on this thread, or from another thread) is left to that poll, which
    /// looks at `woken` again once it lets go of the future.
    fn run(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        while self.woken.load(SeqCst) {
            let Ok(mut slot) = self.fut.try_lock() else {
                return;
            };
            if !self.woken.swap(false, SeqCst) {
                continue;
            }
            let Some(fut) = slot.as_mut() else {
                return;
            };
            let waker = Waker::from(self.clone());
            if fut
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
            }
        }
    }
}

impl Wake for Inline {
    fn wake(self: Arc<Self>) {
        self.run();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.run();
    }
}

/// Spawns `n` inline tasks, the `i`th made by `make(i)`; none of them may finish yet.
fn spawn_waiting<F>(n: usize, make: impl Fn(usize) -> F) -> Vec<Arc<Inline>>
where
    F: Future<Output = ()> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| Inline::spawn(make(i))).collect();
    assert!(tasks.iter().all(|t| !t.is_done()), "a task did not wait");
    tasks
}

#[track_caller]
fn assert_all_done(tasks: &[Arc<Inline>]) {
    let left = tasks.iter().filter(|t| !t.is_done()).count();
    assert_eq!(left, 0, "tasks never completed (a lost wake-up)");
}

#[test]
fn inline_wake_ups_pass_a_mutex_and_an_rwlock_down_a_chain() {
    within_10s(|| {
        // The guard is dropped on another thread: the whole chain runs there.
        let mutex = Arc::new(Mutex::new(0usize));
        let held = mutex.clone().try_lock_owned().unwrap();
        let tasks = spawn_waiting(20, |_| {
            let mutex = mutex.clone();
            async move {
                *mutex.lock().await += 1;
            }
        });
        std::thread::spawn(move || drop(held)).join().unwrap();
        assert_all_done(&tasks);
        assert_eq!(*mutex.try_lock().unwrap(), 20);

        // Writers and readers in turn, behind a writer.
        let lock = Arc::new(RwLock::new(0usize));
        let held = lock.try_write().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_waiting(21, |i| {
            let (lock, seen) = (lock.clone(), seen.clone());
            async move {
                if i % 3 == 0 {
                    *lock.write().await += 1;
                } else {
                    seen.fetch_add(*lock.read().await, SeqCst);
                }
            }
        });
        drop(held);
        assert_all_done(&tasks);
        assert_eq!(*lock.try_read().unwrap(), 7);
        // The readers between the (k+1)th and the (k+2)th writer saw k + 1 writes.
        let expected: usize = (0..21).filter(|i| i % 3 != 0).map(|i| i / 3 + 1).sum();
        assert_eq!(seen.load(SeqCst), expected);
    });
}

#[test]
fn inline_wake_ups_serve_semaphore_waiters_in_order() {
    within_10s(|| {
        let sem = Arc::new(Semaphore::new(0));
        let order = Arc::new(StdMutex::new(Vec::new()));
        let tasks = spawn_waiting(20, |i| {
            let (sem, order) = (sem.clone(), order.clone());
            async move {
                let permit = sem.acquire_many(1 + i % 3).await.unwrap();
                order.lock().unwrap().push(i);
                drop(permit);
            }
        });
        sem.add_permits(3);
        assert_all_done(&tasks);
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn inline_wake_ups_relay_notifications_events_and_a_promise() {
    within_10s(|| {
        // Each task passes its notify_one on; the last one's is stored as the permit.
        let notify = Arc::new(Notify::new());
        let count = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_waiting(20, |_| {
            let (notify, count) = (notify.clone(), count.clone());
            async move {
                notify.notified().await;
                count.fetch_add(1, SeqCst);
                notify.notify_one();
            }
        });
        notify.notify_one();
        assert_all_done(&tasks);
        assert_eq!(count.load(SeqCst), 20);
        Task::new(notify.notified()).ready();

        // The first task woken clears the event at once: every waiter was released all the
        // same.
        let event = Arc::new(Event::new());
        let count = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_waiting(20, |_| {
            let (event, count) = (event.clone(), count.clone());
            async move {
                event.wait().await;
                event.clear();
                count.fetch_add(1, SeqCst);
            }
        });
        event.set();
        assert_all_done(&tasks);
        assert_eq!(count.load(SeqCst), 20);
        assert!(!event.is_set());

        let promise = Arc::new(Promise::new());
        let sum = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_waiting(20, |_| {
            let (promise, sum) = (promise.clone(), sum.clone());
            async move {
                sum.fetch_add(promise.wait().await, SeqCst);
            }
        });
        promise.set(7).unwrap();
        assert_all_done(&tasks);
        assert_eq!(sum.load(SeqCst), 140);
    });
}

#[test]
fn inline_wake_ups_through_a_condition_and_a_barrier() {
    within_10s(|| {
        // Woken by notify_all while the notifier still holds the mutex: each task queues for
        // it from inside the wake-up, and the unlock then passes it down the chain.
        let state = Arc::new((Mutex::new(0usize), Condition::new()));
        let tasks = spawn_waiting(20, |_| {
            let state = state.clone();
            async move {
                let (mutex, cond) = &*state;
                let guard = mutex.lock().await;
                *cond.wait_while(guard, |v| *v == 0).await += 1;
            }
        });
        let mut guard = state.0.try_lock().unwrap();
        *guard = 1;
        state.1.notify_all();
        assert!(
            tasks.iter().all(|t| !t.is_done()),
            "the mutex is still held"
        );
        drop(guard);
        assert_all_done(&tasks);
        assert_eq!(*state.0.try_lock().unwrap(), 21);

        // Two generations: the tasks released by the first arrive for the second from
        // inside the leader's wake-ups.
        let barrier = Arc::new(Barrier::new(21));
        let leaders = Arc::new(AtomicUsize::new(0));
        let tasks = spawn_waiting(20, |_| {
            let (barrier, leaders) = (barrier.clone(), leaders.clone());
            async move {
                for _ in 0..2 {
                    if barrier.wait().await.is_leader() {
                        leaders.fetch_add(1, SeqCst);
                    }
                }
            }
        });
        assert!(Task::new(barrier.wait()).ready().is_leader());
        assert_eq!(
            barrier.n_waiting(),
            20,
            "all arrived for the second generation"
        );
        assert!(Task::new(barrier.wait()).ready().is_leader());
        assert_all_done(&tasks);
        assert_eq!(leaders.load(SeqCst), 0);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn inline_wake_ups_between_queue_producers_consumers_and_join() {
    within_10s(|| {
        let queue = Arc::new(Queue::new(1));
        let sum = Arc::new(AtomicUsize::new(0));
        // A queue of one, full: nine producers wait for room.
        queue.try_put(0).unwrap();
        let producers = spawn_waiting(9, |i| {
            let queue = queue.clone();
            async move { queue.put(i + 1).await }
        });
        let joined = {
            let queue = queue.clone();
            Inline::spawn(async move { queue.join().await })
        };
        assert!(!joined.is_done());
        // Consumers run one at a time (each one wakes the next producer inline).
        let consumers: Vec<_> = (0..10)
            .map(|_| {
                let (queue, sum) = (queue.clone(), sum.clone());
                Inline::spawn(async move {
                    sum.fetch_add(queue.get().await, SeqCst);
                    queue.task_done();
                })
            })
            .collect();
        assert_all_done(&producers);
        assert_all_done(&consumers);
        assert!(joined.is_done(), "join released by the last task_done");
        assert_eq!(sum.load(SeqCst), 45);
        assert!(queue.is_empty());
    });
}

#[test]
fn inline_wake_ups_down_a_chain_of_oneshots_and_across_channels() {
    within_10s(|| {
        let (first, mut rx) = oneshot::channel::<usize>();
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (tx, next) = oneshot::channel();
            let from = core::mem::replace(&mut rx, next);
            tasks.push(Inline::spawn(async move {
                tx.send(from.await.unwrap() + 1).unwrap();
            }));
        }
        first.send(0).unwrap();
        assert_all_done(&tasks);
        assert_eq!(rx.try_recv(), Ok(20));

        // A producer and a consumer, each woken (and polled) by the other's operation.
        let sum = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel::<usize>(1);
        let consumer = {
            let sum = sum.clone();
            Inline::spawn(async move {
                while let Some(i) = rx.recv().await {
                    sum.fetch_add(i, SeqCst);
                }
            })
        };
        let producer = Inline::spawn(async move {
            for i in 0..100 {
                tx.send(i).await.unwrap();
            }
        });
        assert_all_done(&[producer, consumer]);
        assert_eq!(sum.load(SeqCst), 4950);

        let sum = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::channel::<[u8; 4096]>(64);
        let consumer = {
            let sum = sum.clone();
            Inline::spawn(async move {
                while let Some(message) = rx.recv().await {
                    sum.fetch_add(usize::from(message[0]), SeqCst);
                }
            })
        };
        let producer = Inline::spawn(async move {
            for i in 0..100u8 {
                tx.send([i; 4096]).await.unwrap();
            }
        });
        assert_all_done(&[producer, consumer]);
        assert_eq!(sum.load(SeqCst), 4950);

        let sum = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = mpsc::unbounded_channel::<usize>();
        let consumer = {
            let sum = sum.clone();
            Inline::spawn(async move {
                while let Some(i) = rx.recv().await {
                    sum.fetch_add(i, SeqCst);
                }
            })
        };
        for i in 0..100 {
            tx.send(i).unwrap();
        }
        drop(tx);
        assert_all_done(&[consumer]);
        assert_eq!(sum.load(SeqCst), 4950);
    });
}
