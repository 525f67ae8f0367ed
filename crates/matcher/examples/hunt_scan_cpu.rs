//! The CPU cost of scanning logs, without the CLI around it:
//!
//! ```text
//! cargo run --release -p kizuna-matcher --example hunt_scan_cpu -- IOCS.txt LOG… \
//!     [--threads N] [--rounds N] [--limit-mib N] [--block-kib N]
//! ```
//!
//! builds the index from a plain IoC list (hunt-semantics §1.2), reads each log into memory
//! (at most `--limit-mib`, cut at a line end), then scans it `--rounds` times with
//! `--threads` workers (default 1) and prints, per log, the best round's CPU time of the
//! whole process as MB per CPU-second, beside the wall-clock rate. CPU time is the
//! scheduler's count in nanoseconds (`/proc/self/task/*/schedstat`), or user + system from
//! `/proc/self/stat` in 10 ms ticks where the kernel does not expose it. CPU time is what a loaded machine cannot distort; `callgrind` runs of
//! this example with a small `--limit-mib` count instructions per line.

use kizuna_matcher::hunt::{IocIndexBuilder, ScanOptions, Window, scan_reader};
use std::collections::HashMap;
use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() {
    let mut paths = Vec::new();
    let mut threads = 1;
    let mut rounds = 3;
    let mut limit_mib: Option<usize> = None;
    let mut block_kib: Option<usize> = None;
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
            "--block-kib" => block_kib = Some(number("--block-kib")),
            _ => paths.push(argument),
        }
    }
    let Some((iocs_path, logs)) = paths.split_first() else {
        eprintln!(
            "usage: hunt_scan_cpu IOCS.txt LOG… [--threads N] [--rounds N] [--limit-mib N] [--block-kib N]"
        );
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
        block_size: block_kib.map(|kib| kib << 10),
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
            let started = Instant::now();
            let (report, cpu) = cpu_seconds_of(|| {
                scan_reader(&index, log, &mut Cursor::new(&bytes), &options, &|_| {})
                    .expect("scanning memory")
            });
            best_wall = best_wall.min(started.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(cpu);
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

/// Runs `work` and returns the CPU time the process spent meanwhile, every thread included.
///
/// The scan's workers are spawned and joined inside `work`, and a thread's `schedstat` is
/// gone once it has ended, so a thread beside `work` reads every other thread's count each
/// millisecond and keeps the last: a worker's final millisecond at most goes uncounted,
/// against up to 10 ms at each end of the round with `/proc/self/stat`'s ticks.
fn cpu_seconds_of<R>(work: impl FnOnce() -> R) -> (R, f64) {
    let Some(before) = thread_nanoseconds(None) else {
        let before = stat_cpu_seconds();
        let result = work();
        return (result, stat_cpu_seconds() - before);
    };
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            // The sampler's own reads are not the scan's cost.
            let own = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|link| link.file_name().map(|name| name.to_owned()));
            let mut last: HashMap<std::ffi::OsString, u64> = HashMap::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                if let Some(now) = thread_nanoseconds(own.as_deref()) {
                    last.extend(now);
                }
                if finished {
                    return last;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let result = work();
        done.store(true, Ordering::Release);
        let last = sampler.join().expect("the CPU time sampler");
        let nanoseconds: u64 = last
            .iter()
            .map(|(task, &now)| now.saturating_sub(before.get(task).copied().unwrap_or(0)))
            .sum();
        (result, nanoseconds as f64 / 1e9)
    })
}

/// Nanoseconds on CPU so far of each live thread of the process but `except`, by thread id
/// (first field of `/proc/self/task/ID/schedstat`); `None` without /proc or `CONFIG_SCHED_INFO`.
fn thread_nanoseconds(
    except: Option<&std::ffi::OsStr>,
) -> Option<HashMap<std::ffi::OsString, u64>> {
    let mut threads = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let id = task.file_name();
        if Some(id.as_os_str()) == except {
            continue;
        }
        // A thread that ended between the listing and the read has been counted already.
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        let nanoseconds = schedstat.split_whitespace().next()?.parse().ok()?;
        threads.insert(id, nanoseconds);
    }
    (!threads.is_empty()).then_some(threads)
}

/// User + system time of this process so far, every thread included; 0 without /proc.
fn stat_cpu_seconds() -> f64 {
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
