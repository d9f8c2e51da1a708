//! `irprep logs collect`: event history and EKS audit events of every
//! target (account × region), copied into local files; no flags, no printing.

use std::path::Path;

use chrono::{DateTime, Utc};
use irprep_aws::collect::{self, Collected};
use irprep_aws::logs::org::Targets;
use irprep_aws::wire::WireClient;

/// What to collect.
#[derive(Debug, Clone)]
pub struct Request {
    pub event_history: bool,
    pub eks: bool,
    /// Clusters to read; empty: every cluster of each target (ListClusters).
    pub clusters: Vec<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One target's failure; the others go on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Failed {
    pub account: String,
    pub region: String,
    pub what: String,
    pub error: String,
}

/// Collect for every target, one after another (LookupEvents' rate is per
/// account and region, so targets could overlap; one at a time keeps the
/// account's other callers their share).
pub async fn run(
    targets: &Targets,
    endpoint_url: Option<String>,
    req: &Request,
    out: &Path,
    on_page: &mut (dyn FnMut(u64) + Send),
) -> (Vec<Collected>, Vec<Failed>) {
    let mut done = vec![];
    // Accounts or regions that could not be reached are failures too: a
    // collection that silently skipped them would look complete.
    let mut failed: Vec<Failed> = targets
        .failures
        .iter()
        .map(|f| Failed {
            account: f.account.clone(),
            region: f.region.clone(),
            what: "targets".into(),
            error: f.error.clone(),
        })
        .collect();
    for t in &targets.list {
        let fail = |what: &str, e: anyhow::Error| Failed {
            account: t.account.clone(),
            region: t.region.clone(),
            what: what.into(),
            error: format!("{e:#}"),
        };
        let client = match WireClient::new(&t.conf, endpoint_url.clone(), None).await {
            Ok(c) => c,
            Err(e) => {
                failed.push(fail("credentials", e));
                continue;
            }
        };
        if req.event_history {
            match collect::event_history(
                &client, &t.account, &t.region, req.start, req.end, out, on_page,
            )
            .await
            {
                Ok(c) => done.push(c),
                Err(e) => failed.push(fail("event-history", e)),
            }
        }
        if req.eks {
            let clusters = if req.clusters.is_empty() {
                match collect::list_clusters(&t.conf).await {
                    Ok(c) => c,
                    Err(e) => {
                        failed.push(fail("eks", e));
                        continue;
                    }
                }
            } else {
                req.clusters.clone()
            };
            for cl in clusters {
                match collect::eks_audit(
                    &client, &t.account, &t.region, &cl, req.start, req.end, out, on_page,
                )
                .await
                {
                    Ok(c) => done.push(c),
                    Err(e) => failed.push(fail(&format!("eks:{cl}"), e)),
                }
            }
        }
    }
    (done, failed)
}
