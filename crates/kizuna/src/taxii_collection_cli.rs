//! `kizuna taxii add-collection`.

use crate::cli::DatabaseArgs;
use anyhow::{Result, bail};
use clap::Args;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AddCollectionArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub async fn run(_args: AddCollectionArgs) -> Result<ExitCode> {
    bail!("kizuna taxii add-collection is not available in this build")
}
