//! Addresses as matching keys: the same place written by two departments (spaces, full-width
//! digits, a leading province) compares equal. The published address keeps the department's text.

use super::names;

/// Province prefixes dropped from keys; the city and below are what tell houses apart.
const PROVINCE_SUFFIXES: &[&str] = &["省", "自治区"];

/// The key addresses are compared on: white space and dashes and commas gone, full-width digits
/// folded, a leading province (`…省`, `…自治区`) dropped, traditional characters made simplified.
pub fn address_key(raw: &str) -> String {
    let cleaned = names::clean(raw).replace(['，', ',', '-', '－'], "");
    let without_province = PROVINCE_SUFFIXES
        .iter()
        .find_map(|suffix| cleaned.find(suffix).filter(|&i| i <= 12).map(|i| cleaned[i + suffix.len()..].to_string()))
        .unwrap_or(cleaned);
    fast2s::convert(&without_province)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_place_same_key() {
        assert_eq!(address_key("湖北省宜昌市西陵区 夷陵路１２号3-201"), address_key("宜昌市西陵区夷陵路12号3201"));
    }
}
