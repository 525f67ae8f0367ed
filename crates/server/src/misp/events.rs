//! MISP `EventsController`: add, view, edit, delete, index, publish, unpublish and the legacy
//! tagging actions.

use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::http::HeaderValue;
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::new_event;
use kizuna_formats::misp::input::{EventInput, OrgInput, lenient_i64, parse_event};
use kizuna_formats::misp::output::{render_event, render_event_index_entry};
use kizuna_model::{AttachedTag, Event};
use kizuna_store::{EventChanges, Key, LoadOptions, StoreError};
use serde_json::{Value, json};

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        "view" => view(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "index" => index(call).await,
        "restsearch" => super::rest_search::events(call).await,
        "publish" | "alert" => publish(call, true).await,
        "unpublish" => publish(call, false).await,
        "addtag" => add_tag(call).await,
        "removetag" => remove_tag(call).await,
        "uploadstix" => super::event_uploads::upload_stix(call).await,
        "filtereventidsforpush" => super::event_sync::filter_event_ids_for_push(call).await,
        _ => Err(unknown_action(call)),
    }
}

fn body_or_error(call: &Call, name: &str) -> ApiResult<Value> {
    call.body.clone().ok_or_else(|| {
        ApiError::save_failed(
            name,
            &FieldErrors::single("Event", "No event in the request body."),
        )
    })
}

/// `{"Event": …}`, without attributes and objects when `metadata:1` was asked for.
fn event_body(event: &Event, metadata: bool) -> Value {
    let mut rendered = render_event(event);
    if metadata && let Some(object) = rendered.as_object_mut() {
        for key in ["Attribute", "Object", "ShadowAttribute", "EventReport"] {
            object.remove(key);
        }
    }
    json!({ "Event": rendered })
}

/// Resolves a client-given creator organisation: sync users may keep the original creator
/// (captured by uuid, then name, created as a non-local org when unknown); everyone else
/// creates events as their own organisation (MISP).
async fn resolve_orgc(call: &Call, orgc: Option<&OrgInput>) -> ApiResult<i64> {
    let own = call.principal.user.org_id;
    if !call.principal.role.permissions.perm_sync {
        return Ok(own);
    }
    if let Some(id) =
        crate::import::creator_org(call.store(), orgc, call.principal.user.id, call.now).await?
    {
        return Ok(id);
    }
    if let Some(id) = orgc.and_then(|orgc| orgc.id)
        && call.store().org(&Key::Id(id)).await.is_ok()
    {
        return Ok(id);
    }
    Ok(own)
}

/// `extends_uuid` may be given as a local event id; MISP stores the uuid (an unknown id
/// extends nothing).
async fn resolve_extends(call: &Call, input: &mut EventInput) -> ApiResult<()> {
    let Some(extends) = input.extends_uuid.as_deref() else {
        return Ok(());
    };
    if !extends.is_empty() && extends.bytes().all(|b| b.is_ascii_digit()) {
        let id: i64 = extends.parse().unwrap_or(0);
        input.extends_uuid = match call.store().event_meta(&Key::Id(id)).await {
            Ok(extended) => Some(extended.uuid),
            Err(StoreError::NotFound) => Some(String::new()),
            Err(other) => return Err(other.into()),
        };
    }
    Ok(())
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add Event";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Event add",
            &["info"],
            &[
                "threat_level_id",
                "analysis",
                "distribution",
                "sharing_group_id",
                "uuid",
                "published",
                "date",
                "Attribute",
                "Object",
                "Tag",
                "Orgc",
            ],
        ));
    }
    let mut body = body_or_error(call, NAME)?;
    let mut input = parse_event(&body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    let reports = super::event_reports::reports_of_event_body(&body, NAME)?;
    resolve_extends(call, &mut input).await?;
    // MISP consults the blocklist before anything else, so a deleted event stays deleted
    // whoever offers it again.
    if let Some(uuid) = &input.uuid {
        if call.store().is_event_blocklisted(uuid).await? {
            return Err(ApiError::Forbidden(format!(
                "Event blocked by event blocklist: {uuid} was deleted on this instance."
            )));
        }
        if let Some(existing) = call.store().event_id_by_uuid(uuid).await? {
            return Err(ApiError::AlreadyExists {
                message: "Event already exists, if you would like to edit it, use the url in the location header.".into(),
                location: format!("/events/view/{existing}"),
            });
        }
    }
    // Groups a peer describes are captured only once the event is known to be welcome.
    if super::event_sync::capture_pushed_sharing_groups(call, &mut body, false).await? {
        input = parse_event(&body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
        resolve_extends(call, &mut input).await?;
    }
    if input.published == Some(true)
        && input.attributes.is_empty()
        && input.objects.is_empty()
        && reports.is_empty()
    {
        return Err(ApiError::save_refused(
            NAME,
            "Event could not be saved: a published event must contain attributes, objects or reports.",
        ));
    }
    let mut event = new_event(
        &input,
        &call.build_context(),
        call.principal.user.org_id,
        call.principal.user.id,
    )
    .map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    event.orgc_id = resolve_orgc(call, input.orgc.as_ref()).await?;
    let orgc = call.store().org(&Key::Id(event.orgc_id)).await?;
    if call.store().is_org_blocklisted(&orgc.uuid).await? {
        return Err(ApiError::Forbidden(format!(
            "Event blocked by organisation blocklist: events of {} are refused on this instance.",
            orgc.name
        )));
    }
    // An event a peer pushes says `locked` (it arrived by sync), and so does one created
    // elsewhere: sync users may later overwrite such events, never local ones.
    let sent_locked = body
        .get("Event")
        .unwrap_or(&body)
        .get("locked")
        .and_then(kizuna_formats::misp::input::lenient_bool)
        .unwrap_or(false);
    event.locked =
        call.principal.role.permissions.perm_sync && (sent_locked || event.orgc_id != event.org_id);
    let mut errors = FieldErrors::new();
    super::sharing_groups::check_event(call, &event, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed(NAME, &errors));
    }
    if event.published {
        if call.principal.role.permissions.perm_publish {
            event.publish_timestamp = call.now;
        } else {
            event.published = false;
        }
    }
    let may_create_tags = call.principal.role.permissions.perm_tag_editor;
    let id = call.store().insert_event(&event, may_create_tags).await?;
    super::event_reports::save_event_body_reports(call, id, &reports).await?;
    let stored = call
        .store()
        .event(&Key::Id(id), &LoadOptions::default())
        .await?;
    // MISP publishes an event saved as published (and passes on what a peer pushed): the
    // peer it came from already has this version and declines it.
    if stored.published {
        crate::sync::push_published_event(
            call.store().clone(),
            id,
            call.state.settings.base_url.clone(),
        );
    }
    let metadata = call.flag("metadata");
    let mut body = event_body(&stored, metadata);
    if !metadata {
        super::event_reports::attach_to_event(call, &stored, &mut body, false).await?;
    }
    super::sharing_groups::embed_in_event(call, &mut body).await?;
    Ok(json_response(body))
}

/// Whether the request asks for soft-deleted content too (`deleted[]:1`, `deleted:1` or a
/// `deleted` key in the body that contains 1).
fn wants_deleted(call: &Call) -> bool {
    let truthy = |text: &str| matches!(text, "1" | "true" | "only");
    if call.path.named_all("deleted").into_iter().any(truthy) {
        return true;
    }
    match call.body.as_ref().and_then(|body| body.get("deleted")) {
        Some(Value::Array(values)) => values
            .iter()
            .any(|value| lenient_i64(value) == Some(1) || value.as_bool() == Some(true)),
        Some(value) => lenient_i64(value) == Some(1) || value.as_bool() == Some(true),
        None => false,
    }
}

async fn view(call: &Call) -> ApiResult<Response> {
    let key = call.key_arg(0, "event")?;
    let meta = call.visible_event_meta_by_key(&key).await;
    if call.is_head() {
        return Ok(head_response(meta.is_ok()));
    }
    let meta = meta?;
    let options = LoadOptions {
        include_deleted: wants_deleted(call) && super::acl::sees_deleted_items(call, &meta),
        viewer_org: call.viewer_org(),
    };
    let mut event = call.store().event(&Key::Id(meta.id), &options).await?;
    super::event_sync::strip_unshared_tags(call, &mut event);
    let mut body = event_body(&event, false);
    if !call.flag("noEventReports") {
        super::event_reports::attach_to_event(call, &event, &mut body, options.include_deleted)
            .await?;
    }
    super::sharing_groups::embed_in_event(call, &mut body).await?;
    if !call.flag("noSightings") {
        super::sightings::attach_to_event(call, &event, &mut body).await?;
    }
    if call.path.named("includeEventCorrelations") != Some("0") {
        super::correlations::attach_to_event(call, &event, &mut body).await?;
    }
    Ok(json_response(body))
}

/// MISP's edit (misp-reference §3.5): the incoming event must be newer; attributes and
/// objects are matched by uuid and updated only when newer, unknown ones are added, nothing
/// absent is deleted, tags are added but never removed.
async fn edit(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not edit Event";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Event edit",
            &[],
            &[
                "info",
                "threat_level_id",
                "analysis",
                "distribution",
                "sharing_group_id",
                "published",
                "date",
                "Attribute",
                "Object",
                "Tag",
            ],
        ));
    }
    let key = call.key_arg(0, "event")?;
    let meta = call.visible_event_meta_by_key(&key).await?;
    let role = &call.principal.role.permissions;
    call.require(super::acl::may_modify_event(call, &meta) || role.perm_sync)?;
    let mut body = body_or_error(call, NAME)?;
    let mut input = parse_event(&body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    let reports = super::event_reports::reports_of_event_body(&body, NAME)?;
    resolve_extends(call, &mut input).await?;
    // MISP judges the timestamp before the editor, and a pushing peer takes exactly this
    // answer (with this text) as "already up to date" rather than as a failure.
    if let Some(timestamp) = input.timestamp
        && timestamp <= meta.timestamp
    {
        return Err(ApiError::save_refused(
            NAME,
            "Event could not be saved: Event in the request not newer than the local copy.",
        ));
    }
    if !super::acl::may_edit_event(call, &meta) {
        return Err(ApiError::save_refused(
            NAME,
            "Event could not be saved: only the creator organisation, a site admin, or a sync user on an event that arrived by sync (locked) may edit it.",
        ));
    }
    if super::event_sync::capture_pushed_sharing_groups(call, &mut body, true).await? {
        input = parse_event(&body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
        resolve_extends(call, &mut input).await?;
    }
    let context = call.build_context();
    let existing = call
        .store()
        .event(
            &Key::Id(meta.id),
            &LoadOptions {
                include_deleted: true,
                viewer_org: None,
            },
        )
        .await?;
    let changes = plan_edit(call, &existing, &input, &context).await?;
    call.store().apply_event_changes(&changes).await?;
    super::event_reports::save_event_body_reports(call, meta.id, &reports).await?;
    let stored = call
        .store()
        .event(
            &Key::Id(meta.id),
            &LoadOptions {
                include_deleted: false,
                viewer_org: call.viewer_org(),
            },
        )
        .await?;
    // MISP publishes again only when the edit itself says published.
    if stored.published && input.published == Some(true) {
        crate::sync::push_published_event(
            call.store().clone(),
            meta.id,
            call.state.settings.base_url.clone(),
        );
    }
    let metadata = call.flag("metadata");
    let mut body = event_body(&stored, metadata);
    if !metadata {
        super::event_reports::attach_to_event(call, &stored, &mut body, false).await?;
    }
    super::sharing_groups::embed_in_event(call, &mut body).await?;
    Ok(json_response(body))
}

async fn plan_edit(
    call: &Call,
    existing: &Event,
    input: &EventInput,
    context: &kizuna_formats::misp::build::BuildContext,
) -> ApiResult<EventChanges> {
    const NAME: &str = "Could not edit Event";
    let permissions = &call.principal.role.permissions;
    let rights = crate::event_merge::MergeRights {
        publish: permissions.perm_publish,
        create_tags: permissions.perm_tag_editor,
    };
    let changes = crate::event_merge::plan_event_changes(existing, input, context, rights)
        .map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    let mut errors = FieldErrors::new();
    super::sharing_groups::check_changes(call, &changes, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed(NAME, &errors));
    }
    Ok(changes)
}

async fn delete(call: &Call) -> ApiResult<Response> {
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "Event delete", &[], &["id"]));
    }
    let mut keys = Vec::new();
    match call.path.arg(0) {
        Some(_) => keys.push(call.key_arg(0, "event")?),
        None => {
            let ids = call.body.as_ref().and_then(|body| body.get("id"));
            match ids {
                Some(Value::Array(values)) => {
                    for value in values {
                        let text = value
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| lenient_i64(value).map(|id| id.to_string()))
                            .unwrap_or_default();
                        keys.push(
                            Key::parse(&text)
                                .ok_or_else(|| ApiError::NotFound("Invalid event.".into()))?,
                        );
                    }
                }
                Some(value) => {
                    let text = value
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| lenient_i64(value).map(|id| id.to_string()))
                        .unwrap_or_default();
                    keys.push(
                        Key::parse(&text)
                            .ok_or_else(|| ApiError::NotFound("Invalid event.".into()))?,
                    );
                }
                None => return Err(ApiError::NotFound("Invalid event.".into())),
            }
        }
    }
    let mut deleted = Vec::new();
    for key in &keys {
        let event = call.visible_event_meta_by_key(key).await?;
        call.require(super::acl::may_modify_event(call, &event))?;
        call.store().delete_event(&event, true, call.now).await?;
        deleted.push(event.id);
    }
    let message = if deleted.len() == 1 {
        "Event deleted."
    } else {
        "Events deleted."
    };
    Ok(call.success(
        message,
        deleted.first().copied().filter(|_| deleted.len() == 1),
    ))
}

async fn index(call: &Call) -> ApiResult<Response> {
    let mut params = match &call.body {
        Some(Value::Object(map)) => map.clone(),
        _ => serde_json::Map::new(),
    };
    for (key, value) in &call.path.named {
        params.insert(key.clone(), Value::String(value.clone()));
    }
    let mut request = kizuna_formats::misp::filters::parse_event_index(&params, call.now)
        .map_err(|error| ApiError::BadRequest(error.to_string()))?;
    // MISP: only site admins search by creator e-mail; anyone else may name their own address
    // (their own events) and gets nothing for another.
    if !request.criteria.creator_email.is_empty() && !call.is_site_admin() {
        let own = &call.principal.user.email;
        let asks_own = request.criteria.creator_email.any.len() == 1
            && request.criteria.creator_email.none.is_empty()
            && request.criteria.creator_email.any[0]
                .trim()
                .eq_ignore_ascii_case(own);
        request.criteria.creator_user = Some(if asks_own { call.principal.user.id } else { -1 });
        request.criteria.creator_email = Default::default();
    }
    let viewer = call.viewer().await?;
    if request.minimal {
        return minimal_index(call, &request, &viewer).await;
    }
    let (events, total) = call
        .store()
        .search_events_sorted(
            &request.criteria,
            &viewer,
            request.sort.as_deref(),
            request.descending,
            request.paging,
        )
        .await?;
    let rows: Vec<Value> = events.iter().map(render_event_index_entry).collect();
    indexed(call, &Value::Array(rows), total)
}

/// The index as a pulling peer reads it (`minimal`): per event its id, timestamps,
/// published flag, uuid and creator's uuid, integers as strings; events without live
/// attributes left out (MISP). One query, whatever the number of events.
async fn minimal_index(
    call: &Call,
    request: &kizuna_formats::misp::filters::IndexRequest,
    viewer: &kizuna_model::access::Viewer,
) -> ApiResult<Response> {
    let index = call
        .store()
        .minimal_event_index(
            &request.criteria,
            viewer,
            request.sort.as_deref(),
            request.descending,
            request.paging,
        )
        .await?;
    let mut response = super::event_sync::conditional_json_bytes(call, index.json.into_bytes());
    response.headers_mut().insert(
        "x-result-count",
        HeaderValue::from_str(&index.total.to_string()).expect("digits are a valid header"),
    );
    Ok(response)
}

/// An index answer: `X-Result-Count` = matches before paging (MISP's __indexRestResponse),
/// and an `ETag` so a peer re-reading an unchanged index gets `304 Not Modified`.
fn indexed(call: &Call, rows: &Value, total: u64) -> ApiResult<Response> {
    let mut response = super::event_sync::conditional_json(call, rows)?;
    response.headers_mut().insert(
        "x-result-count",
        HeaderValue::from_str(&total.to_string()).expect("digits are a valid header"),
    );
    Ok(response)
}

async fn publish(call: &Call, published: bool) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            if published {
                "Event publish"
            } else {
                "Event unpublish"
            },
            &[],
            &[],
        ));
    }
    let event = call.visible_event_meta(0).await?;
    call.require(if published {
        super::acl::may_publish_event(call, &event)
    } else {
        super::acl::may_modify_event(call, &event)
    })?;
    call.store()
        .set_published(event.id, published, call.now)
        .await?;
    if published {
        crate::sync::push_published_event(
            call.store().clone(),
            event.id,
            call.state.settings.base_url.clone(),
        );
    }
    let message = if published {
        "Event published."
    } else {
        "Event unpublished."
    };
    Ok(call.success(message, Some(event.id)))
}

/// The tag named by `text`: a numeric id or a name.
async fn tag_by_reference(call: &Call, text: &str) -> ApiResult<kizuna_model::Tag> {
    if let Ok(id) = text.parse::<i64>() {
        return call
            .store()
            .tag(id)
            .await
            .map_err(|_| ApiError::NotFound("Invalid tag.".into()));
    }
    call.store()
        .tag_by_name(text)
        .await?
        .ok_or_else(|| ApiError::NotFound("Invalid tag.".into()))
}

async fn add_tag(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(call, "Event addTag", &[], &[]));
    }
    let event = call.visible_event_meta(0).await?;
    let reference = call
        .path
        .arg(1)
        .map(str::to_string)
        .or_else(|| {
            call.body
                .as_ref()
                .and_then(|body| body.get("tag").or_else(|| body.get("tag_id")))
                .and_then(|value| {
                    value
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| lenient_i64(value).map(|id| id.to_string()))
                })
        })
        .ok_or_else(|| ApiError::NotFound("Invalid tag.".into()))?;
    let local = call.flag("local");
    call.require(super::acl::may_modify_tags(call, &event, local).await?)?;
    let tag = tag_by_reference(call, &reference).await?;
    super::tags::check_tag_usable(call, &tag, local)?;
    let attached = AttachedTag {
        tag,
        local,
        relationship_type: None,
    };
    call.store()
        .attach_event_tag(event.id, &attached, call.now)
        .await?;
    Ok(call.success("Tag added.", Some(event.id)))
}

async fn remove_tag(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(call, "Event removeTag", &[], &[]));
    }
    let event = call.visible_event_meta(0).await?;
    let reference = call
        .path
        .arg(1)
        .ok_or_else(|| ApiError::NotFound("Invalid tag.".into()))?;
    let tag = tag_by_reference(call, reference).await?;
    let local = event
        .tags
        .iter()
        .find(|attached| attached.tag.id == tag.id)
        .map(|attached| attached.local)
        .ok_or_else(|| ApiError::NotFound("Invalid event - tag combination.".into()))?;
    call.require(super::acl::may_modify_tags(call, &event, local).await?)?;
    call.store()
        .detach_event_tag(event.id, tag.id, call.now)
        .await?;
    Ok(call.success("Tag removed.", Some(event.id)))
}
