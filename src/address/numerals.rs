//! Numbers as departments write them in addresses: Arabic digits, Chinese numerals read by place
//! (`十二`, `一百零一`) or digit by digit (`一二零一`), and building letters (`A座`).

/// Whether a character can be part of a written number.
pub fn is_numeral(c: char) -> bool {
    c.is_ascii_digit() || digit_value(c).is_some() || place_value(c).is_some()
}

/// The canonical text of a written number: Arabic digits without leading zeros, or the letters
/// upper-cased. `None` when the text is not a number (`十十`).
pub fn canonical(written: &str) -> Option<String> {
    if written.chars().all(|c| c.is_ascii_alphabetic()) {
        return Some(written.to_ascii_uppercase());
    }
    let value = if written.chars().any(|c| place_value(c).is_some()) {
        by_place(written)?
    } else {
        let digits: String = written.chars().map(|c| c.to_digit(10).or_else(|| digit_value(c))).collect::<Option<Vec<u32>>>()?.iter().map(u32::to_string).collect();
        let trimmed = digits.trim_start_matches('0');
        return Some(if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() });
    };
    Some(value.to_string())
}

fn digit_value(c: char) -> Option<u32> {
    "零一二三四五六七八九".chars().position(|d| d == c).map(|p| p as u32).or((c == '〇').then_some(0))
}

fn place_value(c: char) -> Option<u64> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1000),
        _ => None,
    }
}

/// `十二` = 12, `二十` = 20, `一百零一` = 101; each place at most once, in falling order.
fn by_place(written: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut pending: Option<u64> = None;
    let mut last_place = u64::MAX;
    for c in written.chars() {
        if let Some(place) = place_value(c) {
            if place >= last_place {
                return None;
            }
            total += pending.take().unwrap_or(1) * place;
            last_place = place;
        } else {
            let digit = c.to_digit(10).map(u64::from).or_else(|| digit_value(c).map(u64::from))?;
            if pending.is_some() && digit != 0 {
                return None;
            }
            pending = (digit != 0).then_some(digit);
        }
    }
    Some(total + pending.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_written_form() {
        for (written, value) in [
            ("12", "12"),
            ("0201", "201"),
            ("十二", "12"),
            ("十", "10"),
            ("二十", "20"),
            ("一百零一", "101"),
            ("三", "3"),
            ("一二零一", "1201"),
            ("一二〇一", "1201"),
            ("a", "A"),
        ] {
            assert_eq!(canonical(written).as_deref(), Some(value), "{written}");
        }
        assert_eq!(canonical("十十"), None);
        assert!(is_numeral('〇') && is_numeral('7') && !is_numeral('路'));
    }
}
