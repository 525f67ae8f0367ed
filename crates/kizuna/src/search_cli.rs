//! `kizuna search --federated`: one attribute query asked of every sync server and of this
//! instance, straight from the database's server list, or through a running Kizuna's
//! `/kizuna/federated_search`. Exit status: 0 results, 1 none, 2 error; failed instances are
//! named on standard error either way.

use crate::cli::DatabaseArgs;
use crate::config::FileConfig;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use kizuna_model::access::Viewer;
use kizuna_server::Warninglists;
use kizuna_server::federated::{self, FederatedAnswer, FederatedQuery, Federation};
use kizuna_store::{Store, StoreError};
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Search every sync server and this instance at once (the only kind of search so far).
    #[arg(long)]
    pub federated: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Attribute values (repeatable; `%` wildcards).
    #[arg(long, value_name = "VALUE")]
    pub value: Vec<String>,
    /// Attribute types (repeatable).
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Tags on the attribute or its event (repeatable; `!tag` excludes).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Events dated from this day (a date, an epoch or `30d`).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// Events dated up to this day.
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Events published within this period (`7d`, `12h`).
    #[arg(long, value_name = "PERIOD")]
    pub last: Option<String>,
    /// At most this many results from each instance and in all [default: 1000].
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Only these sync servers, by id (repeatable) [default: all].
    #[arg(long = "server-id", value_name = "ID")]
    pub server_ids: Vec<i64>,
    /// Leave this instance's own data out.
    #[arg(long)]
    pub no_local: bool,
    /// Seconds any instance is waited for (a server's own timeout may be shorter)
    /// [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    #[arg(long, value_enum, default_value_t = OutputArg::Table)]
    pub output: OutputArg,
    /// Search as this user (e-mail or id), seeing what they may see [default: as a site
    /// admin]. Only with the database.
    #[arg(long = "as", value_name = "EMAIL_OR_ID", conflicts_with = "server")]
    pub as_user: Option<String>,
    /// Ask this running Kizuna instead of reading the database (with --key).
    #[arg(long, value_name = "URL", requires = "key")]
    pub server: Option<String>,
    /// API key for --server.
    #[arg(
        long,
        env = "KIZUNA_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputArg {
    Json,
    Table,
}

pub async fn run(args: SearchArgs) -> Result<ExitCode> {
    if !args.federated {
        bail!("only federated search is available: add --federated");
    }
    let query = request_body(&args);
    let answer = match &args.server {
        Some(url) => ask_server(url, args.key.as_deref().unwrap_or_default(), &query).await?,
        None => search_database(&args, &query).await?,
    };
    print_answer(&answer, args.output)?;
    for failed in answer.instances.iter().filter(|instance| !instance.ok) {
        eprintln!(
            "kizuna: warning: partial results: {} ({}) failed: {}",
            failed.instance.name,
            failed.instance.url,
            failed.error.as_deref().unwrap_or("unknown error")
        );
    }
    Ok(if answer.results.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The query as the endpoint takes it.
fn request_body(args: &SearchArgs) -> Value {
    let mut body = json!({});
    for (name, list) in [
        ("value", &args.value),
        ("type", &args.types),
        ("tags", &args.tags),
    ] {
        if !list.is_empty() {
            body[name] = json!(list);
        }
    }
    for (name, bound) in [("from", &args.from), ("to", &args.to), ("last", &args.last)] {
        if let Some(bound) = bound {
            body[name] = json!(bound);
        }
    }
    if let Some(limit) = args.limit {
        body["limit"] = json!(limit);
    }
    if !args.server_ids.is_empty() {
        body["servers"] = json!(args.server_ids);
    }
    if args.no_local {
        body["local"] = json!(false);
    }
    if let Some(timeout) = args.timeout {
        body["timeout"] = json!(timeout);
    }
    body
}

async fn search_database(args: &SearchArgs, body: &Value) -> Result<FederatedAnswer> {
    let now = kizuna_server::now();
    let query = FederatedQuery::from_json(body, now).map_err(|problem| anyhow::anyhow!(problem))?;
    let file = FileConfig::load(args.database.config.as_deref())?;
    let store = crate::user_cli::open(&args.database).await?;
    let outcome = async {
        let viewer = viewer_of(&store, args.as_user.as_deref()).await?;
        let federation = Federation {
            store: store.clone(),
            warninglists: Arc::new(Warninglists::new(kizuna_matcher::WarninglistSet::defaults())),
            local_url: file.base_url.clone().unwrap_or_default(),
        };
        federated::search(&federation, &viewer, &query, now)
            .await
            .map_err(|error| anyhow::anyhow!("{error}"))
    }
    .await;
    store.close().await;
    outcome
}

/// The view of `--as` (a user's e-mail or id), or a site admin's.
async fn viewer_of(store: &Store, wanted: Option<&str>) -> Result<Viewer> {
    let Some(wanted) = wanted else {
        return Ok(Viewer::SiteAdmin);
    };
    let by_id = match wanted.parse::<i64>() {
        Ok(id) => match store.user(id).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        },
        Err(_) => None,
    };
    let user = match by_id {
        Some(user) => user,
        None => store
            .user_by_email(wanted)
            .await?
            .with_context(|| format!("--as: no user {wanted:?} (give an e-mail or an id)"))?,
    };
    let role = store.role(user.role_id).await?;
    if role.permissions.perm_site_admin {
        return Ok(Viewer::SiteAdmin);
    }
    Ok(Viewer::organisation(
        user.org_id,
        store.authorised_sharing_groups(user.org_id).await?,
    ))
}

/// POSTs the query to a running instance's federated search.
async fn ask_server(url: &str, key: &str, body: &Value) -> Result<FederatedAnswer> {
    let client = kizuna_server::http::client().map_err(|error| anyhow::anyhow!(error))?;
    let endpoint = format!("{}/kizuna/federated_search", url.trim_end_matches('/'));
    // The server waits for its remotes; give it a little longer than their limit.
    let wait = body
        .get("timeout")
        .and_then(Value::as_f64)
        .map(Duration::from_secs_f64)
        .unwrap_or(federated::DEFAULT_TIMEOUT)
        + Duration::from_secs(30);
    let response = client
        .post(&endpoint)
        .header("Authorization", key)
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .timeout(wait)
        .body(body.to_string())
        .send()
        .await
        .with_context(|| format!("cannot reach {endpoint}"))?;
    let status = response.status();
    let bytes = kizuna_server::http::read_limited(response, 1024 * 1024 * 1024)
        .await
        .map_err(|error| anyhow::anyhow!("cannot read the answer of {endpoint}: {error}"))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|json| {
                json.get("message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
        bail!("{endpoint} answered {status}: {message}");
    }
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{endpoint} did not answer a federated search result"))
}

fn print_answer(answer: &FederatedAnswer, output: OutputArg) -> Result<()> {
    match output {
        OutputArg::Json => {
            let text = serde_json::to_string_pretty(answer).context("cannot render JSON")?;
            println!("{text}");
        }
        OutputArg::Table => print_table(answer),
    }
    Ok(())
}

/// Widest a table cell may grow before it is cut with `…`.
const CELL_WIDTH: usize = 60;

fn print_table(answer: &FederatedAnswer) {
    let header = ["VALUE", "TYPE", "EVENT", "ORG", "INSTANCES"].map(str::to_string);
    let rows: Vec<[String; 5]> = answer
        .results
        .iter()
        .map(|hit| {
            [
                hit.attribute.value.clone(),
                hit.attribute.kind.clone(),
                hit.event.info.clone(),
                hit.event.orgc.name.clone(),
                hit.instances
                    .iter()
                    .map(|provenance| provenance.instance.name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ]
            .map(|cell| cut(&cell))
        })
        .collect();
    let mut widths = header.clone().map(|cell| cell.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

fn cut(cell: &str) -> String {
    let flat = cell.replace(['\n', '\r', '\t'], " ");
    if flat.chars().count() <= CELL_WIDTH {
        return flat;
    }
    let mut short: String = flat.chars().take(CELL_WIDTH - 1).collect();
    short.push('…');
    short
}
