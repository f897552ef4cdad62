//! Delimited text (CSV and its cousins): quoting by `"`, any one-character delimiter, with or
//! without a header. Rows whose field count differs from the header are quarantined, not guessed.

use super::raw::{RawRow, RawSink};

/// Splits decoded text into records and hands each to the sink with its starting line number.
pub fn read(text: &str, delimiter: char, header: bool, sink: &mut RawSink) {
    let mut records = Records { chars: text.char_indices().peekable(), text, line: 1, delimiter };
    let mut first = true;
    while let Some((line, fields)) = records.next_record() {
        if fields.len() == 1 && fields[0].as_deref().is_none_or(str::is_empty) {
            continue; // a blank line is not a row
        }
        if first {
            first = false;
            if header {
                sink.set_columns(fields.iter().map(|f| f.as_deref().unwrap_or_default().trim().to_string()).collect());
                continue;
            }
            sink.set_columns((1..=fields.len()).map(|i| format!("c{i}")).collect());
        }
        sink.push(RawRow { line, position: format!("line {line}"), values: fields });
    }
}

struct Records<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
    line: u64,
    delimiter: char,
}

impl Records<'_> {
    /// One record: its first line and its fields, quotes removed.
    fn next_record(&mut self) -> Option<(u64, Vec<Option<String>>)> {
        self.chars.peek()?;
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        while let Some((_, c)) = self.chars.next() {
            if quoted {
                match c {
                    '"' if self.chars.peek().map(|p| p.1) == Some('"') => {
                        self.chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                c if c == self.delimiter => {
                    fields.push(finish(&mut field, &mut was_quoted));
                }
                '\r' if self.chars.peek().map(|p| p.1) == Some('\n') => {}
                '\n' => {
                    self.line += 1;
                    fields.push(finish(&mut field, &mut was_quoted));
                    return Some((start_line, fields));
                }
                _ => field.push(c),
            }
        }
        let _ = self.text;
        fields.push(finish(&mut field, &mut was_quoted));
        Some((start_line, fields))
    }
}

/// An empty unquoted field is null; `""` is an empty string.
fn finish(field: &mut String, was_quoted: &mut bool) -> Option<String> {
    let value = std::mem::take(field);
    let quoted = std::mem::replace(was_quoted, false);
    (quoted || !value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, delimiter: char, header: bool) -> (Vec<String>, Vec<(u64, Vec<Option<String>>)>) {
        let mut sink = RawSink::for_test();
        read(text, delimiter, header, &mut sink);
        (sink.columns().to_vec(), sink.test_rows())
    }

    #[test]
    fn quoting_multiline_and_nulls() {
        let (cols, rows) = rows("a,b,c\r\n1,\"x,y\",\n\n2,\"say \"\"hi\"\"\nthere\",\"\"\n3,z,w", ',', true);
        assert_eq!(cols, ["a", "b", "c"]);
        assert_eq!(rows[0], (2, vec![Some("1".into()), Some("x,y".into()), None]));
        assert_eq!(rows[1], (4, vec![Some("2".into()), Some("say \"hi\"\nthere".into()), Some(String::new())]));
        assert_eq!(rows[2].0, 6);
    }

    #[test]
    fn headerless_files_get_positional_names() {
        let (cols, rows) = rows("1|2\n3|4\n", '|', false);
        assert_eq!(cols, ["c1", "c2"]);
        assert_eq!(rows.len(), 2);
    }
}
