//! Pipes and FIFOs for the tests of files and standard streams that are not regular files: a
//! FIFO in a directory of its own, `O_NONBLOCK`, filling a pipe until it takes nothing more,
//! and reading one until an expected tail arrives.

// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use std::ffi::CString;
use std::io::{ErrorKind, Read};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A FIFO in a directory of its own, removed on drop.
pub struct Fifo(PathBuf);

impl Fifo {
    /// Makes a FIFO in a new directory named after `test` and this process.
    pub fn new(test: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!("ciranda-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c_path` is a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        Fifo(path)
    }

    /// The FIFO's path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

/// Sets or clears `O_NONBLOCK` on the file description behind `fd` (shared with every
/// duplicate).
pub fn set_nonblocking(fd: RawFd, on: bool) {
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

/// Writes to the non-blocking pipe or FIFO `fd` until it takes nothing more (pages first,
/// then single bytes, so that not even one more byte fits); returns how many it took.
pub fn fill(fd: RawFd) -> usize {
    let mut filled = 0;
    let bytes = [b'f'; 4096];
    for size in [bytes.len(), 1] {
        loop {
            // SAFETY: writes `size` bytes of `bytes`, which holds at least that many.
            let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), size) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                assert_eq!(e.kind(), ErrorKind::WouldBlock, "filling the pipe: {e}");
                break;
            }
            filled += n as usize;
        }
    }
    filled
}

/// Reads the non-blocking `reader` until what it read ends with `tail`, or for 30 s; returns
/// everything read.
pub fn read_until_tail(reader: &mut impl Read, tail: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(30);
    while !got.ends_with(tail) && Instant::now() < until {
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
    got
}
