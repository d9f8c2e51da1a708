#!/usr/bin/env bash
# `irprep logs` against AWS's Assisted Log Enabler (ALE), in the same run, on
# the same freshly seeded emulator estate (issue 5): 17 regions, each with
# 2 VPCs (one the default), 2 buckets, an ALB and a WAF ACL, EKS in 3.
#
# RUNS times (default 3): reset moto, seed, then ALE's dry run, its fresh
# `--all text`, its second run and its dry run again; reset, seed again, then
# irprep's `logs status`, fresh `logs enable --yes`, second one,
# `logs enable --dry-run`, `logs status` and a third `logs enable --yes`
# (steady state). Each command's wall time and the requests moto's recorder
# saw; writes and reads counted by operation name; what each enable left
# switched on, read back from the emulator. Prints a Markdown table of
# medians and keeps every recording in a temporary directory. Not part of CI.
#
#   RUNS=3 scripts/bench_logs.sh [BIN]    (default BIN: target/release/irprep)
#
# ALE_DIR (default /work/shared/peers/assisted-log-enabler-for-aws) is run in
# place, never copied: `python3 ALE_DIR/assisted_log_enabler.py` with boto3
# pointed at moto by AWS_ENDPOINT_URL, from a scratch working directory (it
# writes its log file there). IRPREP_VENV: a venv with moto[server]==5.2.5
# and boto3/botocore 1.44.13 (made in .venv when absent).
#
# Comparable work: ALE's `--all` covers CloudTrail, VPC flow logs, Route 53
# Resolver query logs, S3 access logs, ELB, WAF and EKS, not GuardDuty, so
# irprep runs with those seven `--sources` (SOURCES overrides; ALE's `--all`
# cannot leave a source out, so a source ALE fails on, as the run reports
# it, is best left out of the estate). ALE cannot be limited to regions:
# it walks a fixed list of 32; the 15 beyond the estate (opt-in and China
# regions, off in a real account) are left empty (no VPC) so that both tools
# have the same resources to change, and ALE's reads there are its own cost.
# Two emulator gaps are closed so that ALE does the same work as it would on
# AWS (both affect irprep equally): new ALBs get an explicit
# access_logs.s3.enabled=false (AWS's answer, which ALE needs to act), and
# moto takes `arn:aws:s3:::bucket/prefix` as a flow-log destination, as AWS
# does (ALE's form; moto 5.2.5 looks the whole string up as a bucket name and
# ALE ignores the Unsuccessful answer).
#
# Exit status: 1 if a command failed outright (no table); 3 if the table was
# printed but some command reported failures, ALE logged an unexpected error,
# or an enable left a source short of full coverage (each is printed, loud).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/irprep}")
RUNS=${RUNS:-3}
ALE_DIR=${ALE_DIR:-/work/shared/peers/assisted-log-enabler-for-aws}
VENV=${IRPREP_VENV:-$PWD/.venv}
ESTATE=$PWD/tests/emulator/logs_estate.py
die() { echo "bench_logs: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "no irprep binary at $BIN (cargo build --release -p irprep --bin irprep)"
[ -f "$ALE_DIR/assisted_log_enabler.py" ] || die "no Assisted Log Enabler at $ALE_DIR (set ALE_DIR)"
[ -x "$VENV/bin/moto_server" ] || { python3 -m venv "$VENV"; "$VENV/bin/pip" install --quiet 'moto[server]==5.2.5' boto3==1.44.13 botocore==1.44.13; }
PY=$VENV/bin/python
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
DIR=$(mktemp -d -t bench-logs.XXXXXX)
mkdir -p "$DIR/cwd"

# moto_server, with flow-log destinations that carry a key prefix accepted.
(cd "$DIR" && exec "$PY" -c '
import sys
import moto.s3.models as m
_get_bucket = m.S3Backend.get_bucket
def get_bucket(self, bucket_name):
    # AWS takes arn:aws:s3:::bucket/prefix as a flow-log destination; moto
    # 5.2.5 looks "bucket/prefix" up as a bucket name. No bucket name holds "/".
    return _get_bucket(self, bucket_name.split("/", 1)[0])
m.S3Backend.get_bucket = get_bucket
from moto.server import main
sys.exit(main())
' -H 127.0.0.1 -p "$PORT") >"$DIR/moto.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; echo "recordings: $DIR" >&2' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -sf "$URL/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "$URL/moto-api/" >/dev/null || die "moto_server did not start (see $DIR/moto.log)"

# No profile, config file or session token of the caller's.
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL IRPREP_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$DIR/no-aws-config AWS_SHARED_CREDENTIALS_FILE=$DIR/no-aws-credentials
REGIONS=us-east-1,us-east-2,us-west-1,us-west-2,ca-central-1,eu-west-1,eu-west-2,eu-west-3,eu-central-1,eu-north-1,ap-south-1,ap-southeast-1,ap-southeast-2,ap-northeast-1,ap-northeast-2,ap-northeast-3,sa-east-1
SOURCES=${SOURCES:-cloudtrail,vpcflow,dns,s3-access,elb,waf,eks}
# ALE's region list, read from its source.
ALE_REGIONS=$("$PY" -c 'import ast, re, sys
s = open(sys.argv[1]).read()
print(",".join(ast.literal_eval(re.search(r"^region_list = (\[.*?\])", s, re.M).group(1))))' "$ALE_DIR/subfunctions/ALE_single_account.py")

cat >"$DIR/bench.py" <<'PY'
"""Helpers of scripts/bench_logs.sh: read moto's recordings, read the estate back, report."""
import base64, json, re, statistics, sys
from collections import Counter
from urllib.parse import parse_qs, urlsplit

READ = re.compile(r"(Describe|List|Get|Lookup)")


def op(r):
    """(service, signing region, operation) of one recorded request."""
    h = {k.lower(): v for k, v in r["headers"].items()}
    body = r.get("body") or ""
    if r.get("body_encoded") and body:
        body = base64.b64decode(body).decode("utf-8", "replace")
    m = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", h.get("authorization", ""))
    region, svc = (m.group(1), m.group(2)) if m else ("?", "?")
    u = urlsplit(r["url"])
    q = parse_qs(u.query, keep_blank_values=True)
    if "x-amz-target" in h:  # JSON protocol
        return svc, region, h["x-amz-target"].split(".")[-1], body
    a = q.get("Action") or (parse_qs(body).get("Action") if "form-urlencoded" in h.get("content-type", "") else None)
    if a:  # query protocol
        return svc, region, a[0], body
    meth = r["method"]
    if svc == "s3":  # REST: method, what it addresses, subresource
        sub = sorted(k for k in q if k not in ("x-id", "prefix", "max-keys", "delimiter", "list-type",
                                                "continuation-token", "encoding-type", "bucket-region"))
        parts = [p for p in u.path.split("/") if p]
        virtual = not re.match(r"^(127\.0\.0\.1|localhost)(:|$)", h.get("host", ""))
        depth = len(parts) + (1 if virtual else 0)
        kind = "service" if depth == 0 else ("bucket" if depth == 1 else "object")
        return svc, region, f"{meth} {kind}" + ("?" + ",".join(sub) if sub else ""), body
    path = re.sub(r"/[0-9a-f]{20,}", "/{id}", u.path)  # REST JSON (EKS, GuardDuty)
    path = re.sub(r"/(clusters|tags|detector)/[^/]+", r"/\1/{name}", path)
    return svc, region, f"{meth} {path}", body


def is_read(name):
    return name.split(" ")[0] in ("GET", "HEAD") or READ.match(name) is not None


def load(rec):
    out = []
    with open(rec) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if "/moto-api/" not in r["url"]:
                    out.append(op(r))
    return out


def summary(rec, estate_regions):
    ops = load(rec)
    groups = Counter(f"{s} {n}" for s, _, n, _ in ops)
    writes = Counter(f"{s} {n}" for s, _, n, _ in ops if not is_read(n))
    est = set(estate_regions.split(","))
    flow_vpcs = sum(len([k for k in parse_qs(b) if k.startswith("ResourceId.")]) for s, _, n, b in ops if n == "CreateFlowLogs")
    return {"requests": len(ops), "writes": sum(writes.values()), "reads": len(ops) - sum(writes.values()),
            "in_estate_regions": sum(1 for _, r, _, _ in ops if r in est),
            "groups": groups.most_common(), "write_groups": writes.most_common(), "flow_log_vpcs_requested": flow_vpcs}


def c(svc, url, region="us-east-1"):
    import boto3
    return boto3.client(svc, endpoint_url=url, region_name=region)


def coverage(url, regions):
    """What is switched on in the estate's regions, read from the emulator."""
    out = {k: [0, 0] for k in ["vpcflow", "dns", "s3-access", "elb", "waf", "eks"]}
    extra = Counter()
    s3 = c("s3", url)
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    for b in buckets:
        if b.startswith("bench-"):
            out["s3-access"][1] += 1
            out["s3-access"][0] += bool(s3.get_bucket_logging(Bucket=b).get("LoggingEnabled"))
    extra["buckets (not the estate's)"] = sum(1 for b in buckets if not b.startswith("bench-"))
    for region in regions.split(","):
        ec2 = c("ec2", url, region)
        vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]
        fls = [f for f in ec2.describe_flow_logs()["FlowLogs"] if f.get("TrafficType") == "ALL"]
        extra["flow logs"] += len(fls)
        out["vpcflow"][1] += len(vpcs)
        out["vpcflow"][0] += len(set(vpcs) & {f["ResourceId"] for f in fls})
        rr = c("route53resolver", url, region)
        assoc = {a["ResourceId"] for a in rr.list_resolver_query_log_config_associations()["ResolverQueryLogConfigAssociations"]}
        extra["query-log configs"] += len(rr.list_resolver_query_log_configs()["ResolverQueryLogConfigs"])
        out["dns"][1] += len(vpcs)
        out["dns"][0] += len(set(vpcs) & assoc)
        v2 = c("elbv2", url, region)
        for lb in v2.describe_load_balancers()["LoadBalancers"]:
            at = {a["Key"]: a["Value"] for a in v2.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]}
            out["elb"][1] += 1
            out["elb"][0] += at.get("access_logs.s3.enabled") == "true" and bool(at.get("access_logs.s3.bucket"))
        w = c("wafv2", url, region)
        logged = {l["ResourceArn"] for l in w.list_logging_configurations(Scope="REGIONAL")["LoggingConfigurations"]}
        for a in w.list_web_acls(Scope="REGIONAL")["WebACLs"]:
            out["waf"][1] += 1
            out["waf"][0] += a["ARN"] in logged
        eks = c("eks", url, region)
        for name in eks.list_clusters()["clusters"]:
            cl = eks.describe_cluster(name=name)["cluster"]
            on = {t for s in cl["logging"]["clusterLogging"] if s["enabled"] for t in s["types"]}
            out["eks"][1] += 1
            out["eks"][0] += "audit" in on
            extra["EKS log types " + "+".join(sorted(on))] += 1
    ct = c("cloudtrail", url)
    trails = ct.describe_trails(includeShadowTrails=False)["trailList"]
    good = [t for t in trails if t.get("IsMultiRegionTrail") and ct.get_trail_status(Name=t["TrailARN"]).get("IsLogging")]
    out["cloudtrail"] = [min(len(good), 1), 1]
    extra["trails"] = len(trails)
    return {"coverage": out, "extra": dict(extra)}


# Known ALE errors against moto that leave the comparison meaningful.
ALE_STEPS = [("Flow Logs", "vpcflow"), ("CloudTrail is on", "cloudtrail"), ("logging for EKS clusters", "eks"),
             ("Route 53 Query Logging", "dns"), ("S3 Logging on for Buckets", "s3-access"),
             ("Load Balancer Logging", "elb"), ("GuardDuty detector in", "guardduty"), ("WAFv2 Logging", "waf"),
             ("Creating bucket in", "bucket")]
ALE_KNOWN = [("eks", "'update'", "moto's UpdateClusterConfig answer has no `update` member, which ALE reads after the call; the change itself was applied"),
             ("vpcflow", "MissingParameter", "CreateFlowLogs sent with no VPC to log (ALE calls it in every region and calls this error normal)"),
             ("cloudtrail", "list index out of range", "the dry run reads trailList[0] of an account with no trail (ALE's own bug, on AWS too); its one DescribeTrails was sent")]


def ale_errors(path):
    step, known, unknown = "start", Counter(), Counter()
    for line in open(path, errors="replace"):
        if " - INFO - " in line:
            for pat, s in ALE_STEPS:
                if pat in line:
                    step = s
        elif " - ERROR - " in line:
            msg = line.split(" - ERROR - ", 1)[1].strip()
            why = next((w for s, p, w in ALE_KNOWN if s == step and p in msg), None)
            (known if why else unknown)[(step, why or msg[:200])] += 1
    for (s, w), n in known.items():
        print(f"    ALE {s}: {n}x expected error: {w}")
    for (s, w), n in unknown.items():
        print(f"    ALE {s}: {n}x UNEXPECTED error: {w}")
    return 1 if unknown else 0


def med(xs):
    return statistics.median(xs)


def fmt_n(xs):
    lo, hi, m = min(xs), max(xs), med(xs)
    return f"{m:,.0f}" + ("" if lo == hi else f" ({lo:,}–{hi:,})")


def report(results):
    rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
    data = {}
    for tool, step, run, secs, rc, base in rows:
        s = json.load(open(base + ".json"))
        data.setdefault((tool, step), []).append((float(secs), s, int(rc), base))

    def cell(key):
        d = data[key]
        return med([x[0] for x in d]), [x[1]["requests"] for x in d], [x[1]["writes"] for x in d]

    lines = ["| command | irprep: median wall time, requests (writes) | ALE: median wall time, requests (writes) | ALE ÷ irprep: time, requests |",
             "|---|---|---|---|"]
    table = [("status, fresh estate: `logs status` / `--mode dryrun --single_account`", ("irprep", "status0"), ("ale", "dryrun0")),
             ("fresh enable: `logs enable --yes` / `--mode single_account --all text`", ("irprep", "fresh"), ("ale", "fresh")),
             ("second enable: `logs enable --yes` / `--mode single_account --all text`", ("irprep", "second"), ("ale", "second")),
             ("dry run after both: `logs enable --dry-run` / `--mode dryrun --single_account`", ("irprep", "dryrun"), ("ale", "dryrun")),
             ("status after both: `logs status` / (ALE's dry run, as above)", ("irprep", "status"), ("ale", "dryrun")),
             ("third enable (irprep only): `logs enable --yes`", ("irprep", "third"), None)]
    verdicts = []
    for label, ik, ak in table:
        it, ir, iw = cell(ik)
        if ak is None:
            lines.append(f"| {label} | {it:.2f} s, {fmt_n(ir)} ({fmt_n(iw)}) | — | — |")
            continue
        at, ar, aw = cell(ak)
        tr, rr = at / it, med(ar) / med(ir)
        lines.append(f"| {label} | {it:.2f} s, {fmt_n(ir)} ({fmt_n(iw)}) | {at:.2f} s, {fmt_n(ar)} ({fmt_n(aw)}) | **{tr:.1f}×, {rr:.1f}×** |")
        verdicts.append(f"- {label.split(':')[0]}: {tr:.1f}× faster (target ≥ 5×: {'met' if tr >= 5 else 'MISSED'}), "
                        f"{rr:.1f}× fewer requests (target ≥ 5×: {'met' if rr >= 5 else 'MISSED'})")
    for step in ["second", "third"]:
        writes = [x[1]["writes"] for x in data[("irprep", step)]]
        verdicts.append(f"- irprep's {step} enable sends only reads (target for the second: 0 writes): {'met' if max(writes) == 0 else 'MISSED'} "
                        f"(writes per run: {', '.join(map(str, writes))})")
    print("\n".join(lines))
    print()
    print("Targets:")
    print("\n".join(verdicts))
    print()
    n = len(data[("irprep", "fresh")])
    print(f"Runs: {n}. Wall times are medians; request counts are medians with the range when runs differ.")
    for key in [("irprep", "status0"), ("irprep", "fresh"), ("irprep", "second"), ("irprep", "dryrun"), ("irprep", "status"),
                ("irprep", "third"), ("ale", "dryrun0"), ("ale", "fresh"), ("ale", "second"), ("ale", "dryrun")]:
        secs, s, rc, base = data[key][0]
        print(f"\n{key[0]} {key[1]} (run 1, {s['requests']} requests, {s['writes']} writes, "
              f"{s['in_estate_regions']} signed for the estate's 17 regions; times "
              f"{', '.join(f'{x[0]:.2f}' for x in data[key])} s; exit {', '.join(str(x[2]) for x in data[key])}):")
        print("  top requests: " + "; ".join(f"{g} {k}" for g, k in s["groups"][:12]))
        if s["write_groups"]:
            print("  writes: " + "; ".join(f"{g} {k}" for g, k in s["write_groups"]))
        if key[0] == "irprep" and key[1] != "status0" and key[1] != "status":
            try:
                planned = json.load(open(base + ".out"))
                kinds = Counter(f"{c['source']} {c['action']}" for c in planned)
                print(f"  changes it printed: {len(planned)}" + "".join(f"; {k} {n}" for k, n in sorted(kinds.items())))
            except (ValueError, FileNotFoundError):
                pass
        if s["flow_log_vpcs_requested"]:
            print(f"  VPCs named in CreateFlowLogs: {s['flow_log_vpcs_requested']}")
        cov = base + ".cov.json"
        try:
            cv = json.load(open(cov))
        except FileNotFoundError:
            continue
        print("  switched on afterwards (estate regions): " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in cv["coverage"].items()))
        print("  in the emulator afterwards: " + ", ".join(f"{k}: {v}" for k, v in sorted(cv["extra"].items())))
        print(f"  recording: {base}.rec")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "summary":
        json.dump(summary(sys.argv[2], sys.argv[3]), open(sys.argv[2][:-4] + ".json", "w"))
        s = json.load(open(sys.argv[2][:-4] + ".json"))
        print(s["requests"], s["writes"])
    elif cmd == "coverage":
        cv = coverage(sys.argv[2], sys.argv[3])
        json.dump(cv, open(sys.argv[4], "w"))
        short = [f"{k} {a}/{b}" for k, (a, b) in cv["coverage"].items() if a < b]
        print(" ".join(short))
    elif cmd == "ale-errors":
        sys.exit(ale_errors(sys.argv[2]))
    elif cmd == "report":
        report(sys.argv[2])
PY

rec() { curl -sf -X POST "$URL/moto-api/recorder/$1-recording" >/dev/null; }
PROBLEMS=0
problem() { PROBLEMS=$((PROBLEMS + 1)); printf '\n!!! bench_logs: %s\n' "$*" >&2; }
seed() {
  curl -sf -X POST "$URL/moto-api/reset" >/dev/null
  "$PY" "$ESTATE" bench-seed "$URL" >/dev/null
  "$PY" "$ESTATE" bench-empty "$URL" "$ALE_REGIONS" >/dev/null
}
# measure TOOL STEP RUN CMD...: one command, timed and recorded.
measure() {
  local tool=$1 step=$2 run=$3; shift 3
  local base=$DIR/run$run/$tool-$step rc t0 t1 secs counts
  mkdir -p "$DIR/run$run"
  rec reset; rec start
  t0=$(date +%s.%N)
  set +e; (cd "$DIR/cwd" && "$@") >"$base.out" 2>"$base.err"; rc=$?; set -e
  t1=$(date +%s.%N)
  rec stop
  curl -sf "$URL/moto-api/recorder/download-recording" >"$base.rec"
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  counts=$("$PY" "$DIR/bench.py" summary "$base.rec" "$REGIONS")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$step" "$run" "$secs" "$rc" "$base" >>"$DIR/results.tsv"
  printf '  run %s %-6s %-6s %6.2f s  %5s requests  %4s writes  exit %s\n' "$run" "$tool" "$step" "$secs" ${counts% *} ${counts#* } "$rc" >&2
  case "$tool:$rc" in
    irprep:0 | ale:0) ;;
    irprep:3) problem "irprep $step (run $run) exited 3: some changes failed, the rest was done:"; sed 's/^/    /' "$base.err" >&2 ;;
    *) tail -n 30 "$base.err" >&2; die "$tool $step (run $run) exited $rc; the comparison means nothing (see $base.err)" ;;
  esac
  if [ "$tool" = ale ]; then
    "$PY" "$DIR/bench.py" ale-errors "$base.err" >&2 || problem "ALE $step (run $run) logged errors not known to be harmless (above; see $base.err)"
  fi
  if [ "$step" = fresh ] || [ "$step" = second ] || [ "$step" = third ]; then
    local short
    short=$("$PY" "$DIR/bench.py" coverage "$URL" "$REGIONS" "$base.cov.json")
    [ -z "$short" ] || problem "$tool $step (run $run) left sources short of full coverage: $short"
  fi
}
ale() { env AWS_ENDPOINT_URL="$URL" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 PYTHONDONTWRITEBYTECODE=1 \
  "$PY" "$ALE_DIR/assisted_log_enabler.py" "$@"; }
irprep() { "$BIN" logs "$@" --sources "$SOURCES" --endpoint-url "$URL" --region us-east-1 --regions "$REGIONS" --quiet --format json; }

echo "irprep: $BIN ($("$BIN" --version), built $(date -u -r "$BIN" '+%Y-%m-%d %H:%M UTC')); ALE: $ALE_DIR; moto on $URL; recordings in $DIR; load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores" >&2
# Warm-up, not measured: moto imports each service's code on first use.
seed
"$BIN" logs status --endpoint-url "$URL" --region us-east-1 --regions "$REGIONS" --quiet --format json >/dev/null \
  || die "warm-up irprep logs status failed"
for run in $(seq 1 "$RUNS"); do
  seed
  measure ale dryrun0 "$run" ale --mode dryrun --single_account
  measure ale fresh "$run" ale --mode single_account --all text
  measure ale second "$run" ale --mode single_account --all text
  measure ale dryrun "$run" ale --mode dryrun --single_account
  seed
  measure irprep status0 "$run" irprep status
  measure irprep fresh "$run" irprep enable --yes
  measure irprep second "$run" irprep enable --yes
  measure irprep dryrun "$run" irprep enable --dry-run
  measure irprep status "$run" irprep status
  measure irprep third "$run" irprep enable --yes
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo
"$PY" "$DIR/bench.py" report "$DIR/results.tsv"
echo
echo "recordings: $DIR/run*/{ale-{dryrun0,fresh,second,dryrun},irprep-{status0,fresh,second,dryrun,status,third}}.rec"
if [ "$PROBLEMS" -gt 0 ]; then
  echo "bench_logs: $PROBLEMS problem(s) reported above (marked !!!)" >&2
  exit 3
fi
