//! A numbered collection of warninglists with their enabled switches, and the checks MISP
//! runs against it: per attribute (`check`, for restSearch's `includeWarninglistHits` and
//! `enforceWarninglist`) and per bare value (`check_value`, for `/warninglists/checkValue`).

use crate::embedded::SHIPPED;
use crate::warninglist::{Category, LoadError, Warninglist};
use kizuna_model::Attribute;
use kizuna_model::attribute_types::is_composite;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// One list that holds (part of) a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarninglistHit {
    pub list_id: u32,
    pub name: String,
    pub category: Category,
    /// What the list holds (MISP's `match`): the entry, the parent domain found on a
    /// hostname list, or the containing network as `address/prefix`.
    pub matched: String,
    /// The part of the value that hit (one half of a composite value).
    pub value: String,
    /// The comment of the matching entry, when the list has comments.
    pub comment: Option<String>,
}

impl WarninglistHit {
    /// One entry of an attribute's `warnings` array, keys as MISP writes them.
    pub fn to_misp_warning(&self) -> Value {
        let mut warning = json!({
            "match": self.matched,
            "value": self.value,
            "warninglist_id": self.list_id.to_string(),
            "warninglist_name": self.name,
            "warninglist_category": self.category.as_str(),
        });
        if let Some(comment) = &self.comment {
            warning["comment"] = json!(comment);
        }
        warning
    }

    /// One entry of a value's list in the `/warninglists/checkValue` answer.
    pub fn to_check_value_hit(&self) -> Value {
        json!({
            "id": self.list_id.to_string(),
            "name": self.name,
            "matched": self.matched,
        })
    }
}

/// An event's `warnings` member: warninglist id → name for every list that any of `hits`
/// came from; MISP renders an empty `[]` when there are none.
pub fn misp_event_warnings<'a>(hits: impl IntoIterator<Item = &'a WarninglistHit>) -> Value {
    let mut lists: Vec<(u32, &str)> = hits
        .into_iter()
        .map(|hit| (hit.list_id, hit.name.as_str()))
        .collect();
    if lists.is_empty() {
        return Value::Array(Vec::new());
    }
    lists.sort_unstable();
    lists.dedup();
    Value::Object(
        lists
            .into_iter()
            .map(|(id, name)| (id.to_string(), json!(name)))
            .collect::<Map<String, Value>>(),
    )
}

/// The compiled lists, shared by every set built from them.
struct Compiled {
    /// Ordered by id; list `id` sits at index `id - 1`.
    lists: Vec<Warninglist>,
    /// Attribute type → indices of the lists that apply to it, in id order (lists for `ALL`
    /// included).
    by_type: HashMap<String, Vec<usize>>,
    /// Indices of the lists for `ALL`: what applies to a type no list names.
    for_all_types: Vec<usize>,
}

impl Compiled {
    fn new(mut lists: Vec<Warninglist>) -> Result<Compiled, LoadError> {
        let mut names = HashSet::new();
        for (index, list) in lists.iter_mut().enumerate() {
            list.id = u32::try_from(index + 1).map_err(|_| LoadError {
                origin: list.slug.clone(),
                message: "too many warninglists".into(),
            })?;
            if !names.insert(list.name.clone()) {
                return Err(LoadError {
                    origin: list.slug.clone(),
                    message: format!(
                        "another warninglist is already named {:?} (names must be unique)",
                        list.name
                    ),
                });
            }
        }
        let for_all_types: Vec<usize> = (0..lists.len())
            .filter(|&index| lists[index].applies_to_every_type())
            .collect();
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        for list in &lists {
            for attr_type in &list.matching_attributes {
                by_type.entry(attr_type.clone()).or_default();
            }
        }
        for (attr_type, indices) in &mut by_type {
            indices.extend((0..lists.len()).filter(|&index| lists[index].applies_to(attr_type)));
        }
        Ok(Compiled {
            lists,
            by_type,
            for_all_types,
        })
    }
}

/// Warninglists numbered 1..n, each switched on or off. Switching is lock-free, so one set
/// can serve every request while an administrator toggles lists.
pub struct WarninglistSet {
    compiled: Arc<Compiled>,
    enabled: Box<[AtomicBool]>,
}

impl fmt::Debug for WarninglistSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("WarninglistSet")
            .field("lists", &self.len())
            .field(
                "enabled",
                &self
                    .lists()
                    .iter()
                    .filter(|l| self.is_enabled(l.id))
                    .count(),
            )
            .finish()
    }
}

impl WarninglistSet {
    /// Numbers `lists` 1..n in the given order, every list enabled. Names must be unique.
    pub fn new(lists: Vec<Warninglist>) -> Result<WarninglistSet, LoadError> {
        Ok(Self::over(Arc::new(Compiled::new(lists)?)))
    }

    fn over(compiled: Arc<Compiled>) -> WarninglistSet {
        let enabled = compiled
            .lists
            .iter()
            .map(|_| AtomicBool::new(true))
            .collect();
        WarninglistSet { compiled, enabled }
    }

    /// The lists shipped inside the binary, ids 1..n by directory name, all enabled.
    pub fn defaults() -> WarninglistSet {
        static SHIPPED_LISTS: OnceLock<Arc<Compiled>> = OnceLock::new();
        let compiled = SHIPPED_LISTS.get_or_init(|| {
            // The shipped lists are fixed at build time and checked by this crate's tests.
            let lists = shipped_lists().expect("the shipped warninglists load");
            Arc::new(Compiled::new(lists).expect("the shipped warninglists have unique names"))
        });
        Self::over(Arc::clone(compiled))
    }

    /// The lists of a directory in MISP's layout (`<dir>/<name>/list.json`, or a checkout
    /// of misp-warninglists with them under `lists/`), ids 1..n by directory name.
    pub fn load_dir(dir: &Path) -> Result<WarninglistSet, LoadError> {
        Self::new(read_dir_lists(dir)?)
    }

    /// The shipped lists plus those of `dir`: a directory named like a shipped list replaces
    /// it under the same id, the others follow with ids n+1.. by directory name.
    pub fn defaults_with_dir(dir: &Path) -> Result<WarninglistSet, LoadError> {
        let mut lists = shipped_lists()?;
        for local in read_dir_lists(dir)? {
            match lists.iter().position(|shipped| shipped.slug == local.slug) {
                Some(index) => lists[index] = local,
                None => lists.push(local),
            }
        }
        Self::new(lists)
    }

    pub fn len(&self) -> usize {
        self.compiled.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.compiled.lists.is_empty()
    }

    /// Every list, in id order.
    pub fn lists(&self) -> &[Warninglist] {
        &self.compiled.lists
    }

    pub fn get(&self, id: u32) -> Option<&Warninglist> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.compiled.lists.get(index)
    }

    pub fn by_name(&self, name: &str) -> Option<&Warninglist> {
        self.compiled.lists.iter().find(|list| list.name == name)
    }

    pub fn is_enabled(&self, id: u32) -> bool {
        self.switch(id)
            .is_some_and(|switch| switch.load(Ordering::Relaxed))
    }

    /// Switches list `id` on or off; false when there is no such list.
    pub fn set_enabled(&self, id: u32, enabled: bool) -> bool {
        match self.switch(id) {
            Some(switch) => {
                switch.store(enabled, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Applies stored `(list name, enabled)` choices; names of lists not in the set are
    /// ignored (a list may have been removed from the directory since).
    pub fn apply_states<'a>(&self, states: impl IntoIterator<Item = (&'a str, bool)>) {
        for (name, enabled) in states {
            if let Some(list) = self.by_name(name) {
                self.set_enabled(list.id, enabled);
            }
        }
    }

    fn switch(&self, id: u32) -> Option<&AtomicBool> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.enabled.get(index)
    }

    fn enabled_lists_for(&self, attr_type: &str) -> impl Iterator<Item = &Warninglist> {
        let indices = self
            .compiled
            .by_type
            .get(attr_type)
            .unwrap_or(&self.compiled.for_all_types);
        indices
            .iter()
            .filter(|&&index| self.enabled[index].load(Ordering::Relaxed))
            .map(|&index| &self.compiled.lists[index])
    }

    /// The enabled lists that warn about an attribute of `attr_type` with MISP `value`
    /// (`value1|value2` for composite types, whose halves are checked separately), as MISP's
    /// `checkForWarning` finds them: at most one hit per list, lists in id order.
    pub fn check(&self, attr_type: &str, value: &str) -> Vec<WarninglistHit> {
        self.check_parts(attr_type, split_value(attr_type, value).as_slice())
    }

    /// [`check`](Self::check) for an attribute whose value halves are already apart.
    pub fn check_attribute(&self, attribute: &Attribute) -> Vec<WarninglistHit> {
        self.check_parts(&attribute.attr_type, attribute_parts(attribute).as_slice())
    }

    /// [`check`](Self::check) with the value already split into the parts to look up.
    pub fn check_parts(&self, attr_type: &str, parts: &[&str]) -> Vec<WarninglistHit> {
        self.enabled_lists_for(attr_type)
            .filter_map(|list| hit_in(list, parts))
            .collect()
    }

    /// Whether any enabled list warns about the attribute: what `enforceWarninglist` drops.
    pub fn is_warned(&self, attr_type: &str, value: &str) -> bool {
        let parts = split_value(attr_type, value);
        self.enabled_lists_for(attr_type).any(|list| {
            parts
                .as_slice()
                .iter()
                .any(|part| list.find_entry(part).is_some())
        })
    }

    /// [`is_warned`](Self::is_warned) for an attribute whose value halves are already apart.
    pub fn is_attribute_warned(&self, attribute: &Attribute) -> bool {
        let parts = attribute_parts(attribute);
        self.enabled_lists_for(&attribute.attr_type).any(|list| {
            parts
                .as_slice()
                .iter()
                .any(|part| list.find_entry(part).is_some())
        })
    }

    /// Every enabled list holding `value`, whatever the lists' attribute types and without
    /// splitting the value: MISP's `/warninglists/checkValue`.
    pub fn check_value(&self, value: &str) -> Vec<WarninglistHit> {
        self.compiled
            .lists
            .iter()
            .enumerate()
            .filter(|(index, _)| self.enabled[*index].load(Ordering::Relaxed))
            .filter_map(|(_, list)| hit_in(list, &[value]))
            .collect()
    }
}

/// The one or two parts of a value to look up, without allocating: restSearch checks every
/// attribute it returns.
struct Parts<'a> {
    items: [&'a str; 2],
    len: usize,
}

impl<'a> Parts<'a> {
    fn one(value: &'a str) -> Self {
        Parts {
            items: [value, ""],
            len: 1,
        }
    }

    fn two(first: &'a str, second: &'a str) -> Self {
        Parts {
            items: [first, second],
            len: 2,
        }
    }

    fn as_slice(&self) -> &[&'a str] {
        &self.items[..self.len]
    }
}

fn split_value<'a>(attr_type: &str, value: &'a str) -> Parts<'a> {
    match value.split_once('|') {
        Some((first, second)) if is_composite(attr_type) => Parts::two(first, second),
        _ => Parts::one(value),
    }
}

fn attribute_parts(attribute: &Attribute) -> Parts<'_> {
    if is_composite(&attribute.attr_type) {
        Parts::two(&attribute.value1, &attribute.value2)
    } else {
        Parts::one(&attribute.value1)
    }
}

/// The first part of a value that `list` holds, as a hit.
fn hit_in(list: &Warninglist, parts: &[&str]) -> Option<WarninglistHit> {
    parts.iter().find_map(|part| {
        list.find_entry(part).map(|found| WarninglistHit {
            list_id: list.id,
            name: list.name.clone(),
            category: list.category,
            matched: found.matched,
            value: (*part).to_string(),
            comment: list.entries[found.entry].comment.clone(),
        })
    })
}

fn shipped_lists() -> Result<Vec<Warninglist>, LoadError> {
    SHIPPED
        .iter()
        .map(|(slug, text)| Warninglist::parse(slug, text, &format!("embedded:{slug}"), true))
        .collect()
}

/// `<dir>/<name>/list.json` for every subdirectory that has one, sorted by name; a
/// misp-warninglists checkout is read from its `lists/` folder.
fn read_dir_lists(dir: &Path) -> Result<Vec<Warninglist>, LoadError> {
    let root = if dir.join("lists").is_dir() {
        dir.join("lists")
    } else {
        dir.to_path_buf()
    };
    let io_error = |path: &Path, error: std::io::Error| LoadError {
        origin: path.display().to_string(),
        message: format!("cannot read: {error}"),
    };
    let mut slugs = Vec::new();
    for item in std::fs::read_dir(&root).map_err(|error| io_error(&root, error))? {
        let item = item.map_err(|error| io_error(&root, error))?;
        let path = item.path();
        if path.join("list.json").is_file() {
            let slug = item.file_name().to_string_lossy().into_owned();
            slugs.push(slug);
        }
    }
    slugs.sort();
    slugs
        .iter()
        .map(|slug| {
            let path = root.join(slug).join("list.json");
            let text = std::fs::read_to_string(&path).map_err(|error| io_error(&path, error))?;
            Warninglist::parse(slug, &text, &path.display().to_string(), false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(slug: &str, list_type: &str, entries: Value, types: Value) -> Warninglist {
        let text = json!({
            "name": format!("List {slug}"),
            "description": "for tests",
            "version": 1,
            "type": list_type,
            "list": entries,
            "matching_attributes": types,
        })
        .to_string();
        Warninglist::parse(slug, &text, slug, false).unwrap()
    }

    fn sample() -> WarninglistSet {
        WarninglistSet::new(vec![
            list(
                "private",
                "cidr",
                json!(["10.0.0.0/8", "192.168.0.0/16"]),
                json!(["ip-src", "ip-dst", "domain|ip", "ip-dst|port"]),
            ),
            list(
                "hashes",
                "string",
                json!({"d41d8cd98f00b204e9800998ecf8427e": "md5 of nothing"}),
                json!(["md5", "filename|md5"]),
            ),
            list("anything", "substring", json!(["evil"]), json!(["ALL"])),
        ])
        .unwrap()
    }

    fn ids(hits: &[WarninglistHit]) -> Vec<u32> {
        hits.iter().map(|hit| hit.list_id).collect()
    }

    #[test]
    fn lists_are_numbered_in_order_and_found_by_id_or_name() {
        let set = sample();
        assert_eq!(set.len(), 3);
        assert_eq!(set.get(1).unwrap().name, "List private");
        assert_eq!(set.get(3).unwrap().slug, "anything");
        assert!(set.get(0).is_none() && set.get(4).is_none());
        assert_eq!(set.by_name("List hashes").unwrap().id, 2);
        assert!(set.by_name("list hashes").is_none());
    }

    #[test]
    fn attribute_types_select_the_lists() {
        let set = sample();
        assert_eq!(ids(&set.check("ip-dst", "10.0.0.1")), [1]);
        assert!(set.check("text", "10.0.0.1").is_empty());
        assert!(set.check("md5", "10.0.0.1").is_empty());
        // A list for ALL applies to types no list names, and alongside the others.
        assert_eq!(ids(&set.check("text", "so evil")), [3]);
        assert_eq!(ids(&set.check("ip-dst", "evil")), [3]);
    }

    #[test]
    fn composite_values_are_checked_per_half() {
        let set = sample();
        let hits = set.check("ip-dst|port", "192.168.1.1|443");
        assert_eq!(ids(&hits), [1]);
        assert_eq!(hits[0].value, "192.168.1.1");
        assert_eq!(hits[0].matched, "192.168.0.0/16");
        let hits = set.check("filename|md5", "empty.txt|d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hits[0].value, "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hits[0].comment.as_deref(), Some("md5 of nothing"));
        // A non-composite type is not split.
        assert!(set.check("ip-dst", "10.0.0.1|80").is_empty());
        // The first half that hits is reported, once per list.
        let hits = set.check("domain|ip", "evil.test|10.0.0.1");
        assert_eq!(ids(&hits), [1, 3]);
        assert_eq!(hits[1].value, "evil.test");
    }

    #[test]
    fn attributes_use_their_stored_halves() {
        let set = sample();
        let attribute = Attribute::new(
            "5f0c7a1e-0000-4000-8000-000000000001".into(),
            "filename|md5".into(),
            "Payload delivery".into(),
            "a|b.txt".into(),
            "d41d8cd98f00b204e9800998ecf8427e".into(),
        );
        assert_eq!(ids(&set.check_attribute(&attribute)), [2]);
        assert!(set.is_attribute_warned(&attribute));
        // Joined and split again, the pipe in the file name would hide the hash.
        assert!(set.check("filename|md5", &attribute.value()).is_empty());
    }

    #[test]
    fn disabled_lists_stay_silent() {
        let set = sample();
        assert!(set.is_warned("ip-src", "10.1.1.1"));
        assert!(set.set_enabled(1, false));
        assert!(!set.is_enabled(1));
        assert!(!set.is_warned("ip-src", "10.1.1.1"));
        assert!(set.check_value("10.1.1.1").is_empty());
        assert!(!set.set_enabled(9, false));
        set.apply_states([("List private", true), ("List gone", false)]);
        assert!(set.is_enabled(1));
    }

    #[test]
    fn check_value_ignores_types_and_does_not_split() {
        let set = sample();
        assert_eq!(ids(&set.check_value("10.0.0.1")), [1]);
        assert_eq!(
            ids(&set.check_value("d41d8cd98f00b204e9800998ecf8427e")),
            [2]
        );
        assert!(set.check_value("10.0.0.1|80").is_empty());
    }

    #[test]
    fn misp_json_shapes() {
        let set = sample();
        let hits = set.check("md5", "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(
            hits[0].to_misp_warning(),
            json!({
                "match": "d41d8cd98f00b204e9800998ecf8427e",
                "value": "d41d8cd98f00b204e9800998ecf8427e",
                "warninglist_id": "2",
                "warninglist_name": "List hashes",
                "warninglist_category": "false_positive",
                "comment": "md5 of nothing",
            })
        );
        assert_eq!(
            hits[0].to_check_value_hit(),
            json!({"id": "2", "name": "List hashes", "matched": "d41d8cd98f00b204e9800998ecf8427e"})
        );
        let mut all = set.check("domain|ip", "evil.test|10.0.0.1");
        all.extend(set.check("ip-src", "10.0.0.2"));
        assert_eq!(
            misp_event_warnings(&all),
            json!({"1": "List private", "3": "List anything"})
        );
        assert_eq!(misp_event_warnings(&[]), json!([]));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let error = WarninglistSet::new(vec![
            list("a", "string", json!(["x"]), json!(["ALL"])),
            list("a", "string", json!(["y"]), json!(["ALL"])),
        ])
        .unwrap_err();
        assert!(error.message.contains("List a"), "{error}");
    }
}
