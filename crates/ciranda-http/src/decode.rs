//! Content codings of response bodies (aiohttp's `auto_decompress`): `gzip`, `deflate`, `br`
//! and `zstd`, undone chunk by chunk as the body arrives.
//!
//! A decoder takes at most [`STEP`] compressed bytes at a time, so one step's output stays
//! bounded however large the chunks the server sends: deflate expands at most about 1 032
//! to 1, and a brotli or zstd step stops at [`CAPPED_OUT`] bytes of output (their ratios have
//! no such bound), keeping the rest of its input and output for the next steps. The end of
//! the body is checked: a `gzip` member must end with its CRC and length, a `deflate` or `br`
//! stream with its final block, a `zstd` body at the end of a frame, or the body counts as
//! cut short. Bytes after a `gzip` member that do not begin another, or after a `deflate` or
//! `br` stream, are ignored (zero padding, a stray newline), as gzip(1) and zlib's users do,
//! up to [`MAX_IGNORED`] of them: more is an error, not bytes read and dropped for as long
//! as the server sends them (`max_body_size` counts decoded bytes, and these decode to
//! nothing).

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use bytes::{Buf, Bytes};
use flate2::write::GzDecoder;
use flate2::{Decompress, FlushDecompress, Status};
use http::HeaderMap;
use http::header::CONTENT_ENCODING;
use std::io::{self, Write};
use zstd::stream::raw::{DParameter, InBuffer, Operation, OutBuffer};

/// The most compressed bytes decoded in one step.
pub(crate) const STEP: usize = 8 * 1024;

/// The most bytes one brotli or zstd step returns.
pub(crate) const CAPPED_OUT: usize = 64 * 1024;

/// The most bytes after the end of a compressed body that are ignored; one more is an error.
/// Padding is a few bytes, or a block (gzip(1) on a tape pads to 512 bytes, `tar` to 10 KiB).
pub(crate) const MAX_IGNORED: usize = 64 * 1024;

/// The largest zstd window accepted, as a power of two: 8 MiB, the limit RFC 9659 sets for
/// the `zstd` content coding (a larger window is a memory cost the server imposes on us).
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A content coding the client undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `gzip` (or `x-gzip`), RFC 1952; several members in a row are one body, and bytes
    /// after a member that do not begin another are ignored.
    Gzip,
    /// `deflate`: a zlib stream (RFC 1950) as the RFC says, or the raw deflate (RFC 1951)
    /// that some servers send instead; the first two bytes tell which.
    Deflate,
    /// `br`, RFC 7932, with its standard window of at most 16 MiB (large-window streams,
    /// which are not for HTTP, are refused).
    Brotli,
    /// `zstd`, RFC 8878, with a window of at most 8 MiB (RFC 9659); several frames in a row
    /// are one body.
    Zstd,
}

impl Coding {
    /// The coding a response's `Content-Encoding` names, if it is exactly one the client
    /// undoes; `None` for none, an unknown one or several (such a body is left as it came).
    pub(crate) fn of(headers: &HeaderMap) -> Option<Coding> {
        let mut values = headers.get_all(CONTENT_ENCODING).iter();
        let value = values.next()?;
        if values.next().is_some() {
            return None;
        }
        let name = value.to_str().ok()?.trim();
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            Some(Coding::Gzip)
        } else if name.eq_ignore_ascii_case("deflate") {
            Some(Coding::Deflate)
        } else if name.eq_ignore_ascii_case("br") {
            Some(Coding::Brotli)
        } else if name.eq_ignore_ascii_case("zstd") {
            Some(Coding::Zstd)
        } else {
            None
        }
    }
}

/// Undoes one body's coding.
pub(crate) struct Decoder {
    state: State,
    /// Bytes after the end of the compressed data, ignored so far (see [`MAX_IGNORED`]).
    ignored: usize,
}

enum State {
    Gzip {
        /// The current member's decoder. Boxed: the gzip framing state is several times the
        /// size of the other variants.
        decoder: Box<GzDecoder<Vec<u8>>>,
        /// Where in the body the next byte falls.
        at: GzipAt,
        fed: bool,
    },
    /// `deflate` before two bytes have come to tell a zlib stream from a raw one.
    DeflateStart(Vec<u8>),
    Deflate {
        inflate: Decompress,
        ended: bool,
    },
    Brotli {
        /// Boxed: the decoder's state is a few hundred bytes.
        state: Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>,
        /// Where a step writes, [`CAPPED_OUT`] bytes made once; a step returns a copy of
        /// what it wrote.
        out: Box<[u8]>,
        fed: bool,
        ended: bool,
    },
    Zstd {
        decoder: Box<zstd::stream::raw::Decoder<'static>>,
        /// As for brotli.
        out: Box<[u8]>,
        fed: bool,
        /// The last step ended a frame and left no output behind: the body may end here.
        at_frame_end: bool,
    },
}

impl Decoder {
    pub(crate) fn new(coding: Coding) -> Decoder {
        let state = match coding {
            Coding::Gzip => State::Gzip {
                decoder: Box::new(GzDecoder::new(Vec::new())),
                at: GzipAt::Member,
                fed: false,
            },
            Coding::Deflate => State::DeflateStart(Vec::new()),
            Coding::Brotli => State::Brotli {
                state: Box::new(BrotliState::new_strict(
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                )),
                out: vec![0; CAPPED_OUT].into_boxed_slice(),
                fed: false,
                ended: false,
            },
            Coding::Zstd => State::Zstd {
                decoder: Box::new(zstd_decoder()),
                out: vec![0; CAPPED_OUT].into_boxed_slice(),
                fed: false,
                at_frame_end: true,
            },
        };
        Decoder { state, ignored: 0 }
    }

    /// The next decoded bytes, from the front of `input` (taking away what it used) or from
    /// output left pending by an earlier step; `None` once `input` is used up and nothing is
    /// pending. One call returns one step's output, so it stays bounded.
    pub(crate) fn next_chunk(&mut self, input: &mut Bytes) -> io::Result<Option<Vec<u8>>> {
        loop {
            let had_input = !input.is_empty();
            let out = self.step(input)?;
            if !out.is_empty() {
                return Ok(Some(out));
            }
            if !had_input {
                return Ok(None);
            }
        }
    }

    /// One step: decodes from the front of `input`, taking away what it used (at most
    /// [`STEP`] bytes), and returns what it decoded, possibly nothing yet. With `input`
    /// empty it returns output still pending from earlier steps (a brotli or zstd step's
    /// output is capped), or nothing.
    fn step(&mut self, input: &mut Bytes) -> io::Result<Vec<u8>> {
        let out = self.decode(input)?;
        if self.ignored > MAX_IGNORED {
            return Err(corrupt(&format!(
                "more than {} KiB follow the end of the compressed data",
                MAX_IGNORED / 1024
            )));
        }
        Ok(out)
    }

    /// [`step`](Decoder::step) before the check of what it ignored.
    fn decode(&mut self, input: &mut Bytes) -> io::Result<Vec<u8>> {
        // The capped codings take what they use from `input` themselves; the others take
        // one step's worth here.
        let mut next_step = || input.split_to(input.len().min(STEP));
        let ignored = &mut self.ignored;
        match &mut self.state {
            State::Brotli {
                state,
                out,
                fed,
                ended,
            } => {
                *fed |= !input.is_empty();
                brotli_step(state, out, ended, input, ignored)
            }
            State::Zstd {
                decoder,
                out,
                fed,
                at_frame_end,
            } => {
                *fed |= !input.is_empty();
                zstd_step(decoder, out, at_frame_end, input)
            }
            State::Gzip { decoder, at, fed } => {
                let step = next_step();
                *fed |= !step.is_empty();
                gzip_write(decoder, at, &step, ignored)?;
                Ok(std::mem::take(decoder.get_mut()))
            }
            State::DeflateStart(start) => {
                start.extend_from_slice(&next_step());
                if start.len() < 2 {
                    return Ok(Vec::new());
                }
                // At most one byte more than a step: the one kept from before.
                let start = std::mem::take(start);
                let mut inflate = Decompress::new(is_zlib_header(start[0], start[1]));
                let mut ended = false;
                let mut out = Vec::new();
                *ignored += inflate_into(&mut inflate, &mut ended, &start, &mut out)?;
                self.state = State::Deflate { inflate, ended };
                Ok(out)
            }
            State::Deflate { inflate, ended } => {
                let mut out = Vec::new();
                *ignored += inflate_into(inflate, ended, &next_step(), &mut out)?;
                Ok(out)
            }
        }
    }

    /// The body has ended: checks that the compressed stream did too, and returns the last
    /// decoded bytes. Call it until it returns nothing (a brotli or zstd stream's last
    /// output may take several calls). An empty body (a `HEAD` answer, a `304`) decodes to
    /// nothing.
    pub(crate) fn finish(&mut self) -> io::Result<Vec<u8>> {
        match &mut self.state {
            State::Gzip { fed: false, .. } => Ok(Vec::new()),
            State::Gzip { decoder, at, .. } => {
                if *at == GzipAt::Member {
                    // Checks the member's CRC and length (an error if it is cut short);
                    // once, as the decoder may not be used after it.
                    decoder.try_finish()?;
                    *at = GzipAt::Trailing;
                }
                Ok(std::mem::take(decoder.get_mut()))
            }
            State::DeflateStart(start) if start.is_empty() => Ok(Vec::new()),
            State::DeflateStart(_) | State::Deflate { ended: false, .. } => Err(corrupt(
                "the body ends before its deflate stream does (cut short?)",
            )),
            State::Deflate { ended: true, .. } => Ok(Vec::new()),
            State::Brotli { fed: false, .. } => Ok(Vec::new()),
            State::Brotli {
                state, out, ended, ..
            } => {
                let out = brotli_step(state, out, ended, &mut Bytes::new(), &mut self.ignored)?;
                if out.is_empty() && !*ended {
                    return Err(corrupt(
                        "the body ends before its brotli stream does (cut short?)",
                    ));
                }
                Ok(out)
            }
            State::Zstd { fed: false, .. } => Ok(Vec::new()),
            State::Zstd {
                decoder,
                out,
                at_frame_end,
                ..
            } => {
                let out = zstd_step(decoder, out, at_frame_end, &mut Bytes::new())?;
                if out.is_empty() && !*at_frame_end {
                    return Err(corrupt("the body ends inside a zstd frame (cut short?)"));
                }
                Ok(out)
            }
        }
    }
}

/// Where a `gzip` body's next byte falls.
#[derive(Debug, PartialEq, Eq)]
enum GzipAt {
    /// In a member, its header included.
    Member,
    /// Just after a member: the first bytes seen (fewer than two) of what follows.
    AfterMember(Vec<u8>),
    /// In bytes after a member that do not begin another: ignored to the end.
    Trailing,
}

/// The two bytes a gzip member begins with (RFC 1952 2.3.1).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decodes `input` into `decoder`'s output, a member at a time: a member's end is checked
/// (CRC and length), then the next begins if the bytes after it are a gzip header's, and
/// the rest of the body is ignored (counted in `ignored`) if they are not.
fn gzip_write(
    decoder: &mut GzDecoder<Vec<u8>>,
    at: &mut GzipAt,
    mut input: &[u8],
    ignored: &mut usize,
) -> io::Result<()> {
    while !input.is_empty() {
        match at {
            GzipAt::Member => {
                // 0 from a non-empty write: the member has ended, its CRC and length read.
                let used = decoder.write(input)?;
                if used == 0 {
                    decoder.try_finish()?;
                    *at = GzipAt::AfterMember(Vec::new());
                }
                input = &input[used..];
            }
            GzipAt::AfterMember(start) => {
                let take = (GZIP_MAGIC.len() - start.len()).min(input.len());
                start.extend_from_slice(&input[..take]);
                input = &input[take..];
                if start.len() < GZIP_MAGIC.len() {
                    continue;
                }
                if start[..] != GZIP_MAGIC {
                    *ignored += start.len();
                    *at = GzipAt::Trailing;
                    continue;
                }
                // Another member: a new decoder, writing after what the last one wrote.
                let written = std::mem::take(decoder.get_mut());
                *decoder = GzDecoder::new(written);
                decoder.write_all(&GZIP_MAGIC)?;
                *at = GzipAt::Member;
            }
            GzipAt::Trailing => {
                *ignored += input.len();
                return Ok(());
            }
        }
    }
    Ok(())
}

fn zstd_decoder() -> zstd::stream::raw::Decoder<'static> {
    let mut decoder = zstd::stream::raw::Decoder::new()
        .unwrap_or_else(|e| panic!("cannot make a zstd decoder (out of memory?): {e}"));
    decoder
        .set_parameter(DParameter::WindowLogMax(ZSTD_WINDOW_LOG_MAX))
        .unwrap_or_else(|e| panic!("zstd refused a window limit of 8 MiB: {e}"));
    decoder
}

/// One zstd step: at most [`STEP`] bytes of `input` in, at most `buffer.len()` bytes out.
/// What it does not use stays in `input`. Frames may follow one another; `at_frame_end`
/// says whether the last step that did anything left the decoder between two frames with
/// nothing pending.
fn zstd_step(
    decoder: &mut zstd::stream::raw::Decoder<'static>,
    buffer: &mut [u8],
    at_frame_end: &mut bool,
    input: &mut Bytes,
) -> io::Result<Vec<u8>> {
    let given = input.len().min(STEP);
    let mut source = InBuffer::around(&input[..given]);
    let mut sink = OutBuffer::around(buffer);
    let hint = decoder
        .run(&mut source, &mut sink)
        .map_err(|e| corrupt(&format!("corrupt zstd data: {e}")))?;
    let (used, written) = (source.pos(), sink.pos());
    input.advance(used);
    if used == 0 && written == 0 {
        if given > 0 {
            return Err(corrupt("the zstd decoder made no progress"));
        }
        // Nothing was pending: the decoder is where the last step left it (between frames it
        // answers the size of the next frame's header, not 0).
        return Ok(Vec::new());
    }
    // 0: the step completed a frame and flushed all of it.
    *at_frame_end = hint == 0;
    Ok(buffer[..written].to_vec())
}

/// One brotli step: at most [`STEP`] bytes of `input` in, at most `buffer.len()` bytes out.
/// What it does not use stays in `input`; bytes after the stream's end are dropped (counted
/// in `ignored`), as [`inflate_into`] ignores them.
fn brotli_step(
    state: &mut BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>,
    buffer: &mut [u8],
    ended: &mut bool,
    input: &mut Bytes,
    ignored: &mut usize,
) -> io::Result<Vec<u8>> {
    if *ended {
        *ignored += input.len();
        input.clear();
        return Ok(Vec::new());
    }
    let given = input.len().min(STEP);
    let (mut available_in, mut input_offset) = (given, 0);
    let (mut available_out, mut output_offset, mut total_out) = (buffer.len(), 0, 0);
    let result = BrotliDecompressStream(
        &mut available_in,
        &mut input_offset,
        &input[..given],
        &mut available_out,
        &mut output_offset,
        buffer,
        &mut total_out,
        state,
    );
    input.advance(input_offset);
    let out = buffer[..output_offset].to_vec();
    match result {
        BrotliResult::ResultFailure => Err(corrupt(&format!(
            "corrupt brotli data ({:?})",
            state.error_code
        ))),
        BrotliResult::ResultSuccess => {
            *ended = true;
            *ignored += input.len();
            input.clear();
            Ok(out)
        }
        BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput
            if given > 0 && input_offset == 0 && out.is_empty() =>
        {
            Err(corrupt("the brotli decoder made no progress"))
        }
        BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => Ok(out),
    }
}

/// Whether `b0 b1` begin a zlib stream (RFC 1950: method 8 with a window of at most 32 KiB,
/// and a header check that is a multiple of 31) rather than raw deflate.
fn is_zlib_header(b0: u8, b1: u8) -> bool {
    b0 & 0x0f == 8 && b0 >> 4 <= 7 && (u16::from(b0) << 8 | u16::from(b1)) % 31 == 0
}

/// Inflates `input` into `out`. Bytes after the stream's end are ignored, as zlib's users
/// (aiohttp's among them) do; returns how many.
fn inflate_into(
    inflate: &mut Decompress,
    ended: &mut bool,
    mut input: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<usize> {
    while !input.is_empty() && !*ended {
        out.reserve(32 * 1024);
        let (before_in, before_out) = (inflate.total_in(), out.len());
        let status = inflate
            .decompress_vec(input, out, FlushDecompress::None)
            .map_err(|e| corrupt(&format!("corrupt deflate data: {e}")))?;
        let used = usize::try_from(inflate.total_in() - before_in)
            .expect("no more consumed than was given");
        input = &input[used..];
        match status {
            Status::StreamEnd => *ended = true,
            Status::Ok | Status::BufError if used == 0 && out.len() == before_out => {
                return Err(corrupt("the deflate decoder made no progress"));
            }
            Status::Ok | Status::BufError => {}
        }
    }
    Ok(input.len())
}

fn corrupt(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};

    fn text() -> Vec<u8> {
        (0..50_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect()
    }

    /// Feeds `chunk` as the response stream does, appending what it decodes to `out`;
    /// returns the largest step's output.
    fn feed_all(decoder: &mut Decoder, chunk: &[u8], out: &mut Vec<u8>) -> io::Result<usize> {
        let mut input = Bytes::copy_from_slice(chunk);
        let mut largest = 0;
        while let Some(step) = decoder.next_chunk(&mut input)? {
            largest = largest.max(step.len());
            out.extend(step);
        }
        Ok(largest)
    }

    /// Ends the body as the response stream does: `finish` until it returns nothing.
    fn finish_all(decoder: &mut Decoder, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut largest = 0;
        loop {
            let last = decoder.finish()?;
            if last.is_empty() {
                return Ok(largest);
            }
            largest = largest.max(last.len());
            out.extend(last);
        }
    }

    fn decode_in_pieces(coding: Coding, body: &[u8], piece: usize) -> io::Result<Vec<u8>> {
        let mut decoder = Decoder::new(coding);
        let mut out = Vec::new();
        for chunk in body.chunks(piece) {
            feed_all(&mut decoder, chunk, &mut out)?;
        }
        finish_all(&mut decoder, &mut out)?;
        Ok(out)
    }

    /// Each encoder of [`encoded`] and the coding that undoes it.
    const ENCODINGS: [(&str, Coding); 5] = [
        ("gzip", Coding::Gzip),
        ("zlib", Coding::Deflate),
        ("raw", Coding::Deflate),
        ("br", Coding::Brotli),
        ("zstd", Coding::Zstd),
    ];

    fn encoded(coding: &str, data: &[u8]) -> Vec<u8> {
        match coding {
            "gzip" => {
                let mut e = GzEncoder::new(Vec::new(), Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            "zlib" => {
                let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            "raw" => {
                let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            "br" => {
                let mut body = Vec::new();
                let mut e = brotli::CompressorWriter::new(&mut body, 4096, 5, 22);
                e.write_all(data).unwrap();
                drop(e);
                body
            }
            "zstd" => zstd::encode_all(data, 3).unwrap(),
            other => panic!("no encoder {other}"),
        }
    }

    #[test]
    fn every_coding_decodes_whatever_the_chunk_sizes() {
        let data = text();
        for (name, coding) in ENCODINGS {
            let body = encoded(name, &data);
            for piece in [1, 2, 7, 1000, STEP, body.len()] {
                let out = decode_in_pieces(coding, &body, piece).unwrap();
                assert!(out == data, "{name} in pieces of {piece}");
            }
        }
    }

    #[test]
    fn a_first_byte_alone_then_full_steps() {
        let data = text();
        for name in ["zlib", "raw"] {
            let body = encoded(name, &data);
            let mut decoder = Decoder::new(Coding::Deflate);
            let mut out = Vec::new();
            feed_all(&mut decoder, &body[..1], &mut out).unwrap();
            for step in body[1..].chunks(STEP) {
                feed_all(&mut decoder, step, &mut out).unwrap();
            }
            finish_all(&mut decoder, &mut out).unwrap();
            assert!(out == data, "{name}");
        }
    }

    #[test]
    fn one_step_of_output_is_bounded() {
        // 16 MiB of zeros compress to about 16 KiB with deflate and to a few bytes with
        // brotli or zstd, which arrive in one chunk; no step may return more than deflate's
        // ratio allows for STEP bytes of input, or than a brotli or zstd step's cap.
        let zeros = vec![0u8; 16 << 20];
        for (name, coding, cap) in [
            ("gzip", Coding::Gzip, STEP * 1100),
            ("br", Coding::Brotli, CAPPED_OUT),
            ("zstd", Coding::Zstd, CAPPED_OUT),
        ] {
            let body = encoded(name, &zeros);
            let mut decoder = Decoder::new(coding);
            let mut out = Vec::new();
            let largest = feed_all(&mut decoder, &body, &mut out)
                .unwrap()
                .max(finish_all(&mut decoder, &mut out).unwrap());
            assert!(largest <= cap, "{name}: {largest} bytes from one step");
            assert!(
                out.len() == zeros.len() && out.iter().all(|&b| b == 0),
                "{name}"
            );
        }
    }

    #[test]
    fn concatenated_gzip_members_are_one_body() {
        let mut body = encoded("gzip", b"first ");
        body.extend(encoded("gzip", b"second"));
        assert_eq!(
            decode_in_pieces(Coding::Gzip, &body, 5).unwrap(),
            b"first second"
        );
    }

    #[test]
    fn bytes_after_a_gzip_member_that_start_no_other_are_ignored() {
        // Zero padding and stray bytes after the last member: gzip(1) and the deflate and
        // `br` decoders here ignore them; the body decoded so far is the whole body.
        for tail in [
            &b"\0\0\0\0"[..],
            b"\n",
            b"garbage after the member\r\n",
            b"\x1f",
        ] {
            let mut body = encoded("gzip", b"first ");
            body.extend(encoded("gzip", b"second"));
            body.extend_from_slice(tail);
            for piece in [1, 2, 5, body.len()] {
                let out = decode_in_pieces(Coding::Gzip, &body, piece);
                assert_eq!(
                    out.unwrap(),
                    b"first second",
                    "{tail:?} in pieces of {piece}"
                );
            }
        }
        // A member that fails its check is still an error, and so is a second member cut
        // short after its magic bytes.
        let mut bad = encoded("gzip", b"first ");
        let crc = bad.len() - 8;
        bad[crc] ^= 1;
        bad.extend(b"\0\0");
        assert!(decode_in_pieces(Coding::Gzip, &bad, 3).is_err());
        let mut cut = encoded("gzip", b"first ");
        cut.extend([0x1f, 0x8b, 8]);
        assert!(decode_in_pieces(Coding::Gzip, &cut, 3).is_err());
    }

    #[test]
    fn up_to_64_kib_after_the_end_are_ignored_and_more_is_an_error() {
        // zstd is left out: what follows a frame must be another frame.
        for (encoder, coding) in &ENCODINGS[..4] {
            // Zeros (padding) and bytes that are no gzip magic, in every piece size.
            for filler in [0u8, b'x'] {
                let mut body = encoded(encoder, b"the body");
                let end = body.len();
                body.resize(end + MAX_IGNORED, filler);
                for piece in [1000, STEP, body.len()] {
                    let out = decode_in_pieces(*coding, &body, piece);
                    assert_eq!(out.unwrap(), b"the body", "{encoder}, {piece}");
                }
                body.push(filler);
                for piece in [1000, STEP, body.len()] {
                    let err = decode_in_pieces(*coding, &body, piece).unwrap_err();
                    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
                    assert!(
                        err.to_string().contains("more than 64 KiB follow the end"),
                        "{encoder}, {piece}: {err}"
                    );
                }
            }
        }
        // Counted after the last gzip member, not the first.
        let mut body = encoded("gzip", b"first ");
        body.extend(encoded("gzip", &vec![b'y'; 2 * MAX_IGNORED]));
        body.extend(vec![0; MAX_IGNORED]);
        let out = decode_in_pieces(Coding::Gzip, &body, 4096).unwrap();
        assert_eq!(out.len(), 6 + 2 * MAX_IGNORED);
    }

    #[test]
    fn concatenated_zstd_frames_are_one_body() {
        let mut body = encoded("zstd", b"first ");
        body.extend(encoded("zstd", b"second"));
        for piece in [1, 3, body.len()] {
            assert_eq!(
                decode_in_pieces(Coding::Zstd, &body, piece).unwrap(),
                b"first second"
            );
        }
    }

    #[test]
    fn a_zstd_window_over_8_mib_is_refused() {
        // Streamed with no size pledged, the frame declares the window it was made with.
        let make = |window_log: u32| {
            let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
            e.set_parameter(zstd::stream::raw::CParameter::WindowLog(window_log))
                .unwrap();
            e.write_all(&text()).unwrap();
            e.finish().unwrap()
        };
        let fits = decode_in_pieces(Coding::Zstd, &make(ZSTD_WINDOW_LOG_MAX), 4096).unwrap();
        assert!(fits == text());
        let err = decode_in_pieces(Coding::Zstd, &make(ZSTD_WINDOW_LOG_MAX + 1), 4096)
            .expect_err("a 16 MiB window decoded");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("zstd"), "{err}");
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let data = text();
        for (name, coding) in ENCODINGS {
            let body = encoded(name, &data);
            for keep in [1, body.len() / 2, body.len() - 1] {
                let result = decode_in_pieces(coding, &body[..keep], 4096);
                assert!(result.is_err(), "{name} cut at {keep} decoded");
            }
        }
    }

    #[test]
    fn garbage_is_an_error_and_an_empty_body_is_empty() {
        let garbage = b"this is not compressed at all, not even a little".repeat(10);
        assert!(decode_in_pieces(Coding::Gzip, &garbage, 100).is_err());
        assert!(decode_in_pieces(Coding::Deflate, &garbage, 100).is_err());
        assert!(decode_in_pieces(Coding::Brotli, &garbage, 100).is_err());
        assert!(decode_in_pieces(Coding::Zstd, &garbage, 100).is_err());
        for coding in [Coding::Gzip, Coding::Deflate, Coding::Brotli, Coding::Zstd] {
            assert_eq!(decode_in_pieces(coding, b"", 1).unwrap(), b"");
        }
    }

    #[test]
    fn content_encoding_names_one_known_coding_or_nothing() {
        let with = |values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(CONTENT_ENCODING, v.parse().unwrap());
            }
            Coding::of(&h)
        };
        assert_eq!(with(&["gzip"]), Some(Coding::Gzip));
        assert_eq!(with(&["X-GZIP"]), Some(Coding::Gzip));
        assert_eq!(with(&[" Deflate "]), Some(Coding::Deflate));
        assert_eq!(with(&[]), None);
        assert_eq!(with(&["br"]), Some(Coding::Brotli));
        assert_eq!(with(&["BR"]), Some(Coding::Brotli));
        assert_eq!(with(&["zstd"]), Some(Coding::Zstd));
        assert_eq!(with(&["ZSTD"]), Some(Coding::Zstd));
        assert_eq!(with(&["compress"]), None);
        assert_eq!(with(&["identity"]), None);
        assert_eq!(with(&["gzip", "gzip"]), None);
        assert_eq!(with(&["gzip, br"]), None);
    }
}
