//! A reader for space-delimited access logs (S3 server access logs, load
//! balancer access logs), driven by a field list.
//!
//! One [`TextFormat`] is at once the table's columns ([`table_def`]), the
//! tokenizer of the local reader ([`TextReader`]) and the `input.regex` of
//! the Athena table ([`athena_regex`]): a field is bare (up to the next
//! space), quoted (`"…"`, backslash escapes kept as written) or bracketed
//! (`[…]`), and `-` (or `"-"`) is NULL in both. Fields past `required` may
//! be missing (lines written before AWS added them); fields past the list
//! (added after this list was written) are ignored.

use arrow_schema::SchemaRef;

use crate::cloudtrail::{FileOutcome, Problem, ReadOptions};
use crate::flow::{
    builders, finish, in_window, past_record_cap, projected, read_decompressed, LogReader, Output,
};
use crate::layout::Partitions;
use crate::table::{ColType, Column, Partition, TableDef};

use super::{partition_from_record, Fallback, TimeFormat};

/// How a field is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// Up to the next space.
    Bare,
    /// `"…"` (or a bare `-`).
    Quoted,
    /// `[…]`.
    Bracketed,
    /// `host:port`, two columns: this field's name and the given port column.
    HostPort(&'static str),
    /// A quoted HTTP request line, three columns: this field's name (the
    /// method), then the URL and protocol columns given.
    Request(&'static str, &'static str),
}

/// The type of a field's column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    BigInt,
    Float,
}

impl Ty {
    fn col_type(self) -> ColType {
        match self {
            Ty::Str => ColType::String,
            Ty::Int => ColType::Int,
            Ty::BigInt => ColType::BigInt,
            Ty::Float => ColType::Float,
        }
    }
}

/// One field of a line.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub tok: Tok,
}

pub const fn f(name: &'static str, ty: Ty, tok: Tok) -> Field {
    Field { name, ty, tok }
}

/// What a line is, judged by its first two tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A line of this table.
    Mine,
    /// A line of a sibling table over the same files (another load balancer
    /// type): that table reads it, this one skips it.
    Sibling,
    /// A line of a log no table reads: reported once per file with a count.
    Unread(&'static str),
    /// Not a line of this family: reported as a bad line.
    Foreign,
}

/// A space-delimited log format.
#[derive(Debug)]
pub struct TextFormat {
    pub table: &'static str,
    pub description: &'static str,
    pub fields: &'static [Field],
    /// Fields every line has; the others may be missing at the end.
    pub required: usize,
    /// Partition columns with their descriptions.
    pub partitions: &'static [(&'static str, &'static str)],
    /// Partition values of a file outside the S3 layout.
    pub fallback: &'static [(&'static str, Fallback)],
    /// The field holding the time, and how it is written.
    pub time_field: &'static str,
    pub time: TimeFormat,
    /// Which lines are this table's.
    pub shape: fn(&str, &str) -> Shape,
    /// Athena patterns (one group each) of the first fields, where a
    /// folder holds sibling formats: the same test as `shape`.
    pub lead: &'static [&'static str],
}

/// Every line is the table's.
pub fn any_line(_: &str, _: &str) -> Shape {
    Shape::Mine
}

/// The columns of a format, in field order (a field with a port or a request
/// line gives two or three columns).
pub fn columns(fmt: &TextFormat) -> Vec<Column> {
    let mut out = vec![];
    for fd in fmt.fields {
        out.push(Column::new(fd.name, fd.name, fd.ty.col_type()));
        match fd.tok {
            Tok::HostPort(port) => out.push(Column::new(port, port, ColType::Int)),
            Tok::Request(url, proto) => {
                out.push(Column::new(url, url, ColType::String));
                out.push(Column::new(proto, proto, ColType::String));
            }
            _ => {}
        }
    }
    out
}

/// The table a format defines.
pub fn table_def(fmt: &TextFormat) -> TableDef {
    TableDef {
        name: fmt.table,
        description: fmt.description,
        columns: columns(fmt),
        partitions: fmt
            .partitions
            .iter()
            .map(|(name, description)| Partition { name, description })
            .collect(),
    }
}

/// The RegexSerDe `input.regex` of a format: one group per column, `-` as
/// no group (NULL), the optional fields nested at the end, and any later
/// fields accepted.
pub fn athena_regex(fmt: &TextFormat) -> String {
    const BARE: &str = "(?:-(?= |$)|([^ ]*))";
    // Numbers are matched as numbers: a line with text where a number goes
    // matches nothing (a NULL row on Athena), as the reader skips it.
    const INT: &str = "(?:-(?= |$)|(-?[0-9]+)(?= |$))";
    const FLOAT: &str = "(?:-(?= |$)|(-?[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?)(?= |$))";
    let one = |fd: &Field| -> String {
        match fd.tok {
            Tok::Bare if matches!(fd.ty, Ty::Int | Ty::BigInt) => INT.to_string(),
            Tok::Bare if fd.ty == Ty::Float => FLOAT.to_string(),
            Tok::Bare => BARE.to_string(),
            Tok::Quoted => r#"(?:"-"|"((?:[^"\\]|\\.)*)"|-(?= |$))"#.to_string(),
            Tok::Bracketed => r"(?:\[([^\]]*)\]|-(?= |$))".to_string(),
            // host:port split at the last colon before a numeric port; a
            // port that is not a number matches nothing.
            Tok::HostPort(_) => {
                r"(?:-(?= |$)|((?:[^ ]*(?=:[0-9]+(?: |$))|[^ :]*))(?::([0-9]+))?(?= |$))"
                    .to_string()
            }
            Tok::Request(_, _) => r#"(?:"-"|"- - - ?"|"([^ "]*) ([^"]*) ([^ "]*)")"#.to_string(),
        }
    };
    let mut re = String::from("^");
    for (i, fd) in fmt.fields.iter().enumerate() {
        if i > 0 && i < fmt.required {
            re.push(' ');
        }
        if i < fmt.lead.len() {
            // The first fields tell sibling formats apart in a shared folder:
            // a line of another format matches no table but its own.
            re.push_str(fmt.lead[i]);
        } else if i < fmt.required {
            re.push_str(&one(fd));
        } else {
            re.push_str("(?: ");
            re.push_str(&one(fd));
        }
    }
    for _ in fmt.required..fmt.fields.len() {
        re.push_str(")?");
    }
    // Fields AWS adds later are accepted, if they are whole: a line cut
    // inside a quote matches nothing, as the reader skips it.
    re.push_str(r#"(?: (?:[^ "]+|"(?:[^"\\]|\\.)*")(?: (?:[^ "]+|"(?:[^"\\]|\\.)*"))*)?$"#);
    re
}

/// One token of a line: its text (`None` for `-`) and where the next starts;
/// `Err` for a quote or bracket that is never closed (a cut line).
fn token(line: &str, at: usize, tok: Tok) -> Option<Result<(Option<&str>, usize), ()>> {
    let b = line.as_bytes();
    let mut i = at;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    if i >= b.len() {
        return None;
    }
    let closing = match (tok, b[i]) {
        (Tok::Quoted | Tok::Request(..), b'"') => Some(b'"'),
        (Tok::Bracketed, b'[') => Some(b']'),
        _ => None,
    };
    if let Some(close) = closing {
        let start = i + 1;
        let mut j = start;
        while j < b.len() && b[j] != close {
            if b[j] == b'\\' && close == b'"' {
                j += 1;
            }
            j += 1;
        }
        if j >= b.len() {
            return Some(Err(()));
        }
        let v = &line[start..j];
        return Some(Ok(((v != "-").then_some(v), j + 1)));
    }
    let end = memchr::memchr(b' ', &b[i..])
        .map(|o| i + o)
        .unwrap_or(b.len());
    let v = &line[i..end];
    Some(Ok(((v != "-").then_some(v), end)))
}

/// The method, URL and protocol of a request line (`GET http://h/ HTTP/1.1`).
/// A TCP listener's `- - - ` has no request: three NULLs.
fn split_request(r: &str) -> (Option<&str>, Option<&str>, Option<&str>) {
    if r.trim_end() == "- - -" {
        return (None, None, None);
    }
    match (r.find(' '), r.rfind(' ')) {
        (Some(a), Some(z)) if z > a => (Some(&r[..a]), Some(&r[a + 1..z]), Some(&r[z + 1..])),
        _ => (None, Some(r), None),
    }
}

/// A decimal number as AWS writes them: digits, a sign, a point, an
/// exponent (never `NaN` or `inf`).
fn is_number(s: &str, float: bool) -> bool {
    let digits = s.bytes().any(|b| b.is_ascii_digit());
    if float {
        digits
            && s.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            && s.parse::<f64>().is_ok_and(f64::is_finite)
    } else {
        digits && s.parse::<i64>().is_ok()
    }
}

/// Reads one [`TextFormat`] into batches of its table.
pub struct TextReader {
    fmt: &'static TextFormat,
    table: TableDef,
    out_schema: SchemaRef,
    outputs: Vec<Output>,
    opts: ReadOptions,
    i_time: usize,
}

impl TextReader {
    pub fn new(fmt: &'static TextFormat, opts: ReadOptions) -> Self {
        let table = table_def(fmt);
        let (out_schema, outputs) = projected(&table, opts.projection.as_ref());
        let i_time = table
            .columns
            .iter()
            .position(|c| c.name == fmt.time_field)
            .expect("the time field is a column");
        TextReader {
            fmt,
            table,
            out_schema,
            outputs,
            opts,
            i_time,
        }
    }

    /// Read decompressed text.
    pub fn read_text(&self, data: &[u8], partitions: Option<&Partitions>) -> FileOutcome {
        let mut out = FileOutcome::default();
        let mut builders = builders(&self.table, &self.outputs);
        let ncols = self.table.columns.len();
        let mut vals: Vec<Option<&str>> = Vec::with_capacity(ncols);
        let mut rows = 0usize;
        let mut offset = 0usize;
        let mut line_no = 0usize;
        let mut unread: Option<(&'static str, usize)> = None;
        while offset < data.len() {
            let end = memchr::memchr(b'\n', &data[offset..])
                .map(|o| offset + o)
                .unwrap_or(data.len());
            let start = offset;
            offset = end + 1;
            line_no += 1;
            if past_record_cap(&mut out, rows, data, start) {
                break;
            }
            let mut raw = &data[start..end];
            if raw.last() == Some(&b'\r') {
                raw = &raw[..raw.len() - 1];
            }
            if raw.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let problem = |msg: String| Problem {
                offset: Some(start),
                record: None,
                message: format!("line {line_no}: {msg}"),
            };
            let Ok(line) = std::str::from_utf8(raw) else {
                out.record_problem_with(|| problem("not UTF-8".into()));
                continue;
            };
            let mut first = line.split(' ').filter(|s| !s.is_empty());
            let (t0, t1) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
            match (self.fmt.shape)(t0, t1) {
                Shape::Mine => {}
                Shape::Sibling => continue,
                Shape::Unread(what) => {
                    unread.get_or_insert((what, 0)).1 += 1;
                    continue;
                }
                Shape::Foreign => {
                    out.record_problem_with(|| {
                        problem(format!("not a line of the {} table", self.fmt.table))
                    });
                    continue;
                }
            }
            vals.clear();
            let mut at = 0usize;
            let mut bad: Option<String> = None;
            for (i, fd) in self.fmt.fields.iter().enumerate() {
                let (v, next) = match token(line, at, fd.tok) {
                    Some(Ok(t)) => t,
                    Some(Err(())) => {
                        bad = Some(format!("field {} has no closing quote", fd.name));
                        break;
                    }
                    None => {
                        if i < self.fmt.required {
                            bad = Some(format!(
                                "{i} fields where at least {} are expected",
                                self.fmt.required
                            ));
                        }
                        break;
                    }
                };
                at = next;
                if let (Some(s), Ty::Int | Ty::BigInt | Ty::Float) = (v, fd.ty) {
                    if !is_number(s, fd.ty == Ty::Float) {
                        bad = Some(format!("field {} is not a number", fd.name));
                        break;
                    }
                }
                match fd.tok {
                    Tok::HostPort(port_col) => {
                        let (host, port) = match v.and_then(|s| s.rfind(':').map(|c| (s, c))) {
                            Some((s, c)) => (Some(&s[..c]), Some(&s[c + 1..])),
                            None => (v, None),
                        };
                        if port.is_some_and(|p| !p.is_empty() && !is_number(p, false)) {
                            bad = Some(format!("field {port_col} is not a number"));
                            break;
                        }
                        vals.push(host.filter(|h| !h.is_empty()));
                        vals.push(port.filter(|p| !p.is_empty()));
                    }
                    Tok::Request(..) => {
                        let (m, u, p) = match v {
                            Some(r) => split_request(r),
                            None => (None, None, None),
                        };
                        vals.extend([m, u, p]);
                    }
                    _ => vals.push(v),
                }
            }
            if let Some(msg) = bad {
                out.record_problem_with(|| problem(msg));
                continue;
            }
            vals.resize(ncols, None);
            let time = vals[self.i_time].and_then(|t| self.fmt.time.canonical(t));
            if !in_window(&self.opts, time.as_deref()) {
                out.filtered += 1;
                continue;
            }
            let col = |name: &str| -> Option<&str> {
                self.table
                    .columns
                    .iter()
                    .position(|c| c.name == name)
                    .and_then(|i| vals[i])
            };
            for (b, o) in builders.iter_mut().zip(&self.outputs) {
                match o {
                    Output::Column(ci) => b.append_opt_str(vals[*ci]),
                    Output::Partition(name) => {
                        let v: Option<String> = match partitions {
                            Some(p) => p.value(name).map(String::from),
                            None => partition_from_record(
                                name,
                                self.fmt.fallback,
                                time.as_deref(),
                                |c| col(c).map(String::from),
                            ),
                        };
                        b.append_opt_str(v.as_deref());
                    }
                }
            }
            rows += 1;
        }
        if let Some((what, n)) = unread {
            out.record_problem(Problem {
                offset: None,
                record: None,
                message: format!("{n} {what} line(s) skipped: no irprep table reads them"),
            });
        }
        out.events = rows;
        out.batch = Some(finish(&self.out_schema, &mut builders, rows));
        out
    }
}

impl LogReader for TextReader {
    fn read_file(
        &self,
        raw: &[u8],
        partitions: Option<&Partitions>,
        buf: &mut Vec<u8>,
        d: &mut crate::decompress::Inflater,
    ) -> FileOutcome {
        read_decompressed(raw, buf, d, |text| self.read_text(text, partitions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_their_kind() {
        let l = r#"a "b \" c" [d e] - "-" x:1"#;
        let t = |at, tok| token(l, at, tok).unwrap().unwrap();
        let (v, n) = t(0, Tok::Bare);
        assert_eq!(v, Some("a"));
        let (v, n) = t(n, Tok::Quoted);
        assert_eq!(v, Some(r#"b \" c"#));
        let (v, n) = t(n, Tok::Bracketed);
        assert_eq!(v, Some("d e"));
        let (v, n) = t(n, Tok::Quoted);
        assert_eq!(v, None);
        let (v, n) = t(n, Tok::Quoted);
        assert_eq!(v, None);
        let (v, n) = t(n, Tok::HostPort("p"));
        assert_eq!(v, Some("x:1"));
        assert!(token(l, n, Tok::Bare).is_none());
        // A quote never closed is a cut line, not a value.
        assert!(token(r#""abc"#, 0, Tok::Quoted).unwrap().is_err());
        assert!(token("\"ab\\", 0, Tok::Quoted).unwrap().is_err());
        assert!(!is_number("NaN", true) && !is_number("inf", true) && is_number("-1", true));
    }

    #[test]
    fn request_lines_split_like_the_athena_regex() {
        assert_eq!(
            split_request("GET http://h:80/a b HTTP/1.1"),
            (Some("GET"), Some("http://h:80/a b"), Some("HTTP/1.1"))
        );
        assert_eq!(split_request("- - - "), (None, None, None));
        assert_eq!(
            split_request("- http://h:80-/ "),
            (Some("-"), Some("http://h:80-/"), Some(""))
        );
    }
}
