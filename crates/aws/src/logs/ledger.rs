//! irprep's record of what it made: the proof of ownership that a tag alone
//! cannot give.
//!
//! Anyone allowed to tag a resource can write `irprep:managed=…` on it, so a
//! tag is only a hint. What `enable` creates is also written, once applied,
//! to a ledger in SSM Parameter Store of the caller's account, in the home
//! region: `/irprep/installation` holds a random installation id (also the
//! value of every tag irprep sets), and `/irprep/ledger/<account>/<n>` the
//! entries of each account (JSON, cut into standard-tier parameters of at
//! most 4 KB). Parameter names are scoped to the account, so no one outside
//! it can pre-create or squat them (unlike a bucket name). `cleanup` removes
//! only what both the ledger and the live resource name; whatever looks like
//! irprep's work but is not in the ledger is reported and left alone.
//!
//! (Not an object in the log bucket: the bucket's TLS-only deny is right,
//! but an emulator that ignores policy conditions then refuses every object
//! request, and SSM needs no bucket for sources such as GuardDuty.)

use std::collections::BTreeSet;
use std::hash::{BuildHasher, Hasher};

use anyhow::{anyhow, bail, Result};
use aws_config::SdkConfig;
use serde::{Deserialize, Serialize};

/// The parameter holding the installation id.
pub const INSTALLATION_PARAM: &str = "/irprep/installation";
/// The path under which each account's entries are kept.
pub const LEDGER_PATH: &str = "/irprep/ledger/";
/// A standard-tier parameter's value limit (characters).
const CHUNK: usize = 4096;
/// More parameters than this under the path are not read (an account has
/// at most a few thousand entries; 10 000 is SSM's standard-tier quota).
const MAX_PARAMS: usize = 10_000;

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A log bucket irprep created (id: its name).
    Bucket,
    /// A trail (id: its ARN).
    Trail,
    /// A VPC flow log (id: `fl-…`).
    FlowLog,
    /// A Resolver query-log config (id: `rqlc-…`).
    ResolverConfig,
    /// Server access logging irprep turned on (id: the logged bucket).
    BucketLogging,
    /// ALB/NLB access logs (id: the load balancer's ARN).
    ElbLogs,
    /// Classic ELB access logs (id: the load balancer's name).
    ElbClassicLogs,
    /// WAF logging (id: the web ACL's ARN).
    WafLogging,
    /// One EKS control-plane log type (id: `<cluster>/<type>`).
    EksLogType,
    /// A GuardDuty detector (id: the detector id).
    Detector,
    /// A GuardDuty findings export (id: `<detector id>/<destination id>`).
    PublishingDestination,
    /// A KMS key irprep created for the findings export (id: its ARN).
    KmsKey,
    /// Trusted access for a service in the Organization, which irprep
    /// enabled (id: the service principal, e.g. `cloudtrail.amazonaws.com`).
    TrustedAccess,
    /// A Glue database (id: its name).
    GlueDatabase,
    /// A Glue table (id: `<database>.<table>`).
    GlueTable,
    /// An Athena workgroup (id: its name).
    Workgroup,
}

/// One thing irprep made, where.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub account: String,
    pub region: String,
    pub kind: Kind,
    pub id: String,
}

impl Entry {
    pub fn new(account: &str, region: &str, kind: Kind, id: impl Into<String>) -> Entry {
        Entry {
            account: account.into(),
            region: region.into(),
            kind,
            id: id.into(),
        }
    }
}

/// What applying one change did to the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Added(Entry),
    Removed(Entry),
}

/// The ledger's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub version: u32,
    /// Random, made by the first `enable`; the value of irprep's tags.
    pub installation: String,
    pub entries: BTreeSet<Entry>,
}

/// A random number: std's RandomState draws its keys from the OS's random
/// source.
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

impl Ledger {
    /// A new installation: a random id and no entries.
    pub fn fresh() -> Ledger {
        let a = random_u64();
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(a);
        Ledger {
            version: 1,
            installation: format!("irp-{a:016x}{:08x}", h.finish() as u32),
            entries: BTreeSet::new(),
        }
    }

    pub fn has(&self, account: &str, region: &str, kind: Kind, id: &str) -> bool {
        // Borrowed lookup without building an owned key for every probe
        // would need a custom Borrow; entries are few, a scan is fine.
        self.entries
            .iter()
            .any(|e| e.kind == kind && e.id == id && e.account == account && e.region == region)
    }

    /// Every entry of a kind in one account × region.
    pub fn of<'a>(
        &'a self,
        account: &'a str,
        region: &'a str,
        kind: Kind,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.kind == kind && e.account == account && e.region == region)
    }

    pub fn apply(&mut self, records: &[Record]) -> bool {
        let mut changed = false;
        for r in records {
            changed |= match r {
                Record::Added(e) => self.entries.insert(e.clone()),
                Record::Removed(e) => self.entries.remove(e),
            };
        }
        changed
    }
}

/// One account's entries as text: `[[region, kind, id], …]`.
fn account_text(l: &Ledger, account: &str) -> Result<String> {
    let rows: Vec<(&str, Kind, &str)> = l
        .entries
        .iter()
        .filter(|e| e.account == account)
        .map(|e| (e.region.as_str(), e.kind, e.id.as_str()))
        .collect();
    Ok(serde_json::to_string(&rows)?)
}

/// `text` cut into pieces of at most `CHUNK` bytes, at character boundaries.
fn chunks(text: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

fn ssm_err<E>(
    what: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> anyhow::Error
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_ssm::error::ProvideErrorMetadata as _;
    match e.code() {
        Some(c) => anyhow!("{what}: {c} {}", e.message().unwrap_or("")),
        None => anyhow!("{what}: {}", aws_sdk_ssm::error::DisplayErrorContext(&e)),
    }
}

/// Read the ledger (`conf`: the caller's account, in the home region).
/// `None` when there is none yet.
pub async fn load(conf: &SdkConfig) -> Result<Option<Ledger>> {
    let c = aws_sdk_ssm::Client::new(conf);
    let installation = match c.get_parameter().name(INSTALLATION_PARAM).send().await {
        Ok(o) => o
            .parameter()
            .and_then(|p| p.value())
            .map(String::from)
            .ok_or_else(|| anyhow!("{INSTALLATION_PARAM} has no value"))?,
        Err(e) => {
            use aws_sdk_ssm::error::ProvideErrorMetadata as _;
            if e.code() == Some("ParameterNotFound") {
                return Ok(None);
            }
            return Err(ssm_err(
                &format!("ssm:GetParameter {INSTALLATION_PARAM}"),
                e,
            ));
        }
    };
    if !installation.starts_with("irp-")
        || installation.len() > 64
        || !installation[4..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        bail!("{INSTALLATION_PARAM} does not hold an irprep installation id");
    }
    // (account, n) -> text.
    let mut parts: std::collections::BTreeMap<(String, usize), String> = Default::default();
    let mut pages = c
        .get_parameters_by_path()
        .path(LEDGER_PATH)
        .recursive(true)
        .into_paginator()
        .send();
    while let Some(p) = pages.next().await {
        let p = p.map_err(|e| ssm_err(&format!("ssm:GetParametersByPath {LEDGER_PATH}"), e))?;
        for prm in p.parameters() {
            let name = prm.name().unwrap_or("");
            let Some((account, n)) = name
                .strip_prefix(LEDGER_PATH)
                .and_then(|r| r.split_once('/'))
                .and_then(|(a, n)| Some((a.to_string(), n.parse::<usize>().ok()?)))
            else {
                bail!("{name}: not a ledger parameter (expected {LEDGER_PATH}<account>/<n>)");
            };
            parts.insert((account, n), prm.value().unwrap_or("").to_string());
        }
        if parts.len() > MAX_PARAMS {
            bail!("more than {MAX_PARAMS} parameters under {LEDGER_PATH}: not read");
        }
    }
    let mut l = Ledger {
        version: 1,
        installation,
        entries: BTreeSet::new(),
    };
    let mut text = String::new();
    let mut current: Option<String> = None;
    let mut expect = 0usize;
    let flush = |account: &str, text: &str, l: &mut Ledger| -> Result<()> {
        let rows: Vec<(String, Kind, String)> = serde_json::from_str(text)
            .map_err(|e| anyhow!("{LEDGER_PATH}{account}: not an irprep ledger: {e}"))?;
        for (region, kind, id) in rows {
            l.entries.insert(Entry::new(account, &region, kind, id));
        }
        Ok(())
    };
    for ((account, n), part) in parts {
        if current.as_deref() != Some(account.as_str()) {
            if let Some(a) = current.take() {
                flush(&a, &text, &mut l)?;
            }
            text.clear();
            current = Some(account.clone());
            expect = 0;
        }
        if n != expect {
            bail!("{LEDGER_PATH}{account}/{expect} is missing: the ledger is incomplete");
        }
        expect += 1;
        text.push_str(&part);
    }
    if let Some(a) = current {
        flush(&a, &text, &mut l)?;
    }
    Ok(Some(l))
}

/// Write the ledger: the installation id once, and the parameters of every
/// account whose entries differ from `before` (stale pieces are deleted).
pub async fn save(conf: &SdkConfig, before: Option<&Ledger>, l: &Ledger) -> Result<()> {
    let c = aws_sdk_ssm::Client::new(conf);
    if before.is_none_or(|b| b.installation != l.installation) {
        c.put_parameter()
            .name(INSTALLATION_PARAM)
            .value(&l.installation)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .description("irprep's installation id (the value of its irprep:managed tags)")
            .overwrite(before.is_some())
            .send()
            .await
            .map_err(|e| ssm_err(&format!("ssm:PutParameter {INSTALLATION_PARAM}"), e))?;
    }
    let accounts: BTreeSet<&str> = l
        .entries
        .iter()
        .chain(before.iter().flat_map(|b| b.entries.iter()))
        .map(|e| e.account.as_str())
        .collect();
    for account in accounts {
        let new = account_text(l, account)?;
        let old = match before {
            Some(b) => account_text(b, account)?,
            None => "[]".into(),
        };
        if new == old && before.is_some() {
            continue;
        }
        let new_parts = if new == "[]" { vec![] } else { chunks(&new) };
        let old_count = if old == "[]" { 0 } else { chunks(&old).len() };
        for (n, part) in new_parts.iter().enumerate() {
            let name = format!("{LEDGER_PATH}{account}/{n}");
            c.put_parameter()
                .name(&name)
                .value(*part)
                .r#type(aws_sdk_ssm::types::ParameterType::String)
                .overwrite(true)
                .send()
                .await
                .map_err(|e| ssm_err(&format!("ssm:PutParameter {name}"), e))?;
        }
        let stale: Vec<String> = (new_parts.len()..old_count)
            .map(|n| format!("{LEDGER_PATH}{account}/{n}"))
            .collect();
        for names in stale.chunks(10) {
            c.delete_parameters()
                .set_names(Some(names.to_vec()))
                .send()
                .await
                .map_err(|e| ssm_err("ssm:DeleteParameters", e))?;
        }
    }
    Ok(())
}

/// Read the ledger, apply `records` and write it back (`conf`: the caller's
/// account, home region). For commands that have no ledger open.
pub async fn update(conf: &SdkConfig, records: &[Record]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let before = load(conf).await?;
    let mut next = before.clone().unwrap_or_else(Ledger::fresh);
    if next.apply(records) || before.is_none() {
        save(conf, before.as_ref(), &next).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installations_differ_and_round_trip() {
        let a = Ledger::fresh();
        let b = Ledger::fresh();
        assert_ne!(a.installation, b.installation);
        assert!(a.installation.starts_with("irp-") && a.installation.len() == 28);
        let mut l = a.clone();
        let e = Entry::new("1", "us-east-1", Kind::FlowLog, "fl-1");
        assert!(l.apply(&[Record::Added(e.clone())]));
        assert!(
            !l.apply(&[Record::Added(e.clone())]),
            "adding twice changes nothing"
        );
        assert!(l.has("1", "us-east-1", Kind::FlowLog, "fl-1"));
        assert!(!l.has("2", "us-east-1", Kind::FlowLog, "fl-1"));
        assert_eq!(
            account_text(&l, "1").unwrap(),
            r#"[["us-east-1","flow-log","fl-1"]]"#
        );
        assert!(l.apply(&[Record::Removed(e)]));
        assert!(l.entries.is_empty());
    }

    #[test]
    fn pieces_fit_a_parameter_and_rejoin() {
        let mut l = Ledger::fresh();
        for i in 0..200 {
            l.entries.insert(Entry::new(
                "111122223333",
                "eu-west-1",
                Kind::FlowLog,
                format!("fl-{i:017}é"),
            ));
        }
        let text = account_text(&l, "111122223333").unwrap();
        let parts = chunks(&text);
        assert!(parts.len() > 1 && parts.iter().all(|p| p.len() <= CHUNK));
        assert_eq!(parts.concat(), text);
        assert!(chunks("").is_empty());
    }
}
