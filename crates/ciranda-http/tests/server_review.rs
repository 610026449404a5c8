//! `serve` defects found by the server review: each test failed (or its watchdog fired)
//! before its fix.

mod common;

use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::{Duration, timeout};
use common::*;
use std::sync::Arc;

/// Reads until the peer closes (or resets) the connection, for at most `bound`; `true` if it
/// did.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut sink = Vec::new();
    timeout(bound, async {
        let _ = stream.read_to_end(&mut sink).await;
    })
    .await
    .is_ok()
}

/// With `header_read_timeout(None)`, the idle timeout is what bounds a connection that sends
/// nothing: it counts from the accept. Over plain HTTP it did; over TLS the handshake was not
/// bounded by it, so a client that opened a TCP connection and never sent its ClientHello held
/// a task (and a descriptor) until the server shut down.
#[ciranda::test]
async fn a_tls_client_that_never_starts_its_handshake_is_closed_at_the_idle_timeout() {
    let cert = make_cert();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve_with_remote(listener, Routes::new(1).make_service())
            .header_read_timeout(None)
            .idle_timeout(Duration::from_millis(200))
            .tls(Arc::new(tls_server_config(&cert, &[])))
            .into_future(),
    );
    // The same silent client over plain HTTP is closed at the idle timeout (the reference).
    let plain_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain_listener.local_addr().unwrap();
    let plain = ciranda::spawn(
        ciranda_http::server::serve_with_remote(plain_listener, Routes::new(1).make_service())
            .header_read_timeout(None)
            .idle_timeout(Duration::from_millis(200))
            .into_future(),
    );
    let mut silent = TcpStream::connect(plain_addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)).await,
        "plain HTTP: a silent connection outlived the idle timeout"
    );

    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)).await,
        "TLS: a connection that never sent its ClientHello outlived the idle timeout"
    );
    // Half a handshake: the first bytes of a record header, then nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(20)).await,
        "TLS: a connection stalled in its handshake outlived the idle timeout"
    );
    server.abort();
    plain.abort();
}

/// A server whose `GET /hold` sets `arrived`, then answers once `release` is set; `GET /`
/// answers at once. Returns its address, the two events and its task.
async fn holding_server(
    shutdown_timeout: Duration,
) -> (
    std::net::SocketAddr,
    Arc<ciranda::sync::Event>,
    Arc<ciranda::sync::Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    use ciranda::sync::Event;
    let (arrived, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let service = {
        let (arrived, release) = (arrived.clone(), release.clone());
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (arrived, release) = (arrived.clone(), release.clone());
            async move {
                let body = if req.uri().path() == "/hold" {
                    arrived.set();
                    release.wait().await;
                    "released"
                } else {
                    "hello"
                };
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(body),
                )))
            }
        })
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .header_read_timeout(Duration::from_secs(3600))
            .idle_timeout(None)
            .shutdown_timeout(shutdown_timeout)
            .into_future(),
    );
    (addr, arrived, release, server)
}

/// Reads from `stream` until what has arrived ends with `end`, for at most 20 s.
async fn read_answer(stream: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    timeout(Duration::from_secs(20), read_until_ends_with(stream, end))
        .await
        .expect("no answer within 20 s")
}

/// Dropping the server's future (aborting its task, as the crate's examples stop a server)
/// closed the listener but left every connection's task serving: a keep-alive client went on
/// being served by a server that was gone, for ever with `idle_timeout(None)` (and until the
/// header-read timeout otherwise). hyper-util's `GracefulShutdown` starts a graceful shutdown
/// of its connections when it is dropped; `serve` now does the same, bounded by its
/// `shutdown_timeout`: idle connections close at once, a request in flight may finish.
#[ciranda::test]
async fn dropping_the_server_shuts_its_connections_down() {
    let (addr, arrived, release, server) = holding_server(Duration::from_secs(3600)).await;
    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_answer(&mut idle, b"hello").await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    timeout(Duration::from_secs(20), arrived.wait())
        .await
        .expect("the held request never reached its handler");

    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)).await,
        "an idle keep-alive connection outlived its dropped server"
    );
    // The request in flight is still answered, then its connection closes.
    release.set();
    let answer = read_answer(&mut busy, b"released").await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    assert!(
        closed_within(&mut busy, Duration::from_secs(20)).await,
        "a connection whose request was answered outlived its dropped server"
    );
}

/// A request that does not finish within the `shutdown_timeout` of a dropped server has its
/// connection dropped, as in a graceful shutdown that runs out of time.
#[ciranda::test]
async fn a_dropped_server_cancels_what_outlives_its_shutdown_timeout() {
    let (addr, arrived, _release, server) = holding_server(Duration::from_millis(200)).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    timeout(Duration::from_secs(20), arrived.wait())
        .await
        .expect("the held request never reached its handler");
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    assert!(
        closed_within(&mut busy, Duration::from_secs(20)).await,
        "a request stuck past the shutdown timeout kept its dropped server's connection"
    );
}
