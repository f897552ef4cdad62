//! Delimited text (CSV and its cousins): quoting by `"`, any one-character delimiter, with or
//! without a header. Rows whose field count differs from the header are quarantined, not guessed.

use super::raw::{RawRow, RawSink};

/// Splits decoded text of whole records, starting at `first_line`, into the sink; the first
/// record of the file (`*first_record`) names the columns or sets their count. Returns the next line.
pub fn read_block(text: &str, first_line: u64, delimiter: char, header: bool, first_record: &mut bool, sink: &mut RawSink) -> u64 {
    let mut records = Records { chars: text.char_indices().peekable(), line: first_line, delimiter };
    while let Some((line, fields)) = records.next_record() {
        if fields.len() == 1 && fields[0].as_deref().is_none_or(str::is_empty) {
            continue; // a blank line is not a row
        }
        if std::mem::replace(first_record, false) {
            if header {
                sink.set_columns(fields.iter().map(|f| f.as_deref().unwrap_or_default().trim().to_string()).collect());
                continue;
            }
            sink.set_columns((1..=fields.len()).map(|i| format!("c{i}")).collect());
        }
        sink.push(RawRow { line, position: format!("line {line}"), values: fields });
    }
    records.line
}

/// Where the last complete record of a text ends: after its last newline outside quotes.
pub fn complete_records_end(text: &str) -> usize {
    let mut quoted = false;
    let mut end = 0;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => end = i + 1,
            _ => {}
        }
    }
    end
}

struct Records<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
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
        read_block(text, 1, delimiter, header, &mut true, &mut sink);
        (sink.columns().to_vec(), sink.test_rows())
    }

    #[test]
    fn blocks_end_after_the_last_record_outside_quotes() {
        assert_eq!(complete_records_end("a,b\n1,\"x\ny"), 4);
        assert_eq!(complete_records_end("a,b\n1,\"x\ny\"\n2"), 12);
        let mut sink = RawSink::for_test();
        let mut first = true;
        let next = read_block("a,b\n1,2\n", 1, ',', true, &mut first, &mut sink);
        read_block("3,\"4\n5\"\n", next, ',', true, &mut first, &mut sink);
        assert_eq!(sink.test_rows().iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3]);
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
