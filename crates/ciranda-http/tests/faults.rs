//! Faults: servers that never answer, refuse, reset or truncate; bad URLs; slow and malformed
//! clients against our server; graceful shutdown with requests in flight; the client's
//! timeout on a paused clock.

mod common;

use bytes::Bytes;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::sync::{Event, Semaphore};
use ciranda::time::{Duration, timeout};
use ciranda_http::Client;
use common::*;
use http_body_util::Full;
use std::convert::Infallible;
use std::sync::Arc;

/// Accepts connections and never answers (nor closes them).
async fn silent_server() -> (String, ciranda::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let task = ciranda::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            held.push(stream);
        }
    });
    (url, task)
}

#[ciranda::test]
async fn a_server_that_never_answers_is_a_timeout() {
    let (url, server) = silent_server().await;
    let client = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = timeout(Duration::from_secs(30), client.get(&url))
        .await
        .expect("the client's own timeout must fire first")
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(!err.is_connect());
    assert!(err.to_string().contains(&url), "{err}");
    server.abort();
}

#[ciranda::test(start_paused = true)]
async fn the_client_timeout_runs_on_the_paused_clock() {
    let (url, server) = silent_server().await;
    let client = Client::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let real = std::time::Instant::now();
    let virtual_start = ciranda::time::Instant::now();
    let err = client.get(&url).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    // An hour passed on the runtime's clock, and (much) less than that on the wall.
    assert!(virtual_start.elapsed() >= Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(60),
        "waited for real: {:?}",
        real.elapsed()
    );
    server.abort();
}

#[ciranda::test]
async fn a_refused_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/x", listener.local_addr().unwrap());
    drop(listener);
    let err = Client::new().get(&url).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(!err.is_timeout() && !err.is_tls() && !err.is_invalid_url());
    let msg = err.to_string();
    assert!(msg.contains(&url) && msg.contains("refused"), "{msg}");
}

#[ciranda::test]
async fn an_unresolvable_host_is_a_connect_error() {
    // `.invalid` never resolves (RFC 6761), offline or not.
    let url = "http://no-such-host.invalid/";
    let err = Client::new().get(url).await.unwrap_err();
    assert!(err.is_connect(), "{err:?}");
    assert!(err.to_string().contains(url));
}

#[ciranda::test]
async fn bad_urls_are_errors_never_panics() {
    let client = Client::new();
    for url in [
        "",
        "not a url",
        "example.com/path",
        "ftp://example.com/",
        "mailto:someone@example.com",
        "http://",
        "http:///path",
        "https://exa mple.com/",
        "http://[::1/",
        "/relative/path",
    ] {
        let err = client.get(url).await.unwrap_err();
        assert!(err.is_invalid_url(), "{url:?}: {err:?}");
        assert!(err.to_string().contains(url), "{url:?}: {err}");
        let err = client.post(url, "body").await.unwrap_err();
        assert!(err.is_invalid_url(), "{url:?}: {err:?}");
    }
    // `request` with a relative URI.
    let req = http::Request::get("/only/a/path")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert!(client.request(req).await.unwrap_err().is_invalid_url());
    // A bad user agent or root certificate fails at build time, not at the first request.
    assert!(
        Client::builder()
            .user_agent("bad\nagent")
            .build()
            .unwrap_err()
            .is_builder()
    );
    assert!(
        Client::builder()
            .add_root_certificate(b"not DER")
            .build()
            .unwrap_err()
            .is_builder()
    );
}

#[ciranda::test]
async fn a_port_that_is_no_port_number_is_an_invalid_url_not_the_default_port() {
    // `http::Uri` takes these, then reads no port from them: the request went to port 80.
    let client = Client::new();
    for url in [
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:65536/",
        "http://127.0.0.1:8o80/",
        "https://localhost:44x3/path",
        "http://[::1]:port/",
    ] {
        let err = client.get(url).await.unwrap_err();
        assert!(err.is_invalid_url(), "{url:?}: {err:?}");
        let message = err.to_string();
        assert!(
            message.contains(url) && message.contains("port"),
            "{url:?}: {message}"
        );
        let request = http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .unwrap();
        let err = client.request(request).await.unwrap_err();
        assert!(err.is_invalid_url(), "{url:?}: {err:?}");
    }
    // A proxy's port likewise.
    let err = Client::builder()
        .proxy("http://127.0.0.1:99999")
        .build()
        .unwrap_err();
    assert!(err.is_builder(), "{err:?}");
    assert!(err.to_string().contains("\"99999\""), "{err}");
}

/// Sends a response head announcing 100 000 bytes, then some of them, then ends the
/// connection: by closing it (`reset: false`) or by resetting it (closing with the request
/// unread makes the kernel send RST).
async fn truncating_server(reset: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    ciranda::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        if !reset {
            // Read the request head so the close is a clean FIN.
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                stream.read_exact(&mut byte).await.unwrap();
                head.push(byte[0]);
            }
        } else {
            stream.readable().await.unwrap(); // the request is there, unread
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
            .await
            .unwrap();
        stream.write_all(&[b'x'; 1000]).await.unwrap();
        drop(stream);
    });
    url
}

#[ciranda::test]
async fn a_body_cut_short_is_an_error_not_a_hang() {
    let url = truncating_server(false).await;
    // No client timeout: a hang would show as the test's own timeout expiring.
    let response = timeout(Duration::from_secs(30), Client::new().get(&url))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    let err = timeout(Duration::from_secs(30), response.bytes())
        .await
        .expect("reading a truncated body hung")
        .unwrap_err();
    assert!(err.is_body(), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[ciranda::test]
async fn a_reset_mid_body_is_an_error_not_a_hang() {
    for _ in 0..5 {
        let url = truncating_server(true).await;
        let outcome = timeout(Duration::from_secs(30), async {
            // The reset may land before or after the head is read: either step may fail.
            Client::new().get(&url).await?.bytes().await
        })
        .await
        .expect("a reset connection hung the client");
        let err = outcome.unwrap_err();
        assert!(err.to_string().contains(&url), "{err}");
    }
}

/// A new connection to `addr` that has sent `bytes`.
async fn connect_and_send(addr: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Writes `bytes`, then waits (30 s at most) for the server to close the connection;
/// returns what it sent.
async fn send_and_wait_for_close(addr: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let bound = Duration::from_secs(30);
    let mut stream = connect_and_send(addr, bytes).await;
    let mut answer = Vec::new();
    let closed = timeout(bound, async {
        // A reset counts as closed too.
        let _ = stream.read_to_end(&mut answer).await;
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server held a slow connection open: {bytes:?}"
    );
    answer
}

/// Our server with `Routes`, the given header-read timeout and no idle timeout (so that
/// only hyper's header timer closes an idle HTTP/1.1 connection).
async fn hello_server_with(
    header_timeout: Duration,
) -> (
    std::net::SocketAddr,
    Arc<Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(Event::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let server = ciranda::spawn(
        ciranda_http::server::serve_with_remote(listener, Routes::new(1).make_service())
            .header_read_timeout(header_timeout)
            .idle_timeout(None)
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    (addr, stop, server)
}

#[ciranda::test]
async fn slow_clients_are_cut_off_by_the_header_timeout() {
    // One second: long enough that a loaded machine does not make a prompt client look slow.
    let (addr, stop, server) = hello_server_with(Duration::from_secs(1)).await;
    // Nothing at all; half a request head; the first byte of the HTTP/2 preface (stuck
    // while the server tells HTTP/1.1 from HTTP/2); a whole HTTP/2 preface and nothing more
    // is a live HTTP/2 connection and is not tested here.
    for slow in [&b""[..], b"GET / HTTP/1.1\r\nHost: x\r\n", b"P"] {
        let answer = send_and_wait_for_close(addr, slow).await;
        // Nothing useful was asked, so nothing but (at most) an error status comes back.
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
            "{answer:?}"
        );
    }
    // An idle keep-alive connection is closed too, after its first request was served.
    let answer = send_and_wait_for_close(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    // And the server still serves everyone else.
    let body = Client::new()
        .get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "Hello, world!");
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn malformed_requests_get_400_and_the_server_goes_on() {
    let (addr, stop, server) = hello_server_with(Duration::from_secs(30)).await;
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: banana\r\n\r\n",
        b"GET / HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
        b"\x00\x01\x02\x03\r\n\r\n",
    ] {
        let answer = send_and_wait_for_close(addr, garbage).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
            "{garbage:?} -> {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    let answer = send_and_wait_for_close(addr, b"GARBAGE\r\n\r\n").await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let body = Client::new()
        .get(format!("http://{addr}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "Hello, world!");
    stop.set();
    server.await.unwrap().unwrap();
}

/// A server whose handler signals `arrived` and then waits for `release`.
async fn gated_server(
    shutdown_timeout: Duration,
) -> (
    String,
    Arc<Semaphore>,
    Arc<Event>,
    Arc<Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let arrived = Arc::new(Semaphore::new(0));
    let release = Arc::new(Event::new());
    let stop = Arc::new(Event::new());
    let service = {
        let (arrived, release) = (arrived.clone(), release.clone());
        hyper::service::service_fn(move |_req| {
            let (arrived, release) = (arrived.clone(), release.clone());
            async move {
                arrived.add_permits(1);
                release.wait().await;
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("done"))))
            }
        })
    };
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .shutdown_timeout(shutdown_timeout)
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    (url, arrived, release, stop, server)
}

#[ciranda::test]
async fn graceful_shutdown_finishes_requests_in_flight_and_refuses_new_ones() {
    let (url, arrived, release, stop, server) = gated_server(Duration::from_secs(60)).await;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let in_flight: Vec<_> = (0..5)
        .map(|_| {
            let url = url.clone();
            // One client each: five connections.
            ciranda::spawn(async move { Client::new().get(&url).await?.text().await })
        })
        .collect();
    arrived.acquire_many(5).await.unwrap().forget();
    stop.set();
    // The listener closes: new connections are refused (poll until they are).
    let refused = timeout(Duration::from_secs(30), async {
        loop {
            match TcpStream::connect(addr.as_str()).await {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                _ => ciranda::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
    assert!(
        refused.is_ok(),
        "the listener still accepts after shutdown began"
    );
    assert!(
        !server.is_finished(),
        "the server returned with requests in flight"
    );
    release.set();
    for request in in_flight {
        assert_eq!(request.await.unwrap().unwrap(), "done");
    }
    timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[ciranda::test]
async fn graceful_shutdown_cancels_what_outlives_the_deadline() {
    let (url, arrived, _release, stop, server) = gated_server(Duration::from_millis(200)).await;
    let stuck = ciranda::spawn(async move { Client::new().get(&url).await.map(|r| r.status()) });
    arrived.acquire().await.unwrap().forget();
    stop.set();
    // The handler never finishes; the server gives up on it after the deadline.
    timeout(Duration::from_secs(30), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let outcome = timeout(Duration::from_secs(30), stuck)
        .await
        .unwrap()
        .unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}

// A paused clock jumps to the next timer whenever every task waits, and a task waiting for
// bytes still in flight through the kernel counts as waiting: a deadline that must *not*
// fire may then fire early. So these tests pause the clock only once no bytes are in flight
// (the response is in), and leave it running before that.

#[ciranda::test]
async fn hypers_header_timeout_runs_on_the_paused_clock() {
    // An hour-long header timeout passes at once in virtual time: hyper's own timer (the
    // next HTTP/1.1 head on a kept-alive connection) and the server's first-request deadline
    // both run on CirandaTimer / ciranda::time.
    let (addr, stop, server) = hello_server_with(Duration::from_secs(3600)).await;
    let real = std::time::Instant::now();

    // Served once, then idle: hyper's keep-alive head timer closes it.
    let mut stream = connect_and_send(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut answer = read_until_ends_with(&mut stream, b"Hello, world!").await;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    ciranda::time::pause(); // nothing in flight now
    let start = ciranda::time::Instant::now();
    let closed = timeout(
        Duration::from_secs(3 * 3600),
        stream.read_to_end(&mut answer),
    )
    .await;
    assert!(closed.is_ok(), "the idle connection was not closed");
    assert!(start.elapsed() >= Duration::from_secs(3599));

    // Half a head: the first-request deadline closes it. The connection is made on the
    // running clock, and a whole request on a second connection is answered before the
    // clock is paused again: by then the server has accepted the first one (the listener
    // hands connections out in order) and armed its deadline. Paused any earlier, the clock
    // could jump straight to this test's own bound while the accept was still in the
    // kernel, which counts as idle.
    ciranda::time::resume();
    let mut half = connect_and_send(addr, b"GET / HTTP/1.1\r\nHost: x\r\n").await;
    let close = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut other = connect_and_send(addr, close).await;
    let mut served = Vec::new();
    other.read_to_end(&mut served).await.unwrap();
    assert!(served.starts_with(b"HTTP/1.1 200"), "{served:?}");
    ciranda::time::pause();
    let mut answer = Vec::new();
    let closed = timeout(Duration::from_secs(3 * 3600), async {
        // A reset counts as closed too.
        let _ = half.read_to_end(&mut answer).await;
    })
    .await;
    assert!(closed.is_ok(), "the server held a half-sent head open");
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
        "{answer:?}"
    );
    assert!(start.elapsed() >= Duration::from_secs(2 * 3599));
    assert!(real.elapsed() < Duration::from_secs(60));
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn the_pool_expires_idle_connections_on_the_paused_clock() {
    // The server keeps idle connections for an hour, so only the pool's 90 s can end one.
    let (addr, stop, server) = hello_server_with(Duration::from_secs(3600)).await;
    let url = format!("http://{addr}/peer");
    let client = Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .unwrap();
    let peer = |client: Client, url: String| async move {
        client.get(&url).await.unwrap().text().await.unwrap()
    };
    // Requests on the running clock; the idle waits on the paused one (nothing in flight).
    let first = peer(client.clone(), url.clone()).await;
    ciranda::time::pause();
    ciranda::time::sleep(Duration::from_secs(10)).await;
    ciranda::time::resume();
    assert_eq!(
        peer(client.clone(), url.clone()).await,
        first,
        "not reused within the idle timeout"
    );
    ciranda::time::pause();
    ciranda::time::sleep(Duration::from_secs(300)).await;
    ciranda::time::resume();
    assert_ne!(
        peer(client.clone(), url.clone()).await,
        first,
        "reused after the idle timeout"
    );
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn a_body_that_stalls_runs_into_the_client_timeout() {
    // Head and part of the body, then silence (the connection stays open).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = ciranda::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.readable().await.unwrap();
        stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nhalf")
            .await
            .unwrap();
        std::future::pending::<()>().await;
        drop(stream);
    });
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = ciranda::time::Instant::now();
    let response = client.get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    // The head and "half" came in one segment and nothing else will: pause the clock now.
    ciranda::time::pause();
    let err = response.bytes().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains(&url));
    // The deadline counts from the start of the request, not from the head.
    assert_eq!(start.elapsed().as_secs(), 60);
    server.abort();
}

/// `count` keep-alive HTTP/1.1 requests over one new connection to `addr`: the connection's
/// local address and each response's body.
async fn bodies_over_one_connection(
    addr: std::net::SocketAddr,
    count: usize,
) -> (std::net::SocketAddr, Vec<String>) {
    use http_body_util::BodyExt;
    let stream = TcpStream::connect(addr).await.unwrap();
    let local = stream.local_addr().unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(ciranda_http::rt::CirandaIo::new(stream))
            .await
            .unwrap();
    let conn = ciranda::spawn(conn);
    let mut bodies = Vec::new();
    for _ in 0..count {
        // Ready again once the previous exchange is done (errors if the server closed it).
        sender.ready().await.unwrap();
        let req = hyper::Request::get("/")
            .header("host", "localhost")
            .body(http_body_util::Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(req).await.unwrap();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        bodies.push(String::from_utf8(body.to_vec()).unwrap());
    }
    drop(sender);
    conn.await.unwrap().unwrap();
    (local, bodies)
}

/// Answers whether the request carries a `RemoteAddr` extension, and `tag`.
fn extension_reporter(
    tag: String,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<Full<Bytes>>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let has = req
            .extensions()
            .get::<ciranda_http::server::RemoteAddr>()
            .is_some();
        let body = format!("{tag} extension={has}");
        async move { Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body)))) }
    })
}

#[ciranda::test]
async fn serve_with_remote_makes_one_service_per_connection_from_its_peer() {
    use ciranda_http::server::RemoteAddr;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let made = Arc::new(std::sync::Mutex::new(Vec::new()));
    let make_service = {
        let made = made.clone();
        move |RemoteAddr(peer)| {
            made.lock().unwrap().push(peer);
            extension_reporter(peer.to_string())
        }
    };
    let server = ciranda::spawn(
        ciranda_http::server::serve_with_remote(listener, make_service)
            .with_graceful_shutdown(std::future::pending())
            .into_future(),
    );
    let (first, first_bodies) = bodies_over_one_connection(addr, 3).await;
    let (second, second_bodies) = bodies_over_one_connection(addr, 2).await;
    // Made once per connection (not per request), each time from that connection's peer; the
    // requests themselves carry nothing extra.
    assert_eq!(*made.lock().unwrap(), [first, second]);
    assert_eq!(first_bodies, vec![format!("{first} extension=false"); 3]);
    assert_eq!(second_bodies, vec![format!("{second} extension=false"); 2]);
    server.abort();
}

#[ciranda::test]
async fn serve_adds_nothing_to_requests() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, extension_reporter("plain".into())).into_future(),
    );
    let (_, bodies) = bodies_over_one_connection(addr, 2).await;
    assert_eq!(bodies, vec!["plain extension=false"; 2]);
    server.abort();
}

#[ciranda::test]
async fn graceful_shutdown_closes_idle_connections_that_served_many_requests() {
    // Connections that have been polled many times (their shutdown wait registered long
    // ago) and now sit idle in the client's pool must still see the shutdown: with an hour's
    // shutdown timeout and header-read (idle) timeout, only their own reaction lets the
    // server return.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let stop = Arc::new(Event::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, extension_reporter("idle".into()))
            .shutdown_timeout(Duration::from_secs(3600))
            .header_read_timeout(Duration::from_secs(3600))
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    let clients: Vec<Client> = (0..4).map(|_| Client::new()).collect();
    for _ in 0..20 {
        for client in &clients {
            let body = client.get(&url).await.unwrap().text().await.unwrap();
            assert_eq!(body, "idle extension=false");
        }
    }
    stop.set();
    timeout(Duration::from_secs(30), server)
        .await
        .expect("an idle connection missed the shutdown")
        .unwrap()
        .unwrap();
    drop(clients);
}

/// A server that answers the first request on each connection (keeping it alive) and closes
/// the connection, unanswered, when a second request arrives on it: the race of a server's
/// idle timeout, made certain for every reused connection. Returns its URL and the requests it
/// has read, each as (path, whether it closed the connection instead of answering).
async fn closes_kept_alive_connections() -> (String, Arc<std::sync::Mutex<Vec<(String, bool)>>>) {
    use ciranda::io::{AsyncBufReadExt, BufReader};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    ciranda::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = log.clone();
            ciranda::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                for served in 0.. {
                    // The request head; a body (the POSTs' few bytes) is left unread: the
                    // connection closes anyway, or is read as a bad head and closed.
                    let mut path = String::new();
                    loop {
                        let mut line = String::new();
                        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if path.is_empty() {
                            path = line.split(' ').nth(1).unwrap_or("?").to_owned();
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let close = served == 1;
                    log.lock().unwrap().push((path, close));
                    if close {
                        return; // closes both halves: no answer
                    }
                    let _ = write
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .await;
                }
            });
        }
    });
    (url, seen)
}

#[ciranda::test]
async fn an_idempotent_request_on_a_connection_closed_under_it_is_sent_again() {
    let (url, seen) = closes_kept_alive_connections().await;
    let client = Client::new();
    let times = |path: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    };
    let closed = |path: &str| seen.lock().unwrap().iter().any(|(p, c)| p == path && *c);
    // Each GET either gets a fresh connection (answered) or reuses the last one (closed by
    // the server, then sent again on a new connection): it always succeeds. Whether a
    // connection is back in the pool in time is the pool's race, so repeat until one was.
    let mut retried = false;
    for i in 0..100 {
        let path = format!("/get{i}");
        let response = client.get(format!("{url}{path}")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok", "{path}");
        if closed(&path) {
            assert_eq!(times(&path), 2, "{path} was closed, so it was sent twice");
            retried = true;
            break;
        }
        assert_eq!(times(&path), 1, "{path}");
        ciranda::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(retried, "no GET in 100 went out on a reused connection");

    // A POST is not idempotent: on a connection the server closes, the failure is returned
    // and the request is not repeated.
    let mut refused = false;
    for i in 0..100 {
        let path = format!("/post{i}");
        let result = client.post(format!("{url}{path}"), "once").await;
        assert_eq!(times(&path), 1, "{path} was sent once");
        if closed(&path) {
            let err = result.unwrap_err();
            assert!(
                !err.is_connect() && !err.is_timeout() && !err.is_body(),
                "{err:?}"
            );
            assert!(err.to_string().contains(&path), "{err}");
            refused = true;
            break;
        }
        assert_eq!(result.unwrap().text().await.unwrap(), "ok", "{path}");
        ciranda::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "no POST in 100 went out on a reused connection");
}

/// The header-read timeout bounds the request head, not the body: a client that sent its
/// head at once and then uploads slowly, to a service that reads the whole body before it
/// answers, must get its answer. The first request's body used to be cut off once the
/// timeout had passed since the connection was accepted (the server had written nothing
/// yet, so reads still failed for want of a head).
#[ciranda::test]
async fn the_header_timeout_does_not_cut_off_a_slow_body_of_the_first_request() {
    use http_body_util::BodyExt;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async {
        let body = req.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>(hyper::Response::new(Full::new(Bytes::from(format!(
            "got {}",
            body.len()
        )))))
    });
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .header_read_timeout(Duration::from_millis(500))
            .into_future(),
    );
    let mut stream = connect_and_send(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\n",
    )
    .await;
    // The body over 1.5 s, three times the header-read timeout.
    for chunk in [b"ab", b"cd", b"ef"] {
        ciranda::time::sleep(Duration::from_millis(500)).await;
        stream.write_all(chunk).await.unwrap();
    }
    let mut answer = Vec::new();
    timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.ends_with("got 6"), "{answer:?}");
    server.abort();
}

/// `Duration::MAX` as a timeout means "no limit" (as it does for `ciranda::time::timeout`):
/// the request timeout, the connect timeout and a request's own timeout used to make the
/// request panic with an `Instant` overflow.
#[ciranda::test]
async fn duration_max_timeouts_do_not_panic() {
    let (addr, stop, server) = hello_server_with(Duration::from_secs(30)).await;
    let url = format!("http://{addr}/");
    let client = Client::builder()
        .timeout(Duration::MAX)
        .connect_timeout(Duration::MAX)
        .build()
        .unwrap();
    let r = ciranda::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).await.unwrap().text().await.unwrap() }
    })
    .await
    .expect("a request with Duration::MAX timeouts panicked");
    assert_eq!(r, "Hello, world!");
    let options = ciranda_http::RequestOptions::new().timeout(Duration::MAX);
    let r = ciranda::spawn(async move {
        let response = Client::new().get_with(&url, options).await.unwrap();
        response.text().await.unwrap()
    })
    .await
    .expect("a request with a Duration::MAX timeout of its own panicked");
    assert_eq!(r, "Hello, world!");
    stop.set();
    server.await.unwrap().unwrap();
}

/// `pool_idle_timeout(Duration::MAX)` means idle connections are kept for good. The pool's
/// expiry task (hyper-util's, spawned when the first connection goes back to the pool) adds
/// the timeout to the current instant unchecked: it used to panic there, in a task of its
/// own, which a runtime that shuts down on unhandled panics turns into a crash.
#[test]
fn a_duration_max_pool_idle_timeout_does_not_panic() {
    let panics = Arc::new(std::sync::Mutex::new(Vec::new()));
    let rt = {
        let panics = panics.clone();
        ciranda::Runtime::builder()
            .on_unhandled_panic(move |e| panics.lock().unwrap().push(format!("{e:?}")))
            .build()
            .unwrap()
    };
    rt.block_on(async {
        let (addr, stop, server) = hello_server_with(Duration::from_secs(30)).await;
        let client = Client::builder()
            .pool_idle_timeout(Duration::MAX)
            .build()
            .unwrap();
        for _ in 0..3 {
            let r = client.get(format!("http://{addr}/")).await.unwrap();
            assert_eq!(r.text().await.unwrap(), "Hello, world!");
            // Time for the connection to go back to the pool and its expiry task to run.
            ciranda::time::sleep(Duration::from_millis(50)).await;
        }
        stop.set();
        server.await.unwrap().unwrap();
    });
    let panics = panics.lock().unwrap();
    assert!(panics.is_empty(), "background tasks panicked: {panics:?}");
}

/// `header_read_timeout(Duration::MAX)` means heads may take forever; it used to panic in
/// every connection's task (hyper adds the timeout to the current instant unchecked), so
/// every request was answered with a reset.
#[ciranda::test]
async fn a_duration_max_header_timeout_does_not_panic() {
    let (addr, stop, server) = hello_server_with(Duration::MAX).await;
    let client = Client::new();
    for _ in 0..2 {
        let r = client.get(format!("http://{addr}/")).await.unwrap();
        assert_eq!(r.text().await.unwrap(), "Hello, world!");
    }
    stop.set();
    server.await.unwrap().unwrap();
}

// `Serve::idle_timeout`: HTTP/2 connections with no request in flight are closed. As above,
// the clock is paused only once nothing is in flight through the kernel.

/// Our server with `service` and the given idle timeout (`Default` leaves the default);
/// counts the connections it accepts.
enum Idle {
    Default,
    Set(Option<Duration>),
}

async fn idle_server<S>(
    service: S,
    idle: Idle,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
)
where
    S: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = hyper::Response<TestBody>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let make_service = {
        let accepted = accepted.clone();
        move |_| {
            accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            service.clone()
        }
    };
    let server = ciranda_http::server::serve_with_remote(listener, make_service);
    let server = match idle {
        Idle::Default => server,
        Idle::Set(timeout) => server.idle_timeout(timeout),
    };
    (addr, accepted, ciranda::spawn(server.into_future()))
}

/// `GET /` answers hello; `GET /slow` streams `chunk-0` to `chunk-9`, one a second.
fn idle_routes() -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = hyper::Response<TestBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<hyper::Response<TestBody>, Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    use http_body_util::BodyExt;
    hyper::service::service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
        let body = if req.uri().path() == "/slow" {
            let chunks = futures_util::stream::unfold(0, |i| async move {
                if i == 10 {
                    return None;
                }
                ciranda::time::sleep(Duration::from_secs(1)).await;
                let frame = hyper::body::Frame::data(Bytes::from(format!("chunk-{i}\n")));
                Some((Ok::<_, BoxError>(frame), i + 1))
            });
            http_body_util::StreamBody::new(chunks).boxed()
        } else {
            Full::new(Bytes::from("Hello, world!"))
                .map_err(|e: Infallible| match e {})
                .boxed()
        };
        Ok::<_, Infallible>(hyper::Response::new(body))
    })
}

/// An HTTP/2 (prior knowledge) client connection to `addr`, made with hyper directly: its
/// request sender and the task driving the connection, which ends when the server closes it.
async fn h2_connection(
    addr: std::net::SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    ciranda::task::JoinHandle<Result<(), hyper::Error>>,
) {
    use ciranda_http::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http2::Builder::new(CirandaExecutor::new())
        .timer(CirandaTimer::new())
        .handshake(CirandaIo::new(stream))
        .await
        .unwrap();
    (sender, ciranda::spawn(conn))
}

/// `GET path` over `sender`: the whole body, as text.
async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    path: &str,
) -> String {
    use http_body_util::BodyExt;
    sender.ready().await.unwrap();
    let req = hyper::Request::get(format!("http://localhost{path}"))
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

#[ciranda::test]
async fn an_idle_http2_connection_is_closed_after_the_default_idle_timeout() {
    let (addr, accepted, server) = idle_server(idle_routes(), Idle::Default).await;
    let (mut sender, conn) = h2_connection(addr).await;
    assert_eq!(h2_get(&mut sender, "/").await, "Hello, world!");
    ciranda::time::pause(); // the response is in: nothing in flight now
    let start = ciranda::time::Instant::now();
    let real = std::time::Instant::now();
    // The client keeps its sender: only the server can end the connection (GOAWAY, then
    // the close once the client has answered its PING).
    let closed = timeout(Duration::from_secs(3600), conn).await;
    assert!(closed.is_ok(), "the idle HTTP/2 connection was kept");
    // 75 s after its request ended (a moment before the clock was paused).
    let waited = start.elapsed();
    assert!(
        waited > Duration::from_secs(70) && waited <= Duration::from_secs(75),
        "{waited:?}"
    );
    assert!(real.elapsed() < Duration::from_secs(60));
    assert!(sender.ready().await.is_err(), "the sender still works");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.abort();
}

/// The attack itself: a raw client that sends the HTTP/2 preface and its settings, then
/// nothing, not even the answer to the PING of the server's graceful GOAWAY. It is sent
/// GOAWAY after one idle timeout and dropped after a second.
#[ciranda::test]
async fn a_silent_http2_peer_is_sent_goaway_then_dropped() {
    let (addr, _, server) =
        idle_server(idle_routes(), Idle::Set(Some(Duration::from_secs(60)))).await;
    let mut stream = connect_and_send(
        addr,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00",
    )
    .await;
    // The server's SETTINGS frame: it has read the preface, and the clock may stop.
    let mut seen = vec![0u8; 9];
    stream.read_exact(&mut seen).await.unwrap();
    assert_eq!(seen[3], 4, "not a SETTINGS frame: {seen:?}");
    ciranda::time::pause();
    let start = ciranda::time::Instant::now();
    let closed = timeout(Duration::from_secs(3600), async {
        // A reset counts as closed too.
        let _ = stream.read_to_end(&mut seen).await;
    })
    .await;
    assert!(closed.is_ok(), "the silent HTTP/2 connection was kept");
    // Idle from its accept (a moment before the pause): GOAWAY at 60 s, dropped at 120 s.
    let waited = start.elapsed();
    assert!(
        waited > Duration::from_secs(115) && waited <= Duration::from_secs(120),
        "{waited:?}"
    );
    // The frames it sent (9-byte headers): a GOAWAY (type 7) among them.
    let mut types = Vec::new();
    let mut at = 0;
    while at + 9 <= seen.len() {
        let len = usize::from(seen[at]) << 16
            | usize::from(seen[at + 1]) << 8
            | usize::from(seen[at + 2]);
        types.push(seen[at + 3]);
        at += 9 + len;
    }
    assert!(types.contains(&7), "no GOAWAY in frames of types {types:?}");
    server.abort();
}

#[ciranda::test]
async fn a_response_that_streams_longer_than_the_idle_timeout_is_completed() {
    use http_body_util::BodyExt;
    let idle = Duration::from_secs(2);
    let (addr, _, server) = idle_server(idle_routes(), Idle::Set(Some(idle))).await;
    let (mut sender, _conn) = h2_connection(addr).await;
    sender.ready().await.unwrap();
    let req = hyper::Request::get("http://localhost/slow")
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    // The head is in, so the request is in flight: nothing can count as idle from here, and
    // the clock may stop. The body takes 10 s, five idle timeouts.
    ciranda::time::pause();
    let start = ciranda::time::Instant::now();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let expected: String = (0..10).map(|i| format!("chunk-{i}\n")).collect();
    assert_eq!(String::from_utf8(body.to_vec()).unwrap(), expected);
    assert!(start.elapsed() >= 4 * idle, "{:?}", start.elapsed());
    server.abort();
}

#[ciranda::test]
async fn a_connection_with_requests_more_often_than_the_idle_timeout_stays_open() {
    let idle = Duration::from_secs(2);
    let (addr, accepted, server) = idle_server(idle_routes(), Idle::Set(Some(idle))).await;
    let (mut sender, conn) = h2_connection(addr).await;
    let start = ciranda::time::Instant::now();
    for _ in 0..6 {
        assert_eq!(h2_get(&mut sender, "/").await, "Hello, world!");
        // Idle for three quarters of the timeout, on the paused clock.
        ciranda::time::pause();
        ciranda::time::sleep(idle * 3 / 4).await;
        ciranda::time::resume();
    }
    assert!(start.elapsed() >= 2 * idle, "{:?}", start.elapsed());
    assert_eq!(h2_get(&mut sender, "/").await, "Hello, world!");
    assert!(!conn.is_finished(), "the connection was closed");
    // Every request went over the one connection.
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.abort();
}

#[ciranda::test]
async fn no_idle_timeout_keeps_an_idle_http2_connection() {
    let (addr, accepted, server) = idle_server(idle_routes(), Idle::Set(None)).await;
    let (mut sender, conn) = h2_connection(addr).await;
    assert_eq!(h2_get(&mut sender, "/").await, "Hello, world!");
    ciranda::time::pause();
    // An hour: far past the default 75 s.
    ciranda::time::sleep(Duration::from_secs(3600)).await;
    ciranda::time::resume();
    assert!(!conn.is_finished(), "the connection was closed");
    assert_eq!(h2_get(&mut sender, "/").await, "Hello, world!");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    server.abort();
}

/// A handler that answers an HTTP/1.1 upload at once and reads its body afterwards (in a
/// task of its own): the body, arriving a byte every three quarters of an idle timeout, for
/// four and a half timeouts after the response, is read whole. Before, the connection counted
/// as idle from the response and was dropped after two timeouts, and the handler's read
/// failed (`IncompleteMessage`).
///
/// (hyper itself does not end such a body when its last byte arrives: with the response
/// already sent, the connection goes back to reading the next request head and the body's
/// end comes with that head, or as an error with the connection's close. So the test counts
/// bytes.)
#[ciranda::test]
async fn an_http1_upload_read_after_its_response_is_not_cut_by_the_idle_timeout() {
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    const LEN: usize = 6;
    let idle = Duration::from_secs(2);
    let read = Arc::new(AtomicUsize::new(0));
    let (ended_tx, ended) = ciranda::sync::oneshot::channel::<Result<usize, String>>();
    let ended_tx = Arc::new(std::sync::Mutex::new(Some(ended_tx)));
    let service = {
        let read = read.clone();
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (read, ended_tx) = (read.clone(), ended_tx.clone());
            async move {
                let mut body = req.into_body();
                ciranda::spawn(async move {
                    let end = loop {
                        match body.frame().await {
                            Some(Ok(frame)) => {
                                let n = frame.data_ref().map_or(0, |d| d.len());
                                read.fetch_add(n, SeqCst);
                            }
                            Some(Err(e)) => break Err(e.to_string()),
                            None => break Ok(read.load(SeqCst)),
                        }
                    };
                    if let Some(tx) = ended_tx.lock().unwrap().take() {
                        let _ = tx.send(end);
                    }
                });
                let ok = Full::new(Bytes::from("ok"))
                    .map_err(|e: Infallible| match e {})
                    .boxed();
                Ok::<_, Infallible>(hyper::Response::new(ok))
            }
        })
    };
    let (addr, _, server) = idle_server(service, Idle::Set(Some(idle))).await;
    let head = format!("POST /upload HTTP/1.1\r\nhost: localhost\r\ncontent-length: {LEN}\r\n\r\n");
    let mut stream = connect_and_send(addr, head.as_bytes()).await;
    // The whole response (its head and "ok"): from here no request is in flight.
    read_until_ends_with(&mut stream, b"ok").await;
    for sent in 1..=LEN {
        // Three quarters of an idle timeout on the paused clock (nothing in the kernel).
        ciranda::time::pause();
        ciranda::time::sleep(idle * 3 / 4).await;
        ciranda::time::resume();
        stream.write_all(b"x").await.unwrap();
        // Until the handler has read it, on the real clock.
        timeout(Duration::from_secs(30), async {
            while read.load(SeqCst) < sent {
                ciranda::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("byte {sent} was not read"));
    }
    assert_eq!(read.load(SeqCst), LEN);
    // The read has not failed (the connection is open): `ended` has nothing yet.
    let mut ended = std::pin::pin!(ended);
    assert!(futures_util::poll!(ended.as_mut()).is_pending());
    server.abort();
}

/// A server that sends one whole response at once (head and a body of `body_len` bytes) to
/// each request on its first connection, then keeps the connection open.
async fn eager_server(body_len: usize) -> (String, ciranda::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server = ciranda::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.readable().await.unwrap();
        let mut answer =
            format!("HTTP/1.1 200 OK\r\ncontent-length: {body_len}\r\n\r\n").into_bytes();
        answer.extend((0..body_len).map(pattern));
        stream.write_all(&answer).await.unwrap();
        std::future::pending::<()>().await;
        drop(stream);
    });
    (url, server)
}

/// The client's timeout covers reading the body even when the body never makes the reader
/// wait (it arrived whole, or arrives faster than it is read): a body read after the deadline
/// is a timeout, not data. It used to be checked only when the body had nothing ready.
#[ciranda::test]
async fn a_body_read_after_the_deadline_is_a_timeout_even_if_it_has_all_arrived() {
    let (url, server) = eager_server(100).await;
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let response = client.get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    // Let the body arrive (it came with the head), then let the deadline pass.
    ciranda::time::sleep(Duration::from_millis(100)).await;
    ciranda::time::pause();
    ciranda::time::sleep(Duration::from_secs(61)).await;
    let outcome = timeout(Duration::from_secs(3600), response.bytes())
        .await
        .expect("reading the body hung");
    let err = outcome.expect_err("the body was returned after the client's deadline");
    assert!(err.is_timeout(), "{err:?}");
    server.abort();
}

/// The same for a body read chunk by chunk: chunks before the deadline, then a timeout.
#[ciranda::test]
async fn a_slow_reader_of_a_body_that_is_always_ready_runs_into_the_client_timeout() {
    use ciranda::stream::StreamExt;
    let (url, server) = eager_server(4 * 1024 * 1024).await;
    let client = Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut chunks = client.get(&url).await.unwrap().chunks();
    let first = chunks.next().await.expect("a first chunk").unwrap();
    assert!(!first.is_empty());
    ciranda::time::pause();
    // A slow consumer: the deadline passes while it works on the first chunk.
    ciranda::time::sleep(Duration::from_secs(61)).await;
    let mut after = 0;
    let err = loop {
        match timeout(Duration::from_secs(3600), chunks.next())
            .await
            .expect("reading the body hung")
        {
            Some(Ok(chunk)) => after += chunk.len(),
            Some(Err(e)) => break e,
            None => panic!("the whole body ({after} more bytes) was read after the deadline"),
        }
    };
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(after, 0, "chunks were returned after the deadline");
    assert!(chunks.next().await.is_none());
    server.abort();
}
