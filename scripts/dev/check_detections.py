#!/usr/bin/env python3
"""Run detection files' own tests through a built irprep binary (developer aid).

The official test is `every_detection_has_tests_that_pass` in
crates/cli/tests/it/detections.rs; it needs the catalogue compiled in, so a
new detection file costs a rebuild before it can be tried. This script tries
the files as they are, with `irprep hunt --detections DIR --only ID`:

  * the SQL parses with sqlglot (read="athena");
  * each positive fixture: every event it holds (or each listed id) is evidence;
  * each positive dataset (invictus, otrf): each listed id is evidence;
  * each negative fixture: none of its events is evidence;
  * the benign set (invictus events labelled benign, OTRF events other than
    the stolen role's): findings at medium or above are printed (and count as
    failures when the detection has no false-positive notes).

Usage: scripts/dev/check_detections.py [--bin PATH] FILE.yaml...
Exit 1 on any failure.
"""
import argparse, csv, json, os, pathlib, shutil, subprocess, sys, tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATASETS = pathlib.Path(os.environ.get("IRPREP_TEST_DATASETS", ROOT.parent / "shared" / "datasets"))
INVICTUS = DATASETS / "invictus-aws-dataset" / "CloudTrail"
OTRF = DATASETS / "otrf-security-datasets-aws" / "ec2_proxy_s3_exfiltration_2020-09-14011940.json"
FIXTURES = ROOT / "content" / "detections" / "fixtures"
SEVERITY = ["info", "low", "medium", "high", "critical"]


def events_of(path):
    text = pathlib.Path(path).read_text()
    try:
        doc = json.loads(text)
        return doc["Records"] if isinstance(doc, dict) and "Records" in doc else (doc if isinstance(doc, list) else [doc])
    except json.JSONDecodeError:
        return [json.loads(l) for l in text.splitlines() if l.strip()]


def benign_set(dirpath):
    labels = {}
    with open(DATASETS / "invictus-aws-dataset" / "labels-derived.csv") as f:
        for row in csv.DictReader(f):
            labels[row["eventID"]] = row["label"]
    evs = []
    for p in sorted(INVICTUS.glob("*.json")):
        evs += [e for e in events_of(p) if labels.get(e.get("eventID")) == "benign"]
    evs += [e for e in events_of(OTRF) if "MordorNginxStack-BankingWAFRole" not in ((e.get("userIdentity") or {}).get("arn") or "")]
    out = pathlib.Path(dirpath) / "benign.ndjson"
    out.write_text("".join(json.dumps(e) + "\n" for e in evs))
    return out


def hunt(binary, ddir, det_id, logs):
    cmd = [binary, "hunt", "--detections", str(ddir), "--only", det_id, "--format", "json", "--logs", *map(str, logs)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    doc = json.loads(r.stdout)
    return [f for f in doc["findings"] if f["detection_id"] == det_id], r.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.environ.get("IRPREP_BIN", "/work/.cache/irprep-target/debug/irprep"))
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    failures = []
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="check-det-"))
    benign = benign_set(tmp)
    try:
        import sqlglot
        from sqlglot import exp
    except ImportError:
        sqlglot = None
    for f in a.files:
        text = pathlib.Path(f).read_text()
        d = yaml.safe_load(text)
        # Under a new id: a built binary may already hold an older copy of
        # this file, and the hunt would skip this one as a duplicate.
        det_id = d["id"] + ".check"
        ddir = tmp / det_id
        ddir.mkdir()
        (ddir / pathlib.Path(f).name).write_text(text.replace(f"id: {d['id']}", f"id: {det_id}", 1))
        fail = lambda m: failures.append(f"{det_id}: {m}")
        if sqlglot is not None:
            try:
                tree = sqlglot.parse_one(d["sql"], read="athena")
                if isinstance(tree, exp.Command):
                    fail("sqlglot does not understand the SQL")
            except Exception as e:
                fail(f"sqlglot: {e}")
        tests = d.get("tests") or {}
        if not tests.get("positive"):
            fail("no positive test")
        for t in tests.get("positive") or []:
            try:
                if "fixture" in t:
                    path = FIXTURES / t["fixture"]
                    want = set(t.get("event_ids") or [e["eventID"] for e in events_of(path)])
                    found, err = hunt(a.bin, ddir, det_id, [path])
                elif t.get("dataset") in ("invictus", "otrf"):
                    want = set(t.get("event_ids") or [])
                    if not want:
                        fail(f"dataset {t['dataset']} lists no events")
                    found, err = hunt(a.bin, ddir, det_id, [INVICTUS if t["dataset"] == "invictus" else OTRF])
                else:
                    fail(f"positive test names no fixture or known dataset: {t}")
                    continue
            except Exception as e:
                fail(str(e))
                continue
            got = {i for x in found for i in x["event_ids"]}
            missing = want - got
            if missing:
                fail(f"positive {t.get('fixture') or t.get('dataset')}: {len(missing)} of {len(want)} expected events not in evidence: {sorted(missing)[:5]}")
        for t in tests.get("negative") or []:
            if "fixture" not in t:
                continue
            try:
                found, err = hunt(a.bin, ddir, det_id, [FIXTURES / t["fixture"]])
            except Exception as e:
                fail(str(e))
                continue
            got = {i for x in found for i in x["event_ids"]}
            if got:
                fail(f"negative {t['fixture']}: fired on {sorted(got)[:5]}")
        try:
            found, _ = hunt(a.bin, ddir, det_id, [benign])
        except Exception as e:
            fail(str(e))
            found = []
        loud = [x for x in found if SEVERITY.index(x["severity"]) >= 2]
        if loud:
            msg = f"benign set: {len(loud)} finding(s) at medium or above ({', '.join(x['principal'] for x in loud)})"
            if d.get("false_positives"):
                print(f"note {det_id}: {msg}")
            else:
                fail(msg + " and no false_positives notes")
        print(f"checked {det_id}")
    shutil.rmtree(tmp, ignore_errors=True)
    for m in failures:
        print("FAIL", m)
    print(f"{len(a.files)} file(s), {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
