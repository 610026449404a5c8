//! Observing a child's exit through the reactor, and reaping the children nobody waits for.

use super::sigchld::SigchldWait;
use ciranda_reactor::Async;
use parking_lot::Mutex;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};

/// Children dropped before they were reaped; reaped (without blocking) at every spawn and
/// every completed wait.
static ORPHANS: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());

/// Reaps every orphan that has exited.
pub(crate) fn reap_orphans() {
    let mut orphans = ORPHANS.lock();
    // `Err` means it was reaped by someone else (waitpid(-1) in user code): nothing to keep.
    orphans.retain_mut(|child| matches!(child.try_wait(), Ok(None)));
}

const UNKNOWN: u8 = 0;
const PIDFD: u8 = 1;
const SIGCHLD: u8 = 2;

/// Which mechanism this process uses (decided at the first wait).
static MECHANISM: AtomicU8 = AtomicU8::new(UNKNOWN);

/// How one waiting child learns about its exit.
enum Watch {
    /// Readable once the child has exited.
    Pidfd(Async<OwnedFd>),
    /// Ready after any `SIGCHLD` since the last poll: then check with `waitpid(WNOHANG)`.
    Sigchld(SigchldWait),
}

fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no memory
    // is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Watch {
    fn new(pid: u32) -> io::Result<Watch> {
        let mut mechanism = MECHANISM.load(Ordering::Relaxed);
        if mechanism == UNKNOWN {
            mechanism = if std::env::var_os("CIRANDA_NO_PIDFD").is_some() {
                SIGCHLD
            } else {
                PIDFD
            };
            MECHANISM.store(mechanism, Ordering::Relaxed);
        }
        if mechanism == PIDFD {
            // The child is not reaped yet (we reap it), so its pid cannot have been reused.
            match pidfd_open(pid) {
                Ok(fd) => {
                    let fd = Async::new(fd).map_err(|e| {
                        io::Error::new(e.kind(), format!("waiting for child {pid}: {e}"))
                    })?;
                    return Ok(Watch::Pidfd(fd));
                }
                // No pidfds in this kernel, or a sandbox (seccomp) that refuses the call:
                // `pidfd_open` itself never says `EPERM` or `EACCES`.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOSYS | libc::EPERM | libc::EACCES)
                    ) =>
                {
                    MECHANISM.store(SIGCHLD, Ordering::Relaxed);
                }
                // No descriptor free for the pidfd (this process's table, or the system's):
                // transient, so this one wait listens for `SIGCHLD` (whose listener needs no new
                // descriptor once running, see `sigchld::reserve`) and the next one tries a
                // pidfd again.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Watch::Sigchld(SigchldWait::new()?))
    }

    /// Whether this watch reports through another reactor than the current one: a pidfd
    /// registered by a wait polled in another runtime, which may be idle (a current-thread
    /// runtime outside `block_on`) or gone. The `SIGCHLD` hub follows its waiters by itself.
    fn is_elsewhere(&self) -> bool {
        match self {
            Watch::Pidfd(fd) => ciranda_reactor::Reactor::try_current()
                .is_some_and(|current| !current.ptr_eq(fd.reactor())),
            Watch::Sigchld(_) => false,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Watch::Pidfd(fd) => fd.poll_readable(cx),
            Watch::Sigchld(wait) => wait.poll(cx),
        }
    }
}

/// A child's process and its exit, once known.
pub(crate) struct Reaper {
    /// `None` only while dropping.
    child: Option<std::process::Child>,
    status: Option<ExitStatus>,
    watch: Option<Watch>,
}

impl Reaper {
    pub(crate) fn new(child: std::process::Child) -> Reaper {
        Reaper {
            child: Some(child),
            status: None,
            watch: None,
        }
    }

    fn child(&mut self) -> &mut std::process::Child {
        self.child.as_mut().expect("child present until drop")
    }

    /// A reaper of nothing (what a dropped `Child` leaves behind after handing its own on).
    pub(crate) fn empty() -> Reaper {
        Reaper {
            child: None,
            status: None,
            watch: None,
        }
    }

    pub(crate) fn id(&self) -> u32 {
        self.child.as_ref().expect("child present until drop").id()
    }

    pub(crate) fn is_reaped(&self) -> bool {
        self.status.is_some()
    }

    pub(crate) fn kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.child().kill()
    }

    pub(crate) fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            if let Some(status) = self.child().try_wait()? {
                self.status = Some(status);
                self.watch = None;
                reap_orphans();
            }
        }
        Ok(self.status)
    }

    pub(crate) fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        let mut renewed = false;
        loop {
            if let Some(status) = self.status {
                return Poll::Ready(Ok(status));
            }
            // Watch from the runtime that waits now: the one a wait polled earlier may not
            // drive its reactor any more.
            if self.watch.as_ref().is_some_and(Watch::is_elsewhere) {
                self.watch = None;
            }
            // Set up the watch before checking, so an exit between the two is not missed.
            if self.watch.is_none() {
                match Watch::new(self.id()) {
                    Ok(watch) => self.watch = Some(watch),
                    Err(e) => {
                        // `pidfd_open` says `ESRCH` for a child reaped behind our back; the
                        // check says so as `std` does (`ECHILD`), or finds the exit.
                        if let Some(status) = self.try_wait()? {
                            return Poll::Ready(Ok(status));
                        }
                        return Poll::Ready(Err(e));
                    }
                }
                renewed = true;
            }
            if let Some(status) = self.try_wait()? {
                return Poll::Ready(Ok(status));
            }
            match ready!(self.watch.as_mut().expect("set above").poll(cx)) {
                Ok(()) => {}
                // A watch made by an earlier wait fails when that wait's runtime has shut down
                // (a pidfd is registered with the reactor of the runtime that first waited):
                // the child is no runtime's, so watch it again from this one. A fresh watch
                // that fails is reported (polled outside a runtime, or this one shut down).
                Err(_) if !renewed => self.watch = None,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.watch = None;
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.status.is_none() && matches!(child.try_wait(), Ok(None)) {
            ORPHANS.lock().push(child);
        }
    }
}
