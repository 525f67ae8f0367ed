//! MISP `SharingGroupsController` (misp-reference §1.10, §4.7): index, view, add, edit,
//! delete and the member actions addOrg/removeOrg/addServer/removeServer; plus the two
//! things other controllers need from sharing groups: whether a caller may give an item
//! distribution 4 with a given group, and the `SharingGroup` object embedded in events.
//!
//! Who may do what (MISP's SharingGroup model):
//! - see a group (view, index, use it for distribution 4): site admins; its owner
//!   organisation; organisations it lists; everyone when it is open to every organisation
//!   of this instance (server 0 with `all_orgs`);
//! - edit it and change its members: site admins; users with `perm_sharing_group` of the
//!   owner organisation or of a member organisation with `extend`;
//! - delete it: site admins; users with `perm_sharing_group` of the owner organisation.
//!
//! Kizuna keeps no list of remote servers yet, so the only server a group can name is this
//! instance (server 0, or this instance's base URL); other servers in a request are skipped,
//! as MISP skips servers it does not know.

use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use kizuna_formats::misp::output::render_organisation;
use kizuna_formats::misp::sharing_groups::{
    LocalServer, MemberOrgInput, MemberServerInput, SharingGroupInput, embed_sharing_groups,
    parse_sharing_group, render_embedded_sharing_group, render_sharing_group, sharing_groups_named,
};
use kizuna_model::{
    Distribution, Event, MispObject, Organisation, SharingGroup, SharingGroupOrg,
    SharingGroupServer,
};
use kizuna_store::{EventChanges, Key, StoreError};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

const INVALID: &str = "Invalid sharing group.";
const UNUSABLE: &str = "Invalid sharing group or you don't have access to that sharing group.";
/// How MISP's view names this instance in a group's server list.
const LOCAL_INSTANCE: &str = "Local instance";

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        "add" => add(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "addorg" => add_org(call).await,
        "removeorg" => remove_org(call).await,
        "addserver" => add_server(call).await,
        "removeserver" => remove_server(call).await,
        _ => Err(unknown_action(call)),
    }
}

// ---------------------------------------------------------------------------------------
// Rights
// ---------------------------------------------------------------------------------------

/// MISP's ACL for every write action of the controller: `perm_sharing_group`.
fn require_sharing_group_permission(call: &Call) -> ApiResult<()> {
    if call.is_site_admin() || call.principal.role.permissions.perm_sharing_group {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "You do not have permission to use this functionality.".into(),
        ))
    }
}

/// MISP's checkIfAuthorised: whether the caller may see (and use) the group.
fn can_see(call: &Call, group: &SharingGroup) -> bool {
    let org_id = call.principal.user.org_id;
    call.is_site_admin()
        || group.org_id == org_id
        || group.orgs.iter().any(|member| member.org_id == org_id)
        || group
            .servers
            .iter()
            .any(|server| server.server_id == 0 && server.all_orgs)
}

/// MISP's checkIfAuthorisedExtend: whether the caller may edit the group and its members.
fn can_extend(call: &Call, group: &SharingGroup) -> bool {
    let permissions = &call.principal.role.permissions;
    let user = &call.principal.user;
    permissions.perm_site_admin
        || (permissions.perm_sharing_group
            && (group.org_id == user.org_id
                || group
                    .orgs
                    .iter()
                    .any(|member| member.org_id == user.org_id && member.extend)
                || (permissions.perm_sync && group.sync_user_id == user.id)))
}

/// MISP's checkIfOwner (after the controller's ACL): whether the caller may delete it.
fn can_delete(call: &Call, group: &SharingGroup) -> bool {
    let permissions = &call.principal.role.permissions;
    permissions.perm_site_admin
        || (permissions.perm_sharing_group && group.org_id == call.principal.user.org_id)
}

// ---------------------------------------------------------------------------------------
// Look-ups
// ---------------------------------------------------------------------------------------

/// The group named by `key`, if the caller may see it; MISP's 404 otherwise (a group the
/// caller may not see looks like one that does not exist).
async fn visible_group(call: &Call, key: &Key) -> ApiResult<SharingGroup> {
    match call.store().sharing_group(key).await {
        Ok(group) if can_see(call, &group) => Ok(group),
        Ok(_) | Err(StoreError::NotFound) => Err(ApiError::NotFound(INVALID.into())),
        Err(other) => Err(other.into()),
    }
}

/// The value of the first of `keys` present in the JSON body, as text.
fn body_text(call: &Call, keys: &[&str]) -> Option<String> {
    let body = call.body.as_ref()?;
    let body = body.get("request").unwrap_or(body);
    keys.iter().find_map(|key| match body.get(*key)? {
        Value::String(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
        value @ Value::Number(_) => lenient_i64(value).map(|number| number.to_string()),
        _ => None,
    })
}

/// The group of a member action: positional argument 0 or `sg_id`/`sg_uuid`/`id`/`uuid`
/// in the body (PyMISP sends `sg_id`).
async fn group_of_member_action(call: &Call) -> ApiResult<SharingGroup> {
    let text = call
        .path
        .arg(0)
        .map(str::to_string)
        .or_else(|| body_text(call, &["sg_id", "sg_uuid", "id", "uuid"]))
        .ok_or_else(|| ApiError::NotFound(INVALID.into()))?;
    let key = Key::parse(&text).ok_or_else(|| ApiError::NotFound(INVALID.into()))?;
    let group = visible_group(call, &key).await?;
    if !can_extend(call, &group) {
        return Err(ApiError::Forbidden(
            "Invalid sharing group or no editing rights.".into(),
        ));
    }
    Ok(group)
}

/// An organisation named by local id, uuid or (case-insensitive) name.
async fn org_by_reference(call: &Call, text: &str) -> ApiResult<Option<Organisation>> {
    if let Some(key) = Key::parse(text) {
        return match call.store().org(&key).await {
            Ok(org) => Ok(Some(org)),
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        };
    }
    Ok(call.store().org_by_name(text).await?)
}

/// Whether `url` is this instance's base URL (ignoring case and a trailing slash).
fn is_this_instance(call: &Call, url: &str) -> bool {
    let normalise = |text: &str| text.trim().trim_end_matches('/').to_ascii_lowercase();
    normalise(url) == normalise(&call.state.settings.base_url)
}

/// The organisations a group names (owner and members), by id.
async fn orgs_of<'a>(
    call: &Call,
    groups: impl IntoIterator<Item = &'a SharingGroup>,
) -> ApiResult<HashMap<i64, Organisation>> {
    let mut ids: Vec<i64> = Vec::new();
    for group in groups {
        ids.push(group.org_id);
        ids.extend(group.orgs.iter().map(|member| member.org_id));
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(call
        .store()
        .orgs_by_ids(&ids)
        .await?
        .into_iter()
        .map(|org| (org.id, org))
        .collect())
}

fn local_server(call: &Call) -> LocalServer<'_> {
    let url = call.state.settings.base_url.as_str();
    LocalServer { url, name: url }
}

/// `{SharingGroup, Organisation, SharingGroupOrg, SharingGroupServer}` of one group.
async fn group_body(call: &Call, group: &SharingGroup) -> ApiResult<Value> {
    let orgs = orgs_of(call, [group]).await?;
    Ok(render_sharing_group(group, &orgs, local_server(call)))
}

// ---------------------------------------------------------------------------------------
// index, view
// ---------------------------------------------------------------------------------------

/// The groups the caller may see, active ones by default (`/sharing_groups/index/true`:
/// the inactive ones), filtered by `value:` (name, uuid, description, releasability or an
/// organisation's name or uuid). Each entry says whether the caller may edit or delete it.
async fn index(call: &Call) -> ApiResult<Response> {
    let passive = call.path.arg(0) == Some("true");
    let term = call
        .path
        .named("value")
        .map(|value| value.trim_matches('%').to_lowercase());
    let orgs: HashMap<i64, Organisation> = call
        .store()
        .list_orgs()
        .await?
        .into_iter()
        .map(|org| (org.id, org))
        .collect();
    let local = local_server(call);
    let entries: Vec<Value> = call
        .store()
        .list_sharing_groups()
        .await?
        .iter()
        .filter(|group| group.active != passive && can_see(call, group))
        .filter(|group| {
            term.as_deref()
                .is_none_or(|term| matches_term(group, &orgs, term))
        })
        .map(|group| {
            let mut entry = render_sharing_group(group, &orgs, local);
            entry["SharingGroup"]["org_count"] = json!(group.orgs.len().to_string());
            entry["editable"] = json!(can_extend(call, group));
            entry["deletable"] = json!(can_delete(call, group));
            entry
        })
        .collect();
    // MISP keeps the `response` wrapper here for backward compatibility; PyMISP unwraps it.
    Ok(json_response(json!({ "response": entries })))
}

fn matches_term(group: &SharingGroup, orgs: &HashMap<i64, Organisation>, term: &str) -> bool {
    let org_matches = |org_id: &i64| {
        orgs.get(org_id)
            .is_some_and(|org| org.name.to_lowercase().contains(term) || org.uuid.contains(term))
    };
    group.uuid.contains(term)
        || group.name.to_lowercase().contains(term)
        || group.description.to_lowercase().contains(term)
        || group.releasability.to_lowercase().contains(term)
        || org_matches(&group.org_id)
        || group.orgs.iter().any(|member| org_matches(&member.org_id))
}

/// GET or HEAD by id or uuid; the owner is the full organisation, as MISP's view has it.
async fn view(call: &Call) -> ApiResult<Response> {
    let found = match call.key_arg(0, "sharing group") {
        Ok(key) => visible_group(call, &key).await,
        Err(_) => Err(ApiError::NotFound(INVALID.into())),
    };
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    let group = found?;
    let orgs = orgs_of(call, [&group]).await?;
    let local = LocalServer {
        url: call.state.settings.base_url.as_str(),
        name: LOCAL_INSTANCE,
    };
    let mut body = render_sharing_group(&group, &orgs, local);
    if let Some(owner) = orgs.get(&group.org_id) {
        body["Organisation"] = render_organisation(owner);
    }
    Ok(json_response(body))
}

// ---------------------------------------------------------------------------------------
// add, edit, delete
// ---------------------------------------------------------------------------------------

const OPTIONAL_FIELDS: &[&str] = &[
    "description",
    "uuid",
    "organisation_uuid",
    "org_id",
    "active",
    "roaming",
    "SharingGroupOrg",
    "SharingGroupServer",
];

fn parse_body(call: &Call, name: &str) -> ApiResult<SharingGroupInput> {
    let body = call.body.as_ref().ok_or_else(|| {
        ApiError::save_failed(
            name,
            &FieldErrors::single("SharingGroup", "No sharing group in the request body."),
        )
    })?;
    parse_sharing_group(body).map_err(|errors| ApiError::save_failed(name, &errors))
}

/// The owner of a new group: the caller's organisation, or for site admins the one named
/// by `org_id` / `organisation_uuid`.
async fn owner_of_new_group(
    call: &Call,
    input: &SharingGroupInput,
    errors: &mut FieldErrors,
) -> ApiResult<Organisation> {
    if call.is_site_admin() {
        let named = match (&input.organisation_uuid, input.org_id) {
            (Some(uuid), _) => Some(("organisation_uuid", Key::Uuid(uuid.clone()))),
            (None, Some(id)) => Some(("org_id", Key::Id(id))),
            (None, None) => None,
        };
        if let Some((field, key)) = named {
            return match call.store().org(&key).await {
                Ok(org) => Ok(org),
                Err(StoreError::NotFound) => {
                    errors.add(field, "names no organisation known here");
                    Ok(call.principal.org.clone())
                }
                Err(other) => Err(other.into()),
            };
        }
    }
    Ok(call.principal.org.clone())
}

/// A member organisation to be written: an existing one, or one to capture (create as an
/// organisation known from elsewhere) first.
enum MemberOrg {
    Known(i64),
    Capture(Box<Organisation>),
}

/// Resolves the organisations of a request: by uuid, then name, then local id. Unknown
/// organisations given with a name are captured as non-local organisations when the
/// caller is a site admin or sync user (as MISP captures them); otherwise they are errors.
async fn resolve_member_orgs(
    call: &Call,
    members: &[MemberOrgInput],
    errors: &mut FieldErrors,
) -> ApiResult<Vec<(MemberOrg, bool)>> {
    let may_capture = call.is_site_admin() || call.principal.role.permissions.perm_sync;
    let mut resolved = Vec::with_capacity(members.len());
    for (index, member) in members.iter().enumerate() {
        let reference = &member.org;
        let mut found = None;
        if let Some(uuid) = &reference.uuid {
            found = org_by_reference(call, uuid).await?;
        }
        if found.is_none()
            && let Some(name) = &reference.name
        {
            found = call.store().org_by_name(name).await?;
        }
        if found.is_none()
            && reference.uuid.is_none()
            && let Some(id) = reference.id
        {
            found = org_by_reference(call, &id.to_string()).await?;
        }
        match (found, &reference.name) {
            (Some(org), _) => resolved.push((MemberOrg::Known(org.id), member.extend)),
            (None, Some(name)) if may_capture => resolved.push((
                MemberOrg::Capture(Box::new(Organisation {
                    uuid: reference
                        .uuid
                        .clone()
                        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    name: name.clone(),
                    local: false,
                    created_by: call.principal.user.id,
                    date_created: call.now,
                    date_modified: call.now,
                    ..Organisation::default()
                })),
                member.extend,
            )),
            (None, _) => errors.add(
                &format!("SharingGroupOrg.{index}"),
                "names no organisation known here",
            ),
        }
    }
    Ok(resolved)
}

/// Creates the organisations to capture and returns every member as stored rows.
async fn write_member_orgs(
    call: &Call,
    resolved: Vec<(MemberOrg, bool)>,
) -> ApiResult<Vec<SharingGroupOrg>> {
    let mut members = Vec::with_capacity(resolved.len());
    for (member, extend) in resolved {
        let org_id = match member {
            MemberOrg::Known(id) => id,
            MemberOrg::Capture(org) => match call.store().create_org(&org).await {
                Ok(created) => created.id,
                // Captured meanwhile by another request: use that row.
                Err(StoreError::Conflict(_)) => match call.store().org_by_name(&org.name).await? {
                    Some(existing) => existing.id,
                    None => call.store().org(&Key::Uuid(org.uuid.clone())).await?.id,
                },
                Err(other) => return Err(other.into()),
            },
        };
        members.push(SharingGroupOrg {
            id: 0,
            org_id,
            extend,
        });
    }
    Ok(members)
}

/// The servers of a request that name this instance; others are skipped (see the module
/// documentation).
fn member_servers(call: &Call, servers: &[MemberServerInput]) -> Vec<SharingGroupServer> {
    servers
        .iter()
        .filter(|server| {
            server.server_id == Some(0)
                || server
                    .url
                    .as_deref()
                    .is_some_and(|url| is_this_instance(call, url))
        })
        .map(|server| SharingGroupServer {
            id: 0,
            server_id: 0,
            all_orgs: server.all_orgs,
        })
        .collect()
}

/// A name no other group has: MISP appends `_<random number>` to a taken name on create
/// (so that a group arriving by sync never fails on a local name).
async fn free_name(call: &Call, wanted: &str) -> ApiResult<String> {
    let mut name = wanted.to_string();
    for _ in 0..20 {
        if call.store().sharing_group_by_name(&name).await?.is_none() {
            return Ok(name);
        }
        let suffix = uuid::Uuid::new_v4().as_u128() % 10_000;
        name = format!("{wanted}_{suffix}");
    }
    Ok(name)
}

fn store_refusal(name: &str, error: StoreError) -> ApiError {
    match error {
        StoreError::Conflict(reason) => ApiError::save_refused(name, reason),
        other => other.into(),
    }
}

async fn add(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not add SharingGroup";
    require_sharing_group_permission(call)?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "SharingGroup add",
            &["name", "releasability"],
            OPTIONAL_FIELDS,
        ));
    }
    let input = parse_body(call, NAME)?;
    let mut errors = FieldErrors::new();
    let name = input
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string);
    if name.is_none() {
        errors.add("name", "A sharing group needs a name.");
    }
    let owner = owner_of_new_group(call, &input, &mut errors).await?;
    let resolved = resolve_member_orgs(call, &input.orgs, &mut errors).await?;
    let (Some(name), true) = (name, errors.is_empty()) else {
        return Err(ApiError::save_failed(NAME, &errors));
    };
    let mut orgs = write_member_orgs(call, resolved).await?;
    // The owner always belongs to its group and may extend it.
    if !orgs.iter().any(|member| member.org_id == owner.id) {
        orgs.insert(
            0,
            SharingGroupOrg {
                id: 0,
                org_id: owner.id,
                extend: true,
            },
        );
    }
    let roaming = input.roaming.unwrap_or(false);
    let mut servers = member_servers(call, &input.servers);
    // MISP: a group that does not roam and names no server is limited to this instance.
    if !roaming && servers.is_empty() {
        servers.push(SharingGroupServer {
            id: 0,
            server_id: 0,
            all_orgs: false,
        });
    }
    let group = SharingGroup {
        id: 0,
        uuid: input
            .uuid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        name: free_name(call, &name).await?,
        releasability: input.releasability.clone().unwrap_or_default(),
        description: input.description.clone().unwrap_or_default(),
        org_id: owner.id,
        organisation_uuid: owner.uuid.clone(),
        sync_user_id: 0,
        active: input.active.unwrap_or(true),
        local: true,
        roaming,
        created: call.now,
        modified: call.now,
        orgs,
        servers,
    };
    let stored = call
        .store()
        .create_sharing_group(&group)
        .await
        .map_err(|error| store_refusal(NAME, error))?;
    Ok(json_response(group_body(call, &stored).await?))
}

/// Writes the given fields; the member lists of the request are merged in (added, or their
/// `extend` / `all_orgs` updated), members not mentioned stay (MISP's edit).
async fn edit(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not edit SharingGroup";
    require_sharing_group_permission(call)?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "SharingGroup edit",
            &[],
            &[
                "name",
                "releasability",
                "description",
                "active",
                "roaming",
                "SharingGroupOrg",
                "SharingGroupServer",
            ],
        ));
    }
    let key = call
        .key_arg(0, "sharing group")
        .map_err(|_| ApiError::NotFound(INVALID.into()))?;
    let existing = visible_group(call, &key).await?;
    if !can_extend(call, &existing) {
        return Err(ApiError::Forbidden("Action not allowed.".into()));
    }
    let input = parse_body(call, NAME)?;
    let mut errors = FieldErrors::new();
    let mut group = existing.clone();
    if let Some(name) = &input.name {
        if name.trim().is_empty() {
            errors.add("name", "A sharing group needs a name.");
        } else {
            group.name = name.trim().to_string();
        }
    }
    let resolved = resolve_member_orgs(call, &input.orgs, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::save_failed(NAME, &errors));
    }
    if let Some(releasability) = &input.releasability {
        group.releasability = releasability.clone();
    }
    if let Some(description) = &input.description {
        group.description = description.clone();
    }
    if let Some(active) = input.active {
        group.active = active;
    }
    if let Some(roaming) = input.roaming {
        group.roaming = roaming;
    }
    group.modified = call.now;
    group.orgs = write_member_orgs(call, resolved).await?;
    group.servers = member_servers(call, &input.servers);
    let stored = call
        .store()
        .update_sharing_group(&group)
        .await
        .map_err(|error| store_refusal(NAME, error))?;
    Ok(json_response(group_body(call, &stored).await?))
}

async fn delete(call: &Call) -> ApiResult<Response> {
    const NAME: &str = "Could not delete SharingGroup";
    require_sharing_group_permission(call)?;
    if !is_write(call, true)? {
        return Ok(describe_endpoint(call, "SharingGroup delete", &[], &[]));
    }
    let key = call
        .key_arg(0, "sharing group")
        .map_err(|_| ApiError::NotFound(INVALID.into()))?;
    let group = visible_group(call, &key).await?;
    if !can_delete(call, &group) {
        return Err(ApiError::Forbidden("Action not allowed.".into()));
    }
    match call.store().delete_sharing_group(group.id).await {
        Ok(()) => Ok(call.success("SharingGroup deleted", Some(group.id))),
        Err(StoreError::Conflict(_)) => Err(ApiError::save_refused(
            NAME,
            "The sharing group could not be deleted: events, attributes or objects still use it.",
        )),
        Err(other) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------------------
// Member actions
// ---------------------------------------------------------------------------------------

/// A flag from the body (the last of `keys` present wins) or else positional argument
/// `index`: MISP lets the body override the URL.
fn member_flag(call: &Call, index: usize, keys: &[&str]) -> bool {
    let from_body = call.body.as_ref().and_then(|body| {
        let body = body.get("request").unwrap_or(body);
        keys.iter()
            .rev()
            .find_map(|key| body.get(*key).and_then(lenient_bool))
    });
    from_body
        .or_else(|| {
            call.path
                .arg(index)
                .and_then(|text| lenient_bool(&Value::String(text.to_string())))
        })
        .unwrap_or(false)
}

/// The organisation of addOrg/removeOrg: argument 1 or `org_id`/`org_uuid`/`org_name`.
async fn member_action_org(call: &Call) -> ApiResult<Organisation> {
    let invalid = || ApiError::NotFound("Invalid organisation.".into());
    let text = call
        .path
        .arg(1)
        .map(str::to_string)
        .or_else(|| body_text(call, &["org_id", "org_uuid", "org_name"]))
        .ok_or_else(invalid)?;
    org_by_reference(call, &text).await?.ok_or_else(invalid)
}

/// The server of addServer/removeServer: argument 1 or `server_id`/`server_url`/
/// `server_baseurl`/`server_name`; only this instance is known (0 or its base URL).
fn member_action_server(call: &Call) -> ApiResult<i64> {
    let text = call.path.arg(1).map(str::to_string).or_else(|| {
        body_text(
            call,
            &["server_id", "server_url", "server_baseurl", "server_name"],
        )
    });
    match text {
        Some(text) if text == "0" || is_this_instance(call, &text) => Ok(0),
        _ => Err(ApiError::NotFound("Invalid server.".into())),
    }
}

async fn add_org(call: &Call) -> ApiResult<Response> {
    if let Some(description) = describe_member_action(call, "addOrg", "org_id", &["extend"])? {
        return Ok(description);
    }
    let group = group_of_member_action(call).await?;
    let org = member_action_org(call).await?;
    let extend = member_flag(call, 2, &["extend"]);
    let outcome = call
        .store()
        .add_sharing_group_org(group.id, org.id, extend, call.now)
        .await;
    membership_answer(
        call,
        outcome,
        "Organisation added to the sharing group.",
        Refusal::AlreadyMember("Could not add Organisation to SharingGroup"),
        "Organisation is already in the sharing group.",
    )
}

async fn remove_org(call: &Call) -> ApiResult<Response> {
    if let Some(description) = describe_member_action(call, "removeOrg", "org_id", &[])? {
        return Ok(description);
    }
    let group = group_of_member_action(call).await?;
    let org = member_action_org(call).await?;
    let outcome = call
        .store()
        .remove_sharing_group_org(group.id, org.id, call.now)
        .await;
    membership_answer(
        call,
        outcome,
        "Organisation removed from the sharing group.",
        Refusal::NotMember("Could not remove Organisation from SharingGroup"),
        "Organisation is not in the sharing group.",
    )
}

async fn add_server(call: &Call) -> ApiResult<Response> {
    if let Some(description) =
        describe_member_action(call, "addServer", "server_id", &["all_orgs"])?
    {
        return Ok(description);
    }
    let group = group_of_member_action(call).await?;
    let server_id = member_action_server(call)?;
    let all_orgs = member_flag(call, 2, &["all", "all_orgs"]);
    let outcome = call
        .store()
        .add_sharing_group_server(group.id, server_id, all_orgs, call.now)
        .await;
    membership_answer(
        call,
        outcome,
        "Server added to the sharing group.",
        Refusal::AlreadyMember("Could not add Server to SharingGroup"),
        "Server is already in the sharing group.",
    )
}

async fn remove_server(call: &Call) -> ApiResult<Response> {
    if let Some(description) = describe_member_action(call, "removeServer", "server_id", &[])? {
        return Ok(description);
    }
    let group = group_of_member_action(call).await?;
    let server_id = member_action_server(call)?;
    let outcome = call
        .store()
        .remove_sharing_group_server(group.id, server_id, call.now)
        .await;
    membership_answer(
        call,
        outcome,
        "Server removed from the sharing group.",
        Refusal::NotMember("Could not remove Server from SharingGroup"),
        "Server is not in the sharing group.",
    )
}

/// The permission check every membership action starts with, and MISP's description of the
/// endpoint when it is asked with GET.
fn describe_member_action(
    call: &Call,
    action: &str,
    member: &'static str,
    optional: &[&str],
) -> ApiResult<Option<Response>> {
    require_sharing_group_permission(call)?;
    if is_write(call, false)? {
        return Ok(None);
    }
    Ok(Some(describe_endpoint(
        call,
        &format!("SharingGroup {action}"),
        &["sg_id", member],
        optional,
    )))
}

/// The store error a membership change turns into MISP's save refusal (named by the
/// failure's title); any other error stays what it is.
enum Refusal {
    AlreadyMember(&'static str),
    NotMember(&'static str),
}

fn membership_answer<T>(
    call: &Call,
    outcome: Result<T, StoreError>,
    done: &str,
    refusal: Refusal,
    refused: &str,
) -> ApiResult<Response> {
    match (outcome, refusal) {
        (Ok(_), _) => Ok(call.success(done, None)),
        (Err(StoreError::Conflict(_)), Refusal::AlreadyMember(name))
        | (Err(StoreError::NotFound), Refusal::NotMember(name)) => {
            Err(ApiError::save_refused(name, refused))
        }
        (Err(other), _) => Err(other.into()),
    }
}

// ---------------------------------------------------------------------------------------
// Distribution 4 on writes of other controllers
// ---------------------------------------------------------------------------------------

/// The groups the caller may use for distribution 4, read once per request and only when
/// an item asks for one.
#[derive(Default)]
pub(super) struct UsableGroups {
    ids: Option<HashSet<i64>>,
}

impl UsableGroups {
    /// Adds an error under `field` when an item of `distribution` 4 names a group that does
    /// not exist or that the caller may not use (site admins may use any group).
    pub async fn check(
        &mut self,
        call: &Call,
        distribution: Distribution,
        sharing_group_id: i64,
        field: &str,
        errors: &mut FieldErrors,
    ) -> ApiResult<()> {
        if distribution != Distribution::SharingGroup {
            return Ok(());
        }
        if self.ids.is_none() {
            self.ids = Some(
                call.store()
                    .sharing_groups_usable_by(call.viewer_org())
                    .await?,
            );
        }
        if !self
            .ids
            .as_ref()
            .is_some_and(|ids| ids.contains(&sharing_group_id))
        {
            errors.add(field, UNUSABLE);
        }
        Ok(())
    }

    /// The problem of one attribute of distribution 4 with an unusable group, if any.
    pub async fn problems(
        &mut self,
        call: &Call,
        attribute: &kizuna_model::Attribute,
    ) -> ApiResult<Option<FieldErrors>> {
        let mut errors = FieldErrors::new();
        self.check(
            call,
            attribute.distribution,
            attribute.sharing_group_id,
            "sharing_group_id",
            &mut errors,
        )
        .await?;
        Ok((!errors.is_empty()).then_some(errors))
    }

    async fn check_object(
        &mut self,
        call: &Call,
        object: &MispObject,
        prefix: &str,
        errors: &mut FieldErrors,
    ) -> ApiResult<()> {
        self.check(
            call,
            object.distribution,
            object.sharing_group_id,
            &format!("{prefix}sharing_group_id"),
            errors,
        )
        .await?;
        for (index, attribute) in object.attributes.iter().enumerate() {
            self.check(
                call,
                attribute.distribution,
                attribute.sharing_group_id,
                &format!("{prefix}Attribute.{index}.sharing_group_id"),
                errors,
            )
            .await?;
        }
        Ok(())
    }
}

/// Checks the sharing groups of a new event, its attributes, objects and object
/// attributes (errors keyed like `Object.2.Attribute.0.sharing_group_id`).
pub(super) async fn check_event(
    call: &Call,
    event: &Event,
    errors: &mut FieldErrors,
) -> ApiResult<()> {
    let mut usable = UsableGroups::default();
    usable
        .check(
            call,
            event.distribution,
            event.sharing_group_id,
            "sharing_group_id",
            errors,
        )
        .await?;
    for (index, attribute) in event.attributes.iter().enumerate() {
        usable
            .check(
                call,
                attribute.distribution,
                attribute.sharing_group_id,
                &format!("Attribute.{index}.sharing_group_id"),
                errors,
            )
            .await?;
    }
    for (index, object) in event.objects.iter().enumerate() {
        usable
            .check_object(call, object, &format!("Object.{index}."), errors)
            .await?;
    }
    Ok(())
}

/// Checks the sharing groups an event edit would write: the event's, and those of every
/// attribute and object it adds or changes.
pub(super) async fn check_changes(
    call: &Call,
    changes: &EventChanges,
    errors: &mut FieldErrors,
) -> ApiResult<()> {
    let mut usable = UsableGroups::default();
    usable
        .check(
            call,
            changes.event.distribution,
            changes.event.sharing_group_id,
            "sharing_group_id",
            errors,
        )
        .await?;
    for attribute in changes
        .new_attributes
        .iter()
        .chain(&changes.updated_attributes)
    {
        usable
            .check(
                call,
                attribute.distribution,
                attribute.sharing_group_id,
                &format!("Attribute.{}.sharing_group_id", attribute.uuid),
                errors,
            )
            .await?;
    }
    for object in changes.new_objects.iter().chain(&changes.updated_objects) {
        usable
            .check_object(call, object, &format!("Object.{}.", object.uuid), errors)
            .await?;
    }
    Ok(())
}

/// MISP's save failure `name` when an attribute or object (with its attributes) of
/// distribution 4 names a group the caller may not use.
pub(super) async fn require_usable(
    call: &Call,
    name: &str,
    distribution: Distribution,
    sharing_group_id: i64,
    attributes: &[kizuna_model::Attribute],
) -> ApiResult<()> {
    let mut usable = UsableGroups::default();
    let mut errors = FieldErrors::new();
    usable
        .check(
            call,
            distribution,
            sharing_group_id,
            "sharing_group_id",
            &mut errors,
        )
        .await?;
    for (index, attribute) in attributes.iter().enumerate() {
        usable
            .check(
                call,
                attribute.distribution,
                attribute.sharing_group_id,
                &format!("Attribute.{index}.sharing_group_id"),
                &mut errors,
            )
            .await?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::save_failed(name, &errors))
    }
}

// ---------------------------------------------------------------------------------------
// Embedding in events
// ---------------------------------------------------------------------------------------

/// Puts the `SharingGroup` object into an `{"Event": …}` answer: on the event and on each
/// attribute, object and object attribute of distribution 4 whose group the caller may see.
pub(super) async fn embed_in_event(call: &Call, body: &mut Value) -> ApiResult<()> {
    let Some(event) = body.get_mut("Event") else {
        return Ok(());
    };
    let ids = sharing_groups_named(event);
    if ids.is_empty() {
        return Ok(());
    }
    let groups: Vec<SharingGroup> = call
        .store()
        .sharing_groups_by_ids(&ids)
        .await?
        .into_iter()
        .filter(|group| can_see(call, group))
        .collect();
    let orgs = orgs_of(call, &groups).await?;
    let local = local_server(call);
    let rendered: HashMap<i64, Value> = groups
        .iter()
        .map(|group| (group.id, render_embedded_sharing_group(group, &orgs, local)))
        .collect();
    embed_sharing_groups(event, &rendered);
    Ok(())
}
