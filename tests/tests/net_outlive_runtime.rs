//! Sockets that outlive their runtime (issue 15, item 5).
//!
//! A socket is registered with the reactor of the runtime it was made in. Once that runtime is
//! dropped and no `Handle` of it is left, nothing can ever report the socket's readiness: before
//! the fix, a read that had to wait then hung forever. Now the reactor shuts down when its last
//! handle goes: a waiting operation is woken and fails, and a later one that would have to wait
//! fails at once, with an `io::Error` saying that the runtime was shut down. (An operation that
//! does not need to wait — a write with buffer space, a read of data already there — still
//! works: the descriptor is open until the socket is dropped.) Each test runs under a hang
//! detector.

use ciranda::Runtime;
use ciranda::io::{Async, AsyncReadExt};
use ciranda::net::{TcpListener, TcpStream, UdpSocket};
use ciranda_tests::support::within;
use std::io;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;

const GONE: &str = "has been shut down";

fn runtime() -> Runtime {
    Runtime::builder().worker_threads(1).build().unwrap()
}

fn assert_gone<T: std::fmt::Debug>(what: &str, r: io::Result<T>) {
    let e = r.expect_err(what);
    assert!(e.to_string().contains(GONE), "{what}: {e}");
    assert!(e.to_string().contains("runtime"), "{what}: {e}");
}

/// A connected TCP pair, a listener and a UDP socket made in a runtime that is then dropped.
fn sockets_of_a_dropped_runtime() -> (TcpListener, TcpStream, TcpStream, UdpSocket) {
    let a = runtime();
    let sockets = a.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        (listener, client, server, udp)
    });
    drop(a);
    sockets
}

#[test]
fn waits_on_sockets_of_a_dropped_runtime_fail_at_once_in_another() {
    within(20, "sockets after their runtime", || {
        let (listener, client, server, udp) = sockets_of_a_dropped_runtime();
        let b = runtime();
        b.block_on(async {
            let mut buf = [0u8; 8];
            assert_gone("TcpStream::read", (&client).read(&mut buf).await);
            assert_gone("TcpStream::readable", client.readable().await);
            assert_gone("TcpStream::peek", client.peek(&mut buf).await);
            assert_gone("TcpListener::accept", listener.accept().await);
            assert_gone("UdpSocket::recv_from", udp.recv_from(&mut buf).await);
            // Nothing to wait for: the write goes straight to the kernel, and the peer (an
            // open descriptor) has the data; reading it needs no wait either.
            ciranda::io::AsyncWriteExt::write_all(&mut &client, b"still")
                .await
                .unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let n = (&server).read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"still");
        });
    });
}

#[test]
fn async_fds_of_a_dropped_runtime_fail_at_once_in_another() {
    within(20, "Async<T> after its runtime", || {
        let a = runtime();
        let (x, _y) = UnixStream::pair().unwrap();
        let x = {
            let _entered = a.enter();
            Async::new(x).unwrap()
        };
        drop(a);
        let b = runtime();
        b.block_on(async {
            assert_gone("Async::readable", x.readable().await);
            assert_gone(
                "Async::read_with",
                x.read_with(|mut s| io::Read::read(&mut s, &mut [0u8; 4]))
                    .await,
            );
            assert_gone("Async as AsyncRead", (&x).read(&mut [0u8; 4]).await);
        });
    });
}

#[test]
fn a_read_waiting_in_another_runtime_fails_when_its_runtime_is_dropped() {
    within(20, "read while its runtime goes", || {
        let a = runtime();
        let (client, server) = a.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            (client, server)
        });
        let (x, _y) = UnixStream::pair().unwrap();
        let x = {
            let _entered = a.enter();
            Async::new(x).unwrap()
        };
        let b = runtime();
        let (started_tx, started_rx) = mpsc::channel();
        let task = b.spawn(async move {
            let mut buf = [0u8; 8];
            let mut client_ref = &client;
            let read = client_ref.read(&mut buf);
            let readable = x.readable();
            let mut both = std::pin::pin!(async { futures_util::join!(read, readable) });
            // Both wait in A's reactor before A goes.
            std::future::poll_fn(|cx| {
                assert!(std::future::Future::poll(both.as_mut(), cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            started_tx.send(()).unwrap();
            let (read, readable) = both.await;
            assert_gone("the waiting read", read);
            assert_gone("the waiting readable()", readable);
        });
        started_rx.recv().unwrap();
        drop(a);
        b.block_on(task).unwrap();
        drop(server);
    });
}

static KEPT_WAKERS: std::sync::Mutex<Vec<std::task::Waker>> = std::sync::Mutex::new(Vec::new());

/// Stores a task waker of `rt` where it outlives `rt` (as a static sync primitive's waiter
/// list would): it keeps the scheduler's shared state, and with it the parking hook, alive.
fn keep_a_task_waker_of(rt: &Runtime) {
    let task = rt.spawn(std::future::poll_fn(|cx| {
        KEPT_WAKERS.lock().unwrap().push(cx.waker().clone());
        std::task::Poll::Ready(())
    }));
    rt.block_on(task).unwrap();
}

/// A connected TCP pair registered with `rt`.
fn tcp_pair(rt: &Runtime) -> (TcpStream, TcpStream) {
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    })
}

#[test]
fn a_read_of_a_dropped_runtime_fails_while_a_task_waker_of_it_is_kept() {
    within(20, "read after its runtime, a task waker kept", || {
        let a = runtime();
        keep_a_task_waker_of(&a);
        let (client, _server) = tcp_pair(&a);
        drop(a);
        let b = runtime();
        b.block_on(async {
            let e = (&client).read(&mut [0u8; 8]).await.unwrap_err();
            // The reactor itself shut down (its last handle went), not just the runtime.
            assert!(e.to_string().contains("no thread will report"), "{e}");
            assert_gone("TcpStream::read", Err::<(), _>(e));
        });
    });
}

#[test]
fn a_read_of_a_dropped_runtime_fails_in_another_while_a_handle_of_it_lives() {
    within(20, "read after its runtime, a handle kept", || {
        let a = runtime();
        let handle = a.handle();
        let (client, server) = tcp_pair(&a);
        drop(a);
        let b = runtime();
        b.block_on(async {
            assert_gone("TcpStream::read", (&client).read(&mut [0u8; 8]).await);
            assert_gone("TcpStream::readable", client.readable().await);
        });
        // The handle's own `block_on` still drives A's reactor: a read that has to wait
        // completes when the peer writes.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut s = server.into_std().unwrap();
            std::io::Write::write_all(&mut s, b"late").unwrap();
            s
        });
        let mut buf = [0u8; 8];
        let n = handle.block_on((&client).read(&mut buf)).unwrap();
        assert_eq!(&buf[..n], b"late");
        drop(writer.join().unwrap());
    });
}

#[test]
fn a_read_waiting_in_another_runtime_fails_when_its_runtime_shuts_down_under_a_live_handle() {
    within(20, "waiting read, its runtime goes, a handle kept", || {
        let a = runtime();
        let handle = a.handle();
        let (client, server) = tcp_pair(&a);
        let b = runtime();
        let (started_tx, started_rx) = mpsc::channel();
        let task = b.spawn(async move {
            let mut buf = [0u8; 8];
            let mut client_ref = &client;
            let mut read = std::pin::pin!(client_ref.read(&mut buf));
            // Waiting in A's reactor before A goes.
            std::future::poll_fn(|cx| {
                assert!(std::future::Future::poll(read.as_mut(), cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            started_tx.send(()).unwrap();
            assert_gone("the waiting read", read.await);
        });
        started_rx.recv().unwrap();
        drop(a);
        b.block_on(task).unwrap();
        drop((server, handle));
    });
}
