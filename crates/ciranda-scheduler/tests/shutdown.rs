#![cfg(not(loom))]
//! Shutdown: every unfinished future dropped exactly once, handles resolve, nothing hangs.

use ciranda_scheduler::Scheduler;
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn pending_tasks_are_dropped_exactly_once() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let handles: Vec<_> = (0..1000)
        .map(|_| {
            let guard = DropCounter(dropped.clone());
            s.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            })
        })
        .collect();
    // Let some of them get polled at least once.
    s.block_on(ciranda_scheduler::task::yield_now());
    drop(s);
    assert_eq!(dropped.load(SeqCst), 1000);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for mut h in handles {
        assert!(h.is_finished());
        match std::future::Future::poll(std::pin::Pin::new(&mut h), &mut cx) {
            std::task::Poll::Ready(Err(e)) => assert!(e.is_cancelled()),
            other => panic!("expected cancelled, got {:?}", other.map(|r| r.is_ok())),
        }
    }
}

#[test]
fn queued_never_polled_tasks_are_dropped_too() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    // Occupy the only worker so the next tasks stay queued.
    let blocker = s.spawn(async move {
        let _ = rx.recv_timeout(Duration::from_millis(200));
    });
    for _ in 0..100 {
        let guard = DropCounter(dropped.clone());
        drop(s.spawn(async move {
            let _guard = guard;
        }));
    }
    drop(tx);
    drop(blocker);
    drop(s);
    assert_eq!(dropped.load(SeqCst), 100);
}

#[test]
fn drop_guards_may_spawn_during_shutdown() {
    // A future whose destructor spawns: the new task is refused and its future dropped too.
    struct SpawnOnDrop(Arc<AtomicUsize>);
    impl Drop for SpawnOnDrop {
        fn drop(&mut self) {
            let inner = DropCounter(self.0.clone());
            let h = ciranda_scheduler::spawn(async move {
                let _inner = inner;
            });
            assert!(
                h.is_finished(),
                "spawned during shutdown: cancelled at once"
            );
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    for _ in 0..10 {
        let guard = SpawnOnDrop(dropped.clone());
        drop(s.spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        }));
    }
    drop(s);
    assert_eq!(dropped.load(SeqCst), 10);
}

#[test]
fn spawn_through_a_handle_after_shutdown_is_cancelled() {
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let handle = s.handle();
    drop(s);
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let h = handle.spawn(async move {
        let _guard = guard;
    });
    assert!(h.is_finished());
    assert_eq!(dropped.load(SeqCst), 1);
    let b = handle.spawn_blocking(|| 1);
    assert!(b.is_finished());
}

#[test]
fn shutdown_timeout_returns_while_a_task_blocks() {
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    drop(s.spawn(async move {
        let _guard = guard;
        started_tx.send(()).unwrap();
        // Blocks its worker until the test lets go, long after shutdown returned.
        let _ = rx.recv();
        pending::<()>().await;
    }));
    started_rx.recv().unwrap();
    let start = std::time::Instant::now();
    s.shutdown_timeout(Duration::from_millis(100));
    assert!(start.elapsed() < Duration::from_secs(20));
    assert_eq!(
        dropped.load(SeqCst),
        0,
        "the blocked poll still owns its future"
    );
    tx.send(()).unwrap();
    // The worker drops the future as soon as its poll returns.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dropped.load(SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(dropped.load(SeqCst), 1);
}

#[test]
fn shutdown_cancels_queued_blocking_tasks_and_waits_for_running_ones() {
    let s = Scheduler::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    // Dropped with the queued closure, which shutdown drops without running it.
    let queued_dropped = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (r, dropped) = (ran.clone(), queued_dropped.clone());
    let running = s.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        // Finishes once shutdown has dealt with the queue (not after a fixed pause, which a
        // slow or loaded machine outlasts before `drop(s)` even starts). If the queue is never
        // drained, the queued closure runs after this one and the assertion below fails.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while dropped.load(SeqCst) == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        r.fetch_add(1, SeqCst);
    });
    started_rx.recv().unwrap();
    let r = ran.clone();
    let guard = DropCounter(queued_dropped.clone());
    let queued = s.spawn_blocking(move || {
        let _guard = guard;
        r.fetch_add(100, SeqCst);
    });
    drop(s);
    assert_eq!(queued_dropped.load(SeqCst), 1);
    assert_eq!(
        ran.load(SeqCst),
        1,
        "running one finished, queued one never ran"
    );
    assert!(running.is_finished() && queued.is_finished());
}

#[test]
fn shutdown_from_inside_spawn_blocking_returns() {
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    drop(s.spawn(async move {
        let _guard = guard;
        pending::<()>().await;
    }));
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = s.handle();
    // Move the scheduler into a blocking call and drop it there.
    let sched = std::sync::Mutex::new(Some(s));
    let sched = Arc::new(sched);
    let inner = sched.clone();
    let job = handle.spawn_blocking(move || {
        let s = inner.lock().unwrap().take().unwrap();
        drop(s);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("shutdown from a blocking thread returned");
    assert_eq!(dropped.load(SeqCst), 1);
    drop(job);
}

#[test]
fn shutdown_from_inside_a_task_returns() {
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let holder = Arc::new(std::sync::Mutex::new(None::<Scheduler>));
    let inner = holder.clone();
    let handle = s.handle();
    *holder.lock().unwrap() = Some(s);
    drop(handle.spawn(async move {
        let s = inner.lock().unwrap().take().unwrap();
        drop(s); // this worker is not waited for
        tx.send(()).unwrap();
    }));
    rx.recv_timeout(Duration::from_secs(20))
        .expect("shutdown from a worker returned");
}

#[test]
fn repeated_start_and_shutdown() {
    for _ in 0..50 {
        let s = Scheduler::builder().worker_threads(2).build().unwrap();
        let h = s.spawn(async { 1 });
        assert_eq!(s.block_on(h).unwrap(), 1);
        s.shutdown_timeout(Duration::from_secs(10));
    }
}

/// The same guarantees on the current-thread flavor, whose queue lives with the thread that
/// drives it: pending, queued-but-never-run and destructor-spawned tasks are all dropped once,
/// their handles report cancellation, and later spawns are cancelled at once.
#[test]
fn current_thread_shutdown_drops_every_future_once() {
    use ciranda_scheduler::Flavor;
    for round in 0..20 {
        let dropped = Arc::new(AtomicUsize::new(0));
        let s = Scheduler::builder()
            .flavor(Flavor::CurrentThread)
            .build()
            .unwrap();
        let mut handles = Vec::new();
        for i in 0..200 {
            let guard = DropCounter(dropped.clone());
            handles.push(s.spawn(async move {
                let _guard = guard;
                if i % 2 == 0 {
                    pending::<()>().await;
                }
            }));
        }
        if round % 2 == 0 {
            // Half the rounds run them once (odd ones finish), half never drive at all.
            s.block_on(ciranda_scheduler::task::yield_now());
        }
        // Queued from another thread, never run.
        let handle = s.handle();
        let guard = DropCounter(dropped.clone());
        let remote = std::thread::spawn(move || {
            handle.spawn(async move {
                let _guard = guard;
            })
        })
        .join()
        .unwrap();
        let handle = s.handle();
        if round % 4 == 1 {
            s.shutdown_timeout(Duration::from_secs(10));
        } else {
            drop(s);
        }
        assert_eq!(dropped.load(SeqCst), 201, "round {round}");
        assert!(remote.is_finished());
        for h in handles {
            assert!(h.is_finished());
        }
        let late = handle.spawn(async { 1 });
        assert!(
            late.is_finished(),
            "spawned after shutdown: cancelled at once"
        );
        // block_on through a handle still runs its own future.
        assert_eq!(handle.block_on(async { 2 }), 2);
    }
}

#[test]
fn current_thread_shutdown_while_another_thread_drives() {
    use ciranda_scheduler::Flavor;
    let s = Scheduler::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap();
    let handle = s.handle();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let driver = std::thread::spawn(move || {
        // Drives until shutdown; then the pending future is just polled here, and this task's
        // handle reports the cancellation.
        handle.block_on(async move {
            let task = ciranda_scheduler::spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
            started_tx.send(()).unwrap();
            task.await
        })
    });
    started_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    drop(s);
    let joined = driver.join().unwrap();
    assert!(joined.unwrap_err().is_cancelled());
    assert_eq!(dropped.load(SeqCst), 1);
}

/// How a destructor waits for another task.
#[derive(Clone, Copy, Debug)]
enum Wait {
    /// `block_on(handle)`.
    Join,
    /// `abort()`, then `block_on(handle)`.
    AbortThenJoin,
    /// `block_on(poll_fn(|cx| handle.poll_finished(cx)))`, then the handle's state.
    PollFinished,
}

/// Waits, in its destructor, for another task of the same runtime through `Handle::block_on`
/// (synchronous cleanup: a guard that stops and awaits the task it started), and reports
/// whether that wait saw the task cancelled.
struct AwaitsOnDrop {
    handle: ciranda_scheduler::Handle,
    task: Option<ciranda_scheduler::JoinHandle<()>>,
    wait: Wait,
    cancelled: std::sync::mpsc::Sender<bool>,
}

impl Drop for AwaitsOnDrop {
    fn drop(&mut self) {
        let mut task = self.task.take().expect("dropped once");
        let cancelled = match self.wait {
            Wait::Join => self.handle.block_on(task).is_err_and(|e| e.is_cancelled()),
            Wait::AbortThenJoin => {
                task.abort();
                self.handle.block_on(task).is_err_and(|e| e.is_cancelled())
            }
            Wait::PollFinished => {
                self.handle
                    .block_on(std::future::poll_fn(|cx| task.poll_finished(cx)));
                task.is_finished() && task.is_failed()
            }
        };
        let _ = self.cancelled.send(cancelled);
    }
}

/// A destructor that the shutdown runs may `block_on` (the shutting-down thread is not a
/// worker) until another unfinished task of the same runtime is done, aborted first or not.
/// That task never runs again, and its future is dropped by the same drain that runs the
/// waiting destructor, after it: the wait was for ever, and dropping the runtime never
/// returned (as soon as the drain reached a waiting task before the one it waits for). The
/// awaited task is now cancelled where its `JoinHandle` is polled. A chain of such tasks,
/// each waiting for the one spawned before it, on both flavors and with one and two
/// registry shards (so the drain meets them in several orders).
#[test]
fn a_destructor_that_waits_for_another_task_during_shutdown_does_not_hang() {
    use ciranda_scheduler::Flavor;
    const CHAIN: usize = 20;
    let setups = [
        (Flavor::MultiThread, 1, Wait::Join),
        (Flavor::MultiThread, 2, Wait::AbortThenJoin),
        (Flavor::MultiThread, 2, Wait::PollFinished),
        (Flavor::CurrentThread, 1, Wait::Join),
        (Flavor::CurrentThread, 1, Wait::AbortThenJoin),
    ];
    for (round, (flavor, workers, wait)) in setups.into_iter().enumerate() {
        let sched = Scheduler::builder()
            .flavor(flavor)
            .worker_threads(workers)
            .build()
            .unwrap();
        let handle = sched.handle();
        let dropped = Arc::new(AtomicUsize::new(0));
        let (cancelled_tx, cancelled_rx) = std::sync::mpsc::channel();
        let guard = DropCounter(dropped.clone());
        // The first task waits for good; every later one, when dropped, waits for the one
        // before it.
        let mut last = sched.spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        });
        for _ in 0..CHAIN {
            let waits = AwaitsOnDrop {
                handle: handle.clone(),
                task: Some(last),
                wait,
                cancelled: cancelled_tx.clone(),
            };
            let guard = DropCounter(dropped.clone());
            last = sched.spawn(async move {
                let _waits = waits;
                let _guard = guard;
                pending::<()>().await;
            });
        }
        drop(cancelled_tx);
        if flavor == Flavor::MultiThread {
            // Let the workers poll them once, so they wait in their future, not queued.
            sched.block_on(ciranda_scheduler::task::yield_now());
        }
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(sched);
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("round {round} ({wait:?}): dropping the runtime hung"));
        assert_eq!(dropped.load(SeqCst), CHAIN + 1, "round {round}");
        let seen: Vec<bool> = cancelled_rx.iter().collect();
        assert_eq!(seen, vec![true; CHAIN], "round {round} ({wait:?})");
        assert!(last.is_finished(), "round {round}");
        let late = handle.spawn(async {});
        assert!(
            late.is_finished(),
            "spawned after shutdown: cancelled at once"
        );
    }
}
