//! CSV import: MISP's CSV feeds (`settings.csv.value` columns, a delimiter, an
//! `excluderegex`) and CSV files with a header naming their columns (MISP's own CSV
//! export, hunting lists).
//!
//! Records follow RFC 4180 (quoted fields may hold delimiters, doubled quotes and line
//! breaks), leniently: spaces before an opening quote are skipped and an unterminated quote
//! runs to the end of the input. Lines whose first non-blank character is `#` are comments.
//!
//! Without a type column every value cell is typed like a freetext token
//! ([`crate::freetext::classify`]), after MISP's CSV trim (white space and quotes). With a
//! type column each row is one attribute of that MISP type, normalised and validated for it;
//! category, `to_ids` and comment come from their columns when present, else from the type's
//! defaults.

use std::borrow::Cow;

use kizuna_model::attribute_types::{attribute_type, category as category_definition};
use kizuna_model::normalize::{check_category, normalize_value};
use regex::Regex;
use serde_json::Value;

use crate::freetext::{
    Classification, Collector, DetectedValue, ParsedValues, TldSet, classify, join_comments,
};

/// Which columns of a CSV hold what. Columns are numbered from 1, as in MISP's feed settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvMapping {
    /// Columns holding values; empty means every column (MISP's behaviour for an empty
    /// `settings.csv.value`).
    pub value_columns: Vec<usize>,
    pub delimiter: u8,
    /// Column holding the MISP attribute type of the row's value; without it values are typed
    /// by detection.
    pub type_column: Option<usize>,
    pub category_column: Option<usize>,
    pub comment_column: Option<usize>,
    pub to_ids_column: Option<usize>,
    /// A Rust regular expression; values matching it are skipped (see [`misp_regex_to_rust`]).
    pub exclude_regex: Option<String>,
    /// Whether the first record (after comments) is a header to skip.
    pub skip_header: bool,
}

impl Default for CsvMapping {
    fn default() -> Self {
        Self {
            value_columns: Vec::new(),
            delimiter: b',',
            type_column: None,
            category_column: None,
            comment_column: None,
            to_ids_column: None,
            exclude_regex: None,
            skip_header: false,
        }
    }
}

/// Header names (lower-case, `_` for spaces and dashes) recognised for each role.
const VALUE_HEADERS: &[&str] = &["value", "indicator", "ioc", "observable", "attribute_value"];
const TYPE_HEADERS: &[&str] = &["type", "attribute_type"];
const CATEGORY_HEADERS: &[&str] = &["category", "attribute_category"];
const COMMENT_HEADERS: &[&str] = &["comment", "attribute_comment"];
const TO_IDS_HEADERS: &[&str] = &["to_ids", "ids", "attribute_to_ids"];

/// How many data rows [`CsvMapping::detect`] inspects to trust a type, category or to_ids
/// column.
const SAMPLE_ROWS: usize = 200;

impl CsvMapping {
    /// The mapping of a MISP feed's `settings`: `{"csv":{"value":"1,3","delimiter":","},
    /// "common":{"excluderegex":"/regex/i"}}`. A JSON string holding that object is accepted
    /// too (some MISP exports double-encode it).
    pub fn from_misp_feed_settings(settings: &Value) -> Result<CsvMapping, String> {
        let (outer, inner);
        let mut settings = settings;
        if let Value::String(text) = settings {
            outer = decode_settings(text)?;
            settings = &outer;
        }
        if let Value::String(text) = settings {
            inner = decode_settings(text)?;
            settings = &inner;
        }
        if !matches!(settings, Value::Object(_) | Value::Null) {
            return Err(format!("settings: expected a JSON object, got {settings}"));
        }
        let csv = settings.get("csv");
        let value_columns = parse_columns(csv.and_then(|c| c.get("value")))?;
        let delimiter = parse_delimiter(csv.and_then(|c| c.get("delimiter")))?;
        let exclude_regex = match settings.get("common").and_then(|c| c.get("excluderegex")) {
            None | Some(Value::Null) => None,
            Some(Value::String(pattern)) if pattern.trim().is_empty() => None,
            Some(Value::String(pattern)) => Some(misp_regex_to_rust(pattern)?),
            Some(other) => {
                return Err(format!(
                    "settings.common.excluderegex: expected a string such as \"/^10\\\\./\", got {other}"
                ));
            }
        };
        Ok(CsvMapping {
            value_columns,
            delimiter,
            exclude_regex,
            ..CsvMapping::default()
        })
    }

    /// Guesses the mapping of a CSV file: the delimiter among `,` `;` tab `|`, and the
    /// columns named by a header (`value`/`indicator`, `type`, `category`, `comment`,
    /// `to_ids`), as in MISP's CSV export (`uuid,event_id,category,type,value,comment,
    /// to_ids,…`) or hunting lists (`value,type,first_seen,last_seen,to_ids`). A type,
    /// category or to_ids column is used only when its cells are MISP types, categories or
    /// booleans. Without a value column every column is typed by detection.
    pub fn detect(text: &str) -> CsvMapping {
        let text = strip_bom(text);
        let delimiter = sniff_delimiter(text);
        let mut records = Records::new(text, delimiter);
        let mut header: Vec<Cow<'_, str>> = Vec::new();
        if records.next_record(&mut header).is_none() {
            return CsvMapping {
                delimiter,
                ..CsvMapping::default()
            };
        }
        let names: Vec<String> = header.iter().map(|cell| header_name(cell)).collect();
        let find = |aliases: &[&str]| {
            names
                .iter()
                .position(|name| aliases.contains(&name.as_str()))
                .map(|i| i + 1)
        };
        let Some(value_column) = find(VALUE_HEADERS) else {
            return CsvMapping {
                delimiter,
                skip_header: looks_like_header(&header),
                ..CsvMapping::default()
            };
        };
        let mut type_column = find(TYPE_HEADERS);
        let mut category_column = find(CATEGORY_HEADERS);
        let mut to_ids_column = find(TO_IDS_HEADERS);
        let mut row: Vec<Cow<'_, str>> = Vec::new();
        for _ in 0..SAMPLE_ROWS {
            if records.next_record(&mut row).is_none() {
                break;
            }
            let cell = |column: Option<usize>| {
                column
                    .and_then(|c| row.get(c - 1))
                    .map(|v| v.trim())
                    .filter(|v| !v.is_empty())
            };
            if cell(type_column).is_some_and(|t| attribute_type(t).is_none()) {
                type_column = None;
            }
            if cell(category_column).is_some_and(|c| category_definition(c).is_none()) {
                category_column = None;
            }
            if cell(to_ids_column).is_some_and(|v| parse_bool(v).is_none()) {
                to_ids_column = None;
            }
        }
        if type_column.is_none() {
            // A category only makes sense for a declared type.
            category_column = None;
        }
        CsvMapping {
            value_columns: vec![value_column],
            delimiter,
            type_column,
            category_column,
            comment_column: find(COMMENT_HEADERS),
            to_ids_column,
            exclude_regex: None,
            skip_header: true,
        }
    }

    fn check(&self) -> Result<(), String> {
        if matches!(self.delimiter, b'"' | b'\n' | b'\r') || !self.delimiter.is_ascii() {
            return Err(format!(
                "the CSV delimiter cannot be {:?}",
                char::from(self.delimiter)
            ));
        }
        let columns = self.value_columns.iter().copied().chain(
            [
                self.type_column,
                self.category_column,
                self.comment_column,
                self.to_ids_column,
            ]
            .into_iter()
            .flatten(),
        );
        for column in columns {
            if column == 0 {
                return Err("CSV columns are numbered from 1; column 0 does not exist".into());
            }
        }
        if self.type_column.is_some() && self.value_columns.is_empty() {
            return Err("a CSV type column needs a value column saying where the value is".into());
        }
        Ok(())
    }
}

fn decode_settings(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text).map_err(|e| format!("settings: not valid JSON ({e})"))
}

fn parse_columns(value: Option<&Value>) -> Result<Vec<usize>, String> {
    let parse_one = |text: &str| -> Result<usize, String> {
        match text.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "settings.csv.value: {text:?} is not a column number (columns are numbered from 1, \
                 several are separated by commas as in \"1,3\")"
            )),
        }
    };
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => text
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(parse_one)
            .collect(),
        Some(Value::Number(n)) => parse_one(&n.to_string()).map(|c| vec![c]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => parse_one(s),
                Value::Number(n) => parse_one(&n.to_string()),
                other => parse_one(&other.to_string()),
            })
            .collect(),
        Some(other) => Err(format!(
            "settings.csv.value: expected column numbers such as \"1,3\", got {other}"
        )),
    }
}

fn parse_delimiter(value: Option<&Value>) -> Result<u8, String> {
    let text = match value {
        None | Some(Value::Null) => return Ok(b','),
        Some(Value::String(text)) => text.as_str(),
        Some(other) => {
            return Err(format!(
                "settings.csv.delimiter: expected a one-character string such as \",\", got {other}"
            ));
        }
    };
    match text {
        "" => Ok(b','),
        "\\t" | "\t" => Ok(b'\t'),
        _ if text.len() == 1 && !matches!(text.as_bytes()[0], b'"' | b'\n' | b'\r') => {
            Ok(text.as_bytes()[0])
        }
        _ => Err(format!(
            "settings.csv.delimiter: {text:?} cannot be used; the delimiter must be one ASCII \
             character other than a quote or a line break (\"\\t\" for a tab)"
        )),
    }
}

/// Converts a MISP (PHP PCRE) pattern with delimiters and modifiers, such as `/^#.*/i` or
/// `#^https?://x#`, into a Rust regular expression. Modifiers `i`, `m`, `s`, `x` and `U`
/// carry over, `A` anchors at the start, `u`, `D` and `S` need nothing. Look-around and
/// back-references have no Rust equivalent and are refused.
pub fn misp_regex_to_rust(pattern: &str) -> Result<String, String> {
    let trimmed = pattern.trim_start();
    let Some(open) = trimmed.chars().next() else {
        return Err("excluderegex is empty".into());
    };
    if open.is_alphanumeric() || open == '\\' {
        return Err(format!(
            "excluderegex {pattern:?} must be a delimited PCRE pattern such as \"/^10\\./i\" \
             (it starts with {open:?}, which cannot be a delimiter)"
        ));
    }
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        other => other,
    };
    let body_start = open.len_utf8();
    let mut depth = 0usize;
    let mut end = None;
    let mut chars = trimmed[body_start..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if close != open && c == open {
            depth += 1;
        } else if c == close {
            if depth == 0 {
                end = Some(body_start + i);
                break;
            }
            depth -= 1;
        }
    }
    let Some(end) = end else {
        return Err(format!(
            "excluderegex {pattern:?} has no ending delimiter {close:?} (MISP patterns are \
             written between delimiters, such as \"/^10\\./i\")"
        ));
    };
    let body = &trimmed[body_start..end];
    let mut flags = String::new();
    let mut anchored = false;
    for modifier in trimmed[end + close.len_utf8()..].trim().chars() {
        match modifier {
            'i' | 'm' | 's' | 'x' | 'U' => {
                if !flags.contains(modifier) {
                    flags.push(modifier);
                }
            }
            'A' => anchored = true,
            'u' | 'D' | 'S' | '\n' | '\r' | ' ' => {}
            other => {
                return Err(format!(
                    "excluderegex {pattern:?}: modifier {other:?} is not supported (i, m, s, x, \
                     u, U, A, D and S are)"
                ));
            }
        }
    }
    let mut rust = String::with_capacity(body.len() + 12);
    if !flags.is_empty() {
        rust.push_str("(?");
        rust.push_str(&flags);
        rust.push(')');
    }
    if anchored {
        rust.push_str("\\A(?:");
        rust.push_str(body);
        rust.push(')');
    } else {
        rust.push_str(body);
    }
    compile_exclude(&rust).map_err(|reason| format!("excluderegex {pattern:?} {reason}"))?;
    Ok(rust)
}

fn compile_exclude(rust: &str) -> Result<Regex, String> {
    Regex::new(rust).map_err(|e| {
        let text = e.to_string();
        let detail = text
            .lines()
            .last()
            .unwrap_or(&text)
            .trim_start_matches("error: ")
            .to_string();
        format!(
            "cannot be used: {detail} (regular expressions here have no look-around or \
             back-references)"
        )
    })
}

/// Finds the values in a CSV file as `mapping` describes. Bad values are rejected per row
/// with their line; the error is for problems with the whole file (a bad exclusion regex, a
/// mapping that cannot work).
pub fn parse_csv(text: &str, mapping: &CsvMapping, tlds: &TldSet) -> Result<ParsedValues, String> {
    mapping.check()?;
    let exclude = match &mapping.exclude_regex {
        Some(rust) => Some(
            compile_exclude(rust).map_err(|reason| format!("exclude_regex {rust:?} {reason}"))?,
        ),
        None => None,
    };
    let text = strip_bom(text);
    let mut collector = Collector::default();
    let mut records = Records::new(text, mapping.delimiter);
    let mut row: Vec<Cow<'_, str>> = Vec::new();
    let mut header_pending = mapping.skip_header;
    while let Some(line) = records.next_record(&mut row) {
        if header_pending {
            header_pending = false;
            continue;
        }
        let row = Row {
            line,
            cells: &row,
            mapping,
            exclude: exclude.as_ref(),
        };
        match row.declared_type() {
            Some(type_name) => row.typed(type_name, &mut collector),
            None => row.detected(tlds, &mut collector),
        }
    }
    Ok(collector.finish())
}

struct Row<'r, 'a> {
    line: usize,
    cells: &'r [Cow<'a, str>],
    mapping: &'r CsvMapping,
    exclude: Option<&'r Regex>,
}

impl Row<'_, '_> {
    fn cell(&self, column: Option<usize>) -> &str {
        column
            .and_then(|c| self.cells.get(c - 1))
            .map_or("", |v| php_trim(v))
    }

    fn declared_type(&self) -> Option<&str> {
        let name = self.cell(self.mapping.type_column);
        (!name.is_empty()).then_some(name)
    }

    fn is_value_column(&self, position: usize) -> bool {
        self.mapping.value_columns.is_empty()
            || self.mapping.value_columns.contains(&(position + 1))
    }

    fn excluded(&self, value: &str) -> bool {
        self.exclude.is_some_and(|re| re.is_match(value))
    }

    /// No declared type: each value cell is typed as a freetext token.
    fn detected(&self, tlds: &TldSet, collector: &mut Collector) {
        let row_comment = self.cell(self.mapping.comment_column);
        for (position, cell) in self.cells.iter().enumerate() {
            if !self.is_value_column(position) {
                continue;
            }
            let element = cell.trim_matches([' ', '\t', '\n', '\r', '\0', '\u{0B}', '"', '\'']);
            if element.is_empty() || self.excluded(element) {
                continue;
            }
            match classify(element, tlds) {
                Classification::Indicator {
                    attr_type,
                    value,
                    comment,
                } => {
                    let comment = join_comments(comment, row_comment);
                    collector.add_detected(self.line, attr_type, value, comment);
                }
                Classification::Invalid(reason) => collector.reject(self.line, element, reason),
                Classification::NotAnIndicator => {}
            }
        }
    }

    /// A declared MISP type: the row's value is normalised and validated for it.
    fn typed(&self, type_name: &str, collector: &mut Collector) {
        let Some(definition) = attribute_type(type_name) else {
            collector.reject(
                self.line,
                type_name,
                format!("unknown MISP attribute type \"{type_name}\""),
            );
            return;
        };
        let category = match self.cell(self.mapping.category_column) {
            "" => definition.default_category.to_string(),
            given => match check_category(definition.name, given) {
                Ok(()) => given.to_string(),
                Err(error) => {
                    collector.reject(self.line, given, error.message);
                    return;
                }
            },
        };
        let to_ids = match self.cell(self.mapping.to_ids_column) {
            "" => definition.to_ids,
            given => match parse_bool(given) {
                Some(flag) => flag,
                None => {
                    collector.reject(
                        self.line,
                        given,
                        "to_ids must be 1, 0, true, false, yes or no",
                    );
                    return;
                }
            },
        };
        let comment = self.cell(self.mapping.comment_column);
        for (position, cell) in self.cells.iter().enumerate() {
            if !self.is_value_column(position) {
                continue;
            }
            let raw = php_trim(cell);
            if self.excluded(raw) {
                continue;
            }
            match normalize_value(definition.name, raw) {
                Ok(normalized) => {
                    collector.add(DetectedValue {
                        line: self.line,
                        attr_type: definition.name.to_string(),
                        category: category.clone(),
                        value: normalized.joined(definition.name),
                        to_ids,
                        comment: comment.to_string(),
                    });
                }
                Err(error) => collector.reject(self.line, raw, error.message),
            }
        }
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    const TRUE: &[&str] = &["1", "true", "yes", "y", "t"];
    const FALSE: &[&str] = &["0", "false", "no", "n", "f"];
    if TRUE.iter().any(|t| text.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| text.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\u{0B}'])
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn header_name(cell: &str) -> String {
    cell.trim_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'')
        .to_ascii_lowercase()
        .replace([' ', '-'], "_")
}

/// A first row of column names: every cell a word (letters, digits, `_`, `-`, spaces) that
/// starts with a letter.
fn looks_like_header(cells: &[Cow<'_, str>]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|cell| {
            let cell = cell.trim();
            cell.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && cell
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' '))
        })
}

/// The candidate delimiter that splits the most of the first data lines into the same
/// number of fields.
fn sniff_delimiter(text: &str) -> u8 {
    const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];
    let sample: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .take(50)
        .collect();
    let mut best = (0usize, 0usize, b',');
    for candidate in CANDIDATES {
        let counts: Vec<usize> = sample
            .iter()
            .map(|line| count_outside_quotes(line, candidate))
            .collect();
        let Some(mode) = most_common_nonzero(&counts) else {
            continue;
        };
        let agreeing = counts.iter().filter(|&&c| c == mode).count();
        if (agreeing, mode) > (best.0, best.1) {
            best = (agreeing, mode, candidate);
        }
    }
    best.2
}

fn count_outside_quotes(line: &str, delimiter: u8) -> usize {
    let mut quoted = false;
    let mut count = 0;
    for &b in line.as_bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if b == delimiter && !quoted {
            count += 1;
        }
    }
    count
}

fn most_common_nonzero(counts: &[usize]) -> Option<usize> {
    let mut sorted: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
    sorted.sort_unstable();
    let mut best: Option<(usize, usize)> = None;
    for group in sorted.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(n, _)| group.len() > n) {
            best = Some((group.len(), group[0]));
        }
    }
    best.map(|(_, value)| value)
}

/// RFC 4180 records with the 1-based line each starts on; comment and blank lines skipped.
struct Records<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
    delimiter: u8,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, delimiter: u8) -> Self {
        Self {
            text,
            pos: 0,
            line: 1,
            delimiter,
        }
    }

    /// Fills `fields` with the next record and returns its line, or `None` at the end.
    fn next_record(&mut self, fields: &mut Vec<Cow<'a, str>>) -> Option<usize> {
        let text = self.text;
        let bytes = text.as_bytes();
        loop {
            if self.pos >= bytes.len() {
                return None;
            }
            let line_end = memchr(b'\n', bytes, self.pos).unwrap_or(bytes.len());
            let content = text[self.pos..line_end].trim_start();
            if content.trim_end().is_empty() || content.starts_with('#') {
                self.pos = line_end + 1;
                self.line += 1;
                continue;
            }
            break;
        }
        let start_line = self.line;
        fields.clear();
        loop {
            let (field, next) = self.field(self.pos);
            fields.push(field);
            match bytes.get(next) {
                None => {
                    self.pos = bytes.len();
                    return Some(start_line);
                }
                Some(&b) if b == self.delimiter => self.pos = next + 1,
                Some(_) => {
                    // A line feed (a carriage return before it was left out of the field).
                    self.pos = next + 1;
                    self.line += 1;
                    return Some(start_line);
                }
            }
        }
    }

    /// The field starting at `start`, and the position of the delimiter or line feed (or the
    /// end) after it.
    fn field(&mut self, start: usize) -> (Cow<'a, str>, usize) {
        let text = self.text;
        let bytes = text.as_bytes();
        let mut p = start;
        if self.delimiter != b' ' {
            while p < bytes.len()
                && (bytes[p] == b' ' || (bytes[p] == b'\t' && self.delimiter != b'\t'))
            {
                p += 1;
            }
        }
        if bytes.get(p) != Some(&b'"') {
            let end = self.unquoted_end(start);
            let mut field = &text[start..end];
            if bytes.get(end) == Some(&b'\n') {
                field = field.strip_suffix('\r').unwrap_or(field);
            }
            return (Cow::Borrowed(field), end);
        }
        let content_start = p + 1;
        let mut segment_start = content_start;
        let mut unescaped: Option<String> = None;
        let mut q = content_start;
        let value_end;
        loop {
            match memchr(b'"', bytes, q) {
                None => {
                    value_end = bytes.len();
                    q = bytes.len();
                    break;
                }
                Some(quote) if bytes.get(quote + 1) == Some(&b'"') => {
                    unescaped
                        .get_or_insert_with(String::new)
                        .push_str(&text[segment_start..=quote]);
                    segment_start = quote + 2;
                    q = quote + 2;
                }
                Some(quote) => {
                    value_end = quote;
                    q = quote + 1;
                    break;
                }
            }
        }
        self.line += bytes[content_start..value_end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        let mut field = match unescaped {
            None => Cow::Borrowed(&text[content_start..value_end]),
            Some(mut owned) => {
                owned.push_str(&text[segment_start..value_end]);
                Cow::Owned(owned)
            }
        };
        let end = self.unquoted_end(q);
        let trailing = text[q..end].trim_end_matches('\r');
        if !trailing.trim().is_empty() {
            field.to_mut().push_str(trailing);
        }
        (field, end)
    }

    fn unquoted_end(&self, from: usize) -> usize {
        let bytes = self.text.as_bytes();
        bytes[from..]
            .iter()
            .position(|&b| b == self.delimiter || b == b'\n')
            .map_or(bytes.len(), |i| from + i)
    }
}

fn memchr(needle: u8, haystack: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .iter()
        .position(|&b| b == needle)
        .map(|i| from + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tlds() -> TldSet {
        TldSet::new(["com", "net", "org", "info"].map(String::from))
    }

    fn values(parsed: &ParsedValues) -> Vec<(usize, &str, &str)> {
        parsed
            .values
            .iter()
            .map(|v| (v.line, v.attr_type.as_str(), v.value.as_str()))
            .collect()
    }

    #[test]
    fn feed_settings_map_columns_delimiter_and_exclusion() {
        let mapping = CsvMapping::from_misp_feed_settings(&json!({
            "csv": {"value": "1, 3", "delimiter": "\\t"},
            "common": {"excluderegex": "/^#.*|Threatview.*/i"}
        }))
        .unwrap();
        assert_eq!(mapping.value_columns, [1, 3]);
        assert_eq!(mapping.delimiter, b'\t');
        assert_eq!(
            mapping.exclude_regex.as_deref(),
            Some("(?i)^#.*|Threatview.*")
        );
        assert!(!mapping.skip_header);

        let empty = CsvMapping::from_misp_feed_settings(&json!({
            "csv": {"value": "", "delimiter": ""}, "common": {"excluderegex": ""}
        }))
        .unwrap();
        assert_eq!(empty, CsvMapping::default());
        assert_eq!(
            CsvMapping::from_misp_feed_settings(&json!(null)).unwrap(),
            CsvMapping::default()
        );

        // As stored by some MISP instances: the settings object encoded twice.
        let doubled =
            json!("\"{\\\"csv\\\":{\\\"value\\\":\\\"2\\\",\\\"delimiter\\\":\\\"|\\\"}}\"");
        let mapping = CsvMapping::from_misp_feed_settings(&doubled).unwrap();
        assert_eq!((mapping.value_columns, mapping.delimiter), (vec![2], b'|'));

        let array =
            CsvMapping::from_misp_feed_settings(&json!({"csv": {"value": [1, "4"]}})).unwrap();
        assert_eq!(array.value_columns, [1, 4]);
    }

    #[test]
    fn feed_settings_errors_name_the_field() {
        let cases = [
            (json!({"csv": {"value": "a"}}), "settings.csv.value"),
            (json!({"csv": {"value": "0"}}), "numbered from 1"),
            (
                json!({"csv": {"delimiter": "##"}}),
                "settings.csv.delimiter",
            ),
            (
                json!({"csv": {"delimiter": "\""}}),
                "settings.csv.delimiter",
            ),
            (
                json!({"common": {"excluderegex": "^10\\."}}),
                "between delimiters",
            ),
            (
                json!({"common": {"excluderegex": "/(?=x)/"}}),
                "look-around",
            ),
            (
                json!({"common": {"excluderegex": "/x"}}),
                "no ending delimiter",
            ),
            (
                json!({"common": {"excluderegex": "/a/b/i"}}),
                "modifier 'b'",
            ),
            (json!("not json"), "settings"),
            (json!([1]), "JSON object"),
        ];
        for (settings, expected) in cases {
            let error = CsvMapping::from_misp_feed_settings(&settings).unwrap_err();
            assert!(error.contains(expected), "{settings}: {error}");
        }
    }

    #[test]
    fn pcre_patterns_convert() {
        let cases = [
            (
                "/^http:\\/\\/www.phishtank.com/i",
                "(?i)^http:\\/\\/www.phishtank.com",
            ),
            ("#^https?://x#", "^https?://x"),
            ("{a(b)c}x", "(?x)a(b)c"),
            ("/abc/A", "\\A(?:abc)"),
            ("/abc/imsu", "(?ims)abc"),
            ("  ~a~D", "a"),
        ];
        for (pcre, rust) in cases {
            assert_eq!(misp_regex_to_rust(pcre).as_deref(), Ok(rust), "{pcre}");
        }
    }

    #[test]
    fn every_column_by_default_and_comments_skipped() {
        let mapping = CsvMapping::default();
        let csv = "# Downloaded from 1.1.1.1\n\n127.0.0.1\n\"127.0.0.2\"\n";
        let parsed = parse_csv(csv, &mapping, &tlds()).unwrap();
        assert_eq!(
            values(&parsed),
            [(3, "ip-dst", "127.0.0.1"), (4, "ip-dst", "127.0.0.2")]
        );
        let empty = parse_csv(",,,\t\n,,,,,", &mapping, &tlds()).unwrap();
        assert_eq!(empty, ParsedValues::default());
    }

    #[test]
    fn tab_delimited_with_selected_columns() {
        let tab = CsvMapping {
            delimiter: b'\t',
            ..CsvMapping::default()
        };
        let csv = "###\n# Downloaded from 1.1.1.1\n###\n127.0.0.1\t127.0.0.3\n\"127.0.0.2\"\n   58.214.25.190\n   58.214.239.53\n";
        assert_eq!(parse_csv(csv, &tab, &tlds()).unwrap().values.len(), 5);
        let first = CsvMapping {
            value_columns: vec![1],
            ..tab
        };
        let parsed = parse_csv(
            "127.0.0.1\t127.0.0.2\n127.0.0.3\t127.0.0.4",
            &first,
            &tlds(),
        )
        .unwrap();
        assert_eq!(
            values(&parsed),
            [(1, "ip-dst", "127.0.0.1"), (2, "ip-dst", "127.0.0.3")]
        );
    }

    #[test]
    fn quoted_fields_follow_rfc_4180() {
        let mapping = CsvMapping {
            value_columns: vec![2],
            comment_column: Some(3),
            ..CsvMapping::default()
        };
        let csv = "a,\"evil.com\",\"says \"\"hi\"\", twice\"\n\
                   b,\"http://x.com/a,b\",\"two\nlines\"\n\
                   c, \"1.2.3.4\" ,plain\r\n\
                   d,bad.256.1.1.1,\n";
        let parsed = parse_csv(csv, &mapping, &tlds()).unwrap();
        let got: Vec<(usize, &str, &str)> = parsed
            .values
            .iter()
            .map(|v| (v.line, v.value.as_str(), v.comment.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "evil.com", "says \"hi\", twice"),
                (2, "http://x.com/a,b", "two\nlines"),
                (4, "1.2.3.4", "plain"),
            ]
        );
        assert!(parsed.rejected.is_empty());
        let rejected = parse_csv("x,256.1.1.1\n", &mapping, &tlds()).unwrap();
        assert_eq!(rejected.rejected.len(), 1);
        assert_eq!(rejected.rejected[0].location, "line 1");
        assert_eq!(rejected.rejected[0].item, "256.1.1.1");
    }

    #[test]
    fn exclusion_regex_applies_to_values() {
        let mapping = CsvMapping {
            exclude_regex: Some(misp_regex_to_rust("/^10\\./").unwrap()),
            ..CsvMapping::default()
        };
        let parsed = parse_csv("10.0.0.1,11.0.0.1\n", &mapping, &tlds()).unwrap();
        assert_eq!(values(&parsed), [(1, "ip-dst", "11.0.0.1")]);
        let broken = CsvMapping {
            exclude_regex: Some("(".into()),
            ..CsvMapping::default()
        };
        assert!(
            parse_csv("x", &broken, &tlds())
                .unwrap_err()
                .contains("exclude_regex")
        );
        let zero = CsvMapping {
            value_columns: vec![0],
            ..CsvMapping::default()
        };
        assert!(
            parse_csv("x", &zero, &tlds())
                .unwrap_err()
                .contains("numbered from 1")
        );
    }

    const MISP_EXPORT: &str = "uuid,event_id,category,type,value,comment,to_ids,date,object_relation,attribute_tag,object_uuid,object_name,object_meta_category\n\
        5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7b,12,Network activity,ip-dst,198.51.100.7,C2,1,1700000000,,,,,\n\
        5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7c,12,Payload delivery,filename|md5,\"a,b.exe|9E107D9D372BB6826BD81D3542A419D6\",,0,1700000000,,,,,\n\
        5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7d,12,External analysis,hostname,WWW.Example.com,,1,1700000000,,,,,\n\
        5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7e,12,Payload delivery,md5,not-a-hash,,1,1700000000,,,,,\n\
        5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a7f,12,Network activity,sha1,da39a3ee5e6b4b0d3255bfef95601890afd80709,,1,1700000000,,,,,\n\
        5f1c9b3e-7a2d-4c8e-9b1a-2d3c4e5f6a80,12,Network activity,ip-dst,198.51.100.7,again,1,1700000000,,,,,\n";

    #[test]
    fn misp_csv_export_is_mapped_by_its_header() {
        let mapping = CsvMapping::detect(MISP_EXPORT);
        assert_eq!(
            mapping,
            CsvMapping {
                value_columns: vec![5],
                delimiter: b',',
                type_column: Some(4),
                category_column: Some(3),
                comment_column: Some(6),
                to_ids_column: Some(7),
                exclude_regex: None,
                skip_header: true,
            }
        );
        let parsed = parse_csv(MISP_EXPORT, &mapping, &tlds()).unwrap();
        let got: Vec<(usize, &str, &str, &str, bool, &str)> = parsed
            .values
            .iter()
            .map(|v| {
                (
                    v.line,
                    v.attr_type.as_str(),
                    v.category.as_str(),
                    v.value.as_str(),
                    v.to_ids,
                    v.comment.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (2, "ip-dst", "Network activity", "198.51.100.7", true, "C2"),
                (
                    3,
                    "filename|md5",
                    "Payload delivery",
                    "a,b.exe|9e107d9d372bb6826bd81d3542a419d6",
                    false,
                    ""
                ),
                (
                    4,
                    "hostname",
                    "External analysis",
                    "www.example.com",
                    true,
                    ""
                ),
            ]
        );
        assert_eq!(parsed.duplicates, 1);
        let rejected: Vec<(&str, &str)> = parsed
            .rejected
            .iter()
            .map(|r| (r.location.as_str(), r.item.as_str()))
            .collect();
        // md5 "not-a-hash" is invalid; sha1 may not be filed under "Network activity".
        assert_eq!(
            rejected,
            [("line 5", "not-a-hash"), ("line 6", "Network activity")]
        );
        assert!(parsed.rejected[1].reason.contains("does not allow"));
    }

    #[test]
    fn unknown_types_and_bad_flags_reject_the_row() {
        let csv = "value,type,first_seen,last_seen,to_ids\n\
                   evil.com,domain,2024-01-01,,1\n\
                   1.2.3.4,ip-dst,,,maybe\n";
        let mapping = CsvMapping::detect(csv);
        assert_eq!(mapping.type_column, Some(2));
        assert_eq!(mapping.to_ids_column, None, "\"maybe\" is no boolean");
        let mapping = CsvMapping {
            to_ids_column: Some(5),
            ..mapping
        };
        let parsed = parse_csv(csv, &mapping, &tlds()).unwrap();
        assert_eq!(values(&parsed), [(2, "domain", "evil.com")]);
        assert_eq!(parsed.rejected[0].item, "maybe");

        let unknown = "value,type\nx,no-such-type\n1.2.3.4,ip-src\n";
        let mapping = CsvMapping {
            value_columns: vec![1],
            type_column: Some(2),
            skip_header: true,
            ..CsvMapping::default()
        };
        let parsed = parse_csv(unknown, &mapping, &tlds()).unwrap();
        assert_eq!(values(&parsed), [(3, "ip-src", "1.2.3.4")]);
        assert_eq!(parsed.rejected.len(), 1);
        assert!(
            parsed.rejected[0]
                .reason
                .contains("unknown MISP attribute type")
        );
    }

    #[test]
    fn hunting_list_header() {
        let csv = "value,type,first_seen,last_seen,to_ids\nevil.com,domain,2024-01-01,,1\n1.2.3.4,ip-dst,,,0\n";
        let mapping = CsvMapping::detect(csv);
        assert_eq!(
            (
                mapping.value_columns.clone(),
                mapping.type_column,
                mapping.to_ids_column
            ),
            (vec![1], Some(2), Some(5))
        );
        let parsed = parse_csv(csv, &mapping, &tlds()).unwrap();
        assert_eq!(
            values(&parsed),
            [(2, "domain", "evil.com"), (3, "ip-dst", "1.2.3.4")]
        );
        assert!(!parsed.values[1].to_ids);
    }

    #[test]
    fn header_with_non_misp_types_is_typed_by_detection() {
        let csv = "\u{feff}type,indicator,classification,detected_date\n\
                   domain,ac101[.]net,malware,2025-04-24\n\
                   ip,5[.]252[.]176[.]63,malware,2023-04-12\n";
        let mapping = CsvMapping::detect(csv);
        assert_eq!(mapping.value_columns, [2]);
        assert_eq!(mapping.type_column, None);
        assert!(mapping.skip_header);
        let parsed = parse_csv(csv, &mapping, &tlds()).unwrap();
        assert_eq!(
            values(&parsed),
            [(2, "domain", "ac101.net"), (3, "ip-dst", "5.252.176.63")]
        );
    }

    #[test]
    fn delimiter_is_sniffed() {
        assert_eq!(CsvMapping::detect("a;b;c\n1;2;3\n").delimiter, b';');
        assert_eq!(CsvMapping::detect("a\tb\n1\t2\n").delimiter, b'\t');
        assert_eq!(
            CsvMapping::detect("1|2|evil.com\n3|4|x.org\n").delimiter,
            b'|'
        );
        assert_eq!(CsvMapping::detect("1.2.3.4\n5.6.7.8\n").delimiter, b',');
        assert_eq!(CsvMapping::detect("\"a;b\",c\n\"d;e\",f\n").delimiter, b',');
        let plain = CsvMapping::detect("1.2.3.4\n5.6.7.8\n");
        assert!(plain.value_columns.is_empty() && !plain.skip_header);
        let feodo =
            CsvMapping::detect("# x\n\"first_seen_utc\",\"dst_ip\"\n\"2024-01-01\",\"1.2.3.4\"\n");
        assert!(feodo.value_columns.is_empty() && feodo.skip_header);
    }
}
