#![no_main]
//! The address matching key.

libfuzzer_sys::fuzz_target!(|raw: &str| {
    let key = pophub::identity::address::address_key(raw);
    assert_eq!(pophub::identity::address::address_key(&key), key, "the key of a key is itself");
});
