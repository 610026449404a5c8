//! HTTPS: our client against a TLS server made from the `rt` pieces, with a self-signed
//! certificate made by `rcgen` at start-up; ALPN picks HTTP/2 or HTTP/1.1; a missing root or
//! a name the certificate does not cover is a clear `is_tls()` error. Then `serve`'s own TLS
//! (`Serve::tls`): ALPN, failed handshakes, and clients silent before or after the handshake.

mod common;

use ciranda::time::Duration;
use ciranda_http::Client;
use common::*;
use rustls_pki_types::ServerName;
use std::collections::HashSet;
use std::sync::Arc;

fn trusting(cert: &TestCert) -> Client {
    Client::builder()
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap()
}

#[ciranda::test]
async fn https_with_an_added_root_negotiates_http2() {
    let cert = make_cert();
    let addr = spawn_tls_server(Routes::new(100), &cert, &[b"h2", b"http/1.1"]).await;
    let base = format!("https://localhost:{}", addr.port());
    let client = trusting(&cert);
    let r = client.get(format!("{base}/")).await.unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "Hello, world!");

    // 10 MiB up and back over TLS.
    let response = client
        .post(
            format!("{base}/echo"),
            ciranda_http::Body::from_stream(big_stream()),
        )
        .await
        .unwrap();
    let mut checker = Checker::default();
    let mut chunks = response.chunks();
    while let Some(chunk) = ciranda::stream::StreamExt::next(&mut chunks).await {
        checker.check(&chunk.unwrap());
    }
    assert_eq!(checker.seen, BIG);

    // 100 requests in flight together over the one HTTP/2 connection.
    let url = format!("{base}/wait");
    let all = ciranda::gather((0..100).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).await.unwrap().text().await.unwrap() }
    }))
    .await;
    assert!(all.iter().all(|b| b == "ok"));
    let mut peers = HashSet::new();
    for _ in 0..5 {
        peers.insert(
            client
                .get(format!("{base}/peer"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    assert_eq!(peers.len(), 1);
}

#[ciranda::test]
async fn https_falls_back_to_http1_when_the_server_offers_only_that() {
    let cert = make_cert();
    let addr = spawn_tls_server(Routes::new(1), &cert, &[b"http/1.1"]).await;
    let url = format!("https://localhost:{}/chunked", addr.port());
    let r = trusting(&cert).get(&url).await.unwrap();
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    assert_eq!(
        r.text().await.unwrap(),
        "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n"
    );
}

#[ciranda::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let cert = make_cert();
    let addr = spawn_tls_server(Routes::new(1), &cert, &[b"h2", b"http/1.1"]).await;
    let url = format!("https://localhost:{}/", addr.port());
    // The default client trusts only the webpki roots, which did not sign our certificate.
    let err = Client::new().get(&url).await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(err.is_connect() && !err.is_timeout() && !err.is_invalid_url());
    let msg = err.to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("certificate"), "the cause is not named: {msg}");
}

#[ciranda::test]
async fn a_certificate_for_another_name_is_a_tls_error() {
    let cert = make_cert(); // for "localhost" only
    let addr = spawn_tls_server(Routes::new(1), &cert, &[b"http/1.1"]).await;
    let url = format!("https://127.0.0.1:{}/", addr.port());
    let err = trusting(&cert).get(&url).await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(err.to_string().contains("certificate"), "{err}");
}

/// `serve(...).tls(config)` with `cert`; `alpn` empty leaves the choice to `serve`.
async fn spawn_serve_tls(
    cert: &TestCert,
    alpn: &[&[u8]],
    header_read_timeout: Duration,
) -> std::net::SocketAddr {
    let config = tls_server_config(cert, alpn);
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda_http::server::serve_with_remote(listener, Routes::new(1).make_service())
        .header_read_timeout(header_read_timeout)
        .tls(Arc::new(config));
    drop(ciranda::spawn(server.into_future()));
    addr
}

#[ciranda::test]
async fn serve_speaks_https_with_http2_or_http1_as_alpn_decides() {
    let cert = make_cert();
    let client = trusting(&cert);
    // No ALPN list of its own: `serve` offers both, and our client prefers HTTP/2.
    let both = spawn_serve_tls(&cert, &[], Duration::from_secs(30)).await;
    let r = client
        .get(format!("https://localhost:{}/", both.port()))
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_2);
    assert_eq!(r.text().await.unwrap(), "Hello, world!");
    let peer = client
        .get(format!("https://localhost:{}/peer", both.port()))
        .await
        .unwrap();
    assert!(peer.text().await.unwrap().starts_with("127.0.0.1:"));

    // The configuration's own list is kept.
    let http1 = spawn_serve_tls(&cert, &[b"http/1.1"], Duration::from_secs(30)).await;
    let r = client
        .get(format!("https://localhost:{}/chunked", http1.port()))
        .await
        .unwrap();
    assert_eq!(r.version(), http::Version::HTTP_11);
    assert_eq!(
        r.text().await.unwrap(),
        "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n"
    );
}

#[ciranda::test]
async fn a_failed_handshake_closes_only_its_connection() {
    let cert = make_cert();
    let addr = spawn_serve_tls(&cert, &[], Duration::from_secs(30)).await;
    // Plain HTTP to the TLS port, then a client that does not trust the certificate.
    let plain = Client::new()
        .get(format!("http://localhost:{}/", addr.port()))
        .await
        .unwrap_err();
    assert!(!plain.is_timeout(), "{plain:?}");
    let untrusting = Client::new()
        .get(format!("https://localhost:{}/", addr.port()))
        .await
        .unwrap_err();
    assert!(untrusting.is_tls(), "{untrusting:?}");
    // The server goes on serving.
    let r = trusting(&cert)
        .get(format!("https://localhost:{}/", addr.port()))
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "Hello, world!");
}

#[ciranda::test]
async fn a_client_silent_before_or_after_the_handshake_is_closed_at_the_head_deadline() {
    use ciranda::io::AsyncReadExt;
    let cert = make_cert();
    let addr = spawn_serve_tls(&cert, &[], Duration::from_millis(200)).await;

    // Connects and never starts the handshake.
    let mut silent = ciranda::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = ciranda::time::timeout(Duration::from_secs(20), silent.read(&mut buf))
        .await
        .expect("the server must close a connection that never starts its handshake");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // Finishes the handshake and never sends a request.
    let config = tls_client_config(&cert);
    let tcp = ciranda::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = futures_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the handshake itself succeeds");
    let read = ciranda::time::timeout(Duration::from_secs(20), tls.read(&mut buf))
        .await
        .expect("the server must close a connection that sends no request head");
    // With `close_notify`: rustls reads a close without one as `UnexpectedEof`.
    assert!(matches!(read, Ok(0)), "{read:?}");
}

/// A graceful shutdown does not wait for a client that has not finished its TLS handshake:
/// it has no request in flight, as a plain-HTTP client that has sent nothing has none (and
/// that connection is closed at once). With an hour's header-read and shutdown timeouts,
/// only closing it lets the server return.
#[ciranda::test]
async fn graceful_shutdown_does_not_wait_for_a_client_mid_handshake() {
    let cert = make_cert();
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(ciranda::sync::Event::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let server = ciranda::spawn(
        ciranda_http::server::serve_with_remote(listener, Routes::new(1).make_service())
            .header_read_timeout(Duration::from_secs(3600))
            .shutdown_timeout(Duration::from_secs(3600))
            .tls(Arc::new(tls_server_config(&cert, &[])))
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    // Connects and never starts the handshake; a request proves the server has accepted it.
    let silent = ciranda::net::TcpStream::connect(addr).await.unwrap();
    let r = trusting(&cert)
        .get(format!("https://localhost:{}/", addr.port()))
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "Hello, world!");
    stop.set();
    ciranda::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("the shutdown waited for a connection that never finished its handshake")
        .unwrap()
        .unwrap();
    drop(silent);
}
