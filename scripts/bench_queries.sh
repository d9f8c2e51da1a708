# The five benchmark queries (issue 2), shared by bench.sh and bench_ab.sh.
# Source it with CORPUS set to the corpus directory (the one holding AWSLogs/).
# shellcheck shell=bash
D2=$(ls -d "$CORPUS"/AWSLogs/111122223333/CloudTrail/us-east-1/*/*/* | sort | sed -n 2p | sed 's|.*/us-east-1/||')
D3=$(ls -d "$CORPUS"/AWSLogs/111122223333/CloudTrail/us-east-1/*/*/* | sort | sed -n 3p | sed 's|.*/us-east-1/||')

declare -A SQL
SQL[Q1]="SELECT eventname, count(*) AS n FROM cloudtrail WHERE errorcode = 'Client.DryRunOperation' GROUP BY eventname ORDER BY n DESC, eventname"
SQL[Q2]="SELECT useridentity.arn AS arn, eventname, count(*) AS n FROM cloudtrail WHERE eventsource = 'iam.amazonaws.com' AND eventname NOT LIKE 'Get%' AND eventname NOT LIKE 'List%' AND errorcode IS NULL GROUP BY 1, 2 ORDER BY n DESC, arn, eventname"
SQL[Q3]="SELECT eventid, eventtime, json_extract_scalar(responseelements, '\$.accessKey.userName') AS user_name, json_extract_scalar(responseelements, '\$.accessKey.accessKeyId') AS key_id FROM cloudtrail WHERE eventname = 'CreateAccessKey' AND errorcode IS NULL ORDER BY eventtime, eventid"
SQL[Q4]="SELECT useridentity.arn AS arn, count(DISTINCT sourceipaddress) AS ips, count(*) AS n FROM cloudtrail WHERE useridentity.arn IS NOT NULL GROUP BY 1 ORDER BY n DESC, arn LIMIT 20"
SQL[Q5]="SELECT region_partition, count(*) AS n FROM cloudtrail WHERE date_partition BETWEEN '$D2' AND '$D3' GROUP BY 1 ORDER BY 1"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
