//! Athena engine v3 (Trino) functions that DataFusion lacks or names
//! differently, implemented with Trino's semantics.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListArray, StringArray,
    StringBuilder, TimestampNanosecondArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use serde_json::Value;

type ImplFn = fn(&[ArrayRef], usize) -> Result<ArrayRef>;
type RetFn = fn(&[DataType]) -> Result<DataType>;

/// A scalar function defined by two plain functions.
#[derive(Debug)]
struct Udf {
    name: &'static str,
    signature: Signature,
    ret: RetFn,
    f: ImplFn,
}

// Functions are identified by name: irprep registers each name once.
impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Udf {}
impl std::hash::Hash for Udf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.ret)(arg_types)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        Ok(ColumnarValue::Array((self.f)(&arrays, args.number_rows)?))
    }
}

fn udf(name: &'static str, signature: Signature, ret: RetFn, f: ImplFn) -> ScalarUDF {
    ScalarUDF::new_from_impl(Udf {
        name,
        signature,
        ret,
        f,
    })
}

/// The timestamp type irprep's functions produce, the same as DataFusion's `now()`.
pub fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into()))
}

fn utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}
fn boolean(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}
fn int64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}
fn ts(_: &[DataType]) -> Result<DataType> {
    Ok(ts_type())
}
fn float64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Float64)
}
fn list_utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(Field::new(
        "item",
        DataType::Utf8,
        true,
    ))))
}

fn strings(a: &ArrayRef) -> Result<StringArray> {
    let c = cast(a, &DataType::Utf8)?;
    Ok(c.as_string::<i32>().clone())
}

fn timestamps(a: &ArrayRef) -> Result<TimestampNanosecondArray> {
    let c = match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let s = strings(a)?;
            let v: Vec<Option<i64>> = s.iter().map(|x| x.and_then(parse_iso8601)).collect();
            return Ok(TimestampNanosecondArray::from(v));
        }
        _ => cast(
            a,
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("+00:00".into())),
        )?,
    };
    Ok(
        c.as_primitive::<datafusion::arrow::datatypes::TimestampNanosecondType>()
            .clone(),
    )
}

fn ts_array(v: Vec<Option<i64>>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from(v).with_timezone("+00:00"))
}

/// Parse ISO 8601 (`2023-07-10T11:42:36Z`, fractions, offsets, or a date).
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return dt.timestamp_nanos_opt();
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), f) {
            return n.and_utc().timestamp_nanos_opt();
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)?
        .and_utc()
        .timestamp_nanos_opt()
}

// ---------- JSON ----------

#[derive(Debug, Clone, PartialEq)]
enum PathStep {
    Key(String),
    Index(i64),
    /// `[*]`: SQL/JSON paths only (`json_query`).
    AnyIndex,
}

/// Trino's JSONPath subset: `$`, `.key`, `["key"]`, `[n]`.
fn parse_path(p: &str) -> Option<Vec<PathStep>> {
    parse_steps(p.trim().strip_prefix('$')?, false)
}

/// The steps after `$`: `.key`, `."key"`, `["key"]`, `[n]`, and `[*]` when
/// `any` (a SQL/JSON path).
fn parse_steps(rest: &str, any: bool) -> Option<Vec<PathStep>> {
    let b = rest.as_bytes();
    let mut i = 0;
    let mut steps = vec![];
    while i < b.len() {
        match b[i] {
            b'.' if b.get(i + 1) == Some(&b'"') => {
                let mut name = String::new();
                let mut j = i + 2;
                loop {
                    match b.get(j)? {
                        b'"' => break,
                        b'\\' => {
                            name.push(*b.get(j + 1)? as char);
                            j += 2;
                        }
                        _ => {
                            let c = rest[j..].chars().next()?;
                            name.push(c);
                            j += c.len_utf8();
                        }
                    }
                }
                steps.push(PathStep::Key(name));
                i = j + 1;
            }
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'.' && b[j] != b'[' {
                    j += 1;
                }
                if j == start {
                    return None;
                }
                steps.push(PathStep::Key(rest[start..j].to_string()));
                i = j;
            }
            b'[' => {
                let close = rest[i..].find(']')? + i;
                let inner = rest[i + 1..close].trim();
                if (inner.starts_with('"') && inner.ends_with('"')
                    || inner.starts_with('\'') && inner.ends_with('\''))
                    && inner.len() >= 2
                {
                    steps.push(PathStep::Key(inner[1..inner.len() - 1].to_string()));
                } else if any && inner == "*" {
                    steps.push(PathStep::AnyIndex);
                } else {
                    steps.push(PathStep::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            b' ' if any => i += 1,
            _ => return None,
        }
    }
    Some(steps)
}

/// Follow a path; a key step on an array maps over its elements (so
/// `$.items.name` reaches every item's name, as Sigma paths expect).
fn walk(v: &Value, steps: &[PathStep]) -> Option<Value> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(v.clone());
    };
    match (first, v) {
        (PathStep::Key(k), Value::Object(m)) => walk(m.get(k)?, rest),
        (PathStep::Index(i), Value::Array(a)) if *i >= 0 => walk(a.get(*i as usize)?, rest),
        (PathStep::Key(_), Value::Array(a)) => {
            let found: Vec<Value> = a.iter().filter_map(|e| walk(e, steps)).collect();
            (!found.is_empty()).then_some(Value::Array(found))
        }
        _ => None,
    }
}

/// `lax $."a".b[*][0]` (`json_query`): `strict` mode is refused.
fn parse_lax_path(p: &str) -> Option<Vec<PathStep>> {
    let p = p.trim();
    let p = match p.strip_prefix("lax") {
        Some(r) => r.trim_start(),
        None if p.starts_with("strict") => return None,
        None => p,
    };
    parse_steps(p.strip_prefix('$')?, true)
}

/// The SQL/JSON sequence a lax path selects: a member step on an array
/// applies to each element; `[*]`/`[0]` on a non-array see the item itself.
fn lax_items<'a>(root: &'a Value, steps: &[PathStep]) -> Vec<&'a Value> {
    let mut items = vec![root];
    for s in steps {
        let mut next = vec![];
        for it in items {
            match (s, it) {
                (PathStep::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                (PathStep::Key(k), Value::Array(a)) => next.extend(
                    a.iter()
                        .filter_map(|e| e.as_object().and_then(|m| m.get(k))),
                ),
                (PathStep::AnyIndex, Value::Array(a)) => next.extend(a.iter()),
                (PathStep::Index(n), Value::Array(a)) if *n >= 0 => next.extend(a.get(*n as usize)),
                (PathStep::AnyIndex, v) | (PathStep::Index(0), v) => next.push(v),
                _ => {}
            }
        }
        items = next;
    }
    items
}

fn json_query_impl(args: &[ArrayRef], wrapped: bool) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let paths = strings(&args[1])?;
    let mut out = StringBuilder::new();
    let mut cache: Option<(String, Option<Vec<PathStep>>)> = None;
    for i in 0..docs.len() {
        if docs.is_null(i) || paths.is_null(i) {
            out.append_null();
            continue;
        }
        let p = paths.value(i);
        if cache.as_ref().map(|(s, _)| s.as_str()) != Some(p) {
            cache = Some((p.to_string(), parse_lax_path(p)));
        }
        let Some(steps) = cache.as_ref().and_then(|(_, s)| s.as_ref()) else {
            return exec_err!("invalid or unsupported JSON path: {p}");
        };
        let Ok(v) = serde_json::from_str::<Value>(docs.value(i)) else {
            out.append_null();
            continue;
        };
        let items = lax_items(&v, steps);
        if wrapped {
            out.append_value(Value::Array(items.into_iter().cloned().collect()).to_string());
        } else if items.len() == 1 {
            out.append_value(items[0].to_string());
        } else {
            out.append_null();
        }
    }
    Ok(Arc::new(out.finish()))
}

/// `json_query(doc, path)`: the one item the path selects, as JSON text
/// (NULL for none or several, as Trino's default `NULL ON EMPTY/ERROR`).
fn json_query(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_query_impl(args, false)
}

/// `json_query(doc, path WITH ARRAY WRAPPER)`: every item, as a JSON array.
fn json_query_wrapped(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_query_impl(args, true)
}

fn json_path_apply(args: &[ArrayRef], f: impl Fn(&Value) -> Option<String>) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let paths = strings(&args[1])?;
    let mut out = StringBuilder::new();
    let mut cache: Option<(String, Option<Vec<PathStep>>)> = None;
    for i in 0..docs.len() {
        if docs.is_null(i) || paths.is_null(i) {
            out.append_null();
            continue;
        }
        let p = paths.value(i);
        if cache.as_ref().map(|(s, _)| s.as_str()) != Some(p) {
            cache = Some((p.to_string(), parse_path(p)));
        }
        let Some(steps) = cache.as_ref().and_then(|(_, s)| s.as_ref()) else {
            return exec_err!("invalid JSON path: {p}");
        };
        let v: Option<Value> = serde_json::from_str(docs.value(i)).ok();
        match v
            .as_ref()
            .and_then(|v| walk(v, steps))
            .as_ref()
            .and_then(&f)
        {
            Some(s) => out.append_value(s),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn json_extract_scalar(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_apply(args, scalar_text)
}

fn json_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_path_apply(args, |v| {
        if v.is_null() {
            None
        } else {
            Some(v.to_string())
        }
    })
}

fn json_array_length(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let v: Vec<Option<i64>> = docs
        .iter()
        .map(
            |d| match d.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
                Some(Value::Array(a)) => Some(a.len() as i64),
                _ => None,
            },
        )
        .collect();
    Ok(Arc::new(Int64Array::from(v)))
}

fn json_array_contains(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let needles = strings(&args[1])?;
    let v: Vec<Option<bool>> = (0..docs.len())
        .map(|i| {
            if docs.is_null(i) || needles.is_null(i) {
                return None;
            }
            match serde_json::from_str::<Value>(docs.value(i)).ok()? {
                Value::Array(a) => Some(
                    a.iter()
                        .any(|e| scalar_text(e).as_deref() == Some(needles.value(i))),
                ),
                _ => None,
            }
        })
        .collect();
    Ok(Arc::new(BooleanArray::from(v)))
}

/// `CAST(json AS ARRAY(JSON))` / `ARRAY(VARCHAR)`: the elements of a JSON
/// array, as JSON text (or as scalar text for VARCHAR).
fn json_array_elements_impl(args: &[ArrayRef], as_text: bool) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let mut values = StringBuilder::new();
    let mut offsets = vec![0i32];
    let mut nulls = vec![];
    for d in docs.iter() {
        match d.and_then(|d| serde_json::from_str::<Value>(d).ok()) {
            Some(Value::Array(a)) => {
                for e in &a {
                    if as_text {
                        match scalar_text(e) {
                            Some(s) => values.append_value(s),
                            None if e.is_null() => values.append_null(),
                            None => values.append_value(e.to_string()),
                        }
                    } else {
                        values.append_value(e.to_string());
                    }
                }
                offsets.push(offsets.last().unwrap() + a.len() as i32);
                nulls.push(true);
            }
            _ => {
                offsets.push(*offsets.last().unwrap());
                nulls.push(false);
            }
        }
    }
    let field = Arc::new(Field::new("item", DataType::Utf8, true));
    Ok(Arc::new(ListArray::new(
        field,
        OffsetBuffer::new(offsets.into()),
        Arc::new(values.finish()),
        Some(nulls.into()),
    )))
}

fn json_array_json(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_array_elements_impl(args, false)
}
fn json_array_varchar(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    json_array_elements_impl(args, true)
}

/// `irprep_request_summary(json)`: a one-line summary of a request's
/// parameters for timelines (`key=value, …`, nested values elided).
fn request_summary(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let docs = strings(&args[0])?;
    let mut out = StringBuilder::new();
    for d in docs.iter() {
        let Some(d) = d else {
            out.append_null();
            continue;
        };
        let text = match serde_json::from_str::<Value>(d) {
            Ok(Value::Object(m)) => {
                let mut parts = vec![];
                for (k, v) in &m {
                    let val = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => continue,
                        Value::Object(o) if o.is_empty() => continue,
                        Value::Object(_) => "{…}".into(),
                        Value::Array(a) if a.is_empty() => continue,
                        Value::Array(a) => {
                            format!("[{} item{}]", a.len(), if a.len() == 1 { "" } else { "s" })
                        }
                        other => other.to_string(),
                    };
                    parts.push(format!("{k}={val}"));
                }
                parts.join(", ")
            }
            Ok(Value::Null) | Err(_) => String::new(),
            Ok(other) => other.to_string(),
        };
        let mut t: String = text.chars().take(160).collect();
        if text.chars().count() > 160 {
            t.push('…');
        }
        out.append_value(t);
    }
    Ok(Arc::new(out.finish()))
}

// ---------- time ----------

fn from_iso8601_timestamp(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    Ok(ts_array(
        s.iter().map(|x| x.and_then(parse_iso8601)).collect(),
    ))
}

/// MySQL-style format (Trino's `date_format`/`date_parse`) to chrono's.
fn mysql_to_chrono(fmt: &str) -> String {
    let mut out = String::new();
    let mut it = fmt.chars();
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(n) = it.next() else {
            out.push('%');
            break;
        };
        let piece = match n {
            'Y' => "%Y",
            'y' => "%y",
            'm' => "%m",
            'c' => "%-m",
            'd' => "%d",
            'e' => "%-d",
            'H' => "%H",
            'k' => "%-H",
            'h' | 'I' => "%I",
            'l' => "%-I",
            'i' => "%M",
            's' | 'S' => "%S",
            'f' => "%6f",
            'p' => "%p",
            'T' => "%H:%M:%S",
            'r' => "%I:%M:%S %p",
            'j' => "%j",
            'a' => "%a",
            'b' => "%b",
            'M' => "%B",
            'W' => "%A",
            '%' => "%%",
            _ => "",
        };
        if piece.is_empty() {
            out.push(n);
        } else {
            out.push_str(piece);
        }
    }
    out
}

fn date_format(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let t = timestamps(&args[0])?;
    let f = strings(&args[1])?;
    let mut out = StringBuilder::new();
    for i in 0..t.len() {
        if t.is_null(i) || f.is_null(i) {
            out.append_null();
            continue;
        }
        let dt = Utc.timestamp_nanos(t.value(i));
        out.append_value(dt.format(&mysql_to_chrono(f.value(i))).to_string());
    }
    Ok(Arc::new(out.finish()))
}

fn date_parse(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let f = strings(&args[1])?;
    let v = (0..s.len())
        .map(|i| {
            if s.is_null(i) || f.is_null(i) {
                return None;
            }
            let fmt = mysql_to_chrono(f.value(i));
            let text = s.value(i);
            NaiveDateTime::parse_from_str(text, &fmt)
                .ok()
                .or_else(|| {
                    NaiveDate::parse_from_str(text, &fmt)
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
                .and_then(|n| n.and_utc().timestamp_nanos_opt())
        })
        .collect();
    Ok(ts_array(v))
}

fn unit_duration(unit: &str, n: i64) -> Option<Duration> {
    Some(match unit.to_ascii_lowercase().trim_end_matches('s') {
        "millisecond" => Duration::milliseconds(n),
        "second" => Duration::seconds(n),
        "minute" => Duration::minutes(n),
        "hour" => Duration::hours(n),
        "day" => Duration::days(n),
        "week" => Duration::weeks(n),
        _ => return None,
    })
}

fn add_months(dt: DateTime<Utc>, months: i64) -> Option<DateTime<Utc>> {
    if months >= 0 {
        dt.checked_add_months(chrono::Months::new(months as u32))
    } else {
        dt.checked_sub_months(chrono::Months::new((-months) as u32))
    }
}

/// `date_add(unit, value, timestamp)`.
fn date_add(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let units = strings(&args[0])?;
    let n = cast(&args[1], &DataType::Int64)?;
    let n = n.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let t = timestamps(&args[2])?;
    let mut v = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        if units.is_null(i) || n.is_null(i) || t.is_null(i) {
            v.push(None);
            continue;
        }
        let dt = Utc.timestamp_nanos(t.value(i));
        let k = n.value(i);
        let r = match units.value(i).to_ascii_lowercase().trim_end_matches('s') {
            "month" => add_months(dt, k),
            "quarter" => add_months(dt, k * 3),
            "year" => add_months(dt, k * 12),
            u => match unit_duration(u, k) {
                Some(d) => dt.checked_add_signed(d),
                None => return exec_err!("date_add: unknown unit '{}'", units.value(i)),
            },
        };
        v.push(r.and_then(|d| d.timestamp_nanos_opt()));
    }
    Ok(ts_array(v))
}

/// `date_diff(unit, t1, t2)`: t2 - t1 in whole units.
fn date_diff(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let units = strings(&args[0])?;
    let a = timestamps(&args[1])?;
    let b = timestamps(&args[2])?;
    let mut v = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        if units.is_null(i) || a.is_null(i) || b.is_null(i) {
            v.push(None);
            continue;
        }
        let d = b.value(i) - a.value(i);
        let unit = units.value(i).to_ascii_lowercase();
        let r = match unit.trim_end_matches('s') {
            "millisecond" => d / 1_000_000,
            "second" => d / 1_000_000_000,
            "minute" => d / 60_000_000_000,
            "hour" => d / 3_600_000_000_000,
            "day" => d / 86_400_000_000_000,
            "week" => d / (7 * 86_400_000_000_000),
            "month" | "quarter" | "year" => {
                let (x, y) = (
                    Utc.timestamp_nanos(a.value(i)),
                    Utc.timestamp_nanos(b.value(i)),
                );
                let months =
                    (y.year() as i64 - x.year() as i64) * 12 + y.month() as i64 - x.month() as i64;
                let months = if months > 0 && add_months(x, months).is_some_and(|m| m > y) {
                    months - 1
                } else if months < 0 && add_months(x, months).is_some_and(|m| m < y) {
                    months + 1
                } else {
                    months
                };
                match unit.trim_end_matches('s') {
                    "month" => months,
                    "quarter" => months / 3,
                    _ => months / 12,
                }
            }
            _ => return exec_err!("date_diff: unknown unit '{}'", units.value(i)),
        };
        v.push(Some(r));
    }
    Ok(Arc::new(Int64Array::from(v)))
}

fn to_unixtime(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let t = timestamps(&args[0])?;
    Ok(Arc::new(Float64Array::from_iter(
        t.iter().map(|x| x.map(|n| n as f64 / 1e9)),
    )))
}

// ---------- arrays ----------

fn element_at_ret(args: &[DataType]) -> Result<DataType> {
    match args.first() {
        Some(DataType::List(f))
        | Some(DataType::LargeList(f))
        | Some(DataType::FixedSizeList(f, _)) => Ok(f.data_type().clone()),
        Some(other) => plan_err!("element_at expects an array, got {other}"),
        None => plan_err!("element_at expects two arguments"),
    }
}

/// Trino `element_at(array, i)`: 1-based, negative counts from the end, NULL
/// when out of range.
fn element_at(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let list = cast(
        &args[0],
        &DataType::List(Arc::new(Field::new(
            "item",
            element_at_ret(&[args[0].data_type().clone()])?,
            true,
        ))),
    )?;
    let list = list.as_list::<i32>();
    let idx = cast(&args[1], &DataType::Int64)?;
    let idx = idx.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let offsets = list.value_offsets();
    let mut take_ix: Vec<Option<u32>> = Vec::with_capacity(list.len());
    for r in 0..list.len() {
        if list.is_null(r) || idx.is_null(r) {
            take_ix.push(None);
            continue;
        }
        let (start, end) = (offsets[r] as i64, offsets[r + 1] as i64);
        let len = end - start;
        let i = idx.value(r);
        let pos = if i > 0 && i <= len {
            Some(start + i - 1)
        } else if i < 0 && -i <= len {
            Some(end + i)
        } else if i == 0 {
            return exec_err!("SQL array indices start at 1");
        } else {
            None
        };
        take_ix.push(pos.map(|p| p as u32));
    }
    let ix = UInt32Array::from(take_ix);
    Ok(take(list.values().as_ref(), &ix, None)?)
}

// ---------- regexp ----------

fn regexp_extract(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let p = strings(&args[1])?;
    let g = if args.len() > 2 {
        Some(cast(&args[2], &DataType::Int64)?)
    } else {
        None
    };
    let mut out = StringBuilder::new();
    let mut cache: Option<(String, regex::Regex)> = None;
    for i in 0..s.len() {
        if s.is_null(i) || p.is_null(i) {
            out.append_null();
            continue;
        }
        if cache.as_ref().map(|(k, _)| k.as_str()) != Some(p.value(i)) {
            match regex::Regex::new(p.value(i)) {
                Ok(re) => cache = Some((p.value(i).to_string(), re)),
                Err(e) => return exec_err!("regexp_extract: invalid pattern: {e}"),
            }
        }
        let re = &cache.as_ref().unwrap().1;
        let group = g
            .as_ref()
            .map(|g| {
                g.as_primitive::<datafusion::arrow::datatypes::Int64Type>()
                    .value(i) as usize
            })
            .unwrap_or(0);
        match re.captures(s.value(i)).and_then(|c| c.get(group)) {
            Some(m) => out.append_value(m.as_str()),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

// ---------- IP addresses ----------

fn ip_bytes(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    // Already an address key (the result of CAST(x AS IPADDRESS)).
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut b = [0u8; 16];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        return Some(b);
    }
    let ip: std::net::IpAddr = s.parse().ok()?;
    Some(match ip {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(v6) => v6.octets(),
    })
}

/// `CAST(x AS IPADDRESS)`: a text key whose order is the address order
/// (IPv4 mapped into IPv6 as Trino does). NULL when `x` is not an address.
fn ip_sortable(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let s = strings(&args[0])?;
    let mut out = StringBuilder::new();
    for x in s.iter() {
        match x.and_then(ip_bytes) {
            Some(b) => out.append_value(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn cidr_contains(cidr: &str, ip: &str) -> Option<bool> {
    let (net, bits) = cidr.trim().split_once('/')?;
    let net_ip: std::net::IpAddr = net.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let (nb, bits) = match net_ip {
        std::net::IpAddr::V4(v4) if bits <= 32 => (v4.to_ipv6_mapped().octets(), bits + 96),
        std::net::IpAddr::V6(v6) if bits <= 128 => (v6.octets(), bits),
        _ => return None,
    };
    let ib = ip_bytes(ip)?;
    let n = u128::from_be_bytes(nb);
    let i = u128::from_be_bytes(ib);
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    Some(n & mask == i & mask)
}

/// `contains('10.0.0.0/8', CAST(ip AS IPADDRESS))`.
fn ip_in_cidr(args: &[ArrayRef], _: usize) -> Result<ArrayRef> {
    let c = strings(&args[0])?;
    let ip = strings(&args[1])?;
    let v: Vec<Option<bool>> = (0..c.len())
        .map(|i| {
            if c.is_null(i) || ip.is_null(i) {
                None
            } else {
                cidr_contains(c.value(i), ip.value(i))
            }
        })
        .collect();
    Ok(Arc::new(BooleanArray::from(v)))
}

/// Every function irprep adds to DataFusion.
pub fn all() -> Vec<ScalarUDF> {
    let any = |n| Signature::any(n, Volatility::Immutable);
    vec![
        ScalarUDF::new_from_impl(Coalesce::default()),
        ScalarUDF::new_from_impl(RegexpLike::default()),
        udf("json_extract_scalar", any(2), utf8, json_extract_scalar),
        udf("json_extract", any(2), utf8, json_extract),
        udf("json_query", any(2), utf8, json_query),
        udf(
            "irprep_json_query_wrapped",
            any(2),
            utf8,
            json_query_wrapped,
        ),
        udf("json_array_length", any(1), int64, json_array_length),
        udf("json_array_contains", any(2), boolean, json_array_contains),
        udf("irprep_json_array", any(1), list_utf8, json_array_json),
        udf(
            "irprep_json_varchar_array",
            any(1),
            list_utf8,
            json_array_varchar,
        ),
        udf("from_iso8601_timestamp", any(1), ts, from_iso8601_timestamp),
        udf("date_format", any(2), utf8, date_format),
        udf("date_parse", any(2), ts, date_parse),
        udf("date_add", any(3), ts, date_add),
        udf("date_diff", any(3), int64, date_diff),
        udf("to_unixtime", any(1), float64, to_unixtime),
        udf("element_at", any(2), element_at_ret, element_at),
        udf(
            "regexp_extract",
            Signature::variadic_any(Volatility::Immutable),
            utf8,
            regexp_extract,
        ),
        udf("irprep_ip", any(1), utf8, ip_sortable),
        udf("irprep_request_summary", any(1), utf8, request_summary),
        udf("irprep_ip_in_cidr", any(2), boolean, ip_in_cidr),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::result_text;

    /// Lax SQL/JSON paths as Trino reads them: a member step maps over an
    /// array, `[*]` on a scalar is the scalar, quoted names, strict refused.
    #[test]
    fn lax_paths() {
        let v: Value = serde_json::from_str(
            r#"{"a": {"items": [{"p": 22, "r": {"items": [{"c": "x"}, {"c": "y"}]}}, {"p": 443}]}, "l": ["s1", "s2"], "k-1": 5}"#,
        )
        .unwrap();
        let q = |p: &str| -> Vec<String> {
            lax_items(&v, &parse_lax_path(p).unwrap())
                .iter()
                .map(|x| x.to_string())
                .collect()
        };
        assert_eq!(q("lax $.a.items.p"), vec!["22", "443"]);
        assert_eq!(
            q(r#"lax $."a"."items"."r"."items"."c"[*]"#),
            vec![r#""x""#, r#""y""#]
        );
        assert_eq!(q("lax $.l[*]"), vec![r#""s1""#, r#""s2""#]);
        assert_eq!(q("lax $.l"), vec![r#"["s1","s2"]"#]);
        assert_eq!(q(r#"lax $."k-1"[*]"#), vec!["5"]);
        assert_eq!(q("lax $.a.items[1].p"), vec!["443"]);
        assert!(q("lax $.missing[*]").is_empty());
        assert!(parse_lax_path("strict $.a").is_none());
        assert!(parse_lax_path("lax a").is_none());
    }

    /// The copy-free `coalesce` gives what DataFusion's CASE form gives, with
    /// columns, constants, NULL-free columns and three arguments; and a call
    /// with an expression after the first argument keeps the lazy form.
    #[tokio::test]
    async fn coalesce_as_case() {
        use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
        use datafusion::arrow::datatypes::{Field, Schema};
        use datafusion::datasource::MemTable;
        use datafusion::prelude::SessionContext;
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Utf8, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("full", DataType::Utf8, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("x"),
                    None,
                    None,
                    Some("y"),
                    None,
                ])),
                Arc::new(StringArray::from(vec![
                    None,
                    Some("b1"),
                    None,
                    Some("b3"),
                    Some("b4"),
                ])),
                Arc::new(StringArray::from(vec!["f0", "f1", "f2", "f3", "f4"])),
                Arc::new(Int64Array::from(vec![
                    None,
                    Some(1),
                    None,
                    Some(3),
                    Some(4),
                ])),
            ],
        )
        .unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap());
        let (plain, fast) = (SessionContext::new(), SessionContext::new());
        fast.register_udf(ScalarUDF::new_from_impl(Coalesce::default()));
        plain.register_table("t", table.clone()).unwrap();
        fast.register_table("t", table).unwrap();
        let sql = "SELECT coalesce(a, ''), coalesce(a, b), coalesce(a, b, 'z'), coalesce(full, 'never'), coalesce(n, 0), coalesce(a, NULL), coalesce(NULL, b), coalesce(a, b) = 'b1' FROM t";
        let (want, got) = (
            result_text(&plain, sql).await,
            result_text(&fast, sql).await,
        );
        assert_eq!(want, got);
        assert!(want.contains("| b4 "), "{want}");
        assert!(result_text(&fast, "EXPLAIN SELECT coalesce(a, b) FROM t")
            .await
            .contains("coalesce("));
        assert!(
            result_text(&fast, "EXPLAIN SELECT coalesce(a, upper(b)) FROM t")
                .await
                .contains("CASE")
        );
    }

    /// The memoised `regexp_like` matches as DataFusion's does, on repeated
    /// values, NULLs and a column whose values never repeat.
    #[tokio::test]
    async fn regexp_like_memo_as_datafusion() {
        use datafusion::arrow::array::RecordBatch;
        use datafusion::arrow::datatypes::Schema;
        use datafusion::datasource::MemTable;
        use datafusion::prelude::SessionContext;
        let arns = [
            "arn:aws:sts::111122223333:assumed-role/web/i-0123456789abcdef0",
            "arn:aws:iam::111122223333:user/alice",
            "arn:aws:sts::111122223333:assumed-role/ops/bob",
        ];
        let s: Vec<Option<String>> = (0..3000)
            .map(|i| {
                if i % 17 == 0 {
                    None
                } else if i % 5 == 0 {
                    Some(format!("unique-{i}"))
                } else {
                    Some(arns[(i * 7 / 3) % 3].to_string())
                }
            })
            .collect();
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
        let batch =
            RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(s))]).unwrap();
        let table = Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap());
        let (plain, fast) = (SessionContext::new(), SessionContext::new());
        fast.register_udf(ScalarUDF::new_from_impl(RegexpLike::default()));
        plain.register_table("t", table.clone()).unwrap();
        fast.register_table("t", table).unwrap();
        let sql = "SELECT s, regexp_like(s, ':assumed-role/[^/]+/i-[0-9a-f]{8,17}$'), regexp_like(s, '^(arn|unique)'), regexp_like(s, 'alice'), regexp_like(s, '-[0-9]+$'), NOT regexp_like(s, 'user/') FROM t";
        let (want, got) = (
            result_text(&plain, sql).await,
            result_text(&fast, sql).await,
        );
        assert_eq!(want.lines().count(), 3004);
        assert_eq!(want, got);
        let explain = result_text(&fast, &format!("EXPLAIN {sql}")).await;
        assert!(explain.contains("regexp_like("), "{explain}");
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("$.a.b[0]").unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Index(0)
            ]
        );
        assert_eq!(
            parse_path("$[\"x.y\"]").unwrap(),
            vec![PathStep::Key("x.y".into())]
        );
        assert!(parse_path("a.b").is_none());
    }

    #[test]
    fn cidr() {
        assert_eq!(cidr_contains("10.0.0.0/8", "10.255.255.255"), Some(true));
        assert_eq!(cidr_contains("10.0.0.0/8", "11.0.0.0"), Some(false));
        assert_eq!(cidr_contains("172.16.0.0/12", "172.31.0.1"), Some(true));
        assert_eq!(cidr_contains("fc00::/7", "fd00::1"), Some(true));
        assert_eq!(cidr_contains("10.0.0.0/8", "ec2.amazonaws.com"), None);
    }

    #[test]
    fn mysql_formats() {
        assert_eq!(mysql_to_chrono("%Y/%m/%d %H:%i:%s"), "%Y/%m/%d %H:%M:%S");
        assert_eq!(
            parse_iso8601("2023-07-10T11:42:36Z"),
            Some(1_688_989_356_000_000_000)
        );
        assert_eq!(
            parse_iso8601("2020-09-14T00:44:23.000Z"),
            Some(1_600_044_263_000_000_000)
        );
    }
}

/// `coalesce` without copies where it can: DataFusion rewrites `coalesce(a,
/// b)` into `CASE WHEN a IS NOT NULL THEN a ELSE b END`, which copies `a`'s
/// values twice on every batch (and the detections' filters use it a lot:
/// `coalesce(useragent, '')`). Here, when every argument after the first is a
/// column or a constant (nothing to evaluate lazily), the first argument is
/// returned as it is when it holds no NULL, and otherwise its NULLs are
/// filled from the next argument in one pass. Other calls (an expression that
/// might fail where it is not needed) keep DataFusion's lazy CASE form.
#[derive(Debug, PartialEq, Eq, Hash, Default)]
pub struct Coalesce {
    inner: datafusion::functions::core::coalesce::CoalesceFunc,
}

impl ScalarUDFImpl for Coalesce {
    fn name(&self) -> &str {
        "coalesce"
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        self.inner.return_type(t)
    }
    fn return_field_from_args(
        &self,
        args: datafusion::logical_expr::ReturnFieldArgs,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn coerce_types(&self, t: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(t)
    }
    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::Expr;
        if args.len() >= 2
            && args[1..]
                .iter()
                .all(|a| matches!(a, Expr::Column(_) | Expr::Literal(..)))
        {
            return Ok(datafusion::logical_expr::simplify::ExprSimplifyResult::Original(args));
        }
        self.inner.simplify(args, info)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let mut it = args.args.into_iter();
        let Some(mut acc) = it.next() else {
            return datafusion::common::exec_err!("coalesce needs an argument");
        };
        for next in it {
            acc = match acc {
                ColumnarValue::Scalar(s) if s.is_null() => next,
                ColumnarValue::Scalar(s) => return Ok(ColumnarValue::Scalar(s)),
                ColumnarValue::Array(a) if a.null_count() == 0 => {
                    return Ok(ColumnarValue::Array(a))
                }
                ColumnarValue::Array(a) => {
                    let present = datafusion::arrow::compute::is_not_null(&a)?;
                    let filled = match &next {
                        ColumnarValue::Scalar(s) => datafusion::arrow::compute::kernels::zip::zip(
                            &present,
                            &a,
                            &s.to_scalar()?,
                        )?,
                        ColumnarValue::Array(b) => {
                            datafusion::arrow::compute::kernels::zip::zip(&present, &a, b)?
                        }
                    };
                    ColumnarValue::Array(filled)
                }
            };
        }
        Ok(match acc {
            ColumnarValue::Scalar(s) => ColumnarValue::Array(s.to_array_of_size(n)?),
            a => a,
        })
    }
}

/// `regexp_like` that evaluates a pattern once per distinct value of a
/// batch. Log columns repeat: the same principal ARN, user agent or event
/// name recurs through a batch, and the detections match regular
/// expressions against them on every row. DataFusion's own form is kept
/// where it turns the pattern into something cheaper (`LIKE`, equality),
/// and for every other argument shape. Results are those of the same
/// `regex` match; NULL stays NULL. The memo gives up on a column whose
/// values do not repeat (a JSON document per row).
#[derive(Debug, PartialEq, Eq, Hash, Default)]
pub struct RegexpLike {
    inner: datafusion::functions::regex::regexplike::RegexpLikeFunc,
}

impl ScalarUDFImpl for RegexpLike {
    fn name(&self) -> &str {
        "regexp_like"
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, t: &[DataType]) -> Result<DataType> {
        self.inner.return_type(t)
    }
    fn simplify(
        &self,
        args: Vec<datafusion::logical_expr::Expr>,
        info: &datafusion::logical_expr::simplify::SimplifyContext,
    ) -> Result<datafusion::logical_expr::simplify::ExprSimplifyResult> {
        use datafusion::logical_expr::simplify::ExprSimplifyResult;
        use datafusion::logical_expr::{Expr, Operator};
        if args.len() != 2 {
            return self.inner.simplify(args, info);
        }
        match self.inner.simplify(args.clone(), info)? {
            ExprSimplifyResult::Simplified(e) => {
                let e =
                    datafusion::optimizer::simplify_expressions::ExprSimplifier::new(info.clone())
                        .simplify(e)?;
                Ok(match &e {
                    Expr::BinaryExpr(b) if b.op == Operator::RegexMatch => {
                        ExprSimplifyResult::Original(args)
                    }
                    _ => ExprSimplifyResult::Simplified(e),
                })
            }
            other => Ok(other),
        }
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [ColumnarValue::Array(values), ColumnarValue::Scalar(ScalarValue::Utf8(Some(p)))] =
            args.args.as_slice()
        {
            if values.data_type() == &DataType::Utf8 && !p.is_empty() {
                if let Ok(re) = regex::Regex::new(p) {
                    return Ok(ColumnarValue::Array(Arc::new(memo_match(
                        values.as_string::<i32>(),
                        &re,
                    ))));
                }
            }
        }
        self.inner.invoke_with_args(args)
    }
}

fn memo_match(a: &StringArray, re: &regex::Regex) -> BooleanArray {
    let mut memo: HashMap<&str, bool, ahash::RandomState> = HashMap::default();
    let (mut lookups, mut hits, mut memoize) = (0usize, 0usize, true);
    let mut prev: Option<(&str, bool)> = None;
    let mut out = datafusion::arrow::array::BooleanBufferBuilder::new(a.len());
    for i in 0..a.len() {
        if a.is_null(i) {
            out.append(false);
            continue;
        }
        let v = a.value(i);
        let m = match prev {
            Some((p, m)) if p == v => m,
            _ if !memoize => re.is_match(v),
            _ => {
                lookups += 1;
                let m = match memo.get(v) {
                    Some(&m) => {
                        hits += 1;
                        m
                    }
                    None => {
                        let m = re.is_match(v);
                        memo.insert(v, m);
                        m
                    }
                };
                if lookups == 512 && hits < 256 {
                    memoize = false;
                }
                m
            }
        };
        prev = Some((v, m));
        out.append(m);
    }
    BooleanArray::new(out.finish(), a.nulls().cloned())
}
