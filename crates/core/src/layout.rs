//! S3 key layouts: where AWS delivers each log, and the partition values a
//! key carries.
//!
//! CloudTrail delivers to
//! `<prefix>/AWSLogs/[o-<org id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>`;
//! digests go to `CloudTrail-Digest/` and Insights events to
//! `CloudTrail-Insight/` beside it. The same rules apply to local paths, so a
//! bucket copied to disk keeps its partitions.

/// What a key holds, judged by its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// CloudTrail event delivery file.
    CloudTrail,
    /// CloudTrail digest file (integrity chain, not events).
    CloudTrailDigest,
    /// CloudTrail Insights file (not API events).
    CloudTrailInsight,
    /// Not in a known layout: the content decides.
    Unknown,
}

/// Partition values of a CloudTrail key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CloudTrailPartitions {
    pub account: String,
    pub region: String,
    /// `yyyy/MM/dd`.
    pub date: String,
    pub org_id: Option<String>,
}

/// The result of classifying one key or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: KeyKind,
    pub partitions: Option<CloudTrailPartitions>,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

fn is_region(s: &str) -> bool {
    // e.g. us-east-1, ap-southeast-3, us-gov-west-1, cn-north-1
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_num(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Classify a key (`a/b/c`) or a local path (any separator).
pub fn classify(key: &str) -> Classified {
    let unknown = Classified { kind: KeyKind::Unknown, partitions: None };
    let norm;
    let key = if key.contains('\\') {
        norm = key.replace('\\', "/");
        norm.as_str()
    } else {
        key
    };
    let segs: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
    // Use the last AWSLogs segment: a prefix may itself contain the word.
    let Some(pos) = segs.iter().rposition(|s| *s == "AWSLogs") else {
        return unknown;
    };
    let mut i = pos + 1;
    let mut org_id = None;
    if let Some(seg) = segs.get(i) {
        if seg.starts_with("o-") && !is_account(seg) {
            org_id = Some(seg.to_string());
            i += 1;
        }
    }
    let (Some(account), Some(service)) = (segs.get(i), segs.get(i + 1)) else {
        return unknown;
    };
    if !is_account(account) {
        return unknown;
    }
    let kind = match *service {
        "CloudTrail" => KeyKind::CloudTrail,
        "CloudTrail-Digest" => KeyKind::CloudTrailDigest,
        "CloudTrail-Insight" => KeyKind::CloudTrailInsight,
        _ => return unknown,
    };
    let rest = &segs[i + 2..];
    // region / yyyy / mm / dd / file
    if rest.len() >= 5
        && is_region(rest[0])
        && is_num(rest[1], 4)
        && is_num(rest[2], 2)
        && is_num(rest[3], 2)
    {
        return Classified {
            kind,
            partitions: Some(CloudTrailPartitions {
                account: account.to_string(),
                region: rest[0].to_string(),
                date: format!("{}/{}/{}", rest[1], rest[2], rest[3]),
                org_id,
            }),
        };
    }
    Classified { kind, partitions: None }
}

/// The key prefix under which one day of one account and region lives, for
/// listing only what a partition filter needs.
pub fn cloudtrail_day_prefix(root: &str, org_id: Option<&str>, account: &str, region: &str, date: &str) -> String {
    let root = root.trim_end_matches('/');
    let org = org_id.map(|o| format!("{o}/")).unwrap_or_default();
    format!("{root}/AWSLogs/{org}{account}/CloudTrail/{region}/{date}/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_org_layouts() {
        let c = classify("cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T0000Z_abc.json.gz");
        assert_eq!(c.kind, KeyKind::CloudTrail);
        let p = c.partitions.unwrap();
        assert_eq!((p.account.as_str(), p.region.as_str(), p.date.as_str()), ("111122223333", "us-east-1", "2024/03/05"));
        assert_eq!(p.org_id, None);

        let c = classify("AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2024/12/31/x.json.gz");
        let p = c.partitions.unwrap();
        assert_eq!(p.org_id.as_deref(), Some("o-abc123def4"));
        assert_eq!(p.region, "eu-west-1");
    }

    #[test]
    fn digest_insight_and_outside() {
        assert_eq!(classify("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz").kind, KeyKind::CloudTrailDigest);
        assert_eq!(classify("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/03/05/i.json.gz").kind, KeyKind::CloudTrailInsight);
        assert_eq!(classify("/tmp/logs/events.json").kind, KeyKind::Unknown);
        assert_eq!(classify("AWSLogs/notanaccount/CloudTrail/us-east-1/2024/03/05/x").kind, KeyKind::Unknown);
        // In the layout but too short to carry a date: kind known, no partitions.
        let c = classify("AWSLogs/111122223333/CloudTrail/us-east-1/x.json");
        assert_eq!(c.kind, KeyKind::CloudTrail);
        assert!(c.partitions.is_none());
        assert_eq!(classify(r"C:\logs\AWSLogs\111122223333\CloudTrail\us-gov-west-1\2024\01\02\f.json").partitions.unwrap().region, "us-gov-west-1");
    }

    #[test]
    fn day_prefix() {
        assert_eq!(
            cloudtrail_day_prefix("logs/", Some("o-1"), "111122223333", "us-east-1", "2024/01/02"),
            "logs/AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2024/01/02/"
        );
    }
}
