//! What the byte-stream sockets share: their `futures-io` impls.
//!
//! `TcpStream` and `UnixStream` implement `AsyncRead`/`AsyncWrite` for themselves, for a shared
//! reference and for their split halves; every one of those impls forwards to the stream's
//! [`StreamSocket`] methods. The macros below write the forwarding once. What differs between
//! the two sockets, their read and write paths, stays in each socket's `StreamSocket` impl:
//! TCP's treats a short transfer as proof that the kernel buffer is drained (and reads
//! `TCP_INQ` where it can), which a Unix stream must not.
//!
//! Both write through [`NoSigpipe`], so a write to a stream that can no longer send fails with
//! `BrokenPipe` and never raises `SIGPIPE`, whatever its size or number of buffers.

use socket2::SockRef;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::Shutdown;
use std::os::fd::AsFd;
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

/// One read from `socket` into `bufs`. One buffer (every `poll_read`) is read with `read` (a
/// `recv` on a TCP socket), whose path through the kernel is shorter than `readv`'s (no iovec
/// copied in, no file-position lookup).
pub(super) fn read_into(
    mut socket: impl io::Read,
    bufs: &mut [IoSliceMut<'_>],
) -> io::Result<usize> {
    match bufs {
        [buf] => socket.read(buf),
        _ => socket.read_vectored(bufs),
    }
}

/// The flags of every write to a stream socket (and of every `UnixDatagram` send):
/// `MSG_NOSIGNAL` where the target has it.
///
/// Without it, a write to a stream whose write side is shut down (by us, or by a peer that
/// reset the connection) fails with `EPIPE` *and* sends `SIGPIPE` to the writing thread, which
/// kills the process unless the signal is ignored. Rust's `main` ignores it, but a program that
/// restores the default (the command-line idiom for quiet exits on a closed pipe) or a host
/// that is not a Rust program does not. std passes the flag only in `TcpStream::write` (and,
/// since 2025, `UnixStream::write`); its `write_vectored` is a `writev`, which cannot.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
/// The flags of every write to a stream socket (no `MSG_NOSIGNAL` on this target).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) const SEND_FLAGS: libc::c_int = 0;

/// A connected stream socket written with `send` and `sendmsg` and [`SEND_FLAGS`] rather than
/// `write` and `writev`: the same transfer, but a write that fails with `BrokenPipe` raises no
/// `SIGPIPE`.
pub(super) struct NoSigpipe<'a, S>(pub(super) &'a S);

impl<S: AsFd> io::Write for NoSigpipe<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        SockRef::from(self.0).send_with_flags(buf, SEND_FLAGS)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // At most `IOV_MAX` buffers, as std's `writev` passes (more fail with `EMSGSIZE`);
        // `vectored_len` never counts such a write as short.
        let bufs = &bufs[..bufs.len().min(crate::io::IOV_MAX)];
        SockRef::from(self.0).send_vectored_with_flags(bufs, SEND_FLAGS)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes of several buffers holding at most this many bytes together are gathered into one
/// and made with one `send`, not a `sendmsg`: the kernel's `sendmsg` path copies the message
/// header and the iovec array in, which costs more than copying a few hundred bytes here.
/// hyper writes an HTTP/1.1 response's head and a small body as two buffers.
const GATHER_LIMIT: usize = 512;

/// The smaller gathering buffer, for writes of at most this many bytes: the buffer is zeroed
/// before it is filled, and zeroing [`GATHER_LIMIT`] bytes cost as much as the copy for a
/// small response (49 instructions a write, counted under callgrind with hyper's "hello"
/// response of about 100 bytes).
const GATHER_SMALL: usize = 128;

/// One write of `bufs` (`len` bytes, as [`vectored_len`](crate::io::vectored_len) counts them)
/// to `socket` (a [`NoSigpipe`]): a single buffer with `write` (a `send`), a few small ones
/// gathered into one first, larger ones with `write_vectored` (a `sendmsg`). Like `writev`, a
/// short write takes its bytes from the front of `bufs`.
pub(super) fn write_gathered(
    mut socket: impl io::Write,
    bufs: &[IoSlice<'_>],
    len: usize,
) -> io::Result<usize> {
    match bufs {
        [buf] => socket.write(buf),
        _ if len <= GATHER_SMALL => write_gathered_in::<GATHER_SMALL>(socket, bufs),
        _ if len <= GATHER_LIMIT => write_gathered_in::<GATHER_LIMIT>(socket, bufs),
        _ => socket.write_vectored(bufs),
    }
}

/// Copies `bufs` (at most `N` bytes together) into one buffer and writes it with one `write`.
fn write_gathered_in<const N: usize>(
    mut socket: impl io::Write,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    let mut gathered = [0u8; N];
    let mut end = 0;
    for buf in bufs {
        gathered[end..end + buf.len()].copy_from_slice(buf);
        end += buf.len();
    }
    socket.write(&gathered[..end])
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

#[cfg(test)]
mod tests {
    use super::{GATHER_LIMIT, GATHER_SMALL, write_gathered};
    use std::io::{self, IoSlice, Write};

    /// A socket that takes at most `room` bytes per call and records how it was called.
    struct Recording {
        room: usize,
        written: Vec<u8>,
        writes: usize,
        vectored: usize,
    }

    impl Recording {
        fn new(room: usize) -> Recording {
            Recording {
                room,
                written: Vec::new(),
                writes: 0,
                vectored: 0,
            }
        }
    }

    impl Write for &mut Recording {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.writes += 1;
            let n = buf.len().min(self.room);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            self.vectored += 1;
            let mut n = 0;
            for buf in bufs {
                let take = buf.len().min(self.room - n);
                self.written.extend_from_slice(&buf[..take]);
                n += take;
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn write(socket: &mut Recording, parts: &[&[u8]]) -> usize {
        let bufs: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let len = crate::io::vectored_len(&bufs);
        write_gathered(socket, &bufs, len).unwrap()
    }

    #[test]
    fn small_buffers_are_gathered_into_one_write_in_order() {
        let mut socket = Recording::new(usize::MAX);
        let n = write(
            &mut socket,
            &[b"HTTP/1.1 200 OK\r\n\r\n", b"", b"Hello, world!"],
        );
        assert_eq!(n, 32);
        assert_eq!(socket.written, b"HTTP/1.1 200 OK\r\n\r\nHello, world!");
        assert_eq!((socket.writes, socket.vectored), (1, 0));
    }

    #[test]
    fn a_short_gathered_write_takes_its_bytes_from_the_front() {
        let mut socket = Recording::new(5);
        assert_eq!(write(&mut socket, &[b"abc", b"defg"]), 5);
        assert_eq!(socket.written, b"abcde");
    }

    #[test]
    fn one_buffer_is_written_as_it_is_and_large_ones_stay_vectored() {
        let mut socket = Recording::new(usize::MAX);
        let big = vec![7u8; GATHER_LIMIT];
        assert_eq!(write(&mut socket, &[&big]), GATHER_LIMIT);
        assert_eq!((socket.writes, socket.vectored), (1, 0));
        assert_eq!(write(&mut socket, &[b"head", &big]), GATHER_LIMIT + 4);
        assert_eq!((socket.writes, socket.vectored), (1, 1));
        assert_eq!(socket.written.len(), 2 * GATHER_LIMIT + 4);
        assert_eq!(&socket.written[GATHER_LIMIT..GATHER_LIMIT + 4], b"head");
    }

    #[test]
    fn both_gathering_buffers_take_writes_up_to_their_edges_whole_and_in_order() {
        for total in [
            GATHER_SMALL - 1,
            GATHER_SMALL,
            GATHER_SMALL + 1,
            GATHER_LIMIT - 1,
            GATHER_LIMIT,
        ] {
            let bytes: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
            let (head, body) = bytes.split_at(total / 3);
            let mut socket = Recording::new(usize::MAX);
            assert_eq!(write(&mut socket, &[head, body]), total, "{total} bytes");
            assert_eq!(socket.written, bytes, "{total} bytes");
            assert_eq!((socket.writes, socket.vectored), (1, 0), "{total} bytes");
        }
        let bytes = vec![3u8; GATHER_LIMIT + 1];
        let mut socket = Recording::new(usize::MAX);
        assert_eq!(
            write(&mut socket, &[&bytes[..1], &bytes[1..]]),
            GATHER_LIMIT + 1
        );
        assert_eq!((socket.writes, socket.vectored), (0, 1));
    }

    #[test]
    fn nothing_to_write_is_one_empty_write() {
        let mut socket = Recording::new(usize::MAX);
        assert_eq!(write(&mut socket, &[]), 0);
        assert_eq!(write(&mut socket, &[b"", b""]), 0);
        assert_eq!((socket.writes, socket.vectored), (2, 0));
    }
}
