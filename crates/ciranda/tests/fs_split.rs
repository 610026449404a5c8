//! `ciranda::fs::File` split into a read half and a write half used by two tasks.

#[path = "common/pipes.rs"]
mod pipes;

use ciranda::fs::OpenOptions;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use pipes::Fifo;
use std::io::Write;
use std::time::Duration;

/// A `File` split into halves used by two tasks (`AsyncReadExt::split`): the reader's read
/// job waits for data, the writer's `write` waits for that job to end before it can use the
/// buffer. The job's join handle kept only the latest waker, the writer's, so when data came
/// the writer went on and the reader was never woken. A FIFO makes the read job wait for as
/// long as the test wants; on a regular file the same happens whenever the two polls meet
/// during a job.
#[ciranda::test]
async fn split_halves_polled_by_two_tasks_are_both_woken() {
    let fifo = Fifo::new("fs-split-split");
    // Linux opens a FIFO `O_RDWR` without waiting for a peer.
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo.path())
        .await
        .unwrap();
    let mut peer = std::fs::OpenOptions::new()
        .write(true)
        .open(fifo.path())
        .unwrap();
    let (mut reader, mut writer) = file.split();
    let reading = ciranda::spawn(async move {
        let mut bytes = [0u8; 5];
        reader.read_exact(&mut bytes).await.unwrap();
        bytes
    });
    // The reader's job is now waiting in `read`.
    ciranda::time::sleep(Duration::from_millis(100)).await;
    let writing = ciranda::spawn(async move {
        writer.write_all(b"x").await.unwrap();
        writer
    });
    // The writer now waits for the reader's job too.
    ciranda::time::sleep(Duration::from_millis(100)).await;
    peer.write_all(b"hello").unwrap();

    let writer = ciranda::time::timeout(Duration::from_secs(20), writing)
        .await
        .expect("the writer was never woken")
        .unwrap();
    let got = ciranda::time::timeout(Duration::from_secs(20), reading)
        .await
        .expect("the reader was never woken")
        .unwrap();
    assert_eq!(&got, b"hello");
    drop(writer);
}
