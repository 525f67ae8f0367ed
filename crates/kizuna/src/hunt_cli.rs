//! `kizuna hunt`: arguments, running the scan, output and exit status.

use anyhow::Result;
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// Log files; `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

pub async fn run(args: HuntArgs) -> Result<ExitCode> {
    let _ = (args, crate::hunt_iocs::PLACEHOLDER, crate::hunt_sightings::PLACEHOLDER);
    unimplemented!("helper C")
}
