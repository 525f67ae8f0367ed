//! Zeek JSON and generic JSON lines (hunt-semantics §2.2): a line is a record only when it
//! is one complete JSON object; every string in it is a value, named by its dotted key
//! path. One pass over the bytes, no tree: strings are reported as they are met, and the
//! caller discards them if the line turns out not to be valid JSON.

use super::super::index::{Micros, ValueForm};
use super::time::{parse_number_seconds, parse_text_timestamp};
use super::{Line, LineOutcome, LogOptions};

#[derive(Clone, Debug)]
pub(crate) struct JsonParser {
    /// Dotted paths whose value is the time, in order of preference.
    time_fields: Vec<String>,
    /// Dotted paths whose strings are values; empty = every string.
    value_fields: Vec<String>,
    /// The time found for each of `time_fields` on the current line.
    times_found: Vec<Option<Micros>>,
    path: String,
    string: Vec<u8>,
    stack: Vec<Frame>,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    in_array: bool,
    /// Length of `path` at the container: the container's own field name.
    path_len: usize,
}

/// The line does not parse as one JSON object.
struct Invalid;

const DEFAULT_TIME_FIELDS: [&str; 4] = ["ts", "timestamp", "@timestamp", "time"];

impl JsonParser {
    pub(crate) fn zeek() -> Self {
        Self::with_fields(vec!["ts".to_owned()], Vec::new())
    }

    pub(crate) fn json_lines(options: &LogOptions) -> Self {
        let time_fields = if options.json_time_fields.is_empty() {
            DEFAULT_TIME_FIELDS
                .iter()
                .map(|name| name.to_string())
                .collect()
        } else {
            options.json_time_fields.clone()
        };
        Self::with_fields(time_fields, options.json_value_fields.clone())
    }

    fn with_fields(time_fields: Vec<String>, value_fields: Vec<String>) -> Self {
        JsonParser {
            times_found: vec![None; time_fields.len()],
            time_fields,
            value_fields,
            path: String::new(),
            string: Vec::new(),
            stack: Vec::new(),
        }
    }

    pub(crate) fn parse(
        &mut self,
        line: Line<'_>,
        on_value: &mut impl FnMut(&str, &str, ValueForm),
    ) -> LineOutcome {
        self.path.clear();
        self.stack.clear();
        self.times_found.iter_mut().for_each(|time| *time = None);
        match self.parse_object_line(line, on_value) {
            Ok(()) => LineOutcome::Data {
                ts: self.times_found.iter().find_map(|time| *time),
            },
            Err(Invalid) => LineOutcome::Malformed,
        }
    }

    fn parse_object_line(
        &mut self,
        line: Line<'_>,
        on_value: &mut impl FnMut(&str, &str, ValueForm),
    ) -> Result<(), Invalid> {
        let bytes = line.bytes;
        let mut cursor = skip_whitespace(bytes, 0);
        if bytes.get(cursor) != Some(&b'{') {
            return Err(Invalid);
        }
        cursor += 1;
        self.stack.push(Frame {
            in_array: false,
            path_len: 0,
        });
        // Right after `{` or `[`: the container may close at once.
        let mut at_container_start = true;
        while let Some(&frame) = self.stack.last() {
            cursor = skip_whitespace(bytes, cursor);
            if at_container_start {
                at_container_start = false;
                let closing = if frame.in_array { b']' } else { b'}' };
                if bytes.get(cursor) == Some(&closing) {
                    cursor = self.close_container(cursor);
                    continue;
                }
            } else {
                match bytes.get(cursor) {
                    Some(b',') => cursor = skip_whitespace(bytes, cursor + 1),
                    Some(b']') if frame.in_array => {
                        cursor = self.close_container(cursor);
                        continue;
                    }
                    Some(b'}') if !frame.in_array => {
                        cursor = self.close_container(cursor);
                        continue;
                    }
                    _ => return Err(Invalid),
                }
            }
            if !frame.in_array {
                cursor = self.read_key(line, cursor, frame.path_len)?;
                cursor = skip_whitespace(bytes, cursor);
                if bytes.get(cursor) != Some(&b':') {
                    return Err(Invalid);
                }
                cursor = skip_whitespace(bytes, cursor + 1);
            }
            // A value: the key's path for an object member, the array's path for an element.
            let member_of_object = !frame.in_array;
            match bytes.get(cursor) {
                Some(b'"') => {
                    let (end, span) = self.read_string(line, cursor)?;
                    let text = match span {
                        StringSpan::Raw(start, stop) => line.text(start, stop),
                        StringSpan::Decoded => std::str::from_utf8(&self.string).ok(),
                        StringSpan::NotText => None,
                    };
                    if let Some(text) = text {
                        if member_of_object {
                            note_time(&self.time_fields, &self.path, &mut self.times_found, || {
                                parse_text_timestamp(text)
                            });
                        }
                        if is_value_field(&self.value_fields, &self.path) {
                            on_value(&self.path, text, ValueForm::Plain);
                        }
                    }
                    cursor = end;
                }
                Some(b'{' | b'[') => {
                    self.stack.push(Frame {
                        in_array: bytes[cursor] == b'[',
                        path_len: self.path.len(),
                    });
                    at_container_start = true;
                    cursor += 1;
                }
                Some(b'-' | b'0'..=b'9') => {
                    let end = number_end(bytes, cursor)?;
                    if member_of_object {
                        let number = &bytes[cursor..end];
                        note_time(&self.time_fields, &self.path, &mut self.times_found, || {
                            parse_number_seconds(number)
                        });
                    }
                    cursor = end;
                }
                Some(b't') => cursor = literal_end(bytes, cursor, b"true")?,
                Some(b'f') => cursor = literal_end(bytes, cursor, b"false")?,
                Some(b'n') => cursor = literal_end(bytes, cursor, b"null")?,
                _ => return Err(Invalid),
            }
        }
        if skip_whitespace(bytes, cursor) != bytes.len() {
            return Err(Invalid);
        }
        Ok(())
    }

    /// Pops the container whose closing bracket is at `cursor`; the path goes back to the
    /// container's own field, which an enclosing array's next element needs.
    fn close_container(&mut self, cursor: usize) -> usize {
        if let Some(frame) = self.stack.pop() {
            self.path.truncate(frame.path_len);
        }
        cursor + 1
    }

    /// Reads an object key at `cursor` and makes `path` the member's dotted path.
    fn read_key(
        &mut self,
        line: Line<'_>,
        cursor: usize,
        parent_len: usize,
    ) -> Result<usize, Invalid> {
        if line.bytes.get(cursor) != Some(&b'"') {
            return Err(Invalid);
        }
        let (end, span) = self.read_string(line, cursor)?;
        self.path.truncate(parent_len);
        if parent_len > 0 {
            self.path.push('.');
        }
        // A key that is not text still names its field, as well as it can.
        match span {
            StringSpan::Raw(start, stop) => self
                .path
                .push_str(&String::from_utf8_lossy(&line.bytes[start..stop])),
            StringSpan::Decoded | StringSpan::NotText => {
                self.path.push_str(&String::from_utf8_lossy(&self.string))
            }
        }
        Ok(end)
    }

    /// Reads the string whose opening quote is at `cursor`: the position after its closing
    /// quote and where its text is.
    fn read_string(
        &mut self,
        line: Line<'_>,
        cursor: usize,
    ) -> Result<(usize, StringSpan), Invalid> {
        let bytes = line.bytes;
        let start = cursor + 1;
        let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[start..]) else {
            return Err(Invalid);
        };
        let stop = start + offset;
        if bytes[stop] == b'"' {
            if bytes[start..stop].iter().any(|&byte| byte < 0x20) {
                return Err(Invalid);
            }
            return Ok((stop + 1, StringSpan::Raw(start, stop)));
        }
        // Escapes: decode into the scratch buffer.
        self.string.clear();
        let mut valid = true;
        let mut position = start;
        loop {
            let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[position..]) else {
                return Err(Invalid);
            };
            let stop = position + offset;
            let plain = &bytes[position..stop];
            if plain.iter().any(|&byte| byte < 0x20) {
                return Err(Invalid);
            }
            self.string.extend_from_slice(plain);
            if bytes[stop] == b'"' {
                position = stop + 1;
                break;
            }
            let escape = *bytes.get(stop + 1).ok_or(Invalid)?;
            position = stop + 2;
            let decoded = match escape {
                b'"' => b'"',
                b'\\' => b'\\',
                b'/' => b'/',
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'u' => {
                    let unit = hex4(bytes, position)?;
                    position += 4;
                    let scalar = if (0xD800..0xDC00).contains(&unit)
                        && bytes.get(position) == Some(&b'\\')
                        && bytes.get(position + 1) == Some(&b'u')
                    {
                        let low = hex4(bytes, position + 2)?;
                        if (0xDC00..0xE000).contains(&low) {
                            position += 6;
                            Some(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        } else {
                            None
                        }
                    } else {
                        Some(unit)
                    };
                    match scalar.and_then(char::from_u32) {
                        Some(character) => {
                            let mut utf8 = [0u8; 4];
                            self.string
                                .extend_from_slice(character.encode_utf8(&mut utf8).as_bytes());
                        }
                        None => valid = false,
                    }
                    continue;
                }
                _ => return Err(Invalid),
            };
            self.string.push(decoded);
        }
        let span = if valid {
            StringSpan::Decoded
        } else {
            StringSpan::NotText
        };
        Ok((position, span))
    }
}

/// Where a string's text is.
enum StringSpan {
    /// Without escapes: these bytes of the line.
    Raw(usize, usize),
    /// Decoded into the scratch buffer (which may still not be UTF-8).
    Decoded,
    /// Holds an unpaired surrogate escape: valid JSON, but never text, so never a value.
    NotText,
}

fn is_value_field(value_fields: &[String], path: &str) -> bool {
    value_fields.is_empty() || value_fields.iter().any(|field| field == path)
}

/// Records the time when `path` is one of the time fields (the last occurrence of a field
/// on the line wins, as a JSON object keeps its last duplicate).
fn note_time(
    time_fields: &[String],
    path: &str,
    times_found: &mut [Option<Micros>],
    parse: impl FnOnce() -> Option<Micros>,
) {
    if let Some(slot) = time_fields.iter().position(|field| field == path) {
        times_found[slot] = parse();
    }
}

fn hex4(bytes: &[u8], at: usize) -> Result<u32, Invalid> {
    let digits = bytes.get(at..at + 4).ok_or(Invalid)?;
    let mut value = 0;
    for &digit in digits {
        value = value * 16 + char::from(digit).to_digit(16).ok_or(Invalid)?;
    }
    Ok(value)
}

fn skip_whitespace(bytes: &[u8], mut cursor: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = bytes.get(cursor) {
        cursor += 1;
    }
    cursor
}

fn literal_end(bytes: &[u8], cursor: usize, literal: &[u8]) -> Result<usize, Invalid> {
    if bytes[cursor..].starts_with(literal) {
        Ok(cursor + literal.len())
    } else {
        Err(Invalid)
    }
}

/// The end of the JSON number at `cursor`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number_end(bytes: &[u8], mut cursor: usize) -> Result<usize, Invalid> {
    let digits_from = |from: usize| {
        bytes[from.min(bytes.len())..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count()
    };
    if bytes.get(cursor) == Some(&b'-') {
        cursor += 1;
    }
    match bytes.get(cursor) {
        Some(b'0') => cursor += 1,
        Some(b'1'..=b'9') => cursor += digits_from(cursor),
        _ => return Err(Invalid),
    }
    if bytes.get(cursor) == Some(&b'.') {
        let count = digits_from(cursor + 1);
        if count == 0 {
            return Err(Invalid);
        }
        cursor += 1 + count;
    }
    if let Some(b'e' | b'E') = bytes.get(cursor) {
        cursor += 1;
        if let Some(b'+' | b'-') = bytes.get(cursor) {
            cursor += 1;
        }
        let count = digits_from(cursor);
        if count == 0 {
            return Err(Invalid);
        }
        cursor += count;
    }
    Ok(cursor)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{owned, pairs, values};
    use super::super::{LineOutcome, LineParser, LogFormat, LogOptions};

    fn zeek() -> LineParser {
        LineParser::new(LogFormat::ZeekJson, &LogOptions::default())
    }

    fn outcome(parser: &mut LineParser, line: &str) -> LineOutcome {
        values(parser, line).0
    }

    #[test]
    fn every_string_is_a_value_with_dotted_keys() {
        let mut parser = zeek();
        assert_eq!(
            pairs(
                &mut parser,
                r#"{"ts":"2018-03-24T17:15:20.865716Z","id.orig_h":"10.0.0.1","n":5,"ok":true,"x":null,"a":{"b":"x.example","c":{"d":"y.example"},"e":7},"answers":["one.example",["two.example",3,{"f":"g.example"}],false],"after":"z.example"}"#
            ),
            owned(&[
                ("ts", "2018-03-24T17:15:20.865716Z"),
                ("id.orig_h", "10.0.0.1"),
                ("a.b", "x.example"),
                ("a.c.d", "y.example"),
                ("answers", "one.example"),
                ("answers", "two.example"),
                ("answers.f", "g.example"),
                ("after", "z.example"),
            ])
        );
    }

    #[test]
    fn strings_are_decoded() {
        let mut parser = zeek();
        assert_eq!(
            pairs(
                &mut parser,
                r#"{"q\u0075ery":"evil\u002ecom","p":"a\/b\"c\\d\te","s":"\ud83d\ude00.example"}"#
            ),
            owned(&[
                ("query", "evil.com"),
                ("p", "a/b\"c\\d\te"),
                ("s", "\u{1F600}.example"),
            ])
        );
        // A lone surrogate is valid JSON but never text: the value is skipped, not the line.
        let (outcome, found) = values(&mut parser, r#"{"a":"\ud800x","b":"evil.com"}"#);
        assert_eq!(outcome, LineOutcome::Data { ts: None });
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn timestamps_iso_or_epoch() {
        let mut parser = zeek();
        let at = |parser: &mut LineParser, line: &str| match outcome(parser, line) {
            LineOutcome::Data { ts } => ts,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            at(&mut parser, r#"{"ts":"2018-03-24T17:15:20.865716Z"}"#),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(
            at(&mut parser, r#"{"ts":"2018-03-24 17:15:20"}"#),
            Some(1_521_911_720_000_000)
        );
        assert_eq!(
            at(&mut parser, r#"{"ts":1521911720.865716}"#),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(
            at(&mut parser, r#"{"ts":"1521911720.865716"}"#),
            Some(1_521_911_720_865_716)
        );
        assert_eq!(at(&mut parser, r#"{"ts":"soon"}"#), None);
        assert_eq!(at(&mut parser, r#"{"ts":true}"#), None);
        // Only the top-level ts counts for Zeek JSON.
        assert_eq!(at(&mut parser, r#"{"x":{"ts":1}}"#), None);
        assert_eq!(at(&mut parser, r#"{"ts":[1]}"#), None);
        assert_eq!(at(&mut parser, r#"{"timestamp":1}"#), None);
    }

    #[test]
    fn only_complete_json_objects_are_records() {
        let mut parser = zeek();
        for bad in [
            r#"{"a":"b""#,
            r#"{"a":"b"} x"#,
            r#"{"a":"b"}{}"#,
            r#"["a"]"#,
            r#""a""#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":"b",}"#,
            r#"{"a" "b"}"#,
            r#"{a:"b"}"#,
            r#"{"a":["b",]}"#,
            r#"{"a":["b"}"#,
            r#"{"a":{"b":1]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}",
            "x {}",
            "{",
        ] {
            assert_eq!(outcome(&mut parser, bad), LineOutcome::Malformed, "{bad}");
        }
        for good in [
            "{}",
            "  { } \t",
            r#"{"a":[]}"#,
            r#"{"a":{}}"#,
            r#"{"a":[[],[[]]]}"#,
            r#"{"a":-0.5e+3,"b":0,"c":1E2}"#,
            r#"{"":"x"}"#,
        ] {
            assert_eq!(
                outcome(&mut parser, good),
                LineOutcome::Data { ts: None },
                "{good}"
            );
        }
    }

    #[test]
    fn invalid_utf8_strings_are_skipped() {
        let mut parser = zeek();
        let mut found = Vec::new();
        let outcome = parser
            .parse_line(b"{\"a\":\"\xff\",\"b\":\"evil.com\"}", |field, value, _| {
                found.push((field.to_owned(), value.to_owned()))
            });
        assert_eq!(outcome, LineOutcome::Data { ts: None });
        assert_eq!(found, owned(&[("b", "evil.com")]));
    }

    #[test]
    fn json_lines_time_and_value_fields() {
        let mut parser = LineParser::new(LogFormat::JsonLines, &LogOptions::default());
        let ts = |parser: &mut LineParser, line: &str| match outcome(parser, line) {
            LineOutcome::Data { ts } => ts,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ts(&mut parser, r#"{"@timestamp":"1970-01-01T00:00:01Z"}"#),
            Some(1_000_000)
        );
        assert_eq!(
            ts(&mut parser, r#"{"time":2,"timestamp":3}"#),
            Some(3_000_000)
        );
        assert_eq!(
            ts(&mut parser, r#"{"time":2,"timestamp":"bad"}"#),
            Some(2_000_000)
        );
        let options = LogOptions {
            json_time_fields: vec!["event.created".into()],
            json_value_fields: vec!["source.ip".into(), "dns.answers".into()],
            syslog_year: None,
        };
        let mut parser = LineParser::new(LogFormat::JsonLines, &options);
        let line = r#"{"ts":1,"event":{"created":"1970-01-01T00:00:05Z"},"source":{"ip":"1.2.3.4","port":"80"},"dns":{"answers":["a.example","b.example"]},"message":"evil.com"}"#;
        assert_eq!(ts(&mut parser, line), Some(5_000_000));
        assert_eq!(
            pairs(&mut parser, line),
            owned(&[
                ("source.ip", "1.2.3.4"),
                ("dns.answers", "a.example"),
                ("dns.answers", "b.example"),
            ])
        );
    }
}
