//! `Error`: what went wrong with a request, and with which URL.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error from a body, a connector or hyper.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The URL does not parse, has no host, or its scheme is not `http`/`https`.
    InvalidUrl,
    /// Resolving the host or opening the TCP connection failed.
    Connect,
    /// The TLS handshake failed (untrusted certificate, wrong name, no common protocol).
    Tls,
    /// The request (or connecting) did not finish within its timeout.
    Timeout,
    /// The request was sent but the exchange failed (reset, malformed response, closed
    /// mid-body).
    Request,
    /// Reading the response body failed.
    Body,
    /// The response body was not valid text in its charset (`text()`), or the charset was
    /// unknown (`text_with`).
    Decode,
    /// The response body's `gzip`, `deflate`, `br` or `zstd` coding could not be undone
    /// (corrupt, or cut short).
    Decompress,
    /// The response body is larger than the limit set for reading it whole
    /// (`max_body_size`).
    BodyTooLarge,
    /// Building the client failed (an unusable root certificate, a bad user agent).
    Builder,
    /// A redirect could not be followed: too many of them, or a `Location` that is not an
    /// `http`/`https` URL.
    Redirect,
}

/// An HTTP client error (`aiohttp.ClientError`): `Display` names the URL and the cause.
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let client = ciranda_http::Client::new();
///     let err = client.get("ftp://example.com/").await.unwrap_err();
///     assert!(err.is_invalid_url());
///     assert!(err.to_string().contains("ftp://example.com/"));
/// });
/// ```
pub struct Error {
    kind: Kind,
    url: Option<String>,
    source: Option<BoxError>,
    /// Says what failed better than the generic text plus the whole chain would (the
    /// connector's own message, without the pool's wrapping).
    detail: Option<String>,
}

impl Error {
    pub(crate) fn new(kind: Kind, url: Option<String>, source: Option<BoxError>) -> Error {
        Error {
            kind,
            url,
            source,
            detail: None,
        }
    }

    pub(crate) fn with_detail(mut self, detail: String) -> Error {
        self.detail = Some(detail);
        self
    }

    pub(crate) fn with_url(mut self, url: &str) -> Error {
        if self.url.is_none() {
            self.url = Some(url.to_owned());
        }
        self
    }

    /// The request (or its connection, or reading its body) ran past a timeout.
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout
    }

    /// Resolving the host or opening the connection failed (refused, unreachable, no such
    /// host).
    pub fn is_connect(&self) -> bool {
        self.kind == Kind::Connect || self.kind == Kind::Tls
    }

    /// The TLS handshake failed: the server's certificate is not trusted or does not name the
    /// host, or no protocol version or cipher was shared. A TLS error is also a connect error.
    pub fn is_tls(&self) -> bool {
        self.kind == Kind::Tls
    }

    /// The URL does not parse, lacks a host, or uses a scheme other than `http`/`https`.
    pub fn is_invalid_url(&self) -> bool {
        self.kind == Kind::InvalidUrl
    }

    /// Reading, decompressing or decoding the response body failed (a body over
    /// [`max_body_size`](crate::ClientBuilder::max_body_size) included).
    pub fn is_body(&self) -> bool {
        matches!(
            self.kind,
            Kind::Body | Kind::Decode | Kind::Decompress | Kind::BodyTooLarge
        )
    }

    /// The response body is larger than the limit
    /// [`ClientBuilder::max_body_size`](crate::ClientBuilder::max_body_size) (or
    /// [`RequestOptions::max_body_size`](crate::RequestOptions::max_body_size)) sets for
    /// [`Response::bytes`](crate::Response::bytes) and the `text` methods: its
    /// `Content-Length` said so, or its bytes (decompressed, if the client undoes its
    /// coding) went past the limit. Such an error is also a body error
    /// ([`is_body`](Error::is_body)); its message names the limit.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ciranda::run(async {
    /// let client = ciranda_http::Client::builder().max_body_size(1 << 20).build()?;
    /// match client.get("http://example.com/huge").await?.bytes().await {
    ///     Ok(body) => println!("{} bytes", body.len()),
    ///     Err(e) if e.is_body_too_large() => println!("too large: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), ciranda_http::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn is_body_too_large(&self) -> bool {
        self.kind == Kind::BodyTooLarge
    }

    /// Building the client failed.
    pub fn is_builder(&self) -> bool {
        self.kind == Kind::Builder
    }

    /// A redirect could not be followed (aiohttp's `TooManyRedirects` and
    /// `InvalidUrlRedirectClientError`): more than
    /// [`max_redirects`](crate::ClientBuilder::max_redirects) of them, or a `Location` that is
    /// not an `http`/`https` URL. [`url`](Error::url) is the URL whose response redirected.
    pub fn is_redirect(&self) -> bool {
        self.kind == Kind::Redirect
    }

    /// The URL of the request that failed, if there was one.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ciranda_http::Error");
        d.field("kind", &self.kind);
        if let Some(url) = &self.url {
            d.field("url", url);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::InvalidUrl => "invalid URL",
            Kind::Connect => "connection failed",
            Kind::Tls => "TLS handshake failed",
            Kind::Timeout => "timed out",
            Kind::Request => "request failed",
            Kind::Body => "reading the response body failed",
            Kind::Decode => "response body is not valid text in its charset",
            Kind::Decompress => "could not decompress the response body",
            Kind::BodyTooLarge => "the response body is larger than its limit",
            Kind::Builder => "could not build the client",
            Kind::Redirect => "redirect not followed",
        };
        if let Some(url) = &self.url {
            write!(f, "{url}: ")?;
        }
        match (&self.detail, &self.source) {
            (Some(detail), _) => f.write_str(detail),
            (None, Some(source)) => write!(f, "{what}: {}", chain(&**source)),
            (None, None) => f.write_str(what),
        }
    }
}

/// `e`, then each error it wraps (its `source()`, and that one's, ...).
pub(crate) fn causes<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |&c| c.source())
}

/// An error and its causes on one line (hyper's errors wrap the I/O error that says why).
pub(crate) fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    for c in causes(e).skip(1) {
        out.push_str(": ");
        out.push_str(&c.to_string());
    }
    out
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}
