//! Output writers: a human table by default, `json`, `jsonl` and `csv` for
//! scripts. Machine formats are stable: column names as the query names them,
//! NULL as JSON null / empty CSV field.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
use irprep_aws::logs::{Change, Failure, Inspection, Source, State};
use irprep_engine::{render, QueryResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Jsonl,
    Csv,
}

/// Text from the logs made safe for a terminal: control characters (C0
/// but tab and newline, DEL, C1) shown escaped (`\x1b`, `\u{9b}`), so an
/// escape sequence planted in a user agent or an object key cannot move the
/// cursor, erase lines, set the title or write the clipboard.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| (c.is_control() && c != '\n' && c != '\t') || c == '\u{7f}';
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !bad(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Warnings and notes carrying log text (file names, keys, values) for
/// stderr, made safe as [`terminal_safe`] makes table cells (one line).
pub fn stderr_safe(s: &str) -> String {
    terminal_safe(s).replace('\n', "\\n")
}

/// Neutralise CSV cells a spreadsheet would run as formulas (`=`, `+`, `-`,
/// `@`, tab or CR first) by a leading `'`; numbers stay as they are.
static CSV_SAFE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set once by `main` (`--csv-safe`, or stdout a terminal).
pub fn set_csv_safe(on: bool) {
    CSV_SAFE.store(on, std::sync::atomic::Ordering::Relaxed);
}

pub fn csv_cell(s: String) -> String {
    if !CSV_SAFE.load(std::sync::atomic::Ordering::Relaxed) {
        return s;
    }
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s
    }
}

/// A table for people: wraps to the terminal width when there is one; cells
/// are made [`terminal_safe`].
pub fn human_table(headers: &[String], rows: &[Vec<String>]) -> String {
    human_table_trusting(headers, rows, &[])
}

/// [`human_table`], with the cells of the `trusted` columns kept as they are
/// (irprep's own colours; never log text).
pub fn human_table_trusting(headers: &[String], rows: &[Vec<String>], trusted: &[usize]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(headers);
    for r in rows {
        t.add_row(r.iter().enumerate().map(|(i, c)| {
            if trusted.contains(&i) {
                c.clone()
            } else {
                terminal_safe(c).into_owned()
            }
        }));
    }
    t.to_string()
}

/// Serializable rows as the JSON objects the writers take (a row that is
/// not an object becomes an empty one).
pub fn objects<T: serde::Serialize>(rows: &[T]) -> Vec<serde_json::Map<String, serde_json::Value>> {
    rows.iter()
        .map(|r| match serde_json::to_value(r) {
            Ok(serde_json::Value::Object(o)) => o,
            _ => serde_json::Map::new(),
        })
        .collect()
}

/// Write rows of JSON objects in the chosen format.
pub fn write_objects(
    out: &mut dyn Write,
    format: Format,
    headers: &[String],
    objects: &[serde_json::Map<String, serde_json::Value>],
) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, objects)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for o in objects {
                serde_json::to_writer(&mut *out, o)?;
                writeln!(out)?;
            }
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(headers)?;
            for o in objects {
                w.write_record(headers.iter().map(|h| match o.get(h) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(s)) => csv_cell(s.clone()),
                    Some(v) => v.to_string(),
                }))?;
            }
            w.flush()?;
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = objects
                .iter()
                .map(|o| {
                    headers
                        .iter()
                        .map(|h| match o.get(h) {
                            None | Some(serde_json::Value::Null) => String::new(),
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                        })
                        .collect()
                })
                .collect();
            writeln!(out, "{}", human_table(headers, &rows))?;
        }
    }
    Ok(())
}

/// Write a query result.
pub fn write_result(out: &mut dyn Write, format: Format, r: &QueryResult) -> Result<()> {
    let headers: Vec<String> = r.schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut objects = Vec::with_capacity(r.num_rows());
    for b in &r.batches {
        for row in 0..b.num_rows() {
            let mut o = serde_json::Map::new();
            for (i, h) in headers.iter().enumerate() {
                o.insert(h.clone(), render::json_cell(b.column(i), row)?);
            }
            objects.push(o);
        }
    }
    if format == Format::Table {
        let n = objects.len();
        write_objects(out, format, &headers, &objects)?;
        writeln!(out, "({n} row{})", if n == 1 { "" } else { "s" })?;
        return Ok(());
    }
    write_objects(out, format, &headers, &objects)
}

/// What looks like irprep's work but is not in its ledger: left alone, and
/// said so (stderr, escaped: names and tags come from the account).
pub fn write_left_alone(items: &[irprep_aws::logs::LeftAlone]) {
    if items.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|f| {
            vec![
                f.account.clone(),
                f.region.clone(),
                f.source.clone(),
                f.resource.clone(),
                f.reason.clone(),
            ]
        })
        .collect();
    eprintln!(
        "irprep: {} resource(s) look like irprep's but are not in its ledger; left alone:",
        items.len()
    );
    eprintln!(
        "{}",
        human_table(
            &[
                "account".into(),
                "region".into(),
                "source".into(),
                "resource".into(),
                "why".into()
            ],
            &rows
        )
    );
}

pub fn write_failures(failures: &[Failure]) {
    if failures.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = failures
        .iter()
        .map(|f| vec![f.account.clone(), f.region.clone(), f.error.clone()])
        .collect();
    eprintln!(
        "irprep: {} account/region(s) failed; the rest was done:",
        failures.len()
    );
    eprintln!(
        "{}",
        human_table(&["account".into(), "region".into(), "error".into()], &rows)
    );
}

pub fn print_changes(changes: &[Change], format: Format, quiet: bool, empty: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, changes)?;
        writeln!(out)?;
        return Ok(());
    }
    let headers: Vec<String> = [
        "account", "region", "source", "action", "resource", "detail",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if changes.is_empty() {
        if format == Format::Table && !quiet {
            writeln!(out, "{empty}")?;
        } else if format == Format::Csv {
            write_objects(&mut out, format, &headers, &[])?;
        }
        return Ok(());
    }
    let objs: Vec<serde_json::Map<String, serde_json::Value>> = objects(changes);
    if format == Format::Table && !quiet {
        writeln!(out, "Planned changes (nothing has been changed yet):")?;
    }
    write_objects(&mut out, format, &headers, &objs)?;
    if format == Format::Table {
        writeln!(
            out,
            "Plan: {} change(s) in {} account/region(s).",
            changes.len(),
            changes
                .iter()
                .map(|c| (&c.account, &c.region))
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        )?;
    }
    Ok(())
}

pub fn print_status(ins: &Inspection, sources: &[Source], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if format != Format::Table {
        let headers: Vec<String> = ["account", "region", "source", "state", "reason"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let objs: Vec<serde_json::Map<String, serde_json::Value>> = objects(&ins.rows);
        return write_objects(&mut out, format, &headers, &objs);
    }
    // A matrix for people, then the reasons behind every cell that is not on.
    let mut headers = vec!["account".to_string(), "region".to_string()];
    headers.extend(sources.iter().map(|s| s.name().to_string()));
    let mut keys: Vec<(String, String)> = ins
        .rows
        .iter()
        .map(|r| (r.account.clone(), r.region.clone()))
        .collect();
    keys.dedup();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|(a, r)| {
            let mut v = vec![a.clone(), r.clone()];
            for s in sources {
                let cell = ins
                    .rows
                    .iter()
                    .find(|x| &x.account == a && &x.region == r && x.source == *s)
                    .map(|x| x.state.as_str())
                    .unwrap_or("-");
                v.push(cell.to_string());
            }
            v
        })
        .collect();
    writeln!(out, "{}", human_table(&headers, &rows))?;
    let gaps: Vec<Vec<String>> = ins
        .rows
        .iter()
        .filter(|r| !matches!(r.state, State::On | State::None))
        .map(|r| {
            vec![
                r.account.clone(),
                r.region.clone(),
                r.source.name().to_string(),
                r.state.as_str().to_string(),
                r.reason.clone(),
            ]
        })
        .collect();
    if !gaps.is_empty() {
        writeln!(
            out,
            "{}",
            human_table(
                &[
                    "account".into(),
                    "region".into(),
                    "source".into(),
                    "state".into(),
                    "why".into()
                ],
                &gaps
            )
        )?;
    }
    Ok(())
}

pub fn code(failures: &[Failure]) -> irprep::exit::ExitStatus {
    if failures.is_empty() {
        irprep::exit::ExitStatus::Ok
    } else {
        irprep::exit::ExitStatus::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let hostile = "aws-cli\u{1b}[2K\u{1b}]0;owned\u{7}\r\u{9b}31m\u{7f}";
        let t = human_table(&["ua".into()], &[vec![hostile.into()]]);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(
            t.contains("aws-cli\\x1b[2K\\x1b]0;owned\\x07\\x0d\\u{9b}31m\\x7f"),
            "{t}"
        );
        assert_eq!(terminal_safe("plain é ✓"), "plain é ✓");
        assert_eq!(stderr_safe("a\nb\u{1b}"), "a\\nb\\x1b");
    }

    #[test]
    fn csv_formulas_neutralised_when_asked() {
        set_csv_safe(true);
        assert_eq!(csv_cell("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_cell("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(csv_cell("-5".into()), "-5");
        assert_eq!(csv_cell("aws-cli".into()), "aws-cli");
        set_csv_safe(false);
        assert_eq!(csv_cell("=1+1".into()), "=1+1");
    }
}
