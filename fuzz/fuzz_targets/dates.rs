#![no_main]
//! Date and month parsing in every format the departments send.

use pophub::identity::dates;

libfuzzer_sys::fuzz_target!(|raw: &str| {
    if let Ok(date) = dates::parse_date(raw, pophub_fuzz::today()) {
        assert!(date <= pophub_fuzz::today(), "no date after the day it is read as of");
    }
    let _ = dates::parse_month(raw);
});
