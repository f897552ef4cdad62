//! The night's report: every run writes `_runs/<run>/report.html`, `pophub report night` renders
//! any night as the page or as JSON, the page is self-contained and charts every section, and its
//! figures are the manifest's.

mod common;

use common::*;

/// Every `src` and `href` attribute value of a page.
fn links(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attribute in ["src=", "href="] {
        for (at, _) in html.match_indices(attribute) {
            let rest = &html[at + attribute.len()..];
            let value: String = rest.trim_start_matches(['"', '\'']).chars().take_while(|c| !matches!(c, '"' | '\'' | ' ' | '>')).collect();
            out.push(value);
        }
    }
    out
}

/// The section of the page from heading `id` to the next section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("<h2 id=\"{id}\"")).unwrap_or_else(|| panic!("no section {id}"));
    let rest = &html[start + 1..];
    &html[start..start + 1 + rest.find("<h2 ").unwrap_or(rest.len())]
}

/// `1234567` as the page writes it, `1,234,567`.
fn figure(n: u64) -> String {
    let digits = n.to_string();
    digits.chars().enumerate().fold(String::new(), |mut s, (i, c)| {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            s.push(',');
        }
        s.push(c);
        s
    })
}

#[test]
fn every_run_writes_a_self_contained_report_whose_figures_are_the_manifests() {
    let c = city(1200, 61);
    let manifest = manifest(&c.warehouse);
    let run_id = manifest["run_id"].as_str().unwrap();
    let page = std::fs::read_to_string(c.warehouse.join("_runs").join(run_id).join("report.html")).expect("the run wrote its report");
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<style>"));
    assert!(!page.contains("<script") && !page.contains("http://") && !page.contains("https://"), "nothing fetched or linked");
    assert!(links(&page).iter().all(|l| !l.contains("//")), "{:?}", links(&page));

    // A chart in every section.
    for id in ["sources", "quarantine", "id-quality", "linkage", "standing"] {
        assert!(section(&page, id).contains("<svg"), "section {id} has no chart");
    }
    // The linkage section draws the rules, the weights with the thresholds, m and u, and the blocks.
    let linkage = section(&page, "linkage");
    assert!(linkage.matches("<svg").count() >= 4, "linkage charts: {}", linkage.matches("<svg").count());
    let l = &manifest["linkage"];
    assert!(linkage.contains(&format!("match_weight = {}", l["match_weight"].as_f64().unwrap())), "the match threshold is drawn");

    // The sources' figures are the manifest's.
    let sources = section(&page, "sources");
    for s in manifest["sources"].as_array().unwrap() {
        let row = format!(
            "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
            figure(s["rows_read"].as_u64().unwrap()),
            figure(s["accepted"].as_u64().unwrap()),
            figure(s["quarantined"].as_u64().unwrap())
        );
        assert!(sources.contains(&row), "{}: {row}", s["source"]);
    }
    for key in ["mentions", "persons", "pairs_scored"] {
        assert!(linkage.contains(&format!("<b>{}</b>", figure(l[key].as_u64().unwrap()))), "{key}");
    }
    for (rule, n) in l["rules"].as_object().unwrap() {
        assert!(linkage.contains(rule.as_str()), "rule {rule} ({n}) is charted");
    }
    let pairs: u64 = l["pairs_by_block"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(pairs, l["pairs_scored"].as_u64().unwrap(), "every pair scored is under one blocking rule");

    // The standing reports' headline counts are the reports'.
    let deceased = csv_rows(&ok(&["report", "deceased-pensions", "--warehouse", path(&c.warehouse), "--format", "csv"]));
    let standing = section(&page, "standing");
    assert!(standing.contains(&format!("<b>{}</b>persons paid a pension after death", figure(deceased.len() as u64))), "deceased count");

    // Personal data in the quarantine examples is masked: no 18-digit ID number on the page.
    let digits: Vec<&str> = page.split(|c: char| !c.is_ascii_digit()).filter(|run| run.len() >= 17).collect();
    assert!(digits.is_empty(), "ID-like numbers on the page: {digits:?}");
}

#[test]
fn report_night_renders_any_night_as_html_or_as_the_manifests_json() {
    let c = city(800, 62);
    let data2 = c.dir.path().join("night2");
    copy_dir(&generated(800, 62, 2), &data2);
    ok(&["run", PIPELINE, "--data-root", path(&data2), "--warehouse", path(&c.warehouse)]);

    let json: serde_json::Value = serde_json::from_str(&ok(&["report", "night", "--warehouse", path(&c.warehouse), "--night", "1", "--format", "json"])).unwrap();
    let night1 = &nights(&c.warehouse)["nights"][0];
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(c.warehouse.join("_runs").join(format!("{}.json", night1["run_id"].as_str().unwrap()))).unwrap(),
    )
    .unwrap();
    assert_eq!(json["manifest"], manifest, "the JSON carries the night's manifest as written");
    assert_eq!(json["lights"].as_array().unwrap().len(), manifest["sources"].as_array().unwrap().len());
    assert!(json["lights"].as_array().unwrap().iter().all(|l| ["green", "yellow", "red"].contains(&l["light"].as_str().unwrap())));
    let quality: u64 = json["night"]["id_quality"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| ["valid", "repaired", "legacy_15", "excel_damaged", "missing", "invalid"].iter().map(|k| q[*k].as_u64().unwrap()).sum::<u64>())
        .sum();
    assert_eq!(quality, manifest["linkage"]["mentions"].as_u64().unwrap(), "each mention's ID is counted once");
    let weighed: u64 = json["night"]["weights"].as_array().unwrap().iter().map(|b| b["linked"].as_u64().unwrap() + b["unlinked"].as_u64().unwrap()).sum();
    assert!(weighed > 0 && weighed <= quality);

    // The second night's trend reaches back to the first.
    let out = c.dir.path().join("night2.html");
    ok(&["report", "night", "--warehouse", path(&c.warehouse), "--out", path(&out)]);
    let json2: serde_json::Value = serde_json::from_str(&ok(&["report", "night", "--warehouse", path(&c.warehouse), "--format", "json"])).unwrap();
    let nights_in_trend: std::collections::BTreeSet<u64> = json2["trend"].as_array().unwrap().iter().map(|p| p["night"].as_u64().unwrap()).collect();
    assert_eq!(nights_in_trend.into_iter().collect::<Vec<_>>(), vec![1, 2]);
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("night 2") && page.contains("<svg"));

    let missing = pophub(&["report", "night", "--warehouse", path(&c.warehouse), "--night", "9"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("readable nights: 1, 2"));
}

#[test]
fn a_night_stopped_by_drift_still_writes_its_report_with_the_light_red() {
    let c = city(600, 63);
    // Tonight's household register lost most of its rows: shrink stops the night.
    let data2 = c.dir.path().join("shrunk");
    copy_dir(&c.data, &data2);
    let register = data2.join("police/household_register.csv");
    let bytes = std::fs::read(&register).unwrap();
    let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    std::fs::write(&register, lines[..lines.len() / 5].join(&b'\n')).unwrap();
    let out = pophub(&["run", PIPELINE, "--data-root", path(&data2), "--warehouse", path(&c.warehouse)]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let runs = run_manifests(&c.warehouse);
    let pages: Vec<_> = runs.iter().map(|m| c.warehouse.join("_runs").join(m["run_id"].as_str().unwrap()).join("report.html")).collect();
    assert!(pages.iter().all(|p| p.is_file()), "both runs wrote a report");
    assert_eq!(runs[1]["status"], "stopped");
    let page = std::fs::read_to_string(&pages[1]).unwrap();
    assert!(page.contains("stopped by drift") && page.contains("light red"), "the stopped night's page");
    assert!(page.contains("No night was committed"));
}
