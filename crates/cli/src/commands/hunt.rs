//! `irprep hunt`: the detection catalogue over the logs, in one scan.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::Args;
use irprep_core::detect::Severity;
use irprep_engine::hunt::{self, Finding, HuntReport};

use super::detections::CatalogueArgs;
use crate::inputs::{self, AwsArgs, LogArgs};
use crate::output::{self, Format};

#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  irprep hunt --logs ./AWSLogs --min-severity medium\n  irprep hunt --logs s3://trail-bucket/AWSLogs/ --since 14d --format jsonl --fail-on high")]
pub struct HuntArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub catalogue: CatalogueArgs,
    /// Report only findings at or above this severity (info, low, medium, high, critical).
    #[arg(long, value_parser = parse_severity)]
    pub min_severity: Option<Severity>,
    /// Exit with code 1 when a finding at or above this severity is reported.
    #[arg(long, value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Leave this detection out (repeatable).
    #[arg(long = "exclude-detection", value_name = "ID")]
    pub exclude: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s).ok_or_else(|| format!("unknown severity '{s}' (info, low, medium, high, critical)"))
}

/// A finding as the stable JSON/JSONL object (documented in the README).
pub fn finding_json(f: &Finding) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(f) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

pub fn write_findings(out: &mut dyn Write, format: Format, findings: &[Finding]) -> Result<()> {
    match format {
        Format::Table => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let headers: Vec<String> = ["severity", "detection", "principal", "events", "first seen", "last seen", "ATT&CK"].iter().map(|s| s.to_string()).collect();
            let rows: Vec<Vec<String>> = findings
                .iter()
                .map(|f| {
                    let sev = if color {
                        let code = match f.severity {
                            Severity::Critical => "1;31",
                            Severity::High => "31",
                            Severity::Medium => "33",
                            Severity::Low => "36",
                            Severity::Info => "2",
                        };
                        format!("\x1b[{code}m{}\x1b[0m", f.severity)
                    } else {
                        f.severity.to_string()
                    };
                    vec![sev, f.detection_id.clone(), f.principal.clone(), f.event_count.to_string(), f.first_seen.clone(), f.last_seen.clone(), f.attack.join(",")]
                })
                .collect();
            writeln!(out, "{}", output::human_table(&headers, &rows))?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(["detection_id", "title", "severity", "attack", "principal", "accounts", "regions", "first_seen", "last_seen", "event_count", "source_ips", "user_agents", "event_ids"])?;
            for f in findings {
                w.write_record([
                    f.detection_id.clone(),
                    f.title.clone(),
                    f.severity.to_string(),
                    f.attack.join(" "),
                    f.principal.clone(),
                    f.accounts.join(" "),
                    f.regions.join(" "),
                    f.first_seen.clone(),
                    f.last_seen.clone(),
                    f.event_count.to_string(),
                    f.source_ips.join(" "),
                    f.user_agents.join(" | "),
                    f.event_ids.join(" "),
                ])?;
            }
            w.flush()?;
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, findings)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for f in findings {
                serde_json::to_writer(&mut *out, &finding_json(f))?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

pub async fn run(a: HuntArgs, quiet: bool) -> Result<u8> {
    let cat = a.catalogue.load()?;
    for s in &cat.skipped {
        if !quiet {
            eprintln!("irprep: note: rule skipped: {} ({}): {}", s.id, s.path, s.reason);
        }
    }
    let dets: Vec<_> = cat.detections.into_iter().filter(|d| !a.exclude.contains(&d.id)).collect();
    let (engine, pb) = inputs::engine(&a.logs, &a.aws, quiet).await?;
    let report = hunt::hunt(&engine, &dets).await;
    pb.finish_and_clear();
    let HuntReport { findings, errors, detections_run, .. } = report?;
    for (id, e) in &errors {
        eprintln!("irprep: error: detection {id} failed: {e}");
    }
    let findings: Vec<Finding> = findings.into_iter().filter(|f| a.min_severity.is_none_or(|m| f.severity >= m)).collect();
    write_findings(&mut std::io::stdout().lock(), a.format, &findings)?;
    if !quiet {
        eprintln!("irprep: {} finding(s) from {detections_run} detection(s)", findings.len());
    }
    inputs::summary(&engine, quiet);
    if a.fail_on.is_some_and(|t| findings.iter().any(|f| f.severity >= t)) {
        return Ok(crate::exit::FINDINGS);
    }
    if !errors.is_empty() {
        return Ok(crate::exit::ERROR);
    }
    Ok(super::scan_code(&engine))
}
