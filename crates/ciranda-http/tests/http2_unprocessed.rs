//! HTTP/2 requests a server did not process (RFC 9113 6.8 and 8.7): streams above the
//! last-stream-id of a GOAWAY (a graceful shutdown, say in a rolling deploy) and streams reset
//! with `REFUSED_STREAM`. The server here is written frame by frame, so each test decides
//! exactly which stream is answered, refused or left above a GOAWAY, and counts what arrives.
//! Beside them, a connection that ends under a request with no GOAWAY at all.

use bytes::Bytes;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::Duration;
use ciranda_http::{Body, Client};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the server does with one request (one stream).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// `200` with the body `ok`, once the request has ended.
    Answer,
    /// A GOAWAY (`NO_ERROR`) naming the stream before this one as the last processed, as
    /// soon as its headers arrive: this stream was not processed, and is never answered.
    GoAwayBelow,
    /// Once the request has ended, a GOAWAY (`NO_ERROR`) naming this stream as the last
    /// processed, then `200`: the connection is going away, but this request is answered.
    AnswerAfterGoAway,
    /// `RST_STREAM` with `REFUSED_STREAM`, as soon as its headers arrive.
    Refuse,
    /// The connection closed, with no GOAWAY, as soon as its headers arrive (a server that
    /// died, a balancer that cut it): never answered.
    Close,
}

/// One request the server read: on which of its connections (0 for the first accepted), on
/// which stream, what it did with it, and the request body it got.
#[derive(Clone, Debug)]
struct Seen {
    conn: usize,
    stream: u32,
    act: Act,
    body: Vec<u8>,
}

/// What the server does with the `nth` request (from 0) of its connection `conn`.
type Script = fn(conn: usize, nth: usize) -> Act;

type Log = Arc<Mutex<Vec<Seen>>>;

/// An HTTP/2 (prior knowledge) server on a free loopback port following `script`: its base
/// URL and the requests it has read.
async fn raw_h2_server(script: Script) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Log::default();
    let seen = log.clone();
    ciranda::spawn(async move {
        for conn in 0.. {
            let (stream, _) = listener.accept().await.unwrap();
            ciranda::spawn(serve_connection(stream, conn, script, seen.clone()));
        }
    });
    (url, log)
}

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const REFUSED_STREAM: u32 = 0x7;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.extend([kind, flags]);
    out.extend(stream.to_be_bytes());
    out.extend(payload);
    out
}

/// `200` (HPACK: the static table's `:status: 200`) and the body `ok` on `stream`.
fn answer(stream: u32) -> Vec<u8> {
    let mut out = frame(HEADERS, END_HEADERS, stream, &[0x88]);
    out.extend(frame(DATA, END_STREAM, stream, b"ok"));
    out
}

fn go_away(last: u32) -> Vec<u8> {
    let mut payload = last.to_be_bytes().to_vec();
    payload.extend(0u32.to_be_bytes()); // NO_ERROR
    frame(GOAWAY, 0, 0, &payload)
}

/// Reads frames until the client closes the connection (it does once a GOAWAY left it with
/// no stream open: the server closes first only for [`Act::Close`], having sent nothing since
/// its last answer).
async fn serve_connection(mut stream: TcpStream, conn: usize, script: Script, log: Log) {
    let mut preface = [0u8; 24];
    if stream.read_exact(&mut preface).await.is_err() {
        return;
    }
    assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    // Stream id to (its entry in the log, what is done with it).
    let mut streams: HashMap<u32, (usize, Act)> = HashMap::new();
    let mut nth = 0;
    loop {
        let mut head = [0u8; 9];
        if stream.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        if stream.read_exact(&mut payload).await.is_err() {
            return;
        }
        let mut out = Vec::new();
        match kind {
            SETTINGS if flags & ACK == 0 => out = frame(SETTINGS, ACK, 0, &[]),
            PING if flags & ACK == 0 => out = frame(PING, ACK, 0, &payload),
            HEADERS => {
                assert_ne!(
                    flags & END_HEADERS,
                    0,
                    "a request head in CONTINUATION frames"
                );
                let act = script(conn, nth);
                nth += 1;
                let mut log = log.lock().unwrap();
                streams.insert(id, (log.len(), act));
                log.push(Seen {
                    conn,
                    stream: id,
                    act,
                    body: Vec::new(),
                });
                match act {
                    Act::GoAwayBelow => out = go_away(id.saturating_sub(2)),
                    Act::Refuse => {
                        out = frame(RST_STREAM, 0, id, &REFUSED_STREAM.to_be_bytes());
                    }
                    Act::Close => return,
                    Act::Answer | Act::AnswerAfterGoAway => {}
                }
            }
            DATA => {
                let data = if flags & PADDED != 0 {
                    let pad = usize::from(payload[0]);
                    &payload[1..payload.len() - pad]
                } else {
                    &payload[..]
                };
                if let Some(&(at, _)) = streams.get(&id) {
                    log.lock().unwrap()[at].body.extend_from_slice(data);
                }
            }
            _ => {} // WINDOW_UPDATE, PRIORITY, the client's own RST_STREAM, acks
        }
        let ended = matches!(kind, HEADERS | DATA) && flags & END_STREAM != 0;
        match streams.get(&id) {
            Some((_, Act::Answer)) if ended => out.extend(answer(id)),
            Some((_, Act::AnswerAfterGoAway)) if ended => {
                out.extend(go_away(id));
                out.extend(answer(id));
            }
            _ => {}
        }
        if !out.is_empty() && stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The HTTP/2 error a request failed with, if any.
fn h2_cause(err: &ciranda_http::Error) -> Option<&h2::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(h2) = c.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        cause = c.source();
    }
    None
}

fn h2_client() -> Client {
    Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A body the client cannot send twice.
fn streamed(text: &'static str) -> Body {
    Body::from_stream(ciranda::stream::iter([Ok::<_, std::io::Error>(
        Bytes::from_static(text.as_bytes()),
    )]))
}

/// (connection, stream, act) of every request the server read, in order.
fn trace(log: &Log) -> Vec<(usize, u32, Act)> {
    let log = log.lock().unwrap();
    log.iter().map(|s| (s.conn, s.stream, s.act)).collect()
}

/// Every connection answers its first request and sends GOAWAY naming that one as the last
/// when its second arrives: the second was not processed. hyper cannot tell it from a request
/// it had just sent below the last-stream-id (see `requests_after_a_goaway_...`), so as for a
/// connection closed under it, an idempotent request whose body can be repeated is sent once
/// more, on a new connection; a `POST`, or a streamed body, returns the GOAWAY's error.
#[ciranda::test]
async fn an_idempotent_request_above_a_goaways_last_stream_is_sent_again() {
    use Act::*;
    let (url, log) = raw_h2_server(|_, nth| if nth == 0 { Answer } else { GoAwayBelow }).await;
    let client = h2_client();

    let first = client.get(format!("{url}/first")).await.unwrap();
    assert_eq!(first.text().await.unwrap(), "ok");
    // Stream 3 of the first connection, above the GOAWAY's last (1): sent again.
    let second = client.get(format!("{url}/second")).await.unwrap();
    assert_eq!(second.text().await.unwrap(), "ok");
    assert_eq!(
        trace(&log),
        [(0, 1, Answer), (0, 3, GoAwayBelow), (1, 1, Answer)]
    );

    // A PUT too, with its body whole the second time.
    let put = http::Request::put(format!("{url}/put"))
        .body(Body::from("payload"))
        .unwrap();
    let put = client.request(put).await.unwrap();
    assert_eq!(put.text().await.unwrap(), "ok");
    assert_eq!(trace(&log)[3..], [(1, 3, GoAwayBelow), (2, 1, Answer)]);
    assert_eq!(log.lock().unwrap()[4].body, b"payload");

    // A POST is sent once: the GOAWAY's error is returned.
    let err = client
        .post(format!("{url}/post"), "payload")
        .await
        .unwrap_err();
    assert_eq!(trace(&log)[5..], [(2, 3, GoAwayBelow)]);
    let h2 = h2_cause(&err).unwrap_or_else(|| panic!("not an HTTP/2 error: {err:?}"));
    assert!(h2.is_go_away() && h2.is_remote(), "{h2:?}");
    assert_eq!(h2.reason(), Some(h2::Reason::NO_ERROR));
    assert!(
        !err.is_connect() && !err.is_timeout() && !err.is_body(),
        "{err:?}"
    );
    assert!(err.to_string().contains("/post"), "{err}");

    // So is a PUT whose body is streamed.
    let first = client.get(format!("{url}/first-again")).await.unwrap();
    assert_eq!(first.text().await.unwrap(), "ok");
    let put = http::Request::put(format!("{url}/streamed"))
        .body(streamed("stream"))
        .unwrap();
    let err = client.request(put).await.unwrap_err();
    assert_eq!(trace(&log)[6..], [(3, 1, Answer), (3, 3, GoAwayBelow)]);
    let h2 = h2_cause(&err).unwrap_or_else(|| panic!("not an HTTP/2 error: {err:?}"));
    assert!(h2.is_go_away() && h2.is_remote(), "{h2:?}");

    // And the client goes on, on a new connection.
    let after = client.get(format!("{url}/after")).await.unwrap();
    assert_eq!(after.text().await.unwrap(), "ok");
    assert_eq!(trace(&log)[8..], [(4, 1, Answer)]);
}

/// Sent again once, not more: a server that sends every request it gets above its GOAWAY
/// sees two, and the second one's error is returned.
#[ciranda::test]
async fn a_request_left_above_goaway_twice_is_an_error_after_two_attempts() {
    let (url, log) = raw_h2_server(|_, _| Act::GoAwayBelow).await;
    let client = h2_client();
    let err = client.get(format!("{url}/never")).await.unwrap_err();
    assert_eq!(
        trace(&log),
        [(0, 1, Act::GoAwayBelow), (1, 1, Act::GoAwayBelow)]
    );
    let h2 = h2_cause(&err).unwrap_or_else(|| panic!("not an HTTP/2 error: {err:?}"));
    assert!(h2.is_go_away() && h2.is_remote(), "{h2:?}");
}

/// `REFUSED_STREAM` says the stream was not processed (only the stream's own reset carries
/// it): a request whose body can be repeated is sent again, whatever its method; a streamed
/// one returns the reset; a request refused twice returns the second refusal.
#[ciranda::test]
async fn a_refused_stream_is_sent_again_once() {
    use Act::*;
    // Every other request is refused: each first attempt, never its second.
    let (url, log) = raw_h2_server(|_, nth| if nth % 2 == 0 { Refuse } else { Answer }).await;
    let client = h2_client();
    let acts = |log: &Log| -> Vec<Act> { trace(log).into_iter().map(|t| t.2).collect() };

    let get = client.get(format!("{url}/get")).await.unwrap();
    assert_eq!(get.text().await.unwrap(), "ok");
    assert_eq!(acts(&log), [Refuse, Answer]);

    let post = client.post(format!("{url}/post"), "payload").await.unwrap();
    assert_eq!(post.text().await.unwrap(), "ok");
    assert_eq!(acts(&log)[2..], [Refuse, Answer]);
    assert_eq!(log.lock().unwrap()[3].body, b"payload");

    let err = client
        .post(format!("{url}/streamed"), streamed("stream"))
        .await
        .unwrap_err();
    assert_eq!(acts(&log)[4..], [Refuse]);
    let h2 = h2_cause(&err).unwrap_or_else(|| panic!("not an HTTP/2 error: {err:?}"));
    assert!(h2.is_reset() && h2.is_remote(), "{h2:?}");
    assert_eq!(h2.reason(), Some(h2::Reason::REFUSED_STREAM));

    let (url, log) = raw_h2_server(|_, _| Refuse).await;
    let err = client.get(format!("{url}/never")).await.unwrap_err();
    assert_eq!(acts(&log), [Refuse, Refuse]);
    let h2 = h2_cause(&err).unwrap_or_else(|| panic!("not an HTTP/2 error: {err:?}"));
    assert_eq!(h2.reason(), Some(h2::Reason::REFUSED_STREAM));
}

/// A GOAWAY naming a request's stream as the last, before its response: the pooled
/// connection takes no more requests, and the next ones go out on a new connection each.
/// Mostly hyper-util's pool does it (the request comes back to it unsent); but hyper's task
/// for the connection may have checked that it could open a stream just before the GOAWAY
/// was read, then take the request and fail it with the GOAWAY's error, unsent: the client
/// sends it again (here idempotent, its body repeatable). Each request has a body, and the
/// GOAWAY waits for its end: hyper sends a body only once it has checked the connection again
/// after opening the stream, the check that would fail an answered request with the
/// GOAWAY's error if the GOAWAY came before it.
#[ciranda::test]
async fn requests_after_a_goaway_go_out_on_a_new_connection() {
    let (url, log) = raw_h2_server(|_, _| Act::AnswerAfterGoAway).await;
    let client = h2_client();
    for i in 0..3 {
        let body = format!("put {i}");
        let put = http::Request::put(format!("{url}/{i}"))
            .body(Body::from(body.clone()))
            .unwrap();
        let response = client.request(put).await.unwrap();
        assert_eq!(response.text().await.unwrap(), "ok");
        assert_eq!(trace(&log)[i..], [(i, 1, Act::AnswerAfterGoAway)]);
        assert_eq!(log.lock().unwrap()[i].body, body.as_bytes());
    }
}

/// A connection that ends under a request with no GOAWAY (a server that died, a balancer
/// that cut it; h2 fails its streams with a broken pipe): as for an HTTP/1.1 connection closed
/// under it, an idempotent request is sent once more, on a new connection, and a `POST`
/// returns the error, sent once.
#[ciranda::test]
async fn an_idempotent_request_on_a_connection_that_ends_under_it_is_sent_again() {
    use Act::*;
    let (url, log) = raw_h2_server(|_, nth| if nth == 0 { Answer } else { Close }).await;
    let client = h2_client();

    let first = client.get(format!("{url}/first")).await.unwrap();
    assert_eq!(first.text().await.unwrap(), "ok");
    let second = client.get(format!("{url}/second")).await.unwrap();
    assert_eq!(second.text().await.unwrap(), "ok");
    assert_eq!(trace(&log), [(0, 1, Answer), (0, 3, Close), (1, 1, Answer)]);

    let err = client
        .post(format!("{url}/post"), "payload")
        .await
        .unwrap_err();
    assert_eq!(trace(&log)[3..], [(1, 3, Close)]);
    assert!(
        !err.is_connect() && !err.is_timeout() && !err.is_body(),
        "{err:?}"
    );
    assert!(err.to_string().contains("/post"), "{err}");
}
