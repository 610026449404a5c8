//! `ciranda::process` on its `SIGCHLD` fallback (forced with `CIRANDA_NO_PIDFD`): alone in its
//! binary, because the variable is read once per process.

use ciranda::process::Command;
use std::sync::mpsc;
use std::time::Duration;

/// After its runtime shut down, a `Handle::block_on` still drives the reactor, but the runtime
/// takes no task: the `SIGCHLD` listener's task, refused at once, cannot run there. A wait
/// polled there must then fail (its runtime shut down) rather than start and lose a listener
/// over and over inside one poll, burning a CPU and never returning `Pending` (so that not even
/// a `timeout` around it fires) until the child exits.
#[test]
fn a_wait_under_the_handle_of_a_shut_down_runtime_fails_instead_of_spinning() {
    // SAFETY: set before this test starts any thread that reads the environment (the only
    // test in this binary).
    unsafe { std::env::set_var("CIRANDA_NO_PIDFD", "1") };
    for flavor in [ciranda::Flavor::MultiThread, ciranda::Flavor::CurrentThread] {
        let rt = ciranda::Runtime::builder().flavor(flavor).build().unwrap();
        let handle = rt.handle();
        let mut child = rt.block_on(async { Command::new("sleep").arg("60").spawn().unwrap() });
        let pid = child.id();
        drop(rt);
        let (tx, rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let result =
                handle.block_on(ciranda::time::timeout(Duration::from_secs(2), child.wait()));
            tx.send(format!("{result:?}")).unwrap();
            child
        });
        let outcome = rx.recv_timeout(Duration::from_secs(30));
        if outcome.is_err() {
            // SAFETY: our own child, not reaped yet (the waiting thread holds its `Child`).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        let mut child = waiter.join().unwrap();
        let outcome = outcome.unwrap_or_else(|_| {
            panic!(
                "{flavor:?}: the wait did not return (nor let its timeout fire) while the child ran"
            )
        });
        // The wait's error (its runtime shut down), well before the timeout.
        assert!(
            outcome.starts_with("Ok(Err(") && outcome.contains("shut down"),
            "{flavor:?}: {outcome}"
        );
        child.kill().unwrap();
        // Reaped, without a runtime to wait in.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "{flavor:?}: not reaped"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
