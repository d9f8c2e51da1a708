//! The ATT&CK matrix for IaaS (`content/attack/iaas.yaml`): tactics in
//! kill-chain order, their techniques and sub-techniques, for coverage views.

use serde::Deserialize;

/// ATT&CK's enterprise tactics (their short names) in kill-chain order.
pub const TACTIC_ORDER: [&str; 14] = [
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

#[derive(Debug, Clone, Deserialize)]
pub struct Matrix {
    pub version: String,
    pub tactics: Vec<Tactic>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tactic {
    pub id: String,
    pub name: String,
    pub techniques: Vec<Technique>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub sub: Vec<SubTechnique>,
    /// Set when ATT&CK does not list the technique for IaaS (it is kept
    /// because a detection names it).
    #[serde(default)]
    pub platform_note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubTechnique {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub platform_note: Option<String>,
}

impl Matrix {
    /// The embedded matrix.
    pub fn builtin() -> Result<Matrix, String> {
        let (path, text) = crate::content::ATTACK
            .iter()
            .find(|(p, _)| p.ends_with("iaas.yaml"))
            .ok_or("content/attack/iaas.yaml is not embedded")?;
        serde_yaml::from_str(text).map_err(|e| format!("{path}: {e}"))
    }

    /// Every technique and sub-technique id, once.
    pub fn ids(&self) -> std::collections::BTreeSet<&str> {
        self.tactics
            .iter()
            .flat_map(|t| &t.techniques)
            .flat_map(|t| std::iter::once(t.id.as_str()).chain(t.sub.iter().map(|s| s.id.as_str())))
            .collect()
    }
}

/// The technique a (sub-)technique id belongs to: `T1098` for `T1098.001`.
pub fn parent(id: &str) -> &str {
    id.split_once('.').map_or(id, |(p, _)| p)
}

/// One row of the coverage view: a technique or sub-technique and what
/// names it (detections by origin, scenarios).
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct CoverageRow {
    /// The tactic the matrix lists it under (its first, for a technique
    /// under several), or `None` when the matrix does not hold it.
    pub tactic: Option<String>,
    pub technique: String,
    pub name: String,
    /// Built-in and `--detections` detections naming exactly this id.
    pub detections: Vec<String>,
    /// Sigma rules naming exactly this id.
    pub sigma: Vec<String>,
    /// Scenarios that rehearse exactly this id.
    pub scenarios: Vec<String>,
    /// This id, or (for a technique) one of its sub-techniques, is named.
    pub covered: bool,
}

/// What covers each technique of the matrix, in the matrix's order (a
/// technique under several tactics once, under its first), then every id
/// the detections or scenarios name that the matrix does not hold. This is
/// the data the HTML report's matrix is drawn from.
pub fn coverage(
    m: &Matrix,
    detections: &[crate::detect::Detection],
    scenarios: &[crate::scenario::Scenario],
) -> Vec<CoverageRow> {
    use crate::detect::Origin;
    use std::collections::{BTreeMap, BTreeSet};
    // Per id: detections, Sigma rules, scenarios.
    type Names = (Vec<String>, Vec<String>, Vec<String>);
    let mut by_id: BTreeMap<&str, Names> = BTreeMap::new();
    for d in detections {
        for a in &d.attack {
            let e = by_id.entry(a.as_str()).or_default();
            if d.origin == Origin::Sigma {
                e.1.push(d.id.clone());
            } else {
                e.0.push(d.id.clone());
            }
        }
    }
    for s in scenarios {
        for a in &s.attack {
            by_id.entry(a.as_str()).or_default().2.push(s.id.clone());
        }
    }
    let named = |id: &str| by_id.get(id).cloned().unwrap_or_default();
    let mut rows = vec![];
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let push =
        |rows: &mut Vec<CoverageRow>, tactic: Option<&str>, id: &str, name: &str, covered: bool| {
            let (d, s, sc) = named(id);
            rows.push(CoverageRow {
                tactic: tactic.map(String::from),
                technique: id.to_string(),
                name: name.to_string(),
                detections: d,
                sigma: s,
                scenarios: sc,
                covered,
            });
        };
    for t in &m.tactics {
        for tech in &t.techniques {
            if !seen.insert(tech.id.clone()) {
                continue;
            }
            let any_sub = tech.sub.iter().any(|s| by_id.contains_key(s.id.as_str()));
            push(
                &mut rows,
                Some(&t.id),
                &tech.id,
                &tech.name,
                any_sub || by_id.contains_key(tech.id.as_str()),
            );
            for s in &tech.sub {
                if seen.insert(s.id.clone()) {
                    push(
                        &mut rows,
                        Some(&t.id),
                        &s.id,
                        &s.name,
                        by_id.contains_key(s.id.as_str()),
                    );
                }
            }
        }
    }
    for id in by_id.keys() {
        if !seen.contains(*id) {
            push(&mut rows, None, id, "", true);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_holds_every_technique_the_catalogue_names() {
        let m = Matrix::builtin().unwrap();
        assert!(m.tactics.len() >= 10);
        let ids = m.ids();
        for t in &m.tactics {
            assert!(TACTIC_ORDER.contains(&t.id.as_str()), "{}", t.id);
            let mut seen = std::collections::HashSet::new();
            for tech in &t.techniques {
                assert!(seen.insert(&tech.id), "{} twice in {}", tech.id, t.id);
                for s in &tech.sub {
                    assert_eq!(parent(&s.id), tech.id, "{} under {}", s.id, tech.id);
                }
            }
        }
        let c = crate::detect::Catalogue::builtin();
        for d in &c.detections {
            for a in &d.attack {
                assert!(
                    ids.contains(a.as_str()),
                    "{} of {} is not in the matrix",
                    a,
                    d.id
                );
            }
        }
    }
}
