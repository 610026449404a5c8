//! `TcpSocket`: a TCP socket configured before it connects or listens.

use super::socket::{connect_started, connected};
use super::tcp::{TcpListener, TcpStream, nonblocking_tcp_socket};
use crate::io::Async;
use crate::reactor::Reactor;
use socket2::{Domain, Socket};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A TCP socket that is neither connected nor listening yet: set its options, maybe
/// [`bind`](TcpSocket::bind) it, then turn it into a [`TcpStream`] with
/// [`connect`](TcpSocket::connect) or a [`TcpListener`] with [`listen`](TcpSocket::listen)
/// (Tokio's `TcpSocket`).
///
/// For what `TcpStream::connect` and `TcpListener::bind` cannot say: a source address or port
/// for an outgoing connection, buffer sizes that must be set before the handshake (the window
/// scale is agreed then), `SO_REUSEPORT` for several listeners on one port, a backlog of your
/// own. The socket is non-blocking and close-on-exec from the start; creating and configuring
/// it needs no runtime, connecting and listening do (the result is registered with the
/// current reactor).
///
/// # Examples
///
/// ```
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
/// use ciranda::net::{TcpSocket, TcpStream};
///
/// ciranda::run(async {
///     let server = TcpSocket::new_v4()?;
///     server.set_reuseaddr(true)?;
///     server.bind("127.0.0.1:0".parse().unwrap())?;
///     let listener = server.listen(64)?;
///
///     let client = TcpSocket::new_v4()?;
///     client.set_recv_buffer_size(256 * 1024)?;
///     client.bind("127.0.0.1:0".parse().unwrap())?; // a source address of our choosing
///     let source = client.local_addr()?;
///     let mut stream: TcpStream = client.connect(listener.local_addr()?).await?;
///     let (mut accepted, peer) = listener.accept().await?;
///     assert_eq!(peer, source);
///     stream.write_all(b"hi").await?;
///     let mut buf = [0; 2];
///     accepted.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"hi");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct TcpSocket {
    inner: Socket,
    /// Whether the socket is known to be non-blocking (ours are from the start; one handed
    /// over as a descriptor is made so when it connects or listens).
    nonblocking: bool,
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.inner.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

impl TcpSocket {
    /// A new IPv4 socket.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV4)
    }

    /// A new IPv6 socket.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::IPV6)
    }

    /// A new socket of the family of `addr` (IPv4 or IPv6).
    pub fn new_for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(Domain::for_address(addr))
    }

    fn new(domain: Domain) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            inner: nonblocking_tcp_socket(domain)?,
            nonblocking: true,
        })
    }

    /// Makes the socket non-blocking if it may not be (before `connect` and `listen`).
    fn ensure_nonblocking(&self) -> io::Result<()> {
        if !self.nonblocking {
            self.inner.set_nonblocking(true)?;
        }
        Ok(())
    }

    /// Sets `SO_REUSEADDR`: a listener may bind a port that connections of an earlier one
    /// still hold in `TIME_WAIT` (what `TcpListener::bind` always sets).
    pub fn set_reuseaddr(&self, on: bool) -> io::Result<()> {
        self.inner.set_reuse_address(on)
    }

    /// `SO_REUSEADDR`.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        self.inner.reuse_address()
    }

    /// Sets `SO_REUSEPORT`: several sockets (of one user) may listen on one port, and the
    /// kernel spreads the incoming connections among them.
    #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
    pub fn set_reuseport(&self, on: bool) -> io::Result<()> {
        self.inner.set_reuse_port(on)
    }

    /// `SO_REUSEPORT`.
    #[cfg(not(any(target_os = "solaris", target_os = "illumos")))]
    pub fn reuseport(&self) -> io::Result<bool> {
        self.inner.reuse_port()
    }

    /// Sets `SO_SNDBUF`, the send buffer's size in bytes (Linux doubles the value asked for,
    /// for its bookkeeping, and caps it at `net.core.wmem_max`).
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_send_buffer_size(buffer_size(size))
    }

    /// `SO_SNDBUF`.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        self.inner.send_buffer_size().map(saturate)
    }

    /// Sets `SO_RCVBUF`, the receive buffer's size in bytes (doubled and capped as
    /// [`set_send_buffer_size`](TcpSocket::set_send_buffer_size)'s, at
    /// `net.core.rmem_max`). Set it before connecting or listening: the window scale is agreed
    /// in the handshake.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.inner.set_recv_buffer_size(buffer_size(size))
    }

    /// `SO_RCVBUF`.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        self.inner.recv_buffer_size().map(saturate)
    }

    /// Sets `SO_KEEPALIVE`: the kernel probes an idle connection and fails it when the peer
    /// is gone (after the system's idle time, two hours by default on Linux).
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        self.inner.set_keepalive(on)
    }

    /// `SO_KEEPALIVE`.
    pub fn keepalive(&self) -> io::Result<bool> {
        self.inner.keepalive()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_tcp_nodelay(on)
    }

    /// `TCP_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.tcp_nodelay()
    }

    /// Sets `SO_LINGER` to zero (see [`TcpStream::set_zero_linger`]). On a socket that will
    /// listen, every connection it accepts inherits it.
    pub fn set_zero_linger(&self) -> io::Result<()> {
        self.inner.set_linger(Some(Duration::ZERO))
    }

    /// `SO_LINGER`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        self.inner.linger()
    }

    /// Binds the socket to `addr`: a listener's address, or the source address (and port)
    /// of a connection. Port 0 asks the system for a free one ([`local_addr`] tells which).
    ///
    /// [`local_addr`]: TcpSocket::local_addr
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        self.inner.bind(&addr.into())
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()?.as_socket().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a TCP socket's local address is not IPv4 or IPv6",
            )
        })
    }

    /// Takes the pending socket error (`SO_ERROR`), if any.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }

    /// Connects to `addr` and registers the stream with the current reactor; the last error
    /// of the handshake otherwise (for a closed port, `ConnectionRefused`).
    ///
    /// # Cancel safety
    ///
    /// Not resumable: the socket is moved in, so dropping the future closes it (the peer may
    /// see a connection opened and closed at once).
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let reactor = Reactor::current_io()?;
        self.ensure_nonblocking()?;
        connect_started(self.inner.connect(&addr.into()))?;
        let io = Async::with_reactor_socket(std::net::TcpStream::from(self.inner), reactor)?;
        connected(&io).await?;
        Ok(TcpStream::with_io(io))
    }

    /// Listens, with room for `backlog` connections waiting to be accepted (the system caps
    /// it: `net.core.somaxconn` on Linux), and registers the listener with the current
    /// reactor. An unbound socket listens on a port the system picks, on every address.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let reactor = Reactor::current_io()?;
        self.ensure_nonblocking()?;
        self.inner
            .listen(libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX))?;
        TcpListener::from_listening(std::net::TcpListener::from(self.inner), reactor)
    }

    /// A socket made from a std stream that is not connected yet (one socket2 made and
    /// configured, for an option this type does not have), made non-blocking, to
    /// [`connect`](TcpSocket::connect) or [`listen`](TcpSocket::listen) with.
    pub fn from_std_stream(stream: std::net::TcpStream) -> io::Result<TcpSocket> {
        stream.set_nonblocking(true)?;
        Ok(TcpSocket {
            inner: Socket::from(stream),
            nonblocking: true,
        })
    }
}

/// A buffer size for `setsockopt`, which takes an `int`.
fn buffer_size(size: u32) -> usize {
    size.min(i32::MAX as u32) as usize
}

fn saturate(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

impl IntoRawFd for TcpSocket {
    fn into_raw_fd(self) -> RawFd {
        self.inner.into_raw_fd()
    }
}

impl FromRawFd for TcpSocket {
    /// Takes ownership of a TCP socket's descriptor (made non-blocking when it connects or
    /// listens: this cannot fail).
    ///
    /// # Safety
    ///
    /// `fd` is an open TCP socket that nothing else owns or closes.
    unsafe fn from_raw_fd(fd: RawFd) -> TcpSocket {
        // SAFETY: the caller hands over an open socket descriptor it no longer owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        TcpSocket {
            inner: Socket::from(owned),
            nonblocking: false,
        }
    }
}
