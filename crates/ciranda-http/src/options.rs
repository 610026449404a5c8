//! Per-request settings that override the client's (aiohttp's per-request keyword arguments).

use crate::proxy::ProxyUrl;
use std::time::Duration;

/// Settings for one request that override the [`Client`](crate::Client)'s, as aiohttp's
/// per-request `allow_redirects`, `max_redirects`, `timeout`, `auto_decompress` and `proxy`
/// arguments do (and, with no aiohttp counterpart, the limit on a body read whole). Pass it to [`Client::get_with`](crate::Client::get_with) or
/// [`Client::post_with`](crate::Client::post_with), or put it in a request's extensions and
/// send that with [`Client::request`](crate::Client::request); what it leaves unset keeps
/// the client's setting.
///
/// # Examples
///
/// `session.get(url, allow_redirects=False, timeout=ClientTimeout(total=5))`:
///
/// ```no_run
/// use ciranda_http::{Body, Client, RequestOptions};
/// use std::time::Duration;
///
/// # ciranda::run(async {
/// let client = Client::new();
/// let request = http::Request::get("https://example.com/old")
///     .extension(RequestOptions::new().max_redirects(0).timeout(Duration::from_secs(5)))
///     .body(Body::empty())
///     .unwrap();
/// let response = client.request(request).await?;
/// println!("{} -> {:?}", response.status(), response.headers().get("location"));
/// # Ok::<(), ciranda_http::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    pub(crate) max_redirects: Option<usize>,
    pub(crate) timeout: Option<Option<Duration>>,
    pub(crate) auto_decompress: Option<bool>,
    pub(crate) proxy: Option<ProxyUrl>,
    pub(crate) max_body_size: Option<usize>,
}

impl RequestOptions {
    /// Options that change nothing: every setting is the client's.
    ///
    /// ```
    /// assert_eq!(ciranda_http::RequestOptions::new(), Default::default());
    /// ```
    pub fn new() -> RequestOptions {
        RequestOptions::default()
    }

    /// Follow at most `max` redirects for this request; `0` returns a redirect as it is
    /// (aiohttp's `allow_redirects=False`). See
    /// [`ClientBuilder::max_redirects`](crate::ClientBuilder::max_redirects).
    ///
    /// ```
    /// let options = ciranda_http::RequestOptions::new().max_redirects(0);
    /// # drop(options);
    /// ```
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = Some(max);
        self
    }

    /// This request — redirects and reading the body included — must finish within
    /// `timeout`, instead of the client's [`timeout`](crate::ClientBuilder::timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = ciranda_http::RequestOptions::new().timeout(Duration::from_secs(5));
    /// # drop(options);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(Some(timeout));
        self
    }

    /// This request has no time limit, whatever the client's
    /// [`timeout`](crate::ClientBuilder::timeout) (aiohttp's `timeout=ClientTimeout(total=None)`).
    ///
    /// ```
    /// let options = ciranda_http::RequestOptions::new().no_timeout();
    /// # drop(options);
    /// ```
    pub fn no_timeout(mut self) -> Self {
        self.timeout = Some(None);
        self
    }

    /// Ask for and decompress a compressed body for this request, or not. See
    /// [`ClientBuilder::auto_decompress`](crate::ClientBuilder::auto_decompress).
    ///
    /// ```
    /// let options = ciranda_http::RequestOptions::new().auto_decompress(false);
    /// # drop(options);
    /// ```
    pub fn auto_decompress(mut self, enabled: bool) -> Self {
        self.auto_decompress = Some(enabled);
        self
    }

    /// Sends this request, and the redirects it follows, through the proxy at `url`
    /// (aiohttp's per-request `proxy=`), in place of the client's proxy settings: every
    /// destination goes through it, and neither [`no_proxy`](crate::ClientBuilder::no_proxy)
    /// nor the environment is consulted. The URL has the form
    /// [`ClientBuilder::proxy`](crate::ClientBuilder::proxy) takes; one it cannot use fails
    /// the request with an error for which [`Error::is_builder`](crate::Error::is_builder)
    /// holds. Connections made through it are pooled apart from the client's others, and
    /// reused by later requests naming the same URL. The client keeps such pools for the 32
    /// proxy URLs used most recently: a program that rotates through more (a session id in
    /// each username, say) closes the idle connections of the one used least recently
    /// rather than keeping them all. The options' `Debug` hides the URL's password.
    ///
    /// ```
    /// let options = ciranda_http::RequestOptions::new().proxy("http://user:pw@proxy.example:3128");
    /// assert!(!format!("{options:?}").contains("pw"));
    /// ```
    pub fn proxy(mut self, url: &str) -> Self {
        self.proxy = Some(ProxyUrl(url.to_owned()));
        self
    }

    /// [`Response::bytes`](crate::Response::bytes) and the `text` methods refuse a body of
    /// this request larger than `bytes`, in place of the client's
    /// [`max_body_size`](crate::ClientBuilder::max_body_size) (`usize::MAX`: no limit). See
    /// there for what counts.
    ///
    /// ```
    /// let options = ciranda_http::RequestOptions::new().max_body_size(64 * 1024 * 1024);
    /// # drop(options);
    /// ```
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = Some(bytes);
        self
    }
}
