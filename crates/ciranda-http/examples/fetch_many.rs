//! `fetch_many`: the seed's aiohttp program — many pages at once through one session, with
//! retries.
//!
//! ```sh
//! cargo run --release -p ciranda-http --example fetch_many -- https://www.rust-lang.org/ https://crates.io/
//! cargo run --release -p ciranda-http --example fetch_many   # offline: fetches from its own server
//! ```
//!
//! One task per URL (`gather`) through one `Client` (aiohttp's `ClientSession`); each URL is
//! tried up to 3 times with 1 s between tries, and a try fails on a connection error, a
//! timeout or a 5xx status. One line per URL, in input order: `URL STATUS BYTES` (the last
//! try's) or `URL error: ...`. The exit status is 0 even when a URL failed: reporting the
//! failure is the job.

use ciranda_http::{Client, Error};
use std::time::Duration;

const TRIES: usize = 3;
const PAUSE: Duration = Duration::from_secs(1);

/// What became of one URL.
enum Outcome {
    Fetched { status: u16, bytes: usize },
    Failed(Error),
}

/// One try: the status and the body's length, or why it failed.
async fn try_once(client: &Client, url: &str) -> Result<(u16, usize), Error> {
    let response = client.get(url).await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    Ok((status, body.len()))
}

/// Up to `TRIES` tries, `PAUSE` apart (aiohttp's `except ClientError: await asyncio.sleep(1)`).
async fn fetch(client: Client, url: String) -> Outcome {
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = match try_once(&client, &url).await {
            Ok((status, bytes)) => Outcome::Fetched { status, bytes },
            Err(e) => Outcome::Failed(e),
        };
        let retry = match &outcome {
            Outcome::Fetched { status, .. } => *status >= 500,
            Outcome::Failed(e) => e.is_connect() || e.is_timeout() || e.is_body(),
        };
        if !retry || tries == TRIES {
            return outcome;
        }
        ciranda::time::sleep(PAUSE).await;
    }
}

fn main() {
    let urls: Vec<String> = std::env::args().skip(1).collect();
    ciranda::run(async move {
        let (urls, _server) = if urls.is_empty() {
            let (urls, server) = local_server().await;
            eprintln!("no URLs given: fetching from a local server");
            (urls, Some(server))
        } else {
            (urls, None)
        };
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("the client configuration is valid");
        // asyncio.gather(*[fetch(url) for url in urls]): one task each, results in input order.
        let outcomes =
            ciranda::gather(urls.iter().map(|url| fetch(client.clone(), url.clone()))).await;
        for (url, outcome) in urls.iter().zip(outcomes) {
            match outcome {
                Outcome::Fetched { status, bytes } => println!("{url} {status} {bytes}"),
                Outcome::Failed(e) => {
                    // The error names the URL first; the line already starts with it.
                    let full = e.to_string();
                    let cause = full.strip_prefix(&format!("{url}: ")).unwrap_or(&full);
                    println!("{url} error: {cause}");
                }
            }
        }
    });
}

/// A server on a free loopback port whose paths show each outcome: `/` answers, `/flaky`
/// answers 503 twice and then 200, `/missing` is a 404; plus a port nobody listens on.
async fn local_server() -> (Vec<String>, ciranda::task::JoinHandle<std::io::Result<()>>) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("cannot listen on loopback");
    let base = format!("http://{}", listener.local_addr().unwrap());
    let refused = {
        let closed = ciranda::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        format!("http://{}/", closed.local_addr().unwrap())
    }; // dropped: connecting there is refused
    let flaky = Arc::new(AtomicUsize::new(0));
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let flaky = flaky.clone();
        async move {
            let (status, body) = match req.uri().path() {
                "/" => (200, "Hello, world!"),
                "/flaky" if flaky.fetch_add(1, Ordering::SeqCst) < 2 => (503, "busy, try again"),
                "/flaky" => (200, "finally"),
                _ => (404, "Not Found"),
            };
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let server = ciranda::spawn(ciranda_http::server::serve(listener, service).into_future());
    let urls = vec![
        format!("{base}/"),
        format!("{base}/flaky"),
        format!("{base}/missing"),
        refused,
    ];
    (urls, server)
}
