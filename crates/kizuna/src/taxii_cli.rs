//! `kizuna taxii …`: manage this instance's TAXII collections and read remote ones.

use anyhow::Result;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum TaxiiCommand {
    /// Create a TAXII collection (a saved filter to read, optionally writable); prints only
    /// the new collection's id.
    AddCollection(crate::taxii_collection_cli::AddCollectionArgs),
    /// List this instance's TAXII collections, one JSON object per line.
    Collections(crate::taxii_collection_cli::ListCollectionsArgs),
    /// Read a remote TAXII collection into this instance's database, following its paging.
    Pull(crate::taxii_pull_cli::PullArgs),
}

pub async fn run(command: TaxiiCommand) -> Result<ExitCode> {
    match command {
        TaxiiCommand::AddCollection(args) => crate::taxii_collection_cli::run(args).await,
        TaxiiCommand::Collections(args) => crate::taxii_collection_cli::list(args).await,
        TaxiiCommand::Pull(args) => crate::taxii_pull_cli::run(args).await,
    }
}
