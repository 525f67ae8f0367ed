//! MISP `EventReportsController`: event reports (named markdown write-ups of an event) —
//! add, view, edit, delete (soft or hard), restore, index — and the `EventReport` list of
//! events: shown in event views under the caller's visibility, captured from `/events/add`
//! and `/events/edit` (peers push reports inside events; newer versions win).
//!
//! Visibility is MISP's: the event must be visible, and the report is seen by the event's
//! owner organisation, at levels 1, 2, 3 and 5, or at level 4 by members of its group.
//! Changing a report needs the right to modify its event, and unpublishes the event.

use super::sharing_groups::UsableGroups;
use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::event_report::{
    EventReportInput, parse_event_report, parse_event_reports, render_event_report, report_object,
};
use kizuna_formats::misp::input::lenient_bool;
use kizuna_model::{Distribution, Event, EventReport};
use kizuna_store::{Key, StoreError};
use serde_json::{Value, json};
use uuid::Uuid;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        "view" => view(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "restore" => restore(call).await,
        "index" => index(call).await,
        _ => Err(unknown_action(call)),
    }
}

fn invalid_report() -> ApiError {
    ApiError::NotFound("Invalid report".into())
}

/// The report named by argument 0 (id or uuid) and its event, if the caller may see both.
async fn visible_report(call: &Call) -> ApiResult<(EventReport, Event)> {
    let key = call
        .path
        .arg(0)
        .and_then(Key::parse)
        .ok_or_else(invalid_report)?;
    let report = match call.store().event_report(&key).await {
        Ok(report) => report,
        Err(StoreError::NotFound) => return Err(invalid_report()),
        Err(other) => return Err(other.into()),
    };
    let event = call
        .event_of_visible_item(
            report.event_id,
            report.distribution,
            report.sharing_group_id,
            "report",
        )
        .await
        .map_err(|_| invalid_report())?;
    Ok((report, event))
}

/// `{"EventReport", "Event", "SharingGroup"?}` as MISP's report fetch contains them.
async fn report_entry(call: &Call, report: &EventReport, event: &Event) -> ApiResult<Value> {
    let org_name = |id: i64| async move {
        match call.store().org(&Key::Id(id)).await {
            Ok(org) => Ok(json!({"id": id.to_string(), "name": org.name})),
            Err(StoreError::NotFound) => Ok(json!({"id": id.to_string(), "name": ""})),
            Err(other) => Err(ApiError::from(other)),
        }
    };
    let mut entry = json!({
        "EventReport": render_event_report(report),
        "Event": {
            "id": event.id.to_string(),
            "orgc_id": event.orgc_id.to_string(),
            "org_id": event.org_id.to_string(),
            "info": event.info,
            "user_id": event.user_id.to_string(),
            "date": kizuna_formats::misp::output::format_date(event.date),
            "Orgc": org_name(event.orgc_id).await?,
            "Org": org_name(event.org_id).await?,
        },
    });
    if report.distribution == Distribution::SharingGroup
        && let Ok(group) = call
            .store()
            .sharing_group(&Key::Id(report.sharing_group_id))
            .await
    {
        entry["SharingGroup"] = json!({
            "id": group.id.to_string(),
            "name": group.name,
            "uuid": group.uuid,
        });
    }
    Ok(entry)
}

/// The report a request body describes (bare or under `EventReport`), checked field by field;
/// refusals are titled `failure`.
fn posted_report(call: &Call, failure: &str) -> ApiResult<EventReportInput> {
    let body = call.body.clone().unwrap_or(Value::Null);
    let object = report_object(&body).ok_or_else(|| {
        ApiError::save_failed(
            failure,
            &FieldErrors::single("EventReport", "No report given."),
        )
    })?;
    parse_event_report(object).map_err(|errors| ApiError::save_failed(failure, &errors))
}

/// The level and group of a new or edited report, checked against what the caller may use.
async fn checked_level(
    call: &Call,
    input: &EventReportInput,
    current: Option<(Distribution, i64)>,
    errors: &mut FieldErrors,
) -> ApiResult<(Distribution, i64)> {
    let distribution = input
        .distribution
        .or(current.map(|(level, _)| level))
        .unwrap_or(Distribution::InheritEvent);
    let mut group = input
        .sharing_group_id
        .or(current.map(|(_, group)| group))
        .unwrap_or(0);
    if distribution != Distribution::SharingGroup {
        group = 0;
    }
    UsableGroups::default()
        .check(call, distribution, group, "sharing_group_id", errors)
        .await?;
    Ok((distribution, group))
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add EventReport";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "EventReports add",
            &["name"],
            &[
                "uuid",
                "content",
                "distribution",
                "sharing_group_id",
                "timestamp",
            ],
        ));
    }
    if call.path.arg(0).is_none() {
        return Err(ApiError::MethodNotAllowed("No event ID set.".into()));
    }
    let event = call.visible_event_meta(0).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let input = posted_report(call, NAME)?;
    let mut errors = FieldErrors::new();
    let name = input.name.clone().unwrap_or_default();
    if name.trim().is_empty() {
        errors.add("name", "This field cannot be left empty.");
    }
    let (distribution, sharing_group_id) = checked_level(call, &input, None, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed(NAME, &errors));
    }
    let report = EventReport {
        id: 0,
        uuid: input
            .uuid
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string()),
        event_id: event.id,
        name,
        content: input.content.clone().unwrap_or_default(),
        distribution,
        sharing_group_id,
        timestamp: input.timestamp.unwrap_or(call.now),
        deleted: input.deleted.unwrap_or(false),
    };
    let stored = match call.store().create_event_report(&report, call.now).await {
        Ok(stored) => stored,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::save_failed(
                NAME,
                &FieldErrors::single("uuid", "The UUID provided is not unique"),
            ));
        }
        Err(other) => return Err(other.into()),
    };
    Ok(json_response(report_entry(call, &stored, &event).await?))
}

async fn view(call: &Call) -> ApiResult<Response> {
    let (report, event) = visible_report(call).await?;
    Ok(json_response(report_entry(call, &report, &event).await?))
}

async fn edit(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not edit EventReport";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "EventReports edit",
            &[],
            &["name", "content", "distribution", "sharing_group_id"],
        ));
    }
    let (current, event) = visible_report(call).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let input = posted_report(call, NAME)?;
    let mut errors = FieldErrors::new();
    if input
        .name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        errors.add("name", "This field cannot be left empty.");
    }
    let (distribution, sharing_group_id) = checked_level(
        call,
        &input,
        Some((current.distribution, current.sharing_group_id)),
        &mut errors,
    )
    .await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed(NAME, &errors));
    }
    // MISP keeps the uuid and event, and stamps the edit with the time of saving.
    let edited = EventReport {
        name: input.name.clone().unwrap_or_else(|| current.name.clone()),
        content: input
            .content
            .clone()
            .unwrap_or_else(|| current.content.clone()),
        distribution,
        sharing_group_id,
        timestamp: call.now,
        deleted: input.deleted.unwrap_or(current.deleted),
        ..current
    };
    let stored = call.store().update_event_report(&edited, call.now).await?;
    Ok(json_response(report_entry(call, &stored, &event).await?))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    if !is_write(call, true)? {
        return Err(ApiError::MethodNotAllowed(
            "This function can only be reached via POST.".into(),
        ));
    }
    let (report, event) = visible_report(call).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let hard = call
        .path
        .arg(1)
        .is_some_and(|flag| matches!(flag, "1" | "true" | "hard"))
        || call
            .body
            .as_ref()
            .and_then(|body| body.get("hard"))
            .and_then(lenient_bool)
            .unwrap_or(false);
    if hard {
        call.store().delete_event_report(&report, call.now).await?;
    } else {
        let soft = EventReport {
            deleted: true,
            ..report.clone()
        };
        call.store().update_event_report(&soft, call.now).await?;
    }
    let message = format!(
        "Event Report {} {} deleted",
        report.id,
        if hard { "hard" } else { "soft" }
    );
    Ok(call.success(&message, Some(report.id)))
}

async fn restore(call: &Call) -> ApiResult<Response> {
    if !is_write(call, true)? {
        return Err(ApiError::MethodNotAllowed(
            "This function can only be reached via POST.".into(),
        ));
    }
    let (report, event) = visible_report(call).await?;
    call.require(super::acl::may_modify_event(call, &event))?;
    let restored = EventReport {
        deleted: false,
        ..report
    };
    call.store()
        .update_event_report(&restored, call.now)
        .await?;
    Ok(call.success(
        &format!("Event Report {} restored", restored.id),
        Some(restored.id),
    ))
}

/// `/eventReports/index[/event_id:<id|uuid>]`: the reports the caller may see, soft-deleted
/// ones only with `deleted:1` and where the caller may see deleted items.
async fn index(call: &Call) -> ApiResult<Response> {
    let wanted_deleted = call
        .path
        .named("deleted")
        .is_some_and(|flag| matches!(flag, "1" | "true"));
    let event_filter = call.path.named("event_id").map(str::to_string).or_else(|| {
        call.body
            .as_ref()
            .and_then(|body| body.get("event_id"))
            .map(|value| match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
    });
    let reports = match event_filter {
        Some(text) => {
            let key =
                Key::parse(&text).ok_or_else(|| ApiError::NotFound("Invalid event.".into()))?;
            let event = call.visible_event_meta_by_key(&key).await?;
            call.store()
                .event_reports_of(&[event.id], wanted_deleted)
                .await?
        }
        None => call.store().all_event_reports(wanted_deleted).await?,
    };
    let mut entries = Vec::new();
    let mut events: std::collections::HashMap<i64, Option<Event>> = Default::default();
    for report in reports {
        if let std::collections::hash_map::Entry::Vacant(slot) = events.entry(report.event_id) {
            let visible = call
                .visible_event_meta_by_key(&Key::Id(report.event_id))
                .await
                .ok();
            slot.insert(visible);
        }
        let Some(Some(event)) = events.get(&report.event_id) else {
            continue;
        };
        if report.deleted && !super::acl::sees_deleted_items(call, event) {
            continue;
        }
        if !call
            .can_see_item(event, report.distribution, report.sharing_group_id)
            .await?
        {
            continue;
        }
        entries.push(report_entry(call, &report, event).await?);
    }
    Ok(json_response(Value::Array(entries)))
}

/// Puts the reports of `event` the caller may see into an `{"Event": …}` answer, as MISP's
/// event view lists them (soft-deleted ones when `include_deleted`).
pub(super) async fn attach_to_event(
    call: &Call,
    event: &Event,
    body: &mut Value,
    include_deleted: bool,
) -> ApiResult<()> {
    let reports = call
        .store()
        .event_reports_of(&[event.id], include_deleted)
        .await?;
    let mut shown = Vec::new();
    for report in &reports {
        if call
            .can_see_item(event, report.distribution, report.sharing_group_id)
            .await?
        {
            shown.push(render_event_report(report));
        }
    }
    if let Some(inner) = body.get_mut("Event").and_then(Value::as_object_mut) {
        inner.insert("EventReport".into(), Value::Array(shown));
    }
    Ok(())
}

/// The reports an `/events/add` or `/events/edit` body carries, checked before the event is
/// saved so a bad report refuses the whole request.
pub(super) fn reports_of_event_body(body: &Value, name: &str) -> ApiResult<Vec<EventReportInput>> {
    parse_event_reports(body).map_err(|errors| ApiError::save_failed(name, &errors))
}

/// Saves the reports an event body carried (MISP captures them on add and on a pushed
/// edit).
pub(super) async fn save_event_body_reports(
    call: &Call,
    event_id: i64,
    reports: &[EventReportInput],
) -> ApiResult<()> {
    save_carried_reports(call.store(), event_id, reports, call.now).await?;
    Ok(())
}

/// Stores the reports an event's JSON carried, pushed to us or pulled: new uuids are
/// added, known ones replaced when newer. A level-4 report keeps its group when the group
/// is known here (by its uuid when a peer embedded it), else it is left out, as MISP drops
/// an element whose group it cannot capture.
pub(crate) async fn save_carried_reports(
    store: &kizuna_store::Store,
    event_id: i64,
    reports: &[EventReportInput],
    now: i64,
) -> Result<(), StoreError> {
    if reports.is_empty() {
        return Ok(());
    }
    let mut kept = Vec::new();
    for input in reports {
        let distribution = input.distribution.unwrap_or(Distribution::InheritEvent);
        let mut sharing_group_id = 0;
        if distribution == Distribution::SharingGroup {
            let by_uuid = match &input.sharing_group_uuid {
                Some(uuid) => store
                    .sharing_group(&Key::Uuid(uuid.clone()))
                    .await
                    .ok()
                    .map(|group| group.id),
                None => None,
            };
            let by_id = match input.sharing_group_id {
                Some(id) if by_uuid.is_none() && input.sharing_group_uuid.is_none() => store
                    .sharing_group(&Key::Id(id))
                    .await
                    .ok()
                    .map(|group| group.id),
                _ => None,
            };
            match by_uuid.or(by_id) {
                Some(id) => sharing_group_id = id,
                None => continue,
            }
        }
        kept.push(EventReport {
            id: 0,
            uuid: input
                .uuid
                .clone()
                .unwrap_or_else(|| Uuid::new_v4().to_string()),
            event_id,
            name: input.name.clone().unwrap_or_default(),
            content: input.content.clone().unwrap_or_default(),
            distribution,
            sharing_group_id,
            timestamp: input.timestamp.unwrap_or(now),
            deleted: input.deleted.unwrap_or(false),
        });
    }
    store.save_synced_event_reports(event_id, &kept).await?;
    Ok(())
}
