//! A standalone program (`harness = false`) that shuts ciranda runtimes down with everything
//! still in flight — pending tasks, armed timers, open sockets on both sides, running and
//! queued blocking calls, detached and panicking tasks, drop guards that spawn — and checks
//! that every future was dropped exactly once.
//!
//! Under `cargo test` it is one more test binary. Its real purpose is the leak check:
//!
//! ```text
//! cargo test -p ciranda-tests --release --test rt_shutdown_leakcheck --no-run
//! valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
//!     target/release/deps/rt_shutdown_leakcheck-<hash>
//! ```
//!
//! Sizes are small so that the valgrind run stays well under a minute.

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::{interval, sleep, timeout};
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Spawns a task from its destructor (refused once shutdown closed the registry).
struct SpawnOnDrop(Arc<AtomicUsize>);
impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if let Some(handle) = ciranda::Handle::try_current() {
            drop(handle.spawn(async { pending::<()>().await }));
        }
    }
}

fn check(what: &str, ok: bool) {
    if !ok {
        eprintln!("rt_shutdown_leakcheck: FAILED: {what}");
        std::process::exit(2);
    }
}

/// Fills a runtime with work of every kind; returns how many futures must be dropped, apart
/// from the server-side connection tasks, which it counts in `created` as they start.
fn load(
    rt: &Runtime,
    dropped: &Arc<AtomicUsize>,
    created: &Arc<AtomicUsize>,
    scale: usize,
) -> usize {
    let mut expected = 0;
    // Pending tasks, half detached.
    for i in 0..scale {
        let guard = Counted(dropped.clone());
        let h = rt.spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        });
        if i % 2 == 0 {
            drop(h);
        } else {
            // An AbortHandle outliving the JoinHandle holds a reference of its own.
            let abort = h.abort_handle();
            drop(h);
            drop(rt.spawn(async move {
                let _abort = abort;
                pending::<()>().await;
            }));
        }
        expected += 1;
    }
    // Timers: sleeps, timeouts and intervals.
    for i in 0..scale {
        let guard = Counted(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            match i % 3 {
                0 => sleep(Duration::from_secs(3600)).await,
                1 => {
                    let _ = timeout(Duration::from_secs(3600), pending::<()>()).await;
                }
                _ => {
                    let mut iv = interval(Duration::from_millis(1 + i as u64 % 50));
                    loop {
                        iv.tick().await;
                    }
                }
            }
        }));
        expected += 1;
    }
    // Sockets: a listener task, server-side connections and clients, all mid-conversation.
    let addr = rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let guard = Counted(dropped.clone());
        let d = dropped.clone();
        let c = created.clone();
        drop(ciranda::spawn(async move {
            let _guard = guard;
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                // How many connections are accepted before shutdown varies: count them.
                c.fetch_add(1, SeqCst);
                let guard = Counted(d.clone());
                drop(ciranda::spawn(async move {
                    let _guard = guard;
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    pending::<()>().await;
                }));
            }
        }));
        addr
    });
    expected += 1;
    for _ in 0..scale / 10 {
        let guard = Counted(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            // Now wait for a reply that never comes.
            let _ = s.read(&mut buf).await;
        }));
        expected += 1;
    }
    // Drop guards that spawn while shutdown drops them.
    for _ in 0..10 {
        let guard = SpawnOnDrop(dropped.clone());
        drop(rt.spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        }));
        expected += 1;
    }
    // Panicking tasks (detached and joined).
    for i in 0..10 {
        let h = rt.spawn(async move {
            if i < 100 {
                panic!("leakcheck: expected panic {i}");
            }
        });
        if i % 2 == 0 {
            drop(h);
        } else {
            check(
                "panic is a JoinError",
                rt.block_on(h).unwrap_err().is_panic(),
            );
        }
    }
    // Blocking calls: some running, some queued behind them.
    for _ in 0..6 {
        let guard = Counted(dropped.clone());
        drop(rt.spawn_blocking(move || {
            let _guard = guard;
            std::thread::sleep(Duration::from_millis(20));
        }));
        expected += 1;
    }
    // Let the tasks reach their waiting points (timers armed, sockets registered).
    rt.block_on(async { sleep(Duration::from_millis(50)).await });
    expected
}

fn main() {
    let started = Instant::now();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("leakcheck: expected panic") {
            eprintln!("{info}");
        }
    }));
    let scale = std::env::var("LEAKCHECK_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);

    // 1. Drop with everything in flight.
    // `0`: the current-thread flavor (tasks run on this thread, inside block_on).
    for workers in [1, 2, 0] {
        let dropped = Arc::new(AtomicUsize::new(0));
        let flavor = if workers == 0 {
            ciranda::Flavor::CurrentThread
        } else {
            ciranda::Flavor::MultiThread
        };
        let rt = Runtime::builder()
            .flavor(flavor)
            .worker_threads(workers.max(1))
            .max_blocking_threads(2)
            .on_unhandled_panic(|_| {})
            .build()
            .unwrap();
        let created = Arc::new(AtomicUsize::new(0));
        let expected = load(&rt, &dropped, &created, scale);
        drop(rt);
        let expected = expected + created.load(SeqCst);
        check(
            &format!(
                "drop: {} of {expected} futures dropped",
                dropped.load(SeqCst)
            ),
            dropped.load(SeqCst) == expected,
        );
    }

    // 2. shutdown_timeout with everything in flight.
    {
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = Runtime::builder()
            .worker_threads(2)
            .max_blocking_threads(2)
            .on_unhandled_panic(|_| {})
            .build()
            .unwrap();
        let created = Arc::new(AtomicUsize::new(0));
        let expected = load(&rt, &dropped, &created, scale);
        rt.shutdown_timeout(Duration::from_secs(30));
        let expected = expected + created.load(SeqCst);
        check(
            "shutdown_timeout drops every future once",
            dropped.load(SeqCst) == expected,
        );
    }

    // 3. Shutdown from inside a blocking call and from inside a task.
    for from_task in [false, true] {
        let dropped = Arc::new(AtomicUsize::new(0));
        let rt = Runtime::builder()
            .worker_threads(2)
            .on_unhandled_panic(|_| {})
            .build()
            .unwrap();
        let created = Arc::new(AtomicUsize::new(0));
        let base = load(&rt, &dropped, &created, scale / 5);
        let handle = rt.handle();
        let slot = Arc::new(Mutex::new(Some(rt)));
        let (tx, rx) = std::sync::mpsc::channel();
        let s = slot.clone();
        let shut = move || {
            let rt = s.lock().unwrap().take().unwrap();
            drop(rt);
            tx.send(()).unwrap();
        };
        if from_task {
            drop(handle.spawn(async move { shut() }));
        } else {
            drop(handle.spawn_blocking(shut));
        }
        rx.recv_timeout(Duration::from_secs(30))
            .expect("shutdown from inside returned");
        // The task doing the shutdown is itself dropped after its poll; give it a moment.
        let expected = base + created.load(SeqCst);
        let deadline = Instant::now() + Duration::from_secs(30);
        while dropped.load(SeqCst) < expected && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        check(
            "shutdown from inside drops every future once",
            dropped.load(SeqCst) == expected,
        );
        drop(handle);
        // Let the thread that shut down finish and exit before the next round.
        std::thread::sleep(Duration::from_millis(50));
    }

    // 4. Start and stop, again and again, and `run`.
    for _ in 0..5 {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        drop(rt.spawn(async { sleep(Duration::from_secs(60)).await }));
        drop(rt);
        check(
            "run",
            ciranda::run(async { ciranda::spawn(async { 3 }).await }).unwrap() == 3,
        );
    }

    // Threads that shut a runtime down from inside are detached; wait until only the main
    // thread is left, so nothing is still running when valgrind counts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let threads = std::fs::read_dir("/proc/self/task").map_or(1, |d| d.count());
        if threads <= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    println!(
        "rt_shutdown_leakcheck: ok (scale {scale}) in {:?}",
        started.elapsed()
    );
}
