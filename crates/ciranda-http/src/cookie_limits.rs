//! How many cookies the jar keeps: at most [`PER_DOMAIN`] per domain and [`TOTAL`] in all
//! (Chromium's numbers; RFC 6265 6.1 asks for at least 50 and 3000), so a server that sets
//! cookie after cookie under new names cannot grow the client's memory, or the `Cookie`
//! header it sends, without bound.
//!
//! Over a limit, RFC 6265 5.3's eviction order: expired cookies first, then those set least
//! recently (the store keeps no access times, so "set" stands in for "accessed"), names
//! breaking ties so the outcome does not depend on hash order.

use cookie_store::{Cookie, CookieStore};
use std::collections::{HashMap, HashSet};

/// Cookies kept per domain.
pub(crate) const PER_DOMAIN: usize = 180;
/// Cookies kept in all.
pub(crate) const TOTAL: usize = 3000;

/// A cookie's identity in the store: domain, path, name.
pub(crate) type CookieKey = (String, String, String);

/// The store's key for `cookie`.
pub(crate) fn key_of(cookie: &Cookie<'_>) -> CookieKey {
    (
        String::from(&cookie.domain),
        String::from(&cookie.path),
        cookie.name().to_owned(),
    )
}

/// When each cookie was last set, by a counter that only grows.
#[derive(Default)]
pub(crate) struct SetOrder {
    stamps: HashMap<CookieKey, u64>,
    clock: u64,
}

impl SetOrder {
    /// `key` was set just now.
    pub(crate) fn touch(&mut self, key: CookieKey) {
        self.clock += 1;
        self.stamps.insert(key, self.clock);
    }

    /// Forgets every stamp (the store was cleared or replaced: what it now holds counts as
    /// set before anything set later).
    pub(crate) fn clear(&mut self) {
        self.stamps.clear();
    }

    fn stamp(&self, key: &CookieKey) -> u64 {
        self.stamps.get(key).copied().unwrap_or(0)
    }

    /// Removes cookies from `store` until `domains` (those just set into) hold at most
    /// [`PER_DOMAIN`] each and the store at most [`TOTAL`].
    pub(crate) fn evict(&mut self, store: &mut CookieStore, domains: &HashSet<String>) {
        if !over_a_limit(store, domains) {
            return;
        }
        // (expired first, least recently set, then by key): the order of eviction.
        let mut all: Vec<(bool, u64, CookieKey)> = store
            .iter_any()
            .map(|cookie| {
                let key = key_of(cookie);
                (!cookie.is_expired(), self.stamp(&key), key)
            })
            .collect();
        all.sort();
        let mut per_domain: HashMap<&str, usize> = HashMap::new();
        for (_, _, (domain, _, _)) in &all {
            *per_domain.entry(domain.as_str()).or_default() += 1;
        }
        let mut excess: HashMap<String, usize> = domains
            .iter()
            .filter_map(|d| {
                let over = per_domain.get(d.as_str())?.checked_sub(PER_DOMAIN)?;
                (over > 0).then(|| (d.clone(), over))
            })
            .collect();
        let mut left = all.len();
        let mut doomed = Vec::new();
        for (_, _, key) in &all {
            let domain_over = excess.get_mut(&key.0).filter(|over| **over > 0);
            let evict = match domain_over {
                Some(over) => {
                    *over -= 1;
                    true
                }
                None => left > TOTAL,
            };
            if evict {
                left -= 1;
                doomed.push(key.clone());
            }
        }
        for key in doomed {
            store.remove(&key.0, &key.1, &key.2);
            self.stamps.remove(&key);
        }
    }
}

/// Whether `store` holds more than [`TOTAL`] cookies, or one of `domains` more than
/// [`PER_DOMAIN`]: one pass over the store, cloning no cookie, as every response that sets
/// a cookie makes it.
fn over_a_limit(store: &CookieStore, domains: &HashSet<String>) -> bool {
    let mut total = 0;
    let mut per_domain: HashMap<&str, usize> = domains.iter().map(|d| (d.as_str(), 0)).collect();
    for cookie in store.iter_any() {
        total += 1;
        if let Some(domain) = cookie.domain.as_cow() {
            if let Some(count) = per_domain.get_mut(domain.as_ref()) {
                *count += 1;
            }
        }
    }
    total > TOTAL || per_domain.values().any(|&count| count > PER_DOMAIN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn set(store: &mut CookieStore, order: &mut SetOrder, url: &str, cookie: &str) {
        let url = Url::parse(url).unwrap();
        let raw = cookie_store::RawCookie::parse(cookie).unwrap();
        let cookie = Cookie::try_from_raw_cookie(&raw, &url)
            .unwrap()
            .into_owned();
        let key = key_of(&cookie);
        store.insert(cookie, &url).unwrap();
        order.touch(key.clone());
        order.evict(store, &HashSet::from([key.0]));
    }

    fn names(store: &CookieStore) -> Vec<String> {
        let mut names: Vec<String> = store.iter_any().map(|c| c.name().to_owned()).collect();
        names.sort();
        names
    }

    #[test]
    fn a_domain_keeps_its_most_recently_set_cookies() {
        let (mut store, mut order) = (CookieStore::new(), SetOrder::default());
        for i in 0..PER_DOMAIN + 20 {
            set(
                &mut store,
                &mut order,
                "http://a.example/",
                &format!("c{i:03}=1"),
            );
        }
        // Setting an old one again makes it recent: it survives the next eviction.
        set(&mut store, &mut order, "http://a.example/", "c020=2");
        set(&mut store, &mut order, "http://a.example/", "new=1");
        let kept = names(&store);
        assert_eq!(kept.len(), PER_DOMAIN);
        assert!(kept.contains(&"c020".to_owned()) && kept.contains(&"new".to_owned()));
        assert!(!kept.contains(&"c000".to_owned()) && !kept.contains(&"c021".to_owned()));
        // Another domain is not touched by a.example's limit.
        set(&mut store, &mut order, "http://b.example/", "b=1");
        assert_eq!(store.iter_any().count(), PER_DOMAIN + 1);
    }

    #[test]
    fn expired_cookies_go_before_live_ones() {
        let (mut store, mut order) = (CookieStore::new(), SetOrder::default());
        set(&mut store, &mut order, "http://a.example/", "old=1");
        for i in 0..PER_DOMAIN - 1 {
            set(
                &mut store,
                &mut order,
                "http://a.example/",
                &format!("c{i:03}=1"),
            );
        }
        // The store keeps a cookie the server expires, marked expired; it goes first.
        set(
            &mut store,
            &mut order,
            "http://a.example/",
            "c005=; Max-Age=0",
        );
        set(&mut store, &mut order, "http://a.example/", "last=1");
        let kept = names(&store);
        assert_eq!(kept.len(), PER_DOMAIN);
        assert!(kept.contains(&"old".to_owned()), "the live oldest stays");
        assert!(!kept.contains(&"c005".to_owned()), "the expired one went");
    }

    #[test]
    fn the_whole_jar_keeps_at_most_total() {
        let (mut store, mut order) = (CookieStore::new(), SetOrder::default());
        let domains = TOTAL / 100 + 1;
        for d in 0..domains {
            for i in 0..100 {
                let url = format!("http://d{d}.example/");
                set(&mut store, &mut order, &url, &format!("c{i}=1"));
            }
        }
        assert_eq!(store.iter_any().count(), TOTAL);
        // The first domains' cookies, set first, are the ones that went.
        let first = Url::parse("http://d0.example/").unwrap();
        let last = Url::parse(&format!("http://d{}.example/", domains - 1)).unwrap();
        assert_eq!(store.matches(&first).len(), 0);
        assert_eq!(store.matches(&last).len(), 100);
    }
}
