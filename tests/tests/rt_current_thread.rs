//! The current-thread flavor (issue 18): asyncio's order — every task on the `block_on`
//! thread, ready tasks in the order they were spawned or woken, timers in deadline order,
//! the same output on every run — and its edges: wakes from other threads, `block_on` from
//! two threads or from inside a task, I/O, shutdown.

#![cfg(not(loom))]

use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::sync::{Event, Mutex as AsyncMutex, Notify, Semaphore, mpsc, oneshot};
use ciranda::time::{Duration, advance, sleep};
use ciranda::{Flavor, Handle, Runtime};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

fn current_thread() -> Runtime {
    Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap()
}

fn paused() -> Runtime {
    Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .start_paused(true)
        .build()
        .unwrap()
}

type Log<T> = Arc<Mutex<Vec<T>>>;

fn log<T>() -> Log<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken<T: Clone>(log: &Log<T>) -> Vec<T> {
    log.lock().unwrap().clone()
}

#[test]
fn ten_thousand_tasks_start_in_the_order_they_were_spawned() {
    let rt = current_thread();
    let started = log();
    let handles: Vec<_> = (0..10_000)
        .map(|i| {
            let started = started.clone();
            rt.spawn(async move { started.lock().unwrap().push(i) })
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(taken(&started), (0..10_000).collect::<Vec<_>>());
}

#[test]
fn every_task_runs_on_the_block_on_thread() {
    let rt = current_thread();
    let me = std::thread::current().id();
    let threads = rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|_| ciranda::spawn(async { std::thread::current().id() }))
            .collect();
        let blocking = ciranda::spawn_blocking(|| std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(
            blocking,
            std::thread::current().id(),
            "spawn_blocking uses the pool"
        );
        let mut ids = Vec::new();
        for t in tasks {
            ids.push(t.await.unwrap());
        }
        ids
    });
    assert!(threads.iter().all(|&id| id == me));
}

#[test]
fn yields_interleave_round_robin_like_call_soon() {
    let rt = current_thread();
    let order = log();
    rt.block_on(async {
        let tasks: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let order = order.clone();
                ciranda::spawn(async move {
                    for step in 0..3 {
                        order.lock().unwrap().push(format!("{name}{step}"));
                        ciranda::task::yield_now().await;
                    }
                })
            })
            .collect();
        order.lock().unwrap().push("main".to_string());
        for t in tasks {
            t.await.unwrap();
        }
    });
    // The block_on future runs first (it spawned them), then the three in turn.
    assert_eq!(
        taken(&order),
        ["main", "a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]
    );
}

#[test]
fn notify_waiters_wakes_in_the_order_they_waited() {
    let rt = current_thread();
    let woken = log();
    let notify = Arc::new(Notify::new());
    rt.block_on(async {
        // Spawned in a scrambled order: they wait in the order they first ran.
        let ids = [7, 3, 9, 0, 5, 1, 8, 2, 6, 4];
        let tasks: Vec<_> = ids
            .into_iter()
            .map(|id| {
                let (notify, woken) = (notify.clone(), woken.clone());
                ciranda::spawn(async move {
                    notify.notified().await;
                    woken.lock().unwrap().push(id);
                })
            })
            .collect();
        ciranda::task::yield_now().await; // every task is now waiting
        notify.notify_waiters();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(taken(&woken), ids);
    });
}

#[test]
fn timers_firing_in_one_turn_wake_in_deadline_order() {
    let rt = paused();
    let fired = log();
    rt.block_on(async {
        // Created latest deadline first; equal deadlines keep their creation order.
        let delays = [50u64, 40, 30, 20, 20, 10];
        let tasks: Vec<_> = delays
            .into_iter()
            .enumerate()
            .map(|(i, ms)| {
                let fired = fired.clone();
                ciranda::spawn(async move {
                    sleep(Duration::from_millis(ms)).await;
                    fired.lock().unwrap().push((ms, i));
                })
            })
            .collect();
        ciranda::task::yield_now().await; // every timer is armed
        advance(Duration::from_millis(100)).await; // all due in the same turn
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(
        taken(&fired),
        [(10, 5), (20, 3), (20, 4), (30, 2), (40, 1), (50, 0)]
    );
}

/// A program with tasks, sleeps, a lock, a semaphore, a channel and an event: its trace.
fn program() -> Vec<String> {
    program_on(paused())
}

/// [`program`] on a paused runtime that runs ready tasks in `seed`'s order.
fn seeded_program(seed: u64) -> Vec<String> {
    let rt = Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .start_paused(true)
        .run_order_seed(seed)
        .build()
        .unwrap();
    program_on(rt)
}

fn program_on(rt: Runtime) -> Vec<String> {
    let trace = log();
    let handle = rt.handle();
    rt.block_on(async {
        let lock = Arc::new(AsyncMutex::new(0u32));
        let permits = Arc::new(Semaphore::new(2));
        let notify = Arc::new(Event::new());
        let (tx, mut rx) = mpsc::channel::<String>(4);
        let mut tasks = Vec::new();
        for id in 0..8u64 {
            let (lock, permits, notify, tx, trace) = (
                lock.clone(),
                permits.clone(),
                notify.clone(),
                tx.clone(),
                trace.clone(),
            );
            let handle = handle.clone();
            tasks.push(ciranda::spawn(async move {
                let permit = permits.acquire().await.unwrap();
                let at = handle.time().as_millis();
                trace.lock().unwrap().push(format!("{id} in at {at}"));
                sleep(Duration::from_millis(7 * (id % 3) + 1)).await;
                *lock.lock().await += 1;
                ciranda::task::yield_now().await;
                tx.send(format!("{id} sent")).await.unwrap();
                drop(permit);
                if id % 4 == 0 {
                    notify.wait().await;
                }
                trace
                    .lock()
                    .unwrap()
                    .push(format!("{id} out at {}", handle.time().as_millis()));
            }));
        }
        drop(tx);
        let mut received = 0;
        while let Some(message) = rx.recv().await {
            trace.lock().unwrap().push(message);
            received += 1;
            if received == 8 {
                notify.set();
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let counter = *lock.lock().await;
        trace.lock().unwrap().push(format!("counter {counter}"));
    });
    taken(&trace)
}

#[test]
fn the_same_program_prints_the_same_trace_fifty_times() {
    let first = program();
    assert_eq!(first.len(), 8 * 3 + 1, "{first:?}");
    assert_eq!(first.last().unwrap(), "counter 8");
    for run in 1..50 {
        assert_eq!(program(), first, "run {run} differs");
    }
}

#[test]
fn a_seeded_order_replays_the_same_trace() {
    for seed in [0, 1, 42, u64::MAX] {
        let first = seeded_program(seed);
        assert_eq!(first.len(), 8 * 3 + 1, "seed {seed}: {first:?}");
        assert_eq!(first.last().unwrap(), "counter 8", "seed {seed}");
        for run in 1..10 {
            assert_eq!(
                seeded_program(seed),
                first,
                "seed {seed}, run {run} differs"
            );
        }
    }
}

#[test]
fn seeds_explore_orders_that_fifo_never_shows() {
    let fifo = program();
    let traces: std::collections::HashSet<Vec<String>> = (0..16).map(seeded_program).collect();
    assert!(traces.len() >= 2, "16 seeds gave one order: {traces:?}");
    assert!(
        traces.iter().any(|t| *t != fifo),
        "every seed gave FIFO's order"
    );
}

#[test]
fn every_task_completes_in_a_seeded_order() {
    for seed in 0..4 {
        let rt = Runtime::builder()
            .flavor(Flavor::CurrentThread)
            .run_order_seed(seed)
            .build()
            .unwrap();
        let done = Arc::new(AtomicUsize::new(0));
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<usize>(8);
            for i in 0..2_000 {
                let (tx, done) = (tx.clone(), done.clone());
                drop(ciranda::spawn(async move {
                    ciranda::task::yield_now().await;
                    tx.send(i).await.unwrap();
                    done.fetch_add(1, SeqCst);
                }));
            }
            drop(tx);
            let mut sum = 0;
            while let Some(i) = rx.recv().await {
                sum += i;
            }
            assert_eq!(sum, (0..2_000).sum::<usize>(), "seed {seed}");
        });
        assert_eq!(done.load(SeqCst), 2_000, "seed {seed}");
    }
}

#[test]
fn a_run_order_seed_needs_the_current_thread_flavor() {
    let err = Runtime::builder()
        .worker_threads(2)
        .run_order_seed(1)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("run_order_seed"), "{err}");
}

#[test]
fn a_task_woken_from_another_thread_runs() {
    let rt = current_thread();
    let got = rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        let task = ciranda::spawn(async move { rx.await.unwrap() + 1 });
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            tx.send(41).unwrap();
        });
        task.await.unwrap()
    });
    assert_eq!(got, 42);
}

#[test]
fn tasks_spawned_from_another_thread_run_on_the_driver() {
    let rt = current_thread();
    let handle = rt.handle();
    let driver = std::thread::current().id();
    let (done_tx, done_rx) = oneshot::channel();
    let spawner = std::thread::spawn(move || {
        let tasks: Vec<_> = (0..100)
            .map(|i| handle.spawn(async move { (i, std::thread::current().id()) }))
            .collect();
        done_tx.send(tasks).unwrap();
    });
    let results = rt.block_on(async {
        let tasks = done_rx.await.unwrap();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    spawner.join().unwrap();
    assert_eq!(results.len(), 100);
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(i, &(j, t))| i == j && t == driver)
    );
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast::<&str>()
            .map(|s| s.to_string())
            .unwrap_or_default(),
    }
}

#[test]
fn block_on_inside_a_task_panics_with_a_clear_message() {
    let rt = current_thread();
    let error = rt.block_on(async {
        ciranda::spawn(async { Handle::current().block_on(async { 1 }) })
            .await
            .unwrap_err()
    });
    let message = panic_message(error.into_panic());
    assert!(
        message.contains("block_on called from inside a task of a current-thread runtime"),
        "{message}"
    );
    // From the block_on future itself, too; the runtime stays usable afterwards.
    let handle = rt.handle();
    let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async { handle.block_on(async { 1 }) })
    }));
    let message = panic_message(nested.unwrap_err());
    assert!(message.contains("current-thread runtime"), "{message}");
    assert_eq!(rt.block_on(rt.spawn(async { 5 })).unwrap(), 5);
}

#[test]
fn block_on_from_two_threads_one_drives_the_other_waits_then_takes_over() {
    let rt = current_thread();
    let handle = rt.handle();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (second_done_tx, second_done_rx) = std::sync::mpsc::channel();
    let second = std::thread::spawn({
        let handle = handle.clone();
        move || {
            // Runs while the main thread drives: its task runs over there.
            let first = handle.block_on(async { ciranda::spawn(async { 1 }).await.unwrap() });
            second_done_tx.send(first).unwrap();
            // Needs a task to run after the main thread's block_on has returned: this thread
            // must take the driver role over.
            handle.block_on(async {
                let (tx, rx) = oneshot::channel();
                let task = ciranda::spawn(async move {
                    sleep(Duration::from_millis(30)).await;
                    tx.send(2).unwrap();
                });
                release_tx.send(()).unwrap();
                task.await.unwrap();
                rx.await.unwrap()
            })
        }
    });
    // The main thread drives until the second thread's first block_on finished.
    let first = rt.block_on(async {
        loop {
            if let Ok(first) = second_done_rx.try_recv() {
                return first;
            }
            sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(first, 1);
    // Wait (outside block_on) until the second thread is inside its second block_on.
    release_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(second.join().unwrap(), 2);
}

#[test]
fn tcp_echo_on_the_current_thread_flavor() {
    let rt = current_thread();
    let echoed = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ciranda::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 1 << 16];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let message: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let (mut rd, mut wr) = client.split();
        let write = async {
            wr.write_all(&message).await.unwrap();
            wr.close().await.unwrap();
        };
        let read = async {
            let mut back = Vec::new();
            rd.read_to_end(&mut back).await.unwrap();
            back
        };
        let ((), back) = futures_util::join!(write, read);
        server.await.unwrap();
        back == message
    });
    assert!(echoed);
}

#[test]
fn handle_identity_tasks_and_abort_from_the_task_list() {
    let rt = current_thread();
    let handle = rt.handle();
    assert_eq!(handle.flavor(), Flavor::CurrentThread);
    assert_eq!(handle.num_workers(), 1);
    rt.block_on(async {
        assert!(Handle::current() == handle);
        let waiters: Vec<_> = (0..5)
            .map(|_| ciranda::spawn(std::future::pending::<()>()))
            .collect();
        ciranda::task::yield_now().await;
        let listed = Handle::current().tasks();
        assert_eq!(listed.len(), 5);
        for task in listed {
            task.abort(); // asyncio: for t in all_tasks(): t.cancel()
        }
        for w in waiters {
            assert!(w.await.unwrap_err().is_cancelled());
        }
        assert!(Handle::current().tasks().is_empty());
    });
    let other = current_thread();
    assert!(other.handle() != handle);
}

#[test]
fn the_paused_clock_is_exact_and_handle_time_follows_it() {
    let rt = paused();
    let handle = rt.handle();
    let times = rt.block_on(async {
        let start = handle.time();
        let mut seen = Vec::new();
        for ms in [5u64, 100, 3_600_000] {
            sleep(Duration::from_millis(ms)).await;
            seen.push((handle.time() - start).as_millis());
        }
        seen
    });
    assert_eq!(times, [5, 105, 3_600_105]);
}

/// Polls once with a no-op waker.
fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// A future that hands its waker out and never completes.
struct StashWaker(Arc<Mutex<Option<Waker>>>);

impl std::future::Future for StashWaker {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        *self.0.lock().unwrap() = Some(cx.waker().clone());
        Poll::Pending
    }
}

struct CountDrop(Arc<AtomicUsize>);

impl Drop for CountDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn wakes_and_spawns_after_the_runtime_is_dropped_do_nothing_harmful() {
    let rt = current_thread();
    let handle = rt.handle();
    let stash = Arc::new(Mutex::new(None));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (task_stash, guard) = (stash.clone(), CountDrop(dropped.clone()));
    let task = rt.spawn(async move {
        let _guard = guard;
        StashWaker(task_stash).await
    });
    rt.block_on(ciranda::task::yield_now());
    // Queued but never run (no block_on since): shutdown drops it too.
    let never_ran = rt.spawn(async { 1 });
    let waker = stash.lock().unwrap().take().expect("the task ran once");
    drop(rt);
    assert_eq!(dropped.load(SeqCst), 1, "shutdown dropped the future");
    assert!(
        poll_once(task)
            .expect("finished")
            .unwrap_err()
            .is_cancelled()
    );
    assert!(
        poll_once(never_ran)
            .expect("finished")
            .unwrap_err()
            .is_cancelled()
    );
    waker.wake_by_ref(); // a stale wake-up: nothing to run, nothing breaks
    waker.wake();
    let late = handle.spawn(async { 2 });
    assert!(
        poll_once(late)
            .expect("finished")
            .unwrap_err()
            .is_cancelled()
    );
    // block_on through the handle still works (the future itself runs here).
    assert_eq!(handle.block_on(async { 3 }), 3);
}

#[test]
fn tasks_spawned_between_block_on_calls_run_in_the_next_one() {
    let rt = current_thread();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let task = rt.spawn(async move { r.fetch_add(1, SeqCst) });
    std::thread::sleep(std::time::Duration::from_millis(10));
    assert_eq!(ran.load(SeqCst), 0, "nothing runs outside block_on");
    assert_eq!(rt.block_on(task).unwrap(), 0);
    assert_eq!(ran.load(SeqCst), 1);
}

#[ciranda::test(flavor = "current_thread")]
async fn the_test_attribute_takes_the_flavor() {
    assert_eq!(Handle::current().flavor(), Flavor::CurrentThread);
    let order = log();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let order = order.clone();
            ciranda::spawn(async move { order.lock().unwrap().push(i) })
        })
        .collect();
    ciranda::gather(tasks).await;
    assert_eq!(taken(&order), [0, 1, 2]);
}

#[ciranda::test(flavor = "current_thread", run_order_seed = 3)]
async fn the_test_attribute_takes_a_run_order_seed() {
    assert_eq!(Handle::current().flavor(), Flavor::CurrentThread);
    let order = log();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let order = order.clone();
            ciranda::spawn(async move { order.lock().unwrap().push(i) })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let mut ran = taken(&order);
    // Seed 3 does not give FIFO's order (the order is a function of the seed alone here).
    assert_ne!(ran, (0..8).collect::<Vec<_>>());
    ran.sort_unstable();
    assert_eq!(ran, (0..8).collect::<Vec<_>>());
}

#[test]
fn metrics_dump_and_the_panic_policy_work_on_the_current_thread_flavor() {
    // Metrics: the driver is worker 0.
    let rt = current_thread();
    rt.block_on(async {
        let handles: Vec<_> = (0..10)
            .map(|_| ciranda::spawn(async { ciranda::task::yield_now().await }))
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
    let m = rt.handle().metrics();
    assert_eq!(m.num_workers(), 1);
    assert!(m.spawned_tasks_count() >= 10);
    assert!(m.worker_poll_count(0) >= 20, "{m:?}");
    assert_eq!(m.worker_local_queue_depth(0), 0);

    // Dump: a task spawned from a task has it as parent, at this file's line.
    let (parent_id, child_id, child) = rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        let parent = ciranda::spawn(async move {
            let child = ciranda::spawn(std::future::pending::<()>());
            tx.send(child).unwrap();
            std::future::pending::<()>().await
        });
        let child = rx.await.unwrap();
        (parent.id(), child.id(), (parent, child))
    });
    let dump = rt.handle().dump();
    let info = dump.tasks().iter().find(|t| t.id() == child_id).unwrap();
    assert_eq!(info.parent(), Some(parent_id));
    assert_eq!(info.location().file(), file!());
    drop(child);

    // The unhandled-panic policy: a detached panic makes block_on panic with its message.
    let rt = Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .unhandled_panic(ciranda::UnhandledPanic::ShutdownRuntime)
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            drop(ciranda::spawn(async { panic!("detached boom") }));
            std::future::pending::<()>().await
        })
    }));
    let message = panic_message(caught.unwrap_err());
    assert!(message.contains("detached boom"), "{message}");
    // And from a blocking task, on another thread, while the driver waits.
    let rt = Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .unhandled_panic(ciranda::UnhandledPanic::ShutdownRuntime)
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            drop(ciranda::spawn_blocking(|| panic!("blocking boom")));
            std::future::pending::<()>().await
        })
    }));
    let message = panic_message(caught.unwrap_err());
    assert!(message.contains("blocking boom"), "{message}");
}
