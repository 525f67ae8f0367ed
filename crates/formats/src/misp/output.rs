//! INTERFACE STUB — being implemented. Rendering model values as MISP JSON, field order and
//! typing as MISP emits them.

use kizuna_model::{
    AttachedTag, Attribute, Event, MispObject, ObjectReference, Organisation, Role, Tag, User,
};
use serde_json::Value;

/// The inner event object (caller wraps it as `{"Event": ...}`).
pub fn render_event(_event: &Event) -> Value {
    unimplemented!()
}

/// One row of `/events/index`: flat event fields, `Org`, `Orgc`, `EventTag[]`.
pub fn render_event_index_entry(_event: &Event) -> Value {
    unimplemented!()
}

pub fn render_attribute(_attribute: &Attribute) -> Value {
    unimplemented!()
}

pub fn render_object(_object: &MispObject) -> Value {
    unimplemented!()
}

pub fn render_object_reference(_reference: &ObjectReference) -> Value {
    unimplemented!()
}

pub fn render_tag(_tag: &Tag) -> Value {
    unimplemented!()
}

pub fn render_attached_tag(_tag: &AttachedTag) -> Value {
    unimplemented!()
}

/// `{id, name, uuid, local}` as embedded in events.
pub fn render_org_stub(_org: &Organisation) -> Value {
    unimplemented!()
}

pub fn render_organisation(_org: &Organisation) -> Value {
    unimplemented!()
}

pub fn render_user(_user: &User) -> Value {
    unimplemented!()
}

pub fn render_role(_role: &Role) -> Value {
    unimplemented!()
}

/// `GET /attributes/describeTypes.json` body.
pub fn describe_types() -> Value {
    unimplemented!()
}

/// µs since the epoch → `2019-06-25T15:26:00.000000+00:00`.
pub fn format_seen(_micros: i64) -> String {
    unimplemented!()
}
