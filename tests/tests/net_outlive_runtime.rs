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
