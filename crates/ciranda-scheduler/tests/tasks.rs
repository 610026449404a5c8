#![cfg(not(loom))]
//! Task semantics: results, panics, abort, detach, names, listing.

use ciranda_scheduler::task::{Builder, TaskState, yield_now};
use ciranda_scheduler::{JoinError, Scheduler};
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

fn sched(workers: usize) -> Scheduler {
    Scheduler::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// Counts drops, to observe that a future (or output) was dropped exactly once.
#[derive(Debug)]
struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A future that stays pending until its waker is taken and woken from outside.
struct Gate {
    opened: Arc<std::sync::atomic::AtomicBool>,
    waker_tx: Option<mpsc::Sender<Waker>>,
}
impl Future for Gate {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.opened.load(SeqCst) {
            return Poll::Ready(());
        }
        if let Some(tx) = self.waker_tx.take() {
            tx.send(cx.waker().clone()).unwrap();
        }
        Poll::Pending
    }
}

#[test]
fn results_come_back_in_order() {
    let s = sched(4);
    let handles: Vec<_> = (0..100u64).map(|i| s.spawn(async move { i * i })).collect();
    let results: Vec<u64> = s.block_on(async {
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert_eq!(results, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn panic_is_caught_and_worker_survives() {
    let s = sched(1);
    let seven = std::hint::black_box(7);
    let bad = s.spawn(async move { panic!("kaboom {seven}") });
    let err = s.block_on(bad).unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert_eq!(err.panic_message().as_deref(), Some("kaboom 7"));
    assert!(err.to_string().contains("panicked: kaboom 7"), "{err}");
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<String>().unwrap(), "kaboom 7");
    // The single worker is still alive.
    assert_eq!(s.block_on(s.spawn(async { 5 })).unwrap(), 5);
}

/// `Display` and `Debug` of a panic's `JoinError` copy the message out before they write:
/// the writer is the caller's code, and one that formats the same error again (a logger that
/// prints a value's `Debug` beside its `Display`, say) used to deadlock on the payload's
/// lock, held through the whole formatting statement.
#[test]
fn join_error_formats_with_the_payloads_lock_released() {
    use std::fmt::Write;

    struct FormatsItAgain<'a> {
        err: &'a JoinError,
        out: String,
        again: Vec<String>,
    }

    impl Write for FormatsItAgain<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.again.push(format!("{:?}", self.err));
            self.out.push_str(s);
            Ok(())
        }
    }

    let s = sched(1);
    let err = s.block_on(s.spawn(async { panic!("kaboom") })).unwrap_err();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut writer = FormatsItAgain {
            err: &err,
            out: String::new(),
            again: Vec::new(),
        };
        write!(writer, "{err}|{err:?}").unwrap();
        let _ = tx.send((writer.out, writer.again, format!("{err:?}")));
    });
    let (shown, again, debug) = rx.recv_timeout(Duration::from_secs(10)).expect(
        "formatting a JoinError through a writer that formats it again deadlocked (or panicked)",
    );
    assert!(
        debug.starts_with("JoinError::Panic(") && debug.ends_with(", \"kaboom\")"),
        "{debug}"
    );
    assert!(shown.contains("panicked: kaboom|"), "{shown}");
    assert!(shown.ends_with(&debug), "{shown}");
    assert!(
        !again.is_empty() && again.iter().all(|d| *d == debug),
        "{again:?}"
    );
}

#[test]
fn panic_error_names_the_task() {
    let s = sched(1);
    let h = Builder::new()
        .name("fetch")
        .spawn_on(async { panic!("no network") }, &s.handle());
    let id = h.id();
    let err = s.block_on(h).unwrap_err();
    assert_eq!(err.id(), id);
    assert_eq!(err.name(), Some("fetch"));
    let text = err.to_string();
    assert!(
        text.contains(&id.to_string()) && text.contains("\"fetch\""),
        "{text}"
    );
}

#[test]
fn abort_before_first_poll() {
    let s = sched(1);
    let dropped = Arc::new(AtomicUsize::new(0));
    // Keep the only worker busy so the task cannot start before the abort.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let blocker = s.spawn(async move {
        release_rx.recv().unwrap();
    });
    let guard = DropCounter(dropped.clone());
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    let h = s.spawn(async move {
        let _guard = guard;
        ran2.fetch_add(1, SeqCst);
    });
    h.abort();
    release_tx.send(()).unwrap();
    let err = s.block_on(h).unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    assert!(err.to_string().contains("was cancelled"));
    assert_eq!(ran.load(SeqCst), 0, "an aborted task must not start");
    assert_eq!(dropped.load(SeqCst), 1);
    s.block_on(blocker).unwrap();
}

#[test]
fn abort_while_idle_drops_future_once() {
    let s = sched(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let (started_tx, started_rx) = mpsc::channel();
    let h = s.spawn(async move {
        let _guard = guard;
        started_tx.send(()).unwrap();
        pending::<()>().await;
    });
    started_rx.recv().unwrap();
    h.abort();
    h.abort(); // idempotent
    let abort = h.abort_handle();
    assert!(s.block_on(h).unwrap_err().is_cancelled());
    assert!(abort.is_finished());
    assert_eq!(dropped.load(SeqCst), 1);
}

#[test]
fn abort_while_running_takes_effect_after_the_poll() {
    let s = sched(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let (in_poll_tx, in_poll_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let h = s.spawn(async move {
        let _guard = guard;
        in_poll_tx.send(()).unwrap();
        go_rx.recv().unwrap(); // still inside the first poll
        yield_now().await;
        unreachable!("cancelled at the yield");
    });
    in_poll_rx.recv().unwrap();
    h.abort();
    assert!(!h.is_finished());
    go_tx.send(()).unwrap();
    assert!(s.block_on(h).unwrap_err().is_cancelled());
    assert_eq!(dropped.load(SeqCst), 1);
}

#[test]
fn abort_after_completion_keeps_output() {
    let s = sched(1);
    let h = s.spawn(async { "done" });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    h.abort();
    assert_eq!(s.block_on(h).unwrap(), "done");
}

#[test]
fn dropping_join_handle_detaches() {
    let s = sched(2);
    let (tx, rx) = mpsc::channel();
    let h = s.spawn(async move {
        yield_now().await;
        tx.send(42).unwrap();
    });
    drop(h);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 42);
}

#[test]
fn detached_output_is_dropped_once() {
    let s = sched(2);
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let (tx, rx) = mpsc::channel::<()>();
    let h = s.spawn(async move {
        rx.recv().unwrap();
        DropCounter(d)
    });
    drop(h);
    tx.send(()).unwrap();
    // The output is dropped by the worker once the task completes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dropped.load(SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(dropped.load(SeqCst), 1);
}

#[test]
fn unhandled_panic_goes_to_the_hook() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen2 = seen.clone();
    let s = Scheduler::builder()
        .worker_threads(1)
        .on_unhandled_panic(move |e: &JoinError| seen2.lock().unwrap().push(e.to_string()))
        .build()
        .unwrap();
    drop(s.spawn(async { panic!("lost") }));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].contains("panicked: lost"), "{}", seen[0]);
}

#[test]
fn wake_from_foreign_threads() {
    let s = sched(2);
    let mut handles = Vec::new();
    let mut openers = Vec::new();
    for _ in 0..64 {
        let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        handles.push(s.spawn(Gate {
            opened: opened.clone(),
            waker_tx: Some(tx),
        }));
        openers.push(std::thread::spawn(move || {
            let waker = rx.recv().unwrap();
            opened.store(true, SeqCst);
            waker.wake();
        }));
    }
    for h in handles {
        s.block_on(h).unwrap();
    }
    for t in openers {
        t.join().unwrap();
    }
}

#[test]
fn ids_are_unique_and_names_listed() {
    let s = sched(1);
    let h1 = Builder::new()
        .name("alpha")
        .spawn_on(pending::<()>(), &s.handle());
    let h2 = s.spawn(pending::<()>());
    assert_ne!(h1.id(), h2.id());
    let tasks = s.handle().tasks();
    let alpha = tasks
        .iter()
        .find(|t| t.id() == h1.id())
        .expect("alpha listed");
    assert_eq!(alpha.name(), Some("alpha"));
    assert!(matches!(
        alpha.state(),
        TaskState::Idle | TaskState::Scheduled | TaskState::Running
    ));
    let other = tasks
        .iter()
        .find(|t| t.id() == h2.id())
        .expect("unnamed listed");
    assert_eq!(other.name(), None);
    let debug = format!("{alpha:?}");
    assert!(
        debug.contains("alpha") && debug.contains("state"),
        "{debug}"
    );
    h1.abort();
    let _ = s.block_on(h1);
    assert!(
        s.handle()
            .tasks()
            .iter()
            .all(|t| t.id() != h1_id(&tasks, "alpha"))
    );
}

fn h1_id(
    tasks: &[ciranda_scheduler::task::TaskInfo],
    name: &str,
) -> ciranda_scheduler::task::TaskId {
    tasks.iter().find(|t| t.name() == Some(name)).unwrap().id()
}

#[test]
fn completed_tasks_leave_the_listing() {
    let s = sched(2);
    let handles: Vec<_> = (0..1000).map(|i| s.spawn(async move { i })).collect();
    for h in handles {
        s.block_on(h).unwrap();
    }
    assert!(s.handle().tasks().is_empty(), "{:?}", s.handle().tasks());
}

#[test]
fn current_handle_inside_tasks() {
    let s = sched(2);
    let inner = s.block_on(async {
        let h = ciranda_scheduler::spawn(async {
            ciranda_scheduler::Handle::current()
                .spawn(async { 9 })
                .await
                .unwrap()
        });
        h.await.unwrap()
    });
    assert_eq!(inner, 9);
    assert!(ciranda_scheduler::Handle::try_current().is_none());
}

#[test]
fn enter_guards_dropped_out_of_order_leave_the_right_runtime_current() {
    use ciranda_scheduler::Handle;
    let (a, b, c) = (sched(1), sched(1), sched(1));
    // The earlier guard goes first: the later one is still alive, so its runtime stays
    // current, and once both are gone nothing is.
    let guard_a = a.handle().enter();
    let guard_b = b.handle().enter();
    drop(guard_a);
    assert!(
        Handle::try_current() == Some(b.handle()),
        "b's guard is alive"
    );
    drop(guard_b);
    assert!(Handle::try_current().is_none(), "a runtime is left current");
    // Three deep, the middle one first.
    let guard_a = a.handle().enter();
    let guard_b = b.handle().enter();
    let guard_c = c.handle().enter();
    drop(guard_b);
    assert!(Handle::try_current() == Some(c.handle()));
    drop(guard_c);
    assert!(
        Handle::try_current() == Some(a.handle()),
        "b's guard is gone"
    );
    drop(guard_a);
    assert!(Handle::try_current().is_none());
}

#[test]
#[should_panic(expected = "outside a runtime")]
fn current_outside_panics_with_message() {
    let _ = ciranda_scheduler::Handle::current();
}

#[test]
fn join_handle_can_be_awaited_after_a_cancelled_await() {
    let s = sched(1);
    let (tx, rx) = mpsc::channel::<()>();
    let mut h = s.spawn(async move {
        rx.recv().unwrap();
        3
    });
    // Poll the handle once with a no-op waker (as a dropped select branch would).
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
    tx.send(()).unwrap();
    assert_eq!(s.block_on(h).unwrap(), 3);
}

#[test]
fn poll_finished_keeps_the_output_and_is_failed_reports_errors() {
    let s = sched(2);
    let mut ok = s.spawn(async { 1 });
    let mut bad = s.spawn(async { panic!("x") });
    let mut cancelled = s.spawn(pending::<()>());
    cancelled.abort();
    s.block_on(std::future::poll_fn(|cx| ok.poll_finished(cx)));
    s.block_on(std::future::poll_fn(|cx| bad.poll_finished(cx)));
    s.block_on(std::future::poll_fn(|cx| cancelled.poll_finished(cx)));
    assert!(!ok.is_failed());
    assert!(bad.is_failed());
    assert!(cancelled.is_failed());
    assert_eq!(s.block_on(ok).unwrap(), 1);
    assert!(s.block_on(bad).unwrap_err().is_panic());
    assert!(s.block_on(cancelled).unwrap_err().is_cancelled());
}

/// The task's stage has no tag (the state word says what it holds), so who drops what is
/// decided by the protocol alone: each future and each output is dropped exactly once,
/// whether the handle takes the output, leaves it and is dropped, or polls a task that was
/// cancelled or panicked, and a handle that returned its output and is dropped later
/// drops nothing more.
#[test]
fn every_future_and_output_is_dropped_exactly_once_whoever_takes_it() {
    let s = sched(2);
    let futures = Arc::new(AtomicUsize::new(0));
    let outputs = Arc::new(AtomicUsize::new(0));
    let task = |fail: bool| {
        let guard = DropCounter(futures.clone());
        let outputs = outputs.clone();
        s.spawn(async move {
            let _guard = guard;
            yield_now().await;
            assert!(!fail, "failing on purpose");
            DropCounter(outputs)
        })
    };
    // Taken through the handle, then dropped by the caller; the handle is dropped later.
    let mut taken = task(false);
    let output = s.block_on(&mut taken).unwrap();
    assert_eq!(outputs.load(SeqCst), 0, "taking the output dropped it");
    drop(output);
    drop(taken);
    assert_eq!(outputs.load(SeqCst), 1);
    // Finished, never read: the handle's drop drops it.
    let mut left = task(false);
    s.block_on(std::future::poll_fn(|cx| left.poll_finished(cx)));
    assert_eq!(outputs.load(SeqCst), 1);
    drop(left);
    assert_eq!(outputs.load(SeqCst), 2);
    // A panic's payload, read through the handle, and one left unread.
    let mut failed = task(true);
    assert!(s.block_on(&mut failed).unwrap_err().is_panic());
    drop(failed);
    let mut unread = task(true);
    s.block_on(std::future::poll_fn(|cx| unread.poll_finished(cx)));
    drop(unread);
    // A cancelled task, read and unread.
    let gate = |_: ()| {
        let guard = DropCounter(futures.clone());
        s.spawn(async move {
            let _guard = guard;
            pending::<()>().await
        })
    };
    let mut cancelled = gate(());
    cancelled.abort();
    assert!(s.block_on(&mut cancelled).unwrap_err().is_cancelled());
    drop(cancelled);
    let mut quiet = gate(());
    quiet.abort();
    s.block_on(std::future::poll_fn(|cx| quiet.poll_finished(cx)));
    drop(quiet);
    assert_eq!(futures.load(SeqCst), 6, "each future dropped once");
    assert_eq!(
        outputs.load(SeqCst),
        2,
        "each finished task's output dropped once"
    );
}
