//! `Response`: the status, the headers, and the body read whole or as a stream.

use crate::abandon::{LinkedBody, ResponseLink};
use crate::charset;
use crate::decode::{Coding, Decoder};
use crate::error::{Error, Kind, causes};
use crate::in_use::InUse;
use bytes::{Bytes, BytesMut};
use ciranda::time::{Instant, Sleep};
use futures_core::Stream;
use http::{HeaderMap, StatusCode, Version};
use http_body::Body as _;
use hyper::body::Incoming;
use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

/// A response whose head has arrived; the body is read by [`text`](Response::text),
/// [`bytes`](Response::bytes) or [`chunks`](Response::chunks), within what is left of the
/// client's [`timeout`](crate::ClientBuilder::timeout).
///
/// Dropping a response before reading its body closes (HTTP/1.1) or resets (HTTP/2) that
/// exchange instead of returning the connection to the pool. A request body streamed with
/// [`Body::from_stream`](crate::Body::from_stream) that is still being sent then stops
/// (hyper alone would go on sending it; over HTTP/2 that could stall the connection's
/// other uploads). A response whose body is empty has nothing left to read: dropping it
/// leaves such an upload going, as a server that acknowledges an upload at once expects.
///
/// # Examples
///
/// ```no_run
/// # ciranda::run(async {
/// let client = ciranda_http::Client::new();
/// let response = client.get("http://127.0.0.1:8080/").await?;
/// if response.status().is_success() {
///     let body = response.text().await?;
///     println!("{body}");
/// }
/// # Ok::<(), ciranda_http::Error>(())
/// # }).unwrap();
/// ```
pub struct Response {
    /// hyper's body, linked to a streamed request body still being sent: dropped unread, it
    /// stops that upload (see `abandon`).
    inner: http::Response<LinkedBody>,
    url: String,
    deadline: Option<Instant>,
    /// The content coding the body methods undo.
    coding: Option<Coding>,
    /// The largest body `bytes` and `text` return (`usize::MAX`: no limit).
    max_body_size: usize,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("url", &self.url)
            .field("status", &self.inner.status())
            .field("version", &self.inner.version())
            .field("headers", self.inner.headers())
            .finish()
    }
}

impl Response {
    /// `decompress`: undo a `gzip`, `deflate`, `br` or `zstd` `Content-Encoding` in the body
    /// methods.
    pub(crate) fn new(
        inner: http::Response<Incoming>,
        url: String,
        deadline: Option<Instant>,
        decompress: bool,
        max_body_size: usize,
        upload: Option<ResponseLink>,
        in_use: Option<InUse>,
    ) -> Self {
        let coding = if decompress {
            Coding::of(inner.headers())
        } else {
            None
        };
        Response {
            inner: inner.map(|body| LinkedBody::new(body, upload, deadline, in_use)),
            url,
            deadline,
            coding,
            max_body_size,
        }
    }

    /// The status code (`response.status`).
    pub fn status(&self) -> StatusCode {
        self.inner.status()
    }

    /// The headers (`response.headers`), as the server sent them: a body the client
    /// decompresses keeps its `Content-Encoding` and `Content-Length` here.
    pub fn headers(&self) -> &HeaderMap {
        self.inner.headers()
    }

    /// The HTTP version the server answered with.
    pub fn version(&self) -> Version {
        self.inner.version()
    }

    /// The URL this response answers (after any redirects; without the credentials a URL
    /// may carry, which went as `Authorization`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The whole body (`await response.read()`), decompressed as
    /// [`chunks`](Response::chunks) says.
    ///
    /// # Errors
    /// The connection failing or the client's timeout passing while the body is read, and
    /// a body larger than the client's (or the request's)
    /// [`max_body_size`](crate::ClientBuilder::max_body_size)
    /// ([`Error::is_body_too_large`]): refused as soon as what has been read passes it, or
    /// before reading anything if the body's `Content-Length` is already larger (when the
    /// body is returned as it came; a compressed body's length says nothing of what it
    /// decompresses to).
    pub async fn bytes(self) -> Result<Bytes, Error> {
        let limit = self.max_body_size;
        // A body is at least as long as its `Content-Length` (hyper fails one that ends
        // sooner); only hyper's own hint, so a `HEAD` answer's length, with no body, counts
        // for nothing.
        let announced = self.inner.body().size_hint().lower();
        if self.coding.is_none() && announced > u64::try_from(limit).unwrap_or(u64::MAX) {
            let what = format!("the response body's Content-Length, {announced} bytes,");
            return Err(too_large(self.url, &what, limit));
        }
        let url = self.url.clone();
        let mut chunks = self.chunks();
        let mut first: Option<Bytes> = None;
        let mut more: Option<BytesMut> = None;
        let mut total: usize = 0;
        while let Some(chunk) = poll_fn(|cx| Pin::new(&mut chunks).poll_next(cx)).await {
            let chunk = chunk?;
            // Checked before the chunk is kept: at most `limit` bytes are ever held, besides
            // the chunk in hand.
            total = total.saturating_add(chunk.len());
            if total > limit {
                return Err(too_large(url, "the response body", limit));
            }
            match (&mut first, &mut more) {
                (None, _) => first = Some(chunk),
                (Some(head), None) => {
                    let mut buf = BytesMut::with_capacity(head.len() + chunk.len());
                    buf.extend_from_slice(head);
                    buf.extend_from_slice(&chunk);
                    more = Some(buf);
                }
                (Some(_), Some(buf)) => buf.extend_from_slice(&chunk),
            }
        }
        Ok(match (first, more) {
            (_, Some(buf)) => buf.freeze(),
            (Some(one), None) => one,
            (None, None) => Bytes::new(),
        })
    }

    /// The whole body as text (`await response.text()`), in the charset the `Content-Type`
    /// header names (`text/html; charset=iso-8859-1`), UTF-8 when it names none or one that
    /// is not known. A byte-order mark at the start overrides both (UTF-8 or UTF-16) and is
    /// not part of the text. Charset names are the WHATWG Encoding Standard's labels, as
    /// browsers read them (so `iso-8859-1` and `latin1` decode as `windows-1252`). Unlike
    /// aiohttp, no charset is guessed from the bytes.
    ///
    /// # Errors
    /// As [`bytes`](Response::bytes) (a body over
    /// [`max_body_size`](crate::ClientBuilder::max_body_size) included), and a body that is
    /// not valid text in its charset
    /// ([`Error::is_body`]; aiohttp's `errors="strict"`): nothing is replaced.
    pub async fn text(self) -> Result<String, Error> {
        let declared = charset::declared(self.inner.headers());
        self.text_in(declared.unwrap_or(encoding_rs::UTF_8)).await
    }

    /// The whole body as text in the charset `label` names, whatever the headers say
    /// (aiohttp's `await response.text(encoding="windows-1251")`). A byte-order mark at the
    /// start still overrides it, as in [`text`](Response::text).
    ///
    /// # Errors
    /// As [`text`](Response::text), and a `label` that names no known charset
    /// ([`Error::is_body`]), checked before the body is read.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ciranda::run(async {
    /// let response = ciranda_http::Client::new().get("http://example.com/cyrillic").await?;
    /// let text = response.text_with("windows-1251").await?;
    /// # Ok::<(), ciranda_http::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn text_with(self, label: &str) -> Result<String, Error> {
        let Some(encoding) = encoding_rs::Encoding::for_label(label.trim().as_bytes()) else {
            return Err(Error::new(Kind::Decode, Some(self.url), None)
                .with_detail(format!("no charset is named {label:?}")));
        };
        self.text_in(encoding).await
    }

    /// The whole body decoded in `encoding` (or as its byte-order mark says).
    async fn text_in(self, encoding: &'static encoding_rs::Encoding) -> Result<String, Error> {
        let url = self.url.clone();
        let bytes = self.bytes().await?;
        charset::decode(&bytes, encoding)
            .map_err(|why| Error::new(Kind::Decode, Some(url), None).with_detail(why))
    }

    /// The body as a stream of chunks, as they arrive (`response.content.iter_chunked()`):
    /// a body larger than memory can be processed piece by piece. A `gzip`, `deflate`, `br`
    /// or `zstd` body is decompressed as it arrives (see [`ClientBuilder::auto_decompress`]).
    /// [`ClientBuilder::max_body_size`] does not apply: the stream holds one chunk at a
    /// time, and the reader decides how much of it to keep.
    ///
    /// [`ClientBuilder::auto_decompress`]: crate::ClientBuilder::auto_decompress
    /// [`ClientBuilder::max_body_size`]: crate::ClientBuilder::max_body_size
    pub fn chunks(self) -> Chunks {
        Chunks {
            body: self.inner.into_body(),
            sleep: self
                .deadline
                .map(|d| Box::pin(ciranda::time::sleep_until(d))),
            url: self.url,
            done: false,
            decoder: self.coding.map(Decoder::new),
            compressed: Bytes::new(),
            body_ended: false,
        }
    }

    /// The `http::Response` inside, with hyper's body type: the body as it came, not
    /// decompressed. A streamed request body goes on being sent whatever becomes of it.
    /// The client's (or the request's) `timeout` no longer applies to the body read from
    /// hyper's type: wrap those reads in [`ciranda::time::timeout`] if they need one.
    pub fn into_inner(self) -> http::Response<Incoming> {
        self.inner.map(LinkedBody::into_incoming)
    }
}

/// The body of a [`Response`] as a [`Stream`] of chunks ([`Response::chunks`]).
///
/// Ends after the last chunk, or after the first error (a timeout, a reset connection).
///
/// # Examples
///
/// ```no_run
/// use ciranda::stream::StreamExt;
///
/// # ciranda::run(async {
/// let client = ciranda_http::Client::new();
/// let mut chunks = client.get("http://127.0.0.1:8080/big").await?.chunks();
/// let mut total = 0;
/// while let Some(chunk) = chunks.next().await {
///     total += chunk?.len();
/// }
/// println!("{total} bytes");
/// # Ok::<(), ciranda_http::Error>(())
/// # }).unwrap();
/// ```
pub struct Chunks {
    body: LinkedBody,
    sleep: Option<Pin<Box<Sleep>>>,
    url: String,
    done: bool,
    /// Undoes the body's content coding, if the client does.
    decoder: Option<Decoder>,
    /// Received bytes the decoder has not been fed yet.
    compressed: Bytes,
    /// The compressed body has ended; the decoder is being finished.
    body_ended: bool,
}

impl fmt::Debug for Chunks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunks")
            .field("url", &self.url)
            .field("done", &self.done)
            .finish()
    }
}

impl Stream for Chunks {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // The deadline first: a body that never makes the reader wait (it has all arrived,
        // it arrives faster than it is read, or the decoder has output pending) would
        // otherwise never reach the check below, which runs only when nothing is ready.
        if !this.done && this.sleep.as_ref().is_some_and(|s| s.is_elapsed()) {
            return Poll::Ready(Some(Err(this.timed_out())));
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(decoder) = &mut this.decoder {
                // A step at a time, so one poll's output stays bounded.
                match decoder.next_chunk(&mut this.compressed) {
                    Ok(Some(out)) => return Poll::Ready(Some(Ok(Bytes::from(out)))),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(this.fail(Kind::Decompress, e)))),
                }
                if this.body_ended {
                    // The decoder's last output, which may take several steps.
                    return match decoder.finish() {
                        Ok(out) if out.is_empty() => {
                            this.done = true;
                            Poll::Ready(None)
                        }
                        Ok(out) => Poll::Ready(Some(Ok(Bytes::from(out)))),
                        Err(e) => Poll::Ready(Some(Err(this.fail(Kind::Decompress, e)))),
                    };
                }
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.is_empty() => continue,
                    Ok(data) if this.decoder.is_some() => {
                        this.compressed = data;
                        continue;
                    }
                    Ok(data) => return Poll::Ready(Some(Ok(data))),
                    Err(_trailers) => continue,
                },
                Poll::Ready(Some(Err(e))) => {
                    let kind = if is_timeout(&e) {
                        Kind::Timeout
                    } else {
                        Kind::Body
                    };
                    return Poll::Ready(Some(Err(this.fail(kind, e))));
                }
                Poll::Ready(None) if this.decoder.is_some() => {
                    this.body_ended = true;
                    continue;
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
            if let Some(sleep) = &mut this.sleep {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(this.timed_out())));
                }
            }
            return Poll::Pending;
        }
    }
}

impl Chunks {
    /// Ends the stream with the client's timeout.
    fn timed_out(&mut self) -> Error {
        self.done = true;
        Error::new(Kind::Timeout, Some(self.url.clone()), None)
    }

    /// Ends the stream with an error of `kind` caused by `cause`.
    fn fail(&mut self, kind: Kind, cause: impl Into<crate::error::BoxError>) -> Error {
        self.done = true;
        Error::new(kind, Some(self.url.clone()), Some(cause.into()))
    }
}

/// The error for a body over `limit` bytes; `what` says which measure of it passed.
fn too_large(url: String, what: &str, limit: usize) -> Error {
    Error::new(Kind::BodyTooLarge, Some(url), None).with_detail(format!(
        "{what} is over the limit of {limit} bytes (max_body_size)"
    ))
}

fn is_timeout(e: &hyper::Error) -> bool {
    causes(e).any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    }) || e.is_timeout()
}
