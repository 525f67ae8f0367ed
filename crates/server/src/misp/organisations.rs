//! MISP `OrganisationsController`: the organisation list and view for everyone; adding,
//! editing and deleting for site admins.

use super::users::fields::Fields;
use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use axum::http::Method;
use axum::response::Response;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::input::is_uuid;
use kizuna_formats::misp::output::render_organisation;
use kizuna_model::Organisation;
use kizuna_store::{Key, StoreError};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        "add" => add(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        _ => Err(unknown_action(call)),
    }
}

fn invalid_org() -> ApiError {
    ApiError::NotFound("Invalid organisation.".into())
}

/// Who may see who created an organisation: in MISP's index site admins only, in its view
/// also the organisation's own admins.
#[derive(Clone, Copy)]
enum CreatorShownTo {
    SiteAdmins,
    SiteAndOwnAdmins,
}

/// `{"Organisation": {... user_count}}`, with `created_by` and the creator's e-mail address
/// for those allowed to see them and without `created_by` for everyone else.
async fn rendered(
    call: &Call,
    org: &Organisation,
    user_count: i64,
    creator_emails: &mut HashMap<i64, String>,
    shown_to: CreatorShownTo,
) -> ApiResult<Value> {
    let mut rendered = render_organisation(org);
    rendered["user_count"] = json!(user_count.to_string());
    let permissions = &call.principal.role.permissions;
    let own_admin = permissions.perm_admin && call.principal.user.org_id == org.id;
    let full_access = permissions.perm_site_admin
        || (matches!(shown_to, CreatorShownTo::SiteAndOwnAdmins) && own_admin);
    if full_access {
        let email = match creator_emails.get(&org.created_by) {
            Some(email) => email.clone(),
            None => {
                let email = match call.store().user(org.created_by).await {
                    Ok(user) => user.email,
                    Err(StoreError::NotFound) => "Unknown".to_string(),
                    Err(other) => return Err(other.into()),
                };
                creator_emails.insert(org.created_by, email.clone());
                email
            }
        };
        rendered["created_by_email"] = Value::String(email);
    } else if let Value::Object(map) = &mut rendered {
        map.remove("created_by");
    }
    Ok(json!({ "Organisation": rendered }))
}

/// Whether `org` matches MISP's `searchall` text: contained (case-insensitively) in its
/// name, description, nationality, sector, type, contacts, domains or uuid.
fn matches_search(org: &Organisation, needle: &str) -> bool {
    [
        org.name.as_str(),
        &org.description,
        &org.nationality,
        &org.sector,
        &org.org_type,
        &org.contacts,
        &org.restricted_to_domain.join("\n"),
        &org.uuid,
    ]
    .iter()
    .any(|field| field.to_lowercase().contains(needle))
}

/// `scope:local` (default: organisations with users here), `external` (known from sync) or
/// `all`; `searchall:` (or `all:`, `quickFilter:`, or `searchall` in the body) filters.
/// Sorted by name, as MISP sorts it.
async fn index(call: &Call) -> ApiResult<Response> {
    let scope = call.path.named("scope").unwrap_or("local");
    if !matches!(scope, "local" | "external" | "all") {
        return Err(ApiError::BadRequest(format!(
            "scope must be local, external or all, got {scope:?}."
        )));
    }
    let from_body = call
        .body
        .as_ref()
        .and_then(|body| body.get("searchall"))
        .and_then(Value::as_str);
    let search = from_body
        .or_else(|| call.path.named("all"))
        .or_else(|| call.path.named("searchall"))
        .or_else(|| call.path.named("quickFilter"))
        .map(|text| text.trim_matches('%').to_lowercase())
        .filter(|text| !text.is_empty());
    let counts = call.store().user_counts().await?;
    let mut orgs: Vec<Organisation> = call
        .store()
        .list_orgs()
        .await?
        .into_iter()
        .filter(|org| match scope {
            "external" => !org.local,
            "all" => true,
            _ => org.local,
        })
        .filter(|org| {
            search
                .as_deref()
                .is_none_or(|needle| matches_search(org, needle))
        })
        .collect();
    orgs.sort_by_cached_key(|org| (org.name.to_lowercase(), org.id));
    let mut creator_emails = HashMap::new();
    let mut rows = Vec::with_capacity(orgs.len());
    for org in &orgs {
        let count = counts.get(&org.id).copied().unwrap_or(0);
        rows.push(
            rendered(
                call,
                org,
                count,
                &mut creator_emails,
                CreatorShownTo::SiteAdmins,
            )
            .await?,
        );
    }
    Ok(json_response(Value::Array(rows)))
}

/// An organisation by id, uuid or (as MISP's view also allows) name.
async fn find(call: &Call, text: &str) -> ApiResult<Organisation> {
    let found = match Key::parse(text) {
        Some(key) => call.store().org(&key).await.map(Some),
        None => call.store().org_by_name(text).await,
    };
    match found {
        Ok(Some(org)) => Ok(org),
        Ok(None) | Err(StoreError::NotFound) => Err(invalid_org()),
        Err(other) => Err(other.into()),
    }
}

async fn find_arg(call: &Call) -> ApiResult<Organisation> {
    find(call, call.path.arg(0).ok_or_else(invalid_org)?).await
}

/// `GET|HEAD /organisations/view/{id|uuid|name}`.
async fn view(call: &Call) -> ApiResult<Response> {
    let found = find_arg(call).await;
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    let org = found?;
    let counts = call.store().user_counts().await?;
    let mut body = rendered(
        call,
        &org,
        counts.get(&org.id).copied().unwrap_or(0),
        &mut HashMap::new(),
        CreatorShownTo::SiteAndOwnAdmins,
    )
    .await?;
    // MISP's view selects its columns and the landing page is not one of them.
    if let Some(Value::Object(map)) = body.get_mut("Organisation") {
        map.remove("landingpage");
    }
    Ok(json_response(body))
}

fn require_site_admin(call: &Call) -> ApiResult<()> {
    call.require(call.is_site_admin())
}

const WRITABLE: &[&str] = &[
    "name",
    "uuid",
    "local",
    "description",
    "type",
    "nationality",
    "sector",
    "contacts",
    "restricted_to_domain",
    "landingpage",
];

/// Applies the writable fields of the request to `org`, recording problems.
fn apply_fields(fields: &mut Fields, org: &mut Organisation) {
    if fields.has("name") {
        org.name = fields.text("name").unwrap_or_default();
    }
    if let Some(uuid) = fields.text("uuid")
        && !uuid.is_empty()
    {
        if is_uuid(&uuid) {
            org.uuid = uuid.to_lowercase();
        } else {
            fields
                .errors
                .add("uuid", "Please provide a valid RFC 4122 UUID.");
        }
    }
    if let Some(local) = fields.flag("local") {
        org.local = local;
    }
    for (name, slot) in [
        ("description", &mut org.description),
        ("type", &mut org.org_type),
        ("nationality", &mut org.nationality),
        ("sector", &mut org.sector),
        ("contacts", &mut org.contacts),
        ("landingpage", &mut org.landingpage),
    ] {
        if let Some(value) = fields.text(name) {
            *slot = value;
        }
    }
    if let Some(domains) = fields.list("restricted_to_domain") {
        org.restricted_to_domain = domains;
    }
}

/// Name and uuid must be set and belong to no other organisation.
async fn check_identity(
    call: &Call,
    org: &Organisation,
    errors: &mut FieldErrors,
) -> ApiResult<()> {
    if org.name.trim().is_empty() {
        errors.add("name", "An organisation needs a name.");
    } else if let Some(other) = call.store().org_by_name(&org.name).await?
        && other.id != org.id
    {
        errors.add("name", "An organisation with this name already exists.");
    }
    match call.store().org(&Key::Uuid(org.uuid.clone())).await {
        Ok(other) if other.id != org.id => {
            errors.add("uuid", "An organisation with this UUID already exists.");
        }
        Ok(_) | Err(StoreError::NotFound) => {}
        Err(other) => return Err(other.into()),
    }
    Ok(())
}

fn conflict_as_failure(error: StoreError, failure: &str) -> ApiError {
    match error {
        StoreError::Conflict(message) => {
            ApiError::save_failed(failure, &FieldErrors::single("name", message))
        }
        other => other.into(),
    }
}

/// `POST /admin/organisations/add`: name required and unique; uuid kept when given;
/// `local` defaults to true.
async fn add(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Organisations admin_add",
            &["name"],
            &WRITABLE[1..],
        ));
    }
    const FAILURE: &str = "Could not add Organisation";
    let mut fields = Fields::of(call.body.as_ref(), "Organisation")?;
    let mut org = Organisation {
        uuid: uuid::Uuid::new_v4().to_string(),
        local: true,
        created_by: call.principal.user.id,
        date_created: call.now,
        date_modified: call.now,
        ..Organisation::default()
    };
    apply_fields(&mut fields, &mut org);
    org.name = org.name.trim().to_string();
    if !fields.has("name") && !fields.errors.0.contains_key("name") {
        fields.errors.add("name", "Mandatory field not set.");
    } else {
        check_identity(call, &org, &mut fields.errors).await?;
    }
    fields.finish(FAILURE)?;
    let created = call
        .store()
        .create_org(&org)
        .await
        .map_err(|error| conflict_as_failure(error, FAILURE))?;
    Ok(json_response(
        json!({ "Organisation": render_organisation(&created) }),
    ))
}

/// `POST /admin/organisations/edit/{id|uuid}`: the fields sent change, the rest stay.
async fn edit(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    let existing = find_arg(call).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Organisations admin_edit",
            &[],
            WRITABLE,
        ));
    }
    const FAILURE: &str = "Could not edit Organisation";
    let mut fields = Fields::of(call.body.as_ref(), "Organisation")?;
    let mut org = existing.clone();
    apply_fields(&mut fields, &mut org);
    org.name = org.name.trim().to_string();
    check_identity(call, &org, &mut fields.errors).await?;
    fields.finish(FAILURE)?;
    org.date_modified = call.now;
    let updated = call
        .store()
        .update_org(&org)
        .await
        .map_err(|error| conflict_as_failure(error, FAILURE))?;
    Ok(json_response(
        json!({ "Organisation": render_organisation(&updated) }),
    ))
}

/// `POST|DELETE /admin/organisations/delete/{id|uuid}`: refused while the organisation has
/// users or owns or created events (MISP: Organisation::beforeDelete).
async fn delete(call: &Call) -> ApiResult<Response> {
    require_site_admin(call)?;
    if !matches!(call.method, Method::POST | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(
            "Action not allowed, post or delete request expected.".into(),
        ));
    }
    let org = find_arg(call).await?;
    match call.store().delete_org(org.id).await {
        Ok(()) => Ok(call.success("Organisation deleted", Some(org.id))),
        Err(StoreError::Conflict(reason)) => Err(ApiError::save_refused(
            "Could not delete Organisation",
            reason,
        )),
        Err(StoreError::NotFound) => Err(invalid_org()),
        Err(other) => Err(other.into()),
    }
}
