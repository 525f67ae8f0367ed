//! Log line parsers (hunt-semantics §2): each splits a line into named field values and
//! reads its timestamp. A line that does not fit its format yields nothing.
//!
//! Bytes that are not UTF-8 can never be part of a match: a value that is not valid UTF-8
//! is simply not reported, while the rest of its line still is.

mod combined;
mod cpu_features;
mod csv;
mod json;
mod line_bits;
mod squid;
mod syslog;
mod time;
mod zeek_tsv;

use super::index::{KnownShape, Micros, ValueForm};

pub(crate) use cpu_features::{Fast, WithFeatures};

pub use time::parse_iso8601_micros;

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
    /// Every format, in the order `--format` documents them.
    pub const ALL: [LogFormat; 7] = [
        LogFormat::ZeekTsv,
        LogFormat::ZeekJson,
        LogFormat::JsonLines,
        LogFormat::Squid,
        LogFormat::Combined,
        LogFormat::Syslog,
        LogFormat::Csv,
    ];

    /// The `--format` name: zeek, zeek-json, jsonl, squid, combined, syslog, csv.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::ZeekTsv => "zeek",
            LogFormat::ZeekJson => "zeek-json",
            LogFormat::JsonLines => "jsonl",
            LogFormat::Squid => "squid",
            LogFormat::Combined => "combined",
            LogFormat::Syslog => "syslog",
            LogFormat::Csv => "csv",
        }
    }

    /// Parses a `--format` name (not `auto`).
    pub fn from_name(name: &str) -> Option<LogFormat> {
        LogFormat::ALL
            .into_iter()
            .find(|format| format.name() == name)
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
///
/// In order: `#separator`/`#fields` → Zeek TSV; `{` after leading whitespace → Zeek JSON;
/// `<epoch>.<3 digits> <elapsed> <client> <CODE>/<3 digits>` → Squid; the Apache grammar →
/// combined; an RFC 3164, RFC 5424 or ISO-timestamped syslog line → syslog; a row of at
/// least two comma-separated column names (no spaces, each with a letter) → CSV.
pub fn detect_format(first_non_empty_line: &[u8]) -> Option<LogFormat> {
    let line = strip_line_end(first_non_empty_line);
    if line.starts_with(b"#separator") || line.starts_with(b"#fields") {
        return Some(LogFormat::ZeekTsv);
    }
    if line.trim_ascii_start().first() == Some(&b'{') {
        return Some(LogFormat::ZeekJson);
    }
    if squid::looks_like_squid(line) {
        return Some(LogFormat::Squid);
    }
    if combined::parse(line).is_some() {
        return Some(LogFormat::Combined);
    }
    if syslog::looks_like_syslog(line) {
        return Some(LogFormat::Syslog);
    }
    if csv::looks_like_header(line) {
        return Some(LogFormat::Csv);
    }
    None
}

/// A line without its `\n` and one `\r` before it.
fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whitespace for blank lines and whitespace-separated columns.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// Whether a value can have an IoC shape at all (hunt-semantics §3). Every shape but a
/// hash holds a dot or a colon (IPv4, domain, IPv6, the `://` of a URL), and a hash is 32,
/// 40 or 64 bytes long; a value of only digits and dots — a counter, port, size, duration or
/// epoch time — has no shape unless it has exactly three dots (IPv4) or is a hash; nothing
/// shorter than two bytes has one (the shortest IP is `::`).
///
/// Looked at eight bytes at a time: this runs for every value of every line.
#[inline(always)]
pub(crate) fn may_hold_ioc(value: &[u8]) -> bool {
    let length = value.len();
    let hash_length = matches!(length, 32 | 40 | 64);
    if length < 2 {
        return false;
    }
    let mut dots = 0u64;
    let mut colons = 0u64;
    let mut others = 0u64;
    let mut account = |word: u64| {
        let (word_dots, word_colons, word_others) = dots_colons_others(word);
        // One per dot in the low bit of its byte, summed into the top byte.
        dots += ((word_dots >> 7).wrapping_mul(0x0101_0101_0101_0101)) >> 56;
        colons |= word_colons;
        others |= word_others;
    };
    let mut words = value.chunks_exact(8);
    for word in &mut words {
        account(u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]));
    }
    let rest = words.remainder().len();
    if rest != 0 {
        // The last bytes, read without a copy, the missing ones filled with digits,
        // which change nothing.
        let tail = if length >= 8 {
            le_word(&value[length - 8..]) >> (8 * (8 - rest))
        } else {
            short_le_word(value)
        };
        account(tail | (u64::from_ne_bytes([b'0'; 8]) << (8 * rest)));
    }
    if dots == 0 && colons == 0 {
        return hash_length;
    }
    colons != 0 || others != 0 || dots == 3 || hash_length
}

/// The first eight bytes of `bytes` as a little-endian word.
#[inline(always)]
pub(crate) fn le_word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ])
}

/// 1 to 7 bytes as a little-endian word, zero above them: two overlapping reads, whose
/// common bytes are the same on both sides.
#[inline(always)]
pub(crate) fn short_le_word(bytes: &[u8]) -> u64 {
    let length = bytes.len();
    if length >= 4 {
        let low = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let high = &bytes[length - 4..];
        let high = u32::from_le_bytes([high[0], high[1], high[2], high[3]]);
        u64::from(low) | u64::from(high) << (8 * (length - 4))
    } else if length >= 2 {
        let low = u16::from_le_bytes([bytes[0], bytes[1]]);
        let high = u16::from_le_bytes([bytes[length - 2], bytes[length - 1]]);
        u64::from(low) | u64::from(high) << (8 * (length - 2))
    } else {
        u64::from(bytes[0])
    }
}

/// Bit 7 of each byte of `word` that is a dot, a colon, and neither a dot nor a digit.
#[inline(always)]
pub(crate) fn dots_colons_others(word: u64) -> (u64, u64, u64) {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let each = |byte: u8| u64::from_ne_bytes([byte; 8]);
    let low = word & LOW_SEVEN;
    // Per byte, without carries between bytes (each sum stays below 0x100): bit 7 set
    // when the byte is at least `0` and when it is above `9`.
    let from_zero = low.wrapping_add(each(0x80 - b'0'));
    let above_nine = low.wrapping_add(each(0x80 - b'9' - 1));
    let digits = from_zero & !above_nine & !word & HIGH;
    let dots = zero_bytes(word ^ each(b'.'));
    let colons = zero_bytes(word ^ each(b':'));
    (dots, colons, !(digits | dots) & HIGH)
}

/// Bit 7 set in exactly the bytes of `word` that are zero (no false positives).
#[inline(always)]
pub(crate) fn zero_bytes(word: u64) -> u64 {
    const LOW_SEVEN: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((word & LOW_SEVEN).wrapping_add(LOW_SEVEN)) | word | LOW_SEVEN)
}

/// Where a parser reports a line's values. Every `FnMut(field, value, form)` is one; a
/// scan's sink also takes values whose shape the parser has already read from their bytes,
/// which others receive as plain values.
pub(crate) trait ValueSink {
    fn value(&mut self, field: &str, value: &str, form: ValueForm);

    /// A plain value that can have `shape` only.
    #[inline(always)]
    fn known(&mut self, field: &str, value: ShapedValue<'_>, shape: KnownShape) {
        let _ = shape;
        if let Some(text) = value.text() {
            self.value(field, text, ValueForm::Plain);
        }
    }
}

/// A value of a known shape, as the bytes of its line: what a shape's lookup reads. Its
/// text (checked at its boundaries, or as UTF-8 when the line is not) is only cut out for
/// the few values that match something.
#[derive(Clone, Copy)]
pub(crate) struct ShapedValue<'a> {
    line: Line<'a>,
    start: usize,
    end: usize,
}

impl<'a> ShapedValue<'a> {
    #[inline(always)]
    fn new(line: Line<'a>, start: usize, end: usize) -> Self {
        ShapedValue { line, start, end }
    }

    /// The line up to the value's end, and where the value starts in it.
    #[inline(always)]
    pub(crate) fn preceded(&self) -> (&'a [u8], usize) {
        (&self.line.bytes[..self.end], self.start)
    }

    /// The value as text; None when it is not valid UTF-8 (it then matches nothing).
    #[inline(always)]
    pub(crate) fn text(&self) -> Option<&'a str> {
        self.line.text(self.start, self.end)
    }
}

impl<F: FnMut(&str, &str, ValueForm)> ValueSink for F {
    #[inline(always)]
    fn value(&mut self, field: &str, value: &str, form: ValueForm) {
        self(field, value, form);
    }
}

/// One line as bytes, with its text when the whole line is known to be valid UTF-8 (the
/// common case: then every value cut at ASCII delimiters is text without checking it
/// again). Without it, each value asked for as text is checked alone.
#[derive(Clone, Copy)]
pub(crate) struct Line<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> Line<'a> {
    /// A line not checked as a whole: for a parser that wants the text of few values.
    fn unchecked(bytes: &'a [u8]) -> Self {
        Line { bytes, text: None }
    }

    fn from_bytes(bytes: &'a [u8]) -> Self {
        Line {
            bytes,
            text: std::str::from_utf8(bytes).ok(),
        }
    }

    fn from_text(text: &'a str) -> Self {
        Line {
            bytes: text.as_bytes(),
            text: Some(text),
        }
    }

    /// The value at `start..end` as text; None when it is not valid UTF-8.
    #[inline]
    fn text(&self, start: usize, end: usize) -> Option<&'a str> {
        match self.text {
            Some(text) => text.get(start..end),
            None => std::str::from_utf8(&self.bytes[start..end]).ok(),
        }
    }
}

/// A parser for one file's lines; `Clone` so that scanning threads can start from the state
/// (Zeek headers, CSV columns) in force at their chunk.
#[derive(Clone, Debug)]
pub struct LineParser {
    format: LogFormat,
    state: ParserState,
    /// Report only values that can have an IoC shape (see [`may_hold_ioc`]).
    only_possible_iocs: bool,
}

#[derive(Clone, Debug)]
enum ParserState {
    ZeekTsv(zeek_tsv::ZeekTsvParser),
    Json(Box<json::JsonParser>),
    Squid,
    Combined,
    Syslog(syslog::SyslogParser),
    Csv(csv::CsvParser),
}

impl LineParser {
    pub fn new(format: LogFormat, options: &LogOptions) -> Self {
        let state = match format {
            LogFormat::ZeekTsv => ParserState::ZeekTsv(zeek_tsv::ZeekTsvParser::default()),
            LogFormat::ZeekJson => ParserState::Json(Box::new(json::JsonParser::zeek())),
            LogFormat::JsonLines => {
                ParserState::Json(Box::new(json::JsonParser::json_lines(options)))
            }
            LogFormat::Squid => ParserState::Squid,
            LogFormat::Combined => ParserState::Combined,
            LogFormat::Syslog => ParserState::Syslog(syslog::SyslogParser::new(options)),
            LogFormat::Csv => ParserState::Csv(csv::CsvParser::default()),
        };
        LineParser {
            format,
            state,
            only_possible_iocs: false,
        }
    }

    /// From now on, values that cannot have an IoC shape at all (counters, ports, sizes,
    /// times: see [`may_hold_ioc`]) are not reported. Hunting cannot tell the difference;
    /// the many numeric columns of a log then cost next to nothing.
    pub fn report_only_possible_iocs(&mut self) {
        self.only_possible_iocs = true;
    }

    /// Zeek TSV lines parsed by the baseline x86-64 code even on a CPU with the features
    /// of [`cpu_features::Fast`]: both must give the same values.
    #[cfg(test)]
    pub(crate) fn without_cpu_features(&mut self) {
        if let ParserState::ZeekTsv(parser) = &mut self.state {
            parser.fast = None;
        }
    }

    /// From now on, Zeek TSV data lines come out as [`LineOutcome::Data`] without a time;
    /// [`LineParser::deferred_ts`] reads it when it is needed.
    pub(crate) fn defer_zeek_ts(&mut self) {
        if let ParserState::ZeekTsv(parser) = &mut self.state {
            parser.defer_ts = true;
        }
    }

    /// The time of `line`, the last line parsed, if [`LineParser::defer_zeek_ts`] left it
    /// unread; None otherwise.
    pub(crate) fn deferred_ts(&self, line: &[u8]) -> Option<Micros> {
        match &self.state {
            ParserState::ZeekTsv(parser) if parser.defer_ts => parser.deferred_ts(line),
            _ => None,
        }
    }

    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// Parses one line (without its `\n`; a trailing `\r` is ignored) and calls
    /// `on_value(field, value, form)` for each field value, in line order.
    ///
    /// Values may be reported before the line is known to fit its format (the JSON reader
    /// reports strings in a single pass): when the outcome is [`LineOutcome::Malformed`], the
    /// caller discards the values already reported for that line.
    pub fn parse_line<F: FnMut(&str, &str, ValueForm)>(
        &mut self,
        line: &[u8],
        mut on_value: F,
    ) -> LineOutcome {
        self.parse_line_into(line, &mut on_value)
    }

    /// [`LineParser::parse_line`] for a line already known to be UTF-8.
    pub fn parse_line_text<F: FnMut(&str, &str, ValueForm)>(
        &mut self,
        line: &str,
        mut on_value: F,
    ) -> LineOutcome {
        self.parse_line_text_into(line, &mut on_value)
    }

    /// [`LineParser::parse_line`] reporting to a [`ValueSink`].
    pub(crate) fn parse_line_into(
        &mut self,
        line: &[u8],
        sink: &mut impl ValueSink,
    ) -> LineOutcome {
        self.parse_non_blank(line, Line::from_bytes, sink)
    }

    /// Whether [`LineParser::parse_line_bytes_into`] does without knowing that the line is
    /// UTF-8: a Zeek TSV line's values are looked up as bytes, and only the few that are
    /// reported as text (those that match something among them) are checked. Other
    /// formats want a whole line's text, best from a check of a whole block.
    pub(crate) fn checks_values_alone(&self) -> bool {
        matches!(self.state, ParserState::ZeekTsv(_))
    }

    /// [`LineParser::parse_line_into`] without checking that the whole line is UTF-8: each
    /// value is checked when it is needed as text, with the same outcome.
    pub(crate) fn parse_line_bytes_into(
        &mut self,
        line: &[u8],
        sink: &mut impl ValueSink,
    ) -> LineOutcome {
        self.parse_non_blank(line, Line::unchecked, sink)
    }

    /// The proof of the CPU features its Zeek TSV lines are parsed with, for a caller to
    /// run its own loop over lines compiled for them ([`Fast::run`] and
    /// [`LineParser::parse_line_bytes_inline`]); None for other formats.
    pub(crate) fn cpu_features(&self) -> Option<Fast> {
        match &self.state {
            ParserState::ZeekTsv(parser) if self.only_possible_iocs => parser.fast,
            _ => None,
        }
    }

    /// [`LineParser::parse_line_bytes_into`] inlined into its caller: into a loop over lines
    /// compiled for the CPU features of `fast` (run by [`Fast::run`]), the steps to the
    /// Zeek TSV line parser are compiled with them.
    #[inline(always)]
    pub(crate) fn parse_line_bytes_inline(
        &mut self,
        line: &[u8],
        sink: &mut impl ValueSink,
        fast: Fast,
    ) -> LineOutcome {
        let line = strip_line_end(line);
        if line.iter().all(|&byte| is_space(byte)) {
            return LineOutcome::Blank;
        }
        match &mut self.state {
            ParserState::ZeekTsv(parser) if self.only_possible_iocs => {
                parser.parse_inline::<true>(Line::unchecked(line), sink, Some(fast))
            }
            _ => self.parse(Line::unchecked(line), sink),
        }
    }

    /// A line without its end, blank or read as `line` makes it.
    #[inline(always)]
    fn parse_non_blank<'l>(
        &mut self,
        line: &'l [u8],
        make: impl FnOnce(&'l [u8]) -> Line<'l>,
        sink: &mut impl ValueSink,
    ) -> LineOutcome {
        let line = strip_line_end(line);
        if line.iter().all(|&byte| is_space(byte)) {
            return LineOutcome::Blank;
        }
        self.parse(make(line), sink)
    }

    /// [`LineParser::parse_line_text`] reporting to a [`ValueSink`].
    pub(crate) fn parse_line_text_into(
        &mut self,
        line: &str,
        sink: &mut impl ValueSink,
    ) -> LineOutcome {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.bytes().all(is_space) {
            return LineOutcome::Blank;
        }
        self.parse(Line::from_text(line), sink)
    }

    fn parse(&mut self, line: Line<'_>, sink: &mut impl ValueSink) -> LineOutcome {
        if let ParserState::ZeekTsv(parser) = &mut self.state {
            // It filters values itself, on their bytes, before cutting text out of them.
            return if self.only_possible_iocs {
                parser.parse::<true>(line, sink)
            } else {
                parser.parse::<false>(line, sink)
            };
        }
        if self.only_possible_iocs {
            self.parse_with(line, |field: &str, value: &str, form| {
                if may_hold_ioc(value.as_bytes()) {
                    sink.value(field, value, form);
                }
            })
        } else {
            self.parse_with(line, |field: &str, value: &str, form| {
                sink.value(field, value, form)
            })
        }
    }

    fn parse_with<F: FnMut(&str, &str, ValueForm)>(
        &mut self,
        line: Line<'_>,
        mut on_value: F,
    ) -> LineOutcome {
        match &mut self.state {
            ParserState::ZeekTsv(parser) => parser.parse::<false>(line, &mut on_value),
            ParserState::Json(parser) => parser.parse(line, &mut on_value),
            ParserState::Squid => squid::parse(line, &mut on_value),
            ParserState::Combined => combined::parse_line(line, &mut on_value),
            ParserState::Syslog(parser) => parser.parse(line, &mut on_value),
            ParserState::Csv(parser) => parser.parse(line, &mut on_value),
        }
    }

    /// Applies the lines of `block` (whole lines) that change the parser's state — Zeek
    /// header lines, the CSV header row — without looking at data lines, so that a reader
    /// can hand the state in force after `block` to whoever parses the next one.
    pub fn apply_state_lines(&mut self, block: &[u8]) {
        match &mut self.state {
            ParserState::ZeekTsv(parser) => parser.apply_header_lines(block),
            ParserState::Csv(parser) => parser.apply_header_row(block),
            ParserState::Json(_)
            | ParserState::Squid
            | ParserState::Combined
            | ParserState::Syslog(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// The values a line reports, as (field, value, form), and its outcome.
    pub(crate) fn values(
        parser: &mut LineParser,
        line: &str,
    ) -> (LineOutcome, Vec<(String, String, ValueForm)>) {
        let mut text_parser = parser.clone();
        let mut values = Vec::new();
        let outcome = parser.parse_line(line.as_bytes(), |field, value, form| {
            values.push((field.to_owned(), value.to_owned(), form))
        });
        let mut text_values = Vec::new();
        let text_outcome = text_parser.parse_line_text(line, |field, value, form| {
            text_values.push((field.to_owned(), value.to_owned(), form))
        });
        assert_eq!(outcome, text_outcome, "{line}");
        assert_eq!(values, text_values, "{line}");
        (outcome, values)
    }

    /// Just (field, value) pairs, for lines of plain values.
    pub(crate) fn pairs(parser: &mut LineParser, line: &str) -> Vec<(String, String)> {
        values(parser, line)
            .1
            .into_iter()
            .map(|(field, value, _)| (field, value))
            .collect()
    }

    pub(crate) fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(field, value)| (field.to_string(), value.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_without_a_possible_shape() {
        for cannot in [
            &b""[..],
            b"7",
            b"T",
            b"-",
            b"443",
            b"1521911720.865716",
            b"0.000870",
            b"1.2.3",
            b"1.2.3.4.5",
            b"1234567890123456789012345678901",
            // Neither a dot nor a colon, and not a hash's length.
            b"x1",
            b"localhost",
            b"CqKst53mF3det3eDV9",
            b"d41d8cd98f00b204e9800998ecf8427",
            b"(empty)",
            b"\xff\xfe",
            b"12345678.1",
            b"123456789012345678901234567890123456789012345678901234567890.1",
        ] {
            assert!(!may_hold_ioc(cannot), "{cannot:?}");
        }
        for may in [
            &b"1.2.3.4"[..],
            b"::",
            b"12345678901234567890123456789012",
            b"1234567890123456789012345678901234567890",
            b"1234567890123456789012345678901234567890123456789012345678901234",
            b"a.b",
            b"1.2.3.4:80",
            b"a:b",
            b"d41d8cd98f00b204e9800998ecf8427e",
            b"d41d8cd98f00b204e9800998ecf8427ed41d8cd9",
            b"x.\xff",
            b"1.2.3.4.\xc3\xa9",
        ] {
            assert!(may_hold_ioc(may), "{may:?}");
        }
    }

    /// The rule of [`may_hold_ioc`] byte by byte.
    fn may_hold_ioc_reference(value: &[u8]) -> bool {
        let hash_length = matches!(value.len(), 32 | 40 | 64);
        let dots = value.iter().filter(|&&byte| byte == b'.').count();
        let colon = value.contains(&b':');
        let numeric = value
            .iter()
            .all(|byte| byte.is_ascii_digit() || *byte == b'.');
        value.len() >= 2
            && if dots == 0 && !colon {
                hash_length
            } else {
                !numeric || dots == 3 || hash_length
            }
    }

    proptest::proptest! {
        #[test]
        fn the_shape_filter_word_by_word_is_the_rule(
            value in proptest::collection::vec(
                proptest::sample::select(b"0129.:aAfFgz/-\x7f\x80\xb9\xba\xff".to_vec()),
                0..80,
            )
        ) {
            proptest::prop_assert_eq!(may_hold_ioc(&value), may_hold_ioc_reference(&value));
        }

        #[test]
        fn the_shape_filter_keeps_every_value_with_a_shape(
            value in "[0-9a-fA-F.:x/-]{0,70}|[0-9.]{7,15}|[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}"
        ) {
            if crate::hunt::ioc::canonical_ioc(None, &value).is_ok() && value.trim() == value {
                proptest::prop_assert!(may_hold_ioc(value.as_bytes()), "{}", value);
            }
        }
    }

    #[test]
    fn the_shape_filter_drops_only_shapeless_values() {
        let mut parser = LineParser::new(LogFormat::ZeekJson, &LogOptions::default());
        parser.report_only_possible_iocs();
        let mut found = Vec::new();
        parser.parse_line(
            br#"{"a":"443","b":"1.2.3.4","c":"x.example","d":"T"}"#,
            |field, value, _| found.push((field.to_owned(), value.to_owned())),
        );
        assert_eq!(
            found,
            [
                ("b".to_owned(), "1.2.3.4".to_owned()),
                ("c".to_owned(), "x.example".to_owned())
            ]
        );
    }

    #[test]
    fn format_names_round_trip() {
        for format in LogFormat::ALL {
            assert_eq!(LogFormat::from_name(format.name()), Some(format));
        }
        let names: Vec<_> = LogFormat::ALL.iter().map(|format| format.name()).collect();
        assert_eq!(
            names,
            [
                "zeek",
                "zeek-json",
                "jsonl",
                "squid",
                "combined",
                "syslog",
                "csv"
            ]
        );
        assert_eq!(LogFormat::from_name("auto"), None);
        assert_eq!(LogFormat::from_name("Zeek"), None);
    }

    #[test]
    fn detects_the_four_formats_of_the_spec() {
        assert_eq!(detect_format(b"#separator \\x09"), Some(LogFormat::ZeekTsv));
        assert_eq!(
            detect_format(b"#fields\tts\tquery"),
            Some(LogFormat::ZeekTsv)
        );
        assert_eq!(
            detect_format(b"  {\"ts\":1.0,\"query\":\"x\"}\r\n"),
            Some(LogFormat::ZeekJson)
        );
        assert_eq!(detect_format(b"{broken"), Some(LogFormat::ZeekJson));
        assert_eq!(
            detect_format(
                b"1198298239.740    388 127.0.0.1 TCP_MISS/301 631 GET http://www.slashdot.org/ graeme DIRECT/66.35.250.151 text/html"
            ),
            Some(LogFormat::Squid)
        );
        assert_eq!(
            detect_format(
                b"83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /x HTTP/1.1\" 200 203023 \"-\" \"Mozilla\""
            ),
            Some(LogFormat::Combined)
        );
        assert_eq!(
            detect_format(b"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326"),
            Some(LogFormat::Combined)
        );
        assert_eq!(
            detect_format(b"9.9.9.9 - - [01/Mar/2026:17:00:00 -0700] \"CONNECT evil.com:443 HTTP/1.1\" 200 5 \"-\" \"x"),
            Some(LogFormat::Combined)
        );
    }

    #[test]
    fn detects_syslog_and_csv_conservatively() {
        assert_eq!(
            detect_format(
                b"Mar  1 10:00:00 host sshd[42]: Accepted password for a from 1.2.3.4 port 22 ssh2"
            ),
            Some(LogFormat::Syslog)
        );
        assert_eq!(
            detect_format(b"<34>1 2026-03-01T10:00:00.003Z host sshd 42 - - Invalid user x from 1.2.3.4 port 5"),
            Some(LogFormat::Syslog)
        );
        assert_eq!(
            detect_format(b"2026-03-01T10:00:00.123456+01:00 host sshd[42]: Connection closed by 1.2.3.4 port 22"),
            Some(LogFormat::Syslog)
        );
        assert_eq!(
            detect_format(b"timestamp,src_ip,domain"),
            Some(LogFormat::Csv)
        );
        assert_eq!(detect_format(b"\"ts\",\"query\""), Some(LogFormat::Csv));
        for unknown in [
            &b"hello world"[..],
            b"1,2,3",
            b"name",
            b"first name,last name",
            b"a,,b",
            b"\x00\xff\xfe garbage",
            b"#path\tconn",
            b"1198298239.74 388 127.0.0.1 TCP_MISS/301 631 GET http://x/ - DIRECT/1.2.3.4 text/html",
            b"1198298239.740 388 127.0.0.1 tcp_miss/301 631 GET http://x/ - DIRECT/1.2.3.4 text/html",
            b"1198298239.740\x0c388 127.0.0.1 TCP_MISS/301 631 GET http://x/ - DIRECT/1.2.3.4 text/html",
        ] {
            assert_eq!(detect_format(unknown), None, "{:?}", String::from_utf8_lossy(unknown));
        }
    }
}
