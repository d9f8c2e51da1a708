//! `logs validate`: read a trail's digest files and the log files they
//! list (locally or from S3), hash them, fetch CloudTrail's public keys when
//! asked, and hand everything to [`irprep_core::integrity`] for verdicts.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use aws_config::SdkConfig;
use futures::StreamExt;
use irprep_core::integrity::{self, FoundDigest, LogState, PublicKey, Report};
use irprep_core::layout::KeyKind;
use irprep_core::source::{Fetcher, Location, LogFile};

/// Files read at once.
const CONCURRENCY: usize = 16;

/// Where the public keys come from.
pub enum Keys {
    /// Given (`--public-keys FILE`, the output of `aws cloudtrail list-public-keys`).
    Given(Vec<PublicKey>),
    /// CloudTrail ListPublicKeys in each digest's region.
    CloudTrail(Box<SdkConfig>),
    /// None: signatures are not checked (hashes and the chain still are).
    None,
}

/// A validation, and what could not be asked (a region whose keys could not
/// be listed).
pub struct Validation {
    pub report: Report,
    pub notes: Vec<String>,
}

fn is_digest(f: &LogFile) -> bool {
    f.kind == KeyKind::CloudTrailDigest || f.to_string().contains("_CloudTrail-Digest_")
}

fn key_of(f: &LogFile) -> String {
    match &f.location {
        Location::Local(p) => p.to_string_lossy().into_owned(),
        Location::Remote { key, .. } => key.clone(),
    }
}

async fn read_local(p: PathBuf) -> Result<Vec<u8>, String> {
    tokio::task::spawn_blocking(move || irprep_core::decompress::read_file_bounded(&p))
        .await
        .map_err(|e| format!("reading: {e}"))?
}

/// SHA-256 of a log file's uncompressed content (CPU work off the runtime).
async fn hash(raw: Vec<u8>) -> LogState {
    let r = tokio::task::spawn_blocking(move || {
        irprep_core::decompress::maybe_gunzip(&raw)
            .map(|c| integrity::sha256_hex(&c))
            .map_err(|p| p.message)
    })
    .await;
    match r {
        Ok(Ok(h)) => LogState::Hashed(h),
        Ok(Err(e)) => LogState::Unreadable(e),
        Err(e) => LogState::Unreadable(format!("hashing: {e}")),
    }
}

/// Validate the digests among `files` and the log files they list.
/// `progress` is told of each file done.
pub async fn validate(
    files: &[LogFile],
    fetcher: Option<&Fetcher>,
    keys: Keys,
    progress: &(dyn Fn(u64) + Sync),
) -> Validation {
    let mut notes = vec![];
    // The digests, read.
    let found: Vec<FoundDigest> = futures::stream::iter(files.iter().filter(|f| is_digest(f)))
        .map(|f| async move {
            let (raw, signature) = match &f.location {
                Location::Local(p) => (read_local(p.clone()).await, None),
                Location::Remote { bucket, key } => match fetcher {
                    None => (Err("no S3 client".to_string()), None),
                    Some(fx) => match fx.fetch_object(bucket, key).await {
                        Ok(Some(o)) => (Ok(o.bytes), o.metadata.get("signature").cloned()),
                        Ok(None) => (Err("deleted while being read".to_string()), None),
                        Err(e) => (Err(e), None),
                    },
                },
            };
            progress(1);
            FoundDigest {
                at: f.to_string(),
                key: key_of(f),
                raw,
                signature,
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut found = found;
    found.sort_by(|a, b| a.key.cmp(&b.key));
    let (digests, bad) = integrity::parse_digests(found);

    // The keys.
    let keys = match keys {
        Keys::Given(k) => k,
        Keys::None => vec![],
        Keys::CloudTrail(conf) => {
            let mut spans: BTreeMap<String, (String, String)> = BTreeMap::new();
            for d in &digests {
                let Some(region) = region_of(&d.found.key) else {
                    continue;
                };
                let s = spans.entry(region).or_insert_with(|| {
                    (
                        d.digest.digest_end_time.clone(),
                        d.digest.digest_end_time.clone(),
                    )
                });
                s.0 = s.0.clone().min(d.digest.digest_end_time.clone());
                s.1 = s.1.clone().max(d.digest.digest_end_time.clone());
            }
            let mut all = vec![];
            for (region, (start, end)) in spans {
                if !irprep_aws::wire::is_region(&region) {
                    notes.push(format!(
                        "no public keys asked for '{region}': not a region name"
                    ));
                    continue;
                }
                match irprep_aws::trail_keys::public_keys(&conf, &region, Some(&start), Some(&end))
                    .await
                {
                    Ok(k) => all.extend(k),
                    Err(e) => notes.push(format!(
                        "{e:#}: signatures of {region}'s digests are not checked"
                    )),
                }
            }
            all
        }
    };

    // The log files given, by their place in the delivery layout.
    let logs: Vec<&LogFile> = files
        .iter()
        .filter(|f| {
            f.kind == KeyKind::Log(irprep_core::tables::LogTable::CloudTrail) && !is_digest(f)
        })
        .collect();
    let present: Vec<(String, String)> = logs.iter().map(|f| (f.to_string(), key_of(f))).collect();
    let index: HashMap<String, &LogFile> = logs
        .iter()
        .map(|f| (integrity::logical_key(&key_of(f)).to_string(), *f))
        .collect();
    // Every listed log file, with where to look for it when it was not
    // given: the bucket and prefix of the digest that lists it (S3 only).
    let mut wanted: BTreeMap<String, Option<(String, String)>> = BTreeMap::new();
    let digest_files: HashMap<String, &LogFile> = files
        .iter()
        .filter(|f| is_digest(f))
        .map(|f| (f.to_string(), f))
        .collect();
    for d in &digests {
        let remote = digest_files
            .get(&d.found.at)
            .and_then(|f| match &f.location {
                Location::Remote { bucket, key } => {
                    let lk = integrity::logical_key(key);
                    Some((bucket.clone(), key[..key.len() - lk.len()].to_string()))
                }
                Location::Local(_) => None,
            });
        for l in &d.digest.log_files {
            let lk = integrity::logical_key(&l.s3_object).to_string();
            let e = wanted.entry(lk).or_insert(None);
            if e.is_none() {
                *e = remote.clone();
            }
        }
    }
    let states: Vec<(String, LogState)> = futures::stream::iter(wanted)
        .map(|(lk, place)| {
            let given = index.get(&lk).copied();
            async move {
                let state = match (given.map(|f| &f.location), place) {
                    (Some(Location::Local(p)), _) => match read_local(p.clone()).await {
                        Ok(raw) => hash(raw).await,
                        Err(e) => LogState::Unreadable(e),
                    },
                    (Some(Location::Remote { bucket, key }), _) => {
                        fetch_hash(fetcher, bucket, key).await
                    }
                    (None, Some((bucket, prefix))) => {
                        fetch_hash(fetcher, &bucket, &format!("{prefix}{lk}")).await
                    }
                    (None, None) => LogState::Absent,
                };
                progress(1);
                (lk, state)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let states: HashMap<String, LogState> = states.into_iter().collect();
    let report = integrity::validate(digests, bad, &keys, &states, &present);
    Validation { report, notes }
}

async fn fetch_hash(fetcher: Option<&Fetcher>, bucket: &str, key: &str) -> LogState {
    let Some(fx) = fetcher else {
        return LogState::Absent;
    };
    match fx.fetch_object(bucket, key).await {
        Ok(Some(o)) => hash(o.bytes).await,
        Ok(None) => LogState::Absent,
        Err(e) => LogState::Unreadable(e),
    }
}

/// The region segment of a digest's key (`…/CloudTrail-Digest/<region>/…`).
fn region_of(key: &str) -> Option<String> {
    let mut segs = key.split('/');
    segs.find(|s| *s == "CloudTrail-Digest")?;
    segs.next().map(str::to_string)
}
