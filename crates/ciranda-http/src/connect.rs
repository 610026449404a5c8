//! The client's connector: name resolution on the blocking pool, every address tried (the
//! next one beside a slow attempt, as RFC 8305's Happy Eyeballs do), `TCP_NODELAY`, a connect timeout, a proxy if one is configured (see `proxy`: HTTP, TLS
//! with the proxy itself for an `https://` one, or a SOCKS5 tunnel, see `socks`), and TLS
//! through rustls with ALPN.

use crate::error::{BoxError, Kind};
use crate::limit::{HostLimits, RequestId, Slot};
use crate::proxy::{Proxies, ProxyKind, proxy_address, tunnel};
use crate::rt::CirandaIo;
use crate::socks::{SocksTarget, socks5_connect};
use ciranda::net::TcpStream;
use ciranda::time::Instant;
use futures_rustls::TlsConnector;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use rustls_pki_types::ServerName;
use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Why a connection could not be made; the client turns it into an [`Error`](crate::Error)
/// of the same kind.
#[derive(Debug)]
pub(crate) struct ConnectError {
    pub(crate) kind: Kind,
    msg: String,
    source: Option<io::Error>,
}

impl ConnectError {
    pub(crate) fn new(
        kind: Kind,
        msg: impl Into<String>,
        source: Option<io::Error>,
    ) -> ConnectError {
        ConnectError {
            kind,
            msg: msg.into(),
            source,
        }
    }

    /// This error, met while resolving or connecting to the proxy at `proxy`: its message
    /// says that it was the proxy (`connecting to proxy http://host:port: ...`), so it is not
    /// taken for the target's; its kind and source stay as they were. (A proxy's URI as the
    /// matcher hands it over carries no credentials.)
    fn on_the_way_to(mut self, proxy: &Uri) -> ConnectError {
        let scheme = proxy.scheme_str().unwrap_or("http");
        let authority = proxy.authority().map_or("", |a| a.as_str());
        self.msg = format!("connecting to proxy {scheme}://{authority}: {}", self.msg);
        self
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// Opens plain or TLS connections for hyper-util's pooled client, directly or through an
/// HTTP proxy.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: TlsConnector,
    /// TLS with an `https://` proxy: the same roots, HTTP/1.1 only (a `CONNECT` or a
    /// forwarded request in absolute form is HTTP/1.1).
    proxy_tls: TlsConnector,
    connect_timeout: Option<Duration>,
    proxies: Option<Arc<Proxies>>,
    /// The slots a connection takes first, if the client limits connections per host.
    limits: Option<Arc<HostLimits>>,
}

impl Connector {
    pub(crate) fn new(
        tls: Arc<rustls::ClientConfig>,
        connect_timeout: Option<Duration>,
        proxies: Option<Arc<Proxies>>,
        limits: Option<Arc<HostLimits>>,
    ) -> Self {
        let mut proxy_tls = (*tls).clone();
        proxy_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Connector {
            tls: TlsConnector::from(tls),
            proxy_tls: TlsConnector::from(Arc::new(proxy_tls)),
            connect_timeout,
            proxies,
            limits,
        }
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        // hyper-util calls this from the poll of the request that needs the connection.
        let request = RequestId::current();
        Box::pin(async move { this.open(uri, request).await.map_err(BoxError::from) })
    }
}

impl Connector {
    /// A connection for `request`: once the host has room for it, if connections are limited
    /// (see `limit`; the connect timeout starts after that wait), with its slot in it.
    async fn open(self, uri: Uri, request: RequestId) -> Result<Conn, ConnectError> {
        let slot = match self.limits.clone() {
            Some(limits) => Some(limits.slot(&uri, request).await?),
            None => None,
        };
        let mut conn = self.connect(uri).await?;
        conn._slot = slot;
        Ok(conn)
    }

    async fn connect(self, uri: Uri) -> Result<Conn, ConnectError> {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(ConnectError::new(
                    Kind::InvalidUrl,
                    format!(
                        "unsupported scheme {:?} (http and https are)",
                        other.unwrap_or("")
                    ),
                    None,
                ));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| ConnectError::new(Kind::InvalidUrl, "the URL has no host", None))?;
        // `Uri::host` keeps an IPv6 literal's brackets.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // Saturating: a huge timeout (`Duration::MAX`) means no limit, not an overflow panic.
        let deadline = self
            .connect_timeout
            .map(|t| Instant::now().saturating_add(t));
        let proxy = self.proxies.as_ref().and_then(|p| p.intercept(&uri));
        // `forwarding`: a plain request goes to the proxy, which forwards it (not a tunnel).
        let open = async {
            let within = deadline.unwrap_or_else(far_future);
            let Some(proxy) = &proxy else {
                let tcp = connect_tcp(&host, port, within).await?;
                let _ = tcp.set_nodelay(true);
                return Ok((Stream::Plain(tcp), false));
            };
            let address = proxy_address(proxy)?;
            let tcp = connect_tcp(&address.host, address.port, within)
                .await
                .map_err(|e| e.on_the_way_to(proxy.uri()))?;
            let _ = tcp.set_nodelay(true);
            let mut stream = Stream::Plain(tcp);
            match address.kind {
                ProxyKind::Socks5 { remote_dns } => {
                    let target = if remote_dns && host.parse::<IpAddr>().is_err() {
                        SocksTarget::Name(&host, port)
                    } else {
                        SocksTarget::Address(resolve(&host, port).await?[0])
                    };
                    socks5_connect(&mut stream, target, proxy.raw_auth()).await?;
                    return Ok((stream, false));
                }
                ProxyKind::Https => {
                    let tls = tls_with(&self.proxy_tls, &address.host, stream, "the proxy ");
                    stream = Stream::Tls(Box::new(tls.await?));
                }
                ProxyKind::Http => {}
            }
            if https {
                tunnel(&mut stream, &host, port, proxy.basic_auth()).await?;
            }
            Ok((stream, !https))
        };
        let (stream, forwarding) = match deadline {
            Some(deadline) => ciranda::time::timeout_at(deadline, open)
                .await
                .map_err(|_| {
                    let through = if proxy.is_some() {
                        " through the proxy"
                    } else {
                        ""
                    };
                    ConnectError::new(
                        Kind::Timeout,
                        format!("connecting to {host}:{port}{through} timed out"),
                        None,
                    )
                })??,
            None => open.await?,
        };
        if !https {
            return Ok(Conn {
                io: CirandaIo::new(stream),
                h2: false,
                // hyper then writes the request's URI in absolute form, as a proxy needs.
                proxied: forwarding,
                _slot: None,
            });
        }
        let handshake = tls_with(&self.tls, &host, stream, "");
        let tls = match deadline {
            Some(deadline) => ciranda::time::timeout_at(deadline, handshake)
                .await
                .map_err(|_| {
                    ConnectError::new(
                        Kind::Timeout,
                        format!("TLS handshake with {host} timed out"),
                        None,
                    )
                })??,
            None => handshake.await?,
        };
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Conn {
            io: CirandaIo::new(Stream::Tls(Box::new(tls))),
            h2,
            proxied: false,
            _slot: None,
        })
    }
}

/// A TLS handshake with `host` over `stream` (`what` names the peer in errors: "" for the
/// target, "the proxy " for an `https://` proxy).
async fn tls_with(
    connector: &TlsConnector,
    host: &str,
    stream: Stream,
    what: &str,
) -> Result<futures_rustls::client::TlsStream<Stream>, ConnectError> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        ConnectError::new(
            Kind::InvalidUrl,
            format!("{what}{host:?} is not a valid TLS server name: {e}"),
            None,
        )
    })?;
    connector.connect(name, stream).await.map_err(|e| {
        ConnectError::new(
            Kind::Tls,
            format!("TLS handshake with {what}{host} failed"),
            Some(e),
        )
    })
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// How long a connection attempt runs alone before the next address is tried beside it: RFC
/// 8305's "Connection Attempt Delay", whose recommended 250 ms curl and hyper-util use too. A
/// first address that drops packets (an IPv6 route that goes nowhere, a firewall) then costs
/// that, not the system's connect timeout of about two minutes.
const ATTEMPT_DELAY: Duration = Duration::from_millis(250);

/// Resolves `host` (see [`resolve`]) and connects to the first of its addresses that answers
/// (see [`connect_any`]) before `deadline`.
async fn connect_tcp(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, ConnectError> {
    let addrs = interleave(resolve(host, port).await?);
    connect_any(addrs, deadline, ATTEMPT_DELAY)
        .await
        .map_err(|(addr, e)| {
            let kind = if e.kind() == io::ErrorKind::TimedOut {
                Kind::Timeout
            } else {
                Kind::Connect
            };
            ConnectError::new(kind, format!("connecting to {addr} failed"), Some(e))
        })
}

/// RFC 8305's order: the first address's family first, then the two families alternating,
/// each family's addresses in the resolver's order. A host whose first family is unreachable
/// gets its other family's first address as the second attempt.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let Some(first) = addrs.first() else {
        return addrs;
    };
    let first_v6 = first.is_ipv6();
    let (mut preferred, mut other): (VecDeque<_>, VecDeque<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut order = Vec::with_capacity(preferred.len() + other.len());
    while !(preferred.is_empty() && other.is_empty()) {
        order.extend(preferred.pop_front());
        order.extend(other.pop_front());
    }
    order
}

/// Connects to one of `addrs` (tried in order, never empty) before `deadline`: an attempt that
/// fails starts the next at once, and one still running after `delay` gets the next beside it
/// (it keeps running); the first connection made wins and the other attempts are dropped.
/// The error is the last failure's, or `TimedOut` at the deadline, with its address.
async fn connect_any(
    addrs: Vec<SocketAddr>,
    deadline: Instant,
    delay: Duration,
) -> Result<TcpStream, (SocketAddr, io::Error)> {
    let mut waiting = addrs.into_iter();
    let first = waiting.next().expect("at least one address to try");
    let attempt = |addr: SocketAddr| async move { (addr, TcpStream::connect(addr).await) };
    let mut running = FuturesUnordered::new();
    running.push(attempt(first));
    let mut latest = first;
    let mut failure: Option<(SocketAddr, io::Error)> = None;
    let mut next_attempt = ciranda::time::sleep(delay);
    let mut expired = ciranda::time::sleep_until(deadline);
    loop {
        enum Step {
            Finished(SocketAddr, io::Result<TcpStream>),
            DelayOver,
            Expired,
        }
        let step = poll_fn(|cx| {
            if let Poll::Ready(Some((addr, result))) = running.poll_next_unpin(cx) {
                return Poll::Ready(Step::Finished(addr, result));
            }
            if Pin::new(&mut expired).poll(cx).is_ready() {
                return Poll::Ready(Step::Expired);
            }
            if Pin::new(&mut next_attempt).poll(cx).is_ready() {
                return Poll::Ready(Step::DelayOver);
            }
            Poll::Pending
        })
        .await;
        match step {
            Step::Finished(_, Ok(stream)) => return Ok(stream),
            Step::Finished(addr, Err(e)) => failure = Some((addr, e)),
            Step::DelayOver => {}
            Step::Expired => {
                let timed_out = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                return Err((latest, timed_out));
            }
        }
        match waiting.next() {
            Some(addr) => {
                running.push(attempt(addr));
                latest = addr;
                next_attempt.reset(Instant::now() + delay);
            }
            // Nothing left to start: wait for the attempts still running (or the deadline).
            None if !running.is_empty() => next_attempt.reset(far_future()),
            None => return Err(failure.expect("every attempt failed, the last with an error")),
        }
    }
}

/// The addresses of `host` (on the blocking pool unless it is an IP literal); never empty.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => {
            let name = host.to_owned();
            ciranda::spawn_blocking(move || {
                (name.as_str(), port).to_socket_addrs().map(Vec::from_iter)
            })
            .await
            .map_err(|e| ConnectError::new(Kind::Connect, format!("resolving {host}: {e}"), None))?
            .map_err(|e| {
                ConnectError::new(Kind::Connect, format!("resolving {host} failed"), Some(e))
            })?
        }
    };
    if addrs.is_empty() {
        return Err(ConnectError::new(
            Kind::Connect,
            format!("{host} resolved to no address"),
            None,
        ));
    }
    Ok(addrs)
}

/// A TCP stream, or TLS over a stream: over TCP, or (the target's TLS through an `https://`
/// proxy's tunnel) over the proxy's own TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<futures_rustls::client::TlsStream<Stream>>),
}

macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = Pin::new(&mut **$s);
                $e
            }
        }
    };
}

impl futures_io::AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl futures_io::AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_close(cx))
    }
}

/// A connection handed to hyper: its I/O, whether ALPN chose HTTP/2, whether it goes
/// to a proxy that forwards plain HTTP requests (not through a tunnel), and its place among
/// its host's connections if they are limited (given back when hyper drops it: closed).
pub(crate) struct Conn {
    io: CirandaIo<Stream>,
    h2: bool,
    proxied: bool,
    _slot: Option<Slot>,
}

impl Connection for Conn {
    fn connected(&self) -> Connected {
        let connected = Connected::new().proxy(self.proxied);
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        hyper::rt::Read::poll_read(Pin::new(&mut self.get_mut().io), cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write(Pin::new(&mut self.get_mut().io), cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        hyper::rt::Write::poll_write_vectored(Pin::new(&mut self.get_mut().io), cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // rustls flattens vectored writes into one record anyway; plain TCP does real writev.
        matches!(self.io.inner(), Stream::Plain(_))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_flush(Pin::new(&mut self.get_mut().io), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        hyper::rt::Write::poll_shutdown(Pin::new(&mut self.get_mut().io), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener whose accept queue (a backlog of 0: one connection) is full: Linux drops
    /// the SYNs of further connections, and a connect to it goes unanswered (the client
    /// retransmits for about two minutes). The Tokio runtime only makes the listener, with
    /// the backlog neither std nor ciranda lets one choose; the returned values keep it full.
    fn unanswering() -> (
        tokio::runtime::Runtime,
        tokio::net::TcpListener,
        std::net::TcpStream,
        SocketAddr,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let _enter = rt.enter();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        let probe = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500));
        assert!(
            probe.is_err(),
            "the full listener answered: no unanswered address here"
        );
        (rt, listener, filler, addr)
    }

    /// An address nothing listens on: refused at once.
    fn refusing() -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    }

    fn within_a_minute<T>(f: impl Future<Output = T>) -> T {
        ciranda::run(async {
            ciranda::time::timeout(Duration::from_secs(60), f)
                .await
                .expect("still connecting after a minute")
        })
    }

    #[test]
    fn a_first_address_that_never_answers_costs_the_attempt_delay_not_the_connect_timeout() {
        let (_rt, _full, _filler, silent) = unanswering();
        within_a_minute(async {
            let good = ciranda::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let good_addr = good.local_addr().unwrap();
            let stream = connect_any(vec![silent, good_addr], far_future(), ATTEMPT_DELAY)
                .await
                .expect("the second address answers");
            assert_eq!(stream.peer_addr().unwrap(), good_addr);
        });
    }

    #[test]
    fn a_refused_address_starts_the_next_attempt_at_once() {
        within_a_minute(async {
            let good = ciranda::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let good_addr = good.local_addr().unwrap();
            // No delay would start the second attempt before the minute is out.
            let hour = Duration::from_secs(3600);
            let stream = connect_any(vec![refusing(), good_addr], far_future(), hour)
                .await
                .expect("the second address answers");
            assert_eq!(stream.peer_addr().unwrap(), good_addr);
        });
    }

    #[test]
    fn every_address_refusing_returns_the_last_failure() {
        let (first, last) = (refusing(), refusing());
        within_a_minute(async {
            let (addr, e) = connect_any(vec![first, last], far_future(), ATTEMPT_DELAY)
                .await
                .expect_err("nothing listens");
            assert_eq!(addr, last);
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        });
    }

    #[test]
    fn the_deadline_ends_unanswered_attempts_as_timed_out() {
        let (_rt, _full, _filler, silent) = unanswering();
        within_a_minute(async {
            let deadline = Instant::now() + Duration::from_millis(300);
            let (addr, e) = connect_any(vec![silent, silent], deadline, ATTEMPT_DELAY)
                .await
                .expect_err("nothing answers");
            assert_eq!(addr, silent);
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        });
    }

    #[test]
    fn interleave_alternates_families_from_the_first_address_s() {
        let v6 =
            |last: u16| SocketAddr::new(IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, last]), 80);
        let v4 = |last: u8| SocketAddr::new(IpAddr::from([192, 0, 2, last]), 80);
        assert_eq!(
            interleave(vec![v6(1), v6(2), v4(1), v4(2), v4(3)]),
            vec![v6(1), v4(1), v6(2), v4(2), v4(3)]
        );
        assert_eq!(
            interleave(vec![v4(1), v6(1), v4(2)]),
            vec![v4(1), v6(1), v4(2)]
        );
        assert_eq!(interleave(vec![v4(1), v4(2)]), vec![v4(1), v4(2)]);
    }
}
