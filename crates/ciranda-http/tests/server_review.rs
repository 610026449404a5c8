//! `serve` defects found by the server review: each test failed (or its watchdog fired)
//! before its fix.

mod common;

use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::{Duration, timeout};
use common::*;
use std::sync::Arc;

/// Reads until the peer closes (or resets) the connection, for at most `bound`; `true` if it
/// did.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut sink = Vec::new();
    timeout(bound, async {
        let _ = stream.read_to_end(&mut sink).await;
    })
    .await
    .is_ok()
}

/// With `header_read_timeout(None)`, the idle timeout is what bounds a connection that sends
/// nothing: it counts from the accept. Over plain HTTP it did; over TLS the handshake was not
/// bounded by it, so a client that opened a TCP connection and never sent its ClientHello held
/// a task (and a descriptor) until the server shut down.
#[ciranda::test]
async fn a_tls_client_that_never_starts_its_handshake_is_closed_at_the_idle_timeout() {
    let cert = make_cert();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve_with_remote(listener, Routes::new(1).make_service())
            .header_read_timeout(None)
            .idle_timeout(Duration::from_millis(200))
            .tls(Arc::new(tls_server_config(&cert, &[])))
            .into_future(),
    );
    // The same silent client over plain HTTP is closed at the idle timeout (the reference).
    let plain_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain_listener.local_addr().unwrap();
    let plain = ciranda::spawn(
        ciranda_http::server::serve_with_remote(plain_listener, Routes::new(1).make_service())
            .header_read_timeout(None)
            .idle_timeout(Duration::from_millis(200))
            .into_future(),
    );
    let mut silent = TcpStream::connect(plain_addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)).await,
        "plain HTTP: a silent connection outlived the idle timeout"
    );

    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut silent, Duration::from_secs(20)).await,
        "TLS: a connection that never sent its ClientHello outlived the idle timeout"
    );
    // Half a handshake: the first bytes of a record header, then nothing.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    assert!(
        closed_within(&mut stalled, Duration::from_secs(20)).await,
        "TLS: a connection stalled in its handshake outlived the idle timeout"
    );
    server.abort();
    plain.abort();
}

/// A server whose `GET /hold` sets `arrived`, then answers once `release` is set; `GET /`
/// answers at once. Returns its address, the two events and its task.
async fn holding_server(
    shutdown_timeout: Duration,
) -> (
    std::net::SocketAddr,
    Arc<ciranda::sync::Event>,
    Arc<ciranda::sync::Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    use ciranda::sync::Event;
    let (arrived, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let service = {
        let (arrived, release) = (arrived.clone(), release.clone());
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (arrived, release) = (arrived.clone(), release.clone());
            async move {
                let body = if req.uri().path() == "/hold" {
                    arrived.set();
                    release.wait().await;
                    "released"
                } else {
                    "hello"
                };
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from(body),
                )))
            }
        })
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .header_read_timeout(Duration::from_secs(3600))
            .idle_timeout(None)
            .shutdown_timeout(shutdown_timeout)
            .into_future(),
    );
    (addr, arrived, release, server)
}

/// Reads from `stream` until what has arrived ends with `end`, for at most 20 s.
async fn read_answer(stream: &mut TcpStream, end: &[u8]) -> Vec<u8> {
    timeout(Duration::from_secs(20), read_until_ends_with(stream, end))
        .await
        .expect("no answer within 20 s")
}

/// Dropping the server's future (aborting its task, as the crate's examples stop a server)
/// closed the listener but left every connection's task serving: a keep-alive client went on
/// being served by a server that was gone, for ever with `idle_timeout(None)` (and until the
/// header-read timeout otherwise). hyper-util's `GracefulShutdown` starts a graceful shutdown
/// of its connections when it is dropped; `serve` now does the same, bounded by its
/// `shutdown_timeout`: idle connections close at once, a request in flight may finish.
#[ciranda::test]
async fn dropping_the_server_shuts_its_connections_down() {
    let (addr, arrived, release, server) = holding_server(Duration::from_secs(3600)).await;
    // An idle keep-alive connection, and one with a request in flight.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_answer(&mut idle, b"hello").await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    timeout(Duration::from_secs(20), arrived.wait())
        .await
        .expect("the held request never reached its handler");

    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    assert!(
        closed_within(&mut idle, Duration::from_secs(20)).await,
        "an idle keep-alive connection outlived its dropped server"
    );
    // The request in flight is still answered, then its connection closes.
    release.set();
    let answer = read_answer(&mut busy, b"released").await;
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    assert!(
        closed_within(&mut busy, Duration::from_secs(20)).await,
        "a connection whose request was answered outlived its dropped server"
    );
}

/// A request that does not finish within the `shutdown_timeout` of a dropped server has its
/// connection dropped, as in a graceful shutdown that runs out of time.
#[ciranda::test]
async fn a_dropped_server_cancels_what_outlives_its_shutdown_timeout() {
    let (addr, arrived, _release, server) = holding_server(Duration::from_millis(200)).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    timeout(Duration::from_secs(20), arrived.wait())
        .await
        .expect("the held request never reached its handler");
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    assert!(
        closed_within(&mut busy, Duration::from_secs(20)).await,
        "a request stuck past the shutdown timeout kept its dropped server's connection"
    );
}

/// An HTTP/2 (prior knowledge) connection made with hyper directly, with a streamed request
/// body type; `ping` makes the client send a keep-alive PING at that interval, even while idle.
async fn h2_client(
    addr: std::net::SocketAddr,
    ping: Option<Duration>,
) -> (
    hyper::client::conn::http2::SendRequest<UploadBody>,
    ciranda::task::JoinHandle<Result<(), hyper::Error>>,
) {
    h2_client_on(TcpStream::connect(addr).await.unwrap(), ping).await
}

/// [`h2_client`] on a stream already connected.
async fn h2_client_on(
    stream: TcpStream,
    ping: Option<Duration>,
) -> (
    hyper::client::conn::http2::SendRequest<UploadBody>,
    ciranda::task::JoinHandle<Result<(), hyper::Error>>,
) {
    use ciranda_http::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
    let mut builder = hyper::client::conn::http2::Builder::new(CirandaExecutor::new());
    builder.timer(CirandaTimer::new());
    if let Some(interval) = ping {
        builder
            .keep_alive_interval(interval)
            .keep_alive_while_idle(true);
    }
    let (sender, conn) = builder.handshake(CirandaIo::new(stream)).await.unwrap();
    (sender, ciranda::spawn(conn))
}

type UploadBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// Over HTTP/1.1 a request body still arriving after its response was sent keeps the
/// connection busy (an earlier fix); over HTTP/2 only the response counted, so the idle timeout
/// sent GOAWAY under an upload its handler was still reading, and dropped the connection, and
/// the upload, one more idle timeout later. A request's frames (DATA, HEADERS) now count as
/// activity on HTTP/2 too; PINGs and other control frames still do not.
#[ciranda::test]
async fn an_http2_upload_read_after_its_response_is_not_cut_by_the_idle_timeout() {
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const CHUNKS: usize = 40;
    const CHUNK: usize = 1000;
    let received = Arc::new(AtomicUsize::new(0));
    let ended = Arc::new(ciranda::sync::Event::new());
    // Answers at once ("accepted"), then reads the upload on in a task of its own.
    let service = {
        let (received, ended) = (received.clone(), ended.clone());
        hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (received, ended) = (received.clone(), ended.clone());
            async move {
                ciranda::spawn(async move {
                    let mut body = req.into_body();
                    while let Some(Ok(frame)) = body.frame().await {
                        if let Ok(data) = frame.into_data() {
                            received.fetch_add(data.len(), Ordering::SeqCst);
                        }
                    }
                    ended.set();
                });
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
                    bytes::Bytes::from("accepted"),
                )))
            }
        })
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .idle_timeout(Duration::from_millis(500))
            .into_future(),
    );
    let (mut sender, conn) = h2_client(addr, None).await;
    // 40 chunks, one every 50 ms: 2 s in all, four idle timeouts.
    let chunks = futures_util::stream::unfold(0, |i| async move {
        if i == CHUNKS {
            return None;
        }
        ciranda::time::sleep(Duration::from_millis(50)).await;
        let frame = hyper::body::Frame::data(bytes::Bytes::from(vec![b'x'; CHUNK]));
        Some((Ok::<_, std::io::Error>(frame), i + 1))
    });
    let body: UploadBody = http_body_util::StreamBody::new(chunks).boxed();
    let request = hyper::Request::post("http://localhost/")
        .body(body)
        .unwrap();
    let response = timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&answer[..], b"accepted");
    timeout(Duration::from_secs(20), ended.wait())
        .await
        .expect("the upload never ended");
    assert_eq!(
        received.load(Ordering::SeqCst),
        CHUNKS * CHUNK,
        "the upload was cut"
    );
    server.abort();
    drop(conn);
}

/// What the fix above must not change: a client that sends nothing but keep-alive PINGs is
/// still idle, and is closed.
#[ciranda::test]
async fn an_http2_client_that_only_pings_is_still_closed_as_idle() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = hyper::service::service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
        Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(
            bytes::Bytes::from("hello"),
        )))
    });
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .idle_timeout(Duration::from_millis(300))
            .into_future(),
    );
    let (_sender, conn) = h2_client(addr, Some(Duration::from_millis(50))).await;
    // The connection task ends when the server closes the connection.
    timeout(Duration::from_secs(20), conn)
        .await
        .expect("a client sending only PINGs kept its connection past the idle timeout")
        .unwrap()
        .ok();
    server.abort();
}

/// The accept loop polled `accept` before the shutdown signal and took the signal only when
/// no connection was waiting: connections queued when the signal completed were all still
/// accepted (and served), and under a steady flood of connections (when a graceful shutdown
/// is most wanted) the signal was never seen. The signal is polled first now.
#[ciranda::test]
async fn a_completed_shutdown_signal_stops_accepting_even_with_connections_waiting() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    const QUEUED: usize = 100; // under std's listen backlog (128)
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Connections the kernel completed, waiting in the backlog for the server to accept them.
    let mut queued = Vec::new();
    for _ in 0..QUEUED {
        queued.push(TcpStream::connect(addr).await.unwrap());
    }
    let accepted = Arc::new(AtomicUsize::new(0));
    let make_service = {
        let accepted = accepted.clone();
        move |_| {
            accepted.fetch_add(1, Ordering::SeqCst);
            Routes::new(1).make_service()(ciranda_http::server::RemoteAddr(addr))
        }
    };
    // The signal has completed before the server starts (it fired in the middle of a flood).
    let stop = Arc::new(ciranda::sync::Event::new());
    stop.set();
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let served = ciranda_http::server::serve_with_remote(listener, make_service)
        .shutdown_timeout(Duration::from_secs(5))
        .with_graceful_shutdown(signal);
    timeout(Duration::from_secs(20), served.into_future())
        .await
        .expect("the server did not return")
        .unwrap();
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "connections were accepted after the shutdown signal had completed"
    );
    drop(queued);
}

/// A server answering every request with `size` bytes in one frame (a file read into memory:
/// `Full<Bytes>`), with the given idle timeout.
async fn big_response_server(
    size: usize,
    idle: Duration,
) -> (
    std::net::SocketAddr,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    let body = bytes::Bytes::from(vec![b'z'; size]);
    let service = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
        let body = body.clone();
        async move {
            Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(body)))
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .idle_timeout(idle)
            .into_future(),
    );
    (addr, server)
}

/// A request counted as in flight until hyper dropped its response body, which it does as
/// soon as it has taken the last frame, before writing it: a large body in one frame (a file
/// read into memory) to a client that reads slower than the idle timeout counted as idle from
/// the start, and the idle timeout closed the connection under it, cutting the response. Bytes
/// of a response written count as activity now.
#[ciranda::test]
async fn a_large_response_to_a_slow_reader_is_not_cut_by_the_idle_timeout() {
    const SIZE: usize = 48 << 20; // well past what loopback's socket buffers hold
    let (addr, server) = big_response_server(SIZE, Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // About 5 s for the whole body (1 MiB every 100 ms): five idle timeouts, with room for a
    // loaded machine's stalls inside each.
    let mut got = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = timeout(Duration::from_secs(60), async {
        let mut budget = 0usize;
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got += n;
            budget += n;
            if budget >= 1 << 20 {
                budget = 0;
                ciranda::time::sleep(Duration::from_millis(100)).await;
            }
            if got > SIZE {
                break; // the head and the whole body
            }
        }
    })
    .await;
    assert!(read_all.is_ok(), "the response never ended");
    assert!(
        got > SIZE,
        "the response was cut after {got} of {SIZE} body bytes (and its head)"
    );
    server.abort();
}

/// The same over HTTP/2: the stream's last DATA is handed to h2 whole and sent as the
/// client's window allows, long after hyper dropped the body.
#[ciranda::test]
async fn a_large_http2_response_to_a_slow_reader_is_not_cut_by_the_idle_timeout() {
    use http_body_util::BodyExt;
    const SIZE: usize = 48 << 20;
    let (addr, server) = big_response_server(SIZE, Duration::from_secs(1)).await;
    let (mut sender, conn) = h2_client(addr, None).await;
    let request = hyper::Request::get("http://localhost/")
        .body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
        .unwrap();
    let response = timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    let mut body = response.into_body();
    let mut got = 0usize;
    let read_all = timeout(Duration::from_secs(60), async {
        let mut budget = 0usize;
        // The client's window opens only as this reads: about 5 s for the whole body.
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                got += data.len();
                budget += data.len();
            }
            if budget >= 1 << 20 {
                budget = 0;
                ciranda::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
    .await;
    assert!(read_all.is_ok(), "the response never ended");
    assert_eq!(got, SIZE, "the response was cut");
    server.abort();
    drop(conn);
}

/// A server answering `GET /` at once, with an hour's header-read and shutdown timeouts and no
/// idle timeout, so that only the shutdown itself can end a connection; over TLS with `cert`.
/// Returns its address, the event that starts its graceful shutdown and its task.
async fn patient_server(
    cert: Option<&TestCert>,
) -> (
    std::net::SocketAddr,
    Arc<ciranda::sync::Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(ciranda::sync::Event::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let mut serve =
        ciranda_http::server::serve_with_remote(listener, Routes::new(1).make_service())
            .header_read_timeout(Duration::from_secs(3600))
            .idle_timeout(None)
            .shutdown_timeout(Duration::from_secs(3600));
    if let Some(cert) = cert {
        serve = serve.tls(Arc::new(tls_server_config(cert, &[])));
    }
    let server = ciranda::spawn(serve.with_graceful_shutdown(signal).into_future());
    (addr, stop, server)
}

/// Part of a first request head: the request line and the start of a header.
const PART_OF_A_HEAD: &[u8] = b"GET / HTTP/1.1\r\nHost: loc";

/// A graceful shutdown waits for requests in flight only: a client that has sent nothing is
/// closed at once (hyper-util stops detecting the protocol), as is one still in its TLS
/// handshake. hyper's HTTP/1.1 graceful shutdown, though, closes a connection at once only
/// between requests; in its first request head it waits for the rest of the head, so a
/// client that had sent part of one (a slow or stalled client, a slowloris) held the shutdown
/// for the whole `shutdown_timeout` (here an hour; the server never returned). Its reads now
/// fail once the shutdown starts, and the connection closes.
#[ciranda::test]
async fn graceful_shutdown_does_not_wait_for_a_client_in_its_first_request_head() {
    let (addr, stop, server) = patient_server(None).await;
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(PART_OF_A_HEAD).await.unwrap();
    // A whole request on another connection is answered (the server has accepted the first
    // one by then), and a kept-alive connection between requests closes at once anyway.
    let mut whole = TcpStream::connect(addr).await.unwrap();
    whole
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    read_answer(&mut whole, b"Hello, world!").await;
    // Time for the partial head's connection to read what it was sent.
    ciranda::time::sleep(Duration::from_millis(100)).await;

    stop.set();
    timeout(Duration::from_secs(20), server)
        .await
        .expect("the shutdown waited for a client in the middle of its first request head")
        .unwrap()
        .unwrap();
    assert!(
        closed_within(&mut partial, Duration::from_secs(20)).await,
        "a client in its first request head outlived the server"
    );
    assert!(closed_within(&mut whole, Duration::from_secs(20)).await);
}

/// The same over TLS: the client in its first request head is told the connection ends
/// (`close_notify`, a clean end of stream) and the server returns.
#[ciranda::test]
async fn graceful_shutdown_closes_a_tls_client_in_its_first_request_head_cleanly() {
    use rustls_pki_types::ServerName;
    let cert = make_cert();
    let (addr, stop, server) = patient_server(Some(&cert)).await;
    let config = tls_client_config(&cert);
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = futures_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(PART_OF_A_HEAD).await.unwrap();
    tls.flush().await.unwrap();
    // Time for the server to read it (the handshake shows the connection was accepted).
    ciranda::time::sleep(Duration::from_millis(100)).await;

    stop.set();
    timeout(Duration::from_secs(20), server)
        .await
        .expect("the shutdown waited for a TLS client in the middle of its first request head")
        .unwrap()
        .unwrap();
    let mut buf = [0u8; 64];
    let read = timeout(Duration::from_secs(20), tls.read(&mut buf))
        .await
        .expect("the connection outlived the server");
    // With `close_notify`: rustls reads a close without one as `UnexpectedEof`.
    assert!(matches!(read, Ok(0)), "{read:?}");
}

/// Counts itself dropped, slowly: its drop takes 100 ms (a handler's cleanup: returning a
/// connection to a pool, flushing a log), and the count goes up at its end.
struct SlowDrop(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(std::time::Duration::from_millis(100));
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A server with graceful shutdown (on `stop`) whose handlers never answer: each holds a
/// [`SlowDrop`] on `dropped` and counts itself in `called` once running. Returns the server's
/// address, `called`, `dropped`, `stop` and the server's task.
async fn never_answering_server(
    shutdown_timeout: Duration,
) -> (
    std::net::SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<std::sync::atomic::AtomicUsize>,
    Arc<ciranda::sync::Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (called, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let service = {
        let (called, dropped) = (called.clone(), dropped.clone());
        hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
            let (called, dropped) = (called.clone(), dropped.clone());
            async move {
                let _cleanup = SlowDrop(dropped);
                called.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await; // never answers
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Empty::<
                    bytes::Bytes,
                >::new()))
            }
        })
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(ciranda::sync::Event::new());
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
    (addr, called, dropped, stop, server)
}

/// Sends `n` HTTP/2 requests on one connection to [`never_answering_server`]'s `addr`, and
/// returns once all `n` handlers run. Returns a second descriptor of the client's socket (its
/// `shutdown` ends the connection under hyper: hyper's HTTP/2 client keeps a connection with
/// streams open even once its tasks are dropped), the client connection's task and the
/// requests' tasks.
async fn requests_in_flight(
    addr: std::net::SocketAddr,
    called: &std::sync::atomic::AtomicUsize,
    n: usize,
) -> (
    std::net::TcpStream,
    ciranda::task::JoinHandle<Result<(), hyper::Error>>,
    Vec<ciranda::task::JoinHandle<Result<(), hyper::Error>>>,
) {
    use http_body_util::BodyExt;
    use std::sync::atomic::Ordering;
    let socket = std::net::TcpStream::connect(addr).unwrap();
    let closer = socket.try_clone().unwrap();
    let stream = TcpStream::from_std(socket).unwrap();
    let (sender, conn) = h2_client_on(stream, None).await;
    let requests: Vec<_> = (0..n)
        .map(|_| {
            let mut sender = sender.clone();
            let request = hyper::Request::get(format!("http://{addr}/"))
                .body(UploadBody::new(
                    http_body_util::Empty::new().map_err(|e| match e {}),
                ))
                .unwrap();
            ciranda::spawn(async move { sender.send_request(request).await.map(|_| ()) })
        })
        .collect();
    timeout(Duration::from_secs(20), async {
        while called.load(Ordering::SeqCst) < n {
            ciranda::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the requests never reached their handler");
    (closer, conn, requests)
}

/// A graceful shutdown that runs out of time cancels what is left, and then `serve` returns.
/// Over HTTP/1.1 a request's handler lives in its connection's task and is dropped with it;
/// over HTTP/2 hyper runs each handler in a task of its own, which the connection's end only
/// wakes, so `serve` returned while those handlers were still being dropped (or not yet
/// polled): a program that closes its database pool or exits its runtime after `serve` met
/// handlers still alive. `serve` now returns once the handlers of the connections it cancelled
/// are dropped. Two workers drop the two handlers while a third runs the server's task.
#[ciranda::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_returns_after_the_http2_handlers_it_cancelled_are_dropped() {
    use std::sync::atomic::Ordering;
    let (addr, called, dropped, stop, server) =
        never_answering_server(Duration::from_millis(100)).await;
    let (_closer, _conn, _requests) = requests_in_flight(addr, &called, 2).await;

    stop.set();
    timeout(Duration::from_secs(20), server)
        .await
        .expect("the server did not return")
        .unwrap()
        .unwrap();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "serve returned before the HTTP/2 handlers it cancelled were dropped"
    );
}

/// The same when the connection ends otherwise during the shutdown's drain: the client goes
/// away (closes its connection after the GOAWAY, a load balancer, a client's own timeout).
/// The connection's future then completes with its handlers' tasks only woken, and `serve`
/// returned while they were still being dropped: only a connection the shutdown cancelled was
/// waited for. Every connection's task now waits for its requests in flight to be dropped.
#[ciranda::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_returns_after_the_http2_handlers_of_a_connection_the_client_closed_are_dropped() {
    use std::sync::atomic::Ordering;
    // Long enough that only the client's close ends the connection.
    let (addr, called, dropped, stop, server) =
        never_answering_server(Duration::from_secs(3600)).await;
    let (closer, _conn, _requests) = requests_in_flight(addr, &called, 2).await;

    stop.set();
    // The client goes away: the server reads the end of the connection.
    closer.shutdown(std::net::Shutdown::Both).unwrap();
    timeout(Duration::from_secs(20), server)
        .await
        .expect("the server did not return")
        .unwrap()
        .unwrap();
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "serve returned before the HTTP/2 handlers of a connection its client closed were dropped"
    );
}
