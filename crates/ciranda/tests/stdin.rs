//! `ciranda::io::stdin()` over a pipe: this binary's fd 0 is replaced by one, so it holds this
//! single test.

use ciranda::io::AsyncReadExt;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Each `stdin()` is a handle to the one standard input, as `std::io::stdin()` is: reading a
/// few bytes through one handle and dropping it must not swallow what follows.
#[ciranda::test]
async fn a_dropped_stdin_handle_keeps_no_bytes_it_did_not_return() {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just opened both descriptors; each is owned once, here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    std::fs::File::from(write)
        .write_all(b"head\nthe rest\n")
        .unwrap();
    // SAFETY: dup2 onto fd 0 from a descriptor we own; nothing else in this binary uses fd 0.
    assert_eq!(unsafe { libc::dup2(read.as_raw_fd(), 0) }, 0);
    drop(read);

    let mut head = [0u8; 5];
    ciranda::io::stdin().read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"head\n");
    let mut rest = Vec::new();
    ciranda::io::stdin().read_to_end(&mut rest).await.unwrap();
    assert_eq!(rest, b"the rest\n");
}
