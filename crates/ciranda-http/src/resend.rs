//! What the client keeps of a request to send it again: to the URL a redirect names, or once
//! more after the connection went away under it or the server refused its HTTP/2 stream.

use crate::body::Body;
use http::{Extensions, HeaderMap, Method, Uri, request};

/// A copy of a request's method, headers, extensions and (if it can be repeated) body, taken
/// before the request is sent.
pub(crate) struct Resend {
    pub(crate) method: Method,
    pub(crate) headers: HeaderMap,
    pub(crate) extensions: Extensions,
    /// `None` if the body cannot be sent twice.
    pub(crate) body: Option<Body>,
}

impl Resend {
    /// A copy of `parts` and, if it can be sent again, of `body`.
    pub(crate) fn of(parts: &request::Parts, body: &Body) -> Resend {
        Resend {
            method: parts.method.clone(),
            headers: parts.headers.clone(),
            extensions: parts.extensions.clone(),
            body: body.try_clone(),
        }
    }

    /// The same request to `uri` again, if its method is idempotent (RFC 9110 9.2.2: sending
    /// it twice means what sending it once does) and its body can be repeated: for a request
    /// the server may or may not have acted on.
    pub(crate) fn retry(&self, uri: &Uri) -> Option<(request::Parts, Body)> {
        let idempotent = matches!(
            self.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        );
        if !idempotent {
            return None;
        }
        self.again(uri)
    }

    /// The same request to `uri` again, whatever its method, if its body can be repeated: for
    /// a request the server said it did not process (RFC 9113 8.7: a refused stream).
    pub(crate) fn again(&self, uri: &Uri) -> Option<(request::Parts, Body)> {
        let body = self.body.as_ref()?.try_clone()?;
        let parts = Resend::parts(
            self.method.clone(),
            uri.clone(),
            self.headers.clone(),
            self.extensions.clone(),
        );
        Some((parts, body))
    }

    /// Request parts made of these pieces (version and the rest as `Request::new` makes them).
    pub(crate) fn parts(
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        extensions: Extensions,
    ) -> request::Parts {
        let mut parts = http::Request::new(()).into_parts().0;
        parts.method = method;
        parts.uri = uri;
        parts.headers = headers;
        parts.extensions = extensions;
        parts
    }
}
