//! The standard streams on the blocking pool.
//!
//! Reading a terminal or a pipe blocks, and there is no portable way to make fd 0 non-blocking
//! without affecting other processes sharing it, so each stream hands its system calls to the
//! blocking pool: `Stdin` reads what the caller asked for (at most 64 KiB) per job, so a
//! handle never holds bytes it did not return (std's shared buffer keeps the rest, including
//! what it read ahead for a read of less than 8 KiB);
//! `Stdout`/`Stderr` collect writes and write them in one job per buffer (on overflow, `flush`,
//! `close` or drop). One write takes at most 2 MiB (a short write, as Tokio's cap of one job), so
//! a huge write is not copied whole into the buffer.
//!
//! The descriptor may be non-blocking all the same: `O_NONBLOCK` belongs to the open file
//! description, shared with every process holding the same terminal or pipe (Node.js sets it on
//! the pipes it gives its children; a program sharing the terminal may leave it set). A job
//! whose `read` or `write` says `EAGAIN` then waits for the descriptor with `poll(2)` and
//! tries again, so neither side ever sees `WouldBlock` and no accepted byte is dropped.

use crate::task::JoinHandle;
use futures_io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Bytes read per job (at most).
const READ_CHUNK: usize = 64 * 1024;
/// Bytes of writes collected before a job writes them.
const WRITE_BUFFER: usize = 8 * 1024;
/// The most one `poll_write` takes (into an empty buffer): a larger write returns this short
/// count, and `write_all` goes on with the rest, so the copy stays bounded.
const MAX_WRITE: usize = 2 * 1024 * 1024;

/// The process's standard input: `AsyncRead`, one blocking-pool job per read (of at most
/// 64 KiB). Wrap it in a [`BufReader`](crate::io::BufReader) for `lines()` and small reads.
///
/// Like `std::io::stdin()`, each [`stdin()`] is a handle to the one standard input: a job
/// takes no more than the read that started it asked for, so dropping a handle loses nothing
/// it did not return and the next handle reads on. The job reads through std's shared stdin
/// buffer, though, which fills up to 8 KiB at a time for a read asking for less: what it reads
/// ahead goes to this process's next read (std's or ours), not to a child process that
/// inherits fd 0, exactly as after `std::io::stdin().read(..)`. Reads of 8 KiB or more (a
/// [`BufReader`](crate::io::BufReader)'s) go to the descriptor directly once that buffer is
/// empty.
///
/// A standard input made non-blocking by someone sharing it (`O_NONBLOCK` belongs to the
/// terminal's or pipe's open file description, not to this process) is waited for with
/// `poll(2)` in the job: a read waits for input, never fails with `WouldBlock`.
///
/// # Cancel safety
///
/// Reading is cancel-safe: a read future (`AsyncReadExt::read`, a `lines()` step) dropped
/// while a job waits for input leaves the job to this `Stdin`, and the next read returns what
/// it read. A read in progress cannot be interrupted, though: if the `Stdin` itself is dropped
/// meanwhile, the job (and the bytes it then reads) runs to completion on the pool, unseen.
///
/// Nor does a runtime's shutdown interrupt it: shutting down waits for the blocking pool's
/// running calls, so a program whose main future returns (on Ctrl-C, after a timeout) while a
/// read waits for input that does not come does not exit until a line (or EOF) arrives. This
/// is Tokio's limitation too. To end such a program, use
/// [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout), or `std::process::exit`.
///
/// # Examples
///
/// ```no_run
/// use ciranda::io::{AsyncBufReadExt, BufReader};
/// use ciranda::stream::StreamExt;
///
/// #[ciranda::main]
/// async fn main() -> std::io::Result<()> {
///     let mut lines = BufReader::new(ciranda::io::stdin()).lines();
///     while let Some(line) = lines.next().await {
///         println!("got {}", line?);
///     }
///     Ok(())
/// }
/// ```
pub struct Stdin {
    state: ReadState,
}

struct ReadBuf {
    data: Vec<u8>,
    pos: usize,
}

enum ReadState {
    /// `None` only after a job was lost.
    Idle(Option<ReadBuf>),
    Busy(JoinHandle<(io::Result<()>, ReadBuf)>),
}

/// A handle to the process's standard input (see [`Stdin`]).
pub fn stdin() -> Stdin {
    Stdin {
        state: ReadState::Idle(Some(ReadBuf {
            data: Vec::new(),
            pos: 0,
        })),
    }
}

fn lost(what: &str) -> io::Error {
    io::Error::other(format!(
        "ciranda::io::{what}: a blocking job was lost (the runtime shut down or the job panicked)"
    ))
}

/// The error of the job that did not complete (the runtime shut down before running it),
/// naming the stream: a `JoinError` alone says only "task 7 was cancelled".
fn job_error(what: &str, e: crate::task::JoinError) -> io::Error {
    let e = crate::task::blocking_call_error(e);
    io::Error::new(e.kind(), format!("ciranda::io::{what}: {e}"))
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

impl AsyncRead for Stdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            match &mut self.state {
                ReadState::Idle(None) => return Poll::Ready(Err(lost("stdin"))),
                ReadState::Idle(Some(buf)) if buf.pos < buf.data.len() => {
                    let n = (buf.data.len() - buf.pos).min(dst.len());
                    dst[..n].copy_from_slice(&buf.data[buf.pos..buf.pos + n]);
                    buf.pos += n;
                    return Poll::Ready(Ok(n));
                }
                ReadState::Idle(buf) => {
                    let mut buf = buf.take().expect("matched Some above");
                    // No more than asked: bytes read ahead would be lost with this handle.
                    let want = dst.len().min(READ_CHUNK);
                    self.state = ReadState::Busy(crate::spawn_blocking(move || {
                        buf.data.resize(want, 0);
                        buf.pos = 0;
                        let result = loop {
                            match io::stdin().lock().read(&mut buf.data) {
                                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                    if let Err(e) = wait_ready(libc::STDIN_FILENO, libc::POLLIN) {
                                        break Err(e);
                                    }
                                }
                                other => break other,
                            }
                        };
                        buf.data.truncate(*result.as_ref().unwrap_or(&0));
                        (result.map(drop), buf)
                    }));
                }
                ReadState::Busy(job) => {
                    let done = ready!(Pin::new(job).poll(cx));
                    let (result, buf) = match done {
                        Ok(done) => done,
                        Err(e) => {
                            self.state = ReadState::Idle(None);
                            return Poll::Ready(Err(job_error("stdin", e)));
                        }
                    };
                    let eof = buf.data.is_empty();
                    self.state = ReadState::Idle(Some(buf));
                    result?;
                    if eof {
                        return Poll::Ready(Ok(0));
                    }
                }
            }
        }
    }
}

/// Which standard output stream a [`Writer`] writes to.
#[derive(Clone, Copy)]
enum Target {
    Out,
    Err,
}

impl Target {
    fn write_all(self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Target::Out => {
                let mut out = io::stdout().lock();
                write_all_waiting(&mut out, bytes, libc::STDOUT_FILENO)?;
                flush_waiting(&mut out, libc::STDOUT_FILENO)
            }
            Target::Err => write_all_waiting(&mut io::stderr().lock(), bytes, libc::STDERR_FILENO),
        }
    }

    fn fd(self) -> RawFd {
        match self {
            Target::Out => libc::STDOUT_FILENO,
            Target::Err => libc::STDERR_FILENO,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Target::Out => "stdout",
            Target::Err => "stderr",
        }
    }
}

/// In a blocking job: waits until `fd` (a standard stream someone made non-blocking) is ready
/// for `events`. Also returns when the descriptor is in error or hung up: the next `read` or
/// `write` then reports it (end of file, `EPIPE`).
pub(crate) fn wait_ready(fd: RawFd, events: libc::c_short) -> io::Result<()> {
    let mut pollfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `pollfd` is one valid, writable `struct pollfd`, and the count says one.
        if unsafe { libc::poll(&mut pollfd, 1, -1) } >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `write_all`, waiting out `WouldBlock` on a non-blocking descriptor. Each `write` either
/// takes bytes or fails having taken none (std's buffered stdout keeps that rule too), so
/// nothing is written twice or skipped.
pub(crate) fn write_all_waiting(
    to: &mut impl Write,
    mut bytes: &[u8],
    fd: RawFd,
) -> io::Result<()> {
    while !bytes.is_empty() {
        match to.write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_ready(fd, libc::POLLOUT)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `flush`, waiting out `WouldBlock` (what a failed flush wrote leaves std's buffer).
fn flush_waiting(to: &mut impl Write, fd: RawFd) -> io::Result<()> {
    loop {
        match to.flush() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_ready(fd, libc::POLLOUT)?,
            other => return other,
        }
    }
}

/// Bytes a blocking job is to write to a standard stream. A runtime that shuts down cancels
/// the jobs still queued, dropping them unrun: the bytes, which a `poll_write` already
/// reported written, are then written by this drop, on the thread that shuts down.
struct Pending {
    target: Target,
    buf: Vec<u8>,
}

impl Pending {
    /// Writes the bytes (once: they are cleared, whatever the outcome).
    fn write(&mut self) -> io::Result<()> {
        let result = self.target.write_all(&self.buf);
        self.buf.clear();
        result
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.buf.is_empty() {
            // Nobody is left to report an error to. In place, unless a `shutdown_timeout`
            // must not wait for it past its deadline (see `late_write`).
            let mut rest = Pending {
                target: self.target,
                buf: std::mem::take(&mut self.buf),
            };
            super::late_write::write(self.target.fd(), move || drop(rest.write()));
        }
    }
}

/// Collects writes and writes them on the blocking pool.
struct Writer {
    target: Target,
    state: WriteState,
    /// A failed write's error, reported by the next write or flush.
    error: Option<io::Error>,
}

enum WriteState {
    /// `None` only after a job was lost.
    Idle(Option<Vec<u8>>),
    Busy(JoinHandle<(io::Result<()>, Vec<u8>)>),
}

impl Writer {
    fn new(target: Target) -> Writer {
        Writer {
            target,
            state: WriteState::Idle(Some(Vec::new())),
            error: None,
        }
    }

    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut Vec<u8>>> {
        if let WriteState::Busy(job) = &mut self.state {
            match ready!(Pin::new(job).poll(cx)) {
                Ok((result, buf)) => {
                    self.state = WriteState::Idle(Some(buf));
                    if let Err(e) = result {
                        self.error.get_or_insert(e);
                    }
                }
                Err(e) => {
                    self.state = WriteState::Idle(None);
                    return Poll::Ready(Err(job_error(self.target.name(), e)));
                }
            }
        }
        match &mut self.state {
            WriteState::Idle(Some(buf)) => Poll::Ready(Ok(buf)),
            WriteState::Idle(None) => Poll::Ready(Err(lost(self.target.name()))),
            WriteState::Busy(_) => unreachable!("finished above"),
        }
    }

    fn start(&mut self) {
        let WriteState::Idle(buf) = &mut self.state else {
            unreachable!("started only while idle");
        };
        let buf = buf.take().expect("idle with a buffer");
        let mut pending = Pending {
            target: self.target,
            buf,
        };
        self.state = WriteState::Busy(crate::spawn_blocking(move || {
            let result = pending.write();
            (result, std::mem::take(&mut pending.buf))
        }));
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, src: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_idle(cx))?;
            if let Some(e) = self.error.take() {
                return Poll::Ready(Err(e));
            }
            let WriteState::Idle(Some(buf)) = &mut self.state else {
                unreachable!("idle with a buffer just above");
            };
            if buf.is_empty() || buf.len() + src.len() <= WRITE_BUFFER {
                let taken = &src[..src.len().min(MAX_WRITE)];
                buf.extend_from_slice(taken);
                if buf.len() >= WRITE_BUFFER {
                    self.start();
                }
                return Poll::Ready(Ok(taken.len()));
            }
            // Would overflow: write what is buffered first, keeping `src` whole.
            self.start();
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let buf = ready!(self.poll_idle(cx))?;
            if buf.is_empty() {
                return Poll::Ready(self.error.take().map_or(Ok(()), Err));
            }
            self.start();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let WriteState::Idle(Some(buf)) = &mut self.state {
            if !buf.is_empty() {
                let mut pending = Pending {
                    target: self.target,
                    buf: std::mem::take(buf),
                };
                match crate::Handle::try_current() {
                    Some(handle) => drop(handle.spawn_blocking(move || drop(pending.write()))),
                    // Written by the drop, here.
                    None => drop(pending),
                }
            }
        }
    }
}

macro_rules! writer {
    ($name:ident, $fn:ident, $target:expr, $what:literal) => {
        #[doc = concat!("The process's standard ", $what, ": `AsyncWrite`, written on the blocking pool.")]
        ///
        /// Writes are collected (8 KiB) and written by one blocking job per buffer: `flush` (or
        /// `close`) to have them appear now and to see write errors. One write takes at most
        /// 2 MiB and reports that short count (`write_all` writes on), so a huge write is not
        /// copied whole. Bytes still buffered when the handle is dropped are written anyway, as
        /// are those of a job that a runtime shutting down cancelled before it ran (by the
        /// thread that shuts it down; within
        /// [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout), unless the stream is
        /// a regular file, by a thread of their own, waited for no longer than the timeout).
        /// Output of several handles (or of `println!`) may interleave between buffers, not
        /// inside one.
        ///
        #[doc = concat!("Each [`", stringify!($fn), "()`] is a handle with a buffer of its own, and handles do not")]
        /// wait for each other: a handle dropped with bytes buffered hands them to a blocking
        /// job, which may run after the job of a handle made later. So a fresh handle per write
        #[doc = concat!("(`", stringify!($fn), "().write_all(..)` once per line in a loop) can print lines out of")]
        /// order, as Tokio's handles can: keep one handle and reuse it, or `flush` a handle
        /// before dropping it.
        ///
        /// A descriptor made non-blocking by someone sharing it (`O_NONBLOCK` belongs to the
        /// terminal's or pipe's open file description) is waited for with `poll(2)` when full:
        /// writes never fail with `WouldBlock` and no buffered byte is dropped.
        ///
        /// # Examples
        ///
        /// ```
        /// use ciranda::io::AsyncWriteExt;
        ///
        /// ciranda::run(async {
        #[doc = concat!("    let mut out = ciranda::io::", stringify!($fn), "();")]
        ///     out.write_all(b"hello from ciranda\n").await?;
        ///     out.flush().await?;
        ///     std::io::Result::Ok(())
        /// })?;
        /// # std::io::Result::Ok(())
        /// ```
        pub struct $name {
            writer: Writer,
        }

        #[doc = concat!("A handle to the process's standard ", $what, " (see [`", stringify!($name), "`]).")]
        pub fn $fn() -> $name {
            $name {
                writer: Writer::new($target),
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl AsyncWrite for $name {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                src: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().writer.poll_write(cx, src)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().writer.poll_flush(cx)
            }

            fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().writer.poll_flush(cx)
            }
        }
    };
}

writer!(Stdout, stdout, Target::Out, "output");
writer!(Stderr, stderr, Target::Err, "error");
