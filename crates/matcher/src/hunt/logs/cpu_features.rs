//! The one place of the matcher with `unsafe` code: the Zeek TSV line parser compiled for
//! x86-64-v3 (`popcnt`, `lzcnt`, BMI1/2, AVX2), run when the CPU has them. The release
//! binary stays baseline x86-64, with the baseline parser for other CPUs. The parser counts
//! and finds bits all the time, and `count_ones` without `popcnt` is a dozen instructions.
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
        }
    }
}
