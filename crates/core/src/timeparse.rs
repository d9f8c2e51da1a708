//! `--since/--until`: RFC 3339 (or a bare date) or a relative span back from
//! now (`30m`, `12h`, `7d`, `2w`), as canonical CloudTrail time text.

use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};

pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<String, String> {
    let t = s.trim();
    if let Some(n) = t.strip_suffix(['m', 'h', 'd', 'w']) {
        if let Ok(n) = n.parse::<i64>() {
            // Checked: a span of a billion weeks is an error, not a panic.
            let d = match t.chars().last() {
                Some('m') => Duration::try_minutes(n),
                Some('h') => Duration::try_hours(n),
                Some('d') => Duration::try_days(n),
                _ => Duration::try_weeks(n),
            };
            return d
                .and_then(|d| now.checked_sub_signed(d))
                .filter(in_range)
                .map(canonical)
                .ok_or_else(|| format!("invalid time '{s}': the span is out of range"));
        }
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
        let dt = dt.with_timezone(&Utc);
        if !in_range(&dt) {
            return Err(format!("invalid time '{s}': years 0001 to 9999 only"));
        }
        return Ok(canonical(dt));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let dt = d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        if !in_range(&dt) {
            return Err(format!("invalid time '{s}': years 0001 to 9999 only"));
        }
        return Ok(canonical(dt));
    }
    Err(format!("invalid time '{s}': use RFC 3339 (2024-05-01T00:00:00Z), a date (2024-05-01) or a span back from now (30m, 12h, 7d, 2w)"))
}

/// Times whose canonical text is RFC 3339 (a four-digit year), so that
/// text comparisons with record times stay meaningful.
fn in_range(t: &DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (1..=9999).contains(&t.year())
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
        for huge in [
            "9999999999999999m",
            "-9999999999999999w",
            "9223372036854775807h",
            "30é",
        ] {
            assert!(parse_time(huge, now).is_err(), "{huge}");
        }
    }
}
