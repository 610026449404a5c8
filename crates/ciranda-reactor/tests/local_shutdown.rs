#![cfg(not(loom))]
//! A write waiting for buffer space, and another task shutting the stream's write side down
//! (`shutdown(Write)`, or `close()` through a shared reference): the waiting write must fail
//! with `BrokenPipe` at once, as a blocking `write` would, not wait for the peer to read.
//!
//! For a Unix stream the kernel reports nothing to the poller for that shutdown (`unix_poll`
//! reports neither `EPOLLOUT` nor a hang-up for a send shutdown alone, and the buffer is still
//! full), so the writer slept until the peer read, for good if it never did: a connection
//! task and its descriptor leaked. TCP reports its send shutdown as writable; it is checked
//! here too.

use ciranda::{Flavor, Runtime};
use ciranda_reactor::net::{TcpListener, TcpStream, UnixStream};
use futures_util::io::AsyncWriteExt;
use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

/// How the other task shuts the write side down.
#[derive(Clone, Copy, Debug)]
enum How {
    ShutdownWrite,
    ShutdownBoth,
    Close,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A stream under test: `write` writes everything through `&S` until it fails, `shut` shuts
/// the write side down as `How` says.
trait Stream: Send + Sync + 'static {
    fn write_until_error(self: Arc<Self>) -> BoxFuture<io::Error>;
    fn shut(self: Arc<Self>, how: How) -> BoxFuture<io::Result<()>>;
}

macro_rules! stream_impl {
    ($t:ty) => {
        impl Stream for $t {
            fn write_until_error(self: Arc<Self>) -> BoxFuture<io::Error> {
                Box::pin(async move {
                    let chunk = vec![7u8; 1 << 20];
                    loop {
                        if let Err(e) = (&*self).write_all(&chunk).await {
                            return e;
                        }
                    }
                })
            }

            fn shut(self: Arc<Self>, how: How) -> BoxFuture<io::Result<()>> {
                Box::pin(async move {
                    match how {
                        How::ShutdownWrite => self.shutdown(Shutdown::Write),
                        How::ShutdownBoth => self.shutdown(Shutdown::Both),
                        How::Close => (&*self).close().await,
                    }
                })
            }
        }
    };
}

stream_impl!(UnixStream);
stream_impl!(TcpStream);

/// Starts a writer on `ours` (whose peer never reads), lets it fill the buffers and wait,
/// shuts the write side down from this task, and expects the writer to fail promptly.
async fn a_waiting_writer_fails_after_a_local_shutdown<S: Stream>(ours: Arc<S>, how: How) {
    let writer = ciranda::spawn(ours.clone().write_until_error());
    // Long enough for the buffers to fill and the writer to wait.
    ciranda::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !writer.is_finished(),
        "the writer should be waiting for room"
    );
    ours.shut(how).await.unwrap();
    let e = ciranda::time::timeout(Duration::from_secs(10), writer)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{how:?} from another task: the waiting writer was not woken within 10 s \
                 (the peer never reads)"
            )
        })
        .unwrap();
    assert_eq!(e.kind(), io::ErrorKind::BrokenPipe, "{how:?}: {e}");
}

fn runtimes() -> [Runtime; 2] {
    [Flavor::CurrentThread, Flavor::MultiThread].map(|flavor| {
        Runtime::builder()
            .flavor(flavor)
            .worker_threads(2)
            .build()
            .unwrap()
    })
}

#[test]
fn a_unix_write_waiting_for_room_fails_when_another_task_shuts_the_write_side_down() {
    for rt in runtimes() {
        with_watchdog(Duration::from_secs(60), move || {
            rt.block_on(async {
                for how in [How::ShutdownWrite, How::Close, How::ShutdownBoth] {
                    let (ours, _peer) = UnixStream::pair().unwrap();
                    a_waiting_writer_fails_after_a_local_shutdown(Arc::new(ours), how).await;
                }
            });
        });
    }
}

#[test]
fn a_tcp_write_waiting_for_room_fails_when_another_task_shuts_the_write_side_down() {
    for rt in runtimes() {
        with_watchdog(Duration::from_secs(60), move || {
            rt.block_on(async {
                for how in [How::ShutdownWrite, How::Close, How::ShutdownBoth] {
                    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let ours = TcpStream::connect(listener.local_addr().unwrap())
                        .await
                        .unwrap();
                    let (_peer, _) = listener.accept().await.unwrap();
                    a_waiting_writer_fails_after_a_local_shutdown(Arc::new(ours), how).await;
                }
            });
        });
    }
}
