//! `RequestOptions`: one request's redirect limit, timeout and decompression override the
//! client's, and what the options leave unset stays the client's.

mod common;

use bytes::Bytes;
use ciranda_http::{Body, Client, RequestOptions};
use http::{Request, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::time::Duration;

/// How long `/slow` takes to answer.
const SLOW: Duration = Duration::from_secs(1);

/// The routes: `/moved` is a 302 to `/here`, which answers "here"; `/slow` answers "late"
/// after [`SLOW`]; `/accept` answers with the request's `Accept-Encoding` ("none" without).
async fn route(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    let body = match request.uri().path() {
        "/moved" => {
            *response.status_mut() = StatusCode::FOUND;
            response
                .headers_mut()
                .insert(header::LOCATION, "/here".parse().unwrap());
            "moved".to_owned()
        }
        "/here" => "here".to_owned(),
        "/slow" => {
            ciranda::time::sleep(SLOW).await;
            "late".to_owned()
        }
        "/accept" => request
            .headers()
            .get(header::ACCEPT_ENCODING)
            .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned()),
        _ => {
            *response.status_mut() = StatusCode::NOT_FOUND;
            String::new()
        }
    };
    *response.body_mut() = Full::new(Bytes::from(body));
    Ok(response)
}

/// `GET url` carrying `options`.
fn get(url: String, options: RequestOptions) -> Request<Body> {
    Request::get(url)
        .extension(options)
        .body(Body::empty())
        .unwrap()
}

#[ciranda::test]
async fn a_request_s_redirect_limit_overrides_the_client_s() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let url = format!("http://{addr}/moved");

    // The client follows; this request does not (aiohttp's `allow_redirects=False`).
    let client = Client::new();
    let response = client
        .request(get(url.clone(), RequestOptions::new().max_redirects(0)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.url(), url);
    assert_eq!(response.text().await.unwrap(), "moved");
    // The next request without options follows again.
    let response = client.get(&url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "here");

    // The client does not follow; this request does.
    let client = Client::builder().max_redirects(0).build().unwrap();
    let response = client
        .request(get(url.clone(), RequestOptions::new().max_redirects(1)))
        .await
        .unwrap();
    assert_eq!(response.url(), format!("http://{addr}/here"));
    assert_eq!(response.text().await.unwrap(), "here");
    server.abort();
}

#[ciranda::test]
async fn a_request_s_timeout_overrides_the_client_s() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let url = format!("http://{addr}/slow");

    // No limit on the client; a tenth of the answer's delay on the request.
    let err = Client::new()
        .request(get(url.clone(), RequestOptions::new().timeout(SLOW / 10)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    // A tenth of the delay on the client; no limit on the request.
    let client = Client::builder().timeout(SLOW / 10).build().unwrap();
    let response = client
        .request(get(url.clone(), RequestOptions::new().no_timeout()))
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "late");
    // Options that leave the timeout alone keep the client's.
    let err = client
        .request(get(url, RequestOptions::new().max_redirects(3)))
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    server.abort();
}

#[ciranda::test]
async fn a_request_s_decompression_setting_overrides_the_client_s() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let url = format!("http://{addr}/accept");
    let accepted = |client: Client, options: RequestOptions| {
        let url = url.clone();
        async move {
            let response = client.request(get(url, options)).await.unwrap();
            response.text().await.unwrap()
        }
    };
    assert_eq!(
        accepted(Client::new(), RequestOptions::new().auto_decompress(false)).await,
        "none"
    );
    assert_eq!(
        accepted(Client::new(), RequestOptions::new()).await,
        "gzip, deflate, br, zstd"
    );
    let plain = Client::builder().auto_decompress(false).build().unwrap();
    assert_eq!(
        accepted(plain.clone(), RequestOptions::new().auto_decompress(true)).await,
        "gzip, deflate, br, zstd"
    );
    assert_eq!(accepted(plain, RequestOptions::new()).await, "none");
    server.abort();
}

#[ciranda::test]
async fn get_with_and_post_with_carry_the_options() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    let moved = client
        .get_with(
            format!("http://{addr}/moved"),
            RequestOptions::new().max_redirects(0),
        )
        .await
        .unwrap();
    assert_eq!(moved.status(), StatusCode::FOUND);
    assert_eq!(moved.text().await.unwrap(), "moved");

    // A POST answered by a 302 is followed as a GET (the client's default) unless the
    // options say not to follow.
    let posted = client
        .post_with(
            format!("http://{addr}/moved"),
            "data",
            RequestOptions::new().max_redirects(0),
        )
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::FOUND);
    let followed = client
        .post(format!("http://{addr}/moved"), "data")
        .await
        .unwrap();
    assert_eq!(followed.text().await.unwrap(), "here");

    let err = client
        .get_with(
            format!("http://{addr}/slow"),
            RequestOptions::new().timeout(SLOW / 10),
        )
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    server.abort();
}
