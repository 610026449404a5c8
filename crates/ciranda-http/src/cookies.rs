//! The client's cookie jar (aiohttp's `CookieJar`): `Set-Cookie` answers are kept, and sent
//! back in `Cookie` to the URLs they match.
//!
//! Storage and matching are RFC 6265's, by `cookie_store`: host-only and `Domain` cookies,
//! `Path`, `Expires`/`Max-Age` (on the wall clock), `Secure` cookies only over `https` (kept
//! only from it, and not replaced or deleted from plain http: see `shadows_secure`). A
//! `Domain` that is a public suffix (`com`, `co.uk`, `github.io`, by the `psl` crate's copy of
//! the list) is kept only as the host's own name (see `scoped`). The jar keeps at most 180
//! cookies per domain and 3000 in all (see `cookie_limits`). A cookie is kept as its name,
//! value and the attributes the store reads (see `stored_form`), each attribute value at most
//! 1024 bytes, not as the `Set-Cookie` line it came in. Every clone of a
//! [`Client`](crate::Client) shares one jar; the lock is never held across an `.await`.

use crate::cookie_limits::{SetOrder, key_of};
use cookie_store::{Cookie, CookieStore, RawCookie};
use http::header::{COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use std::borrow::Cow;
use std::collections::HashSet;
use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};
use url::{Host, Url};

/// The most bytes a cookie's name and value may hold together (RFC 6265bis, Chromium and
/// Firefox): a site cannot make the client send back, or keep, more per cookie than a browser
/// would.
const MAX_NAME_AND_VALUE: usize = 4096;

/// The most bytes an attribute's value may hold (RFC 6265bis 5.6, Chromium and Firefox): a
/// longer one is ignored, as if the attribute were not there, and the cookie kept.
const MAX_ATTRIBUTE_VALUE: usize = 1024;

pub(crate) struct Jar {
    cookies: Mutex<Cookies>,
}

/// The store, and when each of its cookies was set (for eviction).
#[derive(Default)]
struct Cookies {
    store: CookieStore,
    order: SetOrder,
}

impl Jar {
    pub(crate) fn new() -> Jar {
        Jar {
            cookies: Mutex::default(),
        }
    }

    fn cookies(&self) -> MutexGuard<'_, Cookies> {
        // The store is consistent after every call (a panic in one cannot leave half an
        // insert behind that matters more than losing the jar would).
        self.cookies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts the jar's cookies for `url` into `headers`' `Cookie`, after the ones the request
    /// set itself; a name the request set is not sent twice.
    pub(crate) fn add_to(&self, url: &Url, headers: &mut HeaderMap) {
        // As bytes: the request's own values may hold what is not visible ASCII (a UTF-8
        // value, as browsers send them), and are kept as they are whatever they hold.
        let own: Vec<&[u8]> = headers
            .get_all(COOKIE)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        let own_names: HashSet<&[u8]> = own
            .iter()
            .flat_map(|v| v.split(|&b| b == b';'))
            .filter_map(|pair| pair.split(|&b| b == b'=').next())
            .map(<[u8]>::trim_ascii)
            .collect();
        let mut line = own.join(b"; ".as_slice());
        let before = line.len();
        let cookies = self.cookies();
        let mut matching = cookies.store.matches(url);
        // RFC 6265 5.4: longer paths first; the store keeps no creation times, so names
        // order the rest (the same jar always sends the same line).
        matching.sort_by(|a, b| {
            let (a_path, b_path): (&str, &str) = (a.path.as_ref(), b.path.as_ref());
            b_path
                .len()
                .cmp(&a_path.len())
                .then_with(|| a.name().cmp(b.name()))
        });
        for (name, value) in matching.iter().map(|c| c.name_value()) {
            if own_names.contains(name.as_bytes()) {
                continue;
            }
            if !line.is_empty() {
                line.extend_from_slice(b"; ");
            }
            line.extend_from_slice(name.as_bytes());
            line.push(b'=');
            line.extend_from_slice(value.as_bytes());
        }
        drop(cookies);
        if line.len() == before {
            return; // nothing from the jar: the request's own header stays as it was
        }
        // Names and values come from parsed `Set-Cookie` headers and the request's own
        // header values, so the line is a valid header value; if not, nothing is added.
        if let Ok(value) = HeaderValue::from_bytes(&line) {
            headers.remove(COOKIE);
            headers.insert(COOKIE, value);
        }
    }

    /// Keeps the cookies a response from `url` sets. A `Set-Cookie` that does not parse, whose
    /// name and value are over [`MAX_NAME_AND_VALUE`] bytes, or that `url` may not set
    /// (another domain, a top-level one, `Secure` over plain http, one that would replace a
    /// `Secure` cookie from plain http), is ignored, as browsers do; so is an attribute whose
    /// value is over [`MAX_ATTRIBUTE_VALUE`] bytes (the cookie is kept without it).
    pub(crate) fn keep_from(&self, url: &Url, headers: &HeaderMap) {
        let mut set = headers
            .get_all(SET_COOKIE)
            .iter()
            // As UTF-8, not `to_str` (visible ASCII only): a value holding UTF-8, which
            // browsers keep, is kept too (`add_to` sends it back as the same bytes).
            .filter_map(|v| {
                let line = std::str::from_utf8(v.as_bytes()).ok()?;
                let parsed = RawCookie::parse(without_long_attributes(line)).ok()?;
                Some(stored_form(&parsed))
            })
            // RFC 6265bis's parsing, as browsers do: a larger one is ignored whole.
            .filter(|cookie| cookie.name().len() + cookie.value().len() <= MAX_NAME_AND_VALUE)
            .filter_map(|cookie| scoped(cookie, url))
            .peekable();
        if set.peek().is_none() {
            return;
        }
        let from_secure = is_secure(url);
        let mut cookies = self.cookies();
        let Cookies { store, order } = &mut *cookies;
        let mut domains = HashSet::new();
        for raw in set {
            // As `insert_raw` does, keeping the stored cookie's key for the eviction order.
            let Ok(cookie) = Cookie::try_from_raw_cookie(&raw, url) else {
                continue;
            };
            if !from_secure && cookie.secure() != Some(true) && shadows_secure(store, &cookie) {
                continue;
            }
            let key = key_of(&cookie);
            if store.insert(cookie.into_owned(), url).is_ok() {
                domains.insert(key.0.clone());
                order.touch(key);
            }
        }
        order.evict(store, &domains);
    }

    /// The `(name, value)` pairs that a request to `url` would carry.
    pub(crate) fn values_for(&self, url: &Url) -> Vec<(String, String)> {
        let mut values: Vec<(String, String)> = self
            .cookies()
            .store
            .get_request_values(url)
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        values.sort();
        values
    }

    /// The length of the stored cookies' `Debug` forms, which show every string they own
    /// (the parsed line a cookie may keep, its name, value, path and domain): a measure of the
    /// memory the jar holds for them.
    #[cfg(test)]
    fn stored_size(&self) -> usize {
        let cookies = self.cookies();
        cookies
            .store
            .iter_any()
            .map(|cookie| format!("{cookie:?}").len())
            .sum()
    }

    pub(crate) fn clear(&self) {
        let mut cookies = self.cookies();
        cookies.store.clear();
        cookies.order.clear();
    }

    /// Every cookie in the jar, session cookies included, as `cookie_store`'s JSON.
    /// Serialized under the lock into memory; the caller writes it wherever it likes.
    pub(crate) fn save(&self) -> Vec<u8> {
        let mut saved = Vec::new();
        cookie_store::serde::json::save_incl_expired_and_nonpersistent(
            &self.cookies().store,
            &mut saved,
        )
        .expect("cookies serialize to JSON in memory");
        saved
    }

    /// Replaces the jar's cookies with those of `saved` (made by [`save`](Jar::save)),
    /// leaving out the ones that have expired since. Parsed before the lock is taken.
    pub(crate) fn load(&self, saved: &[u8]) -> io::Result<()> {
        let loaded = cookie_store::serde::json::load(saved).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not a saved cookie jar: {e}"),
            )
        })?;
        let mut cookies = self.cookies();
        cookies.store = loaded;
        cookies.order.clear();
        Ok(())
    }
}

/// `line` without its attributes (`; name=value`) whose value is over
/// [`MAX_ATTRIBUTE_VALUE`] bytes, leading and trailing spaces and tabs left out: RFC 6265bis
/// 5.6 ignores such an attribute, and the cookie is read as if it were not there (an
/// attribute of the same name before or after it still counts).
fn without_long_attributes(line: &str) -> Cow<'_, str> {
    let too_long = |attribute: &&str| {
        attribute
            .split_once('=')
            .is_some_and(|(_, value)| value.trim_matches([' ', '\t']).len() > MAX_ATTRIBUTE_VALUE)
    };
    let mut parts = line.split(';');
    let pair = parts.next().unwrap_or_default();
    if !parts.clone().any(|attribute| too_long(&attribute)) {
        return Cow::Borrowed(line);
    }
    let mut kept = String::from(pair);
    for attribute in parts.filter(|attribute| !too_long(attribute)) {
        kept.push(';');
        kept.push_str(attribute);
    }
    Cow::Owned(kept)
}

/// What the jar keeps of a parsed `Set-Cookie`: its name, value and the attributes the store
/// reads, in strings of their own. A cookie the `cookie` crate parsed keeps the whole line it
/// came from, unknown attributes included, so one cookie could hold as much as a response
/// header (hyper reads about 400 KiB) where its name and value hold at most
/// [`MAX_NAME_AND_VALUE`] bytes; kept this way it holds at most that and two attribute values
/// of [`MAX_ATTRIBUTE_VALUE`] bytes (`Domain`, `Path`).
fn stored_form(parsed: &RawCookie<'_>) -> RawCookie<'static> {
    let mut kept = RawCookie::new(parsed.name().to_owned(), parsed.value().to_owned());
    if let Some(domain) = parsed.domain() {
        // `domain()` leaves one leading dot out: put one back, so it reads the same.
        kept.set_domain(format!(".{domain}"));
    }
    if let Some(path) = parsed.path() {
        kept.set_path(path.to_owned());
    }
    if let Some(expires) = parsed.expires() {
        kept.set_expires(expires);
    }
    kept.set_max_age(parsed.max_age());
    kept.set_secure(parsed.secure());
    kept.set_http_only(parsed.http_only());
    kept.set_same_site(parsed.same_site());
    kept.set_partitioned(parsed.partitioned());
    kept
}

/// `cookie` as the jar may keep it from `url`, or `None`.
///
/// A `Secure` cookie is kept only from an origin the jar would send it to (https, or a
/// loopback host): one set over plain http could come from anyone on the path, and https
/// pages would trust it (RFC 6265bis, as browsers do).
///
/// A `Domain` that is a public suffix (`com`, `co.uk`, `github.io`; a single label the list
/// does not know, `localhost`, counts as one by the list's default rule) would send the
/// cookie to every site under it. RFC 6265 5.3 step 5: such a cookie is kept only when the
/// domain is the host's own name, and then as a host-only cookie.
fn scoped<'c>(mut cookie: RawCookie<'c>, url: &Url) -> Option<RawCookie<'c>> {
    if cookie.secure() == Some(true) && !is_secure(url) {
        return None;
    }
    // `domain()` has already lost a leading dot.
    let Some(domain) = cookie.domain().map(str::trim) else {
        return Some(cookie);
    };
    // Lower case and punycode, as the list and `url`'s host are; an IP address or a name
    // that is not one is left to the store's domain matching, which refuses it.
    let Ok(Host::Domain(domain)) = Host::parse(domain) else {
        return Some(cookie);
    };
    if !is_public_suffix(&domain) {
        return Some(cookie);
    }
    if !url
        .host_str()
        .is_some_and(|host| host.eq_ignore_ascii_case(&domain))
    {
        return None;
    }
    cookie.unset_domain();
    Some(cookie)
}

/// Whether `store` holds a live `Secure` cookie that `cookie`, set from an origin the jar
/// does not send `Secure` cookies to, would replace or shadow: one of the same name whose
/// domain domain-matches `cookie`'s (or the other way round) and whose path `cookie`'s path
/// path-matches. RFC 6265bis 5.7 ("leave secure cookies alone"), as browsers do: otherwise
/// anyone on the path of one plain-http request could replace (or, expired, delete) the
/// session cookie an https site set, and the https site would then be sent theirs.
fn shadows_secure(store: &CookieStore, cookie: &Cookie<'_>) -> bool {
    let domain = String::from(&cookie.domain);
    let path: &str = cookie.path.as_ref();
    store.iter_unexpired().any(|old| {
        let old_domain = String::from(&old.domain);
        old.secure() == Some(true)
            && old.name() == cookie.name()
            && (domain_matches(&old_domain, &domain) || domain_matches(&domain, &old_domain))
            && path_matches(path, old.path.as_ref())
    })
}

/// RFC 6265 5.1.3: `string` domain-matches `domain` (both lower case, as the store keeps
/// them): the same, or `string` a host name ending in `.` and `domain`.
fn domain_matches(string: &str, domain: &str) -> bool {
    let is_address = string.starts_with('[') || string.parse::<std::net::IpAddr>().is_ok();
    string == domain
        || (!is_address
            && string
                .strip_suffix(domain)
                .is_some_and(|head| head.ends_with('.')))
}

/// RFC 6265 5.1.4: `path` path-matches `cookie_path`: the same, or below it.
fn path_matches(path: &str, cookie_path: &str) -> bool {
    path.strip_prefix(cookie_path)
        .is_some_and(|rest| rest.is_empty() || cookie_path.ends_with('/') || rest.starts_with('/'))
}

/// `true` when `domain` (lower case, punycode) is a suffix under which anyone may register
/// names.
fn is_public_suffix(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    psl::suffix(domain.as_bytes()).is_some_and(|suffix| suffix.as_bytes() == domain.as_bytes())
}

/// Whether `url` may receive `Secure` cookies: `cookie_store`'s rule for sending them, https
/// or a loopback host.
fn is_secure(url: &Url) -> bool {
    match url.host() {
        _ if url.scheme() == "https" => true,
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn set(jar: &Jar, from: &str, cookies: &[&str]) {
        let mut headers = HeaderMap::new();
        for c in cookies {
            headers.append(SET_COOKIE, c.parse().unwrap());
        }
        jar.keep_from(&url(from), &headers);
    }

    fn header_for(jar: &Jar, to: &str, own: Option<&str>) -> Option<String> {
        let mut headers = HeaderMap::new();
        if let Some(own) = own {
            headers.insert(COOKIE, own.parse().unwrap());
        }
        jar.add_to(&url(to), &mut headers);
        assert!(
            headers.get_all(COOKIE).iter().count() <= 1,
            "one Cookie header"
        );
        headers.get(COOKIE).map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn secure_cookies_go_over_https_only() {
        let jar = Jar::new();
        set(
            &jar,
            "https://example.com/",
            &["token=1; Secure; Path=/", "open=2; Path=/"],
        );
        assert_eq!(
            header_for(&jar, "http://example.com/", None).as_deref(),
            Some("open=2")
        );
        assert_eq!(
            header_for(&jar, "https://example.com/", None).as_deref(),
            Some("open=2; token=1")
        );
    }

    #[test]
    fn a_secure_cookie_set_over_http_is_ignored() {
        // Over plain http anyone on the path could plant it, and https pages would trust it.
        let jar = Jar::new();
        set(
            &jar,
            "http://example.com/",
            &["planted=1; Secure; Path=/", "open=2; Path=/"],
        );
        assert_eq!(
            header_for(&jar, "https://example.com/", None).as_deref(),
            Some("open=2")
        );
        // The jar sends Secure cookies to loopback hosts over http, so it keeps theirs.
        set(&jar, "http://127.0.0.1:8080/", &["local=1; Secure; Path=/"]);
        assert_eq!(
            header_for(&jar, "http://127.0.0.1:8080/", None).as_deref(),
            Some("local=1")
        );
    }

    #[test]
    fn plain_http_cannot_replace_or_delete_a_secure_cookie() {
        // RFC 6265bis 5.7: anyone on the path of a plain-http request could otherwise swap
        // the https site's session cookie for theirs, which the https site is then sent.
        let jar = Jar::new();
        set(
            &jar,
            "https://example.com/",
            &["session=good; Secure; Path=/"],
        );
        let https = |jar: &Jar| header_for(jar, "https://example.com/app", None);
        for (from, planted) in [
            ("http://example.com/", "session=evil; Path=/"),
            ("http://example.com/", "session=evil"),
            (
                "http://www.example.com/",
                "session=evil; Domain=example.com; Path=/",
            ),
            ("http://example.com/", "session=evil; Path=/app"),
            ("http://example.com/", "session=; Max-Age=0; Path=/"),
        ] {
            set(&jar, from, &[planted]);
            assert_eq!(
                https(&jar).as_deref(),
                Some("session=good"),
                "{planted} from {from}"
            );
        }
        // Another name, or a path the Secure cookie's does not cover, is not its business;
        // and https itself may replace it.
        set(&jar, "http://example.com/", &["theme=dark; Path=/"]);
        let jar2 = Jar::new();
        set(
            &jar2,
            "https://example.com/",
            &["session=good; Secure; Path=/admin"],
        );
        set(&jar2, "http://example.com/", &["session=open; Path=/"]);
        assert_eq!(
            header_for(&jar2, "https://example.com/admin", None).as_deref(),
            Some("session=good; session=open")
        );
        set(
            &jar,
            "https://example.com/",
            &["session=new; Secure; Path=/"],
        );
        assert_eq!(https(&jar).as_deref(), Some("session=new; theme=dark"));
    }

    #[test]
    fn a_set_cookie_holding_utf8_is_kept_and_sent_back_as_sent() {
        // Browsers, aiohttp and reqwest keep it; `to_str` (visible ASCII only) dropped it.
        let jar = Jar::new();
        set(
            &jar,
            "http://example.com/",
            &["user=José; Path=/", "plain=1; Path=/"],
        );
        assert_eq!(
            jar.values_for(&url("http://example.com/")),
            [
                ("plain".to_owned(), "1".to_owned()),
                ("user".to_owned(), "José".to_owned())
            ]
        );
        let mut headers = HeaderMap::new();
        jar.add_to(&url("http://example.com/"), &mut headers);
        assert_eq!(
            headers.get(COOKIE).map(HeaderValue::as_bytes),
            Some("plain=1; user=José".as_bytes())
        );
        // Bytes that are not UTF-8 are still ignored.
        let mut headers = HeaderMap::new();
        headers.append(
            SET_COOKIE,
            HeaderValue::from_bytes(b"latin=Jos\xe9; Path=/").unwrap(),
        );
        jar.keep_from(&url("http://example.com/"), &headers);
        assert_eq!(jar.values_for(&url("http://example.com/")).len(), 2);
    }

    #[test]
    fn a_cookie_over_4096_bytes_of_name_and_value_is_ignored() {
        // As browsers do: a site cannot make the client keep and send back more per cookie
        // (180 such per domain made a Cookie line of megabytes that servers refuse).
        let jar = Jar::new();
        let fits = format!("fits={}; Path=/", "a".repeat(MAX_NAME_AND_VALUE - 4));
        let over = format!("over={}; Path=/", "b".repeat(MAX_NAME_AND_VALUE - 3));
        set(
            &jar,
            "http://example.com/",
            &[&fits, &over, "small=1; Path=/"],
        );
        let kept: Vec<(String, usize)> = jar
            .values_for(&url("http://example.com/"))
            .into_iter()
            .map(|(name, value)| (name, value.len()))
            .collect();
        assert_eq!(
            kept,
            [
                ("fits".to_owned(), MAX_NAME_AND_VALUE - 4),
                ("small".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn a_cookie_keeps_no_more_than_its_name_value_and_bounded_attributes() {
        // The parsed form kept the whole `Set-Cookie` line: 100 KiB of an attribute nobody
        // reads (now ignored, as over 1 024 bytes), or 100 attributes of 1 000 bytes each
        // (read and dropped), stayed in memory with the cookie.
        let jar = Jar::new();
        let size = |jar: &Jar| jar.stored_size();
        set(&jar, "http://example.com/", &["small=1; Path=/"]);
        let one = size(&jar);
        assert!(one < 1024, "a small cookie takes {one} bytes");
        jar.clear();
        let junk = "x".repeat(100 * 1024);
        set(
            &jar,
            "http://example.com/",
            &[&format!("junk=1; Path=/; X-Unknown={junk}; HttpOnly")],
        );
        let padded = (0..100).fold(String::from("many=2; Path=/"), |line, i| {
            format!("{line}; Pad{i}={}", "y".repeat(1000))
        });
        set(&jar, "http://example.com/", &[&padded]);
        let stored = size(&jar);
        assert!(
            stored < 2 * one + 64,
            "two cookies whose lines were over 100 KiB each take {stored} bytes"
        );
        // Kept, with the attributes the jar reads.
        assert_eq!(
            header_for(&jar, "http://example.com/a", None).as_deref(),
            Some("junk=1; many=2")
        );
        let kept = jar.cookies();
        let junk = kept.store.get("example.com", "/", "junk").unwrap();
        assert_eq!(junk.http_only(), Some(true));
    }

    #[test]
    fn an_attribute_value_over_1024_bytes_is_ignored_and_the_cookie_kept() {
        // RFC 6265bis 5.6, as Chromium and Firefox do (the web platform tests' cookies/size).
        let jar = Jar::new();
        let long = |n: usize| "a".repeat(n);
        set(
            &jar,
            "http://example.com/dir/page",
            &[
                // Path ignored: the default path, `/dir`.
                &format!("p=1; Path=/{}", long(100 * 1024)),
                // The valid `Path` before or after the long one wins.
                &format!("q=1; Path=/q; Path=/{}", long(1024)),
                &format!("r=1; Path=/{} ; Path=/r", long(1024)),
                // Domain ignored: a host-only cookie (a domain that long would not match the
                // host, and the cookie would be refused).
                &format!("d=1; Domain={}.example.com; Path=/", long(1030)),
                // Max-Age ignored: a session cookie, not one expired at once.
                &format!("m=1; Max-Age={}; Path=/", "0".repeat(1025)),
            ],
        );
        let sent = |to: &str| header_for(&jar, &format!("http://example.com{to}"), None);
        assert_eq!(sent("/").as_deref(), Some("d=1; m=1"));
        assert_eq!(sent("/dir/x").as_deref(), Some("p=1; d=1; m=1"));
        assert_eq!(sent("/q").as_deref(), Some("q=1; d=1; m=1"));
        assert_eq!(sent("/r").as_deref(), Some("r=1; d=1; m=1"));
        assert_eq!(
            header_for(&jar, "http://www.example.com/", None),
            None,
            "d is host-only"
        );
        // 1 024 bytes exactly still count: this path is not `/`'s.
        let at_most = format!("/{}", long(1023));
        set(
            &jar,
            "http://example.com/",
            &[&format!("e=1; Path={at_most}")],
        );
        assert_eq!(sent("/").as_deref(), Some("d=1; m=1"));
        assert_eq!(sent(&at_most).as_deref(), Some("e=1; d=1; m=1"));
        assert!(jar.stored_size() < 6 * 1024, "{}", jar.stored_size());
    }

    #[test]
    fn longer_paths_come_first() {
        let jar = Jar::new();
        set(
            &jar,
            "http://example.com/",
            &["z=root; Path=/", "a=deep; Path=/a/b", "m=mid; Path=/a"],
        );
        assert_eq!(
            header_for(&jar, "http://example.com/a/b/c", None).as_deref(),
            Some("a=deep; m=mid; z=root")
        );
    }

    #[test]
    fn domain_cookies_reach_subdomains_and_host_only_ones_do_not() {
        let jar = Jar::new();
        set(
            &jar,
            "http://www.example.com/",
            &["wide=1; Domain=example.com; Path=/", "narrow=2; Path=/"],
        );
        assert_eq!(
            header_for(&jar, "http://api.example.com/", None).as_deref(),
            Some("wide=1")
        );
        // A host may not set cookies for an unrelated domain.
        set(
            &jar,
            "http://www.example.com/",
            &["evil=1; Domain=other.org; Path=/"],
        );
        assert_eq!(header_for(&jar, "http://other.org/", None), None);
    }

    #[test]
    fn a_domain_of_one_label_is_refused_unless_it_is_the_host() {
        let jar = Jar::new();
        // `Domain=com` would reach every `.com` host.
        set(
            &jar,
            "http://evil.com/",
            &["tld=1; Domain=com; Path=/", "dotted=1; Domain=.COM; Path=/"],
        );
        assert_eq!(header_for(&jar, "http://bank.com/", None), None);
        assert_eq!(header_for(&jar, "http://evil.com/", None), None);
        // The host's own name is kept as a host-only cookie (RFC 6265 5.3 step 5).
        set(
            &jar,
            "http://localhost:8080/",
            &["local=1; Domain=localhost; Path=/"],
        );
        assert_eq!(
            header_for(&jar, "http://localhost/", None).as_deref(),
            Some("local=1")
        );
        assert_eq!(header_for(&jar, "http://a.localhost/", None), None);
    }

    #[test]
    fn a_domain_that_is_a_public_suffix_is_refused_unless_it_is_the_host() {
        let jar = Jar::new();
        for (from, domain) in [
            ("http://evil.co.uk/", "co.uk"),
            ("http://evil.co.uk/", ".CO.UK"),
            ("https://evil.github.io/", "github.io"),
            ("http://evil.xn--p1ai/", "рф"),
        ] {
            set(&jar, from, &[&format!("super=1; Domain={domain}; Path=/")]);
        }
        for to in [
            "http://bank.co.uk/",
            "http://evil.co.uk/",
            "https://victim.github.io/",
            "http://bank.xn--p1ai/",
        ] {
            assert_eq!(header_for(&jar, to, None), None, "{to}");
        }
        // A registrable domain under a suffix of two labels still takes `Domain` cookies.
        set(
            &jar,
            "http://www.example.co.uk/",
            &["wide=1; Domain=example.co.uk; Path=/"],
        );
        assert_eq!(
            header_for(&jar, "http://api.example.co.uk/", None).as_deref(),
            Some("wide=1")
        );
        assert_eq!(header_for(&jar, "http://other.co.uk/", None), None);
        // The suffix's own host keeps the cookie, host-only (RFC 6265 5.3 step 5).
        set(&jar, "http://co.uk/", &["own=1; Domain=co.uk; Path=/"]);
        assert_eq!(
            header_for(&jar, "http://co.uk/", None).as_deref(),
            Some("own=1")
        );
        assert_eq!(header_for(&jar, "http://x.co.uk/", None), None);
    }

    #[test]
    fn the_requests_own_header_is_kept_when_the_jar_has_nothing() {
        let jar = Jar::new();
        assert_eq!(header_for(&jar, "http://example.com/", None), None);
        assert_eq!(
            header_for(&jar, "http://example.com/", Some("a=1;b=2")).as_deref(),
            Some("a=1;b=2")
        );
        set(
            &jar,
            "http://example.com/",
            &["b=jar; Path=/", "c=jar; Path=/"],
        );
        assert_eq!(
            header_for(&jar, "http://example.com/", Some("a=1;b=2")).as_deref(),
            Some("a=1;b=2; c=jar")
        );
    }

    #[test]
    fn an_unparsable_set_cookie_is_ignored() {
        let jar = Jar::new();
        set(
            &jar,
            "http://example.com/",
            &["no equals sign here", "ok=1; Path=/"],
        );
        assert_eq!(
            jar.values_for(&url("http://example.com/")),
            [("ok".to_owned(), "1".to_owned())]
        );
    }
}
