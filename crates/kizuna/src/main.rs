//! `kizuna`: the server and CLI in one binary.

mod cli;
mod config;
mod export_cli;
mod feed_cli;
mod hunt_cli;
mod hunt_iocs;
mod hunt_sightings;
mod import_cli;
mod search_cli;
mod sync_cli;
mod taxii_cli;
mod taxii_collection_cli;
mod taxii_pull_cli;
mod user_cli;

use anyhow::{Context, Result, bail};
use clap::Parser;
use cli::{Cli, Command, ConfigCommand, InitArgs, ServeArgs};
use config::{DEFAULT_LISTEN, DatabaseConfig, FileConfig};
use kizuna_server::feed_fetch::{FeedSettings, spawn_feed_scheduler};
use kizuna_server::{AppState, IpBlock, ServerSettings, ThrottleSettings, bootstrap, now};
use kizuna_store::Store;
use std::process::ExitCode;

/// mimalloc instead of glibc malloc: see ARCHITECTURE.md (allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("kizuna: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("kizuna: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Init(args) => init(args).await,
        Command::User { command } => user_cli::run(command).await,
        Command::Import(args) => return import_cli::run(args).await,
        Command::Hunt(args) => return hunt_cli::run(args).await,
        Command::Export(args) => export_cli::run(args).await,
        Command::Sync(args) => return sync_cli::run(args).await,
        Command::Search(args) => return search_cli::run(args).await,
        Command::Taxii { command } => return taxii_cli::run(command).await,
        Command::Config {
            command: ConfigCommand::Example,
        } => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
    }
    .map(|()| ExitCode::SUCCESS)
}

fn init_logging(file: &FileConfig) {
    let filter = std::env::var("KIZUNA_LOG")
        .ok()
        .or_else(|| file.log.clone())
        .unwrap_or_else(|| "info".to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .try_init();
}

async fn open_store(database: &DatabaseConfig) -> Result<Store> {
    Store::connect(&database.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                kizuna_store::redact_url(&database.database_url)
            )
        })
}

async fn init(args: InitArgs) -> Result<()> {
    let file = FileConfig::load(args.database.config.as_deref())?;
    let database = DatabaseConfig::resolve(&args.database, &file)?;
    if args.org.trim().is_empty() {
        bail!("--org must not be empty");
    }
    if !args.email.contains('@') {
        bail!("--email must be an e-mail address, got {:?}", args.email);
    }
    let store = open_store(&database).await?;
    if store.count_users().await? > 0 {
        bail!(
            "the database {} already has users; `kizuna init` only initialises an empty database",
            kizuna_store::redact_url(&database.database_url)
        );
    }
    let key = bootstrap::create_first_admin(&store, args.org.trim(), args.email.trim(), now())
        .await
        .context("cannot create the first organisation and user")?;
    store.close().await;
    println!("{key}");
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    let file = FileConfig::load(args.database.config.as_deref())?;
    init_logging(&file);
    let database = DatabaseConfig::resolve(&args.database, &file)?;
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let address: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen must be ADDRESS:PORT, got {listen:?}"))?;
    let base_url = args
        .base_url
        .clone()
        .or_else(|| file.base_url.clone())
        .unwrap_or_else(|| format!("http://{address}"));
    let store = open_store(&database).await?;
    if store.count_users().await? == 0 {
        let key = bootstrap::create_first_admin(&store, "ORGNAME", "admin@admin.test", now())
            .await
            .context("cannot create the first organisation and user")?;
        println!(
            "Kizuna: new database, created organisation ORGNAME and site admin admin@admin.test."
        );
        println!("API key (shown once, keep it safe): {key}");
        println!(
            "Try: curl -H 'Authorization: {key}' -H 'Accept: application/json' {base_url}/servers/getVersion"
        );
    }
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (is the port already in use?)"))?;
    tracing::info!(
        "Kizuna listening on http://{address} (database {})",
        kizuna_store::redact_url(&database.database_url)
    );
    let settings = ServerSettings {
        base_url,
        unpublished_private: args
            .unpublished_private
            .or(file.unpublished_private)
            .unwrap_or(false),
        max_body_bytes: max_body_bytes(&args, &file)?,
        throttle: throttle_settings(&args, &file),
        trusted_proxies: trusted_proxies(&args, &file)?,
    };
    let mut state = AppState::new(store.clone(), settings);
    if let Some(dir) = args
        .warninglists_dir
        .clone()
        .or_else(|| file.warninglists_dir.clone())
    {
        state = state
            .with_warninglists_dir(&dir)
            .with_context(|| format!("cannot load the warninglists in {}", dir.display()))?;
    }
    let disable_local_feeds = args
        .disable_local_feeds
        .or(file.disable_local_feeds)
        .unwrap_or(false);
    let state = state.with_feed_settings(FeedSettings {
        allow_local: !disable_local_feeds,
        ..FeedSettings::default()
    });
    // The scheduler stops when the server has finished its open requests.
    let (stop_feeds, feeds_stopping) = tokio::sync::watch::channel(());
    let scheduler = spawn_feed_scheduler(state.clone(), async move {
        let mut stopping = feeds_stopping;
        let _ = stopping.changed().await;
    });
    let sync_interval = args.sync_interval.or(file.sync_interval).unwrap_or(60);
    let sync_scheduler = kizuna_server::sync::spawn_sync_scheduler(
        state.clone(),
        std::time::Duration::from_secs(sync_interval.saturating_mul(60)),
        {
            let mut stopping = stop_feeds.subscribe();
            async move {
                let _ = stopping.changed().await;
            }
        },
    );
    let served = kizuna_server::serve(listener, state, shutdown_signal()).await;
    drop(stop_feeds);
    let _ = scheduler.await;
    let _ = sync_scheduler.await;
    served.context("the server stopped with an error")?;
    store.close().await;
    Ok(())
}

fn max_body_bytes(args: &ServeArgs, file: &FileConfig) -> Result<usize> {
    let limit = args
        .max_body_bytes
        .or(file.max_body_bytes)
        .unwrap_or(kizuna_server::MAX_BODY_BYTES);
    if limit == 0 {
        bail!("--max-body-bytes must be at least 1");
    }
    Ok(limit)
}

fn throttle_settings(args: &ServeArgs, file: &FileConfig) -> ThrottleSettings {
    let defaults = ThrottleSettings::default();
    ThrottleSettings {
        failures_per_address: args
            .auth_failures_per_address
            .or(file.auth_failures_per_address)
            .unwrap_or(defaults.failures_per_address),
        failures_per_key: args
            .auth_failures_per_key
            .or(file.auth_failures_per_key)
            .unwrap_or(defaults.failures_per_key),
        window: args
            .auth_failure_window
            .or(file.auth_failure_window)
            .map(std::time::Duration::from_secs)
            .unwrap_or(defaults.window),
        ..defaults
    }
}

fn trusted_proxies(args: &ServeArgs, file: &FileConfig) -> Result<Vec<IpBlock>> {
    let listed = args
        .trusted_proxies
        .clone()
        .or_else(|| file.trusted_proxies.clone())
        .unwrap_or_default();
    kizuna_server::client::parse_blocks(listed.iter().map(String::as_str))
        .map_err(|problem| anyhow::anyhow!("--trusted-proxies: {problem}"))
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
