//! Scanning files: plain, `.gz`, `.zst` or stdin, read in large chunks split at line ends,
//! parsed and matched on every core.
//!
//! The calling thread reads and decompresses blocks of whole lines and hands each, with a
//! copy of the parser state in force at its start (Zeek headers, the CSV header row), to a
//! small pool of worker threads through a channel of capacity one, so at most
//! `2 × threads + 1` blocks are in memory. Workers number lines relative to their block;
//! the blocks' results are put back in order at the end.

use super::index::{Candidate, IocId, IocIndex, KnownShape, Micros, ValueForm};
use super::logs::{
    Fast, LineOutcome, LineParser, LogFormat, LogOptions, ShapedValue, ValueSink, WithFeatures,
    detect_format,
};
use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Mutex, mpsc};

/// A block the reader fills and a worker scans stays in the shared cache between the two
/// with room to spare: with 8 MiB blocks, the blocks in flight and the IoC index's lookups
/// pushed each other out, and one core scanned 5–15 % less a second.
const DEFAULT_BLOCK_SIZE: usize = 2 << 20;
/// Lines longer than this many blocks (at least [`MIN_LONGEST_LINE`]) are not parsed but
/// skipped and counted as malformed: binary garbage without line ends must not be held in
/// memory whole.
const LONGEST_LINE_IN_BLOCKS: usize = 32;
const MIN_LONGEST_LINE: usize = 1 << 20;
const MALFORMED_EXAMPLES: usize = 5;
const EXAMPLE_CHARS: usize = 200;

#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    /// None = detect from the first non-empty line.
    pub format: Option<LogFormat>,
    pub log: LogOptions,
    /// Bytes per block handed to a worker (None = 8 MiB); small values exercise the block
    /// boundaries in tests.
    pub block_size: Option<usize>,
    /// Worker threads (None = one per core).
    pub threads: Option<usize>,
}

/// One reported hit (hunt-semantics §5), its window already checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// 1-based physical line number.
    pub line_no: u64,
    /// The line's timestamp, when it had one.
    pub ts: Option<Micros>,
    /// Field name, with `.host` appended for a URL's or authority's host.
    pub field: String,
    /// The value as written (JSON strings decoded; the host alone for `.host`).
    pub value: String,
    pub ioc: IocId,
}

/// What one file gave.
#[derive(Clone, Debug, Default)]
pub struct ScanReport {
    /// The format used (detected or given); None for an empty file.
    pub format: Option<LogFormat>,
    /// Bytes read after decompression.
    pub bytes: u64,
    pub lines: u64,
    /// Lines that did not fit the format (`LineOutcome::Malformed`).
    pub malformed_lines: u64,
    /// The first few malformed lines: (line number, the line, cut to 200 characters).
    pub malformed_examples: Vec<(u64, String)>,
    /// Distinct hits sorted by line number, one per (line, field, value, ioc).
    pub hits: Vec<Hit>,
    /// Reading stopped early (truncated compressed stream, IO error mid-file); the hits
    /// before it are kept.
    pub read_error: Option<String>,
}

#[derive(Debug)]
pub enum ScanError {
    /// The file cannot be opened or its first bytes read.
    Open { path: String, message: String },
    /// `--format auto` and the first non-empty line fits no format.
    UnknownFormat { path: String },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::Open { path, message } => write!(f, "{path}: {message}"),
            ScanError::UnknownFormat { path } => {
                write!(
                    f,
                    "{path}: the log format cannot be detected; give --format"
                )
            }
        }
    }
}

impl std::error::Error for ScanError {}

/// Scans a file; `-` is stdin. gzip and zstd streams are recognised by their magic bytes
/// and decompressed (concatenated members/frames included). `progress` is called from the
/// calling thread with the number of newly read bytes of the file itself (compressed bytes
/// for `.gz`/`.zst`), so that the calls add up to the file's size.
pub fn scan_path(
    index: &IocIndex,
    path: &Path,
    options: &ScanOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ScanReport, ScanError> {
    let name = path.to_string_lossy().into_owned();
    let open_error = |error: io::Error| ScanError::Open {
        path: name.clone(),
        message: error.to_string(),
    };
    let source: Box<dyn Read> = if path == Path::new("-") {
        Box::new(io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(path).map_err(open_error)?)
    };
    let raw_bytes = Rc::new(Cell::new(0u64));
    let mut counted = CountingReader {
        inner: source,
        count: Rc::clone(&raw_bytes),
    };
    let mut magic = [0u8; 4];
    let magic_len = read_prefix(&mut counted, &mut magic).map_err(open_error)?;
    let magic = &magic[..magic_len];
    let stream = io::Cursor::new(magic.to_vec()).chain(counted);
    let mut reader: Box<dyn Read> = match magic {
        [0x1f, 0x8b, ..] => Box::new(flate2::read::MultiGzDecoder::new(stream)),
        [0x28, 0xb5, 0x2f, 0xfd] => {
            Box::new(zstd::stream::read::Decoder::new(stream).map_err(open_error)?)
        }
        _ => Box::new(stream),
    };
    scan_stream(
        index,
        &name,
        &mut reader,
        options,
        progress,
        Some(&|| raw_bytes.get()),
    )
}

/// Scans an already opened, decompressed stream; `name` is used in errors. `progress` is
/// called with the number of newly read bytes of the stream.
pub fn scan_reader(
    index: &IocIndex,
    name: &str,
    reader: &mut dyn Read,
    options: &ScanOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<ScanReport, ScanError> {
    scan_stream(index, name, reader, options, progress, None)
}

/// Counts the bytes read through it, for progress in bytes of the file as stored.
struct CountingReader<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.count.set(self.count.get() + read as u64);
        Ok(read)
    }
}

/// Fills `buffer` as far as the stream allows; the number of bytes read.
fn read_prefix(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// What the block reader hands out.
enum Block {
    /// Whole lines; the last one ends with `\n` unless it ends the input.
    Lines(Vec<u8>),
    /// One line too long to hold: skipped; its beginning is kept for the report.
    Overlong { beginning: Vec<u8> },
}

struct BlockReader<'r> {
    reader: &'r mut dyn Read,
    block_size: usize,
    longest_line: usize,
    carry: Vec<u8>,
    /// Blocks the workers are done with, to be filled again: a fresh multi-megabyte
    /// allocation per block would cost a page fault per 4 KiB.
    spare: Vec<Vec<u8>>,
    finished: bool,
    error: Option<String>,
    /// Bytes read from the stream so far.
    total: u64,
}

impl<'r> BlockReader<'r> {
    fn new(reader: &'r mut dyn Read, block_size: usize) -> Self {
        BlockReader {
            reader,
            block_size,
            longest_line: block_size
                .saturating_mul(LONGEST_LINE_IN_BLOCKS)
                .max(MIN_LONGEST_LINE),
            carry: Vec::new(),
            spare: Vec::new(),
            finished: false,
            error: None,
            total: 0,
        }
    }

    /// Appends up to `wanted` bytes to `buffer`; EOF and errors finish the stream.
    fn fill(&mut self, buffer: &mut Vec<u8>, wanted: usize) {
        let before = buffer.len();
        buffer.reserve(wanted);
        let result = (&mut *self.reader).take(wanted as u64).read_to_end(buffer);
        let read = buffer.len() - before;
        self.total += read as u64;
        match result {
            Ok(_) if read < wanted => self.finished = true,
            Ok(_) => {}
            Err(error) => {
                self.error = Some(format!("read error after {} bytes: {error}", self.total));
                self.finished = true;
            }
        }
    }

    fn next_block(&mut self) -> Option<Block> {
        let mut block = match self.spare.pop() {
            Some(mut spare) => {
                spare.clear();
                spare.extend_from_slice(&self.carry);
                self.carry.clear();
                spare
            }
            None => std::mem::take(&mut self.carry),
        };
        // The part of `block` known to hold no line end.
        let mut searched = 0;
        loop {
            if !self.finished {
                let wanted = if block.len() < self.block_size {
                    self.block_size - block.len()
                } else {
                    self.block_size
                };
                self.fill(&mut block, wanted);
            }
            if self.finished {
                if self.error.is_some() {
                    // The unterminated tail of an interrupted stream is an incomplete line.
                    let complete = memchr::memrchr(b'\n', &block).map_or(0, |end| end + 1);
                    block.truncate(complete);
                }
                return (!block.is_empty()).then_some(Block::Lines(block));
            }
            if let Some(end) = memchr::memrchr(b'\n', &block[searched..]) {
                let end = searched + end;
                self.carry.clear();
                self.carry.extend_from_slice(&block[end + 1..]);
                block.truncate(end + 1);
                return Some(Block::Lines(block));
            }
            searched = block.len();
            if block.len() > self.longest_line {
                return Some(self.skip_overlong_line(block));
            }
        }
    }

    /// Reads past the rest of a line that started in `block` and holds no line end.
    fn skip_overlong_line(&mut self, block: Vec<u8>) -> Block {
        let beginning = block[..block.len().min(EXAMPLE_CHARS * 4)].to_vec();
        let mut chunk = block;
        loop {
            chunk.clear();
            if self.finished {
                return Block::Overlong { beginning };
            }
            self.fill(&mut chunk, self.block_size);
            if let Some(end) = memchr::memchr(b'\n', &chunk) {
                self.carry = chunk[end + 1..].to_vec();
                return Block::Overlong { beginning };
            }
        }
    }
}

/// What scanning one block gave, with line numbers relative to the block.
#[derive(Default)]
struct BlockResult {
    number: usize,
    lines: u64,
    malformed_lines: u64,
    malformed_examples: Vec<(u64, String)>,
    hits: Vec<Hit>,
}

struct Job {
    number: usize,
    block: Vec<u8>,
    parser: LineParser,
}

/// Per-worker buffers reused from line to line.
#[derive(Default)]
struct Scratch {
    candidates: Vec<Candidate>,
    pending: Vec<PendingHit>,
}

/// Matches each value a parser reports against the index, keeping its hits pending.
struct MatchingSink<'a> {
    index: &'a IocIndex,
    candidates: &'a mut Vec<Candidate>,
    pending: &'a mut Vec<PendingHit>,
}

impl MatchingSink<'_> {
    /// The candidates found for `value` of `field` as pending hits.
    #[inline(always)]
    fn keep_candidates(&mut self, field: &str, value: &str) {
        for candidate in self.candidates.iter() {
            let hit = match candidate.host {
                None => PendingHit {
                    field: field.to_owned(),
                    value: value.to_owned(),
                    ioc: candidate.ioc,
                },
                Some((start, end)) => {
                    let Some(host) = value.get(start as usize..end as usize) else {
                        continue;
                    };
                    PendingHit {
                        field: format!("{field}.host"),
                        value: host.to_owned(),
                        ioc: candidate.ioc,
                    }
                }
            };
            self.pending.push(hit);
        }
    }
}

impl ValueSink for MatchingSink<'_> {
    #[inline(always)]
    fn value(&mut self, field: &str, value: &str, form: ValueForm) {
        self.candidates.clear();
        self.index.match_value(value, form, self.candidates);
        if !self.candidates.is_empty() {
            self.keep_candidates(field, value);
        }
    }

    #[inline(always)]
    fn known(&mut self, field: &str, value: ShapedValue<'_>, shape: KnownShape) {
        self.candidates.clear();
        self.index
            .match_known(value.preceded(), shape, self.candidates);
        if !self.candidates.is_empty()
            && let Some(text) = value.text()
        {
            self.keep_candidates(field, text);
        }
    }
}

/// A match whose line's outcome (and so its timestamp) is not known yet.
struct PendingHit {
    field: String,
    value: String,
    ioc: IocId,
}

fn scan_stream(
    index: &IocIndex,
    name: &str,
    reader: &mut dyn Read,
    options: &ScanOptions,
    progress: &(dyn Fn(u64) + Sync),
    raw_bytes: Option<&dyn Fn() -> u64>,
) -> Result<ScanReport, ScanError> {
    let block_size = options.block_size.unwrap_or(DEFAULT_BLOCK_SIZE).max(1);
    let mut blocks = BlockReader::new(reader, block_size);
    let mut progress_reported = 0u64;
    let mut report_progress = |blocks: &BlockReader<'_>| {
        let now = raw_bytes.map_or(blocks.total, |raw_bytes| raw_bytes());
        if now > progress_reported {
            progress(now - progress_reported);
            progress_reported = now;
        }
    };
    let mut results = Vec::new();
    // Lines and results of the blocks read before the format is known: blank lines, and
    // overlong lines.
    let mut block_number = 0;
    let (first_block, format) = loop {
        let block = blocks.next_block();
        report_progress(&blocks);
        match block {
            None => {
                if blocks.total == 0
                    && let Some(message) = blocks.error.take()
                {
                    return Err(ScanError::Open {
                        path: name.to_owned(),
                        message,
                    });
                }
                let lines = results
                    .iter()
                    .map(|result: &BlockResult| result.lines)
                    .sum();
                let mut report = ScanReport {
                    format: options.format,
                    bytes: blocks.total,
                    lines,
                    read_error: blocks.error.take(),
                    ..ScanReport::default()
                };
                merge_into(&mut report, results);
                return Ok(report);
            }
            Some(Block::Overlong { beginning }) => {
                results.push(overlong_result(block_number, &beginning));
                block_number += 1;
            }
            Some(Block::Lines(block)) => match first_non_blank_line(&block) {
                None => {
                    results.push(BlockResult {
                        number: block_number,
                        lines: count_lines(&block),
                        ..BlockResult::default()
                    });
                    block_number += 1;
                }
                Some(line) => {
                    let format = match options.format {
                        Some(format) => format,
                        None => detect_format(line).ok_or_else(|| ScanError::UnknownFormat {
                            path: name.to_owned(),
                        })?,
                    };
                    break (block, format);
                }
            },
        }
    };

    let threads = options
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let finished_blocks = Mutex::new(results);
    let mut state = LineParser::new(format, &options.log);
    state.report_only_possible_iocs();
    state.defer_zeek_ts();
    let (sender, receiver) = mpsc::sync_channel::<Job>(1);
    let receiver = Mutex::new(receiver);
    let (recycler, recycled) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let receiver = &receiver;
        let finished_blocks = &finished_blocks;
        for _ in 0..threads {
            let recycler = recycler.clone();
            scope.spawn(move || {
                let mut scratch = Scratch::default();
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let (result, block) = scan_block(index, job, &mut scratch);
                    if let Ok(mut finished) = finished_blocks.lock() {
                        finished.push(result);
                    }
                    // The reader may be gone already; then the block is simply freed.
                    let _ = recycler.send(block);
                }
            });
        }
        let mut next = Some(Block::Lines(first_block));
        while let Some(block) = next {
            match block {
                Block::Lines(block) => {
                    let parser = state.clone();
                    state.apply_state_lines(&block);
                    let job = Job {
                        number: block_number,
                        block,
                        parser,
                    };
                    if sender.send(job).is_err() {
                        break;
                    }
                }
                Block::Overlong { beginning } => {
                    if let Ok(mut finished) = finished_blocks.lock() {
                        finished.push(overlong_result(block_number, &beginning));
                    }
                }
            }
            block_number += 1;
            blocks.spare.extend(recycled.try_iter());
            next = blocks.next_block();
            report_progress(&blocks);
        }
        // The workers stop when the channel is empty and closed.
        drop(sender);
    });
    let mut report = ScanReport {
        format: Some(format),
        bytes: blocks.total,
        read_error: blocks.error.take(),
        ..ScanReport::default()
    };
    let results = finished_blocks
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    merge_into(&mut report, results);
    Ok(report)
}

/// Puts the blocks' results in order, numbering their lines from the start of the file.
fn merge_into(report: &mut ScanReport, mut results: Vec<BlockResult>) {
    results.sort_by_key(|result| result.number);
    let mut lines_before = 0;
    for result in results {
        report.malformed_lines += result.malformed_lines;
        for (line_no, example) in result.malformed_examples {
            if report.malformed_examples.len() < MALFORMED_EXAMPLES {
                report
                    .malformed_examples
                    .push((lines_before + line_no, example));
            }
        }
        report.hits.extend(result.hits.into_iter().map(|hit| Hit {
            line_no: lines_before + hit.line_no,
            ..hit
        }));
        lines_before += result.lines;
    }
    report.lines = lines_before;
}

fn overlong_result(number: usize, beginning: &[u8]) -> BlockResult {
    BlockResult {
        number,
        lines: 1,
        malformed_lines: 1,
        malformed_examples: vec![(1, example(beginning))],
        hits: Vec::new(),
    }
}

/// Physical lines in a block of whole lines.
fn count_lines(block: &[u8]) -> u64 {
    let newlines = memchr::memchr_iter(b'\n', block).count() as u64;
    newlines + u64::from(block.last().is_some_and(|&last| last != b'\n'))
}

fn first_non_blank_line(block: &[u8]) -> Option<&[u8]> {
    block
        .split(|&byte| byte == b'\n')
        .find(|line| !line.iter().all(|byte| byte.is_ascii_whitespace()))
}

/// A malformed line for the report: lossy text, without its `\r`, cut to 200 characters.
fn example(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line)
        .chars()
        .take(EXAMPLE_CHARS)
        .collect()
}

/// The block's result, and the block itself for reuse.
fn scan_block(index: &IocIndex, job: Job, scratch: &mut Scratch) -> (BlockResult, Vec<u8>) {
    let Job {
        number,
        block,
        mut parser,
    } = job;
    let checks_values_alone = parser.checks_values_alone();
    let text = if checks_values_alone {
        None
    } else {
        std::str::from_utf8(&block).ok()
    };
    let mut result = BlockResult {
        number,
        ..BlockResult::default()
    };
    let lines = BlockLines {
        index,
        block: &block,
        parser: &mut parser,
        text,
        checks_values_alone,
        scratch,
        result: &mut result,
    };
    result.lines = match lines.parser.cpu_features() {
        Some(fast) if checks_values_alone => fast.run(lines),
        _ => lines.scan(None),
    };
    (result, block)
}

/// A block's line loop, with what it works with: run as it is, or compiled for the CPU
/// features of the Zeek TSV parser (line ends, the steps to the line parser, the handling
/// of each line's hits), then calling the parser's copy compiled for them.
struct BlockLines<'a, 'b> {
    index: &'a IocIndex,
    block: &'b [u8],
    parser: &'b mut LineParser,
    /// The block as text when it was checked as a whole.
    text: Option<&'b str>,
    checks_values_alone: bool,
    scratch: &'b mut Scratch,
    result: &'b mut BlockResult,
}

impl BlockLines<'_, '_> {
    /// The number of lines; `inside` when compiled for its features ([`Fast::run`]).
    #[inline(always)]
    fn scan(self, inside: Option<Fast>) -> u64 {
        // One pass over the block: a search per line would pay its set-up each time.
        match inside {
            Some(fast) => {
                let line_ends = ChunkLineEnds::new(fast, self.block);
                self.scan_lines(line_ends, inside)
            }
            None => {
                let line_ends = LineEnds::new(self.block);
                self.scan_lines(line_ends, inside)
            }
        }
    }

    #[inline(always)]
    fn scan_lines(self, mut line_ends: impl Iterator<Item = usize>, inside: Option<Fast>) -> u64 {
        let block = self.block;
        let mut line_no = 0;
        let mut start = 0;
        while start < block.len() {
            let end = line_ends.next().unwrap_or(block.len());
            line_no += 1;
            // Line ends are ASCII, so a line of a UTF-8 block is UTF-8.
            let line_text = self.text.and_then(|text| text.get(start..end));
            scan_line(
                self.index,
                self.parser,
                &block[start..end],
                (line_text, self.checks_values_alone, inside),
                line_no,
                self.scratch,
                self.result,
            );
            start = end + 1;
        }
        line_no
    }
}

impl WithFeatures for BlockLines<'_, '_> {
    type Output = u64;

    #[inline(always)]
    fn run(self, fast: Fast) -> u64 {
        self.scan(Some(fast))
    }
}

/// The positions of the line ends of a block. With AVX2 found once per process, each
/// line's search goes straight to it, not through `memchr_iter`'s dispatch on every call.
enum LineEnds<'h> {
    #[cfg(target_arch = "x86_64")]
    Avx2(memchr::arch::x86_64::avx2::memchr::OneIter<'static, 'h>),
    Any(memchr::Memchr<'h>),
}

impl<'h> LineEnds<'h> {
    fn new(block: &'h [u8]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = AVX2_LINE_ENDS.as_ref() {
            return LineEnds::Avx2(one.iter(block));
        }
        LineEnds::Any(memchr::memchr_iter(b'\n', block))
    }
}

#[cfg(target_arch = "x86_64")]
static AVX2_LINE_ENDS: std::sync::LazyLock<Option<memchr::arch::x86_64::avx2::memchr::One>> =
    std::sync::LazyLock::new(|| memchr::arch::x86_64::avx2::memchr::One::new(b'\n'));

impl Iterator for LineEnds<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        match self {
            #[cfg(target_arch = "x86_64")]
            LineEnds::Avx2(ends) => ends.next(),
            LineEnds::Any(ends) => ends.next(),
        }
    }
}

/// The line ends of a block from the bits of its 64-byte chunks, each chunk compared once:
/// without a search's set-up and dispatch for each line (Zeek lines are a few chunks long).
struct ChunkLineEnds<'h> {
    fast: Fast,
    chunks: std::slice::ChunksExact<'h, u8>,
    /// The block's last, partial chunk, until its turn.
    tail: Option<&'h [u8]>,
    /// Start of the chunk `ends` belongs to.
    base: usize,
    /// The line ends of that chunk not yet returned.
    ends: u64,
}

impl<'h> ChunkLineEnds<'h> {
    fn new(fast: Fast, block: &'h [u8]) -> Self {
        let chunks = block.chunks_exact(64);
        let tail = Some(chunks.remainder()).filter(|tail| !tail.is_empty());
        let mut ends = ChunkLineEnds {
            fast,
            chunks,
            tail,
            base: 0,
            ends: 0,
        };
        ends.ends = ends.next_chunk().unwrap_or(0);
        ends
    }

    /// The line ends of the next chunk, None past the block's end.
    #[inline(always)]
    fn next_chunk(&mut self) -> Option<u64> {
        match self.chunks.next() {
            Some(chunk) => Some(
                self.fast
                    .byte_bits(chunk.try_into().expect("64 bytes"), b'\n'),
            ),
            None => self.tail.take().map(|tail| tail_line_ends(self.fast, tail)),
        }
    }
}

/// The line ends of a block's last, partial chunk, padded with bytes that are no line end.
/// Apart, with nothing of the loop's state behind a reference.
#[cold]
fn tail_line_ends(fast: Fast, tail: &[u8]) -> u64 {
    let mut chunk = [0u8; 64];
    chunk[..tail.len()].copy_from_slice(tail);
    fast.byte_bits(&chunk, b'\n')
}

impl Iterator for ChunkLineEnds<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.ends == 0 {
            self.ends = self.next_chunk()?;
            self.base += 64;
        }
        let end = self.base + self.ends.trailing_zeros() as usize;
        self.ends &= self.ends - 1;
        Some(end)
    }
}

/// One line of a block; `inside` when the caller is compiled for its features.
#[inline(always)]
fn scan_line(
    index: &IocIndex,
    parser: &mut LineParser,
    line: &[u8],
    (line_text, checks_values_alone, inside): (Option<&str>, bool, Option<Fast>),
    line_no: u64,
    scratch: &mut Scratch,
    result: &mut BlockResult,
) {
    let Scratch {
        candidates,
        pending,
    } = scratch;
    pending.clear();
    let mut sink = MatchingSink {
        index,
        candidates,
        pending,
    };
    let outcome = match (line_text, inside) {
        (Some(text), _) => parser.parse_line_text_into(text, &mut sink),
        (None, Some(fast)) => parser.parse_line_bytes_inline(line, &mut sink, fast),
        (None, None) if checks_values_alone => parser.parse_line_bytes_into(line, &mut sink),
        (None, None) => parser.parse_line_into(line, &mut sink),
    };
    match outcome {
        LineOutcome::Data { ts } => {
            if pending.is_empty() {
                return;
            }
            let ts = ts.or_else(|| parser.deferred_ts(line));
            let line_hits_start = result.hits.len();
            for hit in pending.drain(..) {
                let duplicate = result.hits[line_hits_start..].iter().any(|earlier| {
                    earlier.ioc == hit.ioc
                        && earlier.field == hit.field
                        && earlier.value == hit.value
                });
                if !duplicate && index.is_active(hit.ioc, ts) {
                    result.hits.push(Hit {
                        line_no,
                        ts,
                        field: hit.field,
                        value: hit.value,
                        ioc: hit.ioc,
                    });
                }
            }
        }
        LineOutcome::Malformed => {
            result.malformed_lines += 1;
            if result.malformed_examples.len() < MALFORMED_EXAMPLES {
                result.malformed_examples.push((line_no, example(line)));
            }
        }
        LineOutcome::Header | LineOutcome::Blank => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_counting() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"\n"), 1);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"a\nb\n"), 2);
    }

    /// The block loop compiled for the CPU features (when this CPU has them) and the
    /// baseline loop find the same hits, lines and malformed lines.
    #[test]
    fn block_loops_with_and_without_cpu_features_agree() {
        let mut builder = crate::hunt::IocIndexBuilder::new();
        let iocs = [
            "evil.example.com",
            "10.0.0.7",
            "2001:db8::1",
            "d41d8cd98f00b204e9800998ecf8427e",
            "http://bad.example.org/x",
        ];
        for (source, ioc) in iocs.into_iter().enumerate() {
            builder
                .add(None, ioc, crate::hunt::Window::default(), source as u32)
                .expect("a valid IoC");
        }
        let index = builder.build();
        let header = "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n\
            #unset_field\t-\n#fields\tts\thost\taddrs\turi\thash\n\
            #types\ttime\tstring\tvector[addr]\tstring\tstring\n";
        let mut block = header.to_owned();
        for line in 0..200 {
            let host = if line % 7 == 0 {
                "evil.example.com"
            } else {
                "a.b.example.net"
            };
            let addrs = match line % 5 {
                0 => "10.0.0.7,2001:db8::1",
                1 => "(empty)",
                2 => "-",
                _ => "10.0.0.8",
            };
            let uri = if line % 11 == 0 {
                "http://bad.example.org/x"
            } else {
                "/index.html"
            };
            let hash = if line % 13 == 0 {
                "d41d8cd98f00b204e9800998ecf8427e"
            } else {
                "0.5"
            };
            block.push_str(&format!("{line}.25\t{host}\t{addrs}\t{uri}\t{hash}\n"));
            if line % 50 == 49 {
                block.push_str("not\tenough\n\n");
            }
        }
        let scan = |with_features: bool| {
            let mut parser = LineParser::new(LogFormat::ZeekTsv, &LogOptions::default());
            parser.report_only_possible_iocs();
            parser.defer_zeek_ts();
            if !with_features {
                parser.without_cpu_features();
            }
            let job = Job {
                number: 0,
                block: block.clone().into_bytes(),
                parser,
            };
            let (result, _) = scan_block(&index, job, &mut Scratch::default());
            let hits: Vec<_> = result
                .hits
                .iter()
                .map(|hit| {
                    (
                        hit.line_no,
                        hit.ts,
                        hit.field.clone(),
                        hit.value.clone(),
                        hit.ioc,
                    )
                })
                .collect();
            (result.lines, result.malformed_lines, hits)
        };
        let baseline = scan(false);
        assert_eq!(baseline.0, 214);
        assert_eq!(baseline.1, 4);
        assert!(baseline.2.len() > 60, "{} hits", baseline.2.len());
        assert_eq!(scan(true), baseline);
    }

    #[test]
    fn chunk_line_ends_are_memchr_line_ends() {
        let Some(fast) = Fast::detect() else {
            return;
        };
        for length in 0..300usize {
            for period in [1, 2, 5, 63, 64, 65, 130, 400] {
                let block: Vec<u8> = (0..length)
                    .map(|index| {
                        if index % period == period - 1 {
                            b'\n'
                        } else {
                            b'a'
                        }
                    })
                    .collect();
                let expected: Vec<usize> = memchr::memchr_iter(b'\n', &block).collect();
                let found: Vec<usize> = ChunkLineEnds::new(fast, &block).collect();
                assert_eq!(found, expected, "{length} {period}");
            }
        }
    }

    #[test]
    fn examples_are_cut_to_200_characters() {
        let long = "é".repeat(300);
        assert_eq!(example(long.as_bytes()).chars().count(), 200);
        assert_eq!(example(b"ab\xff\r"), "ab\u{fffd}");
    }
}
