#!/usr/bin/env python3
"""Compare irprep's s3access, alb, nlb, clb, waf, guardduty and eks_audit rows
with tests/reference/extra_tables_reference.py, cell by cell (run by the test
`other_log_tables_match_the_python_reference`, and by hand).

Usage:
  tests/reference/compare_extra_tables.py [--irprep BIN] [--table T]... [PATH...]

Without PATH each table is compared on the shared Elastic sample files and on
tests/fixtures/<table>[-bad]/ (every ELB table reads every ELB fixture
directory, so that each also proves it leaves its siblings' lines alone).
With PATHs, every selected table reads those.

Every file is run on its own through both (the engine reads files in
parallel, so only the order of rows within a file is defined): rows are
compared in order, cell by cell (floats with a relative tolerance, as the
engine stores float32; a struct field the engine leaves out counts as NULL),
and so are the line numbers of the lines each reported as skipped. Then the
engine reads all the paths at once and must return the same rows as a
multiset, and its schema must list the reference's columns and types.
Exit status 1 if anything differs.
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/reference/ -> root
REFERENCE = os.path.join(ROOT, "tests", "reference", "extra_tables_reference.py")
DEFAULT_IRPREP = os.environ.get("IRPREP", "/work/.cache/irprep-target/debug/irprep")
DATASETS = os.environ.get("IRPREP_DATASETS", os.path.join(
    os.path.dirname(ROOT), "shared", "datasets", "elastic-integrations-aws-fixtures"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

TABLES = ["s3access", "alb", "nlb", "clb", "waf", "guardduty", "eks_audit"]
ELB_DIRS = ["elb"] + ["fixtures:%s%s" % (t, s) for t in ("alb", "nlb", "clb") for s in ("", "-bad")]
SOURCES = {
    "s3access": ["s3access", "fixtures:s3access", "fixtures:s3access-bad"],
    "alb": ELB_DIRS, "nlb": ELB_DIRS, "clb": ELB_DIRS,
    "waf": ["waf", "fixtures:waf", "fixtures:waf-bad"],
    "guardduty": ["guardduty", "fixtures:guardduty", "fixtures:guardduty-bad"],
    "eks_audit": ["kubernetes_audit", "fixtures:eks_audit", "fixtures:eks_audit-bad"],
}
REL_TOL = 1e-6

ENGINE_SKIP = re.compile(r"^irprep: warning: (.*?): byte \d+: line (\d+): (.*?)(?:: record skipped)?$")
ENGINE_CONN = re.compile(r"^irprep: warning: (.*?): (\d+) ALB connection-log line\(s\) skipped")
REF_SKIP = re.compile(r"^(.*?):(\d+): (.*)$")
REF_CONN = re.compile(r"^(.*): (\d+) ALB connection-log line\(s\) skipped")


def default_paths(table):
    out = []
    for source in SOURCES[table]:
        path = os.path.join(FIXTURES, source[9:]) if source.startswith("fixtures:") else os.path.join(DATASETS, source)
        if os.path.exists(path):
            out.append(path)
    return out


def files_of(paths):
    out = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, _, names in os.walk(path):
                found += [os.path.join(root, n) for n in names
                          if os.path.isfile(os.path.join(root, n)) and not n.endswith(".md")]
            out += sorted(found)
        else:
            out.append(path)
    return out


def run_reference(table, paths):
    proc = subprocess.run([sys.executable, REFERENCE, "--table", table, "--line-numbers"] + paths,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("reference failed on %s: %s" % (paths, proc.stderr))
    skipped, conn = set(), 0
    for line in proc.stderr.splitlines():
        m = REF_CONN.match(line)
        if m:
            conn += int(m.group(2))
            continue
        m = REF_SKIP.match(line)
        if m:
            skipped.add(int(m.group(2)))
    return json.loads(proc.stdout), skipped, conn


def run_engine(irprep, table, paths):
    args = [irprep, "query", "--format", "json"]
    for path in paths:
        args += ["--logs", path]
    proc = subprocess.run(args + ["SELECT * FROM %s" % table], capture_output=True, text=True)
    if proc.returncode not in (0, 3):
        sys.exit("irprep failed (exit %d) on %s: %s" % (proc.returncode, paths, proc.stderr))
    skipped, conn = set(), 0
    for line in proc.stderr.splitlines():
        m = ENGINE_CONN.match(line)
        if m:
            conn += int(m.group(2))
            continue
        m = ENGINE_SKIP.match(line)
        if m:
            skipped.add(int(m.group(2)))
    return json.loads(proc.stdout or "[]"), skipped, conn


def same(engine, ref):
    """Equal as cells: floats within the tolerance, NULL struct fields optional."""
    if isinstance(ref, float) or isinstance(engine, float):
        if isinstance(engine, str) and engine in ("inf", "-inf", "NaN"):
            engine = float(engine)
        if not isinstance(engine, (int, float)) or not isinstance(ref, (int, float)):
            return False
        if math.isnan(engine) or math.isnan(ref):
            return math.isnan(engine) and math.isnan(ref)
        return math.isclose(engine, ref, rel_tol=REL_TOL, abs_tol=1e-12)
    if isinstance(ref, dict):
        return isinstance(engine, dict) and set(engine) <= set(ref) and all(
            same(engine.get(k), v) for k, v in ref.items())
    if isinstance(ref, list):
        return isinstance(engine, list) and len(engine) == len(ref) and all(
            same(e, r) for e, r in zip(engine, ref))
    return type(engine) is type(ref) and engine == ref


def canonical(row, columns):
    def norm(value):
        if isinstance(value, float):
            return "%.6g" % value
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value
    return json.dumps({c: norm(row.get(c)) for c in columns}, sort_keys=True)


def brief(row):
    text = json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False)
    return text if len(text) <= 400 else text[:400] + "..."


def unmatched(table, path, engine, ref):
    """The rows of one side that the other lacks (when the row counts differ)."""
    if not ref and not engine:
        return []
    columns = list((ref[0]["row"] if ref else engine[0]))
    pending = {}
    for r in ref:
        pending.setdefault(canonical(r["row"], columns), []).append(r["line"])
    out = []
    for row in engine:
        lines = pending.get(canonical(row, columns))
        if lines:
            lines.pop(0)
        else:
            out.append("%s %s: engine row not in the reference: %s" % (table, path, brief(row)))
    for lines in pending.values():
        out += ["%s %s:%d: reference row not in the engine's output" % (table, path, n) for n in lines]
    return out


def compare_rows(table, path, engine, ref):
    out = []
    for erow, rrow in zip(engine, ref):
        for column, value in rrow["row"].items():
            if not same(erow.get(column), value):
                out.append("%s %s:%d column %s: engine %s, reference %s"
                           % (table, path, rrow["line"], column, json.dumps(erow.get(column), ensure_ascii=False),
                              json.dumps(value, ensure_ascii=False)))
        extra = set(erow) - set(rrow["row"])
        if extra:
            out.append("%s %s:%d: engine columns not in the reference: %s"
                       % (table, path, rrow["line"], sorted(extra)))
    return out


def compare_schema(irprep, table):
    proc = subprocess.run([irprep, "query", "--schema", "--format", "json"], capture_output=True, text=True)
    engine = [[r["column"], r["type"]] for r in json.loads(proc.stdout) if r["table"] == table]
    ref = json.loads(subprocess.run([sys.executable, REFERENCE, "--table", table, "--columns"],
                                    capture_output=True, text=True, check=True).stdout)
    if engine != ref:
        return ["%s: schema differs:\n  engine    %s\n  reference %s" % (table, engine, ref)]
    return []


def compare_table(irprep, table, paths, limit):
    problems = compare_schema(irprep, table)
    columns = None
    total_ref, total_cells = [], 0
    for path in files_of(paths):
        ref, ref_skipped, ref_conn = run_reference(table, [path])
        engine, eng_skipped, eng_conn = run_engine(irprep, table, [path])
        total_ref += [r["row"] for r in ref]
        if ref and columns is None:
            columns = list(ref[0]["row"])
        if len(engine) != len(ref):
            problems.append("%s %s: %d engine rows, %d reference rows (reference lines %s)"
                            % (table, path, len(engine), len(ref), [r["line"] for r in ref]))
            problems += unmatched(table, path, engine, ref)
        else:
            problems += compare_rows(table, path, engine, ref)
        total_cells += sum(len(r["row"]) for r in ref)
        if eng_skipped != ref_skipped:
            problems.append("%s %s: skipped lines differ: engine %s, reference %s"
                            % (table, path, sorted(eng_skipped), sorted(ref_skipped)))
        if eng_conn != ref_conn:
            problems.append("%s %s: ALB connection-log lines: engine %d, reference %d"
                            % (table, path, eng_conn, ref_conn))
        if len(problems) > limit:
            break
    # All paths at once: the same rows, whatever the order.
    engine, _, _ = run_engine(irprep, table, paths)
    if columns is not None:
        a = sorted(canonical(r, columns) for r in engine)
        b = sorted(canonical(r, columns) for r in total_ref)
        if a != b:
            problems.append("%s: reading %s at once, the engine returns %d rows that differ from the "
                            "reference's %d (as a multiset)" % (table, paths, len(a), len(b)))
    elif engine:
        problems.append("%s: the engine returns %d rows, the reference none" % (table, len(engine)))
    return problems, len(total_ref), total_cells


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--irprep", default=DEFAULT_IRPREP, help="the irprep binary (default: %(default)s)")
    parser.add_argument("--table", action="append", choices=TABLES, help="only these tables")
    parser.add_argument("--limit", type=int, default=200, help="stop a table after this many differences")
    parser.add_argument("paths", nargs="*", metavar="PATH")
    args = parser.parse_args(argv)
    if not os.access(args.irprep, os.X_OK):
        sys.exit("no irprep binary at %s (build it, or pass --irprep / IRPREP)" % args.irprep)
    failed = False
    for table in args.table or TABLES:
        paths = args.paths or default_paths(table)
        problems, rows, cells = compare_table(args.irprep, table, paths, args.limit)
        print("%-9s %4d rows, %5d cells: %s" % (table, rows, cells,
                                                 "%d difference(s)" % len(problems) if problems else "same"))
        for problem in problems:
            print("  " + problem)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
