//! Carrying links over: a mention whose linker inputs are the same as last night's, and whose
//! every input from other mentions is the same too, keeps last night's link without being
//! scored again; only the others are scored. The result equals a full relink.
//!
//! A mention linked directly in the first pass (rules `id_exact`, `id_repaired`, `name_birth`)
//! was decided by its own fields, the register's persons found by its blocks, and how common its
//! name and reading are. So it is carried when its fields are unchanged and none of its block
//! keys, repair candidates, name or reading is *dirty*: among the keys of a register record that
//! is new, changed or gone (old and new values), or the names of any mention that is new,
//! changed or gone. Everything else (mentions that were unlinked, linked through a household,
//! founded persons, or have a reviewer's decision) is linked again as in a full run. Carrying
//! needs last night's model and thresholds, and name frequencies over the model's mention count.

use std::collections::HashSet;

use arrow::array::{Array, ArrayAccessor, ArrayRef, AsArray, Date32Array, Float64Array, RecordBatch, StringArray, StringViewArray};
use arrow::datatypes::DataType;

use super::mentions::MentionColumns;
use super::resolve::Rule;

/// Last night's links, one row per mention, as `person_source` published them (text as Utf8
/// or, as Delta reads it back, Utf8View).
pub const PREVIOUS_COLUMNS: &[&str] = &[
    "source", "record_key", "role", "citizen_id", "id_status", "name_key", "name_pinyin", "sex", "birth_date", "address_key", "household_no",
    "person_key", "link_rule", "match_weight",
];

/// A link carried over from last night (text borrowed from last night's batch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Carried<'a> {
    /// The person last night's link led to.
    pub person_key: &'a str,
    /// The rule that linked it: `IdExact`, `IdRepaired` or `NameBirth`.
    pub rule: Rule,
    /// The match weight it was linked with, if it had one.
    pub weight: Option<f64>,
}

/// Keys whose persons or counts changed since last night.
#[derive(Debug, Default)]
pub struct Dirty<'a> {
    ids: HashSet<&'a str>,
    name_births: HashSet<(&'a str, i32)>,
    pinyin_births: HashSet<(&'a str, i32)>,
    name_addresses: HashSet<(&'a str, &'a str)>,
    names: HashSet<&'a str>,
    readings: HashSet<&'a str>,
}

impl Dirty<'_> {
    /// Whether this ID number is a key of a register record that is new, changed or gone.
    pub fn id(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
    /// Whether this name key and birth date (days since 1970-01-01) are keys of a register record
    /// that is new, changed or gone.
    pub fn name_birth(&self, name: &str, birth: i32) -> bool {
        self.name_births.contains(&(name, birth))
    }
    /// Whether this pinyin and birth date (days since 1970-01-01) are keys of a register record
    /// that is new, changed or gone.
    pub fn pinyin_birth(&self, pinyin: &str, birth: i32) -> bool {
        self.pinyin_births.contains(&(pinyin, birth))
    }
    /// Whether this name key and address key are keys of a register record that is new, changed or gone.
    pub fn name_address(&self, name: &str, address: &str) -> bool {
        self.name_addresses.contains(&(name, address))
    }
    /// Whether a new, changed or gone mention bears this name key, so its frequency may have moved.
    pub fn name(&self, name: &str) -> bool {
        self.names.contains(name)
    }
    /// Whether a new, changed or gone mention bears this pinyin reading, so its frequency may have moved.
    pub fn reading(&self, reading: &str) -> bool {
        self.readings.contains(reading)
    }
}

/// What last night leaves tonight's linker: per mention, its link when its own inputs are
/// unchanged (the linker still checks the dirty keys), and the dirty keys.
pub struct Previous<'a> {
    /// Per tonight's mention, in order: last night's direct link, if the mention's own inputs are unchanged.
    pub links: Vec<Option<Carried<'a>>>,
    /// The keys that changed since last night.
    pub dirty: Dirty<'a>,
}

/// One mention's linker inputs, as text.
#[derive(PartialEq)]
struct Inputs<'a> {
    citizen_id: Option<&'a str>,
    id_status: Option<&'a str>,
    name_key: Option<&'a str>,
    name_pinyin: Option<&'a str>,
    sex: Option<&'a str>,
    birth_date: Option<i32>,
    address_key: Option<&'a str>,
    household_no: Option<&'a str>,
}

impl<'a> Inputs<'a> {
    fn dirty(&self, authority: bool, dirty: &mut Dirty<'a>) {
        dirty.names.extend(self.name_key);
        dirty.readings.extend(self.name_pinyin);
        if !authority {
            return;
        }
        // A register record's person is found by these keys (its own birth date, not its number's).
        dirty.ids.extend(self.citizen_id);
        if let Some(b) = self.birth_date {
            dirty.name_births.extend(self.name_key.map(|n| (n, b)));
            dirty.pinyin_births.extend(self.name_pinyin.map(|p| (p, b)));
        }
        dirty.name_addresses.extend(self.name_key.zip(self.address_key));
    }
}

/// A text column of last night's, in whichever string layout it was read.
enum Text<'a> {
    Utf8(&'a StringArray),
    View(&'a StringViewArray),
}

impl<'a> Text<'a> {
    fn of(column: &'a ArrayRef) -> Text<'a> {
        match column.data_type() {
            DataType::Utf8View => Text::View(column.as_string_view()),
            _ => Text::Utf8(column.as_string::<i32>()),
        }
    }

    fn value(&self, i: usize) -> &'a str {
        match self {
            Text::Utf8(a) => a.value(i),
            Text::View(a) => a.value(i),
        }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        let null = match self {
            Text::Utf8(a) => a.is_null(i),
            Text::View(a) => a.is_null(i),
        };
        (!null).then(|| self.value(i)).filter(|v| !v.is_empty())
    }
}

fn key_hash(source: &str, record_key: &str, role: &str) -> u64 {
    super::hash_of((source, record_key, role))
}

fn tonight_inputs<'a>(m: &MentionColumns<'a>, i: usize) -> Inputs<'a> {
    Inputs {
        citizen_id: MentionColumns::text(m.citizen_id, i),
        id_status: MentionColumns::text(m.id_status, i),
        name_key: MentionColumns::text(m.name_key, i),
        name_pinyin: MentionColumns::text(m.name_pinyin, i),
        sex: MentionColumns::text(m.sex, i),
        birth_date: (!m.birth_date.is_null(i)).then(|| m.birth_date.value(i)),
        address_key: MentionColumns::text(m.address_key, i),
        household_no: MentionColumns::text(m.household_no, i),
    }
}

/// Compares tonight's mentions with last night's (`previous`: `PREVIOUS_COLUMNS`).
pub fn compare<'a>(m: &MentionColumns<'a>, previous: &'a RecordBatch) -> Previous<'a> {
    let columns: Vec<Text> = ["source", "record_key", "role", "citizen_id", "id_status", "name_key", "name_pinyin", "sex", "address_key", "household_no", "person_key", "link_rule"]
        .iter()
        .map(|name| Text::of(previous.column_by_name(name).expect("a previous column")))
        .collect();
    let [source, record_key, role, citizen_id, id_status, name_key, name_pinyin, sex, address_key, household_no, person_key, link_rule] =
        <[Text; 12]>::try_from(columns).ok().expect("twelve text columns");
    let birth: &Date32Array = previous.column_by_name("birth_date").expect("birth_date").as_primitive();
    let weight: &Float64Array = previous.column_by_name("match_weight").expect("match_weight").as_primitive();
    let inputs = |i: usize| Inputs {
        citizen_id: citizen_id.get(i),
        id_status: id_status.get(i),
        name_key: name_key.get(i),
        name_pinyin: name_pinyin.get(i),
        sex: sex.get(i),
        birth_date: (!birth.is_null(i)).then(|| birth.value(i)),
        address_key: address_key.get(i),
        household_no: household_no.get(i),
    };
    let was_authority = |i: usize| matches!(link_rule.value(i), "register" | "register_duplicate");
    let same_key = |j: usize, i: usize| role.value(j) == m.role.value(i) && record_key.value(j) == m.record_key.value(i) && source.value(j) == m.source.value(i);
    // Mentions mostly come in the same order as last night: try the row at the same offset
    // first, and hash last night's keys only once that fails.
    let mut by_key: Option<std::collections::HashMap<u64, u32>> = None;
    let mut offset: isize = 0;
    let mut dirty = Dirty::default();
    let mut matched = vec![false; previous.num_rows()];
    let mut links = Vec::with_capacity(m.len());
    for i in 0..m.len() {
        let now = tonight_inputs(m, i);
        let authority = m.authority.value(i);
        let guess = usize::try_from(i as isize + offset).ok().filter(|&j| j < previous.num_rows() && same_key(j, i));
        let found = guess.or_else(|| {
            let map = by_key.get_or_insert_with(|| (0..previous.num_rows()).map(|j| (key_hash(source.value(j), record_key.value(j), role.value(j)), j as u32)).collect());
            let j = map.get(&key_hash(m.source.value(i), m.record_key.value(i), m.role.value(i))).map(|&j| j as usize).filter(|&j| same_key(j, i))?;
            offset = j as isize - i as isize;
            Some(j)
        });
        let same = found.filter(|&j| inputs(j) == now && was_authority(j) == authority);
        if let Some(j) = found {
            matched[j] = true;
        }
        match same {
            Some(j) => {
                let rule = Rule::parse(link_rule.value(j));
                let carried = rule.filter(|r| matches!(r, Rule::IdExact | Rule::IdRepaired | Rule::NameBirth)).and_then(|rule| {
                    person_key.get(j).map(|key| Carried { person_key: key, rule, weight: (!weight.is_null(j)).then(|| weight.value(j)) })
                });
                links.push(carried);
            }
            None => {
                // New or changed: its new values are dirty, and a changed one's old values too.
                now.dirty(authority, &mut dirty);
                if let Some(j) = found {
                    inputs(j).dirty(was_authority(j), &mut dirty);
                }
                links.push(None);
            }
        }
    }
    for j in (0..previous.num_rows()).filter(|&j| !matched[j]) {
        inputs(j).dirty(was_authority(j), &mut dirty);
    }
    Previous { links, dirty }
}
