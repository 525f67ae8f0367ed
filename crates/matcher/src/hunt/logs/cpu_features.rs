//! The one place of the matcher with `unsafe` code: the Zeek TSV line parser compiled for
//! x86-64-v3 (`popcnt`, `lzcnt`, BMI1/2, AVX2), run when the CPU has them. The release
//! binary stays baseline x86-64, with the baseline parser for other CPUs. The parser counts
//! and finds bits all the time, and `count_ones` without `popcnt` is a dozen instructions.
#![allow(unsafe_code)]

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
        arguments: (&mut ZeekTsvParser, Line<'_>, u8, &mut S),
    ) -> LineOutcome {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: a `Fast` exists only when `detect` found every feature
            // `parse_sifted_v3` is compiled for on this CPU, so none of its instructions
            // can be missing.
            unsafe { parse_sifted_v3(arguments) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        ZeekTsvParser::parse_sifted_here(arguments)
    }
}

/// A function of its own, with the parser's line loop inlined into it: features apply to
/// a whole function, and LLVM inlines only into a function with at least the callee's.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt,lzcnt,bmi1,bmi2,avx2")]
fn parse_sifted_v3<S: ValueSink>(
    arguments: (&mut ZeekTsvParser, Line<'_>, u8, &mut S),
) -> LineOutcome {
    ZeekTsvParser::parse_sifted_here(arguments)
}
