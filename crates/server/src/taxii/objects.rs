//! GET objects (an envelope page), GET one object and DELETE one object.
//!
//! One object is found through what its id's uuid names here: an attribute (indicator,
//! observed-data, x-misp-attribute, vulnerability, campaign…), a MISP object, an event
//! (report or grouping) or, for an identity, the events its organisation created. SCOs
//! (UUIDv5 ids), relationships, marking definitions and galaxy SDOs name nothing stored and
//! are reached through the objects listing only.

use super::collections::{Access, readable};
use super::paging::ListParams;
use super::view::{Page, View, page};
use super::{TaxiiCall, TaxiiError, taxii_response, timestamp_text};
use crate::audit::DescribedWrite;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use kizuna_model::Event;
use kizuna_store::{Key, StoreError, StoredKind};

pub async fn list(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let access = readable(call, id).await?;
    let view = View::of(&access.collection, call.now)?;
    let params = ListParams::parse(call, &access.collection.id, "objects")?;
    let page = page(call, &view, &params, None).await?;
    Ok(envelope_response(call, &page))
}

pub async fn get(call: &TaxiiCall, id: &str, object_id: &str) -> Result<Response, TaxiiError> {
    let (_, page) = one_object(call, id, object_id, "object").await?;
    Ok(envelope_response(call, &page))
}

/// The page holding `object_id` in the collection (404 when the caller cannot see it).
pub async fn one_object(
    call: &TaxiiCall,
    id: &str,
    object_id: &str,
    endpoint: &str,
) -> Result<(Access, Page), TaxiiError> {
    let access = readable(call, id).await?;
    let view = View::of(&access.collection, call.now)?;
    let mut params = ListParams::parse(
        call,
        &access.collection.id,
        &format!("{endpoint} {object_id}"),
    )?;
    params.ids = Some(vec![object_id.to_string()]);
    let events = holding_events(call, object_id).await?;
    let page = page(call, &view, &params, Some(&events)).await?;
    if page.items.is_empty() {
        return Err(object_not_found(object_id));
    }
    Ok((access, page))
}

fn object_not_found(object_id: &str) -> TaxiiError {
    TaxiiError::not_found(format!(
        "There is no object {object_id:?} in this collection for you."
    ))
}

/// `<type>--<uuid>` split, the uuid in lower case.
pub fn split_id(object_id: &str) -> Option<(&str, String)> {
    let (object_type, uuid) = object_id.split_once("--")?;
    let uuid = uuid::Uuid::parse_str(uuid).ok()?;
    Some((object_type, uuid.hyphenated().to_string()))
}

/// Events that may hold the object, by what its uuid names.
async fn holding_events(call: &TaxiiCall, object_id: &str) -> Result<Vec<i64>, TaxiiError> {
    let Some((object_type, uuid)) = split_id(object_id) else {
        return Ok(Vec::new());
    };
    let store = &call.state.store;
    if object_type == "identity" {
        return Ok(store.events_created_by_org_uuid(&uuid, 100).await?);
    }
    let mut events: Vec<i64> = store
        .stored_uuids(&[uuid])
        .await?
        .into_iter()
        .map(|stored| stored.event_id)
        .collect();
    events.sort_unstable();
    events.dedup();
    Ok(events)
}

/// An envelope page: `{}` when empty, else `more`, `next` when there is more, `objects`;
/// with the X-TAXII-Date-Added headers.
fn envelope_response(call: &TaxiiCall, page: &Page) -> Response {
    let mut body = String::with_capacity(
        page.items
            .iter()
            .map(|item| item.object().json.len() + 2)
            .sum::<usize>()
            + 128,
    );
    if page.items.is_empty() {
        body.push_str("{}");
    } else {
        body.push_str("{\"more\":");
        body.push_str(if page.more { "true" } else { "false" });
        if let Some(next) = &page.next {
            body.push_str(",\"next\":");
            body.push_str(&serde_json::Value::String(next.clone()).to_string());
        }
        body.push_str(",\"objects\":[");
        for (index, item) in page.items.iter().enumerate() {
            if index > 0 {
                body.push(',');
            }
            body.push_str(&item.object().json);
        }
        body.push_str("]}");
    }
    let mut response = taxii_response(call.version, StatusCode::OK, body);
    add_date_headers(&mut response, page);
    response
}

pub fn add_date_headers(response: &mut Response, page: &Page) {
    if let Some((first, last)) = page.date_added_range() {
        for (name, micros) in [
            ("x-taxii-date-added-first", first),
            ("x-taxii-date-added-last", last),
        ] {
            if let Ok(value) = HeaderValue::from_str(&timestamp_text(micros)) {
                response.headers_mut().insert(name, value);
            }
        }
    }
}

/// DELETE one object: an attribute-backed object soft-deletes the attribute (as
/// `/attributes/delete`), a report or grouping deletes its event (as `/events/delete`);
/// anything else cannot be deleted (403).
pub async fn delete(call: &TaxiiCall, id: &str, object_id: &str) -> Result<Response, TaxiiError> {
    let (access, _) = one_object(call, id, object_id, "delete").await?;
    if !access.can_write {
        return Err(TaxiiError::forbidden(
            "You may read this collection but not change it.",
        ));
    }
    let not_deletable = || {
        TaxiiError::forbidden(format!(
            "{object_id} is not deletable: only objects standing for an attribute, a report or a grouping are."
        ))
    };
    let (object_type, uuid) = split_id(object_id).ok_or_else(not_deletable)?;
    let store = &call.state.store;
    let stored = store
        .stored_uuids(std::slice::from_ref(&uuid))
        .await?
        .into_iter()
        .find(|stored| match stored.kind {
            StoredKind::Event => matches!(object_type, "report" | "grouping"),
            StoredKind::Attribute => !matches!(object_type, "report" | "grouping" | "identity"),
            StoredKind::Object => false,
        })
        .ok_or_else(not_deletable)?;
    let event = store.event_meta(&Key::Id(stored.event_id)).await?;
    let permissions = &call.principal.role.permissions;
    match stored.kind {
        StoredKind::Attribute => {
            if !(permissions.perm_add && may_delete_attribute(call, &event)) {
                return Err(TaxiiError::forbidden(
                    "You may not delete attributes of this event.",
                ));
            }
            let attribute = match store.attribute(&Key::Id(stored.id), false).await {
                Ok(attribute) => attribute,
                Err(StoreError::NotFound) => return Err(object_not_found(object_id)),
                Err(other) => return Err(other.into()),
            };
            store.delete_attribute(&attribute, false, call.now).await?;
            call.audit(DescribedWrite {
                action: "soft_delete",
                model: "Attribute",
                model_id: attribute.id,
                model_title: format!("Attribute ({}): {}", attribute.id, attribute.value()),
                event_id: event.id,
                change: deleted_change(object_id),
            })
            .await;
        }
        _ => {
            if !(permissions.perm_add && may_modify_event(call, &event)) {
                return Err(TaxiiError::forbidden("You may not delete this event."));
            }
            store.delete_event(&event, true, call.now).await?;
            call.audit(DescribedWrite {
                action: "delete",
                model: "Event",
                model_id: event.id,
                model_title: format!("Event ({}): {}", event.id, event.info),
                event_id: event.id,
                change: deleted_change(object_id),
            })
            .await;
        }
    }
    let mut response = taxii_response(call.version, StatusCode::OK, String::new());
    response
        .headers_mut()
        .remove(axum::http::header::CONTENT_TYPE);
    Ok(response)
}

fn deleted_change(object_id: &str) -> String {
    serde_json::json!({"via": "TAXII 2.1 DELETE", "object": object_id}).to_string()
}

/// MISP's canModifyEvent: site admin; perm_modify_org in the creator organisation; the
/// creating user with perm_modify.
pub fn may_modify_event(call: &TaxiiCall, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    let user = &call.principal.user;
    role.perm_site_admin
        || (role.perm_modify_org && event.orgc_id == user.org_id)
        || (role.perm_modify && event.user_id == user.id)
}

/// MISP's rule for deleting an attribute: site admins; on a synced (locked) event, sync users
/// of the organisation holding it; otherwise users of the creator organisation.
fn may_delete_attribute(call: &TaxiiCall, event: &Event) -> bool {
    let role = &call.principal.role.permissions;
    let org_id = call.principal.user.org_id;
    role.perm_site_admin
        || if event.locked {
            role.perm_sync && event.org_id == org_id
        } else {
            event.orgc_id == org_id
        }
}
