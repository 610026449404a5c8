#![cfg(not(loom))]
//! `UnixStream::peer_cred`: the credentials are the peer's, not ours. A child process (this
//! test binary again, in its child mode) connects to a listener; the accepted stream names the
//! child's pid, and the child's stream names ours.

use ciranda_reactor::block_on;
use ciranda_reactor::net::{UnixListener, UnixStream};
use futures_util::AsyncReadExt;
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

/// Set in the child's environment: the socket path it connects to.
const CHILD_PATH: &str = "CIRANDA_PEER_CRED_CHILD";

/// The child's side: connect, send one byte, wait for the parent to close. Run by the parent
/// through this binary; a plain test run (no variable set) does nothing here.
#[test]
fn child_connects() {
    let Some(path) = std::env::var_os(CHILD_PATH) else {
        return;
    };
    let mut stream = std::os::unix::net::UnixStream::connect(path).unwrap();
    stream.write_all(b"c").unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
}

#[test]
fn a_pair_names_this_process() {
    block_on(async {
        let (a, b) = UnixStream::pair()?;
        for s in [&a, &b] {
            let cred = s.peer_cred()?;
            // SAFETY: `getuid` and `getgid` read the caller's ids; they cannot fail.
            assert_eq!(cred.uid(), unsafe { libc::getuid() });
            // SAFETY: as above.
            assert_eq!(cred.gid(), unsafe { libc::getgid() });
            #[cfg(any(target_os = "linux", target_os = "android"))]
            assert_eq!(cred.pid(), Some(std::process::id() as i32));
        }
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn an_accepted_connection_names_the_process_that_connected() {
    with_watchdog(Duration::from_secs(60), || {
        let path =
            std::env::temp_dir().join(format!("ciranda-peer-cred-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        block_on(async {
            let listener = UnixListener::bind(&path)?;
            let mut child = Command::new(std::env::current_exe()?)
                .args(["--exact", "child_connects", "--test-threads=1"])
                .env(CHILD_PATH, &path)
                .stdout(Stdio::null())
                .spawn()?;
            let (mut accepted, _) = listener.accept().await?;
            // Read what the child sent: a Unix stream closed with unread data resets the peer.
            let mut byte = [0];
            accepted.read_exact(&mut byte).await?;
            assert_eq!(&byte, b"c");
            let cred = accepted.peer_cred()?;
            #[cfg(any(target_os = "linux", target_os = "android"))]
            assert_eq!(cred.pid(), Some(child.id() as i32));
            // SAFETY: `getuid` reads the caller's id; it cannot fail.
            assert_eq!(cred.uid(), unsafe { libc::getuid() });
            // The halves reach the same stream.
            let (r, w) = accepted.into_split();
            assert_eq!(r.as_ref().peer_cred()?, cred);
            drop((r, w)); // the child reads EOF and exits
            assert!(child.wait()?.success());
            io::Result::Ok(())
        })
        .unwrap();
        let _ = std::fs::remove_file(&path);
    });
}
