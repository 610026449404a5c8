//! `ciranda::signal::unix` (issue 20). Each test uses its own signal: they share the process.

use ciranda::signal::unix::{SignalKind, signal};
use ciranda::stream::StreamExt;
use ciranda::time::{Duration, sleep, timeout};
use std::io::ErrorKind;

fn rt() -> ciranda::Runtime {
    ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap()
}

fn raise(signum: i32) {
    // SAFETY: raising a signal this test listens for, on our own process.
    assert_eq!(unsafe { libc::kill(libc::getpid(), signum) }, 0);
}

#[test]
fn a_self_raised_signal_reaches_two_listeners() {
    rt().block_on(async {
        let mut a = signal(SignalKind::user_defined1()).unwrap();
        let mut b = signal(SignalKind::user_defined1()).unwrap();
        let waiter = ciranda::spawn(async move { b.recv().await });
        sleep(Duration::from_millis(50)).await;
        raise(libc::SIGUSR1);
        assert_eq!(
            timeout(Duration::from_secs(20), a.recv()).await,
            Ok(Some(()))
        );
        let b = timeout(Duration::from_secs(20), waiter).await.unwrap();
        assert_eq!(b.unwrap(), Some(()));
        // Consumed: the next recv waits for another delivery.
        assert!(timeout(Duration::from_millis(100), a.recv()).await.is_err());
        raise(libc::SIGUSR1);
        assert_eq!(
            timeout(Duration::from_secs(20), a.next()).await,
            Ok(Some(()))
        );
    });
}

#[test]
fn a_delivery_while_nobody_awaits_is_not_lost() {
    rt().block_on(async {
        let mut hup = signal(SignalKind::hangup()).unwrap();
        raise(libc::SIGHUP);
        sleep(Duration::from_millis(100)).await;
        assert_eq!(
            timeout(Duration::from_secs(20), hup.recv()).await,
            Ok(Some(()))
        );
    });
}

#[test]
fn a_listener_made_outside_the_runtime_sees_earlier_deliveries() {
    let mut usr2 = signal(SignalKind::user_defined2()).unwrap();
    raise(libc::SIGUSR2);
    let got = rt().block_on(async { timeout(Duration::from_secs(20), usr2.recv()).await });
    assert_eq!(got, Ok(Some(())));
    // Dropping a listener while another listens leaves the other working.
    let other = signal(SignalKind::user_defined2()).unwrap();
    drop(usr2);
    let mut other = other;
    raise(libc::SIGUSR2);
    let got = rt().block_on(async { timeout(Duration::from_secs(20), other.recv()).await });
    assert_eq!(got, Ok(Some(())));
}

#[test]
fn forbidden_and_invalid_signals_are_errors() {
    for signum in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -3, 4096] {
        let e = signal(SignalKind::from_raw(signum)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{signum}: {e}");
        assert!(e.to_string().contains(&signum.to_string()), "{e}");
    }
    assert_eq!(SignalKind::from_raw(libc::SIGTERM), SignalKind::terminate());
    assert_eq!(SignalKind::child().as_raw_value(), libc::SIGCHLD);
}
