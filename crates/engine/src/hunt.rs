//! The hunt: every detection over the logs in one scan.
//!
//! 1. Each detection's SQL is parsed; every SELECT that reads `cloudtrail`
//!    contributes its row-local WHERE conjuncts (JSON calls and subqueries
//!    relaxed into what they imply without them, which only widens the
//!    filter). A detection's row filter is the OR of those. A detection whose
//!    reads cannot be narrowed (a SELECT on `cloudtrail` without WHERE, or
//!    with joins) keeps every row.
//! 2. One scan of the logs builds the columns some detection (or a finding)
//!    uses, `useridentity` narrowed to the fields they name.
//! 3. Each batch is split per detection as it is read ([`crate::split`]):
//!    each row filter, compiled once, is evaluated on the rows its event-name
//!    guard admits. Every detection then runs on its own rows in its own
//!    session, several at a time. A detection whose only read's whole WHERE
//!    is its row filter runs without that WHERE; the others run unchanged.
//!    Its rows name evidence events (`eventid`, optional `severity`,
//!    `principal`), which are grouped into findings: one per detection ×
//!    principal.
//!
//! The result equals running each detection on the full table, because each
//! read of `cloudtrail` sees every row its own WHERE keeps, and applies that
//! WHERE itself unless the rows are exactly those.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StructArray};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::{
    self, Expr, SetExpr, Statement, TableFactor, Visit, Visitor,
};
use futures::StreamExt;
use irprep_core::detect::{Detection, Severity};
use irprep_core::table;
use serde::Serialize;

use crate::athena;
use crate::provider::LogTable;
use crate::split::{Piece, Splitter};
use crate::Engine;

/// Hash containers keyed by event ids and principals (a detection's evidence
/// can be most of the logs; SipHash showed in the profile).
type AHashMap<K, V> = HashMap<K, V, ahash::RandomState>;
type AHashSet<K> = HashSet<K, ahash::RandomState>;

/// One finding: a detection × a principal.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub detection_id: String,
    pub title: String,
    pub severity: Severity,
    pub attack: Vec<String>,
    pub tactics: Vec<String>,
    pub principal: String,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    pub event_count: usize,
    pub source_ips: Vec<String>,
    pub user_agents: Vec<String>,
    pub event_names: Vec<String>,
    /// Every matching CloudTrail eventID, in time order.
    pub event_ids: Vec<String>,
}

/// What a hunt found, plus what it could not run.
#[derive(Debug, Default)]
pub struct HuntReport {
    pub findings: Vec<Finding>,
    /// Detections that failed to plan or run, with the error.
    pub errors: Vec<(String, String)>,
    pub detections_run: usize,
    pub rows_scanned_into_memory: usize,
}

/// The facts a finding draws from each evidence event, by name. The same
/// shape holds one batch's columns and one event's values, borrowed from the
/// rows in memory (a detection's evidence can be most of the logs: nothing
/// is copied per event until the finding is written).
#[derive(Debug, Clone, Copy, Default)]
struct EventFields<T> {
    time: T,
    arn: T,
    access_key: T,
    ip: T,
    ua: T,
    account: T,
    region: T,
    name: T,
}

impl<T> EventFields<T> {
    fn map<U>(self, f: impl Fn(T) -> U) -> EventFields<U> {
        EventFields {
            time: f(self.time),
            arn: f(self.arn),
            access_key: f(self.access_key),
            ip: f(self.ip),
            ua: f(self.ua),
            account: f(self.account),
            region: f(self.region),
            name: f(self.name),
        }
    }
}

type EventMeta<'a> = EventFields<Option<&'a str>>;

/// What the hunt needs from a detection's SQL, from one parse of it.
struct RowFilter {
    /// The row-local filter, as SQL text, or `None` when the detection needs
    /// every row.
    filter: Option<String>,
    /// The detection as it runs on its own in-memory rows (see
    /// [`without_row_filter`]), when that differs from its SQL.
    without: Option<Statement>,
}

fn row_filter(sql: &str) -> RowFilter {
    let none = RowFilter {
        filter: None,
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
    let filter = Some(
        v.parts
            .iter()
            .map(|p| format!("({p})"))
            .collect::<Vec<_>>()
            .join(" OR "),
    );
    let without = if v.parts.len() == 1 {
        without_row_filter(stmts.remove(0))
    } else {
        None
    };
    RowFilter { filter, without }
}

/// The row-local filter of one detection, as SQL text, or `None` when the
/// detection needs every row.
pub fn prefilter(sql: &str) -> Option<String> {
    row_filter(sql).filter
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
    }
    impl ast::VisitorMut for Drop {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            let SetExpr::Select(s) = q.body.as_mut() else {
                return ControlFlow::Continue(());
            };
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
    };
    let _ = ast::VisitMut::visit(&mut stmt, &mut d);
    (d.reads == 1 && d.whole).then_some(stmt)
}

struct Collector {
    parts: Vec<String>,
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
                let mut kept: Vec<String> = vec![];
                for mut c in cs.iter().filter_map(relax) {
                    strip_alias(&mut c, &alias);
                    kept.push(c.to_string());
                }
                if kept.is_empty() {
                    self.unbounded = true;
                } else {
                    self.parts.push(kept.join(" AND "));
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
fn identity_fields<'a>(sqls: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
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
fn used_columns(sqls: &[&str]) -> Vec<String> {
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

fn str_col<'a>(b: &'a RecordBatch, name: &str) -> Option<&'a StringArray> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<StringArray>())
}

fn opt(a: Option<&StringArray>, i: usize) -> Option<&str> {
    a.and_then(|a| a.is_valid(i).then(|| a.value(i)))
}

/// The columns of one batch that findings draw facts from.
struct BatchFacts<'a> {
    /// The identity struct, whose NULL hides its `arn` and `accesskeyid`.
    ui: Option<&'a StructArray>,
    cols: EventFields<Option<&'a StringArray>>,
    /// The event ids (a finding lists them as read from its rows).
    ids: Option<&'a StringArray>,
}

/// Where each evidence event is among the rows (batch, row): a small index,
/// and the facts read from the columns when a finding needs them (a
/// detection's evidence can be most of the logs).
struct Facts<'a> {
    batches: Vec<BatchFacts<'a>>,
    index: AHashMap<&'a str, (u32, u32)>,
}

impl<'a> Facts<'a> {
    fn at(&self, (b, i): (u32, u32)) -> EventMeta<'a> {
        let (f, i) = (&self.batches[b as usize], i as usize);
        let mut m = f.cols.map(|c| opt(c, i));
        if f.ui.is_some_and(|u| !u.is_valid(i)) {
            (m.arn, m.access_key) = (None, None);
        }
        m
    }

    /// The event's time.
    fn time(&self, (b, i): (u32, u32)) -> Option<&'a str> {
        opt(self.batches[b as usize].cols.time, i as usize)
    }

    /// The event's id.
    fn id(&self, (b, i): (u32, u32)) -> Option<&'a str> {
        opt(self.batches[b as usize].ids, i as usize)
    }

    /// The values a finding gathers in sets: account, region, source IP,
    /// user agent, event name.
    fn sets(&self, (b, i): (u32, u32)) -> [Option<&'a str>; 5] {
        let (c, i) = (&self.batches[b as usize].cols, i as usize);
        [
            opt(c.account, i),
            opt(c.region, i),
            opt(c.ip, i),
            opt(c.ua, i),
            opt(c.name, i),
        ]
    }

    fn locate(&self, id: &str) -> Option<(u32, u32)> {
        self.index.get(id).copied()
    }
}

/// The facts of the `wanted` events (`None`: every event) among some
/// batches' rows (all of a batch, or the rows its mask keeps).
///
/// `rows` sizes the index when every event is indexed (it is then built
/// once, not regrown and rehashed as it fills).
fn event_meta<'a>(
    batches: impl IntoIterator<
        Item = (
            &'a RecordBatch,
            Option<&'a datafusion::arrow::array::BooleanArray>,
        ),
    >,
    wanted: Option<&AHashSet<&str>>,
    rows: usize,
) -> Facts<'a> {
    let mut index =
        AHashMap::with_capacity_and_hasher(wanted.map_or(rows, |w| w.len()), Default::default());
    let mut facts = Vec::new();
    for (bi, (b, keep)) in batches.into_iter().enumerate() {
        let ids = str_col(b, "eventid");
        let ui = b
            .column_by_name("useridentity")
            .and_then(|c| c.as_any().downcast_ref::<StructArray>());
        // The identity struct (local engine), or flat `arn`/`accesskeyid`
        // columns (results that came back from Athena as text).
        let arn = ui
            .and_then(|u| u.column_by_name("arn"))
            .map(|c| c.as_string::<i32>())
            .or_else(|| str_col(b, "arn"));
        let key = ui
            .and_then(|u| u.column_by_name("accesskeyid"))
            .map(|c| c.as_string::<i32>())
            .or_else(|| str_col(b, "accesskeyid"));
        let cols = EventFields {
            time: str_col(b, "eventtime"),
            arn,
            access_key: key,
            ip: str_col(b, "sourceipaddress"),
            ua: str_col(b, "useragent"),
            account: str_col(b, "recipientaccountid"),
            region: str_col(b, "awsregion"),
            name: str_col(b, "eventname"),
        };
        facts.push(BatchFacts { ui, cols, ids });
        let mut look = |i: usize| {
            let Some(id) = opt(ids, i) else { return };
            if wanted.is_none_or(|w| w.contains(id)) {
                index.insert(id, (bi as u32, i as u32));
            }
        };
        match keep {
            None => (0..b.num_rows()).for_each(&mut look),
            Some(k) => k.values().set_indices().for_each(&mut look),
        }
    }
    Facts {
        batches: facts,
        index,
    }
}

/// A detection's result columns as text, cast once: findings borrow from them.
pub struct ResultCols {
    /// Per batch: `eventid`, and `severity` / `principal` when the detection returns them.
    cols: Vec<(ArrayRef, Option<ArrayRef>, Option<ArrayRef>)>,
}

impl ResultCols {
    pub fn new(detection: &str, batches: &[RecordBatch]) -> Result<Self> {
        let text = |b: &RecordBatch, name: &str| -> Result<Option<ArrayRef>> {
            b.column_by_name(name)
                .map(|c| {
                    datafusion::arrow::compute::cast(
                        c,
                        &datafusion::arrow::datatypes::DataType::Utf8,
                    )
                })
                .transpose()
                .map_err(Into::into)
        };
        let mut cols = Vec::with_capacity(batches.len());
        for b in batches {
            let ids = text(b, "eventid")?.ok_or_else(|| {
                DataFusionError::Plan(format!("detection {detection} returns no eventid column"))
            })?;
            cols.push((ids, text(b, "severity")?, text(b, "principal")?));
        }
        Ok(ResultCols { cols })
    }

    /// Every evidence event id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.cols
            .iter()
            .flat_map(|(ids, _, _)| ids.as_string::<i32>().iter().flatten())
    }
}

/// Run the detections over the engine's `cloudtrail` table in one scan.
///
/// The scan computes, per row, each detection's row filter as a boolean
/// column. Every detection then gets its own in-memory table: the rows its
/// filter keeps (every row for a detection without one), with only the
/// columns it uses. Memory follows what the detections need, not the size of
/// the logs times the number of detections.
pub async fn hunt(engine: &Engine, detections: &[Detection]) -> Result<HuntReport> {
    let mut report = HuntReport::default();
    // IRPREP_HUNT_PROFILE=1 prints where the time goes (scan, each detection).
    let profile = std::env::var_os("IRPREP_HUNT_PROFILE").is_some();
    let t0 = std::time::Instant::now();
    let ct: Vec<&Detection> = detections
        .iter()
        .filter(|d| d.source == "cloudtrail")
        .collect();
    // Detections over the other tables (flow logs, Resolver query logs) run
    // as written on the engine's tables; their rows carry their own facts
    // (`eventid` is a record key they build, `eventtime`, `sourceipaddress`,
    // `recipientaccountid`, `awsregion`, `eventname`, `principal`).
    for d in detections.iter().filter(|d| d.source != "cloudtrail") {
        report.detections_run += 1;
        let found = match engine.query(&d.sql).await {
            Ok(r) => findings_from(&[(d, r.batches.clone())], &r.batches),
            Err(e) => Err(e),
        };
        match found {
            Ok(f) => report.findings.extend(f),
            Err(e) => report.errors.push((d.id.clone(), e.to_string())),
        }
    }
    if ct.is_empty() {
        report.errors.sort();
        sort_findings(&mut report.findings);
        return Ok(report);
    }
    let (filters, mut withouts): (Vec<Option<String>>, Vec<Option<Statement>>) = ct
        .iter()
        .map(|d| row_filter(&d.sql))
        .map(|r| (r.filter, r.without))
        .unzip();
    let cols: Vec<Vec<String>> = ct.iter().map(|d| used_columns(&[d.sql.as_str()])).collect();
    let t = table::cloudtrail();
    let all: Vec<String> = t
        .columns
        .iter()
        .map(|c| c.name.to_string())
        .chain(t.partitions.iter().map(|p| p.name.to_string()))
        .filter(|c| cols.iter().any(|cs| cs.contains(c)))
        .collect();
    // The scan builds only the identity fields some detection names (the
    // whole struct cost more than any other column, and the detections read
    // six of its twenty fields).
    let narrowed = match identity_fields(ct.iter().map(|d| d.sql.as_str())) {
        Some(fields) => match engine.context().table_provider("cloudtrail").await {
            Ok(p) => p
                .downcast_ref::<LogTable>()
                .map(|t| t.with_struct_fields(vec![("useridentity".into(), fields)])),
            Err(_) => None,
        },
        None => None,
    };
    let scan_engine = Engine::new(engine.diag.clone());
    let engine = match narrowed {
        Some(t) => {
            scan_engine
                .context()
                .register_table("cloudtrail", Arc::new(t))?;
            &scan_engine
        }
        None => engine,
    };
    // The scan has no WHERE: each batch is split by the detections' own
    // filters (see [`crate::split`]).
    let df = engine
        .plan(&format!("SELECT {} FROM cloudtrail", all.join(", ")))
        .await?;
    let schema: datafusion::arrow::datatypes::SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let idx: Vec<Vec<usize>> = cols
        .iter()
        .map(|cs| cs.iter().filter_map(|c| schema.index_of(c).ok()).collect())
        .collect();
    let tp = std::time::Instant::now();
    let (splitter, exact) = Splitter::new(engine, &schema, &filters, idx.clone()).await?;
    if profile {
        eprintln!(
            "hunt: row filters planned in {:.3}s (setup before the scan {:.3}s)",
            tp.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64()
        );
        let open: Vec<&str> = ct
            .iter()
            .enumerate()
            .filter(|(i, _)| !splitter.guarded(*i))
            .map(|(_, d)| d.id.as_str())
            .collect();
        eprintln!(
            "hunt: {} of {} row filters without an event-name guard: {}",
            open.len(),
            ct.len(),
            open.join(", ")
        );
    }
    let splitter = Arc::new(splitter);
    // One worker per scan partition, each splitting the batches it reads.
    let workers: Vec<_> = df
        .execute_stream_partitioned()
        .await?
        .into_iter()
        .map(|mut stream| {
            let splitter = splitter.clone();
            tokio::spawn(async move {
                let mut out = splitter.start();
                while let Some(batch) = stream.next().await {
                    splitter.split(&batch?, &mut out)?;
                }
                Ok::<_, DataFusionError>(out)
            })
        })
        .collect();
    let mut tables: Vec<Vec<Piece>> = vec![vec![]; ct.len()];
    let mut failed: Vec<Option<String>> = vec![None; ct.len()];
    let mut cost = vec![0f64; ct.len()];
    let mut dispatch_cost = 0f64;
    for w in workers {
        let out = w
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        dispatch_cost += out.dispatch_cost;
        for (c, o) in cost.iter_mut().zip(&out.cost) {
            *c += o;
        }
        for (i, (pieces, f)) in out.pieces.into_iter().zip(out.failed).enumerate() {
            tables[i].extend(pieces);
            if failed[i].is_none() {
                failed[i] = f;
            }
        }
    }
    if profile {
        let mut by_cost: Vec<(f64, &str)> = cost
            .iter()
            .zip(&ct)
            .map(|(c, d)| (*c, d.id.as_str()))
            .collect();
        by_cost.sort_by(|a, b| b.0.total_cmp(&a.0));
        let top: Vec<String> = by_cost
            .iter()
            .take(8)
            .map(|(c, id)| format!("{id} {c:.3}s"))
            .collect();
        eprintln!(
            "hunt: split {:.2}s in all (dispatch {dispatch_cost:.2}s; costliest filters: {})",
            cost.iter().sum::<f64>() + dispatch_cost,
            top.join(", ")
        );
        eprintln!(
            "hunt: scan {:.2}s ({} detections, {} without a row filter)",
            t0.elapsed().as_secs_f64(),
            ct.len(),
            filters.iter().filter(|f| f.is_none()).count()
        );
        let held = held_bytes(&schema, &tables, &idx);
        let total: usize = held.iter().map(|c| c.0).sum();
        let cols: Vec<String> = held
            .iter()
            .map(|(b, n)| format!("{n} {}MB", b >> 20))
            .collect();
        eprintln!(
            "hunt: detections' rows hold {}MB: {}",
            total >> 20,
            cols.join(", ")
        );
    }
    // Each detection runs in its own session on its own rows, as many at a
    // time as there are cores (at least two, at most eight), the heaviest
    // first: most detections use one core, and the findings of a broad one
    // take as long as its query.
    let mut jobs = vec![];
    for (i, d) in ct.iter().enumerate() {
        report.detections_run += 1;
        if let Some(e) = failed[i].take() {
            report.errors.push((d.id.clone(), e));
            continue;
        }
        let batches = std::mem::take(&mut tables[i]);
        let rows = batches.iter().map(Piece::kept).sum::<usize>();
        report.rows_scanned_into_memory += rows;
        let stmt = withouts[i].take().filter(|_| exact[i]);
        jobs.push((
            rows,
            Job {
                detection: (*d).clone(),
                schema: Arc::new(schema.project(&idx[i])?),
                batches,
                stmt,
            },
        ));
    }
    jobs.sort_by_key(|(rows, _)| std::cmp::Reverse(*rows));
    let diag = engine.diag.clone();
    let at_once = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8);
    let mut runs = futures::stream::iter(
        jobs.into_iter()
            .map(|(_, job)| tokio::spawn(run_detection(job, diag.clone(), profile))),
    )
    .buffer_unordered(at_once);
    while let Some(r) = runs.next().await {
        match r {
            Ok(Ok(f)) => report.findings.extend(f),
            Ok(Err(e)) => report.errors.push(e),
            Err(e) => return Err(DataFusionError::External(Box::new(e))),
        }
    }
    report.errors.sort();
    sort_findings(&mut report.findings);
    if profile {
        eprintln!("hunt: total {:.2}s", t0.elapsed().as_secs_f64());
    }
    Ok(report)
}

/// Memory the detections' rows hold, per scan column, largest first
/// (buffers shared between detections counted once). For the profile.
fn held_bytes<'s>(
    schema: &'s datafusion::arrow::datatypes::Schema,
    tables: &[Vec<Piece>],
    idx: &[Vec<usize>],
) -> Vec<(usize, &'s str)> {
    let mut seen: HashSet<usize> = HashSet::new();
    let mut by_col: Vec<(usize, &str)> = vec![];
    for (ci, field) in schema.fields().iter().enumerate() {
        let mut bytes = 0usize;
        for (pieces, cols) in tables.iter().zip(idx) {
            let Some(pos) = cols.iter().position(|&c| c == ci) else {
                continue;
            };
            for p in pieces {
                let mut stack = vec![p.rows.column(pos).to_data()];
                while let Some(d) = stack.pop() {
                    let buffers = d.buffers().iter().chain(d.nulls().map(|n| n.buffer()));
                    for b in buffers {
                        if seen.insert(b.as_ptr() as usize) {
                            bytes += b.capacity();
                        }
                    }
                    stack.extend(d.child_data().iter().cloned());
                }
            }
        }
        by_col.push((bytes, field.name().as_str()));
    }
    by_col.sort_by_key(|c| std::cmp::Reverse(c.0));
    by_col
}

/// Findings in report order: severity (highest first), then first seen,
/// detection, principal.
pub fn sort_findings(f: &mut [Finding]) {
    f.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.first_seen.cmp(&b.first_seen))
            .then_with(|| a.detection_id.cmp(&b.detection_id))
            .then_with(|| a.principal.cmp(&b.principal))
    });
}

/// The column a detection's shared rows are filtered on.
const KEEP: &str = "irprep_keep";

/// One detection, ready to run on its own rows.
struct Job {
    detection: Detection,
    schema: datafusion::arrow::datatypes::SchemaRef,
    batches: Vec<Piece>,
    /// The detection without its row filter (see [`without_row_filter`]), or
    /// `None` to run its SQL as written.
    stmt: Option<Statement>,
}

/// Run one detection on its rows and build its findings; an error names the
/// detection.
async fn run_detection(
    job: Job,
    diag: crate::diag::SharedDiagnostics,
    profile: bool,
) -> std::result::Result<Vec<Finding>, (String, String)> {
    let Job {
        detection: d,
        schema,
        batches,
        stmt,
    } = job;
    let td = std::time::Instant::now();
    let rows = batches.iter().map(Piece::kept).sum::<usize>();
    let run = async {
        let mem = Engine::new(diag);
        register_pieces(&mem, schema, &batches).await?;
        let df = match stmt {
            Some(stmt) => mem.plan_statement(stmt).await?,
            None => mem.plan(&d.sql).await?,
        };
        df.collect().await
    };
    let results = run.await.map_err(|e| (d.id.clone(), e.to_string()))?;
    if profile {
        eprintln!(
            "hunt: {:.3}s {} ({rows} rows in memory)",
            td.elapsed().as_secs_f64(),
            d.id
        );
    }
    // Findings from the evidence events' facts, read from this detection's
    // own rows, off the runtime's workers.
    tokio::task::spawn_blocking(move || {
        findings_of(&d, &batches, &results, profile).map_err(|e| (d.id.clone(), e.to_string()))
    })
    .await
    .map_err(|e| ("hunt".to_string(), e.to_string()))?
}

/// Register a detection's rows as its session's `cloudtrail`: the pieces as
/// they are when none is shared, else a view filtering them on their keep
/// column (true for the copied pieces). The table has as many partitions as
/// the session runs at once, so the filter uses every core.
async fn register_pieces(
    mem: &Engine,
    schema: datafusion::arrow::datatypes::SchemaRef,
    pieces: &[Piece],
) -> Result<()> {
    use datafusion::arrow::array::BooleanArray;
    use datafusion::arrow::datatypes::{Field, Schema};
    let n = mem.context().state().config().target_partitions().max(1);
    let parts = |batches: Vec<RecordBatch>| -> Vec<Vec<RecordBatch>> {
        let mut parts = vec![vec![]; n];
        for (i, b) in batches.into_iter().enumerate() {
            parts[i % n].push(b);
        }
        parts
    };
    if pieces.iter().all(|p| p.keep.is_none()) {
        let table = MemTable::try_new(
            schema,
            parts(pieces.iter().map(|p| p.rows.clone()).collect()),
        )?;
        mem.context()
            .register_table("cloudtrail", Arc::new(table))?;
        return Ok(());
    }
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        KEEP,
        datafusion::arrow::datatypes::DataType::Boolean,
        false,
    )));
    let with_keep = Arc::new(Schema::new(fields));
    let batches = pieces
        .iter()
        .map(|p| {
            let keep = p
                .keep
                .clone()
                .unwrap_or_else(|| BooleanArray::from(vec![true; p.rows.num_rows()]));
            let mut cols = p.rows.columns().to_vec();
            cols.push(Arc::new(keep));
            RecordBatch::try_new(with_keep.clone(), cols)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    mem.context().register_table(
        "irprep_rows",
        Arc::new(MemTable::try_new(with_keep, parts(batches))?),
    )?;
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let view = mem
        .context()
        .table("irprep_rows")
        .await?
        .filter(datafusion::prelude::col(KEEP))?
        .select_columns(&names)?
        .into_view();
    mem.context().register_table("cloudtrail", view)?;
    Ok(())
}

/// One detection's findings: its result rows name the evidence events, whose
/// facts come from `table` (the rows it ran on).
fn findings_of(
    d: &Detection,
    table: &[Piece],
    results: &[RecordBatch],
    profile: bool,
) -> Result<Vec<Finding>> {
    let tm = std::time::Instant::now();
    let cols = ResultCols::new(&d.id, results)?;
    // When the evidence is most of the rows, every row is indexed rather
    // than the evidence ids gathered first.
    let (evidence, rows) = (
        results.iter().map(|b| b.num_rows()).sum::<usize>(),
        table.iter().map(Piece::kept).sum::<usize>(),
    );
    let ids: Option<AHashSet<&str>> = (evidence * 2 < rows).then(|| cols.ids().collect());
    let t_ids = tm.elapsed().as_secs_f64();
    let facts = event_meta(
        table.iter().map(|p| (&p.rows, p.keep.as_ref())),
        ids.as_ref(),
        rows,
    );
    let t_facts = tm.elapsed().as_secs_f64();
    let mut out = vec![];
    collect_findings(d, &cols, &facts, &mut out);
    if profile && tm.elapsed().as_millis() > 50 {
        eprintln!(
            "hunt: {:.3}s evidence for {} (ids {t_ids:.3}s, facts {:.3}s, findings {:.3}s; {} result rows)",
            tm.elapsed().as_secs_f64(),
            d.id,
            t_facts - t_ids,
            tm.elapsed().as_secs_f64() - t_facts,
            evidence,
        );
    }
    Ok(out)
}

/// Findings from detection results computed elsewhere (on Athena): each
/// detection's rows, and the evidence events' facts (`eventid`, `eventtime`,
/// `arn`, `accesskeyid`, `sourceipaddress`, `useragent`,
/// `recipientaccountid`, `awsregion`, `eventname`).
pub fn findings_from(
    results: &[(&Detection, Vec<RecordBatch>)],
    evidence: &[RecordBatch],
) -> Result<Vec<Finding>> {
    let cols: Vec<ResultCols> = results
        .iter()
        .map(|(d, b)| ResultCols::new(&d.id, b))
        .collect::<Result<_>>()?;
    let wanted: AHashSet<&str> = cols.iter().flat_map(ResultCols::ids).collect();
    let evidence = fact_columns_as_text(evidence)?;
    let meta = event_meta(evidence.iter().map(|b| (b, None)), Some(&wanted), 0);
    let mut out = vec![];
    for ((d, _), c) in results.iter().zip(&cols) {
        collect_findings(d, c, &meta, &mut out);
    }
    sort_findings(&mut out);
    Ok(out)
}

/// The fact columns of evidence rows as plain text (`Utf8`): rows a
/// detection computed (a flow-log record key built with `concat`, an
/// address) may come as other string or number types.
fn fact_columns_as_text(batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    const FACTS: [&str; 9] = [
        "eventid",
        "eventtime",
        "arn",
        "accesskeyid",
        "sourceipaddress",
        "useragent",
        "recipientaccountid",
        "awsregion",
        "eventname",
    ];
    let mut out = Vec::with_capacity(batches.len());
    for b in batches {
        let schema = b.schema();
        let mut fields = Vec::with_capacity(schema.fields().len());
        let mut cols = Vec::with_capacity(schema.fields().len());
        for (f, c) in schema.fields().iter().zip(b.columns()) {
            if FACTS.contains(&f.name().as_str())
                && f.data_type() != &DataType::Utf8
                && !matches!(f.data_type(), DataType::Struct(_))
            {
                cols.push(datafusion::arrow::compute::cast(c, &DataType::Utf8)?);
                fields.push(Arc::new(Field::new(f.name(), DataType::Utf8, true)));
            } else {
                cols.push(c.clone());
                fields.push(f.clone());
            }
        }
        out.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?);
    }
    Ok(out)
}

/// The evidence event ids in one detection's results (an error names the
/// detection when they have no `eventid` column).
pub fn evidence_ids(detection: &str, batches: &[RecordBatch]) -> Result<Vec<String>> {
    Ok(ResultCols::new(detection, batches)?
        .ids()
        .map(String::from)
        .collect())
}

/// One evidence event of a finding: (time, id, where its facts are).
type Event<'a> = (&'a str, &'a str, Option<(u32, u32)>);

fn collect_findings<'a>(
    d: &Detection,
    cols: &'a ResultCols,
    facts: &Facts<'a>,
    out: &mut Vec<Finding>,
) {
    let mut groups: AHashMap<&'a str, Group<'a>> = AHashMap::default();
    for (ids, sev, pri) in &cols.cols {
        let ids = ids.as_string::<i32>();
        let sev = sev.as_ref().map(|s| s.as_string::<i32>());
        let pri = pri.as_ref().map(|p| p.as_string::<i32>());
        // Results come grouped by principal more often than not: reuse the
        // last group instead of hashing the principal again.
        let mut last: Option<(&'a str, &mut Group<'a>)> = None;
        for i in 0..ids.len() {
            if !ids.is_valid(i) {
                continue;
            }
            let id = ids.value(i);
            let s = sev
                .and_then(|s| s.is_valid(i).then(|| Severity::parse(s.value(i))).flatten())
                .unwrap_or(d.severity);
            let loc = facts.locate(id);
            let p: &'a str = match pri.and_then(|p| p.is_valid(i).then(|| p.value(i))) {
                Some(p) => p,
                None => loc
                    .map(|l| facts.at(l))
                    .and_then(|m| m.arn.or(m.access_key).or(m.ip))
                    .unwrap_or("unknown"),
            };
            let g = match last.take() {
                Some((lp, g)) if lp == p => g,
                _ => groups.entry(p).or_insert((s, Vec::new())),
            };
            g.0 = g.0.max(s);
            g.1.push((id, loc));
            last = Some((p, g));
        }
    }
    let groups: Vec<(&'a str, Group<'a>)> = groups.into_iter().collect();
    let events: usize = groups.iter().map(|g| g.1 .1.len()).sum();
    let threads = if events < PARALLEL_EVIDENCE {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    out.extend(findings_in(d, groups, facts, threads));
}

/// One finding per group. A broad detection's groups hold most of the logs'
/// events: they are shared out, largest first, between `threads` threads
/// (the other detections are mostly done by the time the broadest one's
/// evidence is built). The findings come in no particular order.
fn findings_in<'a>(
    d: &Detection,
    mut groups: Vec<(&'a str, Group<'a>)>,
    facts: &Facts<'a>,
    threads: usize,
) -> Vec<Finding> {
    let threads = threads.min(groups.len());
    if threads < 2 {
        return groups
            .into_iter()
            .map(|(p, (sev, ids))| finding_of(d, p, sev, ids, facts))
            .collect();
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.1 .1.len()));
    let mut shares: Vec<(usize, Vec<(&'a str, Group<'a>)>)> =
        (0..threads).map(|_| (0, vec![])).collect();
    for g in groups {
        if let Some(share) = shares.iter_mut().min_by_key(|s| s.0) {
            share.0 += g.1 .1.len();
            share.1.push(g);
        }
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|(_, share)| {
                scope.spawn(move || {
                    share
                        .into_iter()
                        .map(|(p, (sev, ids))| finding_of(d, p, sev, ids, facts))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut out = vec![];
        for h in handles {
            match h.join() {
                Ok(f) => out.extend(f),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

/// A principal's evidence: the highest severity, and each event's id and
/// where its facts are.
type Group<'a> = (Severity, Vec<(&'a str, Option<(u32, u32)>)>);

/// Evidence events from which a detection's findings are built on several
/// threads.
const PARALLEL_EVIDENCE: usize = 100_000;

/// The finding of one detection × principal from its evidence events.
fn finding_of<'a>(
    d: &Detection,
    principal: &str,
    severity: Severity,
    ids: Vec<(&'a str, Option<(u32, u32)>)>,
    facts: &Facts<'a>,
) -> Finding {
    let (events, sets) = match in_row_order(&ids, facts) {
        Some(r) => r,
        None => in_time_order(ids, facts),
    };
    let [accounts, regions, ips, uas, names] = sets.map(|s| {
        let mut v: Vec<&str> = s.into_iter().collect();
        v.sort_unstable();
        v.into_iter().map(String::from).collect::<Vec<String>>()
    });
    let mut times = events.iter().map(|e| e.0).filter(|t| !t.is_empty());
    let first = times.next().unwrap_or_default();
    let last = times.next_back().unwrap_or(first);
    Finding {
        detection_id: d.id.clone(),
        title: d.title.clone(),
        severity,
        attack: d.attack.clone(),
        tactics: d.tactics.clone(),
        principal: principal.to_string(),
        accounts,
        regions,
        first_seen: first.to_string(),
        last_seen: last.to_string(),
        event_count: events.len(),
        source_ips: ips,
        user_agents: uas,
        event_names: names,
        event_ids: events.into_iter().map(|e| e.1.to_string()).collect(),
    }
}

/// The five sets a finding gathers (account, region, source IP, user agent,
/// event name), filled event by event; consecutive events mostly repeat a
/// value, which is then not hashed again.
#[derive(Default)]
struct Sets<'a> {
    sets: [AHashSet<&'a str>; 5],
    last: [Option<&'a str>; 5],
}

impl<'a> Sets<'a> {
    fn add(&mut self, values: [Option<&'a str>; 5]) {
        for ((set, prev), v) in self.sets.iter_mut().zip(self.last.iter_mut()).zip(values) {
            if let Some(v) = v {
                if *prev != Some(v) {
                    set.insert(v);
                    *prev = Some(v);
                }
            }
        }
    }
}

/// A finding's events in time order, (time, id), and the sets of its
/// accounts, regions, source IPs, user agents and event names.
type Ordered<'a> = (Vec<(&'a str, &'a str)>, [AHashSet<&'a str>; 5]);

/// A finding's evidence events as (time, id) in time order (ties by id, an
/// event once), and its sets, with the facts read in the order of the rows:
/// a broad detection's evidence is most of the logs, and reading its facts
/// in time order would jump across them for every event. `None` when some
/// event has no row or its time is not CloudTrail's `YYYY-MM-DDTHH:MM:SSZ`
/// ([`in_time_order`] then orders them as text).
fn in_row_order<'a>(
    ids: &[(&'a str, Option<(u32, u32)>)],
    facts: &Facts<'a>,
) -> Option<Ordered<'a>> {
    let mut locs: Vec<u64> = Vec::with_capacity(ids.len());
    for (_, l) in ids {
        let (b, i) = (*l)?;
        locs.push(u64::from(b) << 32 | u64::from(i));
    }
    // An id listed twice has one row (the index holds one per id).
    locs.sort_unstable();
    locs.dedup();
    let mut rows: Vec<(&'a str, &'a str)> = Vec::with_capacity(locs.len());
    // (time as a number, first 8 bytes of the id as a number, row): 24
    // bytes moved per swap; ids are compared whole only on a tie of both.
    let mut keys: Vec<(u64, u64, u32)> = Vec::with_capacity(locs.len());
    let mut sets = Sets::default();
    for l in locs {
        let loc = ((l >> 32) as u32, l as u32);
        let time = facts.time(loc)?;
        let id = facts.id(loc)?;
        keys.push((packed_time(time)?, id_prefix(id), rows.len() as u32));
        rows.push((time, id));
        sets.add(facts.sets(loc));
    }
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| rows[a.2 as usize].1.cmp(rows[b.2 as usize].1))
    });
    Some((
        keys.into_iter().map(|k| rows[k.2 as usize]).collect(),
        sets.sets,
    ))
}

/// An id's first 8 bytes as a big-endian number (zeros after a shorter id):
/// two ids' numbers are in the order of the ids, or equal.
fn id_prefix(id: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = id.len().min(8);
    b[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// [`in_row_order`] for any evidence: events without a row have no time,
/// and times of another form are ordered as text.
fn in_time_order<'a>(ids: Vec<(&'a str, Option<(u32, u32)>)>, facts: &Facts<'a>) -> Ordered<'a> {
    // (time, id, where): the sort compares the first two without
    // following a pointer into the columns.
    let mut events: Vec<Event<'a>> = ids
        .into_iter()
        .map(|(i, l)| (l.and_then(|l| facts.time(l)).unwrap_or_default(), i, l))
        .collect();
    // Time order; an id listed twice has the same time, so it lands next
    // to itself. CloudTrail's times are `YYYY-MM-DDTHH:MM:SSZ`, whose text
    // order is the order of their digits as one number: when every time
    // has that form, the sort compares numbers.
    match events
        .iter()
        .map(|e| packed_time(e.0))
        .collect::<Option<Vec<u64>>>()
    {
        Some(keys) => {
            let mut keyed: Vec<(u64, Event<'a>)> = keys.into_iter().zip(events).collect();
            // Ids are compared only between events of the same second.
            keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1 .1.cmp(b.1 .1)));
            keyed.dedup_by(|a, b| a.0 == b.0 && a.1 .1 == b.1 .1);
            events = keyed.into_iter().map(|(_, e)| e).collect();
        }
        None => {
            events.sort_unstable_by(|a, b| a.0.cmp(b.0).then_with(|| a.1.cmp(b.1)));
            events.dedup_by(|a, b| a.1 == b.1);
        }
    }
    let mut sets = Sets::default();
    for l in events.iter().filter_map(|e| e.2) {
        sets.add(facts.sets(l));
    }
    (
        events.into_iter().map(|(t, i, _)| (t, i)).collect(),
        sets.sets,
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ` as the number its digits spell, which orders
/// such times as their text does; `None` for any other form.
fn packed_time(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() != 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return None;
    }
    let mut n = 0u64;
    for &c in b[..19].iter().filter(|c| !matches!(c, b'-' | b'T' | b':')) {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(c - b'0');
    }
    Some(n)
}

/// Does this statement parse as Athena SQL we can run?
pub fn check_sql(sql: &str) -> std::result::Result<(), String> {
    let stmts = athena::parse(sql)?;
    match stmts.as_slice() {
        [Statement::Query(_)] => Ok(()),
        _ => Err("a detection must be exactly one SELECT/WITH query".into()),
    }
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
        assert!(row_filter("SELECT eventid FROM cloudtrail WHERE eventname = 'X' AND eventid IN (SELECT eventid FROM cloudtrail WHERE eventname = 'Y')").without.is_none());
        // Two reads: the rows in memory are the union, each WHERE is needed.
        assert!(row_filter("WITH a AS (SELECT eventid FROM cloudtrail WHERE eventname = 'A'), b AS (SELECT eventid FROM cloudtrail WHERE eventname = 'B') SELECT eventid FROM a UNION ALL SELECT eventid FROM b").without.is_none());
        assert!(row_filter("SELECT eventid FROM cloudtrail")
            .without
            .is_none());
    }

    #[test]
    fn row_order_equals_time_order() {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        // Two batches of events: many in the same second, ids in no order,
        // repeated values; the evidence names some events twice, in a
        // shuffled order.
        let schema = Arc::new(Schema::new(
            [
                "eventid",
                "eventtime",
                "recipientaccountid",
                "awsregion",
                "sourceipaddress",
                "useragent",
                "eventname",
            ]
            .map(|n| Field::new(n, DataType::Utf8, true))
            .to_vec(),
        ));
        let batch = |seed: u64, n: usize| {
            let mut x = seed;
            let mut next = move || {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x >> 33
            };
            let mut cols: Vec<Vec<Option<String>>> = vec![vec![]; 7];
            for _ in 0..n {
                let r = next();
                cols[0].push(Some(format!(
                    "{:08x}-{:04x}-4000-8000-{:012x}",
                    r % 50,
                    next() % 7,
                    next()
                )));
                cols[1].push(Some(format!("2024-01-01T00:00:{:02}Z", next() % 5)));
                cols[2].push(Some(format!("{:012}", next() % 2)));
                cols[3].push((next() % 4 != 0).then(|| format!("us-east-{}", next() % 2)));
                cols[4].push(Some(format!("10.0.0.{}", next() % 3)));
                cols[5].push(Some(format!("agent/{}", next() % 3)));
                cols[6].push(Some(format!("Call{}", next() % 4)));
            }
            RecordBatch::try_new(
                schema.clone(),
                cols.into_iter()
                    .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
                    .collect(),
            )
            .unwrap()
        };
        let batches = [batch(1, 300), batch(2, 200)];
        let facts = event_meta(batches.iter().map(|b| (b, None)), None, 500);
        let all: Vec<&str> = batches
            .iter()
            .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten())
            .collect();
        let mut ids: Vec<(&str, Option<(u32, u32)>)> = all
            .iter()
            .step_by(3)
            .chain(all.iter().step_by(7))
            .map(|id| (*id, facts.locate(id)))
            .collect();
        ids.reverse();
        fn sorted(sets: [AHashSet<&str>; 5]) -> [BTreeSet<&str>; 5] {
            sets.map(|s| s.into_iter().collect())
        }
        let (fast, fast_sets) =
            in_row_order(&ids, &facts).expect("every event has a row and a CloudTrail time");
        let (slow, slow_sets) = in_time_order(ids.clone(), &facts);
        assert_eq!(fast, slow);
        assert_eq!(sorted(fast_sets), sorted(slow_sets));
        assert!(
            fast.len() > 150 && fast.windows(2).all(|w| w[0] < w[1]),
            "time order, ties by id, each event once"
        );
        // An event without a row, or a time of another form, leaves the
        // order to the text comparison.
        ids.push(("not-an-event", None));
        assert!(in_row_order(&ids, &facts).is_none());
    }

    #[test]
    fn findings_on_threads_equal_findings_on_one() {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = Arc::new(Schema::new(
            ["eventid", "eventtime", "sourceipaddress"]
                .map(|n| Field::new(n, DataType::Utf8, true))
                .to_vec(),
        ));
        let n = 2000;
        let ids: Vec<String> = (0..n)
            .map(|i| format!("{:08x}-0000-4000-8000-{:012x}", i % 97, i))
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids.clone())),
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| format!("2024-01-01T00:{:02}:{:02}Z", i % 60, (i * 7) % 60))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(
                (0..n)
                    .map(|i| format!("10.0.{}.1", i % 5))
                    .collect::<Vec<_>>(),
            )),
        ];
        let batch = RecordBatch::try_new(schema, cols).unwrap();
        let facts = event_meta([(&batch, None)], None, n);
        let d: Detection = serde_json::from_str(r#"{"id": "t", "title": "T", "severity": "low", "sql": "SELECT eventid FROM cloudtrail"}"#).unwrap();
        // Five principals of unequal size, one event named twice.
        let groups = || -> Vec<(&str, Group<'_>)> {
            let names = ["a", "b", "c", "d", "e"];
            names
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    (
                        *p,
                        (
                            Severity::Low,
                            ids.iter()
                                .enumerate()
                                .filter(|(i, _)| i % (k + 2) == 0)
                                .map(|(_, id)| (id.as_str(), facts.locate(id)))
                                .chain([(ids[0].as_str(), facts.locate(&ids[0]))])
                                .collect(),
                        ),
                    )
                })
                .collect()
        };
        let json = |mut f: Vec<Finding>| {
            sort_findings(&mut f);
            serde_json::to_string(&f).unwrap()
        };
        let one = json(findings_in(&d, groups(), &facts, 1));
        assert_eq!(json(findings_in(&d, groups(), &facts, 2)), one);
        assert_eq!(json(findings_in(&d, groups(), &facts, 3)), one);
        assert!(one.contains("10.0.4.1") && one.matches("\"detection_id\"").count() == 5);
    }

    #[test]
    fn packed_times_order_as_text() {
        let times = [
            "2026-01-11T23:15:02Z",
            "2026-01-11T23:15:10Z",
            "2026-01-12T00:00:00Z",
            "2025-12-31T23:59:59Z",
            "1999-01-01T00:00:00Z",
        ];
        for a in times {
            for b in times {
                assert_eq!(
                    packed_time(a).unwrap().cmp(&packed_time(b).unwrap()),
                    a.cmp(b),
                    "{a} {b}"
                );
            }
        }
        for odd in [
            "2026-01-11T23:15:02.123Z",
            "2026-01-11 23:15:02Z",
            "",
            "2026-0a-11T23:15:02Z",
        ] {
            assert_eq!(packed_time(odd), None, "{odd}");
        }
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
}
