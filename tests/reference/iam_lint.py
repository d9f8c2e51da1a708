#!/usr/bin/env python3
"""IAM policies as AWS's service authorization reference sees them (parliament).

Reads IAM policy documents (`irprep iam-policy <command>`) and CloudFormation
templates holding roles (`irprep logs role-template`: each inline policy, a
conditional one included, with `${AWS::Partition}` and `${AWS::AccountId}`
filled in), runs parliament on each, and prints one JSON object per
finding. Parliament's checks come from AWS's service authorization
reference: unknown services and actions, actions granted on resources of a
type they do not take, malformed conditions, privilege-escalation patterns.

Findings above LOW, and unknown actions, services or conditions and actions
on the wrong resource type at any severity, fail (exit status 1) unless listed, with the reason, in
tests/reference/iam-findings-explained.json ({"policy", "issue",
"detail_contains", "why"}).

Usage: iam_lint.py NAME=FILE...
"""
import json, os, sys

from parliament import analyze_policy_string, config

HERE = os.path.dirname(os.path.abspath(__file__))
ORDER = ["INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# Wrong whatever parliament's severity: an action or service AWS does not
# have, an action on a resource type it does not take, a malformed document.
ALWAYS = {"UNKNOWN_ACTION", "UNKNOWN_PREFIX", "RESOURCE_MISMATCH", "MALFORMED", "UNKNOWN_OPERATOR",
          "MISMATCHED_TYPE", "UNKNOWN_CONDITION_FOR_ACTION", "UNKNOWN_PRINCIPAL", "UNKNOWN_FEDERATION_SOURCE"}


def resolve(v):
    """CloudFormation intrinsics a policy uses, filled in for a lint."""
    if isinstance(v, dict):
        if "Fn::Sub" in v:
            s = v["Fn::Sub"]
            return s.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", "111122223333").replace("${AWS::Region}", "us-east-1")
        if "Fn::If" in v:
            return resolve(v["Fn::If"][1])
        if "Ref" in v:
            return "arn:aws:iam::111122223333:role/irprep" if "Arn" in v["Ref"] else v["Ref"]
        return {k: resolve(x) for k, x in v.items()}
    if isinstance(v, list):
        return [resolve(x) for x in v]
    return v


def policies(name, path):
    doc = json.load(open(path))
    if "Resources" not in doc:
        yield name, doc
        return
    for rid, r in doc["Resources"].items():
        for p in r.get("Properties", {}).get("Policies", []):
            p = resolve(p)
            yield f"{name}:{p['PolicyName']}", p["PolicyDocument"]


def main():
    explained = json.load(open(os.path.join(HERE, "iam-findings-explained.json")))
    failed = 0
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        for pname, doc in policies(name, path):
            for f in analyze_policy_string(json.dumps(doc)).findings:
                sev = config.get(f.issue, {}).get("severity", "HIGH")
                detail = json.dumps(f.detail, default=str)
                why = next((e["why"] for e in explained
                            if e["policy"] == pname.split(":")[0] and e["issue"] == f.issue
                            and e["detail_contains"] in detail), None)
                bad = (ORDER.index(sev) > ORDER.index("LOW") or f.issue in ALWAYS) and why is None
                failed += bad
                print(json.dumps({"policy": pname, "issue": f.issue, "severity": sev,
                                  "detail": f.detail, "explained": why, "fails": bad}, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
