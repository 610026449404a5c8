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
