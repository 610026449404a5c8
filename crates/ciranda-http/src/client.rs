//! `Client`: aiohttp's `ClientSession` — pooled HTTP/1.1 and HTTP/2 over TCP or TLS.

use crate::body::Body;
use crate::connect::{ConnectError, Connector};
use crate::cookies::Jar;
use crate::error::{BoxError, Error, Kind, causes, chain};
use crate::in_use::{InUse, InUseLimit};
use crate::limit::{ForRequest, HostLimits};
use crate::options::RequestOptions;
use crate::proxy::{Proxies, ProxyUrl};
use crate::recent::RecentlyUsed;
use crate::redirect;
use crate::resend::Resend;
use crate::response::Response;
use crate::rt::{CirandaExecutor, CirandaTimer};
use crate::userinfo;
use bytes::Bytes;
use ciranda::time::Instant;
use http::header::{ACCEPT_ENCODING, HeaderValue, PROXY_AUTHORIZATION, USER_AGENT};
use http::{Method, Request, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::capture_connection;
use std::any::Any;
use std::error::Error as _;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use url::Url;

type Pooled = hyper_util::client::legacy::Client<Connector, Body>;

/// An HTTP client (`aiohttp.ClientSession`): pooled connections, HTTP/1.1 and HTTP/2 (ALPN
/// over TLS), `https` through rustls with the webpki roots.
///
/// `Clone` is cheap and every clone shares one connection pool, so make one client and hand
/// clones to your tasks. Each request runs on the current ciranda runtime.
///
/// Reuse: an HTTP/1.1 connection goes back to the pool, from a background task, once its
/// response body has been read to the end (a response dropped unread closes it instead);
/// HTTP/2 connections are shared by concurrent requests. A request sent in the very instant
/// another's body finished may open a second connection rather than wait for that one
/// (hyper-util's pool takes whichever of "connected" and "a connection came back" happens
/// first); the spare then stays pooled. A server may close (or reset) a kept-alive
/// connection just as a request goes out on it (its idle timeout; over TLS, with or without
/// a `close_notify`), or an HTTP/2 server's GOAWAY (its graceful shutdown, say in a rolling
/// deploy) may fail a request sent as it arrived: an idempotent
/// request (`GET`, `HEAD`, `PUT`, `DELETE`, `OPTIONS`, `TRACE`) whose body can be repeated
/// (made from bytes or a string, or empty) is then sent once more, on another connection;
/// any other request returns the error. (A stream above the GOAWAY's last-stream-id was not
/// processed, but hyper fails a stream it had just sent below it with the same error, so the
/// server may have processed the request.) A request whose HTTP/2 stream the server refused
/// (`REFUSED_STREAM`) was not processed: it is sent once more whatever its method, if its
/// body can be repeated, on the connection the pool gives. Requests that come after a GOAWAY
/// go out on a new connection (one sent in the instant it arrives may fail with it, and is
/// then sent again or not as above).
///
/// # Redirects
///
/// Up to ten redirects are followed ([`ClientBuilder::max_redirects`], or per request
/// [`RequestOptions::max_redirects`]), as aiohttp does, and
/// [`Response::url`] is the URL that answered last. 301 and 302 turn a `POST` into a `GET`
/// without its body, 303 turns anything but `HEAD` into a `GET`, 307 and 308 keep the method
/// and the body. A body that has to be sent again must be one the client can repeat (made
/// from bytes or a string, or empty); otherwise, as for a redirect without a `Location`, the
/// `3xx` response is returned. `Authorization`, `Proxy-Authorization`, `Cookie` and an
/// explicit `Host` are not sent to another origin. A redirect's own body is read and
/// discarded (up to 64 KiB, for at most a second) so that its connection can serve the next
/// request. A streamed body still being sent when its redirect is followed is stopped (its
/// HTTP/2 stream reset, its HTTP/1.1 connection closed): nothing will answer it any more.
///
/// # URLs outside ASCII
///
/// A URL written with characters outside ASCII is sent as the URL standard serializes it, as
/// browsers and aiohttp's yarl send it: `http://café.example/ü` goes to
/// `xn--caf-dma.example` (IDNA) with the path `/%C3%BC`, and [`Response::url`] shows it so.
/// Such a URL is also normalized as the standard says (`.` and `..` segments, a default
/// port); an ASCII URL is sent exactly as written.
///
/// # Credentials in the URL
///
/// A URL's userinfo (`http://user:password@host/`, percent-encoded) is sent as
/// `Authorization: Basic`, as aiohttp does, unless the request sets its own `Authorization`;
/// the URL itself goes out, and is shown by [`Response::url`] and [`Error`], without it. A
/// redirect keeps that header within the origin and drops it on leaving, as an explicit one.
///
/// # Examples
///
/// ```no_run
/// # ciranda::run(async {
/// let client = ciranda_http::Client::new();
/// let response = client.get("https://example.com/").await?;
/// println!("{} {}", response.status(), response.text().await?);
/// # Ok::<(), ciranda_http::Error>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    /// The pool and proxies of every request that names no proxy of its own.
    route: Route,
    config: Arc<Config>,
}

/// How many per-request proxy URLs keep a pool: a request through one more closes the pool
/// of the one used least recently (its requests in flight finish on their connections).
const MAX_PROXY_POOLS: usize = 32;

struct Config {
    timeout: Option<Duration>,
    user_agent: Option<HeaderValue>,
    max_redirects: usize,
    auto_decompress: bool,
    /// The largest body `Response::bytes` and `text` read (`usize::MAX`: no limit).
    max_body_size: usize,
    /// `None` when the builder turned the jar off.
    jar: Option<Jar>,
    /// What a pool of its own for a request's [`RequestOptions::proxy`] is made from.
    pool_builder: hyper_util::client::legacy::Builder,
    tls: Arc<rustls::ClientConfig>,
    connect_timeout: Option<Duration>,
    /// Connections per host in each pool (`None`: no limit).
    max_connections_per_host: Option<usize>,
    /// The connections in use at once across every pool (`None`: no limit).
    in_use: Option<Arc<InUseLimit>>,
    /// Every connection speaks HTTP/2 (`http2_prior_knowledge`): the in-use limit counts its
    /// exchanges to one host as one.
    http2_only: bool,
    /// The pool keeps HTTP/2 connections for the exchanges that follow, so that the exchanges
    /// to one host share one (and one place of the in-use limit). Not with
    /// `pool_max_idle_per_host(0)` (hyper-util's pool is then off and every exchange makes a
    /// connection of its own, HTTP/2 too) nor with a zero `pool_idle_timeout` (the next
    /// exchange's checkout finds the connection expired and makes another): counted as
    /// shared there, each exchange opened a connection of its own under one place, without
    /// bound.
    http2_shared: bool,
    /// The pools made for per-request proxies, by proxy URL: those of the
    /// [`MAX_PROXY_POOLS`] URLs used most recently.
    by_proxy: Mutex<RecentlyUsed<Route>>,
}

/// Where a request goes: a pool, and the proxies its connector uses.
#[derive(Clone)]
struct Route {
    /// Tells this pool's hosts from another's (the in-use limit counts them apart).
    id: usize,
    pooled: Pooled,
    /// Shared with the connector, which opens the connections to them.
    proxies: Option<Arc<Proxies>>,
}

impl Route {
    fn new(
        pool: &hyper_util::client::legacy::Builder,
        tls: &Arc<rustls::ClientConfig>,
        connect_timeout: Option<Duration>,
        proxies: Option<Arc<Proxies>>,
        max_connections_per_host: Option<usize>,
    ) -> Route {
        // Each pool counts its own connections: through another proxy they go elsewhere.
        let limits = max_connections_per_host.map(HostLimits::new);
        let connector = Connector::new(tls.clone(), connect_timeout, proxies.clone(), limits);
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        Route {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pooled: pool.build(connector),
            proxies,
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.config.timeout)
            .field("user_agent", &self.config.user_agent)
            .field("max_redirects", &self.config.max_redirects)
            .field("auto_decompress", &self.config.auto_decompress)
            .field("max_body_size", &self.config.max_body_size)
            .field("cookie_jar", &self.config.jar.is_some())
            .field("proxied", &self.route.proxies.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

impl Client {
    /// A client with the default settings (see [`ClientBuilder`]).
    pub fn new() -> Client {
        ClientBuilder::new()
            .build()
            .expect("the default client configuration is valid")
    }

    /// Configures a client: timeouts, pool, extra root certificates, user agent.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The cookies a request to `url` would carry from the jar, as `(name, value)` pairs
    /// (aiohttp's `session.cookie_jar.filter_cookies(url)`). Empty when the jar is off or
    /// `url` is not an absolute URL.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = ciranda_http::Client::new();
    /// assert!(client.cookies("https://example.com/").is_empty());
    /// ```
    pub fn cookies(&self, url: &str) -> Vec<(String, String)> {
        match (&self.config.jar, Url::parse(url)) {
            (Some(jar), Ok(url)) => jar.values_for(&url),
            _ => Vec::new(),
        }
    }

    /// Empties the cookie jar (aiohttp's `session.cookie_jar.clear()`).
    pub fn clear_cookies(&self) {
        if let Some(jar) = &self.config.jar {
            jar.clear();
        }
    }

    /// The cookie jar's contents, session cookies included, to keep for a later
    /// [`load_cookies`](Client::load_cookies) (aiohttp's `session.cookie_jar.save(path)`;
    /// write the bytes with `ciranda::fs::write`). The format is `cookie_store`'s JSON. An
    /// empty jar's when the jar is off.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = ciranda_http::Client::new();
    /// let saved = client.save_cookies();
    /// // ... later, in another client or another process:
    /// let restored = ciranda_http::Client::new();
    /// restored.load_cookies(&saved).unwrap();
    /// ```
    pub fn save_cookies(&self) -> Vec<u8> {
        match &self.config.jar {
            Some(jar) => jar.save(),
            None => Jar::new().save(),
        }
    }

    /// Replaces the cookie jar's contents with cookies [`save_cookies`](Client::save_cookies)
    /// made (aiohttp's `session.cookie_jar.load(path)`), leaving out those that have expired
    /// since. Every clone of this client sees them.
    ///
    /// # Errors
    /// `InvalidData` if `saved` is not a saved jar (the jar is then left as it was), and
    /// `Unsupported` if this client's jar is off ([`ClientBuilder::cookie_jar`]).
    pub fn load_cookies(&self, saved: &[u8]) -> std::io::Result<()> {
        match &self.config.jar {
            Some(jar) => jar.load(saved),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "this client's cookie jar is off",
            )),
        }
    }

    /// `GET url` (`session.get(url)`).
    ///
    /// # Errors
    /// An unparsable URL, a scheme other than `http`/`https` or a port that is not a number
    /// from 0 to 65535 is an
    /// [`is_invalid_url`](Error::is_invalid_url) error; connection, TLS, timeout and redirect
    /// failures have their own kinds. A `4xx`/`5xx` status is *not* an error: look at
    /// [`Response::status`].
    pub async fn get(&self, url: impl AsRef<str>) -> Result<Response, Error> {
        self.send(Method::GET, url.as_ref(), Body::empty(), None)
            .await
    }

    /// `GET url` with this request's own settings (`session.get(url, allow_redirects=False,
    /// timeout=...)`): see [`RequestOptions`].
    ///
    /// # Errors
    /// As [`get`](Client::get).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ciranda_http::{Client, RequestOptions};
    /// # ciranda::run(async {
    /// let client = Client::new();
    /// let moved = client
    ///     .get_with("https://example.com/old", RequestOptions::new().max_redirects(0))
    ///     .await?;
    /// println!("{:?}", moved.headers().get("location"));
    /// # Ok::<(), ciranda_http::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn get_with(
        &self,
        url: impl AsRef<str>,
        options: RequestOptions,
    ) -> Result<Response, Error> {
        self.send(Method::GET, url.as_ref(), Body::empty(), Some(options))
            .await
    }

    /// `POST url` with `body` (`session.post(url, data=body)`): anything `Into<Body>` — bytes,
    /// a string, or [`Body::from_stream`] for a body sent as it is produced.
    ///
    /// # Errors
    /// As [`get`](Client::get).
    pub async fn post(
        &self,
        url: impl AsRef<str>,
        body: impl Into<Body>,
    ) -> Result<Response, Error> {
        self.send(Method::POST, url.as_ref(), body.into(), None)
            .await
    }

    /// `POST url` with `body` and this request's own settings (see [`RequestOptions`]).
    ///
    /// # Errors
    /// As [`get`](Client::get).
    pub async fn post_with(
        &self,
        url: impl AsRef<str>,
        body: impl Into<Body>,
        options: RequestOptions,
    ) -> Result<Response, Error> {
        self.send(Method::POST, url.as_ref(), body.into(), Some(options))
            .await
    }

    /// Sends any request: every method, header and body type. The URI must be absolute
    /// (`http://host/path`). A [`RequestOptions`] in the request's extensions overrides the
    /// client's redirect limit, timeout, decompression, body limit and proxy for this request.
    ///
    /// A 307 or 308 redirect resends the body, which only a [`Body`] made from bytes can do:
    /// send a `Request<Body>` for that. Another body type is sent once, and such a redirect's
    /// response is returned as it is.
    ///
    /// # Errors
    /// As [`get`](Client::get).
    pub async fn request<B>(&self, request: Request<B>) -> Result<Response, Error>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let url = request.uri().to_string();
        self.execute(request.map(into_body), url).await
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Body,
        options: Option<RequestOptions>,
    ) -> Result<Response, Error> {
        // Not the password, if the URL has one.
        let invalid = |e: BoxError| {
            let shown = userinfo::without_userinfo(url).unwrap_or_else(|| url.to_owned());
            Error::new(Kind::InvalidUrl, Some(shown), Some(e))
        };
        // Before `Uri` reads it: `Uri` refuses a non-ASCII host or userinfo.
        let url = encode_non_ascii(url).map_err(|e| invalid(e.into()))?;
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.into()))?;
        let mut request = Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        if let Some(options) = options {
            request.extensions_mut().insert(options);
        }
        self.execute(request, url.into_owned()).await
    }

    async fn execute(&self, request: Request<Body>, mut url: String) -> Result<Response, Error> {
        let (mut parts, mut body) = request.into_parts();
        // First: the URL is shown (errors, `Response::url`) only without its credentials.
        take_userinfo(&mut parts, &mut url)?;
        if !url.is_ascii() {
            // Raw UTF-8 in the path or query of a request's own `Uri` (which `Uri` takes, and
            // hyper would write into the request line as it is).
            let invalid = |e: BoxError| Error::new(Kind::InvalidUrl, Some(url.clone()), Some(e));
            let encoded = encode_non_ascii(&url).map_err(|e| invalid(e.into()))?;
            parts.uri = encoded
                .parse()
                .map_err(|e: http::uri::InvalidUri| invalid(e.into()))?;
            url = encoded.into_owned();
        }
        check_url(&parts.uri).map_err(|e| e.with_url(&url))?;
        let options = parts
            .extensions
            .remove::<RequestOptions>()
            .unwrap_or_default();
        let auto_decompress = options
            .auto_decompress
            .unwrap_or(self.config.auto_decompress);
        let timeout = options.timeout.unwrap_or(self.config.timeout);
        let max_body_size = options.max_body_size.unwrap_or(self.config.max_body_size);
        if let Some(agent) = &self.config.user_agent {
            parts
                .headers
                .entry(USER_AGENT)
                .or_insert_with(|| agent.clone());
        }
        if auto_decompress {
            parts
                .headers
                .entry(ACCEPT_ENCODING)
                .or_insert(HeaderValue::from_static("gzip, deflate, br, zstd"));
        }
        let own_route;
        let route = match &options.proxy {
            Some(ProxyUrl(proxy)) => {
                own_route = self.route_through(proxy).map_err(|e| e.with_url(&url))?;
                &own_route
            }
            None => &self.route,
        };
        // Saturating: a huge timeout (`Duration::MAX`) means no limit, not an overflow panic.
        let deadline = timeout.map(|t| Instant::now().saturating_add(t));
        let max = options.max_redirects.unwrap_or(self.config.max_redirects);
        // Streamed bodies only (one that can be resent is never linked): the response that
        // answers it stops its upload if dropped unread.
        let mut upload = body.link_to_response();
        let mut followed = 0;
        loop {
            // Taken before the jar and the proxy add their headers: a retry or the next hop
            // asks them again.
            let resend = Resend::of(&parts, &body);
            let uri = parts.uri.clone();
            // The exchange's place among the connections in use, if they are limited.
            let mut in_use = None;
            let sent = self.send_once(route, parts, body, &url, deadline, &mut in_use);
            let response = match sent.await {
                Ok(response) => response,
                Err(failure) => {
                    let again = match &failure {
                        // The connection went away under the request (an HTTP/1.1 server's
                        // idle timeout, a redirect answered without reading our body, an
                        // HTTP/2 server's GOAWAY): the server may have acted on it, so only
                        // an idempotent request is sent once more, on another connection.
                        Failure::Stale(_) => resend.retry(&uri),
                        // The server refused the HTTP/2 stream: it did not process the
                        // request, so any request is sent once more.
                        Failure::Refused(_) => resend.again(&uri),
                        Failure::Other(_) => None,
                    };
                    let Some((parts, body)) = again else {
                        return Err(failure.into_error());
                    };
                    // Once: a second failure of any kind is returned. In the place the first
                    // try had, if it got one: a retry does not wait behind those who came
                    // after it.
                    if let Some(in_use) = &mut in_use {
                        in_use.reconnecting();
                    }
                    self.send_once(route, parts, body, &url, deadline, &mut in_use)
                        .await
                        .map_err(Failure::into_error)?
                }
            };
            let hop = if max > 0 {
                redirect::next(
                    response.status(),
                    response.headers(),
                    &url,
                    resend,
                    followed,
                    max,
                )?
            } else {
                None
            };
            let Some(hop) = hop else {
                return Ok(Response::new(
                    response,
                    url,
                    deadline,
                    auto_decompress,
                    max_body_size,
                    upload,
                    in_use,
                ));
            };
            drain(response.into_body(), deadline).await;
            // Its connection is free again (or closed, if the body was not read to its end).
            drop(in_use);
            // The redirected exchange is over: stop what is left of its upload (its response
            // was read to the end, so dropping it abandons nothing).
            if let Some(link) = upload.take() {
                link.abandon();
            }
            followed += 1;
            (parts, body, url) = (hop.parts, hop.body, hop.url);
            // A `Location` with credentials: sent to its own origin, as the first URL's are.
            take_userinfo(&mut parts, &mut url)?;
        }
    }

    /// The route through the proxy at `url` for one request's options: the pool made for it
    /// by an earlier request, or a new one.
    fn route_through(&self, url: &str) -> Result<Route, Error> {
        let mut by_proxy = self
            .config
            .by_proxy
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        by_proxy.get_or_try_insert_with(url, || {
            let proxies = Proxies::fixed(url, "")
                .map(Arc::new)
                .map_err(|msg| Error::new(Kind::Builder, None, Some(msg.into())))?;
            let config = &self.config;
            Ok(Route::new(
                &config.pool_builder,
                &config.tls,
                config.connect_timeout,
                Some(proxies),
                config.max_connections_per_host,
            ))
        })
    }

    /// A plain `http` request sent to a proxy carries the proxy's credentials itself (an
    /// `https` one is tunnelled, and the tunnel's `CONNECT` carries them). A tunnelled
    /// request (`https` through an HTTP proxy, anything through a SOCKS5 one) is read by the
    /// target, not the proxy: a `Proxy-Authorization` of its own is not sent on to the target.
    fn add_proxy_credentials(route: &Route, parts: &mut http::request::Parts) {
        let Some(proxy) = route.proxies.as_ref().and_then(|p| p.intercept(&parts.uri)) else {
            return;
        };
        let socks = proxy
            .uri()
            .scheme_str()
            .is_some_and(|scheme| scheme.starts_with("socks"));
        if parts.uri.scheme_str() != Some("http") || socks {
            parts.headers.remove(PROXY_AUTHORIZATION);
            return;
        }
        if let Some(auth) = proxy.basic_auth() {
            parts
                .headers
                .entry(PROXY_AUTHORIZATION)
                .or_insert_with(|| auth.clone());
        }
    }

    /// One exchange, without following redirects, within `deadline`: the proxy's credentials
    /// and the jar's cookies are added, and the cookies the response sets kept. In `in_use`,
    /// its place among the connections in use if they are limited (see `in_use`): taken, if
    /// it is not there yet, before the pool is asked for a connection; the caller holds it
    /// until the response's body ends.
    async fn send_once(
        &self,
        route: &Route,
        mut parts: http::request::Parts,
        body: Body,
        url: &str,
        deadline: Option<Instant>,
        in_use: &mut Option<InUse>,
    ) -> Result<http::Response<Incoming>, Failure> {
        // One spelling per host for the pool, as the limits count hosts (see the function).
        without_default_port(&mut parts.uri);
        Self::add_proxy_credentials(route, &mut parts);
        let jar = self.config.jar.as_ref().and_then(|jar| {
            let at = Url::parse(&parts.uri.to_string()).ok()?;
            jar.add_to(&at, &mut parts.headers);
            Some((jar, at))
        });
        let mut request = Request::from_parts(parts, body);
        // The connection the request goes out on, to retire it if it went away under it.
        let connection = capture_connection(&mut request);
        let exchange = async {
            if let (true, Some(limit)) = (in_use.is_none(), &self.config.in_use) {
                *in_use = Some(limit.enter(route.id, request.uri()).await);
            }
            // Polled as this request's, so that a connect it started and no longer needs (the
            // pool gave it an idle connection first) stops waiting for a slot (see `limit`).
            let mut pending = pin!(ForRequest::new(route.pooled.request(request)));
            poll_fn(|cx| {
                let polled = pending.as_mut().poll(cx);
                // The pool gives the connection before the request goes out on it: one that
                // speaks HTTP/2 is shared, and so is its place among those in use.
                if let Some(in_use) = in_use.as_mut().filter(|u| !u.is_settled()) {
                    let h2 = connection.connection_metadata().as_ref().map(|c| {
                        // On a connection of its own (the pool keeps none), it keeps its
                        // own place, whatever its protocol.
                        self.config.http2_shared && (self.config.http2_only || c.is_negotiated_h2())
                    });
                    if let Some(h2) = h2 {
                        in_use.connected(h2);
                    }
                }
                polled
            })
            .await
        };
        let result = match deadline {
            Some(deadline) => match ciranda::time::timeout_at(deadline, exchange).await {
                Ok(result) => result,
                Err(_) => {
                    let mut timeout = Error::new(Kind::Timeout, Some(url.to_owned()), None);
                    if let (None, Some(limit)) = (&*in_use, &self.config.in_use) {
                        let per_host = match self.config.max_connections_per_host {
                            Some(max) => {
                                format!(", or all {max} to this host (max_connections_per_host),")
                            }
                            None => String::new(),
                        };
                        timeout = timeout.with_detail(format!(
                            "timed out waiting for a connection: all {} allowed \
                             (max_connections){per_host} were in use",
                            limit.max(),
                        ));
                    }
                    return Err(Failure::Other(timeout));
                }
            },
            None => exchange.await,
        };
        match result {
            Ok(response) => {
                if let Some((jar, at)) = jar {
                    jar.keep_from(&at, response.headers());
                }
                Ok(response)
            }
            Err(e) if closed_before_answering(&e) => {
                // The pool must not hand this connection to the retry: after a GOAWAY, hyper
                // notices that an HTTP/2 connection takes no more streams only when a request
                // reaches it, and may fail that request too, unsent.
                if let Some(connected) = &*connection.connection_metadata() {
                    connected.poison();
                }
                Err(Failure::Stale(classify(e, url.to_owned())))
            }
            Err(e) if refused(&e) => Err(Failure::Refused(classify(e, url.to_owned()))),
            Err(e) => Err(Failure::Other(classify(e, url.to_owned()))),
        }
    }
}

/// How one exchange failed.
enum Failure {
    /// The connection went away under the request before any answer came: an HTTP/1.1
    /// connection closed or reset (on a kept-alive one, the server had closed it), over TLS
    /// with or without `close_notify`, or an HTTP/2 connection's GOAWAY or end. The server may
    /// have acted on it: an idempotent request may be retried.
    Stale(Error),
    /// The server refused the request's HTTP/2 stream: it did not process it, and any request
    /// may be retried.
    Refused(Error),
    Other(Error),
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Failure::Stale(e) | Failure::Refused(e) | Failure::Other(e) => e,
        }
    }
}

/// Whether the connection went away before a response began: hyper saw an HTTP/1.1
/// connection end (`IncompleteMessage`), the connection's I/O failed because the peer's end
/// went away (see [`went_away`]), or an HTTP/2 server's GOAWAY failed the request.
///
/// A server that closes a kept-alive connection does not always end it cleanly: over TLS it
/// may close the TCP connection without a `close_notify` (rustls then reads an unexpected
/// EOF), and a server that closes with the request unread in its buffer sends a reset. hyper
/// reports both as the connection's I/O error, not as an incomplete message, though they
/// mean the same. (The connector's own I/O errors, a TLS handshake cut short, are connect
/// errors, not a connection that went away under a request.)
///
/// h2 fails a request with the server's GOAWAY when its stream is above the GOAWAY's
/// last-stream-id (not processed, RFC 9113 6.8) or was to be opened after it (never sent);
/// but hyper also fails with it a request whose stream it had just sent when the GOAWAY
/// arrived (its dispatch task checks the connection again after each new stream), which the
/// server may have processed and answered. The error is the same in all three cases, so a
/// GOAWAY proves nothing about the request: it is treated as a closed connection.
fn closed_before_answering(e: &hyper_util::client::legacy::Error) -> bool {
    let on_a_connection = !e.is_connect();
    for c in causes(e) {
        if let Some(hyper) = c.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() {
                return true;
            }
            // The connection's own I/O (an error of the request's body is the user's).
            let io = hyper
                .source()
                .and_then(|s| s.downcast_ref::<std::io::Error>());
            if on_a_connection && !hyper.is_user() && io.is_some_and(went_away) {
                return true;
            }
        }
        if let Some(h2) = c.downcast_ref::<h2::Error>() {
            return h2.is_go_away() && h2.is_remote();
        }
    }
    false
}

/// Whether an I/O error on a connection means the peer's end went away: a TCP reset or
/// abort, a write to a closed connection, a TLS session ended without `close_notify`
/// (rustls's unexpected EOF), or an HTTP/2 connection that ended (h2's broken pipe).
fn went_away(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset, UnexpectedEof};
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// Whether the server reset the request's HTTP/2 stream with `REFUSED_STREAM`: it did not
/// process the request (RFC 9113 8.7). Only the stream's own reset carries that code.
fn refused(e: &hyper_util::client::legacy::Error) -> bool {
    causes(e)
        .find_map(|c| c.downcast_ref::<h2::Error>())
        .is_some_and(|h2| {
            h2.is_reset() && h2.is_remote() && h2.reason() == Some(h2::Reason::REFUSED_STREAM)
        })
}

/// The most of a redirect's own body that is read (so its HTTP/1.1 connection goes back to the
/// pool for the next hop) rather than dropped with its connection.
const REDIRECT_BODY_DRAINED: usize = 64 * 1024;
/// How long reading a redirect's body may take before the connection is dropped instead.
const REDIRECT_BODY_WAIT: Duration = Duration::from_secs(1);

/// Reads a redirect's small body to its end, within the request's deadline and
/// [`REDIRECT_BODY_WAIT`]; a larger, slower or failing one is dropped (its connection closed).
async fn drain(body: Incoming, deadline: Option<Instant>) {
    let wait = Instant::now() + REDIRECT_BODY_WAIT;
    let until = deadline.map_or(wait, |deadline| deadline.min(wait));
    let limited = http_body_util::Limited::new(body, REDIRECT_BODY_DRAINED);
    let _ = ciranda::time::timeout_at(until, limited.collect()).await;
}

/// `body` as a [`Body`]: itself if it is one (so it stays repeatable), else wrapped.
fn into_body<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let mut slot = Some(body);
    match (&mut slot as &mut dyn Any).downcast_mut::<Option<Body>>() {
        Some(ours) => ours.take().expect("the slot was just filled"),
        None => Body::wrap(slot.take().expect("the slot was just filled")),
    }
}

/// `url` as it can be sent: an ASCII URL as it is written, byte for byte; one with
/// characters outside ASCII as the URL standard (the `url` crate, as for a redirect's
/// `Location`; browsers and aiohttp's yarl alike) serializes it: a host in IDNA's ASCII form
/// (`café.example` is `xn--caf-dma.example`), raw UTF-8 in the userinfo, path, query or
/// fragment percent-encoded (`/café` is `/caf%C3%A9`). That serialization also normalizes
/// what else the URL standard normalizes (dot segments, a default port, the host's case),
/// as it would in the same URL reached through a redirect.
///
/// # Errors
/// A non-ASCII URL that the URL standard does not parse (no scheme, a host that IDNA
/// refuses).
fn encode_non_ascii(url: &str) -> Result<std::borrow::Cow<'_, str>, url::ParseError> {
    if url.is_ascii() {
        return Ok(std::borrow::Cow::Borrowed(url));
    }
    Ok(std::borrow::Cow::Owned(Url::parse(url)?.into()))
}

/// Takes the credentials out of the request's URL into `Authorization` (see `userinfo`).
fn take_userinfo(parts: &mut http::request::Parts, url: &mut String) -> Result<(), Error> {
    userinfo::take(parts, url).map_err(|why| {
        let shown = userinfo::without_userinfo(url.as_str()).unwrap_or_default();
        Error::new(Kind::InvalidUrl, Some(shown), Some(why.into()))
    })
}

/// Rejects what the pool would otherwise turn into a vague error (or what must never reach a
/// connector): no scheme, a scheme other than http/https, no host, a port that is not one.
fn check_url(uri: &Uri) -> Result<(), Error> {
    let reason = match uri.scheme_str() {
        None => "the URL has no scheme (expected http:// or https://)".to_owned(),
        Some("http" | "https") if uri.host().is_none_or(str::is_empty) => {
            "the URL has no host".to_owned()
        }
        Some("http" | "https") => match uri.authority().and_then(|a| bad_port(a.as_str())) {
            None => return Ok(()),
            Some(port) => format!("the URL's port {port:?} is not a number from 0 to 65535"),
        },
        Some(other) => format!("unsupported scheme {other:?} (http and https are)"),
    };
    Err(Error::new(Kind::InvalidUrl, None, Some(reason.into())))
}

/// The port a URL of `uri`'s scheme means when it names none: 443 for `https`, 80 for `http`
/// (no other scheme gets this far).
pub(crate) fn default_port(uri: &Uri) -> Option<u16> {
    match uri.scheme_str() {
        Some("https") => Some(443),
        Some("http") => Some(80),
        _ => None,
    }
}

/// Leaves out of `uri` a port its scheme implies: `:443` after an `https` host, `:80` after
/// an `http` one, or an empty port (`host:`), however written (`:0443` too).
///
/// hyper-util's pool keys connections by scheme and authority as written, so `https://h/`
/// and `https://h:443/` would get a connection each, while the connection limits
/// (`limit::HostKey`) count them as one host: an HTTP/2 host's one shared place in
/// `max_connections` could then cover two connections, and HTTP/2 requests spelled both
/// ways would not share one. Without the port both reach the pool as one. The request
/// sent is the same: hyper-util writes `Host` without a default port already, and an
/// HTTP/2 `:authority` or an absolute-form target may leave it out (RFC 9110 4.2.3, 7.2),
/// as the URL standard's serialization does.
fn without_default_port(uri: &mut Uri) {
    let Some(default) = default_port(uri) else {
        return;
    };
    let Some(authority) = uri.authority() else {
        return;
    };
    let written = authority.as_str();
    // An IPv6 literal's colons are inside its brackets.
    let host_end = written.rfind(']').map_or(0, |end| end + 1);
    let Some(colon) = written[host_end..].rfind(':').map(|at| host_end + at) else {
        return;
    };
    let port = &written[colon + 1..];
    let digits = port.bytes().all(|b| b.is_ascii_digit());
    if !(digits && (port.is_empty() || port.parse::<u16>() == Ok(default))) {
        return;
    }
    let Ok(shorter) = http::uri::Authority::try_from(&written[..colon]) else {
        return;
    };
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(shorter);
    // The parts of a valid URI with another valid authority: this does not fail.
    if let Ok(rebuilt) = Uri::from_parts(parts) {
        *uri = rebuilt;
    }
}

/// The port of `authority` if it is written but is no port number (`99999`, `8o80`).
/// `http::Uri` takes any such authority, then reads no port from it, so the connector and
/// the `Host` header would fall back to the scheme's default port: another service than the
/// one named. An empty port (`host:`) is the default one (RFC 3986 3.2.3).
pub(crate) fn bad_port(authority: &str) -> Option<&str> {
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // An IPv6 literal's colons are inside its brackets.
    let after_host = host_port
        .rfind(']')
        .map_or(host_port, |end| &host_port[end + 1..]);
    let (_, port) = after_host.rsplit_once(':')?;
    let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    let fits = digits && port.parse::<u16>().is_ok();
    (!port.is_empty() && !fits).then_some(port)
}

/// Turns the pool's error into ours, keeping the connector's verdict on what failed.
fn classify(e: hyper_util::client::legacy::Error, url: String) -> Error {
    let verdict = causes(&e)
        .find_map(|c| c.downcast_ref::<ConnectError>())
        .map(|connect| (connect.kind, chain(connect)));
    if let Some((kind, detail)) = verdict {
        return Error::new(kind, Some(url), Some(Box::new(e))).with_detail(detail);
    }
    let kind = if e.is_connect() {
        Kind::Connect
    } else {
        Kind::Request
    };
    Error::new(kind, Some(url), Some(Box::new(e)))
}

/// The longest idle timeout handed to the pool, whose expiry task adds it to the current
/// instant unchecked (`Duration::MAX` would panic there): a hundred years, as good as forever.
const LONGEST_POOL_IDLE: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Builds a [`Client`] (`Client::builder()`).
///
/// Defaults: no overall timeout, no connect timeout (the operating system's), no limit on
/// the connections to one host or in all (see
/// [`max_connections_per_host`](ClientBuilder::max_connections_per_host) and
/// [`max_connections`](ClientBuilder::max_connections)), idle pooled
/// connections closed after 90 s, the webpki root certificates, user agent
/// `ciranda-http/VERSION`, HTTP/1.1 or HTTP/2 as ALPN decides over TLS and HTTP/1.1 over
/// plain TCP, up to 10 redirects followed, `gzip`, `deflate`, `br` and `zstd` bodies
/// decompressed, no limit on a body read whole (see
/// [`max_body_size`](ClientBuilder::max_body_size)), a cookie jar, no proxy (the
/// environment's only with [`trust_env`](ClientBuilder::trust_env)).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let client = ciranda_http::Client::builder()
///     .timeout(Duration::from_secs(10))
///     .connect_timeout(Duration::from_secs(2))
///     .user_agent("my-crawler/1.0")
///     .build()
///     .unwrap();
/// # drop(client);
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    pool_idle_timeout: Option<Duration>,
    pool_max_idle_per_host: usize,
    roots: Vec<Vec<u8>>,
    webpki_roots: bool,
    user_agent: Option<String>,
    http2_prior_knowledge: bool,
    max_redirects: usize,
    auto_decompress: bool,
    max_body_size: usize,
    cookie_jar: bool,
    proxy: Option<ProxyUrl>,
    no_proxy: String,
    trust_env: bool,
    max_connections_per_host: usize,
    max_connections: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// The default settings.
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            timeout: None,
            connect_timeout: None,
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: usize::MAX,
            roots: Vec::new(),
            webpki_roots: true,
            user_agent: Some(concat!("ciranda-http/", env!("CARGO_PKG_VERSION")).to_owned()),
            http2_prior_knowledge: false,
            max_redirects: 10,
            auto_decompress: true,
            max_body_size: usize::MAX,
            cookie_jar: true,
            proxy: None,
            no_proxy: String::new(),
            trust_env: false,
            max_connections_per_host: usize::MAX,
            max_connections: usize::MAX,
        }
    }

    /// The whole request — connecting, sending, the redirects followed, the last response's
    /// head and reading its body through [`Response`]'s methods — must finish within
    /// `timeout`, or fail with an [`is_timeout`](Error::is_timeout) error.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Resolving the host, connecting and the TLS handshake must finish within `timeout`.
    ///
    /// Without it a connection attempt still never waits long on one address: the host's
    /// addresses are tried in RFC 8305's order (its families alternating), and an attempt not
    /// answered within 250 ms gets the next address tried beside it ("Happy Eyeballs");
    /// the first to connect is used. So a first address that drops packets costs 250 ms,
    /// not the system's connect timeout of about two minutes.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Idle pooled connections are closed after `timeout` (`Duration::MAX`: never).
    pub fn pool_idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool_idle_timeout = Some(timeout);
        self
    }

    /// At most `max` idle connections are kept per host (0 disables reuse).
    pub fn pool_max_idle_per_host(mut self, max: usize) -> Self {
        self.pool_max_idle_per_host = max;
        self
    }

    /// Keeps at most `max` connections open at once to any one host, that is scheme, host
    /// and port (aiohttp's `TCPConnector(limit_per_host=max)`). Default: no limit, as before
    /// this setting existed and as in reqwest.
    ///
    /// A request that finds its host's connections all taken waits, behind the requests
    /// that came first, until one of them comes back to the pool for it or one closes and
    /// leaves room for a new one. That wait counts against the request's
    /// [`timeout`](ClientBuilder::timeout), not against
    /// [`connect_timeout`](ClientBuilder::connect_timeout), which starts when the
    /// connection does. A request dropped while it waits gives its place in line up, and
    /// one dropped while its connection is being made frees that connection's place. The limit is on connections, not requests: an HTTP/2 connection
    /// carries any number of requests at once (over TLS, until a host is known to speak
    /// HTTP/2, up to `max` connections may start at once; those that lose the race to be its
    /// HTTP/2 connection are closed). Every open connection counts, idle pooled
    /// ones included, until it closes; so does one whose response body is not yet read to
    /// its end (or dropped), so a program that holds `max` unread responses from one host
    /// and asks it for one more waits for that request's timeout (without one, for ever).
    /// Connections made through a [`RequestOptions::proxy`] are counted apart, per proxy.
    /// For a limit on all hosts together, see [`max_connections`](ClientBuilder::max_connections).
    ///
    /// Without a limit, a program that starts 10 000 requests to one host at once opens
    /// 10 000 connections, and may run out of file descriptors (`EMFILE`) or be turned away by
    /// the server: such a program should set one. There is no default limit because one
    /// would make a program that holds more responses open at once than the default (long
    /// polls, streams read side by side) wait where it worked before. `max` must be at least
    /// 1 ([`build`](ClientBuilder::build) fails on 0); `usize::MAX` is no limit.
    ///
    /// # Examples
    ///
    /// A hundred requests at once, over at most four connections:
    ///
    /// ```
    /// use ciranda_http::{Client, server};
    /// use http_body_util::Full;
    /// use hyper::body::Bytes;
    /// use hyper::service::service_fn;
    ///
    /// ciranda::run(async {
    ///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let url = format!("http://{}/", listener.local_addr().unwrap());
    ///     let service = service_fn(|_req| async {
    ///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
    ///     });
    ///     ciranda::spawn(server::serve(listener, service).into_future());
    ///
    ///     let client = Client::builder().max_connections_per_host(4).build().unwrap();
    ///     let bodies = ciranda::gather((0..100).map(|_| {
    ///         let (client, url) = (client.clone(), url.clone());
    ///         async move { client.get(&url).await?.text().await }
    ///     }))
    ///     .await;
    ///     assert!(bodies.iter().all(|body| body.as_deref().ok() == Some("hi")));
    /// });
    /// ```
    pub fn max_connections_per_host(mut self, max: usize) -> Self {
        self.max_connections_per_host = max;
        self
    }

    /// Keeps at most `max` connections *in use* at once, to all hosts together (aiohttp's
    /// `TCPConnector(limit=max)`, which counts the same way). Default: no limit, as before
    /// this setting existed and as in reqwest.
    ///
    /// A connection is in use from the moment a request asks for one until its response's
    /// body has been read to its end (or the response is dropped, or the request fails) and,
    /// for a [streamed](crate::Body::from_stream) request body still being sent once the
    /// response has been read (a server that answers first and reads on), until that body has
    /// been sent too (or fails); idle pooled connections do not count, so keep-alive connections to one host never hold
    /// back a request to another (the pool cannot close an idle connection on demand, so a
    /// limit on *open* connections would make such a request wait until they expire idle).
    /// The open connections are the ones in use plus the idle ones, which
    /// [`pool_idle_timeout`](ClientBuilder::pool_idle_timeout) and
    /// [`pool_max_idle_per_host`](ClientBuilder::pool_max_idle_per_host) bound. An HTTP/2
    /// connection carries any number of requests at once and counts once: the requests in
    /// flight to an HTTP/2 host share one place, and a request to a host that already has
    /// one goes ahead without waiting. (A request learns that its host speaks HTTP/2 when its
    /// first connection is made, over TLS through ALPN: until one has, each request to the
    /// host takes a place of its own, and gives it back once it sees HTTP/2.) With
    /// `pool_max_idle_per_host(0)` or a zero `pool_idle_timeout` the pool keeps no
    /// connection for the requests that follow, so HTTP/2 requests make connections of their
    /// own too, and each takes a place of its own.
    ///
    /// A request that finds every place taken waits, behind the requests that came first,
    /// until one is given back. The wait counts against the request's
    /// [`timeout`](ClientBuilder::timeout) (or [`RequestOptions::timeout`]), and ends with an
    /// [`is_timeout`](Error::is_timeout) error whose message says it was waiting for a
    /// connection; without a timeout it may wait for ever, for instance while the program
    /// holds `max` responses it has not read. A request dropped while it waits gives its place
    /// in line up. With [`max_connections_per_host`](ClientBuilder::max_connections_per_host)
    /// as well, a request whose host has that many connections in use waits for its host
    /// without taking a place from the others, and requests for other hosts behind it in line
    /// go first. Every pool counts against the one limit, those made for
    /// [`RequestOptions::proxy`] included. A response taken apart with
    /// [`Response::into_inner`] gives its place back then, whatever becomes of its body.
    ///
    /// There is no default limit (aiohttp's is 100) because aiohttp pairs its own with a
    /// five-minute default timeout, and this client has no default timeout: a default limit
    /// would make a program that holds more responses open at once than it (long polls,
    /// streams read side by side) hang where it worked before. `max` must be at least 1
    /// ([`build`](ClientBuilder::build) fails on 0); `usize::MAX` is no limit.
    ///
    /// # Examples
    ///
    /// Sixty requests to three servers at once, with at most four connections in use:
    ///
    /// ```
    /// use ciranda_http::{Client, server};
    /// use http_body_util::Full;
    /// use hyper::body::Bytes;
    /// use hyper::service::service_fn;
    /// use std::time::Duration;
    ///
    /// ciranda::run(async {
    ///     let mut urls = Vec::new();
    ///     for _ in 0..3 {
    ///         let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///         urls.push(format!("http://{}/", listener.local_addr().unwrap()));
    ///         let service = service_fn(|_req| async {
    ///             let body = Full::new(Bytes::from("hi"));
    ///             Ok::<_, std::convert::Infallible>(hyper::Response::new(body))
    ///         });
    ///         ciranda::spawn(server::serve(listener, service).into_future());
    ///     }
    ///
    ///     let client = Client::builder()
    ///         .max_connections(4)
    ///         .timeout(Duration::from_secs(30))
    ///         .build()
    ///         .unwrap();
    ///     let bodies = ciranda::gather((0..60).map(|i| {
    ///         let (client, url) = (client.clone(), urls[i % 3].clone());
    ///         async move { client.get(&url).await?.text().await }
    ///     }))
    ///     .await;
    ///     assert!(bodies.iter().all(|body| body.as_deref().ok() == Some("hi")));
    /// });
    /// ```
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Trusts `der` (a DER-encoded X.509 certificate) as a root, besides the webpki roots.
    /// An unusable certificate makes [`build`](ClientBuilder::build) fail.
    pub fn add_root_certificate(mut self, der: &[u8]) -> Self {
        self.roots.push(der.to_vec());
        self
    }

    /// Whether to trust the webpki (Mozilla) root certificates (default `true`); turn it off
    /// to trust only [`add_root_certificate`](ClientBuilder::add_root_certificate)'s.
    pub fn webpki_roots(mut self, enabled: bool) -> Self {
        self.webpki_roots = enabled;
        self
    }

    /// Sends `User-Agent: agent` unless a request sets its own. An agent that is not a valid
    /// header value makes [`build`](ClientBuilder::build) fail.
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = Some(agent.to_owned());
        self
    }

    /// Follows at most `max` redirects per request (default 10, as aiohttp); one more is an
    /// [`is_redirect`](Error::is_redirect) error. `0` follows none: a `3xx` response is
    /// returned as it is.
    ///
    /// Which statuses are followed, and what the next request keeps (method, body, headers),
    /// is aiohttp's and the browsers' rule: see [`Client`]'s "Redirects".
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Whether to ask for and undo compressed bodies (default `true`, aiohttp's
    /// `auto_decompress`, with aiohttp's optional Brotli and zstd support): requests say
    /// `Accept-Encoding: gzip, deflate, br, zstd` unless they set their own, and a response
    /// whose `Content-Encoding` is `gzip`, `deflate`, `br` or `zstd` is decompressed by
    /// [`Response`]'s body methods as it arrives (its headers stay as sent). Other codings
    /// (`compress`, several at once) are left as they came. With `false`, nothing is asked
    /// for and every body is returned as received. A body that is corrupt or cut short is
    /// a body error; so is one with more than 64 KiB after the end of its compressed data
    /// (less, padding as gzip(1) allows it, is ignored).
    pub fn auto_decompress(mut self, enabled: bool) -> Self {
        self.auto_decompress = enabled;
        self
    }

    /// [`Response::bytes`], [`Response::text`] and [`Response::text_with`] refuse a body
    /// larger than `bytes` with an [`is_body_too_large`](Error::is_body_too_large) error
    /// (default: no limit, as in aiohttp and reqwest). The limit counts the bytes these
    /// methods would return: a body the client decompresses (see
    /// [`auto_decompress`](ClientBuilder::auto_decompress)) is refused as soon as its
    /// decompressed bytes pass it, so a small compressed body that inflates to gigabytes (a
    /// decompression bomb) costs at most the limit and one decoding step's output (a few
    /// MiB), not all the memory there is; a body returned as it came is also refused at once
    /// when its `Content-Length` is larger. [`Response::chunks`] is not limited: it holds one
    /// chunk at a time, and a program reading it counts what it keeps. One request can set
    /// its own limit with [`RequestOptions::max_body_size`].
    ///
    /// There is no default limit because any number chosen here would break some program
    /// that reads a large body whole on purpose (a download, a data export), which aiohttp
    /// and reqwest programs do without a second thought; a client that reads bodies from
    /// servers it does not trust should set one.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = ciranda_http::Client::builder()
    ///     .max_body_size(16 * 1024 * 1024)
    ///     .build()
    ///     .unwrap();
    /// # drop(client);
    /// ```
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// Whether the client keeps cookies (default `true`, as aiohttp's session does): the
    /// `Set-Cookie` headers of every response (redirects included) go into a jar that all
    /// clones share, and each request carries the jar's cookies for its URL in `Cookie`,
    /// after any the request sets itself. See [`Client::cookies`] and
    /// [`Client::clear_cookies`].
    ///
    /// Unlike aiohttp's default jar, cookies from hosts named by an IP address are kept (as
    /// browsers keep them, for that host only).
    pub fn cookie_jar(mut self, enabled: bool) -> Self {
        self.cookie_jar = enabled;
        self
    }

    /// Sends every request through the HTTP proxy at `url` (aiohttp's `proxy=`), say
    /// `http://proxy.example:3128` or `http://user:password@proxy.example:3128`: plain `http`
    /// requests go to it with their URI in absolute form, `https` ones through a `CONNECT`
    /// tunnel, with the target's TLS inside; credentials in the URL are sent as
    /// `Proxy-Authorization: Basic`. An `https://` proxy is spoken to the same way over TLS
    /// (its certificate checked against the client's roots, port 443 by default), with an
    /// `https` target's TLS running inside the proxy's. A `socks5://` or `socks5h://` proxy
    /// (port 1080 by default; credentials as RFC 1929's username and password) tunnels
    /// every request, `http` ones included; `socks5://` resolves the target's name here and
    /// sends the first address, `socks5h://` lets the proxy resolve it. Hosts listed by
    /// [`no_proxy`](ClientBuilder::no_proxy) are reached directly. A request's own
    /// `Proxy-Authorization` goes to a proxy that forwards it (plain `http` through an HTTP
    /// proxy) and is never sent on to a target through a tunnel: put the proxy's credentials
    /// in its URL. Overrides
    /// [`trust_env`](ClientBuilder::trust_env). One request can name its own proxy with
    /// [`RequestOptions::proxy`].
    ///
    /// Only `http://`, `https://`, `socks5://` and `socks5h://` proxies are supported:
    /// another scheme (`socks4://`), a URL that does not parse or a port that is not a number
    /// from 0 to 65535 makes [`build`](ClientBuilder::build) fail.
    pub fn proxy(mut self, url: &str) -> Self {
        self.proxy = Some(ProxyUrl(url.to_owned()));
        self
    }

    /// Destinations that bypass [`proxy`](ClientBuilder::proxy), in `NO_PROXY`'s syntax (as
    /// curl and Python's `urllib` read it): comma-separated host names (each also covering
    /// its subdomains; a leading dot changes nothing), IP addresses (an IPv6 one bare or in
    /// brackets: `::1`, `[::1]`) and networks (`10.0.0.0/8`), or `*` for all. A name or
    /// address may name a port (`example.com:8080`, `.example.com:8080`, `10.1.2.3:8080`,
    /// `[::1]:8080`), and then bypasses that port only; a URL without a port has its
    /// scheme's (80 or 443). Names are not resolved: an address entry covers URLs that
    /// name the address. Entries that cannot be read (`example.com:99999`) are ignored.
    ///
    /// # Examples
    ///
    /// ```
    /// let client = ciranda_http::Client::builder()
    ///     .proxy("http://proxy.example:3128")
    ///     .no_proxy("localhost, .internal.example, 10.0.0.0/8, [::1]:8080")
    ///     .build()?;
    /// # Ok::<(), ciranda_http::Error>(())
    /// ```
    pub fn no_proxy(mut self, list: &str) -> Self {
        self.no_proxy = list.to_owned();
        self
    }

    /// Whether to take the proxies from the environment when the client is built (default
    /// `false`, as aiohttp's `trust_env`): `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY`, upper or lower case, as curl reads them, `NO_PROXY` with the forms
    /// [`no_proxy`](ClientBuilder::no_proxy) takes (`HTTP_PROXY` is ignored when
    /// `REQUEST_METHOD` says the process runs as a CGI script). The kinds
    /// [`proxy`](ClientBuilder::proxy) takes are spoken to; a request routed to another
    /// (`socks4://`) fails with a connect error.
    pub fn trust_env(mut self, enabled: bool) -> Self {
        self.trust_env = enabled;
        self
    }

    /// Speaks HTTP/2 without negotiating it, to servers known to accept it (`curl
    /// --http2-prior-knowledge`); every request to a host shares one connection.
    pub fn http2_prior_knowledge(mut self) -> Self {
        self.http2_prior_knowledge = true;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// An added root certificate that rustls cannot use, a user agent that is not a valid
    /// header value, or a [`max_connections_per_host`](ClientBuilder::max_connections_per_host)
    /// or [`max_connections`](ClientBuilder::max_connections) of 0 ([`Error::is_builder`]).
    pub fn build(self) -> Result<Client, Error> {
        let builder_err = |msg: String| Error::new(Kind::Builder, None, Some(msg.into()));
        let max_connections_per_host = match self.max_connections_per_host {
            0 => {
                return Err(builder_err(
                    "max_connections_per_host must be at least 1".into(),
                ));
            }
            max if max > crate::limit::MOST => None,
            max => Some(max),
        };
        let in_use = match self.max_connections {
            0 => return Err(builder_err("max_connections must be at least 1".into())),
            usize::MAX => None,
            max => Some(InUseLimit::new(max, max_connections_per_host)),
        };
        let mut roots = rustls::RootCertStore::empty();
        if self.webpki_roots {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for der in &self.roots {
            roots
                .add(rustls_pki_types::CertificateDer::from(der.clone()))
                .map_err(|e| builder_err(format!("unusable root certificate: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| builder_err(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = if self.http2_prior_knowledge {
            vec![b"h2".to_vec()]
        } else {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        };
        let user_agent = self
            .user_agent
            .map(|ua| {
                HeaderValue::from_str(&ua)
                    .map_err(|_| builder_err(format!("invalid user agent {ua:?}")))
            })
            .transpose()?;

        let mut pool = hyper_util::client::legacy::Client::builder(CirandaExecutor::new());
        pool.timer(CirandaTimer::new())
            .pool_timer(CirandaTimer::new())
            // hyper-util's expiry task adds the timeout to the current instant unchecked.
            .pool_idle_timeout(self.pool_idle_timeout.map(|t| t.min(LONGEST_POOL_IDLE)))
            .pool_max_idle_per_host(self.pool_max_idle_per_host)
            .http2_only(self.http2_prior_knowledge);
        let proxies = match (&self.proxy, self.trust_env) {
            (Some(ProxyUrl(url)), _) => {
                Some(Proxies::fixed(url, &self.no_proxy).map_err(builder_err)?)
            }
            (None, true) => Some(Proxies::from_env()),
            (None, false) => None,
        }
        .map(Arc::new);
        let tls = Arc::new(tls);
        Ok(Client {
            route: Route::new(
                &pool,
                &tls,
                self.connect_timeout,
                proxies,
                max_connections_per_host,
            ),
            config: Arc::new(Config {
                timeout: self.timeout,
                user_agent,
                max_redirects: self.max_redirects,
                auto_decompress: self.auto_decompress,
                max_body_size: self.max_body_size,
                jar: self.cookie_jar.then(Jar::new),
                pool_builder: pool,
                tls,
                connect_timeout: self.connect_timeout,
                max_connections_per_host,
                in_use,
                http2_only: self.http2_prior_knowledge,
                http2_shared: self.pool_max_idle_per_host > 0
                    && self.pool_idle_timeout != Some(Duration::ZERO),
                by_proxy: Mutex::new(RecentlyUsed::new(MAX_PROXY_POOLS)),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_that_is_no_port_number_is_found() {
        for (authority, bad) in [
            ("example.com", None),
            ("example.com:8080", None),
            ("example.com:0", None),
            ("example.com:65535", None),
            ("example.com:", None),
            ("user:pw@example.com:443", None),
            ("[::1]:8443", None),
            ("[::1]", None),
            ("example.com:65536", Some("65536")),
            ("example.com:99999", Some("99999")),
            ("example.com:8o80", Some("8o80")),
            ("example.com:+80", Some("+80")),
            ("[::1]:x", Some("x")),
        ] {
            assert_eq!(bad_port(authority), bad, "{authority}");
        }
    }

    #[test]
    fn a_default_port_is_left_out_for_the_pool() {
        for (written, sent) in [
            ("https://h/", "https://h/"),
            ("https://h:443/", "https://h/"),
            ("https://H:443/a?b=1", "https://H/a?b=1"),
            ("https://h:0443/", "https://h/"),
            ("https://h:/", "https://h/"),
            ("https://user:pw@h:443/", "https://user:pw@h/"),
            ("https://[::1]:443/", "https://[::1]/"),
            ("https://[::1]/", "https://[::1]/"),
            ("http://h:80/x", "http://h/x"),
            ("http://127.0.0.1:80/", "http://127.0.0.1/"),
            // Another port, or another scheme's default, stays.
            ("https://h:80/", "https://h:80/"),
            ("http://h:443/", "http://h:443/"),
            ("https://h:8443/", "https://h:8443/"),
            ("https://[::1]:8443/", "https://[::1]:8443/"),
            ("http://h:8080/", "http://h:8080/"),
            ("http://[::443]/", "http://[::443]/"),
        ] {
            let mut uri: Uri = written.parse().unwrap();
            without_default_port(&mut uri);
            assert_eq!(uri, sent, "{written}");
            // The limits already counted both spellings as one host.
            assert_eq!(
                crate::limit::HostKey::of(&uri),
                crate::limit::HostKey::of(&written.parse().unwrap()),
                "{written}"
            );
        }
    }

    #[test]
    fn a_printed_builder_hides_the_proxys_password() {
        let builder = ClientBuilder::new().proxy("http://user:secret@proxy.example:3128");
        let printed = format!("{builder:?}");
        assert!(
            !printed.contains("secret") && !printed.contains("user:"),
            "{printed}"
        );
        assert!(
            printed.contains("http://***@proxy.example:3128"),
            "{printed}"
        );
        let plain = format!(
            "{:?}",
            ClientBuilder::new().proxy("http://proxy.example:3128")
        );
        assert!(plain.contains("http://proxy.example:3128"), "{plain}");
    }
}
