//! restSearch request parsing: MISP's filter grammar (`convert_filters`), its time deltas
//! (`resolveTimeDelta`) and the per-scope filter names, turned into
//! [`kizuna_model::query`] criteria.

use crate::export::{CacheHash, EdlList, ExportFormat, ExportOptions, RpzPolicy};
use kizuna_model::query::{
    AttributeCriteria, DateRange, DeletedFilter, OrderField, Paging, SortOrder, Terms, TimeBound,
};
use serde_json::{Map, Value};
use std::net::Ipv6Addr;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};

/// A filter MISP would refuse, named so the client knows which one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    pub filter: String,
    pub message: String,
}

impl FilterError {
    fn new(filter: &str, message: impl Into<String>) -> Self {
        Self {
            filter: filter.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invalid filter {}: {}", self.filter, self.message)
    }
}

impl std::error::Error for FilterError {}

/// Which restSearch is asked: filters mean slightly different things per scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Events,
    Attributes,
    Objects,
}

/// The output a restSearch asked for: MISP's JSON, CSV, a count, or an export for devices
/// and tools (`text` is one of those).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnFormat {
    Json,
    Csv,
    Count,
    Export(ExportFormat),
}

impl ReturnFormat {
    pub fn parse(name: &str) -> Option<ReturnFormat> {
        match name.to_ascii_lowercase().as_str() {
            "json" | "" => Some(ReturnFormat::Json),
            "csv" => Some(ReturnFormat::Csv),
            "count" => Some(ReturnFormat::Count),
            other => ExportFormat::parse(other).map(ReturnFormat::Export),
        }
    }

    /// MISP's restrictive formats export published IDS data unless told otherwise
    /// (misp-reference §4.4): every device format; STIX is a sharing format.
    fn is_restrictive(self) -> bool {
        matches!(self, ReturnFormat::Export(format) if format != ExportFormat::Stix2)
    }

    /// Whether an export carries only what is valid now unless told otherwise (Kizuna):
    /// every export but MISP's own JSON and CSV.
    fn is_valid_now_by_default(self) -> bool {
        matches!(self, ReturnFormat::Export(_))
    }
}

/// Output switches of a restSearch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchOptions {
    pub include_event_uuid: bool,
    pub include_event_tags: bool,
    pub include_context: bool,
    pub include_sightings: bool,
    pub include_correlations: bool,
    pub include_warninglist_hits: bool,
    pub enforce_warninglist: bool,
    pub metadata: bool,
    /// MISP's `noEventReports`: events come without their reports.
    pub no_event_reports: bool,
    pub headerless: bool,
    /// CSV columns asked for beyond (or instead of) the defaults.
    pub requested_attributes: Vec<String>,
    /// Options of the export formats (RPZ zone settings, hosts address, cache digest);
    /// the caller fills in the instance's URL and the user's NIDS sid base.
    pub export: ExportOptions,
}

/// A parsed restSearch call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRequest {
    pub format: ReturnFormat,
    pub criteria: AttributeCriteria,
    pub paging: Paging,
    pub options: SearchOptions,
}

/// MISP's `convert_filters` (plus the `||` list syntax RestSearch accepts): a scalar,
/// `"a&&!b"`, a list with `!` negations, or `{"OR": …, "AND": …, "NOT": …}`.
///
/// Quirk kept from MISP: in a `&&` string the positive parts are alternatives, like a list.
pub fn convert_filter(value: &Value) -> Terms {
    let mut terms = Terms::default();
    match value {
        Value::Null => {}
        Value::Object(operators) => {
            for (operator, operands) in operators {
                let target = match operator.to_ascii_uppercase().as_str() {
                    "OR" => &mut terms.any,
                    "AND" => &mut terms.all,
                    "NOT" => &mut terms.none,
                    _ => continue,
                };
                for operand in scalars(operands) {
                    target.push(operand);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                for text in scalars(item) {
                    push_signed(&mut terms, text);
                }
            }
        }
        scalar => {
            if let Some(text) = scalar_text(scalar) {
                for part in text.split("&&").flat_map(|part| part.split("||")) {
                    push_signed(&mut terms, part.to_string());
                }
            }
        }
    }
    terms
}

fn push_signed(terms: &mut Terms, text: String) {
    if text.is_empty() {
        return;
    }
    match text.strip_prefix('!') {
        Some(negated) => terms.none.push(negated.to_string()),
        None => terms.any.push(text),
    }
}

/// The scalar texts inside a value (one scalar, or the scalars of a list; `||` splits).
fn scalars(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
        other => scalar_text(other)
            .map(|text| text.split("||").map(str::to_string).collect())
            .unwrap_or_default(),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(if *flag { "1" } else { "0" }.to_string()),
        _ => None,
    }
}

/// MISP's `resolveTimeDelta`: an epoch, `<n>d|h|m|s` before `now`, or a date/time string.
/// Where MISP logs and matches nothing, we refuse with the filter's name.
pub fn resolve_time_delta(filter: &str, value: &Value, now: i64) -> Result<i64, FilterError> {
    let text = match value {
        Value::Number(number) => {
            return number
                .as_i64()
                .or_else(|| number.as_f64().map(|float| float as i64))
                .ok_or_else(|| FilterError::new(filter, format!("{number} is not a time")));
        }
        Value::String(text) => text.trim(),
        other => {
            return Err(FilterError::new(
                filter,
                format!("{other} is not a time (use an epoch, \"7d\", or a date)"),
            ));
        }
    };
    if let Ok(epoch) = text.parse::<i64>() {
        return Ok(epoch);
    }
    if let Some(last) = text.chars().last() {
        let multiplier = match last.to_ascii_lowercase() {
            'd' => Some(86_400),
            'h' => Some(3_600),
            'm' => Some(60),
            's' => Some(1),
            _ => None,
        };
        if let Some(multiplier) = multiplier {
            let amount = &text[..text.len() - 1];
            if let Ok(amount) = amount.trim().parse::<f64>() {
                return Ok(now - (amount * multiplier as f64) as i64);
            }
        }
    }
    parse_datetime(text, now).ok_or_else(|| {
        FilterError::new(
            filter,
            format!("{text:?} is not a time (use an epoch, \"7d\", \"12h\", or a date)"),
        )
    })
}

/// The date and time forms clients send (the common part of PHP's strtotime): `now`,
/// `today`, `yesterday`, `YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]`, RFC 3339. UTC.
fn parse_datetime(text: &str, now: i64) -> Option<i64> {
    let day_start = |epoch: i64| epoch - epoch.rem_euclid(86_400);
    match text.to_ascii_lowercase().as_str() {
        "now" => return Some(now),
        "today" => return Some(day_start(now)),
        "yesterday" => return Some(day_start(now) - 86_400),
        _ => {}
    }
    if let Ok(moment) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(moment.unix_timestamp());
    }
    let with_seconds = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let without_seconds = format_description!("[year]-[month]-[day] [hour]:[minute]");
    let iso_local = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    for description in [with_seconds, without_seconds, iso_local] {
        if let Ok(moment) = PrimitiveDateTime::parse(text, description) {
            return Some(moment.assume_utc().unix_timestamp());
        }
    }
    let date = format_description!("[year]-[month]-[day]");
    Date::parse(text, date)
        .ok()
        .map(|day| day.midnight().assume_utc().unix_timestamp())
}

/// A time filter: a scalar lower bound or a two-element `[from, to]` range (swapped when
/// reversed; a 0 lower end leaves it open), as MISP's `setTimestampConditions`.
pub fn resolve_time(filter: &str, value: &Value, now: i64) -> Result<TimeBound, FilterError> {
    match value {
        Value::Array(items) => {
            if items.len() != 2 {
                return Err(FilterError::new(
                    filter,
                    "a range must have exactly two elements [from, to]",
                ));
            }
            let mut from = resolve_time_delta(filter, &items[0], now)?;
            let mut to = resolve_time_delta(filter, &items[1], now)?;
            if from > to {
                std::mem::swap(&mut from, &mut to);
            }
            Ok(TimeBound::Between((from != 0).then_some(from), to))
        }
        scalar => Ok(TimeBound::Since(resolve_time_delta(filter, scalar, now)?)),
    }
}

/// `from` / `to` on Event.date: a date string as is (validated), an epoch as its UTC day.
fn event_day(filter: &str, value: &Value, now: i64) -> Result<String, FilterError> {
    let epoch = match value {
        Value::String(text) if text.trim().len() >= 10 => {
            let day = &text.trim()[..10];
            if Date::parse(day, format_description!("[year]-[month]-[day]")).is_ok() {
                return Ok(day.to_string());
            }
            resolve_time_delta(filter, value, now)?
        }
        other => resolve_time_delta(filter, other, now)?,
    };
    Ok(day_of(epoch))
}

fn day_of(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .map(|moment| moment.date().to_string())
        .unwrap_or_else(|_| "1970-01-01".to_string())
}

/// 0/1/true/false/"0"/"1"; a list holding both values (or `[true, false]`) means "either".
fn tri_state(filter: &str, value: &Value) -> Result<Option<bool>, FilterError> {
    let single = |value: &Value| -> Result<bool, FilterError> {
        crate::misp::input::lenient_bool(value)
            .ok_or_else(|| FilterError::new(filter, format!("{value} is not 0 or 1")))
    };
    match value {
        Value::Null => Ok(None),
        Value::Array(items) => {
            let flags = items.iter().map(single).collect::<Result<Vec<_>, _>>()?;
            if flags.contains(&true) && flags.contains(&false) || flags.is_empty() {
                Ok(None)
            } else {
                Ok(Some(flags[0]))
            }
        }
        Value::String(text) if text.is_empty() => Ok(None),
        other => single(other).map(Some),
    }
}

fn integers(filter: &str, value: &Value) -> Result<Vec<i64>, FilterError> {
    let one = |value: &Value| {
        crate::misp::input::lenient_i64(value)
            .ok_or_else(|| FilterError::new(filter, format!("{value} is not a number")))
    };
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(one).collect(),
        Value::String(text) if text.contains("||") => text
            .split("||")
            .map(|part| one(&Value::String(part.to_string())))
            .collect(),
        other => one(other).map(|number| vec![number]),
    }
}

fn positive(filter: &str, value: &Value) -> Result<Option<u64>, FilterError> {
    if value.is_null() || value.as_str() == Some("") {
        return Ok(None);
    }
    match crate::misp::input::lenient_i64(value) {
        Some(number) if number >= 0 => Ok((number > 0).then_some(number as u64)),
        _ => Err(FilterError::new(
            filter,
            format!("{value} is not a positive number"),
        )),
    }
}

fn flag(params: &Map<String, Value>, name: &str) -> bool {
    params
        .get(name)
        .and_then(crate::misp::input::lenient_bool)
        .unwrap_or(false)
}

/// IPv6 values are compared in their compressed form, as MISP stores them.
fn compress_ipv6(term: String) -> String {
    let (prefix, body) = match term.strip_prefix('%') {
        Some(rest) => ("%", rest.to_string()),
        None => ("", term.clone()),
    };
    match body.parse::<Ipv6Addr>() {
        Ok(address) if body.contains(':') => format!("{prefix}{address}"),
        _ => term,
    }
}

/// Turns restSearch parameters (the JSON body merged with named parameters) into a request.
/// `format_from_path` is the `/restSearch/<format>` segment, which wins over `returnFormat`.
pub fn parse_search(
    params: &Map<String, Value>,
    scope: Scope,
    format_from_path: Option<&str>,
    now: i64,
) -> Result<SearchRequest, FilterError> {
    let format_name = format_from_path
        .map(str::to_string)
        .or_else(|| {
            params
                .get("returnFormat")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "json".to_string());
    let mut format = ReturnFormat::parse(&format_name).ok_or_else(|| {
        FilterError::new(
            "returnFormat",
            format!(
                "{format_name:?} is not supported (json, csv, count, text, hashes, hosts, edl, \
                 suricata, snort, zeek, rpz, cache, stix2)"
            ),
        )
    })?;
    if let ReturnFormat::Export(ExportFormat::Edl(_)) = format
        && let Some(list) = params.get("edl_list").and_then(scalar_text)
    {
        let list = EdlList::parse(&list).ok_or_else(|| {
            FilterError::new(
                "edl_list",
                format!(
                    "{list:?} is not a list (inbound-addresses, outbound-addresses, \
                     outbound-domains, outbound-urls)"
                ),
            )
        })?;
        format = ReturnFormat::Export(ExportFormat::Edl(list));
    }
    let terms = |name: &str| params.get(name).map(convert_filter).unwrap_or_default();
    let mut criteria = AttributeCriteria {
        value: terms("value").map(compress_ipv6),
        attr_type: email_aliases(terms("type")),
        category: terms("category"),
        object_relation: terms("object_relation"),
        comment: terms("comment"),
        event: terms("eventid"),
        orgc: terms("org"),
        event_info: terms("eventinfo"),
        object_name: terms("object_name"),
        ..AttributeCriteria::default()
    };
    if scope == Scope::Attributes {
        criteria.value1 = terms("value1");
        criteria.value2 = terms("value2");
    }
    match scope {
        Scope::Attributes => criteria.attribute_uuid = terms("uuid"),
        Scope::Events | Scope::Objects => criteria.uuid = terms("uuid"),
    }
    if let Some(event_uuid) = params.get("event_uuid") {
        let more = convert_filter(event_uuid);
        criteria.event.any.extend(more.any);
        criteria.event.none.extend(more.none);
    }
    let tag_key = ["tags", "tag", "event_tags"]
        .into_iter()
        .find(|key| params.get(*key).is_some_and(|value| !is_blank(value)));
    if let Some(key) = tag_key {
        criteria.tags = terms(key);
        criteria.event_tags_only = key == "event_tags";
    }
    if let Some(value) = params.get("from").filter(|value| !is_blank(value)) {
        criteria.event_date.from = Some(event_day("from", value, now)?);
    }
    if let Some(value) = params.get("to").filter(|value| !is_blank(value)) {
        criteria.event_date.to = Some(event_day("to", value, now)?);
    }
    if let Some(value) = params.get("date").filter(|value| !is_blank(value)) {
        criteria.event_date = match resolve_time("date", value, now)? {
            TimeBound::Since(from) => DateRange {
                from: Some(day_of(from)),
                to: criteria.event_date.to,
            },
            TimeBound::Between(from, to) => DateRange {
                from: Some(day_of(from.unwrap_or(0))),
                to: Some(day_of(to)),
            },
        };
    }
    let time = |name: &str| -> Result<Option<TimeBound>, FilterError> {
        match params.get(name).filter(|value| !is_blank(value)) {
            Some(value) => resolve_time(name, value, now).map(Some),
            None => Ok(None),
        }
    };
    criteria.publish_timestamp = time("publish_timestamp")?;
    if let Some(last) = time("last")? {
        criteria.publish_timestamp = Some(last);
    }
    criteria.event_timestamp = time("event_timestamp")?;
    criteria.attribute_timestamp = time("attribute_timestamp")?;
    if let Some(timestamp) = time("timestamp")? {
        match scope {
            Scope::Events => criteria.event_timestamp = Some(timestamp),
            Scope::Attributes | Scope::Objects => criteria.attribute_timestamp = Some(timestamp),
        }
    }
    criteria.first_seen = seen_time("first_seen", params, now)?;
    criteria.last_seen = seen_time("last_seen", params, now)?;
    criteria.valid_at = match params.get("valid_at") {
        Some(value) => valid_at(value, now)?,
        // Exports carry only what applies now (Kizuna; `valid_at: "all"` lifts it).
        None => format.is_valid_now_by_default().then_some(now * 1_000_000),
    };
    if let Some(value) = params.get("published") {
        criteria.published = tri_state("published", value)?;
    }
    if let Some(value) = params.get("to_ids") {
        criteria.to_ids = if value.as_str() == Some("exclude") {
            Some(false)
        } else {
            tri_state("to_ids", value)?
        };
    }
    if let Some(value) = params.get("deleted") {
        criteria.deleted = match value {
            Value::String(text) if text.eq_ignore_ascii_case("only") => DeletedFilter::DeletedOnly,
            other => match tri_state("deleted", other)? {
                Some(true) | None => DeletedFilter::Both,
                Some(false) => DeletedFilter::LiveOnly,
            },
        };
        if value.is_null() {
            criteria.deleted = DeletedFilter::LiveOnly;
        }
    }
    if let Some(value) = params.get("threat_level_id") {
        criteria.threat_level = integers("threat_level_id", value)?;
    }
    if let Some(value) = params.get("analysis") {
        criteria.analysis = integers("analysis", value)?;
    }
    if let Some(value) = params.get("distribution") {
        criteria.distribution = integers("distribution", value)?;
    }
    for name in ["sharinggroup", "sharing_group_id"] {
        if let Some(value) = params.get(name) {
            criteria.sharing_group.extend(integers(name, value)?);
        }
    }
    for name in ["searchall", "quickFilter"] {
        if let Some(text) = params
            .get(name)
            .and_then(scalar_text)
            .filter(|text| !text.is_empty())
        {
            criteria.search_all = Some(text);
        }
    }
    if let Some(value) = params.get("order").filter(|value| !is_blank(value)) {
        criteria.order = Some(parse_order(value)?);
    }
    if format.is_restrictive() {
        if !params.contains_key("to_ids") {
            criteria.to_ids = Some(true);
        }
        if !params.contains_key("published") {
            criteria.published = Some(true);
        }
    }
    let paging = Paging {
        limit: params
            .get("limit")
            .map(|value| positive("limit", value))
            .transpose()?
            .flatten(),
        page: params
            .get("page")
            .map(|value| positive("page", value))
            .transpose()?
            .flatten(),
    };
    let requested_attributes = match params.get("requested_attributes") {
        Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
        Some(Value::String(text)) => text
            .split(',')
            .map(|column| column.trim().to_string())
            .filter(|column| !column.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    let options = SearchOptions {
        include_event_uuid: flag(params, "includeEventUuid"),
        include_event_tags: flag(params, "includeEventTags"),
        include_context: flag(params, "includeContext"),
        include_sightings: flag(params, "includeSightings"),
        include_correlations: flag(params, "includeCorrelations"),
        include_warninglist_hits: flag(params, "includeWarninglistHits"),
        enforce_warninglist: flag(params, "enforceWarninglist"),
        metadata: flag(params, "metadata"),
        no_event_reports: flag(params, "noEventReports"),
        headerless: flag(params, "headerless"),
        requested_attributes,
        export: export_options(params, now)?,
    };
    Ok(SearchRequest {
        format,
        criteria,
        paging,
        options,
    })
}

/// The event index (`/events/index`): its own filter names (with or without a `search`
/// prefix), sorting, paging and the minimal form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRequest {
    pub criteria: AttributeCriteria,
    pub paging: Paging,
    /// An events column; validated by the store.
    pub sort: Option<String>,
    pub descending: bool,
    pub minimal: bool,
}

/// Parses `/events/index` filters (MISP's EventsController::index): `all`, `attribute` /
/// `value`, `published` (2 = both), `eventid`, `datefrom`, `dateuntil`, `org`, `eventinfo`
/// (substring), `tag` / `tags` (event tags), `distribution`, `sharinggroup`, `analysis`,
/// `threatlevel`, `timestamp`, `publishtimestamp` / `publish_timestamp`, `email` (creator's
/// address; the caller decides who may use it), `hasproposal` (2 = both), `minimal`, `limit`,
/// `page`, `sort`, `direction`.
pub fn parse_event_index(
    params: &Map<String, Value>,
    now: i64,
) -> Result<IndexRequest, FilterError> {
    let get = |name: &str| -> Option<&Value> {
        params
            .get(name)
            .or_else(|| params.get(&format!("search{name}")))
            .filter(|value| !is_blank(value))
    };
    let terms = |name: &str| get(name).map(convert_filter).unwrap_or_default();
    let mut criteria = AttributeCriteria {
        value: terms("attribute").map(compress_ipv6),
        event: terms("eventid"),
        orgc: terms("org"),
        event_info: terms("eventinfo").map(|term| {
            if is_pattern_term(&term) {
                term
            } else {
                format!("%{term}%")
            }
        }),
        ..AttributeCriteria::default()
    };
    if criteria.value.is_empty() {
        criteria.value = terms("value").map(compress_ipv6);
    }
    if let Some(text) = get("all").and_then(scalar_text) {
        criteria.search_all = Some(text);
    }
    criteria.creator_email = terms("email");
    if let Some(value) = get("hasproposal") {
        criteria.has_proposal = match crate::misp::input::lenient_i64(value) {
            Some(2) => None,
            _ => tri_state("hasproposal", value)?,
        };
    }
    for name in ["tags", "tag"] {
        if get(name).is_some() {
            criteria.tags = terms(name);
            criteria.event_tags_only = true;
            break;
        }
    }
    if let Some(value) = get("published") {
        criteria.published = match crate::misp::input::lenient_i64(value) {
            Some(2) => None,
            _ => tri_state("published", value)?,
        };
    }
    if let Some(value) = get("datefrom") {
        criteria.event_date.from = Some(event_day("datefrom", value, now)?);
    }
    if let Some(value) = get("dateuntil") {
        criteria.event_date.to = Some(event_day("dateuntil", value, now)?);
    }
    for (name, target) in [
        ("distribution", &mut criteria.distribution),
        ("sharinggroup", &mut criteria.sharing_group),
        ("analysis", &mut criteria.analysis),
        ("threatlevel", &mut criteria.threat_level),
    ] {
        if let Some(value) = get(name) {
            *target = integers(name, value)?;
        }
    }
    if let Some(value) = get("timestamp") {
        criteria.event_timestamp = Some(resolve_time("timestamp", value, now)?);
    }
    for name in ["publishtimestamp", "publish_timestamp"] {
        if let Some(value) = get(name) {
            criteria.publish_timestamp = Some(resolve_time(name, value, now)?);
        }
    }
    let paging = Paging {
        limit: get("limit")
            .map(|value| positive("limit", value))
            .transpose()?
            .flatten(),
        page: get("page")
            .map(|value| positive("page", value))
            .transpose()?
            .flatten(),
    };
    Ok(IndexRequest {
        criteria,
        paging,
        sort: get("sort").and_then(scalar_text),
        descending: get("direction")
            .and_then(Value::as_str)
            .is_some_and(|direction| direction.eq_ignore_ascii_case("desc")),
        minimal: get("minimal")
            .is_some_and(|value| crate::misp::input::lenient_bool(value).unwrap_or(false)),
    })
}

fn is_pattern_term(term: &str) -> bool {
    kizuna_model::query::is_pattern(term)
}

/// restSearch `order`: CakePHP's `"Model.field [ASC|DESC]"` (the model may be left out; a list
/// uses its first entry).
fn parse_order(value: &Value) -> Result<SortOrder, FilterError> {
    let text = match value {
        Value::Array(items) => items.first().and_then(scalar_text).unwrap_or_default(),
        other => scalar_text(other).unwrap_or_default(),
    };
    let mut words = text.split_whitespace();
    let column = words.next().unwrap_or_default();
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(FilterError::new(
                "order",
                format!("{other:?} is not ASC or DESC"),
            ));
        }
    };
    let (model, field) = column.split_once('.').unwrap_or(("Attribute", column));
    let field = match (
        model.to_ascii_lowercase().as_str(),
        field.to_ascii_lowercase().as_str(),
    ) {
        ("attribute", "id") => OrderField::AttributeId,
        ("attribute", "timestamp") => OrderField::AttributeTimestamp,
        ("attribute", "value" | "value1") => OrderField::AttributeValue,
        ("attribute", "type") => OrderField::AttributeType,
        ("attribute", "category") => OrderField::AttributeCategory,
        ("event", "id") => OrderField::EventId,
        ("event", "date") => OrderField::EventDate,
        ("event", "timestamp") => OrderField::EventTimestamp,
        ("event", "publish_timestamp") => OrderField::EventPublishTimestamp,
        ("event", "info") => OrderField::EventInfo,
        _ => {
            return Err(FilterError::new(
                "order",
                format!(
                    "cannot sort on {column:?} (Attribute.id|timestamp|value|type|category, Event.id|date|timestamp|publish_timestamp|info)"
                ),
            ));
        }
    };
    Ok(SortOrder { field, descending })
}

/// Asking for email-src or email-dst also finds the generic `email` type (MISP).
fn email_aliases(mut types: Terms) -> Terms {
    for list in [&mut types.any, &mut types.none] {
        if list.iter().any(|t| t == "email-src" || t == "email-dst")
            && !list.iter().any(|t| t == "email")
        {
            list.push("email".to_string());
        }
    }
    types
}

/// first_seen / last_seen filters are in microseconds; a scalar first_seen is a lower bound,
/// a scalar last_seen an upper one.
fn seen_time(
    name: &str,
    params: &Map<String, Value>,
    now: i64,
) -> Result<Option<TimeBound>, FilterError> {
    let Some(value) = params.get(name).filter(|value| !is_blank(value)) else {
        return Ok(None);
    };
    Ok(Some(match resolve_time(name, value, now)? {
        TimeBound::Since(moment) if name == "last_seen" => {
            TimeBound::Between(None, moment * 1_000_000)
        }
        TimeBound::Since(moment) => TimeBound::Since(moment * 1_000_000),
        TimeBound::Between(from, to) => {
            TimeBound::Between(Some(from.unwrap_or(0) * 1_000_000), to * 1_000_000)
        }
    }))
}

/// The export options a restSearch names (MISP's RPZ filters `policy`, `walled_garden`,
/// `ns`, `ns_alt`, `email`, `serial`, `refresh`, `retry`, `expiry`, `minimum_ttl`, `ttl`;
/// `ip_address` for hosts; `hash_type` and `includeEventUuid` for cache), checked.
fn export_options(params: &Map<String, Value>, now: i64) -> Result<ExportOptions, FilterError> {
    let mut options = ExportOptions {
        now,
        include_event_uuid: flag(params, "includeEventUuid"),
        ..ExportOptions::default()
    };
    let text = |name: &str| {
        params
            .get(name)
            .and_then(scalar_text)
            .filter(|t| !t.is_empty())
    };
    if let Some(policy) = text("policy") {
        options.rpz.policy = RpzPolicy::parse(&policy).ok_or_else(|| {
            FilterError::new(
                "policy",
                format!(
                    "{policy:?} is not an RPZ policy (DROP, NXDOMAIN, NODATA, Local-Data, \
                     PASSTHRU, TCP-only)"
                ),
            )
        })?;
    }
    let rpz = &mut options.rpz;
    for (name, field) in [
        ("walled_garden", &mut rpz.walled_garden),
        ("ns", &mut rpz.ns),
        ("ns_alt", &mut rpz.ns_alt),
        ("email", &mut rpz.email),
        ("serial", &mut rpz.serial),
        ("refresh", &mut rpz.refresh),
        ("retry", &mut rpz.retry),
        ("expiry", &mut rpz.expiry),
        ("minimum_ttl", &mut rpz.minimum_ttl),
        ("ttl", &mut rpz.ttl),
    ] {
        if let Some(value) = text(name) {
            *field = value;
        }
    }
    if let Some(address) = text("ip_address") {
        options.hosts_address = address;
    }
    if let Some(hash) = text("hash_type") {
        options.hash_type = CacheHash::parse(&hash).ok_or_else(|| {
            FilterError::new("hash_type", format!("{hash:?} is not supported (md5)"))
        })?;
    }
    options
        .validate()
        .map_err(|error| FilterError::new(error.field, error.message))?;
    Ok(options)
}

/// Kizuna's `valid_at` filter: a moment (anything `resolve_time_delta` reads, `now`
/// included) in µs, or `all` / `false` / `0` for no validity filter.
fn valid_at(value: &Value, now: i64) -> Result<Option<i64>, FilterError> {
    let lifted = match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(text) => matches!(
            text.trim().to_ascii_lowercase().as_str(),
            "all" | "" | "false" | "0"
        ),
        Value::Number(number) => number.as_i64() == Some(0),
        _ => false,
    };
    if lifted {
        return Ok(None);
    }
    let moment = resolve_time_delta("valid_at", value, now)?;
    Ok(Some(moment.saturating_mul(1_000_000)))
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn filters_convert_like_misp() {
        assert_eq!(convert_filter(&json!("a")), Terms::any_of(["a"]));
        assert_eq!(
            convert_filter(&json!("a&&!b&&c")),
            Terms {
                any: vec!["a".into(), "c".into()],
                none: vec!["b".into()],
                ..Terms::default()
            }
        );
        assert_eq!(
            convert_filter(&json!(["x", "!y", 5])),
            Terms {
                any: vec!["x".into(), "5".into()],
                none: vec!["y".into()],
                ..Terms::default()
            }
        );
        assert_eq!(
            convert_filter(&json!({"OR": ["a", "b"], "AND": "c", "NOT": ["d"]})),
            Terms {
                any: vec!["a".into(), "b".into()],
                all: vec!["c".into()],
                none: vec!["d".into()],
            }
        );
        assert_eq!(convert_filter(&json!("a||b")), Terms::any_of(["a", "b"]));
    }

    #[test]
    fn time_deltas_resolve_like_misp() {
        assert_eq!(resolve_time_delta("t", &json!(1234), NOW), Ok(1234));
        assert_eq!(resolve_time_delta("t", &json!("1234"), NOW), Ok(1234));
        assert_eq!(
            resolve_time_delta("t", &json!("7d"), NOW),
            Ok(NOW - 7 * 86_400)
        );
        assert_eq!(resolve_time_delta("t", &json!("4m"), NOW), Ok(NOW - 240));
        assert_eq!(resolve_time_delta("t", &json!("2h"), NOW), Ok(NOW - 7200));
        assert_eq!(
            resolve_time_delta("t", &json!("2023-11-14"), NOW),
            Ok(1_699_920_000)
        );
        assert_eq!(
            resolve_time_delta("t", &json!("2023-11-14T22:13:20Z"), NOW),
            Ok(NOW)
        );
        let error = resolve_time_delta("timestamp", &json!("soon"), NOW).unwrap_err();
        assert_eq!(error.filter, "timestamp");
    }

    #[test]
    fn ranges_swap_and_open() {
        assert_eq!(
            resolve_time("t", &json!(["6m", "4m"]), NOW),
            Ok(TimeBound::Between(Some(NOW - 360), NOW - 240))
        );
        assert_eq!(
            resolve_time("t", &json!([100, 0]), NOW),
            Ok(TimeBound::Between(None, 100))
        );
        assert!(resolve_time("t", &json!([1, 2, 3]), NOW).is_err());
    }

    #[test]
    fn restrictive_formats_default_to_published_ids() {
        let params = json!({"returnFormat": "text"});
        let request =
            parse_search(params.as_object().unwrap(), Scope::Attributes, None, NOW).expect("parse");
        assert_eq!(request.criteria.to_ids, Some(true));
        assert_eq!(request.criteria.published, Some(true));
        let params = json!({"to_ids": [0, 1], "published": [0, 1]});
        let request = parse_search(
            params.as_object().unwrap(),
            Scope::Attributes,
            Some("text"),
            NOW,
        )
        .expect("parse");
        assert_eq!(request.criteria.to_ids, None);
        assert_eq!(request.criteria.published, None);
    }

    #[test]
    fn bad_values_name_their_filter() {
        for (params, filter) in [
            (json!({"limit": "ten"}), "limit"),
            (json!({"from": "not a date"}), "from"),
            (json!({"published": "maybe"}), "published"),
            (json!({"returnFormat": "pdf"}), "returnFormat"),
        ] {
            let error = parse_search(params.as_object().unwrap(), Scope::Events, None, NOW)
                .expect_err("refused");
            assert_eq!(error.filter, filter, "{params}");
        }
    }

    #[test]
    fn scope_decides_what_timestamp_and_uuid_mean() {
        let params =
            json!({"timestamp": 5, "uuid": "u", "type": "email-src", "value": "%2001:DB8:0:0::1"});
        let events = parse_search(params.as_object().unwrap(), Scope::Events, None, NOW).unwrap();
        assert_eq!(events.criteria.event_timestamp, Some(TimeBound::Since(5)));
        assert_eq!(events.criteria.uuid, Terms::any_of(["u"]));
        assert_eq!(
            events.criteria.attr_type,
            Terms::any_of(["email-src", "email"])
        );
        assert_eq!(events.criteria.value, Terms::any_of(["%2001:db8::1"]));
        let attributes =
            parse_search(params.as_object().unwrap(), Scope::Attributes, None, NOW).unwrap();
        assert_eq!(
            attributes.criteria.attribute_timestamp,
            Some(TimeBound::Since(5))
        );
        assert_eq!(attributes.criteria.attribute_uuid, Terms::any_of(["u"]));
    }
}
