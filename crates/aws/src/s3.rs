//! S3 as a log source: list the keys under `s3://bucket/prefix` (classified
//! by the S3 layout, so partition filters prune before any object is read) and
//! fetch objects for the engine.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use irprep_core::source::{LogFile, RemoteFetcher, RemoteObject};

/// `s3://bucket/prefix` → (bucket, prefix).
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return None;
    }
    Some((bucket.to_string(), prefix.to_string()))
}

/// An S3 client suited to the configuration: path-style addressing when an
/// endpoint override is set (emulators, VPC endpoints by IP).
pub fn client(conf: &SdkConfig, path_style: bool) -> Client {
    let b = aws_sdk_s3::config::Builder::from(conf).force_path_style(path_style);
    Client::from_conf(b.build())
}

/// Buckets' regions as S3 has told them in this process (HeadBucket's
/// header, ListBuckets' `BucketRegion`), so each is asked about once.
fn known_regions() -> &'static Mutex<HashMap<String, String>> {
    static R: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Note where a bucket is, as an answer of S3's said.
pub fn remember_region(bucket: &str, region: &str) {
    if !region.is_empty() {
        if let Ok(mut m) = known_regions().lock() {
            m.insert(bucket.to_string(), region.to_string());
        }
    }
}

/// The region S3 says `bucket` is in: HeadBucket's `x-amz-bucket-region`
/// header, which S3 sets on the answer whether it is 200, a 301 redirect to
/// the bucket's region, or a 403. None when S3 does not say (no such
/// bucket; an emulator).
pub async fn bucket_region(client: &Client, bucket: &str) -> Option<String> {
    if let Some(r) = known_regions()
        .lock()
        .ok()
        .and_then(|m| m.get(bucket).cloned())
    {
        return Some(r);
    }
    let region = match client.head_bucket().bucket(bucket).send().await {
        Ok(o) => o.bucket_region().map(String::from),
        Err(e) => e
            .raw_response()
            .and_then(|r| r.headers().get("x-amz-bucket-region"))
            .map(String::from),
    }?;
    remember_region(bucket, &region);
    Some(region)
}

/// A client for `bucket`'s own region. S3 answers a request signed for
/// another region with `301 PermanentRedirect`, which the Rust SDK does not
/// follow, so every call on a bucket the user names (`--logs s3://…`,
/// `--bucket`, `auto` discovery) goes through here.
pub async fn client_for_bucket(conf: &SdkConfig, path_style: bool, bucket: &str) -> Client {
    let c = client(conf, path_style);
    match bucket_region(&c, bucket).await {
        Some(r) if conf.region().map(|x| x.as_ref()) != Some(r.as_str()) => {
            let here = conf.to_builder().region(aws_config::Region::new(r)).build();
            client(&here, path_style)
        }
        _ => c,
    }
}

/// Fetches objects, each bucket through a client of its own region.
#[derive(Debug, Clone)]
pub struct S3Fetcher {
    conf: SdkConfig,
    path_style: bool,
    clients: HashMap<String, Client>,
}

impl S3Fetcher {
    pub fn new(conf: SdkConfig, path_style: bool) -> Self {
        S3Fetcher {
            conf,
            path_style,
            clients: HashMap::new(),
        }
    }

    /// The client for a bucket (asking S3 for its region the first time).
    pub async fn bucket(&mut self, bucket: &str) -> Client {
        if let Some(c) = self.clients.get(bucket) {
            return c.clone();
        }
        let c = client_for_bucket(&self.conf, self.path_style, bucket).await;
        self.clients.insert(bucket.to_string(), c.clone());
        c
    }

    fn client(&self, bucket: &str) -> Client {
        self.clients
            .get(bucket)
            .cloned()
            .unwrap_or_else(|| client(&self.conf, self.path_style))
    }
}

#[async_trait]
impl RemoteFetcher for S3Fetcher {
    async fn fetch(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let obj = self
            .client(bucket)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("GetObject: {}", one_line(&e)))?;
        body(obj).await
    }

    async fn fetch_object(&self, bucket: &str, key: &str) -> Result<Option<RemoteObject>, String> {
        let obj = match self
            .client(bucket)
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(format!("GetObject: {}", one_line(&e))),
        };
        let metadata = obj
            .metadata()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(RemoteObject {
            bytes: body(obj).await?,
            metadata,
        }))
    }
}

/// An S3 error as one line: S3's code and message (or the HTTP status),
/// never the raw response the SDK's display carries.
fn one_line<E, R>(e: &aws_smithy_runtime_api::client::result::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => format!("{err}"),
            }
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(d) => format!("could not send the request: {d:?}")
            .chars()
            .take(300)
            .collect(),
        other => format!("{other}"),
    }
}

/// An object's body, refused past [`irprep_core::decompress::MAX_FILE_BYTES`]
/// (by its declared length first, then by what arrives).
async fn body(obj: aws_sdk_s3::operation::get_object::GetObjectOutput) -> Result<Vec<u8>, String> {
    let max = irprep_core::decompress::MAX_FILE_BYTES as i64;
    if let Some(n) = obj.content_length().filter(|n| *n > max) {
        return Err(irprep_core::decompress::too_large(n as u64));
    }
    let body = obj
        .body
        .collect()
        .await
        .map_err(|e| format!("reading body: {e}"))?;
    let bytes = body.into_bytes();
    if bytes.len() > max as usize {
        return Err(irprep_core::decompress::too_large(bytes.len() as u64));
    }
    Ok(bytes.to_vec())
}

/// Objects one listing may hold (a month of an Organization's trail is a few
/// million); past it the prefix is refused with a hint, not listed into memory.
pub const MAX_LISTED_OBJECTS: usize = 20_000_000;

/// List every object under the prefix (paginated), classified.
pub async fn list(client: &Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<LogFile>> {
    let mut out = vec![];
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!("ListObjectsV2 s3://{bucket}/{prefix}: {}", one_line(&e))
        })?;
        for o in page.contents() {
            let Some(key) = o.key() else { continue };
            if key.ends_with('/') {
                continue;
            }
            out.push(LogFile::remote(
                bucket,
                key,
                o.size().unwrap_or(0).max(0) as u64,
            ));
        }
        if out.len() > MAX_LISTED_OBJECTS {
            anyhow::bail!(
                "s3://{bucket}/{prefix} holds more than {MAX_LISTED_OBJECTS} objects: narrow --logs to accounts, regions or days (or use --engine athena)"
            );
        }
    }
    Ok(out)
}

/// The days a listing may skip: `keep(lo, hi)` says whether any day from
/// `lo` to `hi` (`yyyy/MM/dd`, inclusive) can hold a file the scan reads.
pub type KeepDays = std::sync::Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// ListObjectsV2 calls in flight while walking a prefix.
pub const LIST_IN_FLIGHT: usize = 16;

/// Past this depth a walk without a date folder lists flat.
const WALK_DEPTH: usize = 8;

/// A folder name's date part: `2024`, `03`, `05` or Hive's `year=2024`,
/// `month=03`, `day=05`, as `level` (0 year, 1 month, 2 day) expects.
fn date_part(seg: &str, level: usize) -> Option<u32> {
    let (key, digits) = match level {
        0 => ("year=", 4),
        1 => ("month=", 2),
        _ => ("day=", 2),
    };
    let v = seg.strip_prefix(key).unwrap_or(seg);
    if v.len() != digits || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u32 = v.parse().ok()?;
    let ok = match level {
        0 => (1970..=2200).contains(&n),
        1 => (1..=12).contains(&n),
        _ => (1..=31).contains(&n),
    };
    ok.then_some(n)
}

/// Whether the date folder `folder` (ending in `/`, its date parts `d`
/// from the year down) is where the engine takes a key's date from: a key
/// below it, in the layouts of [`irprep_core::layout::classify`], gets that
/// date. Only such folders are pruned; a date folder elsewhere (evidence
/// copied into `case-12/2024/05/01/`, a Firehose tree) is listed, since its
/// files are read whatever their folder says.
fn layout_date(folder: &str, d: &[u32]) -> bool {
    let (y, m, dd) = (
        d[0],
        d.get(1).copied().unwrap_or(1),
        d.get(2).copied().unwrap_or(1),
    );
    let last = folder
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let hive = last.contains('=');
    let rest = match (d.len(), hive) {
        (1, false) => format!("{m:02}/{dd:02}/"),
        (2, false) => format!("{dd:02}/"),
        (1, true) => format!("month={m:02}/day={dd:02}/"),
        (2, true) => format!("day={dd:02}/"),
        _ => String::new(),
    };
    let want = format!("{y:04}/{m:02}/{dd:02}");
    let access_log = format!("{y:04}-{m:02}-{dd:02}-00-00-00-0123456789ABCDEF");
    ["x.json.gz", access_log.as_str()].iter().any(|f| {
        irprep_core::layout::classify(&format!("{folder}{rest}{f}"))
            .partitions
            .is_some_and(|p| p.date == want)
    })
}

/// Whether folders below `prefix` may still be a log layout's (an
/// `AWSLogs` segment, Hive's `aws-account-id=`, or an account id, as S3
/// access logs' date-based keys have); a tree that shows none by its third
/// level is listed flat.
fn may_hold_layout(prefix: &str) -> bool {
    prefix.split('/').any(|seg| {
        seg == "AWSLogs"
            || seg.starts_with("aws-account-id=")
            || (seg.len() == 12 && seg.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The date parts a prefix ends in (`…/us-east-1/2024/03/`), when they are a
/// layout's date folders.
fn prefix_date(prefix: &str) -> Vec<u32> {
    if !prefix.ends_with('/') {
        return vec![];
    }
    let segs: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    for k in (1..=3).rev() {
        if segs.len() < k {
            continue;
        }
        let tail = &segs[segs.len() - k..];
        let d: Option<Vec<u32>> = tail
            .iter()
            .enumerate()
            .map(|(level, seg)| date_part(seg, level))
            .collect();
        if let Some(d) = d.filter(|d| layout_date(prefix, d)) {
            return d;
        }
    }
    vec![]
}

/// Every object under the prefix, skipping the date folders (`…/2024/03/05/`,
/// or Hive's `year=2024/month=03/day=05/`) that `keep` says hold nothing the
/// scan reads. The AWS log layouts put every file under such folders, so a
/// window of a few days lists those days, not the bucket's years: the walk
/// asks S3 for each folder level (delimiter `/`, many calls in flight) down
/// to a kept day, and lists below it flat. Only the date folders of the
/// layouts the engine reads partitions from are pruned
/// (see `layout_date`); everything else is listed, a tree outside any layout
/// flat.
pub async fn list_within(
    client: &Client,
    bucket: &str,
    prefix: &str,
    keep: KeepDays,
) -> anyhow::Result<Vec<LogFile>> {
    use futures::stream::{FuturesUnordered, StreamExt};
    // A folder to list: its prefix, the date parts above it, its depth.
    type Node = (String, Vec<u32>, usize);
    let level = |node: Node| {
        let client = client.clone();
        async move {
            let (pfx, date, depth) = node;
            // Below a kept day, or in a tree with no layout: flat.
            let flat = date.len() == 3
                || (date.is_empty()
                    && (depth >= WALK_DEPTH || (depth >= 2 && !may_hold_layout(&pfx))));
            let mut files = vec![];
            let mut folders = vec![];
            let mut pages = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(&pfx)
                .set_delimiter((!flat).then(|| "/".to_string()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    anyhow::anyhow!("ListObjectsV2 s3://{bucket}/{pfx}: {}", one_line(&e))
                })?;
                for o in page.contents() {
                    let Some(key) = o.key() else { continue };
                    if !key.ends_with('/') {
                        files.push(LogFile::remote(
                            bucket,
                            key,
                            o.size().unwrap_or(0).max(0) as u64,
                        ));
                    }
                }
                for cp in page.common_prefixes() {
                    if let Some(p) = cp.prefix() {
                        folders.push(p.to_string());
                    }
                }
                if files.len() > MAX_LISTED_OBJECTS {
                    break;
                }
            }
            Ok::<_, anyhow::Error>((files, folders, date, depth))
        }
    };
    let mut out = vec![];
    let mut todo: Vec<Node> = vec![(prefix.to_string(), prefix_date(prefix), 0)];
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < LIST_IN_FLIGHT {
            let Some(n) = todo.pop() else { break };
            running.push(level(n));
        }
        let Some(done) = running.next().await else {
            break;
        };
        let (files, folders, date, depth) = done?;
        out.extend(files);
        if out.len() > MAX_LISTED_OBJECTS {
            anyhow::bail!(
                "s3://{bucket}/{prefix} holds more than {MAX_LISTED_OBJECTS} objects in the window: narrow --logs to accounts, regions or days (or use --engine athena)"
            );
        }
        for f in folders {
            let seg = f.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            let mut d = date.clone();
            match date_part(seg, d.len()) {
                Some(n) => {
                    d.push(n);
                    if !layout_date(&f, &d) {
                        d.clear();
                    }
                }
                // A folder that is not the next date level: the dates start
                // again below it (an account, a region, a VPC).
                None => d.clear(),
            }
            let (lo, hi) = match d.as_slice() {
                [y] => (format!("{y:04}/01/01"), format!("{y:04}/12/31")),
                [y, m] => (format!("{y:04}/{m:02}/01"), format!("{y:04}/{m:02}/31")),
                [y, m, dd] => {
                    let day = format!("{y:04}/{m:02}/{dd:02}");
                    (day.clone(), day)
                }
                _ => (String::new(), String::new()),
            };
            if !d.is_empty() && !keep(&lo, &hi) {
                continue;
            }
            todo.push((f, d, depth + 1));
        }
    }
    out.sort_by_cached_key(|f| f.to_string());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_layout_s_date_folders_are_pruned() {
        let ct = "AWSLogs/111122223333/CloudTrail/us-east-1/";
        assert!(layout_date(&format!("{ct}2024/"), &[2024]));
        assert!(layout_date(&format!("{ct}2024/03/"), &[2024, 3]));
        assert!(layout_date(&format!("{ct}2024/03/05/"), &[2024, 3, 5]));
        let org = "logs/AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2024/03/";
        assert!(layout_date(org, &[2024, 3]));
        let hive = "AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/";
        assert!(layout_date(hive, &[2024]));
        let dns = "AWSLogs/111122223333/vpcdnsquerylogs/vpc-0a1b2c3d/2024/03/05/";
        assert!(layout_date(dns, &[2024, 3, 5]));
        let access = "s3-access/111122223333/us-east-1/their-bucket/2024/03/";
        assert!(layout_date(access, &[2024, 3]));
        // Dates elsewhere are a folder like any other.
        for (f, d) in [
            ("case-12/2024/05/01/", vec![2024, 5, 1]),
            ("firehose/2024/", vec![2024]),
            ("AWSLogs/111122223333/CloudTrail/2024/", vec![2024]),
        ] {
            assert!(!layout_date(f, &d), "{f}");
        }
        assert_eq!(prefix_date(&format!("{ct}2024/03/")), vec![2024, 3]);
        assert_eq!(prefix_date("case-12/2024/05/"), Vec::<u32>::new());
        assert_eq!(prefix_date(&format!("{ct}2024/0")), Vec::<u32>::new());
        assert!(may_hold_layout("bucket-copy/AWSLogs/"));
        assert!(!may_hold_layout("exportedlogs/task-1/"));
    }

    #[test]
    fn date_folders() {
        assert_eq!(date_part("2024", 0), Some(2024));
        assert_eq!(date_part("year=2024", 0), Some(2024));
        assert_eq!(date_part("03", 1), Some(3));
        assert_eq!(date_part("month=03", 1), Some(3));
        assert_eq!(date_part("day=31", 2), Some(31));
        for (seg, level) in [
            ("111122223333", 0),
            ("us-east-1", 0),
            ("0000", 0),
            ("13", 1),
            ("2024", 1),
            ("00", 2),
            ("vpc-0a1b", 2),
            ("hour=05", 2),
        ] {
            assert_eq!(date_part(seg, level), None, "{seg} at {level}");
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_s3_url("s3://b/p/q/"),
            Some(("b".into(), "p/q/".into()))
        );
        assert_eq!(parse_s3_url("s3://b"), Some(("b".into(), "".into())));
        assert_eq!(parse_s3_url("/tmp/x"), None);
    }
}
