//! The house register: one row per dwelling, whichever department's style its address was
//! written in, and persons tied to dwellings as owners, residents, tenants, landlords and
//! floating residents.

mod common;

use common::*;

#[test]
fn one_dwelling_written_in_each_departments_style_is_one_house() {
    let c = city(3000, 11);
    let count = |query: &str| sql_count(&c, query);

    // Every rental filing is of a unit the property register has; the filing writes `3幢201` or
    // `3号楼201室` with no city, the register `湖北省…3栋201室`.
    let rentals = count("SELECT COUNT(*) FROM tenancy");
    assert!(rentals > 20, "{rentals} rental filings");
    assert_eq!(count("SELECT COUNT(*) FROM tenancy t JOIN house h ON h.house_key = t.house_key WHERE h.owner_rows > 0"), rentals);

    // A tenant's floating-population registration, in its own style, names the house rented.
    let tenants_registered = count(
        "SELECT COUNT(*) FROM person_house t JOIN person_house l ON l.person_key = t.person_key AND l.relation = 'lives_here' \
         WHERE t.relation = 'tenant'",
    );
    assert!(tenants_registered > 20, "{tenants_registered} tenants with a floating registration");
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM person_house t JOIN person_house l ON l.person_key = t.person_key AND l.relation = 'lives_here' \
             WHERE t.relation = 'tenant' AND l.house_key <> t.house_key"
        ),
        0
    );

    // A landlord owns the house let.
    let landlords = count("SELECT COUNT(*) FROM person_house WHERE relation = 'landlord'");
    assert!(landlords > 20);
    let owning = count(
        "SELECT COUNT(*) FROM person_house l JOIN person_house o ON o.house_key = l.house_key AND o.person_key = l.person_key \
         AND o.relation = 'owner' WHERE l.relation = 'landlord'",
    );
    assert!(owning as f64 >= 0.98 * landlords as f64, "{owning} of {landlords} landlords own what they let");

    // Registered residents of the property units' homes are tied to them, and the homes of the
    // rest are houses of their own, keyed by a digest of the address key.
    let residents = count("SELECT COUNT(*) FROM person_house WHERE relation = 'registered_resident'");
    let in_units = count(
        "SELECT COUNT(*) FROM person_house ph JOIN house h ON h.house_key = ph.house_key WHERE ph.relation = 'registered_resident' AND h.owner_rows > 0",
    );
    assert!(in_units > 0 && in_units < residents, "{in_units} of {residents} residents in property units");
    assert_eq!(count("SELECT COUNT(*) FROM house WHERE owner_rows = 0 AND (house_key NOT LIKE 'D%' OR length(house_key) <> 17)"), 0);
    assert_eq!(count("SELECT COUNT(*) FROM house"), count("SELECT COUNT(DISTINCT house_key) FROM house"));
    assert_eq!(count("SELECT COUNT(*) FROM person_house WHERE house_key NOT IN (SELECT house_key FROM house)"), 0);

    // Houses know their district and building, and which departments mention them.
    assert_eq!(count("SELECT COUNT(*) FROM house WHERE district IS NULL OR building_key IS NULL"), 0);
    assert!(count("SELECT COUNT(*) FROM house WHERE sources LIKE '%housing_property%' AND sources LIKE '%household_register%'") > 0);
}
