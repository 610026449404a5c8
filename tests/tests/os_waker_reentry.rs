#![cfg(not(loom))]
//! The OS surface with wakers whose `clone` and `drop` call back into it (the gap
//! `docs/reliability.md` listed: `signal` and `process` were tested with panicking wakers
//! only). A signal listener and a child's wait are polled by hand with a waker whose `clone`
//! makes, polls and drops more of the same (another listener for the same signal:
//! signal-hook's registry and a reactor registration; another child: its pidfd and the orphan
//! list) and whose drop — when a re-poll replaces it — delivers what is awaited (raises the
//! signal) or spawns again. A lock held
//! across a waker's clone or drop deadlocks here; `within` turns that into a failure.

use ciranda::process::Command;
use ciranda::signal::unix::{SignalKind, signal};
use ciranda::time::{Duration, sleep};
use ciranda_tests::support::{hooked_waker, within};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Polls `fut` with a no-op waker every millisecond until it is ready.
async fn poll_until_ready<T>(mut fut: Pin<&mut (impl Future<Output = T> + ?Sized)>) -> T {
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return v;
        }
        sleep(Duration::from_millis(1)).await;
    }
}

fn runtime() -> ciranda::Runtime {
    ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn a_signal_waker_whose_clone_listens_and_whose_drop_raises() {
    within(30, "signal recv with a re-entrant waker", || {
        runtime().block_on(async {
            let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
            let kind = SignalKind::user_defined2();
            let (waker, stats) = hooked_waker(
                move || {
                    // Bound to the reactor by its first poll: a registration and an arm.
                    let mut another = signal(kind).unwrap();
                    let _ = another.poll_recv(&mut Context::from_waker(Waker::noop()));
                },
                // SAFETY: raising a signal this process listens for (`usr2` is alive).
                || assert_eq!(unsafe { libc::raise(libc::SIGUSR2) }, 0),
            );
            let mut recv = Box::pin(usr2.recv());
            assert!(
                recv.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            assert!(stats.clones() >= 1, "the reactor keeps a clone");
            drop(waker);
            assert!(stats.alive(), "the reactor holds the waker");
            // The re-poll replaces the hooked waker; its drop raises the signal awaited.
            assert_eq!(poll_until_ready(recv.as_mut()).await, Some(()));
            assert!(!stats.alive());
        });
    });
}

#[test]
fn a_child_wait_whose_waker_spawns_children_on_clone_and_drop() {
    within(30, "child wait with a re-entrant waker", || {
        runtime().block_on(async {
            let spawn_and_drop = || {
                // Dropped unwaited: it goes to the orphan list, reaped later.
                drop(Command::new("true").spawn().unwrap());
            };
            let (waker, stats) = hooked_waker(spawn_and_drop, spawn_and_drop);
            let mut child = Command::new("sh")
                .args(["-c", "sleep 0.2; exit 7"])
                .spawn()
                .unwrap();
            let mut wait = Box::pin(child.wait());
            assert!(
                wait.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            drop(waker);
            let status = poll_until_ready(wait.as_mut()).await.unwrap();
            assert_eq!(status.code(), Some(7));
            drop(wait);
            assert!(stats.clones() >= 1);
            assert!(!stats.alive(), "the replaced waker is dropped");
        });
    });
}
