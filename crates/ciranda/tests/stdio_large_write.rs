//! `ciranda::io::stdout()` given one huge write: it must take a bounded part (a short write)
//! rather than copy the whole slice into its buffer, and `write_all` must still write every
//! byte. The test re-runs this binary as a child whose stdout is a pipe read by the parent.

#[path = "common/child.rs"]
mod child;

use child::{between_marks, pipe, run_child};
use std::io::Read;
use std::process::Stdio;

/// Bytes written: well past the 2 MiB one write may take.
const PAYLOAD: usize = 5 << 20;
/// The most one write may take (Tokio's cap of one blocking job).
const CAP: usize = 2 << 20;

fn payload() -> Vec<u8> {
    child::payload(PAYLOAD)
}

/// Before the fix a write took the whole 5 MiB slice into the buffer (one copy of any size,
/// 1 GiB for a 1 GiB write).
#[test]
fn a_huge_write_to_stdout_is_short_and_write_all_writes_every_byte() {
    if child::is_child() {
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
    let (read, write) = pipe();
    let mut read = std::fs::File::from(read);
    let mut output = None;
    let errors = run_child(
        "a_huge_write_to_stdout_is_short_and_write_all_writes_every_byte",
        Stdio::null(),
        Stdio::from(write),
        || {
            // Drained while the child writes (it writes more than a pipe holds), on a thread
            // of its own so that a hung child fails the wait in `run_child`.
            output = Some(std::thread::spawn(move || {
                let mut got = Vec::new();
                read.read_to_end(&mut got).unwrap();
                got
            }));
        },
    );
    let got = output.unwrap().join().unwrap();
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
    let body = between_marks(&got);
    assert!(
        *body == payload()[..],
        "bytes lost or garbled: {} bytes between the marks, {PAYLOAD} written",
        body.len()
    );
}
