//! Building and checking TAXII collections for the admin API (`/taxii_collections/*`) and
//! the CLI (`kizuna taxii add-collection`): one set of rules, errors named by field.

use kizuna_formats::misp::FieldErrors;
use kizuna_model::Distribution;
use kizuna_store::{Key, Store, StoreError, TaxiiCollection};
use serde_json::{Value, json};

/// What an administrator gives for a collection; None keeps the current value (or the
/// default when adding).
#[derive(Clone, Debug, Default)]
pub struct CollectionInput {
    pub title: Option<String>,
    pub description: Option<String>,
    pub alias: Option<String>,
    pub writable: Option<bool>,
    /// restSearch filters: a JSON object ('' or `{}` = everything).
    pub filter: Option<Value>,
    pub read_orgs: Option<Vec<i64>>,
    pub write_orgs: Option<Vec<i64>>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
}

/// Applies `input` to `collection` (a new one when adding) and checks the result; the
/// errors name the fields.
pub async fn apply(
    store: &Store,
    collection: &mut TaxiiCollection,
    input: CollectionInput,
    now: i64,
) -> Result<FieldErrors, StoreError> {
    let mut errors = FieldErrors::new();
    if let Some(title) = input.title {
        collection.title = title.trim().to_string();
    }
    if collection.title.is_empty() {
        errors.add("title", "A collection needs a title.");
    }
    if let Some(description) = input.description {
        collection.description = description;
    }
    if let Some(alias) = input.alias {
        collection.alias = alias.trim().to_string();
    }
    let alias_ok = collection
        .alias
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !alias_ok {
        errors.add(
            "alias",
            "An alias is a name for URLs: letters, digits, '-', '_' and '.' only.",
        );
    } else if uuid::Uuid::parse_str(&collection.alias).is_ok() {
        errors.add("alias", "An alias may not look like a collection id.");
    }
    if let Some(writable) = input.writable {
        collection.writable = writable;
    }
    if let Some(filter) = input.filter {
        collection.filter = match filter {
            Value::Null => String::new(),
            Value::String(text) if text.trim().is_empty() => String::new(),
            Value::String(text) => text,
            Value::Object(map) if map.is_empty() => String::new(),
            other => other.to_string(),
        };
    }
    if let Err(problem) = super::view::parse_filter(&collection.filter, now) {
        errors.add("filter", format!("Invalid filter: {problem}."));
    }
    for (field, given, target) in [
        ("read_orgs", input.read_orgs, &mut collection.read_orgs),
        ("write_orgs", input.write_orgs, &mut collection.write_orgs),
    ] {
        if let Some(mut orgs) = given {
            orgs.sort_unstable();
            orgs.dedup();
            for id in &orgs {
                match store.org(&Key::Id(*id)).await {
                    Ok(_) => {}
                    Err(StoreError::NotFound) => {
                        errors.add(field, format!("There is no organisation with id {id}."))
                    }
                    Err(other) => return Err(other),
                }
            }
            *target = orgs;
        }
    }
    if let Some(distribution) = input.distribution {
        collection.distribution = distribution;
    }
    if let Some(group) = input.sharing_group_id {
        collection.sharing_group_id = group;
    }
    match Distribution::from_i64(collection.distribution).filter(|d| d.valid_for_event()) {
        None => errors.add(
            "distribution",
            "The distribution of events created by POSTs must be 0-4.",
        ),
        Some(Distribution::SharingGroup) => {
            let found = store
                .sharing_groups_by_ids(&[collection.sharing_group_id])
                .await?;
            if found.is_empty() {
                errors.add(
                    "sharing_group_id",
                    "Distribution 4 needs the id of an existing sharing group.",
                );
            }
        }
        Some(_) => collection.sharing_group_id = 0,
    }
    collection.modified = now;
    Ok(errors)
}

/// A new collection (fresh UUIDv4 id, not writable, no filter) before `apply`.
pub fn new_collection(now: i64) -> TaxiiCollection {
    TaxiiCollection {
        id: uuid::Uuid::new_v4().to_string(),
        created: now,
        modified: now,
        ..TaxiiCollection::default()
    }
}

/// The collection in the admin API's shape (`{"TaxiiCollection": {...}}`'s inner object).
pub fn render(collection: &TaxiiCollection) -> Value {
    let filter = if collection.filter.is_empty() {
        json!({})
    } else {
        serde_json::from_str(&collection.filter).unwrap_or_else(|_| json!({}))
    };
    json!({
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "alias": collection.alias,
        "writable": collection.writable,
        "filter": filter,
        "read_orgs": collection.read_orgs,
        "write_orgs": collection.write_orgs,
        "distribution": collection.distribution,
        "sharing_group_id": collection.sharing_group_id,
        "created": collection.created,
        "modified": collection.modified,
    })
}
