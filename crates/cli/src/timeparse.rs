//! `--since/--until`: RFC 3339 (or a bare date) or a relative span back from
//! now (`30m`, `12h`, `7d`, `2w`), as canonical CloudTrail time text.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};

pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<String, String> {
    let t = s.trim();
    if let Some(n) = t.strip_suffix(['m', 'h', 'd', 'w']) {
        if let Ok(n) = n.parse::<i64>() {
            let d = match t.chars().last() {
                Some('m') => Duration::minutes(n),
                Some('h') => Duration::hours(n),
                Some('d') => Duration::days(n),
                _ => Duration::weeks(n),
            };
            return Ok(canonical(now - d));
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        return Ok(canonical(dt.with_timezone(&Utc)));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(canonical(
            d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
        ));
    }
    Err(format!("invalid time '{s}': use RFC 3339 (2024-05-01T00:00:00Z), a date (2024-05-01) or a span back from now (30m, 12h, 7d, 2w)"))
}

pub fn canonical(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let now = DateTime::parse_from_rfc3339("2024-05-10T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_time("7d", now).unwrap(), "2024-05-03T12:00:00Z");
        assert_eq!(parse_time("12h", now).unwrap(), "2024-05-10T00:00:00Z");
        assert_eq!(
            parse_time("2024-05-01T01:02:03+01:00", now).unwrap(),
            "2024-05-01T00:02:03Z"
        );
        assert_eq!(
            parse_time("2024-05-01", now).unwrap(),
            "2024-05-01T00:00:00Z"
        );
        assert!(parse_time("yesterday", now).is_err());
    }
}
