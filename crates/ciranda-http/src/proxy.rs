//! HTTP proxies (aiohttp's `proxy=` and `trust_env=True`): which requests go through one, and
//! the `CONNECT` tunnel that carries an `https` request through it.
//!
//! | target  | through the proxy                                                          |
//! |---------|----------------------------------------------------------------------------|
//! | `http`  | the request itself, its URI in absolute form, `Proxy-Authorization` added  |
//! | `https` | a `CONNECT host:port` tunnel, then TLS with the target inside it           |
//!
//! The proxy is spoken to over plain TCP (`http://` proxies) or over TLS of its own
//! (`https://` proxies: the proxy's certificate is checked against the client's roots, and
//! an `https` target's TLS then runs inside the proxy's). A `socks5://` or `socks5h://`
//! proxy tunnels every request instead (see `socks`). Which destinations use one is
//! hyper-util's `Matcher`; `NO_PROXY`'s exceptions are read by `no_proxy` (curl's rules, and
//! Python's ports and bracketed IPv6 addresses, which the matcher does not read).

use crate::client::bad_port;
use crate::connect::ConnectError;
use crate::error::Kind;
use crate::no_proxy::NoProxy;
use ciranda::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use std::fmt;

/// A proxy URL whose `Debug` hides the credentials it may carry (a builder or request options
/// printed in a log must not leak the proxy's password).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ProxyUrl(pub(crate) String);

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&hide_userinfo(&self.0), f)
    }
}

/// `url` as a message may show it: its userinfo (`user:password@`), if it has one, replaced
/// by `***` (`http://***@proxy.example:3128`), so a log shows that there were credentials
/// but not what they were. For proxy URLs and for a redirect's `Location`, which may be
/// malformed or relative, so the authority is found as the URL standard finds it: after a
/// scheme and any slashes (`https:user:pw@host` and `http:\\host` have one too), or after
/// two slashes with no scheme (`//user:pw@host`), up to the first `/`, `\`, `?` or `#`; its
/// userinfo ends at its last `@`.
pub(crate) fn hide_userinfo(url: &str) -> String {
    let is_scheme = |scheme: &str| {
        let mut bytes = scheme.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    };
    let scheme_len = url
        .find(':')
        .filter(|&colon| is_scheme(&url[..colon]))
        .map_or(0, |colon| colon + 1);
    let after_scheme = &url[scheme_len..];
    let slashes = after_scheme.len() - after_scheme.trim_start_matches(['/', '\\']).len();
    if scheme_len == 0 && slashes < 2 {
        // A path, not an authority.
        return url.to_owned();
    }
    let start = scheme_len + slashes;
    let rest = &url[start..];
    let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{}***@{}", &url[..start], &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The proxies a client uses, by destination.
pub(crate) struct Proxies {
    matcher: Matcher,
    /// The destinations that bypass the matcher's proxies.
    no_proxy: NoProxy,
}

/// The longest `CONNECT` response head read before the proxy is given up on.
const MAX_CONNECT_HEAD: usize = 16 * 1024;

impl Proxies {
    /// The proxy `url` for every destination, except those `no_proxy` lists (`NO_PROXY`'s
    /// syntax, see `no_proxy`).
    ///
    /// # Errors
    /// A URL that does not parse or is not an `http://`, `https://`, `socks5://` or
    /// `socks5h://` URL, as a message.
    pub(crate) fn fixed(url: &str, no_proxy: &str) -> Result<Proxies, String> {
        // The URL as the messages show it: without its password, as `ProxyUrl`'s `Debug`.
        let shown = ProxyUrl(url.to_owned());
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("the proxy URL {shown:?} does not parse: {e}"))?;
        if uri.scheme_str().and_then(ProxyKind::of).is_none() || uri.host().is_none() {
            return Err(format!("unsupported proxy URL {shown:?}: {SUPPORTED}"));
        }
        // Not the scheme's default port instead (see `bad_port`).
        if let Some(port) = uri.authority().and_then(|a| bad_port(a.as_str())) {
            return Err(format!(
                "the proxy URL {shown:?} has a port {port:?} that is not a number from 0 to 65535"
            ));
        }
        let matcher = Matcher::builder().all(url).build();
        Ok(Proxies {
            matcher,
            no_proxy: NoProxy::parse(no_proxy),
        })
    }

    /// The proxies the environment names: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY` (or their lowercase forms), read now.
    pub(crate) fn from_env() -> Proxies {
        // The matcher reads `NO_PROXY` too, by curl's rules, which `NoProxy` keeps: what it
        // bypasses, `NoProxy` bypasses already.
        let no_proxy = ["NO_PROXY", "no_proxy"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok())
            .unwrap_or_default();
        Proxies {
            matcher: Matcher::from_env(),
            no_proxy: NoProxy::parse(&no_proxy),
        }
    }

    /// The proxy for a request to `target`, if it goes through one.
    pub(crate) fn intercept(&self, target: &Uri) -> Option<Intercept> {
        if self.no_proxy.matches(target) {
            return None;
        }
        self.matcher.intercept(target)
    }
}

const SUPPORTED: &str = "only http://, https://, socks5:// and socks5h:// proxies are supported";

/// How a proxy is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProxyKind {
    /// `http://`: plain TCP.
    Http,
    /// `https://`: TLS with the proxy itself first.
    Https,
    /// `socks5://` (`remote_dns: false`: the target's name is resolved here) or
    /// `socks5h://` (the proxy resolves it).
    Socks5 { remote_dns: bool },
}

impl ProxyKind {
    fn of(scheme: &str) -> Option<ProxyKind> {
        match scheme {
            "http" => Some(ProxyKind::Http),
            "https" => Some(ProxyKind::Https),
            "socks5" => Some(ProxyKind::Socks5 { remote_dns: false }),
            "socks5h" => Some(ProxyKind::Socks5 { remote_dns: true }),
            _ => None,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            ProxyKind::Http => 80,
            ProxyKind::Https => 443,
            ProxyKind::Socks5 { .. } => 1080,
        }
    }
}

/// Where a proxy is and how it is spoken to.
pub(crate) struct ProxyAddress {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) kind: ProxyKind,
}

/// The proxy's host, port (by default 80, 443 or 1080 as the scheme says) and kind, or why
/// it cannot be used.
pub(crate) fn proxy_address(proxy: &Intercept) -> Result<ProxyAddress, ConnectError> {
    let uri = proxy.uri();
    let Some(kind) = uri.scheme_str().and_then(ProxyKind::of) else {
        return Err(ConnectError::new(
            Kind::Connect,
            format!("unsupported proxy {uri}: {SUPPORTED}"),
            None,
        ));
    };
    let host = uri.host().ok_or_else(|| {
        ConnectError::new(Kind::Connect, format!("the proxy {uri} has no host"), None)
    })?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(kind.default_port());
    Ok(ProxyAddress { host, port, kind })
}

/// Asks the proxy at the other end of `stream` for a tunnel to `host:port` and waits for its
/// answer; on `Ok` the stream carries the target's bytes.
pub(crate) async fn tunnel<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    host: &str,
    port: u16,
    auth: Option<&HeaderValue>,
) -> Result<(), ConnectError> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = auth {
        request.extend_from_slice(b"Proxy-Authorization: ");
        request.extend_from_slice(auth.as_bytes());
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"\r\n");
    let failed = |what: &str, e: std::io::Error| {
        ConnectError::new(
            Kind::Connect,
            format!("{what} (tunnel to {authority})"),
            Some(e),
        )
    };
    // Flushed: through an `https://` proxy the request may sit in the TLS session's buffer
    // (a write the socket could not take at once), and the answer would never come.
    stream
        .write_all(&request)
        .await
        .map_err(|e| failed("sending CONNECT to the proxy failed", e))?;
    stream
        .flush()
        .await
        .map_err(|e| failed("sending CONNECT to the proxy failed", e))?;

    // The proxy sends nothing after its head until the client speaks (TLS starts with the
    // client's hello), so reading in chunks cannot swallow the target's first bytes.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head_is_complete(&head) {
        if head.len() > MAX_CONNECT_HEAD {
            return Err(ConnectError::new(
                Kind::Connect,
                format!("the proxy's answer to CONNECT {authority} has no end"),
                None,
            ));
        }
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| failed("reading the proxy's answer failed", e))?;
        if n == 0 {
            return Err(ConnectError::new(
                Kind::Connect,
                format!("the proxy closed the connection instead of answering CONNECT {authority}"),
                None,
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let status_line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let status_line = String::from_utf8_lossy(status_line).trim_end().to_owned();
    let code = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.get(2..5))
        .and_then(|code| code.parse::<u16>().ok());
    match code {
        Some(200..=299) => Ok(()),
        Some(_) => Err(ConnectError::new(
            Kind::Connect,
            format!("the proxy refused the tunnel to {authority}: {status_line}"),
            None,
        )),
        None => Err(ConnectError::new(
            Kind::Connect,
            format!("the proxy's answer to CONNECT {authority} is not HTTP: {status_line:?}"),
            None,
        )),
    }
}

/// `true` once `head` holds the empty line that ends an answer's head. Lines end with CRLF or,
/// as RFC 9112 2.2 lets a recipient accept, a lone LF (some small proxies send those).
fn head_is_complete(head: &[u8]) -> bool {
    head.windows(2).any(|w| w == b"\n\n") || head.windows(3).any(|w| w == b"\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_userinfo_is_hidden_wherever_the_url_standard_finds_an_authority() {
        for (url, shown) in [
            (
                "http://user:pw@proxy.example:3128",
                "http://***@proxy.example:3128",
            ),
            ("socks5h://pw@[::1]:1080", "socks5h://***@[::1]:1080"),
            ("http://proxy.example:3128", "http://proxy.example:3128"),
            // The path, query and fragment stay as they are, `@`s and all.
            (
                "http://u:pw@host/a@b?c@d#e@f",
                "http://***@host/a@b?c@d#e@f",
            ),
            ("http://host/a@b", "http://host/a@b"),
            ("http://a:b@c:pw@host/", "http://***@host/"),
            // Forms a `Location` may take.
            ("//u:pw@host/x", "//***@host/x"),
            ("https:u:pw@host/", "https:***@host/"),
            ("http:\\\\u:pw@host\\x@y", "http:\\\\***@host\\x@y"),
            ("/a@b", "/a@b"),
            ("a@b", "a@b"),
            ("?q=a@b", "?q=a@b"),
            ("user:pw@host", "user:***@host"),
            ("", ""),
        ] {
            assert_eq!(hide_userinfo(url), shown, "{url}");
            assert_eq!(
                format!("{:?}", ProxyUrl(url.to_owned())),
                format!("{shown:?}")
            );
        }
    }
}
