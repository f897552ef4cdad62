#![no_main]
//! The address matching key: any text gives a key, without the separators keys ignore.

libfuzzer_sys::fuzz_target!(|raw: &str| {
    let key = pophub::identity::address::address_key(raw);
    assert!(!key.contains([',', '，', '-', '－']), "separators are gone from {key:?}");
});
