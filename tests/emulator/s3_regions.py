"""S3's region rule in front of moto_server, which has none.

    python s3_regions.py MOTO_URL [--deny-logging BUCKET]... [--fail N STATUS CODE METHOD PATH_RE]...
                                         serve on a free 127.0.0.1 port; print its URL, then a line
                                         per redirect ("redirected METHOD BUCKET from R1 to R2") and
                                         per failure answered ("failed METHOD PATH with CODE")

`--deny-logging BUCKET` also answers GetBucketLogging on BUCKET with 403
AccessDenied, as S3 does for a bucket whose policy denies the caller (moto
does not evaluate bucket policies for the bucket's own account).

`--fail N STATUS CODE METHOD PATH_RE` answers the first N requests whose method
is METHOD and whose path and query match the regular expression PATH_RE with
the service's own error: HTTP STATUS and error code CODE, in S3's XML form for
S3 and in the REST-JSON form (`x-amzn-ErrorType`) otherwise. This is what AWS
sends under load or contention (S3 `503 SlowDown`, EKS `409
ResourceInUseException` while another update of the cluster runs) and moto
never does.

Real S3 serves a bucket only in its own region: a request signed for another
region gets `301 PermanentRedirect` with the bucket's region in the
`x-amz-bucket-region` header (no body for HEAD), and the caller must send it
again to that region. moto answers every region alike, so a client that
ignores the redirect passes there and fails on AWS. This proxy forwards every
request to moto unchanged, except an S3 request addressed (path-style) to an
existing bucket whose region differs from the region in the request's SigV4
credential scope: that one gets S3's redirect. It also sets
`x-amz-bucket-region` on answers to HeadBucket, as S3 does.

A bucket's region is what moto's GetBucketLocation says (asked once per
bucket, with boto3, straight to moto). Not a general S3 proxy: only what the
tests send (path-style addressing, bodies with Content-Length or chunked).
"""
import http.client
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import botocore.exceptions

MOTO = urllib.parse.urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5000")
DENY_LOGGING = {sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--deny-logging" and i + 1 < len(sys.argv)}
_regions = {}
_lock = threading.Lock()
FAILS = []  # [remaining, status, code, method, regex]
for i, a in enumerate(sys.argv):
    if a == "--fail" and i + 5 < len(sys.argv):
        n, status, code, method, pat = sys.argv[i + 1:i + 6]
        FAILS.append([int(n), int(status), code, method, re.compile(pat)])
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")


def bucket_region(bucket):
    with _lock:
        if bucket in _regions:
            return _regions[bucket]
    s3 = boto3.client("s3", endpoint_url=f"{MOTO.scheme}://{MOTO.netloc}", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    try:
        loc = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except botocore.exceptions.ClientError:
        return None  # no such bucket (yet): let moto answer
    if loc == "EU":
        loc = "eu-west-1"
    with _lock:
        _regions[bucket] = loc
    return loc


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        data = self.body()
        m = SCOPE.search(self.headers.get("Authorization", ""))
        path = urllib.parse.urlparse(self.path).path
        bucket = urllib.parse.unquote(path.lstrip("/").split("/", 1)[0])
        region = None
        query = urllib.parse.urlparse(self.path).query
        fail = None
        with _lock:
            for f in FAILS:
                if f[0] > 0 and f[3] == self.command and f[4].search(self.path):
                    f[0] -= 1
                    fail = f
                    break
        if fail:
            _, status, code, _, _ = fail
            if m and m.group(2) == "s3":
                body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                        f"<Message>{code}</Message><RequestId>0</RequestId></Error>").encode()
                ctype, extra = "application/xml", {}
            else:
                body = ('{"message": "%s (answered by the test proxy)"}' % code).encode()
                ctype, extra = "application/json", {"x-amzn-ErrorType": code}
            print(f"failed {self.command} {urllib.parse.urlparse(self.path).path} with {code}", flush=True)
            self.send_response(status)
            for k, v in extra.items():
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if (self.command == "GET" and bucket in DENY_LOGGING and path.strip("/") == bucket
                and "logging" in urllib.parse.parse_qs(query, keep_blank_values=True)):
            body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code>"
                    f"<Message>Access Denied</Message><RequestId>0</RequestId></Error>").encode()
            self.send_response(403)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if m and m.group(2) == "s3" and bucket:
            region = bucket_region(bucket)
            if region and region != m.group(1):
                body = b"" if self.command == "HEAD" else (
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>PermanentRedirect</Code>"
                    "<Message>The bucket you are attempting to access must be addressed using the "
                    f"specified endpoint. Please send all future requests to this endpoint.</Message>"
                    f"<Endpoint>s3.{region}.amazonaws.com</Endpoint><Bucket>{bucket}</Bucket>"
                    "<RequestId>0000000000000000</RequestId></Error>").encode()
                print(f"redirected {self.command} {bucket} from {m.group(1)} to {region}", flush=True)
                self.send_response(301)
                self.send_header("x-amz-bucket-region", region)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)) if body else "0")
                self.end_headers()
                if body:
                    self.wfile.write(body)
                return
        conn = http.client.HTTPConnection(MOTO.hostname, MOTO.port, timeout=60)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("transfer-encoding", "content-length", "connection")}
        headers["Content-Length"] = str(len(data))
        conn.request(self.command, self.path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection", "server", "date"):
                self.send_header(k, v)
        if self.command == "HEAD" and region and path.strip("/") == bucket:
            self.send_header("x-amz-bucket-region", region)
        self.send_header("Content-Length", str(len(payload)) if self.command != "HEAD" else
                         r.getheader("Content-Length", "0"))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"http://127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
