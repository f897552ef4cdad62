//! Excel workbooks (`.xlsx`): a named sheet or the first, its first row as the header. Cells are
//! read as the department's text would have been: integral numbers without a decimal point,
//! real Excel dates as ISO days, and numbers too long to be exact (an ID typed into a number
//! cell) written as Excel shows them, so identity sees them for the damage they are.

use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use chrono::{Duration, NaiveDate};

use super::IngestError;
use super::raw::{RawRow, RawSink};

/// The most a workbook may inflate to: a sheet is read whole, so a zip that inflates to
/// gigabytes (a "zip bomb", or a workbook far beyond any department's export) is refused up front.
const MAX_INFLATED_BYTES: u64 = 1 << 30;

pub fn read(path: &Path, sheet: Option<&str>, header: bool, sink: &mut RawSink) -> Result<(), IngestError> {
    let bad = |message: String| IngestError::Unreadable { file: path.to_path_buf(), message };
    check_inflated_size(path).map_err(bad)?;
    let mut workbook: Xlsx<_> = calamine::open_workbook(path).map_err(|e: calamine::XlsxError| bad(e.to_string()))?;
    let names = workbook.sheet_names();
    let name = match sheet {
        Some(s) => names.iter().find(|n| n.as_str() == s).cloned().ok_or_else(|| bad(format!("no sheet `{s}`; sheets are: {}", names.join(", "))))?,
        None => names.first().cloned().ok_or_else(|| bad("the workbook has no sheet".into()))?,
    };
    // calamine panics on some malformed cell references (an overflow in `get_row_column`, found by
    // the fuzz target `xlsx`): the file is unreadable, not the night's end.
    let range = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| workbook.worksheet_range(&name)))
        .map_err(|panic| {
            let why = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
            bad(format!("sheet `{name}` cannot be read, its cells are malformed ({why}); export it again from Excel"))
        })?
        .map_err(|e| bad(e.to_string()))?;
    let first_row = range.start().map_or(0, |(r, _)| r as u64);
    let mut rows = range.rows().enumerate();
    if header {
        if let Some((_, cells)) = rows.next() {
            sink.set_columns(cells.iter().map(|c| cell_text(c).unwrap_or_default().trim().to_string()).collect());
        }
    }
    for (i, cells) in rows {
        let values: Vec<Option<String>> = cells.iter().map(cell_text).collect();
        if values.iter().all(Option::is_none) {
            continue;
        }
        if sink.columns().is_empty() {
            sink.set_columns((1..=values.len()).map(|i| format!("c{i}")).collect());
        }
        let line = first_row + i as u64 + 1;
        sink.push(RawRow { line, position: format!("sheet {name} row {line}"), values });
    }
    Ok(())
}

/// The workbook's parts as the zip declares them inflated, against `MAX_INFLATED_BYTES`.
fn check_inflated_size(path: &Path) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| format!("not an xlsx workbook (a zip archive): {e}"))?;
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        total = total.saturating_add(entry.size());
        if total > MAX_INFLATED_BYTES {
            return Err(format!(
                "the workbook inflates to more than {} MB (part `{}` alone is {} MB): refused; export the sheet as CSV or split it",
                MAX_INFLATED_BYTES >> 20,
                entry.name().unwrap_or_default(),
                entry.size() >> 20
            ));
        }
    }
    Ok(())
}

/// A cell as text; empty cells and errors are null.
fn cell_text(cell: &Data) -> Option<String> {
    match cell {
        Data::Empty | Data::Error(_) => None,
        Data::String(s) => Some(s.clone()),
        Data::Int(i) => Some(i.to_string()),
        Data::Float(f) => Some(number_text(*f)),
        Data::Bool(b) => Some(b.to_string()),
        Data::DateTime(d) => {
            let epoch = NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid");
            Some((epoch + Duration::days(d.as_f64().floor() as i64)).to_string())
        }
        Data::DateTimeIso(s) | Data::DurationIso(s) => Some(s.clone()),
    }
}

/// Integral numbers as integers while they are exact; beyond 15 digits, what Excel displays.
fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.abs() >= 1e15 {
        let text = format!("{f:.5E}");
        let (mantissa, exponent) = text.split_once('E').unwrap_or((&text, "0"));
        format!("{}E+{}", mantissa.trim_end_matches('0').trim_end_matches('.'), exponent)
    } else {
        f.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_a_department_typed_them() {
        assert_eq!(number_text(3500.0), "3500");
        assert_eq!(number_text(2675.68), "2675.68");
        assert_eq!(number_text(420502199001011234.0), "4.20502E+17");
        let date = Data::DateTime(calamine::ExcelDateTime::new(44931.0, calamine::ExcelDateTimeType::DateTime, false));
        assert_eq!(cell_text(&date).as_deref(), Some("2023-01-05"));
    }

    /// Found by the fuzz target `xlsx`: a cell reference whose column overflows made calamine
    /// panic; the workbook is now an unreadable file naming its sheet.
    #[test]
    fn a_malformed_cell_reference_is_an_unreadable_file_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("filings.xlsx");
        std::fs::write(&path, include_bytes!("testdata/cell_reference_overflow.xlsx.fuzz")).unwrap();
        let mut sink = RawSink::for_test();
        match read(&path, None, true, &mut sink) {
            Err(IngestError::Unreadable { file, message }) => {
                assert_eq!(file, path);
                assert!(message.contains("cannot be read, its cells are malformed"), "{message}");
            }
            other => panic!("expected an unreadable file, got {:?}", other.map(|_| ())),
        }
    }
}
