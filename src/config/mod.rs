//! Pipeline files: what the nightly run reads and how each department's columns become person
//! mentions and facts. Parsed with serde (`deny_unknown_fields`), then checked as a whole so
//! that every error names the offending key.

pub mod access;
pub mod facts;
pub mod field;
mod options;
pub mod schema;
mod validate;

use options::options;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

pub use facts::Facts;
pub use field::{Field, FieldSpec};

/// A problem with a pipeline file; the CLI exits 78 on it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The pipeline file, or the data root given for it, cannot be read.
    #[error("cannot read pipeline {path}: {source}")]
    Read {
        /// The file or folder that could not be read.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The pipeline file is not TOML, or not the shape of a pipeline (an unknown key, a wrong type).
    #[error("{path}: {source}")]
    Parse {
        /// The pipeline file.
        path: PathBuf,
        /// The TOML error, with its line and column.
        source: Box<toml::de::Error>,
    },
    /// A value parses but the whole-file checks refuse it, or a source's files are missing.
    #[error("{path}: key `{key}`: {message}")]
    Invalid {
        /// The pipeline file.
        path: PathBuf,
        /// The dotted key at fault, e.g. `source.si_insured.record_key`.
        key: String,
        /// What is wrong, and how to put it right.
        message: String,
    },
    /// Several problems, each on its own line.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

impl ConfigError {
    /// None, one or many problems as one result.
    pub fn all(mut problems: Vec<ConfigError>) -> Result<(), ConfigError> {
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(ConfigError::Many(problems)),
        }
    }
}

/// The whole pipeline file.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pipeline {
    /// `[pipeline]`: the pipeline's name, its data and how it reads.
    pub pipeline: PipelineOptions,
    /// `[linkage]`: the match weights the linker decides by.
    #[serde(default)]
    pub linkage: LinkageOptions,
    /// `[access]`: the server's limits and the roles the pipeline adds.
    #[serde(default)]
    pub access: access::AccessOptions,
    /// `[engine]`: the cores and memory a night may use.
    #[serde(default)]
    pub engine: EngineOptions,
    /// `[golden]`: how each attribute of a person is chosen among its mentions' values.
    #[serde(default)]
    pub golden: GoldenOptions,
    /// Every `[[source]]`, in the order the file declares them.
    #[serde(rename = "source")]
    #[schemars(length(min = 1))]
    pub sources: Vec<Source>,
    /// Where the file was read from; relative paths resolve against its folder.
    #[serde(skip)]
    pub file: PathBuf,
    /// SHA-256 of the bytes that were parsed, for the run record.
    #[serde(skip)]
    pub sha256: String,
}

options! {
    /// `[pipeline]`: what the pipeline is and how it reads.
    pub struct PipelineOptions {
        /// The pipeline's name, in the run manifest.
        #[schemars(example = &"nightly")]
        pub name: String = String::new(),
        /// What it is for.
        #[schemars(example = &"Police register, social security, housing, health, civil affairs")]
        pub description: Option<String> = None,
        /// Folder the sources' paths are relative to, itself relative to the pipeline file.
        #[schemars(example = &"../sample-data")]
        pub data_root: Option<PathBuf> = None,
        /// The day the exports describe: later dates are "future". Defaults to the run's date.
        #[schemars(with = "Option<String>", example = &"2026-11-01")]
        pub as_of: Option<NaiveDate> = None,
        /// Rows per Arrow batch while reading.
        pub batch_rows: usize = 65_536,
        /// Memory pool of ingest's mapping queries (one batch at a time), in MB. Files
        /// themselves stream in chunks whatever their size.
        pub memory_limit_mb: usize = 256,
    }
}

options! {
    /// `[engine]`: the cores and memory a night may use.
    pub struct EngineOptions {
        /// Threads the night works on (sources read, mentions scored, tables written at a
        /// time); 0 takes every core. The results are the same for any number.
        pub threads: usize = 0,
        /// Memory pool of publish's queries, in MB: their sorts and aggregations spill to disk
        /// beyond it, and so do joins on nights too large for hash joins in half of it (they
        /// are made as sort-merge joins then). At least 256; each table written at a time
        /// needs 256 of it, so a smaller pool writes fewer tables at once than `threads`. The
        /// linker's own structures are outside it (about 370 bytes a mention, see bench/scale.sh).
        pub memory_limit_mb: usize = 8192,
        /// Whether publish may make a join a hash join (the faster, but it cannot spill) while
        /// a build side of every mention, for each table written at a time, fits half the pool;
        /// false makes every join a sort-merge join, which spills.
        pub hash_joins: bool = true,
    }
}

impl EngineOptions {
    /// The threads to use: `threads`, or every core when it is 0.
    pub fn threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// A rule that ranks the values a person's mentions give for one attribute (`[golden]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GoldenRule {
    /// A record of the authority register: the one that founded the person, then its duplicates.
    Authority,
    /// The record whose current version was first published on the latest night.
    MostRecent,
    /// The value most of the person's mentions give.
    MostFrequent,
    /// What the person's valid ID number says (for `sex` and `birth_date` only).
    Number,
}

impl GoldenRule {
    /// The rule's name as the pipeline file and `person_attribute` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            GoldenRule::Authority => "authority",
            GoldenRule::MostRecent => "most_recent",
            GoldenRule::MostFrequent => "most_frequent",
            GoldenRule::Number => "number",
        }
    }
}

options! {
    /// `[golden]`: how the person table chooses each attribute among the values the person's
    /// mentions give (`person_attribute` says which record and rule chose it). A list of
    /// rules, applied in order: the first that tells two candidate values apart decides; ties
    /// left after every rule go to a record before the ID number, the founding record first,
    /// then by source, record key and role.
    pub struct GoldenOptions {
        /// Rules for the name.
        #[schemars(example = &["authority", "most_frequent"])]
        pub name: Vec<GoldenRule> = vec![GoldenRule::Authority, GoldenRule::MostRecent, GoldenRule::MostFrequent],
        /// Rules for the sex.
        pub sex: Vec<GoldenRule> = vec![GoldenRule::Authority, GoldenRule::MostRecent, GoldenRule::MostFrequent, GoldenRule::Number],
        /// Rules for the birth date.
        pub birth_date: Vec<GoldenRule> = vec![GoldenRule::Authority, GoldenRule::MostRecent, GoldenRule::MostFrequent, GoldenRule::Number],
        /// Rules for the ethnicity.
        pub ethnicity: Vec<GoldenRule> = vec![GoldenRule::Authority, GoldenRule::MostRecent, GoldenRule::MostFrequent],
    }
}

impl GoldenOptions {
    /// Each attribute with its rules, in the order `person_attribute` lists them.
    pub fn attributes(&self) -> [(&'static str, &[GoldenRule]); 4] {
        [("name", &self.name), ("sex", &self.sex), ("birth_date", &self.birth_date), ("ethnicity", &self.ethnicity)]
    }
}

options! {
    /// `[linkage]`: how the linker decides, in match weights: the log2 odds, under the linkage
    /// model, that a mention and a candidate are one person (see `link::model`).
    pub struct LinkageOptions {
        /// Match weight a candidate needs to be linked.
        pub match_weight: f64 = 6.0,
        /// How far ahead of the runner-up the best candidate must be.
        pub margin_weight: f64 = 5.0,
        /// A best candidate with at least this weight that is not linked goes to the review queue.
        pub review_weight: f64 = 0.0,
        /// Random mention–person pairs drawn to learn u when a model is learned.
        pub random_pairs: usize = 1_000_000,
    }
}

/// How a source's files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// A JSON array of objects.
    Json,
    /// An Excel workbook; see `sheet`.
    Xlsx,
    /// Parquet; columns of any type are read as text.
    Parquet,
}

/// The character encoding of a delimited text source (or of an external list, `--encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, Default, schemars::JsonSchema, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8, the default (`utf-8` or `utf8`).
    #[default]
    #[serde(rename = "utf-8", alias = "utf8")]
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// GBK, the older simplified-Chinese encoding.
    Gbk,
    /// GB 18030, the superset of GBK (the household register's).
    Gb18030,
}

impl Encoding {
    /// The encoding's name as pipeline files write it, e.g. `gb18030`.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Gbk => "gbk",
            Encoding::Gb18030 => "gb18030",
        }
    }
}

/// One department export.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Names the source in keys, staging and the published tables: unique, ASCII letters, digits and `_`.
    #[schemars(example = &"household_register", regex(pattern = r"^[A-Za-z0-9_]+$"))]
    pub name: String,
    /// The department that sends the export, e.g. `police`, reported with the source's counts.
    #[schemars(example = &"police")]
    pub department: String,
    /// A path or glob, relative to `data_root`.
    #[schemars(example = &"police/household_register*.csv")]
    pub path: String,
    /// How the files are written.
    #[schemars(example = &"csv")]
    pub format: Format,
    /// Character encoding of delimited text; JSON is UTF-8, and xlsx and parquet carry their own.
    #[serde(default)]
    pub encoding: Encoding,
    /// The one character between fields of delimited text; `,` unless given.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Whether the first line of a delimited file names the columns; without one, columns are `c1`, `c2`, ….
    #[serde(default = "default_true")]
    pub header: bool,
    /// JSON: an array property whose elements each become a row (with the parent's fields).
    #[serde(default)]
    #[schemars(example = &"owners")]
    pub explode: Option<String>,
    /// Excel: the sheet to read; the first one when not given.
    #[serde(default)]
    #[schemars(example = &"Sheet1")]
    pub sheet: Option<String>,
    /// What identifies a row within the source; rows without one are quarantined.
    #[schemars(example = &"人员编号")]
    pub record_key: Field,
    /// The source is the authority on identity (the household register): each of its records is
    /// a person, and records it holds as distinct are never merged.
    #[serde(default)]
    pub authority: bool,
    /// The persons each row mentions, one `[[source.mention]]` per role.
    #[serde(default, rename = "mention")]
    pub mentions: Vec<MentionSpec>,
    /// `[source.facts]`: the department's facts each row gives, all of one kind.
    #[serde(default)]
    pub facts: Option<Facts>,
    /// What a change in the export does to the night.
    #[serde(default)]
    pub drift: DriftPolicy,
}

/// Whether a kind of drift stops the night (nothing is published) or is only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftAction {
    /// The night stops before publishing: nothing of it is committed.
    Stop,
    /// The drift is reported and the night goes on.
    Warn,
}

options! {
    /// `[source.drift]`: per source, what each kind of drift does. Drift is always reported
    /// before publishing.
    pub struct DriftPolicy {
        /// A mapped column is not in a file (the field is null for that file).
        pub missing_column: DriftAction = DriftAction::Stop,
        /// Columns appeared or went away since the previous night.
        pub columns_changed: DriftAction = DriftAction::Warn,
        /// A file does not decode under the declared encoding (it is skipped).
        pub undecodable_file: DriftAction = DriftAction::Stop,
        /// A file has no rows: 0 bytes, or a header alone (`warn` for a feed that may be empty).
        pub empty_file: DriftAction = DriftAction::Stop,
        /// Fewer rows than `1 - max_shrink` times the previous night's.
        pub shrink: DriftAction = DriftAction::Stop,
        /// The share of last night's rows a feed may lose before `shrink` applies.
        pub max_shrink: f64 = 0.5,
        /// More of tonight's rows quarantined than `max_quarantine_share`.
        pub quarantine_share: DriftAction = DriftAction::Warn,
        /// The share of a source's rows that may be quarantined before `quarantine_share` applies.
        pub max_quarantine_share: f64 = 0.05,
    }
}

fn default_delimiter() -> char {
    ','
}
fn default_true() -> bool {
    true
}

/// The columns that describe one person mentioned by a row.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MentionSpec {
    /// What the person is to the record, e.g. `resident` or `mother`; unique within the source.
    #[schemars(example = &"resident")]
    pub role: String,
    /// A mention in this role that matches nobody starts a new person (a newborn's certificate).
    #[serde(default)]
    pub creates_persons: bool,
    /// The person's ID number as the department writes it (18 or 15 digits).
    #[serde(default)]
    #[schemars(example = &"公民身份号码")]
    pub citizen_id: Option<Field>,
    /// The person's name as registered.
    #[serde(default)]
    #[schemars(example = &"姓名")]
    pub name: Option<Field>,
    /// Must come out as `M` or `F` (use a value map).
    #[serde(default)]
    #[schemars(example = serde_json::json!({"column": "性别", "map": {"男": "M", "女": "F"}}))]
    pub sex: Option<Field>,
    /// Birth date, in any of the departments' date formats.
    #[serde(default)]
    #[schemars(example = &"出生日期")]
    pub birth_date: Option<Field>,
    /// Ethnicity (民族) as the department writes it.
    #[serde(default)]
    #[schemars(example = &"民族")]
    pub ethnicity: Option<Field>,
    /// Where the person lives or is registered, as this department writes it.
    #[serde(default)]
    #[schemars(example = &"户籍地址")]
    pub address: Option<Field>,
    /// The household register number the person belongs to.
    #[serde(default)]
    #[schemars(example = &"户号")]
    pub household_no: Option<Field>,
}

impl MentionSpec {
    /// The mapped fields by their published names.
    pub fn fields(&self) -> Vec<(&'static str, &Field)> {
        [
            ("citizen_id", &self.citizen_id),
            ("name", &self.name),
            ("sex", &self.sex),
            ("birth_date", &self.birth_date),
            ("ethnicity", &self.ethnicity),
            ("address", &self.address),
            ("household_no", &self.household_no),
        ]
        .into_iter()
        .filter_map(|(n, f)| f.as_ref().map(|f| (n, f)))
        .collect()
    }
}

impl Pipeline {
    /// Reads, parses and checks a pipeline file (including that its sources exist). `data_root`
    /// replaces the file's own, so one pipeline serves every generated city.
    pub fn load(path: &Path, data_root: Option<&Path>) -> Result<Pipeline, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let mut pipeline: Pipeline = toml::from_str(&text)
            .map_err(|source| ConfigError::Parse { path: path.into(), source: Box::new(source) })?;
        pipeline.file = path.to_path_buf();
        pipeline.sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        if let Some(root) = data_root {
            let absolute = std::path::absolute(root).map_err(|source| ConfigError::Read { path: root.into(), source })?;
            pipeline.pipeline.data_root = Some(absolute);
        }
        validate::check(&pipeline)?;
        Ok(pipeline)
    }

    /// The folder source paths are relative to.
    pub fn data_root(&self) -> PathBuf {
        let base = self.file.parent().unwrap_or(Path::new("."));
        match &self.pipeline.data_root {
            Some(root) => base.join(root),
            None => base.to_path_buf(),
        }
    }

    /// The files a source's path or glob names, sorted, so that runs are repeatable.
    pub fn source_files(&self, source: &Source) -> Result<Vec<PathBuf>, ConfigError> {
        let pattern = self.data_root().join(&source.path);
        let invalid = |message: String| ConfigError::Invalid {
            path: self.file.clone(),
            key: format!("source.{}.path", source.name),
            message,
        };
        let pattern_text = pattern.to_string_lossy().to_string();
        let mut files: Vec<PathBuf> = glob::glob(&pattern_text)
            .map_err(|e| invalid(format!("`{}` is not a valid glob: {e}", source.path)))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(invalid(format!("no file matches {pattern_text}; check data_root and path")));
        }
        Ok(files)
    }

    /// The source of that name, if the pipeline declares one.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// An `Invalid` error about `key` in this pipeline file.
    pub fn invalid(&self, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { path: self.file.clone(), key: key.into(), message: message.into() }
    }
}

/// Value maps keyed by what the department writes.
pub type ValueMap = BTreeMap<String, String>;
