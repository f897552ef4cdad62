//! Turning an export's bytes into text under its declared encoding. A file that does not decode
//! is an error with the byte offset, never silently patched with replacement characters.

use std::path::Path;

use encoding_rs::{DecoderResult, GB18030, GBK, UTF_8};

use super::IngestError;
use crate::config::Encoding;

/// Decodes a whole file; a UTF-8 byte-order mark is dropped.
pub fn decode(path: &Path, bytes: &[u8], encoding: Encoding) -> Result<String, IngestError> {
    let (codec, bytes) = match encoding {
        Encoding::Utf8 => (UTF_8, bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)),
        Encoding::Gbk => (GBK, bytes),
        Encoding::Gb18030 => (GB18030, bytes),
    };
    let mut decoder = codec.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .unwrap_or(bytes.len() * 3);
    let mut text = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut text, true);
    match result {
        DecoderResult::InputEmpty => Ok(text),
        DecoderResult::Malformed(bad, extra) => Err(IngestError::Decode {
            file: path.to_path_buf(),
            offset: (read - bad as usize - extra as usize) as u64,
            encoding: encoding.as_str(),
        }),
        DecoderResult::OutputFull => unreachable!("buffer sized by max_utf8_buffer_length"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_gb18030_and_strips_a_bom() {
        let (gb, _, _) = GB18030.encode("姓名,张伟");
        assert_eq!(decode(Path::new("x.csv"), &gb, Encoding::Gb18030).unwrap(), "姓名,张伟");
        assert_eq!(decode(Path::new("x.csv"), b"\xEF\xBB\xBFa,b", Encoding::Utf8).unwrap(), "a,b");
    }

    #[test]
    fn malformed_bytes_name_their_offset() {
        let err = decode(Path::new("x.csv"), b"ab\xFFcd", Encoding::Utf8).unwrap_err();
        assert!(matches!(err, IngestError::Decode { offset: 2, .. }), "{err}");
    }
}
