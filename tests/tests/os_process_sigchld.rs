//! `ciranda::process` on its fallback for kernels without pidfds: one `SIGCHLD` listener for
//! the process, waking every waiting child (forced with `CIRANDA_NO_PIDFD`; alone in its file
//! because it sets an environment variable and a process-wide `SIGCHLD` handler).

use ciranda::process::Command;
use ciranda::time::{Duration, sleep, timeout};
use ciranda_tests::support::{hooked_waker, within};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

#[test]
fn children_are_reaped_through_sigchld() {
    // SAFETY: the only test in this binary, run before any thread of ours reads the
    // environment.
    unsafe { std::env::set_var("CIRANDA_NO_PIDFD", "1") };
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    let fds = || std::fs::read_dir("/proc/self/fd").unwrap().count();
    rt.block_on(async {
        // Start the shared listener, so the count below compares like with like.
        Command::new("true").status().await.unwrap();
        let before = fds();
        // 50 at once, exiting in a different order than awaited.
        let children: Vec<_> = (0..50)
            .map(|i| {
                Command::new("sh")
                    .args(["-c", &format!("sleep 0.{}; exit {i}", 50 - i)])
                    .spawn()
                    .unwrap()
            })
            .collect();
        let waits = children
            .into_iter()
            .map(|mut c| async move { c.wait().await });
        let all = ciranda::spawn(ciranda::gather(waits));
        sleep(Duration::from_millis(100)).await;
        // One listener for everybody: no descriptor (or thread) per waiting child.
        let during = fds();
        assert!(
            during <= before + 4,
            "fds: {before} before, {during} while 50 wait"
        );
        let statuses = timeout(Duration::from_secs(30), all)
            .await
            .expect("a SIGCHLD-driven wait hung")
            .unwrap();
        for (i, st) in statuses.into_iter().enumerate() {
            assert_eq!(st.unwrap().code(), Some(i as i32));
        }

        // Exited before the wait began: the first check after the listener is set up sees it.
        let mut child = Command::new("true").spawn().unwrap();
        sleep(Duration::from_millis(200)).await;
        let st = timeout(Duration::from_secs(20), child.wait())
            .await
            .unwrap();
        assert!(st.unwrap().success());

        let out = timeout(
            Duration::from_secs(20),
            Command::new("echo").arg("hi").output(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(out.stdout, b"hi\n");
    });

    // The listener's task lived on `rt`; after it shuts down, a wait on another runtime starts
    // a new one (a child of the first runtime, still running, is seen exiting too).
    let mut running = rt.block_on(async { Command::new("sleep").arg("0.3").spawn().unwrap() });
    drop(rt);
    let rt2 = ciranda::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    rt2.block_on(async {
        let st = timeout(Duration::from_secs(20), running.wait()).await;
        assert!(
            st.expect("wait hung after the driver's runtime shut down")
                .unwrap()
                .success()
        );
        let st = timeout(
            Duration::from_secs(20),
            Command::new("sh").args(["-c", "exit 4"]).status(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(st.code(), Some(4));
    });

    // A waiter whose waker panics does not cost the other waiters their wake-up.
    rt2.block_on(async {
        struct Panics;
        impl std::task::Wake for Panics {
            fn wake(self: std::sync::Arc<Self>) {
                panic!("a waker that panics");
            }
        }
        let waker = std::task::Waker::from(std::sync::Arc::new(Panics));
        let mut first = Command::new("sleep").arg("0.2").spawn().unwrap();
        let mut second = Command::new("sleep").arg("0.2").spawn().unwrap();
        {
            let mut wait = std::pin::pin!(first.wait());
            // Registered first, so woken first.
            let polled = wait
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&waker));
            assert!(polled.is_pending());
            // The timer is polled first: were `second` never woken, the timer's firing would
            // not get to poll it (as a `timeout` would) and hide the lost wake-up.
            let timer = std::pin::pin!(sleep(Duration::from_secs(10)));
            let second_wait = std::pin::pin!(second.wait());
            match futures_util::future::select(timer, second_wait).await {
                futures_util::future::Either::Right((st, _)) => assert!(st.unwrap().success()),
                futures_util::future::Either::Left(_) => {
                    panic!("a panicking waker cost another waiter its wake-up")
                }
            }
        }
        assert!(first.wait().await.unwrap().success());
    });

    // A waiter whose waker's clone polls another child's wait (the hub's lock) and whose drop
    // spawns a child: a clone or drop under the hub's lock deadlocks, caught by `within`.
    within(30, "a SIGCHLD wait with a re-entrant waker", move || {
        rt2.block_on(async {
            let other = Arc::new(Mutex::new(
                Command::new("sleep").arg("0.1").spawn().unwrap(),
            ));
            let polled = other.clone();
            let (waker, stats) = hooked_waker(
                move || {
                    let mut other = polled.lock().unwrap();
                    let mut wait = std::pin::pin!(other.wait());
                    let _ = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                },
                || drop(Command::new("true").spawn().unwrap()),
            );
            let mut child = Command::new("sh")
                .args(["-c", "sleep 0.2; exit 3"])
                .spawn()
                .unwrap();
            let mut wait = std::pin::pin!(child.wait());
            assert!(
                wait.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            drop(waker);
            assert!(stats.alive(), "the hub holds the waker");
            let status = loop {
                // Re-polled with another waker, which replaces (and drops) the hooked one.
                if let Poll::Ready(st) = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()))
                {
                    break st.unwrap();
                }
                sleep(Duration::from_millis(1)).await;
            };
            assert_eq!(status.code(), Some(3));
            assert!(!stats.alive());
            let mut other = Arc::into_inner(other)
                .expect("the hooked waker is gone")
                .into_inner()
                .unwrap();
            assert!(
                timeout(Duration::from_secs(20), other.wait())
                    .await
                    .unwrap()
                    .unwrap()
                    .success()
            );
        });
    });
}
