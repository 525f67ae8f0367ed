//! INTERFACE STUB — being implemented. From parsed input to model values, applying MISP's
//! defaults, the value massage and validation.

use super::FieldErrors;
use super::input::{AttributeInput, EventInput, ObjectInput, ObjectReferenceInput, TagInput};
use kizuna_model::{Attribute, Event, Id, MispObject, ObjectReference, Tag};
use time::Date;

/// The clock and calendar the build functions use, so tests can fix them.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext {
    pub now: i64,
    pub today: Date,
}

/// A new attribute: uuid generated when absent (v4, lower-case), category defaulting from the
/// type, to_ids from the type, distribution 5, value normalised and split, timestamp = now
/// (or the given one), tags carried as unresolved `AttachedTag`s (tag id 0).
pub fn new_attribute(_input: &AttributeInput, _ctx: &BuildContext) -> Result<Attribute, FieldErrors> {
    unimplemented!()
}

/// Applies a partial edit in place; re-validates; returns whether anything changed.
/// Bumps `timestamp` when something changed.
pub fn edit_attribute(
    _existing: &mut Attribute,
    _input: &AttributeInput,
    _ctx: &BuildContext,
) -> Result<bool, FieldErrors> {
    unimplemented!()
}

/// A new object with its attributes (each built with `new_attribute`, `object_relation`
/// required) and references (source = this object).
pub fn new_object(_input: &ObjectInput, _ctx: &BuildContext) -> Result<MispObject, FieldErrors> {
    unimplemented!()
}

pub fn new_object_reference(
    _input: &ObjectReferenceInput,
    _source_uuid: &str,
    _ctx: &BuildContext,
) -> Result<ObjectReference, FieldErrors> {
    unimplemented!()
}

/// A new event owned and created by `org_id` (the server resolves a given Orgc afterwards),
/// with its attributes, objects and tags. Errors are keyed like `Attribute.3.value`.
pub fn new_event(
    _input: &EventInput,
    _ctx: &BuildContext,
    _org_id: Id,
    _user_id: Id,
) -> Result<Event, FieldErrors> {
    unimplemented!()
}

/// Applies the scalar fields of an event edit (not its attributes/objects/tags).
pub fn edit_event_fields(
    _existing: &mut Event,
    _input: &EventInput,
    _ctx: &BuildContext,
) -> Result<bool, FieldErrors> {
    unimplemented!()
}

pub fn new_tag(_input: &TagInput) -> Result<Tag, FieldErrors> {
    unimplemented!()
}

pub fn edit_tag(_existing: &mut Tag, _input: &TagInput) -> Result<bool, FieldErrors> {
    unimplemented!()
}
