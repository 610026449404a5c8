//! The child's standard streams: non-blocking pipes registered with the reactor.

use ciranda_reactor::Async;
use futures_io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

macro_rules! read_pipe {
    ($name:ident, $std:ty, $what:literal, $field:literal) => {
        #[doc = concat!("The child's ", $what, ": a non-blocking pipe registered with the reactor (`AsyncRead`).")]
        ///
        /// Pipes are opened close-on-exec by std, so other children do not inherit them.
        ///
        /// # Examples
        ///
        /// ```
        /// use ciranda::io::AsyncReadExt;
        /// use ciranda::process::{Command, Stdio};
        ///
        /// ciranda::run(async {
        ///     let mut child = Command::new("sh")
        ///         .args(["-c", "echo out; echo err >&2"])
        ///         .stdout(Stdio::piped())
        ///         .stderr(Stdio::piped())
        ///         .spawn()?;
        #[doc = concat!("    let mut pipe: ciranda::process::", stringify!($name), " = child.", $field, ".take().unwrap();")]
        ///     let mut text = String::new();
        ///     pipe.read_to_string(&mut text).await?;
        ///     assert!(text == "out\n" || text == "err\n");
        ///     child.wait().await?;
        ///     std::io::Result::Ok(())
        /// })?;
        /// # std::io::Result::Ok(())
        /// ```
        ///
        /// # Cancel safety
        ///
        /// As for a socket: a `read` future moves bytes only in the poll that completes it, so a
        /// dropped one has read nothing; a dropped `read_exact` or `read_to_end` may have read
        /// part of the data into the buffer it was given.
        pub struct $name {
            inner: Async<$std>,
        }

        impl $name {
            pub(crate) fn new(pipe: $std) -> io::Result<$name> {
                Ok($name {
                    inner: Async::new(pipe)?,
                })
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.inner.as_raw_fd())
                    .finish()
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_read(cx, buf)
            }

            fn poll_read_vectored(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                Pin::new(&mut self.inner).poll_read_vectored(cx, bufs)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.as_fd()
            }
        }

        #[doc = concat!("Hands the pipe to another child (as its stdin, say), as a shell's `|` does: the \
            pipe leaves the reactor and is made blocking again, since the next child's program \
            expects a blocking descriptor (`cat` fails with `EAGAIN` on a non-blocking one).")]
        ///
        /// # Errors
        ///
        /// When the descriptor's flags cannot be read or set.
        ///
        /// # Examples
        ///
        /// ```
        /// use ciranda::process::{Command, Stdio};
        ///
        /// ciranda::run(async {
        ///     // sh -c 'echo hello; echo hello >&2' | tr a-z A-Z, one of its streams piped on
        ///     let mut first = Command::new("sh")
        ///         .args(["-c", "echo hello; echo hello >&2"])
        #[doc = concat!("        .", $field, "(Stdio::piped())")]
        ///         .spawn()?;
        #[doc = concat!("    let pipe = first.", $field, ".take().unwrap();")]
        ///     let upper = Command::new("tr")
        ///         .args(["a-z", "A-Z"])
        ///         .stdin(Stdio::try_from(pipe)?)
        ///         .output()
        ///         .await?;
        ///     first.wait().await?;
        ///     assert_eq!(upper.stdout, b"HELLO\n");
        ///     std::io::Result::Ok(())
        /// })?;
        /// # std::io::Result::Ok(())
        /// ```
        impl TryFrom<$name> for std::process::Stdio {
            type Error = io::Error;

            fn try_from(pipe: $name) -> io::Result<std::process::Stdio> {
                let pipe = pipe.inner.into_inner()?;
                set_blocking(pipe.as_fd())?;
                Ok(pipe.into())
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.as_raw_fd()
            }
        }
    };
}

read_pipe!(
    ChildStdout,
    std::process::ChildStdout,
    "standard output",
    "stdout"
);
read_pipe!(
    ChildStderr,
    std::process::ChildStderr,
    "standard error",
    "stderr"
);

/// The child's standard input: a non-blocking pipe registered with the reactor (`AsyncWrite`).
///
/// `close()` (or dropping it) closes the pipe, so the child reads end-of-file.
///
/// # Examples
///
/// ```
/// use ciranda::io::AsyncWriteExt;
/// use ciranda::process::{Command, Stdio};
///
/// ciranda::run(async {
///     let mut child = Command::new("wc").arg("-l").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
///     let mut stdin: ciranda::process::ChildStdin = child.stdin.take().unwrap();
///     stdin.write_all(b"a\nb\n").await?;
///     stdin.close().await?;
///     let out = child.wait_with_output().await?;
///     assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// As for a socket: a `write` future moves bytes only in the poll that completes it, so a
/// dropped one has written nothing; a dropped `write_all` may have written part of the data.
pub struct ChildStdin {
    /// `None` once closed.
    inner: Option<Async<std::process::ChildStdin>>,
}

impl ChildStdin {
    pub(crate) fn new(pipe: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            inner: Some(Async::new(pipe)?),
        })
    }

    fn open(&mut self) -> io::Result<Pin<&mut Async<std::process::ChildStdin>>> {
        match &mut self.inner {
            Some(inner) => Ok(Pin::new(inner)),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the child's stdin was closed",
            )),
        }
    }
}

/// Hands the pipe to another child (as its stdout, say): the pipe leaves the reactor and is
/// made blocking again, since the other child's program expects a blocking descriptor.
///
/// # Errors
///
/// `BrokenPipe` if the pipe was closed; an OS error when the descriptor's flags cannot be
/// read or set.
///
/// # Examples
///
/// ```
/// use ciranda::process::{Command, Stdio};
///
/// ciranda::run(async {
///     // echo hello | tr a-z A-Z, built from the reading end: `tr` starts first.
///     let mut upper = Command::new("tr")
///         .args(["a-z", "A-Z"])
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let pipe = upper.stdin.take().unwrap();
///     Command::new("echo").arg("hello").stdout(Stdio::try_from(pipe)?).status().await?;
///     let out = upper.wait_with_output().await?;
///     assert_eq!(out.stdout, b"HELLO\n");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
impl TryFrom<ChildStdin> for std::process::Stdio {
    type Error = io::Error;

    fn try_from(mut pipe: ChildStdin) -> io::Result<std::process::Stdio> {
        let pipe = pipe
            .inner
            .take()
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was closed")
            })?
            .into_inner()?;
        set_blocking(pipe.as_fd())?;
        Ok(pipe.into())
    }
}

/// Clears `O_NONBLOCK` on a pipe end this process alone holds (std opens them close-on-exec),
/// before another child inherits it.
fn set_blocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `fcntl(F_GETFL)` on a descriptor that `fd` borrows, so it is open for the call;
    // it reads the status flags and touches no memory.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags == -1 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK != 0 {
        // SAFETY: as above; `F_SETFL` with the same flags less `O_NONBLOCK` changes only the
        // blocking mode of this open file description.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags & !libc::O_NONBLOCK) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.inner.as_ref().map(|i| i.as_raw_fd()))
            .finish()
    }
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.open() {
            Ok(inner) => inner.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.open() {
            Ok(inner) => inner.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Pipe writes are unbuffered.
        Poll::Ready(Ok(()))
    }

    fn poll_close(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner = None;
        Poll::Ready(Ok(()))
    }
}
