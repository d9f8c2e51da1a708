#!/usr/bin/env python3
"""Engine-independent reference results for irprep's VPC flow and DNS queries.

This program computes, in plain Python (standard library only), what the
Athena engine v3 (Trino) queries of content/queries/vpcflow/*.yaml and
content/queries/dns/*.yaml should return on a set of VPC Flow Logs or Route 53
Resolver query-log files. It does not parse SQL: every query is re-implemented
by hand from its meaning, so that the Rust engine can be checked against an
independent implementation. It is the companion of cloudtrail_reference.py
and follows the same conventions.

Usage
-----
  flow_dns_reference.py --table vpcflow|dns [--param NAME=VALUE]... [--query NAME]... PATH...
      Runs every query of the table (or only the --query ones) with the YAML
      defaults, overridden by --param (a parameter given once applies to every
      selected query that has it).
  flow_dns_reference.py [--table vpcflow|dns] --check-yaml content/queries/vpcflow
      Checks that the query names, table and parameter defaults below match the
      YAML files of the directory (exit status 1 if not). Without --table the
      table is taken from the files' `table:` lines.

PATH is a file or a directory. Directories are walked recursively in sorted
order and their *.log files (each optionally .log.gz) are read; a file named
on the command line is read whatever its name. Gzip is detected by its magic
bytes (1f 8b). Records that cannot be read are skipped and reported on stderr
as "<file>:<line>: <reason>"; a file that cannot be read at all is reported as
"<file>: file skipped: <reason>". The exit status stays 0.

The vpcflow table (VPC Flow Logs, text format)
----------------------------------------------
Columns: the 40 flow-log fields in documentation order (FLOW_FIELDS below),
named after the field with '-' replaced by '_' ("end" must be quoted in SQL),
then the partitions account_partition, region_partition, date_partition.
Integer fields: version, srcport, dstport, tcp_flags, traffic_path (int) and
protocol, packets, bytes, start, end (bigint); every other field is a string.

* A file is split into lines at '\\n'; a trailing '\\r' is dropped. A line that
  is not UTF-8 is reported and skipped; a blank line is ignored. A line whose
  first non-blank character is '{' must be a JSON object with a string
  "message" (CloudWatch Logs exports): the message is the line; otherwise it
  is reported and skipped.
* Tokens are separated by runs of ASCII whitespace (space, tab, CR, LF, FF).
* A header line is one whose first token is not an integer and whose tokens
  are all flow-log field names (spelt with '-' or '_', optionally as ${name}),
  none repeated. It names the fields of the lines after it; a file may hold
  several header lines.
* Before any header line, a line is read positionally only when it has 14,
  29, 39 or 40 tokens: the first N fields of the documented order. Any other
  such line makes the whole file unreadable if no record was read from it yet
  (a transit-gateway log, say: the rest of the file is not read); after the
  first record it only skips that line.
* A line whose token count differs from its header's is reported and skipped.
* '-' is NULL. A value of an integer field that is not an optionally signed
  decimal integer within the 64-bit range ('abc', '1.5') makes the record
  invalid: reported and skipped. A valid value outside the 32-bit range of an
  int field is NULL.
* Partitions: a path in the S3 layout
  .../AWSLogs/<12-digit account>/vpcflowlogs/<region>/<yyyy>/<mm>/<dd>/[<HH>/]<file>
  or its Hive-compatible form
  .../AWSLogs/aws-account-id=<acct>/aws-service=vpcflowlogs/aws-region=<region>/
  year=<yyyy>/month=<mm>/day=<dd>/[hour=<HH>/]<file>
  gives account_partition, region_partition and date_partition (yyyy/MM/dd).
  (The last AWSLogs segment of the path counts; the region must look like
  us-east-1.) Otherwise they come from the record: account_id, region (NULL
  when absent) and the UTC day of start (NULL when start is NULL).

The dns table (Route 53 Resolver query logs, NDJSON)
-----------------------------------------------------
Columns: version (float), account_id, region, vpc_id, query_timestamp,
query_name, query_type, query_class, rcode (strings), answers
array<struct<rdata, type, class>> (JSON keys Rdata, Type, Class), srcaddr
(string), srcport (int), transport (string), srcids struct<instance,
resolver_endpoint>, firewall_rule_action, firewall_rule_group_id,
firewall_domain_list_id (strings); partitions account_partition,
vpc_partition, date_partition.

* One JSON object per line. A line that is not valid JSON (or not UTF-8) is
  reported and skipped, as is a JSON value that is not an object; blank lines
  are ignored.
* Top-level keys are matched exactly (the last of duplicate keys counts);
  struct field names are matched to JSON keys case-insensitively (the first
  matching key counts). A missing key or JSON null is NULL.
* String columns and struct leaves: a JSON string as is; a number keeps its
  source text, true/false become 'true'/'false'; an object or array becomes
  its JSON text (the Rust reader keeps the raw text, which differs only in
  whitespace; the fixtures have none).
* srcport: a JSON integer, or a string holding an optionally signed decimal
  integer (surrounding whitespace allowed) within the 32-bit range (AWS writes
  "srcport":"56067"); anything else is NULL. version likewise as a float
  (AWS writes "1.100000"); no query outputs it.
* answers: a JSON array; an element that is not an object is a NULL struct.
  Anything but an array is NULL. srcids: an object, else NULL ({} is a struct
  whose fields are NULL).
* Partitions: a path .../AWSLogs/<12-digit account>/vpcdnsquerylogs/<vpc-id>/
  <yyyy>/<mm>/<dd>/<file> gives account_partition, vpc_partition and
  date_partition. Otherwise account_id and vpc_id (when they are JSON strings)
  and the first ten characters of query_timestamp with '-' turned into '/'.

Output
------
One JSON object: {"<query name>": {"columns": [...], "rows": [[...], ...]}},
queries in name order. Rows are in the query's ORDER BY order; every query
orders its rows completely (ties only between rows that are equal in every
output column), so rows can be compared one by one. Cells are rendered as in
cloudtrail_reference.py:
* SQL NULL -> JSON null.
* varchar -> the string itself.
* integer (int, bigint, count(*), sum(...), cardinality(...)) -> decimal
  string, e.g. "42".
* array (array_agg, array_distinct) -> a string holding the compact JSON text
  of the list, elements sorted with nulls last: strings by code point (=
  UTF-8 byte order), e.g. '["10.0.0.1","192.0.2.7",null]', integers by value,
  e.g. '[22,443,3389]' (vpcflow-source-first-last-seen's dstports). The SQL
  sorts the same way (array_agg(DISTINCT x ORDER BY x)) except where it
  cannot (dns-queries-by-instance-count's instances come from
  array_distinct), so the test should parse the engine's list, sort it the
  same way and re-serialise it.
* Times built with date_format(from_unixtime(...), '%Y-%m-%dT%H:%i:%sZ') are
  UTC strings such as 2024-03-05T11:50:05Z; days with '%Y-%m-%d' are
  2024-03-05.

SQL semantics reproduced
------------------------
NULL compared with anything (=, <>, IN, BETWEEN, <, contains) is not true, so
the row is dropped; GROUP BY puts NULLs in one group of their own; count(*)
counts rows; sum() and min()/max() ignore NULL and are NULL over no value;
array_agg keeps one NULL element for NULL inputs; ORDER BY puts NULLs last
for ASC and DESC alike (Trino's default); strings compare by code point.
contains(array, x) is true if an element equals x, else NULL if an element is
NULL, else false. contains('<cidr>', CAST(ip AS IPADDRESS)) follows Trino:
IPv4 addresses are IPv4-mapped IPv6 addresses, so an IPv4 address lies in an
IPv6 prefix only through ::ffff:0:0/96 and an IPv6 address never lies in an
IPv4 prefix. A value is cast to IPADDRESS only if it matches the dotted-quad
IPv4 or hex IPv6 pattern of the SQL. array_join skips NULL elements.
element_at(split(s, '.'), -n) is the n-th element from the end, NULL when
there are fewer than n. current_timestamp is taken in UTC.
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
# Table definitions

INT, BIGINT, STR = "int", "bigint", "string"
FLOW_FIELDS = [
    ("version", INT), ("account-id", STR), ("interface-id", STR), ("srcaddr", STR), ("dstaddr", STR),
    ("srcport", INT), ("dstport", INT), ("protocol", BIGINT), ("packets", BIGINT), ("bytes", BIGINT),
    ("start", BIGINT), ("end", BIGINT), ("action", STR), ("log-status", STR), ("vpc-id", STR),
    ("subnet-id", STR), ("instance-id", STR), ("tcp-flags", INT), ("type", STR), ("pkt-srcaddr", STR),
    ("pkt-dstaddr", STR), ("region", STR), ("az-id", STR), ("sublocation-type", STR), ("sublocation-id", STR),
    ("pkt-src-aws-service", STR), ("pkt-dst-aws-service", STR), ("flow-direction", STR),
    ("traffic-path", INT), ("ecs-cluster-arn", STR), ("ecs-cluster-name", STR),
    ("ecs-container-instance-arn", STR), ("ecs-container-instance-id", STR), ("ecs-container-id", STR),
    ("ecs-second-container-id", STR), ("ecs-service-name", STR), ("ecs-task-definition-arn", STR),
    ("ecs-task-arn", STR), ("ecs-task-id", STR), ("reject-reason", STR),
]
FIELD_INDEX = {name: i for i, (name, _) in enumerate(FLOW_FIELDS)}
FLOW_COLUMNS = [name.replace("-", "_") for name, _ in FLOW_FIELDS]
POSITIONAL_COUNTS = (14, 29, 39, 40)
INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)

DNS_STRING_COLUMNS = (
    "account_id", "region", "vpc_id", "query_timestamp", "query_name", "query_type", "query_class", "rcode",
    "srcaddr", "transport", "firewall_rule_action", "firewall_rule_group_id", "firewall_domain_list_id",
)
ANSWER_FIELDS = ("rdata", "type", "class")
SRCIDS_FIELDS = ("instance", "resolver_endpoint")

READ_SUFFIXES = (".log",)


def report(message):
    print(message, file=sys.stderr)


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


def read_bytes(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


# ---------------------------------------------------------------------------
# S3 key layouts (partitions carried by the path)


def _is_account(text):
    return len(text) == 12 and text.isascii() and text.isdigit()


def _is_num(text, length):
    return len(text) == length and text.isascii() and text.isdigit()


def _is_region(text):
    parts = text.split("-")
    return (
        len(parts) >= 3
        and all(p and all(c in "abcdefghijklmnopqrstuvwxyz0123456789" for c in p) for p in parts)
        and parts[-1].isascii()
        and parts[-1].isdigit()
    )


def path_partitions(path, table):
    """Partitions of a path in the table's S3 layout, or None.

    vpcflow: {"account_partition", "region_partition", "date_partition"};
    dns: {"account_partition", "vpc_partition", "date_partition"}.
    """
    segs = [s for s in path.replace("\\", "/").split("/") if s]
    positions = [i for i, s in enumerate(segs) if s == "AWSLogs"]
    if not positions:
        return None
    rest = segs[positions[-1] + 1:]
    # Hive-compatible flow-log layout.
    if rest and rest[0].startswith("aws-account-id="):
        if table != "vpcflow" or len(rest) < 7:
            return None
        keys = ("aws-account-id=", "aws-service=", "aws-region=", "year=", "month=", "day=")
        values = []
        for seg, key in zip(rest, keys):
            if not seg.startswith(key):
                return None
            values.append(seg[len(key):])
        account, service, region, year, month, day = values
        if (service == "vpcflowlogs" and _is_account(account) and _is_region(region)
                and _is_num(year, 4) and _is_num(month, 2) and _is_num(day, 2)):
            return {"account_partition": account, "region_partition": region,
                    "date_partition": "%s/%s/%s" % (year, month, day)}
        return None
    if rest and rest[0].startswith("o-") and not _is_account(rest[0]):
        rest = rest[1:]  # organisation id (CloudTrail only; harmless here)
    if len(rest) < 2 or not _is_account(rest[0]):
        return None
    account, service, rest = rest[0], rest[1], rest[2:]
    if len(rest) < 5 or not (_is_num(rest[1], 4) and _is_num(rest[2], 2) and _is_num(rest[3], 2)):
        return None
    date = "%s/%s/%s" % (rest[1], rest[2], rest[3])
    if table == "vpcflow" and service == "vpcflowlogs" and _is_region(rest[0]):
        return {"account_partition": account, "region_partition": rest[0], "date_partition": date}
    if table == "dns" and service == "vpcdnsquerylogs" and rest[0].startswith("vpc-"):
        return {"account_partition": account, "vpc_partition": rest[0], "date_partition": date}
    return None


# ---------------------------------------------------------------------------
# VPC flow-log text

_ASCII_WS = re.compile(r"[ \t\n\r\f]+")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def _tokens(line):
    return [t for t in _ASCII_WS.split(line) if t]


def _field_name(token):
    name = token.strip()
    while name.startswith("${"):
        name = name[2:]
    name = name.rstrip("}").replace("_", "-")
    return name if name in FIELD_INDEX else None


def _header(tokens):
    """Field indices named by a header line, or None if it is not one."""
    if not tokens or _parse_int(tokens[0], INT64) is not None:
        return None
    out = []
    for token in tokens:
        name = _field_name(token)
        if name is None or FIELD_INDEX[name] in out:
            return None
        out.append(FIELD_INDEX[name])
    return out


def _parse_int(text, bounds):
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if bounds[0] <= value <= bounds[1] else None


def utc_day(seconds, fmt="%Y/%m/%d"):
    if seconds is None:
        return None
    try:
        return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(fmt)
    except (OverflowError, OSError, ValueError):
        return None


def read_flow_file(path):
    """Rows (dicts of column -> value) of one flow-log file."""
    try:
        data = read_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        report("%s: file skipped: %s" % (path, err))
        return []
    partitions = path_partitions(path, "vpcflow")
    rows = []
    mapping = None
    for number, raw in enumerate(data.split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        where = "%s:%d" % (path, number)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            report("%s: invalid UTF-8" % where)
            continue
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                wrapper = json.loads(line)
            except ValueError:
                wrapper = None
            message = wrapper.get("message") if isinstance(wrapper, dict) else None
            if not isinstance(message, str):
                report('%s: a JSON line without a "message" string' % where)
                continue
            line = message
        tokens = _tokens(line)
        header = _header(tokens)
        if header is not None:
            mapping = header
            continue
        if mapping is not None:
            fields = mapping
        elif len(tokens) in POSITIONAL_COUNTS:
            fields = list(range(len(tokens)))
        elif not rows:
            report("%s: file skipped: %d fields and no header line naming them (not 14, 29, 39 or 40 "
                   "fields in documented order)" % (where, len(tokens)))
            return []
        else:
            report("%s: %d fields and no header line" % (where, len(tokens)))
            continue
        if len(tokens) != len(fields):
            report("%s: %d fields where the header names %d" % (where, len(tokens), len(fields)))
            continue
        values = [None] * len(FLOW_FIELDS)
        bad = None
        for token, index in zip(tokens, fields):
            if token == "-":
                continue
            name, kind = FLOW_FIELDS[index]
            if kind == STR:
                values[index] = token
                continue
            value = _parse_int(token, INT64)
            if value is None:
                bad = "field %s is not a number: '%s'" % (name, token[:40])
                break
            if kind == INT and not INT32[0] <= value <= INT32[1]:
                value = None
            values[index] = value
        if bad:
            report("%s: %s" % (where, bad))
            continue
        row = dict(zip(FLOW_COLUMNS, values))
        if partitions is not None:
            row.update(partitions)
        else:
            row["account_partition"] = row["account_id"]
            row["region_partition"] = row["region"]
            row["date_partition"] = utc_day(row["start"])
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Route 53 Resolver query logs (NDJSON)


class RawNumber(str):
    """A JSON number, kept as its source text."""


def _parse_json(text):
    return json.loads(text, parse_int=RawNumber, parse_float=RawNumber,
                      parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))


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
    if isinstance(value, (RawNumber, int)):
        return str(value)
    if isinstance(value, str):
        return _escape_json_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(
            _escape_json_string(key) + ":" + canonical_json(value[key]) for key in sorted(value)
        ) + "}"
    raise TypeError("unexpected JSON value %r" % (value,))


def sql_string(value):
    """A JSON value as it appears in a string column."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return str(value)  # also RawNumber: its source text
    return canonical_json(value)


def sql_int32(value):
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    return _parse_int(str(value).strip(), INT32)


def sql_float(value):
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def sql_struct(value, fields):
    if not isinstance(value, dict):
        return None
    out = {}
    for field in fields:
        out[field] = None
        for key, item in value.items():
            if key.lower() == field:
                out[field] = sql_string(item)
                break
    return out


def read_dns_file(path):
    try:
        data = read_bytes(path)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        report("%s: file skipped: %s" % (path, err))
        return []
    partitions = path_partitions(path, "dns")
    rows = []
    for number, raw in enumerate(data.split(b"\n"), 1):
        where = "%s:%d" % (path, number)
        if not raw.strip(b" \t\r\n"):
            continue
        try:
            record = _parse_json(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            report("%s: invalid JSON: %s" % (where, err))
            continue
        if not isinstance(record, dict):
            report("%s: record is not a JSON object" % where)
            continue
        row = {column: sql_string(record.get(column)) for column in DNS_STRING_COLUMNS}
        row["version"] = sql_float(record.get("version"))
        row["srcport"] = sql_int32(record.get("srcport"))
        answers = record.get("answers")
        row["answers"] = [sql_struct(item, ANSWER_FIELDS) for item in answers] if isinstance(answers, list) else None
        row["srcids"] = sql_struct(record.get("srcids"), SRCIDS_FIELDS)
        if partitions is not None:
            row.update(partitions)
        else:
            text = lambda key: record[key] if isinstance(record.get(key), str) else None
            row["account_partition"] = text("account_id")
            row["vpc_partition"] = text("vpc_id")
            stamp = text("query_timestamp")
            stamp = stamp.strip() if stamp is not None else None
            row["date_partition"] = stamp[:10].replace("-", "/") if stamp is not None and len(stamp) >= 10 else None
        rows.append(row)
    return rows


def read_rows(table, paths):
    reader = read_flow_file if table == "vpcflow" else read_dns_file
    rows = []
    for path in iter_files(paths):
        rows.extend(reader(path))
    return rows


# ---------------------------------------------------------------------------
# SQL helpers


def in_list(value, csv):
    """contains(split(csv, ','), value)."""
    return value is not None and value in csv.split(",")


def in_list_or_all(value, csv):
    """('<csv>' = '' OR contains(split('<csv>', ','), value))."""
    return csv == "" or in_list(value, csv)


def in_date_range(row, start, end):
    partition = row["date_partition"]
    return partition is not None and start <= partition <= end


def relative_cutoff(days):
    now = datetime.datetime.now(datetime.timezone.utc)
    return (now - datetime.timedelta(days=int(days))).strftime("%Y/%m/%d")


def iso_time(seconds):
    """date_format(from_unixtime(seconds), '%Y-%m-%dT%H:%i:%sZ')."""
    return utc_day(seconds, "%Y-%m-%dT%H:%M:%SZ")


def sum_or_null(values):
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _min(values):
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values):
    present = [v for v in values if v is not None]
    return max(present) if present else None


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


def guarded_ip(text):
    """CASE WHEN <IPv4 regex> ... WHEN <IPv6 regex on lower(text)> ... THEN CAST(text AS IPADDRESS) END."""
    if text is None:
        return None
    if not (IPV4_PATTERN.fullmatch(text) or IPV6_PATTERN.fullmatch(text.lower())):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise SystemExit("address %r passes the address patterns but is not an address; "
                         "the SQL CAST would fail" % text)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address


def network(cidr):
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        raise SystemExit("%r is not a CIDR network; CAST to IPPREFIX would fail" % cidr)


def cidr_contains(net, address):
    """contains('<cidr>', address) with Trino's IPv4-mapped representation; None for NULL."""
    if address is None:
        return None
    if address.version == net.version:
        return address in net
    if address.version == 4:
        return ipaddress.IPv6Address("::ffff:" + str(address)) in net
    return False


PRIVATE_NETWORKS = [network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]


def is_private(address):
    return any(cidr_contains(net, address) for net in PRIVATE_NETWORKS)


def array_contains(values, item):
    """contains(array, item): True, False, or None (no match and a NULL element)."""
    if values is None:
        return None
    if item in [v for v in values if v is not None]:
        return True
    return None if any(v is None for v in values) else False


def element_from_end(text, sep, n):
    """element_at(split(text, sep), -n)."""
    if text is None:
        return None
    parts = text.split(sep)
    return parts[-n] if len(parts) >= n else None


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


def asc(*indices):
    return [(i, False) for i in indices]


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


def group(rows, keep, key):
    groups = {}
    for r in rows:
        if keep(r):
            groups.setdefault(key(r), []).append(r)
    return groups


# ---------------------------------------------------------------------------
# vpcflow queries

FLOW_PREVIEW_HEAD = ["start", "end", "account_partition", "region_partition", "date_partition",
                     "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol"]
FLOW_PREVIEW_COLUMNS = FLOW_COLUMNS + ["account_partition", "region_partition", "date_partition"]
FLOW_PREVIEW_ORDER = FLOW_PREVIEW_HEAD + [c for c in FLOW_PREVIEW_COLUMNS if c not in FLOW_PREVIEW_HEAD]


def flow_preview(rows, keep, limit):
    out = [[r[c] for c in FLOW_PREVIEW_COLUMNS] for r in rows if keep(r)]
    out = order_rows(out, asc(*[FLOW_PREVIEW_COLUMNS.index(c) for c in FLOW_PREVIEW_ORDER]))
    return result(FLOW_PREVIEW_COLUMNS, out[:limit])


def flow_partition_filter(p):
    return lambda r: (
        in_date_range(r, p["start_date"], p["end_date"])
        and in_list_or_all(r["account_partition"], p["accounts"])
        and in_list_or_all(r["region_partition"], p["regions"])
    )


def q_flow_preview(rows, p):
    return flow_preview(rows, lambda r: True, int(p["limit"]))


def q_flow_preview_account(rows, p):
    return flow_preview(rows, lambda r: r["account_partition"] == p["account"], int(p["limit"]))


def q_flow_preview_accounts(rows, p):
    return flow_preview(rows, lambda r: in_list(r["account_partition"], p["accounts"]), int(p["limit"]))


def q_flow_preview_region(rows, p):
    return flow_preview(rows, lambda r: r["region_partition"] == p["region"], int(p["limit"]))


def q_flow_preview_regions(rows, p):
    return flow_preview(rows, lambda r: in_list(r["region_partition"], p["regions"]), int(p["limit"]))


def q_flow_preview_date_range(rows, p):
    return flow_preview(rows, lambda r: in_date_range(r, p["start_date"], p["end_date"]), int(p["limit"]))


def q_flow_preview_relative_date(rows, p):
    cutoff = relative_cutoff(p["days"])
    keep = lambda r: r["date_partition"] is not None and r["date_partition"] >= cutoff
    return flow_preview(rows, keep, int(p["limit"]))


def q_flow_preview_all_partitions(rows, p):
    return flow_preview(rows, flow_partition_filter(p), int(p["limit"]))


def q_pair_record_counts(rows, p):
    key = lambda r: (r["region_partition"], r["instance_id"], r["srcaddr"], r["dstaddr"])
    groups = group(rows, flow_partition_filter(p), key)
    out = [list(k) + [len(g)] for k, g in groups.items()]
    out = order_rows(out, [(4, True)] + asc(0, 1, 2, 3))
    return result(["region_partition", "instance_id", "srcaddr", "dstaddr", "record_count"], out)


def _touches(r, ip):
    """(srcaddr = ip OR dstaddr = ip)."""
    return r["srcaddr"] == ip or r["dstaddr"] == ip


def q_pair_summary(rows, p):
    base = flow_partition_filter(p)
    keep = lambda r: base(r) and _touches(r, p["ip_a"]) and _touches(r, p["ip_b"])
    key = lambda r: (r["region_partition"], r["instance_id"], r["srcaddr"], r["dstaddr"])
    groups = group(rows, keep, key)
    out = [list(k) + [sum_or_null(x["bytes"] for x in g)] for k, g in groups.items()]
    out = order_rows(out, [(4, True)] + asc(0, 1, 2, 3))
    return result(["region_partition", "instance_id", "srcaddr", "dstaddr", "byte_count"], out)


def q_pair_detail(rows, p):
    base = flow_partition_filter(p)
    a, b = p["ip_a"], p["ip_b"]
    keep = lambda r: base(r) and (
        (r["srcaddr"] == a and r["dstaddr"] == b) or (r["srcaddr"] == b and r["dstaddr"] == a)
    )
    source = ["start", "end", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "packets", "bytes",
              "flow_direction", "action"]
    out = [[r[c] for c in source] for r in rows if keep(r)]
    out = order_rows(out, asc(*range(len(source))))
    out = [[iso_time(row[0]), iso_time(row[1])] + row[2:] for row in out]
    return result(["start_time", "end_time"] + source[2:], out)


def _instance_port(rows, p, port_column, key_columns):
    base = flow_partition_filter(p)
    port = int(p["port"])
    keep = lambda r: base(r) and r["instance_id"] == p["instance_id"] and r[port_column] == port
    groups = group(rows, keep, lambda r: tuple(r[c] for c in key_columns))
    out = [list(k) + [sum_or_null(x["bytes"] for x in g)] for k, g in groups.items()]
    n = len(key_columns)
    out = order_rows(out, [(n, True)] + asc(*range(n)))
    return result(key_columns + ["byte_count"], out)


def q_instance_bytes_from_port(rows, p):
    return _instance_port(rows, p, "srcport", ["region_partition", "instance_id", "srcaddr", "srcport", "dstaddr"])


def q_instance_bytes_to_port(rows, p):
    return _instance_port(rows, p, "dstport", ["region_partition", "instance_id", "srcaddr", "dstaddr", "dstport"])


def q_ip_connections_summary(rows, p):
    base = flow_partition_filter(p)
    key_columns = ["srcaddr", "dstaddr", "srcport", "dstport"]
    groups = group(rows, lambda r: base(r) and _touches(r, p["ip"]), lambda r: tuple(r[c] for c in key_columns))
    out = [list(k) + [sum_or_null(x["bytes"] for x in g)] for k, g in groups.items()]
    out = order_rows(out, [(4, True)] + asc(0, 1, 2, 3))
    return result(key_columns + ["byte_count"], out)


FLOW_ROW_SOURCE = ["start", "end", "account_partition", "region_partition", "interface_id", "instance_id",
                   "srcaddr", "srcport", "dstaddr", "dstport", "protocol", "packets", "bytes", "action",
                   "log_status", "flow_direction"]
FLOW_ROW_COLUMNS = ["start_time", "end_time"] + FLOW_ROW_SOURCE[2:]
FLOW_ROW_ORDER = ["start", "end", "account_partition", "region_partition", "interface_id", "srcaddr", "srcport",
                  "dstaddr", "dstport", "protocol", "packets", "bytes", "action", "log_status", "instance_id",
                  "flow_direction"]


def flow_rows(rows, keep):
    """The analytic row shape; keep(row, src_ip, dst_ip) with the guarded casts."""
    out = []
    for r in rows:
        if keep(r, guarded_ip(r["srcaddr"]), guarded_ip(r["dstaddr"])):
            out.append([r[c] for c in FLOW_ROW_SOURCE])
    out = order_rows(out, asc(*[FLOW_ROW_SOURCE.index(c) for c in FLOW_ROW_ORDER]))
    out = [[iso_time(row[0]), iso_time(row[1])] + row[2:] for row in out]
    return result(FLOW_ROW_COLUMNS, out)


def q_public_private_traffic(rows, p):
    base = flow_partition_filter(p)
    return flow_rows(rows, lambda r, s, d: (
        base(r) and s is not None and d is not None and is_private(s) != is_private(d)
    ))


def q_internal_to_internal(rows, p):
    base = flow_partition_filter(p)
    net = network(p["cidr"])
    return flow_rows(rows, lambda r, s, d: (
        base(r) and cidr_contains(net, s) is True and cidr_contains(net, d) is True
    ))


def q_not_internal_to_internal(rows, p):
    base = flow_partition_filter(p)
    net = network(p["cidr"])
    return flow_rows(rows, lambda r, s, d: (
        base(r) and s is not None and d is not None and not (cidr_contains(net, s) and cidr_contains(net, d))
    ))


def q_source_first_last_seen(rows, p):
    base = flow_partition_filter(p)
    keep = lambda r: base(r) and r["dstport"] is not None and r["dstport"] < 32768
    groups = group(rows, keep, lambda r: r["srcaddr"])
    out = []
    for src, g in groups.items():
        out.append([
            src,
            iso_time(_min(x["start"] for x in g)),
            iso_time(_max(x["end"] for x in g)),
            len(g),
            {x["dstaddr"] for x in g},
            {x["instance_id"] for x in g},
            {x["dstport"] for x in g},
        ])
    out = order_rows(out, asc(1, 0))
    return result(["srcaddr", "first_seen", "last_seen", "records", "dstaddrs", "instance_ids", "dstports"], out)


def q_daily_transfer_top_internal_sources(rows, p):
    base = flow_partition_filter(p)
    net = network(p["cidr"])
    internal = [r for r in rows if base(r) and cidr_contains(net, guarded_ip(r["srcaddr"])) is True]
    totals = group(internal, lambda r: True, lambda r: r["srcaddr"])
    ranked = order_rows([[src, sum_or_null(x["bytes"] for x in g)] for src, g in totals.items()],
                        [(1, True), (0, False)])
    top = {row[0] for row in ranked[: int(p["limit"])]}
    daily = group(internal, lambda r: r["srcaddr"] in top,
                  lambda r: (utc_day(r["start"], "%Y-%m-%d"), r["srcaddr"], r["dstaddr"]))
    out = [list(k) + [sum_or_null(x["bytes"] for x in g)] for k, g in daily.items()]
    out = order_rows(out, asc(0, 1, 2))
    return result(["flow_date", "srcaddr", "dstaddr", "byte_count"], out)


# ---------------------------------------------------------------------------
# dns queries


def answers_rdata(r):
    """transform(answers, x -> x.rdata)."""
    answers = r["answers"]
    if answers is None:
        return None
    return [None if a is None else a["rdata"] for a in answers]


def array_join(values, sep):
    if values is None:
        return None
    return sep.join(v for v in values if v is not None)


def srcid(r, field):
    return None if r["srcids"] is None else r["srcids"][field]


DNS_COLUMNS = [
    ("query_timestamp", lambda r: r["query_timestamp"]),
    ("account_partition", lambda r: r["account_partition"]),
    ("vpc_partition", lambda r: r["vpc_partition"]),
    ("date_partition", lambda r: r["date_partition"]),
    ("account_id", lambda r: r["account_id"]),
    ("region", lambda r: r["region"]),
    ("vpc_id", lambda r: r["vpc_id"]),
    ("query_name", lambda r: r["query_name"]),
    ("query_type", lambda r: r["query_type"]),
    ("query_class", lambda r: r["query_class"]),
    ("rcode", lambda r: r["rcode"]),
    ("answers_rdata", lambda r: array_join(answers_rdata(r), ",")),
    ("srcaddr", lambda r: r["srcaddr"]),
    ("srcport", lambda r: r["srcport"]),
    ("transport", lambda r: r["transport"]),
    ("srcids_instance", lambda r: srcid(r, "instance")),
    ("srcids_resolver_endpoint", lambda r: srcid(r, "resolver_endpoint")),
    ("firewall_rule_action", lambda r: r["firewall_rule_action"]),
    ("firewall_rule_group_id", lambda r: r["firewall_rule_group_id"]),
    ("firewall_domain_list_id", lambda r: r["firewall_domain_list_id"]),
]
DNS_NAMES = [name for name, _ in DNS_COLUMNS]
DNS_ORDER = [
    "query_timestamp", "account_partition", "vpc_partition", "srcaddr", "srcport", "query_name", "query_type",
    "query_class", "rcode", "answers_rdata", "transport", "srcids_instance", "srcids_resolver_endpoint",
    "firewall_rule_action", "firewall_rule_group_id", "firewall_domain_list_id", "date_partition", "account_id",
    "region", "vpc_id",
]


def dns_select(rows, keep, limit=None):
    out = [[f(r) for _, f in DNS_COLUMNS] for r in rows if keep(r)]
    out = order_rows(out, asc(*[DNS_NAMES.index(c) for c in DNS_ORDER]))
    if limit is not None:
        out = out[:limit]
    return result(DNS_NAMES, out)


def dns_partition_filter(p):
    return lambda r: (
        in_date_range(r, p["start_date"], p["end_date"])
        and in_list_or_all(r["account_partition"], p["accounts"])
        and in_list_or_all(r["vpc_partition"], p["vpcs"])
    )


def q_dns_preview(rows, p):
    return dns_select(rows, lambda r: True, int(p["limit"]))


def q_dns_preview_account(rows, p):
    return dns_select(rows, lambda r: r["account_partition"] == p["account"], int(p["limit"]))


def q_dns_preview_accounts(rows, p):
    return dns_select(rows, lambda r: in_list(r["account_partition"], p["accounts"]), int(p["limit"]))


def q_dns_preview_vpc(rows, p):
    return dns_select(rows, lambda r: r["vpc_partition"] == p["vpc"], int(p["limit"]))


def q_dns_preview_vpcs(rows, p):
    return dns_select(rows, lambda r: in_list(r["vpc_partition"], p["vpcs"]), int(p["limit"]))


def q_dns_preview_date_range(rows, p):
    return dns_select(rows, lambda r: in_date_range(r, p["start_date"], p["end_date"]), int(p["limit"]))


def q_dns_preview_relative_date(rows, p):
    cutoff = relative_cutoff(p["days"])
    return dns_select(rows, lambda r: r["date_partition"] is not None and r["date_partition"] >= cutoff,
                      int(p["limit"]))


def q_dns_preview_all_partitions(rows, p):
    return dns_select(rows, dns_partition_filter(p), int(p["limit"]))


def q_queries_by_instance_count(rows, p):
    groups = group(rows, dns_partition_filter(p), lambda r: (r["query_name"], r["query_type"]))
    out = []
    for (name, qtype), g in groups.items():
        instances = {srcid(x, "instance") for x in g} - {None}
        out.append([name, qtype, len(instances), len(g), instances])
    out = order_rows(out, [(2, True), (3, True), (0, False), (1, False)])
    return result(["query_name", "query_type", "instance_count", "query_count", "instances"], out)


def _query_summary(rows, keep):
    groups = group(rows, keep, lambda r: (r["query_name"], r["query_type"]))
    out = [[k[0], k[1], len(g)] for k, g in groups.items()]
    out = order_rows(out, [(2, True), (0, False), (1, False)])
    return result(["query_name", "query_type", "query_count"], out)


def q_query_summary(rows, p):
    return _query_summary(rows, dns_partition_filter(p))


def q_aaaa_query_summary(rows, p):
    base = dns_partition_filter(p)
    return _query_summary(rows, lambda r: base(r) and r["query_type"] == "AAAA")


def q_aaaa_query_summary_with_tld_sld(rows, p):
    base = dns_partition_filter(p)
    groups = group(rows, lambda r: base(r) and r["query_type"] == "AAAA",
                   lambda r: (r["query_name"], r["query_type"]))
    out = [[element_from_end(k[0], ".", 2), element_from_end(k[0], ".", 3), k[0], k[1], len(g)]
           for k, g in groups.items()]
    out = order_rows(out, [(4, True), (2, False), (3, False)])
    return result(["tld", "sld", "query_name", "query_type", "query_count"], out)


def q_records_resolving_to_ip(rows, p):
    base = dns_partition_filter(p)
    return dns_select(rows, lambda r: base(r) and array_contains(answers_rdata(r), p["ip"]) is True)


# ---------------------------------------------------------------------------
# The query catalogue

DATES = {"start_date": "2024/03/01", "end_date": "2024/03/31"}
FLOW_PARTS = dict(DATES, accounts="", regions="")
DNS_PARTS = dict(DATES, accounts="", vpcs="")
PAIR = {"ip_a": "172.31.16.139", "ip_b": "203.0.113.2"}
INSTANCE = {"instance_id": "i-0abc1234def567890", "port": "443"}
CIDR = {"cidr": "172.16.0.0/12"}

# table -> name -> (function, parameter defaults); must match the YAML files (--check-yaml).
QUERIES = {
    "vpcflow": {
        "vpcflow-preview": (q_flow_preview, {"limit": "10"}),
        "vpcflow-preview-account": (q_flow_preview_account, {"account": "111122223333", "limit": "10"}),
        "vpcflow-preview-accounts": (q_flow_preview_accounts,
                                     {"accounts": "111122223333,444455556666", "limit": "10"}),
        "vpcflow-preview-region": (q_flow_preview_region, {"region": "us-east-1", "limit": "10"}),
        "vpcflow-preview-regions": (q_flow_preview_regions, {"regions": "us-east-1,us-west-2", "limit": "10"}),
        "vpcflow-preview-date-range": (q_flow_preview_date_range, dict(DATES, limit="10")),
        "vpcflow-preview-relative-date": (q_flow_preview_relative_date, {"days": "30", "limit": "10"}),
        "vpcflow-preview-all-partitions": (q_flow_preview_all_partitions, dict(FLOW_PARTS, limit="10")),
        "vpcflow-src-dst-pair-record-counts": (q_pair_record_counts, dict(FLOW_PARTS)),
        "vpcflow-src-dst-pair-summary": (q_pair_summary, dict(PAIR, **FLOW_PARTS)),
        "vpcflow-src-dst-pair-detail-with-direction": (q_pair_detail, dict(PAIR, **FLOW_PARTS)),
        "vpcflow-instance-bytes-from-port": (q_instance_bytes_from_port, dict(INSTANCE, **FLOW_PARTS)),
        "vpcflow-instance-bytes-to-port": (q_instance_bytes_to_port, dict(INSTANCE, **FLOW_PARTS)),
        "vpcflow-ip-connections-summary": (q_ip_connections_summary, dict({"ip": "172.31.16.139"}, **FLOW_PARTS)),
        "vpcflow-public-private-traffic": (q_public_private_traffic, dict(FLOW_PARTS)),
        "vpcflow-internal-to-internal-traffic": (q_internal_to_internal, dict(CIDR, **FLOW_PARTS)),
        "vpcflow-not-internal-to-internal-traffic": (q_not_internal_to_internal, dict(CIDR, **FLOW_PARTS)),
        "vpcflow-source-first-last-seen": (q_source_first_last_seen, dict(FLOW_PARTS)),
        "vpcflow-daily-transfer-top-internal-sources": (q_daily_transfer_top_internal_sources,
                                                        dict(CIDR, limit="10", **FLOW_PARTS)),
    },
    "dns": {
        "dns-preview": (q_dns_preview, {"limit": "10"}),
        "dns-preview-account": (q_dns_preview_account, {"account": "111122223333", "limit": "10"}),
        "dns-preview-accounts": (q_dns_preview_accounts, {"accounts": "111122223333,444455556666", "limit": "10"}),
        "dns-preview-vpc": (q_dns_preview_vpc, {"vpc": "vpc-0a1b2c3d4e5f60718", "limit": "10"}),
        "dns-preview-vpcs": (q_dns_preview_vpcs,
                             {"vpcs": "vpc-0a1b2c3d4e5f60718,vpc-0b2c3d4e5f6071829", "limit": "10"}),
        "dns-preview-date-range": (q_dns_preview_date_range, dict(DATES, limit="10")),
        "dns-preview-relative-date": (q_dns_preview_relative_date, {"days": "30", "limit": "10"}),
        "dns-preview-all-partitions": (q_dns_preview_all_partitions, dict(DNS_PARTS, limit="10")),
        "dns-queries-by-instance-count": (q_queries_by_instance_count, dict(DNS_PARTS)),
        "dns-query-summary": (q_query_summary, dict(DNS_PARTS)),
        "dns-aaaa-query-summary": (q_aaaa_query_summary, dict(DNS_PARTS)),
        "dns-aaaa-query-summary-with-tld-sld": (q_aaaa_query_summary_with_tld_sld, dict(DNS_PARTS)),
        "dns-records-resolving-to-ip": (q_records_resolving_to_ip, dict({"ip": "203.0.113.2"}, **DNS_PARTS)),
    },
}
# Parameters substituted unquoted (limit, days) or cast to an integer (port).
INTEGER_PARAMS = ("limit", "days", "port")


# ---------------------------------------------------------------------------
# YAML consistency check (the files use a fixed, simple layout)

_NAME_LINE = re.compile(r"^name:\s*(\S+)\s*$")
_TABLE_LINE = re.compile(r"^table:\s*(\S+)\s*$")
_PARAM_LINE = re.compile(r'^  ([A-Za-z_][A-Za-z0-9_]*):\s*\{\s*default:\s*"([^"]*)"')


def check_yaml(directory, table):
    found = {}
    tables = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".yaml"):
            continue
        query, query_table, params, in_params = None, None, {}, False
        with open(os.path.join(directory, name), encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                match = _NAME_LINE.match(line)
                if match:
                    query = match.group(1)
                match = _TABLE_LINE.match(line)
                if match:
                    query_table = match.group(1)
                if line.startswith("params:"):
                    in_params = True
                    continue
                if in_params:
                    match = _PARAM_LINE.match(line)
                    if match:
                        params[match.group(1)] = match.group(2)
                    elif line and not line.startswith(" "):
                        in_params = False
        if query != name[: -len(".yaml")]:
            print("%s: name %r does not match the file name" % (name, query), file=sys.stderr)
            return 1
        found[query] = params
        tables[query] = query_table
    if table is None:
        seen = set(tables.values())
        if len(seen) != 1 or not seen <= set(QUERIES):
            print("cannot tell the table from the files (tables: %s); give --table" % sorted(map(str, seen)),
                  file=sys.stderr)
            return 1
        table = seen.pop()
    known = QUERIES[table]
    problems = []
    for query in sorted(set(found) | set(known)):
        if query not in found:
            problems.append("%s: no YAML file" % query)
        elif query not in known:
            problems.append("%s: not implemented in the reference" % query)
        elif tables[query] != table:
            problems.append("%s: YAML table %r != %r" % (query, tables[query], table))
        elif found[query] != known[query][1]:
            problems.append("%s: YAML params %r != reference %r" % (query, found[query], known[query][1]))
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print("%d %s queries match" % (len(known), table))
    return 1 if problems else 0


# ---------------------------------------------------------------------------


def main(argv):
    parser = argparse.ArgumentParser(description="Reference results for irprep's vpcflow and dns queries.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="log files or directories")
    parser.add_argument("--table", choices=sorted(QUERIES), help="the table the files belong to")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--query", action="append", default=[], metavar="NAME", help="run only these queries")
    parser.add_argument("--check-yaml", metavar="DIR", help="compare names and defaults with the YAML files")
    args = parser.parse_args(argv)

    if args.check_yaml:
        return check_yaml(args.check_yaml, args.table)
    if args.table is None:
        parser.error("--table vpcflow|dns is required")
    if not args.paths:
        parser.error("no input PATH given")
    for path in args.paths:
        if not os.path.exists(path):
            parser.error("no such file or directory: %s" % path)

    queries = QUERIES[args.table]
    overrides = {}
    for item in args.param:
        if "=" not in item:
            parser.error("--param wants NAME=VALUE, got %r" % item)
        key, value = item.split("=", 1)
        overrides[key] = value
    selected = args.query or sorted(queries)
    for name in selected:
        if name not in queries:
            parser.error("unknown %s query %s" % (args.table, name))
    known = set().union(*(queries[name][1] for name in selected))
    for key in overrides:
        if key not in known:
            parser.error("parameter %s is used by none of the selected queries" % key)
        if key in INTEGER_PARAMS and not re.fullmatch(r"[0-9]+", overrides[key]):
            parser.error("parameter %s must be a non-negative integer" % key)
    if "port" in overrides and int(overrides["port"]) > INT32[1]:
        parser.error("parameter port is out of the integer range")
    rows = read_rows(args.table, args.paths)
    output = {}
    for name in sorted(selected):
        function, defaults = queries[name]
        params = dict(defaults)
        params.update({k: v for k, v in overrides.items() if k in defaults})
        output[name] = function(rows, params)
    json.dump(output, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
