//! The report as one HTML page that opens from a mail attachment: inline CSS and SVG, no script,
//! no font, nothing fetched. Sections: the sources (counts, trend, light), quarantine and drift,
//! ID quality, linkage, and the standing reports with the stage timings.

use std::fmt::Write;

use super::charts::{self, Bin, PALETTE, Panel};
use super::{Light, NightReport, ReportError};
use crate::publish::manifest::RunStatus;

const STYLE: &str = "
body { font-family: sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 15px; margin-bottom: 6px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.light { display: inline-block; width: 12px; height: 12px; border-radius: 6px; margin-right: 6px; vertical-align: middle; }
.green { background: #3a9a5b; } .yellow { background: #e0b01e; } .red { background: #c0392b; }
.headline { display: flex; gap: 24px; flex-wrap: wrap; margin: 12px 0; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 8px 14px; }
.figure b { display: block; font-size: 20px; }
.muted { color: #777; font-size: 12px; }
.trends { display: flex; flex-wrap: wrap; gap: 8px; }
code { font-size: 12px; background: #f4f4f4; padding: 0 3px; }
";

/// `1234567` → `1,234,567`.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text as HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A chart's SVG, inline: the namespace attribute goes (HTML knows inline SVG), so the page
/// names no address at all.
fn inline(svg: String) -> String {
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// A table cell.
enum Cell {
    /// Text, escaped when written.
    Text(String),
    /// A figure, right-aligned.
    Number(String),
    /// HTML made here.
    Html(String),
}

fn text(value: &str) -> Cell {
    Cell::Text(value.to_string())
}

fn number(n: u64) -> Cell {
    Cell::Number(count(n))
}

/// A table; a `#` before a header's name right-aligns it over its figures.
fn table(out: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<Cell>>) {
    out.push_str("<table><tr>");
    for h in header {
        match h.strip_prefix('#') {
            Some(name) => write_cell(out, "th class=\"n\"", &escape(name)),
            None => write_cell(out, "th", &escape(h)),
        }
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(t) => write_cell(out, "td", &escape(&t)),
                Cell::Number(n) => write_cell(out, "td class=\"n\"", &n),
                Cell::Html(h) => write_cell(out, "td", &h),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn write_cell(out: &mut String, tag: &str, html: &str) {
    let name = tag.split(' ').next().unwrap_or(tag);
    let _ = write!(out, "<{tag}>{html}</{name}>");
}

fn light(l: Light) -> String {
    format!("<span class=\"light {0}\" title=\"{0}\"></span>{0}", l.as_str())
}

/// The page.
pub fn page(report: &NightReport) -> Result<String, ReportError> {
    let m = &report.manifest;
    let mut out = String::new();
    let night = m.night.map_or_else(|| "no night committed".to_string(), |n| format!("night {n}"));
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>pophub · {} · {night}</title><style>{STYLE}</style></head><body>\n",
        escape(&m.pipeline)
    );
    let status = match m.status {
        RunStatus::Committed => format!("committed as {night}"),
        RunStatus::Stopped => "stopped by drift before anything was published".to_string(),
        RunStatus::Failed => format!("failed in {}", escape(m.failed_stage.as_deref().unwrap_or("?"))),
    };
    let worst = report.lights.iter().map(|l| l.light).max_by_key(|l| *l as u8).unwrap_or(Light::Green);
    let _ = write!(
        out,
        "<h1>{} · {night} · as of {}</h1>\n<p>{} Run <code>{}</code> {status}; started {}, finished {}; pophub {}; pipeline <code>{}</code> (sha256 {}…).</p>\n",
        escape(&m.pipeline),
        escape(&m.as_of),
        light(worst),
        escape(&m.run_id),
        escape(&m.started_at),
        escape(&m.finished_at),
        escape(&m.pophub_version),
        escape(&m.pipeline_file),
        escape(m.pipeline_sha256.get(..12).unwrap_or(&m.pipeline_sha256)),
    );
    if let Some(reason) = &m.reason {
        let _ = writeln!(out, "<p><b>Why:</b> {}</p>", escape(reason));
    }
    sources(report, &mut out)?;
    quarantine(report, &mut out)?;
    id_quality(report, &mut out)?;
    linkage(report, &mut out)?;
    standing(report, &mut out)?;
    out.push_str("</body></html>\n");
    Ok(out)
}

fn sources(report: &NightReport, out: &mut String) -> Result<(), ReportError> {
    let m = &report.manifest;
    out.push_str("<h2 id=\"sources\">Sources</h2>\n");
    let rows = m.sources.iter().zip(&report.lights).map(|(s, l)| {
        let reused = if s.reused { " <span class=\"muted\">(files unchanged: rows reused)</span>" } else { "" };
        vec![
            Cell::Html(light(l.light)),
            Cell::Html(format!("{}{reused}", escape(&s.source))),
            text(&s.department),
            number(s.rows_read),
            number(s.accepted),
            number(s.quarantined),
            Cell::Number(format!("{:.2}", s.quarantined as f64 / s.rows_read.max(1) as f64 * 100.0)),
            text(&l.because.join(", ")),
        ]
    });
    table(out, &["light", "source", "department", "#read", "#accepted", "#quarantined", "#quarantined %", "drift"], rows);
    out.push_str("<h3>Files</h3>\n");
    let rows = m.sources.iter().flat_map(|s| {
        s.files.iter().map(|f| {
            let error = f.error.as_deref().map(|e| format!("<br><span class=\"muted\">{}</span>", escape(e))).unwrap_or_default();
            vec![
                text(&s.source),
                Cell::Html(format!("{}{error}", escape(&f.path))),
                number(f.bytes),
                number(f.rows_read),
                number(f.accepted),
                number(f.quarantined),
                Cell::Html(format!("<code>{}</code>", escape(f.sha256.get(..12).unwrap_or(&f.sha256)))),
            ]
        })
    });
    table(out, &["source", "file", "#bytes", "#read", "#accepted", "#quarantined", "sha256"], rows);
    // One legend for the small charts, in their colours.
    let trend_series = [("read", PALETTE[0]), ("accepted", PALETTE[2]), ("quarantined", PALETTE[3])];
    let legend: Vec<String> = trend_series.iter().map(|(name, c)| format!("<span style=\"color:#{:02x}{:02x}{:02x}\">● {name}</span>", c.0, c.1, c.2)).collect();
    let _ = writeln!(out, "<h3>Against the last nights</h3>\n<p class=\"muted\">Rows per night: {}</p>\n<div class=\"trends\">", legend.join(" "));
    for s in &m.sources {
        let points: Vec<_> = report.trend.iter().filter(|p| p.source == s.source).collect();
        let nights: Vec<String> = points.iter().map(|p| p.night.map_or_else(|| "now".to_string(), |n| n.to_string())).collect();
        let counts = [
            points.iter().map(|p| p.rows_read as f64).collect::<Vec<_>>(),
            points.iter().map(|p| p.accepted as f64).collect(),
            points.iter().map(|p| p.quarantined as f64).collect(),
        ];
        let series: Vec<(&str, _, Vec<f64>)> = trend_series.iter().zip(counts).map(|((name, color), values)| (*name, *color, values)).collect();
        out.push_str(&inline(charts::trend(&s.source, &nights, &series)?));
    }
    out.push_str("</div>\n");
    Ok(())
}

fn quarantine(report: &NightReport, out: &mut String) -> Result<(), ReportError> {
    let m = &report.manifest;
    out.push_str("<h2 id=\"quarantine\">Quarantine, warnings and drift</h2>\n");
    let reasons: Vec<(String, u64)> =
        m.sources.iter().flat_map(|s| s.quarantine_reasons.iter().map(move |(r, n)| (format!("{}: {r}", s.source), *n))).collect();
    let labels: Vec<String> = reasons.iter().map(|(l, _)| l.clone()).collect();
    let values = reasons.iter().map(|(_, n)| *n as f64).collect();
    out.push_str(&inline(charts::bars("Quarantined rows by source and reason", &labels, &[Panel { caption: "", values, color: PALETTE[3], at_least: 0.0 }])?));
    match &report.night {
        Some(figures) if !figures.quarantine_examples.is_empty() => {
            out.push_str("<h3>Examples</h3>\n<p class=\"muted\">Personal data masked (ID numbers, names, addresses, birth dates; whole rows keep only their punctuation). The full rows are in the <code>quarantine</code> table.</p>\n");
            let rows = figures.quarantine_examples.iter().map(|e| {
                vec![text(&e.source), text(&e.reason), text(&e.file), text(&e.position), text(&e.column), Cell::Html(format!("<code>{}</code>", escape(&e.value)))]
            });
            table(out, &["source", "reason", "file", "position", "column", "raw value"], rows);
        }
        Some(_) => out.push_str("<p>No row was quarantined.</p>\n"),
        None => out.push_str("<p class=\"muted\">No night was committed: the examples are in no table.</p>\n"),
    }
    out.push_str("<h3>Warnings per field</h3>\n");
    let warnings: Vec<(&str, &str, u64)> = m.sources.iter().flat_map(|s| s.warnings.iter().map(move |(w, n)| (s.source.as_str(), w.as_str(), *n))).collect();
    if warnings.is_empty() {
        out.push_str("<p>None: every optional field parsed.</p>\n");
    } else {
        table(out, &["source", "field: problem (kept as null)", "#values"], warnings.into_iter().map(|(source, warning, n)| vec![text(source), text(warning), number(n)]));
    }
    out.push_str("<h3>Drift</h3>\n");
    if m.drift.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        let rows = m.drift.iter().map(|e| {
            let action = match e.action {
                crate::config::DriftAction::Stop => "stops the night",
                crate::config::DriftAction::Warn => "warning",
            };
            vec![text(&e.source), text(&e.kind), text(action), text(&e.message)]
        });
        table(out, &["source", "kind", "action", "what changed"], rows);
    }
    Ok(())
}

fn id_quality(report: &NightReport, out: &mut String) -> Result<(), ReportError> {
    out.push_str("<h2 id=\"id-quality\">ID quality</h2>\n");
    let Some(figures) = &report.night else {
        out.push_str("<p class=\"muted\">No night was committed.</p>\n");
        return Ok(());
    };
    let parts = [("valid", PALETTE[2]), ("repaired", PALETTE[0]), ("legacy 15-digit", PALETTE[6]), ("Excel-damaged", PALETTE[1]), ("missing", PALETTE[5]), ("invalid", PALETTE[3])];
    let labels: Vec<String> = figures.id_quality.iter().map(|q| q.source.clone()).collect();
    let values: Vec<Vec<f64>> = figures
        .id_quality
        .iter()
        .map(|q| [q.valid, q.repaired, q.legacy_15, q.excel_damaged, q.missing, q.invalid].iter().map(|&n| n as f64).collect())
        .collect();
    out.push_str(&inline(charts::shares("ID numbers of each source's mentions", &labels, &parts, &values)?));
    let rows = figures.id_quality.iter().map(|q| {
        vec![
            text(&q.source),
            number(q.valid),
            number(q.repaired),
            number(q.legacy_15),
            number(q.excel_damaged),
            number(q.missing),
            number(q.invalid),
            number(q.other_persons_number),
        ]
    });
    table(out, &["source", "#valid", "#repaired", "#legacy 15-digit", "#Excel-damaged", "#missing", "#invalid", "#another person's"], rows);
    out.push_str("<p class=\"muted\">Another person's: a valid number that belongs to a person the mention was not linked to (a family member's number keyed by mistake); counted under valid too.</p>\n");
    Ok(())
}

fn linkage(report: &NightReport, out: &mut String) -> Result<(), ReportError> {
    out.push_str("<h2 id=\"linkage\">Linkage</h2>\n");
    let Some(l) = &report.manifest.linkage else {
        out.push_str("<p class=\"muted\">The run ended before linking.</p>\n");
        return Ok(());
    };
    let _ = write!(
        out,
        "<div class=\"headline\"><div class=\"figure\"><b>{}</b>mentions</div><div class=\"figure\"><b>{}</b>persons</div><div class=\"figure\"><b>{}</b>candidate pairs scored</div><div class=\"figure\"><b>{}</b>links carried over unscored</div>",
        count(l.mentions),
        count(l.persons),
        count(l.pairs_scored),
        count(l.mentions_carried)
    );
    if let Some(f) = &report.night {
        let _ = write!(out, "<div class=\"figure\"><b>{}</b>in the review queue</div>", count(f.review_queue));
    }
    let _ = write!(
        out,
        "</div>\n<p>Model {} (prior weight {:.2}); a link needs match weight ≥ {} and a lead of {} over the runner-up; candidates from {} go to review.</p>\n",
        if l.model_trained { "learned tonight" } else { "of earlier nights" },
        l.model.prior_weight,
        l.match_weight,
        l.margin_weight,
        l.review_weight
    );
    let (labels, values): (Vec<String>, Vec<f64>) = l.rules.iter().map(|(r, n)| (r.clone(), *n as f64)).unzip();
    out.push_str(&inline(charts::bars("Mentions per link rule", &labels, &[Panel { caption: "", values, color: PALETTE[0], at_least: 0.0 }])?));
    if let Some(f) = &report.night {
        let bins: Vec<Bin> = f.weights.iter().map(|b| Bin { from: b.from, counts: vec![b.linked as f64, b.unlinked as f64] }).collect();
        let thresholds = [("match_weight", l.match_weight, PALETTE[3]), ("review_weight", l.review_weight, PALETTE[1])];
        out.push_str(&inline(charts::histogram(
            "Match weight of each mention's chosen (or best) candidate",
            "match weight (log2 odds)",
            &bins,
            super::figures::WEIGHT_BIN,
            &[("linked", PALETTE[0]), ("not linked", PALETTE[5])],
            &thresholds,
        )?));
    }
    // The model's m and u per comparison level, as Splink's parameter chart shows them.
    let levels: Vec<(String, f64, f64)> = l
        .model
        .comparisons
        .iter()
        .flat_map(|c| c.levels.iter().skip(1).map(move |v| (format!("{}: {}", c.comparison, v.level), v.m, v.u)))
        .collect();
    let labels: Vec<String> = levels.iter().map(|(n, _, _)| n.clone()).collect();
    out.push_str(&inline(charts::bars(
        "The model's m and u per comparison level",
        &labels,
        &[
            Panel { caption: "m: share of one person's pairs", values: levels.iter().map(|v| v.1).collect(), color: PALETTE[2], at_least: 1.0 },
            Panel { caption: "u: share of different people's pairs", values: levels.iter().map(|v| v.2).collect(), color: PALETTE[3], at_least: 1.0 },
        ],
    )?));
    let (labels, values): (Vec<String>, Vec<f64>) = l.pairs_by_block.iter().map(|(r, n)| (r.clone(), *n as f64)).unzip();
    out.push_str(&inline(charts::bars("Candidate pairs per blocking rule (each pair under the first rule that found it)", &labels, &[Panel { caption: "", values, color: PALETTE[4], at_least: 0.0 }])?));
    if let Some(f) = &report.night {
        let rows: Vec<(String, f64)> = f
            .identity_conflicts
            .iter()
            .map(|(k, n)| (format!("conflict: {k}"), *n as f64))
            .chain(f.mentions_moved.iter().map(|(k, n)| (format!("mentions {k} since last night"), *n as f64)))
            .collect();
        let (labels, values): (Vec<String>, Vec<f64>) = rows.into_iter().unzip();
        out.push_str(&inline(charts::bars("Identity conflicts, and mentions that moved between persons", &labels, &[Panel { caption: "", values, color: PALETTE[1], at_least: 0.0 }])?));
    }
    if !l.decisions_not_applied.is_empty() {
        let _ = writeln!(out, "<p>{} reviewer decision(s) name a person no longer there and were not applied.</p>", l.decisions_not_applied.len());
    }
    Ok(())
}

fn standing(report: &NightReport, out: &mut String) -> Result<(), ReportError> {
    let m = &report.manifest;
    out.push_str("<h2 id=\"standing\">Standing reports, timings and memory</h2>\n");
    if let Some(f) = &report.night {
        let s = &f.standing;
        let voters: u64 = s.voters_by_district.iter().map(|(_, n)| n).sum();
        let cents = (s.amount_overpaid * 100.0).round() as u64;
        let _ = writeln!(
            out,
            "<div class=\"headline\"><div class=\"figure\"><b>{}</b>persons paid a pension after death</div><div class=\"figure\"><b>{}</b>months paid after death</div><div class=\"figure\"><b>{}.{:02}</b>amount paid after death</div><div class=\"figure\"><b>{}</b>voters on {}</div></div>",
            count(s.deceased_with_pension),
            count(s.months_paid_after_death),
            count(cents / 100),
            cents % 100,
            count(voters),
            escape(&m.as_of)
        );
        let (labels, values): (Vec<String>, Vec<f64>) = s.voters_by_district.iter().map(|(d, n)| (d.clone(), *n as f64)).unzip();
        out.push_str(&inline(charts::bars(&format!("Voters per district on {}", m.as_of), &labels, &[Panel { caption: "", values, color: PALETTE[0], at_least: 0.0 }])?));
    }
    let stages: Vec<_> = m.stages.iter().chain(&m.publish_stages).collect();
    let labels: Vec<String> = m.stages.iter().map(|s| s.stage.clone()).chain(m.publish_stages.iter().map(|s| format!("publish: {}", s.stage))).collect();
    out.push_str(&inline(charts::bars(
        "Stage timings and memory",
        &labels,
        &[
            Panel { caption: "seconds", values: stages.iter().map(|s| s.seconds).collect(), color: PALETTE[4], at_least: 0.0 },
            Panel { caption: "peak memory when it ended (MB)", values: stages.iter().map(|s| s.peak_memory_bytes as f64 / 1e6).collect(), color: PALETTE[5], at_least: 0.0 },
        ],
    )?));
    let rows = labels.iter().zip(&stages).map(|(label, s)| {
        vec![text(label), Cell::Number(format!("{:.2}", s.seconds)), Cell::Number(format!("{:.0}", s.peak_memory_bytes as f64 / 1e6))]
    });
    table(out, &["stage", "#seconds", "#peak MB"], rows);
    let _ = writeln!(out, "<p>Peak memory of the run: {:.1} MB.</p>", m.peak_memory_bytes as f64 / 1e6);
    if !m.tables.is_empty() {
        out.push_str("<h3>Tables</h3>\n");
        table(out, &["table", "#version", "#rows"], m.tables.iter().map(|t| vec![text(&t.name), number(t.version), number(t.rows)]));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{count, escape};

    #[test]
    fn counts_have_thousands_separators_and_text_is_escaped() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(escape("<a href=\"x\">&"), "&lt;a href=&quot;x&quot;&gt;&amp;");
    }
}
