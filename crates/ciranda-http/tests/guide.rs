//! The Rust snippets of `docs/asyncio.md`'s chapters "aiohttp → ciranda-http" and "Using
//! crates built for Tokio", and of the README's ciranda-http example, compiled and run here.
//!
//! Those pages are compiled by the `ciranda-tests` crate, which does not depend on
//! ciranda-http, so there the snippets are marked `ignore`; `snippets_match_the_docs` checks
//! that every one of them appears here verbatim (up to indentation), so they cannot drift.
//! `main` functions are compiled, not run (they fetch from the Internet or serve until Ctrl+C);
//! the functions they call are run against a local server.

mod common;

use common::*;

#[allow(dead_code)]
mod fetch_one {
    use ciranda_http::{Client, Error};

    async fn fetch(client: &Client, url: &str) -> Result<String, Error> {
        let response = client.get(url).await?; // session.get(url)
        response.text().await // await response.text()
    }

    #[ciranda::main]
    async fn main() -> Result<(), Error> {
        let client = Client::new(); // aiohttp.ClientSession()
        let html = fetch(&client, "https://www.uol.com.br").await?;
        println!("{html}");
        Ok(())
    }

    pub async fn run(url: &str) -> Result<String, Error> {
        fetch(&Client::new(), url).await
    }
}

#[allow(dead_code)]
mod fetch_all {
    use ciranda_http::{Client, Error};

    async fn fetch(client: Client, url: String) -> Result<String, Error> {
        client.get(&url).await?.text().await
    }

    #[ciranda::main]
    async fn main() {
        let urls = [
            "https://www.uol.com.br",
            "https://www.globo.com",
            "https://www.terra.com.br",
        ];
        let client = Client::new(); // one session, its clones shared by every task
        let tasks = urls.map(|url| fetch(client.clone(), url.to_owned()));
        let pages = ciranda::gather(tasks).await; // one task each, results in input order
        for (url, page) in urls.iter().zip(pages) {
            match page {
                Ok(html) => println!("{url}: {} bytes", html.len()),
                Err(e) => println!("{e}"),
            }
        }
    }

    pub async fn run(urls: Vec<String>) -> Vec<Result<String, Error>> {
        let client = Client::new();
        ciranda::gather(urls.into_iter().map(|url| fetch(client.clone(), url))).await
    }
}

#[allow(dead_code)]
mod fetch_retry {
    use ciranda_http::Client;
    use std::time::Duration;

    async fn fetch(client: Client, url: String, max_tries: u32) -> Option<String> {
        for attempt in 1..=max_tries {
            match async { client.get(&url).await?.text().await }.await {
                Ok(html) => return Some(html),
                Err(e) if attempt < max_tries => {
                    eprintln!("{e}; trying again in 1 s");
                    ciranda::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => eprintln!("{e}; giving up"),
            }
        }
        None
    }

    pub async fn run(url: &str) -> Option<String> {
        fetch(Client::new(), url.to_owned(), 3).await
    }
}

#[allow(dead_code)]
mod web_server {
    use ciranda_http::server;
    use http_body_util::Full;
    use hyper::body::{Bytes, Incoming};
    use hyper::{Request, Response, StatusCode};
    use std::convert::Infallible;

    async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        let mut response = Response::new(Full::new(Bytes::from("Hello, world!")));
        if req.uri().path() != "/" {
            *response.status_mut() = StatusCode::NOT_FOUND;
        }
        Ok(response)
    }

    #[ciranda::main]
    async fn main() -> std::io::Result<()> {
        let listener = ciranda::net::TcpListener::bind("127.0.0.1:8080").await?;
        let service = hyper::service::service_fn(hello);
        server::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = ciranda::signal::ctrl_c().await;
            })
            .await
    }

    pub async fn spawn() -> String {
        let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service = hyper::service::service_fn(hello);
        ciranda::spawn(server::serve(listener, service).into_future());
        url
    }
}

#[allow(dead_code)]
mod tokio_compat {
    use async_compat::Compat;

    async fn fetch_with_reqwest(url: &str) -> reqwest::Result<String> {
        // Compat enters a Tokio runtime around every poll: reqwest finds its reactor.
        Compat::new(async { reqwest::get(url).await?.text().await }).await
    }

    pub async fn run(url: &str) -> reqwest::Result<String> {
        fetch_with_reqwest(url).await
    }
}

#[allow(dead_code)]
mod readme {
    use ciranda_http::{Client, Error};

    #[ciranda::main]
    async fn main() -> Result<(), Error> {
        let client = Client::new(); // aiohttp.ClientSession(): pooled, HTTP/1.1 + HTTP/2, rustls
        let urls = ["https://www.rust-lang.org/", "https://crates.io/"];
        let tasks = urls.map(|url| {
            let client = client.clone(); // clones share one connection pool
            async move { client.get(url).await?.text().await }
        });
        for (url, page) in urls.iter().zip(ciranda::gather(tasks).await) {
            println!("{url}: {} bytes", page?.len()); // asyncio.gather: input order
        }
        Ok(())
    }
}

#[ciranda::test]
async fn the_guides_programs_run() {
    let (addr, stop, server) = spawn_ciranda_server(Routes::new(1)).await;
    let base = format!("http://{addr}");
    assert_eq!(
        fetch_one::run(&format!("{base}/")).await.unwrap(),
        "Hello, world!"
    );
    let pages = fetch_all::run(vec![
        format!("{base}/"),
        format!("{base}/missing"),
        "ftp://x/".into(),
    ])
    .await;
    assert_eq!(pages[0].as_deref().unwrap(), "Hello, world!");
    assert_eq!(pages[1].as_deref().unwrap(), "Not Found");
    assert!(pages[2].as_ref().unwrap_err().is_invalid_url());
    assert_eq!(
        fetch_retry::run(&format!("{base}/")).await.as_deref(),
        Some("Hello, world!")
    );
    assert_eq!(
        tokio_compat::run(&format!("{base}/")).await.unwrap(),
        "Hello, world!"
    );

    let hello = web_server::spawn().await;
    let client = ciranda_http::Client::new();
    assert_eq!(
        client
            .get(format!("{hello}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Hello, world!"
    );
    assert_eq!(
        client.get(format!("{hello}/x")).await.unwrap().status(),
        404
    );
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test(start_paused = true)]
async fn the_retrying_fetch_gives_up_after_three_tries() {
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener); // refused
    let start = ciranda::time::Instant::now();
    assert_eq!(fetch_retry::run(&url).await, None);
    // Two pauses of 1 s between three tries (virtual time).
    assert_eq!(start.elapsed().as_secs(), 2);
}

/// Lines without their indentation, blank lines dropped.
fn normalise(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The bodies of the ```` ```rust,ignore ```` blocks of `text`.
fn ignored_rust_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match &mut current {
            None if line.trim() == "```rust,ignore" => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

#[test]
fn snippets_match_the_docs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let this = normalise(
        &std::fs::read_to_string(root.join("crates/ciranda-http/tests/guide.rs")).unwrap(),
    );
    let guide = std::fs::read_to_string(root.join("docs/asyncio.md")).unwrap();
    let start = guide
        .find("\n## aiohttp → ciranda-http")
        .expect("the aiohttp chapter");
    let end = guide[start..]
        .find("\n## Pitfalls")
        .map_or(guide.len(), |e| start + e);
    let chapter_blocks = ignored_rust_blocks(&guide[start..end]);
    assert_eq!(
        chapter_blocks.len(),
        5,
        "the chapters have five Rust snippets"
    );
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let readme_blocks: Vec<String> = ignored_rust_blocks(&readme)
        .into_iter()
        .filter(|b| b.contains("ciranda_http"))
        .collect();
    assert_eq!(readme_blocks.len(), 1);
    for block in chapter_blocks.iter().chain(&readme_blocks) {
        assert!(
            this.contains(&normalise(block)),
            "this snippet of the docs is not in tests/guide.rs:\n{block}"
        );
    }
}
