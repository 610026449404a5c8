//! The kernel's receive-queue hint for TCP reads (`TCP_INQ`, Linux ≥ 4.18).
//!
//! A read that fills its whole buffer proves nothing about what is left, so the short-read
//! rule (`registration`'s "a short transfer drains the direction") cannot skip the next
//! read, and that read usually fails with `EAGAIN`: in a request/reply exchange of
//! fixed-size messages (`read_exact` of a header, an echo) every message costs one failed
//! `recv`, as it does on Tokio. With `TCP_INQ` on, `recvmsg` returns, beside the data, how
//! many bytes the receive queue still holds; zero proves the queue empty as a short read
//! does, so the next read waits for the poller without asking the kernel. After a FIN the
//! kernel reports a non-zero count, so the end of the stream is always read.
//!
//! The option is switched on lazily, when it would have saved a system call: by a read that
//! fails with `EAGAIN` right after a read that filled its buffer. A stream whose reads are
//! short (a large buffer, as hyper's), or that reads one message and is done (an accept
//! loop's request), never pays the `setsockopt`. If the kernel refuses it, the stream reads
//! as before.
//!
//! | state         | read                                  | next state                   |
//! |---------------|---------------------------------------|------------------------------|
//! | `OFF`         | plain read fills its buffer           | `FULL`                       |
//! | `FULL`        | plain read fails with `EAGAIN`        | `ON` if `setsockopt(TCP_INQ)` succeeds, else `UNSUPPORTED` |
//! | `OFF`/`FULL`  | any other outcome                     | `FULL` if it filled its buffer, else `OFF` |
//! | `ON`          | `recvmsg` with the hint               | `ON`                         |
//! | `UNSUPPORTED` | plain read                            | `UNSUPPORTED`                |

use crate::loom::AtomicU8;
use std::io::{self, IoSliceMut};
use std::mem::{self, MaybeUninit};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering::Relaxed;

const OFF: u8 = 0;
const FULL: u8 = 1;
const ON: u8 = 2;
const UNSUPPORTED: u8 = 3;

/// A TCP stream's use of the receive-queue hint (see the module docs).
#[derive(Debug)]
pub(crate) struct InqHint(AtomicU8);

/// What one read moved, and whether the kernel said its receive queue was left empty.
pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) drained: bool,
}

impl InqHint {
    pub(crate) fn new() -> InqHint {
        InqHint(AtomicU8::new(OFF))
    }

    /// Switches the option off again if this hint switched it on: the stream is handed to
    /// code that did not ask for it (`into_std`), whose own `recvmsg` calls would otherwise
    /// receive a `TCP_CM_INQ` control message with every read.
    pub(crate) fn release(&self, stream: &TcpStream) -> io::Result<()> {
        if self.0.load(Relaxed) == ON {
            set_inq(stream, 0)?;
            self.0.store(OFF, Relaxed);
        }
        Ok(())
    }

    /// Reads into `bufs` (whose lengths add up to `len`) from `stream`.
    pub(crate) fn read(
        &self,
        stream: &TcpStream,
        bufs: &mut [IoSliceMut<'_>],
        len: usize,
    ) -> io::Result<Received> {
        // Relaxed: the state only picks how to read; every path reads correctly.
        match self.0.load(Relaxed) {
            ON => recv_with_hint(stream, bufs),
            UNSUPPORTED => plain_read(stream, bufs),
            state => {
                let result = plain_read(stream, bufs);
                let next = match &result {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && state == FULL => {
                        enable(stream)
                    }
                    Ok(received) if received.len != 0 && received.len == len => FULL,
                    _ => OFF,
                };
                if next != state {
                    self.0.store(next, Relaxed);
                }
                result
            }
        }
    }
}

fn plain_read(stream: &TcpStream, bufs: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
    Ok(Received {
        len: super::stream::read_into(stream, bufs)?,
        drained: false,
    })
}

/// Switches `TCP_INQ` on; the state to keep.
fn enable(stream: &TcpStream) -> u8 {
    if set_inq(stream, 1).is_ok() {
        ON
    } else {
        UNSUPPORTED
    }
}

fn set_inq(stream: &TcpStream, value: libc::c_int) -> io::Result<()> {
    // SAFETY: a valid descriptor, and a pointer to a live `c_int` with its exact size.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INQ,
            (&value as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Room for one control message carrying an `int`, aligned for `cmsghdr`.
#[repr(C, align(8))]
struct ControlBuffer([MaybeUninit<u8>; 32]);

/// `recvmsg` into `bufs`, reading the `TCP_CM_INQ` control message the option adds.
fn recv_with_hint(stream: &TcpStream, bufs: &mut [IoSliceMut<'_>]) -> io::Result<Received> {
    let mut control = ControlBuffer([MaybeUninit::uninit(); 32]);
    // SAFETY: `msghdr` is a plain C struct for which all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { mem::zeroed() };
    // `IoSliceMut` is ABI-compatible with `iovec` on Unix (std guarantees it). More than
    // `IOV_MAX` buffers would fail with `EMSGSIZE`: pass the first `IOV_MAX`, as std's
    // `read_vectored` does (the caller then never counts the read as short or drained).
    const IOV_MAX: usize = 1024;
    msg.msg_iov = bufs.as_mut_ptr().cast();
    msg.msg_iovlen = bufs.len().min(IOV_MAX) as _;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = mem::size_of::<ControlBuffer>() as _;
    // SAFETY: `msg` points at `bufs` (live, writable, as long as the call) and at `control`
    // (live, with the length given); the kernel writes within those lengths.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut left = None;
    // SAFETY: `msg` was filled by `recvmsg`: its control length covers only what the kernel
    // wrote into `control`, which the CMSG macros walk within.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_TCP && (*cmsg).cmsg_type == libc::TCP_CM_INQ {
                left = Some(libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned());
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let len = n as usize;
    Ok(Received {
        len,
        drained: len != 0 && left == Some(0),
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{Shutdown, TcpListener};

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    fn read(hint: &InqHint, s: &TcpStream, buf: &mut [u8]) -> (usize, bool) {
        let len = buf.len();
        let r = hint.read(s, &mut [IoSliceMut::new(buf)], len).unwrap();
        (r.len, r.drained)
    }

    /// Reads until the hint is on: a full read, then a failed one (non-blocking).
    fn switch_on(hint: &InqHint, client: &mut TcpStream, server: &TcpStream) {
        let mut buf = [0u8; 4];
        client.write_all(b"0123").unwrap();
        server.set_nonblocking(false).unwrap();
        assert_eq!(read(hint, server, &mut buf), (4, false));
        assert_eq!(hint.0.load(Relaxed), FULL);
        server.set_nonblocking(true).unwrap();
        let len = buf.len();
        let err = hint
            .read(server, &mut [IoSliceMut::new(&mut buf)], len)
            .err()
            .expect("nothing to read");
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(hint.0.load(Relaxed), ON);
        server.set_nonblocking(false).unwrap();
    }

    #[test]
    fn a_failed_read_after_a_full_one_switches_the_hint_on_and_it_tells_empty_from_not() {
        let (mut client, server) = pair();
        let hint = InqHint::new();
        switch_on(&hint, &mut client, &server);
        let mut buf = [0u8; 4];
        client.write_all(b"abcd").unwrap();
        // Exactly a buffer's worth: the kernel says nothing is left.
        assert_eq!(read(&hint, &server, &mut buf), (4, true));
        assert_eq!(&buf, b"abcd");
        // More than a buffer's worth: not drained after the first read.
        client.write_all(b"efghijkl").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert_eq!(read(&hint, &server, &mut buf), (4, false));
        assert_eq!(&buf, b"efgh");
        assert_eq!(read(&hint, &server, &mut buf), (4, true));
        assert_eq!(&buf, b"ijkl");
    }

    #[test]
    fn after_a_fin_the_hint_never_says_drained() {
        let (mut client, server) = pair();
        let hint = InqHint::new();
        switch_on(&hint, &mut client, &server);
        let mut buf = [0u8; 4];
        client.write_all(b"efgh").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        // The data is followed by a FIN: the kernel reports something left, so the reader
        // goes on to read the end of the stream.
        assert_eq!(read(&hint, &server, &mut buf), (4, false));
        assert_eq!(read(&hint, &server, &mut buf), (0, false));
    }

    #[test]
    fn more_buffers_than_iov_max_are_read_into_the_first_iov_max() {
        let (mut client, server) = pair();
        let hint = InqHint::new();
        switch_on(&hint, &mut client, &server);
        client.write_all(&[5; 8]).unwrap();
        let mut storage = vec![[0u8; 1]; 2_000];
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let r = hint.read(&server, &mut bufs, usize::MAX).unwrap();
        assert_eq!(r.len, 8);
    }

    #[test]
    fn one_full_read_or_short_reads_never_switch_it_on() {
        let (mut client, server) = pair();
        let hint = InqHint::new();
        let mut buf = [0u8; 64];
        client.write_all(b"abcd").unwrap();
        assert_eq!(read(&hint, &server, &mut buf), (4, false));
        assert_eq!(hint.0.load(Relaxed), OFF);
        // A full read then a short one: back to off, no system call spent.
        client.write_all(&[7; 64]).unwrap();
        assert_eq!(read(&hint, &server, &mut buf), (64, false));
        assert_eq!(hint.0.load(Relaxed), FULL);
        client.write_all(b"ab").unwrap();
        assert_eq!(read(&hint, &server, &mut buf), (2, false));
        assert_eq!(hint.0.load(Relaxed), OFF);
    }
}
