//! `ciranda::process` on its fallback for kernels without pidfds: one `SIGCHLD` listener per
//! waiting child, woken by any child's exit (forced with `CIRANDA_NO_PIDFD`; alone in its
//! file because it sets an environment variable and a process-wide `SIGCHLD` handler).

use ciranda::process::Command;
use ciranda::time::{Duration, sleep, timeout};

#[test]
fn children_are_reaped_through_sigchld() {
    // SAFETY: the only test in this binary, run before any thread of ours reads the
    // environment.
    unsafe { std::env::set_var("CIRANDA_NO_PIDFD", "1") };
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
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
        let statuses = timeout(Duration::from_secs(30), ciranda::gather(waits))
            .await
            .expect("a SIGCHLD-driven wait hung");
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
}
