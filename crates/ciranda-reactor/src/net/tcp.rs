//! TCP: `TcpListener`, `TcpStream` and its split halves.

use super::addr::{ToSocketAddrs, resolve, try_each};
#[cfg(any(target_os = "linux", target_os = "android"))]
use super::inq::InqHint;
use super::socket::{
    LISTEN_BACKLOG, bind_first, connect_started, connected, connected_socket, incoming_stream,
    ip_ttl, owned_halves, readiness_waits, socket_common, std_conversions,
};
use super::stream::{
    NoSigpipe, StreamSocket, impl_async_read, impl_async_write, read_into, write_gathered,
};
use super::try_io::{try_reads, try_writes};
use crate::io::Async;
use crate::reactor::{Reactor, ReactorRef};
use crate::registration::{READ, WRITE, Waiter};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// A TCP server socket (`asyncio.start_server`).
///
/// # Examples
///
/// ```
/// use ciranda::net::{TcpListener, TcpStream};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let addr = listener.local_addr()?;
///     let client = ciranda::spawn(async move {
///         let mut s = TcpStream::connect(addr).await?;
///         s.write_all(b"hello").await?;
///         std::io::Result::Ok(())
///     });
///     let (mut s, _peer) = listener.accept().await?;
///     let mut buf = [0; 5];
///     s.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hello");
///     client.await.unwrap()?;
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpListener {
    io: Async<std::net::TcpListener>,
}

socket_common!(TcpListener, SocketAddr);
std_conversions!(TcpListener, std::net::TcpListener);
ip_ttl!(TcpListener);

impl TcpListener {
    /// Binds to the first address (of those `addr` resolves to) that works.
    ///
    /// The socket is close-on-exec with `SO_REUSEADDR` set, as std's, but its `listen(2)`
    /// backlog is the system's maximum (`net.core.somaxconn` on Linux) rather than std's 128:
    /// a burst of connections that arrives before the accept loop gets to them waits in the
    /// kernel's queue instead of having its SYNs dropped and retried a second later.
    ///
    /// # Cancel safety
    ///
    /// The only wait is resolving a host name: a future dropped before it completes has bound
    /// nothing (a lookup already running on the blocking pool finishes there, its answer
    /// discarded).
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let io = bind_first(addr, bind_listener).await?;
        Ok(TcpListener { io })
    }

    /// A listener from a socket that is listening and non-blocking (`TcpSocket::listen`).
    pub(super) fn from_listening(
        listener: std::net::TcpListener,
        reactor: ReactorRef,
    ) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: Async::with_reactor(listener, reactor)?,
        })
    }

    /// Accepts a connection. Errors (`EMFILE`, `ECONNABORTED`, ...) are returned; the listener
    /// stays usable.
    ///
    /// Any number of tasks may accept on one listener at once; a dropped `accept()` leaves
    /// nothing registered.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection leaves the kernel's queue only in the poll that returns it, so a
    /// dropped `accept()` loses none; it waits for the next `accept`. Nothing stays registered.
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
        let io = Async::with_reactor_socket(stream, self.io.reactor_ref().clone())?;
        Poll::Ready(Ok((TcpStream::with_io(io), peer)))
    }

    /// The connections, as a `Stream` of `io::Result<TcpStream>` that never ends.
    ///
    /// Like [`accept`](Self::accept), and unlike [`poll_accept`](Self::poll_accept), each
    /// stream waits with a waker of its own: several streams of one listener, polled by
    /// several tasks at once, are all woken when connections wait, and a dropped stream
    /// leaves nothing registered.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming::new(self)
    }
}

incoming_stream! {
    /// The stream of incoming connections of a [`TcpListener`] (see
    /// [`TcpListener::incoming`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::{Incoming, TcpListener, TcpStream};
    /// use ciranda::stream::StreamExt;
    ///
    /// ciranda::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let addr = listener.local_addr()?;
    ///     let mut incoming: Incoming<'_> = listener.incoming();
    ///     // The kernel completes the connection before anyone accepts it.
    ///     let client = TcpStream::connect(addr).await?;
    ///     let accepted = incoming.next().await.unwrap()?;
    ///     assert_eq!(client.local_addr()?, accepted.peer_addr()?);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    Incoming, TcpListener, TcpStream
}

/// A TCP connection (`asyncio.open_connection`'s reader and writer in one).
///
/// Implements `futures_io::AsyncRead` and `AsyncWrite`, also for `&TcpStream` (so one task can
/// read while another writes); `close()` shuts the write side down.
///
/// # Examples
///
/// ```
/// use ciranda::net::{TcpListener, TcpStream};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
/// use std::net::Shutdown;
///
/// ciranda::run(async {
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
///
/// Waiting for readiness yourself, as with Tokio: `readable()` (or `writable()`), then
/// `try_read` (or `try_write`) until it says `WouldBlock`.
///
/// ```
/// use ciranda::net::{TcpListener, TcpStream};
/// use std::io::ErrorKind;
///
/// ciranda::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let client = TcpStream::connect(listener.local_addr()?).await?;
///     let (server, _) = listener.accept().await?;
///     let mut buf = [0; 16];
///     assert_eq!(server.try_read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
///     client.writable().await?;
///     assert_eq!(client.try_write(b"ping")?, 4);
///     let mut got = Vec::new();
///     while got.len() < 4 {
///         server.readable().await?;
///         match server.try_read(&mut buf) {
///             Ok(n) => got.extend_from_slice(&buf[..n]),
///             Err(e) if e.kind() == ErrorKind::WouldBlock => continue, // a spurious report
///             Err(e) => return Err(e),
///         }
///     }
///     assert_eq!(got, b"ping");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// Reading and writing go through `futures-io`'s traits. The `read`, `read_vectored`, `write` and
/// `write_vectored` futures of `AsyncReadExt`/`AsyncWriteExt` are cancel-safe: bytes move only in
/// the poll that completes them, so a dropped one has moved none. Composite futures such as
/// `read_exact`, `read_to_end` and `write_all` are not: a dropped one may already have moved part
/// of the data (into your buffer, or out to the peer).
pub struct TcpStream {
    io: Async<std::net::TcpStream>,
    /// Whether reads ask the kernel how much is left (`TCP_INQ`; see `net::inq`).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    inq: InqHint,
}

socket_common!(TcpStream, SocketAddr);
readiness_waits!(TcpStream, "stream");
connected_socket!(TcpStream, SocketAddr, shutdown);
ip_ttl!(TcpStream);

impl TcpStream {
    /// Connects to `addr`: host names are resolved on the blocking spawner and every resolved
    /// address is tried in order; the last error is returned if none accepts (for a closed
    /// port, `ConnectionRefused`).
    ///
    /// # Cancel safety
    ///
    /// Not resumable: dropping the future closes the socket of the attempt in progress (the peer
    /// may see a connection opened and closed at once); a new `connect` starts over.
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
        Ok(TcpStream::with_io(Async::with_reactor(stream, reactor)?))
    }

    /// Deregisters and returns the std stream (still non-blocking), with `TCP_INQ` switched
    /// off again if ciranda's reads had switched it on (see `net::inq`).
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let stream = self.io.into_inner()?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        self.inq.release(&stream)?;
        Ok(stream)
    }

    /// A stream from a connected socket registered with a reactor (also `TcpSocket::connect`'s).
    pub(super) fn with_io(io: Async<std::net::TcpStream>) -> TcpStream {
        TcpStream {
            io,
            #[cfg(any(target_os = "linux", target_os = "android"))]
            inq: InqHint::new(),
        }
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Sets `SO_LINGER` to zero: closing the stream (dropping it) then discards what is still
    /// unsent and resets the connection (once the peer has read what it already received,
    /// its reads fail with `ConnectionReset`) instead of the usual orderly close, and the
    /// socket skips `TIME_WAIT`. For a server shedding a misbehaving client or a proxy passing on a reset.
    ///
    /// There is no `set_linger` with a non-zero time, as in Tokio (which deprecated it):
    /// with one, closing blocks the thread until the data is sent or the time is up, and the
    /// thread is a worker's. To know that the peer got everything, shut the write side down
    /// and read until it closes too.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::{TcpListener, TcpStream};
    /// use ciranda::io::AsyncReadExt;
    /// use std::io::ErrorKind;
    /// use std::time::Duration;
    ///
    /// ciranda::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1:0").await?;
    ///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
    ///     let (server, _) = listener.accept().await?;
    ///     server.set_zero_linger()?;
    ///     assert_eq!(server.linger()?, Some(Duration::ZERO));
    ///     drop(server);
    ///     let mut buf = [0; 8];
    ///     let err = client.read(&mut buf).await.unwrap_err();
    ///     assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_zero_linger(&self) -> io::Result<()> {
        socket2::SockRef::from(self.io.get_ref()).set_linger(Some(Duration::ZERO))
    }

    /// `SO_LINGER`: `None` for the usual close (the default), `Some(Duration::ZERO)` after
    /// [`set_zero_linger`](TcpStream::set_zero_linger) (or whatever a socket made elsewhere
    /// was given).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        socket2::SockRef::from(self.io.get_ref()).linger()
    }

    /// Reads without consuming (`MSG_PEEK`), waiting for data.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing, and a dropped wait leaves no waker behind.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.io.read_with(|s| s.peek(buf)).await?;
        if n != 0 {
            // The data is there: a read after a short one must not wait for its report.
            self.io.void_drained(READ);
        }
        Ok(n)
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
    /// a lock. With `AsyncReadExt` (`ciranda::io::AsyncReadExt`) in scope, call it as `TcpStream::split(&mut s)`:
    /// method syntax picks that trait's by-value `split`.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }
}

impl StreamSocket for TcpStream {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        StreamSocket::poll_read_vectored(self, cx, &mut [IoSliceMut::new(buf)])
    }

    fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = crate::io::vectored_len(bufs);
        // Only the epoll backend can use the kernel's hint (see `SHORT_TRANSFER_DRAINS`).
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if crate::poller::SHORT_TRANSFER_DRAINS {
            return self.io.poll_stream_hinted(READ, cx, len, |s| {
                let received = self.inq.read(s, bufs, len)?;
                Ok((received.len, received.drained))
            });
        }
        self.io.poll_stream(READ, cx, len, |s| read_into(s, bufs))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_stream(WRITE, cx, buf.len(), |s| NoSigpipe(s).write(buf))
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = crate::io::vectored_len(bufs);
        self.io
            .poll_stream(WRITE, cx, len, |s| write_gathered(NoSigpipe(s), bufs, len))
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        // The inherent method: it also wakes a write waiting in another task.
        TcpStream::shutdown(self, how)
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

/// A listening TCP socket bound to `addr`: what std's `TcpListener::bind` makes (close-on-exec,
/// `SO_REUSEADDR` on Unix), but listening with [`LISTEN_BACKLOG`] instead of std's 128.
fn bind_listener(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = nonblocking_tcp_socket(Domain::for_address(addr))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// A close-on-exec TCP socket of `domain` that is non-blocking before `connect`, so it cannot
/// block: one `socket` call where the type takes the flag (also `TcpSocket`'s).
pub(super) fn nonblocking_tcp_socket(domain: Domain) -> io::Result<Socket> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let socket = {
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        socket.set_nonblocking(true)?;
        socket
    };
    Ok(socket)
}

async fn connect_addr(addr: SocketAddr, reactor: ReactorRef) -> io::Result<TcpStream> {
    let socket = nonblocking_tcp_socket(Domain::for_address(addr))?;
    connect_started(socket.connect(&addr.into()))?;
    let io = Async::with_reactor_socket(std::net::TcpStream::from(socket), reactor)?;
    connected(&io).await?;
    Ok(TcpStream::with_io(io))
}

impl_async_read! { TcpStream:
    [] TcpStream, |s| s;
    ['a] &'a TcpStream, |s| *s;
    [] OwnedReadHalf, |h| &h.stream;
    ['a] ReadHalf<'a>, |h| h.0;
}

impl_async_write! { TcpStream:
    [] TcpStream, |s| s;
    ['a] &'a TcpStream, |s| *s;
    [] OwnedWriteHalf, |h| &h.stream;
    ['a] WriteHalf<'a>, |h| h.0;
}

try_reads! { std::net::TcpStream:
    [] TcpStream, |s| &s.io;
    [] OwnedReadHalf, |h| &h.stream.io, readable;
    ['a] ReadHalf<'a>, |h| &h.0.io, readable;
}

try_writes! { std::net::TcpStream:
    [] TcpStream, |s| &s.io;
    [] OwnedWriteHalf, |h| &h.stream.io, writable;
    ['a] WriteHalf<'a>, |h| &h.0.io, writable;
}

/// The read half of [`TcpStream::into_split`].
///
/// # Examples
///
/// ```
/// use ciranda::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
/// use ciranda::net::{TcpListener, TcpStream};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
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
/// # Examples
///
/// ```
/// use ciranda::net::tcp::OwnedWriteHalf;
/// use ciranda::net::{TcpListener, TcpStream};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
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

impl OwnedReadHalf {
    /// Reads without consuming, waiting for data.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing, and a dropped wait leaves no waker behind.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.peek(buf).await
    }
}

owned_halves! {
    /// The halves given to [`OwnedReadHalf::reunite`] came from different streams; here they are
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::tcp::ReuniteError;
    /// use ciranda::net::{TcpListener, TcpStream};
    ///
    /// ciranda::run(async {
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
    TcpStream, SocketAddr
}

/// The borrowed read half of [`TcpStream::split`].
///
/// # Examples
///
/// ```
/// use ciranda::net::tcp::{ReadHalf, WriteHalf};
/// use ciranda::net::{TcpListener, TcpStream};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await?;
///     let mut client = TcpStream::connect(listener.local_addr()?).await?;
///     let (mut server, _) = listener.accept().await?;
///     // Spelled out: with `AsyncReadExt` in scope, `server.split()` picks futures' by-value
///     // `split` (which works too, behind a lock).
///     let (mut r, mut w): (ReadHalf<'_>, WriteHalf<'_>) = TcpStream::split(&mut server);
///     client.write_all(b"echo").await?;
///     ciranda::io::copy((&mut r).take(4), &mut w).await?;
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
/// # Examples
///
/// ```
/// use ciranda::net::tcp::WriteHalf;
/// use ciranda::net::{TcpListener, TcpStream};
/// use ciranda::io::AsyncWriteExt;
///
/// ciranda::run(async {
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

/// The stream a borrowed half belongs to, and its addresses.
macro_rules! borrowed_half {
    ($half:ident) => {
        /// The stream this half borrows (its addresses, options and descriptor).
        impl AsRef<TcpStream> for $half<'_> {
            fn as_ref(&self) -> &TcpStream {
                self.0
            }
        }

        impl $half<'_> {
            /// The remote address of the stream this half borrows.
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.0.peer_addr()
            }

            /// The local address of the stream this half borrows.
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.0.local_addr()
            }
        }
    };
}

impl ReadHalf<'_> {
    /// Reads without consuming, waiting for data (see [`TcpStream::peek`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing, and a dropped wait leaves no waker behind.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.peek(buf).await
    }
}

borrowed_half!(ReadHalf);
borrowed_half!(WriteHalf);
