//! `ciranda::process` when the descriptor table is full: a wait whose `pidfd_open` fails with
//! `EMFILE` must fall back to `SIGCHLD` for that wait (as Tokio does) instead of failing, and
//! a later wait must use a pidfd again. Alone in its binary, because it fills this process's
//! descriptor table (under a lowered `RLIMIT_NOFILE`), which every thread shares.

use ciranda::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Duration;

/// The highest descriptor number open in this process.
fn highest_open_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .max()
        .unwrap()
}

/// How many pidfds this process holds.
fn open_pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("pidfd"))
        .count()
}

/// Lowers the soft descriptor limit to a little above what is open, then opens descriptors
/// until the table is full. Returns them and the limit to restore.
fn fill_descriptor_table() -> (Vec<OwnedFd>, libc::rlimit) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` to a valid pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let low = libc::rlimit {
        rlim_cur: (highest_open_fd() + 64).min(old.rlim_cur),
        rlim_max: old.rlim_max,
    };
    // SAFETY: setrlimit reads one valid `struct rlimit`; lowering the soft limit is allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &low) }, 0);
    let stdin = std::io::stdin();
    let mut fillers = Vec::new();
    loop {
        match stdin.as_fd().try_clone_to_owned() {
            Ok(fd) => fillers.push(fd),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
        assert!(fillers.len() < 100_000, "the table does not fill up");
    }
    (fillers, old)
}

/// A child that exits when its stdin closes, and that pipe's write end.
fn child_waiting_for_eof(code: i32) -> (ciranda::process::Child, ChildStdin) {
    let mut child = Command::new("sh")
        .args(["-c", &format!("read line; exit {code}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    (child, stdin)
}

/// Polls `wait` once, which must be pending (the child has not exited yet).
async fn poll_once_pending<F: Future<Output = std::io::Result<ExitStatus>>>(mut wait: Pin<&mut F>) {
    std::future::poll_fn(|cx| match wait.as_mut().poll(cx) {
        Poll::Pending => Poll::Ready(()),
        Poll::Ready(result) => panic!("the wait ended before the child did: {result:?}"),
    })
    .await
}

/// Without a free descriptor, `pidfd_open` said `EMFILE` and the wait failed with "Too many
/// open files" although the child was fine: the `SIGCHLD` fallback was only taken for
/// kernels or sandboxes without pidfds.
#[ciranda::test]
async fn a_wait_without_a_free_descriptor_falls_back_to_sigchld_and_the_next_uses_a_pidfd() {
    let within = Duration::from_secs(30);
    let (mut child, stdin) = child_waiting_for_eof(5);
    let pid = child.id();
    let (fillers, limit) = fill_descriptor_table();
    // The situation under test: no pidfd can be opened now.
    // SAFETY: pidfd_open of our own child, with no flags; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    let error = std::io::Error::last_os_error();
    assert_eq!(fd, -1, "pidfd_open found a free descriptor");
    assert_eq!(error.raw_os_error(), Some(libc::EMFILE));
    let mut wait = pin!(child.wait());
    poll_once_pending(wait.as_mut()).await;
    // Closing a descriptor opens none: the child now exits while the table is still full.
    drop(stdin);
    let status = ciranda::time::timeout(within, wait).await;
    drop(fillers);
    // SAFETY: setrlimit reads one valid `struct rlimit` (the limits read before).
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let status = status.expect("wait() hung").unwrap();
    assert_eq!(status.code(), Some(5));

    // Descriptors are free again: the next wait watches its child through a pidfd.
    let (mut child, stdin) = child_waiting_for_eof(6);
    let before = open_pidfds();
    let mut wait = pin!(child.wait());
    poll_once_pending(wait.as_mut()).await;
    assert_eq!(open_pidfds(), before + 1, "the second wait holds no pidfd");
    drop(stdin);
    let status = ciranda::time::timeout(within, wait)
        .await
        .expect("wait() hung")
        .unwrap();
    assert_eq!(status.code(), Some(6));
}
