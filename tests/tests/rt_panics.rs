//! Panic isolation: a panic in a task, in the `Drop` of a cancelled future, in a task's
//! output, in a waker (join handle, socket, timer) or in a blocking call never takes a worker
//! (or the runtime) down, and every `JoinHandle` resolves.
//!
//! Each test names its runtime's threads with its own prefix and counts them in
//! `/proc/self/task/*/comm` afterwards: a worker that died would be missing.

use ciranda::Runtime;
use ciranda::io::AsyncWriteExt;
use ciranda::net::{TcpListener, TcpStream};
use ciranda::task::JoinHandle;
use ciranda::time::sleep;
use ciranda_tests::support::{quiet_expected_panics, threads_named, wait_until, within};
use futures_util::io::AsyncRead;
use std::future::{Future, pending, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Every panic these tests provoke carries this marker; `quiet_expected_panics(MARK)` keeps
/// them off stderr.
const MARK: &str = "expected test panic";

fn runtime(prefix: &str, workers: usize, unhandled: Arc<AtomicUsize>) -> Runtime {
    quiet_expected_panics(MARK);
    Runtime::builder()
        .worker_threads(workers)
        .thread_name(prefix)
        .on_unhandled_panic(move |_| {
            unhandled.fetch_add(1, SeqCst);
        })
        .build()
        .unwrap()
}

/// The runtime still runs work on every worker: `workers` tasks that each wait for all the
/// others to start can only finish if every worker takes one.
fn assert_all_workers_alive(rt: &Runtime, prefix: &str, workers: usize) {
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let started = started.clone();
            rt.spawn(async move {
                started.fetch_add(1, SeqCst);
                // Spin (without yielding) until every sibling runs: needs `workers` threads.
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while started.load(SeqCst) < workers {
                    assert!(std::time::Instant::now() < deadline, "a worker is missing");
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    for h in handles {
        rt.block_on(h).unwrap();
    }
    // Counted only now: a thread takes its name when it first runs (std names it from the
    // inside), and on a loaded machine a live worker may not have run before this point.
    // Read again until it matches: once in CI a count came out one thread short right after
    // both workers had each run a spinning task (120 reruns did not repeat it). The likely
    // cause is the kernel's listing of /proc/<pid>/task: a read that resumes after a thread
    // that has exited meanwhile restarts by position, and skips a live thread when earlier
    // ones exited too; the other tests' runtimes start and stop threads at the same time. A
    // dead worker never comes back, so waiting cannot hide one.
    if std::fs::metadata("/proc/self/task").is_ok() {
        let named = format!("{prefix}-worker");
        wait_until(
            &format!("a worker thread died: {workers} threads named {named}-* expected"),
            || threads_named(&named) == workers,
        );
    }
    let sum = rt.block_on(async {
        let hs: Vec<_> = (0..1000u64)
            .map(|i| ciranda::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 999 * 1000 / 2);
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Panics when dropped (and counts the drop first).
#[derive(Debug)]
struct PanicOnDrop(Arc<AtomicUsize>);
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        panic!("{MARK}: drop");
    }
}

/// A waker whose `wake` panics (after counting the call).
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

fn panic_waker() -> (Arc<PanicWaker>, Waker) {
    let inner = Arc::new(PanicWaker(AtomicUsize::new(0)));
    (inner.clone(), Waker::from(inner))
}

#[test]
fn panicking_tasks_resolve_as_panics_and_every_worker_survives() {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rpa", 2, unhandled.clone());
    // From outside (injector) and from inside (LIFO slot / local queue), before and after an
    // await point.
    let outside: Vec<JoinHandle<()>> = (0..200)
        .map(|i| {
            rt.spawn(async move {
                if i % 2 == 0 {
                    ciranda::task::yield_now().await;
                }
                panic!("{MARK}: task {i}");
            })
        })
        .collect();
    let inside = rt.block_on(async {
        let hs: Vec<JoinHandle<u32>> = (0..200u32)
            .map(|i| {
                ciranda::spawn(async move {
                    sleep(Duration::from_millis(u64::from(i % 3))).await;
                    if i % 4 != 3 {
                        panic!("{MARK}: inner {i}");
                    }
                    i
                })
            })
            .collect();
        let mut results = Vec::new();
        for h in hs {
            results.push(h.await);
        }
        results
    });
    for (i, h) in outside.into_iter().enumerate() {
        let err = rt.block_on(h).unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert_eq!(
            err.panic_message().as_deref(),
            Some(format!("{MARK}: task {i}").as_str())
        );
    }
    for (i, r) in inside.into_iter().enumerate() {
        if i % 4 == 3 {
            assert_eq!(r.unwrap(), i as u32);
        } else {
            assert!(r.unwrap_err().is_panic());
        }
    }
    // Detached panics go to the hook, once each, and do not hurt either.
    for i in 0..100 {
        drop(rt.spawn(async move { panic!("{MARK}: detached {i}") }));
    }
    wait_until("100 unhandled panics reported", || {
        unhandled.load(SeqCst) == 100
    });
    assert_all_workers_alive(&rt, "rpa", 2);
    // Nothing is reported twice, even after a while.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(unhandled.load(SeqCst), 100);
}

#[test]
fn a_cancelled_future_that_panics_in_drop_resolves_its_handle() {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rpd", 2, unhandled.clone());
    let drops = Arc::new(AtomicUsize::new(0));
    // Idle tasks (polled once, then pending) aborted from outside.
    let idle: Vec<_> = (0..100)
        .map(|_| {
            let guard = PanicOnDrop(drops.clone());
            rt.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            })
        })
        .collect();
    // Let them all reach their first `pending`.
    wait_until("idle tasks polled", || {
        rt.handle()
            .tasks()
            .iter()
            .all(|t| t.state() == ciranda::task::TaskState::Idle)
    });
    for h in &idle {
        h.abort();
    }
    for h in idle {
        let err = rt.block_on(h).unwrap_err();
        // The cancellation's drop panicked: the handle reports that panic.
        assert!(err.is_cancelled() || err.is_panic(), "{err}");
        if err.is_panic() {
            assert_eq!(err.panic_message().unwrap(), format!("{MARK}: drop"));
        }
    }
    assert_eq!(drops.load(SeqCst), 100);

    // Aborted from inside a task while the target runs on the other worker, and aborted
    // before its first poll; then detached ones aborted through an AbortHandle.
    let drops2 = Arc::new(AtomicUsize::new(0));
    let d = drops2.clone();
    let results = rt.block_on(async move {
        let mut out = Vec::new();
        for i in 0..100 {
            let guard = PanicOnDrop(d.clone());
            let h = ciranda::spawn(async move {
                let _guard = guard;
                loop {
                    ciranda::task::yield_now().await;
                }
            });
            if i % 2 == 0 {
                ciranda::task::yield_now().await;
            }
            h.abort();
            out.push(h.await);
        }
        let mut aborts = Vec::new();
        for _ in 0..50 {
            let guard = PanicOnDrop(d.clone());
            let h = ciranda::spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
            aborts.push(h.abort_handle());
            drop(h);
        }
        for a in aborts {
            a.abort();
        }
        out
    });
    for r in results {
        assert!(r.is_err());
    }
    wait_until("every aborted future dropped", || {
        drops2.load(SeqCst) == 150
    });
    assert_all_workers_alive(&rt, "rpd", 2);
    // A timeout that drops a future whose destructor panics: the panic surfaces in the task
    // that owns the timeout, nowhere else.
    let d3 = Arc::new(AtomicUsize::new(0));
    let guard = PanicOnDrop(d3.clone());
    let h = rt.spawn(async move {
        let inner = async move {
            let _guard = guard;
            pending::<()>().await;
        };
        let _ = ciranda::time::timeout(Duration::from_millis(1), inner).await;
    });
    let err = rt.block_on(h).unwrap_err();
    assert!(err.is_panic());
    assert_eq!(d3.load(SeqCst), 1);
    assert_all_workers_alive(&rt, "rpd", 2);
}

#[test]
fn shutdown_survives_futures_that_panic_in_drop() {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rps", 2, unhandled.clone());
    let panicking = Arc::new(AtomicUsize::new(0));
    let quiet = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for i in 0..1000 {
        let h = if i % 2 == 0 {
            let guard = PanicOnDrop(panicking.clone());
            rt.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_secs(3600)).await;
            })
        } else {
            let guard = Counted(quiet.clone());
            rt.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            })
        };
        if i % 3 == 0 {
            drop(h); // detached
        } else {
            handles.push(h);
        }
    }
    rt.block_on(async { sleep(Duration::from_millis(5)).await });
    rt.shutdown_timeout(Duration::from_secs(30));
    assert_eq!(
        panicking.load(SeqCst),
        500,
        "every panicking future dropped once"
    );
    assert_eq!(quiet.load(SeqCst), 500, "every other future dropped once");
    let mut cx = Context::from_waker(Waker::noop());
    for mut h in handles {
        assert!(h.is_finished());
        match Pin::new(&mut h).poll(&mut cx) {
            Poll::Ready(Err(e)) => assert!(e.is_cancelled() || e.is_panic()),
            _ => panic!("handle not resolved after shutdown"),
        }
    }
}

#[test]
fn a_task_output_that_panics_in_drop_does_not_hurt_the_worker() {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rpo", 2, unhandled.clone());
    let drops = Arc::new(AtomicUsize::new(0));
    // Detached: the runtime drops the output itself.
    for _ in 0..100 {
        let d = drops.clone();
        drop(rt.spawn(async move { PanicOnDrop(d) }));
    }
    wait_until("outputs dropped", || drops.load(SeqCst) == 100);
    // Dropping a JoinHandle whose output is stored drops it on the dropping thread: the
    // panic happens there, in user code.
    let d = drops.clone();
    let h = rt.spawn(async move { PanicOnDrop(d) });
    wait_until("finished", || h.is_finished());
    // Dropping the handle drops the stored output; its panic is contained (and reported on
    // stderr) rather than unwinding into the dropping code.
    drop(h);
    assert_eq!(drops.load(SeqCst), 101);
    assert_all_workers_alive(&rt, "rpo", 2);
}

#[test]
fn a_join_handle_waker_that_panics_is_contained() {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rpj", 2, unhandled.clone());
    let mut handles = Vec::new();
    let mut wakers = Vec::new();
    let gate = Arc::new(ciranda::sync::Event::new());
    for i in 0..50u32 {
        let gate = gate.clone();
        let mut h = rt.spawn(async move {
            gate.wait().await;
            i
        });
        let (count, waker) = panic_waker();
        // Register the panicking waker as the join waker.
        assert!(
            Pin::new(&mut h)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        handles.push(h);
        wakers.push(count);
    }
    gate.set();
    // A task is finished (`is_finished`) a moment before its worker calls the join waker, so
    // the wait is for the wakers: every one called, and so every task finished.
    wait_until("every join waker called", || {
        wakers.iter().all(|w| w.0.load(SeqCst) > 0)
    });
    for (i, h) in handles.into_iter().enumerate() {
        // The completing worker called the panicking waker; the output is still there.
        assert_eq!(rt.block_on(h).unwrap(), i as u32);
    }
    for w in &wakers {
        assert_eq!(w.0.load(SeqCst), 1, "the join waker was called once");
    }
    assert_all_workers_alive(&rt, "rpj", 2);
}

#[test]
fn socket_and_timer_wakers_that_panic_are_contained() {
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rpk", 2, unhandled.clone());
    let result = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();

        // Register panicking wakers: a read on the server socket, and ten timers.
        let (read_count, read_waker) = panic_waker();
        let (timer_count, timer_waker) = panic_waker();
        let mut buf = [0u8; 16];
        {
            let mut cx = Context::from_waker(&read_waker);
            assert!(
                Pin::new(&mut server)
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            );
        }
        let mut sleeps: Vec<_> = (0..10)
            .map(|i| Box::pin(sleep(Duration::from_millis(1 + i))))
            .collect();
        {
            let mut cx = Context::from_waker(&timer_waker);
            for s in &mut sleeps {
                assert!(s.as_mut().poll(&mut cx).is_pending());
            }
        }
        // Fire them: the reactor calls each panicking waker and keeps going.
        client.write_all(b"ping").await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while read_count.0.load(SeqCst) < 1 || timer_count.0.load(SeqCst) < 10 {
            assert!(std::time::Instant::now() < deadline, "wakers never called");
            sleep(Duration::from_millis(5)).await;
        }
        // A little longer: nothing is called twice.
        sleep(Duration::from_millis(20)).await;
        let wakes = (read_count.0.load(SeqCst), timer_count.0.load(SeqCst));

        // Everything still works: the same socket and new timers, from a fresh task.
        let h = ciranda::spawn(async move {
            let mut got = [0u8; 4];
            futures_util::io::AsyncReadExt::read_exact(&mut server, &mut got)
                .await
                .unwrap();
            sleep(Duration::from_millis(2)).await;
            got
        });
        (
            wakes,
            h.await.unwrap(),
            sleeps.iter().all(|s| s.is_elapsed()),
        )
    });
    let ((read_wakes, timer_wakes), got, elapsed) = result;
    assert_eq!(read_wakes, 1);
    assert_eq!(timer_wakes, 10);
    assert_eq!(&got, b"ping");
    assert!(elapsed);
    assert_all_workers_alive(&rt, "rpk", 2);
}

#[test]
fn panicking_blocking_calls_resolve_and_the_pool_keeps_serving() {
    quiet_expected_panics(MARK);
    let rt = Runtime::builder()
        .worker_threads(2)
        .thread_name("rpb")
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let handles: Vec<JoinHandle<u32>> = (0..100u32)
        .map(|i| {
            rt.spawn_blocking(move || {
                if i % 2 == 0 {
                    panic!("{MARK}: blocking {i}");
                }
                i
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        match rt.block_on(h) {
            Ok(v) => assert_eq!(v as usize, i),
            Err(e) => {
                assert_eq!(i % 2, 0);
                assert!(e.is_panic());
                assert_eq!(e.panic_message().unwrap(), format!("{MARK}: blocking {i}"));
            }
        }
    }
    // The pool threads survived the panics: still at most two, and they still serve.
    assert!(threads_named("rpb-blocking") <= 2);
    let sum: u32 = rt.block_on(async {
        let hs: Vec<_> = (0..20u32)
            .map(|i| ciranda::spawn_blocking(move || i))
            .collect();
        let mut sum = 0;
        for h in hs {
            sum += h.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 190);
    // A detached blocking panic is reported like a task's, and spawning from a blocking
    // call that panics later is fine too.
    let inner = rt.block_on(rt.spawn_blocking(|| {
        let h = ciranda::spawn(async { 7 });
        drop(ciranda::spawn_blocking(|| {
            panic!("{MARK}: detached blocking")
        }));
        h
    }));
    assert_eq!(rt.block_on(inner.unwrap()).unwrap(), 7);
    assert_all_workers_alive(&rt, "rpb", 2);
}

#[test]
fn a_panicking_unhandled_panic_hook_does_not_kill_a_worker() {
    // The hook is user code called on a worker; its panic must not end the worker thread
    // (which would also make the runtime's shutdown wait forever for it).
    quiet_expected_panics(MARK);
    within(
        60,
        "runtime with a panicking on_unhandled_panic hook",
        || {
            let calls = Arc::new(AtomicUsize::new(0));
            let c = calls.clone();
            let rt = Runtime::builder()
                .worker_threads(2)
                .thread_name("rph")
                .on_unhandled_panic(move |_| {
                    c.fetch_add(1, SeqCst);
                    panic!("{MARK}: hook");
                })
                .build()
                .unwrap();
            for i in 0..10 {
                drop(rt.spawn(async move { panic!("{MARK}: detached {i}") }));
            }
            wait_until("hook called for every detached panic", || {
                calls.load(SeqCst) == 10
            });
            assert_all_workers_alive(&rt, "rph", 2);
            drop(rt);
        },
    );
}

#[test]
fn a_panicking_unhandled_panic_hook_is_contained_on_every_thread() {
    // The hook also runs on a blocking thread (a detached `spawn_blocking` that panics) and
    // on whichever thread drops the `JoinHandle` of a task that panicked: in `drop`, where a
    // panic escaping would be especially bad.
    quiet_expected_panics(MARK);
    within(
        60,
        "unhandled-panic hook on blocking and user threads",
        || {
            let calls = Arc::new(AtomicUsize::new(0));
            let c = calls.clone();
            let rt = Runtime::builder()
                .worker_threads(1)
                .thread_name("rpt")
                .on_unhandled_panic(move |_| {
                    c.fetch_add(1, SeqCst);
                    panic!("{MARK}: hook");
                })
                .build()
                .unwrap();
            drop(rt.spawn_blocking(|| panic!("{MARK}: detached blocking")));
            wait_until("hook called for the blocking panic", || {
                calls.load(SeqCst) == 1
            });
            let h = rt.spawn(async { panic!("{MARK}: task") });
            wait_until("task finished", || h.is_finished());
            drop(h); // runs the hook here, on the test's thread
            assert_eq!(calls.load(SeqCst), 2);
            assert_eq!(rt.block_on(rt.spawn_blocking(|| 3)).unwrap(), 3);
            assert_all_workers_alive(&rt, "rpt", 1);
        },
    );
}

/// What [`Fragile`]'s rule decides for one call of the parking hook.
enum HookStep {
    /// Park as usual.
    Park,
    /// Return at once (a spurious wake-up).
    Return,
    /// Panic, killing the worker.
    Die,
}

/// A parking hook that asks `rule` before each call and panics (killing the worker) when it
/// says so; `died` is set just before.
struct Fragile<F> {
    inner: ciranda_scheduler::park::ThreadParkers,
    rule: F,
    died: Arc<std::sync::atomic::AtomicBool>,
}

impl<F> ciranda_scheduler::park::Park for Fragile<F>
where
    F: Fn(&ciranda_scheduler::park::ParkContext<'_>, Option<Duration>) -> HookStep
        + Send
        + Sync
        + 'static,
{
    fn park(&self, cx: &ciranda_scheduler::park::ParkContext<'_>, timeout: Option<Duration>) {
        match (self.rule)(cx, timeout) {
            HookStep::Park => self.inner.park(cx, timeout),
            HookStep::Return => {}
            HookStep::Die => {
                self.died.store(true, SeqCst);
                panic!("{MARK}: park hook");
            }
        }
    }
    fn unpark(&self, worker: usize) {
        self.inner.unpark(worker);
    }
}

/// A two-worker scheduler whose parking hook follows `rule`, and the flag set when a worker
/// dies in it.
fn fragile_scheduler<F>(
    name: &str,
    rule: F,
) -> (
    ciranda_scheduler::Scheduler,
    Arc<std::sync::atomic::AtomicBool>,
)
where
    F: Fn(&ciranda_scheduler::park::ParkContext<'_>, Option<Duration>) -> HookStep
        + Send
        + Sync
        + 'static,
{
    let died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = died.clone();
    let sched = ciranda_scheduler::Scheduler::builder()
        .worker_threads(2)
        .thread_name(name)
        .park_hook(move |workers| Fragile {
            inner: ciranda_scheduler::park::ThreadParkers::new(workers),
            rule,
            died: d,
        })
        .build()
        .unwrap();
    (sched, died)
}

#[test]
fn a_worker_that_dies_does_not_hang_shutdown() {
    // A worker can only die through a bug or a panicking parking hook (user code, called
    // outside any task). It still reports its exit, so dropping the scheduler returns.
    quiet_expected_panics(MARK);
    within(60, "shutdown after a worker died", || {
        let (sched, died) = fragile_scheduler("rpx", |cx, _| match cx.worker() {
            0 => HookStep::Die,
            _ => HookStep::Park,
        });
        wait_until("worker 0 parked and died", || died.load(SeqCst));
        // The dead worker counts as parked for good: the runtime can still be seen idle,
        // which is what lets a paused clock advance (it used to stay "active" forever).
        wait_until("the runtime is seen idle", || sched.handle().is_idle());
        assert_eq!(sched.block_on(sched.spawn(async { 5 })).unwrap(), 5);
        wait_until("the runtime is idle again", || sched.handle().is_idle());
        drop(sched);
    });
}

#[test]
fn a_worker_that_dies_parked_gets_no_more_wake_ups() {
    // Worker 0's park hook panics right after worker 1 went to sleep for good (no watcher
    // timeout), so worker 0 dies registered as the newest sleeper: the next wake-up goes to
    // it. A dead worker must leave the sleeper list (and the searching count a notifier gave
    // it), or every task spawned from outside waits forever while worker 1 sleeps.
    use std::sync::atomic::AtomicBool;
    quiet_expected_panics(MARK);
    within(60, "tasks keep running after a worker died parked", || {
        let other_asleep = AtomicBool::new(false);
        let waited = AtomicBool::new(false);
        let (sched, died) = fragile_scheduler("rpz", move |cx, timeout| {
            if cx.worker() == 1 && timeout.is_none() {
                other_asleep.store(true, SeqCst);
            }
            if cx.worker() != 0 || timeout == Some(Duration::ZERO) {
                return HookStep::Park;
            }
            if waited.swap(true, SeqCst) {
                return HookStep::Die;
            }
            // First park: return (a spurious wake-up) once worker 1 sleeps without a
            // timeout, so that worker 0 registers again, after it, as the newest sleeper.
            let start = std::time::Instant::now();
            while !other_asleep.load(SeqCst) && start.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(1));
            }
            HookStep::Return
        });
        wait_until("worker 0 parked and died", || died.load(SeqCst));
        for i in 0..50 {
            assert_eq!(sched.block_on(sched.spawn(async move { i })).unwrap(), i);
        }
        drop(sched);
    });
}

#[test]
fn a_future_polled_with_a_panicking_waker_inside_a_task() {
    // A task that itself wakes a panicking waker (user code) panics; its JoinHandle says so
    // and the worker goes on.
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rpw", 2, unhandled);
    let h = rt.spawn(async {
        let (_, waker) = panic_waker();
        waker.wake_by_ref();
    });
    assert!(rt.block_on(h).unwrap_err().is_panic());
    let h = rt.spawn(async {
        let mut fut = pin!(sleep(Duration::from_millis(1)));
        poll_fn(|cx| fut.as_mut().poll(cx)).await;
        1
    });
    assert_eq!(rt.block_on(h).unwrap(), 1);
    assert_all_workers_alive(&rt, "rpw", 2);
}

/// A future that returns `Ready` with an output that panics when dropped, and then panics in
/// its own destructor. The task fails with the future's panic; the output (which nobody can
/// read) is dropped by the runtime, and its panic must not unwind out of the worker — on a
/// one-worker runtime that used to leave nobody to run anything (issue 15, defect 2a).
#[test]
fn a_future_and_its_output_that_both_panic_in_drop_leave_the_worker_alive() {
    struct ReadyThenPanicOnDrop(Arc<AtomicUsize>, Option<PanicOnDrop>);
    impl Future for ReadyThenPanicOnDrop {
        type Output = PanicOnDrop;
        fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<PanicOnDrop> {
            Poll::Ready(self.1.take().expect("polled once"))
        }
    }
    impl Drop for ReadyThenPanicOnDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
            panic!("{MARK}: future drop after ready");
        }
    }
    let unhandled = Arc::new(AtomicUsize::new(0));
    let rt = runtime("rrd", 1, unhandled.clone());
    let drops = Arc::new(AtomicUsize::new(0));
    let outputs = Arc::new(AtomicUsize::new(0));
    let (d, o) = (drops.clone(), outputs.clone());
    let awaited = rt.spawn(ReadyThenPanicOnDrop(d, Some(PanicOnDrop(o))));
    let error = within(30, "awaiting the task", move || {
        ciranda::Runtime::new().unwrap().block_on(awaited)
    })
    .expect_err("the future's destructor panicked");
    assert!(error.is_panic());
    assert_eq!(
        error.panic_message().as_deref(),
        Some(&*format!("{MARK}: future drop after ready"))
    );
    // Detached as well: the runtime reports the failure and carries on.
    for _ in 0..10 {
        let (d, o) = (drops.clone(), outputs.clone());
        drop(rt.spawn(ReadyThenPanicOnDrop(d, Some(PanicOnDrop(o)))));
    }
    wait_until("every output dropped", || outputs.load(SeqCst) == 11);
    assert_eq!(drops.load(SeqCst), 11);
    wait_until("every detached panic reported", || {
        unhandled.load(SeqCst) == 10
    });
    assert_all_workers_alive(&rt, "rrd", 1);
}

/// The environment variable that makes `reports_on_a_closed_stderr_do_not_kill_workers`'s
/// child run the scenario instead of spawning it.
const CLOSED_STDERR_CHILD: &str = "CIRANDA_TEST_CLOSED_STDERR_CHILD";

/// `eprintln!` panics when stderr is a closed pipe (`prog 2>&1 | head`). The runtime's own
/// reports — the default unhandled-panic report, the slow-poll report, the report of an output
/// that panicked in `Drop`, a panicking hook's report — are written on workers, and must not
/// kill them (issue 15, defect 2b). The scenario runs in a child process of this test binary
/// whose stderr is a pipe with no reader.
#[test]
fn reports_on_a_closed_stderr_do_not_kill_workers() {
    if std::env::var_os(CLOSED_STDERR_CHILD).is_some() {
        closed_stderr_scenario();
        return;
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "reports_on_a_closed_stderr_do_not_kill_workers",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CLOSED_STDERR_CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the only read end of the child's stderr: its writes now fail with EPIPE.
    drop(child.stderr.take());
    let output = within(120, "the closed-stderr child", move || {
        child.wait_with_output().unwrap()
    });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("closed stderr scenario: all reports survived"),
        "child failed ({:?}); its stdout:\n{stdout}",
        output.status
    );
}

fn closed_stderr_scenario() {
    // The default panic hook ignores a failing stderr; no quieting hook here, so the reports
    // really are written.
    let rt = Runtime::builder()
        .worker_threads(1)
        .thread_name("rcs")
        .slow_poll_threshold(Duration::from_millis(1))
        .on_thread_start(|| panic!("{MARK}: start hook"))
        .build()
        .unwrap();
    // Default unhandled-panic report (no hook installed).
    drop(rt.spawn(async { panic!("{MARK}: detached") }));
    // Slow-poll report.
    drop(rt.spawn(async { std::thread::sleep(Duration::from_millis(20)) }));
    // An output that panics when the runtime drops it.
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    drop(rt.spawn(async move { PanicOnDrop(d) }));
    // The one worker must still run tasks after all of that.
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 0..100u64 {
        let tx = tx.clone();
        drop(rt.spawn(async move { tx.send(i).unwrap() }));
    }
    let sum: u64 = (0..100)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(30))
                .expect("the worker died")
        })
        .sum();
    assert_eq!(sum, 99 * 100 / 2);
    assert_eq!(drops.load(SeqCst), 1);
    drop(rt);
    println!("closed stderr scenario: all reports survived");
}
