//! Wakers that call back into the primitive they are registered with (issue 15, item 1).
//!
//! A `Waker`'s `clone` and `drop` are foreign code. Here a waker's `clone` calls into the same
//! primitive (`notify_one`, `set`, `add_permits`, dropping a guard, `try_put`, `send`, ...), or
//! the waker owns something whose drop does (a permit, a guard, a sender), and is dropped when
//! the primitive replaces it with a newer waker (a re-poll with another waker) or when the
//! waiting future is cancelled. If the primitive clones or drops a waker while holding its own
//! lock, these deadlock; each test runs on a thread with a 10 s bound, so a regression fails
//! instead of hanging. Every test also checks the outcome (the wake-up was not lost).
//!
//! No runtime is needed: futures are polled by hand.

use ciranda::sync::{
    Barrier, Condition, Event, Mutex, Notify, Promise, Queue, RwLock, Semaphore, mpsc, oneshot,
};
use ciranda_tests::support::{WakerStats, hooked_waker};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, mpsc as std_mpsc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Runs `body` on its own thread; fails (instead of hanging) if it does not finish in 10 s.
fn no_deadlock(body: impl FnOnce() + Send + 'static) {
    let (done_tx, done_rx) = std_mpsc::channel();
    let worker = std::thread::spawn(move || {
        body();
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(()) => worker.join().unwrap(),
        // The body panicked (the sender was dropped): report its panic.
        Err(std_mpsc::RecvTimeoutError::Disconnected) => {
            std::panic::resume_unwind(worker.join().unwrap_err())
        }
        Err(std_mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: a waker calling back into the primitive blocked it (10 s)")
        }
    }
}

/// A waker whose `clone` runs `on_clone` and whose last copy runs `on_drop`.
fn hooked(
    on_clone: impl Fn() + Send + Sync + 'static,
    on_drop: impl FnOnce() + Send + 'static,
) -> (Waker, Arc<WakerStats>) {
    hooked_waker(on_clone, on_drop)
}

fn nothing() {}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn poll_with<T>(fut: &mut BoxFut<'_, T>, waker: &Waker) -> Poll<T> {
    fut.as_mut().poll(&mut Context::from_waker(waker))
}

fn poll_noop<T>(fut: &mut BoxFut<'_, T>) -> Poll<T> {
    poll_with(fut, Waker::noop())
}

/// The three ways a stored waker gets dropped by the primitive.
#[derive(Clone, Copy, Debug)]
enum DropBy {
    /// The future is polled again with a different waker, which replaces it.
    Replaced,
    /// The waiting future is dropped (cancelled).
    Cancelled,
}

const DROP_BY: [DropBy; 2] = [DropBy::Replaced, DropBy::Cancelled];

// ---------------------------------------------------------------------------------------------
// Notify

#[test]
fn notify_waker_clone_calls_notify_one() {
    no_deadlock(|| {
        // First poll (about to queue), then a re-poll with a new waker.
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        let (waker, stats) = hooked(move || n.notify_one(), nothing);
        let mut fut: BoxFut<'_, ()> = Box::pin(notify.notified());
        // The clone's notify_one stores a permit that this very poll then consumes.
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(()));
        assert!(stats.clones() >= 1);

        let mut fut: BoxFut<'_, ()> = Box::pin(notify.notified());
        assert!(poll_noop(&mut fut).is_pending());
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(()));
    });
}

#[test]
fn notify_waker_drop_calls_notify_one() {
    for by in DROP_BY {
        no_deadlock(move || {
            let notify = Arc::new(Notify::new());
            let n = notify.clone();
            let (waker, stats) = hooked(nothing, move || n.notify_one());
            let mut fut: BoxFut<'_, ()> = Box::pin(notify.notified());
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            assert!(stats.alive(), "the primitive holds the waker");
            match by {
                DropBy::Replaced => {
                    // The old waker's drop notified this very waiter.
                    assert!(poll_noop(&mut fut).is_pending());
                    assert!(!stats.alive());
                    assert_eq!(poll_noop(&mut fut), Poll::Ready(()));
                }
                DropBy::Cancelled => {
                    drop(fut);
                    assert!(!stats.alive());
                    // Nobody was waiting any more: the notification is stored.
                    let mut again: BoxFut<'_, ()> = Box::pin(notify.notified());
                    assert_eq!(poll_noop(&mut again), Poll::Ready(()), "{by:?}");
                }
            }
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Event

#[test]
fn event_waker_clone_calls_set() {
    no_deadlock(|| {
        let event = Arc::new(Event::new());
        let e = event.clone();
        let (waker, _stats) = hooked(move || e.set(), nothing);
        let mut fut: BoxFut<'_, ()> = Box::pin(event.wait());
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(()));

        event.clear();
        let mut fut: BoxFut<'_, ()> = Box::pin(event.wait());
        assert!(poll_noop(&mut fut).is_pending());
        event.clear();
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(()));
    });
}

#[test]
fn event_waker_drop_calls_set() {
    for by in DROP_BY {
        no_deadlock(move || {
            let event = Arc::new(Event::new());
            let e = event.clone();
            let (waker, stats) = hooked(nothing, move || e.set());
            let mut fut: BoxFut<'_, ()> = Box::pin(event.wait());
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut fut).is_pending());
                    assert_eq!(poll_noop(&mut fut), Poll::Ready(()));
                }
                DropBy::Cancelled => drop(fut),
            }
            assert!(!stats.alive());
            assert!(event.is_set(), "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Semaphore

#[test]
fn semaphore_waker_clone_adds_permits() {
    no_deadlock(|| {
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let (waker, _stats) = hooked(move || s.add_permits(1), nothing);
        {
            let mut fut: BoxFut<'_, _> = Box::pin(sem.acquire());
            let permit = match poll_with(&mut fut, &waker) {
                Poll::Ready(p) => p.unwrap(),
                Poll::Pending => panic!("the clone's permit is there for this poll"),
            };
            permit.forget();
        }
        // Two permits: the first poll's clone adds one (assigned, the waiter queues for the
        // other); a re-poll with a new waker, then one with the hooked waker again, whose clone
        // adds the second and completes the waiter.
        let mut fut: BoxFut<'_, _> = Box::pin(sem.acquire_many(2));
        assert!(poll_with(&mut fut, &waker).is_pending());
        assert!(poll_noop(&mut fut).is_pending());
        match poll_with(&mut fut, &waker) {
            Poll::Ready(p) => assert_eq!(p.unwrap().num_permits(), 2),
            Poll::Pending => panic!("the clone's permit completes the waiter"),
        }
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn semaphore_waker_owning_a_permit_is_dropped() {
    // Tokio's `release_permits_at_drop` shape: the only permit lives in the waiter's waker.
    for by in DROP_BY {
        no_deadlock(move || {
            let sem = Arc::new(Semaphore::new(1));
            let permit = sem.clone().try_acquire_owned().unwrap();
            let (waker, stats) = hooked(nothing, move || drop(permit));
            let mut fut: BoxFut<'_, _> = Box::pin(sem.acquire());
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    // Dropping the old waker released the permit to this very waiter.
                    assert!(poll_noop(&mut fut).is_pending());
                    assert!(!stats.alive());
                    match poll_noop(&mut fut) {
                        Poll::Ready(p) => drop(p.unwrap()),
                        Poll::Pending => panic!("the released permit was handed to the waiter"),
                    }
                }
                DropBy::Cancelled => {
                    drop(fut);
                    assert!(!stats.alive());
                }
            }
            assert_eq!(sem.available_permits(), 1, "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Mutex and RwLock (the waker's clone or drop unlocks)

#[test]
fn mutex_waker_clone_unlocks() {
    no_deadlock(|| {
        let mutex = Arc::new(Mutex::new(0u32));
        // Held by the test; the waker's clone drops it.
        let held = Arc::new(std::sync::Mutex::new(mutex.clone().try_lock_owned().ok()));
        let h = held.clone();
        let (waker, _stats) = hooked(move || drop(h.lock().unwrap().take()), nothing);
        let mut fut: BoxFut<'_, _> = Box::pin(mutex.lock());
        match poll_with(&mut fut, &waker) {
            Poll::Ready(mut g) => *g += 1,
            Poll::Pending => panic!("the clone unlocked before this poll queued"),
        }
        drop(fut);
        assert_eq!(*mutex.try_lock().unwrap(), 1);

        // A re-poll with a new waker.
        *held.lock().unwrap() = Some(mutex.clone().try_lock_owned().unwrap());
        let mut fut: BoxFut<'_, _> = Box::pin(mutex.lock());
        assert!(poll_noop(&mut fut).is_pending());
        // The clone unlocks, handing the lock to this queued waiter, which sees it at once.
        match poll_with(&mut fut, &waker) {
            Poll::Ready(mut g) => *g += 1,
            Poll::Pending => panic!("the unlock handed the lock to the waiter"),
        }
        drop(fut);
        assert_eq!(*mutex.try_lock().unwrap(), 2);
    });
}

#[test]
fn mutex_waker_owning_the_guard_is_dropped() {
    for by in DROP_BY {
        no_deadlock(move || {
            let mutex = Arc::new(Mutex::new(0u32));
            let guard = mutex.clone().try_lock_owned().unwrap();
            let (waker, stats) = hooked(nothing, move || drop(guard));
            let mut fut: BoxFut<'_, _> = Box::pin(mutex.lock());
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut fut).is_pending());
                    assert!(!stats.alive());
                    match poll_noop(&mut fut) {
                        Poll::Ready(mut g) => *g += 1,
                        Poll::Pending => panic!("the unlock handed the lock to the waiter"),
                    }
                    drop(fut);
                    assert_eq!(*mutex.try_lock().unwrap(), 1);
                }
                DropBy::Cancelled => {
                    drop(fut);
                    assert!(!stats.alive());
                    assert_eq!(*mutex.try_lock().unwrap(), 0);
                }
            }
        });
    }
}

/// A lock that lives for the whole test process, so that its guards can move into hooks.
fn leaked_rwlock() -> &'static RwLock<u32> {
    Box::leak(Box::new(RwLock::new(0)))
}

#[test]
fn rwlock_waker_clone_releases_a_read_guard() {
    no_deadlock(|| {
        let lock = leaked_rwlock();
        let held = Arc::new(std::sync::Mutex::new(Some(lock.try_read().unwrap())));
        let h = held.clone();
        let (waker, _stats) = hooked(move || drop(h.lock().unwrap().take()), nothing);
        let mut fut: BoxFut<'_, _> = Box::pin(lock.write());
        match poll_with(&mut fut, &waker) {
            Poll::Ready(mut g) => *g += 1,
            Poll::Pending => panic!("the clone released the reader before this poll queued"),
        }
        drop(fut);

        *held.lock().unwrap() = Some(lock.try_read().unwrap());
        let mut fut: BoxFut<'_, _> = Box::pin(lock.write());
        assert!(poll_noop(&mut fut).is_pending());
        // The clone drops the last reader, handing the lock to this queued writer.
        match poll_with(&mut fut, &waker) {
            Poll::Ready(mut g) => *g += 1,
            Poll::Pending => panic!("the last reader handed the lock to the writer"),
        }
        drop(fut);
        assert_eq!(*lock.try_read().unwrap(), 2);
    });
}

#[test]
fn rwlock_waker_owning_a_guard_is_dropped() {
    for by in DROP_BY {
        for writer_holds in [false, true] {
            no_deadlock(move || {
                let lock = leaked_rwlock();
                // The waker owns the guard that keeps the waiter out (a reader's guard for a
                // waiting writer, or a writer's for a waiting reader).
                let (waker, stats, mut fut): (_, _, BoxFut<'_, u32>) = if writer_holds {
                    let g = lock.try_write().unwrap();
                    let (w, s) = hooked(nothing, move || drop(g));
                    (w, s, Box::pin(async move { *lock.read().await }))
                } else {
                    let g = lock.try_read().unwrap();
                    let (w, s) = hooked(nothing, move || drop(g));
                    (
                        w,
                        s,
                        Box::pin(async move {
                            let mut g = lock.write().await;
                            *g += 1;
                            *g
                        }),
                    )
                };
                assert!(poll_with(&mut fut, &waker).is_pending());
                drop(waker);
                match by {
                    DropBy::Replaced => {
                        assert!(poll_noop(&mut fut).is_pending());
                        assert!(!stats.alive());
                        let expect = if writer_holds { 0 } else { 1 };
                        assert_eq!(poll_noop(&mut fut), Poll::Ready(expect));
                    }
                    DropBy::Cancelled => {
                        drop(fut);
                        assert!(!stats.alive());
                    }
                }
                assert!(
                    lock.try_write().is_ok(),
                    "{by:?}, writer_holds={writer_holds}"
                );
            });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Condition

#[test]
fn condition_waker_clone_notifies() {
    no_deadlock(|| {
        let state = Arc::new((Mutex::new(0u32), Condition::new()));
        let s = state.clone();
        let (waker, _stats) = hooked(move || s.1.notify_one(), nothing);
        let st = state.clone();
        let mut fut: BoxFut<'static, u32> = Box::pin(async move {
            let g = st.0.lock().await;
            let mut g = st.1.wait(g).await;
            *g += 1;
            *g
        });
        // The waiter queues, unlocks, clones its waker (which notifies it), and re-locks.
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(1));

        // A re-poll with a new waker.
        let st = state.clone();
        let mut fut: BoxFut<'static, u32> = Box::pin(async move {
            let g = st.0.lock().await;
            let mut g = st.1.wait(g).await;
            *g += 1;
            *g
        });
        assert!(poll_noop(&mut fut).is_pending());
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(2));
    });
}

#[test]
fn condition_waker_drop_notifies() {
    for by in DROP_BY {
        no_deadlock(move || {
            let state = Arc::new((Mutex::new(0u32), Condition::new()));
            let s = state.clone();
            let (waker, stats) = hooked(nothing, move || s.1.notify_one());
            let st = state.clone();
            let mut fut: BoxFut<'static, u32> = Box::pin(async move {
                let g = st.0.lock().await;
                let mut g = st.1.wait(g).await;
                *g += 1;
                *g
            });
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut fut).is_pending());
                    assert!(!stats.alive());
                    assert_eq!(poll_noop(&mut fut), Poll::Ready(1));
                }
                DropBy::Cancelled => {
                    drop(fut);
                    assert!(!stats.alive());
                }
            }
            assert!(state.0.try_lock().is_ok(), "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Barrier

#[test]
fn barrier_waker_clone_reads_the_barrier() {
    no_deadlock(|| {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let seen = Arc::new(AtomicUsize::new(usize::MAX));
        let s = seen.clone();
        let (waker, _stats) = hooked(move || s.store(b.n_waiting(), SeqCst), nothing);
        let mut fut: BoxFut<'_, _> = Box::pin(barrier.wait());
        assert!(poll_with(&mut fut, &waker).is_pending());
        assert_eq!(barrier.n_waiting(), 1);
        // Re-poll with new wakers: the clone runs again, with the arrival counted.
        assert!(poll_noop(&mut fut).is_pending());
        assert!(poll_with(&mut fut, &waker).is_pending());
        assert_eq!(seen.load(SeqCst), 1);
        let mut leader: BoxFut<'_, _> = Box::pin(barrier.wait());
        match poll_noop(&mut leader) {
            Poll::Ready(r) => assert!(r.is_leader()),
            Poll::Pending => panic!("the second arrival completes the barrier"),
        }
        match poll_noop(&mut fut) {
            Poll::Ready(r) => assert!(!r.is_leader()),
            Poll::Pending => panic!("released"),
        }
    });
}

#[test]
fn barrier_waker_drop_arrives() {
    for by in DROP_BY {
        no_deadlock(move || {
            let barrier: &'static Barrier = Box::leak(Box::new(Barrier::new(2)));
            // The waker's drop makes (and completes or withdraws) a second arrival.
            let led = Arc::new(AtomicBool::new(false));
            let l = led.clone();
            let (waker, stats) = hooked(nothing, move || {
                let mut other: BoxFut<'_, _> = Box::pin(barrier.wait());
                if let Poll::Ready(r) = poll_noop(&mut other) {
                    l.store(r.is_leader(), SeqCst);
                }
            });
            let mut fut: BoxFut<'_, _> = Box::pin(barrier.wait());
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut fut).is_pending());
                    assert!(!stats.alive());
                    assert!(led.load(SeqCst), "the dropped waker's arrival led");
                    match poll_noop(&mut fut) {
                        Poll::Ready(r) => assert!(!r.is_leader()),
                        Poll::Pending => panic!("released by the other arrival"),
                    }
                }
                DropBy::Cancelled => {
                    drop(fut);
                    assert!(!stats.alive());
                    // Our arrival was withdrawn first; the other one waited alone and was
                    // withdrawn in turn.
                    assert!(!led.load(SeqCst));
                }
            }
            assert_eq!(barrier.n_waiting(), 0, "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Promise

#[test]
fn promise_waker_clone_and_drop_set_the_value() {
    no_deadlock(|| {
        let promise = Arc::new(Promise::<u32>::new());
        let p = promise.clone();
        let (waker, _stats) = hooked(
            move || {
                let _ = p.set(1);
            },
            nothing,
        );
        let mut fut: BoxFut<'_, u32> = Box::pin(promise.wait());
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(1));

        let promise = Arc::new(Promise::<u32>::new());
        let mut fut: BoxFut<'_, u32> = Box::pin(promise.wait());
        assert!(poll_noop(&mut fut).is_pending());
        let p = promise.clone();
        let (waker, _stats) = hooked(
            move || {
                let _ = p.set(2);
            },
            nothing,
        );
        assert_eq!(poll_with(&mut fut, &waker), Poll::Ready(2));
    });
    for by in DROP_BY {
        no_deadlock(move || {
            let promise = Arc::new(Promise::<u32>::new());
            let p = promise.clone();
            let (waker, stats) = hooked(nothing, move || {
                let _ = p.set(3);
            });
            let mut fut: BoxFut<'_, u32> = Box::pin(promise.wait());
            assert!(poll_with(&mut fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut fut).is_pending());
                    assert_eq!(poll_noop(&mut fut), Poll::Ready(3));
                }
                DropBy::Cancelled => drop(fut),
            }
            assert!(!stats.alive());
            assert_eq!(promise.try_get(), Some(3), "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Queue

/// A hook that calls `task_done` on its first run only.
fn task_done_once(queue: &Arc<Queue<u32>>) -> impl Fn() + Send + Sync + 'static {
    let queue = queue.clone();
    let ran = AtomicBool::new(false);
    move || {
        if !ran.swap(true, SeqCst) {
            queue.task_done();
        }
    }
}

#[test]
fn queue_waker_clone_calls_back() {
    no_deadlock(|| {
        // get: the clone puts the item the getter is waiting for.
        let queue = Arc::new(Queue::<u32>::new(1));
        let q = queue.clone();
        let (waker, _stats) = hooked(move || drop(q.try_put(5)), nothing);
        let mut get: BoxFut<'_, u32> = Box::pin(queue.get());
        assert_eq!(poll_with(&mut get, &waker), Poll::Ready(5));
        // and on a re-poll with a new waker
        let mut get: BoxFut<'_, u32> = Box::pin(queue.get());
        assert!(poll_noop(&mut get).is_pending());
        assert_eq!(poll_with(&mut get, &waker), Poll::Ready(5));

        // put: the clone makes room in the full queue.
        let q = queue.clone();
        let (waker, _stats) = hooked(move || drop(q.try_get()), nothing);
        queue.try_put(1).unwrap();
        let mut put: BoxFut<'_, ()> = Box::pin(queue.put(2));
        assert_eq!(poll_with(&mut put, &waker), Poll::Ready(()));
        let mut put: BoxFut<'_, ()> = Box::pin(queue.put(3));
        assert!(poll_noop(&mut put).is_pending());
        assert_eq!(poll_with(&mut put, &waker), Poll::Ready(()));
        assert_eq!(queue.try_get(), Ok(3));

        // join: the clone marks the one taken item done.
        let queue = Arc::new(Queue::<u32>::new(0));
        queue.try_put(1).unwrap();
        assert_eq!(queue.try_get(), Ok(1));
        let (waker, _stats) = hooked(task_done_once(&queue), nothing);
        let mut join: BoxFut<'_, ()> = Box::pin(queue.join());
        assert_eq!(poll_with(&mut join, &waker), Poll::Ready(()));
        queue.try_put(2).unwrap();
        assert_eq!(queue.try_get(), Ok(2));
        let (waker, _stats) = hooked(task_done_once(&queue), nothing);
        let mut join: BoxFut<'_, ()> = Box::pin(queue.join());
        assert!(poll_noop(&mut join).is_pending());
        assert_eq!(poll_with(&mut join, &waker), Poll::Ready(()));
    });
}

#[test]
fn queue_waker_drop_calls_back() {
    for by in DROP_BY {
        no_deadlock(move || {
            // A getter whose waker's drop puts an item.
            let queue = Arc::new(Queue::<u32>::new(1));
            let q = queue.clone();
            let (waker, stats) = hooked(nothing, move || drop(q.try_put(7)));
            let mut get: BoxFut<'_, u32> = Box::pin(queue.get());
            assert!(poll_with(&mut get, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut get).is_pending());
                    assert_eq!(poll_noop(&mut get), Poll::Ready(7));
                    assert!(queue.is_empty());
                }
                DropBy::Cancelled => {
                    drop(get);
                    assert_eq!(queue.try_get(), Ok(7));
                }
            }
            assert!(!stats.alive());

            // A putter (queue full) whose waker's drop takes an item.
            queue.try_put(1).unwrap();
            let q = queue.clone();
            let (waker, stats) = hooked(nothing, move || drop(q.try_get()));
            let mut put: BoxFut<'_, ()> = Box::pin(queue.put(2));
            assert!(poll_with(&mut put, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut put).is_pending());
                    assert_eq!(poll_noop(&mut put), Poll::Ready(()));
                    assert_eq!(queue.try_get(), Ok(2));
                }
                DropBy::Cancelled => {
                    drop(put);
                    assert!(queue.is_empty());
                }
            }
            assert!(!stats.alive(), "{by:?}");

            // A joiner whose waker's drop marks the one unfinished item done.
            let queue = Arc::new(Queue::<u32>::new(0));
            queue.try_put(1).unwrap();
            assert_eq!(queue.try_get(), Ok(1));
            let done = task_done_once(&queue);
            let (waker, stats) = hooked(nothing, done);
            let mut join: BoxFut<'_, ()> = Box::pin(queue.join());
            assert!(poll_with(&mut join, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut join).is_pending());
                    assert_eq!(poll_noop(&mut join), Poll::Ready(()));
                }
                DropBy::Cancelled => drop(join),
            }
            assert!(!stats.alive());
            let mut join: BoxFut<'_, ()> = Box::pin(queue.join());
            assert_eq!(poll_noop(&mut join), Poll::Ready(()), "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// oneshot

#[test]
fn oneshot_waker_clone_sends_or_closes() {
    no_deadlock(|| {
        // The receiver's waker clone sends (first poll, and a re-poll with a new waker).
        for repoll in [false, true] {
            let (tx, rx) = oneshot::channel::<u32>();
            let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
            let t = tx.clone();
            let (waker, _stats) = hooked(
                move || {
                    if let Some(tx) = t.lock().unwrap().take() {
                        tx.send(3).unwrap();
                    }
                },
                nothing,
            );
            let mut rx: BoxFut<'_, _> = Box::pin(rx);
            if repoll {
                // A first poll with a harmless waker, so the hooked one replaces it.
                let (plain, _s) = hooked(nothing, nothing);
                // `plain`'s clone does nothing; the hooked clone below sends.
                assert!(poll_with(&mut rx, &plain).is_pending());
            }
            assert_eq!(poll_with(&mut rx, &waker), Poll::Ready(Ok(3)));
        }
        // The sender's `closed()` waker clone drops the receiver.
        let (mut tx, rx) = oneshot::channel::<u32>();
        let rx = Arc::new(std::sync::Mutex::new(Some(rx)));
        let r = rx.clone();
        let (waker, _stats) = hooked(move || drop(r.lock().unwrap().take()), nothing);
        assert_eq!(
            tx.poll_closed(&mut Context::from_waker(&waker)),
            Poll::Ready(())
        );
    });
}

#[test]
fn oneshot_waker_drop_sends_or_closes() {
    for by in DROP_BY {
        no_deadlock(move || {
            // The receiver's waker owns the sender and sends from its drop.
            let (tx, rx) = oneshot::channel::<u32>();
            let (waker, stats) = hooked(nothing, move || {
                let _ = tx.send(4);
            });
            let mut rx: BoxFut<'_, _> = Box::pin(rx);
            assert!(poll_with(&mut rx, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    assert!(poll_noop(&mut rx).is_pending());
                    assert!(!stats.alive());
                    assert_eq!(poll_noop(&mut rx), Poll::Ready(Ok(4)));
                }
                DropBy::Cancelled => {
                    // The receiver's drop drops its waker too (whose send then fails).
                    drop(rx);
                    assert!(!stats.alive());
                }
            }
        });
    }
    // A `closed()` waker owning the receiver, replaced by a new waker.
    no_deadlock(|| {
        let (mut tx, rx) = oneshot::channel::<u32>();
        let (waker, stats) = hooked(nothing, move || drop(rx));
        assert!(
            tx.poll_closed(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(waker);
        assert!(
            tx.poll_closed(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        assert!(!stats.alive());
        assert!(tx.is_closed());
        assert_eq!(
            tx.poll_closed(&mut Context::from_waker(Waker::noop())),
            Poll::Ready(())
        );
    });
}

// ---------------------------------------------------------------------------------------------
// mpsc

#[test]
fn mpsc_recv_waker_clone_sends() {
    no_deadlock(|| {
        let (tx, mut rx) = mpsc::channel::<u32>(2);
        let (waker, _stats) = hooked(move || drop(tx.try_send(9)), nothing);
        assert_eq!(
            rx.poll_recv(&mut Context::from_waker(&waker)),
            Poll::Ready(Some(9))
        );
        let (utx, mut urx) = mpsc::unbounded_channel::<u32>();
        let (waker, _stats) = hooked(move || drop(utx.send(8)), nothing);
        assert_eq!(
            urx.poll_recv(&mut Context::from_waker(&waker)),
            Poll::Ready(Some(8))
        );
        // A re-poll with a new waker.
        let (utx, mut urx) = mpsc::unbounded_channel::<u32>();
        assert!(
            urx.poll_recv(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        let (waker, _stats) = hooked(move || drop(utx.send(7)), nothing);
        assert_eq!(
            urx.poll_recv(&mut Context::from_waker(&waker)),
            Poll::Ready(Some(7))
        );
    });
}

#[test]
fn mpsc_send_waker_clone_receives() {
    no_deadlock(|| {
        // A send parked on a full channel; its waker's clone makes room.
        let (tx, rx) = mpsc::channel::<u32>(1);
        tx.try_send(0).unwrap();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let r = rx.clone();
        let (waker, _stats) = hooked(
            move || {
                let _ = r.lock().unwrap().try_recv();
            },
            nothing,
        );
        let mut send: BoxFut<'_, _> = Box::pin(tx.send(1));
        assert!(matches!(poll_with(&mut send, &waker), Poll::Ready(Ok(()))));
        drop(send);
        let mut send: BoxFut<'_, _> = Box::pin(tx.send(2));
        assert!(poll_noop(&mut send).is_pending());
        assert!(matches!(poll_with(&mut send, &waker), Poll::Ready(Ok(()))));
        drop(send);
        assert_eq!(rx.lock().unwrap().try_recv(), Ok(2));
    });
}

#[test]
fn mpsc_waker_drop_calls_back() {
    for by in DROP_BY {
        no_deadlock(move || {
            // The receiver's waker owns the last sender.
            let (tx, mut rx) = mpsc::channel::<u32>(1);
            let (waker, stats) = hooked(nothing, move || drop(tx));
            let mut rx_fut: BoxFut<'_, _> = Box::pin(async move {
                let got = rx.recv().await;
                (got, rx)
            });
            assert!(poll_with(&mut rx_fut, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    // Replacing the waker dropped the last sender: the channel ends.
                    match poll_noop(&mut rx_fut) {
                        Poll::Ready((got, _rx)) => assert_eq!(got, None),
                        Poll::Pending => {
                            assert!(matches!(poll_noop(&mut rx_fut), Poll::Ready((None, _))))
                        }
                    }
                }
                DropBy::Cancelled => drop(rx_fut),
            }
            assert!(!stats.alive());

            // A parked send whose waker owns the receiver (dropping it closes the channel).
            let (tx, rx) = mpsc::channel::<u32>(1);
            tx.try_send(0).unwrap();
            let (waker, stats) = hooked(nothing, move || drop(rx));
            let mut send: BoxFut<'_, _> = Box::pin(tx.send(1));
            assert!(poll_with(&mut send, &waker).is_pending());
            drop(waker);
            match by {
                DropBy::Replaced => {
                    let _ = poll_noop(&mut send);
                    assert!(!stats.alive());
                    let got = match poll_noop(&mut send) {
                        Poll::Ready(r) => r,
                        Poll::Pending => panic!("the closed channel fails the send"),
                    };
                    assert_eq!(got.unwrap_err().0, 1);
                }
                DropBy::Cancelled => {
                    drop(send);
                    assert!(!stats.alive());
                }
            }
            assert!(tx.is_closed(), "{by:?}");
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Dropped by the wake-up itself

#[test]
fn a_granted_waiters_waker_dropped_by_the_wake_up_calls_back() {
    // The third way a stored waker goes: the grant takes it and `wake` consumes it. That runs
    // after the lock is released (this passed before the fix too; it covers the shape).
    no_deadlock(|| {
        // Notify: the consumed waker's drop notifies again (stored as the permit).
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        let (waker, stats) = hooked(nothing, move || n.notify_one());
        let mut fut: BoxFut<'_, ()> = Box::pin(notify.notified());
        assert!(poll_with(&mut fut, &waker).is_pending());
        drop(waker);
        notify.notify_one();
        assert!(!stats.alive());
        assert_eq!(poll_noop(&mut fut), Poll::Ready(()));
        let mut again: BoxFut<'_, ()> = Box::pin(notify.notified());
        assert_eq!(poll_noop(&mut again), Poll::Ready(()));

        // Semaphore: the consumed waker owned a second permit.
        let sem = Arc::new(Semaphore::new(1));
        let held = sem.clone().try_acquire_owned().unwrap();
        let other = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let second = sem.clone();
        let (waker, stats) = hooked(nothing, move || {
            drop(other);
            second.add_permits(1);
        });
        let mut fut: BoxFut<'_, _> = Box::pin(sem.acquire());
        assert!(poll_with(&mut fut, &waker).is_pending());
        drop(waker);
        drop(held);
        assert!(!stats.alive());
        assert!(matches!(poll_noop(&mut fut), Poll::Ready(Ok(_))));
        drop(fut);
        assert_eq!(sem.available_permits(), 2);

        // mpsc: the consumed receiver waker owned the last sender.
        let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
        let tx2 = tx.clone();
        let (waker, stats) = hooked(nothing, move || drop(tx2));
        assert!(rx.poll_recv(&mut Context::from_waker(&waker)).is_pending());
        drop(waker);
        tx.send(1).unwrap();
        drop(tx);
        assert!(!stats.alive());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));

        // Event: the consumed waker's drop clears the event and queues a new waiter (which
        // takes the event's lock twice: to queue, and to leave when dropped).
        let event = Arc::new(Event::new());
        let e = event.clone();
        let (waker, stats) = hooked(nothing, move || {
            e.clear();
            let mut w: BoxFut<'_, ()> = Box::pin(e.wait());
            assert!(poll_noop(&mut w).is_pending());
        });
        let mut fut: BoxFut<'_, ()> = Box::pin(event.wait());
        assert!(poll_with(&mut fut, &waker).is_pending());
        drop(waker);
        event.set();
        assert!(!stats.alive());
        assert!(!event.is_set(), "the drop's clear ran after the set");
        assert_eq!(poll_noop(&mut fut), Poll::Ready(()), "released by the set");
    });
}
