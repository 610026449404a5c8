//! The writes of buffered bytes whose blocking job never ran.
//!
//! [`File`](crate::fs::File), [`Stdout`](super::Stdout) and [`Stderr`](super::Stderr) report
//! a write done once its bytes are in their buffer, so the bytes of a job that a runtime
//! shutting down drops unrun are written by that drop, on the thread shutting it down. To a
//! pipe, a FIFO or a terminal such a write can wait for a reader for good; inside
//! [`Runtime::shutdown_timeout`](crate::Runtime::shutdown_timeout) it therefore runs on a
//! thread of its own, waited for until the shutdown's deadline and then left to finish on its
//! own, as a blocking call still running then is. Anywhere else (dropping a runtime waits for
//! everything), and to a regular file, it runs in place.

use parking_lot::Mutex;
use std::cell::Cell;
use std::os::fd::RawFd;
use std::sync::{Arc, mpsc};
use std::time::Instant;

thread_local! {
    /// The deadline of the `shutdown_timeout` running on this thread, if one is.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Marks this thread as running a shutdown that ends at `deadline`, until dropped.
pub(crate) struct ShutdownDeadline {
    outer: Option<Instant>,
}

impl ShutdownDeadline {
    pub(crate) fn enter(deadline: Option<Instant>) -> ShutdownDeadline {
        let outer = DEADLINE.try_with(|d| d.replace(deadline)).ok().flatten();
        ShutdownDeadline { outer }
    }
}

impl Drop for ShutdownDeadline {
    fn drop(&mut self) {
        let _ = DEADLINE.try_with(|d| d.set(self.outer));
    }
}

/// Whether `fd` is a regular file, whose writes never wait for a reader.
fn is_regular_file(fd: RawFd) -> bool {
    // SAFETY: `struct stat` is plain data, for which all zeroes is a valid value.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `stat` is a valid, writable `struct stat`; a bad `fd` only makes fstat fail.
    let ok = unsafe { libc::fstat(fd, &mut stat) } == 0;
    ok && stat.st_mode & libc::S_IFMT == libc::S_IFREG
}

/// Runs `write`, the write to `fd` of bytes whose job was dropped unrun: in place, or, during
/// a `shutdown_timeout` and to anything but a regular file, on a thread of its own, waited for
/// no longer than the shutdown's deadline.
pub(crate) fn write(fd: RawFd, write: impl FnOnce() + Send + 'static) {
    let deadline = DEADLINE.try_with(Cell::get).ok().flatten();
    let Some(deadline) = deadline.filter(|_| !is_regular_file(fd)) else {
        return write();
    };
    // Kept here too, to be taken back and run in place if no thread can start.
    let slot = Arc::new(Mutex::new(Some(write)));
    let theirs = Arc::clone(&slot);
    let (done, finished) = mpsc::channel::<()>();
    let started = std::thread::Builder::new()
        .name("ciranda-late-write".into())
        .spawn(move || {
            let write = theirs.lock().take();
            if let Some(write) = write {
                write();
            }
            drop(done);
        });
    if started.is_err() {
        let write = slot.lock().take();
        if let Some(write) = write {
            write();
        }
        return;
    }
    // `Disconnected` as soon as the write is done; past the deadline it goes on alone.
    let _ = finished.recv_timeout(deadline.saturating_duration_since(Instant::now()));
}
