//! `Async<T>`: any file descriptor driven by the reactor.

use crate::coop;
use crate::loom::Arc;
use crate::poller::SHORT_TRANSFER_DRAINS;
use crate::reactor::{Reactor, ReactorRef};
pub use crate::readiness::{Interest, Ready};
use crate::registration::{READ, Source, WRITE, WaitKey, Waiter};
use futures_io::{AsyncRead, AsyncWrite};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// A non-blocking I/O object registered with a reactor.
///
/// `Async::new` puts the descriptor in non-blocking mode and registers it with the current
/// reactor; operations are retried when the reactor reports readiness (`WouldBlock` parks the
/// task, `Interrupted` retries at once). Dropping an `Async<T>` removes the descriptor from the
/// poller *before* `T` is dropped (and the descriptor closed).
///
/// The futures (`readable()`, `read_with`, ...) keep their waker in an entry of their own and
/// remove it when dropped, so any number of tasks may wait at once and a cancelled wait leaves
/// nothing behind. The `poll_*` methods (and `AsyncRead`/`AsyncWrite`) have no future to do
/// that: per direction, only the waker of the most recent call is kept and woken.
///
/// If the runtime the object was registered with shuts down for good (see
/// [`Reactor`]'s "Shut down"), a wait fails with an `io::Error` saying so.
///
/// `Async<T>` implements [`AsyncRead`]/[`AsyncWrite`] when `T: Read`/`Write`, and so does
/// `&Async<T>` when `&T: Read`/`Write` (sockets). Their `poll_close` only flushes: it does not
/// shut a socket's write side down (`T` is any `Write`), so a peer waiting for the end of the
/// stream waits until the object is dropped; the crate's `TcpStream` and `UnixStream` do shut
/// it down on close, and `shutdown(Write)` on the inner socket does it for any `Async`. There is deliberately no `get_mut`: swapping
/// the inner object would leave a stale registration behind; use [`into_inner`](Async::into_inner).
///
/// # Examples
///
/// ```
/// use ciranda::io::Async;
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
/// use std::os::unix::net::UnixStream;
///
/// ciranda::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (Async::new(a)?, Async::new(b)?);
///     a.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     b.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// Each waiting method says what a dropped future loses ([`readable`](Async::readable),
/// [`read_with`](Async::read_with), ...). Through `AsyncRead`/`AsyncWrite`, bytes move only in
/// the poll that completes a `read` or `write` future, so a dropped one has moved none; a
/// dropped `read_exact` or `write_all` may have moved part of the data.
pub struct Async<T> {
    reactor: ReactorRef,
    source: Arc<Source>,
    /// `None` only after `into_inner` took it (then `Drop` does nothing).
    io: Option<T>,
}

// `Async` never pins `T` (it is only reached through `&`/`&mut`), so it can be moved freely.
impl<T> Unpin for Async<T> {}

impl<T: fmt::Debug> fmt::Debug for Async<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async").field("io", &self.io).finish()
    }
}

impl<T: AsFd> Async<T> {
    /// Puts `io` in non-blocking mode and registers it with the current reactor.
    ///
    /// Errors if there is no current reactor (an error saying "there is no ciranda runtime on
    /// this thread" and where to make one) or the poller refuses the descriptor.
    pub fn new(io: T) -> io::Result<Async<T>> {
        set_nonblocking(io.as_fd())?;
        Self::new_nonblocking(io)
    }

    /// Registers `io`, which the caller has already put in non-blocking mode.
    pub fn new_nonblocking(io: T) -> io::Result<Async<T>> {
        Self::with_reactor(io, Reactor::current_io()?)
    }

    pub(crate) fn with_reactor(io: T, reactor: ReactorRef) -> io::Result<Async<T>> {
        Self::register(io, reactor, true)
    }

    /// [`with_reactor`](Async::with_reactor) for a socket this crate made (accepted or
    /// connecting), which the poller cannot refuse: it is added to the poller only at its
    /// first wait, so one that never waits costs no `epoll_ctl` (see `Reactor::register`).
    pub(crate) fn with_reactor_socket(io: T, reactor: ReactorRef) -> io::Result<Async<T>> {
        Self::register(io, reactor, false)
    }

    fn register(io: T, reactor: ReactorRef, add_now: bool) -> io::Result<Async<T>> {
        let raw = io.as_fd().as_raw_fd();
        // SAFETY: `io` owns (or borrows for its whole life) the descriptor and lives inside the
        // returned `Async`, whose `Drop` and `into_inner` deregister before `io` is dropped or
        // handed back, so the descriptor stays open while registered.
        let source = unsafe { reactor.register(raw, add_now)? };
        Ok(Async {
            reactor,
            source,
            io: Some(io),
        })
    }
}

impl<T> Async<T> {
    /// The inner I/O object.
    pub fn get_ref(&self) -> &T {
        self.io.as_ref().expect("Async used after into_inner")
    }

    /// Deregisters and returns the inner object (still in non-blocking mode).
    pub fn into_inner(mut self) -> io::Result<T> {
        self.reactor.deregister(&self.source);
        Ok(self.io.take().expect("Async used after into_inner"))
    }

    /// The reactor this object is registered with.
    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// The reactor reference, for objects made from this one (accepted connections).
    pub(crate) fn reactor_ref(&self) -> &ReactorRef {
        &self.reactor
    }

    /// A future whose wait on `dir` has a waker entry of its own, removed when it is dropped;
    /// `poll` is called with that entry as its [`Waiter`].
    pub(crate) fn wait<F, R>(&self, dir: usize, poll: F) -> Keyed<'_, F>
    where
        F: FnMut(&mut Context<'_>, Waiter<'_>) -> Poll<R>,
    {
        Keyed {
            source: &self.source,
            dir,
            key: WaitKey::default(),
            poll,
        }
    }

    /// Reports `dir` as the poller would: every wait in that direction wakes and retries. For
    /// a state change of our own making that the kernel does not report (see the sockets'
    /// `shutdown`).
    pub(crate) fn report(&self, dir: usize) {
        self.reactor.report(&self.source, dir);
    }

    /// Removes the waker entry of a wait of ours on `dir` that `key` names (as dropping the
    /// future of [`wait`](Async::wait) does), for a waiting object that is not such a future
    /// (a listener's `incoming()` stream).
    pub(crate) fn withdraw(&self, dir: usize, key: &mut WaitKey) {
        self.source.withdraw(dir, key);
    }

    /// Runs a non-blocking operation in `dir` until it does not report `WouldBlock`, waiting
    /// through `waiter` (see [`poll_io`]).
    pub(crate) fn poll_with<R>(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        waiter: Waiter<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        poll_io(&self.reactor, &self.source, dir, cx, waiter, || {
            op(self.get_ref())
        })
    }

    /// A read or write on a byte stream (TCP) whose short transfer proves that the kernel
    /// buffer was drained in `dir` (see [`poll_transfer`]); `len` is the buffer's length and
    /// `op` returns the bytes transferred.
    pub(crate) fn poll_stream(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        poll_transfer(&self.reactor, &self.source, dir, cx, len, || {
            op(self.get_ref()).map(|n| (n, false))
        })
    }

    /// [`poll_stream`](Self::poll_stream) whose `op` also says whether the kernel reported
    /// its buffer drained (`TCP_INQ`), which proves it as a short transfer does.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub(crate) fn poll_stream_hinted(
        &self,
        dir: usize,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&T) -> io::Result<(usize, bool)>,
    ) -> Poll<io::Result<usize>> {
        poll_transfer(&self.reactor, &self.source, dir, cx, len, || {
            op(self.get_ref())
        })
    }

    /// Forgets a short transfer's drained mark in `dir`: the caller saw the direction ready
    /// some other way (see `Source::void_drained`).
    pub(crate) fn void_drained(&self, dir: usize) {
        self.source.void_drained(dir);
    }

    /// Polls for read readiness: `Ready` at once if the descriptor is readable now (its level
    /// is asked with `poll(2)`), else once the poller reports it readable. Readiness can be
    /// spurious: retry the operation and wait again on `WouldBlock`. As for every `poll_*`
    /// method, only the waker of the most recent call (per direction) is kept and woken; to
    /// wait from several tasks at once, use [`readable`](Async::readable).
    ///
    /// Readiness found spends a unit of the task's cooperative budget, as a completed read
    /// does: a loop that waits for readiness and then performs the operation itself still
    /// yields once the budget is spent (this returns `Pending` then, with the task woken).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        coop::proceed(cx, |cx| {
            self.reactor
                .poll_ready(&self.source, READ, cx, Waiter::Latest)
        })
    }

    /// Polls for write readiness (see [`poll_readable`](Async::poll_readable)).
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        coop::proceed(cx, |cx| {
            self.reactor
                .poll_ready(&self.source, WRITE, cx, Waiter::Latest)
        })
    }

    /// Waits until the descriptor is readable (ready at once if it is now; readiness spends a
    /// unit of the cooperative budget, see [`poll_readable`](Async::poll_readable)).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness, so the next wait
    /// sees the same report.
    pub async fn readable(&self) -> io::Result<()> {
        self.ready_in(READ).await
    }

    /// Waits until the descriptor is writable (ready at once if it is now; readiness spends a
    /// unit of the cooperative budget, see [`poll_readable`](Async::poll_readable)).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness, so the next wait
    /// sees the same report.
    pub async fn writable(&self) -> io::Result<()> {
        self.ready_in(WRITE).await
    }

    fn ready_in(
        &self,
        dir: usize,
    ) -> Keyed<'_, impl FnMut(&mut Context<'_>, Waiter<'_>) -> Poll<io::Result<()>>> {
        // Only readiness found spends its unit (see `coop`): a loop over `readable()` and an
        // operation of the caller's own, on a socket that stays ready, must still yield.
        self.wait(dir, move |cx, waiter| {
            coop::proceed(cx, |cx| {
                self.reactor.poll_ready(&self.source, dir, cx, waiter)
            })
        })
    }

    /// Waits until the descriptor is ready for a direction of `interest` (or closed in it, or
    /// has an error pending), and says what it found: its level, asked with `poll(2)` when
    /// the wait starts and after each report of the reactor. Readiness found spends a unit of
    /// the cooperative budget, as [`readable`](Async::readable)'s does.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::io::{Async, Interest};
    /// use std::os::unix::net::UnixStream;
    ///
    /// ciranda::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (a, b) = (Async::new(a)?, Async::new(b)?);
    ///     b.write_with(|mut s| std::io::Write::write(&mut s, b"x")).await?;
    ///     let ready = a.ready(Interest::READABLE | Interest::WRITABLE).await?;
    ///     assert!(ready.is_readable() && ready.is_writable());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped wait withdraws its wakers and consumes no readiness.
    pub async fn ready(&self, interest: Interest) -> io::Result<Ready> {
        ReadyWait {
            reactor: &self.reactor,
            source: &self.source,
            interest,
            keys: [WaitKey::default(), WaitKey::default()],
        }
        .await
    }

    /// Runs `op`, an operation of the caller's own on the descriptor (a `recvmsg` with
    /// ancillary data, an `ioctl`), once, without waiting: its result, `WouldBlock` included,
    /// is returned as it is. `interest` names the directions `op` transfers in: one that
    /// succeeds voids what the reactor recorded there (a byte stream's drained mark), so the
    /// next read or write asks the kernel.
    pub fn try_io<R>(
        &self,
        interest: Interest,
        op: impl FnOnce() -> io::Result<R>,
    ) -> io::Result<R> {
        let result = op();
        if result.is_ok() {
            if interest.is_readable() {
                self.source.void_drained(READ);
            }
            if interest.is_writable() {
                self.source.void_drained(WRITE);
            }
        }
        result
    }

    /// Runs `op` (see [`try_io`](Async::try_io)) until it does not report `WouldBlock`,
    /// waiting for [`ready`](Async::ready)`(interest)` before each attempt; `Interrupted`
    /// retries at once.
    ///
    /// # Cancel safety
    ///
    /// As for [`read_with`](Async::read_with): `op` runs only inside a poll, so a dropped
    /// future loses nothing, provided `op` has no effect when it reports `WouldBlock`.
    pub async fn async_io<R>(
        &self,
        interest: Interest,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> io::Result<R> {
        loop {
            self.ready(interest).await?;
            match self.try_io(interest, &mut op) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                result => return result,
            }
        }
    }

    /// Runs a non-blocking read-like operation until it does not report `WouldBlock`.
    pub fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(READ, cx, Waiter::Latest, op)
    }

    /// Runs a non-blocking write-like operation until it does not report `WouldBlock`.
    pub fn poll_write_with<R>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_with(WRITE, cx, Waiter::Latest, op)
    }

    /// Performs a read-like operation, waiting for readiness whenever it would block.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::io::Async;
    /// use std::net::UdpSocket;
    ///
    /// ciranda::run(async {
    ///     let a = Async::new(UdpSocket::bind("127.0.0.1:0")?)?;
    ///     let b = UdpSocket::bind("127.0.0.1:0")?;
    ///     b.send_to(b"hi", a.get_ref().local_addr()?)?;
    ///     let mut buf = [0; 8];
    ///     let (n, _) = a.read_with(|s| s.recv_from(&mut buf)).await?;
    ///     assert_eq!(&buf[..n], b"hi");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe as far as `op` is: `op` runs only inside a poll, and each run either completes
    /// the future or reports `WouldBlock`. A dropped future therefore loses nothing, provided `op`
    /// has no effect when it reports `WouldBlock` (true of `recv`, `read`, `accept` and the like).
    /// Its waker is withdrawn on drop.
    pub async fn read_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.wait(READ, |cx, waiter| self.poll_with(READ, cx, waiter, &mut op))
            .await
    }

    /// Performs a write-like operation, waiting for readiness whenever it would block.
    ///
    /// # Cancel safety
    ///
    /// As for [`read_with`](Async::read_with): a dropped future has written nothing, provided `op`
    /// has no effect when it reports `WouldBlock` (true of `send`, `write` and the like).
    pub async fn write_with<R>(&self, mut op: impl FnMut(&T) -> io::Result<R>) -> io::Result<R> {
        self.wait(WRITE, |cx, waiter| {
            self.poll_with(WRITE, cx, waiter, &mut op)
        })
        .await
    }

    /// Like `poll_read_with`/`poll_write_with` (by `dir`) with mutable access to the inner
    /// object (crate-internal: the closures given here never replace the object).
    fn poll_io_mut<R>(
        &mut self,
        dir: usize,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&mut T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let Async {
            reactor,
            source,
            io,
        } = self;
        poll_io(reactor, source, dir, cx, Waiter::Latest, || {
            op(inner_mut(io))
        })
    }
}

/// A wait of ours on one direction of a source (see [`Async::wait`]): its waker has an entry
/// of its own, which dropping the future removes, so a cancelled wait leaves no waker behind.
pub(crate) struct Keyed<'a, F> {
    source: &'a Source,
    dir: usize,
    key: WaitKey,
    poll: F,
}

// `poll` is only ever called through `&mut`; nothing is pinned.
impl<F> Unpin for Keyed<'_, F> {}

impl<F, R> Future for Keyed<'_, F>
where
    F: FnMut(&mut Context<'_>, Waiter<'_>) -> Poll<R>,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        (this.poll)(cx, Waiter::Keyed(&mut this.key))
    }
}

impl<F> Drop for Keyed<'_, F> {
    fn drop(&mut self) {
        self.source.withdraw(self.dir, &mut self.key);
    }
}

/// The future of [`Async::ready`]: a waker entry of its own in each direction of its interest,
/// both withdrawn when it is dropped.
struct ReadyWait<'a> {
    reactor: &'a Reactor,
    source: &'a Source,
    interest: Interest,
    /// By direction (`READ`, `WRITE`).
    keys: [WaitKey; 2],
}

impl Future for ReadyWait<'_> {
    type Output = io::Result<Ready>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<Ready>> {
        let this = self.get_mut();
        let (reactor, source, interest) = (this.reactor, this.source, this.interest);
        let keys = &mut this.keys;
        // Only readiness found spends its unit (see `coop`).
        coop::proceed(cx, |cx| {
            loop {
                // Sampled before the level is asked: a change after the answer is a report
                // after these counts, which the waits below see.
                let since = [source.reports(READ), source.reports(WRITE)];
                if !source.is_closed() {
                    let ready = crate::readiness::level(source.raw, interest);
                    if ready.satisfies(interest) {
                        // What made it ready may not be reported yet: the next transfer must
                        // ask the kernel (as `poll_ready` does).
                        if ready.is_readable() || ready.is_error() {
                            source.void_drained(READ);
                        }
                        if ready.is_writable() || ready.is_error() {
                            source.void_drained(WRITE);
                        }
                        return Poll::Ready(Ok(ready));
                    }
                }
                let mut reported = false;
                for (dir, wanted) in [
                    (READ, interest.is_readable()),
                    (WRITE, interest.is_writable()),
                ] {
                    if !wanted {
                        continue;
                    }
                    let waiter = Waiter::Keyed(&mut keys[dir]);
                    match reactor.poll_ready_since(source, dir, cx, since[dir], waiter) {
                        Poll::Ready(Ok(())) => reported = true,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {}
                    }
                }
                if !reported {
                    return Poll::Pending;
                }
            }
        })
    }
}

impl Drop for ReadyWait<'_> {
    fn drop(&mut self) {
        for dir in [READ, WRITE] {
            self.source.withdraw(dir, &mut self.keys[dir]);
        }
    }
}

fn inner_mut<T>(io: &mut Option<T>) -> &mut T {
    io.as_mut().expect("Async used after into_inner")
}

/// The I/O loop behind every `*_with` method: under one unit of the cooperative budget,
/// runs `op` until it does not report `WouldBlock`, waiting for a report in `dir` (with the
/// waker stored as `waiter` says) whenever it does. The report count is sampled before each
/// attempt (see `registration`), so a readiness change during the attempt is never slept
/// through; `Interrupted` retries at once.
fn poll_io<R>(
    reactor: &Reactor,
    source: &Source,
    dir: usize,
    cx: &mut Context<'_>,
    mut waiter: Waiter<'_>,
    mut op: impl FnMut() -> io::Result<R>,
) -> Poll<io::Result<R>> {
    // Only a completed operation spends its unit (see `coop`).
    coop::proceed(cx, |cx| {
        loop {
            let since = source.reports(dir);
            match op() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(reactor.poll_ready_since(source, dir, cx, since, waiter.reborrow()))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return Poll::Ready(res),
            }
        }
    })
}

/// The most one `read`/`write` transfers on Linux (`MAX_RW_COUNT`, `INT_MAX` rounded down to a
/// page).
const MAX_RW_COUNT: usize = 0x7fff_f000;

/// The most buffers one vectored transfer passes to the kernel (Linux's `IOV_MAX`; std's
/// `readv`/`writev` pass at most this many, and so does the streams' `sendmsg`).
pub(crate) const IOV_MAX: usize = 1024;

/// The length to give [`poll_transfer`] for a vectored transfer: the bytes of all buffers,
/// or, when there are more buffers than one `readv`/`writev` takes (std passes at most
/// `IOV_MAX`), a length no transfer counts as short against.
pub(crate) fn vectored_len<B: std::ops::Deref<Target = [u8]>>(bufs: &[B]) -> usize {
    let total = bufs.iter().map(|b| b.len()).sum();
    if bufs.len() > IOV_MAX && total != 0 {
        usize::MAX
    } else {
        total
    }
}

/// [`poll_io`] for a byte stream's read or write of a `len`-byte buffer: a transfer shorter
/// than `len` (but not empty) drained the kernel buffer, so it is recorded, and while no
/// report arrived since, the next transfer waits without asking the kernel (whose answer
/// would be `EAGAIN`). See `registration` for why no readiness is lost. `op` returns the
/// bytes moved and whether the kernel itself reported the buffer drained (a non-empty
/// transfer of any length; `net::inq`).
fn poll_transfer(
    reactor: &Reactor,
    source: &Source,
    dir: usize,
    cx: &mut Context<'_>,
    len: usize,
    mut op: impl FnMut() -> io::Result<(usize, bool)>,
) -> Poll<io::Result<usize>> {
    // Only a completed operation spends its unit (see `coop`).
    coop::proceed(cx, |cx| {
        loop {
            let since = source.reports(dir);
            // An empty buffer skips the drained mark and asks the kernel, which answers at
            // once when bytes are queued (or the stream ended) and with `EAGAIN` when none are:
            // then it waits for readiness like any other read (as Tokio's does).
            if len != 0 && source.is_drained(dir, since) {
                ready!(reactor.poll_ready_since(source, dir, cx, since, Waiter::Latest))?;
                continue;
            }
            match op() {
                Ok((n, reported_drained)) => {
                    // Linux caps one transfer at `MAX_RW_COUNT`: shorter than a larger buffer
                    // proves nothing.
                    let short = n < len && len <= MAX_RW_COUNT;
                    if n != 0 && (short || reported_drained) && SHORT_TRANSFER_DRAINS {
                        source.mark_drained(dir, since);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(reactor.poll_ready_since(source, dir, cx, since, Waiter::Latest))?;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    })
}

impl<T> Drop for Async<T> {
    fn drop(&mut self) {
        if self.io.is_some() {
            // Deregister first; `io` (and its descriptor) is dropped after this body.
            self.reactor.deregister(&self.source);
            self.io = None;
        }
    }
}

impl<T> AsRawFd for Async<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.source.raw
    }
}

impl<T: AsFd> AsFd for Async<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.get_ref().as_fd()
    }
}

impl<T: Read> AsyncRead for Async<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io_mut(READ, cx, |io| io.read(buf))
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io_mut(READ, cx, |io| io.read_vectored(bufs))
    }
}

impl<T> AsyncRead for &Async<T>
where
    for<'a> &'a T: Read,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, |mut io| io.read(buf))
    }

    fn poll_read_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_with(cx, |mut io| io.read_vectored(bufs))
    }
}

impl<T: Write> AsyncWrite for Async<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_io_mut(WRITE, cx, |io| io.write(buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io_mut(WRITE, cx, |io| io.write_vectored(bufs))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_io_mut(WRITE, cx, |io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl<T> AsyncWrite for &Async<T>
where
    for<'a> &'a T: Write,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut io| io.write(buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_with(cx, |mut io| io.write_vectored(bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_write_with(cx, |mut io| io.flush())
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Sets `O_NONBLOCK` on a descriptor.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `fcntl(F_GETFL)` on a descriptor that `fd` borrows (open for the call) reads its
    // flags and touches no memory of ours.
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags == -1 {
        return Err(io::Error::last_os_error());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above; `F_SETFL` with the old flags plus `O_NONBLOCK` only changes the
        // descriptor's blocking mode.
        if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
