//! UDP: `UdpSocket`.

use super::addr::{ToSocketAddrs, resolve, try_each};
use super::socket::{
    bind_first, connected_socket, ip_ttl, readiness_waits, socket_common, std_conversions,
};
use super::try_io::attempt;
use crate::io::Async;
use socket2::SockRef;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
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
readiness_waits!(UdpSocket, "socket");
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
    /// (and filters incoming datagrams to that peer: datagrams from others that arrive from
    /// then on are dropped, while those already queued are still received, as the kernel
    /// does); the first resolved address that works.
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

    /// Receives a datagram from the connected peer without consuming it; returns the number of
    /// bytes written into `buf`. A datagram longer than `buf` fills `buf` and stays queued
    /// whole: a later [`recv`](UdpSocket::recv) with room enough gets all of it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing, and a dropped wait leaves no waker behind.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.peek(buf)).await
    }

    /// The sender of the next datagram, waiting for one if none is queued; consumes nothing
    /// and copies no data (a zero-length datagram has a sender too, and a long one is left
    /// queued whole).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UdpSocket;
    ///
    /// ciranda::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     a.send_to(b"hello", b.local_addr()?).await?;
    ///     // Decide what to do with the datagram by who sent it, before reading it.
    ///     assert_eq!(b.peek_sender().await?, a.local_addr()?);
    ///     let mut buf = [0; 16];
    ///     let (n, from) = b.recv_from(&mut buf).await?;
    ///     assert_eq!((&buf[..n], from), (&b"hello"[..], a.local_addr()?));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: peeking consumes nothing, and a dropped wait leaves no waker behind.
    pub async fn peek_sender(&self) -> io::Result<SocketAddr> {
        self.io.read_with(peek_sender).await
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
    ///
    /// As for every `poll_*` method, only the waker of the most recent call in each direction
    /// (receiving and peeking share one, sending the other) is kept and woken; to wait from
    /// several tasks at once, use [`recv_from`](UdpSocket::recv_from).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| s.recv_from(buf))
    }

    /// Polls for a datagram from the connected peer; returns the number of bytes written into
    /// `buf`. Truncates as [`recv`](UdpSocket::recv) does.
    ///
    /// Only the waker of the most recent call in each direction is woken (see
    /// [`poll_recv_from`](UdpSocket::poll_recv_from)).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |s| s.recv(buf))
    }

    /// Polls for a datagram without consuming it; returns the number of bytes written into
    /// `buf` and the sender. A datagram longer than `buf` fills `buf` and stays queued whole.
    ///
    /// Only the waker of the most recent call in each direction is woken (see
    /// [`poll_recv_from`](UdpSocket::poll_recv_from)).
    pub fn poll_peek_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| s.peek_from(buf))
    }

    /// Polls to send a datagram to the connected peer; returns the bytes sent.
    ///
    /// Only the waker of the most recent call in each direction is woken (see
    /// [`poll_recv_from`](UdpSocket::poll_recv_from)); to wait from several tasks at once, use
    /// [`send`](UdpSocket::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send(buf))
    }

    /// Polls to send a datagram to `target`; returns the bytes sent.
    ///
    /// Only the waker of the most recent call in each direction is woken (see
    /// [`poll_recv_from`](UdpSocket::poll_recv_from)); to wait from several tasks at once, use
    /// [`send_to`](UdpSocket::send_to).
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, |s| s.send_to(buf, target))
    }

    /// Sends a datagram to the connected peer without waiting: the bytes sent, or a
    /// `WouldBlock` error when the send buffer is full (pair it with
    /// [`writable`](UdpSocket::writable)).
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        attempt(|| self.io.get_ref().send(buf))
    }

    /// Sends a datagram to `target` without waiting (see [`try_send`](UdpSocket::try_send)).
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        attempt(|| self.io.get_ref().send_to(buf, target))
    }

    /// Receives a queued datagram from the connected peer without waiting: the number of
    /// bytes written into `buf`, or a `WouldBlock` error when none is queued (pair it with
    /// [`readable`](UdpSocket::readable)). Truncates as [`recv`](UdpSocket::recv) does.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        attempt(|| self.io.get_ref().recv(buf))
    }

    /// Receives a queued datagram and its sender without waiting, or a `WouldBlock` error
    /// when none is queued. Truncates as [`recv_from`](UdpSocket::recv_from) does.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UdpSocket;
    /// use std::io::ErrorKind;
    ///
    /// ciranda::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let b = UdpSocket::bind("127.0.0.1:0").await?;
    ///     let mut buf = [0; 16];
    ///     assert_eq!(b.try_recv_from(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    ///     a.try_send_to(b"one", b.local_addr()?)?;
    ///     let (n, from) = loop {
    ///         b.readable().await?;
    ///         match b.try_recv_from(&mut buf) {
    ///             Err(e) if e.kind() == ErrorKind::WouldBlock => continue, // spurious report
    ///             got => break got?,
    ///         }
    ///     };
    ///     assert_eq!((&buf[..n], from), (&b"one"[..], a.local_addr()?));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        attempt(|| self.io.get_ref().recv_from(buf))
    }

    /// Copies the next queued datagram from the connected peer into `buf` without consuming
    /// it or waiting, or a `WouldBlock` error when none is queued (see
    /// [`peek`](UdpSocket::peek)).
    pub fn try_peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        attempt(|| self.io.get_ref().peek(buf))
    }

    /// Copies the next queued datagram into `buf` and returns its sender, without consuming
    /// it or waiting, or a `WouldBlock` error when none is queued (see
    /// [`peek_from`](UdpSocket::peek_from)).
    pub fn try_peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        attempt(|| self.io.get_ref().peek_from(buf))
    }

    /// The sender of the next queued datagram, without consuming it or waiting, or a
    /// `WouldBlock` error when none is queued (see [`peek_sender`](UdpSocket::peek_sender)).
    pub fn try_peek_sender(&self) -> io::Result<SocketAddr> {
        attempt(|| peek_sender(self.io.get_ref()))
    }

    /// Sets `SO_BROADCAST`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_broadcast(on)
    }

    /// `SO_BROADCAST`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get_ref().broadcast()
    }

    /// Joins the IPv4 multicast group `multiaddr` on the local interface with address
    /// `interface` (`IP_ADD_MEMBERSHIP`); [`Ipv4Addr::UNSPECIFIED`] lets the system choose one
    /// by its routes. Datagrams sent to the group (and to this socket's port) are then received.
    ///
    /// Errors are the system's: on Linux, `multiaddr` not a multicast address is
    /// [`InvalidInput`](io::ErrorKind::InvalidInput), a group already joined on that interface
    /// [`AddrInUse`](io::ErrorKind::AddrInUse), and an `interface` that is no local address
    /// (or, unspecified, no route to the group) `ENODEV`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UdpSocket;
    /// use std::net::Ipv4Addr;
    ///
    /// ciranda::run(async {
    ///     let socket = UdpSocket::bind("0.0.0.0:0").await?;
    ///     let group = Ipv4Addr::new(239, 255, 10, 20);
    ///     // Members on the loopback interface: datagrams sent to the group through it (see
    ///     // `set_multicast_if_v4`) arrive here.
    ///     socket.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    ///     socket.set_multicast_loop_v4(true)?;
    ///     assert!(socket.multicast_loop_v4()?);
    ///     // A unicast address is no group: the system's error is returned.
    ///     assert!(socket.join_multicast_v4(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST).is_err());
    ///     socket.leave_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn join_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().join_multicast_v4(&multiaddr, &interface)
    }

    /// Leaves the IPv4 multicast group `multiaddr` on the interface with address `interface`
    /// (`IP_DROP_MEMBERSHIP`), as joined by
    /// [`join_multicast_v4`](UdpSocket::join_multicast_v4). A group not joined there is the
    /// system's error (on Linux [`AddrNotAvailable`](io::ErrorKind::AddrNotAvailable)).
    pub fn leave_multicast_v4(&self, multiaddr: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v4(&multiaddr, &interface)
    }

    /// Joins the IPv6 multicast group `multiaddr` on the interface with index `interface`
    /// (`IPV6_ADD_MEMBERSHIP`); `0` lets the system choose one by its routes. Errors are the
    /// system's (on Linux: a non-multicast `multiaddr` is
    /// [`InvalidInput`](io::ErrorKind::InvalidInput), an unknown interface index `ENODEV`).
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves the IPv6 multicast group `multiaddr` on the interface with index `interface`
    /// (`IPV6_DROP_MEMBERSHIP`), as joined by
    /// [`join_multicast_v6`](UdpSocket::join_multicast_v6).
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.io.get_ref().leave_multicast_v6(multiaddr, interface)
    }

    /// Sets `IP_MULTICAST_LOOP`: whether IPv4 multicast datagrams this socket sends are looped
    /// back to members on this host (on by default).
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v4(on)
    }

    /// `IP_MULTICAST_LOOP` (see [`set_multicast_loop_v4`](UdpSocket::set_multicast_loop_v4)).
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.io.get_ref().multicast_loop_v4()
    }

    /// Sets `IP_MULTICAST_TTL`: how many hops the IPv4 multicast datagrams this socket sends
    /// may take (1 by default: the local network only). Values over 255 are the system's error
    /// (on Linux [`InvalidInput`](io::ErrorKind::InvalidInput)).
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.io.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// `IP_MULTICAST_TTL` (see [`set_multicast_ttl_v4`](UdpSocket::set_multicast_ttl_v4)).
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.io.get_ref().multicast_ttl_v4()
    }

    /// Sets `IP_MULTICAST_IF`: the local interface, by its address, that IPv4 multicast
    /// datagrams this socket sends go out through ([`Ipv4Addr::UNSPECIFIED`]: the system
    /// chooses by its routes, the default). An address that is no local interface's is the
    /// system's error (on Linux [`AddrNotAvailable`](io::ErrorKind::AddrNotAvailable)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UdpSocket;
    /// use std::net::Ipv4Addr;
    ///
    /// ciranda::run(async {
    ///     let group = Ipv4Addr::new(239, 255, 10, 21);
    ///     let member = UdpSocket::bind("0.0.0.0:0").await?;
    ///     member.join_multicast_v4(group, Ipv4Addr::LOCALHOST)?;
    ///     let sender = UdpSocket::bind("127.0.0.1:0").await?;
    ///     sender.set_multicast_if_v4(Ipv4Addr::LOCALHOST)?; // out through loopback
    ///     assert_eq!(sender.multicast_if_v4()?, Ipv4Addr::LOCALHOST);
    ///     sender.send_to(b"to all", (group, member.local_addr()?.port())).await?;
    ///     let mut buf = [0; 16];
    ///     let n = member.recv(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"to all");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_multicast_if_v4(&self, interface: Ipv4Addr) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_multicast_if_v4(&interface)
    }

    /// `IP_MULTICAST_IF` (see [`set_multicast_if_v4`](UdpSocket::set_multicast_if_v4)).
    pub fn multicast_if_v4(&self) -> io::Result<Ipv4Addr> {
        SockRef::from(self.io.get_ref()).multicast_if_v4()
    }

    /// Sets `IPV6_MULTICAST_IF`: the index of the interface that IPv6 multicast datagrams this
    /// socket sends go out through (`0`: the system chooses, the default). An IPv6 socket
    /// option: on an IPv4 socket, the system's error.
    pub fn set_multicast_if_v6(&self, interface: u32) -> io::Result<()> {
        SockRef::from(self.io.get_ref()).set_multicast_if_v6(interface)
    }

    /// `IPV6_MULTICAST_IF` (see [`set_multicast_if_v6`](UdpSocket::set_multicast_if_v6)).
    pub fn multicast_if_v6(&self) -> io::Result<u32> {
        SockRef::from(self.io.get_ref()).multicast_if_v6()
    }

    /// Sets `IPV6_MULTICAST_LOOP`: whether IPv6 multicast datagrams this socket sends are
    /// looped back to members on this host (on by default). An IPv6 socket option: on an IPv4
    /// socket, the system's error.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.io.get_ref().set_multicast_loop_v6(on)
    }

    /// `IPV6_MULTICAST_LOOP` (see [`set_multicast_loop_v6`](UdpSocket::set_multicast_loop_v6)).
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.io.get_ref().multicast_loop_v6()
    }
}

/// The sender of the datagram at the head of `socket`'s queue, consuming nothing: a peek into
/// no buffer (socket2's, which also copes with Windows reporting that as truncation).
fn peek_sender(socket: &std::net::UdpSocket) -> io::Result<SocketAddr> {
    SockRef::from(socket)
        .peek_sender()?
        .as_socket()
        .ok_or_else(|| io::Error::other("ciranda: a UDP datagram's sender is not an IP address"))
}
