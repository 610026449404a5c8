//! The client's `auto_decompress`: `gzip`, `deflate`, `br` and `zstd` bodies undone as they
//! arrive,
//! what it asks the server for, what it leaves alone, and corrupt bodies.

mod common;

use bytes::Bytes;
use ciranda::stream::StreamExt;
use ciranda_http::Client;
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use http::{Method, Request, StatusCode, header};
use http_body_util::{Empty, Full};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::io::Write;

/// 1 MiB of text that compresses well.
fn text() -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0u32;
    while out.len() < 1 << 20 {
        out.extend(format!("line {i}\n").into_bytes());
        i += 1;
    }
    out
}

fn compress(coding: &str, data: &[u8]) -> Vec<u8> {
    fn run<W: Write>(
        mut w: W,
        data: &[u8],
        finish: impl FnOnce(W) -> std::io::Result<Vec<u8>>,
    ) -> Vec<u8> {
        w.write_all(data).unwrap();
        finish(w).unwrap()
    }
    match coding {
        "gzip" => run(GzEncoder::new(Vec::new(), Compression::fast()), data, |w| {
            w.finish()
        }),
        "zlib" => run(
            ZlibEncoder::new(Vec::new(), Compression::fast()),
            data,
            |w| w.finish(),
        ),
        "raw" => run(
            DeflateEncoder::new(Vec::new(), Compression::fast()),
            data,
            |w| w.finish(),
        ),
        "br" => {
            let mut body = Vec::new();
            run(
                brotli::CompressorWriter::new(&mut body, 4096, 1, 22),
                data,
                |w| {
                    drop(w);
                    Ok(Vec::new())
                },
            );
            body
        }
        "zstd" => zstd::encode_all(data, 1).unwrap(),
        other => panic!("no encoder {other}"),
    }
}

/// `GET /CODING` answers [`text`] compressed as CODING (`gzip`, `zlib`, `raw`, `br` and
/// `zstd` are sent as `Content-Encoding: gzip`, `deflate`, `deflate`, `br`, `zstd`),
/// `/corrupt` a gzip header over garbage, `/cut` a gzip body missing its end, `/br-corrupt`,
/// `/br-cut`, `/zstd-corrupt` and `/zstd-cut` the same for `br` and `zstd`,
/// `/padded-CODING` and `/trailing-CODING` (`gzip`, `zlib`, `br`) the text compressed, then
/// 64 KiB of zeros or 1 MiB of them, `/compress`
/// bytes labelled `compress` (a coding the client does not undo); every answer carries the
/// request's `Accept-Encoding` (or `none`) in `x-accept-encoding`.
async fn route(
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let asked = request
        .headers()
        .get(header::ACCEPT_ENCODING)
        .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned());
    let (coding, body) = match request.uri().path() {
        "/gzip" => ("gzip", compress("gzip", &text())),
        "/zlib" => ("deflate", compress("zlib", &text())),
        "/raw" => ("deflate", compress("raw", &text())),
        "/corrupt" => {
            let mut body = compress("gzip", b"")[..10].to_vec();
            body.extend_from_slice(b"certainly not deflate data, just some bytes");
            ("gzip", body)
        }
        "/cut" => {
            let whole = compress("gzip", &text());
            ("gzip", whole[..whole.len() / 2].to_vec())
        }
        "/br" => ("br", compress("br", &text())),
        "/br-corrupt" => ("br", b"certainly not brotli data, just some bytes".to_vec()),
        "/br-cut" => {
            let whole = compress("br", &text());
            ("br", whole[..whole.len() / 2].to_vec())
        }
        "/zstd" => ("zstd", compress("zstd", &text())),
        "/zstd-corrupt" => ("zstd", b"certainly not zstd data, just some bytes".to_vec()),
        "/zstd-cut" => {
            let whole = compress("zstd", &text());
            ("zstd", whole[..whole.len() / 2].to_vec())
        }
        "/compress" => ("compress", b"not really LZW".to_vec()),
        path if path.starts_with("/padded-") || path.starts_with("/trailing-") => {
            let (kind, encoder) = path[1..].split_once('-').unwrap();
            let coding = if encoder == "zlib" {
                "deflate"
            } else {
                encoder
            };
            let mut body = compress(encoder, &text());
            let after = if kind == "padded" { 64 * 1024 } else { 1 << 20 };
            body.resize(body.len() + after, 0);
            (coding, body)
        }
        _ => ("identity", b"plain".to_vec()),
    };
    let body = if request.method() == Method::HEAD {
        Vec::new()
    } else {
        body
    };
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_ENCODING, coding.parse().unwrap());
    headers.insert("x-accept-encoding", asked.parse().unwrap());
    Ok(response)
}

#[ciranda::test]
async fn gzip_both_kinds_of_deflate_brotli_and_zstd_are_undone() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    for path in ["gzip", "zlib", "raw", "br", "zstd"] {
        let response = client.get(format!("http://{addr}/{path}")).await.unwrap();
        assert_eq!(
            response.headers()["x-accept-encoding"],
            "gzip, deflate, br, zstd"
        );
        // The headers stay as the server sent them.
        assert_ne!(response.headers()[header::CONTENT_ENCODING], "identity");
        let body = response.bytes().await.unwrap();
        assert!(body == text(), "{path}: {} bytes", body.len());
    }
    server.abort();
}

#[ciranda::test]
async fn a_large_body_arrives_in_bounded_chunks() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    for path in ["gzip", "br", "zstd"] {
        let mut chunks = Client::new()
            .get(format!("http://{addr}/{path}"))
            .await
            .unwrap()
            .chunks();
        let (mut got, mut count) = (Vec::new(), 0);
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.unwrap();
            assert!(!chunk.is_empty());
            got.extend_from_slice(&chunk);
            count += 1;
        }
        assert!(got == text(), "{path}");
        assert!(count > 1, "{path}: 1 MiB came in {count} chunk(s)");
    }
    server.abort();
}

#[ciranda::test]
async fn a_corrupt_or_cut_body_is_a_body_error() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    for path in [
        "corrupt",
        "cut",
        "br-corrupt",
        "br-cut",
        "zstd-corrupt",
        "zstd-cut",
    ] {
        let url = format!("http://{addr}/{path}");
        let err = client.get(&url).await.unwrap().bytes().await.unwrap_err();
        assert!(err.is_body(), "{path}: {err:?}");
        assert!(!err.is_timeout() && !err.is_connect());
        let message = err.to_string();
        assert!(message.contains(&url), "{message}");
        assert!(message.contains("decompress"), "{message}");
    }
    server.abort();
}

#[ciranda::test]
async fn bytes_after_the_compressed_data_are_ignored_up_to_64_kib() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    let client = Client::new();
    for coding in ["gzip", "zlib", "br"] {
        let padded = format!("http://{addr}/padded-{coding}");
        let body = client.get(&padded).await.unwrap().bytes().await.unwrap();
        assert!(body == text(), "{coding}: {} bytes", body.len());

        // A megabyte of them is not padding: the body is refused, not read to its end.
        let trailing = format!("http://{addr}/trailing-{coding}");
        let response = client.get(&trailing).await.unwrap();
        let err = response.bytes().await.unwrap_err();
        assert!(
            err.is_body() && !err.is_body_too_large(),
            "{coding}: {err:?}"
        );
        let message = err.to_string();
        assert!(message.contains(&trailing), "{message}");
        assert!(message.contains("decompress"), "{message}");
        assert!(
            message.contains("more than 64 KiB follow the end"),
            "{message}"
        );
    }
    server.abort();
}

#[ciranda::test]
async fn what_is_left_alone() {
    let (addr, server) = common::serve_route(|request, _| route(request)).await;
    // Switched off: nothing asked for, the bytes as sent.
    let raw = Client::builder().auto_decompress(false).build().unwrap();
    let response = raw.get(format!("http://{addr}/gzip")).await.unwrap();
    assert_eq!(response.headers()["x-accept-encoding"], "none");
    assert_eq!(response.bytes().await.unwrap(), compress("gzip", &text()));

    let client = Client::new();
    // A coding the client does not know.
    let lzw = client.get(format!("http://{addr}/compress")).await.unwrap();
    assert_eq!(lzw.bytes().await.unwrap(), "not really LZW");

    // The request's own Accept-Encoding is kept.
    let request = Request::get(format!("http://{addr}/plain"))
        .header(header::ACCEPT_ENCODING, "identity")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.headers()["x-accept-encoding"], "identity");
    assert_eq!(response.text().await.unwrap(), "plain");

    // An empty body labelled gzip (the answer to a HEAD) is empty, not an error.
    let head = Request::head(format!("http://{addr}/gzip"))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = client.request(head).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap(), "");
    server.abort();
}
