"""Glue/Athena/S3 on moto_server, seen with boto3 (not through irprep).

    python analytics.py upload URL BUCKET PREFIX DIR [REGION]
                                                          put every file under DIR at PREFIX<relative path>
                                                          (the bucket made in REGION, default us-east-1)
    python analytics.py state URL DATABASE WORKGROUP      print Glue tables and Athena named queries as JSON
    python analytics.py foreign-table URL DATABASE NAME   create a database (if absent) and a table irprep did not make
    python analytics.py eks-cluster URL NAME REGION       create an EKS cluster
    python analytics.py sent URL WORKGROUP                the SQL of every query run in WORKGROUP (JSON list)
    python analytics.py queue URL FILE                    queue canned Athena results (JSON list of
                                                          {"columns": [[name, type]...], "rows": [[...]...]})

Used by crates/cli/tests/analytics_moto.rs.
"""
import json
import os
import sys
import urllib.request

import boto3


def c(svc, url, region="us-east-1"):
    return boto3.client(svc, endpoint_url=url, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def upload(url, bucket, prefix, root, region="us-east-1"):
    s3 = c("s3", url, region)
    try:
        if region == "us-east-1":
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(Bucket=bucket,
                             CreateBucketConfiguration={"LocationConstraint": region})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    n = 0
    for dirpath, _dirs, files in os.walk(root):
        for f in sorted(files):
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            s3.upload_file(path, bucket, prefix + rel)
            n += 1
    print(json.dumps({"uploaded": n}))


def state(url, database, workgroup):
    glue = c("glue", url)
    athena = c("athena", url)
    out = {"database": None, "tables": {}, "workgroup": None, "named_queries": {}}
    try:
        out["database"] = glue.get_database(Name=database)["Database"].get("Parameters", {})
        for t in glue.get_tables(DatabaseName=database)["TableList"]:
            sd = t.get("StorageDescriptor", {})
            out["tables"][t["Name"]] = {
                "columns": [[col["Name"], col["Type"]] for col in sd.get("Columns", [])],
                "partition_keys": [[k["Name"], k["Type"]] for k in t.get("PartitionKeys", [])],
                "parameters": t.get("Parameters", {}),
                "location": sd.get("Location"),
                "serde": sd.get("SerdeInfo", {}).get("SerializationLibrary"),
                "input_format": sd.get("InputFormat"),
            }
    except glue.exceptions.EntityNotFoundException:
        pass
    wg = athena.get_work_group(WorkGroup=workgroup).get("WorkGroup")
    if wg:
        arn = f"arn:aws:athena:us-east-1:123456789012:workgroup/{workgroup}"
        tags = athena.list_tags_for_resource(ResourceARN=arn).get("Tags", [])
        out["workgroup"] = {"configuration": wg.get("Configuration", {}), "tags": {t["Key"]: t["Value"] for t in tags}}
        ids, token = [], None
        while True:
            page = athena.list_named_queries(WorkGroup=workgroup, **({"NextToken": token} if token else {}))
            ids += page.get("NamedQueryIds", [])
            token = page.get("NextToken")
            if not token:
                break
        for i in ids:
            q = athena.get_named_query(NamedQueryId=i)["NamedQuery"]
            out["named_queries"][q["Name"]] = {"database": q["Database"], "sql": q["QueryString"], "description": q.get("Description")}
    print(json.dumps(out, sort_keys=True, default=str))


def foreign_table(url, database, name, marked=False):
    """A table irprep did not make; `marked`: carrying irprep's marker
    parameter all the same (anyone allowed to update a table can set it)."""
    glue = c("glue", url)
    try:
        glue.create_database(DatabaseInput={"Name": database})
    except glue.exceptions.AlreadyExistsException:
        pass
    glue.create_table(DatabaseName=database, TableInput={
        "Name": name, "TableType": "EXTERNAL_TABLE",
        "Parameters": {"irprep:managed": "true"} if marked else {},
        "StorageDescriptor": {"Columns": [{"Name": "x", "Type": "string"}], "Location": "s3://someone-else/"},
    })


def eks_cluster(url, name, region):
    c("eks", url, region).create_cluster(
        name=name, roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": []})


def sent(url, workgroup):
    a = c("athena", url)
    ids = a.list_query_executions(WorkGroup=workgroup).get("QueryExecutionIds", [])
    print(json.dumps([a.get_query_execution(QueryExecutionId=i)["QueryExecution"]["Query"] for i in ids]))


def queue(url, path):
    with open(path) as f:
        results = json.load(f)
    body = {"account_id": "123456789012", "region": "us-east-1", "results": []}
    for r in results:
        header = {"Data": [{"VarCharValue": n} for n, _t in r["columns"]]}
        rows = [header] + [{"Data": [({} if v is None else {"VarCharValue": str(v)}) for v in row]} for row in r["rows"]]
        body["results"].append({"rows": rows, "column_info": [{"Name": n, "Type": t} for n, t in r["columns"]]})
    req = urllib.request.Request(url + "/moto-api/static/athena/query-results", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    urllib.request.urlopen(req).read()


if __name__ == "__main__":
    cmd, url = sys.argv[1], sys.argv[2]
    if cmd == "upload":
        upload(url, *sys.argv[3:7])
    elif cmd == "state":
        state(url, sys.argv[3], sys.argv[4])
    elif cmd == "foreign-table":
        foreign_table(url, sys.argv[3], sys.argv[4], len(sys.argv) > 5 and sys.argv[5] == "marked")
    elif cmd == "eks-cluster":
        eks_cluster(url, sys.argv[3], sys.argv[4])
    elif cmd == "sent":
        sent(url, sys.argv[3])
    elif cmd == "queue":
        queue(url, sys.argv[3])
    else:
        sys.exit(f"unknown command {cmd}")
