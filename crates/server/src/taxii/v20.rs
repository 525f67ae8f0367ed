//! TAXII 2.0 for consumers that still speak it (FortiGate, some SIEM connectors): the same
//! collections under `/taxii/root/`, objects as one STIX 2.0 bundle, paged by `Range: items
//! a-b` (206 with `Content-Range`, 416 past the end) or sent whole without it. Objects are
//! read only (POST answers 405).
//!
//! STIX 2.1 → 2.0 (stix-taxii-reference A.8): no `spec_version` on objects; no top-level
//! SCOs — observed-data embeds its observables under local keys "0", "1"…; indicators carry
//! `labels` and no `pattern_type`; types 2.0 does not have (grouping, location, note,
//! opinion, infrastructure, malware-analysis, extension definitions) and relationships to
//! what is left out are dropped.

use super::collections::readable;
use super::media::{STIX_20, TaxiiVersion};
use super::objects::split_id;
use super::paging::ListParams;
use super::view::{Page, View, page};
use super::{TaxiiCall, TaxiiError, timestamp_text};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::stix::export::StixObjectText;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Types STIX 2.0 does not know: left out of 2.0 answers.
const NOT_IN_20: &[&str] = &[
    "grouping",
    "location",
    "note",
    "opinion",
    "infrastructure",
    "malware-analysis",
    "language-content",
    "extension-definition",
];

use kizuna_formats::stix::OBSERVABLE_TYPES as SCO_TYPES;

/// Everything the collection holds for the caller (2.0 pages by `Range` over the whole).
async fn whole(call: &TaxiiCall, id: &str, only: Option<&str>) -> Result<Page, TaxiiError> {
    let access = readable(call, id).await?;
    let view = View::of(&access.collection, call.now)?;
    let mut params = ListParams::parse(call, &access.collection.id, "objects 2.0")?;
    params.limit = usize::MAX;
    params.next = None;
    if let Some(object_id) = only {
        params.ids = Some(vec![object_id.to_string()]);
    }
    page(call, &view, &params, None).await
}

/// The converted objects of a page, in order, each with its `date_added`.
fn converted(page: &Page) -> Vec<(Value, i64)> {
    let mut observables: HashMap<*const Vec<StixObjectText>, HashMap<String, Value>> =
        HashMap::new();
    let mut out = Vec::with_capacity(page.items.len());
    for item in &page.items {
        let object = item.object();
        if SCO_TYPES.contains(&object.object_type()) || NOT_IN_20.contains(&object.object_type()) {
            continue;
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(object.json()) else {
            continue;
        };
        let scos = observables
            .entry(Arc::as_ptr(&item.objects))
            .or_insert_with(|| sco_map(&item.objects));
        if let Some(done) = to_stix_20(map, scos) {
            out.push((done, item.date_added));
        }
    }
    out
}

fn sco_map(objects: &[StixObjectText]) -> HashMap<String, Value> {
    objects
        .iter()
        .filter(|object| SCO_TYPES.contains(&object.object_type()))
        .filter_map(|object| {
            Some((
                object.id().to_string(),
                serde_json::from_str(object.json()).ok()?,
            ))
        })
        .collect()
}

fn is_left_out(id: &str) -> bool {
    let object_type = id.split("--").next().unwrap_or_default();
    SCO_TYPES.contains(&object_type) || NOT_IN_20.contains(&object_type)
}

/// One STIX 2.1 object as STIX 2.0; None when 2.0 has no place for it.
fn to_stix_20(mut map: Map<String, Value>, scos: &HashMap<String, Value>) -> Option<Value> {
    map.remove("spec_version");
    let object_type = map.get("type")?.as_str()?.to_string();
    match object_type.as_str() {
        "indicator" => {
            if map
                .remove("pattern_type")
                .is_some_and(|kind| kind.as_str() != Some("stix"))
            {
                return None;
            }
            map.remove("pattern_version");
            let types = map.remove("indicator_types");
            if !map.contains_key("labels") {
                map.insert(
                    "labels".into(),
                    types.unwrap_or_else(|| json!(["malicious-activity"])),
                );
            }
        }
        "malware" | "tool" | "threat-actor" => {
            let types = map.remove(&format!("{object_type}_types"));
            map.remove("is_family");
            if !map.contains_key("labels") {
                map.insert("labels".into(), types.unwrap_or_else(|| json!(["unknown"])));
            }
        }
        "report" => {
            map.remove("report_types");
            if let Some(Value::Array(refs)) = map.get_mut("object_refs") {
                refs.retain(|id| id.as_str().is_some_and(|id| !is_left_out(id)));
                if refs.is_empty()
                    && let Some(creator) = map.get("created_by_ref").cloned()
                {
                    map.insert("object_refs".into(), json!([creator]));
                }
            }
        }
        "relationship" => {
            let dangling = ["source_ref", "target_ref"].iter().any(|key| {
                map.get(*key)
                    .and_then(Value::as_str)
                    .is_none_or(is_left_out)
            });
            if dangling {
                return None;
            }
        }
        "observed-data" => {
            let refs = map.remove("object_refs").unwrap_or(Value::Null);
            let ids: Vec<&str> = refs
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let keys: HashMap<&str, String> = ids
                .iter()
                .enumerate()
                .map(|(index, id)| (*id, index.to_string()))
                .collect();
            let mut embedded = Map::new();
            for id in &ids {
                let Some(Value::Object(sco)) = scos.get(*id).cloned() else {
                    continue;
                };
                embedded.insert(keys[id].clone(), embed(sco, &keys));
            }
            if embedded.is_empty() {
                return None;
            }
            map.insert("objects".into(), Value::Object(embedded));
        }
        _ => {}
    }
    for (key, value) in map.iter_mut() {
        if key == "id" || key.ends_with("_ref") {
            as_version_4_id(value);
        } else if key.ends_with("_refs")
            && let Value::Array(ids) = value
        {
            ids.iter_mut().for_each(as_version_4_id);
        }
    }
    Some(Value::Object(map))
}

/// STIX 2.0 requires version-4 UUIDs in identifiers, where 2.1 content carries UUIDv5s
/// (relationships and galaxy objects derived from names, organisations' own uuids): such an
/// id gets the version and variant bits of a v4, which keeps it deterministic and keeps
/// every reference to it pointing at the same object.
fn as_version_4_id(value: &mut Value) {
    let Some(id) = value.as_str() else { return };
    let Some((object_type, uuid)) = id.split_once("--") else {
        return;
    };
    let Ok(parsed) = uuid::Uuid::parse_str(uuid) else {
        return;
    };
    if parsed.get_version_num() == 4 && parsed.get_variant() == uuid::Variant::RFC4122 {
        return;
    }
    let mut bytes = *parsed.as_bytes();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    *value = Value::String(format!("{object_type}--{}", uuid::Uuid::from_bytes(bytes)));
}

/// An SCO as an embedded 2.0 observable: no id or spec_version, references to other
/// observables of the same observed-data by local key, others dropped.
fn embed(mut sco: Map<String, Value>, keys: &HashMap<&str, String>) -> Value {
    sco.remove("id");
    sco.remove("spec_version");
    sco.remove("defanged");
    let names: Vec<String> = sco.keys().cloned().collect();
    for name in names {
        if name.ends_with("_ref") {
            let local = sco
                .get(&name)
                .and_then(Value::as_str)
                .and_then(|id| keys.get(id))
                .cloned();
            match local {
                Some(key) => {
                    sco.insert(name, json!(key));
                }
                None => {
                    sco.remove(&name);
                }
            }
        } else if name.ends_with("_refs") {
            let local: Vec<Value> = sco
                .get(&name)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|id| keys.get(id))
                .map(|key| json!(key))
                .collect();
            if local.is_empty() {
                sco.remove(&name);
            } else {
                sco.insert(name, Value::Array(local));
            }
        }
    }
    Value::Object(sco)
}

/// `Range: items a-b` → (a, b inclusive); None without the header.
fn requested_range(headers: &HeaderMap) -> Result<Option<(usize, usize)>, TaxiiError> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let bad = || TaxiiError::bad_request("Range must read items <first>-<last>, e.g. items 0-99.");
    let text = value.to_str().map_err(|_| bad())?.trim();
    let rest = text
        .strip_prefix("items")
        .map(|rest| rest.trim_start_matches([' ', '=']))
        .ok_or_else(bad)?;
    let (first, last) = rest.split_once('-').ok_or_else(bad)?;
    let first: usize = first.trim().parse().map_err(|_| bad())?;
    let last: usize = last.trim().parse().map_err(|_| bad())?;
    if last < first {
        return Err(bad());
    }
    Ok(Some((first, last)))
}

/// The slice a Range asks for, with the status and Content-Range; 416 past the end.
fn ranged<T>(
    items: Vec<T>,
    headers: &HeaderMap,
) -> Result<(Vec<T>, StatusCode, Option<String>), TaxiiError> {
    let total = items.len();
    let Some((first, last)) = requested_range(headers)? else {
        return Ok((items, StatusCode::OK, None));
    };
    if first >= total {
        let mut error = TaxiiError::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "Range not satisfiable",
            format!("The collection holds {total} items for you."),
        );
        error.description.push_str(&format!(" (items */{total})"));
        return Err(error);
    }
    let last = last.min(total - 1);
    let slice = items
        .into_iter()
        .skip(first)
        .take(last - first + 1)
        .collect();
    Ok((
        slice,
        StatusCode::PARTIAL_CONTENT,
        Some(format!("items {first}-{last}/{total}")),
    ))
}

fn with_headers(
    mut response: Response,
    content_range: Option<String>,
    dates: Option<(i64, i64)>,
) -> Response {
    if let Some(range) = content_range
        && let Ok(value) = HeaderValue::from_str(&range)
    {
        response.headers_mut().insert(header::CONTENT_RANGE, value);
    }
    if let Some((first, last)) = dates {
        for (name, micros) in [
            ("x-taxii-date-added-first", first),
            ("x-taxii-date-added-last", last),
        ] {
            if let Ok(value) = HeaderValue::from_str(&timestamp_text(micros)) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}

fn date_range(items: &[(Value, i64)]) -> Option<(i64, i64)> {
    Some((
        items.iter().map(|(_, at)| *at).min()?,
        items.iter().map(|(_, at)| *at).max()?,
    ))
}

fn bundle_response(
    items: Vec<(Value, i64)>,
    status: StatusCode,
    range: Option<String>,
) -> Response {
    let dates = date_range(&items);
    let objects: Vec<Value> = items.into_iter().map(|(object, _)| object).collect();
    let mut bundle = json!({
        "type": "bundle",
        "id": format!("bundle--{}", uuid::Uuid::new_v4()),
        "spec_version": "2.0",
    });
    if !objects.is_empty() {
        bundle["objects"] = Value::Array(objects);
    }
    let mut response = (status, bundle.to_string()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(STIX_20));
    with_headers(response, range, dates)
}

pub async fn objects(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let page = whole(call, id, None).await?;
    let (items, status, range) = ranged(converted(&page), &call.headers)?;
    Ok(bundle_response(items, status, range))
}

pub async fn object(call: &TaxiiCall, id: &str, object_id: &str) -> Result<Response, TaxiiError> {
    if split_id(object_id).is_none() {
        return Err(TaxiiError::not_found(format!(
            "There is no object {object_id:?}."
        )));
    }
    let page = whole(call, id, Some(object_id)).await?;
    let items = converted(&page);
    if items.is_empty() {
        return Err(TaxiiError::not_found(format!(
            "There is no object {object_id:?} in this collection for you."
        )));
    }
    Ok(bundle_response(items, StatusCode::OK, None))
}

pub async fn manifest(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let page = whole(call, id, None).await?;
    let mut seen = HashSet::new();
    let records: Vec<(Value, i64)> = converted(&page)
        .into_iter()
        .filter_map(|(object, date_added)| {
            let id = object.get("id")?.as_str()?.to_string();
            if !seen.insert(id.clone()) {
                return None;
            }
            let version = object
                .get("modified")
                .or_else(|| object.get("created"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            Some((
                json!({
                    "id": id,
                    "date_added": timestamp_text(date_added),
                    "versions": [version],
                    "media_types": [STIX_20],
                }),
                date_added,
            ))
        })
        .collect();
    let (items, status, range) = ranged(records, &call.headers)?;
    let dates = date_range(&items);
    let body = if items.is_empty() {
        json!({})
    } else {
        json!({ "objects": items.into_iter().map(|(record, _)| record).collect::<Vec<_>>() })
    };
    let response = super::taxii_response(TaxiiVersion::V20, status, body.to_string());
    Ok(with_headers(response, range, dates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_data_embeds_its_observables() {
        let mut scos = HashMap::new();
        scos.insert(
            "domain-name--a".to_string(),
            json!({"type": "domain-name", "spec_version": "2.1", "id": "domain-name--a",
                   "value": "example.com", "resolves_to_refs": ["ipv4-addr--b", "ipv4-addr--c"]}),
        );
        scos.insert(
            "ipv4-addr--b".to_string(),
            json!({"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--b", "value": "192.0.2.1"}),
        );
        let observed = json!({"type": "observed-data", "spec_version": "2.1", "id": "observed-data--x",
            "object_refs": ["domain-name--a", "ipv4-addr--b"], "number_observed": 1});
        let Value::Object(map) = observed else {
            unreachable!()
        };
        let done = to_stix_20(map, &scos).unwrap();
        assert!(done.get("spec_version").is_none());
        assert!(done.get("object_refs").is_none());
        assert_eq!(done["objects"]["0"]["value"], "example.com");
        assert_eq!(done["objects"]["0"]["resolves_to_refs"], json!(["1"]));
        assert_eq!(done["objects"]["1"]["type"], "ipv4-addr");
        assert!(done["objects"]["1"].get("id").is_none());
    }

    #[test]
    fn indicators_get_labels_and_lose_2_1_fields() {
        let indicator = json!({"type": "indicator", "spec_version": "2.1", "id": "indicator--x",
            "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix",
            "indicator_types": ["malicious-activity"], "valid_from": "2026-01-01T00:00:00Z"});
        let Value::Object(map) = indicator else {
            unreachable!()
        };
        let done = to_stix_20(map, &HashMap::new()).unwrap();
        assert_eq!(done["labels"], json!(["malicious-activity"]));
        assert!(done.get("pattern_type").is_none());
        assert!(done.get("indicator_types").is_none());
        let sigma = json!({"type": "indicator", "id": "indicator--y", "pattern": "x", "pattern_type": "sigma"});
        let Value::Object(map) = sigma else {
            unreachable!()
        };
        assert!(to_stix_20(map, &HashMap::new()).is_none());
    }

    #[test]
    fn ranges_slice_and_refuse_past_the_end() {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_static("items 2-5"));
        let (slice, status, range) = ranged((0..4).collect::<Vec<_>>(), &headers).unwrap();
        assert_eq!(slice, [2, 3]);
        assert_eq!(status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(range.as_deref(), Some("items 2-3/4"));
        headers.insert(header::RANGE, HeaderValue::from_static("items 4-9"));
        let refused = ranged((0..4).collect::<Vec<_>>(), &headers).unwrap_err();
        assert_eq!(refused.status, StatusCode::RANGE_NOT_SATISFIABLE);
        let (all, status, _) = ranged(vec![1, 2], &HeaderMap::new()).unwrap();
        assert_eq!((all.len(), status), (2, StatusCode::OK));
    }
}
