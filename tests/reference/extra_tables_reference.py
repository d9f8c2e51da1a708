#!/usr/bin/env python3
"""Engine-independent reference rows for irprep's S3 access, load balancer, WAF,
GuardDuty and EKS audit tables.

This program reads log files in plain Python (standard library only) and
prints every row that one of the tables s3access, alb, nlb, clb, waf,
guardduty or eks_audit should hold for them, so that the Rust readers can be
checked against an independent implementation. The parsing follows the AWS
documentation of each format (Amazon S3 server access log format;
Application Load Balancer access log entries; Network Load Balancer TLS
access logs; Classic Load Balancer access log entries; AWS WAF log fields;
the GuardDuty finding JSON; the Kubernetes audit Event), not the Rust
tokenizer. Only the column names, types and order come from the Rust table
definitions (crates/core/src/tables/*.rs). It is the companion of
cloudtrail_reference.py and flow_dns_reference.py and follows their
conventions.

Usage
-----
  extra_tables_reference.py --table TABLE PATH...
      TABLE is one of s3access, alb, nlb, clb, waf, guardduty, eks_audit.
  extra_tables_reference.py --table TABLE --line-numbers PATH...
      The same rows, each as {"file": F, "line": N, "row": {...}} (for
      scripts/dev/compare_extra_tables.py).
  extra_tables_reference.py --table TABLE --columns
      Prints the table's columns and types as JSON [[name, type], ...] (the
      types spelt as `irprep query --schema` spells them).

PATH is a file or a directory. Directories are walked recursively and every
regular file under them is read (except *.md files: the fixture READMEs), in
the order of the sorted paths; a file named on the command line is read
whatever its name. The files are taken to be the table's files (the engine
also picks, from the S3 layout or from a file's first line, which table
reads a file; the reference does not), with one exception: in the load
balancer layout .../AWSLogs/<account>/elasticloadbalancing/... the file name
says which of the three ELB tables the file belongs to (a name with `_app.`
or starting with `conn_log`: alb; with `_net.`: nlb; any other: clb), and a
file of another ELB table is not read. Gzip is detected by its magic bytes
(1f 8b).

Lines that cannot be read are skipped and reported on stderr as
"<file>:<line>: <reason>"; a file that cannot be read at all as
"<file>: file skipped: <reason>". The exit status stays 0.

Output: a JSON array of the rows, in file order then line order. Each row is
an object {column: value} holding every column of the table in table order,
the partition columns last. Values: SQL NULL is null; strings, integers and
floats are JSON strings and numbers (the engine stores float columns as
float32: compare them with a tolerance); a struct is an object holding every
one of its fields (a missing one null); an array is a list.

Lines (every table)
-------------------
A file is split into lines at '\\n'; a trailing '\\r' is dropped. A line that
is not UTF-8 is reported and skipped ("not UTF-8"). A line that is empty or
holds only spaces, tabs and '\\r' is ignored. No byte-order mark is removed
(AWS writes none; a line that starts with one is not a valid line). Line
numbers count every line from 1.

The space-delimited tables: s3access, alb, nlb, clb
---------------------------------------------------
Fields are separated by runs of spaces (' '; a tab is an ordinary
character); spaces before the first field and after the last are ignored.
The fields are read left to right, each by how its format documents it:
* A bare field runs to the next space. Quotes and brackets inside it are
  ordinary characters, kept as written (NLB's alpn_client_preference_list is
  `"h2","http/1.1"`).
* A field documented as quoted, when it starts with '"', runs to the
  closing '"': the first '"' that is not escaped by a backslash (a
  backslash escapes the character after it, so `\\"` and `\\\\` do not
  end the field). The value is the raw text between the quotes, escapes
  kept as written (`"Mozilla \\"x\\""` gives `Mozilla \\"x\\"`). A quoted
  field that does not start with '"' is read as a bare field (S3 writes a
  bare `-` for the Request-URI, Referer and User-Agent of a
  BATCH.DELETE.OBJECT record). A line whose quote is never closed is bad
  ("unterminated quoted field"), and so is one whose closing quote is
  followed by anything but a space or the end of the line.
* s3access's time is bracketed: a field that starts with '[' runs to the
  first ']' (the value is the text between, e.g. `06/Feb/2019:00:00:38
  +0000`); no ']' makes the line bad, as does a ']' followed by anything but
  a space or the end of the line. Without '[' it is read as a bare field.
* Any value that is exactly `-` (bare, or quoted as "-") is NULL. An empty
  quoted or bracketed value is the empty string.
* client:port style fields (ALB client and target, NLB client and
  destination, CLB client and backend) become two columns, the address and
  an int port: `-` gives both NULL; otherwise the field splits at its last
  ':' (so `2001:db8::1:443` gives 2001:db8::1 and 443, `[2001:db8::2]:80`
  gives [2001:db8::2] and 80); without ':' the whole field is the address
  and the port is NULL; an empty address or port is NULL; a port that is not
  a number makes the line bad.
* The ALB and CLB "request" field (quoted) becomes request_verb, request_url
  and request_proto: when the value holds at least two spaces, the verb is
  the text before the first space, the protocol the text after the last
  space and the URL the text between (which may itself hold spaces, or be
  empty); a value with fewer than two spaces is all URL (verb and protocol
  NULL); a NULL request gives three NULLs, and so does the TCP/SSL
  listener's documented "- - - " (no request at all). Otherwise the parts
  are not themselves turned into NULL.
* Integer columns (int: 32-bit, bigint: 64-bit) hold an optionally signed
  ASCII decimal integer. A value that is not one makes the line bad ("field
  X is not a number"); so does a bigint value outside the 64-bit range; an
  int value outside the 32-bit range (but within 64 bits) is NULL. Float
  columns hold an optionally signed decimal number with an optional
  fraction and exponent (`0.000`, `-1`, `.5`, `1e3`); anything else
  (including NaN and inf) makes the line bad; a number beyond the float32
  range is NULL.
* Fields beyond the documented list are ignored (AWS adds new fields at the
  end of a line). A line with fewer fields than the documented list has its
  missing trailing fields NULL when it has at least the required ones
  (s3access 18: bucket owner .. version id; alb 16: type .. target group
  ARN; nlb 18: type .. domain name; clb 11: time .. sent bytes); with fewer
  it is bad ("N fields where at least R are expected"). A client:port or
  request field counts as one field.

Which lines belong to which ELB table (a file may mix them, e.g. outside the
S3 layout): a line whose first field is http, https, h2, grpcs, ws or wss is
an ALB line; `tls` an NLB line; an ISO 8601 time (YYYY-MM-DDTHH:MM:SS with
an optional fraction and an optional Z or +hh:mm offset) followed by a field
holding neither '.' nor ':' (a load balancer name) a CLB line; an ISO time
followed by a field holding '.' or ':' (an IP address) an ALB connection-log
line, which no table reads. Each table reads its own lines; a line of a
sibling ELB table is simply not a row of this table (no report); the alb
table reports the connection-log lines of a file once, as
"<file>: N ALB connection-log line(s) skipped: no table reads them"; a line
of no ELB shape is reported by each table as "not a line of the T table".

The JSON tables: waf, guardduty, eks_audit
------------------------------------------
* One JSON object per line (RFC 8259, strict: no NaN, no leading zeros, no
  trailing commas or text, no lone surrogates). Invalid JSON is reported
  ("invalid JSON: ...") and skipped, as is a JSON value that is not an
  object ("record is not a JSON object").
* A column holds the value of its camelCase source key (the Rust definition
  gives name -> key, e.g. webaclid <- webaclId, auditid <- auditID). Keys are
  matched exactly (case-sensitive). Of duplicate keys the last counts at the
  top level, the first inside a struct (RFC 8259 leaves duplicates open; this
  is what the engine and flow_dns_reference.py do). A missing key or JSON
  null is NULL.
* String columns (and string struct fields and array elements): a JSON
  string as is; a number keeps its source text (`1.50` stays "1.50");
  true/false become "true"/"false"; an object or array becomes its JSON text
  exactly as written.
* JSON-text columns (typed string; in Rust ColType::JsonText, made with
  j(...): waf rulematchdetails, nonterminatingmatchingrules and excludedrules
  of ruleGroupList, requestheadersinserted, oversizefields; guardduty
  resource and service; eks_audit user.extra, requestobject, responseobject,
  annotations) hold the exact source text of the value, whatever its type,
  whitespace and escapes kept (`{"a" : 1}` stays `{"a" : 1}`, a string keeps
  its quotes: `"abc"`); JSON null is NULL.
* int and bigint columns: a JSON number written as an integer (no fraction
  or exponent), or a string holding an optionally signed ASCII decimal
  integer (surrounding whitespace allowed: "403" and " 403 " give 403),
  within the column's range; anything else (200.0, 2e2, true, "abc", an
  out-of-range value) is NULL.
* float columns (guardduty severity): a JSON number, or a string holding a
  decimal number (surrounding whitespace allowed); anything else, and a
  value beyond the float32 range, is NULL.
* struct columns: a JSON object gives a struct holding only the listed
  fields (each by the same rules; a missing one NULL; {} is a struct whose
  fields are all NULL); anything else is NULL.
* array columns: a JSON array gives a list whose elements follow the rules
  of the element type (an element that is not an object in an array of
  structs is a NULL element); anything else is NULL.

Partitions
----------
From the S3 key when the path is in the service's layout (the last AWSLogs
segment of the path counts; an Organizations `o-...` segment after it is
allowed; an account is twelve digits; a region looks like us-east-1, at most
40 characters; a name (bucket, web ACL, cluster) is 1-128 of [A-Za-z0-9._-];
yyyy/mm/dd are 4, 2 and 2 digits, giving date_partition yyyy/mm/dd):
* ELB (alb, nlb, clb): AWSLogs/<account>/elasticloadbalancing/<region>/
  <yyyy>/<mm>/<dd>/<file> -> account_partition, region_partition,
  date_partition.
* WAF: AWSLogs/<account>/WAFLogs/<region|cloudfront>/<web ACL>/<yyyy>/<mm>/
  <dd>/<HH>/<mm>/<file> (at least one segment after dd) -> account, region
  (`cloudfront` for CloudFront), webacl_partition, date.
* GuardDuty: AWSLogs/<account>/GuardDuty/<region>/<yyyy>/<mm>/<dd>/<file>.
* EKS: AWSLogs/<account>/eks-audit/<region>/<cluster>/<yyyy>/<mm>/<dd>/<file>
  -> account, region, cluster_partition, date.
* S3 server access logs, date-based keys: .../<account>/<region>/<bucket>/
  <yyyy>/<mm>/<dd>/<yyyy>-<mm>-<dd>-<hh>-<mm>-<ss>-<16 to 64 hex digits>
  (the file's date equal to the folders') -> account, region,
  bucket_partition, date.
Otherwise from the record (each table's `fallback` list in the Rust):
* s3access: account and region NULL, bucket_partition = bucket_name,
  date_partition = the UTC day of requestdatetime (`06/Feb/2019:00:00:38
  +0000`, English month abbreviations; the offset is applied).
* alb: account = the account of target_group_arn, region = its region; nlb:
  the same from chosen_cert_arn; clb: account and region NULL. date = the
  UTC day of `time` (ISO 8601; a time without an offset is UTC).
* waf: account and region from webaclid, webacl_partition NULL, date = the
  UTC day of timestamp (epoch milliseconds).
* guardduty: account = accountid, region = region (the column values, even
  when empty), date = the UTC day of updatedat.
* eks_audit: account, region and cluster NULL, date = the UTC day of
  requestreceivedtimestamp.
An ARN's account is its fifth ':'-separated part when that is twelve ASCII
digits, its region the fourth when it is not empty (and at most 40
characters); a value that does not start with `arn:` has neither. An ISO
time for a date is YYYY-MM-DDTHH:MM:SS with an optional fraction and an
optional Z or +hh:mm / -hh:mm offset, and a valid calendar date; any other
time (or a NULL one) gives a NULL date.
"""

import argparse
import datetime
import gzip
import json
import math
import os
import re
import struct
import sys

# ---------------------------------------------------------------------------
# Column types

STR, INT, BIGINT, FLOAT, JSONTEXT = "string", "int", "bigint", "float", "jsontext"
INT32 = (-(2 ** 31), 2 ** 31 - 1)
INT64 = (-(2 ** 63), 2 ** 63 - 1)


def Struct(*fields):
    return ("struct", list(fields))


def Array(item):
    return ("array", item)


def type_name(t):
    """The type as `irprep query --schema` spells it."""
    if t == JSONTEXT:
        return "string"
    if isinstance(t, tuple) and t[0] == "struct":
        return "struct<%s>" % ",".join("%s:%s" % (n, type_name(ft)) for n, _, ft in t[1])
    if isinstance(t, tuple) and t[0] == "array":
        return "array<%s>" % type_name(t[1])
    return t


# ---------------------------------------------------------------------------
# Space-delimited tables: (column, type, token kind)

BARE, QUOTED, BRACKETED, REQUEST = "bare", "quoted", "bracketed", "request"


def HOSTPORT(port_column):
    return ("hostport", port_column)


S3ACCESS_FIELDS = [
    ("bucketowner", STR, BARE), ("bucket_name", STR, BARE), ("requestdatetime", STR, BRACKETED),
    ("remoteip", STR, BARE), ("requester", STR, BARE), ("requestid", STR, BARE), ("operation", STR, BARE),
    ("key", STR, BARE), ("request_uri", STR, QUOTED), ("httpstatus", INT, BARE), ("errorcode", STR, BARE),
    ("bytessent", BIGINT, BARE), ("objectsize", BIGINT, BARE), ("totaltime", BIGINT, BARE),
    ("turnaroundtime", BIGINT, BARE), ("referrer", STR, QUOTED), ("useragent", STR, QUOTED),
    ("versionid", STR, BARE), ("hostid", STR, BARE), ("sigv", STR, BARE), ("ciphersuite", STR, BARE),
    ("authtype", STR, BARE), ("endpoint", STR, BARE), ("tlsversion", STR, BARE),
    ("accesspointarn", STR, BARE), ("aclrequired", STR, BARE), ("sourceregion", STR, BARE),
]

ALB_FIELDS = [
    ("type", STR, BARE), ("time", STR, BARE), ("elb", STR, BARE),
    ("client_ip", STR, HOSTPORT("client_port")), ("target_ip", STR, HOSTPORT("target_port")),
    ("request_processing_time", FLOAT, BARE), ("target_processing_time", FLOAT, BARE),
    ("response_processing_time", FLOAT, BARE), ("elb_status_code", INT, BARE),
    ("target_status_code", STR, BARE), ("received_bytes", BIGINT, BARE), ("sent_bytes", BIGINT, BARE),
    ("request", STR, REQUEST), ("user_agent", STR, QUOTED), ("ssl_cipher", STR, BARE),
    ("ssl_protocol", STR, BARE), ("target_group_arn", STR, BARE), ("trace_id", STR, QUOTED),
    ("domain_name", STR, QUOTED), ("chosen_cert_arn", STR, QUOTED), ("matched_rule_priority", STR, BARE),
    ("request_creation_time", STR, BARE), ("actions_executed", STR, QUOTED), ("redirect_url", STR, QUOTED),
    ("lambda_error_reason", STR, QUOTED), ("target_port_list", STR, QUOTED),
    ("target_status_code_list", STR, QUOTED), ("classification", STR, QUOTED),
    ("classification_reason", STR, QUOTED), ("conn_trace_id", STR, BARE),
    ("transformed_host", STR, QUOTED), ("transformed_uri", STR, QUOTED),
    ("request_transform_status", STR, QUOTED),
]

NLB_FIELDS = [
    ("type", STR, BARE), ("version", STR, BARE), ("time", STR, BARE), ("elb", STR, BARE),
    ("listener", STR, BARE), ("client_ip", STR, HOSTPORT("client_port")),
    ("destination_ip", STR, HOSTPORT("destination_port")), ("connection_time", BIGINT, BARE),
    ("tls_handshake_time", BIGINT, BARE), ("received_bytes", BIGINT, BARE), ("sent_bytes", BIGINT, BARE),
    ("incoming_tls_alert", STR, BARE), ("chosen_cert_arn", STR, BARE), ("chosen_cert_serial", STR, BARE),
    ("tls_cipher", STR, BARE), ("tls_protocol_version", STR, BARE), ("tls_named_group", STR, BARE),
    ("domain_name", STR, BARE), ("alpn_fe_protocol", STR, BARE), ("alpn_be_protocol", STR, BARE),
    ("alpn_client_preference_list", STR, BARE), ("tls_connection_creation_time", STR, BARE),
]

CLB_FIELDS = [
    ("time", STR, BARE), ("elb", STR, BARE), ("client_ip", STR, HOSTPORT("client_port")),
    ("backend_ip", STR, HOSTPORT("backend_port")), ("request_processing_time", FLOAT, BARE),
    ("backend_processing_time", FLOAT, BARE), ("response_processing_time", FLOAT, BARE),
    ("elb_status_code", INT, BARE), ("backend_status_code", INT, BARE), ("received_bytes", BIGINT, BARE),
    ("sent_bytes", BIGINT, BARE), ("request", STR, REQUEST), ("user_agent", STR, QUOTED),
    ("ssl_cipher", STR, BARE), ("ssl_protocol", STR, BARE),
]

ELB_PARTITIONS = ["account_partition", "region_partition", "date_partition"]

TEXT_TABLES = {
    "s3access": {"fields": S3ACCESS_FIELDS, "required": 18,
                 "partitions": ["account_partition", "region_partition", "bucket_partition", "date_partition"]},
    "alb": {"fields": ALB_FIELDS, "required": 16, "partitions": ELB_PARTITIONS},
    "nlb": {"fields": NLB_FIELDS, "required": 18, "partitions": ELB_PARTITIONS},
    "clb": {"fields": CLB_FIELDS, "required": 11, "partitions": ELB_PARTITIONS},
}


def text_columns(fields):
    """The table's columns [(name, type)] from its field list."""
    out = []
    for name, kind, tok in fields:
        if tok == REQUEST:
            out += [("request_verb", STR), ("request_url", STR), ("request_proto", STR)]
        elif isinstance(tok, tuple):
            out += [(name, STR), (tok[1], INT)]
        else:
            out.append((name, kind))
    return out


# ---------------------------------------------------------------------------
# JSON tables: (column, JSON key, type)


def _match_details():
    return Array(Struct(("conditiontype", "conditionType", STR), ("sensitivitylevel", "sensitivityLevel", STR),
                        ("location", "location", STR), ("matcheddata", "matchedData", Array(STR))))


def _challenge():
    return Struct(("responsecode", "responseCode", INT), ("solvetimestamp", "solveTimestamp", BIGINT),
                  ("failurereason", "failureReason", STR))


WAF_COLUMNS = [
    ("timestamp", "timestamp", BIGINT),
    ("formatversion", "formatVersion", INT),
    ("webaclid", "webaclId", STR),
    ("terminatingruleid", "terminatingRuleId", STR),
    ("terminatingruletype", "terminatingRuleType", STR),
    ("action", "action", STR),
    ("terminatingrulematchdetails", "terminatingRuleMatchDetails", _match_details()),
    ("httpsourcename", "httpSourceName", STR),
    ("httpsourceid", "httpSourceId", STR),
    ("rulegrouplist", "ruleGroupList", Array(Struct(
        ("rulegroupid", "ruleGroupId", STR),
        ("terminatingrule", "terminatingRule", Struct(
            ("ruleid", "ruleId", STR), ("action", "action", STR),
            ("rulematchdetails", "ruleMatchDetails", JSONTEXT))),
        ("nonterminatingmatchingrules", "nonTerminatingMatchingRules", JSONTEXT),
        ("excludedrules", "excludedRules", JSONTEXT)))),
    ("ratebasedrulelist", "rateBasedRuleList", Array(Struct(
        ("ratebasedruleid", "rateBasedRuleId", STR), ("ratebasedrulename", "rateBasedRuleName", STR),
        ("limitkey", "limitKey", STR), ("maxrateallowed", "maxRateAllowed", BIGINT)))),
    ("nonterminatingmatchingrules", "nonTerminatingMatchingRules", Array(Struct(
        ("ruleid", "ruleId", STR), ("action", "action", STR), ("overriddenaction", "overriddenAction", STR),
        ("rulematchdetails", "ruleMatchDetails", _match_details())))),
    ("requestheadersinserted", "requestHeadersInserted", JSONTEXT),
    ("responsecodesent", "responseCodeSent", INT),
    ("httprequest", "httpRequest", Struct(
        ("clientip", "clientIp", STR), ("country", "country", STR),
        ("headers", "headers", Array(Struct(("name", "name", STR), ("value", "value", STR)))),
        ("uri", "uri", STR), ("args", "args", STR), ("httpversion", "httpVersion", STR),
        ("httpmethod", "httpMethod", STR), ("requestid", "requestId", STR), ("fragment", "fragment", STR),
        ("scheme", "scheme", STR), ("host", "host", STR))),
    ("labels", "labels", Array(Struct(("name", "name", STR)))),
    ("captcharesponse", "captchaResponse", _challenge()),
    ("challengeresponse", "challengeResponse", _challenge()),
    ("ja3fingerprint", "ja3Fingerprint", STR),
    ("ja4fingerprint", "ja4Fingerprint", STR),
    ("oversizefields", "oversizeFields", JSONTEXT),
    ("requestbodysize", "requestBodySize", BIGINT),
    ("requestbodysizeinspectedbywaf", "requestBodySizeInspectedByWAF", BIGINT),
]

GUARDDUTY_COLUMNS = [
    ("schemaversion", "schemaVersion", STR), ("accountid", "accountId", STR), ("region", "region", STR),
    ("partition", "partition", STR), ("id", "id", STR), ("arn", "arn", STR), ("type", "type", STR),
    ("resource", "resource", JSONTEXT), ("service", "service", JSONTEXT), ("severity", "severity", FLOAT),
    ("createdat", "createdAt", STR), ("updatedat", "updatedAt", STR), ("title", "title", STR),
    ("description", "description", STR),
]


def _k8s_user():
    return Struct(("username", "username", STR), ("uid", "uid", STR), ("groups", "groups", Array(STR)),
                  ("extra", "extra", JSONTEXT))


EKS_AUDIT_COLUMNS = [
    ("kind", "kind", STR), ("apiversion", "apiVersion", STR), ("level", "level", STR),
    ("auditid", "auditID", STR), ("stage", "stage", STR), ("requesturi", "requestURI", STR),
    ("verb", "verb", STR), ("user", "user", _k8s_user()), ("impersonateduser", "impersonatedUser", _k8s_user()),
    ("sourceips", "sourceIPs", Array(STR)), ("useragent", "userAgent", STR),
    ("objectref", "objectRef", Struct(
        ("resource", "resource", STR), ("namespace", "namespace", STR), ("name", "name", STR),
        ("uid", "uid", STR), ("apigroup", "apiGroup", STR), ("apiversion", "apiVersion", STR),
        ("resourceversion", "resourceVersion", STR), ("subresource", "subresource", STR))),
    ("responsestatus", "responseStatus", Struct(
        ("status", "status", STR), ("message", "message", STR), ("reason", "reason", STR),
        ("code", "code", INT))),
    ("requestobject", "requestObject", JSONTEXT), ("responseobject", "responseObject", JSONTEXT),
    ("requestreceivedtimestamp", "requestReceivedTimestamp", STR), ("stagetimestamp", "stageTimestamp", STR),
    ("annotations", "annotations", JSONTEXT),
]

JSON_TABLES = {
    "waf": {"columns": WAF_COLUMNS,
            "partitions": ["account_partition", "region_partition", "webacl_partition", "date_partition"]},
    "guardduty": {"columns": GUARDDUTY_COLUMNS,
                  "partitions": ["account_partition", "region_partition", "date_partition"]},
    "eks_audit": {"columns": EKS_AUDIT_COLUMNS,
                  "partitions": ["account_partition", "region_partition", "cluster_partition", "date_partition"]},
}

TABLES = sorted(list(TEXT_TABLES) + list(JSON_TABLES))


def table_columns(table):
    """[(name, type)] of every column, partitions last."""
    if table in TEXT_TABLES:
        spec = TEXT_TABLES[table]
        cols = text_columns(spec["fields"])
    else:
        spec = JSON_TABLES[table]
        cols = [(name, kind) for name, _, kind in spec["columns"]]
    return cols + [(p, STR) for p in spec["partitions"]]


# ---------------------------------------------------------------------------
# Files


def report(message):
    print(message, file=sys.stderr)


def iter_files(paths):
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                for name in files:
                    full = os.path.join(root, name)
                    if os.path.isfile(full) and not name.endswith(".md"):
                        found.append(full)
            for full in sorted(found):
                yield full
        else:
            yield path


def read_bytes(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def iter_lines(path):
    """(line number, text or None if not UTF-8) of the non-blank lines of a file."""
    data = read_bytes(path)
    for number, raw in enumerate(data.split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip(b" \t\r"):
            continue
        try:
            yield number, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield number, None


# ---------------------------------------------------------------------------
# S3 key layouts


def _is_account(text):
    return len(text) == 12 and text.isascii() and text.isdigit()


def _is_num(text, length):
    return len(text) == length and text.isascii() and text.isdigit()


def _is_region(text):
    parts = text.split("-")
    return (
        len(text) <= 40
        and len(parts) >= 3
        and all(p and all(c in "abcdefghijklmnopqrstuvwxyz0123456789" for c in p) for p in parts)
        and parts[-1].isdigit()
    )


_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_S3_LOG_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9]{2}-[0-9A-Fa-f]{16,64}")

SERVICE_FOLDER = {"alb": "elasticloadbalancing", "nlb": "elasticloadbalancing", "clb": "elasticloadbalancing",
                  "waf": "WAFLogs", "guardduty": "GuardDuty", "eks_audit": "eks-audit"}
NAMED = {"waf": "webacl_partition", "eks_audit": "cluster_partition"}


def _segments(path):
    return [s for s in path.replace("\\", "/").split("/") if s]


def _awslogs(segs):
    """(account, service, rest) after the last AWSLogs segment, or None."""
    positions = [i for i, s in enumerate(segs) if s == "AWSLogs"]
    if not positions:
        return None
    rest = segs[positions[-1] + 1:]
    if rest and rest[0].startswith("o-") and not _is_account(rest[0]):
        rest = rest[1:]
    if len(rest) < 2 or not _is_account(rest[0]):
        return None
    return rest[0], rest[1], rest[2:]


def elb_table_of_path(path):
    """The ELB table a file in the load balancer layout belongs to, or None outside it."""
    segs = _segments(path)
    found = _awslogs(segs)
    if found is None or found[1] != "elasticloadbalancing":
        return None
    name = segs[-1]
    if "_app." in name or name.startswith("conn_log"):
        return "alb"
    if "_net." in name:
        return "nlb"
    return "clb"


def path_partitions(path, table):
    """Partition values a path in the table's S3 layout carries, or None."""
    segs = _segments(path)
    if table == "s3access":
        if len(segs) < 7 or not _S3_LOG_NAME.fullmatch(segs[-1]):
            return None
        account, region, bucket, year, month, day = segs[-7:-1]
        if (_is_account(account) and _is_region(region) and _NAME.fullmatch(bucket) and _is_num(year, 4)
                and _is_num(month, 2) and _is_num(day, 2)
                and segs[-1].startswith("%s-%s-%s-" % (year, month, day))):
            return {"account_partition": account, "region_partition": region, "bucket_partition": bucket,
                    "date_partition": "%s/%s/%s" % (year, month, day)}
        return None
    found = _awslogs(segs)
    if found is None or found[1] != SERVICE_FOLDER[table]:
        return None
    account, _, rest = found
    if not rest:
        return None
    region = rest[0]
    if not (_is_region(region) or (table == "waf" and region == "cloudfront")):
        return None
    out = {"account_partition": account, "region_partition": region}
    if table in NAMED:
        if len(rest) < 2 or not _NAME.fullmatch(rest[1]):
            return None
        out[NAMED[table]] = rest[1]
        rest = rest[2:]
    else:
        rest = rest[1:]
    # yyyy/mm/dd, then at least the file name (WAF: HH/mm/file).
    if len(rest) < 4 or not (_is_num(rest[0], 4) and _is_num(rest[1], 2) and _is_num(rest[2], 2)):
        return None
    out["date_partition"] = "%s/%s/%s" % (rest[0], rest[1], rest[2])
    return out


# ---------------------------------------------------------------------------
# Times and ARNs

_ISO = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
                  r"(Z|[+-][0-9]{2}:?[0-9]{2})?")
_CLF = re.compile(r"([0-9]{2})/([A-Z][a-z]{2})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})")
_MONTHS = {m: i for i, m in enumerate(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def _utc_day(dt, offset_minutes):
    try:
        day = (dt - datetime.timedelta(minutes=offset_minutes)).date()
    except OverflowError:
        return None
    return "%04d/%02d/%02d" % (day.year, day.month, day.day)


def is_iso_time(text):
    return bool(_ISO.fullmatch(text))


def iso_day(text):
    """yyyy/MM/dd (UTC) of an ISO 8601 time, or None."""
    m = _ISO.fullmatch(text) if isinstance(text, str) else None
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    zone = m.group(8)
    offset = 0
    if zone and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = int(digits[:2]) * 60 + int(digits[2:])
        if zone[0] == "-":
            offset = -offset
    try:
        dt = datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    return _utc_day(dt, offset)


def clf_day(text):
    """yyyy/MM/dd (UTC) of a `06/Feb/2019:00:00:38 +0000` time, or None."""
    m = _CLF.fullmatch(text) if isinstance(text, str) else None
    if not m or m.group(2) not in _MONTHS:
        return None
    try:
        dt = datetime.datetime(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1)),
                               int(m.group(4)), int(m.group(5)), int(m.group(6)))
    except ValueError:
        return None
    offset = int(m.group(8)) * 60 + int(m.group(9))
    if m.group(7) == "-":
        offset = -offset
    return _utc_day(dt, offset)


def millis_day(value):
    if value is None:
        return None
    try:
        dt = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=value)
    except (OverflowError, ValueError):
        return None
    return "%04d/%02d/%02d" % (dt.year, dt.month, dt.day)


def arn_part(arn, n):
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    if len(parts) <= n:
        return None
    part = parts[n]
    if not part or len(part) > 40:
        return None
    if n == 4 and not _is_account(part):
        return None
    return part


def arn_account(arn):
    return arn_part(arn, 4)


def arn_region(arn):
    return arn_part(arn, 3)


# ---------------------------------------------------------------------------
# Space-delimited lines

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


class BadLine(Exception):
    pass


def _split2(line):
    """The first two space-separated fields of a line ('' when absent)."""
    parts = [p for p in line.split(" ") if p]
    return (parts + ["", ""])[:2]


def elb_shape(line):
    """alb, nlb, clb, 'conn' (ALB connection log) or None (no ELB shape)."""
    first, second = _split2(line)
    if first in ("http", "https", "h2", "grpcs", "ws", "wss"):
        return "alb"
    if first == "tls":
        return "nlb"
    if is_iso_time(first):
        return "conn" if ("." in second or ":" in second) else "clb"
    return None


def tokenize(line, fields):
    """The raw values of the documented fields present on a line (None for `-`
    is applied later); raises BadLine."""
    values = []
    i, n = 0, len(line)
    for name, _, tok in fields:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        kind = QUOTED if tok == REQUEST else tok
        if kind == QUOTED and line[i] == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            if j >= n:
                raise BadLine("unterminated quoted field %s" % name)
            value = ("quoted", line[i + 1:j])
            i = j + 1
            if i < n and line[i] != " ":
                raise BadLine("text after the closing quote of field %s" % name)
        elif kind == BRACKETED and line[i] == "[":
            j = line.find("]", i + 1)
            if j < 0:
                raise BadLine("unterminated bracketed field %s" % name)
            value = ("quoted", line[i + 1:j])
            i = j + 1
            if i < n and line[i] != " ":
                raise BadLine("text after the closing bracket of field %s" % name)
        else:
            j = line.find(" ", i)
            if j < 0:
                j = n
            value = ("bare", line[i:j])
            i = j
        values.append(value[1])
    return values


def _number(name, kind, text):
    if text is None:
        return None
    if kind == FLOAT:
        if not _DECIMAL.fullmatch(text):
            raise BadLine("field %s is not a number: '%s'" % (name, text[:40]))
        value = float(text)
        return value if _float32_ok(value) else None
    if not _INTEGER.fullmatch(text):
        raise BadLine("field %s is not a number: '%s'" % (name, text[:40]))
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise BadLine("field %s is not a number: '%s'" % (name, text[:40]))
    if kind == INT and not INT32[0] <= value <= INT32[1]:
        return None
    return value


def parse_text_line(line, table):
    spec = TEXT_TABLES[table]
    fields = spec["fields"]
    raw = tokenize(line, fields)
    if len(raw) < spec["required"]:
        raise BadLine("%d fields where at least %d are expected" % (len(raw), spec["required"]))
    raw += [None] * (len(fields) - len(raw))
    row = {}
    for (name, kind, tok), text in zip(fields, raw):
        value = None if text == "-" else text
        if tok == REQUEST:
            verb = url = proto = None
            if value is not None and value.rstrip(" ") == "- - -":
                pass  # a TCP/SSL listener: no request line
            elif value is not None:
                first, last = value.find(" "), value.rfind(" ")
                if first >= 0 and last > first:
                    verb, url, proto = value[:first], value[first + 1:last], value[last + 1:]
                else:
                    url = value
            row["request_verb"], row["request_url"], row["request_proto"] = verb, url, proto
        elif isinstance(tok, tuple):
            host = port = None
            if value is not None:
                cut = value.rfind(":")
                if cut < 0:
                    host = value
                else:
                    host, port = value[:cut], value[cut + 1:]
                host = host or None
                port = _number(tok[1], INT, port or None)
            row[name], row[tok[1]] = host, port
        elif kind == STR:
            row[name] = value
        else:
            row[name] = _number(name, kind, value)
    return row


def text_fallback(table, row):
    if table == "s3access":
        return {"account_partition": None, "region_partition": None,
                "bucket_partition": row["bucket_name"], "date_partition": clf_day(row["requestdatetime"])}
    arn = {"alb": "target_group_arn", "nlb": "chosen_cert_arn"}.get(table)
    return {"account_partition": arn_account(row[arn]) if arn else None,
            "region_partition": arn_region(row[arn]) if arn else None,
            "date_partition": iso_day(row["time"])}


def read_text_file(path, table):
    partitions = path_partitions(path, table)
    elb = table in ("alb", "nlb", "clb")
    rows = []
    connection_lines = 0
    for number, line in iter_lines(path):
        where = "%s:%d" % (path, number)
        if line is None:
            report("%s: not UTF-8" % where)
            continue
        if elb:
            shape = elb_shape(line)
            if shape == "conn":
                connection_lines += 1
                continue
            if shape is None:
                report("%s: not a line of the %s table" % (where, table))
                continue
            if shape != table:
                continue
        try:
            row = parse_text_line(line, table)
        except BadLine as err:
            report("%s: %s" % (where, err))
            continue
        row.update(partitions if partitions is not None else text_fallback(table, row))
        row[LINE_KEY] = number
        rows.append(row)
    if table == "alb" and connection_lines:
        report("%s: %d ALB connection-log line(s) skipped: no table reads them" % (path, connection_lines))
    return rows


# ---------------------------------------------------------------------------
# JSON with source text


class JsonError(Exception):
    pass


class Node:
    """A parsed JSON value: kind (object, array, string, number, true, false,
    null), value (for an object a list of (key, Node) in source order) and
    the exact source text."""

    __slots__ = ("kind", "value", "raw")

    def __init__(self, kind, value, raw):
        self.kind, self.value, self.raw = kind, value, raw


_JSON_WS = " \t\n\r"
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
MAX_DEPTH = 128


class JsonParser:
    def __init__(self, text):
        self.text, self.pos = text, 0

    def fail(self, what):
        raise JsonError("%s at column %d" % (what, self.pos + 1))

    def skip_ws(self):
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _JSON_WS:
            pos += 1
        self.pos = pos

    def document(self):
        self.skip_ws()
        node = self.value(0)
        self.skip_ws()
        if self.pos != len(self.text):
            self.fail("trailing characters")
        return node

    def value(self, depth):
        if depth > MAX_DEPTH:
            self.fail("nested too deeply")
        text = self.text
        if self.pos >= len(text):
            self.fail("unexpected end of input")
        start, char = self.pos, text[self.pos]
        if char == "{":
            self.pos += 1
            members = []
            self.skip_ws()
            if self.pos < len(text) and text[self.pos] == "}":
                self.pos += 1
            else:
                while True:
                    self.skip_ws()
                    if self.pos >= len(text) or text[self.pos] != '"':
                        self.fail("expected a string key")
                    key = self.string()
                    self.skip_ws()
                    if self.pos >= len(text) or text[self.pos] != ":":
                        self.fail("expected ':'")
                    self.pos += 1
                    self.skip_ws()
                    members.append((key, self.value(depth + 1)))
                    self.skip_ws()
                    if self.pos < len(text) and text[self.pos] == ",":
                        self.pos += 1
                        continue
                    if self.pos < len(text) and text[self.pos] == "}":
                        self.pos += 1
                        break
                    self.fail("expected ',' or '}'")
            return Node("object", members, text[start:self.pos])
        if char == "[":
            self.pos += 1
            items = []
            self.skip_ws()
            if self.pos < len(text) and text[self.pos] == "]":
                self.pos += 1
            else:
                while True:
                    self.skip_ws()
                    items.append(self.value(depth + 1))
                    self.skip_ws()
                    if self.pos < len(text) and text[self.pos] == ",":
                        self.pos += 1
                        continue
                    if self.pos < len(text) and text[self.pos] == "]":
                        self.pos += 1
                        break
                    self.fail("expected ',' or ']'")
            return Node("array", items, text[start:self.pos])
        if char == '"':
            value = self.string()
            return Node("string", value, text[start:self.pos])
        for word in ("true", "false", "null"):
            if text.startswith(word, start):
                self.pos = start + len(word)
                return Node(word, None, word)
        m = _JSON_NUMBER.match(text, start)
        if m and m.end() > start:
            self.pos = m.end()
            return Node("number", m.group(0), m.group(0))
        self.fail("expected a value")

    def string(self):
        text = self.text
        self.pos += 1  # opening quote
        out = []
        while True:
            if self.pos >= len(text):
                self.fail("unterminated string")
            char = text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(out)
            if ord(char) < 0x20:
                self.fail("control character in a string")
            if char != "\\":
                out.append(char)
                self.pos += 1
                continue
            esc = text[self.pos + 1:self.pos + 2]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                self.pos += 2
                continue
            if esc != "u":
                self.fail("invalid escape")
            code = self.hex4(self.pos + 2)
            self.pos += 6
            if 0xD800 <= code <= 0xDBFF:
                if text[self.pos:self.pos + 2] != "\\u":
                    self.fail("lone leading surrogate")
                low = self.hex4(self.pos + 2)
                if not 0xDC00 <= low <= 0xDFFF:
                    self.fail("invalid surrogate pair")
                self.pos += 6
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            elif 0xDC00 <= code <= 0xDFFF:
                self.fail("lone trailing surrogate")
            out.append(chr(code))

    def hex4(self, at):
        digits = self.text[at:at + 4]
        if len(digits) != 4 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            self.fail("invalid \\u escape")
        return int(digits, 16)


def parse_json(text):
    return JsonParser(text).document()


# ---------------------------------------------------------------------------
# JSON values to column values


def _member(node, key, last):
    found = None
    for k, v in node.value:
        if k == key:
            found = v
            if not last:
                break
    return found


def _float32_ok(value):
    """Whether a double stays finite when stored as float32."""
    if not math.isfinite(value):
        return False
    try:
        return math.isfinite(struct.unpack("f", struct.pack("f", value))[0])
    except OverflowError:
        return False


def convert(node, kind):
    if node is None or node.kind == "null":
        return None
    if kind == STR:
        if node.kind == "string":
            return node.value
        if node.kind in ("true", "false"):
            return node.kind
        return node.raw
    if kind == JSONTEXT:
        return node.raw
    if kind in (INT, BIGINT):
        bounds = INT32 if kind == INT else INT64
        if node.kind == "number" and _INTEGER.fullmatch(node.value):
            value = int(node.value)
        elif node.kind == "string" and _INTEGER.fullmatch(node.value.strip(" \t\n\r")):
            value = int(node.value.strip(" \t\n\r"))
        else:
            return None
        return value if bounds[0] <= value <= bounds[1] else None
    if kind == FLOAT:
        if node.kind == "number":
            value = float(node.value)
        elif node.kind == "string" and _DECIMAL.fullmatch(node.value.strip(" \t\n\r")):
            value = float(node.value.strip(" \t\n\r"))
        else:
            return None
        return value if _float32_ok(value) else None
    if kind[0] == "struct":
        if node.kind != "object":
            return None
        return {name: convert(_member(node, key, last=False), sub) for name, key, sub in kind[1]}
    if kind[0] == "array":
        if node.kind != "array":
            return None
        return [convert(item, kind[1]) for item in node.value]
    raise AssertionError(kind)


def json_fallback(table, row):
    if table == "waf":
        return {"account_partition": arn_account(row["webaclid"]), "region_partition": arn_region(row["webaclid"]),
                "webacl_partition": None, "date_partition": millis_day(row["timestamp"])}
    if table == "guardduty":
        return {"account_partition": row["accountid"], "region_partition": row["region"],
                "date_partition": iso_day(row["updatedat"])}
    return {"account_partition": None, "region_partition": None, "cluster_partition": None,
            "date_partition": iso_day(row["requestreceivedtimestamp"])}


def read_json_file(path, table):
    partitions = path_partitions(path, table)
    columns = JSON_TABLES[table]["columns"]
    rows = []
    for number, line in iter_lines(path):
        where = "%s:%d" % (path, number)
        if line is None:
            report("%s: not UTF-8" % where)
            continue
        try:
            node = parse_json(line)
        except JsonError as err:
            report("%s: invalid JSON: %s" % (where, err))
            continue
        if node.kind != "object":
            report("%s: record is not a JSON object" % where)
            continue
        row = {name: convert(_member(node, key, last=True), kind) for name, key, kind in columns}
        row.update(partitions if partitions is not None else json_fallback(table, row))
        row[LINE_KEY] = number
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Main

LINE_KEY = "\0line"


def read_rows(table, paths, locate=False):
    """The rows of the files; with locate, (file, line, row) triples."""
    names = [name for name, _ in table_columns(table)]
    rows = []
    for path in iter_files(paths):
        if table in ("alb", "nlb", "clb"):
            owner = elb_table_of_path(path)
            if owner is not None and owner != table:
                continue
        try:
            if table in TEXT_TABLES:
                found = read_text_file(path, table)
            else:
                found = read_json_file(path, table)
        except (OSError, EOFError, gzip.BadGzipFile, ValueError) as err:
            report("%s: file skipped: %s" % (path, err))
            continue
        for row in found:
            clean = {name: row[name] for name in names}
            rows.append((path, row[LINE_KEY], clean) if locate else clean)
    return rows


def main(argv):
    parser = argparse.ArgumentParser(description="Reference rows of irprep's s3access, alb, nlb, clb, waf, "
                                                 "guardduty and eks_audit tables.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="log files or directories")
    parser.add_argument("--table", required=True, choices=TABLES)
    parser.add_argument("--columns", action="store_true", help="print the table's columns and types")
    parser.add_argument("--line-numbers", action="store_true",
                        help='print {"file": F, "line": N, "row": {...}} objects instead of bare rows')
    args = parser.parse_args(argv)
    if args.columns:
        json.dump([[name, type_name(kind)] for name, kind in table_columns(args.table)], sys.stdout)
        sys.stdout.write("\n")
        return 0
    if not args.paths:
        parser.error("no input PATH given")
    for path in args.paths:
        if not os.path.exists(path):
            parser.error("no such file or directory: %s" % path)
    rows = read_rows(args.table, args.paths, locate=args.line_numbers)
    if args.line_numbers:
        rows = [{"file": path, "line": line, "row": row} for path, line, row in rows]
    sys.stdout.write("[\n")
    sys.stdout.write(",\n".join(json.dumps(row, ensure_ascii=False) for row in rows))
    sys.stdout.write("\n]\n" if rows else "]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
