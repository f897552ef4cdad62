//! Turning an export's bytes into text under its declared encoding. A file that does not decode
//! is an error with the byte offset, never silently patched with replacement characters.

use std::path::Path;

use encoding_rs::{DecoderResult, GB18030, GBK, UTF_8};

use super::IngestError;
use crate::config::Encoding;

/// Decodes a file chunk by chunk: a multi-byte character split between chunks is carried
/// over, and a malformed sequence is reported with its offset in the file.
pub struct ChunkDecoder {
    decoder: encoding_rs::Decoder,
    encoding: Encoding,
    path: std::path::PathBuf,
    /// Bytes of the file consumed so far.
    consumed: u64,
}

impl ChunkDecoder {
    pub fn new(path: &Path, encoding: Encoding) -> Self {
        let codec = match encoding {
            Encoding::Utf8 => UTF_8,
            Encoding::Gbk => GBK,
            Encoding::Gb18030 => GB18030,
        };
        ChunkDecoder { decoder: codec.new_decoder_without_bom_handling(), encoding, path: path.to_path_buf(), consumed: 0 }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Decodes the next bytes; `last` at the end of the file. A UTF-8 byte-order mark is dropped.
    pub fn decode(&mut self, bytes: &[u8], last: bool) -> Result<String, IngestError> {
        let bytes = match (self.consumed, self.encoding) {
            (0, Encoding::Utf8) if bytes.starts_with(b"\xEF\xBB\xBF") => {
                self.consumed = 3;
                &bytes[3..]
            }
            _ => bytes,
        };
        let capacity = self.decoder.max_utf8_buffer_length_without_replacement(bytes.len()).unwrap_or(bytes.len() * 3);
        let mut text = String::with_capacity(capacity);
        let (result, read) = self.decoder.decode_to_string_without_replacement(bytes, &mut text, last);
        match result {
            DecoderResult::InputEmpty => {
                self.consumed += read as u64;
                Ok(text)
            }
            // The bad sequence ends `extra` bytes before what was read; it may have begun in an
            // earlier chunk (a file truncated in the middle of a character), so count from the
            // whole file's start.
            DecoderResult::Malformed(bad, extra) => Err(IngestError::Decode {
                file: self.path.clone(),
                offset: (self.consumed + read as u64).saturating_sub(bad as u64 + extra as u64),
                encoding: self.encoding.as_str(),
            }),
            DecoderResult::OutputFull => unreachable!("buffer sized by max_utf8_buffer_length"),
        }
    }
}

/// Decodes a whole file (JSON arrays, which are parsed whole).
pub fn decode(path: &Path, bytes: &[u8], encoding: Encoding) -> Result<String, IngestError> {
    ChunkDecoder::new(path, encoding).decode(bytes, true)
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

    #[test]
    fn characters_split_between_chunks_decode_and_offsets_count_the_whole_file() {
        let (gb, _, _) = GB18030.encode("张伟,李丽");
        let mut d = ChunkDecoder::new(Path::new("x.csv"), Encoding::Gb18030);
        let mut text = d.decode(&gb[..3], false).unwrap();
        text.push_str(&d.decode(&gb[3..], true).unwrap());
        assert_eq!(text, "张伟,李丽");
        let mut d = ChunkDecoder::new(Path::new("x.csv"), Encoding::Utf8);
        d.decode(b"\xEF\xBB\xBFabc", false).unwrap();
        let err = d.decode(b"de\xFF", true).unwrap_err();
        assert!(matches!(err, IngestError::Decode { offset: 8, .. }), "{err}");
    }

    #[test]
    fn a_file_truncated_inside_a_character_names_the_offset_of_that_character() {
        // "ab张" with the last byte of 张 lost in transfer, the cut falling between chunks.
        let mut d = ChunkDecoder::new(Path::new("x.csv"), Encoding::Utf8);
        assert_eq!(d.decode(b"ab\xE5\xBC", false).unwrap(), "ab");
        let err = d.decode(b"", true).unwrap_err();
        assert!(matches!(err, IngestError::Decode { offset: 2, .. }), "{err}");
        let (gb, _, _) = GB18030.encode("姓名");
        let mut d = ChunkDecoder::new(Path::new("x.csv"), Encoding::Gb18030);
        d.decode(&gb[..3], false).unwrap();
        let err = d.decode(&[], true).unwrap_err();
        assert!(matches!(err, IngestError::Decode { offset: 2, .. }), "{err}");
    }
}
