//! One child's pipe handed to another (`a | b`): `Stdio::try_from(ChildStdout)` and friends.

use ciranda::io::AsyncWriteExt;
use ciranda::process::{Command, Stdio};
use std::time::Duration;

/// The pipe must reach the next child in blocking mode: the reading child here starts
/// before anything is written, and a program like `cat` fails with `EAGAIN` ("Resource
/// temporarily unavailable") on an empty non-blocking stdin instead of waiting.
#[ciranda::test]
async fn a_childs_stdout_becomes_the_next_childs_blocking_stdin() {
    let mut writer = Command::new("sh")
        .args(["-c", "sleep 0.3; echo late"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let pipe = writer.stdout.take().expect("piped stdout");
    let reader = Command::new("cat")
        .stdin(Stdio::try_from(pipe).expect("convert the pipe"))
        .output();
    let out = ciranda::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("cat ends when sh does")
        .expect("cat runs");
    assert!(writer.wait().await.expect("wait sh").success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "cat complained about its stdin"
    );
    assert!(out.status.success(), "cat failed: {:?}", out.status);
    assert_eq!(out.stdout, b"late\n");
}

/// The same for a stderr pipe, and for a stdin pipe handed on as another child's stdout.
#[ciranda::test]
async fn stderr_and_stdin_pipes_are_handed_on_too() {
    let mut noisy = Command::new("sh")
        .args(["-c", "sleep 0.2; echo warning >&2"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let errors = noisy.stderr.take().expect("piped stderr");
    let upper = Command::new("tr")
        .args(["a-z", "A-Z"])
        .stdin(Stdio::try_from(errors).expect("convert stderr"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn tr");
    assert!(noisy.wait().await.expect("wait sh").success());
    let out = upper.wait_with_output().await.expect("tr output");
    assert_eq!(out.stdout, b"WARNING\n");

    // `cat` writes into a `wc -c`'s stdin pipe, which is in blocking mode when `cat` gets it.
    let mut count = Command::new("wc")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn wc");
    let sink = count.stdin.take().expect("piped stdin");
    let mut source = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::try_from(sink).expect("convert stdin"))
        .spawn()
        .expect("spawn cat");
    let mut feed = source.stdin.take().expect("cat's stdin");
    // More than a pipe holds, so `cat` meets a full pipe and must wait on it.
    feed.write_all(&vec![b'x'; 1 << 20])
        .await
        .expect("feed cat");
    drop(feed);
    assert!(source.wait().await.expect("wait cat").success());
    let out = count.wait_with_output().await.expect("wc output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1048576");
}

/// A closed stdin pipe cannot be handed on.
#[ciranda::test]
async fn a_closed_stdin_pipe_is_refused() {
    let mut child = Command::new("cat")
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn cat");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.close().await.expect("close");
    let err = Stdio::try_from(stdin).expect_err("a closed pipe is refused");
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    assert!(child.wait().await.expect("wait cat").success());
}
