//! The text of a response body: the charset its `Content-Type` declares, a byte-order mark
//! that overrides it, and strict decoding (a malformed byte is an error, never a
//! replacement character). Charsets are named by the WHATWG Encoding Standard's labels.

use encoding_rs::{DecoderResult, Encoding};
use http::HeaderMap;
use http::header::CONTENT_TYPE;

/// The known charset the `Content-Type` header's `charset` parameter names, if any.
pub(crate) fn declared(headers: &HeaderMap) -> Option<&'static Encoding> {
    let content_type = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    content_type.split(';').skip(1).find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("charset") {
            return None;
        }
        Encoding::for_label(value.trim().trim_matches('"').as_bytes())
    })
}

/// Room left over in the text for a decoder that wants space for its longest output before
/// it writes the next character (encoding_rs asks for up to four bytes).
const SLACK: usize = 16;

/// The output buffer of [`decoded_length`]'s pass.
const SCRATCH: usize = 8 * 1024;

/// `bytes` as text in `encoding`, or in the encoding a byte-order mark at the start names
/// (the mark itself left out); `Err` says where the first malformed bytes are.
///
/// The text is given room for its own length (and [`SLACK`]), not for the longest text the
/// body could make: that is about the body's length for UTF-8, but three times it for a
/// single-byte charset (a byte may be `€`, three bytes of UTF-8, where Latin text takes one
/// or two), so a charset whose longest text is longer than the body is decoded twice, the
/// first time only to count.
pub(crate) fn decode(bytes: &[u8], encoding: &'static Encoding) -> Result<String, String> {
    let (encoding, bom) = Encoding::for_bom(bytes).unwrap_or((encoding, 0));
    let bytes = &bytes[bom..];
    let longest = encoding
        .new_decoder_without_bom_handling()
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or_else(|| format!("a body of {} bytes is too large to decode", bytes.len()))?;
    let room = if longest <= bytes.len().saturating_add(SLACK) {
        longest
    } else {
        decoded_length(bytes, encoding).map_err(|at| at.describe(encoding, bom))? + SLACK
    };
    let mut text = String::with_capacity(room);
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut read = 0;
    loop {
        let (result, more) =
            decoder.decode_to_string_without_replacement(&bytes[read..], &mut text, true);
        read += more;
        match result {
            DecoderResult::InputEmpty => return Ok(text),
            DecoderResult::Malformed(bad, after) => {
                return Err(Malformed { read, bad, after }.describe(encoding, bom));
            }
            // Not with the room counted and `SLACK`; if a decoder ever wants more, it gets
            // what the rest could need.
            DecoderResult::OutputFull => {
                let rest = decoder
                    .max_utf8_buffer_length_without_replacement(bytes.len() - read)
                    .unwrap_or(SLACK);
                text.reserve_exact(rest.max(SLACK));
            }
        }
    }
}

/// The length of `bytes` decoded from `encoding` as UTF-8, counted through a small buffer.
fn decoded_length(bytes: &[u8], encoding: &'static Encoding) -> Result<usize, Malformed> {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut scratch = vec![0; SCRATCH];
    let (mut read, mut length) = (0, 0);
    loop {
        let (result, more, written) =
            decoder.decode_to_utf8_without_replacement(&bytes[read..], &mut scratch, true);
        read += more;
        length += written;
        match result {
            DecoderResult::InputEmpty => return Ok(length),
            DecoderResult::OutputFull => {}
            DecoderResult::Malformed(bad, after) => return Err(Malformed { read, bad, after }),
        }
    }
}

/// Where decoding met malformed bytes: `read` bytes in (after the byte-order mark), the last
/// `after` of them after the `bad` ones.
struct Malformed {
    read: usize,
    bad: u8,
    after: u8,
}

impl Malformed {
    /// The error, with positions counted from the body's first byte.
    fn describe(&self, encoding: &'static Encoding, bom: usize) -> String {
        let end = bom + self.read - usize::from(self.after);
        format!(
            "the body is not valid {} text: malformed bytes at {}..{end}",
            encoding.name(),
            end - usize::from(self.bad)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_type(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_charset_parameter_is_found_however_it_is_written() {
        let name = |value: &str| declared(&with_type(value)).map(Encoding::name);
        assert_eq!(name("text/html; charset=ISO-8859-1"), Some("windows-1252"));
        assert_eq!(name("text/plain;charset=\"utf-8\""), Some("UTF-8"));
        assert_eq!(
            name("text/plain; format=flowed; Charset = koi8-r "),
            Some("KOI8-R")
        );
        assert_eq!(name("text/plain; charset=shift_jis"), Some("Shift_JIS"));
        assert_eq!(name("text/plain"), None);
        assert_eq!(name("text/plain; charset=no-such-charset"), None);
        assert_eq!(declared(&HeaderMap::new()), None);
    }

    #[test]
    fn decoding_follows_the_charset_then_the_byte_order_mark() {
        let latin = encoding_rs::WINDOWS_1252;
        assert_eq!(decode(b"caf\xe9", latin).unwrap(), "café");
        assert_eq!(
            decode("café".as_bytes(), encoding_rs::UTF_8).unwrap(),
            "café"
        );
        // A byte-order mark wins over the declared charset and is not part of the text.
        assert_eq!(decode(b"\xef\xbb\xbfcaf\xc3\xa9", latin).unwrap(), "café");
        assert_eq!(decode(b"\xff\xfeh\0i\0", latin).unwrap(), "hi");
        assert_eq!(decode(b"\xfe\xff\0h\0i", latin).unwrap(), "hi");
        assert_eq!(decode(b"", encoding_rs::UTF_8).unwrap(), "");
    }

    #[test]
    fn the_text_has_room_for_its_own_length_not_for_three_times_the_body() {
        // A single-byte charset's longest text is three bytes a byte (0x80 is `€` in
        // windows-1252), and that much was reserved whatever the body held.
        const LEN: usize = 256 * 1024;
        let repeat = |piece: &[u8]| piece.repeat(LEN / piece.len());
        for (label, body) in [
            ("iso-8859-1", repeat(b"plain ascii ")),
            ("iso-8859-1", repeat(b"\xe9")),
            ("windows-1252", repeat(b"caf\xe9 \x80 ")),
            ("koi8-r", repeat(b"\xd0\xd2\xc9\xd7\xc5\xd4 ")),
            ("windows-874", repeat(b"\xca\xc7\xd1\xca\xb4\xd5")),
            ("shift_jis", repeat(b"\x82\xa0abc")),
            (
                "utf-16le",
                repeat(
                    "h\u{e9}\u{20ac}"
                        .encode_utf16()
                        .flat_map(u16::to_le_bytes)
                        .collect::<Vec<u8>>()
                        .as_slice(),
                ),
            ),
            ("utf-8", repeat("caf\u{e9} ".as_bytes())),
        ] {
            let encoding = Encoding::for_label(label.as_bytes()).unwrap();
            let text = decode(&body, encoding).unwrap();
            let (expected, malformed) = encoding.decode_without_bom_handling(&body);
            assert!(!malformed, "{label}");
            assert_eq!(text, expected, "{label}");
            assert!(
                text.capacity() <= text.len() + SLACK,
                "{label}: {} bytes of room for {} of text from {} bytes",
                text.capacity(),
                text.len(),
                body.len()
            );
        }
    }

    #[test]
    fn malformed_bytes_are_an_error_that_says_where() {
        let err = decode(b"ab\xffcd", encoding_rs::UTF_8).unwrap_err();
        assert!(err.contains("UTF-8") && err.contains("2..3"), "{err}");
        // After a byte-order mark, positions still count from the body's first byte.
        let err = decode(b"\xef\xbb\xbfab\xc3", encoding_rs::WINDOWS_1252).unwrap_err();
        assert!(err.contains("UTF-8") && err.contains("5..6"), "{err}");
        let err = decode(b"\x82\xa0\x82", encoding_rs::SHIFT_JIS).unwrap_err();
        assert!(err.contains("Shift_JIS"), "{err}");
        // Found by the counting pass too, far into a large body.
        let mut body = b"caf\xe9 ".repeat(10_000);
        body.extend_from_slice(b"\xdb end");
        let err = decode(&body, encoding_rs::WINDOWS_874).unwrap_err();
        assert!(
            err.contains("windows-874") && err.contains("50000..50001"),
            "{err}"
        );
    }
}
