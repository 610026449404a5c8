//! The client through a proxy: plain requests in absolute form, `https` through a `CONNECT`
//! tunnel, credentials, a refused tunnel, an unreachable proxy, `no_proxy`, bad proxy URLs, a proxy named by one
//! request's options (and how many of their pools are kept), an `https://` proxy, SOCKS5 proxies, and `trust_env` reading
//! `HTTP_PROXY` (in a child process, so no test changes this one's environment).

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
            relay(read, write, upstream).await;
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

/// Relays bytes between a client (its two halves) and `upstream`, both ways, until both
/// directions end.
async fn relay<R, W>(mut from_client: R, mut to_client: W, upstream: TcpStream)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut up_read, mut up_write) = upstream.split();
    let to_target = ciranda::io::copy(&mut from_client, &mut up_write);
    let to_client = ciranda::io::copy(&mut up_read, &mut to_client);
    let _ = futures_util::future::join(to_target, to_client).await;
}

async fn text_of(client: &Client, url: &str) -> String {
    client.get(url).await.unwrap().text().await.unwrap()
}

/// `GET https://localhost:PORT/` of a [`tls_target`]: HTTP/2 by ALPN, and its greeting.
async fn hello_over_h2(client: &Client, port: u16) {
    let response = client
        .get(format!("https://localhost:{port}/"))
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "Hello, world!");
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
    hello_over_h2(&client, port).await;
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("CONNECT localhost:{port} HTTP/1.1")]
    );
}

/// A proxy that answers every `CONNECT`, whatever port it names, with a tunnel to
/// `127.0.0.1:port`: a target on a local port can be reached as `https://localhost/` (443).
/// It records each request line, and counts the connections it accepts.
async fn tunnelling_to(port: u16) -> (SocketAddr, Seen, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (log, count) = (seen.clone(), accepted.clone());
    ciranda::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let log = log.clone();
            ciranda::spawn(async move {
                let (read, mut write) = client.split();
                let mut read = BufReader::new(read);
                let mut line = String::new();
                read.read_line(&mut line).await.unwrap();
                log.lock().unwrap().push(line.trim_end().to_owned());
                loop {
                    let mut header = String::new();
                    read.read_line(&mut header).await.unwrap();
                    if header.trim_end().is_empty() {
                        break;
                    }
                }
                let upstream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                write
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await
                    .unwrap();
                relay(read, write, upstream).await;
            });
        }
    });
    (addr, seen, accepted)
}

#[ciranda::test]
async fn https_requests_with_and_without_the_default_port_share_one_http2_connection() {
    // hyper-util's pool keys connections by the authority as written; the connection limits
    // count `localhost` and `localhost:443` as one host, and so must the pool: otherwise
    // each spelling opens its own HTTP/2 connection (under `max_connections`' one place).
    let (port, cert) = tls_target().await;
    let (addr, seen, accepted) = tunnelling_to(port).await;
    let client = Client::builder()
        .proxy(&format!("http://{addr}"))
        .add_root_certificate(&cert.cert_der)
        .max_connections(1)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap();
    let spellings = [
        "https://localhost/",
        "https://localhost:443/",
        "https://LOCALHOST:443/",
        "https://localhost:/",
        "https://localhost:0443/",
    ];
    for url in spellings {
        let response = client.get(url).await.unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2, "{url}");
        assert_eq!(response.text().await.unwrap(), "Hello, world!");
    }
    // And at once, on the connection the pool now holds.
    let bodies = ciranda::gather(spellings.into_iter().cycle().take(20).map(|url| {
        let client = client.clone();
        async move { client.get(url).await?.text().await }
    }))
    .await;
    for body in bodies {
        assert_eq!(body.unwrap(), "Hello, world!");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["CONNECT localhost:443 HTTP/1.1"]
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
async fn a_connect_answer_with_bare_lf_line_ends_opens_the_tunnel() {
    // RFC 9112 2.2: a recipient may take a lone LF for a line end; some small proxies send
    // them. The client must not wait for a CRLF CRLF that never comes.
    let (port, cert) = tls_target().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    ciranda::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let (read, mut write) = client.split();
        let mut read = BufReader::new(read);
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        let target = line.split(' ').nth(1).unwrap().to_owned();
        loop {
            let mut header = String::new();
            read.read_line(&mut header).await.unwrap();
            if header.trim_end().is_empty() {
                break;
            }
        }
        let upstream = TcpStream::connect(target).await.unwrap();
        write
            .write_all(b"HTTP/1.0 200 Connection established\nProxy-Agent: tiny\n\n")
            .await
            .unwrap();
        relay(read, write, upstream).await;
    });
    let client = Client::builder()
        .proxy(&format!("http://{addr}"))
        .add_root_certificate(&cert.cert_der)
        .connect_timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    hello_over_h2(&client, port).await;
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

/// An address nothing listens on (connections to it are refused at once).
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[ciranda::test]
async fn an_unreachable_proxy_s_error_says_it_is_the_proxy() {
    let addr = closed_port();
    for scheme in ["http", "socks5h"] {
        let proxy = format!("{scheme}://{addr}");
        let client = Client::builder().proxy(&proxy).build().unwrap();
        // A plain target (forwarded) and a TLS one (tunnelled): the same first step fails.
        for target in ["http://target.invalid/", "https://target.invalid/"] {
            let err = client.get(target).await.unwrap_err();
            assert!(err.is_connect() && !err.is_tls(), "{err:?}");
            assert!(!err.is_timeout(), "{err:?}");
            let message = err.to_string();
            assert!(
                message.contains(&format!("connecting to proxy {proxy}")),
                "{message}"
            );
            assert!(message.contains(target), "{message}");
            // The chain still leads to the socket's error.
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&err);
            let mut refused = false;
            while let Some(c) = cause {
                refused |= c
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused);
                cause = c.source();
            }
            assert!(refused, "no ConnectionRefused in the chain: {err:?}");
        }
    }
}

#[ciranda::test]
async fn no_proxy_entries_with_a_port_or_brackets_bypass_only_what_they_name() {
    let (proxy_addr, seen) = proxy(None).await;
    let (server, stop, _task) = spawn_ciranda_server(Routes::new(1)).await;
    let (port, closed) = (server.port(), closed_port().port());
    let client = Client::builder()
        .proxy(&format!("http://{proxy_addr}"))
        .no_proxy(&format!("127.0.0.1:{port}, [::1]:{closed}"))
        .build()
        .unwrap();
    // That address on that port: reached directly.
    let direct = text_of(&client, &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(direct, "Hello, world!");
    // Another port, another address: through the proxy (which answers itself).
    for url in [
        format!("http://127.0.0.1:{closed}/"),
        format!("http://127.0.0.2:{port}/"),
        format!("http://[::1]:{port}/"),
    ] {
        let text = text_of(&client, &url).await;
        assert_eq!(text, format!("proxied GET {url} HTTP/1.1 auth=none"));
    }
    // The bracketed address on its port: tried directly, and nothing listens there.
    let err = client
        .get(format!("http://[::1]:{closed}/"))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(!err.to_string().contains("proxy"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 3);
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
    hello_over_h2(&client, target.port()).await;
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

/// A minimal SOCKS5 proxy (RFC 1928, RFC 1929). With `password` set it asks for username
/// `user` and that password. It logs each connect request's target (`ipv4 A:P`, `ipv6 [A]:P`
/// or `name H:P`), resolves names itself, and answers "connection refused" (reply 5) when
/// `refuse` is set or the target cannot be reached; otherwise it relays bytes both ways.
async fn socks_proxy(password: Option<&'static str>, refuse: bool) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    ciranda::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            ciranda::spawn(serve_socks(client, password, refuse, log.clone()));
        }
    });
    (addr, seen)
}

async fn serve_socks(mut client: TcpStream, password: Option<&str>, refuse: bool, seen: Seen) {
    let mut head = [0u8; 2];
    client.read_exact(&mut head).await.unwrap();
    let mut methods = vec![0u8; usize::from(head[1])];
    client.read_exact(&mut methods).await.unwrap();
    if let Some(password) = password {
        if !methods.contains(&2) {
            let _ = client.write_all(&[5, 0xff]).await;
            return;
        }
        client.write_all(&[5, 2]).await.unwrap();
        let mut len = [0u8; 2];
        client.read_exact(&mut len).await.unwrap();
        let mut user = vec![0u8; usize::from(len[1])];
        client.read_exact(&mut user).await.unwrap();
        client.read_exact(&mut len[..1]).await.unwrap();
        let mut pass = vec![0u8; usize::from(len[0])];
        client.read_exact(&mut pass).await.unwrap();
        if user != b"user" || pass != password.as_bytes() {
            let _ = client.write_all(&[1, 1]).await;
            return;
        }
        client.write_all(&[1, 0]).await.unwrap();
    } else {
        client.write_all(&[5, 0]).await.unwrap();
    }
    let mut request = [0u8; 4];
    client.read_exact(&mut request).await.unwrap();
    assert_eq!(request[..3], [5, 1, 0], "a CONNECT request");
    let (shown, host) = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            client.read_exact(&mut ip).await.unwrap();
            let ip = std::net::Ipv4Addr::from(ip);
            ("ipv4", ip.to_string())
        }
        4 => {
            let mut ip = [0u8; 16];
            client.read_exact(&mut ip).await.unwrap();
            let ip = std::net::Ipv6Addr::from(ip);
            ("ipv6", format!("[{ip}]"))
        }
        3 => {
            let mut len = [0u8; 1];
            client.read_exact(&mut len).await.unwrap();
            let mut name = vec![0u8; usize::from(len[0])];
            client.read_exact(&mut name).await.unwrap();
            ("name", String::from_utf8(name).unwrap())
        }
        other => panic!("address type {other}"),
    };
    let mut port = [0u8; 2];
    client.read_exact(&mut port).await.unwrap();
    let target = format!("{host}:{}", u16::from_be_bytes(port));
    seen.lock().unwrap().push(format!("{shown} {target}"));
    let upstream = match refuse {
        true => None,
        false => TcpStream::connect(target.as_str()).await.ok(),
    };
    let Some(upstream) = upstream else {
        let _ = client.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await;
        return;
    };
    // The bound address, a name this time: the client must read it to its end.
    client
        .write_all(&[5, 0, 0, 3, 5, b'p', b'r', b'o', b'x', b'y', 0x04, 0x38])
        .await
        .unwrap();
    let (read, write) = client.split();
    relay(read, write, upstream).await;
}

#[ciranda::test]
async fn socks5h_tunnels_plain_and_tls_requests_with_the_name_unresolved() {
    let (socks, seen) = socks_proxy(Some("pw"), false).await;
    // The plain target answers with the request's URI as it arrived and its
    // Proxy-Authorization header.
    let (plain, server) = serve_route(|request, _| async move {
        let auth = request
            .headers()
            .get("proxy-authorization")
            .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned());
        let said = format!("{} auth={auth}", request.uri());
        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
            bytes::Bytes::from(said),
        )))
    })
    .await;
    let (tls_port, cert) = tls_target().await;
    let client = Client::builder()
        .proxy(&format!("socks5h://user:pw@{socks}"))
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    // Through the tunnel the request is in origin form, and the proxy's credentials stay
    // with the proxy.
    let text = text_of(&client, &format!("http://localhost:{}/x?y=1", plain.port())).await;
    assert_eq!(text, "/x?y=1 auth=none");
    hello_over_h2(&client, tls_port).await;
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [
            format!("name localhost:{}", plain.port()),
            format!("name localhost:{tls_port}")
        ]
    );
    server.abort();
}

#[ciranda::test]
async fn socks5_resolves_the_name_here_and_a_refusal_says_why() {
    let (socks, seen) = socks_proxy(None, true).await;
    let client = Client::builder()
        .proxy(&format!("socks5://{socks}"))
        .build()
        .unwrap();
    let err = client.get("http://localhost:4321/").await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("connection refused by the target"),
        "{message}"
    );
    // The first address this machine resolves `localhost` to, sent as an address.
    use std::net::ToSocketAddrs;
    let first = ("localhost", 4321)
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let expected = match first {
        SocketAddr::V4(a) => format!("ipv4 {a}"),
        SocketAddr::V6(a) => format!("ipv6 {a}"),
    };
    assert_eq!(seen.lock().unwrap().as_slice(), [expected]);
}

#[ciranda::test]
async fn socks5_credentials_are_checked() {
    let (socks, seen) = socks_proxy(Some("pw"), false).await;
    for (url, why) in [
        (
            format!("socks5h://user:wrong@{socks}"),
            "rejected the username and password",
        ),
        (
            format!("socks5h://{socks}"),
            "accepts none of the authentication methods offered",
        ),
    ] {
        let client = Client::builder().proxy(&url).build().unwrap();
        let err = client.get("http://target.invalid/").await.unwrap_err();
        assert!(err.is_connect(), "{url}: {err:?}");
        assert!(err.to_string().contains(why), "{url}: {err}");
    }
    assert!(seen.lock().unwrap().is_empty());
}

/// A SOCKS5 proxy that asks for a username and password and answers them with `reply`
/// whatever they are; then, for a connect request (logged in `seen` as `connect`), it
/// answers success and, as the target, answers the request with a `200` whose body is
/// `through`.
async fn socks_replying(reply: [u8; 2]) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    ciranda::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let log = log.clone();
            ciranda::spawn(async move {
                let mut head = [0u8; 2];
                client.read_exact(&mut head).await.unwrap();
                let mut methods = vec![0u8; usize::from(head[1])];
                client.read_exact(&mut methods).await.unwrap();
                client.write_all(&[5, 2]).await.unwrap();
                let mut len = [0u8; 2];
                client.read_exact(&mut len).await.unwrap();
                let mut user = vec![0u8; usize::from(len[1])];
                client.read_exact(&mut user).await.unwrap();
                client.read_exact(&mut len[..1]).await.unwrap();
                let mut pass = vec![0u8; usize::from(len[0])];
                client.read_exact(&mut pass).await.unwrap();
                client.write_all(&reply).await.unwrap();
                // A client that refused the reply closes the connection here.
                let mut request = [0u8; 5];
                if client.read_exact(&mut request).await.is_err() {
                    return;
                }
                let mut rest = vec![0u8; usize::from(request[4]) + 2];
                client.read_exact(&mut rest).await.unwrap();
                log.lock().unwrap().push("connect".to_owned());
                client
                    .write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 80])
                    .await
                    .unwrap();
                read_until_ends_with(&mut client, b"\r\n\r\n").await;
                let _ = client
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nthrough",
                    )
                    .await;
            });
        }
    });
    (addr, seen)
}

#[ciranda::test]
async fn a_socks5_password_reply_of_another_version_is_refused() {
    // RFC 1929's reply is version 1, then 0 for accepted: that one opens the tunnel.
    let (socks, seen) = socks_replying([1, 0]).await;
    let client = Client::builder()
        .proxy(&format!("socks5h://user:pw@{socks}"))
        .build()
        .unwrap();
    assert_eq!(text_of(&client, "http://target.invalid/").await, "through");
    assert_eq!(seen.lock().unwrap().as_slice(), ["connect"]);

    // Version 5 (SOCKS5's own, which a confused proxy might send) and 0: not an answer to
    // the credentials, so no tunnel is asked for.
    for version in [5, 0] {
        let (socks, seen) = socks_replying([version, 0]).await;
        let client = Client::builder()
            .proxy(&format!("socks5h://user:pw@{socks}"))
            .build()
            .unwrap();
        let err = client.get("http://target.invalid/").await.unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains(&format!(
                "subnegotiation version {version}, not 1 (RFC 1929)"
            )),
            "{message}"
        );
        assert!(seen.lock().unwrap().is_empty());
    }
}

#[test]
fn only_http_https_and_socks5_proxies_are_accepted() {
    for url in [
        "socks4://127.0.0.1:1080",
        "socks4a://127.0.0.1:1080",
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
        // hyper hands a connection back to its pool just after the body's end, in its own
        // task: give it that time (generously, on a loaded machine) before the next request.
        ciranda::time::sleep(std::time::Duration::from_millis(200)).await;
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
async fn rotating_request_proxies_keep_pools_for_the_recent_ones_only() {
    // A proxy that counts the connections whose client went away.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(AtomicUsize::new(0));
    let count = closed.clone();
    ciranda::spawn(async move {
        loop {
            let (client, _) = listener.accept().await.unwrap();
            let count = count.clone();
            ciranda::spawn(async move {
                serve_proxy(client, None, Seen::default()).await;
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    let client = Client::new();
    let through =
        |user: usize| RequestOptions::new().proxy(&format!("http://user{user}:pw@{addr}"));
    let settle = || ciranda::time::sleep(std::time::Duration::from_millis(300));
    // 32 proxy URLs (one per username, as proxy services rotate sessions): 32 pools, each
    // keeping its idle connection.
    for user in 0..32 {
        let response = client
            .get_with("http://target.invalid/", through(user))
            .await
            .unwrap();
        assert!(response.text().await.unwrap().starts_with("proxied GET"));
    }
    settle().await;
    assert_eq!(closed.load(Ordering::SeqCst), 0);
    // The 33rd closes the pool of the one used least recently, and only that one.
    let response = client
        .get_with("http://target.invalid/", through(32))
        .await
        .unwrap();
    assert!(response.text().await.unwrap().starts_with("proxied GET"));
    for _ in 0..100 {
        if closed.load(Ordering::SeqCst) > 0 {
            break;
        }
        ciranda::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    settle().await;
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

#[ciranda::test]
async fn an_unusable_request_proxy_fails_that_request() {
    let client = Client::new();
    for proxy in ["socks4://127.0.0.1:1080", "not a url"] {
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

#[ciranda::test]
async fn an_unusable_proxy_urls_password_stays_out_of_its_error() {
    let client = Client::new();
    for proxy in [
        "socks4://user:secret@127.0.0.1:1080",
        "http://user:secret@proxy example:3128",
    ] {
        let built = Client::builder().proxy(proxy).build().unwrap_err();
        let per_request = client
            .get_with("http://target.invalid/", RequestOptions::new().proxy(proxy))
            .await
            .unwrap_err();
        for err in [built, per_request] {
            assert!(err.is_builder(), "{err:?}");
            let (shown, debug) = (err.to_string(), format!("{err:?}"));
            assert!(
                !shown.contains("secret") && !debug.contains("secret"),
                "{debug}"
            );
            // Still says which proxy.
            assert!(shown.contains("***@"), "{shown}");
        }
    }
}

/// A TLS server for `localhost` (HTTP/1.1) that answers every request with its head.
async fn tls_echo_head_target(cert: &TestCert) -> u16 {
    let config = tls_server_config(cert, &[b"http/1.1"]);
    let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    ciranda::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            ciranda::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    head.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.write_all(&head).await;
                let _ = tls.flush().await;
            });
        }
    });
    port
}

#[ciranda::test]
async fn a_requests_own_proxy_authorization_is_not_sent_through_a_tunnel() {
    let cert = make_cert();
    let port = tls_echo_head_target(&cert).await;
    let (addr, seen) = proxy(None).await;
    let client = Client::builder()
        .proxy(&format!("http://{addr}"))
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    let with_header = |url: String| {
        http::Request::get(url)
            .header(http::header::PROXY_AUTHORIZATION, "Basic bWU6cHc=")
            .body(ciranda_http::Body::empty())
            .unwrap()
    };
    // Tunnelled: the target reads the request, and never sees the proxy's header.
    let response = client
        .request(with_header(format!("https://localhost:{port}/")))
        .await
        .unwrap();
    let head = response.text().await.unwrap();
    assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("proxy-authorization"),
        "{head}"
    );
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("CONNECT localhost:{port} HTTP/1.1")]
    );
    // Forwarded by the proxy itself: the header is for it, and goes.
    let response = client
        .request(with_header("http://target.invalid/".to_owned()))
        .await
        .unwrap();
    assert_eq!(
        response.text().await.unwrap(),
        "proxied GET http://target.invalid/ HTTP/1.1 auth=Basic bWU6cHc="
    );
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
        .env("NO_PROXY", "target.invalid:8080")
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

/// Runs only as `trust_env_reads_http_proxy`'s child, with `HTTP_PROXY` and `NO_PROXY` set.
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
    // `NO_PROXY` names this port: reached directly, and the name does not resolve.
    let bypassed = client.get("http://target.invalid:8080/env").await;
    assert!(bypassed.unwrap_err().is_connect());
    // Without trust_env the environment is not read: the name does not resolve.
    let direct = Client::new().get("http://target.invalid/env").await;
    assert!(direct.unwrap_err().is_connect());
}
