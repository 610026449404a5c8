//! Unix-domain stream sockets: `UnixListener`, `UnixStream` and its split halves.

use super::socket::{
    LISTEN_BACKLOG, connect_started, connected, connected_socket, incoming_stream, owned_halves,
    readiness_waits, socket_common, std_conversions,
};
use super::stream::{
    NoSigpipe, StreamSocket, impl_async_read, impl_async_write, read_into, write_gathered,
};
use super::try_io::{try_reads, try_writes};
pub use super::ucred::UCred;
use crate::io::Async;
use crate::reactor::{Reactor, ReactorRef};
use crate::registration::{READ, Waiter};
use socket2::{Domain, SockAddr, Socket, Type};
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

/// A Unix-domain stream listener.
///
/// # Examples
///
/// ```
/// use ciranda::net::{UnixListener, UnixStream};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// let dir = std::env::temp_dir().join(format!("ciranda-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("listener.sock");
/// let _ = std::fs::remove_file(&path);
/// ciranda::run(async {
///     let listener = UnixListener::bind(&path)?;
///     // The connection waits in the listener's backlog until accepted.
///     let mut client = UnixStream::connect(&path).await?;
///     let (mut server, _addr) = listener.accept().await?;
///     client.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     server.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     std::io::Result::Ok(())
/// })?;
/// std::fs::remove_dir_all(&dir)?;
/// # std::io::Result::Ok(())
/// ```
pub struct UnixListener {
    io: Async<std::os::unix::net::UnixListener>,
}

/// The address of `path`. A path with a NUL byte that does not start with one is refused:
/// the kernel reads a filesystem path only up to its first NUL, so it would bind or connect
/// to the shorter path in front of it, silently (std refuses such paths too). A name that
/// starts with NUL is an abstract address, which may contain NUL bytes anywhere. An empty
/// path is refused too: it is neither, and Linux would take it as a request to autobind (a
/// listener on a random abstract name no client knows; a connect failing with a bare
/// `EINVAL`).
pub(super) fn unix_addr(path: &Path) -> io::Result<SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    if bytes.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "unix socket path is empty (an abstract name starts with \"\\0\")",
        ));
    }
    if bytes.first() != Some(&0) && bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "unix socket path {path:?} contains a NUL byte (only an abstract name, which \
                 starts with \"\\0\", may)"
            ),
        ));
    }
    SockAddr::unix(path)
}

socket_common!(UnixListener, SocketAddr);
std_conversions!(UnixListener, std::os::unix::net::UnixListener);

impl UnixListener {
    /// Binds to a filesystem path (which must not exist) and registers with the current
    /// reactor.
    ///
    /// On Linux and Android a path that starts with a NUL byte (`"\0name"`) is an abstract
    /// address instead: nothing is created in the filesystem and the name is free again when
    /// the listener is dropped. [`UnixStream::connect`] takes the same names. Any other
    /// path with a NUL byte in it is an `InvalidInput` error (the kernel would cut it there),
    /// and so is an empty path.
    ///
    /// A filesystem path stays after the listener is dropped (as with `std` and Tokio):
    /// remove the file before binding the same path again.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let reactor = Reactor::current_io()?;
        // socket2's address, unlike std's `UnixListener::bind`, takes abstract names (as
        // `UnixStream::connect` does), and its sockets are close-on-exec.
        let addr = unix_addr(path.as_ref())?;
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr)?;
        socket.listen(LISTEN_BACKLOG)?;
        Ok(UnixListener {
            io: Async::with_reactor(socket.into(), reactor)?,
        })
    }

    /// Accepts a connection. Errors are returned; the listener stays usable.
    ///
    /// Any number of tasks may accept on one listener at once; a dropped `accept()` leaves
    /// nothing registered.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a connection leaves the kernel's queue only in the poll that returns it, so a
    /// dropped `accept()` loses none; it waits for the next `accept`. Nothing stays registered.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        self.io
            .wait(READ, |cx, waiter| self.poll_accept_with(cx, waiter))
            .await
    }

    /// Polls for a connection. As for every `poll_*` method, only the waker of the most recent
    /// call is woken; use [`accept`](UnixListener::accept) to wait from several tasks.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.poll_accept_with(cx, Waiter::Latest)
    }

    fn poll_accept_with(
        &self,
        cx: &mut Context<'_>,
        waiter: Waiter<'_>,
    ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        let (stream, addr) = ready!(self.io.poll_with(READ, cx, waiter, |l| l.accept()))?;
        stream.set_nonblocking(true)?;
        let io = Async::with_reactor_socket(stream, self.io.reactor_ref().clone())?;
        Poll::Ready(Ok((UnixStream { io }, addr)))
    }

    /// The connections, as a never-ending `Stream` of `io::Result<UnixStream>`.
    ///
    /// Like [`accept`](Self::accept), and unlike [`poll_accept`](Self::poll_accept), each
    /// stream waits with a waker of its own: several streams of one listener, polled by
    /// several tasks at once, are all woken when connections wait, and a dropped stream
    /// leaves nothing registered.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming::new(self)
    }
}

incoming_stream! {
    /// The stream of incoming connections of a [`UnixListener`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::{UnixIncoming, UnixListener, UnixStream};
    /// use ciranda::stream::StreamExt;
    ///
    /// let path = std::env::temp_dir().join(format!("ciranda-doc-inc-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// ciranda::run(async {
    ///     let listener = UnixListener::bind(&path)?;
    ///     let mut incoming: UnixIncoming<'_> = listener.incoming();
    ///     let _client = UnixStream::connect(&path).await?;
    ///     let server = incoming.next().await.unwrap()?;
    ///     assert!(server.peer_addr().is_ok());
    ///     std::io::Result::Ok(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    UnixIncoming, UnixListener, UnixStream
}

/// A Unix-domain stream connection; `AsyncRead + AsyncWrite`, also for `&UnixStream`.
///
/// # Examples
///
/// ```
/// use ciranda::net::UnixStream;
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
///     let (mut a, mut b) = UnixStream::pair()?;
///     a.write_all(b"abc").await?;
///     a.close().await?; // shuts the write side down
///     let mut s = String::new();
///     b.read_to_string(&mut s).await?;
///     assert_eq!(s, "abc");
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
pub struct UnixStream {
    io: Async<std::os::unix::net::UnixStream>,
}

socket_common!(UnixStream, SocketAddr);
readiness_waits!(UnixStream, "stream");
connected_socket!(UnixStream, SocketAddr, shutdown);

impl UnixStream {
    /// Connects to the socket at `path` without blocking the thread.
    ///
    /// If the listener's backlog is full, this fails with `WouldBlock` (the kernel gives no
    /// notice when room frees up); retry later.
    ///
    /// # Cancel safety
    ///
    /// Not resumable: dropping the future closes the socket of the attempt in progress (the peer
    /// may see a connection opened and closed at once); a new `connect` starts over.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let reactor = Reactor::current_io()?;
        let addr = unix_addr(path.as_ref())?;
        // socket2 creates sockets close-on-exec.
        let socket = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        connect_started(socket.connect(&addr))?;
        let io = Async::with_reactor_socket(std::os::unix::net::UnixStream::from(socket), reactor)?;
        connected(&io).await?;
        Ok(UnixStream { io })
    }

    /// A connected pair of streams.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let reactor = Reactor::current_io()?;
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((
            Self::from_std_with(a, reactor.clone())?,
            Self::from_std_with(b, reactor)?,
        ))
    }

    /// Wraps a std stream (made non-blocking) and registers it with the current reactor.
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Self::from_std_with(stream, Reactor::current_io()?)
    }

    /// Deregisters and returns the std stream (still non-blocking). A
    /// [split](Self::into_split) stream's halves are [reunited](OwnedReadHalf::reunite) first.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        self.io.into_inner()
    }

    fn from_std_with(
        stream: std::os::unix::net::UnixStream,
        reactor: ReactorRef,
    ) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream {
            io: Async::with_reactor(stream, reactor)?,
        })
    }

    /// The credentials of the peer (its user, group and, where the system says, process),
    /// as the kernel recorded them when the connection was made (`SO_PEERCRED`).
    pub fn peer_cred(&self) -> io::Result<UCred> {
        super::ucred::peer_cred(self.io.get_ref().as_fd())
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
}

impl StreamSocket for UnixStream {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |mut s| s.read(buf))
    }

    fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |s| read_into(s, bufs))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| NoSigpipe(s).write(buf))
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = crate::io::vectored_len(bufs);
        self.io
            .poll_write_with(cx, |s| write_gathered(NoSigpipe(s), bufs, len))
    }

    fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        // The inherent method: it also wakes a write waiting in another task.
        UnixStream::shutdown(self, how)
    }
}

impl_async_read! { UnixStream:
    [] UnixStream, |s| s;
    ['a] &'a UnixStream, |s| *s;
    [] OwnedReadHalf, |h| &h.stream;
}

impl_async_write! { UnixStream:
    [] UnixStream, |s| s;
    ['a] &'a UnixStream, |s| *s;
    [] OwnedWriteHalf, |h| &h.stream;
}

try_reads! { std::os::unix::net::UnixStream:
    [] UnixStream, |s| &s.io;
    [] OwnedReadHalf, |h| &h.stream.io, readable;
}

try_writes! { std::os::unix::net::UnixStream:
    [] UnixStream, |s| &s.io;
    [] OwnedWriteHalf, |h| &h.stream.io, writable;
}

/// The read half of [`UnixStream::into_split`].
///
/// # Examples
///
/// ```
/// use ciranda::net::unix::{OwnedReadHalf, OwnedWriteHalf};
/// use ciranda::net::UnixStream;
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut r, w): (OwnedReadHalf, OwnedWriteHalf) = a.into_split();
///     drop(w); // shuts a's write side down
///     let (br, mut bw) = b.into_split();
///     bw.write_all(b"z").await?;
///     let mut one = [0];
///     r.read_exact(&mut one).await?;
///     assert_eq!(&one, b"z");
///     let b = br.reunite(bw).expect("halves of the same stream");
///     assert!(b.peer_addr()?.is_unnamed());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Arc<UnixStream>,
}

/// The write half of [`UnixStream::into_split`]; dropping it shuts the write side down.
///
/// # Examples
///
/// ```
/// use ciranda::net::unix::OwnedWriteHalf;
/// use ciranda::net::UnixStream;
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
///     let (a, mut b) = UnixStream::pair()?;
///     let (_r, mut w): (_, OwnedWriteHalf) = a.into_split();
///     w.write_all(b"end").await?;
///     drop(w);
///     let mut got = Vec::new();
///     b.read_to_end(&mut got).await?;
///     assert_eq!(got, b"end");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<UnixStream>,
    /// False once [`OwnedReadHalf::reunite`] took the halves back.
    shutdown_on_drop: bool,
}

owned_halves! {
    /// The halves given to [`OwnedReadHalf::reunite`] came from different streams; here they are
    /// back.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::unix::ReuniteError;
    /// use ciranda::net::UnixStream;
    ///
    /// ciranda::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     let (ra, _wa) = a.into_split();
    ///     let (_rb, wb) = b.into_split();
    ///     let err: ReuniteError = ra.reunite(wb).unwrap_err();
    ///     assert!(err.to_string().contains("not from the same"));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    UnixStream, SocketAddr
}
