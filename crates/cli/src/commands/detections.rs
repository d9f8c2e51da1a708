//! `irprep detections list|show`.

use anyhow::Result;
use clap::Subcommand;
use irprep_core::detect::{Detection, Severity};

use crate::args::CatalogueArgs;
use crate::output::{self, Format};

#[derive(Debug, Subcommand)]
pub enum DetectionsCmd {
    /// List detections (and rules that were skipped, with the reason).
    List {
        #[command(flatten)]
        catalogue: CatalogueArgs,
        /// Only this ATT&CK tactic (e.g. defense-evasion).
        #[arg(long)]
        tactic: Option<String>,
        /// Only at or above this severity.
        #[arg(long)]
        min_severity: Option<String>,
        /// Only this data source (cloudtrail).
        #[arg(long)]
        source: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one detection in full.
    Show {
        id: String,
        #[command(flatten)]
        catalogue: CatalogueArgs,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

fn detection_json(d: &Detection) -> serde_json::Map<String, serde_json::Value> {
    let mut o = serde_json::Map::new();
    o.insert("id".into(), d.id.clone().into());
    o.insert(
        "origin".into(),
        serde_json::to_value(d.origin).unwrap_or_default(),
    );
    o.insert("status".into(), "loaded".into());
    o.insert("title".into(), d.title.clone().into());
    o.insert("severity".into(), d.severity.as_str().into());
    o.insert("attack".into(), d.attack.clone().into());
    o.insert("tactics".into(), d.tactics.clone().into());
    o.insert("source".into(), d.source.clone().into());
    o.insert("sql".into(), d.sql.clone().into());
    o.insert("path".into(), d.path.clone().into());
    o
}

pub async fn run(cmd: DetectionsCmd, _quiet: bool) -> Result<irprep::exit::ExitStatus> {
    match cmd {
        DetectionsCmd::List {
            catalogue,
            tactic,
            min_severity,
            source,
            format,
        } => {
            let c = catalogue.load()?;
            let min = match min_severity.as_deref() {
                Some(s) => Some(
                    Severity::parse(s)
                        .ok_or_else(|| super::usage(format!("unknown severity '{s}'")))?,
                ),
                None => None,
            };
            let mut objects = vec![];
            for d in &c.detections {
                if tactic
                    .as_ref()
                    .is_some_and(|t| !d.tactics.iter().any(|x| x.eq_ignore_ascii_case(t)))
                {
                    continue;
                }
                if min.is_some_and(|m| d.severity < m)
                    || source.as_ref().is_some_and(|s| &d.source != s)
                {
                    continue;
                }
                objects.push(detection_json(d));
            }
            if tactic.is_none() && min.is_none() && source.is_none() {
                for s in &c.skipped {
                    let mut o = serde_json::Map::new();
                    o.insert("id".into(), s.id.clone().into());
                    o.insert(
                        "origin".into(),
                        serde_json::to_value(s.origin).unwrap_or_default(),
                    );
                    o.insert("status".into(), "skipped".into());
                    o.insert("reason".into(), s.reason.clone().into());
                    o.insert("path".into(), s.path.clone().into());
                    objects.push(o);
                }
            }
            let headers: Vec<String> = if format == Format::Table {
                [
                    "id", "severity", "tactics", "attack", "origin", "status", "title",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect()
            } else {
                [
                    "id", "origin", "status", "reason", "title", "severity", "attack", "tactics",
                    "source", "sql", "path",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect()
            };
            output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)?;
            if format == Format::Table {
                println!("{} loaded, {} skipped", c.detections.len(), c.skipped.len());
            }
            Ok(irprep::exit::ExitStatus::Ok)
        }
        DetectionsCmd::Show {
            id,
            catalogue,
            format,
        } => {
            let c = catalogue.load()?;
            let Some(d) = c.get(&id) else {
                return Err(super::usage(format!(
                    "no detection with id '{id}' (see `irprep detections list`)"
                )));
            };
            if format == Format::Table {
                println!("{}  [{}]", d.id, d.severity);
                println!("{}\n", d.title);
                println!("{}", d.description.trim());
                println!(
                    "\nATT&CK: {}   tactics: {}   source: {}   origin: {:?}",
                    d.attack.join(", "),
                    d.tactics.join(", "),
                    d.source,
                    d.origin
                );
                println!("\nSQL (Athena):\n{}", d.sql.trim_end());
                if !d.false_positives.is_empty() {
                    println!("\nKnown false positives:");
                    for f in &d.false_positives {
                        println!("  - {f}");
                    }
                }
                if !d.references.is_empty() {
                    println!("\nReferences:");
                    for r in &d.references {
                        println!("  - {r}");
                    }
                }
            } else {
                let o = detection_json(d);
                output::write_objects(
                    &mut std::io::stdout().lock(),
                    format,
                    &o.keys().cloned().collect::<Vec<_>>(),
                    &[o],
                )?;
            }
            Ok(irprep::exit::ExitStatus::Ok)
        }
    }
}
