//! The collections resource and who may read or write a collection.
//!
//! can_read: the caller's organisation is among the collection's readers (none listed =
//! every organisation), or the caller is a site admin. can_write: the collection is
//! writable, the caller's role may add events (perm_add), and the organisation is among the
//! writers (none listed = every organisation) or the caller is a site admin. A collection
//! the caller may neither read nor write does not exist for them (404).

use super::media::{STIX_20, STIX_21, TaxiiVersion};
use super::{TaxiiCall, TaxiiError, taxii_response};
use axum::http::StatusCode;
use axum::response::Response;
use kizuna_store::{StoreError, TaxiiCollection};
use serde_json::{Value, json};

/// A collection with the caller's rights on it.
pub struct Access {
    pub collection: TaxiiCollection,
    pub can_read: bool,
    pub can_write: bool,
}

pub fn access(call: &TaxiiCall, collection: TaxiiCollection) -> Access {
    let admin = call.is_site_admin();
    let org_id = call.principal.user.org_id;
    let listed = |orgs: &[i64]| orgs.is_empty() || orgs.contains(&org_id);
    let can_read = admin || listed(&collection.read_orgs);
    let can_write = collection.writable
        && call.principal.role.permissions.perm_add
        && (admin || listed(&collection.write_orgs));
    Access {
        collection,
        can_read,
        can_write,
    }
}

/// The collection named by id or alias, if the caller may read or write it; else 404.
pub async fn find(call: &TaxiiCall, id: &str) -> Result<Access, TaxiiError> {
    let missing = || TaxiiError::not_found(format!("There is no collection {id:?}."));
    let collection = match call.state.store.taxii_collection(id).await {
        Ok(collection) => collection,
        Err(StoreError::NotFound) => return Err(missing()),
        Err(other) => return Err(other.into()),
    };
    let access = access(call, collection);
    if !access.can_read && !access.can_write {
        return Err(missing());
    }
    Ok(access)
}

/// The collection for reading: 403 when the caller may only write to it.
pub async fn readable(call: &TaxiiCall, id: &str) -> Result<Access, TaxiiError> {
    let access = find(call, id).await?;
    if !access.can_read {
        return Err(TaxiiError::forbidden(
            "You may write to this collection but not read it.",
        ));
    }
    Ok(access)
}

pub fn render(access: &Access, version: TaxiiVersion) -> Value {
    let collection = &access.collection;
    let mut body = json!({
        "id": collection.id,
        "title": collection.title,
        "can_read": access.can_read,
        "can_write": access.can_write && version == TaxiiVersion::V21,
        "media_types": [match version {
            TaxiiVersion::V21 => STIX_21,
            TaxiiVersion::V20 => STIX_20,
        }],
    });
    if !collection.description.is_empty() {
        body["description"] = json!(collection.description);
    }
    if !collection.alias.is_empty() && version == TaxiiVersion::V21 {
        body["alias"] = json!(collection.alias);
    }
    body
}

pub async fn list(call: &TaxiiCall) -> Result<Response, TaxiiError> {
    let mut listed = Vec::new();
    for collection in call.state.store.taxii_collections().await? {
        let access = access(call, collection);
        if access.can_read || access.can_write {
            listed.push(render(&access, call.version));
        }
    }
    let body = if listed.is_empty() {
        json!({})
    } else {
        json!({ "collections": listed })
    };
    Ok(taxii_response(
        call.version,
        StatusCode::OK,
        body.to_string(),
    ))
}

pub async fn get(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let access = find(call, id).await?;
    Ok(taxii_response(
        call.version,
        StatusCode::OK,
        render(&access, call.version).to_string(),
    ))
}
