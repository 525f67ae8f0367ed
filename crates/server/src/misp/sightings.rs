//! MISP `SightingsController`: add (to attributes named by id/uuid, or to every visible
//! attribute with a value), index, listSightings, view, restSearch (JSON and CSV) and
//! delete; plus the sightings MISP's event view carries on each attribute.
//!
//! Visibility is MISP's default `Plugin.Sightings_policy` 0 (misp-reference §1.9): the
//! event's owner organisation sees every sighting of its events, other organisations see
//! their own, site admins see everything; the sighted attribute must be visible as well.
//! The store applies both rules.

use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::misp::filters::{resolve_time, resolve_time_delta};
use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use kizuna_formats::misp::output::{
    SightingSearchOutput, attach_sightings_to_event, render_listed_sighting, render_sighting,
    render_sighting_search_hit, render_sighting_with_reporter, render_sightings_csv,
};
use kizuna_model::query::TimeBound;
use kizuna_model::{Event, Sighting, SightingDetails, SightingType};
use kizuna_store::{Key, SightableAttribute, SightingFilter, StoreError};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// MISP's default look-back of a sightings restSearch without a time filter.
const DEFAULT_LOOKBACK: &str = "30d";

/// The longest `source` MISP's column holds.
const SOURCE_MAX_CHARS: usize = 255;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        "index" => index(call).await,
        "listsightings" => list_sightings(call).await,
        "view" => view(call).await,
        "restsearch" => rest_search(call).await,
        "delete" => delete(call).await,
        "filtersightinguuidsforpush" => filter_sighting_uuids_for_push(call).await,
        "bulksavesightings" => bulk_save_sightings(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// The request body's fields, with MISP's optional `request` and `Sighting` envelopes
/// removed; an empty map when there is no body.
fn body_fields(call: &Call, envelope: &str) -> ApiResult<Map<String, Value>> {
    let mut body = call.body.clone().unwrap_or_else(|| json!({}));
    for wrapper in ["request", envelope] {
        if let Some(inner) = body.get(wrapper).filter(|inner| inner.is_object()) {
            body = inner.clone();
        }
    }
    match body {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::BadRequest(
            "The request body must be a JSON object.".into(),
        )),
    }
}

/// The texts of a scalar or a list of scalars (numbers as written).
fn texts(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(texts).collect(),
        Value::String(text) => vec![text.clone()],
        Value::Number(number) => vec![number.to_string()],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// add
// ---------------------------------------------------------------------------------------

/// Why an add was refused, in MISP's wording prefix.
fn add_refused(reason: impl std::fmt::Display) -> String {
    format!("Could not add the Sighting. Reason: {reason}")
}

fn bad_add(reason: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(add_refused(reason))
}

/// MISP's sighting `type`: 0 (default), 1 or 2, as a number or its text.
fn sighting_type(fields: &Map<String, Value>) -> ApiResult<SightingType> {
    let Some(value) = fields.get("type").filter(|value| !value.is_null()) else {
        return Ok(SightingType::Sighting);
    };
    lenient_i64(value)
        .and_then(SightingType::from_i64)
        .ok_or_else(|| {
            bad_add(format!(
                "type {value} is invalid: use 0 (sighting), 1 (false positive) or 2 (expiration)."
            ))
        })
}

/// When the sighting happened: `date` + `time` (UTC), else `timestamp` (epoch), else now.
fn sighting_time(fields: &Map<String, Value>, now: i64) -> ApiResult<i64> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|text| !text.is_empty())
    };
    if let (Some(date), Some(time)) = (text("date"), text("time")) {
        let day = time::Date::parse(
            date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| bad_add(format!("date {date:?} is not a YYYY-MM-DD date.")))?;
        let moment = time::Time::parse(
            time,
            time::macros::format_description!("[hour]:[minute]:[second]"),
        )
        .or_else(|_| time::Time::parse(time, time::macros::format_description!("[hour]:[minute]")))
        .map_err(|_| bad_add(format!("time {time:?} is not an HH:MM:SS time.")))?;
        return Ok(day.with_time(moment).assume_utc().unix_timestamp());
    }
    match fields.get("timestamp").filter(|value| !value.is_null()) {
        None => Ok(now),
        Some(value) => lenient_i64(value)
            .filter(|epoch| *epoch >= 0)
            .ok_or_else(|| bad_add(format!("timestamp {value} is not a Unix time in seconds."))),
    }
}

fn sighting_source(fields: &Map<String, Value>) -> ApiResult<String> {
    let source = match fields.get("source") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.trim().to_string(),
        Some(Value::Number(number)) => number.to_string(),
        Some(other) => return Err(bad_add(format!("source {other} is not a text."))),
    };
    if source.chars().count() > SOURCE_MAX_CHARS {
        return Err(bad_add(format!(
            "source is longer than {SOURCE_MAX_CHARS} characters."
        )));
    }
    Ok(source)
}

/// The attributes named by the path argument or the body's `uuid` / `id` (MISP also takes
/// `id1|id2|…`), or None when none is named.
fn named_attributes(call: &Call, fields: &Map<String, Value>) -> ApiResult<Option<Vec<Key>>> {
    let named = call
        .path
        .arg(0)
        .map(str::to_string)
        .or_else(|| {
            fields
                .get("uuid")
                .and_then(|value| texts(value).into_iter().next())
        })
        .or_else(|| {
            fields
                .get("id")
                .and_then(|value| texts(value).into_iter().next())
        })
        .filter(|text| !text.trim().is_empty());
    let Some(named) = named else {
        return Ok(None);
    };
    if named.eq_ignore_ascii_case("stix") {
        return Err(bad_add(
            "STIX sighting documents are not supported; send id, uuid or value.",
        ));
    }
    let keys: Vec<Key> = if named.contains('|') {
        named
            .split('|')
            .filter(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(Key::parse)
            .collect()
    } else {
        Key::parse(named.trim()).into_iter().collect()
    };
    if keys.is_empty() {
        return Err(ApiError::NotFound(add_refused(format!(
            "attribute {named:?} is neither an id nor a uuid."
        ))));
    }
    Ok(Some(keys))
}

/// `POST /sightings/add[/{attribute id|uuid}]`: sights the named attribute(s), or every
/// visible attribute whose value1 or value2 is one of `value` / `values`. Answers the last
/// sighting stored, as MISP does.
async fn add(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Sighting add",
            &[],
            &[
                "id",
                "uuid",
                "value",
                "values",
                "type",
                "source",
                "timestamp",
                "date",
                "time",
            ],
        ));
    }
    let fields = body_fields(call, "Sighting")?;
    let kind = sighting_type(&fields)?;
    let date_sighting = sighting_time(&fields, call.now)?;
    let source = sighting_source(&fields)?;
    if fields
        .get("filters")
        .is_some_and(|filters| !filters.is_null() && filters != &json!({}) && filters != &json!([]))
    {
        return Err(bad_add(
            "filters are not supported: name the attribute (id or uuid) or give value/values.",
        ));
    }
    let viewer = call.viewer().await?;
    let targets: Vec<SightableAttribute> = match named_attributes(call, &fields)? {
        Some(keys) => {
            let found = call
                .store()
                .sightable_attributes_by_key(&keys, &viewer)
                .await?;
            if found.is_empty() {
                let named: Vec<String> = keys
                    .iter()
                    .map(|key| match key {
                        Key::Id(id) => id.to_string(),
                        Key::Uuid(uuid) => uuid.clone(),
                    })
                    .collect();
                return Err(ApiError::NotFound(add_refused(format!(
                    "no attribute {} exists that you may see.",
                    named.join("|")
                ))));
            }
            found
        }
        None => {
            let values: Vec<String> = fields
                .get("value")
                .or_else(|| fields.get("values"))
                .map(texts)
                .unwrap_or_default()
                .into_iter()
                .filter(|value| !value.is_empty())
                .collect();
            if values.is_empty() {
                return Err(bad_add(
                    "name the attribute (id or uuid) or give the value (value or values).",
                ));
            }
            let found = call
                .store()
                .sightable_attributes_by_value(&values, &viewer)
                .await?;
            if found.is_empty() {
                return Err(ApiError::NotFound(add_refused(format!(
                    "no attribute you may see has the value {}.",
                    values.join(", ")
                ))));
            }
            found
        }
    };
    let org_id = call.principal.user.org_id;
    let sightings: Vec<Sighting> = targets
        .iter()
        .map(|target| Sighting {
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            attribute_id: target.attribute_id,
            event_id: target.event_id,
            org_id,
            date_sighting,
            source: source.clone(),
            sighting_type: kind,
        })
        .collect();
    let stored = call.store().add_sightings(&sightings).await?;
    touch_sighted_events(call, &stored).await?;
    let last = stored
        .last()
        .ok_or_else(|| ApiError::Internal("no sighting was stored".into()))?;
    Ok(json_response(json!({ "Sighting": render_sighting(last) })))
}

// ---------------------------------------------------------------------------------------
// index, listSightings, view
// ---------------------------------------------------------------------------------------

/// `/sightings/index[/{event id|uuid}]`: the visible sightings of one event, or of every
/// event, flat as events carry them.
async fn index(call: &Call) -> ApiResult<Response> {
    let mut filter = SightingFilter {
        // MISP's index lists every sighting of the event, deleted attributes included.
        include_deleted_attributes: true,
        ..SightingFilter::default()
    };
    match call.path.arg(0).map(Key::parse) {
        None => {}
        Some(Some(Key::Id(id))) => filter.event_ids.push(id),
        Some(Some(Key::Uuid(uuid))) => filter.event_uuids.push(uuid),
        // MISP answers an empty list for events it cannot find.
        Some(None) => return Ok(json_response(json!([]))),
    }
    let viewer = call.viewer().await?;
    let mut found = call.store().list_sightings(&filter, &viewer).await?;
    found.sort_by_key(|details| (details.sighting.event_id, details.sighting.id));
    Ok(json_response(Value::Array(
        found.iter().map(render_sighting_with_reporter).collect(),
    )))
}

/// An organisation given by id or uuid; an unknown one matches nothing.
async fn org_id_of(call: &Call, text: &str) -> ApiResult<i64> {
    match Key::parse(text.trim()) {
        Some(Key::Id(id)) => Ok(id),
        Some(key @ Key::Uuid(_)) => match call.store().org(&key).await {
            Ok(org) => Ok(org.id),
            Err(StoreError::NotFound) => Ok(-1),
            Err(other) => Err(other.into()),
        },
        None => Err(ApiError::BadRequest(format!(
            "Invalid org_id {text:?}: give an organisation id or uuid."
        ))),
    }
}

/// `POST /sightings/listSightings` (`{id, context, org_id}`, or the same as path arguments):
/// the sightings of one attribute or event, newest first.
async fn list_sightings(call: &Call) -> ApiResult<Response> {
    let fields = body_fields(call, "Sighting")?;
    let parameter = |name: &str, index: usize| -> Option<String> {
        fields
            .get(name)
            .filter(|value| !value.is_null())
            .and_then(|value| texts(value).into_iter().next())
            .or_else(|| call.path.arg(index).map(str::to_string))
    };
    let invalid_object = || ApiError::MethodNotAllowed("Invalid object.".into());
    let context = parameter("context", 1).unwrap_or_else(|| "attribute".into());
    let id = parameter("id", 0).ok_or_else(invalid_object)?;
    let key = Key::parse(id.trim()).ok_or_else(invalid_object)?;
    let viewer = call.viewer().await?;
    let mut filter = SightingFilter {
        newest_first: true,
        ..SightingFilter::default()
    };
    match context.as_str() {
        "attribute" => {
            let found = call
                .store()
                .sightable_attributes_by_key(std::slice::from_ref(&key), &viewer)
                .await?;
            let attribute = found.first().ok_or_else(invalid_object)?;
            filter.attribute_ids.push(attribute.attribute_id);
        }
        "event" => {
            let event = call
                .visible_event_meta_by_key(&key)
                .await
                .map_err(|_| invalid_object())?;
            filter.event_ids.push(event.id);
            filter.include_deleted_attributes = true;
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "Invalid context '{other}': use attribute or event."
            )));
        }
    }
    if let Some(org) = parameter("org_id", 2).filter(|org| !org.is_empty() && org != "0") {
        filter.org_ids.push(org_id_of(call, &org).await?);
    }
    let found = call.store().list_sightings(&filter, &viewer).await?;
    Ok(json_response(Value::Array(
        found.iter().map(render_listed_sighting).collect(),
    )))
}

/// `GET /sightings/view/{id|uuid}`: one sighting the caller may see.
async fn view(call: &Call) -> ApiResult<Response> {
    let invalid = || ApiError::NotFound("Invalid sighting.".into());
    let key = call.path.arg(0).and_then(Key::parse).ok_or_else(invalid)?;
    let sighting = match call.store().sighting(&key).await {
        Ok(sighting) => sighting,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(other) => return Err(other.into()),
    };
    let filter = SightingFilter {
        ids: vec![sighting.id],
        include_deleted_attributes: true,
        ..SightingFilter::default()
    };
    let viewer = call.viewer().await?;
    let found = call.store().list_sightings(&filter, &viewer).await?;
    let details = found.first().ok_or_else(invalid)?;
    Ok(json_response(render_listed_sighting(details)))
}

// ---------------------------------------------------------------------------------------
// restSearch
// ---------------------------------------------------------------------------------------

/// The filters a sightings restSearch takes, in the order MISP maps positional path
/// arguments onto them (`/sightings/restSearch/event` sets `context`).
const SEARCH_PARAMETERS: &[&str] = &[
    "context",
    "returnFormat",
    "id",
    "uuid",
    "type",
    "from",
    "to",
    "last",
    "org_id",
    "source",
    "includeAttribute",
    "includeEvent",
    "includeUuid",
];

/// The restSearch parameters: known keys of the body, overridden by positional path
/// arguments and named parameters (MISP's `_harvestParameters`).
fn search_parameters(call: &Call) -> ApiResult<Map<String, Value>> {
    let body = body_fields(call, "Sighting")?;
    let mut parameters = Map::new();
    for name in SEARCH_PARAMETERS {
        if let Some(value) = body.get(*name).filter(|value| !value.is_null()) {
            parameters.insert((*name).to_string(), value.clone());
        }
    }
    for (index, name) in SEARCH_PARAMETERS.iter().enumerate() {
        if let Some(arg) = call.path.arg(index)
            && !matches!(
                arg.to_ascii_lowercase().as_str(),
                "" | "null" | "0" | "false"
            )
        {
            parameters.insert((*name).to_string(), Value::String(arg.to_string()));
        }
        if let Some(named) = call.path.named(name) {
            parameters.insert((*name).to_string(), Value::String(named.to_string()));
        }
    }
    Ok(parameters)
}

fn parameter_flag(parameters: &Map<String, Value>, name: &str) -> bool {
    parameters.get(name).and_then(lenient_bool).unwrap_or(false)
}

fn bad_filter(error: kizuna_formats::misp::filters::FilterError) -> ApiError {
    ApiError::BadRequest(error.to_string())
}

/// `date_sighting` bounds: `from` / `to` when given, `last` as a further lower bound, and
/// MISP's 30 days when none of them is.
fn time_bounds(parameters: &Map<String, Value>, now: i64) -> ApiResult<(Option<i64>, Option<i64>)> {
    let from = parameters.get("from");
    let to = parameters.get("to");
    let last = parameters.get("last");
    let mut lower = None;
    let mut upper = None;
    match (from, to) {
        (Some(from), Some(to)) => {
            let range = Value::Array(vec![from.clone(), to.clone()]);
            (lower, upper) = resolve_time("from", &range, now)
                .map_err(bad_filter)?
                .bounds();
        }
        (Some(from), None) => {
            lower = Some(resolve_time_delta("from", from, now).map_err(bad_filter)?)
                .filter(|from| *from != 0);
        }
        (None, Some(to)) => upper = Some(resolve_time_delta("to", to, now).map_err(bad_filter)?),
        (None, None) => {}
    }
    let since = match last {
        Some(last) => Some(resolve_time("last", last, now).map_err(bad_filter)?),
        None if from.is_none() && to.is_none() => Some(TimeBound::Since(
            resolve_time_delta("last", &json!(DEFAULT_LOOKBACK), now).map_err(bad_filter)?,
        )),
        None => None,
    };
    if let Some(since) = since {
        let (since_lower, since_upper) = since.bounds();
        lower = lower.max(since_lower);
        upper = match (upper, since_upper) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok((lower, upper))
}

/// The numeric ids of `id`, refusing anything else as MISP does.
fn search_ids(value: &Value) -> ApiResult<Vec<i64>> {
    texts(value)
        .into_iter()
        .map(|text| {
            let trimmed = text.trim();
            if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
                trimmed
                    .parse()
                    .map_err(|_| ApiError::BadRequest(format!("Invalid ID `{text}` provided.")))
            } else {
                Err(ApiError::BadRequest(format!(
                    "Invalid ID `{text}` provided."
                )))
            }
        })
        .collect()
}

async fn search_filter(call: &Call, parameters: &Map<String, Value>) -> ApiResult<SightingFilter> {
    let mut filter = SightingFilter::default();
    let context = parameters
        .get("context")
        .and_then(|value| texts(value).into_iter().next())
        .filter(|context| !context.is_empty());
    if let Some(context) = &context {
        if context != "event" && context != "attribute" {
            return Err(ApiError::BadRequest(format!(
                "Invalid context {context}: use event or attribute."
            )));
        }
        if !parameters.contains_key("id") && !parameters.contains_key("uuid") {
            return Err(ApiError::BadRequest(
                "An ID or UUID must be provided if the context is set.".into(),
            ));
        }
    }
    let (date_from, date_to) = time_bounds(parameters, call.now)?;
    filter.date_from = date_from;
    filter.date_to = date_to;
    if let Some(kinds) = parameters.get("type") {
        for text in texts(kinds) {
            let kind = text
                .trim()
                .parse()
                .ok()
                .and_then(SightingType::from_i64)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "Invalid filter type: {text:?} is not 0 (sighting), 1 (false positive) or 2 (expiration)."
                    ))
                })?;
            filter.types.push(kind);
        }
    }
    if let Some(orgs) = parameters.get("org_id") {
        for text in texts(orgs) {
            match text.strip_prefix('!') {
                Some(excluded) => filter
                    .excluded_org_ids
                    .push(org_id_of(call, excluded).await?),
                None => filter.org_ids.push(org_id_of(call, &text).await?),
            }
        }
    }
    if let Some(sources) = parameters.get("source") {
        filter.sources = texts(sources);
    }
    if let Some(ids) = parameters.get("id").filter(|ids| !texts(ids).is_empty()) {
        let ids = search_ids(ids)?;
        match context.as_deref() {
            Some("attribute") => filter.attribute_ids = ids,
            Some("event") => filter.event_ids = ids,
            _ => {}
        }
    }
    if let Some(uuids) = parameters.get("uuid") {
        let uuids: Vec<String> = texts(uuids)
            .into_iter()
            .map(|uuid| uuid.trim().to_ascii_lowercase())
            .filter(|uuid| !uuid.is_empty())
            .collect();
        match context.as_deref() {
            Some("attribute") if !uuids.is_empty() => filter.attribute_uuids = uuids,
            Some("event") if !uuids.is_empty() => filter.event_uuids = uuids,
            _ => {}
        }
    }
    Ok(filter)
}

/// `POST /sightings/restSearch[/{context}]`: `{"response": [{"Sighting": …}]}`, or CSV.
async fn rest_search(call: &Call) -> ApiResult<Response> {
    let parameters = search_parameters(call)?;
    if parameters.is_empty() {
        return Err(ApiError::BadRequest(if call.method == Method::GET {
            "Restsearch queries using GET and no parameters are not allowed. If you have passed parameters via a JSON body, make sure you use POST requests.".into()
        } else {
            "Either specify the search terms in the url, or POST a json with the filter parameters."
                .into()
        }));
    }
    let format = parameters
        .get("returnFormat")
        .and_then(|value| texts(value).into_iter().next())
        .or_else(|| call.path.extension.clone())
        .unwrap_or_else(|| "json".into())
        .to_ascii_lowercase();
    if !matches!(format.as_str(), "json" | "csv" | "download" | "") {
        return Err(ApiError::BadRequest(format!(
            "Invalid returnFormat {format:?}: sightings are exported as json or csv."
        )));
    }
    let filter = search_filter(call, &parameters).await?;
    let output = SightingSearchOutput {
        include_uuid: parameter_flag(&parameters, "includeUuid"),
        include_attribute: parameter_flag(&parameters, "includeAttribute"),
        include_event: parameter_flag(&parameters, "includeEvent"),
    };
    let viewer = call.viewer().await?;
    let hits = call.store().list_sightings(&filter, &viewer).await?;
    if format == "csv" {
        let mut response = render_sightings_csv(&hits, output).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=UTF-8"),
        );
        return Ok(response);
    }
    let rendered: Vec<Value> = hits
        .iter()
        .map(|details| json!({ "Sighting": render_sighting_search_hit(details, output) }))
        .collect();
    Ok(json_response(json!({ "response": rendered })))
}

// ---------------------------------------------------------------------------------------
// delete
// ---------------------------------------------------------------------------------------

/// `POST /sightings/delete/{id|uuid}`: behind the perm_sighting + perm_modify_org gate, site
/// admins delete any sighting and others their organisation's (MISP's canDeleteSighting);
/// anyone else's is answered as missing, as MISP does.
async fn delete(call: &Call) -> ApiResult<Response> {
    if !matches!(call.method, Method::POST | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(
            "This action can only be accessed via a post request.".into(),
        ));
    }
    let invalid = || ApiError::NotFound("Invalid sighting.".into());
    let key = call.path.arg(0).and_then(Key::parse).ok_or_else(invalid)?;
    let sighting = match call.store().sighting(&key).await {
        Ok(sighting) => sighting,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(other) => return Err(other.into()),
    };
    if !super::acl::may_delete_sighting(call, sighting.org_id) {
        return Err(invalid());
    }
    match call.store().delete_sighting(sighting.id).await {
        Ok(()) => Ok(call.success("Sighting successfully deleted.", Some(sighting.id))),
        Err(StoreError::NotFound) => Err(invalid()),
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------------------
// The event view
// ---------------------------------------------------------------------------------------

/// Adds to a rendered `{"Event": …}` the sightings the caller may see, under each
/// attribute's `Sighting` key as MISP's event view carries them; one query for the event.
pub(super) async fn attach_to_event(
    call: &Call,
    event: &Event,
    rendered: &mut Value,
) -> ApiResult<()> {
    let filter = SightingFilter {
        event_ids: vec![event.id],
        // Only attributes present in the rendered event receive theirs.
        include_deleted_attributes: true,
        ..SightingFilter::default()
    };
    let viewer = call.viewer().await?;
    let found: Vec<SightingDetails> = call.store().list_sightings(&filter, &viewer).await?;
    if found.is_empty() {
        return Ok(());
    }
    let mut by_attribute: HashMap<i64, Vec<Value>> = HashMap::new();
    for details in &found {
        by_attribute
            .entry(details.sighting.attribute_id)
            .or_default()
            .push(render_sighting_with_reporter(details));
    }
    if let Some(inner) = rendered.get_mut("Event") {
        attach_sightings_to_event(inner, by_attribute);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Sync: what a peer pushing sightings calls (misp-reference §3.6)
// ---------------------------------------------------------------------------------------

/// New sightings move their events' `sighting_timestamp`, which is how sync peers notice
/// them (MISP's publishSightings; Kizuna publishes sightings as they are recorded).
async fn touch_sighted_events(call: &Call, stored: &[Sighting]) -> ApiResult<()> {
    let mut event_ids: Vec<i64> = stored.iter().map(|sighting| sighting.event_id).collect();
    event_ids.sort_unstable();
    event_ids.dedup();
    call.store()
        .touch_sighting_timestamps(&event_ids, call.now)
        .await?;
    Ok(())
}

fn require_post(call: &Call) -> ApiResult<()> {
    if call.method == Method::POST {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(
            "This method is only accessible via POST requests.".into(),
        ))
    }
}

/// MISP's gate table for the sync actions, which the shared table does not list:
/// `filterSightingUuidsForPush` needs perm_sync, `bulkSaveSightings` perm_sync or
/// perm_sighting; site admins pass both.
fn require_role(call: &Call, sighting_suffices: bool) -> ApiResult<()> {
    let role = &call.principal.role.permissions;
    if role.perm_site_admin || role.perm_sync || (sighting_suffices && role.perm_sighting) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "You do not have permission to use this functionality.".into(),
        ))
    }
}

/// `POST /sightings/filterSightingUuidsForPush/{event id|uuid}` with `[uuid, …]`: the
/// offered sighting uuids this event already holds here (the peer pushes the others).
async fn filter_sighting_uuids_for_push(call: &Call) -> ApiResult<Response> {
    require_post(call)?;
    require_role(call, false)?;
    let event = call
        .visible_event_meta(0)
        .await
        .map_err(|_| ApiError::NotFound("Event not found".into()))?;
    let offered: Vec<String> = match &call.body {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str()
                    .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
                    .map(|uuid| uuid.to_string())
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("{index}: a sighting uuid is required."))
                    })
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "The request body must be a list of sighting uuids.".into(),
            ));
        }
    };
    let held = call
        .store()
        .sighting_uuids_of_event(event.id, &offered)
        .await?;
    Ok(json_response(Value::Array(
        held.into_iter().map(Value::String).collect(),
    )))
}

/// One sighting as a peer sends it to `bulkSaveSightings`.
struct IncomingSighting {
    uuid: String,
    attribute_uuid: String,
    date_sighting: i64,
    kind: SightingType,
    source: String,
    /// The reporting organisation as sent: `Some(None)` = anonymous (`org_id` 0).
    reporter: Option<Option<kizuna_formats::misp::input::OrgInput>>,
}

fn incoming_sighting(index: usize, item: &Value) -> ApiResult<IncomingSighting> {
    let item = item.get("Sighting").unwrap_or(item);
    let bad =
        |field: &str, problem: &str| ApiError::BadRequest(format!("{index}.{field}: {problem}"));
    let uuid_of = |field: &str| {
        item.get(field)
            .and_then(Value::as_str)
            .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
            .map(|uuid| uuid.to_string())
            .ok_or_else(|| bad(field, "a valid UUID is required."))
    };
    let uuid = uuid_of("uuid")?;
    let attribute_uuid = uuid_of("attribute_uuid")?;
    let date_sighting = item
        .get("date_sighting")
        .and_then(lenient_i64)
        .filter(|epoch| *epoch >= 0)
        .ok_or_else(|| bad("date_sighting", "a Unix time in seconds is required."))?;
    let kind = match item.get("type").filter(|value| !value.is_null()) {
        None => SightingType::Sighting,
        Some(value) => lenient_i64(value)
            .and_then(SightingType::from_i64)
            .ok_or_else(|| {
                bad(
                    "type",
                    "use 0 (sighting), 1 (false positive) or 2 (expiration).",
                )
            })?,
    };
    let source = match item.get("source") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.trim().to_string(),
        Some(_) => return Err(bad("source", "must be a text.")),
    };
    if source.chars().count() > SOURCE_MAX_CHARS {
        return Err(bad(
            "source",
            &format!("is longer than {SOURCE_MAX_CHARS} characters."),
        ));
    }
    let reporter = match item.get("org_id").filter(|value| !value.is_null()) {
        None => None,
        Some(org_id) if lenient_i64(org_id) == Some(0) => Some(None),
        Some(_) => {
            let organisation = item.get("Organisation").filter(|value| value.is_object());
            match organisation {
                None => Some(None),
                Some(organisation) => Some(Some(kizuna_formats::misp::input::OrgInput {
                    id: None,
                    uuid: organisation
                        .get("uuid")
                        .and_then(Value::as_str)
                        .and_then(|text| uuid::Uuid::parse_str(text.trim()).ok())
                        .map(|uuid| uuid.to_string()),
                    name: organisation
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })),
            }
        }
    };
    Ok(IncomingSighting {
        uuid,
        attribute_uuid,
        date_sighting,
        kind,
        source,
        reporter,
    })
}

/// The organisation a sighting is stored under: the caller's, or for sync users the
/// reporting organisation the peer names (captured by uuid, then name, created when
/// unknown), or 0 when the peer sent it anonymised.
async fn reporting_org(call: &Call, sighting: &IncomingSighting) -> ApiResult<i64> {
    let own = call.principal.user.org_id;
    if !call.principal.role.permissions.perm_sync {
        return Ok(own);
    }
    match &sighting.reporter {
        None => Ok(own),
        Some(None) => Ok(0),
        Some(Some(organisation)) => Ok(crate::import::creator_org(
            call.store(),
            Some(organisation),
            call.principal.user.id,
            call.now,
        )
        .await?
        .unwrap_or(0)),
    }
}

/// `POST /sightings/bulkSaveSightings/{event id|uuid}` with a list of sightings
/// (`{uuid, attribute_uuid, date_sighting, type, source, org_id, Organisation}`, or the same
/// under `Sighting`): stores those whose uuid is new here and whose attribute the caller may
/// see, and moves the sighted events' `sighting_timestamp` so they travel on. Stored again,
/// the same list adds nothing.
async fn bulk_save_sightings(call: &Call) -> ApiResult<Response> {
    require_post(call)?;
    require_role(call, true)?;
    // MISP answers a missing or invisible event here with 405.
    call.visible_event_meta(0).await.map_err(|_| {
        ApiError::MethodNotAllowed("Event not found or not accessible by this user.".into())
    })?;
    let body = call.body.clone().unwrap_or(Value::Array(Vec::new()));
    let items = match body.get("Sighting").unwrap_or(&body) {
        Value::Array(items) => items.clone(),
        item @ Value::Object(_) => vec![item.clone()],
        _ => {
            return Err(ApiError::BadRequest(
                "The request body must be a list of sightings.".into(),
            ));
        }
    };
    let incoming: Vec<IncomingSighting> = items
        .iter()
        .enumerate()
        .map(|(index, item)| incoming_sighting(index, item))
        .collect::<ApiResult<_>>()?;
    let uuids: Vec<String> = incoming
        .iter()
        .map(|sighting| sighting.uuid.clone())
        .collect();
    let mut known = call.store().known_sighting_uuids(&uuids).await?;
    let mut attribute_uuids: Vec<String> = incoming
        .iter()
        .map(|sighting| sighting.attribute_uuid.clone())
        .collect();
    attribute_uuids.sort_unstable();
    attribute_uuids.dedup();
    let viewer = call.viewer().await?;
    let attributes = call
        .store()
        .attributes_for_sightings(&attribute_uuids, &viewer)
        .await?;
    let mut to_save = Vec::new();
    for sighting in &incoming {
        let Some(target) = attributes.get(&sighting.attribute_uuid) else {
            continue;
        };
        if !known.insert(sighting.uuid.clone()) {
            continue;
        }
        to_save.push(Sighting {
            id: 0,
            uuid: sighting.uuid.clone(),
            attribute_id: target.attribute_id,
            event_id: target.event_id,
            org_id: reporting_org(call, sighting).await?,
            date_sighting: sighting.date_sighting,
            source: sighting.source.clone(),
            sighting_type: sighting.kind,
        });
    }
    if to_save.is_empty() {
        return Ok(json_response(
            json!({"saved": false, "success": "No sightings added."}),
        ));
    }
    let stored = call.store().add_sightings(&to_save).await?;
    touch_sighted_events(call, &stored).await?;
    Ok(json_response(json!({
        "saved": true,
        "success": format!("{} sightings added.", stored.len()),
    })))
}
