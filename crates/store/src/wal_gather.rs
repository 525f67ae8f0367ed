//! A VFS over SQLite's default one that gathers what a commit writes to the WAL into a few
//! large writes.
//!
//! SQLite writes each WAL frame as two `pwrite`s, a 24-byte header and the page. A TAXII
//! envelope of 1,000 indicators dirties ~1,300 pages (the uuid and value indexes take their
//! keys in random order), so its commit made ~2,600 system calls; the server's system time
//! was about a quarter of its CPU time. Here the frames a connection appends are kept in memory and written
//! out in 64 KiB pieces before anything could need them in the file.
//!
//! When they must be in the file:
//! - before any reader can see them: a commit becomes visible when SQLite writes the
//!   wal-index header in shared memory, and it calls `xShmBarrier` on the database file
//!   between writing the header's two copies (readers trust the header only when both
//!   agree). Every barrier first writes out whatever any connection has gathered;
//! - before a writer lets go of the WAL: releasing an exclusive shared-memory lock writes out
//!   what a rolled-back transaction left gathered, before another writer may reuse its
//!   offsets;
//! - before the writing connection itself reads, syncs, truncates, sizes, closes or sends a
//!   file control to that WAL file;
//! - when a write does not continue the gathered bytes, or they reach [`GATHER_LIMIT`].
//!
//! Only writes inside the WAL file's present length are gathered: a write that makes the file
//! longer goes straight through, so that a full disk is reported by the write that met it,
//! as without this VFS. Gathered bytes overwrite space the file already has, so writing them
//! out fails only on an I/O error (or a full disk on a copy-on-write file system). Bytes that
//! failed to be written stay gathered and are tried again. If that fails inside
//! `xShmBarrier` or an unlock, which cannot return an error, the process stops before the
//! commit is published: the header SQLite was writing stays torn, the next opener rebuilds the
//! wal-index from the frames whose checksums hold, and the database is as it was before that
//! transaction. Crash safety is otherwise unchanged: with `synchronous=NORMAL` SQLite never
//! syncs the WAL at a commit, so until a checkpoint the frames only ever were in the
//! operating system's cache.
#![allow(unsafe_code)]

use libsqlite3_sys as ffi;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The name connections ask for (`SqliteConnectOptions::vfs`).
pub(crate) const VFS_NAME: &str = "kizuna-wal-gather";
const VFS_NAME_C: &CStr = c"kizuna-wal-gather";

/// Bytes gathered for one WAL file before they are written out anyway.
const GATHER_LIMIT: usize = 16 << 20;

/// Size of each piece gathered bytes are kept in (and written out as). The default VFS writes
/// at most 128 KiB - 1 bytes per call (it masks the length with `0x1ffff`) and reports a
/// longer write as a full disk.
const PIECE: usize = 64 << 10;
const _: () = assert!(PIECE < 0x20000);

/// What SQLite allocates for each open file of this VFS: this header, then the default VFS's
/// own file at [`INNER_OFFSET`].
#[repr(C)]
struct GatheringFile {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    wal: bool,
    /// Length of the WAL file when this connection last began gathering or wrote past it:
    /// writes ending within it are gathered. Read and written only under [`GATHERED`]'s lock.
    length: i64,
}

const INNER_OFFSET: usize = std::mem::size_of::<GatheringFile>().next_multiple_of(16);

/// Bytes gathered for one WAL file, from `offset` on.
struct Gathered {
    file: *mut GatheringFile,
    offset: i64,
    pieces: Vec<Vec<u8>>,
    len: usize,
}

// SAFETY: `file` is only dereferenced under `GATHERED`'s lock, and an entry is removed before
// its file is closed, so the pointer never outlives the file.
unsafe impl Send for Gathered {}

static GATHERED: Mutex<Vec<Gathered>> = Mutex::new(Vec::new());

/// Writes this process gathered instead of passing on (the tests check the path is taken).
#[cfg(test)]
static GATHERED_WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn note_gathered() {
    #[cfg(test)]
    GATHERED_WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn gathered() -> MutexGuard<'static, Vec<Gathered>> {
    // A panic while holding the lock leaves entries that are still whole (every change to one
    // is a push of complete bytes), so the data is usable.
    GATHERED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers the VFS with SQLite (once per process); connections then name it.
pub(crate) fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: sqlite3_vfs_find initialises SQLite if needed and returns the default
            // VFS, which lives for the whole process. The VFS built from it is leaked, as
            // SQLite requires a registered VFS to stay valid.
            unsafe {
                let default = ffi::sqlite3_vfs_find(ptr::null());
                if default.is_null() {
                    return Err("SQLite has no default VFS".to_string());
                }
                let base = &*default;
                let vfs = Box::leak(Box::new(ffi::sqlite3_vfs {
                    iVersion: 2,
                    szOsFile: c_int::try_from(INNER_OFFSET).unwrap_or(c_int::MAX) + base.szOsFile,
                    mxPathname: base.mxPathname,
                    pNext: ptr::null_mut(),
                    zName: VFS_NAME_C.as_ptr(),
                    pAppData: default.cast::<c_void>(),
                    xOpen: Some(open),
                    xDelete: Some(delete),
                    xAccess: Some(access),
                    xFullPathname: Some(full_pathname),
                    // The default VFS's loader functions do not look at the VFS they are
                    // given, so they are shared as they are.
                    xDlOpen: base.xDlOpen,
                    xDlError: base.xDlError,
                    xDlSym: base.xDlSym,
                    xDlClose: base.xDlClose,
                    xRandomness: Some(randomness),
                    xSleep: Some(sleep),
                    xCurrentTime: Some(current_time),
                    xGetLastError: Some(get_last_error),
                    xCurrentTimeInt64: Some(current_time_int64),
                    xSetSystemCall: None,
                    xGetSystemCall: None,
                    xNextSystemCall: None,
                }));
                match ffi::sqlite3_vfs_register(vfs, 0) {
                    ffi::SQLITE_OK => Ok(()),
                    code => Err(format!("registering the WAL-gathering VFS failed ({code})")),
                }
            }
        })
        .clone()
}

// ---------------------------------------------------------------------------------------
// The VFS: opening wraps the default VFS's file; everything else is the default VFS's.
// ---------------------------------------------------------------------------------------

/// SAFETY (all VFS functions): called by SQLite with the VFS registered by `register`, whose
/// `pAppData` is the default VFS.
unsafe fn base_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    unsafe { (*vfs).pAppData.cast() }
}

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        let shim = file.cast::<GatheringFile>();
        let inner = file
            .cast::<u8>()
            .add(INNER_OFFSET)
            .cast::<ffi::sqlite3_file>();
        (*shim).base.pMethods = ptr::null();
        (*inner).pMethods = ptr::null();
        let Some(base_open) = (*base).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        let code = base_open(base, name, inner, flags, out_flags);
        if code != ffi::SQLITE_OK {
            // SQLite only closes files whose methods are set; ours are not, so a half-open
            // inner file is closed here.
            if let Some(close) = (*inner)
                .pMethods
                .as_ref()
                .and_then(|methods| methods.xClose)
            {
                close(inner);
            }
            return code;
        }
        let wal = flags & ffi::SQLITE_OPEN_WAL != 0;
        let mut length = 0;
        if wal {
            let size = (*(*inner).pMethods).xFileSize;
            if let Some(size) = size
                && size(inner, &mut length) != ffi::SQLITE_OK
            {
                length = 0;
            }
        }
        ptr::write(
            shim,
            GatheringFile {
                base: ffi::sqlite3_file { pMethods: &METHODS },
                inner,
                wal,
                length,
            },
        );
        ffi::SQLITE_OK
    }
}

unsafe extern "C" fn delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync: c_int) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base)
            .xDelete
            .map_or(ffi::SQLITE_IOERR_DELETE, |delete| delete(base, name, sync))
    }
}

unsafe extern "C" fn access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base).xAccess.map_or(ffi::SQLITE_IOERR_ACCESS, |access| {
            access(base, name, flags, out)
        })
    }
}

unsafe extern "C" fn full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    size: c_int,
    out: *mut c_char,
) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base)
            .xFullPathname
            .map_or(ffi::SQLITE_CANTOPEN, |full| full(base, name, size, out))
    }
}

unsafe extern "C" fn randomness(
    vfs: *mut ffi::sqlite3_vfs,
    size: c_int,
    out: *mut c_char,
) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base)
            .xRandomness
            .map_or(0, |random| random(base, size, out))
    }
}

unsafe extern "C" fn sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base).xSleep.map_or(0, |sleep| sleep(base, micros))
    }
}

unsafe extern "C" fn current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base)
            .xCurrentTime
            .map_or(ffi::SQLITE_ERROR, |now| now(base, out))
    }
}

unsafe extern "C" fn get_last_error(
    vfs: *mut ffi::sqlite3_vfs,
    size: c_int,
    out: *mut c_char,
) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        (*base)
            .xGetLastError
            .map_or(0, |last| last(base, size, out))
    }
}

unsafe extern "C" fn current_time_int64(
    vfs: *mut ffi::sqlite3_vfs,
    out: *mut ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let base = base_vfs(vfs);
        match (*base).xCurrentTimeInt64 {
            Some(now) => now(base, out),
            None => ffi::SQLITE_ERROR,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

/// SAFETY (all file functions): `file` is a file this VFS opened and SQLite has not closed.
unsafe fn parts(file: *mut ffi::sqlite3_file) -> (*mut GatheringFile, *mut ffi::sqlite3_file) {
    let shim = file.cast::<GatheringFile>();
    (shim, unsafe { (*shim).inner })
}

unsafe fn inner_methods(inner: *mut ffi::sqlite3_file) -> &'static ffi::sqlite3_io_methods {
    unsafe { &*(*inner).pMethods }
}

/// Writes out what is gathered for `shim`, if anything.
unsafe fn flush_file(shim: *mut GatheringFile) -> c_int {
    let mut all = gathered();
    match all.iter().position(|entry| entry.file == shim) {
        Some(index) => {
            let entry = all.swap_remove(index);
            unsafe { write_out_or_keep(&mut all, entry) }
        }
        None => ffi::SQLITE_OK,
    }
}

/// Writes out everything gathered, for every file; the first error, after trying them all.
fn flush_all() -> c_int {
    let mut all = gathered();
    let mut result = ffi::SQLITE_OK;
    for entry in std::mem::take(&mut *all) {
        // SAFETY: entries are removed before their file closes (see `Gathered`).
        let code = unsafe { write_out_or_keep(&mut all, entry) };
        if result == ffi::SQLITE_OK {
            result = code;
        }
    }
    result
}

/// Writes out `entry`; if that fails, it stays gathered, so that the bytes are tried again
/// before anyone can read them (and the commit's barrier stops the process rather than
/// publish frames that are not in the file). Rewriting the pieces that did get written
/// writes the same bytes again.
unsafe fn write_out_or_keep(all: &mut Vec<Gathered>, entry: Gathered) -> c_int {
    let code = unsafe { write_out(&entry) };
    if code != ffi::SQLITE_OK {
        all.push(entry);
    }
    code
}

/// Called with `GATHERED` locked.
unsafe fn write_out(entry: &Gathered) -> c_int {
    unsafe {
        let inner = (*entry.file).inner;
        let Some(write) = inner_methods(inner).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let mut offset = entry.offset;
        for piece in &entry.pieces {
            let len = c_int::try_from(piece.len()).unwrap_or(c_int::MAX);
            let code = write(inner, piece.as_ptr().cast(), len, offset);
            if code != ffi::SQLITE_OK {
                return code;
            }
            offset += i64::from(len);
        }
        ffi::SQLITE_OK
    }
}

/// Appends `bytes` to `entry`'s pieces.
fn append(entry: &mut Gathered, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let room = entry.pieces.last().map_or(0, |piece| PIECE - piece.len());
        if room == 0 {
            entry.pieces.push(Vec::with_capacity(PIECE));
            continue;
        }
        let take = room.min(bytes.len());
        let piece = entry.pieces.last_mut().expect("a piece with room");
        piece.extend_from_slice(&bytes[..take]);
        entry.len += take;
        bytes = &bytes[take..];
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buffer: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        let Some(inner_write) = inner_methods(inner).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        if !(*shim).wal || amount <= 0 {
            return inner_write(inner, buffer, amount, offset);
        }
        let bytes = std::slice::from_raw_parts(buffer.cast::<u8>(), amount as usize);
        let end = offset + i64::from(amount);
        let mut all = gathered();
        if let Some(index) = all.iter().position(|entry| entry.file == shim) {
            let entry = &mut all[index];
            let continues = offset == entry.offset + entry.len as i64;
            if continues && end <= (*shim).length && entry.len + bytes.len() <= GATHER_LIMIT {
                append(entry, bytes);
                note_gathered();
                return ffi::SQLITE_OK;
            }
            let entry = all.swap_remove(index);
            let code = write_out_or_keep(&mut all, entry);
            if code != ffi::SQLITE_OK {
                return code;
            }
        }
        // The length is read again at the start of each gathering: another process may have
        // truncated the WAL since this connection last wrote (then these bytes would extend
        // the file, which is written straight through).
        if let Some(size) = inner_methods(inner).xFileSize {
            let mut length = 0;
            (*shim).length = if size(inner, &mut length) == ffi::SQLITE_OK {
                length
            } else {
                0
            };
        }
        if end <= (*shim).length {
            let mut entry = Gathered {
                file: shim,
                offset,
                pieces: Vec::new(),
                len: 0,
            };
            append(&mut entry, bytes);
            all.push(entry);
            note_gathered();
            return ffi::SQLITE_OK;
        }
        // The file grows: written now, so that a full disk is this write's error.
        let code = inner_write(inner, buffer, amount, offset);
        if code == ffi::SQLITE_OK {
            (*shim).length = (*shim).length.max(end);
        }
        code
    }
}

/// Writes out the WAL file's gathered bytes before `then` uses the file.
unsafe fn flushed_first(shim: *mut GatheringFile, then: impl FnOnce() -> c_int) -> c_int {
    unsafe {
        if (*shim).wal {
            let code = flush_file(shim);
            if code != ffi::SQLITE_OK {
                return code;
            }
        }
    }
    then()
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        let flushed = if (*shim).wal {
            // A closing connection has no transaction left: what it gathered and could not
            // write belongs to none, and the entry must not outlive the file.
            let code = flush_file(shim);
            gathered().retain(|entry| entry.file != shim);
            code
        } else {
            ffi::SQLITE_OK
        };
        let closed = inner_methods(inner)
            .xClose
            .map_or(ffi::SQLITE_OK, |close| close(inner));
        (*shim).base.pMethods = ptr::null();
        if flushed != ffi::SQLITE_OK {
            flushed
        } else {
            closed
        }
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buffer: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        flushed_first(shim, || {
            inner_methods(inner)
                .xRead
                .map_or(ffi::SQLITE_IOERR_READ, |read| {
                    read(inner, buffer, amount, offset)
                })
        })
    }
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        flushed_first(shim, || {
            let code = inner_methods(inner)
                .xTruncate
                .map_or(ffi::SQLITE_IOERR_TRUNCATE, |truncate| truncate(inner, size));
            if code == ffi::SQLITE_OK && (*shim).wal {
                let _all = gathered();
                (*shim).length = (*shim).length.min(size);
            }
            code
        })
    }
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        flushed_first(shim, || {
            inner_methods(inner)
                .xSync
                .map_or(ffi::SQLITE_IOERR_FSYNC, |sync| sync(inner, flags))
        })
    }
}

unsafe extern "C" fn file_size(
    file: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        flushed_first(shim, || {
            inner_methods(inner)
                .xFileSize
                .map_or(ffi::SQLITE_IOERR_FSTAT, |file_size| file_size(inner, size))
        })
    }
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xLock
            .map_or(ffi::SQLITE_IOERR_LOCK, |lock| lock(inner, level))
    }
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xUnlock
            .map_or(ffi::SQLITE_IOERR_UNLOCK, |unlock| unlock(inner, level))
    }
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xCheckReservedLock
            .map_or(ffi::SQLITE_IOERR_CHECKRESERVEDLOCK, |check| {
                check(inner, out)
            })
    }
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    argument: *mut c_void,
) -> c_int {
    unsafe {
        let (shim, inner) = parts(file);
        flushed_first(shim, || {
            inner_methods(inner)
                .xFileControl
                .map_or(ffi::SQLITE_NOTFOUND, |control| control(inner, op, argument))
        })
    }
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xSectorSize
            .map_or(4096, |size| size(inner))
    }
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xDeviceCharacteristics
            .map_or(0, |characteristics| characteristics(inner))
    }
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xShmMap
            .map_or(ffi::SQLITE_IOERR_SHMMAP, |map| {
                map(inner, region, size, extend, out)
            })
    }
}

unsafe extern "C" fn shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    count: c_int,
    flags: c_int,
) -> c_int {
    // Releasing an exclusive lock (the write lock among them) ends a writer's hold on the
    // WAL: what it gathered and did not commit (a transaction rolled back) is written out
    // now, beyond the last committed frame where no reader looks, rather than later over
    // frames another writer may have put there meanwhile.
    let unlocks_exclusive =
        flags & ffi::SQLITE_SHM_UNLOCK != 0 && flags & ffi::SQLITE_SHM_EXCLUSIVE != 0;
    if unlocks_exclusive {
        flush_all_or_stop();
    }
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xShmLock
            .map_or(ffi::SQLITE_IOERR_SHMLOCK, |lock| {
                lock(inner, offset, count, flags)
            })
    }
}

/// Writes out everything gathered, or stops the process: the callers cannot return an error,
/// and going on would publish (or let another writer overwrite) frames not in the file.
fn flush_all_or_stop() {
    if flush_all() != ffi::SQLITE_OK {
        eprintln!(
            "kizuna: writing gathered WAL frames to the file failed; stopping before a commit \
             that needs them is published (the database stays as it was before it)"
        );
        std::process::abort();
    }
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    flush_all_or_stop();
    unsafe {
        let (_, inner) = parts(file);
        if let Some(barrier) = inner_methods(inner).xShmBarrier {
            barrier(inner);
        }
    }
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        inner_methods(inner)
            .xShmUnmap
            .map_or(ffi::SQLITE_OK, |unmap| unmap(inner, delete))
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        match inner_methods(inner).xFetch {
            Some(fetch) if inner_methods(inner).iVersion >= 3 => fetch(inner, offset, amount, out),
            _ => {
                *out = ptr::null_mut();
                ffi::SQLITE_OK
            }
        }
    }
}

unsafe extern "C" fn unfetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    page: *mut c_void,
) -> c_int {
    unsafe {
        let (_, inner) = parts(file);
        match inner_methods(inner).xUnfetch {
            Some(unfetch) if inner_methods(inner).iVersion >= 3 => unfetch(inner, offset, page),
            _ => ffi::SQLITE_OK,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::{ConnectOptions, Connection, SqliteConnection};
    use std::path::Path;
    use std::sync::atomic::Ordering;

    /// Small checkpoints, so that the WAL restarts from its start (where writes are gathered)
    /// every few commits, and a small page cache, so that large transactions spill frames
    /// before their commit and read them back.
    fn options(path: &Path, vfs: bool) -> SqliteConnectOptions {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .pragma("wal_autocheckpoint", "40")
            .pragma("cache_size", "30");
        if vfs { options.vfs(VFS_NAME) } else { options }
    }

    async fn count(connection: &mut SqliteConnection) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM gathered_rows")
            .fetch_one(connection)
            .await
            .unwrap()
    }

    async fn insert_round(connection: &mut SqliteConnection, round: u64, rows: u64) {
        let mut transaction = connection.begin().await.unwrap();
        for row in 0..rows {
            // Keys spread over the whole index, as uuids do.
            let key = format!(
                "{:016x}",
                (round * 1_000 + row).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            );
            sqlx::query("INSERT INTO gathered_rows (key, body) VALUES (?, randomblob(600))")
                .bind(key)
                .execute(&mut *transaction)
                .await
                .unwrap();
        }
        transaction.commit().await.unwrap();
    }

    #[tokio::test]
    async fn commits_gathered_are_read_by_other_connections_and_after_reopening() {
        register().unwrap();
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("gathered.db");
        let mut writer = options(&path, true).connect().await.unwrap();
        let mut reader = options(&path, true).connect().await.unwrap();
        let mut other_writer = options(&path, true).connect().await.unwrap();
        // A connection of SQLite's own VFS reads the same file beside them.
        let mut plain_reader = options(&path, false).connect().await.unwrap();
        sqlx::query(
            "CREATE TABLE gathered_rows (id INTEGER PRIMARY KEY, key TEXT UNIQUE, body BLOB)",
        )
        .execute(&mut writer)
        .await
        .unwrap();
        let before = GATHERED_WRITES.load(Ordering::Relaxed);
        let mut expected = 0;
        for round in 0..30 {
            insert_round(&mut writer, round, 150).await;
            expected += 150;
            assert_eq!(count(&mut reader).await, expected, "round {round}");
            assert_eq!(count(&mut plain_reader).await, expected, "round {round}");
            if round % 7 == 3 {
                // A large transaction undone: its frames are written (spilled) and dropped,
                // and the next commit writes over them.
                let mut transaction = writer.begin().await.unwrap();
                sqlx::query(
                    "WITH RECURSIVE numbers(value) AS \
                     (SELECT 1 UNION ALL SELECT value + 1 FROM numbers WHERE value < 400) \
                     INSERT INTO gathered_rows (key, body) \
                     SELECT 'undone-' || value, randomblob(600) FROM numbers",
                )
                .execute(&mut *transaction)
                .await
                .unwrap();
                transaction.rollback().await.unwrap();
                // Another writer then writes where the undone frames were.
                insert_round(&mut other_writer, 1_000 + round, 50).await;
                expected += 50;
                assert_eq!(count(&mut reader).await, expected, "round {round}");
            }
        }
        assert!(
            GATHERED_WRITES.load(Ordering::Relaxed) > before,
            "no WAL write was gathered: the test does not exercise the VFS"
        );
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        assert_eq!(check, "ok");
        drop((writer, reader, plain_reader, other_writer));

        let mut reopened = options(&path, false).connect().await.unwrap();
        assert_eq!(count(&mut reopened).await, expected);
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut reopened)
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }
}
