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

/// An environment variable the child could not receive as given fails the spawn, naming it.
/// The environment reaches the child as `NAME=value` entries split at the first `=`, so
/// `env("A=B", "c")` would reach it as `A` set to `B=c`, and an empty name as an entry no
/// lookup finds, both silently (asyncio refuses them: "illegal environment variable name"); a
/// NUL byte was refused without saying which variable holds it.
#[ciranda::test]
async fn an_environment_variable_the_child_cannot_receive_is_an_error_naming_it() {
    for (name, value, problem) in [
        ("A=B", "c", "'=' in its name"),
        ("", "c", "empty name"),
        ("A\0B", "c", "NUL byte in its name"),
        ("A", "c\0d", "NUL byte in its value"),
    ] {
        let err = Command::new("sh")
            .args(["-c", "echo \"A=[$A]\""])
            .env(name, value)
            .output()
            .await
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
        let message = err.to_string();
        assert!(message.contains(&format!("{name:?}")), "{message}");
        assert!(message.contains(problem), "{message}");
        assert!(message.contains("\"sh\""), "{message}");
    }
    // A removal of such a name reaches nobody; an '=' in a value is fine.
    let out = Command::new("sh")
        .args(["-c", "echo \"$A\""])
        .env("A", "b=c")
        .env_remove("X=Y")
        .output()
        .await
        .unwrap();
    assert_eq!(out.stdout, b"b=c\n");
}

/// A NUL byte in an argument (a path from user input, say), the program name or the working
/// directory fails the spawn naming the input (and an argument's position): the child could not
/// receive it, so std refuses it, but keeps a placeholder in its place and says only "nul byte
/// found in provided data": with many arguments the caller had to guess, and a program or
/// directory with a NUL was named as `"<string-with-nul>"`.
#[ciranda::test]
async fn a_nul_byte_in_an_argument_the_program_or_the_directory_is_an_error_naming_it() {
    let err = Command::new("cat")
        .args(["--", "ok.txt", "bad\0name.txt", "also\0bad.txt"])
        .output()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(message.contains("\"cat\""), "{message}");
    assert!(
        message.contains(r#"argument 3 "bad\0name.txt""#),
        "{message}"
    );
    assert!(message.contains("NUL"), "{message}");
    assert!(!message.contains("<string-with-nul>"), "{message}");

    let mut command = Command::new("c\0at");
    assert_eq!(command.get_program(), "c\0at");
    let err = command.spawn().map(drop).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(message.contains(r#""c\0at""#), "{message}");
    assert!(message.contains("program name"), "{message}");
    assert!(!message.contains("<string-with-nul>"), "{message}");

    let err = Command::new("true")
        .current_dir("/tmp\0x")
        .status()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(r#"working directory "/tmp\0x""#),
        "{message}"
    );
    assert!(!message.contains("<string-with-nul>"), "{message}");
}
