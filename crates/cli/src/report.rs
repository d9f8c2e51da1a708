//! The HTML report: one self-contained file (no script at all, no network:
//! the Content-Security-Policy allows only its own style block, by hash, and
//! inline images), readable offline and printable.
//!
//! Everything that came from the logs is hostile text: it reaches the page
//! only through [`esc`], which escapes HTML's five special characters and
//! shows control characters as `\x1b`; no attribute or URL is ever built
//! from it (the only links are the catalogue's `http(s)` references).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use irprep::ops::drill::DrillScore;
use irprep::ops::report::HuntDocument;
use irprep_core::attack::{self, Matrix};
use irprep_core::detect::Severity;
use irprep_engine::hunt::incidents::{seconds, stage, tactic_rank};
use irprep_engine::hunt::{Finding, Incident};

/// What a report shows.
pub struct ReportInput<'a> {
    pub hunt: Option<&'a HuntDocument>,
    pub drill: Option<&'a DrillScore>,
    /// Technique ids the drill validated (detections that fired on a passed
    /// scenario).
    pub validated: BTreeSet<String>,
    /// The catalogue's detections (for coverage), when no hunt names them.
    pub catalogue: Vec<irprep::ops::report::DetectionInfo>,
    pub matrix: &'a Matrix,
}

const STYLE: &str = r#"
:root{--fg:#1d232b;--muted:#5b6673;--line:#d6dbe1;--bg:#fff;--crit:#8b0000;--high:#c0392b;--med:#d68910;--low:#2e86c1;--info:#7f8c8d;--fired:#c0392b;--valid:#1e8449;--cov:#aed6f1;--none:#f2f3f4}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0;padding:24px 32px;max-width:1400px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}
.muted{color:var(--muted)}
table{border-collapse:collapse;width:100%;margin:6px 0 12px}th,td{border:1px solid var(--line);padding:3px 6px;text-align:left;vertical-align:top}td.mono,td.ua{overflow-wrap:anywhere}.sev{white-space:nowrap}th{background:#f4f6f8;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
pre{white-space:pre-wrap;word-break:break-all;background:#f8f9fa;border:1px solid var(--line);padding:6px;margin:4px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:8px 0}.card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:130px}.card b{display:block;font-size:22px}
.sev{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;font-size:12px;font-weight:600;text-transform:uppercase}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}.sev-low{background:var(--low)}.sev-info{background:var(--info)}
.incident{border:1px solid var(--line);border-radius:6px;padding:10px 14px;margin:14px 0;page-break-inside:avoid}
.incident h3{margin-top:0}.summary{margin:6px 0 10px}
.chain{display:flex;flex-wrap:wrap;align-items:center;gap:6px;margin:6px 0}.chain span{border:1px solid var(--line);border-radius:12px;padding:1px 8px;font-size:12px}.chain i{color:var(--muted);font-style:normal}
details summary{cursor:pointer;color:var(--muted)}
.matrix{display:grid;grid-auto-flow:column;grid-auto-columns:minmax(0,1fr);gap:4px}.matrix h4{font-size:12px;margin:0 0 4px;padding:4px;background:#f4f6f8;border:1px solid var(--line)}
.t{font-size:11px;overflow-wrap:anywhere;hyphens:auto;border:1px solid var(--line);border-radius:3px;padding:3px 4px;margin:0 0 3px;background:var(--none)}
.t.covered{background:var(--cov)}.t.validated{background:var(--valid);color:#fff}.t.fired{background:var(--fired);color:#fff}
.t small{display:block;opacity:.85}
.legend span{display:inline-block;margin-right:12px}.legend .t{display:inline-block;margin:0 4px 0 0}
svg text{font:11px system-ui,sans-serif;fill:var(--fg)}
@media print{body{padding:0}details{display:block}details>*{display:block}.incident{border-color:#999}}
"#;

/// HTML-escape text from anywhere (logs, files, the catalogue): control
/// characters shown as the terminal sees them (`\x1b`, [`terminal_safe`]),
/// then HTML's five special characters as entities.
///
/// [`terminal_safe`]: crate::output::terminal_safe
pub fn esc(s: &str) -> String {
    let s = crate::output::terminal_safe(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An identifier for an HTML `id` or `data-` value: only `[A-Za-z0-9._:-]`
/// survive (anything else becomes `_`).
fn ident(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn sev(s: Severity) -> String {
    format!("<span class=\"sev sev-{s}\">{s}</span>")
}

/// The base64 SHA-256 of the style block, for the CSP.
fn style_hash() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .encode(irprep_core::integrity::sha256(STYLE.as_bytes()))
}

/// The report, as one HTML document.
pub fn html(input: &ReportInput) -> String {
    let mut h = String::with_capacity(1 << 16);
    let csp = format!(
        "default-src 'none'; style-src 'sha256-{}'; img-src data:; base-uri 'none'; form-action 'none'",
        style_hash()
    );
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>irprep report</title><style>{STYLE}</style></head><body>\n"
    );
    let when = input
        .hunt
        .map(|d| d.generated_at.clone())
        .unwrap_or_else(|| chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let _ = writeln!(
        h,
        "<header><h1>irprep incident-response report</h1><div class=\"muted\">generated {} by irprep {}</div></header>",
        esc(&when),
        esc(env!("CARGO_PKG_VERSION"))
    );
    if let Some(doc) = input.hunt {
        summary(&mut h, doc);
        incidents(&mut h, doc);
        findings_table(&mut h, doc);
    }
    // A drill alone is read for its coverage first.
    if input.hunt.is_none() {
        matrix(&mut h, input);
    }
    if let Some(d) = input.drill {
        drill(&mut h, d);
    }
    if input.hunt.is_some() {
        matrix(&mut h, input);
    }
    h.push_str("<footer class=\"muted\"><p>Every value taken from the logs is shown as text. This file loads nothing from the network.</p></footer>\n</body></html>\n");
    h
}

fn summary(h: &mut String, doc: &HuntDocument) {
    let by_sev = |s: Severity| doc.findings.iter().filter(|f| f.severity == s).count();
    let _ = write!(
        h,
        "<section id=\"summary\" data-findings=\"{}\" data-incidents=\"{}\" data-detections=\"{}\"><h2>Summary</h2><div class=\"cards\">",
        doc.findings.len(),
        doc.incidents.len(),
        doc.detections.len()
    );
    let _ = write!(
        h,
        "<div class=\"card\"><b>{}</b>incidents</div><div class=\"card\"><b>{}</b>findings</div>",
        doc.incidents.len(),
        doc.findings.len()
    );
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        let _ = write!(
            h,
            "<div class=\"card\" data-severity=\"{s}\"><b>{}</b>{}</div>",
            by_sev(s),
            sev(s)
        );
    }
    let _ = write!(
        h,
        "<div class=\"card\"><b>{}</b>detections run ({})</div></div>",
        doc.detections.len(),
        esc(&doc.engine)
    );
    if let Some(c) = &doc.coverage {
        let _ = write!(
            h,
            "<h3>Logs covered</h3><p id=\"coverage\" data-events=\"{}\">{} CloudTrail event(s) from {}:00Z to {}:59Z; {} account(s), {} region(s), {} event source(s).</p>",
            c.events,
            c.events,
            esc(&c.first),
            esc(&c.last),
            c.accounts.len(),
            c.regions.len(),
            c.sources.len()
        );
        h.push_str("<table><tr><th>account</th><th>region</th><th>events</th><th>first hour</th><th>last hour</th></tr>");
        for cell in c.cells.iter().take(500) {
            let _ = write!(
                h,
                "<tr><td class=\"mono\">{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&cell.account),
                esc(&cell.region),
                cell.events,
                esc(&cell.first),
                esc(&cell.last)
            );
        }
        h.push_str("</table>");
        if c.gaps.is_empty() {
            h.push_str(
                "<p>No hour without events between each account's first and last event.</p>",
            );
        } else {
            let _ = write!(
                h,
                "<h3>Hours without events</h3><p class=\"muted\">Between an account's first and last event, hours in which no region logged anything: a delivery gap, logging stopped, or a quiet hour.</p><table id=\"gaps\"><tr><th>account</th><th>from</th><th>to</th><th>hours</th></tr>"
            );
            for g in c.gaps.iter().take(200) {
                let _ = write!(
                    h,
                    "<tr><td class=\"mono\">{}</td><td>{}:00Z</td><td>{}:59Z</td><td class=\"num\">{}</td></tr>",
                    esc(&g.account),
                    esc(&g.from),
                    esc(&g.to),
                    g.hours
                );
            }
            h.push_str("</table>");
        }
    }
    if !doc.errors.is_empty() {
        h.push_str("<h3>Detections that did not run</h3><ul>");
        for (id, e) in &doc.errors {
            let _ = write!(h, "<li><code>{}</code>: {}</li>", esc(id), esc(e));
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

fn incidents(h: &mut String, doc: &HuntDocument) {
    let _ = write!(
        h,
        "<section id=\"incidents\"><h2>Incidents ({})</h2>",
        doc.incidents.len()
    );
    if doc.incidents.is_empty() {
        h.push_str("<p>No incident: no finding of medium severity or above, and no findings tied to one actor.</p>");
    }
    for i in &doc.incidents {
        incident(h, doc, i);
    }
    h.push_str("</section>\n");
}

fn incident(h: &mut String, doc: &HuntDocument, i: &Incident) {
    let _ = write!(
        h,
        "<article class=\"incident\" id=\"{}\" data-findings=\"{}\" data-events=\"{}\" data-severity=\"{}\"><h3>{} {} <span class=\"mono\">{}</span></h3>",
        ident(&i.id),
        i.findings.len(),
        i.event_count,
        i.severity,
        sev(i.severity),
        esc(&i.title),
        esc(&i.id)
    );
    let _ = write!(h, "<p class=\"summary\">{}</p>", esc(&i.summary));
    let _ = write!(
        h,
        "<p class=\"muted\">{} to {} · tactics: {}{}</p>",
        esc(&i.first_seen),
        esc(&i.last_seen),
        esc(&i.tactics.join(", ")),
        if i.kill_chain {
            " · <b>kill-chain progression</b>"
        } else {
            ""
        }
    );
    // The principal's chain: who, with which keys, from where.
    h.push_str("<div class=\"chain\">");
    let mut first = true;
    for (label, items) in [
        ("principal", &i.principals),
        ("access key", &i.access_keys),
        ("address", &i.source_ips),
    ] {
        for v in items.iter().take(8) {
            if !first {
                h.push_str("<i>·</i>");
            }
            first = false;
            let _ = write!(h, "<span title=\"{label}\">{}</span>", esc(v));
        }
        if items.len() > 8 {
            let _ = write!(h, "<i>+{} more</i>", items.len() - 8);
        }
    }
    h.push_str("</div>");
    if !i.links.is_empty() {
        let links: Vec<String> = i
            .links
            .iter()
            .take(12)
            .map(|l| format!("{} {}", l.kind.replace('_', " "), l.value))
            .collect();
        let more = i.links.len().saturating_sub(12);
        let _ = write!(
            h,
            "<p class=\"muted\">joined by: {}{}</p>",
            esc(&links.join("; ")),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        );
    }
    let fs: Vec<&Finding> = i
        .findings
        .iter()
        .filter_map(|r| doc.findings.get(r.index))
        .collect();
    timeline(h, doc, &fs);
    h.push_str("<table><tr><th>severity</th><th>detection</th><th>principal</th><th>events</th><th>first seen</th><th>last seen</th><th>ATT&amp;CK</th></tr>");
    for f in &fs {
        finding_row(h, f, None);
    }
    h.push_str("</table>");
    // Evidence: the events as a table, each one's raw fields on demand.
    let mut shown = 0;
    let mut rows = String::new();
    for f in &fs {
        for id in f
            .event_ids
            .iter()
            .take(irprep::ops::report::EVIDENCE_PER_FINDING)
        {
            let Some(e) = doc.evidence.get(id) else {
                continue;
            };
            shown += 1;
            let get = |k: &str| match e.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            };
            let raw = serde_json::to_string_pretty(e).unwrap_or_default();
            let _ = write!(
                rows,
                "<tr class=\"event\"><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"ua\">{}</td><td>{}</td><td class=\"ua\"><details><summary>raw</summary><pre>{}</pre></details></td></tr>",
                esc(&get("eventtime")),
                esc(&get("eventname")),
                esc(&get("eventsource")),
                esc(&get("arn")),
                esc(&get("sourceipaddress")),
                esc(&get("useragent")),
                esc(&get("errorcode")),
                esc(&raw)
            );
        }
    }
    if shown > 0 {
        let _ = write!(
            h,
            "<details class=\"evidence\" open><summary>evidence: {shown} event(s) (at most {} per finding)</summary><table><tr><th>time</th><th>event</th><th>source</th><th>principal</th><th>address</th><th>user agent</th><th>error</th><th></th></tr>{rows}</table></details>",
            irprep::ops::report::EVIDENCE_PER_FINDING
        );
    }
    h.push_str("</article>\n");
}

/// Events over time by tactic: one lane per tactic, each finding's span as
/// a bar, its evidence events (where looked up) as ticks.
fn timeline(h: &mut String, doc: &HuntDocument, fs: &[&Finding]) {
    let spans: Vec<(i64, i64)> = fs
        .iter()
        .filter_map(|f| Some((seconds(&f.first_seen)?, seconds(&f.last_seen)?)))
        .collect();
    let (Some(t0), Some(t1)) = (
        spans.iter().map(|s| s.0).min(),
        spans.iter().map(|s| s.1).max(),
    ) else {
        return;
    };
    let mut lanes: Vec<String> = fs
        .iter()
        .flat_map(|f| f.tactics.iter().cloned())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    lanes.sort_by_key(|t| (stage(t), tactic_rank(t)));
    if lanes.is_empty() {
        lanes.push("(no tactic)".into());
    }
    let (left, width, lane_h) = (150.0, 760.0, 22.0);
    let span = (t1 - t0).max(60) as f64;
    let x = |t: i64| left + (t - t0) as f64 / span * width;
    let height = lanes.len() as f64 * lane_h + 30.0;
    let _ = write!(
        h,
        "<svg class=\"timeline\" role=\"img\" aria-label=\"timeline\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        left + width + 20.0,
        left + width + 20.0
    );
    let colour = |f: &Finding| match f.severity {
        Severity::Critical => "#8b0000",
        Severity::High => "#c0392b",
        Severity::Medium => "#d68910",
        Severity::Low => "#2e86c1",
        Severity::Info => "#7f8c8d",
    };
    for (n, lane) in lanes.iter().enumerate() {
        let y = n as f64 * lane_h + 4.0;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{}\">{}</text><line x1=\"{left}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#d6dbe1\"/>",
            y + 14.0,
            esc(lane),
            left + width,
            y + 10.0,
            y + 10.0
        );
        for f in fs
            .iter()
            .filter(|f| f.tactics.contains(lane) || (f.tactics.is_empty() && lane == "(no tactic)"))
        {
            let (Some(a), Some(b)) = (seconds(&f.first_seen), seconds(&f.last_seen)) else {
                continue;
            };
            let (xa, xb) = (x(a), x(b).max(x(a) + 3.0));
            let _ = write!(
                h,
                "<rect x=\"{xa:.1}\" y=\"{}\" width=\"{:.1}\" height=\"12\" rx=\"2\" fill=\"{}\" fill-opacity=\"0.35\"><title>{}</title></rect>",
                y + 4.0,
                xb - xa,
                colour(f),
                esc(&format!("{} ({} events, {} to {})", f.title, f.event_count, f.first_seen, f.last_seen))
            );
            for id in f
                .event_ids
                .iter()
                .take(irprep::ops::report::EVIDENCE_PER_FINDING)
            {
                if let Some(t) = doc
                    .evidence
                    .get(id)
                    .and_then(|e| e.get("eventtime"))
                    .and_then(|v| v.as_str())
                    .and_then(seconds)
                {
                    let _ = write!(
                        h,
                        "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"{3}\"/>",
                        x(t),
                        y + 3.0,
                        y + 17.0,
                        colour(f)
                    );
                }
            }
        }
    }
    let axis_y = lanes.len() as f64 * lane_h + 20.0;
    let label = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M:%SZ").to_string())
            .unwrap_or_default()
    };
    let _ = write!(
        h,
        "<text x=\"{left}\" y=\"{axis_y}\">{}</text><text x=\"{}\" y=\"{axis_y}\" text-anchor=\"end\">{}</text></svg>",
        esc(&label(t0)),
        left + width,
        esc(&label(t1))
    );
}

/// One finding as a table row; `incident`: the extra cell of the table of
/// all findings.
fn finding_row(h: &mut String, f: &Finding, incident: Option<&str>) {
    let _ = write!(
        h,
        "<tr class=\"finding\" data-detection=\"{}\"><td>{}</td><td>{}<br><code>{}</code></td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td>",
        ident(&f.detection_id),
        sev(f.severity),
        esc(&f.title),
        esc(&f.detection_id),
        esc(&f.principal),
        f.event_count,
        esc(&f.first_seen),
        esc(&f.last_seen),
        esc(&f.attack.join(", "))
    );
    if let Some(i) = incident {
        let _ = write!(h, "<td>{}</td>", esc(i));
    }
    h.push_str("</tr>");
}

fn findings_table(h: &mut String, doc: &HuntDocument) {
    let _ = write!(
        h,
        "<section id=\"findings\"><h2>All findings ({})</h2><table><tr><th>severity</th><th>detection</th><th>principal</th><th>events</th><th>first seen</th><th>last seen</th><th>ATT&amp;CK</th><th>incident</th></tr>",
        doc.findings.len()
    );
    let mut of: BTreeMap<usize, &str> = BTreeMap::new();
    for i in &doc.incidents {
        for r in &i.findings {
            of.insert(r.index, &i.id);
        }
    }
    for (n, f) in doc.findings.iter().enumerate() {
        finding_row(h, f, Some(of.get(&n).copied().unwrap_or_default()));
    }
    h.push_str("</table></section>\n");
}

fn drill(h: &mut String, d: &DrillScore) {
    let _ = write!(
        h,
        "<section id=\"drill\" data-detected=\"{}\" data-total=\"{}\"><h2>Drill ({}): {}/{} scenarios detected</h2><table><tr><th>scenario</th><th>events</th><th>expected detections</th><th>fired</th><th>result</th></tr>",
        d.detected,
        d.total,
        d.mode.as_str(),
        d.detected,
        d.total
    );
    for s in &d.scenarios {
        let _ = write!(
            h,
            "<tr class=\"scenario\" data-result=\"{}\"><td>{}<br><code>{}</code></td><td class=\"num\">{}/{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            s.result.as_str(),
            esc(&s.title),
            esc(&s.scenario),
            s.events_present,
            s.expected_events,
            esc(&s.expected_detections.join(", ")),
            esc(&s.fired.join(", ")),
            s.result.as_str()
        );
    }
    let _ = writeln!(
        h,
        "</table><p class=\"muted\">{} finding(s) on background activity. Logs: {}</p></section>",
        d.background_findings,
        esc(&d.logs)
    );
}

/// A technique's state in the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    None,
    Covered,
    Validated,
    Fired,
}

impl Cell {
    fn class(self) -> &'static str {
        match self {
            Cell::None => "none",
            Cell::Covered => "covered",
            Cell::Validated => "validated",
            Cell::Fired => "fired",
        }
    }
}

fn matrix(h: &mut String, input: &ReportInput) {
    let detections = input
        .hunt
        .map(|d| d.detections.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| input.catalogue.clone());
    let covered: BTreeSet<&str> = detections
        .iter()
        .flat_map(|d| d.attack.iter().map(String::as_str))
        .collect();
    let fired: BTreeSet<&str> = input
        .hunt
        .map(|d| {
            d.findings
                .iter()
                .flat_map(|f| f.attack.iter().map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    let state = |id: &str| -> Cell {
        if fired.contains(id) {
            Cell::Fired
        } else if input.validated.contains(id) {
            Cell::Validated
        } else if covered.contains(id) {
            Cell::Covered
        } else {
            Cell::None
        }
    };
    let m = input.matrix;
    let all = m.ids();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &all {
        *counts.entry(state(id).class()).or_default() += 1;
    }
    let _ = write!(
        h,
        "<section id=\"attack\" data-covered=\"{}\" data-validated=\"{}\" data-fired=\"{}\" data-none=\"{}\"><h2>ATT&amp;CK coverage (IaaS, ATT&amp;CK {})</h2>",
        counts.get("covered").unwrap_or(&0),
        counts.get("validated").unwrap_or(&0),
        counts.get("fired").unwrap_or(&0),
        counts.get("none").unwrap_or(&0),
        esc(&m.version)
    );
    h.push_str("<p class=\"legend\"><span><span class=\"t fired\">fired</span>found in this hunt</span><span><span class=\"t validated\">validated</span>a drill proved the detection fires</span><span><span class=\"t covered\">covered</span>a detection exists</span><span><span class=\"t\">none</span>no detection: a blind spot</span></p>");
    h.push_str("<div class=\"matrix\">");
    for t in &m.tactics {
        let _ = write!(h, "<div class=\"col\"><h4>{}</h4>", esc(&t.name));
        for tech in &t.techniques {
            // A technique shows the best of itself and its sub-techniques.
            let best = std::iter::once(state(&tech.id))
                .chain(tech.sub.iter().map(|s| state(&s.id)))
                .max()
                .unwrap_or(Cell::None);
            let subs: Vec<String> = tech
                .sub
                .iter()
                .filter(|s| state(&s.id) != Cell::None)
                .map(|s| format!("{} {}", s.id, s.name))
                .collect();
            let _ = write!(
                h,
                "<div class=\"t {}\" data-technique=\"{}\"><b>{}</b> {}{}{}</div>",
                best.class(),
                ident(&tech.id),
                esc(&tech.id),
                esc(&tech.name),
                if tech.platform_note.is_some() {
                    " <small>(not IaaS in ATT&amp;CK)</small>"
                } else {
                    ""
                },
                if subs.is_empty() {
                    String::new()
                } else {
                    format!("<small>{}</small>", esc(&subs.join("; ")))
                }
            );
        }
        h.push_str("</div>");
    }
    h.push_str("</div>");
    // Techniques the catalogue names that the matrix does not hold.
    let outside: Vec<&str> = covered
        .iter()
        .copied()
        .filter(|id| !all.contains(id) && !all.contains(attack::parent(id)))
        .collect();
    if !outside.is_empty() {
        let _ = write!(
            h,
            "<p class=\"muted\">Detections also name techniques outside the IaaS matrix: {}</p>",
            esc(&outside.join(", "))
        );
    }
    h.push_str("</section>\n");
}

/// Write the report page to a file.
pub fn write(
    path: &std::path::Path,
    hunt: Option<&HuntDocument>,
    drill: Option<&DrillScore>,
    validated: BTreeSet<String>,
    catalogue: Vec<irprep::ops::report::DetectionInfo>,
    quiet: bool,
) -> anyhow::Result<()> {
    let matrix = Matrix::builtin().map_err(anyhow::Error::msg)?;
    let page = html(&ReportInput {
        hunt,
        drill,
        validated,
        catalogue,
        matrix: &matrix,
    });
    std::fs::write(path, page)
        .map_err(|e| anyhow::anyhow!("writing the report {}: {e}", path.display()))?;
    if !quiet {
        eprintln!("irprep: report written to {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_inert() {
        let bad = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>'\u{1b}[31m";
        let e = esc(bad);
        assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        assert!(e.contains("\\x1b"));
        assert_eq!(ident("a\"b c<d"), "a_b_c_d");
    }
}
