//! What the hunt reads from a detection's SQL: its row filter (relaxed to
//! what the scan can evaluate), the event names that guard it, the columns
//! it uses, and the detection as it runs without its filter.

use std::collections::{BTreeSet, HashSet};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, Expr, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use irprep_core::table;

use crate::athena;

/// What the hunt needs from a detection's SQL, from one parse of it.
pub(crate) struct RowFilter {
    /// The row-local filter, an expression over `cloudtrail`'s columns
    /// (already rewritten to the local dialect), or `None` when the
    /// detection needs every row.
    pub filter: Option<Expr>,
    /// The event names outside which the filter is false, when it says so
    /// (see [`guard`]).
    pub guard: Option<BTreeSet<String>>,
    /// The filter as conditions on single columns whose values repeat and
    /// the rest (see [`key_guard`]).
    pub key: Option<KeyGuard>,
    /// The detection as it runs on its own in-memory rows (see
    /// [`without_row_filter`]), when that differs from its SQL.
    pub without: Option<Statement>,
}

/// A column a key guard reads: a top-level column, or one field of a struct
/// column (`useridentity.type`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct KeyColumn {
    pub column: String,
    pub field: Option<String>,
}

/// The columns whose values repeat across a trail's events (a few hundred
/// API names, a few error codes and identity types, the agents of a few
/// tools, the principals and their keys), so a condition on one of them
/// alone is decided once per value.
const KEY_COLUMNS: [(&str, Option<&str>); 16] = [
    ("eventsource", None),
    ("eventname", None),
    ("errorcode", None),
    ("eventtype", None),
    ("eventcategory", None),
    ("readonly", None),
    ("awsregion", None),
    ("useragent", None),
    ("sessioncredentialfromconsole", None),
    ("useridentity", Some("type")),
    ("useridentity", Some("invokedby")),
    ("useridentity", Some("accountid")),
    ("useridentity", Some("arn")),
    ("useridentity", Some("principalid")),
    ("useridentity", Some("accesskeyid")),
    ("sourceipaddress", None),
];

pub(crate) fn row_filter(sql: &str) -> RowFilter {
    let none = RowFilter {
        filter: None,
        guard: None,
        key: None,
        without: None,
    };
    let Ok(mut stmts) = athena::parse(sql) else {
        return none;
    };
    if stmts.len() != 1 {
        return none;
    }
    let mut v = Collector {
        parts: vec![],
        unbounded: false,
    };
    let _ = stmts[0].visit(&mut v);
    if v.unbounded || v.parts.is_empty() {
        return none;
    }
    let n_parts = v.parts.len();
    // (part) OR (part) …, each part the AND of its kept conjuncts.
    let filter = v
        .parts
        .into_iter()
        .map(|p| Expr::Nested(Box::new(p)))
        .reduce(|a, b| binary(a, BinaryOperator::Or, b));
    let guard = filter.as_ref().and_then(guard);
    let key = filter.as_ref().and_then(key_guard);
    let without = if n_parts == 1 {
        without_row_filter(stmts.remove(0))
    } else {
        None
    };
    RowFilter {
        filter,
        guard,
        key,
        without,
    }
}

fn binary(left: Expr, op: BinaryOperator, right: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    }
}

/// The row-local filter of one detection, as SQL text, or `None` when the
/// detection needs every row.
pub fn prefilter(sql: &str) -> Option<String> {
    row_filter(sql).filter.map(|e| e.to_string())
}

/// The detection as it runs on its own in-memory rows. When it reads
/// `cloudtrail` in exactly one SELECT (the caller checked that its row filter
/// has one part), and that SELECT's whole WHERE went into its row filter, the
/// WHERE is dropped: the rows in memory are exactly those it keeps, and
/// evaluating it again cost as much as the rest of the query (0.56 s of 1.8 s
/// for the burst detection on the benchmark corpus).
fn without_row_filter(mut stmt: Statement) -> Option<Statement> {
    struct Drop {
        reads: usize,
        whole: bool,
        right_or_full: bool,
    }
    impl ast::VisitorMut for Drop {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            let SetExpr::Select(s) = q.body.as_mut() else {
                return ControlFlow::Continue(());
            };
            if s.from.iter().flat_map(|t| &t.joins).any(|j| {
                matches!(
                    j.join_operator,
                    ast::JoinOperator::Right(_)
                        | ast::JoinOperator::RightOuter(_)
                        | ast::JoinOperator::FullOuter(_)
                )
            }) {
                self.right_or_full = true;
            }
            if !s.from.iter().any(|t| is_cloudtrail(&t.relation).is_some()) {
                return ControlFlow::Continue(());
            }
            self.reads += 1;
            let mut cs = vec![];
            if let Some(w) = &s.selection {
                conjuncts(w, &mut cs);
            }
            self.whole = !cs.is_empty() && cs.iter().all(|c| !has_subquery(c) && !has_json_call(c));
            if self.whole {
                s.selection = None;
            }
            ControlFlow::Continue(())
        }
    }
    let mut d = Drop {
        reads: 0,
        whole: false,
        right_or_full: false,
    };
    let _ = ast::VisitMut::visit(&mut stmt, &mut d);
    // A statement with a RIGHT or FULL join keeps its WHERE: without it, the
    // local engine returned no rows where the statement as written returned
    // two (a detection whose second join was `small RIGHT JOIN calls`, on
    // the same rows).
    (d.reads == 1 && d.whole && !d.right_or_full).then_some(stmt)
}

struct Collector {
    parts: Vec<Expr>,
    unbounded: bool,
}

fn is_cloudtrail(tf: &TableFactor) -> Option<Option<String>> {
    if let TableFactor::Table { name, alias, .. } = tf {
        if let Some(ast::ObjectNamePart::Identifier(i)) = name.0.last() {
            if i.value.eq_ignore_ascii_case("cloudtrail") {
                return Some(alias.as_ref().map(|a| a.name.value.to_lowercase()));
            }
        }
    }
    None
}

fn has_subquery(e: &Expr) -> bool {
    struct F(bool);
    impl Visitor for F {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &ast::Query) -> ControlFlow<()> {
            self.0 = true;
            ControlFlow::Break(())
        }
    }
    let mut f = F(false);
    let _ = e.visit(&mut f);
    f.0
}

/// Does the expression parse JSON? Such conditions are relaxed out of the
/// scan filter ([`relax`]): evaluated on every row of the logs they would
/// cost more than the rows they save (the detection applies them itself, in
/// memory).
fn has_json_call(e: &Expr) -> bool {
    struct F(bool);
    impl Visitor for F {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = e {
                let n = f.name.to_string().to_lowercase();
                if n.starts_with("json_") || n.starts_with("irprep_json") {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut f = F(false);
    let _ = e.visit(&mut f);
    f.0
}

/// A condition implied by `e` without its JSON calls and subqueries (`None`:
/// nothing is left, any row may pass). `(name IN (…) AND regexp_like(
/// json_extract_scalar(…), …)) OR (name = 'X' AND …)` keeps its event names:
/// the scan narrows the rows to them, and the detection applies its whole
/// WHERE itself.
fn relax(e: &Expr) -> Option<Expr> {
    if !has_subquery(e) && !has_json_call(e) {
        return Some(e.clone());
    }
    match e {
        Expr::Nested(inner) => relax(inner).map(|i| Expr::Nested(Box::new(i))),
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => match (relax(left), relax(right)) {
            (Some(l), Some(r)) => Some(Expr::BinaryOp {
                left: Box::new(l),
                op: ast::BinaryOperator::And,
                right: Box::new(r),
            }),
            (l, r) => l.or(r),
        },
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Or,
            right,
        } => Some(Expr::BinaryOp {
            left: Box::new(relax(left)?),
            op: ast::BinaryOperator::Or,
            right: Box::new(relax(right)?),
        }),
        _ => None,
    }
}

fn conjuncts(e: &Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) => {
            if let Expr::BinaryOp {
                op: ast::BinaryOperator::And,
                ..
            } = inner.as_ref()
            {
                conjuncts(inner, out)
            } else {
                out.push(e.clone())
            }
        }
        other => out.push(other.clone()),
    }
}

/// Drop the table alias from column references (`c.eventname` → `eventname`).
fn strip_alias(e: &mut Expr, alias: &str) {
    struct S<'a>(&'a str);
    impl ast::VisitorMut for S<'_> {
        type Break = ();
        fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
            if let Expr::CompoundIdentifier(parts) = e {
                if parts.len() > 1 && (parts[0].value == self.0 || parts[0].value == "cloudtrail") {
                    let rest: Vec<ast::Ident> = parts[1..].to_vec();
                    *e = if rest.len() == 1 {
                        Expr::Identifier(rest[0].clone())
                    } else {
                        Expr::CompoundIdentifier(rest)
                    };
                }
            }
            ControlFlow::Continue(())
        }
    }
    let _ = ast::VisitMut::visit(e, &mut S(alias));
}

impl Visitor for Collector {
    type Break = ();
    fn pre_visit_query(&mut self, q: &ast::Query) -> ControlFlow<()> {
        let mut selects = vec![];
        collect_selects(&q.body, &mut selects);
        for s in selects {
            for twj in &s.from {
                let reads = is_cloudtrail(&twj.relation).is_some()
                    || twj
                        .joins
                        .iter()
                        .any(|j| is_cloudtrail(&j.relation).is_some());
                if !reads {
                    continue;
                }
                if !twj.joins.is_empty() || s.from.len() > 1 {
                    self.unbounded = true;
                    continue;
                }
                let alias = is_cloudtrail(&twj.relation)
                    .flatten()
                    .unwrap_or_else(|| "cloudtrail".into());
                let Some(w) = &s.selection else {
                    self.unbounded = true;
                    continue;
                };
                let mut cs = vec![];
                conjuncts(w, &mut cs);
                let kept = cs.iter().filter_map(relax).map(|mut c| {
                    strip_alias(&mut c, &alias);
                    c
                });
                match kept.reduce(|a, b| binary(a, BinaryOperator::And, b)) {
                    Some(part) => self.parts.push(part),
                    None => self.unbounded = true,
                }
            }
        }
        ControlFlow::Continue(())
    }
}

fn collect_selects<'a>(body: &'a SetExpr, out: &mut Vec<&'a ast::Select>) {
    match body {
        SetExpr::Select(s) => out.push(s),
        SetExpr::SetOperation { left, right, .. } => {
            collect_selects(left, out);
            collect_selects(right, out);
        }
        _ => {}
    }
}

/// The `useridentity` fields the detections name (`useridentity.arn` …),
/// plus those findings use; `None` when some SQL uses the struct whole (or
/// in a form this cannot see), so it must be built whole.
pub(super) fn identity_fields<'a>(sqls: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    static FIELD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = FIELD.get_or_init(|| {
        regex::Regex::new(r#"(?i)"?useridentity"?(\s*\.\s*"?([a-z_][a-z0-9_]*)"?)?"#)
            .expect("valid regex")
    });
    let mut fields: BTreeSet<String> = ["arn", "accesskeyid"]
        .into_iter()
        .map(String::from)
        .collect();
    for sql in sqls {
        for c in re.captures_iter(sql) {
            fields.insert(c.get(2)?.as_str().to_lowercase());
        }
    }
    Some(fields.into_iter().collect())
}

/// Columns of the `cloudtrail` table a set of SQL texts mention.
pub(super) fn used_columns(sqls: &[&str]) -> Vec<String> {
    let t = table::cloudtrail();
    let names: HashSet<String> = t
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(t.partitions.iter().map(|p| p.name.to_string()))
        .collect();
    let mut used: BTreeSet<String> = BTreeSet::new();
    for sql in sqls {
        let lower = sql.to_lowercase();
        for n in &names {
            if lower.contains(n.as_str()) {
                used.insert(n.clone());
            }
        }
    }
    for must in [
        "eventid",
        "eventtime",
        "useridentity",
        "sourceipaddress",
        "useragent",
        "recipientaccountid",
        "awsregion",
        "eventname",
    ] {
        used.insert(must.into());
    }
    // Keep the table's column order.
    t.columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(t.partitions.iter().map(|p| p.name.to_string()))
        .filter(|c| used.contains(c))
        .collect()
}

/// Does this statement parse as Athena SQL we can run?
pub fn check_sql(sql: &str) -> std::result::Result<(), String> {
    let stmts = athena::parse(sql)?;
    match stmts.as_slice() {
        [Statement::Query(_)] => Ok(()),
        _ => Err("a detection must be exactly one SELECT/WITH query".into()),
    }
}

/// The event names a filter can hold for, when it says (`eventname = 'X'`,
/// `eventname IN (…)`, combined with AND and OR).
pub(crate) fn guard(e: &Expr) -> Option<BTreeSet<String>> {
    let is_name =
        |e: &Expr| matches!(e, Expr::Identifier(i) if i.value.eq_ignore_ascii_case("eventname"));
    let text = |e: &Expr| match e {
        Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => Some(s.clone()),
            _ => None,
        },
        _ => None,
    };
    match e {
        Expr::Nested(inner) => guard(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => match (guard(left), guard(right)) {
            (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
            (a, b) => a.or(b),
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => Some(guard(left)?.union(&guard(right)?).cloned().collect()),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } if is_name(left) => text(right).map(|t| BTreeSet::from([t])),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } if is_name(right) => text(left).map(|t| BTreeSet::from([t])),
        Expr::InList {
            expr,
            list,
            negated: false,
        } if is_name(expr) => list.iter().map(text).collect(),
        _ => None,
    }
}

/// The filter `e` as conditions each on one of [`KEY_COLUMNS`] and the rest:
/// the AND of its top-level conjuncts, those over one key column alone
/// grouped by column (a disjunction counts by its parts over the key
/// columns, see `key_part`), and the AND of the others (`None`: `e` is
/// exactly its key conditions). Wherever `e` holds each key condition
/// holds, so the scan decides each once per distinct value of its column,
/// and evaluates the rest only on the rows they admit.
pub(crate) fn key_guard(e: &Expr) -> Option<KeyGuard> {
    let mut conjuncts = vec![];
    flatten_and(e, &mut conjuncts);
    let mut by_column: Vec<(KeyColumn, Vec<Expr>)> = vec![];
    let mut rest: Vec<Expr> = vec![];
    for c in conjuncts {
        let mut cols = BTreeSet::new();
        let whole = key_columns(c, &mut cols).is_some() && cols.len() == 1;
        let (part, exact) = if whole {
            (Some(c.clone()), true)
        } else {
            (key_part(c), false)
        };
        let mut cols = BTreeSet::new();
        let single = part
            .as_ref()
            .filter(|p| key_columns(p, &mut cols).is_some() && cols.len() == 1);
        if let (Some(p), Some(col)) = (single, cols.into_iter().next()) {
            match by_column.iter_mut().find(|(k, _)| *k == col) {
                Some((_, es)) => es.push(p.clone()),
                None => by_column.push((col, vec![p.clone()])),
            }
            if exact {
                continue;
            }
        }
        rest.push(c.clone());
    }
    if by_column.is_empty() {
        return None;
    }
    let and = |es: Vec<Expr>| {
        es.into_iter()
            .map(nested)
            .reduce(|a, b| binary(a, BinaryOperator::And, b))
    };
    Some(KeyGuard {
        columns: by_column
            .into_iter()
            .filter_map(|(k, es)| Some((k, and(es)?)))
            .collect(),
        rest: and(rest),
    })
}

/// See [`key_guard`].
#[derive(Debug, Clone)]
pub(crate) struct KeyGuard {
    /// Per key column, the condition on it alone.
    pub columns: Vec<(KeyColumn, Expr)>,
    /// The rest of the filter; `None` when the key conditions are all of it.
    pub rest: Option<Expr>,
}

fn flatten_and<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    match e {
        Expr::Nested(inner) => flatten_and(inner, out),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        other => out.push(other),
    }
}

/// A condition over key columns alone that `e` implies.
fn key_part(e: &Expr) -> Option<Expr> {
    match e {
        Expr::Nested(inner) => key_part(inner),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => match (key_part(left), key_part(right)) {
            (Some(a), Some(b)) => Some(binary(nested(a), BinaryOperator::And, nested(b))),
            (a, b) => a.or(b),
        },
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Or,
            right,
        } => Some(binary(
            nested(key_part(left)?),
            BinaryOperator::Or,
            nested(key_part(right)?),
        )),
        leaf => {
            let mut cols = BTreeSet::new();
            key_columns(leaf, &mut cols)?;
            (!cols.is_empty()).then(|| leaf.clone())
        }
    }
}

fn nested(e: Expr) -> Expr {
    Expr::Nested(Box::new(e))
}

/// The key columns `e` reads into `out`; `None` when it reads any other
/// column, or holds a subquery (whose answer is not the row's alone).
fn key_columns(e: &Expr, out: &mut BTreeSet<KeyColumn>) -> Option<()> {
    struct V<'a> {
        out: &'a mut BTreeSet<KeyColumn>,
        ok: bool,
    }
    impl Visitor for V<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            let key = |column: &ast::Ident, field: Option<&ast::Ident>| {
                let unquoted =
                    column.quote_style.is_none() && field.is_none_or(|f| f.quote_style.is_none());
                let (c, f) = (
                    column.value.to_ascii_lowercase(),
                    field.map(|f| f.value.to_ascii_lowercase()),
                );
                KEY_COLUMNS
                    .iter()
                    .find(|(kc, kf)| unquoted && *kc == c && kf.map(String::from) == f)
                    .map(|(kc, kf)| KeyColumn {
                        column: kc.to_string(),
                        field: kf.map(String::from),
                    })
            };
            let found = match e {
                Expr::Identifier(i) => Some(key(i, None)),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => {
                    Some(key(&parts[0], Some(&parts[1])))
                }
                Expr::CompoundIdentifier(_)
                | Expr::Subquery(_)
                | Expr::InSubquery { .. }
                | Expr::Exists { .. } => Some(None),
                _ => None,
            };
            match found {
                Some(Some(k)) => {
                    self.out.insert(k);
                    // `useridentity.type` is one column: not its parts.
                    ControlFlow::Continue(())
                }
                Some(None) => {
                    self.ok = false;
                    ControlFlow::Break(())
                }
                None => ControlFlow::Continue(()),
            }
        }
    }
    let mut v = V { out, ok: true };
    let _ = e.visit(&mut v);
    v.ok.then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefilters() {
        assert_eq!(
            prefilter("SELECT eventid FROM cloudtrail WHERE eventname = 'X' AND errorcode IS NULL")
                .unwrap(),
            "(eventname = 'X' AND errorcode IS NULL)"
        );
        assert_eq!(prefilter("SELECT eventid FROM cloudtrail"), None);
        let p = prefilter("WITH a AS (SELECT eventid, useridentity.arn AS arn FROM cloudtrail c WHERE c.eventname = 'A'), b AS (SELECT * FROM cloudtrail WHERE eventname='B' AND eventid IN (SELECT eventid FROM a)) SELECT eventid FROM b").unwrap();
        assert_eq!(p, "(eventname = 'A') OR (eventname = 'B')");
        assert_eq!(prefilter("SELECT a.eventid FROM cloudtrail a JOIN cloudtrail b ON a.eventid = b.eventid WHERE a.eventname='x'"), None);
    }

    #[test]
    fn json_conditions_relaxed() {
        let p = prefilter("SELECT eventid FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' AND ((eventname IN ('A', 'B') AND regexp_like(json_extract_scalar(requestparameters, '$.p'), 'x')) OR (eventname = 'C' AND json_extract_scalar(requestparameters, '$.q') = 'y'))").unwrap();
        assert_eq!(p, "(eventsource = 'iam.amazonaws.com' AND ((eventname IN ('A', 'B')) OR (eventname = 'C')))");
        // A disjunct that is all JSON leaves nothing of the OR.
        let p = prefilter("SELECT eventid FROM cloudtrail WHERE eventname = 'A' AND (json_extract_scalar(requestparameters, '$.p') = 'x' OR eventname = 'B')").unwrap();
        assert_eq!(p, "(eventname = 'A')");
        // NOT over JSON is not relaxed into anything.
        assert_eq!(prefilter("SELECT eventid FROM cloudtrail WHERE NOT (eventname = 'A' AND json_extract_scalar(requestparameters, '$.p') = 'x')"), None);
        // The detection keeps its WHERE: the rows in memory are a superset.
        assert!(row_filter("SELECT eventid FROM cloudtrail WHERE eventname = 'A' AND (json_extract_scalar(requestparameters, '$.p') = 'x' OR eventname = 'B')").without.is_none());
    }

    #[test]
    fn row_filter_dropped_only_when_whole() {
        let s = row_filter("SELECT eventid FROM (SELECT eventid, eventname FROM cloudtrail WHERE eventname = 'X' AND errorcode IS NULL) e WHERE eventid <> ''").without.unwrap();
        assert_eq!(
            s.to_string(),
            "SELECT eventid FROM (SELECT eventid, eventname FROM cloudtrail) e WHERE eventid <> ''"
        );
        // A conjunct left out of the row filter (JSON, subquery) keeps the WHERE.
        assert!(row_filter("SELECT eventid FROM cloudtrail WHERE eventname = 'X' AND json_extract_scalar(requestparameters, '$.a') = 'b'").without.is_none());
        assert!(row_filter("WITH c AS (SELECT eventid, sourceipaddress AS ip FROM cloudtrail WHERE eventname = 'X'), b AS (SELECT DISTINCT ip FROM c) SELECT c.eventid FROM b RIGHT JOIN c ON b.ip = c.ip").without.is_none());
        assert!(row_filter("WITH c AS (SELECT eventid, sourceipaddress AS ip FROM cloudtrail WHERE eventname = 'X'), b AS (SELECT DISTINCT ip FROM c) SELECT c.eventid FROM c LEFT JOIN b ON b.ip = c.ip").without.is_some());
        assert!(row_filter("SELECT eventid FROM cloudtrail WHERE eventname = 'X' AND eventid IN (SELECT eventid FROM cloudtrail WHERE eventname = 'Y')").without.is_none());
        // Two reads: the rows in memory are the union, each WHERE is needed.
        assert!(row_filter("WITH a AS (SELECT eventid FROM cloudtrail WHERE eventname = 'A'), b AS (SELECT eventid FROM cloudtrail WHERE eventname = 'B') SELECT eventid FROM a UNION ALL SELECT eventid FROM b").without.is_none());
        assert!(row_filter("SELECT eventid FROM cloudtrail")
            .without
            .is_none());
    }

    #[test]
    fn identity_fields_named() {
        let f = identity_fields(["SELECT useridentity.type, c.userIdentity.sessionContext.sessionIssuer.arn FROM cloudtrail c WHERE \"useridentity\".\"principalid\" = 'x'"].into_iter()).unwrap();
        assert_eq!(
            f,
            vec![
                "accesskeyid",
                "arn",
                "principalid",
                "sessioncontext",
                "type"
            ]
        );
        assert_eq!(
            identity_fields(["SELECT to_json(useridentity) FROM cloudtrail"].into_iter()),
            None
        );
        assert_eq!(
            identity_fields(["SELECT useridentity FROM cloudtrail"].into_iter()),
            None
        );
    }

    /// The guard of a WHERE clause.
    /// The WHERE of `SELECT 1 FROM cloudtrail WHERE sql`, parsed.
    fn where_of(sql: &str) -> Option<Expr> {
        let stmts = athena::parse(&format!("SELECT 1 FROM cloudtrail WHERE {sql}")).ok()?;
        let Some(Statement::Query(q)) = stmts.first() else {
            return None;
        };
        let SetExpr::Select(s) = q.body.as_ref() else {
            return None;
        };
        s.selection.clone()
    }

    fn guard_of(sql: &str) -> Option<BTreeSet<String>> {
        guard(&where_of(sql)?)
    }

    #[test]
    fn key_guards() {
        let k = |s: &str| {
            key_guard(&where_of(s)?).map(|g| {
                let cols: Vec<String> = g
                    .columns
                    .iter()
                    .map(|(c, e)| match &c.field {
                        Some(f) => format!("{}.{f}: {e}", c.column),
                        None => format!("{}: {e}", c.column),
                    })
                    .collect();
                let rest = g.rest.map_or("-".to_string(), |r| r.to_string());
                format!("{} | {rest}", cols.join("; "))
            })
        };
        assert_eq!(
            k("regexp_like(eventname, '^(List|Get)') AND requestparameters LIKE 'x%' AND coalesce(useridentity.type, '') <> 'AWSService' AND eventname <> 'ListX'").as_deref(),
            Some("eventname: (regexp_like(eventname, '^(List|Get)')) AND (eventname <> 'ListX'); useridentity.type: (coalesce(useridentity.type, '') <> 'AWSService') | (requestparameters LIKE 'x%')")
        );
        // A conjunct over two key columns stays in the rest; a disjunction
        // counts by its key part on one column, and stays in the rest.
        assert_eq!(
            k("(errorcode = 'A' OR eventname = 'B') AND (eventname = 'C' AND requestparameters IS NULL OR eventname = 'D')").as_deref(),
            Some("eventname: ((eventname = 'C') OR (eventname = 'D')) | (errorcode = 'A' OR eventname = 'B') AND (eventname = 'C' AND requestparameters IS NULL OR eventname = 'D')")
        );
        // Nothing over one key column alone, subqueries, quoted names: none.
        assert_eq!(k("errorcode = 'A' OR requestparameters = 'x'"), None);
        assert_eq!(k("requestparameters LIKE 'x%'"), None);
        assert_eq!(k("eventname IN (SELECT eventname FROM cloudtrail)"), None);
        assert_eq!(k("c.useridentity.type = 'Root'"), None);
        assert_eq!(k("\"eventname\" = 'A'"), None);
        assert_eq!(k("1 = 1"), None);
        assert_eq!(
            k("NOT regexp_like(lower(coalesce(useragent, '')), 'console')").as_deref(),
            Some("useragent: (NOT regexp_like(lower(coalesce(useragent, '')), 'console')) | -")
        );
    }

    #[test]
    fn guards() {
        let g = |s: &str| guard_of(s).map(|g| g.into_iter().collect::<Vec<_>>().join(","));
        assert_eq!(
            g("eventsource = 'iam.amazonaws.com' AND eventname IN ('A', 'B')").as_deref(),
            Some("A,B")
        );
        assert_eq!(
            g("(eventname = 'A' AND x = 1) OR (eventName = 'C')").as_deref(),
            Some("A,C")
        );
        assert_eq!(
            g("eventname IN ('A', 'B') AND eventname = 'B'").as_deref(),
            Some("B")
        );
        // Not a guard: a disjunct without one, negation, patterns, other columns.
        assert_eq!(g("eventname = 'A' OR errorcode = 'X'"), None);
        assert_eq!(g("eventname NOT IN ('A')"), None);
        assert_eq!(g("NOT eventname = 'A'"), None);
        assert_eq!(g("regexp_like(eventname, '^Describe')"), None);
        assert_eq!(g("eventsource = 'A'"), None);
        assert_eq!(g("eventname = lower('A')"), None);
    }
}
