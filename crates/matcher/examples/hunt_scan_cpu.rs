//! The CPU cost of scanning logs, without the CLI around it:
//!
//! ```text
//! cargo run --release -p kizuna-matcher --example hunt_scan_cpu -- IOCS.txt LOG… \
//!     [--threads N] [--rounds N] [--limit-mib N]
//! ```
//!
//! builds the index from a plain IoC list (hunt-semantics §1.2), reads each log into memory
//! (at most `--limit-mib`, cut at a line end), then scans it `--rounds` times with
//! `--threads` workers (default 1) and prints, per log, the best round's CPU time of the
//! whole process (user + system, from /proc/self/stat) as MB per CPU-second, beside the
//! wall-clock rate. CPU time is what a loaded machine cannot distort; `callgrind` runs of
//! this example with a small `--limit-mib` count instructions per line.

use kizuna_matcher::hunt::{IocIndexBuilder, ScanOptions, Window, scan_reader};
use std::io::Cursor;
use std::time::Instant;

fn main() {
    let mut paths = Vec::new();
    let mut threads = 1;
    let mut rounds = 3;
    let mut limit_mib: Option<usize> = None;
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut number = |name: &str| -> usize {
            arguments
                .next()
                .and_then(|text| text.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match argument.as_str() {
            "--threads" => threads = number("--threads"),
            "--rounds" => rounds = number("--rounds").max(1),
            "--limit-mib" => limit_mib = Some(number("--limit-mib")),
            _ => paths.push(argument),
        }
    }
    let Some((iocs_path, logs)) = paths.split_first() else {
        eprintln!("usage: hunt_scan_cpu IOCS.txt LOG… [--threads N] [--rounds N] [--limit-mib N]");
        std::process::exit(2);
    };

    let list = std::fs::read_to_string(iocs_path).expect("reading the IoC list");
    let started = Instant::now();
    let mut builder = IocIndexBuilder::new();
    let mut rejected = 0;
    for (source, line) in list.lines().enumerate() {
        let value = line.trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        if builder
            .add(None, value, Window::default(), source as u32)
            .is_err()
        {
            rejected += 1;
        }
    }
    let index = builder.build();
    println!(
        "index: {} IoCs ({rejected} rejected) in {:.2} s",
        index.len(),
        started.elapsed().as_secs_f64()
    );

    let options = ScanOptions {
        threads: Some(threads),
        ..ScanOptions::default()
    };
    for log in logs {
        let mut bytes = std::fs::read(log).expect("reading the log");
        if let Some(limit) = limit_mib.map(|mib| mib << 20)
            && bytes.len() > limit
        {
            let end = memchr::memrchr(b'\n', &bytes[..limit]).map_or(limit, |end| end + 1);
            bytes.truncate(end);
        }
        let mut best_cpu = f64::INFINITY;
        let mut best_wall = f64::INFINITY;
        let mut hits = 0;
        for _ in 0..rounds {
            let cpu_before = process_cpu_seconds();
            let started = Instant::now();
            let report = scan_reader(&index, log, &mut Cursor::new(&bytes), &options, &|_| {})
                .expect("scanning memory");
            best_wall = best_wall.min(started.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(process_cpu_seconds() - cpu_before);
            hits = report.hits.len();
        }
        let megabytes = bytes.len() as f64 / 1e6;
        println!(
            "{log}: {megabytes:.0} MB, {hits} hits, {threads} thread(s): {:.0} MB per CPU-second ({best_cpu:.2} s), {:.0} MB/s wall-clock",
            megabytes / best_cpu,
            megabytes / best_wall
        );
    }
}

/// User + system time of this process so far, every thread included; 0 without /proc.
fn process_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The command name in parentheses may hold spaces: count fields after its end.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> f64 {
        fields
            .get(index)
            .and_then(|field| field.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, in clock ticks of 1/100 s
    // (USER_HZ on every Linux architecture Kizuna builds for).
    (ticks(11) + ticks(12)) / 100.0
}
