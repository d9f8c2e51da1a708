//! The detection model: one file per detection (YAML around Athena SQL),
//! built-ins compiled into the binary, user directories added at run time,
//! Sigma rules compiled to the same shape (see [`crate::sigma`]).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Severity, ordered.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a detection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    #[default]
    Builtin,
    User,
    Sigma,
}

/// A test source for a detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TestCase {
    /// `invictus` or `otrf` (the shared datasets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// A file under `content/detections/fixtures/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixture: Option<String>,
    /// Events that must (positive) be in the evidence; empty = all of the fixture.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Tests {
    #[serde(default)]
    pub positive: Vec<TestCase>,
    #[serde(default)]
    pub negative: Vec<TestCase>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Detection {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub severity: Severity,
    #[serde(default)]
    pub attack: Vec<String>,
    #[serde(default)]
    pub tactics: Vec<String>,
    #[serde(default = "default_source")]
    pub source: String,
    pub sql: String,
    #[serde(default)]
    pub false_positives: Vec<String>,
    #[serde(default)]
    pub references: Vec<String>,
    #[serde(default)]
    pub tests: Tests,
    #[serde(skip_deserializing, default)]
    pub origin: Origin,
    /// Where it was loaded from (path relative to content/, or a file path).
    #[serde(skip_deserializing, default)]
    pub path: String,
}

fn default_source() -> String {
    "cloudtrail".into()
}

/// A rule that could not be loaded, kept for `detections list`.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub id: String,
    pub origin: Origin,
    pub path: String,
    pub reason: String,
}

/// The loaded catalogue.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub detections: Vec<Detection>,
    pub skipped: Vec<Skipped>,
}

fn validate(d: &Detection) -> Result<(), String> {
    if d.id.trim().is_empty() || d.id.contains(char::is_whitespace) {
        return Err("id must be a non-empty word".into());
    }
    if d.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    if d.sql.trim().is_empty() {
        return Err("sql is empty".into());
    }
    // The table a detection reads: CloudTrail is hunted in one pass, the
    // others are run as written.
    if crate::tables::LogTable::from_name(&d.source).is_none() {
        return Err(format!(
            "unknown source '{}' (one of {})",
            d.source,
            crate::tables::LogTable::names()
        ));
    }
    for a in &d.attack {
        let ok = a.starts_with('T')
            && a[1..]
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if !ok {
            return Err(format!("'{a}' is not an ATT&CK technique id"));
        }
    }
    Ok(())
}

/// Parse one detection file.
pub fn parse_detection(text: &str, path: &str, origin: Origin) -> Result<Detection, String> {
    let mut d: Detection = serde_yaml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
    d.origin = origin;
    d.path = path.to_string();
    validate(&d).map_err(|e| format!("{path}: {e}"))?;
    Ok(d)
}

impl Catalogue {
    /// The built-in detections.
    pub fn builtin() -> Self {
        let mut c = Catalogue::default();
        for (path, text) in crate::content::DETECTIONS {
            c.add(text, path, Origin::Builtin);
        }
        c
    }

    fn add(&mut self, text: &str, path: &str, origin: Origin) {
        match parse_detection(text, path, origin) {
            Ok(d) => {
                if let Some(dup) = self.detections.iter().find(|x| x.id == d.id) {
                    self.skipped.push(Skipped {
                        id: d.id.clone(),
                        origin,
                        path: path.into(),
                        reason: format!("duplicate id (already loaded from {})", dup.path),
                    });
                } else {
                    self.detections.push(d);
                }
            }
            Err(e) => self.skipped.push(Skipped {
                id: Path::new(path)
                    .file_stem()
                    .map(|s| s.to_string_lossy().to_string())
                    .unwrap_or_default(),
                origin,
                path: path.into(),
                reason: e,
            }),
        }
    }

    /// Add every `*.yaml` detection under a directory (recursively).
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), String> {
        let mut files = vec![];
        walk_yaml(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
        files.sort();
        for f in files {
            match std::fs::read_to_string(&f) {
                Ok(t) => self.add(&t, &f.display().to_string(), Origin::User),
                Err(e) => self.skipped.push(Skipped {
                    id: String::new(),
                    origin: Origin::User,
                    path: f.display().to_string(),
                    reason: e.to_string(),
                }),
            }
        }
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Detection> {
        self.detections.iter().find(|d| d.id == id)
    }
}

pub(crate) fn walk_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    // The entry's own type, not its target's: a symlink to a directory is
    // not walked (two links to `.` would branch at every level).
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let p = e.path();
        let ty = e.file_type()?;
        if ty.is_dir() {
            walk_yaml(&p, out)?;
        } else if (ty.is_file() || (ty.is_symlink() && p.is_file()))
            && p.extension().is_some_and(|x| x == "yaml" || x == "yml")
        {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_links_are_not_walked() {
        let d = std::env::temp_dir().join(format!("irprep-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.yaml"), "x").unwrap();
        std::os::unix::fs::symlink(&d, d.join("loop1")).unwrap();
        std::os::unix::fs::symlink(&d, d.join("loop2")).unwrap();
        let mut out = vec![];
        walk_yaml(&d, &mut out).unwrap();
        assert_eq!(out.len(), 1, "{out:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn builtin_catalogue_loads_clean() {
        let c = Catalogue::builtin();
        assert!(c.skipped.is_empty(), "{:#?}", c.skipped);
        assert!(
            c.detections.len() >= 60,
            "only {} detections",
            c.detections.len()
        );
        for d in &c.detections {
            assert!(
                d.path.ends_with(&format!("{}.yaml", d.id)),
                "{} in {}",
                d.id,
                d.path
            );
            assert!(
                !d.tests.positive.is_empty(),
                "{} has no positive test",
                d.id
            );
        }
    }

    #[test]
    fn bad_files_are_reported() {
        assert!(parse_detection(
            "id: x\ntitle: t\nseverity: high\nsql: SELECT 1\nattack: [X1]\n",
            "x.yaml",
            Origin::User
        )
        .is_err());
        assert!(parse_detection(
            "id: x\ntitle: t\nseverity: extreme\nsql: SELECT 1\n",
            "x.yaml",
            Origin::User
        )
        .is_err());
        let e = parse_detection(
            "id: x\ntitle: t\nseverity: high\nsource: route53\nsql: SELECT 1\n",
            "x.yaml",
            Origin::User,
        )
        .unwrap_err();
        assert!(e.contains("unknown source 'route53'"), "{e}");
        assert!(Severity::High > Severity::Medium);
    }
}
