//! `serve` with a send or idle timeout of zero: a request whose handler waits is answered,
//! neither spun on for ever nor cut. Each server runs on a current-thread runtime of its own,
//! on a thread that is not joined unless it stops: with the defects its connection's task
//! never left its poll, and a test runtime would hang on it at its end.

use bytes::Bytes;
use ciranda::time::Duration;
use http_body_util::Full;
use hyper::body::Incoming;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::sync::Arc;

/// How long the handler waits before it answers.
const HANDLER: Duration = Duration::from_millis(100);

/// One `GET` to a server with the given timeouts, whose handler waits [`HANDLER`] and answers
/// `done`: what the client read until the server closed (at most 20 s).
///
/// The request is written before the server starts, so the connection's first poll reads it
/// and calls the handler, which then waits: the connection is busy from its first look on.
fn ask(send: Option<Duration>, idle: Option<Duration>) -> Vec<u8> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let stop = Arc::new(ciranda::sync::Event::new());
    let server = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let runtime = ciranda::Runtime::builder()
                .flavor(ciranda::Flavor::CurrentThread)
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = ciranda::net::TcpListener::from_std(listener).unwrap();
                let service = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
                    ciranda::time::sleep(HANDLER).await;
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("done"))))
                });
                ciranda_http::server::serve(listener, service)
                    .send_timeout(send)
                    .idle_timeout(idle)
                    .with_graceful_shutdown(async move { stop.wait().await })
                    .await
                    .unwrap();
            });
        })
    };
    let mut answer = Vec::new();
    // A timeout leaves what was read in `answer`.
    let _ = client.read_to_end(&mut answer);
    stop.set();
    if answer.ends_with(b"done") {
        server.join().unwrap();
    }
    answer
}

fn assert_answered(answer: &[u8]) {
    let text = String::from_utf8_lossy(answer);
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\ndone"),
        "not answered: {text:?}"
    );
}

/// The defect: with a request in flight and nothing waiting for the peer, the send watch
/// looks again one timeout later; a zero timeout's sleep was due as soon as it was armed, so
/// the look re-armed it in a loop that never left the connection's poll. The handler (polled
/// in that task over HTTP/1.1) never ran again: no answer, and the thread spun for ever.
#[test]
fn a_zero_send_timeout_answers_a_waiting_handler() {
    assert_answered(&ask(Some(Duration::ZERO), None));
}

/// The defect: the idle watch, finding the connection busy, looked again one timeout later,
/// and with a zero timeout found that deadline passed and took the busy connection for idle:
/// the request in flight was cut without an answer (GOAWAY, then dropped at the next look).
#[test]
fn a_zero_idle_timeout_does_not_cut_a_request_in_flight() {
    assert_answered(&ask(None, Some(Duration::ZERO)));
}

/// A timeout of a few nanoseconds is the same as zero for both (the deadline has passed by
/// the time the sleep is polled).
#[test]
fn nanosecond_timeouts_answer_a_waiting_handler() {
    assert_answered(&ask(Some(Duration::from_nanos(1)), None));
    assert_answered(&ask(None, Some(Duration::from_nanos(1))));
}
