//! `ciranda::fs` (issue 20): round trips, buffering, seeking, read_dir, appends, errors.

use ciranda::fs::{self, File, OpenOptions};
use ciranda::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use ciranda::stream::StreamExt;
use std::collections::HashSet;
use std::io::{ErrorKind, SeekFrom};
use std::path::PathBuf;

fn rt() -> ciranda::Runtime {
    ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap()
}

/// A fresh directory for one test, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("ciranda-os-fs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn path_functions_round_trip() {
    let tmp = TempDir::new("round-trip");
    rt().block_on(async {
        let d = tmp.0.join("a/b/c");
        fs::create_dir_all(&d).await.unwrap();
        let f = d.join("x.bin");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        fs::write(&f, &data).await.unwrap();
        assert_eq!(fs::read(&f).await.unwrap(), data);
        assert_eq!(fs::metadata(&f).await.unwrap().len(), data.len() as u64);
        assert_eq!(
            fs::copy(&f, d.join("y.bin")).await.unwrap(),
            data.len() as u64
        );
        fs::rename(d.join("y.bin"), d.join("z.bin")).await.unwrap();
        assert!(!fs::try_exists(d.join("y.bin")).await.unwrap());
        assert_eq!(fs::read(d.join("z.bin")).await.unwrap(), data);
        fs::write(d.join("t.txt"), "olá\n").await.unwrap();
        assert_eq!(fs::read_to_string(d.join("t.txt")).await.unwrap(), "olá\n");
        let e = fs::read_to_string(&f).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        fs::remove_file(&f).await.unwrap();
        assert!(!fs::try_exists(&f).await.unwrap());
        fs::remove_dir_all(tmp.0.join("a")).await.unwrap();
        assert!(!fs::try_exists(tmp.0.join("a")).await.unwrap());
    });
}

#[test]
fn errors_name_the_path() {
    let tmp = TempDir::new("errors");
    rt().block_on(async {
        let missing = tmp.0.join("missing-ciranda-20");
        let name = missing.display().to_string();
        let errors = [
            fs::read(&missing).await.unwrap_err(),
            fs::read_to_string(&missing).await.unwrap_err(),
            fs::metadata(&missing).await.unwrap_err(),
            fs::remove_file(&missing).await.unwrap_err(),
            fs::remove_dir_all(&missing).await.unwrap_err(),
            fs::rename(&missing, tmp.0.join("other")).await.unwrap_err(),
            fs::copy(&missing, tmp.0.join("other")).await.unwrap_err(),
            File::open(&missing).await.unwrap_err(),
            fs::read_dir(&missing).await.unwrap_err(),
            fs::write(missing.join("sub"), "x").await.unwrap_err(),
        ];
        for e in errors {
            assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            assert!(e.to_string().contains(&name), "{e}");
        }
        // The destination is named when it is the one at fault.
        fs::write(tmp.0.join("src"), "x").await.unwrap();
        let to = tmp.0.join("no-dir/dst");
        let e = fs::copy(tmp.0.join("src"), &to).await.unwrap_err();
        assert!(e.to_string().contains(&to.display().to_string()), "{e}");
        let e = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(tmp.0.join("src"))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert!(e.to_string().contains("src"), "{e}");
    });
}

#[test]
fn file_small_writes_are_buffered_and_read_back_by_lines() {
    let tmp = TempDir::new("lines");
    rt().block_on(async {
        let path = tmp.0.join("lines.txt");
        let writes_before = syscw();
        let mut f = File::create(&path).await.unwrap();
        for i in 0..100_000 {
            f.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
        }
        f.flush().await.unwrap();
        let writes = syscw() - writes_before;
        // ~1.1 MB in 64 KiB buffers: a few dozen write(2)s, not 100 000 (other tests in this
        // binary write too, hence the slack).
        assert!(
            writes < 5_000,
            "{writes} write system calls for 100 000 small writes"
        );
        drop(f);

        let mut lines = BufReader::new(File::open(&path).await.unwrap()).lines();
        let mut n = 0;
        while let Some(line) = lines.next().await {
            assert_eq!(line.unwrap(), format!("line {n}"));
            n += 1;
        }
        assert_eq!(n, 100_000);
    });
}

/// write(2)-like system calls made by this process so far.
fn syscw() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn file_seek_read_write_set_len() {
    let tmp = TempDir::new("seek");
    rt().block_on(async {
        let path = tmp.0.join("f");
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        f.write_all(b"0123456789").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Start(2)).await.unwrap(), 2);
        let mut two = [0; 2];
        f.read_exact(&mut two).await.unwrap(); // reads ahead to the end
        assert_eq!(&two, b"23");
        // Relative seek and write land at the logical position, not after the read-ahead.
        assert_eq!(f.seek(SeekFrom::Current(1)).await.unwrap(), 5);
        f.write_all(b"ab").await.unwrap();
        f.read_exact(&mut two).await.unwrap();
        assert_eq!(&two, b"78");
        f.write_all(b"X").await.unwrap();
        f.flush().await.unwrap();
        assert_eq!(fs::read(&path).await.unwrap(), b"01234ab78X");
        assert_eq!(f.seek(SeekFrom::End(-1)).await.unwrap(), 9);
        f.set_len(4).await.unwrap();
        assert_eq!(f.metadata().await.unwrap().len(), 4);
        f.sync_all().await.unwrap();
        f.seek(SeekFrom::Start(0)).await.unwrap();
        let mut all = Vec::new();
        f.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"0123");
        // A write dropped without flush is still written.
        f.write_all(b"tail").await.unwrap();
        drop(f);
        for _ in 0..200 {
            if fs::read(&path).await.unwrap() == b"0123tail" {
                return;
            }
            ciranda::time::sleep(ciranda::time::Duration::from_millis(10)).await;
        }
        panic!(
            "buffered write lost at drop: {:?}",
            fs::read(&path).await.unwrap()
        );
    });
}

#[test]
fn read_dir_streams_ten_thousand_entries() {
    let tmp = TempDir::new("read-dir");
    let dir = tmp.0.clone();
    for i in 0..10_000 {
        std::fs::File::create(dir.join(format!("e{i}"))).unwrap();
    }
    rt().block_on(async {
        let mut entries = fs::read_dir(&dir).await.unwrap();
        let mut names = HashSet::new();
        while let Some(entry) = entries.next().await {
            let entry = entry.unwrap();
            assert_eq!(entry.path(), dir.join(entry.file_name()));
            assert!(names.insert(entry.file_name().into_string().unwrap()));
        }
        assert_eq!(names.len(), 10_000);
        assert!((0..10_000).all(|i| names.contains(&format!("e{i}"))));
        assert!(entries.next().await.is_none(), "stream ended for good");
        let mut entries = fs::read_dir(&dir).await.unwrap();
        let first = entries.next().await.unwrap().unwrap();
        assert!(first.file_type().await.unwrap().is_file());
        assert_eq!(first.metadata().await.unwrap().len(), 0);
    });
}

#[test]
fn read_dir_entries_know_their_type_without_following_links() {
    let tmp = TempDir::new("entry-types");
    let dir = tmp.0.clone();
    std::fs::File::create(dir.join("file")).unwrap();
    std::fs::create_dir(dir.join("dir")).unwrap();
    std::os::unix::fs::symlink(dir.join("dir"), dir.join("link")).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
    rt().block_on(async {
        let mut entries = fs::read_dir(&dir).await.unwrap();
        let mut listed = Vec::new();
        while let Some(entry) = entries.next().await {
            listed.push(entry.unwrap());
        }
        let mut kinds: Vec<(String, &str)> = Vec::new();
        for entry in &listed {
            let t = entry.file_type().await.unwrap();
            let kind = if t.is_symlink() {
                "symlink"
            } else if t.is_dir() {
                "dir"
            } else if t.is_file() {
                "file"
            } else {
                "other"
            };
            kinds.push((entry.file_name().into_string().unwrap(), kind));
        }
        kinds.sort();
        assert_eq!(
            kinds,
            [
                ("dangling".to_string(), "symlink"),
                ("dir".to_string(), "dir"),
                ("file".to_string(), "file"),
                ("link".to_string(), "symlink"),
            ]
        );
        // The type is the one found when the entry was listed (as std's, from the listing).
        let file = listed.iter().find(|e| e.file_name() == "file").unwrap();
        std::fs::remove_file(dir.join("file")).unwrap();
        std::fs::create_dir(dir.join("file")).unwrap();
        assert!(file.file_type().await.unwrap().is_file());
    });
}

#[test]
fn concurrent_appends_through_two_files_keep_every_line_whole() {
    let tmp = TempDir::new("append");
    let path = tmp.0.join("log");
    rt().block_on(async {
        let writers: Vec<_> = ["A", "B"]
            .into_iter()
            .map(|who| {
                let path = path.clone();
                ciranda::spawn(async move {
                    let mut f = OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&path)
                        .await
                        .unwrap();
                    for i in 0..20_000 {
                        f.write_all(format!("{who}-{i:05}-{}\n", who.repeat(20)).as_bytes())
                            .await
                            .unwrap();
                        if i % 1000 == 0 {
                            f.flush().await.unwrap();
                            ciranda::task::yield_now().await;
                        }
                    }
                    f.close().await.unwrap();
                })
            })
            .collect();
        for w in writers {
            w.await.unwrap();
        }
        let text = fs::read_to_string(&path).await.unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 40_000);
        for who in ["A", "B"] {
            let mine: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.starts_with(who))
                .collect();
            // Every line whole and each writer's lines in its own order.
            for (i, line) in mine.iter().enumerate() {
                assert_eq!(*line, format!("{who}-{i:05}-{}", who.repeat(20)));
            }
            assert_eq!(mine.len(), 20_000);
        }
    });
}

/// Polls `fut` once with a waker that does nothing, then drops it: a cancelled operation.
fn poll_once_and_drop<F: std::future::Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    let _ = fut
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()));
}

#[test]
fn cancelled_file_operations_leave_the_file_usable() {
    let tmp = TempDir::new("cancel");
    rt().block_on(async {
        let path = tmp.0.join("f");
        fs::write(&path, "0123456789").await.unwrap();
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        // A seek dropped while its job runs must not answer the next, different seek.
        poll_once_and_drop(f.seek(SeekFrom::Start(5)));
        assert_eq!(f.seek(SeekFrom::Start(1)).await.unwrap(), 1);
        let mut one = [0; 1];
        f.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"1");
        // Nor may a dropped sync_all/set_len break the file.
        f.write_all(b"ab").await.unwrap();
        poll_once_and_drop(f.sync_all());
        poll_once_and_drop(f.set_len(8));
        assert_eq!(f.seek(SeekFrom::Current(0)).await.unwrap(), 4);
        f.sync_all().await.unwrap();
        // The dropped set_len may or may not have started before it was dropped.
        let contents = fs::read(&path).await.unwrap();
        assert!(
            contents == b"01ab4567" || contents == b"01ab456789",
            "{:?}",
            String::from_utf8_lossy(&contents)
        );
        assert_eq!(f.metadata().await.unwrap().len(), contents.len() as u64);
    });
}

#[test]
fn file_and_read_dir_are_unpin_and_send() {
    fn check<T: Unpin + Send + 'static>() {}
    check::<File>();
    check::<fs::ReadDir>();
    check::<fs::DirEntry>();
    check::<ciranda::io::Stdin>();
    check::<ciranda::io::Stdout>();
    check::<ciranda::process::Child>();
    check::<ciranda::signal::unix::Signal>();
}

/// A runtime whose blocking pool has one thread, held for a second by a blocking call: a job
/// spawned meanwhile stays queued, and a shutdown begun meanwhile finds it still queued.
fn rt_with_busy_blocking_pool() -> ciranda::Runtime {
    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    drop(rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_secs(1));
    }));
    started_rx.recv().unwrap();
    rt
}

/// A `File` dropped with buffered writes at the end of `block_on` has its write queued on the
/// blocking pool; the runtime's shutdown right after must not cancel it: the data reaches the
/// file (as with Python's files, or Tokio's, whose file writes run even at shutdown).
#[test]
fn buffered_writes_of_a_dropped_file_survive_the_runtime_shutting_down() {
    let tmp = TempDir::new("drop-at-shutdown");
    let path = tmp.0.join("f");
    let rt = rt_with_busy_blocking_pool();
    let mut f = File::from_std(std::fs::File::create(&path).unwrap());
    rt.block_on(async {
        f.write_all(b"hello").await.unwrap();
        drop(f); // buffered: its write is queued behind the busy pool thread
    });
    drop(rt);
    assert_eq!(std::fs::read(&path).unwrap(), b"hello");
}

/// The same for a write job already started (a write larger than the buffer) when the `File`
/// is dropped, and for a `File` held by a task that the shutdown cancels.
#[test]
fn write_jobs_queued_at_shutdown_and_files_of_cancelled_tasks_reach_the_disk() {
    let tmp = TempDir::new("jobs-at-shutdown");
    let big_path = tmp.0.join("big");
    let held_path = tmp.0.join("held");
    let big: Vec<u8> = (0..3 * 64 * 1024 + 5).map(|i| (i % 251) as u8).collect();
    let rt = rt_with_busy_blocking_pool();
    let mut f = File::from_std(std::fs::File::create(&big_path).unwrap());
    let mut held = File::from_std(std::fs::File::create(&held_path).unwrap());
    rt.block_on(async {
        // Larger than the buffer: accepted at once, as one write job queued on the pool.
        f.write_all(&big).await.unwrap();
        drop(f);
    });
    let (tx, rx) = std::sync::mpsc::channel();
    drop(rt.spawn(async move {
        held.write_all(b"held by a task").await.unwrap();
        tx.send(()).unwrap();
        std::future::pending::<()>().await;
        drop(held);
    }));
    rx.recv().unwrap();
    drop(rt);
    let big_ok = std::fs::read(&big_path).unwrap() == big;
    assert_eq!(std::fs::read(&held_path).unwrap(), b"held by a task");
    assert!(big_ok, "the queued write job was lost");
}
