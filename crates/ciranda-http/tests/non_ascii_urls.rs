//! A request URL with raw UTF-8 in its path or query (which `http::Uri` takes) goes out
//! percent-encoded, as the URL standard, aiohttp's yarl and the client's own redirects
//! encode it, and `Response::url` shows it so.
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
