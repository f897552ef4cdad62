//! JSON lines (one object per line) and JSON arrays of objects. Nested objects flatten to
//! `parent.child` columns; the array named by `explode` yields one row per element (one property,
//! one row per owner), and its position is kept as a JSON path (`line 7 owners[1]`, `[12] owners[0]`).

use serde_json::{Map, Value};

use super::raw::{RawRow, RawSink};

/// Reads whole lines of a JSON-lines text, the first being `first_line`; returns the next line.
pub fn read_lines(text: &str, first_line: u64, explode: Option<&str>, sink: &mut RawSink) -> u64 {
    let mut next = first_line;
    for (i, line) in text.lines().enumerate() {
        let line_no = first_line + i as u64;
        next = line_no + 1;
        if line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(o)) => o,
            Ok(_) => {
                sink.reject(line_no, format!("line {line_no}"), "not_an_object", clip(line), "the line is JSON but not an object".into());
                continue;
            }
            Err(e) => {
                sink.reject(line_no, format!("line {line_no}"), "invalid_json", clip(line), e.to_string());
                continue;
            }
        };
        push_object(&object, line_no, &format!("line {line_no}"), explode, sink);
    }
    next
}

/// A file holding one JSON array of objects; rows are numbered by element.
pub fn read_array(text: &str, explode: Option<&str>, sink: &mut RawSink) {
    let items = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => items,
        Ok(_) => {
            sink.reject(1, "file".into(), "not_an_array", clip(text), "the file is JSON but not an array of objects".into());
            return;
        }
        Err(e) => {
            sink.reject(e.line() as u64, format!("line {}", e.line()), "invalid_json", String::new(), e.to_string());
            return;
        }
    };
    for (i, item) in items.into_iter().enumerate() {
        match item {
            Value::Object(object) => push_object(&object, i as u64 + 1, &format!("[{i}]"), explode, sink),
            other => sink.reject(i as u64 + 1, format!("[{i}]"), "not_an_object", clip(&other.to_string()), "the element is not an object".into()),
        }
    }
}

/// One object: its rows (one per element of the exploded array, else one).
fn push_object(object: &Map<String, Value>, line_no: u64, at: &str, explode: Option<&str>, sink: &mut RawSink) {
    let mut parent = Vec::new();
    flatten("", object, explode, sink, &mut parent);
    let elements: Vec<&Value> = match explode.and_then(|key| object.get(key)) {
        Some(Value::Array(items)) if !items.is_empty() => items.iter().collect(),
        _ => vec![&Value::Null],
    };
    for (n, element) in elements.iter().enumerate() {
        let mut values = parent.clone();
        let position = match explode {
            Some(key) if !element.is_null() => format!("{at} {key}[{n}]"),
            _ => at.to_string(),
        };
        if let (Some(key), Value::Object(fields)) = (explode, element) {
            flatten(key, fields, None, sink, &mut values);
        }
        let width = sink.columns().len();
        let mut row = vec![None; width];
        for (i, v) in values {
            row[i] = v;
        }
        sink.push(RawRow { line: line_no, position, values: row });
    }
}

/// Writes an object's scalar fields as (column index, text) pairs, nested objects as dotted names.
fn flatten(prefix: &str, object: &Map<String, Value>, skip: Option<&str>, sink: &mut RawSink, out: &mut Vec<(usize, Option<String>)>) {
    for (key, value) in object {
        if prefix.is_empty() && Some(key.as_str()) == skip {
            continue;
        }
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(inner) => flatten(&name, inner, None, sink, out),
            Value::Null => out.push((sink.column_index(&name), None)),
            Value::String(s) => out.push((sink.column_index(&name), Some(s.clone()))),
            other => out.push((sink.column_index(&name), Some(other.to_string()))),
        }
    }
}

fn clip(line: &str) -> String {
    line.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explodes_nested_owners_one_row_each() {
        let mut sink = RawSink::for_test();
        let text = "{\"unit\":\"U1\",\"loc\":{\"city\":\"宜昌\"},\"owners\":[{\"name\":\"张伟\"},{\"name\":\"李丽\",\"id\":\"1\"}]}\n{bad\n{\"unit\":\"U2\",\"owners\":[]}\n";
        read_lines(text, 1, Some("owners"), &mut sink);
        let cols = sink.columns().to_vec();
        assert!(cols.contains(&"owners.name".to_string()) && cols.contains(&"loc.city".to_string()));
        let rows = sink.test_rows();
        assert_eq!(rows.len(), 3);
        assert_eq!(sink.quarantine.len(), 1);
        assert_eq!(sink.quarantine[0].row, 2);
        assert_eq!(sink.rows_read, 4);
    }
}
