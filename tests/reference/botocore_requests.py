#!/usr/bin/env python3
"""What irprep sent, checked against AWS's own service models (botocore).

Reads a moto_server request recording (one JSON object a line: `method`,
`url`, `headers`, `body`; tests/emulator/estate.py `recording URL download`
writes it) and checks every request whose User-Agent carries the marker
(default `irprep-sim/`) against botocore's `service-2.json` models:

1. Service: the SigV4 credential scope's service, mapped to the models whose
   `signingName` (else `endpointPrefix`) is that name. Several models may
   share one (rds/neptune/docdb, s3/s3control, lambda/lambda-core...): the
   one the request resolves in (protocol, target prefix, Action and Version,
   or route) wins, the model named like the scope first.
2. Protocol: the request's (X-Amz-Target: json; `Action` in form or query
   string: query/ec2; otherwise rest) must be one the model lists in
   `metadata.protocols` (else `metadata.protocol`). Query: `Version` is the
   model's `apiVersion`. JSON: `X-Amz-Target` is `targetPrefix.Operation`
   and Content-Type `application/x-amz-json-<jsonVersion>`. Rest: method and
   path match an operation's `http.method` and `http.requestUri` (labels,
   greedy `{Key+}`, query-string literals; one trailing `/` is tolerated, as
   AWS documents e.g. Lambda's `GET /2015-03-31/functions/`). The most
   specific route wins (query literals, then literal path); operations that
   share one (S3 PutBucketLifecycle and ...Configuration) go to the one the
   request validates best against, a deprecated one last.
3. The operation exists.
4. Parameters: rebuilt from the wire as botocore's serializers write them
   (query: `Name.member.N`, flattened lists, `Name.entry.N.key`; ec2: `Name.N`
   with capitalised `locationName`/`queryName`; json by wire names; rest from
   uri labels, query string, headers and a JSON or XML body or raw payload),
   then validated: botocore.validate.ParamValidator (unknown and missing
   members, types, `min`) and here `enum`, `max` and `pattern` (a pattern
   with no `^`/`$` must match the whole value, as AWS's validators (Java
   `matches()`) require; an anchored one is searched; a pattern Python's `re`
   cannot compile is skipped and counted once). Form keys and query-string keys the
   model does not define, and JSON body keys naming uri/header members, are
   unknown parameters. Blob lengths are not checked.
5. Wire: no header name twice in `SignedHeaders`, no recorded header value
   that is one value repeated with `, `; Content-MD5 and x-amz-content-sha256
   match the body; an operation whose `httpChecksum` has
   `requestChecksumRequired` (or a required `requestAlgorithmMember`), or
   `httpChecksumRequired`, carries Content-MD5 or an x-amz-checksum-* header.

Output: one line a problem, `METHOD service.Operation: what is wrong`, then
`N requests checked, M operations, K problems, P patterns skipped`; `--json`
prints a JSON summary instead. Exit 1 on any problem or when no request
carries the marker, else 0. `--self-test` feeds deliberately broken requests
and proves each is reported (and a good one is not).

Usage: botocore_requests.py RECORDING.jsonl [--user-agent-marker S] [--json]
       botocore_requests.py --self-test
"""
import argparse, base64, hashlib, json, re, sys
import urllib.parse
import xml.etree.ElementTree as ET
from collections import Counter

import botocore.session
from botocore.validate import ParamValidator

WIRE = {"query": {"query", "ec2"}, "json": {"json"}, "rest": {"rest-json", "rest-xml"},
        "cbor": {"smithy-rpc-v2-cbor"}}
MISSING = object()


class Models:
    """botocore's models, loaded lazily; the signing-name index only when needed."""

    def __init__(self):
        self.session = botocore.session.get_session()
        self.loader = self.session.get_component("data_loader")
        self.names = set(self.loader.list_available_services("service-2"))
        self.cache, self.index, self.routes_cache = {}, None, {}
        self.patterns, self.skipped = {}, set()

    def model(self, name):
        if name not in self.cache:
            self.cache[name] = self.session.get_service_model(name)
        return self.cache[name]

    def candidates(self, scope):
        """Every service whose signingName (else endpointPrefix) is `scope` (reads all metadata once)."""
        if self.index is None:
            self.index = {}
            for n in sorted(self.names):
                md = self.loader.load_service_model(n, "service-2")["metadata"]
                self.index.setdefault(md.get("signingName") or md.get("endpointPrefix"), []).append(n)
        return self.index.get(scope, [])

    def regex(self, pattern):
        """Compiled pattern, or None (recorded as skipped) if Python cannot compile it."""
        if pattern not in self.patterns:
            try:
                self.patterns[pattern] = re.compile(pattern)
            except re.error:
                self.patterns[pattern] = None
                self.skipped.add(pattern)
        return self.patterns[pattern]

    def routes(self, model):
        """(method, path regex, label names, query literals, specificity, op) for a rest model."""
        key = model.service_name
        if key not in self.routes_cache:
            out = []
            for op in model.operation_names:
                http = model.operation_model(op).http
                path, _, q = http.get("requestUri", "/").partition("?")
                labels, rx, lit = [], "", 0
                for part in re.split(r"(\{[^}]+\})", path):
                    if part.startswith("{"):
                        greedy = part.endswith("+}")
                        labels.append(part[1:-2] if greedy else part[1:-1])
                        rx += "(.+)" if greedy else "([^/]+)"
                    else:
                        rx, lit = rx + re.escape(part), lit + len(part)
                rx = rx.rstrip("/") if rx not in ("/", "\\/") else rx
                lits = [tuple(x.split("=", 1)) if "=" in x else (x, None) for x in q.split("&") if x]
                out.append((http.get("method", "POST"), re.compile(rx + "/?$"), labels, lits, (len(lits), lit), op))
            self.routes_cache[key] = out
        return self.routes_cache[key]


class Request:
    """One recorded request, parsed: method, path, query pairs, headers (lower-case), body."""

    def __init__(self, rec):
        self.method = rec.get("method", "GET").upper()
        url = urllib.parse.urlsplit(rec.get("url") or rec.get("path", "/"))
        self.path = url.path or "/"
        self.raw_headers = rec.get("headers") or {}
        self.headers = {k.lower(): str(v) for k, v in self.raw_headers.items()}
        self.query = urllib.parse.parse_qsl(url.query or rec.get("query", ""), keep_blank_values=True)
        self.body = rec.get("body") or ""
        auth = self.headers.get("authorization", "")
        m = re.search(r"Credential=[^/]*/[^/]*/[^/]*/([^/]*)/aws4_request", auth)
        self.scope = m.group(1) if m else None
        m = re.search(r"SignedHeaders=([^,\s]*)", auth)
        self.signed = m.group(1).split(";") if m else []
        formish = "x-www-form-urlencoded" in self.headers.get("content-type", "") or self.body.startswith("Action=")
        body_form = dict(urllib.parse.parse_qsl(self.body, keep_blank_values=True)) if formish else {}
        self.form = {**dict(self.query), **body_form}
        self.wire = ("json" if "x-amz-target" in self.headers else "cbor" if "smithy-protocol" in self.headers
                     else "query" if "Action" in self.form else "rest")
        vhost = re.match(r"^(.+?)\.s3[.-]", self.headers.get("host", ""))  # virtual-hosted S3: bucket in Host
        if self.scope == "s3" and vhost:
            self.path = "/" + vhost.group(1) + self.path

    def sent_name(self):
        return self.headers["x-amz-target"].rpartition(".")[2] if self.wire == "json" else self.form.get("Action", "?")


def scalar(text, shape):
    """A wire string as the Python value botocore's validator expects (unconvertible: left a str)."""
    t = shape.type_name
    try:
        return int(text) if t in ("integer", "long") else float(text) if t in ("float", "double") else \
            {"true": True, "false": False}.get(text, text) if t == "boolean" else text
    except ValueError:
        return text


def query_name(shape, default, ec2):
    """The form name of a member: botocore's QuerySerializer / EC2Serializer._get_serialized_name."""
    s = shape.serialization
    if ec2 and "queryName" not in s:
        return s["name"][0].upper() + s["name"][1:] if s.get("name") else default
    return s.get("queryName" if ec2 else "name", default)


def from_form(form, shape, prefix, ec2, used):
    """Rebuild the parameter value at `prefix` of a query/ec2 form, guided by the shape."""
    present = lambda p: any(k == p or k.startswith(p + ".") for k in form)  # noqa: E731
    t = shape.type_name
    if t == "structure":
        out = {}
        for key, m in shape.members.items():
            p = query_name(m, key, ec2)
            p = f"{prefix}.{p}" if prefix else p
            if present(p):
                v = from_form(form, m, p, ec2, used)
                if v is not MISSING:
                    out[key] = v
        return out
    if t == "list":
        if form.get(prefix) == "":
            used.add(prefix)
            return []
        name = shape.member.serialization.get("name")
        if ec2 or (shape.serialization.get("flattened") and not name):
            lp = prefix
        elif shape.serialization.get("flattened"):
            lp = ".".join(prefix.split(".")[:-1] + [name])
        else:
            lp = f"{prefix}.{name or 'member'}"
        out, i = [], 1
        while present(f"{lp}.{i}"):
            out.append(from_form(form, shape.member, f"{lp}.{i}", ec2, used))
            i += 1
        return out if out else MISSING
    if t == "map":
        fp = prefix if shape.serialization.get("flattened") else f"{prefix}.entry"
        ks, vs = query_name(shape.key, "key", ec2), query_name(shape.value, "value", ec2)
        out, i = {}, 1
        while present(f"{fp}.{i}"):
            k = from_form(form, shape.key, f"{fp}.{i}.{ks}", ec2, used)
            out[k if isinstance(k, str) else f"<{i}>"] = from_form(form, shape.value, f"{fp}.{i}.{vs}", ec2, used)
            i += 1
        return out if out else MISSING
    if prefix not in form:
        return MISSING
    used.add(prefix)
    return scalar(form[prefix], shape)


def unknown(key, shape):
    """An unknown wire key; a member's name sent in place of its wire name stays unknown."""
    m = shape.members.get(key)
    return f"{key} (the wire name is {m.serialization['name']!r})" if m is not None else key


def from_json(value, shape):
    """A JSON body value with wire (locationName) keys mapped back to member names."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict) and not shape.is_document_type:
        wire = {m.serialization.get("name", k): k for k, m in shape.members.items()}
        return {wire.get(k) or unknown(k, shape): (from_json(v, shape.members[wire[k]]) if k in wire else v)
                for k, v in value.items()}
    if t == "list" and isinstance(value, list):
        return [from_json(v, shape.member) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: from_json(v, shape.value) for k, v in value.items()}
    return value


def from_xml(elem, shape):
    """An XML element as the value of `shape` (unknown child elements kept by tag)."""
    tag = lambda e: e.tag.rpartition("}")[2]  # noqa: E731
    t = shape.type_name
    if t == "structure":
        out, kids = {}, list(elem)
        for key, m in shape.members.items():
            name = m.serialization.get("name", key)
            attr = [v for a, v in elem.attrib.items() if a.rpartition("}")[2] == name.rpartition(":")[2]]
            mine = [e for e in kids if tag(e) == name]
            if m.serialization.get("xmlAttribute") and attr:
                out[key] = scalar(attr[0], m)
            elif mine and m.type_name == "list" and m.serialization.get("flattened"):
                out[key] = [from_xml(e, m.member) for e in mine]
            elif mine:
                out[key] = from_xml(mine[0], m)
        known = {m.serialization.get("name", k) for k, m in shape.members.items()}
        for e in kids:
            if tag(e) not in known:
                out[unknown(tag(e), shape)] = e.text or ""
        return out
    if t == "list":
        return [from_xml(e, shape.member) for e in elem]
    if t == "map":
        ks, vs = shape.key.serialization.get("name", "key"), shape.value.serialization.get("name", "value")
        return {e.findtext(ks, ""): from_xml(e.find(vs), shape.value) if e.find(vs) is not None else None for e in elem}
    return scalar(elem.text or "", shape)


def from_rest(req, model, op, labels, literals, problems):
    """Parameters of a rest-json/rest-xml request: uri labels, query string, headers, body."""
    shape, params = op.input_shape, {}
    if shape is None:
        return params
    loc = {k: (m.serialization.get("location"), m.serialization.get("name", k)) for k, m in shape.members.items()}
    qmap = None
    for key, (where, name) in loc.items():
        m, h = shape.members[key], name.lower()
        if where == "uri" and name in labels:
            params[key] = scalar(urllib.parse.unquote(labels[name]), m)
        elif where == "header" and h in req.headers:
            v = req.headers[h]
            params[key] = [scalar(x.strip(), m.member) for x in v.split(",")] if m.type_name == "list" else scalar(v, m)
        elif where == "headers" and any(x.startswith(h) for x in req.headers):
            params[key] = {x[len(h):]: v for x, v in req.headers.items() if x.startswith(h)}
        elif where == "querystring" and m.type_name == "map":
            qmap = key
    qmembers = {name: k for k, (where, name) in loc.items() if where == "querystring" and k != qmap}
    for k, v in req.query:
        m = shape.members[qmembers[k]] if k in qmembers else None
        if m is not None and m.type_name == "list":
            params.setdefault(qmembers[k], []).append(scalar(v, m.member))
        elif m is not None:
            params[qmembers[k]] = scalar(v, m)
        elif qmap:
            params.setdefault(qmap, {})[k] = v
        elif k not in {x for x, _ in literals}:
            problems.append(f"unknown query-string parameter {k!r}")
    payload, xml = shape.serialization.get("payload"), model.metadata.get("protocol") == "rest-xml"
    target = shape.members[payload] if payload else shape
    if not req.body.strip():
        return params
    if payload and target.type_name != "structure":
        params[payload] = req.body
        return params
    try:
        root = ET.fromstring(req.body) if xml else None
        doc = from_xml(root, target) if xml else from_json(json.loads(req.body), target)
    except (ET.ParseError, ValueError) as e:
        problems.append(f"body does not parse: {e}")
        return params
    want = target.serialization.get("name", payload)
    if xml and want and root.tag.rpartition("}")[2] != want:
        problems.append(f"body root <{root.tag.rpartition('}')[2]}>, the model's is <{want}>")
    if payload:
        params[payload] = doc
        return params
    for k, v in (doc.items() if isinstance(doc, dict) else []):
        if k in loc and loc[k][0]:
            problems.append(f"{k} sent in the body, the model puts it in the {loc[k][0]}")
        else:
            params[k] = v
    return params


def extra_checks(value, shape, name, models, out):
    """What ParamValidator does not check: enum, max, pattern (and min of maps)."""
    t, md = shape.type_name, shape.metadata
    if t == "structure" and isinstance(value, dict) and not shape.is_document_type:
        for k, v in value.items():
            if k in shape.members:
                extra_checks(v, shape.members[k], f"{name}.{k}" if name else k, models, out)
        return
    if t == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            extra_checks(v, shape.member, f"{name}[{i}]", models, out)
    if t == "map" and isinstance(value, dict):
        for k, v in value.items():
            extra_checks(k, shape.key, f"{name} (key {k!r})", models, out)
            extra_checks(v, shape.value, f"{name}.{k}", models, out)
        if "min" in md and len(value) < md["min"]:
            out.append(f"{name}: {len(value)} entries, min {md['min']}")
    size = len(value) if t in ("string", "list", "map") and isinstance(value, (str, list, dict)) else None
    if t in ("integer", "long", "float", "double") and isinstance(value, (int, float)) and not isinstance(value, bool):
        size = value
    if size is not None and "max" in md and size > md["max"]:
        what = "value" if t not in ("string", "list", "map") else "length"
        out.append(f"{name}: {what} {size} above max {md['max']}")
    if t == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            out.append(f"{name}: {value!r} not in enum {shape.enum[:12]}{'...' if len(shape.enum) > 12 else ''}")
        if "pattern" in md:
            rx = models.regex(md["pattern"])
            anchored = md["pattern"].startswith("^") or md["pattern"].endswith("$")
            if rx is not None and not (rx.search(value) if anchored else rx.fullmatch(value)):
                out.append(f"{name}: {value!r} does not match pattern {md['pattern']!r}")


def validate(params, op, models):
    """ParamValidator's report plus extra_checks, as short lines."""
    if op.input_shape is None:
        return [f"parameters {sorted(params)} sent, the operation takes none"] if params else []
    report = ParamValidator().validate(params, op.input_shape)
    out = []
    if report.has_errors():
        out += [line.split(", must be one of:")[0] for line in report.generate_report().splitlines()]
    extra_checks(params, op.input_shape, "", models, out)
    return out


def wire_checks(req, op):
    """Duplicated headers, body digests, and the checksum an operation requires."""
    out = [f"header {h} signed twice (SignedHeaders)" for h, n in Counter(req.signed).items() if n > 1]
    for k, v in req.raw_headers.items():
        parts = str(v).split(", ")
        if len(parts) > 1 and len(set(parts)) == 1:
            out.append(f"header {k} sent twice ({v!r})")
    body = req.body.encode("utf-8")
    md5 = req.headers.get("content-md5")
    if md5 and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
        out.append("Content-MD5 does not match the body")
    sha = req.headers.get("x-amz-content-sha256", "")
    if re.fullmatch(r"[0-9a-f]{64}", sha) and sha != hashlib.sha256(body).hexdigest():
        out.append("x-amz-content-sha256 does not match the body")
    if op is not None:
        hc = op.http_checksum or {}
        member = hc.get("requestAlgorithmMember")
        required = (hc.get("requestChecksumRequired") or op.http_checksum_required
                    or (member and op.input_shape is not None and member in op.input_shape.required_members))
        not_sums = ("x-amz-checksum-type", "x-amz-checksum-algorithm")
        have = md5 or any(h.startswith("x-amz-checksum-") and h not in not_sums for h in req.headers) \
            or "x-amz-checksum-" in req.headers.get("x-amz-trailer", "")
        if required and not have:
            out.append("the model requires a request checksum; no Content-MD5 or x-amz-checksum-* header")
    return out


def attempt(req, name, models):
    """(resolved?, operation name, problems) of the request read against model `name`."""
    model = models.model(name)
    md = model.metadata
    protos = md.get("protocols") or [md.get("protocol")]
    proto = next((p for p in protos if p in WIRE.get(req.wire, ())), None)
    if proto is None:
        return False, req.sent_name(), [f"sent in the {req.wire} protocol, the model's is {protos[0]}"]
    if req.wire == "rest":
        tried, qkeys = [], dict(req.query)
        for method, rx, labels, lits, spec, opname in models.routes(model):
            m = rx.match(req.path)
            if method != req.method or not m or any(k not in qkeys or v not in (None, qkeys[k]) for k, v in lits):
                continue
            op, problems = model.operation_model(opname), []
            params = from_rest(req, model, op, dict(zip(labels, m.groups())), lits, problems)
            problems += validate(params, op, models) + wire_checks(req, op)
            tried.append(((-spec[0], -spec[1], len(problems), bool(op.deprecated)), opname, problems))
        if not tried:
            q = "?" + "&".join(k for k, _ in req.query) if req.query else ""
            return False, "?", [f"no {name} operation has the route {req.method} {req.path}{q}"]
        _, opname, problems = min(tried, key=lambda x: x[0])
        return True, opname, problems
    problems = []
    if req.wire == "query":
        action, ok = req.form.get("Action", ""), req.form.get("Version") == md["apiVersion"]
        if not ok:
            problems.append(f"Version {req.form.get('Version')!r}, the model's apiVersion is {md['apiVersion']!r}")
    else:  # json
        prefix, _, action = req.headers["x-amz-target"].rpartition(".")
        ok = prefix == md.get("targetPrefix")
        if not ok:
            problems.append(f"X-Amz-Target prefix {prefix!r}, the model's targetPrefix is {md.get('targetPrefix')!r}")
        want = f"application/x-amz-json-{md.get('jsonVersion', '1.0')}"
        if req.headers.get("content-type", "").split(";")[0].strip() != want:
            problems.append(f"Content-Type {req.headers.get('content-type')!r}, the model's is {want!r}")
    if action not in model.operation_names:
        return False, action, problems + [f"operation {action!r} not in {name} {md['apiVersion']}"]
    op = model.operation_model(action)
    if req.wire == "query":
        used = set()
        params = from_form(req.form, op.input_shape, "", proto == "ec2", used) if op.input_shape else {}
        problems += [f"unknown parameter {k!r}" for k in sorted(req.form) if k not in used | {"Action", "Version"}]
    else:
        try:
            params = json.loads(req.body or "{}")
        except ValueError as e:
            return ok, action, problems + [f"body is not JSON: {e}"]
        params = from_json(params, op.input_shape) if op.input_shape else params
    return ok, action, problems + validate(params, op, models) + wire_checks(req, op)


def check(rec, models):
    """(service, operation, problems) for one recorded request."""
    req = Request(rec)
    if not req.scope:
        return "?", req.sent_name(), ["no SigV4 credential scope in Authorization"]
    if req.scope in models.names:
        md = models.model(req.scope).metadata
        if (md.get("signingName") or md.get("endpointPrefix")) == req.scope:
            ok, op, problems = attempt(req, req.scope, models)
            if ok:  # the model named like the scope resolves it: it would win anyway
                return req.scope, op, problems
    names = models.candidates(req.scope)
    if not names:
        return req.scope, req.sent_name(), [f"no botocore service signs as {req.scope!r}"]
    results = []
    for n in names:
        ok, op, problems = attempt(req, n, models)
        md = models.model(n).metadata
        rank = (not ok, n != req.scope, md.get("endpointPrefix") != req.scope, len(problems))
        results.append((rank, n, op, problems))
    _, n, op, problems = min(results, key=lambda r: r[0])
    return n, op, problems


def run(records, marker, models):
    """Check the records carrying the marker; returns the summary dict."""
    checked, ops, problems = 0, set(), []
    for rec in records:
        ua = next((str(v) for k, v in (rec.get("headers") or {}).items() if k.lower() == "user-agent"), "")
        if marker not in ua:
            continue
        checked += 1
        service, op, found = check(rec, models)
        if service in models.names and op in models.model(service).operation_names:
            ops.add(f"{service}.{op}")
        method = (rec.get("method") or "GET").upper()
        problems += [f"{method} {service}.{op}: {p}" for p in found]
    return {"requests": checked, "operations": sorted(ops), "problems": problems,
            "patterns_skipped": sorted(models.skipped), "ok": checked > 0 and not problems}


def fake(service, method="POST", url="http://127.0.0.1:5947/", body="", signed="content-type;host;x-amz-date",
         **headers):
    """A recorded request of the recorder's shape, signed-looking for `service`."""
    h = {"Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, "
                          f"SignedHeaders={signed}, Signature=00", "User-Agent": "irprep/0 irprep-sim/selftest",
         "Host": "127.0.0.1:5947"}
    h.update({k.replace("_", "-"): v for k, v in headers.items()})
    return {"method": method, "url": url, "headers": h, "body": body}


def self_test(models):
    """Broken requests are reported, good ones are not, an empty recording fails."""
    form = {"Content_Type": "application/x-www-form-urlencoded; charset=utf-8"}
    ec2 = ("Action=DescribeInstances&Version=2016-11-15&DryRun=true"
           "&Filter.1.Name=instance-state-name&Filter.1.Value.1=running")
    kms = {"Content_Type": "application/x-amz-json-1.1", "X_Amz_Target": "TrentService.ListKeys"}
    policy = '{"Version":"2012-10-17","Statement":[]}'
    md5 = base64.b64encode(hashlib.md5(policy.encode()).digest()).decode()
    s3 = dict(method="PUT", url="http://127.0.0.1:5947/some-bucket?policy=", body=policy)
    good = [fake("ec2", body=ec2, **form), fake("kms", body='{"Limit":10}', **kms),
            fake("s3", **s3, Content_MD5=md5, signed="content-md5;host;x-amz-date"),
            fake("lambda", "GET", "http://127.0.0.1:5947/2015-03-31/functions/"),
            fake("iam", body="Action=ListPolicies&Version=2010-05-08&Scope=Local", **form)]
    bad = {
        "operation 'DescribeInstancez' not in ec2": fake("ec2", body="Action=DescribeInstancez&Version=2016-11-15", **form),
        "unknown parameter 'Bogus.1'": fake("ec2", body=ec2 + "&Bogus.1=x", **form),
        "not in enum": fake("ec2", body="Action=DescribeInstanceAttribute&Version=2016-11-15&InstanceId=i-1"
                                        "&Attribute=colour", **form),
        "X-Amz-Target prefix": fake("kms", body="{}", **{**kms, "X_Amz_Target": "TrentServic.ListKeys"}),
        "signed twice": fake("ec2", body=ec2, signed="content-type;host;host;x-amz-date", **form),
        "sent twice": fake("kms", body="{}", **kms, User_Agent="irprep/0 irprep-sim/x, irprep/0 irprep-sim/x"),
        "requires a request checksum": fake("s3", **s3),  # PutBucketPolicy: requestChecksumRequired
        "above max": fake("kms", body='{"Limit":5000}', **kms),
        "Missing required parameter": fake("kms", body="{}", **{**kms, "X_Amz_Target": "TrentService.DisableKey"}),
        "does not match pattern": fake("iam", body="Action=CreateAccessKey&Version=2010-05-08&UserName=bad+name%21",
                                       **form),
        "Version '2011-01-01', the model's apiVersion": fake("sts", body="Action=GetCallerIdentity&Version=2011-01-01", **form),
        "no botocore service": fake("nosuchservice", body="{}", **kms),
    }
    failures = [f"good request reported: {s['problems']}" for s in (run([r], "irprep-sim/", models) for r in good)
                if not s["ok"]]
    for want, rec in bad.items():
        s = run([rec], "irprep-sim/", models)
        if s["ok"] or not any(want in p for p in s["problems"]):
            failures.append(f"expected a problem with {want!r}, got {s['problems']}")
    s = run([fake("iam", body="Action=TagUser&Version=2010-05-08&UserName=u&Tags.member.1.Key=k&Tags.member.1.Value=v",
                  **form)], "irprep-sim/", models)
    if not s["ok"] or not s["patterns_skipped"]:
        failures.append(f"an uncompilable pattern (IAM tagKeyType) was not skipped and counted: {s}")
    if run([], "irprep-sim/", models)["ok"] or run(good, "no-such-marker/", models)["ok"]:
        failures.append("a recording with no marked request passed")
    for f in failures:
        print("SELF-TEST FAIL:", f)
    print(f"self-test: {len(good)} good, {len(bad)} broken requests, {len(failures)} failures")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("recording", nargs="?")
    ap.add_argument("--user-agent-marker", default="irprep-sim/")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--self-test", action="store_true")
    a = ap.parse_args()
    models = Models()
    if a.self_test:
        return self_test(models)
    if not a.recording:
        ap.error("RECORDING.jsonl is required")
    with open(a.recording) as f:
        records = [json.loads(line) for line in f if line.strip()]
    s = run(records, a.user_agent_marker, models)
    if a.json:
        print(json.dumps(s, indent=1))
    else:
        for p in s["problems"]:
            print(p)
        print(f"{s['requests']} requests checked, {len(s['operations'])} operations, "
              f"{len(s['problems'])} problems, {len(s['patterns_skipped'])} patterns skipped")
        if not s["requests"]:
            print(f"no request's User-Agent contains {a.user_agent_marker!r}")
    return 0 if s["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
