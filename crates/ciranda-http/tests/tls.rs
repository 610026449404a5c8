//! HTTPS: our client against a TLS server made from the `rt` pieces, with a self-signed
//! certificate made by `rcgen` at start-up; ALPN picks HTTP/2 or HTTP/1.1; a missing root or
//! a name the certificate does not cover is a clear `is_tls()` error.

mod common;

use ciranda_http::Client;
use common::*;
use std::collections::HashSet;

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
