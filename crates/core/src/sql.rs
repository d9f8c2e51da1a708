//! Writing SQL text: the one place string literals are quoted.

/// A SQL string literal: `'` doubled, the whole wrapped in quotes.
pub fn quote(s: &str) -> String {
    format!("'{}'", escape(s))
}

/// The inside of a SQL string literal (for values spliced into a template
/// that already has the quotes).
pub fn escape(s: &str) -> String {
    s.replace('\'', "''")
}

/// Restrict the log tables a query reads to a time window, the way a
/// responder would by hand: a CTE named like the table shadows it, filtering
/// on the partition (so Athena prunes) and on the record time.
pub fn with_window(sql: &str, database: &str, since: Option<&str>, until: Option<&str>) -> String {
    with_window_in(sql, database, since, until, &|_| None)
}

/// A day (`YYYY-MM-DD…` or `YYYY/MM/DD`) written in a partition
/// projection's Java date pattern: `yyyy`, `MM` and `dd` are the date's,
/// text in single quotes is literal (`''` is a quote), anything else is
/// kept. `'year='yyyy'/month='MM'/day='dd` gives `year=2024/month=03/day=01`.
pub fn format_day(day: &str, pattern: &str) -> String {
    let d: Vec<&str> = day.get(..10).unwrap_or(day).split(['-', '/']).collect();
    let (y, m, dd) = match d.as_slice() {
        [y, m, dd] => (*y, *m, *dd),
        _ => return day.to_string(),
    };
    java_date_pattern(pattern, [y, m, dd], &|t| t.to_string())
}

/// A Java date pattern written out: `yyyy`, `MM` and `dd` become `fields`,
/// text in single quotes goes through `literal` (`''` is a quote), anything
/// else is kept.
pub(crate) fn java_date_pattern(
    pattern: &str,
    [y, m, d]: [&str; 3],
    literal: &dyn Fn(&str) -> String,
) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            let body = &rest[1..];
            if let Some(stripped) = body.strip_prefix('\'') {
                out.push('\'');
                rest = stripped;
                continue;
            }
            let end = body.find('\'').unwrap_or(body.len());
            out.push_str(&literal(&body[..end]));
            rest = body.get(end + 1..).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("yyyy") {
            out.push_str(y);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("MM") {
            out.push_str(m);
            rest = r;
        } else if let Some(r) = rest.strip_prefix("dd") {
            out.push_str(d);
            rest = r;
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// [`with_window`], with each table's date partition written in its
/// projection's format (`date_format` of a table; None: `yyyy/MM/dd`), as a
/// table over Hive-compatible flow-log keys needs.
pub fn with_window_in(
    sql: &str,
    database: &str,
    since: Option<&str>,
    until: Option<&str>,
    date_format: &dyn Fn(crate::tables::LogTable) -> Option<String>,
) -> String {
    with_window_named(sql, database, since, until, date_format, &|_| None)
}

/// [`with_window_in`], where a log table may be deployed under another Glue
/// name (`glue_name` of a table; None: its own): the query keeps naming
/// `cloudtrail`, a CTE of that name reads the deployed table.
pub fn with_window_named(
    sql: &str,
    database: &str,
    since: Option<&str>,
    until: Option<&str>,
    date_format: &dyn Fn(crate::tables::LogTable) -> Option<String>,
    glue_name: &dyn Fn(crate::tables::LogTable) -> Option<String>,
) -> String {
    let renamed = |t: crate::tables::LogTable| glue_name(t).filter(|n| n != t.name());
    let any_renamed = crate::tables::LogTable::ALL
        .into_iter()
        .any(|t| renamed(t).is_some() && mentions(sql, t.name()));
    if since.is_none() && until.is_none() && !any_renamed {
        return sql.to_string();
    }
    let mut ctes = vec![];
    for t in crate::tables::LogTable::ALL {
        let table = t.name();
        if !mentions(sql, table) {
            continue;
        }
        let source = renamed(t).unwrap_or_else(|| table.to_string());
        let pattern = date_format(t).unwrap_or_else(|| "yyyy/MM/dd".to_string());
        let day = |s: &str| format_day(s, &pattern);
        use crate::tables::TimeFormat;
        let col = quote_col(t.time_column());
        let epoch = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|d| d.timestamp())
                .unwrap_or(0)
        };
        // The record time compared with a window bound, as the column holds it.
        let cmp = |op: &str, bound: &str| -> String {
            match t.time_format() {
                TimeFormat::Iso => format!("{col} {op} {}", quote(bound)),
                TimeFormat::EpochSeconds => format!("{col} {op} {}", epoch(bound)),
                TimeFormat::EpochMillis => format!("{col} {op} {}", epoch(bound) * 1000),
                TimeFormat::Clf => format!(
                    "date_parse(substr({col}, 1, 20), '%d/%b/%Y:%H:%i:%s') {op} from_iso8601_timestamp({})",
                    quote(bound)
                ),
            }
        };
        // S3 server access logs under the simple prefix have no date partition.
        let by_day = t != crate::tables::LogTable::S3Access;
        let mut preds = vec![];
        if let Some(s) = since {
            if by_day {
                preds.push(format!("date_partition >= '{}'", escape(&day(s))));
            }
            preds.push(cmp(">=", s));
        }
        if let Some(u) = until {
            if by_day {
                preds.push(format!("date_partition <= '{}'", escape(&day(u))));
            }
            preds.push(cmp("<", u));
        }
        let filter = if preds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", preds.join(" AND "))
        };
        ctes.push(format!(
            "{table} AS (SELECT * FROM \"{}\".\"{}\"{filter})",
            database.replace('"', "\"\""),
            source.replace('"', "\"\"")
        ));
    }
    if ctes.is_empty() {
        return sql.to_string();
    }
    let trimmed = sql.trim_start();
    let rest = trimmed
        .get(..4)
        .filter(|w| w.eq_ignore_ascii_case("with"))
        .map(|_| &trimmed[4..])
        .filter(|r| r.starts_with(|c: char| c.is_whitespace()));
    if let Some(rest) = rest {
        format!("WITH {},\n{}", ctes.join(",\n"), rest.trim_start())
    } else {
        format!("WITH {}\n{}", ctes.join(",\n"), trimmed)
    }
}

fn quote_col(c: &str) -> String {
    format!("\"{c}\"")
}

fn mentions(sql: &str, table: &str) -> bool {
    crate::queries::replace_table(sql, table, "\u{1}") != sql
}

/// `f` applied to the parts of `sql` outside single-quoted string literals
/// (a doubled `''` stays inside its literal); literals are kept as written.
pub fn outside_literals(sql: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_lit = false;
    for (i, part) in sql.split('\'').enumerate() {
        if i > 0 {
            out.push('\'');
        }
        if in_lit {
            out.push_str(part);
        } else {
            out.push_str(&f(part));
        }
        in_lit = !in_lit;
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes() {
        assert_eq!(super::quote("it's"), "'it''s'");
        assert_eq!(super::escape("a'b"), "a''b");
    }

    #[test]
    fn literals_are_left_alone() {
        let up = |s: &str| s.to_uppercase();
        assert_eq!(
            super::outside_literals("select 'it''s x' as y from t", up),
            "SELECT 'it''s x' AS Y FROM T"
        );
        assert_eq!(super::outside_literals("", up), "");
        assert_eq!(
            super::outside_literals("'unterminated", up),
            "'unterminated"
        );
    }

    #[test]
    fn windows_with_any_text() {
        let w = super::with_window(
            "-- détection é\nSELECT * FROM cloudtrail WHERE x = 'ü'",
            "db",
            Some("2024-05-01T00:00:00Z"),
            None,
        );
        assert!(w.starts_with("WITH cloudtrail AS"), "{w}");
        assert_eq!(super::with_window("é", "db", Some("é"), Some("ü")), "é");
    }

    #[test]
    fn days_in_a_projection_pattern() {
        assert_eq!(
            super::format_day("2024-03-01T00:00:00Z", "yyyy/MM/dd"),
            "2024/03/01"
        );
        assert_eq!(
            super::format_day("2024/03/01", "'year='yyyy'/month='MM'/day='dd"),
            "year=2024/month=03/day=01"
        );
        let w = super::with_window_in(
            "SELECT * FROM vpcflow",
            "db",
            Some("2024-03-01T00:00:00Z"),
            None,
            &|_| Some("'year='yyyy'/month='MM'/day='dd".into()),
        );
        assert!(
            w.contains("date_partition >= 'year=2024/month=03/day=01'"),
            "{w}"
        );
    }

    /// A table deployed under another name (`analytics deploy
    /// --cloudtrail-table trail`) is read through a CTE of the log table's
    /// name, with the window or without one.
    #[test]
    fn a_renamed_table_is_read_under_its_deployed_name() {
        let name = |t: crate::tables::LogTable| {
            (t == crate::tables::LogTable::CloudTrail).then(|| "org_trail".to_string())
        };
        let sql = "SELECT eventname FROM cloudtrail WHERE errorcode IS NULL";
        let w = super::with_window_named(
            sql,
            "db",
            Some("2024-03-01T00:00:00Z"),
            None,
            &|_| None,
            &name,
        );
        assert!(w.starts_with("WITH cloudtrail AS (SELECT * FROM \"db\".\"org_trail\" WHERE date_partition >= '2024/03/01'"), "{w}");
        assert!(w.ends_with(sql), "{w}");
        let w = super::with_window_named(sql, "db", None, None, &|_| None, &name);
        assert_eq!(
            w,
            format!("WITH cloudtrail AS (SELECT * FROM \"db\".\"org_trail\")\n{sql}")
        );
        // Not renamed, no window: unchanged.
        assert_eq!(
            super::with_window_named(sql, "db", None, None, &|_| None, &|_| None),
            sql
        );
        let flows = "SELECT * FROM vpcflow";
        assert_eq!(
            super::with_window_named(flows, "db", None, None, &|_| None, &name),
            flows
        );
    }
}
