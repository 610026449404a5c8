//! `server::BodyTimeout`: a request body whose next frame must come within a limit. On the
//! paused clock (the wait is the only timer, so the clock jumps to it), and against `serve`
//! over both protocols with a client whose upload stalls.
#![cfg(not(loom))]

mod common;

use bytes::Bytes;
use ciranda::sync::mpsc;
use ciranda::time::{Duration, Instant};
use ciranda_http::server::{self, BodyTimeout};
use ciranda_http::{Body, Client};
use common::read_until_ends_with;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use std::convert::Infallible;
use std::future::IntoFuture;
use std::io;

const LIMIT: Duration = Duration::from_secs(10);

type Chunk = Result<Frame<Bytes>, Infallible>;

/// A body fed frame by frame through the returned sender.
fn channel_body() -> (
    mpsc::Sender<Chunk>,
    BodyTimeout<StreamBody<mpsc::Receiver<Chunk>>>,
) {
    let (tx, rx) = mpsc::channel(16);
    (tx, BodyTimeout::new(StreamBody::new(rx), LIMIT))
}

fn frame(text: &'static str) -> Chunk {
    Ok(Frame::data(Bytes::from_static(text.as_bytes())))
}

fn is_timed_out(error: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut)
}

#[ciranda::test(start_paused = true)]
async fn a_body_that_stops_fails_once_the_limit_passes_then_ends() {
    let (tx, mut body) = channel_body();
    tx.send(frame("first")).await.unwrap();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "first");

    let waited_from = Instant::now();
    let error = body.frame().await.unwrap().unwrap_err();
    assert!(is_timed_out(&*error), "{error}");
    assert!(error.to_string().contains("10s"), "{error}");
    assert!(waited_from.elapsed() >= LIMIT);
    // Over after the error, even if the sender goes on.
    tx.send(frame("late")).await.unwrap();
    assert!(body.frame().await.is_none());
    drop(tx);
}

#[ciranda::test(start_paused = true)]
async fn the_limit_is_per_wait_not_for_the_whole_body() {
    let (tx, body) = channel_body();
    ciranda::spawn(async move {
        for _ in 0..10 {
            // Each frame 0.6 of the limit after the last: 6 limits in all.
            ciranda::time::sleep(LIMIT.mul_f64(0.6)).await;
            tx.send(frame("x")).await.unwrap();
        }
    });
    let all = body.collect().await.unwrap().to_bytes();
    assert_eq!(all, "xxxxxxxxxx");
}

#[ciranda::test(start_paused = true)]
async fn a_reader_slow_between_reads_is_not_cut_off() {
    let (tx, mut body) = channel_body();
    for _ in 0..3 {
        tx.send(frame("y")).await.unwrap();
    }
    drop(tx);
    let mut got = 0;
    while let Some(frame) = body.frame().await {
        frame.unwrap();
        got += 1;
        // The handler busy for three limits: the frames were there, nobody waited.
        ciranda::time::sleep(LIMIT * 3).await;
    }
    assert_eq!(got, 3);
}

#[ciranda::test(start_paused = true)]
async fn a_zero_limit_fails_any_wait_but_not_a_ready_frame() {
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    let mut body = BodyTimeout::new(StreamBody::new(rx), Duration::ZERO);
    tx.send(frame("ready")).await.unwrap();
    assert!(body.frame().await.unwrap().is_ok());
    assert!(is_timed_out(&*body.frame().await.unwrap().unwrap_err()));
}

/// A handler that reads its body within 300 ms between frames and answers 408 when the
/// client stalls, 200 with the byte count otherwise.
async fn upload(req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let body = BodyTimeout::new(req.into_body(), Duration::from_millis(300));
    Ok(match body.collect().await {
        Ok(all) => hyper::Response::new(Full::from(all.to_bytes().len().to_string())),
        Err(error) => {
            assert!(is_timed_out(&*error), "{error}");
            let mut late = hyper::Response::new(Full::default());
            *late.status_mut() = hyper::StatusCode::REQUEST_TIMEOUT;
            late
        }
    })
}

#[ciranda::test]
async fn serve_answers_a_stalled_upload_with_its_handlers_timeout_over_both_protocols() {
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let server =
        ciranda::spawn(server::serve(listener, hyper::service::service_fn(upload)).into_future());
    let clients = [
        Client::new(),
        Client::builder().http2_prior_knowledge().build().unwrap(),
    ];
    for client in clients {
        // Complete uploads pass.
        let response = client.post(&url, Body::from("12345")).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "5");
        // One chunk, then nothing (the stream stays open).
        let stalled = futures_util::stream::once(async { Ok::<_, Infallible>(Bytes::from("a")) })
            .chain(futures_util::stream::pending());
        let response = ciranda::time::timeout(
            Duration::from_secs(20),
            client.post(&url, Body::from_stream(stalled)),
        )
        .await
        .expect("the handler's timeout answers a stalled upload")
        .unwrap();
        assert_eq!(response.status(), 408);
    }
    server.abort();
}

/// A handler that answers an HTTP/1.1 upload at once and reads its body afterwards: hyper
/// ends such a body only with the connection's next request head, but it says its last
/// byte is in (`is_end_stream`), and `BodyTimeout` ends there instead of timing out.
#[ciranda::test]
async fn a_body_read_after_its_response_ends_at_its_last_byte() {
    use ciranda::io::AsyncWriteExt;
    let (read_tx, mut read_rx) = mpsc::channel::<Result<usize, String>>(1);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let read_tx = read_tx.clone();
        async move {
            let body = BodyTimeout::new(req.into_body(), Duration::from_secs(1));
            ciranda::spawn(async move {
                let read = body.collect().await.map(|all| all.to_bytes().len());
                let _ = read_tx.send(read.map_err(|e| e.to_string())).await;
            });
            Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
        }
    });
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(server::serve(listener, service).into_future());
    let mut stream = ciranda::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\n")
        .await
        .unwrap();
    read_until_ends_with(&mut stream, b"ok").await;
    stream.write_all(b"hello").await.unwrap();
    let read = ciranda::time::timeout(Duration::from_secs(20), read_rx.recv())
        .await
        .expect("the handler's read ended")
        .unwrap();
    assert_eq!(read, Ok(5));
    server.abort();
}
