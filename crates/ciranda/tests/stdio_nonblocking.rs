//! `ciranda::io::{stdin, stdout}` when the descriptor behind the stream is non-blocking.
//!
//! `O_NONBLOCK` belongs to the open file description, which a process shares with everyone
//! holding the same terminal or pipe: a parent (Node.js sets it on the pipes it hands to
//! children), a shell, or another program on the same terminal may have set it. Each test
//! re-runs this binary as a child whose stream is a pipe made non-blocking, and fails (rather
//! than hangs) if the child does not finish.

#[path = "common/child.rs"]
mod child;
#[path = "common/pipes.rs"]
mod pipes;

use child::{between_marks, pipe, run_child};
use pipes::set_nonblocking;
use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

/// Bytes the child writes to its stdout: well past a pipe's 64 KiB.
const PAYLOAD: usize = 1 << 20;

/// A large write to a non-blocking stdout pipe that the reader empties slowly: the blocking
/// job's `write` says `EAGAIN` once the pipe is full. That came out of `poll_write`/`flush` as
/// an `Err(WouldBlock)` (which an `AsyncWrite` never returns: it means "pending"), and the
/// rest of the buffer was dropped.
#[test]
fn a_large_write_to_a_nonblocking_stdout_pipe_is_written_whole() {
    if child::is_child() {
        use ciranda::io::AsyncWriteExt;
        // The pipe is the child's own here: libtest's lines before and after this body are
        // written while it blocks.
        set_nonblocking(1, true);
        let result = ciranda::run(async {
            let payload = child::payload(PAYLOAD);
            let mut out = ciranda::io::stdout();
            out.write_all(b"\n<<").await?;
            out.write_all(&payload).await?;
            out.write_all(b">>\n").await?;
            out.flush().await
        });
        set_nonblocking(1, false);
        result.expect("writing to a non-blocking stdout");
        return;
    }
    let (read, write) = pipe();
    let mut read = std::fs::File::from(read);
    let mut output = None;
    run_child(
        "a_large_write_to_a_nonblocking_stdout_pipe_is_written_whole",
        Stdio::null(),
        Stdio::from(write),
        || {
            // Read on a thread of its own, so that a hung child fails the wait in
            // `run_child` instead of blocking this read for ever.
            output = Some(std::thread::spawn(move || {
                // Let the child fill the pipe before anything is read.
                std::thread::sleep(Duration::from_millis(300));
                let mut got = Vec::new();
                read.read_to_end(&mut got).unwrap();
                got
            }));
        },
    );
    let got = output.unwrap().join().unwrap();
    let body = between_marks(&got);
    assert_eq!(body.len(), PAYLOAD, "bytes lost on the way");
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, &b)| b == b'a' + (i % 26) as u8),
        "the payload came out garbled"
    );
}

/// A read of a non-blocking stdin pipe before its writer wrote anything: the blocking job's
/// `read` says `EAGAIN`, which came out of `poll_read` as an `Err(WouldBlock)` instead of a
/// wait for the input.
#[test]
fn a_read_of_a_nonblocking_empty_stdin_pipe_waits_for_input() {
    if child::is_child() {
        use ciranda::io::AsyncReadExt;
        let input = ciranda::run(async {
            let mut input = Vec::new();
            ciranda::io::stdin().read_to_end(&mut input).await?;
            std::io::Result::Ok(input)
        })
        .expect("reading a non-blocking stdin");
        assert_eq!(input, b"late input\n");
        eprintln!("STDIN-OK");
        return;
    }
    let (read, write) = pipe();
    set_nonblocking(std::os::fd::AsRawFd::as_raw_fd(&read), true);
    let mut write = Some(std::fs::File::from(write));
    let stderr = run_child(
        "a_read_of_a_nonblocking_empty_stdin_pipe_waits_for_input",
        Stdio::from(read),
        Stdio::null(),
        || {
            // Input arrives well after the child started reading.
            std::thread::sleep(Duration::from_millis(300));
            // `EPIPE` if the child already gave up: its failure is reported below.
            let _ = write.take().unwrap().write_all(b"late input\n");
        },
    );
    assert!(stderr.contains("STDIN-OK"), "{stderr}");
}
