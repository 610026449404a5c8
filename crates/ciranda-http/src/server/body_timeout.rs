//! `BodyTimeout`: a request body whose next frame must arrive within a time limit (nginx's
//! `client_body_timeout`, for one handler).
//!
//! The limit runs only while the handler waits for the body: from the poll that finds no frame
//! ready until a frame arrives. A handler that takes its time between reads is never cut off,
//! and a body that keeps trickling in is never cut off either, however long it takes in all.
//!
//! | state    | poll of the inner body   | next state, result                               |
//! |----------|--------------------------|--------------------------------------------------|
//! | idle     | a frame, the end, error  | idle; passed on                                  |
//! | idle     | pending                  | waiting (sleep armed for `timeout` from now)     |
//! | waiting  | a frame, the end, error  | idle; passed on                                  |
//! | waiting  | pending, sleep not due   | waiting; pending                                 |
//! | waiting  | pending, sleep due       | timed out; the `TimedOut` error                  |
//! | timed out| —                        | timed out; the end (`None`)                      |

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ciranda::time::Instant;
use http_body::{Body, Frame, SizeHint};

use super::armed_sleep::ArmedSleep;
use crate::error::BoxError;

pin_project_lite::pin_project! {
    /// A body (a request's [`Incoming`](hyper::body::Incoming), usually) whose reads fail
    /// with an [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut) when the next
    /// frame takes longer than `timeout` to arrive.
    ///
    /// [`serve`](super::serve) bounds request heads ([`header_read_timeout`]) and idle
    /// connections ([`idle_timeout`]) but not request bodies: a client that sends a head and
    /// then stops halfway through its body holds the handler that reads it for as long as
    /// the connection stays open. A handler that reads bodies wraps them in this. The limit
    /// applies between frames (from the read that finds nothing until the next frame), not
    /// to the whole body, and only while the body is being read.
    ///
    /// A body that says its end is reached ([`is_end_stream`](Body::is_end_stream)) ends
    /// without another poll of the inner body. That matters for hyper's HTTP/1.1 server: a
    /// body with a `Content-Length` whose response was sent before it was read says so at its
    /// last byte, but its poll only ends with the connection's next request head, so waiting
    /// on it would time out.
    ///
    /// After the error the body reports its end. The error's source chain holds no other
    /// error; its message names the limit. Once a handler stops reading a body, hyper closes
    /// the HTTP/1.1 connection after the response (or resets the HTTP/2 stream).
    ///
    /// [`header_read_timeout`]: super::Serve::header_read_timeout
    /// [`idle_timeout`]: super::Serve::idle_timeout
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda_http::server::{self, BodyTimeout};
    /// use http_body_util::{BodyExt, Full};
    /// use hyper::body::{Bytes, Incoming};
    /// use hyper::{Request, Response, StatusCode};
    /// use std::time::Duration;
    ///
    /// async fn upload(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    ///     let body = BodyTimeout::new(req.into_body(), Duration::from_secs(30));
    ///     let response = match body.collect().await {
    ///         Ok(all) => Response::new(Full::from(format!("{} bytes", all.to_bytes().len()))),
    ///         Err(_) => {
    ///             // Timed out (or the client went away): 408 Request Timeout.
    ///             let mut late = Response::new(Full::default());
    ///             *late.status_mut() = StatusCode::REQUEST_TIMEOUT;
    ///             late
    ///         }
    ///     };
    ///     Ok(response)
    /// }
    ///
    /// ciranda::run(async {
    ///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let url = format!("http://{}/", listener.local_addr().unwrap());
    ///     let service = hyper::service::service_fn(upload);
    ///     ciranda::spawn(server::serve(listener, service).into_future());
    ///
    ///     let client = ciranda_http::Client::new();
    ///     let response = client.post(&url, ciranda_http::Body::from("hello")).await.unwrap();
    ///     assert_eq!(response.text().await.unwrap(), "5 bytes");
    /// });
    /// ```
    pub struct BodyTimeout<B> {
        #[pin]
        body: B,
        timeout: Duration,
        state: State,
        // Made at the first wait and kept for the body's life: a later wait only moves the
        // deadline it is checked against, and the wheel entry is re-armed when it fires
        // early, so frames that arrive in time cost no timer operation.
        sleep: Option<ArmedSleep>,
    }
}

#[derive(Clone, Copy)]
enum State {
    /// The last poll of the body was answered (or there was none yet).
    Idle,
    /// Waiting for a frame, which must come by this deadline.
    Waiting(Instant),
    /// The limit passed: the error was returned, the body is over.
    TimedOut,
}

impl<B> BodyTimeout<B> {
    /// Wraps `body`: each wait for its next frame may last at most `timeout`.
    pub fn new(body: B, timeout: Duration) -> Self {
        BodyTimeout {
            body,
            timeout,
            state: State::Idle,
            sleep: None,
        }
    }

    /// The body inside.
    pub fn into_inner(self) -> B {
        self.body
    }
}

/// The error of a body whose next frame did not come within `timeout`.
fn timed_out(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("the request body sent nothing for {timeout:?}"),
    )
}

impl<B> fmt::Debug for BodyTimeout<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyTimeout")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<B> Body for BodyTimeout<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = B::Data;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, BoxError>>> {
        let this = self.project();
        let deadline = match *this.state {
            State::TimedOut => return Poll::Ready(None),
            State::Waiting(deadline) => Some(deadline),
            State::Idle => None,
        };
        if this.body.is_end_stream() {
            // Its last byte is in: nothing more to wait for, even if its poll would wait
            // (hyper's HTTP/1.1 body whose response was sent first; see the type's docs).
            *this.state = State::Idle;
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.body.poll_frame(cx) {
            *this.state = State::Idle;
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let deadline = deadline.unwrap_or_else(|| Instant::now().saturating_add(*this.timeout));
        *this.state = State::Waiting(deadline);
        let sleep = this
            .sleep
            .get_or_insert_with(|| ArmedSleep::until(deadline));
        loop {
            if sleep.poll_due(cx).is_pending() {
                return Poll::Pending;
            }
            if Instant::now() >= deadline {
                *this.state = State::TimedOut;
                *this.sleep = None;
                return Poll::Ready(Some(Err(timed_out(*this.timeout).into())));
            }
            // Due at an earlier wait's deadline: checked again at this one's.
            sleep.reset(deadline);
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::TimedOut) || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
