//! What the byte-stream sockets share: their `futures-io` impls.
//!
//! `TcpStream` and `UnixStream` implement `AsyncRead`/`AsyncWrite` for themselves, for a shared
//! reference and for their split halves; every one of those impls forwards to the stream's
//! [`StreamSocket`] methods. The macros below write the forwarding once. What differs between
//! the two sockets, their read and write paths, stays in each socket's `StreamSocket` impl:
//! TCP's treats a short transfer as proof that the kernel buffer is drained (and reads
//! `TCP_INQ` where it can), which a Unix stream must not.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::task::{Context, Poll};

/// The read and write paths of a connected byte-stream socket, through a shared reference (so a
/// reader and a writer can use one stream at once).
pub(super) trait StreamSocket {
    /// Reads into `buf`, waiting for readiness whenever the read would block.
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;

    /// Reads into `bufs`, in order, waiting for readiness whenever the read would block.
    fn poll_read_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>>;

    /// Writes from `buf`, waiting for readiness whenever the write would block.
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;

    /// Writes from `bufs`, in order, waiting for readiness whenever the write would block.
    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;

    /// `shutdown(2)` of the socket.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;

    /// `AsyncWrite::poll_close`: shuts the write side down, so the peer reads EOF. A stream the
    /// peer already disconnected (`NotConnected`) counts as closed.
    fn poll_close(&self) -> Poll<io::Result<()>> {
        match self.shutdown(Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// `AsyncRead` for `$t`, forwarding to the [`StreamSocket`] `$stream` that `$get` (a closure
/// from `&$t`) reaches; `[$gen]` are the impl's generic parameters.
macro_rules! impl_async_read {
    ($stream:ty: $([$($gen:tt)*] $t:ty, $get:expr;)+) => {$(
        impl<$($gen)*> ::futures_io::AsyncRead for $t {
            fn poll_read(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &mut [u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x $stream = $get;
                $crate::net::stream::StreamSocket::poll_read(get(&*self), cx, buf)
            }

            fn poll_read_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x $stream = $get;
                $crate::net::stream::StreamSocket::poll_read_vectored(get(&*self), cx, bufs)
            }
        }
    )+};
}

/// `AsyncWrite` for `$t`, forwarding to the [`StreamSocket`] `$stream` that `$get` reaches.
/// `poll_flush` is always ready: a stream socket has no buffer in user space, every write went
/// to the kernel.
macro_rules! impl_async_write {
    ($stream:ty: $([$($gen:tt)*] $t:ty, $get:expr;)+) => {$(
        impl<$($gen)*> ::futures_io::AsyncWrite for $t {
            fn poll_write(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x $stream = $get;
                $crate::net::stream::StreamSocket::poll_write(get(&*self), cx, buf)
            }

            fn poll_write_vectored(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                let get: for<'x> fn(&'x $t) -> &'x $stream = $get;
                $crate::net::stream::StreamSocket::poll_write_vectored(get(&*self), cx, bufs)
            }

            fn poll_flush(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                ::std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: ::std::pin::Pin<&mut Self>,
                _cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                let get: for<'x> fn(&'x $t) -> &'x $stream = $get;
                $crate::net::stream::StreamSocket::poll_close(get(&*self))
            }
        }
    )+};
}

pub(super) use {impl_async_read, impl_async_write};
