//! `ciranda::io::stdout()` given one huge write: it must take a bounded part (a short write)
//! rather than copy the whole slice into its buffer, and `write_all` must still write every
//! byte. The test re-runs this binary as a child whose stdout is a pipe read by the parent.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes written: well past the 2 MiB one write may take.
const PAYLOAD: usize = 5 << 20;
/// The most one write may take (Tokio's cap of one blocking job).
const CAP: usize = 2 << 20;

fn payload() -> Vec<u8> {
    (0..PAYLOAD).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Before the fix a write took the whole 5 MiB slice into the buffer (one copy of any size,
/// 1 GiB for a 1 GiB write).
#[test]
fn a_huge_write_to_stdout_is_short_and_write_all_writes_every_byte() {
    if std::env::var_os("CIRANDA_LARGE_WRITE_CHILD").is_some() {
        use ciranda::io::AsyncWriteExt;
        let first = ciranda::run(async {
            let payload = payload();
            let mut out = ciranda::io::stdout();
            out.write_all(b"\n<<").await?;
            out.flush().await?;
            // Into an empty buffer: the case that took any size whole.
            let first = out.write(&payload).await?;
            out.write_all(&payload[first..]).await?;
            out.write_all(b">>\n").await?;
            out.flush().await?;
            std::io::Result::Ok(first)
        })
        .expect("writing to stdout");
        eprintln!("FIRST-WRITE {first}");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_huge_write_to_stdout_is_short_and_write_all_writes_every_byte",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CIRANDA_LARGE_WRITE_CHILD", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let mut stdout = child.stdout.take().unwrap();
    let output = std::thread::spawn(move || {
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).unwrap();
        got
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child hung: {}", errors.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let errors = errors.join().unwrap();
    let got = output.join().unwrap();
    assert!(status.success(), "the child failed ({status}):\n{errors}");
    let first: usize = errors
        .lines()
        .find_map(|line| line.strip_prefix("FIRST-WRITE "))
        .unwrap_or_else(|| panic!("no report of the first write:\n{errors}"))
        .parse()
        .unwrap();
    assert!(
        first > 0 && first <= CAP,
        "one write took {first} bytes (at most {CAP})"
    );
    let start = got
        .windows(2)
        .position(|w| w == b"<<")
        .expect("no start mark")
        + 2;
    let end = got
        .windows(2)
        .rposition(|w| w == b">>")
        .expect("no end mark");
    assert!(
        got[start..end] == payload()[..],
        "bytes lost or garbled: {} bytes between the marks, {PAYLOAD} written",
        end - start
    );
}
