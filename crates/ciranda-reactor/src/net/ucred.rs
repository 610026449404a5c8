//! `UCred`: who is at the other end of a Unix stream, as the kernel saw it connect.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The credentials of a Unix stream's peer: its user and group ids, and its process id where
/// the system reports it (Linux and Android do), taken by the kernel when the peer called
/// `connect` (or `socketpair`), so a server can decide what a client may do.
///
/// # Examples
///
/// ```
/// use ciranda::net::UnixStream;
/// use ciranda::net::unix::UCred;
///
/// ciranda::run(async {
///     let (a, _b) = UnixStream::pair()?;
///     let cred: UCred = a.peer_cred()?;
///     // Both ends are this process.
///     assert_eq!(cred.uid(), unsafe { libc::getuid() });
///     assert_eq!(cred.gid(), unsafe { libc::getgid() });
///     #[cfg(target_os = "linux")]
///     assert_eq!(cred.pid(), Some(std::process::id() as i32));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UCred {
    uid: libc::uid_t,
    gid: libc::gid_t,
    pid: Option<libc::pid_t>,
}

impl UCred {
    /// The peer's effective user id.
    pub fn uid(&self) -> libc::uid_t {
        self.uid
    }

    /// The peer's effective group id.
    pub fn gid(&self) -> libc::gid_t {
        self.gid
    }

    /// The peer's process id, where the system reports it (`None` on the BSDs and macOS,
    /// whose `getpeereid` gives only the ids).
    pub fn pid(&self) -> Option<libc::pid_t> {
        self.pid
    }
}

/// `SO_PEERCRED` of a connected Unix socket.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn peer_cred(socket: BorrowedFd<'_>) -> io::Result<UCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, for the call's
    // duration; the descriptor is open (borrowed).
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<libc::ucred>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "SO_PEERCRED returned a credential of an unexpected size",
        ));
    }
    Ok(UCred {
        uid: cred.uid,
        gid: cred.gid,
        pid: Some(cred.pid),
    })
}

/// `getpeereid` of a connected Unix socket (no process id).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn peer_cred(socket: BorrowedFd<'_>) -> io::Result<UCred> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: `uid` and `gid` are valid for writes for the call's duration; the descriptor
    // is open (borrowed).
    if unsafe { libc::getpeereid(socket.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(UCred {
        uid,
        gid,
        pid: None,
    })
}
