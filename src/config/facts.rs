//! The kinds of department facts, each declared once: its mention roles (and the published
//! column each becomes), its constants, and its fields with their types, whether they are
//! required, and what they mean. The pipeline's `[source.facts]` tables are read and checked
//! against this table, ingest types the mapped fields from it, and publish builds each kind's
//! view from it; `schemas/published.md` documents the same columns.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::field::Field;

/// How a fact field's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Text as written, kept as is; a required one must not be blank.
    Text,
    /// A day, in any of the departments' date formats (its raw text is published beside it).
    Date,
    /// A month (`YYYYMM`, `YYYY-MM`, `YYYY年M月`), published as its first day.
    Month,
    /// A number, `,` thousands separators allowed.
    Number,
    /// One of the listed words (trimmed); any other value becomes null and counts as a problem.
    OneOf(&'static [&'static str]),
}

impl ValueType {
    /// The SQL type of the published column.
    pub fn sql_type(self) -> &'static str {
        match self {
            ValueType::Date | ValueType::Month => "DATE",
            ValueType::Number => "DOUBLE",
            ValueType::Text | ValueType::OneOf(_) => "VARCHAR",
        }
    }

    /// What the department's text must be, for the pipeline reference.
    pub fn describe(self) -> String {
        match self {
            ValueType::Text => "text".into(),
            ValueType::Date => "a date, in any of the departments' formats".into(),
            ValueType::Month => "a month: `YYYYMM`, `YYYY-MM` or `YYYY年M月`".into(),
            ValueType::Number => "a number, `,` thousands separators allowed".into(),
            ValueType::OneOf(words) => format!("one of {}", words.iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", ")),
        }
    }
}

/// The status vocabulary of the household register.
pub const RESIDENCE_STATUSES: &[&str] = &["normal", "deceased", "moved_out"];

/// A mapped field of a kind.
#[derive(Debug)]
pub struct FactField {
    /// The field's key in `[source.facts]`, and the published column's name.
    pub name: &'static str,
    /// How its text is read and typed.
    pub value: ValueType,
    /// A row without it is quarantined; a bad optional value is kept as null and counted.
    pub required: bool,
}

/// A mention role a kind's facts concern: the pipeline key naming the role, and the published
/// column holding that mention's person key.
#[derive(Debug)]
pub struct FactRole {
    /// The key in `[source.facts]` whose value names the mention role, e.g. `owner`.
    pub key: &'static str,
    /// The published column holding that mention's person key, e.g. `child_key`.
    pub column: &'static str,
    /// Whether `[source.facts]` must name the role.
    pub required: bool,
}

/// One kind of fact.
#[derive(Debug)]
pub struct FactKind {
    /// The kind as `[source.facts] kind` names it, e.g. `residence`; its view is `facts_<name>`.
    pub name: &'static str,
    /// What one fact of the kind records.
    pub doc: &'static str,
    /// The mention roles the facts concern.
    pub roles: &'static [FactRole],
    /// Constants the pipeline gives for the whole source, published as columns of that name.
    pub constants: &'static [&'static str],
    /// Its mapped fields, in the order they are published.
    pub fields: &'static [FactField],
}

const fn field(name: &'static str, value: ValueType, required: bool) -> FactField {
    FactField { name, value, required }
}

const fn role(key: &'static str, column: &'static str, required: bool) -> FactRole {
    FactRole { key, column, required }
}

use ValueType::{Date, Month, Number, OneOf, Text};

const PERSON: &[FactRole] = &[role("mention", "person_key", true)];

/// Every kind, in the order their views are built.
pub const FACT_KINDS: &[FactKind] = &[
    FactKind {
        name: "residence",
        doc: "Household register: where a person is registered and their status.",
        roles: PERSON,
        constants: &[],
        fields: &[
            field("household_no", Text, true),
            field("district", Text, true),
            field("address", Text, true),
            field("relation", Text, false),
            field("status", OneOf(RESIDENCE_STATUSES), true),
            field("status_date", Date, false),
        ],
    },
    FactKind {
        name: "insured",
        doc: "An insured person and the department's internal number for them.",
        roles: PERSON,
        constants: &[],
        fields: &[field("internal_id", Text, true), field("status", Text, false)],
    },
    FactKind {
        name: "payment",
        doc: "A monthly payment, reaching a person only through the insured-persons source named by `via`.",
        roles: &[],
        constants: &["via"],
        fields: &[field("internal_id", Text, true), field("month", Month, true), field("amount", Number, true), field("benefit", Text, false)],
    },
    FactKind {
        name: "ownership",
        doc: "A property unit and one owner per row.",
        roles: &[role("owner", "person_key", true)],
        constants: &[],
        fields: &[
            field("unit_no", Text, true),
            field("address", Text, true),
            field("area", Number, false),
            field("usage", Text, false),
            field("registered_on", Date, false),
            field("share", Text, false),
        ],
    },
    FactKind {
        name: "birth",
        doc: "A birth certificate.",
        roles: &[role("child", "child_key", true), role("mother", "mother_key", true), role("father", "father_key", false)],
        constants: &[],
        fields: &[field("birth_date", Date, true), field("hospital", Text, false)],
    },
    FactKind {
        name: "death",
        doc: "A death record; `evidence` says what kind, e.g. `cremation`.",
        roles: PERSON,
        constants: &["evidence"],
        fields: &[field("death_date", Date, true)],
    },
    FactKind {
        name: "stay",
        doc: "A floating-population registration: where someone registered elsewhere lives here.",
        roles: PERSON,
        constants: &[],
        fields: &[
            field("current_address", Text, true),
            field("origin_address", Text, false),
            field("registered_on", Date, false),
            field("reason", Text, false),
        ],
    },
    FactKind {
        name: "tenancy",
        doc: "A rental filing: a tenant renting from a landlord.",
        roles: &[role("tenant", "tenant_key", true), role("landlord", "landlord_key", false)],
        constants: &[],
        fields: &[field("address", Text, true), field("rent", Number, false), field("started_on", Date, false)],
    },
];

impl FactKind {
    /// The kind of that name, if there is one.
    pub fn named(name: &str) -> Option<&'static FactKind> {
        FACT_KINDS.iter().find(|k| k.name == name)
    }

    /// The kind's mapped field of that name, if it has one.
    pub fn field(&self, name: &str) -> Option<&'static FactField> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn keys(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.key).chain(self.constants.iter().copied()).chain(self.fields.iter().map(|f| f.name)).collect()
    }

    /// The keys a `[source.facts]` of this kind must give: its required roles, every constant
    /// and its required fields.
    pub fn required_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        (self.roles.iter().filter(|r| r.required).map(|r| r.key))
            .chain(self.constants.iter().copied())
            .chain(self.fields.iter().filter(|f| f.required).map(|f| f.name))
    }
}

/// A source's `[source.facts]`: its kind and, by the kind's keys, the roles, constants and
/// mapped fields it gives.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Which of the fact kinds the source gives.
    pub kind: &'static FactKind,
    /// Role key → the mention role in this source.
    pub roles: BTreeMap<&'static str, String>,
    /// Constant key → its value for the whole source, e.g. `via` → `si_insured`.
    pub constants: BTreeMap<&'static str, String>,
    /// The mapped fields, in the kind's order.
    pub fields: Vec<(&'static str, Field)>,
}

impl Facts {
    /// The kind's name, e.g. `payment`.
    pub fn kind(&self) -> &'static str {
        self.kind.name
    }

    /// The mapped fact fields by their published names.
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &Field)> {
        self.fields.iter().map(|(n, f)| (*n, f))
    }

    /// The mention roles the facts refer to, with the key naming each.
    pub fn roles(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.roles.iter().map(|(k, r)| (*k, r.as_str()))
    }

    /// The value the pipeline gives for one of the kind's constants, e.g. `via`.
    pub fn constant(&self, key: &str) -> Option<&str> {
        self.constants.get(key).map(String::as_str)
    }

    /// Checks the keys of a `[source.facts]` table against its kind.
    fn from_table(mut table: BTreeMap<String, toml::Value>) -> Result<Facts, String> {
        let names = || FACT_KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ");
        let kind_name = match table.remove("kind") {
            Some(toml::Value::String(k)) => k,
            Some(_) => return Err(format!("`kind` is one of {} (a string)", names())),
            None => return Err(format!("missing `kind`, one of {}", names())),
        };
        let kind = FactKind::named(&kind_name).ok_or_else(|| format!("unknown kind `{kind_name}`; kinds are {}", names()))?;
        let mut facts = Facts { kind, roles: BTreeMap::new(), constants: BTreeMap::new(), fields: Vec::new() };
        let text = |key: &str, value: toml::Value| match value {
            toml::Value::String(s) => Ok(s),
            _ => Err(format!("`{key}` is a string")),
        };
        for (key, value) in table {
            if let Some(r) = kind.roles.iter().find(|r| r.key == key) {
                facts.roles.insert(r.key, text(&key, value)?);
            } else if let Some(c) = kind.constants.iter().find(|c| **c == key) {
                facts.constants.insert(c, text(&key, value)?);
            } else if let Some(f) = kind.field(&key) {
                let field = Field::deserialize(value).map_err(|e| format!("`{key}`: {e}"))?;
                facts.fields.push((f.name, field));
            } else {
                return Err(format!("unknown key `{key}` for kind `{}`; its keys are {}", kind.name, kind.keys().join(", ")));
            }
        }
        let given = |key: &str| facts.roles.contains_key(key) || facts.constants.contains_key(key) || facts.fields.iter().any(|(n, _)| *n == key);
        let missing: Vec<&str> = kind.required_keys().filter(|k| !given(k)).collect();
        if !missing.is_empty() {
            return Err(format!("kind `{}` needs {}", kind.name, missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")));
        }
        facts.fields.sort_by_key(|(n, _)| kind.fields.iter().position(|f| f.name == *n));
        Ok(facts)
    }
}

/// One schema per kind, `kind` telling them apart: the keys each kind takes and needs come from
/// [`FACT_KINDS`], as `from_table` checks them.
impl schemars::JsonSchema for Facts {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Facts".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let field = generator.subschema_for::<Field>().to_value();
        let kinds: Vec<serde_json::Value> = FACT_KINDS
            .iter()
            .map(|kind| {
                let mut properties = serde_json::Map::new();
                properties.insert("kind".into(), serde_json::json!({ "const": kind.name, "description": kind.doc }));
                for r in kind.roles {
                    let doc = format!("The mention role whose person key is published as `{}`.", r.column);
                    properties.insert(r.key.into(), serde_json::json!({ "type": "string", "description": doc }));
                }
                for c in kind.constants {
                    let doc = format!("Published as the column `{c}` on every row of the source.");
                    properties.insert((*c).into(), serde_json::json!({ "type": "string", "description": doc }));
                }
                for f in kind.fields {
                    let mut schema = field.clone();
                    schema["description"] = format!("Read as {}.", f.value.describe()).into();
                    properties.insert(f.name.into(), schema);
                }
                let required: Vec<&str> = std::iter::once("kind").chain(kind.required_keys()).collect();
                serde_json::json!({
                    "type": "object",
                    "title": kind.name,
                    "description": kind.doc,
                    "properties": properties,
                    "required": required,
                    "additionalProperties": false,
                })
            })
            .collect();
        schemars::json_schema!({
            "description": "The department's facts each row gives, all of one kind.",
            "oneOf": kinds,
        })
    }
}

impl<'de> Deserialize<'de> for Facts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let table = BTreeMap::<String, toml::Value>::deserialize(deserializer)?;
        Facts::from_table(table).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Facts, String> {
        Facts::from_table(toml::from_str(text).unwrap())
    }

    #[test]
    fn facts_tables_are_checked_against_their_kind() {
        let pay = parse("kind = \"payment\"\nvia = \"si\"\ninternal_id = \"AAC001\"\namount = \"AAE019\"\nmonth = \"AAE002\"").unwrap();
        assert_eq!(pay.fields().map(|(n, _)| n).collect::<Vec<_>>(), ["internal_id", "month", "amount"]);
        assert_eq!(pay.constant("via"), Some("si"));
        let err = parse("kind = \"payment\"\nvia = \"si\"\ninternal_id = \"A\"\namount = \"B\"\nmonth = \"C\"\namountt = \"D\"").unwrap_err();
        assert!(err.contains("unknown key `amountt`") && err.contains("via, internal_id, month, amount, benefit"), "{err}");
        let err = parse("kind = \"payment\"\ninternal_id = \"A\"").unwrap_err();
        assert!(err.contains("needs `via`, `month`, `amount`"), "{err}");
        assert!(parse("kind = \"salary\"").unwrap_err().contains("kinds are residence, insured"));
        let birth = parse("kind = \"birth\"\nchild = \"child\"\nmother = \"mother\"\nbirth_date = \"csrq\"").unwrap();
        assert_eq!(birth.roles().collect::<Vec<_>>(), [("child", "child"), ("mother", "mother")]);
    }
}
