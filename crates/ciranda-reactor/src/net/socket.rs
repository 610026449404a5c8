//! What the socket types share: each wraps one std socket in an [`Async`], and their `Debug`,
//! descriptor impls, address and option accessors, std conversions and `incoming` streams are
//! the same code over a different std type. The macros below write them once; each type's
//! file says which it has. (Macros rather than a generic `Socket<K>`: the public types stay
//! plain named structs, with their own docs and examples.)
//!
//! The byte streams' `futures-io` impls are in `stream`; the read, write and readiness paths
//! themselves stay with each type.

use super::addr::{ToSocketAddrs, resolve, try_each};
use crate::io::Async;
use crate::reactor::Reactor;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

/// `Debug` (as the std socket), `AsRawFd`, `AsFd` and `local_addr` for `$ty`, a struct with
/// an `io: Async<std socket>` field whose `local_addr` returns `$addr`.
macro_rules! socket_common {
    ($ty:ident, $addr:ty) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(self.io.get_ref(), f)
            }
        }

        impl ::std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> ::std::os::fd::RawFd {
                ::std::os::fd::AsRawFd::as_raw_fd(&self.io)
            }
        }

        impl ::std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> ::std::os::fd::BorrowedFd<'_> {
                ::std::os::fd::AsFd::as_fd(&self.io)
            }
        }

        impl $ty {
            /// The local address: the one the socket is bound to.
            pub fn local_addr(&self) -> ::std::io::Result<$addr> {
                self.io.get_ref().local_addr()
            }
        }
    };
}

/// `from_std` and `into_std` for a socket that needs no connection (a listener, a UDP
/// socket): `$ty { io: Async<$std> }`; or only one of them, when named.
macro_rules! std_conversions {
    ($ty:ident, $std:ty) => {
        std_conversions!($ty, $std, from_std);
        std_conversions!($ty, $std, into_std);
    };
    ($ty:ident, $std:ty, from_std) => {
        impl $ty {
            /// Wraps a std socket (made non-blocking) and registers it with the current
            /// reactor.
            pub fn from_std(socket: $std) -> ::std::io::Result<$ty> {
                socket.set_nonblocking(true)?;
                Ok($ty {
                    io: $crate::io::Async::new_nonblocking(socket)?,
                })
            }
        }
    };
    ($ty:ident, $std:ty, into_std) => {
        impl $ty {
            /// Deregisters and returns the std socket (still non-blocking).
            pub fn into_std(self) -> ::std::io::Result<$std> {
                self.io.into_inner()
            }
        }
    };
}

/// `peer_addr`, `take_error` and (for streams, with `shutdown`) `shutdown` for a connected
/// socket.
macro_rules! connected_socket {
    ($ty:ident, $addr:ty) => {
        impl $ty {
            /// The connected peer's address.
            pub fn peer_addr(&self) -> ::std::io::Result<$addr> {
                self.io.get_ref().peer_addr()
            }

            /// Takes the pending socket error (`SO_ERROR`), if any.
            pub fn take_error(&self) -> ::std::io::Result<Option<::std::io::Error>> {
                self.io.get_ref().take_error()
            }
        }
    };
    ($ty:ident, $addr:ty, shutdown) => {
        connected_socket!($ty, $addr);

        impl $ty {
            /// Shuts down the read side, the write side (the peer reads EOF) or both.
            ///
            /// A write waiting for buffer space in another task (the peer not reading) then
            /// fails with `BrokenPipe`, as a blocking `write` would, and a `writable()` wait
            /// returns.
            pub fn shutdown(&self, how: ::std::net::Shutdown) -> ::std::io::Result<()> {
                self.io.get_ref().shutdown(how)?;
                if how != ::std::net::Shutdown::Read {
                    // The kernel may report nothing for it: a Unix stream's poll shows neither
                    // writable nor a hang-up for a send shutdown alone, and its buffer is still
                    // full, so a waiting write would sleep until the peer reads, for good if it
                    // never does. Have every wait in the write direction retry.
                    self.io.report($crate::registration::WRITE);
                }
                Ok(())
            }
        }
    };
}

/// `readable`, `writable`, `ready`, `try_io` and `async_io` for `$ty`, a struct with an
/// `io: Async<_>` field; `$what` names it in their docs ("stream", "socket").
macro_rules! readiness_waits {
    ($ty:ident, $what:literal) => {
        impl $ty {
            #[doc = concat!("Waits until the ", $what, " is reported readable.")]
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness, so the
            /// next wait sees the same report.
            pub async fn readable(&self) -> ::std::io::Result<()> {
                self.io.readable().await
            }

            #[doc = concat!("Waits until the ", $what, " is reported writable.")]
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness, so the
            /// next wait sees the same report.
            pub async fn writable(&self) -> ::std::io::Result<()> {
                self.io.writable().await
            }

            #[doc = concat!("Waits until the ", $what, " is ready for a direction of `interest` (or")]
            /// closed in it, or has an error pending), and says what it found (see
            /// [`Async::ready`](crate::Async::ready)).
            ///
            /// # Cancel safety
            ///
            /// Cancel-safe: a dropped wait withdraws its wakers and consumes no readiness.
            pub async fn ready(
                &self,
                interest: $crate::io::Interest,
            ) -> ::std::io::Result<$crate::io::Ready> {
                self.io.ready(interest).await
            }

            /// Runs `op`, an operation of the caller's own on the descriptor (through
            /// `as_fd()`), once, without waiting: its result, `WouldBlock` included, as it is.
            /// `interest` names the directions `op` transfers in (see
            /// [`Async::try_io`](crate::Async::try_io)).
            pub fn try_io<R>(
                &self,
                interest: $crate::io::Interest,
                op: impl FnOnce() -> ::std::io::Result<R>,
            ) -> ::std::io::Result<R> {
                self.io.try_io(interest, op)
            }

            /// Runs `op` (see `try_io`) until it does not report `WouldBlock`, waiting for
            /// `ready(interest)` before each attempt.
            ///
            /// # Cancel safety
            ///
            /// A dropped future loses nothing, provided `op` has no effect when it reports
            /// `WouldBlock` (see [`Async::async_io`](crate::Async::async_io)).
            pub async fn async_io<R>(
                &self,
                interest: $crate::io::Interest,
                op: impl FnMut() -> ::std::io::Result<R>,
            ) -> ::std::io::Result<R> {
                self.io.async_io(interest, op).await
            }
        }
    };
}

/// What the owned halves of a split `$stream` share, in the module that defines them as
/// `OwnedReadHalf { stream: Arc<$stream> }` and `OwnedWriteHalf { stream: Arc<$stream>,
/// shutdown_on_drop: bool }`: their addresses (`$addr`) and `AsRef<$stream>`, the write
/// half's shutdown on drop, and `OwnedReadHalf::reunite` with its error, `ReuniteError`, on
/// which the attributes given (its docs) go.
macro_rules! owned_halves {
    ($(#[$attr:meta])* $stream:ident, $addr:ty) => {
        owned_halves!(@half OwnedReadHalf, $stream, $addr);
        owned_halves!(@half OwnedWriteHalf, $stream, $addr);

        $(#[$attr])*
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl ::std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(concat!(
                    "tried to reunite halves that are not from the same ",
                    stringify!($stream)
                ))
            }
        }

        impl ::std::error::Error for ReuniteError {}

        impl OwnedReadHalf {
            /// Joins the halves back into the stream, if they belong together; otherwise
            /// both come back in the error. Reuniting does not shut the write side down
            /// (dropping the write half alone would).
            pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !::std::sync::Arc::ptr_eq(&self.stream, &other.stream) {
                    return Err(ReuniteError(self, other));
                }
                other.shutdown_on_drop = false;
                drop(other);
                Ok(::std::sync::Arc::try_unwrap(self.stream)
                    .expect("the two halves hold the only references"))
            }
        }

        impl OwnedWriteHalf {
            /// Joins the halves back into the stream (as [`OwnedReadHalf::reunite`]).
            pub fn reunite(self, other: OwnedReadHalf) -> Result<$stream, ReuniteError> {
                other.reunite(self)
            }

            /// Drops this half without shutting the write side down: the peer reads no end
            /// of the stream until the read half (and so the stream) is dropped too.
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    let _ = self.stream.shutdown(::std::net::Shutdown::Write);
                }
            }
        }
    };
    (@half $half:ident, $stream:ident, $addr:ty) => {
        impl $half {
            /// The remote address of the stream this half belongs to.
            pub fn peer_addr(&self) -> ::std::io::Result<$addr> {
                self.stream.peer_addr()
            }

            /// The local address of the stream this half belongs to.
            pub fn local_addr(&self) -> ::std::io::Result<$addr> {
                self.stream.local_addr()
            }
        }

        /// The stream this half belongs to (its options, its descriptor).
        impl AsRef<$stream> for $half {
            fn as_ref(&self) -> &$stream {
                &self.stream
            }
        }
    };
}

/// `set_ttl` and `ttl` (`IP_TTL`) for an IP socket.
macro_rules! ip_ttl {
    ($ty:ident) => {
        impl $ty {
            /// Sets `IP_TTL`.
            pub fn set_ttl(&self, ttl: u32) -> ::std::io::Result<()> {
                self.io.get_ref().set_ttl(ttl)
            }

            /// `IP_TTL`.
            pub fn ttl(&self) -> ::std::io::Result<u32> {
                self.io.get_ref().ttl()
            }
        }
    };
}

/// A listener's never-ending stream of accepted connections: `$name<'a>` borrowing a
/// `$listener` (which has `poll_accept_with` and an `io: Async<_>` field) and yielding
/// `io::Result<$stream>`. The attributes given (the docs) go on the struct.
///
/// The stream waits with an entry of its own in the listener's waiters, as an `accept()`
/// future does, and withdraws it when dropped: several streams of one listener (accept loops
/// in several tasks) are each woken when a connection waits. Through the `poll_accept` slot
/// only the stream polled last was, and the others slept through every connection.
macro_rules! incoming_stream {
    ($(#[$attr:meta])* $name:ident, $listener:ty, $stream:ty) => {
        $(#[$attr])*
        #[derive(Debug)]
        #[must_use = "streams do nothing unless polled"]
        pub struct $name<'a> {
            listener: &'a $listener,
            /// This stream's entry among the listener's read waiters.
            key: $crate::registration::WaitKey,
        }

        impl<'a> $name<'a> {
            fn new(listener: &'a $listener) -> Self {
                $name {
                    listener,
                    key: $crate::registration::WaitKey::default(),
                }
            }
        }

        impl futures_core::Stream for $name<'_> {
            type Item = ::std::io::Result<$stream>;

            fn poll_next(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<Option<Self::Item>> {
                let this = self.get_mut();
                this.listener
                    .poll_accept_with(cx, $crate::registration::Waiter::Keyed(&mut this.key))
                    .map(|r| Some(r.map(|(s, _)| s)))
            }
        }

        impl Drop for $name<'_> {
            fn drop(&mut self) {
                self.listener
                    .io
                    .withdraw($crate::registration::READ, &mut self.key);
            }
        }
    };
}

pub(super) use {
    connected_socket, incoming_stream, ip_ttl, owned_halves, readiness_waits, socket_common,
    std_conversions,
};

/// A std stream socket whose non-blocking `connect` may still be in progress.
pub(super) trait Connecting {
    /// `SO_ERROR`.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// `Ok(true)` once connected, `Ok(false)` while the connection is in progress.
    fn is_connected(&self) -> io::Result<bool>;
}

fn connected_from(peer: io::Result<impl Sized>) -> io::Result<bool> {
    match peer {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

impl Connecting for std::net::TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        std::net::TcpStream::take_error(self)
    }
    fn is_connected(&self) -> io::Result<bool> {
        connected_from(self.peer_addr())
    }
}

impl Connecting for std::os::unix::net::UnixStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        std::os::unix::net::UnixStream::take_error(self)
    }
    fn is_connected(&self) -> io::Result<bool> {
        connected_from(self.peer_addr())
    }
}

/// The `listen(2)` backlog of a bound `TcpListener` or `UnixListener`: -1 asks Linux for its
/// maximum (`net.core.somaxconn`, 4096 by default since Linux 5.4), as std's
/// `UnixListener::bind` does. std's `TcpListener::bind` uses 128, so a burst of more than 129
/// connections arriving before the accept loop got to them had its SYNs dropped, and each of
/// those clients waited for a retransmission (1 s, then 3 s, …) while the queue stayed full.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) const LISTEN_BACKLOG: libc::c_int = -1;
/// The `listen(2)` backlog of a bound `TcpListener` or `UnixListener`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) const LISTEN_BACKLOG: libc::c_int = 128;

/// The result of a non-blocking `connect`, with "in progress" (and `EINTR`, after which the
/// connection also goes on asynchronously) as `Ok`.
///
/// `EAGAIN` is an error: it starts no connection (a Unix listener's backlog is full, or no
/// local port is free), and the unconnected socket polls writable at once, so waiting for
/// the connection would spin forever.
pub(super) fn connect_started(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e)
            if e.raw_os_error() == Some(libc::EINPROGRESS)
                || e.kind() == io::ErrorKind::Interrupted =>
        {
            Ok(())
        }
        other => other,
    }
}

/// Waits until the connection `connect_started` let go on is established, or returns why it
/// failed.
pub(super) async fn connected<T: Connecting>(io: &Async<T>) -> io::Result<()> {
    loop {
        if let Some(e) = io.get_ref().take_error()? {
            return Err(e);
        }
        if io.get_ref().is_connected()? {
            return Ok(());
        }
        io.writable().await?;
    }
}

/// Binds a socket with `bind` to the first of the addresses `addr` resolves to that works,
/// makes it non-blocking and registers it with the current reactor (the `bind` of
/// `TcpListener` and `UdpSocket`).
pub(super) async fn bind_first<A: ToSocketAddrs, S: AsFd>(
    addr: A,
    bind: fn(SocketAddr) -> io::Result<S>,
) -> io::Result<Async<S>> {
    let reactor = Reactor::current_io()?;
    let addrs = resolve(&addr, &reactor).await?;
    try_each(addrs, |a| {
        let reactor = reactor.clone();
        async move {
            let socket = bind(a)?;
            socket2::SockRef::from(&socket).set_nonblocking(true)?;
            Async::with_reactor(socket, reactor)
        }
    })
    .await
}
