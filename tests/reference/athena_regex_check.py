#!/usr/bin/env python3
"""Check that an Athena RegexSerDe table reads what the local reader reads.

For the space-delimited tables (s3access, alb, nlb, clb), irprep generates the
Athena table's `input.regex` from the same field list its reader uses. This
program applies that regex (Python's `re`, whose lookaheads, lazy and
non-capturing groups behave as Java's here) to every line of the given files
the way RegexSerDe does (the whole line must match; each group is a column;
an unmatched group is NULL; a column's text is cast to its type) and compares
the result with the rows of tests/reference/extra_tables_reference.py for the
same line:

* a line the reference reads as a row of the table must match, with every
  column equal (floats within float32 precision);
* a line the reference does not read (a sibling load balancer format, a bad
  line) must not match, or RegexSerDe would make it a row of wrong values.

Usage: athena_regex_check.py --table T --ddl FILE PATH...
  FILE holds the table's CREATE EXTERNAL TABLE statement (`irprep analytics ddl`).
Prints one summary line per table; exit status 1 on any difference.
"""
import argparse, gzip, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def ddl_parts(text):
    cols = [(c, t.rstrip(",")) for c, t in re.findall(r"^  `([a-z_0-9]+)` ([a-z0-9<>:,]+)$", text, re.M)]
    m = re.search(r"'input\.regex' = '((?:[^']|'')*)'", text)
    regex = m.group(1).replace("''", "'").replace("\\\\", "\\")
    return cols, regex


def cast(v, ty):
    if v is None:
        return None
    try:
        if ty in ("int", "bigint", "smallint"):
            return int(v)
        if ty in ("float", "double"):
            return float(v)
    except ValueError:
        return None  # Hive makes an unparsable number NULL
    return v


def lines_of(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    for i, l in enumerate(raw.split(b"\n"), 1):
        if l.endswith(b"\r"):
            l = l[:-1]
        yield i, l


def files(paths):
    for p in paths:
        if os.path.isdir(p):
            for d, _, fs in sorted(os.walk(p)):
                for f in sorted(fs):
                    yield os.path.join(d, f)
        else:
            yield p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", required=True)
    ap.add_argument("--ddl", required=True)
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    cols, regex = ddl_parts(open(a.ddl).read())
    rx = re.compile(regex)
    if rx.groups != len(cols):
        print(f"{a.table}: the regex has {rx.groups} groups for {len(cols)} columns")
        return 1
    bad, rows, refused = 0, 0, 0
    for f in files(a.paths):
        out = subprocess.run([sys.executable, os.path.join(HERE, "extra_tables_reference.py"),
                              "--table", a.table, "--line-numbers", f],
                             capture_output=True, text=True)
        ref = {(r["line"]): r["row"] for r in json.loads(out.stdout or "[]")}
        for n, l in lines_of(f):
            try:
                text = l.decode("utf-8")
            except UnicodeDecodeError:
                continue  # Athena would read such a line differently; the reader skips it
            if not text.strip():
                continue
            m = rx.fullmatch(text)
            want = ref.get(n)
            if want is None:
                if m is not None:
                    bad += 1
                    print(f"{a.table} {f}:{n}: matched, but no row of this table: {text[:120]!r}")
                else:
                    refused += 1
                continue
            rows += 1
            if m is None:
                bad += 1
                print(f"{a.table} {f}:{n}: the regex does not match a row of the table: {text[:120]!r}")
                continue
            for (c, ty), v in zip(cols, m.groups()):
                got, exp = cast(v, ty), want.get(c)
                same = got == exp or (isinstance(got, float) and isinstance(exp, (int, float))
                                      and abs(got - exp) <= 1e-6 * max(1.0, abs(exp)))
                if not same:
                    bad += 1
                    print(f"{a.table} {f}:{n} column {c}: regex {got!r}, reader {exp!r}")
    print(f"{a.table}: {rows} rows matched, {refused} other lines refused, {bad} difference(s)")
    return 1 if bad or rows == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
