//! A kept-alive connection the server ends under a request, in the ways servers end them
//! besides a clean close (which `faults.rs` covers): over TLS without a `close_notify` (the TCP
//! connection just closed: rustls reads an unexpected EOF), and with a reset (the server
//! closed with the request unread in its buffer). Both are the connection going away before
//! any answer, as a clean close is: an idempotent request is sent again on a new connection,
//! a `POST` is not.

mod common;

use ciranda::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ciranda::net::TcpListener;
use ciranda::time::Duration;
use ciranda_http::Client;
use common::{TestCert, make_cert, tls_server_config};
use std::sync::{Arc, Mutex};

/// How the server ends a reused connection when the next request arrives on it.
#[derive(Clone, Copy, Debug)]
enum Ending {
    /// Over TLS: reads the request, then closes the TCP connection without `close_notify`.
    TlsWithoutCloseNotify,
    /// Over plain TCP: closes with the request unread, so the kernel sends a reset.
    Reset,
}

/// The requests a server has read, each as (path, whether it ended the connection instead of
/// answering).
type Log = Arc<Mutex<Vec<(String, bool)>>>;

/// A line read from `stream` byte by byte (nothing past it is taken), or `None` once the
/// client has closed.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        match stream.read(&mut byte).await {
            Ok(1) => line.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8(line).unwrap())
}

/// Answers the first request on `stream` (`200`, body `ok`, kept alive) and ends the
/// connection as `ending` says when the second arrives, logging both.
async fn serve<S>(mut stream: S, ending: Ending, log: Log)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for answered in [true, false] {
        let Some(request_line) = read_line(&mut stream).await else {
            return;
        };
        let path = request_line.split(' ').nth(1).unwrap().to_owned();
        let reset = matches!(ending, Ending::Reset);
        if !answered && reset {
            // The rest of the head is there, unread: dropping the stream sends a reset.
            log.lock().unwrap().push((path, true));
            return;
        }
        let mut length = 0;
        loop {
            let line = read_line(&mut stream).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        log.lock().unwrap().push((path, !answered));
        if !answered {
            // Everything read: dropping the stream closes with a FIN and, over TLS, no alert.
            return;
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .await
            .unwrap();
        stream.flush().await.unwrap();
    }
}

/// A server on a free loopback port ending every reused connection as `ending` says: its
/// base URL and the requests it has read.
async fn ending_server(ending: Ending, cert: &TestCert) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Log::default();
    let seen = log.clone();
    let acceptor =
        futures_rustls::TlsAcceptor::from(Arc::new(tls_server_config(cert, &[b"http/1.1"])));
    ciranda::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let log = seen.clone();
            let acceptor = acceptor.clone();
            ciranda::spawn(async move {
                match ending {
                    Ending::TlsWithoutCloseNotify => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve(tls, ending, log).await;
                        }
                    }
                    Ending::Reset => serve(stream, ending, log).await,
                }
            });
        }
    });
    let url = match ending {
        Ending::TlsWithoutCloseNotify => format!("https://localhost:{port}"),
        Ending::Reset => format!("http://127.0.0.1:{port}"),
    };
    (url, log)
}

/// Sends `GET`s (and then, if `post`, `POST`s) until one goes out on a reused connection the
/// server ends: the `GET` must be answered after being sent twice, the `POST` must fail after
/// being sent once.
async fn check(ending: Ending, post: bool) {
    let cert = make_cert();
    let (url, seen) = ending_server(ending, &cert).await;
    let client = Client::builder()
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap();
    let times = |path: &str| {
        seen.lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    };
    let ended = |path: &str| seen.lock().unwrap().iter().any(|(p, e)| p == path && *e);
    // Whether a connection is back in the pool in time for the next request is the pool's
    // race, so go on until one was.
    let mut retried = false;
    for i in 0..100 {
        let path = format!("/get{i}");
        let response = client
            .get(format!("{url}{path}"))
            .await
            .unwrap_or_else(|e| panic!("{ending:?}: {path} was not sent again: {e:?}"));
        assert_eq!(response.text().await.unwrap(), "ok", "{path}");
        if ended(&path) {
            assert_eq!(
                times(&path),
                2,
                "{ending:?}: {path} was ended, so sent twice"
            );
            retried = true;
            break;
        }
        assert_eq!(times(&path), 1, "{path}");
        ciranda::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        retried,
        "{ending:?}: no GET in 100 went out on a reused connection"
    );
    if !post {
        return;
    }
    let mut refused = false;
    for i in 0..100 {
        let path = format!("/post{i}");
        let result = client.post(format!("{url}{path}"), "once").await;
        assert_eq!(times(&path), 1, "{ending:?}: {path} was sent once");
        if ended(&path) {
            let err = result.unwrap_err();
            assert!(!err.is_connect() && !err.is_timeout(), "{err:?}");
            refused = true;
            break;
        }
        assert_eq!(result.unwrap().text().await.unwrap(), "ok", "{path}");
        ciranda::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        refused,
        "{ending:?}: no POST in 100 went out on a reused connection"
    );
}

#[ciranda::test]
async fn a_get_on_a_tls_connection_closed_without_close_notify_is_sent_again() {
    check(Ending::TlsWithoutCloseNotify, true).await;
}

#[ciranda::test]
async fn a_get_on_a_connection_reset_under_it_is_sent_again() {
    check(Ending::Reset, false).await;
}

#[ciranda::test(flavor = "current_thread")]
async fn a_get_on_a_tls_connection_closed_without_close_notify_is_sent_again_current_thread() {
    check(Ending::TlsWithoutCloseNotify, false).await;
}
