//! Results as an Excel workbook, for the people analysts hand them to. Text stays text: an ID
//! number or household number is a text cell, never a number (that is how IDs become
//! `4.20502E+17`); dates are date cells, numbers number cells; a bold, frozen header row and
//! columns as wide as what they hold. Rows stream into the sheet (constant memory). Several
//! results (a voter roll of several districts) become several sheets of one workbook.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type, Float64Type};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use super::Rows;

/// Excel counts days from 1899-12-30; Arrow's Date32 from 1970-01-01.
const EXCEL_EPOCH_OFFSET: f64 = 25_569.0;
/// No column wider than this (characters).
const MAX_WIDTH: usize = 60;

/// How a column is written.
enum Cells {
    Text,
    Number,
    Date,
    Boolean,
}

fn cells(data_type: &DataType) -> Cells {
    match data_type {
        DataType::Date32 | DataType::Date64 => Cells::Date,
        DataType::Boolean => Cells::Boolean,
        t if t.is_numeric() => Cells::Number,
        _ => Cells::Text,
    }
}

/// Display width: CJK characters take two columns.
fn width(text: &str) -> usize {
    text.chars().map(|c| if (c as u32) >= 0x2E80 { 2 } else { 1 }).sum()
}

/// Each result as a sheet of the given name, in order; the workbook's bytes.
pub fn workbook(sheets: &[(&str, &Rows)]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    for (name, rows) in sheets {
        add_sheet(&mut book, name, rows)?;
    }
    book.save_to_buffer()
}

fn add_sheet(book: &mut Workbook, sheet: &str, rows: &Rows) -> Result<(), XlsxError> {
    let header = Format::new().set_bold();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let fields = rows.schema.fields();
    // Text of every cell once, for the widths (set before any row: the sheet streams).
    let text: Vec<Vec<arrow::array::ArrayRef>> = rows
        .batches
        .iter()
        .map(|b| b.columns().iter().map(|c| arrow::compute::cast(c, &DataType::Utf8)).collect::<Result<Vec<_>, _>>())
        .collect::<Result<_, _>>()
        .map_err(|e| XlsxError::ParameterError(e.to_string()))?;
    let mut widths: Vec<usize> = fields.iter().map(|f| width(f.name())).collect();
    for batch in &text {
        for (i, column) in batch.iter().enumerate() {
            let column = column.as_string::<i32>();
            let widest = column.iter().flatten().map(width).max().unwrap_or(0);
            widths[i] = widths[i].max(widest);
        }
    }
    let ws = book.add_worksheet_with_constant_memory()?;
    ws.set_name(sheet)?;
    for (i, w) in widths.iter().enumerate() {
        ws.set_column_width(i as u16, (*w).min(MAX_WIDTH) as f64 + 2.0)?;
    }
    for (i, field) in fields.iter().enumerate() {
        ws.write_string_with_format(0, i as u16, field.name(), &header)?;
    }
    ws.set_freeze_panes(1, 0)?;
    let mut row = 1u32;
    for (batch, batch_text) in rows.batches.iter().zip(&text) {
        let numbers: Vec<Option<arrow::array::ArrayRef>> = batch
            .columns()
            .iter()
            .map(|c| match cells(c.data_type()) {
                Cells::Number => arrow::compute::cast(c, &DataType::Float64).ok(),
                Cells::Date => arrow::compute::cast(c, &DataType::Date32).ok(),
                _ => None,
            })
            .collect();
        for r in 0..batch.num_rows() {
            for (i, column) in batch.columns().iter().enumerate() {
                if column.is_null(r) {
                    continue;
                }
                let col = i as u16;
                match (cells(column.data_type()), &numbers[i]) {
                    (Cells::Number, Some(n)) => {
                        ws.write_number(row, col, n.as_primitive::<Float64Type>().value(r))?;
                    }
                    (Cells::Date, Some(d)) => {
                        let days = d.as_primitive::<Date32Type>().value(r) as f64;
                        ws.write_number_with_format(row, col, days + EXCEL_EPOCH_OFFSET, &date)?;
                    }
                    (Cells::Boolean, _) => {
                        ws.write_boolean(row, col, column.as_boolean().value(r))?;
                    }
                    _ => {
                        ws.write_string(row, col, batch_text[i].as_string::<i32>().value(r))?;
                    }
                }
            }
            row += 1;
        }
    }
    Ok(())
}
