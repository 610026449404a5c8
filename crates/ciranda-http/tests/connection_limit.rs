//! `ClientBuilder::max_connections_per_host`: against a server that counts the connections it
//! accepts and the requests it has in hand, requests beyond the limit wait for a connection
//! rather than open one; HTTP/2 requests share theirs; a request cancelled while waiting gives
//! back nothing, one cancelled while connecting and a failed connect give back their slot;
//! the wait counts against the request's timeout; and requests that waited leave nothing
//! behind to open connections later.

mod common;

use ciranda::sync::{Barrier, Event};
use ciranda::time::Duration;
use ciranda_http::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
use ciranda_http::{Client, ClientBuilder, RequestOptions};
use common::{TestCert, make_cert, tls_server_config};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// What becomes of the first connection a test server accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum First {
    /// Served like the others.
    Served,
    /// Kept open and never read: a TLS client stays in its handshake.
    Stalled,
    /// Closed at once: a TLS client's handshake fails.
    Dropped,
}

/// A test server's counts and switches. Its routes: `/slow` answers after 20 ms, `/hold`
/// once `release` is set, `/wait` once `barrier` is full, anything else at once; every
/// answer is `ok`.
struct Stats {
    accepted: AtomicUsize,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    barrier: Barrier,
    /// Set when a `/hold` request arrives.
    held: Event,
    release: Event,
    /// Set when the first connection is stalled.
    stalled: Event,
    /// The served connections' close switches, for `close_open`.
    open: Mutex<Vec<Arc<Event>>>,
    /// The stalled connection, kept open.
    kept: Mutex<Vec<ciranda::net::TcpStream>>,
}

impl Stats {
    fn new(barrier: usize) -> Arc<Stats> {
        Arc::new(Stats {
            accepted: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
            barrier: Barrier::new(barrier),
            held: Event::new(),
            release: Event::new(),
            stalled: Event::new(),
            open: Mutex::new(Vec::new()),
            kept: Mutex::new(Vec::new()),
        })
    }

    fn accepted(&self) -> usize {
        self.accepted.load(SeqCst)
    }

    /// Closes every connection served so far (those accepted later are served).
    fn close_open(&self) {
        for close in self.open.lock().unwrap().drain(..) {
            close.set();
        }
    }
}

async fn handle(
    stats: Arc<Stats>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let now = stats.in_flight.fetch_add(1, SeqCst) + 1;
    stats.most_in_flight.fetch_max(now, SeqCst);
    match req.uri().path() {
        "/slow" => ciranda::time::sleep(Duration::from_millis(20)).await,
        "/hold" => {
            stats.held.set();
            stats.release.wait().await;
        }
        "/wait" => {
            stats.barrier.wait().await;
        }
        _ => {}
    }
    stats.in_flight.fetch_sub(1, SeqCst);
    Ok(Response::new(Full::new(Bytes::from("ok"))))
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it ends or `close` is set.
async fn serve_one<S>(stream: S, stats: Arc<Stats>, close: Arc<Event>)
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| handle(stats.clone(), req));
    let mut builder = hyper_util::server::conn::auto::Builder::new(CirandaExecutor::new());
    builder.http1().timer(CirandaTimer::new());
    let conn = builder.serve_connection(CirandaIo::new(stream), service);
    futures_util::future::select(pin!(conn), pin!(close.wait())).await;
}

/// A server on a free loopback port, over TLS with `cert` (ALPN: `h2`, `http/1.1`) if given.
async fn start(stats: Arc<Stats>, cert: Option<&TestCert>, first: First) -> SocketAddr {
    let acceptor = cert.map(|cert| {
        let config = tls_server_config(cert, &[b"h2", b"http/1.1"]);
        futures_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    ciranda::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let n = stats.accepted.fetch_add(1, SeqCst);
            match first {
                First::Stalled if n == 0 => {
                    stats.kept.lock().unwrap().push(stream);
                    stats.stalled.set();
                    continue;
                }
                First::Dropped if n == 0 => continue,
                _ => {}
            }
            let close = Arc::new(Event::new());
            stats.open.lock().unwrap().push(close.clone());
            let (stats, acceptor) = (stats.clone(), acceptor.clone());
            ciranda::spawn(async move {
                match acceptor {
                    None => serve_one(stream, stats, close).await,
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve_one(tls, stats, close).await;
                        }
                    }
                }
            });
        }
    });
    addr
}

fn limited(max: usize) -> ClientBuilder {
    Client::builder()
        .max_connections_per_host(max)
        .timeout(Duration::from_secs(30))
}

fn trusting(cert: &TestCert, max: usize) -> Client {
    limited(max)
        .add_root_certificate(&cert.cert_der)
        .build()
        .unwrap()
}

/// `n` GETs of `url` at once; their bodies.
async fn at_once(client: &Client, url: &str, n: usize) -> Vec<Result<String, ciranda_http::Error>> {
    ciranda::gather((0..n).map(|_| {
        let (client, url) = (client.clone(), url.to_owned());
        async move { client.get(&url).await?.text().await }
    }))
    .await
}

fn all_ok(bodies: &[Result<String, ciranda_http::Error>]) -> bool {
    bodies.iter().all(|b| b.as_deref().ok() == Some("ok"))
}

fn short() -> RequestOptions {
    RequestOptions::new().timeout(Duration::from_millis(200))
}

#[ciranda::test]
async fn fifty_requests_at_once_to_a_host_limited_to_four_use_at_most_four_connections() {
    let stats = Stats::new(1);
    let addr = start(stats.clone(), None, First::Served).await;
    let client = limited(4).build().unwrap();
    let bodies = at_once(&client, &format!("http://{addr}/slow"), 50).await;
    assert!(all_ok(&bodies), "{bodies:?}");
    let accepted = stats.accepted();
    assert!(accepted <= 4, "{accepted} connections");
    let most = stats.most_in_flight.load(SeqCst);
    assert!(most <= 4, "{most} requests at once");

    // The requests that waited and were then given a connection another had finished with
    // left nothing waiting behind them: once every connection is closed (which gives their
    // slots back), none is opened until a request asks for one.
    stats.close_open();
    ciranda::time::sleep(Duration::from_millis(300)).await;
    let answer = client.get(format!("http://{addr}/")).await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "ok");
    assert_eq!(stats.accepted(), accepted + 1);
}

#[ciranda::test]
async fn http2_requests_share_one_connection_under_a_limit_of_one() {
    // Negotiated with ALPN. (With a higher limit, the first few connections start before any
    // has said h2, and those that lose the race to be the host's HTTP/2 connection are
    // closed: the number accepted then depends on timing.)
    let cert = make_cert();
    let stats = Stats::new(50);
    let addr = start(stats.clone(), Some(&cert), First::Served).await;
    let client = trusting(&cert, 1);
    // `/wait` answers once all 50 are in: they are in flight together, on one connection.
    let url = format!("https://localhost:{}/wait", addr.port());
    let bodies = at_once(&client, &url, 50).await;
    assert!(all_ok(&bodies), "{bodies:?}");
    assert_eq!(stats.most_in_flight.load(SeqCst), 50);
    assert_eq!(stats.accepted(), 1);

    // Spoken without negotiating.
    let stats = Stats::new(20);
    let addr = start(stats.clone(), None, First::Served).await;
    let client = limited(1).http2_prior_knowledge().build().unwrap();
    let bodies = at_once(&client, &format!("http://{addr}/wait"), 20).await;
    assert!(all_ok(&bodies), "{bodies:?}");
    assert_eq!(stats.most_in_flight.load(SeqCst), 20);
    assert_eq!(stats.accepted(), 1);
}

#[ciranda::test]
async fn a_request_waiting_for_a_connection_times_out_and_gives_back_nothing() {
    let stats = Stats::new(1);
    let addr = start(stats.clone(), None, First::Served).await;
    let client = limited(1).build().unwrap();
    let hold = format!("http://{addr}/hold");
    let holding = ciranda::spawn({
        let client = client.clone();
        async move { client.get(&hold).await.unwrap().text().await.unwrap() }
    });
    stats.held.wait().await;

    // The only connection is taken: the wait for it counts against the timeout.
    let url = format!("http://{addr}/");
    let e = client.get_with(&url, short()).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    // One cancelled from outside while it waits.
    let cancelled = ciranda::time::timeout(Duration::from_millis(200), client.get(&url)).await;
    assert!(
        cancelled.is_err(),
        "answered while the only connection was taken"
    );
    // Neither gave back a slot it did not hold: there is still no room.
    let e = client.get_with(&url, short()).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
    assert_eq!(stats.accepted(), 1);

    stats.release.set();
    assert_eq!(holding.await.unwrap(), "ok");
    // The connection, free again, serves the next request.
    assert_eq!(client.get(&url).await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(stats.accepted(), 1);
}

#[ciranda::test]
async fn a_request_cancelled_while_connecting_gives_its_slot_back() {
    let cert = make_cert();
    let stats = Stats::new(1);
    // The first connection stays in its TLS handshake.
    let addr = start(stats.clone(), Some(&cert), First::Stalled).await;
    let client = trusting(&cert, 1);
    let url = format!("https://localhost:{}/", addr.port());
    let connecting = ciranda::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.get(&url).await.map(|_| ()) }
    });
    stats.stalled.wait().await;
    // The connection being made holds the host's only slot.
    let e = client.get_with(&url, short()).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");

    connecting.abort();
    let answer = client.get(&url).await.unwrap();
    assert_eq!(answer.text().await.unwrap(), "ok");
    assert_eq!(stats.accepted(), 2);
}

#[ciranda::test]
async fn a_failed_connect_gives_its_slot_back() {
    // Refused: nothing listens there.
    let port = {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        closed.local_addr().unwrap().port()
    };
    let client = limited(1).build().unwrap();
    for _ in 0..3 {
        let e = client
            .get(format!("http://127.0.0.1:{port}/"))
            .await
            .unwrap_err();
        assert!(e.is_connect() && !e.is_timeout(), "{e}");
    }

    // A TLS handshake the server cuts short.
    let cert = make_cert();
    let stats = Stats::new(1);
    let addr = start(stats.clone(), Some(&cert), First::Dropped).await;
    let client = trusting(&cert, 1);
    let url = format!("https://localhost:{}/", addr.port());
    let e = client.get(&url).await.unwrap_err();
    assert!(e.is_tls() || e.is_connect(), "{e}");
    assert!(!e.is_timeout(), "{e}");
    assert_eq!(client.get(&url).await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(stats.accepted(), 2);
}

#[test]
fn a_limit_of_zero_is_refused() {
    let e = Client::builder()
        .max_connections_per_host(0)
        .build()
        .unwrap_err();
    assert!(e.is_builder(), "{e}");
    assert!(
        Client::builder()
            .max_connections_per_host(usize::MAX)
            .build()
            .is_ok()
    );
}
