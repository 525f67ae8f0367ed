//! MISP events as one STIX 2.1 bundle (stix-taxii-reference A.9), in misp-stix's dialect
//! so that MISP (which imports STIX through misp-stix) reads it back as MISP data, while
//! every object stays plain STIX for other consumers.
//!
//! Mapping:
//! - event → `report` when published (`published` = publish time), else `grouping`
//!   (`context: suspicious-activity`); id `report--<event uuid>` / `grouping--<event uuid>`;
//!   labels `Threat-Report`, `misp:tool="MISP-STIX-Converter"` (the label misp-stix
//!   recognises MISP-made bundles by) and the event's plain tags.
//! - creator organisation → `identity--<org uuid>` (`created_by_ref` of every SDO), once
//!   per bundle.
//! - attribute with an observable → `observed-data--<attribute uuid>` plus its SCOs, whose
//!   ids are the spec's deterministic UUIDv5 (the same value has the same id in every
//!   event and every bundle); `to_ids` attributes with a STIX pattern also get
//!   `indicator--<attribute uuid>` and a `based-on` relationship to the observed-data.
//!   Attributes with a pattern but no observable (user-agent, port…) are indicators only;
//!   anything else is misp-stix's custom `x-misp-attribute` (and a `to_ids` attribute
//!   misp-stix cannot read back from a pattern gets both). `vulnerability` and
//!   `campaign-name` attributes are `vulnerability` / `campaign` SDOs.
//! - MISP objects of the templates file, domain-ip, ip-port, url, email and
//!   network-connection → one observed-data (and one indicator over their `to_ids`
//!   attributes) named after the object; the attributes that have no place in the STIX
//!   object (a file's `state`, a URL's `scheme`…) and every other template are exported
//!   attribute by attribute.
//! - TLP tags → `object_marking_refs` with the marking definitions (once per bundle). An
//!   event's TLP marks the report and every SDO of the event, since markings do not
//!   cascade through `object_refs`; an attribute's own TLP tags replace it. SCOs carry no
//!   marking: one SCO id stands for the value across events of different TLP levels.
//! - galaxy cluster tags (`misp-galaxy:<type>="<value>"`) of known types → attack-pattern,
//!   course-of-action, intrusion-set, malware, threat-actor, tool or vulnerability SDOs
//!   with id UUIDv5(Kizuna namespace, tag name) — deterministic, one per cluster per
//!   bundle. Event clusters are referenced by the report; an attribute's clusters are
//!   also linked from its indicator (`indicates`) or other object (`related-to`).
//!   MITRE values `Name - T1234` become the name plus a `mitre-attack` external id.
//! - other tags → `labels`; local and non-exportable tags are not exported.
//! - Kizuna's context: `intended_use` and `status` as labels
//!   `kizuna:intended-use="block-outbound"` / `kizuna:status="confirmed"`;
//!   `valid_until` (else a later `last_seen`) → the indicator's `valid_until`.
//! - created/modified: the attribute's (object's, event's) timestamp, ms precision.

use super::ids::{
    derived_id, sco_id, sco_id_of_canonical, timestamp_micros, timestamp_millis, timestamp_seconds,
    write_json_string, write_json_value,
};
use super::markings::TlpMarking;
use super::pattern::{
    address_type, as_number, attribute_pattern, bracket, hash_key, hash_path, hash_value,
    hash_value_fits, port_number, quote, registry_key,
};
use crate::export::{ExportItem, ExportWriter};
use kizuna_model::attribute_types::is_composite;
use kizuna_model::{AttachedTag, Attribute, Event, MispObject};
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::BuildHasher as _;
use std::rc::Rc;

/// What a STIX export needs besides the events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stix2Options {
    /// The instance's external URL: reports link to `<base_url>/events/view/<uuid>`.
    /// Empty = no link.
    pub base_url: String,
    /// The export's clock (Unix seconds), for timestamps the data lacks.
    pub now: i64,
    /// The bundle id (`bundle--<uuid>`); None = a random one (a bundle id only names the
    /// transport, so each export may get its own).
    pub bundle_id: Option<String>,
}

impl Stix2Options {
    pub fn new(base_url: impl Into<String>, now: i64) -> Self {
        Self {
            base_url: base_url.into(),
            now,
            bundle_id: None,
        }
    }
}

/// The events as one bundle in memory (tests, small exports): the bundle id, unless
/// given, is derived from the event uuids.
pub fn events_to_bundle(events: &[Event], options: Stix2Options) -> Value {
    let mut options = options;
    if options.bundle_id.is_none() {
        let uuids: Vec<&str> = events.iter().map(|event| event.uuid.as_str()).collect();
        options.bundle_id = Some(derived_id("bundle", &uuids.join(",")));
    }
    let mut writer = Stix2Writer::new(options);
    let mut out = String::new();
    writer.begin(&mut out);
    for event in events {
        writer.event(&mut out, event);
    }
    writer.finish(&mut out);
    serde_json::from_str(&out).unwrap_or(Value::Null)
}

/// One STIX object of an event, serialised, with what a TAXII manifest lists about it.
///
/// One buffer per object: the JSON, then whichever of the id, type and version it does
/// not hold verbatim (an SCO's version, which is the event's); the three are spans of it.
/// A rendered event is thousands of these, held in the TAXII render cache: four buffers
/// each were a quarter of a render's cost in allocations, and their overhead in memory.
#[derive(Clone)]
pub struct StixObjectText {
    text: Box<str>,
    json_end: u32,
    id: Span,
    object_type: Span,
    version: Span,
    shared: bool,
}

/// Where a part of a `StixObjectText` lies in its buffer.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

/// A part of a `StixObjectText`: already in its JSON, or to be appended after it.
enum Part<'a> {
    At(Span),
    Text(&'a str),
}

/// Buffer offsets as stored: an object of 4 GiB is not one an event can produce.
fn offset(at: usize) -> u32 {
    u32::try_from(at).expect("a STIX object under 4 GiB")
}

impl StixObjectText {
    /// An object from its parts.
    pub fn new(id: &str, object_type: &str, version: &str, json: &str, shared: bool) -> Self {
        let mut text =
            String::with_capacity(json.len() + id.len() + object_type.len() + version.len());
        text.push_str(json);
        Self::from_json(
            text,
            Part::Text(id),
            Part::Text(object_type),
            Part::Text(version),
            shared,
        )
    }

    /// `text` is the JSON; the parts not in it are appended.
    fn from_json(
        mut text: String,
        id: Part<'_>,
        object_type: Part<'_>,
        version: Part<'_>,
        shared: bool,
    ) -> Self {
        let json_end = offset(text.len());
        let mut place = |part: Part<'_>| match part {
            Part::At(span) => span,
            Part::Text(part) => {
                let start = offset(text.len());
                text.push_str(part);
                Span {
                    start,
                    end: offset(text.len()),
                }
            }
        };
        let (id, object_type, version) = (place(id), place(object_type), place(version));
        Self {
            text: text.into_boxed_str(),
            json_end,
            id,
            object_type,
            version,
            shared,
        }
    }

    fn part(&self, span: Span) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }

    pub fn json(&self) -> &str {
        &self.text[..self.json_end as usize]
    }

    pub fn id(&self) -> &str {
        self.part(self.id)
    }

    pub fn object_type(&self) -> &str {
        self.part(self.object_type)
    }

    /// `modified`, else `created`, else the event's timestamp (SCOs carry neither).
    pub fn version(&self) -> &str {
        self.part(self.version)
    }

    /// Written once per bundle however many events name it: the creator's identity,
    /// marking definitions and galaxy cluster SDOs.
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// The bytes its one heap buffer holds.
    pub fn heap_bytes(&self) -> usize {
        self.text.len()
    }
}

impl PartialEq for StixObjectText {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
            && self.id() == other.id()
            && self.object_type() == other.object_type()
            && self.version() == other.version()
            && self.shared == other.shared
    }
}

impl Eq for StixObjectText {}

impl std::fmt::Debug for StixObjectText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StixObjectText")
            .field("id", &self.id())
            .field("object_type", &self.object_type())
            .field("version", &self.version())
            .field("json", &self.json())
            .field("shared", &self.shared)
            .finish()
    }
}

/// Everything one event becomes in STIX 2.1 — the objects `events_to_bundle` writes for it
/// in a bundle of its own (identity, markings and cluster SDOs included), in the same
/// order — so an event's object list depends on the event alone.
pub fn event_objects(event: &Event, options: &Stix2Options) -> Vec<StixObjectText> {
    let mut seen = BundleSeen::default();
    EventExport::new(event, options, &mut seen).build()
}

/// The streaming STIX 2.1 writer: one bundle, written event by event; only one event's
/// objects are held at a time (plus the ids of the identities, markings and clusters
/// already written, which are emitted once per bundle).
pub struct Stix2Writer {
    options: Stix2Options,
    bundle_id: String,
    objects_open: bool,
    seen: BundleSeen,
    pending: Option<PendingEvent>,
}

#[derive(Default)]
struct BundleSeen {
    identities: HashSet<String>,
    markings: HashSet<&'static str>,
    clusters: HashSet<String>,
}

/// Attributes handed over one by one (`attribute`), gathered per event until the event
/// changes, then written as that event.
struct PendingEvent {
    event: Event,
}

impl Stix2Writer {
    pub fn new(options: Stix2Options) -> Self {
        let bundle_id = options
            .bundle_id
            .clone()
            .unwrap_or_else(|| format!("bundle--{}", uuid::Uuid::new_v4()));
        Self {
            options,
            bundle_id,
            objects_open: false,
            seen: BundleSeen::default(),
            pending: None,
        }
    }

    fn push(&mut self, out: &mut String, object: &str) {
        if self.objects_open {
            out.push_str(",\n");
        } else {
            out.push_str(",\"objects\":[\n");
            self.objects_open = true;
        }
        out.push_str(object);
    }

    fn write_event(&mut self, out: &mut String, event: &Event) {
        let objects = EventExport::new(event, &self.options, &mut self.seen).build();
        for object in &objects {
            self.push(out, object.json());
        }
    }

    fn flush_pending(&mut self, out: &mut String) {
        if let Some(pending) = self.pending.take() {
            self.write_event(out, &pending.event);
        }
    }
}

/// The event's own fields, without its attributes and objects.
fn event_shell(event: &Event) -> Event {
    let mut shell = Event::new(
        event.uuid.clone(),
        event.info.clone(),
        event.date,
        event.org_id,
        event.timestamp,
    );
    shell.threat_level = event.threat_level;
    shell.analysis = event.analysis;
    shell.distribution = event.distribution;
    shell.published = event.published;
    shell.publish_timestamp = event.publish_timestamp;
    shell.orgc_id = event.orgc_id;
    shell.orgc = event.orgc.clone();
    shell.tags = event.tags.clone();
    shell
}

impl ExportWriter for Stix2Writer {
    fn content_type(&self) -> &'static str {
        "application/json; charset=UTF-8"
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn begin(&mut self, out: &mut String) {
        out.push_str("{\"type\":\"bundle\",\"id\":");
        out.push_str(&Value::String(self.bundle_id.clone()).to_string());
    }

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        if self
            .pending
            .as_ref()
            .is_some_and(|pending| pending.event.uuid != item.event.uuid)
        {
            self.flush_pending(out);
        }
        let pending = self.pending.get_or_insert_with(|| PendingEvent {
            event: event_shell(item.event),
        });
        match item.object {
            None => pending.event.attributes.push(item.attribute.clone()),
            Some(object) => {
                let holder = match pending
                    .event
                    .objects
                    .iter()
                    .position(|held| held.uuid == object.uuid)
                {
                    Some(index) => &mut pending.event.objects[index],
                    None => {
                        let mut shell = object.clone();
                        shell.attributes.clear();
                        pending.event.objects.push(shell);
                        pending.event.objects.last_mut().expect("just pushed")
                    }
                };
                holder.attributes.push(item.attribute.clone());
            }
        }
    }

    fn event(&mut self, out: &mut String, event: &Event) {
        self.flush_pending(out);
        self.write_event(out, event);
    }

    fn finish(&mut self, out: &mut String) {
        self.flush_pending(out);
        // A bundle's `objects`, when present, must not be empty.
        if self.objects_open {
            out.push_str("\n]}\n");
        } else {
            out.push_str("}\n");
        }
    }
}

// ---------------------------------------------------------------------------------------
// One event
// ---------------------------------------------------------------------------------------

/// The objects of one event: `prelude` (identity, markings and clusters this bundle has
/// not seen yet), then the report, then `body` (everything the report refers to).
///
/// Body objects are kept serialised, which is far smaller than their JSON trees; only
/// SCOs stay as trees until the event is complete, since a later attribute may add to one
/// (another address a domain resolves to).
struct EventExport<'a> {
    event: &'a Event,
    options: &'a Stix2Options,
    seen: &'a mut BundleSeen,
    creator: Rc<str>,
    /// The creator's id as a JSON string, written once and shared, not copied, by every
    /// item's `Common`.
    creator_json: Rc<str>,
    event_markings: Rc<[&'static str]>,
    micros: LastStamp,
    millis: LastStamp,
    prelude: Vec<Value>,
    body: Vec<Pending>,
    positions: Positions,
    cluster_refs: Vec<String>,
    /// The version of objects without timestamps of their own (SCOs).
    event_version: String,
}

/// Body entries by STIX id without a copy of each id: the 64-bit foldhash digest of an id
/// leads to its entry, which holds the id itself. Two ids of one digest (not met in
/// practice) are told apart: the later one is kept by its text.
#[derive(Default)]
struct Positions {
    by_digest: HashMap<u64, usize, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    collided: HashMap<String, usize>,
}

impl Positions {
    fn reserve(&mut self, additional: usize) {
        self.by_digest.reserve(additional);
    }

    fn get(&self, id: &str, body: &[Pending]) -> Option<usize> {
        match self.by_digest.get(&self.hasher.hash_one(id)) {
            Some(&index) if body[index].id() == id => Some(index),
            Some(_) => self.collided.get(id).copied(),
            None => None,
        }
    }

    /// Notes where `id`, not there yet, is.
    fn insert(&mut self, id: &str, index: usize) {
        match self.by_digest.entry(self.hasher.hash_one(id)) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id.to_string(), index);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(index);
            }
        }
    }
}

enum Pending {
    /// Finished when added: its buffer is shrunk then, not when the whole event is done.
    Written(StixObjectText),
    /// An SCO written as text: finished too, unless a later one with its id (the same
    /// observable with more properties) turns it back into a tree to merge with.
    Sco(StixObjectText),
    Observable(Value),
}

impl Pending {
    fn id(&self) -> &str {
        match self {
            Pending::Written(text) | Pending::Sco(text) => text.id(),
            Pending::Observable(tree) => tree["id"].as_str().unwrap_or_default(),
        }
    }

    /// The id, and whether it is written verbatim in the object's JSON (so needs no
    /// escaping where it is referred to).
    fn id_and_clean(&self) -> (&str, bool) {
        match self {
            Pending::Written(text) | Pending::Sco(text) => {
                (text.id(), text.id.end <= text.json_end)
            }
            Pending::Observable(_) => (self.id(), false),
        }
    }
}

/// A tag's role in STIX.
enum TagRole {
    Marking(&'static TlpMarking),
    Cluster(Cluster),
    Label(String),
}

/// How an attribute's tags come out.
#[derive(Default)]
struct SortedTags {
    markings: Vec<&'static TlpMarking>,
    clusters: Vec<Cluster>,
    labels: Vec<String>,
}

impl<'a> EventExport<'a> {
    fn new(event: &'a Event, options: &'a Stix2Options, seen: &'a mut BundleSeen) -> Self {
        Self {
            event,
            options,
            seen,
            creator: Rc::from(""),
            creator_json: Rc::from(""),
            event_markings: Rc::from([]),
            micros: LastStamp::new(timestamp_micros),
            millis: LastStamp::new(timestamp_millis),
            prelude: Vec::new(),
            body: Vec::new(),
            positions: Positions::default(),
            cluster_refs: Vec::new(),
            event_version: String::new(),
        }
    }

    fn build(mut self) -> Vec<StixObjectText> {
        self.event_version = timestamp_millis(self.event_timestamp());
        self.creator = Rc::from(self.identity());
        let mut creator_json = String::new();
        write_json_string(&self.creator, &mut creator_json);
        self.creator_json = Rc::from(creator_json);
        let event_tags = sort_tags(&self.event.tags);
        self.event_markings = Rc::from(self.marking_refs(&event_tags.markings));
        let event_timestamp = self.event_timestamp();
        for cluster in &event_tags.clusters {
            let id = self.cluster(cluster, event_timestamp);
            if !self.cluster_refs.contains(&id) {
                self.cluster_refs.push(id);
            }
        }
        // An attribute mostly becomes 3 to 5 body objects (SDOs, SCOs, relationships):
        // sized once, not grown (and rehashed) step by step.
        let expected = 4 * self.event.attributes.len();
        self.body.reserve(expected);
        self.positions.reserve(expected);
        for attribute in self.event.attributes.iter().filter(|a| !a.deleted) {
            self.attribute(attribute);
        }
        for object in self.event.objects.iter().filter(|o| !o.deleted) {
            self.object(object);
        }
        let report = self.report(event_tags.labels);
        let event_version = std::mem::take(&mut self.event_version);
        let mut objects = Vec::with_capacity(self.prelude.len() + 1 + self.body.len());
        for shared in &self.prelude {
            objects.push(listed(shared, &event_version, true));
        }
        objects.push(report.into_listed().0);
        objects.extend(self.body.into_iter().map(|entry| match entry {
            Pending::Written(listed) | Pending::Sco(listed) => listed,
            Pending::Observable(sco) => listed(&sco, &event_version, false),
        }));
        objects
    }

    fn event_timestamp(&self) -> i64 {
        if self.event.timestamp > 0 {
            self.event.timestamp
        } else {
            self.options.now
        }
    }

    fn item_timestamp(&self, timestamp: i64) -> i64 {
        if timestamp > 0 {
            timestamp
        } else {
            self.event_timestamp()
        }
    }

    /// The creator organisation's identity; emitted the first time the bundle meets it.
    fn identity(&mut self) -> String {
        let (uuid, name, created, modified) = match &self.event.orgc {
            Some(org) if !org.uuid.is_empty() => (
                Some(org.uuid.clone()),
                org.name.clone(),
                org.date_created,
                org.date_modified,
            ),
            _ => (None, String::new(), 0, 0),
        };
        let id = match &uuid {
            Some(uuid) => format!("identity--{uuid}"),
            None => derived_id("identity", &format!("organisation:{}", self.event.orgc_id)),
        };
        if self.seen.identities.insert(id.clone()) {
            let name = if name.is_empty() {
                "Unknown organisation".to_string()
            } else {
                name
            };
            let created = if created > 0 {
                created
            } else {
                self.event_timestamp()
            };
            let modified = modified.max(created);
            self.prelude.push(json!({
                "type": "identity",
                "spec_version": "2.1",
                "id": id,
                "created": timestamp_millis(created),
                "modified": timestamp_millis(modified),
                "name": name,
                "identity_class": "organization",
            }));
        }
        id
    }

    /// Marking ids for TLP tags; each definition is emitted once per bundle.
    fn marking_refs(&mut self, markings: &[&'static TlpMarking]) -> Vec<&'static str> {
        let mut refs = Vec::new();
        for marking in markings {
            if self.seen.markings.insert(marking.id) {
                self.prelude.push(marking.definition());
            }
            if !refs.contains(&marking.id) {
                refs.push(marking.id);
            }
        }
        refs
    }

    /// The marking refs of an item: its own TLP tags, else the event's.
    fn item_markings(&mut self, tags: &SortedTags) -> Rc<[&'static str]> {
        if tags.markings.is_empty() {
            Rc::clone(&self.event_markings)
        } else {
            Rc::from(self.marking_refs(&tags.markings))
        }
    }

    /// A galaxy cluster's SDO id; the SDO is emitted once per bundle.
    fn cluster(&mut self, cluster: &Cluster, timestamp: i64) -> String {
        let id = derived_id(cluster.sdo_type, &cluster.tag);
        if self.seen.clusters.insert(id.clone()) {
            self.prelude.push(cluster.sdo(&id, timestamp));
        }
        id
    }

    /// Adds an SCO to the event's body. One already there (same deterministic id) is
    /// merged rather than repeated, so the event never holds two versions of it.
    fn add(&mut self, object: Value) {
        let id = object["id"].as_str().unwrap_or_default();
        match self.positions.get(id, &self.body) {
            Some(index) => match &mut self.body[index] {
                Pending::Observable(existing) => merge_into(existing, object),
                Pending::Sco(text) => {
                    let mut existing = parse_sco(text.json());
                    merge_into(&mut existing, object);
                    self.body[index] = Pending::Observable(existing);
                }
                Pending::Written(_) => {}
            },
            None => {
                self.positions.insert(id, self.body.len());
                self.body.push(Pending::Observable(object));
            }
        }
    }

    /// Adds an SCO written as text; one already there with other properties is merged as
    /// `add` merges trees (an identical one is the merge's no-op).
    fn add_text(&mut self, sco: ScoText) {
        match self.positions.get(&sco.id, &self.body) {
            Some(index) => {
                let same =
                    matches!(&self.body[index], Pending::Sco(held) if held.json() == sco.json);
                if !same {
                    self.add(parse_sco(&sco.json));
                }
            }
            None => {
                self.positions.insert(&sco.id, self.body.len());
                self.body
                    .push(Pending::Sco(sco.into_listed(&self.event_version)));
            }
        }
    }

    fn add_sco(&mut self, sco: Sco) {
        match sco {
            Sco::Text(text) => self.add_text(text),
            Sco::Tree(tree) => self.add(tree),
        }
    }

    /// Adds a written SDO to the event's body, unless one with its id is already there.
    fn add_sdo(&mut self, sdo: SdoText) -> String {
        let (listed, id) = sdo.into_listed();
        if self.positions.get(&id, &self.body).is_none() {
            self.positions.insert(&id, self.body.len());
            self.body.push(Pending::Written(listed));
        }
        id
    }

    fn relationship(&mut self, source: &str, kind: &'static str, target: &str, timestamp: i64) {
        let id = derived_id("relationship", &[source, kind, target].join(" "));
        let mut relationship = SdoText::new("relationship", id, self.millis.text(timestamp), None);
        relationship.clean("relationship_type", kind);
        relationship.string("source_ref", source);
        relationship.string("target_ref", target);
        self.add_sdo(relationship);
    }

    /// Links an exported item to the clusters tagged on it.
    fn link_clusters(&mut self, source: &str, clusters: &[Cluster], timestamp: i64) {
        let source_type = source.split("--").next().unwrap_or_default();
        for cluster in clusters {
            let target = self.cluster(cluster, timestamp);
            if !self.cluster_refs.contains(&target) {
                self.cluster_refs.push(target.clone());
            }
            let kind = if source_type == "indicator"
                && matches!(
                    cluster.sdo_type,
                    "attack-pattern" | "intrusion-set" | "malware" | "threat-actor" | "tool"
                ) {
                "indicates"
            } else {
                "related-to"
            };
            self.relationship(source, kind, &target, timestamp);
        }
    }

    fn report(&mut self, labels: Vec<String>) -> SdoText {
        let published = self.event.published;
        let object_type = if published { "report" } else { "grouping" };
        let id = format!("{object_type}--{}", self.event.uuid);
        let mut report = SdoText::new(
            object_type,
            id,
            &timestamp_millis(self.event_timestamp()),
            Some(&*self.creator_json),
        );
        report.string("name", &self.event.info);
        if published {
            let publish_time = if self.event.publish_timestamp > 0 {
                self.event.publish_timestamp
            } else {
                self.event_timestamp()
            };
            report.string("published", &timestamp_seconds(publish_time));
            report.strings("report_types", ["threat-report"]);
        } else {
            report.string("context", "suspicious-activity");
        }
        let cluster_refs = self.cluster_refs.iter().map(String::as_str);
        if self.body.is_empty() && self.cluster_refs.is_empty() {
            // `object_refs` must not be empty; an empty event still names its author.
            report.strings("object_refs", [&*self.creator]);
        } else {
            report.ids(
                "object_refs",
                self.body
                    .iter()
                    .map(Pending::id_and_clean)
                    .chain(cluster_refs.map(|id| (id, false))),
            );
        }
        report.strings(
            "labels",
            ["Threat-Report", "misp:tool=\"MISP-STIX-Converter\""]
                .into_iter()
                .chain(labels.iter().map(String::as_str)),
        );
        if !self.options.base_url.is_empty() {
            report.value(
                "external_references",
                &json!([{
                    "source_name": "kizuna",
                    "url": format!(
                        "{}/events/view/{}",
                        self.options.base_url.trim_end_matches('/'),
                        self.event.uuid
                    ),
                }]),
            );
        }
        if !self.event_markings.is_empty() {
            report.ids(
                "object_marking_refs",
                self.event_markings.iter().map(|id| (*id, true)),
            );
        }
        report
    }

    // -----------------------------------------------------------------------------------
    // Attributes
    // -----------------------------------------------------------------------------------

    fn attribute(&mut self, attribute: &Attribute) {
        let tags = sort_tags(&attribute.tags);
        let markings = self.item_markings(&tags);
        let timestamp = self.item_timestamp(attribute.timestamp);
        // `Attribute::value` without its copy when the value is `value1`.
        let value: Cow<'_, str> = if is_composite(&attribute.attr_type) {
            Cow::Owned(attribute.value())
        } else {
            Cow::Borrowed(&attribute.value1)
        };
        let common = Common {
            creator_json: Rc::clone(&self.creator_json),
            created: self.millis.text(timestamp).to_string(),
            markings,
        };
        // `concat`, not `format!`: two labels per attribute, thousands per event.
        let labels = [
            ["misp:type=\"", &attribute.attr_type, "\""].concat(),
            ["misp:category=\"", &attribute.category, "\""].concat(),
        ];
        let indicator_labels = [labels[0].as_str(), labels[1].as_str(), TO_IDS_LABEL];
        let kizuna = kizuna_labels(attribute);
        let plain_labels: Cow<'_, [String]> = if kizuna.is_empty() {
            Cow::Borrowed(&tags.labels)
        } else {
            Cow::Owned(tags.labels.iter().cloned().chain(kizuna).collect())
        };
        let uuid = &attribute.uuid;

        let main_id = match attribute.attr_type.as_str() {
            "vulnerability" => {
                let mut sdo = common.sdo("vulnerability", uuid);
                sdo.string("name", &value);
                if let Some(description) = non_empty(&attribute.comment) {
                    sdo.string("description", description);
                }
                sdo.strings("labels", merged_labels(&labels, &plain_labels));
                if is_cve(&value) {
                    sdo.value(
                        "external_references",
                        &json!([{"source_name": "cve", "external_id": value}]),
                    );
                }
                common.finish(&mut sdo);
                self.add_sdo(sdo)
            }
            "campaign-name" => {
                let mut sdo = common.sdo("campaign", uuid);
                sdo.string("name", &value);
                if let Some(description) = non_empty(&attribute.comment) {
                    sdo.string("description", description);
                }
                sdo.strings("labels", merged_labels(&labels, &plain_labels));
                common.finish(&mut sdo);
                self.add_sdo(sdo)
            }
            "snort" | "suricata" | "yara" | "sigma" if attribute.to_ids => {
                let mut indicator = common.sdo("indicator", uuid);
                indicator.string("name", &attribute.attr_type);
                if let Some(description) = non_empty(&attribute.comment) {
                    indicator.string("description", description);
                }
                indicator.string("pattern", &value);
                indicator.string("pattern_type", &attribute.attr_type);
                insert_validity(&mut indicator, &mut self.micros, attribute, timestamp);
                indicator.kill_chain(&attribute.category);
                indicator.strings("labels", merged_labels(&indicator_labels, &plain_labels));
                common.finish(&mut indicator);
                self.add_sdo(indicator)
            }
            _ => {
                let scos = attribute_observables(attribute);
                let pattern = if attribute.to_ids {
                    attribute_pattern(&attribute.attr_type, &attribute.value1, &attribute.value2)
                } else {
                    None
                };
                let mut main = None;
                let mut observed_id = None;
                if let Some(scos) = scos {
                    let mut observed = common.sdo("observed-data", uuid);
                    insert_observation_window(
                        &mut observed,
                        &mut self.micros,
                        attribute.first_seen,
                        attribute.last_seen,
                        timestamp,
                    );
                    observed.number("number_observed", 1);
                    // SCO ids are `<type>--<uuid>` as `typed_id` writes them.
                    observed.ids("object_refs", scos.iter().map(|sco| (sco.id(), true)));
                    observed.strings("labels", merged_labels(&labels, &plain_labels));
                    common.finish(&mut observed);
                    let id = self.add_sdo(observed);
                    for sco in scos {
                        self.add_sco(sco);
                    }
                    observed_id = Some(id.clone());
                    main = Some(id);
                }
                if let Some(pattern) = &pattern {
                    let mut indicator = common.sdo("indicator", uuid);
                    indicator.string("name", &value);
                    if let Some(description) = non_empty(&attribute.comment) {
                        indicator.string("description", description);
                    }
                    indicator.string("pattern", pattern);
                    indicator.clean("pattern_type", "stix");
                    indicator.clean("pattern_version", "2.1");
                    insert_validity(&mut indicator, &mut self.micros, attribute, timestamp);
                    indicator.kill_chain(&attribute.category);
                    indicator.strings("labels", merged_labels(&indicator_labels, &plain_labels));
                    common.finish(&mut indicator);
                    let id = self.add_sdo(indicator);
                    if let Some(observed_id) = &observed_id {
                        self.relationship(&id, "based-on", observed_id, timestamp);
                    }
                    main = Some(id);
                }
                let misp_reads_it_back = observed_id.is_some()
                    || (pattern.is_some()
                        && MISP_STIX_INDICATOR_TYPES.contains(&attribute.attr_type.as_str()));
                if !misp_reads_it_back {
                    let mut custom = common.sdo("x-misp-attribute", uuid);
                    custom.strings("labels", merged_labels(&labels, &plain_labels));
                    custom.string("x_misp_category", &attribute.category);
                    custom.string("x_misp_type", &attribute.attr_type);
                    custom.string("x_misp_value", &value);
                    if let Some(comment) = non_empty(&attribute.comment) {
                        custom.string("x_misp_comment", comment);
                    }
                    common.finish(&mut custom);
                    let id = self.add_sdo(custom);
                    main.get_or_insert(id);
                }
                main.unwrap_or_default()
            }
        };
        self.link_clusters(&main_id, &tags.clusters, timestamp);
    }

    // -----------------------------------------------------------------------------------
    // Objects
    // -----------------------------------------------------------------------------------

    fn object(&mut self, object: &MispObject) {
        let live: Vec<&Attribute> = object.attributes.iter().filter(|a| !a.deleted).collect();
        if live.is_empty() {
            return;
        }
        let Some(mapping) = map_object(&object.name, &live) else {
            for attribute in live {
                self.attribute(attribute);
            }
            return;
        };
        let mapped: Vec<&Attribute> = mapping.mapped.iter().map(|&index| live[index]).collect();
        let mut tags = SortedTags::default();
        for attribute in &mapped {
            let sorted = sort_tags(&attribute.tags);
            for marking in sorted.markings {
                if !tags.markings.contains(&marking) {
                    tags.markings.push(marking);
                }
            }
            for cluster in sorted.clusters {
                if !tags.clusters.iter().any(|known| known.tag == cluster.tag) {
                    tags.clusters.push(cluster);
                }
            }
            for label in sorted.labels.into_iter().chain(kizuna_labels(attribute)) {
                if !tags.labels.contains(&label) {
                    tags.labels.push(label);
                }
            }
        }
        let markings = self.item_markings(&tags);
        let timestamp = self.item_timestamp(object.timestamp);
        let common = Common {
            creator_json: Rc::clone(&self.creator_json),
            created: self.millis.text(timestamp).to_string(),
            markings,
        };
        let labels = [
            format!("misp:name=\"{}\"", object.name),
            format!("misp:meta-category=\"{}\"", object.meta_category),
        ];
        let refs: Vec<String> = mapping
            .scos
            .iter()
            .map(|sco| sco["id"].as_str().unwrap_or_default().to_string())
            .collect();
        let mut observed = common.sdo("observed-data", &object.uuid);
        insert_observation_window(
            &mut observed,
            &mut self.micros,
            object.first_seen,
            object.last_seen,
            timestamp,
        );
        observed.number("number_observed", 1);
        observed.strings("object_refs", &refs);
        observed.strings("labels", merged_labels(&labels, &tags.labels));
        common.finish(&mut observed);
        let observed_id = self.add_sdo(observed);
        for sco in mapping.scos {
            self.add(sco);
        }
        let mut main = observed_id.clone();
        if !mapping.comparisons.is_empty() {
            let indicator_labels = [labels[0].as_str(), labels[1].as_str(), TO_IDS_LABEL];
            let mut indicator = common.sdo("indicator", &object.uuid);
            indicator.string("name", &object.name);
            if let Some(description) = non_empty(&object.comment) {
                indicator.string("description", description);
            }
            indicator.string("pattern", &bracket(&mapping.comparisons));
            indicator.clean("pattern_type", "stix");
            indicator.clean("pattern_version", "2.1");
            let detecting: Vec<&Attribute> = mapped.iter().copied().filter(|a| a.to_ids).collect();
            insert_object_validity(
                &mut indicator,
                &mut self.micros,
                object,
                &detecting,
                timestamp,
            );
            indicator.kill_chain(&object.meta_category);
            indicator.strings("labels", merged_labels(&indicator_labels, &tags.labels));
            common.finish(&mut indicator);
            let id = self.add_sdo(indicator);
            self.relationship(&id, "based-on", &observed_id, timestamp);
            main = id;
        }
        self.link_clusters(&main, &tags.clusters, timestamp);
        for (index, attribute) in live.iter().enumerate() {
            if !mapping.mapped.contains(&index) {
                self.attribute(attribute);
            }
        }
    }
}

/// The attribute types misp-stix reads back from an indicator's pattern alone (its
/// Internal import); other `to_ids` attributes exported as indicators without an
/// observed-data also get an `x-misp-attribute` so that MISP does not lose them.
const MISP_STIX_INDICATOR_TYPES: &[&str] = &[
    "AS",
    "authentihash",
    "cdhash",
    "domain",
    "email",
    "email-attachment",
    "email-dst",
    "email-message-id",
    "email-reply-to",
    "email-src",
    "email-subject",
    "email-x-mailer",
    "filename",
    "github-username",
    "hostname",
    "http-method",
    "imphash",
    "impfuzzy",
    "link",
    "mac-address",
    "md5",
    "mutex",
    "pehash",
    "port",
    "sha1",
    "sha224",
    "sha256",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "size-in-bytes",
    "ssdeep",
    "regkey",
    "telfhash",
    "tlsh",
    "uri",
    "url",
    "user-agent",
    "vhash",
    "x509-fingerprint-md5",
    "x509-fingerprint-sha1",
    "x509-fingerprint-sha256",
];

/// The properties every SDO of one item shares.
struct Common {
    creator_json: Rc<str>,
    /// The item's timestamp as `created`, formatted once for all its SDOs.
    created: String,
    markings: Rc<[&'static str]>,
}

impl Common {
    fn sdo(&self, object_type: &'static str, uuid: &str) -> SdoText {
        SdoText::new(
            object_type,
            [object_type, uuid].join("--"),
            &self.created,
            Some(&*self.creator_json),
        )
    }

    fn finish(&self, sdo: &mut SdoText) {
        if !self.markings.is_empty() {
            // TLP marking ids, literals of `markings`.
            sdo.ids(
                "object_marking_refs",
                self.markings.iter().map(|id| (*id, true)),
            );
        }
    }
}

/// An SDO written straight to compact JSON as its properties are set, in that order — the
/// bytes serde_json writes for the same object — without building a JSON tree first: an
/// event's export writes thousands of them.
struct SdoText {
    id: String,
    object_type: Part<'static>,
    id_in_json: Option<Span>,
    /// `created`, which is also `modified`: where it is in the JSON, else itself.
    version: Result<Span, String>,
    json: String,
}

impl SdoText {
    /// `type`, `spec_version`, `id`, `created_by_ref` (when given, already a JSON string),
    /// `created` and `modified`.
    fn new(
        object_type: &'static str,
        id: String,
        created: &str,
        creator_json: Option<&str>,
    ) -> Self {
        let mut sdo = Self {
            json: String::with_capacity(768),
            id,
            object_type: Part::Text(object_type),
            id_in_json: None,
            version: Err(String::new()),
        };
        sdo.json.push('{');
        sdo.object_type = Part::At(sdo.clean("type", object_type));
        sdo.clean("spec_version", "2.1");
        let id = std::mem::take(&mut sdo.id);
        sdo.id_in_json = sdo.spanned_string("id", &id);
        sdo.id = id;
        if let Some(creator_json) = creator_json {
            sdo.key("created_by_ref");
            sdo.json.push_str(creator_json);
        }
        sdo.clean("created", created);
        sdo.version = Ok(sdo.clean("modified", created));
        sdo
    }

    /// A string property with nothing to escape (a STIX literal, a timestamp written here),
    /// written without the escaper's scan; where its value lies in the JSON.
    fn clean(&mut self, key: &'static str, value: &str) -> Span {
        debug_assert!(
            !value
                .bytes()
                .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
        );
        self.key(key);
        self.json.push('"');
        let start = offset(self.json.len());
        self.json.push_str(value);
        let end = offset(self.json.len());
        self.json.push('"');
        Span { start, end }
    }

    /// Writes a string property and tells where its value lies in the JSON, if written
    /// verbatim (nothing escaped): ids, types and timestamps always are.
    fn spanned_string(&mut self, key: &'static str, value: &str) -> Option<Span> {
        self.key(key);
        let start = self.json.len() + 1;
        self.push_string(value);
        let end = self.json.len() - 1;
        (end - start == value.len()).then(|| Span {
            start: offset(start),
            end: offset(end),
        })
    }

    /// Property names are literals of STIX's own vocabulary, with nothing to escape.
    fn key(&mut self, key: &'static str) {
        debug_assert!(
            key.bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
        );
        if self.json.len() > 1 {
            self.json.push(',');
        }
        self.json.push('"');
        self.json.push_str(key);
        self.json.push_str("\":");
    }

    fn write_key_and_string(&mut self, key: &'static str, value: &str) {
        self.key(key);
        self.push_string(value);
    }

    fn push_string(&mut self, text: &str) {
        write_json_string(text, &mut self.json);
    }

    fn string(&mut self, key: &'static str, value: &str) {
        self.write_key_and_string(key, value);
    }

    fn strings<I>(&mut self, key: &'static str, values: I)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.key(key);
        self.json.push('[');
        for (index, value) in values.into_iter().enumerate() {
            if index > 0 {
                self.json.push(',');
            }
            self.push_string(value.as_ref());
        }
        self.json.push(']');
    }

    /// A list of ids; those known to need no escaping (`clean`: ids this module derived,
    /// or found verbatim in their object's JSON) are written as they are.
    fn ids<'i>(&mut self, key: &'static str, ids: impl IntoIterator<Item = (&'i str, bool)>) {
        self.key(key);
        self.json.push('[');
        for (index, (id, clean)) in ids.into_iter().enumerate() {
            if index > 0 {
                self.json.push(',');
            }
            if clean {
                debug_assert!(
                    !id.bytes()
                        .any(|byte| byte < 0x20 || byte == b'"' || byte == b'\\')
                );
                self.json.push('"');
                self.json.push_str(id);
                self.json.push('"');
            } else {
                self.push_string(id);
            }
        }
        self.json.push(']');
    }

    fn number(&mut self, key: &'static str, value: u64) {
        self.key(key);
        // Writing to a String cannot fail.
        let _ = write!(self.json, "{value}");
    }

    fn value(&mut self, key: &'static str, value: &Value) {
        self.key(key);
        write_json_value(value, &mut self.json);
    }

    /// `kill_chain_phases`: the MISP category as the phase of misp-stix's kill chain.
    fn kill_chain(&mut self, phase: &str) {
        self.key("kill_chain_phases");
        self.json
            .push_str("[{\"kill_chain_name\":\"misp-category\",\"phase_name\":");
        self.push_string(phase);
        self.json.push_str("}]");
    }

    /// The object, and its id.
    fn into_listed(mut self) -> (StixObjectText, String) {
        self.json.push('}');
        // Rendered objects are kept (the TAXII render cache holds whole events): the
        // buffer's slack would be held with them, and goes when it is boxed.
        let id = match self.id_in_json {
            Some(span) => Part::At(span),
            None => Part::Text(&self.id),
        };
        let version = match &self.version {
            Ok(span) => Part::At(*span),
            Err(created) => Part::Text(created),
        };
        let listed = StixObjectText::from_json(self.json, id, self.object_type, version, false);
        (listed, self.id)
    }
}

/// Room a serialised JSON tree starts with: most SCOs fit, so few grow more than once.
const LISTED_CAPACITY: usize = 256;

/// An object kept as a JSON tree (SCOs, the identity, markings, clusters), serialised.
fn listed(object: &Value, event_version: &str, shared: bool) -> StixObjectText {
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    let mut json = String::with_capacity(LISTED_CAPACITY);
    write_json_value(object, &mut json);
    StixObjectText::from_json(
        json,
        Part::Text(text("id").unwrap_or_default()),
        Part::Text(text("type").unwrap_or_default()),
        Part::Text(
            text("modified")
                .or_else(|| text("created"))
                .unwrap_or(event_version),
        ),
        shared,
    )
}

/// `first`, then each label of `second` that is not already there, without copying them.
fn merged_labels<'a, T: AsRef<str>>(
    first: &'a [T],
    second: &'a [String],
) -> impl Iterator<Item = &'a str> + 'a {
    let added = second
        .iter()
        .enumerate()
        .filter(|(index, label)| {
            !first.iter().any(|known| known.as_ref() == label.as_str())
                && !second[..*index].contains(label)
        })
        .map(|(_, label)| label.as_str());
    first.iter().map(AsRef::as_ref).chain(added)
}

/// The label an indicator adds to its item's.
const TO_IDS_LABEL: &str = "misp:to_ids=\"True\"";

/// The last timestamp written in one format, kept: an attribute's observation window and
/// validity mostly start at the same instant, and its relationship is created when it is.
struct LastStamp {
    format: fn(i64) -> String,
    value: Option<i64>,
    text: String,
}

impl LastStamp {
    fn new(format: fn(i64) -> String) -> Self {
        Self {
            format,
            value: None,
            text: String::new(),
        }
    }

    fn text(&mut self, value: i64) -> &str {
        if self.value != Some(value) {
            self.text = (self.format)(value);
            self.value = Some(value);
        }
        &self.text
    }
}

fn non_empty(text: &str) -> Option<&str> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then_some(text)
}

fn kizuna_labels(attribute: &Attribute) -> Vec<String> {
    let mut labels = Vec::new();
    if let Some(intended_use) = attribute.intended_use {
        labels.push(format!("kizuna:intended-use=\"{intended_use}\""));
    }
    if let Some(status) = attribute.status {
        labels.push(format!("kizuna:status=\"{status}\""));
    }
    labels
}

fn is_cve(value: &str) -> bool {
    let upper = value.to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && number.len() >= 4
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// `first_observed` / `last_observed`: the attribute's first/last seen, else its
/// timestamp; never ending before it starts.
fn insert_observation_window(
    sdo: &mut SdoText,
    micros: &mut LastStamp,
    first_seen: Option<i64>,
    last_seen: Option<i64>,
    timestamp: i64,
) {
    let first = first_seen.unwrap_or(timestamp * 1_000_000);
    let last = last_seen.filter(|last| *last >= first).unwrap_or(first);
    sdo.clean("first_observed", micros.text(first));
    sdo.clean("last_observed", micros.text(last));
}

/// `valid_from` (first seen, else the timestamp) and `valid_until` (Kizuna's validity end,
/// else a last seen later than the start). STIX wants the end strictly after the start; a
/// validity that ended before the indicator was first seen keeps its end and starts a
/// second earlier.
fn insert_validity(
    indicator: &mut SdoText,
    micros: &mut LastStamp,
    attribute: &Attribute,
    timestamp: i64,
) {
    let from = attribute.first_seen.unwrap_or(timestamp * 1_000_000);
    let until = attribute
        .valid_until
        .or(attribute.last_seen.filter(|last| *last > from));
    insert_window(indicator, micros, from, until);
}

fn insert_object_validity(
    indicator: &mut SdoText,
    micros: &mut LastStamp,
    object: &MispObject,
    detecting: &[&Attribute],
    timestamp: i64,
) {
    let from = object.first_seen.unwrap_or(timestamp * 1_000_000);
    // The object's indicator stops being valid once none of its parts is: only when every
    // detecting attribute has an end.
    let until = if !detecting.is_empty() && detecting.iter().all(|a| a.valid_until.is_some()) {
        detecting.iter().filter_map(|a| a.valid_until).max()
    } else {
        object.last_seen.filter(|last| *last > from)
    };
    insert_window(indicator, micros, from, until);
}

fn insert_window(indicator: &mut SdoText, micros: &mut LastStamp, from: i64, until: Option<i64>) {
    let from = match until {
        Some(until) if until <= from => until - 1_000_000,
        _ => from,
    };
    indicator.clean("valid_from", micros.text(from));
    if let Some(until) = until {
        indicator.clean("valid_until", micros.text(until));
    }
}

/// Merges a repeated SCO into the one already in the event: new properties are added,
/// lists are joined, the rest stays as first written.
fn merge_into(existing: &mut Value, addition: Value) {
    let (Value::Object(existing), Value::Object(addition)) = (existing, addition) else {
        return;
    };
    for (key, value) in addition {
        match (existing.get_mut(&key), value) {
            (None, value) => {
                existing.insert(key, value);
            }
            (Some(Value::Array(items)), Value::Array(more)) => {
                for item in more {
                    if !items.contains(&item) {
                        items.push(item);
                    }
                }
            }
            (Some(current @ Value::Object(_)), value @ Value::Object(_)) => {
                merge_into(current, value);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------

fn sort_tags(tags: &[AttachedTag]) -> SortedTags {
    let mut sorted = SortedTags::default();
    for attached in tags {
        if attached.local || !attached.tag.exportable {
            continue;
        }
        match tag_role(&attached.tag.name) {
            TagRole::Marking(marking) => {
                if !sorted.markings.contains(&marking) {
                    sorted.markings.push(marking);
                }
            }
            TagRole::Cluster(cluster) => sorted.clusters.push(cluster),
            TagRole::Label(label) => {
                if !sorted.labels.contains(&label) {
                    sorted.labels.push(label);
                }
            }
        }
    }
    sorted
}

fn tag_role(name: &str) -> TagRole {
    if let Some(marking) = TlpMarking::for_tag(name) {
        return TagRole::Marking(marking);
    }
    if let Some(cluster) = Cluster::from_tag(name) {
        return TagRole::Cluster(cluster);
    }
    TagRole::Label(name.to_string())
}

/// A galaxy cluster known only by its tag.
struct Cluster {
    tag: String,
    galaxy_type: String,
    value: String,
    sdo_type: &'static str,
}

/// MISP galaxy types and the STIX SDO their clusters become, with the galaxy's name
/// (misp-galaxy): the types misp-stix maps.
const GALAXY_TYPES: &[(&str, &str, &str)] = &[
    (
        "cmtmf-attack-pattern",
        "attack-pattern",
        "CONCORDIA Mobile Modelling Framework - Attack Pattern",
    ),
    ("mitre-attack-pattern", "attack-pattern", "Attack Pattern"),
    (
        "mitre-enterprise-attack-attack-pattern",
        "attack-pattern",
        "Enterprise Attack - Attack Pattern",
    ),
    ("mitre-ics-techniques", "attack-pattern", "Techniques"),
    (
        "mitre-mobile-attack-attack-pattern",
        "attack-pattern",
        "Mobile Attack - Attack Pattern",
    ),
    (
        "mitre-pre-attack-attack-pattern",
        "attack-pattern",
        "Pre Attack - Attack Pattern",
    ),
    (
        "mitre-course-of-action",
        "course-of-action",
        "Course of Action",
    ),
    (
        "mitre-enterprise-attack-course-of-action",
        "course-of-action",
        "Enterprise Attack - Course of Action",
    ),
    (
        "mitre-mobile-attack-course-of-action",
        "course-of-action",
        "Mobile Attack - Course of Action",
    ),
    (
        "mitre-enterprise-attack-intrusion-set",
        "intrusion-set",
        "Enterprise Attack - Intrusion Set",
    ),
    ("mitre-intrusion-set", "intrusion-set", "Intrusion Set"),
    (
        "mitre-mobile-attack-intrusion-set",
        "intrusion-set",
        "Mobile Attack - Intrusion Set",
    ),
    (
        "mitre-pre-attack-intrusion-set",
        "intrusion-set",
        "Pre Attack - Intrusion Set",
    ),
    ("android", "malware", "Android"),
    ("backdoor", "malware", "Backdoor"),
    ("banker", "malware", "Banker"),
    ("cryptominers", "malware", "Cryptominers"),
    ("malpedia", "malware", "Malpedia"),
    (
        "mitre-enterprise-attack-malware",
        "malware",
        "Enterprise Attack - Malware",
    ),
    ("mitre-ics-software", "malware", "Software"),
    ("mitre-malware", "malware", "Malware"),
    (
        "mitre-mobile-attack-malware",
        "malware",
        "Mobile Attack - Malware",
    ),
    ("ransomware", "malware", "Ransomware"),
    ("stealer", "malware", "Stealer"),
    (
        "360net-threat-actor",
        "threat-actor",
        "360.net Threat Actors",
    ),
    (
        "microsoft-activity-group",
        "threat-actor",
        "Microsoft Activity Group actor",
    ),
    ("mitre-ics-groups", "threat-actor", "Groups"),
    ("threat-actor", "threat-actor", "Threat Actor"),
    ("botnet", "tool", "Botnet"),
    ("rat", "tool", "RAT"),
    ("exploit-kit", "tool", "Exploit-Kit"),
    ("tds", "tool", "TDS"),
    ("tool", "tool", "Tool"),
    ("mitre-tool", "tool", "mitre-tool"),
    (
        "mitre-enterprise-attack-tool",
        "tool",
        "Enterprise Attack - Tool",
    ),
    ("mitre-mobile-attack-tool", "tool", "Mobile Attack - Tool"),
    (
        "branded-vulnerability",
        "vulnerability",
        "Branded Vulnerability",
    ),
];

impl Cluster {
    /// `misp-galaxy:<type>="<value>"` of a type we map.
    fn from_tag(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("misp-galaxy:")?;
        let (galaxy_type, quoted) = rest.split_once('=')?;
        let value = quoted.strip_prefix('"')?.strip_suffix('"')?;
        if value.is_empty() {
            return None;
        }
        let &(_, sdo_type, _) = GALAXY_TYPES
            .iter()
            .find(|(known, _, _)| *known == galaxy_type)?;
        Some(Self {
            tag: name.to_string(),
            galaxy_type: galaxy_type.to_string(),
            value: value.to_string(),
            sdo_type,
        })
    }

    fn galaxy_name(&self) -> &'static str {
        GALAXY_TYPES
            .iter()
            .find(|(known, _, _)| *known == self.galaxy_type)
            .map_or("", |(_, _, name)| *name)
    }

    /// MITRE clusters are `Name - T1234`: the name, and the ATT&CK id.
    fn mitre_split(&self) -> Option<(&str, &str)> {
        if !self.galaxy_type.starts_with("mitre-") {
            return None;
        }
        let (name, external_id) = self.value.rsplit_once(" - ")?;
        let mut chars = external_id.chars();
        let letters: String = chars
            .by_ref()
            .take_while(|c| c.is_ascii_uppercase())
            .collect();
        let is_attack_id = !letters.is_empty()
            && letters.len() <= 2
            && external_id[letters.len()..]
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        is_attack_id.then_some((name.trim(), external_id))
    }

    fn sdo(&self, id: &str, timestamp: i64) -> Value {
        let created = timestamp_millis(timestamp);
        let (name, external_id) = match self.mitre_split() {
            Some((name, external_id)) => (name.to_string(), Some(external_id)),
            None => (self.value.clone(), None),
        };
        let mut sdo = Map::new();
        sdo.insert("type".into(), json!(self.sdo_type));
        sdo.insert("spec_version".into(), json!("2.1"));
        sdo.insert("id".into(), json!(id));
        sdo.insert("created".into(), json!(created));
        sdo.insert("modified".into(), json!(created));
        sdo.insert("name".into(), json!(name));
        if self.sdo_type == "malware" {
            sdo.insert("is_family".into(), json!(true));
        }
        sdo.insert(
            "labels".into(),
            json!([
                format!("misp:galaxy-name=\"{}\"", self.galaxy_name()),
                format!("misp:galaxy-type=\"{}\"", self.galaxy_type),
                self.tag,
            ]),
        );
        if let Some(external_id) = external_id {
            sdo.insert(
                "external_references".into(),
                json!([{"source_name": "mitre-attack", "external_id": external_id}]),
            );
        } else if self.sdo_type == "vulnerability" && is_cve(&self.value) {
            sdo.insert(
                "external_references".into(),
                json!([{"source_name": "cve", "external_id": self.value}]),
            );
        }
        Value::Object(sdo)
    }
}

// ---------------------------------------------------------------------------------------
// Observables
// ---------------------------------------------------------------------------------------

/// An SCO with its deterministic id: `{"type", "spec_version", "id", …properties}`.
fn sco(sco_type: &str, properties: Value) -> Value {
    let mut object = match properties {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let id = sco_id(sco_type, &object);
    // The properties' own map, its head inserted in front, rather than a second map the
    // properties are moved into: no caller's properties name these three keys.
    object.shift_insert(0, "type".into(), Value::String(sco_type.into()));
    object.shift_insert(1, "spec_version".into(), Value::String("2.1".into()));
    object.shift_insert(2, "id".into(), Value::String(id));
    Value::Object(object)
}

fn id_of(sco: &Value) -> Value {
    sco["id"].clone()
}

/// An address SCO, if the value is one the STIX schema accepts (dotted quad or IPv6
/// without an embedded IPv4 or zone, optionally a CIDR block).
fn address_sco(value: &str) -> Option<Value> {
    let address_type = address_type(value)?;
    if address_type == "ipv6-addr" && value.contains('.') {
        return None;
    }
    Some(sco(address_type, json!({"value": value})))
}

fn ip_family(address: &Value) -> &'static str {
    if address["type"] == "ipv6-addr" {
        "ipv6"
    } else {
        "ipv4"
    }
}

/// The SCOs of an attribute's observed-data, in the order misp-stix's import reads them
/// (the object carrying the value first, or as it expects for composite types), or None
/// when the type has no observable or the value is one the STIX schema would refuse.
fn attribute_observables(attribute: &Attribute) -> Option<Vec<Sco>> {
    let value1 = attribute.value1.as_str();
    let value2 = attribute.value2.as_str();
    let attr_type = attribute.attr_type.as_str();
    if let Some(key) = hash_key(attr_type) {
        let hash = hash_value(key, value1);
        return hash_value_fits(key, &hash).then(|| {
            let hashes = hashes_text(key, &hash);
            vec![Sco::Text(ScoText::new(
                "file",
                &[("hashes", &hashes, true)],
            ))]
        });
    }
    if let Some(hash_type) = attr_type.strip_prefix("filename|") {
        let key = hash_key(hash_type)?;
        let hash = hash_value(key, value2);
        return hash_value_fits(key, &hash).then(|| {
            let hashes = hashes_text(key, &hash);
            let name = json_text(value1);
            vec![Sco::Text(ScoText::new(
                "file",
                &[("hashes", &hashes, true), ("name", &name, true)],
            ))]
        });
    }
    let text = |sco_type: &'static str, key: &'static str, value: &str| {
        Sco::Text(ScoText::new(sco_type, &[(key, &json_text(value), true)]))
    };
    Some(match attr_type {
        "ip-src" | "ip-dst" | "ip-src|port" | "ip-dst|port" => {
            let address = address_text(value1)?;
            let with_port = attr_type.ends_with("|port");
            let port = if with_port {
                Some(port_number(value2)?.to_string())
            } else {
                None
            };
            let (side, port_key) = if attr_type.starts_with("ip-src") {
                ("src_ref", "src_port")
            } else {
                ("dst_ref", "dst_port")
            };
            let reference = json_text(&address.id);
            let family = if address.object_type == "ipv6-addr" {
                "[\"ipv6\"]"
            } else {
                "[\"ipv4\"]"
            };
            let traffic = match &port {
                Some(port) => ScoText::new(
                    "network-traffic",
                    &[
                        (side, &reference, true),
                        (port_key, port, true),
                        ("protocols", family, true),
                    ],
                ),
                None => ScoText::new(
                    "network-traffic",
                    &[(side, &reference, true), ("protocols", family, true)],
                ),
            };
            vec![Sco::Text(traffic), Sco::Text(address)]
        }
        "domain" | "hostname" => vec![Sco::Text(domain_text(value1, None)?)],
        "domain|ip" => {
            let address = address_text(value2)?;
            vec![
                Sco::Text(domain_text(value1, Some(&address))?),
                Sco::Text(address),
            ]
        }
        "hostname|port" => {
            let domain = domain_text(value1, None)?;
            let port = port_number(value2)?.to_string();
            let reference = json_text(&domain.id);
            let traffic = ScoText::new(
                "network-traffic",
                &[
                    ("dst_ref", &reference, true),
                    ("dst_port", &port, true),
                    ("protocols", "[\"tcp\"]", true),
                ],
            );
            vec![Sco::Text(domain), Sco::Text(traffic)]
        }
        "url" | "link" if is_uri(value1) => vec![text("url", "value", value1)],
        "email" if value1.contains('@') => vec![text("email-addr", "value", value1)],
        "email" => return None,
        "email-src" | "email-dst" => {
            let address = email_address_sco(value1)?;
            let message = if attr_type == "email-src" {
                json!({"is_multipart": false, "from_ref": id_of(&address)})
            } else {
                json!({"is_multipart": false, "to_refs": [id_of(&address)]})
            };
            vec![Sco::Tree(sco("email-message", message)), Sco::Tree(address)]
        }
        "email-subject" => vec![Sco::Tree(sco(
            "email-message",
            json!({"is_multipart": false, "subject": value1}),
        ))],
        "email-message-id" => vec![Sco::Tree(sco(
            "email-message",
            json!({"is_multipart": false, "message_id": value1}),
        ))],
        "email-reply-to" => vec![Sco::Tree(sco(
            "email-message",
            json!({"is_multipart": false, "additional_header_fields": {"Reply-To": value1}}),
        ))],
        "email-x-mailer" => vec![Sco::Tree(sco(
            "email-message",
            json!({"is_multipart": false, "additional_header_fields": {"X-Mailer": value1}}),
        ))],
        "email-attachment" => {
            let file = sco("file", json!({"name": value1}));
            let message = sco(
                "email-message",
                json!({
                    "is_multipart": true,
                    "body_multipart": [{
                        "body_raw_ref": id_of(&file),
                        "content_disposition": format!("attachment; filename='{value1}'"),
                    }],
                }),
            );
            vec![Sco::Tree(message), Sco::Tree(file)]
        }
        "filename" => vec![text("file", "name", value1)],
        "malware-sample" => {
            let hash = value2.to_ascii_lowercase();
            if !hash_value_fits("MD5", &hash) {
                return None;
            }
            let name = json_text(value1);
            let hashes = hashes_text("MD5", &hash);
            vec![Sco::Text(ScoText::new(
                "file",
                &[("name", &name, true), ("hashes", &hashes, true)],
            ))]
        }
        "mutex" => vec![text("mutex", "name", value1)],
        "regkey" => vec![Sco::Tree(registry_sco(value1, None)?)],
        "regkey|value" => vec![Sco::Tree(registry_sco(value1, Some(value2))?)],
        "AS" => {
            let number = as_number(value1)?.to_string();
            vec![Sco::Text(ScoText::new(
                "autonomous-system",
                &[("number", &number, true)],
            ))]
        }
        "mac-address" if is_mac(value1) => vec![text("mac-addr", "value", value1)],
        "x509-fingerprint-md5" | "x509-fingerprint-sha1" | "x509-fingerprint-sha256" => {
            let key = match attr_type {
                "x509-fingerprint-md5" => "MD5",
                "x509-fingerprint-sha1" => "SHA-1",
                _ => "SHA-256",
            };
            if !hash_value_fits(key, value1) {
                return None;
            }
            let hashes = hashes_text(key, value1);
            vec![Sco::Text(ScoText::new(
                "x509-certificate",
                &[("hashes", &hashes, true)],
            ))]
        }
        _ => return None,
    })
}

/// An SCO of an attribute: written as text when its properties are few and fixed (the
/// SCOs of most attributes), else built as a tree.
enum Sco {
    Text(ScoText),
    Tree(Value),
}

impl Sco {
    fn id(&self) -> &str {
        match self {
            Sco::Text(text) => &text.id,
            Sco::Tree(tree) => tree["id"].as_str().unwrap_or_default(),
        }
    }
}

/// A property of an SCO written as text: its name, its value as JSON, and whether it is
/// one of the type's ID-contributing properties.
type ScoMember<'a> = (&'static str, &'a str, bool);

/// An SCO written straight as the text `sco` and `write_json_value` give for the same
/// properties in the same order (`type`, `spec_version`, `id` first), its id the UUIDv5
/// of the canonical JSON of its contributing members: an event's SCOs are thousands of
/// small trees otherwise.
struct ScoText {
    object_type: &'static str,
    id: String,
    json: String,
}

impl ScoText {
    /// `members` (at most four, at least one contributing) in the order they are written;
    /// each value is already JSON, in the one form that is both compact and canonical
    /// (strings, integers, lists of strings, single-member objects).
    fn new(sco_type: &'static str, members: &[ScoMember<'_>]) -> Self {
        // RFC 8785 orders members by the UTF-16 code units of their names; these names
        // are ASCII, so byte order is that order.
        let mut order = [0usize, 1, 2, 3];
        let order = &mut order[..members.len()];
        order.sort_unstable_by_key(|&index| members[index].0);
        let mut canonical = String::with_capacity(
            2 + members
                .iter()
                .map(|(key, value, _)| key.len() + value.len() + 4)
                .sum::<usize>(),
        );
        canonical.push('{');
        for &index in order.iter() {
            let (key, value, contributes) = members[index];
            if !contributes {
                continue;
            }
            if canonical.len() > 1 {
                canonical.push(',');
            }
            canonical.push('"');
            canonical.push_str(key);
            canonical.push_str("\":");
            canonical.push_str(value);
        }
        canonical.push('}');
        let id = sco_id_of_canonical(sco_type, &canonical);
        // The head, the members, `}`, then room for the version `StixObjectText` appends.
        let length = SCO_HEAD.len()
            + sco_type.len()
            + SCO_ID.len()
            + id.len()
            + 2
            + members
                .iter()
                .map(|(key, value, _)| key.len() + value.len() + 4)
                .sum::<usize>()
            + VERSION_ROOM;
        let mut json = String::with_capacity(length);
        json.push_str(SCO_HEAD);
        json.push_str(sco_type);
        json.push_str(SCO_ID);
        json.push_str(&id);
        json.push('"');
        for (key, value, _) in members {
            json.push_str(",\"");
            json.push_str(key);
            json.push_str("\":");
            json.push_str(value);
        }
        json.push('}');
        Self {
            object_type: sco_type,
            id,
            json,
        }
    }

    /// The SCO as listed, `version` (the event's) appended to its buffer.
    fn into_listed(self, version: &str) -> StixObjectText {
        let type_start = SCO_HEAD.len();
        let id_start = type_start + self.object_type.len() + SCO_ID.len();
        let span = |start: usize, length: usize| {
            Part::At(Span {
                start: offset(start),
                end: offset(start + length),
            })
        };
        StixObjectText::from_json(
            self.json,
            span(id_start, self.id.len()),
            span(type_start, self.object_type.len()),
            Part::Text(version),
            false,
        )
    }
}

/// An SCO's text up to its type, and from its type to its id.
const SCO_HEAD: &str = "{\"type\":\"";
const SCO_ID: &str = "\",\"spec_version\":\"2.1\",\"id\":\"";
/// A version as `timestamp_millis` writes it.
const VERSION_ROOM: usize = "2024-05-17T00:00:00.000Z".len();

fn json_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    write_json_string(text, &mut out);
    out
}

/// `{"<key>":"<hash>"}`, a file's or certificate's single hash.
fn hashes_text(key: &str, hash: &str) -> String {
    let mut out = String::with_capacity(key.len() + hash.len() + 7);
    out.push('{');
    write_json_string(key, &mut out);
    out.push(':');
    write_json_string(hash, &mut out);
    out.push('}');
    out
}

/// `address_sco` as text.
fn address_text(value: &str) -> Option<ScoText> {
    let address_type = address_type(value)?;
    if address_type == "ipv6-addr" && value.contains('.') {
        return None;
    }
    Some(ScoText::new(
        address_type,
        &[("value", &json_text(value), true)],
    ))
}

fn domain_text(value: &str, resolves_to: Option<&ScoText>) -> Option<ScoText> {
    if !is_hostname(value) {
        return None;
    }
    let value = json_text(value);
    Some(match resolves_to {
        Some(address) => {
            let refs = ["[\"", address.id.as_str(), "\"]"].concat();
            ScoText::new(
                "domain-name",
                &[("value", &value, true), ("resolves_to_refs", &refs, false)],
            )
        }
        None => ScoText::new("domain-name", &[("value", &value, true)]),
    })
}

/// An SCO written as text, back as the tree `sco` would have built: only when a repeated
/// SCO has to be merged into it.
fn parse_sco(json: &str) -> Value {
    serde_json::from_str(json).expect("an SCO written here is JSON")
}

fn email_address_sco(value: &str) -> Option<Value> {
    value
        .contains('@')
        .then(|| sco("email-addr", json!({"value": value})))
}

/// The STIX schema refuses keys that start with an abbreviated hive, or contain one.
fn registry_sco(key: &str, data: Option<&str>) -> Option<Value> {
    let key = registry_key(key);
    let refused = key.starts_with("HKLM")
        || [
            "HKCC", "HKCR", "HKCU", "HKU", "hklm", "hkcc", "hkcr", "hkcu", "hku",
        ]
        .iter()
        .any(|short| key.contains(short));
    if refused || key.is_empty() {
        return None;
    }
    Some(match data {
        Some(data) => sco(
            "windows-registry-key",
            json!({"key": key, "values": [{"data": data}]}),
        ),
        None => sco("windows-registry-key", json!({"key": key})),
    })
}

fn is_mac(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 17
        && bytes.iter().enumerate().all(|(index, b)| {
            if index % 3 == 2 {
                *b == b':'
            } else {
                b.is_ascii_digit() || (b'a'..=b'f').contains(b)
            }
        })
}

/// A host name the schema's `idn-hostname` check accepts: ASCII labels of letters,
/// digits and inner hyphens, at most 63 characters each and 253 in all.
fn is_hostname(value: &str) -> bool {
    let name = value.strip_suffix('.').unwrap_or(value);
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    name.split('.').all(|label| {
        let bytes = label.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= 63
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes[0] != b'-'
            && bytes[bytes.len() - 1] != b'-'
            && (bytes.len() < 4 || &bytes[2..4] != b"--" || label.starts_with("xn--"))
    })
}

/// RFC 3986 `URI` (absolute, with a scheme), the grammar the schema's `uri` format
/// checks: a URL with a space, a raw non-ASCII character or no scheme is not one.
pub(crate) fn is_uri(value: &str) -> bool {
    let Some((scheme, rest)) = value.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.bytes();
    if !scheme_chars.next().is_some_and(|b| b.is_ascii_alphabetic())
        || !scheme_chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
    {
        return false;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((hier, query)) => (hier, Some(query)),
        None => (rest, None),
    };
    let query_ok = |text: &str| chars_ok(text, |b| is_pchar(b) || b == b'/' || b == b'?');
    if !query.is_none_or(query_ok) || !fragment.is_none_or(query_ok) {
        return false;
    }
    match hier.strip_prefix("//") {
        Some(after) => {
            let (authority, path) = match after.find('/') {
                Some(index) => after.split_at(index),
                None => (after, ""),
            };
            is_authority(authority) && chars_ok(path, |b| is_pchar(b) || b == b'/')
        }
        None => chars_ok(hier, |b| is_pchar(b) || b == b'/'),
    }
}

fn is_unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b)
}

fn is_pchar(b: u8) -> bool {
    is_unreserved_or_sub_delim(b) || b == b':' || b == b'@'
}

/// Every byte allowed by `allowed`, or a `%` followed by two hex digits.
fn chars_ok(text: &str, allowed: impl Fn(u8) -> bool) -> bool {
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        let b = bytes[index];
        if b == b'%' {
            if !(bytes.get(index + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(index + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            index += 3;
        } else if allowed(b) {
            index += 1;
        } else {
            return false;
        }
    }
    true
}

fn is_authority(authority: &str) -> bool {
    let (userinfo, host_port) = match authority.split_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    if !userinfo.is_none_or(|info| chars_ok(info, |b| is_unreserved_or_sub_delim(b) || b == b':')) {
        return false;
    }
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        let Some((literal, after)) = inner.split_once(']') else {
            return false;
        };
        if literal.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => ("", None),
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    chars_ok(host, is_unreserved_or_sub_delim)
        && port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------
// MISP objects
// ---------------------------------------------------------------------------------------

/// An object as one STIX observation: its SCOs (in misp-stix's order), the comparisons
/// of its `to_ids` attributes, and which attributes it took.
struct ObjectMapping {
    scos: Vec<Value>,
    comparisons: Vec<String>,
    mapped: Vec<usize>,
}

/// The first attribute with this relation and type that `accept` takes, not yet taken.
fn take<'a>(
    attributes: &[&'a Attribute],
    mapped: &mut Vec<usize>,
    relation: &str,
    attr_type: &str,
) -> Option<(usize, &'a Attribute)> {
    let found = attributes.iter().enumerate().find(|(index, attribute)| {
        !mapped.contains(index)
            && attribute.object_relation.as_deref() == Some(relation)
            && attribute.attr_type == attr_type
    });
    found.map(|(index, attribute)| {
        mapped.push(index);
        (index, *attribute)
    })
}

fn map_object(name: &str, attributes: &[&Attribute]) -> Option<ObjectMapping> {
    let mut mapping = ObjectMapping {
        scos: Vec::new(),
        comparisons: Vec::new(),
        mapped: Vec::new(),
    };
    let equals = |path: &str, value: &str| format!("{path} = {}", quote(value));
    match name {
        "domain-ip" => {
            let (_, domain) = take(attributes, &mut mapping.mapped, "domain", "domain")?;
            if !is_hostname(&domain.value1) {
                return None;
            }
            let mut addresses = Vec::new();
            let mut address_comparisons = Vec::new();
            while let Some((index, ip)) = take(attributes, &mut mapping.mapped, "ip", "ip-dst") {
                match address_sco(&ip.value1).filter(|_| !ip.value1.contains('/')) {
                    Some(address) => {
                        if ip.to_ids {
                            address_comparisons
                                .push(equals("domain-name:resolves_to_refs[*].value", &ip.value1));
                        }
                        addresses.push(address);
                    }
                    None => mapping.mapped.retain(|taken| *taken != index),
                }
            }
            let mut properties = json!({"value": domain.value1});
            if !addresses.is_empty() {
                properties["resolves_to_refs"] =
                    Value::Array(addresses.iter().map(id_of).collect());
            }
            if domain.to_ids {
                mapping
                    .comparisons
                    .push(equals("domain-name:value", &domain.value1));
            }
            mapping.comparisons.extend(address_comparisons);
            mapping.scos.push(sco("domain-name", properties));
            mapping.scos.extend(addresses);
        }
        "ip-port" => {
            let (_, ip) = take(attributes, &mut mapping.mapped, "ip", "ip-dst")?;
            let address = address_sco(&ip.value1)?;
            let mut properties = json!({"dst_ref": id_of(&address)});
            if ip.to_ids {
                mapping.comparisons.push(equals(
                    "network-traffic:dst_ref.type",
                    address["type"].as_str().unwrap_or_default(),
                ));
                mapping
                    .comparisons
                    .push(equals("network-traffic:dst_ref.value", &ip.value1));
            }
            for (relation, key) in [("dst-port", "dst_port"), ("src-port", "src_port")] {
                if let Some((index, port)) = take(attributes, &mut mapping.mapped, relation, "port")
                {
                    match port_number(&port.value1) {
                        Some(number) => {
                            properties[key] = json!(number);
                            if port.to_ids {
                                mapping
                                    .comparisons
                                    .push(format!("network-traffic:{key} = {number}"));
                            }
                        }
                        None => mapping.mapped.retain(|taken| *taken != index),
                    }
                }
            }
            properties["protocols"] = json!([ip_family(&address)]);
            mapping.scos.push(sco("network-traffic", properties));
            mapping.scos.push(address);
        }
        "url" => {
            let (_, url) = take(attributes, &mut mapping.mapped, "url", "url")?;
            if !is_uri(&url.value1) {
                return None;
            }
            if url.to_ids {
                mapping.comparisons.push(equals("url:value", &url.value1));
            }
            mapping.scos.push(sco("url", json!({"value": url.value1})));
        }
        "file" => {
            let mut properties = Map::new();
            let mut hashes = Map::new();
            for hash_type in [
                "md5", "sha1", "sha256", "sha512", "sha3-256", "sha3-512", "ssdeep", "tlsh",
            ] {
                let key = hash_key(hash_type)?;
                if let Some((index, hash)) =
                    take(attributes, &mut mapping.mapped, hash_type, hash_type)
                {
                    let value = hash_value(key, &hash.value1);
                    if hash_value_fits(key, &value) {
                        if hash.to_ids {
                            mapping
                                .comparisons
                                .push(equals(&hash_path("file", key), &value));
                        }
                        hashes.insert(key.to_string(), json!(value));
                    } else {
                        mapping.mapped.retain(|taken| *taken != index);
                    }
                }
            }
            if !hashes.is_empty() {
                properties.insert("hashes".into(), Value::Object(hashes));
            }
            if let Some((index, size)) = take(
                attributes,
                &mut mapping.mapped,
                "size-in-bytes",
                "size-in-bytes",
            ) {
                match size.value1.trim().parse::<u64>() {
                    Ok(bytes) => {
                        if size.to_ids {
                            mapping.comparisons.push(format!("file:size = {bytes}"));
                        }
                        properties.insert("size".into(), json!(bytes));
                    }
                    Err(_) => mapping.mapped.retain(|taken| *taken != index),
                }
            }
            if let Some((_, filename)) =
                take(attributes, &mut mapping.mapped, "filename", "filename")
            {
                if filename.to_ids {
                    mapping
                        .comparisons
                        .push(equals("file:name", &filename.value1));
                }
                properties.insert("name".into(), json!(filename.value1));
            }
            if !properties.contains_key("hashes") && !properties.contains_key("name") {
                return None;
            }
            mapping.scos.push(sco("file", Value::Object(properties)));
        }
        "email" => {
            let mut message = json!({"is_multipart": false});
            let mut addresses = Vec::new();
            if let Some((index, from)) = take(attributes, &mut mapping.mapped, "from", "email-src")
            {
                match email_address_sco(&from.value1) {
                    Some(address) => {
                        message["from_ref"] = id_of(&address);
                        if from.to_ids {
                            mapping
                                .comparisons
                                .push(equals("email-message:from_ref.value", &from.value1));
                        }
                        addresses.push(address);
                    }
                    None => mapping.mapped.retain(|taken| *taken != index),
                }
            }
            for (relation, key) in [("to", "to_refs"), ("cc", "cc_refs")] {
                let mut refs = Vec::new();
                while let Some((index, recipient)) =
                    take(attributes, &mut mapping.mapped, relation, "email-dst")
                {
                    match email_address_sco(&recipient.value1) {
                        Some(address) => {
                            refs.push(id_of(&address));
                            if recipient.to_ids {
                                mapping.comparisons.push(equals(
                                    &format!("email-message:{key}[*].value"),
                                    &recipient.value1,
                                ));
                            }
                            addresses.push(address);
                        }
                        None => mapping.mapped.retain(|taken| *taken != index),
                    }
                }
                if !refs.is_empty() {
                    message[key] = Value::Array(refs);
                }
            }
            for (relation, attr_type, key) in [
                ("subject", "email-subject", "subject"),
                ("message-id", "email-message-id", "message_id"),
            ] {
                if let Some((_, field)) = take(attributes, &mut mapping.mapped, relation, attr_type)
                {
                    message[key] = json!(field.value1);
                    if field.to_ids {
                        mapping
                            .comparisons
                            .push(equals(&format!("email-message:{key}"), &field.value1));
                    }
                }
            }
            if mapping.mapped.is_empty() {
                return None;
            }
            mapping.scos.push(sco("email-message", message));
            mapping.scos.extend(addresses);
        }
        "network-connection" => {
            let mut traffic = Map::new();
            let mut addresses = Vec::new();
            for (relation, key) in [("ip-src", "src"), ("ip-dst", "dst")] {
                if let Some((index, ip)) = take(attributes, &mut mapping.mapped, relation, relation)
                {
                    match address_sco(&ip.value1) {
                        Some(address) => {
                            traffic.insert(format!("{key}_ref"), id_of(&address));
                            if ip.to_ids {
                                mapping.comparisons.push(equals(
                                    &format!("network-traffic:{key}_ref.type"),
                                    address["type"].as_str().unwrap_or_default(),
                                ));
                                mapping.comparisons.push(address_equals(
                                    &format!("network-traffic:{key}_ref.value"),
                                    &ip.value1,
                                ));
                            }
                            addresses.push(address);
                        }
                        None => mapping.mapped.retain(|taken| *taken != index),
                    }
                }
            }
            if addresses.is_empty() {
                return None;
            }
            for (relation, key) in [("src-port", "src_port"), ("dst-port", "dst_port")] {
                if let Some((index, port)) = take(attributes, &mut mapping.mapped, relation, "port")
                {
                    match port_number(&port.value1) {
                        Some(number) => {
                            traffic.insert(key.into(), json!(number));
                            if port.to_ids {
                                mapping
                                    .comparisons
                                    .push(format!("network-traffic:{key} = {number}"));
                            }
                        }
                        None => mapping.mapped.retain(|taken| *taken != index),
                    }
                }
            }
            let mut protocols = Vec::new();
            for (relation, layer) in [
                ("layer3-protocol", 3),
                ("layer4-protocol", 4),
                ("layer7-protocol", 7),
            ] {
                if let Some((index, protocol)) =
                    take(attributes, &mut mapping.mapped, relation, "text")
                {
                    let name = protocol.value1.to_ascii_lowercase();
                    if protocol_layer(&name) == Some(layer) {
                        if protocol.to_ids {
                            mapping
                                .comparisons
                                .push(equals("network-traffic:protocols[*]", &name));
                        }
                        protocols.push(json!(name));
                    } else {
                        mapping.mapped.retain(|taken| *taken != index);
                    }
                }
            }
            // `protocols` is required; without a named one the object goes attribute by
            // attribute rather than gaining a protocol its author did not state.
            if protocols.is_empty() {
                return None;
            }
            traffic.insert("protocols".into(), Value::Array(protocols));
            mapping
                .scos
                .push(sco("network-traffic", Value::Object(traffic)));
            mapping.scos.extend(addresses);
        }
        _ => return None,
    }
    Some(mapping)
}

fn address_equals(path: &str, value: &str) -> String {
    let operator = if value.contains('/') { "ISSUBSET" } else { "=" };
    format!("{path} {operator} {}", quote(value))
}

/// The network layer of the protocols misp-stix maps back to a network-connection's
/// `layer3/4/7-protocol`.
fn protocol_layer(name: &str) -> Option<u8> {
    match name {
        "ip" | "ipv4" | "ipv6" | "icmp" | "arp" => Some(3),
        "tcp" | "udp" => Some(4),
        "http" | "https" | "ftp" => Some(7),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_grammar() {
        for good in [
            "https://example.com/evil",
            "http://user:pw@example.com:8080/a/b?c=d&e#frag",
            "http://[2001:db8::1]/x",
            "mailto:someone@example.com",
            "http://example.com/%41",
        ] {
            assert!(is_uri(good), "{good}");
        }
        for bad in [
            "example.com/evil",
            "/gate.php",
            "http://exa mple.com/",
            "http://example.com/é",
            "http://example.com/%4",
            "http://example.com:80a/",
            "1http://example.com",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        assert!(is_hostname("evil.example.com"));
        assert!(is_hostname("xn--bcher-kva.example"));
        assert!(!is_hostname("under_score.example"));
        assert!(!is_hostname("-bad.example"));
        assert!(!is_hostname("ab--cd.example"));
    }

    /// SCOs written as text are what `sco` builds and `write_json_value` writes for the
    /// same properties, their ids those `sco_id` derives (escapes and member order too).
    #[test]
    fn text_scos_are_the_trees_written() {
        let cases: &[(&str, &str, &str)] = &[
            ("sha256", &"ab".repeat(32), ""),
            (
                "filename|md5",
                "a\"b\\c\u{e9}.exe",
                "D41D8CD98F00B204E9800998ECF8427E",
            ),
            ("ip-src", "10.0.0.1", ""),
            ("ip-dst", "2001:db8::1", ""),
            ("ip-src|port", "10.0.0.1", "8080"),
            ("ip-dst|port", "2001:db8::1", "443"),
            ("domain", "evil.example.com", ""),
            ("domain|ip", "evil.example.com", "10.1.2.3"),
            ("hostname|port", "evil.example.com", "25"),
            ("url", "https://x.example/a?b=%22c%22&d='e'", ""),
            ("email", "a@b.example", ""),
            ("filename", "tab\there \"quoted\" \u{1f600}", ""),
            (
                "malware-sample",
                "x.exe",
                "d41d8cd98f00b204e9800998ecf8427e",
            ),
            ("mutex", "Global\\m", ""),
            ("AS", "AS64500", ""),
            ("mac-address", "00:11:22:33:44:55", ""),
            ("x509-fingerprint-sha1", &"0a".repeat(20), ""),
        ];
        for &(attr_type, value1, value2) in cases {
            let attribute = Attribute::new(
                "6a1b2c3d-0000-4000-8000-000000000001".into(),
                attr_type.into(),
                "Network activity".into(),
                value1.into(),
                value2.into(),
            );
            let scos = attribute_observables(&attribute).expect(attr_type);
            for sco in scos {
                let Sco::Text(text) = sco else {
                    panic!("{attr_type}: a tree");
                };
                let tree: Value = serde_json::from_str(&text.json).expect("JSON");
                let mut written = String::new();
                write_json_value(&tree, &mut written);
                assert_eq!(written, text.json, "{attr_type}");
                let map = tree.as_object().expect("an object");
                assert_eq!(sco_id(text.object_type, map), text.id, "{attr_type}");
                assert_eq!(map["id"], text.id.as_str(), "{attr_type}");
                assert_eq!(map["type"], text.object_type, "{attr_type}");
            }
        }
    }

    #[test]
    fn galaxy_tags() {
        let cluster =
            Cluster::from_tag("misp-galaxy:mitre-attack-pattern=\"Launch Daemon - T1543.004\"")
                .unwrap();
        assert_eq!(cluster.sdo_type, "attack-pattern");
        assert_eq!(cluster.mitre_split(), Some(("Launch Daemon", "T1543.004")));
        let actor = Cluster::from_tag("misp-galaxy:threat-actor=\"Sofacy\"").unwrap();
        assert_eq!(actor.sdo_type, "threat-actor");
        assert_eq!(actor.mitre_split(), None);
        assert!(Cluster::from_tag("misp-galaxy:unknown-galaxy=\"x\"").is_none());
        assert!(Cluster::from_tag("tlp:amber").is_none());
    }
}
