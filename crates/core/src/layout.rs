//! S3 key layouts: where AWS delivers each log, and the partition values a
//! key carries.
//!
//! CloudTrail delivers to
//! `<prefix>/AWSLogs/[o-<org id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<file>`;
//! digests go to `CloudTrail-Digest/` and Insights events to
//! `CloudTrail-Insight/` beside it. The same rules apply to local paths, so a
//! bucket copied to disk keeps its partitions.
//!
//! VPC Flow Logs deliver to `<prefix>/AWSLogs/<account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<HH>/]<file>`
//! or, Hive-compatible, to `<prefix>/AWSLogs/aws-account-id=<account>/aws-service=vpcflowlogs/aws-region=<region>/year=<yyyy>/month=<mm>/day=<dd>/[hour=<HH>/]<file>`;
//! Route 53 Resolver query logs to `<prefix>/AWSLogs/<account>/vpcdnsquerylogs/<vpc>/<yyyy>/<mm>/<dd>/<file>`.
//! Load balancers write under `…/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/`, WAF under
//! `…/WAFLogs/<region|cloudfront>/<web ACL>/<yyyy>/<mm>/<dd>/<HH>/<mm>/`, GuardDuty exports under
//! `…/GuardDuty/<region>/<yyyy>/<mm>/<dd>/`, `irprep logs collect --eks` under
//! `…/eks-audit/<region>/<cluster>/<yyyy>/<mm>/<dd>/`. S3 server access logs are outside
//! `AWSLogs/`: `<prefix><yyyy>-<mm>-<dd>-<hh>-<mm>-<ss>-<unique>`, or date-based
//! `<prefix><account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/<same name>`.

use crate::tables::{self, LogTable};

/// What a key holds, judged by its path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// A file of a log table.
    Log(LogTable),
    /// CloudTrail digest file (integrity chain, not events).
    CloudTrailDigest,
    /// CloudTrail Insights file (not API events).
    CloudTrailInsight,
    /// A load balancer access log outside the layout: its lines say which
    /// of `alb`, `nlb` and `clb` reads each.
    Elb,
    /// Not in a known layout: the content decides.
    Unknown,
}

impl KeyKind {
    /// The tables that read a file of this kind (CloudTrail for a file in
    /// no known layout: its reader judges it).
    pub fn tables(self) -> Vec<LogTable> {
        match self {
            KeyKind::Log(t) => vec![t],
            KeyKind::Elb => vec![LogTable::Alb, LogTable::Nlb, LogTable::Clb],
            _ => vec![LogTable::CloudTrail],
        }
    }
}

/// Partition values a key carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Partitions {
    pub account: String,
    /// Region (empty for DNS query logs, whose keys name the VPC instead).
    pub region: String,
    /// `yyyy/MM/dd`.
    pub date: String,
    pub org_id: Option<String>,
    /// VPC id (DNS query logs).
    pub vpc: Option<String>,
    /// `HH` of an hourly flow-log key.
    pub hour: Option<String>,
    /// The name segment of a layout (S3 bucket, web ACL, EKS cluster).
    pub name: Option<String>,
}

pub type CloudTrailPartitions = Partitions;

impl Partitions {
    /// The value of a partition column by its name.
    pub fn value(&self, column: &str) -> Option<&str> {
        use crate::table::*;
        match column {
            ACCOUNT_PARTITION => Some(&self.account),
            REGION_PARTITION => Some(&self.region)
                .filter(|r| !r.is_empty())
                .map(|s| s.as_str()),
            DATE_PARTITION => Some(&self.date),
            VPC_PARTITION => self.vpc.as_deref(),
            HOUR_PARTITION => self.hour.as_deref(),
            tables::s3access::BUCKET_PARTITION
            | tables::waf::WEBACL_PARTITION
            | tables::eks_audit::CLUSTER_PARTITION => self.name.as_deref(),
            _ => None,
        }
    }
}

/// The result of classifying one key or path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: KeyKind,
    pub partitions: Option<Partitions>,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Partition values become a column value on every row of a file: their
/// length is bounded, so a planted key cannot amplify a small file into
/// gigabytes of partition text (the longest region today is 14 characters,
/// a VPC id 21, an Organization id 34).
const MAX_SEGMENT: usize = 40;

/// A `vpc-…` id.
fn is_vpc(s: &str) -> bool {
    s.len() <= MAX_SEGMENT
        && s.strip_prefix("vpc-")
            .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn is_region(s: &str) -> bool {
    // e.g. us-east-1, ap-southeast-3, us-gov-west-1, cn-north-1
    let parts: Vec<&str> = s.split('-').collect();
    s.len() <= MAX_SEGMENT
        && parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_num(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit())
}

/// Classify a key (`a/b/c`) or a local path (any separator).
pub fn classify(key: &str) -> Classified {
    let unknown = Classified {
        kind: KeyKind::Unknown,
        partitions: None,
    };
    let norm;
    let key = if key.contains('\\') {
        norm = key.replace('\\', "/");
        norm.as_str()
    } else {
        key
    };
    let segs: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(c) = classify_s3_access(&segs) {
        return c;
    }
    // Use the last AWSLogs segment: a prefix may itself contain the word.
    let Some(pos) = segs.iter().rposition(|s| *s == "AWSLogs") else {
        return unknown;
    };
    let mut i = pos + 1;
    if let Some(c) = classify_hive(&segs[i..]) {
        return c;
    }
    let mut org_id = None;
    if let Some(seg) = segs.get(i) {
        if seg.starts_with("o-")
            && !is_account(seg)
            && seg.len() <= MAX_SEGMENT
            && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
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
    let rest = &segs[i + 2..];
    let kind = match *service {
        "CloudTrail-Digest" => KeyKind::CloudTrailDigest,
        "CloudTrail-Insight" => KeyKind::CloudTrailInsight,
        "elasticloadbalancing" => KeyKind::Log(tables::elb::table_of_name(
            rest.last().copied().unwrap_or(""),
        )),
        other => match LogTable::from_service(other) {
            Some(t) => KeyKind::Log(t),
            None => return unknown,
        },
    };
    let table = match kind {
        KeyKind::Log(t) => t,
        _ => LogTable::CloudTrail,
    };
    // place / [name /] yyyy / mm / dd / [HH /] file
    let place_ok = match table {
        LogTable::Dns => rest.first().is_some_and(|v| is_vpc(v)),
        LogTable::Waf => rest
            .first()
            .is_some_and(|r| *r == "cloudfront" || is_region(r)),
        _ => rest.first().is_some_and(|r| is_region(r)),
    };
    let named = matches!(table, LogTable::Waf | LogTable::EksAudit);
    let name = if named {
        rest.get(1).filter(|n| is_name(n)).map(|n| n.to_string())
    } else {
        None
    };
    let d = if named { 2 } else { 1 };
    if place_ok
        && (!named || name.is_some())
        && rest.len() >= d + 4
        && is_num(rest[d], 4)
        && is_num(rest[d + 1], 2)
        && is_num(rest[d + 2], 2)
    {
        let hour = (table == LogTable::VpcFlow && rest.len() >= d + 5 && is_num(rest[d + 3], 2))
            .then(|| rest[d + 3].to_string());
        let (region, vpc) = if table == LogTable::Dns {
            (String::new(), Some(rest[0].to_string()))
        } else {
            (rest[0].to_string(), None)
        };
        return Classified {
            kind,
            partitions: Some(Partitions {
                account: account.to_string(),
                region,
                date: format!("{}/{}/{}", rest[d], rest[d + 1], rest[d + 2]),
                org_id,
                vpc,
                hour,
                name,
            }),
        };
    }
    Classified {
        kind,
        partitions: None,
    }
}

/// A name segment (bucket, web ACL, cluster): bounded, no control bytes.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// S3 server access logs: a file named `yyyy-mm-dd-hh-mm-ss-<unique>`, with
/// the partitions of a date-based key when the six segments before it are
/// `<account>/<region>/<bucket>/<yyyy>/<mm>/<dd>`.
fn classify_s3_access(segs: &[&str]) -> Option<Classified> {
    let file = segs.last()?;
    if !tables::s3access::is_log_name(file) {
        return None;
    }
    let n = segs.len();
    let partitions = (n >= 7)
        .then(|| &segs[n - 7..n - 1])
        .filter(|p| {
            is_account(p[0])
                && is_region(p[1])
                && is_name(p[2])
                && is_num(p[3], 4)
                && is_num(p[4], 2)
                && is_num(p[5], 2)
                && file.starts_with(&format!("{}-{}-{}-", p[3], p[4], p[5]))
        })
        .map(|p| Partitions {
            account: p[0].to_string(),
            region: p[1].to_string(),
            date: format!("{}/{}/{}", p[3], p[4], p[5]),
            name: Some(p[2].to_string()),
            ..Default::default()
        });
    Some(Classified {
        kind: KeyKind::Log(LogTable::S3Access),
        partitions,
    })
}

/// The Hive-compatible flow-log layout:
/// `aws-account-id=…/aws-service=vpcflowlogs/aws-region=…/year=…/month=…/day=…/[hour=…/]file`.
fn classify_hive(segs: &[&str]) -> Option<Classified> {
    let kv = |s: Option<&&str>, k: &str| s.and_then(|s| s.strip_prefix(k)).map(str::to_string);
    let account = kv(segs.first(), "aws-account-id=")?;
    let service = kv(segs.get(1), "aws-service=")?;
    if !is_account(&account) || service != "vpcflowlogs" {
        return None;
    }
    let region = kv(segs.get(2), "aws-region=");
    let (y, m, d) = (
        kv(segs.get(3), "year="),
        kv(segs.get(4), "month="),
        kv(segs.get(5), "day="),
    );
    let partitions = match (region, y, m, d) {
        (Some(r), Some(y), Some(m), Some(d))
            if segs.len() >= 7
                && is_region(&r)
                && is_num(&y, 4)
                && is_num(&m, 2)
                && is_num(&d, 2) =>
        {
            let hour = kv(segs.get(6), "hour=").filter(|h| is_num(h, 2) && segs.len() >= 8);
            Some(Partitions {
                account,
                region: r,
                date: format!("{y}/{m}/{d}"),
                org_id: None,
                vpc: None,
                hour,
                name: None,
            })
        }
        _ => None,
    };
    Some(Classified {
        kind: KeyKind::Log(LogTable::VpcFlow),
        partitions,
    })
}

/// What a file outside the S3 layout holds, judged by its first bytes
/// (decompressed): Parquet or flow-log text is `VpcFlow`, a JSON line with
/// `query_name` is `Dns`, anything else is left to the CloudTrail reader.
pub fn sniff(head: &[u8]) -> KeyKind {
    if head.starts_with(b"PAR1") {
        return KeyKind::Log(LogTable::VpcFlow);
    }
    let text = String::from_utf8_lossy(&head[..head.len().min(4096)]);
    let t = text.trim_start_matches('\u{feff}').trim_start();
    let first_line = t.lines().next().unwrap_or("");
    if t.starts_with('{') {
        let has = |k: &str| first_line.contains(k);
        if has("\"query_name\"") && has("\"query_timestamp\"") {
            return KeyKind::Log(LogTable::Dns);
        }
        if first_line.starts_with("{\"message\"") && !has("\"eventName\"") {
            return KeyKind::Log(LogTable::VpcFlow);
        }
        if has("\"webaclId\"") && has("\"httpRequest\"") {
            return KeyKind::Log(LogTable::Waf);
        }
        if has("\"schemaVersion\"") && has("\"severity\"") && has(":guardduty:") {
            return KeyKind::Log(LogTable::GuardDuty);
        }
        if has("\"auditID\"") && has("\"audit.k8s.io/") {
            return KeyKind::Log(LogTable::EksAudit);
        }
        return KeyKind::Unknown;
    }
    let mut toks = first_line.split_ascii_whitespace();
    let first = toks.next().unwrap_or("");
    let second = toks.next().unwrap_or("");
    let third = toks.next().unwrap_or("");
    if first == "version"
        || (!first.is_empty()
            && first.bytes().all(|b| b.is_ascii_digit())
            && first_line.split_ascii_whitespace().count() >= 10)
    {
        return KeyKind::Log(LogTable::VpcFlow);
    }
    if third.starts_with('[')
        && tables::TimeFormat::Clf
            .canonical(
                first_line
                    .split('[')
                    .nth(1)
                    .and_then(|r| r.split(']').next())
                    .unwrap_or(""),
            )
            .is_some()
    {
        return KeyKind::Log(LogTable::S3Access);
    }
    let alb = ["http", "https", "h2", "grpcs", "ws", "wss"].contains(&first);
    let nlb = first == "tls" && second.contains('.');
    let timed = tables::TimeFormat::Iso.canonical(first).is_some();
    if alb || nlb || timed {
        return KeyKind::Elb;
    }
    KeyKind::Unknown
}

/// The key prefix under which one day of one account and region lives, for
/// listing only what a partition filter needs.
pub fn cloudtrail_day_prefix(
    root: &str,
    org_id: Option<&str>,
    account: &str,
    region: &str,
    date: &str,
) -> String {
    let root = root.trim_end_matches('/');
    let org = org_id.map(|o| format!("{o}/")).unwrap_or_default();
    format!("{root}/AWSLogs/{org}{account}/CloudTrail/{region}/{date}/")
}

/// The `date_partition` value (`YYYY/MM/DD`) of a record time that starts
/// with an ISO date (`YYYY-MM-DD…`); `None` for any other text, whatever
/// bytes it holds.
pub fn date_of_time(t: &str) -> Option<String> {
    let d = t.as_bytes().get(..10)?;
    let digits = |r: std::ops::Range<usize>| d[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..4) && d[4] == b'-' && digits(5..7) && d[7] == b'-' && digits(8..10)) {
        return None;
    }
    // All ASCII: the first ten bytes are ten characters.
    Some(format!("{}/{}/{}", &t[..4], &t[5..7], &t[8..10]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::LogTable;

    #[test]
    fn plain_and_org_layouts() {
        let c = classify("cloudtrail/AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T0000Z_abc.json.gz");
        assert_eq!(c.kind, KeyKind::Log(LogTable::CloudTrail));
        let p = c.partitions.unwrap();
        assert_eq!(
            (p.account.as_str(), p.region.as_str(), p.date.as_str()),
            ("111122223333", "us-east-1", "2024/03/05")
        );
        assert_eq!(p.org_id, None);

        let c =
            classify("AWSLogs/o-abc123def4/111122223333/CloudTrail/eu-west-1/2024/12/31/x.json.gz");
        let p = c.partitions.unwrap();
        assert_eq!(p.org_id.as_deref(), Some("o-abc123def4"));
        assert_eq!(p.region, "eu-west-1");
    }

    #[test]
    fn partition_values_are_bounded() {
        let long = format!("us-{}-1", "x".repeat(300));
        let c = classify(&format!(
            "AWSLogs/111122223333/CloudTrail/{long}/2024/03/05/f.json.gz"
        ));
        assert_eq!(c.kind, KeyKind::Log(LogTable::CloudTrail));
        assert!(c.partitions.is_none(), "a 300-byte region is no partition");
        let vpc = format!("vpc-{}", "a".repeat(300));
        let c = classify(&format!(
            "AWSLogs/111122223333/vpcdnsquerylogs/{vpc}/2024/03/05/f.log.gz"
        ));
        assert!(c.partitions.is_none());
        let c = classify(
            "AWSLogs/111122223333/vpcdnsquerylogs/vpc-0abc123def4567890/2024/03/05/f.log.gz",
        );
        assert_eq!(
            c.partitions.unwrap().vpc.as_deref(),
            Some("vpc-0abc123def4567890")
        );
        let org = format!("o-{}", "b".repeat(300));
        let c = classify(&format!(
            "AWSLogs/{org}/111122223333/CloudTrail/us-east-1/2024/03/05/f.json.gz"
        ));
        assert_eq!(
            c.kind,
            KeyKind::Unknown,
            "an over-long org id is not a layout"
        );
    }

    #[test]
    fn digest_insight_and_outside() {
        assert_eq!(
            classify("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/d.json.gz").kind,
            KeyKind::CloudTrailDigest
        );
        assert_eq!(
            classify("AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2024/03/05/i.json.gz").kind,
            KeyKind::CloudTrailInsight
        );
        assert_eq!(classify("/tmp/logs/events.json").kind, KeyKind::Unknown);
        assert_eq!(
            classify("AWSLogs/notanaccount/CloudTrail/us-east-1/2024/03/05/x").kind,
            KeyKind::Unknown
        );
        // In the layout but too short to carry a date: kind known, no partitions.
        let c = classify("AWSLogs/111122223333/CloudTrail/us-east-1/x.json");
        assert_eq!(c.kind, KeyKind::Log(LogTable::CloudTrail));
        assert!(c.partitions.is_none());
        assert_eq!(
            classify(r"C:\logs\AWSLogs\111122223333\CloudTrail\us-gov-west-1\2024\01\02\f.json")
                .partitions
                .unwrap()
                .region,
            "us-gov-west-1"
        );
    }

    #[test]
    fn flow_and_dns_layouts() {
        let c = classify("vpcflowlogs/AWSLogs/111122223333/vpcflowlogs/eu-west-1/2024/03/05/111122223333_vpcflowlogs_eu-west-1_fl-1_20240305T1200Z_a.log.gz");
        assert_eq!(c.kind, KeyKind::Log(LogTable::VpcFlow));
        let p = c.partitions.unwrap();
        assert_eq!(
            (
                p.account.as_str(),
                p.region.as_str(),
                p.date.as_str(),
                p.hour.as_deref()
            ),
            ("111122223333", "eu-west-1", "2024/03/05", None)
        );
        let p = classify("AWSLogs/111122223333/vpcflowlogs/eu-west-1/2024/03/05/13/f.log.gz")
            .partitions
            .unwrap();
        assert_eq!(p.hour.as_deref(), Some("13"));
        let c = classify("x/AWSLogs/aws-account-id=111122223333/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=03/day=05/hour=07/f.parquet");
        assert_eq!(c.kind, KeyKind::Log(LogTable::VpcFlow));
        let p = c.partitions.unwrap();
        assert_eq!(
            (p.region.as_str(), p.date.as_str(), p.hour.as_deref()),
            ("us-east-1", "2024/03/05", Some("07"))
        );
        let c = classify(
            "r53querylogs/AWSLogs/111122223333/vpcdnsquerylogs/vpc-0a1b2c3d/2024/03/05/f.log.gz",
        );
        assert_eq!(c.kind, KeyKind::Log(LogTable::Dns));
        let p = c.partitions.unwrap();
        assert_eq!(
            (
                p.vpc.as_deref(),
                p.value("vpc_partition"),
                p.value("region_partition")
            ),
            (Some("vpc-0a1b2c3d"), Some("vpc-0a1b2c3d"), None)
        );
    }

    #[test]
    fn sniffs_content() {
        assert_eq!(
            sniff(b"version account-id interface-id srcaddr\n2 1 eni-1 10.0.0.1"),
            KeyKind::Log(LogTable::VpcFlow)
        );
        assert_eq!(
            sniff(b"2 123456789010 eni-1 10.0.0.1 10.0.0.2 1 2 6 1 1 1 2 ACCEPT OK\n"),
            KeyKind::Log(LogTable::VpcFlow)
        );
        assert_eq!(sniff(br#"{"version":"1.100000","account_id":"1","query_timestamp":"x","query_name":"a."}"#), KeyKind::Log(LogTable::Dns));
        assert_eq!(
            sniff(br#"{"Records":[{"eventName":"x"}]}"#),
            KeyKind::Unknown
        );
        assert_eq!(sniff(b"PAR1...."), KeyKind::Log(LogTable::VpcFlow));
    }

    #[test]
    fn day_prefix() {
        assert_eq!(
            cloudtrail_day_prefix(
                "logs/",
                Some("o-1"),
                "111122223333",
                "us-east-1",
                "2024/01/02"
            ),
            "logs/AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2024/01/02/"
        );
    }

    #[test]
    fn date_of_time_takes_only_an_iso_date() {
        assert_eq!(
            date_of_time("2024-01-05T10:00:00Z").as_deref(),
            Some("2024/01/05")
        );
        assert_eq!(date_of_time("2024-01-05").as_deref(), Some("2024/01/05"));
        // Byte 10 inside a character, non-digits, short text: no date, no panic.
        for t in [
            "2024-01-0é",
            "2024-01-é5",
            "é024-01-05T",
            "2024-01-0",
            "",
            "2024/01/05",
            "２０２４-01-05",
        ] {
            assert_eq!(date_of_time(t), None, "{t}");
        }
    }
}
