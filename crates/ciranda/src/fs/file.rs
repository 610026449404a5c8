//! `File`: `std::fs::File` on the blocking pool, buffered like `tokio::fs::File`.
//!
//! The file is in one of two states: idle, holding a buffer, or busy, while one blocking job
//! owns the buffer. Reads fetch at least [`READ_CHUNK`] bytes per job and serve small reads
//! from the buffer; writes are collected in the buffer and go to the blocking pool when it
//! would overflow or on `flush`/`close`/`seek`/`sync_all`, one job per buffer. A caller's
//! write is never split over two jobs when it fits the buffer, so `O_APPEND` writers sharing a
//! file do not interleave inside one `write_all` of a line.
//!
//! A write (or a seek, `metadata`, ...) after a read moves the OS position back over the bytes
//! read ahead and not returned, so that it acts where the caller's position is. A file that
//! cannot seek (a FIFO, a terminal, a serial port) cannot be moved back: there the read-ahead
//! is set aside instead and returned by the next reads, whose data came before anything read
//! later.

use crate::task::JoinHandle;
use futures_io::{AsyncRead, AsyncSeek, AsyncWrite};
use parking_lot::Mutex;
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker, ready};

/// Bytes at least read per blocking job.
const READ_CHUNK: usize = 64 * 1024;
/// Writes are collected up to this size before a blocking job writes them.
const WRITE_BUFFER: usize = 64 * 1024;
/// The most one job reads or writes (larger caller buffers take several jobs).
const MAX_JOB: usize = 2 * 1024 * 1024;

/// An open file whose operations run on the blocking pool: `futures-io`'s
/// `AsyncRead + AsyncWrite + AsyncSeek`.
///
/// Writes are buffered: call `flush` (or `close`, `sync_all`) to have them written and to see
/// their errors. A `File` dropped with buffered writes still writes them (on the blocking pool,
/// errors unseen), and so does a write job under way: even if the runtime shuts down before
/// the blocking pool gets to them, the shutdown writes them itself instead of dropping them
/// (within [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout), a write to anything
/// but a regular file — a pipe, a FIFO, a terminal, where it may wait for a reader for good —
/// runs on a thread of its own, waited for until the timeout and then left to finish on its
/// own, as a blocking call still running then is).
/// Other jobs (`set_len`, `sync_all`, ...) still queued at a shutdown are dropped unrun, like
/// every blocking call not yet started.
///
/// Reads fetch at least 64 KiB at a time and serve small reads from what was read ahead. A
/// write, seek or other operation after a read acts at the position the reads reached, not at
/// the end of the read-ahead; on a file that cannot seek (a FIFO, a terminal, a serial port)
/// the read-ahead is kept for the next reads instead.
///
/// The descriptor may be in non-blocking mode: a FIFO opened with `O_NONBLOCK` (so that
/// opening it does not wait for the other end) and given to [`File::from_std`], or a pipe
/// inherited from a process that set the flag, which belongs to the open file description.
/// A job whose read or write would block then waits for the descriptor with `poll(2)` and
/// tries again, as a blocking one would have waited: reads and writes never fail with
/// `WouldBlock`, and no buffered byte is dropped.
///
/// A read of a pipe, FIFO or terminal waits on a blocking-pool thread until data or end of
/// file comes (in either mode). Meanwhile the `File`'s other operations, through any handle
/// or split half, wait behind that read, and a runtime shutting down waits for it too (for
/// good when dropped; [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) bounds
/// it), as for [`io::stdin`](crate::io::stdin).
///
/// # Examples
///
/// ```
/// use ciranda::fs::File;
/// use ciranda::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use std::io::SeekFrom;
///
/// ciranda::run(async {
///     let path = std::env::temp_dir().join(format!("ciranda-file-doc-{}", std::process::id()));
///     let mut f = ciranda::fs::OpenOptions::new()
///         .read(true).write(true).create(true).truncate(true)
///         .open(&path).await?;
///     for word in ["a", "b", "c"] {
///         f.write_all(word.as_bytes()).await?; // buffered: no job per word
///     }
///     f.seek(SeekFrom::Start(0)).await?;
///     let mut text = String::new();
///     f.read_to_string(&mut text).await?;
///     assert_eq!(text, "abc");
///     ciranda::fs::remove_file(&path).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// Each operation that needs the blocking pool (a read or write past the buffer, `flush`,
/// `seek`, `sync_all`, `set_len`, `metadata`) is a job that stays this file's own: a dropped
/// future does not interrupt it, and the next operation on the `File` waits for it to finish
/// (a write, `set_len` or sync still takes effect). What the dropped future would have
/// returned, such as `metadata`'s answer, is lost.
///
/// A `File` split into a read half and a write half
/// ([`AsyncReadExt::split`](crate::io::AsyncReadExt::split)) may be used by two tasks: a half
/// that waits for the other's job is woken when it ends, as is the half that started it.
pub struct File {
    std: Arc<std::fs::File>,
    state: State,
    /// The error of a write job, reported by the next write, flush or close.
    write_error: Option<io::Error>,
    /// The target of the seek job under way: its result answers a `poll_seek` for the same
    /// target (a seek future dropped midway must not answer a different seek).
    seeking: Option<SeekFrom>,
    /// Whoever waits for the job under way (see [`JobWakers`]).
    job_wakers: Arc<JobWakers>,
}

/// The wakers of every poll waiting for a file's job. A join handle keeps one waker, the
/// latest poll's; two tasks polling one `File` (the halves of `split`) both wait for its one
/// job, so the join handle is given this set's waker, which wakes them all.
#[derive(Default)]
struct JobWakers(Mutex<Vec<Waker>>);

impl JobWakers {
    /// Polls `job` on behalf of `cx`'s waker, which joins the set.
    fn poll<F: Future + Unpin>(
        self: &Arc<Self>,
        job: &mut F,
        cx: &mut Context<'_>,
    ) -> Poll<F::Output> {
        // Cloned, and a duplicate dropped, outside the lock: a waker's clone or drop may be
        // foreign code that calls back into this file's task.
        let mine = cx.waker().clone();
        let duplicate = {
            let mut wakers = self.0.lock();
            if wakers.iter().any(|w| w.will_wake(&mine)) {
                Some(mine)
            } else {
                wakers.push(mine);
                None
            }
        };
        drop(duplicate);
        let all = Waker::from(Arc::clone(self));
        Pin::new(job).poll(&mut Context::from_waker(&all))
    }
}

impl Wake for JobWakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let wakers = std::mem::take(&mut *self.0.lock());
        // Every waiter is woken even if one's waker panics; the first panic goes on after.
        let mut panic = None;
        for waker in wakers {
            if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()))
            {
                panic.get_or_insert(p);
            }
        }
        if let Some(p) = panic {
            std::panic::resume_unwind(p);
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("std", &self.std)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    /// Read data: the next unread byte. Write data: unused (0).
    pos: usize,
    kind: Kind,
    /// Bytes the OS file position is ahead of ours (read ahead, then discarded): the next job
    /// that writes or seeks relative moves back first.
    ahead: i64,
    /// Whether the OS file can seek; found out by the first read job (read-ahead comes only
    /// from reads).
    seekable: Option<bool>,
    /// Read-ahead of a file that cannot seek, set aside when the buffer was needed for
    /// something else: the next reads return it first.
    kept: VecDeque<u8>,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Kind {
    #[default]
    Empty,
    Read,
    Write,
}

impl Buf {
    fn unread(&self) -> usize {
        if self.kind == Kind::Read {
            self.data.len() - self.pos
        } else {
            0
        }
    }

    /// Drops read-ahead data, remembering how far the OS position is ahead; on a file that
    /// cannot seek, where nothing can move the position back, sets it aside for the next
    /// reads instead.
    fn discard_read(&mut self) {
        if self.kind == Kind::Read {
            if self.seekable == Some(false) {
                self.kept.extend(&self.data[self.pos..]);
            } else {
                self.ahead += self.unread() as i64;
            }
            self.data.clear();
            self.pos = 0;
            self.kind = Kind::Empty;
        }
    }

    /// In a blocking job: moves the OS position back over discarded read-ahead.
    fn rewind(&mut self, file: &std::fs::File) -> io::Result<()> {
        if self.ahead != 0 {
            let mut file = file;
            file.seek(SeekFrom::Current(-self.ahead))?;
            self.ahead = 0;
        }
        Ok(())
    }
}

enum Op {
    Read(io::Result<()>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
    /// `sync_all`, `set_len`, `metadata`: the result, type-erased.
    Other(io::Result<Box<dyn Any + Send>>),
}

enum State {
    /// `None` only after a job was lost (its task panicked or the runtime shut down).
    Idle(Option<Buf>),
    Busy(JoinHandle<(Op, Buf)>),
}

fn lost() -> io::Error {
    io::Error::other(
        "ciranda::fs::File: a blocking job of this file was lost (the runtime shut down or the job panicked)",
    )
}

impl File {
    fn from_std_arc(std: Arc<std::fs::File>) -> File {
        File {
            std,
            state: State::Idle(Some(Buf::default())),
            write_error: None,
            seeking: None,
            job_wakers: Arc::default(),
        }
    }

    /// Wraps an open `std::fs::File`.
    pub fn from_std(std: std::fs::File) -> File {
        File::from_std_arc(Arc::new(std))
    }

    /// Opens a file for reading.
    ///
    /// # Cancel safety
    ///
    /// A dropped future still lets the opening finish on the blocking pool, then closes the
    /// file.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Creates (or truncates) a file for writing.
    ///
    /// # Cancel safety
    ///
    /// A dropped future still lets the opening finish on the blocking pool, then closes the
    /// file.
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Starts a blocking job owning `buf`.
    fn start(
        &mut self,
        mut buf: Buf,
        job: impl FnOnce(&std::fs::File, &mut Buf) -> Op + Send + 'static,
    ) {
        let std = self.std.clone();
        self.state = State::Busy(crate::spawn_blocking(move || {
            let op = job(&std, &mut buf);
            (op, buf)
        }));
    }

    /// Starts writing the buffered data. Unlike the other jobs, a write is not lost if the
    /// blocking pool drops it unrun (see [`PendingWrite`]).
    fn start_write(&mut self, buf: Buf) {
        let mut pending = PendingWrite::new(self.std.clone(), buf);
        self.state = State::Busy(crate::spawn_blocking(move || {
            let (result, buf) = pending.write();
            (Op::Write(result), buf)
        }));
    }

    /// Waits for a job to finish; its write error is kept, other results are returned.
    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Op>>> {
        let State::Busy(job) = &mut self.state else {
            return Poll::Ready(Ok(None));
        };
        let result = ready!(self.job_wakers.poll(job, cx));
        self.seeking = None;
        match result {
            Ok((op, buf)) => {
                self.state = State::Idle(Some(buf));
                if let Op::Write(Err(e)) = op {
                    self.write_error.get_or_insert(e);
                    return Poll::Ready(Ok(None));
                }
                Poll::Ready(Ok(Some(op)))
            }
            Err(e) => {
                self.state = State::Idle(None);
                let e = crate::task::blocking_call_error(e);
                Poll::Ready(Err(io::Error::new(
                    e.kind(),
                    format!("ciranda::fs::File: {e}"),
                )))
            }
        }
    }

    /// The idle buffer, after any job finished (its result is dropped unless it is a write
    /// error, kept for later).
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut Buf>> {
        ready!(self.poll_job(cx))?;
        match &mut self.state {
            State::Idle(Some(buf)) => Poll::Ready(Ok(buf)),
            State::Idle(None) => Poll::Ready(Err(lost())),
            State::Busy(_) => unreachable!("poll_job finished the job"),
        }
    }

    fn take_buf(&mut self) -> Buf {
        match &mut self.state {
            State::Idle(buf) => buf.take().expect("taken only while idle with a buffer"),
            State::Busy(_) => unreachable!("taken only while idle"),
        }
    }

    /// Writes buffered data and waits for it; reports a kept write error.
    fn poll_flush_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let buf = ready!(self.poll_idle(cx))?;
            if buf.kind == Kind::Write && !buf.data.is_empty() {
                let buf = self.take_buf();
                self.start_write(buf);
                continue;
            }
            return Poll::Ready(match self.write_error.take() {
                Some(e) => Err(e),
                None => Ok(()),
            });
        }
    }

    /// Flushes, then runs `f` on the blocking pool with the file at our logical position.
    /// Cancel-safe: the job is an ordinary job of this file, so a later operation waits for it.
    async fn after_flush<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&std::fs::File) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        std::future::poll_fn(|cx| self.poll_flush_inner(cx)).await?;
        let mut buf = self.take_buf();
        buf.discard_read();
        self.start(buf, move |file, buf| {
            let result = buf.rewind(file).and_then(|()| f(file));
            Op::Other(result.map(|t| Box::new(t) as Box<dyn Any + Send>))
        });
        match std::future::poll_fn(|cx| self.poll_job(cx)).await? {
            Some(Op::Other(result)) => {
                Ok(*result?.downcast::<T>().expect("the job started just above"))
            }
            _ => unreachable!("the job started just above returns Op::Other"),
        }
    }

    /// Writes buffered data, then has the OS write data and metadata to the device.
    ///
    /// # Cancel safety
    ///
    /// As for every operation of a `File`: see [its docs](File#cancel-safety).
    pub async fn sync_all(&mut self) -> io::Result<()> {
        self.after_flush(|f| f.sync_all()).await
    }

    /// Writes buffered data, then has the OS write the data (not all metadata) to the device.
    ///
    /// # Cancel safety
    ///
    /// As for every operation of a `File`: see [its docs](File#cancel-safety).
    pub async fn sync_data(&mut self) -> io::Result<()> {
        self.after_flush(|f| f.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes (the position is unchanged).
    ///
    /// # Cancel safety
    ///
    /// As for every operation of a `File`: see [its docs](File#cancel-safety).
    pub async fn set_len(&mut self, size: u64) -> io::Result<()> {
        self.after_flush(move |f| f.set_len(size)).await
    }

    /// The file's metadata (after writing buffered data).
    ///
    /// # Cancel safety
    ///
    /// As for every operation of a `File`: see [its docs](File#cancel-safety).
    pub async fn metadata(&mut self) -> io::Result<super::Metadata> {
        self.after_flush(|f| f.metadata()).await
    }
}

impl AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if let Some(Op::Read(result)) = ready!(this.poll_job(cx))? {
                result?;
                let buf = ready!(this.poll_idle(cx))?;
                if buf.unread() == 0 {
                    return Poll::Ready(Ok(0)); // end of file
                }
            }
            let buf = ready!(this.poll_idle(cx))?;
            if !buf.kept.is_empty() {
                let n = buf.kept.len().min(dst.len());
                for (to, from) in dst.iter_mut().zip(buf.kept.drain(..n)) {
                    *to = from;
                }
                return Poll::Ready(Ok(n));
            }
            if buf.unread() > 0 {
                let n = buf.unread().min(dst.len());
                dst[..n].copy_from_slice(&buf.data[buf.pos..buf.pos + n]);
                buf.pos += n;
                return Poll::Ready(Ok(n));
            }
            if buf.kind == Kind::Write && !buf.data.is_empty() {
                let buf = this.take_buf();
                this.start_write(buf);
                continue;
            }
            if let Some(e) = this.write_error.take() {
                return Poll::Ready(Err(e));
            }
            let want = dst.len().clamp(READ_CHUNK, MAX_JOB);
            let buf = this.take_buf();
            this.start(buf, move |file, buf| {
                buf.data.clear();
                buf.pos = 0;
                buf.kind = Kind::Read;
                if buf.seekable.is_none() {
                    let mut file = file;
                    buf.seekable = Some(file.stream_position().is_ok());
                }
                let result = buf.rewind(file).and_then(|()| {
                    buf.data.resize(want, 0);
                    let mut file = file;
                    loop {
                        match file.read(&mut buf.data) {
                            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                            // A descriptor in non-blocking mode (see `File`'s docs): wait.
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                crate::io::wait_ready(file.as_raw_fd(), libc::POLLIN)?;
                            }
                            other => break other,
                        }
                    }
                });
                match result {
                    Ok(n) => {
                        buf.data.truncate(n);
                        Op::Read(Ok(()))
                    }
                    Err(e) => {
                        buf.data.clear();
                        Op::Read(Err(e))
                    }
                }
            });
        }
    }
}

impl AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        loop {
            ready!(this.poll_idle(cx))?;
            if let Some(e) = this.write_error.take() {
                return Poll::Ready(Err(e));
            }
            let State::Idle(Some(buf)) = &mut this.state else {
                unreachable!("idle with a buffer just above");
            };
            buf.discard_read();
            if !buf.data.is_empty() && buf.data.len() + src.len() > WRITE_BUFFER {
                // Would overflow: write what is buffered first, keeping `src` whole.
                let buf = this.take_buf();
                this.start_write(buf);
                continue;
            }
            let n = src.len().min(MAX_JOB);
            buf.data.extend_from_slice(&src[..n]);
            buf.kind = Kind::Write;
            if buf.data.len() >= WRITE_BUFFER {
                let buf = this.take_buf();
                this.start_write(buf);
            }
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_inner(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_flush_inner(cx)
    }
}

impl AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        loop {
            if let Some(target) = this.seeking {
                if !matches!(this.state, State::Busy(_)) {
                    this.seeking = None;
                    continue;
                }
                // `poll_job` clears `seeking` when the job ends.
                if let Some(Op::Seek(result)) = ready!(this.poll_job(cx))? {
                    if target == pos {
                        return Poll::Ready(result);
                    }
                }
                continue;
            }
            ready!(this.poll_flush_inner(cx))?;
            let mut buf = this.take_buf();
            // Our logical position is the OS one less the read-ahead.
            buf.discard_read();
            this.start(buf, move |file, buf| {
                let os_pos = match pos {
                    SeekFrom::Current(n) => match n.checked_sub(buf.ahead) {
                        Some(n) => SeekFrom::Current(n),
                        // Below `i64::MIN` from a position no file offset can exceed.
                        None => {
                            return Op::Seek(Err(io::Error::new(
                                io::ErrorKind::InvalidInput,
                                "invalid seek to a negative or overflowing position",
                            )));
                        }
                    },
                    other => other,
                };
                let mut file = file;
                let result = file.seek(os_pos);
                // A refused seek leaves the OS position where it was, still ahead of ours.
                if result.is_ok() {
                    buf.ahead = 0;
                    buf.kept.clear();
                }
                Op::Seek(result)
            });
            this.seeking = Some(pos);
        }
    }
}

/// Buffered bytes on their way to the file, owned by a blocking job: written when the job
/// runs, or, if the blocking pool drops the job without running it (a runtime shutting down
/// cancels the jobs still queued, and refuses new ones), by this value's drop, on the thread
/// that drops it. So bytes a `write` accepted reach the file even when the runtime shuts down
/// right after (as Tokio's file writes do, with its "mandatory" blocking jobs).
struct PendingWrite {
    std: Arc<std::fs::File>,
    /// `None` once written.
    buf: Option<Buf>,
}

impl PendingWrite {
    fn new(std: Arc<std::fs::File>, buf: Buf) -> PendingWrite {
        PendingWrite {
            std,
            buf: Some(buf),
        }
    }

    /// Moves the OS position back over discarded read-ahead, then writes the data; returns
    /// the emptied buffer.
    fn write(&mut self) -> (io::Result<()>, Buf) {
        let mut buf = self.buf.take().expect("a pending write is written once");
        let result = buf.rewind(&self.std).and_then(|()| {
            // Waits out `WouldBlock` on a descriptor in non-blocking mode (see `File`'s docs).
            let mut file = &*self.std;
            crate::io::write_all_waiting(&mut file, &buf.data, self.std.as_raw_fd())
        });
        buf.data.clear();
        buf.kind = Kind::Empty;
        (result, buf)
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            // Nobody is left to see the error (the job, and the `File` waiting for it, are
            // gone), as for any write of a dropped `File`. In place, unless a
            // `shutdown_timeout` must not wait for it past its deadline (see `late_write`).
            let mut rest = PendingWrite::new(Arc::clone(&self.std), buf);
            crate::io::late_write::write(self.std.as_raw_fd(), move || drop(rest.write()));
        }
    }
}

impl Drop for File {
    fn drop(&mut self) {
        // A job under way (a write among them) is the blocking pool's: it runs, or its
        // `PendingWrite` writes when dropped unrun.
        if let State::Idle(Some(buf)) = &mut self.state {
            if buf.kind == Kind::Write && !buf.data.is_empty() {
                let pending = PendingWrite::new(self.std.clone(), std::mem::take(buf));
                match crate::Handle::try_current() {
                    Some(handle) => drop(handle.spawn_blocking(move || drop(pending))),
                    None => drop(pending),
                }
            }
        }
    }
}

/// Options for opening a file: `std::fs::OpenOptions`, opened on the blocking pool.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let path = std::env::temp_dir().join(format!("ciranda-open-doc-{}", std::process::id()));
///     let _f = ciranda::fs::OpenOptions::new().append(true).create(true).open(&path).await?;
///     let e = ciranda::fs::OpenOptions::new().read(true).open("/no/such/file").await.unwrap_err();
///     assert!(e.to_string().contains("/no/such/file"));
///     ciranda::fs::remove_file(&path).await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions {
    std: std::fs::OpenOptions,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl OpenOptions {
    /// No access, no creation: set what you need.
    pub fn new() -> OpenOptions {
        OpenOptions {
            std: std::fs::OpenOptions::new(),
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut OpenOptions {
        self.std.read(read);
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut OpenOptions {
        self.std.write(write);
        self
    }

    /// Every write goes to the end of the file (`O_APPEND`).
    pub fn append(&mut self, append: bool) -> &mut OpenOptions {
        self.std.append(append);
        self
    }

    /// Truncate the file to 0 bytes when opening it.
    pub fn truncate(&mut self, truncate: bool) -> &mut OpenOptions {
        self.std.truncate(truncate);
        self
    }

    /// Create the file if it does not exist.
    pub fn create(&mut self, create: bool) -> &mut OpenOptions {
        self.std.create(create);
        self
    }

    /// Create the file, failing if it exists.
    pub fn create_new(&mut self, create_new: bool) -> &mut OpenOptions {
        self.std.create_new(create_new);
        self
    }

    /// The permission bits of a created file (before the umask).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        std::os::unix::fs::OpenOptionsExt::mode(&mut self.std, mode);
        self
    }

    /// Opens `path` on the blocking pool; errors name the path.
    ///
    /// # Cancel safety
    ///
    /// A dropped future still lets the opening finish on the blocking pool, then closes the
    /// file.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let options = self.std.clone();
        let std = super::on_path(path.as_ref(), "open", move |p| options.open(p)).await?;
        Ok(File::from_std(std))
    }
}
