//! `text()` in the charset the response declares, a byte-order mark overriding it, strict
//! decoding; `text_with` for a charset the caller names.

mod common;

use bytes::Bytes;
use ciranda_http::Client;
use http::header;
use http_body_util::Full;
use hyper::body::Incoming;
use std::convert::Infallible;

/// `/latin` is `café` in ISO-8859-1 and says so; `/plain` is `café` in UTF-8 with no
/// charset; `/bom` is `hi` in UTF-16LE with a byte-order mark and a header that says
/// ISO-8859-1; `/bad` says UTF-8 and is not; `/cyrillic` is `привет` in windows-1251 with
/// no charset.
async fn route(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let (content_type, body): (&str, &[u8]) = match request.uri().path() {
        "/latin" => ("text/html; charset=iso-8859-1", b"caf\xe9"),
        "/plain" => ("text/plain", "café".as_bytes()),
        "/bom" => ("text/plain; charset=iso-8859-1", b"\xff\xfeh\0i\0"),
        "/bad" => ("text/plain; charset=utf-8", b"ok \xff"),
        "/cyrillic" => ("text/plain", b"\xef\xf0\xe8\xe2\xe5\xf2"),
        _ => ("text/plain", b""),
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    Ok(response)
}

#[ciranda::test]
async fn text_follows_the_declared_charset_or_the_byte_order_mark() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    let text = |path: &'static str| {
        let client = client.clone();
        async move {
            let response = client.get(format!("http://{addr}{path}")).await.unwrap();
            response.text().await
        }
    };
    assert_eq!(text("/latin").await.unwrap(), "café");
    assert_eq!(text("/plain").await.unwrap(), "café");
    assert_eq!(text("/bom").await.unwrap(), "hi");

    // Nothing is replaced: the error says the body is not what it claims, and where.
    let err = text("/bad").await.unwrap_err();
    assert!(err.is_body(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("http://{addr}/bad")), "{message}");
    assert!(
        message.contains("UTF-8") && message.contains("3..4"),
        "{message}"
    );
    // Undeclared windows-1251 is not UTF-8 either.
    assert!(text("/cyrillic").await.unwrap_err().is_body());
    server.abort();
}

#[ciranda::test]
async fn text_with_decodes_in_the_named_charset() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    let url = format!("http://{addr}/cyrillic");
    let response = client.get(&url).await.unwrap();
    assert_eq!(response.text_with("windows-1251").await.unwrap(), "привет");
    // The named charset overrides the header's; a byte-order mark still wins.
    let response = client.get(format!("http://{addr}/latin")).await.unwrap();
    assert_eq!(response.text_with(" Latin1 ").await.unwrap(), "café");
    let response = client.get(format!("http://{addr}/bom")).await.unwrap();
    assert_eq!(response.text_with("koi8-r").await.unwrap(), "hi");

    let response = client.get(&url).await.unwrap();
    let err = response.text_with("no-such-charset").await.unwrap_err();
    assert!(err.is_body(), "{err:?}");
    assert!(err.to_string().contains("\"no-such-charset\""), "{err}");
    server.abort();
}
