//! `kizuna export --format misp-feed DIR`: a MISP feed folder (manifest.json, one
//! <uuid>.json per event, hashes.csv) that MISP instances can subscribe to.

use anyhow::{Context, Result};
use kizuna_formats::misp::feed::{feed_event, hashes_lines, manifest_entry, write_manifest};
use kizuna_formats::misp::filters::{Scope, parse_search};
use kizuna_model::access::Viewer;
use kizuna_store::{Key, LoadOptions, SearchCursor, Store, StoreError};
use serde_json::{Map, Value, json};
use std::path::Path;

/// Events read per query.
const EVENTS_PER_PAGE: u64 = 100;

/// Writes the events `params` selects (published ones unless the filters say otherwise) as
/// a MISP feed into `folder`. Each file is written beside its final name and renamed, so a
/// MISP instance fetching meanwhile never reads half a file.
pub async fn write_feed(
    store: &Store,
    viewer: Viewer,
    mut params: Map<String, Value>,
    folder: &Path,
) -> Result<()> {
    params.entry("published").or_insert(json!(1));
    let request = parse_search(&params, Scope::Events, Some("json"), kizuna_server::now())
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create the folder {}", folder.display()))?;
    let options = LoadOptions {
        include_deleted: false,
        viewer_org: viewer.org_id(),
    };
    let mut cursor = SearchCursor::new(0, None);
    let mut manifest = Vec::new();
    let mut hashes = String::new();
    loop {
        let ids = store
            .search_event_ids_page(&request.criteria, &viewer, &mut cursor, EVENTS_PER_PAGE)
            .await?;
        if ids.is_empty() {
            break;
        }
        for id in ids {
            let mut event = match store.event(&Key::Id(id), &options).await {
                Ok(event) => event,
                Err(StoreError::NotFound) => continue,
                Err(other) => return Err(other.into()),
            };
            if let Some(at) = request.criteria.valid_at {
                let valid = |attribute: &kizuna_model::Attribute| {
                    kizuna_model::validity::is_valid_at(attribute, at)
                };
                event.attributes.retain(valid);
                for object in &mut event.objects {
                    object.attributes.retain(valid);
                }
            }
            let body = serde_json::to_string(&feed_event(&event))?;
            write_atomically(
                &folder.join(format!("{}.json", event.uuid)),
                body.as_bytes(),
            )?;
            hashes.push_str(&hashes_lines(&event));
            manifest.push(manifest_entry(&event));
        }
    }
    let count = manifest.len();
    write_atomically(&folder.join("hashes.csv"), hashes.as_bytes())?;
    write_atomically(
        &folder.join("manifest.json"),
        write_manifest(manifest).as_bytes(),
    )?;
    eprintln!("{}: {count} events in the feed", folder.display());
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))
}
