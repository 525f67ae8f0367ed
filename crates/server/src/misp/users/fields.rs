//! Reading the fields of an account request body (users, organisations, roles, API keys):
//! MISP accepts `{"<Model>": {...}}`, `{"request": {...}}` or the bare object, and values
//! typed loosely (`"1"`, `1`, `true`). Problems are collected per field, so one answer
//! names every bad field.

use crate::error::{ApiError, ApiResult};
use kizuna_formats::misp::FieldErrors;
use kizuna_formats::misp::input::{lenient_bool, lenient_i64};
use serde_json::{Map, Value};

pub(in crate::misp) struct Fields {
    map: Map<String, Value>,
    pub errors: FieldErrors,
}

impl Fields {
    /// The fields of `model` in `body`; no body is an empty object.
    pub fn of(body: Option<&Value>, model: &str) -> ApiResult<Fields> {
        let mut current = match body {
            None | Some(Value::Null) => return Ok(Fields::new(Map::new())),
            Some(value) => value,
        };
        // A few layers at most: {"request": {"User": {...}}} is the deepest MISP accepts.
        for _ in 0..3 {
            match current {
                Value::Object(map) if map.len() == 1 && map.contains_key("request") => {
                    current = &map["request"];
                }
                Value::Object(map) if map.get(model).is_some_and(Value::is_object) => {
                    current = &map[model];
                }
                _ => break,
            }
        }
        match current {
            Value::Object(map) => Ok(Fields::new(map.clone())),
            _ => Err(ApiError::BadRequest(format!(
                "The request body must be a JSON object (optionally wrapped as {{\"{model}\": {{...}}}})."
            ))),
        }
    }

    fn new(map: Map<String, Value>) -> Fields {
        Fields {
            map,
            errors: FieldErrors::new(),
        }
    }

    /// Whether `name` was sent with a value other than null.
    pub fn has(&self, name: &str) -> bool {
        self.map.get(name).is_some_and(|value| !value.is_null())
    }

    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    /// A text field (numbers are taken as their decimal text), trimmed.
    pub fn text(&mut self, name: &str) -> Option<String> {
        match self.map.get(name)? {
            Value::Null => None,
            Value::String(text) => Some(text.trim().to_string()),
            Value::Number(number) => Some(number.to_string()),
            _ => {
                self.errors.add(name, "must be a string.");
                None
            }
        }
    }

    pub fn flag(&mut self, name: &str) -> Option<bool> {
        let value = self.map.get(name)?;
        if value.is_null() {
            return None;
        }
        let parsed = lenient_bool(value);
        if parsed.is_none() {
            self.errors
                .add(name, "must be a boolean (true/false or 1/0).");
        }
        parsed
    }

    pub fn integer(&mut self, name: &str) -> Option<i64> {
        let value = self.map.get(name)?;
        if value.is_null() || value.as_str().is_some_and(|text| text.trim().is_empty()) {
            return None;
        }
        let parsed = lenient_i64(value);
        if parsed.is_none() {
            self.errors.add(name, "must be an integer.");
        }
        parsed
    }

    /// A list given as a JSON array of strings or as text split on newlines and commas;
    /// entries are trimmed and empty ones dropped.
    pub fn list(&mut self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = match self.map.get(name)? {
            Value::Null => return None,
            Value::String(text) => text.split(['\n', ',']).map(str::to_string).collect(),
            Value::Array(values) => {
                let mut items = Vec::with_capacity(values.len());
                for value in values {
                    match value {
                        Value::String(text) => items.push(text.clone()),
                        _ => {
                            self.errors.add(name, "must be a list of strings.");
                            return None;
                        }
                    }
                }
                items
            }
            _ => {
                self.errors
                    .add(name, "must be a list or newline-separated text.");
                return None;
            }
        };
        Some(
            items
                .iter()
                .map(|item| item.trim().trim_end_matches('\r').trim().to_string())
                .filter(|item| !item.is_empty())
                .collect(),
        )
    }

    /// MISP's failed-save answer naming every bad field, if there is one.
    pub fn finish(&self, failure_name: &str) -> ApiResult<()> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::save_failed(failure_name, &self.errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn envelopes_are_optional() {
        for body in [
            json!({"User": {"email": "a@b.c"}}),
            json!({"email": "a@b.c"}),
            json!({"request": {"User": {"email": "a@b.c"}}}),
        ] {
            let mut fields = Fields::of(Some(&body), "User").unwrap();
            assert_eq!(fields.text("email").as_deref(), Some("a@b.c"));
        }
        assert!(!Fields::of(None, "User").unwrap().has("email"));
        assert!(Fields::of(Some(&json!([1])), "User").is_err());
    }

    #[test]
    fn loose_values_are_read_and_bad_ones_named() {
        let body = json!({"a": "1", "b": 7, "c": "x", "d": "one\ntwo, three", "e": ["x", " "]});
        let mut fields = Fields::of(Some(&body), "M").unwrap();
        assert_eq!(fields.flag("a"), Some(true));
        assert_eq!(fields.integer("b"), Some(7));
        assert_eq!(fields.text("b").as_deref(), Some("7"));
        assert_eq!(fields.integer("c"), None);
        assert_eq!(fields.list("d").unwrap(), ["one", "two", "three"]);
        assert_eq!(fields.list("e").unwrap(), ["x"]);
        assert_eq!(fields.flag("missing"), None);
        assert!(fields.errors.0.contains_key("c"));
        assert!(fields.finish("Could not add M").is_err());
    }
}
