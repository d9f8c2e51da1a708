#!/usr/bin/env python3
"""Check that Athena queries satisfy the partition projection of the tables they read.

Usage
-----
    python projection_check.py [--json] INPUT          INPUT: a JSON file, or - for stdin
    python projection_check.py [--json] --state FILE   FILE: the output of
                                                       `tests/emulator/analytics.py state` (or -)
    python projection_check.py --self-test             run the built-in cases

INPUT is

    {"tables": {"<table>": {"partition_keys": [["account_partition", "string"], ...],
                            "parameters": {...Glue table parameters...}}, ...},
     "queries": [{"name": "...", "sql": "..."}, ...]}

With --state, `tables` is read the same way (extra keys such as `columns` or
`location` are ignored) and the queries are the `named_queries` object
({name: {"sql": ...}}; a `QueryString` key, or a list of
{"Name": ..., "QueryString": ...} as the Athena API returns it, is accepted too).

Each query is parsed with `sqlglot.parse(sql, read="athena")`. A table in
the SQL is matched to a table of the input by its last name part,
case-insensitively (`"db"."cloudtrail"`, `db.cloudtrail` and `cloudtrail`
are the same table). An unqualified name that a visible CTE defines is the
CTE, not the table (Trino: a non-recursive CTE is visible in the main query
and in the CTEs after it, not in its own body, so
`WITH cloudtrail AS (SELECT * FROM "db"."cloudtrail" WHERE ...)` works).

Output: one line per problem on stderr,

    NAME: table T key K: <reason>            (a failure)
    NAME: table T key K: warning: <reason>   (a warning)

then on stdout `N queries, M table references checked, W warnings`
(`--json` prints a JSON object instead: ok, queries, references, warnings,
failures). Exit 0 when there is no failure, 1 when there is one (an empty
query list is a failure: nothing was checked), 2 when the input cannot be
read or a query does not parse (the query is named).

Rules
-----
Only tables whose parameters say `projection.enabled=true` (case-insensitive,
spaces trimmed) are checked. A *reference* is one occurrence of such a table
in the FROM clause or a JOIN of a SELECT (a CTE body, a subquery, a UNION
branch and the main query are separate SELECTs). Every reference is checked
against the predicates of *its own* SELECT only: a predicate in an outer
query or in another CTE does not count, even where Trino might push it down
(conservative: the deploy must not depend on the optimiser). The predicates
of a reference are

* the top-level AND conjuncts of that SELECT's WHERE, and
* the top-level AND conjuncts of a JOIN's ON clause: for the table that the
  JOIN adds unless it is a RIGHT or FULL join, and for the tables before it
  only when it is an inner join (a LEFT JOIN's ON does not filter the left
  table, a RIGHT JOIN's does not filter the right one).

A column `c` is the key `k` of a reference when its name is `k` and it is
unqualified or qualified by the reference's alias (by the table's name when
there is no alias). Conditions are not looked for inside nested subqueries.

Table configuration (failures on every reference to the table; Athena fails
the query with INVALID_TABLE_PROPERTY, see the re:Post article below):
a partition key without `projection.<key>.type`, an unknown type, an enum
without `.values`, a date without `.format` or `.range`, an integer without
`.range`, or a `storage.location.template` that does not name `${key}`.

`injected` keys. AWS: "Your query must include at least one value for the
partition key. The value(s) must be literals or expressions that can be
evaluated without reading any data", or the query fails with
"CONSTRAINT_VIOLATION: For the injected projected partition column
column_name, the WHERE clause must contain only static equality conditions,
and at least one such condition must be present." Implemented as:

* at least one predicate of the reference must be a *static equality*:
  `k = <constant>`, `<constant> = k`, `k IN (<constant>, ...)`, or an OR
  whose every branch is itself a static equality on the same `k`
  (`k = 'a' OR k = 'b'`, the same as IN). A constant is an expression with
  no column and no subquery (literals, `'a' || 'b'`, `current_date`, ...).
  An equality inside an OR with any other branch does not count, nor does
  one under NOT, in a CASE, or in a subquery;
* no other predicate of the reference may mention `k` (`k <> 'x'`,
  `k LIKE ...`, `k IN (SELECT ...)`, `contains(split(...), k)`, an OR mixing
  `k = 'a'` with anything else, ...): "only static equality conditions".

`date` keys. Every comparison of the key (=, <>, <, <=, >, >=, BETWEEN, IN,
anywhere in the reference's predicates, ORs included) with a string constant
must give a value in the key's `.format`, a Java DateTimeFormatter pattern:
the pattern is turned into a regular expression (pattern letters y u M L d D
H h k K m s S a E; text in '...' is literal; '' is a quote; any other
character stands for itself). The partition key is a string, so
'2024-03-01' against values like '2024/03/01' compares as text and silently
selects the wrong partitions. `date_format(x, '<pattern>')` and
`format_datetime(x, '<pattern>')` are checked by formatting a sample date
with the pattern. A DATE/TIMESTAMP value compared with a string key is a
failure. An equality or IN value outside `.range` (fixed bounds, NOW,
NOW+-N<unit>) is a warning: no partition is projected for it, zero rows.

`integer` keys. A compared value must be an integer (a string of digits for
a string key); with `.digits` it must be zero-padded to that width (the
projected values are '05', not '5'). An equality value outside `.range` is
a warning.

`enum` keys. Nothing is required. An equality or IN value that is not one of
`.values` (split on commas; "any white space is considered part of an enum
value") is a warning: the query reads no partition for it.

All keys. A number compared with a key whose declared type is `string` is a
failure (Trino cannot compare varchar with a number).

AWS documentation relied on
---------------------------
* https://docs.aws.amazon.com/athena/latest/ug/partition-projection.html
* https://docs.aws.amazon.com/athena/latest/ug/partition-projection-supported-types.html
  (enum, integer, date, injected; `.values`, `.range`, `.format`,
  `.interval`, `.interval.unit`, `.digits`; date formats are Java
  DateTimeFormatter patterns; ranges may use NOW)
* https://docs.aws.amazon.com/athena/latest/ug/partition-projection-dynamic-id-partitioning.html
  (the injected type and its CONSTRAINT_VIOLATION)
* https://docs.aws.amazon.com/athena/latest/ug/partition-projection-kinesis-firehose-example-using-the-date-type.html
  (a date key compared with string literals in its format)
* https://repost.aws/knowledge-center/athena-partition-projection
  (INVALID_TABLE_PROPERTY for a missing projection configuration or template)
"""

import argparse
import calendar
import datetime
import json
import logging
import re
import sys

import sqlglot
from sqlglot import exp

logging.getLogger("sqlglot").setLevel(logging.ERROR)

PROJECTION_TYPES = ("enum", "integer", "date", "injected")
STRING_TYPES = ("string", "varchar", "char")
INTEGER_TYPES = ("int", "integer", "bigint", "smallint", "tinyint")


class InputError(Exception):
    """The input cannot be used (exit 2)."""


# ---------------------------------------------------------------------------
# Java DateTimeFormatter patterns


def java_tokens(pattern):
    """('lit', text) and ('field', letter, count) tokens of a pattern."""
    out = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern[i + 1:i + 2] == "'":
                out.append(("lit", "'"))
                i += 2
                continue
            j, text = i + 1, []
            while True:
                if j >= n:
                    raise ValueError(f"unterminated quote in {pattern!r}")
                if pattern[j] == "'":
                    if pattern[j + 1:j + 2] == "'":
                        text.append("'")
                        j += 2
                        continue
                    break
                text.append(pattern[j])
                j += 1
            out.append(("lit", "".join(text)))
            i = j + 1
            continue
        if ("a" <= c <= "z") or ("A" <= c <= "Z"):
            j = i
            while j < n and pattern[j] == c:
                j += 1
            out.append(("field", c, j - i))
            i = j
            continue
        if c in "[]{}#":
            raise ValueError(f"pattern character {c!r} is not supported")
        out.append(("lit", c))
        i += 1
    return out


def _two(letter, n):
    if n > 2:
        raise ValueError(f"too many pattern letters {letter * n!r}")
    return r"\d{1,2}" if n == 1 else r"\d{2}"


def java_regex(pattern):
    """A compiled regex matching the text a pattern formats, with groups y M d H m s."""
    parts, seen = [], set()

    def group(name, rx):
        if name in seen:
            return f"(?:{rx})"
        seen.add(name)
        return f"(?P<{name}>{rx})"

    for t in java_tokens(pattern):
        if t[0] == "lit":
            parts.append(re.escape(t[1]))
            continue
        _, c, n = t
        if c in "yu":
            parts.append(group("y", r"\d{2}" if n == 2 else (r"\d+" if n == 1 else r"\d{%d,}" % n)))
        elif c in "ML":
            if n <= 2:
                parts.append(group("M", _two(c, n)))
            else:
                parts.append("[A-Za-z]{3}" if n == 3 else ("[A-Za-z]" if n == 5 else "[A-Za-z]+"))
        elif c == "d":
            parts.append(group("d", _two(c, n)))
        elif c in "Hk":
            parts.append(group("H", _two(c, n)))
        elif c in "hK":
            parts.append(_two(c, n))
        elif c == "m":
            parts.append(group("m", _two(c, n)))
        elif c == "s":
            parts.append(group("s", _two(c, n)))
        elif c == "S":
            parts.append(r"\d{%d}" % n)
        elif c == "D":
            parts.append({1: r"\d{1,3}", 2: r"\d{2,3}", 3: r"\d{3}"}.get(n) or _two(c, 9))
        elif c == "a":
            parts.append("(?:AM|PM)")
        elif c == "E":
            parts.append("[A-Za-z]+")
        else:
            raise ValueError(f"pattern letter {c!r} is not supported by this checker")
    return re.compile("^" + "".join(parts) + "$")


SAMPLE = datetime.datetime(2024, 3, 1, 5, 7, 9)  # a Friday


def java_render(pattern, t=SAMPLE):
    """The text a Java pattern gives for `t` (None: a letter this checker cannot render)."""
    out = []
    for tok in java_tokens(pattern):
        if tok[0] == "lit":
            out.append(tok[1])
            continue
        _, c, n = tok
        if c in "yu":
            out.append(f"{t.year % 100:02d}" if n == 2 else str(t.year).zfill(n))
        elif c in "ML":
            out.append(str(t.month).zfill(n) if n <= 2
                       else (t.strftime("%b") if n == 3 else t.strftime("%B")))
        elif c == "d":
            out.append(str(t.day).zfill(n))
        elif c in "Hk":
            out.append(str(t.hour).zfill(n))
        elif c in "hK":
            out.append(str(t.hour % 12 or 12).zfill(n))
        elif c == "m":
            out.append(str(t.minute).zfill(n))
        elif c == "s":
            out.append(str(t.second).zfill(n))
        elif c == "S":
            out.append("0" * n)
        elif c == "D":
            out.append(str(t.timetuple().tm_yday).zfill(n))
        elif c == "a":
            out.append(t.strftime("%p"))
        elif c == "E":
            out.append(t.strftime("%a") if n < 4 else t.strftime("%A"))
        else:
            return None
    return "".join(out)


def strftime_render(fmt, t=SAMPLE):
    """sqlglot normalises Trino's date_format specifiers to Python strftime ones."""
    try:
        return t.strftime(fmt)
    except ValueError:
        return None


def date_tuple(m):
    g = m.groupdict()
    y = g.get("y")
    if y is None:
        return None
    year = int(y) + (2000 if len(y) == 2 else 0)
    return tuple([year] + [int(g[k]) if g.get(k) else 0 for k in ("M", "d", "H", "m", "s")])


UNITS = {"YEAR": "years", "MONTH": "months", "WEEK": "weeks", "DAY": "days",
         "HOUR": "hours", "MINUTE": "minutes", "SECOND": "seconds"}


def range_bound(text, rx, now):
    """A range bound as a (y, M, d, H, m, s) tuple, or None when it cannot be read."""
    text = text.strip()
    m = re.fullmatch(r"NOW(?:\s*([+-])\s*(\d+)\s*([A-Za-z]+?)S?)?", text, re.I)
    if m:
        t = now
        if m.group(1):
            unit = UNITS.get(m.group(3).upper())
            if unit is None:
                return None
            k = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
            if unit in ("years", "months"):
                months = t.month - 1 + k * (12 if unit == "years" else 1)
                year, month = t.year + months // 12, months % 12 + 1
                t = t.replace(year=year, month=month, day=min(t.day, calendar.monthrange(year, month)[1]))
            else:
                t = t + datetime.timedelta(**{unit: k})
        return (t.year, t.month, t.day, t.hour, t.minute, t.second)
    m = rx.match(text)
    return date_tuple(m) if m else None


# ---------------------------------------------------------------------------
# Tables


class Key:
    def __init__(self, name, declared):
        self.name = name
        self.declared = (declared or "string").strip().lower()
        self.type = None
        self.values = None      # enum
        self.format = None      # date
        self.regex = None       # date
        self.range = None       # date: (lo, hi) strings; integer: (lo, hi) ints
        self.digits = None      # integer
        self.problems = []      # failures: the table is misconfigured
        self.notes = []         # warnings


class Table:
    def __init__(self, name, spec):
        if not isinstance(spec, dict):
            raise InputError(f"table {name}: not an object")
        self.name = name
        params = spec.get("parameters") or {}
        if not isinstance(params, dict):
            raise InputError(f"table {name}: parameters is not an object")
        self.params = {str(k): str(v) for k, v in params.items()}
        self.projected = self.params.get("projection.enabled", "").strip().lower() == "true"
        self.keys = []
        for pk in spec.get("partition_keys") or []:
            if isinstance(pk, str):
                pk = [pk, "string"]
            elif isinstance(pk, dict):
                pk = [pk.get("Name") or pk.get("name"), pk.get("Type") or pk.get("type")]
            if not isinstance(pk, (list, tuple)) or not pk or not isinstance(pk[0], str):
                raise InputError(f"table {name}: bad partition key {pk!r}")
            self.keys.append(Key(pk[0].lower(), pk[1] if len(pk) > 1 else "string"))
        if self.projected:
            self._read_projection()

    def _read_projection(self):
        p = self.params
        template = p.get("storage.location.template")
        for k in self.keys:
            pre = f"projection.{k.name}."
            # Glue keeps parameter names as given; Athena's are lower case.
            def get(suffix, pre=pre):
                return next((v for kk, v in p.items() if kk.lower() == pre + suffix), None)
            t = (get("type") or "").strip().lower()
            if not t:
                k.problems.append(f"no projection.{k.name}.type: Athena fails every query on the table "
                                  "(partition columns missing projection configuration)")
                continue
            if t not in PROJECTION_TYPES:
                k.problems.append(f"unknown projection type {t!r}")
                continue
            k.type = t
            if template is not None and "${" + k.name + "}" not in template:
                k.problems.append("storage.location.template does not contain ${%s}" % k.name)
            if t == "enum":
                v = get("values")
                if v is None:
                    k.problems.append(f"enum without projection.{k.name}.values")
                else:
                    k.values = v.split(",")
            elif t == "date":
                k.format, r = get("format"), get("range")
                if k.format is None:
                    k.problems.append(f"date without projection.{k.name}.format")
                else:
                    try:
                        k.regex = java_regex(k.format)
                    except ValueError as e:
                        k.notes.append(f"format {k.format!r} not checked: {e}")
                if r is None:
                    k.problems.append(f"date without projection.{k.name}.range")
                elif r.count(",") == 1:
                    k.range = tuple(x.strip() for x in r.split(","))
            elif t == "integer":
                r, d = get("range"), get("digits")
                if r is None:
                    k.problems.append(f"integer without projection.{k.name}.range")
                else:
                    try:
                        lo, hi = (int(x.strip()) for x in r.split(","))
                        k.range = (lo, hi)
                    except ValueError:
                        k.problems.append(f"integer range {r!r} is not two integers")
                if d is not None and d.strip().isdigit():
                    k.digits = int(d.strip())


def tables_from(obj):
    if not isinstance(obj, dict):
        raise InputError("tables must be an object {name: {partition_keys, parameters}}")
    out = {}
    for name, spec in obj.items():
        out[str(name).split(".")[-1].strip('"').lower()] = Table(str(name), spec)
    return out


# ---------------------------------------------------------------------------
# SQL helpers


def unparen(e):
    while isinstance(e, exp.Paren):
        e = e.this
    return e


def conjuncts(e):
    e = unparen(e)
    if isinstance(e, exp.And):
        return conjuncts(e.left) + conjuncts(e.right)
    return [e]


def disjuncts(e):
    e = unparen(e)
    if isinstance(e, exp.Or):
        return disjuncts(e.left) + disjuncts(e.right)
    return [e]


def is_query(e):
    return isinstance(e, (exp.Select, exp.SetOperation, exp.Subquery))


def walk_shallow(e):
    """The nodes of e, not descending into subqueries."""
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        for c in n.iter_expressions():
            if not is_query(c):
                stack.append(c)


def is_constant(e):
    for n in e.walk():
        if isinstance(n, (exp.Column, exp.Star)) or is_query(n):
            return False
    return True


def const_string(e):
    """The value of a constant string expression, or None."""
    e = unparen(e)
    if isinstance(e, exp.Literal):
        return e.this if e.is_string else None
    if isinstance(e, exp.DPipe):
        a, b = const_string(e.left), const_string(e.right)
        return None if a is None or b is None else a + b
    if isinstance(e, exp.Concat):
        parts = [const_string(x) for x in e.expressions]
        return None if any(p is None for p in parts) else "".join(parts)
    if isinstance(e, (exp.Cast, exp.TryCast)) and e.to.this in (
            exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.TEXT):
        return const_string(e.this)
    return None


def number_literal(e):
    e = unparen(e)
    if isinstance(e, exp.Neg):
        v = number_literal(e.this)
        return None if v is None else "-" + v
    if isinstance(e, exp.Literal) and not e.is_string:
        return e.this
    return None


def temporal_cast(e):
    e = unparen(e)
    return isinstance(e, (exp.Cast, exp.TryCast)) and e.to.is_type(*exp.DataType.TEMPORAL_TYPES)


def sql_text(e, limit=100):
    try:
        s = e.sql(dialect="athena")
    except Exception:  # pragma: no cover - printing only
        s = str(e)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[:limit - 3] + "..."


class Ref:
    """One reference to a projected table in a SELECT's FROM/JOIN."""

    def __init__(self, table, node, select):
        self.table = table
        self.node = node
        self.select = select
        alias = node.alias
        self.names = {(alias or node.name).lower()}

    def is_key(self, col, key):
        if not isinstance(col, exp.Column) or col.name.lower() != key:
            return False
        q = col.table
        return not q or q.lower() in self.names


def cte_names_visible(node):
    """Unqualified names that resolve to a CTE at `node`."""
    names = set()
    child, p = node, node.parent
    while p is not None:
        if isinstance(p, exp.CTE) and child is p.this and isinstance(p.parent, exp.With):
            w = p.parent
            idx = w.expressions.index(p)
            upto = w.expressions if w.args.get("recursive") else w.expressions[:idx]
            names |= {c.alias_or_name.lower() for c in upto}
        elif not isinstance(p, exp.With):
            w = p.args.get("with_") or p.args.get("with")
            if isinstance(w, exp.With) and child is not w:
                names |= {c.alias_or_name.lower() for c in w.expressions}
        child, p = p, p.parent
    return names


def scope_label(select):
    """Where a SELECT sits, for the messages: 'the main query', 'CTE x', 'a subquery of CTE x', ..."""
    parts = []
    child, p = select, select.parent
    while p is not None:
        if isinstance(p, exp.SetOperation) and child in (p.this, p.expression):
            op = {exp.Union: "UNION", exp.Except: "EXCEPT", exp.Intersect: "INTERSECT"}.get(type(p), "set")
            parts.append(f"the {'first' if child is p.this else 'second'} {op} branch")
        elif isinstance(p, exp.Subquery) or (isinstance(p, exp.In) and child is p.args.get("query")):
            parts.append("a subquery")
        elif isinstance(p, exp.CTE):
            parts.append(f"CTE {p.alias_or_name}")
            break
        child, p = p, p.parent
    else:
        parts.append("the main query")
    return " of ".join(parts)


def enclosing_select(table):
    """The SELECT whose FROM/JOIN holds `table` directly, or None."""
    child, p = table, table.parent
    through_source = False
    while p is not None:
        if isinstance(p, (exp.From, exp.Join)):
            through_source = True
        elif isinstance(p, exp.Select):
            return p if through_source else None
        elif isinstance(p, exp.Subquery) and isinstance(p.this, exp.Table):
            pass  # FROM (a JOIN b ON ...): parenthesised joins
        elif isinstance(p, exp.Table) and child in (p.args.get("joins") or []):
            pass
        elif is_query(p) or isinstance(p, (exp.CTE, exp.With)):
            return None
        child, p = p, p.parent
    return None


def select_joins(select):
    """Every JOIN of a SELECT, parenthesised ones included, in order."""
    out = []

    def from_source(src):
        src = unparen(src)
        if isinstance(src, exp.Subquery) and isinstance(src.this, exp.Table):
            from_source(src.this)
        if isinstance(src, exp.Table):
            for j in src.args.get("joins") or []:
                out.append(j)
                from_source(j.this)

    f = select.args.get("from_") or select.args.get("from")
    if f is not None:
        from_source(f.this)
    for j in select.args.get("joins") or []:
        out.append(j)
        from_source(j.this)
    return out


def ref_predicates(ref):
    preds = []
    w = ref.select.args.get("where")
    if w is not None:
        preds += conjuncts(w.this)
    for j in select_joins(ref.select):
        on = j.args.get("on")
        if on is None:
            continue
        side = (j.side or "").upper()
        kind = (j.kind or "").upper()
        if j.this is ref.node or (isinstance(j.this, exp.Subquery) and j.this.this is ref.node):
            counts = side not in ("RIGHT", "FULL")
        else:
            counts = not side and kind in ("", "INNER")
        if counts:
            preds += conjuncts(on)
    return preds


def static_eq_values(ref, c, key):
    """The values of a static equality on key, or None."""
    c = unparen(c)
    if isinstance(c, exp.EQ):
        for a, b in ((c.left, c.right), (c.right, c.left)):
            if ref.is_key(unparen(a), key) and is_constant(b):
                return [b]
        return None
    if isinstance(c, exp.In):
        if (ref.is_key(unparen(c.this), key) and not c.args.get("query") and not c.args.get("unnest")
                and not c.args.get("field") and c.expressions and all(is_constant(v) for v in c.expressions)):
            return list(c.expressions)
        return None
    if isinstance(c, exp.Or):
        vals = []
        for b in disjuncts(c):
            v = static_eq_values(ref, b, key)
            if v is None:
                return None
            vals += v
        return vals
    return None


def mentions(ref, c, key):
    return any(ref.is_key(n, key) for n in walk_shallow(c))


COMPARE = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)


def comparisons(ref, preds, key):
    """(operator, value expression) for every comparison of key in preds."""
    out = []
    for c in preds:
        for n in walk_shallow(c):
            if isinstance(n, COMPARE):
                if ref.is_key(unparen(n.left), key):
                    out.append((type(n).__name__, n.right))
                elif ref.is_key(unparen(n.right), key):
                    out.append((type(n).__name__, n.left))
            elif isinstance(n, exp.Between) and ref.is_key(unparen(n.this), key):
                out += [("BETWEEN", n.args["low"]), ("BETWEEN", n.args["high"])]
            elif isinstance(n, exp.In) and ref.is_key(unparen(n.this), key) and not n.args.get("query"):
                out += [("IN", v) for v in n.expressions]
    return out


# ---------------------------------------------------------------------------
# Checking


class Report:
    def __init__(self):
        self.failures = []
        self.warnings = []
        self.queries = 0
        self.references = 0

    def add(self, kind, query, table, key, reason):
        (self.failures if kind == "fail" else self.warnings).append(
            {"query": query, "table": table, "key": key, "reason": reason})


def check_value(report, qname, ref, key, op, value, now):
    """Format, type and range checks of one compared value."""
    t = ref.table.name
    where = f" ({scope_label(ref.select)})"
    fail = lambda r: report.add("fail", qname, t, key.name, r + where)  # noqa: E731
    warn = lambda r: report.add("warn", qname, t, key.name, r + where)  # noqa: E731
    equality = op in ("EQ", "IN")
    s = const_string(value)
    num = number_literal(value)
    if num is not None and key.declared in STRING_TYPES:
        fail(f"compared with the number {num}: the key is a string column (Trino cannot compare "
             f"varchar with a number); write '{num}'")
        return
    if temporal_cast(value) and key.declared in STRING_TYPES:
        fail(f"compared with {sql_text(value)}: the key is a string column holding formatted text, "
             f"compare it with a string in the projection format")
        return
    if key.type == "date" and key.regex is not None:
        fmt_desc = f"the projection format {key.format!r}"
        if s is not None:
            m = key.regex.match(s)
            if not m:
                fail(f"'{s}' is not in {fmt_desc}: compared as text with the projected values, "
                     "it selects the wrong partitions")
                return
            if equality and key.range:
                lo, hi = (range_bound(b, key.regex, now) for b in key.range)
                v = date_tuple(m)
                if v is not None and ((lo and v < lo) or (hi and v > hi)):
                    warn(f"'{s}' is outside the projection range {','.join(key.range)}: "
                         "no partition is projected for it (zero rows)")
            return
        inner = unparen(value)
        rendered, pattern = None, None
        if isinstance(inner, exp.TimeToStr) and isinstance(inner.args.get("format"), exp.Literal):
            pattern = inner.args["format"].this
            rendered = strftime_render(pattern)
        elif (isinstance(inner, exp.Anonymous) and str(inner.this).lower() == "format_datetime"
              and len(inner.expressions) == 2 and const_string(inner.expressions[1]) is not None):
            pattern = const_string(inner.expressions[1])
            try:
                rendered = java_render(pattern)
            except ValueError:
                rendered = None
        if rendered is not None and not key.regex.match(rendered):
            fail(f"{sql_text(value)} gives values like '{rendered}', not in {fmt_desc}")
        return
    if key.type == "integer":
        if s is not None:
            if not re.fullmatch(r"-?\d+", s):
                fail(f"'{s}' is not an integer")
                return
            if key.digits and len(s.lstrip("-")) < key.digits:
                fail(f"'{s}' is not zero-padded to {key.digits} digits (projection.{key.name}.digits): "
                     f"the projected values are like '{s.lstrip('-').zfill(key.digits)}'")
                return
            n = int(s)
        elif num is not None:
            if not re.fullmatch(r"-?\d+", num):
                fail(f"{num} is not an integer")
                return
            n = int(num)
        else:
            return
        if equality and key.range and not key.range[0] <= n <= key.range[1]:
            warn(f"{n} is outside the projection range {key.range[0]},{key.range[1]} (zero rows)")
        return
    if key.type == "enum" and key.values is not None and equality and s is not None:
        if s not in key.values:
            warn(f"'{s}' is not one of the enum values {','.join(key.values)}: no partition is read for it")


def check_ref(report, qname, ref, now):
    t = ref.table.name
    where = f" ({scope_label(ref.select)})"
    preds = ref_predicates(ref)
    for key in ref.table.keys:
        for p in key.problems:
            report.add("fail", qname, t, key.name, p)
        for p in key.notes:
            report.add("warn", qname, t, key.name, p)
        if key.type is None:
            continue
        if key.type == "injected":
            eqs, others = [], []
            for c in preds:
                v = static_eq_values(ref, c, key.name)
                if v is not None:
                    eqs.append(v)
                elif mentions(ref, c, key.name):
                    others.append(c)
            if not eqs:
                report.add("fail", qname, t, key.name,
                           "injected key without a static equality predicate "
                           f"({key.name} = '...' or {key.name} IN (...)) among the AND conditions of "
                           "its SELECT's WHERE/ON: Athena fails with CONSTRAINT_VIOLATION" + where)
            for c in others:
                report.add("fail", qname, t, key.name,
                           f"injected key in a condition that is not a static equality: {sql_text(c)} "
                           "(Athena allows only static equality conditions on it)" + where)
        for op, value in comparisons(ref, preds, key.name):
            check_value(report, qname, ref, key, op, value, now)


def check(tables, queries, now=None):
    """Check queries [(name, sql)] against tables {lower name: Table}. Raises InputError."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    report = Report()
    if not queries:
        report.add("fail", "-", "-", "-", "no queries to check")
        return report
    for qname, sql in queries:
        report.queries += 1
        if not isinstance(sql, str):
            raise InputError(f"query {qname}: sql is not a string")
        try:
            statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
        except Exception as e:  # ParseError, TokenError, ...
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise InputError(f"query {qname} does not parse: {msg}")
        if not statements:
            raise InputError(f"query {qname} has no statement")
        for stmt in statements:
            if isinstance(stmt, exp.Command):
                raise InputError(f"query {qname} does not parse: sqlglot read "
                                 f"{sql_text(stmt, 40)!r} only as an opaque command, which cannot be checked")
        for stmt in statements:
            for node in stmt.find_all(exp.Table):
                name = node.name.lower()
                table = tables.get(name)
                if table is None or not table.projected:
                    continue
                qualified = node.args.get("db") or node.args.get("catalog")
                if not qualified and name in cte_names_visible(node):
                    continue  # a CTE of that name
                select = enclosing_select(node)
                if select is None:
                    continue  # a DML target, DESCRIBE ...: not a read through projection
                report.references += 1
                check_ref(report, qname, Ref(table, node, select), now)
    return report


# ---------------------------------------------------------------------------
# Input


def read_json(path):
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise InputError(f"cannot read {path}: {e}")


def queries_from(obj):
    if not isinstance(obj, list):
        raise InputError("queries must be a list of {name, sql}")
    out = []
    for i, q in enumerate(obj):
        if not isinstance(q, dict):
            raise InputError(f"query #{i}: not an object")
        name = q.get("name") or q.get("Name") or f"#{i}"
        sql = q.get("sql", q.get("QueryString"))
        if sql is None:
            raise InputError(f"query {name}: no sql")
        out.append((str(name), sql))
    return out


def named_queries_from(obj):
    if obj is None:
        return []
    if isinstance(obj, list):
        return queries_from(obj)
    if not isinstance(obj, dict):
        raise InputError("named_queries must be an object {name: {sql}} or a list")
    out = []
    for name, q in obj.items():
        if isinstance(q, str):
            out.append((str(name), q))
            continue
        if not isinstance(q, dict) or (q.get("sql") is None and q.get("QueryString") is None):
            raise InputError(f"named query {name}: no sql / QueryString")
        out.append((str(name), q.get("sql", q.get("QueryString"))))
    return out


def load(path, state):
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise InputError("the input must be a JSON object")
    tables = tables_from(obj.get("tables") or {})
    if state:
        queries = named_queries_from(obj.get("named_queries"))
    else:
        if "queries" not in obj:
            raise InputError("the input has no queries list")
        queries = queries_from(obj["queries"])
    return tables, queries


# ---------------------------------------------------------------------------
# Self-test

def _params(**keys):
    """Glue parameters: keys maps a key name to 'injected', ('enum', values),
    ('date', format) or ('integer', range, digits)."""
    p = {"projection.enabled": "true"}
    parts = []
    for k, spec in keys.items():
        parts.append("${%s}" % k)
        if spec == "injected":
            p[f"projection.{k}.type"] = "injected"
        elif spec[0] == "enum":
            p[f"projection.{k}.type"] = "enum"
            p[f"projection.{k}.values"] = spec[1]
        elif spec[0] == "date":
            p.update({f"projection.{k}.type": "date", f"projection.{k}.format": spec[1],
                      f"projection.{k}.range": spec[2] if len(spec) > 2 else "2024/01/01,NOW",
                      f"projection.{k}.interval": "1", f"projection.{k}.interval.unit": "DAYS"})
        elif spec[0] == "integer":
            p.update({f"projection.{k}.type": "integer", f"projection.{k}.range": spec[1]})
            if len(spec) > 2:
                p[f"projection.{k}.digits"] = spec[2]
    p["storage.location.template"] = "s3://b/AWSLogs/" + "/".join(parts)
    return {"partition_keys": [[k, "string"] for k in keys], "parameters": p}


SELF_TEST_TABLES = {
    # injected account, enum region, date yyyy/MM/dd
    "cloudtrail": _params(account_partition="injected", region_partition=("enum", "us-east-1,eu-west-1"),
                          date_partition=("date", "yyyy/MM/dd")),
    "vpcflow": _params(account_partition=("enum", "111122223333"), region_partition=("enum", "us-east-1"),
                       date_partition=("date", "'year='yyyy'/month='MM'/day='dd",
                                       "year=2024/month=01/day=01,NOW"),
                       hour_partition=("integer", "0,23", "2")),
    "dns": _params(account_partition=("enum", "111122223333"), vpc_partition=("enum", "vpc-1,vpc-2"),
                   date_partition=("date", "yyyy/MM/dd")),
    "plain": {"partition_keys": [], "parameters": {"classification": "json"}},
}

CT = "SELECT eventid FROM cloudtrail"
F_ACCOUNT, F_DATE, F_HOUR = "fail:account_partition", "fail:date_partition", "fail:hour_partition"
SELF_TEST_CASES = [
    # (name, sql, "pass" or "fail:<key that must fail>", expected number of warnings or None)
    ("injected key, no predicate", f"{CT} WHERE eventname = 'x'", F_ACCOUNT, None),
    ("injected key, =", f"{CT} WHERE account_partition = '111122223333'", "pass", 0),
    ("injected key, IN", f"{CT} WHERE account_partition IN ('1', '2') AND eventname = 'x'", "pass", 0),
    ("injected key, = only inside an OR",
     f"{CT} WHERE account_partition = '1' OR eventname = 'x'", F_ACCOUNT, None),
    ("injected key, OR of equalities on the key",
     f"{CT} WHERE (account_partition = '1' OR account_partition = '2')", "pass", 0),
    ("injected key, = and a non-equality on the key",
     f"{CT} WHERE account_partition = '1' AND contains(split('1,2', ','), account_partition)", F_ACCOUNT, None),
    ("injected key, IN (subquery)",
     f"{CT} WHERE account_partition IN (SELECT account_partition FROM dns WHERE vpc_partition = 'vpc-1')",
     F_ACCOUNT, None),
    ("injected key, number literal", f"{CT} WHERE account_partition = 111122223333", F_ACCOUNT, None),
    ("CTE reads the table without the predicate, outer query has it",
     "WITH e AS (SELECT * FROM cloudtrail) SELECT * FROM e WHERE account_partition = '1'", F_ACCOUNT, None),
    ("CTE named like the table shadows it (with_window)",
     "WITH cloudtrail AS (SELECT * FROM \"db\".\"cloudtrail\" WHERE account_partition = '1' "
     "AND date_partition >= '2024/05/01') SELECT eventid FROM cloudtrail WHERE eventname = 'x'", "pass", 0),
    ("aliased reference", f"{CT} t WHERE t.account_partition = '1' AND t.eventname = 'x'", "pass", 0),
    ("aliased reference, predicate on another alias",
     f"{CT} t JOIN dns d ON t.eventid = d.query_name WHERE d.account_partition = '1'", F_ACCOUNT, None),
    ("join ON predicate for the joined table",
     "SELECT d.query_name FROM dns d JOIN cloudtrail t ON t.account_partition = '1' AND t.eventid = d.x",
     "pass", 0),
    ("LEFT JOIN ON does not filter the left table",
     "SELECT 1 FROM cloudtrail t LEFT JOIN dns d ON t.account_partition = '1' AND t.eventid = d.x",
     F_ACCOUNT, None),
    ("UNION branch without the predicate",
     f"{CT} WHERE account_partition = '1' UNION ALL {CT} WHERE eventname = 'x'", F_ACCOUNT, None),
    ("date key, '2024-03-01' vs yyyy/MM/dd",
     f"{CT} WHERE account_partition = '1' AND date_partition >= '2024-03-01'", F_DATE, None),
    ("date key, '2024/03/01' vs yyyy/MM/dd",
     f"{CT} WHERE account_partition = '1' AND date_partition BETWEEN '2024/03/01' AND '2024/03/31'", "pass", 0),
    ("date key, date_format with the wrong pattern",
     f"{CT} WHERE account_partition = '1' AND "
     "date_partition >= date_format(date_add('day', -30, current_timestamp), '%Y-%m-%d')", F_DATE, None),
    ("date key, date_format with the right pattern",
     f"{CT} WHERE account_partition = '1' AND "
     "date_partition >= date_format(date_add('day', -30, current_timestamp), '%Y/%m/%d')", "pass", 0),
    ("date key, DATE literal", f"{CT} WHERE account_partition = '1' AND date_partition = DATE '2024-03-01'",
     F_DATE, None),
    ("Hive date format vs '2024/03/01'",
     "SELECT srcaddr FROM vpcflow WHERE date_partition = '2024/03/01'", F_DATE, None),
    ("Hive date format vs 'year=2024/month=03/day=01'",
     "SELECT srcaddr FROM vpcflow WHERE date_partition = 'year=2024/month=03/day=01'", "pass", 0),
    ("date equality before the range start (warning)",
     "SELECT srcaddr FROM vpcflow WHERE date_partition = 'year=2023/month=03/day=01'", "pass", 1),
    ("integer key not zero-padded", "SELECT srcaddr FROM vpcflow WHERE hour_partition = '5'", F_HOUR, None),
    ("integer key zero-padded", "SELECT srcaddr FROM vpcflow WHERE hour_partition IN ('05', '23')", "pass", 0),
    ("enum key, no predicate", "SELECT query_name FROM dns", "pass", 0),
    ("enum key, value not in the enum (warning)", "SELECT query_name FROM dns WHERE vpc_partition = 'vpc-9'",
     "pass", 1),
    ("a query reading no projected table", "SELECT x FROM plain JOIN other ON plain.a = other.a", "pass", 0),
]


def self_test():
    tables = tables_from(SELF_TEST_TABLES)
    now = datetime.datetime(2025, 1, 1)
    wrong = 0
    cases = [(n, [(n, s)], v, w) for n, s, v, w in SELF_TEST_CASES]
    cases.append(("an empty query list", [], "fail:-", None))
    for name, queries, expected, expected_warnings in cases:
        r = check(tables, queries, now)
        got = "fail" if r.failures else "pass"
        verdict, _, fail_key = expected.partition(":")
        ok = (got == verdict and (not fail_key or any(f["key"] == fail_key for f in r.failures))
              and (expected_warnings is None or len(r.warnings) == expected_warnings))
        wrong += not ok
        detail = "; ".join(f"{f['key']}: {f['reason']}" for f in r.failures + r.warnings)
        print(f"{'ok   ' if ok else 'WRONG'} {got:4} (expected {expected}"
              f"{'' if expected_warnings is None else f', {expected_warnings} warnings'}"
              f", got {len(r.warnings)} warnings) {name}" + (f"\n        {detail}" if detail else ""))
    print(f"{len(cases)} cases, {wrong} wrong")
    return 1 if wrong else 0


# ---------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check Athena queries against the partition projection "
                                             "of the tables they read (see the module docstring).")
    ap.add_argument("input", nargs="?", help="JSON input file, or - for stdin")
    ap.add_argument("--state", metavar="FILE", help="the JSON printed by tests/emulator/analytics.py state")
    ap.add_argument("--json", action="store_true", help="print a machine-readable result on stdout")
    ap.add_argument("--self-test", action="store_true", help="run the built-in cases")
    args = ap.parse_args(argv)
    if args.self_test:
        return self_test()
    if (args.input is None) == (args.state is None):
        ap.print_usage(sys.stderr)
        print("error: give exactly one of INPUT and --state FILE", file=sys.stderr)
        return 2
    try:
        tables, queries = load(args.state or args.input, bool(args.state))
        report = check(tables, queries)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for f in report.failures:
        print(f"{f['query']}: table {f['table']} key {f['key']}: {f['reason']}", file=sys.stderr)
    for w in report.warnings:
        print(f"{w['query']}: table {w['table']} key {w['key']}: warning: {w['reason']}", file=sys.stderr)
    summary = f"{report.queries} queries, {report.references} table references checked, " \
              f"{len(report.warnings)} warnings"
    if args.json:
        print(json.dumps({"ok": not report.failures, "queries": report.queries,
                          "references": report.references, "warnings": report.warnings,
                          "failures": report.failures}, indent=2, sort_keys=True))
    else:
        print(summary)
    if report.failures:
        print(f"{len(report.failures)} failures", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
