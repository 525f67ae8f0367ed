//! `kizuna taxii add-collection` and `kizuna taxii collections`: the admin API's rules for
//! TAXII collections, on the command line.

use crate::cli::DatabaseArgs;
use anyhow::{Result, bail};
use clap::Args;
use kizuna_server::taxii::admin::{CollectionInput, apply, new_collection, render};
use kizuna_store::{Key, Store, StoreError};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct AddCollectionArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The collection's title, as TAXII clients list it.
    #[arg(long)]
    pub title: String,
    #[arg(long, default_value = "")]
    pub description: String,
    /// Another name for the collection in URLs (letters, digits, '-', '_', '.').
    #[arg(long, default_value = "")]
    pub alias: String,
    /// Let users whose role may add events POST objects into it.
    #[arg(long)]
    pub writable: bool,
    /// restSearch filters as a JSON object, e.g. '{"tags":["tlp:clear"],"to_ids":true}';
    /// default: every event the reader may see.
    #[arg(long, value_name = "JSON")]
    pub filter: Option<String>,
    /// An organisation (id, name or uuid) allowed to read; repeat for several; default:
    /// every organisation.
    #[arg(long = "read-org", value_name = "ORG")]
    pub read_orgs: Vec<String>,
    /// An organisation allowed to write; repeat for several; default: every organisation.
    #[arg(long = "write-org", value_name = "ORG")]
    pub write_orgs: Vec<String>,
    /// Distribution of events created by POSTs (0-4) [default: 0, your organisation only].
    #[arg(long)]
    pub distribution: Option<i64>,
    /// The sharing group of those events, with --distribution 4.
    #[arg(long)]
    pub sharing_group_id: Option<i64>,
}

#[derive(Debug, Args)]
pub struct ListCollectionsArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub async fn run(args: AddCollectionArgs) -> Result<ExitCode> {
    let store = crate::user_cli::open(&args.database).await?;
    let now = kizuna_server::now();
    let filter = match &args.filter {
        None => None,
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value @ serde_json::Value::Object(_)) => Some(value),
            Ok(_) => bail!("--filter must be a JSON object of restSearch filters"),
            Err(error) => bail!("--filter is not JSON: {error}"),
        },
    };
    let input = CollectionInput {
        title: Some(args.title),
        description: Some(args.description),
        alias: Some(args.alias),
        writable: Some(args.writable),
        filter,
        read_orgs: Some(org_ids(&store, &args.read_orgs, "--read-org").await?),
        write_orgs: Some(org_ids(&store, &args.write_orgs, "--write-org").await?),
        distribution: args.distribution,
        sharing_group_id: args.sharing_group_id,
    };
    let mut collection = new_collection(now);
    let errors = apply(&store, &mut collection, input, now).await?;
    if !errors.is_empty() {
        bail!("the collection was not created: {}", errors.summary());
    }
    match store.create_taxii_collection(&collection).await {
        Ok(()) => {}
        Err(StoreError::Conflict(message)) => bail!("the collection was not created: {message}"),
        Err(other) => return Err(other.into()),
    }
    println!("{}", collection.id);
    Ok(ExitCode::SUCCESS)
}

/// `kizuna taxii collections`: one JSON object per line.
pub async fn list(args: ListCollectionsArgs) -> Result<ExitCode> {
    let store = crate::user_cli::open(&args.database).await?;
    for collection in store.taxii_collections().await? {
        println!("{}", render(&collection));
    }
    Ok(ExitCode::SUCCESS)
}

/// Organisations named by id, uuid or name (any case).
async fn org_ids(store: &Store, names: &[String], flag: &str) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let by_key = match Key::parse(name.trim()) {
            Some(key) => match store.org(&key).await {
                Ok(org) => Some(org),
                Err(StoreError::NotFound) => None,
                Err(other) => return Err(other.into()),
            },
            None => None,
        };
        let org = match by_key {
            Some(org) => org,
            None => match store.org_by_name(name.trim()).await? {
                Some(org) => org,
                None => bail!("{flag} {name:?}: there is no such organisation"),
            },
        };
        ids.push(org.id);
    }
    Ok(ids)
}
