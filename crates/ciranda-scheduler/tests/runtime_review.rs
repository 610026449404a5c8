//! A second review of the scheduler's runtime surface: each test here failed before the fix
//! named beside it.

#![cfg(not(loom))]

use ciranda_scheduler::{Flavor, Scheduler};
use std::sync::mpsc;
use std::time::Duration;

/// A generous bound for anything that should finish at once.
const HANG: Duration = Duration::from_secs(10);

fn current_thread() -> Scheduler {
    Scheduler::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap()
}

/// On the current-thread flavor, tasks spawned or woken from outside the driver wait in the
/// flavor's remote queue, not in the injector: `global_queue_depth` read the injector only,
/// so it said 0 with a backlog waiting for the next `block_on`.
#[test]
fn current_thread_global_queue_depth_counts_tasks_waiting_for_the_driver() {
    let sched = current_thread();
    // Spawned between `block_on` calls: they wait for the next one.
    let queued: Vec<_> = (0..3).map(|_| sched.spawn(async {})).collect();
    assert_eq!(sched.handle().metrics().global_queue_depth(), 3);
    // Spawned from another thread: the same queue.
    let handle = sched.handle();
    let more =
        std::thread::spawn(move || (0..2).map(|_| handle.spawn(async {})).collect::<Vec<_>>())
            .join()
            .unwrap();
    assert_eq!(sched.handle().metrics().global_queue_depth(), 5);
    for h in queued.into_iter().chain(more) {
        sched.block_on(h).unwrap();
    }
    assert_eq!(sched.handle().metrics().global_queue_depth(), 0);
}

/// A blocking thread counted itself out of the pool before it ran `on_thread_stop`, so
/// `shutdown_timeout` saw no thread left and then joined it with no bound: a slow stop hook
/// (flushing a log, closing a connection) held `shutdown_timeout` for as long as it took.
/// Worker threads were already waited for only up to the timeout.
#[test]
fn shutdown_timeout_does_not_wait_past_its_timeout_for_a_blocking_threads_stop_hook() {
    use std::sync::{Arc, Mutex};
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let (stopped_tx, stopped_rx) = mpsc::channel::<()>();
    let stopped_tx = Mutex::new(stopped_tx);
    let sched = Scheduler::builder()
        .worker_threads(1)
        .on_thread_stop(move || {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            if name.ends_with("-blocking") {
                // A slow stop hook: it ends when the test lets it (or after a minute).
                let _ = release_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(60));
                let _ = stopped_tx.lock().unwrap().send(());
            }
        })
        .build()
        .unwrap();
    // Two blocking threads: one idle at shutdown, one running a call that ends at once.
    let (running_tx, running_rx) = mpsc::channel::<()>();
    let (finish_tx, finish_rx) = mpsc::channel::<()>();
    let first = sched.spawn_blocking(move || {
        running_tx.send(()).unwrap();
        let _ = finish_rx.recv_timeout(HANG);
    });
    running_rx.recv_timeout(HANG).unwrap();
    sched.block_on(sched.spawn_blocking(|| ())).unwrap();
    drop(finish_tx);
    sched.block_on(first).unwrap();
    let (returned_tx, returned_rx) = mpsc::channel();
    let shutting_down = std::thread::spawn(move || {
        sched.shutdown_timeout(Duration::from_millis(200));
        returned_tx.send(()).unwrap();
    });
    let returned = returned_rx.recv_timeout(HANG);
    // Let the hooks finish either way, so the test ends.
    drop(release_tx);
    shutting_down.join().unwrap();
    assert!(
        returned.is_ok(),
        "shutdown_timeout(200 ms) still waited for on_thread_stop after {HANG:?}"
    );
    // The hooks still ran, once per blocking thread.
    for _ in 0..2 {
        stopped_rx.recv_timeout(HANG).unwrap();
    }
}

/// Polls `cond` until it holds, for at most [`HANG`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + HANG;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not after {HANG:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A blocking thread still in its `on_thread_start` hook counted as searching the queue, and
/// a call queued while a thread searches wakes nobody (the searcher takes it). A slow start
/// hook (opening a per-thread database connection) so kept a new call queued behind it while
/// another pool thread sat idle.
#[test]
fn a_slow_on_thread_start_does_not_hold_calls_back_from_an_idle_blocking_thread() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let blocking_starts = Arc::new(AtomicUsize::new(0));
    let starts = blocking_starts.clone();
    let sched = Scheduler::builder()
        .worker_threads(1)
        .max_blocking_threads(2)
        .on_thread_start(move || {
            let name = std::thread::current().name().unwrap_or("").to_owned();
            if name.ends_with("-blocking") && starts.fetch_add(1, SeqCst) == 1 {
                // The second blocking thread's start is slow: it ends when the test lets it.
                let _ = release_rx
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(60));
            }
        })
        .build()
        .unwrap();
    let handle = sched.handle();
    // The first thread runs a call that waits for the test...
    let (running_tx, running_rx) = mpsc::channel::<()>();
    let (finish_tx, finish_rx) = mpsc::channel::<()>();
    let first = sched.spawn_blocking(move || {
        running_tx.send(()).unwrap();
        let _ = finish_rx.recv_timeout(HANG);
    });
    running_rx.recv_timeout(HANG).unwrap();
    // ...so the next call starts a second thread, which stays in its start hook. The first
    // thread takes that call when its own ends, then goes idle.
    let second = sched.spawn_blocking(|| ());
    eventually("the second thread starting", || {
        blocking_starts.load(SeqCst) == 2
    });
    drop(finish_tx);
    sched.block_on(first).unwrap();
    sched.block_on(second).unwrap();
    eventually("the first thread idle", || {
        handle.metrics().idle_blocking_threads() == 1
    });
    // A new call: the idle thread is there to run it.
    let (ran_tx, ran_rx) = mpsc::channel::<()>();
    let third = sched.spawn_blocking(move || ran_tx.send(()).unwrap());
    let ran = ran_rx.recv_timeout(HANG);
    drop(release_tx);
    assert!(
        ran.is_ok(),
        "a call waited {HANG:?} for a thread in its start hook while another thread was idle"
    );
    sched.block_on(third).unwrap();
}

thread_local! {
    static SCHEDULER: std::cell::RefCell<Option<Scheduler>> =
        const { std::cell::RefCell::new(None) };
}

const TLS_CHILD: &str = "CIRANDA_SCHEDULER_THREAD_LOCAL_CHILD";

/// A scheduler kept in a thread-local is dropped by its destructor when the thread exits,
/// possibly after the thread's runtime context is gone (thread-locals are destroyed in
/// reverse order of first use, and `block_on` uses the context after the slot was set up).
/// Shutdown entered the context to drop the tasks' futures; that panicked there, and a panic
/// in a thread-local's destructor aborts the process. Run in a child process (this binary
/// again), since an abort cannot be caught.
#[test]
fn a_scheduler_in_a_thread_local_is_dropped_at_thread_exit() {
    const NAME: &str = "a_scheduler_in_a_thread_local_is_dropped_at_thread_exit";
    const DONE: &str = "thread-local scheduler dropped";
    if std::env::var_os(TLS_CHILD).is_some() {
        for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
            std::thread::spawn(move || {
                SCHEDULER.with(|slot| {
                    let sched = Scheduler::builder()
                        .flavor(flavor)
                        .worker_threads(1)
                        .build()
                        .unwrap();
                    *slot.borrow_mut() = Some(sched);
                });
                SCHEDULER.with(|slot| {
                    let slot = slot.borrow();
                    let sched = slot.as_ref().unwrap();
                    drop(sched.spawn(std::future::pending::<()>()));
                    let answer = sched
                        .block_on(async { ciranda_scheduler::spawn(async { 42 }).await.unwrap() });
                    assert_eq!(answer, 42);
                });
            })
            .join()
            .unwrap();
        }
        println!("{DONE}");
        return;
    }
    let mut process = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(TLS_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while process.try_wait().unwrap().is_none() {
        if std::time::Instant::now() >= deadline {
            let _ = process.kill();
            let _ = process.wait();
            panic!("the child process hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let output = process.wait_with_output().unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains(DONE),
        "the child process failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A parking hook whose `unpark` panics once, the first time after it is armed.
struct PanicsOnceInUnpark {
    inner: ciranda_scheduler::park::ThreadParkers,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ciranda_scheduler::park::Park for PanicsOnceInUnpark {
    fn park(&self, cx: &ciranda_scheduler::park::ParkContext<'_>, timeout: Option<Duration>) {
        self.inner.park(cx, timeout);
    }
    fn unpark(&self, worker: usize) {
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("the test's unpark hook panics once");
        }
        self.inner.unpark(worker);
    }
}

/// A hook's `unpark` is user code. A notifier takes the worker it wakes off the sleeper list
/// and counts it as searching before calling `unpark`; when that call panicked, the worker
/// slept on counted as searching, and since a notifier wakes nobody while a worker searches,
/// no task spawned from outside ever ran again. The worker now goes back to the sleepers.
#[test]
fn a_panicking_unpark_hook_does_not_leave_new_work_unannounced() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let armed = Arc::new(AtomicBool::new(false));
    let sched = Scheduler::builder()
        .worker_threads(2)
        .park_hook({
            let armed = armed.clone();
            move |workers| PanicsOnceInUnpark {
                inner: ciranda_scheduler::park::ThreadParkers::new(workers),
                armed,
            }
        })
        .build()
        .unwrap();
    assert_eq!(sched.block_on(sched.spawn(async { 1 })).unwrap(), 1);
    // Both workers asleep for good: the next spawn from outside calls `unpark`. (A watcher
    // sleeps a few milliseconds at most, then parks for good as well.)
    eventually("both workers parked", || sched.handle().is_idle());
    std::thread::sleep(Duration::from_millis(50));
    eventually("both workers parked", || sched.handle().is_idle());
    armed.store(true, SeqCst);
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sched.spawn(async {})));
    assert!(spawned.is_err(), "the hook's panic reaches the spawner");
    // Spawned from outside afterwards: each one runs.
    let handle = sched.handle();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..10 {
            let out = handle.block_on(handle.spawn(async move { i }));
            if done_tx.send(out.unwrap()).is_err() {
                return;
            }
        }
    });
    for i in 0..10 {
        assert_eq!(
            done_rx.recv_timeout(HANG),
            Ok(i),
            "a spawn from outside never ran"
        );
    }
}

/// A parking hook whose `shutdown` panics, and whose `notify_idle_change` panics once on a
/// blocking thread after it is armed.
struct PanickyHook {
    inner: ciranda_scheduler::park::ThreadParkers,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl ciranda_scheduler::park::Park for PanickyHook {
    fn park(&self, cx: &ciranda_scheduler::park::ParkContext<'_>, timeout: Option<Duration>) {
        self.inner.park(cx, timeout);
    }
    fn unpark(&self, worker: usize) {
        self.inner.unpark(worker);
    }
    fn notify_idle_change(&self) {
        let on_blocking_thread = std::thread::current()
            .name()
            .is_some_and(|name| name.ends_with("-blocking"));
        if on_blocking_thread && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            panic!("the test's notify_idle_change hook panics once");
        }
    }
    fn shutdown(&self) {
        panic!("the test's shutdown hook panics");
    }
}

fn panicky_scheduler(
    armed: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    builder: ciranda_scheduler::Builder,
) -> Scheduler {
    let armed = armed.clone();
    builder
        .park_hook(move |workers| PanickyHook {
            inner: ciranda_scheduler::park::ThreadParkers::new(workers),
            armed,
        })
        .build()
        .unwrap()
}

/// The parking hook's `shutdown` is user code. When it panicked, dropping the scheduler
/// unwound right after raising the shutdown flag: the workers were never woken to leave
/// (their stop hooks never ran), no unfinished task's future was dropped, and the blocking
/// pool was never shut down. The panic is reported and the shutdown goes on.
#[test]
fn a_panicking_shutdown_hook_does_not_stop_the_shutdown_half_way() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, SeqCst);
        }
    }
    let stopped = Arc::new(AtomicUsize::new(0));
    let counter = stopped.clone();
    let sched = panicky_scheduler(
        &Arc::new(AtomicBool::new(false)),
        Scheduler::builder()
            .worker_threads(2)
            .thread_name("rvs")
            .on_thread_stop(move || {
                if std::thread::current()
                    .name()
                    .is_some_and(|name| name.contains("-worker-"))
                {
                    counter.fetch_add(1, SeqCst);
                }
            }),
    );
    let dropped = Arc::new(AtomicBool::new(false));
    let guard = SetOnDrop(dropped.clone());
    let pending = sched.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let shut_down = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(sched)));
    assert!(shut_down.is_ok(), "dropping the scheduler panicked");
    assert!(
        dropped.load(SeqCst),
        "the pending task's future was not dropped"
    );
    assert!(pending.is_finished(), "the pending task did not finish");
    assert_eq!(stopped.load(SeqCst), 2, "not every worker left");
}

/// The parking hook's `notify_idle_change` is user code, called by a blocking thread after
/// each call. When it panicked, the thread died between two calls; a call queued meanwhile
/// (the pool at its limit) waited for that thread to take it, and nobody else would until
/// the next `spawn_blocking`. The panic is reported and the thread carries on.
#[test]
fn a_panicking_notify_idle_change_does_not_strand_a_queued_blocking_call() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let armed = Arc::new(AtomicBool::new(false));
    let sched = panicky_scheduler(
        &armed,
        Scheduler::builder()
            .worker_threads(1)
            .max_blocking_threads(1),
    );
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let first = sched.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(60));
        1
    });
    started_rx.recv_timeout(HANG).unwrap();
    // Queued behind the first: the pool is at its limit.
    let second = sched.spawn_blocking(|| 2);
    armed.store(true, std::sync::atomic::Ordering::SeqCst);
    release_tx.send(()).unwrap();
    let handle = sched.handle();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(handle.block_on(second).unwrap());
    });
    assert_eq!(
        done_rx.recv_timeout(HANG),
        Ok(2),
        "the queued call never ran"
    );
    assert_eq!(sched.block_on(first).unwrap(), 1);
    // The shutdown hook panics too: contained (see the test above).
    drop(sched);
}

/// A parking hook whose `notify_idle_change` panics every time it is called on a thread that
/// is not the runtime's own (a `block_on` caller's).
struct PanicsOffRuntime {
    inner: ciranda_scheduler::park::ThreadParkers,
}

impl ciranda_scheduler::park::Park for PanicsOffRuntime {
    fn park(&self, cx: &ciranda_scheduler::park::ParkContext<'_>, timeout: Option<Duration>) {
        self.inner.park(cx, timeout);
    }
    fn unpark(&self, worker: usize) {
        self.inner.unpark(worker);
    }
    fn notify_idle_change(&self) {
        let on_runtime_thread = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with("rvi-"));
        if !on_runtime_thread {
            panic!("the test's notify_idle_change hook panics off the runtime's threads");
        }
    }
}

/// `block_on` tells the parking hook when its future stops running. That call was not
/// contained: a hook panicking there replaced `block_on`'s result with the hook's panic, and
/// when the future itself panicked, the hook's second panic during the unwinding aborted
/// the process. Now the hook's panic is reported and `block_on` returns (or unwinds with the
/// future's own panic), on both flavors.
#[test]
fn a_panicking_notify_idle_change_does_not_replace_block_ons_result() {
    for flavor in [Flavor::MultiThread, Flavor::CurrentThread] {
        let sched = Scheduler::builder()
            .flavor(flavor)
            .worker_threads(2)
            .thread_name("rvi")
            .park_hook(|workers| PanicsOffRuntime {
                inner: ciranda_scheduler::park::ThreadParkers::new(workers),
            })
            .build()
            .unwrap();
        // Ready at once: the hook is told on the way out.
        assert_eq!(sched.block_on(async { 7 }), 7, "{flavor:?}");
        // Pending first: told when the future goes idle, and again on the way out.
        let task = sched.spawn(async {
            for _ in 0..3 {
                yield_once().await;
            }
            8
        });
        assert_eq!(sched.block_on(task).unwrap(), 8, "{flavor:?}");
        // The future panics: `block_on` unwinds with that panic, not the hook's (nor aborts).
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sched.block_on(async { panic!("the future's own panic") })
        }))
        .expect_err("block_on returned from a panicking future");
        assert_eq!(
            unwound.downcast_ref::<&str>().copied(),
            Some("the future's own panic"),
            "{flavor:?}"
        );
        // And the runtime still works.
        assert_eq!(
            sched.block_on(sched.spawn(async { 9 })).unwrap(),
            9,
            "{flavor:?}"
        );
    }
}

/// Pending once, then ready (without depending on a runtime's yield helper).
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
