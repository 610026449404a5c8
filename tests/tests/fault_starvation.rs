//! A task that never yields holds one worker; timers, sockets, blocking calls and message
//! passing keep working on the others, a task stuck behind the hog in its worker's LIFO slot
//! is stolen, and on a single worker the cooperative budget makes a loop over always-ready
//! ciranda futures yield so that other tasks still run.

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::sync::{Semaphore, mpsc};
use ciranda::time::{Instant, interval, sleep, timeout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// Spawns `n` tasks that spin without ever yielding until `stop`; returns once all spin.
fn hogs(rt: &Runtime, n: usize, stop: &Arc<AtomicBool>) -> Vec<ciranda::task::JoinHandle<u64>> {
    let spinning = Arc::new(AtomicUsize::new(0));
    let handles = (0..n)
        .map(|_| {
            let (stop, spinning) = (stop.clone(), spinning.clone());
            rt.spawn(async move {
                spinning.fetch_add(1, SeqCst);
                let mut spins = 0u64;
                while !stop.load(SeqCst) {
                    spins = spins.wrapping_add(1);
                    std::hint::spin_loop();
                }
                spins
            })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while spinning.load(SeqCst) < n {
        assert!(std::time::Instant::now() < deadline, "hogs did not start");
        std::thread::sleep(Duration::from_millis(1));
    }
    handles
}

/// Timers, TCP, blocking calls and channels, all from inside the runtime; returns the
/// number of interval ticks seen in 500 ms and the worst lateness of a 5 ms sleep.
async fn everything_else() -> (u32, Duration) {
    // Timers: an interval and repeated short sleeps.
    let ticker = ciranda::spawn(async {
        let mut iv = interval(Duration::from_millis(10));
        let start = Instant::now();
        let mut ticks = 0;
        while start.elapsed() < Duration::from_millis(500) {
            iv.tick().await;
            ticks += 1;
        }
        ticks
    });
    let sleeper = ciranda::spawn(async {
        let mut worst = Duration::ZERO;
        for _ in 0..20 {
            let t = Instant::now();
            sleep(Duration::from_millis(5)).await;
            let late = t.elapsed().saturating_sub(Duration::from_millis(5));
            worst = worst.max(late);
        }
        worst
    });
    // Sockets: an echo server and 20 round trips on each of 5 connections.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(async move {
        for _ in 0..5 {
            let (mut s, _) = listener.accept().await.unwrap();
            drop(ciranda::spawn(async move {
                let mut buf = [0u8; 32];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            }));
        }
    });
    let clients: Vec<_> = (0..5)
        .map(|c| {
            ciranda::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                for r in 0..20 {
                    let msg = format!("{c}:{r}");
                    s.write_all(msg.as_bytes()).await.unwrap();
                    let mut back = vec![0u8; msg.len()];
                    s.read_exact(&mut back).await.unwrap();
                    assert_eq!(back, msg.as_bytes());
                }
            })
        })
        .collect();
    // Blocking calls and a channel ping-pong.
    let blocking: Vec<_> = (0..10u32)
        .map(|i| ciranda::spawn_blocking(move || i * 2))
        .collect();
    let (tx, mut rx) = mpsc::channel::<u32>(1);
    let (back_tx, mut back_rx) = mpsc::channel::<u32>(1);
    let pong = ciranda::spawn(async move {
        while let Some(v) = rx.recv().await {
            back_tx.send(v + 1).await.unwrap();
        }
    });
    for i in 0..1000 {
        tx.send(i).await.unwrap();
        assert_eq!(back_rx.recv().await, Some(i + 1));
    }
    drop(tx);
    pong.await.unwrap();
    for (i, b) in blocking.into_iter().enumerate() {
        assert_eq!(b.await.unwrap(), i as u32 * 2);
    }
    for c in clients {
        c.await.unwrap();
    }
    server.await.unwrap();
    (ticker.await.unwrap(), sleeper.await.unwrap())
}

fn check_with_hogs(workers: usize, hog_count: usize) {
    let rt = Runtime::builder().worker_threads(workers).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hog_handles = hogs(&rt, hog_count, &stop);
    let result = rt.block_on(async {
        let inner = ciranda::spawn(everything_else());
        timeout(Duration::from_secs(60), inner).await
    });
    stop.store(true, SeqCst);
    for h in hog_handles {
        assert!(rt.block_on(h).unwrap() > 0);
    }
    let (ticks, worst) = result
        .expect("timers and I/O kept running beside the hogs")
        .unwrap();
    eprintln!(
        "{workers} workers, {hog_count} hogs: {ticks} ticks in 500 ms, worst sleep lateness {worst:?}"
    );
    // 50 ticks are due in 500 ms; generous bounds for loaded CI machines.
    assert!(ticks >= 10, "only {ticks} interval ticks in 500 ms");
    assert!(
        worst < Duration::from_secs(2),
        "a 5 ms sleep was {worst:?} late"
    );
}

#[test]
fn one_hog_on_two_workers_does_not_stop_timers_io_or_channels() {
    check_with_hogs(2, 1);
}

#[test]
fn three_hogs_on_four_workers_leave_the_last_one_working() {
    check_with_hogs(4, 3);
}

// Tasks placed in a worker's LIFO slot while the task running there never yields: another
// (idle) worker must pick them up (the slot is stealable; see docs/architecture.md and
// tokio#4941).

/// Spins (never yielding) until `flag` is set or 5 s passed; whether it was set.
fn spin_until_set(flag: &AtomicBool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !flag.load(SeqCst) && std::time::Instant::now() < deadline {
        std::hint::spin_loop();
    }
    flag.load(SeqCst)
}

/// A task that spins for `busy_first`, spawns a child into its worker's LIFO slot, then
/// spins without yielding until the child ran: whether another worker ran it.
fn child_of_a_hog_runs(rt: &Runtime, busy_first: Duration) -> bool {
    rt.block_on(rt.spawn(async move {
        let busy_until = std::time::Instant::now() + busy_first;
        while std::time::Instant::now() < busy_until {
            std::hint::spin_loop();
        }
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        drop(ciranda::spawn(async move { r.store(true, SeqCst) }));
        spin_until_set(&ran)
    }))
    .unwrap()
}

#[test]
fn a_task_spawned_into_a_hogs_lifo_slot_is_stolen() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    for round in 0..20 {
        assert!(
            child_of_a_hog_runs(&rt, Duration::ZERO),
            "round {round}: the task in the hog's LIFO slot never ran"
        );
    }
}

#[test]
fn a_task_woken_into_a_hogs_lifo_slot_is_stolen() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    for round in 0..20 {
        let ok = rt.block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel::<()>();
            let replied = Arc::new(AtomicBool::new(false));
            let r = replied.clone();
            let receiver = ciranda::spawn(async move {
                rx.recv().await;
                r.store(true, SeqCst);
            });
            sleep(Duration::from_millis(1)).await; // the receiver waits
            let waker = ciranda::spawn(async move {
                tx.send(()).unwrap();
                spin_until_set(&replied)
            });
            let ok = waker.await.unwrap();
            receiver.await.unwrap();
            ok
        });
        assert!(
            ok,
            "round {round}: the woken task stayed stranded behind its waker"
        );
    }
}

/// The other worker has parked (and become the watcher) before the slot is filled: no
/// wake-up announces the task, the watcher's timed sleep must find it.
#[test]
fn a_task_put_in_a_busy_workers_lifo_slot_after_the_others_parked_is_stolen() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    for round in 0..10 {
        // Busy long enough for the other worker to give up searching and park.
        assert!(
            child_of_a_hog_runs(&rt, Duration::from_millis(30)),
            "round {round}: the task in the busy worker's LIFO slot was never stolen"
        );
    }
}

#[test]
fn the_budget_makes_a_loop_over_ready_futures_yield_on_a_single_worker() {
    let rt = Runtime::builder().worker_threads(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sem = Arc::new(Semaphore::new(1));
    // Never yields by itself: every acquire is ready at once.
    let looper = {
        let (stop, sem) = (stop.clone(), sem.clone());
        rt.spawn(async move {
            let mut n = 0u64;
            while !stop.load(SeqCst) {
                drop(sem.acquire().await.unwrap());
                n += 1;
            }
            n
        })
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    for i in 0..10_000 {
        tx.send(i).unwrap();
    }
    // Another always-ready loop: a receiver with a full buffer.
    let drainer = rt.spawn(async move {
        let mut sum = 0u64;
        for _ in 0..10_000 {
            sum += u64::from(rx.recv().await.unwrap());
        }
        sum
    });
    let r = rt.block_on(async {
        let t = ciranda::spawn(async {
            for _ in 0..5 {
                sleep(Duration::from_millis(5)).await;
            }
            "timers ran"
        });
        timeout(Duration::from_secs(30), t).await
    });
    stop.store(true, SeqCst);
    assert_eq!(
        r.expect("the timer task got the worker").unwrap(),
        "timers ran"
    );
    assert!(rt.block_on(looper).unwrap() > 0);
    assert_eq!(rt.block_on(drainer).unwrap(), 9999 * 10_000 / 2);
}
