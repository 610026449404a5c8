//! `ciranda::fs::File` on a descriptor that cannot seek (a FIFO here; a terminal, a serial
//! port or a socket behave alike): the read-ahead cannot be handed back to the OS by a seek.

use ciranda::fs::{File, OpenOptions};
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::time::Duration;

/// A FIFO in a directory of its own, removed on drop.
struct Fifo(PathBuf);

impl Fifo {
    fn new(name: &str) -> Fifo {
        let dir = std::env::temp_dir().join(format!(
            "ciranda-fs-unseekable-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: `c_path` is a NUL-terminated path that lives across the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        Fifo(path)
    }

    /// The FIFO opened for reading and writing (Linux opens a FIFO `O_RDWR` without waiting
    /// for a peer), and a plain writer of it.
    async fn open(&self) -> (File, std::fs::File) {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.0)
            .await
            .unwrap();
        let peer = std::fs::OpenOptions::new()
            .write(true)
            .open(&self.0)
            .unwrap();
        (file, peer)
    }
}

impl Drop for Fifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

/// Reads `n` bytes, failing rather than hanging if they never come.
async fn read_n(file: &mut File, n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    ciranda::time::timeout(Duration::from_secs(20), file.read_exact(&mut bytes))
        .await
        .expect("the bytes never came: lost with the read-ahead")
        .unwrap();
    bytes
}

/// A length-prefixed exchange over a FIFO: reading a 4-byte header reads ahead the payload
/// behind it. A write then had to move the OS position back over that read-ahead with a seek,
/// which a FIFO refuses: the write failed with "Illegal seek" and the payload was dropped.
#[ciranda::test]
async fn a_write_after_a_partial_read_keeps_the_read_ahead() {
    let fifo = Fifo::new("write");
    let (mut file, mut peer) = fifo.open().await;
    peer.write_all(b"head payload").unwrap();
    assert_eq!(read_n(&mut file, 4).await, b"head");

    file.write_all(b" reply").await.unwrap();
    file.flush()
        .await
        .expect("a write after a partial read of a FIFO");

    // What was read ahead comes first, then what the write put in the FIFO.
    assert_eq!(read_n(&mut file, 14).await, b" payload reply");
}

/// `metadata` (and `set_len`, `sync_all`, which share its way in: flush, then move back over
/// the read-ahead) failed the same way on a FIFO after a partial read, and dropped the
/// read-ahead.
#[ciranda::test]
async fn metadata_after_a_partial_read_keeps_the_read_ahead() {
    let fifo = Fifo::new("metadata");
    let (mut file, mut peer) = fifo.open().await;
    peer.write_all(b"0123456789").unwrap();
    assert_eq!(read_n(&mut file, 3).await, b"012");

    let meta = file
        .metadata()
        .await
        .expect("metadata after a partial read of a FIFO");
    assert!(meta.file_type().is_fifo());

    assert_eq!(read_n(&mut file, 7).await, b"3456789");
}
