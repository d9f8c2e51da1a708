//! `irprep queries list|show|run`: the investigation query catalogue.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::{Args, Subcommand};
use irprep_core::queries::{self, InvestigationQuery};

use crate::args::{AwsArgs, EngineArgs, LogArgs};
use crate::output::{self, Format};

#[derive(Debug, Subcommand)]
pub enum QueriesCmd {
    /// List the investigation queries.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Show one query: description, parameters, SQL.
    Show {
        name: String,
        /// Parameter values (k=v), to see the SQL as it would run.
        #[arg(long = "param", value_name = "K=V")]
        params: Vec<String>,
    },
    /// Run one query over the logs.
    Run(Box<RunArgs>),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The query's name (`irprep queries list`).
    pub name: Option<String>,
    /// Parameter values (k=v), repeatable.
    #[arg(long = "param", value_name = "K=V")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub logs: LogArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// The query's table under another name (as deployed on Athena).
    #[arg(long, value_name = "NAME")]
    pub table_name: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

fn find(name: &str) -> Result<InvestigationQuery> {
    let all = queries::builtin().map_err(anyhow::Error::msg)?;
    all.into_iter().find(|q| q.name == name).ok_or_else(|| {
        super::usage(format!(
            "no query named '{name}' (see `irprep queries list`)"
        ))
    })
}

fn params(kv: &[String]) -> Result<BTreeMap<String, String>> {
    kv.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| super::usage(format!("--param expects K=V, got '{s}'")))
        })
        .collect()
}

pub async fn run(cmd: QueriesCmd, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    match cmd {
        QueriesCmd::List { format } => {
            let all = queries::builtin().map_err(anyhow::Error::msg)?;
            let mut objects = vec![];
            for q in &all {
                let mut o = serde_json::Map::new();
                o.insert("name".into(), q.name.clone().into());
                o.insert("table".into(), q.table.clone().into());
                o.insert("title".into(), q.title.clone().into());
                o.insert(
                    "params".into(),
                    q.params
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")
                        .into(),
                );
                o.insert(
                    "sql".into(),
                    q.render(&BTreeMap::new(), None)
                        .map_err(anyhow::Error::msg)?
                        .into(),
                );
                objects.push(o);
            }
            let headers: Vec<String> = if format == Format::Table {
                vec![
                    "name".into(),
                    "table".into(),
                    "title".into(),
                    "params".into(),
                ]
            } else {
                vec![
                    "name".into(),
                    "table".into(),
                    "title".into(),
                    "params".into(),
                    "sql".into(),
                ]
            };
            output::write_objects(&mut std::io::stdout().lock(), format, &headers, &objects)?;
            Ok(irprep::exit::ExitStatus::Ok)
        }
        QueriesCmd::Show { name, params: p } => {
            let q = find(&name)?;
            println!("{}\n{}\n\n{}\n", q.name, q.title, q.description.trim());
            if !q.params.is_empty() {
                println!("Parameters (--param k=v):");
                for (k, p) in &q.params {
                    println!("  {k:<12} default '{}'  {}", p.default, p.description);
                }
                println!();
            }
            println!("{}", q.render(&params(&p)?, None).map_err(super::usage)?);
            Ok(irprep::exit::ExitStatus::Ok)
        }
        QueriesCmd::Run(a) => {
            let mut logs = a.logs.clone();
            // `--logs a b NAME`: the values after --logs run up to the name.
            let name = match &a.name {
                Some(n) => n.clone(),
                None => logs.take_positional(|_| true).ok_or_else(|| {
                    super::usage("no query named: give its name (see `irprep queries list`)")
                })?,
            };
            let q = find(&name)?;
            // On Athena, a table over Hive-compatible keys writes its date
            // partition as year=…/month=…/day=…: the query's days are
            // written in the deployed table's own form.
            let date_format = if a.engine.engine == crate::args::EngineKind::Athena
                && q.sql.contains("date_partition")
            {
                let deployed = match &a.table_name {
                    Some(t) => t.clone(),
                    None => a
                        .engine
                        .glue_names()?
                        .remove(&q.table)
                        .unwrap_or_else(|| q.table.clone()),
                };
                let (database, table) = match deployed.split_once('.') {
                    Some((d, t)) => (d.to_string(), t.to_string()),
                    None => (a.engine.database.clone(), deployed),
                };
                let conf = a.aws.options().load().await?;
                irprep_aws::analytics::date_formats(&conf, &database)
                    .await
                    .remove(&table)
            } else {
                None
            };
            let sql = q
                .render_in(
                    &params(&a.params)?,
                    a.table_name.as_deref(),
                    date_format.as_deref(),
                )
                .map_err(super::usage)?;
            super::query_and_print(&logs, &a.aws, &a.engine, quiet, a.format, &sql).await
        }
    }
}
