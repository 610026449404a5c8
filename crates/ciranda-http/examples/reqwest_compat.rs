//! Using a crate built for Tokio (here `reqwest`) from ciranda, through `async_compat`.
//!
//! ```sh
//! cargo run --release -p ciranda-http --example reqwest_compat            # its own local server
//! cargo run --release -p ciranda-http --example reqwest_compat -- URL     # any http:// URL
//! ```
//!
//! reqwest calls into Tokio's reactor and timers, which do not exist on a ciranda worker:
//! awaited directly, its first request panics with "there is no reactor running, must be
//! called from the context of a Tokio 1.x runtime". `async_compat::Compat` wraps the future
//! so that, while it is polled, a Tokio runtime is entered (one started lazily, with one
//! thread driving its reactor): reqwest finds what it needs, and ciranda still schedules the
//! task. Prints `STATUS BODY`.

use async_compat::Compat;

async fn fetch(url: &str) -> reqwest::Result<(u16, String)> {
    let response = reqwest::get(url).await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

#[ciranda::main]
async fn main() {
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            // A ciranda-http server to talk to, so the example runs offline.
            let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let url = format!("http://{}/", listener.local_addr().unwrap());
            let hello = hyper::service::service_fn(|_req| async {
                let body = http_body_util::Full::new(hyper::body::Bytes::from("Hello, world!"));
                Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
            });
            ciranda::spawn(ciranda_http::server::serve(listener, hello).into_future());
            url
        }
    };
    // The one line that matters: reqwest's future runs inside `Compat`.
    match Compat::new(fetch(&url)).await {
        Ok((status, body)) => println!("{status} {body}"),
        Err(e) => {
            eprintln!("reqwest_compat: {e}");
            std::process::exit(1);
        }
    }
}
