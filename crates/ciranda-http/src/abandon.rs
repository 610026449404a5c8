//! A response dropped before its body ended stops its request's upload.
//!
//! hyper goes on sending a streamed request body after the caller dropped the response that
//! answers it. Over HTTP/2 the stream then stays open while the body is sent, and the response
//! data that keeps arriving is thrown away without giving the server stream credit: a server
//! that answers as it reads (an echo, a transcoder) stops reading, and the upload it no longer
//! reads holds the server's connection window, which stalls every other upload on that
//! connection. (hyper resets the stream itself only when the *response future* is dropped.)
//!
//! So a streamed request body and the response that answers it share a link: an
//! [`UploadLink`] in the request [`Body`](crate::Body), a [`LinkedBody`] around the response's
//! body. Dropping the response (or its [`Chunks`](crate::Chunks)) before its body ended marks
//! the exchange abandoned and wakes the request body; its next poll fails with HTTP/2's
//! `CANCEL`, which hyper turns into `RST_STREAM(CANCEL)` (HTTP/2) or a closed connection
//! (HTTP/1.1). A body made from bytes is sent at once and gets no link. A response with
//! nothing left to read (an empty body: a server that acknowledges an upload at once and reads
//! on) abandons nothing when dropped, just as reading it first would not. A redirect that is
//! followed ends its exchange whatever its body held: the client abandons that upload itself.
//!
//! hyper polls the request body only when flow control lets it send: if the server had
//! already stopped crediting the upload (an echo blocked on the response nobody read), the
//! poll that fails would never come. So while the upload is still in progress, the dropped
//! response's body is handed to a small task that reads and discards it: that gives the
//! server stream credit again, the server reads on, the upload gets credit, polls the body
//! and resets the stream, which ends the discarding task. It stops at the response deadline,
//! or after [`DISCARD_LIMIT`] without one. The task runs on the runtime that drops the
//! response, or on the one the response arrived on if the dropping thread runs none.
//!
//! | state     | event                                           | next state                   |
//! |-----------|-------------------------------------------------|------------------------------|
//! | linked    | the response body ended (or was empty)          | finished: dropping is silent |
//! | finished  | the upload ends, fails or is dropped            | the place in use given back  |
//! | linked    | the raw response taken out (`into_incoming`)    | finished                     |
//! | linked    | dropped, upload over (body ended, failed or dropped) | abandoned                |
//! | linked    | a redirect followed (`abandon`), or no response (an error) | abandoned          |
//! | linked    | dropped, upload in progress                     | abandoned, body discarded by a task |
//! | abandoned | the request body polled                         | the poll fails (`CANCEL`)    |
//!
//! The exchange's place among the connections in use (`in_use`, if they are limited) is given
//! back when the response's body ends, fails, is dropped or taken out; but a response that
//! ended while its upload goes on (a server that answers first and reads on) leaves the
//! connection busy with that upload: an HTTP/1.1 connection serves nothing else until the
//! request's last byte is written. So the place is then parked in the link and given back when
//! the upload ends, fails or is dropped (hyper drops the body when the connection ends).

use crate::in_use::InUse;
use bytes::Bytes;
use ciranda::time::Instant;
use futures_util::task::AtomicWaker;
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

/// How long an abandoned response is discarded, at most, when the request had no deadline.
pub(crate) const DISCARD_LIMIT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Shared {
    /// The response was dropped before its body ended.
    abandoned: AtomicBool,
    /// The request body is no longer being sent (it ended, failed or was dropped). Set
    /// under `parked`'s lock, so a place parked is never left behind.
    upload_over: AtomicBool,
    body_waker: AtomicWaker,
    /// The exchange's place in use, kept while the upload goes on after its response ended.
    parked: Mutex<Option<InUse>>,
}

/// The request body's end: asks whether the response was abandoned.
pub(crate) struct UploadLink(Arc<Shared>);

/// The response body's end of the link, around hyper's body.
pub(crate) struct LinkedBody {
    /// `None` only once taken out (`into_incoming`, or handed to the discarding task).
    body: Option<Incoming>,
    shared: Option<Arc<Shared>>,
    deadline: Option<Instant>,
    /// The runtime the response arrived on, for the discarding task when the response is
    /// dropped on a thread that runs none (only kept for a linked, streamed upload).
    runtime: Option<ciranda::Handle>,
    /// The exchange's place among the connections in use, if they are limited: given back
    /// when the body ends or fails, or is dropped or taken out (`into_incoming`).
    in_use: Option<InUse>,
}

/// The response's end of [`link`], until the response arrives and [`LinkedBody`] takes it.
/// Dropped without a body (a redirect followed, an error), it abandons the upload.
pub(crate) struct ResponseLink(Option<Arc<Shared>>);

/// A linked pair for one exchange.
pub(crate) fn link() -> (UploadLink, ResponseLink) {
    let shared = Arc::new(Shared::default());
    (UploadLink(shared.clone()), ResponseLink(Some(shared)))
}

impl ResponseLink {
    /// The exchange is over whatever its response's body holds (a redirect was followed): a
    /// request body still being sent fails at its next poll. (Dropping the link does the
    /// same; this says so where it matters.)
    pub(crate) fn abandon(mut self) {
        if let Some(shared) = self.0.take() {
            shared.abandon();
        }
    }

    fn into_shared(mut self) -> Arc<Shared> {
        self.0.take().expect("taken only here, once")
    }
}

impl Drop for ResponseLink {
    fn drop(&mut self) {
        if let Some(shared) = &self.0 {
            shared.abandon();
        }
    }
}

impl Shared {
    /// Keeps `in_use` until the upload is over, or gives it back now if it is.
    fn hold_until_upload_over(&self, in_use: InUse) {
        let mut parked = self.parked.lock().unwrap_or_else(PoisonError::into_inner);
        if self.upload_over.load(Ordering::Acquire) {
            drop(parked);
            drop(in_use);
            return;
        }
        *parked = Some(in_use);
    }

    /// Marks the exchange abandoned and wakes the request body if it waits.
    fn abandon(&self) {
        // Acquire/Release pair with `UploadLink::is_abandoned`: a poll after the wake sees it.
        self.abandoned.store(true, Ordering::Release);
        self.body_waker.wake();
    }
}

impl UploadLink {
    /// Whether the response was abandoned. With `cx`, the body is about to return `Pending`:
    /// its task is woken when the response is abandoned later.
    pub(crate) fn is_abandoned(&self, cx: Option<&mut Context<'_>>) -> bool {
        if let Some(cx) = cx {
            self.0.body_waker.register(cx.waker());
        }
        // Acquire/Release pair with `Shared::abandon`: a poll after the wake sees the flag.
        self.0.abandoned.load(Ordering::Acquire)
    }

    /// The request body ended or failed: nothing is being sent any more, and a place in use
    /// parked until then is given back.
    pub(crate) fn upload_over(&self) {
        let parked = {
            let mut parked = self.0.parked.lock().unwrap_or_else(PoisonError::into_inner);
            self.0.upload_over.store(true, Ordering::Release);
            parked.take()
        };
        // Given back without the lock (it wakes requests waiting for a place).
        drop(parked);
    }

    /// The error the body fails with: HTTP/2's `CANCEL`, which hyper sends as the reset's
    /// reason ("the stream is no longer needed").
    pub(crate) fn error() -> h2::Error {
        h2::Error::from(h2::Reason::CANCEL)
    }
}

impl Drop for UploadLink {
    fn drop(&mut self) {
        self.upload_over();
    }
}

impl LinkedBody {
    /// `body`, linked to a request body through `link` (if it was streamed), read within
    /// `deadline`.
    pub(crate) fn new(
        body: Incoming,
        link: Option<ResponseLink>,
        deadline: Option<Instant>,
        in_use: Option<InUse>,
    ) -> Self {
        let shared = link.map(ResponseLink::into_shared);
        let runtime = shared.as_ref().and_then(|_| ciranda::Handle::try_current());
        let ended = body.is_end_stream();
        let mut linked = LinkedBody {
            body: Some(body),
            shared,
            deadline,
            runtime,
            in_use,
        };
        // A body with nothing to read (a `HEAD`'s, a 204's) leaves its connection free now,
        // or once its upload is over.
        if ended {
            linked.give_back_place();
        }
        linked
    }

    /// hyper's body, unlinked: the upload goes on whatever becomes of it.
    pub(crate) fn into_incoming(mut self) -> Incoming {
        self.shared = None;
        self.in_use = None;
        self.body.take().expect("the body is taken only once")
    }

    /// Drops the link without abandoning anything, and gives back the place in use.
    fn finish(&mut self) {
        self.give_back_place();
        self.shared = None;
    }

    /// The response is over: its place in use is given back now, or, while its upload is
    /// still being sent, parked in the link until that is over.
    fn give_back_place(&mut self) {
        let Some(in_use) = self.in_use.take() else {
            return;
        };
        if let Some(shared) = &self.shared {
            shared.hold_until_upload_over(in_use);
        }
    }
}

impl http_body::Body for LinkedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let body = self.body.as_mut().expect("the body is taken only on drop");
        let polled = Pin::new(body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.finish(),
            // The exchange failed: its connection is gone.
            Poll::Ready(Some(Err(_))) => self.in_use = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .as_ref()
            .map(|b| b.size_hint())
            .unwrap_or_default()
    }
}

impl Drop for LinkedBody {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        if self.body.as_ref().is_none_or(|b| b.is_end_stream()) {
            // Nothing was left to read (an empty body, or one read to its last byte without
            // the poll that says so): the response was not abandoned.
            if let Some(in_use) = self.in_use.take() {
                shared.hold_until_upload_over(in_use);
            }
            return;
        }
        shared.abandon();
        if shared.upload_over.load(Ordering::Acquire) {
            return; // hyper resets the stream itself once both halves are gone
        }
        // The current runtime if there is one, else the one the response arrived on (a
        // response handed to a plain thread and dropped there).
        let runtime = ciranda::Handle::try_current().or_else(|| self.runtime.take());
        let (Some(body), Some(runtime)) = (self.body.take(), runtime) else {
            return;
        };
        let until = self
            .deadline
            .unwrap_or_else(|| Instant::now().saturating_add(DISCARD_LIMIT));
        runtime.spawn(discard(body, until));
    }
}

/// Reads `body` and throws it away until it ends or fails (the reset that the abandoned
/// upload sends ends it), or until `until`.
async fn discard(mut body: Incoming, until: Instant) {
    let read_all = async {
        while let Some(Ok(_)) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
        }
    };
    let _ = ciranda::time::timeout_at(until, read_all).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::{Wake, Waker};

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn an_abandoned_upload_wakes_its_waiting_body_and_fails_with_cancel() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let (upload, response) = link();
        assert!(!upload.is_abandoned(Some(&mut Context::from_waker(&waker))));
        // Dropped with no body to take it (a redirect followed): abandoned.
        drop(response);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(upload.is_abandoned(None));
        assert_eq!(UploadLink::error().reason(), Some(h2::Reason::CANCEL));
    }

    /// A place in `limit` for a request to `http://host/`, if one is free now.
    fn place(limit: &Arc<crate::in_use::InUseLimit>) -> Option<InUse> {
        use std::future::Future;
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let uri: http::Uri = "http://host/".parse().unwrap();
        let mut enter = limit.enter(0, &uri);
        match Pin::new(&mut enter).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(in_use) => Some(in_use),
            Poll::Pending => None,
        }
    }

    #[test]
    fn a_place_parked_for_an_upload_goes_back_when_the_upload_is_over_in_either_order() {
        let limit = crate::in_use::InUseLimit::new(1, None);
        // Parked while the upload goes on: taken until it is over.
        let (upload, response) = link();
        let shared = response.into_shared();
        shared.hold_until_upload_over(place(&limit).unwrap());
        assert!(
            place(&limit).is_none(),
            "given back with the upload going on"
        );
        upload.upload_over();
        let again = place(&limit).expect("given back once the upload is over");
        // Parked after the upload was over (dropped): given back at once.
        let (upload, response) = link();
        let shared = response.into_shared();
        drop(upload);
        shared.hold_until_upload_over(again);
        assert!(place(&limit).is_some(), "kept after the upload was over");
    }

    #[test]
    fn a_dropped_request_body_counts_as_an_upload_that_is_over() {
        let (upload, response) = link();
        let shared = response.into_shared();
        assert!(!shared.upload_over.load(Ordering::Acquire));
        drop(upload);
        assert!(shared.upload_over.load(Ordering::Acquire));
    }
}
