//! Zeek TSV logs (hunt-semantics §2.1): `#` header lines set the separators, markers,
//! column names and types; data lines are split into one value per column, container
//! columns (`vector[…]`, `set[…]`) into one value per element.

use super::super::index::{KnownShape, ValueForm};
use super::super::ioc::parse_ipv4;
use super::cpu_features::Fast;
use super::line_bits::{
    ChunkBits, Classifier, Classify, chunk_byte_bits_with, line_bits_with, span_byte_bits_with,
};
use super::time::parse_epoch_seconds;
use super::{Line, LineOutcome, ShapedValue, ValueSink, may_hold_ioc, strip_line_end, zero_bytes};

#[derive(Clone, Debug)]
pub(crate) struct ZeekTsvParser {
    separator: Vec<u8>,
    set_separator: Vec<u8>,
    empty_field: Vec<u8>,
    unset_field: Vec<u8>,
    /// Whether a marker could be one of the values the sifted parse reports (one with a
    /// possible IoC shape, [`may_hold_ioc`]), or one of the columns it keeps (with a dot or
    /// a colon, or long): with the usual markers (`(empty)`, `-`) neither, and a value or
    /// column that got that far is no marker without a comparison.
    markers_may_hold: bool,
    markers_may_be_kept: bool,
    fields: Vec<String>,
    /// Whether each column (by position in `#types`) is a container; empty while no
    /// `#types` follows the current `#fields`.
    containers: Vec<bool>,
    ts_column: Option<usize>,
    /// Leave the `ts` column unparsed ([`LineOutcome::Data`] without a time) for
    /// [`ZeekTsvParser::deferred_ts`] to read: a scan needs the time of the few lines with
    /// a match only.
    pub(crate) defer_ts: bool,
    /// The columns [`sift_columns`] kept from the current line, and the bits of its
    /// bytes; here to reuse their memory.
    sifted: Vec<SiftedColumn>,
    chunks: Vec<ChunkBits>,
    /// Whether this CPU runs [`ZeekTsvParser::parse_sifted`] compiled for x86-64-v3.
    pub(super) fast: Option<Fast>,
}

impl Default for ZeekTsvParser {
    fn default() -> Self {
        ZeekTsvParser {
            separator: b"\t".to_vec(),
            set_separator: b",".to_vec(),
            empty_field: b"(empty)".to_vec(),
            unset_field: b"-".to_vec(),
            markers_may_hold: false,
            markers_may_be_kept: false,
            fields: Vec::new(),
            containers: Vec::new(),
            ts_column: None,
            defer_ts: false,
            sifted: Vec::new(),
            chunks: Vec::new(),
            fast: Fast::detect(),
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

/// A column of a data line that [`sift_columns`] keeps for a closer look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SiftedColumn {
    column: usize,
    start: usize,
    end: usize,
    /// Whether it holds a dot or a colon; for a container (`sift_columns`'s `containers`)
    /// reached at a long run, false (its elements' marks are read apart).
    marked: bool,
}

/// Values shorter than this and without a dot or a colon have no IoC shape: only a hash
/// has neither, and the shortest hash has 32 digits (so has a container's element).
const SHORTEST_UNMARKED: usize = 32;

/// Cuts `line` at every `separator` (one byte, neither a dot, a colon nor a digit) and
/// keeps in `kept`, in column order, the columns that may hold an IoC: those with a dot or
/// a colon (every IoC shape but a hash has one), except those whose only byte besides
/// digits is one dot, and those of [`SHORTEST_UNMARKED`] bytes or more that are containers
/// (by `containers`, whose elements may be hashes) or of a hash's length. Returns the
/// number of columns. `chunks` is scratch space.
///
/// Driven by the marks and the long runs without a separator, not by the separators: the
/// bits of the whole line are computed first ([`line_bits`]), then only the columns around
/// a mark or a long run are looked at; their number is the number of separators before
/// them. Most columns of a Zeek log (counters, ports, flags, ids) cost nothing of their own.
#[inline(always)]
fn sift_columns(
    line: &[u8],
    classifier: &impl Classify,
    chunks: &mut Vec<ChunkBits>,
    kept: &mut Vec<SiftedColumn>,
    containers: &[bool],
) -> usize {
    line_bits_with(classifier, line, chunks);
    let chunks = &chunks[..];
    let length = line.len();
    let mut separators_before = 0;
    // Where the next column to look at may start: the columns before it are done.
    let mut done: usize = 0;
    let (mut after_bad, mut after_dots) = (Successors::default(), Successors::default());
    // The previous chunk's 8-byte groups without a stop.
    let mut previous_empty = 0;
    for (index, bits) in chunks.iter().enumerate() {
        let base = index * 64;
        // A column whose only byte besides digits is one dot (a time, a duration) has no
        // IoC shape: its dot is not worth a look. Any other dot has a neighbour among the
        // column's non-digits, the one before or the one after it.
        let non_digits = bits.others | bits.dots;
        let bad = non_digits & !bits.separators;
        let dots_in_company =
            bits.dots & after_bad.of(bad, non_digits) | after_dots.of(bits.dots, non_digits) & bad;
        let marks_here = bits.colons | dots_in_company;
        let empty = empty_groups(bits.separators, length.saturating_sub(base));
        let mut interesting = marks_here | long_run_ends(empty, previous_empty);
        previous_empty = empty;
        interesting &= bits_from(done.saturating_sub(base));
        while interesting != 0 {
            let offset = interesting.trailing_zeros() as usize;
            let position = base + offset;
            let start = previous_separator(chunks, position).map_or(0, |end| end + 1);
            let end = next_separator(chunks, position).unwrap_or(length);
            if end - start < SHORTEST_UNMARKED && marks_here & (1 << offset) == 0 {
                // Reached at empty groups of a column too short for a long run: its marks,
                // if any, are later bits.
                interesting &= interesting - 1;
                continue;
            }
            // No separator lies between the column's start and `position`: those before
            // it are those before the column.
            let column = separators_before + count(bits.separators & !bits_from(offset));
            // Reached at a long run or at the neighbour of a dot: the column's marks may
            // lie anywhere in it.
            let marked = bits.marks() & (1 << offset) != 0
                || containers.get(column) != Some(&true) && any_mark(chunks, start, end);
            // Without a mark, a value has a possible shape at a hash's length only.
            if marked
                || matches!(end - start, 32 | 40 | 64)
                || containers.get(column) == Some(&true)
            {
                kept.push(SiftedColumn {
                    column,
                    start,
                    end,
                    marked,
                });
            }
            done = end + 1;
            interesting &= bits_from(done.saturating_sub(base));
        }
        separators_before += count(bits.separators);
    }
    separators_before + 1
}

/// For each set bit of a mask, the next byte of a set of bytes (`events`) after it, in
/// the chunks of a line fed in order: the bit after it carried through the bytes between.
#[derive(Default)]
struct Successors {
    /// The top bit of the previous chunk's mask, shifted into this chunk.
    shifted_in: u64,
    carry: bool,
}

impl Successors {
    #[inline(always)]
    fn of(&mut self, from: u64, events: u64) -> u64 {
        let shifted = from << 1 | self.shifted_in;
        self.shifted_in = from >> 63;
        let (sum, overflow) = shifted.overflowing_add(!events);
        let (sum, carried) = sum.overflowing_add(u64::from(self.carry));
        self.carry = overflow | carried;
        sum & events
    }
}

/// The bits from `offset` on (none from 64 on).
#[inline(always)]
fn bits_from(offset: usize) -> u64 {
    // Without a branch: offsets vary from column to column.
    u64::MAX.wrapping_shl(offset as u32) & u64::from(offset < 64).wrapping_neg()
}

/// Set bits of a mask. `count_ones` without the `popcnt` instruction (which baseline
/// x86-64 code cannot assume) is a dozen instructions, fewer than a loop over the bits.
#[inline(always)]
fn count(mask: u64) -> usize {
    mask.count_ones() as usize
}

/// Bit 7 of each aligned 8-byte group of a chunk without a separator that lies inside the
/// line (`remaining` bytes of it from the chunk's start on).
#[inline(always)]
fn empty_groups(separators: u64, remaining: usize) -> u64 {
    zero_bytes(separators | bits_from(remaining))
}

/// The last byte of each third empty 8-byte group in a row of a line, in a chunk with
/// these [`empty_groups`] after a chunk with `previous` (0 for the first chunk). A column
/// of [`SHORTEST_UNMARKED`] bytes or more (a run without a separator) covers three
/// aligned groups; the column around them is measured from its separators once found: in
/// most chunks of a Zeek line no three groups in a row are empty.
#[inline(always)]
fn long_run_ends(empty: u64, previous: u64) -> u64 {
    const _: () = assert!(SHORTEST_UNMARKED >= 31);
    empty & (empty << 8 | previous >> 56) & (empty << 16 | previous >> 48)
}

/// The last separator before `position`.
#[inline(always)]
fn previous_separator(chunks: &[ChunkBits], position: usize) -> Option<usize> {
    let mut index = position / 64;
    let mut separators = chunks[index].separators & !bits_from(position % 64);
    loop {
        if separators != 0 {
            return Some(index * 64 + 63 - separators.leading_zeros() as usize);
        }
        index = index.checked_sub(1)?;
        separators = chunks[index].separators;
    }
}

/// The first separator at or after `position`.
#[inline(always)]
fn next_separator(chunks: &[ChunkBits], position: usize) -> Option<usize> {
    let mut index = position / 64;
    let mut separators = chunks[index].separators & bits_from(position % 64);
    loop {
        if separators != 0 {
            return Some(index * 64 + separators.trailing_zeros() as usize);
        }
        index += 1;
        separators = chunks.get(index)?.separators;
    }
}

/// What the bits of a line tell of the value at `start..end`: enough to apply the rule of
/// [`may_hold_ioc`] and to tell which single shape the value can still have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SpanMarks {
    length: usize,
    /// No dot, three dots, or some other number of them.
    dots: DotCount,
    colons: bool,
    /// A byte that is neither a digit nor a dot.
    others: bool,
    /// Where the dots are (bit `i` for byte `i` of the value) when the value is at most
    /// 64 bytes long, else 0.
    dot_bits: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DotCount {
    None,
    Three,
    Other,
}

impl SpanMarks {
    /// The marks of a value of at most 64 bytes from its bits (bit `i` for byte `i`, none
    /// past its end). Its dots are counted only as far as the rule needs (none, three, or
    /// another number).
    #[inline(always)]
    fn from_bits(length: usize, dot_bits: u64, colon_bits: u64, other_bits: u64) -> SpanMarks {
        let without_two = dot_bits & dot_bits.wrapping_sub(1);
        let without_two = without_two & without_two.wrapping_sub(1);
        let three = without_two != 0 && without_two & without_two.wrapping_sub(1) == 0;
        let dots = match (dot_bits, three) {
            (0, _) => DotCount::None,
            (_, true) => DotCount::Three,
            _ => DotCount::Other,
        };
        SpanMarks {
            length,
            dots,
            colons: colon_bits != 0,
            others: other_bits != 0,
            dot_bits,
        }
    }

    /// [`may_hold_ioc`] of the value.
    #[inline(always)]
    fn may_hold_ioc(&self) -> bool {
        if self.length < 2 {
            return false;
        }
        let hash_length = matches!(self.length, 32 | 40 | 64);
        match (self.dots, self.colons) {
            (DotCount::None, false) => hash_length,
            _ => self.colons || self.others || self.dots == DotCount::Three || hash_length,
        }
    }

    /// The one shape (or pair: colons) a value the rule lets through can still have; None
    /// when it may have several (a colon and a dot: URL or IPv6 with an IPv4 tail) or when
    /// it is left to the general rule (digits and dots of a hash's length). `value` lies at
    /// `start` of `line`.
    #[inline(always)]
    fn known_shape(
        &self,
        (line, start, value): (&[u8], usize, &[u8]),
        classifier: &impl Classify,
    ) -> Option<KnownShape> {
        match (self.dots, self.colons, self.others) {
            // A slash found with one comparison of the 64 bytes ending with the value, not
            // a search called for each value.
            (DotCount::None, true, _) => Some(KnownShape::Colons((self.length <= 64).then(|| {
                span_byte_bits_with(classifier, line, start, start + self.length, b'/') != 0
            }))),
            (_, true, _) => None,
            // The rule lets such a value through at a hash's length only (32 bytes or more).
            (DotCount::None, false, _) => Some(KnownShape::Hash(classifier.hex_prefix(value))),
            (_, false, true) => Some(KnownShape::Domain(self.dot_bits)),
            (DotCount::Three, false, false) if self.dot_bits != 0 => Some(KnownShape::Ipv4(
                classifier.ipv4_at_dots(value, self.dot_bits),
            )),
            (DotCount::Three, false, false) => Some(KnownShape::Ipv4(parse_ipv4(value))),
            (DotCount::Other, false, false) => None,
        }
    }
}

/// The [`SpanMarks`] of the value at `start..end` of a line, from the line's bits.
#[inline(always)]
fn span_marks(chunks: &[ChunkBits], start: usize, end: usize) -> SpanMarks {
    let length = end - start;
    if length == 0 {
        return SpanMarks {
            length,
            dots: DotCount::None,
            colons: false,
            others: false,
            dot_bits: 0,
        };
    }
    let (first, last) = (start / 64, (end - 1) / 64);
    if length <= 64 && last <= first + 1 {
        // The common case, a value of one or two chunks: its bits in one word, from its
        // start on.
        let (here, next) = (&chunks[first], &chunks[last]);
        let window = ValueWindow::new(start, length);
        let window = |here, next| window.bits(here, next);
        return SpanMarks::from_bits(
            length,
            window(here.dots, next.dots),
            window(here.colons, next.colons),
            window(here.others, next.others),
        );
    }
    let mut dots = 0;
    let mut colons = false;
    let mut others = false;
    for (offset, bits) in chunks[first..=last].iter().enumerate() {
        let base = (first + offset) * 64;
        let mut inside = bits_from(start.saturating_sub(base));
        if end < base + 64 {
            inside &= !bits_from(end - base);
        }
        dots += count(bits.dots & inside);
        colons |= bits.colons & inside != 0;
        others |= bits.others & inside != 0;
    }
    let dots = match dots {
        0 => DotCount::None,
        3 => DotCount::Three,
        _ => DotCount::Other,
    };
    SpanMarks {
        length,
        dots,
        colons,
        others,
        dot_bits: 0,
    }
}

/// The bits of a value of 1 to 64 bytes that lies in at most two chunks, taken from the
/// masks of its first (`here`) and last (`next`) chunk into one word, from its start on.
#[derive(Clone, Copy)]
struct ValueWindow {
    shift: u32,
    inside: u64,
}

impl ValueWindow {
    #[inline(always)]
    fn new(start: usize, length: usize) -> Self {
        debug_assert!((1..=64).contains(&length));
        ValueWindow {
            shift: (start % 64) as u32,
            inside: u64::MAX >> (64 - length),
        }
    }

    /// When the value is inside one chunk, `next` is `here`: what it adds lies after the
    /// value's end (or is `here` itself, for a value at the chunk's start).
    #[inline(always)]
    fn bits(self, here: u64, next: u64) -> u64 {
        ((here >> self.shift) | next.wrapping_shl(64 - self.shift)) & self.inside
    }
}

/// [`may_hold_ioc`] of the value at `start..end` of a line, from the line's bits.
#[cfg(test)]
fn may_hold_ioc_at(chunks: &[ChunkBits], start: usize, end: usize) -> bool {
    span_marks(chunks, start, end).may_hold_ioc()
}

/// The elements of the container at `start..end` of a line, as `(start, end)`, cut at each
/// set separator (found in the chunks of the container alone: few columns are containers).
/// An iterator, so that its caller's loop body is compiled once, inline: a callback called
/// from two places stayed a function of its own, without the caller's target features.
struct Elements<'a, C> {
    classifier: &'a C,
    line: &'a [u8],
    set_separator: u8,
    start: usize,
    end: usize,
    element_start: usize,
    /// The chunk `sets` belongs to, and the container's last chunk.
    index: usize,
    last: usize,
    /// The set separators of chunk `index` not yet returned.
    sets: u64,
    done: bool,
}

impl<'a, C: Classify> Elements<'a, C> {
    #[inline(always)]
    fn new(classifier: &'a C, line: &'a [u8], set_separator: u8, start: usize, end: usize) -> Self {
        let mut elements = Elements {
            classifier,
            line,
            set_separator,
            start,
            end,
            element_start: start,
            index: 1,
            last: 0,
            sets: 0,
            done: false,
        };
        if start < end {
            elements.index = start / 64;
            elements.last = (end - 1) / 64;
            elements.sets = elements.chunk_sets();
        }
        elements
    }

    /// The set separators of chunk `index` inside the container.
    #[inline(always)]
    fn chunk_sets(&self) -> u64 {
        let base = self.index * 64;
        let mut sets =
            chunk_byte_bits_with(self.classifier, self.line, self.index, self.set_separator)
                & bits_from(self.start.saturating_sub(base));
        if self.end < base + 64 {
            sets &= !bits_from(self.end - base);
        }
        sets
    }
}

impl<C: Classify> Iterator for Elements<'_, C> {
    type Item = (usize, usize);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, usize)> {
        loop {
            if self.sets != 0 {
                let position = self.index * 64 + self.sets.trailing_zeros() as usize;
                self.sets &= self.sets - 1;
                let element = (self.element_start, position);
                self.element_start = position + 1;
                return Some(element);
            }
            if self.index < self.last {
                self.index += 1;
                self.sets = self.chunk_sets();
                continue;
            }
            if self.done {
                return None;
            }
            self.done = true;
            return Some((self.element_start, self.end));
        }
    }
}

/// Whether a container of `length` bytes with these bits (bit `i` for byte `i`) is short
/// numbers only (`vector[interval]`, TTLs): shorter than a hash, digits, dots and set
/// separators only, fewer than three dots in all. None of its elements can have an IoC
/// shape, so none is looked at.
#[inline(always)]
fn numbers_only(length: usize, dots: u64, colons: u64, others: u64, sets: u64) -> bool {
    let without_two = dots & dots.wrapping_sub(1);
    (1..SHORTEST_UNMARKED).contains(&length)
        && colons == 0
        && without_two & without_two.wrapping_sub(1) == 0
        && others & !sets == 0
}

/// The low `count` bits (0 to 64).
#[inline(always)]
fn low_bits(count: usize) -> u64 {
    u64::MAX.checked_shr(64 - count as u32).unwrap_or(0)
}

/// Whether a mark lies in `from..to`.
#[inline(always)]
fn any_mark(chunks: &[ChunkBits], from: usize, to: usize) -> bool {
    let length = to.saturating_sub(from);
    let (first, last) = (from / 64, to.wrapping_sub(1) / 64);
    if (1..=64).contains(&length) && last <= first + 1 {
        // Most columns reached this way (cipher names, a hash list, ids) span at most two
        // chunks: their marks in one word, as `span_marks` reads them.
        let (here, next) = (&chunks[first], &chunks[last]);
        return ValueWindow::new(from, length).bits(here.marks(), next.marks()) != 0;
    }
    from < to
        && (from / 64..=(to - 1) / 64).any(|index| {
            let Some(bits) = chunks.get(index) else {
                return false;
            };
            let base = index * 64;
            let mut marks = bits.marks() & bits_from(from.saturating_sub(base));
            if to < base + 64 {
                marks &= !bits_from(to - base);
            }
            marks != 0
        })
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
        sink: &mut impl ValueSink,
    ) -> LineOutcome {
        self.parse_inline::<ONLY_POSSIBLE_IOCS>(line, sink, None)
    }

    /// [`ZeekTsvParser::parse`] inlined into its caller: into a loop over lines compiled for
    /// the CPU features of `inside` (run by [`Fast::run`]) when it is given, with them.
    #[inline(always)]
    pub(crate) fn parse_inline<const ONLY_POSSIBLE_IOCS: bool>(
        &mut self,
        line: Line<'_>,
        sink: &mut impl ValueSink,
        inside: Option<Fast>,
    ) -> LineOutcome {
        let bytes = line.bytes;
        if bytes.first() == Some(&b'#') {
            self.apply_header(bytes);
            return LineOutcome::Header;
        }
        if self.fields.is_empty() {
            return LineOutcome::Malformed;
        }
        if ONLY_POSSIBLE_IOCS
            && let [separator] = self.separator[..]
            && separator != b'.'
            && separator != b':'
            && !separator.is_ascii_digit()
        {
            return self.parse_sifted(line, separator, sink, inside);
        }
        let mut column = 0;
        let mut ts_span = None;
        for (start, end) in Spans::new(bytes, &self.separator) {
            if column >= self.fields.len() {
                return LineOutcome::Malformed;
            }
            if self.ts_column == Some(column) {
                ts_span = Some((start, end));
            }
            self.column::<ONLY_POSSIBLE_IOCS>(line, column, (start, end), None, sink);
            column += 1;
        }
        if column != self.fields.len() {
            return LineOutcome::Malformed;
        }
        self.data_outcome(bytes, ts_span)
    }

    /// [`ZeekTsvParser::parse`] of the values that may have an IoC shape, for a one-byte
    /// separator: the columns that may hold one are sifted out first, and the column count
    /// checked before any value is reported. The bits of the line then tell each value's
    /// possible shape, and where a container's elements are.
    #[inline(always)]
    fn parse_sifted(
        &mut self,
        line: Line<'_>,
        separator: u8,
        sink: &mut impl ValueSink,
        inside: Option<Fast>,
    ) -> LineOutcome {
        // Inside `Fast::run`, its proof (`self.fast` is then the same).
        match inside.or(self.fast) {
            Some(fast) => fast.parse_sifted((self, line, separator, sink)),
            None => {
                let classifier = Classifier::new(separator);
                Self::parse_sifted_here((self, line, &classifier, sink))
            }
        }
    }

    /// [`ZeekTsvParser::parse_sifted`], compiled into each of its two callers, each with
    /// its classifier of the line's bytes; its arguments in one tuple for
    /// [`Fast::parse_sifted`].
    #[inline(always)]
    pub(super) fn parse_sifted_here<S: ValueSink, C: Classify>(
        (this, line, classifier, sink): (&mut Self, Line<'_>, &C, &mut S),
    ) -> LineOutcome {
        let bytes = line.bytes;
        let mut sifted = std::mem::take(&mut this.sifted);
        sifted.clear();
        let set_separator = match this.set_separator[..] {
            [byte] => Some(byte),
            _ => None,
        };
        let columns = sift_columns(
            bytes,
            classifier,
            &mut this.chunks,
            &mut sifted,
            &this.containers,
        );
        let outcome = if columns == this.fields.len() {
            for kept in &sifted {
                this.sifted_column(line, kept, set_separator, classifier, sink);
            }
            let ts_span = if this.defer_ts {
                None
            } else {
                this.ts_span(bytes)
            };
            this.data_outcome(bytes, ts_span)
        } else {
            LineOutcome::Malformed
        };
        this.sifted = sifted;
        outcome
    }

    /// Reports the values of a column [`sift_columns`] kept; `set_separator` when it is
    /// one byte long.
    #[inline(always)]
    fn sifted_column(
        &self,
        line: Line<'_>,
        kept: &SiftedColumn,
        set_separator: Option<u8>,
        classifier: &impl Classify,
        sink: &mut impl ValueSink,
    ) {
        let Some(field) = self.fields.get(kept.column) else {
            return;
        };
        let (start, end) = (kept.start, kept.end);
        if self.containers.get(kept.column) != Some(&true) {
            let marks = if kept.marked {
                span_marks(&self.chunks, start, end)
            } else {
                // Without a dot or a colon: only a hash's length leaves a possible shape.
                SpanMarks {
                    length: end - start,
                    dots: DotCount::None,
                    colons: false,
                    others: true,
                    dot_bits: 0,
                }
            };
            self.sifted_value(line, field, (start, end), marks, classifier, sink);
            return;
        }
        let Some(set_separator) = set_separator else {
            self.column::<true>(line, kept.column, (start, end), None, sink);
            return;
        };
        let value = &line.bytes[start..end];
        if self.markers_may_be_kept
            && (is_marker(value, &self.empty_field) || is_marker(value, &self.unset_field))
        {
            return;
        }
        let length = end - start;
        let (first, last) = (start / 64, end.saturating_sub(1) / 64);
        if (1..=64).contains(&length) && last <= first + 1 {
            // The container's bits in one word each, its set separators found once: each
            // element's marks are a shift of them, without going back to the chunks.
            let sets = span_byte_bits_with(classifier, line.bytes, start, end, set_separator);
            let (here, next) = (&self.chunks[first], &self.chunks[last]);
            let window = ValueWindow::new(start, length);
            let dots = window.bits(here.dots, next.dots);
            let colons = window.bits(here.colons, next.colons);
            let others = window.bits(here.others, next.others);
            if numbers_only(length, dots, colons, others, sets) {
                return;
            }
            let mut element_start = 0;
            let mut later_sets = sets;
            loop {
                let element_end = match later_sets {
                    0 => length,
                    _ => later_sets.trailing_zeros() as usize,
                };
                let inside = low_bits(element_end - element_start);
                let bits = |bits: u64| bits.checked_shr(element_start as u32).unwrap_or(0) & inside;
                let marks = SpanMarks::from_bits(
                    element_end - element_start,
                    bits(dots),
                    bits(colons),
                    bits(others),
                );
                let element = (start + element_start, start + element_end);
                self.sifted_value(line, field, element, marks, classifier, sink);
                if later_sets == 0 {
                    return;
                }
                later_sets &= later_sets - 1;
                element_start = element_end + 1;
            }
        }
        // Longer than a hash: not numbers only.
        for (start, end) in Elements::new(classifier, line.bytes, set_separator, start, end) {
            let marks = span_marks(&self.chunks, start, end);
            self.sifted_value(line, field, (start, end), marks, classifier, sink);
        }
    }

    /// Reports the value at `start..end` if it may have an IoC shape (`marks`, from the
    /// line's bits) and is not a marker, with its shape when only one is possible.
    #[inline(always)]
    fn sifted_value(
        &self,
        line: Line<'_>,
        field: &str,
        (start, end): (usize, usize),
        marks: SpanMarks,
        classifier: &impl Classify,
        sink: &mut impl ValueSink,
    ) {
        if !marks.may_hold_ioc() {
            return;
        }
        let value = &line.bytes[start..end];
        if self.markers_may_hold
            && (is_marker(value, &self.empty_field) || is_marker(value, &self.unset_field))
        {
            return;
        }
        match marks.known_shape((line.bytes, start, value), classifier) {
            Some(shape) => sink.known(field, ShapedValue::new(line, start, end), shape),
            None => {
                if let Some(text) = line.text(start, end) {
                    sink.value(field, text, ValueForm::Plain);
                }
            }
        }
    }

    /// A data line's outcome, its time read from `ts_span` unless it is deferred.
    fn data_outcome(&self, bytes: &[u8], ts_span: Option<(usize, usize)>) -> LineOutcome {
        let ts = if self.defer_ts {
            None
        } else {
            ts_span.and_then(|(start, end)| parse_epoch_seconds(&bytes[start..end]))
        };
        LineOutcome::Data { ts }
    }

    /// Where the `ts` column of a data line (without its line end) is.
    fn ts_span(&self, line: &[u8]) -> Option<(usize, usize)> {
        Spans::new(line, &self.separator).nth(self.ts_column?)
    }

    /// The time of a data line parsed with [`ZeekTsvParser::defer_ts`] (the headers in
    /// force being those it was parsed with).
    pub(crate) fn deferred_ts(&self, line: &[u8]) -> Option<super::super::index::Micros> {
        let line = strip_line_end(line);
        let (start, end) = self.ts_span(line)?;
        parse_epoch_seconds(&line[start..end])
    }

    /// Reports the values of column `column` (one of the field names) at `start..end`;
    /// `may_hold`, when given, is [`may_hold_ioc`] of the whole value, already known.
    #[inline(always)]
    fn column<const ONLY_POSSIBLE_IOCS: bool>(
        &self,
        line: Line<'_>,
        column: usize,
        (start, end): (usize, usize),
        may_hold: Option<bool>,
        sink: &mut impl ValueSink,
    ) {
        let Some(field) = self.fields.get(column) else {
            return;
        };
        let container = self.containers.get(column) == Some(&true);
        if ONLY_POSSIBLE_IOCS
            && !container
            && !may_hold.unwrap_or_else(|| may_hold_ioc(&line.bytes[start..end]))
        {
            return;
        }
        let value = &line.bytes[start..end];
        if value.is_empty()
            || is_marker(value, &self.empty_field)
            || is_marker(value, &self.unset_field)
        {
            return;
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
                    sink.value(field, text, ValueForm::Plain);
                }
            }
        } else if let Some(text) = line.text(start, end) {
            sink.value(field, text, ValueForm::Plain);
        }
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
                    self.markers_changed();
                }
            }
            b"#unset_field" => {
                if let Some(value) = values.first() {
                    self.unset_field = value.to_vec();
                    self.markers_changed();
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

    /// Sets [`ZeekTsvParser::markers_may_hold`] and [`ZeekTsvParser::markers_may_be_kept`]
    /// for the markers now in force.
    fn markers_changed(&mut self) {
        let markers = [&self.empty_field, &self.unset_field];
        self.markers_may_hold = markers.iter().any(|marker| may_hold_ioc(marker));
        // A kept column has a dot or a colon or is long (`sift_columns`).
        self.markers_may_be_kept = markers.iter().any(|marker| {
            marker.len() >= SHORTEST_UNMARKED
                || marker.iter().any(|&byte| matches!(byte, b'.' | b':'))
        });
    }

    /// Applies every header line of `block` (whole lines), in order.
    pub(crate) fn apply_header_lines(&mut self, block: &[u8]) {
        let mut apply_at = |start: usize| {
            let end = memchr::memchr(b'\n', &block[start..]).map_or(block.len(), |end| start + end);
            self.apply_header(strip_line_end(&block[start..end]));
        };
        // A lone `#` is rarer in logs than any byte pair memmem would pick, and one-byte
        // memchr is about twice as fast.
        for hash in memchr::memchr_iter(b'#', block) {
            if hash == 0 || block[hash - 1] == b'\n' {
                apply_at(hash);
            }
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

    /// What [`super::sift_columns`] keeps, byte by byte.
    fn sift_reference(line: &[u8], separator: u8) -> (usize, Vec<super::SiftedColumn>) {
        let mut kept = Vec::new();
        let mut columns = 0;
        let mut start = 0;
        for (column, value) in line.split(|&byte| byte == separator).enumerate() {
            let marked = value.iter().any(|&byte| matches!(byte, b'.' | b':'));
            let non_digits = value.iter().filter(|byte| !byte.is_ascii_digit()).count();
            let lone_dot = !value.contains(&b':') && non_digits == 1;
            if marked && !lone_dot || matches!(value.len(), 32 | 40 | 64) {
                kept.push(super::SiftedColumn {
                    column,
                    start,
                    end: start + value.len(),
                    marked,
                });
            }
            start += value.len() + 1;
            columns += 1;
        }
        (columns, kept)
    }

    fn sifted(line: &[u8], separator: u8) -> (usize, Vec<super::SiftedColumn>) {
        let mut kept = Vec::new();
        let classifier = super::Classifier::new(separator);
        let columns = super::sift_columns(line, &classifier, &mut Vec::new(), &mut kept, &[]);
        (columns, kept)
    }

    #[test]
    fn sifting_columns_word_by_word() {
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
            for length in 0..100 {
                for pattern in 0..8usize {
                    let line: Vec<u8> = (0..length)
                        .map(|index: usize| {
                            let byte = alphabet[(index * (pattern + 3)
                                + pattern * index / 5
                                + index / (pattern + 7))
                                % alphabet.len()];
                            if byte == b'\t' { separator } else { byte }
                        })
                        .collect();
                    assert_eq!(
                        sifted(&line, separator),
                        sift_reference(&line, separator),
                        "{separator} {line:?}"
                    );
                }
            }
        }
        // A long column without marks is kept, a shorter one is not; so is a number with
        // one dot, not a column whose dot has company.
        let long = [b'a'; 32];
        let line = [&long[..], b"\tx\t", &long[1..], b"\t1.a"].concat();
        assert_eq!(
            sifted(&line, b'\t'),
            (
                4,
                vec![
                    super::SiftedColumn {
                        column: 0,
                        start: 0,
                        end: 32,
                        marked: false
                    },
                    super::SiftedColumn {
                        column: 3,
                        start: 67,
                        end: 70,
                        marked: true
                    }
                ]
            )
        );
        let line = b"1772323200.666609\t0.000982\t1.5.\t.5\t10.0.0.1";
        let kept: Vec<_> = sifted(line, b'\t')
            .1
            .iter()
            .map(|kept| kept.column)
            .collect();
        assert_eq!(kept, [2, 4]);
    }

    proptest::proptest! {
        #[test]
        fn sifting_columns_is_the_byte_by_byte_rule(
            line in proptest::collection::vec(
                proptest::prop_oneof![
                    2 => proptest::sample::select(b"\t.:a0*>\x00\x01\xff\xae\x2a\x3e\x3f".to_vec()),
                    3 => proptest::sample::select(b"aaaaaaaaaaaaaaaaaaa\t".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                0..300,
            ),
            separator in proptest::sample::select(vec![b'\t', 0x00, 0xff, b'|', b'a']),
        ) {
            proptest::prop_assert_eq!(sifted(&line, separator), sift_reference(&line, separator));
        }

        /// Long columns, with and without marks, across the 64-byte chunks of a line.
        #[test]
        fn sifting_long_columns_is_the_byte_by_byte_rule(
            columns in proptest::collection::vec(
                (0..100usize, proptest::option::of(0..100usize)),
                1..8,
            ),
        ) {
            let line: Vec<u8> = columns
                .iter()
                .map(|&(length, mark)| {
                    let mut column = vec![b'f'; length];
                    if let Some(mark) = mark.filter(|&mark| mark < length) {
                        column[mark] = b'.';
                    }
                    column
                })
                .collect::<Vec<_>>()
                .join(&b'\t');
            proptest::prop_assert_eq!(sifted(&line, b'\t'), sift_reference(&line, b'\t'));
        }

        /// What the bits of a line tell of a value is what its bytes tell.
        #[test]
        fn possible_shapes_from_the_bits_of_a_line(
            line in proptest::collection::vec(
                proptest::prop_oneof![
                    3 => proptest::sample::select(b"0123456789.".to_vec()),
                    1 => proptest::sample::select(b":a/\t\xb0\xae\x00".to_vec()),
                ],
                0..200,
            ),
            start in 0..200usize,
            length in 0..80usize,
        ) {
            let start = start.min(line.len());
            let end = (start + length).min(line.len());
            let mut chunks = Vec::new();
            super::super::line_bits::line_bits(&line, b'\t', &mut chunks);
            proptest::prop_assert_eq!(
                super::may_hold_ioc_at(&chunks, start, end),
                super::may_hold_ioc(&line[start..end]),
                "{:?}",
                &line[start..end]
            );
        }
    }

    /// Values a Zeek column may hold: shapes, near-shapes, markers, containers, long
    /// values with and without marks, bytes that are not UTF-8.
    const COLUMN_VALUES: [&[u8]; 27] = [
        b"1.2.3.4",
        b"evil.com",
        b"-",
        b"(empty)",
        b"",
        b"1772323200.123456",
        b"d41d8cd98f00b204e9800998ecf8427e",
        b"D41D8CD98F00B204E9800998ECF8427EDA39A3EE",
        b"da39a3ee5e6b4b0d3255bfef95601890afd80709d41d8cd98f00b204e9800998",
        b"d41d8cd98f00b204e9800998ecf8427e,da39a3ee5e6b4b0d3255bfef95601890afd80709",
        b"cname.example,1.2.3.4,-,(empty),",
        b"2001:db8::1",
        b"http://evil.com/x",
        b"CqKst53mF3det3eDV9",
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        b"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        b"0.000870",
        b"443",
        b"\xff.example",
        b"x.\xc3\xa9",
        b"a*b",
        b"1>2",
        b"2230.000000,41830.000000",
        b"evil.com,1.2.3.4",
        b"0.5,1.2.3.4",
        b"1.2,3",
        b"12,1.2.3,4",
    ];

    /// A parser reporting every value, and one as a scan uses it, after the same headers.
    fn zeek_parsers(separator: &str) -> (LineParser, LineParser) {
        let sep = separator;
        let headers = format!(
            "#separator \\x{:02x}\n#set_separator{sep},\n#fields{sep}ts{sep}a{sep}b{sep}c{sep}d{sep}e\n#types{sep}time{sep}string{sep}vector[string]{sep}addr{sep}set[string]{sep}string\n",
            sep.as_bytes()[0]
        );
        let mut every_value = parser();
        every_value.apply_state_lines(headers.as_bytes());
        let mut possible_iocs = every_value.clone();
        possible_iocs.report_only_possible_iocs();
        possible_iocs.defer_zeek_ts();
        (every_value, possible_iocs)
    }

    proptest::proptest! {
        /// Sifting columns by their bytes drops exactly the values that cannot have an IoC
        /// shape: what a scan gets is every value, filtered by the rule of `may_hold_ioc`.
        #[test]
        fn sifted_values_are_every_value_with_a_possible_shape(
            picks in proptest::collection::vec(0..COLUMN_VALUES.len(), 5..8),
            separator in proptest::sample::select(vec!["\t", "|", "\x00"]),
        ) {
            let (mut every_value, mut possible_iocs) = zeek_parsers(separator);
            let line: Vec<u8> = picks
                .iter()
                .map(|&pick| COLUMN_VALUES[pick].to_vec())
                .collect::<Vec<_>>()
                .join(separator.as_bytes());
            let mut all = Vec::new();
            let full = every_value.parse_line(&line, |field, value, form| {
                all.push((field.to_owned(), value.to_owned(), form))
            });
            let mut sifted = Vec::new();
            let outcome = possible_iocs.parse_line(&line, |field, value, form| {
                sifted.push((field.to_owned(), value.to_owned(), form))
            });
            let mut baseline = possible_iocs.clone();
            baseline.without_cpu_features();
            let mut baseline_sifted = Vec::new();
            let baseline_outcome = baseline.parse_line(&line, |field, value, form| {
                baseline_sifted.push((field.to_owned(), value.to_owned(), form))
            });
            proptest::prop_assert_eq!(baseline_outcome, outcome);
            proptest::prop_assert_eq!(&baseline_sifted, &sifted);
            if picks.len() == 6 {
                let ts = match full {
                    LineOutcome::Data { ts } => ts,
                    other => panic!("{other:?}"),
                };
                proptest::prop_assert_eq!(outcome, LineOutcome::Data { ts: None });
                proptest::prop_assert_eq!(possible_iocs.deferred_ts(&line), ts);
                all.retain(|(_, value, _)| super::may_hold_ioc(value.as_bytes()));
                proptest::prop_assert_eq!(sifted, all);
            } else {
                proptest::prop_assert_eq!(full, LineOutcome::Malformed);
                proptest::prop_assert_eq!(outcome, LineOutcome::Malformed);
                proptest::prop_assert!(sifted.is_empty());
            }
        }
    }

    /// Markers that look like IoCs are still markers when a scan sifts the columns, as a
    /// whole column and as an element, with the CPU's features and without.
    #[test]
    fn sifted_markers_with_a_shape_are_not_values() {
        let headers = "#separator \\x09\n#set_separator\t,\n#empty_field\tn.a\n#unset_field\td41d8cd98f00b204e9800998ecf8427e\n#fields\tts\ta\tb\n#types\ttime\tstring\tvector[string]\n";
        let mut possible_iocs = parser();
        possible_iocs.apply_state_lines(headers.as_bytes());
        possible_iocs.report_only_possible_iocs();
        let mut baseline = possible_iocs.clone();
        baseline.without_cpu_features();
        for mut parser in [possible_iocs, baseline] {
            for (line, expected) in [
                ("1.0\tn.a\tn.a", vec![]),
                (
                    "1.0\td41d8cd98f00b204e9800998ecf8427e\tn.a,x.com,d41d8cd98f00b204e9800998ecf8427e",
                    vec![("b".to_owned(), "x.com".to_owned())],
                ),
                (
                    "1.0\tn.b\td41d8cd98f00b204e9800998ecf8427e",
                    vec![("a".to_owned(), "n.b".to_owned())],
                ),
            ] {
                let mut found = Vec::new();
                parser.parse_line(line.as_bytes(), |field, value, _| {
                    found.push((field.to_owned(), value.to_owned()))
                });
                assert_eq!(found, expected, "{line}");
            }
        }
    }

    /// IoCs the values of the shape test below may match: one of each kind, a CIDR that
    /// holds every IPv4 address, and the hashes and names of [`COLUMN_VALUES`].
    const SHAPE_IOCS: [&str; 13] = [
        "1.2.3.4",
        "0.0.0.0/0",
        "evil.com",
        "cname.example",
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709d41d8cd98f00b204e9800998",
        "2001:db8::1",
        "http://evil.com/x",
        "a-b_c.d0",
        "2001:db8:1::/48",
        // URLs without a dot: values with colons, their slash found from the line's bytes
        // (within 64 bytes) or searched for.
        "http://localhost/x",
        "http://localhost/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    ];

    /// More values around the shapes a column's bits tell apart.
    const SHAPE_VALUES: [&str; 28] = [
        "x.evil.com",
        "EVIL.COM.",
        "evil.com..",
        ".evil.com",
        "-evil.com",
        "evil.com/x",
        "1.2.3.999",
        "01.2.3.4",
        "1..2.3",
        "255.255.255.255",
        "1.2.3.4.",
        "D41D8CD98F00B204E9800998ECF8427E",
        "d41d8cd98f00b204e9800998ecf8427g",
        // Decodes like the IoC's last digit `e` when not checked to be hex.
        "d41d8cd98f00b204e9800998ecf8427u",
        "d41d8cd98f00b204e9800998ecf8427e0",
        "1.2345678901234567890123456789.0",
        "a-b_c.D0",
        "2001:DB8::1",
        "2001:db8:1:0:0:0:0:9",
        "2001:db8::g",
        "::",
        ":",
        "evil.com:80",
        "http://[2001:db8::1]:80/",
        "ab:cd/ef",
        "http://localhost/x",
        "HTTP://LOCALHOST/x",
        "http://localhost/yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    ];

    fn column_value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let picks: Vec<String> = COLUMN_VALUES
            .iter()
            .map(|value| String::from_utf8_lossy(value).replace([',', '\t'], ""))
            .chain(SHAPE_VALUES.iter().map(|value| value.to_string()))
            .collect();
        prop_oneof![
            proptest::sample::select(picks),
            "[0-9.]{1,16}",
            "[0-9a-fA-F]{31,33}|[0-9a-fA-F]{39,41}|[0-9a-fA-F]{63,65}",
            "[a-zA-Z0-9._-]{1,30}",
            "[0-9a-f.:/]{2,20}",
        ]
    }

    /// Matches what a parser reports, a value of a known shape both ways.
    struct ShapeCheck<'a> {
        index: &'a crate::hunt::index::IocIndex,
        reported: Vec<(String, String, Vec<u32>)>,
        known: usize,
    }

    impl ShapeCheck<'_> {
        fn matches(&self, value: &str) -> Vec<u32> {
            let mut candidates = Vec::new();
            self.index
                .match_value(value, ValueForm::Plain, &mut candidates);
            candidates.iter().map(|candidate| candidate.ioc.0).collect()
        }
    }

    impl super::ValueSink for ShapeCheck<'_> {
        fn value(&mut self, field: &str, value: &str, form: ValueForm) {
            assert_eq!(form, ValueForm::Plain);
            let found = self.matches(value);
            self.reported
                .push((field.to_owned(), value.to_owned(), found));
        }

        fn known(
            &mut self,
            field: &str,
            value: super::ShapedValue<'_>,
            shape: crate::hunt::index::KnownShape,
        ) {
            let mut candidates = Vec::new();
            self.index
                .match_known(value.preceded(), shape, &mut candidates);
            let value = value.text().expect("the test's lines are text");
            let found: Vec<u32> = candidates.iter().map(|candidate| candidate.ioc.0).collect();
            assert_eq!(found, self.matches(value), "{value} as {shape:?}");
            self.known += 1;
            self.reported
                .push((field.to_owned(), value.to_owned(), found));
        }
    }

    proptest::proptest! {
        /// A value whose shape the bits of its line tell goes straight to that shape's
        /// tables and matches what the general rule matches; a scan sees the same values,
        /// with the same matches, as the byte-by-byte rule gives.
        #[test]
        fn known_shapes_match_like_the_general_rule(
            values in proptest::collection::vec(column_value(), 6),
            container in proptest::collection::vec(column_value(), 1..4),
            separator in proptest::sample::select(vec!["\t", "|"]),
        ) {
            let mut builder = crate::hunt::index::IocIndexBuilder::new();
            for (source, ioc) in SHAPE_IOCS.iter().enumerate() {
                builder
                    .add(None, ioc, crate::hunt::index::Window::default(), source as u32)
                    .unwrap();
            }
            let index = builder.build();
            let (mut every_value, mut possible_iocs) = zeek_parsers(separator);
            let mut values = values;
            values[2] = container.join(",");
            values[4] = container.join(",");
            let line = values.join(separator);
            let mut check = ShapeCheck { index: &index, reported: Vec::new(), known: 0 };
            let outcome = possible_iocs.parse_line_text_into(&line, &mut check);
            proptest::prop_assert_eq!(outcome, LineOutcome::Data { ts: None });
            let mut baseline = possible_iocs.clone();
            baseline.without_cpu_features();
            let mut baseline_check = ShapeCheck { index: &index, reported: Vec::new(), known: 0 };
            baseline.parse_line_text_into(&line, &mut baseline_check);
            proptest::prop_assert_eq!(&baseline_check.reported, &check.reported);
            proptest::prop_assert_eq!(baseline_check.known, check.known);
            let mut expected = ShapeCheck { index: &index, reported: Vec::new(), known: 0 };
            every_value.parse_line(line.as_bytes(), |field, value, form| {
                if super::may_hold_ioc(value.as_bytes()) {
                    super::ValueSink::value(&mut expected, field, value, form);
                }
            });
            proptest::prop_assert_eq!(check.reported, expected.reported);
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
