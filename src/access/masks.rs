//! Masking personal data for roles that may not see it whole. Which published columns hold which
//! kind of personal data is declared here once; a role's views apply the mask functions to those
//! columns, so every path through the role's catalog (plain and prepared statements, joins,
//! cursors, `COPY`, functions over the columns, the person profile) sees only masked values.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray};
use arrow::datatypes::{DataType, Date32Type};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};

use crate::config::access::MaskKind;
use crate::identity::names;

/// The published columns that hold personal data, by kind: `(table or "*", column, kind)`.
const PERSONAL_COLUMNS: &[(&str, &str, MaskKind)] = &[
    ("*", "citizen_id", MaskKind::CitizenId),
    ("*", "citizen_id_raw", MaskKind::CitizenId),
    ("*", "name", MaskKind::Name),
    ("*", "name_raw", MaskKind::Name),
    ("*", "name_key", MaskKind::Name),
    ("*", "name_pinyin", MaskKind::Name),
    ("*", "registered_address", MaskKind::Address),
    ("*", "address", MaskKind::Address),
    ("*", "address_key", MaskKind::Address),
    ("*", "building_key", MaskKind::Address),
    ("*", "current_address", MaskKind::Address),
    ("*", "origin_address", MaskKind::Address),
    ("*", "birth_date", MaskKind::BirthDate),
    ("*", "birth_date_raw", MaskKind::BirthDate),
    ("quarantine", "value", MaskKind::Raw),
    // A name, a birth date, a sex or an ethnicity, by row: masked whole but for its punctuation.
    ("person_attribute", "value", MaskKind::Raw),
];

/// The kind of personal data a column of a table holds, if any.
pub fn personal_kind(table: &str, column: &str) -> Option<MaskKind> {
    PERSONAL_COLUMNS.iter().find(|(t, c, _)| (*t == "*" || *t == table) && *c == column).map(|(_, _, k)| *k)
}

/// The SQL function that masks a kind of data in a column of that type (`name_pinyin` has its
/// own: it has no surname boundary to keep).
pub fn mask_function(kind: MaskKind, column: &str, data_type: &DataType) -> &'static str {
    match kind {
        MaskKind::CitizenId => "mask_citizen_id",
        MaskKind::Name if column == "name_pinyin" => "mask_initial",
        MaskKind::Name => "mask_name",
        MaskKind::Address => "mask_address",
        MaskKind::BirthDate if *data_type == DataType::Date32 => "mask_birth_date",
        MaskKind::BirthDate => "mask_birth_date_text",
        MaskKind::Raw => "mask_all",
    }
}

/// `420502199001011234` → `420502********1234`; shorter strings are masked whole.
pub fn citizen_id(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 10 {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..6].iter().collect();
    out.push_str(&"*".repeat(chars.len() - 10));
    out.extend(&chars[chars.len() - 4..]);
    out
}

/// `张三丰` → `张**`, `欧阳娜娜` → `欧阳**`.
pub fn name(value: &str) -> String {
    let cleaned = names::clean(value);
    let (surname, given) = names::split_surname(&cleaned);
    format!("{surname}{}", "*".repeat(given.chars().count()))
}

/// `zhangsanfeng` → `z***`.
pub fn initial(value: &str) -> String {
    value.chars().next().map_or_else(String::new, |c| format!("{c}***"))
}

/// Markers after which an address stops naming a place a person can be found at.
const ROAD_MARKERS: &[char] = &['路', '街', '巷', '道', '村'];
const AREA_MARKERS: &[char] = &['区', '县', '市', '镇', '乡'];

/// `宜昌市兴山县解放路475号9-200` → `宜昌市兴山县解放路***`; without a road, up to the last
/// county or town: `江西省南昌市南昌县7村11组` → `江西省南昌市南昌县7村***`.
pub fn address(value: &str) -> String {
    let end = value
        .char_indices()
        .find(|(_, c)| ROAD_MARKERS.contains(c))
        .or_else(|| value.char_indices().filter(|(_, c)| AREA_MARKERS.contains(c)).last())
        .map(|(i, c)| i + c.len_utf8());
    match end {
        Some(end) if end == value.len() => value.to_string(),
        Some(end) => format!("{}***", &value[..end]),
        None => "***".to_string(),
    }
}

/// `1990-05-17` → `1990-**-**`; a raw date keeps its year when it starts with one.
pub fn birth_date_text(value: &str) -> String {
    match value.trim().get(..4) {
        Some(year) if year.chars().all(|c| c.is_ascii_digit()) => format!("{year}-**-**"),
        _ => "***".to_string(),
    }
}

/// A raw row with only its punctuation kept, so its shape (delimiters, quotes, brackets) shows and
/// nothing it says: `张三,4205…` → `**,****…`; at most 120 characters.
pub fn raw(value: &str) -> String {
    const MAX: usize = 120;
    let mut out: String = value.chars().take(MAX).map(|c| if c.is_ascii_punctuation() || c.is_whitespace() { c } else { '*' }).collect();
    if value.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}

/// The mask functions, for the one place functions are registered (`identity::udf`). They take
/// text (dates too, for birth dates) and give text; NULL stays NULL.
pub fn udfs() -> Vec<ScalarUDF> {
    let text = |name: &str, f: fn(&str) -> String| {
        crate::identity::udf::text_function(name, Arc::new(move |a| Arc::new(a.iter().map(|v| v.map(f)).collect::<StringArray>())))
    };
    let birth_date = create_udf(
        "mask_birth_date",
        vec![DataType::Date32],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let dates = arrays[0].as_primitive::<Date32Type>();
            let out: StringArray = (0..dates.len())
                .map(|i| dates.is_valid(i).then(|| dates.value_as_date(i).map_or("***".to_string(), |d| format!("{}-**-**", d.format("%Y")))))
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
        }),
    );
    vec![
        text("mask_citizen_id", citizen_id),
        text("mask_name", name),
        text("mask_initial", initial),
        text("mask_address", address),
        text("mask_birth_date_text", birth_date_text),
        text("mask_all", |_| "***".to_string()),
        birth_date,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_what_the_issue_allows() {
        assert_eq!(citizen_id("420502199001011234"), "420502********1234");
        assert_eq!(citizen_id("42050219900101X"), "420502*****101X");
        assert_eq!(citizen_id("12345"), "*****");
        assert_eq!(name("张三丰"), "张**");
        assert_eq!(name("欧阳娜娜"), "欧阳**");
        assert_eq!(name("李"), "李");
        assert_eq!(address("宜昌市兴山县解放路475号9-200"), "宜昌市兴山县解放路***");
        assert_eq!(address("江西省南昌市南昌县7村11组"), "江西省南昌市南昌县7村***");
        assert_eq!(address("unknown"), "***");
        assert_eq!(birth_date_text("19850113"), "1985-**-**");
        assert_eq!(birth_date_text("13/01/1985"), "***");
    }

    #[test]
    fn personal_columns_are_found_by_table_and_name() {
        assert_eq!(personal_kind("person", "citizen_id"), Some(MaskKind::CitizenId));
        assert_eq!(personal_kind("quarantine", "value"), Some(MaskKind::Raw));
        assert_eq!(personal_kind("house", "value"), None);
        assert_eq!(personal_kind("person", "person_key"), None);
    }
}
