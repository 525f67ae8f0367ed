//! `kizuna import`: MISP event files, MISP feeds (a folder or URL with manifest.json), STIX
//! 2.1 bundles, CSV and free text into the database, with a summary of what was added,
//! updated, left alone and rejected (and where, so the source can be fixed).
//!
//! Exit status: 0 when everything was imported, 1 when some items were rejected (the good
//! ones are in), 2 when the import could not run at all.

use crate::cli::DatabaseArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kizuna_formats::csv_import::{CsvMapping, parse_csv};
use kizuna_formats::freetext::{ParsedValues, TldSet, parse_freetext};
use kizuna_formats::misp::feed::parse_lenient_json;
use kizuna_formats::stix::import::{StixImportOptions, bundle_to_misp_events};
use kizuna_model::Distribution;
use kizuna_server::import::{
    FeedProgress, ImportSettings, ImportSummary, SourceLocation, import_event, import_misp_feed,
    read_source, values_event,
};
use kizuna_store::Store;
use serde_json::Value;
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// What the sources hold; `auto` decides per source from its content and name.
    #[arg(long, value_enum, default_value_t = ImportFormat::Auto)]
    pub format: ImportFormat,
    /// Organisation owning the imported events, by name or id [default: the instance's host
    /// organisation, the one `kizuna init` or the first `kizuna serve` created].
    #[arg(long, value_name = "NAME_OR_ID")]
    pub org: Option<String>,
    /// Distribution forced on every imported event (0 your organisation, 1 this community,
    /// 2 connected communities, 3 all communities) [default: as the source says; 0 for CSV
    /// and text].
    #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u8).range(0..=3))]
    pub distribution: Option<u8>,
    /// Publish the imported events.
    #[arg(long)]
    pub publish: bool,
    /// Tag added to every imported event (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Title (`info`) of the event made from a CSV or text source [default: "Import of
    /// <file name>"].
    #[arg(long, value_name = "TEXT")]
    pub info: Option<String>,
    /// Leave events that already exist alone, even when the source has a newer version.
    #[arg(long)]
    pub no_update: bool,
    /// Files, folders (MISP feeds) or http(s) URLs.
    #[arg(required = true, value_name = "PATH_OR_URL")]
    pub sources: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    Auto,
    /// MISP event JSON: one event, a list, or a restSearch answer.
    Misp,
    /// A MISP feed: manifest.json plus one <uuid>.json per event.
    MispFeed,
    /// A STIX 2.1 bundle (or a TAXII envelope).
    Stix,
    /// CSV: a header naming value/type/category/comment/to_ids, or values in every column.
    Csv,
    /// Free text: indicators found wherever they are, defanged ones included.
    Text,
}

pub async fn run(args: ImportArgs) -> Result<ExitCode> {
    let store = crate::user_cli::open(&args.database).await?;
    let outcome = import_all(&store, &args).await;
    store.close().await;
    let summary = outcome?;
    print_summary(&summary);
    Ok(if summary.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn import_all(store: &Store, args: &ImportArgs) -> Result<ImportSummary> {
    let (org_id, user_id) = owner(store, args.org.as_deref()).await?;
    let mut settings = ImportSettings::owned_by(org_id, user_id);
    settings.distribution = args
        .distribution
        .and_then(|level| Distribution::from_i64(i64::from(level)))
        .map(|distribution| (distribution, 0));
    settings.publish = args.publish.then_some(true);
    settings.tags = args.tags.clone();
    settings.update_existing = !args.no_update;
    let tlds = TldSet::new(kizuna_matcher::top_level_domains());
    let mut total = ImportSummary::default();
    for source in &args.sources {
        let location = SourceLocation::parse(source);
        let summary = import_source(store, &location, args, &settings, &tlds)
            .await
            .with_context(|| format!("cannot import {source}"))?;
        print_source_line(source, &summary);
        total.merge(summary);
    }
    Ok(total)
}

/// The owner organisation and a user of it for imported events (`--org`, else the host
/// organisation).
pub(crate) async fn owner(store: &Store, wanted: Option<&str>) -> Result<(i64, i64)> {
    let org = match wanted {
        Some(wanted) => crate::user_cli::find_org(store, wanted)
            .await?
            .with_context(|| format!("no organisation named {wanted:?}"))?,
        None => {
            let host = store
                .setting("host_org_id")
                .await?
                .and_then(|id| id.parse::<i64>().ok())
                .context(
                    "the database has no host organisation yet; run `kizuna init` (or start \
                     `kizuna serve` once) first, or name one with --org",
                )?;
            store.org(&kizuna_store::Key::Id(host)).await?
        }
    };
    let user_id = store
        .list_users(Some(org.id))
        .await?
        .first()
        .map_or(0, |user| user.id);
    Ok((org.id, user_id))
}

async fn import_source(
    store: &Store,
    location: &SourceLocation,
    args: &ImportArgs,
    settings: &ImportSettings,
    tlds: &TldSet,
) -> Result<ImportSummary> {
    let format = match args.format {
        ImportFormat::Auto if location.is_feed() => ImportFormat::MispFeed,
        other => other,
    };
    if format == ImportFormat::MispFeed {
        return import_feed(store, location, settings).await;
    }
    let bytes = read_source(location).await.map_err(anyhow::Error::msg)?;
    let text = String::from_utf8_lossy(&bytes);
    let name = location.display_name();
    let format = match format {
        ImportFormat::Auto => detect_format(&text, location),
        other => other,
    };
    match format {
        ImportFormat::Misp => {
            let document = parse_lenient_json(text.as_bytes()).map_err(anyhow::Error::msg)?;
            let events =
                misp_events(document).with_context(|| format!("{name} holds no MISP event"))?;
            import_events(store, &name, &events, settings).await
        }
        ImportFormat::Stix => {
            let document = parse_lenient_json(text.as_bytes()).map_err(anyhow::Error::msg)?;
            let options = StixImportOptions {
                default_info: format!("STIX import of {name}"),
            };
            let imported = bundle_to_misp_events(&document, &options);
            let mut summary = import_events(store, &name, &imported.events, settings).await?;
            summary
                .rejected
                .extend(imported.rejected.into_iter().map(|r| r.in_source(&name)));
            Ok(summary)
        }
        ImportFormat::Csv | ImportFormat::Text => {
            let parsed = if format == ImportFormat::Csv {
                parse_csv(&text, &CsvMapping::detect(&text), tlds).map_err(anyhow::Error::msg)?
            } else {
                parse_freetext(&text, tlds)
            };
            import_values(store, &name, parsed, args, settings).await
        }
        ImportFormat::Auto | ImportFormat::MispFeed => unreachable!("decided above"),
    }
}

/// Values from CSV or text become one event; lists are the importer's own data, so they
/// stay in the organisation unless told otherwise.
async fn import_values(
    store: &Store,
    name: &str,
    parsed: ParsedValues,
    args: &ImportArgs,
    settings: &ImportSettings,
) -> Result<ImportSummary> {
    let mut settings = settings.clone();
    settings.keep_creator = false;
    if settings.distribution.is_none() {
        settings.distribution = Some((Distribution::OrganisationOnly, 0));
    }
    let mut summary = ImportSummary {
        duplicates: parsed.duplicates as u64,
        rejected: parsed
            .rejected
            .into_iter()
            .map(|rejection| rejection.in_source(name))
            .collect(),
        ..ImportSummary::default()
    };
    if parsed.values.is_empty() {
        if summary.rejected.is_empty() {
            bail!("{name} holds no indicator Kizuna recognises");
        }
        return Ok(summary);
    }
    let info = args
        .info
        .clone()
        .unwrap_or_else(|| format!("Import of {name}"));
    let today = time::OffsetDateTime::now_utc().date();
    let event = values_event(&info, &parsed.values, today);
    let saved = import_event(store, name, &event, &settings, kizuna_server::now()).await?;
    summary.merge(saved);
    Ok(summary)
}

async fn import_feed(
    store: &Store,
    location: &SourceLocation,
    settings: &ImportSettings,
) -> Result<ImportSummary> {
    let mut progress = ProgressBar::hidden();
    let summary = import_misp_feed(store, location, settings, |step| match step {
        FeedProgress::Listed(count) => progress = progress_bar(count),
        FeedProgress::Done(uuid) => {
            progress.set_message(uuid.to_string());
            progress.inc(1);
        }
    })
    .await?;
    progress.finish_and_clear();
    Ok(summary)
}

async fn import_events(
    store: &Store,
    name: &str,
    events: &[Value],
    settings: &ImportSettings,
) -> Result<ImportSummary> {
    let progress = progress_bar(events.len() as u64);
    let mut summary = ImportSummary::default();
    for event in events {
        let saved = import_event(store, name, event, settings, kizuna_server::now()).await?;
        summary.merge(saved);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(summary)
}

/// The events of a MISP JSON document: `{"Event": …}`, a list of those, a restSearch answer
/// `{"response": [...]}`, or a bare event object.
fn misp_events(document: Value) -> Option<Vec<Value>> {
    match document {
        Value::Array(items) => Some(items),
        Value::Object(mut map) => {
            if let Some(Value::Array(items)) = map.remove("response") {
                return Some(items);
            }
            if map.contains_key("Event") || map.contains_key("info") {
                return Some(vec![Value::Object(map)]);
            }
            None
        }
        _ => None,
    }
}

fn detect_format(text: &str, location: &SourceLocation) -> ImportFormat {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        // STIX bundles, envelopes and objects name their type; MISP JSON never has a
        // top-level "type".
        let head: String = start.chars().take(4096).collect();
        let stixish = head.contains("\"type\"")
            && (head.contains("\"bundle\"")
                || head.contains("\"spec_version\"")
                || head.contains("--"));
        return if stixish && !head.contains("\"Event\"") {
            ImportFormat::Stix
        } else {
            ImportFormat::Misp
        };
    }
    let name = location.display_name().to_ascii_lowercase();
    if name.ends_with(".csv") || name.ends_with(".tsv") {
        ImportFormat::Csv
    } else {
        ImportFormat::Text
    }
}

fn progress_bar(length: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() || length < 2 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(length);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {pos}/{len} events [{bar:30}] {eta} {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn print_source_line(source: &str, summary: &ImportSummary) {
    println!(
        "{source}: {} added, {} updated, {} unchanged; {} attributes and {} objects saved; {} \
         duplicates; {} rejected",
        plural(summary.events_added, "event"),
        summary.events_updated,
        summary.events_unchanged,
        summary.attributes_added,
        summary.objects_added,
        summary.duplicates,
        summary.rejected.len(),
    );
}

fn print_summary(summary: &ImportSummary) {
    if summary.rejected.is_empty() {
        return;
    }
    eprintln!("rejected ({}):", summary.rejected.len());
    for rejection in &summary.rejected {
        eprintln!("  {rejection}");
    }
}

fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}
