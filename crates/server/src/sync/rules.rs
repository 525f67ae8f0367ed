//! A server's pull and push rules (misp-reference §3.1). Pull rules name things the remote
//! resolves (tag names, organisation names or uuids) and become filters of its event index;
//! push rules name local tags and organisations (ids, or tag names) and are checked here.

use serde_json::{Map, Value, json};

/// Rules text that is not JSON, or not the object MISP writes.
pub fn rules_error(field: &str, text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => None,
        // MISP's import writes `[]` for "no rules".
        Ok(Value::Array(list)) if list.is_empty() => None,
        _ => Some(format!(
            "The {field} filter rules must be in valid JSON format."
        )),
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PullRules {
    pub tags_or: Vec<String>,
    pub tags_not: Vec<String>,
    pub orgs_or: Vec<String>,
    pub orgs_not: Vec<String>,
    /// Attribute types to leave out of pulled events.
    pub type_attributes_not: Vec<String>,
    /// Object template uuids (or names) to leave out of pulled events.
    pub type_objects_not: Vec<String>,
    /// Extra index filters (`url_params`, a JSON object in a string).
    pub url_params: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PushRules {
    /// Local tag ids or names.
    pub tags_or: Vec<String>,
    pub tags_not: Vec<String>,
    /// Local organisation ids.
    pub orgs_or: Vec<String>,
    pub orgs_not: Vec<String>,
    pub type_attributes_not: Vec<String>,
    pub type_objects_not: Vec<String>,
}

fn texts(rules: &Value, group: &str, operator: &str) -> Vec<String> {
    match rules.get(group).and_then(|group| group.get(operator)) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| match item {
                Value::String(text) => Some(text.trim().to_string()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            })
            .filter(|text| !text.is_empty())
            .collect(),
        // The UI once stored lists as one comma-separated string.
        Some(Value::String(text)) => text
            .split(',')
            .map(|part| part.trim().to_string())
            .filter(|part| !part.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl PullRules {
    pub fn parse(text: &str) -> PullRules {
        let rules = parse(text);
        let url_params = match rules.get("url_params") {
            Some(Value::String(text)) if !text.trim().is_empty() => {
                match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(map)) => map,
                    _ => Map::new(),
                }
            }
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        PullRules {
            tags_or: texts(&rules, "tags", "OR"),
            tags_not: texts(&rules, "tags", "NOT"),
            orgs_or: texts(&rules, "orgs", "OR"),
            orgs_not: texts(&rules, "orgs", "NOT"),
            type_attributes_not: texts(&rules, "type_attributes", "NOT"),
            type_objects_not: texts(&rules, "type_objects", "NOT"),
            url_params,
        }
    }

    /// The body of the remote index request: minimal and published, the tag and org rules
    /// as `tag`/`org` filters (NOT values with a `!` prefix), `url_params` merged in.
    pub fn index_filters(&self) -> Value {
        let mut filters = Map::new();
        filters.insert("minimal".into(), json!(1));
        filters.insert("published".into(), json!(1));
        let with_negations = |or: &[String], not: &[String]| -> Vec<String> {
            or.iter()
                .cloned()
                .chain(not.iter().map(|value| format!("!{value}")))
                .collect()
        };
        let tags = with_negations(&self.tags_or, &self.tags_not);
        if !tags.is_empty() {
            filters.insert("tag".into(), json!(tags));
        }
        let orgs = with_negations(&self.orgs_or, &self.orgs_not);
        if !orgs.is_empty() {
            filters.insert("org".into(), json!(orgs));
        }
        for (key, value) in &self.url_params {
            filters.insert(key.clone(), value.clone());
        }
        Value::Object(filters)
    }

    /// Only `minimal` and `published`: MISP's "update" technique ignores the rules.
    pub fn unfiltered_index() -> Value {
        json!({"minimal": 1, "published": 1})
    }
}

impl PushRules {
    pub fn parse(text: &str) -> PushRules {
        let rules = parse(text);
        PushRules {
            tags_or: texts(&rules, "tags", "OR"),
            tags_not: texts(&rules, "tags", "NOT"),
            orgs_or: texts(&rules, "orgs", "OR"),
            orgs_not: texts(&rules, "orgs", "NOT"),
            type_attributes_not: texts(&rules, "type_attributes", "NOT"),
            type_objects_not: texts(&rules, "type_objects", "NOT"),
        }
    }

    /// Whether an event created by `orgc_id` with these tags (id, name) may be pushed: it
    /// must match one of each OR list that is not empty and none of the NOT lists.
    pub fn allows(&self, orgc_id: i64, tags: &[(i64, String)]) -> bool {
        let org = orgc_id.to_string();
        if !self.orgs_or.is_empty() && !self.orgs_or.contains(&org) {
            return false;
        }
        if self.orgs_not.contains(&org) {
            return false;
        }
        let names_tag = |rule: &String| {
            tags.iter()
                .any(|(id, name)| rule == &id.to_string() || rule.eq_ignore_ascii_case(name))
        };
        if !self.tags_or.is_empty() && !self.tags_or.iter().any(names_tag) {
            return false;
        }
        !self.tags_not.iter().any(names_tag)
    }

    /// Whether a tag is one the rules keep from leaving (push_rules.tags.NOT).
    pub fn blocks_tag(&self, id: i64, name: &str) -> bool {
        self.tags_not
            .iter()
            .any(|rule| rule == &id.to_string() || rule.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_rules_become_index_filters() {
        let rules = PullRules::parse(
            r#"{"tags":{"OR":["tlp:white"],"NOT":["tlp:red"]},"orgs":{"OR":[],"NOT":["Evil"]},
                "type_attributes":{"NOT":["comment"]},"type_objects":{"NOT":[]},
                "url_params":"{\"timestamp\":\"30d\"}"}"#,
        );
        assert_eq!(
            rules.index_filters(),
            json!({"minimal": 1, "published": 1, "tag": ["tlp:white", "!tlp:red"],
                   "org": ["!Evil"], "timestamp": "30d"})
        );
        assert_eq!(rules.type_attributes_not, vec!["comment"]);
        assert_eq!(
            PullRules::parse("").index_filters(),
            PullRules::unfiltered_index()
        );
        assert_eq!(
            PullRules::parse("[]").index_filters(),
            PullRules::unfiltered_index()
        );
    }

    #[test]
    fn push_rules_match_local_ids_and_tag_names() {
        let rules = PushRules::parse(
            r#"{"tags":{"OR":["7","tlp:green"],"NOT":["9"]},"orgs":{"OR":[],"NOT":["3"]}}"#,
        );
        assert!(rules.allows(1, &[(7, "x".into())]));
        assert!(rules.allows(1, &[(8, "TLP:GREEN".into())]));
        assert!(!rules.allows(1, &[(8, "tlp:amber".into())]));
        assert!(!rules.allows(1, &[(7, "x".into()), (9, "y".into())]));
        assert!(!rules.allows(3, &[(7, "x".into())]));
        assert!(PushRules::parse("").allows(3, &[]));
        assert!(rules.blocks_tag(9, "y"));
    }

    #[test]
    fn rules_text_must_be_a_json_object() {
        assert_eq!(rules_error("pull", ""), None);
        assert_eq!(rules_error("pull", "[]"), None);
        assert_eq!(rules_error("pull", r#"{"tags":{}}"#), None);
        assert!(rules_error("push", "{oops").is_some());
        assert!(rules_error("push", "42").is_some());
    }
}
