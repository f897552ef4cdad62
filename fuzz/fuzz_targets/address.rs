#![no_main]
//! Addresses read as structure: any text gives keys, the room's key extends the building's, and
//! each has its parts.

use std::sync::OnceLock;

use pophub::address::{Address, Districts};

/// The division table is read once per fuzzing process, as a night reads it once.
static DISTRICTS: OnceLock<Districts> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|raw: &str| {
    let address = Address::parse(DISTRICTS.get_or_init(Districts::new), raw);
    let (room, building) = (address.room_key(), address.building_key());
    assert!(room.starts_with(&building), "{room:?} extends {building:?}");
    if !building.contains("|~") {
        assert_eq!(room.matches('|').count(), 5, "six parts in {room:?}");
    }
});
