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
    /// The query, in Athena (Trino) SQL; the tables are `cloudtrail`, `vpcflow` and `dns`.
    pub sql: Option<String>,
}

pub async fn run(a: QueryArgs, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    if a.schema {
        print_schema(a.format)?;
        return Ok(irprep::exit::ExitStatus::Ok);
    }
    let Some(sql) = a.sql.as_deref() else {
        return Err(super::usage("no SQL given (or use --schema)"));
    };
    super::query_and_print(&a.logs, &a.aws, &a.engine, quiet, a.format, sql).await
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
