//! `kizuna hunt`: arguments, running the scan, output and exit status.
//!
//! IoCs come from `--iocs` files, else from a server (`--server`), else from the database
//! (`--data-dir`/`--database-url`, or the default data directory when it holds one). The log
//! files are scanned one after the other (each scan uses every core), hits go to stdout as
//! JSON lines or a table, and a summary of what was read, skipped and found goes to stderr.
//! Exit status like grep: 0 hits, 1 none, 2 the hunt could not run.

use crate::cli::DatabaseArgs;
use crate::config::{DEFAULT_DATA_DIR, DatabaseConfig, FileConfig};
use crate::hunt_iocs::{Collector, IocCatalog, IocSet};
use crate::hunt_sightings::{self, SightingOutcome, Tally};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kizuna_matcher::hunt::{
    Hit, IocIndex, LogFormat, LogOptions, Micros, ScanError, ScanOptions, ScanReport, scan_path,
};
use kizuna_store::Store;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Malformed lines shown by example per file.
const MALFORMED_EXAMPLES: usize = 3;

/// Widest a table column is padded to; longer cells stick out.
const TABLE_COLUMN_CAP: usize = 48;

#[derive(Debug, Args)]
pub struct HuntArgs {
    /// IoCs to hunt for (repeatable): a MISP feed folder (manifest.json), MISP event JSON, a
    /// STIX 2.1 bundle, CSV (value,type,first_seen,last_seen,to_ids) or a plain list, one
    /// value a line [default: the database's IoCs].
    #[arg(long = "iocs", value_name = "PATH")]
    pub iocs: Vec<PathBuf>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Hunt for the IoCs of a MISP or Kizuna server (attributes/restSearch) and record
    /// sightings there; takes precedence over the database options.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// API key for --server.
    #[arg(
        long,
        env = "KIZUNA_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// Log format; `auto` decides per file from its first non-empty line (Zeek TSV, Zeek
    /// JSON, Squid or Apache/nginx).
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// JSON lines: field holding the time (repeatable, tried in order) [default: ts,
    /// timestamp, @timestamp, time].
    #[arg(long = "json-time-field", value_name = "NAME")]
    pub json_time_fields: Vec<String>,
    /// JSON lines: only this field (dotted path) is compared (repeatable) [default: every
    /// string].
    #[arg(long = "json-field", value_name = "NAME")]
    pub json_fields: Vec<String>,
    /// Syslog: the year of timestamps that have none [default: the current year].
    #[arg(long, value_name = "YEAR")]
    pub syslog_year: Option<i32>,
    /// Output: one JSON object per hit, or an aligned table for reading.
    #[arg(long, value_enum, default_value_t = OutputArg::Jsonl)]
    pub output: OutputArg,
    /// Record one sighting per attribute hit (in the database, or on --server).
    #[arg(long)]
    pub record_sightings: bool,
    /// Source named in the recorded sightings [default: kizuna-hunt@<hostname>].
    #[arg(long, value_name = "NAME")]
    pub sighting_source: Option<String>,
    /// Organisation reporting sightings recorded in the database, by name or id [default:
    /// the host organisation].
    #[arg(long, value_name = "NAME_OR_ID")]
    pub org: Option<String>,
    /// No progress bar and no summary (problems are still reported).
    #[arg(long, short)]
    pub quiet: bool,
    /// Log files (plain, .gz or .zst); `-` is stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Auto,
    /// Zeek TSV (#fields header).
    Zeek,
    /// Zeek JSON, one object per line.
    ZeekJson,
    /// Any JSON lines (see --json-time-field, --json-field).
    Jsonl,
    /// Squid native access.log.
    Squid,
    /// Apache/nginx common or combined.
    Combined,
    /// sshd and other syslog lines.
    Syslog,
    /// CSV with a header row.
    Csv,
}

impl FormatArg {
    fn log_format(self) -> Option<LogFormat> {
        match self {
            Self::Auto => None,
            Self::Zeek => Some(LogFormat::ZeekTsv),
            Self::ZeekJson => Some(LogFormat::ZeekJson),
            Self::Jsonl => Some(LogFormat::JsonLines),
            Self::Squid => Some(LogFormat::Squid),
            Self::Combined => Some(LogFormat::Combined),
            Self::Syslog => Some(LogFormat::Syslog),
            Self::Csv => Some(LogFormat::Csv),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Jsonl,
    Table,
}

/// Where the IoCs come from.
enum IocOrigin {
    Files,
    Server,
    Database,
}

/// Where sightings go.
enum SightingTarget {
    Database,
    Server,
}

pub async fn run(args: HuntArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let server = server_of(&args)?;
    let database_present = database_present(&args.database)?;
    let origin = if !args.iocs.is_empty() {
        IocOrigin::Files
    } else if server.is_some() {
        IocOrigin::Server
    } else if database_present {
        IocOrigin::Database
    } else {
        bail!(
            "no IoCs to hunt for: give --iocs PATH (a MISP feed folder, MISP event or STIX \
             JSON, CSV or a plain list), a Kizuna database (--data-dir DIR or --database-url \
             URL; {DEFAULT_DATA_DIR} holds none) or a server (--server URL --key KEY)"
        );
    };
    let target = match (args.record_sightings, &server) {
        (false, _) => None,
        (true, Some(_)) => Some(SightingTarget::Server),
        (true, None) if database_present => Some(SightingTarget::Database),
        (true, None) => bail!(
            "--record-sightings needs a place to record them: a Kizuna database (--data-dir or \
             --database-url) or a server (--server URL --key KEY)"
        ),
    };
    let needs_store =
        matches!(origin, IocOrigin::Database) || matches!(target, Some(SightingTarget::Database));
    let store = if needs_store {
        Some(crate::user_cli::open(&args.database).await?)
    } else {
        None
    };
    let outcome = hunt(
        &args,
        server.as_ref(),
        origin,
        target,
        store.as_ref(),
        started,
    )
    .await;
    if let Some(store) = store {
        store.close().await;
    }
    outcome
}

async fn hunt(
    args: &HuntArgs,
    server: Option<&(String, String)>,
    origin: IocOrigin,
    target: Option<SightingTarget>,
    store: Option<&Store>,
    started: Instant,
) -> Result<ExitCode> {
    let iocs = Arc::new(load_iocs(args, server, origin, store).await?);
    let options = ScanOptions {
        format: args.format.log_format(),
        log: LogOptions {
            json_time_fields: args.json_time_fields.clone(),
            json_value_fields: args.json_fields.clone(),
            syslog_year: args.syslog_year,
        },
        ..ScanOptions::default()
    };
    let progress = progress_bar(args.quiet);
    let job = ScanJob {
        iocs: Arc::clone(&iocs),
        files: args.files.clone(),
        options,
        output: args.output,
        progress: progress.clone(),
    };
    let scanned = tokio::task::spawn_blocking(move || job.run())
        .await
        .context("the scan stopped unexpectedly")??;
    progress.finish_and_clear();
    if scanned.output_closed {
        // The reader went away (`| head`): what it wanted is written; stop like grep.
        return Ok(exit_status(scanned.hits));
    }
    let sightings = match target {
        None => None,
        Some(target) => {
            let tallies = tallies_by_uuid(&iocs.catalog, &scanned.tallies);
            let name = args
                .sighting_source
                .clone()
                .unwrap_or_else(hunt_sightings::default_source_name);
            let outcome = match (target, server, store) {
                (SightingTarget::Server, Some((url, key)), _) => {
                    hunt_sightings::record_through_server(url, key, &name, &tallies).await?
                }
                (SightingTarget::Database, _, Some(store)) => {
                    hunt_sightings::record_in_store(store, args.org.as_deref(), &name, &tallies)
                        .await?
                }
                _ => unreachable!("the target was chosen with its connection"),
            };
            Some(outcome)
        }
    };
    let elapsed = started.elapsed();
    print_summary(args, &iocs, &scanned, sightings.as_ref(), elapsed);
    if sightings
        .as_ref()
        .is_some_and(|outcome| !outcome.failed.is_empty())
    {
        return Ok(ExitCode::from(2));
    }
    if scanned.opened == 0 {
        eprintln!("kizuna hunt: no log file could be read");
        return Ok(ExitCode::from(2));
    }
    Ok(exit_status(scanned.hits))
}

fn exit_status(hits: u64) -> ExitCode {
    if hits > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--server` with its key, checked.
fn server_of(args: &HuntArgs) -> Result<Option<(String, String)>> {
    let Some(url) = &args.server else {
        return Ok(None);
    };
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        bail!("--server must be an http:// or https:// URL, got {url:?}");
    }
    let key = args
        .key
        .clone()
        .filter(|key| !key.trim().is_empty())
        .context("--server needs --key KEY (or KIZUNA_API_KEY)")?;
    Ok(Some((url.clone(), key.trim().to_string())))
}

/// Whether a database was named (flag, environment, configuration file) or the default
/// data directory holds one. A named SQLite data directory without a database is an error:
/// hunting would otherwise create an empty one and find nothing.
fn database_present(database: &DatabaseArgs) -> Result<bool> {
    let file = FileConfig::load(database.config.as_deref())?;
    let url_named = database.database_url.is_some() || file.database_url.is_some();
    if url_named {
        return Ok(true);
    }
    let named_dir = database.data_dir.clone().or_else(|| file.data_dir.clone());
    let dir = named_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let exists = dir.join("kizuna.db").is_file();
    if named_dir.is_some() && !exists {
        bail!(
            "{} holds no Kizuna database (kizuna.db); create one with `kizuna init` and \
             `kizuna import`, or give --iocs",
            dir.display()
        );
    }
    if exists {
        // Resolving checks the rest of the configuration the same way `serve` does.
        DatabaseConfig::resolve(database, &file)?;
    }
    Ok(exists)
}

async fn load_iocs(
    args: &HuntArgs,
    server: Option<&(String, String)>,
    origin: IocOrigin,
    store: Option<&Store>,
) -> Result<IocSet> {
    match origin {
        IocOrigin::Files => {
            let paths = args.iocs.clone();
            tokio::task::spawn_blocking(move || {
                let mut collector = Collector::new();
                for path in &paths {
                    collector.load_path(path)?;
                }
                Ok(collector.finish())
            })
            .await
            .context("loading the IoCs stopped unexpectedly")?
        }
        IocOrigin::Server => {
            let (url, key) = server.context("a server was chosen without its URL")?;
            let mut collector = Collector::new();
            collector.load_server(url, key).await?;
            finish_blocking(collector).await
        }
        IocOrigin::Database => {
            let store = store.context("the database was chosen but not opened")?;
            let mut collector = Collector::new();
            collector.load_store(store).await?;
            finish_blocking(collector).await
        }
    }
}

async fn finish_blocking(collector: Collector) -> Result<IocSet> {
    tokio::task::spawn_blocking(move || collector.finish())
        .await
        .context("building the IoC index stopped unexpectedly")
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {bytes} read ({bytes_per_sec}), {msg}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The blocking part: every file in order, hits written as they come per file.
struct ScanJob {
    iocs: Arc<IocSet>,
    files: Vec<String>,
    options: ScanOptions,
    output: OutputArg,
    progress: ProgressBar,
}

/// What one file gave (its hits already written).
struct FileResult {
    name: String,
    /// None when the file could not be scanned at all.
    report: Option<ScanReport>,
    error: Option<String>,
}

struct Scanned {
    files: Vec<FileResult>,
    /// Files that could be opened.
    opened: u64,
    hits: u64,
    /// Hits per attribute (catalog source handle) active at the hit's time.
    tallies: HashMap<u32, Tally>,
    /// stdout was closed by its reader.
    output_closed: bool,
}

impl ScanJob {
    fn run(self) -> Result<Scanned> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
        let mut writer = HitWriter {
            format: self.output,
            rows: Vec::new(),
            active: Vec::new(),
        };
        let mut scanned = Scanned {
            files: Vec::new(),
            opened: 0,
            hits: 0,
            tallies: HashMap::new(),
            output_closed: false,
        };
        let index: &IocIndex = &self.iocs.index;
        for name in &self.files {
            self.progress
                .set_message(format!("{} hits, {name}", scanned.hits));
            let progress = self.progress.clone();
            let read = move |bytes: u64| progress.inc(bytes);
            match scan_path(index, Path::new(name), &self.options, &read) {
                Ok(mut report) => {
                    scanned.opened += 1;
                    let hits = std::mem::take(&mut report.hits);
                    scanned.hits += hits.len() as u64;
                    let written =
                        writer.write_file(&mut out, &self.iocs, name, &hits, &mut scanned.tallies);
                    scanned.files.push(FileResult {
                        name: name.clone(),
                        report: Some(report),
                        error: None,
                    });
                    if let Err(error) = written.and_then(|()| out.flush()) {
                        if error.kind() == std::io::ErrorKind::BrokenPipe {
                            scanned.output_closed = true;
                            return Ok(scanned);
                        }
                        return Err(error).context("cannot write the hits");
                    }
                }
                Err(error) => {
                    if matches!(error, ScanError::UnknownFormat { .. }) {
                        scanned.opened += 1;
                    }
                    scanned.files.push(FileResult {
                        name: name.clone(),
                        report: None,
                        error: Some(error.to_string()),
                    });
                }
            }
        }
        if let Err(error) = writer.finish(&mut out).and_then(|()| out.flush()) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                scanned.output_closed = true;
                return Ok(scanned);
            }
            return Err(error).context("cannot write the hits");
        }
        Ok(scanned)
    }
}

/// One hit as a JSON line (hunt-semantics §5 plus what the IoC's attributes tell).
#[derive(Serialize)]
struct HitRecord<'a> {
    file: &'a str,
    line_no: u64,
    ts: Option<String>,
    field: &'a str,
    value: &'a str,
    ioc: &'a str,
    ioc_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_uuid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attribute_uuid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tags: Option<Vec<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intended_use: Option<&'static str>,
    /// The IoC file, `database` or the server the IoC came from.
    ioc_source: &'a str,
    /// Every attribute active at the line's time, when there are several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attributes: Vec<AttributeRef<'a>>,
}

#[derive(Serialize)]
struct AttributeRef<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_uuid: Option<&'a str>,
    attribute_uuid: &'a str,
}

struct HitWriter {
    format: OutputArg,
    /// Table rows, written at the end so that the columns line up.
    rows: Vec<[String; 7]>,
    /// Reused buffer of active source handles.
    active: Vec<u32>,
}

impl HitWriter {
    fn write_file(
        &mut self,
        out: &mut impl Write,
        iocs: &IocSet,
        file: &str,
        hits: &[Hit],
        tallies: &mut HashMap<u32, Tally>,
    ) -> std::io::Result<()> {
        let index = &iocs.index;
        let catalog = &iocs.catalog;
        for hit in hits {
            self.active.clear();
            index.active_sources(hit.ioc, hit.ts, &mut self.active);
            if self.active.is_empty() {
                self.active.extend_from_slice(index.sources(hit.ioc));
            }
            self.active.dedup();
            for &source in &self.active {
                tallies.entry(source).or_default().count(hit.ts);
            }
            let first = self.active[0];
            let attribute = catalog.attribute(first);
            let ioc = index.canonical(hit.ioc);
            let ioc_type = index.kind(hit.ioc).as_str();
            match self.format {
                OutputArg::Jsonl => {
                    let with_uuid: Vec<AttributeRef<'_>> = self
                        .active
                        .iter()
                        .filter_map(|&source| {
                            Some(AttributeRef {
                                event_uuid: catalog.event_uuid(source),
                                attribute_uuid: catalog.attribute_uuid(source)?,
                            })
                        })
                        .collect();
                    let record = HitRecord {
                        file,
                        line_no: hit.line_no,
                        ts: hit.ts.map(rfc3339_micros),
                        field: &hit.field,
                        value: &hit.value,
                        ioc,
                        ioc_type,
                        event_uuid: catalog.event_uuid(first),
                        attribute_uuid: catalog.attribute_uuid(first),
                        tags: catalog.is_misp(first).then(|| catalog.tags(first)),
                        intended_use: attribute.intended_use.map(|use_| use_.as_str()),
                        ioc_source: catalog.origin(first),
                        attributes: if with_uuid.len() > 1 {
                            with_uuid
                        } else {
                            Vec::new()
                        },
                    };
                    serde_json::to_writer(&mut *out, &record).map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                }
                OutputArg::Table => {
                    let event = catalog
                        .event_uuid(first)
                        .map_or_else(|| catalog.origin(first).to_string(), str::to_string);
                    self.rows.push([
                        format!("{file}:{}", hit.line_no),
                        hit.ts.map_or_else(|| "-".to_string(), rfc3339_trimmed),
                        hit.field.clone(),
                        printable(&hit.value),
                        ioc.to_string(),
                        ioc_type.to_string(),
                        event,
                    ]);
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if self.format != OutputArg::Table || self.rows.is_empty() {
            return Ok(());
        }
        let header = [
            "FILE:LINE",
            "TIME (UTC)",
            "FIELD",
            "VALUE",
            "IOC",
            "TYPE",
            "EVENT",
        ]
        .map(str::to_string);
        let mut widths = [0usize; 7];
        for row in std::iter::once(&header).chain(&self.rows) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count().min(TABLE_COLUMN_CAP));
            }
        }
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
                if column + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  "));
                }
            }
            out.write_all(line.trim_end().as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// Control characters shown escaped, so that a value cannot garble the terminal.
fn printable(value: &str) -> String {
    if value.chars().any(char::is_control) {
        value.escape_debug().to_string()
    } else {
        value.to_string()
    }
}

/// `2026-03-02T00:00:10.500000Z`.
fn rfc3339_micros(micros: Micros) -> String {
    let seconds = hunt_sightings::rfc3339_seconds(micros);
    match seconds.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{:06}Z", micros.rem_euclid(1_000_000)),
        None => seconds,
    }
}

/// `2026-03-02T00:00:10.5Z`, `2026-03-02T00:00:10Z`: the table's shorter form.
fn rfc3339_trimmed(micros: Micros) -> String {
    let fraction = micros.rem_euclid(1_000_000);
    let seconds = hunt_sightings::rfc3339_seconds(micros);
    match seconds.strip_suffix('Z') {
        Some(stem) if fraction != 0 => {
            let digits = format!("{fraction:06}");
            format!("{stem}.{}Z", digits.trim_end_matches('0'))
        }
        _ => seconds,
    }
}

/// Hits per attribute uuid (the same attribute may come from several sources).
fn tallies_by_uuid(catalog: &IocCatalog, tallies: &HashMap<u32, Tally>) -> BTreeMap<String, Tally> {
    let mut by_uuid: BTreeMap<String, Tally> = BTreeMap::new();
    for (&source, tally) in tallies {
        if let Some(uuid) = catalog.attribute_uuid(source) {
            by_uuid.entry(uuid.to_string()).or_default().merge(*tally);
        }
    }
    by_uuid
}

fn print_summary(
    args: &HuntArgs,
    iocs: &IocSet,
    scanned: &Scanned,
    sightings: Option<&SightingOutcome>,
    elapsed: Duration,
) {
    let report = &iocs.report;
    if !args.quiet {
        let kinds: Vec<String> = iocs
            .kinds()
            .iter()
            .map(|(kind, count)| format!("{count} {}", kind.as_str()))
            .collect();
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        };
        eprintln!(
            "kizuna hunt: {} IoCs{kinds} from {} attributes or lines",
            iocs.index.len(),
            report.taken
        );
        let bytes: u64 = scanned.reports().map(|report| report.bytes).sum();
        let lines: u64 = scanned.reports().map(|report| report.lines).sum();
        let seconds = elapsed.as_secs_f64().max(1e-6);
        let unscanned = scanned
            .files
            .iter()
            .filter(|file| file.report.is_none())
            .count();
        let files = if unscanned == 0 {
            plural(scanned.files.len(), "file")
        } else {
            format!(
                "{} ({unscanned} not scanned)",
                plural(scanned.files.len(), "file")
            )
        };
        eprintln!(
            "kizuna hunt: {files}, {}, {lines} lines, {} hits in {seconds:.2} s ({:.1} MB/s)",
            human_bytes(bytes),
            scanned.hits,
            bytes as f64 / 1e6 / seconds,
        );
    }
    for file in &scanned.files {
        if let Some(error) = &file.error {
            // The scanner's errors start with the file name.
            eprintln!("  not scanned: {error}");
        }
        let Some(scan) = &file.report else { continue };
        if let Some(error) = &scan.read_error {
            eprintln!(
                "  {}: reading stopped after line {}: {error} (the hits before it are reported)",
                file.name, scan.lines
            );
        }
        if scan.malformed_lines > 0 {
            let format = scan.format.map_or("its", LogFormat::name);
            eprintln!(
                "  {}: {} of {} lines do not fit the {format} format",
                file.name, scan.malformed_lines, scan.lines
            );
            for (line_no, line) in scan.malformed_examples.iter().take(MALFORMED_EXAMPLES) {
                eprintln!("    line {line_no}: {line:?}");
            }
        }
    }
    for problem in &report.problems {
        eprintln!("  IoCs: {problem}");
    }
    if report.invalid > 0 {
        eprintln!(
            "  IoCs: {} values left out (not of the shape their type requires):",
            report.invalid
        );
        for example in &report.invalid_examples {
            eprintln!("    {example}");
        }
    }
    if !args.quiet {
        if report.unsupported_total() > 0 {
            let mut types: Vec<(&String, &u64)> = report.unsupported.iter().collect();
            types.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let listed: Vec<String> = types
                .iter()
                .take(5)
                .map(|(name, count)| format!("{name} {count}"))
                .collect();
            let more = if types.len() > 5 { ", …" } else { "" };
            eprintln!(
                "  IoCs: {} attributes of types hunting does not use ({}{more})",
                report.unsupported_total(),
                listed.join(", ")
            );
        }
        if report.ignored > 0 {
            eprintln!(
                "  IoCs: {} attributes ignored (to_ids false, deleted or withdrawn)",
                report.ignored
            );
        }
    }
    if let Some(outcome) = sightings {
        let unknown = if outcome.unknown.is_empty() {
            String::new()
        } else {
            format!(
                "; {} attributes hit are unknown there (first: {})",
                outcome.unknown.len(),
                outcome.unknown[0]
            )
        };
        eprintln!(
            "kizuna hunt: {} sightings recorded{unknown}",
            outcome.recorded
        );
        for failure in &outcome.failed {
            eprintln!("  sighting not recorded: {failure}");
        }
    }
}

impl Scanned {
    fn reports(&self) -> impl Iterator<Item = &ScanReport> {
        self.files.iter().filter_map(|file| file.report.as_ref())
    }
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for next in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_utc() {
        let micros = 1_772_409_610_500_000;
        assert_eq!(rfc3339_micros(micros), "2026-03-02T00:00:10.500000Z");
        assert_eq!(rfc3339_trimmed(micros), "2026-03-02T00:00:10.5Z");
        assert_eq!(
            rfc3339_trimmed(1_772_409_610_000_000),
            "2026-03-02T00:00:10Z"
        );
        assert_eq!(rfc3339_micros(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(999), "999 bytes");
        assert_eq!(human_bytes(1_500_000), "1.5 MB");
        assert_eq!(human_bytes(2_000_000_000), "2.0 GB");
    }
}
