//! `Serve::send_timeout`: a client that stops taking a response's data has its connection
//! dropped; a response slow to produce its frames, or a client that keeps reading, is not
//! cut. Real sockets and real time, with bounds many times the timeouts.

use bytes::Bytes;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::time::{Duration, timeout};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Frame, Incoming};
use std::convert::Infallible;
use std::net::SocketAddr;

type Body = BoxBody<Bytes, Infallible>;

/// The send timeout of the tests that expect a stall to be found.
const SEND: Duration = Duration::from_millis(300);

/// What a test server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// 16 KiB frames for ever, each ready as soon as it is asked for.
    Endless,
    /// `n` frames of 1 KiB, `gap` apart (the first after `gap` too).
    Slow { n: usize, gap: Duration },
    /// One frame of `size` bytes (`Full`).
    Whole { size: usize },
    /// `n` frames of `size` bytes, each ready as soon as it is asked for.
    Frames { n: usize, size: usize },
}

fn body(answer: Answer) -> Body {
    match answer {
        Answer::Endless => {
            let frames = futures_util::stream::repeat_with(|| {
                Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'e'; 16 * 1024])))
            });
            http_body_util::StreamBody::new(frames).boxed()
        }
        Answer::Slow { n, gap } => {
            let frames = futures_util::stream::unfold(0, move |i| async move {
                if i == n {
                    return None;
                }
                ciranda::time::sleep(gap).await;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b's'; 1024]))),
                    i + 1,
                ))
            });
            http_body_util::StreamBody::new(frames).boxed()
        }
        Answer::Whole { size } => http_body_util::Full::new(Bytes::from(vec![b'w'; size])).boxed(),
        Answer::Frames { n, size } => {
            let frames = futures_util::stream::iter(
                (0..n)
                    .map(move |_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'f'; size])))),
            );
            http_body_util::StreamBody::new(frames).boxed()
        }
    }
}

/// A server answering every request with `answer`, its send timeout `send` and its idle
/// timeout `idle`.
async fn server(
    answer: Answer,
    send: Option<Duration>,
    idle: Option<Duration>,
) -> (SocketAddr, ciranda::task::JoinHandle<std::io::Result<()>>) {
    let service = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| async move {
        Ok::<_, Infallible>(hyper::Response::new(body(answer)))
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = ciranda::spawn(
        ciranda_http::server::serve(listener, service)
            .send_timeout(send)
            .idle_timeout(idle)
            .into_future(),
    );
    (addr, server)
}

/// The server's live connection tasks: those spawned by `serve` (in `src/server.rs`; the
/// hyper clients' tasks are spawned by the crate's executor, elsewhere).
fn server_tasks() -> usize {
    ciranda::Handle::current()
        .tasks()
        .iter()
        .filter(|task| {
            let file = task.location().file();
            file.contains("ciranda-http") && file.ends_with("server.rs")
        })
        .count()
}

/// Waits (at most 20 s) until the server has no connection task left; `true` if it got there.
async fn connections_gone() -> bool {
    timeout(Duration::from_secs(20), async {
        while server_tasks() != 0 {
            ciranda::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .is_ok()
}

/// An HTTP/1.1 GET on a new connection, whose response head and first bytes are read.
async fn h1_get(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 64];
    let n = timeout(Duration::from_secs(20), stream.read(&mut first))
        .await
        .expect("no answer within 20 s")
        .unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"), "{:?}", &first[..n]);
    stream
}

/// Reads until the peer closes (or resets) the connection, for at most 20 s; `true` if it did.
async fn closed(stream: &mut TcpStream) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    timeout(Duration::from_secs(20), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

/// An HTTP/2 (prior knowledge) connection made with hyper directly.
async fn h2_client(
    addr: SocketAddr,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    ciranda::task::JoinHandle<Result<(), hyper::Error>>,
) {
    h2_client_with_window(addr, None).await
}

/// [`h2_client`], with each stream's receive window `window` bytes if given (hyper's 2 MiB
/// otherwise).
async fn h2_client_with_window(
    addr: SocketAddr,
    window: Option<u32>,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    ciranda::task::JoinHandle<Result<(), hyper::Error>>,
) {
    use ciranda_http::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut builder = hyper::client::conn::http2::Builder::new(CirandaExecutor::new());
    builder.timer(CirandaTimer::new());
    if let Some(window) = window {
        builder.initial_stream_window_size(window);
    }
    let (sender, conn) = builder.handshake(CirandaIo::new(stream)).await.unwrap();
    (sender, ciranda::spawn(conn))
}

/// An HTTP/2 GET whose response head has arrived.
async fn h2_get(
    sender: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
) -> Incoming {
    let request = hyper::Request::get("http://localhost/")
        .body(http_body_util::Empty::new())
        .unwrap();
    let response = timeout(Duration::from_secs(20), sender.send_request(request))
        .await
        .expect("no answer within 20 s")
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body()
}

/// Waits (at most 20 s) for the hyper client's connection task to end once the server
/// dropped its side; the connection's own error (a reset) is expected and ignored.
async fn client_connection_ends(conn: ciranda::task::JoinHandle<Result<(), hyper::Error>>) {
    timeout(Duration::from_secs(20), conn)
        .await
        .expect("the client's connection outlived the server's")
        .unwrap()
        .ok();
}

/// The whole body, for at most 60 s: its length.
async fn read_whole(mut body: Incoming) -> usize {
    timeout(Duration::from_secs(60), async {
        let mut got = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                got += data.len();
            }
        }
        got
    })
    .await
    .expect("the response never ended")
}

/// The defect: a request is in flight until its response body is dropped, and the idle
/// timeout never runs while one is, so a client that asked for a streamed response and
/// stopped reading held the connection's task, descriptor and buffers for ever, whatever the
/// idle timeout. With the send timeout the connection is dropped while the client still
/// reads nothing.
#[ciranda::test]
async fn an_http1_client_that_stops_reading_a_stream_is_dropped() {
    let (addr, server) = server(Answer::Endless, Some(SEND), Some(SEND)).await;
    let mut stream = h1_get(addr).await;
    assert_eq!(server_tasks(), 1);
    assert!(
        connections_gone().await,
        "a client that stopped reading kept its connection past the send timeout"
    );
    // What the sockets held, then the end.
    assert!(closed(&mut stream).await, "the connection was not closed");
    server.abort();
}

/// The same over HTTP/2: the client's connection keeps reading the socket, but its stream's
/// body is not read, so its window stays shut and hyper never asks the server's body for
/// more.
#[ciranda::test]
async fn an_http2_client_that_stops_reading_a_stream_is_dropped() {
    let (addr, server) = server(Answer::Endless, Some(SEND), Some(SEND)).await;
    let (mut sender, conn) = h2_client(addr).await;
    let mut body = h2_get(&mut sender).await;
    // Read a little, then hold the body unread (dropping it would reset the stream).
    let first = timeout(Duration::from_secs(20), body.frame())
        .await
        .unwrap();
    assert!(first.is_some());
    assert!(
        connections_gone().await,
        "an HTTP/2 client that stopped reading kept its connection past the send timeout"
    );
    client_connection_ends(conn).await;
    drop(body);
    server.abort();
}

/// A response's last bytes, left unwritten after hyper took its only frame and dropped the
/// body: the socket that does not take them counts as the client taking nothing, with no
/// idle timeout to fall back on.
#[ciranda::test]
async fn an_http1_client_that_stops_reading_one_large_frame_is_dropped() {
    const SIZE: usize = 32 << 20; // well past what loopback's socket buffers hold
    let (addr, server) = server(Answer::Whole { size: SIZE }, Some(SEND), None).await;
    let mut stream = h1_get(addr).await;
    assert!(
        connections_gone().await,
        "a client that stopped reading a large body kept its connection past the send timeout"
    );
    assert!(closed(&mut stream).await, "the connection was not closed");
    server.abort();
}

/// Over HTTP/2 hyper hands the last frame to h2 and drops the body at once; h2 then holds
/// what the client's window does not let it send, out of the send timeout's sight (no body
/// waits, the socket takes all that is sent). With nothing in flight, the idle timeout
/// bounds it: GOAWAY after one idle timeout, the connection dropped after another. What this
/// test pins down is that the send timeout's watch does not keep such a connection open.
#[ciranda::test]
async fn an_http2_client_that_stops_reading_one_large_frame_is_closed_by_the_idle_timeout() {
    const SIZE: usize = 32 << 20;
    let (addr, server) = server(Answer::Whole { size: SIZE }, Some(SEND), Some(SEND)).await;
    let (mut sender, conn) = h2_client(addr).await;
    let body = h2_get(&mut sender).await;
    assert!(
        connections_gone().await,
        "an HTTP/2 client that stopped reading a large body kept its connection"
    );
    client_connection_ends(conn).await;
    drop(body);
    server.abort();
}

/// Frames three send timeouts apart, to a client that reads them all: the body is waiting
/// for its own producer, not for the client, and is not cut.
#[ciranda::test]
async fn a_slow_stream_to_a_reading_http1_client_is_not_cut() {
    const N: usize = 4;
    let send = Duration::from_millis(200);
    let gap = send * 3;
    let (addr, server) = server(Answer::Slow { n: N, gap }, Some(send), Some(send)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the response never ended")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    // Chunked: the body's bytes, each frame's size line, and the last chunk.
    assert!(answer.ends_with(b"0\r\n\r\n"), "the response was cut");
    let start = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let body = answer[start..].iter().filter(|&&b| b == b's').count();
    assert_eq!(body, N * 1024, "the response was cut");
    server.abort();
}

/// The same over HTTP/2.
#[ciranda::test]
async fn a_slow_stream_to_a_reading_http2_client_is_not_cut() {
    const N: usize = 4;
    let send = Duration::from_millis(200);
    let gap = send * 3;
    let (addr, server) = server(Answer::Slow { n: N, gap }, Some(send), Some(send)).await;
    let (mut sender, conn) = h2_client(addr).await;
    let body = h2_get(&mut sender).await;
    assert_eq!(read_whole(body).await, N * 1024, "the response was cut");
    server.abort();
    drop(conn);
}

/// `send_timeout(None)`: a client that stops reading keeps its connection, for several of the
/// timeouts the tests above use (and of its idle timeout, which a request in flight stops),
/// and can read on.
#[ciranda::test]
async fn without_a_send_timeout_a_stalled_client_keeps_its_connection() {
    let (addr, server) = server(Answer::Endless, None, Some(SEND)).await;
    let mut stream = h1_get(addr).await;
    ciranda::time::sleep(SEND * 8).await;
    assert_eq!(server_tasks(), 1, "the stalled connection was closed");
    // It reads on: well past what the sockets held while it stalled.
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    timeout(Duration::from_secs(60), async {
        while got < 32 << 20 {
            let n = stream.read(&mut buf).await.unwrap();
            assert_ne!(n, 0, "the stalled connection was closed");
            got += n;
        }
    })
    .await
    .expect("the stream did not go on");
    drop(stream);
    server.abort();
}

/// Over HTTP/2 a body frame larger than the client's window goes out a window at a time, as
/// the client takes it; hyper hands it to h2, asks the body for the next frame at once, and
/// holds that one until h2 has sent nearly all of the first. With a 16 KiB window the socket
/// never fills and no body is asked for the second or so a 1 MiB frame takes to reach this
/// client, which reads about 1 MB/s: the send timeout took it for a client that stopped
/// reading and cut the response (after one to two timeouts: at 912 KiB of the 2 MiB in one
/// run). The writes of DATA frames count as the client taking data now.
#[ciranda::test]
async fn large_frames_to_a_slowly_reading_http2_client_are_not_cut() {
    const FRAME: usize = 1 << 20;
    const N: usize = 2;
    let (addr, server) = server(Answer::Frames { n: N, size: FRAME }, Some(SEND), None).await;
    let (mut sender, conn) = h2_client_with_window(addr, Some(16 * 1024)).await;
    let mut body = h2_get(&mut sender).await;
    let got = timeout(Duration::from_secs(60), async {
        let mut got = 0;
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap_or_else(|e| panic!("the response was cut at {got}: {e}"));
            if let Ok(data) = frame.into_data() {
                got += data.len();
            }
            // About 1 MB/s: each read gives the server some 8-16 KiB of window back.
            ciranda::time::sleep(Duration::from_millis(10)).await;
        }
        got
    })
    .await
    .expect("the response never ended");
    assert_eq!(got, N * FRAME, "the response was cut");
    server.abort();
    drop(conn);
}
