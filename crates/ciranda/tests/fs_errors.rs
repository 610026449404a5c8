//! `ciranda::fs` errors of the two-path operations: they name both paths without blaming the
//! wrong one.

use std::io::ErrorKind;
use std::path::PathBuf;

/// A directory of its own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "ciranda-fs-errors-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `std::fs::copy` and `rename` do not say which of their two paths failed: the message names
/// both as the operation's (`cannot copy "a" to "b": ...`) rather than saying "cannot copy to
/// b" when it is `a` that is missing.
#[ciranda::test]
async fn copy_and_rename_of_a_missing_source_do_not_blame_the_destination() {
    let tmp = TempDir::new("two-paths");
    let (from, to) = (tmp.0.join("missing"), tmp.0.join("dst"));
    let copy = ciranda::fs::copy(&from, &to).await.unwrap_err();
    let rename = ciranda::fs::rename(&from, &to).await.unwrap_err();
    for (op, e) in [("copy", copy), ("rename", rename)] {
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let expected = format!("cannot {op} {from:?} to {to:?}: ");
        assert!(e.to_string().starts_with(&expected), "{e}");
        assert!(!e.to_string().contains(&format!("{op} to")), "{e}");
    }
    // A destination in a missing directory: both named, the kind kept.
    std::fs::write(tmp.0.join("src"), "x").unwrap();
    let to = tmp.0.join("no-dir").join("dst");
    let e = ciranda::fs::copy(tmp.0.join("src"), &to).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot copy {:?} to {to:?}: ", tmp.0.join("src"))),
        "{e}"
    );
}

/// On a runtime that has shut down (a `Handle::block_on` after it) a blocking call never
/// runs. The error said only "task 7 was cancelled": neither the operation, nor the path,
/// nor why. It names all three now, keeping the kind `JoinError`'s conversion gives.
#[test]
fn calls_after_the_runtime_shut_down_name_the_operation_the_path_and_the_shutdown() {
    let tmp = TempDir::new("shut-down");
    let f = tmp.0.join("f");
    std::fs::write(&f, "x").unwrap();
    let rt = ciranda::Runtime::new().unwrap();
    let handle = rt.handle();
    let mut file = rt.block_on(ciranda::fs::File::open(&f)).unwrap();
    drop(rt);
    let (errors, file_errors) = handle.block_on(async {
        use ciranda::io::AsyncReadExt;
        let errors = [
            ("read", f.clone(), ciranda::fs::read(&f).await.unwrap_err()),
            (
                "stat",
                f.clone(),
                ciranda::fs::metadata(&f).await.unwrap_err(),
            ),
            (
                "open",
                f.clone(),
                ciranda::fs::File::open(&f).await.unwrap_err(),
            ),
            (
                "read directory",
                tmp.0.clone(),
                ciranda::fs::read_dir(&tmp.0).await.unwrap_err(),
            ),
            (
                "copy",
                f.clone(),
                ciranda::fs::copy(&f, tmp.0.join("g")).await.unwrap_err(),
            ),
        ];
        let mut buf = [0u8; 1];
        let file_errors = [
            file.read(&mut buf).await.unwrap_err(),
            file.read(&mut buf).await.unwrap_err(),
        ];
        (errors, file_errors)
    });
    for (op, path, e) in errors {
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("cannot {op} {path:?}")),
            "{message}"
        );
        assert!(message.contains("runtime shut down"), "{message}");
    }
    for e in file_errors {
        let message = e.to_string();
        assert!(message.starts_with("ciranda::fs::File: "), "{message}");
        assert!(message.contains("runtime shut down"), "{message}");
    }
}
