//! GET objects (an envelope page), GET one object and DELETE one object.
//!
//! One object is found through what its id's uuid names here: an attribute (indicator,
//! observed-data, x-misp-attribute, vulnerability, campaign…), a MISP object, an event
//! (report or grouping) or, for an identity, the events its organisation created. SCOs
//! (UUIDv5 ids), relationships, marking definitions and galaxy SDOs name nothing stored and
//! are reached through the objects listing only.

use super::collections::{Access, readable};
use super::paging::ListParams;
use super::view::{Page, PageItem, View, page};
use super::{TaxiiCall, TaxiiError, taxii_response, timestamp_text};
use crate::audit::DescribedWrite;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use kizuna_model::Event;
use kizuna_store::{Key, StoreError, StoredKind};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

pub async fn list(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let access = readable(call, id).await?;
    let view = View::of(&access.collection, call.now)?;
    let params = ListParams::parse(call, &access.collection.id, "objects")?;
    let page = page(call, &view, &params, None).await?;
    Ok(envelope_response(call, page))
}

pub async fn get(call: &TaxiiCall, id: &str, object_id: &str) -> Result<Response, TaxiiError> {
    let (_, page) = one_object(call, id, object_id, "object").await?;
    Ok(envelope_response(call, page))
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
fn envelope_response(call: &TaxiiCall, page: Page) -> Response {
    let mut head = String::new();
    if page.items.is_empty() {
        head.push_str("{}");
    } else {
        head.push_str("{\"more\":");
        head.push_str(if page.more { "true" } else { "false" });
        if let Some(next) = &page.next {
            head.push_str(",\"next\":");
            head.push_str(&serde_json::Value::String(next.clone()).to_string());
        }
        head.push_str(",\"objects\":[");
    }
    let mut response = taxii_response(call.version, StatusCode::OK, String::new());
    add_date_headers(&mut response, &page);
    *response.body_mut() = Body::new(EnvelopeBody::new(head, page.items));
    response
}

/// Bytes of a page handed to the connection at a time.
const ENVELOPE_CHUNK: usize = 64 * 1024;

/// A page's body, written as the connection takes it, in pieces of about 64 KiB: one buffer
/// the size of the page (0.5–1 MB for 1,000 objects) would be fresh memory for every page,
/// paid in page faults, and would hold a second copy of the page's objects. Its length is
/// known, so the answer still has a Content-Length.
struct EnvelopeBody {
    head: Option<String>,
    items: Vec<PageItem>,
    next_item: usize,
    /// `]}` after the objects, unless the page is `{}`.
    tail_due: bool,
    remaining: u64,
}

impl EnvelopeBody {
    fn new(head: String, items: Vec<PageItem>) -> Self {
        let objects: usize = items.iter().map(|item| item.object().json().len()).sum();
        let separators = items.len().saturating_sub(1);
        let tail = if items.is_empty() { 0 } else { 2 };
        Self {
            remaining: (head.len() + objects + separators + tail) as u64,
            head: Some(head),
            tail_due: !items.is_empty(),
            items,
            next_item: 0,
        }
    }

    /// The next piece: whole objects up to the chunk's size (one larger object alone), so
    /// that the buffer never grows.
    fn next_chunk(&mut self) -> Option<Bytes> {
        let mut chunk = Vec::with_capacity(ENVELOPE_CHUNK.min(self.remaining as usize));
        if let Some(head) = self.head.take() {
            chunk.extend_from_slice(head.as_bytes());
        }
        loop {
            let Some(item) = self.items.get(self.next_item) else {
                if self.tail_due && (chunk.is_empty() || chunk.len() + 2 <= chunk.capacity()) {
                    self.tail_due = false;
                    chunk.extend_from_slice(b"]}");
                }
                break;
            };
            let json = item.object().json().as_bytes();
            let separator = usize::from(self.next_item > 0);
            if !chunk.is_empty() && chunk.len() + separator + json.len() > chunk.capacity() {
                break;
            }
            chunk.reserve_exact(separator + json.len());
            if separator == 1 {
                chunk.push(b',');
            }
            chunk.extend_from_slice(json);
            self.next_item += 1;
        }
        if chunk.is_empty() {
            return None;
        }
        self.remaining -= chunk.len() as u64;
        Some(Bytes::from(chunk))
    }
}

impl HttpBody for EnvelopeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.next_chunk().map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use kizuna_formats::stix::export::StixObjectText;
    use std::sync::Arc;

    fn items(count: usize) -> Vec<PageItem> {
        let objects: Vec<StixObjectText> = (0..count)
            .map(|n| {
                StixObjectText::new(
                    &format!("indicator--{n}"),
                    "indicator",
                    "2026-01-01T00:00:00.000Z",
                    &format!(
                        "{{\"id\":\"indicator--{n}\",\"pad\":\"{}\"}}",
                        "x".repeat(n % 300)
                    ),
                    false,
                )
            })
            .collect();
        let objects = Arc::new(objects);
        (0..count)
            .map(|index| PageItem {
                objects: Arc::clone(&objects),
                index,
                date_added: 0,
            })
            .collect()
    }

    async fn written(head: &str, items: Vec<PageItem>) -> (u64, Vec<u8>) {
        let body = EnvelopeBody::new(head.to_string(), items);
        let announced = body.size_hint().exact().expect("an exact length");
        let bytes = body.collect().await.expect("infallible").to_bytes();
        (announced, bytes.to_vec())
    }

    #[tokio::test]
    async fn a_page_body_spans_chunks_and_announces_its_length() {
        let page = items(1500);
        let expected = format!(
            "{{\"more\":false,\"objects\":[{}]}}",
            page.iter()
                .map(|item| item.object().json())
                .collect::<Vec<_>>()
                .join(",")
        );
        assert!(expected.len() > 3 * ENVELOPE_CHUNK);
        let (announced, bytes) = written("{\"more\":false,\"objects\":[", page).await;
        assert_eq!(announced, expected.len() as u64);
        assert_eq!(String::from_utf8(bytes).unwrap(), expected);
        let parsed: serde_json::Value = serde_json::from_str(&expected).unwrap();
        assert_eq!(parsed["objects"].as_array().unwrap().len(), 1500);
    }

    #[tokio::test]
    async fn an_empty_page_is_an_empty_object_and_one_object_has_no_separator() {
        assert_eq!(written("{}", Vec::new()).await, (2, b"{}".to_vec()));
        let (announced, bytes) = written("{\"more\":false,\"objects\":[", items(1)).await;
        let expected = "{\"more\":false,\"objects\":[{\"id\":\"indicator--0\",\"pad\":\"\"}]}";
        assert_eq!(
            (announced, String::from_utf8(bytes).unwrap()),
            (expected.len() as u64, expected.to_string())
        );
    }
}
