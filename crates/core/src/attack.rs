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
