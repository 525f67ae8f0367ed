//! Where a line's separators, dots, colons and other bytes are, one bit per byte, 64 bytes
//! at a time: with SSE2 (baseline on x86-64, through `safe_arch`'s safe wrappers, since unsafe
//! code is denied here) sixteen bytes cost a handful of instructions; elsewhere eight bytes
//! at a time in ordinary integers. Zeek columns are a few bytes long: finding the next
//! separator call by call (`memchr`) costs more per column than classifying every byte.

/// Bit `i` of each mask stands for byte `i` of a chunk of 64 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChunkBits {
    pub(crate) separators: u64,
    pub(crate) dots: u64,
    pub(crate) colons: u64,
    /// Bytes that are neither an ASCII digit nor a dot (separators and colons included).
    pub(crate) others: u64,
}

impl ChunkBits {
    /// Dots and colons: every IoC shape but a hash holds one.
    #[inline(always)]
    pub(crate) fn marks(&self) -> u64 {
        self.dots | self.colons
    }

    /// Only the bits of `kept`.
    #[inline(always)]
    fn masked(self, kept: u64) -> ChunkBits {
        ChunkBits {
            separators: self.separators & kept,
            dots: self.dots & kept,
            colons: self.colons & kept,
            others: self.others & kept,
        }
    }

    #[inline(always)]
    fn shifted_down(self, shift: u32) -> ChunkBits {
        ChunkBits {
            separators: self.separators >> shift,
            dots: self.dots >> shift,
            colons: self.colons >> shift,
            others: self.others >> shift,
        }
    }
}

/// The bits of `line`, 64 bytes per entry of `chunks` (cleared first); no bit is set past
/// the end of `line`.
#[cfg(test)]
pub(crate) fn line_bits(line: &[u8], separator: u8, chunks: &mut Vec<ChunkBits>) {
    line_bits_with(&Classifier::new(separator), line, chunks);
}

/// [`line_bits`] with a given classifier (one compiled for the CPU's features, see
/// `cpu_features`).
#[inline(always)]
pub(crate) fn line_bits_with<C: Classify>(
    classifier: &C,
    line: &[u8],
    chunks: &mut Vec<ChunkBits>,
) {
    // Sized once, then written in place: the buffer serves line after line, mostly of
    // about the same length, and a push per chunk checks the capacity each time.
    chunks.resize(line.len().div_ceil(64), ChunkBits::default());
    let mut whole = line.chunks_exact(64);
    // A loop rather than `extend`, whose `fold` LLVM keeps as a function of its own: inlined,
    // it is compiled with its caller's target features (`cpu_features`).
    for (slot, chunk) in chunks.iter_mut().zip(whole.by_ref()) {
        *slot = classifier.classify(as_chunk(chunk));
    }
    let rest = whole.remainder().len();
    if rest == 0 {
        return;
    }
    let length = line.len();
    let bits = if length >= 64 {
        // The last 64 bytes read again, the bits of those already classified shifted out.
        let bits = classifier.classify(as_chunk(&line[length - 64..]));
        bits.shifted_down(64 - rest as u32)
    } else {
        let mut padded = [0u8; 64];
        padded[..rest].copy_from_slice(line);
        classifier.classify(&padded).masked(u64::MAX >> (64 - rest))
    };
    if let Some(last) = chunks.last_mut() {
        *last = bits;
    }
}

/// Bit `i` set when byte `64 * index + i` of `line` is `byte` (none past its end): one
/// chunk of a line, for a byte that few columns need (a container's set separator).
#[inline(always)]
pub(crate) fn chunk_byte_bits(line: &[u8], index: usize, byte: u8) -> u64 {
    chunk_byte_bits_with(&Classifier::new(0), line, index, byte)
}

/// [`chunk_byte_bits`] with a given classifier's comparison (one compiled for the CPU's
/// features, see `cpu_features`).
#[inline(always)]
pub(crate) fn chunk_byte_bits_with<C: Classify>(
    classifier: &C,
    line: &[u8],
    index: usize,
    byte: u8,
) -> u64 {
    let base = index * 64;
    if let Some(chunk) = line.get(base..base + 64) {
        return classifier.byte_bits(as_chunk(chunk), byte);
    }
    let rest = line.len().saturating_sub(base);
    if rest == 0 {
        return 0;
    }
    if line.len() >= 64 {
        // The last 64 bytes, the bits of those of earlier chunks shifted out.
        classifier.byte_bits(as_chunk(&line[line.len() - 64..]), byte) >> (64 - rest)
    } else {
        let mut padded = [0u8; 64];
        padded[..rest].copy_from_slice(line);
        byte_bits(&padded, byte) & u64::MAX >> (64 - rest)
    }
}

/// Bit `i` set when byte `start + i` of `line` is `byte`, for a span of 1 to 64 bytes (a
/// short container): one comparison of the 64 bytes ending with the span, or of the line's
/// first 64, without a branch on the chunks the span lies in (random from line to line).
#[cfg(test)]
pub(crate) fn span_byte_bits(line: &[u8], start: usize, end: usize, byte: u8) -> u64 {
    span_byte_bits_with(&Classifier::new(0), line, start, end, byte)
}

/// [`span_byte_bits`] with a given classifier's comparison (one compiled for the CPU's
/// features, see `cpu_features`).
#[inline(always)]
pub(crate) fn span_byte_bits_with<C: Classify>(
    classifier: &C,
    line: &[u8],
    start: usize,
    end: usize,
    byte: u8,
) -> u64 {
    let length = end - start;
    debug_assert!((1..=64).contains(&length) && end <= line.len());
    match end.checked_sub(64) {
        Some(from) => classifier.byte_bits(as_chunk(&line[from..end]), byte) >> (64 - length),
        None => early_span_byte_bits(line, start, length, byte),
    }
}

/// [`span_byte_bits`] of a span ending in the line's first 64 bytes: rare, and kept out of
/// the parser's loop.
#[cold]
#[inline(never)]
fn early_span_byte_bits(line: &[u8], start: usize, length: usize, byte: u8) -> u64 {
    chunk_byte_bits(line, 0, byte) >> start & u64::MAX >> (64 - length)
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub(crate) fn byte_bits(chunk: &[u8; 64], byte: u8) -> u64 {
    use safe_arch::{
        cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, set_splat_i8_m128i,
    };
    let needle = set_splat_i8_m128i(byte as i8);
    let mut bits = 0;
    for (index, sixteen) in chunk.as_chunks::<16>().0.iter().enumerate() {
        let matches = cmp_eq_mask_i8_m128i(load_unaligned_m128i(sixteen), needle);
        bits |= u64::from(move_mask_i8_m128i(matches) as u16) << (16 * index);
    }
    bits
}

#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
#[inline(always)]
pub(crate) fn byte_bits(chunk: &[u8; 64], byte: u8) -> u64 {
    let needles = u64::from_ne_bytes([byte; 8]);
    let mut bits = 0;
    for (index, eight) in chunk.as_chunks::<8>().0.iter().enumerate() {
        let matches = super::zero_bytes(u64::from_le_bytes(*eight) ^ needles);
        bits |= packed_byte_bits(matches) << (8 * index);
    }
    bits
}

#[inline(always)]
fn as_chunk(bytes: &[u8]) -> &[u8; 64] {
    bytes.first_chunk::<64>().expect("a chunk is 64 bytes long")
}

/// Added to a byte (wrapping), moves the digits `0`..=`9` to 118..=127, the only bytes
/// then above [`LAST_NON_DIGIT`] as signed bytes: one addition and one comparison.
pub(crate) const TO_DIGIT_TOP: i8 = (0x80 - (b'9' as i16 + 1)) as i8;
pub(crate) const LAST_NON_DIGIT: i8 = 0x7f - 10;

/// The bits of one chunk of a line; the separator is the classifier's. With them, the one
/// other step of the Zeek TSV parser that the CPU's features make cheaper.
pub(crate) trait Classify {
    fn classify(&self, chunk: &[u8; 64]) -> ChunkBits;

    /// [`ipv4_at_dots`](crate::hunt::ioc::ipv4_at_dots).
    #[inline(always)]
    fn ipv4_at_dots(&self, bytes: &[u8], dots: u64) -> Option<u32> {
        crate::hunt::ioc::ipv4_at_dots(bytes, dots)
    }

    /// Bit `i` set when byte `i` of `chunk` is `byte` (a container's set separator).
    #[inline(always)]
    fn byte_bits(&self, chunk: &[u8; 64], byte: u8) -> u64 {
        byte_bits(chunk, byte)
    }

    /// [`hex_prefix`](crate::hunt::index::hex_prefix) of a value of 16 bytes or more.
    #[inline(always)]
    fn hex_prefix(&self, hex: &[u8]) -> u64 {
        crate::hunt::index::hex_prefix(hex)
    }
}

/// The classifier of baseline x86-64 code.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
pub(crate) type Classifier = sse2::VectorClassifier;
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
pub(crate) type Classifier = WordClassifier;

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use super::{ChunkBits, Classify, LAST_NON_DIGIT, TO_DIGIT_TOP};
    use safe_arch::{
        add_i8_m128i, cmp_eq_mask_i8_m128i, cmp_gt_mask_i8_m128i, load_unaligned_m128i, m128i,
        move_mask_i8_m128i, set_splat_i8_m128i,
    };

    pub(crate) struct VectorClassifier {
        separator: m128i,
        dot: m128i,
        colon: m128i,
        to_digit_top: m128i,
        last_non_digit: m128i,
    }

    impl VectorClassifier {
        #[inline(always)]
        pub(crate) fn new(separator: u8) -> Self {
            VectorClassifier {
                separator: set_splat_i8_m128i(separator as i8),
                dot: set_splat_i8_m128i(b'.' as i8),
                colon: set_splat_i8_m128i(b':' as i8),
                to_digit_top: set_splat_i8_m128i(TO_DIGIT_TOP),
                last_non_digit: set_splat_i8_m128i(LAST_NON_DIGIT),
            }
        }
    }

    impl Classify for VectorClassifier {
        #[inline(always)]
        fn classify(&self, chunk: &[u8; 64]) -> ChunkBits {
            let mut bits = ChunkBits::default();
            // Digits and dots gathered for the whole chunk, inverted once.
            let mut digits_or_dots = 0;
            for (index, sixteen) in chunk.as_chunks::<16>().0.iter().enumerate() {
                let bytes = load_unaligned_m128i(sixteen);
                let dots = cmp_eq_mask_i8_m128i(bytes, self.dot);
                let digits = cmp_gt_mask_i8_m128i(
                    add_i8_m128i(bytes, self.to_digit_top),
                    self.last_non_digit,
                );
                // `as u16` keeps the sixteen lane bits only, without sign extension.
                let lanes =
                    |mask: m128i| u64::from(move_mask_i8_m128i(mask) as u16) << (16 * index);
                bits.separators |= lanes(cmp_eq_mask_i8_m128i(bytes, self.separator));
                bits.dots |= lanes(dots);
                bits.colons |= lanes(cmp_eq_mask_i8_m128i(bytes, self.colon));
                digits_or_dots |= lanes(digits | dots);
            }
            bits.others = !digits_or_dots;
            bits
        }
    }
}

/// Eight bytes at a time in a `u64`: where SSE2 is not there, and as the reference the
/// vector classifier is tested against.
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
pub(crate) struct WordClassifier {
    separator: u8,
}

#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
impl WordClassifier {
    pub(crate) fn new(separator: u8) -> Self {
        WordClassifier { separator }
    }
}

impl Classify for WordClassifier {
    #[inline(always)]
    fn classify(&self, chunk: &[u8; 64]) -> ChunkBits {
        let each = |byte: u8| u64::from_ne_bytes([byte; 8]);
        let mut bits = ChunkBits::default();
        for (index, eight) in chunk.as_chunks::<8>().0.iter().enumerate() {
            let word = u64::from_le_bytes(*eight);
            let (dots, colons, others) = super::dots_colons_others(word);
            let separators = super::zero_bytes(word ^ each(self.separator));
            bits.separators |= packed_byte_bits(separators) << (8 * index);
            bits.dots |= packed_byte_bits(dots) << (8 * index);
            bits.colons |= packed_byte_bits(colons) << (8 * index);
            bits.others |= packed_byte_bits(others) << (8 * index);
        }
        bits
    }
}

/// Bit 7 of each byte of `mask` (no other bit set) gathered into the low eight bits, byte
/// `j` to bit `j`: the multiplication moves each into the top byte without carries.
#[inline(always)]
fn packed_byte_bits(mask: u64) -> u64 {
    ((mask >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(line: &[u8], separator: u8) -> Vec<ChunkBits> {
        line.chunks(64)
            .map(|chunk| {
                let mut bits = ChunkBits::default();
                for (index, &byte) in chunk.iter().enumerate() {
                    let bit = 1 << index;
                    if byte == separator {
                        bits.separators |= bit;
                    }
                    match byte {
                        b'.' => bits.dots |= bit,
                        b':' => bits.colons |= bit,
                        _ => {}
                    }
                    if !byte.is_ascii_digit() && byte != b'.' {
                        bits.others |= bit;
                    }
                }
                bits
            })
            .collect()
    }

    fn check(line: &[u8], separator: u8) {
        let expected = reference(line, separator);
        let mut chunks = Vec::new();
        line_bits(line, separator, &mut chunks);
        assert_eq!(chunks, expected, "{separator} {line:?}");
        line_bits_with(&WordClassifier::new(separator), line, &mut chunks);
        assert_eq!(chunks, expected, "words: {separator} {line:?}");
    }

    #[test]
    fn every_length_around_the_chunk_size() {
        for length in 0..200 {
            let line: Vec<u8> = (0..length)
                .map(|index: usize| match index % 7 {
                    0 => b'\t',
                    1 => b'.',
                    3 => b':',
                    4 => 0x80 | (index as u8),
                    5 => 0,
                    _ => b'a',
                })
                .collect();
            for separator in [b'\t', 0, 0xff, b'a', 0x89] {
                check(&line, separator);
            }
        }
        check(&[0xff; 130], 0xff);
        check(&[0; 63], 0);
    }

    /// Lines where the bytes looked for are frequent.
    fn line_with_targets(
        length: std::ops::Range<usize>,
    ) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            proptest::prop_oneof![
                1 => proptest::sample::select(b",\xff\x00".to_vec()),
                3 => proptest::num::u8::ANY,
            ],
            length,
        )
    }

    proptest::proptest! {
        #[test]
        fn chunk_byte_bits_are_the_bytes_that_match(
            line in line_with_targets(0..300),
            byte in proptest::sample::select(vec![b',', 0x00, 0xff]),
        ) {
            for index in 0..line.len().div_ceil(64) + 1 {
                let expected = line
                    .iter()
                    .enumerate()
                    .skip(index * 64)
                    .take(64)
                    .filter(|&(_, &found)| found == byte)
                    .fold(0u64, |bits, (position, _)| bits | 1 << (position % 64));
                proptest::prop_assert_eq!(chunk_byte_bits(&line, index, byte), expected);
            }
        }

        #[test]
        fn span_byte_bits_are_the_bytes_that_match(
            line in line_with_targets(1..200),
            byte in proptest::sample::select(vec![b',', 0x00, 0xff]),
            start in 0usize..200,
            length in 1usize..=64,
        ) {
            let start = start % line.len();
            let end = (start + length).min(line.len());
            let expected = line[start..end]
                .iter()
                .enumerate()
                .filter(|&(_, &found)| found == byte)
                .fold(0u64, |bits, (position, _)| bits | 1 << position);
            proptest::prop_assert_eq!(span_byte_bits(&line, start, end, byte), expected);
        }

        #[test]
        fn bits_are_the_bytes_that_match(
            line in proptest::collection::vec(
                proptest::prop_oneof![
                    2 => proptest::sample::select(b"\t.:a09/\x00\xff\xae\xba\xb0\x89|".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                0..400,
            ),
            separator in proptest::sample::select(vec![b'\t', 0x00, 0xff, b'|', 0x89]),
        ) {
            check(&line, separator);
        }
    }
}
