//! The attempts that never wait: `try_read`, `try_write`, `try_recv`, `try_send` and their
//! kin, for code that waits for readiness itself (`readable().await`, then `try_read` until
//! `WouldBlock`), as with Tokio.
//!
//! An attempt is one system call (retried after `EINTR`), made whatever the reactor last
//! reported: the kernel's answer is the truth, and `WouldBlock` means nothing is there (or no
//! room is) right now. Nothing is recorded when an attempt would block: `readable()` and
//! `writable()` ask the descriptor's level before they wait, so a wait after a `WouldBlock`
//! sleeps until the next report, and one after a successful attempt returns at once if more
//! is there. An attempt that moved bytes voids a byte stream's drained mark (see
//! `registration`), so the stream's next `read` or `write` asks the kernel too.
//!
//! Attempts spend no cooperative budget: they cannot return `Pending`, so the loop around them
//! yields where it waits.

use super::stream::{NoSigpipe, read_into, write_gathered};
use crate::io::Async;
use crate::registration::{READ, WRITE};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::AsFd;

/// Runs `op` once, again if a signal interrupted it.
pub(super) fn attempt<R>(mut op: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            done => return done,
        }
    }
}

/// One read from a byte stream into `bufs`, in order (see the module docs).
pub(super) fn try_read_vectored<S>(io: &Async<S>, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize>
where
    for<'a> &'a S: io::Read,
{
    let n = attempt(|| read_into(io.get_ref(), bufs))?;
    if n != 0 {
        io.void_drained(READ);
    }
    Ok(n)
}

/// One write to a byte stream from `bufs`, in order, with no `SIGPIPE` (see the module docs).
pub(super) fn try_write_vectored<S: AsFd>(
    io: &Async<S>,
    bufs: &[IoSlice<'_>],
) -> io::Result<usize> {
    let len = crate::io::vectored_len(bufs);
    let n = attempt(|| write_gathered(NoSigpipe(io.get_ref()), bufs, len))?;
    if n != 0 {
        io.void_drained(WRITE);
    }
    Ok(n)
}

/// `try_read` and `try_read_vectored` (and, with `readable`, a `readable` wait) for each
/// `$t`, whose stream's `Async<$io>` `$get` (a closure from `&$t`) reaches; `[$gen]` are
/// the impl's generic parameters.
macro_rules! try_reads {
    ($io:ty: $([$($gen:tt)*] $t:ty, $get:expr $(, $readable:ident)?;)+) => {$(
        impl<$($gen)*> $t {
            /// Reads what the kernel holds now, without waiting: the number of bytes read,
            /// `Ok(0)` at the end of the stream, or a `WouldBlock` error when nothing has
            /// arrived. (An empty `buf` gets the kernel's answer: `Ok(0)` when data is
            /// queued too.) Pair it with `readable().await`; a `WouldBlock` may follow a
            /// readiness report (it can be spurious).
            pub fn try_read(&self, buf: &mut [u8]) -> ::std::io::Result<usize> {
                self.try_read_vectored(&mut [::std::io::IoSliceMut::new(buf)])
            }

            /// Reads into `bufs`, in order, without waiting (see `try_read`).
            pub fn try_read_vectored(
                &self,
                bufs: &mut [::std::io::IoSliceMut<'_>],
            ) -> ::std::io::Result<usize> {
                let get: for<'x> fn(&'x $t) -> &'x $crate::io::Async<$io> = $get;
                $crate::net::try_io::try_read_vectored(get(self), bufs)
            }

            $(
                /// Waits until the stream is reported readable.
                ///
                /// # Cancel safety
                ///
                /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness,
                /// so the next wait sees the same report.
                pub async fn $readable(&self) -> ::std::io::Result<()> {
                    let get: for<'x> fn(&'x $t) -> &'x $crate::io::Async<$io> = $get;
                    get(self).readable().await
                }
            )?
        }
    )+};
}

/// `try_write` and `try_write_vectored` (and, with `writable`, a `writable` wait) for each
/// `$t`, as [`try_reads`].
macro_rules! try_writes {
    ($io:ty: $([$($gen:tt)*] $t:ty, $get:expr $(, $writable:ident)?;)+) => {$(
        impl<$($gen)*> $t {
            /// Writes what the kernel has room for now, without waiting: the number of bytes
            /// written (possibly fewer than `buf.len()`), or a `WouldBlock` error when the
            /// send buffer is full. Pair it with `writable().await`. A stream that can no
            /// longer send fails with `BrokenPipe` (never `SIGPIPE`).
            pub fn try_write(&self, buf: &[u8]) -> ::std::io::Result<usize> {
                self.try_write_vectored(&[::std::io::IoSlice::new(buf)])
            }

            /// Writes from `bufs`, in order, without waiting (see `try_write`).
            pub fn try_write_vectored(
                &self,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::io::Result<usize> {
                let get: for<'x> fn(&'x $t) -> &'x $crate::io::Async<$io> = $get;
                $crate::net::try_io::try_write_vectored(get(self), bufs)
            }

            $(
                /// Waits until the stream is reported writable.
                ///
                /// # Cancel safety
                ///
                /// Cancel-safe: a dropped wait withdraws its waker and consumes no readiness,
                /// so the next wait sees the same report.
                pub async fn $writable(&self) -> ::std::io::Result<()> {
                    let get: for<'x> fn(&'x $t) -> &'x $crate::io::Async<$io> = $get;
                    get(self).writable().await
                }
            )?
        }
    )+};
}

pub(super) use {try_reads, try_writes};
