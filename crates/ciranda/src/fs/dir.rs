//! `read_dir` as a `Stream`, read in batches on the blocking pool.

use crate::task::JoinHandle;
use futures_core::Stream;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Entries read per trip to the blocking pool.
const BATCH: usize = 64;

/// Opens a directory for listing; its entries come as a [`Stream`] (`.` and `..` excluded,
/// in no particular order).
///
/// # Examples
///
/// ```
/// use ciranda::stream::StreamExt;
///
/// ciranda::run(async {
///     let mut entries = ciranda::fs::read_dir("/proc/self").await?;
///     let mut names = Vec::new();
///     while let Some(entry) = entries.next().await {
///         names.push(entry?.file_name());
///     }
///     assert!(names.iter().any(|n| n == "status"));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// Not interrupted by a drop: see [`fs`](crate::fs#cancel-safety).
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let job_path = path.clone();
    let dir = crate::spawn_blocking(move || {
        std::fs::read_dir(&job_path).map_err(|e| super::path_error(e, "read directory", &job_path))
    })
    .await
    .map_err(|e| {
        super::path_error(crate::task::blocking_call_error(e), "read directory", &path)
    })??;
    Ok(ReadDir {
        path: path.clone(),
        state: State::Idle(Some(Batch {
            dir,
            path,
            entries: VecDeque::new(),
            done: false,
        })),
    })
}

/// The entries of a directory: `Stream<Item = io::Result<DirEntry>>`. Made by [`read_dir`].
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let entries: ciranda::fs::ReadDir = ciranda::fs::read_dir("/").await?;
///     # drop(entries);
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct ReadDir {
    /// The directory, for the error of a batch the runtime's shutdown dropped.
    path: PathBuf,
    state: State,
}

struct Batch {
    dir: std::fs::ReadDir,
    path: PathBuf,
    entries: VecDeque<io::Result<DirEntry>>,
    done: bool,
}

enum State {
    /// `None` only after a blocking job was lost (panicked or cancelled by shutdown).
    Idle(Option<Batch>),
    Busy(JoinHandle<Batch>),
}

impl fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Idle(batch) => {
                    let Some(b) = batch else {
                        return Poll::Ready(None);
                    };
                    if let Some(entry) = b.entries.pop_front() {
                        return Poll::Ready(Some(entry));
                    }
                    if b.done {
                        return Poll::Ready(None);
                    }
                    let mut b = batch.take().expect("checked above");
                    self.state = State::Busy(crate::spawn_blocking(move || {
                        for _ in 0..BATCH {
                            match b.dir.next() {
                                Some(entry) => {
                                    b.entries.push_back(entry.map(DirEntry::new).map_err(|e| {
                                        super::path_error(e, "read directory", &b.path)
                                    }))
                                }
                                None => {
                                    b.done = true;
                                    break;
                                }
                            }
                        }
                        b
                    }));
                }
                State::Busy(job) => {
                    let result = ready!(Pin::new(job).poll(cx));
                    match result {
                        Ok(batch) => self.state = State::Idle(Some(batch)),
                        Err(e) => {
                            self.state = State::Idle(None);
                            let e = crate::task::blocking_call_error(e);
                            let e = super::path_error(e, "read directory", &self.path);
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
    }
}

use std::future::Future;

/// One entry of a [`ReadDir`].
///
/// # Examples
///
/// ```
/// use ciranda::stream::StreamExt;
///
/// ciranda::run(async {
///     let mut entries = ciranda::fs::read_dir("/").await?;
///     let entry: ciranda::fs::DirEntry = entries.next().await.unwrap()?;
///     assert_eq!(entry.path().parent(), Some(std::path::Path::new("/")));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
#[derive(Debug)]
pub struct DirEntry {
    std: std::fs::DirEntry,
    /// The entry's type, asked on the blocking pool with the listing: where the directory
    /// does not say (`DT_UNKNOWN`: some XFS, NFS and FUSE file systems), std asks with an
    /// `lstat`, which must not run on a worker. `None` if that failed (the entry went away).
    file_type: Option<super::FileType>,
}

impl DirEntry {
    /// An entry read on the blocking pool (this runs there).
    fn new(std: std::fs::DirEntry) -> DirEntry {
        let file_type = std.file_type().ok();
        DirEntry { std, file_type }
    }

    /// The directory's path joined with this entry's name.
    pub fn path(&self) -> PathBuf {
        self.std.path()
    }

    /// The entry's name, without its directory.
    pub fn file_name(&self) -> OsString {
        self.std.file_name()
    }

    /// The entry's metadata (not following a final symbolic link), on the blocking pool.
    ///
    /// # Cancel safety
    ///
    /// Nothing to lose: the call only reads; a dropped future lets it finish on the blocking pool
    /// and drops the answer.
    pub async fn metadata(&self) -> io::Result<super::Metadata> {
        super::symlink_metadata(self.path()).await
    }

    /// The entry's type (not following a symbolic link), as found when the entry was listed:
    /// from the listing itself, or by an `lstat` made then on the blocking pool where the
    /// file system does not say. If that failed, it is asked again, on the blocking pool.
    ///
    /// # Cancel safety
    ///
    /// Nothing to lose: the call only reads (a dropped retry lets it finish on the blocking
    /// pool and drops the answer).
    pub async fn file_type(&self) -> io::Result<super::FileType> {
        match self.file_type {
            Some(known) => Ok(known),
            None => Ok(super::symlink_metadata(self.path()).await?.file_type()),
        }
    }
}
