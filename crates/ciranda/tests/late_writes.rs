//! Bytes a `File` accepted, whose write job a runtime shutting down drops unrun, are written
//! by that drop. `Runtime::shutdown_timeout` must still return by its deadline when such a
//! write waits for a reader that never comes.

#[path = "common/busy_pool.rs"]
mod busy_pool;
#[path = "common/pipes.rs"]
mod pipes;

use busy_pool::runtime_with_busy_blocking_pool;
use ciranda::fs::File;
use ciranda::io::AsyncWriteExt;
use pipes::{Fifo, fill, read_until_tail};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

/// A `File` on a full FIFO, dropped with buffered bytes while the blocking pool's one thread
/// is busy: its write job is still queued when `shutdown_timeout` begins, which drops it, and
/// the drop wrote the bytes right there, on the shutdown's thread, waiting for the FIFO's
/// reader for good. The write now has a thread of its own, waited for until the deadline;
/// the bytes still arrive once the reader reads.
#[test]
fn shutdown_timeout_returns_while_a_dropped_files_write_waits_for_a_reader() {
    let fifo = Fifo::new("late-writes-full");
    // The reader: opened first and non-blocking, so that neither open waits; kept open so
    // that a write to the full FIFO waits instead of failing with `EPIPE`. It reads nothing
    // until the end.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo.path())
        .unwrap();
    // Fill the FIFO through a non-blocking writer of its own.
    let filler = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo.path())
        .unwrap();
    // Not even the 4 bytes below fit.
    let filled = fill(filler.as_raw_fd());
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(fifo.path())
        .unwrap();

    // The blocking pool's one thread is busy for 3 s: the dropped file's job stays queued.
    let rt = runtime_with_busy_blocking_pool(Duration::from_secs(3));
    let mut file = File::from_std(file);
    rt.block_on(async move {
        file.write_all(b"tail").await.unwrap(); // buffered
        drop(file);
    });

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let shutdown = std::thread::spawn(move || {
        let start = Instant::now();
        rt.shutdown_timeout(Duration::from_millis(100));
        done_tx.send(start.elapsed()).unwrap();
    });
    let returned = done_rx.recv_timeout(Duration::from_secs(10));

    // Now read: the waiting write goes through, on whichever thread holds it.
    let got = read_until_tail(&mut reader, b"tail");
    shutdown.join().unwrap();
    drop(filler);
    let took = returned.expect(
        "shutdown_timeout(100 ms) did not return in 10 s: it was writing a dropped file's bytes \
         to a FIFO nobody read",
    );
    assert!(
        took < Duration::from_secs(5),
        "shutdown_timeout took {took:?}"
    );
    assert_eq!(
        got.len(),
        filled + 4,
        "the dropped file's bytes did not all arrive"
    );
    assert!(got.ends_with(b"tail"));
}

/// To a regular file the drop still writes in place: `shutdown_timeout` returns with the
/// bytes written, even a zero timeout.
#[test]
fn shutdown_timeout_still_writes_a_dropped_files_bytes_to_a_regular_file_before_returning() {
    let dir = std::env::temp_dir().join(format!(
        "ciranda-late-writes-regular-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("f");
    let rt = runtime_with_busy_blocking_pool(Duration::from_secs(1));
    let mut file = File::from_std(std::fs::File::create(&path).unwrap());
    rt.block_on(async move {
        file.write_all(b"kept").await.unwrap();
        drop(file);
    });
    rt.shutdown_timeout(Duration::ZERO);
    let got = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got, b"kept");
}
