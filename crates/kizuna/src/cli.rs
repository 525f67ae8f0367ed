//! The command line: `kizuna serve`, `kizuna init`, `kizuna user`, `kizuna config example`.

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
