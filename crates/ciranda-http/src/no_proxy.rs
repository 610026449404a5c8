//! `NO_PROXY`: the destinations a proxy is bypassed for.
//!
//! A comma-separated list; spaces around entries are ignored, and so are entries that cannot
//! be read. Each entry is one of:
//!
//! | entry                                  | bypasses                                          |
//! |----------------------------------------|---------------------------------------------------|
//! | `*`                                    | every destination                                 |
//! | `example.com`, `.example.com`          | that host and its subdomains, any port            |
//! | `example.com:8080`, `.example.com:8080`| the same, on that port only                       |
//! | `10.1.2.3`, `::1`, `[::1]`             | that address, any port                            |
//! | `10.1.2.3:8080`, `[::1]:8080`          | that address on that port only                    |
//! | `10.0.0.0/8`, `fd00::/8`, `[fd00::]/8` | the addresses in that network, any port           |
//!
//! Names match without regard to case or a trailing dot. A destination's port is the one its
//! URL names, or its scheme's (80 for `http`, 443 for `https`), so `example.com:443` bypasses
//! `https://example.com/` and `https://example.com:443/` but not `http://example.com/`.
//! These are curl's rules (which hyper-util's matcher follows) with what Python's `urllib`
//! adds: a port on an entry, and an IPv6 address in brackets. An address matches address
//! entries only, a name name entries only: no name is resolved to decide.

use crate::client::default_port;
use http::Uri;
use std::net::IpAddr;

/// A parsed `NO_PROXY` list.
#[derive(Debug, Default)]
pub(crate) struct NoProxy {
    /// `*` is listed: every destination bypasses the proxy.
    all: bool,
    entries: Vec<Entry>,
}

/// One entry other than `*`.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    host: Host,
    /// The only port the entry matches, if it names one.
    port: Option<u16>,
}

#[derive(Debug, PartialEq, Eq)]
enum Host {
    /// The addresses whose first `prefix` bits are `ip`'s (all of them: one address).
    Network { ip: IpAddr, prefix: u8 },
    /// A name in lowercase, without a leading or trailing dot: it and its subdomains.
    Name(String),
}

impl NoProxy {
    /// Reads a `NO_PROXY` list (see the module's documentation).
    pub(crate) fn parse(list: &str) -> NoProxy {
        let mut no_proxy = NoProxy::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.all = true;
            } else if let Some(entry) = Entry::parse(entry) {
                no_proxy.entries.push(entry);
            }
        }
        no_proxy
    }

    /// Whether a request to `target` bypasses the proxy.
    pub(crate) fn matches(&self, target: &Uri) -> bool {
        if self.all {
            return true;
        }
        let Some(host) = target.host() else {
            return false;
        };
        let port = target.port_u16().or(default_port(target));
        // `Uri::host` keeps an IPv6 literal's brackets.
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let address = bare.parse::<IpAddr>().ok();
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        self.entries.iter().any(|entry| {
            let host_matches = match (&entry.host, address) {
                (Host::Network { ip, prefix }, Some(address)) => in_network(address, *ip, *prefix),
                (Host::Name(entry), None) => {
                    name == *entry
                        || name
                            .strip_suffix(entry.as_str())
                            .is_some_and(|rest| rest.ends_with('.'))
                }
                _ => false,
            };
            host_matches && entry.port.is_none_or(|p| Some(p) == port)
        })
    }
}

impl Entry {
    /// One entry other than `*`, or `None` if it cannot be read (a port that is not a number
    /// from 0 to 65535, brackets around something other than an IPv6 address).
    fn parse(entry: &str) -> Option<Entry> {
        if let Some(inside) = entry.strip_prefix('[') {
            // `[::1]`, `[::1]:8080`, `[fd00::]/8`.
            let (address, after) = inside.split_once(']')?;
            let ip = address.parse::<IpAddr>().ok().filter(IpAddr::is_ipv6)?;
            return if after.is_empty() {
                Some(Entry::address(ip, None))
            } else if let Some(port) = after.strip_prefix(':') {
                Some(Entry::address(ip, Some(parse_port(port)?)))
            } else {
                let host = network(&format!("{address}{after}"))?;
                Some(Entry { host, port: None })
            };
        }
        // An IPv6 address or network is written without a port here: its colons are its own.
        if let Some(host) = network(entry) {
            return Some(Entry { host, port: None });
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) => (host, Some(parse_port(port)?)),
            None => (entry, None),
        };
        if let Some(host) = network(host) {
            return Some(Entry { host, port });
        }
        let name = host
            .trim_start_matches('.')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        (!name.is_empty() && !name.contains(':')).then_some(Entry {
            host: Host::Name(name),
            port,
        })
    }

    fn address(ip: IpAddr, port: Option<u16>) -> Entry {
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        Entry {
            host: Host::Network { ip, prefix },
            port,
        }
    }
}

/// A port as an entry writes it: digits that make a number from 0 to 65535.
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

/// An address (`10.1.2.3`, `::1`) or a network (`10.0.0.0/8`, `fd00::/8`; the address's bits
/// past the prefix do not count).
fn network(s: &str) -> Option<Host> {
    let (address, prefix) = match s.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (s, None),
    };
    let ip = address.parse::<IpAddr>().ok()?;
    let bits = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => bits,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().ok().filter(|&p| p <= bits)?
        }
        Some(_) => return None,
    };
    Some(Host::Network { ip, prefix })
}

/// Whether `address` is in the network of `ip`'s first `prefix` bits (an IPv4 address is
/// never in an IPv6 network, nor the other way round).
fn in_network(address: IpAddr, ip: IpAddr, prefix: u8) -> bool {
    let masked = |bits: u128, width: u32| {
        let dropped = width - u32::from(prefix);
        if dropped >= 128 { 0 } else { bits >> dropped }
    };
    match (address, ip) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            masked(u32::from(a).into(), 32) == masked(u32::from(n).into(), 32)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => masked(a.into(), 128) == masked(n.into(), 128),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For each URL, whether `list` bypasses the proxy for it.
    #[track_caller]
    fn check(list: &str, cases: &[(&str, bool)]) {
        let no_proxy = NoProxy::parse(list);
        for &(url, bypass) in cases {
            let uri: Uri = url.parse().unwrap();
            assert_eq!(no_proxy.matches(&uri), bypass, "NO_PROXY={list:?}, {url}");
        }
    }

    #[test]
    fn a_star_bypasses_everything() {
        check(
            "example.org, *",
            &[
                ("http://anything.example/", true),
                ("https://127.0.0.1:8443/", true),
                ("http://[::1]/", true),
            ],
        );
        // Only on its own: not a pattern.
        check("*.example.com", &[("http://a.example.com/", false)]);
    }

    #[test]
    fn a_name_covers_its_subdomains_on_any_port() {
        for list in [
            "example.com",
            ".example.com",
            "EXAMPLE.com.",
            " example.com ",
        ] {
            check(
                list,
                &[
                    ("http://example.com/", true),
                    ("https://Example.COM:8443/", true),
                    ("http://www.example.com/", true),
                    ("http://a.b.example.com./", true),
                    ("http://notexample.com/", false),
                    ("http://example.com.evil/", false),
                    ("http://example.org/", false),
                ],
            );
        }
    }

    #[test]
    fn a_name_with_a_port_covers_that_port_only() {
        check(
            "example.com:8080",
            &[
                ("http://example.com:8080/", true),
                ("https://example.com:8080/", true),
                ("http://www.example.com:8080/", true),
                ("http://example.com/", false),
                ("http://example.com:8081/", false),
                ("http://other.com:8080/", false),
            ],
        );
        check(
            ".example.com:8080",
            &[
                ("http://a.example.com:8080/", true),
                ("http://example.com:8080/", true),
                ("http://a.example.com:9090/", false),
            ],
        );
    }

    #[test]
    fn a_port_missing_from_the_url_is_its_scheme_s() {
        check(
            "example.com:443, plain.example:80",
            &[
                ("https://example.com/", true),
                ("https://example.com:443/", true),
                ("http://example.com/", false),
                ("http://example.com:443/", true),
                ("http://plain.example/", true),
                ("https://plain.example/", false),
            ],
        );
    }

    #[test]
    fn addresses_and_networks_match_addresses() {
        check(
            "127.0.0.1, 10.0.0.0/8, fd00::/8, ::1",
            &[
                ("http://127.0.0.1/", true),
                ("http://127.0.0.1:9999/", true),
                ("http://127.0.0.2/", false),
                ("http://10.200.3.4/", true),
                ("http://11.0.0.1/", false),
                ("http://[fd12::1]/", true),
                ("http://[fe80::1]/", false),
                ("http://[::1]:8080/", true),
                // A name is not resolved to decide.
                ("http://localhost/", false),
            ],
        );
        check(
            "0.0.0.0/0",
            &[("http://8.8.8.8/", true), ("http://[::1]/", false)],
        );
        // The bits past the prefix do not count.
        check("10.1.2.3/8", &[("http://10.9.9.9/", true)]);
    }

    #[test]
    fn an_address_with_a_port_covers_that_port_only() {
        check(
            "127.0.0.1:8080",
            &[
                ("http://127.0.0.1:8080/", true),
                ("http://127.0.0.1/", false),
                ("http://127.0.0.1:8081/", false),
                ("http://127.0.0.2:8080/", false),
            ],
        );
    }

    #[test]
    fn a_bracketed_ipv6_address_matches_that_address() {
        check(
            "[::1]",
            &[
                ("http://[::1]/", true),
                ("https://[::1]:8443/", true),
                ("http://[0:0::1]/", true),
                ("http://[::2]/", false),
                ("http://127.0.0.1/", false),
            ],
        );
        check(
            "[::1]:8080",
            &[
                ("http://[::1]:8080/", true),
                ("http://[::1]/", false),
                ("http://[::1]:8081/", false),
                ("http://[::2]:8080/", false),
            ],
        );
        check(
            "[::1]:443",
            &[("https://[::1]/", true), ("http://[::1]/", false)],
        );
        check(
            "[fd00::]/8",
            &[("http://[fd99::1]/", true), ("http://[fe00::1]/", false)],
        );
    }

    #[test]
    fn entries_that_cannot_be_read_match_nothing() {
        check(
            "example.com:99999, example.com:http, [example.com], [::1]:x, 10.0.0.0/33, , ,",
            &[
                ("http://example.com/", false),
                ("http://example.com:99999/", false),
                ("http://[::1]/", false),
                ("http://10.0.0.1/", false),
            ],
        );
        // The others in the list still count.
        check("[::1]:x, example.com", &[("http://example.com/", true)]);
        check("", &[("http://example.com/", false)]);
    }
}
