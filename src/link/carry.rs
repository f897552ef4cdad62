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
use std::hash::{Hash, Hasher};

use arrow::array::{Array, AsArray, Date32Array, Float64Array, RecordBatch, StringArray};

use super::mentions::MentionColumns;
use super::resolve::Rule;

/// Last night's links, one row per mention, as `person_source` published them.
pub const PREVIOUS_COLUMNS: &[&str] = &[
    "source", "record_key", "role", "citizen_id", "id_status", "name_key", "name_pinyin", "sex", "birth_date", "address_key", "household_no",
    "person_key", "link_rule", "match_weight",
];

/// A link carried over from last night.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    pub person_key: String,
    pub rule: Rule,
    pub weight: Option<f64>,
}

/// Keys whose persons or counts changed since last night.
#[derive(Debug, Default)]
pub struct Dirty {
    ids: HashSet<String>,
    name_births: HashSet<(String, i32)>,
    pinyin_births: HashSet<(String, i32)>,
    name_addresses: HashSet<(String, String)>,
    names: HashSet<String>,
    readings: HashSet<String>,
}

impl Dirty {
    pub fn id(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
    pub fn name_birth(&self, name: &str, birth: i32) -> bool {
        self.name_births.contains(&(name.to_string(), birth))
    }
    pub fn pinyin_birth(&self, pinyin: &str, birth: i32) -> bool {
        self.pinyin_births.contains(&(pinyin.to_string(), birth))
    }
    pub fn name_address(&self, name: &str, address: &str) -> bool {
        self.name_addresses.contains(&(name.to_string(), address.to_string()))
    }
    pub fn name(&self, name: &str) -> bool {
        self.names.contains(name)
    }
    pub fn reading(&self, reading: &str) -> bool {
        self.readings.contains(reading)
    }
}

/// What last night leaves tonight's linker: per mention, its link when its own inputs are
/// unchanged (the linker still checks the dirty keys), and the dirty keys.
pub struct Previous {
    pub links: Vec<Option<Carried>>,
    pub dirty: Dirty,
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
    fn dirty(&self, authority: bool, dirty: &mut Dirty) {
        if let Some(n) = self.name_key {
            dirty.names.insert(n.to_string());
        }
        if let Some(p) = self.name_pinyin {
            dirty.readings.insert(p.to_string());
        }
        if !authority {
            return;
        }
        // A register record's person is found by these keys (its own birth date, not its number's).
        if let Some(id) = self.citizen_id {
            dirty.ids.insert(id.to_string());
        }
        if let Some(b) = self.birth_date {
            if let Some(n) = self.name_key {
                dirty.name_births.insert((n.to_string(), b));
            }
            if let Some(p) = self.name_pinyin {
                dirty.pinyin_births.insert((p.to_string(), b));
            }
        }
        if let (Some(n), Some(a)) = (self.name_key, self.address_key) {
            dirty.name_addresses.insert((n.to_string(), a.to_string()));
        }
    }
}

fn text(a: &StringArray, i: usize) -> Option<&str> {
    (!a.is_null(i)).then(|| a.value(i)).filter(|v| !v.is_empty())
}

fn key_hash(source: &str, record_key: &str, role: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (source, record_key, role).hash(&mut h);
    h.finish()
}

fn tonight_inputs<'a>(m: &MentionColumns<'a>, i: usize) -> Inputs<'a> {
    Inputs {
        citizen_id: text(m.citizen_id, i),
        id_status: text(m.id_status, i),
        name_key: text(m.name_key, i),
        name_pinyin: text(m.name_pinyin, i),
        sex: text(m.sex, i),
        birth_date: (!m.birth_date.is_null(i)).then(|| m.birth_date.value(i)),
        address_key: text(m.address_key, i),
        household_no: text(m.household_no, i),
    }
}

/// Compares tonight's mentions with last night's (`previous`: `PREVIOUS_COLUMNS`, text as Utf8).
pub fn compare(m: &MentionColumns, previous: &RecordBatch) -> Previous {
    let s = |name: &str| previous.column_by_name(name).expect("a previous column").as_string::<i32>();
    let (source, record_key, role) = (s("source"), s("record_key"), s("role"));
    let (person_key, link_rule) = (s("person_key"), s("link_rule"));
    let birth: &Date32Array = previous.column_by_name("birth_date").expect("birth_date").as_primitive();
    let weight: &Float64Array = previous.column_by_name("match_weight").expect("match_weight").as_primitive();
    let inputs = |i: usize| Inputs {
        citizen_id: text(s("citizen_id"), i),
        id_status: text(s("id_status"), i),
        name_key: text(s("name_key"), i),
        name_pinyin: text(s("name_pinyin"), i),
        sex: text(s("sex"), i),
        birth_date: (!birth.is_null(i)).then(|| birth.value(i)),
        address_key: text(s("address_key"), i),
        household_no: text(s("household_no"), i),
    };
    let was_authority = |i: usize| matches!(link_rule.value(i), "register" | "register_duplicate");
    let mut by_key: std::collections::HashMap<u64, u32> = std::collections::HashMap::with_capacity(previous.num_rows());
    for i in 0..previous.num_rows() {
        by_key.insert(key_hash(source.value(i), record_key.value(i), role.value(i)), i as u32);
    }
    let mut dirty = Dirty::default();
    let mut matched = vec![false; previous.num_rows()];
    let mut links = Vec::with_capacity(m.len());
    for i in 0..m.len() {
        let now = tonight_inputs(m, i);
        let authority = m.authority.value(i);
        let found = by_key
            .get(&key_hash(m.source.value(i), m.record_key.value(i), m.role.value(i)))
            .map(|&j| j as usize)
            .filter(|&j| source.value(j) == m.source.value(i) && record_key.value(j) == m.record_key.value(i) && role.value(j) == m.role.value(i));
        let same = found.filter(|&j| inputs(j) == now && was_authority(j) == authority);
        if let Some(j) = found {
            matched[j] = true;
        }
        match same {
            Some(j) => {
                let rule = Rule::parse(link_rule.value(j));
                let carried = rule.filter(|r| matches!(r, Rule::IdExact | Rule::IdRepaired | Rule::NameBirth)).and_then(|rule| {
                    text(person_key, j).map(|key| Carried { person_key: key.to_string(), rule, weight: (!weight.is_null(j)).then(|| weight.value(j)) })
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
