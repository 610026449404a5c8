//! Credentials in a request's URL (`http://user:password@host/`): sent as `Authorization:
//! Basic` (aiohttp's `BasicAuth.from_url`), never in a request line or HTTP/2's
//! `:authority`, and never shown by `Response::url` or an error.
#![cfg(not(loom))]

mod common;

use bytes::Bytes;
use ciranda::net::TcpListener;
use ciranda_http::{Body, Client};
use http::{Request, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::SocketAddr;

/// A server (or a forwarding proxy: it does not care which) that answers every request with
/// its head, as it arrived, and closes the connection.
async fn echo_head_server() -> SocketAddr {
    common::serve_raw_heads(|head| {
        let mut answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            head.len()
        )
        .into_bytes();
        answer.extend_from_slice(head);
        answer
    })
    .await
}

/// The value of the header `name` in the request head `head`, if it is there.
fn header_of<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, value) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[ciranda::test]
async fn url_credentials_are_sent_as_basic_auth_and_shown_nowhere() {
    let addr = echo_head_server().await;
    let client = Client::new();

    // Percent-encoded `@` and `:` in the username and password, decoded before encoding.
    let response = client
        .get(format!("http://us%40er:p%3Ass@{addr}/path?q=1"))
        .await
        .unwrap();
    assert_eq!(response.url(), format!("http://{addr}/path?q=1"));
    let head = response.text().await.unwrap();
    assert!(head.starts_with("GET /path?q=1 HTTP/1.1\r\n"), "{head}");
    // base64("us@er:p:ss")
    assert_eq!(
        header_of(&head, "authorization"),
        Some("Basic dXNAZXI6cDpzcw=="),
        "{head}"
    );
    assert_eq!(header_of(&head, "host"), Some(addr.to_string().as_str()));
    assert!(!head.contains("p%3Ass"), "{head}");

    // No password: an empty one.
    let head = client
        .get(format!("http://alice@{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(header_of(&head, "authorization"), Some("Basic YWxpY2U6"));

    // The request's own `Authorization` wins.
    let request = Request::get(format!("http://user:secret@{addr}/"))
        .header(header::AUTHORIZATION, "Bearer token")
        .body(Body::empty())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.url(), format!("http://{addr}/"));
    let head = response.text().await.unwrap();
    assert_eq!(header_of(&head, "authorization"), Some("Bearer token"));
    assert!(!head.contains("secret"), "{head}");
}

#[ciranda::test]
async fn url_credentials_stay_out_of_the_request_line_a_proxy_sees() {
    let proxy = echo_head_server().await;
    let client = Client::builder()
        .proxy(&format!("http://{proxy}"))
        .build()
        .unwrap();
    // The target's name is never resolved: the proxy answers.
    let response = client
        .get("http://user:secret@target.invalid/x")
        .await
        .unwrap();
    assert_eq!(response.url(), "http://target.invalid/x");
    let head = response.text().await.unwrap();
    assert!(
        head.starts_with("GET http://target.invalid/x HTTP/1.1\r\n"),
        "{head}"
    );
    // base64("user:secret"), for the target.
    assert_eq!(
        header_of(&head, "authorization"),
        Some("Basic dXNlcjpzZWNyZXQ="),
        "{head}"
    );
    assert!(!head.contains("secret"), "{head}");
}

/// Answers with the URI's authority as the server received it (HTTP/2's `:authority`) and
/// the `Authorization` header.
async fn authority(
    request: hyper::Request<Incoming>,
    _port: u16,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let authority = request.uri().authority().map(|a| a.to_string());
    let auth = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let text = format!("{authority:?} {auth:?}");
    Ok(hyper::Response::new(Full::new(Bytes::from(text))))
}

#[ciranda::test]
async fn url_credentials_stay_out_of_http2s_authority() {
    let (addr, server) = common::serve_route(authority).await;
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    let response = client
        .get(format!("http://user:secret@{addr}/"))
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(
        response.text().await.unwrap(),
        format!(
            "Some({:?}) Some(\"Basic dXNlcjpzZWNyZXQ=\")",
            addr.to_string()
        )
    );
    server.abort();
}

#[ciranda::test]
async fn errors_do_not_show_a_urls_password() {
    // A port nothing listens on any more: the connection is refused.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = Client::new();
    let err = client
        .get(format!("http://user:secret@{addr}/"))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert_eq!(err.url(), Some(format!("http://{addr}/").as_str()));

    // A URL that does not parse, and one with a scheme the client does not speak.
    let unparsable = client
        .get("http://user:secret@example.invalid/a b")
        .await
        .unwrap_err();
    assert!(unparsable.is_invalid_url(), "{unparsable:?}");
    let ftp = client
        .get("ftp://user:secret@example.invalid/")
        .await
        .unwrap_err();
    assert!(ftp.is_invalid_url(), "{ftp:?}");
    assert_eq!(ftp.url(), Some("ftp://example.invalid/"));

    for err in [err, unparsable, ftp] {
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        assert!(
            !shown.contains("secret") && !debug.contains("secret"),
            "{debug}"
        );
    }
}

/// A server that answers a request for `/N` with a `302` to the `N`th of `locations`, as raw
/// bytes, and closes the connection.
async fn redirect_server(locations: &'static [&'static [u8]]) -> SocketAddr {
    common::serve_raw_heads(move |head| {
        let n: usize = common::target_of(head)[1..].parse().unwrap();
        let mut answer = b"HTTP/1.1 302 Found\r\nLocation: ".to_vec();
        answer.extend_from_slice(locations[n]);
        answer.extend_from_slice(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        answer
    })
    .await
}

#[ciranda::test]
async fn a_redirects_error_does_not_show_its_locations_password() {
    // Each is a Location the client will not follow, for a reason its message gives.
    static LOCATIONS: &[&[u8]] = &[
        // Not a URL: the port is out of range.
        b"http://user:secret@127.0.0.1:99999/",
        b"//user:secret@127.0.0.1:99999/",
        b"https:user:secret@127.0.0.1:99999/",
        // A scheme the client does not follow.
        b"ftp://user:secret@example.invalid/file",
        // Not UTF-8.
        b"http://user:secret@ex\xe9mple.invalid/",
    ];
    let addr = redirect_server(LOCATIONS).await;
    let client = Client::new();
    for (n, location) in LOCATIONS.iter().enumerate() {
        let err = client.get(format!("http://{addr}/{n}")).await.unwrap_err();
        let location = String::from_utf8_lossy(location);
        assert!(err.is_redirect(), "{location}: {err:?}");
        let (shown, debug) = (err.to_string(), format!("{err:?}"));
        assert!(
            !shown.contains("secret") && !debug.contains("secret"),
            "{location}: {shown} / {debug}"
        );
        // Still says where it was sent, and that there were credentials.
        assert!(shown.contains("***@"), "{location}: {shown}");
    }
}
