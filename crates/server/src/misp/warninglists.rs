//! MISP `WarninglistsController`: list, view, switch on and off, and check values against
//! the warninglists (misp-reference §7.2).
//!
//! The lists themselves are built in (see `kizuna-matcher`) and read-only over the API;
//! what an administrator changes is which lists are enabled. Those choices are stored by
//! list name and applied to the in-memory set the first time anything needs it.
//!
//! For restSearch: `AppState::warninglist_set` gives the set with the stored switches
//! applied; `WarninglistSet::check` / `check_attribute` find the hits and
//! `WarninglistHit::to_misp_warning` / `kizuna_matcher::misp_event_warnings` render them.

use super::{Call, describe_endpoint, head_response, is_write, json_response, unknown_action};
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::misp::input::lenient_bool;
use kizuna_matcher::{LoadError, Warninglist, WarninglistSet};
use kizuna_store::{Store, StoreError};
use serde_json::{Map, Value, json};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The server's warninglists: the compiled set, and whether the stored on/off choices have
/// been applied to it yet.
#[derive(Debug)]
pub struct Warninglists {
    set: WarninglistSet,
    stored_states_applied: OnceCell<()>,
}

impl Warninglists {
    pub fn new(set: WarninglistSet) -> Self {
        Warninglists {
            set,
            stored_states_applied: OnceCell::new(),
        }
    }

    /// The set with the stored choices applied; the store is read once, on first use.
    pub async fn ready(&self, store: &Store) -> Result<&WarninglistSet, StoreError> {
        self.stored_states_applied
            .get_or_try_init(|| async {
                let states = store.warninglist_states().await?;
                self.set
                    .apply_states(states.iter().map(|(name, on)| (name.as_str(), *on)));
                Ok::<(), StoreError>(())
            })
            .await?;
        Ok(&self.set)
    }
}

impl AppState {
    /// This state with `set` as its warninglists (e.g. the shipped lists plus an operator's
    /// directory) instead of the shipped ones.
    pub fn with_warninglists(mut self, set: WarninglistSet) -> Self {
        self.warninglists = Arc::new(Warninglists::new(set));
        self
    }

    /// This state with the shipped warninglists plus those of `dir` (MISP's layout,
    /// `<dir>/<name>/list.json`): a list named like a shipped one replaces it, the others are
    /// added after the shipped ones.
    pub fn with_warninglists_dir(self, dir: &Path) -> Result<Self, LoadError> {
        Ok(self.with_warninglists(WarninglistSet::defaults_with_dir(dir)?))
    }

    /// The warninglists with the administrator's on/off choices applied: what
    /// `enforceWarninglist`, `includeWarninglistHits` and checkValue consult.
    pub async fn warninglist_set(&self) -> ApiResult<&WarninglistSet> {
        Ok(self.warninglists.ready(&self.store).await?)
    }
}

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    match call.path.action.as_str() {
        "index" => index(call).await,
        "view" => view(call).await,
        "toggleenable" => toggle_enable(call).await,
        "enablewarninglist" => enable_warninglist(call).await,
        "checkvalue" => check_value(call).await,
        "update" => update(call),
        "export" => export(call).await,
        "add" | "edit" | "import" | "delete" => Err(ApiError::Forbidden(
            "Warninglists are built in and cannot be changed over the API; an administrator \
             can add lists through the warninglists_dir setting."
                .into(),
        )),
        _ => Err(unknown_action(call)),
    }
}

/// A parameter given as a named URL parameter or as a key of the JSON body.
fn parameter(call: &Call, name: &str) -> Option<Value> {
    if let Some(value) = call.path.named(name) {
        return Some(Value::String(value.to_string()));
    }
    call.body
        .as_ref()
        .and_then(|body| body.get(name))
        .filter(|value| !value.is_null())
        .cloned()
}

/// PHP's truthiness, which MISP applies to flags it does not parse.
fn php_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(flag) => *flag,
        Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
        Value::String(text) => !(text.is_empty() || text == "0"),
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) => !fields.is_empty(),
    }
}

/// The columns of MISP's `warninglists` row, in MISP's order.
fn list_fields(list: &Warninglist, enabled: bool) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("id".into(), json!(list.id.to_string()));
    fields.insert("name".into(), json!(list.name));
    fields.insert("type".into(), json!(list.list_type.as_str()));
    fields.insert("description".into(), json!(list.description));
    fields.insert("version".into(), json!(list.version.to_string()));
    fields.insert("enabled".into(), json!(enabled));
    fields.insert("default".into(), json!(list.default));
    fields.insert("category".into(), json!(list.category.as_str()));
    fields
}

/// `value` (a word in the name or description, or the exact type) and `enabled` filters;
/// newest id first, as MISP orders it.
async fn index(call: &Call) -> ApiResult<Response> {
    let set = call.state.warninglist_set().await?;
    let search = match parameter(call, "value") {
        None => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(Value::String(text)) => Some(text.to_lowercase()),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "The `value` filter must be a string.".into(),
            ));
        }
    };
    let enabled_filter = match parameter(call, "enabled") {
        None => None,
        Some(value) => Some(lenient_bool(&value).ok_or_else(|| {
            ApiError::BadRequest("The `enabled` filter must be 0, 1, true or false.".into())
        })?),
    };
    let rows: Vec<Value> = set
        .lists()
        .iter()
        .rev()
        .filter(|list| {
            search.as_deref().is_none_or(|needle| {
                list.name.to_lowercase().contains(needle)
                    || list.description.to_lowercase().contains(needle)
                    || list.list_type.as_str() == needle
            })
        })
        .filter(|list| enabled_filter.is_none_or(|wanted| set.is_enabled(list.id) == wanted))
        .map(|list| {
            let mut fields = list_fields(list, set.is_enabled(list.id));
            fields.insert(
                "warninglist_entry_count".into(),
                json!(list.entries.len().to_string()),
            );
            fields.insert(
                "valid_attributes".into(),
                json!(list.matching_attributes.join(", ")),
            );
            json!({ "Warninglist": fields })
        })
        .collect();
    Ok(json_response(json!({ "Warninglists": rows })))
}

/// The list named by positional argument 0: MISP answers 404 `Invalid ID.` for a
/// non-numeric id and `Warninglist not found.` for an unknown one.
fn list_arg<'a>(call: &Call, set: &'a WarninglistSet) -> ApiResult<&'a Warninglist> {
    let id: u32 = call
        .path
        .arg(0)
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| ApiError::NotFound("Invalid ID.".into()))?;
    set.get(id)
        .ok_or_else(|| ApiError::NotFound("Warninglist not found.".into()))
}

/// Entry and type rows are numbered across all lists, so their ids are unique as in MISP.
fn first_row_ids(set: &WarninglistSet, list: &Warninglist) -> (usize, usize) {
    set.lists()
        .iter()
        .take_while(|earlier| earlier.id < list.id)
        .fold((1, 1), |(entry, kind), earlier| {
            (
                entry + earlier.entries.len(),
                kind + earlier.matching_attributes.len(),
            )
        })
}

async fn view(call: &Call) -> ApiResult<Response> {
    let set = call.state.warninglist_set().await?;
    let found = list_arg(call, set);
    if call.is_head() {
        return Ok(head_response(found.is_ok()));
    }
    let list = found?;
    if call.path.extension.as_deref() == Some("csv") {
        return Ok(csv_entries(list));
    }
    let (first_entry, first_type) = first_row_ids(set, list);
    let list_id = list.id.to_string();
    let entries: Vec<Value> = list
        .entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            json!({
                "id": (first_entry + index).to_string(),
                "value": entry.value,
                "warninglist_id": list_id,
                "comment": entry.comment,
            })
        })
        .collect();
    let types: Vec<Value> = list
        .matching_attributes
        .iter()
        .enumerate()
        .map(|(index, attr_type)| {
            json!({
                "id": (first_type + index).to_string(),
                "type": attr_type,
                "warninglist_id": list_id,
            })
        })
        .collect();
    let mut fields = list_fields(list, set.is_enabled(list.id));
    fields.insert("WarninglistEntry".into(), Value::Array(entries));
    fields.insert("WarninglistType".into(), Value::Array(types));
    Ok(json_response(json!({ "Warninglist": fields })))
}

/// `view/<id>.csv`: one entry per line, `value;comment` when the entry has a comment.
fn csv_entries(list: &Warninglist) -> Response {
    let lines: Vec<String> = list
        .entries
        .iter()
        .map(|entry| match &entry.comment {
            Some(comment) => format!("{};{comment}", entry.value),
            None => entry.value.clone(),
        })
        .collect();
    let mut response = lines.join("\n").into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=UTF-8"),
    );
    response
}

/// `export/<id>`: the list in misp-warninglists' `list.json` shape.
async fn export(call: &Call) -> ApiResult<Response> {
    let set = call.state.warninglist_set().await?;
    let list =
        list_arg(call, set).map_err(|_| ApiError::NotFound("Warninglist not found.".into()))?;
    let values: Vec<&str> = list.entries.iter().map(|e| e.value.as_str()).collect();
    Ok(json_response(json!({
        "name": list.name,
        "type": list.list_type.as_str(),
        "version": list.version,
        "description": list.description,
        "matching_attributes": list.matching_attributes,
        "list": values,
    })))
}

/// MISP's toggleEnable answers 200 with `saved: false` for every refusal but permissions.
fn toggle_refused(reason: &str) -> Response {
    json_response(json!({ "saved": false, "errors": reason }))
}

/// Lists named by `{"id": …}`, `{"name": …}` (SQL LIKE patterns, any case) or
/// `{"Warninglist": {"data": …}}`, switched to `enabled` or, without it, each flipped.
async fn toggle_enable(call: &Call) -> ApiResult<Response> {
    if call.method != Method::POST {
        return Ok(toggle_refused("This function only accepts POST requests."));
    }
    let set = call.state.warninglist_set().await?;
    let body = call.body.clone().unwrap_or(Value::Null);
    let by_data = body.pointer("/Warninglist/data").filter(|v| !v.is_null());
    let requested: Vec<u32> = if let Some(data) = by_data {
        ids_in(data)
    } else if let Some(ids) = body.get("id").filter(|v| php_truthy(v)) {
        ids_in(ids)
    } else if let Some(names) = body.get("name").filter(|v| php_truthy(v)) {
        let patterns = strings_in(names).ok_or_else(|| {
            ApiError::BadRequest("`name` must be a string or a list of strings.".into())
        })?;
        set.lists()
            .iter()
            .filter(|list| patterns.iter().any(|pattern| sql_like(&list.name, pattern)))
            .map(|list| list.id)
            .collect()
    } else {
        Vec::new()
    };
    if requested.is_empty() {
        return Ok(toggle_refused("Warninglist not found."));
    }
    let mut found: Vec<&Warninglist> = requested.iter().filter_map(|id| set.get(*id)).collect();
    found.sort_by_key(|list| list.id);
    found.dedup_by_key(|list| list.id);
    if found.is_empty() {
        return Ok(toggle_refused("Warninglist(s) not found."));
    }
    let forced = body
        .get("enabled")
        .filter(|v| !v.is_null())
        .map(|value| lenient_bool(value).unwrap_or_else(|| php_truthy(value)));
    let changes: Vec<(String, bool)> = found
        .iter()
        .map(|list| {
            let enabled = forced.unwrap_or(!set.is_enabled(list.id));
            (list.name.clone(), enabled)
        })
        .collect();
    call.store().set_warninglist_states(&changes).await?;
    for (list, (_, enabled)) in found.iter().zip(&changes) {
        set.set_enabled(list.id, *enabled);
    }
    let outcome = match forced {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None if found.len() > 1 => "toggled",
        None if changes[0].1 => "enabled",
        None => "disabled",
    };
    Ok(json_response(json!({
        "saved": true,
        "success": format!("{} warninglist(s) {outcome}", found.len()),
    })))
}

/// Ids from a number, a digit string or a list of them; anything else names no list.
fn ids_in(value: &Value) -> Vec<u32> {
    let one = |item: &Value| -> Option<u32> {
        match item {
            Value::Number(number) => number.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    };
    match value {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

fn strings_in(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(text) => Some(vec![text.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string))
            .collect(),
        _ => None,
    }
}

/// `LOWER(text) LIKE LOWER(pattern)`: `%` is any run of characters, `_` any one, `\`
/// escapes the next character.
fn sql_like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    // Classic wildcard matching with one backtracking point for the last `%`.
    let (mut t, mut p) = (0, 0);
    let mut resume: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                resume = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some('_') => {
                t += 1;
                p += 1;
                continue;
            }
            Some('\\') if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                t += 1;
                p += 2;
                continue;
            }
            Some(literal) if *literal != '\\' && *literal == text[t] => {
                t += 1;
                p += 1;
                continue;
            }
            _ => {}
        }
        match resume {
            Some((after_percent, from)) => {
                p = after_percent;
                t = from + 1;
                resume = Some((after_percent, from + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == '%')
}

/// `enableWarninglist/<id>[/<enable>]`: on when `enable` is truthy, off otherwise.
async fn enable_warninglist(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(call, "Warninglist enable", &[], &[]));
    }
    let set = call.state.warninglist_set().await?;
    let list =
        list_arg(call, set).map_err(|_| ApiError::NotFound("Invalid Warninglist.".into()))?;
    let enabled = call
        .path
        .arg(1)
        .is_some_and(|flag| php_truthy(&Value::String(flag.to_string())));
    call.store()
        .set_warninglist_states(&[(list.name.clone(), enabled)])
        .await?;
    set.set_enabled(list.id, enabled);
    let message = if enabled {
        "Warninglist enabled"
    } else {
        "Warninglist disabled"
    };
    Ok(call.success(message, Some(i64::from(list.id))))
}

/// `checkValue`: a list of values (or `{"Warninglist": …}`, `{"[]": …}`, any object's values,
/// or one value) → for each value that hits, the enabled lists holding it. Attribute types
/// play no part and values are not split, as in MISP.
async fn check_value(call: &Call) -> ApiResult<Response> {
    if !is_write(call, false)? {
        return Ok(describe_endpoint(
            call,
            "Warninglist checkValue",
            &["[value, …]"],
            &[],
        ));
    }
    let mut data = call
        .body
        .clone()
        .filter(php_truthy)
        .ok_or_else(|| ApiError::NotFound("No valid data received.".into()))?;
    if let Some(inner) = data.get("Warninglist") {
        data = inner.clone();
    }
    if let Some(inner) = data.get("[]") {
        data = inner.clone();
    }
    let values: Vec<Value> = match data {
        Value::Array(items) => items,
        Value::Object(fields) => fields.into_iter().map(|(_, value)| value).collect(),
        single => vec![single],
    };
    let set = call.state.warninglist_set().await?;
    let mut hits: Map<String, Value> = Map::new();
    for value in values {
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            _ => {
                return Err(ApiError::BadRequest(
                    "checkValue: every value must be a string.".into(),
                ));
            }
        };
        let text = text.trim().to_string();
        for hit in set.check_value(&text) {
            // A value sent twice is reported twice, as MISP appends per data point.
            let entry = hits
                .entry(text.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                list.push(hit.to_check_value_hit());
            }
        }
    }
    if hits.is_empty() {
        return Ok(json_response(json!([])));
    }
    Ok(json_response(Value::Object(hits)))
}

/// The lists ship with Kizuna, so there is never anything to fetch: MISP's answer when all
/// lists are current.
fn update(call: &Call) -> ApiResult<Response> {
    if call.method != Method::POST {
        return Err(ApiError::MethodNotAllowed(
            "This action is only accessible via POST requests.".into(),
        ));
    }
    Ok(call.success("All warninglists are up to date already.", None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(sql_like(
            "List of known IPv4 public DNS resolvers",
            "%dns resolv%"
        ));
        assert!(sql_like(
            "List of RFC 1918 CIDR blocks",
            "list of rfc 1918 cidr blocks"
        ));
        assert!(sql_like("abc", "a_c"));
        assert!(sql_like("abc", "%"));
        assert!(sql_like("a%c", "a\\%c"));
        assert!(!sql_like("abc", "a\\%c"));
        assert!(!sql_like("abc", "ab"));
        assert!(!sql_like("abc", "%d%"));
        assert!(sql_like("aXbXc", "%x%c"));
        assert!(!sql_like("", "_"));
        assert!(sql_like("", "%%"));
    }

    #[test]
    fn php_truthiness() {
        for falsy in [
            json!(null),
            json!(false),
            json!(0),
            json!(""),
            json!("0"),
            json!([]),
        ] {
            assert!(!php_truthy(&falsy), "{falsy}");
        }
        for truthy in [
            json!(true),
            json!(1),
            json!("no"),
            json!([0]),
            json!({"a": 1}),
        ] {
            assert!(php_truthy(&truthy), "{truthy}");
        }
    }
}
