//! Writing the city as each department exports it, damaged at realistic rates, with the ground
//! truth of every person mention written beside it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate};
use encoding_rs::GB18030;

use super::GenerateError;
use super::city::{City, Person, add_months};
use super::damage::{self, AddressStyle, DateStyle};
use crate::rng::Rng;
use super::xlsx::{self, Cell};
use crate::identity::division;

/// Source names as the sample pipeline declares them (truth rows carry them).
pub const REGISTER: &str = "household_register";
pub const INSURED: &str = "si_insured";
pub const PROPERTY: &str = "housing_property";
pub const BIRTHS: &str = "birth_certificates";
pub const CREMATIONS: &str = "cremations";
pub const FLOATING: &str = "floating_population";
pub const RENTALS: &str = "rental_filings";

/// Damage rates for a copied person mention.
struct Rates {
    id_missing: f64,
    id_substitution: f64,
    id_transposition: f64,
    id_family: f64,
    id_full_width: f64,
    id_spaces: f64,
    id_excel: f64,
    id_legacy: f64,
    name_homophone: f64,
    name_traditional: f64,
    name_spaces: f64,
    name_dropped: f64,
    name_question: f64,
}

const COPIED: Rates = Rates {
    id_missing: 0.015,
    id_substitution: 0.01,
    id_transposition: 0.005,
    id_family: 0.003,
    id_full_width: 0.005,
    id_spaces: 0.01,
    id_excel: 0.0,
    id_legacy: 0.05,
    name_homophone: 0.015,
    name_traditional: 0.01,
    name_spaces: 0.01,
    name_dropped: 0.003,
    name_question: 0.002,
};

const SPREADSHEET: Rates = Rates { id_excel: 0.004, ..COPIED };

/// A record a department corrected: copied as registered.
const CLEAN: Rates = Rates {
    id_missing: 0.0,
    id_substitution: 0.0,
    id_transposition: 0.0,
    id_family: 0.0,
    id_full_width: 0.0,
    id_spaces: 0.0,
    id_excel: 0.0,
    id_legacy: 0.0,
    name_homophone: 0.0,
    name_traditional: 0.0,
    name_spaces: 0.0,
    name_dropped: 0.0,
    name_question: 0.0,
};

pub struct Writer<'a> {
    pub city: &'a City,
    pub out: PathBuf,
    /// The current row's generator; `row` reseeds it, so a row is the same whatever comes before it.
    rng: Rng,
    base: Rng,
    truth: BufWriter<File>,
    /// Persons whose cremation record was quarantinable (missing death date).
    pub cremation_unusable: Vec<bool>,
}

fn create(path: &Path) -> Result<BufWriter<File>, GenerateError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| GenerateError::Io { path: dir.to_path_buf(), source })?;
    }
    let file = File::create(path).map_err(|source| GenerateError::Io { path: path.to_path_buf(), source })?;
    Ok(BufWriter::with_capacity(1 << 20, file))
}

fn write_all(path: &Path, w: &mut impl Write, bytes: &[u8]) -> Result<(), GenerateError> {
    w.write_all(bytes).map_err(|source| GenerateError::Io { path: path.to_path_buf(), source })
}

/// One CSV line, quoting fields that need it.
pub fn csv_line(fields: &[&str]) -> String {
    let mut line = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        if f.contains([',', '"', '\n']) {
            line.push('"');
            line.push_str(&f.replace('"', "\"\""));
            line.push('"');
        } else {
            line.push_str(f);
        }
    }
    line.push('\n');
    line
}

impl<'a> Writer<'a> {
    pub fn new(city: &'a City, out: &Path, seed: u64) -> Result<Self, GenerateError> {
        let mut truth = create(&out.join("truth/mentions.csv"))?;
        write_all(out, &mut truth, csv_line(&["source", "record_key", "role", "person_id"]).as_bytes())?;
        Ok(Writer { city, out: out.to_path_buf(), rng: Rng::new(seed), base: Rng::new(seed ^ 0xFEED), truth, cremation_unusable: vec![false; city.persons.len()] })
    }

    fn truth(&mut self, source: &str, key: &str, role: &str, person: usize) -> Result<(), GenerateError> {
        let line = csv_line(&[source, key, role, &Person::key(person)]);
        write_all(&self.out, &mut self.truth, line.as_bytes())
    }

    pub fn finish(mut self) -> Result<Vec<bool>, GenerateError> {
        self.truth.flush().map_err(|source| GenerateError::Io { path: self.out.clone(), source })?;
        Ok(self.cremation_unusable)
    }

    /// Starts a row: its randomness depends on the source and the row's own number only, so
    /// rows of a person whose records did not change are the same on the next night.
    fn row(&mut self, source: u64, id: usize) {
        self.rng = self.base.fork((source << 40) ^ id as u64);
    }

    /// A register address as the department writing row `id` of `source` writes it. Its draws
    /// come from a stream of their own, so the row's other damage is what it would be without.
    fn address_as(&self, source: u64, id: usize, registered: &str, style: AddressStyle) -> String {
        const ADDRESS_STREAM: u64 = 0xAD << 56;
        damage::address_text(&mut self.base.fork(ADDRESS_STREAM ^ (source << 40) ^ id as u64), registered, style)
    }

    /// Whether a person registered elsewhere never filed with the floating population here, so
    /// that no register of this city holds them: they are seen only where they work, rent or
    /// own (one in ten). A stream of its own, so every other row is what it would be without.
    fn never_filed(&self, p: usize) -> bool {
        const UNFILED_STREAM: u64 = 0x0F << 56;
        self.base.fork(UNFILED_STREAM ^ p as u64).chance(0.1)
    }

    /// The person's ID number as another department copied it (as registered, once corrected).
    fn copied_id(&mut self, p: usize, rates: &Rates) -> String {
        let person = &self.city.persons[p];
        let rates = if person.corrected { &CLEAN } else { rates };
        let rng = &mut self.rng;
        let mut id = person.id.clone();
        let x = rng.unit();
        let mut t = 0.0;
        let mut hit = |rate: f64| {
            t += rate;
            x < t
        };
        if hit(rates.id_missing) {
            return String::new();
        } else if hit(rates.id_substitution) {
            id = damage::id_substitution(rng, &id);
        } else if hit(rates.id_transposition) {
            id = damage::id_transposition(rng, &id);
        } else if hit(rates.id_family) {
            let relative = person.spouse.or(person.father).or(person.mother);
            if let Some(r) = relative {
                id = self.city.persons[r].id.clone();
            }
        } else if hit(rates.id_excel) {
            return damage::excel_float(&id);
        } else if person.birth.year() < 1980 && hit(rates.id_legacy) {
            id = damage::legacy_15(&id).unwrap_or(id);
        }
        if id.ends_with('X') && rng.chance(0.5) {
            id = id.replace('X', "x");
        }
        if rng.chance(rates.id_full_width) {
            id = damage::full_width(&id);
        }
        if rng.chance(rates.id_spaces) {
            id = damage::stray_spaces(rng, &id);
        }
        id
    }

    /// The person's name as another department copied it (as registered, once corrected).
    fn copied_name(&mut self, p: usize, rates: &Rates) -> String {
        let person = &self.city.persons[p];
        let rates = if person.corrected { &CLEAN } else { rates };
        let rng = &mut self.rng;
        let (surname, given) = (person.surname.as_str(), person.given.as_str());
        let name = person.name();
        let x = rng.unit();
        let variant = if x < rates.name_homophone {
            damage::homophone(rng, surname, given)
        } else if x < rates.name_homophone + rates.name_traditional {
            damage::traditional(&name)
        } else if x < rates.name_homophone + rates.name_traditional + rates.name_dropped {
            damage::dropped_character(rng, surname, given)
        } else if x < rates.name_homophone + rates.name_traditional + rates.name_dropped + rates.name_question {
            damage::question_mark(surname, given)
        } else {
            None
        };
        let name = variant.unwrap_or(name);
        if rng.chance(rates.name_spaces) { damage::stray_spaces(rng, &name) } else { name }
    }

    fn day(&mut self, d: NaiveDate, styles: &[(DateStyle, f64)]) -> String {
        damage::date_text(&mut self.rng, d, styles)
    }

    /// Police household register, GB18030 with Chinese headers. The authority: clean names,
    /// legacy 15-digit numbers for some older people, lowercase x, and a few people registered twice.
    pub fn household_register(&mut self) -> Result<(), GenerateError> {
        let path = self.out.join("police/household_register.csv");
        let mut text = csv_line(&["人员编号", "公民身份号码", "姓名", "性别", "民族", "出生日期", "户号", "与户主关系", "户籍地址", "人员状态", "状态日期"]);
        let city = self.city;
        for (h, hh) in city.households.iter().enumerate() {
            for &p in &hh.members {
                let person = &city.persons[p];
                if !person.registered {
                    continue;
                }
                let copies = if person.registered_twice { 2 } else { 1 };
                for copy in 0..copies {
                    // Person numbers belong to the person, not to the row: stable from night to night.
                    let key = format!("R{:09}{copy}", p + 1);
                    self.row(1, p * 2 + copy);
                    let mut id = person.id.clone();
                    if person.birth.year() < 1965 && self.rng.chance(0.3) {
                        id = damage::legacy_15(&id).unwrap_or(id);
                    }
                    if id.ends_with('X') && self.rng.chance(0.3) {
                        id = id.replace('X', "x");
                    }
                    let (status, status_date) = match (person.death, person.moved_out) {
                        (Some(d), _) if person.death_in_register => ("死亡", d.to_string()),
                        (_, Some(m)) => ("迁出", m.to_string()),
                        _ => ("正常", String::new()),
                    };
                    let birth = self.day(person.birth, &[(DateStyle::Iso, 0.7), (DateStyle::Compact, 0.3)]);
                    let (household_no, address, relation) = if copy == 0 {
                        (hh.number.clone(), hh.address.clone(), person.relation)
                    } else {
                        // The second registration: another household number in the same district.
                        (format!("{}9{:08}", &hh.number[..6], h), format!("{}附{}号", hh.address, copy), "户主")
                    };
                    let sex = if person.male { "男" } else { "女" };
                    text.push_str(&csv_line(&[&key, &id, &person.name(), sex, person.ethnicity, &birth, &household_no, relation, &address, status, &status_date]));
                    self.truth(REGISTER, &key, "resident", p)?;
                }
            }
        }
        let (bytes, _, _) = GB18030.encode(&text);
        let mut w = create(&path)?;
        write_all(&path, &mut w, &bytes)?;
        w.flush().map_err(|source| GenerateError::Io { path, source })
    }

    /// Social security: insured persons (UTF-8 with a BOM, AAC codes) and monthly pension payments
    /// keyed only by the department's internal number.
    pub fn social_security(&mut self) -> Result<(), GenerateError> {
        let insured_path = self.out.join("social_security/insured_persons.csv");
        let payments_path = self.out.join("social_security/pension_payments.csv");
        let mut insured = create(&insured_path)?;
        let mut payments = create(&payments_path)?;
        write_all(&insured_path, &mut insured, b"\xEF\xBB\xBF")?;
        write_all(&insured_path, &mut insured, csv_line(&["AAC001", "AAC002", "AAC003", "AAC004", "AAC006", "AAC008"]).as_bytes())?;
        write_all(&payments_path, &mut payments, csv_line(&["AAC001", "AAE002", "AAE019"]).as_bytes())?;
        let city = self.city;
        for (p, person) in city.persons.iter().enumerate() {
            let Some(internal) = &person.insured_id else { continue };
            self.row(2, p);
            let id = self.copied_id(p, &SPREADSHEET);
            let name = self.copied_name(p, &SPREADSHEET);
            let birth = self.day(person.birth, &[(DateStyle::Compact, 0.78), (DateStyle::Iso, 0.1), (DateStyle::Slash, 0.05), (DateStyle::Chinese, 0.05), (DateStyle::ExcelSerial, 0.02)]);
            let status = if person.pension.is_some() { "离退休" } else { "在职" };
            let sex = if person.male { "1" } else { "2" };
            write_all(&insured_path, &mut insured, csv_line(&[internal, &id, &name, sex, &birth, status]).as_bytes())?;
            self.truth(INSURED, internal, "insured", p)?;
            let Some(pension) = &person.pension else { continue };
            self.row(3, p);
            let mut month = pension.first_month;
            while month <= pension.last_month {
                let period = format!("{:04}{:02}", month.year(), month.month());
                let alive = person.death.is_none();
                let amount = if alive && self.rng.chance(0.0005) {
                    "N/A".to_string()
                } else {
                    format!("{:.2}", pension.monthly)
                };
                let period = if alive && self.rng.chance(0.0005) { format!("{:04}13", month.year()) } else { period };
                write_all(&payments_path, &mut payments, csv_line(&[internal, &period, &amount]).as_bytes())?;
                month = add_months(month, 1);
            }
        }
        insured.flush().map_err(|source| GenerateError::Io { path: insured_path, source })?;
        payments.flush().map_err(|source| GenerateError::Io { path: payments_path, source })
    }

    /// Housing: property units as JSON lines, each with its owners nested.
    pub fn property(&mut self) -> Result<(), GenerateError> {
        let path = self.out.join("housing/property_units.jsonl");
        let mut w = create(&path)?;
        let city = self.city;
        for (h, hh) in city.households.iter().enumerate() {
            let head = hh.members[0];
            let spouse = city.persons[head].spouse;
            let mut units = Vec::new();
            self.row(9, h);
            if let Some(unit) = &hh.unit_no {
                let co_owner = spouse.filter(|_| self.rng.chance(0.7));
                units.push((unit.clone(), hh.address.clone(), co_owner));
            }
            if let Some((unit, address)) = &hh.second_unit {
                units.push((unit.clone(), address.clone(), None));
            }
            for (n, (unit, address, co_owner)) in units.into_iter().enumerate() {
                self.row(4, h * 2 + n);
                let owners: Vec<usize> = std::iter::once(head).chain(co_owner).collect();
                let share = if owners.len() > 1 { "共同共有" } else { "单独所有" };
                let mut owner_json = Vec::new();
                for (n, &o) in owners.iter().enumerate() {
                    let xh = (n + 1).to_string();
                    owner_json.push(serde_json::json!({
                        "xh": xh,
                        "qlrmc": self.copied_name(o, &COPIED),
                        "zjzl": "身份证",
                        "zjh": self.copied_id(o, &COPIED),
                        "gyfs": share,
                    }));
                    self.truth(PROPERTY, &format!("{unit}#{xh}"), "owner", o)?;
                }
                let registered = NaiveDate::from_ymd_opt(1998, 1, 1).expect("valid") + Duration::days(self.rng.range(0, 27 * 365));
                let line = serde_json::json!({
                    "bdcdyh": unit,
                    "zl": self.address_as(4, h * 2 + n, &address, AddressStyle::Property),
                    "jzmj": (self.rng.range(4500, 16000) as f64) / 100.0,
                    "ghyt": "住宅",
                    "djsj": registered.to_string(),
                    "qlr": owner_json,
                });
                write_all(&path, &mut w, format!("{line}\n").as_bytes())?;
            }
        }
        w.flush().map_err(|source| GenerateError::Io { path, source })
    }

    /// Health: birth medical certificates of the last six years; the child has no ID number.
    pub fn birth_certificates(&mut self) -> Result<(), GenerateError> {
        let path = self.out.join("health/birth_certificates.csv");
        let mut w = create(&path)?;
        write_all(&path, &mut w, csv_line(&["出生医学证明编号", "新生儿姓名", "性别", "出生日期", "出生医院", "母亲姓名", "母亲身份证号", "父亲姓名", "父亲身份证号"]).as_bytes())?;
        let city = self.city;
        let since = city.as_of - Duration::days(6 * 365);
        let hospitals = ["宜昌市中心人民医院", "宜昌市第一人民医院", "三峡大学附属仁和医院", "宜昌市妇幼保健院"];
        for (p, person) in city.persons.iter().enumerate() {
            let Some(mother) = person.mother.filter(|_| person.birth >= since) else { continue };
            let key = format!("Q{:09}", p + 1);
            self.row(5, p);
            let child_name = if self.rng.chance(0.05) { String::new() } else { self.copied_name(p, &COPIED) };
            let sex = if person.male { "男" } else { "女" };
            let birth = self.day(person.birth, &[(DateStyle::Iso, 1.0)]);
            let hospital = *self.rng.pick(&hospitals);
            let mother_name = self.copied_name(mother, &COPIED);
            let mother_id = self.copied_id(mother, &COPIED);
            let father = person.father.filter(|_| self.rng.chance(0.95));
            let (father_name, father_id) = match father {
                Some(f) => (self.copied_name(f, &COPIED), self.copied_id(f, &COPIED)),
                None => (String::new(), String::new()),
            };
            let mut line = csv_line(&[&key, &child_name, sex, &birth, hospital, &mother_name, &mother_id, &father_name, &father_id]);
            if self.rng.chance(0.001) {
                // A stray delimiter typed into a field: the row no longer fits the header.
                line = line.replacen(',', ",,", 1);
            }
            write_all(&path, &mut w, line.as_bytes())?;
            self.truth(BIRTHS, &key, "child", p)?;
            self.truth(BIRTHS, &key, "mother", mother)?;
            if let Some(f) = father {
                self.truth(BIRTHS, &key, "father", f)?;
            }
        }
        w.flush().map_err(|source| GenerateError::Io { path, source })
    }

    /// Civil affairs: cremation records (not every death is cremated).
    pub fn cremations(&mut self) -> Result<(), GenerateError> {
        let path = self.out.join("civil_affairs/cremations.csv");
        let mut w = create(&path)?;
        write_all(&path, &mut w, csv_line(&["火化证明编号", "姓名", "身份证号", "死亡日期", "火化日期"]).as_bytes())?;
        let city = self.city;
        for (p, person) in city.persons.iter().enumerate() {
            let Some(death) = person.death.filter(|_| person.cremated) else { continue };
            let key = format!("H{:09}", p + 1);
            self.row(6, p);
            let name = self.copied_name(p, &COPIED);
            let id = self.copied_id(p, &COPIED);
            let styles = [(DateStyle::Iso, 0.5), (DateStyle::Chinese, 0.25), (DateStyle::Slash, 0.2), (DateStyle::Dotted, 0.05)];
            let death_text = if self.rng.chance(0.002) {
                self.cremation_unusable[p] = true;
                String::new()
            } else {
                self.day(death, &styles)
            };
            let delay = Duration::days(self.rng.range(1, 5));
            let cremated = self.day(death + delay, &styles);
            write_all(&path, &mut w, csv_line(&[&key, &name, &id, &death_text, &cremated]).as_bytes())?;
            self.truth(CREMATIONS, &key, "deceased", p)?;
        }
        w.flush().map_err(|source| GenerateError::Io { path, source })
    }

    /// Police floating-population registrations: everyone of a household registered elsewhere,
    /// with pinyin-abbreviation headers.
    pub fn floating_population(&mut self) -> Result<(), GenerateError> {
        let path = self.out.join("police/floating_population.csv");
        let mut w = create(&path)?;
        write_all(&path, &mut w, csv_line(&["bh", "xm", "xb", "csrq", "sfzh", "hjdz", "xzz", "djrq", "zzsy"]).as_bytes())?;
        let city = self.city;
        let reasons = ["务工", "经商", "就学", "投亲"];
        for hh in city.households.iter().filter(|hh| hh.floating) {
            for &p in &hh.members {
                if self.never_filed(p) {
                    continue;
                }
                let person = &city.persons[p];
                let key = format!("L{:09}", p + 1);
                self.row(7, p);
                let name = self.copied_name(p, &COPIED);
                let id = self.copied_id(p, &COPIED);
                let birth = self.day(person.birth, &[(DateStyle::Compact, 0.6), (DateStyle::Chinese, 0.4)]);
                let origin = division::decode(&person.id[..6]).map(|r| r.name).unwrap_or_default();
                let origin = format!("{origin}{}村{}组", self.rng.range(1, 30), self.rng.range(1, 12));
                let registered = (city.as_of - Duration::days(self.rng.range(1, 5 * 365))).max(person.birth);
                let registered = self.day(registered, &[(DateStyle::Iso, 0.7), (DateStyle::Slash, 0.3)]);
                let reason = if (city.as_of - person.birth).num_days() < 18 * 365 { "投亲" } else { *self.rng.pick(&reasons) };
                let sex = if person.male { "男" } else { "女" };
                let current = self.address_as(7, p, &hh.address, AddressStyle::Floating);
                write_all(&path, &mut w, csv_line(&[&key, &name, sex, &birth, &id, &origin, &current, &registered, reason]).as_bytes())?;
                self.truth(FLOATING, &key, "migrant", p)?;
            }
        }
        w.flush().map_err(|source| GenerateError::Io { path, source })
    }

    /// Housing rental filings, an Excel sheet: landlord and tenant in one row, rents as numbers,
    /// dates as real Excel dates, and now and then an ID number typed into a number cell.
    pub fn rental_filings(&mut self) -> Result<(), GenerateError> {
        let path = self.out.join("housing/rental_filings.xlsx");
        let city = self.city;
        let mut rows = Vec::new();
        for (h, hh) in city.households.iter().enumerate() {
            let Some(landlord_household) = hh.landlord else { continue };
            let landlord = city.households[landlord_household].members[0];
            let tenant = hh.members[0];
            let key = format!("ZL{:08}", h + 1);
            self.row(8, h);
            let id_cell = |w: &mut Self, p: usize| {
                let id = w.copied_id(p, &COPIED);
                if id.len() == 18 && id.bytes().all(|b| b.is_ascii_digit()) && w.rng.chance(0.01) {
                    Cell::Number(id.parse::<f64>().expect("digits"))
                } else {
                    Cell::Text(id)
                }
            };
            let landlord_id = id_cell(self, landlord);
            let tenant_id = id_cell(self, tenant);
            let started = city.as_of - Duration::days(self.rng.range(30, 3 * 365));
            rows.push(vec![
                Cell::Text(key.clone()),
                Cell::Text(self.address_as(8, h, &hh.address, AddressStyle::Rental)),
                Cell::Text(self.copied_name(landlord, &COPIED)),
                landlord_id,
                Cell::Text(self.copied_name(tenant, &COPIED)),
                tenant_id,
                Cell::Number(self.rng.range(8, 45) as f64 * 100.0),
                Cell::Date(started),
            ]);
            self.truth(RENTALS, &key, "landlord", landlord)?;
            self.truth(RENTALS, &key, "tenant", tenant)?;
        }
        let header = ["备案编号", "房屋坐落", "出租人姓名", "出租人证件号码", "承租人姓名", "承租人证件号码", "月租金", "租赁起始日期"];
        xlsx::write(&path, "租赁备案", &header, &rows)
    }
}
