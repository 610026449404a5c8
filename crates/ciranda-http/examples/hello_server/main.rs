//! `hello_server`: the smallest useful ciranda-http server.
//!
//! ```sh
//! cargo run --release -p ciranda-http --example hello_server -- 127.0.0.1:8080
//! curl http://127.0.0.1:8080/                          # Hello, world!
//! curl --http2-prior-knowledge http://127.0.0.1:8080/  # the same over HTTP/2
//! curl --data-binary @file http://127.0.0.1:8080/echo  # the file back
//! ```
//!
//! ADDR defaults to `127.0.0.1:8080`; port 0 picks a free one. The first line printed is
//! `listening on http://HOST:PORT`. Ctrl+C stops accepting, lets requests in flight finish
//! (up to 10 s) and exits.

mod service;

use std::process::ExitCode;

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    ciranda::run(async move {
        let listener = match ciranda::net::TcpListener::bind(addr.as_str()).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("hello_server: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Registered before the first line is printed, so a Ctrl+C sent as soon as a script
        // sees that line is not missed.
        let ctrl_c = ciranda::signal::ctrl_c();
        let local = listener
            .local_addr()
            .expect("a bound listener has an address");
        println!("listening on http://{local}");
        let served =
            ciranda_http::server::serve(listener, hyper::service::service_fn(service::hello))
                .with_graceful_shutdown(async move {
                    if let Err(e) = ctrl_c.await {
                        eprintln!(
                            "hello_server: Ctrl+C handler failed ({e}); serving until killed"
                        );
                        std::future::pending::<()>().await;
                    }
                })
                .await;
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("hello_server: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
