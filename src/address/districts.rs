//! The names of provinces, prefectures and counties as an address writes them, from every
//! revision of the division-code table, so that a retired county (a merged or renamed district)
//! is still recognised and, where the tables show what replaced it, named as its successor.

use std::collections::{HashMap, HashSet};

use gb2260::Division;

/// Counties renamed before the oldest revision compiled into `gb2260` (2002) whose old names
/// addresses still carry: (old code, old name, successor's code).
const EARLIER_RENAMES: &[(&str, &str, &str)] = &[("420521", "宜昌县", "420506")];

/// Placeholder names of the table that are not written in addresses.
const PLACEHOLDERS: &[&str] = &["市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "省直辖行政单位"];

/// Endings dropped to give a province's or prefecture's short name (`湖北省` → `湖北`).
const SHORT_NAME_ENDINGS: &[&str] = &["维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "地区", "省", "市"];

/// One named division of the table.
#[derive(Debug, Clone)]
struct Named {
    code: String,
    name: String,
}

/// Province, prefecture and county names, each found by the longest name an address starts with.
#[derive(Debug)]
pub struct Districts {
    provinces: NameIndex,
    prefectures: NameIndex,
    counties: NameIndex,
    /// The county that today stands for each retired one (absent when it was split or merged).
    successors: HashMap<String, String>,
    /// Today's name of each county code, for the key.
    current_names: HashMap<String, String>,
}

/// A county an address names: today's name for it, retired or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct County {
    pub name: String,
    pub code: String,
}

/// What a prefix of an address names at one level: its length in bytes and the codes it may be.
struct Found<'a> {
    len: usize,
    codes: Vec<&'a str>,
}

impl Districts {
    /// Reads every revision of the division table (tens of milliseconds; build it once per night
    /// or per session and share it).
    pub fn new() -> Self {
        let mut provinces = NameIndex::default();
        let mut prefectures = NameIndex::default();
        let mut counties = NameIndex::default();
        let mut revisions: Vec<&str> = Division::revisions();
        revisions.sort_by_key(|r| revision_order(r));
        let mut by_revision: Vec<Vec<Named>> = Vec::new();
        for revision in &revisions {
            let mut in_revision = Vec::new();
            for province in 11..=82 {
                let Some(p) = Division::get_by_revision(&format!("{province}0000"), revision) else { continue };
                provinces.add(p.name, p.code);
                for prefecture in 1..=99 {
                    let prefix = format!("{province}{prefecture:02}");
                    // Every county sits under a prefecture row (a placeholder for a municipality's
                    // districts or a province's directly administered counties).
                    let Some(d) = Division::get_by_revision(&format!("{prefix}00"), revision) else { continue };
                    prefectures.add(d.name, d.code);
                    for county in 1..=99 {
                        if let Some(d) = Division::get_by_revision(&format!("{prefix}{county:02}"), revision) {
                            in_revision.push(Named { code: d.code.to_string(), name: d.name.to_string() });
                        }
                    }
                }
            }
            for named in &in_revision {
                counties.add(&named.name, &named.code);
            }
            by_revision.push(in_revision);
        }
        let current: &[Named] = by_revision.last().map(Vec::as_slice).unwrap_or_default();
        let current_names: HashMap<String, String> = current.iter().map(|n| (n.code.clone(), n.name.clone())).collect();
        let mut successors = successors(&by_revision, &current_names);
        for (code, name, successor) in EARLIER_RENAMES {
            counties.add(name, code);
            successors.insert(code.to_string(), successor.to_string());
        }
        Districts { provinces, prefectures, counties, successors, current_names }
    }

    /// The province an address starts with (`湖北省`, `湖北`): bytes used and its two-digit prefix.
    /// A short name counts only when a prefecture or county of it follows (`吉林路` is a road).
    pub fn province<'a>(&'a self, text: &str) -> Option<(usize, &'a str)> {
        let found = self.provinces.longest(text, None)?;
        let prefix = &found.codes[0][..2];
        let rest = &text[found.len..];
        let full = self.provinces.full_names.contains(&text[..found.len]);
        (full || self.prefecture(rest, Some(prefix)).is_some() || self.county(rest, Some(prefix)).is_some()).then_some((found.len, prefix))
    }

    /// The prefecture an address starts with, within a province when one was written: bytes used
    /// and its four-digit prefix. A short name (`宜昌`) counts only when a county follows it, so
    /// that a road named after a city is not taken for one.
    pub fn prefecture<'a>(&'a self, text: &str, province: Option<&str>) -> Option<(usize, &'a str)> {
        let found = self.prefectures.longest(text, province)?;
        let prefix = &found.codes[0][..4];
        let full = self.prefectures.full_names.contains(&text[..found.len]);
        (full || self.county(&text[found.len..], Some(prefix)).is_some()).then_some((found.len, prefix))
    }

    /// The county an address starts with, or its six-digit code, within the province or prefecture
    /// written before it: bytes used and the county today standing for it.
    pub fn county(&self, text: &str, within: Option<&str>) -> Option<(usize, County)> {
        let code_written = text.get(..6).filter(|c| c.bytes().all(|b| b.is_ascii_digit()) && self.counties.names_by_code.contains_key(*c));
        let (len, code) = match code_written {
            Some(code) => (6, code),
            None => {
                let found = self.counties.longest(text, within)?;
                (found.len, found.codes[0])
            }
        };
        let today = self.successors.get(code).map(String::as_str).unwrap_or(code);
        let name = self.current_names.get(today).or_else(|| self.counties.names_by_code.get(today))?;
        Some((len, County { name: name.clone(), code: today.to_string() }))
    }
}

impl Default for Districts {
    fn default() -> Self {
        Self::new()
    }
}

/// Revisions sort by their year and month; some carry a prefix (`stats-201607`).
fn revision_order(revision: &str) -> u32 {
    revision.rsplit('-').next().and_then(|r| r.parse().ok()).unwrap_or(0)
}

/// For each county code that is not in today's table: the one county that replaced it, where the
/// tables show one. A county whose code changed keeps its name in its prefecture; otherwise the
/// successor is the only code new to its prefecture in the revision after the last that had it,
/// when it was the only code to go.
fn successors(by_revision: &[Vec<Named>], current: &HashMap<String, String>) -> HashMap<String, String> {
    let mut successors = HashMap::new();
    for pair in by_revision.windows(2) {
        fn codes(named: &[Named]) -> HashSet<&str> {
            named.iter().map(|n| n.code.as_str()).collect()
        }
        let (before, after) = (codes(&pair[0]), codes(&pair[1]));
        let gone: Vec<&Named> = pair[0].iter().filter(|b| !after.contains(b.code.as_str())).collect();
        for old in &gone {
            if current.contains_key(&old.code) || successors.contains_key(&old.code) {
                continue;
            }
            let prefecture = &old.code[..4];
            let renamed = current.iter().find(|(code, name)| code.starts_with(prefecture) && **name == old.name).map(|(code, _)| code.clone());
            let new_here: Vec<&str> = after.iter().copied().filter(|a| a.starts_with(prefecture) && !before.contains(a)).collect();
            let gone_here = gone.iter().filter(|g| g.code.starts_with(prefecture)).count();
            let replaced = (new_here.len() == 1 && gone_here == 1).then(|| new_here[0].to_string());
            if let Some(successor) = renamed.or(replaced) {
                successors.insert(old.code.clone(), successor);
            }
        }
    }
    // A successor may itself have been retired later: follow the chain to today's code.
    let today = |code: &String| {
        let mut today = code;
        for _ in 0..by_revision.len() {
            match successors.get(today) {
                Some(next) if next != today => today = next,
                _ => break,
            }
        }
        today.clone()
    };
    successors.keys().map(|code| (code.clone(), today(code))).collect()
}

/// Names of one level, by their first character, with the codes each has stood for.
#[derive(Debug, Default)]
struct NameIndex {
    by_first_char: HashMap<char, Vec<(String, Vec<String>)>>,
    full_names: HashSet<String>,
    names_by_code: HashMap<String, String>,
}

impl NameIndex {
    /// Adds a name and, for provinces and prefectures, its short form.
    fn add(&mut self, name: &str, code: &str) {
        if PLACEHOLDERS.contains(&name) || name.chars().count() < 2 {
            return;
        }
        self.names_by_code.insert(code.to_string(), name.to_string());
        self.full_names.insert(name.to_string());
        self.insert(name, code);
        if code.ends_with("00")
            && let Some(short) = SHORT_NAME_ENDINGS.iter().find_map(|e| name.strip_suffix(e)).filter(|s| s.chars().count() >= 2)
        {
            self.insert(short, code);
        }
    }

    fn insert(&mut self, name: &str, code: &str) {
        let first = name.chars().next().expect("names have two characters");
        let entries = self.by_first_char.entry(first).or_default();
        match entries.iter_mut().find(|(n, _)| n == name) {
            Some((_, codes)) if !codes.iter().any(|c| c == code) => codes.push(code.to_string()),
            Some(_) => {}
            None => entries.push((name.to_string(), vec![code.to_string()])),
        }
    }

    /// The longest name `text` starts with, among codes under `within` when given.
    fn longest(&self, text: &str, within: Option<&str>) -> Option<Found<'_>> {
        let first = text.chars().next()?;
        self.by_first_char
            .get(&first)?
            .iter()
            .filter(|(name, _)| text.starts_with(name.as_str()))
            .filter_map(|(name, codes)| {
                let codes: Vec<&str> = codes.iter().map(String::as_str).filter(|c| within.is_none_or(|w| c.starts_with(w))).collect();
                (!codes.is_empty()).then_some(Found { len: name.len(), codes })
            })
            .max_by_key(|f| f.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_names_short_names_and_retired_counties() {
        let d = Districts::new();
        assert_eq!(d.province("湖北省宜昌市").map(|p| p.1), Some("42"));
        assert_eq!(d.province("湖北宜昌西陵区").map(|p| p.1), Some("42"));
        assert_eq!(d.province("吉林路5号"), None);
        assert_eq!(d.prefecture("宜昌市西陵区", Some("42")).map(|p| p.1), Some("4205"));
        assert_eq!(d.prefecture("宜昌西陵区", None).map(|p| p.1), Some("4205"));
        // A short name not followed by a county is a road, not a city.
        assert_eq!(d.prefecture("宜昌路5号", None), None);
        assert_eq!(d.county("西陵区夷陵路", Some("4205")).map(|c| c.1.code), Some("420502".to_string()));
        assert_eq!(d.county("420502夷陵路", None).map(|c| (c.0, c.1.name)), Some((6, "西陵区".to_string())));
        assert_eq!(d.county("宜昌县小溪塔", None).map(|c| c.1.name), Some("夷陵区".to_string()));
        // 襄樊市襄阳区 became 襄阳市襄州区 in 2010.
        assert_eq!(d.county("襄阳区人民路", Some("4206")).map(|c| c.1.name), Some("襄州区".to_string()));
        assert!(d.county("夷陵路", None).is_none());
    }
}
