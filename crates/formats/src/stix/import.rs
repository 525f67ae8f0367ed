//! MISP events out of STIX 2.1 (and 2.0) content: a bundle, a TAXII envelope
//! (`{"objects": […]}`) or a single object (stix-taxii-reference A.9, import side).
//!
//! Every report and grouping becomes one event; objects that no report or grouping holds
//! form one more event named after the source. Indicators become attributes with `to_ids`
//! set, observables (observed-data and the cyber-observable objects) attributes without it,
//! threat-intelligence objects (malware, attack patterns, …) galaxy tags, TLP markings
//! `tlp:*` tags and labels plain tags.
//!
//! Bundles written by misp-stix carry MISP's own vocabulary in labels (`misp:type="…"`,
//! `misp:category="…"`, `misp:name="file"`) and custom `x-misp-attribute`/`x-misp-object`
//! objects; those are read back to the exact MISP types, categories and objects, and the
//! indicator/observed-data pair misp-stix writes for one attribute collapses into that one
//! attribute.
//!
//! What cannot be imported is reported per object ([`Rejection`], located as
//! `objects[12] indicator--…`) and the rest is imported: a pattern Kizuna cannot express as
//! attributes, a value MISP's validation refuses, an unknown object type. Every attribute is
//! checked with the same parser and builder the MISP API uses, so the events returned are
//! accepted whole.
//!
//! The result is deterministic: identifiers come from the STIX ids (their UUID part when it
//! is one and unambiguous, otherwise a UUIDv5 of the STIX id), so importing the same
//! content twice yields the same events.

use super::markings::{tag_for_marking, tag_for_marking_id};
use super::pattern_parse::{
    PathValue, attributes_from_facts, canonical_path, misp_hash_type, pattern_equality_groups,
};
use super::property;
use crate::misp::FieldErrors;
use crate::misp::build::{BuildContext, SPLIT_AT, in_halves, new_attribute};
use crate::misp::input::{
    AttributeInput, EventInput, ObjectInput, ObjectReferenceInput, OrgInput, TagInput, is_uuid,
    lenient_date, parse_datetime_micros,
};
use crate::report::Rejection;
use kizuna_model::attribute_types::{attribute_type, category_allows};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use time::{Date, Month};

/// How to name what the content itself does not name.
#[derive(Clone, Debug, Default)]
pub struct StixImportOptions {
    /// The `info` of the event holding objects no report or grouping references (a file
    /// name or URL is a good choice).
    pub default_info: String,
}

/// The events found, as MISP JSON (`{"Event": {...}}`, the body `/events/add` accepts),
/// and what could not be imported.
#[derive(Clone, Debug, Default)]
pub struct StixImport {
    pub events: Vec<Value>,
    pub rejected: Vec<Rejection>,
}

/// The events found as the MISP API's typed input: what `parse_event` makes of each of
/// [`StixImport::events`], for a caller that saves them at once (no JSON tree built only to
/// be read back).
#[derive(Clone, Debug, Default)]
pub struct StixInputs {
    pub events: Vec<ParsedEvent>,
    pub rejected: Vec<Rejection>,
}

/// One event as `parse_event` reads it, with the field errors that parse would report
/// (the event is refused when they name the event, its items left out when they name
/// items).
#[derive(Clone, Debug, Default)]
pub struct ParsedEvent {
    pub input: EventInput,
    pub errors: FieldErrors,
}

/// Namespace of the UUIDv5s this importer derives from STIX ids.
const IMPORT_NAMESPACE: uuid::Uuid = uuid::uuid!("8f526fe4-b813-4372-9a7e-76d48a747abd");

/// The label misp-stix puts on every report and grouping; not a tag of the source event.
const MISP_STIX_REPORT_LABEL: &str = "Threat-Report";

/// Converts STIX content to MISP events (see the module documentation).
pub fn bundle_to_misp_events(content: &Value, options: &StixImportOptions) -> StixImport {
    let (events, rejected) = convert(content, options, |finished, _| render_event(finished));
    StixImport { events, rejected }
}

/// [`bundle_to_misp_events`] as typed input, the same events and rejections.
pub fn bundle_to_event_inputs(content: &Value, options: &StixImportOptions) -> StixInputs {
    let (events, rejected) = convert(content, options, typed_event);
    StixInputs { events, rejected }
}

fn convert<R>(
    content: &Value,
    options: &StixImportOptions,
    // Given the split threshold too, for renders that split their own work.
    render: impl Fn(Finished<'_, '_>, usize) -> R,
) -> (Vec<R>, Vec<Rejection>) {
    convert_split(content, options, render, SPLIT_AT)
}

/// [`convert`], the objects converted in two halves from `split_at` objects on.
fn convert_split<R>(
    content: &Value,
    options: &StixImportOptions,
    render: impl Fn(Finished<'_, '_>, usize) -> R,
    split_at: usize,
) -> (Vec<R>, Vec<Rejection>) {
    let mut rejected = Vec::new();
    let Some(bundle) = Bundle::read(content, &mut rejected) else {
        return (Vec::new(), rejected);
    };
    let importer = Importer::new(&bundle);
    // An object's contribution depends on the bundle alone, so halves can be converted
    // apart; rejections stay in object order as each half keeps its own.
    let halves = in_halves(bundle.objects.len(), split_at, |range| {
        let mut found = Vec::new();
        let contributions: Vec<Contribution> = range
            .map(|index| importer.contribution(index, &mut found))
            .collect();
        (contributions, found)
    });
    let mut contributions = Vec::with_capacity(bundle.objects.len());
    for (half, found) in halves {
        contributions.extend(half);
        rejected.extend(found);
    }
    let events = importer
        .events(contributions, options)
        .into_iter()
        .map(|finished| render(finished, split_at))
        .collect();
    rejected.sort_by_key(|rejection| object_position(&rejection.location));
    (events, rejected)
}

/// `n` of a location `objects[n] …`, to report rejections in input order.
fn object_position(location: &str) -> Option<usize> {
    location
        .strip_prefix("objects[")?
        .split_once(']')?
        .0
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------
// The bundle
// ---------------------------------------------------------------------------------------

/// The conversion's lookups are never iterated, so their hasher decides no order.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

struct StixObject<'a> {
    /// Position in the input's `objects` list.
    index: usize,
    id: &'a str,
    kind: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> StixObject<'a> {
    fn location(&self) -> String {
        format!("objects[{}] {}", self.index, self.id)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        property(self.map, key)
    }

    fn text(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(Value::as_str)
    }

    fn strings(&self, key: &str) -> Vec<&'a str> {
        string_list(self.get(key))
    }

    fn labels(&self) -> Vec<&'a str> {
        self.strings("labels")
    }

    /// The value of misp-stix's label `misp:<name>="<value>"`.
    fn misp_label(&self, name: &str) -> Option<&'a str> {
        self.labels().into_iter().find_map(|label| {
            label
                .strip_prefix("misp:")?
                .strip_prefix(name)?
                .strip_prefix("=\"")?
                .strip_suffix('"')
        })
    }

    /// Labels that are tags of the source (not misp-stix's `misp:` bookkeeping).
    fn tag_labels(&self) -> Vec<String> {
        self.labels()
            .into_iter()
            .filter(|label| !label.starts_with("misp:"))
            .map(str::to_string)
            .collect()
    }

    fn uuid_part(&self) -> Option<String> {
        uuid_of(self.id)
    }

    fn modified_micros(&self) -> Option<i64> {
        self.text("modified")
            .or_else(|| self.text("created"))
            .and_then(parse_datetime_micros)
    }

    fn modified_seconds(&self) -> Option<i64> {
        self.modified_micros()
            .map(|micros| micros.div_euclid(1_000_000))
    }
}

fn string_list(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(text)) => vec![text.as_str()],
        _ => Vec::new(),
    }
}

/// The UUID of a STIX id (`indicator--<uuid>`), lower-cased, when it is a valid one.
fn uuid_of(id: &str) -> Option<String> {
    let (_, part) = id.split_once("--")?;
    is_uuid(part).then(|| part.to_ascii_lowercase())
}

struct Bundle<'a> {
    /// The latest version of every object, in input order.
    objects: Vec<StixObject<'a>>,
    by_id: FastMap<&'a str, usize>,
    bundle_id: Option<&'a str>,
}

impl<'a> Bundle<'a> {
    fn read(content: &'a Value, rejected: &mut Vec<Rejection>) -> Option<Self> {
        let (items, bundle_id): (Vec<&Value>, Option<&str>) = match content {
            Value::Object(map) => match map.get("objects") {
                Some(Value::Array(items)) => (
                    items.iter().collect(),
                    map.get("id").and_then(Value::as_str),
                ),
                Some(_) => {
                    rejected.push(Rejection::new(
                        "objects",
                        "",
                        "must be a list of STIX objects",
                    ));
                    return None;
                }
                None if map.get("type").and_then(Value::as_str) == Some("bundle") => {
                    (Vec::new(), map.get("id").and_then(Value::as_str))
                }
                None if map.contains_key("type") => (vec![content], None),
                None => {
                    rejected.push(Rejection::new(
                        "input",
                        "",
                        "not STIX content: expected a bundle, a TAXII envelope ({\"objects\": [...]}) or a STIX object",
                    ));
                    return None;
                }
            },
            Value::Array(items) => (items.iter().collect(), None),
            _ => {
                rejected.push(Rejection::new(
                    "input",
                    "",
                    "not STIX content: expected a JSON object or a list of STIX objects",
                ));
                return None;
            }
        };
        let mut bundle = Bundle {
            objects: Vec::new(),
            by_id: FastMap::with_capacity_and_hasher(items.len(), Default::default()),
            bundle_id,
        };
        for (index, item) in items.into_iter().enumerate() {
            let parsed = item.as_object().and_then(|map| {
                let kind = property(map, "type")?.as_str()?;
                let id = property(map, "id")?.as_str()?;
                Some(StixObject {
                    index,
                    id,
                    kind,
                    map,
                })
            });
            let Some(object) = parsed else {
                rejected.push(Rejection::new(
                    format!("objects[{index}]"),
                    "",
                    "not a STIX object: needs a string \"type\" and \"id\"",
                ));
                continue;
            };
            match bundle.by_id.get(object.id) {
                // Versions share an id: keep the most recently modified (A.2).
                Some(&position) => {
                    let current = &bundle.objects[position];
                    if object.modified_micros() >= current.modified_micros() {
                        bundle.objects[position] = object;
                    }
                }
                None => {
                    bundle.by_id.insert(object.id, bundle.objects.len());
                    bundle.objects.push(object);
                }
            }
        }
        Some(bundle)
    }

    fn get(&self, id: &str) -> Option<&StixObject<'a>> {
        self.by_id.get(id).map(|&index| &self.objects[index])
    }
}

// ---------------------------------------------------------------------------------------
// What each kind of object is for
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// report, grouping: an event.
    Container,
    /// Read for other objects (identity, marking-definition, relationship) or skipped on
    /// purpose (sighting, note, opinion, …): never content of its own.
    Support,
    Indicator,
    ObservedData,
    Observable,
    /// Threat intelligence that becomes a galaxy tag.
    Galaxy,
    /// Standard objects with no MISP counterpart in this importer.
    NoEquivalent,
    MispAttribute,
    MispObject,
    Unknown,
}

use super::OBSERVABLE_TYPES;

fn role_of(kind: &str) -> Role {
    match kind {
        "report" | "grouping" => Role::Container,
        "identity"
        | "marking-definition"
        | "relationship"
        | "sighting"
        | "note"
        | "opinion"
        | "extension-definition"
        | "language-content" => Role::Support,
        "indicator" => Role::Indicator,
        "observed-data" => Role::ObservedData,
        "attack-pattern" | "malware" | "threat-actor" | "intrusion-set" | "tool"
        | "vulnerability" | "course-of-action" | "campaign" => Role::Galaxy,
        "infrastructure" | "location" | "malware-analysis" | "incident" => Role::NoEquivalent,
        "x-misp-attribute" => Role::MispAttribute,
        "x-misp-object" => Role::MispObject,
        kind if OBSERVABLE_TYPES.contains(&kind) => Role::Observable,
        _ => Role::Unknown,
    }
}

// ---------------------------------------------------------------------------------------
// Per-object results
// ---------------------------------------------------------------------------------------

/// What one STIX object adds to the event(s) holding it, computed once.
#[derive(Clone, Debug, Default)]
struct Contribution {
    attributes: Vec<Candidate>,
    objects: Vec<ObjectCandidate>,
    /// Event-level tags (galaxy clusters).
    tags: Vec<String>,
}

impl Contribution {
    fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.objects.is_empty() && self.tags.is_empty()
    }
}

/// An attribute before validation.
#[derive(Clone, Debug, Default)]
struct Seed {
    attr_type: String,
    value: String,
    category: Option<String>,
    to_ids: bool,
    comment: String,
    first_seen: Option<String>,
    last_seen: Option<String>,
    valid_until: Option<String>,
    timestamp: Option<i64>,
    tags: Vec<String>,
    data: Option<String>,
    object_relation: Option<String>,
    preferred_uuid: Option<String>,
}

/// A validated attribute: the seed, its category settled, and the normalised value MISP
/// compares duplicates on.
#[derive(Clone, Debug)]
struct Candidate {
    seed: Seed,
    category: String,
    key: (String, String, String),
}

#[derive(Clone, Debug, Default)]
struct ObjectCandidate {
    name: String,
    meta_category: String,
    comment: String,
    preferred_uuid: Option<String>,
    timestamp: Option<i64>,
    attributes: Vec<Candidate>,
}

fn validation_context() -> BuildContext {
    BuildContext {
        now: 0,
        today: Date::from_calendar_date(1970, Month::January, 1).expect("a valid date"),
    }
}

/// Checks a seed the way `/events/add` will: MISP JSON through the API's parser and builder.
/// The uuid a candidate attribute is checked with; the attribute written gets its own.
const VALIDATION_UUID: &str = "00000000-0000-0000-0000-000000000000";

fn validate(seed: Seed) -> Result<Candidate, String> {
    let Some(definition) = attribute_type(&seed.attr_type) else {
        return Err(format!("{} is not a MISP attribute type", seed.attr_type));
    };
    let category = seed
        .category
        .as_deref()
        .filter(|category| category_allows(category, &seed.attr_type))
        .unwrap_or(definition.default_category)
        .to_string();
    // What `parse_attribute` reads from `{type, category, value, to_ids, object_relation,
    // data, first_seen, last_seen, valid_until}`, without writing that JSON first.
    let mut errors = FieldErrors::new();
    let mut micros =
        |key: &str, text: &Option<String>| parsed_micros(|| key.to_string(), text, &mut errors);
    let input = AttributeInput {
        attr_type: Some(seed.attr_type.trim().to_string()),
        category: Some(category.trim().to_string()),
        value: Some(seed.value.clone()),
        to_ids: Some(seed.to_ids),
        object_relation: trimmed_text(&seed.object_relation),
        first_seen: micros("first_seen", &seed.first_seen),
        last_seen: micros("last_seen", &seed.last_seen),
        valid_until: micros("valid_until", &seed.valid_until),
        data: trimmed_text(&seed.data),
        // Only the built type and values are kept: without a uuid the build would draw a
        // random one (a getrandom system call per attribute) to throw it away.
        uuid: Some(VALIDATION_UUID.to_string()),
        ..AttributeInput::default()
    };
    if !errors.is_empty() {
        return Err(errors.summary());
    }
    let built = new_attribute(&input, &validation_context()).map_err(|errors| errors.summary())?;
    Ok(Candidate {
        key: (
            built.attr_type.clone(),
            built.value1.clone(),
            built.value2.clone(),
        ),
        category,
        seed,
    })
}

// ---------------------------------------------------------------------------------------
// The importer
// ---------------------------------------------------------------------------------------

struct Importer<'b, 'a> {
    bundle: &'b Bundle<'a>,
    /// Observables some observed-data or another observable refers to: read as part of
    /// those, not on their own.
    nested_observables: HashSet<&'a str>,
    /// Galaxy tags an indicator `indicates`, for its attributes.
    indicated_tags: HashMap<&'a str, Vec<String>>,
}

impl<'b, 'a> Importer<'b, 'a> {
    fn new(bundle: &'b Bundle<'a>) -> Self {
        let mut nested_observables = HashSet::new();
        for object in &bundle.objects {
            match role_of(object.kind) {
                Role::ObservedData => {
                    nested_observables.extend(object.strings("object_refs"));
                }
                Role::Observable => {
                    let mut references = Vec::new();
                    collect_map_references(object.map, &mut references);
                    for reference in references {
                        if reference != object.id
                            && let Some(target) = bundle.get(reference)
                        {
                            nested_observables.insert(target.id);
                        }
                    }
                }
                _ => {}
            }
        }
        let mut importer = Importer {
            bundle,
            nested_observables,
            indicated_tags: HashMap::new(),
        };
        let mut indicated_tags: HashMap<&'a str, Vec<String>> = HashMap::new();
        for object in &bundle.objects {
            if object.kind != "relationship"
                || object.text("relationship_type") != Some("indicates")
            {
                continue;
            }
            let (Some(source), Some(target)) = (
                object.text("source_ref").and_then(|id| bundle.get(id)),
                object.text("target_ref").and_then(|id| bundle.get(id)),
            ) else {
                continue;
            };
            if source.kind == "indicator"
                && let Some(tag) = importer.galaxy_tag(target)
            {
                let tags = indicated_tags.entry(source.id).or_default();
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
        importer.indicated_tags = indicated_tags;
        importer
    }

    fn object(&self, index: usize) -> &StixObject<'a> {
        &self.bundle.objects[index]
    }

    /// Tags of the marking definitions an object refers to.
    fn marking_tags(&self, map: &Map<String, Value>) -> Vec<String> {
        let mut tags = Vec::new();
        for reference in string_list(property(map, "object_marking_refs")) {
            let tag = match self.bundle.get(reference) {
                Some(definition) => tag_for_marking(&Value::Object(definition.map.clone())),
                None => tag_for_marking_id(reference).map(str::to_string),
            };
            if let Some(tag) = tag
                && !tags.contains(&tag)
            {
                tags.push(tag);
            }
        }
        tags
    }

    fn contribution(&self, index: usize, rejected: &mut Vec<Rejection>) -> Contribution {
        let object = self.object(index);
        match role_of(object.kind) {
            Role::Container | Role::Support => Contribution::default(),
            Role::Indicator => self.indicator(object, rejected),
            Role::ObservedData => self.observed_data(object, rejected),
            Role::Observable => {
                if self.nested_observables.contains(object.id) {
                    Contribution::default()
                } else {
                    self.standalone_observable(object, rejected)
                }
            }
            Role::Galaxy => self.galaxy_object(object, rejected),
            Role::NoEquivalent => match galaxy_label(object) {
                Some(tag) => Contribution {
                    tags: vec![tag],
                    ..Contribution::default()
                },
                None => {
                    rejected.push(Rejection::new(
                        object.location(),
                        object.text("name").unwrap_or(""),
                        format!(
                            "{} objects have no MISP equivalent and are not imported",
                            object.kind
                        ),
                    ));
                    Contribution::default()
                }
            },
            Role::MispAttribute => self.misp_attribute(object, rejected),
            Role::MispObject => self.misp_object(object, rejected),
            Role::Unknown => {
                let reason = if object.kind.starts_with("x-") {
                    format!("unsupported object type {}", object.kind)
                } else {
                    format!("unknown STIX object type {}", object.kind)
                };
                rejected.push(Rejection::new(object.location(), "", reason));
                Contribution::default()
            }
        }
    }

    /// Validates seeds, reporting the ones MISP would refuse.
    fn validated(
        &self,
        object: &StixObject<'a>,
        seeds: Vec<Seed>,
        rejected: &mut Vec<Rejection>,
    ) -> Vec<Candidate> {
        let mut out = Vec::new();
        for seed in seeds {
            let shown = seed.value.clone();
            let attr_type = seed.attr_type.clone();
            match validate(seed) {
                Ok(candidate) => out.push(candidate),
                Err(reason) => rejected.push(Rejection::new(
                    object.location(),
                    shown,
                    format!("not a valid {attr_type}: {reason}"),
                )),
            }
        }
        out
    }

    // ----- indicators ------------------------------------------------------------------

    fn indicator(&self, object: &StixObject<'a>, rejected: &mut Vec<Rejection>) -> Contribution {
        let Some(pattern) = object.text("pattern") else {
            rejected.push(Rejection::new(
                object.location(),
                "",
                "indicator without a pattern",
            ));
            return Contribution::default();
        };
        let internal = object.misp_label("type").is_some() || object.misp_label("name").is_some();
        let mut template = Seed {
            to_ids: object.misp_label("to_ids") != Some("False"),
            comment: object
                .text("description")
                .or_else(|| object.text("name"))
                .unwrap_or("")
                .to_string(),
            first_seen: object
                .text("valid_from")
                .filter(|from| !(internal && same_instant(from, object.modified_micros())))
                .map(str::to_string),
            valid_until: object.text("valid_until").map(str::to_string),
            timestamp: object.modified_seconds(),
            category: self.misp_category(object),
            ..Seed::default()
        };
        template.tags = object.tag_labels();
        template.tags.extend(
            object
                .strings("indicator_types")
                .into_iter()
                .map(str::to_string),
        );
        template.tags.extend(self.marking_tags(object.map));
        if let Some(indicated) = self.indicated_tags.get(object.id) {
            template.tags.extend(indicated.iter().cloned());
        }
        dedup(&mut template.tags);

        let pattern_type = object.text("pattern_type").unwrap_or("stix");
        if pattern_type != "stix" {
            if !matches!(pattern_type, "snort" | "suricata" | "yara" | "sigma") {
                rejected.push(Rejection::new(
                    object.location(),
                    pattern,
                    format!("pattern_type {pattern_type} has no MISP attribute type"),
                ));
                return Contribution::default();
            }
            let rule = strip_outer_brackets(pattern);
            let seed = Seed {
                attr_type: pattern_type.to_string(),
                value: rule.to_string(),
                preferred_uuid: object.uuid_part(),
                ..template
            };
            return Contribution {
                attributes: self.validated(object, vec![seed], rejected),
                ..Contribution::default()
            };
        }

        let groups = match pattern_equality_groups(pattern) {
            Ok(groups) => groups,
            Err(reason) => {
                rejected.push(Rejection::new(object.location(), pattern, reason));
                return Contribution::default();
            }
        };

        if let Some(name) = object.misp_label("name") {
            let facts: Vec<PathValue> = groups.into_iter().flatten().collect();
            return self.misp_stix_object(object, name, &[facts], true, rejected);
        }
        if let Some(attr_type) = object.misp_label("type") {
            let facts: Vec<PathValue> = groups.into_iter().flatten().collect();
            return match restore_value(attr_type, &facts) {
                Ok((value, data)) => {
                    let seed = Seed {
                        attr_type: attr_type.to_string(),
                        value,
                        data,
                        preferred_uuid: object.uuid_part(),
                        ..template
                    };
                    Contribution {
                        attributes: self.validated(object, vec![seed], rejected),
                        ..Contribution::default()
                    }
                }
                Err(reason) => {
                    rejected.push(Rejection::new(object.location(), pattern, reason));
                    Contribution::default()
                }
            };
        }

        let mut seeds: Vec<Seed> = Vec::new();
        for group in &groups {
            match attributes_from_facts(group, true) {
                Ok(found) => {
                    for indicator in found {
                        if !seeds.iter().any(|seed| {
                            seed.attr_type == indicator.attr_type && seed.value == indicator.value
                        }) {
                            seeds.push(Seed {
                                attr_type: indicator.attr_type,
                                value: indicator.value,
                                ..template.clone()
                            });
                        }
                    }
                }
                Err(reason) => {
                    rejected.push(Rejection::new(object.location(), pattern, reason));
                    return Contribution::default();
                }
            }
        }
        if seeds.is_empty() {
            rejected.push(Rejection::new(
                object.location(),
                pattern,
                "the pattern names no value Kizuna can store",
            ));
            return Contribution::default();
        }
        if seeds.len() == 1 {
            seeds[0].preferred_uuid = object.uuid_part();
        }
        Contribution {
            attributes: self.validated(object, seeds, rejected),
            ..Contribution::default()
        }
    }

    /// The MISP category misp-stix recorded (label, or its `misp-category` kill chain).
    fn misp_category(&self, object: &StixObject<'a>) -> Option<String> {
        if let Some(category) = object.misp_label("category") {
            return Some(category.to_string());
        }
        object
            .map
            .get("kill_chain_phases")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|phase| phase["kill_chain_name"] == "misp-category")
            .and_then(|phase| phase["phase_name"].as_str())
            .map(str::to_string)
    }

    // ----- observables -----------------------------------------------------------------

    fn observed_data(
        &self,
        object: &StixObject<'a>,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        let embedded = object.get("objects").and_then(Value::as_object);
        let scope = match embedded {
            Some(objects) => Scope::Embedded(objects),
            None => Scope::Bundle(self.bundle),
        };
        let members: Vec<&Map<String, Value>> = match embedded {
            Some(objects) => objects.values().filter_map(Value::as_object).collect(),
            None => object
                .strings("object_refs")
                .into_iter()
                .filter_map(|id| self.bundle.get(id).map(|member| member.map))
                .collect(),
        };
        let top_level = top_level_observables(&members, &scope);
        let per_observable: Vec<Vec<PathValue>> = top_level
            .iter()
            .map(|observable| flatten_observable(observable, &scope))
            .collect();

        let internal = object.misp_label("type").is_some() || object.misp_label("name").is_some();
        let modified = object.modified_micros();
        let seen = |key: &str| {
            object
                .text(key)
                .filter(|time| !(internal && same_instant(time, modified)))
                .map(str::to_string)
        };
        let mut template = Seed {
            to_ids: object.misp_label("to_ids") == Some("True"),
            first_seen: seen("first_observed"),
            last_seen: seen("last_observed"),
            timestamp: object.modified_seconds(),
            category: self.misp_category(object),
            ..Seed::default()
        };
        template.tags = object.tag_labels();
        template.tags.extend(self.marking_tags(object.map));
        for member in &members {
            template.tags.extend(self.marking_tags(member));
        }
        dedup(&mut template.tags);

        if let Some(name) = object.misp_label("name") {
            return self.misp_stix_object(object, name, &per_observable, false, rejected);
        }
        if let Some(attr_type) = object.misp_label("type") {
            let facts: Vec<PathValue> = per_observable.into_iter().flatten().collect();
            return match restore_value(attr_type, &facts) {
                Ok((value, data)) => {
                    let seed = Seed {
                        attr_type: attr_type.to_string(),
                        value,
                        data,
                        preferred_uuid: object.uuid_part(),
                        ..template
                    };
                    Contribution {
                        attributes: self.validated(object, vec![seed], rejected),
                        ..Contribution::default()
                    }
                }
                Err(reason) => {
                    rejected.push(Rejection::new(object.location(), "", reason));
                    Contribution::default()
                }
            };
        }

        let mut seeds: Vec<Seed> = Vec::new();
        for facts in &per_observable {
            for indicator in attributes_from_facts(facts, false).unwrap_or_default() {
                if !seeds.iter().any(|seed| {
                    seed.attr_type == indicator.attr_type && seed.value == indicator.value
                }) {
                    seeds.push(Seed {
                        attr_type: indicator.attr_type,
                        value: indicator.value,
                        ..template.clone()
                    });
                }
            }
        }
        if seeds.is_empty() {
            let kinds: Vec<&str> = top_level
                .iter()
                .filter_map(|observable| observable.get("type").and_then(Value::as_str))
                .collect();
            rejected.push(Rejection::new(
                object.location(),
                "",
                format!(
                    "observed-data holds nothing Kizuna stores as an attribute (observables: {})",
                    if kinds.is_empty() {
                        "none".to_string()
                    } else {
                        kinds.join(", ")
                    }
                ),
            ));
            return Contribution::default();
        }
        if seeds.len() == 1 {
            seeds[0].preferred_uuid = object.uuid_part();
        }
        Contribution {
            attributes: self.validated(object, seeds, rejected),
            ..Contribution::default()
        }
    }

    fn standalone_observable(
        &self,
        object: &StixObject<'a>,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        let scope = Scope::Bundle(self.bundle);
        let facts = flatten_observable(object.map, &scope);
        let found = attributes_from_facts(&facts, false).unwrap_or_default();
        if found.is_empty() {
            rejected.push(Rejection::new(
                object.location(),
                "",
                format!(
                    "a {} object on its own holds nothing Kizuna stores as an attribute",
                    object.kind
                ),
            ));
            return Contribution::default();
        }
        let mut tags = self.marking_tags(object.map);
        dedup(&mut tags);
        let single = found.len() == 1;
        let seeds = found
            .into_iter()
            .map(|indicator| Seed {
                attr_type: indicator.attr_type,
                value: indicator.value,
                tags: tags.clone(),
                preferred_uuid: if single { object.uuid_part() } else { None },
                ..Seed::default()
            })
            .collect();
        Contribution {
            attributes: self.validated(object, seeds, rejected),
            ..Contribution::default()
        }
    }

    // ----- threat intelligence ----------------------------------------------------------

    /// The galaxy tag a threat-intelligence object stands for.
    fn galaxy_tag(&self, object: &StixObject<'a>) -> Option<String> {
        if let Some(tag) = galaxy_label(object) {
            return Some(tag);
        }
        if role_of(object.kind) != Role::Galaxy
            || object.misp_label("type").is_some()
            || object.misp_label("name").is_some()
        {
            return None;
        }
        let name = object.text("name")?.trim();
        if name.is_empty() {
            return None;
        }
        let attack_id = object
            .map
            .get("external_references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|reference| {
                reference["source_name"].as_str().is_some_and(|source| {
                    source.starts_with("mitre-") && source.ends_with("attack")
                })
            })
            .and_then(|reference| reference["external_id"].as_str());
        let (galaxy, value) = match (object.kind, attack_id) {
            ("attack-pattern", Some(id)) => ("mitre-attack-pattern", format!("{name} - {id}")),
            ("malware", Some(id)) => ("mitre-malware", format!("{name} - {id}")),
            ("tool", Some(id)) => ("mitre-tool", format!("{name} - {id}")),
            ("intrusion-set", Some(id)) => ("mitre-intrusion-set", format!("{name} - {id}")),
            ("course-of-action", Some(id)) => ("mitre-course-of-action", format!("{name} - {id}")),
            (kind, _) => (kind, name.to_string()),
        };
        Some(format!(
            "misp-galaxy:{galaxy}=\"{}\"",
            value.replace('"', "'")
        ))
    }

    fn galaxy_object(
        &self,
        object: &StixObject<'a>,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        let name = object.text("name").map(str::trim).unwrap_or("");
        let mut template = Seed {
            comment: object.text("description").unwrap_or("").to_string(),
            timestamp: object.modified_seconds(),
            category: self.misp_category(object),
            preferred_uuid: object.uuid_part(),
            tags: object.tag_labels(),
            ..Seed::default()
        };
        template.tags.extend(self.marking_tags(object.map));
        dedup(&mut template.tags);
        // misp-stix writes the vulnerability and campaign-name attributes as these objects.
        if let Some(attr_type) = object.misp_label("type") {
            let seed = Seed {
                attr_type: attr_type.to_string(),
                value: name.to_string(),
                to_ids: object.misp_label("to_ids") == Some("True"),
                ..template
            };
            return Contribution {
                attributes: self.validated(object, vec![seed], rejected),
                ..Contribution::default()
            };
        }
        if let Some(template_name) = object.misp_label("name") {
            return self.misp_stix_sdo_object(object, template_name, rejected);
        }
        let Some(tag) = self.galaxy_tag(object) else {
            rejected.push(Rejection::new(
                object.location(),
                "",
                format!("{} without a name cannot become a galaxy tag", object.kind),
            ));
            return Contribution::default();
        };
        let mut contribution = Contribution {
            tags: vec![tag],
            ..Contribution::default()
        };
        if object.kind == "vulnerability"
            && let Some(cve) = cve_id(object)
        {
            let seed = Seed {
                attr_type: "vulnerability".to_string(),
                value: cve,
                ..template
            };
            contribution.attributes = self.validated(object, vec![seed], rejected);
        }
        contribution
    }

    // ----- misp-stix custom objects -----------------------------------------------------

    fn misp_attribute(
        &self,
        object: &StixObject<'a>,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        let (Some(attr_type), Some(value)) = (
            object
                .text("x_misp_type")
                .or_else(|| object.misp_label("type")),
            object.get("x_misp_value").and_then(scalar_text),
        ) else {
            rejected.push(Rejection::new(
                object.location(),
                "",
                "x-misp-attribute without x_misp_type and x_misp_value",
            ));
            return Contribution::default();
        };
        let mut tags = object.tag_labels();
        tags.extend(self.marking_tags(object.map));
        dedup(&mut tags);
        let seed = Seed {
            attr_type: attr_type.to_string(),
            value,
            category: object
                .text("x_misp_category")
                .map(str::to_string)
                .or_else(|| self.misp_category(object)),
            to_ids: object.misp_label("to_ids") == Some("True")
                || object.get("x_misp_to_ids").and_then(Value::as_bool) == Some(true),
            comment: object.text("x_misp_comment").unwrap_or("").to_string(),
            data: object.text("x_misp_data").map(str::to_string),
            timestamp: object.modified_seconds(),
            tags,
            preferred_uuid: object.uuid_part(),
            ..Seed::default()
        };
        Contribution {
            attributes: self.validated(object, vec![seed], rejected),
            ..Contribution::default()
        }
    }

    fn misp_object(&self, object: &StixObject<'a>, rejected: &mut Vec<Rejection>) -> Contribution {
        let Some(name) = object
            .text("x_misp_name")
            .or_else(|| object.misp_label("name"))
        else {
            rejected.push(Rejection::new(
                object.location(),
                "",
                "x-misp-object without x_misp_name",
            ));
            return Contribution::default();
        };
        let mut seeds = Vec::new();
        for attribute in object
            .map
            .get("x_misp_attributes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(attr_type), Some(value)) = (
                attribute["type"].as_str(),
                attribute.get("value").and_then(scalar_text),
            ) else {
                rejected.push(Rejection::new(
                    object.location(),
                    attribute.to_string(),
                    "an x_misp_attributes entry needs type and value",
                ));
                continue;
            };
            seeds.push(Seed {
                attr_type: attr_type.to_string(),
                value,
                category: attribute["category"].as_str().map(str::to_string),
                to_ids: attribute["to_ids"].as_bool().unwrap_or(false),
                comment: attribute["comment"].as_str().unwrap_or("").to_string(),
                object_relation: attribute["object_relation"].as_str().map(str::to_string),
                data: attribute["data"].as_str().map(str::to_string),
                preferred_uuid: attribute["uuid"]
                    .as_str()
                    .filter(|id| is_uuid(id))
                    .map(str::to_ascii_lowercase),
                timestamp: object.modified_seconds(),
                ..Seed::default()
            });
        }
        let object_candidate = ObjectCandidate {
            name: name.to_string(),
            meta_category: object
                .text("x_misp_meta_category")
                .or_else(|| object.misp_label("meta-category"))
                .unwrap_or("misc")
                .to_string(),
            comment: object.text("x_misp_comment").unwrap_or("").to_string(),
            preferred_uuid: object.uuid_part(),
            timestamp: object.modified_seconds(),
            attributes: self.validated(object, seeds, rejected),
        };
        self.finish_object(object, object_candidate, rejected)
    }

    fn finish_object(
        &self,
        object: &StixObject<'a>,
        candidate: ObjectCandidate,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        if candidate.attributes.is_empty() {
            rejected.push(Rejection::new(
                object.location(),
                "",
                format!(
                    "MISP object {} has no attribute left to import",
                    candidate.name
                ),
            ));
            return Contribution::default();
        }
        Contribution {
            objects: vec![candidate],
            ..Contribution::default()
        }
    }

    /// A MISP object misp-stix wrote as an indicator (`from_pattern`: every attribute is
    /// `to_ids`) or as observed-data.
    fn misp_stix_object(
        &self,
        object: &StixObject<'a>,
        name: &str,
        fact_sets: &[Vec<PathValue>],
        from_pattern: bool,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        let Some(template) = template(name) else {
            rejected.push(Rejection::new(
                object.location(),
                "",
                format!("misp-stix's mapping of MISP object {name} is not supported"),
            ));
            return Contribution::default();
        };
        let mut seeds: Vec<Seed> = Vec::new();
        for facts in fact_sets {
            for (relation, attr_type, value, data) in template.attributes(facts) {
                if seeds.iter().any(|seed| {
                    seed.object_relation.as_deref() == Some(relation.as_str())
                        && seed.attr_type == attr_type
                        && seed.value == value
                }) {
                    continue;
                }
                seeds.push(Seed {
                    attr_type,
                    value,
                    data,
                    category: template.category.map(str::to_string),
                    to_ids: from_pattern,
                    object_relation: Some(relation),
                    timestamp: object.modified_seconds(),
                    ..Seed::default()
                });
            }
        }
        let candidate = ObjectCandidate {
            name: name.to_string(),
            meta_category: object
                .misp_label("meta-category")
                .unwrap_or(template.meta_category)
                .to_string(),
            comment: String::new(),
            preferred_uuid: object.uuid_part(),
            timestamp: object.modified_seconds(),
            attributes: self.validated(object, seeds, rejected),
        };
        self.finish_object(object, candidate, rejected)
    }

    /// misp-stix's vulnerability object, written as a vulnerability SDO.
    fn misp_stix_sdo_object(
        &self,
        object: &StixObject<'a>,
        name: &str,
        rejected: &mut Vec<Rejection>,
    ) -> Contribution {
        if name != "vulnerability" || object.kind != "vulnerability" {
            rejected.push(Rejection::new(
                object.location(),
                "",
                format!(
                    "misp-stix's mapping of MISP object {name} as {} is not supported",
                    object.kind
                ),
            ));
            return Contribution::default();
        }
        let mut fields: Vec<(String, String, String)> = Vec::new();
        if let Some(id) = object.text("name") {
            fields.push(("id".into(), "vulnerability".into(), id.to_string()));
        }
        if let Some(summary) = object.text("description") {
            fields.push(("summary".into(), "text".into(), summary.to_string()));
        }
        for reference in object
            .map
            .get("external_references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if reference["source_name"] == "url"
                && let Some(url) = reference["url"].as_str()
            {
                fields.push(("references".into(), "link".into(), url.to_string()));
            }
        }
        let relations = &VULNERABILITY_RELATIONS;
        for (key, value) in object.map {
            if let Some(suffix) = key.strip_prefix("x_misp_") {
                let (relation, attr_type) = custom_relation(suffix, relations);
                for text in scalar_texts(value) {
                    fields.push((relation.clone(), attr_type.clone(), text));
                }
            }
        }
        let seeds = fields
            .into_iter()
            .map(|(relation, attr_type, value)| Seed {
                attr_type,
                value,
                object_relation: Some(relation),
                timestamp: object.modified_seconds(),
                ..Seed::default()
            })
            .collect();
        let candidate = ObjectCandidate {
            name: name.to_string(),
            meta_category: object
                .misp_label("meta-category")
                .unwrap_or("vulnerability")
                .to_string(),
            comment: String::new(),
            preferred_uuid: object.uuid_part(),
            timestamp: object.modified_seconds(),
            attributes: self.validated(object, seeds, rejected),
        };
        self.finish_object(object, candidate, rejected)
    }

    // ----- events ------------------------------------------------------------------------

    fn events<'i>(
        &'i self,
        contributions: Vec<Contribution>,
        options: &StixImportOptions,
    ) -> Vec<Finished<'i, 'a>> {
        let containers: Vec<usize> = (0..self.bundle.objects.len())
            .filter(|&index| role_of(self.object(index).kind) == Role::Container)
            .collect();
        let mut memberships: Vec<Vec<usize>> = containers
            .iter()
            .map(|&container| self.members(container))
            .collect();
        let mut member_sets: Vec<HashSet<usize>> = memberships
            .iter()
            .map(|members| members.iter().copied().collect())
            .collect();
        let mut held: HashSet<usize> = memberships.iter().flatten().copied().collect();
        // Threat intelligence a member points at (or is pointed at from) joins its events.
        for relationship in &self.bundle.objects {
            if relationship.kind != "relationship" {
                continue;
            }
            let ends: Vec<usize> = ["source_ref", "target_ref"]
                .iter()
                .filter_map(|key| relationship.text(key))
                .filter_map(|id| self.bundle.by_id.get(id).copied())
                .collect();
            let [first, second] = ends[..] else { continue };
            for (member, other) in [(first, second), (second, first)] {
                if held.contains(&other) || role_of(self.object(other).kind) != Role::Galaxy {
                    continue;
                }
                for (members, set) in memberships.iter_mut().zip(&mut member_sets) {
                    if set.contains(&member) && set.insert(other) {
                        members.push(other);
                    }
                }
            }
        }
        held = memberships.iter().flatten().copied().collect();
        let unheld: Vec<usize> = (0..self.bundle.objects.len())
            .filter(|index| !held.contains(index) && !contributions[*index].is_empty())
            .collect();

        let mut member_count: FastMap<usize, usize> = FastMap::default();
        for index in memberships.iter().flatten().chain(unheld.iter()) {
            *member_count.entry(*index).or_default() += 1;
        }
        let mut assembler = Assembler {
            importer: self,
            contributions,
            member_count,
            used_uuids: FastSet::default(),
            used_event_uuids: FastSet::default(),
        };
        let mut events = Vec::new();
        for (container, members) in containers.iter().zip(&memberships) {
            events.push(assembler.container_event(*container, members));
        }
        if !unheld.is_empty() {
            events.push(assembler.unheld_event(&unheld, options));
        }
        events
    }

    /// The objects a report or grouping holds: its `object_refs` and, through them, the
    /// observables observed-data and other observables refer to.
    fn members(&self, container: usize) -> Vec<usize> {
        let mut members = Vec::new();
        let mut queue: Vec<&str> = self.object(container).strings("object_refs");
        queue.reverse();
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(id) = queue.pop() {
            if !seen.insert(id) {
                continue;
            }
            let Some(&index) = self.bundle.by_id.get(id) else {
                continue;
            };
            members.push(index);
            let object = self.object(index);
            match role_of(object.kind) {
                Role::ObservedData => {
                    queue.extend(object.strings("object_refs").into_iter().rev());
                }
                Role::Observable => {
                    let mut references = Vec::new();
                    collect_map_references(object.map, &mut references);
                    queue.extend(references.into_iter().rev());
                }
                _ => {}
            }
        }
        members
    }
}

/// A galaxy tag written as a label (misp-stix: `misp-galaxy:threat-actor="Sofacy"`).
fn galaxy_label(object: &StixObject<'_>) -> Option<String> {
    object
        .labels()
        .into_iter()
        .find(|label| label.starts_with("misp-galaxy:"))
        .map(str::to_string)
}

fn cve_id(object: &StixObject<'_>) -> Option<String> {
    let from_reference = object
        .map
        .get("external_references")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|reference| {
            reference["source_name"]
                .as_str()
                .is_some_and(|source| source.eq_ignore_ascii_case("cve"))
        })
        .and_then(|reference| reference["external_id"].as_str());
    let candidate = from_reference.or_else(|| object.text("name"))?.trim();
    let looks_like_cve = candidate.len() > 9
        && candidate[..4].eq_ignore_ascii_case("CVE-")
        && candidate[4..8].bytes().all(|b| b.is_ascii_digit())
        && candidate.as_bytes()[8] == b'-'
        && candidate[9..].bytes().all(|b| b.is_ascii_digit());
    looks_like_cve.then(|| candidate.to_ascii_uppercase())
}

fn same_instant(text: &str, micros: Option<i64>) -> bool {
    micros.is_some() && parse_datetime_micros(text) == micros
}

/// Drops repeated items, keeping the first of each. Lists are short (an object's tags), so
/// each item is compared with those kept before it rather than hashed.
fn dedup(items: &mut Vec<String>) {
    const COMPARED_UP_TO: usize = 16;
    if items.len() <= 1 {
        return;
    }
    if items.len() > COMPARED_UP_TO {
        let mut seen = HashSet::new();
        items.retain(|item| seen.insert(item.clone()));
        return;
    }
    let mut kept = 0;
    for index in 0..items.len() {
        if !items[..kept].contains(&items[index]) {
            items.swap(kept, index);
            kept += 1;
        }
    }
    items.truncate(kept);
}

/// misp-stix wraps non-STIX rules in one pair of brackets.
fn strip_outer_brackets(rule: &str) -> &str {
    let trimmed = rule.trim();
    trimmed
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(trimmed)
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn scalar_texts(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
        other => scalar_text(other).into_iter().collect(),
    }
}

// ---------------------------------------------------------------------------------------
// Observables as facts
// ---------------------------------------------------------------------------------------

/// Where an observable's `*_ref`s point: the bundle (2.1) or the observed-data's own
/// `objects` dictionary (2.0, keys "0", "1", …).
enum Scope<'s, 'a> {
    Bundle(&'s Bundle<'a>),
    Embedded(&'s Map<String, Value>),
}

impl<'s> Scope<'s, '_> {
    fn resolve(&self, reference: &str) -> Option<&'s Map<String, Value>> {
        match self {
            Scope::Bundle(bundle) => bundle.get(reference).map(|object| object.map),
            Scope::Embedded(objects) => objects.get(reference).and_then(Value::as_object),
        }
    }
}

/// Every id an observable refers to through `*_ref` / `*_refs`, at any depth.
fn collect_map_references<'v>(map: &'v Map<String, Value>, out: &mut Vec<&'v str>) {
    for (key, inner) in map {
        if key.ends_with("_ref") {
            if let Some(id) = inner.as_str() {
                out.push(id);
            }
        } else if key.ends_with("_refs") {
            out.extend(
                inner
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        } else {
            collect_references(inner, out);
        }
    }
}

fn collect_references<'v>(value: &'v Value, out: &mut Vec<&'v str>) {
    match value {
        Value::Object(map) => collect_map_references(map, out),
        Value::Array(items) => {
            for item in items {
                collect_references(item, out);
            }
        }
        _ => {}
    }
}

/// The members no other member refers to (the others are read through them).
fn top_level_observables<'m>(
    members: &[&'m Map<String, Value>],
    scope: &Scope<'_, '_>,
) -> Vec<&'m Map<String, Value>> {
    let mut referenced: Vec<&Map<String, Value>> = Vec::new();
    for member in members {
        let mut references = Vec::new();
        collect_map_references(member, &mut references);
        referenced.extend(
            references
                .into_iter()
                .filter_map(|reference| scope.resolve(reference)),
        );
    }
    // Identity, not equality: two observables may hold the same properties.
    let top: Vec<&Map<String, Value>> = members
        .iter()
        .copied()
        .filter(|member| {
            !referenced
                .iter()
                .any(|target| std::ptr::eq(*target, *member))
        })
        .collect();
    if top.is_empty() {
        members.to_vec()
    } else {
        top
    }
}

/// How deep `*_ref` chains are followed (file → directory, email → address → …).
const MAX_REFERENCE_DEPTH: usize = 4;

/// An observable as `path = value` facts, the way a pattern would state them:
/// `file:hashes.SHA256`, `network-traffic:dst_ref.value`, `email-message:to_refs.value`.
fn flatten_observable(observable: &Map<String, Value>, scope: &Scope<'_, '_>) -> Vec<PathValue> {
    let Some(object_type) = observable.get("type").and_then(Value::as_str) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut keys = Vec::new();
    flatten_map(object_type, observable, scope, &mut keys, 0, &mut out);
    out
}

fn flatten_map(
    object_type: &str,
    map: &Map<String, Value>,
    scope: &Scope<'_, '_>,
    keys: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<PathValue>,
) {
    for (key, value) in map {
        let key = key.as_str();
        if keys.is_empty()
            && matches!(
                key,
                "type"
                    | "id"
                    | "spec_version"
                    | "defanged"
                    | "object_marking_refs"
                    | "granular_markings"
            )
        {
            continue;
        }
        if !keys.is_empty() && matches!(key, "id" | "spec_version" | "type" | "object_marking_refs")
        {
            continue;
        }
        keys.push(key.to_string());
        if key.ends_with("_ref") || key.ends_with("_refs") {
            if depth < MAX_REFERENCE_DEPTH {
                for reference in string_list(Some(value)) {
                    if let Some(target) = scope.resolve(reference) {
                        flatten_map(object_type, target, scope, keys, depth + 1, out);
                    }
                }
            }
        } else {
            flatten_value(object_type, value, scope, keys, depth, out);
        }
        keys.pop();
    }
}

fn flatten_value(
    object_type: &str,
    value: &Value,
    scope: &Scope<'_, '_>,
    keys: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<PathValue>,
) {
    match value {
        Value::Object(map) => flatten_map(object_type, map, scope, keys, depth, out),
        Value::Array(items) => {
            for item in items {
                flatten_value(object_type, item, scope, keys, depth, out);
            }
        }
        Value::Null => {}
        scalar => {
            if let Some(text) = scalar_text(scalar) {
                let steps: Vec<&str> = keys.iter().map(String::as_str).collect();
                out.push(PathValue {
                    path: canonical_path(object_type, &steps),
                    value: text,
                });
            }
        }
    }
}

/// The value of a misp-stix attribute of type `attr_type` from what its indicator or
/// observable states, and the content of attachments / malware samples.
fn restore_value(attr_type: &str, facts: &[PathValue]) -> Result<(String, Option<String>), String> {
    let found = attributes_from_facts(facts, false).unwrap_or_default();
    let chosen = found
        .iter()
        .find(|candidate| candidate.attr_type == attr_type)
        .or_else(|| (found.len() == 1).then(|| &found[0]))
        .map(|candidate| candidate.value.clone())
        // The label names the type; a single stated value (a custom `x_` property, a
        // path with no attribute type of its own) is then its value.
        .or_else(|| match facts {
            [only] => Some(only.value.clone()),
            _ => None,
        });
    let Some(value) = chosen else {
        let listed: Vec<String> = facts.iter().map(|fact| fact.path.clone()).collect();
        return Err(format!(
            "cannot read one {attr_type} value from {}",
            if listed.is_empty() {
                "nothing".to_string()
            } else {
                listed.join(", ")
            }
        ));
    };
    let data = if matches!(attr_type, "attachment" | "malware-sample") {
        facts
            .iter()
            .find(|fact| {
                fact.path == "file:content_ref.payload_bin" || fact.path == "artifact:payload_bin"
            })
            .map(|fact| fact.value.clone())
    } else {
        None
    };
    Ok((value, data))
}

// ---------------------------------------------------------------------------------------
// misp-stix's object mappings
// ---------------------------------------------------------------------------------------

/// Where misp-stix puts one MISP object template's attributes.
struct Template {
    name: &'static str,
    meta_category: &'static str,
    /// The category the template gives its attributes when their type allows it (MISP
    /// objects' `categories`; otherwise each type's default applies).
    category: Option<&'static str>,
    /// Canonical path → (object relation, MISP type).
    fields: &'static [(&'static str, &'static str, &'static str)],
    /// For address paths whose value turns out to be a host name: path → (relation, type).
    host_fields: &'static [(&'static str, &'static str, &'static str)],
    /// Relations misp-stix only writes as `x_misp_<relation>` properties.
    custom: &'static [(&'static str, &'static str)],
}

const TEMPLATES: &[Template] = &[
    Template {
        name: "file",
        meta_category: "file",
        category: None,
        fields: &[
            ("file:name", "filename", "filename"),
            ("file:size", "size-in-bytes", "size-in-bytes"),
            ("file:name_enc", "file-encoding", "text"),
            ("file:mime_type", "mimetype", "mime-type"),
            ("file:ctime", "creation-time", "datetime"),
            ("file:mtime", "modification-time", "datetime"),
            ("file:atime", "access-time", "datetime"),
            ("file:parent_directory_ref.path", "path", "text"),
        ],
        host_fields: &[],
        custom: &[
            ("fullpath", "text"),
            ("magic", "text"),
            ("entropy", "float"),
            ("state", "text"),
            ("text", "text"),
            ("pattern-in-file", "pattern-in-file"),
            ("certificate", "x509-fingerprint-sha1"),
            ("compilation-timestamp", "datetime"),
            ("dom-hash", "dom-hash"),
        ],
    },
    Template {
        name: "email",
        meta_category: "network",
        category: Some("Payload delivery"),
        fields: &[
            ("email-message:from_ref.value", "from", "email-src"),
            (
                "email-message:from_ref.display_name",
                "from-display-name",
                "email-src-display-name",
            ),
            ("email-message:to_refs.value", "to", "email-dst"),
            (
                "email-message:to_refs.display_name",
                "to-display-name",
                "email-dst-display-name",
            ),
            ("email-message:cc_refs.value", "cc", "email-dst"),
            (
                "email-message:cc_refs.display_name",
                "cc-display-name",
                "email-dst-display-name",
            ),
            ("email-message:bcc_refs.value", "bcc", "email-dst"),
            (
                "email-message:bcc_refs.display_name",
                "bcc-display-name",
                "email-dst-display-name",
            ),
            ("email-message:subject", "subject", "email-subject"),
            ("email-message:message_id", "message-id", "email-message-id"),
            (
                "email-message:additional_header_fields.reply_to",
                "reply-to",
                "email-reply-to",
            ),
            (
                "email-message:additional_header_fields.x_mailer",
                "x-mailer",
                "email-x-mailer",
            ),
            ("email-message:body", "email-body", "email-body"),
            (
                "email-message:body_multipart.body_raw_ref.name",
                "attachment",
                "email-attachment",
            ),
            ("email-message:received_lines", "header", "email-header"),
            ("email-message:date", "send-date", "datetime"),
            ("email-addr:value", "from", "email-src"),
        ],
        host_fields: &[],
        custom: &[
            ("user-agent", "text"),
            ("mime-boundary", "email-mime-boundary"),
            ("thread-index", "email-thread-index"),
            ("return-path", "email-src"),
            ("ip-src", "ip-src"),
            ("from-domain", "domain"),
            ("received-header-ip", "ip-src"),
            ("received-header-hostname", "hostname"),
            ("reply-to-display-name", "email-dst-display-name"),
        ],
    },
    Template {
        name: "domain-ip",
        meta_category: "network",
        category: None,
        fields: &[
            ("domain-name:value", "domain", "domain"),
            ("domain-name:resolves_to_refs.value", "ip", "ip-dst"),
            ("ipv4-addr:value", "ip", "ip-dst"),
            ("ipv6-addr:value", "ip", "ip-dst"),
        ],
        host_fields: &[],
        custom: &[
            ("hostname", "hostname"),
            ("port", "port"),
            ("text", "text"),
            ("first-seen", "datetime"),
            ("last-seen", "datetime"),
            ("registration-date", "datetime"),
        ],
    },
    Template {
        name: "url",
        meta_category: "network",
        category: None,
        fields: &[("url:value", "url", "url")],
        host_fields: &[],
        custom: &[
            ("domain", "domain"),
            ("host", "hostname"),
            ("ip", "ip-dst"),
            ("port", "port"),
            ("scheme", "text"),
            ("resource_path", "text"),
            ("query_string", "text"),
            ("fragment", "text"),
            ("credential", "text"),
            ("domain_without_tld", "text"),
            ("subdomain", "text"),
            ("tld", "text"),
            ("text", "text"),
            ("first-seen", "datetime"),
            ("last-seen", "datetime"),
        ],
    },
    Template {
        name: "ip-port",
        meta_category: "network",
        category: None,
        fields: &[
            ("network-traffic:dst_ref.value", "ip", "ip-dst"),
            ("network-traffic:src_ref.value", "ip-src", "ip-src"),
            ("network-traffic:dst_port", "dst-port", "port"),
            ("network-traffic:src_port", "src-port", "port"),
            ("network-traffic:start", "first-seen", "datetime"),
            ("network-traffic:end", "last-seen", "datetime"),
        ],
        host_fields: &[
            ("network-traffic:dst_ref.value", "domain", "domain"),
            ("network-traffic:src_ref.value", "hostname", "hostname"),
        ],
        custom: &[
            ("AS", "AS"),
            ("country-code", "text"),
            ("domain", "domain"),
            ("hostname", "hostname"),
            ("protocol", "text"),
            ("ptr-record", "domain"),
            ("text", "text"),
        ],
    },
    Template {
        name: "network-connection",
        meta_category: "network",
        category: None,
        fields: &[
            ("network-traffic:src_ref.value", "ip-src", "ip-src"),
            ("network-traffic:dst_ref.value", "ip-dst", "ip-dst"),
            ("network-traffic:src_port", "src-port", "port"),
            ("network-traffic:dst_port", "dst-port", "port"),
            ("network-traffic:start", "first-packet-seen", "datetime"),
            ("network-traffic:end", "last-packet-seen", "datetime"),
        ],
        host_fields: &[
            ("network-traffic:src_ref.value", "hostname-src", "hostname"),
            ("network-traffic:dst_ref.value", "hostname-dst", "hostname"),
        ],
        custom: &[
            ("hostname-src", "hostname"),
            ("hostname-dst", "hostname"),
            ("community-id", "community-id"),
            ("count", "counter"),
            ("mac-src", "mac-address"),
            ("mac-dst", "mac-address"),
            ("src-bytes-count", "size-in-bytes"),
            ("dst-bytes-count", "size-in-bytes"),
            ("src-packets-count", "counter"),
            ("dst-packets-count", "counter"),
        ],
    },
    Template {
        name: "x509",
        meta_category: "network",
        category: None,
        fields: &[
            (
                "x509-certificate:hashes.MD5",
                "x509-fingerprint-md5",
                "x509-fingerprint-md5",
            ),
            (
                "x509-certificate:hashes.SHA1",
                "x509-fingerprint-sha1",
                "x509-fingerprint-sha1",
            ),
            (
                "x509-certificate:hashes.SHA256",
                "x509-fingerprint-sha256",
                "x509-fingerprint-sha256",
            ),
            ("x509-certificate:issuer", "issuer", "text"),
            ("x509-certificate:serial_number", "serial-number", "text"),
            (
                "x509-certificate:signature_algorithm",
                "signature_algorithm",
                "text",
            ),
            ("x509-certificate:subject", "subject", "text"),
            (
                "x509-certificate:subject_public_key_algorithm",
                "pubkey-info-algorithm",
                "text",
            ),
            (
                "x509-certificate:subject_public_key_modulus",
                "pubkey-info-modulus",
                "text",
            ),
            (
                "x509-certificate:subject_public_key_exponent",
                "pubkey-info-exponent",
                "text",
            ),
            (
                "x509-certificate:validity_not_before",
                "validity-not-before",
                "datetime",
            ),
            (
                "x509-certificate:validity_not_after",
                "validity-not-after",
                "datetime",
            ),
            ("x509-certificate:version", "version", "text"),
        ],
        host_fields: &[],
        custom: &[
            ("pem", "text"),
            ("raw-base64", "text"),
            ("pubkey-info-size", "text"),
            ("dns_names", "hostname"),
            ("email", "email-dst"),
            ("ip", "ip-dst"),
            ("text", "text"),
        ],
    },
    Template {
        name: "registry-key",
        meta_category: "misc",
        category: None,
        fields: &[
            ("windows-registry-key:key", "key", "regkey"),
            ("windows-registry-key:values.name", "name", "text"),
            ("windows-registry-key:values.data", "data", "text"),
            ("windows-registry-key:values.data_type", "data-type", "text"),
            (
                "windows-registry-key:modified_time",
                "last-modified",
                "datetime",
            ),
        ],
        host_fields: &[],
        custom: &[("hive", "text"), ("root-keys", "text"), ("text", "text")],
    },
    Template {
        name: "mutex",
        meta_category: "misc",
        category: None,
        fields: &[("mutex:name", "name", "text")],
        host_fields: &[],
        custom: &[("description", "text"), ("operating-system", "text")],
    },
    Template {
        name: "asn",
        meta_category: "network",
        category: None,
        fields: &[
            ("autonomous-system:number", "asn", "AS"),
            ("autonomous-system:name", "description", "text"),
        ],
        host_fields: &[],
        custom: &[
            ("subnet-announced", "ip-src"),
            ("country", "text"),
            ("first-seen", "datetime"),
            ("last-seen", "datetime"),
        ],
    },
    Template {
        name: "credential",
        meta_category: "misc",
        category: None,
        fields: &[
            ("user-account:user_id", "username", "text"),
            ("user-account:credential", "password", "text"),
        ],
        host_fields: &[],
        custom: &[
            ("text", "text"),
            ("type", "text"),
            ("origin", "text"),
            ("format", "text"),
            ("notification", "text"),
        ],
    },
];

const VULNERABILITY_RELATIONS: [(&str, &str); 10] = [
    ("cvss-score", "float"),
    ("cvss-string", "text"),
    ("created", "datetime"),
    ("modified", "datetime"),
    ("published", "datetime"),
    ("state", "text"),
    ("credit", "text"),
    ("impact", "text"),
    ("payload", "text"),
    ("vulnerable-configuration", "cpe"),
];

fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|template| template.name == name)
}

/// `x_misp_<suffix>` → the template relation it stands for (spellings with `_` and `-`
/// compared alike) and its type; unknown suffixes become text attributes.
fn custom_relation(suffix: &str, known: &[(&str, &str)]) -> (String, String) {
    let normalise = |text: &str| text.replace('_', "-").to_ascii_lowercase();
    let wanted = normalise(suffix);
    known
        .iter()
        .find(|(relation, _)| normalise(relation) == wanted)
        .map(|(relation, attr_type)| (relation.to_string(), attr_type.to_string()))
        .unwrap_or_else(|| (suffix.replace('_', "-"), "text".to_string()))
}

impl Template {
    /// (relation, type, value, data) for each fact this template maps.
    fn attributes(&self, facts: &[PathValue]) -> Vec<(String, String, String, Option<String>)> {
        let mut out = Vec::new();
        let mut known: Vec<(&str, &str)> = self.custom.to_vec();
        known.extend(
            self.fields
                .iter()
                .map(|(_, relation, attr_type)| (*relation, *attr_type)),
        );
        for fact in facts {
            let value = fact.value.clone();
            let (object_type, property) = fact.path.split_once(':').unwrap_or(("", &fact.path));
            if let Some((_, relation, attr_type)) =
                self.fields.iter().find(|(path, _, _)| *path == fact.path)
            {
                let is_address = matches!(*attr_type, "ip-dst" | "ip-src");
                if is_address
                    && value
                        .split('/')
                        .next()
                        .and_then(|ip| ip.parse::<IpAddr>().ok())
                        .is_none()
                {
                    if let Some((_, relation, attr_type)) = self
                        .host_fields
                        .iter()
                        .find(|(path, _, _)| *path == fact.path)
                    {
                        out.push((relation.to_string(), attr_type.to_string(), value, None));
                    }
                    continue;
                }
                out.push((relation.to_string(), attr_type.to_string(), value, None));
            } else if self.name == "file"
                && let Some(attr_type) = property.strip_prefix("hashes.").and_then(misp_hash_type)
            {
                out.push((attr_type.to_string(), attr_type.to_string(), value, None));
            } else if self.name == "network-connection" && fact.path == "network-traffic:protocols"
            {
                let layer = match value.to_ascii_lowercase().as_str() {
                    "ip" | "ipv4" | "ipv6" | "icmp" | "arp" => "layer3-protocol",
                    "tcp" | "udp" | "sctp" => "layer4-protocol",
                    _ => "layer7-protocol",
                };
                out.push((
                    layer.to_string(),
                    "text".to_string(),
                    value.to_ascii_uppercase(),
                    None,
                ));
            } else if let Some(suffix) = property.strip_prefix("x_misp_")
                && !suffix.contains('.')
            {
                let (relation, attr_type) = custom_relation(suffix, &known);
                out.push((relation, attr_type, value, None));
            } else if self.name == "file" && property == "x_misp_attachment.value" {
                let data = facts
                    .iter()
                    .find(|other| other.path == "file:x_misp_attachment.data")
                    .map(|other| other.value.clone());
                out.push((
                    "attachment".to_string(),
                    "attachment".to_string(),
                    value,
                    data,
                ));
            } else if self.name == "file"
                && property == "content_ref.payload_bin"
                && object_type == "file"
            {
                let named = facts
                    .iter()
                    .find(|other| other.path == "file:content_ref.x_misp_filename")
                    .map(|other| other.value.clone());
                let md5 = facts
                    .iter()
                    .find(|other| other.path == "file:content_ref.hashes.MD5")
                    .map(|other| other.value.clone());
                if let (Some(name), Some(md5)) = (named, md5) {
                    out.push((
                        "malware-sample".to_string(),
                        "malware-sample".to_string(),
                        format!("{name}|{md5}"),
                        Some(value),
                    ));
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Assembling events
// ---------------------------------------------------------------------------------------

struct Assembler<'i, 'b, 'a> {
    importer: &'i Importer<'b, 'a>,
    /// Emptied as events take them (see `fill`).
    contributions: Vec<Contribution>,
    /// In how many events each object appears (ids of objects in several are derived).
    member_count: FastMap<usize, usize>,
    used_uuids: FastSet<String>,
    used_event_uuids: FastSet<String>,
}

#[derive(Default)]
struct EventDraft {
    uuid: String,
    tags: Vec<String>,
    attributes: Vec<(String, Candidate)>,
    attribute_index: FastMap<(String, String, String), usize>,
    objects: Vec<ObjectDraft>,
    object_index: FastMap<String, usize>,
    /// STIX id → the MISP object uuid it became, for references.
    object_of: FastMap<String, String>,
    /// STIX id → the first attribute uuid it became.
    attribute_of: FastMap<String, String>,
}

struct ObjectDraft {
    uuid: String,
    candidate: ObjectCandidate,
    attribute_uuids: Vec<String>,
    references: Vec<(String, String)>,
}

/// An assembled event, before it is written as MISP JSON or as typed input.
struct Finished<'i, 'a> {
    draft: EventDraft,
    info: String,
    date: Option<String>,
    timestamp: Option<i64>,
    orgc: Option<&'i StixObject<'a>>,
}

impl<'i, 'a> Assembler<'i, '_, 'a> {
    fn derived_uuid(&mut self, seed: &str) -> String {
        let mut counter = 0u32;
        loop {
            let text = if counter == 0 {
                seed.to_string()
            } else {
                format!("{seed}#{counter}")
            };
            let candidate = uuid::Uuid::new_v5(&IMPORT_NAMESPACE, text.as_bytes()).to_string();
            if self.used_uuids.insert(candidate.clone()) {
                return candidate;
            }
            counter += 1;
        }
    }

    /// The preferred uuid when it is unambiguous and free, else one derived from the event
    /// and the STIX id.
    /// The derivation is written only when needed: most items keep their preferred uuid.
    fn item_uuid(
        &mut self,
        preferred: Option<&str>,
        shared: bool,
        derivation: impl FnOnce() -> String,
    ) -> String {
        if !shared
            && let Some(preferred) = preferred
            && self.used_uuids.insert(preferred.to_string())
        {
            return preferred.to_string();
        }
        self.derived_uuid(&derivation())
    }

    fn event_uuid(&mut self, preferred: Option<String>, derivation: &str) -> String {
        if let Some(preferred) = preferred
            && self.used_event_uuids.insert(preferred.clone())
        {
            return preferred;
        }
        let mut counter = 0u32;
        loop {
            let text = format!("event:{derivation}#{counter}");
            let candidate = uuid::Uuid::new_v5(&IMPORT_NAMESPACE, text.as_bytes()).to_string();
            if self.used_event_uuids.insert(candidate.clone()) {
                return candidate;
            }
            counter += 1;
        }
    }

    fn container_event(&mut self, container: usize, members: &[usize]) -> Finished<'i, 'a> {
        let object = self.importer.object(container);
        let uuid = self.event_uuid(object.uuid_part(), object.id);
        let mut draft = EventDraft {
            uuid,
            ..EventDraft::default()
        };
        let from_misp_stix = object.misp_label("tool") == Some("MISP-STIX-Converter");
        draft.tags = object
            .tag_labels()
            .into_iter()
            .filter(|label| !(from_misp_stix && label == MISP_STIX_REPORT_LABEL))
            .collect();
        draft.tags.extend(self.importer.marking_tags(object.map));
        self.fill(&mut draft, members);
        let date = object
            .text("published")
            .or_else(|| object.text("created"))
            .and_then(date_of);
        let info = object
            .text("name")
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} {}", object.kind, object.id));
        let orgc = object
            .text("created_by_ref")
            .and_then(|id| self.importer.bundle.get(id));
        Finished {
            draft,
            info,
            date,
            timestamp: object.modified_seconds(),
            orgc,
        }
    }

    fn unheld_event(&mut self, members: &[usize], options: &StixImportOptions) -> Finished<'i, 'a> {
        // Bundle ids are transport-only and reused by some producers: the objects name
        // the event.
        let mut ids: Vec<&str> = members
            .iter()
            .map(|&index| self.importer.object(index).id)
            .collect();
        ids.sort_unstable();
        let derivation = format!(
            "unreferenced:{}:{}",
            self.importer.bundle.bundle_id.unwrap_or(""),
            ids.join(",")
        );
        let uuid = self.event_uuid(None, &derivation);
        let mut draft = EventDraft {
            uuid,
            ..EventDraft::default()
        };
        self.fill(&mut draft, members);
        let objects: Vec<&StixObject<'_>> = members
            .iter()
            .map(|&index| self.importer.object(index))
            .collect();
        let created = objects.iter().filter_map(|object| object.text("created"));
        let date = parsed_runs(created, parse_datetime_micros)
            .min_by_key(|&(_, micros)| micros)
            .and_then(|(created, _)| date_of(created));
        // As `modified_seconds` of each.
        let modified = objects
            .iter()
            .filter_map(|object| object.text("modified").or_else(|| object.text("created")));
        let timestamp = parsed_runs(modified, parse_datetime_micros)
            .filter_map(|(_, micros)| micros)
            .map(|micros| micros.div_euclid(1_000_000))
            .max();
        let creators: HashSet<&str> = objects
            .iter()
            .filter_map(|object| object.text("created_by_ref"))
            .collect();
        let orgc = match creators.into_iter().collect::<Vec<_>>()[..] {
            [only] => self.importer.bundle.get(only),
            _ => None,
        };
        let info = if options.default_info.trim().is_empty() {
            "STIX import".to_string()
        } else {
            options.default_info.trim().to_string()
        };
        Finished {
            draft,
            info,
            date,
            timestamp,
            orgc,
        }
    }

    fn fill(&mut self, draft: &mut EventDraft, members: &[usize]) {
        // Most members give one attribute: sized once rather than grown.
        draft.attributes.reserve(members.len());
        draft.attribute_index.reserve(members.len());
        draft.attribute_of.reserve(members.len());
        self.used_uuids.reserve(members.len());
        for &index in members {
            let object = self.importer.object(index);
            let shared = self.member_count.get(&index).copied().unwrap_or(0) > 1;
            // An object of one event hands its candidates over; one of several events is
            // copied for each.
            let contribution = if shared {
                self.contributions[index].clone()
            } else {
                std::mem::take(&mut self.contributions[index])
            };
            draft.tags.extend(contribution.tags);
            for (position, candidate) in contribution.attributes.into_iter().enumerate() {
                if let Some(&existing) = draft.attribute_index.get(&candidate.key) {
                    merge_candidate(&mut draft.attributes[existing].1, &candidate);
                    let uuid = draft.attributes[existing].0.clone();
                    draft
                        .attribute_of
                        .entry(object.id.to_string())
                        .or_insert(uuid);
                    continue;
                }
                let uuid = self.item_uuid(candidate.seed.preferred_uuid.as_deref(), shared, || {
                    format!("{}/{}/{position}", draft.uuid, object.id)
                });
                draft
                    .attribute_of
                    .entry(object.id.to_string())
                    .or_insert(uuid.clone());
                draft
                    .attribute_index
                    .insert(candidate.key.clone(), draft.attributes.len());
                draft.attributes.push((uuid, candidate));
            }
            for (position, candidate) in contribution.objects.into_iter().enumerate() {
                // misp-stix writes one MISP object as an indicator and an observed-data
                // with the same uuid: they are one object.
                let merge_key = candidate
                    .preferred_uuid
                    .clone()
                    .unwrap_or_else(|| format!("{}/{position}", object.id));
                if let Some(&existing) = draft.object_index.get(&merge_key) {
                    let object_draft = &mut draft.objects[existing];
                    for attribute in candidate.attributes {
                        let same = object_draft.candidate.attributes.iter_mut().find(|known| {
                            known.key == attribute.key
                                && known.seed.object_relation == attribute.seed.object_relation
                        });
                        match same {
                            Some(known) => merge_candidate(known, &attribute),
                            None => {
                                let uuid = self.item_uuid(
                                    attribute.seed.preferred_uuid.as_deref(),
                                    shared,
                                    || {
                                        format!(
                                            "{}/{}/{position}/{}",
                                            draft.uuid,
                                            object.id,
                                            object_draft.attribute_uuids.len()
                                        )
                                    },
                                );
                                object_draft.attribute_uuids.push(uuid);
                                object_draft.candidate.attributes.push(attribute);
                            }
                        }
                    }
                    draft
                        .object_of
                        .insert(object.id.to_string(), object_draft.uuid.clone());
                    continue;
                }
                let uuid = self.item_uuid(candidate.preferred_uuid.as_deref(), shared, || {
                    format!("{}/{}/object{position}", draft.uuid, object.id)
                });
                let attribute_uuids = candidate
                    .attributes
                    .iter()
                    .enumerate()
                    .map(|(attribute_position, attribute)| {
                        self.item_uuid(attribute.seed.preferred_uuid.as_deref(), shared, || {
                            format!(
                                "{}/{}/{position}/{attribute_position}",
                                draft.uuid, object.id
                            )
                        })
                    })
                    .collect();
                draft.object_of.insert(object.id.to_string(), uuid.clone());
                draft.object_index.insert(merge_key, draft.objects.len());
                draft.objects.push(ObjectDraft {
                    uuid,
                    candidate,
                    attribute_uuids,
                    references: Vec::new(),
                });
            }
        }
        self.references(draft, members);
        dedup(&mut draft.tags);
    }

    /// Relationships between objects of the event become MISP object references.
    fn references(&self, draft: &mut EventDraft, members: &[usize]) {
        let member_ids: HashSet<&str> = members
            .iter()
            .map(|&index| self.importer.object(index).id)
            .collect();
        let position_of: HashMap<String, usize> = draft
            .objects
            .iter()
            .enumerate()
            .map(|(position, object)| (object.uuid.clone(), position))
            .collect();
        for relationship in &self.importer.bundle.objects {
            if relationship.kind != "relationship" {
                continue;
            }
            let (Some(kind), Some(source), Some(target)) = (
                relationship.text("relationship_type"),
                relationship.text("source_ref"),
                relationship.text("target_ref"),
            ) else {
                continue;
            };
            if matches!(kind, "based-on" | "indicates")
                || !member_ids.contains(source)
                || !member_ids.contains(target)
            {
                continue;
            }
            let Some(source_uuid) = draft.object_of.get(source) else {
                continue;
            };
            let Some(target_uuid) = draft
                .object_of
                .get(target)
                .or_else(|| draft.attribute_of.get(target))
                .cloned()
            else {
                continue;
            };
            if &target_uuid == source_uuid {
                continue;
            }
            if let Some(&position) = position_of.get(source_uuid) {
                let object_draft = &mut draft.objects[position];
                let reference = (target_uuid, kind.to_string());
                if !object_draft.references.contains(&reference) {
                    object_draft.references.push(reference);
                }
            }
        }
    }
}

/// Each text with `parse` of it, parsed once for each run of equal texts: the objects of an
/// envelope mostly share their timestamps, and parsing one costs ~1,800 instructions.
fn parsed_runs<'t, K: Copy>(
    texts: impl Iterator<Item = &'t str>,
    parse: impl Fn(&str) -> K,
) -> impl Iterator<Item = (&'t str, K)> {
    texts.scan(None::<(&'t str, K)>, move |last, text| {
        let key = match *last {
            Some((seen, key)) if seen == text => key,
            _ => parse(text),
        };
        *last = Some((text, key));
        Some((text, key))
    })
}

/// Two statements of one attribute (misp-stix's indicator and observed-data, or the same
/// value in two indicators): it is an IDS signature if either says so.
fn merge_candidate(known: &mut Candidate, other: &Candidate) {
    let seed = &mut known.seed;
    seed.to_ids |= other.seed.to_ids;
    if seed.comment.is_empty() {
        seed.comment = other.seed.comment.clone();
    }
    for tag in &other.seed.tags {
        if !seed.tags.contains(tag) {
            seed.tags.push(tag.clone());
        }
    }
    if seed.first_seen.is_none() {
        seed.first_seen = other.seed.first_seen.clone();
    }
    if seed.last_seen.is_none() {
        seed.last_seen = other.seed.last_seen.clone();
    }
    if seed.valid_until.is_none() {
        seed.valid_until = other.seed.valid_until.clone();
    }
    if seed.data.is_none() {
        seed.data = other.seed.data.clone();
    }
}

/// `YYYY-MM-DD` of a STIX timestamp.
fn date_of(timestamp: &str) -> Option<String> {
    parse_datetime_micros(timestamp)?;
    timestamp.get(..10).map(str::to_string)
}

fn tag_list(tags: &[String]) -> Value {
    Value::Array(tags.iter().map(|name| json!({"name": name})).collect())
}

fn render_attribute(uuid: &str, candidate: &Candidate) -> Value {
    let seed = &candidate.seed;
    let mut attribute = json!({
        "uuid": uuid,
        "type": seed.attr_type,
        "category": candidate.category,
        "value": seed.value,
        "to_ids": seed.to_ids,
        "comment": seed.comment,
    });
    if let Some(relation) = &seed.object_relation {
        attribute["object_relation"] = json!(relation);
    }
    for (key, value) in [
        ("first_seen", &seed.first_seen),
        ("last_seen", &seed.last_seen),
        ("valid_until", &seed.valid_until),
        ("data", &seed.data),
    ] {
        if let Some(value) = value {
            attribute[key] = json!(value);
        }
    }
    if let Some(timestamp) = seed.timestamp {
        attribute["timestamp"] = json!(timestamp.to_string());
    }
    attribute["Tag"] = tag_list(&seed.tags);
    attribute
}

fn render_event(finished: Finished<'_, '_>) -> Value {
    let Finished {
        draft,
        info,
        date,
        timestamp,
        orgc,
    } = finished;
    let mut event = json!({
        "uuid": draft.uuid,
        "info": info,
        "threat_level_id": "4",
        "analysis": "0",
        "published": false,
    });
    if let Some(date) = date {
        event["date"] = json!(date);
    }
    if let Some(timestamp) = timestamp {
        event["timestamp"] = json!(timestamp.to_string());
    }
    if let Some(identity) = orgc
        && let Some(name) = identity
            .text("name")
            .map(str::trim)
            .filter(|name| !name.is_empty())
    {
        let mut org = json!({"name": name});
        if let Some(uuid) = identity.uuid_part() {
            org["uuid"] = json!(uuid);
        }
        event["Orgc"] = org;
    }
    event["Tag"] = tag_list(&draft.tags);
    event["Attribute"] = Value::Array(
        draft
            .attributes
            .iter()
            .map(|(uuid, candidate)| render_attribute(uuid, candidate))
            .collect(),
    );
    event["Object"] = Value::Array(
        draft
            .objects
            .iter()
            .map(|object| {
                let candidate = &object.candidate;
                let mut rendered = json!({
                    "uuid": object.uuid,
                    "name": candidate.name,
                    "meta-category": candidate.meta_category,
                    "comment": candidate.comment,
                    "ObjectReference": object
                        .references
                        .iter()
                        .map(|(target, kind)| json!({"referenced_uuid": target, "relationship_type": kind}))
                        .collect::<Vec<_>>(),
                });
                rendered["Attribute"] = Value::Array(
                    candidate
                        .attributes
                        .iter()
                        .zip(&object.attribute_uuids)
                        .map(|(attribute, uuid)| render_attribute(uuid, attribute))
                        .collect(),
                );
                if let Some(timestamp) = candidate.timestamp {
                    rendered["timestamp"] = json!(timestamp.to_string());
                }
                rendered
            })
            .collect(),
    );
    // Not `json!`: it would copy the whole event through serde.
    let mut envelope = Map::new();
    envelope.insert("Event".to_string(), event);
    Value::Object(envelope)
}

// ---------------------------------------------------------------------------------------
// Typed input: what `parse_event` reads from `render_event`'s JSON, without the JSON
// ---------------------------------------------------------------------------------------

/// `split_at`: from how many attributes they are written in two halves.
fn typed_event(finished: Finished<'_, '_>, split_at: usize) -> ParsedEvent {
    let Finished {
        draft,
        info,
        date,
        timestamp,
        orgc,
    } = finished;
    let mut errors = FieldErrors::new();
    // `date_of` checked the whole timestamp; its first ten characters are read again as a
    // date, as the JSON's `date` would be.
    let date = date
        .filter(|text| !text.trim().is_empty())
        .and_then(|text| {
            let parsed = lenient_date(&Value::String(text));
            if parsed.is_none() {
                errors.add("date", "must be a date (YYYY-MM-DD)");
            }
            parsed
        });
    let orgc = orgc.and_then(|identity| {
        let name = identity
            .text("name")
            .map(str::trim)
            .filter(|name| !name.is_empty())?;
        Some(OrgInput {
            id: None,
            uuid: identity.uuid_part(),
            name: Some(name.to_string()),
        })
    });
    // Errors are keyed by the attribute's position, so each half's are its own.
    let halves = in_halves(draft.attributes.len(), split_at, |range| {
        let mut found = FieldErrors::new();
        let attributes: Vec<AttributeInput> = draft.attributes[range.clone()]
            .iter()
            .zip(range)
            .map(|((uuid, candidate), index)| {
                typed_attribute(
                    uuid,
                    candidate,
                    &|| format!("Attribute.{index}."),
                    &mut found,
                )
            })
            .collect();
        (attributes, found)
    });
    let mut attributes = Vec::with_capacity(draft.attributes.len());
    for (half, found) in halves {
        attributes.extend(half);
        for (field, problems) in found.0 {
            for problem in problems {
                errors.add(&field, problem);
            }
        }
    }
    let objects = draft
        .objects
        .iter()
        .enumerate()
        .map(|(index, object)| {
            let candidate = &object.candidate;
            ObjectInput {
                uuid: Some(object.uuid.clone()),
                name: Some(candidate.name.trim().to_string()),
                meta_category: Some(candidate.meta_category.trim().to_string()),
                comment: Some(candidate.comment.clone()),
                timestamp: candidate.timestamp,
                attributes: candidate
                    .attributes
                    .iter()
                    .zip(&object.attribute_uuids)
                    .enumerate()
                    .map(|(position, (attribute, uuid))| {
                        typed_attribute(
                            uuid,
                            attribute,
                            &|| format!("Object.{index}.Attribute.{position}."),
                            &mut errors,
                        )
                    })
                    .collect(),
                references: object
                    .references
                    .iter()
                    .map(|(target, kind)| ObjectReferenceInput {
                        referenced_uuid: Some(target.clone()),
                        relationship_type: Some(kind.trim().to_string()),
                        ..ObjectReferenceInput::default()
                    })
                    .collect(),
                ..ObjectInput::default()
            }
        })
        .collect();
    ParsedEvent {
        input: EventInput {
            uuid: Some(draft.uuid),
            info: Some(info),
            date,
            threat_level_id: Some(4),
            analysis: Some(0),
            published: Some(false),
            timestamp,
            orgc,
            attributes,
            objects,
            tags: typed_tags(&draft.tags),
            ..EventInput::default()
        },
        errors,
    }
}

fn typed_tags(tags: &[String]) -> Vec<TagInput> {
    tags.iter()
        .map(|name| TagInput {
            name: Some(name.trim().to_string()),
            ..TagInput::default()
        })
        .collect()
}

/// `prefix` (`Attribute.3.`) is written only for an error.
fn typed_attribute(
    uuid: &str,
    candidate: &Candidate,
    prefix: &dyn Fn() -> String,
    errors: &mut FieldErrors,
) -> AttributeInput {
    let seed = &candidate.seed;
    let mut micros = |key: &str, text: &Option<String>| {
        parsed_micros(|| format!("{}{key}", prefix()), text, errors)
    };
    AttributeInput {
        uuid: Some(uuid.to_string()),
        attr_type: Some(seed.attr_type.trim().to_string()),
        category: Some(candidate.category.trim().to_string()),
        value: Some(seed.value.clone()),
        to_ids: Some(seed.to_ids),
        comment: Some(seed.comment.clone()),
        timestamp: seed.timestamp,
        object_relation: trimmed_text(&seed.object_relation),
        first_seen: micros("first_seen", &seed.first_seen),
        last_seen: micros("last_seen", &seed.last_seen),
        valid_until: micros("valid_until", &seed.valid_until),
        data: trimmed_text(&seed.data),
        tags: typed_tags(&seed.tags),
        ..AttributeInput::default()
    }
}

/// A time field as `parse_attribute` reads its text: blank is "cleared", unreadable an error.
fn parsed_micros(
    field: impl FnOnce() -> String,
    text: &Option<String>,
    errors: &mut FieldErrors,
) -> Option<Option<i64>> {
    match text {
        None => None,
        Some(text) if text.trim().is_empty() => Some(None),
        Some(text) => match parse_datetime_micros(text) {
            Some(micros) => Some(Some(micros)),
            None => {
                errors.add(&field(), "Invalid ISO 8601 format");
                None
            }
        },
    }
}

/// `object_relation` and `data` as `parse_attribute` reads them: trimmed, blank is absent.
fn trimmed_text(text: &Option<String>) -> Option<String> {
    text.as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misp::input::parse_event;
    use std::path::Path;

    fn json_files(folder: &Path, into: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                json_files(&path, into);
            } else if path.extension().is_some_and(|ext| ext == "json") {
                into.push(path);
            }
        }
    }

    /// The typed events are what the MISP JSON events parse to, error for error.
    #[test]
    fn typed_events_are_the_parsed_json_events() {
        let mut files = Vec::new();
        json_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
            &mut files,
        );
        let mut compared = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(content) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let options = StixImportOptions {
                default_info: "typed".into(),
            };
            let json = bundle_to_misp_events(&content, &options);
            let typed = bundle_to_event_inputs(&content, &options);
            assert_eq!(json.rejected, typed.rejected, "{}", path.display());
            assert_eq!(json.events.len(), typed.events.len(), "{}", path.display());
            for (event, parsed) in json.events.iter().zip(&typed.events) {
                match parse_event(event) {
                    Ok(input) => {
                        assert!(parsed.errors.is_empty(), "{}", path.display());
                        assert_eq!(input, parsed.input, "{}", path.display());
                    }
                    Err(errors) => assert_eq!(errors, parsed.errors, "{}", path.display()),
                }
                compared += 1;
            }
        }
        assert!(compared > 30, "only {compared} events compared");
    }

    /// An envelope of every kind this importer meets: containers, relationships to galaxy
    /// objects, markings, observed data with nested SCOs, loose SCOs, bad and missing
    /// patterns, duplicate values, unknown types; enough objects to be split.
    fn mixed_envelope() -> Value {
        let mut objects = vec![
            json!({"type": "identity", "spec_version": "2.1", "id": "identity--0b1d5b3c-8a4e-4f0e-9a57-3c1b7d2f6a11", "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "ACME", "identity_class": "organization"}),
            json!({"type": "malware", "spec_version": "2.1", "id": "malware--5f6a1c2e-7b3d-4e8f-9a0b-1c2d3e4f5a6b", "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "Badware", "is_family": true}),
            json!({"type": "x-unknown", "spec_version": "2.1", "id": "x-unknown--5f6a1c2e-7b3d-4e8f-9a0b-1c2d3e4f5a6c"}),
            json!({"type": "campaign", "spec_version": "2.1", "id": "campaign--5f6a1c2e-7b3d-4e8f-9a0b-1c2d3e4f5a6d", "created": "2026-01-01T00:00:00Z", "modified": "2026-01-01T00:00:00Z", "name": "Op"}),
        ];
        let id = |kind: &str, n: usize| format!("{kind}--00000000-0000-4000-8000-{n:012x}");
        let mut reported = Vec::new();
        let mut grouped = Vec::new();
        for n in 0..600 {
            let indicator = id("indicator", n);
            let pattern = match n % 7 {
                0 => format!("[ipv4-addr:value = '10.0.{}.{}']", n / 256, n % 256),
                1 => format!("[domain-name:value = 'host{}.example']", n % 50),
                2 => "[ipv4-addr:value = 'not an address']".to_string(),
                3 => "this is no pattern".to_string(),
                4 => format!("[file:hashes.'SHA-256' = '{n:064x}'] AND [file:name = 'f{n}.exe']"),
                5 => format!("[url:value = 'https://example.com/{}']", n % 30),
                _ => format!("[email-addr:value = 'user{n}@example.com']"),
            };
            let mut object = json!({
                "type": "indicator", "spec_version": "2.1", "id": indicator,
                "created": "2026-01-02T00:00:00Z", "modified": format!("2026-01-02T00:00:{:02}Z", n % 60),
                "name": format!("indicator {n}"), "pattern": pattern, "pattern_type": "stix",
                "valid_from": "2026-01-02T00:00:00Z", "labels": [format!("label{}", n % 3)],
                "created_by_ref": "identity--0b1d5b3c-8a4e-4f0e-9a57-3c1b7d2f6a11",
            });
            if n % 11 == 0 {
                object.as_object_mut().unwrap().remove("pattern");
            }
            if n % 13 == 0 {
                object["object_marking_refs"] =
                    json!(["marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"]);
            }
            objects.push(object);
            if n % 5 == 0 {
                objects.push(json!({"type": "relationship", "spec_version": "2.1", "id": id("relationship", n), "created": "2026-01-02T00:00:00Z", "modified": "2026-01-02T00:00:00Z", "relationship_type": "indicates", "source_ref": indicator, "target_ref": "malware--5f6a1c2e-7b3d-4e8f-9a0b-1c2d3e4f5a6b"}));
            }
            match n % 10 {
                0 | 1 => reported.push(indicator),
                2 => grouped.push(indicator),
                3 => {
                    grouped.push(indicator.clone());
                    reported.push(indicator);
                }
                _ => {}
            }
            if n % 9 == 0 {
                let address = id("ipv4-addr", n);
                let domain = id("domain-name", n);
                objects.push(json!({"type": "ipv4-addr", "spec_version": "2.1", "id": address, "value": format!("192.0.2.{}", n % 40)}));
                objects.push(json!({"type": "domain-name", "spec_version": "2.1", "id": domain, "value": format!("d{n}.example"), "resolves_to_refs": [address]}));
                let observed = id("observed-data", n);
                objects.push(json!({"type": "observed-data", "spec_version": "2.1", "id": observed, "created": "2026-01-03T00:00:00Z", "modified": "2026-01-03T00:00:00Z", "first_observed": "2026-01-03T00:00:00Z", "last_observed": "2026-01-03T00:00:00Z", "number_observed": 1, "object_refs": [domain]}));
                if n % 2 == 0 {
                    reported.push(observed);
                }
            }
            if n % 17 == 0 {
                objects.push(json!({"type": "url", "spec_version": "2.1", "id": id("url", n), "value": "https://example.com/loose"}));
                objects.push(json!({"type": "ipv4-addr", "spec_version": "2.1", "id": id("ipv4-addr", n + 100_000), "value": "bad address"}));
            }
        }
        objects.push(json!({"type": "report", "spec_version": "2.1", "id": "report--9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "created": "2026-01-04T00:00:00Z", "modified": "2026-01-04T00:00:00Z", "published": "2026-01-04T00:00:00Z", "name": "Report", "labels": ["Threat-Report", "keep"], "object_refs": reported, "created_by_ref": "identity--0b1d5b3c-8a4e-4f0e-9a57-3c1b7d2f6a11"}));
        objects.push(json!({"type": "grouping", "spec_version": "2.1", "id": "grouping--9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6e", "created": "2026-01-04T00:00:00Z", "modified": "2026-01-04T00:00:00Z", "name": "Grouping", "context": "suspicious-activity", "object_refs": grouped}));
        // A later version of an object already given, and a copy of one.
        let mut newer = objects[10].clone();
        newer["modified"] = json!("2026-02-01T00:00:00Z");
        objects.push(newer);
        objects.push(objects[20].clone());
        json!({"objects": objects})
    }

    /// Converting and building in two halves gives what one pass gives, rejection for
    /// rejection and error for error: on the mixed envelope and every STIX file of the tests.
    #[test]
    fn halves_give_what_one_pass_gives() {
        let mut contents = vec![mixed_envelope()];
        let mut files = Vec::new();
        json_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
            &mut files,
        );
        for path in files {
            if let Ok(content) =
                serde_json::from_str::<Value>(&std::fs::read_to_string(&path).unwrap())
            {
                contents.push(content);
            }
        }
        let options = StixImportOptions {
            default_info: "halves".into(),
        };
        let context = BuildContext {
            now: 1_800_000_000,
            today: Date::from_calendar_date(2027, Month::January, 15).unwrap(),
        };
        let mut checked = 0;
        for (position, content) in contents.iter().enumerate() {
            let (whole, whole_rejected) = convert_split(content, &options, typed_event, usize::MAX);
            let (halves, halves_rejected) = convert_split(content, &options, typed_event, 2);
            assert_eq!(whole_rejected, halves_rejected, "content {position}");
            assert_eq!(whole.len(), halves.len(), "content {position}");
            for (one, other) in whole.iter().zip(&halves) {
                assert_eq!(one.input, other.input, "content {position}");
                assert_eq!(one.errors, other.errors, "content {position}");
                // Object references without a uuid get a random one: not compared.
                let build = |split_at| {
                    crate::misp::build::new_event_split(&one.input, &context, 1, 1, split_at).map(
                        |mut event| {
                            for object in &mut event.objects {
                                for reference in &mut object.references {
                                    reference.uuid.clear();
                                }
                            }
                            event
                        },
                    )
                };
                assert!(build(usize::MAX) == build(2), "content {position}");
                checked += one.input.attributes.len();
            }
            if position == 0 {
                assert!(whole.len() >= 3, "{} events", whole.len());
                assert!(
                    whole_rejected.len() > 100,
                    "{} rejected",
                    whole_rejected.len()
                );
                assert_eq!(convert(content, &options, typed_event).1, whole_rejected);
            }
        }
        assert!(checked > 500, "only {checked} attributes checked");
    }
}
