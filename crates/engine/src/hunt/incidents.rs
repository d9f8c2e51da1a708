//! Incidents: a hunt's findings grouped by the actor behind them.
//!
//! Two findings belong to one incident when they share an actor key and
//! their time spans come within [`LINK_GAP_SECONDS`] of each other. The keys
//! are the principal (an ARN, or what the detection named; never `unknown`
//! nor an AWS service; a role session or an IAM user counts as well as the
//! principal that opened or created it, up the chain the logs show), each
//! access key id the events were signed with, and
//! each source address that is an IP address (service names such as
//! `ec2.amazonaws.com` or `AWS Internal` are not addresses). An address used
//! by more than [`BUSY_ADDRESS_PRINCIPALS`] actors among the findings (a
//! session or user counting as who opened or created it)
//! (a NAT gateway, a VPN exit, a proxy) links nothing: it would tie everyone
//! who works through it into one story.
//!
//! An incident's severity is the highest of its findings, one level higher
//! (at most critical) when its findings move, in time order, through at
//! least [`PROGRESSION_STAGES`] of the four stages of an intrusion ([`stage`]:
//! getting in and looking around, gaining access, holding on, acting on the
//! objective), as in discovery → privilege escalation → persistence →
//! exfiltration: such a chain ranks above any single finding. A lone finding
//! below medium is not an incident; it stays a finding.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use irprep_core::detect::Severity;
use serde::{Deserialize, Serialize};

use super::Finding;

/// Two findings of one actor are one incident when they are closer in time
/// than this (the end of one to the start of the other).
pub const LINK_GAP_SECONDS: i64 = 24 * 3600;

/// An address shared by more principals than this links nothing.
pub const BUSY_ADDRESS_PRINCIPALS: usize = 5;

/// Stages of [`stage`], reached in order, that raise an incident's severity.
pub const PROGRESSION_STAGES: usize = 3;

/// The stage of an intrusion a tactic belongs to: 0 getting in and looking
/// around, 1 gaining access, 2 holding on, 3 acting on the objective; `None`
/// for a tactic ATT&CK does not name.
pub fn stage(tactic: &str) -> Option<usize> {
    Some(match tactic {
        "reconnaissance" | "resource-development" | "initial-access" | "discovery" => 0,
        "execution" | "privilege-escalation" | "credential-access" | "lateral-movement" => 1,
        "persistence" | "defense-evasion" => 2,
        "collection" | "command-and-control" | "exfiltration" | "impact" => 3,
        _ => return None,
    })
}

/// ATT&CK's enterprise tactics in kill-chain order.
pub use irprep_core::attack::TACTIC_ORDER;

/// A tactic's place in [`TACTIC_ORDER`] (unknown tactics last).
pub fn tactic_rank(t: &str) -> usize {
    TACTIC_ORDER
        .iter()
        .position(|x| *x == t)
        .unwrap_or(TACTIC_ORDER.len())
}

/// One finding of an incident, as the incident names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRef {
    /// Its place in the hunt's findings (the `findings` array of the same
    /// JSON document).
    pub index: usize,
    pub detection_id: String,
    pub principal: String,
}

/// Why findings were joined: a key they share.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// `principal`, `access_key`, `source_ip`, or `issued_by` (a role
    /// session or IAM user and the principal that opened or created it).
    pub kind: String,
    pub value: String,
}

/// Findings tied to one actor, in time order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incident {
    /// `INC-1`, `INC-2`, … in the order incidents are ranked.
    pub id: String,
    pub severity: Severity,
    /// Ranking score: the findings' severities and the tactics spanned.
    pub score: u64,
    pub title: String,
    /// One paragraph, generated from the facts below.
    pub summary: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Distinct tactics, in kill-chain order.
    pub tactics: Vec<String>,
    /// The tactics in the order the findings first reached them.
    pub progression: Vec<String>,
    /// Whether the progression has at least [`PROGRESSION_STAGES`] stages
    /// in kill-chain order (which raised the severity).
    pub kill_chain: bool,
    pub principals: Vec<String>,
    pub access_keys: Vec<String>,
    pub source_ips: Vec<String>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub attack: Vec<String>,
    /// Evidence events over all its findings (an event in two findings
    /// counts twice).
    pub event_count: usize,
    pub links: Vec<Link>,
    /// Its findings, in time order.
    pub findings: Vec<FindingRef>,
}

/// Seconds since the epoch of CloudTrail's `YYYY-MM-DDTHH:MM:SSZ` (or any
/// RFC 3339 time); `None` for anything else.
pub fn seconds(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp())
}

/// Whether a principal names an actor (not `unknown`, not an AWS service).
fn actor_principal(p: &str) -> bool {
    !(p.is_empty()
        || p == "unknown"
        || p == "-"
        || p.eq_ignore_ascii_case("AWS Internal")
        || (!p.starts_with("arn:") && p.ends_with(".amazonaws.com"))
        || p.starts_with("arn:aws:iam::aws:"))
}

/// Whether an access key id looks like one (AKIA…, ASIA…).
fn actor_key(k: &str) -> bool {
    k.len() >= 16 && k.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Union-find over the findings.
struct Sets {
    parent: Vec<usize>,
}

impl Sets {
    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.parent[a.max(b)] = a.min(b);
        }
    }
}

fn weight(s: Severity) -> u64 {
    match s {
        Severity::Info => 1,
        Severity::Low => 2,
        Severity::Medium => 5,
        Severity::High => 10,
        Severity::Critical => 20,
    }
}

fn raise(s: Severity) -> Severity {
    match s {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}

/// The longest run of [`stage`]s reached in increasing order within a
/// progression (a stage reached again, or an earlier one, does not extend it).
fn chain_length(progression: &[String]) -> usize {
    // Longest strictly increasing subsequence: O(n log n).
    let mut tails: Vec<usize> = vec![];
    for r in progression.iter().filter_map(|t| stage(t)) {
        match tails.binary_search(&r) {
            Ok(_) => {}
            Err(i) if i == tails.len() => tails.push(r),
            Err(i) => tails[i] = r,
        }
    }
    tails.len()
}

/// Group findings into incidents (ranked: severity, then score, then time).
///
/// Cost: O(n log n) in the findings plus their keys; no pair of findings is
/// compared unless they share a key, and each key's findings are compared
/// only with their neighbour in time.
pub fn incidents(findings: &[Finding], sessions: &[(String, String)]) -> Vec<Incident> {
    // Who opened each role session, followed up the chain (a session opened
    // from a session) to the first issuer the logs show.
    let issuer: HashMap<&str, &str> = sessions
        .iter()
        .map(|(a, b)| (b.as_str(), a.as_str()))
        .collect();
    let root = |p: &str| -> Option<String> {
        let mut at = issuer.get(p).copied()?;
        for _ in 0..16 {
            match issuer.get(at) {
                Some(next) if *next != at => at = next,
                _ => break,
            }
        }
        Some(at.to_string())
    };
    let roots: Vec<Option<String>> = findings
        .iter()
        .map(|f| root(&f.principal).filter(|r| actor_principal(r)))
        .collect();
    // Addresses used by too many actors (principals, a session counting as
    // whoever opened it) are not links.
    let mut principals_at: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (f, r) in findings.iter().zip(&roots) {
        let actor = r.as_deref().unwrap_or(f.principal.as_str());
        for ip in &f.source_ips {
            if ip.parse::<std::net::IpAddr>().is_ok() {
                principals_at.entry(ip.as_str()).or_default().insert(actor);
            }
        }
    }
    // Each key's findings, then linked along time.
    let mut by_key: BTreeMap<(&'static str, &str), Vec<usize>> = BTreeMap::new();
    for (i, f) in findings.iter().enumerate() {
        if actor_principal(&f.principal) {
            by_key
                .entry(("principal", &f.principal))
                .or_default()
                .push(i);
        }
        // A role session counts as the principal that opened it.
        if let Some(r) = &roots[i] {
            by_key.entry(("principal", r.as_str())).or_default().push(i);
        }
        for k in &f.access_keys {
            if actor_key(k) {
                by_key.entry(("access_key", k)).or_default().push(i);
            }
        }
        for ip in &f.source_ips {
            if principals_at
                .get(ip.as_str())
                .is_some_and(|p| p.len() <= BUSY_ADDRESS_PRINCIPALS)
            {
                by_key.entry(("source_ip", ip)).or_default().push(i);
            }
        }
    }
    let span: Vec<(i64, i64)> = findings
        .iter()
        .map(|f| {
            let a = seconds(&f.first_seen).unwrap_or(i64::MIN / 4);
            let b = seconds(&f.last_seen).unwrap_or(a).max(a);
            (a, b)
        })
        .collect();
    let mut sets = Sets {
        parent: (0..findings.len()).collect(),
    };
    // The keys that joined each pair's group, for the report.
    let mut joined: Vec<((&'static str, &str), usize)> = vec![];
    for (key, mut members) in by_key {
        if members.len() < 2 {
            continue;
        }
        members.sort_by_key(|&i| span[i]);
        // Sweep in time order: a finding joins the previous ones when it
        // starts before the latest end so far plus the gap.
        let mut reach = span[members[0]].1;
        for w in 1..members.len() {
            let (prev, cur) = (members[w - 1], members[w]);
            if span[cur].0 <= reach.saturating_add(LINK_GAP_SECONDS) {
                sets.union(prev, cur);
                joined.push((key, cur));
            }
            reach = reach.max(span[cur].1);
        }
    }
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..findings.len() {
        let r = sets.find(i);
        groups.entry(r).or_default().push(i);
    }
    let mut links: HashMap<usize, BTreeSet<Link>> = HashMap::new();
    for (i, f) in findings.iter().enumerate() {
        if let Some(r) = &roots[i] {
            let g = sets.find(i);
            links.entry(g).or_default().insert(Link {
                kind: "issued_by".to_string(),
                value: format!("{} issued by {r}", f.principal),
            });
        }
    }
    for ((kind, value), i) in joined {
        let r = sets.find(i);
        links.entry(r).or_default().insert(Link {
            kind: kind.to_string(),
            value: value.to_string(),
        });
    }
    let mut out: Vec<Incident> = groups
        .into_iter()
        .filter_map(|(root, members)| {
            let top = members.iter().map(|&i| findings[i].severity).max()?;
            if members.len() < 2 && top < Severity::Medium {
                return None;
            }
            Some(build(
                findings,
                members,
                links.remove(&root).unwrap_or_default(),
            ))
        })
        .collect();
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.score.cmp(&a.score))
            .then_with(|| a.first_seen.cmp(&b.first_seen))
            .then_with(|| a.title.cmp(&b.title))
    });
    for (n, i) in out.iter_mut().enumerate() {
        i.id = format!("INC-{}", n + 1);
    }
    out
}

fn build(findings: &[Finding], mut members: Vec<usize>, links: BTreeSet<Link>) -> Incident {
    members.sort_by(|&a, &b| {
        let (x, y) = (&findings[a], &findings[b]);
        x.first_seen
            .cmp(&y.first_seen)
            .then_with(|| x.detection_id.cmp(&y.detection_id))
            .then_with(|| x.principal.cmp(&y.principal))
    });
    let fs: Vec<&Finding> = members.iter().map(|&i| &findings[i]).collect();
    let set = |get: &dyn Fn(&Finding) -> Vec<String>| -> Vec<String> {
        fs.iter()
            .flat_map(|f| get(f))
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect()
    };
    let principals = set(&|f| {
        if actor_principal(&f.principal) {
            vec![f.principal.clone()]
        } else {
            vec![]
        }
    });
    let access_keys = set(&|f| f.access_keys.clone());
    let source_ips = set(&|f| f.source_ips.clone());
    let accounts = set(&|f| f.accounts.clone());
    let regions = set(&|f| f.regions.clone());
    let attack = set(&|f| f.attack.clone());
    let mut tactics = set(&|f| f.tactics.clone());
    tactics.sort_by_key(|t| (tactic_rank(t), t.clone()));
    let mut progression: Vec<String> = vec![];
    for f in &fs {
        let mut ts = f.tactics.clone();
        ts.sort_by_key(|t| (stage(t), tactic_rank(t)));
        for t in ts {
            if !progression.contains(&t) {
                progression.push(t);
            }
        }
    }
    let kill_chain = chain_length(&progression) >= PROGRESSION_STAGES;
    let top = fs.iter().map(|f| f.severity).max().unwrap_or_default();
    let severity = if kill_chain { raise(top) } else { top };
    let score = fs.iter().map(|f| weight(f.severity)).sum::<u64>()
        + 10 * tactics.len().saturating_sub(1) as u64
        + if kill_chain { 50 } else { 0 };
    let first_seen = fs
        .iter()
        .map(|f| f.first_seen.as_str())
        .filter(|t| !t.is_empty())
        .min()
        .unwrap_or_default()
        .to_string();
    let last_seen = fs
        .iter()
        .map(|f| f.last_seen.as_str())
        .max()
        .unwrap_or_default()
        .to_string();
    let event_count = fs.iter().map(|f| f.event_count).sum();
    // The principals by how many findings they set off (the main actor
    // first), for the title and the summary.
    let mut ranked: Vec<(usize, String)> = principals
        .iter()
        .map(|p| (fs.iter().filter(|f| &f.principal == p).count(), p.clone()))
        .collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let ranked: Vec<String> = ranked.into_iter().map(|r| r.1).collect();
    let actor = ranked
        .first()
        .map(|p| short_principal(p))
        .or_else(|| source_ips.first().cloned())
        .unwrap_or_else(|| "an unattributed actor".to_string());
    let title = if progression.len() > 1 {
        format!("{actor}: {}", progression.join(" → "))
    } else {
        format!("{actor}: {}", fs[0].title)
    };
    let summary = summary(
        &fs,
        &ranked,
        &source_ips,
        &accounts,
        &progression,
        kill_chain,
        event_count,
        &first_seen,
        &last_seen,
    );
    Incident {
        id: String::new(),
        severity,
        score,
        title,
        summary,
        first_seen,
        last_seen,
        tactics,
        progression,
        kill_chain,
        principals,
        access_keys,
        source_ips,
        accounts,
        regions,
        attack,
        event_count,
        links: links.into_iter().collect(),
        findings: members
            .iter()
            .map(|&i| FindingRef {
                index: i,
                detection_id: findings[i].detection_id.clone(),
                principal: findings[i].principal.clone(),
            })
            .collect(),
    }
}

/// `user/alice` from `arn:aws:iam::111122223333:user/alice`; other text as is.
pub fn short_principal(p: &str) -> String {
    match p.strip_prefix("arn:") {
        Some(rest) => rest.splitn(5, ':').nth(4).unwrap_or(p).to_string(),
        None => p.to_string(),
    }
}

fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

#[allow(clippy::too_many_arguments)]
fn summary(
    fs: &[&Finding],
    principals: &[String],
    ips: &[String],
    accounts: &[String],
    progression: &[String],
    kill_chain: bool,
    events: usize,
    first: &str,
    last: &str,
) -> String {
    let who = if principals.is_empty() {
        "An actor without a principal".to_string()
    } else {
        let short: Vec<String> = principals.iter().map(|p| short_principal(p)).collect();
        list(&short, 3)
    };
    let mut s = format!(
        "{who} set off {} finding(s) over {events} event(s) between {first} and {last}",
        fs.len()
    );
    if !accounts.is_empty() {
        s.push_str(&format!(" in account(s) {}", list(accounts, 3)));
    }
    let addrs: Vec<String> = ips
        .iter()
        .filter(|i| i.parse::<std::net::IpAddr>().is_ok())
        .cloned()
        .collect();
    if !addrs.is_empty() {
        s.push_str(&format!(", from {}", list(&addrs, 3)));
    }
    s.push('.');
    if progression.len() > 1 {
        s.push_str(&format!(
            " The activity moves through {}{}.",
            progression.join(" → "),
            if kill_chain {
                ", a kill-chain progression"
            } else {
                ""
            }
        ));
    }
    let first_f = fs[0];
    s.push_str(&format!(
        " It starts with \"{}\" at {}",
        first_f.title, first_f.first_seen
    ));
    if let Some(worst) = fs
        .iter()
        .max_by_key(|f| (f.severity, std::cmp::Reverse(f.first_seen.clone())))
    {
        if worst.detection_id != first_f.detection_id {
            s.push_str(&format!(
                "; the most severe is \"{}\" ({}) at {}",
                worst.title, worst.severity, worst.first_seen
            ));
        }
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(
        det: &str,
        sev: Severity,
        principal: &str,
        ip: &str,
        t: (&str, &str),
        tactics: &[&str],
    ) -> Finding {
        Finding {
            detection_id: det.into(),
            title: format!("title of {det}"),
            severity: sev,
            tactics: tactics.iter().map(|s| s.to_string()).collect(),
            principal: principal.into(),
            accounts: vec!["111122223333".into()],
            source_ips: vec![ip.into()],
            first_seen: t.0.into(),
            last_seen: t.1.into(),
            event_count: 1,
            ..Default::default()
        }
    }

    const A: &str = "arn:aws:iam::111122223333:user/alice";
    const B: &str = "arn:aws:iam::111122223333:user/bob";

    #[test]
    fn shared_keys_join_and_time_gaps_split() {
        let fs = vec![
            f(
                "d1",
                Severity::Low,
                A,
                "198.51.100.7",
                ("2024-01-01T00:00:00Z", "2024-01-01T00:10:00Z"),
                &["discovery"],
            ),
            // Another principal from the same address: joined.
            f(
                "d2",
                Severity::High,
                "arn:aws:sts::111122223333:assumed-role/r/s",
                "198.51.100.7",
                ("2024-01-01T01:00:00Z", "2024-01-01T01:00:00Z"),
                &["privilege-escalation"],
            ),
            // Alice again, three days later: a new incident.
            f(
                "d3",
                Severity::Medium,
                A,
                "203.0.113.9",
                ("2024-01-04T00:00:00Z", "2024-01-04T00:00:00Z"),
                &["impact"],
            ),
            // Bob alone, low: not an incident.
            f(
                "d4",
                Severity::Low,
                B,
                "192.0.2.1",
                ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
                &["discovery"],
            ),
        ];
        let inc = incidents(&fs, &[]);
        assert_eq!(inc.len(), 2, "{inc:#?}");
        let first = &inc[0];
        assert_eq!(first.id, "INC-1");
        assert_eq!(first.severity, Severity::High);
        let idx: Vec<usize> = first.findings.iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![0, 1]);
        assert_eq!(first.progression, vec!["discovery", "privilege-escalation"]);
        assert!(first
            .links
            .iter()
            .any(|l| l.kind == "source_ip" && l.value == "198.51.100.7"));
        assert_eq!(inc[1].findings.len(), 1);
        assert_eq!(inc[1].findings[0].index, 2);
        assert!(first.summary.contains("user/alice"), "{}", first.summary);
    }

    #[test]
    fn busy_addresses_and_services_link_nothing() {
        let mut fs = vec![];
        for n in 0..=BUSY_ADDRESS_PRINCIPALS {
            fs.push(f(
                &format!("d{n}"),
                Severity::Medium,
                &format!("arn:aws:iam::1:user/u{n}"),
                "10.0.0.1",
                ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
                &["discovery"],
            ));
        }
        fs.push(f(
            "svc1",
            Severity::Medium,
            "cloudtrail.amazonaws.com",
            "cloudtrail.amazonaws.com",
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            &["impact"],
        ));
        fs.push(f(
            "svc2",
            Severity::Medium,
            "cloudtrail.amazonaws.com",
            "cloudtrail.amazonaws.com",
            ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
            &["impact"],
        ));
        let inc = incidents(&fs, &[]);
        assert_eq!(inc.len(), fs.len(), "{inc:#?}");
        assert!(inc
            .iter()
            .all(|i| i.findings.len() == 1 && i.links.is_empty()));
    }

    #[test]
    fn a_kill_chain_ranks_above_a_single_finding() {
        let t = ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z");
        let t2 = ("2024-01-01T00:05:00Z", "2024-01-01T00:05:00Z");
        let t3 = ("2024-01-01T00:09:00Z", "2024-01-01T00:09:00Z");
        let fs = vec![
            f("single", Severity::High, B, "192.0.2.1", t, &["impact"]),
            f("disc", Severity::Low, A, "198.51.100.7", t, &["discovery"]),
            f(
                "esc",
                Severity::Medium,
                A,
                "198.51.100.7",
                t2,
                &["privilege-escalation"],
            ),
            f(
                "pers",
                Severity::Medium,
                A,
                "198.51.100.7",
                t3,
                &["persistence"],
            ),
            f(
                "exf",
                Severity::High,
                A,
                "198.51.100.7",
                t3,
                &["exfiltration"],
            ),
        ];
        let inc = incidents(&fs, &[]);
        assert_eq!(inc[0].principals, vec![A.to_string()]);
        assert!(inc[0].kill_chain);
        assert_eq!(inc[0].severity, Severity::Critical);
        assert_eq!(inc[1].principals, vec![B.to_string()]);
        assert_eq!(
            inc[0].progression,
            vec![
                "discovery",
                "privilege-escalation",
                "exfiltration",
                "persistence"
            ]
        );
        assert_eq!(chain_length(&inc[0].progression), 3);
    }

    #[test]
    fn chain_length_is_the_longest_ordered_run() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(chain_length(&p(&["impact", "discovery"])), 1);
        assert_eq!(
            chain_length(&p(&[
                "discovery",
                "privilege-escalation",
                "persistence",
                "exfiltration"
            ])),
            4
        );
        assert_eq!(
            chain_length(&p(&["discovery", "discovery", "bogus", "impact"])),
            2
        );
        assert_eq!(
            chain_length(&p(&["persistence", "execution", "initial-access"])),
            1
        );
    }

    #[test]
    fn role_sessions_join_the_principal_that_opened_them() {
        let t = ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z");
        let s1 = "arn:aws:sts::111122223333:assumed-role/admin/s1";
        let s2 = "arn:aws:sts::111122223333:assumed-role/other/s2";
        let fs = vec![
            f("a", Severity::Medium, A, "198.51.100.7", t, &["discovery"]),
            f(
                "b",
                Severity::Medium,
                s2,
                "203.0.113.1",
                t,
                &["persistence"],
            ),
        ];
        let sessions = vec![
            (A.to_string(), s1.to_string()),
            (s1.to_string(), s2.to_string()),
        ];
        let inc = incidents(&fs, &sessions);
        assert_eq!(inc.len(), 1, "{inc:#?}");
        assert!(inc[0].links.iter().any(|l| l.kind == "issued_by"
            && l.value
                .contains("issued by arn:aws:iam::111122223333:user/alice")));
        // Without the sessions, two incidents.
        assert_eq!(incidents(&fs, &[]).len(), 2);
    }
}
