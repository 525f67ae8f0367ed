//! CSV with a header row (RFC 4180 quoting): the first non-blank line names the columns,
//! every non-empty cell of a later row is a value of its column. The time is the first of
//! the columns `ts`, `timestamp`, `@timestamp`, `time`, `date`, `datetime` (any case) that
//! exists, as epoch seconds or ISO 8601.
//!
//! Records are lines: a quoted cell cannot span lines here, so such a record does not
//! parse.

use super::super::index::ValueForm;
use super::time::parse_text_timestamp;
use super::{Line, LineOutcome, is_space, strip_line_end};

const TIME_COLUMNS: [&str; 6] = ["ts", "timestamp", "@timestamp", "time", "date", "datetime"];

#[derive(Clone, Debug, Default)]
pub(crate) struct CsvParser {
    columns: Option<Vec<String>>,
    time_column: Option<usize>,
    cell: Vec<u8>,
}

/// The row does not fit RFC 4180.
struct Invalid;

enum Cell {
    /// These bytes of the line, as written.
    Raw(usize, usize),
    /// Quoted with `""` inside: unquoted into the scratch buffer.
    Decoded,
}

/// Reads the cell at `start`: the cell and where the next one starts (None after the last).
fn read_cell(
    bytes: &[u8],
    start: usize,
    scratch: &mut Vec<u8>,
) -> Result<(Cell, Option<usize>), Invalid> {
    let after = |end: usize| match bytes.get(end) {
        None => Ok(None),
        Some(b',') => Ok(Some(end + 1)),
        Some(_) => Err(Invalid),
    };
    if bytes.get(start) != Some(&b'"') {
        let end = memchr::memchr(b',', &bytes[start..]).map_or(bytes.len(), |comma| start + comma);
        return Ok((Cell::Raw(start, end), after(end)?));
    }
    let content = start + 1;
    let mut position = content;
    let mut decoded = false;
    loop {
        let quote = position + memchr::memchr(b'"', &bytes[position..]).ok_or(Invalid)?;
        if bytes.get(quote + 1) == Some(&b'"') {
            if !decoded {
                scratch.clear();
                decoded = true;
            }
            scratch.extend_from_slice(&bytes[position..=quote]);
            position = quote + 2;
            continue;
        }
        let next = after(quote + 1)?;
        if decoded {
            scratch.extend_from_slice(&bytes[position..quote]);
            return Ok((Cell::Decoded, next));
        }
        return Ok((Cell::Raw(content, quote), next));
    }
}

/// Every cell of a row as text (lossy: column names only).
fn cells_lossy(bytes: &[u8]) -> Result<Vec<String>, Invalid> {
    let mut scratch = Vec::new();
    let mut cells = Vec::new();
    let mut start = Some(0);
    while let Some(position) = start {
        let (cell, next) = read_cell(bytes, position, &mut scratch)?;
        let text = match cell {
            Cell::Raw(from, to) => &bytes[from..to],
            Cell::Decoded => &scratch[..],
        };
        cells.push(String::from_utf8_lossy(text).into_owned());
        start = next;
    }
    Ok(cells)
}

impl CsvParser {
    pub(crate) fn parse(
        &mut self,
        line: Line<'_>,
        on_value: &mut impl FnMut(&str, &str, ValueForm),
    ) -> LineOutcome {
        let Some(columns) = &self.columns else {
            return if self.set_header(line.bytes) {
                LineOutcome::Header
            } else {
                LineOutcome::Malformed
            };
        };
        let bytes = line.bytes;
        let mut ts = None;
        let mut index = 0;
        let mut start = Some(0);
        while let Some(position) = start {
            let Some(column) = columns.get(index) else {
                return LineOutcome::Malformed;
            };
            let Ok((cell, next)) = read_cell(bytes, position, &mut self.cell) else {
                return LineOutcome::Malformed;
            };
            let text = match cell {
                Cell::Raw(from, to) => line.text(from, to),
                Cell::Decoded => std::str::from_utf8(&self.cell).ok(),
            };
            if let Some(text) = text.filter(|text| !text.is_empty()) {
                if self.time_column == Some(index) {
                    ts = parse_text_timestamp(text);
                }
                on_value(column, text, ValueForm::Plain);
            }
            index += 1;
            start = next;
        }
        if index != columns.len() {
            return LineOutcome::Malformed;
        }
        LineOutcome::Data { ts }
    }

    fn set_header(&mut self, bytes: &[u8]) -> bool {
        let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
        let Ok(columns) = cells_lossy(bytes) else {
            return false;
        };
        self.time_column = TIME_COLUMNS.iter().find_map(|wanted| {
            columns
                .iter()
                .position(|column| column.eq_ignore_ascii_case(wanted))
        });
        self.columns = Some(columns);
        true
    }

    /// Takes the header row from `block` (whole lines) if it has not been seen yet.
    pub(crate) fn apply_header_row(&mut self, block: &[u8]) {
        for line in block.split(|&byte| byte == b'\n') {
            if self.columns.is_some() {
                return;
            }
            let line = strip_line_end(line);
            if !line.iter().all(|&byte| is_space(byte)) {
                self.set_header(line);
            }
        }
    }
}

/// A row of at least two column names: each (optionally quoted) made of letters, digits,
/// `_ . @ -` and holding a letter.
pub(crate) fn looks_like_header(line: &[u8]) -> bool {
    let line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
    let Ok(names) = cells_lossy(line) else {
        return false;
    };
    names.len() >= 2
        && names.iter().all(|name| {
            name.bytes().any(|byte| byte.is_ascii_alphabetic())
                && name.bytes().all(|byte| {
                    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'@' | b'-')
                })
        })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{owned, pairs, values};
    use super::super::{LineOutcome, LineParser, LogFormat, LogOptions};

    fn parser_with_header(header: &str) -> LineParser {
        let mut parser = LineParser::new(LogFormat::Csv, &LogOptions::default());
        assert_eq!(values(&mut parser, "").0, LineOutcome::Blank);
        assert_eq!(values(&mut parser, header).0, LineOutcome::Header);
        parser
    }

    #[test]
    fn header_names_fields_and_every_cell_is_a_value() {
        let mut parser = parser_with_header("\u{feff}Timestamp,src,\"dst host\",note");
        let line = "2026-03-02T00:00:00Z,1.2.3.4,\"evil.com\",\"a, \"\"quoted\"\" b\"";
        assert_eq!(
            pairs(&mut parser, line),
            owned(&[
                ("Timestamp", "2026-03-02T00:00:00Z"),
                ("src", "1.2.3.4"),
                ("dst host", "evil.com"),
                ("note", "a, \"quoted\" b"),
            ])
        );
        assert_eq!(
            values(&mut parser, line).0,
            LineOutcome::Data {
                ts: Some(1_772_409_600_000_000)
            }
        );
        assert_eq!(
            pairs(&mut parser, ",,\"\",x.example"),
            owned(&[("note", "x.example")])
        );
    }

    #[test]
    fn epoch_times_and_time_column_priority() {
        let mut parser = parser_with_header("date,ts,value");
        assert_eq!(
            values(&mut parser, "2020-01-01,1.5,x").0,
            LineOutcome::Data {
                ts: Some(1_500_000)
            }
        );
        let mut parser = parser_with_header("value,DATE");
        assert_eq!(
            values(&mut parser, "x,1970-01-02").0,
            LineOutcome::Data {
                ts: Some(86_400_000_000)
            }
        );
        let mut parser = parser_with_header("value,other");
        assert_eq!(values(&mut parser, "x,1").0, LineOutcome::Data { ts: None });
    }

    #[test]
    fn rows_that_do_not_fit() {
        let mut parser = parser_with_header("a,b");
        for bad in ["x", "x,y,z", "\"x,y", "\"x\"y,z", "x,\"y\" "] {
            let (outcome, _) = values(&mut parser, bad);
            assert_eq!(outcome, LineOutcome::Malformed, "{bad}");
        }
        // An unquoted cell keeps stray quotes as written.
        assert_eq!(
            pairs(&mut parser, "x\"y,z"),
            owned(&[("a", "x\"y"), ("b", "z")])
        );
    }

    #[test]
    fn header_row_from_a_block() {
        let mut parser = LineParser::new(LogFormat::Csv, &LogOptions::default());
        parser.apply_state_lines(b"\r\n\nts,query\r\n1,a.example\n");
        assert_eq!(
            pairs(&mut parser, "2,b.example"),
            owned(&[("ts", "2"), ("query", "b.example")])
        );
        // Once set, later blocks do not change it.
        parser.apply_state_lines(b"x,y\n");
        assert_eq!(
            pairs(&mut parser, "3,c.example"),
            owned(&[("ts", "3"), ("query", "c.example")])
        );
    }
}
