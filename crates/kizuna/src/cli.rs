//! The command line: `kizuna serve`, `kizuna init`, `kizuna user`, `kizuna import`,
//! `kizuna export`, `kizuna hunt`, `kizuna config example`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "kizuna",
    version,
    about = "Threat-intelligence sharing: a MISP-compatible server in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (MISP REST API).
    Serve(ServeArgs),
    /// Create the first organisation and its site-admin user on an empty database; prints
    /// only the new API key.
    Init(InitArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users and their API keys (add, list, disable, enable, key).
    User {
        #[command(subcommand)]
        command: crate::user_cli::UserCommand,
    },
    /// Import MISP events, MISP feeds, STIX 2.1 bundles, CSV or free text (files, folders or
    /// URLs); prints what was added and what was rejected, and why.
    Import(crate::import_cli::ImportArgs),
    /// Export for devices and tools (text, edl, suricata, snort, zeek, rpz, stix2, a MISP
    /// feed …): only what is valid now unless --all or --valid-at.
    Export(crate::export_cli::ExportArgs),
    /// Hunt for IoCs in log files (Zeek, Squid, Apache/nginx, syslog, JSON lines, CSV; plain,
    /// .gz or .zst): whole field values, CIDRs, subdomains, validity windows. Exit status
    /// like grep: 0 hits, 1 none, 2 error.
    Hunt(crate::hunt_cli::HuntArgs),
    /// Pull from and push to the sync servers once (MISP's sync protocol); prints what each
    /// server did. Exit status 1 if any server failed.
    Sync(crate::sync_cli::SyncArgs),
    /// Search every sync server and this instance at once (`--federated`): one attribute
    /// query, results merged with the instances holding them. Exit status 0 results, 1 none,
    /// 2 error.
    Search(crate::search_cli::SearchArgs),
    /// TAXII 2.1: create collections on this instance (add-collection) and read remote
    /// collections into it (pull).
    Taxii {
        #[command(subcommand)]
        command: crate::taxii_cli::TaxiiCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented TOML configuration with every key.
    Example,
}

/// Where the data lives; shared by every command that opens the database.
#[derive(Debug, Args, Default, Clone)]
pub struct DatabaseArgs {
    /// Directory for the SQLite database and other data [default: ./kizuna-data].
    #[arg(long, env = "KIZUNA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (postgres://user@host:port/db or sqlite://path); default: SQLite in the
    /// data directory.
    #[arg(
        long,
        env = "KIZUNA_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// TOML configuration file (see `kizuna config example`).
    #[arg(long, env = "KIZUNA_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address and port to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "KIZUNA_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Public URL of this instance, as users and peers reach it [default: http://<listen>].
    #[arg(long, env = "KIZUNA_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,

    /// Directory of extra or replacing warninglists in MISP's layout (<dir>/<name>/list.json).
    #[arg(long, env = "KIZUNA_WARNINGLISTS_DIR", value_name = "DIR")]
    pub warninglists_dir: Option<PathBuf>,

    /// Unpublished events are seen by their owner organisation only, whatever their
    /// distribution (MISP's MISP.unpublishedprivate) [default: false].
    #[arg(long, env = "KIZUNA_UNPUBLISHED_PRIVATE", value_name = "BOOL")]
    pub unpublished_private: Option<bool>,

    /// Largest request body accepted, in bytes, counted after decompression; larger bodies
    /// get 413 [default: 268435456 (256 MiB)].
    #[arg(long, env = "KIZUNA_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Failed authentications allowed from one client address (IPv6: one /64) per window
    /// before further attempts get 429; 0 = no limit [default: 10].
    #[arg(long, env = "KIZUNA_AUTH_FAILURES_PER_ADDRESS", value_name = "COUNT")]
    pub auth_failures_per_address: Option<u32>,

    /// Failed authentications allowed with one API key per window before further attempts
    /// with it get 429; 0 = no limit [default: 5].
    #[arg(long, env = "KIZUNA_AUTH_FAILURES_PER_KEY", value_name = "COUNT")]
    pub auth_failures_per_key: Option<u32>,

    /// Length in seconds of the failed-authentication window [default: 300].
    #[arg(long, env = "KIZUNA_AUTH_FAILURE_WINDOW", value_name = "SECONDS")]
    pub auth_failure_window: Option<u64>,

    /// Reverse proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For
    /// header names the client [default: none; the connecting peer is the client].
    #[arg(
        long,
        env = "KIZUNA_TRUSTED_PROXIES",
        value_name = "CIDRS",
        value_delimiter = ','
    )]
    pub trusted_proxies: Option<Vec<String>>,

    /// Forbid feeds that read files on this machine (MISP's
    /// Security.disable_local_feed_access) [default: false; only site admins configure feeds].
    #[arg(long, env = "KIZUNA_DISABLE_LOCAL_FEEDS", value_name = "BOOL")]
    pub disable_local_feeds: Option<bool>,

    /// Minutes between scheduled pulls and pushes of the sync servers that have pull or
    /// push enabled; 0 = never (use `kizuna sync` or /servers/pull|push) [default: 60].
    #[arg(long, env = "KIZUNA_SYNC_INTERVAL", value_name = "MINUTES")]
    pub sync_interval: Option<u64>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Name of the organisation that runs this instance.
    #[arg(long, value_name = "NAME")]
    pub org: String,
    /// E-mail address of the site administrator.
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
}
