//! A waker that panics, registered with a ciranda sync primitive (`Notify`, `Event`, `Mutex`,
//! `Semaphore`, `Barrier`, `Condition`, `Promise`, `Queue`, `oneshot`, `mpsc`).
//!
//! Whoever triggers the wake-up runs that waker; the panic may surface there (in a task it
//! becomes that task's `JoinError`), but it must not lose anybody else's wake-up, corrupt
//! the primitive, or hurt the runtime: every other waiter is still released, the primitive
//! keeps working and every `JoinHandle` resolves.
//!
//! The tests at the end poll by hand and cover every remaining waking operation: the trigger
//! gets the waker's panic, but the state it changed is published before any waker runs (a
//! closed channel reads as closed, a message or a leader's result is not lost).

use ciranda::Runtime;
use ciranda::sync::{
    Barrier, Condition, Event, Mutex, Notify, Promise, Queue, Semaphore, mpsc, oneshot,
};
use ciranda::task::JoinHandle;
use ciranda::time::timeout;
use ciranda_tests::support::quiet_expected_panics;
use futures_util::FutureExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

const MARK: &str = "expected test panic";

fn runtime() -> Runtime {
    quiet_expected_panics(MARK);
    Runtime::builder()
        .worker_threads(2)
        .on_unhandled_panic(|_| {})
        .build()
        .unwrap()
}

struct PanicWaker(AtomicUsize);
impl Wake for PanicWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
        panic!("{MARK}: waker");
    }
}

/// A future polled once with a panicking waker, so that it sits in the primitive's queue.
struct Parked<'a, T> {
    fut: Pin<Box<dyn Future<Output = T> + Send + 'a>>,
    wakes: Arc<PanicWaker>,
}

fn park<'a, T>(fut: impl Future<Output = T> + Send + 'a) -> Parked<'a, T> {
    let wakes = Arc::new(PanicWaker(AtomicUsize::new(0)));
    let waker = Waker::from(wakes.clone());
    let mut fut: Pin<Box<dyn Future<Output = T> + Send + 'a>> = Box::pin(fut);
    assert!(
        fut.as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending(),
        "the parked future must wait"
    );
    Parked { fut, wakes }
}

impl<T> Parked<'_, T> {
    fn wakes(&self) -> usize {
        self.wakes.0.load(SeqCst)
    }
    /// Polls again with a harmless waker.
    fn poll_now(&mut self) -> Poll<T> {
        self.fut
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
    }
}

/// Every handle finishes within a generous timeout; returns how many ended in a panic.
fn join_all<T: Send + 'static>(rt: &Runtime, handles: Vec<JoinHandle<T>>) -> usize {
    rt.block_on(async move {
        let mut panics = 0;
        for h in handles {
            match timeout(Duration::from_secs(10), h).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    assert!(e.is_panic(), "{e}");
                    panics += 1;
                }
                Err(_) => panic!("a waiter was never woken (lost wake-up)"),
            }
        }
        panics
    })
}

/// `n` tasks, each counted in `ready` just before it waits on `wait`.
fn waiters<S: Send + Sync + 'static, F>(
    rt: &Runtime,
    n: usize,
    shared: &Arc<S>,
    wait: impl Fn(Arc<S>) -> F,
) -> (Vec<JoinHandle<()>>, Arc<AtomicUsize>)
where
    F: Future<Output = ()> + Send + 'static,
{
    let ready = Arc::new(AtomicUsize::new(0));
    let handles = (0..n)
        .map(|_| {
            let fut = wait(shared.clone());
            let ready = ready.clone();
            rt.spawn(async move {
                ready.fetch_add(1, SeqCst);
                fut.await
            })
        })
        .collect();
    (handles, ready)
}

fn wait_count(ready: &AtomicUsize, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ready.load(SeqCst) < n {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(1));
    }
    // Let each of them reach its first poll of the primitive.
    std::thread::sleep(Duration::from_millis(20));
}

fn still_works(rt: &Runtime) {
    let n = rt.block_on(async {
        let hs: Vec<_> = (0..100).map(|i| ciranda::spawn(async move { i })).collect();
        let mut s = 0;
        for h in hs {
            s += h.await.unwrap();
        }
        s
    });
    assert_eq!(n, 4950);
}

#[test]
fn notify_waiters_wakes_everyone_despite_a_panicking_waker() {
    let rt = runtime();
    let notify = Arc::new(Notify::new());
    let parked = park(notify.notified());
    // `notified()` is created before `notify_waiters`, so these count even if not yet polled.
    let (handles, ready) = waiters(&rt, 8, &notify, |n| async move {
        let fut = n.notified();
        fut.await
    });
    wait_count(&ready, 8);
    let n = notify.clone();
    let trigger = rt.spawn(async move { n.notify_waiters() });
    // The waker's panic unwinds into the task that triggered the wake-up, once the others
    // are woken.
    assert_eq!(join_all(&rt, vec![trigger]), 1);
    assert_eq!(parked.wakes(), 1);
    assert_eq!(join_all(&rt, handles), 0);
    still_works(&rt);
}

#[test]
fn notify_one_granted_to_a_panicking_waiter_passes_on_when_it_is_dropped() {
    let rt = runtime();
    let notify = Arc::new(Notify::new());
    let parked = park(notify.notified());
    let (handles, ready) = waiters(&rt, 1, &notify, |n| async move { n.notified().await });
    wait_count(&ready, 1);
    let n = notify.clone();
    let _ = join_all(&rt, vec![rt.spawn(async move { n.notify_one() })]);
    assert_eq!(parked.wakes(), 1);
    // The panicking waiter was first (FIFO) and got the notification; dropping it hands the
    // notification to the next waiter.
    drop(parked);
    assert_eq!(join_all(&rt, handles), 0);
}

#[test]
fn event_set_releases_everyone_despite_a_panicking_waker() {
    let rt = runtime();
    let event = Arc::new(Event::new());
    let mut parked = park(event.wait());
    let (handles, ready) = waiters(&rt, 8, &event, |e| async move { e.wait().await });
    wait_count(&ready, 8);
    let e = event.clone();
    let trigger = rt.spawn(async move { e.set() });
    assert_eq!(
        join_all(&rt, vec![trigger]),
        1,
        "the waker's panic unwinds into the task that triggered the wake-up"
    );
    assert_eq!(parked.wakes(), 1);
    assert!(parked.poll_now().is_ready());
    assert_eq!(join_all(&rt, handles), 0);
    still_works(&rt);
}

#[test]
fn promise_set_releases_everyone_despite_a_panicking_waker() {
    let rt = runtime();
    let promise = Arc::new(Promise::<u32>::new());
    let mut parked = park(promise.wait());
    let (handles, ready) = waiters(&rt, 8, &promise, |p| async move {
        assert_eq!(p.wait().await, 7);
    });
    wait_count(&ready, 8);
    let p = promise.clone();
    let trigger = rt.spawn(async move { p.set(7).unwrap() });
    assert_eq!(
        join_all(&rt, vec![trigger]),
        1,
        "the waker's panic unwinds into the task that triggered the wake-up"
    );
    assert_eq!(parked.wakes(), 1);
    assert_eq!(parked.poll_now(), Poll::Ready(7));
    assert_eq!(join_all(&rt, handles), 0);
}

#[test]
fn semaphore_close_fails_every_waiter_despite_a_panicking_waker() {
    let rt = runtime();
    let sem = Arc::new(Semaphore::new(0));
    let parked = park(sem.acquire());
    let (handles, ready) = waiters(&rt, 8, &sem, |s| async move {
        assert!(s.acquire().await.is_err());
    });
    wait_count(&ready, 8);
    let s = sem.clone();
    let trigger = rt.spawn(async move { s.close() });
    assert_eq!(
        join_all(&rt, vec![trigger]),
        1,
        "the waker's panic unwinds into the task that triggered the wake-up"
    );
    assert_eq!(parked.wakes(), 1);
    drop(parked);
    assert_eq!(join_all(&rt, handles), 0);
}

#[test]
fn a_mutex_handed_to_a_panicking_waiter_passes_on_when_it_is_dropped() {
    let rt = runtime();
    let mutex = Arc::new(Mutex::new(0u32));
    let guard = mutex.clone().try_lock_owned().unwrap();
    let parked = park(mutex.lock());
    let (handles, ready) = waiters(&rt, 4, &mutex, |m| async move {
        *m.lock().await += 1;
    });
    wait_count(&ready, 4);
    // Unlock from a task: the guard's drop wakes the panicking waiter (FIFO front).
    let unlocker = rt.spawn(async move { drop(guard) });
    let _ = join_all(&rt, vec![unlocker]);
    assert_eq!(parked.wakes(), 1);
    // Granted to the parked future; dropping it passes the lock on, nothing is lost.
    drop(parked);
    assert_eq!(join_all(&rt, handles), 0);
    assert_eq!(*mutex.try_lock().unwrap(), 4);
}

#[test]
fn a_guard_dropped_by_a_panic_wakes_a_panicking_waiter_without_aborting() {
    // The unlock runs in a destructor while the owner's task unwinds; a second panic
    // escaping it would abort the whole process. The waker's panic is dropped instead,
    // and the owner's panic is what its JoinHandle reports.
    let rt = runtime();
    let mutex = Arc::new(Mutex::new(0u32));
    let guard = mutex.clone().try_lock_owned().unwrap();
    let parked = park(mutex.lock());
    let (handles, ready) = waiters(&rt, 2, &mutex, |m| async move {
        *m.lock().await += 1;
    });
    wait_count(&ready, 2);
    let owner = rt.spawn(async move {
        let _guard = guard;
        panic!("{MARK}: owner");
    });
    let err = rt.block_on(owner).unwrap_err();
    assert!(err.panic_message().unwrap().contains("owner"), "{err}");
    assert_eq!(parked.wakes(), 1);
    drop(parked);
    assert_eq!(join_all(&rt, handles), 0);
    assert_eq!(*mutex.try_lock().unwrap(), 2);
}

#[test]
fn a_barrier_releases_everyone_despite_a_panicking_waker() {
    let rt = runtime();
    let barrier = Arc::new(Barrier::new(10));
    let parked = park(barrier.wait());
    let (handles, ready) = waiters(&rt, 8, &barrier, |b| async move {
        b.wait().await;
    });
    wait_count(&ready, 8);
    // The tenth arrival releases the nine others, the panicking one first.
    let b = barrier.clone();
    let trigger = rt.spawn(async move { b.wait().await });
    assert_eq!(
        join_all(&rt, vec![trigger]),
        1,
        "the waker's panic unwinds into the task that triggered the wake-up"
    );
    assert_eq!(parked.wakes(), 1);
    assert_eq!(join_all(&rt, handles), 0);
}

#[test]
fn condition_notify_all_wakes_everyone_despite_a_panicking_waker() {
    let rt = runtime();
    let state = Arc::new((Mutex::new(0u32), Condition::new()));
    let parked = {
        let s = state.clone();
        park(async move {
            let g = s.0.lock().await;
            drop(s.1.wait(g).await);
        })
    };
    let (handles, ready) = waiters(&rt, 8, &state, |s| async move {
        let g = s.0.lock().await;
        let mut g = s.1.wait_while(g, |v| *v == 0).await;
        *g += 1;
    });
    wait_count(&ready, 8);
    let s = state.clone();
    let notifier = rt.spawn(async move {
        // Every waiter released the mutex inside `wait`, so all are registered now.
        let mut g = s.0.lock().await;
        *g = 1;
        s.1.notify_all();
    });
    assert_eq!(
        join_all(&rt, vec![notifier]),
        1,
        "the waker's panic unwinds into the task that triggered the wake-up"
    );
    assert_eq!(parked.wakes(), 1);
    drop(parked);
    assert_eq!(join_all(&rt, handles), 0);
    assert_eq!(*state.0.try_lock().unwrap(), 9);
}

#[test]
fn queue_get_with_a_panicking_waker_keeps_the_item() {
    let rt = runtime();
    let queue = Arc::new(Queue::<u32>::new(0));
    let parked = park(queue.get());
    let (handles, ready) = waiters(&rt, 2, &queue, |q| async move {
        let v = q.get().await;
        assert!(v == 1 || v == 2);
    });
    wait_count(&ready, 2);
    let q = queue.clone();
    let _ = join_all(
        &rt,
        vec![rt.spawn(async move {
            q.put(1).await;
        })],
    );
    assert_eq!(parked.wakes(), 1);
    // The item handed to the dropped getter goes to the next one.
    drop(parked);
    let q = queue.clone();
    rt.block_on(async move { q.put(2).await });
    assert_eq!(join_all(&rt, handles), 0);
    assert!(queue.is_empty());
}

#[test]
fn queue_get_that_wakes_a_panicking_putter_keeps_its_item() {
    // A full queue of one, a putter parked with a panicking waker: the `get` that admits the
    // putter's item panics while waking it. The item that `get` took must not be lost: it
    // goes back to the front, ahead of the admitted one.
    for use_try_get in [true, false] {
        let rt = runtime();
        let queue = Arc::new(Queue::<u32>::new(1));
        queue.try_put(1).unwrap();
        let mut putter = park(queue.put(2));
        let q = queue.clone();
        let got = rt.block_on(rt.spawn(async move {
            if use_try_get {
                q.try_get().unwrap()
            } else {
                q.get().await
            }
        }));
        let err = got.expect_err("the putter's waker panics inside get");
        assert!(err.is_panic(), "{err}");
        assert_eq!(putter.wakes(), 1);
        // The taken item is back at the front; the admitted put brings its item in at its
        // next poll.
        assert!(putter.poll_now().is_ready());
        assert_eq!(queue.try_get().unwrap(), 1);
        assert_eq!(queue.try_get().unwrap(), 2);
        assert!(queue.is_empty());
    }
}

#[test]
fn channels_deliver_despite_a_panicking_receiver_waker() {
    let rt = runtime();
    // oneshot
    let (tx, rx) = oneshot::channel::<u32>();
    let mut parked = park(rx);
    let _ = join_all(&rt, vec![rt.spawn(async move { tx.send(5).unwrap() })]);
    assert_eq!(parked.wakes(), 1);
    assert_eq!(parked.poll_now(), Poll::Ready(Ok(5)));
    // bounded and unbounded mpsc
    let (tx, mut rx) = mpsc::channel::<u32>(4);
    {
        let mut parked = park(rx.recv());
        let t = tx.clone();
        let _ = join_all(&rt, vec![rt.spawn(async move { t.send(1).await.unwrap() })]);
        assert_eq!(parked.wakes(), 1);
        assert_eq!(parked.poll_now(), Poll::Ready(Some(1)));
    }
    let (utx, mut urx) = mpsc::unbounded_channel::<u32>();
    {
        let mut parked = park(urx.recv());
        let t = utx.clone();
        let _ = join_all(&rt, vec![rt.spawn(async move { t.send(2).unwrap() })]);
        assert_eq!(parked.wakes(), 1);
        assert_eq!(parked.poll_now(), Poll::Ready(Some(2)));
    }
    // The channels keep working afterwards.
    let got = rt.block_on(async move {
        let producer = ciranda::spawn(async move {
            for i in 0..100 {
                tx.send(i).await.unwrap();
                utx.send(i).unwrap();
            }
        });
        let mut sum = 0;
        for _ in 0..100 {
            sum += rx.recv().await.unwrap() + urx.recv().await.unwrap();
        }
        producer.await.unwrap();
        sum
    });
    assert_eq!(got, 2 * 4950);
    still_works(&rt);
}

/// Runs `f`, which must panic with a waker's panic (the trigger of a wake-up).
fn expect_waker_panic<R>(f: impl FnOnce() -> R) {
    quiet_expected_panics(MARK);
    let payload = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("the wake-up did not run the panicking waker"),
        Err(payload) => payload,
    };
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains(MARK), "unexpected panic: {message}");
}

fn now<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
    Pin::new(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn mpsc_recv_that_frees_a_slot_for_a_panicking_sender_keeps_its_message() {
    // Issue 15, item 3: `recv`/`try_recv` popped the message, then freeing its slot woke a
    // parked sender whose waker panicked, and the message was lost.
    for use_try_recv in [true, false] {
        let (tx, mut rx) = mpsc::channel::<u32>(1);
        tx.try_send(1).unwrap();
        let mut sender = park(tx.send(2));
        expect_waker_panic(|| {
            if use_try_recv {
                rx.try_recv().map_err(|e| e.to_string())
            } else {
                let mut recv = Box::pin(rx.recv());
                match now(&mut recv) {
                    Poll::Ready(v) => v.ok_or_else(|| "closed".to_string()),
                    Poll::Pending => Err("pending".to_string()),
                }
            }
        });
        assert_eq!(sender.wakes(), 1);
        // The message is still the next one; the woken sender got the freed slot.
        assert_eq!(rx.try_recv(), Ok(1));
        assert!(matches!(sender.poll_now(), Poll::Ready(Ok(()))));
        drop(sender);
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
        // The bound is intact: exactly one slot, free again.
        assert_eq!(tx.capacity(), 1);
        tx.try_send(3).unwrap();
        assert!(tx.try_send(4).is_err());
        assert_eq!(rx.try_recv(), Ok(3));
    }
}

#[test]
fn mpsc_close_publishes_the_closed_state_before_waking_a_panicking_waiter() {
    // Issue 15, item 3: `close()` and the receiver's drop woke parked senders before setting
    // the state `Sender::is_closed()`/`closed()` read, so a panicking waker left it unset.
    for drop_it in [false, true] {
        let (tx, rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let mut sender = park(tx.send(1));
        let mut closed = park(tx.closed());
        let mut rx = Some(rx);
        expect_waker_panic(|| {
            if drop_it {
                drop(rx.take());
            } else {
                rx.as_mut().unwrap().close();
            }
        });
        assert!(tx.is_closed(), "drop_it={drop_it}");
        assert!(
            tx.closed().now_or_never().is_some(),
            "closed() completes (drop_it={drop_it})"
        );
        // Both parked waiters were woken (one panic reported, the other dropped) and see it.
        assert_eq!((sender.wakes(), closed.wakes()), (1, 1));
        match sender.poll_now() {
            Poll::Ready(Err(e)) => assert_eq!(e.0, 1, "the failed send's value comes back"),
            other => panic!("the parked send fails: {:?}", other.map(|r| r.is_ok())),
        }
        assert!(closed.poll_now().is_ready());
        if let Some(mut rx) = rx {
            // Closing keeps what was buffered.
            assert_eq!(rx.try_recv(), Ok(0));
            assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
        }
    }
    // Unbounded: only `closed()` waiters to wake.
    for drop_it in [false, true] {
        let (tx, rx) = mpsc::unbounded_channel::<u32>();
        let mut closed = park(tx.closed());
        let mut rx = Some(rx);
        expect_waker_panic(|| {
            if drop_it {
                drop(rx.take());
            } else {
                rx.as_mut().unwrap().close();
            }
        });
        assert!(tx.is_closed());
        assert_eq!(closed.wakes(), 1);
        assert!(closed.poll_now().is_ready());
        assert!(tx.send(1).is_err());
    }
}

#[test]
fn a_barrier_leader_whose_wake_up_panics_still_returns_its_result() {
    let barrier = Barrier::new(2);
    let mut other = park(barrier.wait());
    let mut leader = Box::pin(barrier.wait());
    expect_waker_panic(|| now(&mut leader));
    assert_eq!(other.wakes(), 1);
    match now(&mut leader) {
        Poll::Ready(r) => assert!(r.is_leader(), "the leader's result is kept"),
        Poll::Pending => panic!("the generation was released"),
    }
    match other.poll_now() {
        Poll::Ready(r) => assert!(!r.is_leader()),
        Poll::Pending => panic!("released"),
    }
    // The barrier is reusable.
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn oneshot_wake_ups_publish_state_before_a_panicking_waker() {
    // Receiver::close and the receiver's drop wake the sender's `closed()`.
    for drop_it in [false, true] {
        let (mut tx, rx) = oneshot::channel::<u32>();
        let mut closed = park(std::future::poll_fn(move |cx| {
            tx.poll_closed(cx).map(|()| tx.is_closed())
        }));
        let mut rx = Some(rx);
        expect_waker_panic(|| {
            if drop_it {
                drop(rx.take());
            } else {
                rx.as_mut().unwrap().close();
            }
        });
        assert_eq!(closed.wakes(), 1);
        assert_eq!(closed.poll_now(), Poll::Ready(true));
    }
    // The sender's drop wakes the receiver, which then sees the error.
    let (tx, rx) = oneshot::channel::<u32>();
    let mut parked = park(rx);
    expect_waker_panic(|| drop(tx));
    assert_eq!(parked.wakes(), 1);
    assert!(matches!(parked.poll_now(), Poll::Ready(Err(_))));
}

#[test]
fn every_other_waking_operation_publishes_its_state_before_a_panicking_waker() {
    // Semaphore: `add_permits` and a permit's drop hand permits to the parked waiter.
    let sem = Semaphore::new(0);
    let mut parked = park(sem.acquire_many(2));
    sem.add_permits(1);
    assert_eq!(parked.wakes(), 0, "a partly served waiter is not woken");
    expect_waker_panic(|| sem.add_permits(3));
    assert_eq!(parked.wakes(), 1);
    match parked.poll_now() {
        Poll::Ready(Ok(p)) => assert_eq!(p.num_permits(), 2),
        _ => panic!("granted"),
    }
    drop(parked);
    assert_eq!(sem.available_permits(), 4);
    let permit = sem.try_acquire_many(4).unwrap();
    let mut parked = park(sem.acquire());
    expect_waker_panic(|| drop(permit));
    assert!(matches!(parked.poll_now(), Poll::Ready(Ok(_))));
    drop(parked);
    assert_eq!(sem.available_permits(), 4);

    // RwLock: a writer's unlock wakes a parked reader; the last reader's wakes a writer.
    let lock = ciranda::sync::RwLock::new(0u32);
    let write = lock.try_write().unwrap();
    let mut reader = park(async { *lock.read().await });
    expect_waker_panic(|| drop(write));
    assert_eq!(reader.poll_now(), Poll::Ready(0));
    drop(reader);
    let read = lock.try_read().unwrap();
    let mut writer = park(async {
        *lock.write().await += 1;
    });
    expect_waker_panic(|| drop(read));
    assert_eq!(writer.poll_now(), Poll::Ready(()));
    drop(writer);
    assert_eq!(*lock.try_read().unwrap(), 1);

    // Condition: notify_one.
    let mutex = Mutex::new(0u32);
    let cond = Condition::new();
    let mut waiter = park(async {
        let g = mutex.lock().await;
        *cond.wait(g).await += 1;
    });
    expect_waker_panic(|| cond.notify_one());
    assert_eq!(waiter.poll_now(), Poll::Ready(()));
    drop(waiter);
    assert_eq!(*mutex.try_lock().unwrap(), 1);

    // Queue: task_done releases a parked join; a put hands its item to a parked get.
    let queue = Queue::<u32>::new(0);
    queue.try_put(1).unwrap();
    assert_eq!(queue.try_get(), Ok(1));
    let mut join = park(queue.join());
    expect_waker_panic(|| queue.task_done());
    assert_eq!(join.poll_now(), Poll::Ready(()));
    let mut get = park(queue.get());
    expect_waker_panic(|| queue.try_put(2));
    assert_eq!(get.poll_now(), Poll::Ready(2));

    // Notify: notify_one grants the parked waiter.
    let notify = Notify::new();
    let mut parked = park(notify.notified());
    expect_waker_panic(|| notify.notify_one());
    assert_eq!(parked.poll_now(), Poll::Ready(()));

    // mpsc: a send and the last sender's drop wake the parked receiver.
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let mut recv = park(rx.recv());
    expect_waker_panic(|| tx.try_send(5));
    assert_eq!(recv.poll_now(), Poll::Ready(Some(5)));
    drop(recv);
    let mut recv = park(rx.recv());
    expect_waker_panic(|| drop(tx));
    assert_eq!(recv.poll_now(), Poll::Ready(None));
    let (utx, mut urx) = mpsc::unbounded_channel::<u32>();
    let mut recv = park(urx.recv());
    expect_waker_panic(|| drop(utx));
    assert_eq!(recv.poll_now(), Poll::Ready(None));
}
