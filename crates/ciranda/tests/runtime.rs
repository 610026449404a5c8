//! The runtime as a whole: I/O and timers on worker threads, starvation, paused time,
//! bad input, debug reports.

use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::{Instant, sleep, timeout};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

#[test]
fn run_returns_the_output_and_cancels_leftover_tasks() {
    let dropped = Arc::new(AtomicUsize::new(0));
    struct Guard(Arc<AtomicUsize>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }
    let d = dropped.clone();
    let out = ciranda::run(async move {
        let guard = Guard(d);
        drop(ciranda::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }));
        "done"
    });
    assert_eq!(out, "done");
    assert_eq!(dropped.load(SeqCst), 1, "run() shut the runtime down");
}

#[test]
fn zero_workers_is_an_error() {
    let err = ciranda::Runtime::builder()
        .worker_threads(0)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("worker_threads"));
}

#[test]
#[should_panic(expected = "outside a runtime")]
fn handle_current_outside_panics() {
    let _ = ciranda::Handle::current();
}

#[test]
fn handle_block_on_from_a_plain_thread_sees_the_reactor() {
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let handle = rt.handle();
    let slept = std::thread::spawn(move || {
        handle.block_on(async {
            let start = Instant::now();
            sleep(Duration::from_millis(20)).await;
            start.elapsed()
        })
    })
    .join()
    .unwrap();
    assert!(slept >= Duration::from_millis(20));
}

#[ciranda::test(worker_threads = 2)]
async fn tcp_echo_across_workers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(async move {
        for _ in 0..50 {
            let (mut stream, _) = listener.accept().await.unwrap();
            ciranda::spawn(async move {
                let mut buf = [0u8; 64];
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    stream.write_all(&buf[..n]).await.unwrap();
                }
            });
        }
    });
    let clients: Vec<_> = (0..50u32)
        .map(|i| {
            ciranda::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.unwrap();
                for round in 0..20u32 {
                    let msg = format!("{i}:{round}");
                    stream.write_all(msg.as_bytes()).await.unwrap();
                    let mut back = vec![0u8; msg.len()];
                    stream.read_exact(&mut back).await.unwrap();
                    assert_eq!(back, msg.as_bytes());
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    server.await.unwrap();
}

#[test]
fn a_task_that_never_yields_does_not_stop_timers_or_io() {
    // One worker spins without yielding; the other must keep timers and sockets going.
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let (spinning_tx, spinning_rx) = std::sync::mpsc::channel();
    let hog = rt.spawn(async move {
        spinning_tx.send(()).unwrap();
        while !s.load(SeqCst) {
            std::hint::spin_loop();
        }
    });
    spinning_rx.recv().unwrap();
    let result = rt.block_on(async {
        let inner = ciranda::spawn(async {
            let start = Instant::now();
            for _ in 0..5 {
                sleep(Duration::from_millis(10)).await;
            }
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accept = ciranda::spawn(async move { listener.accept().await.map(|_| ()) });
            let conn = TcpStream::connect(addr).await.map(|_| ());
            (start.elapsed(), conn.is_ok(), accept.await.unwrap().is_ok())
        });
        timeout(Duration::from_secs(20), inner).await
    });
    stop.store(true, SeqCst);
    rt.block_on(hog).unwrap();
    let (elapsed, connected, accepted) = result.expect("timers and I/O kept running").unwrap();
    assert!(elapsed >= Duration::from_millis(50));
    assert!(connected && accepted);
}

#[ciranda::test(start_paused = true)]
async fn paused_clock_jumps_to_the_next_timer() {
    let real = std::time::Instant::now();
    let virtual_start = Instant::now();
    sleep(Duration::from_secs(3600)).await;
    assert!(virtual_start.elapsed() >= Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(30),
        "an hour passed virtually, not really"
    );
}

#[ciranda::test(start_paused = true)]
async fn paused_clock_orders_timers_across_tasks() {
    let order = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let handles: Vec<_> = [300u64, 100, 200]
        .into_iter()
        .map(|secs| {
            let order = order.clone();
            ciranda::spawn(async move {
                sleep(Duration::from_secs(secs)).await;
                order.lock().push(secs);
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(*order.lock(), vec![100, 200, 300]);
}

#[ciranda::test(start_paused = true)]
async fn paused_timeout_and_advance() {
    let slow = timeout(Duration::from_secs(10), sleep(Duration::from_secs(60))).await;
    assert!(slow.is_err());
    let start = Instant::now();
    ciranda::time::advance(Duration::from_secs(5)).await;
    assert!(start.elapsed() >= Duration::from_secs(5));
}

#[test]
fn slow_polls_are_reported_once_with_id_and_name() {
    // The report goes to stderr; here we only check the runtime keeps working and the task
    // completes (the message format is covered by the scheduler's own tests).
    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .slow_poll_threshold(Duration::from_millis(5))
        .build()
        .unwrap();
    let h = ciranda::task::Builder::new().name("sleepy").spawn_on(
        async {
            std::thread::sleep(Duration::from_millis(20));
            1
        },
        &rt.handle(),
    );
    assert_eq!(rt.block_on(h).unwrap(), 1);
}

#[test]
fn tasks_lists_live_tasks_with_names() {
    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let h = ciranda::task::Builder::new()
        .name("listener")
        .spawn_on(std::future::pending::<()>(), &rt.handle());
    let tasks = rt.handle().tasks();
    let info = tasks.iter().find(|t| t.id() == h.id()).unwrap();
    assert_eq!(info.name(), Some("listener"));
    h.abort();
}
