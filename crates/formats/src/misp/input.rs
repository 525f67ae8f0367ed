//! Lenient parsing of MISP JSON request bodies.
//!
//! Every parser accepts MISP's envelopes (`{"Event": {...}}`, bare `{...}`,
//! `{"request": {...}}`, `{"response": {...}}`) and stringly or natively typed scalars
//! ("1", 1, true). `Option<Option<T>>` fields distinguish "absent" (outer None, keep the
//! stored value) from an explicit JSON null (Some(None), clear it).
//!
//! Conventions shared by every parser:
//! - a JSON `null` means "absent", except for the `Option<Option<_>>` fields, where it
//!   means "clear";
//! - an empty string for an integer, boolean or UUID field means "absent" (MISP's forms
//!   send `"sharing_group_id": ""`);
//! - a value of the wrong kind is reported in [`FieldErrors`] under the field's name
//!   (prefixed like `Attribute.3.` for nested items), and parsing goes on so that one
//!   answer names every problem;
//! - UUIDs are checked (canonical 8-4-4-4-12 hex form) and lower-cased.
//!
//! Time values (`first_seen`, `last_seen`, `valid_until`) become Unix microseconds. They
//! may be ISO 8601 text (`2019-06-25T15:26:00.123456+00:00`, `…Z`, `…+0200`, a bare
//! `2019-06-25`, a space instead of `T`; no offset means UTC; `@<epoch seconds>` as in PHP)
//! or numbers. MISP itself only accepts text here (PHP `new DateTime(...)`); Kizuna also
//! accepts numbers and reads them by magnitude: |n| < 10^11 is seconds (up to year 5138),
//! |n| < 10^14 is milliseconds, anything larger is microseconds. Every instant after
//! 1973-03-03 is therefore read the same whichever of the three units a client used.
//! Fractional numbers are seconds.

use super::FieldErrors;
use kizuna_model::{Analysis, IntendedUse, ItemStatus, ThreatLevel};
use serde_json::{Map, Value};
use time::{Date, Month};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagInput {
    pub id: Option<i64>,
    pub name: Option<String>,
    pub colour: Option<String>,
    pub exportable: Option<bool>,
    pub hide_tag: Option<bool>,
    pub org_id: Option<i64>,
    pub user_id: Option<i64>,
    pub numerical_value: Option<Option<i64>>,
    pub local_only: Option<bool>,
    pub is_galaxy: Option<bool>,
    pub is_custom_galaxy: Option<bool>,
    /// Attachment flags, when the tag arrives inside an event or attribute.
    pub local: Option<bool>,
    pub relationship_type: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttributeInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub attr_type: Option<String>,
    pub category: Option<String>,
    pub value: Option<String>,
    pub to_ids: Option<bool>,
    pub comment: Option<String>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
    pub disable_correlation: Option<bool>,
    pub object_relation: Option<String>,
    pub first_seen: Option<Option<i64>>,
    pub last_seen: Option<Option<i64>>,
    pub valid_until: Option<Option<i64>>,
    pub intended_use: Option<Option<IntendedUse>>,
    pub status: Option<Option<ItemStatus>>,
    pub data: Option<String>,
    pub tags: Vec<TagInput>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectReferenceInput {
    pub uuid: Option<String>,
    /// The referencing object (`object_uuid` / `source_uuid` / `object_id`).
    pub object_uuid: Option<String>,
    pub object_id: Option<i64>,
    pub referenced_uuid: Option<String>,
    pub referenced_id: Option<i64>,
    pub referenced_type: Option<i64>,
    pub relationship_type: Option<String>,
    pub comment: Option<String>,
    pub timestamp: Option<i64>,
    pub deleted: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub meta_category: Option<String>,
    pub description: Option<String>,
    pub template_uuid: Option<String>,
    pub template_version: Option<String>,
    pub timestamp: Option<i64>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
    pub comment: Option<String>,
    pub deleted: Option<bool>,
    pub first_seen: Option<Option<i64>>,
    pub last_seen: Option<Option<i64>>,
    pub attributes: Vec<AttributeInput>,
    pub references: Vec<ObjectReferenceInput>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventInput {
    pub id: Option<i64>,
    pub uuid: Option<String>,
    pub info: Option<String>,
    pub date: Option<Date>,
    pub threat_level_id: Option<i64>,
    pub analysis: Option<i64>,
    pub distribution: Option<i64>,
    pub sharing_group_id: Option<i64>,
    pub published: Option<bool>,
    pub timestamp: Option<i64>,
    pub publish_timestamp: Option<i64>,
    pub disable_correlation: Option<bool>,
    pub extends_uuid: Option<String>,
    pub protected: Option<Option<bool>>,
    pub orgc: Option<OrgInput>,
    pub attributes: Vec<AttributeInput>,
    pub objects: Vec<ObjectInput>,
    pub tags: Vec<TagInput>,
}

// ---------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------

pub fn parse_event(body: &Value) -> Result<EventInput, FieldErrors> {
    let map = unwrap_envelope(body, "Event", true)?;
    let mut errors = FieldErrors::new();
    let event = event_from_map(map, &mut errors);
    finish(event, errors)
}

/// One attribute, `{"Attribute": {...}}`, a list of either, or one attribute whose `value`
/// is an array (MISP's batch form: one attribute per value).
pub fn parse_attributes(body: &Value) -> Result<Vec<AttributeInput>, FieldErrors> {
    let body = unwrap_request(body);
    let inner = match body {
        Value::Object(map) => match map.get("Attribute") {
            Some(inner @ (Value::Object(_) | Value::Array(_))) => inner,
            _ => body,
        },
        other => other,
    };
    let mut errors = FieldErrors::new();
    let mut out = Vec::new();
    match inner {
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let prefix = format!("Attribute.{index}.");
                match item_map(item, "Attribute") {
                    Some(map) => {
                        let mut item_errors = FieldErrors::new();
                        out.extend(attributes_from_map(map, &mut item_errors));
                        merge_prefixed(&mut errors, &prefix, item_errors);
                    }
                    None => errors.add(&format!("Attribute.{index}"), "must be a JSON object"),
                }
            }
        }
        Value::Object(_) => {
            let map = item_map(inner, "Attribute").expect("an object");
            out.extend(attributes_from_map(map, &mut errors));
        }
        _ => {
            return Err(FieldErrors::single(
                "Attribute",
                "must be a JSON object or a list",
            ));
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.add("Attribute", "no attribute given");
    }
    finish(out, errors)
}

pub fn parse_attribute(body: &Value) -> Result<AttributeInput, FieldErrors> {
    let map = unwrap_envelope(body, "Attribute", false)?;
    let mut errors = FieldErrors::new();
    let attribute = attribute_from_map(map, &mut errors);
    finish(attribute, errors)
}

pub fn parse_object(body: &Value) -> Result<ObjectInput, FieldErrors> {
    let map = unwrap_envelope(body, "Object", false)?;
    let mut errors = FieldErrors::new();
    let object = object_from_map(map, &mut errors);
    finish(object, errors)
}

pub fn parse_object_reference(body: &Value) -> Result<ObjectReferenceInput, FieldErrors> {
    let map = unwrap_envelope(body, "ObjectReference", false)?;
    let mut errors = FieldErrors::new();
    let reference = reference_from_map(map, &mut errors);
    finish(reference, errors)
}

pub fn parse_tag(body: &Value) -> Result<TagInput, FieldErrors> {
    let map = unwrap_envelope(body, "Tag", false)?;
    let mut errors = FieldErrors::new();
    let tag = tag_from_map(map, &mut errors);
    finish(tag, errors)
}

/// "1", 1, 1.0 → 1; anything else → None.
pub fn lenient_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number_to_i64(number),
        Value::String(text) => {
            let text = text.trim();
            if let Ok(parsed) = text.parse::<i64>() {
                return Some(parsed);
            }
            let float = text.parse::<f64>().ok()?;
            float_to_i64(float)
        }
        _ => None,
    }
}

/// true/false, 1/0, "1"/"0", "true"/"false" → bool.
pub fn lenient_bool(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(flag) => Some(*flag),
        Value::Number(number) => match number_to_i64(number)? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        },
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A time value (ISO 8601 text or a number, see the module documentation) as Unix
/// microseconds; `None` when it cannot be read.
pub fn lenient_micros(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                Some(micros_from_epoch_number(int))
            } else {
                let float = number.as_f64()?;
                if !float.is_finite() || float.abs() > 1e13 {
                    return None;
                }
                Some((float * 1_000_000.0).round() as i64)
            }
        }
        Value::String(text) => parse_datetime_micros(text),
        _ => None,
    }
}

/// ISO 8601 date or date-time text (see the module documentation) → Unix microseconds.
pub fn parse_datetime_micros(text: &str) -> Option<i64> {
    utc_timestamp_micros(text.as_bytes()).or_else(|| any_datetime_micros(text))
}

/// [`parse_datetime_micros`] of every form it reads.
fn any_datetime_micros(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(epoch) = text.strip_prefix('@') {
        return epoch.trim().parse::<i64>().ok()?.checked_mul(1_000_000);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.len() != 8 {
        return Some(micros_from_epoch_number(text.parse::<i64>().ok()?));
    }
    if let Ok(float) = text.parse::<f64>()
        && text.contains('.')
        && float.is_finite()
        && float.abs() < 1e13
    {
        return Some((float * 1_000_000.0).round() as i64);
    }
    let mut cursor = Cursor::new(text);
    let date = cursor.date()?;
    let days = i64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY);
    let mut seconds = days * 86_400;
    let mut micros = 0i64;
    if cursor.at_end() {
        return Some(seconds * 1_000_000);
    }
    if !cursor.eat_any(b"Tt ") {
        return None;
    }
    let hour = cursor.digits(2)?;
    cursor.eat(b':');
    let minute = cursor.digits(2)?;
    let mut second = 0;
    if cursor.eat(b':') || cursor.peek_digit() {
        second = cursor.digits(2)?;
        if cursor.eat(b'.') || cursor.eat(b',') {
            let fraction = cursor.take_while(|b| b.is_ascii_digit());
            if fraction.is_empty() {
                return None;
            }
            let mut padded: String = fraction.chars().take(6).collect();
            while padded.len() < 6 {
                padded.push('0');
            }
            micros = padded.parse::<i64>().ok()?;
        }
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    seconds += hour * 3600 + minute * 60 + second;
    cursor.skip_spaces();
    let offset = cursor.offset()?;
    if !cursor.at_end() {
        return None;
    }
    seconds -= offset;
    seconds.checked_mul(1_000_000)?.checked_add(micros)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the form STIX requires and most clients write, read at
/// fixed positions: the general path first tries it as an epoch number and a float and copies
/// the fraction, ~1,900 instructions a timestamp, a sixth of a STIX import of indicators with
/// their three timestamps each. Any other form, or an invalid value, is left to the general
/// path, which reads this form the same way.
pub fn utc_timestamp_micros(bytes: &[u8]) -> Option<i64> {
    let (&b'Z', bytes) = bytes.split_last()? else {
        return None;
    };
    let (head, fraction) = bytes.split_at_checked(19)?;
    let [
        y1,
        y2,
        y3,
        y4,
        b'-',
        m1,
        m2,
        b'-',
        d1,
        d2,
        b'T',
        h1,
        h2,
        b':',
        n1,
        n2,
        b':',
        s1,
        s2,
    ] = *head
    else {
        return None;
    };
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0i64, |total, &digit| {
            digit
                .is_ascii_digit()
                .then(|| total * 10 + i64::from(digit - b'0'))
        })
    };
    let micros = match fraction {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            // Microseconds: the first six digits, padded; further digits are cut off.
            let kept = &digits[..digits.len().min(6)];
            number(kept)? * 10i64.pow(6 - kept.len() as u32)
        }
        _ => return None,
    };
    let year = number(&[y1, y2, y3, y4])?;
    let month = number(&[m1, m2])?;
    let day = number(&[d1, d2])?;
    let (hour, minute, second) = (number(&[h1, h2])?, number(&[n1, n2])?, number(&[s1, s2])?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_since_epoch(year, month, day)?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1_000_000 + micros)
}

/// Days from 1970-01-01 to a proleptic Gregorian date of years 0–9999, `None` for a month
/// or day that does not exist; the same as `time`'s `Date` gives, by arithmetic (the
/// `Date` round trip was most of reading a timestamp).
fn days_since_epoch(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(0..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if day > month_days {
        return None;
    }
    // Counted from 1 March of year 0 (shifted so the leap day ends the year), then moved to
    // the Unix epoch: 719,468 days separate the two.
    let (year, month) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

/// An event `date`: `YYYY-MM-DD`, the date part of a date-time text, or an epoch number.
pub fn lenient_date(value: &Value) -> Option<Date> {
    match value {
        Value::String(text) => {
            let text = text.trim();
            let mut cursor = Cursor::new(text);
            if let Some(date) = cursor.date()
                && (cursor.at_end() || cursor.eat_any(b"Tt "))
            {
                return Some(date);
            }
            date_from_micros(parse_datetime_micros(text)?)
        }
        Value::Number(_) => date_from_micros(lenient_micros(value)?),
        _ => None,
    }
}

/// True for a canonical (8-4-4-4-12, hyphenated) UUID in either case.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()
}

// ---------------------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------------------

fn finish<T>(value: T, errors: FieldErrors) -> Result<T, FieldErrors> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

fn merge_prefixed(into: &mut FieldErrors, prefix: &str, from: FieldErrors) {
    for (field, problems) in from.0 {
        let key = format!("{prefix}{field}");
        for problem in problems {
            into.add(&key, problem);
        }
    }
}

/// `{"request": X}` → X (MISP unwraps it before anything else).
fn unwrap_request(body: &Value) -> &Value {
    let mut current = body;
    for _ in 0..4 {
        match current {
            Value::Object(map) if map.len() == 1 && map.contains_key("request") => {
                current = &map["request"];
            }
            _ => break,
        }
    }
    current
}

/// Peels `request`, `response` (object or list: first element) and the model's own
/// envelope key, in whatever nesting they come, and returns the entity's fields.
fn unwrap_envelope<'a>(
    body: &'a Value,
    model: &str,
    allow_response: bool,
) -> Result<&'a Map<String, Value>, FieldErrors> {
    let mut current = body;
    for _ in 0..6 {
        match current {
            Value::Object(map) => {
                if let Some(inner) = map.get("request").filter(|_| map.len() == 1) {
                    current = inner;
                } else if let Some(inner) = map
                    .get("response")
                    .filter(|_| allow_response || map.len() == 1)
                {
                    current = match inner {
                        Value::Array(items) => items.first().ok_or_else(|| {
                            FieldErrors::single(model, "the response list is empty")
                        })?,
                        other => other,
                    };
                } else if let Some(inner @ Value::Object(_)) = map.get(model) {
                    current = inner;
                } else {
                    return Ok(map);
                }
            }
            Value::Array(items) if items.len() == 1 => current = &items[0],
            _ => break,
        }
    }
    match current {
        Value::Object(map) => Ok(map),
        _ => Err(FieldErrors::single(model, "must be a JSON object")),
    }
}

/// An item of a list: the object itself or `{"<Model>": {...}}`.
fn item_map<'a>(item: &'a Value, model: &str) -> Option<&'a Map<String, Value>> {
    match item {
        Value::Object(map) => match map.get(model) {
            Some(Value::Object(inner)) => Some(inner),
            _ => Some(map),
        },
        _ => None,
    }
}

/// A list field that may also arrive as a single object, or as a PHP array with
/// non-sequential keys (`{"0": {...}, "3": {...}}`).
fn list_field<'a>(map: &'a Map<String, Value>, key: &str) -> Vec<&'a Value> {
    match map.get(key) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(entries))
            if !entries.is_empty()
                && entries
                    .keys()
                    .all(|k| k.bytes().all(|b| b.is_ascii_digit())) =>
        {
            entries.values().collect()
        }
        Some(item @ Value::Object(_)) => vec![item],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Field reader
// ---------------------------------------------------------------------------------------

struct Reader<'a, 'e> {
    map: &'a Map<String, Value>,
    errors: &'e mut FieldErrors,
}

impl<'a, 'e> Reader<'a, 'e> {
    fn new(map: &'a Map<String, Value>, errors: &'e mut FieldErrors) -> Self {
        Self { map, errors }
    }

    /// The value, `None` when absent or null.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }

    /// Absent → None, null → Some(None), otherwise Some(Some(value)).
    fn get_nullable(&self, key: &str) -> Option<Option<&'a Value>> {
        self.map
            .get(key)
            .map(|value| if value.is_null() { None } else { Some(value) })
    }

    fn error(&mut self, key: &str, message: &str) {
        self.errors.add(key, message);
    }

    fn int_with(&mut self, key: &str, message: &str) -> Option<i64> {
        let value = self.get(key)?;
        if is_blank(value) {
            return None;
        }
        let parsed = lenient_i64(value);
        if parsed.is_none() {
            self.error(key, message);
        }
        parsed
    }

    fn int(&mut self, key: &str) -> Option<i64> {
        self.int_with(key, "must be an integer")
    }

    fn nullable_int(&mut self, key: &str) -> Option<Option<i64>> {
        match self.get_nullable(key)? {
            None => Some(None),
            Some(value) if is_blank(value) => Some(None),
            Some(value) => match lenient_i64(value) {
                Some(int) => Some(Some(int)),
                None => {
                    self.error(key, "must be an integer or null");
                    None
                }
            },
        }
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        let value = self.get(key)?;
        if is_blank(value) {
            return None;
        }
        let parsed = lenient_bool(value);
        if parsed.is_none() {
            self.error(key, "must be a boolean (true/false or 1/0)");
        }
        parsed
    }

    fn nullable_bool(&mut self, key: &str) -> Option<Option<bool>> {
        match self.get_nullable(key)? {
            None => Some(None),
            Some(value) => match lenient_bool(value) {
                Some(flag) => Some(Some(flag)),
                None => {
                    self.error(key, "must be a boolean (true/false or 1/0) or null");
                    None
                }
            },
        }
    }

    /// Text; numbers are accepted and written out as text.
    fn string(&mut self, key: &str) -> Option<String> {
        let value = self.get(key)?;
        let text = scalar_text(value);
        if text.is_none() {
            self.error(key, "must be a string");
        }
        text
    }

    fn nullable_string(&mut self, key: &str) -> Option<Option<String>> {
        match self.get_nullable(key)? {
            None => Some(None),
            Some(value) => match scalar_text(value) {
                Some(text) => Some(Some(text)),
                None => {
                    self.error(key, "must be a string or null");
                    None
                }
            },
        }
    }

    fn uuid(&mut self, key: &str) -> Option<String> {
        let value = self.get(key)?;
        let Some(text) = scalar_text(value) else {
            self.error(key, "must be a UUID");
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if !is_uuid(text) {
            self.error(key, "must be a UUID");
            return None;
        }
        Some(text.to_ascii_lowercase())
    }

    fn micros(&mut self, key: &str) -> Option<Option<i64>> {
        match self.get_nullable(key)? {
            None => Some(None),
            Some(value) if is_blank(value) => Some(None),
            Some(value) => match lenient_micros(value) {
                Some(micros) => Some(Some(micros)),
                None => {
                    self.error(key, "Invalid ISO 8601 format");
                    None
                }
            },
        }
    }

    fn date(&mut self, key: &str) -> Option<Date> {
        let value = self.get(key)?;
        if is_blank(value) {
            return None;
        }
        let parsed = lenient_date(value);
        if parsed.is_none() {
            self.error(key, "must be a date (YYYY-MM-DD)");
        }
        parsed
    }
}

fn is_blank(value: &Value) -> bool {
    matches!(value, Value::String(text) if text.trim().is_empty())
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn number_to_i64(number: &serde_json::Number) -> Option<i64> {
    if let Some(int) = number.as_i64() {
        return Some(int);
    }
    float_to_i64(number.as_f64()?)
}

fn float_to_i64(float: f64) -> Option<i64> {
    if float.is_finite() && float.fract() == 0.0 && float.abs() < 9.0e15 {
        Some(float as i64)
    } else {
        None
    }
}

fn micros_from_epoch_number(number: i64) -> i64 {
    let magnitude = number.unsigned_abs();
    if magnitude < 100_000_000_000 {
        number * 1_000_000
    } else if magnitude < 100_000_000_000_000 {
        number * 1_000
    } else {
        number
    }
}

const UNIX_EPOCH_JULIAN_DAY: i32 = 2_440_588;

fn date_from_micros(micros: i64) -> Option<Date> {
    let days = micros.div_euclid(86_400_000_000);
    let julian = i32::try_from(days + i64::from(UNIX_EPOCH_JULIAN_DAY)).ok()?;
    Date::from_julian_day(julian).ok()
}

/// A tiny byte cursor for the date-time grammar.
struct Cursor<'a> {
    bytes: &'a [u8],
    text: &'a str,
    position: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            text,
            position: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    fn peek_digit(&self) -> bool {
        self.bytes
            .get(self.position)
            .is_some_and(u8::is_ascii_digit)
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.bytes.get(self.position) == Some(&byte) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, bytes: &[u8]) -> bool {
        bytes.iter().any(|&byte| self.eat(byte))
    }

    fn skip_spaces(&mut self) {
        while self.eat(b' ') {}
    }

    fn digits(&mut self, count: usize) -> Option<i64> {
        let end = self.position + count;
        let slice = self.bytes.get(self.position..end)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.position = end;
        std::str::from_utf8(slice).ok()?.parse().ok()
    }

    fn take_while(&mut self, predicate: impl Fn(u8) -> bool) -> &'a str {
        let start = self.position;
        while self.bytes.get(self.position).is_some_and(|&b| predicate(b)) {
            self.position += 1;
        }
        &self.text[start..self.position]
    }

    fn date(&mut self) -> Option<Date> {
        let year = self.digits(4)?;
        if !self.eat(b'-') {
            return None;
        }
        let month = self.digits(2)?;
        if !self.eat(b'-') {
            return None;
        }
        let day = self.digits(2)?;
        let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()
    }

    /// The UTC offset in seconds (east positive); none given means UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.at_end() {
            return Some(0);
        }
        let rest = &self.text[self.position..];
        for zulu in ["Z", "z", "UTC", "GMT"] {
            if rest == zulu {
                self.position = self.bytes.len();
                return Some(0);
            }
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let hours = self.digits(2)?;
        let minutes = if self.at_end() {
            0
        } else {
            self.eat(b':');
            self.digits(2)?
        };
        if hours > 23 || minutes > 59 {
            return None;
        }
        Some(sign * (hours * 3600 + minutes * 60))
    }
}

// ---------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------

fn event_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> EventInput {
    let mut event = EventInput::default();
    {
        let mut r = Reader::new(map, errors);
        event.id = r.int("id");
        event.uuid = r.uuid("uuid");
        event.info = r.string("info");
        event.date = r.date("date");
        event.threat_level_id = named_level(&mut r, "threat_level_id", |name| {
            ThreatLevel::from_name(name).map(ThreatLevel::as_i64)
        });
        event.analysis = named_level(&mut r, "analysis", |name| {
            Analysis::from_name(name).map(Analysis::as_i64)
        });
        event.distribution = r.int_with("distribution", "must be an integer 0-5");
        event.sharing_group_id = r.int("sharing_group_id");
        event.published = r.bool("published");
        event.timestamp = r.int("timestamp");
        event.publish_timestamp = r.int("publish_timestamp");
        event.disable_correlation = r.bool("disable_correlation");
        event.extends_uuid = extends_uuid(&mut r);
        event.protected = r.nullable_bool("protected");

        let orgc_id = r.int("orgc_id");
        let mut orgc = match r.get("Orgc") {
            Some(Value::Object(org)) => {
                let mut org_errors = FieldErrors::new();
                let parsed = org_from_map(org, &mut org_errors);
                merge_prefixed(r.errors, "Orgc.", org_errors);
                Some(parsed)
            }
            Some(_) => {
                r.error("Orgc", "must be a JSON object");
                None
            }
            None => None,
        };
        if let Some(id) = orgc_id {
            let org = orgc.get_or_insert_with(OrgInput::default);
            if org.id.is_none() {
                org.id = Some(id);
            }
        }
        event.orgc = orgc;
    }

    for (index, item) in list_field(map, "Attribute").into_iter().enumerate() {
        let prefix = format!("Attribute.{index}.");
        match item_map(item, "Attribute") {
            Some(attribute) => {
                let mut item_errors = FieldErrors::new();
                event
                    .attributes
                    .push(attribute_from_map(attribute, &mut item_errors));
                merge_prefixed(errors, &prefix, item_errors);
            }
            None => errors.add(&format!("Attribute.{index}"), "must be a JSON object"),
        }
    }
    for (index, item) in list_field(map, "Object").into_iter().enumerate() {
        let prefix = format!("Object.{index}.");
        match item_map(item, "Object") {
            Some(object) => {
                let mut item_errors = FieldErrors::new();
                event
                    .objects
                    .push(object_from_map(object, &mut item_errors));
                merge_prefixed(errors, &prefix, item_errors);
            }
            None => errors.add(&format!("Object.{index}"), "must be a JSON object"),
        }
    }
    event.tags = tags_from_map(map, "EventTag", errors);
    event
}

/// `threat_level_id` / `analysis`: a number or the level's name.
fn named_level(
    r: &mut Reader<'_, '_>,
    key: &str,
    by_name: impl Fn(&str) -> Option<i64>,
) -> Option<i64> {
    let value = r.get(key)?;
    if is_blank(value) {
        return None;
    }
    if let Some(number) = lenient_i64(value) {
        return Some(number);
    }
    if let Value::String(name) = value
        && let Some(number) = by_name(name.trim())
    {
        return Some(number);
    }
    r.error(key, "must be a level number or its name");
    None
}

/// `extends_uuid`: a UUID (lower-cased), empty (no extension) or a numeric event id, which
/// is kept as digits for the server to resolve (MISP converts ids to uuids on save).
fn extends_uuid(r: &mut Reader<'_, '_>) -> Option<String> {
    let value = r.get("extends_uuid")?;
    let Some(text) = scalar_text(value) else {
        r.error("extends_uuid", "must be a UUID, an event id or empty");
        return None;
    };
    let text = text.trim();
    if text.is_empty() {
        Some(String::new())
    } else if is_uuid(text) {
        Some(text.to_ascii_lowercase())
    } else if text.bytes().all(|b| b.is_ascii_digit()) {
        Some(text.to_string())
    } else {
        r.error("extends_uuid", "must be a UUID, an event id or empty");
        None
    }
}

fn org_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> OrgInput {
    let mut r = Reader::new(map, errors);
    OrgInput {
        id: r.int("id"),
        uuid: r.uuid("uuid"),
        name: r
            .string("name")
            .map(|name| name.trim().to_string())
            .filter(|name| !name.is_empty()),
    }
}

/// One attribute, or several when `value` is an array (MISP's batch add).
fn attributes_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> Vec<AttributeInput> {
    let Some(Value::Array(values)) = map.get("value") else {
        return vec![attribute_from_map(map, errors)];
    };
    let mut template_map = map.clone();
    template_map.remove("value");
    let template = attribute_from_map(&template_map, errors);
    let mut out = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match value_text(value) {
            Some(text) => {
                let mut attribute = template.clone();
                attribute.value = Some(text);
                if values.len() > 1 {
                    // One uuid cannot name several attributes.
                    attribute.uuid = None;
                }
                out.push(attribute);
            }
            None => errors.add(&format!("value.{index}"), "must be a string"),
        }
    }
    if values.is_empty() {
        errors.add("value", "the list of values is empty");
    }
    out
}

/// An attribute value: text, or a number / boolean written out as text.
fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::Bool(flag) => Some(if *flag { "1" } else { "0" }.to_string()),
        other => scalar_text(other),
    }
}

fn attribute_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> AttributeInput {
    let mut attribute = AttributeInput::default();
    {
        let mut r = Reader::new(map, errors);
        attribute.id = r.int("id");
        attribute.uuid = r.uuid("uuid");
        attribute.attr_type = r.string("type").map(|text| text.trim().to_string());
        attribute.category = r.string("category").map(|text| text.trim().to_string());
        attribute.value = match r.get("value") {
            None => None,
            Some(Value::Array(_)) => {
                r.error("value", "Value is an array.");
                None
            }
            Some(value) => match value_text(value) {
                Some(text) => Some(text),
                None => {
                    r.error("value", "must be a string");
                    None
                }
            },
        };
        if attribute
            .value
            .as_deref()
            .is_none_or(|value| value.trim().is_empty())
        {
            // MISP rebuilds `value` from `value1`/`value2` when only those are sent.
            let value1 = r
                .get("value1")
                .and_then(value_text)
                .filter(|v| !v.is_empty());
            let value2 = r
                .get("value2")
                .and_then(value_text)
                .filter(|v| !v.is_empty());
            match (value1, value2) {
                (Some(first), Some(second)) => attribute.value = Some(format!("{first}|{second}")),
                (Some(first), None) => attribute.value = Some(first),
                _ => {}
            }
        }
        attribute.to_ids = r.bool("to_ids");
        attribute.comment = r.string("comment");
        attribute.distribution = r.int_with("distribution", "must be an integer 0-5");
        attribute.sharing_group_id = r.int("sharing_group_id");
        attribute.timestamp = r.int("timestamp");
        attribute.deleted = r.bool("deleted");
        attribute.disable_correlation = r.bool("disable_correlation");
        attribute.object_relation = r
            .string("object_relation")
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty());
        attribute.first_seen = r.micros("first_seen");
        attribute.last_seen = r.micros("last_seen");
        attribute.valid_until = r.micros("valid_until");
        attribute.intended_use = match r.get_nullable("intended_use") {
            None => None,
            Some(None) => Some(None),
            Some(Some(value)) if is_blank(value) => Some(None),
            Some(Some(value)) => match value
                .as_str()
                .and_then(|text| IntendedUse::parse(text.trim()))
            {
                Some(intended) => Some(Some(intended)),
                None => {
                    r.error(
                        "intended_use",
                        "must be one of block-outbound, block-inbound, detect, hunt-only",
                    );
                    None
                }
            },
        };
        attribute.status = match r.get_nullable("status") {
            None => None,
            Some(None) => Some(None),
            Some(Some(value)) if is_blank(value) => Some(None),
            Some(Some(value)) => match value
                .as_str()
                .and_then(|text| ItemStatus::parse(text.trim()))
            {
                Some(status) => Some(Some(status)),
                None => {
                    r.error("status", "must be one of preliminary, confirmed, withdrawn");
                    None
                }
            },
        };
        attribute.data = match r.get("data") {
            None => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.trim().to_string()),
            Some(_) => {
                r.error("data", "must be a base64 string");
                None
            }
        };
    }
    attribute.tags = tags_from_map(map, "AttributeTag", errors);
    attribute
}

/// Tags from `Tag: [{...}]` (names or objects) plus the `<Link>: [{Tag: {...}, local, ...}]`
/// form (`EventTag` / `AttributeTag`).
fn tags_from_map(
    map: &Map<String, Value>,
    link_key: &str,
    errors: &mut FieldErrors,
) -> Vec<TagInput> {
    let mut tags = Vec::new();
    for (index, item) in list_field(map, "Tag").into_iter().enumerate() {
        match item {
            Value::String(name) => tags.push(TagInput {
                name: Some(name.trim().to_string()),
                ..TagInput::default()
            }),
            Value::Object(_) => {
                let tag_map = item_map(item, "Tag").expect("an object");
                let mut item_errors = FieldErrors::new();
                tags.push(tag_from_map(tag_map, &mut item_errors));
                merge_prefixed(errors, &format!("Tag.{index}."), item_errors);
            }
            _ => errors.add(
                &format!("Tag.{index}"),
                "must be a tag object or a tag name",
            ),
        }
    }
    for (index, item) in list_field(map, link_key).into_iter().enumerate() {
        let prefix = format!("{link_key}.{index}.");
        let Value::Object(link) = item else {
            errors.add(&format!("{link_key}.{index}"), "must be a JSON object");
            continue;
        };
        let mut item_errors = FieldErrors::new();
        let mut tag = match link.get("Tag") {
            Some(Value::Object(tag_map)) => {
                let mut tag_errors = FieldErrors::new();
                let tag = tag_from_map(tag_map, &mut tag_errors);
                merge_prefixed(&mut item_errors, "Tag.", tag_errors);
                tag
            }
            _ => TagInput::default(),
        };
        let mut r = Reader::new(link, &mut item_errors);
        if tag.id.is_none() {
            tag.id = r.int("tag_id");
        }
        if let Some(local) = r.bool("local") {
            tag.local = Some(local);
        }
        if let Some(relationship) = r.nullable_string("relationship_type") {
            tag.relationship_type = Some(relationship.filter(|text| !text.trim().is_empty()));
        }
        merge_prefixed(errors, &prefix, item_errors);
        if tag.name.is_some() || tag.id.is_some() {
            tags.push(tag);
        }
    }
    tags
}

fn tag_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> TagInput {
    let mut r = Reader::new(map, errors);
    TagInput {
        id: r.int("id"),
        name: r.string("name").map(|name| name.trim().to_string()),
        colour: r
            .string("colour")
            .map(|colour| colour.trim().to_string())
            .filter(|c| !c.is_empty()),
        exportable: r.bool("exportable"),
        hide_tag: r.bool("hide_tag"),
        org_id: r.int("org_id"),
        user_id: r.int("user_id"),
        numerical_value: r.nullable_int("numerical_value"),
        local_only: r.bool("local_only"),
        is_galaxy: r.bool("is_galaxy"),
        is_custom_galaxy: r.bool("is_custom_galaxy"),
        local: r.bool("local"),
        relationship_type: r
            .nullable_string("relationship_type")
            .map(|text| text.filter(|text| !text.trim().is_empty())),
    }
}

fn object_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> ObjectInput {
    let mut object = ObjectInput::default();
    {
        let mut r = Reader::new(map, errors);
        object.id = r.int("id");
        object.uuid = r.uuid("uuid");
        object.name = r.string("name").map(|text| text.trim().to_string());
        object.meta_category = if r.get("meta-category").is_some() {
            r.string("meta-category")
        } else {
            r.string("meta_category")
        }
        .map(|text| text.trim().to_string());
        object.description = r.string("description");
        object.template_uuid = r.uuid("template_uuid");
        object.template_version = r
            .string("template_version")
            .map(|text| text.trim().to_string())
            .filter(|text| !text.is_empty());
        object.timestamp = r.int("timestamp");
        object.distribution = r.int_with("distribution", "must be an integer 0-5");
        object.sharing_group_id = r.int("sharing_group_id");
        object.comment = r.string("comment");
        object.deleted = r.bool("deleted");
        object.first_seen = r.micros("first_seen");
        object.last_seen = r.micros("last_seen");
    }
    for (index, item) in list_field(map, "Attribute").into_iter().enumerate() {
        match item_map(item, "Attribute") {
            Some(attribute) => {
                let mut item_errors = FieldErrors::new();
                object
                    .attributes
                    .push(attribute_from_map(attribute, &mut item_errors));
                merge_prefixed(errors, &format!("Attribute.{index}."), item_errors);
            }
            None => errors.add(&format!("Attribute.{index}"), "must be a JSON object"),
        }
    }
    for (index, item) in list_field(map, "ObjectReference").into_iter().enumerate() {
        match item_map(item, "ObjectReference") {
            Some(reference) => {
                let mut item_errors = FieldErrors::new();
                object
                    .references
                    .push(reference_from_map(reference, &mut item_errors));
                merge_prefixed(errors, &format!("ObjectReference.{index}."), item_errors);
            }
            None => errors.add(&format!("ObjectReference.{index}"), "must be a JSON object"),
        }
    }
    object
}

fn reference_from_map(map: &Map<String, Value>, errors: &mut FieldErrors) -> ObjectReferenceInput {
    let mut r = Reader::new(map, errors);
    let object_uuid = if r.get("object_uuid").is_some_and(|v| !is_blank(v)) {
        r.uuid("object_uuid")
    } else {
        r.uuid("source_uuid")
    };
    let referenced_type = match r.get("referenced_type") {
        Some(Value::String(name)) if name.eq_ignore_ascii_case("attribute") => Some(0),
        Some(Value::String(name)) if name.eq_ignore_ascii_case("object") => Some(1),
        Some(_) => match r.int_with("referenced_type", "must be 0 (attribute) or 1 (object)") {
            Some(kind @ (0 | 1)) => Some(kind),
            Some(_) => {
                r.error("referenced_type", "must be 0 (attribute) or 1 (object)");
                None
            }
            None => None,
        },
        None => None,
    };
    ObjectReferenceInput {
        uuid: r.uuid("uuid"),
        object_uuid,
        object_id: r.int("object_id"),
        referenced_uuid: r.uuid("referenced_uuid"),
        referenced_id: r.int("referenced_id"),
        referenced_type,
        relationship_type: r
            .string("relationship_type")
            .map(|text| text.trim().to_string()),
        comment: r.string("comment"),
        timestamp: r.int("timestamp"),
        deleted: r.bool("deleted"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_timestamps_read_at_fixed_positions_as_the_general_path_reads_them() {
        use super::{any_datetime_micros, parse_datetime_micros, utc_timestamp_micros};
        let mut fast = 0;
        for year in [
            "0000", "1600", "1900", "1970", "2000", "2024", "2026", "9999",
        ] {
            for month in ["00", "01", "02", "04", "12", "13"] {
                for day in ["00", "01", "28", "29", "30", "31", "32"] {
                    for time in ["00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60"] {
                        for fraction in [
                            "",
                            ".",
                            ".5",
                            ".123",
                            ".123456",
                            ".1234567",
                            ".000001",
                            ".12345678901234567890123",
                            ".12a",
                            ",5",
                        ] {
                            for zone in ["Z", "z", "+00:00", ""] {
                                let text = format!("{year}-{month}-{day}T{time}{fraction}{zone}");
                                let general = any_datetime_micros(&text);
                                assert_eq!(parse_datetime_micros(&text), general, "{text}");
                                if let Some(micros) = utc_timestamp_micros(text.as_bytes()) {
                                    assert_eq!(Some(micros), general, "{text}");
                                    fast += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(fast > 1000, "{fast}");
        assert_eq!(
            utc_timestamp_micros(b"2026-01-05T08:00:00.123Z"),
            Some(1_767_600_000_123_000)
        );
        assert_eq!(utc_timestamp_micros(b" 2026-01-05T08:00:00Z"), None);
        assert_eq!(
            parse_datetime_micros(" 2026-01-05T08:00:00Z "),
            Some(1_767_600_000_000_000)
        );
    }

    use super::*;

    #[test]
    fn days_since_epoch_is_what_time_counts() {
        let years = (0..=3)
            .chain(1596..=1604)
            .chain(1890..=2110)
            .chain(9996..=9999);
        for year in years {
            for month in 0..=13 {
                for day in 0..=32 {
                    let expected = u8::try_from(month)
                        .ok()
                        .and_then(|month| Month::try_from(month).ok())
                        .and_then(|month| {
                            Date::from_calendar_date(year as i32, month, day as u8).ok()
                        })
                        .map(|date| i64::from(date.to_julian_day() - UNIX_EPOCH_JULIAN_DAY));
                    assert_eq!(
                        days_since_epoch(year, month, day),
                        expected,
                        "{year}-{month}-{day}"
                    );
                }
            }
        }
    }
    use serde_json::json;

    #[test]
    fn scalars_are_lenient() {
        assert_eq!(lenient_i64(&json!("12")), Some(12));
        assert_eq!(lenient_i64(&json!(12)), Some(12));
        assert_eq!(lenient_i64(&json!(12.0)), Some(12));
        assert_eq!(lenient_i64(&json!(" 7 ")), Some(7));
        assert_eq!(lenient_i64(&json!(1.5)), None);
        assert_eq!(lenient_i64(&json!("x")), None);
        assert_eq!(lenient_i64(&json!(true)), None);
        for yes in [
            json!(true),
            json!(1),
            json!("1"),
            json!("true"),
            json!("True"),
        ] {
            assert_eq!(lenient_bool(&yes), Some(true), "{yes}");
        }
        for no in [json!(false), json!(0), json!("0"), json!("false")] {
            assert_eq!(lenient_bool(&no), Some(false), "{no}");
        }
        assert_eq!(lenient_bool(&json!(2)), None);
        assert_eq!(lenient_bool(&json!("yes please")), None);
    }

    #[test]
    fn datetimes_in_many_shapes() {
        let base = 1_561_476_360_000_000i64; // 2019-06-25T15:26:00Z
        assert_eq!(
            parse_datetime_micros("2019-06-25T15:26:00+00:00"),
            Some(base)
        );
        assert_eq!(parse_datetime_micros("2019-06-25T15:26:00Z"), Some(base));
        assert_eq!(parse_datetime_micros("2019-06-25 15:26:00"), Some(base));
        assert_eq!(parse_datetime_micros("2019-06-25T15:26"), Some(base));
        assert_eq!(
            parse_datetime_micros("2019-06-25T15:26:00.123456+00:00"),
            Some(base + 123_456)
        );
        assert_eq!(
            parse_datetime_micros("2019-06-25T15:26:00.1Z"),
            Some(base + 100_000)
        );
        assert_eq!(
            parse_datetime_micros("2019-06-25T15:26:00.123456789Z"),
            Some(base + 123_456)
        );
        assert_eq!(
            parse_datetime_micros("2019-06-25T17:26:00+0200"),
            Some(base)
        );
        assert_eq!(
            parse_datetime_micros("2019-06-25T17:26:00+02:00"),
            Some(base)
        );
        assert_eq!(parse_datetime_micros("2019-06-25T13:26:00-02"), Some(base));
        assert_eq!(
            parse_datetime_micros("2019-06-25"),
            Some(1_561_420_800_000_000)
        );
        assert_eq!(parse_datetime_micros("@1561476360"), Some(base));
        assert_eq!(parse_datetime_micros("1561476360"), Some(base));
        assert_eq!(parse_datetime_micros("2019-13-25"), None);
        assert_eq!(parse_datetime_micros("2019-06-25T25:00:00"), None);
        assert_eq!(parse_datetime_micros("yesterday"), None);
        assert_eq!(parse_datetime_micros("2019-06-25T15:26:00 garbage"), None);
        assert_eq!(
            parse_datetime_micros("1969-12-31T23:59:59Z"),
            Some(-1_000_000)
        );
    }

    #[test]
    fn epoch_numbers_are_read_by_magnitude() {
        let base = 1_561_476_360_000_000i64;
        assert_eq!(lenient_micros(&json!(1_561_476_360i64)), Some(base));
        assert_eq!(lenient_micros(&json!(1_561_476_360_000i64)), Some(base));
        assert_eq!(lenient_micros(&json!(base)), Some(base));
        assert_eq!(
            lenient_micros(&json!(1_561_476_360.5)),
            Some(base + 500_000)
        );
        assert_eq!(lenient_micros(&json!("1561476360000000")), Some(base));
        assert_eq!(lenient_micros(&json!(true)), None);
    }

    #[test]
    fn event_dates() {
        let date = Date::from_calendar_date(2019, Month::June, 25).unwrap();
        assert_eq!(lenient_date(&json!("2019-06-25")), Some(date));
        assert_eq!(
            lenient_date(&json!("2019-06-25T23:30:00-05:00")),
            Some(date)
        );
        assert_eq!(lenient_date(&json!("2019-06-25 10:00:00")), Some(date));
        assert_eq!(lenient_date(&json!(1_561_476_360)), Some(date));
        assert_eq!(lenient_date(&json!("25/06/2019")), None);
    }

    #[test]
    fn uuids_are_checked_and_lowercased() {
        let body = json!({"uuid": "5A3C2FCD-8328-42BB-A95E-4F4402DE0B81", "info": "x"});
        assert_eq!(
            parse_event(&body).unwrap().uuid.as_deref(),
            Some("5a3c2fcd-8328-42bb-a95e-4f4402de0b81")
        );
        let errors = parse_event(&json!({"uuid": "not-a-uuid"})).unwrap_err();
        assert!(errors.0.contains_key("uuid"));
        assert!(!is_uuid("5a3c2fcd832842bba95e4f4402de0b81"));
        assert_eq!(parse_event(&json!({"uuid": ""})).unwrap().uuid, None);
    }
}
