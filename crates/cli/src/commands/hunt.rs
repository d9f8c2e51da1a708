//! `irprep hunt`: the detection catalogue over the logs, in one scan.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::Args;
use irprep::ops::report::HuntDocument;
use irprep_core::detect::Severity;
use irprep_engine::hunt::{self, Finding, HuntReport, Incident};

use crate::args::CatalogueArgs;
use crate::args::{self, AwsArgs, EngineArgs, EngineKind, LogArgs};
use crate::output::{self, Format};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  irprep hunt --logs ./AWSLogs --min-severity medium\n  irprep hunt --logs s3://trail-bucket/AWSLogs/ --since 14d --format jsonl --fail-on high"
)]
pub struct HuntArgs {
    /// Print where the hunt's time and memory go (scan, each detection) on
    /// stderr; the same as RUST_LOG=irprep::hunt=debug.
    #[arg(long)]
    pub timings: bool,
    #[command(flatten)]
    pub logs: LogArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub catalogue: CatalogueArgs,
    /// Report only findings at or above this severity (info, low, medium, high, critical).
    #[arg(long, value_parser = parse_severity)]
    pub min_severity: Option<Severity>,
    /// Exit with code 1 when a finding at or above this severity is reported.
    #[arg(long, value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Run only these detections (repeatable; a trailing `*` matches a prefix, e.g. `aws.cloudtrail.s3-*`).
    #[arg(long = "only", value_name = "ID")]
    pub only: Vec<String>,
    /// Leave this detection out (repeatable).
    #[arg(long = "exclude-detection", value_name = "ID")]
    pub exclude: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write the HTML report (incidents, timelines, evidence, what the
    /// logs cover, ATT&CK coverage) to this file.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
    /// The memory the local hunt may use (e.g. 512M, 2G): the rows the
    /// detections keep go to disk past half of it, and come back a batch at
    /// a time; the findings are the same at any limit. Default: a quarter
    /// of the machine's memory, at most 1G.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
}

/// A size in bytes: a number with an optional K, M, G or T (powers of
/// 1024; `KB`, `MiB` and the like read the same).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 512M, 2G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("'{s}': unknown unit (K, M, G or T)")),
    };
    let bytes = n * (1u64 << shift) as f64;
    if !(1.0..=(usize::MAX as f64)).contains(&bytes) {
        return Err(format!("'{s}' is not a usable size"));
    }
    Ok(bytes as usize)
}

pub fn parse_severity(s: &str) -> Result<Severity, String> {
    Severity::parse(s)
        .ok_or_else(|| format!("unknown severity '{s}' (info, low, medium, high, critical)"))
}

/// A finding as the stable JSON/JSONL object (documented in the README):
/// its keys in alphabetical order, every field of [`Finding`].
pub fn finding_json(f: &Finding) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(f) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

/// Print a hunt: findings (then incidents, in a table) for people; the
/// document for `json`; one finding per line for `jsonl`; findings for `csv`.
pub fn write_document(out: &mut dyn Write, format: Format, doc: &HuntDocument) -> Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, doc)?;
            writeln!(out)?;
            Ok(())
        }
        Format::Table => {
            write_findings(out, format, &doc.findings)?;
            if !doc.incidents.is_empty() {
                write_incidents(out, &doc.incidents)?;
            }
            Ok(())
        }
        _ => write_findings(out, format, &doc.findings),
    }
}

fn write_incidents(out: &mut dyn Write, incidents: &[Incident]) -> Result<()> {
    let headers: Vec<String> = [
        "incident",
        "severity",
        "findings",
        "first seen",
        "last seen",
        "actor and tactics",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let rows: Vec<Vec<String>> = incidents
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.severity.to_string(),
                i.findings.len().to_string(),
                i.first_seen.clone(),
                i.last_seen.clone(),
                i.title.clone(),
            ]
        })
        .collect();
    writeln!(
        out,
        "{}",
        output::human_table_trusting(&headers, &rows, &[])
    )?;
    Ok(())
}

/// Print the findings alone (a JSON array for `json`).
pub fn write_findings(out: &mut dyn Write, format: Format, findings: &[Finding]) -> Result<()> {
    match format {
        Format::Table => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let headers: Vec<String> = [
                "severity",
                "detection",
                "principal",
                "events",
                "first seen",
                "last seen",
                "ATT&CK",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
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
                    vec![
                        sev,
                        f.detection_id.clone(),
                        f.principal.clone(),
                        f.event_count.to_string(),
                        f.first_seen.clone(),
                        f.last_seen.clone(),
                        f.attack.join(","),
                    ]
                })
                .collect();
            // The severity cell is irprep's own colour; every other cell is made
            // terminal-safe.
            writeln!(
                out,
                "{}",
                output::human_table_trusting(&headers, &rows, &[0])
            )?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "detection_id",
                "title",
                "severity",
                "attack",
                "principal",
                "accounts",
                "regions",
                "first_seen",
                "last_seen",
                "event_count",
                "source_ips",
                "user_agents",
                "event_ids",
            ])?;
            for f in findings {
                w.write_record(
                    [
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
                    ]
                    .map(output::csv_cell),
                )?;
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

/// The longest evidence id looked up on Athena (CloudTrail's are 36 bytes).
const MAX_EVENT_ID_BYTES: usize = 128;

pub async fn run(a: HuntArgs, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    let cat = a.catalogue.load()?;
    for s in &cat.skipped {
        if !quiet {
            eprintln!(
                "irprep: note: rule skipped: {} ({}): {}",
                s.id, s.path, s.reason
            );
        }
    }
    let selected = |id: &str| {
        a.only.is_empty()
            || a.only.iter().any(|p| {
                p.strip_suffix('*')
                    .map_or(p == id, |pre| id.starts_with(pre))
            })
    };
    let dets: Vec<_> = cat
        .detections
        .into_iter()
        .filter(|d| !a.exclude.contains(&d.id) && selected(&d.id))
        .collect();
    if dets.is_empty() {
        return Err(super::usage(
            "no detection selected (check --only / --exclude-detection)",
        ));
    }
    if a.engine.engine == EngineKind::Athena {
        return hunt_athena(&a, &dets, quiet).await;
    }
    let (engine, pb) = args::engine(&a.logs, &a.aws, quiet).await?;
    let options = hunt::HuntOptions {
        memory_limit: a.memory_limit.unwrap_or_else(hunt::default_memory_limit),
    };
    let report = hunt::hunt_with(&engine, &dets, &options).await;
    pb.finish_and_clear();
    let HuntReport {
        findings,
        errors,
        detections_run,
        sessions,
        over_budget,
        ..
    } = report?;
    for id in &over_budget {
        eprintln!(
            "irprep: warning: detection {id} needed more than its share of the memory limit and ran without one"
        );
    }
    for (id, e) in &errors {
        eprintln!("irprep: error: detection {id} failed: {e}");
    }
    let findings: Vec<Finding> = findings
        .into_iter()
        .filter(|f| a.min_severity.is_none_or(|m| f.severity >= m))
        .collect();
    let mut doc = HuntDocument::new("local", findings, &sessions, &dets);
    doc.errors = errors.clone();
    if a.report.is_some() {
        // The report's coverage and evidence come from two more scans, on
        // an engine of their own (its warnings were printed by the first).
        let (again, _) = args::engine(&a.logs, &a.aws, true).await?;
        for n in irprep::ops::report::enrich(&mut doc, &again).await {
            if !quiet {
                eprintln!("irprep: note: {n}");
            }
        }
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_document(&mut out, a.format, &doc)?;
    out.flush()?;
    if !quiet {
        eprintln!(
            "irprep: {} finding(s) in {} incident(s) from {detections_run} detection(s)",
            doc.findings.len(),
            doc.incidents.len()
        );
    }
    if let Some(path) = &a.report {
        write_html(path, &doc, quiet)?;
    }
    let findings = doc.findings;
    args::summary(&engine, quiet);
    if a.fail_on
        .is_some_and(|t| findings.iter().any(|f| f.severity >= t))
    {
        return Ok(irprep::exit::ExitStatus::Findings);
    }
    if !errors.is_empty() {
        return Ok(irprep::exit::ExitStatus::Error);
    }
    Ok(super::scan_code(&engine))
}

/// The hunt on Athena: each detection is one query (Athena bills by bytes
/// scanned per query, so they run at most four at a time and each one's
/// cost is reported), then one query per 2,000 evidence events fetches the
/// facts findings are built from.
async fn hunt_athena(
    a: &HuntArgs,
    dets: &[irprep_core::detect::Detection],
    quiet: bool,
) -> Result<irprep::exit::ExitStatus> {
    use futures::StreamExt;
    use irprep_aws::athena;
    if !a.logs.logs.is_empty() {
        return Err(super::usage(
            "--logs is for the local engine; on Athena the tables come from --database",
        ));
    }
    let mut w = a.logs.window()?;
    // Every detection scans the tables it reads, and Athena bills by the
    // byte: without a window the hunt covers the last 7 days, and says so.
    if w.since.is_none() && w.until.is_none() {
        w.since = Some(
            irprep_core::timeparse::parse_time("7d", chrono::Utc::now())
                .map_err(anyhow::Error::msg)?,
        );
        if !quiet {
            eprintln!(
                "irprep: no --since/--until: hunting the last 7 days on Athena (--since widens it)"
            );
        }
    }
    let (since, until) = (w.since.as_deref(), w.until.as_deref());
    let conf = a.aws.options().load().await?;
    let client = athena::client(&conf);
    let target = a.engine.target();
    let names = a.engine.glue_names()?;
    let glue = |source: &str| {
        names
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_string())
    };
    // A detection on a table the database does not have (flow logs or query
    // logs not deployed) is skipped with a note, not run into an error.
    let mut missing = std::collections::BTreeSet::new();
    for source in dets
        .iter()
        .map(|d| d.source.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if irprep_aws::analytics::table_exists(&conf, &target.database, &glue(source)).await
            == Some(false)
        {
            missing.insert(source);
        }
    }
    for source in &missing {
        let n = dets.iter().filter(|d| d.source == *source).count();
        if !quiet {
            eprintln!(
                "irprep: note: {n} detection(s) on {source} skipped: database {} has no {} table",
                target.database,
                glue(source)
            );
        }
    }
    let dets: Vec<&irprep_core::detect::Detection> = dets
        .iter()
        .filter(|d| !missing.contains(d.source.as_str()))
        .collect();
    if dets.is_empty() {
        anyhow::bail!(
            "database {} has none of the tables the selected detections read ({})",
            target.database,
            missing.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    // Only one read-only query runs, on Athena as locally: a detection file
    // holding UNLOAD, CREATE TABLE AS, DROP … is reported, never sent.
    let mut errors = vec![];
    let dets: Vec<&irprep_core::detect::Detection> = dets
        .into_iter()
        .filter(|d| match hunt::check_sql(&d.sql) {
            Ok(()) => true,
            Err(e) => {
                errors.push((d.id.clone(), format!("not sent to Athena: {e}")));
                false
            }
        })
        .collect();
    let formats = irprep_aws::analytics::date_formats(&conf, &target.database).await;
    let runs = futures::stream::iter(dets.iter().map(|d| {
        let sql = athena::with_window_named(
            &d.sql,
            &target.database,
            since,
            until,
            &|t| formats.get(&glue(t.name())).cloned(),
            &|t| Some(glue(t.name())),
        );
        let (client, target) = (&client, &target);
        async move { (*d, athena::run(client, target, &sql).await) }
    }))
    .buffered(4)
    .collect::<Vec<_>>()
    .await;
    let mut results = vec![];
    let mut scanned = 0i64;
    let mut cost = 0f64;
    for (d, r) in runs {
        match r {
            Ok(r) => {
                scanned += r.bytes_scanned;
                cost += r.cost_usd();
                results.push((d, r.batches));
            }
            Err(e) => errors.push((d.id.clone(), format!("{e:#}"))),
        }
    }
    // CloudTrail detections name events whose facts are fetched below; the
    // others (flow logs, Resolver query logs) return their facts in their rows.
    let (results, others): (Vec<_>, Vec<_>) = results
        .into_iter()
        .partition(|(d, _)| d.source == "cloudtrail");
    let mut ids: Vec<String> = vec![];
    // A detection whose answer has no event ids is that detection's error,
    // not the hunt's.
    let results: Vec<_> = results
        .into_iter()
        .filter(|(d, b)| match hunt::evidence_ids(&d.id, b) {
            Ok(v) => {
                ids.extend(v);
                true
            }
            Err(e) => {
                errors.push((d.id.clone(), format!("{e:#}")));
                false
            }
        })
        .collect();
    ids.sort();
    ids.dedup();
    // CloudTrail event ids are 36-byte UUIDs: a longer one (a forged event)
    // is not looked up, and the lists stay far below Athena's 262,144-byte
    // query limit.
    let before = ids.len();
    ids.retain(|i| i.len() <= MAX_EVENT_ID_BYTES);
    if ids.len() < before && !quiet {
        eprintln!(
            "irprep: note: {} evidence id(s) longer than {MAX_EVENT_ID_BYTES} bytes not looked up (not CloudTrail event ids)",
            before - ids.len()
        );
    }
    let mut evidence = vec![];
    for chunk in ids.chunks(2000) {
        let list: Vec<String> = chunk.iter().map(|i| irprep_core::sql::quote(i)).collect();
        let sql = format!(
            "SELECT eventid, eventtime, useridentity.arn AS arn, useridentity.accesskeyid AS accesskeyid, sourceipaddress, useragent, recipientaccountid, awsregion, eventname FROM cloudtrail WHERE eventid IN ({})",
            list.join(", ")
        );
        // A failed lookup costs those events their facts, not the hunt.
        match athena::run(
            &client,
            &target,
            &athena::with_window_named(
                &sql,
                &target.database,
                since,
                until,
                &|t| formats.get(&glue(t.name())).cloned(),
                &|t| Some(glue(t.name())),
            ),
        )
        .await
        {
            Ok(r) => {
                scanned += r.bytes_scanned;
                cost += r.cost_usd();
                evidence.extend(r.batches);
            }
            Err(e) => errors.push((
                "evidence".to_string(),
                format!("looking up {} event(s) on Athena: {e:#}", chunk.len()),
            )),
        }
    }
    let mut findings = hunt::findings_from(&results, &evidence)?;
    for (d, b) in &others {
        match hunt::findings_from(&[(*d, b.clone())], b) {
            Ok(f) => findings.extend(f),
            Err(e) => errors.push((d.id.clone(), format!("{e:#}"))),
        }
    }
    hunt::sort_findings(&mut findings);
    for (id, e) in &errors {
        eprintln!("irprep: error: detection {id} failed on Athena: {e}");
    }
    let findings: Vec<Finding> = findings
        .into_iter()
        .filter(|f| a.min_severity.is_none_or(|m| f.severity >= m))
        .collect();
    let dets_run: Vec<irprep_core::detect::Detection> = dets.iter().map(|d| (*d).clone()).collect();
    let mut doc = HuntDocument::new("athena", findings, &[], &dets_run);
    doc.errors = errors.clone();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    write_document(&mut out, a.format, &doc)?;
    out.flush()?;
    if let Some(path) = &a.report {
        write_html(path, &doc, quiet)?;
    }
    let findings = doc.findings;
    if !quiet {
        eprintln!(
            "irprep: {} finding(s) from {} detection(s) on Athena ({}); {} scanned, about ${cost:.4}",
            findings.len(),
            results.len() + others.len(),
            target.workgroup,
            super::human_bytes(scanned)
        );
    }
    if a.fail_on
        .is_some_and(|t| findings.iter().any(|f| f.severity >= t))
    {
        return Ok(irprep::exit::ExitStatus::Findings);
    }
    if !errors.is_empty() {
        return Ok(irprep::exit::ExitStatus::Error);
    }
    Ok(irprep::exit::ExitStatus::Ok)
}

/// Write the HTML report of a hunt.
pub fn write_html(path: &std::path::Path, doc: &HuntDocument, quiet: bool) -> Result<()> {
    crate::report::write(path, Some(doc), None, Default::default(), vec![], quiet)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_read_as_powers_of_1024() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("64kb"), Ok(64 << 10));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
        assert!(parse_size("0").is_err());
    }
}
