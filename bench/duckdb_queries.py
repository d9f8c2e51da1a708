"""The five benchmark queries on DuckDB, over the same gzipped delivery files.

    python duckdb_queries.py CORPUS_DIR D2 D3 QUERY_NAME OUT_CSV

Uses the fastest DuckDB form found for CloudTrail delivery files: read_json
with format='unstructured', records=true and an explicit `Records` column of
only the fields the query uses, then unnest. Partitions come from the file
name (filename=true), as in the S3 layout. Prints the elapsed seconds.
"""
import sys
import time

import duckdb

corpus, d2, d3, name, out = sys.argv[1:6]
GLOB = f"{corpus}/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz"

def records(fields):
    return f"STRUCT({', '.join(fields)})[]"

SRC = {
    "Q1": (["eventName VARCHAR", "errorCode VARCHAR"], False),
    "Q2": (["eventSource VARCHAR", "eventName VARCHAR", "errorCode VARCHAR", "userIdentity STRUCT(arn VARCHAR)"], False),
    "Q3": (["eventID VARCHAR", "eventTime VARCHAR", "eventName VARCHAR", "errorCode VARCHAR", "responseElements JSON"], False),
    "Q4": (["userIdentity STRUCT(arn VARCHAR)", "sourceIPAddress VARCHAR"], False),
    "Q5": (["eventID VARCHAR"], True),
}

def source(q):
    fields, want_file = SRC[q]
    return (f"(SELECT unnest(Records) AS r{', filename' if want_file else ''} FROM read_json('{GLOB}', format='unstructured', "
            f"records=true, columns={{'Records': '{records(fields)}'}}, maximum_object_size=1073741824, filename={'true' if want_file else 'false'}))")

QUERIES = {
    "Q1": "SELECT r.eventName AS eventname, count(*) AS n FROM {src} WHERE r.errorCode = 'Client.DryRunOperation' GROUP BY 1 ORDER BY n DESC, eventname",
    "Q2": "SELECT r.userIdentity.arn AS arn, r.eventName AS eventname, count(*) AS n FROM {src} WHERE r.eventSource = 'iam.amazonaws.com' AND r.eventName NOT LIKE 'Get%' AND r.eventName NOT LIKE 'List%' AND r.errorCode IS NULL GROUP BY 1, 2 ORDER BY n DESC, arn, eventname",
    "Q3": "SELECT r.eventID AS eventid, r.eventTime AS eventtime, json_extract_string(r.responseElements, '$.accessKey.userName') AS user_name, json_extract_string(r.responseElements, '$.accessKey.accessKeyId') AS key_id FROM {src} WHERE r.eventName = 'CreateAccessKey' AND r.errorCode IS NULL ORDER BY eventtime, eventid",
    "Q4": "SELECT r.userIdentity.arn AS arn, count(DISTINCT r.sourceIPAddress) AS ips, count(*) AS n FROM {src} WHERE r.userIdentity.arn IS NOT NULL GROUP BY 1 ORDER BY n DESC, arn LIMIT 20",
    # Q5 filters on the date in the key, so only those days' files matter; DuckDB still lists all.
    "Q5": "SELECT regexp_extract(filename, '/CloudTrail/([^/]+)/', 1) AS region_partition, count(*) AS n FROM {src} WHERE regexp_extract(filename, '/CloudTrail/[^/]+/([0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}})/', 1) BETWEEN '{d2}' AND '{d3}' GROUP BY 1 ORDER BY 1",
}

con = duckdb.connect()
con.execute("SET threads TO 2")
sql = QUERIES[name].format(src=source(name), d2=d2, d3=d3)
t = time.perf_counter()
rows = con.execute(sql).fetchall()
elapsed = time.perf_counter() - t
with open(out, "w") as f:
    for r in rows:
        f.write(",".join("" if v is None else str(v) for v in r) + "\n")
print(f"{elapsed:.3f}")
