//! Unix-domain datagram sockets: `UnixDatagram`.

use super::socket::{connected_socket, readiness_waits, socket_common, std_conversions};
use super::stream::SEND_FLAGS;
use super::try_io::attempt;
use super::unix::unix_addr;
use crate::io::Async;
use crate::loom::Mutex;
use crate::reactor::{Reactor, ReactorRef};
use crate::readiness::{self, Interest};
use crate::time::Sleep;
use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::task::{Context, Poll, ready};
use std::time::Duration;

/// The first pause of a `send_to` whose receiver's queue is full (see
/// [`UnixDatagram::send_to`]), doubled after each refusal up to the last.
const FULL_RECEIVER_FIRST_PAUSE: Duration = Duration::from_micros(200);
/// The longest pause between two tries of a `send_to` to a full receiver.
const FULL_RECEIVER_LAST_PAUSE: Duration = Duration::from_millis(50);

/// The pause of [`UnixDatagram::poll_send_to`] while a receiver's queue is full, kept in the
/// socket between polls (the async [`send_to`](UnixDatagram::send_to) keeps its own on its
/// stack).
///
/// The lock is held only to take or put a field, never while a waker is cloned, dropped or
/// woken: polling a `Sleep` clones the poll's waker (and drops the one it held) and dropping
/// one drops the waker it held, and a waker's `clone` or `drop` is user code that may call
/// back into this socket (`tests/reentrant_wakers.rs` has wakers that poll `poll_send_to`
/// on their own socket; holding the lock across the poll deadlocks them). `poll_send_to`
/// therefore takes the sleep out, polls it without the lock and puts it back, and every
/// sleep it replaces or ends is dropped after the lock. (It polls with `poll_deadline`,
/// which never wakes inline; `Future::poll` may, when the task's cooperative budget is
/// spent.)
struct FullReceiverPause {
    /// The pause under way: the send is tried again once it has fired.
    sleep: Option<Sleep>,
    /// The length of the next pause.
    next: Duration,
}

impl FullReceiverPause {
    fn new() -> Mutex<FullReceiverPause> {
        Mutex::new(FullReceiverPause {
            sleep: None,
            next: FULL_RECEIVER_FIRST_PAUSE,
        })
    }
}

/// Whether this socket polls writable. Where [`refusal_is_reported`] cannot ask the kernel
/// more precisely, a send refused while it does was refused for the receiver's queue.
fn has_room(socket: &std::os::unix::net::UnixDatagram) -> bool {
    use std::os::fd::AsRawFd;
    readiness::level(socket.as_raw_fd(), Interest::WRITABLE).is_writable()
}

/// Whether a `sendto` to `addr` that the kernel refused (`EAGAIN`) will be reported when it
/// can go: refused for this socket's own full send buffer (the kernel reports room as its
/// datagrams are read), or by a full receiver it is connected to (the kernel relays that
/// receiver's reads to it). A full receiver it is not connected to reports nothing: the
/// caller pauses instead.
///
/// The socket's level cannot tell these apart: Linux polls a datagram socket writable only
/// while its datagrams not yet read, wherever they are queued, take at most a quarter of
/// its send buffer, but refuses a send for its own buffer only once they take all of it. A
/// socket over a quarter (its datagrams waiting at a receiver that does not read) polls not
/// writable while a send to another, full, receiver is refused for that receiver's queue.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn refusal_is_reported(socket: &std::os::unix::net::UnixDatagram, addr: &SockAddr) -> bool {
    match own_buffer_full(socket) {
        Ok(true) => true,
        Ok(false) => is_connected_to(socket, addr),
        Err(_) => !has_room(socket),
    }
}

/// Whether a `sendto` to `addr` that the kernel refused will be reported when it can go (see
/// the Linux version): here, whether the socket polls not writable.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn refusal_is_reported(socket: &std::os::unix::net::UnixDatagram, _addr: &SockAddr) -> bool {
    !has_room(socket)
}

/// Whether this socket's own send buffer is full: the bytes of its datagrams not yet read
/// (`SIOCOUTQ`) at least its `SO_SNDBUF`, the test the kernel makes before it takes a
/// datagram to send.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn own_buffer_full(socket: &std::os::unix::net::UnixDatagram) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let limit = SockRef::from(socket).send_buffer_size()?;
    let mut queued: libc::c_int = 0;
    // SAFETY: `SIOCOUTQ` (`TIOCOUTQ`) on a socket writes one `c_int` through the pointer,
    // which points to `queued`, alive for the call; the descriptor is `socket`'s, open while
    // it is borrowed.
    if unsafe { libc::ioctl(socket.as_raw_fd(), libc::TIOCOUTQ, &mut queued) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(queued).unwrap_or(0) >= limit)
}

/// Whether this socket is connected to the socket bound at `addr` (by its name: a path or
/// an abstract name).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn is_connected_to(socket: &std::os::unix::net::UnixDatagram, addr: &SockAddr) -> bool {
    let Ok(peer) = SockRef::from(socket).peer_addr() else {
        return false;
    };
    match (peer.as_pathname(), peer.as_abstract_namespace()) {
        (Some(path), _) => addr.as_pathname() == Some(path),
        (None, Some(name)) => addr.as_abstract_namespace() == Some(name),
        (None, None) => false,
    }
}

/// One `sendto` of `send_to` and `poll_send_to`: `Ok(None)` when it was refused by a full
/// receiver that will not report its reads to this socket (the caller pauses); a refusal the
/// kernel will report (see [`refusal_is_reported`]) stays `WouldBlock`, for the reactor to
/// wait on.
fn send_unless_receiver_full(
    socket: &std::os::unix::net::UnixDatagram,
    buf: &[u8],
    addr: &SockAddr,
) -> io::Result<Option<usize>> {
    match SockRef::from(socket).send_to_with_flags(buf, addr, SEND_FLAGS) {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && !refusal_is_reported(socket, addr) => {
            Ok(None)
        }
        sent => sent.map(Some),
    }
}

/// The pause after `length`: doubled, up to [`FULL_RECEIVER_LAST_PAUSE`].
fn next_pause(length: Duration) -> Duration {
    (length * 2).min(FULL_RECEIVER_LAST_PAUSE)
}

/// A Unix-domain datagram socket: messages with their boundaries kept, between processes on
/// one machine, reliable and in order (the kernel never drops or reorders them; a sender
/// waits when the receiver's queue is full).
///
/// A socket is bound to a path ([`bind`](UnixDatagram::bind)), unbound
/// ([`unbound`](UnixDatagram::unbound): it can send, and can receive only once it is
/// connected to a peer that sends back), or one of a connected [`pair`](UnixDatagram::pair).
/// Paths that start with a NUL byte are abstract names (Linux and Android), as for
/// [`UnixListener::bind`](super::UnixListener::bind).
///
/// Several tasks may send and receive on one socket at once (every method takes `&self`):
/// each datagram goes to one receiver, whole.
///
/// # Examples
///
/// ```
/// use ciranda::net::UnixDatagram;
///
/// ciranda::run(async {
///     let (a, b) = UnixDatagram::pair()?;
///     a.send(b"one").await?;
///     a.send(b"two").await?;
///     let mut buf = [0; 16];
///     let n = b.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"one"); // boundaries kept: one datagram per `recv`
///     let n = b.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"two");
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct UnixDatagram {
    // Dropped first: the pending sleep's timer is removed (it holds its own reactor handle)
    // before the socket is deregistered.
    pause: Mutex<FullReceiverPause>,
    io: Async<std::os::unix::net::UnixDatagram>,
}

socket_common!(UnixDatagram, SocketAddr);
readiness_waits!(UnixDatagram, "socket");
std_conversions!(UnixDatagram, std::os::unix::net::UnixDatagram, into_std);
connected_socket!(UnixDatagram, SocketAddr, shutdown);

impl UnixDatagram {
    /// Binds a socket to a filesystem path (which must not exist) or an abstract name, and
    /// registers it with the current reactor.
    ///
    /// As for [`UnixListener::bind`](super::UnixListener::bind): a path that starts with a NUL
    /// byte is an abstract name (Linux and Android); any other path with a NUL byte, and an
    /// empty path, is an `InvalidInput` error; a filesystem path stays after the socket is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UnixDatagram;
    ///
    /// let path = std::env::temp_dir().join(format!("ciranda-doc-dgram-{}.sock", std::process::id()));
    /// let _ = std::fs::remove_file(&path);
    /// ciranda::run(async {
    ///     let server = UnixDatagram::bind(&path)?;
    ///     let client = UnixDatagram::unbound()?;
    ///     client.send_to(b"ping", &path).await?;
    ///     let mut buf = [0; 16];
    ///     let (n, from) = server.recv_from(&mut buf).await?;
    ///     assert_eq!(&buf[..n], b"ping");
    ///     assert!(from.is_unnamed()); // the client never bound a name
    ///     std::io::Result::Ok(())
    /// })?;
    /// std::fs::remove_file(&path)?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let reactor = Reactor::current_io()?;
        // socket2's address takes abstract names, which std's `UnixDatagram::bind` does not;
        // its sockets are close-on-exec.
        let addr = unix_addr(path.as_ref())?;
        let socket = Socket::new(Domain::UNIX, Type::DGRAM, None)?;
        socket.bind(&addr)?;
        Self::from_socket(socket, reactor)
    }

    /// A socket bound to no name: it can send to any named socket, and receive from a peer it
    /// [`connect`](UnixDatagram::connect)ed to (replies to an unnamed sender have nowhere to
    /// go).
    pub fn unbound() -> io::Result<UnixDatagram> {
        let reactor = Reactor::current_io()?;
        Self::from_socket(Socket::new(Domain::UNIX, Type::DGRAM, None)?, reactor)
    }

    /// A pair of sockets connected to each other.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let reactor = Reactor::current_io()?;
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((
            Self::from_std_with(a, reactor.clone())?,
            Self::from_std_with(b, reactor)?,
        ))
    }

    /// Wraps a std socket (made non-blocking) and registers it with the current reactor.
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            pause: FullReceiverPause::new(),
            io: Async::new_nonblocking(socket)?,
        })
    }

    fn from_socket(socket: Socket, reactor: ReactorRef) -> io::Result<UnixDatagram> {
        let std = std::os::unix::net::UnixDatagram::from(OwnedFd::from(socket));
        Self::from_std_with(std, reactor)
    }

    fn from_std_with(
        socket: std::os::unix::net::UnixDatagram,
        reactor: ReactorRef,
    ) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        Ok(UnixDatagram {
            pause: FullReceiverPause::new(),
            io: Async::with_reactor(socket, reactor)?,
        })
    }

    /// Sets the default peer for [`send`](UnixDatagram::send) and
    /// [`recv`](UnixDatagram::recv); incoming datagrams from other sockets are then refused.
    /// Takes the same names as [`bind`](UnixDatagram::bind). A Unix datagram `connect` does not
    /// wait: it fails at once (`NotFound`, `ConnectionRefused`) when nothing is bound there.
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let addr = unix_addr(path.as_ref())?;
        SockRef::from(self.io.get_ref()).connect(&addr)
    }

    /// Sends a datagram to the connected peer; returns the bytes sent (all of them: a datagram
    /// goes whole or not at all). Waits while the peer's queue is full.
    ///
    /// # Cancel safety
    ///
    /// A datagram goes out whole in the poll that completes the future, or not at all: a dropped
    /// `send` has sent nothing.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io
            .write_with(|s| SockRef::from(s).send_with_flags(buf, SEND_FLAGS))
            .await
    }

    /// Sends a datagram to the socket bound at `path` (a filesystem path or an abstract name,
    /// as for [`bind`](UnixDatagram::bind)). Waits while that socket's queue is full.
    ///
    /// Unless this socket is [connected](UnixDatagram::connect) to that one, the kernel gives
    /// no notice when the queue has room again (this socket's readiness is about its own
    /// buffer), so the send is retried after pauses that double from 200 µs up to 50 ms while
    /// the queue stays full, rather than at every turn of the reactor, which would keep a core
    /// busy. A connected socket and [`send`](UnixDatagram::send) wait for the notice, with
    /// no delay once the receiver reads.
    ///
    /// # Cancel safety
    ///
    /// As for [`send`](UnixDatagram::send): a dropped `send_to` has sent nothing.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = unix_addr(path.as_ref())?;
        let mut pause = FULL_RECEIVER_FIRST_PAUSE;
        loop {
            let sent = self
                .io
                .write_with(|s| send_unless_receiver_full(s, buf, &addr))
                .await?;
            if let Some(n) = sent {
                return Ok(n);
            }
            self.pause_sleep(pause).await;
            pause = next_pause(pause);
        }
    }

    /// Receives a datagram from the connected peer; returns the number of bytes written into
    /// `buf`. A datagram longer than `buf` is truncated: `buf` gets its first `buf.len()`
    /// bytes and the rest is discarded (as with std and Tokio; no error says so).
    ///
    /// Do not wait for a datagram after this socket's own
    /// [`shutdown`](UnixDatagram::shutdown) of its read side: senders are refused from then
    /// on, and Linux answers a non-blocking receive with `WouldBlock` (a blocking one returns
    /// 0), so this waits for good and a loop of [`readable`](UnixDatagram::readable) and
    /// [`try_recv`](UnixDatagram::try_recv) spins, as with Tokio.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a datagram leaves the socket only in the poll that returns it, so a dropped
    /// `recv` loses none.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read_with(|s| s.recv(buf)).await
    }

    /// Receives a datagram; returns the number of bytes written into `buf` and the sender's
    /// address (unnamed for an unbound or paired sender). Truncates as
    /// [`recv`](UnixDatagram::recv) does.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, as [`recv`](UnixDatagram::recv).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.read_with(|s| s.recv_from(buf)).await
    }

    /// Sends a datagram to the connected peer without waiting: the bytes sent, or a
    /// `WouldBlock` error when the peer's queue is full (pair it with
    /// [`writable`](UnixDatagram::writable)).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::net::UnixDatagram;
    /// use std::io::ErrorKind;
    ///
    /// ciranda::run(async {
    ///     let (a, b) = UnixDatagram::pair()?;
    ///     let mut buf = [0; 8];
    ///     assert_eq!(b.try_recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    ///     assert_eq!(a.try_send(b"now")?, 3);
    ///     b.readable().await?;
    ///     assert_eq!(b.try_recv(&mut buf)?, 3);
    ///     assert_eq!(&buf[..3], b"now");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        attempt(|| SockRef::from(self.io.get_ref()).send_with_flags(buf, SEND_FLAGS))
    }

    /// Sends a datagram to the socket bound at `path` without waiting: the bytes sent, or a
    /// `WouldBlock` error when that socket's queue is full.
    ///
    /// [`writable`](UnixDatagram::writable) cannot tell when the queue has room again unless
    /// this socket is [connected](UnixDatagram::connect) to that one: it asks about this
    /// socket's own buffer, which has room, and returns at once, so a loop of `writable()`
    /// and `try_send_to` spins while the queue stays full (see
    /// [`send_to`](UnixDatagram::send_to)). Connect to the receiver and pair
    /// [`try_send`](UnixDatagram::try_send) with `writable()` instead.
    pub fn try_send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let addr = unix_addr(path.as_ref())?;
        attempt(|| SockRef::from(self.io.get_ref()).send_to_with_flags(buf, &addr, SEND_FLAGS))
    }

    /// Receives a queued datagram from the connected peer without waiting, or a `WouldBlock`
    /// error when none is queued (pair it with [`readable`](UnixDatagram::readable)).
    /// Truncates as [`recv`](UnixDatagram::recv) does.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        attempt(|| self.io.get_ref().recv(buf))
    }

    /// Receives a queued datagram and its sender without waiting, or a `WouldBlock` error when
    /// none is queued. Truncates as [`recv`](UnixDatagram::recv) does.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        attempt(|| self.io.get_ref().recv_from(buf))
    }

    /// Polls to send a datagram to the connected peer. As for every `poll_*` method, only the
    /// waker of the most recent call in each direction is woken; use
    /// [`send`](UnixDatagram::send) to wait from several tasks.
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io
            .poll_write_with(cx, |s| SockRef::from(s).send_with_flags(buf, SEND_FLAGS))
    }

    /// Polls to send a datagram to the socket bound at `path`. Only the most recent waker is
    /// woken (see [`poll_send`](UnixDatagram::poll_send)).
    ///
    /// While that socket's queue is full and this socket is not
    /// [connected](UnixDatagram::connect) to it, the send is tried again after pauses that
    /// double from 200 µs up to 50 ms, as in [`send_to`](UnixDatagram::send_to): the task is
    /// woken when a pause ends, not at every turn of the reactor. The pause belongs to the
    /// socket, not to one call: a poll while it runs returns `Pending` (whatever the datagram
    /// and path), and pollers of one socket share it, so use `send_to` to send from several
    /// tasks. A completed send, or an error, ends it.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        path: impl AsRef<Path>,
    ) -> Poll<io::Result<usize>> {
        let addr = unix_addr(path.as_ref())?;
        loop {
            // Taken out and polled without the lock (see `FullReceiverPause`).
            let running = self.pause.lock().sleep.take();
            if let Some(mut sleep) = running {
                if sleep.poll_deadline(cx).is_pending() {
                    self.keep_pause(sleep);
                    return Poll::Pending;
                }
            }
            let sent = ready!(
                self.io
                    .poll_write_with(cx, |s| send_unless_receiver_full(s, buf, &addr))
            );
            let done = match sent {
                Ok(Some(n)) => Ok(n),
                Err(e) => Err(e),
                Ok(None) => match self.start_pause(cx) {
                    Poll::Pending => return Poll::Pending,
                    // Over already (this thread was held up): try again.
                    Poll::Ready(()) => continue,
                },
            };
            let ended = {
                let mut pause = self.pause.lock();
                pause.next = FULL_RECEIVER_FIRST_PAUSE;
                pause.sleep.take()
            };
            drop(ended);
            return Poll::Ready(done);
        }
    }

    /// Starts the next pause of `poll_send_to` and polls it, so that cx's waker is in the
    /// wheel when `poll_send_to` returns `Pending`.
    fn start_pause(&self, cx: &mut Context<'_>) -> Poll<()> {
        let length = {
            let mut pause = self.pause.lock();
            let length = pause.next;
            pause.next = next_pause(length);
            length
        };
        let mut sleep = self.pause_sleep(length);
        if sleep.poll_deadline(cx).is_ready() {
            return Poll::Ready(());
        }
        self.keep_pause(sleep);
        Poll::Pending
    }

    /// A pause of `length` for a full receiver, on the socket's reactor and its clock (a
    /// paused one included).
    fn pause_sleep(&self, length: Duration) -> Sleep {
        let reactor = self.io.reactor();
        let deadline = reactor.now().saturating_add(length);
        Sleep::new(Some(reactor.object_ref()), deadline)
    }

    /// Stores `sleep` as the pause of `poll_send_to`. One another poller stored meanwhile is
    /// replaced, the last polled waker winning, and dropped after the lock.
    fn keep_pause(&self, sleep: Sleep) {
        let replaced = self.pause.lock().sleep.replace(sleep);
        drop(replaced);
    }

    /// Polls for a datagram from the connected peer. Only the most recent waker is woken (see
    /// [`poll_send`](UnixDatagram::poll_send)); truncates as [`recv`](UnixDatagram::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.io.poll_read_with(cx, |s| s.recv(buf))
    }

    /// Polls for a datagram and its sender. Only the most recent waker is woken (see
    /// [`poll_send`](UnixDatagram::poll_send)); truncates as [`recv`](UnixDatagram::recv).
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_read_with(cx, |s| s.recv_from(buf))
    }
}
