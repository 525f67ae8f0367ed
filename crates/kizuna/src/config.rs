//! Configuration: CLI flags and `KIZUNA_*` environment variables (merged by clap), then an
//! optional TOML file, then defaults — in that order of precedence.

use crate::cli::DatabaseArgs;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATA_DIR: &str = "./kizuna-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The keys of the TOML file; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub warninglists_dir: Option<PathBuf>,
    pub unpublished_private: Option<bool>,
    pub log: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub auth_failures_per_address: Option<u32>,
    pub auth_failures_per_key: Option<u32>,
    pub auth_failure_window: Option<u64>,
    pub trusted_proxies: Option<Vec<String>>,
    pub disable_local_feeds: Option<bool>,
    pub sync_interval: Option<u64>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}

/// Where the database is, after merging flags, environment, file and defaults.
#[derive(Debug)]
pub struct DatabaseConfig {
    pub database_url: String,
}

impl DatabaseConfig {
    pub fn resolve(args: &DatabaseArgs, file: &FileConfig) -> Result<DatabaseConfig> {
        let data_dir = args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = match args
            .database_url
            .clone()
            .or_else(|| file.database_url.clone())
        {
            Some(url) => {
                if !(url.starts_with("sqlite:")
                    || url.starts_with("postgres:")
                    || url.starts_with("postgresql:"))
                {
                    bail!(
                        "unsupported database URL {}: use postgres://USER@HOST:PORT/DB or sqlite://PATH",
                        kizuna_store::redact_url(&url)
                    );
                }
                url
            }
            None => {
                std::fs::create_dir_all(&data_dir).with_context(|| {
                    format!("cannot create the data directory {}", data_dir.display())
                })?;
                kizuna_store::Store::sqlite_url_for_dir(&data_dir)
            }
        };
        Ok(DatabaseConfig { database_url })
    }
}

/// `kizuna config example`: every key, commented, with its default.
pub const EXAMPLE: &str = r#"# Kizuna configuration (TOML). Every key is optional.
# Precedence: command-line flag > environment variable > this file > default.
# Use it with `kizuna serve --config kizuna.toml` (or KIZUNA_CONFIG=kizuna.toml).

# Directory for the embedded SQLite database (kizuna.db) and other data.
# Flag --data-dir, environment KIZUNA_DATA_DIR.
data_dir = "./kizuna-data"

# Database URL. Leave unset for SQLite in data_dir. For PostgreSQL:
#   database_url = "postgres://kizuna:PASSWORD@127.0.0.1:5432/kizuna"
# Flag --database-url, environment KIZUNA_DATABASE_URL.
# database_url = "sqlite://./kizuna-data/kizuna.db"

# Address and port the server listens on.
# Flag --listen, environment KIZUNA_LISTEN.
listen = "127.0.0.1:8080"

# Public URL of this instance as users and sync peers reach it (MISP.baseurl).
# Default: http://<listen>. Flag --base-url, environment KIZUNA_BASE_URL.
# base_url = "https://misp.example.org"

# A directory of extra warninglists in MISP's layout (<dir>/<name>/list.json, or a
# misp-warninglists checkout with them under lists/). A list named like a built-in one
# (e.g. rfc1918) replaces it. Default: only the built-in lists.
# Flag --warninglists-dir, environment KIZUNA_WARNINGLISTS_DIR.
# warninglists_dir = "/etc/kizuna/warninglists"

# Unpublished events are seen by their owner organisation only (and site admins), whatever
# their distribution: MISP's MISP.unpublishedprivate. Default false, as in MISP.
# Flag --unpublished-private true|false, environment KIZUNA_UNPUBLISHED_PRIVATE.
unpublished_private = false

# Log filter (tracing syntax), e.g. "info" or "kizuna_server=debug,info".
# Environment KIZUNA_LOG.
log = "info"

# Largest request body accepted, in bytes, counted after decompression (so a small gzip
# bomb stops here too). Larger bodies get 413. Default 268435456 (256 MiB).
# Flag --max-body-bytes, environment KIZUNA_MAX_BODY_BYTES.
max_body_bytes = 268435456

# Failed-authentication throttling: after this many failures within the window, further
# attempts from the same client address (an IPv6 /64 counts as one) or with the same API
# key get 429 with Retry-After until the window closes. 0 turns a limit off.
# Flags --auth-failures-per-address, --auth-failures-per-key, --auth-failure-window;
# environment KIZUNA_AUTH_FAILURES_PER_ADDRESS, KIZUNA_AUTH_FAILURES_PER_KEY,
# KIZUNA_AUTH_FAILURE_WINDOW.
auth_failures_per_address = 10
auth_failures_per_key = 5
auth_failure_window = 300

# Reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For header names the client
# address (for throttling, API keys limited to addresses, and the audit log). Default none:
# the connecting peer is the client. Only list proxies you run.
# Flag --trusted-proxies 10.0.0.1,10.0.1.0/24, environment KIZUNA_TRUSTED_PROXIES.
# trusted_proxies = ["127.0.0.1", "::1"]

# Forbid feeds that read files on this machine (feeds with input_source "local"; only site
# admins configure feeds). MISP's Security.disable_local_feed_access.
# Flag --disable-local-feeds true, environment KIZUNA_DISABLE_LOCAL_FEEDS.
disable_local_feeds = false

# Minutes between scheduled pulls and pushes of the sync servers (/servers/add) that have
# pull or push enabled; 0 = never.
# Flag --sync-interval 60, environment KIZUNA_SYNC_INTERVAL.
sync_interval = 60
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_parses_and_names_every_key() {
        let parsed: FileConfig = toml::from_str(EXAMPLE).unwrap();
        assert_eq!(parsed.listen.as_deref(), Some(DEFAULT_LISTEN));
        for key in [
            "data_dir",
            "database_url",
            "listen",
            "base_url",
            "warninglists_dir",
            "unpublished_private",
            "log",
            "max_body_bytes",
            "auth_failures_per_address",
            "auth_failures_per_key",
            "auth_failure_window",
            "trusted_proxies",
            "disable_local_feeds",
            "sync_interval",
        ] {
            assert!(EXAMPLE.contains(&format!("{key} =")), "{key} missing");
        }
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = FileConfig {
            database_url: Some("postgres://from-file/db".into()),
            ..FileConfig::default()
        };
        let args = DatabaseArgs {
            database_url: Some("postgres://from-flag/db".into()),
            ..DatabaseArgs::default()
        };
        let resolved = DatabaseConfig::resolve(&args, &file).unwrap();
        assert_eq!(resolved.database_url, "postgres://from-flag/db");
        let bad = DatabaseArgs {
            database_url: Some("mysql://x".into()),
            ..DatabaseArgs::default()
        };
        assert!(DatabaseConfig::resolve(&bad, &file).is_err());
    }
}
