//! The client's cookie jar: cookies kept from responses (redirects included) and sent back
//! where they match, the request's own `Cookie`, expiry, scoping, and switching it off.

mod common;

use bytes::Bytes;
use ciranda_http::{Body, Client};
use http::{Request, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::SocketAddr;

/// `/set/NAME=VALUE[;attributes]` answers with that `Set-Cookie` (`~` stands for `;` and `_`
/// for a space in the path); `/hop` sets `via=redirect` and redirects to `/echo`; any other
/// path answers the request's `Cookie` header, or `none`.
async fn route(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let mut response = hyper::Response::new(Full::new(Bytes::new()));
    if let Some(cookie) = path.strip_prefix("/set/") {
        let cookie = cookie.replace('~', ";").replace('_', " ");
        response
            .headers_mut()
            .insert(header::SET_COOKIE, cookie.parse().unwrap());
    } else if path == "/hop" {
        *response.status_mut() = StatusCode::FOUND;
        let headers = response.headers_mut();
        headers.insert(header::SET_COOKIE, "via=redirect; Path=/".parse().unwrap());
        headers.insert(header::LOCATION, "/echo".parse().unwrap());
    } else {
        let sent = request
            .headers()
            .get_all(header::COOKIE)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(" | ");
        let sent = if sent.is_empty() {
            "none".to_owned()
        } else {
            sent
        };
        *response.body_mut() = Full::new(Bytes::from(sent));
    }
    Ok(response)
}

/// Has the server set `cookie` (written as `/set/` takes it) in `client`'s jar.
async fn set_cookie(client: &Client, addr: SocketAddr, cookie: &str) {
    client
        .get(format!("http://{addr}/set/{cookie}"))
        .await
        .unwrap();
}

async fn sent(client: &Client, url: String) -> String {
    client.get(url).await.unwrap().text().await.unwrap()
}

#[ciranda::test]
async fn a_cookie_set_is_sent_back_by_every_clone() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    assert_eq!(sent(&client, format!("http://{addr}/echo")).await, "none");
    set_cookie(&client, addr, "session=abc~_Path=/").await;
    set_cookie(&client, addr, "theme=dark~_Path=/").await;
    let clone = client.clone();
    assert_eq!(
        sent(&clone, format!("http://{addr}/echo")).await,
        "session=abc; theme=dark"
    );
    let mut kept = client.cookies(&format!("http://{addr}/echo"));
    kept.sort();
    assert_eq!(
        kept,
        [
            ("session".into(), "abc".into()),
            ("theme".into(), "dark".into())
        ]
    );
    // Another host name is another cookie host, even on the same server.
    assert_eq!(
        sent(&client, format!("http://localhost:{}/echo", addr.port())).await,
        "none"
    );
    client.clear_cookies();
    assert_eq!(sent(&client, format!("http://{addr}/echo")).await, "none");
    server.abort();
}

#[ciranda::test]
async fn a_cookie_set_by_a_redirect_goes_with_the_next_hop() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    assert_eq!(
        sent(&client, format!("http://{addr}/hop")).await,
        "via=redirect"
    );
    server.abort();
}

#[ciranda::test]
async fn path_and_expiry_decide_where_a_cookie_goes() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    set_cookie(&client, addr, "scoped=1~_Path=/area").await;
    assert_eq!(
        sent(&client, format!("http://{addr}/area/page")).await,
        "scoped=1"
    );
    assert_eq!(
        sent(&client, format!("http://{addr}/elsewhere")).await,
        "none"
    );
    client.clear_cookies();
    // Without a Path, a cookie's path is the directory of the URL that set it (`/set`).
    set_cookie(&client, addr, "plain=1").await;
    assert_eq!(sent(&client, format!("http://{addr}/set")).await, "plain=1");
    assert_eq!(sent(&client, format!("http://{addr}/echo")).await, "none");
    client.clear_cookies();

    set_cookie(&client, addr, "short=1~_Path=/").await;
    assert_eq!(
        sent(&client, format!("http://{addr}/echo")).await,
        "short=1"
    );
    // The server expires it.
    set_cookie(&client, addr, "short=~_Path=/~_Max-Age=0").await;
    assert_eq!(sent(&client, format!("http://{addr}/echo")).await, "none");
    // (`Secure` is checked by the jar's unit tests: loopback hosts count as secure, as in
    // browsers.)
    server.abort();
}

#[ciranda::test]
async fn the_requests_own_cookie_header_comes_first_and_wins() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    set_cookie(&client, addr, "a=jar~_Path=/").await;
    set_cookie(&client, addr, "b=jar~_Path=/").await;
    let request = Request::get(format!("http://{addr}/echo"))
        .header(header::COOKIE, "mine=1; a=own")
        .body(Body::empty())
        .unwrap();
    let echoed = client.request(request).await.unwrap().text().await.unwrap();
    assert_eq!(echoed, "mine=1; a=own; b=jar");
    server.abort();
}

#[ciranda::test]
async fn the_requests_own_cookie_header_is_kept_whatever_bytes_it_holds() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    set_cookie(&client, addr, "b=jar~_Path=/").await;
    set_cookie(&client, addr, "c=jar~_Path=/").await;
    // UTF-8 in a value, as browsers send it: a valid header value, but not visible ASCII.
    let own = header::HeaderValue::from_bytes("name=caf\u{e9}; b=own".as_bytes()).unwrap();
    let request = Request::get(format!("http://{addr}/echo"))
        .header(header::COOKIE, own)
        .body(Body::empty())
        .unwrap();
    let echoed = client.request(request).await.unwrap().text().await.unwrap();
    assert_eq!(echoed, "name=caf\u{e9}; b=own; c=jar");
    server.abort();
}

#[ciranda::test]
async fn a_client_without_a_jar_keeps_nothing() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::builder().cookie_jar(false).build().unwrap();
    set_cookie(&client, addr, "session=abc~_Path=/").await;
    assert_eq!(sent(&client, format!("http://{addr}/echo")).await, "none");
    assert!(client.cookies(&format!("http://{addr}/echo")).is_empty());
    // A redirect's cookie is not kept either.
    assert_eq!(sent(&client, format!("http://{addr}/hop")).await, "none");
    server.abort();
}

#[ciranda::test]
async fn a_saved_jar_loads_into_another_client() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    // A session cookie, a persistent one, and one that expires in a second.
    for cookie in [
        "session=abc~_Path=/",
        "theme=dark~_Path=/~_Max-Age=3600",
        "brief=1~_Path=/~_Max-Age=1",
    ] {
        set_cookie(&client, addr, cookie).await;
    }
    let saved = client.save_cookies();

    let restored = Client::new();
    restored.load_cookies(&saved).unwrap();
    // (`brief` may have expired already on a loaded machine: not asserted here.)
    let echoed = sent(&restored, format!("http://{addr}/echo")).await;
    assert!(
        echoed.contains("session=abc") && echoed.contains("theme=dark"),
        "{echoed}"
    );
    // Loading replaces what the jar held.
    set_cookie(&restored, addr, "other=x~_Path=/").await;
    restored.load_cookies(&saved).unwrap();
    assert!(
        !sent(&restored, format!("http://{addr}/echo"))
            .await
            .contains("other")
    );

    // A cookie that expired between saving and loading is left out of the jar, not only
    // out of requests: saving again (which keeps expired cookies) shows it is gone. Max-Age
    // counts on the wall clock, so this waits for it.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let later = Client::new();
    later.load_cookies(&saved).unwrap();
    assert_eq!(
        sent(&later, format!("http://{addr}/echo")).await,
        "session=abc; theme=dark"
    );
    let saved_again = String::from_utf8(later.save_cookies()).unwrap();
    assert!(
        saved_again.contains("theme") && !saved_again.contains("brief"),
        "{saved_again}"
    );
    assert!(String::from_utf8(saved).unwrap().contains("brief"));
    server.abort();
}

#[ciranda::test]
async fn loading_what_is_not_a_saved_jar_is_an_error_and_changes_nothing() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    set_cookie(&client, addr, "kept=yes~_Path=/").await;
    let err = client.load_cookies(b"{ not a jar").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(
        sent(&client, format!("http://{addr}/echo")).await,
        "kept=yes"
    );

    // Without a jar: nothing to save, nowhere to load.
    let off = Client::builder().cookie_jar(false).build().unwrap();
    let empty = off.save_cookies();
    let fresh = Client::new();
    fresh.load_cookies(&empty).unwrap();
    assert_eq!(sent(&fresh, format!("http://{addr}/echo")).await, "none");
    let err = off.load_cookies(&client.save_cookies()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::Unsupported);
    server.abort();
}
