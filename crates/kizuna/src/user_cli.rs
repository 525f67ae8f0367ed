//! `kizuna user …`: accounts from the command line, for the operator of the instance (who
//! acts as a site admin would). `add` and `key` print the new API key and nothing else, so
//! their output can be captured; the key is shown this once and stored only as a digest.

use crate::cli::DatabaseArgs;
use crate::config::{DatabaseConfig, FileConfig};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use kizuna_model::{Organisation, Role, User};
use kizuna_server::{keys, now};
use kizuna_store::{Key, NewAuthKey, Store, StoreError};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user and print their first API key (only the key).
    Add(AddArgs),
    /// List the users: id, e-mail, organisation, role, disabled, usable API keys.
    List(ListArgs),
    /// Disable a user: their API keys stop working until they are enabled again.
    Disable(TargetArgs),
    /// Enable a disabled user.
    Enable(TargetArgs),
    /// Create another API key for a user and print it (only the key).
    Key(KeyArgs),
}

#[derive(Debug, Args)]
pub struct AddArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// E-mail address of the new user (their login name).
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// The user's organisation, by name or id.
    #[arg(long, value_name = "NAME_OR_ID")]
    pub org: String,
    /// The user's role, by id or name [default: the instance's default role].
    #[arg(long, value_name = "ID_OR_NAME")]
    pub role: Option<String>,
    /// Create the organisation (named by --org) if there is none of that name.
    #[arg(long)]
    pub create_org: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The user, by e-mail address or id.
    #[arg(value_name = "EMAIL_OR_ID")]
    pub user: String,
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The user, by e-mail address or id.
    #[arg(value_name = "EMAIL_OR_ID")]
    pub user: String,
    /// A note kept with the key (where it is used, by whom).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// When the key stops working: a date (YYYY-MM-DD, midnight UTC), a date-time, or Unix
    /// seconds [default: never].
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
}

pub async fn run(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add(args) => add(args).await,
        UserCommand::List(args) => list(args).await,
        UserCommand::Disable(args) => set_disabled(args, true).await,
        UserCommand::Enable(args) => set_disabled(args, false).await,
        UserCommand::Key(args) => key(args).await,
    }
}

pub(crate) async fn open(database: &DatabaseArgs) -> Result<Store> {
    let file = FileConfig::load(database.config.as_deref())?;
    let database = DatabaseConfig::resolve(database, &file)?;
    crate::open_store(&database).await
}

fn is_id(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

pub(crate) async fn find_org(store: &Store, wanted: &str) -> Result<Option<Organisation>> {
    if is_id(wanted) {
        match store.org(&Key::Id(wanted.parse()?)).await {
            Ok(org) => return Ok(Some(org)),
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(store.org_by_name(wanted).await?)
}

async fn find_role(store: &Store, wanted: Option<&str>) -> Result<Role> {
    let Some(wanted) = wanted else {
        return store
            .default_role()
            .await?
            .context("no default role is set; name one with --role");
    };
    if is_id(wanted) {
        match store.role(wanted.parse()?).await {
            Ok(role) => return Ok(role),
            Err(StoreError::NotFound) => {}
            Err(other) => return Err(other.into()),
        }
    }
    match store.role_by_name(wanted).await? {
        Some(role) => Ok(role),
        None => {
            let known: Vec<String> = store
                .list_roles()
                .await?
                .iter()
                .map(|role| format!("{} ({})", role.id, role.name))
                .collect();
            bail!(
                "--role: there is no role {wanted:?}; known roles: {}",
                known.join(", ")
            )
        }
    }
}

async fn find_user(store: &Store, wanted: &str) -> Result<User> {
    let found = if is_id(wanted) {
        match store.user(wanted.parse()?).await {
            Ok(user) => Some(user),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other.into()),
        }
    } else {
        store.user_by_email(wanted).await?
    };
    found.with_context(|| format!("there is no user {wanted:?}"))
}

async fn add(args: AddArgs) -> Result<()> {
    let email = args.email.trim();
    if !User::is_valid_email(email) {
        bail!("--email must be an e-mail address, got {:?}", args.email);
    }
    let org_name = args.org.trim();
    if org_name.is_empty() {
        bail!("--org must not be empty");
    }
    let store = open(&args.database).await?;
    if store.user_by_email(email).await?.is_some() {
        bail!("a user with the e-mail address {email} already exists");
    }
    let role = find_role(&store, args.role.as_deref()).await?;
    let now = now();
    let org = match find_org(&store, org_name).await? {
        Some(org) => org,
        None if args.create_org && !is_id(org_name) => store
            .create_org(&Organisation {
                uuid: uuid_v4(),
                name: org_name.to_string(),
                local: true,
                date_created: now,
                date_modified: now,
                ..Organisation::default()
            })
            .await
            .context("cannot create the organisation")?,
        None if args.create_org => {
            bail!(
                "--org {org_name}: there is no organisation with this id, and --create-org needs a name"
            )
        }
        None => {
            bail!("--org: there is no organisation {org_name:?} (add --create-org to create it)")
        }
    };
    let key = keys::generate_api_key();
    store
        .create_user(
            &User {
                email: email.to_string(),
                org_id: org.id,
                role_id: role.id,
                nids_sid: 4_000_000,
                date_created: now,
                date_modified: now,
                ..User::default()
            },
            Some(&NewAuthKey {
                comment: "Created with kizuna user add".into(),
                ..keys::stored_form(&key)
            }),
        )
        .await
        .context("cannot create the user")?;
    store.close().await;
    println!("{key}");
    Ok(())
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn list(args: ListArgs) -> Result<()> {
    let store = open(&args.database).await?;
    let users = store.list_users(None).await?;
    let orgs = store.list_orgs().await?;
    let roles = store.list_roles().await?;
    let keys = store.list_auth_keys(None).await?;
    store.close().await;
    let now = now();
    let mut rows = vec![[
        "id".to_string(),
        "email".to_string(),
        "org".to_string(),
        "role".to_string(),
        "disabled".to_string(),
        "keys".to_string(),
    ]];
    for user in &users {
        let org = orgs
            .iter()
            .find(|org| org.id == user.org_id)
            .map_or_else(|| user.org_id.to_string(), |org| org.name.clone());
        let role = roles
            .iter()
            .find(|role| role.id == user.role_id)
            .map_or_else(|| user.role_id.to_string(), |role| role.name.clone());
        let usable = keys
            .iter()
            .filter(|key| key.user_id == user.id && !key.is_expired(now))
            .count();
        rows.push([
            user.id.to_string(),
            user.email.clone(),
            org,
            role,
            if user.disabled { "yes" } else { "no" }.to_string(),
            usable.to_string(),
        ]);
    }
    print!("{}", table(&rows));
    Ok(())
}

/// Left-aligned columns two spaces apart, without trailing blanks.
fn table(rows: &[[String; 6]]) -> String {
    let mut widths = [0usize; 6];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths[index] - cell.chars().count();
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn set_disabled(args: TargetArgs, disabled: bool) -> Result<()> {
    let store = open(&args.database).await?;
    let user = find_user(&store, args.user.trim()).await?;
    store.set_user_disabled(user.id, disabled, now()).await?;
    store.close().await;
    println!(
        "{} user {} ({})",
        if disabled { "disabled" } else { "enabled" },
        user.id,
        user.email
    );
    Ok(())
}

async fn key(args: KeyArgs) -> Result<()> {
    let now = now();
    let expiration = match args.expires.as_deref() {
        None => 0,
        Some(text) => match keys::parse_expiration(text) {
            Some(0) => 0,
            Some(when) if when <= now => bail!("--expires {text:?} is in the past"),
            Some(when) => when,
            None => bail!(
                "--expires must be a date (YYYY-MM-DD), a date-time or Unix seconds, got {text:?}"
            ),
        },
    };
    let store = open(&args.database).await?;
    let user = find_user(&store, args.user.trim()).await?;
    let key = keys::generate_api_key();
    store
        .create_auth_key(
            user.id,
            &NewAuthKey {
                expiration,
                comment: args
                    .comment
                    .unwrap_or_else(|| "Created with kizuna user key".into()),
                ..keys::stored_form(&key)
            },
            now,
        )
        .await?;
    store.close().await;
    println!("{key}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn tables_align_columns() {
        let row = |cells: [&str; 6]| cells.map(str::to_string);
        let text = table(&[
            row(["id", "email", "org", "role", "disabled", "keys"]),
            row(["12", "a@b.c", "ORG", "admin", "no", "1"]),
        ]);
        assert_eq!(
            text,
            "id  email  org  role   disabled  keys\n12  a@b.c  ORG  admin  no        1\n"
        );
    }
}
