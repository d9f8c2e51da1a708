//! Sliding RANGE windows over a numeric ordering, evaluated in one pass per
//! partition.
//!
//! The detections' burst logic is `agg(x) OVER (PARTITION BY p ORDER BY ts
//! RANGE BETWEEN … )` with `ts` in seconds: "how many calls in the next ten
//! minutes", "was this event inside a burst". DataFusion finds each row's
//! RANGE frame by building and comparing scalar values row by row (about a
//! microsecond a row for each aggregate: most of a hunt's detection time on
//! a busy account). The rule here, [`RangeFrames`], replaces such window
//! aggregates with a window function that takes the whole sorted partition
//! and finds every frame with two cursors over the ordering column, so the
//! cost is a few nanoseconds a row.
//!
//! It applies only where the result is exactly DataFusion's (a test compares
//! the two on random data with NULLs and ties, for every supported form):
//! - aggregates `count(x)`, `count(*)`, `sum`/`max`/`min` of `Int64`, and
//!   [`crate::window::COUNT_DISTINCT`] (the Athena distinct-count rewrite);
//! - no `FILTER`, no `DISTINCT`, one ascending `ORDER BY` key of type
//!   `Float64` or `Int64`, RANGE units, bounds `UNBOUNDED`, `CURRENT ROW` or
//!   a constant offset, the start bound not after the end bound.
//!
//! Everything else keeps DataFusion's evaluation. Frames follow DataFusion's
//! rules: rows whose key is NULL are one peer group (their frame is that
//! group), other rows' frames hold no NULL-key rows unless a bound is
//! UNBOUNDED (which reaches the partition's edge).

use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::expr::{WindowFunction, WindowFunctionParams};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Expr, ExprSchemable, LogicalPlan, PartitionEvaluator, Signature, Volatility, Window,
    WindowFrame, WindowFrameBound, WindowFrameUnits, WindowFunctionDefinition, WindowUDF,
    WindowUDFImpl,
};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::window::COUNT_DISTINCT;

type AHashMap<K, V> = std::collections::HashMap<K, V, ahash::RandomState>;

/// The aggregate a fast window computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Agg {
    /// Non-NULL values in the frame (`count(*)` counts a literal).
    Count,
    /// Wrapping `Int64` sum; NULL when the frame has no non-NULL value.
    Sum,
    Max,
    Min,
    /// Distinct values as text, NULL being one value; NULL for an empty frame.
    Distinct,
}

/// One frame bound as an offset from the current row's key (`f64` bits or
/// `i64`, by the key type); `None` is UNBOUNDED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Bound(Option<i64>);

/// The window function standing in for one aggregate over one RANGE frame.
#[derive(Debug, PartialEq, Eq, Hash)]
struct RangeAgg {
    name: String,
    signature: Signature,
    agg: Agg,
    float_key: bool,
    nulls_first: bool,
    start: Bound,
    end: Bound,
    /// The original aggregate's result type and nullability, so the plan's
    /// schema does not change.
    out_type: DataType,
    out_nullable: bool,
}

impl WindowUDFImpl for RangeAgg {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn partition_evaluator(
        &self,
        _: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(Evaluator {
            agg: self.agg,
            float_key: self.float_key,
            nulls_first: self.nulls_first,
            start: self.start,
            end: self.end,
        }))
    }
    fn field(&self, args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            args.name(),
            self.out_type.clone(),
            self.out_nullable,
        )))
    }
}

#[derive(Debug)]
struct Evaluator {
    agg: Agg,
    float_key: bool,
    nulls_first: bool,
    start: Bound,
    end: Bound,
}

impl PartitionEvaluator for Evaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let (value, key) = (&values[0], &values[1]);
        let (starts, ends) = if self.float_key {
            let k = key.as_primitive::<Float64Type>();
            frames(
                k,
                n,
                self.nulls_first,
                self.start.0.map(|b| f64::from_bits(b as u64)),
                self.end.0.map(|b| f64::from_bits(b as u64)),
                |a: f64, b: f64| a.total_cmp(&b),
                |v, d| v + d,
            )
        } else {
            let k = key.as_primitive::<Int64Type>();
            // i128: an offset past the i64 range cannot wrap around.
            frames(
                k,
                n,
                self.nulls_first,
                self.start.0.map(i128::from),
                self.end.0.map(i128::from),
                |a: i128, b: i128| a.cmp(&b),
                |v, d| v + d,
            )
        };
        Ok(match self.agg {
            Agg::Count => Arc::new(count(value, &starts, &ends)),
            Agg::Sum => Arc::new(sum(value.as_primitive::<Int64Type>(), &starts, &ends)),
            Agg::Max => Arc::new(extreme(
                value.as_primitive::<Int64Type>(),
                &starts,
                &ends,
                |new, old| new >= old,
            )),
            Agg::Min => Arc::new(extreme(
                value.as_primitive::<Int64Type>(),
                &starts,
                &ends,
                |new, old| new <= old,
            )),
            Agg::Distinct => Arc::new(distinct(value, &starts, &ends)?),
        })
    }
}

/// Key values a frame can be computed on: the column's native type widened
/// to `W` (f64 or i128).
trait KeyArray<W> {
    fn key(&self, i: usize) -> W;
}

impl KeyArray<f64> for datafusion::arrow::array::PrimitiveArray<Float64Type> {
    fn key(&self, i: usize) -> f64 {
        self.value(i)
    }
}

impl KeyArray<i128> for datafusion::arrow::array::PrimitiveArray<Int64Type> {
    fn key(&self, i: usize) -> i128 {
        i128::from(self.value(i))
    }
}

/// Each row's frame `[start, end)` in a partition sorted by `key` (ascending,
/// NULLs first or last). Both sequences are non-decreasing, which the
/// aggregates rely on.
fn frames<A, W>(
    key: &A,
    n: usize,
    nulls_first: bool,
    start: Option<W>,
    end: Option<W>,
    cmp: impl Fn(W, W) -> std::cmp::Ordering,
    add: impl Fn(W, W) -> W,
) -> (Vec<usize>, Vec<usize>)
where
    A: KeyArray<W> + Array,
    W: Copy,
{
    let nulls = key.null_count();
    // The rows with a key: [lo, hi); the NULL-key rows are the rest.
    let (lo, hi) = if nulls_first {
        (nulls, n)
    } else {
        (0, n - nulls)
    };
    let (null_lo, null_hi) = if nulls_first { (0, nulls) } else { (hi, n) };
    let mut starts = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n);
    let (mut s, mut e) = (lo, lo);
    for i in 0..n {
        if i < lo || i >= hi {
            starts.push(if start.is_none() { 0 } else { null_lo });
            ends.push(if end.is_none() { n } else { null_hi });
            continue;
        }
        let v = key.key(i);
        match start {
            None => starts.push(0),
            Some(d) => {
                let target = add(v, d);
                while s < hi && cmp(key.key(s), target).is_lt() {
                    s += 1;
                }
                starts.push(s);
            }
        }
        match end {
            None => ends.push(n),
            Some(d) => {
                let target = add(v, d);
                e = e.max(s);
                while e < hi && cmp(key.key(e), target).is_le() {
                    e += 1;
                }
                ends.push(e);
            }
        }
    }
    (starts, ends)
}

fn count(value: &ArrayRef, starts: &[usize], ends: &[usize]) -> Int64Array {
    let mut prefix = Vec::with_capacity(value.len() + 1);
    prefix.push(0i64);
    let mut c = 0;
    for i in 0..value.len() {
        c += i64::from(value.is_valid(i));
        prefix.push(c);
    }
    starts
        .iter()
        .zip(ends)
        .map(|(&s, &e)| Some(prefix[e.max(s)] - prefix[s]))
        .collect()
}

fn sum(
    value: &datafusion::arrow::array::PrimitiveArray<Int64Type>,
    starts: &[usize],
    ends: &[usize],
) -> Int64Array {
    let mut prefix = Vec::with_capacity(value.len() + 1);
    let mut valid = Vec::with_capacity(value.len() + 1);
    prefix.push(0i64);
    valid.push(0usize);
    let (mut acc, mut c) = (0i64, 0usize);
    for i in 0..value.len() {
        if value.is_valid(i) {
            acc = acc.wrapping_add(value.value(i));
            c += 1;
        }
        prefix.push(acc);
        valid.push(c);
    }
    starts
        .iter()
        .zip(ends)
        .map(|(&s, &e)| {
            (valid[e.max(s)] > valid[s]).then(|| prefix[e.max(s)].wrapping_sub(prefix[s]))
        })
        .collect()
}

/// Sliding maximum (or minimum) with a monotonic queue: `keep(new, old)` says
/// whether a newer value makes an older one useless.
fn extreme(
    value: &datafusion::arrow::array::PrimitiveArray<Int64Type>,
    starts: &[usize],
    ends: &[usize],
    keep: impl Fn(i64, i64) -> bool,
) -> Int64Array {
    let mut queue = std::collections::VecDeque::new();
    let mut pushed = 0;
    let mut out = Vec::with_capacity(starts.len());
    for (&s, &e) in starts.iter().zip(ends) {
        while pushed < e {
            if value.is_valid(pushed) {
                let v = value.value(pushed);
                while queue.back().is_some_and(|&j| keep(v, value.value(j))) {
                    queue.pop_back();
                }
                queue.push_back(pushed);
            }
            pushed += 1;
        }
        while queue.front().is_some_and(|&j| j < s) {
            queue.pop_front();
        }
        out.push(queue.front().filter(|_| s < e).map(|&j| value.value(j)));
    }
    out.into_iter().collect()
}

/// Distinct values (as text) in each frame, NULL counting as one value, with
/// a count per value that the frame's two ends add to and take from.
fn distinct(value: &ArrayRef, starts: &[usize], ends: &[usize]) -> Result<Int64Array> {
    let text = if value.data_type() == &DataType::Utf8 {
        value.clone()
    } else {
        cast(value, &DataType::Utf8)?
    };
    let text = text.as_string::<i32>();
    let mut counts: AHashMap<&str, u32> = AHashMap::default();
    let mut nulls = 0usize;
    let (mut lo, mut hi) = (0, 0);
    let mut out = Vec::with_capacity(starts.len());
    for (&s, &e) in starts.iter().zip(ends) {
        if s >= e {
            out.push(None);
            continue;
        }
        // Frames only move forward; a frame past the last one starts afresh.
        if s >= hi {
            counts.clear();
            nulls = 0;
            lo = s;
            hi = s;
        }
        while hi < e {
            match text.is_valid(hi) {
                true => *counts.entry(text.value(hi)).or_insert(0) += 1,
                false => nulls += 1,
            }
            hi += 1;
        }
        while lo < s {
            match text.is_valid(lo) {
                true => {
                    let v = text.value(lo);
                    if let Some(c) = counts.get_mut(v) {
                        *c -= 1;
                        if *c == 0 {
                            counts.remove(v);
                        }
                    }
                }
                false => nulls -= 1,
            }
            lo += 1;
        }
        if hi > e {
            return exec_err!("window frame moved backwards");
        }
        out.push(Some((counts.len() + usize::from(nulls > 0)) as i64));
    }
    Ok(out.into_iter().collect())
}

/// The optimizer rule: window aggregates over numeric RANGE frames become
/// `RangeAgg` window functions (see the module documentation).
#[derive(Debug, Default)]
pub struct RangeFrames;

impl OptimizerRule for RangeFrames {
    fn name(&self) -> &str {
        "irprep_range_frames"
    }
    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }
    fn rewrite(
        &self,
        plan: LogicalPlan,
        _: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Window(w) = plan else {
            return Ok(Transformed::no(plan));
        };
        let mut changed = false;
        let mut exprs = Vec::with_capacity(w.window_expr.len());
        for e in &w.window_expr {
            match fast_form(e, &w.input)? {
                Some(fast) => {
                    changed = true;
                    exprs.push(fast.alias(e.schema_name().to_string()));
                }
                None => exprs.push(e.clone()),
            }
        }
        if !changed {
            return Ok(Transformed::no(LogicalPlan::Window(w)));
        }
        Ok(Transformed::yes(LogicalPlan::Window(
            Window::try_new_with_schema(exprs, w.input, w.schema)?,
        )))
    }
}

/// The [`RangeAgg`] form of one window expression, when it has one.
fn fast_form(e: &Expr, input: &LogicalPlan) -> Result<Option<Expr>> {
    let Expr::WindowFunction(wf) = e else {
        return Ok(None);
    };
    let WindowFunction {
        fun: WindowFunctionDefinition::AggregateUDF(udaf),
        params,
    } = wf.as_ref()
    else {
        return Ok(None);
    };
    let WindowFunctionParams {
        args,
        partition_by,
        order_by,
        window_frame,
        filter,
        null_treatment,
        distinct,
    } = params;
    if filter.is_some()
        || *distinct
        || null_treatment.is_some()
        || args.len() != 1
        || order_by.len() != 1
        || !order_by[0].asc
        || window_frame.units != WindowFrameUnits::Range
    {
        return Ok(None);
    }
    let schema = input.schema();
    let value_type = args[0].get_type(schema)?;
    let agg = match udaf.name() {
        "count" => Agg::Count,
        "sum" if value_type == DataType::Int64 => Agg::Sum,
        "max" if value_type == DataType::Int64 => Agg::Max,
        "min" if value_type == DataType::Int64 => Agg::Min,
        n if n == COUNT_DISTINCT => Agg::Distinct,
        _ => return Ok(None),
    };
    let key = &order_by[0].expr;
    let float_key = match key.get_type(schema)? {
        DataType::Float64 => true,
        DataType::Int64 => false,
        _ => return Ok(None),
    };
    let Some((start, end)) = offsets(window_frame, float_key) else {
        return Ok(None);
    };
    let (_, field) = e.to_field(schema)?;
    let (out_type, out_nullable) = (field.data_type().clone(), field.is_nullable());
    let udwf = RangeAgg {
        name: format!("irprep_range_{}", format!("{agg:?}").to_lowercase()),
        signature: Signature::any(2, Volatility::Immutable),
        agg,
        float_key,
        nulls_first: order_by[0].nulls_first,
        start,
        end,
        out_type,
        out_nullable,
    };
    let fun = WindowFunctionDefinition::WindowUDF(Arc::new(WindowUDF::new_from_impl(udwf)));
    let mut f = WindowFunction::new(fun, vec![args[0].clone(), key.clone()]);
    f.params.partition_by = partition_by.clone();
    f.params.order_by = order_by.clone();
    f.params.window_frame = WindowFrame::new(Some(false));
    Ok(Some(Expr::from(f)))
}

/// The frame's bounds as signed offsets of the key type, when they are
/// constants with the start not after the end.
fn offsets(frame: &WindowFrame, float_key: bool) -> Option<(Bound, Bound)> {
    let bound = |b: &WindowFrameBound, is_start: bool| -> Option<(Bound, f64)> {
        let (v, sign) = match b {
            WindowFrameBound::CurrentRow => {
                return Some((
                    Bound(Some(if float_key { 0f64.to_bits() as i64 } else { 0 })),
                    0.0,
                ))
            }
            WindowFrameBound::Preceding(v) => (v, -1.0),
            WindowFrameBound::Following(v) => (v, 1.0),
        };
        if v.is_null() {
            // UNBOUNDED PRECEDING starts, UNBOUNDED FOLLOWING ends.
            return (is_start == (sign < 0.0)).then_some((Bound(None), sign * f64::INFINITY));
        }
        match (float_key, v) {
            (true, ScalarValue::Float64(Some(x))) if x.is_finite() && *x >= 0.0 => {
                Some((Bound(Some((sign * x).to_bits() as i64)), sign * x))
            }
            (false, ScalarValue::Int64(Some(x))) if *x >= 0 => Some((
                Bound(Some(if sign < 0.0 { -x } else { *x })),
                sign * *x as f64,
            )),
            (false, ScalarValue::UInt64(Some(x))) if *x <= i64::MAX as u64 => Some((
                Bound(Some(if sign < 0.0 { -(*x as i64) } else { *x as i64 })),
                sign * *x as f64,
            )),
            _ => None,
        }
    };
    let (start, s) = bound(&frame.start_bound, true)?;
    let (end, e) = bound(&frame.end_bound, false)?;
    (s <= e).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::Engine;

    /// Every supported form gives exactly what DataFusion computes, on random
    /// partitions with ties, NULL keys and NULL values, for integer and
    /// floating-point keys; and the plan shows the fast form was used.
    #[tokio::test]
    async fn same_as_datafusion() {
        let n = 4000;
        let mut next = crate::testing::lcg(11);
        let (mut p, mut t, mut f, mut s, mut v) = (vec![], vec![], vec![], vec![], vec![]);
        let mut clock = 0i64;
        for _ in 0..n {
            clock += (next() % 30) as i64;
            p.push(format!("p{}", next() % 5));
            let null_key = next().is_multiple_of(17);
            t.push((!null_key).then_some(clock));
            f.push((!null_key).then_some(clock as f64 / 3.0));
            s.push(match next() % 11 {
                0 => None,
                k => Some(format!("svc{k}")),
            });
            v.push(match next() % 7 {
                0 => None,
                k => Some(k as i64 - 3),
            });
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("p", DataType::Utf8, false),
            Field::new("t", DataType::Int64, true),
            Field::new("f", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("v", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(p)),
                Arc::new(Int64Array::from(t)),
                Arc::new(Float64Array::from(f)),
                Arc::new(StringArray::from(s)),
                Arc::new(Int64Array::from(v)),
            ],
        )
        .unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap());
        let engine = Engine::new(Default::default());
        engine.context().register_table("t", table.clone()).unwrap();
        // DataFusion as it comes, with irprep's functions but not the rule.
        let plain = SessionContext::new();
        for u in crate::window::all() {
            plain.register_udaf(u);
        }
        plain.register_table("t", table).unwrap();
        let frames = [
            "RANGE BETWEEN CURRENT ROW AND 300 FOLLOWING",
            "RANGE BETWEEN 300 PRECEDING AND CURRENT ROW",
            "RANGE BETWEEN 100 PRECEDING AND 40 PRECEDING",
            "RANGE BETWEEN 20 FOLLOWING AND 200 FOLLOWING",
            "RANGE BETWEEN 90 PRECEDING AND 90 FOLLOWING",
            "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW",
            "RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING",
            "RANGE BETWEEN UNBOUNDED PRECEDING AND 50 FOLLOWING",
            "RANGE BETWEEN CURRENT ROW AND CURRENT ROW",
        ];
        let aggs = [
            "count(*)",
            "count(s)",
            "sum(v)",
            "max(v)",
            "min(v)",
            "irprep_count_distinct(s)",
            "sum(CASE WHEN v > 0 THEN 1 ELSE 0 END)",
        ];
        for key in ["t", "f", "t NULLS FIRST", "f NULLS FIRST"] {
            for frame in frames {
                let cols: Vec<String> = aggs
                    .iter()
                    .enumerate()
                    .map(|(i, a)| {
                        format!("{a} OVER (PARTITION BY p ORDER BY {key} {frame}) AS a{i}")
                    })
                    .collect();
                let sql = format!(
                    "SELECT p, t, f, s, v, {} FROM t ORDER BY p, t, f, s, v",
                    cols.join(", ")
                );
                let want = plain.sql(&sql).await.unwrap().collect().await.unwrap();
                let got = engine.query(&sql).await.unwrap().batches;
                let (a, b) = (
                    pretty_format_batches(&want).unwrap().to_string(),
                    pretty_format_batches(&got).unwrap().to_string(),
                );
                assert_eq!(a.lines().count(), n + 4, "{key} {frame}");
                assert!(a == b, "{key} {frame}: results differ");
                let explain = engine.query(&format!("EXPLAIN {sql}")).await.unwrap();
                let plan = pretty_format_batches(&explain.batches).unwrap().to_string();
                assert!(
                    plan.matches("irprep_range_").count() >= aggs.len(),
                    "{key} {frame}: not rewritten\n{plan}"
                );
            }
        }
        // Forms it leaves alone: ROWS frames, descending keys, text keys.
        for sql in [
            "SELECT count(*) OVER (PARTITION BY p ORDER BY t ROWS BETWEEN 3 PRECEDING AND CURRENT ROW) FROM t",
            "SELECT count(*) OVER (PARTITION BY p ORDER BY t DESC RANGE BETWEEN 3 PRECEDING AND CURRENT ROW) FROM t",
            "SELECT count(*) OVER (PARTITION BY p ORDER BY s) FROM t",
        ] {
            let explain = engine.query(&format!("EXPLAIN {sql}")).await.unwrap();
            assert!(!pretty_format_batches(&explain.batches).unwrap().to_string().contains("irprep_range_"), "{sql}");
        }
    }
}
