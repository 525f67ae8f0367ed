//! MISP `UsersController`: who am I, and the accounts of an instance. Site admins manage
//! every user; organisation admins (`perm_admin`) only the users of their own organisation,
//! and never hand out a role that is reserved for site admins or grants more than their own;
//! everyone may edit parts of their own profile and rotate their own API key.

pub(super) mod fields;
mod password;

use super::auth_keys::can_manage_keys_of;
use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use axum::http::Method;
use axum::response::Response;
use fields::Fields;
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::output::{render_organisation, render_role, render_user};
use kizuna_model::{Organisation, Role, User};
use kizuna_store::{Key, StoreError};
use rand::Rng;
use serde_json::{Value, json};

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "view" => view(call).await,
        "index" => index(call).await,
        "add" => add(call).await,
        "edit" => edit(call).await,
        "delete" => delete(call).await,
        "resetauthkey" => reset_auth_key(call).await,
        "changepw" => change_password(call).await,
        _ => Err(unknown_action(call)),
    }
}

/// A user with the role and organisation they belong to.
pub(super) struct Account {
    pub user: User,
    pub role: Role,
    pub org: Organisation,
}

/// User `id` with role and organisation; MISP's 404 `Invalid user.` when there is none.
pub(super) async fn account(call: &Call, id: i64) -> ApiResult<Account> {
    let user = match call.store().user(id).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(invalid_user()),
        Err(other) => return Err(other.into()),
    };
    let role = call.store().role(user.role_id).await?;
    let org = call.store().org(&Key::Id(user.org_id)).await?;
    Ok(Account { user, role, org })
}

fn invalid_user() -> ApiError {
    ApiError::NotFound("Invalid user.".into())
}

/// Site admins and organisation admins.
pub(super) fn is_admin(call: &Call) -> bool {
    let permissions = &call.principal.role.permissions;
    permissions.perm_site_admin || permissions.perm_admin
}

fn require_admin(call: &Call) -> ApiResult<()> {
    call.require(is_admin(call))
}

/// The user id named by positional argument 0 (`me` = the caller).
fn user_id_arg(call: &Call) -> ApiResult<i64> {
    match call.path.arg(0) {
        Some("me") => Ok(call.principal.user.id),
        Some(text) => text.parse().map_err(|_| invalid_user()),
        None => Err(invalid_user()),
    }
}

/// MISP's admin fetch rule (UsersController::__adminFetchConditions): an organisation admin
/// reaches the users of their own organisation only, and for changes not its site admins.
/// Everything else looks like a missing user.
async fn administered_account(call: &Call, id: i64, for_change: bool) -> ApiResult<Account> {
    let account = account(call, id).await?;
    if call.is_site_admin() {
        return Ok(account);
    }
    let same_org = account.user.org_id == call.principal.user.org_id;
    if !same_org || (for_change && account.role.permissions.perm_site_admin) {
        return Err(invalid_user());
    }
    Ok(account)
}

/// `{User, Role, UserSetting, Organisation}` as `/users/view` gives it.
fn profile(account: &Account) -> Value {
    json!({
        "User": render_user(&account.user),
        "Role": render_role(&account.role),
        "UserSetting": [],
        "Organisation": render_organisation(&account.org),
    })
}

/// `GET /users/view/{me|id}` (the caller; site admins anyone) and
/// `GET /admin/users/view/{id}` (admins, within their reach).
async fn view(call: &Call) -> ApiResult<Response> {
    let found = if call.path.admin {
        require_admin(call)?;
        match user_id_arg(call) {
            Ok(id) => administered_account(call, id, false).await,
            Err(error) => Err(error),
        }
    } else {
        let id = match call.path.arg(0) {
            None => Ok(call.principal.user.id),
            Some(_) => user_id_arg(call),
        };
        match id {
            Ok(id) if id == call.principal.user.id => Ok(Account {
                user: call.principal.user.clone(),
                role: call.principal.role.clone(),
                org: call.principal.org.clone(),
            }),
            Ok(id) if call.is_site_admin() => account(call, id).await,
            _ => Err(ApiError::NotFound("Invalid user or not authorised.".into())),
        }
    };
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    Ok(json_response(profile(&found?)))
}

/// `GET /admin/users/index`: every user for site admins, the own organisation's for
/// organisation admins. Filters as PyMISP and MISP's UI send them: `value:`/`searchall:`
/// (e-mail, organisation or role name contain the text), `searchorg:` (organisation ids,
/// site admins only), `searchemail:`, `searchrole:`, and the flags `searchdisabled:`,
/// `searchautoalert:`, `searchcontactalert:`, `searchtermsaccepted:`. Text filters take
/// `a|b` alternatives and `!x` exclusions.
async fn index(call: &Call) -> ApiResult<Response> {
    require_admin(call)?;
    let scope = (!call.is_site_admin()).then_some(call.principal.user.org_id);
    let users = call.store().list_users(scope).await?;
    let roles = call.store().list_roles().await?;
    let orgs = call.store().list_orgs().await?;
    let role_of = |id: i64| roles.iter().find(|role| role.id == id);
    let org_of = |id: i64| orgs.iter().find(|org| org.id == id);
    let filters = UserFilters::from_call(call)?;
    let mut rows = Vec::with_capacity(users.len());
    for user in &users {
        let (Some(role), Some(org)) = (role_of(user.role_id), org_of(user.org_id)) else {
            continue;
        };
        if !filters.matches(user, role, org) {
            continue;
        }
        let mut rendered = render_user(user);
        if let Value::Object(map) = &mut rendered {
            // The index lists accounts, not credentials: MISP leaves both out here.
            map.remove("password");
            map.remove("totp");
        }
        rows.push(json!({
            "User": rendered,
            "Role": {
                "id": role.id.to_string(),
                "name": role.name,
                "perm_auth": role.permissions.perm_auth,
                "perm_site_admin": role.permissions.perm_site_admin,
                "perm_admin": role.permissions.perm_admin,
            },
            "Organisation": {
                "id": org.id.to_string(),
                "name": org.name,
                "uuid": org.uuid,
            },
        }));
    }
    Ok(json_response(Value::Array(rows)))
}

/// One text filter of the user index: any of `wanted`, none of `unwanted`.
#[derive(Default)]
struct TextFilter {
    wanted: Vec<String>,
    unwanted: Vec<String>,
}

impl TextFilter {
    fn parse(text: &str) -> TextFilter {
        let mut filter = TextFilter::default();
        for piece in text.split('|').filter(|piece| !piece.is_empty()) {
            match piece.strip_prefix('!') {
                Some(excluded) => filter.unwanted.push(excluded.to_lowercase()),
                None => filter.wanted.push(piece.to_lowercase()),
            }
        }
        filter
    }

    /// `candidates` are the lower-cased texts the filter looks at; `exact` compares whole
    /// values (ids), otherwise a piece matches when contained.
    fn matches(&self, candidates: &[&str], exact: bool) -> bool {
        let hit = |piece: &String| {
            let piece = piece.trim_matches('%');
            candidates.iter().any(|candidate| {
                if exact {
                    *candidate == piece
                } else {
                    candidate.contains(piece)
                }
            })
        };
        (self.wanted.is_empty() || self.wanted.iter().any(hit)) && !self.unwanted.iter().any(hit)
    }
}

#[derive(Default)]
struct UserFilters {
    all: Option<TextFilter>,
    org: Option<TextFilter>,
    email: Option<TextFilter>,
    role: Option<TextFilter>,
    flags: Vec<(&'static str, bool)>,
}

impl UserFilters {
    fn from_call(call: &Call) -> ApiResult<UserFilters> {
        let mut filters = UserFilters::default();
        let named = |name: &str| call.path.named(name).filter(|value| !value.is_empty());
        if let Some(text) = named("value").or_else(|| named("searchall")) {
            filters.all = Some(TextFilter::parse(text));
        }
        // As in MISP, organisation admins cannot filter by organisation: they only ever see
        // their own.
        if call.is_site_admin()
            && let Some(text) = named("searchorg")
        {
            filters.org = Some(TextFilter::parse(text));
        }
        if let Some(text) = named("searchemail") {
            filters.email = Some(TextFilter::parse(text));
        }
        if let Some(text) = named("searchrole") {
            filters.role = Some(TextFilter::parse(text));
        }
        for flag in ["disabled", "autoalert", "contactalert", "termsaccepted"] {
            if let Some(text) = named(&format!("search{flag}")) {
                let value = match text {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    _ => {
                        return Err(ApiError::BadRequest(format!(
                            "search{flag} must be 1 or 0, got {text:?}."
                        )));
                    }
                };
                filters.flags.push((flag, value));
            }
        }
        Ok(filters)
    }

    fn matches(&self, user: &User, role: &Role, org: &Organisation) -> bool {
        let email = user.email.to_lowercase();
        let org_name = org.name.to_lowercase();
        let role_name = role.name.to_lowercase();
        let org_id = org.id.to_string();
        let role_id = role.id.to_string();
        let text_ok = self
            .all
            .as_ref()
            .is_none_or(|filter| filter.matches(&[&email, &org_name, &role_name], false))
            && self
                .org
                .as_ref()
                .is_none_or(|filter| filter.matches(&[&org_id], true))
            && self
                .email
                .as_ref()
                .is_none_or(|filter| filter.matches(&[&email], false))
            && self
                .role
                .as_ref()
                .is_none_or(|filter| filter.matches(&[&role_id], true));
        text_ok
            && self.flags.iter().all(|(flag, wanted)| {
                let actual = match *flag {
                    "disabled" => user.disabled,
                    "autoalert" => user.autoalert,
                    "contactalert" => user.contactalert,
                    _ => user.termsaccepted,
                };
                actual == *wanted
            })
    }
}

/// The refusal of a role an organisation admin may not hand out, or None when they may.
/// `kept_role` is the role the edited user already has: keeping it is always allowed.
fn forbidden_role(call: &Call, role: &Role, kept_role: Option<i64>) -> Option<ApiError> {
    if call.is_site_admin() || kept_role == Some(role.id) {
        return None;
    }
    let beyond = role.permissions.beyond(&call.principal.role.permissions);
    if role.is_reserved_for_site_admins() || !beyond.is_empty() {
        let reason = if beyond.is_empty() {
            "it is reserved for site admins".to_string()
        } else {
            format!(
                "it grants {} which your role does not have",
                beyond.join(", ")
            )
        };
        return Some(ApiError::Forbidden(format!(
            "You are not authorised to assign the role {:?} to a user: {reason}.",
            role.name
        )));
    }
    None
}

/// The role named by `role_id`, recording a field error when there is none.
async fn chosen_role(
    call: &Call,
    role_id: i64,
    errors: &mut FieldErrors,
) -> ApiResult<Option<Role>> {
    match call.store().role(role_id).await {
        Ok(role) => Ok(Some(role)),
        Err(StoreError::NotFound) => {
            errors.add("role_id", format!("There is no role {role_id}."));
            Ok(None)
        }
        Err(other) => Err(other.into()),
    }
}

fn check_email(email: &str, errors: &mut FieldErrors) {
    if !User::is_valid_email(email) {
        errors.add("email", "Please enter a valid email address.");
    }
}

/// Organisations may restrict the e-mail domains of their users; site admins are exempt,
/// as in MISP.
fn check_email_domain(call: &Call, org: &Organisation, email: &str, errors: &mut FieldErrors) {
    if !call.is_site_admin() && !org.allows_email(email) {
        errors.add(
            "email",
            format!(
                "Invalid e-mail domain. Users of {} must use one of: {}.",
                org.name,
                org.restricted_to_domain.join(", ")
            ),
        );
    }
}

async fn check_email_free(
    call: &Call,
    email: &str,
    except: Option<i64>,
    errors: &mut FieldErrors,
) -> ApiResult<()> {
    if let Some(existing) = call.store().user_by_email(email).await?
        && Some(existing.id) != except
    {
        errors.add(
            "email",
            "An account with this email address already exists.",
        );
    }
    Ok(())
}

/// A new password from `fields`, checked against the policy; None when absent or a mask.
fn new_password(fields: &mut Fields) -> Option<String> {
    let password = match fields.raw("password") {
        Some(Value::String(text)) => text.clone(),
        Some(_) => {
            fields.errors.add("password", "must be a string.");
            return None;
        }
        None => return None,
    };
    if password.is_empty() || password::is_mask(&password) {
        return None;
    }
    let problems = password::policy_problems(&password);
    if problems.is_empty() {
        Some(password)
    } else {
        for problem in problems {
            fields.errors.add("password", problem);
        }
        None
    }
}

/// An account expiry (`expiration`): empty = none, else a date or date-time.
fn expiration(fields: &mut Fields) -> Option<Option<i64>> {
    let raw = fields.raw("expiration")?.clone();
    let text = match &raw {
        Value::String(text) => text.trim().to_string(),
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    };
    if text.is_empty() || text == "0" {
        return Some(None);
    }
    match keys::parse_expiration(&text) {
        Some(seconds) => Some(Some(seconds)),
        None => {
            fields
                .errors
                .add("expiration", "must be a date (YYYY-MM-DD) or a date-time.");
            None
        }
    }
}

/// The profile fields every editor may set: alert flags, encryption keys, NIDS SID and
/// periodic notifications.
fn apply_profile(fields: &mut Fields, user: &mut User) {
    for (name, slot) in [
        ("autoalert", &mut user.autoalert),
        ("contactalert", &mut user.contactalert),
        ("notification_daily", &mut user.notification_daily),
        ("notification_weekly", &mut user.notification_weekly),
        ("notification_monthly", &mut user.notification_monthly),
    ] {
        if let Some(value) = fields.flag(name) {
            *slot = value;
        }
    }
    if let Some(gpgkey) = fields.text("gpgkey") {
        user.gpgkey = gpgkey;
    }
    if let Some(certificate) = fields.text("certif_public") {
        user.certif_public = certificate;
    }
    if let Some(sid) = fields.integer("nids_sid") {
        if sid > 0 {
            user.nids_sid = sid;
        } else {
            fields
                .errors
                .add("nids_sid", "A SID should be a positive integer.");
        }
    }
}

/// The admin-only account fields: state flags and the account's expiry.
fn apply_administration(fields: &mut Fields, user: &mut User) {
    for (name, slot) in [
        ("disabled", &mut user.disabled),
        ("termsaccepted", &mut user.termsaccepted),
        ("change_pw", &mut user.change_pw),
    ] {
        if let Some(value) = fields.flag(name) {
            *slot = value;
        }
    }
    if let Some(expiry) = expiration(fields) {
        user.expiration = expiry;
    }
}

/// `POST /admin/users/add`: a new user and their first API key, whose clear text the answer
/// carries once as `User.authkey` (PyMISP's add_user hands it to the caller).
async fn add(call: &Call) -> ApiResult<Response> {
    require_admin(call)?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Users admin_add",
            &["email"],
            &[
                "role_id",
                "org_id",
                "password",
                "disabled",
                "autoalert",
                "contactalert",
                "termsaccepted",
                "change_pw",
                "nids_sid",
                "gpgkey",
                "certif_public",
                "expiration",
                "notification_daily",
                "notification_weekly",
                "notification_monthly",
            ],
        ));
    }
    const FAILURE: &str = "Could not add User";
    let mut fields = Fields::of(call.body.as_ref(), "User")?;
    let email = fields.text("email").unwrap_or_default();
    if email.is_empty() {
        fields.errors.add("email", "Mandatory field not set.");
    } else {
        check_email(&email, &mut fields.errors);
    }

    let role = match fields.integer("role_id") {
        Some(role_id) => chosen_role(call, role_id, &mut fields.errors).await?,
        None if fields.errors.0.contains_key("role_id") => None,
        None => match call.store().default_role().await? {
            Some(role) => Some(role),
            None => {
                fields.errors.add("role_id", "Mandatory field not set.");
                None
            }
        },
    };

    let own_org = call.principal.user.org_id;
    let org_id = fields.integer("org_id").unwrap_or(own_org);
    if !call.is_site_admin() && org_id != own_org {
        return Err(ApiError::Forbidden(
            "Organisation admins can only create users in their own organisation.".into(),
        ));
    }
    if let Some(role) = &role
        && let Some(refusal) = forbidden_role(call, role, None)
    {
        return Err(refusal);
    }
    let org = match call.store().org(&Key::Id(org_id)).await {
        Ok(org) => Some(org),
        Err(StoreError::NotFound) => {
            fields.errors.add("org_id", "Invalid organisation.");
            None
        }
        Err(other) => return Err(other.into()),
    };
    if let Some(org) = &org
        && !email.is_empty()
    {
        check_email_domain(call, org, &email, &mut fields.errors);
    }
    if !email.is_empty() {
        check_email_free(call, &email, None, &mut fields.errors).await?;
    }
    let password = new_password(&mut fields);

    let now = call.now;
    let mut user = User {
        email: email.clone(),
        org_id,
        role_id: role.as_ref().map_or(0, |role| role.id),
        // MISP's REST defaults: a new account must change its password and accept the terms
        // at its first web login.
        change_pw: true,
        nids_sid: rand::rng().random_range(1_000_000..10_000_000),
        invited_by: call.principal.user.id,
        date_created: now,
        date_modified: now,
        last_pw_change: now,
        ..User::default()
    };
    apply_profile(&mut fields, &mut user);
    apply_administration(&mut fields, &mut user);
    fields.finish(FAILURE)?;

    let password_hash = match password {
        Some(password) => password::hash(password).await?,
        None => String::new(),
    };
    let key = keys::generate_api_key();
    let created = call
        .store()
        .create_user_with_password(&user, &password_hash, Some(&keys::stored_form(&key)))
        .await
        .map_err(|error| store_refusal(error, FAILURE))?;
    let mut rendered = render_user(&created);
    rendered["authkey"] = Value::String(key);
    Ok(json_response(json!({ "User": rendered })))
}

/// A store conflict (a unique e-mail address taken meanwhile) as a failed save.
fn store_refusal(error: StoreError, failure: &str) -> ApiError {
    match error {
        StoreError::Conflict(message) => {
            ApiError::save_failed(failure, &FieldErrors::single("email", message))
        }
        other => other.into(),
    }
}

/// `POST /admin/users/edit/{id}` (admins) and `POST /users/edit[/{own id}]` (the caller's
/// own profile).
async fn edit(call: &Call) -> ApiResult<Response> {
    if call.path.admin {
        admin_edit(call).await
    } else {
        self_edit(call).await
    }
}

async fn admin_edit(call: &Call) -> ApiResult<Response> {
    require_admin(call)?;
    let id = user_id_arg(call)?;
    let target = administered_account(call, id, true).await?;
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Users admin_edit",
            &[],
            &[
                "email",
                "role_id",
                "org_id",
                "password",
                "disabled",
                "autoalert",
                "contactalert",
                "termsaccepted",
                "change_pw",
                "nids_sid",
                "gpgkey",
                "certif_public",
                "expiration",
                "notification_daily",
                "notification_weekly",
                "notification_monthly",
            ],
        ));
    }
    const FAILURE: &str = "Could not edit User";
    let mut fields = Fields::of(call.body.as_ref(), "User")?;
    let mut user = target.user.clone();

    if let Some(org_id) = fields.integer("org_id")
        && org_id != user.org_id
    {
        if !call.is_site_admin() {
            return Err(ApiError::Forbidden(
                "Only site admins can move a user to another organisation.".into(),
            ));
        }
        match call.store().org(&Key::Id(org_id)).await {
            Ok(_) => user.org_id = org_id,
            Err(StoreError::NotFound) => fields.errors.add("org_id", "Invalid organisation."),
            Err(other) => return Err(other.into()),
        }
    }
    if let Some(role_id) = fields.integer("role_id")
        && role_id != user.role_id
        && let Some(role) = chosen_role(call, role_id, &mut fields.errors).await?
    {
        if let Some(refusal) = forbidden_role(call, &role, Some(target.role.id)) {
            return Err(refusal);
        }
        user.role_id = role.id;
    }
    if let Some(email) = fields.text("email")
        && email != user.email
    {
        check_email(&email, &mut fields.errors);
        check_email_domain(call, &target.org, &email, &mut fields.errors);
        check_email_free(call, &email, Some(user.id), &mut fields.errors).await?;
        user.email = email;
    }
    let password = new_password(&mut fields);
    apply_profile(&mut fields, &mut user);
    apply_administration(&mut fields, &mut user);
    fields.finish(FAILURE)?;

    let updated = save_user(call, user, password, FAILURE).await?;
    Ok(json_response(json!({ "User": render_user(&updated) })))
}

/// MISP's self-service edit (UsersController::edit): profile fields, e-mail and password.
/// A role or organisation other than the caller's own is refused rather than ignored, so a
/// client learns that nothing was escalated.
async fn self_edit(call: &Call) -> ApiResult<Response> {
    let own_id = call.principal.user.id;
    if let Some(arg) = call.path.arg(0)
        && arg != "me"
        && arg != own_id.to_string()
    {
        return Err(ApiError::Forbidden(
            "You can only edit your own profile here; admins edit other users through \
             /admin/users/edit/<id>."
                .into(),
        ));
    }
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Users edit",
            &[],
            &[
                "email",
                "password",
                "autoalert",
                "contactalert",
                "disabled",
                "nids_sid",
                "gpgkey",
                "certif_public",
                "notification_daily",
                "notification_weekly",
                "notification_monthly",
            ],
        ));
    }
    const FAILURE: &str = "Could not edit User";
    let mut fields = Fields::of(call.body.as_ref(), "User")?;
    let mut user = account(call, own_id).await?.user;
    if fields
        .integer("role_id")
        .is_some_and(|role_id| role_id != user.role_id)
    {
        return Err(ApiError::Forbidden(
            "You cannot change your own role; ask an admin.".into(),
        ));
    }
    if fields
        .integer("org_id")
        .is_some_and(|org_id| org_id != user.org_id)
    {
        return Err(ApiError::Forbidden(
            "You cannot move yourself to another organisation; ask a site admin.".into(),
        ));
    }
    if let Some(email) = fields.text("email")
        && email != user.email
    {
        check_email(&email, &mut fields.errors);
        check_email_domain(call, &call.principal.org, &email, &mut fields.errors);
        check_email_free(call, &email, Some(user.id), &mut fields.errors).await?;
        user.email = email;
    }
    let password = new_password(&mut fields);
    apply_profile(&mut fields, &mut user);
    // MISP lets users disable their own account (and only that of the admin fields).
    if let Some(disabled) = fields.flag("disabled") {
        user.disabled = disabled;
    }
    fields.finish(FAILURE)?;

    let updated = save_user(call, user, password, FAILURE).await?;
    let role = call.store().role(updated.role_id).await?;
    let org = call.store().org(&Key::Id(updated.org_id)).await?;
    Ok(json_response(profile(&Account {
        user: updated,
        role,
        org,
    })))
}

/// Stores an edited user, hashing a new password if there is one.
async fn save_user(
    call: &Call,
    mut user: User,
    password: Option<String>,
    failure: &str,
) -> ApiResult<User> {
    user.date_modified = call.now;
    let password_hash = match password {
        Some(password) => {
            user.last_pw_change = call.now;
            Some(password::hash(password).await?)
        }
        None => None,
    };
    call.store()
        .update_user(&user, password_hash.as_deref())
        .await
        .map_err(|error| store_refusal(error, failure))
}

/// `POST /admin/users/delete/{id}`: never one's own account; organisation admins only
/// within their organisation and never a site admin. The user's API keys go with them.
async fn delete(call: &Call) -> ApiResult<Response> {
    require_admin(call)?;
    if !matches!(call.method, Method::POST | Method::DELETE) {
        return Err(ApiError::MethodNotAllowed(
            "Deleting a user takes a POST or DELETE request.".into(),
        ));
    }
    let id = user_id_arg(call)?;
    let target = administered_account(call, id, true).await?;
    if target.user.id == call.principal.user.id {
        return Err(ApiError::Forbidden(
            "You cannot delete your own account.".into(),
        ));
    }
    match call.store().delete_user(target.user.id).await {
        Ok(()) => Ok(call.success("User deleted.", Some(target.user.id))),
        Err(StoreError::NotFound) => Err(invalid_user()),
        Err(other) => Err(other.into()),
    }
}

/// `POST /users/resetauthkey/{me|id}` (MISP's sync uses it to rotate its key): `me`
/// replaces the key of this request, an id every live key of that user; the old keys
/// expire now. The new key is in the message, as MISP gives it (`Authkey updated: <key>`).
async fn reset_auth_key(call: &Call) -> ApiResult<Response> {
    if !matches!(call.method, Method::POST | Method::PUT) {
        return Err(ApiError::MethodNotAllowed(
            "This functionality is only accessible via POST requests.".into(),
        ));
    }
    let own = matches!(call.path.arg(0), None | Some("me"));
    let id = if own {
        call.principal.user.id
    } else {
        user_id_arg(call)?
    };
    let target = account(call, id).await?;
    if !can_manage_keys_of(call, &target.user, &target.role) {
        return Err(ApiError::Forbidden(
            "You may not reset the API keys of this user.".into(),
        ));
    }
    let key = keys::generate_api_key();
    let current_key = own.then_some(call.principal.auth_key.id);
    call.store()
        .reset_auth_keys(id, current_key, &keys::stored_form(&key), call.now)
        .await?;
    Ok(call.success(&format!("Authkey updated: {key}"), Some(id)))
}

/// `POST /users/change_pw` `{"password": …}`: the caller's own password.
async fn change_password(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Users change_pw",
            &["password"],
            &[],
        ));
    }
    const FAILURE: &str = "Could not change_pw User";
    let mut fields = Fields::of(call.body.as_ref(), "User")?;
    if !fields.has("password") {
        fields.errors.add("password", "Mandatory field not set.");
    }
    let password = new_password(&mut fields);
    fields.finish(FAILURE)?;
    let Some(password) = password else {
        return Err(ApiError::save_failed(
            FAILURE,
            &FieldErrors::single("password", "A new password is required."),
        ));
    };
    let stored = call
        .store()
        .user_password_hash(call.principal.user.id)
        .await?;
    if password::matches(password.clone(), stored).await {
        return Err(ApiError::save_failed(
            FAILURE,
            &FieldErrors::single(
                "password",
                "Submitted new password cannot be the same as the current one.",
            ),
        ));
    }
    let mut user = account(call, call.principal.user.id).await?.user;
    user.change_pw = false;
    save_user(call, user, Some(password), FAILURE).await?;
    Ok(call.success("Password Changed.", None))
}
