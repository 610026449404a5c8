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

/// `bytes` as text in `encoding`, or in the encoding a byte-order mark at the start names
/// (the mark itself left out); `Err` says where the first malformed bytes are.
pub(crate) fn decode(bytes: &[u8], encoding: &'static Encoding) -> Result<String, String> {
    let (encoding, bom) = Encoding::for_bom(bytes).unwrap_or((encoding, 0));
    let bytes = &bytes[bom..];
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let room = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or_else(|| format!("a body of {} bytes is too large to decode", bytes.len()))?;
    let mut text = String::with_capacity(room);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(text),
        DecoderResult::Malformed(bad, after) => {
            let end = bom + read - usize::from(after);
            Err(format!(
                "the body is not valid {} text: malformed bytes at {}..{end}",
                encoding.name(),
                end - usize::from(bad)
            ))
        }
        DecoderResult::OutputFull => unreachable!("room was made for the longest output"),
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
    fn malformed_bytes_are_an_error_that_says_where() {
        let err = decode(b"ab\xffcd", encoding_rs::UTF_8).unwrap_err();
        assert!(err.contains("UTF-8") && err.contains("2..3"), "{err}");
        // After a byte-order mark, positions still count from the body's first byte.
        let err = decode(b"\xef\xbb\xbfab\xc3", encoding_rs::WINDOWS_1252).unwrap_err();
        assert!(err.contains("UTF-8") && err.contains("5..6"), "{err}");
        let err = decode(b"\x82\xa0\x82", encoding_rs::SHIFT_JIS).unwrap_err();
        assert!(err.contains("Shift_JIS"), "{err}");
    }
}
