//! Households and relations: one row per household number of the register with its head, its
//! members by status and its house; and the relations between persons (spouse, parent and child,
//! co-owner) that the register, birth certificates and the property register state, published
//! in both directions, each with its source and record, checked against the generator's truth.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use common::*;

/// Every row of a query on the city's current night, without the header.
fn rows(c: &City, query: &str) -> Vec<Vec<String>> {
    csv_rows(&ok(&["sql", query, "--warehouse", path(&c.warehouse), "--format", "csv"]))
}

/// The generator's truth: its persons by id (`person_id,citizen_id,name,sex,birth_date,
/// household_no,death_date,moved_out,registered`), the true person of each mention, and the
/// true person of each published person key (the one most of its mentions are).
struct Truth {
    persons: HashMap<String, Vec<String>>,
    mentions: HashMap<(String, String, String), String>,
    of_key: HashMap<String, String>,
}

fn truth(c: &City) -> Truth {
    let read = |name: &str| csv_rows(&std::fs::read_to_string(c.data.join("truth").join(name)).unwrap());
    let persons: HashMap<String, Vec<String>> = read("persons.csv").into_iter().map(|r| (r[0].clone(), r)).collect();
    let mentions: HashMap<(String, String, String), String> =
        read("mentions.csv").into_iter().map(|r| ((r[0].clone(), r[1].clone(), r[2].clone()), r[3].clone())).collect();
    let mut votes: HashMap<String, HashMap<String, usize>> = HashMap::new();
    for r in rows(c, "SELECT person_key, source, record_key, role FROM person_source WHERE person_key IS NOT NULL") {
        if let Some(id) = mentions.get(&(r[1].clone(), r[2].clone(), r[3].clone())) {
            *votes.entry(r[0].clone()).or_default().entry(id.clone()).or_default() += 1;
        }
    }
    let of_key = votes.into_iter().map(|(key, ids)| (key, ids.into_iter().max_by_key(|(id, n)| (*n, std::cmp::Reverse(id.clone()))).unwrap().0)).collect();
    Truth { persons, mentions, of_key }
}

impl Truth {
    /// The true person of a published key.
    fn person(&self, key: &str) -> &Vec<String> {
        &self.persons[&self.of_key[key]]
    }
}

#[test]
fn every_register_household_is_one_row_with_its_head_members_and_house() {
    let c = city(3000, 11);
    let t = truth(&c);
    let count = |query: &str| sql_count(&c, query);

    let households = count("SELECT COUNT(*) FROM household");
    assert_eq!(households, count("SELECT COUNT(DISTINCT household_no) FROM household"), "one row per household number");
    assert_eq!(households, count("SELECT COUNT(DISTINCT household_no) FROM person_source WHERE source = 'household_register'"));

    // The truth's households: their registered persons, and their head (the first person made).
    let mut registered: BTreeMap<&str, Vec<&Vec<String>>> = BTreeMap::new();
    let mut head: BTreeMap<&str, &str> = BTreeMap::new();
    for p in t.persons.values() {
        let first = head.entry(p[5].as_str()).or_insert(p[0].as_str());
        *first = (*first).min(p[0].as_str());
        if p[8] == "true" {
            registered.entry(p[5].as_str()).or_default().push(p);
        }
    }
    let published: HashMap<String, Vec<String>> = rows(
        &c,
        "SELECT household_no, head_key, members, deceased_members, moved_out_members, house_key, district_code FROM household",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r))
    .collect();
    let number = |s: &String| s.parse::<usize>().expect("a count");
    let mut unchanged = 0;
    for (household, persons) in &registered {
        let row = published.get(*household).unwrap_or_else(|| panic!("household {household} is not published"));
        let (members, deceased, moved_out) = (number(&row[2]), number(&row[3]), number(&row[4]));
        assert_eq!(members + deceased + moved_out, persons.len(), "{household}: every registered person counted once");
        assert_eq!(t.of_key[&row[1]], head[household], "{household}: the head is the register's 户主");
        assert!(!row[5].is_empty(), "{household}: a registered house");
        assert_eq!(row[6], household[..6], "{household}: the district is the number's first six digits");
        if persons.iter().all(|p| p[6].is_empty() && p[7].is_empty()) {
            assert_eq!(members, persons.len(), "{household}: nobody died or moved out, all are members");
            unchanged += 1;
        }
    }
    assert!(unchanged > registered.len() / 2, "{unchanged} of {} households unchanged", registered.len());
    assert!(count("SELECT SUM(deceased_members) FROM household") > 0 && count("SELECT SUM(moved_out_members) FROM household") > 0);

    // The head is a member, by the record named; the house is the one the head is registered at.
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM household h JOIN person_source s ON s.person_key = h.head_key AND s.source = h.source \
             AND s.record_key = h.record_key AND s.household_no = h.household_no"
        ),
        households
    );
    assert_eq!(count("SELECT COUNT(*) FROM household WHERE house_key IS NULL OR house_key NOT IN (SELECT house_key FROM house)"), 0);
    let at_home = "FROM household h JOIN person_house ph ON ph.person_key = h.head_key AND ph.source = h.source \
                   AND ph.record_key = h.record_key AND ph.relation = 'registered_resident'";
    assert!(count(&format!("SELECT COUNT(*) {at_home}")) > households / 2);
    assert_eq!(count(&format!("SELECT COUNT(*) {at_home} WHERE ph.house_key <> h.house_key")), 0);
}

#[test]
fn relations_are_published_both_ways_with_their_source_and_match_the_truth() {
    let c = city(3000, 11);
    let t = truth(&c);
    let count = |query: &str| sql_count(&c, query);

    let relations = count("SELECT COUNT(*) FROM relation");
    assert!(relations > 1000, "{relations} relations");
    assert_eq!(count("SELECT COUNT(*) FROM relation WHERE person_key IS NULL OR other_person_key IS NULL OR person_key = other_person_key"), 0);
    assert_eq!(relations, count("SELECT COUNT(*) FROM (SELECT DISTINCT person_key, relation, other_person_key, source FROM relation)"));
    let kinds: BTreeSet<String> = rows(&c, "SELECT DISTINCT relation || ' ' || source FROM relation").into_iter().map(|r| r[0].clone()).collect();
    let expected: BTreeSet<String> = [
        "spouse_of household_register",
        "parent_of household_register",
        "child_of household_register",
        "parent_of birth_certificates",
        "child_of birth_certificates",
        "co_owner_of housing_property",
    ]
    .map(String::from)
    .into();
    assert_eq!(kinds, expected);
    // Every relation has its inverse, from the same source.
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM relation r LEFT JOIN relation i ON i.person_key = r.other_person_key AND i.other_person_key = r.person_key \
             AND i.source = r.source AND i.relation = CASE r.relation WHEN 'parent_of' THEN 'child_of' WHEN 'child_of' THEN 'parent_of' ELSE r.relation END \
             WHERE i.person_key IS NULL"
        ),
        0
    );

    // A parent is older than the child, whoever says so.
    let parents = rows(&c, "SELECT person_key, other_person_key FROM relation WHERE relation = 'parent_of'");
    let older = parents.iter().filter(|r| t.person(&r[0])[4] < t.person(&r[1])[4]).count();
    assert_eq!(older, parents.len(), "every parent_of row has the parent first");

    // The register's spouses: the head and the member written 配偶, of the same true household.
    let spouses = rows(&c, "SELECT person_key, other_person_key FROM relation WHERE relation = 'spouse_of' AND source = 'household_register'");
    assert_eq!(spouses.len() as u64, 2 * count("SELECT COUNT(*) FROM person WHERE relation = '配偶'"));
    for s in &spouses {
        let (a, b) = (t.person(&s[0]), t.person(&s[1]));
        assert!(a[5] == b[5] && a[3] != b[3], "spouses {s:?}: one household, one man and one woman");
    }

    // Birth certificates: the mother and father of each child, as the truth has them.
    let certificate_parents = |relation: &str| -> BTreeSet<(String, String, String)> {
        rows(&c, &format!("SELECT person_key, other_person_key, record_key FROM relation WHERE source = 'birth_certificates' AND relation = '{relation}'"))
            .into_iter()
            .map(|r| {
                let (parent, child) = if relation == "parent_of" { (&r[0], &r[1]) } else { (&r[1], &r[0]) };
                (t.of_key[parent].clone(), t.of_key[child].clone(), r[2].clone())
            })
            .collect()
    };
    let published = certificate_parents("parent_of");
    assert_eq!(published, certificate_parents("child_of"));
    let true_parents: BTreeSet<(String, String, String)> = t
        .mentions
        .iter()
        .filter(|((source, _, role), _)| source == "birth_certificates" && role != "child")
        .filter_map(|((source, record, _), parent)| t.mentions.get(&(source.clone(), record.clone(), "child".into())).map(|child| (parent.clone(), child.clone(), record.clone())))
        .collect();
    let found = published.intersection(&true_parents).count();
    assert!(published.len() > 50, "{} parents from certificates", published.len());
    assert!(found as f64 >= 0.99 * published.len() as f64, "{found} of {} published parents are true", published.len());
    assert!(found as f64 >= 0.95 * true_parents.len() as f64, "{found} of {} true parents published", true_parents.len());
    // One certificate whose mother is known, in both directions.
    let birth = &rows(&c, "SELECT mother_key, child_key, record_key FROM birth WHERE mother_key IS NOT NULL AND child_key IS NOT NULL ORDER BY record_key LIMIT 1")[0];
    let (mother, child, certificate) = (&birth[0], &birth[1], &birth[2]);
    let stated = format!("source = 'birth_certificates' AND record_key = '{certificate}'");
    assert_eq!(count(&format!("SELECT COUNT(*) FROM relation WHERE person_key = '{mother}' AND relation = 'parent_of' AND other_person_key = '{child}' AND {stated}")), 1);
    assert_eq!(count(&format!("SELECT COUNT(*) FROM relation WHERE person_key = '{child}' AND relation = 'child_of' AND other_person_key = '{mother}' AND {stated}")), 1);

    // Co-owners: the owners of one unit, each row citing the person's own owner record.
    let co_owners: BTreeSet<(String, String)> = rows(&c, "SELECT person_key, other_person_key FROM relation WHERE relation = 'co_owner_of'")
        .into_iter()
        .map(|r| (t.of_key[&r[0]].clone(), t.of_key[&r[1]].clone()))
        .collect();
    let mut owners: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for ((source, record, _), person) in &t.mentions {
        if source == "housing_property" {
            owners.entry(record.split('#').next().unwrap()).or_default().push(person);
        }
    }
    let true_co_owners: BTreeSet<(String, String)> =
        owners.values().flat_map(|o| o.iter().flat_map(|a| o.iter().filter(move |b| a != *b).map(move |b| (a.to_string(), b.to_string())))).collect();
    let found = co_owners.intersection(&true_co_owners).count();
    assert!(co_owners.len() > 50, "{} co-owner pairs", co_owners.len());
    assert!(found as f64 >= 0.99 * co_owners.len() as f64, "{found} of {} published co-owners are true", co_owners.len());
    assert!(found as f64 >= 0.95 * true_co_owners.len() as f64, "{found} of {} true co-owners published", true_co_owners.len());
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM relation r JOIN person_source s ON s.source = r.source AND s.record_key = r.record_key \
             AND s.person_key = r.person_key WHERE r.relation = 'co_owner_of'"
        ),
        count("SELECT COUNT(*) FROM relation WHERE relation = 'co_owner_of'")
    );
}
