//! The synthetic city: `pophub generate` writes a city's department exports exactly as the
//! sample pipeline expects them, and the ground truth to score a run against. The same seed gives
//! the same files, byte for byte.

pub mod city;
mod damage;
mod feeds;
mod names;
pub mod xlsx;

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{Datelike, Duration, NaiveDate};

use city::{City, Person, add_months};
use crate::rng::Rng;
use feeds::csv_line;

/// What can stop `pophub generate`.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// A file or folder of the city could not be created or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder at fault.
        path: PathBuf,
        /// Why the operating system refused.
        source: std::io::Error,
    },
}

/// What the voter-roll truth was computed for.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct VoterRollParams {
    /// Six-digit code of the district the roll is for.
    pub district: String,
    /// Day of the election; the roll holds the district's registered adults alive on it.
    pub election_date: NaiveDate,
}

/// What was generated, as written to `truth/city.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// People in the city, the babies born on later nights included.
    pub persons: usize,
    /// Households in the city, floating ones included.
    pub households: usize,
    /// The seed the city was built from.
    pub seed: u64,
    /// Day the exports stand on: the first night's day, plus a day for each night after it.
    pub as_of: NaiveDate,
    /// Which night the exports are: 1 for the first, 2 and later for the same city days on.
    pub night: u32,
    /// What the voter-roll truth was computed for.
    pub voter_roll: VoterRollParams,
}

/// Writes the city as of `as_of`, or, for `night` 2 and later, the same city that many days on,
/// with `truth/changed_persons.csv` listing the persons whose records changed since the first night
/// and `truth/changes.csv` each change (`born`, `died_in_register`, `died`, `moved_out`,
/// `moved_away` for people registered elsewhere, `corrected`, `registered`).
pub fn generate(persons: usize, seed: u64, as_of: NaiveDate, night: u32, out: &Path) -> Result<Summary, GenerateError> {
    let mut city = city::build(persons, seed, as_of);
    let changed = city::advance(&mut city, night.saturating_sub(1), seed);
    if night > 1 {
        let mut persons: Vec<usize> = changed.iter().map(|(p, _)| *p).collect();
        persons.dedup();
        let mut text = csv_line(&["person_id"]);
        for p in persons {
            text.push_str(&csv_line(&[&Person::key(p)]));
        }
        write_file(&out.join("truth/changed_persons.csv"), text.as_bytes())?;
        let mut text = csv_line(&["person_id", "change"]);
        for (p, change) in &changed {
            text.push_str(&csv_line(&[&Person::key(*p), change]));
        }
        write_file(&out.join("truth/changes.csv"), text.as_bytes())?;
    }
    let mut w = feeds::Writer::new(&city, out, seed)?;
    w.household_register()?;
    w.social_security()?;
    w.property()?;
    w.birth_certificates()?;
    w.cremations()?;
    w.floating_population()?;
    w.rental_filings()?;
    let cremation_unusable = w.finish()?;
    let voter_roll = VoterRollParams { district: city.districts[0].code.clone(), election_date: city.as_of + Duration::days(30) };
    write_truth(&city, out, &cremation_unusable, &voter_roll)?;
    let (list, list_truth) = exclusion_list(&city, &mut Rng::new(seed).fork(0xC0_0127));
    write_file(&out.join("external/deprived_political_rights.csv"), list.as_bytes())?;
    write_file(&out.join("truth/external_list.csv"), list_truth.as_bytes())?;
    let summary = Summary { persons: city.persons.len(), households: city.households.len(), seed, as_of: city.as_of, night, voter_roll };
    write_file(&out.join("truth/city.json"), serde_json::to_string_pretty(&summary).expect("serialises").as_bytes())?;
    Ok(summary)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), GenerateError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| GenerateError::Io { path: dir.to_path_buf(), source })?;
    }
    let mut f = std::fs::File::create(path).map_err(|source| GenerateError::Io { path: path.to_path_buf(), source })?;
    f.write_all(bytes).map_err(|source| GenerateError::Io { path: path.to_path_buf(), source })
}

/// The court's list of people deprived of political rights as a court writes it (ID number, name,
/// birth date), with the damage such lists carry, one kind per entry in turn: none, a mistyped
/// digit, no number, a legacy 15-digit number beside traditional characters, full-width digits
/// with stray spaces. After the city's people come people from elsewhere, each a namesake of one
/// of the city's adults, born on another day or on the same day with another number: nothing
/// here should match them. Its truth gives each entry's line and person (none for outsiders).
fn exclusion_list(city: &City, rng: &mut Rng) -> (String, String) {
    use damage::{DateStyle, date_text, full_width, id_substitution, legacy_15, stray_spaces, traditional};
    let mut list = csv_line(&["citizen_id", "name", "birth_date"]);
    let mut truth = csv_line(&["line", "person_id"]);
    let iso = |d: NaiveDate| d.to_string();
    let mut line = 1;
    let deprived: Vec<usize> = (0..city.persons.len()).filter(|&i| city.persons[i].deprived).collect();
    for (k, &i) in deprived.iter().enumerate() {
        let p = &city.persons[i];
        let name = p.name();
        let (id, name, birth) = match k % 5 {
            0 => (p.id.clone(), name, iso(p.birth)),
            1 => (id_substitution(rng, &p.id), name, String::new()),
            2 => (String::new(), name, date_text(rng, p.birth, &[(DateStyle::Chinese, 1.0)])),
            3 => (legacy_15(&p.id).unwrap_or_else(|| p.id.clone()), traditional(&name).unwrap_or(name), String::new()),
            _ => (stray_spaces(rng, &full_width(&p.id)), name, date_text(rng, p.birth, &[(DateStyle::Compact, 1.0)])),
        };
        line += 1;
        list.push_str(&csv_line(&[&id, &name, &birth]));
        truth.push_str(&csv_line(&[&line.to_string(), &Person::key(i)]));
    }
    let adults: Vec<&Person> = city.persons.iter().filter(|p| p.birth <= crate::identity::dates::years_before(city.as_of, 18)).collect();
    for k in 0..(deprived.len() / 2).max(1) {
        if adults.is_empty() {
            break;
        }
        let namesake = *rng.pick(&adults);
        let birth = if k % 2 == 0 { namesake.birth - Duration::days(rng.range(1, 400)) } else { namesake.birth };
        let sequence = 2 * rng.range(0, 498) as u32 + if namesake.male { 1 } else { 2 };
        let id = crate::identity::citizen_id::compose("110105", birth, sequence);
        line += 1;
        list.push_str(&csv_line(&[&id, &namesake.name(), &iso(birth)]));
        truth.push_str(&csv_line(&[&line.to_string(), ""]));
    }
    (list, truth)
}

/// Persons, pensions paid after death and the voter roll, as they truly are.
fn write_truth(city: &City, out: &Path, cremation_unusable: &[bool], roll: &VoterRollParams) -> Result<(), GenerateError> {
    let mut persons = csv_line(&["person_id", "citizen_id", "name", "sex", "birth_date", "household_no", "death_date", "moved_out", "registered"]);
    let mut deceased = csv_line(&["person_id", "citizen_id", "death_date", "months_paid_after_death", "amount_overpaid", "death_in_feed"]);
    let mut voters = csv_line(&["person_id", "citizen_id"]);
    let adult_born_by = crate::identity::dates::years_before(roll.election_date, 18);
    for (i, p) in city.persons.iter().enumerate() {
        let hh = &city.households[p.household];
        let opt = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
        persons.push_str(&csv_line(&[
            &Person::key(i),
            &p.id,
            &p.name(),
            if p.male { "M" } else { "F" },
            &p.birth.to_string(),
            &hh.number,
            &opt(p.death),
            &opt(p.moved_out),
            if p.registered { "true" } else { "false" },
        ]));
        if let (Some(death), Some(pension)) = (p.death, &p.pension) {
            let death_month = NaiveDate::from_ymd_opt(death.year(), death.month(), 1).expect("valid");
            let mut months = 0;
            let mut month = add_months(death_month, 1).max(pension.first_month);
            while month <= pension.last_month {
                months += 1;
                month = add_months(month, 1);
            }
            if months > 0 {
                let in_feed = p.death_in_register || (p.cremated && !cremation_unusable[i]);
                deceased.push_str(&csv_line(&[
                    &Person::key(i),
                    &p.id,
                    &death.to_string(),
                    &months.to_string(),
                    &format!("{:.2}", pension.monthly * f64::from(months)),
                    if in_feed { "true" } else { "false" },
                ]));
            }
        }
        let in_district = city.districts[hh.district].code == roll.district;
        if in_district && p.registered && p.alive_on(roll.election_date) && p.moved_out.is_none() && p.birth <= adult_born_by && !p.deprived {
            voters.push_str(&csv_line(&[&Person::key(i), &p.id]));
        }
    }
    write_file(&out.join("truth/persons.csv"), persons.as_bytes())?;
    write_file(&out.join("truth/deceased_pensions.csv"), deceased.as_bytes())?;
    write_file(&out.join("truth/voter_roll.csv"), voters.as_bytes())?;
    write_file(&out.join("truth/voter_roll.json"), serde_json::to_string_pretty(roll).expect("serialises").as_bytes())
}
