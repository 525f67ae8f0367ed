//! IoCs for `kizuna hunt`: from files (MISP feed, MISP event, STIX, CSV, plain list), a database or a server.
//!
//! Every attribute taken gets a `source` handle: its index in [`IocCatalog::attributes`], which
//! keeps what a hit reports about it (event and attribute uuids, tags, intended use, the file
//! it came from). The rules are those of hunt-semantics §1; on top of them, for Kizuna data, a
//! withdrawn attribute is no IoC and `valid_until` bounds the window.

use anyhow::{Context, Result, bail};
use kizuna_formats::misp::feed::{parse_lenient_json, parse_manifest};
use kizuna_formats::misp::input::{lenient_bool, lenient_micros};
use kizuna_formats::stix::import::{StixImportOptions, bundle_to_misp_events};
use kizuna_matcher::hunt::{
    IocId, IocIndex, IocIndexBuilder, IocKind, IocRejection, Micros, Window, parse_iso8601_micros,
};
use kizuna_model::access::Viewer;
use kizuna_model::query::AttributeCriteria;
use kizuna_model::{IntendedUse, ItemStatus};
use kizuna_store::{EventStubCache, SearchCursor, Store};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Invalid IoCs shown by example in the summary.
const EXAMPLES: usize = 5;

/// Attributes asked for per restSearch page from a server.
const SERVER_PAGE: usize = 5_000;

/// Largest restSearch answer read from a server.
const MAX_ANSWER_BYTES: u64 = 1024 * 1024 * 1024;

/// Feed events parsed at once (in parallel) before their attributes go into the index.
const FEED_BATCH: usize = 32;

/// The event an attribute belongs to.
#[derive(Clone, Debug, Default)]
pub struct IocEvent {
    pub uuid: Option<String>,
    pub tags: Vec<String>,
}

/// What a hit reports about one attribute behind an IoC.
#[derive(Clone, Debug, Default)]
pub struct IocAttribute {
    /// Index in [`IocCatalog::events`].
    pub event: Option<u32>,
    pub uuid: Option<Box<str>>,
    pub tags: Box<[Box<str>]>,
    pub intended_use: Option<IntendedUse>,
    /// Index in [`IocCatalog::origins`].
    pub origin: u32,
}

/// The attributes behind the IoCs, indexed by the `source` handle the index gives back.
#[derive(Debug, Default)]
pub struct IocCatalog {
    /// Files, `database` or the server URL the IoCs came from.
    pub origins: Vec<String>,
    pub events: Vec<IocEvent>,
    pub attributes: Vec<IocAttribute>,
}

impl IocCatalog {
    pub fn attribute(&self, source: u32) -> &IocAttribute {
        &self.attributes[source as usize]
    }

    pub fn event_uuid(&self, source: u32) -> Option<&str> {
        let event = self.attribute(source).event?;
        self.events[event as usize].uuid.as_deref()
    }

    pub fn attribute_uuid(&self, source: u32) -> Option<&str> {
        self.attribute(source).uuid.as_deref()
    }

    /// Whether the attribute comes from MISP data (so its tags are known, even when none).
    pub fn is_misp(&self, source: u32) -> bool {
        let attribute = self.attribute(source);
        attribute.event.is_some() || attribute.uuid.is_some()
    }

    /// The event's tags, then the attribute's own, each name once.
    pub fn tags(&self, source: u32) -> Vec<&str> {
        let attribute = self.attribute(source);
        let event_tags = attribute
            .event
            .map(|event| self.events[event as usize].tags.as_slice())
            .unwrap_or_default();
        let mut names: Vec<&str> = Vec::with_capacity(event_tags.len() + attribute.tags.len());
        for name in event_tags
            .iter()
            .map(String::as_str)
            .chain(attribute.tags.iter().map(|tag| &**tag))
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    pub fn origin(&self, source: u32) -> &str {
        &self.origins[self.attribute(source).origin as usize]
    }
}

/// What loading the IoCs found besides the IoCs.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Attributes (or list lines) taken into the index.
    pub taken: u64,
    /// Attributes left out on purpose: `to_ids` false, deleted, withdrawn, in a deleted object.
    pub ignored: u64,
    /// Values without the shape their type requires, or with an unreadable window.
    pub invalid: u64,
    pub invalid_examples: Vec<String>,
    /// Attributes of MISP types hunting does not use, per type.
    pub unsupported: BTreeMap<String, u64>,
    /// Parts of a source that could not be read (an event file of a feed, STIX objects);
    /// the rest was used.
    pub problems: Vec<String>,
}

impl LoadReport {
    pub fn unsupported_total(&self) -> u64 {
        self.unsupported.values().sum()
    }
}

/// The compiled IoCs with the attributes behind them.
pub struct IocSet {
    pub index: IocIndex,
    pub catalog: IocCatalog,
    pub report: LoadReport,
}

impl IocSet {
    /// Distinct IoCs per kind.
    pub fn kinds(&self) -> BTreeMap<IocKind, u64> {
        let mut kinds = BTreeMap::new();
        for id in 0..self.index.len() as u32 {
            *kinds.entry(self.index.kind(IocId(id))).or_insert(0) += 1;
        }
        kinds
    }
}

/// Gathers attributes from any number of sources into one index.
#[derive(Default)]
pub struct Collector {
    builder: IocIndexBuilder,
    catalog: IocCatalog,
    report: LoadReport,
    events_by_uuid: HashMap<String, u32>,
}

impl Collector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn finish(self) -> IocSet {
        IocSet {
            index: self.builder.build(),
            catalog: self.catalog,
            report: self.report,
        }
    }

    fn origin(&mut self, name: &str) -> u32 {
        if let Some(found) = self.catalog.origins.iter().position(|known| known == name) {
            return found as u32;
        }
        self.catalog.origins.push(name.to_string());
        (self.catalog.origins.len() - 1) as u32
    }

    fn event(&mut self, uuid: Option<&str>, tags: Vec<String>) -> u32 {
        self.catalog.events.push(IocEvent {
            uuid: uuid.map(str::to_string),
            tags,
        });
        (self.catalog.events.len() - 1) as u32
    }

    /// The event with this uuid, made (without tags) the first time it is named.
    fn event_by_uuid(&mut self, uuid: &str) -> u32 {
        if let Some(&known) = self.events_by_uuid.get(uuid) {
            return known;
        }
        let made = self.event(Some(uuid), Vec::new());
        self.events_by_uuid.insert(uuid.to_string(), made);
        made
    }

    fn attribute(&mut self, attribute: IocAttribute) -> u32 {
        self.catalog.attributes.push(attribute);
        (self.catalog.attributes.len() - 1) as u32
    }

    fn invalid(&mut self, example: impl FnOnce() -> String) {
        self.report.invalid += 1;
        if self.report.invalid_examples.len() < EXAMPLES {
            self.report.invalid_examples.push(example());
        }
    }

    /// Adds one value under the attribute `source`; `location` names it for the report.
    fn add(
        &mut self,
        misp_type: Option<&str>,
        value: &str,
        window: Window,
        source: u32,
        location: impl FnOnce() -> String,
    ) {
        match self.builder.add(misp_type, value, window, source) {
            Ok(_) => self.report.taken += 1,
            Err(IocRejection::UnsupportedType(misp_type)) => {
                *self.report.unsupported.entry(misp_type).or_insert(0) += 1;
            }
            Err(IocRejection::BadShape) => self.invalid(|| {
                let typed = misp_type.map(|name| format!("{name} ")).unwrap_or_default();
                format!("{}: {typed}{value:?}", location())
            }),
        }
    }

    /// Reads an `--iocs` path, deciding from its content what it holds.
    pub fn load_path(&mut self, path: &Path) -> Result<()> {
        let name = path.display().to_string();
        if path.is_dir() {
            if !path.join("manifest.json").is_file() {
                bail!(
                    "{name} is a folder without manifest.json; a MISP feed folder holds \
                     manifest.json and one <uuid>.json per event"
                );
            }
            return self.load_feed(path);
        }
        if path.file_name().is_some_and(|file| file == "manifest.json") {
            let folder = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty());
            return self.load_feed(folder.unwrap_or(Path::new(".")));
        }
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {name}"))?;
        let text = String::from_utf8_lossy(&bytes);
        let start = text.trim_start_matches('\u{feff}').trim_start();
        if start.starts_with('{') || start.starts_with('[') {
            let document = parse_lenient_json(start.as_bytes())
                .map_err(|error| anyhow::anyhow!("{name} is not valid JSON: {error}"))?;
            return self.load_json(&name, &document);
        }
        let origin = self.origin(&name);
        if is_csv_header(start.lines().next().unwrap_or("")) {
            self.load_csv(&name, origin, &text)
        } else {
            self.load_list(&name, origin, &text);
            Ok(())
        }
    }

    /// MISP event JSON (one, a list, a restSearch answer for events or attributes) or a STIX
    /// bundle.
    fn load_json(&mut self, name: &str, document: &Value) -> Result<()> {
        let origin = self.origin(name);
        if document.get("type").and_then(Value::as_str) == Some("bundle") {
            let options = StixImportOptions {
                default_info: name.to_string(),
            };
            let imported = bundle_to_misp_events(document, &options);
            if !imported.rejected.is_empty() {
                self.report.problems.push(format!(
                    "{name}: {} STIX objects not converted (first: {})",
                    imported.rejected.len(),
                    imported.rejected[0]
                ));
            }
            for event in &imported.events {
                self.add_misp_event(event, origin);
            }
            return Ok(());
        }
        let items: &[Value] = match document {
            Value::Array(items) => items,
            Value::Object(map) => match map.get("response") {
                Some(Value::Array(items)) => items,
                Some(Value::Object(answer)) => match answer.get("Attribute") {
                    Some(Value::Array(attributes)) => {
                        for attribute in attributes {
                            self.add_rest_attribute(attribute, origin);
                        }
                        return Ok(());
                    }
                    _ => bail!("{name}: a restSearch answer without Attribute list"),
                },
                _ if is_event(document) => std::slice::from_ref(document),
                _ => bail!(
                    "{name} is JSON but neither a MISP event ({{\"Event\": …}}, a list of them, \
                     a restSearch answer) nor a STIX 2.1 bundle"
                ),
            },
            _ => bail!("{name} is JSON but not an object or a list"),
        };
        for item in items {
            if is_event(item) {
                self.add_misp_event(item, origin);
            } else {
                self.report.problems.push(format!(
                    "{name}: an item that is not a MISP event was skipped"
                ));
            }
        }
        Ok(())
    }

    fn load_feed(&mut self, folder: &Path) -> Result<()> {
        let manifest_path = folder.join("manifest.json");
        let manifest_name = manifest_path.display().to_string();
        let bytes = std::fs::read(&manifest_path)
            .with_context(|| format!("cannot read {manifest_name}"))?;
        let manifest =
            parse_manifest(&bytes).map_err(|error| anyhow::anyhow!("{manifest_name}: {error}"))?;
        for rejection in manifest.rejected {
            self.report
                .problems
                .push(format!("{manifest_name}: {rejection}"));
        }
        let origin = self.origin(&folder.display().to_string());
        let files: Vec<PathBuf> = manifest
            .entries
            .iter()
            .map(|entry| folder.join(format!("{}.json", entry.uuid)))
            .collect();
        for batch in files.chunks(FEED_BATCH) {
            let parsed: Vec<Result<Value, String>> = batch
                .par_iter()
                .map(|file| {
                    let bytes = std::fs::read(file)
                        .map_err(|error| format!("{}: {error}", file.display()))?;
                    parse_lenient_json(&bytes)
                        .map_err(|error| format!("{}: {error}", file.display()))
                })
                .collect();
            for event in parsed {
                match event {
                    Ok(event) => self.add_misp_event(&event, origin),
                    Err(problem) => self.report.problems.push(problem),
                }
            }
        }
        Ok(())
    }

    /// An event's attributes and those of its live objects (hunt-semantics §1.1).
    fn add_misp_event(&mut self, event: &Value, origin: u32) {
        let event = event.get("Event").unwrap_or(event);
        let uuid = event.get("uuid").and_then(Value::as_str);
        let mut tags = tag_names(event.get("Tag"));
        // Some exports attach event tags as `EventTag: [{"Tag": {…}}]` instead.
        for attached in array(event.get("EventTag")) {
            let tag = attached.get("Tag").unwrap_or(attached);
            if let Some(name) = tag.get("name").and_then(Value::as_str) {
                tags.push(name.to_string());
            }
        }
        let event_index = self.event(uuid, tags);
        for attribute in array(event.get("Attribute")) {
            self.add_misp_attribute(attribute, Some(event_index), origin);
        }
        for object in array(event.get("Object")) {
            if flag(object.get("deleted")) == Some(true) {
                self.report.ignored += array(object.get("Attribute")).len() as u64;
                continue;
            }
            for attribute in array(object.get("Attribute")) {
                self.add_misp_attribute(attribute, Some(event_index), origin);
            }
        }
    }

    /// An attribute of a restSearch attribute answer: its event is named by `event_uuid`
    /// (or `Event.uuid`) and its tags include the inherited event tags.
    fn add_rest_attribute(&mut self, attribute: &Value, origin: u32) {
        let event_uuid = attribute
            .get("event_uuid")
            .or_else(|| attribute.get("Event").and_then(|event| event.get("uuid")))
            .and_then(Value::as_str);
        let event = event_uuid.map(|uuid| self.event_by_uuid(uuid));
        self.add_misp_attribute(attribute, event, origin);
    }

    fn add_misp_attribute(&mut self, attribute: &Value, event: Option<u32>, origin: u32) {
        if flag(attribute.get("deleted")) == Some(true)
            || flag(attribute.get("to_ids")) == Some(false)
            || attribute.get("status").and_then(Value::as_str)
                == Some(ItemStatus::Withdrawn.as_str())
        {
            self.report.ignored += 1;
            return;
        }
        let misp_type = attribute.get("type").and_then(Value::as_str).unwrap_or("");
        let value = match attribute.get("value") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            _ => String::new(),
        };
        let uuid = attribute.get("uuid").and_then(Value::as_str);
        let location = || {
            let origin_name = &self.catalog.origins[origin as usize];
            match uuid {
                Some(uuid) => format!("{origin_name}: attribute {uuid}"),
                None => origin_name.clone(),
            }
        };
        let window = match json_window(attribute) {
            Ok(window) => window,
            Err(problem) => {
                let example = format!("{}: {problem}", location());
                self.invalid(|| example);
                return;
            }
        };
        let source = self.attribute(IocAttribute {
            event,
            uuid: uuid.map(Box::from),
            tags: tag_names(attribute.get("Tag"))
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
            intended_use: attribute
                .get("intended_use")
                .and_then(Value::as_str)
                .and_then(IntendedUse::parse),
            origin,
        });
        let name = self.catalog.origins[origin as usize].clone();
        self.add(Some(misp_type), &value, window, source, || match uuid {
            Some(uuid) => format!("{name}: attribute {uuid}"),
            None => name.clone(),
        });
    }

    /// A plain list (hunt-semantics §1.2): one value a line, kinds by shape, no windows.
    /// Every line shares one catalog entry: the list's lines have nothing else to tell.
    fn load_list(&mut self, name: &str, origin: u32, text: &str) {
        let source = self.attribute(IocAttribute {
            origin,
            ..IocAttribute::default()
        });
        for (number, line) in text.lines().enumerate() {
            let value = line.trim();
            if value.is_empty() || value.starts_with('#') {
                continue;
            }
            self.add(None, value, Window::default(), source, || {
                format!("{name} line {}", number + 1)
            });
        }
    }

    /// CSV with the header `value,type,first_seen,last_seen,to_ids` (hunt-semantics §1.3);
    /// `uuid`, `event_uuid`, `valid_until` and `intended_use` columns are read when present.
    fn load_csv(&mut self, name: &str, origin: u32, text: &str) -> Result<()> {
        let mut records = csv_records(text);
        let Some((_, header)) = records.next() else {
            return Ok(());
        };
        let header: Vec<String> = header
            .iter()
            .map(|column| {
                column
                    .trim()
                    .trim_start_matches('\u{feff}')
                    .to_ascii_lowercase()
            })
            .collect();
        let column = |wanted: &str| header.iter().position(|name| name == wanted);
        let (Some(value_at), Some(type_at)) = (column("value"), column("type")) else {
            bail!("{name}: the CSV header must start with value,type");
        };
        let first_seen_at = column("first_seen");
        let last_seen_at = column("last_seen");
        let to_ids_at = column("to_ids");
        let uuid_at = column("uuid");
        let event_uuid_at = column("event_uuid");
        let valid_until_at = column("valid_until");
        let intended_use_at = column("intended_use");
        for (line, record) in records {
            let cell = |at: Option<usize>| {
                at.and_then(|at| record.get(at))
                    .map(|text| text.trim())
                    .filter(|text| !text.is_empty())
            };
            let Some(value) = cell(Some(value_at)) else {
                continue;
            };
            if cell(to_ids_at).and_then(|text| lenient_bool(&Value::String(text.to_string())))
                == Some(false)
            {
                self.report.ignored += 1;
                continue;
            }
            let bound = |at: Option<usize>, field: &str| -> Result<Option<Micros>, String> {
                match cell(at) {
                    None => Ok(None),
                    Some(text) => parse_iso8601_micros(text)
                        .map(Some)
                        .ok_or_else(|| format!("{field} {text:?} is not an ISO 8601 date-time")),
                }
            };
            let window = bound(first_seen_at, "first_seen").and_then(|first_seen| {
                let last_seen = bound(last_seen_at, "last_seen")?;
                let valid_until = bound(valid_until_at, "valid_until")?;
                Ok(Window {
                    first_seen,
                    last_seen: earliest(last_seen, valid_until),
                })
            });
            let window = match window {
                Ok(window) => window,
                Err(problem) => {
                    self.invalid(|| format!("{name} line {line}: {problem}"));
                    continue;
                }
            };
            let event = cell(event_uuid_at).map(|uuid| self.event_by_uuid(uuid));
            let source = self.attribute(IocAttribute {
                event,
                uuid: cell(uuid_at).map(Box::from),
                intended_use: cell(intended_use_at).and_then(IntendedUse::parse),
                origin,
                ..IocAttribute::default()
            });
            let misp_type = cell(Some(type_at));
            self.add(misp_type, value, window, source, || {
                format!("{name} line {line}")
            });
        }
        Ok(())
    }

    /// Every live `to_ids` attribute in the database that is not withdrawn (the site admin's
    /// view: everything), page by page.
    pub async fn load_store(&mut self, store: &Store) -> Result<()> {
        let origin = self.origin("database");
        let criteria = AttributeCriteria {
            to_ids: Some(true),
            ..AttributeCriteria::default()
        };
        let mut cursor = SearchCursor::new(0, None);
        let mut stubs = EventStubCache::default();
        let mut events: HashMap<i64, u32> = HashMap::new();
        loop {
            let page = store
                .search_attributes_page(&criteria, &Viewer::SiteAdmin, &mut cursor, &mut stubs)
                .await
                .context("cannot read the attributes from the database")?;
            if page.is_empty() {
                break;
            }
            for hit in page {
                let attribute = &hit.attribute;
                if attribute.deleted
                    || !attribute.to_ids
                    || attribute.status == Some(ItemStatus::Withdrawn)
                    || hit.object.as_ref().is_some_and(|object| object.deleted)
                {
                    self.report.ignored += 1;
                    continue;
                }
                let event = match events.get(&hit.event.id) {
                    Some(&known) => known,
                    None => {
                        let tags = hit
                            .event
                            .tags
                            .iter()
                            .map(|attached| attached.tag.name.clone())
                            .collect();
                        let made = self.event(Some(&hit.event.uuid), tags);
                        events.insert(hit.event.id, made);
                        made
                    }
                };
                let source = self.attribute(IocAttribute {
                    event: Some(event),
                    uuid: Some(attribute.uuid.as_str().into()),
                    tags: attribute
                        .tags
                        .iter()
                        .map(|attached| attached.tag.name.as_str().into())
                        .collect(),
                    intended_use: attribute.intended_use,
                    origin,
                });
                let window = Window {
                    first_seen: attribute.first_seen,
                    last_seen: earliest(attribute.last_seen, attribute.valid_until),
                };
                let value = attribute.value();
                self.add(Some(&attribute.attr_type), &value, window, source, || {
                    format!("database: attribute {}", attribute.uuid)
                });
            }
        }
        Ok(())
    }

    /// The same attributes from a MISP or Kizuna server, through `/attributes/restSearch`.
    pub async fn load_server(&mut self, url: &str, key: &str) -> Result<()> {
        let base = url.trim_end_matches('/');
        let origin = self.origin(base);
        let endpoint = format!("{base}/attributes/restSearch");
        let client = kizuna_server::http::client().map_err(anyhow::Error::msg)?;
        for page in 1.. {
            let body = json!({
                "returnFormat": "json",
                "to_ids": 1,
                "deleted": 0,
                "includeEventUuid": 1,
                "includeEventTags": 1,
                "limit": SERVER_PAGE,
                "page": page,
            });
            let response = client
                .post(&endpoint)
                .header("Authorization", key)
                .header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .with_context(|| format!("cannot reach {endpoint}"))?;
            let status = response.status();
            let bytes = kizuna_server::http::read_limited(response, MAX_ANSWER_BYTES)
                .await
                .map_err(|error| anyhow::anyhow!("{endpoint}: {error}"))?;
            if !status.is_success() {
                let answer = String::from_utf8_lossy(&bytes);
                let answer: String = answer.chars().take(300).collect();
                bail!("{endpoint} answered {status}: {answer}");
            }
            let document = parse_lenient_json(&bytes)
                .map_err(|error| anyhow::anyhow!("{endpoint} did not answer JSON: {error}"))?;
            let attributes = document
                .get("response")
                .and_then(|answer| answer.get("Attribute"))
                .and_then(Value::as_array)
                .with_context(|| format!("{endpoint} answered without response.Attribute"))?;
            for attribute in attributes {
                self.add_rest_attribute(attribute, origin);
            }
            if attributes.len() < SERVER_PAGE {
                break;
            }
        }
        Ok(())
    }
}

fn is_event(value: &Value) -> bool {
    value.get("Event").is_some_and(Value::is_object)
        || ["Attribute", "Object", "info"]
            .iter()
            .any(|key| value.get(key).is_some())
}

fn is_csv_header(line: &str) -> bool {
    let compact: String = line
        .trim_start_matches('\u{feff}')
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '"')
        .collect::<String>()
        .to_ascii_lowercase();
    compact == "value,type" || compact.starts_with("value,type,")
}

fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn flag(value: Option<&Value>) -> Option<bool> {
    value.and_then(lenient_bool)
}

/// Names of a MISP `Tag` list (`[{"name": …}, …]`).
fn tag_names(tags: Option<&Value>) -> Vec<String> {
    array(tags)
        .iter()
        .filter_map(|tag| tag.get("name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn earliest(first: Option<Micros>, second: Option<Micros>) -> Option<Micros> {
    match (first, second) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// `first_seen`/`last_seen` of a MISP attribute, `last_seen` bounded by Kizuna's
/// `valid_until`; missing, null or empty = no bound.
fn json_window(attribute: &Value) -> Result<Window, String> {
    let bound = |field: &str| -> Result<Option<Micros>, String> {
        match attribute.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => parse_iso8601_micros(text.trim())
                .map(Some)
                .ok_or_else(|| format!("{field} {text:?} is not an ISO 8601 date-time")),
            Some(number @ Value::Number(_)) => lenient_micros(number)
                .map(Some)
                .ok_or_else(|| format!("{field} {number} is not a time")),
            Some(other) => Err(format!("{field} {other} is not a time")),
        }
    };
    Ok(Window {
        first_seen: bound("first_seen")?,
        last_seen: earliest(bound("last_seen")?, bound("valid_until")?),
    })
}

/// CSV records (RFC 4180: quoted fields, `""` inside quotes, line breaks inside quotes) with
/// the line number each starts on.
fn csv_records(text: &str) -> impl Iterator<Item = (usize, Vec<String>)> + '_ {
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    std::iter::from_fn(move || {
        chars.peek()?;
        let start = line;
        let mut record = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' if quoted => {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        field.push('"');
                    } else {
                        quoted = false;
                    }
                }
                '"' if field.trim().is_empty() => {
                    field.clear();
                    quoted = true;
                }
                ',' if !quoted => record.push(std::mem::take(&mut field)),
                '\n' if !quoted => {
                    line += 1;
                    break;
                }
                '\r' if !quoted && chars.peek() == Some(&'\n') => {}
                other => {
                    if other == '\n' {
                        line += 1;
                    }
                    field.push(other);
                }
            }
        }
        record.push(field);
        Some((start, record))
    })
    .filter(|(_, record)| !(record.len() == 1 && record[0].trim().is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_follow_rfc_4180() {
        let records: Vec<_> =
            csv_records("value,type\r\n\"a,b\",\"say \"\"hi\"\"\"\n\n\"x\ny\",z\nlast").collect();
        assert_eq!(
            records,
            vec![
                (1, vec!["value".to_string(), "type".to_string()]),
                (2, vec!["a,b".to_string(), "say \"hi\"".to_string()]),
                (4, vec!["x\ny".to_string(), "z".to_string()]),
                (6, vec!["last".to_string()]),
            ]
        );
    }

    #[test]
    fn csv_headers_start_with_value_and_type() {
        assert!(is_csv_header("value,type,first_seen,last_seen,to_ids"));
        assert!(is_csv_header("\"Value\", \"Type\""));
        assert!(!is_csv_header("value,category"));
        assert!(!is_csv_header("evil.com"));
    }

    #[test]
    fn windows_take_the_earlier_of_last_seen_and_valid_until() {
        let window = json_window(&json!({
            "first_seen": "2026-03-01T00:00:00Z",
            "last_seen": "2026-03-05T00:00:00Z",
            "valid_until": "2026-03-03T00:00:00Z",
        }))
        .unwrap();
        assert_eq!(
            window.first_seen,
            parse_iso8601_micros("2026-03-01T00:00:00Z")
        );
        assert_eq!(
            window.last_seen,
            parse_iso8601_micros("2026-03-03T00:00:00Z")
        );
        let open = json_window(&json!({"first_seen": null, "last_seen": ""})).unwrap();
        assert_eq!(open, Window::default());
        assert!(json_window(&json!({"first_seen": "yesterday"})).is_err());
    }
}
