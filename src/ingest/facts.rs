//! The typed schema of each kind of department fact: which fields are dates, months, numbers or
//! fixed vocabularies, and which are required (a row without them is quarantined) or optional
//! (a bad value is counted as a warning and published as null, its raw text kept).

/// How a fact field's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Date,
    Month,
    Number,
    OneOf(&'static [&'static str]),
}

/// The status vocabulary of the household register.
pub const RESIDENCE_STATUSES: &[&str] = &["normal", "deceased", "moved_out"];

/// (kind, field, type, required)
const FACT_FIELDS: &[(&str, &str, ValueType, bool)] = &[
    ("residence", "household_no", ValueType::Text, true),
    ("residence", "district", ValueType::Text, true),
    ("residence", "address", ValueType::Text, false),
    ("residence", "relation", ValueType::Text, false),
    ("residence", "status", ValueType::OneOf(RESIDENCE_STATUSES), true),
    ("residence", "status_date", ValueType::Date, false),
    ("insured", "internal_id", ValueType::Text, true),
    ("insured", "status", ValueType::Text, false),
    ("payment", "internal_id", ValueType::Text, true),
    ("payment", "month", ValueType::Month, true),
    ("payment", "amount", ValueType::Number, true),
    ("payment", "benefit", ValueType::Text, false),
    ("ownership", "unit_no", ValueType::Text, true),
    ("ownership", "address", ValueType::Text, true),
    ("ownership", "area", ValueType::Number, false),
    ("ownership", "usage", ValueType::Text, false),
    ("ownership", "registered_on", ValueType::Date, false),
    ("ownership", "share", ValueType::Text, false),
    ("birth", "birth_date", ValueType::Date, true),
    ("birth", "hospital", ValueType::Text, false),
    ("death", "death_date", ValueType::Date, true),
    ("stay", "current_address", ValueType::Text, true),
    ("stay", "origin_address", ValueType::Text, false),
    ("stay", "registered_on", ValueType::Date, false),
    ("stay", "reason", ValueType::Text, false),
    ("tenancy", "address", ValueType::Text, true),
    ("tenancy", "rent", ValueType::Number, false),
    ("tenancy", "started_on", ValueType::Date, false),
];

/// The type of a fact field and whether it is required.
pub fn fact_type(kind: &str, field: &str) -> (ValueType, bool) {
    FACT_FIELDS
        .iter()
        .find(|(k, f, _, _)| *k == kind && *f == field)
        .map(|(_, _, t, r)| (*t, *r))
        .unwrap_or((ValueType::Text, false))
}

/// Mention fields are never required: a bad one is evidence the linker weighs.
pub fn mention_type(field: &str) -> ValueType {
    match field {
        "birth_date" => ValueType::Date,
        "sex" => ValueType::OneOf(&["M", "F"]),
        _ => ValueType::Text,
    }
}
