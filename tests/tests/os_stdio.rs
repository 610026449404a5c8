//! `ciranda::io::{stdin, stdout, stderr}` (issue 20). The test re-runs its own binary as a
//! child whose standard streams are a file and pipes.

use std::io::Write;
use std::process::{Command, Stdio};

const LINES: usize = 1_000_000;

/// The child's side: count and check stdin's lines, report on stdout and stderr.
fn child() {
    use ciranda::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use ciranda::stream::StreamExt;
    ciranda::run(async {
        let mut lines = BufReader::new(ciranda::io::stdin()).lines();
        let mut n = 0usize;
        while let Some(line) = lines.next().await {
            let line = line.unwrap();
            assert_eq!(line, format!("{n} the quick brown fox"), "line {n}");
            n += 1;
        }
        let mut out = ciranda::io::stdout();
        // libtest's "test ... " has no newline yet: start ours on a line of its own.
        out.write_all(b"\n").await.unwrap();
        // Many small writes, then one flush.
        for i in 0..1000 {
            out.write_all(format!("out {i}\n").as_bytes())
                .await
                .unwrap();
        }
        out.write_all(format!("LINES {n}\n").as_bytes())
            .await
            .unwrap();
        out.flush().await.unwrap();
        let mut err = ciranda::io::stderr();
        err.write_all(b"to stderr\n").await.unwrap();
        drop(err); // written on drop
    });
}

#[test]
fn stdin_lines_of_a_piped_million_line_file_and_stdout_stderr() {
    if std::env::var_os("CIRANDA_STDIO_CHILD").is_some() {
        return child();
    }
    let path = std::env::temp_dir().join(format!("ciranda-os-stdio-{}", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..LINES {
            writeln!(f, "{i} the quick brown fox").unwrap();
        }
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "stdin_lines_of_a_piped_million_line_file_and_stdout_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CIRANDA_STDIO_CHILD", "1")
        .stdin(Stdio::from(std::fs::File::open(&path).unwrap()))
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let ours: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("out ") || l.starts_with("LINES"))
        .collect();
    let expected: Vec<String> = (0..1000)
        .map(|i| format!("out {i}"))
        .chain([format!("LINES {LINES}")])
        .collect();
    assert!(ours == expected, "stdout:\n{stdout}");
    assert!(stderr.contains("to stderr\n"), "stderr:\n{stderr}");
}

/// The child's side of the next test: output left buffered in a `Stdout` and a `Stderr`
/// dropped at the end of the runtime's main future, while the runtime's only blocking thread
/// is busy, so the jobs that write it are still queued when the runtime shuts down.
fn child_dropping_buffered_output() {
    use ciranda::io::AsyncWriteExt;
    let rt = ciranda::Runtime::builder()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut out = ciranda::io::stdout();
        let mut err = ciranda::io::stderr();
        // libtest's "test ... " has no newline yet: start ours on a line of its own.
        out.write_all(b"\nbuffered to stdout\n").await.unwrap();
        err.write_all(b"\nbuffered to stderr\n").await.unwrap();
        // Holds the pool's one thread past the shutdown below.
        drop(ciranda::spawn_blocking(|| {
            std::thread::sleep(std::time::Duration::from_millis(300))
        }));
        ciranda::time::sleep(std::time::Duration::from_millis(20)).await;
    });
    drop(rt);
}

/// "Bytes still buffered when the handle is dropped are written anyway": a handle dropped
/// inside the runtime hands its bytes to a blocking job, and the runtime's shutdown cancels
/// the jobs still queued, so the output was lost whenever the job had not started yet (about
/// one run in ten of a plain `ciranda::run` that writes and returns; every time here, where the
/// pool's thread is busy).
#[test]
fn buffered_output_of_a_dropped_handle_survives_the_runtime_shutting_down() {
    if std::env::var_os("CIRANDA_STDIO_DROP_CHILD").is_some() {
        return child_dropping_buffered_output();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "buffered_output_of_a_dropped_handle_survives_the_runtime_shutting_down",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CIRANDA_STDIO_DROP_CHILD", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("\nbuffered to stdout\n"),
        "stdout lost the buffered bytes:\n{stdout}"
    );
    assert!(
        stderr.contains("\nbuffered to stderr\n"),
        "stderr lost the buffered bytes:\n{stderr}"
    );
}
