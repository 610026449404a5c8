//! `serve`: an HTTP/1.1 + HTTP/2 server on a ciranda `TcpListener` (`aiohttp.web`).
//!
//! One task per connection. Each connection goes through these states:
//!
//! | state | leaves when | to |
//! |---|---|---|
//! | handshaking (only with [`Serve::tls`]) | the TLS handshake completes; or fails, or `header_read_timeout` or `idle_timeout` passes, or shutdown starts | detecting; closed |
//! | detecting (HTTP/1.1 or the HTTP/2 preface) | the first bytes tell; or `header_read_timeout` passes | serving; closed |
//! | serving | the peer closes; or shutdown starts; or no request has been in flight for `idle_timeout`; or the peer has taken none of what waits for it for `send_timeout` | closed; draining; closing idle; closed |
//! | closing idle (`graceful_shutdown`: HTTP/2 sends GOAWAY; finish requests in flight, accept no new ones) | the connection ends; or shutdown starts; or `idle_timeout` passes again with no request in flight, or `send_timeout` with the peer taking nothing | closed; draining; closed |
//! | draining (`graceful_shutdown`: finish requests in flight, accept no new ones) | the last response is sent; or `shutdown_timeout` passes | closed; cancelled |
//!
//! Until the first request head has arrived on a connection (its service is called) or the
//! server first writes on it (its HTTP/2 settings), reads on it fail once
//! `header_read_timeout` has passed since it was accepted, or once a graceful shutdown has
//! started (such a client has no request in flight to wait for): hyper's own header-read
//! timeout only starts once HTTP/1.1 has been detected, and a client that sends nothing at
//! all must not hold a task forever. After that, hyper's header-read timeout bounds each later
//! request head (and idle keep-alive connections); a request body is never bounded by it
//! (a handler bounds its reads with [`BodyTimeout`]).
//!
//! A request is in flight from the moment hyper calls the service until its response body
//! has been sent whole or dropped. A connection with none in flight for `idle_timeout`
//! (HTTP/2 above all, which hyper never times out; HTTP/1.1 too, whose idle keep-alive
//! connections hyper's header-read timeout usually closes first) is shut down gracefully,
//! and dropped if it is still open, with still nothing in flight, `idle_timeout` later (a
//! peer that never answers the PING of HTTP/2's graceful GOAWAY). The connection's service
//! counts its requests and notes when the last one ended; one sleep per connection checks
//! that count when it fires and is re-armed for the next deadline, so no timer is made or
//! moved per request.
//!
//! The send timeout (nginx's `send_timeout`) bounds the time the peer takes none of what
//! waits for it: a response body that handed hyper a frame and has not been asked for the
//! next one (hyper asks once it can write on), or a write the socket does not accept. The
//! bodies and the stream count those waits, and the waits that ended, in one atomic; over
//! HTTP/2 the stream also counts its writes of responses' frames (a frame larger than the
//! peer's window goes out a window at a time, with no body asked and no write blocked); a
//! second sleep per connection, armed only while a request is in flight or a wait is under
//! way, drops the connection when a look finds a wait and both counts unchanged since the
//! look one `send_timeout` before. A body slow to make its frames is asked and pending, so
//! it waits for its handler, not for the peer, and is never cut.

mod armed_sleep;
mod body_timeout;
mod head_timer;
mod traffic;

use armed_sleep::ArmedSleep;
pub use body_timeout::BodyTimeout;
use traffic::Traffic;

use crate::error::BoxError;
use crate::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::sync::{Event, Notify};
use ciranda::time::{Instant, Sleep};
use futures_rustls::TlsAcceptor;
use futures_rustls::server::TlsStream;
use futures_util::future::{Either, select};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::server::conn::auto;
use std::fmt;
use std::future::{Future, IntoFuture, Pending, pending, poll_fn};
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

/// Serves `service` on every connection `listener` accepts, HTTP/1.1 and HTTP/2 (prior
/// knowledge or `h2c` preface) on the same port, one task per connection.
///
/// `service` is a hyper [`Service`](hyper::service::Service), usually
/// [`hyper::service::service_fn`]; it is cloned for each connection. The returned [`Serve`]
/// is configured with [`with_graceful_shutdown`](Serve::with_graceful_shutdown),
/// [`shutdown_timeout`](Serve::shutdown_timeout),
/// [`header_read_timeout`](Serve::header_read_timeout),
/// [`idle_timeout`](Serve::idle_timeout), [`send_timeout`](Serve::send_timeout),
/// [`tls`](Serve::tls) and [`http2_receive_windows`](Serve::http2_receive_windows), then
/// awaited: it runs until the shutdown signal completes (forever without one).
///
/// Requests reach `service` as hyper parsed them, with nothing added; a service that needs the
/// peer's address is made per connection with [`serve_with_remote`].
///
/// A malformed request is answered `400 Bad Request` by hyper and its connection closed; a
/// failing connection never affects the others or the server.
///
/// # Examples
///
/// ```
/// use ciranda_http::server;
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use hyper::service::service_fn;
/// use std::convert::Infallible;
///
/// ciranda::run(async {
///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let url = format!("http://{}/", listener.local_addr().unwrap());
///     let service = service_fn(|_req| async {
///         Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("Hello, world!"))))
///     });
///     let stop = std::sync::Arc::new(ciranda::sync::Event::new());
///     let signal = {
///         let stop = stop.clone();
///         async move { stop.wait().await }
///     };
///     let server = ciranda::spawn(server::serve(listener, service).with_graceful_shutdown(signal).into_future());
///
///     let body = ciranda_http::Client::new().get(&url).await.unwrap().text().await.unwrap();
///     assert_eq!(body, "Hello, world!");
///     stop.set();
///     server.await.unwrap().unwrap();
/// });
/// ```
pub fn serve<S, B>(listener: TcpListener, service: S) -> Serve<S, Pending<()>>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    serve_with_remote(listener, move |_: RemoteAddr| service.clone())
}

/// Like [`serve`], but the service is made for each connection by `make_service`, which is
/// given the peer's address (`request.remote` in aiohttp).
///
/// `make_service` runs once per accepted connection, before its first request; every request
/// on that connection goes to the service it returned. Capturing the address in the service
/// costs nothing per request, where putting it in each request's extensions would allocate
/// for every request.
///
/// # Examples
///
/// ```
/// use ciranda_http::server::{self, RemoteAddr};
/// use http_body_util::Full;
/// use hyper::body::Bytes;
/// use hyper::service::service_fn;
/// use std::convert::Infallible;
///
/// ciranda::run(async {
///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let url = format!("http://{}/", listener.local_addr().unwrap());
///     let make_service = |RemoteAddr(peer)| {
///         service_fn(move |_req| async move {
///             Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(peer.to_string()))))
///         })
///     };
///     let server = ciranda::spawn(server::serve_with_remote(listener, make_service).into_future());
///
///     let body = ciranda_http::Client::new().get(&url).await.unwrap().text().await.unwrap();
///     assert!(body.starts_with("127.0.0.1:"), "{body}");
///     server.abort();
/// });
/// ```
pub fn serve_with_remote<M, S, B>(listener: TcpListener, make_service: M) -> Serve<S, Pending<()>>
where
    M: Fn(RemoteAddr) -> S + Send + 'static,
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Serve {
        listener,
        make_service: Box::new(make_service),
        signal: pending(),
        shutdown_timeout: Duration::from_secs(10),
        header_read_timeout: Some(Duration::from_secs(30)),
        idle_timeout: Some(Duration::from_secs(75)),
        send_timeout: Some(Duration::from_secs(60)),
        tls: None,
        http2_windows: (DEFAULT_HTTP2_STREAM_WINDOW, DEFAULT_HTTP2_CONNECTION_WINDOW),
    }
}

/// A server being configured; `.await` it (it implements [`IntoFuture`]) to run it.
///
/// Made by [`serve`] or [`serve_with_remote`].
///
/// Dropping the running server's future (aborting its task, say) stops it as a graceful
/// shutdown does, without waiting: the listener closes, idle connections are closed, requests
/// in flight may finish within [`shutdown_timeout`](Serve::shutdown_timeout) (from the drop),
/// then what is left is dropped. A graceful shutdown under way when the future is dropped
/// goes on the same way.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// # use http_body_util::Full;
/// # use hyper::body::Bytes;
///
/// ciranda::run(async {
///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let service = hyper::service::service_fn(|_req| async {
///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
///     });
///     // Shut down at once: the server stops accepting and returns.
///     ciranda_http::server::serve(listener, service)
///         .header_read_timeout(Duration::from_secs(5))
///         .shutdown_timeout(Duration::from_secs(1))
///         .with_graceful_shutdown(async {})
///         .await
///         .unwrap();
/// });
/// ```
pub struct Serve<S, F> {
    listener: TcpListener,
    /// Makes each connection's service from its peer's address.
    make_service: Box<dyn Fn(RemoteAddr) -> S + Send>,
    signal: F,
    shutdown_timeout: Duration,
    header_read_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    send_timeout: Option<Duration>,
    tls: Option<Arc<rustls::ServerConfig>>,
    /// HTTP/2 receive windows: each stream's, the connection's.
    http2_windows: (u32, u32),
}

impl<S, F> fmt::Debug for Serve<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("send_timeout", &self.send_timeout)
            .field("tls", &self.tls.is_some())
            .field("http2_windows", &self.http2_windows)
            .finish_non_exhaustive()
    }
}

impl<S, F> Serve<S, F> {
    /// Shuts the server down gracefully when `signal` completes (say
    /// [`ciranda::signal::ctrl_c`]): stop accepting (new connections are refused), let the
    /// requests in flight finish within [`shutdown_timeout`](Serve::shutdown_timeout), cancel
    /// what is left, and return once the handlers of its connections have been dropped, those
    /// it cancelled and those whose client went away (over HTTP/2 each runs in a task of its
    /// own, given up to 5 s more to be dropped).
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<S, G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            listener: self.listener,
            make_service: self.make_service,
            signal,
            shutdown_timeout: self.shutdown_timeout,
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            send_timeout: self.send_timeout,
            tls: self.tls,
            http2_windows: self.http2_windows,
        }
    }

    /// How long a graceful shutdown waits for requests in flight (default 10 s) before it
    /// cancels their connections.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How long a client may take to send a request head (default 30 s; `None` waits
    /// forever). A connection whose client is slower is closed.
    pub fn header_read_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.header_read_timeout = timeout.into();
        self
    }

    /// How long a connection may have no request in flight before it is closed (default
    /// 75 s, nginx's `keepalive_timeout`; `None` keeps it until the peer closes it or the
    /// server shuts down).
    ///
    /// A request is in flight from the moment its head has been read until its response body
    /// has been sent whole (or dropped): a slow request body or a long streaming response
    /// never counts as idle. A request's bytes that arrive after its response was sent (a
    /// handler that answers at once and reads the upload on), and a response's bytes still
    /// being written after hyper took its last frame (a large body in one frame to a slow
    /// reader), keep the connection busy too: over HTTP/1.1 any bytes, over HTTP/2 the frames
    /// of requests and responses (a client that sends nothing but keep-alive PINGs is idle).
    /// An idle connection is closed gracefully: HTTP/2 sends GOAWAY, so a client opens a new
    /// connection for its next request, and a request that crosses the GOAWAY is still
    /// served. One still open `idle_timeout` after that, with still nothing in flight (a peer
    /// that never answers), is dropped. The time counts from the end of the last request (or
    /// its last bytes), or from the accept before the first. A request in flight is never cut
    /// by it, whatever its length: with zero, a connection is closed as soon as it has none
    /// in flight (a new one at once, unless its first request head has already arrived).
    ///
    /// Hyper has no idle timeout of its own for HTTP/2, and `serve` sends no keep-alive
    /// pings: without this, a client that opens HTTP/2 connections and then sends nothing
    /// holds a task and its buffers per connection until the server shuts down. An idle
    /// HTTP/1.1 keep-alive connection is closed by whichever of this and
    /// [`header_read_timeout`](Serve::header_read_timeout) (30 s by default) passes first.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # use http_body_util::Full;
    /// # use hyper::body::Bytes;
    ///
    /// ciranda::run(async {
    ///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let service = hyper::service::service_fn(|_req| async {
    ///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
    ///     });
    ///     let server = ciranda_http::server::serve(listener, service)
    ///         // Close connections after 20 s without a request in flight.
    ///         .idle_timeout(Duration::from_secs(20));
    ///     // Or keep idle connections as long as their clients do:
    ///     let server = server.idle_timeout(None);
    ///     server.with_graceful_shutdown(async {}).await.unwrap();
    /// });
    /// ```
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.idle_timeout = timeout.into();
        self
    }

    /// How long a client may take none of a response's data before its connection is
    /// dropped (default 60 s, nginx's `send_timeout`; `None` waits for it forever).
    ///
    /// As nginx's, it bounds the time between two successive transfers to the client, not
    /// the whole response: a download of any size to a client that keeps reading is never
    /// cut. It counts only while the connection has something to send that the client is not
    /// taking: a response whose last frame hyper has not written on (HTTP/1.1: its write
    /// buffer has not drained into the socket; HTTP/2: the client gives the stream no
    /// flow-control window), or bytes the socket does not accept. A response body that is
    /// slow to produce its frames (server-sent events every five minutes) is not the
    /// client's doing and is never cut, nor is a connection waiting for its handler.
    ///
    /// The connection is dropped, not closed gracefully: its peer is not reading. The
    /// progress of all of a connection's responses is counted together: an HTTP/2 client
    /// that takes data on one stream keeps a stalled stream beside it alive.
    ///
    /// A stall is noticed between `send_timeout` and twice `send_timeout` after the last
    /// data the client took: one timer per connection, armed only while a request is in
    /// flight or a write is waiting, looks for progress once per `send_timeout`, so no clock
    /// is read and no timer set per request or per frame. A timeout shorter than a
    /// millisecond counts as one millisecond (zero, then, drops a connection whose peer
    /// takes nothing for a millisecond).
    ///
    /// Without it, a client that asks for a long streamed response (a large download built
    /// from a stream) and stops reading holds its connection's task, descriptor and buffers
    /// until the server shuts down: [`idle_timeout`](Serve::idle_timeout) never runs while a
    /// request is in flight. (A response's last bytes, left unwritten after hyper dropped
    /// its body, are bounded by the idle timeout too.)
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// # use http_body_util::Full;
    /// # use hyper::body::Bytes;
    ///
    /// ciranda::run(async {
    ///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let service = hyper::service::service_fn(|_req| async {
    ///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
    ///     });
    ///     let server = ciranda_http::server::serve(listener, service)
    ///         // Drop connections whose client takes no response data for 20 s.
    ///         .send_timeout(Duration::from_secs(20));
    ///     // Or wait for slow readers as long as they stay connected:
    ///     let server = server.send_timeout(None);
    ///     server.with_graceful_shutdown(async {}).await.unwrap();
    /// });
    /// ```
    pub fn send_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Self {
        self.send_timeout = timeout.into();
        self
    }

    /// Serves HTTPS (aiohttp's `ssl_context`, asyncio's `start_server(ssl=)`): every
    /// connection starts with a TLS handshake under `config`, which holds the certificate
    /// chain and key. HTTP/2 and HTTP/1.1 are offered through ALPN unless `config` lists its
    /// own `alpn_protocols`.
    ///
    /// The handshake counts against [`header_read_timeout`](Serve::header_read_timeout): a
    /// client must finish it and send its first request head within that time. It counts
    /// against [`idle_timeout`](Serve::idle_timeout) too (a connection has no request in
    /// flight before its handshake ends), which bounds it when there is no header-read
    /// timeout. A failed handshake (a client that does not trust the certificate, or speaks
    /// plain HTTP) closes that connection only.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda_http::rustls;
    /// use http_body_util::Full;
    /// use hyper::body::Bytes;
    /// use std::sync::Arc;
    ///
    /// // A self-signed certificate for "localhost" (use your own in production).
    /// let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    /// let cert = certified.cert.der().clone();
    /// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let config = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()
    ///     .unwrap()
    ///     .with_no_client_auth()
    ///     .with_single_cert(vec![cert.clone()], key)
    ///     .unwrap();
    ///
    /// ciranda::run(async move {
    ///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let url = format!("https://localhost:{}/", listener.local_addr().unwrap().port());
    ///     let service = hyper::service::service_fn(|_req| async {
    ///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("secret"))))
    ///     });
    ///     let server = ciranda_http::server::serve(listener, service).tls(Arc::new(config));
    ///     let server = ciranda::spawn(server.into_future());
    ///
    ///     let client = ciranda_http::Client::builder().add_root_certificate(&cert).build().unwrap();
    ///     let response = client.get(&url).await.unwrap();
    ///     assert_eq!(response.version(), http::Version::HTTP_2); // chosen through ALPN
    ///     assert_eq!(response.text().await.unwrap(), "secret");
    ///     server.abort();
    /// });
    /// ```
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The HTTP/2 flow-control windows for what clients send (request bodies): how many
    /// bytes one stream may have sent that its handler has not read yet (`stream`, default
    /// 256 KiB), and how many all the streams of one connection may have together
    /// (`connection`, default 2 MiB). Values above 2³¹ − 1, HTTP/2's largest window, are
    /// lowered to it; values below 65 535, the window every HTTP/2 connection starts with,
    /// are raised to it (a stream window of 0 would stall every upload for good, and a
    /// connection window cannot start below it).
    ///
    /// An upload whose handler does not read it (yet: the handler waits for a permit, a lock,
    /// a slow check; or an echo whose client stopped reading the response, which hyper's
    /// and reqwest's clients do when they drop a response mid-upload and go on sending) holds
    /// a whole stream window on its connection until it is read. The connection window must
    /// leave room beside it, or every other upload on that connection stalls: with the
    /// defaults, seven such uploads still leave a full stream window to an eighth. (hyper's
    /// own defaults, 1 MiB for both, let one unread upload stall the connection.)
    ///
    /// A larger stream window lets one upload go faster over a long round trip (it sends
    /// at most a window per round trip: 256 KiB is 26 MB/s at 10 ms, 2.6 MB/s at 100 ms); a
    /// larger connection window lets a connection's unread uploads take more memory (at
    /// most `connection` bytes per connection). HTTP/1.1 is not affected: its uploads are
    /// paced by TCP, one at a time.
    ///
    /// # Examples
    ///
    /// ```
    /// # use http_body_util::Full;
    /// # use hyper::body::Bytes;
    /// ciranda::run(async {
    ///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let service = hyper::service::service_fn(|_req| async {
    ///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
    ///     });
    ///     // Large uploads over long round trips: 1 MiB per stream, 16 MiB per connection.
    ///     ciranda_http::server::serve(listener, service)
    ///         .http2_receive_windows(1 << 20, 16 << 20)
    ///         .with_graceful_shutdown(async {})
    ///         .await
    ///         .unwrap();
    /// });
    /// ```
    pub fn http2_receive_windows(mut self, stream: u32, connection: u32) -> Self {
        self.http2_windows = (
            stream.clamp(MIN_HTTP2_WINDOW, MAX_HTTP2_WINDOW),
            connection.clamp(MIN_HTTP2_WINDOW, MAX_HTTP2_WINDOW),
        );
        self
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

impl<S, B, F> IntoFuture for Serve<S, F>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S, B, F> Serve<S, F>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    async fn run(self) -> io::Result<()> {
        let Serve {
            listener,
            make_service,
            signal,
            shutdown_timeout,
            header_read_timeout,
            idle_timeout,
            send_timeout,
            tls,
            http2_windows: (stream_window, connection_window),
        } = self;
        let timeouts = Timeouts {
            header_read: header_read_timeout,
            idle: idle_timeout,
            send: send_timeout,
        };
        let acceptor = tls.map(|config| {
            if config.alpn_protocols.is_empty() {
                let mut offered = rustls::ServerConfig::clone(&config);
                offered.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
                TlsAcceptor::from(Arc::new(offered))
            } else {
                TlsAcceptor::from(config)
            }
        });
        let mut builder = auto::Builder::new(CirandaExecutor::new());
        builder
            .http1()
            .timer(CirandaTimer::new())
            .header_read_timeout(header_read_timeout.map(|t| t.min(LONGEST_HYPER_TIMEOUT)));
        builder
            .http2()
            .timer(CirandaTimer::new())
            .initial_stream_window_size(stream_window)
            .initial_connection_window_size(connection_window);
        let builder = Arc::new(builder);
        let tracker = Arc::new(Tracker {
            shutdown_timeout,
            ..Tracker::default()
        });
        // Dropped before the end (the task aborted, a `select!` lost), the server leaves its
        // connections to shut down on their own.
        let mut abandon = Abandon(Some(tracker.clone()));

        let mut signal = pin!(signal);
        loop {
            let accepted = {
                // The signal first: polled after `accept`, it was seen only when no connection
                // was waiting, so a steady flood of connections kept the server accepting.
                let accept = pin!(listener.accept());
                match select(signal.as_mut(), accept).await {
                    Either::Left(((), _)) => break,
                    Either::Right((accepted, _)) => accepted,
                }
            };
            match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tracker.active.fetch_add(1, Ordering::AcqRel);
                    let guard = Active(tracker.clone());
                    let conn = serve_connection(
                        builder.clone(),
                        stream,
                        acceptor.clone(),
                        make_service(RemoteAddr(peer)),
                        timeouts,
                        guard,
                    );
                    drop(ciranda::spawn(conn));
                }
                // The peer gave up before we accepted: nothing to do.
                Err(e) if is_per_connection(&e) => {}
                // Out of file descriptors or memory: back off instead of spinning, and go on
                // once connections have closed.
                Err(_) => ciranda::time::sleep(Duration::from_millis(50)).await,
            }
        }

        drop(listener); // new connections are refused from here on
        tracker.shutdown.set();
        if ciranda::time::timeout(shutdown_timeout, tracker.all_finished())
            .await
            .is_err()
        {
            tracker.cancel.set();
            tracker.all_finished().await;
        }
        abandon.0 = None;
        Ok(())
    }
}

/// The longest header-read timeout handed to hyper, which adds it to the current instant
/// unchecked (`Duration::MAX` would panic there): a hundred years, as good as forever.
const LONGEST_HYPER_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Each HTTP/2 stream's receive window by default: a quarter of hyper's (1 MiB), so that the
/// connection's window holds eight of them (see [`Serve::http2_receive_windows`]).
const DEFAULT_HTTP2_STREAM_WINDOW: u32 = 256 * 1024;

/// Each HTTP/2 connection's receive window by default: eight stream windows, twice hyper's
/// default (1 MiB) of unread upload per connection.
const DEFAULT_HTTP2_CONNECTION_WINDOW: u32 = 8 * DEFAULT_HTTP2_STREAM_WINDOW;

/// HTTP/2's largest flow-control window (RFC 9113, 6.9.1); h2 panics on a larger one.
const MAX_HTTP2_WINDOW: u32 = (1 << 31) - 1;
/// HTTP/2's initial window (RFC 9113, 6.9.2): every connection's window starts there, and a
/// smaller stream window only slows uploads down (to nothing, at 0).
const MIN_HTTP2_WINDOW: u32 = 65_535;

/// A connection's peer address (`request.remote` in aiohttp), given to
/// [`serve_with_remote`]'s `make_service` once per connection.
///
/// `serve` does not put it in requests' extensions (that would allocate on every request); a
/// service that wants it there can insert it itself.
///
/// # Examples
///
/// ```
/// use ciranda_http::server::RemoteAddr;
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::service::service_fn;
///
/// async fn who(peer: RemoteAddr, _req: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
///     let RemoteAddr(addr) = peer;
///     Ok(hyper::Response::new(Full::new(Bytes::from(addr.to_string()))))
/// }
/// // For `serve_with_remote`: one service per connection, the address captured.
/// let make_service = |peer: RemoteAddr| service_fn(move |req| who(peer, req));
/// # let _ = make_service(RemoteAddr(([127, 0, 0, 1], 80).into()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteAddr(pub SocketAddr);

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The bounds `serve` puts on a connection's service, named once for the functions below.
trait ConnectionService<B>:
    hyper::service::Service<
        Request<Incoming>,
        Response = Response<B>,
        Future: Send + 'static,
        Error: Into<BoxError>,
    > + Send
    + 'static
{
}

impl<S, B> ConnectionService<B> for S where
    S: hyper::service::Service<
            Request<Incoming>,
            Response = Response<B>,
            Future: Send + 'static,
            Error: Into<BoxError>,
        > + Send
        + 'static
{
}

/// The bounds `serve` puts on a response body.
trait ResponseBody: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static {}

impl<B> ResponseBody for B where
    B: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static
{
}

/// One connection's task: the TLS handshake if the server has one, then HTTP until the peer
/// closes or the server shuts down. `active` counts the connection until the task ends.
async fn serve_connection<S, B>(
    builder: Arc<auto::Builder<CirandaExecutor>>,
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    service: S,
    timeouts: Timeouts,
    active: Active,
) where
    S: ConnectionService<B>,
    B: ResponseBody,
{
    let tracker = &active.0;
    let header_read_timeout = timeouts.header_read;
    let mut sleep = header_read_timeout.map(ciranda::time::sleep);
    let head = Arc::new(AtomicBool::new(false));
    // Set when the server shuts down: a first request head not complete by then (and with
    // nothing written) is not waited for.
    let cut = Arc::new(AtomicBool::new(false));
    // Kept with no timeout too: its count of requests in flight is what `StreamBatch` reads.
    let activity = Arc::new(Activity::new(
        timeouts.idle.is_some(),
        timeouts.send.is_some(),
    ));
    let mut idle = timeouts.idle.map(|t| IdleWatch::new(activity.clone(), t));
    let send = timeouts.send.map(|t| SendWatch::new(activity.clone(), t));
    let service = MarkHead {
        service,
        head: head.clone(),
        activity: activity.clone(),
    };
    match tls {
        None => {
            let io = HeadDeadline::new(stream, sleep, head, cut.clone()).watched(&activity);
            let watches = Watches {
                idle,
                send,
                batch: StreamBatch::new(activity.clone()),
                cut,
            };
            serve_http(&builder, io, service, header_read_timeout, watches, tracker).await;
            handlers_dropped(&activity).await;
        }
        Some(acceptor) => {
            let handshake = handshake(
                acceptor,
                stream,
                sleep.as_mut(),
                idle.as_mut(),
                &tracker.shutdown,
            );
            let Some(stream) = handshake.await else {
                return;
            };
            let io = HeadDeadline::new(stream, sleep, head, cut.clone()).watched(&activity);
            let watches = Watches {
                idle,
                send,
                batch: StreamBatch::new(activity.clone()),
                cut,
            };
            serve_http(&builder, io, service, header_read_timeout, watches, tracker).await;
            handlers_dropped(&activity).await;
        }
    }
}

/// The server's side of a TLS handshake, given up (`None`) if it fails, if `deadline` passes
/// first, if `idle` finds the connection idle first (it has had no request since its accept,
/// as a plain-HTTP connection that sends nothing is closed then), or if the server starts to
/// shut down (`shutdown`): a client still in its handshake has no request in flight for a
/// graceful shutdown to wait for.
async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    deadline: Option<&mut Sleep>,
    idle: Option<&mut IdleWatch>,
    shutdown: &Event,
) -> Option<TlsStream<TcpStream>> {
    let expired = async {
        let mut idle = idle;
        let deadline = async {
            match deadline {
                Some(sleep) => sleep.await,
                None => pending().await,
            }
        };
        let idle = poll_fn(|cx| match idle.as_deref_mut() {
            Some(idle) => idle.poll_idle(cx),
            None => Poll::Pending,
        });
        select(pin!(deadline), pin!(idle)).await;
    };
    let (expired, shut_down) = (pin!(expired), pin!(shutdown.wait()));
    match select(acceptor.accept(stream), select(expired, shut_down)).await {
        Either::Left((Ok(stream), _)) => Some(stream),
        Either::Left((Err(_), _)) | Either::Right(_) => None,
    }
}

/// After a connection ended (its future dropped), however it ended: waits until the requests
/// it had in flight are dropped too, for at most [`HANDLER_DROP_WAIT`]. Over HTTP/2 hyper runs
/// each request's handler and response body in a task of its own, which the connection's
/// end only wakes to drop them; without this wait `serve` could return while some were
/// still alive (a handler holding a database connection, a file, a permit the program
/// releases next): after a shutdown cancelled the connection, and as well when the client
/// closed or reset it (or it failed) during the shutdown's drain, or just before the
/// shutdown. Over HTTP/1.1 they were in the connection's future, and the count is already
/// zero. One atomic load per connection; a poll every millisecond only while handlers are
/// still alive, instead of a wake-up from every request's end.
async fn handlers_dropped(activity: &Activity) {
    // Acquire: pairs with the release in `InFlight::drop`.
    if activity.in_flight.load(Ordering::Acquire) == 0 {
        return;
    }
    let _ = ciranda::time::timeout(HANDLER_DROP_WAIT, async {
        // Acquire: pairs with the release in `InFlight::drop`.
        while activity.in_flight.load(Ordering::Acquire) != 0 {
            ciranda::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
}

/// How long a cancelled connection waits for its HTTP/2 handlers' tasks to drop them (see
/// [`handlers_dropped`]): they only need to be scheduled; one whose drop takes longer is left.
const HANDLER_DROP_WAIT: Duration = Duration::from_secs(5);

/// Serves HTTP/1.1 or HTTP/2 (as the first bytes tell) on `io` until the peer closes, until
/// `idle` finds it idle (gracefully, then dropped if it stays idle), or until the server
/// shuts down (gracefully, then cancelled).
async fn serve_http<I, S, B>(
    builder: &auto::Builder<CirandaExecutor>,
    io: HeadDeadline<I>,
    service: S,
    header_read_timeout: Option<Duration>,
    mut watches: Watches,
    tracker: &Tracker,
) where
    I: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
    S: ConnectionService<B>,
    B: ResponseBody,
{
    let io = CirandaIo::new(io);
    // hyper's header-read timer on one sleep per connection instead of a wheel timer per
    // request (see `head_timer`); the builder clone is a few reference counts.
    let own_builder;
    let builder = match header_read_timeout {
        Some(_) => {
            let mut b = auto::Builder::clone(builder);
            b.http1().timer(head_timer::HeadTimer::default());
            own_builder = b;
            &own_builder
        }
        None => builder,
    };
    let mut conn = pin!(builder.serve_connection_with_upgrades(io, service));
    match serve_until(conn.as_mut(), &tracker.shutdown, &mut watches).await {
        // Served until the peer closed (or the connection failed); or the peer stopped
        // taking what is sent to it: dropped.
        Served::Done | Served::Stalled => return,
        Served::ShutDown => {}
        Served::Idle => {
            // GOAWAY for HTTP/2; HTTP/1.1 closes once no response is being written.
            conn.as_mut().graceful_shutdown();
            if let Some(idle) = &mut watches.idle {
                idle.restart();
            }
            match serve_until(conn.as_mut(), &tracker.shutdown, &mut watches).await {
                // Closed; or still open and idle another `idle_timeout` later (an HTTP/2 peer
                // that never answers the GOAWAY's PING), or stalled: dropped.
                Served::Done | Served::Idle | Served::Stalled => return,
                Served::ShutDown => {}
            }
        }
    }
    // A client whose first request head has not arrived has no request in flight: its reads
    // fail from here on (see `HeadDeadline`), as a client still in its TLS handshake is let
    // go. Relaxed: set and read by this task alone.
    watches.cut.store(true, Ordering::Relaxed);
    conn.as_mut().graceful_shutdown();
    let cancel = pin!(tracker.cancel.wait());
    let abandoned = pin!(async {
        tracker.abandoned.wait().await;
        ciranda::time::sleep(tracker.shutdown_timeout).await;
    });
    let _ = select(conn, select(cancel, abandoned)).await;
}

/// How [`serve_until`] ended.
enum Served {
    /// The connection completed.
    Done,
    /// The server is shutting down (the connection has not completed).
    ShutDown,
    /// The connection has had no request in flight for the idle timeout (and has not
    /// completed).
    Idle,
    /// The peer has taken none of what the connection has to send for the send timeout.
    Stalled,
}

/// A connection's timeouts, as configured on [`Serve`].
#[derive(Clone, Copy)]
struct Timeouts {
    header_read: Option<Duration>,
    idle: Option<Duration>,
    send: Option<Duration>,
}

/// The watches [`serve_until`] polls beside the connection (each `None` if its timeout is).
struct Watches {
    idle: Option<IdleWatch>,
    send: Option<SendWatch>,
    batch: StreamBatch,
    /// Set when the server shuts down (read by [`HeadDeadline`]).
    cut: Arc<AtomicBool>,
}

/// Lets an HTTP/2 connection's ready streams finish before the connection's task writes.
///
/// hyper runs each HTTP/2 stream as a task of its own, and a stream that completes wakes the
/// connection's task to write its frames. A task woken from a worker runs next there (the
/// LIFO slot), so the connection wrote each response as soon as its stream was done while its
/// other streams sat ready in the queue behind it: about one write per response. While two
/// or more requests are in flight, the connection's task, once woken, first yields to the
/// back of the queue (every other poll, so it cannot yield for ever): the streams queued
/// before it finish, and one write takes all their frames. HTTP/1.1 never has two requests
/// in flight (hyper serves them one after another), so it never yields here.
struct StreamBatch {
    activity: Arc<Activity>,
    /// The last poll yielded: this one polls the connection.
    yielded: bool,
}

impl StreamBatch {
    fn new(activity: Arc<Activity>) -> StreamBatch {
        StreamBatch {
            activity,
            yielded: false,
        }
    }

    /// Whether this poll should yield (the task is woken) instead of polling the connection.
    fn yield_first(&mut self, cx: &mut Context<'_>) -> bool {
        if std::mem::take(&mut self.yielded) {
            return false;
        }
        // Relaxed: a hint; the connection's task is polled again either way.
        if self.activity.in_flight.load(Ordering::Relaxed) < 2 {
            return false;
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        true
    }
}

/// Polls `conn` until it completes, `shutdown` is set, the idle watch (if any) finds it
/// idle, or the send watch (if any) finds it stalled.
///
/// Polling an [`Event::wait`] takes the event's lock, which every connection shares, so
/// once this task's waker is queued the event is read with one atomic load per poll instead.
/// The wait is polled before `conn` whenever it must (re)register, while the task's
/// cooperative budget is fresh: a wait refused by an exhausted budget does not queue the
/// waker, and this task would then miss the shutdown.
async fn serve_until<F: Future>(
    mut conn: Pin<&mut F>,
    shutdown: &Event,
    watches: &mut Watches,
) -> Served {
    let mut wait = pin!(shutdown.wait());
    // The waker queued in the event's wait list, once it is.
    let mut queued: Option<Waker> = None;
    poll_fn(|cx| {
        let stale = queued.as_ref().is_none_or(|w| !w.will_wake(cx.waker()));
        if stale || shutdown.is_set() {
            if wait.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Served::ShutDown);
            }
            if stale {
                queued = Some(cx.waker().clone());
            }
        }
        if watches.batch.yield_first(cx) {
            return Poll::Pending;
        }
        if conn.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Served::Done);
        }
        if let Some(Poll::Ready(())) = watches.idle.as_mut().map(|idle| idle.poll_idle(cx)) {
            return Poll::Ready(Served::Idle);
        }
        match watches.send.as_mut().map(|send| send.poll_stalled(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Served::Stalled),
            _ => Poll::Pending,
        }
    })
    .await
}

/// Counts live connections so a graceful shutdown can wait for the last one.
#[derive(Default)]
struct Tracker {
    active: AtomicUsize,
    idle: Notify,
    /// Set when a graceful shutdown starts.
    shutdown: Event,
    /// Set when the graceful shutdown's time is up: what is left is dropped.
    cancel: Event,
    /// Set when the server's future was dropped before it returned: nobody is left to set
    /// `cancel`, so each connection gives its drain `shutdown_timeout` from then.
    abandoned: Event,
    shutdown_timeout: Duration,
}

/// Shuts the connections down if the server's future is dropped before it returns (while it
/// accepts, or while it waits for a graceful shutdown): as hyper-util's `GracefulShutdown`
/// does when it is dropped, but bounded by the server's `shutdown_timeout`. Without this, a
/// dropped server's connections went on serving requests, for ever with no idle timeout.
struct Abandon(Option<Arc<Tracker>>);

impl Drop for Abandon {
    fn drop(&mut self) {
        if let Some(tracker) = self.0.take() {
            // `abandoned` first: a connection that sees the shutdown then finds it set.
            tracker.abandoned.set();
            tracker.shutdown.set();
        }
    }
}

impl Tracker {
    async fn all_finished(&self) {
        while self.active.load(Ordering::Acquire) != 0 {
            // `notify_one` stores a permit if the last connection ends between the check and
            // this wait, so the wake-up is not lost.
            self.idle.notified().await;
        }
    }
}

/// One live connection; dropping it (the task finished or was dropped) uncounts it.
struct Active(Arc<Tracker>);

impl Drop for Active {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_one();
        }
    }
}

/// A connection's service, which notes in `head` that a request head has arrived (hyper
/// calls it once the head is parsed), so that [`HeadDeadline`] stops bounding reads: what
/// is read from then on is a body, which may take as long as the service waits for it.
///
/// It also counts the request in flight in `activity` until its response body is dropped
/// (the guard goes from the response future into the body).
struct MarkHead<S> {
    service: S,
    head: Arc<AtomicBool>,
    activity: Arc<Activity>,
}

impl<S, R, B> hyper::service::Service<R> for MarkHead<S>
where
    S: hyper::service::Service<R, Response = Response<B>>,
{
    type Response = Response<Counted<B>>;
    type Error = S::Error;
    type Future = CountedFuture<S::Future>;

    fn call(&self, req: R) -> Self::Future {
        // Relaxed: a lone flag, publishing no other data.
        self.head.store(true, Ordering::Relaxed);
        // Relaxed: hyper calls the service from the connection's task, the one that reads
        // the count in `IdleWatch` and `StreamBatch`.
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        CountedFuture {
            future: self.service.call(req),
            guard: Some(InFlight(self.activity.clone())),
        }
    }
}

/// One connection's requests in flight, and when the last one ended.
struct Activity {
    /// Requests whose service has been called and whose response body is not dropped yet.
    in_flight: AtomicUsize,
    /// When a request last ended (or 0), in nanoseconds since `since`.
    last_end: AtomicU64,
    /// When the connection last read a request's bytes or wrote a response's (or 0), in
    /// nanoseconds since `since`: a request body still arriving after its response was sent,
    /// or a response still being written after hyper dropped its body (it does so once it has
    /// taken the last frame, which may be the whole body), keeps the connection busy.
    last_transfer: AtomicU64,
    /// When the connection was accepted.
    since: Instant,
    /// Whether the idle timeout is on: only then are `last_end` and `last_transfer` kept.
    idle: bool,
    /// Whether the send timeout is on: only then is `sending` kept.
    send: bool,
    /// What waits for the peer to take data, and how often a wait ended, for the send
    /// timeout ([`SendWatch`]). The low 32 bits count the waits under way: responses whose
    /// body handed hyper a frame and has not been asked for the next one yet (hyper asks
    /// only once it can write on: HTTP/1.1 once its write buffer has room, HTTP/2 once the
    /// stream has flow-control window), plus one while a write to the socket is blocked.
    /// The high 32 bits (wrapping) count the waits that ended (the body was asked again or
    /// dropped, the socket took bytes). A wait begins with `+ 1` and ends with
    /// `+ WAIT_ENDED`, so any event changes the value: one seen unchanged a send timeout
    /// apart, with a wait under way, means the peer took nothing in between.
    sending: AtomicU64,
    /// How many writes carried an HTTP/2 response's frames (DATA, HEADERS, CONTINUATION),
    /// for the send timeout: over HTTP/2 the peer's flow-control window paces a frame larger
    /// than the window, not the socket (which need never fill), and hyper asks the body for
    /// its next frame only once h2 has sent nearly all of the last one, so a client that
    /// keeps taking a large frame shows only here. Written by the connection's task alone
    /// (its stream's writes), so a load and a store, wrapping.
    took: AtomicU64,
}

/// Added to [`Activity::sending`] when a wait ends: one less under way (low half), one more
/// ended (high half, by the carry).
const WAIT_ENDED: u64 = (1 << 32) - 1;

impl Activity {
    fn new(idle: bool, send: bool) -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
            last_transfer: AtomicU64::new(0),
            since: Instant::now(),
            idle,
            send,
            sending: AtomicU64::new(0),
            took: AtomicU64::new(0),
        }
    }

    /// Notes that a wait for the peer began (see `sending`).
    fn wait_began(&self) {
        // Relaxed: a lone counter; the watch only compares values a send timeout apart.
        self.sending.fetch_add(1, Ordering::Relaxed);
    }

    /// Notes that a wait for the peer ended (see `sending`).
    fn wait_ended(&self) {
        self.sending.fetch_add(WAIT_ENDED, Ordering::Relaxed);
    }

    /// Notes that the connection wrote an HTTP/2 response's frames (see `took`).
    fn took_frames(&self) {
        // Relaxed, and no read-modify-write: only the connection's task writes it, and the
        // watch only compares values a send timeout apart.
        let took = self.took.load(Ordering::Relaxed);
        self.took.store(took.wrapping_add(1), Ordering::Relaxed);
    }

    /// Whether a request is in flight or a wait for the peer is under way: the send watch
    /// is armed only then.
    #[inline(always)]
    fn sending(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) != 0
            || waits(self.sending.load(Ordering::Relaxed)) != 0
    }

    /// When the connection last became idle (its accept, or the end of its last request),
    /// or `None` while a request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        // Acquire: pairs with the release in `InFlight::drop`, so `last_end` is at least as
        // recent as the end that brought the count down to what is read here.
        if self.in_flight.load(Ordering::Acquire) != 0 {
            return None;
        }
        let end = self.last_end.load(Ordering::Relaxed);
        let transfer = self.last_transfer.load(Ordering::Relaxed);
        Some(
            self.since
                .saturating_add(Duration::from_nanos(end.max(transfer))),
        )
    }

    /// Notes that the connection read a request's bytes or wrote a response's now.
    fn note_transfer(&self) {
        // Relaxed: only the connection's own task reads and writes it.
        self.last_transfer
            .fetch_max(self.nanos_since_start(), Ordering::Relaxed);
    }

    /// Whether a request is in flight (its end will be noted then: a transfer need not be).
    fn busy(&self) -> bool {
        // Relaxed: a count seen late only makes a transfer noted that need not have been, or
        // one not noted that comes just before an end noted with a later time.
        self.in_flight.load(Ordering::Relaxed) != 0
    }

    fn nanos_since_start(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.since);
        u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
    }
}

/// The waits under way in a value of [`Activity::sending`].
fn waits(sending: u64) -> u32 {
    sending as u32 // the low half, by definition
}

/// One request in flight, counted in its connection's [`Activity`] until dropped.
///
/// One pointer: hyper moves the response future that holds it, with a `memcpy` once the
/// future outgrows what the compiler copies inline (a flag here cost HTTP/2 one more
/// `memcpy`, about 75 instructions, per request).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &*self.0;
        if activity.idle {
            let ended = activity.nanos_since_start();
            // The latest end wins: requests on an HTTP/2 connection end in other tasks.
            // Noted before the count goes down, so a count of zero comes with this end.
            activity.last_end.fetch_max(ended, Ordering::Relaxed);
        }
        activity.in_flight.fetch_sub(1, Ordering::Release);
    }
}

/// A response body's [`InFlight`] guard, which notes whether the body handed hyper a frame
/// and has not been asked for the next one yet (a wait counted in [`Activity::sending`]).
struct BodyGuard {
    in_flight: InFlight,
    handed: bool,
}

impl Drop for BodyGuard {
    fn drop(&mut self) {
        // Before the request's end (`InFlight`'s drop, after this).
        if self.handed {
            self.in_flight.0.wait_ended();
        }
    }
}

pin_project_lite::pin_project! {
    /// A response future that hands its request's [`InFlight`] guard (if any) to the
    /// response body; dropped before it completes (an HTTP/2 stream reset), it drops the
    /// guard.
    struct CountedFuture<F> {
        #[pin]
        future: F,
        guard: Option<InFlight>,
    }
}

impl<F, B, E> Future for CountedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Counted<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.future.poll(cx))?;
        let guard = this.guard.take().map(|in_flight| BodyGuard {
            in_flight,
            handed: false,
        });
        Poll::Ready(Ok(response.map(|body| Counted { body, guard })))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted in flight until hyper drops it (sent
    /// whole, or given up), and with a send timeout notes in the guard when it hands hyper a
    /// frame and when hyper asks for the next one.
    struct Counted<B> {
        #[pin]
        body: B,
        guard: Option<BodyGuard>,
    }
}

impl<B: http_body::Body> http_body::Body for Counted<B> {
    type Data = B::Data;
    type Error = B::Error;

    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let Some(guard) = this.guard.as_mut().filter(|g| g.in_flight.0.send) else {
            return this.body.poll_frame(cx);
        };
        let activity = &*guard.in_flight.0;
        // Asked for a frame: hyper could write on since it took the last one.
        if guard.handed {
            guard.handed = false;
            activity.wait_ended();
        }
        let polled = this.body.poll_frame(cx);
        if let Poll::Ready(Some(Ok(_))) = &polled {
            // Until hyper asks again (or drops the body), it waits for the peer. The last
            // frame too: over HTTP/2 hyper holds it until the stream has window for it.
            guard.handed = true;
            activity.wait_began();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The shortest time a connection's watch waits before it looks again while a request is in
/// flight: a `send_timeout` shorter than this counts as this, and the idle watch looks again
/// no sooner at a busy connection. Shorter, a sleep could be due again by the time it was
/// armed (zero, a few nanoseconds: at once), and the watch re-armed it in a loop that never
/// left the connection's poll, so the handler it held (HTTP/1.1 polls it in the same task)
/// never ran again. A millisecond is 16 ticks of the timer wheel.
const SHORTEST_LOOK: Duration = Duration::from_millis(1);

/// Finds a connection idle: no request in flight for `timeout`, on one sleep that is
/// re-armed when it fires early (a request ended since, or one is in flight). Polled only by
/// the connection's task.
struct IdleWatch {
    activity: Arc<Activity>,
    timeout: Duration,
    /// Idle time counts from here at the earliest (moved by [`restart`](IdleWatch::restart)).
    from: Instant,
    sleep: ArmedSleep,
}

impl IdleWatch {
    fn new(activity: Arc<Activity>, timeout: Duration) -> IdleWatch {
        let from = activity.since;
        IdleWatch {
            sleep: ArmedSleep::until(from.saturating_add(timeout)),
            activity,
            timeout,
            from,
        }
    }

    /// Counts idle time afresh from now.
    fn restart(&mut self) {
        let now = Instant::now();
        self.from = now;
        self.sleep.reset(now.saturating_add(self.timeout));
    }

    /// Ready once the connection has had no request in flight for `timeout`.
    ///
    /// Called on every poll of the connection: while the sleep is armed and not fired this
    /// costs an atomic load (see `armed_sleep`).
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            ready!(self.sleep.poll_due(cx));
            let now = Instant::now();
            let Some(since) = self.activity.idle_since() else {
                // Busy, so not idle whatever the timeout: look again a period later, and not
                // sooner than `SHORTEST_LOOK` (a zero timeout found a busy connection idle).
                self.sleep
                    .reset(now.saturating_add(self.timeout.max(SHORTEST_LOOK)));
                continue;
            };
            let deadline = since.max(self.from).saturating_add(self.timeout);
            if deadline <= now {
                return Poll::Ready(());
            }
            self.sleep.reset(deadline);
        }
    }
}

/// Finds a connection stalled: something waits for the peer to take data (see
/// [`Activity::sending`]) and nothing changed for `timeout`. One sleep, armed only while a
/// request is in flight or a wait is under way, looks every `timeout` whether the count of
/// waits moved since its last look; so a stall is found between one and two `timeout`s
/// after the peer last took data. Polled only by the connection's task.
struct SendWatch {
    activity: Arc<Activity>,
    timeout: Duration,
    /// Made at the first arming (many connections never need it).
    sleep: Option<ArmedSleep>,
    /// Whether `sleep` is counting to the next look.
    armed: bool,
    /// `activity.sending` at the last look (or the arming).
    seen: u64,
    /// `activity.took` at the last look (or the arming).
    seen_took: u64,
}

impl SendWatch {
    fn new(activity: Arc<Activity>, timeout: Duration) -> SendWatch {
        SendWatch {
            activity,
            // A look finds a stall only if the count is unchanged since the last one: a zero
            // timeout's sleep was due again as soon as it was armed, so with a request in
            // flight and nothing waiting, the look re-armed it for ever in one poll.
            timeout: timeout.max(SHORTEST_LOOK),
            sleep: None,
            armed: false,
            seen: 0,
            seen_took: 0,
        }
    }

    /// Ready once the peer has taken none of what waits for it for `timeout`.
    ///
    /// Called on every poll of the connection: disarmed it costs two atomic loads, armed and
    /// not fired one (see `armed_sleep`). It reads the clock only when it arms or fires.
    #[inline(always)]
    fn poll_stalled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed && !self.activity.sending() {
            return Poll::Pending; // nothing to watch
        }
        self.poll_watching(cx)
    }

    /// [`poll_stalled`](SendWatch::poll_stalled) with something to watch.
    #[inline(never)]
    fn poll_watching(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.armed {
            self.arm();
        }
        let Some(sleep) = &mut self.sleep else {
            return Poll::Pending; // made by `arm`
        };
        ready!(sleep.poll_due(cx));
        self.look(cx)
    }

    /// Starts counting to the first look.
    #[inline(never)]
    fn arm(&mut self) {
        let deadline = Instant::now().saturating_add(self.timeout);
        match &mut self.sleep {
            Some(sleep) => sleep.reset(deadline),
            None => self.sleep = Some(ArmedSleep::until(deadline)),
        }
        self.armed = true;
        self.seen = self.activity.sending.load(Ordering::Relaxed);
        self.seen_took = self.activity.took.load(Ordering::Relaxed);
    }

    /// A look, the sleep having fired: stalled, disarmed, or counting to the next look.
    #[inline(never)]
    fn look(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(sleep) = &mut self.sleep else {
            return Poll::Pending; // made by `arm`
        };
        loop {
            let now = self.activity.sending.load(Ordering::Relaxed);
            let took = self.activity.took.load(Ordering::Relaxed);
            if waits(now) != 0 && now == self.seen && took == self.seen_took {
                return Poll::Ready(());
            }
            if !self.activity.sending() {
                // Nothing to watch: armed again at the next poll that finds something.
                self.armed = false;
                return Poll::Pending;
            }
            self.seen = now;
            self.seen_took = took;
            sleep.reset(Instant::now().saturating_add(self.timeout));
            ready!(sleep.poll_due(cx));
        }
    }
}

/// A connection's stream (TCP, or TLS over TCP) whose reads fail once the deadline for the
/// first request head has passed, until that head arrives (`head`, set by [`MarkHead`]) or
/// the server first writes.
///
/// With an idle timeout it also notes when a request's bytes were last read or a response's
/// written (`activity`): a request body may still be arriving after its response was sent (a
/// handler that answers at once and reads on), and a response may still be being written
/// after hyper dropped its body (a large body in one frame to a slow reader). On HTTP/1.1
/// every byte is a request's or a response's; on HTTP/2 only the frames of messages count
/// (DATA, HEADERS, CONTINUATION), not those that carry none (a keep-alive PING and its
/// answer, SETTINGS, WINDOW_UPDATE), so a client that only pings is still idle.
///
/// With a send timeout it notes in `send` when a write blocks (the socket is full) and when
/// the socket takes bytes again: a response's last bytes may still be waiting for the peer
/// after hyper dropped its body. On HTTP/2 it also counts the writes that carry a response's
/// frames: a large frame goes out a window at a time as the peer takes it, with no body
/// asked meanwhile and, the window being smaller than the socket's buffers, no write blocked.
struct HeadDeadline<I> {
    stream: I,
    sleep: Option<Sleep>,
    head: Arc<AtomicBool>,
    /// Set when the server shuts down (see `serve_http`): until the first request head has
    /// arrived or the server has written, reads fail from then on, as they do once the
    /// deadline has passed. hyper's graceful shutdown closes an HTTP/1.1 connection at once
    /// only between requests; in its first head it waits for the head, so a client that had
    /// sent part of one held the shutdown for the whole `shutdown_timeout`.
    cut: Arc<AtomicBool>,
    /// Whether the server has written anything on the connection (its HTTP/2 settings, a
    /// response).
    wrote: bool,
    /// `None` without an idle timeout.
    activity: Option<Arc<Activity>>,
    /// `None` without a send timeout.
    send: Option<Arc<Activity>>,
    /// A write or flush returned `Pending` and none has gone through since (a wait counted
    /// in `send`'s `sending`).
    send_blocked: bool,
    /// Which of the bytes read and written are a request's or a response's.
    traffic: Traffic,
    /// A write or flush returned `Pending` since the last write noted as activity. On
    /// HTTP/1.1 only then can a write come long after the request's end (the peer reads
    /// slowly and the socket fills); a write that goes through at once follows the end noted
    /// when hyper dropped the body, so it skips the clock read (one per response otherwise).
    /// HTTP/2 writes are always noted: a slow reader holds back its window, so h2 waits
    /// without ever meeting a full socket.
    write_waited: bool,
}

impl<I> HeadDeadline<I> {
    fn new(stream: I, sleep: Option<Sleep>, head: Arc<AtomicBool>, cut: Arc<AtomicBool>) -> Self {
        HeadDeadline {
            stream,
            sleep,
            head,
            cut,
            wrote: false,
            activity: None,
            send: None,
            send_blocked: false,
            traffic: Traffic::default(),
            write_waited: false,
        }
    }

    /// Notes transfers in `activity` for its idle timeout and its send timeout (those it has).
    fn watched(mut self, activity: &Arc<Activity>) -> Self {
        if activity.send {
            self.send = Some(activity.clone());
        }
        if activity.idle {
            self.activity = Some(activity.clone());
        }
        self
    }

    /// After a write or flush returned `Pending`: the peer is not taking bytes.
    fn blocked(&mut self) {
        self.write_waited = true;
        if !self.send_blocked {
            if let Some(send) = &self.send {
                self.send_blocked = true;
                send.wait_began();
            }
        }
    }

    /// After a write or flush went through: the peer took bytes, if it had stopped.
    fn unblocked(&mut self) {
        if self.send_blocked {
            self.send_blocked = false;
            if let Some(send) = &self.send {
                send.wait_ended();
            }
        }
    }

    /// Notes `read` (the start of `buf` just filled) as activity if it holds a request's bytes.
    fn note_read(&mut self, read: &[u8]) {
        if self.activity.is_none() && self.send.is_none() {
            return;
        }
        // Told with either timeout: the send timeout needs to know HTTP/2 (its preface).
        if self.traffic.read(read) {
            if let Some(activity) = &self.activity {
                activity.note_transfer();
            }
        }
    }

    /// Notes a write of the first `n` bytes of `bufs` if it holds a response's bytes: for the
    /// send timeout, on HTTP/2, as frames the peer's window let through (see
    /// `Activity::took`); for the idle timeout, as activity if it may have waited for the
    /// peer (see `write_waited`) and no request is in flight (while one is, its end is noted
    /// later anyway).
    fn note_write<'a>(&mut self, bufs: impl IntoIterator<Item = &'a [u8]>, n: usize) {
        if self.activity.is_none() && self.send.is_none() {
            return;
        }
        // Always told: on HTTP/2 it follows the frames across writes.
        if !self.traffic.wrote(bufs, n) {
            return;
        }
        let http2 = self.traffic.is_http2();
        if http2 {
            if let Some(send) = &self.send {
                send.took_frames();
            }
        }
        if let Some(activity) = &self.activity {
            if (self.write_waited || http2) && !activity.busy() {
                self.write_waited = false;
                activity.note_transfer();
            }
        }
    }
}

impl<I> HeadDeadline<I> {
    /// After a write of `bufs` that returned `n`.
    fn wrote<'a>(&mut self, bufs: impl IntoIterator<Item = &'a [u8]>, n: &Poll<io::Result<usize>>) {
        match *n {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.sleep = None;
                    self.wrote = true;
                    self.unblocked();
                }
                self.note_write(bufs, n);
            }
            Poll::Pending => self.blocked(),
            Poll::Ready(Err(_)) => {}
        }
    }
}

impl<I: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin> futures_io::AsyncRead
    for HeadDeadline<I>
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Poll::Ready(r) = Pin::new(&mut this.stream).poll_read(cx, buf) {
            if let Ok(n) = r {
                this.note_read(&buf[..n.min(buf.len())]);
            }
            return Poll::Ready(r);
        }
        if this.sleep.is_some() && this.head.load(Ordering::Relaxed) {
            this.sleep = None;
        }
        let expired = match &mut this.sleep {
            Some(sleep) => Pin::new(sleep).poll(cx).is_ready(),
            None => false,
        };
        // Relaxed: `cut` is set by this connection's task; `head` is a lone flag.
        let shut_down = !expired
            && !this.wrote
            && this.cut.load(Ordering::Relaxed)
            && !this.head.load(Ordering::Relaxed);
        if expired || shut_down {
            // Nothing has been written (the deadline goes with the first write), so
            // nothing is cut off: a TLS peer is told the connection ends
            // (`close_notify`), and sees a clean close rather than a truncated one. One
            // try, as the connection is dropped next: an idle socket has room for it.
            let _ = Pin::new(&mut this.stream).poll_close(cx);
            return Poll::Ready(Err(if expired {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not send a request head in time",
                )
            } else {
                io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the server shut down before the client sent a request head",
                )
            }));
        }
        Poll::Pending
    }
}

impl<I: futures_io::AsyncWrite + Unpin> futures_io::AsyncWrite for HeadDeadline<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.wrote([buf], &r);
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.wrote(bufs.iter().map(|buf| &**buf), &r);
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.stream).poll_flush(cx);
        match r {
            Poll::Pending => this.blocked(),
            // hyper and h2 flush once their own buffers are written: a flush that goes
            // through after one that did not means the socket took the rest (TLS's records).
            Poll::Ready(Ok(())) => this.unblocked(),
            Poll::Ready(Err(_)) => {}
        }
        r
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_close(cx)
    }
}
