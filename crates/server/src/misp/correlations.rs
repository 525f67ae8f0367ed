//! Correlations shown in event views (misp-reference §6): `RelatedEvent` stubs always, and
//! with `includeGranularCorrelations` each attribute's `RelatedAttribute`, computed by the
//! store for what the caller may see.

use super::Call;
use crate::error::ApiResult;
use kizuna_formats::misp::output::{format_date, render_org_stub};
use kizuna_model::Event;
use kizuna_model::correlation::DEFAULT_CORRELATION_LIMIT;
use kizuna_store::Correlation;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// Fills `RelatedEvent` (and `RelatedAttribute` when asked) of a rendered `{"Event": …}`.
pub(super) async fn attach_to_event(call: &Call, event: &Event, body: &mut Value) -> ApiResult<()> {
    let viewer = call.viewer().await?;
    let correlations = call
        .store()
        .event_correlations(event, &viewer, DEFAULT_CORRELATION_LIMIT)
        .await?;
    if correlations.is_empty() {
        return Ok(());
    }
    let event_ids: Vec<i64> = correlations
        .iter()
        .map(|correlation| correlation.other_event_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut related = call.store().events_meta_by_ids(&event_ids).await?;
    // MISP lists related events newest first.
    related.sort_by(|a, b| b.date.cmp(&a.date).then(b.id.cmp(&a.id)));
    body["Event"]["RelatedEvent"] = Value::Array(related.iter().map(related_event).collect());
    if call.flag("includeGranularCorrelations") {
        let events: HashMap<i64, &Event> = related.iter().map(|event| (event.id, event)).collect();
        attach_granular(body, &correlations, &events);
    }
    Ok(())
}

/// `{"Event": {id, date, threat_level_id, info, published, uuid, analysis, timestamp,
/// distribution, org_id, orgc_id, Org, Orgc}}` as MISP's getRelatedEvents.
fn related_event(event: &Event) -> Value {
    let mut stub = json!({
        "id": event.id.to_string(),
        "date": format_date(event.date),
        "threat_level_id": event.threat_level.as_i64().to_string(),
        "info": event.info,
        "published": event.published,
        "uuid": event.uuid,
        "analysis": event.analysis.as_i64().to_string(),
        "timestamp": event.timestamp.to_string(),
        "distribution": event.distribution.as_i64().to_string(),
        "org_id": event.org_id.to_string(),
        "orgc_id": event.orgc_id.to_string(),
    });
    if let Some(org) = &event.org {
        stub["Org"] = org_brief(render_org_stub(org));
    }
    if let Some(orgc) = &event.orgc {
        stub["Orgc"] = org_brief(render_org_stub(orgc));
    }
    json!({ "Event": stub })
}

/// Only `{id, name, uuid}`, the fields MISP selects for related events.
fn org_brief(stub: Value) -> Value {
    json!({ "id": stub["id"], "name": stub["name"], "uuid": stub["uuid"] })
}

/// MISP's REST view appends each attribute's list of relations as one element of its
/// `RelatedAttribute` (a list holding a list), entries `{id (event), attribute_id, value,
/// org_id (creator org), info, date}`.
fn attach_granular(body: &mut Value, correlations: &[Correlation], events: &HashMap<i64, &Event>) {
    let mut by_attribute: HashMap<i64, Vec<Value>> = HashMap::new();
    for correlation in correlations {
        let Some(other) = events.get(&correlation.other_event_id) else {
            continue;
        };
        by_attribute
            .entry(correlation.attribute_id)
            .or_default()
            .push(json!({
                "id": other.id.to_string(),
                "attribute_id": correlation.other_attribute_id.to_string(),
                "value": correlation.value,
                "org_id": other.orgc_id.to_string(),
                "info": other.info,
                "date": format_date(other.date),
            }));
    }
    let mut attach = |attribute: &mut Value| {
        let id = attribute["id"]
            .as_str()
            .and_then(|text| text.parse::<i64>().ok());
        if let Some(relations) = id.and_then(|id| by_attribute.remove(&id)) {
            attribute["RelatedAttribute"] = json!([relations]);
        }
    };
    if let Some(attributes) = body["Event"]["Attribute"].as_array_mut() {
        attributes.iter_mut().for_each(&mut attach);
    }
    if let Some(objects) = body["Event"]["Object"].as_array_mut() {
        for object in objects {
            if let Some(attributes) = object["Attribute"].as_array_mut() {
                attributes.iter_mut().for_each(&mut attach);
            }
        }
    }
}
