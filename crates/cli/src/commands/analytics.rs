//! `irprep analytics ddl`: the Athena table over the trail bucket, with
//! partition projection, generated from the same table definition the local
//! engine reads with. (Deploying it to Glue/Athena is issue 6's next step.)

use anyhow::Result;
use clap::Subcommand;
use irprep_core::table::{cloudtrail_athena_ddl, DdlOptions};

#[derive(Debug, Subcommand)]
pub enum AnalyticsCmd {
    /// Print the Athena DDL of the `cloudtrail` table (partition projection over the CloudTrail S3 layout).
    Ddl {
        /// Table name.
        #[arg(long, default_value = "cloudtrail")]
        name: String,
        /// s3://bucket/prefix/AWSLogs/ (end with o-<org id>/ for an Organization trail).
        #[arg(long)]
        location: String,
        /// First date of the logs (yyyy/MM/dd).
        #[arg(long, default_value = "2024/01/01")]
        start_date: String,
        /// Accounts, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        accounts: Vec<String>,
        /// Regions, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        regions: Vec<String>,
    },
}

pub async fn run(cmd: AnalyticsCmd, _quiet: bool) -> Result<u8> {
    match cmd {
        AnalyticsCmd::Ddl { name, location, start_date, accounts, regions } => {
            if !location.starts_with("s3://") {
                return Err(super::usage("--location must be an s3:// URL"));
            }
            let valid_date = start_date.len() == 10 && start_date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'/' } else { b.is_ascii_digit() });
            if !valid_date {
                return Err(super::usage("--start-date must be yyyy/MM/dd"));
            }
            println!("{}", cloudtrail_athena_ddl(&DdlOptions { name, location, start_date, accounts, regions }));
            Ok(crate::exit::OK)
        }
    }
}
