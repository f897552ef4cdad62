#![no_main]
//! JSON lines, or a JSON array, with an owners array exploded into a row per owner, from the
//! fuzzer's bytes (the first byte's low bit picks which).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let format = if data.first().is_some_and(|b| b & 1 == 1) { "json" } else { "jsonl" };
    pophub_fuzz::read_as(format, data)
});
