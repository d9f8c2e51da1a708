//! `irprep report`: a hunt's JSON (and a drill's) as one self-contained
//! HTML page.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use irprep::exit::ExitStatus;
use irprep::ops::drill::DrillScore;
use irprep::ops::report::{DetectionInfo, HuntDocument};

use crate::args::CatalogueArgs;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  irprep hunt --logs ./AWSLogs --format json > hunt.json && irprep report --hunt hunt.json -o report.html\n  irprep drill --format json > drill.json && irprep report --hunt hunt.json --drill drill.json -o report.html\n  irprep hunt --logs ./AWSLogs --report report.html     # the same in one step, with coverage and evidence"
)]
pub struct ReportArgs {
    /// The output of `irprep hunt --format json` (`-`: standard input).
    #[arg(long, value_name = "FILE.json")]
    pub hunt: Option<PathBuf>,
    /// The output of `irprep drill --format json`: what it validated.
    #[arg(long, value_name = "FILE.json")]
    pub drill: Option<PathBuf>,
    /// Where to write the page.
    #[arg(long, short, value_name = "FILE.html")]
    pub output: PathBuf,
    #[command(flatten)]
    pub catalogue: CatalogueArgs,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut v = vec![];
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut v)?;
        return Ok(v);
    }
    std::fs::read(path).map_err(|e| super::usage(format!("{}: {e}", path.display())))
}

pub fn run(a: ReportArgs, quiet: bool) -> Result<ExitStatus> {
    if a.hunt.is_none() && a.drill.is_none() {
        return Err(super::usage(
            "nothing to report: give --hunt FILE.json (irprep hunt --format json) and/or --drill FILE.json",
        ));
    }
    let hunt: Option<HuntDocument> = match &a.hunt {
        Some(p) => Some(serde_json::from_slice(&read(p)?).map_err(|e| {
            super::usage(format!(
                "{}: not the JSON of `irprep hunt --format json`: {e}",
                p.display()
            ))
        })?),
        None => None,
    };
    let drill: Option<DrillScore> = match &a.drill {
        Some(p) => Some(serde_json::from_slice(&read(p)?).map_err(|e| {
            super::usage(format!(
                "{}: not the JSON of `irprep drill --format json`: {e}",
                p.display()
            ))
        })?),
        None => None,
    };
    let catalogue: Vec<DetectionInfo> = a
        .catalogue
        .load()?
        .detections
        .iter()
        .map(DetectionInfo::of)
        .collect();
    let validated = drill
        .as_ref()
        .map(|d| irprep::ops::report::validated(d, &catalogue))
        .unwrap_or_default();
    crate::report::write(
        &a.output,
        hunt.as_ref(),
        drill.as_ref(),
        validated,
        catalogue,
        quiet,
    )?;
    Ok(ExitStatus::Ok)
}
