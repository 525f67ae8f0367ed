//! `kizuna taxii pull`.

use crate::cli::DatabaseArgs;
use anyhow::{Result, bail};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub async fn run(_args: PullArgs) -> Result<ExitCode> {
    bail!("kizuna taxii pull is not available in this build")
}
