//! `irprep timeline`: what one actor did, in order.

use anyhow::Result;
use clap::Args;

use crate::args::{AwsArgs, EngineArgs, LogArgs};
use crate::output::Format;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  irprep timeline --logs ./AWSLogs --principal arn:aws:iam::111122223333:user/alice\n  irprep timeline --logs ./AWSLogs --around 0f1b... --window 30m"
)]
pub struct TimelineArgs {
    #[command(flatten)]
    pub logs: LogArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// Events of this principal ARN (user, role session, root).
    #[arg(long)]
    pub principal: Option<String>,
    /// Events signed with this access key id.
    #[arg(long)]
    pub access_key: Option<String>,
    /// Events from this source IP address.
    #[arg(long)]
    pub ip: Option<String>,
    /// Events of this role session name (the last part of an assumed-role ARN).
    #[arg(long)]
    pub session: Option<String>,
    /// One event by its eventID.
    #[arg(long)]
    pub event_id: Option<String>,
    /// Every event within --window of this eventID (context around it).
    #[arg(long)]
    pub around: Option<String>,
    /// Half-width of the --around window (e.g. 30m, 2h).
    #[arg(long, default_value = "30m")]
    pub window: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

use irprep_core::sql::quote as lit;

/// `--window` in minutes: a whole number of minutes, hours or days (never
/// negative: `-{m}` in the SQL would start a comment).
fn minutes(w: &str) -> Result<i64> {
    let bad = || super::usage(format!("invalid --window '{w}' (e.g. 30m, 2h, 1d)"));
    let t = w.trim();
    let (n, per) = [("m", 1i64), ("h", 60), ("d", 1440)]
        .iter()
        .find_map(|(u, per)| t.strip_suffix(u).map(|n| (n, *per)))
        .ok_or_else(bad)?;
    let n: u32 = n.parse().map_err(|_| bad())?;
    Ok(i64::from(n) * per)
}

/// The SQL of a timeline for the selector given.
pub fn timeline_sql(a: &TimelineArgs) -> Result<String> {
    let cols = "eventtime, awsregion AS region, sourceipaddress AS source_ip, useridentity.arn AS principal, eventsource, eventname, errorcode, \
                irprep_request_summary(requestparameters) AS request, useragent, eventid";
    let cond = if let Some(p) = &a.principal {
        format!(
            "useridentity.arn = {0} OR useridentity.sessioncontext.sessionissuer.arn = {0}",
            lit(p)
        )
    } else if let Some(k) = &a.access_key {
        format!("useridentity.accesskeyid = {}", lit(k))
    } else if let Some(ip) = &a.ip {
        format!("sourceipaddress = {}", lit(ip))
    } else if let Some(s) = &a.session {
        // The name is matched literally: its %, _ and \ are escaped.
        let name: String = s
            .chars()
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!(
            "useridentity.arn LIKE {} ESCAPE '\\'",
            lit(&format!("%/{name}"))
        )
    } else if let Some(e) = &a.event_id {
        format!("eventid = {}", lit(e))
    } else if let Some(e) = &a.around {
        let m = minutes(&a.window)?;
        format!(
            "from_iso8601_timestamp(eventtime) BETWEEN (SELECT date_add('minute', -{m}, from_iso8601_timestamp(eventtime)) FROM cloudtrail WHERE eventid = {0} LIMIT 1) \
             AND (SELECT date_add('minute', {m}, from_iso8601_timestamp(eventtime)) FROM cloudtrail WHERE eventid = {0} LIMIT 1)",
            lit(e)
        )
    } else {
        return Err(super::usage(
            "choose one of --principal, --access-key, --ip, --session, --event-id, --around",
        ));
    };
    Ok(format!(
        "SELECT {cols} FROM cloudtrail WHERE {cond} ORDER BY eventtime, eventid"
    ))
}

pub async fn run(a: TimelineArgs, quiet: bool) -> Result<irprep::exit::ExitStatus> {
    let sql = timeline_sql(&a)?;
    super::query_and_print(&a.logs, &a.aws, &a.engine, quiet, a.format, &sql).await
}

#[cfg(test)]
mod tests {
    use super::minutes;

    #[test]
    fn windows_are_whole_positive_spans() {
        assert_eq!(minutes("30m").unwrap(), 30);
        assert_eq!(minutes(" 2h ").unwrap(), 120);
        assert_eq!(minutes("1d").unwrap(), 1440);
        for bad in ["-5m", "30é", "é", "", "m", "1.5h", "99999999999d", "5s"] {
            assert!(minutes(bad).is_err(), "{bad}");
        }
    }
}
