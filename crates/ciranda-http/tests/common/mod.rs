//! Shared pieces of the integration tests: one service that every server (ours, and hyper on
//! Tokio) runs, the servers themselves, and a 10 MiB payload made and checked on the fly.
#![allow(dead_code)] // each test file uses a different subset

use bytes::Bytes;
use ciranda_http::server::RemoteAddr;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub type TestBody = BoxBody<Bytes, BoxError>;

/// 10 MiB, sent in 64 KiB chunks.
pub const BIG: usize = 10 * 1024 * 1024;
pub const CHUNK: usize = 64 * 1024;

pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Payload chunks made as they are asked for: the whole body never exists at once.
pub fn big_stream() -> impl futures_core::Stream<Item = Result<Bytes, Infallible>> + Send + 'static
{
    futures_util::stream::iter((0..BIG).step_by(CHUNK)).map(|start| {
        let end = (start + CHUNK).min(BIG);
        Ok(Bytes::from((start..end).map(pattern).collect::<Vec<u8>>()))
    })
}

/// Checks chunks against [`pattern`] as they arrive; returns how many bytes there were.
#[derive(Default)]
pub struct Checker {
    pub seen: usize,
}

impl Checker {
    pub fn check(&mut self, chunk: &[u8]) {
        for (k, b) in chunk.iter().enumerate() {
            assert_eq!(*b, pattern(self.seen + k), "byte {} differs", self.seen + k);
        }
        self.seen += chunk.len();
    }
}

fn full(s: impl Into<Bytes>) -> TestBody {
    Full::new(s.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

/// The routes every test server serves:
/// `GET /` hello, `POST /echo` the body streamed back, `GET /chunked` five chunks (no
/// length), `GET /wait` answers once `barrier` is full, `GET /peer` the client's address,
/// `GET /flaky` 503 until it has been asked `flaky_failures` times, then 200.
#[derive(Clone)]
pub struct Routes {
    pub barrier: Arc<ciranda::sync::Barrier>,
    pub flaky: Arc<std::sync::atomic::AtomicUsize>,
    pub flaky_failures: usize,
}

impl Routes {
    pub fn new(barrier_parties: usize) -> Routes {
        Routes {
            barrier: Arc::new(ciranda::sync::Barrier::new(barrier_parties)),
            flaky: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            flaky_failures: 2,
        }
    }

    /// For `serve_with_remote`: each connection's service.
    pub fn make_service(self) -> impl Fn(RemoteAddr) -> RoutesFor + Send + 'static {
        move |remote| RoutesFor {
            routes: self.clone(),
            remote,
        }
    }

    pub async fn handle(self, req: Request<Incoming>) -> Result<Response<TestBody>, Infallible> {
        let peer = req
            .extensions()
            .get::<RemoteAddr>()
            .map(|r| r.0.to_string());
        Ok(match (req.method(), req.uri().path()) {
            (&Method::GET, "/") => Response::new(full("Hello, world!")),
            (&Method::POST, "/echo") => {
                Response::new(req.into_body().map_err(BoxError::from).boxed())
            }
            (&Method::GET, "/chunked") => {
                let chunks = futures_util::stream::iter(0..5).then(|i| async move {
                    // A pause between chunks so they really leave one by one.
                    std::thread::yield_now();
                    Ok::<_, BoxError>(Frame::data(Bytes::from(format!("chunk-{i}\n"))))
                });
                Response::new(BodyExt::boxed(StreamBody::new(chunks)))
            }
            (&Method::GET, "/wait") => {
                self.barrier.wait().await;
                Response::new(full("ok"))
            }
            (&Method::GET, "/peer") => Response::new(full(peer.unwrap_or_else(|| "?".into()))),
            (&Method::GET, "/flaky") => {
                let n = self.flaky.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut r = Response::new(full(if n < self.flaky_failures {
                    "busy"
                } else {
                    "finally"
                }));
                if n < self.flaky_failures {
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                }
                r
            }
            _ => {
                let mut r = Response::new(full("Not Found"));
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        })
    }
}

type BoxedResponse = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<TestBody>, Infallible>> + Send>,
>;

/// `Routes` on one connection: the peer's address goes in every request's extensions (where
/// the Tokio and TLS servers below put it too).
pub struct RoutesFor {
    routes: Routes,
    remote: RemoteAddr,
}

impl hyper::service::Service<Request<Incoming>> for RoutesFor {
    type Response = Response<TestBody>;
    type Error = Infallible;
    type Future = BoxedResponse;

    fn call(&self, mut req: Request<Incoming>) -> BoxedResponse {
        req.extensions_mut().insert(self.remote);
        Box::pin(self.routes.clone().handle(req))
    }
}

/// Our server, serving `routes` on a free loopback port until `stop` is set.
pub async fn spawn_ciranda_server(
    routes: Routes,
) -> (
    SocketAddr,
    Arc<ciranda::sync::Event>,
    ciranda::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(ciranda::sync::Event::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let server = ciranda::spawn(
        ciranda_http::server::serve_with_remote(listener, routes.make_service())
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    (addr, stop, server)
}

/// hyper used directly on Tokio (hyper-util's `TokioIo`/`TokioExecutor`, HTTP/1.1 and HTTP/2
/// through the auto builder), on a thread of its own. Counts accepted connections.
pub struct TokioServer {
    pub addr: SocketAddr,
    pub accepted: Arc<std::sync::atomic::AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TokioServer {
    pub fn start(routes: Routes) -> TokioServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let count = accepted.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let (stream, peer) = tokio::select! {
                        r = listener.accept() => r.unwrap(),
                        _ = &mut rx => break,
                    };
                    count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let routes = routes.clone();
                    tokio::spawn(async move {
                        let service =
                            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                                req.extensions_mut().insert(RemoteAddr(peer));
                                routes.clone().handle(req)
                            });
                        let _ = hyper_util::server::conn::auto::Builder::new(
                            hyper_util::rt::TokioExecutor::new(),
                        )
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                    });
                }
            });
        });
        TokioServer {
            addr,
            accepted,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for TokioServer {
    fn drop(&mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        // The runtime is dropped with the thread: connection tasks are cancelled.
        let _ = self.thread.take().unwrap().join();
    }
}

/// A Tokio runtime for driving hyper's own client in the tests.
pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A self-signed certificate for `localhost` made now, and its private key.
pub struct TestCert {
    pub cert_der: Vec<u8>,
    pub cert_pem: String,
    pub key_der: Vec<u8>,
}

pub fn make_cert() -> TestCert {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    TestCert {
        cert_der: certified.cert.der().to_vec(),
        cert_pem: certified.cert.pem(),
        key_der: certified.key_pair.serialize_der(),
    }
}

/// A server TLS configuration presenting `cert`, offering the ALPN protocols `alpn` (none:
/// the server's own choice).
pub fn tls_server_config(cert: &TestCert, alpn: &[&[u8]]) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![rustls_pki_types::CertificateDer::from(
                cert.cert_der.clone(),
            )],
            rustls_pki_types::PrivateKeyDer::Pkcs8(cert.key_der.clone().into()),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A client TLS configuration that trusts `cert` alone, for a raw TLS client (not
/// `ciranda_http::Client`) talking to a server that presents it.
pub fn tls_client_config(cert: &TestCert) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from(
            cert.cert_der.clone(),
        ))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// An HTTPS server built from the `rt` pieces by hand: ciranda's `TcpListener`, rustls
/// through `futures-rustls`, and hyper-util's auto builder over `CirandaIo`. `alpn` lists
/// the protocols it offers.
pub async fn spawn_tls_server(routes: Routes, cert: &TestCert, alpn: &[&[u8]]) -> SocketAddr {
    use ciranda_http::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
    let config = tls_server_config(cert, alpn);
    let acceptor = futures_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    ciranda::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let routes = routes.clone();
            ciranda::spawn(async move {
                // A failed handshake (say, a client that does not trust us) ends just this one.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(RemoteAddr(peer));
                    routes.clone().handle(req)
                });
                let mut builder =
                    hyper_util::server::conn::auto::Builder::new(CirandaExecutor::new());
                builder.http1().timer(CirandaTimer::new());
                let _ = builder.serve_connection(CirandaIo::new(tls), service).await;
            });
        }
    });
    addr
}

/// Serves `route(request, port)` — a plain route function, given the server's own port —
/// with ciranda-http's `serve` on a free loopback port; returns the address and the server's
/// task, which the test aborts when it is done.
pub async fn serve_route<F, Fut>(
    route: F,
) -> (SocketAddr, ciranda::task::JoinHandle<std::io::Result<()>>)
where
    F: Fn(Request<Incoming>, u16) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port();
    let service = hyper::service::service_fn(move |request| route(request, port));
    let task = ciranda::spawn(ciranda_http::server::serve(listener, service).into_future());
    (addr, task)
}

/// Reads from `stream` until what it has read ends with `end` (a whole response whose body
/// ends so); panics if the peer closes first. Returns everything read.
pub async fn read_until_ends_with(stream: &mut ciranda::net::TcpStream, end: &[u8]) -> Vec<u8> {
    use ciranda::io::AsyncReadExt;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(end) {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before answering: {answer:?}");
        answer.extend_from_slice(&buf[..n]);
    }
    answer
}

/// A server of raw bytes: for each connection it reads the request head (up to its blank
/// line), writes `answer(head)` and closes the connection. A connection that closes or fails
/// before its head is complete is dropped; a failed write is ignored (the client may have
/// given up). For answers hyper would not write: wrong lengths, odd headers, bombs.
pub async fn serve_raw_heads<F>(answer: F) -> SocketAddr
where
    F: Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
{
    use ciranda::io::{AsyncReadExt, AsyncWriteExt};
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    ciranda::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let answer = answer.clone();
            ciranda::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(&answer(&head)).await;
            });
        }
    });
    addr
}

/// The request target (path and query) of a raw request head.
pub fn target_of(head: &[u8]) -> &str {
    std::str::from_utf8(head)
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
}

/// An HTTP/2 (prior knowledge) connection to `addr` with hyper's client on ciranda; the task
/// driving it is detached.
pub async fn h2_sender(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let stream = ciranda::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http2::Builder::new(ciranda_http::rt::CirandaExecutor::new())
            .timer(ciranda_http::rt::CirandaTimer::new())
            .handshake(ciranda_http::rt::CirandaIo::new(stream))
            .await
            .unwrap();
    drop(ciranda::spawn(conn));
    sender
}
