//! `max_body_size`: `bytes()` and `text()` refuse a body over the limit (a decompression bomb
//! as soon as its decompressed bytes pass it, a plain body too, and one whose
//! `Content-Length` announces more before anything is read); a body exactly at the limit,
//! a `HEAD` answer's length and `chunks()` are not limited.

mod common;

use ciranda::stream::StreamExt;
use ciranda_http::{Client, RequestOptions};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write;
use std::sync::OnceLock;

const MIB: usize = 1024 * 1024;

/// 64 MiB of zeros, gzipped: about 64 KiB.
fn bomb() -> &'static [u8] {
    static BOMB: OnceLock<Vec<u8>> = OnceLock::new();
    BOMB.get_or_init(|| gzip(&vec![0; 64 * MIB]))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A head and `body`, then the connection closes.
fn answer(head: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 200 OK\r\nConnection: close\r\n{head}\r\n").into_bytes();
    out.extend_from_slice(body);
    out
}

/// What the server sends for a request to `path`, then closes the connection:
/// * `/bomb`: [`bomb`], whole, with its `Content-Length`;
/// * `/bomb-cut`: the first half of [`bomb`] (which decompresses to far more than 1 MiB),
///   then the connection closes: the body is cut short;
/// * `/chunked/N`: `N` bytes `x` in chunked encoding (no `Content-Length`);
/// * `/length/N`: `N` bytes `x` with their `Content-Length`;
/// * `/gzip/N`: `N` zeros, gzipped, with the compressed body's `Content-Length`;
/// * `/announced`: `Content-Length: 1000000`, then 10 bytes, then the connection closes.
fn respond(path: &str) -> Vec<u8> {
    let gz = "Content-Encoding: gzip\r\n";
    let (kind, n) = path[1..].split_once('/').unwrap_or((&path[1..], "0"));
    let n: usize = n.parse().unwrap();
    match kind {
        "bomb" => answer(&format!("{gz}Content-Length: {}\r\n", bomb().len()), bomb()),
        "bomb-cut" => answer(gz, &bomb()[..bomb().len() / 2]),
        "chunked" => {
            let mut body = format!("{n:x}\r\n").into_bytes();
            body.extend(vec![b'x'; n]);
            body.extend_from_slice(b"\r\n0\r\n\r\n");
            answer("Transfer-Encoding: chunked\r\n", &body)
        }
        "length" => answer(&format!("Content-Length: {n}\r\n"), &vec![b'x'; n]),
        "gzip" => {
            let body = gzip(&vec![0; n]);
            answer(&format!("{gz}Content-Length: {}\r\n", body.len()), &body)
        }
        "announced" => answer("Content-Length: 1000000\r\n", &[b'x'; 10]),
        other => panic!("no route {other}"),
    }
}

/// A server that answers each connection's request with [`respond`], as raw bytes, and
/// closes it; returns its URL's start (`http://127.0.0.1:PORT`).
async fn server() -> String {
    let addr = common::serve_raw_heads(|head| respond(common::target_of(head))).await;
    format!("http://{addr}")
}

fn limited(bytes: usize) -> Client {
    Client::builder().max_body_size(bytes).build().unwrap()
}

/// The error of reading `url`'s body whole with `bytes()`, which must fail.
async fn read_refused(client: &Client, url: String) -> ciranda_http::Error {
    client.get(url).await.unwrap().bytes().await.unwrap_err()
}

#[ciranda::test]
async fn a_gzip_bomb_is_refused_once_its_decompressed_bytes_pass_the_limit() {
    let base = server().await;
    let client = limited(MIB);
    let err = read_refused(&client, format!("{base}/bomb")).await;
    assert!(err.is_body_too_large() && err.is_body(), "{err:?}");
    assert!(err.to_string().contains("limit of 1048576 bytes"), "{err}");
    let err = client
        .get(format!("{base}/bomb"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap_err();
    assert!(err.is_body_too_large(), "{err:?}");

    // Refused while the body is still arriving: this one is cut short after more than the
    // limit decompresses, and reading it to its end would fail as cut short instead.
    let err = read_refused(&client, format!("{base}/bomb-cut")).await;
    assert!(err.is_body_too_large(), "{err:?}");
    let cut = read_refused(&Client::new(), format!("{base}/bomb-cut")).await;
    assert!(cut.is_body() && !cut.is_body_too_large(), "{cut:?}");
}

#[ciranda::test]
async fn a_body_at_the_limit_is_read_and_one_byte_more_is_refused() {
    let base = server().await;
    for kind in ["chunked", "length", "gzip"] {
        let body = limited(1000)
            .get(format!("{base}/{kind}/1000"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(body.len(), 1000, "{kind}");
        let err = read_refused(&limited(999), format!("{base}/{kind}/1000")).await;
        assert!(err.is_body_too_large(), "{kind}: {err:?}");
        assert!(
            err.to_string().contains("limit of 999 bytes"),
            "{kind}: {err}"
        );
    }
    // An empty body under a zero limit.
    let body = limited(0).get(format!("{base}/length/0")).await.unwrap();
    assert!(body.bytes().await.unwrap().is_empty());
}

#[ciranda::test]
async fn a_content_length_over_the_limit_is_refused_before_the_body_is_read() {
    let base = server().await;
    // Only 10 of the 1 000 000 announced bytes come: reading them would end in a body cut
    // short, not in this error.
    let err = read_refused(&limited(1000), format!("{base}/announced")).await;
    assert!(err.is_body_too_large(), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("Content-Length, 1000000 bytes")
            && message.contains("limit of 1000 bytes"),
        "{message}"
    );
    assert!(
        message.starts_with(&format!("{base}/announced: ")),
        "{message}"
    );
    let cut = read_refused(&Client::new(), format!("{base}/announced")).await;
    assert!(cut.is_body() && !cut.is_body_too_large(), "{cut:?}");

    // A `HEAD` answer has no body, whatever length it announces.
    let request = http::Request::head(format!("{base}/length/5000"))
        .body(ciranda_http::Body::empty())
        .unwrap();
    let response = limited(1000).request(request).await.unwrap();
    assert_eq!(response.headers()["content-length"], "5000");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[ciranda::test]
async fn a_request_can_set_its_own_limit() {
    let base = server().await;
    let raised = limited(10)
        .get_with(
            format!("{base}/chunked/1000"),
            RequestOptions::new().max_body_size(usize::MAX),
        )
        .await
        .unwrap();
    assert_eq!(raised.bytes().await.unwrap().len(), 1000);
    let lowered = Client::new()
        .get_with(
            format!("{base}/chunked/1000"),
            RequestOptions::new().max_body_size(10),
        )
        .await
        .unwrap();
    let err = lowered.text().await.unwrap_err();
    assert!(err.is_body_too_large(), "{err:?}");
}

#[ciranda::test]
async fn chunks_are_not_limited() {
    let base = server().await;
    let mut chunks = limited(MIB)
        .get(format!("{base}/bomb"))
        .await
        .unwrap()
        .chunks();
    let mut total = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        assert!(chunk.iter().all(|&b| b == 0));
        total += chunk.len();
    }
    assert_eq!(total, 64 * MIB);
}
