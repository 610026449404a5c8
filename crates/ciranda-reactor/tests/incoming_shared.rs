#![cfg(not(loom))]
//! Several `incoming()` streams of one listener, each polled by a task of its own (a pool of
//! accept loops sharing an `Arc<TcpListener>`): every stream must be woken when a connection
//! waits, not only the one polled last.
//!
//! Each acceptor holds the connection it accepted open (reads it to its end), so once some
//! have taken a connection only the others can take the next. With one waker slot per
//! listener (what the `poll_accept` methods have), each stream's waker replaced the one polled
//! before it: only the last stream polled was woken, and the second connection waited in the
//! backlog for good.

use ciranda::{Flavor, Runtime};
use ciranda_reactor::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use futures_util::io::AsyncReadExt;
use futures_util::stream::StreamExt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

const ACCEPTORS: usize = 3;

#[path = "support/watchdog.rs"]
mod watchdog;
use watchdog::with_watchdog;

fn runtime(flavor: Flavor) -> Runtime {
    Runtime::builder()
        .flavor(flavor)
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Serves one accepted connection: reports `id`, then reads it to its end.
async fn hold<S: futures_util::io::AsyncRead + Unpin>(
    id: usize,
    mut conn: S,
    took: &ciranda::sync::mpsc::UnboundedSender<usize>,
) -> io::Result<()> {
    took.send(id).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).await?;
    Ok(())
}

/// With the acceptors spawned (each reporting its id on `took` per connection), lets them all
/// wait, then connects `ACCEPTORS` clients with `connect`, each once the previous one was
/// accepted, and checks that every acceptor took one.
async fn connect_one_per_acceptor<C, F>(
    mut taken: ciranda::sync::mpsc::UnboundedReceiver<usize>,
    connect: impl Fn() -> F,
) where
    F: std::future::Future<Output = io::Result<C>>,
{
    // Let every acceptor poll its stream and wait before the first client arrives.
    for _ in 0..10 {
        ciranda::task::yield_now().await;
    }
    ciranda::time::sleep(Duration::from_millis(50)).await;
    let mut clients = Vec::new();
    let mut who = Vec::new();
    for n in 0..ACCEPTORS {
        clients.push(connect().await.unwrap());
        let id = ciranda::time::timeout(Duration::from_secs(10), taken.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "connection {n} was not accepted within 10 s, though {} of the {ACCEPTORS} \
                     acceptors were idle, waiting on their incoming() streams",
                    ACCEPTORS - n
                )
            })
            .unwrap();
        who.push(id);
    }
    who.sort_unstable();
    assert_eq!(who, (0..ACCEPTORS).collect::<Vec<_>>());
}

#[test]
fn several_tcp_incoming_streams_of_one_listener_are_each_woken() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        with_watchdog(Duration::from_secs(60), move || {
            runtime(flavor).block_on(async {
                let listener = Arc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
                let addr = listener.local_addr().unwrap();
                let (took, taken) = ciranda::sync::mpsc::unbounded_channel();
                let acceptors: Vec<_> = (0..ACCEPTORS)
                    .map(|id| {
                        let (listener, took) = (listener.clone(), took.clone());
                        ciranda::spawn(async move {
                            let mut incoming = listener.incoming();
                            while let Some(conn) = incoming.next().await {
                                hold(id, conn?, &took).await?;
                            }
                            io::Result::Ok(())
                        })
                    })
                    .collect();
                connect_one_per_acceptor(taken, || TcpStream::connect(addr)).await;
                for a in acceptors {
                    a.abort();
                }
            });
        });
    }
}

#[test]
fn several_unix_incoming_streams_of_one_listener_are_each_woken() {
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread] {
        with_watchdog(Duration::from_secs(60), move || {
            runtime(flavor).block_on(async {
                let name = format!("\0ciranda-incoming-shared-{}", std::process::id());
                let listener = Arc::new(UnixListener::bind(&name).unwrap());
                let (took, taken) = ciranda::sync::mpsc::unbounded_channel();
                let acceptors: Vec<_> = (0..ACCEPTORS)
                    .map(|id| {
                        let (listener, took) = (listener.clone(), took.clone());
                        ciranda::spawn(async move {
                            let mut incoming = listener.incoming();
                            while let Some(conn) = incoming.next().await {
                                hold(id, conn?, &took).await?;
                            }
                            io::Result::Ok(())
                        })
                    })
                    .collect();
                connect_one_per_acceptor(taken, || UnixStream::connect(&name)).await;
                for a in acceptors {
                    a.abort();
                }
            });
        });
    }
}

/// A waker that counts its live clones through its `Arc`.
struct Counted;

impl std::task::Wake for Counted {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_dropped_incoming_stream_leaves_no_waker_behind() {
    with_watchdog(Duration::from_secs(60), || {
        let rt = runtime(Flavor::CurrentThread);
        let _entered = rt.enter();
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let name = format!("\0ciranda-incoming-dropped-{}", std::process::id());
        let unix = UnixListener::bind(&name).unwrap();
        let counted = Arc::new(Counted);
        let waker = std::task::Waker::from(counted.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        {
            let mut incoming = listener.incoming();
            assert!(incoming.poll_next_unpin(&mut cx).is_pending());
            let mut incoming = unix.incoming();
            assert!(incoming.poll_next_unpin(&mut cx).is_pending());
            assert!(Arc::strong_count(&counted) > 2, "both streams wait");
        }
        assert_eq!(
            Arc::strong_count(&counted),
            2,
            "a dropped incoming() stream still holds its waker"
        );
    });
}
