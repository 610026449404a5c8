//! A request URL with raw UTF-8 in its path or query (which `http::Uri` takes) goes out
//! percent-encoded, and one with a non-ASCII host (which `http::Uri` refuses) with the host
//! in IDNA's ASCII form, as the URL standard, aiohttp's yarl and the client's own redirects
//! encode them, and `Response::url` shows them so.
#![cfg(not(loom))]

mod common;

use bytes::Bytes;
use ciranda_http::{Body, Client};
use http::Request;
use http_body_util::Full;
use hyper::body::Incoming;
use std::convert::Infallible;

/// Answers with the request's path and query, as the server received them.
async fn target(
    request: hyper::Request<Incoming>,
    _port: u16,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let seen = request
        .uri()
        .path_and_query()
        .map_or_else(String::new, |p| p.as_str().to_owned());
    Ok(hyper::Response::new(Full::new(Bytes::from(seen))))
}

#[ciranda::test]
async fn raw_utf8_in_a_request_url_is_percent_encoded() {
    let (addr, server) = common::serve_route(target).await;
    let client = Client::new();

    let response = client
        .get(format!(
            "http://{addr}/caf\u{e9}/\u{65e5}?q=\u{fc}ber&r=1#fr\u{e4}g"
        ))
        .await
        .unwrap();
    assert_eq!(
        response.url(),
        format!("http://{addr}/caf%C3%A9/%E6%97%A5?q=%C3%BCber&r=1#fr%C3%A4g")
    );
    assert_eq!(
        response.text().await.unwrap(),
        "/caf%C3%A9/%E6%97%A5?q=%C3%BCber&r=1"
    );

    // A request built with such a URI, and a POST.
    let request = Request::get(format!("http://{addr}/\u{f1}"))
        .body(Body::empty())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.url(), format!("http://{addr}/%C3%B1"));
    assert_eq!(response.text().await.unwrap(), "/%C3%B1");
    let response = client
        .post(format!("http://{addr}/p?\u{e9}"), "body")
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "/p?%C3%A9");

    // An ASCII URL is sent as written, escapes and all.
    let response = client
        .get(format!("http://{addr}/a%2Fb?x=%41&y={{}}"))
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "/a%2Fb?x=%41&y={}");
    server.abort();
}

/// Answers, as a forwarding proxy would see it, with the request's URI (in absolute form)
/// and its `Host` and `Authorization` headers.
async fn seen_by_proxy(
    request: hyper::Request<Incoming>,
    _port: u16,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
    };
    let seen = format!(
        "{} host={} auth={}",
        request.uri(),
        header("host"),
        header("authorization")
    );
    Ok(hyper::Response::new(Full::new(Bytes::from(seen))))
}

#[ciranda::test]
async fn a_non_ascii_host_is_sent_in_its_idna_ascii_form() {
    // Through an HTTP proxy, which sees the request's whole URL and its `Host`, so the host
    // need not resolve.
    let (proxy, server) = common::serve_route(seen_by_proxy).await;
    let client = Client::builder()
        .proxy(&format!("http://{proxy}"))
        .build()
        .unwrap();

    let response = client
        .get("http://caf\u{e9}.example/\u{fc}?q=\u{e4}")
        .await
        .unwrap();
    assert_eq!(response.url(), "http://xn--caf-dma.example/%C3%BC?q=%C3%A4");
    assert_eq!(
        response.text().await.unwrap(),
        "http://xn--caf-dma.example/%C3%BC?q=%C3%A4 host=xn--caf-dma.example auth=none"
    );

    // A port, and credentials outside ASCII: sent as Basic auth of their UTF-8 bytes.
    let response = client
        .get("http://j\u{f6}rg:p\u{e4}ss@\u{65e5}\u{672c}.example:8080/")
        .await
        .unwrap();
    assert_eq!(response.url(), "http://xn--wgv71a.example:8080/");
    // base64("jörg:päss")
    assert_eq!(
        response.text().await.unwrap(),
        "http://xn--wgv71a.example:8080/ host=xn--wgv71a.example:8080 \
         auth=Basic asO2cmc6cMOkc3M="
    );

    // A host that IDNA refuses is an invalid URL, not a request to a mangled name.
    let err = client
        .get("http://a\u{200b}\u{fffd}.example/")
        .await
        .unwrap_err();
    assert!(err.is_invalid_url(), "{err:?}");
    server.abort();
}
