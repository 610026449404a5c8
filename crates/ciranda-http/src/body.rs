//! `Body`: what a request (or a server's response) carries, whole or streamed.

use crate::abandon::{self, ResponseLink, UploadLink};
use crate::error::BoxError;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A request body: bytes at hand, or a stream of chunks sent as they come (a body larger
/// than memory never has to be held whole).
///
/// `From` is implemented for `Bytes`, `Vec<u8>`, `String`, `&'static str` and
/// `&'static [u8]`; [`Body::from_stream`] streams; [`Body::wrap`] takes any
/// [`http_body::Body`] (say, a server's `Incoming` request body, to proxy it).
///
/// # Examples
///
/// ```
/// use ciranda_http::Body;
/// use http_body::Body as _;
///
/// let whole = Body::from("hello");
/// assert_eq!(whole.size_hint().exact(), Some(5));
/// let chunks = ciranda::stream::iter(
///     ["a", "b"].map(|s| Ok::<_, std::io::Error>(bytes::Bytes::from(s))),
/// );
/// let streamed = Body::from_stream(chunks);
/// assert_eq!(streamed.size_hint().exact(), None);
/// ```
pub struct Body {
    inner: UnsyncBoxBody<Bytes, BoxError>,
    /// The whole body again, for a body made from bytes: what a redirect that keeps the
    /// method (307, 308) sends to the next URL. `None` for a streamed or wrapped body, which
    /// can be sent only once.
    replay: Option<Bytes>,
    /// For a body sent as it is produced: fails the body once the response answering it is
    /// dropped unread (see `abandon`).
    upload: Option<UploadLink>,
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body {
            replay: Some(Bytes::new()),
            ..Body::wrap(Empty::<Bytes>::new())
        }
    }

    /// A body of `bytes`, which a redirect can send again.
    fn whole(bytes: Bytes) -> Body {
        Body {
            replay: Some(bytes.clone()),
            ..Body::wrap(Full::new(bytes))
        }
    }

    /// The same body again, if it was made from bytes (`Bytes` clones share the buffer) or
    /// is known to be empty.
    pub(crate) fn try_clone(&self) -> Option<Body> {
        match &self.replay {
            Some(bytes) => Some(Body::whole(bytes.clone())),
            None if http_body::Body::is_end_stream(&self.inner) => Some(Body::empty()),
            None => None,
        }
    }

    /// A body sent as `stream` yields chunks (HTTP/1.1 chunked encoding, or HTTP/2 DATA
    /// frames); an `Err` from the stream aborts the request.
    pub fn from_stream<S, E>(stream: S) -> Body
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        let frames = stream.map(|chunk| chunk.map(Frame::data).map_err(Into::into));
        Body {
            inner: UnsyncBoxBody::new(StreamBody::new(frames)),
            replay: None,
            upload: None,
        }
    }

    /// Any `http_body::Body` of `Bytes`.
    pub fn wrap<B>(body: B) -> Body
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body {
            inner: UnsyncBoxBody::new(body.map_err(Into::into)),
            replay: None,
            upload: None,
        }
    }

    /// Links a body that is sent as it is produced to the response that will answer it:
    /// dropping that response before its body ended stops the upload. A body made from
    /// bytes (sent at once) or known to be empty gets no link.
    pub(crate) fn link_to_response(&mut self) -> Option<ResponseLink> {
        if self.replay.is_some() || http_body::Body::is_end_stream(&self.inner) {
            return None;
        }
        let (upload, response) = abandon::link();
        self.upload = Some(upload);
        Some(response)
    }
}

impl Default for Body {
    fn default() -> Body {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("size_hint", &http_body::Body::size_hint(&self.inner))
            .finish()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(upload) = &self.upload else {
            return Pin::new(&mut self.inner).poll_frame(cx);
        };
        if upload.is_abandoned(None) {
            upload.upload_over();
            return Poll::Ready(Some(Err(UploadLink::error().into())));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let upload = self.upload.as_ref().expect("checked above");
        match polled {
            // Registered before the check, so an abandon in between is not missed.
            Poll::Pending if upload.is_abandoned(Some(cx)) => {
                upload.upload_over();
                Poll::Ready(Some(Err(UploadLink::error().into())))
            }
            Poll::Ready(None | Some(Err(_))) => {
                upload.upload_over();
                polled
            }
            polled => polled,
        }
    }

    fn is_end_stream(&self) -> bool {
        http_body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> SizeHint {
        http_body::Body::size_hint(&self.inner)
    }
}

macro_rules! from_bytes {
    ($($t:ty),*) => {$(
        impl From<$t> for Body {
            fn from(v: $t) -> Body {
                Body::whole(Bytes::from(v))
            }
        }
    )*};
}

from_bytes!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);
