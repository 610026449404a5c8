//! UDP: `UdpSocket`.

use super::addr::{ToSocketAddrs, resolve, try_each};
use super::socket::{bind_first, connected_socket, ip_ttl, socket_common, std_conversions};
use crate::io::Async;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// A UDP socket (datagrams).
///
/// # Examples
///
/// ```
/// use ciranda::net::UdpSocket;
///
/// ciranda::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await?;
///     let b = UdpSocket::bind("127.0.0.1:0").await?;
///     a.send_to(b"ping", b.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = b.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct UdpSocket {
    io: Async<std::net::UdpSocket>,
}

socket_common!(UdpSocket, SocketAddr);
std_conversions!(UdpSocket, std::net::UdpSocket);
connected_socket!(UdpSocket, SocketAddr);
ip_ttl!(UdpSocket);

impl UdpSocket {
    /// Binds to the first address (of those `addr` resolves to) that works.
    ///
    /// # Cancel safety
    ///
    /// The only wait is resolving a host name: a future dropped before it completes has bound
    /// nothing (a lookup already running on the blocking pool finishes there, its answer
    /// discarded).
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        // std creates the socket close-on-exec.
        let io = bind_first(addr, std::net::UdpSocket::bind).await?;
        Ok(UdpSocket { io })
    }

    /// Sets the default peer for [`send`](UdpSocket::send) and [`recv`](UdpSocket::recv)
    /// (and filters incoming datagrams to that peer); the first resolved address that works.
    ///
    /// # Cancel safety
    ///
    /// The only wait is resolving a host name: a future dropped before it completes leaves the
    /// default peer as it was.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = resolve(&addr, self.io.reactor()).await?;
        try_each(addrs, |a| async move { self.io.get_ref().connect(a) }).await
    }

    /// Sends a datagram to `target` (its first resolved address); returns the bytes sent.
    ///
    /// # Cancel safety
    ///
    /// A datagram goes out whole in the poll that completes the future, or not at all: a dropped
    /// `send_to` has sent nothing (a host name being resolved is looked up in vain).
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = resolve(&target, self.io.reactor()).await?;
        let addr = addrs[0];
        self.io.write_with(|s| s.send_to(buf, addr)).await
    }

    /// Receives a datagram; returns the number of bytes written into `buf` and the sender.
    ///
    /// A datagram longer than `buf` is truncated: `buf` gets its first `buf.len()` bytes, that
    /// length is returned, and the rest of the datagram is discarded (as in Tokio and std; no
    /// error says so). Size `buf` for the largest datagram you expect (65 507 bytes holds any
    /// UDP payload over IPv4).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UdpSocket;
    ///
    /// ciranda::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     a.send_to(b"0123456789", b.local_addr()?).await?;
    ///     a.send_to(b"next", b.local_addr()?).await?;
    ///     let mut small = [0; 4];
    ///     // Truncated: the first four bytes; the other six are gone.
    ///     assert_eq!(b.recv_from(&mut small).await?.0, 4);
    ///     assert_eq!(&small, b"0123");
    ///     let mut buf = [0; 64];
    ///     let (n, _) = b.recv_from(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"next");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram leaves the socket only in the poll that returns it, so a dropped
    /// `recv_from` loses none.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Receives a datagram without consuming it; returns the number of bytes written into
    /// `buf` and the sender. A datagram longer than `buf` fills `buf` and stays queued whole.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing, and a dropped wait leaves no waker behind.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.peek_from(buf)).await
    }

    /// Sends a datagram to the connected peer.
    ///
    /// # Cancel safety
    ///
    /// A datagram goes out whole in the poll that completes the future, or not at all: a dropped
    /// `send` has sent nothing.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write_with(|s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer; returns the number of bytes written into
    /// `buf`. A datagram longer than `buf` is truncated, the rest discarded (see
    /// [`recv_from`](UdpSocket::recv_from)).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram leaves the socket only in the poll that returns it, so a dropped
    /// `recv` loses none.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// Polls for a datagram; returns the number of bytes written into `buf` and the sender. A
    /// datagram longer than `buf` is truncated, the rest discarded (see
    /// [`recv_from`](UdpSocket::recv_from)).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| s.recv_from(buf))
    }

    /// Polls to send a datagram to `target`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send_to(buf, target))
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Waits until the socket is reported readable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness, so the next wait
    /// sees the same report.
    pub async fn readable(&self) -> io::Result<()> {
        self.io.readable().await
    }

    /// Waits until the socket is reported writable.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness, so the next wait
    /// sees the same report.
    pub async fn writable(&self) -> io::Result<()> {
        self.io.writable().await
    }
}
