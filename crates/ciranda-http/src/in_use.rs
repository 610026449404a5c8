//! The client's limit on the connections in use at once across all hosts
//! ([`ClientBuilder::max_connections`](crate::ClientBuilder::max_connections)), aiohttp's
//! `TCPConnector(limit=...)`.
//!
//! What is counted is what aiohttp counts: connections *in use*, not open ones. hyper-util's
//! pool cannot be asked to close an idle connection, so a limit on open connections would let
//! idle keep-alive connections to one host hold another host's requests back until they
//! expire idle. So the limit is taken by the request, not by the connector: an exchange
//! takes a unit before it asks the pool for a connection (so a new connection is only ever
//! made for a request holding one) and gives it back when its connection is free again: when
//! the response's body has been read to its end, or the response is dropped (an HTTP/1.1
//! connection is then closed), or the exchange fails; and, if a streamed upload is still being
//! sent when its response ends (a server that answers first and reads on), once that upload
//! ends too (see `abandon`). An HTTP/1.1 connection serves one exchange at a time, so in-use
//! connections and units held are the same count.
//!
//! HTTP/2 carries many exchanges on one connection, and hyper-util keeps one HTTP/2
//! connection per host: the exchanges in flight to an HTTP/2 host share one unit, the host's
//! *group*'s. An exchange learns that its connection speaks HTTP/2 once the pool has given it
//! one; it then joins the group (if the group already holds a unit, its own goes back at
//! once; if not, its unit becomes the group's). A request to a host whose group holds a unit
//! joins it without waiting. The group's unit goes back when its last exchange ends.
//!
//! Requests that find no unit free wait in one line, first come first served, within their
//! timeout; one dropped while waiting leaves the line (a unit granted to it and not yet taken
//! goes to the next). Units are handed over by whoever gives one back, so a request that
//! arrives finds free units only if nobody waiting could have taken them. Serving the line
//! looks at the requests in turn until the units run out (passing over those whose host is
//! at its own limit, below), so it costs as many steps as requests it looks at.
//!
//! With [`max_connections_per_host`](crate::ClientBuilder::max_connections_per_host) as well,
//! a request also waits while its host has that many units in use, and then does not take a
//! unit at all: it does not hold one of the total while it waits for its host (a request
//! further down the line, for a host with room, is served first). A request admitted here
//! may still wait in the connector for a host slot (`limit`), but only for a connection that
//! needs no unit to come free (an idle one, or one hyper-util finishes in the background), so
//! neither limit waits on the other.

use crate::limit::HostKey;
use http::Uri;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// The units of one client: every pool (per-request proxies' included) shares them.
pub(crate) struct InUseLimit {
    /// Units in use at once, at most.
    max: usize,
    /// Units in use at once for one host of one pool (`usize::MAX`: no limit of its own).
    max_per_host: usize,
    state: Mutex<State>,
}

/// One host of one pool: per-request proxies' pools count their hosts apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    route: usize,
    host: HostKey,
}

#[derive(Default)]
struct State {
    /// Units in use.
    units: usize,
    /// The hosts with a unit in use, an HTTP/2 group or a request waiting: no entry outlives
    /// them.
    hosts: HashMap<Key, Host>,
    /// The requests waiting, first come first.
    line: VecDeque<Waiting>,
    /// What was handed to waiting requests that have not taken it yet, by request.
    granted: HashMap<u64, Held>,
    next_id: u64,
}

#[derive(Default)]
struct Host {
    /// Units in use for this host: its HTTP/1.1 exchanges', and its group's if it has one.
    units: usize,
    /// The exchanges in its HTTP/2 group; the group holds a unit while it has any.
    members: usize,
    /// Its requests in line.
    waiting: usize,
}

impl Host {
    fn is_unused(&self) -> bool {
        self.units == 0 && self.members == 0 && self.waiting == 0
    }
}

struct Waiting {
    id: u64,
    key: Key,
    waker: Waker,
}

/// What an exchange holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    /// A unit of its own.
    Unit,
    /// A place in its host's HTTP/2 group (whose unit is shared).
    Member,
}

impl InUseLimit {
    /// `max` units in all (from 1 to any), `max_per_host` per host of a pool.
    pub(crate) fn new(max: usize, max_per_host: Option<usize>) -> Arc<InUseLimit> {
        debug_assert!(max >= 1);
        Arc::new(InUseLimit {
            max,
            max_per_host: max_per_host.unwrap_or(usize::MAX),
            state: Mutex::new(State::default()),
        })
    }

    /// Waits, in line, until a request to `uri` through the pool `route` may use a
    /// connection; dropping the future leaves the line.
    pub(crate) fn enter(self: &Arc<Self>, route: usize, uri: &Uri) -> Enter {
        Enter {
            limit: self.clone(),
            key: Some(Key {
                route,
                host: HostKey::of(uri),
            }),
            id: None,
        }
    }

    /// Units in use at once, at most.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a request for `key` gets now, with nobody in line able to take it first
    /// (counted in if anything).
    fn try_take(&self, state: &mut State, key: &Key) -> Option<Held> {
        let units = state.units;
        let host = state.hosts.entry(key.clone()).or_default();
        if host.members > 0 {
            host.members += 1;
            return Some(Held::Member);
        }
        if units < self.max && host.units < self.max_per_host {
            host.units += 1;
            state.units += 1;
            return Some(Held::Unit);
        }
        None
    }

    /// Hands what is free to the requests in line, in their order: units while there are
    /// any, and places in HTTP/2 groups that hold a unit. Returns the wakers of the requests
    /// served, to wake once the lock is let go (a foreign waker may run code that takes it).
    #[must_use = "wake the requests served"]
    fn serve(&self, state: &mut State) -> Vec<Waker> {
        let mut served = Vec::new();
        // Whether a request in line could join a group (looked at once: serving the line
        // only ever makes it false).
        let joinable = state.hosts.values().any(|h| h.members > 0 && h.waiting > 0);
        let mut i = 0;
        while i < state.line.len() {
            let key = state.line[i].key.clone();
            match self.try_take(state, &key) {
                Some(held) => {
                    let waiting = state.line.remove(i).expect("in range");
                    state.hosts.get_mut(&key).expect("waiting").waiting -= 1;
                    state.granted.insert(waiting.id, held);
                    served.push(waiting.waker);
                }
                // Only a group could take another request while every unit is in use.
                None if state.units >= self.max && !joinable => break,
                None => i += 1,
            }
        }
        served
    }

    /// Gives back what an exchange for `key` held.
    fn give_back(&self, key: &Key, held: Held) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let host = state.hosts.get_mut(key).expect("held for this host");
        let unit_back = match held {
            Held::Unit => true,
            Held::Member => {
                host.members -= 1;
                host.members == 0
            }
        };
        if unit_back {
            host.units -= 1;
            state.units -= 1;
        }
        if host.is_unused() {
            state.hosts.remove(key);
        }
        let served = if unit_back {
            self.serve(state)
        } else {
            Vec::new()
        };
        drop(guard);
        served.into_iter().for_each(Waker::wake);
    }

    /// An exchange holding a unit for `key` found its connection speaks HTTP/2: it joins the
    /// host's group, and what that frees goes to the line.
    fn join_group(&self, key: &Key) {
        let mut guard = self.lock();
        let state = &mut *guard;
        let host = state.hosts.get_mut(key).expect("held for this host");
        if host.members > 0 {
            // The group has its unit: this one goes back.
            host.members += 1;
            host.units -= 1;
            state.units -= 1;
        } else {
            // This unit becomes the group's.
            host.members = 1;
        }
        let served = self.serve(state);
        drop(guard);
        served.into_iter().for_each(Waker::wake);
    }

    #[cfg(test)]
    fn counts(&self) -> (usize, usize, usize) {
        let state = self.lock();
        (state.units, state.hosts.len(), state.line.len())
    }
}

/// A request's wait for a place ([`InUseLimit::enter`]).
pub(crate) struct Enter {
    limit: Arc<InUseLimit>,
    /// `None` once the place is taken.
    key: Option<Key>,
    /// Its number in line, once it waits.
    id: Option<u64>,
}

impl Future for Enter {
    type Output = InUse;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<InUse> {
        let this = &mut *self;
        let key = this.key.as_ref().expect("polled after it was ready");
        let mut state = this.limit.lock();
        let held = match this.id {
            // Nobody in line could take what is free (whoever frees a unit or forms a group
            // hands it over at once): a newcomer for a host with room, or with a group, takes
            // it without passing anyone.
            None => this.limit.try_take(&mut state, key),
            Some(id) => state.granted.remove(&id),
        };
        if let Some(held) = held {
            drop(state);
            this.id = None;
            let key = this.key.take().expect("checked above");
            return Poll::Ready(InUse {
                limit: this.limit.clone(),
                key,
                held: Some(held),
                settled: false,
            });
        }
        match this.id {
            Some(id) => {
                // Still in line: keep the latest waker.
                if let Some(waiting) = state.line.iter_mut().find(|w| w.id == id) {
                    waiting.waker.clone_from(cx.waker());
                }
            }
            None => {
                let id = state.next_id;
                state.next_id += 1;
                state.hosts.entry(key.clone()).or_default().waiting += 1;
                state.line.push_back(Waiting {
                    id,
                    key: key.clone(),
                    waker: cx.waker().clone(),
                });
                this.id = Some(id);
            }
        }
        Poll::Pending
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        let (Some(id), Some(key)) = (self.id, &self.key) else {
            return;
        };
        let mut guard = self.limit.lock();
        if let Some(held) = guard.granted.remove(&id) {
            // Handed a place it never took: it goes to the next in line.
            drop(guard);
            self.limit.give_back(key, held);
            return;
        }
        let state = &mut *guard;
        let Some(at) = state.line.iter().position(|w| w.id == id) else {
            return;
        };
        let left = state.line.remove(at);
        let host = state.hosts.get_mut(key).expect("waiting");
        host.waiting -= 1;
        if host.is_unused() {
            state.hosts.remove(key);
        }
        // Its waker is dropped without the lock.
        drop(guard);
        drop(left);
    }
}

/// An exchange's place among the connections in use: given back when dropped.
pub(crate) struct InUse {
    limit: Arc<InUseLimit>,
    key: Key,
    /// `None` once given back.
    held: Option<Held>,
    /// Whether the exchange's connection is known.
    settled: bool,
}

impl InUse {
    /// Whether the exchange has been told which connection it uses.
    pub(crate) fn is_settled(&self) -> bool {
        self.settled
    }

    /// The pool gave the exchange a connection; `h2`: it speaks HTTP/2, and the exchange
    /// joins its host's group. (A member whose connection turns out to speak HTTP/1.1, a
    /// host that stopped offering HTTP/2, stays in the group: counted with it, not apart.)
    pub(crate) fn connected(&mut self, h2: bool) {
        if self.settled {
            return;
        }
        self.settled = true;
        if h2 && self.held == Some(Held::Unit) {
            self.limit.join_group(&self.key);
            self.held = Some(Held::Member);
        }
    }
}

impl InUse {
    /// The exchange is sent once more, on the connection the pool gives next: it is told
    /// again which one that is.
    pub(crate) fn reconnecting(&mut self) {
        self.settled = false;
    }
}

impl Drop for InUse {
    fn drop(&mut self) {
        if let Some(held) = self.held.take() {
            self.limit.give_back(&self.key, held);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(enter: &mut Enter) -> Option<InUse> {
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        match Pin::new(enter).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(in_use) => Some(in_use),
            Poll::Pending => None,
        }
    }

    fn uri(host: &str) -> Uri {
        format!("http://{host}/").parse().unwrap()
    }

    #[test]
    fn units_go_to_the_line_in_order_and_entries_leave_with_their_users() {
        let limit = InUseLimit::new(2, None);
        let a = poll(&mut limit.enter(0, &uri("a"))).unwrap();
        let b = poll(&mut limit.enter(0, &uri("b"))).unwrap();
        let mut c = limit.enter(0, &uri("c"));
        let mut d = limit.enter(0, &uri("a"));
        assert!(poll(&mut c).is_none());
        assert!(poll(&mut d).is_none());
        assert_eq!(limit.counts(), (2, 3, 2));
        // A newcomer does not pass the line.
        let mut e = limit.enter(0, &uri("e"));
        assert!(poll(&mut e).is_none());
        drop(b);
        let c = poll(&mut c).expect("first in line");
        assert!(poll(&mut d).is_none());
        // `d` leaves the line; its place goes to nobody yet.
        drop(d);
        drop(a);
        let e = poll(&mut e).expect("next in line");
        drop((c, e));
        assert_eq!(limit.counts(), (0, 0, 0));
    }

    #[test]
    fn a_place_granted_and_never_taken_goes_to_the_next() {
        let limit = InUseLimit::new(1, None);
        let a = poll(&mut limit.enter(0, &uri("a"))).unwrap();
        let mut b = limit.enter(0, &uri("b"));
        let mut c = limit.enter(0, &uri("c"));
        assert!(poll(&mut b).is_none());
        assert!(poll(&mut c).is_none());
        drop(a);
        drop(b);
        let c = poll(&mut c).expect("b's place");
        drop(c);
        assert_eq!(limit.counts(), (0, 0, 0));
    }

    #[test]
    fn a_host_at_its_own_limit_holds_no_unit_and_lets_others_pass() {
        let limit = InUseLimit::new(3, Some(1));
        let a = poll(&mut limit.enter(0, &uri("a"))).unwrap();
        let mut a2 = limit.enter(0, &uri("a"));
        assert!(poll(&mut a2).is_none());
        // Through another pool, `a` is another host.
        let other_route = poll(&mut limit.enter(1, &uri("a"))).unwrap();
        let b = poll(&mut limit.enter(0, &uri("b"))).expect("passes the request for a");
        assert_eq!(limit.counts(), (3, 3, 1));
        drop(b);
        assert!(poll(&mut a2).is_none(), "a is still at its limit");
        drop(a);
        let a2 = poll(&mut a2).unwrap();
        drop((a2, other_route));
        assert_eq!(limit.counts(), (0, 0, 0));
    }

    #[test]
    fn http2_exchanges_to_one_host_share_a_unit() {
        let limit = InUseLimit::new(2, None);
        let mut first = poll(&mut limit.enter(0, &uri("h2"))).unwrap();
        let mut second = poll(&mut limit.enter(0, &uri("h2"))).unwrap();
        let mut other = limit.enter(0, &uri("other"));
        assert!(poll(&mut other).is_none());
        first.connected(true);
        assert!(poll(&mut other).is_none(), "the group holds first's unit");
        // The second finds HTTP/2 too: its unit goes to the line.
        second.connected(true);
        let other = poll(&mut other).expect("second's unit");
        // The group holds a unit: more requests to its host join it at once.
        let third = poll(&mut limit.enter(0, &uri("h2"))).expect("joins the group");
        assert_eq!(limit.counts(), (2, 2, 0));
        drop((first, second));
        let mut waiting = limit.enter(0, &uri("x"));
        assert!(poll(&mut waiting).is_none());
        drop(third);
        let waiting = poll(&mut waiting).expect("the group's unit, its last member gone");
        drop((other, waiting));
        assert_eq!(limit.counts(), (0, 0, 0));
    }

    #[test]
    fn requests_waiting_for_an_http2_host_join_its_group_when_it_forms() {
        let limit = InUseLimit::new(1, None);
        let mut first = poll(&mut limit.enter(0, &uri("h2"))).unwrap();
        let mut other = limit.enter(0, &uri("other"));
        let mut second = limit.enter(0, &uri("h2"));
        assert!(poll(&mut other).is_none());
        assert!(poll(&mut second).is_none());
        first.connected(true);
        // Behind `other` in line, but a group's place takes no unit.
        let second = poll(&mut second).expect("joined");
        assert!(poll(&mut other).is_none());
        drop((first, second));
        let other = poll(&mut other).expect("the unit");
        drop(other);
        assert_eq!(limit.counts(), (0, 0, 0));
    }
}
