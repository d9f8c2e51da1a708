//! Applying an analytics [`Deployment`] to Glue and Athena, and removing it.
//!
//! `plan` reads the account and lists what differs; `apply` makes exactly
//! those changes, so a second deploy plans nothing. irprep only changes what
//! it created: what its ledger (`logs::ledger`) records *and* what carries
//! its marker (the Glue parameter `irprep:managed=true`, the workgroup tag of
//! that name). Anything else with a clashing name, including a table or
//! workgroup that only carries the marker (anyone may write it), stops the
//! plan with an error instead of being overwritten, and is never destroyed.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_athena::error::ProvideErrorMetadata;
use aws_sdk_athena::types as at;
use aws_sdk_glue::types as gt;
use irprep_core::analytics::{Deployment, NamedQuery, MANAGED_KEY, MANAGED_VALUE, QUERY_PREFIX};
use irprep_core::ddl::AthenaTable;
use serde::Serialize;

use crate::logs::ledger::{Entry, Kind, Ledger, Record};

/// One change of a plan.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    /// `create`, `update` or `delete`.
    pub action: String,
    /// `glue:database`, `glue:table`, `athena:workgroup`, `athena:named-query`.
    pub resource: String,
    pub name: String,
    pub detail: String,
}

fn change(action: &str, resource: &str, name: &str, detail: impl Into<String>) -> Change {
    Change {
        action: action.into(),
        resource: resource.into(),
        name: name.into(),
        detail: detail.into(),
    }
}

pub struct Clients {
    pub glue: aws_sdk_glue::Client,
    pub athena: aws_sdk_athena::Client,
    pub account: String,
    pub region: String,
    pub partition: String,
    /// irprep's record of what it made (empty until `with_ledger`).
    pub ledger: Ledger,
    conf: SdkConfig,
}

impl Clients {
    pub async fn new(conf: &SdkConfig, account: String) -> Self {
        let region = conf
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        Clients {
            glue: aws_sdk_glue::Client::new(conf),
            athena: aws_sdk_athena::Client::new(conf),
            account,
            partition: partition_of(&region).into(),
            region,
            ledger: Ledger::fresh(),
            conf: conf.clone(),
        }
    }

    /// The same, with irprep's ledger read.
    pub async fn with_ledger(mut self) -> Result<Self> {
        if let Some(l) = crate::logs::ledger::load(&self.conf).await? {
            self.ledger = l;
        }
        Ok(self)
    }

    /// Write what an apply did into the ledger.
    pub async fn record(&self, records: &[Record]) -> Result<()> {
        crate::logs::ledger::update(&self.conf, records).await
    }

    fn entry(&self, kind: Kind, id: &str) -> Entry {
        Entry::new(&self.account, &self.region, kind, id)
    }

    fn recorded(&self, kind: Kind, id: &str) -> bool {
        self.ledger.has(&self.account, &self.region, kind, id)
    }

    fn workgroup_arn(&self, name: &str) -> String {
        format!(
            "arn:{}:athena:{}:{}:workgroup/{name}",
            self.partition, self.region, self.account
        )
    }
}

/// The ARN partition of a region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

fn sdk_err<E: ProvideErrorMetadata + std::fmt::Debug>(what: &str, e: &E) -> anyhow::Error {
    anyhow!(
        "{what}: {} {}",
        e.code().unwrap_or("error"),
        e.message().unwrap_or("")
    )
}

fn is_managed(params: Option<&HashMap<String, String>>) -> bool {
    params
        .and_then(|p| p.get(MANAGED_KEY))
        .is_some_and(|v| v == MANAGED_VALUE)
}

/// What Glue holds for a table, in the terms we compare.
#[derive(Debug, PartialEq, Eq)]
struct TableShape {
    columns: Vec<(String, String)>,
    partitions: Vec<String>,
    params: Vec<(String, String)>,
    location: String,
    serde_lib: String,
    input_format: String,
}

fn wanted_shape(t: &AthenaTable) -> TableShape {
    let mut params: Vec<(String, String)> = t.table_params.clone();
    params.push((MANAGED_KEY.into(), MANAGED_VALUE.into()));
    params.sort();
    TableShape {
        columns: t.columns.clone(),
        partitions: t.partition_keys.clone(),
        params,
        location: t.location.clone(),
        serde_lib: t.serde_lib.clone(),
        input_format: t.input_format.clone(),
    }
}

fn actual_shape(t: &gt::Table, wanted_keys: &[String]) -> TableShape {
    let sd = t.storage_descriptor();
    let mut params: Vec<(String, String)> = t
        .parameters()
        .map(|p| {
            p.iter()
                .filter(|(k, _)| wanted_keys.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    params.sort();
    TableShape {
        columns: sd
            .map(|s| {
                s.columns()
                    .iter()
                    .map(|c| (c.name().to_string(), c.r#type().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        partitions: t
            .partition_keys()
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        params,
        location: sd.and_then(|s| s.location()).unwrap_or("").to_string(),
        serde_lib: sd
            .and_then(|s| s.serde_info())
            .and_then(|s| s.serialization_library())
            .unwrap_or("")
            .to_string(),
        input_format: sd.and_then(|s| s.input_format()).unwrap_or("").to_string(),
    }
}

fn diff_detail(want: &TableShape, have: &TableShape) -> String {
    let mut d = vec![];
    if want.columns != have.columns {
        d.push("columns");
    }
    if want.partitions != have.partitions {
        d.push("partition keys");
    }
    if want.params != have.params {
        d.push("projection/parameters");
    }
    if want.location != have.location {
        d.push("location");
    }
    if want.serde_lib != have.serde_lib || want.input_format != have.input_format {
        d.push("format");
    }
    format!("changes {}", d.join(", "))
}

fn table_input(t: &AthenaTable) -> Result<gt::TableInput> {
    let col = |(n, ty): &(String, String)| {
        gt::Column::builder()
            .name(n)
            .r#type(ty)
            .build()
            .map_err(|e| anyhow!("{e}"))
    };
    let columns = t.columns.iter().map(col).collect::<Result<Vec<_>>>()?;
    let parts = t
        .partition_keys
        .iter()
        .map(|k| col(&(k.clone(), "string".into())))
        .collect::<Result<Vec<_>>>()?;
    let mut params: HashMap<String, String> = t.table_params.iter().cloned().collect();
    params.insert(MANAGED_KEY.into(), MANAGED_VALUE.into());
    let serde = gt::SerDeInfo::builder()
        .serialization_library(&t.serde_lib)
        .set_parameters(Some(t.serde_params.iter().cloned().collect()))
        .build();
    let sd = gt::StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(&t.location)
        .input_format(&t.input_format)
        .output_format(&t.output_format)
        .serde_info(serde)
        .build();
    gt::TableInput::builder()
        .name(&t.name)
        .description(&t.description)
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(params))
        .set_partition_keys(Some(parts))
        .storage_descriptor(sd)
        .build()
        .map_err(|e| anyhow!("{e}"))
}

/// Named queries irprep made in a workgroup: name -> (id, sql, description).
async fn existing_queries(
    c: &Clients,
    workgroup: &str,
) -> Result<HashMap<String, (String, String, String)>> {
    let mut ids = vec![];
    let mut next: Option<String> = None;
    loop {
        let out = c
            .athena
            .list_named_queries()
            .work_group(workgroup)
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(|e| sdk_err("athena:ListNamedQueries", &e))?;
        ids.extend(out.named_query_ids().iter().cloned());
        next = out.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    let mut out = HashMap::new();
    // One GetNamedQuery per id (BatchGetNamedQuery would be fewer calls; the
    // emulator the tests use does not implement it).
    for id in ids {
        let q = c
            .athena
            .get_named_query()
            .named_query_id(&id)
            .send()
            .await
            .map_err(|e| sdk_err("athena:GetNamedQuery", &e))?;
        if let Some(nq) = q.named_query() {
            if nq.name().starts_with(QUERY_PREFIX) {
                out.insert(
                    nq.name().to_string(),
                    (
                        id.clone(),
                        nq.query_string().to_string(),
                        nq.description().unwrap_or("").to_string(),
                    ),
                );
            }
        }
    }
    Ok(out)
}

/// The workgroup's state: None if absent, else (managed?, output location, cutoff).
async fn workgroup_state(c: &Clients, name: &str) -> Result<Option<(bool, at::WorkGroup)>> {
    let wg = match c.athena.get_work_group().work_group(name).send().await {
        Ok(o) => o.work_group().cloned(),
        Err(e) => {
            let msg = e.message().unwrap_or("").to_lowercase();
            if e.code() == Some("InvalidRequestException")
                && (msg.contains("not found")
                    || msg.contains("is not found")
                    || msg.contains("does not exist"))
            {
                None
            } else {
                return Err(sdk_err("athena:GetWorkGroup", &e));
            }
        }
    };
    let Some(wg) = wg else { return Ok(None) };
    let tags = c
        .athena
        .list_tags_for_resource()
        .resource_arn(c.workgroup_arn(name))
        .send()
        .await
        .map_err(|e| sdk_err("athena:ListTagsForResource", &e))?;
    let managed = tags
        .tags()
        .iter()
        .any(|t| t.key() == Some(MANAGED_KEY) && t.value() == Some(MANAGED_VALUE));
    Ok(Some((managed, wg)))
}

fn workgroup_differs(d: &Deployment, wg: &at::WorkGroup) -> Vec<&'static str> {
    let mut out = vec![];
    let conf = wg.configuration();
    let loc = conf
        .and_then(|c| c.result_configuration())
        .and_then(|r| r.output_location())
        .unwrap_or("");
    if loc != d.workgroup.results {
        out.push("result location");
    }
    if conf.and_then(|c| c.bytes_scanned_cutoff_per_query()) != d.workgroup.bytes_scanned_cutoff {
        out.push("bytes-scanned cutoff");
    }
    if conf.and_then(|c| c.enforce_work_group_configuration()) != Some(true) {
        out.push("enforced configuration");
    }
    let enc = conf
        .and_then(|c| c.result_configuration())
        .and_then(|r| r.encryption_configuration());
    let want_enc = if d.workgroup.kms_key.is_some() {
        "SSE_KMS"
    } else {
        "SSE_S3"
    };
    if enc.map(|e| e.encryption_option().as_str()) != Some(want_enc) {
        out.push("result encryption");
    }
    out
}

/// Each table's date-partition format in a database (Glue's
/// `projection.date_partition.format`), so a time window compares in the
/// table's own form (Hive-compatible flow-log keys carry `year=…/…`).
/// Empty when Glue cannot be read: the default form is used.
pub async fn date_formats(
    conf: &SdkConfig,
    database: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut pages = aws_sdk_glue::Client::new(conf)
        .get_tables()
        .database_name(database)
        .into_paginator()
        .send();
    while let Some(Ok(p)) = pages.next().await {
        for t in p.table_list() {
            if let Some(f) = t
                .parameters()
                .and_then(|m| m.get("projection.date_partition.format"))
            {
                out.insert(t.name().to_string(), f.clone());
            }
        }
    }
    out
}

/// Whether a table is in the Glue catalogue: `Some(false)` only when Glue
/// says it is not; `None` when Glue could not be asked.
pub async fn table_exists(conf: &SdkConfig, database: &str, table: &str) -> Option<bool> {
    match aws_sdk_glue::Client::new(conf)
        .get_table()
        .database_name(database)
        .name(table)
        .send()
        .await
    {
        Ok(_) => Some(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) =>
        {
            Some(false)
        }
        Err(_) => None,
    }
}

/// The first date of an existing table's date projection (so a later run
/// keeps it rather than moving the start to its own day).
pub async fn existing_start_date(c: &Clients, database: &str, table: &str) -> Option<String> {
    let t = c
        .glue
        .get_table()
        .database_name(database)
        .name(table)
        .send()
        .await
        .ok()?;
    let range = t
        .table()?
        .parameters()?
        .get("projection.date_partition.range")?
        .clone();
    range.split(',').next().map(String::from)
}

/// What deploying `d` would change.
pub async fn plan(c: &Clients, d: &Deployment) -> Result<Vec<Change>> {
    let mut changes = vec![];
    let db_exists = match c.glue.get_database().name(&d.database).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) =>
        {
            false
        }
        Err(e) => return Err(sdk_err("glue:GetDatabase", &e)),
    };
    if !db_exists {
        changes.push(change(
            "create",
            "glue:database",
            &d.database,
            "Glue database for the log tables",
        ));
    }
    for t in &d.tables {
        let want = wanted_shape(t);
        let keys: Vec<String> = want.params.iter().map(|(k, _)| k.clone()).collect();
        let existing = if db_exists {
            match c
                .glue
                .get_table()
                .database_name(&d.database)
                .name(&t.name)
                .send()
                .await
            {
                Ok(o) => o.table().cloned(),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_entity_not_found_exception()) =>
                {
                    None
                }
                Err(e) => return Err(sdk_err("glue:GetTable", &e)),
            }
        } else {
            None
        };
        match existing {
            None => changes.push(change(
                "create",
                "glue:table",
                &t.name,
                format!(
                    "{} columns, partitions {}, {}",
                    t.columns.len(),
                    t.partition_keys.join("/"),
                    t.location
                ),
            )),
            Some(have) => {
                if !is_managed(have.parameters())
                    || !c.recorded(Kind::GlueTable, &format!("{}.{}", d.database, t.name))
                {
                    bail!("Glue table {}.{} exists and irprep's ledger does not record making it; choose another table name (irprep never overwrites it)", d.database, t.name);
                }
                let have = actual_shape(&have, &keys);
                if have != want {
                    changes.push(change(
                        "update",
                        "glue:table",
                        &t.name,
                        diff_detail(&want, &have),
                    ));
                }
            }
        }
    }
    let wg = workgroup_state(c, &d.workgroup.name).await?;
    let existing_q = match &wg {
        None => {
            changes.push(change(
                "create",
                "athena:workgroup",
                &d.workgroup.name,
                format!(
                    "engine v3, enforced, results {} ({})",
                    d.workgroup.results,
                    if d.workgroup.kms_key.is_some() {
                        "SSE-KMS"
                    } else {
                        "SSE-S3"
                    }
                ),
            ));
            HashMap::new()
        }
        Some((managed, w)) => {
            if !managed || !c.recorded(Kind::Workgroup, &d.workgroup.name) {
                bail!("Athena workgroup {} exists and irprep's ledger does not record making it; choose another --workgroup (irprep never changes it)", d.workgroup.name);
            }
            let diffs = workgroup_differs(d, w);
            if !diffs.is_empty() {
                changes.push(change(
                    "update",
                    "athena:workgroup",
                    &d.workgroup.name,
                    format!("changes {}", diffs.join(", ")),
                ));
            }
            existing_queries(c, &d.workgroup.name).await?
        }
    };
    for q in &d.named_queries {
        match existing_q.get(&q.name) {
            None => changes.push(change("create", "athena:named-query", &q.name, "")),
            Some((_, sql, desc)) if sql != &q.sql || desc != &q.description => {
                changes.push(change(
                    "update",
                    "athena:named-query",
                    &q.name,
                    "query text changed",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(changes)
}

/// Make the planned changes, in order; what is created goes into `records`
/// as soon as it exists.
pub async fn apply(
    c: &Clients,
    d: &Deployment,
    changes: &[Change],
    records: &mut Vec<Record>,
) -> Result<()> {
    let mut existing_q: Option<HashMap<String, (String, String, String)>> = None;
    for ch in changes {
        match (ch.resource.as_str(), ch.action.as_str()) {
            ("glue:database", "create") => {
                let input = gt::DatabaseInput::builder()
                    .name(&d.database)
                    .description("Security log tables (generated by irprep)")
                    .parameters(MANAGED_KEY, MANAGED_VALUE)
                    .build()
                    .map_err(|e| anyhow!("{e}"))?;
                c.glue
                    .create_database()
                    .database_input(input)
                    .send()
                    .await
                    .map_err(|e| sdk_err("glue:CreateDatabase", &e))?;
                records.push(Record::Added(c.entry(Kind::GlueDatabase, &d.database)));
            }
            ("glue:table", action) => {
                let t = d
                    .tables
                    .iter()
                    .find(|t| t.name == ch.name)
                    .context("planned table")?;
                let input = table_input(t)?;
                if action == "create" {
                    c.glue
                        .create_table()
                        .database_name(&d.database)
                        .table_input(input)
                        .send()
                        .await
                        .map_err(|e| sdk_err("glue:CreateTable", &e))?;
                    records.push(Record::Added(
                        c.entry(Kind::GlueTable, &format!("{}.{}", d.database, t.name)),
                    ));
                } else {
                    c.glue
                        .update_table()
                        .database_name(&d.database)
                        .table_input(input)
                        .send()
                        .await
                        .map_err(|e| sdk_err("glue:UpdateTable", &e))?;
                }
            }
            ("athena:workgroup", action) => {
                let w = &d.workgroup;
                let enc = match &w.kms_key {
                    Some(k) => at::EncryptionConfiguration::builder()
                        .encryption_option(at::EncryptionOption::SseKms)
                        .kms_key(k)
                        .build(),
                    None => at::EncryptionConfiguration::builder()
                        .encryption_option(at::EncryptionOption::SseS3)
                        .build(),
                }
                .map_err(|e| anyhow!("{e}"))?;
                let engine = at::EngineVersion::builder()
                    .selected_engine_version("Athena engine version 3")
                    .build();
                if action == "create" {
                    let rc = at::ResultConfiguration::builder()
                        .output_location(&w.results)
                        .encryption_configuration(enc)
                        .build();
                    let conf = at::WorkGroupConfiguration::builder()
                        .result_configuration(rc)
                        .enforce_work_group_configuration(true)
                        .publish_cloud_watch_metrics_enabled(true)
                        .requester_pays_enabled(false)
                        .engine_version(engine)
                        .set_bytes_scanned_cutoff_per_query(w.bytes_scanned_cutoff)
                        .build();
                    let tag = at::Tag::builder()
                        .key(MANAGED_KEY)
                        .value(MANAGED_VALUE)
                        .build();
                    c.athena
                        .create_work_group()
                        .name(&w.name)
                        .description(&w.description)
                        .configuration(conf)
                        .tags(tag)
                        .send()
                        .await
                        .map_err(|e| sdk_err("athena:CreateWorkGroup", &e))?;
                    records.push(Record::Added(c.entry(Kind::Workgroup, &w.name)));
                } else {
                    let rc = at::ResultConfigurationUpdates::builder()
                        .output_location(&w.results)
                        .encryption_configuration(enc)
                        .build();
                    let mut up = at::WorkGroupConfigurationUpdates::builder()
                        .result_configuration_updates(rc)
                        .enforce_work_group_configuration(true)
                        .engine_version(engine);
                    up = match w.bytes_scanned_cutoff {
                        Some(n) => up.bytes_scanned_cutoff_per_query(n),
                        None => up.remove_bytes_scanned_cutoff_per_query(true),
                    };
                    c.athena
                        .update_work_group()
                        .work_group(&w.name)
                        .configuration_updates(up.build())
                        .send()
                        .await
                        .map_err(|e| sdk_err("athena:UpdateWorkGroup", &e))?;
                }
            }
            ("athena:named-query", action) => {
                let q: &NamedQuery = d
                    .named_queries
                    .iter()
                    .find(|q| q.name == ch.name)
                    .context("planned query")?;
                if action == "create" {
                    c.athena
                        .create_named_query()
                        .name(&q.name)
                        .description(&q.description)
                        .database(&d.database)
                        .query_string(&q.sql)
                        .work_group(&d.workgroup.name)
                        .client_request_token(token(&q.name, &q.sql))
                        .send()
                        .await
                        .map_err(|e| sdk_err("athena:CreateNamedQuery", &e))?;
                } else {
                    if existing_q.is_none() {
                        existing_q = Some(existing_queries(c, &d.workgroup.name).await?);
                    }
                    let id = existing_q
                        .as_ref()
                        .and_then(|m| m.get(&q.name))
                        .map(|x| x.0.clone())
                        .context("named query to update")?;
                    c.athena
                        .update_named_query()
                        .named_query_id(id)
                        .name(&q.name)
                        .description(&q.description)
                        .query_string(&q.sql)
                        .send()
                        .await
                        .map_err(|e| sdk_err("athena:UpdateNamedQuery", &e))?;
                }
            }
            (r, a) => bail!("unknown change {a} {r}"),
        }
    }
    Ok(())
}

/// An idempotency token from the query's name and text (32-128 chars).
fn token(name: &str, sql: &str) -> String {
    let h = crate::wire::sha256_hex(format!("{name}\n{sql}").as_bytes());
    format!("irprep-{}", &h[..48])
}

/// What `analytics destroy` would remove: the managed tables of the
/// deployment, the database if irprep made it and nothing else is in it, and
/// the managed workgroup (with its named queries).
pub async fn plan_destroy(
    c: &Clients,
    database: &str,
    tables: &[String],
    workgroup: &str,
) -> Result<Vec<Change>> {
    let mut changes = vec![];
    let db = match c.glue.get_database().name(database).send().await {
        Ok(o) => o.database().cloned(),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_not_found_exception()) =>
        {
            None
        }
        Err(e) => return Err(sdk_err("glue:GetDatabase", &e)),
    };
    if let Some(db) = db {
        let mut all = vec![];
        let mut next = None;
        loop {
            let out = c
                .glue
                .get_tables()
                .database_name(database)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| sdk_err("glue:GetTables", &e))?;
            all.extend(out.table_list().iter().cloned());
            next = out.next_token().map(String::from);
            if next.is_none() {
                break;
            }
        }
        let mut left = 0;
        for t in &all {
            let ours = is_managed(t.parameters())
                && c.recorded(Kind::GlueTable, &format!("{database}.{}", t.name()));
            if ours && (tables.is_empty() || tables.iter().any(|n| n == t.name())) {
                changes.push(change(
                    "delete",
                    "glue:table",
                    t.name(),
                    format!("{database}.{}", t.name()),
                ));
            } else {
                left += 1;
            }
        }
        if is_managed(db.parameters()) && c.recorded(Kind::GlueDatabase, database) && left == 0 {
            changes.push(change("delete", "glue:database", database, ""));
        }
    }
    let wg_ours = matches!(workgroup_state(c, workgroup).await?, Some((true, _)));
    if wg_ours && c.recorded(Kind::Workgroup, workgroup) {
        changes.push(change(
            "delete",
            "athena:workgroup",
            workgroup,
            "with its named queries",
        ));
    }
    Ok(changes)
}

pub async fn apply_destroy(
    c: &Clients,
    database: &str,
    workgroup: &str,
    changes: &[Change],
    records: &mut Vec<Record>,
) -> Result<()> {
    for ch in changes {
        match ch.resource.as_str() {
            "glue:table" => {
                c.glue
                    .delete_table()
                    .database_name(database)
                    .name(&ch.name)
                    .send()
                    .await
                    .map_err(|e| sdk_err("glue:DeleteTable", &e))?;
                records.push(Record::Removed(
                    c.entry(Kind::GlueTable, &format!("{database}.{}", ch.name)),
                ));
            }
            "glue:database" => {
                c.glue
                    .delete_database()
                    .name(database)
                    .send()
                    .await
                    .map_err(|e| sdk_err("glue:DeleteDatabase", &e))?;
                records.push(Record::Removed(c.entry(Kind::GlueDatabase, database)));
            }
            "athena:workgroup" => {
                c.athena
                    .delete_work_group()
                    .work_group(workgroup)
                    .recursive_delete_option(true)
                    .send()
                    .await
                    .map_err(|e| sdk_err("athena:DeleteWorkGroup", &e))?;
                records.push(Record::Removed(c.entry(Kind::Workgroup, workgroup)));
            }
            other => bail!("unknown resource {other}"),
        }
    }
    Ok(())
}

/// `<prefix><account>/<service>/`, or `<prefix><account>/` for a layout
/// without a service folder (S3 server access logs' date-based keys).
fn service_dir(awslogs_prefix: &str, account: &str, service: &str) -> String {
    if service.is_empty() {
        format!("{awslogs_prefix}{account}/")
    } else {
        format!("{awslogs_prefix}{account}/{service}/")
    }
}

/// Accounts, regions and VPCs under `s3://bucket/prefix/AWSLogs/`, by listing
/// the layout's levels (common prefixes only, no objects read).
pub async fn discover_layout(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    awslogs_prefix: &str,
    service: &str,
) -> Result<(Vec<String>, Vec<String>)> {
    let accounts = list_dirs(s3, bucket, awslogs_prefix).await?;
    let accounts: Vec<String> = accounts
        .into_iter()
        .filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    let mut places = std::collections::BTreeSet::new();
    for a in &accounts {
        for p in list_dirs(s3, bucket, &service_dir(awslogs_prefix, a, service)).await? {
            places.insert(p);
        }
    }
    Ok((accounts, places.into_iter().collect()))
}

/// The names one level below each account and place of a layout
/// (`AWSLogs/<account>/<service>/<place>/<name>/`: WAF web ACLs, EKS clusters).
pub async fn discover_names(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    awslogs_prefix: &str,
    service: &str,
) -> Result<Vec<String>> {
    let (accounts, _) = discover_layout(s3, bucket, awslogs_prefix, service).await?;
    let mut names = std::collections::BTreeSet::new();
    for a in &accounts {
        let base = service_dir(awslogs_prefix, a, service);
        for p in list_dirs(s3, bucket, &base).await? {
            for n in list_dirs(s3, bucket, &format!("{base}{p}/")).await? {
                names.insert(n);
            }
        }
    }
    Ok(names.into_iter().collect())
}

/// A partition's values read off the estate itself, for a table whose logs
/// have not arrived yet (nothing to discover in the bucket): an enum a
/// query can run on, where an injected projection would fail every query
/// that does not name the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstatePartition {
    /// The Organization's active accounts for an `AWSLogs/o-…/` location,
    /// else the caller's own account.
    Accounts,
    /// The Regions enabled in the account.
    Regions,
    /// Every VPC of every enabled Region (the DNS table's place).
    Vpcs,
    /// The account's buckets (the S3 access table's name).
    Buckets,
    /// The web ACLs of every enabled Region and CloudFront (WAF).
    WebAcls,
    /// The EKS clusters of every enabled Region.
    Clusters,
}

/// The values of `what` in the estate `conf` reaches; `location` is the
/// table's `…/AWSLogs/` URL (an Organization trail's ends in `o-…/`).
pub async fn estate_values(
    conf: &SdkConfig,
    what: EstatePartition,
    location: &str,
) -> Result<Vec<String>> {
    use crate::logs::err;
    let in_region = |r: &str| {
        conf.to_builder()
            .region(aws_config::Region::new(r.to_string()))
            .build()
    };
    let regions = || crate::logs::org::enabled_regions(conf);
    let mut out = std::collections::BTreeSet::new();
    match what {
        EstatePartition::Accounts => {
            let org = location
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .is_some_and(|l| l.starts_with("o-"));
            if org {
                out.extend(crate::logs::org::org_accounts(conf).await?);
            } else {
                out.insert(crate::AwsOptions::default().account_id(conf).await?);
            }
        }
        EstatePartition::Regions => out.extend(regions().await?),
        EstatePartition::Vpcs => {
            for r in regions().await? {
                let ec2 = aws_sdk_ec2::Client::new(&in_region(&r));
                let mut pages = ec2.describe_vpcs().into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| err(&format!("ec2:DescribeVpcs in {r}"), e))?;
                    out.extend(
                        page.vpcs()
                            .iter()
                            .filter_map(|v| v.vpc_id().map(String::from)),
                    );
                }
            }
        }
        EstatePartition::Buckets => {
            let s3 = aws_sdk_s3::Client::new(conf);
            let mut pages = s3.list_buckets().max_buckets(1000).into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| err("s3:ListBuckets", e))?;
                out.extend(
                    page.buckets()
                        .iter()
                        .filter_map(|b| b.name().map(String::from)),
                );
            }
        }
        EstatePartition::WebAcls => {
            // CloudFront web ACLs are reached in us-east-1 only.
            for r in regions().await? {
                let acls = crate::logs::sources::waf::web_acls_in(&in_region(&r), r == "us-east-1")
                    .await
                    .map_err(|e| anyhow!("in {r}: {e:#}"))?;
                out.extend(acls.into_iter().map(|(_, name, _)| name));
            }
        }
        EstatePartition::Clusters => {
            for r in regions().await? {
                let eks = aws_sdk_eks::Client::new(&in_region(&r));
                let mut pages = eks.list_clusters().into_paginator().send();
                while let Some(page) = pages.next().await {
                    let page = page.map_err(|e| err(&format!("eks:ListClusters in {r}"), e))?;
                    out.extend(page.clusters().iter().cloned());
                }
            }
        }
    }
    Ok(out.into_iter().collect())
}

async fn list_dirs(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut out = vec![];
    let mut next = None;
    loop {
        let r = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .set_continuation_token(next)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "s3:ListObjectsV2 s3://{bucket}/{prefix}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        for cp in r.common_prefixes() {
            if let Some(p) = cp.prefix() {
                let name = p.trim_start_matches(prefix).trim_end_matches('/');
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
        }
        next = r.next_continuation_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The settings of an existing flow log that its Athena table must follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLogSettings {
    /// The flow log's `LogFormat` (`${version} ${srcaddr} …`).
    pub log_format: String,
    /// Its destination options, when it reports them: Parquet files rather
    /// than text, Hive-compatible partitions, hourly partitions.
    pub options: Option<FlowLogOptions>,
    /// Where it delivers, as `s3://bucket[/prefix]/AWSLogs/`.
    pub location: String,
}

/// A flow log's S3 destination options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLogOptions {
    pub parquet: bool,
    pub hive: bool,
    pub hourly: bool,
}

/// Read an existing flow log's settings (`ec2:DescribeFlowLogs`).
pub async fn flow_log_settings(conf: &SdkConfig, id: &str) -> anyhow::Result<FlowLogSettings> {
    use anyhow::Context;
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let out = ec2
        .describe_flow_logs()
        .flow_log_ids(id)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "ec2:DescribeFlowLogs {id}: {}",
                aws_sdk_ec2::error::DisplayErrorContext(e)
            )
        })?;
    let fl = out
        .flow_logs()
        .first()
        .with_context(|| format!("no flow log {id} in this region"))?;
    if fl.log_destination_type().map(|t| t.as_str()) != Some("s3") {
        anyhow::bail!("flow log {id} does not deliver to S3; Athena reads only S3 flow logs");
    }
    let log_format = fl
        .log_format()
        .map(String::from)
        .context("the flow log reports no LogFormat")?;
    let o = fl.destination_options();
    // arn:aws:s3:::bucket[/prefix] -> s3://bucket[/prefix]/AWSLogs/
    let dest = fl
        .log_destination()
        .context("the flow log reports no destination")?;
    let path = dest
        .split(":::")
        .nth(1)
        .context("unexpected destination ARN")?
        .trim_end_matches('/');
    Ok(FlowLogSettings {
        log_format,
        options: o.map(|o| FlowLogOptions {
            parquet: o.file_format().map(|f| f.as_str()) == Some("parquet"),
            hive: o.hive_compatible_partitions().unwrap_or(false),
            hourly: o.per_hour_partition().unwrap_or(false),
        }),
        location: format!("s3://{path}/AWSLogs/"),
    })
}
