//! What the fuzz targets share: an export file made of the fuzzer's bytes, read as a source of
//! the given format declares it, in chunks as small as the first byte says.

use std::io::Write;
use std::path::PathBuf;

/// The encodings a delimited source may declare, picked by the input's first byte.
const ENCODINGS: [&str; 3] = ["utf-8", "gbk", "gb18030"];

/// Reads `data` as an export of `format` (`csv`, `jsonl`, `json`, `xlsx`): byte 0 picks the
/// chunk size (1 to 256 bytes) and, for delimited text, the encoding; the rest is the file. The
/// read may fail (that is a clear error), never panic, and read = accepted + quarantined.
pub fn read_as(format: &str, data: &[u8]) {
    let Some((&pick, file)) = data.split_first() else { return };
    let encoding = if format == "csv" { ENCODINGS[pick as usize % ENCODINGS.len()] } else { "utf-8" };
    let explode = if format.starts_with("json") { "explode = \"owners\"\n" } else { "" };
    let toml = format!("name = \"fuzz\"\ndepartment = \"fuzz\"\npath = \"fuzz\"\nformat = \"{format}\"\nencoding = \"{encoding}\"\n{explode}record_key = \"id\"\n");
    let source: pophub::config::Source = toml::from_str(&toml).expect("the fuzz source declaration is valid");
    let path = scratch(format);
    std::fs::File::create(&path).and_then(|mut f| f.write_all(file)).expect("the scratch file is writable");
    if let Ok((read, quarantined)) = pophub::ingest::read_export(&source, &path, pick as usize + 1) {
        assert!(quarantined <= read, "{quarantined} quarantined of {read} read");
    }
}

/// A scratch file of this process, in memory where the machine has a tmpfs.
fn scratch(extension: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    dir.join(format!("pophub-fuzz-{}.{extension}", std::process::id()))
}

/// The day the fuzzed values are read as of.
pub fn today() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2026, 11, 1).expect("a date")
}
