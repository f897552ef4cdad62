#![no_main]
//! Citizen ID normalisation (full-width digits, 15-digit upgrade, checksum) and repair candidates.

use pophub::identity::citizen_id;

libfuzzer_sys::fuzz_target!(|raw: &str| {
    let id = citizen_id::normalize(raw, pophub_fuzz::today());
    if id.status.is_usable() {
        assert_eq!(id.text.len(), 18, "a usable number is 18 characters");
        assert!(citizen_id::birth_date(&id.text).is_some(), "a usable number has a birth date");
    }
    for candidate in citizen_id::repair_candidates(&id.text) {
        assert!(citizen_id::checksum_ok(&candidate), "a repair candidate passes the checksum");
    }
});
