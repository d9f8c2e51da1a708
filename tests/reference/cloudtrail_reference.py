#!/usr/bin/env python3
"""Engine-independent reference results for irprep's CloudTrail queries.

This program computes, in plain Python (standard library only), what the
Athena engine v3 (Trino) queries of content/queries/cloudtrail/*.yaml and the
five benchmark queries should return on a set of CloudTrail files. It does not
parse SQL: every query is re-implemented by hand from its meaning, so that the
Rust engine can be checked against an independent implementation.

Usage
-----
  cloudtrail_reference.py [--param NAME=VALUE]... [--query NAME]... PATH...
      Runs every query of content/queries/cloudtrail (or only the --query
      ones) with the YAML defaults, overridden by --param (a parameter given
      once applies to every query that has it).
  cloudtrail_reference.py --bench-queries --d2 yyyy/MM/dd --d3 yyyy/MM/dd PATH...
      Runs the benchmark queries Q1..Q5 (Q5 reads date_partition BETWEEN d2
      AND d3). Events are streamed, so large trees can be read.
  cloudtrail_reference.py --check-yaml content/queries/cloudtrail
      Checks that the query names and parameter defaults below match the
      YAML files (exit status 1 if not).

PATH is a file or a directory. Directories are walked recursively in sorted
order and their *.json, *.jsonl, *.ndjson files (each optionally .gz) are
read; a file named on the command line is read whatever its name. Gzip is
detected by its magic bytes. A file is either one JSON document ({"Records":
[...]} as delivered to S3, a JSON array of events, or a single event object)
or NDJSON (one event, or one {"Records": [...]}, per line). A JSON object is
an event only if it has eventName, eventID, eventTime or @timestamp (so a
CloudTrail digest file contributes nothing).

Table mapping (see content/README.md)
-------------------------------------
* Columns are the event's top-level keys, lower-cased (Athena matches them
  case-insensitively). Keys inside the struct columns (useridentity,
  tlsdetails, addendum, resources) are lower-cased too; keys inside JSON-text
  columns keep their case, because json_extract_scalar paths are
  case-sensitive.
* eventtime is eventTime as written. When eventTime is absent (Logstash-made
  NDJSON such as the OTRF dataset) it is @timestamp normalised to UTC
  YYYY-MM-DDTHH:MM:SSZ (fractional seconds dropped).
* The files are not in the S3 layout, so the partitions come from the event:
  account_partition = recipientAccountId, region_partition = awsRegion,
  date_partition = yyyy/MM/dd of eventtime.
* A JSON null or a missing key is SQL NULL. For string columns (and string
  struct leaves) a JSON string is taken as is, true/false become 'true' /
  'false', a number keeps its source text, and an object or array becomes its
  JSON text (see "JSON text" below).

Output
------
One JSON object: {"<query name>": {"columns": [...], "rows": [[...], ...]}},
queries in name order (Q1..Q5 for --bench-queries). Rows are in the query's
ORDER BY order; every query orders its rows completely, so rows can be
compared one by one. Each cell is rendered as follows; the Rust test must
render engine output the same way:
* SQL NULL -> JSON null.
* varchar -> the string itself (eventtime, ids, names, min()/max() of
  eventtime, json_extract_scalar results, ...).
* count(*) / count(DISTINCT ...) -> decimal string, e.g. "42".
* array (array_agg) -> a string holding the compact JSON text of the list,
  elements sorted by code point (= UTF-8 byte order) with nulls last, e.g.
  '["10.0.0.1","192.0.2.7",null]' (strings escaped as for JSON text below).
  The SQL sorts the same way (array_agg(DISTINCT x ORDER BY x)), but the test
  should parse the engine's list, sort it and re-serialise it with serde_json
  anyway. Trino's array_agg keeps NULL, so NULL inputs give one null element.
* JSON text: a column that holds JSON text (requestparameters,
  responseelements, additionaleventdata, serviceeventdetails,
  edgedevicedetails) is rendered in canonical form: the value re-serialised
  with object keys sorted by code point, no whitespace, non-ASCII characters
  unescaped, '"' '\\' and control characters escaped as \\" \\\\ \\b \\f \\n \\r
  \\t or \\u00xx (lower-case hex), numbers in their source text. serde_json's
  compact writer over a sorted map (the default, without preserve_order)
  produces this form, except for numbers such as 1.0 or 1e5 that
  serde_json rewrites; CloudTrail has practically none. The Rust test should
  parse the engine's string for those columns and re-serialise it. Of the
  queries here only cloudtrail-iam-change-summary outputs such a column.
* Booleans do not occur in the outputs ('true'/'false' strings stand for them,
  e.g. readonly).

SQL semantics reproduced
------------------------
NULL compared with anything (=, <>, IN, LIKE, NOT LIKE, BETWEEN, contains) is
not true, so the row is dropped; GROUP BY puts NULLs in one group of their
own; count(DISTINCT x) ignores NULL; min()/max() ignore NULL; ORDER BY puts
NULLs last for ASC and DESC alike (Trino's default); strings compare by code
point; LIKE 'Get%' is a case-sensitive prefix test; json_extract_scalar
returns a string, number (source text) or boolean ('true'/'false') and NULL
for objects, arrays, JSON null, a missing path or invalid JSON.
current_timestamp is taken in UTC.
"""

import argparse
import datetime
import functools
import gzip
import ipaddress
import json
import os
import re
import sys

# ---------------------------------------------------------------------------
# Reading CloudTrail files


class RawNumber(str):
    """A JSON number, kept as its source text."""


def parse_json(text):
    return json.loads(text, parse_int=RawNumber, parse_float=RawNumber)


READ_SUFFIXES = (".json", ".jsonl", ".ndjson")
STRUCT_COLUMNS = ("useridentity", "tlsdetails", "addendum", "resources")
JSON_TEXT_COLUMNS = (
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "edgedevicedetails",
)
EVENT_MARKERS = ("eventName", "eventID", "eventTime", "@timestamp")


def iter_files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for name in sorted(files):
                    base = name[:-3] if name.endswith(".gz") else name
                    if base.endswith(READ_SUFFIXES):
                        yield os.path.join(root, name)
        else:
            yield path


def _objects_of(document):
    """Events found in one parsed JSON document."""
    if isinstance(document, list):
        for item in document:
            yield from _objects_of(item)
    elif isinstance(document, dict):
        records = document.get("Records")
        if isinstance(records, list):
            for item in records:
                if isinstance(item, dict):
                    yield item
        elif any(key in document for key in EVENT_MARKERS):
            yield document


def iter_raw_events(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8-sig")
    try:
        document = parse_json(text)
    except json.JSONDecodeError:
        document = None
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    yield from _objects_of(parse_json(line))
                except json.JSONDecodeError as err:
                    raise SystemExit("%s:%d: invalid JSON: %s" % (path, number, err))
    if document is not None:
        yield from _objects_of(document)


def _lower_keys(value):
    if isinstance(value, dict):
        return {key.lower(): _lower_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_lower_keys(item) for item in value]
    return value


def normalise_timestamp(text):
    """@timestamp (ISO 8601, any offset, optional fraction) -> YYYY-MM-DDTHH:MM:SSZ."""
    if not isinstance(text, str):
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def sql_string(value):
    """A JSON value as Athena shows it in a string column."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)
    return canonical_json(value)


def make_row(raw):
    """One CloudTrail event -> dict of lower-case column name -> value."""
    row = {}
    for key, value in raw.items():
        low = key.lower()
        if low in STRUCT_COLUMNS:
            row[low] = _lower_keys(value)
        elif low in JSON_TEXT_COLUMNS:
            row[low] = value  # parsed JSON; rendered canonically, read with json_extract_scalar
        elif low == "@timestamp":
            row["@timestamp"] = value
        else:
            row[low] = sql_string(value)
    eventtime = row.get("eventtime")
    if eventtime is None:
        eventtime = normalise_timestamp(raw.get("@timestamp"))
        row["eventtime"] = eventtime
    row["account_partition"] = row.get("recipientaccountid")
    row["region_partition"] = row.get("awsregion")
    if eventtime is not None and len(eventtime) >= 10:
        row["date_partition"] = eventtime[0:10].replace("-", "/")
    else:
        row["date_partition"] = None
    return row


def iter_rows(paths):
    for path in iter_files(paths):
        for raw in iter_raw_events(path):
            yield make_row(raw)


# ---------------------------------------------------------------------------
# Column access and SQL functions


def col(row, dotted):
    """Column or struct field (useridentity.arn) as an SQL string or NULL."""
    parts = dotted.split(".")
    value = row.get(parts[0])
    for part in parts[1:]:
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return sql_string(value)


def _escape_json_string(text):
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\b":
            out.append("\\b")
        elif char == "\f":
            out.append("\\f")
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20:
            out.append("\\u%04x" % code)
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def canonical_json(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, RawNumber):
        return str(value)
    if isinstance(value, str):
        return _escape_json_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(
            _escape_json_string(key) + ":" + canonical_json(value[key]) for key in sorted(value)
        ) + "}"
    raise TypeError("unexpected JSON value %r" % (value,))


def json_extract_scalar(row, column, path):
    """json_extract_scalar(<JSON-text column>, '$.a.b') for simple dotted paths."""
    document = row.get(column)
    if document is None:
        return None
    if isinstance(document, str) and not isinstance(document, RawNumber):
        try:
            document = parse_json(document)
        except json.JSONDecodeError:
            return None
    if not path.startswith("$"):
        raise ValueError("unsupported JSON path %r" % path)
    for part in [p for p in path[1:].split(".") if p]:
        if not isinstance(document, dict) or part not in document:
            return None
        document = document[part]
    if isinstance(document, bool):
        return "true" if document else "false"
    if isinstance(document, str):
        return str(document)
    return None  # object, array or JSON null


def not_like_prefixes(value, prefixes):
    """value NOT LIKE 'p1%' AND value NOT LIKE 'p2%' ... (NULL -> not true)."""
    return value is not None and not value.startswith(tuple(prefixes))


def in_list(value, csv):
    """contains(split(csv, ','), value)."""
    return value is not None and value in csv.split(",")


def in_list_or_all(value, csv):
    """('<csv>' = '' OR contains(split('<csv>', ','), value))."""
    return csv == "" or in_list(value, csv)


def in_date_range(row, start, end):
    partition = row["date_partition"]
    return partition is not None and start <= partition <= end


# IP address recognition of cloudtrail-public-source-ip-activity: the same
# regular expressions as the SQL (IPv6 ones applied to lower(sourceipaddress)).
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4_PATTERN = re.compile("^(" + _OCTET + "[.]){3}" + _OCTET + "$")
IPV6_PATTERN = re.compile(
    "^(([0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"
    "|::(([0-9a-f]{1,4}:){0,6}[0-9a-f]{1,4})?"
    "|[0-9a-f]{1,4}::(([0-9a-f]{1,4}:){0,5}[0-9a-f]{1,4})?"
    "|([0-9a-f]{1,4}:){1}[0-9a-f]{1,4}::(([0-9a-f]{1,4}:){0,4}[0-9a-f]{1,4})?"
    "|([0-9a-f]{1,4}:){2}[0-9a-f]{1,4}::(([0-9a-f]{1,4}:){0,3}[0-9a-f]{1,4})?"
    "|([0-9a-f]{1,4}:){3}[0-9a-f]{1,4}::(([0-9a-f]{1,4}:){0,2}[0-9a-f]{1,4})?"
    "|([0-9a-f]{1,4}:){4}[0-9a-f]{1,4}::(([0-9a-f]{1,4}:){0,1}[0-9a-f]{1,4})?"
    "|([0-9a-f]{1,4}:){5}[0-9a-f]{1,4}::([0-9a-f]{1,4})?"
    "|([0-9a-f]{1,4}:){6}[0-9a-f]{1,4}::"
    ")$"
)
PRIVATE_NETWORKS = [
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
]


def source_ip(text):
    """CASE WHEN <IPv4 regex> OR <IPv6 regex> THEN CAST(text AS IPADDRESS) END.

    Trino's IPADDRESS holds IPv4 as IPv4-mapped IPv6, so ::ffff:a.b.c.d written
    in hex (::ffff:a01:203) is the IPv4 address itself.
    """
    if text is None:
        return None
    # fullmatch: the whole value must be an address (no trailing newline).
    if not (IPV4_PATTERN.fullmatch(text) or IPV6_PATTERN.fullmatch(text.lower())):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SystemExit("sourceipaddress %r passes the address patterns but is not an "
                         "address; the SQL CAST would fail" % text)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address


def is_public(address):
    return not any(
        address.version == network.version and address in network for network in PRIVATE_NETWORKS
    )


# ---------------------------------------------------------------------------
# Ordering and rendering


def _cmp_values(left, right):
    if left is None and right is None:
        return 0
    if left is None:
        return 1  # NULLS LAST
    if right is None:
        return -1
    return (left > right) - (left < right)


def order_rows(rows, spec):
    """spec: list of (column index, descending). NULLs last in both directions."""

    def compare(a, b):
        for index, descending in spec:
            result = _cmp_values(a[index], b[index])
            if result:
                if descending and a[index] is not None and b[index] is not None:
                    result = -result
                return result
        return 0

    return sorted(rows, key=functools.cmp_to_key(compare))


def sorted_array(values):
    present = sorted(value for value in values if value is not None)
    return present + [None] * (len(values) - len(present))


def render_cell(value):
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (set, frozenset, list, tuple)):
        return canonical_json(sorted_array(list(value)))
    return str(value)


def result(columns, rows):
    return {"columns": list(columns), "rows": [[render_cell(v) for v in row] for row in rows]}


# ---------------------------------------------------------------------------
# The investigation queries (content/queries/cloudtrail)

PREVIEW_COLUMNS = [
    ("eventtime", "eventtime"),
    ("eventid", "eventid"),
    ("account_partition", "account_partition"),
    ("region_partition", "region_partition"),
    ("date_partition", "date_partition"),
    ("eventsource", "eventsource"),
    ("eventname", "eventname"),
    ("identity_type", "useridentity.type"),
    ("principal_arn", "useridentity.arn"),
    ("sourceipaddress", "sourceipaddress"),
    ("useragent", "useragent"),
    ("errorcode", "errorcode"),
    ("readonly", "readonly"),
]


def preview(rows, keep, limit):
    selected = [[col(r, source) for _, source in PREVIEW_COLUMNS] for r in rows if keep(r)]
    selected = order_rows(selected, [(0, False), (1, False)])  # eventtime, eventid
    return result([name for name, _ in PREVIEW_COLUMNS], selected[:limit])


def all_partition_filter(p):
    return lambda r: (
        in_date_range(r, p["start_date"], p["end_date"])
        and in_list_or_all(r["account_partition"], p["accounts"])
        and in_list_or_all(r["region_partition"], p["regions"])
    )


def date_account_filter(p):
    return lambda r: (
        in_date_range(r, p["start_date"], p["end_date"])
        and in_list_or_all(r["account_partition"], p["accounts"])
    )


def q_preview_all_partitions(rows, p):
    return preview(rows, all_partition_filter(p), int(p["limit"]))


def q_preview_date_range(rows, p):
    return preview(rows, lambda r: in_date_range(r, p["start_date"], p["end_date"]), int(p["limit"]))


def q_preview_relative_date(rows, p):
    now = datetime.datetime.now(datetime.timezone.utc)
    cutoff = (now - datetime.timedelta(days=int(p["days"]))).strftime("%Y/%m/%d")
    keep = lambda r: r["date_partition"] is not None and r["date_partition"] >= cutoff
    return preview(rows, keep, int(p["limit"]))


def q_preview_account(rows, p):
    return preview(rows, lambda r: r["account_partition"] == p["account"] and r["account_partition"] is not None, int(p["limit"]))


def q_preview_accounts(rows, p):
    return preview(rows, lambda r: in_list(r["account_partition"], p["accounts"]), int(p["limit"]))


def q_preview_region(rows, p):
    return preview(rows, lambda r: r["region_partition"] == p["region"] and r["region_partition"] is not None, int(p["limit"]))


def q_preview_regions(rows, p):
    return preview(rows, lambda r: in_list(r["region_partition"], p["regions"]), int(p["limit"]))


def count_by(rows, keep, key):
    counts = {}
    for r in rows:
        if keep(r):
            k = key(r)
            counts[k] = counts.get(k, 0) + 1
    return counts


def q_event_count_by_region(rows, p):
    counts = count_by(rows, all_partition_filter(p), lambda r: r["region_partition"])
    out = order_rows([[k, n] for k, n in counts.items()], [(1, True), (0, False)])
    return result(["region_partition", "eventcount"], out)


def q_event_count_by_region_and_eventname(rows, p):
    counts = count_by(rows, all_partition_filter(p), lambda r: (r["region_partition"], col(r, "eventname")))
    out = order_rows([[k[0], k[1], n] for k, n in counts.items()], [(0, False), (2, True), (1, False)])
    return result(["region_partition", "eventname", "eventcount"], out)


def _min(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def q_user_login_summary(rows, p):
    base = all_partition_filter(p)
    groups = {}
    for r in rows:
        arn = col(r, "useridentity.arn")
        name = col(r, "eventname")
        if not (base(r) and arn is not None and name in ("AssumeRole", "ConsoleLogin")):
            continue
        g = groups.setdefault((arn, name), {"n": 0, "ips": set(), "first": None, "last": None})
        g["n"] += 1
        g["ips"].add(col(r, "sourceipaddress"))
        g["first"] = _min(g["first"], col(r, "eventtime"))
        g["last"] = _max(g["last"], col(r, "eventtime"))
    out = [[k[0], k[1], g["n"], g["ips"], g["first"], g["last"]] for k, g in groups.items()]
    out = order_rows(out, [(1, False), (0, False)])  # eventname, principal_arn
    return result(["principal_arn", "eventname", "events", "sourceips", "first_seen", "last_seen"], out)


def activity_filter(p):
    base = all_partition_filter(p)
    return lambda r: (
        base(r)
        and col(r, "eventname") is not None
        and col(r, "eventname") != "AssumeRole"
        and not_like_prefixes(col(r, "eventname"), ("Get", "List", "Describe"))
    )


def activity_groups(rows, p, key):
    keep = activity_filter(p)
    groups = {}
    for r in rows:
        if not keep(r):
            continue
        g = groups.setdefault(key(r), {"n": 0, "names": set(), "ips": set(), "agents": set()})
        g["n"] += 1
        g["names"].add(col(r, "eventname"))
        g["ips"].add(col(r, "sourceipaddress"))
        g["agents"].add(col(r, "useragent"))
    return groups


def q_user_activity_summary(rows, p):
    groups = activity_groups(rows, p, lambda r: col(r, "useridentity.arn"))
    out = [[k, g["n"], g["names"], g["ips"], g["agents"]] for k, g in groups.items()]
    out = order_rows(out, [(0, False)])
    return result(["principal_arn", "events", "eventnames", "sourceips", "useragents"], out)


def q_user_activity_summary_by_principal(rows, p):
    groups = activity_groups(
        rows,
        p,
        lambda r: (col(r, "useridentity.arn"), col(r, "useridentity.principalid"), col(r, "useridentity.username")),
    )
    out = [[k[0], k[1], k[2], g["n"], g["names"], g["ips"], g["agents"]] for k, g in groups.items()]
    out = order_rows(out, [(0, False), (1, False), (2, False)])
    return result(
        ["principal_arn", "principal_id", "user_name", "events", "eventnames", "sourceips", "useragents"], out
    )


def iam_success(p, keep_name):
    base = date_account_filter(p)
    return lambda r: (
        base(r)
        and col(r, "eventsource") == "iam.amazonaws.com"
        and keep_name(col(r, "eventname"))
        and col(r, "errorcode") is None
    )


IAM_ORDER = [(2, False), (0, False), (1, False)]  # account_partition, eventtime, eventid


def q_iam_change_summary(rows, p):
    keep = iam_success(p, lambda name: not_like_prefixes(name, ("Get", "List", "Describe")))
    out = [
        [
            col(r, "eventtime"),
            col(r, "eventid"),
            r["account_partition"],
            col(r, "useridentity.arn"),
            col(r, "useridentity.username"),
            col(r, "eventname"),
            col(r, "requestparameters"),
        ]
        for r in rows
        if keep(r)
    ]
    return result(
        ["eventtime", "eventid", "account_partition", "principal_arn", "user_name", "eventname", "requestparameters"],
        order_rows(out, IAM_ORDER),
    )


def q_iam_access_key_creations(rows, p):
    keep = iam_success(p, lambda name: name == "CreateAccessKey")
    out = [
        [
            col(r, "eventtime"),
            col(r, "eventid"),
            r["account_partition"],
            col(r, "useridentity.arn"),
            col(r, "useridentity.username"),
            json_extract_scalar(r, "responseelements", "$.accessKey.userName"),
            json_extract_scalar(r, "responseelements", "$.accessKey.accessKeyId"),
            col(r, "sourceipaddress"),
        ]
        for r in rows
        if keep(r)
    ]
    return result(
        [
            "eventtime",
            "eventid",
            "account_partition",
            "principal_arn",
            "user_name",
            "key_user_name",
            "access_key_id",
            "sourceipaddress",
        ],
        order_rows(out, IAM_ORDER),
    )


def q_iam_password_changes(rows, p):
    keep = iam_success(p, lambda name: name in ("CreateLoginProfile", "UpdateLoginProfile", "ChangePassword"))
    out = []
    for r in rows:
        if not keep(r):
            continue
        target = json_extract_scalar(r, "requestparameters", "$.userName")
        if target is None:
            target = col(r, "useridentity.username")
        out.append(
            [
                col(r, "eventtime"),
                col(r, "eventid"),
                r["account_partition"],
                col(r, "useridentity.arn"),
                col(r, "useridentity.username"),
                col(r, "eventname"),
                target,
            ]
        )
    return result(
        ["eventtime", "eventid", "account_partition", "principal_arn", "user_name", "eventname", "target_user_name"],
        order_rows(out, IAM_ORDER),
    )


def q_public_source_ip_activity(rows, p):
    base = all_partition_filter(p)
    out = []
    for r in rows:
        if not base(r):
            continue
        address = source_ip(col(r, "sourceipaddress"))
        if address is None or not is_public(address):
            continue
        out.append(
            [
                col(r, "eventtime"),
                col(r, "eventid"),
                r["account_partition"],
                r["region_partition"],
                col(r, "sourceipaddress"),
                col(r, "useridentity.arn"),
                col(r, "eventsource"),
                col(r, "eventname"),
                col(r, "errorcode"),
                col(r, "useragent"),
            ]
        )
    return result(
        [
            "eventtime",
            "eventid",
            "account_partition",
            "region_partition",
            "sourceipaddress",
            "principal_arn",
            "eventsource",
            "eventname",
            "errorcode",
            "useragent",
        ],
        order_rows(out, [(0, False), (1, False)]),
    )


DATE_RANGE = {"start_date": "2023/07/01", "end_date": "2023/07/31"}
ALL_PARTITIONS = dict(DATE_RANGE, accounts="", regions="")
DATE_ACCOUNTS = dict(DATE_RANGE, accounts="")

# name -> (function, parameter defaults); must match the YAML files (--check-yaml).
QUERIES = {
    "cloudtrail-preview-all-partitions": (q_preview_all_partitions, dict(ALL_PARTITIONS, limit="10")),
    "cloudtrail-preview-date-range": (q_preview_date_range, dict(DATE_RANGE, limit="10")),
    "cloudtrail-preview-relative-date": (q_preview_relative_date, {"days": "30", "limit": "10"}),
    "cloudtrail-preview-account": (q_preview_account, {"account": "123837392027", "limit": "10"}),
    "cloudtrail-preview-accounts": (q_preview_accounts, {"accounts": "123837392027,123456789123", "limit": "10"}),
    "cloudtrail-preview-region": (q_preview_region, {"region": "us-east-1", "limit": "10"}),
    "cloudtrail-preview-regions": (q_preview_regions, {"regions": "us-east-1,us-east-2,us-west-2", "limit": "10"}),
    "cloudtrail-event-count-by-region": (q_event_count_by_region, dict(ALL_PARTITIONS)),
    "cloudtrail-event-count-by-region-and-eventname": (q_event_count_by_region_and_eventname, dict(ALL_PARTITIONS)),
    "cloudtrail-user-login-summary": (q_user_login_summary, dict(ALL_PARTITIONS)),
    "cloudtrail-user-activity-summary": (q_user_activity_summary, dict(ALL_PARTITIONS)),
    "cloudtrail-user-activity-summary-by-principal": (q_user_activity_summary_by_principal, dict(ALL_PARTITIONS)),
    "cloudtrail-iam-change-summary": (q_iam_change_summary, dict(DATE_ACCOUNTS)),
    "cloudtrail-iam-access-key-creations": (q_iam_access_key_creations, dict(DATE_ACCOUNTS)),
    "cloudtrail-iam-password-changes": (q_iam_password_changes, dict(DATE_ACCOUNTS)),
    "cloudtrail-public-source-ip-activity": (q_public_source_ip_activity, dict(ALL_PARTITIONS)),
}
INTEGER_PARAMS = ("limit", "days")


# ---------------------------------------------------------------------------
# Benchmark queries Q1..Q5 (streamed)


def run_bench(paths, d2, d3):
    q1 = {}
    q2 = {}
    q3 = []
    q4 = {}
    q5 = {}
    for r in iter_rows(paths):
        name = col(r, "eventname")
        errorcode = col(r, "errorcode")
        arn = col(r, "useridentity.arn")
        # Q1: errorcode = 'Client.DryRunOperation' GROUP BY eventname
        if errorcode == "Client.DryRunOperation":
            q1[name] = q1.get(name, 0) + 1
        # Q2: eventsource = 'iam.amazonaws.com' AND eventname NOT LIKE 'Get%'
        #     AND eventname NOT LIKE 'List%' AND errorcode IS NULL GROUP BY arn, eventname
        if (
            col(r, "eventsource") == "iam.amazonaws.com"
            and not_like_prefixes(name, ("Get", "List"))
            and errorcode is None
        ):
            q2[(arn, name)] = q2.get((arn, name), 0) + 1
        # Q3: eventname = 'CreateAccessKey' AND errorcode IS NULL
        if name == "CreateAccessKey" and errorcode is None:
            q3.append(
                [
                    col(r, "eventid"),
                    col(r, "eventtime"),
                    json_extract_scalar(r, "responseelements", "$.accessKey.userName"),
                    json_extract_scalar(r, "responseelements", "$.accessKey.accessKeyId"),
                ]
            )
        # Q4: useridentity.arn IS NOT NULL GROUP BY arn; count(DISTINCT sourceipaddress), count(*)
        if arn is not None:
            g = q4.setdefault(arn, [set(), 0])
            ip = col(r, "sourceipaddress")
            if ip is not None:
                g[0].add(ip)
            g[1] += 1
        # Q5: date_partition BETWEEN d2 AND d3 GROUP BY region_partition
        if in_date_range(r, d2, d3):
            region = r["region_partition"]
            q5[region] = q5.get(region, 0) + 1
    return {
        "Q1": result(["eventname", "n"], order_rows([[k, n] for k, n in q1.items()], [(1, True), (0, False)])),
        "Q2": result(
            ["arn", "eventname", "n"],
            order_rows([[k[0], k[1], n] for k, n in q2.items()], [(2, True), (0, False), (1, False)]),
        ),
        "Q3": result(["eventid", "eventtime", "user_name", "key_id"], order_rows(q3, [(1, False), (0, False)])),
        "Q4": result(
            ["arn", "ips", "n"],
            order_rows([[k, len(g[0]), g[1]] for k, g in q4.items()], [(2, True), (0, False)])[:20],
        ),
        "Q5": result(["region_partition", "n"], order_rows([[k, n] for k, n in q5.items()], [(0, False)])),
    }


# ---------------------------------------------------------------------------
# YAML consistency check (the files use a fixed, simple layout)

_NAME_LINE = re.compile(r"^name:\s*(\S+)\s*$")
_PARAM_LINE = re.compile(r'^  ([A-Za-z_][A-Za-z0-9_]*):\s*\{\s*default:\s*"([^"]*)"')


def check_yaml(directory):
    found = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".yaml"):
            continue
        query, params, in_params = None, {}, False
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                match = _NAME_LINE.match(line)
                if match:
                    query = match.group(1)
                if line.startswith("params:"):
                    in_params = True
                    continue
                if in_params:
                    match = _PARAM_LINE.match(line)
                    if match:
                        params[match.group(1)] = match.group(2)
                    elif line and not line.startswith(" "):
                        in_params = False
        found[query] = params
    problems = []
    for query in sorted(set(found) | set(QUERIES)):
        if query not in found:
            problems.append("%s: no YAML file" % query)
        elif query not in QUERIES:
            problems.append("%s: not implemented in the reference" % query)
        elif found[query] != QUERIES[query][1]:
            problems.append("%s: YAML params %r != reference %r" % (query, found[query], QUERIES[query][1]))
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("%d queries match" % len(QUERIES))
    return 1 if problems else 0


# ---------------------------------------------------------------------------


def main(argv):
    parser = argparse.ArgumentParser(description="Reference results for irprep's CloudTrail queries.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="CloudTrail files or directories")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--query", action="append", default=[], metavar="NAME", help="run only these queries")
    parser.add_argument("--bench-queries", action="store_true", help="run the benchmark queries Q1..Q5")
    parser.add_argument("--d2", help="Q5: first date_partition (yyyy/MM/dd)")
    parser.add_argument("--d3", help="Q5: last date_partition (yyyy/MM/dd)")
    parser.add_argument("--check-yaml", metavar="DIR", help="compare names and defaults with the YAML files")
    args = parser.parse_args(argv)

    if args.check_yaml:
        return check_yaml(args.check_yaml)
    if not args.paths:
        parser.error("no input PATH given")
    for path in args.paths:
        if not os.path.exists(path):
            parser.error("no such file or directory: %s" % path)

    if args.bench_queries:
        if args.d2 is None or args.d3 is None:
            parser.error("--bench-queries needs --d2 and --d3 (yyyy/MM/dd) for Q5")
        output = run_bench(args.paths, args.d2, args.d3)
    else:
        overrides = {}
        for item in args.param:
            if "=" not in item:
                parser.error("--param wants NAME=VALUE, got %r" % item)
            key, value = item.split("=", 1)
            overrides[key] = value
        selected = args.query or sorted(QUERIES)
        for name in selected:
            if name not in QUERIES:
                parser.error("unknown query %s" % name)
        known = set().union(*(QUERIES[name][1] for name in selected))
        for key in overrides:
            if key not in known:
                parser.error("parameter %s is used by none of the selected queries" % key)
            if key in INTEGER_PARAMS and not re.fullmatch(r"[0-9]+", overrides[key]):
                parser.error("parameter %s must be a non-negative integer" % key)
        rows = list(iter_rows(args.paths))
        output = {}
        for name in sorted(selected):
            function, defaults = QUERIES[name]
            params = dict(defaults)
            params.update({k: v for k, v in overrides.items() if k in defaults})
            output[name] = function(rows, params)
    json.dump(output, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
