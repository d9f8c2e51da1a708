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

/// A table for people: wraps to the terminal width when there is one.
pub fn human_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(headers);
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
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
                    Some(serde_json::Value::String(s)) => s.clone(),
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
    let objs: Vec<serde_json::Map<String, serde_json::Value>> = changes
        .iter()
        .map(|c| {
            serde_json::to_value(c)
                .ok()
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default()
        })
        .collect();
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
        let objs: Vec<serde_json::Map<String, serde_json::Value>> = ins
            .rows
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default()
            })
            .collect();
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
