//! irprep's AWS edge: building SDK clients from the standard credential chain
//! (profiles, SSO, environment, IMDS) with `--profile/--region/--endpoint-url`,
//! and the S3 log source. Nothing in `irprep-core` sees these types.

pub mod analytics;
pub mod athena;
pub mod logs;
pub mod s3;
pub mod simulate;
pub mod wire;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The options every AWS-facing command takes.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsOptions {
    /// Load the SDK configuration (credential chain, region, endpoint).
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &self.endpoint_url {
            loader = loader.endpoint_url(e);
        }
        let conf = loader.load().await;
        if conf.region().is_none() {
            // A region is needed to sign; S3 listing works from any.
            return conf.into_builder().region(Region::new("us-east-1")).build();
        }
        conf
    }

    /// The account id of the caller (STS GetCallerIdentity).
    pub async fn account_id(&self, conf: &SdkConfig) -> anyhow::Result<String> {
        let sts = aws_sdk_sts::Client::new(conf);
        let id = sts.get_caller_identity().send().await.map_err(|e| {
            anyhow::anyhow!(
                "sts:GetCallerIdentity failed: {}",
                aws_sdk_sts::error::DisplayErrorContext(e)
            )
        })?;
        id.account
            .ok_or_else(|| anyhow::anyhow!("sts:GetCallerIdentity returned no account"))
    }
}
