//! The generator: the same seed gives the same city, byte for byte.

mod common;

use common::*;

#[test]
fn the_same_seed_generates_the_same_city() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    ok(&["generate", "--persons", "500", "--seed", "9", "--out", path(&a)]);
    ok(&["generate", "--persons", "500", "--seed", "9", "--out", path(&b)]);
    for file in ["police/household_register.csv", "social_security/pension_payments.csv", "housing/property_units.jsonl", "truth/mentions.csv"] {
        assert_eq!(std::fs::read(a.join(file)).unwrap(), std::fs::read(b.join(file)).unwrap(), "{file}");
    }
}
