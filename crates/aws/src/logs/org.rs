//! Which accounts and regions a run covers: the caller's account, or every
//! ACTIVE account of the Organization (paginated, `--include/--exclude`), each
//! reached through `--role-name`; the regions each account has enabled
//! (DescribeRegions), restricted by `--regions`. An account whose role cannot
//! be assumed, or whose regions cannot be listed, is a failure of the run,
//! not its end.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};
use aws_config::SdkConfig;
use aws_credential_types::provider::SharedCredentialsProvider;

use super::{err, regional, Failure};

/// One account × region to inspect.
#[derive(Debug, Clone)]
pub struct Target {
    pub account: String,
    pub region: String,
    /// Credentials for the account, with the region set.
    pub conf: SdkConfig,
    /// The account's home region in this run (account-wide sources such as
    /// CloudTrail are planned there).
    pub home: bool,
    /// The caller's own account (where the central bucket lives).
    pub management: bool,
    pub partition: String,
}

#[derive(Debug, Default)]
pub struct Targets {
    pub list: Vec<Target>,
    pub failures: Vec<Failure>,
    confs: BTreeMap<String, SdkConfig>,
}

impl Targets {
    pub fn conf_for(&self, account: &str, region: &str) -> Option<SdkConfig> {
        self.confs.get(account).map(|c| regional(c, region))
    }

    /// The target for an account × region, or one made from the account's
    /// credentials when the run does not inspect that region.
    pub fn target(&self, account: &str, region: &str) -> Option<Target> {
        if let Some(t) = self
            .list
            .iter()
            .find(|t| t.account == account && t.region == region)
        {
            return Some(t.clone());
        }
        let conf = self.conf_for(account, region)?;
        Some(Target {
            account: account.into(),
            region: region.into(),
            conf,
            home: true,
            management: false,
            partition: super::partition(region).into(),
        })
    }

    pub fn accounts(&self) -> Vec<String> {
        self.confs.keys().cloned().collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    pub org: bool,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub role_name: String,
    pub regions: Option<Vec<String>>,
}

/// The Organization's id, when the caller is in one.
pub async fn org_id(conf: &SdkConfig) -> Result<String> {
    Ok(organization(conf).await?.0)
}

/// The Organization's id and its management account (which owns an
/// Organization trail, even one a delegated administrator makes).
pub async fn organization(conf: &SdkConfig) -> Result<(String, String)> {
    let o = aws_sdk_organizations::Client::new(conf);
    let d = o
        .describe_organization()
        .send()
        .await
        .map_err(|e| err("organizations:DescribeOrganization", e))?;
    let org = d.organization();
    let id = org
        .and_then(|o| o.id())
        .map(String::from)
        .ok_or_else(|| anyhow!("organizations:DescribeOrganization returned no id"))?;
    let management = org
        .and_then(|o| o.master_account_id())
        .map(String::from)
        .ok_or_else(|| {
            anyhow!("organizations:DescribeOrganization returned no management account")
        })?;
    Ok((id, management))
}

/// Every ACTIVE account of the Organization.
pub async fn org_accounts(conf: &SdkConfig) -> Result<Vec<String>> {
    let o = aws_sdk_organizations::Client::new(conf);
    let mut out = vec![];
    let mut next = None;
    loop {
        let page = o
            .list_accounts()
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("organizations:ListAccounts", e))?;
        for a in page.accounts() {
            #[allow(deprecated)]
            let active = a.status().map(|s| s.as_str() == "ACTIVE").unwrap_or(false)
                || a.state().map(|s| s.as_str() == "ACTIVE").unwrap_or(false);
            if active {
                if let Some(id) = a.id() {
                    out.push(id.to_string());
                }
            }
        }
        next = page.next_token().map(String::from);
        if next.is_none() {
            break;
        }
    }
    out.sort();
    Ok(out)
}

async fn assume(conf: &SdkConfig, account: &str, role: &str, partition: &str) -> Result<SdkConfig> {
    use aws_credential_types::provider::ProvideCredentials as _;
    let arn = format!("arn:{partition}:iam::{account}:role/{role}");
    // A provider, not a set of keys: the SDK's identity cache refreshes the
    // role's credentials before they expire, so a long --org run (or a long
    // pause at the prompt) does not end in ExpiredToken.
    let provider = aws_config::sts::AssumeRoleProvider::builder(&arn)
        .session_name("irprep-logs")
        .session_length(std::time::Duration::from_secs(3600))
        .configure(conf)
        .build()
        .await;
    // Assumed once now, so an account without the role is reported up front.
    provider.provide_credentials().await.map_err(|e| {
        anyhow!(
            "sts:AssumeRole {arn}: {}",
            aws_sdk_sts::error::DisplayErrorContext(&e)
        )
    })?;
    Ok(conf
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// Regions enabled in the account (opted in or not needing it).
pub async fn enabled_regions(conf: &SdkConfig) -> Result<Vec<String>> {
    let ec2 = aws_sdk_ec2::Client::new(conf);
    let out = ec2
        .describe_regions()
        .all_regions(false)
        .send()
        .await
        .map_err(|e| err("ec2:DescribeRegions", e))?;
    let mut r: Vec<String> = out
        .regions()
        .iter()
        .filter(|r| r.opt_in_status().is_none_or(|s| s != "not-opted-in"))
        .filter_map(|r| r.region_name().map(String::from))
        .collect();
    r.sort();
    Ok(r)
}

/// Resolve the accounts and regions of a run.
pub async fn resolve(conf: &SdkConfig, caller: &str, o: &TargetOptions) -> Result<Targets> {
    let home_region = conf
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".into());
    let partition = super::partition(&home_region).to_string();
    let accounts: Vec<String> = if o.org {
        org_accounts(conf).await?
    } else {
        vec![caller.to_string()]
    };
    let accounts: Vec<String> = accounts
        .into_iter()
        .filter(|a| o.include.is_empty() || o.include.contains(a))
        .filter(|a| !o.exclude.contains(a))
        .collect();
    let mut t = Targets::default();
    for a in accounts {
        let aconf = if a == caller {
            conf.clone()
        } else {
            match assume(conf, &a, &o.role_name, &partition).await {
                Ok(c) => c,
                Err(e) => {
                    t.failures.push(Failure {
                        account: a.clone(),
                        region: "*".into(),
                        error: format!("{e:#}"),
                    });
                    continue;
                }
            }
        };
        let regions = match enabled_regions(&aconf).await {
            Ok(r) => r,
            Err(e) => {
                t.failures.push(Failure {
                    account: a.clone(),
                    region: "*".into(),
                    error: format!("{e:#}"),
                });
                continue;
            }
        };
        let regions: Vec<String> = match &o.regions {
            Some(want) => {
                for w in want {
                    if !regions.contains(w) {
                        t.failures.push(Failure {
                            account: a.clone(),
                            region: w.clone(),
                            error: "region not enabled in this account".into(),
                        });
                    }
                }
                regions.into_iter().filter(|r| want.contains(r)).collect()
            }
            None => regions,
        };
        // Account-wide sources are planned in the run's home region when the
        // account has it, else in its first region.
        let home = if regions.contains(&home_region) {
            home_region.clone()
        } else {
            regions.first().cloned().unwrap_or_default()
        };
        for r in &regions {
            t.list.push(Target {
                account: a.clone(),
                region: r.clone(),
                conf: regional(&aconf, r),
                home: *r == home,
                management: a == caller,
                partition: super::partition(r).to_string(),
            });
        }
        t.confs.insert(a, aconf);
    }
    Ok(t)
}
