//! MISP's event report JSON: what clients and peers send (`{"EventReport": {...}}`, or the
//! bare object, or the `EventReport` list of an event) and what MISP renders.

use super::FieldErrors;
use super::input::{is_uuid, lenient_bool, lenient_i64};
use kizuna_model::{Distribution, EventReport};
use serde_json::{Map, Value, json};

/// The fields a request gives for one report; None = not given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventReportInput {
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub content: Option<String>,
    pub distribution: Option<Distribution>,
    pub sharing_group_id: Option<i64>,
    /// The uuid of an embedded `SharingGroup` (how peers name the group of a level-4
    /// report).
    pub sharing_group_uuid: Option<String>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
}

/// The report object of a request body: `{"EventReport": {...}}` or the bare object.
pub fn report_object(body: &Value) -> Option<&Map<String, Value>> {
    match body.get("EventReport") {
        Some(Value::Object(inner)) => Some(inner),
        _ => body.as_object(),
    }
}

/// Reads one report, collecting what is wrong (errors name the field).
pub fn parse_event_report(object: &Map<String, Value>) -> Result<EventReportInput, FieldErrors> {
    let mut errors = FieldErrors::new();
    let mut input = EventReportInput::default();
    let text = |name: &str, errors: &mut FieldErrors| -> Option<String> {
        match object.get(name)? {
            Value::Null => None,
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => {
                errors.add(name, format!("{name} must be text."));
                None
            }
        }
    };
    if let Some(uuid) = text("uuid", &mut errors).filter(|uuid| !uuid.trim().is_empty()) {
        let uuid = uuid.trim().to_ascii_lowercase();
        if is_uuid(&uuid) {
            input.uuid = Some(uuid);
        } else {
            errors.add("uuid", "Please provide a valid RFC 4122 UUID");
        }
    }
    input.name = text("name", &mut errors);
    input.content = text("content", &mut errors);
    if let Some(value) = object.get("distribution").filter(|value| !value.is_null()) {
        match lenient_i64(value).and_then(Distribution::from_i64) {
            Some(level) => input.distribution = Some(level),
            None => errors.add(
                "distribution",
                "Options: Your organisation only, This community only, Connected communities, \
                 All communities, Sharing group, Inherit event",
            ),
        }
    }
    if let Some(value) = object
        .get("sharing_group_id")
        .filter(|value| !value.is_null())
    {
        match lenient_i64(value) {
            Some(id) if id >= 0 => input.sharing_group_id = Some(id),
            _ => errors.add("sharing_group_id", "sharing_group_id must be a number."),
        }
    }
    input.sharing_group_uuid = object
        .get("SharingGroup")
        .and_then(|group| group.get("uuid"))
        .and_then(Value::as_str)
        .map(|uuid| uuid.to_ascii_lowercase());
    if let Some(value) = object.get("timestamp").filter(|value| !value.is_null()) {
        match lenient_i64(value) {
            Some(stamp) if stamp >= 0 => input.timestamp = Some(stamp),
            _ => errors.add("timestamp", "timestamp must be a Unix time in seconds."),
        }
    }
    if let Some(value) = object.get("deleted").filter(|value| !value.is_null()) {
        match lenient_bool(value) {
            Some(flag) => input.deleted = Some(flag),
            None => errors.add("deleted", "deleted must be a boolean."),
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

/// The `EventReport` list of an event body (`{"Event": {...}}` or the bare event); empty
/// when it has none. Errors are named `EventReport.<n>.<field>`.
pub fn parse_event_reports(event_body: &Value) -> Result<Vec<EventReportInput>, FieldErrors> {
    let event = event_body.get("Event").unwrap_or(event_body);
    let Some(list) = event.get("EventReport") else {
        return Ok(Vec::new());
    };
    let items = match list {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(FieldErrors::single(
                "EventReport",
                "EventReport must be a list of reports.",
            ));
        }
    };
    let mut errors = FieldErrors::new();
    let mut reports = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let Some(object) = report_object(item) else {
            errors.add(
                &format!("EventReport.{index}"),
                "A report must be an object.",
            );
            continue;
        };
        match parse_event_report(object) {
            Ok(report)
                if report
                    .name
                    .as_deref()
                    .is_none_or(|name| name.trim().is_empty()) =>
            {
                errors.add(
                    &format!("EventReport.{index}.name"),
                    "This field cannot be left empty.",
                );
            }
            Ok(report) => reports.push(report),
            Err(problems) => {
                for (field, messages) in problems.0 {
                    for message in messages {
                        errors.add(&format!("EventReport.{index}.{field}"), message);
                    }
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(reports)
    } else {
        Err(errors)
    }
}

/// A report as MISP renders it (ids and levels as strings).
pub fn render_event_report(report: &EventReport) -> Value {
    json!({
        "id": report.id.to_string(),
        "uuid": report.uuid,
        "event_id": report.event_id.to_string(),
        "name": report.name,
        "content": report.content,
        "distribution": report.distribution.as_i64().to_string(),
        "sharing_group_id": report.sharing_group_id.to_string(),
        "timestamp": report.timestamp.to_string(),
        "deleted": report.deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_read_leniently_and_errors_name_the_field() {
        let body = json!({"EventReport": {"uuid": "5E6A3C3E-1D2B-4C5A-9B1E-3F2A1D0C9B8A",
            "name": "Write-up", "content": "# Title", "distribution": "4",
            "sharing_group_id": "7", "timestamp": "1700000000", "deleted": 0}});
        let input = parse_event_report(report_object(&body).unwrap()).unwrap();
        assert_eq!(
            input.uuid.as_deref(),
            Some("5e6a3c3e-1d2b-4c5a-9b1e-3f2a1d0c9b8a")
        );
        assert_eq!(input.distribution, Some(Distribution::SharingGroup));
        assert_eq!(input.sharing_group_id, Some(7));
        assert_eq!(input.timestamp, Some(1_700_000_000));
        assert_eq!(input.deleted, Some(false));

        let bad = json!({"uuid": "nope", "distribution": 9, "deleted": "maybe", "name": []});
        let errors = parse_event_report(bad.as_object().unwrap()).unwrap_err();
        let fields: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        assert_eq!(fields, ["deleted", "distribution", "name", "uuid"]);
    }

    #[test]
    fn an_events_report_list_needs_names() {
        let event = json!({"Event": {"EventReport": [{"name": "ok"}, {"content": "x"}]}});
        let errors = parse_event_reports(&event).unwrap_err();
        assert!(errors.0.contains_key("EventReport.1.name"), "{errors:?}");
        assert!(
            parse_event_reports(&json!({"info": "x"}))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            parse_event_reports(&json!({"EventReport": [{"name": "a"}]})).unwrap()[0]
                .name
                .as_deref(),
            Some("a")
        );
    }

    #[test]
    fn a_report_renders_as_misp_does() {
        let report = EventReport {
            id: 3,
            uuid: "u".into(),
            event_id: 9,
            name: "n".into(),
            content: "c".into(),
            distribution: Distribution::InheritEvent,
            sharing_group_id: 0,
            timestamp: 1_700_000_000,
            deleted: false,
        };
        assert_eq!(
            render_event_report(&report),
            json!({"id": "3", "uuid": "u", "event_id": "9", "name": "n", "content": "c",
                   "distribution": "5", "sharing_group_id": "0",
                   "timestamp": "1700000000", "deleted": false})
        );
    }
}
