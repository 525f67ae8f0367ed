//! Zeek TSV logs (hunt-semantics §2.1): `#` header lines set the separators, markers,
//! column names and types; data lines are split into one value per column, container
//! columns (`vector[…]`, `set[…]`) into one value per element.

use super::super::index::ValueForm;
use super::time::parse_epoch_seconds;
use super::{Line, LineOutcome, may_hold_ioc, strip_line_end, zero_bytes};

#[derive(Clone, Debug)]
pub(crate) struct ZeekTsvParser {
    separator: Vec<u8>,
    set_separator: Vec<u8>,
    empty_field: Vec<u8>,
    unset_field: Vec<u8>,
    fields: Vec<String>,
    /// Whether each column (by position in `#types`) is a container; empty while no
    /// `#types` follows the current `#fields`.
    containers: Vec<bool>,
    ts_column: Option<usize>,
    /// Leave the `ts` column unparsed ([`LineOutcome::Data`] without a time) and keep its
    /// span for [`ZeekTsvParser::deferred_ts`]: a scan needs the time of the few lines with
    /// a match only.
    pub(crate) defer_ts: bool,
    /// The span of the last data line's `ts` column.
    ts_span: Option<(usize, usize)>,
}

impl Default for ZeekTsvParser {
    fn default() -> Self {
        ZeekTsvParser {
            separator: b"\t".to_vec(),
            set_separator: b",".to_vec(),
            empty_field: b"(empty)".to_vec(),
            unset_field: b"-".to_vec(),
            fields: Vec::new(),
            containers: Vec::new(),
            ts_column: None,
            defer_ts: false,
            ts_span: None,
        }
    }
}

/// Spans of `haystack` between occurrences of a non-empty `separator`.
struct Spans<'a> {
    haystack: &'a [u8],
    separator: &'a [u8],
    /// For a one-byte separator (the common case): its positions, found word by word.
    positions: Option<BytePositions<'a>>,
    position: usize,
    finished: bool,
}

impl<'a> Spans<'a> {
    fn new(haystack: &'a [u8], separator: &'a [u8]) -> Self {
        let positions = match separator {
            [byte] => Some(BytePositions::new(haystack, *byte)),
            _ => None,
        };
        Spans {
            haystack,
            separator,
            positions,
            position: 0,
            finished: false,
        }
    }
}

impl Iterator for Spans<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        if self.finished {
            return None;
        }
        let start = self.position;
        let found = match &mut self.positions {
            Some(positions) => positions.next(),
            None => memchr::memmem::find(&self.haystack[start..], self.separator)
                .map(|offset| start + offset),
        };
        match found {
            Some(end) => {
                self.position = end + self.separator.len();
                Some((start, end))
            }
            None => {
                self.finished = true;
                Some((start, self.haystack.len()))
            }
        }
    }
}

/// Positions of one byte in a haystack, in order, eight bytes at a time: columns are a
/// few bytes long, too short for a vectorised search to pay for its set-up per call.
struct BytePositions<'a> {
    haystack: &'a [u8],
    needle: u8,
    /// The needle in every byte of a word.
    needles: u64,
    /// Start of the word `matches` belongs to.
    word_start: usize,
    /// Bit 7 of each byte of the current word that equals the needle, not yet returned.
    matches: u64,
}

impl<'a> BytePositions<'a> {
    fn new(haystack: &'a [u8], needle: u8) -> Self {
        let mut positions = BytePositions {
            haystack,
            needle,
            needles: u64::from_ne_bytes([needle; 8]),
            word_start: 0,
            matches: 0,
        };
        positions.matches = positions.word_matches(0);
        positions
    }

    /// The needle's bytes in the word at `start` (shorter at the end of the haystack).
    #[inline(always)]
    fn word_matches(&self, start: usize) -> u64 {
        let word = match self.haystack.get(start..start + 8) {
            Some(bytes) => u64::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            ]),
            None => self.tail_word(start),
        };
        zero_bytes(word ^ self.needles)
    }

    /// The last, partial word, padded with bytes that are not the needle.
    #[cold]
    fn tail_word(&self, start: usize) -> u64 {
        let mut bytes = [!self.needle; 8];
        let tail = &self.haystack[start.min(self.haystack.len())..];
        bytes[..tail.len()].copy_from_slice(tail);
        u64::from_le_bytes(bytes)
    }
}

impl Iterator for BytePositions<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.matches == 0 {
            self.word_start += 8;
            if self.word_start >= self.haystack.len() {
                return None;
            }
            self.matches = self.word_matches(self.word_start);
        }
        let byte = self.matches.trailing_zeros() as usize / 8;
        self.matches &= self.matches - 1;
        Some(self.word_start + byte)
    }
}

/// The columns of a line cut at a one-byte separator that is neither a dot nor a colon,
/// eight bytes at a time, each with whether it may hold a dot or a colon (it may also hold
/// `*` or `>`, never neither): every IoC shape but a hash holds one, so most columns are
/// dropped without looking at their bytes again.
struct Columns<'a> {
    haystack: &'a [u8],
    separator: u8,
    /// The separator in every byte of a word.
    separators: u64,
    /// Start of the word the masks belong to.
    word_start: usize,
    /// Bit 7 of each byte of the current word that is the separator, not yet returned.
    separator_bits: u64,
    /// Bit 7 of each byte of the current word that is a dot, a colon, `*` or `>`, not yet
    /// consumed.
    mark_bits: u64,
    column_start: usize,
    finished: bool,
}

impl<'a> Columns<'a> {
    fn new(haystack: &'a [u8], separator: u8) -> Self {
        debug_assert!(separator != b'.' && separator != b':');
        let mut columns = Columns {
            haystack,
            separator,
            separators: u64::from_ne_bytes([separator; 8]),
            word_start: 0,
            separator_bits: 0,
            mark_bits: 0,
            column_start: 0,
            finished: false,
        };
        columns.load_word();
        columns
    }

    #[inline(always)]
    fn load_word(&mut self) {
        let word = match self.haystack.get(self.word_start..self.word_start + 8) {
            Some(bytes) => u64::from_le_bytes([
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            ]),
            None => self.tail_word(),
        };
        self.separator_bits = zero_bytes(word ^ self.separators);
        // `.` (0x2e) and `:` (0x3a) both become 0x3e when 0x14 is or-ed in, and so do only
        // `*` and `>`: one test finds them all, the few extra marks cost a closer look.
        self.mark_bits =
            zero_bytes((word | u64::from_ne_bytes([0x14; 8])) ^ u64::from_ne_bytes([0x3e; 8]));
    }

    /// The last, partial word, padded with bytes that are neither the separator nor a dot
    /// nor a colon.
    #[cold]
    fn tail_word(&self) -> u64 {
        let padding = if self.separator == 0 { 1 } else { 0 };
        let mut bytes = [padding; 8];
        let tail = &self.haystack[self.word_start.min(self.haystack.len())..];
        bytes[..tail.len()].copy_from_slice(tail);
        u64::from_le_bytes(bytes)
    }
}

impl Iterator for Columns<'_> {
    /// (start, end, whether the column holds a dot or a colon)
    type Item = (usize, usize, bool);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize, bool)> {
        if self.finished {
            return None;
        }
        let mut marked = false;
        loop {
            if self.separator_bits != 0 {
                let bit = self.separator_bits & self.separator_bits.wrapping_neg();
                let before = bit - 1;
                marked |= self.mark_bits & before != 0;
                self.mark_bits &= !before;
                self.separator_bits &= self.separator_bits - 1;
                let end = self.word_start + bit.trailing_zeros() as usize / 8;
                let start = std::mem::replace(&mut self.column_start, end + 1);
                return Some((start, end, marked));
            }
            marked |= self.mark_bits != 0;
            self.word_start += 8;
            if self.word_start >= self.haystack.len() {
                self.finished = true;
                return Some((self.column_start, self.haystack.len(), marked));
            }
            self.load_word();
        }
    }
}

/// `value == marker`, with the cheap tests first: most values are not markers.
#[inline]
fn is_marker(value: &[u8], marker: &[u8]) -> bool {
    value.len() == marker.len() && value.first() == marker.first() && value == marker
}

/// `#separator`'s value: `\xHH` escapes decoded, every other byte as written.
fn decode_separator(text: &[u8]) -> Vec<u8> {
    let mut decoded = Vec::with_capacity(text.len());
    let mut index = 0;
    while index < text.len() {
        if text[index] == b'\\'
            && text.get(index + 1) == Some(&b'x')
            && let Some(byte) = text
                .get(index + 2..index + 4)
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            decoded.push(byte);
            index += 4;
            continue;
        }
        decoded.push(text[index]);
        index += 1;
    }
    decoded
}

impl ZeekTsvParser {
    /// With `ONLY_POSSIBLE_IOCS`, values that cannot have an IoC shape are dropped here, on
    /// their bytes, before anything else is done with them (see [`may_hold_ioc`]).
    pub(crate) fn parse<const ONLY_POSSIBLE_IOCS: bool>(
        &mut self,
        line: Line<'_>,
        on_value: &mut impl FnMut(&str, &str, ValueForm),
    ) -> LineOutcome {
        let bytes = line.bytes;
        if bytes.first() == Some(&b'#') {
            self.apply_header(bytes);
            return LineOutcome::Header;
        }
        if self.fields.is_empty() {
            return LineOutcome::Malformed;
        }
        let mut column = 0;
        let mut ts_span = None;
        match self.separator[..] {
            [separator] if separator != b'.' && separator != b':' => {
                // The common case, as one tight loop over the columns.
                for (start, end, marked) in Columns::new(bytes, separator) {
                    if !self.column::<ONLY_POSSIBLE_IOCS>(
                        line,
                        column,
                        (start, end),
                        marked,
                        &mut ts_span,
                        on_value,
                    ) {
                        return LineOutcome::Malformed;
                    }
                    column += 1;
                }
            }
            _ => {
                for (start, end) in Spans::new(bytes, &self.separator) {
                    if !self.column::<ONLY_POSSIBLE_IOCS>(
                        line,
                        column,
                        (start, end),
                        true,
                        &mut ts_span,
                        on_value,
                    ) {
                        return LineOutcome::Malformed;
                    }
                    column += 1;
                }
            }
        }
        if column != self.fields.len() {
            return LineOutcome::Malformed;
        }
        let ts = if self.defer_ts {
            self.ts_span = ts_span;
            None
        } else {
            ts_span.and_then(|(start, end)| parse_epoch_seconds(&bytes[start..end]))
        };
        LineOutcome::Data { ts }
    }

    /// The time of the last data line parsed with [`ZeekTsvParser::defer_ts`]; `line` is
    /// that line.
    pub(crate) fn deferred_ts(&self, line: &[u8]) -> Option<super::super::index::Micros> {
        let (start, end) = self.ts_span?;
        parse_epoch_seconds(line.get(start..end)?)
    }

    /// Reports the values of column `column` at `start..end`, which holds neither a dot nor
    /// a colon when `marked` is false; false when the line has more columns than there are field
    /// names.
    #[inline(always)]
    fn column<const ONLY_POSSIBLE_IOCS: bool>(
        &self,
        line: Line<'_>,
        column: usize,
        (start, end): (usize, usize),
        marked: bool,
        ts_span: &mut Option<(usize, usize)>,
        on_value: &mut impl FnMut(&str, &str, ValueForm),
    ) -> bool {
        let Some(field) = self.fields.get(column) else {
            return false;
        };
        if self.ts_column == Some(column) {
            *ts_span = Some((start, end));
        }
        let container = self.containers.get(column) == Some(&true);
        if ONLY_POSSIBLE_IOCS
            && !container
            && !(if marked {
                may_hold_ioc(&line.bytes[start..end])
            } else {
                // Without a dot or a colon, only a hash's length leaves a possible shape.
                matches!(end - start, 32 | 40 | 64)
            })
        {
            return true;
        }
        let value = &line.bytes[start..end];
        if value.is_empty()
            || is_marker(value, &self.empty_field)
            || is_marker(value, &self.unset_field)
        {
            return true;
        }
        if container {
            for (element_start, element_end) in Spans::new(value, &self.set_separator) {
                let element = &value[element_start..element_end];
                if ONLY_POSSIBLE_IOCS && !may_hold_ioc(element) {
                    continue;
                }
                if !element.is_empty()
                    && !is_marker(element, &self.empty_field)
                    && !is_marker(element, &self.unset_field)
                    && let Some(text) = line.text(start + element_start, start + element_end)
                {
                    on_value(field, text, ValueForm::Plain);
                }
            }
        } else if let Some(text) = line.text(start, end) {
            on_value(field, text, ValueForm::Plain);
        }
        true
    }

    /// One `#…` line (without its line end).
    fn apply_header(&mut self, line: &[u8]) {
        if let Some(value) = line.strip_prefix(b"#separator ") {
            let separator = decode_separator(value);
            if !separator.is_empty() {
                self.separator = separator;
            }
            return;
        }
        let mut spans = Spans::new(line, &self.separator);
        let Some((keyword_start, keyword_end)) = spans.next() else {
            return;
        };
        let values: Vec<&[u8]> = spans.map(|(start, end)| &line[start..end]).collect();
        match &line[keyword_start..keyword_end] {
            b"#set_separator" => {
                if let Some(value) = values.first().filter(|value| !value.is_empty()) {
                    self.set_separator = value.to_vec();
                }
            }
            b"#empty_field" => {
                if let Some(value) = values.first() {
                    self.empty_field = value.to_vec();
                }
            }
            b"#unset_field" => {
                if let Some(value) = values.first() {
                    self.unset_field = value.to_vec();
                }
            }
            b"#fields" => {
                self.fields = values
                    .iter()
                    .map(|name| String::from_utf8_lossy(name).into_owned())
                    .collect();
                self.containers.clear();
                self.ts_column = self.fields.iter().position(|name| name == "ts");
            }
            b"#types" => {
                self.containers = values
                    .iter()
                    .map(|kind| kind.starts_with(b"vector[") || kind.starts_with(b"set["))
                    .collect();
            }
            _ => {}
        }
    }

    /// Applies every header line of `block` (whole lines), in order.
    pub(crate) fn apply_header_lines(&mut self, block: &[u8]) {
        let mut apply_at = |start: usize| {
            let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |end| start + end);
            self.apply_header(strip_line_end(&block[start..end]));
        };
        if block.first() == Some(&b'#') {
            apply_at(0);
        }
        for newline in memchr::memmem::find_iter(block, b"\n#") {
            apply_at(newline + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{owned, pairs, values};
    use super::super::{LineOutcome, LineParser, LogFormat, LogOptions};
    use crate::hunt::index::ValueForm;

    fn parser() -> LineParser {
        LineParser::new(LogFormat::ZeekTsv, &LogOptions::default())
    }

    fn with_headers(headers: &[&str]) -> LineParser {
        let mut parser = parser();
        for header in headers {
            assert_eq!(values(&mut parser, header).0, LineOutcome::Header);
        }
        parser
    }

    const DNS_HEADERS: [&str; 7] = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        "#path\tdns",
        "#fields\tts\tquery\tanswers\tnote",
        "#types\ttime\tstring\tvector[string]\tstring",
    ];

    #[test]
    fn byte_positions_word_by_word() {
        for length in 0..40 {
            for pattern in 0..4u32 {
                let haystack: Vec<u8> = (0..length)
                    .map(
                        |index| match (index * 7 + pattern as usize) % (3 + pattern as usize) {
                            0 => b'\t',
                            1 => 0x89,
                            _ => b'a' + (index % 26) as u8,
                        },
                    )
                    .collect();
                let expected: Vec<usize> = memchr::memchr_iter(b'\t', &haystack).collect();
                let found: Vec<usize> = super::BytePositions::new(&haystack, b'\t').collect();
                assert_eq!(found, expected, "{haystack:?}");
                let expected: Vec<usize> = memchr::memchr_iter(0x89, &haystack).collect();
                let found: Vec<usize> = super::BytePositions::new(&haystack, 0x89).collect();
                assert_eq!(found, expected, "{haystack:?}");
            }
        }
        assert_eq!(super::BytePositions::new(&[0xff; 11], 0xff).count(), 11);
        assert_eq!(super::BytePositions::new(&[0; 11], 0).count(), 11);
    }

    #[test]
    fn columns_word_by_word_with_their_marks() {
        let alphabet = [
            b'\t',
            b'.',
            b':',
            b'a',
            b'0',
            0x00,
            0x01,
            0xff,
            0x2e ^ 0x80,
            b'*',
            b'>',
            b'>' ^ 0x14,
        ];
        for separator in [b'\t', 0x00, 0xff, b'|'] {
            for length in 0..40 {
                for pattern in 0..6usize {
                    let haystack: Vec<u8> = (0..length)
                        .map(|index: usize| {
                            let byte = alphabet
                                [(index * (pattern + 3) + pattern * index / 5) % alphabet.len()];
                            if byte == b'\t' { separator } else { byte }
                        })
                        .collect();
                    let mut expected = Vec::new();
                    let mut start = 0;
                    for (index, &byte) in haystack.iter().enumerate() {
                        if byte == separator {
                            expected.push((start, index));
                            start = index + 1;
                        }
                    }
                    expected.push((start, haystack.len()));
                    let expected: Vec<_> = expected
                        .into_iter()
                        .map(|(start, end)| {
                            let marked = haystack[start..end]
                                .iter()
                                .any(|&byte| matches!(byte, b'.' | b':' | b'*' | b'>'));
                            (start, end, marked)
                        })
                        .collect();
                    let found: Vec<_> = super::Columns::new(&haystack, separator).collect();
                    assert_eq!(found, expected, "{separator} {haystack:?}");
                }
            }
        }
    }

    #[test]
    fn a_deferred_time_is_read_on_request() {
        let mut parser = with_headers(&DNS_HEADERS);
        parser.defer_zeek_ts();
        let line = "1.5\tx.example\t-\t-";
        assert_eq!(values(&mut parser, line).0, LineOutcome::Data { ts: None });
        assert_eq!(parser.deferred_ts(line.as_bytes()), Some(1_500_000));
        let line = "soon\tx.example\t-\t-";
        values(&mut parser, line);
        assert_eq!(parser.deferred_ts(line.as_bytes()), None);
    }

    #[test]
    fn the_vector_example_of_the_spec() {
        let mut parser = with_headers(&DNS_HEADERS);
        let (outcome, values) = values(
            &mut parser,
            "1772409600.000000\tx.evil.com\tcname.example,1.2.3.4\tevil.com,1.2.3.4",
        );
        assert_eq!(
            outcome,
            LineOutcome::Data {
                ts: Some(1_772_409_600_000_000)
            }
        );
        let expected: Vec<_> = [
            ("ts", "1772409600.000000"),
            ("query", "x.evil.com"),
            ("answers", "cname.example"),
            ("answers", "1.2.3.4"),
            // A plain string column keeps its commas: one value, which has no shape.
            ("note", "evil.com,1.2.3.4"),
        ]
        .iter()
        .map(|(field, value)| (field.to_string(), value.to_string(), ValueForm::Plain))
        .collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn markers_are_not_values_and_escapes_are_not_decoded() {
        let mut parser = with_headers(&DNS_HEADERS);
        assert_eq!(
            pairs(&mut parser, "-\t(empty)\t-\t-"),
            Vec::<(String, String)>::new()
        );
        assert_eq!(
            values(&mut parser, "-\t(empty)\t-\t-").0,
            LineOutcome::Data { ts: None }
        );
        assert_eq!(
            pairs(&mut parser, "1.5\tevil\\x2ecom\ta,-,(empty),,b\t\\x09"),
            owned(&[
                ("ts", "1.5"),
                ("query", "evil\\x2ecom"),
                ("answers", "a"),
                ("answers", "b"),
                ("note", "\\x09"),
            ])
        );
    }

    #[test]
    fn column_count_must_match() {
        let mut parser = with_headers(&DNS_HEADERS);
        assert_eq!(values(&mut parser, "1\ta\tb").0, LineOutcome::Malformed);
        assert_eq!(
            values(&mut parser, "1\ta\tb\tc\td").0,
            LineOutcome::Malformed
        );
        assert_eq!(
            values(&mut parser, "1\ta\tb\tc").0,
            LineOutcome::Data {
                ts: Some(1_000_000)
            }
        );
    }

    #[test]
    fn data_before_fields_yields_nothing() {
        let mut parser = parser();
        assert_eq!(
            values(&mut parser, "1.0\tevil.com").0,
            LineOutcome::Malformed
        );
        assert_eq!(values(&mut parser, "   ").0, LineOutcome::Blank);
        assert_eq!(values(&mut parser, "").0, LineOutcome::Blank);
    }

    #[test]
    fn custom_separators_and_markers() {
        let mut parser = with_headers(&[
            "#separator \\x7c",
            "#set_separator|;",
            "#empty_field|EMPTY",
            "#unset_field|NONE",
            "#fields|ts|name|hosts",
            "#types|time|string|set[string]",
        ]);
        assert_eq!(
            pairs(&mut parser, "1.25|a\tb,c|x.example;NONE;EMPTY;y.example"),
            owned(&[
                ("ts", "1.25"),
                ("name", "a\tb,c"),
                ("hosts", "x.example"),
                ("hosts", "y.example"),
            ])
        );
        assert_eq!(pairs(&mut parser, "NONE|EMPTY|NONE"), owned(&[]));
        // The separator keyword takes a literal separator as well.
        let mut parser = with_headers(&["#separator ::", "#fields::ts::a"]);
        assert_eq!(
            pairs(&mut parser, "2::b:c"),
            owned(&[("ts", "2"), ("a", "b:c")])
        );
    }

    #[test]
    fn a_later_fields_replaces_the_earlier_and_forgets_types() {
        let mut parser = with_headers(&DNS_HEADERS);
        assert_eq!(
            values(&mut parser, "#fields\tts\tanswers").0,
            LineOutcome::Header
        );
        // `answers` is no longer known to be a vector: one value, commas included.
        assert_eq!(
            pairs(&mut parser, "3\ta.example,b.example"),
            owned(&[("ts", "3"), ("answers", "a.example,b.example")])
        );
        assert_eq!(
            values(&mut parser, "#types\ttime\tvector[string]").0,
            LineOutcome::Header
        );
        assert_eq!(
            pairs(&mut parser, "3\ta.example,b.example"),
            owned(&[
                ("ts", "3"),
                ("answers", "a.example"),
                ("answers", "b.example")
            ])
        );
        // Without a ts column, there is no timestamp.
        values(&mut parser, "#fields\tquery");
        assert_eq!(
            values(&mut parser, "x.example").0,
            LineOutcome::Data { ts: None }
        );
    }

    #[test]
    fn unparsable_ts_leaves_the_line_without_time() {
        let mut parser = with_headers(&DNS_HEADERS);
        let (outcome, found) = values(&mut parser, "yesterday\tx.example\t-\t-");
        assert_eq!(outcome, LineOutcome::Data { ts: None });
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn invalid_utf8_values_are_skipped_not_the_line() {
        let mut parser = with_headers(&DNS_HEADERS);
        let mut found = Vec::new();
        let outcome = parser.parse_line(
            b"1\tevil.com\t\xff.example,1.2.3.4\tok\xc3",
            |field, value, _| found.push((field.to_owned(), value.to_owned())),
        );
        assert_eq!(
            outcome,
            LineOutcome::Data {
                ts: Some(1_000_000)
            }
        );
        assert_eq!(
            found,
            owned(&[("ts", "1"), ("query", "evil.com"), ("answers", "1.2.3.4")])
        );
    }

    #[test]
    fn crlf_and_header_application_over_a_block() {
        let mut reader_state = parser();
        reader_state.apply_state_lines(
            b"#separator \\x09\r\n#fields\tts\tquery\r\n1\ta.example\r\n#types\ttime\tvector[string]\n",
        );
        assert_eq!(
            pairs(&mut reader_state, "2\tx.example,y.example\r"),
            owned(&[("ts", "2"), ("query", "x.example"), ("query", "y.example")])
        );
    }
}
