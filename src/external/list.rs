//! An external list as it arrives: comma-separated text (UTF-8, GBK or GB 18030) or an Excel
//! sheet, whose first row names the columns. The columns are found by the names lists use
//! (`身份证号`, `sfzh`, `citizen_id`, …) or as the operator maps them (`--column name=姓名`), and
//! each row becomes an entry of what it writes: ID number, name, birth date, sex.

use std::path::Path;

use arrow::array::{Array, AsArray};

use super::ListError;
use crate::config::Encoding;

/// What a list may say of a person, each with the column names it is known by (compared
/// without case; the first is the field's own name, used by `--column`).
const FIELDS: [&[&str]; 4] = [
    &["citizen_id", "id_number", "sfzh", "gmsfhm", "zjhm", "身份证号", "身份证号码", "公民身份号码", "证件号码"],
    &["name", "xm", "姓名"],
    &["birth_date", "csrq", "出生日期"],
    &["sex", "xb", "性别"],
];

/// One row of a list, its values as written (trimmed; an empty cell is none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListEntry {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    /// The ID number as written.
    pub citizen_id: Option<String>,
    /// The name as written.
    pub name: Option<String>,
    /// The birth date as written.
    pub birth_date: Option<String>,
    /// The sex as written.
    pub sex: Option<String>,
}

/// Reads the list at `path`; `columns` are the operator's mappings, `FIELD=HEADER` (e.g.
/// `name=姓名`), for headers the list's own names do not give away. A list needs a column of
/// ID numbers or of names; a row with more or fewer fields than the header is an error naming it.
pub fn read_list(path: &Path, encoding: Encoding, columns: &[String]) -> Result<Vec<ListEntry>, ListError> {
    let unusable = |message: String| ListError::Unusable { path: path.to_path_buf(), message };
    let chunk = crate::ingest::read_small_table(path, encoding).map_err(|e| match e {
        crate::ingest::IngestError::Decode { offset, encoding, .. } => {
            unusable(format!("not valid {encoding} at byte offset {offset}; give the list's encoding with --encoding (utf-8, gbk or gb18030)"))
        }
        e => e.into(),
    })?;
    if let Some(bad) = chunk.quarantine.first() {
        return Err(unusable(format!("{}: {}; fix the list (quote a value that holds a comma)", bad.position, bad.message)));
    }
    let position = |field: usize| -> Result<Option<usize>, ListError> {
        let own = FIELDS[field][0];
        let mapped = columns.iter().filter_map(|c| c.split_once('=')).find(|(f, _)| f.trim() == own).map(|(_, header)| header.trim());
        match mapped {
            Some(header) => chunk.columns.iter().position(|c| c == header).map(Some).ok_or_else(|| {
                unusable(format!("--column {own}={header}: the list has no column `{header}`; its columns are: {}", chunk.columns.join(", ")))
            }),
            None => Ok(chunk.columns.iter().position(|c| FIELDS[field].iter().any(|name| c.eq_ignore_ascii_case(name)))),
        }
    };
    for mapping in columns {
        let field = mapping.split_once('=').map(|(f, _)| f.trim());
        if !field.is_some_and(|f| FIELDS.iter().any(|names| names[0] == f)) {
            return Err(unusable(format!(
                "--column {mapping}: write FIELD=HEADER with FIELD one of {}",
                FIELDS.iter().map(|names| names[0]).collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let found = [position(0)?, position(1)?, position(2)?, position(3)?];
    if found[0].is_none() && found[1].is_none() {
        return Err(unusable(format!(
            "no column of ID numbers ({}) or names ({}) in the header ({}); name one with --column citizen_id=HEADER or --column name=HEADER",
            FIELDS[0].join(", "),
            FIELDS[1].join(", "),
            chunk.columns.join(", ")
        )));
    }
    let batch = &chunk.batch;
    let lines = batch.column_by_name(crate::ingest::raw::ROW_COLUMN).expect("raw batches carry their lines").as_primitive::<arrow::datatypes::UInt64Type>();
    let value = |column: Option<usize>, row: usize| -> Option<String> {
        let array = batch.column(column?).as_string::<i32>();
        let text = array.is_valid(row).then(|| array.value(row).trim())?;
        (!text.is_empty()).then(|| text.to_string())
    };
    Ok((0..batch.num_rows())
        .map(|row| ListEntry {
            line: lines.value(row),
            citizen_id: value(found[0], row),
            name: value(found[1], row),
            birth_date: value(found[2], row),
            sex: value(found[3], row),
        })
        .filter(|e| e.citizen_id.is_some() || e.name.is_some() || e.birth_date.is_some() || e.sex.is_some())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &[u8], encoding: Encoding, columns: &[&str]) -> Result<Vec<ListEntry>, ListError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.csv");
        std::fs::write(&path, text).unwrap();
        read_list(&path, encoding, &columns.iter().map(|c| c.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn columns_are_found_by_the_names_lists_use() {
        let (gb, _, _) = encoding_rs::GB18030.encode("序号,姓名,公民身份号码,出生日期\n1,张伟,420502199001011234,1990-01-01\n\n2, 李丽 ,,\n");
        let entries = list(&gb, Encoding::Gb18030, &[]).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], ListEntry {
            line: 2,
            citizen_id: Some("420502199001011234".into()),
            name: Some("张伟".into()),
            birth_date: Some("1990-01-01".into()),
            sex: None
        });
        assert_eq!((entries[1].line, entries[1].name.as_deref(), entries[1].citizen_id.as_deref()), (4, Some("李丽"), None));
    }

    #[test]
    fn the_operator_maps_what_the_header_does_not_give_away() {
        let entries = list("编号,当事人,证号\n1,王芳,110105199001011234\n".as_bytes(), Encoding::Utf8, &["name=当事人", "citizen_id=证号"]).unwrap();
        assert_eq!(entries[0].name.as_deref(), Some("王芳"));
        assert_eq!(entries[0].citizen_id.as_deref(), Some("110105199001011234"));
    }

    #[test]
    fn a_list_that_cannot_be_used_says_what_to_do() {
        let none = list(b"a,b\n1,2\n", Encoding::Utf8, &[]).unwrap_err().to_string();
        assert!(none.contains("--column citizen_id=HEADER"), "{none}");
        let mapped = list(b"a,b\n1,2\n", Encoding::Utf8, &["name=c"]).unwrap_err().to_string();
        assert!(mapped.contains("no column `c`") && mapped.contains("a, b"), "{mapped}");
        let field = list(b"name\nx\n", Encoding::Utf8, &["nickname=name"]).unwrap_err().to_string();
        assert!(field.contains("FIELD one of citizen_id, name"), "{field}");
        let width = list(b"name,citizen_id\nx\n", Encoding::Utf8, &[]).unwrap_err().to_string();
        assert!(width.contains("line 2") && width.contains("1 fields where the header has 2"), "{width}");
        let encoding = list(&encoding_rs::GB18030.encode("姓名\n张伟\n").0, Encoding::Utf8, &[]).unwrap_err().to_string();
        assert!(encoding.contains("not valid utf-8 at byte offset 0"), "{encoding}");
    }
}
