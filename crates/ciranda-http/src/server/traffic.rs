//! `Traffic`: tells, from the bytes a server connection reads and writes, which of them belong
//! to requests and responses, for the idle timeout: a request body still arriving after its
//! response was sent, or a response still being written after hyper took its last frame,
//! keeps a connection busy; a client's keep-alive PING (and the server's answer) does not.
//!
//! | seen so far | bytes read | counts as a request's |
//! |---|---|---|
//! | a prefix of the HTTP/2 client preface | more of the preface | no (not known yet) |
//! | a prefix of the preface | anything else | yes: HTTP/1.1, where every byte is a request's |
//! | the whole preface (HTTP/2) | a frame (header or payload) | only of DATA, HEADERS and CONTINUATION frames |
//!
//! Bytes written count the same way: on HTTP/1.1 all of them (hyper writes only responses), on
//! HTTP/2 those of DATA, HEADERS and CONTINUATION frames (the server's stream has no preface).
//!
//! HTTP/2 frames are followed by their 9-byte headers (RFC 9113, 4.1) across reads and writes
//! of any size; nothing is buffered but a header cut between two of them. A peer that sends
//! frames the protocol does not allow is answered by h2, which closes the connection: what this
//! counts then does not matter.

/// The HTTP/2 client connection preface (RFC 9113, 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame header's length (RFC 9113, 4.1).
const FRAME_HEADER: usize = 9;

/// Frame types that carry a request or a response: its body (DATA), its head or trailers
/// (HEADERS, CONTINUATION).
fn carries_message(kind: u8) -> bool {
    matches!(kind, 0x0 | 0x1 | 0x9)
}

/// Reads and writes of one connection, from its first byte; see the module's docs.
pub(super) enum Traffic {
    /// This many bytes of the preface have arrived, nothing else.
    Detecting(usize),
    /// HTTP/1.1: every byte read is a request's, every byte written a response's.
    Http1,
    /// HTTP/2, past the preface: where the reads and the writes are in their frames.
    Http2 { reads: Frames, writes: Frames },
}

/// Where one direction of an HTTP/2 connection is in its frames.
#[derive(Default)]
pub(super) struct Frames {
    /// The part of the frame header read so far (`header_len` bytes of it).
    header: [u8; FRAME_HEADER],
    header_len: usize,
    /// Payload bytes of the current frame still to come.
    payload_left: usize,
    /// Whether the current frame carries a request.
    carrying: bool,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic::Detecting(0)
    }
}

impl Traffic {
    /// Takes in the next bytes the connection read; `true` if any of them are a request's.
    pub(super) fn read(&mut self, mut bytes: &[u8]) -> bool {
        if let Traffic::Detecting(matched) = *self {
            let n = bytes.len().min(PREFACE.len() - matched);
            if bytes[..n] != PREFACE[matched..matched + n] {
                *self = Traffic::Http1;
            } else if matched + n < PREFACE.len() {
                *self = Traffic::Detecting(matched + n);
                return false;
            } else {
                *self = Traffic::Http2 {
                    reads: Frames::default(),
                    writes: Frames::default(),
                };
                bytes = &bytes[n..];
            }
        }
        match self {
            Traffic::Detecting(_) => false,
            Traffic::Http1 => !bytes.is_empty(),
            Traffic::Http2 { reads, .. } => reads.take(bytes),
        }
    }

    /// Whether the connection speaks HTTP/2 (its preface has arrived).
    pub(super) fn is_http2(&self) -> bool {
        matches!(self, Traffic::Http2 { .. })
    }

    /// Takes in the next bytes the connection wrote (the first `n` of `bufs`); `true` if any
    /// of them are a response's.
    pub(super) fn wrote<'a>(
        &mut self,
        bufs: impl IntoIterator<Item = &'a [u8]>,
        mut n: usize,
    ) -> bool {
        match self {
            // Before the protocol is known hyper writes nothing; count it if it ever does.
            Traffic::Detecting(_) | Traffic::Http1 => n > 0,
            Traffic::Http2 { writes, .. } => {
                let mut response = false;
                for buf in bufs {
                    if n == 0 {
                        break;
                    }
                    let part = &buf[..n.min(buf.len())];
                    n -= part.len();
                    response |= writes.take(part);
                }
                response
            }
        }
    }
}

impl Frames {
    /// Takes in the direction's next bytes; `true` if any of them are a request's or a
    /// response's.
    fn take(&mut self, mut bytes: &[u8]) -> bool {
        let mut request = false;
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let n = self.payload_left.min(bytes.len());
                request |= self.carrying;
                self.payload_left -= n;
                bytes = &bytes[n..];
                continue;
            }
            // The common case: a whole header in these bytes, read in place.
            if self.header_len == 0 {
                if let Some((header, rest)) = bytes.split_first_chunk::<FRAME_HEADER>() {
                    request |= self.start_frame(header);
                    bytes = rest;
                    continue;
                }
            }
            // A header cut between two reads or writes: gather it.
            let n = (FRAME_HEADER - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
            self.header_len += n;
            bytes = &bytes[n..];
            if self.header_len == FRAME_HEADER {
                self.header_len = 0;
                let header = self.header;
                request |= self.start_frame(&header);
            }
        }
        request
    }

    /// Starts the frame `header` announces; `true` if it carries a message (a frame with no
    /// payload counts too: an empty DATA frame that ends a body).
    fn start_frame(&mut self, header: &[u8; FRAME_HEADER]) -> bool {
        let [a, b, c, kind, ..] = *header;
        self.payload_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        self.carrying = carries_message(kind);
        self.carrying
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![
            (payload >> 16) as u8,
            (payload >> 8) as u8,
            payload as u8,
            kind,
            0,
            0,
            0,
            0,
            1,
        ];
        f.resize(FRAME_HEADER + payload, 0xAB);
        f
    }

    #[test]
    fn http1_bytes_count_once_they_differ_from_the_preface() {
        let mut seen = Traffic::default();
        // "P" could start either; "PUT" cannot be the preface.
        assert!(!seen.read(b"P"));
        assert!(seen.read(b"UT / HTTP/1.1\r\n"));
        assert!(seen.read(b"x"));
        assert!(!seen.read(b""));
        let mut seen = Traffic::default();
        assert!(seen.read(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn http2_counts_request_frames_only_across_any_split() {
        // The preface, SETTINGS, PING, WINDOW_UPDATE (none a request's), then HEADERS, DATA,
        // an empty DATA, CONTINUATION (each a request's), then PING again.
        let control = [frame(0x4, 6), frame(0x6, 8), frame(0x8, 4)];
        let requests = [
            frame(0x1, 20),
            frame(0x0, 300),
            frame(0x0, 0),
            frame(0x9, 5),
        ];
        let mut all = PREFACE.to_vec();
        let mut kinds = Vec::new(); // (start, end, is a request's) of every frame
        for (f, request) in control
            .iter()
            .map(|f| (f, false))
            .chain(requests.iter().map(|f| (f, true)))
            .chain([(&frame(0x6, 8), false)])
        {
            kinds.push((all.len(), all.len() + f.len(), request));
            all.extend_from_slice(f);
        }
        for step in [1, 2, 7, 9, 10, 64, all.len()] {
            let mut seen = Traffic::default();
            for (i, piece) in all.chunks(step).enumerate() {
                let (start, end) = (i * step, i * step + piece.len());
                // A request's if it holds the last byte of a request frame's header or any
                // of its payload.
                let expected = kinds
                    .iter()
                    .any(|&(s, e, request)| request && s + FRAME_HEADER - 1 < end && start < e);
                assert_eq!(
                    seen.read(piece),
                    expected,
                    "step {step}, bytes {start}..{end}"
                );
            }
        }
    }

    #[test]
    fn writes_count_responses_only_across_partial_and_vectored_writes() {
        let mut http1 = Traffic::default();
        assert!(http1.read(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(http1.wrote([&b"HTTP/1.1 200 OK\r\n"[..]], 5));
        assert!(!http1.wrote([&b"HTTP/1.1 200 OK\r\n"[..]], 0));

        let mut http2 = Traffic::default();
        assert!(!http2.read(PREFACE));
        // SETTINGS, a PING ack: not a response's. Written two buffers at a time, the first
        // write cut short inside the PING's header.
        let (settings, ping) = (frame(0x4, 6), frame(0x6, 8));
        assert!(!http2.wrote([&settings[..], &ping[..]], settings.len() + 4));
        assert!(!http2.wrote([&ping[4..]], ping.len() - 4));
        // HEADERS and DATA: a response's, even when a write ends inside the DATA's header and
        // the next holds only its payload.
        let (headers, data) = (frame(0x1, 10), frame(0x0, 100));
        assert!(http2.wrote([&headers[..], &data[..3]], headers.len() + 3));
        assert!(http2.wrote([&data[3..]], data.len() - 3));
        // A GOAWAY after them is not.
        assert!(!http2.wrote([&frame(0x7, 8)[..]], FRAME_HEADER + 8));
    }
}
