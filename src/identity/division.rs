//! Administrative division codes (GB/T 2260), decoded with the historical revisions so that
//! codes retired since an ID number was issued still name a place.

use gb2260::Division;

/// The revision treated as "today's" table.
pub const CURRENT_REVISION: &str = "201607";
/// The oldest revision compiled into the table.
pub const OLDEST_REVISION: &str = "200212";

/// Codes used by residence permits of Hong Kong, Macao and Taiwan residents.
const PERMIT_REGIONS: &[(&str, &str)] = &[("810000", "香港特别行政区"), ("820000", "澳门特别行政区"), ("830000", "台湾地区")];

/// A decoded address code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Six-digit address code, as given.
    pub code: String,
    /// Province, prefecture and county names joined, e.g. `湖北省宜昌市西陵区`.
    pub name: String,
    /// Not in today's table: the county was merged, renamed or renumbered.
    pub retired: bool,
}

/// Decodes a six-digit address code against every revision, newest first.
pub fn decode(code: &str) -> Option<Region> {
    if let Some((_, name)) = PERMIT_REGIONS.iter().find(|(c, _)| *c == code) {
        return Some(Region { code: code.to_string(), name: (*name).to_string(), retired: false });
    }
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let division = Division::search(code)?;
    let retired = Division::get(code).is_none();
    let mut name = String::new();
    for level in division.stack() {
        if level.name != "市辖区" && level.name != "县" {
            name.push_str(level.name);
        }
    }
    Some(Region { code: code.to_string(), name, retired })
}

/// County-level codes under a province or prefecture prefix (`"42"` or `"4205"`) in a revision.
pub fn county_codes(prefix: &str, revision: &str) -> Vec<String> {
    let width = 6 - prefix.len();
    let upper = 10u32.pow(width as u32);
    (0..upper)
        .map(|n| format!("{prefix}{n:0width$}"))
        .filter(|code| !code.ends_with("00") && !code.ends_with("01"))
        .filter(|code| Division::get_by_revision(code, revision).is_some_and(|d| d.is_county()))
        .collect()
}

/// County codes under a prefix that the oldest revision has and today's does not.
pub fn retired_county_codes(prefix: &str) -> Vec<String> {
    county_codes(prefix, OLDEST_REVISION).into_iter().filter(|code| Division::get(code).is_none()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_current_retired_and_permit_codes() {
        let r = decode("420502").unwrap();
        assert_eq!(r.name, "湖北省宜昌市西陵区");
        assert!(!r.retired);
        assert_eq!(decode("810000").unwrap().name, "香港特别行政区");
        assert!(decode("999999").is_none());
        let retired = retired_county_codes("42");
        assert!(!retired.is_empty());
        assert!(decode(&retired[0]).unwrap().retired);
    }

    #[test]
    fn lists_the_counties_of_a_prefecture() {
        let yichang = county_codes("4205", CURRENT_REVISION);
        assert!(yichang.contains(&"420506".to_string()));
        assert!(yichang.iter().all(|c| c.starts_with("4205")));
    }
}
