//! INTERFACE STUB — being implemented. Lenient parsing of MISP JSON request bodies.
//!
//! Every parser accepts MISP's envelopes (`{"Event": {...}}`, bare `{...}`,
//! `{"request": {...}}`, `{"response": {...}}`) and stringly or natively typed scalars
//! ("1", 1, true). `Option<Option<T>>` fields distinguish "absent" (outer None, keep the
//! stored value) from an explicit JSON null (Some(None), clear it).

use super::FieldErrors;
use kizuna_model::{IntendedUse, ItemStatus};
use serde_json::Value;
use time::Date;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagInput {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub colour: Option<String>,
    pub exportable: Option<bool>,
    pub hide_tag: Option<bool>,
    pub org_id: Option<i64>,
    pub user_id: Option<i64>,
    pub numerical_value: Option<Option<i64>>,
    pub local_only: Option<bool>,
    pub is_galaxy: Option<bool>,
    pub is_custom_galaxy: Option<bool>,
    /// Attachment flags, when the tag arrives inside an event or attribute.
    pub local: Option<bool>,
    pub relationship_type: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub attr_type: Option<String>,
    pub category: Option<String>,
    pub value: Option<String>,
    pub to_ids: Option<bool>,
    pub comment: Option<String>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
    pub disable_correlation: Option<bool>,
    pub object_relation: Option<String>,
    pub first_seen: Option<Option<i64>>,
    pub last_seen: Option<Option<i64>>,
    pub valid_until: Option<Option<i64>>,
    pub intended_use: Option<Option<IntendedUse>>,
    pub status: Option<Option<ItemStatus>>,
    pub data: Option<String>,
    pub tags: Vec<TagInput>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectReferenceInput {
    pub uuid: Option<String>,
    /// The referencing object (`object_uuid` / `source_uuid` / `object_id`).
    pub object_uuid: Option<String>,
    pub object_id: Option<i64>,
    pub referenced_uuid: Option<String>,
    pub referenced_id: Option<i64>,
    pub referenced_type: Option<i64>,
    pub relationship_type: Option<String>,
    pub comment: Option<String>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub meta_category: Option<String>,
    pub description: Option<String>,
    pub template_uuid: Option<String>,
    pub template_version: Option<String>,
    pub timestamp: Option<i64>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
    pub comment: Option<String>,
    pub deleted: Option<bool>,
    pub first_seen: Option<Option<i64>>,
    pub last_seen: Option<Option<i64>>,
    pub attributes: Vec<AttributeInput>,
    pub references: Vec<ObjectReferenceInput>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub info: Option<String>,
    pub date: Option<Date>,
    pub threat_level_id: Option<i64>,
    pub analysis: Option<i64>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
    pub published: Option<bool>,
    pub timestamp: Option<i64>,
    pub publish_timestamp: Option<i64>,
    pub disable_correlation: Option<bool>,
    pub extends_uuid: Option<String>,
    pub protected: Option<Option<bool>>,
    pub orgc: Option<OrgInput>,
    pub attributes: Vec<AttributeInput>,
    pub objects: Vec<ObjectInput>,
    pub tags: Vec<TagInput>,
}

pub fn parse_event(_body: &Value) -> Result<EventInput, FieldErrors> {
    unimplemented!()
}

/// One attribute, `{"Attribute": {...}}`, a list of either, or one attribute whose `value`
/// is an array (MISP's batch form: one attribute per value).
pub fn parse_attributes(_body: &Value) -> Result<Vec<AttributeInput>, FieldErrors> {
    unimplemented!()
}

pub fn parse_attribute(_body: &Value) -> Result<AttributeInput, FieldErrors> {
    unimplemented!()
}

pub fn parse_object(_body: &Value) -> Result<ObjectInput, FieldErrors> {
    unimplemented!()
}

pub fn parse_object_reference(_body: &Value) -> Result<ObjectReferenceInput, FieldErrors> {
    unimplemented!()
}

pub fn parse_tag(_body: &Value) -> Result<TagInput, FieldErrors> {
    unimplemented!()
}

/// "1", 1, 1.0 → 1; anything else → None.
pub fn lenient_i64(_value: &Value) -> Option<i64> {
    unimplemented!()
}

/// true/false, 1/0, "1"/"0", "true"/"false" → bool.
pub fn lenient_bool(_value: &Value) -> Option<bool> {
    unimplemented!()
}
