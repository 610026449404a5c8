//! Child processes: the `Command` builder's defaults and what `output`/`status` leave behind.

use ciranda::process::{Command, Stdio};
use std::time::Duration;

/// `output()` pipes stdout/stderr and nulls stdin only for its own child: a later `spawn` of
/// the same `Command` inherits the streams it did not set, as documented.
#[ciranda::test]
async fn output_does_not_change_what_a_later_spawn_inherits() {
    let mut cmd = Command::new("true");
    assert!(cmd.output().await.unwrap().status.success());
    let mut child = cmd.spawn().unwrap();
    assert!(child.stdout.is_none(), "stdout left piped by output()");
    assert!(child.stderr.is_none(), "stderr left piped by output()");
    assert!(child.wait().await.unwrap().success());
}

/// `status()` hands out no pipes, so it must not hold one the child may fill: with stdout set
/// to `piped`, a child writing more than a pipe's buffer still finishes.
#[ciranda::test]
async fn status_with_piped_stdout_does_not_wait_on_a_full_pipe() {
    let status = ciranda::time::timeout(
        Duration::from_secs(20),
        Command::new("sh")
            .args(["-c", "head -c 1000000 /dev/zero"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .status(),
    )
    .await
    .expect("status() waited on a pipe nobody reads");
    status.unwrap();
}

/// A working directory that does not exist fails the spawn with the OS's "No such file or
/// directory", which alone reads as if the program were missing: the message names the
/// directory too.
#[ciranda::test]
async fn a_missing_working_directory_is_named_in_the_error() {
    let missing = std::env::temp_dir().join("ciranda-no-such-directory-for-process-test");
    let err = Command::new("true")
        .current_dir(&missing)
        .spawn()
        .map(drop)
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let message = err.to_string();
    assert!(message.contains("\"true\""), "{message}");
    assert!(
        message.contains(&format!("{:?}", missing.display().to_string())),
        "{message}"
    );
    // Without `current_dir` the message stays about the program.
    let err = Command::new("ciranda-no-such-program")
        .spawn()
        .map(drop)
        .unwrap_err();
    assert!(!err.to_string().contains("directory \""), "{err}");
}
