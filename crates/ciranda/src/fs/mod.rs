//! Files and directories on the blocking pool — asyncio's `aiofiles` / `to_thread(open(...))`.
//!
//! Each function runs its `std::fs` counterpart with [`spawn_blocking`](crate::spawn_blocking),
//! so the event loop keeps running. Errors keep the OS error's kind and say which operation
//! failed on which path (`"cannot open \"/no/such\": No such file or directory (os error 2)"`).
//! [`File`] buffers like `tokio::fs::File`, so small reads and writes do not each cost a
//! trip to the blocking pool; [`read_dir`] yields entries as a `Stream`.
//!
//! Every function must be called (awaited) inside a ciranda runtime.
//!
//! ```
//! ciranda::run(async {
//!     let dir = std::env::temp_dir().join(format!("ciranda-fs-doc-{}", std::process::id()));
//!     ciranda::fs::create_dir_all(&dir).await?;
//!     ciranda::fs::write(dir.join("hello.txt"), "hi").await?;
//!     assert_eq!(ciranda::fs::read_to_string(dir.join("hello.txt")).await?, "hi");
//!     ciranda::fs::remove_dir_all(&dir).await?;
//!     let e = ciranda::fs::read(dir.join("hello.txt")).await.unwrap_err();
//!     assert!(e.to_string().contains("hello.txt"));
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # Cancel safety
//!
//! An operation runs on the blocking pool and is not interrupted: a future dropped after its
//! first poll lets the operation finish there (a write, copy or removal still happens), and
//! only its result is lost. A future dropped before its first poll does nothing. A runtime
//! that shuts down drops the blocking calls not yet started, these among them, except the
//! writes of a [`File`] (its buffered bytes reach the file: see [`File`]).

mod dir;
mod file;

pub use dir::{DirEntry, ReadDir, read_dir};
pub use file::{File, OpenOptions};
pub use std::fs::{FileType, Metadata, Permissions};

use crate::task::blocking_call_error;
use std::io;
use std::path::{Path, PathBuf};

/// `e` with the operation and path named in its message, keeping its kind.
pub(crate) fn path_error(e: io::Error, op: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {op} {path:?}: {e}"))
}

/// `e` with the operation and both paths named in its message, keeping its kind: the OS does
/// not say which of the two failed, so neither is blamed alone.
fn paths_error(e: io::Error, op: &str, from: &Path, to: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {op} {from:?} to {to:?}: {e}"))
}

/// Runs `f(from, to)` on the blocking pool, naming `op` and both paths in its error.
async fn on_paths<T: Send + 'static>(
    from: &Path,
    to: &Path,
    op: &'static str,
    f: impl FnOnce(&Path, &Path) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let (from, to) = (from.to_owned(), to.to_owned());
    let (job_from, job_to) = (from.clone(), to.clone());
    crate::spawn_blocking(move || {
        f(&job_from, &job_to).map_err(|e| paths_error(e, op, &job_from, &job_to))
    })
    .await
    .map_err(|e| paths_error(blocking_call_error(e), op, &from, &to))?
}

/// Runs `f(path)` on the blocking pool, naming `op` and the path in its error.
async fn on_path<T: Send + 'static>(
    path: &Path,
    op: &'static str,
    f: impl FnOnce(&Path) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = path.to_owned();
    let job_path = path.clone();
    crate::spawn_blocking(move || f(&job_path).map_err(|e| path_error(e, op, &job_path)))
        .await
        .map_err(|e| path_error(blocking_call_error(e), op, &path))?
}

/// Reads a whole file.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    on_path(path.as_ref(), "read", |p| std::fs::read(p)).await
}

/// Reads a whole file as UTF-8 (`InvalidData` if it is not).
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    on_path(path.as_ref(), "read", |p| std::fs::read_to_string(p)).await
}

/// Creates or truncates a file and writes `contents` to it.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_owned();
    on_path(path.as_ref(), "write", move |p| std::fs::write(p, contents)).await
}

/// Copies a file's contents and permissions; returns the number of bytes copied.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    on_paths(from.as_ref(), to.as_ref(), "copy", |from, to| {
        std::fs::copy(from, to)
    })
    .await
}

/// Renames a file or directory, replacing `to` if it is a file.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    on_paths(from.as_ref(), to.as_ref(), "rename", |from, to| {
        std::fs::rename(from, to)
    })
    .await
}

/// Removes a file.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    on_path(path.as_ref(), "remove file", |p| std::fs::remove_file(p)).await
}

/// Creates a directory.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_path(path.as_ref(), "create directory", |p| {
        std::fs::create_dir(p)
    })
    .await
}

/// Creates a directory and every missing parent.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_path(path.as_ref(), "create directory", |p| {
        std::fs::create_dir_all(p)
    })
    .await
}

/// Removes an empty directory.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    on_path(path.as_ref(), "remove directory", |p| {
        std::fs::remove_dir(p)
    })
    .await
}

/// Removes a directory and everything in it.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_path(path.as_ref(), "remove directory", |p| {
        std::fs::remove_dir_all(p)
    })
    .await
}

/// A path's metadata, following symbolic links.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_path(path.as_ref(), "stat", |p| std::fs::metadata(p)).await
}

/// A path's metadata, not following a final symbolic link.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    on_path(path.as_ref(), "stat", |p| std::fs::symlink_metadata(p)).await
}

/// The absolute path with every symbolic link resolved.
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    on_path(path.as_ref(), "canonicalize", |p| std::fs::canonicalize(p)).await
}

/// Whether the path exists (`Err` when that cannot be told, e.g. permission denied).
///
/// # Cancel safety
///
/// Not interrupted by a drop: see the [module docs](self#cancel-safety).
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    on_path(path.as_ref(), "stat", |p| p.try_exists()).await
}
