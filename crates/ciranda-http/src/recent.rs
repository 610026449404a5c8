//! A map that keeps only the entries used most recently, for the client's pools of
//! per-request proxies: a program that rotates proxy URLs (a session id in each username is
//! common with proxy services) would otherwise keep a pool, and its idle connections, for
//! every URL it ever named.

use std::collections::HashMap;

/// At most `capacity` entries by key; inserting into a full map drops the entry used least
/// recently. "Used" is a [`get_or_try_insert_with`](Self::get_or_try_insert_with) that found
/// or made the entry. Eviction scans the map, which is fine for the few dozen entries it is
/// meant for.
pub(crate) struct RecentlyUsed<V> {
    entries: HashMap<String, (V, u64)>,
    capacity: usize,
    /// Bumped on every use; an entry's stamp is the value at its last use.
    clock: u64,
}

impl<V: Clone> RecentlyUsed<V> {
    pub(crate) fn new(capacity: usize) -> RecentlyUsed<V> {
        assert!(capacity > 0, "a RecentlyUsed map needs room for one entry");
        RecentlyUsed {
            entries: HashMap::new(),
            capacity,
            clock: 0,
        }
    }

    /// The entry for `key`, made by `make` if there is none (an `Err` from `make` leaves the
    /// map as it was); either way it becomes the most recently used.
    pub(crate) fn get_or_try_insert_with<E>(
        &mut self,
        key: &str,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.clock += 1;
        if let Some((value, stamp)) = self.entries.get_mut(key) {
            *stamp = self.clock;
            return Ok(value.clone());
        }
        let value = make()?;
        if self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, stamp))| *stamp)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries
            .insert(key.to_owned(), (value.clone(), self.clock));
        Ok(value)
    }

    #[cfg(test)]
    fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_key(map: &mut RecentlyUsed<u32>, key: &str, made: &mut u32) -> u32 {
        map.get_or_try_insert_with(key, || {
            *made += 1;
            Ok::<_, ()>(*made)
        })
        .unwrap()
    }

    #[test]
    fn a_full_map_drops_the_entry_used_least_recently() {
        let mut map = RecentlyUsed::new(3);
        let mut made = 0;
        assert_eq!(use_key(&mut map, "a", &mut made), 1);
        assert_eq!(use_key(&mut map, "b", &mut made), 2);
        assert_eq!(use_key(&mut map, "c", &mut made), 3);
        // "a" is used again, so "b" is now the oldest.
        assert_eq!(use_key(&mut map, "a", &mut made), 1);
        assert_eq!(use_key(&mut map, "d", &mut made), 4);
        assert_eq!(map.len(), 3);
        assert!(!map.contains("b"));
        assert!(map.contains("a") && map.contains("c") && map.contains("d"));
        // "b" comes back as a new entry, and "c" goes.
        assert_eq!(use_key(&mut map, "b", &mut made), 5);
        assert!(!map.contains("c"));
        assert_eq!(made, 5);
    }

    #[test]
    fn many_keys_in_turn_never_grow_the_map_past_its_capacity() {
        let mut map = RecentlyUsed::new(8);
        let mut made = 0;
        for round in 0..1_000 {
            use_key(&mut map, &format!("key-{round}"), &mut made);
            assert!(map.len() <= 8);
        }
        assert_eq!(made, 1_000);
        for round in 992..1_000 {
            assert!(map.contains(&format!("key-{round}")), "key-{round}");
        }
    }

    #[test]
    fn a_failed_make_leaves_the_map_as_it_was() {
        let mut map = RecentlyUsed::new(1);
        let mut made = 0;
        use_key(&mut map, "a", &mut made);
        let failed = map.get_or_try_insert_with("b", || Err::<u32, _>("unusable"));
        assert_eq!(failed, Err("unusable"));
        assert!(map.contains("a") && !map.contains("b"));
    }
}
