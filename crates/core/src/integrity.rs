//! CloudTrail log file integrity: the digest files CloudTrail writes each
//! hour when log file validation is on, checked as AWS documents them
//! (the "custom implementation" of log file validation).
//!
//! - Each digest lists the log files delivered in its hour with the SHA-256
//!   of their *uncompressed* content: a file that was changed, deleted or
//!   planted shows.
//! - Each digest names the previous one with its SHA-256 and signature: a
//!   digest that was deleted, replaced or reordered breaks the chain.
//! - Each digest is signed (SHA256withRSA, PKCS #1 v1.5) by a per-region
//!   CloudTrail key, over `digestEndTime \n bucket/object \n
//!   hex(sha256(digest)) \n previousDigestSignature` (`null` for the first
//!   of a chain). The signature is in the object's `x-amz-meta-signature`
//!   metadata, and again in the next digest's `previousDigestSignature`, so a
//!   local copy (which keeps no S3 metadata) still proves every digest but
//!   the newest of each chain.
//!
//! This module is pure: callers hand it the digests' bytes, where they were
//! found, their metadata signature, the public keys, and the hashes of the
//! log files they reference; it returns verdicts. Nothing here reads files
//! or talks to AWS.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// Largest digest file accepted (compressed or not). A digest lists one
/// account's files of one hour in one region: a few hundred KiB at most.
pub const MAX_DIGEST_BYTES: usize = 64 << 20;

/// The signature algorithm CloudTrail uses (the only one documented).
pub const SIGNATURE_ALGORITHM: &str = "SHA256withRSA";

/// A digest file's content (the fields validation needs).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Digest {
    pub aws_account_id: String,
    pub digest_start_time: String,
    pub digest_end_time: String,
    pub digest_s3_bucket: String,
    pub digest_s3_object: String,
    #[serde(default)]
    pub digest_public_key_fingerprint: Option<String>,
    #[serde(default)]
    pub digest_signature_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_bucket: Option<String>,
    #[serde(default)]
    pub previous_digest_s3_object: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_value: Option<String>,
    #[serde(default)]
    pub previous_digest_hash_algorithm: Option<String>,
    #[serde(default)]
    pub previous_digest_signature: Option<String>,
    #[serde(default)]
    pub log_files: Vec<DigestLog>,
}

/// One log file a digest vouches for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestLog {
    pub s3_bucket: String,
    pub s3_object: String,
    pub hash_value: String,
    #[serde(default)]
    pub hash_algorithm: Option<String>,
}

/// A CloudTrail public key (what ListPublicKeys returns).
#[derive(Debug, Clone)]
pub struct PublicKey {
    /// Hex fingerprint, as digests name it.
    pub fingerprint: String,
    /// DER: PKCS #1 RSAPublicKey (what the API returns) or SubjectPublicKeyInfo.
    pub der: Vec<u8>,
    /// Validity, canonical `YYYY-MM-DDTHH:MM:SSZ` when known.
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
}

/// Public keys from the JSON of `aws cloudtrail list-public-keys`
/// (`{"PublicKeyList": [{"Value": base64, "Fingerprint", "ValidityStartTime",
/// "ValidityEndTime"}]}`; times as RFC 3339 or epoch seconds).
pub fn parse_public_keys(text: &str) -> Result<Vec<PublicKey>, String> {
    use base64::Engine as _;
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = v
        .get("PublicKeyList")
        .and_then(|l| l.as_array())
        .ok_or("no PublicKeyList array (the output of `aws cloudtrail list-public-keys`)")?;
    let mut out = vec![];
    for (i, k) in list.iter().enumerate() {
        let value = k
            .get("Value")
            .and_then(|v| v.as_str())
            .ok_or(format!("key {i}: no Value"))?;
        let der = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|e| format!("key {i}: Value is not base64: {e}"))?;
        let fingerprint = k
            .get("Fingerprint")
            .and_then(|v| v.as_str())
            .ok_or(format!("key {i}: no Fingerprint"))?
            .to_ascii_lowercase();
        let time = |name: &str| -> Result<Option<String>, String> {
            match k.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Number(n)) => {
                    let secs = n.as_f64().unwrap_or(f64::NAN);
                    chrono::DateTime::from_timestamp(secs as i64, 0)
                        .filter(|_| secs.is_finite())
                        .map(|t| Some(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
                        .ok_or(format!("key {i}: {name} out of range"))
                }
                Some(serde_json::Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
                    .map(|t| {
                        Some(
                            t.with_timezone(&chrono::Utc)
                                .format("%Y-%m-%dT%H:%M:%SZ")
                                .to_string(),
                        )
                    })
                    .map_err(|e| format!("key {i}: {name}: {e}")),
                Some(_) => Err(format!("key {i}: {name} is neither a time nor a number")),
            }
        };
        out.push(PublicKey {
            fingerprint,
            der,
            valid_from: time("ValidityStartTime")?,
            valid_until: time("ValidityEndTime")?,
        });
    }
    Ok(out)
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let v = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|p| Some(v(p[0])? << 4 | v(p[1])?))
        .collect()
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// SHA-256 of bytes, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&sha256(bytes))
}

/// The string CloudTrail signs for a digest (AWS's documented layout).
pub fn string_to_sign(d: &Digest, digest_sha256: &str) -> String {
    format!(
        "{}\n{}/{}\n{}\n{}",
        d.digest_end_time,
        d.digest_s3_bucket,
        d.digest_s3_object,
        digest_sha256,
        d.previous_digest_signature.as_deref().unwrap_or("null")
    )
}

/// The PKCS #1 RSAPublicKey inside a SubjectPublicKeyInfo, or the input
/// when it is not one (already PKCS #1, or unparseable: verification then
/// fails as it should).
fn pkcs1(der: &[u8]) -> &[u8] {
    // One DER element: (tag, content, rest).
    fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, b) = b.split_first()?;
        let (&l0, mut b) = b.split_first()?;
        let len = if l0 < 0x80 {
            l0 as usize
        } else {
            let n = (l0 & 0x7f) as usize;
            if n == 0 || n > 4 || b.len() < n {
                return None;
            }
            let len = b[..n].iter().fold(0usize, |a, &x| a << 8 | x as usize);
            b = &b[n..];
            len
        };
        (b.len() >= len).then(|| (tag, &b[..len], &b[len..]))
    }
    let spki = || -> Option<&[u8]> {
        let (0x30, body, _) = element(der)? else {
            return None;
        };
        let (0x30, _alg, rest) = element(body)? else {
            return None;
        };
        let (0x03, bits, _) = element(rest)? else {
            return None;
        };
        bits.strip_prefix(&[0u8])
    };
    spki().unwrap_or(der)
}

/// Whether `signature_hex` is a valid SHA256withRSA signature of `message`
/// under the DER key.
pub fn verify_signature(der: &[u8], message: &[u8], signature_hex: &str) -> bool {
    let Some(sig) = unhex(signature_hex) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        pkcs1(der),
    )
    .verify(message, &sig)
    .is_ok()
}

/// A key's part from the last `AWSLogs/` segment on: where a file sits in
/// the delivery layout, the same in the bucket and in a local copy of it
/// (`aws s3 sync`), whatever the bucket or prefix it was copied under.
pub fn logical_key(key: &str) -> &str {
    let key = key.trim_start_matches('/');
    if key.starts_with("AWSLogs/") {
        return key;
    }
    match key.rfind("/AWSLogs/") {
        Some(p) => &key[p + 1..],
        None => key,
    }
}

/// The delivery time CloudTrail puts in a log file's name
/// (`<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz`), as
/// `YYYY-MM-DDTHH:MM:00Z`.
pub fn log_file_time(key: &str) -> Option<String> {
    let name = key.rsplit('/').next()?;
    let t = name.split('_').find(|p| {
        p.len() == 14 && p.as_bytes()[8] == b'T' && p.ends_with('Z') && {
            let b = p.as_bytes();
            b[..8].iter().chain(&b[9..13]).all(u8::is_ascii_digit)
        }
    })?;
    Some(format!(
        "{}-{}-{}T{}:{}:00Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13]
    ))
}

/// (account, region) of a key in the CloudTrail layout
/// (`AWSLogs/[o-…/]<account>/CloudTrail[-Digest]/<region>/…`).
fn account_region(key: &str) -> Option<(String, String)> {
    let segs: Vec<&str> = logical_key(key).split('/').collect();
    let i = segs
        .iter()
        .position(|s| *s == "CloudTrail" || *s == "CloudTrail-Digest")?;
    if i < 2 {
        return None;
    }
    Some((segs[i - 1].to_string(), segs.get(i + 1)?.to_string()))
}

/// One digest as found.
#[derive(Debug, Clone)]
pub struct FoundDigest {
    /// Where it was read (a path or `s3://bucket/key`), for the report.
    pub at: String,
    /// Its key (S3) or path (local): compared with the key it claims.
    pub key: String,
    /// The raw bytes (gzip or not), or why they could not be read.
    pub raw: Result<Vec<u8>, String>,
    /// The `x-amz-meta-signature` metadata, when read from S3.
    pub signature: Option<String>,
}

/// A log file's state as the caller found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// SHA-256 (hex) of the uncompressed content.
    Hashed(String),
    /// Not in the given files (local), or no such key (S3).
    Absent,
    /// Present but unreadable.
    Unreadable(String),
}

/// What a digest or a log file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Signature and hashes hold.
    Valid,
    /// Hashes hold; the signature could not be checked (no signature, or no
    /// public key): not proof, not a failure.
    Unverified,
    /// Not covered: a log file outside every digest's span, or a digest
    /// whose chain continues before the given files.
    Uncovered,
    /// Could not be read or parsed.
    Unreadable,
    /// Listed by a digest, but gone.
    Missing,
    /// Present, within the digests' span, but listed by none (planted, or
    /// its backfill digest is missing).
    Unlisted,
    /// Content differs from the hash a valid digest vouches for, a digest
    /// whose signature fails or that is not where it says it is, or a chain
    /// whose link does not match.
    Tampered,
}

impl Verdict {
    /// Whether this verdict is evidence that logs were changed.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Verdict::Missing | Verdict::Unlisted | Verdict::Tampered
        )
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `digest` or `log`.
    pub kind: &'static str,
    pub verdict: Verdict,
    pub account: String,
    pub region: String,
    /// The file (path or s3:// URL, or the key a digest lists when absent).
    pub file: String,
    /// The digest's end time, or a log file's delivery time.
    pub time: Option<String>,
    pub detail: String,
}

/// The whole report.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
    /// Per account × region: the newest digest's end time (an intruder who
    /// deletes the newest digests shortens the chain; this says how far it
    /// reaches).
    pub chains: Vec<ChainEnd>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainEnd {
    pub account: String,
    pub region: String,
    pub digests: usize,
    pub first_start: String,
    pub last_end: String,
}

impl Report {
    pub fn count(&self, v: Verdict) -> usize {
        self.checks.iter().filter(|c| c.verdict == v).count()
    }
}

/// A digest, parsed.
#[derive(Debug, Clone)]
pub struct ParsedDigest {
    pub found: FoundDigest,
    pub digest: Digest,
    pub sha256: String,
    pub backfill: bool,
}

/// Parse the digests; those that fail become `unreadable` checks.
pub fn parse_digests(found: Vec<FoundDigest>) -> (Vec<ParsedDigest>, Vec<Check>) {
    let mut ok = vec![];
    let mut bad = vec![];
    for f in found {
        let (account, region) = account_region(&f.key).unwrap_or_default();
        let unreadable = |detail: String| Check {
            kind: "digest",
            verdict: Verdict::Unreadable,
            account: account.clone(),
            region: region.clone(),
            file: f.at.clone(),
            time: None,
            detail,
        };
        let raw = match &f.raw {
            Ok(r) if r.len() > MAX_DIGEST_BYTES => {
                bad.push(unreadable(format!(
                    "{} bytes, more than a digest file may be ({} MiB)",
                    r.len(),
                    MAX_DIGEST_BYTES >> 20
                )));
                continue;
            }
            Ok(r) => r,
            Err(e) => {
                bad.push(unreadable(e.clone()));
                continue;
            }
        };
        let content = match crate::decompress::maybe_gunzip(raw) {
            Ok(c) => c,
            Err(p) => {
                bad.push(unreadable(p.message));
                continue;
            }
        };
        if content.len() > MAX_DIGEST_BYTES {
            bad.push(unreadable("decompressed digest too large".into()));
            continue;
        }
        let digest: Digest = match serde_json::from_slice(&content) {
            Ok(d) => d,
            Err(e) => {
                bad.push(unreadable(format!("not a CloudTrail digest: {e}")));
                continue;
            }
        };
        let sha256 = sha256_hex(&content);
        let backfill = f.key.contains("_backfill");
        ok.push(ParsedDigest {
            found: f,
            digest,
            sha256,
            backfill,
        });
    }
    (ok, bad)
}

/// The log files the digests list: (bucket, key), deduplicated.
pub fn referenced(digests: &[ParsedDigest]) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let mut out = vec![];
    for d in digests {
        for l in &d.digest.log_files {
            if seen.insert(logical_key(&l.s3_object).to_string()) {
                out.push((l.s3_bucket.clone(), l.s3_object.clone()));
            }
        }
    }
    out
}

/// Validate. `logs` maps a listed log file's [`logical_key`] to its state
/// (missing entries count as [`LogState::Absent`]); `present` lists the
/// CloudTrail log files that were given (display name, key), to find those
/// no digest lists.
pub fn validate(
    digests: Vec<ParsedDigest>,
    mut checks: Vec<Check>,
    keys: &[PublicKey],
    logs: &HashMap<String, LogState>,
    present: &[(String, String)],
) -> Report {
    // Digests by where they are, for the chain.
    let by_key: HashMap<&str, usize> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| (logical_key(&d.found.key), i))
        .collect();
    // The signature each digest's successor vouches for.
    let mut next_sig: HashMap<usize, &str> = HashMap::new();
    // Digests whose successor's link did not match them.
    let mut link_broken: HashMap<usize, String> = HashMap::new();
    for d in &digests {
        let Some(prev) = d.digest.previous_digest_s3_object.as_deref() else {
            continue;
        };
        if let Some(&p) = by_key.get(logical_key(prev)) {
            let pd = &digests[p];
            let hash_ok = d
                .digest
                .previous_digest_hash_value
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(&pd.sha256));
            if !hash_ok {
                link_broken.insert(
                    p,
                    format!(
                        "its SHA-256 is not the one the next digest ({}) records",
                        d.found.at
                    ),
                );
            }
            if let Some(s) = d.digest.previous_digest_signature.as_deref() {
                if let Some(meta) = pd.found.signature.as_deref() {
                    if !meta.eq_ignore_ascii_case(s) {
                        link_broken.entry(p).or_insert_with(|| {
                            format!(
                                "its signature is not the one the next digest ({}) records",
                                d.found.at
                            )
                        });
                    }
                }
                next_sig.insert(p, s);
            }
        }
    }
    // Account and region of each digest, and the oldest end time of each
    // account × region's chain.
    let places: Vec<(String, String)> = digests
        .iter()
        .map(|d| {
            account_region(&d.found.key)
                .unwrap_or_else(|| (d.digest.aws_account_id.clone(), String::new()))
        })
        .collect();
    let mut oldest_end: HashMap<(&str, &str), &str> = HashMap::new();
    for (d, (a, r)) in digests.iter().zip(&places) {
        if d.backfill {
            continue;
        }
        let e = oldest_end
            .entry((a.as_str(), r.as_str()))
            .or_insert(d.digest.digest_end_time.as_str());
        if d.digest.digest_end_time.as_str() < *e {
            *e = d.digest.digest_end_time.as_str();
        }
    }
    let keys_by_fp: HashMap<&str, &PublicKey> =
        keys.iter().map(|k| (k.fingerprint.as_str(), k)).collect();
    // Which digests vouch for each log file (by logical key).
    let mut vouched: HashMap<&str, Vec<(usize, &str)>> = HashMap::new();
    let mut verdicts = vec![Verdict::Unreadable; digests.len()];
    let mut missing: Vec<Check> = vec![];
    let mut spans: BTreeMap<(String, String), (String, String, usize)> = BTreeMap::new();
    for (i, d) in digests.iter().enumerate() {
        let g = &d.digest;
        let (account, region) = places[i].clone();
        let mut problems: Vec<String> = vec![];
        let mut verdict = Verdict::Valid;
        let mut notes: Vec<String> = vec![];
        if logical_key(&g.digest_s3_object) != logical_key(&d.found.key) {
            problems.push(format!(
                "it says it is {}/{}, not where it was found",
                g.digest_s3_bucket, g.digest_s3_object
            ));
        }
        if let Some(why) = link_broken.get(&i) {
            problems.push(why.clone());
        }
        let sig = d.found.signature.as_deref().or(next_sig.get(&i).copied());
        let alg = g.digest_signature_algorithm.as_deref().unwrap_or("");
        match (sig, g.digest_public_key_fingerprint.as_deref()) {
            _ if alg != SIGNATURE_ALGORITHM => problems.push(format!(
                "signature algorithm {alg:?}, not {SIGNATURE_ALGORITHM}"
            )),
            (None, _) => {
                verdict = Verdict::Unverified;
                notes.push("no signature to check (a local copy keeps no S3 metadata, and no later digest was given)".into());
            }
            (Some(_), None) => problems.push("no public key fingerprint".into()),
            (Some(s), Some(fp)) => match keys_by_fp.get(fp.to_ascii_lowercase().as_str()) {
                None if keys.is_empty() => {
                    verdict = Verdict::Unverified;
                    notes.push("signature not checked: no public keys (--public-keys FILE)".into());
                }
                None => {
                    verdict = Verdict::Unverified;
                    notes.push(format!(
                        "signature not checked: no public key with fingerprint {fp} was given"
                    ));
                }
                Some(k) => {
                    let outside = k
                        .valid_from
                        .as_deref()
                        .is_some_and(|f| g.digest_end_time.as_str() < f)
                        || k.valid_until
                            .as_deref()
                            .is_some_and(|u| g.digest_end_time.as_str() > u);
                    if outside {
                        problems.push(format!(
                            "signed by key {fp} outside its validity ({} to {})",
                            k.valid_from.as_deref().unwrap_or("?"),
                            k.valid_until.as_deref().unwrap_or("?")
                        ));
                    } else if !verify_signature(&k.der, string_to_sign(g, &d.sha256).as_bytes(), s)
                    {
                        problems.push("the signature does not match its content".into());
                    }
                }
            },
        }
        if !d.backfill {
            match g.previous_digest_s3_object.as_deref() {
                None => notes.push("the first digest of its chain".into()),
                Some(p) if !by_key.contains_key(logical_key(p)) => {
                    // Within the given digests, a missing predecessor of a
                    // digest that is not the oldest of its chain was deleted.
                    let older = oldest_end
                        .get(&(account.as_str(), region.as_str()))
                        .is_some_and(|e| *e < g.digest_start_time.as_str());
                    if older {
                        missing.push(Check {
                            kind: "digest",
                            verdict: Verdict::Missing,
                            account: account.clone(),
                            region: region.clone(),
                            file: logical_key(p).to_string(),
                            time: None,
                            detail: format!(
                                "deleted: the next digest ({}) names it, and older digests are present",
                                d.found.at
                            ),
                        });
                    } else {
                        notes.push(format!(
                            "the chain continues before the given files ({})",
                            logical_key(p)
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        if !problems.is_empty() {
            verdict = Verdict::Tampered;
        }
        verdicts[i] = verdict;
        for l in &g.log_files {
            vouched
                .entry(logical_key(&l.s3_object))
                .or_default()
                .push((i, l.hash_value.as_str()));
        }
        let span = spans
            .entry((account.clone(), region.clone()))
            .or_insert_with(|| (g.digest_start_time.clone(), g.digest_end_time.clone(), 0));
        span.0 = span.0.clone().min(g.digest_start_time.clone());
        span.1 = span.1.clone().max(g.digest_end_time.clone());
        span.2 += 1;
        let mut detail = problems;
        detail.extend(notes);
        detail.insert(0, format!("{} log file(s) listed", g.log_files.len()));
        checks.push(Check {
            kind: "digest",
            verdict,
            account,
            region,
            file: d.found.at.clone(),
            time: Some(g.digest_end_time.clone()),
            detail: detail.join("; "),
        });
    }
    checks.append(&mut missing);
    // Every log file a digest lists. Only digests that passed their own
    // check vouch for a file: a tampered digest's hashes prove nothing.
    let present_at: HashMap<&str, &str> = present
        .iter()
        .map(|(at, k)| (logical_key(k), at.as_str()))
        .collect();
    let mut listed: Vec<&str> = vouched.keys().copied().collect();
    listed.sort_unstable();
    for key in &listed {
        let all = &vouched[key];
        let (account, region) = account_region(key).unwrap_or_default();
        let v: Vec<(usize, &str)> = all
            .iter()
            .copied()
            .filter(|(i, _)| verdicts[*i] != Verdict::Tampered)
            .collect();
        let signed = v.iter().any(|(i, _)| verdicts[*i] == Verdict::Valid);
        let state = logs.get(*key).unwrap_or(&LogState::Absent);
        let (verdict, detail) = match state {
            _ if v.is_empty() => (
                Verdict::Unverified,
                format!(
                    "listed only by a digest that failed its own check ({})",
                    digests[all[0].0].found.at
                ),
            ),
            LogState::Absent => (
                Verdict::Missing,
                "listed by a digest, but not found".to_string(),
            ),
            LogState::Unreadable(e) => (Verdict::Unreadable, e.clone()),
            LogState::Hashed(h) => {
                if v.iter().any(|(_, want)| want.eq_ignore_ascii_case(h)) {
                    if signed {
                        (Verdict::Valid, "matches its digest".to_string())
                    } else {
                        (
                            Verdict::Unverified,
                            "matches its digest (whose signature was not checked)".to_string(),
                        )
                    }
                } else {
                    (
                        Verdict::Tampered,
                        format!(
                            "content changed: SHA-256 {h}, the digest records {}",
                            v[0].1
                        ),
                    )
                }
            }
        };
        let file = present_at
            .get(key)
            .map(|at| at.to_string())
            .unwrap_or_else(|| key.to_string());
        checks.push(Check {
            kind: "log",
            verdict,
            account,
            region,
            time: log_file_time(key),
            file,
            detail,
        });
    }
    // Log files no digest lists.
    let listed: HashSet<&str> = listed.into_iter().collect();
    for (at, key) in present {
        let lk = logical_key(key);
        if listed.contains(lk) {
            continue;
        }
        let (account, region) = account_region(key).unwrap_or_default();
        let time = log_file_time(key);
        let span = spans.get(&(account.clone(), region.clone()));
        let (verdict, detail) = match (span, &time) {
            (None, _) => (
                Verdict::Uncovered,
                "no digest of this account and region was given (log file validation off?)"
                    .to_string(),
            ),
            (Some(_), None) => (
                Verdict::Unlisted,
                "not named as CloudTrail names its files, and listed by no digest".to_string(),
            ),
            (Some((start, end, _)), Some(t)) => {
                // A file written in the span's last minutes may be
                // delivered after it, into the next digest (not given).
                let settled =
                    shift_minutes(end, -DELIVERY_SLACK_MINUTES).unwrap_or_else(|| end.clone());
                if t.as_str() >= start.as_str() && t.as_str() < settled.as_str() {
                    (
                        Verdict::Unlisted,
                        format!("delivered within the digests' span ({start} to {end}) but listed by none: planted, or its backfill digest is missing"),
                    )
                } else {
                    (
                        Verdict::Uncovered,
                        format!("outside the digests' span ({start} to {end})"),
                    )
                }
            }
        };
        checks.push(Check {
            kind: "log",
            verdict,
            account,
            region,
            file: at.clone(),
            time,
            detail,
        });
    }
    let chains = spans
        .into_iter()
        .map(|((account, region), (first_start, last_end, n))| ChainEnd {
            account,
            region,
            digests: n,
            first_start,
            last_end,
        })
        .collect();
    Report { checks, chains }
}

/// How long after the time in its name a log file may reach the bucket
/// (CloudTrail delivers within about 5 minutes; three times that is
/// allowed before a file in a digest's hour but in no digest is suspect).
pub const DELIVERY_SLACK_MINUTES: i64 = 15;

fn shift_minutes(t: &str, m: i64) -> Option<String> {
    let p = chrono::DateTime::parse_from_rfc3339(t).ok()?;
    Some(
        (p.with_timezone(&chrono::Utc) + chrono::Duration::minutes(m))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signing_string_is_the_documented_one() {
        let d: Digest = serde_json::from_value(serde_json::json!({
            "awsAccountId": "111122223333",
            "digestStartTime": "2015-08-17T14:01:31Z",
            "digestEndTime": "2015-08-17T15:01:31Z",
            "digestS3Bucket": "b",
            "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/d.json.gz",
            "previousDigestSignature": null,
            "logFiles": []
        }))
        .unwrap();
        assert_eq!(
            string_to_sign(&d, "ab"),
            "2015-08-17T15:01:31Z\nb/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/d.json.gz\nab\nnull"
        );
    }

    #[test]
    fn keys_and_names() {
        assert_eq!(
            logical_key("pfx/AWSLogs/1/CloudTrail/r/x.json.gz"),
            "AWSLogs/1/CloudTrail/r/x.json.gz"
        );
        assert_eq!(
            logical_key("/tmp/copy/AWSLogs/1/CloudTrail/r/x.json.gz"),
            "AWSLogs/1/CloudTrail/r/x.json.gz"
        );
        assert_eq!(
            log_file_time("AWSLogs/1/CloudTrail/us-east-1/2024/03/05/1_CloudTrail_us-east-1_20240305T1355Z_abc.json.gz"),
            Some("2024-03-05T13:55:00Z".into())
        );
        assert_eq!(log_file_time("x_2024030ZT1355Z_.json"), None);
        assert_eq!(
            account_region("AWSLogs/o-abc/111122223333/CloudTrail-Digest/eu-west-1/2024/x"),
            Some(("111122223333".into(), "eu-west-1".into()))
        );
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00abFF"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn garbage_never_verifies_and_never_panics() {
        for der in [
            &b""[..],
            b"\x30",
            b"\x30\x82\xff\xff",
            b"\x30\x03\x30\x01\x00",
        ] {
            assert!(!verify_signature(der, b"m", "00"));
            let _ = pkcs1(der);
        }
        assert!(!verify_signature(b"", b"m", "zz"));
    }

    #[test]
    fn public_key_files_are_read_and_checked() {
        let keys = parse_public_keys(
            r#"{"PublicKeyList":[{"Value":"AAEC","Fingerprint":"AB","ValidityStartTime":"2024-01-01T00:00:00Z","ValidityEndTime":1735689600}]}"#,
        )
        .unwrap();
        assert_eq!(keys[0].der, vec![0, 1, 2]);
        assert_eq!(keys[0].fingerprint, "ab");
        assert_eq!(keys[0].valid_until.as_deref(), Some("2025-01-01T00:00:00Z"));
        assert!(parse_public_keys("{}").is_err());
        assert!(
            parse_public_keys(r#"{"PublicKeyList":[{"Value":"@@","Fingerprint":"a"}]}"#).is_err()
        );
    }

    /// A small estate's digests signed with a test key (tests/fixtures/integrity):
    /// three hours of one account and region, a log file in each.
    struct Estate {
        key: ring::signature::RsaKeyPair,
        fingerprint: String,
        digests: Vec<(String, Vec<u8>, String)>,
        logs: Vec<(String, Vec<u8>)>,
    }

    fn key(name: &str) -> ring::signature::RsaKeyPair {
        use base64::Engine as _;
        let b64 = std::fs::read_to_string(format!(
            "{}/../../tests/fixtures/integrity/{name}-key.pk8.b64",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap()
    }

    fn sign(k: &ring::signature::RsaKeyPair, msg: &str) -> String {
        let rng = ring::rand::SystemRandom::new();
        let mut sig = vec![0u8; k.public().modulus_len()];
        k.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &rng,
            msg.as_bytes(),
            &mut sig,
        )
        .unwrap();
        hex(&sig)
    }

    const ROOT: &str = "AWSLogs/111122223333";

    fn estate() -> Estate {
        let key = key("signing");
        let fingerprint = "0123abcd".to_string();
        let mut digests = vec![];
        let mut logs = vec![];
        let mut prev: Option<(String, String, String)> = None; // key, sha, sig
        for h in 10..13 {
            let log_key = format!(
                "{ROOT}/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T{h}30Z_x{h}.json.gz"
            );
            let log = format!(r#"{{"Records":[{{"eventName":"E{h}"}}]}}"#).into_bytes();
            let dkey = format!(
                "{ROOT}/CloudTrail-Digest/us-east-1/2024/03/05/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20240305T{}0000Z.json.gz",
                h + 1
            );
            let mut d = serde_json::json!({
                "awsAccountId": "111122223333",
                "digestStartTime": format!("2024-03-05T{h}:00:00Z"),
                "digestEndTime": format!("2024-03-05T{}:00:00Z", h + 1),
                "digestS3Bucket": "trail-bucket",
                "digestS3Object": dkey,
                "digestPublicKeyFingerprint": fingerprint,
                "digestSignatureAlgorithm": "SHA256withRSA",
                "previousDigestS3Bucket": null, "previousDigestS3Object": null,
                "previousDigestHashValue": null, "previousDigestHashAlgorithm": null,
                "previousDigestSignature": null,
                "logFiles": [{"s3Bucket": "trail-bucket", "s3Object": log_key,
                    "hashValue": sha256_hex(&log), "hashAlgorithm": "SHA-256"}]
            });
            if let Some((pk, psha, psig)) = &prev {
                d["previousDigestS3Bucket"] = "trail-bucket".into();
                d["previousDigestS3Object"] = pk.clone().into();
                d["previousDigestHashValue"] = psha.clone().into();
                d["previousDigestHashAlgorithm"] = "SHA-256".into();
                d["previousDigestSignature"] = psig.clone().into();
            }
            let bytes = serde_json::to_vec(&d).unwrap();
            let parsed: Digest = serde_json::from_slice(&bytes).unwrap();
            let sha = sha256_hex(&bytes);
            let sig = sign(&key, &string_to_sign(&parsed, &sha));
            prev = Some((dkey.clone(), sha, sig.clone()));
            digests.push((dkey, bytes, sig));
            logs.push((log_key, log));
        }
        Estate {
            key,
            fingerprint,
            digests,
            logs,
        }
    }

    impl Estate {
        fn keys(&self) -> Vec<PublicKey> {
            use ring::signature::KeyPair as _;
            vec![PublicKey {
                fingerprint: self.fingerprint.clone(),
                der: self.key.public_key().as_ref().to_vec(),
                valid_from: Some("2024-01-01T00:00:00Z".into()),
                valid_until: None,
            }]
        }

        /// Validate as read from S3 (`metadata`: with the signature
        /// metadata) or from a local copy (without).
        fn check(&self, metadata: bool) -> Report {
            let found = self
                .digests
                .iter()
                .map(|(k, b, s)| FoundDigest {
                    at: k.clone(),
                    key: format!("copy/{k}"),
                    raw: Ok(b.clone()),
                    signature: metadata.then(|| s.clone()),
                })
                .collect();
            let (parsed, bad) = parse_digests(found);
            let logs = self
                .logs
                .iter()
                .map(|(k, b)| (k.clone(), LogState::Hashed(sha256_hex(b))))
                .collect();
            let present: Vec<(String, String)> = self
                .logs
                .iter()
                .map(|(k, _)| (k.clone(), k.clone()))
                .collect();
            validate(parsed, bad, &self.keys(), &logs, &present)
        }
    }

    fn verdicts(r: &Report) -> Vec<(&'static str, Verdict)> {
        r.checks.iter().map(|c| (c.kind, c.verdict)).collect()
    }

    #[test]
    fn an_untouched_trail_validates_whole_from_s3_and_all_but_the_newest_digest_locally() {
        use Verdict::*;
        let e = estate();
        let r = e.check(true);
        assert_eq!(
            verdicts(&r),
            vec![
                ("digest", Valid),
                ("digest", Valid),
                ("digest", Valid),
                ("log", Valid),
                ("log", Valid),
                ("log", Valid)
            ],
            "{r:#?}"
        );
        assert_eq!(r.chains[0].last_end, "2024-03-05T13:00:00Z");
        // A local copy: the newest digest's signature is in no file.
        let r = e.check(false);
        assert_eq!(
            verdicts(&r),
            vec![
                ("digest", Valid),
                ("digest", Valid),
                ("digest", Unverified),
                ("log", Valid),
                ("log", Valid),
                ("log", Unverified)
            ],
            "{r:#?}"
        );
        // Without keys nothing is proven, and nothing is called tampered.
        let found: Vec<FoundDigest> = e
            .digests
            .iter()
            .map(|(k, b, s)| FoundDigest {
                at: k.clone(),
                key: k.clone(),
                raw: Ok(b.clone()),
                signature: Some(s.clone()),
            })
            .collect();
        let (parsed, bad) = parse_digests(found);
        let logs: HashMap<String, LogState> = e
            .logs
            .iter()
            .map(|(k, b)| (k.clone(), LogState::Hashed(sha256_hex(b))))
            .collect();
        let r = validate(parsed, bad, &[], &logs, &[]);
        assert!(r.checks.iter().all(|c| c.verdict == Unverified), "{r:#?}");
    }

    #[test]
    fn what_an_intruder_changes_shows() {
        use Verdict::*;
        // A log file edited (an event removed).
        let mut e = estate();
        e.logs[1].1 = br#"{"Records":[]}"#.to_vec();
        let r = e.check(true);
        assert_eq!(r.checks[4].verdict, Tampered, "{r:#?}");
        assert!(r.checks[4].detail.contains("content changed"));
        assert_eq!(r.count(Tampered), 1);

        // A log file deleted.
        let mut e = estate();
        e.logs.remove(0);
        let r = e.check(true);
        assert_eq!(r.count(Missing), 1, "{r:#?}");

        // A log file planted in a covered hour.
        let mut e = estate();
        e.logs.push((format!("{ROOT}/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T1045Z_planted.json.gz"), b"{}".to_vec()));
        let r = e.check(true);
        assert_eq!(r.count(Unlisted), 1, "{r:#?}");
        // One after the newest digest is only uncovered.
        let mut e = estate();
        e.logs.push((format!("{ROOT}/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T1250Z_late.json.gz"), b"{}".to_vec()));
        let r = e.check(true);
        assert_eq!((r.count(Unlisted), r.count(Uncovered)), (0, 1), "{r:#?}");

        // The middle digest deleted (and its log file with it).
        let mut e = estate();
        e.digests.remove(1);
        e.logs.remove(1);
        let r = e.check(true);
        assert_eq!(r.checks[2].verdict, Missing, "{r:#?}");
        assert!(r.checks[2].file.ends_with("20240305T120000Z.json.gz"));
        assert_eq!(
            r.checks[1].verdict, Valid,
            "the digest after the gap is itself sound"
        );
        // Its predecessor's chain start is not a failure.
        assert_eq!(r.checks[0].verdict, Valid);

        // A digest rewritten to drop a file, re-signed with another key
        // under the real fingerprint.
        let mut e = estate();
        let forger = key("other");
        let mut d: serde_json::Value = serde_json::from_slice(&e.digests[2].1).unwrap();
        d["logFiles"] = serde_json::json!([]);
        let bytes = serde_json::to_vec(&d).unwrap();
        let parsed: Digest = serde_json::from_slice(&bytes).unwrap();
        e.digests[2].2 = sign(&forger, &string_to_sign(&parsed, &sha256_hex(&bytes)));
        e.digests[2].1 = bytes;
        let r = e.check(true);
        assert_eq!(r.checks[2].verdict, Tampered, "{r:#?}");
        assert!(r.checks[2].detail.contains("signature does not match"));
        // The file it dropped is listed by no trusted digest.
        assert_eq!(r.count(Unlisted), 1, "{r:#?}");

        // An older digest replaced: its successor's link no longer matches.
        let mut e = estate();
        let mut d: serde_json::Value = serde_json::from_slice(&e.digests[0].1).unwrap();
        d["newestEventTime"] = "2024-03-05T10:59:00Z".into();
        e.digests[0].1 = serde_json::to_vec(&d).unwrap();
        let r = e.check(false);
        assert_eq!(r.checks[0].verdict, Tampered, "{r:#?}");

        // A digest copied to another place.
        let mut e = estate();
        e.digests[1].0 = e.digests[1].0.replace("2024/03/05", "2024/03/06");
        let r = e.check(true);
        assert!(
            r.checks.iter().any(|c| c.kind == "digest"
                && c.verdict == Tampered
                && c.detail.contains("not where it was found")),
            "{r:#?}"
        );
    }

    #[test]
    fn broken_digests_are_unreadable_not_fatal() {
        let (ok, bad) = parse_digests(vec![
            FoundDigest {
                at: "a".into(),
                key: "a".into(),
                raw: Ok(b"{not json".to_vec()),
                signature: None,
            },
            FoundDigest {
                at: "b".into(),
                key: "b".into(),
                raw: Ok(vec![0x1f, 0x8b, 8, 0, 0, 0]),
                signature: None,
            },
            FoundDigest {
                at: "c".into(),
                key: "c".into(),
                raw: Err("gone".into()),
                signature: None,
            },
            FoundDigest {
                at: "d".into(),
                key: "d".into(),
                raw: Ok(br#"{"awsAccountId": 5}"#.to_vec()),
                signature: None,
            },
        ]);
        assert!(ok.is_empty());
        assert_eq!(bad.len(), 4);
        assert!(bad.iter().all(|c| c.verdict == Verdict::Unreadable));
    }
}
