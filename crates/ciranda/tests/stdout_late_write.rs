//! `ciranda::io::stdout()`'s bytes whose write job a runtime shutting down drops unrun, when
//! stdout is a full pipe: `Runtime::shutdown_timeout` must still return by its deadline. This
//! binary's fd 1 is replaced by a pipe for the test, so it holds this single test.

use ciranda::io::AsyncWriteExt;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Sets or clears `O_NONBLOCK` on the file description behind `fd`.
fn set_nonblocking(fd: i32, on: bool) {
    // SAFETY: F_GETFL/F_SETFL on a descriptor this process holds; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        assert!(flags >= 0);
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags), 0);
    }
}

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

    // Fill the pipe: pages, then single bytes, until it takes nothing more.
    set_nonblocking(1, true);
    let mut filled = 0;
    let bytes = [b'f'; 4096];
    for size in [bytes.len(), 1] {
        loop {
            // SAFETY: writes `size` bytes of `bytes`, which holds at least that many.
            let n = unsafe { libc::write(1, bytes.as_ptr().cast(), size) };
            if n < 0 {
                assert_eq!(
                    std::io::Error::last_os_error().kind(),
                    ErrorKind::WouldBlock
                );
                break;
            }
            filled += n as usize;
        }
    }
    set_nonblocking(1, false);

    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    drop(rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(3));
    }));
    started_rx.recv().unwrap();
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
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while !got.ends_with(b"tail") && Instant::now() < until {
        let mut chunk = [0u8; 64 * 1024];
        match reader.read(&mut chunk) {
            Ok(n) if n > 0 => got.extend_from_slice(&chunk[..n]),
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("reading the pipe: {e}"),
        }
    }
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
