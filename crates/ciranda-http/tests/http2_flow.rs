//! HTTP/2 flow control on `serve`: an upload its handler does not read (yet) must not hold the
//! whole connection's receive window, or every other upload on the connection stalls behind
//! it. Clients are hyper's own, which keep sending an upload after its response is dropped.

mod common;

use bytes::Bytes;
use ciranda::sync::Event;
use ciranda::time::{Duration, sleep, timeout};
use common::*;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// `len` bytes of [`pattern`] in 16 KiB frames, counting in `sent` what hyper has taken.
fn counted_upload(len: usize, sent: Arc<AtomicUsize>) -> TestBody {
    const FRAME: usize = 16 * 1024;
    let frames = futures_util::stream::iter((0..len).step_by(FRAME)).map(move |start| {
        let end = (start + FRAME).min(len);
        sent.fetch_add(end - start, Ordering::SeqCst);
        let data = Bytes::from((start..end).map(pattern).collect::<Vec<u8>>());
        Ok::<_, BoxError>(Frame::data(data))
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// Reads `body` to its end: how many bytes it had.
async fn count(mut body: Incoming) -> Result<usize, hyper::Error> {
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        n += frame?.data_ref().map_or(0, Bytes::len);
    }
    Ok(n)
}

/// `POST path` with `body` over `sender`: the response's text.
async fn post(
    sender: &mut hyper::client::conn::http2::SendRequest<TestBody>,
    path: &str,
    body: TestBody,
) -> String {
    sender.ready().await.unwrap();
    let req = http::Request::post(format!("http://localhost{path}"))
        .body(body)
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Waits until `sent` has stopped growing (for half a second): the upload it counts is held
/// by flow control. Gives up after a minute, which only a broken flow control would reach.
async fn until_held(sent: &AtomicUsize) -> usize {
    let (mut last, mut still) = (0, 0);
    for _ in 0..600 {
        sleep(Duration::from_millis(100)).await;
        let now = sent.load(Ordering::SeqCst);
        if now == last && now > 0 {
            still += 1;
            if still == 5 {
                return now;
            }
        } else {
            (last, still) = (now, 0);
        }
    }
    panic!("the parked upload never stopped ({last} bytes sent)");
}

/// What an upload parked on a connection held, and that another upload went through.
///
/// `POST /parked` waits for a gate before it reads its 4 MiB upload; once hyper's client has
/// stopped sending it (flow control holds it), a 512 KiB upload to a handler that reads at
/// once must complete on the same connection; then the gate opens and the parked upload
/// completes too. Returns how much of the parked upload hyper's client had taken from its
/// body: at most the server's stream window (a multiple of the 16 KiB frames, which hyper
/// hands to h2 while any window is left) plus the one frame it then holds.
async fn park_one_upload_and_send_another(windows: Option<(u32, u32)>) -> usize {
    const PARKED: usize = 4 * 1024 * 1024;
    const READ: usize = 512 * 1024;
    let gate = Arc::new(Event::new());
    let service = {
        let gate = gate.clone();
        hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let gate = gate.clone();
            async move {
                if req.uri().path() == "/parked" {
                    gate.wait().await;
                }
                let n = count(req.into_body()).await?;
                Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(n.to_string()))))
            }
        })
    };
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let mut server = ciranda_http::server::serve(listener, service);
    if let Some((stream, connection)) = windows {
        server = server.http2_receive_windows(stream, connection);
    }
    let server = ciranda::spawn(server.into_future());

    let mut sender = h2_sender(addr).await;
    let sent = Arc::new(AtomicUsize::new(0));
    let parked = {
        let mut sender = sender.clone();
        let body = counted_upload(PARKED, sent.clone());
        ciranda::spawn(async move { post(&mut sender, "/parked", body).await })
    };
    let held = until_held(&sent).await;
    assert!(
        held < PARKED,
        "the whole parked upload was taken ({held} bytes)"
    );

    let sent_too = Arc::new(AtomicUsize::new(0));
    let body = counted_upload(READ, sent_too.clone());
    let read = timeout(Duration::from_secs(30), post(&mut sender, "/read", body)).await;
    assert!(
        read.is_ok(),
        "an upload stalled behind a parked one: {} of {READ} bytes sent, {held} parked",
        sent_too.load(Ordering::SeqCst)
    );
    assert_eq!(read.unwrap(), READ.to_string());

    gate.set();
    let parked = timeout(Duration::from_secs(30), parked).await;
    assert_eq!(
        parked.expect("the parked upload finishes").unwrap(),
        PARKED.to_string()
    );
    server.abort();
    held
}

/// A handler that does not read its upload yet (it waits for something first: a permit, a
/// lock, a slow check) parks data in the server's receive windows. With hyper's defaults one
/// stream's window is the whole connection's (1 MiB), so that one parked upload stalled every
/// other upload on the connection until it was read: here, forever. `serve`'s defaults hold
/// 256 KiB per stream in a 2 MiB connection window.
#[ciranda::test]
async fn a_parked_http2_upload_leaves_room_for_the_other_uploads_on_its_connection() {
    let held = park_one_upload_and_send_another(None).await;
    assert!(held <= 256 * 1024 + 16 * 1024, "{held} bytes parked");
}

/// `Serve::http2_receive_windows` sets the windows clients see: a 64 KiB stream window parks
/// at most 64 KiB (and the frame hyper's client buffers beyond it).
#[ciranda::test]
async fn http2_receive_windows_sets_the_stream_window_clients_see() {
    let held = park_one_upload_and_send_another(Some((64 * 1024, 1024 * 1024))).await;
    assert!(held <= 64 * 1024 + 16 * 1024, "{held} bytes parked");
}

/// Windows below HTTP/2's initial 65 535 bytes are raised to it: with a stream window of 0 an
/// upload never started, and with a connection window of 0 it stopped after the first
/// 64 KiB, for good (the handler read all it was given).
#[ciranda::test]
async fn http2_receive_windows_of_zero_are_raised_to_the_initial_window() {
    const UPLOAD: usize = 1024 * 1024;
    let service = hyper::service::service_fn(|req: http::Request<Incoming>| async move {
        let n = count(req.into_body()).await?;
        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(n.to_string()))))
    });
    for windows in [(0, 0), (0, 1 << 20), (1 << 20, 0)] {
        let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ciranda_http::server::serve(listener, service)
            .http2_receive_windows(windows.0, windows.1)
            .into_future();
        let server = ciranda::spawn(server);
        let mut sender = h2_sender(addr).await;
        let sent = Arc::new(AtomicUsize::new(0));
        let body = counted_upload(UPLOAD, sent.clone());
        let read = timeout(Duration::from_secs(30), post(&mut sender, "/", body)).await;
        assert_eq!(
            read.unwrap_or_else(|_| panic!(
                "windows {windows:?}: the upload stalled after {} bytes",
                sent.load(Ordering::SeqCst)
            )),
            UPLOAD.to_string()
        );
        server.abort();
    }
}

/// The same through an echo whose client drops the response halfway, as hyper's client (and
/// reqwest) leave it: the client keeps sending the upload, the echo stops reading it once the
/// dropped response's stream window is spent, and the next uploads on that connection must
/// still go through. hyper's legacy client on Tokio, against `serve` on ciranda.
#[test]
fn an_echo_abandoned_by_a_hyper_client_on_tokio_does_not_stall_its_connection() {
    let ciranda_rt = ciranda::Runtime::new().unwrap();
    let (addr, stop, server) = ciranda_rt.block_on(spawn_ciranda_server(Routes::new(1)));
    let base = format!("http://{addr}");
    tokio_rt().block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .http2_only(true)
                .build_http::<TestBody>();
        let echo = || {
            let upload = StreamBody::new(
                big_stream()
                    .map(|c| Ok::<_, BoxError>(Frame::data(c.unwrap_or_else(|e| match e {})))),
            );
            let req = http::Request::post(format!("{base}/echo"))
                .body(BodyExt::boxed(upload))
                .unwrap();
            client.request(req)
        };
        // Dropped after its first chunk; hyper goes on sending the 10 MiB upload.
        let mut abandoned = echo().await.unwrap().into_body();
        let first = tokio::time::timeout(std::time::Duration::from_secs(20), abandoned.frame())
            .await
            .expect("the first echoed chunk arrives");
        assert!(first.is_some());
        drop(abandoned);
        for round in 1..=2 {
            let mut checker = Checker::default();
            let read = tokio::time::timeout(std::time::Duration::from_secs(30), async {
                let mut body = echo().await.unwrap().into_body();
                while let Some(frame) = body.frame().await {
                    if let Ok(data) = frame.unwrap().into_data() {
                        checker.check(&data);
                    }
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
    });
    stop.set();
    // The abandoned upload's stream may stay open until the shutdown timeout cancels it.
    ciranda_rt.block_on(server).unwrap().unwrap();
}
