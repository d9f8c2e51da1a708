//! Scenarios on AWS: a run planned (account, regions, run id, marker), then
//! each scenario's calls sent, one manifest per scenario. Shared by
//! `simulate run` and `drill --live`; the caller shows the plan and asks
//! before [`run`].

use anyhow::Result;
use aws_config::SdkConfig;
use irprep_aws::simulate::{self, CallRecord, Manifest, RunContext};
use irprep_aws::wire::WireClient;
use irprep_core::scenario::Scenario;

/// A run about to start: nothing has been sent yet but the read-only calls
/// that found the account and its regions.
pub struct LiveRun {
    pub client: WireClient,
    pub ctx: RunContext,
    pub run_id: String,
    /// The user-agent marker every call of the run carries.
    pub marker: String,
}

/// Find the account and the regions (`regions` empty: every enabled one)
/// and give the run its id.
pub async fn plan(
    conf: &SdkConfig,
    endpoint_url: Option<String>,
    regions: &[String],
) -> Result<LiveRun> {
    let run_id = simulate::new_run_id();
    let marker = simulate::marker(&run_id);
    let client = WireClient::new(conf, endpoint_url, Some(&marker)).await?;
    let ctx = simulate::discover(&client, conf, regions).await?;
    Ok(LiveRun {
        client,
        ctx,
        run_id,
        marker,
    })
}

/// Send every scenario's calls; `on_call` sees each call as it returns.
pub async fn run(
    run: &LiveRun,
    scenarios: &[Scenario],
    keep_going: bool,
    mut on_call: impl FnMut(&CallRecord),
) -> Result<Vec<Manifest>> {
    let mut out = vec![];
    for s in scenarios {
        out.push(
            simulate::run_scenario(
                &run.client,
                &run.ctx,
                s,
                &run.run_id,
                keep_going,
                &mut on_call,
            )
            .await?,
        );
    }
    Ok(out)
}

/// The runs' events as CloudTrail LookupEvents returns them (every page),
/// written as NDJSON to `path`, for a hunt over what arrived.
pub async fn write_lookup_events(
    client: &WireClient,
    manifests: &[Manifest],
    path: &std::path::Path,
) -> Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for m in manifests {
        for raw in simulate::lookup_raw_events(client, m).await? {
            writeln!(f, "{raw}")?;
        }
    }
    f.flush()?;
    Ok(())
}
