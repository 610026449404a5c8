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
