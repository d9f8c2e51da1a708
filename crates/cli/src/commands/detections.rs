//! `irprep detections list|show|coverage`.

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
    /// The ATT&CK techniques each detection, Sigma rule and scenario covers.
    ///
    /// One row per technique and sub-technique of the IaaS matrix (the data
    /// the HTML report's matrix is drawn from), then the ids the catalogue
    /// names that the matrix does not hold.
    Coverage {
        #[command(flatten)]
        catalogue: CatalogueArgs,
        /// Only the techniques nothing covers (the blind spots).
        #[arg(long)]
        gaps: bool,
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
        DetectionsCmd::Coverage {
            catalogue,
            gaps,
            format,
        } => {
            let c = catalogue.load()?;
            let m = irprep_core::attack::Matrix::builtin().map_err(anyhow::Error::msg)?;
            let scenarios = irprep_core::scenario::builtin().map_err(anyhow::Error::msg)?;
            let rows = irprep_core::attack::coverage(&m, &c.detections, &scenarios);
            let table = format == Format::Table;
            let list = |v: &[String]| -> serde_json::Value {
                if table {
                    match v.len() {
                        0 => "".into(),
                        1 => v[0].clone().into(),
                        n => format!("{} (+{})", v[0], n - 1).into(),
                    }
                } else {
                    v.to_vec().into()
                }
            };
            let mut objects = vec![];
            for r in rows.iter().filter(|r| !gaps || !r.covered) {
                let mut o = serde_json::Map::new();
                o.insert(
                    "tactic".into(),
                    r.tactic
                        .clone()
                        .map_or_else(|| "(not in the IaaS matrix)".into(), Into::into),
                );
                o.insert("technique".into(), r.technique.clone().into());
                o.insert("name".into(), r.name.clone().into());
                o.insert("covered".into(), r.covered.into());
                o.insert("detections".into(), list(&r.detections));
                o.insert("sigma".into(), list(&r.sigma));
                o.insert("scenarios".into(), list(&r.scenarios));
                objects.push(o);
            }
            let headers: Vec<String> = [
                "tactic",
                "technique",
                "name",
                "covered",
                "detections",
                "sigma",
                "scenarios",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)?;
            if table {
                let in_matrix: Vec<_> = rows.iter().filter(|r| r.tactic.is_some()).collect();
                println!(
                    "{} of {} IaaS techniques and sub-techniques covered (ATT&CK {})",
                    in_matrix.iter().filter(|r| r.covered).count(),
                    in_matrix.len(),
                    m.version
                );
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
