//! `Interest` and `Ready`: which directions a caller waits for, and what it found (Tokio's
//! names), for `ready`, `try_io` and `async_io`.
//!
//! What is found comes from the descriptor's level (`poll(2)` with a zero timeout), asked when
//! the wait starts and after each report of the reactor: a report says only that something
//! changed, the level says what holds now, closed directions included.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};
use std::os::fd::RawFd;

/// The directions a wait is for: [`READABLE`](Interest::READABLE),
/// [`WRITABLE`](Interest::WRITABLE), or both (`Interest::READABLE | Interest::WRITABLE`).
///
/// # Examples
///
/// ```
/// use ciranda::io::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable());
/// assert!(!Interest::READABLE.is_writable());
/// assert_eq!(both.remove(Interest::WRITABLE), Some(Interest::READABLE));
/// assert_eq!(Interest::READABLE.remove(Interest::READABLE), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interest(u8);

const READ_BIT: u8 = 1;
const WRITE_BIT: u8 = 2;

impl Interest {
    /// Readable: data (or the end of the stream, or an error) to read.
    pub const READABLE: Interest = Interest(READ_BIT);
    /// Writable: room to write (or an error to write into).
    pub const WRITABLE: Interest = Interest(WRITE_BIT);

    /// Whether readable is among these.
    pub const fn is_readable(self) -> bool {
        self.0 & READ_BIT != 0
    }

    /// Whether writable is among these.
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE_BIT != 0
    }

    /// These and `other` (the `|` operator, usable in `const`).
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// These without `other`; `None` if nothing is left (an `Interest` is never empty).
    pub const fn remove(self, other: Interest) -> Option<Interest> {
        let left = self.0 & !other.0;
        if left == 0 {
            None
        } else {
            Some(Interest(left))
        }
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            _ => f.write_str("WRITABLE"),
        }
    }
}

/// What a descriptor was found ready for: the answer of a `ready` wait.
///
/// A closed direction counts as ready (a read returns the end of the stream, a write fails),
/// and so does a pending error (the next operation returns it).
///
/// # Examples
///
/// ```
/// use ciranda::io::{Interest, Ready};
/// use ciranda::net::UnixStream;
/// use std::net::Shutdown;
///
/// ciranda::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let ready: Ready = a.ready(Interest::READABLE | Interest::WRITABLE).await?;
///     assert!(ready.is_writable() && !ready.is_readable()); // room, nothing to read
///     b.shutdown(Shutdown::Write)?;
///     let ready = a.ready(Interest::READABLE).await?;
///     assert!(ready.is_readable() && ready.is_read_closed()); // the end of the stream
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(u8);

const READABLE: u8 = 1;
const WRITABLE: u8 = 2;
const READ_CLOSED: u8 = 4;
const WRITE_CLOSED: u8 = 8;
const ERROR: u8 = 16;

impl Ready {
    /// Nothing ready.
    pub const EMPTY: Ready = Ready(0);
    /// Readable.
    pub const READABLE: Ready = Ready(READABLE);
    /// Writable.
    pub const WRITABLE: Ready = Ready(WRITABLE);
    /// The read side is closed (the peer shut its write side down, or hung up).
    pub const READ_CLOSED: Ready = Ready(READ_CLOSED);
    /// The write side is closed (hung up, or an error on it).
    pub const WRITE_CLOSED: Ready = Ready(WRITE_CLOSED);
    /// An error is pending (`SO_ERROR`; the next operation returns it).
    pub const ERROR: Ready = Ready(ERROR);

    /// Whether nothing is ready.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether it is readable (a read would not block): data, or the end of the stream (an
    /// error pending is [`is_error`](Ready::is_error)).
    pub const fn is_readable(self) -> bool {
        self.0 & (READABLE | READ_CLOSED) != 0
    }

    /// Whether it is writable (a write would not block): room, or a closed write side.
    pub const fn is_writable(self) -> bool {
        self.0 & (WRITABLE | WRITE_CLOSED) != 0
    }

    /// Whether the read side is closed.
    pub const fn is_read_closed(self) -> bool {
        self.0 & READ_CLOSED != 0
    }

    /// Whether the write side is closed.
    pub const fn is_write_closed(self) -> bool {
        self.0 & WRITE_CLOSED != 0
    }

    /// Whether an error is pending.
    pub const fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }

    /// Whether any direction of `interest` is ready (an error counts for both).
    pub const fn satisfies(self, interest: Interest) -> bool {
        (interest.is_readable() && self.is_readable())
            || (interest.is_writable() && self.is_writable())
            || self.is_error()
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (READABLE, "READABLE"),
            (WRITABLE, "WRITABLE"),
            (READ_CLOSED, "READ_CLOSED"),
            (WRITE_CLOSED, "WRITE_CLOSED"),
            (ERROR, "ERROR"),
        ];
        let mut set = names.iter().filter(|(bit, _)| self.0 & bit != 0).peekable();
        if set.peek().is_none() {
            return f.write_str("EMPTY");
        }
        for (i, (_, name)) in set.enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// What `fd` is ready for now, among the directions of `interest` (closed directions and
/// errors are always reported; see [`Ready`]). A descriptor the kernel does not know reports
/// an error.
#[cfg(not(loom))]
pub(crate) fn level(fd: RawFd, interest: Interest) -> Ready {
    let mut events = 0;
    if interest.is_readable() {
        events |= libc::POLLIN | libc::POLLPRI;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            events |= libc::POLLRDHUP;
        }
    }
    if interest.is_writable() {
        events |= libc::POLLOUT;
    }
    let mut poll_fd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: one valid, initialised `pollfd` that lives across the call, `nfds` 1, a zero
        // timeout (never blocks); `poll` only reads the descriptor number.
        let n = unsafe { libc::poll(&mut poll_fd, 1, 0) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // The call itself failed (no memory): say "error", so the caller's operation
            // runs and reports what is wrong.
            return Ready::ERROR;
        }
        return from_revents(poll_fd.revents);
    }
}

/// Under loom there is no kernel: nothing is ready by its level.
#[cfg(loom)]
pub(crate) fn level(_fd: RawFd, _interest: Interest) -> Ready {
    Ready::EMPTY
}

#[cfg(not(loom))]
fn from_revents(revents: libc::c_short) -> Ready {
    let mut ready = Ready::EMPTY;
    if revents & (libc::POLLIN | libc::POLLPRI) != 0 {
        ready = ready | Ready::READABLE;
    }
    if revents & libc::POLLOUT != 0 {
        ready = ready | Ready::WRITABLE;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if revents & libc::POLLRDHUP != 0 {
        ready = ready | Ready::READ_CLOSED;
    }
    if revents & libc::POLLHUP != 0 {
        ready = ready | Ready::READ_CLOSED | Ready::WRITE_CLOSED;
    }
    if revents & (libc::POLLERR | libc::POLLNVAL) != 0 {
        ready = ready | Ready::ERROR;
    }
    ready
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn debug_names_every_flag_set() {
        assert_eq!(format!("{:?}", Ready::EMPTY), "EMPTY");
        assert_eq!(
            format!("{:?}", Ready::READABLE | Ready::READ_CLOSED),
            "READABLE | READ_CLOSED"
        );
        assert_eq!(
            format!("{:?}", Interest::WRITABLE | Interest::READABLE),
            "READABLE | WRITABLE"
        );
    }

    #[test]
    fn an_error_satisfies_any_interest_and_closed_sides_their_own() {
        assert!(Ready::ERROR.satisfies(Interest::READABLE));
        assert!(Ready::ERROR.satisfies(Interest::WRITABLE));
        assert!(Ready::READ_CLOSED.satisfies(Interest::READABLE));
        assert!(!Ready::READ_CLOSED.satisfies(Interest::WRITABLE));
        assert!(Ready::WRITE_CLOSED.satisfies(Interest::WRITABLE));
        assert!(!Ready::WRITABLE.satisfies(Interest::READABLE));
        assert!(!Ready::EMPTY.satisfies(Interest::READABLE | Interest::WRITABLE));
    }

    #[test]
    fn a_descriptor_nobody_opened_reports_an_error() {
        assert!(
            level(-1, Interest::READABLE).is_empty(),
            "poll ignores negative fds"
        );
        assert!(level(1_000_000, Interest::READABLE).is_error());
    }
}
