//! The one place of the matcher with `unsafe` code: the Zeek TSV line parser, and a scan's
//! loop over the lines of a block, compiled for x86-64-v3 (`popcnt`, `lzcnt`, BMI1/2,
//! AVX2), run when the CPU has them. The release binary stays baseline x86-64, with the
//! baseline parser for other CPUs. The parser counts and finds bits all the time, and
//! `count_ones` without `popcnt` is a dozen instructions.
#![allow(unsafe_code)]

use super::line_bits::{ChunkBits, Classify};
use super::zeek_tsv::ZeekTsvParser;
use super::{Line, LineOutcome, ValueSink};

/// Proof that this CPU has the features [`Fast::parse_sifted`] is compiled for: only
/// [`Fast::detect`] makes one.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) struct Fast(());

impl Fast {
    /// A proof when the CPU has every feature, else None.
    pub(crate) fn detect() -> Option<Fast> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("lzcnt")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("avx2")
        {
            return Some(Fast(()));
        }
        None
    }

    /// [`ZeekTsvParser::parse_sifted_here`] compiled for the features.
    #[inline(always)]
    pub(crate) fn parse_sifted<S: ValueSink>(
        self,
        (parser, line, separator, sink): (&mut ZeekTsvParser, Line<'_>, u8, &mut S),
    ) -> LineOutcome {
        #[cfg(target_arch = "x86_64")]
        {
            let classifier = Avx2Classifier::new(self, separator);
            // SAFETY: a `Fast` exists only when `detect` found every feature
            // `parse_sifted_v3` is compiled for on this CPU, so none of its instructions
            // can be missing.
            unsafe { parse_sifted_v3((parser, line, &classifier, sink)) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let classifier = super::line_bits::Classifier::new(separator);
            ZeekTsvParser::parse_sifted_here((parser, line, &classifier, sink))
        }
    }
}

/// Work that [`Fast::run`] runs compiled for the features: `run` and whatever it calls
/// must be `#[inline(always)]` (or generic and small enough) to be compiled into
/// [`run_v3`] rather than called as baseline x86-64 code.
impl Fast {
    /// Bit `i` set when byte `i` of `chunk` is `byte`: inside [`Fast::run`], one AVX2
    /// comparison per 32 bytes, inline.
    #[inline(always)]
    pub(crate) fn byte_bits(self, chunk: &[u8; 64], byte: u8) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` proves the CPU has AVX2 (`Fast::detect`).
            unsafe { byte_bits_avx2(chunk, byte) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        super::line_bits::Classifier::new(byte)
            .classify(chunk)
            .separators
    }
}

pub(crate) trait WithFeatures {
    type Output;

    fn run(self, fast: Fast) -> Self::Output;
}

impl Fast {
    /// `work` compiled for the features, each function it inlines with it.
    #[inline(always)]
    pub(crate) fn run<W: WithFeatures>(self, work: W) -> W::Output {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a `Fast` exists only when `detect` found every feature `run_v3` is
            // compiled for on this CPU, so none of its instructions can be missing.
            unsafe { run_v3(self, work) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        work.run(self)
    }
}

/// [`Fast::run`]'s function with the features: they apply to a whole function, and LLVM
/// inlines only into a function with at least the callee's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,lzcnt,bmi1,bmi2,avx2")]
fn run_v3<W: WithFeatures>(fast: Fast, work: W) -> W::Output {
    work.run(fast)
}

/// A function of its own, with the parser's line loop inlined into it: features apply to
/// a whole function, and LLVM inlines only into a function with at least the callee's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,lzcnt,bmi1,bmi2,avx2")]
fn parse_sifted_v3<S: ValueSink>(
    arguments: (&mut ZeekTsvParser, Line<'_>, &Avx2Classifier, &mut S),
) -> LineOutcome {
    ZeekTsvParser::parse_sifted_here(arguments)
}

/// A chunk's bits 32 bytes at a time with AVX2: half the instructions of the SSE2
/// classifier. Made only from a [`Fast`] proof.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2Classifier {
    _fast: Fast,
    separator: u8,
}

#[cfg(target_arch = "x86_64")]
impl Avx2Classifier {
    pub(crate) fn new(fast: Fast, separator: u8) -> Self {
        Avx2Classifier {
            _fast: fast,
            separator,
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl Classify for Avx2Classifier {
    #[inline(always)]
    fn classify(&self, chunk: &[u8; 64]) -> ChunkBits {
        // SAFETY: the `Fast` this classifier holds proves the CPU has AVX2.
        unsafe { classify_avx2(chunk, self.separator) }
    }

    #[inline(always)]
    fn ipv4_at_dots(&self, bytes: &[u8], dots: u64) -> Option<u32> {
        // SAFETY: the `Fast` this classifier holds proves the CPU has AVX2, so SSSE3 and
        // SSE4.1.
        unsafe { ipv4_at_dots_simd(bytes, dots) }
    }

    #[inline(always)]
    fn hex_prefix(&self, hex: &[u8]) -> u64 {
        let first: &[u8; 16] = hex[..16].try_into().expect("16 bytes");
        // SAFETY: `_fast` proves the CPU has AVX2, and so SSSE3 (`Fast::detect`).
        unsafe { hex_prefix_ssse3(first) }
    }

    #[inline(always)]
    fn byte_bits(&self, chunk: &[u8; 64], byte: u8) -> u64 {
        // SAFETY: the `Fast` this classifier holds proves the CPU has AVX2.
        unsafe { byte_bits_avx2(chunk, byte) }
    }
}

/// [`Classify::hex_prefix`] with SSSE3: each digit's value as `hex_prefix` computes it
/// (letters, with bit 6, add 9), then pairs of digits joined into bytes by one
/// multiply-add, without its word arithmetic for each half.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn hex_prefix_ssse3(hex: &[u8; 16]) -> u64 {
    use std::arch::x86_64::{
        _mm_add_epi8, _mm_and_si128, _mm_cvtsi128_si64, _mm_loadu_si128, _mm_maddubs_epi16,
        _mm_packus_epi16, _mm_set1_epi8, _mm_set1_epi16, _mm_slli_epi16, _mm_srli_epi16,
    };
    // SAFETY: 16 readable bytes; an unaligned load.
    let digits = unsafe { _mm_loadu_si128(hex.as_ptr().cast()) };
    // Bit 6 of each byte alone, shifted to bit 0 (within its byte: nothing else is set).
    let letters = _mm_srli_epi16::<6>(_mm_and_si128(digits, _mm_set1_epi8(0x40)));
    let nines = _mm_add_epi8(_mm_slli_epi16::<3>(letters), letters);
    let values = _mm_add_epi8(_mm_and_si128(digits, _mm_set1_epi8(0x0f)), nines);
    // Digit 2j times 16 plus digit 2j + 1, in 16 bits (at most 255 for hex digits; the
    // key of other bytes does not matter, they are checked after the filter).
    let pairs = _mm_maddubs_epi16(values, _mm_set1_epi16(i16::from_le_bytes([16, 1])));
    _mm_cvtsi128_si64(_mm_packus_epi16(pairs, pairs)) as u64
}

/// [`Classify::byte_bits`] 32 bytes at a time: a container's set separators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn byte_bits_avx2(chunk: &[u8; 64], byte: u8) -> u64 {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let needle = _mm256_set1_epi8(byte as i8);
    let (low, high) = chunk.split_at(32);
    // SAFETY: both halves are 32 bytes long, what an unaligned 256-bit load reads.
    let (low, high) = unsafe {
        (
            _mm256_loadu_si256(low.as_ptr().cast()),
            _mm256_loadu_si256(high.as_ptr().cast()),
        )
    };
    let bits = |bytes| u64::from(_mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, needle)) as u32);
    bits(low) | bits(high) << 32
}

/// The lengths of an address's four octets (1 to 3 digits each) as a number in base 3:
/// the index of its entry in [`IPV4_SHUFFLES`] and [`IPV4_MINIMA`].
#[cfg(target_arch = "x86_64")]
const IPV4_PATTERNS: usize = 81;

/// For each pattern of octet lengths, where each octet's digits go: octet `i` to bytes
/// `4i..4i + 3` as hundreds, tens, ones (a byte with the top bit set is zero).
#[cfg(target_arch = "x86_64")]
const IPV4_SHUFFLES: [[u64; 2]; IPV4_PATTERNS] = {
    let mut table = [[0u64; 2]; IPV4_PATTERNS];
    let mut pattern = 0;
    while pattern < IPV4_PATTERNS {
        let mut bytes = [0x80u8; 16];
        let mut start = 0;
        let mut octet = 0;
        while octet < 4 {
            let length = ipv4_octet_length(pattern, octet);
            let mut digit = 0;
            while digit < length {
                bytes[4 * octet + 3 - length + digit] = (start + digit) as u8;
                digit += 1;
            }
            start += length + 1;
            octet += 1;
        }
        let mut half = 0;
        while half < 2 {
            let mut word = 0u64;
            let mut byte = 0;
            while byte < 8 {
                word |= (bytes[8 * half + byte] as u64) << (8 * byte);
                byte += 1;
            }
            table[pattern][half] = word;
            half += 1;
        }
        pattern += 1;
    }
    table
};

/// For each pattern, the least value of each octet without a leading zero (0, 10, 100),
/// as four 32-bit lanes.
#[cfg(target_arch = "x86_64")]
const IPV4_MINIMA: [[u64; 2]; IPV4_PATTERNS] = {
    let mut table = [[0u64; 2]; IPV4_PATTERNS];
    let mut pattern = 0;
    while pattern < IPV4_PATTERNS {
        let mut octet = 0;
        while octet < 4 {
            let least = match ipv4_octet_length(pattern, octet) {
                1 => 0u64,
                2 => 10,
                _ => 100,
            };
            table[pattern][octet / 2] |= least << (32 * (octet % 2));
            octet += 1;
        }
        pattern += 1;
    }
    table
};

/// The length of octet `octet` (0 = first) in `pattern`: its base-3 digit plus one.
#[cfg(target_arch = "x86_64")]
const fn ipv4_octet_length(pattern: usize, octet: usize) -> usize {
    let mut rest = pattern;
    let mut skipped = 3 - octet;
    while skipped > 0 {
        rest /= 3;
        skipped -= 1;
    }
    rest % 3 + 1
}

/// [`ipv4_at_dots`](crate::hunt::ioc::ipv4_at_dots) without a branch per octet: the
/// digits put in place by one shuffle chosen by the octets' lengths, multiplied and
/// summed, checked against 255 and the leading-zero minima, all four octets at once.
/// Octet lengths are random in logs: branches on them mispredict.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn ipv4_at_dots_simd(bytes: &[u8], dots: u64) -> Option<u32> {
    use super::{le_word, short_le_word};
    use std::arch::x86_64::{
        _mm_cmpgt_epi32, _mm_cvtsi128_si32, _mm_madd_epi16, _mm_maddubs_epi16, _mm_movemask_epi8,
        _mm_or_si128, _mm_packus_epi16, _mm_packus_epi32, _mm_set_epi64x, _mm_set1_epi8,
        _mm_set1_epi16, _mm_set1_epi32, _mm_shuffle_epi8, _mm_sub_epi8,
    };
    let length = bytes.len();
    if !(7..=15).contains(&length) {
        return None;
    }
    let first = dots.trailing_zeros() as usize;
    let rest = dots & dots.wrapping_sub(1);
    let second = rest.trailing_zeros() as usize;
    let third = (rest & rest.wrapping_sub(1)).trailing_zeros() as usize;
    let mut pattern = 0usize;
    let mut lengths_fit = true;
    for octet_length in [
        first,
        second.wrapping_sub(first + 1),
        third.wrapping_sub(second + 1),
        length.wrapping_sub(third + 1),
    ] {
        let digit = octet_length.wrapping_sub(1);
        lengths_fit &= digit < 3;
        pattern = pattern.wrapping_mul(3).wrapping_add(digit);
    }
    if !lengths_fit {
        return None;
    }
    // The value's bytes in one register (7 to 15 bytes: the first eight and those after
    // them, the latter from a word ending with the value).
    let (low, high) = match bytes.first_chunk::<8>() {
        Some(first) => (
            u64::from_le_bytes(*first),
            le_word(&bytes[length - 8..])
                .checked_shr(8 * (16 - length) as u32)
                .unwrap_or(0),
        ),
        None => (short_le_word(bytes), 0),
    };
    let digits = _mm_sub_epi8(
        _mm_set_epi64x(high as i64, low as i64),
        _mm_set1_epi8(b'0' as i8),
    );
    let [shuffle_low, shuffle_high] = IPV4_SHUFFLES[pattern];
    let placed = _mm_shuffle_epi8(
        digits,
        _mm_set_epi64x(shuffle_high as i64, shuffle_low as i64),
    );
    let weights = _mm_set1_epi32(i32::from_le_bytes([100, 10, 1, 0]));
    let octets = _mm_madd_epi16(_mm_maddubs_epi16(placed, weights), _mm_set1_epi16(1));
    let [least_low, least_high] = IPV4_MINIMA[pattern];
    let least = _mm_set_epi64x(least_high as i64, least_low as i64);
    let wrong = _mm_or_si128(
        _mm_cmpgt_epi32(octets, _mm_set1_epi32(255)),
        _mm_cmpgt_epi32(least, octets),
    );
    if _mm_movemask_epi8(wrong) != 0 {
        return None;
    }
    let packed = _mm_packus_epi16(_mm_packus_epi32(octets, octets), octets);
    Some((_mm_cvtsi128_si32(packed) as u32).swap_bytes())
}

/// Inlined into [`parse_sifted_v3`], which has the same features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
fn classify_avx2(chunk: &[u8; 64], separator: u8) -> ChunkBits {
    use super::line_bits::{LAST_NON_DIGIT, TO_DIGIT_TOP};
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi8, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8,
    };
    let (low, high) = chunk.split_at(32);
    // SAFETY: both halves are 32 bytes long, what an unaligned 256-bit load reads.
    let halves: [__m256i; 2] = unsafe {
        [
            _mm256_loadu_si256(low.as_ptr().cast()),
            _mm256_loadu_si256(high.as_ptr().cast()),
        ]
    };
    let (separators, dots, colons) = (
        _mm256_set1_epi8(separator as i8),
        _mm256_set1_epi8(b'.' as i8),
        _mm256_set1_epi8(b':' as i8),
    );
    let (to_digit_top, last_non_digit) = (
        _mm256_set1_epi8(TO_DIGIT_TOP),
        _mm256_set1_epi8(LAST_NON_DIGIT),
    );
    let mut bits = [[0u32; 2]; 4];
    for (index, bytes) in halves.into_iter().enumerate() {
        let dot = _mm256_cmpeq_epi8(bytes, dots);
        let digit = _mm256_cmpgt_epi8(_mm256_add_epi8(bytes, to_digit_top), last_non_digit);
        bits[0][index] = _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, separators)) as u32;
        bits[1][index] = _mm256_movemask_epi8(dot) as u32;
        bits[2][index] = _mm256_movemask_epi8(_mm256_cmpeq_epi8(bytes, colons)) as u32;
        bits[3][index] = _mm256_movemask_epi8(_mm256_or_si256(digit, dot)) as u32;
    }
    let word = |[low, high]: [u32; 2]| u64::from(low) | u64::from(high) << 32;
    ChunkBits {
        separators: word(bits[0]),
        dots: word(bits[1]),
        colons: word(bits[2]),
        others: !word(bits[3]),
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::super::line_bits::{Classifier, Classify, WordClassifier};
    use super::*;

    proptest::proptest! {
        #[test]
        fn avx2_bits_are_the_baseline_bits(
            chunk in proptest::collection::vec(
                proptest::prop_oneof![
                    2 => proptest::sample::select(b"\t.:a09/\x00\xff\xae\xba\xb0\x89|".to_vec()),
                    1 => proptest::num::u8::ANY,
                ],
                64,
            ),
            separator in proptest::sample::select(vec![b'\t', 0x00, 0xff, b'|', 0x89]),
        ) {
            let Some(fast) = Fast::detect() else {
                return Ok(());
            };
            let chunk: [u8; 64] = chunk.try_into().expect("64 bytes");
            let expected = WordClassifier::new(separator).classify(&chunk);
            proptest::prop_assert_eq!(Classifier::new(separator).classify(&chunk), expected);
            proptest::prop_assert_eq!(Avx2Classifier::new(fast, separator).classify(&chunk), expected);
            // The byte comparison of containers, for the same bytes.
            proptest::prop_assert_eq!(
                Avx2Classifier::new(fast, b',').byte_bits(&chunk, separator),
                expected.separators
            );
        }

        #[test]
        fn simd_addresses_are_the_parsed_addresses(
            octets in proptest::collection::vec("[0-9]{0,4}", 4),
        ) {
            let Some(fast) = Fast::detect() else {
                return Ok(());
            };
            let value = octets.join(".");
            let dots = value
                .bytes()
                .enumerate()
                .filter(|&(_, byte)| byte == b'.')
                .fold(0u64, |dots, (position, _)| dots | 1 << position);
            let expected = crate::hunt::ioc::parse_ipv4(value.as_bytes());
            let classifier = Avx2Classifier::new(fast, b'\t');
            proptest::prop_assert_eq!(classifier.ipv4_at_dots(value.as_bytes(), dots), expected);
        }

        #[test]
        fn simd_hex_prefixes_are_the_word_prefixes(hex in "[0-9a-fA-F]{16,64}") {
            let Some(fast) = Fast::detect() else {
                return Ok(());
            };
            let classifier = Avx2Classifier::new(fast, b'\t');
            proptest::prop_assert_eq!(
                classifier.hex_prefix(hex.as_bytes()),
                crate::hunt::index::hex_prefix(hex.as_bytes())
            );
        }
    }

    #[test]
    fn simd_addresses_at_the_edges() {
        let Some(fast) = Fast::detect() else {
            return;
        };
        let classifier = Avx2Classifier::new(fast, b'\t');
        for value in [
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.1.1.256",
            "199.99.9.0",
            "01.1.1.1",
            "1.1.1.00",
            "100.010.1.1",
            "1.2.3.",
            ".1.2.3",
            "1..2.3",
            "1234.1.1.1",
            "123.123.123.1234",
        ] {
            let dots = value
                .bytes()
                .enumerate()
                .filter(|&(_, byte)| byte == b'.')
                .fold(0u64, |dots, (position, _)| dots | 1 << position);
            assert_eq!(
                classifier.ipv4_at_dots(value.as_bytes(), dots),
                crate::hunt::ioc::parse_ipv4(value.as_bytes()),
                "{value}"
            );
        }
    }
}
