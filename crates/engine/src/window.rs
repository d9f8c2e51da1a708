//! `cardinality(array_distinct(array_agg(x) OVER w))`, the Athena way to count
//! distinct values in a sliding window (Trino has no `count(DISTINCT) OVER`),
//! evaluated in linear time.
//!
//! DataFusion evaluates the Athena form as written: for every row it builds
//! the window's whole array, then de-duplicates it, which is quadratic in the
//! window size (a 10-minute burst window of a busy principal holds hundreds
//! of calls). The rewrite in [`crate::athena`] turns it into
//! `irprep_count_distinct(x) OVER w`, whose accumulator keeps a count per
//! value and supports retraction, so the window slides in O(1) per row.
//! Results are the same: NULL is one value (as `array_distinct` keeps one
//! NULL), and an empty frame gives NULL (as `cardinality(NULL)`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};

/// The name the Athena rewrite calls.
pub const COUNT_DISTINCT: &str = "irprep_count_distinct";

#[derive(Debug, PartialEq, Eq, Hash)]
struct CountDistinct {
    signature: Signature,
}

impl AggregateUDFImpl for CountDistinct {
    fn name(&self) -> &str {
        COUNT_DISTINCT
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }
    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<Counts>::default())
    }
    fn state_fields(&self, _: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            "values",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ))])
    }
}

/// How many times each value (as text) is in the frame, and how many NULLs.
#[derive(Debug, Default)]
struct Counts {
    counts: HashMap<String, usize>,
    nulls: usize,
}

impl Counts {
    fn add(&mut self, v: Option<&str>) {
        match v {
            None => self.nulls += 1,
            Some(v) => match self.counts.get_mut(v) {
                Some(n) => *n += 1,
                None => {
                    self.counts.insert(v.to_string(), 1);
                }
            },
        }
    }
    fn distinct(&self) -> usize {
        self.counts.len() + usize::from(self.nulls > 0)
    }
}

fn as_text(a: &ArrayRef) -> Result<ArrayRef> {
    Ok(if a.data_type() == &DataType::Utf8 {
        a.clone()
    } else {
        cast(a, &DataType::Utf8)?
    })
}

impl Accumulator for Counts {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = as_text(&values[0])?;
        a.as_string::<i32>().iter().for_each(|v| self.add(v));
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let a = as_text(&values[0])?;
        for v in a.as_string::<i32>().iter() {
            match v {
                None => self.nulls = self.nulls.saturating_sub(1),
                Some(v) => {
                    if let Some(n) = self.counts.get_mut(v) {
                        *n -= 1;
                        if *n == 0 {
                            self.counts.remove(v);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let n = self.distinct();
        Ok(ScalarValue::Int64((n > 0).then_some(n as i64)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.counts.keys().map(|k| k.capacity() + 40).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut keys: Vec<Option<&str>> = self.counts.keys().map(|k| Some(k.as_str())).collect();
        if self.nulls > 0 {
            keys.push(None);
        }
        let values = StringArray::from(keys);
        let list = ListArray::new(
            Arc::new(Field::new("item", DataType::Utf8, true)),
            OffsetBuffer::from_lengths([values.len()]),
            Arc::new(values),
            None,
        );
        Ok(vec![ScalarValue::List(Arc::new(list))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if lists.is_null(i) {
                continue;
            }
            let vals = as_text(&lists.value(i))?;
            for v in vals.as_string::<i32>().iter() {
                match v {
                    None => self.nulls = self.nulls.max(1),
                    Some(v) => {
                        self.counts.entry(v.to_string()).or_insert(1);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The window aggregates irprep adds to DataFusion.
pub fn all() -> Vec<AggregateUDF> {
    vec![AggregateUDF::from(CountDistinct {
        signature: Signature::any(1, Volatility::Immutable),
    })]
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::datasource::MemTable;

    use super::*;
    use crate::Engine;

    /// The rewritten form gives exactly what DataFusion computes for the
    /// Athena form, on frames in both directions, with NULLs and ties.
    #[tokio::test]
    async fn same_as_array_distinct_of_array_agg() {
        let n = 3000;
        let mut next = crate::testing::lcg(7);
        let (mut p, mut t, mut s) = (vec![], vec![], vec![]);
        let mut clock = 0i64;
        for _ in 0..n {
            clock += (next() % 40) as i64;
            p.push(format!("p{}", next() % 4));
            t.push(clock);
            s.push(match next() % 13 {
                0 => None,
                k => Some(format!("svc{k}")),
            });
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("p", DataType::Utf8, false),
            Field::new("t", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(p)),
                Arc::new(Int64Array::from(t)),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap();
        let engine = Engine::new(Default::default());
        engine
            .context()
            .register_table(
                "t",
                Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap()),
            )
            .unwrap();
        for frame in [
            "RANGE BETWEEN CURRENT ROW AND 300 FOLLOWING",
            "RANGE BETWEEN 300 PRECEDING AND CURRENT ROW",
            "ROWS BETWEEN 5 PRECEDING AND 5 FOLLOWING",
        ] {
            let athena = format!("SELECT p, t, s, cardinality(array_distinct(array_agg(s) OVER (PARTITION BY p ORDER BY t {frame}))) AS d FROM t ORDER BY p, t, s");
            let plain = engine
                .context()
                .sql(&athena)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap();
            let fast = engine.query(&athena).await.unwrap().batches;
            let (a, b) = (
                pretty_format_batches(&plain).unwrap().to_string(),
                pretty_format_batches(&fast).unwrap().to_string(),
            );
            assert_eq!(a.lines().count(), n + 4, "{frame}");
            assert_eq!(a, b, "{frame}");
        }
        let explain = engine.query("EXPLAIN SELECT cardinality(array_distinct(array_agg(s) OVER (PARTITION BY p ORDER BY t RANGE BETWEEN CURRENT ROW AND 300 FOLLOWING))) FROM t").await.unwrap();
        assert!(pretty_format_batches(&explain.batches)
            .unwrap()
            .to_string()
            .contains(COUNT_DISTINCT));
    }
}
