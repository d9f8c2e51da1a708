//! Rendering query results as text: one convention for every output format
//! and for tests (NULL is `None`, timestamps ISO 8601, nested values as JSON).

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;

/// One cell as text, `None` for NULL. Lists and structs render as JSON.
pub fn cell(col: &ArrayRef, row: usize) -> Result<Option<String>> {
    if col.is_null(row) {
        return Ok(None);
    }
    match col.data_type() {
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(_, _) => {
            let slice = col.slice(row, 1);
            let field =
                datafusion::arrow::datatypes::Field::new("v", slice.data_type().clone(), true);
            let schema =
                std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(vec![field]));
            let batch = RecordBatch::try_new(schema, vec![slice])?;
            let mut w = ArrayWriter::new(Vec::new());
            w.write(&batch)?;
            w.finish()?;
            let text = String::from_utf8_lossy(&w.into_inner()).to_string();
            let v: serde_json::Value =
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
            Ok(v.get(0).and_then(|o| o.get("v")).map(|x| x.to_string()))
        }
        _ => {
            let opts = FormatOptions::default();
            let f = ArrayFormatter::try_new(col.as_ref(), &opts)?;
            Ok(Some(f.value(row).to_string()))
        }
    }
}

/// All rows as text cells.
pub fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Option<String>>>> {
    let mut out = vec![];
    for b in batches {
        for r in 0..b.num_rows() {
            let mut row = Vec::with_capacity(b.num_columns());
            for c in b.columns() {
                row.push(cell(c, r)?);
            }
            out.push(row);
        }
    }
    Ok(out)
}

/// A cell as a JSON value (numbers and booleans typed, nested values parsed).
pub fn json_cell(col: &ArrayRef, row: usize) -> Result<serde_json::Value> {
    use serde_json::Value;
    let Some(text) = cell(col, row)? else {
        return Ok(Value::Null);
    };
    Ok(match col.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => text
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or(Value::String(text)),
        DataType::Float32 | DataType::Float64 => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::String(text)),
        DataType::Boolean => Value::Bool(text == "true"),
        DataType::List(_) | DataType::LargeList(_) | DataType::Struct(_) | DataType::Map(_, _) => {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        }
        _ => Value::String(text),
    })
}
