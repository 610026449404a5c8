//! Re-running the current test binary as a child process, for tests whose subject is the
//! process's own standard streams: the child runs one test with [`CHILD_ENV`] set, and the
//! parent hands it pipes and checks what comes out.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child's environment: a test that finds it runs its child half.
pub const CHILD_ENV: &str = "CIRANDA_TEST_CHILD";

/// Whether this process is the child half of a test.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// A pipe as (read end, write end), both close-on-exec.
pub fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2(2) just opened both descriptors; each is owned once, here.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Runs this binary's test `name` as a child with [`CHILD_ENV`] set, calls `after_spawn`,
/// waits at most a minute for the child, and returns its stderr (it must succeed).
pub fn run_child(name: &str, stdin: Stdio, stdout: Stdio, after_spawn: impl FnOnce()) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        text
    });
    after_spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child hung: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stderr = reader.join().unwrap();
    assert!(status.success(), "the child failed ({status}):\n{stderr}");
    stderr
}

/// `len` bytes of the alphabet over and over: a payload whose bytes say where they belong.
pub fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// What a child wrote between its marks `<<` and `>>` (libtest's own lines go around them).
pub fn between_marks(got: &[u8]) -> &[u8] {
    let start = got
        .windows(2)
        .position(|w| w == b"<<")
        .expect("no start mark")
        + 2;
    let end = got
        .windows(2)
        .rposition(|w| w == b">>")
        .expect("no end mark");
    &got[start..end]
}
