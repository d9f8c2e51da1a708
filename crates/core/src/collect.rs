//! Files written by `irprep logs collect`, in the layouts the readers know.
//!
//! - CloudTrail event history (LookupEvents): delivery files exactly as a
//!   trail writes them, `AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_eh<page>.json.gz`,
//!   `{"Records":[…]}` holding each event's `CloudTrailEvent` text as it came;
//! - EKS audit events (CloudWatch Logs): one event per line,
//!   `AWSLogs/<account>/eks-audit/<region>/<cluster>/<yyyy>/<mm>/<dd>/<cluster>_<page>.jsonl.gz`.
//!
//! A page's events are split by day, so each file sits under its events'
//! date. A run is resumable: [`Progress`] is saved beside the files after
//! every page, and a run that finds it continues where the last one stopped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a collection run stands, saved after every page.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Progress {
    /// What is collected (`event-history`, `eks:<cluster>`), account, region.
    pub what: String,
    pub account: String,
    pub region: String,
    /// The window asked for (RFC 3339).
    pub start: String,
    pub end: String,
    /// The API's token for the next page (CloudWatch Logs), if any.
    pub next_token: Option<String>,
    /// LookupEvents pages come newest first: the next request ends here
    /// (RFC 3339), and the events of that second already written are
    /// `boundary_ids` (a second can hold events on both sides of a page).
    pub next_end: Option<String>,
    pub boundary_ids: Vec<String>,
    pub pages: u64,
    pub events: u64,
    pub done: bool,
}

impl Progress {
    fn file(out: &Path, what: &str, account: &str, region: &str) -> PathBuf {
        let safe: String = what
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        out.join(".irprep-collect")
            .join(format!("{safe}-{account}-{region}.json"))
    }

    /// Where to go on from. An interrupted run continues its own window
    /// (whatever this one asks); after a finished run only what is newer
    /// than its end is asked (page numbers go on, so no file is written
    /// twice); else a fresh run over `start..end` (RFC 3339, compared as
    /// text).
    pub fn load(
        out: &Path,
        what: &str,
        account: &str,
        region: &str,
        start: &str,
        end: &str,
    ) -> Self {
        let fresh = Progress {
            what: what.into(),
            account: account.into(),
            region: region.into(),
            start: start.into(),
            end: end.into(),
            ..Default::default()
        };
        let saved = std::fs::read(Self::file(out, what, account, region))
            .ok()
            .and_then(|b| serde_json::from_slice::<Progress>(&b).ok());
        match saved {
            Some(p) if !p.done => p,
            Some(p) if end <= p.end.as_str() => p,
            Some(p) => Progress {
                start: p.end.clone().max(start.to_string()),
                pages: p.pages,
                events: p.events,
                ..fresh
            },
            None => fresh,
        }
    }

    pub fn save(&self, out: &Path) -> std::io::Result<()> {
        let path = Self::file(out, &self.what, &self.account, &self.region);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(tmp, path)
    }
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut comp = libdeflater::Compressor::new(libdeflater::CompressionLvl::default());
    let mut out = vec![0u8; comp.gzip_compress_bound(body.len())];
    let n = comp
        .gzip_compress(body, &mut out)
        .map_err(|e| std::io::Error::other(format!("gzip: {e:?}")))?;
    out.truncate(n);
    Ok(out)
}

fn write(path: &Path, body: &[u8]) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, gzip(body)?)?;
    std::fs::rename(tmp, path)
}

/// `(yyyy, mm, dd, hh, mi)` of a canonical-looking time, digits checked.
fn parts(t: &str) -> Option<(&str, &str, &str, &str, &str)> {
    crate::layout::date_of_time(t)?;
    let b = t.as_bytes();
    if b.len() < 16 || !b[11..13].iter().chain(&b[14..16]).all(u8::is_ascii_digit) {
        return None;
    }
    Some((&t[..4], &t[5..7], &t[8..10], &t[11..13], &t[14..16]))
}

/// Account ids and regions become directory names: only their real shapes.
fn check_place(account: &str, region: &str) -> std::io::Result<()> {
    let ok_account = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    let ok_region = !region.is_empty()
        && region.len() <= 40
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok_account && ok_region {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "not an account and region: {account:?} {region:?}"
        )))
    }
}

/// Write one LookupEvents page: each raw `CloudTrailEvent` text (whole, as
/// it came) in the delivery file of its day. Events whose time cannot be
/// read go under the page's first readable day. Returns the files written.
pub fn write_event_history_page(
    out: &Path,
    account: &str,
    region: &str,
    page: u64,
    events: &[String],
) -> std::io::Result<Vec<PathBuf>> {
    check_place(account, region)?;
    let mut by_day: BTreeMap<(String, String, String), (String, Vec<&str>)> = BTreeMap::new();
    let mut first_day = None;
    let time_of = |raw: &str| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(raw).ok()?;
        v["eventTime"].as_str().map(String::from)
    };
    let mut unplaced = vec![];
    for raw in events {
        match time_of(raw).as_deref().and_then(parts) {
            Some((y, m, d, hh, mi)) => {
                let key = (y.to_string(), m.to_string(), d.to_string());
                first_day.get_or_insert_with(|| key.clone());
                let e = by_day
                    .entry(key)
                    .or_insert_with(|| (format!("{y}{m}{d}T{hh}{mi}Z"), vec![]));
                e.1.push(raw);
            }
            None => unplaced.push(raw.as_str()),
        }
    }
    if !unplaced.is_empty() {
        let key = first_day.unwrap_or_else(|| ("1970".into(), "01".into(), "01".into()));
        by_day
            .entry(key.clone())
            .or_insert_with(|| (format!("{}{}{}T0000Z", key.0, key.1, key.2), vec![]))
            .1
            .extend(unplaced);
    }
    let mut written = vec![];
    for ((y, m, d), (stamp, evs)) in by_day {
        let path = out
            .join("AWSLogs")
            .join(account)
            .join("CloudTrail")
            .join(region)
            .join(&y)
            .join(&m)
            .join(&d)
            .join(format!(
                "{account}_CloudTrail_{region}_{stamp}_eh{page:06}.json.gz"
            ));
        let mut body = String::from("{\"Records\":[");
        for (i, e) in evs.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            // A CloudTrailEvent that is not JSON would break the whole
            // file: it is kept as a JSON string instead, which the reader
            // reports as one bad record.
            if serde_json::from_str::<serde::de::IgnoredAny>(e).is_ok() {
                body.push_str(e.trim());
            } else {
                body.push_str(&serde_json::Value::String(e.to_string()).to_string());
            }
        }
        body.push_str("]}");
        write(&path, body.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

/// Write one page of EKS audit events (`(timestamp ms, message)`), one
/// message per line, in the file of its day.
pub fn write_eks_page(
    out: &Path,
    account: &str,
    region: &str,
    cluster: &str,
    page: u64,
    events: &[(i64, String)],
) -> std::io::Result<Vec<PathBuf>> {
    check_place(account, region)?;
    let cluster_ok = !cluster.is_empty()
        && cluster.len() <= 100
        && cluster
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !cluster_ok {
        return Err(std::io::Error::other(format!(
            "not a cluster name: {cluster:?}"
        )));
    }
    let mut by_day: BTreeMap<String, String> = BTreeMap::new();
    for (ts, msg) in events {
        let day = chrono::DateTime::from_timestamp_millis(*ts)
            .map(|d| d.format("%Y/%m/%d").to_string())
            .unwrap_or_else(|| "1970/01/01".into());
        let body = by_day.entry(day).or_default();
        // One event per line: a message is one JSON document; line breaks
        // inside it would split it.
        body.push_str(&msg.replace(['\n', '\r'], " "));
        body.push('\n');
    }
    let mut written = vec![];
    for (day, body) in by_day {
        let mut path = out
            .join("AWSLogs")
            .join(account)
            .join(crate::tables::eks_audit::SERVICE_FOLDER)
            .join(region)
            .join(cluster);
        for p in day.split('/') {
            path = path.join(p);
        }
        let path = path.join(format!("{cluster}_{page:06}.jsonl.gz"));
        write(&path, body.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{classify, KeyKind};
    use crate::tables::LogTable;

    #[test]
    fn pages_land_in_the_layouts_the_readers_know() {
        let dir = std::env::temp_dir().join(format!("irprep-collect-{}", std::process::id()));
        let evs = vec![
            r#"{"eventVersion":"1.08","eventTime":"2024-03-05T23:59:59Z","eventID":"a"}"#
                .to_string(),
            r#"{"eventVersion":"1.08","eventTime":"2024-03-06T00:00:01Z","eventID":"b"}"#
                .to_string(),
        ];
        let files = write_event_history_page(&dir, "111122223333", "eu-west-1", 3, &evs).unwrap();
        assert_eq!(files.len(), 2);
        for f in &files {
            let c = classify(&f.to_string_lossy());
            assert_eq!(c.kind, KeyKind::Log(LogTable::CloudTrail));
            assert_eq!(c.partitions.unwrap().region, "eu-west-1");
        }
        let eks = write_eks_page(
            &dir,
            "111122223333",
            "eu-west-1",
            "prod-1",
            0,
            &[(1709683200000, "{\"a\":\n1}".into())],
        )
        .unwrap();
        let c = classify(&eks[0].to_string_lossy());
        assert_eq!(c.kind, KeyKind::Log(LogTable::EksAudit));
        assert_eq!(c.partitions.unwrap().name.as_deref(), Some("prod-1"));
        assert!(write_eks_page(&dir, "111122223333", "eu-west-1", "../x", 0, &[]).is_err());
        assert!(write_event_history_page(&dir, "../../etc", "eu-west-1", 0, &evs).is_err());
        let mut p = Progress::load(&dir, "eks:prod-1", "111122223333", "eu-west-1", "s", "e");
        p.pages = 4;
        p.save(&dir).unwrap();
        // Interrupted: the saved run goes on, whatever is asked now.
        assert_eq!(
            Progress::load(&dir, "eks:prod-1", "111122223333", "eu-west-1", "s2", "f").pages,
            4
        );
        p.done = true;
        p.end = "2024-03-06T00:00:00Z".into();
        p.save(&dir).unwrap();
        let done = Progress::load(
            &dir,
            "eks:prod-1",
            "111122223333",
            "eu-west-1",
            "2024-01-01T00:00:00Z",
            "2024-03-05T00:00:00Z",
        );
        assert!(done.done, "nothing newer asked: nothing to do");
        let more = Progress::load(
            &dir,
            "eks:prod-1",
            "111122223333",
            "eu-west-1",
            "2024-01-01T00:00:00Z",
            "2024-03-07T00:00:00Z",
        );
        assert!(!more.done);
        assert_eq!(
            (more.start.as_str(), more.pages),
            ("2024-03-06T00:00:00Z", 4)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
