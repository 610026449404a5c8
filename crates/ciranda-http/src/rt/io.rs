//! `CirandaIo<T>`: futures-io streams as hyper IO, and hyper IO as futures-io streams.

use std::fmt;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// The first scratch buffer a read allocates (zeroed once).
const SCRATCH_START: usize = 8 * 1024;
/// The scratch buffer grows (doubling) while reads fill it, up to this size.
const SCRATCH_MAX: usize = 64 * 1024;

/// Adapts an I/O stream between the two async I/O trait families.
///
/// * `CirandaIo<T>` with `T: futures_io::AsyncRead + AsyncWrite` (a ciranda
///   [`TcpStream`](ciranda::net::TcpStream), a TLS stream from `futures-rustls`, a Unix stream)
///   implements hyper's [`rt::Read`](hyper::rt::Read) and [`rt::Write`](hyper::rt::Write), so
///   hyper can serve or call over it.
/// * `CirandaIo<T>` with `T: hyper::rt::Read + hyper::rt::Write` (say, an upgraded connection,
///   [`hyper::upgrade::Upgraded`]) implements `futures_io::AsyncRead` and `AsyncWrite`, so the
///   ciranda [`io`](ciranda::io) helpers (`read_line`, `write_all`, `copy`) work on it.
///
/// hyper reads into memory it has not initialised, and `futures-io` readers need an
/// initialised `&mut [u8]`. Rather than zeroing hyper's whole spare buffer on every read
/// (hyper's read buffer grows to hundreds of KiB), the adapter keeps a scratch buffer that is
/// zeroed once, reads into it, and copies what arrived: the copy costs what was read, not the
/// buffer's size. The scratch buffer starts at 8 KiB the first time it is needed and doubles
/// (up to 64 KiB) while reads fill it.
///
/// It tells hyper that vectored writes are supported: `futures-io` has no way to ask, sockets
/// do real `writev`, and a stream that keeps the trait's default `poll_write_vectored` (one
/// buffer per call) is still written correctly, with more calls.
///
/// # Examples
///
/// ```
/// use ciranda_http::rt::{CirandaExecutor, CirandaIo};
/// use http_body_util::Full;
/// use hyper::body::Bytes;
///
/// ciranda::run(async {
///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     ciranda::spawn(async move {
///         let (stream, _) = listener.accept().await.unwrap();
///         let service = hyper::service::service_fn(|_req| async {
///             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
///         });
///         hyper::server::conn::http1::Builder::new()
///             .serve_connection(CirandaIo::new(stream), service)
///             .await
///             .unwrap();
///     });
///     let stream = ciranda::net::TcpStream::connect(addr).await.unwrap();
///     let (mut sender, conn) =
///         hyper::client::conn::http1::handshake(CirandaIo::new(stream)).await.unwrap();
///     ciranda::spawn(conn);
///     let req = hyper::Request::get("/")
///         .header("host", "localhost")
///         .body(http_body_util::Empty::<Bytes>::new())
///         .unwrap();
///     let response = sender.send_request(req).await.unwrap();
///     assert_eq!(response.status(), 200);
///     # let _ = CirandaExecutor::new();
/// });
/// ```
pub struct CirandaIo<T> {
    inner: T,
    /// Initialised bytes that reads from a futures-io stream land in before hyper's buffer.
    scratch: Vec<u8>,
}

impl<T> CirandaIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        CirandaIo {
            inner,
            scratch: Vec::new(),
        }
    }

    /// The wrapped stream.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, mutably.
    pub fn inner_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the stream.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: fmt::Debug> fmt::Debug for CirandaIo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CirandaIo").field(&self.inner).finish()
    }
}

impl<T> CirandaIo<T> {
    fn project(self: Pin<&mut Self>) -> (Pin<&mut T>, &mut Vec<u8>) {
        // SAFETY: `inner` is structurally pinned (never moved out of a pinned `CirandaIo`:
        // only `into_inner`, which takes `self` by value, and `inner_mut`, which needs
        // `&mut Self` and so `Unpin` when pinned, give it out); `scratch` is not pinned and is
        // only handed out as `&mut Vec<u8>`, which does not move `inner`.
        unsafe {
            let this = self.get_unchecked_mut();
            (Pin::new_unchecked(&mut this.inner), &mut this.scratch)
        }
    }
}

impl<T: futures_io::AsyncRead> hyper::rt::Read for CirandaIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let (inner, scratch) = self.project();
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        if scratch.is_empty() {
            scratch.resize(SCRATCH_START, 0);
        }
        let want = room.min(scratch.len());
        let n = ready!(inner.poll_read(cx, &mut scratch[..want]))?;
        let n = n.min(want); // a misbehaving reader must not make us copy past `want`
        buf.put_slice(&scratch[..n]);
        if n == scratch.len() && scratch.len() < SCRATCH_MAX {
            // The reader had more than fit: give it more room next time (zeroed once, here).
            let grown = (scratch.len() * 2).min(SCRATCH_MAX);
            scratch.resize(grown, 0);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: futures_io::AsyncWrite> hyper::rt::Write for CirandaIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.project().0.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().0.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // futures-io has no way to ask; its default `poll_write_vectored` writes the first
        // non-empty slice, which is correct for every stream, and sockets do real writev.
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().0.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().0.poll_close(cx)
    }
}

impl<T: hyper::rt::Read> futures_io::AsyncRead for CirandaIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        // `buf` is initialised already, so hyper's cursor over it needs no zeroing.
        let mut read_buf = hyper::rt::ReadBuf::new(buf);
        ready!(self.project().0.poll_read(cx, read_buf.unfilled()))?;
        Poll::Ready(Ok(read_buf.filled().len()))
    }
}

impl<T: hyper::rt::Write> futures_io::AsyncWrite for CirandaIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(self.project().0, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(self.project().0, cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(self.project().0, cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(self.project().0, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::io::{AsyncReadExt, AsyncWriteExt, Cursor};
    use std::future::poll_fn;
    use std::mem::MaybeUninit;

    /// Reads through hyper's trait into an uninitialised buffer of `cap` bytes.
    async fn hyper_read<T: futures_io::AsyncRead + Unpin>(
        io: &mut CirandaIo<T>,
        cap: usize,
    ) -> Vec<u8> {
        let mut storage = vec![MaybeUninit::<u8>::uninit(); cap];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
        poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut *io), cx, buf.unfilled()))
            .await
            .unwrap();
        buf.filled().to_vec()
    }

    #[test]
    fn reads_respect_the_cursor_and_the_scratch_grows_only_when_filled() {
        ciranda::run(async {
            let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
            let mut io = CirandaIo::new(Cursor::new(data.clone()));
            // A small cursor gets at most its room, even though the scratch is bigger.
            assert_eq!(hyper_read(&mut io, 10).await, data[..10]);
            assert_eq!(io.scratch.len(), SCRATCH_START);
            let mut got = data[..10].to_vec();
            loop {
                let chunk = hyper_read(&mut io, 1 << 20).await;
                if chunk.is_empty() {
                    break;
                }
                assert!(chunk.len() <= SCRATCH_MAX);
                got.extend_from_slice(&chunk);
            }
            assert_eq!(got, data);
            assert_eq!(io.scratch.len(), SCRATCH_MAX);
            // A full cursor reads nothing and does not touch the stream.
            let mut empty: [MaybeUninit<u8>; 0] = [];
            let mut buf = hyper::rt::ReadBuf::uninit(&mut empty);
            poll_fn(|cx| hyper::rt::Read::poll_read(Pin::new(&mut io), cx, buf.unfilled()))
                .await
                .unwrap();
        });
    }

    #[test]
    fn hyper_io_back_into_futures_io_round_trips() {
        ciranda::run(async {
            // futures-io -> hyper -> futures-io: the outer layer sees hyper's traits only.
            let mut io = CirandaIo::new(CirandaIo::new(Cursor::new(Vec::new())));
            io.write_all(b"hello, ").await.unwrap();
            io.write_all(b"world").await.unwrap();
            io.flush().await.unwrap();
            let cursor = io.into_inner().into_inner();
            let written = cursor.into_inner();
            assert_eq!(written, b"hello, world");
            let mut io = CirandaIo::new(CirandaIo::new(Cursor::new(written)));
            let mut s = String::new();
            io.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, "hello, world");
        });
    }
}
