#!/usr/bin/env python3
"""Developer cross-check for content/detections (NOT the official test).

The official test lives in crates/cli/tests and runs the detections through
irprep's own engine. This script is a quick, independent second opinion:

  * loads CloudTrail events into a DuckDB table `cloudtrail` with the columns
    of content/README.md (lower-case names, structs with lower-case fields,
    JSON blobs as VARCHAR text, booleans as 'true'/'false' strings,
    eventtime normalised to YYYY-MM-DDTHH:MM:SSZ, partitions derived);
  * for every content/detections/**/*.yaml (or those matching the glob given
    as the first argument):
      - parses `sql` with sqlglot (read="athena") and fails on exp.Command
        (i.e. SQL sqlglot could not understand);
      - transpiles it to DuckDB and runs it
        (a) on each positive test source: the whole dataset (invictus / otrf)
            must return every listed event id; a fixture must return all of
            its events (or the listed ones);
        (b) on each negative fixture: none of its events may come back;
        (c) on the BENIGN set (invictus events labelled `benign` in
            labels-derived.csv + otrf events not made by the
            MordorNginxStack-BankingWAFRole session) and reports what fires,
            with severity.
  * exits non-zero on any failure.

Usage:
    python3 scripts/dev/detections_duckdb.py [glob] [-v]

    glob is matched against the path relative to content/detections
    (e.g. 'defense-evasion/*' or '*stop-logging*'); default: all.

The script (re)creates a venv at .venv-dev (duckdb, sqlglot, pyyaml) and
re-executes itself inside it when those modules are missing.
"""

import os
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VENV = os.path.join(REPO, ".venv-dev")


def _ensure_venv():
    try:
        import duckdb  # noqa: F401
        import sqlglot  # noqa: F401
        import yaml  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py) or os.environ.get("IRPREP_DEV_VENV"):
        sys.exit("duckdb/sqlglot/pyyaml missing even inside %s" % VENV)
    if not os.path.exists(py):
        print("creating venv %s ..." % VENV, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q", "duckdb", "sqlglot", "pyyaml"])
    env = dict(os.environ, IRPREP_DEV_VENV="1")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


_ensure_venv()

import csv  # noqa: E402
import fnmatch  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import tempfile  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

import duckdb  # noqa: E402
import sqlglot  # noqa: E402
import yaml  # noqa: E402
from sqlglot import exp  # noqa: E402

CONTENT = os.path.join(REPO, "content")
DETECTIONS = os.path.join(CONTENT, "detections")
FIXTURES = os.path.join(DETECTIONS, "fixtures")
DATASETS = os.path.abspath(os.path.join(REPO, "..", "shared", "datasets"))
if not os.path.isdir(DATASETS):
    DATASETS = "/work/shared/datasets"
INVICTUS_DIR = os.path.join(DATASETS, "invictus-aws-dataset")
OTRF_DIR = os.path.join(DATASETS, "otrf-security-datasets-aws")
OTRF_ATTACKER_ROLE = "MordorNginxStack-BankingWAFRole"

SEVERITIES = ("info", "low", "medium", "high", "critical")
TACTIC_DIRS = {
    "defense-evasion", "credential-access", "persistence", "privilege-escalation",
    "discovery", "execution", "exfiltration", "impact", "initial-access",
    "lateral-movement", "collection", "command-and-control", "reconnaissance",
    "resource-development",
}
REQUIRED_KEYS = ("id", "title", "description", "severity", "attack", "tactics", "source", "sql", "tests")

# ---------------------------------------------------------------------------
# Schema of the `cloudtrail` table (content/README.md).
#   "s"    -> VARCHAR leaf (scalars stringified, objects as JSON text)
#   "j"    -> VARCHAR holding the JSON text of the value
#   "b"    -> VARCHAR 'true' / 'false'
#   dict   -> STRUCT (keys are the lower-case field names)
#   [dict] -> LIST of STRUCT
# ---------------------------------------------------------------------------
S, J, B = "s", "j", "b"
SCHEMA = {
    "eventversion": S,
    "useridentity": {
        "type": S, "principalid": S, "arn": S, "accountid": S, "invokedby": S,
        "accesskeyid": S, "username": S,
        "onbehalfof": {"userid": S, "identitystorearn": S},
        "sessioncontext": {
            "attributes": {"mfaauthenticated": S, "creationdate": S},
            "sessionissuer": {"type": S, "principalid": S, "arn": S, "accountid": S, "username": S},
            "sourceidentity": S,
            "ec2roledelivery": S,
            "webidfederationdata": J,
        },
        "credentialid": S,
        "identityprovider": S,
    },
    "eventtime": S,
    "eventsource": S,
    "eventname": S,
    "awsregion": S,
    "sourceipaddress": S,
    "useragent": S,
    "errorcode": S,
    "errormessage": S,
    "requestparameters": J,
    "responseelements": J,
    "additionaleventdata": J,
    "requestid": S,
    "eventid": S,
    "resources": [{"arn": S, "accountid": S, "type": S}],
    "eventtype": S,
    "apiversion": S,
    "readonly": B,
    "recipientaccountid": S,
    "serviceeventdetails": J,
    "sharedeventid": S,
    "vpcendpointid": S,
    "vpcendpointaccountid": S,
    "eventcategory": S,
    "managementevent": B,
    "sessioncredentialfromconsole": B,
    "tlsdetails": {"tlsversion": S, "ciphersuite": S, "clientprovidedhostheader": S},
    "addendum": {"reason": S, "updatedfields": S, "originalrequestid": S, "originaleventid": S},
    "edgedevicedetails": J,
    "account_partition": S,
    "region_partition": S,
    "date_partition": S,
}


def duck_type(t):
    if isinstance(t, dict):
        return "STRUCT(%s)" % ", ".join('"%s" %s' % (k, duck_type(v)) for k, v in t.items())
    if isinstance(t, list):
        return duck_type(t[0]) + "[]"
    return "VARCHAR"


def _ci_get(d, key):
    if not isinstance(d, dict):
        return None
    if key in d:
        return d[key]
    for k, v in d.items():
        if k.lower() == key:
            return v
    return None


def _conv(t, v):
    if v is None:
        return None
    if isinstance(t, dict):
        if not isinstance(v, dict):
            return None
        return {k: _conv(sub, _ci_get(v, k)) for k, sub in t.items()}
    if isinstance(t, list):
        if not isinstance(v, list):
            return None
        return [_conv(t[0], x) for x in v]
    if t == J:
        return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
    if t == B:
        if isinstance(v, bool):
            return "true" if v else "false"
        return str(v).lower()
    # S
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def norm_time(s):
    if not s:
        return None
    s = str(s).strip()
    try:
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return s
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_row(rec):
    row = {k: _conv(t, _ci_get(rec, k)) for k, t in SCHEMA.items()}
    row["eventtime"] = norm_time(rec.get("eventTime") or rec.get("eventtime") or rec.get("@timestamp"))
    row["account_partition"] = row["recipientaccountid"]
    row["region_partition"] = row["awsregion"]
    row["date_partition"] = row["eventtime"][:10].replace("-", "/") if row["eventtime"] else None
    return row


def read_records(path):
    """CloudTrail delivery file ({"Records": [...]}) or NDJSON."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text_s = text.strip()
    if not text_s:
        return []
    try:
        doc = json.loads(text_s)
        if isinstance(doc, dict) and "Records" in doc:
            return list(doc["Records"])
        if isinstance(doc, list):
            return doc
        if isinstance(doc, dict):
            return [doc]
    except json.JSONDecodeError:
        pass
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# Data sets
# ---------------------------------------------------------------------------
_cache = {}


def invictus_records():
    if "invictus" not in _cache:
        recs = []
        for p in sorted(glob.glob(os.path.join(INVICTUS_DIR, "CloudTrail", "*.json"))):
            recs.extend(read_records(p))
        _cache["invictus"] = recs
    return _cache["invictus"]


def invictus_labels():
    if "labels" not in _cache:
        with open(os.path.join(INVICTUS_DIR, "labels-derived.csv"), newline="") as f:
            _cache["labels"] = {r["eventID"]: r for r in csv.DictReader(f)}
    return _cache["labels"]


def otrf_records():
    if "otrf" not in _cache:
        recs = []
        for p in sorted(glob.glob(os.path.join(OTRF_DIR, "*.json"))):
            recs.extend(read_records(p))
        _cache["otrf"] = recs
    return _cache["otrf"]


def benign_records():
    labels = invictus_labels()
    out = [r for r in invictus_records() if labels.get(r.get("eventID"), {}).get("label") == "benign"]
    for r in otrf_records():
        arn = (r.get("userIdentity") or {}).get("arn") or ""
        if OTRF_ATTACKER_ROLE not in arn:
            out.append(r)
    return out


DATASET_LOADERS = {"invictus": invictus_records, "otrf": otrf_records}

# ---------------------------------------------------------------------------
# DuckDB
# ---------------------------------------------------------------------------


class DB:
    def __init__(self):
        self.con = duckdb.connect(":memory:")
        self.tmpdir = tempfile.mkdtemp(prefix="irprep-dd-")
        self.loaded = None
        # --- shims for Athena functions sqlglot leaves as-is (SQL macros, no numpy needed) ---
        # IPv4 only: contains('10.0.0.0/8', CAST(ip AS IPADDRESS)); IPv6 / hostnames -> NULL.
        self.con.execute("""
            CREATE MACRO irprep_ipv4_int(s) AS
              CASE WHEN regexp_full_match(s, '[0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}[.][0-9]{1,3}')
                   THEN CAST(split_part(s, '.', 1) AS BIGINT) * 16777216
                      + CAST(split_part(s, '.', 2) AS BIGINT) * 65536
                      + CAST(split_part(s, '.', 3) AS BIGINT) * 256
                      + CAST(split_part(s, '.', 4) AS BIGINT) END
        """)
        self.con.execute("""
            CREATE MACRO irprep_ip_in_cidr(cidr, ip) AS
              irprep_ipv4_int(ip) // CAST(pow(2, 32 - CAST(split_part(cidr, '/', 2) AS INTEGER)) AS BIGINT)
              = irprep_ipv4_int(split_part(cidr, '/', 1))
                // CAST(pow(2, 32 - CAST(split_part(cidr, '/', 2) AS INTEGER)) AS BIGINT)
        """)
        self.con.execute("""
            CREATE MACRO irprep_is_ip(s) AS
              irprep_ipv4_int(s) IS NOT NULL OR regexp_full_match(s, '[0-9a-fA-F:]*:[0-9a-fA-F:.]*')
        """)
        # json_array_contains(json, value): Presto semantics (top-level element equal to value).
        self.con.execute("""
            CREATE MACRO json_array_contains(j, v) AS
              list_contains(
                list_transform(CAST(json_extract(CAST(j AS JSON), '$[*]') AS JSON[]),
                               lambda x: CASE WHEN json_type(x) = 'VARCHAR' THEN json_extract_string(x, '$')
                                         ELSE CAST(x AS VARCHAR) END),
                CAST(v AS VARCHAR))
        """)

    def load(self, key, records):
        if self.loaded == key:
            return
        path = os.path.join(self.tmpdir, "events.ndjson")
        with open(path, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(to_row(r)) + "\n")
        cols = ", ".join("'%s': '%s'" % (k, duck_type(t).replace("'", "''")) for k, t in SCHEMA.items())
        self.con.execute("DROP TABLE IF EXISTS cloudtrail")
        if records:
            self.con.execute(
                "CREATE TABLE cloudtrail AS SELECT * FROM read_json('%s', format='newline_delimited', "
                "columns={%s})" % (path, cols))
        else:
            self.con.execute("CREATE TABLE cloudtrail (%s)" % ", ".join(
                '"%s" %s' % (k, duck_type(t)) for k, t in SCHEMA.items()))
        self.loaded = key

    def run(self, sql):
        cur = self.con.execute(sql)
        names = [d[0].lower() for d in cur.description]
        return names, cur.fetchall()


def to_duckdb(sql):
    """Athena -> DuckDB via sqlglot, with AST shims for gaps."""
    tree = sqlglot.parse_one(sql, read="athena")

    def fix(node):
        # contains('10.0.0.0/8', CAST(ip AS IPADDRESS)) -> irprep_ip_in_cidr(cidr, ip)
        if isinstance(node, exp.ArrayContains):
            inner = node.expression
            if isinstance(inner, exp.Cast) and inner.to.this == exp.DataType.Type.IPADDRESS:
                return exp.Anonymous(this="irprep_ip_in_cidr", expressions=[node.this, inner.this])
        # try_cast(x AS IPADDRESS) IS NOT NULL style checks -> keep text, validated by irprep_is_ip
        if isinstance(node, exp.TryCast) and node.to.this == exp.DataType.Type.IPADDRESS:
            return exp.Case(ifs=[exp.If(this=exp.Anonymous(this="irprep_is_ip", expressions=[node.this]),
                                        true=node.this)])
        if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.IPADDRESS:
            return node.this
        return node

    tree = tree.transform(fix)
    return tree.sql(dialect="duckdb")


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


class Result:
    def __init__(self):
        self.failures = []
        self.benign_hits = []

    def fail(self, det, msg):
        self.failures.append((det, msg))
        print("  FAIL %s: %s" % (det, msg))


def evidence(db, det_id, duck_sql, res):
    try:
        names, rows = db.run(duck_sql)
    except Exception as e:  # noqa: BLE001
        res.fail(det_id, "DuckDB error on %s: %s" % (db.loaded, str(e).splitlines()[0]))
        return None
    if "eventid" not in names:
        res.fail(det_id, "result has no eventid column (columns: %s)" % names)
        return None
    i = names.index("eventid")
    si = names.index("severity") if "severity" in names else None
    out = {}
    for r in rows:
        sev = r[si] if si is not None else None
        if sev is not None and sev not in SEVERITIES:
            res.fail(det_id, "bad severity value %r for event %s" % (sev, r[i]))
        out.setdefault(r[i], sev)
    return out


def check_file(path, db, res, verbose, seen_ids):
    rel = os.path.relpath(path, DETECTIONS)
    failures_before = len(res.failures)
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except Exception as e:  # noqa: BLE001
        res.fail(rel, "YAML error: %s" % e)
        return
    if not isinstance(doc, dict):
        res.fail(rel, "not a mapping")
        return
    det = doc.get("id") or rel
    for k in REQUIRED_KEYS:
        if k not in doc:
            res.fail(det, "missing key %r" % k)
    if det in seen_ids:
        res.fail(det, "duplicate id (also in %s)" % seen_ids[det])
    seen_ids[det] = rel
    if not str(det).startswith("aws."):
        res.fail(det, "id should be aws.<source>.<kebab-name>")
    base = os.path.splitext(os.path.basename(path))[0]
    if base != det:
        res.fail(det, "file name %s.yaml does not match id" % base)
    folder = rel.split(os.sep)[0]
    if folder not in TACTIC_DIRS:
        res.fail(det, "folder %r is not a tactic folder" % folder)
    if folder not in (doc.get("tactics") or []):
        res.fail(det, "folder %r not among tactics %s" % (folder, doc.get("tactics")))
    if doc.get("severity") not in SEVERITIES:
        res.fail(det, "bad severity %r" % doc.get("severity"))
    for a in doc.get("attack") or []:
        if not re.fullmatch(r"T\d{4}(\.\d{3})?", str(a)):
            res.fail(det, "bad ATT&CK id %r" % a)
    if doc.get("source") != "cloudtrail":
        print("  skip %s: source %r (only cloudtrail handled)" % (det, doc.get("source")))
        return
    sql = doc.get("sql") or ""
    try:
        parsed = sqlglot.parse(sql, read="athena")
    except Exception as e:  # noqa: BLE001
        res.fail(det, "sqlglot cannot parse (athena): %s" % str(e).splitlines()[0])
        return
    if len(parsed) != 1 or parsed[0] is None:
        res.fail(det, "sql must be exactly one statement")
        return
    if isinstance(parsed[0], exp.Command):
        res.fail(det, "sqlglot parsed the SQL as an opaque Command (unsupported syntax)")
        return
    if "from cloudtrail" not in re.sub(r"\s+", " ", sql.lower()):
        res.fail(det, "sql does not read FROM cloudtrail")
    try:
        duck_sql = to_duckdb(sql)
    except Exception as e:  # noqa: BLE001
        res.fail(det, "transpile failed: %s" % e)
        return
    if verbose:
        print("    duckdb sql: %s" % duck_sql)

    tests = doc.get("tests") or {}
    positives = tests.get("positive") or []
    if not positives:
        res.fail(det, "no positive test")
    npos = 0
    for t in positives:
        if "dataset" in t:
            name = t["dataset"]
            if name not in DATASET_LOADERS:
                res.fail(det, "unknown dataset %r" % name)
                continue
            recs = DATASET_LOADERS[name]()
            ids = t.get("event_ids") or []
            if not ids:
                res.fail(det, "dataset test without event_ids")
                continue
            known = {r.get("eventID") for r in recs}
            for e in ids:
                if e not in known:
                    res.fail(det, "event id %s not in dataset %s" % (e, name))
            db.load("dataset:" + name, recs)
        elif "fixture" in t:
            fp = os.path.join(FIXTURES, t["fixture"])
            if not os.path.exists(fp):
                res.fail(det, "missing fixture %s" % t["fixture"])
                continue
            try:
                recs = read_records(fp)
            except Exception as e:  # noqa: BLE001
                res.fail(det, "fixture %s unreadable: %s" % (t["fixture"], e))
                continue
            ids = t.get("event_ids") or [r.get("eventID") for r in recs]
            db.load("fixture:" + fp, recs)
        else:
            res.fail(det, "positive test needs dataset or fixture: %r" % t)
            continue
        ev = evidence(db, det, duck_sql, res)
        if ev is None:
            continue
        missing = [e for e in ids if e not in ev]
        if verbose:
            for e in ids:
                if e in ev:
                    print("    hit %s severity=%s" % (e, ev[e] or doc.get("severity")))
            extra = sorted(set(ev) - set(ids))
            if extra:
                print("    (+%d other events in the evidence)" % len(extra))
        if missing:
            res.fail(det, "positive %s: %d/%d expected events missing: %s"
                     % (t.get("dataset") or t.get("fixture"), len(missing), len(ids), ", ".join(missing[:5])))
        npos += len(ids) - len(missing)
    nneg = 0
    for t in tests.get("negative") or []:
        if "fixture" not in t:
            res.fail(det, "negative test needs a fixture: %r" % t)
            continue
        fp = os.path.join(FIXTURES, t["fixture"])
        if not os.path.exists(fp):
            res.fail(det, "missing fixture %s" % t["fixture"])
            continue
        recs = read_records(fp)
        db.load("fixture:" + fp, recs)
        ev = evidence(db, det, duck_sql, res)
        if ev is None:
            continue
        bad = [r.get("eventID") for r in recs if r.get("eventID") in ev]
        if bad:
            res.fail(det, "negative %s: events fired: %s" % (t["fixture"], ", ".join(bad[:5])))
        nneg += len(recs)
    db.load("benign", benign_records())
    ev = evidence(db, det, duck_sql, res)
    if ev:
        sevs = {}
        for e, s in ev.items():
            s = s or doc.get("severity")
            sevs[s] = sevs.get(s, 0) + 1
        res.benign_hits.append((det, doc.get("severity"), sevs, sorted(ev)[:5]))
    status = "ok  " if len(res.failures) == failures_before else "BAD "
    print("  %s %-60s pos=%d neg-events=%d benign-hits=%d" % (status, det, npos, nneg, len(ev or {})))


def main(argv):
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    pattern = args[0] if args else "*"
    files = sorted(glob.glob(os.path.join(DETECTIONS, "**", "*.yaml"), recursive=True))
    files = [f for f in files if not os.path.relpath(f, DETECTIONS).startswith("fixtures" + os.sep)]
    sel = [f for f in files
           if fnmatch.fnmatch(os.path.relpath(f, DETECTIONS), pattern)
           or fnmatch.fnmatch(os.path.basename(f), pattern)
           or fnmatch.fnmatch(os.path.splitext(os.path.basename(f))[0], pattern)]
    if not sel:
        print("no detection matches %r" % pattern)
        return 1
    db = DB()
    res = Result()
    seen = {}
    for f in sel:
        check_file(f, db, res, verbose, seen)
    print()
    print("== benign set (%d events): detections that fire ==" % len(benign_records()))
    if not res.benign_hits:
        print("  none")
    for det, sev, sevs, sample in sorted(res.benign_hits, key=lambda x: -SEVERITIES.index(x[1])
                                         if x[1] in SEVERITIES else 0):
        print("  %-60s declared=%-8s hits=%s e.g. %s" % (det, sev, sevs, ", ".join(sample[:3])))
    print()
    print("%d detection file(s), %d failure(s)" % (len(sel), len(res.failures)))
    return 1 if res.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
