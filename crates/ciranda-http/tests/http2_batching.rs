//! `serve` lets an HTTP/2 connection's ready streams finish before the connection's task
//! writes (it yields once per wake-up while two or more requests are in flight). These tests
//! hold what that must not break: a stream that never answers does not hold back the others,
//! and many streams in flight on one connection each get their own response.

mod common;

use bytes::Bytes;
use ciranda::net::TcpListener;
use ciranda::time::{Duration, timeout};
use common::*;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use std::future::{IntoFuture, pending};

/// A server whose `/never` requests never answer and whose other requests answer with their
/// own path at once; its address.
async fn start_server() -> std::net::SocketAddr {
    let service = hyper::service::service_fn(|req: http::Request<Incoming>| async move {
        if req.uri().path() == "/never" {
            pending::<()>().await;
        }
        let path = req.uri().path().to_owned();
        Ok::<_, hyper::Error>(http::Response::new(Full::new(Bytes::from(path))))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(ciranda::spawn(
        ciranda_http::server::serve(listener, service).into_future(),
    ));
    addr
}

/// `GET path` over `sender`: the response body as text.
async fn get(
    mut sender: hyper::client::conn::http2::SendRequest<TestBody>,
    path: String,
) -> String {
    sender.ready().await.unwrap();
    let req = http::Request::get(format!("http://localhost{path}"))
        .body(BodyExt::boxed(Empty::new().map_err(|e| match e {})))
        .unwrap();
    let response = sender.send_request(req).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Two `/never` streams stay in flight for the whole test, so the connection's task yields
/// at every wake-up; each answered request must still be written.
async fn streams_answer_beside_streams_that_never_do() {
    let addr = start_server().await;
    let sender = h2_sender(addr).await;
    let never: Vec<_> = (0..2)
        .map(|_| ciranda::spawn(get(sender.clone(), "/never".to_owned())))
        .collect();
    for i in 0..50 {
        let path = format!("/one/{i}");
        let answer = timeout(Duration::from_secs(30), get(sender.clone(), path.clone())).await;
        assert_eq!(
            answer.unwrap_or_else(|_| panic!("{path} was not answered beside two silent streams")),
            path
        );
    }
    for task in never {
        assert!(!task.is_finished(), "a /never stream was answered");
        task.abort();
    }
}

#[ciranda::test]
async fn a_stream_that_never_answers_holds_back_no_other() {
    streams_answer_beside_streams_that_never_do().await;
}

#[ciranda::test(flavor = "current_thread")]
async fn a_stream_that_never_answers_holds_back_no_other_on_one_thread() {
    streams_answer_beside_streams_that_never_do().await;
}

/// 200 requests in flight at once on one connection, five times over: each gets the response
/// to its own path.
async fn many_streams_each_get_their_own_response() {
    let addr = start_server().await;
    let sender = h2_sender(addr).await;
    for round in 0..5 {
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let path = format!("/many/{round}/{i}");
                (path.clone(), ciranda::spawn(get(sender.clone(), path)))
            })
            .collect();
        for (path, task) in tasks {
            let answer = timeout(Duration::from_secs(30), task).await;
            assert_eq!(
                answer
                    .unwrap_or_else(|_| panic!("{path} was not answered"))
                    .unwrap(),
                path
            );
        }
    }
}

#[ciranda::test]
async fn many_streams_in_flight_each_get_their_own_response() {
    many_streams_each_get_their_own_response().await;
}

#[ciranda::test(flavor = "current_thread")]
async fn many_streams_in_flight_each_get_their_own_response_on_one_thread() {
    many_streams_each_get_their_own_response().await;
}
