//! `cargo bench -p kizuna-matcher --bench hunt`: the IoC hunt's building blocks, measured
//! with the corpus generator of `examples/hunt_corpus.rs` (figures, not pass/fail):
//!
//! - building the index of 1,000,000 IoCs (time, and the memory it holds from
//!   /proc/self/status);
//! - `match_value` on realistic values that match nothing (ns per value);
//! - `scan_reader` over in-memory Zeek TSV logs (`dns.log`, `conn.log`) on one thread and on
//!   every core (MB/s), the hits checked against the number planted.
//!
//! KIZUNA_BENCH_HUNT_IOCS (default 1000000) and KIZUNA_BENCH_HUNT_TSV_MIB (default 128 per
//! log) change the sizes.

#[path = "../examples/hunt_corpus.rs"]
#[allow(dead_code)]
mod corpus;

use corpus::{IocSet, LogFile, Rng};
use kizuna_matcher::hunt::{
    Candidate, IocIndex, IocIndexBuilder, ScanOptions, ValueForm, Window, scan_reader,
};
use std::io::Cursor;
use std::time::Instant;

const SEED: u64 = 6;

fn main() {
    let ioc_count = env_number("KIZUNA_BENCH_HUNT_IOCS", 1_000_000);
    let tsv_mib = env_number("KIZUNA_BENCH_HUNT_TSV_MIB", 128);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);

    let mut rng = Rng::new(SEED);
    let iocs = IocSet::generate(ioc_count, &mut rng);
    let index = bench_index_build(&iocs);
    bench_match_value(&index, &iocs);
    for file in [LogFile::ZeekDns, LogFile::ZeekConn] {
        let mut log = Vec::with_capacity(tsv_mib * 1024 * 1024 + 4096);
        let planted = corpus::write_log(
            file,
            &mut log,
            (tsv_mib * 1024 * 1024) as u64,
            &iocs,
            &mut Rng::new(SEED + 1),
            SEED,
        )
        .expect("writing to memory");
        for threads in [1, cores] {
            bench_scan(&index, file, &log, threads, planted.total_hits());
        }
    }
}

fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

/// (VmRSS, VmHWM) of this process in bytes; zeros where /proc is missing.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .map_or(0, |kib| kib * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn bench_index_build(iocs: &IocSet) -> IocIndex {
    let (rss_before, hwm_before) = memory();
    let started = Instant::now();
    let mut builder = IocIndexBuilder::new();
    for (source, value) in iocs.canonical.iter().enumerate() {
        builder
            .add(None, value, Window::default(), source as u32)
            .unwrap_or_else(|rejection| panic!("{value}: {rejection}"));
    }
    let index = builder.build();
    let elapsed = started.elapsed();
    let (rss_after, hwm_after) = memory();
    assert_eq!(index.len(), iocs.len(), "every generated IoC is distinct");
    println!(
        "index build: {} IoCs in {:.3} s ({:.0} IoCs/s); RSS +{:.0} MiB held by the index, peak +{:.0} MiB while building{}",
        index.len(),
        elapsed.as_secs_f64(),
        index.len() as f64 / elapsed.as_secs_f64(),
        mib(rss_after.saturating_sub(rss_before)),
        mib(hwm_after.saturating_sub(rss_before)),
        if hwm_after > hwm_before {
            ""
        } else {
            " (at most: the peak was reached before)"
        }
    );
    index
}

/// The column values of a generated `dns.log`, `ssl.log` and Apache log (vector elements
/// split), keeping only those that match no IoC.
fn non_matching_values(index: &IocIndex, iocs: &IocSet) -> Vec<String> {
    let mut text = Vec::new();
    for file in [LogFile::ZeekDns, LogFile::ZeekSsl] {
        corpus::write_log(
            file,
            &mut text,
            4 << 20,
            iocs,
            &mut Rng::new(SEED + 2),
            SEED,
        )
        .expect("writing to memory");
    }
    let text = String::from_utf8(text).expect("the generator writes UTF-8");
    let mut out = Vec::new();
    let mut values = Vec::new();
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        for value in line.split(['\t', ',']) {
            out.clear();
            index.match_value(value, ValueForm::Plain, &mut out);
            if out.is_empty() && value != "-" {
                values.push(value.to_string());
            }
        }
    }
    values
}

fn bench_match_value(index: &IocIndex, iocs: &IocSet) {
    let values = non_matching_values(index, iocs);
    let mut out: Vec<Candidate> = Vec::new();
    let rounds = 5;
    let started = Instant::now();
    let mut found = 0;
    for _ in 0..rounds {
        for value in &values {
            out.clear();
            index.match_value(std::hint::black_box(value), ValueForm::Plain, &mut out);
            found += out.len();
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(found, 0, "the values were chosen to match nothing");
    println!(
        "match_value: {:.0} ns per non-matching value ({} Zeek dns/ssl column values × {rounds})",
        elapsed.as_nanos() as f64 / (values.len() * rounds) as f64,
        values.len()
    );
}

fn bench_scan(index: &IocIndex, file: LogFile, log: &[u8], threads: usize, planted: u64) {
    let options = ScanOptions {
        threads: Some(threads),
        ..ScanOptions::default()
    };
    let started = Instant::now();
    let report = scan_reader(index, file.path(), &mut Cursor::new(log), &options, &|_| {})
        .expect("scanning memory");
    let elapsed = started.elapsed();
    let hits = report.hits.len() as u64;
    println!(
        "scan {}: {:.0} MiB, {} lines, {threads} thread(s): {:.3} s, {:.0} MB/s; {hits} hits{}",
        file.path(),
        mib(log.len() as u64),
        report.lines,
        elapsed.as_secs_f64(),
        log.len() as f64 / 1e6 / elapsed.as_secs_f64(),
        if hits == planted {
            " (as planted)".to_string()
        } else {
            format!(" (MISMATCH: {planted} planted)")
        }
    );
}
