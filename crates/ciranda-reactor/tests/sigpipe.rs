#![cfg(all(not(loom), any(target_os = "linux", target_os = "android")))]
//! A write to a stream socket that can no longer send (its write side shut down, or its Unix
//! peer gone) fails with `BrokenPipe` and raises no `SIGPIPE`, whatever its size and however
//! many buffers it has.
//!
//! The kernel sends `SIGPIPE` along with `EPIPE` unless the call passes `MSG_NOSIGNAL`, and
//! the signal kills a process that has not ignored it (one that restored the default, as
//! command-line programs do, or a host that is not a Rust program). Rust's `main` ignores it,
//! so these tests block it on the writing thread instead: a blocked signal is queued even while
//! its disposition is "ignore", and `sigpending` shows it. A vectored write of more than the
//! 512 bytes ciranda gathers into one `send` went out with std's `write_vectored` (`writev`,
//! which cannot pass the flag) and raised it; single and small gathered writes did not.

use ciranda_reactor::block_on;
use ciranda_reactor::net::{TcpListener, TcpStream, UnixStream};
use futures_util::io::{AsyncWrite, AsyncWriteExt};
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

/// Bigger than the 512 bytes ciranda gathers into one `send`.
const BIG: usize = 600;

/// The set holding `SIGPIPE` alone.
fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: an all-zero `sigset_t` is a valid value for `sigemptyset` to initialise, and
    // `sigaddset` adds a valid signal number to that initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        assert_eq!(libc::sigemptyset(&mut set), 0);
        assert_eq!(libc::sigaddset(&mut set, libc::SIGPIPE), 0);
        set
    }
}

/// `SIGPIPE` blocked on the current thread while this lives; the thread's old mask comes back
/// when it is dropped.
struct SigpipeBlocked {
    old: libc::sigset_t,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        let set = sigpipe_set();
        // SAFETY: an all-zero `sigset_t` is a valid value, overwritten by the call below.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: both sets are valid for the call, which changes only this thread's mask.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) };
        assert_eq!(rc, 0);
        let blocked = SigpipeBlocked { old };
        assert!(
            !blocked.take_raised(),
            "a SIGPIPE was pending before the test"
        );
        blocked
    }

    /// Whether a `SIGPIPE` was raised since the last call; takes it, so the next call starts
    /// clean.
    fn take_raised(&self) -> bool {
        // SAFETY: an all-zero `sigset_t` is a valid value, overwritten by `sigpending`.
        let mut pending: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: `pending` is a valid set for `sigpending` to fill.
        assert_eq!(unsafe { libc::sigpending(&mut pending) }, 0);
        // SAFETY: `pending` was filled by `sigpending` above.
        if unsafe { libc::sigismember(&pending, libc::SIGPIPE) } != 1 {
            return false;
        }
        let set = sigpipe_set();
        let now = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `set` and `now` are valid for the call, and a null `info` is allowed. The
        // signal is pending and blocked, so the call returns it at once.
        let taken = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &now) };
        assert_eq!(taken, libc::SIGPIPE);
        true
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: restores, on the thread that made this guard, the mask saved in `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// Writes to `stream`, which can no longer send, in every way ciranda's `AsyncWrite` issues a
/// write: each must fail with `BrokenPipe` and raise no `SIGPIPE`.
async fn every_write_fails_quietly(mut stream: impl AsyncWrite + Unpin, what: &str) {
    let blocked = SigpipeBlocked::new();
    let small = [1u8; 16];
    let big = [2u8; BIG];
    let cases = [
        ("one buffer", vec![IoSlice::new(&big)]),
        (
            "two small buffers",
            vec![IoSlice::new(&small), IoSlice::new(&small)],
        ),
        (
            "two large buffers",
            vec![IoSlice::new(&big), IoSlice::new(&big)],
        ),
    ];
    for (case, bufs) in &cases {
        let err = stream
            .write_vectored(bufs)
            .await
            .expect_err("the write side is shut");
        assert_eq!(
            err.kind(),
            io::ErrorKind::BrokenPipe,
            "{what}, {case}: {err}"
        );
        assert!(
            !blocked.take_raised(),
            "{what}, {case}: the write raised SIGPIPE"
        );
    }
    let err = stream
        .write(&big)
        .await
        .expect_err("the write side is shut");
    assert_eq!(
        err.kind(),
        io::ErrorKind::BrokenPipe,
        "{what}, write: {err}"
    );
    assert!(
        !blocked.take_raised(),
        "{what}, write: the write raised SIGPIPE"
    );
}

/// The probe itself: a `writev` to a Unix stream whose peer is gone does raise the signal,
/// and `take_raised` sees it (so the other tests cannot pass by seeing nothing).
#[test]
fn the_probe_sees_a_sigpipe_that_writev_raises() {
    with_watchdog(Duration::from_secs(20), || {
        let blocked = SigpipeBlocked::new();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        drop(b);
        let big = [2u8; BIG];
        let bufs = [IoSlice::new(&big), IoSlice::new(&big)];
        // SAFETY: `a` is an open descriptor for the call, and `IoSlice` is ABI-compatible with
        // `iovec` (std guarantees it), so `bufs` is two valid iovecs the kernel only reads.
        let n = unsafe { libc::writev(a.as_raw_fd(), bufs.as_ptr().cast(), 2) };
        assert_eq!(n, -1);
        let err = io::Error::last_os_error();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe, "{err}");
        assert!(blocked.take_raised(), "writev raised no SIGPIPE");
        assert!(!blocked.take_raised());
    });
}

#[test]
fn tcp_writes_after_a_write_shutdown_raise_no_sigpipe() {
    with_watchdog(Duration::from_secs(20), || {
        block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let client = TcpStream::connect(listener.local_addr()?).await?;
            let (server, _) = listener.accept().await?;
            client.shutdown(Shutdown::Write)?;
            every_write_fails_quietly(&client, "TCP, own shutdown").await;
            // The owned write half goes through the same path.
            server.shutdown(Shutdown::Write)?;
            let (_r, w) = server.into_split();
            every_write_fails_quietly(w, "TCP write half, own shutdown").await;
            io::Result::Ok(())
        })
        .unwrap();
    });
}

#[test]
fn unix_writes_to_a_gone_peer_or_after_a_write_shutdown_raise_no_sigpipe() {
    with_watchdog(Duration::from_secs(20), || {
        block_on(async {
            let (a, b) = UnixStream::pair()?;
            drop(b);
            every_write_fails_quietly(&a, "Unix, peer gone").await;
            let (c, _d) = UnixStream::pair()?;
            c.shutdown(Shutdown::Write)?;
            every_write_fails_quietly(&c, "Unix, own shutdown").await;
            io::Result::Ok(())
        })
        .unwrap();
    });
}
