//! `ciranda::io::stdout()`'s bytes whose write job a runtime shutting down drops unrun, when
//! stdout is a full pipe: `Runtime::shutdown_timeout` must still return by its deadline. This
//! binary's fd 1 is replaced by a pipe for the test, so it holds this single test.

#[path = "common/busy_pool.rs"]
mod busy_pool;
#[path = "common/pipes.rs"]
mod pipes;

use busy_pool::runtime_with_busy_blocking_pool;
use ciranda::io::AsyncWriteExt;
use pipes::{fill, read_until_tail, set_nonblocking};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// As `late_writes.rs` does for a `File` on a FIFO: a `Stdout` dropped with a buffered byte
/// while the blocking pool's one thread is busy leaves a queued job, which the shutdown drops;
/// the drop wrote the bytes on the shutdown's thread, into a pipe nobody read, and
/// `shutdown_timeout(100 ms)` did not return.
#[test]
fn shutdown_timeout_returns_while_a_dropped_stdouts_write_waits_for_a_reader() {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just opened both descriptors; each is owned once, here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: dup(2) of fd 1, which this process holds; the copy is owned once, here.
    let saved = unsafe { OwnedFd::from_raw_fd(libc::dup(1)) };
    // SAFETY: dup2 onto fd 1 from a descriptor we own; restored below.
    assert_eq!(unsafe { libc::dup2(write.as_raw_fd(), 1) }, 1);
    drop(write);

    // Fill the pipe until it takes nothing more.
    set_nonblocking(1, true);
    let filled = fill(1);
    set_nonblocking(1, false);

    let rt = runtime_with_busy_blocking_pool(Duration::from_secs(3));
    rt.block_on(async {
        let mut out = ciranda::io::stdout();
        out.write_all(b"tail").await.unwrap(); // buffered
        drop(out); // its job queued behind the busy thread
    });

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let shutdown = std::thread::spawn(move || {
        rt.shutdown_timeout(Duration::from_millis(100));
        done_tx.send(()).unwrap();
    });
    let returned = done_rx.recv_timeout(Duration::from_secs(10));

    // Now read: the waiting write goes through, on whichever thread holds it.
    let mut reader = std::fs::File::from(read);
    set_nonblocking(reader.as_raw_fd(), true);
    let got = read_until_tail(&mut reader, b"tail");
    shutdown.join().unwrap();
    // SAFETY: dup2 of the saved descriptor back onto fd 1.
    assert_eq!(unsafe { libc::dup2(saved.as_raw_fd(), 1) }, 1);
    returned.expect(
        "shutdown_timeout(100 ms) did not return in 10 s: it was writing a dropped stdout's \
         bytes to a pipe nobody read",
    );
    assert_eq!(
        got.len(),
        filled + 4,
        "the dropped stdout's bytes did not all arrive"
    );
    assert!(got.ends_with(b"tail"));
}
