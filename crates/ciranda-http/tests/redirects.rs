//! The client's redirects: chains, the method and body each status keeps, the limit, what is
//! not followed, and the headers that stay with their origin.

mod common;

use bytes::Bytes;
use ciranda_http::{Body, Client};
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::convert::Infallible;

fn answer(
    status: StatusCode,
    location: Option<&str>,
    body: String,
) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Some(location) = location {
        response
            .headers_mut()
            .insert(header::LOCATION, location.parse().unwrap());
    }
    response
}

/// The routes:
/// - `/hop/N`: 302 to `/hop/N-1` (relative), and `/hop/0` answers "arrived";
/// - `/loop`: 302 to itself;
/// - `/big`: 302 to `/hop/0` with a 1 MiB body (more than the client reads of a redirect);
/// - `/301`, `/302`, `/303`, `/307`, `/308`: that status, to `/method`;
/// - `/method`: "METHOD LENGTH BODY" of the request (LENGTH `-` without `Content-Length`);
/// - `/no-location`: 302 without a `Location`;
/// - `/ftp`: 302 to an `ftp://` URL;
/// - `/dir/sub/up`: 302 to `../../method` (dot segments);
/// - `/fragment`: 302 to `/method#part`;
/// - `/utf8`: 302 to `/method?q=café`, the `é` as raw UTF-8 bytes (as some servers send it);
/// - `/same-origin`: 302 to `/headers`; `/other-origin`: 302 to `http://localhost:PORT/headers`
///   (the same server under another host name, so another origin);
/// - `/headers`: which of `Authorization`, `Cookie`, `X-Custom` and `Content-Type` arrived.
async fn route(
    request: hyper::Request<Incoming>,
    port: u16,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    // Every route reads the whole request body first, as a well-behaved server does: one
    // that answers without reading it closes the connection afterwards, racing the client's
    // next request on it (the client retries only idempotent requests; see faults.rs).
    let (request, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let path = request.uri.path().to_owned();
    let found = |to: &str| answer(StatusCode::FOUND, Some(to), "moved".into());
    Ok(match path.as_str() {
        "/loop" => found("/loop"),
        "/big" => answer(StatusCode::FOUND, Some("/hop/0"), "x".repeat(1 << 20)),
        "/no-location" => answer(StatusCode::FOUND, None, "nowhere".into()),
        "/ftp" => found("ftp://example.com/file"),
        "/dir/sub/up" => found("../../method"),
        "/fragment" => found("/method#part"),
        "/utf8" => found("/method?q=caf\u{e9}"),
        "/same-origin" => found("/headers"),
        "/other-origin" => found(&format!("http://localhost:{port}/headers")),
        "/headers" => {
            let has = |name: &str| {
                if request.headers.contains_key(name) {
                    "yes"
                } else {
                    "no"
                }
            };
            let seen = format!(
                "auth={} cookie={} custom={} type={}",
                has("authorization"),
                has("cookie"),
                has("x-custom"),
                has("content-type")
            );
            answer(StatusCode::OK, None, seen)
        }
        "/method" => {
            let method = request.method.to_string();
            let length = request
                .headers
                .get(header::CONTENT_LENGTH)
                .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned());
            let text = format!("{method} {length} {}", String::from_utf8_lossy(&body));
            answer(StatusCode::OK, None, text)
        }
        status @ ("/301" | "/302" | "/303" | "/307" | "/308") => {
            let code: u16 = status[1..].parse().unwrap();
            answer(
                StatusCode::from_u16(code).unwrap(),
                Some("/method"),
                "see there".into(),
            )
        }
        hop if hop.starts_with("/hop/") => {
            let n: u32 = hop["/hop/".len()..].parse().unwrap();
            if n == 0 {
                answer(StatusCode::OK, None, "arrived".into())
            } else {
                // Relative to `/hop/N`: `N-1` replaces the last segment.
                found(&(n - 1).to_string())
            }
        }
        _ => answer(StatusCode::NOT_FOUND, None, "not found".into()),
    })
}

#[ciranda::test]
async fn a_chain_of_relative_redirects_is_followed_to_its_end() {
    let (addr, server) = common::serve_route(route).await;
    let response = Client::new()
        .get(format!("http://{addr}/hop/3"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url(), format!("http://{addr}/hop/0"));
    assert_eq!(response.text().await.unwrap(), "arrived");
    server.abort();
}

#[ciranda::test]
async fn max_redirects_is_the_most_followed_and_one_more_is_an_error() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::builder().max_redirects(2).build().unwrap();
    let two = client.get(format!("http://{addr}/hop/2")).await.unwrap();
    assert_eq!(two.text().await.unwrap(), "arrived");

    let err = client
        .get(format!("http://{addr}/hop/3"))
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert!(!err.is_connect() && !err.is_timeout());
    // The URL whose answer would have been the third redirect.
    assert_eq!(err.url(), Some(format!("http://{addr}/hop/1").as_str()));
    assert!(err.to_string().contains("more than 2 redirects"), "{err}");

    // The default limit is 10: a loop ends in an error, not a hang.
    let err = Client::new()
        .get(format!("http://{addr}/loop"))
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert!(err.to_string().contains("more than 10 redirects"), "{err}");
    server.abort();
}

#[ciranda::test]
async fn max_redirects_zero_returns_the_redirect_itself() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::builder().max_redirects(0).build().unwrap();
    let response = client.get(format!("http://{addr}/hop/1")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[header::LOCATION], "0");
    assert_eq!(response.url(), format!("http://{addr}/hop/1"));
    assert_eq!(response.text().await.unwrap(), "moved");
    server.abort();
}

async fn send(client: &Client, method: Method, url: String, body: Body) -> (StatusCode, String) {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(body)
        .unwrap();
    let response = client.request(request).await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[ciranda::test]
async fn each_status_keeps_or_changes_the_method_and_body_as_browsers_do() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::new();
    let url = |status: u16| format!("http://{addr}/{status}");
    let ok = |text: &str| (StatusCode::OK, text.to_owned());

    // A POST becomes a body-less GET after 301, 302 and 303.
    for status in [301, 302, 303] {
        let got = send(&client, Method::POST, url(status), Body::from("data")).await;
        assert_eq!(got, ok("GET - "), "POST, then {status}");
    }
    // 307 and 308 repeat the POST with its body.
    for status in [307, 308] {
        let got = send(&client, Method::POST, url(status), Body::from("data")).await;
        assert_eq!(got, ok("POST 4 data"), "POST, then {status}");
    }
    // 301 and 302 keep any method but POST, body included; 303 makes it a GET.
    for status in [301, 302] {
        let got = send(&client, Method::PUT, url(status), Body::from("data")).await;
        assert_eq!(got, ok("PUT 4 data"), "PUT, then {status}");
    }
    let got = send(&client, Method::PUT, url(303), Body::from("data")).await;
    assert_eq!(got, ok("GET - "), "PUT, then 303");
    // A HEAD stays a HEAD, even after 303.
    let response = client
        .request(
            Request::head(url(303))
                .body(http_body_util::Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url(), format!("http://{addr}/method"));
    // `Client::post` repeats its body too.
    let response = client.post(url(307), "again").await.unwrap();
    assert_eq!(response.text().await.unwrap(), "POST 5 again");
    server.abort();
}

#[ciranda::test]
async fn a_body_that_cannot_be_sent_twice_stops_at_a_307() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::new();
    let streamed = || {
        Body::from_stream(ciranda::stream::iter(
            ["da", "ta"].map(|s| Ok::<_, Infallible>(Bytes::from(s))),
        ))
    };
    let (status, text) = send(
        &client,
        Method::POST,
        format!("http://{addr}/307"),
        streamed(),
    )
    .await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::TEMPORARY_REDIRECT, "see there")
    );
    // After a 303 the body is not needed: followed.
    let got = send(
        &client,
        Method::POST,
        format!("http://{addr}/303"),
        streamed(),
    )
    .await;
    assert_eq!(got, (StatusCode::OK, "GET - ".to_owned()));
    // A body type other than `Body` is sent once, even if it is whole bytes.
    let request = Request::post(format!("http://{addr}/308"))
        .body(Full::new(Bytes::from("data")))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    server.abort();
}

#[ciranda::test]
async fn what_is_not_followed() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::new();

    let response = client
        .get(format!("http://{addr}/no-location"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.text().await.unwrap(), "nowhere");

    let err = client.get(format!("http://{addr}/ftp")).await.unwrap_err();
    assert!(err.is_redirect(), "{err:?}");
    assert_eq!(err.url(), Some(format!("http://{addr}/ftp").as_str()));
    assert!(err.to_string().contains("only http and https"), "{err}");
    server.abort();
}

#[ciranda::test]
async fn locations_resolve_as_urls_do() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::new();
    let response = client
        .get(format!("http://{addr}/dir/sub/up"))
        .await
        .unwrap();
    assert_eq!(response.url(), format!("http://{addr}/method"));
    assert_eq!(response.text().await.unwrap(), "GET - ");

    let response = client.get(format!("http://{addr}/fragment")).await.unwrap();
    assert_eq!(response.url(), format!("http://{addr}/method"));
    assert_eq!(response.status(), StatusCode::OK);

    // Raw UTF-8 is percent-encoded, as browsers and the URL standard do.
    let response = client.get(format!("http://{addr}/utf8")).await.unwrap();
    assert_eq!(response.url(), format!("http://{addr}/method?q=caf%C3%A9"));
    assert_eq!(response.status(), StatusCode::OK);
    server.abort();
}

#[ciranda::test]
async fn credentials_stay_with_their_origin() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::new();
    let with_credentials = |path: &str| {
        Request::get(format!("http://{addr}{path}"))
            .header(header::AUTHORIZATION, "Bearer secret")
            .header(header::COOKIE, "session=1")
            .header("x-custom", "kept")
            .body(Body::empty())
            .unwrap()
    };
    let same = client
        .request(with_credentials("/same-origin"))
        .await
        .unwrap();
    assert_eq!(
        same.text().await.unwrap(),
        "auth=yes cookie=yes custom=yes type=no"
    );

    let other = client
        .request(with_credentials("/other-origin"))
        .await
        .unwrap();
    assert_eq!(
        other.url(),
        format!("http://localhost:{}/headers", addr.port())
    );
    assert_eq!(
        other.text().await.unwrap(),
        "auth=no cookie=no custom=yes type=no"
    );
    server.abort();
}

#[ciranda::test]
async fn a_redirect_with_a_large_body_is_followed_without_reading_it_all() {
    let (addr, server) = common::serve_route(route).await;
    let client = Client::new();
    for _ in 0..3 {
        let response = client.get(format!("http://{addr}/big")).await.unwrap();
        assert_eq!(response.url(), format!("http://{addr}/hop/0"));
        assert_eq!(response.text().await.unwrap(), "arrived");
    }
    server.abort();
}
