//! Following redirects (aiohttp's `allow_redirects`, on by default): which answers are
//! followed, what the next request keeps of the last one, and when the chain stops.
//!
//! | status        | next method                         | next body          |
//! |---------------|-------------------------------------|--------------------|
//! | 301, 302      | `GET` if it was `POST`, else kept   | none after `POST`, else kept |
//! | 303           | `GET` (a `HEAD` stays `HEAD`)       | none               |
//! | 307, 308      | kept                                | kept               |
//!
//! A kept body must be one the client can send again (made from bytes, or empty); a streamed
//! one was consumed by the first request, so the redirect response itself is returned. So is
//! a redirect status without a `Location`. When the next URL has another origin (scheme, host
//! or port), the credentials meant for the first one (`Authorization`, `Proxy-Authorization`,
//! `Cookie`) and an explicit `Host` are not sent on.

use crate::body::Body;
use crate::error::{Error, Kind};
use crate::proxy::hide_userinfo;
use crate::resend::Resend;
use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode, Uri, request};
use url::Url;

/// The request a redirect leads to.
pub(crate) struct Hop {
    pub(crate) parts: request::Parts,
    pub(crate) body: Body,
    /// The next URL, as the errors and the final [`Response::url`](crate::Response::url)
    /// show it.
    pub(crate) url: String,
}

/// Headers that describe a body: dropped with the body when a redirect turns the request into
/// a `GET`.
const BODY_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_LANGUAGE,
    header::CONTENT_LOCATION,
    header::TRANSFER_ENCODING,
];

/// Headers meant for one origin only.
const ORIGIN_HEADERS: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::COOKIE,
    header::HOST,
];

/// The request to send after a response with `status` and `headers` to the request for
/// `current`, or `None` if that response is the answer. `followed` redirects were followed
/// before this one; following more than `max` is an error.
///
/// # Errors
/// More than `max` redirects, or a `Location` that is not an `http`/`https` URL
/// ([`Error::is_redirect`]).
pub(crate) fn next(
    status: StatusCode,
    headers: &HeaderMap,
    current: &str,
    resend: Resend,
    followed: usize,
    max: usize,
) -> Result<Option<Hop>, Error> {
    let method = match status {
        StatusCode::SEE_OTHER if resend.method == Method::HEAD => Method::HEAD,
        StatusCode::SEE_OTHER => Method::GET,
        StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND if resend.method == Method::POST => {
            Method::GET
        }
        StatusCode::MOVED_PERMANENTLY
        | StatusCode::FOUND
        | StatusCode::TEMPORARY_REDIRECT
        | StatusCode::PERMANENT_REDIRECT => resend.method.clone(),
        _ => return Ok(None),
    };
    let Some(location) = headers.get(header::LOCATION) else {
        return Ok(None);
    };
    let fail = |reason: String| {
        Err(Error::new(
            Kind::Redirect,
            Some(current.to_owned()),
            Some(reason.into()),
        ))
    };
    if followed >= max {
        return fail(format!("more than {max} redirects"));
    }
    // UTF-8, not only the visible ASCII `to_str` takes: servers send raw UTF-8 in a
    // `Location`, and the URL parser percent-encodes it as browsers do.
    let Ok(location) = std::str::from_utf8(location.as_bytes()) else {
        // Shown without its credentials, as every `Location` below.
        let shown = hide_userinfo(&String::from_utf8_lossy(location.as_bytes()));
        return fail(format!("the Location header {shown:?} is not UTF-8 text"));
    };
    // A `Location` may carry credentials (`http://user:password@host/`): the messages
    // below, which end up in logs, show it without them.
    let shown = hide_userinfo(location);
    let base = match Url::parse(current) {
        Ok(base) => base,
        Err(e) => return fail(format!("the URL redirected from does not parse: {e}")),
    };
    let mut target = match base.join(location) {
        Ok(target) => target,
        Err(e) => return fail(format!("the Location {shown:?} is not a URL: {e}")),
    };
    if !matches!(target.scheme(), "http" | "https") {
        return fail(format!(
            "redirected to {}: only http and https URLs are followed",
            hide_userinfo(target.as_str())
        ));
    }
    // The fragment belongs to the client, never to a request.
    target.set_fragment(None);
    let uri: Uri = match target.as_str().parse() {
        Ok(uri) => uri,
        Err(e) => {
            return fail(format!("the Location {shown:?} is not a usable URI: {e}"));
        }
    };

    let Resend {
        method: old_method,
        mut headers,
        extensions,
        body,
    } = resend;
    let body = if method == old_method {
        match body {
            Some(body) => body,
            // The body went with the first request and cannot be sent again.
            None => return Ok(None),
        }
    } else {
        for name in &BODY_HEADERS {
            headers.remove(name);
        }
        Body::empty()
    };
    if target.origin() != base.origin() {
        for name in &ORIGIN_HEADERS {
            headers.remove(name);
        }
    }
    let parts = Resend::parts(method, uri, headers, extensions);
    Ok(Some(Hop {
        parts,
        body,
        url: target.into(),
    }))
}
