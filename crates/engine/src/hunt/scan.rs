//! The hunt's scan, batch by batch: which rows each detection keeps.
//!
//! Each detection's row filter (a typed expression from [`super::plan`]) is
//! planned once into an expression over the scan's columns. Most filters name
//! the API calls they are about (`eventname = 'StopLogging'`, `eventname IN
//! (…)`), and on a real account nearly every row is some other call. So the
//! filters are not all evaluated on every row: a table from event name to
//! the detections whose filter can hold for it ("guards", read off the
//! filter by [`super::plan::guard`]) sends each row only to those, and a filter is evaluated on
//! its candidate rows alone. Filters without a guard run on the whole batch.
//! The result is exactly each filter's own: a guard is a condition the
//! filter implies.
//!
//! A filter without an event-name guard may still be made of conditions on
//! single columns whose values repeat (`regexp_like(eventname, '^List')`,
//! `errorcode`, `useridentity.type`, the ARN, the agent): those are decided
//! once per value and remembered ([`super::keys`]), and the rest of the
//! filter is evaluated on the rows they admit.
//!
//! A detection keeping most of a batch shares the batch's columns (no copy)
//! with a mask; one keeping a few rows gets them copied.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{filter_record_batch, prep_null_mask_filter, take_record_batch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::DFSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::{Expr as LExpr, LogicalPlan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::sql::sqlparser::ast::{self, Expr};

use super::plan::RowFilter;
use crate::{athena, Engine};

type AHashMap<K, V> = HashMap<K, V, ahash::RandomState>;

/// A detection keeping at least one row in this many of a batch shares the
/// batch instead of copying its rows; a guarded filter with candidates in at
/// least one row in this many is evaluated on the whole batch.
const SHARE_ABOVE: usize = 4;

/// Some of a detection's rows: a batch of the scan (the detection's
/// columns), all of it or the rows `keep` marks.
#[derive(Clone)]
pub(crate) struct Piece {
    pub rows: RecordBatch,
    pub keep: Option<BooleanArray>,
}

impl Piece {
    pub fn kept(&self) -> usize {
        self.keep
            .as_ref()
            .map_or(self.rows.num_rows(), |k| k.true_count())
    }
}

/// One detection's row filter, ready for the scan's batches.
struct Filter {
    /// The scan columns the expression reads, in its input order.
    cols: Vec<usize>,
    /// `None`: the detection keeps every row.
    expr: Option<Arc<dyn PhysicalExpr>>,
    /// Event names outside which the filter is false, when it says so.
    guard: Option<BTreeSet<String>>,
    /// Keyed (see [`super::keys`]): the rest of the filter, beyond its key
    /// conditions (`Some(None)`: the key conditions are all of it).
    keyed: Option<Option<super::keys::Planned>>,
}

/// Splits the scan's batches into each detection's rows.
pub(crate) struct Splitter {
    filters: Vec<Filter>,
    /// The scan columns each detection's rows carry.
    columns: Arc<Vec<Vec<usize>>>,
    /// The scan's schema.
    scan: SchemaRef,
    /// Event name -> detections whose guard includes it.
    dispatch: AHashMap<String, Vec<u32>>,
    eventname: Option<usize>,
    /// The key columns and the detections they guard.
    keys: super::keys::Keys,
    /// The memory the rows may hold, shared by the workers.
    pub budget: Arc<super::spill::Budget>,
}

/// What one worker has split so far.
pub(crate) struct Split {
    /// Each detection's rows in memory (and on disk, past the budget).
    pub held: super::spill::Held,
    /// A filter that failed on some batch: the detection is reported with
    /// this error and gets no more rows.
    pub failed: Vec<Option<String>>,
    candidates: Vec<Vec<u32>>,
    /// The key values this worker has decided.
    memo: super::keys::Memo,
    /// Seconds spent per filter (evaluating and copying), and in dispatch.
    pub cost: Vec<f64>,
    pub dispatch_cost: f64,
}

impl Splitter {
    /// Plan each filter (`None` keeps every row) over the scan's schema.
    /// Returns the splitter and, per detection, whether its rows are exactly
    /// its filter's (false when the filter could not be planned alone and
    /// the detection gets every row).
    pub async fn new(
        engine: &Engine,
        scan: &SchemaRef,
        filters: &[&RowFilter],
        columns: Vec<Vec<usize>>,
        budget: Arc<super::spill::Budget>,
    ) -> Result<(Splitter, Vec<bool>)> {
        let mut compiled = Vec::with_capacity(filters.len());
        let mut exact = Vec::with_capacity(filters.len());
        for f in filters {
            let planned = match &f.filter {
                Some(e) => plan_filter(engine, scan, e).await.ok(),
                None => None,
            };
            exact.push(f.filter.is_none() || planned.is_some());
            compiled.push(match planned {
                Some((cols, expr)) => Filter {
                    cols,
                    expr: Some(expr),
                    guard: f.guard.clone(),
                    keyed: None,
                },
                None => Filter {
                    cols: vec![],
                    expr: None,
                    guard: None,
                    keyed: None,
                },
            });
        }
        // Key guards, for the filters without an event-name guard.
        let mut key_columns: Vec<super::keys::KeyColumn> = vec![];
        let mut keyed: Vec<u32> = vec![];
        for (i, f) in filters.iter().enumerate() {
            if compiled[i].expr.is_none() || compiled[i].guard.is_some() {
                continue;
            }
            let Some(g) = &f.key else { continue };
            let mut conditions = vec![];
            for (k, cond) in &g.columns {
                let Ok(col) = scan.index_of(&k.column) else {
                    break;
                };
                let Ok(planned) = plan_filter(engine, scan, cond).await else {
                    break;
                };
                conditions.push(((col, k.field.clone()), planned));
            }
            // Each key column's value as the conditions read it (a struct
            // field through the engine's own field access).
            let mut values = vec![];
            for (k, _) in &g.columns {
                let e = match &k.field {
                    Some(f) => Expr::CompoundIdentifier(vec![
                        ast::Ident::new(k.column.clone()),
                        ast::Ident::new(f.clone()),
                    ]),
                    None => Expr::Identifier(ast::Ident::new(k.column.clone())),
                };
                match plan_expr(engine, scan, &e, false).await {
                    Ok(v) => values.push(v),
                    Err(_) => break,
                }
            }
            if values.len() != g.columns.len() {
                continue;
            }
            if conditions.len() != g.columns.len() {
                continue;
            }
            let rest = match &g.rest {
                Some(r) => match plan_filter(engine, scan, r).await {
                    Ok(p) => Some(p),
                    Err(_) => continue,
                },
                None => None,
            };
            let kd = keyed.len();
            keyed.push(i as u32);
            for (((col, field), (pcols, pexpr)), value) in conditions.into_iter().zip(values) {
                let at = match key_columns
                    .iter()
                    .position(|c| c.column == col && c.field == field)
                {
                    Some(at) => at,
                    None => {
                        key_columns.push(super::keys::KeyColumn {
                            column: col,
                            field,
                            value,
                            conditions: vec![],
                        });
                        key_columns.len() - 1
                    }
                };
                key_columns[at].conditions.push((kd, pcols, pexpr));
            }
            compiled[i].keyed = Some(rest);
        }
        let keys = super::keys::Keys::new(key_columns, keyed);
        let mut dispatch: AHashMap<String, Vec<u32>> = AHashMap::default();
        for (i, f) in compiled.iter().enumerate() {
            for name in f.guard.iter().flatten() {
                dispatch.entry(name.clone()).or_default().push(i as u32);
            }
        }
        let eventname = scan.index_of("eventname").ok();
        Ok((
            Splitter {
                filters: compiled,
                columns: Arc::new(columns),
                scan: scan.clone(),
                dispatch,
                eventname,
                keys,
                budget,
            },
            exact,
        ))
    }

    /// Whether detection `i`'s filter is evaluated only on the rows its
    /// event names or its key conditions admit.
    pub fn guarded(&self, i: usize) -> bool {
        self.filters[i].guard.is_some() || self.filters[i].keyed.is_some()
    }

    pub fn start(&self) -> Split {
        let n = self.filters.len();
        Split {
            held: super::spill::Held::new(self.scan.clone(), self.columns.clone()),
            failed: vec![None; n],
            candidates: vec![vec![]; n],
            memo: self.keys.memo(),
            cost: vec![0.0; n],
            dispatch_cost: 0.0,
        }
    }

    /// Add one scan batch's rows to each detection's pieces.
    pub fn split(&self, batch: &RecordBatch, out: &mut Split) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        // Guarded filters: their candidate rows, by event name.
        // Without a text event-name column every filter runs on the whole
        // batch (the guards only save work).
        let names = match self.eventname {
            Some(i) if !self.dispatch.is_empty() => batch.column(i).as_string_opt::<i32>(),
            _ => None,
        };
        let t0 = std::time::Instant::now();
        for c in out.candidates.iter_mut() {
            c.clear();
        }
        if let Some(names) = names {
            let mut last: Option<(&str, &Vec<u32>)> = None;
            for r in 0..n {
                if !names.is_valid(r) {
                    continue;
                }
                let name = names.value(r);
                // Runs of the same call are common: skip the lookup.
                let ds = match last {
                    Some((l, ds)) if l == name => Some(ds),
                    _ => {
                        let ds = self.dispatch.get(name);
                        last = ds.map(|ds| (name, ds));
                        ds
                    }
                };
                for &d in ds.into_iter().flatten() {
                    out.candidates[d as usize].push(r as u32);
                }
            }
        }
        let keyed = !self.keys.is_empty()
            && self
                .keys
                .dispatch(batch, &mut out.memo, &mut out.candidates, &mut out.failed)?;
        out.dispatch_cost += t0.elapsed().as_secs_f64();
        // What this batch's pieces hold: the batch's columns they share,
        // once, and the rows copied out of it.
        let mut shared = vec![false; batch.num_columns()];
        let mut copied = 0usize;
        // The number this batch has if any piece shares it.
        let slot = out.held.next_batch();
        for (i, f) in self.filters.iter().enumerate() {
            if out.failed[i].is_some() {
                continue;
            }
            let t0 = std::time::Instant::now();
            // What is still to evaluate, and on which rows: a keyed filter's
            // rest on the rows its key conditions admit; a guarded filter
            // whole on its event names' rows; any other on the whole batch.
            let (expr, cands) = match (&f.keyed, &f.expr) {
                (Some(rest), _) if keyed => (
                    rest.as_ref().map(|(c, e)| (c.as_slice(), e)),
                    Some(out.candidates[i].as_slice()),
                ),
                (_, Some(e)) if names.is_some() && f.guard.is_some() => (
                    Some((f.cols.as_slice(), e)),
                    Some(out.candidates[i].as_slice()),
                ),
                (_, e) => (e.as_ref().map(|e| (f.cols.as_slice(), e)), None),
            };
            if cands.is_some_and(|c| c.is_empty()) {
                continue;
            }
            let rows = batch.project(&self.columns[i])?;
            let piece = match (expr, cands) {
                (None, None) => Ok(Some((Piece { rows, keep: None }, true))),
                (None, Some(c)) => piece_of_rows(rows, c),
                // Few candidates: evaluated on them alone.
                (Some((cols, e)), Some(c)) if c.len() * SHARE_ABOVE < n => {
                    eval_on(e, &batch.project(cols)?, Some(c)).and_then(|mask| {
                        let kept: Vec<u32> = c
                            .iter()
                            .zip(mask.iter())
                            .filter(|(_, k)| *k == Some(true))
                            .map(|(r, _)| *r)
                            .collect();
                        piece_of_rows(rows, &kept)
                    })
                }
                // Many: on the whole batch, kept where a candidate.
                (Some((cols, e)), Some(c)) => {
                    eval_on(e, &batch.project(cols)?, None).and_then(|mask| {
                        let mut admitted = vec![false; n];
                        for &r in c {
                            admitted[r as usize] = true;
                        }
                        let mask: BooleanArray = mask
                            .iter()
                            .zip(admitted)
                            .map(|(m, a)| Some(a && m == Some(true)))
                            .collect();
                        piece_of(rows, mask)
                    })
                }
                (Some((cols, e)), None) => {
                    eval_on(e, &batch.project(cols)?, None).and_then(|mask| piece_of(rows, mask))
                }
            };
            // A filter that fails here fails its detection alone.
            let piece = match piece {
                Ok(p) => p,
                Err(err) => {
                    out.failed[i] = Some(err.to_string());
                    None
                }
            };
            if let Some((p, share)) = piece {
                if share {
                    for &c in &self.columns[i] {
                        shared[c] = true;
                    }
                } else {
                    copied += p.rows.get_array_memory_size();
                }
                out.held.push(i, p, share.then_some(slot));
            }
            out.cost[i] += t0.elapsed().as_secs_f64();
        }
        if shared.iter().any(|s| *s) {
            out.held.share(batch, &shared);
        }
        let bytes = super::spill::columns_bytes(batch, &shared) + copied;
        out.held.bytes += bytes;
        self.budget.add(bytes);
        Ok(())
    }
}

/// A detection's rows of one batch from its filter's mask over the batch,
/// and whether they share the batch's columns (rather than copy them).
fn piece_of(rows: RecordBatch, mask: BooleanArray) -> Result<Option<(Piece, bool)>> {
    let mask = if mask.null_count() > 0 {
        prep_null_mask_filter(&mask)
    } else {
        mask
    };
    let kept = mask.true_count();
    Ok(if kept == 0 {
        None
    } else if kept == rows.num_rows() {
        Some((Piece { rows, keep: None }, true))
    } else if kept * SHARE_ABOVE >= rows.num_rows() {
        Some((
            Piece {
                rows,
                keep: Some(mask),
            },
            true,
        ))
    } else {
        Some((
            Piece {
                rows: filter_record_batch(&rows, &mask)?,
                keep: None,
            },
            false,
        ))
    })
}

/// A detection's rows of one batch given as row numbers (ascending): shared
/// with a mask when they are many, copied when few.
fn piece_of_rows(rows: RecordBatch, kept: &[u32]) -> Result<Option<(Piece, bool)>> {
    let n = rows.num_rows();
    Ok(if kept.is_empty() {
        None
    } else if kept.len() == n {
        Some((Piece { rows, keep: None }, true))
    } else if kept.len() * SHARE_ABOVE >= n {
        let mut mask = vec![false; n];
        for &r in kept {
            mask[r as usize] = true;
        }
        Some((
            Piece {
                rows,
                keep: Some(BooleanArray::from(mask)),
            },
            true,
        ))
    } else {
        Some((
            Piece {
                rows: take_record_batch(&rows, &UInt32Array::from(kept.to_vec()))?,
                keep: None,
            },
            false,
        ))
    })
}

/// Evaluate a filter on a batch's rows (or only on `rows` of it).
pub(crate) fn eval_on(
    e: &Arc<dyn PhysicalExpr>,
    batch: &RecordBatch,
    rows: Option<&[u32]>,
) -> Result<BooleanArray> {
    let input = match rows {
        Some(r) => take_record_batch(batch, &UInt32Array::from(r.to_vec()))?,
        None => batch.clone(),
    };
    let v = e.evaluate(&input)?.into_array(input.num_rows())?;
    match v.as_boolean_opt() {
        Some(b) => Ok(b.clone()),
        None => Err(datafusion::error::DataFusionError::Plan(format!(
            "row filter returned {} instead of boolean",
            v.data_type()
        ))),
    }
}

/// Plan one filter on the scan's columns, as the query `SELECT
/// coalesce((filter), false) FROM cloudtrail`: the columns it reads and its
/// expression over just those.
async fn plan_filter(
    engine: &Engine,
    scan: &SchemaRef,
    filter: &Expr,
) -> Result<(Vec<usize>, Arc<dyn PhysicalExpr>)> {
    plan_expr(engine, scan, filter, true).await
}

/// Plan an expression on the scan's columns as the query `SELECT expr FROM
/// cloudtrail` (with `as_filter`, `coalesce((expr), false)`): the columns it
/// reads and its expression over just those.
pub(crate) async fn plan_expr(
    engine: &Engine,
    scan: &SchemaRef,
    filter: &Expr,
    as_filter: bool,
) -> Result<(Vec<usize>, Arc<dyn PhysicalExpr>)> {
    const SLOT: &str = "irprep_row_filter";
    let select = if as_filter {
        format!("SELECT coalesce(({SLOT}), false) FROM cloudtrail")
    } else {
        format!("SELECT {SLOT} FROM cloudtrail")
    };
    let mut stmt = athena::parse(&select)
        .map_err(DataFusionError::Plan)?
        .remove(0);
    let _ = ast::visit_expressions_mut(&mut stmt, |e| {
        if matches!(e, Expr::Identifier(i) if i.value == SLOT) {
            *e = filter.clone();
        }
        ControlFlow::<()>::Continue(())
    });
    let df = engine.plan_statement(stmt).await?;
    let LogicalPlan::Projection(p) = df.logical_plan() else {
        return Err(datafusion::error::DataFusionError::Plan(
            "unexpected filter plan".into(),
        ));
    };
    let expr: LExpr = p.expr[0].clone().unalias();
    let mut cols: Vec<usize> = expr
        .column_refs()
        .iter()
        .map(|c| scan.index_of(&c.name))
        .collect::<std::result::Result<_, _>>()?;
    cols.sort_unstable();
    cols.dedup();
    let schema = Arc::new(DFSchema::try_from_qualified_schema(
        "cloudtrail",
        &scan.project(&cols)?,
    )?);
    let state = engine.context().state();
    // Coerced and simplified as the optimizer would (some functions, such
    // as `coalesce`, only run in their simplified form).
    let simplifier = ExprSimplifier::new(
        SimplifyContext::builder()
            .with_schema(schema.clone())
            .with_config_options(state.config_options().clone())
            .build(),
    );
    let expr = simplifier.simplify(simplifier.coerce(expr, &schema)?)?;
    let phys = state.create_physical_expr(expr, &schema)?;
    Ok((cols, phys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, StringArray, StructArray};
    use datafusion::arrow::buffer::NullBuffer;
    use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema};
    use datafusion::datasource::MemTable;

    /// Batches with repeated and unique values, nulls in columns and in the
    /// identity struct, more distinct agents than a worker remembers, and
    /// agents longer than it remembers.
    fn batches() -> (SchemaRef, Vec<RecordBatch>) {
        let identity = Fields::from(vec![
            Field::new("type", DataType::Utf8, true),
            Field::new("arn", DataType::Utf8, true),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("eventid", DataType::Utf8, true),
            Field::new("eventname", DataType::Utf8, true),
            Field::new("errorcode", DataType::Utf8, true),
            Field::new("useragent", DataType::Utf8, true),
            Field::new("requestparameters", DataType::Utf8, true),
            Field::new("useridentity", DataType::Struct(identity.clone()), true),
        ]));
        let names = [
            "ListUsers",
            "GetObject",
            "PutObject",
            "GetUser",
            "X",
            "DescribeVpcs",
        ];
        let types = ["IAMUser", "AWSService", "Root", "AssumedRole"];
        let mut seed = 7u64;
        let mut next = move |m: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        let mut out = vec![];
        for b in 0..6 {
            let n = 4000;
            let mut cols: Vec<Vec<Option<String>>> = vec![vec![]; 5];
            let (mut ty, mut arn, mut valid) = (vec![], vec![], vec![]);
            for r in 0..n {
                let row = b * n + r;
                cols[0].push(Some(format!("e{row}")));
                cols[1].push((next(20) != 0).then(|| names[next(6) as usize].to_string()));
                cols[2].push(
                    (next(4) == 0)
                        .then(|| ["AccessDenied", "Throttling"][next(2) as usize].to_string()),
                );
                // Half the agents are unique: past the memo's bound.
                cols[3].push((next(10) != 0).then(|| {
                    if next(50) == 0 {
                        // Longer than a worker remembers.
                        format!("{} boto {}", "x".repeat(300), next(3))
                    } else if next(2) == 0 {
                        format!("agent-{row} Boto3/1.{}", next(3))
                    } else {
                        ["aws-cli/2 console", "Boto3/1.34", "terraform"][next(3) as usize]
                            .to_string()
                    }
                }));
                cols[4].push(Some(
                    ["{\"x\":1}", "{}", "{\"y\":2}"][next(3) as usize].to_string(),
                ));
                valid.push(next(15) != 0);
                ty.push((next(10) != 0).then(|| types[next(4) as usize].to_string()));
                arn.push((next(5) != 0).then(|| format!("arn:aws:iam::1:user/u{}", next(50))));
            }
            let mut arrays: Vec<ArrayRef> = cols
                .into_iter()
                .map(|c| Arc::new(StringArray::from(c)) as ArrayRef)
                .collect();
            arrays.push(Arc::new(StructArray::new(
                identity.clone(),
                vec![
                    Arc::new(StringArray::from(ty)) as ArrayRef,
                    Arc::new(StringArray::from(arn)) as ArrayRef,
                ],
                Some(NullBuffer::from(valid)),
            )));
            out.push(RecordBatch::try_new(schema.clone(), arrays).unwrap());
        }
        (schema, out)
    }

    #[tokio::test]
    async fn key_guards_keep_exactly_what_the_filters_keep() {
        let (schema, batches) = batches();
        let engine = Engine::new(Default::default());
        engine
            .context()
            .register_table(
                "cloudtrail",
                Arc::new(MemTable::try_new(schema.clone(), vec![batches.clone()]).unwrap()),
            )
            .unwrap();
        let wheres = [
            // Key conditions on two columns and a rest.
            "regexp_like(eventname, '^(List|Get)') AND coalesce(useridentity.type, '') <> 'AWSService' AND requestparameters LIKE '%x%'",
            // Only key conditions (one on a column of unique values).
            "regexp_like(lower(useragent), 'boto') AND useridentity.arn IS NOT NULL",
            "useridentity.type = 'Root'",
            "NOT regexp_like(coalesce(useragent, ''), 'console') AND eventname <> 'GetObject' AND errorcode IS NULL",
            // A disjunction over two columns: no key guard.
            "errorcode IN ('AccessDenied') OR eventname = 'X'",
        ];
        let sqls: Vec<String> = wheres
            .iter()
            .map(|w| format!("SELECT eventid FROM cloudtrail WHERE {w}"))
            .collect();
        let filters: Vec<super::super::plan::RowFilter> = sqls
            .iter()
            .map(|s| super::super::plan::row_filter(s))
            .collect();
        let all: Vec<usize> = (0..schema.fields().len()).collect();
        let (splitter, exact) = Splitter::new(
            &engine,
            &schema,
            &filters.iter().collect::<Vec<_>>(),
            vec![all; filters.len()],
            Arc::new(super::super::spill::Budget::new(1 << 40)),
        )
        .await
        .unwrap();
        assert!(exact.iter().all(|e| *e));
        assert_eq!(
            (0..wheres.len())
                .map(|i| splitter.guarded(i))
                .collect::<Vec<_>>(),
            [true, true, true, true, false]
        );
        let mut out = splitter.start();
        for b in &batches {
            splitter.split(b, &mut out).unwrap();
        }
        for (i, sql) in sqls.iter().enumerate() {
            assert!(out.failed[i].is_none(), "{:?}", out.failed[i]);
            let mut kept: Vec<String> = vec![];
            for p in &out.held.pieces[i] {
                let rows = match &p.keep {
                    Some(k) => filter_record_batch(&p.rows, k).unwrap(),
                    None => p.rows.clone(),
                };
                kept.extend(
                    rows.column(0)
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(String::from),
                );
            }
            let mut want: Vec<String> = vec![];
            for b in engine.query(sql).await.unwrap().batches {
                want.extend(
                    b.column(0)
                        .as_string::<i32>()
                        .iter()
                        .flatten()
                        .map(String::from),
                );
            }
            kept.sort();
            want.sort();
            assert!(!want.is_empty(), "{sql}");
            let extra: Vec<&String> = kept.iter().filter(|k| !want.contains(k)).take(5).collect();
            let lost: Vec<&String> = want.iter().filter(|k| !kept.contains(k)).take(5).collect();
            assert!(
                extra.is_empty() && lost.is_empty(),
                "{sql}: {} kept, {} wanted; kept but not wanted {extra:?}, wanted but not kept {lost:?}",
                kept.len(),
                want.len()
            );
        }
    }
}
