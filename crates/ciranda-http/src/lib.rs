//! # ciranda-http — HTTP client and server on ciranda (aiohttp → ciranda)
//!
//! hyper 1.x and rustls on ciranda's runtime: a pooled [`Client`] (`aiohttp.ClientSession`),
//! a [`server::serve`] function (`aiohttp.web`), and the runtime glue in [`rt`] for using
//! hyper directly.
//!
//! | aiohttp | ciranda-http |
//! |---|---|
//! | `aiohttp.ClientSession()` | [`Client::new`], [`Client::builder`] |
//! | `session.get(url)` / `session.post(url, data=)` | [`Client::get`], [`Client::post`], [`Client::request`] |
//! | `response.status`, `.headers`, `.text()`, `.read()` | [`Response::status`], [`Response::headers`], [`Response::text`], [`Response::bytes`], [`Response::chunks`] |
//! | `response.text(encoding=...)` | [`Response::text_with`] |
//! | `proxy=`, `trust_env=True` | [`ClientBuilder::proxy`], [`ClientBuilder::no_proxy`], [`ClientBuilder::trust_env`] |
//! | `session.cookie_jar` | on by default; [`ClientBuilder::cookie_jar`], [`Client::cookies`], [`Client::clear_cookies`], [`Client::save_cookies`], [`Client::load_cookies`] |
//! | `auto_decompress` (gzip, deflate, br, zstd) | on by default; [`ClientBuilder::auto_decompress`] |
//! | `allow_redirects`, `max_redirects`, `response.url` | followed by default; [`ClientBuilder::max_redirects`], [`Response::url`] |
//! | one request's `allow_redirects=`, `timeout=`, `auto_decompress=`, `proxy=` | [`Client::get_with`], [`Client::post_with`] with [`RequestOptions`] (or it in a request's extensions) |
//! | `aiohttp.ClientError` | [`Error`] |
//! | `aiohttp.web` | [`server::serve`] |
//! | `request.remote` | [`server::serve_with_remote`] (the service is made per connection from its [`server::RemoteAddr`]) |
//!
//! ```
//! use ciranda_http::{Body, Client, server};
//! use http_body_util::Full;
//! use hyper::body::Bytes;
//! use hyper::service::service_fn;
//!
//! ciranda::run(async {
//!     // A server on a free port...
//!     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let url = format!("http://{}/", listener.local_addr().unwrap());
//!     let service = service_fn(|_req| async {
//!         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("Hello, world!"))))
//!     });
//!     ciranda::spawn(server::serve(listener, service).into_future());
//!
//!     // ...and a client.
//!     let client = Client::new();
//!     let response = client.get(&url).await.unwrap();
//!     assert_eq!(response.status(), 200);
//!     assert_eq!(response.text().await.unwrap(), "Hello, world!");
//!     # let _ = Body::empty();
//! });
//! ```

#![deny(unsafe_op_in_unsafe_fn)]

mod abandon;
mod body;
mod charset;
mod client;
mod connect;
mod cookie_limits;
mod cookies;
mod decode;
mod error;
mod in_use;
mod limit;
mod no_proxy;
mod options;
mod proxy;
mod recent;
mod redirect;
mod resend;
mod response;
pub mod rt;
pub mod server;
mod socks;
mod userinfo;

pub use body::Body;
pub use client::{Client, ClientBuilder};
pub use error::Error;
pub use options::RequestOptions;
pub use response::{Chunks, Response};

/// The rustls version this crate is built with, for the [`server::Serve::tls`] configuration
/// (and anything else that must match it).
pub use rustls;
