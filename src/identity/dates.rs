//! Dates as departments write them: `20230105`, `2023-01-05`, `2023/1/5`, `2023年1月5日`,
//! `2023.1.5`, Excel serial numbers, and year-months (`202301`) for payment periods.
//! A value is either a real calendar date or a reason why not; callers keep the raw text.

use chrono::{Datelike, Duration, NaiveDate};

/// Why a date value could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    /// Empty, or only white space.
    Missing,
    /// Not in any known format.
    Unparseable,
    /// The right shape but not a calendar date (Feb 30).
    Impossible,
    /// A real date after the run date.
    Future,
}

impl DateProblem {
    /// The problem in words (`missing`, `future`, …), for warnings and messages; it also picks the
    /// quarantine reason code.
    pub fn as_str(self) -> &'static str {
        match self {
            DateProblem::Missing => "missing",
            DateProblem::Unparseable => "unparseable",
            DateProblem::Impossible => "impossible",
            DateProblem::Future => "future",
        }
    }
}

/// Excel's day 0 in the 1900 date system, after its Feb 29 1900 bug.
fn excel_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).expect("valid")
}

/// Parses a day in any of the formats above; dates after `today` are `Future`.
pub fn parse_date(raw: &str, today: NaiveDate) -> Result<NaiveDate, DateProblem> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(DateProblem::Missing);
    }
    let (y, m, d) = split_ymd(text).ok_or(DateProblem::Unparseable)?;
    let date = match (y, m, d) {
        (Some(y), Some(m), Some(d)) => {
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1850..=2200).contains(&y) {
                return Err(DateProblem::Impossible);
            }
            NaiveDate::from_ymd_opt(y, m, d).ok_or(DateProblem::Impossible)?
        }
        (None, None, Some(serial)) => excel_epoch() + Duration::days(i64::from(serial)),
        _ => return Err(DateProblem::Unparseable),
    };
    if date > today {
        return Err(DateProblem::Future);
    }
    Ok(date)
}

/// Parses a payment period `YYYYMM`, `YYYY-MM` or `YYYY年M月` into its first day.
pub fn parse_month(raw: &str) -> Result<NaiveDate, DateProblem> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(DateProblem::Missing);
    }
    let parts = numeric_parts(text);
    let (y, m) = match parts.as_slice() {
        [ym] if ym.len() == 6 => (ym[..4].parse().ok(), ym[4..].parse().ok()),
        [y, m] if y.len() == 4 => (y.parse().ok(), m.parse().ok()),
        _ => (None, None),
    };
    let (Some(y), Some(m)) = (y, m) else { return Err(DateProblem::Unparseable) };
    NaiveDate::from_ymd_opt(y, m, 1).ok_or(DateProblem::Impossible)
}

/// Days since the Unix epoch, as Arrow's Date32 stores them.
pub fn to_date32(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days() as i32
}

/// The inverse of [`to_date32`].
pub fn from_date32(days: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid") + Duration::days(i64::from(days))
}

/// The date `years` years before `date`, Feb 29 becoming Feb 28.
pub fn years_before(date: NaiveDate, years: i32) -> NaiveDate {
    let y = date.year() - years;
    NaiveDate::from_ymd_opt(y, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(y, date.month(), date.day() - 1))
        .expect("valid")
}

fn numeric_parts(text: &str) -> Vec<&str> {
    text.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).collect()
}

/// Splits a text into year, month and day; an Excel serial comes back as the day alone.
fn split_ymd(text: &str) -> Option<(Option<i32>, Option<u32>, Option<u32>)> {
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '-' | '/' | '.' | '年' | '月' | '日' | ' ' | ':' | 'T');
    if !text.chars().all(allowed) {
        return None;
    }
    // A trailing time of day ("2023-01-05 00:00:00") is dropped.
    let date_part = text.split([' ', 'T']).next().unwrap_or(text);
    let parts = numeric_parts(date_part);
    match parts.as_slice() {
        [compact] if compact.len() == 8 => Some((
            compact[..4].parse().ok(),
            compact[4..6].parse().ok(),
            compact[6..].parse().ok(),
        )),
        // Excel serials from 1900-01-01 to about 2100.
        [serial] if (1..=6).contains(&serial.len()) && !date_part.contains(['-', '/', '年']) => {
            let n: u32 = serial.parse().ok()?;
            (1..=80_000).contains(&n).then_some((None, None, Some(n)))
        }
        [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => {
            Some((y.parse().ok(), m.parse().ok(), d.parse().ok()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn every_department_format_parses_to_the_same_day() {
        let today = day(2026, 11, 23);
        for raw in ["20230105", "2023-01-05", "2023/1/5", "2023年1月5日", "2023.01.05", "44931", " 2023-1-5 ", "2023-01-05 00:00:00"] {
            assert_eq!(parse_date(raw, today), Ok(day(2023, 1, 5)), "{raw}");
        }
    }

    #[test]
    fn bad_dates_say_why() {
        let today = day(2026, 11, 23);
        assert_eq!(parse_date("2023-02-30", today), Err(DateProblem::Impossible));
        assert_eq!(parse_date("20231301", today), Err(DateProblem::Impossible));
        assert_eq!(parse_date("2030-01-01", today), Err(DateProblem::Future));
        assert_eq!(parse_date("", today), Err(DateProblem::Missing));
        assert_eq!(parse_date("yesterday", today), Err(DateProblem::Unparseable));
        assert_eq!(parse_date("1/5/2023", today), Err(DateProblem::Unparseable));
    }

    #[test]
    fn months_and_day_arithmetic() {
        assert_eq!(parse_month("202402"), Ok(day(2024, 2, 1)));
        assert_eq!(parse_month("2024-02"), Ok(day(2024, 2, 1)));
        assert_eq!(parse_month("2024年2月"), Ok(day(2024, 2, 1)));
        assert_eq!(parse_month("202413"), Err(DateProblem::Impossible));
        assert_eq!(from_date32(to_date32(day(1950, 7, 1))), day(1950, 7, 1));
        assert_eq!(years_before(day(2024, 2, 29), 18), day(2006, 2, 28));
    }
}
