//! Addresses as structure: district, road, door number, building, unit and room, read from the
//! many ways departments write one dwelling (`湖北省宜昌市西陵区夷陵路12号3栋2单元1201室`,
//! `西陵区夷陵路12号3-2-1201`, `420502夷陵路十二号三幢二单元1201`), and the keys dwellings are
//! matched on: one at room level, one at building level. The published address keeps the
//! department's text; keys are for matching only.

mod districts;
mod numerals;

pub use districts::Districts;

use arrow::array::StringArray;

use crate::identity::names;

/// Endings of the sub-district units (street office, town, community) some departments write
/// between the district and the road, and others leave out.
const AREA_ENDINGS: &[&str] = &["街道办事处", "街道", "办事处", "社区居民委员会", "社区居委会", "居委会", "社区", "村委会", "镇", "乡"];

/// What follows a building's number.
const BUILDING_MARKERS: &[&str] = &["号楼", "栋", "幢", "座"];
/// What follows a unit's number.
const UNIT_MARKERS: &[&str] = &["单元"];
/// What follows a room's number.
const ROOM_MARKERS: &[&str] = &["室", "号房", "号", "户"];

/// One dwelling's address, each part in a canonical form (today's district name, Arabic numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// Today's name of the county-level district (`夷陵区` for a written `宜昌县`), if written.
    pub district: Option<String>,
    /// The road or street, or the village or estate where there is none, as written.
    pub road: String,
    /// The door number on the road (`12`, `12附1`).
    pub door: String,
    /// The building (栋, 幢, 号楼, 座), a number or a letter.
    pub building: String,
    /// The unit (单元) within the building.
    pub unit: String,
    /// The room (室), or the last number of `3-2-1201`.
    pub room: String,
    /// The cleaned text after the district, kept as the key when no door, building or room could
    /// be read.
    unread: Option<String>,
}

impl Address {
    /// Reads a written address. Never fails: what cannot be read is kept whole in the keys.
    pub fn parse(districts: &Districts, raw: &str) -> Address {
        let text = clean(raw);
        let mut at = 0;
        let province = districts.province(&text).map(|(len, code)| {
            at += len;
            code
        });
        let prefecture = districts.prefecture(&text[at..], province).map(|(len, code)| {
            at += len;
            code
        });
        let district = districts.county(&text[at..], prefecture.or(province)).map(|(len, county)| {
            at += len;
            county.name
        });
        let mut address = read_parts(&text[at..]);
        address.district = district;
        if address.door.is_empty() && address.building.is_empty() && address.room.is_empty() {
            address.unread = Some(text[at..].to_string());
        }
        address
    }

    /// The key at building level: district, road, door number and building.
    pub fn building_key(&self) -> String {
        match &self.unread {
            Some(text) => format!("{}|~{text}", self.district.as_deref().unwrap_or_default()),
            None => format!("{}|{}|{}|{}", self.district.as_deref().unwrap_or_default(), self.road, self.door, self.building),
        }
    }

    /// The key at room level: the building's key, the unit and the room.
    pub fn room_key(&self) -> String {
        match &self.unread {
            Some(_) => self.building_key(),
            None => format!("{}|{}|{}", self.building_key(), self.unit, self.room),
        }
    }
}

/// The house key of a dwelling no property unit stands for: `D` and 16 hex digits of the SHA-256
/// of its room-level key, the same every night and on every machine, and not the address itself.
pub fn dwelling_key(room_key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, room_key.as_bytes());
    let hex: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("D{hex}")
}

/// Room-level keys of a column of written addresses.
pub fn room_keys(districts: &Districts, raw: &StringArray) -> StringArray {
    raw.iter().map(|a| a.map(|a| Address::parse(districts, a).room_key())).collect()
}

/// Building-level keys of a column of written addresses.
pub fn building_keys(districts: &Districts, raw: &StringArray) -> StringArray {
    raw.iter().map(|a| a.map(|a| Address::parse(districts, a).building_key())).collect()
}

/// White space gone, full-width characters folded, traditional characters simplified, separators
/// of the number parts made one dash, `3#` read as building 3, and other punctuation dropped.
fn clean(raw: &str) -> String {
    fast2s::convert(&names::clean(raw))
        .chars()
        .filter_map(|c| match c {
            '－' | '—' | '–' | '‐' | '/' | '_' => Some('-'),
            '#' => Some('栋'),
            // `|` separates the parts of a key.
            ',' | '，' | '、' | '.' | '。' | '(' | ')' | '（' | '）' | '"' | '\'' | '|' => None,
            c => Some(c),
        })
        .collect()
}

/// A piece of the address after the district.
#[derive(Debug)]
enum Token<'a> {
    /// A written number in canonical form, and where it starts.
    Number(String, usize),
    Word(&'a str),
    Dash,
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Numeral,
        Letters,
        Dash,
        Word,
    }
    let kind = |c: char| match c {
        '-' => Kind::Dash,
        c if numerals::is_numeral(c) => Kind::Numeral,
        c if c.is_ascii_alphabetic() => Kind::Letters,
        _ => Kind::Word,
    };
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        let k = kind(c);
        let mut end = start + c.len_utf8();
        while let Some(&(i, next)) = chars.peek() {
            if k == Kind::Dash || kind(next) != k {
                break;
            }
            end = i + next.len_utf8();
            chars.next();
        }
        let piece = &text[start..end];
        out.push(match k {
            Kind::Dash => Token::Dash,
            Kind::Numeral | Kind::Letters => Token::Number(numerals::canonical(piece).unwrap_or_else(|| piece.to_string()), start),
            Kind::Word => Token::Word(piece),
        });
    }
    out
}

/// The word after token `i`, if any.
fn word_after<'a>(tokens: &[Token<'a>], i: usize) -> Option<&'a str> {
    match tokens.get(i + 1) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

fn starts_with_any(word: Option<&str>, markers: &[&str]) -> bool {
    word.is_some_and(|w| markers.iter().any(|m| w.starts_with(m)))
}

/// Road, door, building, unit and room from what follows the district.
fn read_parts(text: &str) -> Address {
    let tokens = tokens(text);
    let is_door = |i: usize| starts_with_any(word_after(&tokens, i), &["号"]) && !starts_with_any(word_after(&tokens, i), &["号楼", "号房"]);
    let is_structural = |i: usize| {
        matches!(tokens.get(i + 1), None | Some(Token::Dash))
            || starts_with_any(word_after(&tokens, i), &[BUILDING_MARKERS, UNIT_MARKERS, ROOM_MARKERS].concat())
    };
    let numbers = || tokens.iter().enumerate().filter_map(|(i, t)| matches!(t, Token::Number(..)).then_some(i));
    let mut address = Address::default();
    let (road_end, next) = match numbers().find(|&i| is_door(i)) {
        Some(door) => {
            // `12-1号`: the door number has a part before the dash.
            let first = match (door.checked_sub(2).map(|j| &tokens[j]), door.checked_sub(1).map(|j| &tokens[j])) {
                (Some(Token::Number(..)), Some(Token::Dash)) => door - 2,
                _ => door,
            };
            let parts: Vec<&str> = tokens[first..=door].iter().filter_map(|t| if let Token::Number(n, _) = t { Some(n.as_str()) } else { None }).collect();
            address.door = parts.join("-");
            let mut next = door + 1;
            // `12号附1号`: an annex of the door.
            if let (Some(Token::Word(w)), Some(Token::Number(n, _))) = (tokens.get(door + 1), tokens.get(door + 2))
                && matches!(w.strip_prefix("号"), Some("附" | "之"))
                && is_door(door + 2)
            {
                address.door = format!("{}附{n}", address.door);
                next = door + 3;
            }
            (start_of(&tokens, first, text.len()), next)
        }
        None => match numbers().find(|&i| is_structural(i)) {
            Some(first) => (start_of(&tokens, first, text.len()), first),
            None => (text.len(), tokens.len()),
        },
    };
    address.road = strip_areas(&text[..road_end]).to_string();
    // Numbers without a marker wait for the next marked number, or the end, to say what they are.
    let mut pending: Vec<String> = Vec::new();
    for i in next..tokens.len() {
        let Token::Number(n, _) = &tokens[i] else { continue };
        let word = word_after(&tokens, i);
        if starts_with_any(word, BUILDING_MARKERS) {
            address.building = n.clone();
        } else if starts_with_any(word, UNIT_MARKERS) {
            address.unit = n.clone();
            if address.building.is_empty() {
                address.building = pending.pop().unwrap_or_default();
            }
        } else if starts_with_any(word, ROOM_MARKERS) {
            address.room = n.clone();
            fill_building_and_unit(&mut address, std::mem::take(&mut pending));
        } else if word.is_none() {
            pending.push(n.clone());
            continue;
        }
        // A floor, or a number in an estate's name (`三峡花园`), says nothing of the dwelling.
        pending.clear();
    }
    if address.room.is_empty()
        && let Some(room) = pending.pop()
    {
        address.room = room;
        fill_building_and_unit(&mut address, pending);
    }
    address
}

/// Numbers written before the room with dashes: `3-2-1201` is building, unit and room; `3-1201`
/// building and room.
fn fill_building_and_unit(address: &mut Address, pending: Vec<String>) {
    let mut open: Vec<&mut String> = [&mut address.building, &mut address.unit].into_iter().filter(|s| s.is_empty()).collect();
    if open.len() > pending.len() {
        open.truncate(pending.len());
    }
    let skip = pending.len() - open.len();
    for (slot, n) in open.into_iter().zip(pending.into_iter().skip(skip)) {
        *slot = n;
    }
}

/// Where token `i` starts in the text.
fn start_of(tokens: &[Token<'_>], i: usize, text_len: usize) -> usize {
    match tokens.get(i) {
        Some(Token::Number(_, start)) => *start,
        _ => text_len,
    }
}

/// The road without the street office, town or community written before it.
fn strip_areas(road: &str) -> &str {
    let mut rest = road;
    loop {
        let cut = AREA_ENDINGS
            .iter()
            .filter_map(|ending| rest.find(ending).filter(|&i| rest[..i].chars().count() >= 2).map(|i| (i, ending.len())))
            .min_by_key(|&(i, len)| (i, std::cmp::Reverse(len)))
            .map(|(i, len)| i + len);
        match cut {
            Some(cut) if cut < rest.len() => rest = &rest[cut..],
            _ => return rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written variants of dwellings, as departments write them, and the room key each must give.
    const VARIANTS: &[(&str, &str)] = &[
        // Building, unit and room.
        ("湖北省宜昌市西陵区夷陵路12号3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("宜昌市西陵区夷陵路12号3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("宜昌西陵区夷陵路12号3-2-1201", "西陵区|夷陵路|12|3|2|1201"),
        ("湖北宜昌西陵区夷陵路12号3幢2单元1201", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路１２号３栋２单元１２０１室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区 夷陵路 12号 3栋 2单元 1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3号楼2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号三栋二单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路十二号三栋二单元一二零一室", "西陵区|夷陵路|12|3|2|1201"),
        ("420502夷陵路12号3-2-1201", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区云集街道夷陵路12号3栋2单元1201", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区云集街道办事处夷陵路12号3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号滨江花园3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵區夷陵路12號3棟2單元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3栋2单元12层1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("湖北省宜昌市西陵区夷陵路12号3栋2单元1201号", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3座2单元1201", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号院3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("湖北省宜昌市西陵区夷陵路12号3—2—1201", "西陵区|夷陵路|12|3|2|1201"),
        ("宜昌市，西陵区，夷陵路12号，3栋2单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3栋02单元1201室", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3栋2-1201", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3/2/1201", "西陵区|夷陵路|12|3|2|1201"),
        ("西陵区夷陵路12号3#2单元1201", "西陵区|夷陵路|12|3|2|1201"),
        // Building and room, no unit.
        ("伍家岗区沿江大道301号5-1502", "伍家岗区|沿江大道|301|5||1502"),
        ("伍家岗区沿江大道301号5栋1502室", "伍家岗区|沿江大道|301|5||1502"),
        ("湖北省宜昌市伍家岗区沿江大道301号5幢1502", "伍家岗区|沿江大道|301|5||1502"),
        ("宜昌市伍家岗区沿江大道301号5号楼1502室", "伍家岗区|沿江大道|301|5||1502"),
        ("伍家岗区沿江大道301号五栋1502", "伍家岗区|沿江大道|301|5||1502"),
        ("420503沿江大道301号5-1502", "伍家岗区|沿江大道|301|5||1502"),
        ("伍家岗区大公桥街道沿江大道301号5栋1502室", "伍家岗区|沿江大道|301|5||1502"),
        ("宜昌伍家岗区沿江大道三百零一号5-1502室", "伍家岗区|沿江大道|301|5||1502"),
        // A retired county written by its old name, and a town before the road.
        ("宜昌县小溪塔镇发展大道8号2-301", "夷陵区|发展大道|8|2||301"),
        ("夷陵区发展大道8号2栋301室", "夷陵区|发展大道|8|2||301"),
        ("湖北省宜昌市夷陵区小溪塔街道发展大道8号2幢301", "夷陵区|发展大道|8|2||301"),
        // 襄樊市襄阳区 is today's 襄阳市襄州区.
        ("湖北省襄樊市襄阳区人民路5号1-101", "襄州区|人民路|5|1||101"),
        ("襄阳市襄州区人民路5号1栋101室", "襄州区|人民路|5|1||101"),
        // A lettered tower; a door with an annex and one with two parts.
        ("西陵区东山大道100号A座1808", "西陵区|东山大道|100|A||1808"),
        ("西陵区东山大道100号a座18层1808室", "西陵区|东山大道|100|A||1808"),
        ("西陵区东山大道100号附1号3-201", "西陵区|东山大道|100附1|3||201"),
        ("西陵区东山大道100-2号3-201", "西陵区|东山大道|100-2|3||201"),
        // A municipality, a district name two cities have, and an estate with no road.
        ("北京市朝阳区建国路88号9号楼1单元501", "朝阳区|建国路|88|9|1|501"),
        ("朝阳区建国路88号9号楼1单元501室", "朝阳区|建国路|88|9|1|501"),
        ("西陵区三峡花园3栋2单元1201室", "西陵区|三峡花园||3|2|1201"),
        ("西陵区二马路7号1-1-101", "西陵区|二马路|7|1|1|101"),
        // A village address: group and house number.
        ("夷陵区小溪塔镇王家村3组15号", "夷陵区|王家村3组|15|||"),
    ];

    #[test]
    fn variants_of_a_dwelling_give_one_key() {
        let districts = Districts::new();
        assert!(VARIANTS.len() >= 40);
        let failures: Vec<String> = VARIANTS
            .iter()
            .filter_map(|(written, key)| {
                let got = Address::parse(&districts, written).room_key();
                (got != *key).then(|| format!("{written}: {got} (want {key})"))
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn different_dwellings_differ_and_buildings_are_shared() {
        let districts = Districts::new();
        let parse = |written: &str| Address::parse(&districts, written);
        let home = parse("西陵区夷陵路12号3栋2单元1201室");
        for other in [
            "西陵区夷陵路12号3栋2单元1202室",
            "西陵区夷陵路12号3栋1单元1201室",
            "西陵区夷陵路12号4栋2单元1201室",
            "西陵区夷陵路14号3栋2单元1201室",
            "西陵区夷陵大道12号3栋2单元1201室",
            "伍家岗区夷陵路12号3栋2单元1201室",
        ] {
            assert_ne!(parse(other).room_key(), home.room_key(), "{other}");
        }
        let neighbour = parse("宜昌市西陵区夷陵路12号3-1-502");
        assert_eq!(neighbour.building_key(), home.building_key());
        assert_eq!(home.building_key(), "西陵区|夷陵路|12|3");
        assert_ne!(parse("西陵区夷陵路12号4-1-502").building_key(), home.building_key());
    }

    #[test]
    fn unreadable_addresses_keep_their_text() {
        let districts = Districts::new();
        let unknown = Address::parse(&districts, "不详");
        assert_eq!(unknown.room_key(), "|~不详");
        assert_eq!(Address::parse(&districts, " 不 详 ").room_key(), unknown.room_key());
        assert_eq!(Address::parse(&districts, "").room_key(), "|~");
    }
}
