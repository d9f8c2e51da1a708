//! irprep's AWS edge: building SDK clients from the standard credential chain
//! (profiles, SSO, environment, IMDS) with `--profile/--region/--endpoint-url`,
//! and the S3 log source. Nothing in `irprep-core` sees these types.

pub mod analytics;
pub mod athena;
pub mod collect;
pub mod logs;
pub mod s3;
pub mod simulate;
pub mod trail_keys;
pub mod wire;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The options every AWS-facing command takes.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Accept a plain-http endpoint that is not on this machine.
    pub allow_insecure_endpoint: bool,
}

/// Refuse an endpoint that would carry signed requests (the access key id,
/// a session token, the request bodies) in clear over a network: `https`,
/// or `http` to a loopback address (an emulator on this machine), unless
/// `allow_insecure` is given.
pub fn check_endpoint(url: &str, allow_insecure: bool) -> anyhow::Result<()> {
    let u = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("--endpoint-url {url}: {e}"))?;
    let host = u.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    match u.scheme() {
        "https" => Ok(()),
        "http" if loopback || allow_insecure => Ok(()),
        "http" => anyhow::bail!(
            "--endpoint-url {url}: plain http to another machine would send signed requests in clear; use https, or pass --allow-insecure-endpoint"
        ),
        other => anyhow::bail!("--endpoint-url {url}: unsupported scheme '{other}' (https, or http on loopback)"),
    }
}

impl AwsOptions {
    /// Load the SDK configuration (credential chain, region, endpoint); the
    /// endpoint is checked first ([`check_endpoint`]).
    pub async fn load(&self) -> anyhow::Result<SdkConfig> {
        if let Some(e) = &self.endpoint_url {
            check_endpoint(e, self.allow_insecure_endpoint)?;
        }
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
        let conf = patient(loader.load().await);
        if conf.region().is_none() {
            // A region is needed to sign; S3 listing works from any.
            return Ok(conf.into_builder().region(Region::new("us-east-1")).build());
        }
        Ok(conf)
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

/// Attempts per call when the user has not set their own retry settings.
///
/// The SDK's default, 3 attempts in standard mode, suits one call; a logs
/// run across an Organization sends bursts of `Describe*` and S3 `Get*`
/// from several accounts at once, and 3 throttled attempts (S3 `SlowDown`,
/// EC2 `RequestLimitExceeded`) fail a whole account's row. Adaptive mode also
/// slows a client down once it has been throttled.
pub const MAX_ATTEMPTS: u32 = 8;

/// The SDK configuration with irprep's retries, unless the user chose theirs
/// (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, or a profile's `max_attempts` /
/// `retry_mode` other than the SDK's standard 3).
fn patient(conf: SdkConfig) -> SdkConfig {
    use aws_config::retry::{RetryConfig, RetryMode};
    let by_env = ["AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
    let by_profile = conf
        .retry_config()
        .is_some_and(|r| r.mode() != RetryMode::Standard || r.max_attempts() != 3);
    if by_env || by_profile {
        return conf;
    }
    conf.into_builder()
        .retry_config(
            RetryConfig::adaptive()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_max_backoff(std::time::Duration::from_secs(20)),
        )
        .build()
}

#[cfg(test)]
mod endpoint_tests {
    use super::check_endpoint;

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        for ok in [
            "https://s3.eu-west-1.amazonaws.com",
            "https://vpce-1.s3.example.internal:8443",
            "http://127.0.0.1:5000",
            "http://127.8.9.10",
            "http://localhost:4566",
            "http://[::1]:5000",
        ] {
            assert!(check_endpoint(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.5:5000",
            "http://attacker.example",
            "http://127.0.0.1.attacker.example",
            "ftp://127.0.0.1",
            "not a url",
        ] {
            assert!(check_endpoint(bad, false).is_err(), "{bad}");
        }
        assert!(check_endpoint("http://10.0.0.5:5000", true).is_ok());
    }
}
