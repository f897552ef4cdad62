//! The synthetic city's true state: households in the districts of a real prefecture, people
//! with names of their decade and valid ID numbers (real county codes, retired ones on older
//! people, migrants' home counties, one number issued twice now and then), deaths, moves,
//! pensions, insurance, property and the list of people deprived of political rights.

use std::collections::HashSet;

use chrono::{Datelike, Duration, NaiveDate};

use super::names::{SURNAMES, given_pool};
use crate::rng::Rng;
use crate::identity::{citizen_id, division};

/// The prefecture the city is built in (宜昌市, Hubei).
pub const PREFECTURE: &str = "4205";
/// Provinces migrants come from.
const MIGRANT_PROVINCES: &[&str] = &["42", "43", "41", "50", "51", "36"];
/// First month of the payment tables.
pub const PAYMENTS_FROM: (i32, u32) = (2024, 1);

/// A county-level district of the prefecture.
pub struct District {
    /// Six-digit division code (GB/T 2260), e.g. `420502`.
    pub code: String,
    /// Province, prefecture and county names joined, e.g. `湖北省宜昌市西陵区`.
    pub name: String,
}

/// A household: who lives in it, where, and what it owns or rents.
pub struct Household {
    /// Household number: its district's code and nine digits.
    pub number: String,
    /// Index of its district in `City::districts`.
    pub district: usize,
    /// Address it lives at, in Chinese; for a floating household, the unit it rents.
    pub address: String,
    /// Indexes of its members in `City::persons`, the head first.
    pub members: Vec<usize>,
    /// Property unit the household lives in and owns, if any.
    pub unit_no: Option<String>,
    /// A second property it owns elsewhere, if any: (unit number, address).
    pub second_unit: Option<(String, String)>,
    /// Registered elsewhere: in the floating-population registrations, not the household register.
    pub floating: bool,
    /// For a floating household: the household whose second unit it rents.
    pub landlord: Option<usize>,
}

/// A pension social security pays, month by month.
pub struct Pension {
    /// Social security's internal number for the person, `SI` and nine digits (as `insured_id`).
    pub internal_id: String,
    /// Amount paid each month, in yuan.
    pub monthly: f64,
    /// First and last month paid (first days of months).
    pub first_month: NaiveDate,
    /// Last month paid, as its first day; past the death when nobody reported it.
    pub last_month: NaiveDate,
}

/// A person as they truly are; the exports copy this, with the departments' damage.
pub struct Person {
    /// Citizen ID number, 18 characters and valid; now and then issued to an earlier person too.
    pub id: String,
    /// Family name, in Chinese characters.
    pub surname: String,
    /// Given name, one or two characters.
    pub given: String,
    /// Sex: true for male.
    pub male: bool,
    /// Day of birth.
    pub birth: NaiveDate,
    /// Ethnic group as the household register writes it (`汉族`, `土家族`, …).
    pub ethnicity: &'static str,
    /// Index of the person's household in `City::households`.
    pub household: usize,
    /// Relation to the head of household as the register writes it (`户主`, `配偶`, `子`, …).
    pub relation: &'static str,
    /// Index of the spouse in `City::persons`, if any.
    pub spouse: Option<usize>,
    /// Index of the mother in `City::persons`, if she is in the city.
    pub mother: Option<usize>,
    /// Index of the father in `City::persons`, if he is in the city.
    pub father: Option<usize>,
    /// Day of death, if the person has died.
    pub death: Option<NaiveDate>,
    /// Whether the death is recorded in the police household register.
    pub death_in_register: bool,
    /// Whether the person was cremated, so civil affairs has a record of the death.
    pub cremated: bool,
    /// Day the person moved out of the city, if they have.
    pub moved_out: Option<NaiveDate>,
    /// False for newborns whose birth is not registered yet and for floating households.
    pub registered: bool,
    /// Lives in a floating household: registered elsewhere, filed with the floating population.
    pub floating: bool,
    /// Has two rows in the household register, the second under another household number.
    pub registered_twice: bool,
    /// Social security's internal number, if the person is insured.
    pub insured_id: Option<String>,
    /// The pension paid to the person, if any.
    pub pension: Option<Pension>,
    /// Deprived of political rights: on the exclusion list, never on the voter roll.
    pub deprived: bool,
    /// A department corrected this person's records: copies are clean.
    pub corrected: bool,
}

impl Person {
    /// A person as born into a household: no events yet, registered unless the household is floating.
    #[allow(clippy::too_many_arguments)]
    fn new(id: String, surname: String, given: String, male: bool, birth: NaiveDate, ethnicity: &'static str, household: usize, relation: &'static str, floating: bool) -> Person {
        Person {
            id,
            surname,
            given,
            male,
            birth,
            ethnicity,
            household,
            relation,
            spouse: None,
            mother: None,
            father: None,
            death: None,
            death_in_register: false,
            cremated: false,
            moved_out: None,
            registered: !floating,
            floating,
            registered_twice: false,
            insured_id: None,
            pension: None,
            deprived: false,
            corrected: false,
        }
    }

    /// Full name: surname then given name, without a space.
    pub fn name(&self) -> String {
        format!("{}{}", self.surname, self.given)
    }

    /// Key of the person at `index` in the truth files: `T` and seven digits, counted from 1.
    pub fn key(index: usize) -> String {
        format!("T{:07}", index + 1)
    }

    /// Whether the person is alive on `day` (someone who dies that day is not).
    pub fn alive_on(&self, day: NaiveDate) -> bool {
        self.death.is_none_or(|d| d > day)
    }
}

/// The whole city on one day: the truth every export is drawn from.
pub struct City {
    /// The day the city stands on.
    pub as_of: NaiveDate,
    /// The prefecture's county-level districts.
    pub districts: Vec<District>,
    /// Every household; persons and other households refer to them by index.
    pub households: Vec<Household>,
    /// Every person, the dead and those moved out included; `Person::key` names them by index.
    pub persons: Vec<Person>,
}

const STREETS: &[&str] = &["夷陵大道", "东山大道", "沿江大道", "西陵一路", "解放路", "云集路", "隆康路", "发展大道", "港窑路", "城东大道", "体育场路", "珍珠路"];
const ETHNICITIES: &[(&str, f64)] = &[("汉族", 0.9), ("土家族", 0.08), ("回族", 0.01), ("苗族", 0.01)];

fn first_of_month(d: NaiveDate) -> NaiveDate {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("valid")
}

/// Pensions are paid on the first of the month: by a day, the month of the day before has been paid.
pub fn last_paid_month(as_of: NaiveDate) -> NaiveDate {
    first_of_month(as_of - Duration::days(1))
}

/// First day of the month `months` after the month of `d` (before it, if negative).
pub fn add_months(d: NaiveDate, months: i32) -> NaiveDate {
    let total = d.year() * 12 + d.month0() as i32 + months;
    NaiveDate::from_ymd_opt(total.div_euclid(12), total.rem_euclid(12) as u32 + 1, 1).expect("valid")
}

struct Builder<'a> {
    rng: Rng,
    as_of: NaiveDate,
    used_ids: HashSet<String>,
    local_codes: &'a [String],
    retired_codes: &'a [String],
    migrant_codes: &'a [String],
    persons: Vec<Person>,
    /// Whether the household being built is a floating one.
    floating: bool,
}

/// Builds a city of `persons` people as of `as_of` from `seed`, a few more to finish the last
/// household.
pub fn build(persons: usize, seed: u64, as_of: NaiveDate) -> City {
    let local = division::county_codes(PREFECTURE, division::CURRENT_REVISION);
    let retired = division::retired_county_codes(&PREFECTURE[..2]);
    let migrant: Vec<String> = MIGRANT_PROVINCES.iter().flat_map(|p| division::county_codes(p, division::CURRENT_REVISION)).collect();
    let districts: Vec<District> = local
        .iter()
        .map(|code| District { code: code.clone(), name: division::decode(code).map(|r| r.name).unwrap_or_default() })
        .collect();
    let mut b = Builder {
        rng: Rng::new(seed),
        as_of,
        used_ids: HashSet::new(),
        local_codes: &local,
        retired_codes: &retired,
        migrant_codes: &migrant,
        persons: Vec::with_capacity(persons + 8),
        floating: false,
    };
    let mut households = Vec::new();
    while b.persons.len() < persons {
        let h = households.len();
        let district = (b.rng.next_u64() % districts.len() as u64) as usize;
        let hh = b.household(h, district, &districts[district]);
        households.push(hh);
    }
    for i in 0..b.persons.len() {
        b.life_events(i);
    }
    let mut city = City { as_of, districts, households, persons: b.persons };
    assign_property(&mut city, &mut Rng::new(seed ^ 0xB0B0));
    city
}

impl Builder<'_> {
    fn household(&mut self, h: usize, district: usize, d: &District) -> Household {
        let number = format!("{}{:09}", d.code, h + 1);
        let street = *self.rng.pick(STREETS);
        let address = format!(
            "{}{}{}号{}-{}",
            d.name.trim_start_matches("湖北省"),
            street,
            self.rng.range(1, 300),
            self.rng.range(1, 12),
            self.rng.range(101, 1802)
        );
        let mut members = Vec::new();
        self.floating = self.rng.chance(0.08);
        let (lo, hi) = *self.rng.weighted(&[((25, 40), 0.35), ((40, 60), 0.4), ((60, 90), 0.25)]);
        let head_age = self.rng_age(lo, hi);
        let head_male = self.rng.chance(0.8);
        let head_surname = self.rng.weighted(SURNAMES).to_string();
        let head_birth = self.birth_for_age(head_age);
        let head = self.person(h, "户主", head_male, head_birth, head_surname.clone(), district);
        members.push(head);
        let mut spouse = None;
        if self.rng.chance(if head_age < 80 { 0.8 } else { 0.5 }) {
            let age = (head_age + self.rng.range(-5, 5) as i32).max(20);
            let surname = self.rng.weighted(SURNAMES).to_string();
            let birth = self.birth_for_age(age);
            let s = self.person(h, "配偶", !head_male, birth, surname, district);
            self.persons[head].spouse = Some(s);
            self.persons[s].spouse = Some(head);
            members.push(s);
            spouse = Some(s);
        }
        let (father, mother) = match spouse {
            Some(s) if head_male => (Some(head), Some(s)),
            Some(s) => (Some(s), Some(head)),
            None if head_male => (Some(head), None),
            None => (None, Some(head)),
        };
        let child_surname = father.map_or(head_surname.clone(), |f| self.persons[f].surname.clone());
        if head_age < 62 {
            let children = *self.rng.weighted(&[(0, 0.2), (1, 0.45), (2, 0.3), (3, 0.05)]);
            let parent_birth = self.persons[mother.unwrap_or(head)].birth;
            let mut last_birth: Option<NaiveDate> = None;
            for _ in 0..children {
                let twin = last_birth.is_some() && self.rng.chance(0.03);
                let birth = match (twin, last_birth) {
                    (true, Some(b)) => b,
                    _ => parent_birth + Duration::days(self.rng.range(22 * 365, 38 * 365)),
                };
                if birth > self.as_of {
                    continue;
                }
                last_birth = Some(birth);
                let male = self.rng.chance(0.51);
                let c = self.person(h, if male { "子" } else { "女" }, male, birth, child_surname.clone(), district);
                self.persons[c].father = father;
                self.persons[c].mother = mother;
                members.push(c);
            }
        }
        if head_age < 55 && self.rng.chance(0.12) {
            let age = head_age + self.rng.range(24, 32) as i32;
            if age <= 95 {
                let male = self.rng.chance(0.4);
                let surname = if male && head_male { head_surname.clone() } else { self.rng.weighted(SURNAMES).to_string() };
                let birth = self.birth_for_age(age);
                let g = self.person(h, if male { "父亲" } else { "母亲" }, male, birth, surname, district);
                members.push(g);
            }
        }
        Household { number, district, address, members, unit_no: None, second_unit: None, floating: self.floating, landlord: None }
    }

    fn rng_age(&mut self, lo: i32, hi: i32) -> i32 {
        self.rng.range(i64::from(lo), i64::from(hi)) as i32
    }

    fn birth_for_age(&mut self, age: i32) -> NaiveDate {
        self.as_of - Duration::days(i64::from(age) * 365 + self.rng.range(0, 364))
    }

    fn person(&mut self, household: usize, relation: &'static str, male: bool, birth: NaiveDate, surname: String, district: usize) -> usize {
        let decade = birth.year() / 10 * 10;
        let pool = given_pool(decade, male);
        let two = self.rng.chance(if decade >= 1990 { 0.85 } else { 0.6 });
        let mut given = (*self.rng.pick(pool)).to_string();
        if two {
            given.push_str(*self.rng.pick(pool));
        }
        let index = self.persons.len();
        let (id, birth) = self.citizen_id(male, birth, district, index);
        let ethnicity = *self.rng.weighted(ETHNICITIES);
        self.persons.push(Person::new(id, surname, given, male, birth, ethnicity, household, relation, self.floating));
        index
    }

    /// A new valid number, or now and then the number of an earlier person of the same sex
    /// (issued twice: same region and birth date), whose birth date is then taken over.
    fn citizen_id(&mut self, male: bool, birth: NaiveDate, district: usize, index: usize) -> (String, NaiveDate) {
        if index > 100 && self.rng.chance(0.0005) {
            let other = self.rng.range(0, index as i64 - 1) as usize;
            if self.persons[other].male == male {
                return (self.persons[other].id.clone(), self.persons[other].birth);
            }
        }
        let region = if self.floating || self.rng.chance(0.2) {
            self.rng.pick(self.migrant_codes).clone()
        } else if birth.year() < 1990 && !self.retired_codes.is_empty() && self.rng.chance(0.1) {
            self.rng.pick(self.retired_codes).clone()
        } else {
            self.local_codes[district].clone()
        };
        loop {
            let sequence = self.rng.range(0, 497) as u32 * 2 + u32::from(male);
            let id = citizen_id::compose(&region, birth, sequence);
            if self.used_ids.insert(id.clone()) {
                return (id, birth);
            }
        }
    }

    fn life_events(&mut self, i: usize) {
        let as_of = self.as_of;
        let age = (as_of - self.persons[i].birth).num_days() / 365;
        let p_death = match age {
            0..=49 => 0.003,
            50..=69 => 0.03,
            70..=79 => 0.1,
            _ => 0.25,
        };
        let rng = &mut self.rng;
        let p = &mut self.persons[i];
        if rng.chance(p_death) {
            let earliest = (as_of - Duration::days(3 * 365)).max(p.birth + Duration::days(1));
            let span = (as_of - earliest).num_days() - 1;
            if span > 0 {
                p.death = Some(earliest + Duration::days(rng.range(0, span)));
                p.death_in_register = rng.chance(0.85);
                p.cremated = rng.chance(0.8);
            }
        }
        if p.death.is_none() && rng.chance(0.02) {
            p.moved_out = Some(as_of - Duration::days(rng.range(1, 3 * 365)));
        }
        p.registered = !p.floating && (as_of - p.birth).num_days() > 45;
        p.registered_twice = p.registered && rng.chance(0.002);
        p.deprived = age >= 18 && rng.chance(0.001);
        let retired = age >= if p.male { 60 } else { 55 };
        let window_start = NaiveDate::from_ymd_opt(PAYMENTS_FROM.0, PAYMENTS_FROM.1, 1).expect("valid");
        let last_paid_month = last_paid_month(as_of);
        if retired && !p.floating && p.death.is_none_or(|d| d >= window_start) && rng.chance(0.85) {
            let retirement = first_of_month(p.birth + Duration::days(365 * if p.male { 60 } else { 55 }));
            let first_month = add_months(retirement, 1).max(window_start);
            let death_known = p.death_in_register || p.cremated;
            let last_month = match p.death {
                None => last_paid_month,
                // Nobody told social security: paid on to this day.
                Some(_) if !death_known => last_paid_month,
                // Paid on for some months by mistake.
                Some(d) if rng.chance(0.06) => add_months(first_of_month(d), rng.range(1, 24) as i32).min(last_paid_month),
                Some(d) => first_of_month(d),
            };
            if first_month <= last_month {
                p.pension = Some(Pension {
                    internal_id: format!("SI{:09}", i + 1),
                    monthly: (rng.range(180_000, 520_000) as f64) / 100.0,
                    first_month,
                    last_month,
                });
            }
        }
        let insured_rate = if p.floating { 0.4 } else { 0.55 };
        if p.pension.is_some() || ((18..60).contains(&age) && rng.chance(insured_rate)) {
            p.insured_id = Some(format!("SI{:09}", i + 1));
        }
    }
}

/// Registered households own the home they live in (65%) and some own a second unit elsewhere
/// (10%), which floating households rent; a floating household lives where it rents.
fn assign_property(city: &mut City, rng: &mut Rng) {
    for (h, hh) in city.households.iter_mut().enumerate().filter(|(_, hh)| !hh.floating) {
        if rng.chance(0.65) {
            hh.unit_no = Some(format!("{}{:010}", hh.address_code(&city.districts), h * 2 + 1));
        }
        if rng.chance(0.1) {
            let street = *rng.pick(STREETS);
            let district = &city.districts[(rng.next_u64() % city.districts.len() as u64) as usize];
            let address = format!("{}{}{}号{}-{}", district.name.trim_start_matches("湖北省"), street, rng.range(301, 600), rng.range(1, 12), rng.range(101, 1802));
            hh.second_unit = Some((format!("{}{:010}", district.code, h * 2 + 2), address));
        }
    }
    let mut to_let = city.households.iter().enumerate().filter(|(_, hh)| hh.second_unit.is_some()).map(|(h, _)| h).collect::<Vec<_>>().into_iter();
    for h in 0..city.households.len() {
        if !city.households[h].floating {
            continue;
        }
        let Some(landlord) = to_let.next() else { break };
        let address = city.households[landlord].second_unit.as_ref().expect("to let").1.clone();
        city.households[h].landlord = Some(landlord);
        city.households[h].address = address;
    }
}

impl Household {
    fn address_code(&self, districts: &[District]) -> String {
        districts[self.district].code.clone()
    }
}

/// The same city some days later: each day a few births (registered only after 45 days), deaths,
/// people moving out and departments correcting records, and pensions paid for a new month when
/// one begins. Returns the persons whose records changed.
pub fn advance(city: &mut City, days: u32, seed: u64) -> Vec<(usize, &'static str)> {
    let base = Rng::new(seed ^ 0xDA7E);
    let mut used: HashSet<String> = city.persons.iter().map(|p| p.id.clone()).collect();
    let mut changed = Vec::new();
    let per_day = |rate: f64, n: usize| ((n as f64 * rate).round() as usize).max(1);
    for day in 1..=days {
        city.as_of += Duration::days(1);
        let as_of = city.as_of;
        let mut rng = base.fork(u64::from(day));
        let n = city.persons.len();
        for _ in 0..per_day(0.00003, n) {
            let h = (rng.next_u64() % city.households.len() as u64) as usize;
            let hh = &city.households[h];
            let Some(&mother) = hh.members.iter().find(|&&m| {
                let p = &city.persons[m];
                !p.male && p.alive_on(as_of) && (20..=42).contains(&((as_of - p.birth).num_days() / 365))
            }) else {
                continue;
            };
            let father = city.persons[mother].spouse;
            let male = rng.chance(0.51);
            let pool = given_pool(as_of.year() / 10 * 10, male);
            let given = format!("{}{}", rng.pick(pool), rng.pick(pool));
            let surname = father.map_or_else(|| city.persons[mother].surname.clone(), |f| city.persons[f].surname.clone());
            let region = &city.districts[hh.district].code;
            let id = loop {
                let id = citizen_id::compose(region, as_of, rng.range(0, 497) as u32 * 2 + u32::from(male));
                if used.insert(id.clone()) {
                    break id;
                }
            };
            let index = city.persons.len();
            let relation = if male { "子" } else { "女" };
            let mut child = Person::new(id, surname, given, male, as_of, city.persons[mother].ethnicity, h, relation, hh.floating);
            // Registered only 45 days after birth.
            child.registered = false;
            child.mother = Some(mother);
            child.father = father;
            city.persons.push(child);
            city.households[h].members.push(index);
            changed.push((index, "born"));
        }
        let pick_alive = |rng: &mut Rng, city: &City, min_age: i64| -> Option<usize> {
            (0..20).map(|_| (rng.next_u64() % city.persons.len() as u64) as usize).find(|&p| {
                let person = &city.persons[p];
                person.alive_on(as_of) && person.moved_out.is_none() && (as_of - person.birth).num_days() / 365 >= min_age
            })
        };
        for _ in 0..per_day(0.00002, n) {
            let Some(p) = pick_alive(&mut rng, city, 50) else { continue };
            let person = &mut city.persons[p];
            person.death = Some(as_of);
            person.death_in_register = person.registered && rng.chance(0.85);
            person.cremated = rng.chance(0.8);
            if let Some(pension) = person.pension.as_mut() {
                pension.last_month = pension.last_month.min(first_of_month(as_of));
            }
            changed.push((p, if person.death_in_register { "died_in_register" } else { "died" }));
        }
        for _ in 0..per_day(0.00002, n) {
            let Some(p) = pick_alive(&mut rng, city, 18) else { continue };
            city.persons[p].moved_out = Some(as_of);
            changed.push((p, if city.persons[p].registered { "moved_out" } else { "moved_away" }));
        }
        for _ in 0..per_day(0.00005, n) {
            let p = (rng.next_u64() % city.persons.len() as u64) as usize;
            city.persons[p].corrected = true;
            changed.push((p, "corrected"));
        }
        let paid = last_paid_month(as_of);
        for (p, person) in city.persons.iter_mut().enumerate() {
            let newly_registered = !person.registered && !person.floating && (as_of - person.birth).num_days() > 45;
            if newly_registered {
                person.registered = true;
                changed.push((p, "registered"));
            }
            let alive = person.death.is_none();
            if let Some(pension) = person.pension.as_mut().filter(|_| alive) {
                pension.last_month = pension.last_month.max(paid);
            }
        }
    }
    changed.sort_unstable();
    changed.dedup();
    changed
}
