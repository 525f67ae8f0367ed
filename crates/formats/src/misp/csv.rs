//! MISP's CSV export of attributes (restSearch `returnFormat: csv`): its columns, header names
//! and quoting, one line at a time so results of any size stream.

use kizuna_model::{Attribute, Event, ThreatLevel};

const DEFAULT_COLUMNS: [&str; 10] = [
    "uuid",
    "event_id",
    "category",
    "type",
    "value",
    "comment",
    "to_ids",
    "timestamp",
    "object_relation",
    "attribute_tag",
];
const OBJECT_COLUMNS: [&str; 3] = ["object_uuid", "object_name", "object_meta-category"];
const CONTEXT_COLUMNS: [&str; 9] = [
    "event_info",
    "event_member_org",
    "event_source_org",
    "event_distribution",
    "event_threat_level_id",
    "event_analysis",
    "event_date",
    "event_tag",
    "event_timestamp",
];

/// The object an attribute belongs to, as far as CSV needs it.
#[derive(Clone, Debug)]
pub struct ObjectColumns<'a> {
    pub uuid: &'a str,
    pub name: &'a str,
    pub meta_category: &'a str,
}

/// The columns of one export.
#[derive(Clone, Debug)]
pub struct CsvLayout {
    columns: Vec<String>,
}

/// One cell: MISP leaves numbers bare, writes booleans as 1/0, quotes text (doubling quotes)
/// and writes `""` for a missing field.
enum Cell<'a> {
    Missing,
    Number(i64),
    Flag(bool),
    Text(&'a str),
    Owned(String),
}

impl CsvLayout {
    /// MISP's choice: `requested_attributes` replaces the default columns (and drops the object
    /// ones); `includeContext` appends the event columns.
    pub fn new(requested: &[String], include_context: bool) -> Self {
        let mut columns: Vec<String> = if requested.is_empty() {
            DEFAULT_COLUMNS
                .iter()
                .chain(OBJECT_COLUMNS.iter())
                .map(|column| column.to_string())
                .collect()
        } else {
            requested.to_vec()
        };
        if include_context {
            columns.extend(CONTEXT_COLUMNS.iter().map(|column| column.to_string()));
        }
        Self { columns }
    }

    /// The header line: `-` becomes `_` and `timestamp` is called `date`.
    pub fn header(&self) -> String {
        let names: Vec<String> = self
            .columns
            .iter()
            .map(|column| {
                if column == "timestamp" {
                    "date".to_string()
                } else {
                    column.replace('-', "_")
                }
            })
            .collect();
        format!("{}\n", names.join(","))
    }

    /// One attribute's line (with its newline) appended to `out`.
    pub fn write_row(
        &self,
        out: &mut String,
        attribute: &Attribute,
        event: &Event,
        object: Option<&ObjectColumns<'_>>,
    ) {
        for (index, column) in self.columns.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let cell = cell(column, attribute, event, object);
            write_cell(out, cell);
        }
        out.push('\n');
    }
}

fn cell<'a>(
    column: &str,
    attribute: &'a Attribute,
    event: &'a Event,
    object: Option<&ObjectColumns<'a>>,
) -> Cell<'a> {
    let tag_names = |tags: &[kizuna_model::AttachedTag]| {
        if tags.is_empty() {
            Cell::Missing
        } else {
            Cell::Owned(
                tags.iter()
                    .map(|attached| attached.tag.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            )
        }
    };
    match column {
        "id" => Cell::Number(attribute.id),
        "uuid" => Cell::Text(&attribute.uuid),
        "event_id" => Cell::Number(attribute.event_id),
        "object_id" => Cell::Number(attribute.object_id),
        "category" => Cell::Text(&attribute.category),
        "type" => Cell::Text(&attribute.attr_type),
        "value" => Cell::Owned(attribute.value()),
        "value1" => Cell::Text(&attribute.value1),
        "value2" => Cell::Text(&attribute.value2),
        "comment" => Cell::Text(&attribute.comment),
        "to_ids" => Cell::Flag(attribute.to_ids),
        "deleted" => Cell::Flag(attribute.deleted),
        "disable_correlation" => Cell::Flag(attribute.disable_correlation),
        "timestamp" => Cell::Number(attribute.timestamp),
        "distribution" => Cell::Number(attribute.distribution.as_i64()),
        "sharing_group_id" => Cell::Number(attribute.sharing_group_id),
        "first_seen" => attribute.first_seen.map_or(Cell::Missing, |micros| {
            Cell::Owned(super::output::format_seen(micros))
        }),
        "last_seen" => attribute.last_seen.map_or(Cell::Missing, |micros| {
            Cell::Owned(super::output::format_seen(micros))
        }),
        "object_relation" => attribute
            .object_relation
            .as_deref()
            .map_or(Cell::Missing, Cell::Text),
        "attribute_tag" => tag_names(&attribute.tags),
        "object_uuid" => object.map_or(Cell::Missing, |object| Cell::Text(object.uuid)),
        "object_name" => object.map_or(Cell::Missing, |object| Cell::Text(object.name)),
        "object_meta-category" => {
            object.map_or(Cell::Missing, |object| Cell::Text(object.meta_category))
        }
        "event_info" => Cell::Text(&event.info),
        "event_member_org" => event
            .org
            .as_ref()
            .map_or(Cell::Missing, |org| Cell::Text(&org.name)),
        "event_source_org" => event
            .orgc
            .as_ref()
            .map_or(Cell::Missing, |org| Cell::Text(&org.name)),
        "event_distribution" => Cell::Number(event.distribution.as_i64()),
        "event_threat_level_id" => Cell::Text(threat_level_name(event.threat_level)),
        "event_analysis" => Cell::Number(event.analysis.as_i64()),
        "event_date" => Cell::Owned(super::output::format_date(event.date)),
        "event_tag" => tag_names(&event.tags),
        "event_timestamp" => Cell::Number(event.timestamp),
        "event_uuid" => Cell::Text(&event.uuid),
        _ => Cell::Missing,
    }
}

fn threat_level_name(level: ThreatLevel) -> &'static str {
    match level {
        ThreatLevel::High => "High",
        ThreatLevel::Medium => "Medium",
        ThreatLevel::Low => "Low",
        ThreatLevel::Undefined => "Undefined",
    }
}

fn write_cell(out: &mut String, cell: Cell<'_>) {
    match cell {
        Cell::Missing => out.push_str("\"\""),
        Cell::Number(number) => out.push_str(&number.to_string()),
        Cell::Flag(flag) => out.push(if flag { '1' } else { '0' }),
        Cell::Text(text) => quote(out, text),
        Cell::Owned(text) => quote(out, &text),
    }
}

/// PHP's is_numeric strings stay bare in MISP's CSV (an AS number, a port); others are quoted.
fn quote(out: &mut String, text: &str) {
    if is_php_numeric(text) {
        out.push_str(text);
        return;
    }
    out.push('"');
    for character in text.chars() {
        if character == '"' {
            out.push('"');
        }
        out.push(character);
    }
    out.push('"');
}

/// PHP's is_numeric: optional leading whitespace and sign, digits with an optional fraction,
/// an optional exponent.
fn is_php_numeric(text: &str) -> bool {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let body = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let has_digits = !whole.is_empty() || fraction.is_some_and(|part| !part.is_empty());
    let mantissa_ok = has_digits && digits(whole) && fraction.is_none_or(digits);
    let exponent_ok = exponent.is_none_or(|part| {
        let part = part.strip_prefix(['+', '-']).unwrap_or(part);
        !part.is_empty() && digits(part)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use kizuna_model::{AttachedTag, Tag};
    use time::macros::date;

    #[test]
    fn header_renames_like_misp() {
        let layout = CsvLayout::new(&[], false);
        assert_eq!(
            layout.header(),
            "uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category\n"
        );
        let layout = CsvLayout::new(&["value".into(), "timestamp".into()], true);
        assert!(layout.header().starts_with("value,date,event_info,"));
    }

    #[test]
    fn rows_quote_text_and_leave_numbers_bare() {
        let mut attribute = Attribute::new(
            "5f0c7a1e-0000-4000-8000-000000000001".into(),
            "ip-dst".into(),
            "Network activity".into(),
            "1.2.3.4".into(),
            String::new(),
        );
        attribute.id = 7;
        attribute.event_id = 3;
        attribute.timestamp = 1_700_000_000;
        attribute.comment = "say \"hi\"".into();
        attribute.to_ids = true;
        attribute.tags = vec![AttachedTag {
            tag: Tag {
                name: "tlp:clear".into(),
                ..Tag::default()
            },
            local: false,
            relationship_type: None,
        }];
        let event = Event::new("e".into(), "info".into(), date!(2024 - 01 - 02), 1, 0);
        let layout = CsvLayout::new(&[], false);
        let mut line = String::new();
        layout.write_row(&mut line, &attribute, &event, None);
        assert_eq!(
            line,
            "\"5f0c7a1e-0000-4000-8000-000000000001\",3,\"Network activity\",\"ip-dst\",\"1.2.3.4\",\"say \"\"hi\"\"\",1,1700000000,\"\",\"tlp:clear\",\"\",\"\",\"\"\n"
        );
    }

    #[test]
    fn php_numeric_strings() {
        for numeric in ["1", "-2", "3.5", ".5", "1e3", " 42"] {
            assert!(is_php_numeric(numeric), "{numeric}");
        }
        for text in ["", "1.2.3.4", "0x1a", "abc", "1e", "."] {
            assert!(!is_php_numeric(text), "{text}");
        }
    }
}
