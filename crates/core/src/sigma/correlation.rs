//! Sigma correlation rules (Sigma's correlation specification), compiled to
//! the same one-row-per-evidence-event Athena SQL as every detection.
//!
//! Supported: `type` `event_count`, `value_count`, `temporal` and
//! `temporal_ordered`; `rules` named by a rule's `name` or `id` (from the
//! same file, or with `--sigma DIR` from any file under it); `group-by`
//! fields; `timespan` (`30s`, `5m`, `1h`, `2d`, `1w`); `condition` with `gte`
//! or `gt` (and `field` for `value_count`); `generate`. A rule a correlation
//! uses is not reported on its own unless a correlation using it says
//! `generate: true`. Refused with the reason: `aliases`, other condition
//! operators (`lt`, `lte`, `eq`, `neq`: a window holding *few* events is not
//! evidence of anything), correlations of correlations, a rule that is not
//! found or did not compile.
//!
//! The SQL: every event of a referenced rule is a row, with its time in
//! seconds, its group key and one 0/1 column per rule. A window that starts
//! at an event and spans `timespan` is *satisfied* when its count, distinct
//! values, or rules (in order for `temporal_ordered`) meet the condition;
//! every event from such a start to the last event the condition needed is
//! evidence. Each step is a window function over the group, so the cost is
//! that of sorting the referenced events once per step.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml::Value;

use super::{field_sql, metadata, Compiled, Refused};
use crate::detect::Detection;

/// A parsed correlation, before the rules it names are known.
#[derive(Debug, Clone)]
pub struct Correlation {
    det: Detection,
    raw_id: String,
    name: Option<String>,
    kind: Kind,
    rules: Vec<String>,
    group_by: Vec<String>,
    seconds: u64,
    /// The least count (or number of distinct values) that satisfies it.
    threshold: u64,
    /// `value_count`: the field whose distinct values are counted.
    field: Option<String>,
    generate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

/// The most rules one correlation may name (each is a column and, ordered,
/// a window step).
const MAX_RULES: usize = 16;

/// `30s`, `5m`, `1h`, `2d`, `1w` in seconds.
fn timespan(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("timespan '{s}' is not a number and a unit"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("timespan '{s}': unit must be s, m, h, d or w")),
    };
    match n.checked_mul(mult) {
        Some(v) if v > 0 && v <= 366 * 86_400 => Ok(v),
        _ => Err(format!("timespan '{s}' must be between 1s and 366d")),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(xs)) => xs
            .iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect(),
        _ => vec![],
    }
}

/// Parse a correlation document (`corr` is its `correlation:` section).
pub(crate) fn parse(
    doc: &Value,
    corr: &Value,
    sid: &str,
    path: &str,
) -> Result<Correlation, String> {
    let kind = match corr.get("type").and_then(Value::as_str) {
        Some("event_count") => Kind::EventCount,
        Some("value_count") => Kind::ValueCount,
        Some("temporal") => Kind::Temporal,
        Some("temporal_ordered") => Kind::TemporalOrdered,
        Some(other) => return Err(format!("correlation type '{other}' is not supported")),
        None => return Err("correlation has no type".into()),
    };
    if corr.get("aliases").is_some() {
        return Err("correlation aliases are not supported".into());
    }
    let rules = strings(corr.get("rules"));
    if rules.is_empty() {
        return Err("correlation names no rules".into());
    }
    if rules.len() > MAX_RULES {
        return Err(format!("correlation names more than {MAX_RULES} rules"));
    }
    if matches!(kind, Kind::Temporal | Kind::TemporalOrdered) && rules.len() < 2 {
        return Err("a temporal correlation needs at least two rules".into());
    }
    let group_by = strings(corr.get("group-by"));
    for g in &group_by {
        field_sql(g).map_err(|e| format!("group-by: {e}"))?;
    }
    let span = corr
        .get("timespan")
        .or_else(|| corr.get("timeframe"))
        .and_then(Value::as_str)
        .ok_or("correlation has no timespan")?;
    let seconds = timespan(span)?;
    let mut threshold = 1;
    let mut field = None;
    match corr.get("condition") {
        Some(Value::Mapping(m)) => {
            for (k, v) in m {
                let k = k.as_str().unwrap_or("");
                match k {
                    "field" => field = v.as_str().map(String::from),
                    "gte" | "gt" => {
                        let n = v
                            .as_u64()
                            .ok_or_else(|| format!("condition {k} must be a whole number"))?;
                        let n = if k == "gt" { n.saturating_add(1) } else { n };
                        threshold = threshold.max(n);
                    }
                    "lt" | "lte" | "eq" | "neq" => {
                        return Err(format!(
                            "condition '{k}' is not supported (only gte and gt: a window holding few events is not evidence)"
                        ))
                    }
                    other => return Err(format!("unknown condition operator '{other}'")),
                }
            }
        }
        None if matches!(kind, Kind::Temporal | Kind::TemporalOrdered) => {}
        _ => return Err("condition must be a map such as {gte: 10}".into()),
    }
    if threshold > 1_000_000 {
        return Err("condition threshold above 1,000,000".into());
    }
    if kind == Kind::ValueCount {
        let f = field.clone().ok_or("value_count needs condition.field")?;
        field_sql(&f).map_err(|e| format!("condition.field: {e}"))?;
    }
    let generate = corr
        .get("generate")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Correlation {
        det: metadata(doc, sid, path, String::new()),
        raw_id: doc
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        name: doc.get("name").and_then(Value::as_str).map(String::from),
        kind,
        rules,
        group_by,
        seconds,
        threshold,
        field,
        generate,
    })
}

/// Resolve correlations against the rules among `docs` (each with its file):
/// rules and compiled correlations come out as detections, in order; a rule
/// only a correlation uses (no `generate: true`) is left out.
pub(crate) fn resolve(
    docs: Vec<(String, Result<Compiled, Refused>)>,
) -> Vec<(String, Result<Detection, Refused>)> {
    // Rules by name and by id.
    let mut rules: BTreeMap<String, (String, String)> = BTreeMap::new(); // key → (detection id, filter)
    let mut correlations: BTreeSet<String> = BTreeSet::new();
    for (_, d) in &docs {
        match d {
            Ok(Compiled::Rule { det, name, filter }) => {
                let raw = det.id.trim_start_matches("sigma.").to_string();
                rules.insert(raw, (det.id.clone(), filter.clone()));
                if let Some(n) = name {
                    rules.insert(n.clone(), (det.id.clone(), filter.clone()));
                }
            }
            Ok(Compiled::Correlation(c)) => {
                correlations.insert(c.raw_id.clone());
                if let Some(n) = &c.name {
                    correlations.insert(n.clone());
                }
            }
            Err(_) => {}
        }
    }
    let mut used_quietly: BTreeSet<String> = BTreeSet::new();
    let mut generated: BTreeSet<String> = BTreeSet::new();
    let mut out = vec![];
    for (path, d) in docs {
        let r = match d {
            Err(e) => Err(e),
            Ok(Compiled::Rule { det, .. }) => Ok(det),
            Ok(Compiled::Correlation(c)) => {
                let id = c.det.id.clone();
                let mut filters = vec![];
                let mut err = None;
                for r in &c.rules {
                    if correlations.contains(r) {
                        err = Some(format!("rule '{r}' is a correlation: correlations of correlations are not supported"));
                        break;
                    }
                    match rules.get(r) {
                        Some((rid, f)) => filters.push((rid.clone(), f.clone())),
                        None => {
                            err = Some(format!(
                                "rule '{r}' not found (or it did not load; see its own reason)"
                            ));
                            break;
                        }
                    }
                }
                match err {
                    Some(e) => Err((id, e)),
                    None => match sql(&c, &filters) {
                        Ok(s) => {
                            for (rid, _) in &filters {
                                if c.generate {
                                    generated.insert(rid.clone());
                                } else {
                                    used_quietly.insert(rid.clone());
                                }
                            }
                            let mut det = c.det.clone();
                            det.sql = s;
                            Ok(det)
                        }
                        Err(e) => Err((id, e)),
                    },
                }
            }
        };
        out.push((path, r));
    }
    out.retain(|(_, r)| match r {
        Ok(d) => !used_quietly.contains(&d.id) || generated.contains(&d.id),
        Err(_) => true,
    });
    out
}

/// The correlation's SQL over its rules' predicates (`(detection id, WHERE)`).
fn sql(c: &Correlation, rules: &[(String, String)]) -> Result<String, String> {
    let s = c.seconds;
    let groups: Vec<String> = c
        .group_by
        .iter()
        .map(|g| field_sql(g))
        .collect::<Result<_, _>>()?;
    let gcols: Vec<String> = (0..groups.len()).map(|i| format!("g{i}")).collect();
    let partition = if gcols.is_empty() {
        String::new()
    } else {
        format!("PARTITION BY {} ", gcols.join(", "))
    };
    let ahead =
        format!("OVER ({partition}ORDER BY ts RANGE BETWEEN CURRENT ROW AND {s} FOLLOWING)");
    let behind =
        format!("OVER ({partition}ORDER BY ts RANGE BETWEEN {s} PRECEDING AND CURRENT ROW)");
    // The actor a finding is reported under: the group's values.
    let principal = if groups.is_empty() {
        String::new()
    } else {
        let parts: Vec<String> = gcols
            .iter()
            .map(|g| format!("coalesce(CAST({g} AS VARCHAR), '-')"))
            .collect();
        format!(", {} AS principal", parts.join(" || ' ' || "))
    };
    let keep: Vec<String> = std::iter::once("eventid".to_string())
        .chain(std::iter::once("ts".to_string()))
        .chain(gcols.iter().cloned())
        .collect();
    let keep = keep.join(", ");
    let ms: Vec<String> = (0..rules.len()).map(|i| format!("m{i}")).collect();
    let mut inner_cols = vec![
        "eventid".to_string(),
        "to_unixtime(from_iso8601_timestamp(eventtime)) AS ts".to_string(),
    ];
    for (g, e) in gcols.iter().zip(&groups) {
        inner_cols.push(format!("{e} AS {g}"));
    }
    for (m, (_, f)) in ms.iter().zip(rules) {
        inner_cols.push(format!(
            "CASE WHEN coalesce(({f}), false) THEN 1 ELSE 0 END AS {m}"
        ));
    }
    let mut wheres: Vec<String> = rules.iter().map(|(_, f)| format!("({f})")).collect();
    let mut value = None;
    if c.kind == Kind::ValueCount {
        let v = field_sql(c.field.as_deref().unwrap_or_default())?;
        inner_cols.push(format!("{v} AS v"));
        value = Some(v);
    }
    let mut where_sql = if wheres.len() == 1 {
        wheres.remove(0)
    } else {
        format!("({})", wheres.join(" OR "))
    };
    if let Some(v) = &value {
        where_sql = format!("{where_sql} AND {v} IS NOT NULL");
    }
    let inner = format!(
        "SELECT {}\n  FROM cloudtrail\n  WHERE {where_sql}",
        inner_cols.join(",\n         ")
    );
    let all_ms = ms.join(", ");
    // `reach`: for an event that starts a satisfied window, the time of the
    // last event the condition needed (NULL when it starts none).
    let reach = match c.kind {
        Kind::EventCount | Kind::ValueCount => {
            let count = if c.kind == Kind::EventCount {
                format!("count(*) {ahead}")
            } else {
                format!("cardinality(array_distinct(array_agg(v) {ahead}))")
            };
            // The whole window counts toward the threshold: it is all evidence.
            format!(
                "SELECT {keep}, CASE WHEN n >= {t} THEN ts + {s} END AS reach\n  FROM (\n  SELECT {keep}, {count} AS n\n  FROM (\n  {inner}\n  ) e\n  ) w",
                t = c.threshold
            )
        }
        Kind::Temporal => {
            let firsts: Vec<String> = ms
                .iter()
                .enumerate()
                .map(|(i, m)| format!("min(CASE WHEN {m} = 1 THEN ts END) {ahead} AS f{i}"))
                .collect();
            let fs: Vec<String> = (0..ms.len()).map(|i| format!("f{i}")).collect();
            let all = fs
                .iter()
                .map(|f| format!("{f} IS NOT NULL"))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!(
                "SELECT {keep}, CASE WHEN {all} THEN greatest({}) END AS reach\n  FROM (\n  SELECT {keep}, {}\n  FROM (\n  {inner}\n  ) e\n  ) w",
                fs.join(", "),
                firsts.join(", ")
            )
        }
        Kind::TemporalOrdered => {
            // e{j}: the earliest time the chain rule j, j+1, … completes when
            // it starts at this event (an event of rule j); built from the last
            // rule back, one window per step.
            let k = ms.len();
            let mut q = format!(
                "SELECT {keep}, {all_ms}, CASE WHEN m{last} = 1 THEN ts END AS e{last}\n  FROM (\n  {inner}\n  ) e",
                last = k - 1
            );
            for j in (0..k - 1).rev() {
                q = format!(
                    "SELECT {keep}, {all_ms}, CASE WHEN m{j} = 1 THEN min(e{n}) {ahead} END AS e{j}\n  FROM (\n  {q}\n  ) s{j}",
                    n = j + 1
                );
            }
            format!(
                "SELECT {keep}, CASE WHEN e0 IS NOT NULL AND e0 - ts <= {s} THEN e0 END AS reach\n  FROM (\n  {q}\n  ) w"
            )
        }
    };
    Ok(format!(
        "SELECT eventid{principal}\nFROM (\n  SELECT {keep}, max(reach) {behind} AS covered_until\n  FROM (\n  {reach}\n  ) r\n) c\nWHERE covered_until >= ts"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(timespan("5m"), Ok(300));
        assert_eq!(timespan("1h"), Ok(3600));
        assert_eq!(timespan("2d"), Ok(172_800));
        assert!(timespan("0s").is_err());
        assert!(timespan("5y").is_err());
        assert!(timespan("m").is_err());
        assert!(timespan("99999999999999999999d").is_err());
    }
}
