//! SigmaHQ rules for CloudTrail, compiled to the same Athena SQL as the
//! catalogue's own detections.
//!
//! Supported: `logsource: {product: aws, service: cloudtrail}`; selections as
//! maps (AND) or lists of maps (OR); value lists (OR); modifiers `contains`,
//! `startswith`, `endswith`, `all`, `re`, `cidr`, `exists`, `fieldref`;
//! wildcards `*` `?`; `null`; conditions with `and`, `or`, `not`, parentheses,
//! `1 of X*`, `all of X*`, `1 of them`, `all of them`. Field paths follow the
//! record: `eventName` → `eventname`, `userIdentity.arn` → `useridentity.arn`,
//! `requestParameters.x.y` → every value at that path, compared element by
//! element (a key through an array reaches each element; see
//! `field_leaves`). Matching is case-insensitive, as Sigma's.
//! Correlation rules (`event_count`, `value_count`, `temporal`,
//! `temporal_ordered`) over rules named by `name` or `id`: see
//! [`correlation`]. Anything else makes the rule *skipped with a reason*,
//! never silently dropped.

use std::path::Path;

use serde_yaml::Value;

use crate::detect::{Catalogue, Detection, Origin, Severity, Skipped, Tests};
use crate::table::{self, ColType, Column};

pub mod correlation;

/// One document of a rule file, compiled.
#[derive(Debug, Clone)]
pub(crate) enum Compiled {
    /// A detection rule: the detection, its `name` (by which correlations
    /// may refer to it) and its condition as a SQL predicate.
    Rule {
        det: Detection,
        name: Option<String>,
        filter: String,
    },
    /// A correlation rule, resolved once every rule it may name is known.
    Correlation(correlation::Correlation),
}

type Refused = (String, String);

/// Every document of one file, compiled or refused (not yet resolved).
fn compile_docs(text: &str, path: &str) -> Vec<Result<Compiled, Refused>> {
    use serde::Deserialize;
    let mut out = vec![];
    for d in serde_yaml::Deserializer::from_str(text) {
        match Value::deserialize(d) {
            Ok(Value::Null) => {}
            Ok(doc) => out.push(compile_doc(doc, path)),
            Err(e) => {
                out.push(Err((String::new(), format!("invalid YAML: {e}"))));
                break;
            }
        }
        if out.len() > 1000 {
            out.push(Err((
                String::new(),
                "more than 1000 documents in one file".into(),
            )));
            break;
        }
    }
    if out.is_empty() {
        out.push(Err((String::new(), "empty file".into())));
    }
    out
}

/// Every document of a rule file, each compiled or refused with its id and
/// the reason. Correlations are resolved against the rules of the same file;
/// a rule a correlation uses without `generate: true` is not reported alone.
pub fn compile_all(text: &str, path: &str) -> Vec<Result<Detection, (String, String)>> {
    correlation::resolve(
        compile_docs(text, path)
            .into_iter()
            .map(|r| (path.to_string(), r))
            .collect(),
    )
    .into_iter()
    .map(|(_, r)| r)
    .collect()
}

/// Compile a Sigma rule to a detection, or say why it cannot be (the first
/// document of the file; see [`compile_all`] for the others).
pub fn compile(text: &str, path: &str) -> Result<Detection, (String, String)> {
    compile_all(text, path)
        .into_iter()
        .next()
        .unwrap_or_else(|| Err((String::new(), "empty file".into())))
}

/// The metadata every Sigma document shares: title, description, level,
/// ATT&CK tags, false positives, references.
pub(crate) fn metadata(doc: &Value, sid: &str, path: &str, sql: String) -> Detection {
    let level = doc.get("level").and_then(Value::as_str).unwrap_or("medium");
    let severity = Severity::parse(level).unwrap_or(Severity::Medium);
    let mut attack = vec![];
    let mut tactics = vec![];
    if let Some(tags) = doc.get("tags").and_then(Value::as_sequence) {
        for t in tags.iter().filter_map(Value::as_str) {
            if let Some(rest) = t.strip_prefix("attack.") {
                // `t1562.008`: a technique (bytes, not slices: a tag is any text).
                if rest.starts_with('t') && rest.as_bytes().get(1).is_some_and(u8::is_ascii_digit) {
                    attack.push(rest.to_uppercase());
                } else {
                    tactics.push(rest.to_string());
                }
            }
        }
    }
    let list = |k: &str| -> Vec<String> {
        doc.get(k)
            .and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Detection {
        id: format!("sigma.{sid}"),
        title: doc
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or(sid)
            .to_string(),
        description: doc
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_string(),
        severity,
        attack,
        tactics,
        source: "cloudtrail".into(),
        sql,
        false_positives: list("falsepositives"),
        references: list("references"),
        tests: Tests::default(),
        origin: Origin::Sigma,
        path: path.to_string(),
    }
}

fn compile_doc(doc: Value, path: &str) -> Result<Compiled, Refused> {
    let id = doc
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let sid = if id.is_empty() {
        Path::new(path)
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default()
    } else {
        id.clone()
    };
    let fail = |msg: String| (format!("sigma.{sid}"), msg);
    if let Some(c) = doc.get("correlation") {
        return correlation::parse(&doc, c, &sid, path)
            .map(Compiled::Correlation)
            .map_err(fail);
    }
    let ls = doc
        .get("logsource")
        .ok_or_else(|| fail("no logsource".into()))?;
    let product = ls.get("product").and_then(Value::as_str).unwrap_or("");
    let service = ls.get("service").and_then(Value::as_str).unwrap_or("");
    if !product.eq_ignore_ascii_case("aws") || !service.eq_ignore_ascii_case("cloudtrail") {
        return Err(fail(format!(
            "logsource {product}/{service} is not aws/cloudtrail"
        )));
    }
    let det = doc
        .get("detection")
        .and_then(Value::as_mapping)
        .ok_or_else(|| fail("no detection section".into()))?;
    if det.contains_key("timeframe") {
        return Err(fail("timeframe/aggregation is not supported".into()));
    }
    let cond = match det.get("condition") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Sequence(v)) if v.len() == 1 => v[0].as_str().unwrap_or("").to_string(),
        Some(Value::Sequence(_)) => {
            return Err(fail("multiple conditions are not supported".into()))
        }
        _ => return Err(fail("no condition".into())),
    };
    let mut selections: Vec<(String, String)> = vec![];
    for (k, v) in det {
        let Some(name) = k.as_str() else { continue };
        if name == "condition" {
            continue;
        }
        let sql = selection_sql(v).map_err(|e| fail(format!("selection '{name}': {e}")))?;
        selections.push((name.to_string(), sql));
    }
    let where_sql =
        condition_sql(&cond, &selections).map_err(|e| fail(format!("condition '{cond}': {e}")))?;
    let det = metadata(
        &doc,
        &sid,
        path,
        format!("SELECT eventid\nFROM cloudtrail\nWHERE {where_sql}"),
    );
    let name = doc.get("name").and_then(Value::as_str).map(String::from);
    Ok(Compiled::Rule {
        det,
        name,
        filter: where_sql,
    })
}

/// Add every Sigma rule (`*.yml`, `*.yaml`) under a directory. Correlation
/// rules may name rules of any file under it.
pub fn add_dir(c: &mut Catalogue, dir: &Path) -> Result<(), String> {
    let mut files = vec![];
    crate::detect::walk_yaml(dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
    files.sort();
    let mut docs = vec![];
    for f in files {
        let path = f.display().to_string();
        match std::fs::read_to_string(&f) {
            Ok(text) => docs.extend(
                compile_docs(&text, &path)
                    .into_iter()
                    .map(|r| (path.clone(), r)),
            ),
            Err(e) => c.skipped.push(Skipped {
                id: String::new(),
                origin: Origin::Sigma,
                path,
                reason: e.to_string(),
            }),
        }
    }
    for (path, r) in correlation::resolve(docs) {
        match r {
            Ok(d) if c.get(&d.id).is_some() => c.skipped.push(Skipped {
                id: d.id,
                origin: Origin::Sigma,
                path,
                reason: "duplicate id".into(),
            }),
            Ok(d) => c.detections.push(d),
            Err((id, reason)) => c.skipped.push(Skipped {
                id,
                origin: Origin::Sigma,
                path,
                reason,
            }),
        }
    }
    Ok(())
}

use crate::sql::quote as q;

/// Resolve a Sigma field path to a SQL expression over the table.
pub fn field_sql(field: &str) -> Result<String, String> {
    let t = table::cloudtrail();
    let mut parts = field.split('.');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let col = t
        .columns
        .iter()
        .find(|c| c.source_key.eq_ignore_ascii_case(head) || c.name.eq_ignore_ascii_case(head))
        .ok_or_else(|| format!("unknown CloudTrail field '{field}'"))?;
    match &col.ty {
        ColType::JsonText if !rest.is_empty() => {
            let path = format!("$.{}", rest.join("."));
            Ok(format!(
                "coalesce(json_extract_scalar({0}, {1}), json_format(json_extract({0}, {1})))",
                col.name,
                q(&path)
            ))
        }
        ColType::Struct(fields) if !rest.is_empty() => {
            let mut expr = col.name.to_string();
            let mut cur: &Vec<Column> = fields;
            for (i, seg) in rest.iter().enumerate() {
                let f = cur
                    .iter()
                    .find(|c| {
                        c.source_key.eq_ignore_ascii_case(seg) || c.name.eq_ignore_ascii_case(seg)
                    })
                    .ok_or_else(|| format!("unknown field '{field}'"))?;
                expr = format!("{expr}.{}", f.name);
                match &f.ty {
                    ColType::Struct(_) if i + 1 == rest.len() => {
                        return Err(format!(
                            "field '{field}' is an object; name a field inside it (comparing an object's text is not supported)"
                        ))
                    }
                    ColType::Struct(sub) => cur = sub,
                    ColType::JsonText if i + 1 < rest.len() => {
                        let path = format!("$.{}", rest[i + 1..].join("."));
                        return Ok(format!("json_extract_scalar({expr}, {})", q(&path)));
                    }
                    _ if i + 1 < rest.len() => {
                        return Err(format!("'{field}' goes below a scalar"))
                    }
                    _ => {}
                }
            }
            Ok(expr)
        }
        // A whole JSON field: its text with embedded JSON strings unescaped,
        // so `contains '"Allow"'` matches a policy document logged as a string.
        ColType::JsonText => Ok(format!("replace({}, '\\\"', '\"')", col.name)),
        ColType::Array(_) => Err(format!("field '{field}' is an array; not supported")),
        ColType::Struct(_) => Err(format!(
            "field '{field}' is an object; name a field inside it (comparing an object's text is not supported)"
        )),
        _ if !rest.is_empty() => Err(format!("'{field}' goes below a scalar")),
        _ => Ok(col.name.to_string()),
    }
}

/// For a field inside a JSON column (`requestParameters.a.b`), every value
/// at that path as an `array(varchar)`, element by element: a key applied
/// to an array reaches each of its elements (`ipPermissions.items.fromPort`),
/// an array at the end gives its elements (`layers`), so a comparison holds
/// when any element matches (Sigma's semantics for lists). Trino's lax
/// SQL/JSON path does the mapping; when the values are objects (no cast to
/// varchar), the node's JSON text is the one value. `None` for every other
/// field (compared as it is).
fn field_leaves(field: &str) -> Result<Option<String>, String> {
    let t = table::cloudtrail();
    let mut parts = field.split('.');
    let head = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let Some(col) = t
        .columns
        .iter()
        .find(|c| c.source_key.eq_ignore_ascii_case(head) || c.name.eq_ignore_ascii_case(head))
    else {
        return Ok(None);
    };
    if !matches!(col.ty, ColType::JsonText) || rest.is_empty() {
        return Ok(None);
    }
    if rest
        .iter()
        .any(|p| p.is_empty() || p.contains(['"', '\\', '\'']))
    {
        return Err(format!(
            "field '{field}': a path step is empty or holds a quote or backslash"
        ));
    }
    let path: String = rest.iter().map(|p| format!(".\"{p}\"")).collect();
    Ok(Some(format!(
        "coalesce(TRY(CAST(json_parse(json_query({c}, {all} WITH ARRAY WRAPPER)) AS ARRAY(VARCHAR))), ARRAY[json_query({c}, {one})])",
        c = col.name,
        all = q(&format!("lax ${path}[*]")),
        one = q(&format!("lax ${path}"))
    )))
}

fn like_pattern(v: &str, prefix: bool, suffix: bool) -> String {
    let mut p = String::new();
    if prefix {
        p.push('%');
    }
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*') | Some('?') | Some('\\')) => {
                let n = chars.next().unwrap_or('\\');
                p.push('\\');
                p.push(n);
            }
            // A lone backslash is itself (Sigma §Escaping): escaped for LIKE.
            '\\' => p.push_str("\\\\"),
            '*' => p.push('%'),
            '?' => p.push('_'),
            '%' | '_' => {
                p.push('\\');
                p.push(c);
            }
            c => p.push(c),
        }
    }
    if suffix {
        p.push('%');
    }
    p
}

fn scalar_text(v: &Value) -> Result<Option<String>, String> {
    Ok(match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => return Err("values must be scalars".into()),
    })
}

/// A Sigma value as the plain text it stands for: `\\` is one backslash,
/// `\*` and `\?` the characters themselves, any other backslash itself.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('*') | Some('?') | Some('\\')) {
            out.push(chars.next().unwrap_or('\\'));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `v` holds a wildcard that is not escaped.
fn has_wildcard(v: &str) -> bool {
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

fn value_sql(expr: &str, leaves: Option<&str>, mods: &[&str], v: &Value) -> Result<String, String> {
    let Some(text) = scalar_text(v)? else {
        return Ok(format!("{expr} IS NULL"));
    };
    let has = |m: &str| mods.contains(&m);
    if has("re") {
        // Flags as the pattern's inline group, which Rust and Trino both read.
        let flags: String = ["i", "m", "s"].iter().filter(|f| has(f)).copied().collect();
        let pattern = if flags.is_empty() {
            text.clone()
        } else {
            format!("(?{flags}){text}")
        };
        // The local engine's regex flavour: a pattern it cannot compile
        // (look-around, backreferences) is refused now, not at hunt time.
        regex::Regex::new(&pattern)
            .map_err(|e| format!("regular expression not supported: {e}"))?;
        return Ok(any_element(
            leaves,
            |x| format!("regexp_like({x}, {})", q(&pattern)),
            expr,
        ));
    }
    for f in ["i", "m", "s"] {
        if has(f) {
            return Err(format!("modifier '{f}' applies to re only"));
        }
    }
    if has("cidr") {
        // TRY: a value that is not an address (`AWS Internal`) does not match.
        return Ok(any_element(
            leaves,
            |x| format!("contains({}, TRY(CAST({x} AS IPADDRESS)))", q(&text)),
            expr,
        ));
    }
    if has("exists") {
        let yes = text.eq_ignore_ascii_case("true");
        return Ok(format!("{expr} IS {}NULL", if yes { "NOT " } else { "" }));
    }
    if has("fieldref") {
        let other = field_sql(&text)?;
        let (a, b) = (format!("lower({expr})"), format!("lower({other})"));
        return Ok(
            match (has("contains"), has("startswith"), has("endswith")) {
                (true, _, _) => format!("strpos({a}, {b}) > 0"),
                (_, true, _) => format!("substr({a}, 1, length({b})) = {b}"),
                (_, _, true) => format!(
                "(length({a}) >= length({b}) AND substr({a}, length({a}) - length({b}) + 1) = {b})"
            ),
                _ => format!("{a} = {b}"),
            },
        );
    }
    let (pre, suf) = (
        has("contains") || has("endswith"),
        has("contains") || has("startswith"),
    );
    Ok(any_element(
        leaves,
        |x| {
            let wild = has_wildcard(&text);
            if !pre && !suf && !wild {
                return format!("lower({x}) = lower({})", q(&unescape(&text)));
            }
            format!(
                "lower({x}) LIKE lower({}) ESCAPE '\\'",
                q(&like_pattern(&text, pre, suf))
            )
        },
        expr,
    ))
}

/// `pred` over the field: over each of its `leaves` when it has them (true
/// when one matches), else over the expression itself.
fn any_element(leaves: Option<&str>, pred: impl Fn(&str) -> String, expr: &str) -> String {
    match leaves {
        Some(l) => format!(
            "coalesce(cardinality(filter({l}, x -> {})), 0) > 0",
            pred("x")
        ),
        None => pred(expr),
    }
}

const KNOWN_MODS: [&str; 11] = [
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "cidr",
    "exists",
    "fieldref",
    "i",
    "m",
    "s",
];

fn map_sql(m: &serde_yaml::Mapping) -> Result<String, String> {
    let mut ands = vec![];
    for (k, v) in m {
        let key = k.as_str().ok_or("field names must be strings")?;
        let mut it = key.split('|');
        let field = it.next().unwrap_or("");
        let mods: Vec<&str> = it.collect();
        for m in &mods {
            if !KNOWN_MODS.contains(m) {
                return Err(format!("modifier '{m}' is not supported"));
            }
        }
        if field.is_empty() {
            return Err("keyword (field-less) matches are not supported".into());
        }
        let expr = field_sql(field)?;
        let leaves = field_leaves(field)?;
        let leaves = leaves.as_deref();
        let parts: Vec<String> = match v {
            Value::Sequence(vs) => vs
                .iter()
                .map(|x| value_sql(&expr, leaves, &mods, x))
                .collect::<Result<_, _>>()?,
            other => vec![value_sql(&expr, leaves, &mods, other)?],
        };
        if parts.is_empty() {
            return Err(format!("field '{field}' has an empty value list"));
        }
        let joiner = if mods.contains(&"all") {
            " AND "
        } else {
            " OR "
        };
        ands.push(if parts.len() == 1 {
            parts[0].clone()
        } else {
            format!("({})", parts.join(joiner))
        });
    }
    if ands.is_empty() {
        return Err("empty selection".into());
    }
    Ok(ands.join(" AND "))
}

fn selection_sql(v: &Value) -> Result<String, String> {
    match v {
        Value::Mapping(m) => map_sql(m),
        Value::Sequence(items) => {
            let mut ors = vec![];
            for i in items {
                match i {
                    Value::Mapping(m) => ors.push(format!("({})", map_sql(m)?)),
                    _ => return Err("keyword (field-less) matches are not supported".into()),
                }
            }
            if ors.is_empty() {
                return Err("empty selection".into());
            }
            Ok(format!("({})", ors.join(" OR ")))
        }
        _ => Err("a selection must be a map or a list of maps".into()),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    And,
    Or,
    Not,
    Open,
    Close,
    OneOf,
    AllOf,
}

fn tokenize(cond: &str) -> Result<Vec<Tok>, String> {
    if cond.contains('|') {
        return Err("aggregations in the condition are not supported".into());
    }
    let spaced = cond.replace('(', " ( ").replace(')', " ) ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let lw = w.to_ascii_lowercase();
        match lw.as_str() {
            "and" => out.push(Tok::And),
            "or" => out.push(Tok::Or),
            "not" => out.push(Tok::Not),
            "(" => out.push(Tok::Open),
            ")" => out.push(Tok::Close),
            "1" | "any" | "all"
                if words
                    .get(i + 1)
                    .is_some_and(|n| n.eq_ignore_ascii_case("of")) =>
            {
                out.push(if lw == "all" { Tok::AllOf } else { Tok::OneOf });
                i += 1;
            }
            _ => out.push(Tok::Ident(w.to_string())),
        }
        i += 1;
    }
    Ok(out)
}

fn glob_match(pat: &str, name: &str) -> bool {
    // Sigma §Condition: `them` and wildcard patterns leave out identifiers
    // starting with `_`, unless the pattern itself starts with one.
    if name.starts_with('_') && !pat.starts_with('_') && (pat == "them" || pat.contains('*')) {
        return false;
    }
    if pat == "them" {
        return true;
    }
    if pat.contains('*') {
        wildcard(pat.as_bytes(), name.as_bytes())
    } else {
        pat == name
    }
}

/// `*` (any run, at any position) against a name; iterative, no backtracking
/// blow-up.
fn wildcard(p: &[u8], n: &[u8]) -> bool {
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

struct CondParser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    sels: &'a [(String, String)],
    /// Nesting so far (`not` and parentheses): bounded, so a condition of
    /// 100 000 `not`s is refused instead of overflowing the stack.
    depth: usize,
}

/// How deeply a condition may nest.
const MAX_CONDITION_DEPTH: usize = 64;

impl CondParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn or(&mut self) -> Result<String, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" OR "))
        })
    }
    fn and(&mut self) -> Result<String, String> {
        let mut parts = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" AND "))
        })
    }
    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_CONDITION_DEPTH {
            return Err(format!(
                "condition nested more than {MAX_CONDITION_DEPTH} levels deep"
            ));
        }
        Ok(())
    }
    fn not(&mut self) -> Result<String, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            // Sigma: a filter on an absent field does not match, so NOT of it holds.
            return Ok(format!("NOT coalesce({inner}, false)"));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<String, String> {
        let t = self.peek().cloned().ok_or("unexpected end of condition")?;
        self.pos += 1;
        match t {
            Tok::Open => {
                self.deeper()?;
                let e = self.or()?;
                self.depth -= 1;
                if self.peek() != Some(&Tok::Close) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Tok::OneOf | Tok::AllOf => {
                let Some(Tok::Ident(pat)) = self.peek().cloned() else {
                    return Err("expected a selection pattern after 'of'".into());
                };
                self.pos += 1;
                let matched: Vec<String> = self
                    .sels
                    .iter()
                    .filter(|(n, _)| glob_match(&pat, n))
                    .map(|(_, s)| format!("coalesce(({s}), false)"))
                    .collect();
                if matched.is_empty() {
                    return Err(format!("no selection matches '{pat}'"));
                }
                let j = if t == Tok::AllOf { " AND " } else { " OR " };
                Ok(format!("({})", matched.join(j)))
            }
            Tok::Ident(name) => {
                let s = self
                    .sels
                    .iter()
                    .find(|(n, _)| *n == name)
                    .ok_or_else(|| format!("unknown selection '{name}'"))?;
                Ok(format!("({})", s.1))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn condition_sql(cond: &str, sels: &[(String, String)]) -> Result<String, String> {
    let toks = tokenize(cond)?;
    let mut p = CondParser {
        toks,
        pos: 0,
        sels,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err("trailing tokens".into());
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_conditions_are_refused_not_a_stack_overflow() {
        for cond in [
            format!("{}sel", "not ".repeat(200_000)),
            format!("{}sel{}", "(".repeat(50_000), ")".repeat(50_000)),
        ] {
            let r = format!(
                "title: T\nid: x\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n  sel: {{eventName: X}}\n  condition: {cond}\n"
            );
            let e = compile(&r, "deep.yml").expect_err("refused");
            assert!(e.1.contains("nested"), "{e:?}");
        }
        let ok = "title: T\nid: x\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: X}\n  condition: not not (sel)\n";
        assert!(compile(ok, "ok.yml").is_ok());
    }

    #[test]
    fn compiles_common_shapes() {
        let r = r#"
title: T
id: abc
logsource: {product: aws, service: cloudtrail}
level: high
tags: [attack.defense-evasion, attack.t1562.008]
detection:
  selection:
    eventSource: cloudtrail.amazonaws.com
    eventName: [StopLogging, DeleteTrail]
  filter_main_a:
    userIdentity.arn|contains: 'admin'
  filter_main_b:
    - requestParameters.enable: 'false'
    - errorCode: null
  condition: selection and not 1 of filter_main_*
"#;
        let d = compile(r, "x.yml").unwrap();
        assert_eq!(d.id, "sigma.abc");
        assert_eq!(d.attack, vec!["T1562.008"]);
        assert_eq!(d.severity, Severity::High);
        assert!(d.sql.contains("lower(eventname) = lower('StopLogging') OR lower(eventname) = lower('DeleteTrail')"), "{}", d.sql);
        assert!(
            d.sql
                .contains("lower(useridentity.arn) LIKE lower('%admin%')"),
            "{}",
            d.sql
        );
        assert!(
            d.sql.contains(
                "json_query(requestparameters, 'lax $.\"enable\"[*]' WITH ARRAY WRAPPER)"
            ),
            "{}",
            d.sql
        );
        assert!(d.sql.contains("errorcode IS NULL"));
    }

    /// Tags are any text: one whose second byte is inside a character is a
    /// tactic name, not a panic.
    #[test]
    fn tags_with_any_text_load() {
        let r = "title: T\nid: t\nlogsource: {product: aws, service: cloudtrail}\ntags: [attack.t\u{e9}, attack.t, attack.t1078]\ndetection:\n  s: {eventName: X}\n  condition: s\n";
        let d = compile(r, "x.yml").unwrap();
        assert_eq!(d.attack, vec!["T1078"]);
        assert_eq!(d.tactics, vec!["t\u{e9}", "t"]);
    }

    #[test]
    fn skips_with_reasons() {
        let base = "title: T\nid: x\nlogsource: {product: aws, service: cloudtrail}\n";
        assert!(compile(
            &format!("{base}detection:\n  s: {{eventName|base64: x}}\n  condition: s\n"),
            "a"
        )
        .unwrap_err()
        .1
        .contains("base64"));
        assert!(compile(
            &format!("{base}detection:\n  s: {{eventName: x}}\n  condition: s | count() > 5\n"),
            "a"
        )
        .unwrap_err()
        .1
        .contains("aggregation"));
        assert!(compile(
            "title: T\nlogsource: {product: windows}\ndetection: {s: {a: b}, condition: s}\n",
            "a"
        )
        .is_err());
        assert!(compile(
            &format!("{base}detection:\n  s: [foo, bar]\n  condition: s\n"),
            "a"
        )
        .unwrap_err()
        .1
        .contains("keyword"));
        assert_eq!(like_pattern("a*b?c%", true, false), "%a%b_c\\%");
    }
}
