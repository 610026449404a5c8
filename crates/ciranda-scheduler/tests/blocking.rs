#![cfg(not(loom))]
//! The blocking pool: results, growth up to the limit, keep-alive, panics, context.

use ciranda_scheduler::Scheduler;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

#[test]
fn returns_the_value_and_keeps_the_loop_running() {
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let (out, ticks) = s.block_on(async {
        // The blocking call ends only once a task has run on the worker: the worker is free
        // while it runs. (It slept 50 ms instead, and a thread preempted for that long before
        // its first check saw it finished with no task run.)
        let (ran_tx, ran_rx) = std::sync::mpsc::channel::<()>();
        let slow = ciranda_scheduler::spawn_blocking(move || {
            ran_rx
                .recv_timeout(Duration::from_secs(60))
                .expect("no task ran on the worker while the blocking call ran");
            "slept"
        });
        let mut ticks = 0;
        while !slow.is_finished() {
            let ran = ran_tx.clone();
            ciranda_scheduler::spawn(async move {
                let _ = ran.send(());
            })
            .await
            .unwrap();
            ticks += 1;
        }
        (slow.await.unwrap(), ticks)
    });
    assert_eq!(out, "slept");
    assert!(ticks > 0);
}

#[test]
fn grows_to_run_calls_in_parallel() {
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    // Eight calls that can only finish together prove eight threads ran at once. The second
    // round finds the first round's threads idle, so it goes through the wake-up chain
    // rather than through thread starts; the third pushes from inside a task.
    for round in 0..3 {
        let barrier = Arc::new(Barrier::new(8));
        let calls = move || -> Vec<_> {
            (0..8)
                .map(|i| {
                    let b = barrier.clone();
                    ciranda_scheduler::spawn_blocking(move || {
                        b.wait();
                        i
                    })
                })
                .collect()
        };
        let handles = if round < 2 {
            let _enter = s.handle().enter();
            calls()
        } else {
            s.block_on(s.spawn(async move { calls() })).unwrap()
        };
        let sum: i32 = s.block_on(async {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        assert_eq!(sum, 28, "round {round}");
    }
}

#[test]
fn never_exceeds_max_blocking_threads() {
    let s = Scheduler::builder()
        .worker_threads(1)
        .max_blocking_threads(2)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            s.spawn_blocking(move || {
                let now = running.fetch_add(1, SeqCst) + 1;
                peak.fetch_max(now, SeqCst);
                std::thread::sleep(Duration::from_millis(2));
                running.fetch_sub(1, SeqCst);
            })
        })
        .collect();
    for h in handles {
        s.block_on(h).unwrap();
    }
    assert!(peak.load(SeqCst) <= 2, "peak {}", peak.load(SeqCst));
}

#[test]
fn idle_threads_exit_after_keep_alive() {
    let stopped = Arc::new(AtomicUsize::new(0));
    let st = stopped.clone();
    let s = Scheduler::builder()
        .worker_threads(1)
        .blocking_keep_alive(Duration::from_millis(20))
        .on_thread_stop(move || {
            if std::thread::current()
                .name()
                .is_some_and(|n| n.contains("blocking"))
            {
                st.fetch_add(1, SeqCst);
            }
        })
        .build()
        .unwrap();
    s.block_on(s.spawn_blocking(|| ())).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stopped.load(SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        stopped.load(SeqCst),
        1,
        "the idle blocking thread left on its own"
    );
    // The pool still works afterwards.
    assert_eq!(s.block_on(s.spawn_blocking(|| 5)).unwrap(), 5);
}

#[test]
fn panic_in_blocking_call_is_a_join_error() {
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let err = s
        .block_on(s.spawn_blocking(|| -> u8 { panic!("blocking boom") }))
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.panic_message().as_deref(), Some("blocking boom"));
    assert_eq!(s.block_on(s.spawn_blocking(|| 1)).unwrap(), 1);
}

#[test]
fn blocking_threads_see_the_runtime_and_may_block_on() {
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let v = s
        .block_on(s.spawn_blocking(|| {
            let handle = ciranda_scheduler::Handle::current();
            handle.block_on(handle.spawn(async { 11 })).unwrap()
        }))
        .unwrap();
    assert_eq!(v, 11);
}

#[test]
fn thread_names_follow_the_builder() {
    let s = Scheduler::builder()
        .worker_threads(1)
        .thread_name("app")
        .build()
        .unwrap();
    let worker = s
        .block_on(s.spawn(async { std::thread::current().name().map(str::to_owned) }))
        .unwrap();
    assert_eq!(worker.as_deref(), Some("app-worker-0"));
    let blocking = s
        .block_on(s.spawn_blocking(|| std::thread::current().name().map(str::to_owned)))
        .unwrap();
    assert_eq!(blocking.as_deref(), Some("app-blocking"));
}
