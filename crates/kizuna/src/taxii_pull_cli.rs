//! `kizuna taxii pull URL --collection ID`: reads a remote TAXII 2.1 (or 2.0) collection
//! into this instance's database, without a running server, and prints what it did and the
//! `--added-after` to give next time.
//!
//! Exit status: 0 when the collection was read to the end (rejected objects are listed), 2
//! when it could not be read (unreachable, refused, not TAXII, broken paging; what was read
//! before a failure stays imported).

use crate::cli::DatabaseArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use kizuna_model::Distribution;
use kizuna_server::http::{RemoteTls, check_ca_pem, check_client_pem};
use kizuna_server::import::ImportSettings;
use kizuna_server::taxii_client::{
    Credentials, DEFAULT_LIMIT, MAX_LIMIT, PullOptions, PullReport, TaxiiVersion, pull_collection,
};
use kizuna_store::Store;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    // Boxed: `kizuna taxii`'s other command is much smaller.
    #[command(flatten)]
    pub pull: Box<PullSpec>,
}

/// What to read, how, and into what.
#[derive(Debug, Args)]
pub struct PullSpec {
    /// The API root (https://host/taxii2/root/) or the discovery URL (https://host/taxii2/),
    /// whose default API root is read.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The collection: its id, or its alias or title.
    #[arg(long, value_name = "ID")]
    pub collection: String,
    /// User name for HTTP Basic (a Kizuna server: the user's e-mail).
    #[arg(long, value_name = "USER", requires = "password")]
    pub user: Option<String>,
    /// Password for HTTP Basic (a Kizuna server: one of the user's API keys).
    #[arg(
        long,
        env = "KIZUNA_TAXII_PASSWORD",
        value_name = "PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Sent as the whole Authorization header: a MISP API key, or `Bearer <token>`.
    #[arg(
        long,
        env = "KIZUNA_API_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key: Option<String>,
    /// Another request header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Only objects the server added after this timestamp (the cursor a previous pull
    /// printed).
    #[arg(long, value_name = "TIMESTAMP")]
    pub added_after: Option<String>,
    /// Objects asked for per page (1 to 10000).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_LIMIT)]
    pub limit: u32,
    /// Only objects of this STIX type (repeatable; match[type]).
    #[arg(long = "match-type", value_name = "TYPE")]
    pub match_types: Vec<String>,
    /// PEM file of the CA(s) that signed the server's certificate, trusted instead of the
    /// system roots.
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// PEM file holding the client certificate and its private key, for servers that ask
    /// for one.
    #[arg(long, value_name = "PEM_FILE")]
    pub client_cert: Option<std::path::PathBuf>,
    /// With --ca-cert: accept its certificates whatever name they carry; without: accept
    /// any certificate (MISP's self_signed).
    #[arg(long)]
    pub insecure: bool,
    /// Connect directly even when HTTPS_PROXY / HTTP_PROXY name a proxy.
    #[arg(long)]
    pub no_proxy: bool,
    /// 2.1 or 2.0 [default: 2.1, switching to 2.0 when the server answers in 2.0].
    #[arg(long, value_name = "VERSION")]
    pub taxii_version: Option<String>,
    /// Organisation owning the imported events, by name or id [default: the host
    /// organisation].
    #[arg(long, value_name = "NAME_OR_ID")]
    pub org: Option<String>,
    /// Distribution of the imported events (0 your organisation, 1 this community, 2
    /// connected communities, 3 all communities).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value_t = 0,
        value_parser = clap::value_parser!(u8).range(0..=3)
    )]
    pub distribution: u8,
    /// Publish the imported events.
    #[arg(long)]
    pub publish: bool,
    /// Tag added to every imported event (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
}

pub async fn run(args: PullArgs) -> Result<ExitCode> {
    let options = pull_options(&args.pull)?;
    let store = crate::user_cli::open(&args.database).await?;
    let outcome = pull(&store, &args.pull, &options).await;
    store.close().await;
    let report = match outcome? {
        Ok(report) => report,
        Err(error) => {
            eprintln!("kizuna: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    print_report(&report);
    Ok(match &report.error {
        None => ExitCode::SUCCESS,
        Some(error) => {
            eprintln!("kizuna: the pull stopped early: {error}");
            ExitCode::from(2)
        }
    })
}

fn pull_options(args: &PullSpec) -> Result<PullOptions> {
    let mut options = PullOptions::new(args.url.trim(), args.collection.trim());
    options.version = match &args.taxii_version {
        None => None,
        Some(text) => Some(
            TaxiiVersion::parse(text)
                .with_context(|| format!("--taxii-version {text:?}: use 2.1 or 2.0"))?,
        ),
    };
    options.credentials = match (&args.user, &args.password, &args.key) {
        (Some(user), Some(password), _) => Credentials::Basic {
            user: user.clone(),
            password: password.clone(),
        },
        (None, Some(_), None) => bail!("--password needs --user"),
        (_, _, Some(key)) => Credentials::Authorization(key.clone()),
        _ => Credentials::None,
    };
    for line in &args.headers {
        let Some((name, value)) = line.split_once(':') else {
            bail!("--header {line:?}: write it as `Name: value`");
        };
        options
            .headers
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    if !(1..=MAX_LIMIT).contains(&args.limit) {
        bail!("--limit {}: use 1 to {MAX_LIMIT}", args.limit);
    }
    options.limit = args.limit;
    options.match_types = args.match_types.clone();
    options.added_after = args.added_after.clone();
    options.tls = tls_settings(args)?;
    Ok(options)
}

/// The pull's report, or (inner error) why it could not start; the outer error is about
/// this instance's database.
async fn pull(
    store: &Store,
    args: &PullSpec,
    options: &PullOptions,
) -> Result<Result<PullReport, kizuna_server::taxii_client::TaxiiError>> {
    let (org_id, user_id) = crate::import_cli::owner(store, args.org.as_deref()).await?;
    let mut settings = ImportSettings::owned_by(org_id, user_id);
    let distribution = Distribution::from_i64(i64::from(args.distribution))
        .context("--distribution must be 0 to 3")?;
    settings.distribution = Some((distribution, 0));
    settings.publish = Some(args.publish);
    settings.tags = args.tags.clone();
    Ok(pull_collection(store, options, &settings, None, kizuna_server::now()).await)
}

fn print_report(report: &PullReport) {
    let import = &report.import;
    println!(
        "collection: {} (TAXII {})",
        report.collection,
        report.collection.version.as_str()
    );
    println!("pages: {}", report.pages);
    println!("objects: {}", report.objects);
    println!(
        "events: {} added, {} updated, {} unchanged",
        import.events_added, import.events_updated, import.events_unchanged
    );
    println!(
        "attributes added: {}, objects added: {}",
        import.attributes_added, import.objects_added
    );
    println!("rejected: {}", report.rejected_total);
    for rejection in import.rejected.iter().take(10) {
        println!("  {rejection}");
    }
    if report.rejected_total > 10 {
        println!("  … and {} more", report.rejected_total - 10);
    }
    if !report.server_dates && report.pages > 0 {
        println!(
            "cursor: none (the server sends no X-TAXII-Date-Added-Last; every pull reads the whole collection)"
        );
    } else {
        match &report.cursor {
            Some(cursor) => println!("cursor: {cursor} (next time: --added-after {cursor})"),
            None => println!("cursor: none (the collection was empty)"),
        }
    }
}

fn tls_settings(args: &PullSpec) -> Result<RemoteTls> {
    let read = |flag: &str, path: &Option<std::path::PathBuf>| -> Result<String> {
        match path {
            None => Ok(String::new()),
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("{flag} {}: cannot read it", path.display())),
        }
    };
    let tls = RemoteTls {
        self_signed: args.insecure,
        ca_pem: read("--ca-cert", &args.ca_cert)?,
        client_pem: read("--client-cert", &args.client_cert)?,
        skip_proxy: args.no_proxy,
    };
    if !tls.ca_pem.is_empty() {
        check_ca_pem(&tls.ca_pem).map_err(|problem| anyhow::anyhow!("--ca-cert: {problem}"))?;
    }
    if !tls.client_pem.is_empty() {
        check_client_pem(&tls.client_pem)
            .map_err(|problem| anyhow::anyhow!("--client-cert: {problem}"))?;
    }
    Ok(tls)
}
