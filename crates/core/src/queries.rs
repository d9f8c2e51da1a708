//! Investigation queries: named Athena SQL with parameters (`{{name}}`),
//! compiled into the binary from `content/queries/`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Param {
    #[serde(default)]
    pub default: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvestigationQuery {
    pub name: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "ct")]
    pub table: String,
    #[serde(default)]
    pub params: BTreeMap<String, Param>,
    pub sql: String,
}

fn ct() -> String {
    "cloudtrail".into()
}

/// Parameters that go into SQL unquoted and must be plain numbers.
const NUMERIC: [&str; 3] = ["limit", "days", "hours"];

impl InvestigationQuery {
    /// The SQL with parameters substituted (defaults, overridden by `values`).
    /// Values are escaped for the string literals they sit in; numeric
    /// parameters must be non-negative integers. `table` renames the table.
    pub fn render(
        &self,
        values: &BTreeMap<String, String>,
        table: Option<&str>,
    ) -> Result<String, String> {
        self.render_in(values, table, None)
    }

    /// [`render`](Self::render) for a table whose date partition is written
    /// in the projection pattern `date_format` (Glue's
    /// `projection.date_partition.format`; None: `yyyy/MM/dd`), as a table
    /// over Hive-compatible flow-log keys (`year=…/month=…/day=…`) is: a
    /// day given to a `*_date` parameter, and the `'%Y/%m/%d'` of a
    /// relative date, are written in that pattern.
    pub fn render_in(
        &self,
        values: &BTreeMap<String, String>,
        table: Option<&str>,
        date_format: Option<&str>,
    ) -> Result<String, String> {
        let pattern = date_format.filter(|p| *p != DEFAULT_DAY);
        for k in values.keys() {
            if !self.params.contains_key(k) {
                return Err(format!(
                    "query {} has no parameter '{k}' (it has: {})",
                    self.name,
                    self.params.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        let mut sql = self.sql.clone();
        for (k, p) in &self.params {
            let v = values.get(k).unwrap_or(&p.default);
            if NUMERIC.contains(&k.as_str()) && !v.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "parameter {k} must be a non-negative integer, got '{v}'"
                ));
            }
            let v = match pattern {
                Some(p) if k.ends_with("_date") && is_day(v) => crate::sql::format_day(v, p),
                _ => v.to_string(),
            };
            sql = sql.replace(&format!("{{{{{k}}}}}"), &crate::sql::escape(&v));
        }
        if let Some(p) = pattern {
            sql = sql.replace("'%Y/%m/%d'", &format!("'{}'", date_format_pattern(p)));
        }
        if let Some(t) = table {
            let ident = |p: &str| {
                p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            };
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() > 2 || !parts.iter().all(|p| ident(p)) {
                return Err(format!(
                    "table name '{t}' must be an identifier or database.table (letters, digits, _)"
                ));
            }
            sql = replace_table(&sql, &self.table, t);
        }
        Ok(sql)
    }
}

/// The date partition's pattern in the default layout.
const DEFAULT_DAY: &str = "yyyy/MM/dd";

/// Whether a parameter's value is a day, `yyyy/MM/dd` or `yyyy-MM-dd`.
fn is_day(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'/' || *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// A projection's Java date pattern (`'year='yyyy'/month='MM'/day='dd`) as
/// the pattern of Athena's `date_format` (`year=%Y/month=%m/day=%d`):
/// quoted text is literal (a `%` in it doubled), `yyyy`, `MM` and `dd` are
/// the date's.
fn date_format_pattern(java: &str) -> String {
    crate::sql::java_date_pattern(java, ["%Y", "%m", "%d"], &|t| t.replace('%', "%%"))
        .replace('\'', "''")
}

/// Replace whole-word occurrences of a table name (outside string literals).
pub fn replace_table(sql: &str, from: &str, to: &str) -> String {
    // An empty name matches nowhere (it would match between every two
    // characters without advancing: found by fuzzing).
    if from.is_empty() {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len());
    let b = sql.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            in_str = !in_str;
            out.push('\'');
            i += 1;
            continue;
        }
        // A comment is copied as it is (an apostrophe in it opens no string).
        if !in_str && b[i..].starts_with(b"--") {
            let end = b[i..]
                .iter()
                .position(|&x| x == b'\n')
                .map_or(b.len(), |p| i + p);
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        if !in_str && b[i..].starts_with(b"/*") {
            let end = sql[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 2);
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        // Bytes, not text slices: `i + from.len()` may fall inside a
        // character of the query.
        if !in_str
            && b.len() - i >= from.len()
            && b[i..i + from.len()].eq_ignore_ascii_case(from.as_bytes())
        {
            let before = i == 0
                || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.');
            let j = i + from.len();
            let after = j >= b.len() || !(b[j].is_ascii_alphanumeric() || b[j] == b'_');
            if before && after {
                out.push_str(to);
                i = j;
                continue;
            }
        }
        let ch = sql[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The built-in investigation queries.
pub fn builtin() -> Result<Vec<InvestigationQuery>, String> {
    let mut out = vec![];
    for (path, text) in crate::content::QUERIES {
        let q: InvestigationQuery =
            serde_yaml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
        out.push(q);
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_replaced_in_any_text() {
        assert_eq!(
            replace_table(
                "SELECT 'cloudtrail' FROM cloudtrai\u{3a9} JOIN cloudtrail",
                "cloudtrail",
                "t"
            ),
            "SELECT 'cloudtrail' FROM cloudtrai\u{3a9} JOIN t"
        );
        assert_eq!(
            replace_table("cloudtrai\u{e9}", "cloudtrail", "t"),
            "cloudtrai\u{e9}"
        );
    }

    #[test]
    fn an_empty_name_replaces_nothing() {
        assert_eq!(replace_table("SELECT 1 FROM t", "", "x"), "SELECT 1 FROM t");
        // An apostrophe in a comment opens no string literal.
        assert_eq!(
            replace_table(
                "-- the key's owner\nSELECT 1 FROM cloudtrail /* it's */ JOIN cloudtrail",
                "cloudtrail",
                "t"
            ),
            "-- the key's owner\nSELECT 1 FROM t /* it's */ JOIN t"
        );
    }

    #[test]
    fn dates_are_written_in_a_hive_table_s_own_form() {
        const HIVE: &str = "'year='yyyy'/month='MM'/day='dd";
        let day = regex::Regex::new(r"'[0-9]{4}/[0-9]{2}/[0-9]{2}'").unwrap();
        let mut dated = 0;
        for q in builtin().unwrap().iter().filter(|q| q.table == "vpcflow") {
            let plain = q.render(&BTreeMap::new(), None).unwrap();
            let hive = q.render_in(&BTreeMap::new(), None, Some(HIVE)).unwrap();
            if plain == hive {
                assert!(
                    !day.is_match(&plain) && !plain.contains("'%Y/%m/%d'"),
                    "{}",
                    q.name
                );
                continue;
            }
            dated += 1;
            assert!(!day.is_match(&hive), "{}: {hive}", q.name);
            assert!(!hive.contains("'%Y/%m/%d'"), "{}", q.name);
            assert!(hive.contains("'year="), "{}: {hive}", q.name);
        }
        assert!(dated >= 14, "{dated} dated flow-log queries");
        let q = builtin()
            .unwrap()
            .into_iter()
            .find(|q| q.name == "vpcflow-preview-date-range")
            .unwrap();
        let values = BTreeMap::from([("start_date".to_string(), "2026-12-01".to_string())]);
        let sql = q.render_in(&values, None, Some(HIVE)).unwrap();
        assert!(
            sql.contains("BETWEEN 'year=2026/month=12/day=01' AND 'year=2024/month=03/day=31'"),
            "{sql}"
        );
        // The default layout is left as written.
        assert_eq!(
            q.render_in(&BTreeMap::new(), None, Some(DEFAULT_DAY)),
            q.render(&BTreeMap::new(), None)
        );
        assert_eq!(date_format_pattern(HIVE), "year=%Y/month=%m/day=%d");
        assert_eq!(date_format_pattern("'100%'yyyy"), "100%%%Y");
        let q = builtin()
            .unwrap()
            .into_iter()
            .find(|q| q.name == "vpcflow-preview-relative-date")
            .unwrap();
        let sql = q.render_in(&BTreeMap::new(), None, Some(HIVE)).unwrap();
        assert!(sql.contains("'year=%Y/month=%m/day=%d'"), "{sql}");
    }

    #[test]
    fn table_names_are_identifiers() {
        let q = &builtin().unwrap()[0];
        assert!(q.render(&BTreeMap::new(), Some("sec.trail_2")).is_ok());
        for bad in ["x; DROP TABLE y", "a.b.c", "1abc", "", "t--", "t\"x"] {
            assert!(q.render(&BTreeMap::new(), Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn loads_and_renders() {
        let qs = builtin().unwrap();
        assert!(qs.len() >= 12);
        let q = qs
            .iter()
            .find(|q| q.name == "cloudtrail-user-login-summary")
            .unwrap();
        let mut v = BTreeMap::new();
        v.insert("accounts".to_string(), "1'2".to_string());
        let sql = q.render(&v, Some("my_trail")).unwrap();
        assert!(sql.contains("'1''2'"));
        assert!(sql.contains("FROM my_trail"));
        assert!(!sql.contains("{{"));
        v.insert("nope".into(), "x".into());
        assert!(q.render(&v, None).is_err());
        assert_eq!(
            replace_table(
                "SELECT 'cloudtrail' FROM cloudtrail c, x.cloudtrail",
                "cloudtrail",
                "t"
            ),
            "SELECT 'cloudtrail' FROM t c, x.cloudtrail"
        );
    }
}
