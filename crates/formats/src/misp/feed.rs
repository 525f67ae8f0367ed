//! MISP feeds (misp-reference §5.2): the folder layout a MISP instance subscribes to —
//! `manifest.json` (one entry per event, keyed by uuid), `<uuid>.json` (the event without
//! local ids) and `hashes.csv` (`<md5 of a value>,<event uuid>`) — read leniently and
//! written exactly, plus the feed `rules` that decide which manifest entries are fetched.
//!
//! Real feeds deviate from the layout: manifests written as a JSON list, trailing commas,
//! numbers as strings, extra keys. Reading accepts all of these; an entry that cannot be
//! used (no uuid, a bad uuid) is reported on its own and the others are kept.

use super::filters::resolve_time_delta;
use super::input::{is_uuid, lenient_i64};
use super::output::{format_date, format_seen};
use crate::csv_import::{CsvMapping, misp_regex_to_rust, parse_csv};
use crate::freetext::{ParsedValues, TldSet, parse_freetext_excluding};
use crate::report::Rejection;
use kizuna_model::feed::FeedSourceFormat;
use kizuna_model::{AttachedTag, Attribute, Event, MispObject, ObjectReference};
use serde_json::{Map, Value, json};

/// Parses JSON as real feeds write it: a UTF-8 byte order mark and trailing commas before
/// `]` or `}` are accepted. The error names line and column of the first problem.
pub fn parse_lenient_json(bytes: &[u8]) -> Result<Value, String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match serde_json::from_slice(bytes) {
        Ok(value) => Ok(value),
        Err(first) => {
            let repaired = without_trailing_commas(bytes);
            if repaired.len() == bytes.len() {
                return Err(first.to_string());
            }
            serde_json::from_slice(&repaired).map_err(|_| first.to_string())
        }
    }
}

/// `bytes` with every comma that is followed (after white space) by `]` or `}` removed,
/// leaving string contents alone.
fn without_trailing_commas(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut in_string = false;
    let mut escaped = false;
    for (index, &byte) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            out.push(byte);
            continue;
        }
        match byte {
            b'"' => {
                in_string = true;
                out.push(byte);
            }
            b',' => {
                let next = bytes[index + 1..]
                    .iter()
                    .find(|candidate| !candidate.is_ascii_whitespace());
                if !matches!(next, Some(b']' | b'}')) {
                    out.push(byte);
                }
            }
            _ => out.push(byte),
        }
    }
    out
}

/// One event as a feed's manifest announces it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ManifestEntry {
    /// Lower-case canonical uuid.
    pub uuid: String,
    pub info: String,
    pub date: String,
    /// The event's `timestamp`; 0 when the manifest gives none (the event is then fetched
    /// only when it is not known here).
    pub timestamp: i64,
    pub publish_timestamp: Option<i64>,
    pub analysis: Option<i64>,
    pub threat_level_id: Option<i64>,
    pub orgc_name: String,
    pub orgc_uuid: String,
    pub tags: Vec<String>,
}

/// A manifest as read: the usable entries, in the order given, and the entries left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    pub entries: Vec<ManifestEntry>,
    pub rejected: Vec<Rejection>,
}

/// Reads a `manifest.json`: an object keyed by event uuid (the layout), or a list of
/// entries that carry their own `uuid` (possibly inside an `Event` wrapper).
pub fn parse_manifest(bytes: &[u8]) -> Result<Manifest, String> {
    let document = parse_lenient_json(bytes)?;
    let mut manifest = Manifest::default();
    let mut seen = std::collections::HashSet::new();
    let mut take = |key: Option<&str>, location: String, entry: &Value| {
        let entry = entry.get("Event").unwrap_or(entry);
        match manifest_entry_from(key, entry) {
            Ok(parsed) => {
                if seen.insert(parsed.uuid.clone()) {
                    manifest.entries.push(parsed);
                } else {
                    manifest.rejected.push(Rejection::new(
                        location,
                        parsed.uuid,
                        "the manifest lists this event twice; the first entry is used",
                    ));
                }
            }
            Err(reason) => {
                let label = key
                    .map(str::to_string)
                    .or_else(|| {
                        entry
                            .get("info")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .unwrap_or_default();
                manifest
                    .rejected
                    .push(Rejection::new(location, label, reason));
            }
        }
    };
    match &document {
        Value::Object(entries) => {
            for (key, entry) in entries {
                take(Some(key), format!("manifest entry {key}"), entry);
            }
        }
        Value::Array(entries) => {
            for (index, entry) in entries.iter().enumerate() {
                take(None, format!("manifest entry {index}"), entry);
            }
        }
        _ => {
            return Err(
                "a manifest must be a JSON object keyed by event uuid (or a list of entries)"
                    .into(),
            );
        }
    }
    Ok(manifest)
}

fn manifest_entry_from(key: Option<&str>, entry: &Value) -> Result<ManifestEntry, String> {
    if !entry.is_object() {
        return Err("a manifest entry must be a JSON object".into());
    }
    let text = |name: &str| match entry.get(name) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    };
    let inner_uuid = text("uuid");
    let uuid = match key {
        Some(key) => key.to_string(),
        None if !inner_uuid.is_empty() => inner_uuid,
        None => return Err("the entry has no uuid".into()),
    };
    let uuid = uuid.trim().to_ascii_lowercase();
    if !is_uuid(&uuid) {
        return Err(format!("{uuid:?} is not a uuid"));
    }
    // Some generators write the creator as `orgc`.
    let orgc = entry.get("Orgc").or_else(|| entry.get("orgc"));
    let orgc_text = |name: &str| {
        orgc.and_then(|orgc| orgc.get(name))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let tags = match entry.get("Tag") {
        Some(Value::Array(tags)) => tags
            .iter()
            .filter_map(|tag| match tag {
                Value::String(name) => Some(name.clone()),
                other => other
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
            .collect(),
        _ => Vec::new(),
    };
    let number = |name: &str| entry.get(name).and_then(lenient_i64);
    Ok(ManifestEntry {
        uuid,
        info: text("info"),
        date: text("date"),
        timestamp: number("timestamp").unwrap_or(0),
        publish_timestamp: number("publish_timestamp"),
        analysis: number("analysis"),
        threat_level_id: number("threat_level_id"),
        orgc_name: orgc_text("name"),
        orgc_uuid: orgc_text("uuid"),
        tags,
    })
}

/// The manifest entry an event file describes itself with (`{"Event": {...}}` or the bare
/// object), for applying feed rules to what a file really holds.
pub fn manifest_entry_of_event(event: &Value) -> Result<ManifestEntry, String> {
    manifest_entry_from(None, event.get("Event").unwrap_or(event))
}

/// A feed's `rules`: which manifest entries are fetched (MISP's feed pull rules). Tag rules
/// match tag names exactly; organisation rules match the creator's name or uuid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedRules {
    pub tags_or: Vec<String>,
    pub tags_not: Vec<String>,
    pub orgs_or: Vec<String>,
    pub orgs_not: Vec<String>,
    /// `url_params.timestamp`: only events changed at or after this (an epoch, or a delta
    /// such as `"7d"` resolved at fetch time), or within a `[from, to]` range.
    pub timestamp: Option<Value>,
    pub publish_timestamp: Option<Value>,
}

impl FeedRules {
    /// Reads the rules from their stored JSON text ('' = no rules). `url_params` may be an
    /// object or, as MISP stores it, JSON text inside the JSON.
    pub fn parse(text: &str) -> Result<FeedRules, String> {
        if text.trim().is_empty() {
            return Ok(FeedRules::default());
        }
        let document = parse_lenient_json(text.as_bytes())
            .map_err(|error| format!("rules are not valid JSON: {error}"))?;
        Self::from_value(&document)
    }

    pub fn from_value(document: &Value) -> Result<FeedRules, String> {
        let Value::Object(map) = document else {
            if document.is_null() {
                return Ok(FeedRules::default());
            }
            return Err("rules must be a JSON object".into());
        };
        let list = |group: &str, branch: &str| -> Result<Vec<String>, String> {
            let Some(value) = map.get(group).and_then(|group| group.get(branch)) else {
                return Ok(Vec::new());
            };
            match value {
                Value::Null => Ok(Vec::new()),
                Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(text) => Ok(text.trim().to_string()),
                        Value::Number(number) => Ok(number.to_string()),
                        other => Err(format!("rules {group}.{branch}: {other} is not a name")),
                    })
                    .filter(|item| item.as_ref().map_or(true, |text| !text.is_empty()))
                    .collect(),
                Value::String(text) if text.trim().is_empty() => Ok(Vec::new()),
                Value::String(text) => Ok(vec![text.trim().to_string()]),
                other => Err(format!("rules {group}.{branch}: {other} is not a list")),
            }
        };
        let url_params = match map.get("url_params") {
            None | Some(Value::Null) => Value::Null,
            Some(Value::String(text)) if text.trim().is_empty() => Value::Null,
            Some(Value::String(text)) => parse_lenient_json(text.as_bytes())
                .map_err(|error| format!("rules url_params are not valid JSON: {error}"))?,
            Some(other) => other.clone(),
        };
        let param = |name: &str| {
            url_params
                .get(name)
                .filter(|value| !value.is_null() && *value != "")
                .cloned()
        };
        Ok(FeedRules {
            tags_or: list("tags", "OR")?,
            tags_not: list("tags", "NOT")?,
            orgs_or: list("orgs", "OR")?,
            orgs_not: list("orgs", "NOT")?,
            timestamp: param("timestamp"),
            publish_timestamp: param("publish_timestamp"),
        })
    }

    /// Whether a manifest entry passes the rules at time `now` (for relative time rules).
    pub fn admits(&self, entry: &ManifestEntry, now: i64) -> bool {
        let has_tag = |names: &[String]| entry.tags.iter().any(|tag| names.contains(tag));
        let is_org = |names: &[String]| {
            names.iter().any(|name| {
                (!entry.orgc_name.is_empty() && *name == entry.orgc_name)
                    || (!entry.orgc_uuid.is_empty() && name.eq_ignore_ascii_case(&entry.orgc_uuid))
            })
        };
        if !self.tags_or.is_empty() && !has_tag(&self.tags_or) {
            return false;
        }
        if has_tag(&self.tags_not) {
            return false;
        }
        if !self.orgs_or.is_empty() && !is_org(&self.orgs_or) {
            return false;
        }
        if is_org(&self.orgs_not) {
            return false;
        }
        let within = |rule: &Option<Value>, moment: Option<i64>| {
            let Some(rule) = rule else { return true };
            let Some(moment) = moment else { return false };
            match rule {
                Value::Array(bounds) if bounds.len() == 2 => {
                    let from = resolve_time_delta("timestamp", &bounds[0], now);
                    let to = resolve_time_delta("timestamp", &bounds[1], now);
                    match (from, to) {
                        (Ok(from), Ok(to)) => moment >= from && moment <= to,
                        _ => false,
                    }
                }
                single => {
                    resolve_time_delta("timestamp", single, now).is_ok_and(|from| moment >= from)
                }
            }
        };
        within(&self.timestamp, Some(entry.timestamp))
            && within(&self.publish_timestamp, entry.publish_timestamp)
    }
}

/// The manifest entry of an event: `(uuid, entry)`.
pub fn manifest_entry(event: &Event) -> (String, Value) {
    let entry = json!({
        "Orgc": feed_orgc(event),
        "Tag": Value::Array(event.tags.iter().filter_map(feed_tag).collect()),
        "info": event.info,
        "date": format_date(event.date),
        "analysis": event.analysis.as_i64(),
        "threat_level_id": event.threat_level.as_i64(),
        "timestamp": event.timestamp,
    });
    (event.uuid.clone(), entry)
}

/// `manifest.json` of these entries, one line per event.
pub fn write_manifest(entries: impl IntoIterator<Item = (String, Value)>) -> String {
    let mut out = String::from("{");
    for (index, (uuid, entry)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push('\n');
        out.push_str(&Value::String(uuid).to_string());
        out.push_str(": ");
        out.push_str(&entry.to_string());
    }
    out.push_str("\n}\n");
    out
}

/// The hex md5 of a value, as `hashes.csv` and feed caches key values.
pub fn value_md5(value: &str) -> String {
    super::md5::md5_hex(value.as_bytes())
}

/// The md5 digests an attribute contributes to `hashes.csv`: one per half of a composite
/// value.
pub fn attribute_md5s(attribute: &Attribute) -> Vec<String> {
    if kizuna_model::attribute_types::is_composite(&attribute.attr_type) {
        vec![value_md5(&attribute.value1), value_md5(&attribute.value2)]
    } else {
        vec![value_md5(&attribute.value1)]
    }
}

/// The `hashes.csv` lines of an event (each `<md5>,<event uuid>\n`), for its live
/// attributes, loose and in objects.
pub fn hashes_lines(event: &Event) -> String {
    let mut out = String::new();
    let attributes = event.attributes.iter().chain(
        event
            .objects
            .iter()
            .filter(|object| !object.deleted)
            .flat_map(|object| &object.attributes),
    );
    for attribute in attributes.filter(|attribute| !attribute.deleted) {
        for md5 in attribute_md5s(attribute) {
            out.push_str(&md5);
            out.push(',');
            out.push_str(&event.uuid);
            out.push('\n');
        }
    }
    out
}

/// Reads `hashes.csv`: `(md5, event uuid)` pairs; blank lines are skipped and malformed
/// lines reported by line number.
pub fn parse_hashes(text: &str) -> (Vec<(String, String)>, Vec<Rejection>) {
    let mut pairs = Vec::new();
    let mut rejected = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut fields = line.split(',').map(str::trim);
        let (Some(md5), Some(uuid)) = (fields.next(), fields.next()) else {
            rejected.push(Rejection::new(
                format!("line {}", index + 1),
                line,
                "expected <md5>,<event uuid>",
            ));
            continue;
        };
        let md5 = md5.to_ascii_lowercase();
        if md5.len() != 32 || !md5.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            rejected.push(Rejection::new(
                format!("line {}", index + 1),
                line,
                "the first column is not an md5 digest",
            ));
            continue;
        }
        pairs.push((md5, uuid.to_ascii_lowercase()));
    }
    (pairs, rejected)
}

/// An event as a feed serves it (`{"Event": {...}}`): MISP's fields without local ids,
/// distribution or sharing groups; tags that are not exportable, and local tags, are left
/// out. Deleted items are rendered as given (the caller decides whether to load them).
pub fn feed_event(event: &Event) -> Value {
    let mut map = Map::new();
    map.insert("uuid".into(), Value::String(event.uuid.clone()));
    map.insert("info".into(), Value::String(event.info.clone()));
    map.insert("date".into(), Value::String(format_date(event.date)));
    map.insert(
        "threat_level_id".into(),
        int_text(event.threat_level.as_i64()),
    );
    map.insert("analysis".into(), int_text(event.analysis.as_i64()));
    map.insert("timestamp".into(), int_text(event.timestamp));
    map.insert(
        "publish_timestamp".into(),
        int_text(event.publish_timestamp),
    );
    map.insert("published".into(), Value::Bool(event.published));
    map.insert(
        "extends_uuid".into(),
        Value::String(event.extends_uuid.clone()),
    );
    if let Some(protected) = event.protected {
        map.insert("protected".into(), Value::Bool(protected));
    }
    map.insert("Orgc".into(), feed_orgc(event));
    map.insert(
        "Tag".into(),
        Value::Array(event.tags.iter().filter_map(feed_tag).collect()),
    );
    map.insert(
        "Attribute".into(),
        Value::Array(event.attributes.iter().map(feed_attribute).collect()),
    );
    map.insert(
        "Object".into(),
        Value::Array(event.objects.iter().map(feed_object).collect()),
    );
    json!({ "Event": Value::Object(map) })
}

fn feed_orgc(event: &Event) -> Value {
    match &event.orgc {
        Some(orgc) => json!({"name": orgc.name, "uuid": orgc.uuid}),
        None => json!({"name": "", "uuid": ""}),
    }
}

/// A tag as feeds carry it; None for tags that must not leave this instance.
fn feed_tag(attached: &AttachedTag) -> Option<Value> {
    if attached.local || !attached.tag.exportable {
        return None;
    }
    Some(json!({
        "colour": attached.tag.colour,
        "local": false,
        "name": attached.tag.name,
        "relationship_type": attached.relationship_type.clone().unwrap_or_default(),
    }))
}

fn feed_attribute(attribute: &Attribute) -> Value {
    let mut map = Map::new();
    map.insert("uuid".into(), Value::String(attribute.uuid.clone()));
    map.insert("type".into(), Value::String(attribute.attr_type.clone()));
    map.insert("category".into(), Value::String(attribute.category.clone()));
    map.insert("value".into(), Value::String(attribute.value()));
    map.insert("comment".into(), Value::String(attribute.comment.clone()));
    map.insert("to_ids".into(), Value::Bool(attribute.to_ids));
    map.insert(
        "disable_correlation".into(),
        Value::Bool(attribute.disable_correlation),
    );
    map.insert("deleted".into(), Value::Bool(attribute.deleted));
    map.insert("timestamp".into(), int_text(attribute.timestamp));
    if let Some(relation) = &attribute.object_relation {
        map.insert("object_relation".into(), Value::String(relation.clone()));
    }
    if let Some(first_seen) = attribute.first_seen {
        map.insert("first_seen".into(), Value::String(format_seen(first_seen)));
    }
    if let Some(last_seen) = attribute.last_seen {
        map.insert("last_seen".into(), Value::String(format_seen(last_seen)));
    }
    if let Some(data) = &attribute.data {
        map.insert("data".into(), Value::String(data.clone()));
    }
    // Kizuna's context travels to Kizuna subscribers; MISP ignores keys it does not know.
    if let Some(valid_until) = attribute.valid_until {
        map.insert(
            "valid_until".into(),
            Value::String(format_seen(valid_until)),
        );
    }
    if let Some(intended_use) = attribute.intended_use {
        map.insert(
            "intended_use".into(),
            Value::String(intended_use.as_str().into()),
        );
    }
    if let Some(status) = attribute.status {
        map.insert("status".into(), Value::String(status.as_str().into()));
    }
    let tags: Vec<Value> = attribute.tags.iter().filter_map(feed_tag).collect();
    if !tags.is_empty() {
        map.insert("Tag".into(), Value::Array(tags));
    }
    Value::Object(map)
}

fn feed_object(object: &MispObject) -> Value {
    let mut map = Map::new();
    map.insert("uuid".into(), Value::String(object.uuid.clone()));
    map.insert("name".into(), Value::String(object.name.clone()));
    map.insert(
        "meta-category".into(),
        Value::String(object.meta_category.clone()),
    );
    map.insert(
        "description".into(),
        Value::String(object.description.clone()),
    );
    map.insert(
        "template_uuid".into(),
        Value::String(object.template_uuid.clone()),
    );
    map.insert(
        "template_version".into(),
        Value::String(object.template_version.clone()),
    );
    map.insert("timestamp".into(), int_text(object.timestamp));
    map.insert("comment".into(), Value::String(object.comment.clone()));
    map.insert("deleted".into(), Value::Bool(object.deleted));
    if let Some(first_seen) = object.first_seen {
        map.insert("first_seen".into(), Value::String(format_seen(first_seen)));
    }
    if let Some(last_seen) = object.last_seen {
        map.insert("last_seen".into(), Value::String(format_seen(last_seen)));
    }
    map.insert(
        "Attribute".into(),
        Value::Array(object.attributes.iter().map(feed_attribute).collect()),
    );
    map.insert(
        "ObjectReference".into(),
        Value::Array(object.references.iter().map(feed_reference).collect()),
    );
    Value::Object(map)
}

fn feed_reference(reference: &ObjectReference) -> Value {
    json!({
        "uuid": reference.uuid,
        "timestamp": int_text(reference.timestamp),
        "object_uuid": reference.source_uuid,
        "referenced_uuid": reference.referenced_uuid,
        "relationship_type": reference.relationship_type,
        "comment": reference.comment,
        "deleted": reference.deleted,
    })
}

/// The values of a csv or freetext feed document, parsed with the feed's `settings`
/// (`csv.value` columns and `csv.delimiter` for csv; `common.excluderegex` for both).
pub fn parse_values_feed(
    format: FeedSourceFormat,
    text: &str,
    settings: &Value,
    tlds: &TldSet,
) -> Result<ParsedValues, String> {
    match format {
        FeedSourceFormat::Csv => {
            let mapping = CsvMapping::from_misp_feed_settings(settings)?;
            parse_csv(text, &mapping, tlds)
        }
        FeedSourceFormat::Freetext | FeedSourceFormat::Misp | FeedSourceFormat::Taxii => {
            let exclude = match settings
                .get("common")
                .and_then(|common| common.get("excluderegex"))
            {
                None | Some(Value::Null) => None,
                Some(Value::String(pattern)) if pattern.trim().is_empty() => None,
                Some(Value::String(pattern)) => {
                    let rust = misp_regex_to_rust(pattern)?;
                    Some(regex::Regex::new(&rust).map_err(|error| {
                        format!("settings.common.excluderegex {pattern:?}: {error}")
                    })?)
                }
                Some(other) => {
                    return Err(format!(
                        "settings.common.excluderegex: expected a delimited pattern such as \"/^10\\\\./\", got {other}"
                    ));
                }
            };
            Ok(parse_freetext_excluding(text, tlds, exclude.as_ref()))
        }
    }
}

/// MISP writes integer columns as JSON strings.
fn int_text(value: i64) -> Value {
    Value::String(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_model::{Distribution, Organisation, Tag};
    use time::macros::date;

    const INFOBLOX_MANIFEST: &str = r##"{"24e799ca-aad8-4244-8005-90b3ceb44540": {"Orgc": {"name": "Infoblox", "uuid": "d1c6a726-f132-4ddc-8180-ce3a5b778e65"}, "Tag": [{"colour": "#ffffff", "local": false, "name": "tlp:clear", "relationship_type": ""}, {"colour": "#ff00ff", "local": false, "name": "infoblox", "relationship_type": ""}], "info": "olympics_20240729_iocs", "date": "2024-07-29", "analysis": 2, "threat_level_id": 1, "timestamp": 1722272240}}"##;

    fn entry(tags: &[&str], orgc: &str, timestamp: i64) -> ManifestEntry {
        ManifestEntry {
            uuid: "24e799ca-aad8-4244-8005-90b3ceb44540".into(),
            orgc_name: orgc.into(),
            orgc_uuid: "d1c6a726-f132-4ddc-8180-ce3a5b778e65".into(),
            tags: tags.iter().map(|tag| tag.to_string()).collect(),
            timestamp,
            ..ManifestEntry::default()
        }
    }

    #[test]
    fn a_real_manifest_is_read() {
        let manifest = parse_manifest(INFOBLOX_MANIFEST.as_bytes()).unwrap();
        assert!(manifest.rejected.is_empty());
        let only = &manifest.entries[0];
        assert_eq!(only.uuid, "24e799ca-aad8-4244-8005-90b3ceb44540");
        assert_eq!(only.info, "olympics_20240729_iocs");
        assert_eq!(only.date, "2024-07-29");
        assert_eq!(only.timestamp, 1_722_272_240);
        assert_eq!(only.analysis, Some(2));
        assert_eq!(only.threat_level_id, Some(1));
        assert_eq!(only.orgc_name, "Infoblox");
        assert_eq!(only.tags, ["tlp:clear", "infoblox"]);
    }

    #[test]
    fn lists_trailing_commas_strings_and_wrappers_are_tolerated() {
        let text = "\u{feff}[\n {\"uuid\": \"5F0C7A1E-0000-4000-8000-000000000001\", \"timestamp\": \"1700000000\", \"orgc\": {\"name\": \"X\"}, \"extra\": [1,2,],},\n {\"Event\": {\"uuid\": \"5f0c7a1e-0000-4000-8000-000000000002\", \"info\": \"a, b ]\"}},\n {\"info\": \"no uuid\"},\n {\"uuid\": \"not-a-uuid\"},\n {\"uuid\": \"5f0c7a1e-0000-4000-8000-000000000001\"},\n]";
        let manifest = parse_manifest(text.as_bytes()).unwrap();
        let uuids: Vec<&str> = manifest
            .entries
            .iter()
            .map(|entry| entry.uuid.as_str())
            .collect();
        assert_eq!(
            uuids,
            [
                "5f0c7a1e-0000-4000-8000-000000000001",
                "5f0c7a1e-0000-4000-8000-000000000002"
            ]
        );
        assert_eq!(manifest.entries[0].timestamp, 1_700_000_000);
        assert_eq!(manifest.entries[0].orgc_name, "X");
        assert_eq!(
            manifest.entries[1].info, "a, b ]",
            "string contents untouched"
        );
        assert_eq!(manifest.entries[1].timestamp, 0);
        let reasons: Vec<String> = manifest.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].starts_with("manifest entry 2: \"no uuid\": "));
        assert!(reasons[1].contains("is not a uuid"));
        assert!(reasons[2].contains("twice"));
    }

    #[test]
    fn broken_json_is_an_error_with_its_place() {
        let error = parse_manifest(b"{\"a\": [1, 2}").unwrap_err();
        assert!(error.contains("line 1"), "{error}");
        assert!(parse_manifest(b"42").unwrap_err().contains("JSON object"));
        assert!(parse_lenient_json(b"{\"a\": 1,}").is_ok());
        assert!(parse_lenient_json(b"{\"a\": \"1,}\"").is_err());
    }

    #[test]
    fn rules_filter_on_tags_and_organisations() {
        let rules = FeedRules::parse(
            r#"{"tags":{"OR":["tlp:clear","tlp:white"],"NOT":["infoblox:retired"]},"orgs":{"OR":["Infoblox"],"NOT":[]},"url_params":""}"#,
        )
        .unwrap();
        assert!(rules.admits(&entry(&["tlp:clear"], "Infoblox", 1), 0));
        assert!(!rules.admits(&entry(&["tlp:amber"], "Infoblox", 1), 0));
        assert!(!rules.admits(&entry(&["tlp:white", "infoblox:retired"], "Infoblox", 1), 0));
        assert!(!rules.admits(&entry(&["tlp:white"], "Someone else", 1), 0));
        let by_uuid =
            FeedRules::parse(r#"{"orgs":{"NOT":["D1C6A726-F132-4DDC-8180-CE3A5B778E65"]}}"#)
                .unwrap();
        assert!(!by_uuid.admits(&entry(&[], "Infoblox", 1), 0));
        assert!(FeedRules::parse("").unwrap().admits(&entry(&[], "", 0), 0));
        assert!(
            FeedRules::parse("null")
                .unwrap()
                .admits(&entry(&[], "", 0), 0)
        );
        assert!(FeedRules::parse("{").is_err());
        assert!(FeedRules::parse(r#"{"tags":{"OR":{"a":1}}}"#).is_err());
    }

    #[test]
    fn rules_filter_on_time() {
        let now = 1_000_000;
        let since = FeedRules::parse(r#"{"url_params":"{\"timestamp\":\"1d\"}"}"#).unwrap();
        assert!(since.admits(&entry(&[], "", now - 3_600), now));
        assert!(!since.admits(&entry(&[], "", now - 90_000), now));
        let range = FeedRules::parse(r#"{"url_params":{"timestamp":[100, 200]}}"#).unwrap();
        assert!(range.admits(&entry(&[], "", 150), now));
        assert!(!range.admits(&entry(&[], "", 250), now));
        let published = FeedRules::parse(r#"{"url_params":{"publish_timestamp":"100"}}"#).unwrap();
        assert!(
            !published.admits(&entry(&[], "", 150), now),
            "no publish time given"
        );
    }

    fn tagged(name: &str, exportable: bool, local: bool) -> AttachedTag {
        AttachedTag {
            tag: Tag {
                id: 9,
                name: name.into(),
                colour: "#ffffff".into(),
                exportable,
                ..Tag::default()
            },
            local,
            relationship_type: None,
        }
    }

    fn sample_event() -> Event {
        let mut event = Event::new(
            "5f0c7a1e-0000-4000-8000-0000000000e1".into(),
            "Phishing wave".into(),
            date!(2024 - 05 - 17),
            3,
            1_700_000_000,
        );
        event.id = 42;
        event.distribution = Distribution::AllCommunities;
        event.published = true;
        event.publish_timestamp = 1_700_000_100;
        event.orgc = Some(Organisation {
            id: 3,
            name: "CIRCL".into(),
            uuid: "55f6ea5e-2c60-40e5-964f-47a8950d210f".into(),
            ..Organisation::default()
        });
        event.tags = vec![
            tagged("tlp:clear", true, false),
            tagged("internal:triage", false, false),
            tagged("seen-here", true, true),
        ];
        let mut domain = Attribute::new(
            "5f0c7a1e-0000-4000-8000-0000000000a1".into(),
            "domain".into(),
            "Network activity".into(),
            "evil.test".into(),
            String::new(),
        );
        domain.id = 7;
        domain.event_id = 42;
        domain.to_ids = true;
        domain.timestamp = 1_700_000_000;
        domain.first_seen = Some(1_700_000_000_000_000);
        domain.tags = vec![tagged("kill-chain:delivery", true, false)];
        let mut pair = Attribute::new(
            "5f0c7a1e-0000-4000-8000-0000000000a2".into(),
            "filename|md5".into(),
            "Payload delivery".into(),
            "a.exe".into(),
            "d41d8cd98f00b204e9800998ecf8427e".into(),
        );
        pair.object_id = 5;
        pair.object_relation = Some("file".into());
        let mut object = MispObject {
            id: 5,
            uuid: "5f0c7a1e-0000-4000-8000-0000000000b1".into(),
            event_id: 42,
            name: "file".into(),
            meta_category: "file".into(),
            description: "File".into(),
            template_uuid: "688c46fb-5edb-40a3-8273-1af7923e2215".into(),
            template_version: "24".into(),
            timestamp: 1_700_000_000,
            distribution: Distribution::InheritEvent,
            sharing_group_id: 0,
            comment: String::new(),
            deleted: false,
            first_seen: None,
            last_seen: None,
            attributes: vec![pair],
            references: Vec::new(),
        };
        object.references.push(ObjectReference {
            id: 1,
            uuid: "5f0c7a1e-0000-4000-8000-0000000000c1".into(),
            object_id: 5,
            event_id: 42,
            source_uuid: object.uuid.clone(),
            referenced_uuid: domain.uuid.clone(),
            referenced_id: 7,
            referenced_type: kizuna_model::ReferencedType::Attribute,
            relationship_type: "downloaded-from".into(),
            comment: String::new(),
            timestamp: 1_700_000_000,
            deleted: false,
        });
        event.attributes = vec![domain];
        event.objects = vec![object];
        event
    }

    #[test]
    fn feed_events_carry_no_ids_distribution_or_private_tags() {
        let rendered = feed_event(&sample_event());
        let event = &rendered["Event"];
        assert_eq!(event["uuid"], "5f0c7a1e-0000-4000-8000-0000000000e1");
        assert_eq!(event["timestamp"], "1700000000");
        assert_eq!(event["analysis"], "0");
        assert_eq!(event["published"], true);
        assert_eq!(
            event["Orgc"],
            json!({"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"})
        );
        let tags: Vec<&str> = event["Tag"]
            .as_array()
            .unwrap()
            .iter()
            .map(|tag| tag["name"].as_str().unwrap())
            .collect();
        assert_eq!(tags, ["tlp:clear"]);
        let text = rendered.to_string();
        for private in [
            "\"id\"",
            "event_id",
            "object_id",
            "distribution",
            "sharing_group",
            "orgc_id",
        ] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        let domain = &event["Attribute"][0];
        assert_eq!(domain["value"], "evil.test");
        assert_eq!(domain["first_seen"], "2023-11-14T22:13:20.000000+00:00");
        assert!(domain.get("last_seen").is_none());
        assert_eq!(domain["Tag"][0]["name"], "kill-chain:delivery");
        let object = &event["Object"][0];
        assert_eq!(object["meta-category"], "file");
        assert_eq!(
            object["Attribute"][0]["value"],
            "a.exe|d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(object["Attribute"][0]["object_relation"], "file");
        assert_eq!(
            object["ObjectReference"][0]["referenced_uuid"],
            "5f0c7a1e-0000-4000-8000-0000000000a1"
        );
    }

    #[test]
    fn manifests_and_hashes_are_written_as_misp_reads_them() {
        let event = sample_event();
        let (uuid, entry) = manifest_entry(&event);
        assert_eq!(uuid, event.uuid);
        assert_eq!(entry["timestamp"], 1_700_000_000);
        assert_eq!(entry["Tag"].as_array().unwrap().len(), 1);
        let text = write_manifest([(uuid, entry)]);
        let reread = parse_manifest(text.as_bytes()).unwrap();
        assert_eq!(reread.entries[0].uuid, event.uuid);
        assert_eq!(reread.entries[0].orgc_name, "CIRCL");
        assert_eq!(reread.entries[0].tags, ["tlp:clear"]);
        assert_eq!(write_manifest(Vec::new()), "{\n}\n");
        assert!(parse_manifest(b"{\n}\n").unwrap().entries.is_empty());

        assert_eq!(value_md5(""), "d41d8cd98f00b204e9800998ecf8427e");
        let lines = hashes_lines(&event);
        let expected = format!(
            "{},{uuid}\n{},{uuid}\n{},{uuid}\n",
            value_md5("evil.test"),
            value_md5("a.exe"),
            value_md5("d41d8cd98f00b204e9800998ecf8427e"),
            uuid = event.uuid
        );
        assert_eq!(lines, expected);
        let (pairs, rejected) = parse_hashes(&format!("{lines}\nnonsense\nzz,1\n"));
        assert_eq!(pairs.len(), 3);
        assert_eq!(pairs[0].1, event.uuid);
        assert_eq!(rejected.len(), 2);
        assert_eq!(rejected[0].location, "line 5");
    }

    #[test]
    fn values_feeds_are_parsed_with_their_settings() {
        let tlds = TldSet::new(["com".to_string(), "test".to_string()]);
        let text = "# blocklist\n198.51.100.7\nevil[.]com\n10.0.0.1\n";
        let settings = json!({"common": {"excluderegex": "/^10\\./"}});
        let parsed = parse_values_feed(FeedSourceFormat::Freetext, text, &settings, &tlds).unwrap();
        let values: Vec<(&str, &str)> = parsed
            .values
            .iter()
            .map(|value| (value.attr_type.as_str(), value.value.as_str()))
            .collect();
        assert_eq!(values, [("ip-dst", "198.51.100.7"), ("domain", "evil.com")]);

        let csv = "1,198.51.100.7,c2\n2,evil.com,phishing\n";
        let settings = json!({"csv": {"value": "2", "delimiter": ","}});
        let parsed = parse_values_feed(FeedSourceFormat::Csv, csv, &settings, &tlds).unwrap();
        assert_eq!(parsed.values.len(), 2);
        assert_eq!(parsed.values[1].value, "evil.com");
        let bad = json!({"csv": {"value": "zero"}});
        assert!(parse_values_feed(FeedSourceFormat::Csv, csv, &bad, &tlds).is_err());
        let bad = json!({"common": {"excluderegex": "no-delimiters"}});
        assert!(parse_values_feed(FeedSourceFormat::Freetext, csv, &bad, &tlds).is_err());
    }

    #[test]
    fn event_files_describe_themselves_for_rules() {
        let described = manifest_entry_of_event(&feed_event(&sample_event())).unwrap();
        assert_eq!(described.uuid, "5f0c7a1e-0000-4000-8000-0000000000e1");
        assert_eq!(described.orgc_name, "CIRCL");
        assert_eq!(described.tags, ["tlp:clear"]);
        assert_eq!(described.timestamp, 1_700_000_000);
        assert!(manifest_entry_of_event(&json!({"Event": {"info": "x"}})).is_err());
    }
}
