//! `irprep query`: Athena SQL over the logs with the embedded engine.

use anyhow::Result;
use clap::Args;
use irprep_core::table;

use crate::args::{AwsArgs, EngineArgs, LogArgs};
use crate::output::{self, Format};

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  irprep query --logs ./AWSLogs \"SELECT eventname, count(*) AS n FROM cloudtrail GROUP BY 1 ORDER BY n DESC\"\n  irprep query --logs s3://trail-bucket/AWSLogs/ --since 7d --format jsonl \"SELECT * FROM cloudtrail WHERE errorcode = 'AccessDenied'\"\n  irprep query --logs ./flowlogs --logs ./AWSLogs \"SELECT srcaddr, sum(bytes) AS b FROM vpcflow GROUP BY 1 ORDER BY b DESC LIMIT 10\"\n  irprep query --engine athena --since 1d \"SELECT eventname, count(*) FROM cloudtrail GROUP BY 1\"\n  irprep query --schema"
)]
pub struct QueryArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print the tables and their columns instead of running a query.
    #[arg(long)]
    pub schema: bool,
    /// Read the query from this file (`-`: standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "sql")]
    pub file: Option<std::path::PathBuf>,
    /// The query, in Athena (Trino) SQL; the tables are `cloudtrail`, `vpcflow` and `dns`.
    /// It may start with a `--` comment.
    #[arg(allow_hyphen_values = true)]
    pub sql: Option<String>,
}

pub async fn run(a: QueryArgs, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    if a.schema {
        print_schema(a.format)?;
        return Ok(irprep::exit::ExitStatus::Ok);
    }
    let mut logs = a.logs.clone();
    let sql = match (&a.sql, &a.file) {
        (Some(s), _) => s.clone(),
        (None, Some(f)) if f.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
            s
        }
        (None, Some(f)) => std::fs::read_to_string(f)
            .map_err(|e| super::usage(format!("--file {}: {e}", f.display())))?,
        (None, None) => logs.take_positional(looks_like_sql).ok_or_else(|| {
            super::usage(
                "no SQL given: put the query last (or use --file FILE, --file - for standard input, or --schema)",
            )
        })?,
    };
    super::query_and_print(&logs, &a.aws, &a.engine, quiet, a.format, &sql).await
}

/// A `--logs` value (not a place) that is a query: text with a space in it
/// or that a query starts with.
fn looks_like_sql(v: &str) -> bool {
    if v.contains(char::is_whitespace) {
        return true;
    }
    let t = v.trim_start();
    let first = t
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    t.starts_with("--")
        || t.starts_with("/*")
        || ["SELECT", "WITH", "EXPLAIN", "VALUES"].contains(&first.as_str())
}

fn print_schema(format: Format) -> Result<()> {
    let mut objects = vec![];
    for t in table::all_tables() {
        for c in &t.columns {
            let mut o = serde_json::Map::new();
            o.insert("table".into(), t.name.into());
            o.insert("column".into(), c.name.into());
            o.insert("type".into(), c.ty.hive_type().into());
            o.insert("partition".into(), false.into());
            objects.push(o);
        }
        for p in &t.partitions {
            let mut o = serde_json::Map::new();
            o.insert("table".into(), t.name.into());
            o.insert("column".into(), p.name.into());
            o.insert("type".into(), "string".into());
            o.insert("partition".into(), true.into());
            objects.push(o);
        }
    }
    let headers: Vec<String> = ["table", "column", "type", "partition"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)
}
