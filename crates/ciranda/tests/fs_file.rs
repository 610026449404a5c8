//! `ciranda::fs::File`: its position after operations that fail.

use ciranda::fs::{File, OpenOptions};
use ciranda::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;

/// A file of `len` bytes (`0123456789` repeated) in a directory of its own, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, len: usize) -> TempFile {
        let dir = std::env::temp_dir().join(format!(
            "ciranda-fs-file-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let bytes: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
    }
}

async fn read_one(f: &mut File) -> u8 {
    let mut one = [0u8; 1];
    f.read_exact(&mut one).await.unwrap();
    one[0]
}

/// A seek the OS refuses (to a negative position) leaves the position where it was, as
/// `std::fs::File`'s does, even when the file had read ahead of it: the next read goes on
/// from there, and so does the next write.
#[ciranda::test]
async fn a_refused_seek_after_a_read_leaves_the_position_unchanged() {
    let tmp = TempFile::new("refused-seek", 200_000);
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&tmp.0)
        .await
        .unwrap();
    // One byte read, the rest of a chunk read ahead.
    assert_eq!(read_one(&mut f).await, b'0');
    for pos in [
        SeekFrom::Current(-1000),
        SeekFrom::End(-1_000_000),
        SeekFrom::Start(u64::MAX),
    ] {
        let e = f.seek(pos).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{pos:?}: {e}");
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 1, "{pos:?}");
        assert_eq!(read_one(&mut f).await, b'1', "after {pos:?}");
        f.seek(SeekFrom::Start(1)).await.unwrap();
    }
    // A write after a refused seek lands at the position too.
    assert_eq!(read_one(&mut f).await, b'1');
    f.seek(SeekFrom::Current(-5000)).await.unwrap_err();
    f.write_all(b"x").await.unwrap();
    f.flush().await.unwrap();
    drop(f);
    let bytes = std::fs::read(&tmp.0).unwrap();
    assert_eq!(&bytes[..4], b"01x3");
    assert_eq!(bytes.len(), 200_000);
}

/// A relative seek by an offset so negative that taking the read-ahead off it overflows is an
/// `InvalidInput` error, as the OS's refusal is, not a panic; the file stays usable.
#[ciranda::test]
async fn a_relative_seek_by_i64_min_after_a_read_is_an_error() {
    let tmp = TempFile::new("i64-min", 100);
    let mut f = File::open(&tmp.0).await.unwrap();
    assert_eq!(read_one(&mut f).await, b'0');
    let e = f.seek(SeekFrom::Current(i64::MIN)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(read_one(&mut f).await, b'1');
}
