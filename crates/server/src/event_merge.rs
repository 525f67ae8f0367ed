//! Merging an incoming version of an event into the stored one (MISP's `Event::_edit`
//! rules): the API's `/events/edit`, imports and feeds that update a known event, and
//! later sync, all plan their changes here.
//!
//! Items are matched by uuid; a known item changes only when the incoming one is newer;
//! unknown items are added (loose attributes deduplicated by type, category and value).

use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::build::{
    BuildContext, edit_attribute, edit_event_fields, new_attribute, new_object,
    new_object_reference,
};
use kizuna_formats::misp::input::EventInput;
use kizuna_model::{Distribution, Event};
use kizuna_store::EventChanges;
use std::collections::{HashMap, HashSet};

/// What the author of the incoming version may do.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MergeRights {
    /// Keep `published` as sent (perm_publish); otherwise the event is unpublished.
    pub publish: bool,
    /// Create tags unknown by name (perm_tag_editor).
    pub create_tags: bool,
}

/// The changes that bring `existing` (loaded with its deleted items) to `input`; field errors
/// name the item (`Attribute.3.value`).
pub(crate) fn plan_event_changes(
    existing: &Event,
    input: &EventInput,
    context: &BuildContext,
    rights: MergeRights,
) -> Result<EventChanges, FieldErrors> {
    let mut event = existing.clone();
    event.attributes.clear();
    event.objects.clear();
    event.tags.clear();
    edit_event_fields(&mut event, input, context)?;
    event.timestamp = input.timestamp.unwrap_or(context.now);
    event.published = input.published.unwrap_or(false) && rights.publish;
    if event.published {
        event.publish_timestamp = context.now;
    }
    let mut errors = FieldErrors::new();

    let mut attributes_by_uuid: HashMap<&str, &kizuna_model::Attribute> = existing
        .attributes
        .iter()
        .map(|attribute| (attribute.uuid.as_str(), attribute))
        .collect();
    for object in &existing.objects {
        for attribute in &object.attributes {
            attributes_by_uuid.insert(attribute.uuid.as_str(), attribute);
        }
    }
    let objects_by_uuid: HashMap<&str, &kizuna_model::MispObject> = existing
        .objects
        .iter()
        .map(|object| (object.uuid.as_str(), object))
        .collect();

    let mut changes = EventChanges {
        event,
        new_attributes: Vec::new(),
        updated_attributes: Vec::new(),
        new_objects: Vec::new(),
        updated_objects: Vec::new(),
        new_references: Vec::new(),
        add_event_tags: Vec::new(),
        may_create_tags: rights.create_tags,
    };
    let mut seen_new: HashSet<(String, String, String, String)> = HashSet::new();

    let mut upsert_attribute = |input: &kizuna_formats::misp::input::AttributeInput,
                                object_id: i64,
                                field: String,
                                changes: &mut EventChanges,
                                errors: &mut FieldErrors| {
        let known = input
            .uuid
            .as_deref()
            .and_then(|uuid| attributes_by_uuid.get(uuid).copied());
        match known {
            Some(stored) => {
                if input
                    .timestamp
                    .is_some_and(|timestamp| timestamp <= stored.timestamp)
                {
                    return;
                }
                let mut updated = stored.clone();
                updated.tags.clear();
                match edit_attribute(&mut updated, input, context) {
                    Ok(_) => {
                        updated.tags = crate::misp::tags::attachments(&input.tags);
                        changes.updated_attributes.push(updated);
                    }
                    Err(problems) => merge_errors(errors, &field, problems),
                }
            }
            None => match new_attribute(input, context) {
                Ok(mut attribute) => {
                    attribute.object_id = object_id;
                    let identity = (
                        attribute.attr_type.clone(),
                        attribute.category.clone(),
                        attribute.value1.clone(),
                        attribute.value2.clone(),
                    );
                    if object_id == 0 && !attribute.deleted && !seen_new.insert(identity) {
                        return;
                    }
                    changes.new_attributes.push(attribute);
                }
                Err(problems) => merge_errors(errors, &field, problems),
            },
        }
    };

    for (index, attribute) in input.attributes.iter().enumerate() {
        upsert_attribute(
            attribute,
            0,
            format!("Attribute.{index}"),
            &mut changes,
            &mut errors,
        );
    }
    for (index, object_input) in input.objects.iter().enumerate() {
        let known = object_input
            .uuid
            .as_deref()
            .and_then(|uuid| objects_by_uuid.get(uuid).copied());
        match known {
            None => match new_object(object_input, context) {
                Ok(object) => changes.new_objects.push(object),
                Err(problems) => merge_errors(&mut errors, &format!("Object.{index}"), problems),
            },
            Some(stored) => {
                let newer = object_input
                    .timestamp
                    .is_none_or(|timestamp| timestamp > stored.timestamp);
                if newer {
                    let mut updated = stored.clone();
                    updated.attributes.clear();
                    updated.references.clear();
                    if let Some(comment) = &object_input.comment {
                        updated.comment = comment.clone();
                    }
                    if let Some(deleted) = object_input.deleted {
                        updated.deleted = deleted;
                    }
                    if let Some(distribution) =
                        object_input.distribution.and_then(Distribution::from_i64)
                    {
                        updated.distribution = distribution;
                    }
                    updated.sharing_group_id = match updated.distribution {
                        Distribution::SharingGroup => object_input
                            .sharing_group_id
                            .unwrap_or(updated.sharing_group_id),
                        _ => 0,
                    };
                    if let Some(first_seen) = object_input.first_seen {
                        updated.first_seen = first_seen;
                    }
                    if let Some(last_seen) = object_input.last_seen {
                        updated.last_seen = last_seen;
                    }
                    updated.timestamp = object_input.timestamp.unwrap_or(context.now);
                    changes.updated_objects.push(updated);
                }
                for (attribute_index, attribute) in object_input.attributes.iter().enumerate() {
                    upsert_attribute(
                        attribute,
                        stored.id,
                        format!("Object.{index}.Attribute.{attribute_index}"),
                        &mut changes,
                        &mut errors,
                    );
                }
                let known_references: HashSet<&str> = stored
                    .references
                    .iter()
                    .map(|reference| reference.uuid.as_str())
                    .collect();
                for (reference_index, reference) in object_input.references.iter().enumerate() {
                    if reference
                        .uuid
                        .as_deref()
                        .is_some_and(|uuid| known_references.contains(uuid))
                    {
                        continue;
                    }
                    match new_object_reference(reference, &stored.uuid, context) {
                        Ok(mut built) => {
                            built.object_id = stored.id;
                            changes.new_references.push(built);
                        }
                        Err(problems) => merge_errors(
                            &mut errors,
                            &format!("Object.{index}.ObjectReference.{reference_index}"),
                            problems,
                        ),
                    }
                }
            }
        }
    }
    changes.add_event_tags = crate::misp::tags::attachments(&input.tags);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(changes)
}

fn merge_errors(into: &mut FieldErrors, prefix: &str, problems: FieldErrors) {
    for (field, messages) in problems.0 {
        for message in messages {
            into.add(&format!("{prefix}.{field}"), message);
        }
    }
}
