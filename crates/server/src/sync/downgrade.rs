//! What distribution an event keeps when it crosses to another instance (misp-reference
//! §2.4–2.5), and what never crosses: local and non-exportable tags, items the receiving
//! side may not see, items the server's type rules leave out.

use super::rules::{PullRules, PushRules};
use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use kizuna_model::{AttachedTag, Distribution, Event, EventReport};
use serde_json::Value;

/// Pull side (Server::__updatePulledEventBeforeInsert): 1 → 0 and 2 → 1 on the event and
/// every item unless `keep_levels` (an internal server of the host organisation), local
/// tags dropped, the type rules applied, and the event marked as arrived by sync.
/// `event` is the inner `Event` object. Returns whether anything live is left to store.
pub fn downgrade_pulled(event: &mut Value, keep_levels: bool, rules: &PullRules) -> bool {
    let lower = |item: &mut Value| {
        if keep_levels {
            return;
        }
        if let Some(level) = item.get("distribution").and_then(lenient_i64) {
            let lowered = match level {
                1 => 0,
                2 => 1,
                other => other,
            };
            item["distribution"] = Value::String(lowered.to_string());
        }
    };
    lower(event);
    drop_local_tags(event);
    if let Some(Value::Array(attributes)) = event.get_mut("Attribute") {
        attributes.retain(|attribute| !type_is_excluded(attribute, rules));
        for attribute in attributes.iter_mut() {
            lower(attribute);
            drop_local_tags(attribute);
        }
    }
    if let Some(Value::Array(objects)) = event.get_mut("Object") {
        objects.retain(|object| !object_is_excluded(object, &rules.type_objects_not));
        for object in objects.iter_mut() {
            lower(object);
            if let Some(Value::Array(attributes)) = object.get_mut("Attribute") {
                for attribute in attributes.iter_mut() {
                    lower(attribute);
                    drop_local_tags(attribute);
                }
            }
        }
    }
    if let Some(Value::Array(reports)) = event.get_mut("EventReport") {
        for report in reports.iter_mut() {
            lower(report);
        }
    }
    event["locked"] = Value::Bool(true);
    has_live_content(event)
}

fn type_is_excluded(attribute: &Value, rules: &PullRules) -> bool {
    attribute
        .get("type")
        .and_then(Value::as_str)
        .is_some_and(|kind| rules.type_attributes_not.iter().any(|rule| rule == kind))
}

fn object_is_excluded(object: &Value, excluded: &[String]) -> bool {
    ["template_uuid", "name"].iter().any(|field| {
        object
            .get(*field)
            .and_then(Value::as_str)
            .is_some_and(|value| excluded.iter().any(|rule| rule == value))
    })
}

fn drop_local_tags(item: &mut Value) {
    if let Some(Value::Array(tags)) = item.get_mut("Tag") {
        tags.retain(|tag| !tag.get("local").and_then(lenient_bool).unwrap_or(false));
    }
}

fn is_live(item: &Value) -> bool {
    !item.get("deleted").and_then(lenient_bool).unwrap_or(false)
}

/// At least one attribute that is not deleted, loose or in a live object.
fn has_live_content(event: &Value) -> bool {
    let live_in = |list: Option<&Value>| match list {
        Some(Value::Array(items)) => items.iter().any(is_live),
        _ => false,
    };
    live_in(event.get("Attribute"))
        || match event.get("Object") {
            Some(Value::Array(objects)) => objects
                .iter()
                .any(|object| is_live(object) && live_in(object.get("Attribute"))),
            _ => false,
        }
}

/// How an event may leave for one server.
pub struct PushScope<'a> {
    /// The server is flagged internal (same organisation): levels are not lowered, local
    /// tags and items of levels 0–1 go along.
    pub internal: bool,
    pub unpublish: bool,
    pub rules: &'a PushRules,
    /// Whether the server may receive items of this sharing group.
    pub group_allowed: &'a dyn Fn(i64) -> bool,
}

/// Push side (Event::__updateEventForSync): event 2 → 1; items of level 0–1 removed, 2 → 1,
/// 4 kept only for a server in the group; non-exportable, local and rule-blocked tags
/// removed; type rules applied; `locked` set.
/// An item's level once pushed, or None when it must stay here.
fn level_after_push(
    scope: &PushScope<'_>,
    distribution: Distribution,
    group: i64,
) -> Option<Distribution> {
    use Distribution::*;
    match distribution {
        OrganisationOnly | CommunityOnly if !scope.internal => None,
        ConnectedCommunities if !scope.internal => Some(CommunityOnly),
        SharingGroup if !(scope.group_allowed)(group) => None,
        other => Some(other),
    }
}

/// The event's reports as a push sends them: the same rule as attributes and objects.
pub fn reports_for_push(reports: Vec<EventReport>, scope: &PushScope<'_>) -> Vec<EventReport> {
    reports
        .into_iter()
        .filter_map(|mut report| {
            report.distribution =
                level_after_push(scope, report.distribution, report.sharing_group_id)?;
            Some(report)
        })
        .collect()
}

pub fn prepare_for_push(event: &mut Event, scope: &PushScope<'_>) {
    let keeps_tag = |attached: &AttachedTag| {
        attached.tag.exportable
            && (scope.internal || !attached.local)
            && !scope.rules.blocks_tag(attached.tag.id, &attached.tag.name)
    };
    let level_after =
        |distribution: Distribution, group: i64| level_after_push(scope, distribution, group);
    if event.distribution == Distribution::ConnectedCommunities && !scope.internal {
        event.distribution = Distribution::CommunityOnly;
    }
    event.tags.retain(keeps_tag);
    event.attributes.retain_mut(|attribute| {
        if scope
            .rules
            .type_attributes_not
            .iter()
            .any(|kind| kind == &attribute.attr_type)
        {
            return false;
        }
        match level_after(attribute.distribution, attribute.sharing_group_id) {
            Some(level) => {
                attribute.distribution = level;
                attribute.tags.retain(keeps_tag);
                true
            }
            None => false,
        }
    });
    event.objects.retain_mut(|object| {
        if scope
            .rules
            .type_objects_not
            .iter()
            .any(|rule| rule == &object.template_uuid || rule == &object.name)
        {
            return false;
        }
        let Some(level) = level_after(object.distribution, object.sharing_group_id) else {
            return false;
        };
        object.distribution = level;
        object.attributes.retain_mut(|attribute| {
            match level_after(attribute.distribution, attribute.sharing_group_id) {
                Some(level) => {
                    attribute.distribution = level;
                    attribute.tags.retain(keeps_tag);
                    true
                }
                None => false,
            }
        });
        true
    });
    event.locked = true;
    if scope.unpublish {
        event.published = false;
    }
}

/// The rendered event without what only means something here: local ids and the owner
/// organisation (the receiver sets its own; `Orgc` stays so it can capture the creator).
pub fn strip_local_ids(event: &mut Value) {
    fn strip(item: &mut Value, keys: &[&str]) {
        if let Value::Object(map) = item {
            for key in keys {
                map.remove(*key);
            }
        }
    }
    const ITEM_IDS: &[&str] = &["id", "event_id", "object_id"];
    strip(event, &["id", "org_id", "orgc_id", "Org", "user_id"]);
    if let Some(Value::Array(attributes)) = event.get_mut("Attribute") {
        attributes.iter_mut().for_each(|a| strip(a, ITEM_IDS));
    }
    if let Some(Value::Array(objects)) = event.get_mut("Object") {
        for object in objects.iter_mut() {
            strip(object, ITEM_IDS);
            if let Some(Value::Array(attributes)) = object.get_mut("Attribute") {
                attributes.iter_mut().for_each(|a| strip(a, ITEM_IDS));
            }
            if let Some(Value::Array(references)) = object.get_mut("ObjectReference") {
                references
                    .iter_mut()
                    .for_each(|r| strip(r, &["id", "object_id", "event_id", "referenced_id"]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pulled_levels_drop_one_step_and_local_tags_go() {
        let mut event = json!({
            "distribution": "2",
            "Tag": [{"name": "tlp:green", "local": false}, {"name": "mine", "local": true}],
            "Attribute": [
                {"type": "ip-dst", "distribution": "1", "Tag": [{"name": "x", "local": 1}]},
                {"type": "comment", "distribution": "3"},
                {"type": "domain", "distribution": "4", "deleted": true},
            ],
            "Object": [{"name": "file", "distribution": 5,
                        "Attribute": [{"type": "md5", "distribution": "2"}]}],
        });
        let rules = PullRules {
            type_attributes_not: vec!["comment".into()],
            ..PullRules::default()
        };
        assert!(downgrade_pulled(&mut event, false, &rules));
        assert_eq!(event["distribution"], "1");
        assert_eq!(event["locked"], true);
        assert_eq!(event["Tag"].as_array().unwrap().len(), 1);
        let attributes = event["Attribute"].as_array().unwrap();
        assert_eq!(attributes.len(), 2);
        assert_eq!(attributes[0]["distribution"], "0");
        assert_eq!(attributes[0]["Tag"], json!([]));
        assert_eq!(attributes[1]["distribution"], "4");
        assert_eq!(event["Object"][0]["distribution"], "5");
        assert_eq!(event["Object"][0]["Attribute"][0]["distribution"], "1");
    }

    #[test]
    fn internal_servers_keep_levels_and_empty_events_are_not_stored() {
        let mut event = json!({"distribution": 1, "Attribute": [{"type": "comment",
            "distribution": 2, "deleted": true}]});
        assert!(!downgrade_pulled(&mut event, true, &PullRules::default()));
        assert_eq!(event["distribution"], 1);
        assert_eq!(event["Attribute"][0]["distribution"], 2);
    }
}
