//! TCP: `TcpListener`, `TcpStream` and its split halves.

use super::addr::{ToSocketAddrs, resolve, try_each};
use crate::io::Async;
use crate::reactor::{Reactor, ReactorRef};
use crate::registration::{READ, WRITE, Waiter};
use futures_core::Stream;
use futures_io::{AsyncRead, AsyncWrite};
use socket2::{Domain, Protocol, Socket, Type};
use std::fmt;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// A TCP server socket (`asyncio.start_server`).
///
/// # Examples
///
/// ```
/// use ciranda_reactor::net::{TcpListener, TcpStream};
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let client = async {
///         let mut s = TcpStream::connect(addr).await?;
///         s.write_all(b"hello").await?;
///         std::io::Result::Ok(())
///     };
///     let server = async {
///         let (mut s, _peer) = listener.accept().await?;
///         let mut buf = [0; 5];
///         s.read_exact(&mut buf).await?;
///         std::io::Result::Ok(buf)
///     };
///     let (c, s) = futures_util::join!(client, server);
///     c?;
///     assert_eq!(&s?, b"hello");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpListener {
    io: Async<std::net::TcpListener>,
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.io.get_ref().fmt(f)
    }
}

impl TcpListener {
    /// Binds to the first address (of those `addr` resolves to) that works.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let reactor = Reactor::current_io()?;
        let addrs = resolve(&addr, &reactor).await?;
        try_each(addrs, |a| {
            let reactor = reactor.clone();
            async move {
                // std sets SO_REUSEADDR and creates the socket close-on-exec.
                let l = std::net::TcpListener::bind(a)?;
                l.set_nonblocking(true)?;
                Ok(TcpListener {
                    io: Async::with_reactor(l, reactor)?,
                })
            }
        })
        .await
    }

    /// Wraps a std listener (made non-blocking) and registers it with the current reactor.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            io: Async::new_nonblocking(listener)?,
        })
    }

    /// Deregisters and returns the std listener (still non-blocking).
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.io.into_inner()
    }

    /// Accepts a connection. Errors (`EMFILE`, `ECONNABORTED`, ...) are returned; the listener
    /// stays usable.
    ///
    /// Any number of tasks may accept on one listener at once; a dropped `accept()` leaves
    /// nothing registered.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.io
            .wait(READ, |cx, waiter| self.poll_accept_with(cx, waiter))
            .await
    }

    /// Polls for a connection. As for every `poll_*` method, only the waker of the most recent
    /// call is woken; use [`accept`](TcpListener::accept) to wait from several tasks.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.poll_accept_with(cx, Waiter::Latest)
    }

    fn poll_accept_with(
        &self,
        cx: &mut Context<'_>,
        waiter: Waiter<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = ready!(self.io.poll_with(READ, cx, waiter, accept_nonblocking))?;
        let io = Async::with_reactor(stream, self.io.reactor_ref().clone())?;
        Poll::Ready(Ok((TcpStream { io }, peer)))
    }

    /// The connections, as a `Stream` of `io::Result<TcpStream>` that never ends.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }
}

impl AsRawFd for TcpListener {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

/// The stream of incoming connections of a [`TcpListener`] (see
/// [`TcpListener::incoming`]).
///
/// # Examples
///
/// ```
/// use ciranda_reactor::net::{Incoming, TcpListener, TcpStream};
/// use futures_util::StreamExt;
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let mut incoming: Incoming<'_> = listener.incoming();
///     let (client, accepted) = futures_util::join!(TcpStream::connect(addr), incoming.next());
///     let (client, accepted) = (client?, accepted.unwrap()?);
///     assert_eq!(client.local_addr()?, accepted.peer_addr()?);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}

/// A TCP connection (`asyncio.open_connection`'s reader and writer in one).
///
/// Implements `futures_io::AsyncRead` and `AsyncWrite`, also for `&TcpStream` (so one task can
/// read while another writes); `close()` shuts the write side down.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::net::{TcpListener, TcpStream};
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
/// use std::net::Shutdown;
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///     client.set_nodelay(true)?;
///     client.write_all(b"bye").await?;
///     client.shutdown(Shutdown::Write)?;
///     let mut all = Vec::new();
///     server.read_to_end(&mut all).await?;
///     assert_eq!(all, b"bye");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpStream {
    io: Async<std::net::TcpStream>,
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.io.get_ref().fmt(f)
    }
}

impl TcpStream {
    /// Connects to `addr`: host names are resolved on the blocking spawner and every resolved
    /// address is tried in order; the last error is returned if none accepts (for a closed
    /// port, `ConnectionRefused`).
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let reactor = Reactor::current_io()?;
        let addrs = resolve(&addr, &reactor).await?;
        try_each(addrs, |a| connect_addr(a, reactor.clone())).await
    }

    /// Wraps a connected std stream (made non-blocking) and registers it with the current
    /// reactor.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Self::from_std_with(stream, Reactor::current_io()?)
    }

    fn from_std_with(stream: std::net::TcpStream, reactor: ReactorRef) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            io: Async::with_reactor(stream, reactor)?,
        })
    }

    /// Deregisters and returns the std stream (still non-blocking).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.io.into_inner()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `IP_TTL`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_ttl(ttl)
    }

    /// `IP_TTL`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.io.get_ref().ttl()
    }

    /// Shuts down the read side, the write side (the peer reads EOF) or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }

    /// Reads without consuming (`MSG_PEEK`), waiting for data.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// Waits until the stream is reported readable.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the stream is reported writable.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }

    /// Splits into owned halves that can move to different tasks. Dropping the write half
    /// shuts the write side down (the peer reads EOF); [`OwnedReadHalf::reunite`] joins them.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Arc::new(self);
        (
            OwnedReadHalf {
                stream: shared.clone(),
            },
            OwnedWriteHalf {
                stream: shared,
                shutdown_on_drop: true,
            },
        )
    }

    /// Splits into borrowed halves (a read half and a write half usable concurrently), without
    /// a lock. With `futures_util::AsyncReadExt` in scope, call it as `TcpStream::split(&mut s)`:
    /// method syntax picks that trait's by-value `split`.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_stream(READ, cx, buf.len(), |mut s| s.read(buf))
    }

    fn poll_read_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = crate::io::vectored_len(bufs);
        self.io
            .poll_stream(READ, cx, len, |mut s| s.read_vectored(bufs))
    }

    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_stream(WRITE, cx, buf.len(), |mut s| s.write(buf))
    }

    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = crate::io::vectored_len(bufs);
        self.io
            .poll_stream(WRITE, cx, len, |mut s| s.write_vectored(bufs))
    }

    fn poll_close_priv(&self) -> Poll<io::Result<()>> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// Accepts one connection that is non-blocking (and close-on-exec) from the start. Where
/// `accept4` takes flags, that is one system call; std's `accept` would need an
/// `ioctl(FIONBIO)` after it on every connection.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let listener = socket2::SockRef::from(listener);
    let (socket, peer) = loop {
        match listener.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            accepted => break accepted?,
        }
    };
    let peer = peer.as_socket().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "accept on a TCP listener returned a peer address that is not IPv4 or IPv6",
        )
    })?;
    Ok((socket.into(), peer))
}

/// Accepts one connection and makes it non-blocking (std's `accept` is close-on-exec and
/// retries EINTR).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn accept_nonblocking(
    listener: &std::net::TcpListener,
) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    let (stream, peer) = listener.accept()?;
    stream.set_nonblocking(true)?;
    Ok((stream, peer))
}

/// A close-on-exec TCP socket that is non-blocking before `connect`, so it cannot block: one
/// `socket` call where the type takes the flag.
fn nonblocking_tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let socket = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let socket = {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket
    };
    Ok(socket)
}

async fn connect_addr(addr: SocketAddr, reactor: ReactorRef) -> io::Result<TcpStream> {
    let socket = nonblocking_tcp_socket(addr)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        // In progress; EINTR also leaves the connection going on asynchronously.
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::WouldBlock
                || e.kind() == io::ErrorKind::Interrupted => {}
        Err(e) => return Err(e),
    }
    let io = Async::with_reactor(std::net::TcpStream::from(socket), reactor)?;
    loop {
        if let Some(e) = io.get_ref().take_error()? {
            return Err(e);
        }
        match io.get_ref().peer_addr() {
            Ok(_) => return Ok(TcpStream { io }),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => io.writable().await?,
            Err(e) => return Err(e),
        }
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.io.as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.io.as_fd()
    }
}

macro_rules! impl_async_read {
    ([$($gen:tt)*] $t:ty, $get:expr) => {
        impl<$($gen)*> AsyncRead for $t {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x TcpStream = $get;
                get(&*self).poll_read_priv(cx, buf)
            }

            fn poll_read_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &mut [IoSliceMut<'_>],
            ) -> Poll<io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x TcpStream = $get;
                get(&*self).poll_read_vectored_priv(cx, bufs)
            }
        }
    };
}

macro_rules! impl_async_write {
    ([$($gen:tt)*] $t:ty, $get:expr) => {
        impl<$($gen)*> AsyncWrite for $t {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x TcpStream = $get;
                get(&*self).poll_write_priv(cx, buf)
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x TcpStream = $get;
                get(&*self).poll_write_vectored_priv(cx, bufs)
            }

            fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                // TCP has no user-space buffer here: every write went to the kernel.
                Poll::Ready(Ok(()))
            }

            fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                let get: for<'x> fn(&'x $t) -> &'x TcpStream = $get;
                get(&*self).poll_close_priv()
            }
        }
    };
}

impl_async_read!([] TcpStream, |s| s);
impl_async_read!(['a] &'a TcpStream, |s| *s);
impl_async_read!([] OwnedReadHalf, |h| &h.stream);
impl_async_read!(['a] ReadHalf<'a>, |h| h.0);
impl_async_write!([] TcpStream, |s| s);
impl_async_write!(['a] &'a TcpStream, |s| *s);
impl_async_write!([] OwnedWriteHalf, |h| &h.stream);
impl_async_write!(['a] WriteHalf<'a>, |h| h.0);

/// The read half of [`TcpStream::into_split`].
///
/// # Examples
///
/// ```
/// use ciranda_reactor::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
/// use ciranda_reactor::net::{TcpListener, TcpStream};
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     let (mut r, mut w): (OwnedReadHalf, OwnedWriteHalf) = server.into_split();
///     let (mut cr, mut cw) = client.into_split();
///     cw.write_all(b"x").await?;
///     let mut b = [0];
///     r.read_exact(&mut b).await?;
///     w.write_all(&b).await?;
///     cr.read_exact(&mut b).await?;
///     assert_eq!(&b, b"x");
///     let stream = r.reunite(w).expect("halves of the same stream");
///     assert!(stream.peer_addr().is_ok());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Arc<TcpStream>,
}

/// The write half of [`TcpStream::into_split`]; dropping it shuts the write side down.
///
/// ```
/// use ciranda_reactor::net::tcp::OwnedWriteHalf;
/// use ciranda_reactor::net::{TcpListener, TcpStream};
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///     let (_r, mut w): (_, OwnedWriteHalf) = client.into_split();
///     w.write_all(b"last words").await?;
///     drop(w); // the server reads EOF after the data
///     let mut got = String::new();
///     server.read_to_string(&mut got).await?;
///     assert_eq!(got, "last words");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams; here they are
/// back.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::net::tcp::ReuniteError;
/// use ciranda_reactor::net::{TcpListener, TcpStream};
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let a = TcpStream::connect(listener.local_addr()?).await?;
///     let b = TcpStream::connect(listener.local_addr()?).await?;
///     let (ra, _wa) = a.into_split();
///     let (_rb, wb) = b.into_split();
///     let err: ReuniteError = ra.reunite(wb).unwrap_err();
///     assert!(err.to_string().contains("not from the same"));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same TcpStream")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// Joins the halves back into the stream, if they belong together.
    pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Arc::ptr_eq(&self.stream, &other.stream) {
            return Err(ReuniteError(self, other));
        }
        other.shutdown_on_drop = false;
        drop(other);
        Ok(Arc::try_unwrap(self.stream).expect("the two halves hold the only references"))
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Reads without consuming, waiting for data.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.peek(buf).await
    }
}

impl OwnedWriteHalf {
    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.stream.shutdown(Shutdown::Write);
        }
    }
}

/// The borrowed read half of [`TcpStream::split`].
///
/// # Examples
///
/// ```
/// use ciranda_reactor::net::tcp::{ReadHalf, WriteHalf};
/// use ciranda_reactor::net::{TcpListener, TcpStream};
/// use futures_util::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///     // Spelled out: with `AsyncReadExt` in scope, `server.split()` picks futures' by-value
///     // `split` (which works too, behind a lock).
///     let (mut r, mut w): (ReadHalf<'_>, WriteHalf<'_>) = TcpStream::split(&mut server);
///     client.write_all(b"echo").await?;
///     futures_util::io::copy((&mut r).take(4), &mut w).await?;
///     let mut back = [0; 4];
///     client.read_exact(&mut back).await?;
///     assert_eq!(&back, b"echo");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a TcpStream);

/// The borrowed write half of [`TcpStream::split`].
///
/// ```
/// use ciranda_reactor::net::tcp::WriteHalf;
/// use ciranda_reactor::net::{TcpListener, TcpStream};
/// use futures_util::io::AsyncWriteExt;
///
/// ciranda_reactor::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (_r, mut w): (_, WriteHalf<'_>) = TcpStream::split(&mut client);
///     w.write_all(b"hi").await?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a TcpStream);
