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
}

/// Splits the scan's batches into each detection's rows.
pub(crate) struct Splitter {
    filters: Vec<Filter>,
    /// The scan columns each detection's rows carry.
    columns: Vec<Vec<usize>>,
    /// Event name -> detections whose guard includes it.
    dispatch: AHashMap<String, Vec<u32>>,
    eventname: Option<usize>,
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
                },
                None => Filter {
                    cols: vec![],
                    expr: None,
                    guard: None,
                },
            });
        }
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
                columns,
                dispatch,
                eventname,
                budget,
            },
            exact,
        ))
    }

    /// Whether detection `i`'s filter is evaluated only on the rows its
    /// event names admit.
    pub fn guarded(&self, i: usize) -> bool {
        self.filters[i].guard.is_some()
    }

    pub fn start(&self) -> Split {
        let n = self.filters.len();
        Split {
            held: super::spill::Held::new(n),
            failed: vec![None; n],
            candidates: vec![vec![]; n],
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
        out.dispatch_cost += t0.elapsed().as_secs_f64();
        // What this batch's pieces hold: the batch's columns they share,
        // once, and the rows copied out of it.
        let mut shared = vec![false; batch.num_columns()];
        let mut copied = 0usize;
        for (i, f) in self.filters.iter().enumerate() {
            if out.failed[i].is_some() {
                continue;
            }
            let t0 = std::time::Instant::now();
            let guarded = names.is_some() && f.guard.is_some();
            let cands = &out.candidates[i];
            if guarded && cands.is_empty() {
                continue;
            }
            let piece = match &f.expr {
                None => Some((
                    Piece {
                        rows: batch.project(&self.columns[i])?,
                        keep: None,
                    },
                    true,
                )),
                Some(e) if guarded && cands.len() * SHARE_ABOVE < n => {
                    match eval_on(e, &batch.project(&f.cols)?, Some(cands)) {
                        Err(err) => {
                            out.failed[i] = Some(err.to_string());
                            None
                        }
                        Ok(mask) => {
                            let kept: Vec<u32> = cands
                                .iter()
                                .zip(mask.iter())
                                .filter(|(_, k)| *k == Some(true))
                                .map(|(r, _)| *r)
                                .collect();
                            if kept.is_empty() {
                                None
                            } else {
                                Some((
                                    Piece {
                                        rows: take_record_batch(
                                            &batch.project(&self.columns[i])?,
                                            &UInt32Array::from(kept),
                                        )?,
                                        keep: None,
                                    },
                                    false,
                                ))
                            }
                        }
                    }
                }
                Some(e) => match eval_on(e, &batch.project(&f.cols)?, None) {
                    Err(err) => {
                        out.failed[i] = Some(err.to_string());
                        None
                    }
                    Ok(mask) => piece_of(batch.project(&self.columns[i])?, mask)?,
                },
            };
            if let Some((p, share)) = piece {
                if share {
                    for &c in &self.columns[i] {
                        shared[c] = true;
                    }
                } else {
                    copied += p.rows.get_array_memory_size();
                }
                out.held.pieces[i].push(p);
            }
            out.cost[i] += t0.elapsed().as_secs_f64();
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

/// Evaluate a filter on a batch's rows (or only on `rows` of it).
fn eval_on(
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
    const SLOT: &str = "irprep_row_filter";
    let mut stmt = athena::parse(&format!("SELECT coalesce(({SLOT}), false) FROM cloudtrail"))
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
