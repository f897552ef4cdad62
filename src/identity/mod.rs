//! Identity: what a person mention's fields really say. ID numbers, names, dates and address
//! codes (addresses themselves are `crate::address`), each normalised the same way wherever they appear, and lifted onto Arrow arrays.

pub mod citizen_id;
pub mod dates;
pub mod division;
pub mod names;
pub mod udf;

use arrow::array::{Array, Date32Array, StringArray, StringBuilder};
use chrono::NaiveDate;

/// Normalised ID numbers and their status (`citizen_id::IdStatus::as_str`) for a column of raw values.
pub fn normalize_ids(raw: &StringArray, as_of: NaiveDate) -> (StringArray, StringArray) {
    let mut text = StringBuilder::with_capacity(raw.len(), raw.len() * 18);
    let mut status = StringBuilder::with_capacity(raw.len(), raw.len() * 8);
    for i in 0..raw.len() {
        let value = if raw.is_null(i) { "" } else { raw.value(i) };
        let n = citizen_id::normalize(value, as_of);
        if n.text.is_empty() {
            text.append_null();
        } else {
            text.append_value(&n.text);
        }
        status.append_value(n.status.as_str());
    }
    (text.finish(), status.finish())
}

/// Matching keys and pinyin keys for a column of raw names.
pub fn name_keys(raw: &StringArray) -> (StringArray, StringArray) {
    let mut keys = StringBuilder::with_capacity(raw.len(), raw.len() * 9);
    let mut pinyin = StringBuilder::with_capacity(raw.len(), raw.len() * 12);
    for i in 0..raw.len() {
        let key = if raw.is_null(i) { String::new() } else { names::matching_key(raw.value(i)) };
        if key.is_empty() {
            keys.append_null();
            pinyin.append_null();
        } else {
            pinyin.append_value(names::pinyin_key(&key));
            keys.append_value(key);
        }
    }
    (keys.finish(), pinyin.finish())
}

/// Parses a column of dates; problems become nulls (the caller keeps the raw column).
pub fn parse_dates(raw: &StringArray, as_of: NaiveDate) -> Date32Array {
    (0..raw.len())
        .map(|i| {
            (!raw.is_null(i))
                .then(|| dates::parse_date(raw.value(i), as_of).ok())
                .flatten()
                .map(dates::to_date32)
        })
        .collect()
}
