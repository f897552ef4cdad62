//! Matching a list's entries with a night's persons, as the linker would link a mention: each
//! entry's blocks (its number, the repair candidates of a number whose check character fails,
//! its name or the name's reading with its birth date) find candidate persons by their founding
//! records; each pair is put on the linkage model's levels, weighed with the night's name
//! frequencies, and decided by the thresholds the night linked with. So a mistyped number with
//! the right name still finds its person, and a namesake born on another day is not taken.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Date32Type, Field, Schema};
use chrono::NaiveDate;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;

use super::{ListEntry, ListError};
use crate::identity::citizen_id;
use crate::identity::{dates, names};
use crate::link::resolve::{Blocks, Rule, decide, rule_for};
use crate::link::score::{Holder, IdEvidence, NameFrequencies, Score, Scorer, Side, id_evidence};
use crate::query::{NightLinkage, Rows};

/// What became of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// One person reached the match weight with the margin: the entry names that person.
    Matched,
    /// Not matched, but the best candidate reached the review weight: a person should look.
    Review,
    /// No candidate came near: someone the night does not know, or too little to go on.
    Unmatched,
}

impl Outcome {
    /// The outcome as `pophub match` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::Review => "review",
            Outcome::Unmatched => "unmatched",
        }
    }
}

/// One entry's match.
#[derive(Debug, Clone)]
pub struct EntryMatch {
    /// The entry as read.
    pub entry: ListEntry,
    /// Matched, for review, or unmatched.
    pub outcome: Outcome,
    /// How a matched entry came to its person: `id_exact`, `id_repaired` or `name_birth`.
    pub rule: Option<Rule>,
    /// The person the entry names; none unless matched.
    pub person_key: Option<String>,
    /// The best candidate: the matched person, or the one a reviewer should look at.
    pub best_candidate: Option<String>,
    /// The best candidate's match weight.
    pub match_weight: Option<f64>,
    /// Candidate persons the entry's blocks found.
    pub candidates: u32,
}

/// What an entry says, read: its number normalised, its name's keys, its birth date and sex.
struct Prepared {
    id: citizen_id::NormalizedId,
    name_key: Option<String>,
    pinyin: Option<String>,
    birth_date: Option<i32>,
    sex: Option<&'static str>,
}

impl Prepared {
    fn of(entry: &ListEntry, as_of: NaiveDate, path: &Path) -> Result<Prepared, ListError> {
        let unusable = |message: String| ListError::Unusable { path: path.to_path_buf(), message: format!("line {}: {message}", entry.line) };
        let id = citizen_id::normalize(entry.citizen_id.as_deref().unwrap_or(""), as_of);
        let name_key = entry.name.as_deref().map(names::matching_key).filter(|k| !k.is_empty());
        let birth_date = match entry.birth_date.as_deref() {
            Some(raw) => Some(dates::to_date32(dates::parse_date(raw, as_of).map_err(|problem| {
                unusable(format!("the birth date is not a usable date ({}); write it as YYYY-MM-DD or leave it empty", problem.as_str()))
            })?)),
            None => None,
        };
        let sex = match entry.sex.as_deref() {
            None => None,
            Some("M" | "m" | "男" | "1" | "male") => Some("M"),
            Some("F" | "f" | "女" | "2" | "female") => Some("F"),
            Some(_) => return Err(unusable("the sex is none of 男/女, M/F, 1/2; correct it or leave it empty".into())),
        };
        // A broken number is worth something only beside a name that corroborates a repair.
        if !id.status.is_usable() && name_key.is_none() {
            return Err(unusable(format!(
                "nothing to match on: the ID number is {} and there is no name; correct the number or add the name",
                id.status.as_str()
            )));
        }
        let pinyin = name_key.as_deref().map(names::pinyin_key);
        Ok(Prepared { id, name_key, pinyin, birth_date, sex })
    }

    fn side(&self) -> Side<'_> {
        let fields = Side { name_key: self.name_key.as_deref(), pinyin: self.pinyin.as_deref(), sex: self.sex, birth_date: self.birth_date, ..Side::default() };
        Side::of_mention(Some(&self.id.text), Some(self.id.status.as_str()), fields)
    }

    fn blocks(&self) -> Blocks {
        Blocks::new(Some(&self.id.text), self.id.status.as_str(), &self.side())
    }
}

/// A person's founding record, as published in `person_source`.
struct Founder {
    person_key: String,
    fields: [Option<String>; 7],
    birth_date: Option<i32>,
}

impl Founder {
    fn side(&self) -> Side<'_> {
        let [citizen_id, id_status, name_key, pinyin, sex, address_key, household] = self.fields.each_ref().map(Option::as_deref);
        let fields = Side { name_key, pinyin, sex, birth_date: self.birth_date, address_key, household, ..Side::default() };
        Side::of_mention(citizen_id, id_status, fields)
    }
}

/// The founding records of the persons the entries' blocks find, by entry: those holding an
/// entry's number or a repair candidate of it (`_list_number`), and those of its name or reading
/// born on its birth date (`_list_name`).
const CANDIDATES_SQL: &str = "
WITH founder AS (
    SELECT person_key, citizen_id, id_status, name_key, name_pinyin, sex, address_key, household_no, birth_date
    FROM person_source WHERE link_rule IN ('register', 'new_person'))
SELECT k.entry, f.* FROM _list_number k JOIN founder f ON f.citizen_id = k.citizen_id
UNION ALL
SELECT k.entry, f.* FROM _list_name k JOIN founder f ON f.name_key = k.name_key AND f.birth_date = k.birth_date
UNION ALL
SELECT k.entry, f.* FROM _list_name k JOIN founder f ON f.name_pinyin = k.pinyin AND f.birth_date = k.birth_date";

/// How many of the night's named mentions bear each of the entries' names and readings.
const FREQUENCIES_SQL: &str = "
SELECT 'name' AS kind, s.name_key AS key, COUNT(*) AS mentions
FROM person_source s JOIN (SELECT DISTINCT name_key FROM _list_name) k ON s.name_key = k.name_key
WHERE s.name_pinyin IS NOT NULL GROUP BY s.name_key
UNION ALL
SELECT 'reading', s.name_pinyin, COUNT(*)
FROM person_source s JOIN (SELECT DISTINCT pinyin FROM _list_name) k ON s.name_pinyin = k.pinyin
WHERE s.name_key IS NOT NULL GROUP BY s.name_pinyin";

/// Matches the entries of the list at `path` with the persons of the night open in `ctx`, whose
/// day is `as_of`, under the night's `linkage`. An entry with nothing to match on (no usable or
/// repairable number beside a name), or a value that cannot be read, is an error naming its line.
pub async fn match_list(ctx: &SessionContext, linkage: &NightLinkage, entries: &[ListEntry], as_of: NaiveDate, path: &Path) -> Result<Vec<EntryMatch>, ListError> {
    let prepared: Vec<Prepared> = entries.iter().map(|e| Prepared::of(e, as_of, path)).collect::<Result<_, _>>()?;
    register_keys(ctx, &prepared)?;
    let mut founders: Vec<Vec<Founder>> = (0..prepared.len()).map(|_| Vec::new()).collect();
    for batch in ctx.sql(CANDIDATES_SQL).await?.collect().await? {
        let entry = batch.column(0).as_primitive::<arrow::datatypes::UInt32Type>();
        let texts: Vec<ArrayRef> = (1..=8).map(|c| arrow::compute::cast(batch.column(c), &DataType::Utf8)).collect::<Result<_, _>>()?;
        let text = |c: usize, row: usize| {
            let column = texts[c - 1].as_string::<i32>();
            column.is_valid(row).then(|| column.value(row).to_string())
        };
        let births = batch.column(9).as_primitive::<Date32Type>();
        for row in 0..batch.num_rows() {
            let found = &mut founders[entry.value(row) as usize];
            let Some(person_key) = text(1, row) else { continue };
            if found.iter().any(|f| f.person_key == person_key) {
                continue;
            }
            let fields = [2, 3, 4, 5, 6, 7, 8].map(|c| text(c, row));
            found.push(Founder { person_key, fields, birth_date: births.is_valid(row).then(|| births.value(row)) });
        }
    }
    let mut counts: HashMap<(String, String), u32> = HashMap::new();
    for batch in ctx.sql(FREQUENCIES_SQL).await?.collect().await? {
        let (kind, key) = (arrow::compute::cast(batch.column(0), &DataType::Utf8)?, arrow::compute::cast(batch.column(1), &DataType::Utf8)?);
        let (kind, key) = (kind.as_string::<i32>(), key.as_string::<i32>());
        let n = arrow::compute::cast(batch.column(2), &DataType::UInt32)?;
        for row in 0..batch.num_rows() {
            counts.insert((kind.value(row).to_string(), key.value(row).to_string()), n.as_primitive::<arrow::datatypes::UInt32Type>().value(row));
        }
    }
    ctx.deregister_table("_list_number")?;
    ctx.deregister_table("_list_name")?;

    let model = &linkage.model;
    let total = u32::try_from(model.named_mentions).unwrap_or(u32::MAX);
    let mut frequencies = NameFrequencies::default();
    for p in &prepared {
        if let (Some(name), Some(reading)) = (p.name_key.as_deref(), p.pinyin.as_deref()) {
            let count = |kind: &str, key: &str| counts.get(&(kind.to_string(), key.to_string())).copied().unwrap_or(0);
            frequencies.set(name, reading, count("name", name), count("reading", reading), total);
        }
    }
    let scorer = Scorer { model, frequencies: &frequencies };
    Ok(entries
        .iter()
        .zip(&prepared)
        .zip(&mut founders)
        .map(|((entry, p), found)| {
            found.sort_by(|a, b| a.person_key.cmp(&b.person_key));
            decide_entry(entry, p, found, &scorer, linkage)
        })
        .collect())
}

/// The block keys of every entry, as the tables `CANDIDATES_SQL` joins.
fn register_keys(ctx: &SessionContext, prepared: &[Prepared]) -> Result<(), ListError> {
    let (mut number_entry, mut numbers) = (Vec::new(), Vec::new());
    let (mut name_entry, mut name_keys, mut readings, mut births) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (k, p) in prepared.iter().enumerate() {
        let side = p.side();
        let Blocks { birth_hint, repairs } = p.blocks();
        for id in side.citizen_id.into_iter().chain(repairs.iter().map(String::as_str)) {
            number_entry.push(k as u32);
            numbers.push(id.to_string());
        }
        if let (Some(name), Some(reading)) = (&p.name_key, &p.pinyin) {
            name_entry.push(k as u32);
            name_keys.push(name.clone());
            readings.push(reading.clone());
            births.push(birth_hint);
        }
    }
    let table = |columns: Vec<(&str, ArrayRef)>| -> Result<Arc<MemTable>, ListError> {
        let schema = Arc::new(Schema::new(columns.iter().map(|(name, array)| Field::new(*name, array.data_type().clone(), true)).collect::<Vec<_>>()));
        let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, array)| array).collect())?;
        Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
    };
    let numbers = table(vec![("entry", Arc::new(UInt32Array::from(number_entry))), ("citizen_id", Arc::new(StringArray::from(numbers)))])?;
    let names = table(vec![
        ("entry", Arc::new(UInt32Array::from(name_entry))),
        ("name_key", Arc::new(StringArray::from(name_keys))),
        ("pinyin", Arc::new(StringArray::from(readings))),
        ("birth_date", Arc::new(Date32Array::from(births))),
    ])?;
    for (name, table) in [("_list_number", numbers), ("_list_name", names)] {
        ctx.deregister_table(name)?;
        ctx.register_table(name, table)?;
    }
    Ok(())
}

/// Weighs an entry against its candidates and decides, as the linker decides a mention.
fn decide_entry(entry: &ListEntry, p: &Prepared, found: &[Founder], scorer: &Scorer, linkage: &NightLinkage) -> EntryMatch {
    let side = p.side();
    let Blocks { repairs, .. } = p.blocks();
    let sides: Vec<Side> = found.iter().map(Founder::side).collect();
    let holder = match side.citizen_id {
        Some(id) => Holder::of(&side, sides.iter().filter(|s| s.citizen_id == Some(id))),
        None => Holder::Nobody,
    };
    let scored: Vec<(u32, Score)> =
        sides.iter().enumerate().map(|(k, candidate)| (k as u32, scorer.score(&side, candidate, id_evidence(&side, &repairs, holder, candidate)))).collect();
    let candidates = found.len() as u32;
    let key = |k: u32| found[k as usize].person_key.clone();
    // Leaving someone off a roll is a decision about a person: an entry whose valid number is
    // not its candidate's (the candidate has none, or the number is another's) goes to a
    // person to look at, however well name and birth date agree — a namesake born the same
    // day is common in a city of millions.
    let number_speaks = |score: &Score| side.citizen_id.is_none() || score.id == IdEvidence::Same;
    let decision = decide(&scored, &linkage.options).and_then(|(k, score)| if number_speaks(&score) { Ok((k, score)) } else { Err(Some((k, score.weight))) });
    match decision {
        Ok((k, score)) => EntryMatch {
            entry: entry.clone(),
            outcome: Outcome::Matched,
            rule: Some(rule_for(&score)),
            person_key: Some(key(k)),
            best_candidate: Some(key(k)),
            match_weight: Some(score.weight),
            candidates,
        },
        Err(best) => EntryMatch {
            entry: entry.clone(),
            outcome: if best.is_some_and(|(_, weight)| weight >= linkage.options.review_weight) { Outcome::Review } else { Outcome::Unmatched },
            rule: None,
            person_key: None,
            best_candidate: best.map(|(k, _)| key(k)),
            match_weight: best.map(|(_, weight)| weight),
            candidates,
        },
    }
}

impl EntryMatch {
    /// The matches as rows for `pophub match`: the entry as written, then what became of it.
    pub fn rows(matches: &[EntryMatch]) -> Rows {
        let text = |f: &dyn Fn(&EntryMatch) -> Option<&str>| -> ArrayRef { Arc::new(matches.iter().map(f).collect::<StringArray>()) };
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("line", Arc::new(matches.iter().map(|m| m.entry.line).collect::<UInt64Array>())),
            ("citizen_id", text(&|m| m.entry.citizen_id.as_deref())),
            ("name", text(&|m| m.entry.name.as_deref())),
            ("birth_date", text(&|m| m.entry.birth_date.as_deref())),
            ("outcome", text(&|m| Some(m.outcome.as_str()))),
            ("link_rule", text(&|m| m.rule.map(Rule::as_str))),
            ("person_key", text(&|m| m.person_key.as_deref())),
            ("best_candidate", text(&|m| m.best_candidate.as_deref())),
            ("match_weight", Arc::new(matches.iter().map(|m| m.match_weight.map(|w| (w * 10.0).round() / 10.0)).collect::<Float64Array>())),
            ("candidates", Arc::new(matches.iter().map(|m| m.candidates).collect::<UInt32Array>())),
        ];
        let schema = Arc::new(Schema::new(columns.iter().map(|(name, array)| Field::new(*name, array.data_type().clone(), true)).collect::<Vec<_>>()));
        let batch = RecordBatch::try_new(schema.clone(), columns.into_iter().map(|(_, array)| array).collect()).expect("columns match the schema");
        Rows { schema, batches: vec![batch] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::citizen_id::IdStatus;

    fn status_of(entry: &ListEntry) -> IdStatus {
        Prepared::of(entry, NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), Path::new("list.csv")).unwrap().id.status
    }

    fn entry(id: Option<&str>, name: Option<&str>, birth: Option<&str>) -> ListEntry {
        ListEntry { line: 2, citizen_id: id.map(Into::into), name: name.map(Into::into), birth_date: birth.map(Into::into), sex: None }
    }

    #[test]
    fn entries_are_read_as_the_linker_reads_mentions() {
        assert_eq!(status_of(&entry(Some("１１０１０５１９４９１２３１００２ｘ"), None, None)), IdStatus::Valid);
        assert_eq!(status_of(&entry(Some("110105491231002"), Some("张伟"), None)), IdStatus::Upgraded15);
        assert_eq!(status_of(&entry(Some("110105194912310029"), Some("张伟"), None)), IdStatus::ChecksumFailed);
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let p = Prepared::of(&entry(None, Some("張偉"), Some("1990年1月5日")), day, Path::new("l.csv")).unwrap();
        assert_eq!((p.name_key.as_deref(), p.pinyin.as_deref()), (Some("张伟"), Some("zhangwei")));
        assert_eq!(p.birth_date, Some(dates::to_date32(NaiveDate::from_ymd_opt(1990, 1, 5).unwrap())));
    }

    #[test]
    fn an_entry_with_nothing_to_match_on_names_its_line() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let err = |e: ListEntry| Prepared::of(&e, day, Path::new("l.csv")).err().map(|e| e.to_string()).unwrap_or_default();
        let broken = err(entry(Some("110105194912310029"), None, Some("1949-12-31")));
        assert!(broken.contains("line 2: nothing to match on") && broken.contains("checksum_failed"), "{broken}");
        assert!(!broken.contains("110105"), "no ID number in messages: {broken}");
        assert!(err(entry(None, Some("张伟"), Some("1990-02-30"))).contains("birth date is not a usable date (impossible)"));
        let mut odd = entry(None, Some("张伟"), None);
        odd.sex = Some("?".into());
        assert!(err(odd).contains("the sex is none of"));
    }
}
