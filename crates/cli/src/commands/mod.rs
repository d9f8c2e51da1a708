//! One module per subcommand.

pub mod analytics;
pub mod detections;
pub mod drill;
pub mod hunt;
pub mod logs;
pub mod prepare;
pub mod queries;
pub mod query;
pub mod report;
pub mod simulate;
pub mod timeline;

/// An error in how the command was called (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for UsageError {}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// Exit code after a scan: 3 when any input was skipped.
pub fn scan_code(engine: &irprep_engine::Engine) -> irprep::exit::ExitStatus {
    if engine.diag.any_skipped() {
        irprep::exit::ExitStatus::Partial
    } else {
        irprep::exit::ExitStatus::Ok
    }
}

/// Run one SQL query over the logs and print it: the shared body of `query`,
/// `queries run` and `timeline`. Returns the exit code.
pub async fn query_and_print(
    logs: &crate::args::LogArgs,
    aws: &crate::args::AwsArgs,
    eng: &crate::args::EngineArgs,
    quiet: bool,
    format: crate::output::Format,
    sql: &str,
) -> anyhow::Result<irprep::exit::ExitStatus> {
    if eng.engine == crate::args::EngineKind::Athena {
        if !logs.logs.is_empty() {
            return Err(usage(
                "--logs is for the local engine; on Athena the tables come from --database",
            ));
        }
        let w = logs.window()?;
        let conf = aws.options().load().await?;
        let formats = if w.since.is_some() || w.until.is_some() {
            irprep_aws::analytics::date_formats(&conf, &eng.database).await
        } else {
            Default::default()
        };
        let names = eng.glue_names()?;
        let glue = |t: irprep_core::tables::LogTable| {
            names
                .get(t.name())
                .cloned()
                .unwrap_or_else(|| t.name().to_string())
        };
        let sql = irprep_aws::athena::with_window_named(
            sql,
            &eng.database,
            w.since.as_deref(),
            w.until.as_deref(),
            &|t| formats.get(&glue(t)).cloned(),
            &|t| Some(glue(t)),
        );
        let client = irprep_aws::athena::client(&conf);
        let r = irprep_aws::athena::run(&client, &eng.target(), &sql).await?;
        let res = irprep_engine::QueryResult {
            schema: r.schema.clone(),
            batches: r.batches.clone(),
        };
        crate::output::write_result(&mut std::io::stdout().lock(), format, &res)?;
        if !quiet {
            eprintln!("{}", athena_note(&r));
        }
        return Ok(irprep::exit::ExitStatus::Ok);
    }
    let (engine, pb) = crate::args::engine(logs, aws, quiet).await?;
    let res = engine.query(sql).await;
    pb.finish_and_clear();
    crate::output::write_result(&mut std::io::stdout().lock(), format, &res?)?;
    crate::args::summary(&engine, quiet);
    Ok(scan_code(&engine))
}

/// What an Athena query cost, for stderr.
pub fn athena_note(r: &irprep_aws::athena::AthenaResult) -> String {
    format!(
        "irprep: Athena query {}: {} scanned, about ${:.4} at ${}/TB, {} ms in the engine",
        r.execution_id,
        human_bytes(r.bytes_scanned),
        r.cost_usd(),
        irprep_aws::athena::USD_PER_TB,
        r.engine_ms
    )
}

pub fn human_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1e12 {
        format!("{:.2} TB", b / 1e12)
    } else if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.2} MB", b / 1e6)
    } else {
        format!("{} bytes", b as i64)
    }
}

/// Run scenarios on AWS (shared by `simulate run` and `drill --live`).
pub async fn run_live(
    conf: &aws_config::SdkConfig,
    scenarios: &[irprep_core::scenario::Scenario],
    aws: &crate::args::AwsArgs,
    regions: &[String],
    yes: bool,
    keep_going: bool,
    quiet: bool,
) -> anyhow::Result<Vec<irprep_aws::simulate::Manifest>> {
    let run = irprep::ops::live::plan(conf, aws.endpoint_url.clone(), regions).await?;
    let (ctx, run_id) = (&run.ctx, &run.run_id);
    eprintln!(
        "irprep: account {} · home region {} · {} region(s) · run {}",
        ctx.account,
        ctx.home,
        ctx.regions.len(),
        run_id
    );
    for s in scenarios {
        eprintln!("  {} ({} step(s)):", s.id, s.steps.len());
        for st in &s.steps {
            eprintln!(
                "    {}:{} [{:?}, {:?}]",
                st.service, st.operation, st.safety, st.region
            );
        }
    }
    eprintln!("Every call is read-only, DryRun=true, or aimed at a resource that cannot exist; user agent marker {}.", run.marker);
    // The calls change nothing, but they look like an intruder's: a burst of
    // denied or failed destructive calls is what GuardDuty, Security Hub and
    // a SOC's own CloudTrail rules are built to flag (review 4.6).
    eprintln!(
        "Note: these calls look like an attack on purpose. GuardDuty, Security Hub or your SOC's CloudTrail alerts may raise findings and page someone: tell them first, and give them the marker {} (in every call's user agent) to recognise the rehearsal.",
        run.marker
    );
    if !crate::prompt::confirm("Send these calls?", yes, "call AWS")? {
        return Err(usage("aborted"));
    }
    irprep::ops::live::run(&run, scenarios, keep_going, |c| {
        if !quiet {
            eprintln!(
                "    {} {}:{} {} -> {} {}",
                c.region,
                c.service,
                c.operation,
                c.http_status,
                c.error_code.as_deref().unwrap_or("OK"),
                c.outcome
            );
        }
    })
    .await
}

/// Which of a run's expected events are in the logs (by its marker).
pub async fn verify_in_logs(
    m: &irprep_aws::simulate::Manifest,
    logs: &[String],
    aws: &crate::args::AwsArgs,
    quiet: bool,
) -> anyhow::Result<Vec<irprep_aws::simulate::Verification>> {
    let args = crate::args::LogArgs {
        logs: logs.to_vec(),
        ..Default::default()
    };
    let (engine, pb) = crate::args::engine(&args, aws, quiet).await?;
    let sql = format!(
        "SELECT eventsource, eventname, errorcode, awsregion, eventtime FROM cloudtrail WHERE strpos(useragent, {}) > 0 ORDER BY eventtime",
        irprep_core::sql::quote(&m.marker)
    );
    let r = engine.query(&sql).await;
    pb.finish_and_clear();
    let rows = irprep_engine::render::rows(&r?.batches)?;
    let found: Vec<irprep_aws::simulate::FoundEvent> = rows
        .into_iter()
        .map(|r| {
            (
                r[0].clone().unwrap_or_default(),
                r[1].clone().unwrap_or_default(),
                r[2].clone(),
                r[3].clone().unwrap_or_default(),
                r[4].clone().unwrap_or_default(),
            )
        })
        .collect();
    Ok(irprep_aws::simulate::match_events(m, &found, None))
}
