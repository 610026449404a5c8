//! The client's limit on the connections open at once to one host
//! ([`ClientBuilder::max_connections_per_host`](crate::ClientBuilder::max_connections_per_host)).
//!
//! A connection takes a slot from its host's semaphore (FIFO, so requests are served in the
//! order they came) before the connector starts on it, and keeps it in its I/O object (the
//! connector's `Conn`, which hyper owns): the slot comes free when hyper drops that, that is
//! when the connection closes, fails, expires idle, is turned away by a full idle pool, or is
//! never finished (a failed or cancelled connect drops it with its future).
//!
//! hyper-util's pool races a checkout of an idle connection against a new connect, and when
//! the checkout wins after the connect started, it finishes that connect in a background task
//! (so as not to waste the socket). A connect still waiting for a slot then serves nobody:
//! left in line it would take the next slot that comes free and open a connection no request
//! asked for, one for every request that ever waited, long after the burst. So each request's
//! future is polled with its id in a thread-local ([`ForRequest`]), the connector notes the id
//! of the request it was called for ([`RequestId::current`]), and a wait for a slot polled
//! under any other id (in the background task) gives up its place. A connect that already has
//! its slot goes on in the background, as hyper-util means it to: its connection goes to the
//! pool, where the next request waiting for one takes it.

use crate::connect::ConnectError;
use crate::error::Kind;
use ciranda::sync::{OwnedSemaphorePermit, Semaphore};
use http::Uri;
use std::cell::Cell;
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

/// The most connections a limit can allow; a larger one is no limit.
pub(crate) const MOST: usize = Semaphore::MAX_PERMITS;

/// What the limit counts connections per: the scheme's security, host and port (a port left
/// out is the scheme's default).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct HostKey {
    https: bool,
    host: String,
    port: u16,
}

impl HostKey {
    pub(crate) fn of(uri: &Uri) -> HostKey {
        let https = uri.scheme_str() == Some("https");
        HostKey {
            https,
            host: uri.host().unwrap_or_default().to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
        }
    }
}

/// The slots of one pool's hosts.
pub(crate) struct HostLimits {
    /// Connections per host, at most [`MOST`].
    max: usize,
    /// The hosts with a connection or a request waiting for one: no entry outlives them.
    hosts: Mutex<HashMap<HostKey, Host>>,
}

struct Host {
    slots: Arc<Semaphore>,
    /// The [`User`]s of `slots`: the connections holding a slot and the waits for one.
    users: usize,
}

impl HostLimits {
    /// Slots for `max` connections per host (`max` from 1 to [`MOST`]).
    pub(crate) fn new(max: usize) -> Arc<HostLimits> {
        debug_assert!((1..=MOST).contains(&max));
        Arc::new(HostLimits {
            max,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// Waits, in line, for a slot for a connection to `uri`'s host, made for the request
    /// `request`; gives up (with an error nobody sees: hyper-util's background connect only
    /// logs it) if polled outside that request's own poll.
    pub(crate) async fn slot(
        self: Arc<Self>,
        uri: &Uri,
        request: RequestId,
    ) -> Result<Slot, ConnectError> {
        let (user, slots) = self.enter(HostKey::of(uri));
        // Declared after `user`, so dropped before it.
        let mut acquire = pin!(slots.acquire_owned());
        let permit = poll_fn(|cx: &mut Context<'_>| {
            if !request.is_current() {
                return Poll::Ready(Err(ConnectError::new(
                    Kind::Connect,
                    "the request waiting for this connection was given another one",
                    None,
                )));
            }
            acquire.as_mut().poll(cx).map_err(|_| {
                ConnectError::new(Kind::Connect, "the connection limit was closed", None)
            })
        })
        .await?;
        Ok(Slot {
            _permit: permit,
            _user: user,
        })
    }

    /// Counts a user of `key`'s slots in (making them if it is the first).
    fn enter(self: &Arc<Self>, key: HostKey) -> (User, Arc<Semaphore>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let host = hosts.entry(key.clone()).or_insert_with(|| Host {
            slots: Arc::new(Semaphore::new(self.max)),
            users: 0,
        });
        host.users += 1;
        let slots = host.slots.clone();
        drop(hosts);
        let user = User {
            limits: self.clone(),
            key,
        };
        (user, slots)
    }

    #[cfg(test)]
    fn hosts(&self) -> usize {
        self.hosts.lock().unwrap().len()
    }
}

/// One connection's place among its host's: given back when dropped.
pub(crate) struct Slot {
    // Fields drop in order: the permit before its user is counted out.
    _permit: OwnedSemaphorePermit,
    _user: User,
}

/// Keeps its host's entry while it lives; the last one removes it.
struct User {
    limits: Arc<HostLimits>,
    key: HostKey,
}

impl Drop for User {
    fn drop(&mut self) {
        let mut hosts = self
            .limits
            .hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(host) = hosts.get_mut(&self.key) {
            host.users -= 1;
            if host.users == 0 {
                hosts.remove(&self.key);
            }
        }
    }
}

thread_local! {
    /// The id of the request whose future this thread is polling (0: none).
    static POLLING: Cell<u64> = const { Cell::new(0) };
}

/// Which request a connection is being made for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RequestId(u64);

impl RequestId {
    /// The request whose future is being polled on this thread, if any.
    pub(crate) fn current() -> RequestId {
        RequestId(POLLING.with(Cell::get))
    }

    /// Whether this request's future is being polled now (always, for a connection made
    /// outside any request's poll).
    fn is_current(self) -> bool {
        self.0 == 0 || POLLING.with(Cell::get) == self.0
    }
}

pin_project_lite::pin_project! {
    /// A request's future, polled with its id as [`RequestId::current`].
    pub(crate) struct ForRequest<F> {
        id: u64,
        #[pin]
        inner: F,
    }
}

impl<F> ForRequest<F> {
    pub(crate) fn new(inner: F) -> ForRequest<F> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        ForRequest {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            inner,
        }
    }
}

impl<F: Future> Future for ForRequest<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _polling = Polling::enter(*this.id);
        this.inner.poll(cx)
    }
}

/// Sets the id being polled, and puts back the one before when dropped (also if the poll
/// panics).
struct Polling(u64);

impl Polling {
    fn enter(id: u64) -> Polling {
        Polling(POLLING.with(|polling| polling.replace(id)))
    }
}

impl Drop for Polling {
    fn drop(&mut self) {
        POLLING.with(|polling| polling.set(self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_the_request_s_own_poll_is_current() {
        assert_eq!(RequestId::current(), RequestId(0));
        let (id, nested) = ciranda::run(ForRequest::new(async {
            let id = RequestId::current();
            let nested = ForRequest::new(async { RequestId::current() }).await;
            // The outer id is back after the inner request's poll.
            assert_eq!(RequestId::current(), id);
            (id, nested)
        }));
        assert_ne!(id, RequestId(0));
        assert_ne!(nested, id);
        assert!(!id.is_current());
        assert!(RequestId(0).is_current());
        assert_eq!(RequestId::current(), RequestId(0));
    }

    #[test]
    fn a_host_s_entry_lasts_as_long_as_its_connections_and_waits() {
        ciranda::run(async {
            let limits = HostLimits::new(1);
            let uri: Uri = "http://Example.com/a".parse().unwrap();
            let same: Uri = "http://example.com:80/b".parse().unwrap();
            let other: Uri = "https://example.com/".parse().unwrap();
            let slot = limits.clone().slot(&uri, RequestId(0)).await.unwrap();
            assert_eq!(limits.hosts(), 1);
            // The same host: no room; the wait, cancelled, leaves the entry as it was.
            let waiting = limits.clone().slot(&same, RequestId(0));
            let waited = ciranda::time::timeout(Duration::from_millis(50), waiting).await;
            assert!(waited.is_err(), "a second slot for a host limited to one");
            assert_eq!(limits.hosts(), 1);
            // Another scheme's is another host.
            let elsewhere = limits.clone().slot(&other, RequestId(0)).await.unwrap();
            assert_eq!(limits.hosts(), 2);
            drop(elsewhere);
            drop(slot);
            assert_eq!(limits.hosts(), 0);
            // The slot given back is there for the next connection.
            let again = limits.clone().slot(&same, RequestId(0)).await.unwrap();
            assert_eq!(limits.hosts(), 1);
            drop(again);
            assert_eq!(limits.hosts(), 0);
        });
    }

    #[test]
    fn a_wait_polled_outside_its_request_gives_up_its_place() {
        ciranda::run(async {
            let limits = HostLimits::new(1);
            let uri: Uri = "http://example.com/".parse().unwrap();
            let held = limits.clone().slot(&uri, RequestId(0)).await.unwrap();
            // Made for request 7 and polled outside it (as hyper-util's background task
            // would): it gives up at once, rather than wait for `held`.
            let orphan = limits.clone().slot(&uri, RequestId(7));
            let orphan = ciranda::time::timeout(Duration::from_secs(10), orphan).await;
            assert!(
                matches!(orphan, Ok(Err(_))),
                "still waiting for the slot held"
            );
            assert_eq!(limits.hosts(), 1);
            drop(held);
            assert_eq!(limits.hosts(), 0);
        });
    }
}
