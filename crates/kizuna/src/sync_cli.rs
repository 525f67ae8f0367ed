//! `kizuna sync [pull|push|list] [--server ID_OR_NAME] [--technique T]`: one run of MISP's
//! sync against the servers configured with /servers/add, without a running server.
//! Without a direction, every server pulls (if pull is enabled) then pushes (if push is).

use crate::cli::DatabaseArgs;
use crate::config::{DatabaseConfig, FileConfig};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kizuna_server::sync::{self, Directions, PullTechnique, PushTechnique, ServerRun};
use kizuna_store::{Server, Store};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only this server (its id or name); it runs even if the direction is not enabled on it.
    #[arg(long, global = true, value_name = "ID_OR_NAME")]
    pub server: Option<String>,
    /// full, incremental (push only: MISP has no incremental pull; a run in both directions
    /// then pulls in full) or update (pull only), or an event id or uuid [default: full for
    /// pull, incremental for push].
    #[arg(long, global = true, value_name = "TECHNIQUE")]
    pub technique: Option<String>,
    /// This instance's public URL, which pushed sharing groups name [default: the
    /// configuration's base_url, else http://<listen>].
    #[arg(long, global = true, value_name = "URL")]
    pub base_url: Option<String>,
    #[command(subcommand)]
    pub command: Option<SyncCommand>,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Pull only.
    Pull,
    /// Push only.
    Push,
    /// List the servers with the outcome of their last pull and push.
    List,
}

pub async fn run(args: SyncArgs) -> Result<ExitCode> {
    let file = FileConfig::load(args.database.config.as_deref())?;
    let database = DatabaseConfig::resolve(&args.database, &file)?;
    let store = Store::connect(&database.database_url)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                kizuna_store::redact_url(&database.database_url)
            )
        })?;
    let result = run_with(&store, &args, &file).await;
    store.close().await;
    result
}

async fn run_with(store: &Store, args: &SyncArgs, file: &FileConfig) -> Result<ExitCode> {
    let mut servers = store.servers().await?;
    if let Some(wanted) = &args.server {
        servers = vec![select(servers, wanted)?];
    }
    if matches!(args.command, Some(SyncCommand::List)) {
        for server in &servers {
            list_line(server);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let directions = match args.command {
        Some(SyncCommand::Pull) => Directions {
            pull: true,
            push: false,
        },
        Some(SyncCommand::Push) => Directions {
            pull: false,
            push: true,
        },
        _ => Directions {
            pull: true,
            push: true,
        },
    };
    let pull_technique = match &args.technique {
        Some(text) if text == "incremental" && directions.pull && !directions.push => {
            bail!(
                "--technique incremental applies to pushes only: MISP has no incremental pull \
                 (a full pull fetches only new and newer events)"
            )
        }
        Some(text) if text == "incremental" => PullTechnique::Full,
        Some(text) => PullTechnique::parse(text).with_context(|| {
            format!("--technique {text:?}: use full, incremental, update or an event id or uuid")
        })?,
        None => PullTechnique::Full,
    };
    let push_technique = match &args.technique {
        Some(text) if text != "update" => PushTechnique::parse(text).with_context(|| {
            format!("--technique {text:?}: use full, incremental or an event id or uuid")
        })?,
        Some(_) if directions.push && !directions.pull => {
            bail!("--technique update applies to pulls only")
        }
        _ => PushTechnique::Incremental,
    };
    if args.server.is_some() {
        // An operator naming one server wants it run in the directions asked for.
        for server in &mut servers {
            server.pull |= directions.pull;
            server.push |= directions.push;
        }
    }
    if servers.is_empty() {
        println!("no sync servers configured (add one with POST /servers/add)");
        return Ok(ExitCode::SUCCESS);
    }
    let base_url = args
        .base_url
        .clone()
        .or_else(|| file.base_url.clone())
        .unwrap_or_else(|| {
            format!(
                "http://{}",
                file.listen
                    .as_deref()
                    .unwrap_or(crate::config::DEFAULT_LISTEN)
            )
        });
    let runs = sync::run_enabled(
        store,
        servers,
        directions,
        &pull_technique,
        &push_technique,
        0,
        &base_url,
    )
    .await;
    let mut failed = false;
    for run in &runs {
        print_run(run);
        failed |= !run.ok();
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn select(servers: Vec<Server>, wanted: &str) -> Result<Server> {
    if let Ok(id) = wanted.parse::<i64>()
        && let Some(server) = servers.iter().find(|server| server.id == id)
    {
        return Ok(server.clone());
    }
    let mut named: Vec<Server> = servers
        .into_iter()
        .filter(|server| server.name.eq_ignore_ascii_case(wanted))
        .collect();
    match named.len() {
        1 => Ok(named.remove(0)),
        0 => bail!("--server {wanted:?}: no server has this id or name"),
        count => bail!("--server {wanted:?}: {count} servers have this name; give the id"),
    }
}

fn print_run(run: &ServerRun) {
    let label = format!("{} (#{})", run.server.name, run.server.id);
    match &run.pull {
        Some(Ok(report)) => {
            let state = if report.ok() { "ok" } else { "incomplete" };
            println!("pull {label}: {state}: {}", report.summary());
        }
        Some(Err(error)) => println!("pull {label}: FAILED: {error}"),
        None => {}
    }
    match &run.push {
        Some(Ok(report)) => {
            let state = if report.ok() { "ok" } else { "incomplete" };
            println!("push {label}: {state}: {}", report.summary());
        }
        Some(Err(error)) => println!("push {label}: FAILED: {error}"),
        None => {}
    }
}

fn list_line(server: &Server) {
    let outcome = |at: i64, ok: bool, result: &str| {
        if at == 0 {
            "never".to_string()
        } else {
            format!("{} at {at}: {result}", if ok { "ok" } else { "FAILED" })
        }
    };
    println!(
        "#{} {} {} pull={} push={} | last pull: {} | last push: {}",
        server.id,
        server.name,
        server.url,
        server.pull,
        server.push,
        outcome(
            server.state.last_pull_at,
            server.state.last_pull_ok,
            &server.state.last_pull_result
        ),
        outcome(
            server.state.last_push_at,
            server.state.last_push_ok,
            &server.state.last_push_result
        ),
    );
}
