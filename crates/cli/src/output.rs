//! Output writers: a human table by default, `json`, `jsonl` and `csv` for
//! scripts. Machine formats are stable: column names as the query names them,
//! NULL as JSON null / empty CSV field.

use std::io::Write;

use anyhow::Result;
use clap::ValueEnum;
use comfy_table::{presets::UTF8_FULL_CONDENSED, ContentArrangement, Table};
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
