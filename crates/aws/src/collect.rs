//! `irprep logs collect`: logs that live outside S3, copied into files the
//! local engine reads (layouts in [`irprep_core::collect`]).
//!
//! - CloudTrail event history: every account keeps its last 90 days of
//!   management events, trail or not. LookupEvents, paced to its two calls
//!   a second per account and region, backing off when throttled.
//! - EKS audit events: FilterLogEvents on `/aws/eks/<cluster>/cluster`,
//!   streams `kube-apiserver-audit-…`.
//!
//! Both save their progress after every page: an interrupted run started
//! again continues where it stopped, and a finished one is not repeated.

use std::path::Path;

use anyhow::{anyhow, Result};
use chrono::{DateTime, Utc};
use irprep_core::collect::{write_eks_page, write_event_history_page, Progress};
use serde_json::{json, Value};

use crate::wire::{Pacer, WireClient};

/// What one collection did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Collected {
    pub what: String,
    pub account: String,
    pub region: String,
    pub pages: u64,
    pub events: u64,
    pub files: u64,
    /// Already complete from an earlier run: nothing was asked.
    pub resumed_done: bool,
}

impl Collected {
    /// Where a run starts: what its saved progress says is done.
    fn from_progress(p: &Progress) -> Self {
        Collected {
            what: p.what.clone(),
            account: p.account.clone(),
            region: p.region.clone(),
            pages: p.pages,
            events: p.events,
            files: 0,
            resumed_done: p.done,
        }
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn parse(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Copy the event history of one account and region between `start` and
/// `end` into `out`. `on_page(events)` is called after each page.
pub async fn event_history(
    client: &WireClient,
    account: &str,
    region: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    out: &Path,
    on_page: &mut (dyn FnMut(u64) + Send),
) -> Result<Collected> {
    let mut p = Progress::load(
        out,
        "event-history",
        account,
        region,
        &rfc(start),
        &rfc(end),
    );
    let mut c = Collected::from_progress(&p);
    if p.done {
        return Ok(c);
    }
    // The window of the run being continued (see Progress::load).
    let start = parse(&p.start).unwrap_or(start);
    let end = parse(&p.end).unwrap_or(end);
    let mut pacer = Pacer::lookup_events();
    loop {
        let until = p.next_end.as_deref().and_then(parse).unwrap_or(end);
        let mut params = json!({
            "StartTime": start.timestamp(),
            "EndTime": until.timestamp(),
            "MaxResults": 50,
        });
        if let Some(t) = &p.next_token {
            params["NextToken"] = Value::String(t.clone());
        }
        let resp = pacer
            .call(client, "cloudtrail", "LookupEvents", region, &params)
            .await?;
        if !resp.ok() {
            // A token from an interrupted run may have expired: go on from
            // the oldest second already written instead.
            if p.next_token.is_some()
                && resp.error_code.as_deref() == Some("InvalidNextTokenException")
            {
                p.next_token = None;
                continue;
            }
            return Err(anyhow!(
                "cloudtrail:LookupEvents in {account}/{region}: {} {}",
                resp.error_code.unwrap_or_default(),
                resp.error_message.unwrap_or_default()
            ));
        }
        let v: Value = serde_json::from_str(&resp.body)
            .map_err(|e| anyhow!("cloudtrail:LookupEvents in {region}: not JSON: {e}"))?;
        let boundary = p.next_end.clone();
        let mut raws = vec![];
        let mut oldest: Option<(String, Vec<String>)> = None;
        for e in v["Events"].as_array().into_iter().flatten() {
            let Some(raw) = e["CloudTrailEvent"].as_str() else {
                continue;
            };
            let id = e["EventId"].as_str().unwrap_or("").to_string();
            let time = e["EventTime"]
                .as_f64()
                .and_then(|s| DateTime::from_timestamp(s as i64, 0))
                .map(rfc)
                .or_else(|| e["EventTime"].as_str().map(String::from))
                .unwrap_or_default();
            // Events of the boundary second written before a resumed run.
            if boundary.as_deref() == Some(time.as_str()) && p.boundary_ids.contains(&id) {
                continue;
            }
            match &mut oldest {
                Some((t, ids)) if *t == time => ids.push(id),
                Some((t, _)) if time.as_str() > t.as_str() => {}
                _ => oldest = Some((time, vec![id])),
            }
            raws.push(raw.to_string());
        }
        let files = write_event_history_page(out, account, region, p.pages, &raws)?;
        c.files += files.len() as u64;
        p.pages += 1;
        p.events += raws.len() as u64;
        if let Some((t, ids)) = oldest {
            if p.next_end.as_deref() == Some(t.as_str()) {
                p.boundary_ids.extend(ids);
            } else {
                p.next_end = Some(t);
                p.boundary_ids = ids;
            }
        }
        p.next_token = v["NextToken"].as_str().map(String::from);
        p.done = p.next_token.is_none();
        p.save(out)?;
        on_page(raws.len() as u64);
        if p.done {
            break;
        }
    }
    c.pages = p.pages;
    c.events = p.events;
    Ok(c)
}

/// The streams of the API server's audit log in a cluster's log group.
const AUDIT_STREAM_PREFIX: &str = "kube-apiserver-audit";

/// The log group EKS writes a cluster's control-plane logs to.
pub fn eks_log_group(cluster: &str) -> String {
    format!("/aws/eks/{cluster}/cluster")
}

/// Copy one cluster's audit events between `start` and `end` into `out`.
#[allow(clippy::too_many_arguments)]
pub async fn eks_audit(
    client: &WireClient,
    account: &str,
    region: &str,
    cluster: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    out: &Path,
    on_page: &mut (dyn FnMut(u64) + Send),
) -> Result<Collected> {
    let what = format!("eks:{cluster}");
    let mut p = Progress::load(out, &what, account, region, &rfc(start), &rfc(end));
    let mut c = Collected::from_progress(&p);
    if p.done {
        return Ok(c);
    }
    let start = parse(&p.start).unwrap_or(start);
    let end = parse(&p.end).unwrap_or(end);
    // FilterLogEvents: 5 calls a second per account and region.
    let mut pacer = Pacer::new(std::time::Duration::from_millis(220), 6);
    loop {
        // A token goes with the request it came from; a resumed run
        // without one starts after the last event written.
        let from = match &p.next_token {
            Some(_) => start.timestamp_millis(),
            None => p
                .next_end
                .as_deref()
                .and_then(|t| t.parse::<i64>().ok())
                .unwrap_or(start.timestamp_millis()),
        };
        let mut params = json!({
            "logGroupName": eks_log_group(cluster),
            "logStreamNamePrefix": AUDIT_STREAM_PREFIX,
            "startTime": from,
            "endTime": end.timestamp_millis(),
            "limit": 1000,
        });
        if let Some(t) = &p.next_token {
            params["nextToken"] = Value::String(t.clone());
        }
        let resp = pacer
            .call(client, "logs", "FilterLogEvents", region, &params)
            .await?;
        if !resp.ok() {
            if resp.error_code.as_deref() == Some("ResourceNotFoundException") {
                return Err(anyhow!(
                    "logs:FilterLogEvents {}: no such log group in {account}/{region} (is the cluster's audit log on? `irprep logs enable --sources eks`)",
                    eks_log_group(cluster)
                ));
            }
            if p.next_token.is_some()
                && resp.error_code.as_deref() == Some("InvalidParameterException")
            {
                p.next_token = None;
                continue;
            }
            return Err(anyhow!(
                "logs:FilterLogEvents {} in {account}/{region}: {} {}",
                eks_log_group(cluster),
                resp.error_code.unwrap_or_default(),
                resp.error_message.unwrap_or_default()
            ));
        }
        let v: Value = serde_json::from_str(&resp.body)
            .map_err(|e| anyhow!("logs:FilterLogEvents: not JSON: {e}"))?;
        let evs: Vec<(i64, String)> = v["events"]
            .as_array()
            .into_iter()
            .flatten()
            // Audit streams only, also where the prefix filter was not applied.
            .filter(|e| {
                e["logStreamName"]
                    .as_str()
                    .is_none_or(|s| s.starts_with(AUDIT_STREAM_PREFIX))
            })
            .filter_map(|e| Some((e["timestamp"].as_i64()?, e["message"].as_str()?.to_string())))
            .collect();
        if !evs.is_empty() {
            let files = write_eks_page(out, account, region, cluster, p.pages, &evs)?;
            c.files += files.len() as u64;
        }
        p.pages += 1;
        p.events += evs.len() as u64;
        if let Some(last) = evs.iter().map(|(t, _)| *t).max() {
            // Without a token, the next run asks from the millisecond after.
            p.next_end = Some((last + 1).to_string());
        }
        p.next_token = v["nextToken"].as_str().map(String::from);
        // CloudWatch Logs may answer a token with an empty page before the
        // end: only no token means done.
        p.done = p.next_token.is_none();
        p.save(out)?;
        on_page(evs.len() as u64);
        if p.done {
            break;
        }
    }
    c.pages = p.pages;
    c.events = p.events;
    Ok(c)
}

/// The EKS clusters of one account and region.
pub async fn list_clusters(conf: &aws_config::SdkConfig) -> Result<Vec<String>> {
    let client = aws_sdk_eks::Client::new(conf);
    let mut out = vec![];
    let mut next = None;
    loop {
        let r = client
            .list_clusters()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "eks:ListClusters: {}",
                    aws_sdk_eks::error::DisplayErrorContext(e)
                )
            })?;
        out.extend(r.clusters().iter().cloned());
        next = r.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    Ok(out)
}
