//! `fs::File` over a descriptor in non-blocking mode: a FIFO opened with `O_NONBLOCK` (the
//! usual way to open one without waiting for the other end), or a pipe or FIFO inherited from
//! a process that set the flag (`O_NONBLOCK` belongs to the open file description, shared by
//! every process holding it), wrapped with `File::from_std`.
//!
//! `File`'s blocking jobs passed the OS's `EAGAIN` on: a read of an empty FIFO failed at once
//! with `WouldBlock` (so `read_to_end` or a `lines()` loop over it ended in an error), and a
//! write to a full one failed its flush with `WouldBlock`, dropping the buffered bytes that
//! its `write` had already reported written. Like the standard streams' jobs, they now wait
//! for the descriptor with `poll(2)` and try again.

use ciranda::fs::File;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

/// A FIFO in a fresh temporary directory (removed with the returned guard).
struct Fifo {
    dir: std::path::PathBuf,
    path: std::path::PathBuf,
}

impl Fifo {
    fn new(name: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!(
            "ciranda-fs-nonblocking-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `c_path` is a valid NUL-terminated path that lives for the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        Fifo { dir, path }
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn runtimes() -> Vec<ciranda::Runtime> {
    vec![
        ciranda::Runtime::new().unwrap(),
        ciranda::Runtime::builder()
            .flavor(ciranda::Flavor::CurrentThread)
            .build()
            .unwrap(),
    ]
}

#[test]
fn a_read_of_a_non_blocking_fifo_waits_for_data_instead_of_failing_with_would_block() {
    for rt in runtimes() {
        with_watchdog(Duration::from_secs(60), move || {
            let fifo = Fifo::new("read");
            // Opened without waiting for a writer: the reason to ask for O_NONBLOCK.
            let reader = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&fifo.path)
                .unwrap();
            let mut writer = std::fs::OpenOptions::new()
                .write(true)
                .open(&fifo.path)
                .unwrap();
            rt.block_on(async {
                let mut file = File::from_std(reader);
                let mut buf = [0u8; 16];
                // Nothing written yet: the read waits (it failed with WouldBlock at once).
                match ciranda::time::timeout(Duration::from_millis(300), file.read(&mut buf)).await
                {
                    Err(_elapsed) => {}
                    Ok(read) => panic!("a read of an empty FIFO did not wait: {read:?}"),
                }
                // The read's job goes on waiting; the next read gets what arrives.
                writer.write_all(b"hello").unwrap();
                let n = file.read(&mut buf).await.unwrap();
                assert_eq!(&buf[..n], b"hello");
                // To the end of the stream: EOF once the writer is gone, no WouldBlock between.
                let feeder = std::thread::spawn(move || {
                    for line in ["a\n", "b\n", "c\n"] {
                        std::thread::sleep(Duration::from_millis(20));
                        writer.write_all(line.as_bytes()).unwrap();
                    }
                });
                let mut rest = String::new();
                file.read_to_string(&mut rest).await.unwrap();
                assert_eq!(rest, "a\nb\nc\n");
                feeder.join().unwrap();
            });
        });
    }
}

#[test]
fn a_write_to_a_full_non_blocking_pipe_waits_for_room_and_loses_nothing() {
    for rt in runtimes() {
        with_watchdog(Duration::from_secs(60), move || {
            let mut fds = [0; 2];
            // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
            let piped =
                unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
            assert_eq!(piped, 0);
            // SAFETY: both descriptors were just returned to us and are owned by nobody else.
            let (read_end, write_end) = unsafe {
                (
                    std::fs::File::from(OwnedFd::from_raw_fd(fds[0])),
                    std::fs::File::from(OwnedFd::from_raw_fd(fds[1])),
                )
            };
            // Fill the pipe until the kernel says EAGAIN.
            let mut filled = 0usize;
            let chunk = [b'x'; 4096];
            loop {
                match (&write_end).write(&chunk) {
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            rt.block_on(async {
                let mut file = File::from_std(write_end);
                file.write_all(b"tail").await.unwrap(); // buffered
                match ciranda::time::timeout(Duration::from_millis(300), file.flush()).await {
                    Err(_elapsed) => {}
                    Ok(flushed) => panic!("a flush to a full pipe did not wait: {flushed:?}"),
                }
                // Drain the pipe from a thread; the flush's job writes once there is room.
                let drainer = std::thread::spawn(move || {
                    let mut all = Vec::new();
                    let mut read_end = read_end;
                    let mut buf = [0u8; 65536];
                    loop {
                        match read_end.read(&mut buf) {
                            Ok(0) => return all,
                            Ok(n) => all.extend_from_slice(&buf[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                std::thread::sleep(Duration::from_millis(5))
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                });
                file.flush().await.unwrap();
                drop(file);
                let all = drainer.join().unwrap();
                assert_eq!(all.len(), filled + 4);
                assert!(all.ends_with(b"xtail"), "the buffered bytes were lost");
            });
        });
    }
}
