//! MISP `TagsController`: tag CRUD, search, and attaching tags to events and attributes.

use super::{Call, describe_endpoint, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::{edit_tag, new_tag};
use kizuna_formats::misp::input::{TagInput, lenient_bool, lenient_i64, parse_tag};
use kizuna_formats::misp::output::render_tag;
use kizuna_model::{AttachedTag, Attribute, Event, Tag};
use kizuna_store::{Key, StoreError};
use serde_json::{Value, json};

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "add" => add(call).await,
        "index" => index(call).await,
        "view" => view(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "search" => search(call).await,
        "attachtagtoobject" => attach(call).await,
        "removetagfromobject" => detach(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// Tags as they arrive inside an event or attribute, as attachments still to be resolved by
/// name; nameless entries are skipped.
pub(crate) fn attachments(inputs: &[TagInput]) -> Vec<AttachedTag> {
    inputs
        .iter()
        .filter_map(|input| {
            let tag = new_tag(input).ok()?;
            Some(AttachedTag {
                tag,
                local: input.local.unwrap_or(false),
                relationship_type: input.relationship_type.clone().flatten(),
            })
        })
        .collect()
}

/// The tag's own restrictions, whoever may otherwise tag the data: tags reserved to one
/// organisation or one user (site admins excepted), and tags that may only be local.
pub(crate) fn check_tag_usable(call: &Call, tag: &Tag, local: bool) -> ApiResult<()> {
    let user = &call.principal.user;
    if !call.is_site_admin() {
        if tag.org_id != 0 && tag.org_id != user.org_id {
            return Err(ApiError::Forbidden(
                "This tag is restricted to another organisation.".into(),
            ));
        }
        if tag.user_id != 0 && tag.user_id != user.id {
            return Err(ApiError::Forbidden(
                "This tag is restricted to another user.".into(),
            ));
        }
    }
    if tag.local_only && !local {
        return Err(ApiError::Forbidden(
            "This tag may only be attached locally.".into(),
        ));
    }
    Ok(())
}

/// attachTagToObject / removeTagFromObject on global tags: only the creator organisation
/// of the data (and site admins) may change them, whatever else the caller may do.
fn check_may_change_global_tags(call: &Call, event: &Event) -> ApiResult<()> {
    if call.is_site_admin() || event.orgc_id == call.principal.user.org_id {
        return Ok(());
    }
    Err(ApiError::Forbidden(
        "Cannot alter the tags of this data: only the organisation that created it may change its global tags; the host organisation may use local tags."
            .into(),
    ))
}

fn tag_body(tag: &Tag) -> Value {
    json!({ "Tag": render_tag(tag) })
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add Tag";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Tag add",
            &["name"],
            &[
                "colour",
                "exportable",
                "hide_tag",
                "org_id",
                "user_id",
                "numerical_value",
                "local_only",
            ],
        ));
    }
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("name", "No tag in the request body."),
        )
    })?;
    let input = parse_tag(body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    let tag = new_tag(&input).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    if call.store().tag_by_name(&tag.name).await?.is_some() {
        return Err(ApiError::save_failed(
            NAME,
            &FieldErrors::single("name", "A similar name already exists for a tag."),
        ));
    }
    let created = call.store().create_tag(&tag).await?;
    Ok(json_response(tag_body(&created)))
}

async fn index(call: &Call) -> ApiResult<Response> {
    let filter = call.path.named("searchall").map(str::to_lowercase);
    let tags: Vec<Value> = call
        .store()
        .list_tags(&call.viewer().await?)
        .await?
        .into_iter()
        .filter(|(tag, _)| {
            filter
                .as_deref()
                .is_none_or(|needle| tag.name.to_lowercase().contains(needle.trim_matches('%')))
        })
        .map(|(tag, usage)| {
            let mut rendered = render_tag(&tag);
            rendered["count"] = json!(usage.count);
            rendered["attribute_count"] = json!(usage.attribute_count);
            rendered["favourite"] = json!(false);
            rendered
        })
        .collect();
    Ok(json_response(json!({ "Tag": tags })))
}

async fn tag_arg(call: &Call) -> ApiResult<Tag> {
    let invalid = || ApiError::NotFound("Invalid tag.".into());
    let text = call.path.arg(0).ok_or_else(invalid)?;
    let found = match text.parse::<i64>() {
        Ok(id) => match call.store().tag(id).await {
            Ok(tag) => Some(tag),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        },
        Err(_) => call.store().tag_by_name(text).await?,
    };
    found.ok_or_else(invalid)
}

async fn view(call: &Call) -> ApiResult<Response> {
    let found = tag_arg(call).await;
    if call.is_head() {
        return Ok(super::head_response(found.is_ok()));
    }
    Ok(json_response(tag_body(&found?)))
}

async fn edit(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not edit Tag";
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Tag edit",
            &[],
            &[
                "name",
                "colour",
                "exportable",
                "hide_tag",
                "org_id",
                "user_id",
                "numerical_value",
                "local_only",
            ],
        ));
    }
    let mut tag = tag_arg(call).await?;
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            NAME,
            &FieldErrors::single("Tag", "No tag in the request body."),
        )
    })?;
    let input = parse_tag(body).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    edit_tag(&mut tag, &input).map_err(|errors| ApiError::save_failed(NAME, &errors))?;
    if let Some(other) = call.store().tag_by_name(&tag.name).await?
        && other.id != tag.id
    {
        return Err(ApiError::save_failed(
            NAME,
            &FieldErrors::single("name", "A similar name already exists for a tag."),
        ));
    }
    let updated = call.store().update_tag(&tag).await?;
    Ok(json_response(tag_body(&updated)))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "Tag delete", &[], &[]));
    }
    let tag = tag_arg(call).await?;
    call.store().delete_tag(tag.id).await?;
    Ok(call.success("Tag deleted.", Some(tag.id)))
}

/// `POST /tags/search {"tagname": "tlp:%"}` (or `/tags/search/<name>`): SQL LIKE on names.
async fn search(call: &Call) -> ApiResult<Response> {
    let pattern = call
        .body
        .as_ref()
        .and_then(|body| body.get("tagname").or_else(|| body.get("name")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| call.path.arg(0).map(str::to_string))
        .ok_or_else(|| {
            ApiError::BadRequest("Give the tag name to search for as \"tagname\".".into())
        })?;
    let tags = call.store().search_tags(&pattern).await?;
    let rows: Vec<Value> = tags
        .iter()
        .map(|tag| json!({ "Tag": render_tag(tag), "Taxonomy": [], "TaxonomyPredicate": [] }))
        .collect();
    Ok(json_response(Value::Array(rows)))
}

/// What `attachTagToObject` / `removeTagFromObject` act on, with the tags it carries.
enum Target {
    Event(Event),
    Attribute {
        event: Event,
        attribute: Box<Attribute>,
    },
}

impl Target {
    fn event(&self) -> &Event {
        match self {
            Target::Event(event) | Target::Attribute { event, .. } => event,
        }
    }

    fn attached_tags(&self) -> &[AttachedTag] {
        match self {
            Target::Event(event) => &event.tags,
            Target::Attribute { attribute, .. } => &attribute.tags,
        }
    }

    /// `Event(12)` / `Attribute(34)`, as MISP names the target in its messages.
    fn describe(&self) -> String {
        match self {
            Target::Event(event) => format!("Event({})", event.id),
            Target::Attribute { attribute, .. } => format!("Attribute({})", attribute.id),
        }
    }
}

/// The event or attribute named by `uuid`, if the caller may see it (and, for an
/// attribute, its event); anything else is MISP's 404.
async fn target(call: &Call, body: &Value) -> ApiResult<Target> {
    let invalid = || ApiError::NotFound("Invalid target.".into());
    let uuid = body
        .get("uuid")
        .and_then(Value::as_str)
        .and_then(Key::parse)
        .ok_or_else(|| {
            ApiError::BadRequest(
                "Give the uuid of the event or attribute to tag as \"uuid\".".into(),
            )
        })?;
    match call.store().event_meta(&uuid).await {
        Ok(event) if call.can_see_event(&event).await? => return Ok(Target::Event(event)),
        Ok(_) => return Err(invalid()),
        Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    match call.store().attribute(&uuid, true).await {
        Ok(attribute) => {
            let event = call
                .event_of_visible_item(
                    attribute.event_id,
                    attribute.distribution,
                    attribute.sharing_group_id,
                    "target",
                )
                .await
                .map_err(|error| match error {
                    ApiError::NotFound(_) => invalid(),
                    other => other,
                })?;
            Ok(Target::Attribute {
                event,
                attribute: Box::new(attribute),
            })
        }
        Err(StoreError::NotFound) => Err(ApiError::NotFound(
            "Invalid target: no event or attribute has this uuid.".into(),
        )),
        Err(other) => Err(other.into()),
    }
}

/// The tags named in `tag`: one name or id, or a list of them.
fn tag_references(body: &Value) -> Vec<String> {
    match body.get("tag") {
        Some(Value::Array(values)) => values
            .iter()
            .filter_map(|value| {
                value
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| lenient_i64(value).map(|id| id.to_string()))
            })
            .collect(),
        Some(Value::String(text)) if text.trim_start().starts_with('[') => {
            serde_json::from_str::<Vec<Value>>(text)
                .map(|values| {
                    values
                        .iter()
                        .filter_map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .or_else(|| lenient_i64(v).map(|id| id.to_string()))
                        })
                        .collect()
                })
                .unwrap_or_else(|_| vec![text.clone()])
        }
        Some(Value::String(text)) => vec![text.clone()],
        Some(other) => lenient_i64(other)
            .map(|id| vec![id.to_string()])
            .unwrap_or_default(),
        None => Vec::new(),
    }
}

/// The tag for `reference` (an id or a name); unknown names are created when the caller
/// may create tags.
async fn resolve_tag(call: &Call, reference: &str, create: bool) -> ApiResult<Tag> {
    if !reference.is_empty() && reference.bytes().all(|b| b.is_ascii_digit()) {
        return call
            .store()
            .tag(reference.parse().unwrap_or(0))
            .await
            .map_err(|_| ApiError::NotFound(format!("Invalid tag: {reference}.")));
    }
    if let Some(tag) = call.store().tag_by_name(reference).await? {
        return Ok(tag);
    }
    if !create {
        return Err(ApiError::NotFound(format!(
            "Invalid tag: {reference} does not exist."
        )));
    }
    if !call.principal.role.permissions.perm_tag_editor {
        return Err(ApiError::save_refused(
            "Could not attach Tag",
            format!("The tag {reference} does not exist and you may not create tags."),
        ));
    }
    let tag = new_tag(&TagInput {
        name: Some(reference.to_string()),
        ..TagInput::default()
    })
    .map_err(|errors| ApiError::save_failed("Could not add Tag", &errors))?;
    Ok(call.store().create_tag(&tag).await?)
}

async fn attach(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Tag attachTagToObject",
            &["uuid", "tag"],
            &["local", "relationship_type"],
        ));
    }
    let body = call.body.clone().unwrap_or(Value::Null);
    let target = target(call, &body).await?;
    let local = body.get("local").and_then(lenient_bool).unwrap_or(false);
    let relationship_type = body
        .get("relationship_type")
        .and_then(Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_string);
    let references = tag_references(&body);
    if references.is_empty() {
        return Err(ApiError::BadRequest(
            "Give the tag to attach as \"tag\".".into(),
        ));
    }
    // MISP's order: who may tag this data at all comes before any tag is looked up (or
    // created on the fly).
    let event = target.event();
    if local {
        if !super::acl::is_host_org_member(call).await? {
            return Err(ApiError::save_refused(
                "Could not attach Tag",
                "Local tags can only be added by users of the host organisation.",
            ));
        }
    } else {
        check_may_change_global_tags(call, event)?;
    }
    // Every tag is checked before the first is attached, so a refusal changes nothing.
    let mut tags = Vec::with_capacity(references.len());
    for reference in references {
        let tag = resolve_tag(call, &reference, true).await?;
        check_tag_usable(call, &tag, local)?;
        tags.push(tag);
    }
    let mut messages = Vec::new();
    for tag in tags {
        messages.push(format!(
            "{} tag {}({}) successfully attached to {}.",
            if local { "Local" } else { "Global" },
            tag.name,
            tag.id,
            target.describe()
        ));
        let attached = AttachedTag {
            tag,
            local,
            relationship_type: relationship_type.clone(),
        };
        match &target {
            Target::Event(event) => {
                call.store()
                    .attach_event_tag(event.id, &attached, call.now)
                    .await?;
            }
            Target::Attribute { event, attribute } => {
                call.store()
                    .attach_attribute_tag(event.id, attribute.id, &attached, call.now)
                    .await?;
            }
        }
    }
    Ok(call.success(&messages.join(" "), None))
}

async fn detach(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Tag removeTagFromObject",
            &["uuid", "tag"],
            &[],
        ));
    }
    let body = call.body.clone().unwrap_or(Value::Null);
    let target = target(call, &body).await?;
    let references = tag_references(&body);
    if references.is_empty() {
        return Err(ApiError::BadRequest(
            "Give the tag to remove as \"tag\".".into(),
        ));
    }
    // Every removal is checked before the first is made, so a refusal changes nothing.
    let event = target.event();
    let mut tags = Vec::with_capacity(references.len());
    for reference in references {
        let tag = resolve_tag(call, &reference, false).await?;
        let attachment = target
            .attached_tags()
            .iter()
            .find(|attached| attached.tag.id == tag.id)
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "The tag {} is not attached to this item.",
                    tag.name
                ))
            })?;
        if attachment.local {
            if !super::acl::may_modify_tags(call, event, true).await? {
                return Err(ApiError::Forbidden(
                    "Insufficient privileges to remove local tags from events you do not own."
                        .into(),
                ));
            }
        } else {
            check_may_change_global_tags(call, event)?;
        }
        tags.push(tag);
    }
    let mut messages = Vec::new();
    for tag in tags {
        let removed = match &target {
            Target::Event(event) => {
                call.store()
                    .detach_event_tag(event.id, tag.id, call.now)
                    .await?
            }
            Target::Attribute { event, attribute } => {
                call.store()
                    .detach_attribute_tag(event.id, attribute.id, tag.id, call.now)
                    .await?
            }
        };
        if !removed {
            return Err(ApiError::NotFound(format!(
                "The tag {} is not attached to this item.",
                tag.name
            )));
        }
        messages.push(format!(
            "Tag {}({}) successfully removed from {}.",
            tag.name,
            tag.id,
            target.describe()
        ));
    }
    Ok(call.success(&messages.join(" "), None))
}
