//! Athena engine v3 (Trino) SQL on DataFusion.
//!
//! Queries are parsed with sqlparser (lambdas enabled), rewritten where
//! Trino and DataFusion differ, then planned by DataFusion:
//! - identifiers are case-insensitive, quoted or not, as in Athena;
//! - `CAST(x AS IPADDRESS)` becomes an order-preserving address key, and
//!   `contains('10.0.0.0/8', CAST(x AS IPADDRESS))` a CIDR test;
//! - `contains(array, x)` → `array_has`, `split` → `string_to_array`,
//!   `transform`/`filter` → `array_transform`/`array_filter`,
//!   `CAST(json AS ARRAY(JSON|VARCHAR))` → a JSON array reader, `try(x)` → `x`,
//!   `count_if(c)` → `count(CASE WHEN c THEN 1 END)`, `arbitrary` → `first_value`;
//! - the Trino functions DataFusion lacks are in [`crate::udf`].

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Statement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion::sql::sqlparser::parser::Parser;

/// Trino-flavoured dialect: the generic dialect plus `x -> expr` lambdas.
#[derive(Debug, Default)]
pub struct AthenaDialect(GenericDialect);

impl Dialect for AthenaDialect {
    fn dialect(&self) -> std::any::TypeId {
        std::any::TypeId::of::<GenericDialect>()
    }
    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }
    fn supports_lambda_functions(&self) -> bool {
        true
    }
    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }
    fn supports_window_function_null_treatment_arg(&self) -> bool {
        true
    }
}

/// Parse Athena SQL into statements, rewritten for DataFusion.
pub fn parse(sql: &str) -> Result<Vec<Statement>, String> {
    // Trino writes array types as ARRAY(T); the generic parser wants ARRAY<T>.
    static ARRAY_TYPE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = ARRAY_TYPE.get_or_init(|| {
        regex::Regex::new(r"(?i)\bAS\s+ARRAY\s*\(\s*(JSON|VARCHAR)\s*\)").expect("valid regex")
    });
    // Outside string literals only: a value such as 'AS ARRAY(JSON)' stays as written.
    let sql = irprep_core::sql::outside_literals(sql, |part| {
        re.replace_all(part, "AS ARRAY<$1>").into_owned()
    });
    // `json_query(col, 'lax …' WITH ARRAY WRAPPER)`: the parser does not take
    // the clause; the wrapped form is its own function here.
    static WRAPPED: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let wrapped = WRAPPED.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\bjson_query\(\s*([a-z_][a-z0-9_.]*)\s*,\s*('(?:[^']|'')*')\s+WITH\s+ARRAY\s+WRAPPER\s*\)",
        )
        .expect("valid regex")
    });
    let sql = wrapped.replace_all(&sql, "irprep_json_query_wrapped($1, $2)");
    let mut stmts =
        Parser::parse_sql(&AthenaDialect::default(), &sql).map_err(|e| e.to_string())?;
    for s in &mut stmts {
        rewrite(s);
    }
    Ok(stmts)
}

/// Apply every rewrite to one statement.
pub fn rewrite(stmt: &mut Statement) {
    let _ = stmt.visit(&mut Rewriter::default());
}

/// Table names a statement reads (lower case, last name part).
pub fn tables(stmt: &Statement) -> Vec<String> {
    let mut out = vec![];
    let _ = ast::Visit::visit(stmt, &mut TableCollector(&mut out));
    out.sort();
    out.dedup();
    out
}

struct TableCollector<'a>(&'a mut Vec<String>);
impl ast::Visitor for TableCollector<'_> {
    type Break = ();
    fn pre_visit_relation(&mut self, r: &ObjectName) -> ControlFlow<()> {
        if let Some(ObjectNamePart::Identifier(i)) = r.0.last() {
            self.0.push(i.value.to_lowercase());
        }
        ControlFlow::Continue(())
    }
}

#[derive(Default)]
struct Rewriter {
    /// Lambda parameters in scope (struct fields of them become get_field).
    lambda_params: Vec<String>,
}

pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn lower(i: &mut Ident) {
    i.value = i.value.to_lowercase();
}

fn is_ipaddress(t: &DataType) -> bool {
    matches!(t, DataType::Custom(name, _) if name.to_string().eq_ignore_ascii_case("ipaddress"))
}

fn json_array_kind(t: &DataType) -> Option<&'static str> {
    let DataType::Array(def) = t else { return None };
    let inner = match def {
        ast::ArrayElemTypeDef::Parenthesis(t) | ast::ArrayElemTypeDef::AngleBracket(t) => t,
        _ => return None,
    };
    match inner.as_ref() {
        DataType::JSON => Some("irprep_json_array"),
        DataType::Varchar(_) | DataType::String(_) | DataType::Text => {
            Some("irprep_json_varchar_array")
        }
        _ => None,
    }
}

fn plain_args(f: &Function) -> Option<Vec<Expr>> {
    let FunctionArguments::List(l) = &f.args else {
        return None;
    };
    if l.duplicate_treatment.is_some() || !l.clauses.is_empty() {
        return None;
    }
    l.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_relation(&mut self, r: &mut ObjectName) -> ControlFlow<()> {
        for p in &mut r.0 {
            if let ObjectNamePart::Identifier(i) = p {
                lower(i);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        // Lambda parameters are not visited as expressions: lower them here.
        if let Expr::Lambda(l) = e {
            match &mut l.params {
                ast::OneOrManyWithParens::One(p) => {
                    lower(&mut p.name);
                    self.lambda_params.push(p.name.value.clone());
                }
                ast::OneOrManyWithParens::Many(ps) => ps.iter_mut().for_each(|p| {
                    lower(&mut p.name);
                    self.lambda_params.push(p.name.value.clone());
                }),
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Identifier(i) => lower(i),
            Expr::Lambda(l) => {
                let n = match &l.params {
                    ast::OneOrManyWithParens::One(_) => 1,
                    ast::OneOrManyWithParens::Many(ps) => ps.len(),
                };
                let keep = self.lambda_params.len().saturating_sub(n);
                self.lambda_params.truncate(keep);
            }
            Expr::CompoundIdentifier(is) => {
                is.iter_mut().for_each(lower);
                if is.len() > 1 && self.lambda_params.contains(&is[0].value) {
                    // x.field inside a lambda: struct field access on the parameter.
                    let mut acc = Expr::Identifier(is[0].clone());
                    for f in &is[1..] {
                        acc = call(
                            "get_field",
                            vec![
                                acc,
                                Expr::value(ast::Value::SingleQuotedString(f.value.clone())),
                            ],
                        );
                    }
                    *e = acc;
                }
            }
            Expr::Cast {
                kind,
                expr,
                data_type,
                ..
            } => {
                if is_ipaddress(data_type) {
                    *e = call("irprep_ip", vec![(**expr).clone()]);
                } else if let Some(f) = json_array_kind(data_type) {
                    let inner = (**expr).clone();
                    *e = call(f, vec![inner]);
                } else if matches!(data_type, DataType::JSON) {
                    *e = (**expr).clone();
                } else if matches!(kind, CastKind::DoubleColon) {
                    *kind = CastKind::Cast;
                }
            }
            Expr::Function(f) => {
                let name = f.name.to_string().to_lowercase();
                let args = plain_args(f);
                let renamed = match (name.as_str(), args) {
                    ("contains", Some(a)) if a.len() == 2 => {
                        // contains(IPPREFIX, IPADDRESS): the prefix is a string
                        // literal ('10.0.0.0/8'); the address an IPADDRESS cast
                        // (or a column holding one). Otherwise an array.
                        let is_prefix = matches!(&a[0], Expr::Value(v) if matches!(v.value, ast::Value::SingleQuotedString(_)))
                            || matches!(&a[1], Expr::Function(inner) if inner.name.to_string() == "irprep_ip");
                        if is_prefix {
                            let ip = match &a[1] {
                                Expr::Function(inner) if inner.name.to_string() == "irprep_ip" => {
                                    plain_args(inner)
                                        .unwrap_or_default()
                                        .into_iter()
                                        .next()
                                        .unwrap_or(Expr::value(ast::Value::Null))
                                }
                                other => other.clone(),
                            };
                            Some(call("irprep_ip_in_cidr", vec![a[0].clone(), ip]))
                        } else {
                            Some(call("array_has", a))
                        }
                    }
                    ("split", Some(a)) if a.len() == 2 => Some(call("string_to_array", a)),
                    // Trino replaces every match; DataFusion only the first
                    // unless told 'g'. A missing replacement is ''.
                    ("regexp_replace", Some(mut a)) if a.len() == 2 || a.len() == 3 => {
                        if a.len() == 2 {
                            a.push(Expr::value(ast::Value::SingleQuotedString(String::new())));
                        }
                        a.push(Expr::value(ast::Value::SingleQuotedString("g".into())));
                        Some(call("regexp_replace", a))
                    }
                    ("transform", _) => {
                        f.name = ObjectName::from(vec![Ident::new("array_transform")]);
                        None
                    }
                    ("filter", _) => {
                        f.name = ObjectName::from(vec![Ident::new("array_filter")]);
                        None
                    }
                    ("try", Some(mut a)) if a.len() == 1 => Some(a.remove(0)),
                    ("count_if", Some(mut a)) if a.len() == 1 => {
                        let cond = a.remove(0);
                        let case = Expr::Case {
                            case_token: ast::helpers::attached_token::AttachedToken::empty(),
                            end_token: ast::helpers::attached_token::AttachedToken::empty(),
                            operand: None,
                            conditions: vec![ast::CaseWhen {
                                condition: cond,
                                result: Expr::value(ast::Value::Number("1".into(), false)),
                            }],
                            else_result: None,
                        };
                        let mut c = call("count", vec![case]);
                        if let (Expr::Function(cf), Expr::Function(of)) = (&mut c, &*e) {
                            cf.over = of.over.clone();
                            cf.filter = of.filter.clone();
                        }
                        Some(c)
                    }
                    ("arbitrary", _) | ("any_value", _) => {
                        f.name = ObjectName::from(vec![Ident::new("first_value")]);
                        None
                    }
                    ("date", Some(mut a)) if a.len() == 1 => Some(Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(a.remove(0)),
                        data_type: DataType::Date,
                        array: false,
                        format: None,
                    }),
                    ("json_parse", Some(mut a)) | ("json_format", Some(mut a)) if a.len() == 1 => {
                        Some(a.remove(0))
                    }
                    ("cardinality", Some(a)) if a.len() == 1 => windowed_distinct(&a[0]),
                    _ => None,
                };
                if let Some(r) = renamed {
                    *e = r;
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// `array_distinct(array_agg(x) OVER w)` → `irprep_count_distinct(x) OVER w`
/// (the caller held `cardinality(...)` of it): same value, linear time.
fn windowed_distinct(e: &Expr) -> Option<Expr> {
    let Expr::Function(d) = e else { return None };
    if !d.name.to_string().eq_ignore_ascii_case("array_distinct") || d.over.is_some() {
        return None;
    }
    let args = plain_args(d)?;
    let [Expr::Function(agg)] = args.as_slice() else {
        return None;
    };
    if !agg.name.to_string().eq_ignore_ascii_case("array_agg")
        || agg.over.is_none()
        || agg.filter.is_some()
        || !agg.within_group.is_empty()
    {
        return None;
    }
    let [x] = plain_args(agg)?.try_into().ok()?;
    let mut c = call(crate::window::COUNT_DISTINCT, vec![x]);
    if let Expr::Function(cf) = &mut c {
        cf.over = agg.over.clone();
    }
    Some(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(sql: &str) -> String {
        parse(sql)
            .unwrap()
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(";")
    }

    #[test]
    fn array_types_are_rewritten_outside_literals_only() {
        let out = rw("SELECT CAST(x AS ARRAY(JSON)) FROM t WHERE p = 'AS ARRAY(JSON)'");
        assert!(out.contains("'AS ARRAY(JSON)'"), "{out}");
        assert!(!out.contains("CAST(x AS ARRAY(JSON))"), "{out}");
    }

    #[test]
    fn rewrites() {
        assert_eq!(
            rw("SELECT eventName FROM CloudTrail"),
            "SELECT eventname FROM cloudtrail"
        );
        assert_eq!(
            rw("SELECT \"eventName\" FROM t"),
            "SELECT \"eventname\" FROM t"
        );
        assert!(
            rw("SELECT 1 FROM t WHERE CAST(a AS IPADDRESS) > CAST('10.0.0.0' AS IPADDRESS)")
                .contains("irprep_ip(a) > irprep_ip('10.0.0.0')")
        );
        assert!(
            rw("SELECT contains('10.0.0.0/8', CAST(ip AS IPADDRESS)) FROM t")
                .contains("irprep_ip_in_cidr('10.0.0.0/8', ip)")
        );
        assert!(rw("SELECT contains(arr, 'x') FROM t").contains("array_has(arr, 'x')"));
        // Trino's regexp_replace replaces every match.
        assert!(rw("SELECT regexp_replace(a, '\\s') FROM t")
            .contains("regexp_replace(a, '\\s', '', 'g')"));
        assert!(rw("SELECT regexp_replace(a, 'x', 'y') FROM t")
            .contains("regexp_replace(a, 'x', 'y', 'g')"));
        // json_query's WITH ARRAY WRAPPER clause becomes its own function.
        assert!(
            rw("SELECT json_query(requestparameters, 'lax $.a[*]' WITH ARRAY WRAPPER) FROM t")
                .contains("irprep_json_query_wrapped(requestparameters, 'lax $.a[*]')")
        );
        assert!(rw("SELECT transform(r, x -> x.ARN) FROM t")
            .contains("array_transform(r, x -> get_field(x, 'arn'))"));
        assert!(rw("SELECT element_at(split(q, '.'), -2) FROM t")
            .contains("element_at(string_to_array(q, '.'), -2)"));
        assert!(rw("SELECT count_if(a > 1) FROM t").contains("count(CASE WHEN a > 1 THEN 1 END)"));
        assert!(
            rw("SELECT CAST(json_extract(x, '$.a') AS ARRAY(JSON)) FROM t")
                .contains("irprep_json_array(json_extract(x, '$.a'))")
        );
        assert_eq!(
            rw("SELECT cardinality(array_distinct(array_agg(s) OVER (PARTITION BY p ORDER BY t RANGE BETWEEN CURRENT ROW AND 600 FOLLOWING))) FROM t"),
            "SELECT irprep_count_distinct(s) OVER (PARTITION BY p ORDER BY t RANGE BETWEEN CURRENT ROW AND 600 FOLLOWING) FROM t"
        );
        assert!(
            rw("SELECT cardinality(array_distinct(array_agg(s))) FROM t")
                .contains("cardinality(array_distinct(array_agg(s)))")
        );
        assert_eq!(
            tables(&parse("SELECT * FROM db.CloudTrail c JOIN x ON 1=1").unwrap()[0]),
            vec!["cloudtrail", "x"]
        );
    }
}
