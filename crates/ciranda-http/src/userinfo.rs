//! Credentials in a request's URL (`http://user:password@host/`, aiohttp's
//! `BasicAuth.from_url`): taken out of the URL before anything is sent or shown, and sent as
//! `Authorization: Basic` instead, unless the request sets its own `Authorization`.
//!
//! Left in the URL, they would go where they do not belong: hyper writes the whole URI into
//! the request line a plain `http` request sends to an HTTP proxy (`GET
//! http://user:password@host/`), and into HTTP/2's `:authority`, which RFC 9113 8.3.1 says
//! must not carry them; and [`Response::url`](crate::Response::url) and every
//! [`Error`](crate::Error) would print the password. The URL is decoded as RFC 3986 says:
//! the username ends at the first `:`, and both parts are percent-decoded.

use http::header::{AUTHORIZATION, HeaderValue};
use http::{Uri, request};

/// Takes the userinfo out of `parts.uri` and out of `url` (the same URL as the caller shows
/// it), and sends it as `Authorization: Basic` unless `parts` has an `Authorization` already.
/// A URL without userinfo is left as it is.
///
/// # Errors
/// The URI without its userinfo is not a URI (it always is when `parts.uri` was one).
pub(crate) fn take(parts: &mut request::Parts, url: &mut String) -> Result<(), String> {
    // Only an absolute URL's: `host:port` alone (`mailto:someone@example.com` reads as one)
    // is no request URL, and is refused as it was written.
    let (Some(_), Some(authority)) = (parts.uri.scheme(), parts.uri.authority()) else {
        return Ok(());
    };
    let Some((userinfo, host)) = authority.as_str().rsplit_once('@') else {
        return Ok(());
    };
    let userinfo = userinfo.to_owned();
    let mut uri = parts.uri.clone().into_parts();
    uri.authority = Some(
        host.parse::<http::uri::Authority>()
            .map_err(|e| format!("the URL's host {host:?} does not parse: {e}"))?,
    );
    parts.uri = Uri::from_parts(uri).map_err(|e| format!("the URL without its userinfo: {e}"))?;
    *url = without_userinfo(url).unwrap_or_else(|| parts.uri.to_string());
    if userinfo.is_empty() || parts.headers.contains_key(AUTHORIZATION) {
        return Ok(());
    }
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo.as_str(), ""));
    let mut pair = percent_decoded(user);
    pair.push(b':');
    pair.extend(percent_decoded(password));
    let mut value = HeaderValue::from_str(&format!("Basic {}", base64(&pair)))
        .expect("base64 is a valid header value");
    // HTTP/2 and HTTP/3 header compression must not index it (RFC 7541 7.1.3).
    value.set_sensitive(true);
    parts.headers.insert(AUTHORIZATION, value);
    Ok(())
}

/// `url` without the userinfo of its authority (`scheme://userinfo@host...`), or `None` if it
/// has none. The authority ends at the first `/`, `?` or `#`, and the userinfo at its last
/// `@`, as `http::Uri` reads them.
pub(crate) fn without_userinfo(url: &str) -> Option<String> {
    let start = url.find("://")? + "://".len();
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..end].rfind('@')?;
    Some(format!("{}{}", &url[..start], &rest[at + 1..]))
}

/// `text` with its `%XX` escapes decoded; a `%` not followed by two hex digits stays as it is.
fn percent_decoded(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let hex = |at: usize| {
        bytes
            .get(at)
            .and_then(|&b| char::from(b).to_digit(16))
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) {
                out.push((high << 4) | low);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `bytes` in standard base64 (RFC 4648 4), with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let group = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            // A chunk of n bytes makes n + 1 characters; `=` pads the group to four.
            if i <= chunk.len() {
                let sextet = (group >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648s() {
        // RFC 4648 10's test vectors.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn percent_escapes_are_decoded_and_stray_percents_kept() {
        assert_eq!(percent_decoded("us%40er"), b"us@er");
        assert_eq!(percent_decoded("p%3a%3Ass"), b"p::ss");
        assert_eq!(percent_decoded("caf%C3%A9"), "café".as_bytes());
        assert_eq!(percent_decoded("100%"), b"100%");
        assert_eq!(percent_decoded("%zz%4"), b"%zz%4");
        assert_eq!(percent_decoded("%+f"), b"%+f");
    }

    #[test]
    fn the_userinfo_goes_and_the_rest_of_the_url_stays() {
        let cases = [
            (
                "http://u:p@host/a@b?c@d#e@f",
                Some("http://host/a@b?c@d#e@f"),
            ),
            ("http://u:p@host", Some("http://host")),
            ("https://a@b:pw@[::1]:8443?q", Some("https://[::1]:8443?q")),
            ("http://@host/", Some("http://host/")),
            ("http://host/a@b", None),
            ("http://host?x@y", None),
            ("no scheme@host", None),
        ];
        for (url, stripped) in cases {
            assert_eq!(without_userinfo(url).as_deref(), stripped, "{url}");
        }
    }

    fn taken(url: &str, authorization: Option<&str>) -> (request::Parts, String) {
        let mut builder = http::Request::get(url);
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        let mut parts = builder.body(()).unwrap().into_parts().0;
        let mut shown = url.to_owned();
        take(&mut parts, &mut shown).unwrap();
        (parts, shown)
    }

    #[test]
    fn credentials_become_basic_auth_unless_the_request_has_its_own() {
        let (parts, shown) = taken("http://us%40er:p%3Ass@example.com:8080/x?y", None);
        assert_eq!(parts.uri, "http://example.com:8080/x?y");
        assert_eq!(shown, "http://example.com:8080/x?y");
        // base64("us@er:p:ss")
        assert_eq!(parts.headers[AUTHORIZATION], "Basic dXNAZXI6cDpzcw==");
        assert!(parts.headers[AUTHORIZATION].is_sensitive());

        // No password: an empty one, as aiohttp's BasicAuth sends it.
        let (parts, _) = taken("http://alice@example.com/", None);
        assert_eq!(parts.headers[AUTHORIZATION], "Basic YWxpY2U6");

        let (parts, shown) = taken("http://user:pw@example.com/", Some("Bearer token"));
        assert_eq!(parts.headers[AUTHORIZATION], "Bearer token");
        assert_eq!(shown, "http://example.com/");

        let (parts, shown) = taken("http://@example.com/", None);
        assert!(!parts.headers.contains_key(AUTHORIZATION));
        assert_eq!(parts.uri, "http://example.com/");
        assert_eq!(shown, "http://example.com/");

        // `host:port` alone, as `mailto:someone@example.com` reads: left as it is.
        if let Ok(uri) = "mailto:someone@example.com".parse::<Uri>() {
            let mut parts = http::Request::new(()).into_parts().0;
            parts.uri = uri;
            let mut shown = "mailto:someone@example.com".to_owned();
            take(&mut parts, &mut shown).unwrap();
            assert!(!parts.headers.contains_key(AUTHORIZATION));
            assert_eq!(shown, "mailto:someone@example.com");
        }

        let (parts, shown) = taken("http://example.com/a@b", None);
        assert!(!parts.headers.contains_key(AUTHORIZATION));
        assert_eq!(parts.uri, "http://example.com/a@b");
        assert_eq!(shown, "http://example.com/a@b");
    }
}
