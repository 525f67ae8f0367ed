//! From parsed input to model values, applying MISP's defaults, the value massage and
//! validation.
//!
//! Error keys are the MISP field names; errors of nested items are prefixed with the
//! item's list and index, e.g. `Attribute.3.value`, `Object.1.Attribute.0.type`,
//! `Object.0.ObjectReference.2.referenced_uuid`, `Tag.1.name`.

use super::FieldErrors;
use super::input::{
    AttributeInput, EventInput, ObjectInput, ObjectReferenceInput, TagInput, is_uuid,
};
use super::md5::md5_hex;
use base64::Engine as _;
use kizuna_model::attribute_types::{attribute_type, category};
use kizuna_model::normalize::{check_category, normalize_value};
use kizuna_model::{
    Analysis, AttachedTag, Attribute, Distribution, Event, Id, MispObject, ObjectReference,
    ReferencedType, Tag, ThreatLevel,
};
use std::collections::{HashMap, HashSet};
use time::Date;

/// The clock and calendar the build functions use, so tests can fix them.
#[derive(Debug, Clone, Copy)]
pub struct BuildContext {
    pub now: i64,
    pub today: Date,
}

/// Below this many items a map stays on the calling thread: handing half of it to another
/// thread costs tens of microseconds, checking an attribute or converting a STIX object a few.
pub(crate) const SPLIT_AT: usize = 200;

/// `work` over the two halves of `0..count` at once, results in order; one call over
/// everything below `split_at` items (at least two). A TAXII POST converts and checks one
/// envelope at a time while its client waits, so the machine's other core is otherwise idle.
/// The halves go to rayon's pool, whose threads wait for work: a thread started per call
/// waited 2–12 ms to first run on a busy machine (the scheduler queues a new thread behind
/// the running ones), against ~20 µs for one woken.
pub(crate) fn in_halves<T: Send>(
    count: usize,
    split_at: usize,
    work: impl Fn(std::ops::Range<usize>) -> T + Sync,
) -> Vec<T> {
    if count < split_at.max(2) {
        return vec![work(0..count)];
    }
    let middle = count / 2;
    let (first, second) = rayon::join(|| work(0..middle), || work(middle..count));
    vec![first, second]
}

/// PyMISP's namespace for the template uuid of objects that arrive without one
/// (`uuid5(9319371e-…, name)`), so the same object name always gets the same template uuid.
const OBJECT_TEMPLATE_NAMESPACE: uuid::Uuid = uuid::uuid!("9319371e-2504-4128-8410-3741cebbcfd3");

/// A new attribute: uuid generated when absent (v4, lower-case), category defaulting from the
/// type, to_ids from the type, distribution 5, value normalised and split, timestamp = now
/// (or the given one), tags carried as unresolved `AttachedTag`s (tag id 0).
pub fn new_attribute(input: &AttributeInput, ctx: &BuildContext) -> Result<Attribute, FieldErrors> {
    let mut errors = FieldErrors::new();
    let attribute = build_attribute(input, ctx, &mut errors);
    match attribute {
        Some(attribute) if errors.is_empty() => Ok(attribute),
        _ => Err(errors),
    }
}

/// Applies a partial edit in place; re-validates; returns whether anything changed.
/// Bumps `timestamp` when something changed.
///
/// Only the fields present in `input` change; `id`, `uuid` and tags are not touched (tags
/// are attached and detached by the server). On error `existing` is left as it was.
pub fn edit_attribute(
    existing: &mut Attribute,
    input: &AttributeInput,
    ctx: &BuildContext,
) -> Result<bool, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut next = existing.clone();

    let mut revalue = input.value.is_some();
    if let Some(type_name) = non_empty(input.attr_type.as_deref())
        && type_name != existing.attr_type
    {
        match attribute_type(type_name) {
            Some(definition) => {
                next.attr_type = definition.name.to_string();
                revalue = true;
            }
            None => errors.add("type", "Invalid type."),
        }
    }
    if let Some(category_name) = non_empty(input.category.as_deref()) {
        if category(category_name).is_none() {
            errors.add("category", "Invalid category.");
        }
        next.category = category_name.to_string();
    }
    if (next.attr_type != existing.attr_type || next.category != existing.category)
        && !errors.0.contains_key("type")
        && !errors.0.contains_key("category")
        && let Err(error) = check_category(&next.attr_type, &next.category)
    {
        errors.add("category", error.message);
    }
    if let Some(data) = &input.data {
        match check_base64(data) {
            Ok(()) => next.data = Some(data.clone()),
            Err(message) => errors.add("data", message),
        }
    }
    if revalue && !errors.0.contains_key("type") {
        let raw = match &input.value {
            Some(value) => value.clone(),
            None => existing.value(),
        };
        match massage_value(&next.attr_type, &raw, next.data.is_some()) {
            Ok((value1, value2)) => {
                next.value1 = value1;
                next.value2 = value2;
            }
            Err(message) => errors.add("value", message),
        }
    }
    if let Some(to_ids) = input.to_ids {
        next.to_ids = to_ids;
    }
    if let Some(comment) = &input.comment {
        next.comment = comment.clone();
    }
    if input.distribution.is_some() || input.sharing_group_id.is_some() {
        let level = input.distribution.unwrap_or(existing.distribution.as_i64());
        let group = input.sharing_group_id.or(Some(existing.sharing_group_id));
        if let Some((distribution, group)) = check_distribution(level, group, true, &mut errors) {
            next.distribution = distribution;
            next.sharing_group_id = group;
        }
    }
    if let Some(deleted) = input.deleted {
        next.deleted = deleted;
    }
    if let Some(disable) = input.disable_correlation {
        next.disable_correlation = disable;
    }
    if let Some(relation) = &input.object_relation {
        next.object_relation = non_empty(Some(relation)).map(str::to_string);
    }
    if let Some(first_seen) = input.first_seen {
        next.first_seen = first_seen;
    }
    if let Some(last_seen) = input.last_seen {
        next.last_seen = last_seen;
    }
    if input.first_seen.is_some() || input.last_seen.is_some() {
        check_seen(next.first_seen, next.last_seen, &mut errors);
    }
    if let Some(valid_until) = input.valid_until {
        next.valid_until = valid_until;
    }
    if let Some(intended_use) = input.intended_use {
        next.intended_use = intended_use;
    }
    if let Some(status) = input.status {
        next.status = status;
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let changed = next != *existing;
    if changed {
        next.timestamp = input.timestamp.filter(|ts| *ts > 0).unwrap_or(ctx.now);
        *existing = next;
    }
    Ok(changed)
}

/// A new object with its attributes (each built with `new_attribute`, `object_relation`
/// required) and references (source = this object).
///
/// Defaults for what clients with unknown templates leave out: `meta-category` "misc",
/// `description` "", `template_uuid` = uuid5(PyMISP's namespace, name), `template_version`
/// "1" (MISP's default). A deleted object's attributes are deleted too (as MISP captures them).
pub fn new_object(input: &ObjectInput, ctx: &BuildContext) -> Result<MispObject, FieldErrors> {
    let mut errors = FieldErrors::new();
    let object = build_object(input, ctx, &mut errors);
    match object {
        Some(object) if errors.is_empty() => Ok(object),
        _ => Err(errors),
    }
}

/// A reference from the object `source_uuid` (when empty: the input's `object_uuid`).
/// `referenced_type` defaults to 0 (attribute) when not given; `new_event` resolves it
/// from the event's own objects and attributes, otherwise the server has to.
pub fn new_object_reference(
    input: &ObjectReferenceInput,
    source_uuid: &str,
    ctx: &BuildContext,
) -> Result<ObjectReference, FieldErrors> {
    let mut errors = FieldErrors::new();
    let reference = build_reference(input, source_uuid, ctx, &mut errors);
    match reference {
        Some(reference) if errors.is_empty() => Ok(reference),
        _ => Err(errors),
    }
}

/// A new event owned and created by `org_id` (the server resolves a given Orgc afterwards),
/// with its attributes, objects and tags. Errors are keyed like `Attribute.3.value`.
///
/// Like MISP: a given `timestamp` is kept (sync relies on it), otherwise now;
/// `publish_timestamp` is now when the event arrives published, else 0; duplicate
/// attributes (same type, category and normalised value, outside objects, not deleted)
/// are dropped silently; `attribute_count` counts the non-deleted attributes, object
/// attributes included.
pub fn new_event(
    input: &EventInput,
    ctx: &BuildContext,
    org_id: Id,
    user_id: Id,
) -> Result<Event, FieldErrors> {
    new_event_split(input, ctx, org_id, user_id, SPLIT_AT)
}

/// [`new_event`], its attributes built in two halves from `split_at` attributes on.
pub(crate) fn new_event_split(
    input: &EventInput,
    ctx: &BuildContext,
    org_id: Id,
    user_id: Id,
    split_at: usize,
) -> Result<Event, FieldErrors> {
    let mut errors = FieldErrors::new();

    let info = input.info.as_deref().map(str::trim).unwrap_or("");
    if info.is_empty() {
        errors.add("info", "Info cannot be empty.");
    }
    let uuid = checked_uuid(input.uuid.as_deref(), "uuid", &mut errors);
    let date = input.date.unwrap_or(ctx.today);
    let mut event = Event::new(uuid, info.to_string(), date, org_id, ctx.now);
    event.user_id = user_id;
    if let Some(level) = checked_threat_level(input.threat_level_id.unwrap_or(4), &mut errors) {
        event.threat_level = level;
    }
    if let Some(analysis) = checked_analysis(input.analysis.unwrap_or(0), &mut errors) {
        event.analysis = analysis;
    }
    if let Some((distribution, group)) = check_distribution(
        input.distribution.unwrap_or(0),
        input.sharing_group_id,
        false,
        &mut errors,
    ) {
        event.distribution = distribution;
        event.sharing_group_id = group;
    }
    event.published = input.published.unwrap_or(false);
    event.publish_timestamp = if event.published { ctx.now } else { 0 };
    event.timestamp = input.timestamp.filter(|ts| *ts > 0).unwrap_or(ctx.now);
    event.disable_correlation = input.disable_correlation.unwrap_or(false);
    event.protected = input.protected.flatten();
    if let Some(extends) = &input.extends_uuid
        && let Some(extends) = checked_extends_uuid(extends, &mut errors)
    {
        event.extends_uuid = extends;
    }

    // Each attribute is built on its own; only the duplicate check below needs them in order.
    let attributes = in_halves(input.attributes.len(), split_at, |range| {
        input.attributes[range]
            .iter()
            .map(|attribute_input| {
                let mut item_errors = FieldErrors::new();
                let built = build_attribute(attribute_input, ctx, &mut item_errors);
                (built, item_errors)
            })
            .collect::<Vec<_>>()
    });
    let attributes: Vec<(Option<Attribute>, FieldErrors)> =
        attributes.into_iter().flatten().collect();
    // A value given twice (same type, category and values) is kept once, the first time.
    let keep: Vec<bool> = {
        let mut seen_values: HashSet<(&str, &str, &str, &str), foldhash::fast::RandomState> =
            HashSet::with_capacity_and_hasher(attributes.len(), Default::default());
        attributes
            .iter()
            .map(|(built, _)| match built {
                Some(attribute) if !attribute.deleted => seen_values.insert((
                    &attribute.attr_type,
                    &attribute.category,
                    &attribute.value1,
                    &attribute.value2,
                )),
                Some(_) => true,
                None => false,
            })
            .collect()
    };
    event.attributes.reserve(attributes.len());
    for (index, ((built, item_errors), keep)) in attributes.into_iter().zip(keep).enumerate() {
        if !item_errors.is_empty() {
            merge_prefixed(&mut errors, &format!("Attribute.{index}."), item_errors);
        }
        if let Some(attribute) = built.filter(|_| keep) {
            event.attributes.push(attribute);
        }
    }

    for (index, object_input) in input.objects.iter().enumerate() {
        let mut item_errors = FieldErrors::new();
        let built = build_object(object_input, ctx, &mut item_errors);
        if !item_errors.is_empty() {
            merge_prefixed(&mut errors, &format!("Object.{index}."), item_errors);
        }
        if let Some(object) = built {
            event.objects.push(object);
        }
    }

    event.tags = attached_tags(&input.tags, "Tag.", &mut errors);

    if !errors.is_empty() {
        return Err(errors);
    }

    resolve_reference_types(input, &mut event);
    event.attribute_count = event.attributes.iter().filter(|a| !a.deleted).count() as i64
        + event
            .objects
            .iter()
            .flat_map(|object| object.attributes.iter())
            .filter(|a| !a.deleted)
            .count() as i64;
    Ok(event)
}

/// Applies the scalar fields of an event edit (not its attributes/objects/tags).
///
/// Only fields present in `input` change (info, date, threat_level_id, analysis,
/// distribution, sharing_group_id, published, disable_correlation, extends_uuid,
/// protected). When something changed, `timestamp` becomes the given one or now.
/// `publish_timestamp` is left to the server's publish logic. On error `existing` is
/// left as it was.
pub fn edit_event_fields(
    existing: &mut Event,
    input: &EventInput,
    ctx: &BuildContext,
) -> Result<bool, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut next = existing.clone();

    if let Some(info) = &input.info {
        let info = info.trim();
        if info.is_empty() {
            errors.add("info", "Info cannot be empty.");
        } else {
            next.info = info.to_string();
        }
    }
    if let Some(date) = input.date {
        next.date = date;
    }
    if let Some(level) = input.threat_level_id
        && let Some(level) = checked_threat_level(level, &mut errors)
    {
        next.threat_level = level;
    }
    if let Some(analysis) = input.analysis
        && let Some(analysis) = checked_analysis(analysis, &mut errors)
    {
        next.analysis = analysis;
    }
    if input.distribution.is_some() || input.sharing_group_id.is_some() {
        let level = input.distribution.unwrap_or(existing.distribution.as_i64());
        let group = input.sharing_group_id.or(Some(existing.sharing_group_id));
        if let Some((distribution, group)) = check_distribution(level, group, false, &mut errors) {
            next.distribution = distribution;
            next.sharing_group_id = group;
        }
    }
    if let Some(published) = input.published {
        next.published = published;
    }
    if let Some(disable) = input.disable_correlation {
        next.disable_correlation = disable;
    }
    if let Some(extends) = &input.extends_uuid
        && let Some(extends) = checked_extends_uuid(extends, &mut errors)
    {
        next.extends_uuid = extends;
    }
    if let Some(protected) = input.protected {
        next.protected = protected;
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let changed = next != *existing;
    if changed {
        next.timestamp = input.timestamp.filter(|ts| *ts > 0).unwrap_or(ctx.now);
        *existing = next;
    }
    Ok(changed)
}

/// A new tag: name required (trimmed, cut to 255 bytes like MISP), colour as sent
/// (`#` + 6 hex digits) or MISP's default `'#' . substr(md5(name), 0, 6)`, exportable
/// true, hide_tag / local_only false, org_id / user_id 0 (anyone), `is_galaxy` and
/// `is_custom_galaxy` derived from the name as MISP does.
pub fn new_tag(input: &TagInput) -> Result<Tag, FieldErrors> {
    let mut errors = FieldErrors::new();
    let name = checked_tag_name(input.name.as_deref(), &mut errors);
    let colour = match input
        .colour
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(colour) => {
            if !is_colour(colour) {
                errors.add("colour", "Colour has to be in the RGB format (#FFFFFF)");
            }
            colour.to_string()
        }
        None => tag_colour(&name),
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Tag {
        id: 0,
        is_galaxy: is_galaxy_tag(&name),
        is_custom_galaxy: is_custom_galaxy_tag(&name),
        name,
        colour,
        exportable: input.exportable.unwrap_or(true),
        org_id: input.org_id.unwrap_or(0),
        user_id: input.user_id.unwrap_or(0),
        hide_tag: input.hide_tag.unwrap_or(false),
        numerical_value: input.numerical_value.flatten(),
        local_only: input.local_only.unwrap_or(false),
    })
}

/// Applies the given fields of a tag edit; returns whether anything changed.
pub fn edit_tag(existing: &mut Tag, input: &TagInput) -> Result<bool, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut next = existing.clone();
    if input.name.is_some() {
        let name = checked_tag_name(input.name.as_deref(), &mut errors);
        next.is_galaxy = is_galaxy_tag(&name);
        next.is_custom_galaxy = is_custom_galaxy_tag(&name);
        next.name = name;
    }
    if let Some(colour) = input
        .colour
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        if is_colour(colour) {
            next.colour = colour.to_string();
        } else {
            errors.add("colour", "Colour has to be in the RGB format (#FFFFFF)");
        }
    }
    if let Some(exportable) = input.exportable {
        next.exportable = exportable;
    }
    if let Some(hide) = input.hide_tag {
        next.hide_tag = hide;
    }
    if let Some(org_id) = input.org_id {
        next.org_id = org_id;
    }
    if let Some(user_id) = input.user_id {
        next.user_id = user_id;
    }
    if let Some(numerical_value) = input.numerical_value {
        next.numerical_value = numerical_value;
    }
    if let Some(local_only) = input.local_only {
        next.local_only = local_only;
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let changed = next != *existing;
    *existing = next;
    Ok(changed)
}

/// MISP's default colour for a tag name: `#` and the first six hex digits of md5(name).
pub fn tag_colour(name: &str) -> String {
    // An import attaches the same few tags to thousands of attributes: the last name's
    // colour is kept rather than hashed again each time.
    thread_local! {
        static LAST: std::cell::RefCell<(String, String)> = const {
            std::cell::RefCell::new((String::new(), String::new()))
        };
    }
    LAST.with_borrow_mut(|(last_name, last_colour)| {
        if last_colour.is_empty() || last_name != name {
            *last_colour = format!("#{}", &md5_hex(name.as_bytes())[..6]);
            name.clone_into(last_name);
        }
        last_colour.clone()
    })
}

/// MISP's `is_galaxy` rule: the name contains `misp-galaxy:<type>="<value>` (case-insensitive).
pub fn is_galaxy_tag(name: &str) -> bool {
    galaxy_match(name, false)
}

/// MISP's `is_custom_galaxy` rule: `misp-galaxy:<type>="<uuid>"`.
pub fn is_custom_galaxy_tag(name: &str) -> bool {
    galaxy_match(name, true)
}

// ---------------------------------------------------------------------------------------
// Internals
// ---------------------------------------------------------------------------------------

fn merge_prefixed(into: &mut FieldErrors, prefix: &str, from: FieldErrors) {
    for (field, problems) in from.0 {
        let key = format!("{prefix}{field}");
        for problem in problems {
            into.add(&key, problem);
        }
    }
}

fn error_count(errors: &FieldErrors) -> usize {
    errors.0.values().map(Vec::len).sum()
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn checked_uuid(given: Option<&str>, field: &str, errors: &mut FieldErrors) -> String {
    match non_empty(given) {
        Some(uuid) if is_uuid(uuid) => uuid.to_ascii_lowercase(),
        Some(_) => {
            errors.add(field, "must be a UUID");
            String::new()
        }
        None => new_uuid(),
    }
}

fn checked_extends_uuid(given: &str, errors: &mut FieldErrors) -> Option<String> {
    let given = given.trim();
    if given.is_empty() {
        Some(String::new())
    } else if is_uuid(given) {
        Some(given.to_ascii_lowercase())
    } else {
        errors.add(
            "extends_uuid",
            "must be the UUID of the extended event, or empty",
        );
        None
    }
}

fn checked_threat_level(level: i64, errors: &mut FieldErrors) -> Option<ThreatLevel> {
    let parsed = ThreatLevel::from_i64(level);
    if parsed.is_none() {
        errors.add(
            "threat_level_id",
            "must be 1 (High), 2 (Medium), 3 (Low) or 4 (Undefined)",
        );
    }
    parsed
}

fn checked_analysis(analysis: i64, errors: &mut FieldErrors) -> Option<Analysis> {
    let parsed = Analysis::from_i64(analysis);
    if parsed.is_none() {
        errors.add(
            "analysis",
            "must be 0 (Initial), 1 (Ongoing) or 2 (Completed)",
        );
    }
    parsed
}

/// Distribution level and the sharing group that goes with it (0 unless level 4, which
/// requires a sharing group id > 0).
fn check_distribution(
    level: i64,
    sharing_group_id: Option<i64>,
    allow_inherit: bool,
    errors: &mut FieldErrors,
) -> Option<(Distribution, Id)> {
    let distribution =
        Distribution::from_i64(level).filter(|d| allow_inherit || d.valid_for_event());
    let Some(distribution) = distribution else {
        if allow_inherit {
            errors.add("distribution", "must be an integer 0-5");
        } else {
            errors.add(
                "distribution",
                "must be an integer 0-4 (5, inherit event, is only for attributes and objects)",
            );
        }
        return None;
    };
    if distribution == Distribution::SharingGroup {
        match sharing_group_id {
            Some(group) if group > 0 => Some((distribution, group)),
            _ => {
                errors.add(
                    "sharing_group_id",
                    "a sharing group is required when distribution is 4 (sharing group)",
                );
                None
            }
        }
    } else {
        Some((distribution, 0))
    }
}

fn check_seen(first_seen: Option<i64>, last_seen: Option<i64>, errors: &mut FieldErrors) {
    if let (Some(first), Some(last)) = (first_seen, last_seen)
        && last < first
    {
        errors.add(
            "last_seen",
            "Last seen value should be greater than first seen value",
        );
    }
}

fn check_base64(data: &str) -> Result<(), String> {
    let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
    let standard = base64::engine::general_purpose::STANDARD;
    let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD;
    if standard.decode(&compact).is_ok() || unpadded.decode(&compact).is_ok() {
        Ok(())
    } else {
        Err("must be base64-encoded content".to_string())
    }
}

/// MISP's value massage (trim, refang, the type's normalisation, validation, composite
/// split) from `kizuna_model::normalize`. An `attachment` / `malware-sample` that carries
/// its content in `data` may come without a value, and a new `malware-sample` may name only
/// the file: the server completes it once it has packed the payload (`filename|md5`).
fn massage_value(type_name: &str, raw: &str, has_data: bool) -> Result<(String, String), String> {
    let carries_file = has_data && matches!(type_name, "attachment" | "malware-sample");
    let trimmed = raw.trim();
    if carries_file && trimmed.is_empty() {
        return Ok((String::new(), String::new()));
    }
    if carries_file && type_name == "malware-sample" && !trimmed.contains('|') {
        return Ok((trimmed.to_string(), String::new()));
    }
    if trimmed.is_empty() {
        return Err("Value cannot be empty.".to_string());
    }
    let normalized = normalize_value(type_name, raw).map_err(|error| error.message)?;
    Ok((normalized.value1, normalized.value2))
}

fn build_attribute(
    input: &AttributeInput,
    ctx: &BuildContext,
    errors: &mut FieldErrors,
) -> Option<Attribute> {
    let start = error_count(errors);
    let definition = match non_empty(input.attr_type.as_deref()) {
        None => {
            errors.add("type", "No type set.");
            None
        }
        Some(type_name) => {
            let definition = attribute_type(type_name);
            if definition.is_none() {
                errors.add("type", "Invalid type.");
            }
            definition
        }
    };
    let category_name = match non_empty(input.category.as_deref()) {
        Some(category_name) => {
            if category(category_name).is_none() {
                errors.add("category", "Invalid category.");
            } else if let Some(definition) = definition
                && let Err(error) = check_category(definition.name, category_name)
            {
                errors.add("category", error.message);
            }
            category_name.to_string()
        }
        None => definition
            .map(|d| d.default_category.to_string())
            .unwrap_or_default(),
    };
    let data = match &input.data {
        Some(data) => match check_base64(data) {
            Ok(()) => Some(data.clone()),
            Err(message) => {
                errors.add("data", message);
                None
            }
        },
        None => None,
    };
    let (value1, value2) = match definition {
        Some(definition) => {
            match massage_value(
                definition.name,
                input.value.as_deref().unwrap_or(""),
                input.data.is_some(),
            ) {
                Ok(values) => values,
                Err(message) => {
                    errors.add("value", message);
                    Default::default()
                }
            }
        }
        None => {
            if non_empty(input.value.as_deref()).is_none() {
                errors.add("value", "Value cannot be empty.");
            }
            Default::default()
        }
    };
    let distribution = check_distribution(
        input
            .distribution
            .unwrap_or(Distribution::InheritEvent.as_i64()),
        input.sharing_group_id,
        true,
        errors,
    );
    let uuid = checked_uuid(input.uuid.as_deref(), "uuid", errors);
    let first_seen = input.first_seen.flatten();
    let last_seen = input.last_seen.flatten();
    check_seen(first_seen, last_seen, errors);

    if error_count(errors) != start || definition.is_none() {
        return None;
    }
    let definition = definition?;
    let (distribution, sharing_group_id) = distribution?;
    let mut attribute = Attribute::new(
        uuid,
        definition.name.to_string(),
        category_name,
        value1,
        value2,
    );
    attribute.to_ids = input.to_ids.unwrap_or(definition.to_ids);
    attribute.comment = input.comment.clone().unwrap_or_default();
    attribute.distribution = distribution;
    attribute.sharing_group_id = sharing_group_id;
    attribute.timestamp = input.timestamp.filter(|ts| *ts > 0).unwrap_or(ctx.now);
    attribute.deleted = input.deleted.unwrap_or(false);
    attribute.disable_correlation = input.disable_correlation.unwrap_or(false);
    attribute.object_relation = non_empty(input.object_relation.as_deref()).map(str::to_string);
    attribute.first_seen = first_seen;
    attribute.last_seen = last_seen;
    attribute.valid_until = input.valid_until.flatten();
    attribute.intended_use = input.intended_use.flatten();
    attribute.status = input.status.flatten();
    attribute.data = data;
    let mut tag_errors = FieldErrors::new();
    attribute.tags = attached_tags(&input.tags, "Tag.", &mut tag_errors);
    if !tag_errors.is_empty() {
        merge_prefixed(errors, "", tag_errors);
        return None;
    }
    Some(attribute)
}

fn build_object(
    input: &ObjectInput,
    ctx: &BuildContext,
    errors: &mut FieldErrors,
) -> Option<MispObject> {
    let start = error_count(errors);
    let name = non_empty(input.name.as_deref()).unwrap_or("");
    if name.is_empty() {
        errors.add("name", "Object name cannot be empty.");
    }
    let uuid = checked_uuid(input.uuid.as_deref(), "uuid", errors);
    let template_uuid = match non_empty(input.template_uuid.as_deref()) {
        Some(template) if is_uuid(template) => template.to_ascii_lowercase(),
        Some(_) => {
            errors.add("template_uuid", "must be a UUID");
            String::new()
        }
        None => uuid::Uuid::new_v5(&OBJECT_TEMPLATE_NAMESPACE, name.as_bytes()).to_string(),
    };
    let template_version = match non_empty(input.template_version.as_deref()) {
        Some(version) if version.bytes().all(|b| b.is_ascii_digit()) => {
            version.trim_start_matches('0').to_string()
        }
        Some(_) => {
            errors.add("template_version", "must be a whole number");
            String::new()
        }
        None => String::new(),
    };
    let template_version = if template_version.is_empty() {
        "1".to_string()
    } else {
        template_version
    };
    let distribution = check_distribution(
        input
            .distribution
            .unwrap_or(Distribution::InheritEvent.as_i64()),
        input.sharing_group_id,
        true,
        errors,
    );
    let first_seen = input.first_seen.flatten();
    let last_seen = input.last_seen.flatten();
    check_seen(first_seen, last_seen, errors);
    let deleted = input.deleted.unwrap_or(false);

    let mut attributes = Vec::with_capacity(input.attributes.len());
    for (index, attribute_input) in input.attributes.iter().enumerate() {
        let mut item_errors = FieldErrors::new();
        if non_empty(attribute_input.object_relation.as_deref()).is_none() {
            item_errors.add(
                "object_relation",
                "Object attribute sent, but no object_relation set.",
            );
        }
        let built = build_attribute(attribute_input, ctx, &mut item_errors);
        let failed = !item_errors.is_empty();
        merge_prefixed(errors, &format!("Attribute.{index}."), item_errors);
        if let Some(mut attribute) = built
            && !failed
        {
            if deleted {
                attribute.deleted = true;
            }
            attributes.push(attribute);
        }
    }
    let mut references = Vec::with_capacity(input.references.len());
    for (index, reference_input) in input.references.iter().enumerate() {
        let mut item_errors = FieldErrors::new();
        let built = build_reference(reference_input, &uuid, ctx, &mut item_errors);
        merge_prefixed(errors, &format!("ObjectReference.{index}."), item_errors);
        if let Some(reference) = built {
            references.push(reference);
        }
    }

    if error_count(errors) != start {
        return None;
    }
    let (distribution, sharing_group_id) = distribution?;
    Some(MispObject {
        id: 0,
        uuid,
        event_id: 0,
        name: name.to_string(),
        meta_category: non_empty(input.meta_category.as_deref())
            .unwrap_or("misc")
            .to_string(),
        description: input.description.clone().unwrap_or_default(),
        template_uuid,
        template_version,
        timestamp: input.timestamp.filter(|ts| *ts > 0).unwrap_or(ctx.now),
        distribution,
        sharing_group_id,
        comment: input.comment.clone().unwrap_or_default(),
        deleted,
        first_seen,
        last_seen,
        attributes,
        references,
    })
}

fn build_reference(
    input: &ObjectReferenceInput,
    source_uuid: &str,
    ctx: &BuildContext,
    errors: &mut FieldErrors,
) -> Option<ObjectReference> {
    let start = error_count(errors);
    let uuid = checked_uuid(input.uuid.as_deref(), "uuid", errors);
    let source_uuid = match non_empty(Some(source_uuid)).or(non_empty(input.object_uuid.as_deref()))
    {
        Some(source) if is_uuid(source) => source.to_ascii_lowercase(),
        Some(_) => {
            errors.add("object_uuid", "must be a UUID");
            String::new()
        }
        None => String::new(),
    };
    let referenced_uuid = match non_empty(input.referenced_uuid.as_deref()) {
        Some(referenced) if is_uuid(referenced) => referenced.to_ascii_lowercase(),
        Some(_) => {
            errors.add("referenced_uuid", "must be a UUID");
            String::new()
        }
        None => {
            if input.referenced_id.is_none_or(|id| id <= 0) {
                errors.add(
                    "referenced_uuid",
                    "the referenced attribute or object is required",
                );
            }
            String::new()
        }
    };
    let referenced_type = match input.referenced_type {
        None => ReferencedType::Attribute,
        Some(kind) => match ReferencedType::from_i64(kind) {
            Some(kind) => kind,
            None => {
                errors.add("referenced_type", "must be 0 (attribute) or 1 (object)");
                ReferencedType::Attribute
            }
        },
    };
    if error_count(errors) != start {
        return None;
    }
    Some(ObjectReference {
        id: 0,
        uuid,
        object_id: input.object_id.unwrap_or(0),
        event_id: 0,
        source_uuid,
        referenced_uuid,
        referenced_id: input.referenced_id.unwrap_or(0),
        referenced_type,
        relationship_type: input
            .relationship_type
            .as_deref()
            .map(str::trim)
            .unwrap_or("")
            .to_string(),
        comment: input.comment.clone().unwrap_or_default(),
        timestamp: input.timestamp.filter(|ts| *ts > 0).unwrap_or(ctx.now),
        deleted: input.deleted.unwrap_or(false),
    })
}

/// References that did not say what they point at get the kind of the event item with
/// that uuid (objects first, as MISP looks them up).
fn resolve_reference_types(input: &EventInput, event: &mut Event) {
    let mut kinds: HashMap<String, ReferencedType> = HashMap::new();
    for attribute in &event.attributes {
        kinds.insert(attribute.uuid.clone(), ReferencedType::Attribute);
    }
    for object in &event.objects {
        for attribute in &object.attributes {
            kinds.insert(attribute.uuid.clone(), ReferencedType::Attribute);
        }
    }
    for object in &event.objects {
        kinds.insert(object.uuid.clone(), ReferencedType::Object);
    }
    for (object, object_input) in event.objects.iter_mut().zip(&input.objects) {
        for (reference, reference_input) in
            object.references.iter_mut().zip(&object_input.references)
        {
            if reference_input.referenced_type.is_none()
                && let Some(kind) = kinds.get(&reference.referenced_uuid)
            {
                reference.referenced_type = *kind;
            }
        }
    }
}

fn checked_tag_name(given: Option<&str>, errors: &mut FieldErrors) -> String {
    let name = given.map(str::trim).unwrap_or("");
    if name.is_empty() {
        errors.add("name", "This field is required.");
        return String::new();
    }
    truncate_bytes(name, 255).to_string()
}

fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn is_colour(colour: &str) -> bool {
    colour.len() == 7
        && colour.starts_with('#')
        && colour[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Tags as they arrive inside an event or attribute, not yet matched to stored tags
/// (the server resolves them by name, or by id when no name is given).
fn attached_tags(inputs: &[TagInput], prefix: &str, errors: &mut FieldErrors) -> Vec<AttachedTag> {
    let mut tags: Vec<AttachedTag> = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.iter().enumerate() {
        let name = input.name.as_deref().map(str::trim).unwrap_or("");
        if name.is_empty() && input.id.is_none_or(|id| id <= 0) {
            errors.add(&format!("{prefix}{index}.name"), "A tag name is required.");
            continue;
        }
        let name = truncate_bytes(name, 255).to_string();
        if !name.is_empty() && tags.iter().any(|tag| tag.tag.name == name) {
            continue;
        }
        let colour = match input.colour.as_deref().map(str::trim) {
            Some(colour) if is_colour(colour) => colour.to_string(),
            _ if name.is_empty() => String::new(),
            _ => tag_colour(&name),
        };
        tags.push(AttachedTag {
            tag: Tag {
                id: input.id.unwrap_or(0),
                is_galaxy: is_galaxy_tag(&name),
                is_custom_galaxy: is_custom_galaxy_tag(&name),
                name,
                colour,
                exportable: input.exportable.unwrap_or(true),
                org_id: input.org_id.unwrap_or(0),
                user_id: input.user_id.unwrap_or(0),
                hide_tag: input.hide_tag.unwrap_or(false),
                numerical_value: input.numerical_value.flatten(),
                local_only: input.local_only.unwrap_or(false),
            },
            local: input.local.unwrap_or(false),
            relationship_type: input.relationship_type.clone().flatten(),
        });
    }
    tags
}

fn galaxy_match(name: &str, custom: bool) -> bool {
    const PREFIX: &str = "misp-galaxy:";
    // Most tags are not galaxy clusters; the prefix holds a colon, so no colon, no cluster.
    if !name.as_bytes().contains(&b':') {
        return false;
    }
    let lower = name.to_ascii_lowercase();
    let stop = |c: char| matches!(c, ':' | '=' | '"');
    let mut from = 0;
    while let Some(found) = lower[from..].find(PREFIX) {
        let rest = &name[from + found + PREFIX.len()..];
        from += found + PREFIX.len();
        let kind_len = rest.find(stop).unwrap_or(rest.len());
        if kind_len == 0 {
            continue;
        }
        let Some(value) = rest[kind_len..].strip_prefix("=\"") else {
            continue;
        };
        if custom {
            if value.len() > 36 && is_uuid(&value[..36]) && value[36..].starts_with('"') {
                return true;
            }
        } else if value.chars().next().is_some_and(|c| !stop(c)) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_tag_colour_is_misps() {
        // '#' . substr(md5('tlp:white'), 0, 6)
        assert_eq!(
            tag_colour("tlp:white"),
            format!("#{}", &md5_hex(b"tlp:white")[..6])
        );
        assert_eq!(tag_colour("abc"), "#900150");
    }

    #[test]
    fn galaxy_names() {
        assert!(is_galaxy_tag("misp-galaxy:threat-actor=\"Sofacy\""));
        assert!(is_galaxy_tag(
            "MISP-GALAXY:mitre-attack-pattern=\"Launch Daemon - T1543.004\""
        ));
        assert!(!is_galaxy_tag("tlp:white"));
        assert!(!is_galaxy_tag("misp-galaxy:threat-actor"));
        assert!(!is_custom_galaxy_tag("misp-galaxy:threat-actor=\"Sofacy\""));
        assert!(is_custom_galaxy_tag(
            "misp-galaxy:threat-actor=\"5a3c2fcd-8328-42bb-a95e-4f4402de0b81\""
        ));
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        let long = "é".repeat(200);
        let cut = truncate_bytes(&long, 255);
        assert!(cut.len() <= 255);
        assert_eq!(cut.len(), 254);
    }
}
