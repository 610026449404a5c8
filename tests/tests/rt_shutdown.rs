//! Shutdown under load and from awkward places: 100 000 pending tasks with timers and open
//! sockets, from inside `spawn_blocking` and from inside a task, while other threads and
//! tasks are still spawning, repeatedly, and with a `Handle` used after the runtime is gone.
//!
//! Every test checks that each unfinished future is dropped exactly once, that every
//! `JoinHandle` resolves (as cancelled), and that nothing hangs (each potentially hanging
//! step runs under a watchdog that fails the test instead).

use ciranda::Runtime;
use ciranda::io::AsyncReadExt;
use ciranda::net::{TcpListener, TcpStream};
use ciranda::task::JoinHandle;
use ciranda::time::sleep;
use ciranda_tests::support::{threads_named, wait_until, within};
use std::future::{Future, pending};
use std::io::Read;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Resolves a handle without a runtime: after shutdown it must already be finished.
fn resolved<T>(mut h: JoinHandle<T>) -> Result<T, ciranda::task::JoinError> {
    assert!(h.is_finished(), "handle not finished after shutdown");
    match Pin::new(&mut h).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => panic!("finished handle returned Pending"),
    }
}

/// Counts a runtime's threads (workers and blocking threads) through its start and stop
/// hooks. `threads_named` reads `/proc/self/task`, whose listing can skip a live thread while
/// other threads exit, so a zero there could pass falsely; these counters cannot miss a
/// thread that has not reached its end.
#[derive(Clone, Default)]
struct ThreadHooks {
    started: Arc<AtomicUsize>,
    stopped: Arc<AtomicUsize>,
}

impl ThreadHooks {
    fn install(&self, builder: ciranda::runtime::Builder) -> ciranda::runtime::Builder {
        let (started, stopped) = (self.started.clone(), self.stopped.clone());
        builder
            .on_thread_start(move || {
                started.fetch_add(1, SeqCst);
            })
            .on_thread_stop(move || {
                stopped.fetch_add(1, SeqCst);
            })
    }

    /// `(started, stopped)`.
    fn counts(&self) -> (usize, usize) {
        (self.started.load(SeqCst), self.stopped.load(SeqCst))
    }
}

#[test]
fn shutdown_with_100_000_pending_tasks_timers_and_open_sockets() {
    const TASKS: usize = 100_000;
    const SOCKETS: usize = 200;
    within(120, "shutdown with 100 000 tasks", || {
        let hooks = ThreadHooks::default();
        let rt = hooks
            .install(Runtime::builder())
            .worker_threads(2)
            .thread_name("rsh")
            .build()
            .unwrap();
        let dropped = Arc::new(AtomicUsize::new(0));
        // Open sockets: the runtime side waits in `read`, the test keeps the std peers.
        let (listener, addr) = rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let a = l.local_addr().unwrap();
            (l, a)
        });
        let mut peers = Vec::new();
        let mut handles: Vec<JoinHandle<()>> = Vec::with_capacity(TASKS);
        let listener = Arc::new(listener);
        for _ in 0..SOCKETS {
            let l = listener.clone();
            let guard = Counted(dropped.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 1];
                let _ = s.read(&mut buf).await;
                unreachable!("nobody writes");
            }));
            peers.push(std::net::TcpStream::connect(addr).unwrap());
        }
        // Client-side sockets owned by tasks, waiting to read.
        for _ in 0..SOCKETS {
            let guard = Counted(dropped.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                let mut s = TcpStream::connect(addr).await.unwrap();
                let mut buf = [0u8; 1];
                let _ = s.read(&mut buf).await;
            }));
        }
        // Timers: a spread of deadlines, some far, some about to fire.
        for i in 0..TASKS / 2 - 2 * SOCKETS {
            let guard = Counted(dropped.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
                sleep(Duration::from_millis(50 + (i as u64 % 10_000) * 100)).await;
                pending::<()>().await;
            }));
        }
        // Plain pending futures, half of them detached.
        for i in 0..TASKS / 2 {
            let guard = Counted(dropped.clone());
            let h = rt.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            });
            if i % 2 == 0 {
                handles.push(h);
            }
        }
        // Let most of them get polled (timers registered, sockets waiting).
        rt.block_on(async { sleep(Duration::from_millis(100)).await });
        // A last batch that is still queued, never polled, when shutdown starts.
        for _ in 0..1000 {
            let guard = Counted(dropped.clone());
            handles.push(rt.spawn(async move {
                let _guard = guard;
            }));
        }
        let started = Instant::now();
        drop(rt);
        let took = started.elapsed();
        drop(listener);
        assert_eq!(
            dropped.load(SeqCst),
            TASKS + 1000,
            "every future dropped exactly once"
        );
        let mut cancelled = 0;
        for h in handles {
            if resolved(h).is_err() {
                cancelled += 1;
            }
        }
        assert!(cancelled >= TASKS / 2, "pending tasks report cancellation");
        // The runtime side of every accepted socket is closed: the peers read EOF.
        for mut p in peers {
            p.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut buf = [0u8; 1];
            match p.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("socket left open by shutdown: {other:?}"),
            }
        }
        let (started, stopped) = hooks.counts();
        assert!(started >= 2, "both workers started: {started}");
        assert_eq!(
            stopped, started,
            "every thread ended before shutdown returned"
        );
        assert_eq!(threads_named("rsh-worker"), 0, "workers joined");
        eprintln!("shutdown of {TASKS} tasks took {took:?}");
    });
}

#[test]
fn shutdown_from_inside_spawn_blocking_returns_and_cancels_tasks() {
    within(60, "shutdown from spawn_blocking", || {
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                let guard = Counted(dropped.clone());
                rt.spawn(async move {
                    let _guard = guard;
                    sleep(Duration::from_secs(3600)).await;
                })
            })
            .collect();
        let slot = Arc::new(Mutex::new(None::<Runtime>));
        let handle = rt.handle();
        *slot.lock().unwrap() = Some(rt);
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let s = slot.clone();
        let blocking = handle.spawn_blocking(move || {
            let rt = s.lock().unwrap().take().unwrap();
            drop(rt); // shuts the runtime down from one of its own blocking threads
            done_tx.send(()).unwrap();
            "returned"
        });
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("drop(Runtime) inside spawn_blocking returned");
        assert_eq!(dropped.load(SeqCst), 1000);
        for h in handles {
            assert!(resolved(h).unwrap_err().is_cancelled());
        }
        // The blocking call itself ran to the end; its handle resolves one way or the other.
        wait_until("blocking handle finished", || blocking.is_finished());
        let _ = resolved(blocking);
    });
}

#[test]
fn shutdown_from_inside_a_task_returns_and_cancels_the_others() {
    within(60, "shutdown from a task", || {
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        for _ in 0..1000 {
            let guard = Counted(dropped.clone());
            drop(rt.spawn(async move {
                let _guard = guard;
                pending::<()>().await;
            }));
        }
        let slot = Arc::new(Mutex::new(Some(rt)));
        let handle = slot.lock().unwrap().as_ref().unwrap().handle();
        let (tx, rx) = std::sync::mpsc::channel();
        let s = slot.clone();
        drop(handle.spawn(async move {
            let rt = s.lock().unwrap().take().unwrap();
            rt.shutdown_timeout(Duration::from_secs(10));
            tx.send(()).unwrap();
        }));
        rx.recv_timeout(Duration::from_secs(30))
            .expect("shutdown_timeout inside a task returned");
        wait_until("every task dropped", || dropped.load(SeqCst) == 1000);
    });
}

#[test]
fn shutdown_while_threads_and_tasks_are_still_spawning() {
    within(120, "shutdown while spawning", || {
        for round in 0..10 {
            let created = Arc::new(AtomicUsize::new(0));
            let dropped = Arc::new(AtomicUsize::new(0));
            let rt = Runtime::builder().worker_threads(2).build().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            // Foreign threads spawning through a Handle as fast as they can.
            let spawners: Vec<_> = (0..4)
                .map(|t| {
                    let (handle, stop) = (rt.handle(), stop.clone());
                    let (created, dropped) = (created.clone(), dropped.clone());
                    std::thread::spawn(move || {
                        let mut after_shutdown = 0;
                        let mut blocking = Vec::new();
                        let mut i = 0u64;
                        while !stop.load(SeqCst) {
                            created.fetch_add(1, SeqCst);
                            let guard = Counted(dropped.clone());
                            let h = handle.spawn(async move {
                                let _guard = guard;
                                if i % 3 == 0 {
                                    pending::<()>().await;
                                } else {
                                    sleep(Duration::from_millis(i % 7)).await;
                                }
                            });
                            if t == 0 && blocking.len() < 10_000 {
                                // The blocking pool shuts down last: a call may still be
                                // accepted during shutdown, but it must resolve.
                                blocking.push(handle.spawn_blocking(|| 1));
                            }
                            if after_shutdown > 0 {
                                // Refused at once: cancelled, future already dropped.
                                assert!(resolved(h).unwrap_err().is_cancelled());
                                after_shutdown += 1;
                            } else if h.is_finished() && i % 3 == 0 {
                                // A pending-forever task can only finish by shutdown.
                                after_shutdown = 1;
                            }
                            i += 1;
                        }
                        for b in blocking {
                            wait_until("blocking call resolved", || b.is_finished());
                            let _ = resolved(b);
                        }
                        after_shutdown
                    })
                })
                .collect();
            // Tasks that keep spawning children (fan-out trees).
            fn tree(depth: u32, created: Arc<AtomicUsize>, dropped: Arc<AtomicUsize>) {
                created.fetch_add(1, SeqCst);
                let guard = Counted(dropped.clone());
                drop(ciranda::spawn(async move {
                    let _guard = guard;
                    loop {
                        if depth < 12 {
                            tree(depth + 1, created.clone(), dropped.clone());
                            tree(depth + 1, created.clone(), dropped.clone());
                        }
                        sleep(Duration::from_millis(1)).await;
                    }
                }));
            }
            {
                let (c, d) = (created.clone(), dropped.clone());
                rt.block_on(async move { tree(0, c, d) });
            }
            std::thread::sleep(Duration::from_millis(20 + round * 5));
            drop(rt);
            std::thread::sleep(Duration::from_millis(10));
            stop.store(true, SeqCst);
            for s in spawners {
                s.join().unwrap();
            }
            assert_eq!(
                created.load(SeqCst),
                dropped.load(SeqCst),
                "round {round}: every future created was dropped exactly once"
            );
        }
    });
}

#[test]
fn shutdown_repeatedly_and_both_ways() {
    within(120, "repeated start and shutdown", || {
        for round in 0..40u64 {
            let dropped = Arc::new(AtomicUsize::new(0));
            let prefix = format!("rr{round}");
            let hooks = ThreadHooks::default();
            let rt = hooks
                .install(Runtime::builder())
                .worker_threads(1 + (round as usize % 3))
                .thread_name(prefix.clone())
                .build()
                .unwrap();
            let handles: Vec<_> = (0..100)
                .map(|i| {
                    let guard = Counted(dropped.clone());
                    rt.spawn(async move {
                        let _guard = guard;
                        sleep(Duration::from_millis(i % 5)).await;
                        if i % 2 == 0 {
                            pending::<()>().await;
                        }
                    })
                })
                .collect();
            let blocking = rt.spawn_blocking(|| std::thread::sleep(Duration::from_millis(1)));
            if round % 3 == 1 {
                rt.block_on(async { sleep(Duration::from_millis(2)).await });
            }
            match round % 3 {
                0 => drop(rt),
                1 => rt.shutdown_timeout(Duration::from_secs(10)),
                _ => rt.shutdown_timeout(Duration::ZERO),
            }
            // With a zero timeout, workers finishing their poll drop their tasks a moment later.
            wait_until("futures dropped", || dropped.load(SeqCst) == 100);
            wait_until("handles finished", || {
                handles.iter().all(|h| h.is_finished())
            });
            for h in handles {
                let _ = resolved(h);
            }
            wait_until("blocking call finished", || blocking.is_finished());
            wait_until("every thread ended", || {
                let (started, stopped) = hooks.counts();
                started > round as usize % 3 && stopped == started
            });
            wait_until("threads gone", || threads_named(&format!("{prefix}-")) == 0);
        }
        // `run` twice in a row on one thread.
        assert_eq!(ciranda::run(async { 1 }), 1);
        assert_eq!(
            ciranda::run(async { ciranda::spawn(async { 2 }).await.unwrap() }),
            2
        );
    });
}

#[test]
fn a_handle_used_after_shutdown_never_hangs() {
    within(60, "handle after shutdown", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let handle = rt.handle();
        drop(rt);
        assert!(
            resolved(handle.spawn(async { 1 }))
                .unwrap_err()
                .is_cancelled()
        );
        assert!(
            resolved(handle.spawn_blocking(|| 1))
                .unwrap_err()
                .is_cancelled()
        );
        // A future that needs nothing from the runtime still runs.
        assert_eq!(handle.block_on(async { 5 }), 5);
        // Awaiting a task spawned after shutdown: cancelled at once.
        let h = handle.spawn(async { 1 });
        assert!(handle.block_on(h).unwrap_err().is_cancelled());
    });
}

#[test]
fn a_timer_awaited_through_a_handle_after_shutdown_does_not_hang() {
    // A `Handle` keeps the reactor alive; with the workers gone, the `block_on` thread drives
    // it itself, so the timer fires (not early).
    within(30, "Handle::block_on(sleep) after shutdown", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let handle = rt.handle();
        drop(rt);
        let started = Instant::now();
        handle.block_on(async { sleep(Duration::from_millis(10)).await });
        assert!(started.elapsed() >= Duration::from_millis(10));
        // Again, and a timeout that expires.
        handle.block_on(async { sleep(Duration::from_millis(1)).await });
        let expired = handle.block_on(async {
            ciranda::time::timeout(Duration::from_millis(5), pending::<()>()).await
        });
        assert!(expired.is_err());
    });
}

#[test]
fn shutdown_waits_for_a_blocking_call_that_sleeps_on_the_runtime() {
    // A blocking call that uses the runtime through Handle::block_on (a timer) while the
    // runtime shuts down: shutdown waits for it, so the timer must still fire.
    within(
        60,
        "shutdown while a blocking call waits on a timer",
        || {
            let rt = Runtime::builder().worker_threads(2).build().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let finished = Arc::new(AtomicBool::new(false));
            let f = finished.clone();
            drop(rt.spawn_blocking(move || {
                let handle = ciranda::Handle::current();
                tx.send(()).unwrap();
                handle.block_on(async { sleep(Duration::from_millis(200)).await });
                f.store(true, SeqCst);
            }));
            rx.recv().unwrap();
            drop(rt);
            assert!(
                finished.load(SeqCst),
                "shutdown returned before the call ended"
            );
        },
    );
}

#[test]
fn threads_waiting_on_timers_through_a_handle_outlive_the_runtime() {
    // Plain threads already parked in Handle::block_on (the workers drive their timers) when
    // the runtime is dropped: shutdown wakes them and they drive the reactor themselves.
    within(60, "block_on threads across shutdown", || {
        for round in 0..10 {
            let rt = Runtime::builder()
                .worker_threads(1 + round % 2)
                .build()
                .unwrap();
            let threads: Vec<_> = (0..3u64)
                .map(|i| {
                    let handle = rt.handle();
                    std::thread::spawn(move || {
                        let started = Instant::now();
                        let wait = Duration::from_millis(20 + 15 * i);
                        handle.block_on(async { sleep(wait).await });
                        assert!(started.elapsed() >= wait);
                        // More timers after the runtime is gone.
                        for _ in 0..5 {
                            handle.block_on(async { sleep(Duration::from_millis(1)).await });
                        }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(5 * (round as u64 % 3)));
            drop(rt);
            for t in threads {
                t.join().unwrap();
            }
        }
    });
}

#[test]
fn block_on_threads_share_the_reactor_after_shutdown() {
    // After shutdown several threads block_on at once: one holds the poller, the others wait
    // for its turn to end or for their waker. A wake-up from another thread must reach a
    // thread that is waiting in the poller with no timer of its own.
    within(60, "several block_on threads after shutdown", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let handle = rt.handle();
        drop(rt);
        for _ in 0..50 {
            let (tx, rx) = ciranda::sync::oneshot::channel::<u32>();
            let h = handle.clone();
            let receiver = std::thread::spawn(move || h.block_on(rx).unwrap());
            let h = handle.clone();
            let sender = std::thread::spawn(move || {
                h.block_on(async {
                    sleep(Duration::from_millis(2)).await;
                    tx.send(7).unwrap();
                    sleep(Duration::from_millis(1)).await;
                })
            });
            let sleepers: Vec<_> = (0..2)
                .map(|_| {
                    let h = handle.clone();
                    std::thread::spawn(move || {
                        for _ in 0..3 {
                            h.block_on(async { sleep(Duration::from_millis(1)).await });
                        }
                    })
                })
                .collect();
            assert_eq!(receiver.join().unwrap(), 7);
            sender.join().unwrap();
            for s in sleepers {
                s.join().unwrap();
            }
        }
    });
}

#[test]
fn a_wake_up_from_a_plain_thread_reaches_a_block_on_thread_in_the_poller() {
    // After shutdown: a receiver waits (in the poller, with no timer of its own) while other
    // threads take short turns for their timers; a plain thread wakes it at a random moment.
    // If another thread's turn swallowed the notification meant for the receiver, it would
    // wait in the poller forever once those timers are done.
    within(60, "cross-thread wake-ups after shutdown", || {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        let handle = rt.handle();
        drop(rt);
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..400 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let delay = Duration::from_micros(seed % 1500);
            let (tx, rx) = ciranda::sync::oneshot::channel::<u32>();
            let h = handle.clone();
            let receiver = std::thread::spawn(move || h.block_on(rx).unwrap());
            let sleepers: Vec<_> = (0..2)
                .map(|_| {
                    let h = handle.clone();
                    std::thread::spawn(move || {
                        for _ in 0..2 {
                            h.block_on(async { sleep(Duration::from_millis(1)).await });
                        }
                    })
                })
                .collect();
            let sender = std::thread::spawn(move || {
                std::thread::sleep(delay);
                tx.send(7).unwrap();
            });
            sender.join().unwrap();
            for s in sleepers {
                s.join().unwrap();
            }
            assert_eq!(receiver.join().unwrap(), 7);
        }
    });
}

#[test]
fn sockets_work_through_a_handle_after_shutdown() {
    within(60, "sockets after shutdown", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let handle = rt.handle();
        drop(rt);
        let listener = handle.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            // Connect only after the reader is (probably) waiting in the poller.
            std::thread::sleep(Duration::from_millis(20));
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut s, b"after shutdown").unwrap();
        });
        let got = handle.block_on(async {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf).await.unwrap();
            buf
        });
        peer.join().unwrap();
        assert_eq!(got, b"after shutdown");
        // Connecting from this side too.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = handle.block_on(TcpStream::connect(addr)).unwrap();
        drop(listener.accept().unwrap());
        drop(stream);
        // Host-name lookups need the blocking pool, which is gone: an error, not a hang.
        assert!(handle.block_on(TcpStream::connect("localhost:1")).is_err());
    });
}

#[test]
fn a_paused_clock_still_jumps_for_a_handle_after_shutdown() {
    // With the clock paused and nothing else running, the block_on thread auto-advances it
    // like an idle runtime would.
    within(30, "paused clock after shutdown", || {
        let rt = Runtime::builder()
            .worker_threads(1)
            .start_paused(true)
            .build()
            .unwrap();
        let handle = rt.handle();
        drop(rt);
        let started = Instant::now();
        let virtual_elapsed = handle.block_on(async {
            let t0 = ciranda::time::Instant::now();
            sleep(Duration::from_secs(3600)).await;
            t0.elapsed()
        });
        assert!(virtual_elapsed >= Duration::from_secs(3600));
        assert!(started.elapsed() < Duration::from_secs(20));
    });
}

#[test]
fn shutdown_timeout_bounds_the_wait_for_stuck_work() {
    within(60, "shutdown_timeout with stuck work", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let release = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (r1, r2) = (release.clone(), release.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let tx2 = tx.clone();
        // A task that blocks its worker, and a blocking call that never returns on its own.
        let guard = Counted(dropped.clone());
        let stuck_task = rt.spawn(async move {
            let _guard = guard;
            tx.send(()).unwrap();
            while !r1.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            pending::<()>().await;
        });
        let stuck_blocking = rt.spawn_blocking(move || {
            tx2.send(()).unwrap();
            while !r2.load(SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        rx.recv().unwrap();
        rx.recv().unwrap();
        let started = Instant::now();
        rt.shutdown_timeout(Duration::from_millis(200));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(20), "{took:?}");
        // Once the stuck poll returns, the task is cancelled and its future dropped.
        release.store(true, SeqCst);
        wait_until("stuck task dropped", || dropped.load(SeqCst) == 1);
        wait_until("stuck task finished", || stuck_task.is_finished());
        assert!(resolved(stuck_task).unwrap_err().is_cancelled());
        wait_until("blocking call finished", || stuck_blocking.is_finished());
        assert!(resolved(stuck_blocking).is_ok());
    });
}

/// A value that stops its background task and waits for it when dropped (synchronous
/// cleanup through `Handle::block_on`), owned by a task still pending at shutdown. The
/// shutdown drops that task's future on the shutting-down thread, where `block_on` is
/// allowed, and the wait must end there: the background task, not reached by the drain yet,
/// is cancelled where its `JoinHandle` is polled. The wait used to last for ever (the drain
/// that would drop the background task is the call that waits), so dropping the runtime, or
/// the end of `ciranda::run`, never returned.
#[test]
fn a_destructor_that_stops_and_awaits_a_background_task_does_not_hang_shutdown() {
    struct Service {
        handle: ciranda::Handle,
        ticker: Option<JoinHandle<()>>,
        stopped: std::sync::mpsc::Sender<bool>,
    }
    impl Drop for Service {
        fn drop(&mut self) {
            let ticker = self.ticker.take().expect("dropped once");
            ticker.abort();
            let outcome = self.handle.block_on(ticker);
            let _ = self
                .stopped
                .send(outcome.is_err_and(|error| error.is_cancelled()));
        }
    }
    const SERVICES: usize = 10;
    for workers in [1, 2] {
        let dropped = Arc::new(AtomicUsize::new(0));
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel();
        let rt = Runtime::builder().worker_threads(workers).build().unwrap();
        let counted = dropped.clone();
        rt.block_on(async move {
            for _ in 0..SERVICES {
                let ticks = Counted(counted.clone());
                let ticker = ciranda::spawn(async move {
                    let _ticks = ticks;
                    loop {
                        sleep(Duration::from_millis(1)).await;
                    }
                });
                let service = Service {
                    handle: ciranda::Handle::current(),
                    ticker: Some(ticker),
                    stopped: stopped_tx.clone(),
                };
                let owner = Counted(counted.clone());
                // Spawned after its ticker: the drain (newest first in a shard) meets it first.
                drop(ciranda::spawn(async move {
                    let _service = service;
                    let _owner = owner;
                    pending::<()>().await
                }));
            }
            sleep(Duration::from_millis(5)).await;
        });
        within(30, "dropping the runtime", move || drop(rt));
        assert_eq!(dropped.load(SeqCst), 2 * SERVICES, "{workers} workers");
        let stopped: Vec<bool> = stopped_rx.iter().collect();
        assert_eq!(stopped, vec![true; SERVICES], "{workers} workers");
    }
}

/// How a [`Fleet`]'s destructor stops its background tasks and waits for them.
#[derive(Clone, Copy, Debug)]
enum StopAll {
    /// `JoinSet::shutdown` (abort, then `join_next` until empty).
    JoinSetShutdown,
    /// `abort_all`, then `join_next` until empty, checking each outcome.
    JoinSetJoinNext,
    /// Each handle aborted, then `task::wait(.., AllCompleted)`.
    Wait,
    /// The tasks are a `TaskGroup`'s members; `join` without aborting them (the shutdown
    /// cancels them).
    TaskGroupJoin,
}

/// Background tasks owned by a value that stops them and waits for all of them when dropped,
/// through a combinator that awaits handles with wakers of its own. Like `Service` above,
/// owned by a task still pending at shutdown: the drain drops it before the tasks, and the
/// wait must end in the drain, by cancelling the tasks the drain has not reached.
struct Fleet {
    handle: ciranda::Handle,
    how: StopAll,
    set: ciranda::task::JoinSet<()>,
    handles: Vec<JoinHandle<()>>,
    group: Option<ciranda::task::TaskGroup<(), ()>>,
    /// How many of the tasks the wait saw cancelled.
    cancelled: std::sync::mpsc::Sender<usize>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let mut set = std::mem::take(&mut self.set);
        let handles = std::mem::take(&mut self.handles);
        let cancelled = match self.how {
            StopAll::JoinSetShutdown => {
                let before = set.len();
                self.handle.block_on(set.shutdown());
                assert!(set.is_empty());
                before
            }
            StopAll::JoinSetJoinNext => {
                set.abort_all();
                self.handle.block_on(async {
                    let mut cancelled = 0;
                    while let Some(outcome) = set.join_next().await {
                        cancelled += usize::from(outcome.is_err_and(|e| e.is_cancelled()));
                    }
                    cancelled
                })
            }
            StopAll::Wait => {
                for h in &handles {
                    h.abort();
                }
                let (done, left) = self.handle.block_on(ciranda::task::wait(
                    handles,
                    ciranda::task::WaitFor::AllCompleted,
                    None,
                ));
                assert!(left.is_empty());
                done.into_iter()
                    .map(resolved)
                    .filter(|outcome| outcome.as_ref().is_err_and(|e| e.is_cancelled()))
                    .count()
            }
            StopAll::TaskGroupJoin => {
                let group = self.group.take().expect("dropped once");
                let error = self.handle.block_on(group.join()).unwrap_err();
                assert!(error.errors().is_empty() && error.panics().is_empty());
                error.cancelled().len()
            }
        };
        let _ = self.cancelled.send(cancelled);
    }
}

/// A destructor run by the shutdown's drain that stops a set of background tasks and waits
/// for them through a `JoinSet` (which waits on its tasks' wake-ups, not by polling the
/// handles) used to wait for ever: the drain, which would drop the tasks, is the call that
/// waits. They are cancelled on the spot now, as a plain `JoinHandle` wait's are. `wait`
/// polls every handle at its first poll, which cancelled them already; it is here so that it
/// stays so. (`gather`, `try_gather`, `as_completed` and `TaskGroup` wait through a
/// `JoinSet`.)
#[test]
fn a_destructor_that_waits_for_a_set_of_tasks_does_not_hang_shutdown() {
    const FLEETS: usize = 4;
    const TASKS: usize = 5;
    for how in [
        StopAll::JoinSetShutdown,
        StopAll::JoinSetJoinNext,
        StopAll::Wait,
        StopAll::TaskGroupJoin,
    ] {
        for flavor in [None, Some(1), Some(2)] {
            let dropped = Arc::new(AtomicUsize::new(0));
            let (cancelled_tx, cancelled_rx) = std::sync::mpsc::channel();
            let rt = match flavor {
                None => Runtime::builder()
                    .flavor(ciranda::Flavor::CurrentThread)
                    .build()
                    .unwrap(),
                Some(workers) => Runtime::builder().worker_threads(workers).build().unwrap(),
            };
            let counted = dropped.clone();
            rt.block_on(async move {
                for _ in 0..FLEETS {
                    let mut fleet = Fleet {
                        handle: ciranda::Handle::current(),
                        how,
                        set: ciranda::task::JoinSet::new(),
                        handles: Vec::new(),
                        group: Some(ciranda::task::TaskGroup::new()),
                        cancelled: cancelled_tx.clone(),
                    };
                    for _ in 0..TASKS {
                        let ticks = Counted(counted.clone());
                        let ticker = async move {
                            let _ticks = ticks;
                            loop {
                                sleep(Duration::from_millis(1)).await;
                            }
                        };
                        match how {
                            StopAll::Wait => fleet.handles.push(ciranda::spawn(ticker)),
                            StopAll::TaskGroupJoin => {
                                let group = fleet.group.as_mut().unwrap();
                                group.spawn(async move {
                                    ticker.await;
                                    Ok(())
                                });
                            }
                            _ => drop(fleet.set.spawn(ticker)),
                        }
                    }
                    let owner = Counted(counted.clone());
                    // Spawned after its tasks: the drain (newest first in a shard) meets it
                    // first.
                    drop(ciranda::spawn(async move {
                        let _fleet = fleet;
                        let _owner = owner;
                        pending::<()>().await
                    }));
                }
                sleep(Duration::from_millis(5)).await;
            });
            within(30, "dropping the runtime", move || drop(rt));
            let case = format!("{how:?}, workers {flavor:?}");
            assert_eq!(dropped.load(SeqCst), FLEETS * (TASKS + 1), "{case}");
            let cancelled: Vec<usize> = cancelled_rx.iter().collect();
            assert_eq!(cancelled, vec![TASKS; FLEETS], "{case}");
        }
    }
}
