//! Address conversion and host-name resolution on the blocking spawner.

use crate::loom::{Arc, Mutex};
use crate::reactor::Reactor;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::task::{Poll, Waker};

/// What an address argument turns into: addresses at hand, or a name to look up.
#[derive(Debug)]
pub enum Resolution {
    /// Already resolved (or invalid).
    Done(io::Result<Vec<SocketAddr>>),
    /// A host name and port, to be looked up on the blocking spawner.
    Lookup(String, u16),
}

mod sealed {
    /// Seals [`ToSocketAddrs`](super::ToSocketAddrs).
    pub trait Sealed {
        /// Converts the argument into addresses or a lookup.
        fn to_resolution(&self) -> super::Resolution;
    }
}

/// Socket address arguments: `SocketAddr`, `(IpAddr, u16)`, `"host:port"`, `(&str, u16)`,
/// `String`, `&[SocketAddr]`... (sealed; mirrors `std::net::ToSocketAddrs`, but host names are
/// resolved off the async threads).
///
/// # Examples
///
/// ```
/// use ciranda::net::{TcpListener, ToSocketAddrs};
///
/// async fn listen(addr: impl ToSocketAddrs) -> std::io::Result<TcpListener> {
///     TcpListener::bind(addr).await
/// }
/// ciranda::run(async {
///     let l = listen("localhost:0").await?;
///     assert!(l.local_addr()?.ip().is_loopback());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

macro_rules! ready_addr {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {
            fn to_resolution(&self) -> Resolution {
                Resolution::Done(Ok(vec![SocketAddr::from(*self)]))
            }
        }
        impl ToSocketAddrs for $t {}
    )*};
}

ready_addr!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl sealed::Sealed for (&str, u16) {
    fn to_resolution(&self) -> Resolution {
        let (host, port) = *self;
        match host.parse::<IpAddr>() {
            Ok(ip) => Resolution::Done(Ok(vec![SocketAddr::new(ip, port)])),
            Err(_) => Resolution::Lookup(host.to_owned(), port),
        }
    }
}
impl ToSocketAddrs for (&str, u16) {}

impl sealed::Sealed for (String, u16) {
    fn to_resolution(&self) -> Resolution {
        (self.0.as_str(), self.1).to_resolution()
    }
}
impl ToSocketAddrs for (String, u16) {}

impl sealed::Sealed for str {
    fn to_resolution(&self) -> Resolution {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Resolution::Done(Ok(vec![addr]));
        }
        let Some((host, port)) = self.rsplit_once(':') else {
            return Resolution::Done(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid socket address {self:?}: expected \"host:port\""),
            )));
        };
        // A host name is never empty and never bracketed: brackets enclose an IPv6 literal,
        // and `"[ip]:port"` with a valid literal already parsed above. Looking such a host up
        // could only fail, with a resolver message that does not say why.
        if host.is_empty() || host.contains(['[', ']']) {
            return Resolution::Done(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid socket address {self:?}: expected \"host:port\" or \"[ipv6]:port\""
                ),
            )));
        }
        match port.parse::<u16>() {
            Ok(port) => (host, port).to_resolution(),
            Err(_) => Resolution::Done(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid port {port:?} in socket address {self:?}"),
            ))),
        }
    }
}
impl ToSocketAddrs for str {}

impl sealed::Sealed for String {
    fn to_resolution(&self) -> Resolution {
        self.as_str().to_resolution()
    }
}
impl ToSocketAddrs for String {}

impl sealed::Sealed for [SocketAddr] {
    fn to_resolution(&self) -> Resolution {
        Resolution::Done(Ok(self.to_vec()))
    }
}
impl ToSocketAddrs for [SocketAddr] {}

impl sealed::Sealed for Vec<SocketAddr> {
    fn to_resolution(&self) -> Resolution {
        Resolution::Done(Ok(self.clone()))
    }
}
impl ToSocketAddrs for Vec<SocketAddr> {}

impl<T: sealed::Sealed + ?Sized> sealed::Sealed for &T {
    fn to_resolution(&self) -> Resolution {
        (**self).to_resolution()
    }
}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

/// The hand-off slot between the lookup job and the waiting task.
struct Slot {
    result: Option<io::Result<Vec<SocketAddr>>>,
    waker: Option<Waker>,
}

/// Fills the slot when the job runs, or with an error if the job is dropped unrun (a blocking
/// pool that shut down), so the waiting task never hangs.
struct Completer(Arc<Mutex<Slot>>);

impl Completer {
    fn complete(&self, result: io::Result<Vec<SocketAddr>>) {
        let waker = {
            let mut slot = self.0.lock();
            if slot.result.is_some() {
                return;
            }
            slot.result = Some(result);
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        self.complete(Err(io::Error::other(
            "ciranda: the host-name lookup job was dropped before it ran",
        )));
    }
}

/// Resolves an address argument; host names are looked up on the blocking spawner.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(
    addr: &A,
    reactor: &Reactor,
) -> io::Result<Vec<SocketAddr>> {
    let addrs = match addr.to_resolution() {
        Resolution::Done(result) => result?,
        Resolution::Lookup(host, port) => {
            let slot = Arc::new(Mutex::new(Slot {
                result: None,
                waker: None,
            }));
            let completer = Completer(slot.clone());
            reactor.spawn_blocking(Box::new(move || {
                // The resolver's own message ("Name or service not known") does not say
                // which name: with several addresses in play the caller could not tell.
                let result = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                    .map(|it| it.collect())
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!("cannot resolve host {host:?} (port {port}): {e}"),
                        )
                    });
                completer.complete(result);
            }))?;
            poll_fn(|cx| {
                // Cloned before the lock, and the waker it replaces dropped after it: a
                // waker's clone or drop may do anything, including resolving again.
                let waker = cx.waker().clone();
                let (poll, spare) = {
                    let mut slot = slot.lock();
                    match slot.result.take() {
                        Some(result) => (Poll::Ready(result), Some(waker)),
                        None => (Poll::Pending, slot.waker.replace(waker)),
                    }
                };
                drop(spare);
                poll
            })
            .await?
        }
    };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        ));
    }
    Ok(addrs)
}

/// Resolves `addr` to its socket addresses (asyncio's `loop.getaddrinfo`, Tokio's
/// `lookup_host`), in the resolver's order.
///
/// Host names are looked up with the system resolver on the runtime's blocking pool, never on
/// an async thread; an address that is already numeric (`"127.0.0.1:80"`, a `SocketAddr`)
/// costs no lookup. Errors name the host and port; an argument that is not `"host:port"` (or
/// `(host, port)`) is an `InvalidInput` error that says so, without a lookup. A name that
/// resolves to nothing is an `InvalidInput` error too. Outside a runtime it fails at once, with
/// the error every socket constructor gives there (it says where to make one).
///
/// # Examples
///
/// ```
/// use ciranda::net::lookup_host;
///
/// ciranda::run(async {
///     let mut addrs = lookup_host("localhost:8080").await?;
///     assert!(addrs.all(|a| a.ip().is_loopback() && a.port() == 8080));
///     let numeric: Vec<_> = lookup_host(("10.0.0.1", 53)).await?.collect();
///     assert_eq!(numeric, ["10.0.0.1:53".parse().unwrap()]);
///     assert!(lookup_host("no-port-here").await.is_err());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// A future dropped while the name is being looked up returns nothing; the lookup already
/// running on the blocking pool finishes there and its answer is discarded.
pub async fn lookup_host<A: ToSocketAddrs>(addr: A) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    let reactor = Reactor::current_io()?;
    Ok(resolve(&addr, &reactor).await?.into_iter())
}

/// Tries `op` on each address in order; the last error if all fail.
pub(crate) async fn try_each<T, F, Fut>(addrs: Vec<SocketAddr>, mut op: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in addrs {
        match op(addr).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the address resolved to no socket address",
        )
    }))
}
