//! `ciranda::process` (issue 20): pipes, exit statuses, kill_on_drop, reaping.

use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::process::{Command, Stdio};
use ciranda::time::{Duration, sleep, timeout};
use std::os::unix::process::ExitStatusExt;

fn rt() -> ciranda::Runtime {
    ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Zombie children of this process, from /proc.
fn zombies() -> usize {
    let me = std::process::id().to_string();
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[0] == "Z" && fields[1] == me {
            n += 1;
        }
    }
    n
}

#[test]
fn ten_mib_through_cat_both_ways_without_deadlock() {
    rt().block_on(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let data: Vec<u8> = (0..10 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        // Both pipes fill (64 KiB each) long before 10 MiB: writer and reader must interleave.
        let writer = ciranda::spawn(async move {
            stdin.write_all(&data).await.unwrap();
            stdin.close().await.unwrap();
        });
        let mut echoed = Vec::new();
        // A deadlock waits for ever; the bound is only there to end the test. A debug build
        // starved of CPU took up to 51 s of wall time (on 1–2 s of CPU), so it is generous.
        timeout(Duration::from_secs(300), stdout.read_to_end(&mut echoed))
            .await
            .expect("deadlock: echo did not finish")
            .unwrap();
        writer.await.unwrap();
        assert_eq!(echoed.len(), expected.len());
        assert!(echoed == expected, "echoed bytes differ");
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
fn wait_with_output_reads_both_pipes_while_they_fill() {
    rt().block_on(async {
        // 1 MiB to each of stdout and stderr: more than a pipe holds, on both at once.
        let out = Command::new("sh")
            .arg("-c")
            .arg("head -c 1048576 /dev/zero; head -c 1048576 /dev/zero >&2; exit 7")
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(out.stdout.len(), 1 << 20);
        assert_eq!(out.stderr.len(), 1 << 20);
    });
}

#[test]
fn exit_codes_and_signals_are_in_the_exit_status() {
    rt().block_on(async {
        let st = Command::new("sh")
            .args(["-c", "exit 3"])
            .status()
            .await
            .unwrap();
        assert_eq!((st.code(), st.signal()), (Some(3), None));
        let st = Command::new("sh")
            .args(["-c", "exit 0"])
            .status()
            .await
            .unwrap();
        assert!(st.success());
        let st = Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .await
            .unwrap();
        assert_eq!((st.code(), st.signal()), (None, Some(libc::SIGTERM)));

        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().unwrap();
        let st = child.wait().await.unwrap();
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        // Reaped: the same status again, kill is a no-op.
        assert_eq!(child.wait().await.unwrap(), st);
        assert_eq!(child.try_wait().unwrap(), Some(st));
        child.kill().unwrap();
    });
}

#[test]
fn a_child_that_exits_before_anyone_awaits_it() {
    rt().block_on(async {
        let mut child = Command::new("sh").args(["-c", "exit 5"]).spawn().unwrap();
        sleep(Duration::from_millis(200)).await;
        let st = timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("wait hung for an already exited child")
            .unwrap();
        assert_eq!(st.code(), Some(5));
    });
}

/// The 50 waits are reactor registrations, not a thread each. `/proc/self/task` counts every
/// thread of the test process, and the other tests of this file run at the same time with
/// their own runtimes: once in CI the count rose by 3 (the slack was 2) while this runtime's
/// own threads did not grow. So this runtime's blocking threads are counted by name, and the
/// process's total only has to stay far below one thread per wait.
#[test]
fn fifty_children_awaited_at_once_without_a_thread_each() {
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .thread_name("fifty-waits")
        .build()
        .unwrap();
    rt.block_on(async {
        let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
        let before = threads();
        let children: Vec<_> = (0..50)
            .map(|i| {
                Command::new("sh")
                    .args(["-c", &format!("sleep 0.3; exit {i}")])
                    .spawn()
                    .unwrap()
            })
            .collect();
        let waits = children
            .into_iter()
            .map(|mut c| async move { c.wait().await });
        let all = ciranda::spawn(ciranda::gather(waits));
        sleep(Duration::from_millis(100)).await;
        let during = threads();
        let statuses = timeout(Duration::from_secs(30), all)
            .await
            .unwrap()
            .unwrap();
        for (i, st) in statuses.into_iter().enumerate() {
            assert_eq!(st.unwrap().code(), Some(i as i32));
        }
        // Slack for the blocking pool, and for the other tests' threads.
        let blocking = ciranda_tests::support::threads_named("fifty-waits-blo");
        assert!(blocking <= 2, "{blocking} blocking threads while waiting");
        assert!(
            during < before + 25,
            "threads: {before} before, {during} while waiting"
        );
    });
}

fn gone(pid: u32) -> bool {
    // A zombie keeps its /proc entry until it is reaped.
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn dropped_children_are_killed_or_left_running_and_reaped_without_a_wait() {
    rt().block_on(async {
        let killed = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let detached = Command::new("sleep").arg("0.2").spawn().unwrap();
        let (killed_pid, detached_pid) = (killed.id(), detached.id());
        drop(killed);
        drop(detached);
        // No further spawn or wait: a task of the runtime reaps each when it exits.
        for _ in 0..400 {
            if gone(killed_pid) && gone(detached_pid) {
                return;
            }
            sleep(Duration::from_millis(50)).await;
        }
        panic!("dropped children not killed/reaped: {killed_pid} {detached_pid}");
    });
}

#[test]
fn children_dropped_outside_the_runtime_are_reaped_at_the_next_spawn() {
    let rt = rt();
    let (killed, detached) = rt.block_on(async {
        (
            Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
            Command::new("sleep").arg("0.1").spawn().unwrap(),
        )
    });
    let (pid, detached_pid) = (killed.id(), detached.id());
    drop(killed); // outside the runtime: killed, then on the orphan list
    drop(detached);
    rt.block_on(async {
        for _ in 0..200 {
            if gone(pid) && gone(detached_pid) {
                return;
            }
            Command::new("true").status().await.unwrap();
            sleep(Duration::from_millis(50)).await;
        }
        panic!("orphans were not reaped: {pid} {detached_pid}");
    });
}

#[test]
fn a_thousand_short_children_leave_no_zombie() {
    rt().block_on(async {
        for batch in 0..20 {
            let waits = (0..50).map(|i| async move {
                let mut c = Command::new("true").spawn().unwrap();
                // Every tenth child is dropped without a wait: it must be reaped too.
                if i % 10 == 0 {
                    drop(c);
                    return;
                }
                assert!(c.wait().await.unwrap().success(), "batch {batch}");
            });
            ciranda::gather(waits).await;
        }
        // The dropped ones may still have been running at their drop: they are reaped at the
        // next spawn or wait.
        for _ in 0..100 {
            if zombies() == 0 {
                return;
            }
            Command::new("true").status().await.unwrap();
            sleep(Duration::from_millis(20)).await;
        }
        panic!("{} zombie children left", zombies());
    });
}

#[test]
fn bad_programs_are_errors_that_name_them() {
    rt().block_on(async {
        let e = Command::new("").spawn().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("empty"), "{e}");

        let e = Command::new("no-such-program-ciranda-20")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        assert!(e.to_string().contains("no-such-program-ciranda-20"), "{e}");

        let e = Command::new("/no/such/dir/prog")
            .output()
            .await
            .unwrap_err();
        assert!(e.to_string().contains("/no/such/dir/prog"), "{e}");

        // Not an executable (root is not refused, so the kernel's reason varies).
        let e = Command::new("/etc/hostname").status().await.unwrap_err();
        assert!(e.to_string().contains("/etc/hostname"), "{e}");
    });
    // Outside a runtime: an error, and no child is started.
    let e = Command::new("true").spawn().unwrap_err();
    assert!(e.to_string().contains("no ciranda runtime"), "{e}");
}

#[test]
fn env_and_current_dir_reach_the_child() {
    rt().block_on(async {
        let out = Command::new("sh")
            .args(["-c", "echo $CIRANDA_X; pwd"])
            .env("CIRANDA_X", "forty-two")
            .current_dir("/tmp")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "forty-two\n/tmp\n");
    });
}

/// A child that exits with `code` once its stdin closes, whose stdin we hold (`wait` cannot
/// close it), and on which a wait was begun and given up (so it has set up its watch).
async fn waiting_child_held_by_stdin(
    code: i32,
) -> (ciranda::process::Child, ciranda::process::ChildStdin) {
    let mut child = Command::new("sh")
        .args(["-c", &format!("read line; exit {code}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    assert!(
        timeout(Duration::from_millis(50), child.wait())
            .await
            .is_err()
    );
    (child, stdin)
}

/// A wait begun in one runtime, given up, and taken up again in another runtime after the
/// first shut down: the exit is watched from the runtime that waits now, as on the `SIGCHLD`
/// fallback (`os_process_sigchld.rs`), instead of failing with "the runtime ... has been shut
/// down" because the first wait's pidfd was registered with the first runtime's reactor.
#[test]
fn a_wait_taken_up_in_another_runtime_after_the_first_shut_down() {
    let first = rt();
    let (mut child, stdin) = first.block_on(async { waiting_child_held_by_stdin(3).await });
    drop(first);
    rt().block_on(async {
        drop(stdin); // end of file: the child exits
        let st = timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("the wait hung")
            .expect("the wait failed");
        assert_eq!(st.code(), Some(3));
    });
}

/// A child reaped behind ciranda's back (another library's `waitpid`): `wait` and `try_wait`
/// report `ECHILD` instead of hanging or inventing a status.
#[test]
fn a_child_reaped_by_someone_else_is_an_echild_error() {
    rt().block_on(async {
        for wait_first in [false, true] {
            let mut child = Command::new("sh")
                .args(["-c", "read line"])
                .stdin(Stdio::piped())
                .spawn()
                .unwrap();
            // Held by us, not closed by `wait`: the child cannot exit before we drop it.
            let stdin = child.stdin.take().unwrap();
            if wait_first {
                // A watch already set up when the child goes.
                let waited = timeout(Duration::from_millis(1), child.wait()).await;
                assert!(waited.is_err());
            }
            drop(stdin);
            let pid = child.id() as libc::pid_t;
            let mut raw = 0;
            // SAFETY: waits for our own child by its pid; `raw` is a valid out-pointer.
            assert_eq!(unsafe { libc::waitpid(pid, &mut raw, 0) }, pid);
            let e = timeout(Duration::from_secs(20), child.wait())
                .await
                .expect("the wait hung")
                .unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECHILD), "{e}");
            let e = child.try_wait().unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ECHILD), "{e}");
        }
    });
}

/// A wait begun in a current-thread runtime that is then left idle (alive, but nobody calls
/// its `block_on`, so nobody drives its reactor), and taken up in another runtime: the exit is
/// watched from the runtime that waits now, instead of through the idle one's reactor, where
/// the wait would hang until that runtime is dropped.
#[test]
fn a_wait_taken_up_in_another_runtime_while_the_first_sits_idle() {
    let idle = ciranda::Runtime::builder()
        .flavor(ciranda::Flavor::CurrentThread)
        .build()
        .unwrap();
    let (mut child, stdin) = idle.block_on(async { waiting_child_held_by_stdin(6).await });
    rt().block_on(async {
        drop(stdin); // end of file: the child exits
        // The timer is polled first: a `timeout` polls the wait when it fires, which would
        // find the exit and hide a wait that was never woken.
        let timer = std::pin::pin!(sleep(Duration::from_secs(20)));
        let wait = std::pin::pin!(child.wait());
        match futures_util::future::select(timer, wait).await {
            futures_util::future::Either::Right((st, _)) => {
                assert_eq!(st.expect("the wait failed").code(), Some(6));
            }
            futures_util::future::Either::Left(_) => {
                panic!("the wait was never woken: its exit watch sat on the idle runtime")
            }
        }
    });
    drop(idle);
}
