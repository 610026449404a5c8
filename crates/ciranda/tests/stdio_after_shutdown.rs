//! `ciranda::io::{stdin, stdout, stderr}` used in a `Handle::block_on` after the runtime shut
//! down: their blocking jobs never run, and the error must say so.

use ciranda::io::{AsyncReadExt, AsyncWriteExt};

/// The error was the cancelled job's `JoinError` as is, "task 7 was cancelled": it named
/// neither the stream nor the shutdown. The next operation's error already did ("a blocking
/// job was lost (the runtime shut down ...)").
#[test]
fn standard_streams_after_the_runtime_shut_down_say_so() {
    let rt = ciranda::Runtime::new().unwrap();
    let handle = rt.handle();
    drop(rt);
    let errors = handle.block_on(async {
        let mut byte = [0u8; 1];
        let mut stdin = ciranda::io::stdin();
        let mut stdout = ciranda::io::stdout();
        let mut stderr = ciranda::io::stderr();
        // The writes are buffered; the flushes need a job. (The bytes of a job dropped unrun
        // are written by its drop, here: a newline each.)
        stdout.write_all(b"\n").await.unwrap();
        stderr.write_all(b"\n").await.unwrap();
        [
            ("stdin", stdin.read(&mut byte).await.unwrap_err()),
            ("stdin", stdin.read(&mut byte).await.unwrap_err()),
            ("stdout", stdout.flush().await.unwrap_err()),
            ("stdout", stdout.flush().await.unwrap_err()),
            ("stderr", stderr.flush().await.unwrap_err()),
            ("stderr", stderr.flush().await.unwrap_err()),
        ]
    });
    for (stream, e) in errors {
        let message = e.to_string();
        assert!(
            message.starts_with(&format!("ciranda::io::{stream}: ")),
            "{message}"
        );
        assert!(message.contains("runtime shut down"), "{message}");
    }
}
