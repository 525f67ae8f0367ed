//! `kizuna export`: what restSearch answers, written to a file or standard output, straight
//! from the database — the list a proxy, firewall, IDS or DNS server should load today, a
//! STIX bundle, or a MISP feed folder another instance can subscribe to.

use crate::cli::DatabaseArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use kizuna_formats::misp::filters::{ReturnFormat, Scope, parse_search};
use kizuna_model::access::Viewer;
use kizuna_server::Warninglists;
use kizuna_server::misp::rest_search::write_search;
use kizuna_store::Store;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Output format: json, csv, text, hashes, hosts, edl, suricata, snort, zeek, rpz,
    /// cache, stix2, misp-feed.
    #[arg(long, value_name = "FORMAT")]
    pub format: String,
    /// Write here instead of standard output (misp-feed: a folder, created if needed).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export what is valid at this time (epoch, date, RFC 3339, `7d` ago) instead of now.
    #[arg(long, value_name = "TIME", conflicts_with = "all")]
    pub valid_at: Option<String>,
    /// Export regardless of validity (expired, not yet valid and withdrawn indicators too).
    #[arg(long)]
    pub all: bool,
    /// Attribute types (repeatable; `!type` excludes).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Tags on the event or attribute (repeatable; `!tag` excludes).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Categories (repeatable).
    #[arg(long, value_name = "CATEGORY")]
    pub category: Vec<String>,
    /// Values (repeatable; `%` wildcards).
    #[arg(long, value_name = "VALUE")]
    pub value: Vec<String>,
    /// Events, by id or uuid (repeatable).
    #[arg(long, value_name = "ID_OR_UUID")]
    pub event: Vec<String>,
    /// Events published within this period (`7d`, `12h`, an epoch or a date).
    #[arg(long, value_name = "PERIOD")]
    pub last: Option<String>,
    /// Include attributes not flagged for IDS (device formats export IDS ones only).
    #[arg(long)]
    pub include_non_ids: bool,
    /// Include unpublished events (device formats export published ones only).
    #[arg(long)]
    pub include_unpublished: bool,
    /// Which EDL list (edl format): inbound-addresses, outbound-addresses,
    /// outbound-domains, outbound-urls.
    #[arg(long, value_name = "LIST")]
    pub edl_list: Option<String>,
    /// Further restSearch filters as a JSON object (MISP's names), e.g.
    /// '{"threat_level_id": [1, 2]}'.
    #[arg(long, value_name = "JSON")]
    pub filters: Option<String>,
    /// Export only what this organisation may see (by name or id) [default: everything].
    #[arg(long, value_name = "NAME_OR_ID")]
    pub as_org: Option<String>,
}

pub async fn run(args: ExportArgs) -> Result<()> {
    let store = crate::user_cli::open(&args.database).await?;
    let outcome = export(&store, &args).await;
    store.close().await;
    outcome
}

async fn export(store: &Store, args: &ExportArgs) -> Result<()> {
    let viewer = match &args.as_org {
        None => Viewer::SiteAdmin,
        Some(wanted) => {
            let org = crate::user_cli::find_org(store, wanted)
                .await?
                .with_context(|| format!("no organisation named {wanted:?}"))?;
            Viewer::organisation(org.id, store.authorised_sharing_groups(org.id).await?)
        }
    };
    let params = search_params(args)?;
    if args.format == "misp-feed" {
        let folder = args
            .output
            .as_ref()
            .context("--format misp-feed writes a folder: give it with -o DIR")?;
        return crate::feed_cli::write_feed(store, viewer, params, folder).await;
    }
    let scope = match args.format.as_str() {
        "json" | "stix2" => Scope::Events,
        _ => Scope::Attributes,
    };
    let request = parse_search(&params, scope, Some(&args.format), kizuna_server::now())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    if request.format == ReturnFormat::Count {
        bail!("count is not an export format");
    }
    let warninglists = Arc::new(Warninglists::new(kizuna_matcher::WarninglistSet::defaults()));
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut bytes = 0u64;
    write_search(store, &warninglists, viewer, request, scope, |chunk| {
        bytes += chunk.len() as u64;
        out.write_all(chunk.as_bytes())
    })
    .await
    .map_err(|error| anyhow::anyhow!("{error}"))?;
    out.flush().context("cannot write the export")?;
    if let Some(path) = &args.output {
        eprintln!("{}: {bytes} bytes written", path.display());
    }
    Ok(())
}

/// The restSearch filters the flags stand for.
fn search_params(args: &ExportArgs) -> Result<Map<String, Value>> {
    let mut params = match &args.filters {
        Some(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            Ok(_) => bail!("--filters must be a JSON object"),
            Err(error) => bail!("--filters is not valid JSON: {error}"),
        },
        None => Map::new(),
    };
    let mut list = |name: &str, values: &[String]| {
        if !values.is_empty() {
            params.insert(name.into(), json!(values));
        }
    };
    list("type", &args.types);
    list("tags", &args.tags);
    list("category", &args.category);
    list("value", &args.value);
    list("eventid", &args.event);
    if let Some(last) = &args.last {
        params.insert("last".into(), json!(last));
    }
    if args.include_non_ids {
        params.insert("to_ids".into(), json!([0, 1]));
    }
    if args.include_unpublished {
        params.insert("published".into(), json!([0, 1]));
    }
    if let Some(list) = &args.edl_list {
        params.insert("edl_list".into(), json!(list));
    }
    // Every format, MISP's own included: an export is for use now unless told otherwise.
    let valid_at = match (&args.valid_at, args.all) {
        (_, true) => "all",
        (Some(moment), false) => moment.as_str(),
        (None, false) => "now",
    };
    params.insert("valid_at".into(), json!(valid_at));
    Ok(params)
}
