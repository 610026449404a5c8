//! The client through an HTTP proxy: plain requests in absolute form, `https` through a
//! `CONNECT` tunnel, credentials, a refused tunnel, `no_proxy`, bad proxy URLs, a proxy named
//! by one request's options, an `https://` proxy, and `trust_env` reading `HTTP_PROXY` (in a child process, so no
//! test changes this one's environment).

mod common;

use ciranda::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use ciranda::net::{TcpListener, TcpStream};
use ciranda_http::{Client, RequestOptions};
use common::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What the test proxy saw: each request line.
type Seen = Arc<Mutex<Vec<String>>>;

/// A minimal HTTP proxy. `CONNECT host:port` opens a tunnel (answered `407` when `password`
/// is set and the request's `Proxy-Authorization` is not it); any other request is answered
/// by the proxy itself with `proxied <request line> auth=<Proxy-Authorization or none>`,
/// keeping the connection open for more.
async fn proxy(password: Option<&'static str>) -> (SocketAddr, Seen) {
    let (addr, seen, _) = counting_proxy(password).await;
    (addr, seen)
}

/// [`proxy`], and the number of connections it has accepted.
async fn counting_proxy(password: Option<&'static str>) -> (SocketAddr, Seen, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (log, count) = (seen.clone(), accepted.clone());
    ciranda::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            ciranda::spawn(serve_proxy(client, password, log.clone()));
        }
    });
    (addr, seen, accepted)
}

/// [`proxy`] behind TLS (an `https://` proxy) presenting `cert`, for `localhost`.
async fn tls_proxy(password: Option<&'static str>, cert: &TestCert) -> (u16, Seen) {
    let config = tls_server_config(cert, &[b"http/1.1"]);
    let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    ciranda::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let (acceptor, log) = (acceptor.clone(), log.clone());
            ciranda::spawn(async move {
                // A client that does not trust us ends just this connection.
                if let Ok(tls) = acceptor.accept(client).await {
                    serve_proxy(tls, password, log).await;
                }
            });
        }
    });
    (port, seen)
}

async fn serve_proxy<S>(client: S, password: Option<&'static str>, seen: Seen)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (read, mut write) = client.split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end().to_owned();
        let mut auth = "none".to_owned();
        loop {
            let mut header = String::new();
            read.read_line(&mut header).await.unwrap();
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("proxy-authorization") {
                    auth = value.trim().to_owned();
                }
            }
        }
        seen.lock().unwrap().push(line.clone());
        if let Some(target) = line
            .strip_prefix("CONNECT ")
            .and_then(|r| r.split(' ').next())
        {
            if password.is_some_and(|p| p != auth) {
                let _ = write
                    .write_all(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
                    )
                    .await;
                return;
            }
            let upstream = TcpStream::connect(target).await.unwrap();
            write
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .unwrap();
            let (mut up_read, mut up_write) = upstream.split();
            let to_target = ciranda::io::copy(&mut read, &mut up_write);
            let to_client = ciranda::io::copy(&mut up_read, &mut write);
            let _ = futures_util::future::join(to_target, to_client).await;
            return;
        }
        let body = format!("proxied {line} auth={auth}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn text_of(client: &Client, url: &str) -> String {
    client.get(url).await.unwrap().text().await.unwrap()
}

#[ciranda::test]
async fn plain_requests_go_to_the_proxy_in_absolute_form() {
    let (addr, seen) = proxy(None).await;
    let client = Client::builder()
        .proxy(&format!("http://{addr}"))
        .build()
        .unwrap();
    // The target's name is never resolved: the proxy answers.
    let text = text_of(&client, "http://target.invalid/some/path?q=1").await;
    assert_eq!(
        text,
        "proxied GET http://target.invalid/some/path?q=1 HTTP/1.1 auth=none"
    );

    let with_password = Client::builder()
        .proxy(&format!("http://user:secret@{addr}"))
        .build()
        .unwrap();
    let text = text_of(&with_password, "http://target.invalid/").await;
    // base64("user:secret")
    assert_eq!(
        text,
        "proxied GET http://target.invalid/ HTTP/1.1 auth=Basic dXNlcjpzZWNyZXQ="
    );
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// Our TLS server for `localhost`, and a client trusting it.
async fn tls_target() -> (u16, TestCert) {
    let cert = make_cert();
    let addr = spawn_tls_server(Routes::new(1), &cert, &[b"h2", b"http/1.1"]).await;
    (addr.port(), cert)
}

#[ciranda::test]
async fn https_goes_through_a_connect_tunnel() {
    let (port, cert) = tls_target().await;
    let (addr, seen) = proxy(Some("Basic dXNlcjpzZWNyZXQ=")).await;
    let client = Client::builder()
        .proxy(&format!("http://user:secret@{addr}"))
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    let response = client
        .get(format!("https://localhost:{port}/"))
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "Hello, world!");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("CONNECT localhost:{port} HTTP/1.1")]
    );
}

#[ciranda::test]
async fn a_refused_tunnel_is_a_connect_error_that_says_why() {
    let (port, cert) = tls_target().await;
    let (addr, _) = proxy(Some("Basic dXNlcjpzZWNyZXQ=")).await;
    let client = Client::builder()
        .proxy(&format!("http://{addr}")) // no credentials
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    let err = client
        .get(format!("https://localhost:{port}/"))
        .await
        .unwrap_err();
    assert!(err.is_connect() && !err.is_tls(), "{err:?}");
    assert!(err.to_string().contains("407"), "{err}");
}

#[ciranda::test]
async fn no_proxy_hosts_are_reached_directly() {
    let (proxy_addr, seen) = proxy(None).await;
    let (server, stop, _task) = spawn_ciranda_server(Routes::new(1)).await;
    let client = Client::builder()
        .proxy(&format!("http://{proxy_addr}"))
        .no_proxy("example.org, 127.0.0.1")
        .build()
        .unwrap();
    let text = text_of(&client, &format!("http://{server}/")).await;
    assert_eq!(text, "Hello, world!");
    assert!(seen.lock().unwrap().is_empty());
    stop.set();
}

#[ciranda::test]
async fn an_https_proxy_is_spoken_to_over_tls() {
    let cert = make_cert();
    let (proxy_port, seen) = tls_proxy(Some("Basic dXNlcjpzZWNyZXQ="), &cert).await;
    let target = spawn_tls_server(Routes::new(1), &cert, &[b"h2", b"http/1.1"]).await;
    let client = Client::builder()
        .proxy(&format!("https://user:secret@localhost:{proxy_port}"))
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    // A plain request goes to the proxy, in absolute form, over the proxy's TLS...
    let text = text_of(&client, "http://target.invalid/x").await;
    assert_eq!(
        text,
        "proxied GET http://target.invalid/x HTTP/1.1 auth=Basic dXNlcjpzZWNyZXQ="
    );
    // ...and an https one through a tunnel, TLS with the target inside TLS with the proxy
    // (ALPN with the target still picks HTTP/2).
    let response = client
        .get(format!("https://localhost:{}/", target.port()))
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "Hello, world!");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [
            "GET http://target.invalid/x HTTP/1.1".to_owned(),
            format!("CONNECT localhost:{} HTTP/1.1", target.port())
        ]
    );
}

#[ciranda::test]
async fn an_https_proxy_must_have_a_trusted_certificate() {
    let (proxy_port, seen) = tls_proxy(None, &make_cert()).await;
    let client = Client::builder()
        .proxy(&format!("https://localhost:{proxy_port}"))
        .build()
        .unwrap();
    let err = client.get("http://target.invalid/").await.unwrap_err();
    assert!(err.is_tls(), "{err:?}");
    assert!(err.to_string().contains("proxy"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn only_http_and_https_proxies_are_accepted() {
    for url in [
        "socks5://127.0.0.1:1080",
        "socks4://127.0.0.1:1080",
        "ftp://proxy.example",
        "not a url",
    ] {
        let err = Client::builder().proxy(url).build().unwrap_err();
        assert!(err.is_builder(), "{url}: {err:?}");
        assert!(err.to_string().contains("proxy"), "{url}: {err}");
    }
}

#[ciranda::test]
async fn one_request_can_name_its_own_proxy() {
    let (own, own_seen, own_accepted) = counting_proxy(None).await;
    let (client_proxy, client_seen) = proxy(None).await;
    let (server, stop, _task) = spawn_ciranda_server(Routes::new(1)).await;
    // The client's proxy is bypassed for 127.0.0.1; a request's own proxy is not.
    let client = Client::builder()
        .proxy(&format!("http://{client_proxy}"))
        .no_proxy("127.0.0.1")
        .build()
        .unwrap();
    let options = RequestOptions::new().proxy(&format!("http://user:secret@{own}"));
    for path in ["first", "second"] {
        let url = format!("http://{server}/{path}");
        let text = client
            .get_with(&url, options.clone())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        // base64("user:secret")
        assert_eq!(
            text,
            format!("proxied GET {url} HTTP/1.1 auth=Basic dXNlcjpzZWNyZXQ=")
        );
    }
    // Both went over one pooled connection to that proxy.
    assert_eq!(own_accepted.load(Ordering::SeqCst), 1);
    assert_eq!(own_seen.lock().unwrap().len(), 2);
    // Without the option, the client's own settings apply again: straight to the server.
    let text = text_of(&client, &format!("http://{server}/")).await;
    assert_eq!(text, "Hello, world!");
    // And an address the client sends to its proxy goes there.
    let text = text_of(&client, "http://target.invalid/").await;
    assert_eq!(
        text,
        "proxied GET http://target.invalid/ HTTP/1.1 auth=none"
    );
    assert_eq!(client_seen.lock().unwrap().len(), 1);
    assert_eq!(own_seen.lock().unwrap().len(), 2);
    stop.set();
}

#[ciranda::test]
async fn a_request_tunnels_https_through_its_own_proxy() {
    let (port, cert) = tls_target().await;
    let (addr, seen) = proxy(Some("Basic dXNlcjpzZWNyZXQ=")).await;
    // The pool made for the request's proxy trusts what the client trusts.
    let client = Client::builder()
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    let options = RequestOptions::new().proxy(&format!("http://user:secret@{addr}"));
    let response = client
        .get_with(format!("https://localhost:{port}/"), options)
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "Hello, world!");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("CONNECT localhost:{port} HTTP/1.1")]
    );
}

#[ciranda::test]
async fn an_unusable_request_proxy_fails_that_request() {
    let client = Client::new();
    for proxy in ["socks5://127.0.0.1:1080", "not a url"] {
        let err = client
            .get_with("http://target.invalid/", RequestOptions::new().proxy(proxy))
            .await
            .unwrap_err();
        assert!(err.is_builder(), "{proxy}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("proxy"), "{proxy}: {message}");
        assert!(
            message.contains("http://target.invalid/"),
            "{proxy}: {message}"
        );
    }
}

/// Set in the child process that `trust_env_reads_http_proxy` starts.
const CHILD: &str = "CIRANDA_HTTP_PROXY_TEST_CHILD";

#[ciranda::test]
async fn trust_env_reads_http_proxy() {
    let (addr, seen) = proxy(None).await;
    let output = ciranda::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "trust_env_child", "--ignored", "--nocapture"])
        .env(CHILD, "1")
        .env("HTTP_PROXY", format!("http://{addr}"))
        .env("NO_PROXY", "")
        .env_remove("http_proxy")
        .env_remove("no_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .env_remove("REQUEST_METHOD")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "the child test did not run: {stdout}"
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["GET http://target.invalid/env HTTP/1.1"]
    );
}

/// Runs only as `trust_env_reads_http_proxy`'s child, with `HTTP_PROXY` set.
#[ciranda::test]
#[ignore = "run by trust_env_reads_http_proxy in a child process"]
async fn trust_env_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let client = Client::builder().trust_env(true).build().unwrap();
    let text = text_of(&client, "http://target.invalid/env").await;
    assert_eq!(
        text,
        "proxied GET http://target.invalid/env HTTP/1.1 auth=none"
    );
    // Without trust_env the environment is not read: the name does not resolve.
    let direct = Client::new().get("http://target.invalid/env").await;
    assert!(direct.unwrap_err().is_connect());
}
