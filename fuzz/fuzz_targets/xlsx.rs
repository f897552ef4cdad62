#![no_main]
//! An export read as `format = "xlsx"` declares it, from the fuzzer's bytes.

libfuzzer_sys::fuzz_target!(|data: &[u8]| pophub_fuzz::read_as("xlsx", data));
