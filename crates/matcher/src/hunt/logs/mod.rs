//! Log line parsers (hunt-semantics §2): each splits a line into named field values and
//! reads its timestamp. A line that does not fit its format yields nothing.

use super::index::{Micros, ValueForm};

/// A log format `kizuna hunt --format` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Zeek TSV with `#separator` / `#fields` / `#types` headers (§2.1).
    ZeekTsv,
    /// Zeek JSON: one object per line, every string a value, `ts` the time (§2.2).
    ZeekJson,
    /// Generic JSON lines: like Zeek JSON, with configurable timestamp and value fields.
    JsonLines,
    /// Squid native access.log (§2.4).
    Squid,
    /// Apache/nginx common and combined (§2.3).
    Combined,
    /// sshd and other auth lines in syslog (RFC 3164 or RFC 5424/ISO timestamps).
    Syslog,
    /// CSV with a header row; every column a field.
    Csv,
}

impl LogFormat {
    /// The `--format` name: zeek, zeek-json, jsonl, squid, combined, syslog, csv.
    pub fn name(self) -> &'static str {
        unimplemented!("helper B")
    }

    /// Parses a `--format` name (not `auto`).
    pub fn from_name(name: &str) -> Option<LogFormat> {
        let _ = name;
        unimplemented!("helper B")
    }
}

/// Settings for the formats that need them.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    /// JSON lines: the fields holding the time, tried in order (empty = `ts`, `timestamp`,
    /// `@timestamp`, `time`).
    pub json_time_fields: Vec<String>,
    /// JSON lines: only these fields (dotted paths) are values (empty = every string).
    pub json_value_fields: Vec<String>,
    /// Syslog lines carry no year (RFC 3164); this one is assumed (None = the current year).
    pub syslog_year: Option<i32>,
}

/// What a line turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineOutcome {
    /// A data line; its values were reported. `ts` is None when it had no parsable time.
    Data { ts: Option<Micros> },
    /// A header or comment line (Zeek `#…`, the CSV header row).
    Header,
    /// Empty or whitespace only.
    Blank,
    /// Does not fit the format (also: not UTF-8 where text was needed); no values.
    Malformed,
}

/// The format of a file from its first non-empty line (§2 "The format of a file…"), or None
/// when no format fits.
pub fn detect_format(first_non_empty_line: &[u8]) -> Option<LogFormat> {
    let _ = first_non_empty_line;
    unimplemented!("helper B")
}

/// An ISO 8601 date-time (`2026-03-02T00:00:10.5Z`, `±hh:mm` offsets, a space instead of
/// `T`, no offset = UTC; a bare date is midnight UTC) in microseconds since the epoch; digits
/// beyond microseconds are truncated. Used for log timestamps and for IoC windows.
pub fn parse_iso8601_micros(text: &str) -> Option<Micros> {
    let _ = text;
    unimplemented!("helper B")
}

/// A parser for one file's lines; `Clone` so that scanning threads can start from the state
/// (Zeek headers, CSV columns) in force at their chunk.
#[derive(Clone, Debug)]
pub struct LineParser {}

impl LineParser {
    pub fn new(format: LogFormat, options: &LogOptions) -> Self {
        let _ = (format, options);
        unimplemented!("helper B")
    }

    pub fn format(&self) -> LogFormat {
        unimplemented!("helper B")
    }

    /// Parses one line (without its `\n`; a trailing `\r` is ignored) and calls
    /// `on_value(field, value, form)` for each field value, in line order.
    pub fn parse_line<F: FnMut(&str, &str, ValueForm)>(
        &mut self,
        line: &[u8],
        on_value: F,
    ) -> LineOutcome {
        let _ = (line, on_value);
        unimplemented!("helper B")
    }
}
