//! Our client against our server, and each against hyper used directly on Tokio: GET, a
//! 10 MiB body streamed both ways, chunked responses, 100 HTTP/2 requests multiplexed over
//! one connection, and connection reuse.

mod common;

use bytes::Bytes;
use ciranda::stream::StreamExt;
use ciranda_http::{Body, Client};
use common::*;
use http_body_util::BodyExt;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn h1_client() -> Client {
    Client::new()
}

fn h2_client() -> Client {
    Client::builder().http2_prior_knowledge().build().unwrap()
}

async fn get_text(client: &Client, url: &str) -> (u16, String) {
    let r = client.get(url).await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

/// POSTs 10 MiB made on the fly and checks the echo as it streams back. Returns how much of
/// the upload had been produced when the first echoed chunk arrived.
async fn echo_big(client: &Client, base: &str) -> usize {
    let produced = Arc::new(AtomicUsize::new(0));
    let counted = {
        let produced = produced.clone();
        big_stream().inspect(move |c| {
            produced.fetch_add(c.as_ref().unwrap().len(), Ordering::SeqCst);
        })
    };
    let response = client
        .post(format!("{base}/echo"), Body::from_stream(counted))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut chunks = response.chunks();
    let mut checker = Checker::default();
    let mut produced_at_first = None;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        produced_at_first.get_or_insert_with(|| produced.load(Ordering::SeqCst));
        checker.check(&chunk);
    }
    assert_eq!(checker.seen, BIG);
    produced_at_first.unwrap()
}

/// GET, chunked and the 10 MiB echo with our client against the server at `base`.
async fn client_suite(client: &Client, base: &str, h2: bool) {
    assert_eq!(
        get_text(client, &format!("{base}/")).await,
        (200, "Hello, world!".into())
    );
    assert_eq!(get_text(client, &format!("{base}/missing")).await.0, 404);

    let chunked = client.get(format!("{base}/chunked")).await.unwrap();
    if h2 {
        assert_eq!(chunked.version(), http::Version::HTTP_2);
    } else {
        assert_eq!(chunked.version(), http::Version::HTTP_11);
        assert_eq!(chunked.headers()["transfer-encoding"], "chunked");
    }
    assert!(chunked.headers().get("content-length").is_none());
    let text = chunked.text().await.unwrap();
    assert_eq!(text, "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n");

    // Made and checked on the fly, never held whole. Over HTTP/2, flow control (a few MiB
    // of windows) means the upload cannot finish before we read the echo, so the first echoed
    // chunk must arrive while the upload is still going. (Over HTTP/1.1 loopback socket
    // buffers can absorb all 10 MiB, so nothing is implied there.)
    let produced_at_first = echo_big(client, base).await;
    if h2 {
        assert!(
            produced_at_first < BIG,
            "the whole upload ({produced_at_first} bytes) was produced before any echo arrived"
        );
    }
}

/// Five sequential requests from a fresh client; returns the distinct client addresses the
/// server saw.
///
/// A pause separates the requests: hyper-util's pool returns an HTTP/1.1 connection from a
/// background task once its body is read, and a request sent in that very instant races it
/// by opening a new connection (by design: it also takes whichever of "connected" and "a
/// connection came back" happens first). 100 ms is ample time for the return, even on a
/// machine whose cores are busy with other work.
async fn peers(client: &Client, base: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for _ in 0..5 {
        let (status, peer) = get_text(client, &format!("{base}/peer")).await;
        assert_eq!(status, 200);
        seen.insert(peer);
        ciranda::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    seen
}

/// 100 requests that the server answers only once all 100 have arrived: they can only
/// succeed if they are in flight together.
async fn multiplex_100(client: &Client, base: &str) {
    let url = format!("{base}/wait");
    let answers = ciranda::gather((0..100).map(|_| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let r = client.get(&url).await.unwrap();
            (r.version(), r.text().await.unwrap())
        }
    }))
    .await;
    for (version, body) in answers {
        assert_eq!(version, http::Version::HTTP_2);
        assert_eq!(body, "ok");
    }
}

#[ciranda::test]
async fn our_client_against_our_server_http1() {
    let (addr, stop, server) = spawn_ciranda_server(Routes::new(1)).await;
    let base = format!("http://{addr}");
    let client = h1_client();
    client_suite(&client, &base, false).await;
    assert_eq!(
        peers(&h1_client(), &base).await.len(),
        1,
        "HTTP/1.1 connection not reused"
    );
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn our_client_against_our_server_http2() {
    let (addr, stop, server) = spawn_ciranda_server(Routes::new(100)).await;
    let base = format!("http://{addr}");
    let client = h2_client();
    client_suite(&client, &base, true).await;
    multiplex_100(&client, &base).await;
    assert_eq!(
        peers(&client, &base).await.len(),
        1,
        "HTTP/2 used more than one connection"
    );
    assert_eq!(peers(&h2_client(), &base).await.len(), 1);
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn our_client_against_hyper_on_tokio() {
    for h2 in [false, true] {
        let server = TokioServer::start(Routes::new(100));
        let base = format!("http://{}", server.addr);
        let client = if h2 { h2_client() } else { h1_client() };
        client_suite(&client, &base, h2).await;
        if h2 {
            multiplex_100(&client, &base).await;
            // Every request of this client (GETs, the echo, the 100 multiplexed ones) went
            // over one accepted connection.
            assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
        }
        let before = server.accepted.load(Ordering::SeqCst);
        let fresh = if h2 { h2_client() } else { h1_client() };
        assert_eq!(peers(&fresh, &base).await.len(), 1);
        assert_eq!(
            server.accepted.load(Ordering::SeqCst) - before,
            1,
            "h2={h2}"
        );
        drop(server);
    }
}

/// hyper's own pooled client on Tokio against our server (running on a ciranda runtime).
#[test]
fn hyper_on_tokio_against_our_server() {
    let ciranda_rt = ciranda::Runtime::new().unwrap();
    let (addr, stop, server) = ciranda_rt.block_on(spawn_ciranda_server(Routes::new(100)));
    let base = format!("http://{addr}");
    tokio_rt().block_on(async {
        for h2 in [false, true] {
            let client =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .http2_only(h2)
                    .build_http::<TestBody>();
            let get = |path: &str| {
                let client = client.clone();
                let uri: http::Uri = format!("{base}{path}").parse().unwrap();
                async move {
                    let r = client
                        .request(http::Request::get(uri).body(empty()).unwrap())
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let version = r.version();
                    let body = r.into_body().collect().await.unwrap().to_bytes();
                    (status, version, String::from_utf8(body.to_vec()).unwrap())
                }
            };
            let (status, version, body) = get("/").await;
            assert_eq!((status, body.as_str()), (200, "Hello, world!"));
            assert_eq!(version == http::Version::HTTP_2, h2);
            assert_eq!(
                get("/chunked").await.2,
                "chunk-0\nchunk-1\nchunk-2\nchunk-3\nchunk-4\n"
            );

            // 10 MiB streamed up and back.
            let upload = http_body_util::StreamBody::new(
                big_stream().map(|c| Ok::<_, BoxError>(hyper::body::Frame::data(c.unwrap()))),
            );
            let req = http::Request::post(format!("{base}/echo"))
                .body(BodyExt::boxed(upload))
                .unwrap();
            let mut body = client.request(req).await.unwrap().into_body();
            let mut checker = Checker::default();
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    checker.check(&data);
                }
            }
            assert_eq!(checker.seen, BIG);

            if h2 {
                let all = futures_util::future::join_all((0..100).map(|_| get("/wait"))).await;
                assert!(
                    all.iter()
                        .all(|(s, v, b)| *s == 200 && *v == http::Version::HTTP_2 && b == "ok")
                );
            }
            // Reuse: sequential requests (paused as in `peers`) from a fresh client share one
            // connection.
            let fresh =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                    .http2_only(h2)
                    .build_http::<TestBody>();
            let mut seen = HashSet::new();
            for _ in 0..5 {
                let r = fresh
                    .request(
                        http::Request::get(format!("{base}/peer"))
                            .body(empty())
                            .unwrap(),
                    )
                    .await
                    .unwrap();
                seen.insert(r.into_body().collect().await.unwrap().to_bytes());
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert_eq!(seen.len(), 1, "h2={h2}: {seen:?}");
        }
    });
    stop.set();
    ciranda_rt.block_on(server).unwrap().unwrap();
}

fn empty() -> TestBody {
    http_body_util::Empty::<Bytes>::new()
        .map_err(|e| match e {})
        .boxed()
}

/// hyper's client driven by Tokio over `CirandaIo<ciranda TcpStream>`: ciranda's reactor
/// wakes Tokio's wakers (a waker from another executor).
#[test]
fn ciranda_io_polled_by_tokio_tasks() {
    let ciranda_rt = ciranda::Runtime::new().unwrap();
    let (addr, stop, server) = ciranda_rt.block_on(spawn_ciranda_server(Routes::new(1)));
    let stream = ciranda_rt
        .block_on(ciranda::net::TcpStream::connect(addr))
        .unwrap();
    tokio_rt().block_on(async {
        let io = ciranda_http::rt::CirandaIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        for _ in 0..20 {
            sender.ready().await.unwrap();
            let req = http::Request::get("/")
                .header("host", "x")
                .body(empty())
                .unwrap();
            let body = sender
                .send_request(req)
                .await
                .unwrap()
                .into_body()
                .collect()
                .await
                .unwrap();
            assert_eq!(body.to_bytes(), "Hello, world!");
        }
    });
    stop.set();
    ciranda_rt.block_on(server).unwrap().unwrap();
}

/// A client built outside any runtime, then used inside two runtimes in turn.
#[test]
fn a_client_built_outside_a_runtime_works_inside_one() {
    let client = Client::new();
    for _ in 0..2 {
        let rt = ciranda::Runtime::new().unwrap();
        let client = client.clone();
        rt.block_on(async move {
            let (addr, stop, server) = spawn_ciranda_server(Routes::new(1)).await;
            assert_eq!(
                get_text(&client, &format!("http://{addr}/")).await.1,
                "Hello, world!"
            );
            stop.set();
            server.await.unwrap().unwrap();
        });
    }
}

/// Three echoes of 10 MiB over one HTTP/2 connection; the first response is dropped after
/// its first chunk, while its upload is still being sent. The next two must stream whole.
///
/// hyper keeps sending a request body after its response is dropped, and over HTTP/2 the
/// response data that keeps coming is discarded without giving the server stream credit:
/// the echo stops reading, and the upload it no longer reads holds a whole stream window.
/// With hyper's defaults (hyper on Tokio) that is the whole connection window (1 MiB), so
/// the next uploads crawl a byte at a time; `serve`'s connection window holds eight stream
/// windows (`tests/http2_flow.rs`). The client stops the upload when its response is
/// dropped (`src/abandon.rs`): the stream is reset and the window freed.
async fn abandoned_upload_leaves_the_connection_usable(base: &str, drop_off_runtime: bool) {
    let client = h2_client();
    for round in 0..3 {
        let response = client
            .post(format!("{base}/echo"), Body::from_stream(big_stream()))
            .await
            .unwrap();
        let mut chunks = response.chunks();
        if round == 0 {
            let first = ciranda::time::timeout(std::time::Duration::from_secs(20), chunks.next())
                .await
                .expect("the first echoed chunk arrives");
            assert!(first.is_some());
            if drop_off_runtime {
                // Let the upload fill the windows the unread echo leaves it, then drop the
                // response on a thread that runs no runtime.
                ciranda::time::sleep(std::time::Duration::from_millis(500)).await;
                std::thread::spawn(move || drop(chunks)).join().unwrap();
            }
            continue; // dropped half-read: the client resets the stream
        }
        let mut checker = Checker::default();
        let read = ciranda::time::timeout(std::time::Duration::from_secs(30), async {
            while let Some(chunk) = chunks.next().await {
                checker.check(&chunk.unwrap());
            }
        })
        .await;
        assert!(
            read.is_ok(),
            "round {round}: the echo stalled after {} bytes",
            checker.seen
        );
        assert_eq!(checker.seen, BIG, "round {round}");
    }
}

#[ciranda::test]
async fn an_upload_whose_response_is_dropped_stops_and_frees_the_http2_connection() {
    let (addr, stop, server) = spawn_ciranda_server(Routes::new(1)).await;
    abandoned_upload_leaves_the_connection_usable(&format!("http://{addr}"), false).await;
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn an_upload_whose_response_is_dropped_stops_against_hyper_on_tokio_too() {
    let server = TokioServer::start(Routes::new(1));
    abandoned_upload_leaves_the_connection_usable(&format!("http://{}", server.addr), false).await;
}

/// The same with the half-read response dropped on a plain thread: the body is still
/// discarded (on the runtime it arrived on) until the reset ends the upload. Against hyper's
/// default windows (1 MiB per stream and per connection), where the unread upload holds the
/// whole connection window.
#[ciranda::test]
async fn an_upload_whose_response_is_dropped_outside_any_runtime_stops_too() {
    let server = TokioServer::start(Routes::new(1));
    abandoned_upload_leaves_the_connection_usable(&format!("http://{}", server.addr), true).await;
}

/// How the server's read of an upload ended: the bytes it read, and whether the upload was
/// cut short (an error: a reset stream or a closed connection) rather than ending.
type UploadEnd = (usize, bool);

/// What a reading server answers a request for a path with.
type Answer = fn(&str) -> http::Response<TestBody>;

/// One chunk at once, then a body that never ends.
fn first_then_nothing(_path: &str) -> http::Response<TestBody> {
    let first = futures_util::stream::once(async {
        Ok::<_, BoxError>(hyper::body::Frame::data(Bytes::from("first")))
    });
    let body = http_body_util::StreamBody::new(first.chain(futures_util::stream::pending()));
    http::Response::new(BodyExt::boxed(body))
}

/// A server that answers every request at once with `answer`, while a task reads the body of
/// each `POST` and reports how that read ended on `ended`.
async fn spawn_reading_server(
    ended: ciranda::sync::mpsc::Sender<UploadEnd>,
    answer: Answer,
) -> (
    std::net::SocketAddr,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let ended = ended.clone();
        async move {
            let response = answer(req.uri().path());
            if req.method() == http::Method::POST {
                let mut body = req.into_body();
                ciranda::spawn(async move {
                    let mut read = 0;
                    let cut = loop {
                        match body.frame().await {
                            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
                            Some(Err(_)) => break true,
                            None => break false,
                        }
                    };
                    let _ = ended.send((read, cut)).await;
                });
            }
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let task = ciranda::spawn(ciranda_http::server::serve(listener, service).into_future());
    (addr, task)
}

/// Dropping a response after its first chunk cuts its upload short, over both protocols: an
/// upload that sent 512 KiB and waits for more when the response is dropped fails on the
/// server (a reset stream, a closed connection) instead of staying open.
#[ciranda::test]
async fn dropping_the_response_cuts_its_streamed_upload_short() {
    for client in [h1_client(), h2_client()] {
        let (tx, mut rx) = ciranda::sync::mpsc::channel(1);
        let (addr, server) = spawn_reading_server(tx, first_then_nothing).await;
        let stalled = big_stream().take(8).chain(futures_util::stream::pending());
        let response = client
            .post(format!("http://{addr}/"), Body::from_stream(stalled))
            .await
            .unwrap();
        let mut chunks = response.chunks();
        assert_eq!(chunks.next().await.unwrap().unwrap(), "first");
        drop(chunks);
        let (read, cut) = ciranda::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("the server's read of the upload ends")
            .unwrap();
        assert!(cut, "the upload ended normally ({read} bytes)");
        assert!(read <= 8 * CHUNK, "{read}");
        server.abort();
    }
}

/// `200 OK` with an empty body, sent before the upload is read.
fn empty_ok(_path: &str) -> http::Response<TestBody> {
    http::Response::new(empty())
}

/// An upload of 8 chunks, a pause until `go` is set, then 8 chunks more.
fn upload_in_two_halves(
    go: Arc<ciranda::sync::Event>,
) -> impl futures_core::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send + 'static {
    let pause = futures_util::stream::once(async move { go.wait().await })
        .filter_map(|()| std::future::ready(None));
    big_stream()
        .take(8)
        .chain(pause)
        .chain(big_stream().skip(8).take(8))
}

/// A response whose body is empty has been read as soon as it arrives: dropping it without
/// reading it must leave its upload going, as reading it would (and as hyper alone does). A
/// server that acknowledges an upload at once and reads it on (an ingest endpoint) gets the
/// whole of it, over both protocols.
#[ciranda::test]
async fn dropping_a_response_with_an_empty_body_leaves_its_upload_going() {
    for client in [h1_client(), h2_client()] {
        let (tx, mut rx) = ciranda::sync::mpsc::channel(1);
        let (addr, server) = spawn_reading_server(tx, empty_ok).await;
        let go = Arc::new(ciranda::sync::Event::new());
        let response = client
            .post(
                format!("http://{addr}/"),
                Body::from_stream(upload_in_two_halves(go.clone())),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        drop(response);
        go.set();
        let (read, cut) = ciranda::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("the server's read of the upload ends")
            .unwrap();
        assert!(!cut, "the upload was cut short after {read} bytes");
        assert_eq!(read, 16 * CHUNK);
        server.abort();
    }
}

/// `303 See Other` for a `POST`, without reading it; `200 done` for the `GET` that follows.
fn see_other(path: &str) -> http::Response<TestBody> {
    if path == "/done" {
        return http::Response::new(BodyExt::boxed(
            http_body_util::Full::new(Bytes::from("done")).map_err(|e| match e {}),
        ));
    }
    http::Response::builder()
        .status(303)
        .header("location", "/done")
        .body(empty())
        .unwrap()
}

/// A `303` answering a streamed upload ends that exchange: the client follows it with a
/// `GET`, and the upload to the first URL, which nothing will answer any more, is cut short
/// (a reset stream, a closed connection) instead of going on in the background.
#[ciranda::test]
async fn a_redirect_stops_the_streamed_upload_it_answered() {
    for client in [h1_client(), h2_client()] {
        let (tx, mut rx) = ciranda::sync::mpsc::channel(1);
        let (addr, server) = spawn_reading_server(tx, see_other).await;
        let stalled = big_stream().take(8).chain(futures_util::stream::pending());
        let response = client
            .post(format!("http://{addr}/upload"), Body::from_stream(stalled))
            .await
            .unwrap();
        assert_eq!(response.url(), format!("http://{addr}/done"));
        assert_eq!(response.text().await.unwrap(), "done");
        let (read, cut) = ciranda::time::timeout(std::time::Duration::from_secs(30), rx.recv())
            .await
            .expect("the server's read of the first upload ends")
            .unwrap();
        assert!(cut, "the upload ended normally ({read} bytes)");
        assert!(read <= 8 * CHUNK, "{read}");
        server.abort();
    }
}
