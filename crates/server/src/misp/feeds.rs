//! `/feeds/*` (misp-reference §4.7, §5): feed settings (index, view, add, edit, delete,
//! enable, disable), fetching (fetchFromFeed, fetchFromAllFeeds), the value cache
//! (cacheFeeds, searchCaches), and the feed this instance serves to its users
//! (`/feeds/export/manifest.json`, `/feeds/export/<uuid>.json`, `/feeds/export/hashes.csv`).
//!
//! Rights are MISP's: site admins configure and fetch feeds; anyone may list the feeds open
//! to lookups and search the caches; the host organisation's users see every feed. Fetches
//! run while the request waits (MISP queues a job) and answer with what they did.

use super::{Call, describe_endpoint, is_write, json_response};
use crate::error::{ApiError, ApiResult};
use crate::feed_fetch::{
    FeedError, FeedUser, cache_feed, fetch_feed, parse_header_lines, served_event, served_hashes,
    served_manifest,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::freetext::TldSet;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::feed::{FeedRules, parse_lenient_json, parse_values_feed, value_md5};
use kizuna_formats::misp::input::{is_uuid, lenient_bool, lenient_i64};
use kizuna_model::Distribution;
use kizuna_model::feed::{Feed, FeedInputSource, FeedSourceFormat};
use kizuna_store::{Key, Server, StoreError};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// Shortest scheduled interval: feeds are documents on someone else's server.
const MIN_FETCH_INTERVAL: i64 = 60;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        "add" => add(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "enable" => toggle(call, true).await,
        "disable" => toggle(call, false).await,
        "fetchfromfeed" => fetch_one(call).await,
        "fetchfromallfeeds" => fetch_all(call).await,
        "cachefeeds" => cache(call).await,
        "searchcaches" => search_caches(call).await,
        "export" => export(call).await,
        _ => Err(super::unknown_action(call)),
    }
}

fn require_site_admin(call: &Call) -> ApiResult<()> {
    if call.is_site_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "You do not have permission to use this functionality.".into(),
        ))
    }
}

/// Site admins and users of the organisation running the instance see every feed and its
/// settings; others only the feeds open to lookups (`lookup_visible`).
async fn sees_every_feed(call: &Call) -> ApiResult<bool> {
    Ok(call.is_site_admin() || super::acl::is_host_org_member(call).await?)
}

fn invalid_feed() -> ApiError {
    ApiError::NotFound("Invalid feed.".into())
}

async fn feed_arg(call: &Call) -> ApiResult<Feed> {
    let id: i64 = call
        .path
        .arg(0)
        .and_then(|text| text.parse().ok())
        .ok_or_else(invalid_feed)?;
    match call.store().feed(id).await {
        Ok(feed) => Ok(feed),
        Err(StoreError::NotFound) => Err(invalid_feed()),
        Err(other) => Err(other.into()),
    }
}

fn int(value: i64) -> Value {
    Value::String(value.to_string())
}

/// A feed's settings with the private keys a TAXII feed may hold taken out.
fn without_secret_settings(settings: &str) -> String {
    let Ok(mut parsed) = serde_json::from_str::<Value>(settings) else {
        return settings.to_string();
    };
    let Some(taxii) = parsed.get_mut("taxii").and_then(Value::as_object_mut) else {
        return settings.to_string();
    };
    for secret in crate::taxii_client::FEED_SECRET_SETTINGS {
        taxii.remove(*secret);
    }
    parsed.to_string()
}

/// A feed as MISP renders it (its columns in table order, integers as strings), plus
/// Kizuna's schedule and the outcome of the last fetch. `headers` may carry secrets: only
/// site admins see them.
fn render_feed(feed: &Feed, show_headers: bool) -> Value {
    let text_or_null = |text: &str| {
        if text.is_empty() {
            Value::Null
        } else {
            Value::String(text.to_string())
        }
    };
    let mut map = Map::new();
    map.insert("id".into(), int(feed.id));
    map.insert("name".into(), json!(feed.name));
    map.insert("provider".into(), json!(feed.provider));
    map.insert("url".into(), json!(feed.url));
    map.insert("rules".into(), text_or_null(&feed.rules));
    map.insert("enabled".into(), json!(feed.enabled));
    map.insert("distribution".into(), int(feed.distribution.as_i64()));
    map.insert("sharing_group_id".into(), int(feed.sharing_group_id));
    map.insert("tag_id".into(), int(feed.tag_id));
    map.insert("default".into(), json!(feed.default));
    map.insert("source_format".into(), json!(feed.source_format.as_str()));
    map.insert("fixed_event".into(), json!(feed.fixed_event));
    map.insert("delta_merge".into(), json!(feed.delta_merge));
    map.insert("event_id".into(), int(feed.event_id));
    map.insert("publish".into(), json!(feed.publish));
    map.insert("override_ids".into(), json!(feed.override_ids));
    // PyMISP decodes `settings` as JSON text: it must always be some.
    let settings = if feed.settings.trim().is_empty() {
        "{}".to_string()
    } else if show_headers {
        feed.settings.clone()
    } else {
        without_secret_settings(&feed.settings)
    };
    map.insert("settings".into(), Value::String(settings));
    map.insert("input_source".into(), json!(feed.input_source.as_str()));
    map.insert("delete_local_file".into(), json!(feed.delete_local_file));
    map.insert("lookup_visible".into(), json!(feed.lookup_visible));
    if show_headers {
        map.insert("headers".into(), text_or_null(&feed.headers));
    }
    map.insert("caching_enabled".into(), json!(feed.caching_enabled));
    map.insert("force_to_ids".into(), json!(feed.force_to_ids));
    map.insert("orgc_id".into(), int(feed.orgc_id));
    map.insert("tag_collection_id".into(), int(feed.tag_collection_id));
    map.insert(
        "cache_timestamp".into(),
        if feed.state.cache_timestamp == 0 {
            Value::Bool(false)
        } else {
            int(feed.state.cache_timestamp)
        },
    );
    map.insert("fetch_interval".into(), int(feed.fetch_interval));
    map.insert("last_fetch_timestamp".into(), int(feed.state.last_fetch_at));
    map.insert(
        "last_fetch_success".into(),
        json!(feed.state.last_fetch_at != 0 && feed.state.last_fetch_ok),
    );
    map.insert(
        "last_fetch_result".into(),
        json!(feed.state.last_fetch_result),
    );
    Value::Object(map)
}

/// `{"Feed": {...}}` with the feed's `Tag` and `Orgc` when it has them.
async fn feed_envelope(call: &Call, feed: &Feed, show_headers: bool) -> ApiResult<Value> {
    let mut envelope = json!({ "Feed": render_feed(feed, show_headers) });
    if feed.tag_id != 0 {
        match call.store().tag(feed.tag_id).await {
            Ok(tag) => {
                envelope["Tag"] = json!({
                    "id": int(tag.id),
                    "name": tag.name,
                    "colour": tag.colour,
                    "exportable": tag.exportable,
                    "hide_tag": tag.hide_tag,
                    "local_only": tag.local_only,
                });
            }
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    if feed.orgc_id != 0 {
        match call.store().org(&Key::Id(feed.orgc_id)).await {
            Ok(org) => {
                envelope["Orgc"] = json!({
                    "id": int(org.id),
                    "uuid": org.uuid,
                    "name": org.name,
                    "local": org.local,
                });
            }
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(envelope)
}

async fn index(call: &Call) -> ApiResult<Response> {
    let everything = sees_every_feed(call).await?;
    let scope = call
        .path
        .named("scope")
        .unwrap_or("all")
        .to_ascii_lowercase();
    let quick = call
        .path
        .named("quickFilter")
        .or_else(|| call.path.named("value"))
        .map(|text| text.trim_matches('%').to_lowercase())
        .filter(|text| !text.is_empty());
    let field = |name: &str| call.path.named(name).map(str::to_string);
    let flag = |name: &str| {
        call.path
            .named(name)
            .and_then(|text| lenient_bool(&Value::String(text.to_string())))
    };
    let same = |wanted: &Option<String>, actual: &str| {
        wanted
            .as_deref()
            .is_none_or(|wanted| wanted.trim_matches('%').eq_ignore_ascii_case(actual))
    };
    let (name, url, provider, format) = (
        field("name"),
        field("url"),
        field("provider"),
        field("source_format"),
    );
    let (enabled, caching, default) = (flag("enabled"), flag("caching_enabled"), flag("default"));
    let mut listed = Vec::new();
    for feed in call.store().list_feeds().await? {
        let in_scope = match scope.as_str() {
            "enabled" => feed.enabled || feed.caching_enabled,
            "default" => feed.default,
            "custom" => !feed.default,
            _ => true,
        };
        let matches = in_scope
            && (everything || feed.lookup_visible)
            && same(&name, &feed.name)
            && same(&url, &feed.url)
            && same(&provider, &feed.provider)
            && same(&format, feed.source_format.as_str())
            && enabled.is_none_or(|wanted| wanted == feed.enabled)
            && caching.is_none_or(|wanted| wanted == feed.caching_enabled)
            && default.is_none_or(|wanted| wanted == feed.default)
            && quick.as_deref().is_none_or(|needle| {
                [
                    feed.name.as_str(),
                    feed.url.as_str(),
                    feed.provider.as_str(),
                    feed.source_format.as_str(),
                ]
                .iter()
                .any(|text| text.to_lowercase().contains(needle))
            });
        if matches {
            listed.push(feed_envelope(call, &feed, call.is_site_admin()).await?);
        }
    }
    Ok(json_response(Value::Array(listed)))
}

async fn view(call: &Call) -> ApiResult<Response> {
    if !sees_every_feed(call).await? {
        return Err(ApiError::Forbidden(
            "You do not have permission to use this functionality.".into(),
        ));
    }
    let feed = feed_arg(call).await?;
    if call.is_head() {
        return Ok(StatusCode::OK.into_response());
    }
    let mut envelope = feed_envelope(call, &feed, call.is_site_admin()).await?;
    let cached = call
        .store()
        .feed_cache_counts()
        .await?
        .get(&feed.id)
        .copied()
        .unwrap_or(0);
    envelope["Feed"]["cached_elements"] = json!(cached);
    Ok(json_response(envelope))
}

/// The feed fields of a body: `{"Feed": {...}}` or the bare object.
fn feed_fields(call: &Call) -> ApiResult<&Map<String, Value>> {
    let body = call
        .body
        .as_ref()
        .ok_or_else(|| ApiError::BadRequest("POST a JSON object {\"Feed\": {...}}.".into()))?;
    match body.get("Feed").unwrap_or(body) {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::BadRequest(
            "Feed must be a JSON object of feed fields.".into(),
        )),
    }
}

const WRITABLE_FIELDS: &[&str] = &[
    "name",
    "provider",
    "url",
    "rules",
    "enabled",
    "distribution",
    "sharing_group_id",
    "tag_id",
    "source_format",
    "fixed_event",
    "delta_merge",
    "event_id",
    "publish",
    "override_ids",
    "settings",
    "input_source",
    "delete_local_file",
    "lookup_visible",
    "headers",
    "caching_enabled",
    "force_to_ids",
    "orgc_id",
    "fetch_interval",
];

/// Writes the fields present in `input` onto `feed`, collecting every problem by field.
fn apply_fields(feed: &mut Feed, input: &Map<String, Value>, errors: &mut FieldErrors) {
    let text = |name: &str, errors: &mut FieldErrors| -> Option<String> {
        match input.get(name)? {
            Value::Null => Some(String::new()),
            Value::String(text) => Some(text.trim().to_string()),
            Value::Number(number) => Some(number.to_string()),
            _ => {
                errors.add(name, "must be text");
                None
            }
        }
    };
    let flag = |name: &str, errors: &mut FieldErrors| -> Option<bool> {
        let value = input.get(name)?;
        match lenient_bool(value) {
            Some(flag) => Some(flag),
            None if value.is_null() => Some(false),
            None => {
                errors.add(name, "must be true or false");
                None
            }
        }
    };
    let number = |name: &str, errors: &mut FieldErrors| -> Option<i64> {
        let value = input.get(name)?;
        match lenient_i64(value) {
            Some(number) if number >= 0 => Some(number),
            None if value.is_null() || value == "" => Some(0),
            _ => {
                errors.add(name, "must be a whole number, 0 or more");
                None
            }
        }
    };
    if let Some(name) = text("name", errors) {
        feed.name = name;
    }
    if let Some(provider) = text("provider", errors) {
        feed.provider = provider;
    }
    if let Some(url) = text("url", errors) {
        feed.url = url;
    }
    for (name, slot) in [
        ("enabled", &mut feed.enabled),
        ("fixed_event", &mut feed.fixed_event),
        ("delta_merge", &mut feed.delta_merge),
        ("publish", &mut feed.publish),
        ("override_ids", &mut feed.override_ids),
        ("delete_local_file", &mut feed.delete_local_file),
        ("lookup_visible", &mut feed.lookup_visible),
        ("caching_enabled", &mut feed.caching_enabled),
        ("force_to_ids", &mut feed.force_to_ids),
    ] {
        if let Some(value) = flag(name, errors) {
            *slot = value;
        }
    }
    if let Some(level) = number("distribution", errors) {
        match Distribution::from_i64(level) {
            Some(distribution) => feed.distribution = distribution,
            None => errors.add(
                "distribution",
                "must be 0-4, or 5 to keep the distribution the feed's events carry",
            ),
        }
    }
    for (name, slot) in [
        ("sharing_group_id", &mut feed.sharing_group_id),
        ("tag_id", &mut feed.tag_id),
        ("orgc_id", &mut feed.orgc_id),
        ("fetch_interval", &mut feed.fetch_interval),
    ] {
        if let Some(value) = number(name, errors) {
            *slot = value;
        }
    }
    // MISP's form names the fixed event `target_event`.
    for name in ["event_id", "target_event"] {
        if let Some(value) = number(name, errors) {
            feed.event_id = value;
        }
    }
    if let Some(collection) = number("tag_collection_id", errors)
        && collection != 0
    {
        errors.add(
            "tag_collection_id",
            "Kizuna has no tag collections; give the tag to add as tag_id",
        );
    }
    if let Some(format) = text("source_format", errors) {
        match FeedSourceFormat::parse(&format) {
            Some(format) => feed.source_format = format,
            None => errors.add("source_format", "must be misp, freetext, csv or taxii"),
        }
    }
    if let Some(source) = text("input_source", errors) {
        match FeedInputSource::parse(&source) {
            Some(source) => feed.input_source = source,
            None if source.is_empty() => feed.input_source = FeedInputSource::Network,
            None => errors.add("input_source", "must be network or local"),
        }
    }
    if let Some(headers) = text("headers", errors) {
        feed.headers = headers;
    }
    // MISP's form sends the rules as `pull_rules`.
    for name in ["rules", "pull_rules"] {
        if let Some(value) = input.get(name) {
            match json_text(value) {
                Ok(text) => feed.rules = text,
                Err(problem) => errors.add(name, problem),
            }
        }
    }
    if let Some(value) = input.get("settings") {
        match json_text(value) {
            Ok(text) => feed.settings = text,
            Err(problem) => errors.add("settings", problem),
        }
    }
}

/// A JSON setting given as an object or as JSON text, stored as compact JSON text ('' for
/// none; PHP's empty array `[]` counts as none).
fn json_text(value: &Value) -> Result<String, String> {
    let parsed = match value {
        Value::Null => return Ok(String::new()),
        Value::String(text) if text.trim().is_empty() => return Ok(String::new()),
        Value::String(text) => parse_lenient_json(text.as_bytes())
            .map_err(|error| format!("is not valid JSON: {error}"))?,
        other => other.clone(),
    };
    match parsed {
        Value::Null => Ok(String::new()),
        Value::Array(items) if items.is_empty() => Ok(String::new()),
        Value::Object(_) => Ok(parsed.to_string()),
        _ => Err("must be a JSON object".into()),
    }
}

/// The checks that need the whole feed and the database.
async fn validate(call: &Call, feed: &mut Feed, errors: &mut FieldErrors) -> ApiResult<()> {
    let store = call.store();
    if feed.name.is_empty() {
        errors.add("name", "A name is required.");
    }
    if feed.url.is_empty() {
        errors.add("url", "A URL (or, for local feeds, a path) is required.");
    } else if feed.is_local() {
        if !call.state.feeds.settings.allow_local {
            errors.add(
                "input_source",
                "Local feeds are disabled on this server; the only valid option is network.",
            );
        } else {
            let path = std::path::Path::new(feed.url.strip_prefix("file://").unwrap_or(&feed.url));
            let metadata = tokio::fs::metadata(path).await;
            match feed.source_format {
                FeedSourceFormat::Misp if !metadata.as_ref().is_ok_and(|meta| meta.is_dir()) => {
                    errors.add(
                        "url",
                        "For MISP type local feeds, please specify the containing directory.",
                    );
                }
                FeedSourceFormat::Csv | FeedSourceFormat::Freetext
                    if !metadata.as_ref().is_ok_and(|meta| meta.is_file()) =>
                {
                    errors.add(
                        "url",
                        "Invalid path or file not found: the path must name a readable file.",
                    );
                }
                _ => {}
            }
        }
    } else {
        match reqwest::Url::parse(&feed.url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => errors.add("url", "must be an http(s) URL"),
        }
    }
    if feed.distribution == Distribution::SharingGroup {
        if store
            .sharing_groups_by_ids(&[feed.sharing_group_id])
            .await?
            .is_empty()
        {
            errors.add("sharing_group_id", "Invalid sharing group.");
        }
    } else {
        feed.sharing_group_id = 0;
    }
    if feed.tag_id != 0 {
        match store.tag(feed.tag_id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => errors.add("tag_id", "Invalid tag."),
            Err(other) => return Err(other.into()),
        }
    }
    if feed.source_format == FeedSourceFormat::Misp {
        // MISP feeds name their creators themselves.
        feed.orgc_id = 0;
    } else if feed.orgc_id != 0 {
        match store.org(&Key::Id(feed.orgc_id)).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => errors.add("orgc_id", "Invalid organisation."),
            Err(other) => return Err(other.into()),
        }
    }
    if feed.fixed_event && feed.event_id != 0 && feed.source_format != FeedSourceFormat::Misp {
        match store.event_meta(&Key::Id(feed.event_id)).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => errors.add("event_id", "Invalid event."),
            Err(other) => return Err(other.into()),
        }
    }
    if feed.fetch_interval != 0 && feed.fetch_interval < MIN_FETCH_INTERVAL {
        errors.add(
            "fetch_interval",
            format!("must be 0 (fetch on request only) or at least {MIN_FETCH_INTERVAL} seconds"),
        );
    }
    for line in parse_header_lines(&feed.headers) {
        if let Err(problem) = line {
            errors.add("headers", problem);
        }
    }
    if let Err(problem) = FeedRules::parse(&feed.rules) {
        errors.add("rules", problem);
    }
    if feed.source_format == FeedSourceFormat::Taxii {
        let settings = parse_lenient_json(feed.settings.as_bytes()).unwrap_or(Value::Null);
        if let Err(problem) = crate::taxii_client::feed_settings(&settings) {
            errors.add("settings", problem);
        }
        if feed.is_local() {
            errors.add(
                "input_source",
                "A TAXII feed reads a TAXII server: the only valid option is network.",
            );
        }
        if feed.caching_enabled {
            errors.add(
                "caching_enabled",
                "TAXII feeds have no value cache; fetch them into events instead.",
            );
        }
    } else if feed.source_format != FeedSourceFormat::Misp {
        let settings = if feed.settings.is_empty() {
            json!({})
        } else {
            parse_lenient_json(feed.settings.as_bytes()).unwrap_or(Value::Null)
        };
        if let Err(problem) =
            parse_values_feed(feed.source_format, "", &settings, &TldSet::default())
        {
            errors.add("settings", problem);
        }
    }
    Ok(())
}

async fn add(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Feeds add",
            &["name", "provider", "url"],
            &WRITABLE_FIELDS[3..],
        ));
    }
    let input = feed_fields(call)?;
    // MISP's REST defaults: a freetext feed written into one fixed event.
    let mut feed = Feed {
        source_format: FeedSourceFormat::Freetext,
        fixed_event: true,
        ..Feed::default()
    };
    let mut errors = FieldErrors::new();
    apply_fields(&mut feed, input, &mut errors);
    feed.default = false;
    validate(call, &mut feed, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed("Feed", &errors));
    }
    let stored = call.store().create_feed(&feed).await?;
    Ok(json_response(feed_envelope(call, &stored, true).await?))
}

async fn edit(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let mut feed = feed_arg(call).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(call, "Feeds edit", &[], WRITABLE_FIELDS));
    }
    let input = feed_fields(call)?;
    let mut errors = FieldErrors::new();
    apply_fields(&mut feed, input, &mut errors);
    validate(call, &mut feed, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed("Feed", &errors));
    }
    let stored = match call.store().update_feed(&feed).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound) => return Err(invalid_feed()),
        Err(other) => return Err(other.into()),
    };
    Ok(json_response(feed_envelope(call, &stored, true).await?))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let feed = feed_arg(call).await?;
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "Feeds delete", &[], &[]));
    }
    match call.store().delete_feed(feed.id).await {
        Ok(()) => Ok(call.success("Feed deleted.", Some(feed.id))),
        Err(StoreError::NotFound) => Err(invalid_feed()),
        Err(other) => Err(other.into()),
    }
}

/// `/feeds/enable/{id}` and `/feeds/disable/{id}`: MISP answers `{name, message, url}` and
/// refuses an unknown id with 405 "Invalid Feed.".
async fn toggle(call: &Call, enable: bool) -> ApiResult<Response> {
    require_site_admin(call)?;
    let invalid = || ApiError::MethodNotAllowed("Invalid Feed.".into());
    let id: i64 = call
        .path
        .arg(0)
        .and_then(|text| text.parse().ok())
        .ok_or_else(invalid)?;
    let mut feed = match call.store().feed(id).await {
        Ok(feed) => feed,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(other) => return Err(other.into()),
    };
    feed.enabled = enable;
    call.store().update_feed(&feed).await?;
    let message = if enable {
        "Feed enabled."
    } else {
        "Feed disabled."
    };
    Ok(json_response(json!({
        "name": message,
        "message": message,
        "url": call.url,
    })))
}

fn fetching_user(call: &Call) -> FeedUser {
    FeedUser {
        org_id: call.principal.user.org_id,
        user_id: call.principal.user.id,
    }
}

/// The servers whose cache holds one of `digests`, as MISP lists them among feed hits
/// (`type: "MISP Server"`, the remote events holding the value as `uuid`).
async fn server_cache_hits(
    call: &Call,
    servers: &HashMap<i64, Server>,
    digests: &[String],
) -> ApiResult<Vec<Value>> {
    if servers.is_empty() {
        return Ok(Vec::new());
    }
    let mut by_server: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for hit in call.store().server_cache_hits(digests).await? {
        if !servers.contains_key(&hit.server_id) {
            continue;
        }
        let uuids = by_server.entry(hit.server_id).or_default();
        if !hit.event_uuid.is_empty() && !uuids.contains(&hit.event_uuid) {
            uuids.push(hit.event_uuid);
        }
    }
    Ok(by_server
        .into_iter()
        .filter_map(|(server_id, uuids)| {
            let server = servers.get(&server_id)?;
            Some(json!({"Feed": {
                "id": int(server.id),
                "name": server.name,
                "url": server.url,
                "uuid": uuids,
                "type": "MISP Server",
            }}))
        })
        .collect())
}

/// A feed that could not be read or used: MISP's error shape (plus MISP's `result` key of
/// fetch answers), naming the document and the problem. 422 rather than a 5xx: PyMISP turns
/// 4xx answers into `{"errors": ...}` but raises on 5xx as if the server were broken (MISP
/// itself answers 200 "Fetching the feed has failed."). Server caching answers the same way.
pub(super) fn feed_failed(call: &Call, message: String) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({
            "name": message,
            "message": message,
            "url": call.url,
            "result": message,
        })),
    )
        .into_response()
}

async fn fetch_one(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let feed = feed_arg(call).await?;
    if !feed.enabled {
        return Ok(json_response(json!({
            "result": "Feed is currently not enabled. Make sure you enable it.",
        })));
    }
    match fetch_feed(&call.state, feed.id, fetching_user(call), call.now).await {
        Ok(report) => Ok(json_response(json!({
            "result": report.message(),
            "summary": report.to_json(),
        }))),
        Err(FeedError::NotFound) => Err(invalid_feed()),
        Err(FeedError::Source(problem)) => Ok(feed_failed(
            call,
            format!("Fetching the feed has failed: {problem}"),
        )),
        Err(FeedError::Store(error)) => Err(error.into()),
    }
}

async fn fetch_all(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let feeds: Vec<Feed> = call
        .store()
        .list_feeds()
        .await?
        .into_iter()
        .filter(|feed| feed.enabled)
        .collect();
    if feeds.is_empty() {
        return Ok(json_response(json!({"result": "No feed enabled."})));
    }
    let mut outcomes = Vec::new();
    let mut failures = Vec::new();
    for feed in &feeds {
        let outcome = fetch_feed(&call.state, feed.id, fetching_user(call), call.now).await;
        let (success, result) = match outcome {
            Ok(report) => (true, report.message()),
            // Deleted meanwhile.
            Err(FeedError::NotFound) => continue,
            Err(FeedError::Source(problem)) => (false, problem),
            Err(FeedError::Store(error)) => return Err(error.into()),
        };
        if !success {
            failures.push(format!("feed {} ({}): {result}", feed.id, feed.name));
        }
        outcomes.push(json!({
            "id": int(feed.id),
            "name": feed.name,
            "success": success,
            "result": result,
        }));
    }
    let result = if failures.is_empty() {
        format!(
            "Fetching the feeds has successfully completed ({} feed(s)).",
            outcomes.len()
        )
    } else {
        format!(
            "Fetching {} of {} feed(s) has failed: {}",
            failures.len(),
            outcomes.len(),
            failures.join("; ")
        )
    };
    Ok(json_response(json!({"result": result, "feeds": outcomes})))
}

/// `/feeds/cacheFeeds/{all|freetext|csv|misp|<id>}`: rebuilds the value caches of the
/// feeds with caching enabled in that scope.
async fn cache(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let scope = call.path.arg(0).unwrap_or("freetext").to_ascii_lowercase();
    let feeds = call.store().list_feeds().await?;
    let chosen: Vec<&Feed> = match scope.as_str() {
        "all" => feeds.iter().collect(),
        "freetext" | "csv" => feeds
            .iter()
            .filter(|feed| feed.source_format != FeedSourceFormat::Misp)
            .collect(),
        "misp" => feeds
            .iter()
            .filter(|feed| feed.source_format == FeedSourceFormat::Misp)
            .collect(),
        id => match id.parse::<i64>() {
            Ok(id) => feeds.iter().filter(|feed| feed.id == id).collect(),
            Err(_) => {
                return Err(ApiError::BadRequest(
                    "Invalid value for scope, it must be integer or 'freetext', 'csv', 'misp' or \
                     'all' string."
                        .into(),
                ));
            }
        },
    };
    let mut failures = Vec::new();
    for feed in chosen.into_iter().filter(|feed| feed.caching_enabled) {
        match cache_feed(&call.state, feed.id, call.now).await {
            Ok(_) | Err(FeedError::NotFound) => {}
            Err(FeedError::Source(problem)) => {
                failures.push(format!("feed {} ({}): {problem}", feed.id, feed.name));
            }
            Err(FeedError::Store(error)) => return Err(error.into()),
        }
    }
    if failures.is_empty() {
        return Ok(call.success("Caching the feeds has successfully completed.", None));
    }
    Ok(feed_failed(
        call,
        format!("Caching the feeds has failed: {}", failures.join("; ")),
    ))
}

/// `/feeds/searchCaches`: which cached feeds hold a value (`{"value": "..."}` or a list of
/// values, or `value:` in the URL). One value answers a list of feeds; a list answers the
/// feeds per value.
async fn search_caches(call: &Call) -> ApiResult<Response> {
    let body = call
        .body
        .as_ref()
        .map(|body| body.get("Feed").unwrap_or(body));
    let asked = match call.path.named("value") {
        Some(value) => Value::String(value.to_string()),
        None => match body {
            Some(Value::Object(map)) => map.get("value").cloned().unwrap_or(Value::Null),
            Some(other) => other.clone(),
            None => Value::Null,
        },
    };
    let (values, as_list) = match &asked {
        Value::String(text) if !text.trim().is_empty() => (vec![text.clone()], false),
        Value::Array(items) if !items.is_empty() => (
            items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    Value::Number(number) => Ok(number.to_string()),
                    _ => Err(ApiError::BadRequest(
                        "value: every value must be text".into(),
                    )),
                })
                .collect::<ApiResult<Vec<String>>>()?,
            true,
        ),
        _ => {
            return Err(ApiError::BadRequest(
                "value: give the value to look up, or a list of values".into(),
            ));
        }
    };
    let everything = sees_every_feed(call).await?;
    let feeds: HashMap<i64, Feed> = call
        .store()
        .list_feeds()
        .await?
        .into_iter()
        .filter(|feed| feed.caching_enabled && (everything || feed.lookup_visible))
        .map(|feed| (feed.id, feed))
        .collect();
    // Server caches hold what our sync users may see on the remotes: shown to those who see
    // every feed, as MISP shows them to unrestricted users only.
    let servers: HashMap<i64, Server> = if everything {
        call.store()
            .servers()
            .await?
            .into_iter()
            .filter(|server| server.caching_enabled)
            .map(|server| (server.id, server))
            .collect()
    } else {
        HashMap::new()
    };
    let mut per_value: Vec<(String, Vec<Value>)> = Vec::new();
    for value in &values {
        let normalised = value.trim().to_lowercase();
        // Caches hold the md5 of values as the feeds write them; MISP looks up the
        // lower-case value, which misses upper-case ones, so both are tried.
        let mut digests = vec![value_md5(&normalised), value_md5(value.trim())];
        digests.dedup();
        let hits = call.store().feed_cache_hits(&digests).await?;
        let mut by_feed: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for hit in hits {
            if !feeds.contains_key(&hit.feed_id) {
                continue;
            }
            let uuids = by_feed.entry(hit.feed_id).or_default();
            if !hit.event_uuid.is_empty() && !uuids.contains(&hit.event_uuid) {
                uuids.push(hit.event_uuid);
            }
        }
        let found = by_feed
            .into_iter()
            .filter_map(|(feed_id, uuids)| {
                let feed = feeds.get(&feed_id)?;
                let mut rendered = json!({
                    "id": int(feed.id),
                    "name": feed.name,
                    "url": feed.url,
                    "source_format": feed.source_format.as_str(),
                });
                if feed.source_format == FeedSourceFormat::Misp {
                    rendered["uuid"] = json!(uuids);
                    rendered["type"] = json!("MISP Feed");
                } else {
                    rendered["type"] = json!("Feed");
                }
                Some(json!({ "Feed": rendered }))
            })
            .collect();
        let mut found: Vec<Value> = found;
        if everything {
            found.extend(server_cache_hits(call, &servers, &digests).await?);
        }
        per_value.push((normalised, found));
    }
    if as_list {
        let mut keyed = Map::new();
        for (value, found) in per_value {
            if !found.is_empty() {
                keyed.insert(value, Value::Array(found));
            }
        }
        return Ok(json_response(Value::Object(keyed)));
    }
    let found = per_value.pop().map(|(_, found)| found).unwrap_or_default();
    Ok(json_response(Value::Array(found)))
}

/// `/feeds/export/manifest.json`, `/feeds/export/<uuid>.json`, `/feeds/export/hashes.csv`:
/// the published events the caller may see, as a MISP feed. A MISP instance subscribes to
/// `<base URL>/feeds/export` with the feed header `Authorization: <API key>`.
async fn export(call: &Call) -> ApiResult<Response> {
    let not_found = || ApiError::NotFound(format!("Could not find {}.", call.url));
    let name = call.path.arg(0).ok_or_else(not_found)?;
    let extension = call.path.extension.as_deref();
    let viewer = call.viewer().await?;
    let store = call.store();
    match (name, extension) {
        ("manifest", Some("json")) => {
            let body = served_manifest(store, &viewer).await?;
            Ok(document(body, "application/json; charset=UTF-8"))
        }
        ("hashes", Some("csv")) => {
            let body = served_hashes(store, &viewer).await?;
            Ok(document(body, "text/csv; charset=UTF-8"))
        }
        (uuid, Some("json")) if is_uuid(uuid) => {
            let uuid = uuid.to_ascii_lowercase();
            match served_event(store, &viewer, &uuid).await? {
                Some(event) => Ok(json_response(event)),
                None => Err(ApiError::NotFound("Invalid event.".into())),
            }
        }
        _ => Err(not_found()),
    }
}

fn document(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_settings_are_stored_as_compact_objects() {
        assert_eq!(json_text(&Value::Null).unwrap(), "");
        assert_eq!(json_text(&json!("[]")).unwrap(), "");
        assert_eq!(json_text(&json!([])).unwrap(), "");
        assert_eq!(
            json_text(&json!({"csv": {"value": "1"}})).unwrap(),
            r#"{"csv":{"value":"1"}}"#
        );
        assert_eq!(
            json_text(&json!("{\"csv\": {\"value\": \"1\"},}")).unwrap(),
            r#"{"csv":{"value":"1"}}"#
        );
        assert!(json_text(&json!("{")).is_err());
        assert!(json_text(&json!(3)).is_err());
    }

    #[test]
    fn rendered_feeds_hide_headers_unless_asked() {
        let feed = Feed {
            id: 4,
            name: "OSINT".into(),
            headers: "Authorization: secret".into(),
            ..Feed::default()
        };
        let shown = render_feed(&feed, true);
        assert_eq!(shown["id"], "4");
        assert_eq!(shown["headers"], "Authorization: secret");
        assert_eq!(shown["settings"], "{}");
        assert_eq!(shown["rules"], Value::Null);
        assert_eq!(shown["cache_timestamp"], false);
        assert!(render_feed(&feed, false).get("headers").is_none());

        let taxii = Feed {
            settings: r#"{"taxii":{"collection":"c","client_cert":"KEY","ca_cert":"CA"}}"#.into(),
            ..Feed::default()
        };
        let admin_view: Value =
            serde_json::from_str(render_feed(&taxii, true)["settings"].as_str().unwrap()).unwrap();
        assert_eq!(admin_view["taxii"]["client_cert"], "KEY");
        let other_view: Value =
            serde_json::from_str(render_feed(&taxii, false)["settings"].as_str().unwrap()).unwrap();
        assert_eq!(
            other_view,
            json!({"taxii": {"collection": "c", "ca_cert": "CA"}})
        );
    }
}
