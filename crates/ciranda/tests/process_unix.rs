//! `Command`'s Unix options (std's `CommandExt`, Tokio's `Command`): `process_group`, `uid`,
//! `gid`, `arg0` and `pre_exec` reach the child as documented.

use ciranda::process::{Command, Stdio};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;

/// Runs `body` in a ciranda runtime on its own thread; fails the test if it has not finished
/// within `limit` (a generous bound: these tests start a few short children).
fn with_watchdog<F>(limit: Duration, body: impl FnOnce() -> F + Send + 'static)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    watchdog::with_watchdog(limit, move || ciranda::run(body()));
}

const LIMIT: Duration = Duration::from_secs(120);

/// The process group of process `pid`: field 5 of `/proc/<pid>/stat` (the third after the
/// command name, which is in parentheses and may itself hold spaces).
fn pgrp_of(pid: u32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    // state, ppid, pgrp
    after_name
        .split_whitespace()
        .nth(2)
        .unwrap()
        .parse()
        .unwrap()
}

/// This test process's own process group.
fn own_pgrp() -> i32 {
    // SAFETY: `getpgrp` takes no arguments and cannot fail.
    unsafe { libc::getpgrp() }
}

/// `process_group(0)` puts the child in a new group it leads (so a terminal's Ctrl+C, sent to
/// the foreground group, misses it); without it the child shares ours; `process_group(pgid)`
/// joins an existing group, and a signal to the group reaches every member.
#[test]
fn process_group_zero_gives_the_child_a_group_of_its_own() {
    with_watchdog(LIMIT, || async {
        let mine = own_pgrp();

        let mut same = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(pgrp_of(same.id()), mine);

        let mut leader = Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let leader_pid = leader.id() as i32;
        assert_eq!(pgrp_of(leader.id()), leader_pid);
        assert_ne!(leader_pid, mine);

        let mut member = Command::new("sleep")
            .arg("30")
            .process_group(leader_pid)
            .spawn()
            .unwrap();
        assert_eq!(pgrp_of(member.id()), leader_pid);

        // SAFETY: `kill` takes no pointers; `-leader_pid` is the group of the two children.
        assert_eq!(unsafe { libc::kill(-leader_pid, libc::SIGTERM) }, 0);
        assert_eq!(leader.wait().await.unwrap().signal(), Some(libc::SIGTERM));
        assert_eq!(member.wait().await.unwrap().signal(), Some(libc::SIGTERM));
        // The child in our group was not signalled.
        assert!(same.try_wait().unwrap().is_none());
        same.kill().unwrap();
        assert_eq!(same.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    });
}

/// Joining a group that does not exist fails the spawn with the OS's `EPERM`.
#[test]
fn process_group_naming_no_group_fails_the_spawn() {
    with_watchdog(LIMIT, || async {
        // No pid (hence no group) reaches i32::MAX: pid_max is at most 2^22.
        let err = Command::new("true")
            .process_group(i32::MAX)
            .spawn()
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains("\"true\""), "{err}");
    });
}

/// `pre_exec` closures run in the child, after its stdout is in place and before `exec`, in
/// the order they were added; what they change is the child's copy, not ours.
#[test]
fn pre_exec_runs_in_the_child_before_exec() {
    with_watchdog(LIMIT, || async {
        let runs = Arc::new(AtomicUsize::new(0));
        let mut command = Command::new("echo");
        command.arg("exec").stdout(Stdio::piped());
        for line in [&b"first\n"[..], &b"second\n"[..]] {
            let runs = runs.clone();
            // SAFETY: the closure only touches an atomic and calls `write`, both
            // async-signal-safe; nothing is allocated or locked.
            unsafe {
                command.pre_exec(move || {
                    runs.fetch_add(1, Ordering::SeqCst);
                    let n = libc::write(1, line.as_ptr().cast(), line.len());
                    if n != line.len() as isize {
                        return Err(io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let out = command.output().await.unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "first\nsecond\nexec\n"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            0,
            "a pre_exec closure ran in the parent"
        );
    });
}

/// An error returned from a `pre_exec` closure stops the child before `exec` and fails the
/// spawn with that error's OS code; one without a code arrives as `EINVAL`.
#[test]
fn an_error_from_pre_exec_fails_the_spawn_with_it() {
    with_watchdog(LIMIT, || async {
        let mut command = Command::new("echo");
        command.arg("exec").stdout(Stdio::piped());
        // SAFETY: the closure allocates nothing and takes no lock: it only builds an
        // `io::Error` from a code (no allocation for an OS error).
        unsafe {
            command.pre_exec(|| Err(io::Error::from_raw_os_error(libc::EXDEV)));
        }
        let err = command.output().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::CrossesDevices, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("(os error {})", libc::EXDEV)),
            "{err}"
        );
        assert!(err.to_string().contains("\"echo\""), "{err}");

        let mut command = Command::new("true");
        // SAFETY: as above; `ErrorKind` into `io::Error` does not allocate either.
        unsafe {
            command.pre_exec(|| Err(io::ErrorKind::Other.into()));
        }
        let err = command.spawn().map(drop).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("(os error {})", libc::EINVAL)),
            "{err}"
        );
    });
}

/// `arg0` is the child's `argv[0]` (a shell's `$0`); the program run is still `new`'s.
#[test]
fn arg0_is_what_the_child_sees_as_its_name() {
    with_watchdog(LIMIT, || async {
        let out = Command::new("sh")
            .arg0("my-worker")
            .args(["-c", "echo \"$0\""])
            .output()
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"my-worker\n");

        let mut command = Command::new("cat");
        command.arg0("not-cat").arg("/proc/self/cmdline");
        assert_eq!(command.get_program(), "cat");
        let out = command.output().await.unwrap();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, b"not-cat\0/proc/self/cmdline\0");

        // A NUL byte in it is refused naming it, as in an argument.
        let err = Command::new("true")
            .arg0("bad\0name")
            .spawn()
            .map(drop)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        let message = err.to_string();
        assert!(message.contains(r#"arg0) "bad\0name""#), "{message}");
        assert!(!message.contains("<string-with-nul>"), "{message}");
    });
}

/// `uid`/`gid` set to our own ids spawn as usual. As root, the child runs as the user and
/// group given (and without root's supplementary groups); otherwise becoming root is refused
/// with `EPERM`.
#[test]
fn uid_and_gid_are_the_childs_ids() {
    with_watchdog(LIMIT, || async {
        async fn id(flag: &str, uid: u32, gid: u32) -> io::Result<String> {
            let out = Command::new("id")
                .arg(flag)
                .uid(uid)
                .gid(gid)
                .output()
                .await?;
            assert!(out.status.success(), "{out:?}");
            Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
        }
        // SAFETY: `getuid` and `getgid` take no arguments and cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert_eq!(id("-u", uid, gid).await.unwrap(), uid.to_string());
        assert_eq!(id("-g", uid, gid).await.unwrap(), gid.to_string());

        if uid == 0 {
            let nobody = 65534;
            assert_eq!(id("-u", nobody, nobody).await.unwrap(), "65534");
            assert_eq!(id("-g", nobody, nobody).await.unwrap(), "65534");
            assert_eq!(id("-G", nobody, nobody).await.unwrap(), "65534");
        } else {
            let err = id("-u", 0, gid).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        }
    });
}
