//! Being a sync client (issue 7): pulling from and pushing to the servers of the `servers`
//! table with MISP's protocol, rules and distribution downgrades, and the scheduler that
//! does it every so often.
//!
//! Each run records its outcome on the server (`last_pull_*`, `last_push_*`), so a failing
//! remote shows up in `/servers/index` and `kizuna sync` without touching other servers.
//! Runs of one server never overlap: a second run waits for the first.

pub mod downgrade;
pub mod pull;
pub mod push;
pub mod remote;
pub mod rules;

pub use pull::{PullReport, PullTechnique, PullTimings};
pub use push::{PushReport, PushTechnique};

use crate::AppState;
use kizuna_store::{Server, Store, StoreError, SyncOutcome};
use remote::RemoteError;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{0}")]
    Remote(#[from] RemoteError),
    #[error("incompatible remote: {0}")]
    Version(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The host organisation of this instance (MISP.host_org_id), if set.
pub(crate) async fn host_org_id(store: &Store) -> Result<Option<i64>, StoreError> {
    Ok(store
        .setting("host_org_id")
        .await?
        .and_then(|text| text.parse().ok()))
}

/// One lock per server, so a scheduled run and a requested one take turns.
#[derive(Debug, Default)]
pub struct SyncLocks {
    locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
}

impl SyncLocks {
    pub fn lock_for(&self, server_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        locks.entry(server_id).or_default().clone()
    }
}

fn process_locks() -> &'static SyncLocks {
    static LOCKS: std::sync::OnceLock<SyncLocks> = std::sync::OnceLock::new();
    LOCKS.get_or_init(SyncLocks::default)
}

/// Pulls from one server and records the outcome on it.
pub async fn run_pull(
    store: &Store,
    server_id: i64,
    technique: &PullTechnique,
    user_id: i64,
) -> Result<PullReport, SyncError> {
    let lock = process_locks().lock_for(server_id);
    let _running = lock.lock().await;
    let server = store.server(server_id).await?;
    let result = pull::pull(store, &server, technique, user_id).await;
    let now = crate::now();
    match &result {
        Ok((report, etag)) => {
            let outcome = SyncOutcome {
                at: now,
                ok: report.ok(),
                result: report.summary(),
            };
            store.record_server_pull(server.id, &outcome, etag).await?;
            if report.lastpulledid > server.lastpulledid {
                store
                    .set_server_lastpulledid(server.id, report.lastpulledid)
                    .await?;
            }
        }
        Err(error) => {
            let outcome = SyncOutcome {
                at: now,
                ok: false,
                result: error.to_string(),
            };
            store.record_server_pull(server.id, &outcome, "").await?;
        }
    }
    if let Err(error) = &result {
        tracing::warn!(server = server.id, name = %server.name, "pull failed: {error}");
    }
    result.map(|(report, _)| report)
}

/// Pushes to one server and records the outcome on it.
pub async fn run_push(
    store: &Store,
    server_id: i64,
    technique: &PushTechnique,
    base_url: &str,
) -> Result<PushReport, SyncError> {
    let lock = process_locks().lock_for(server_id);
    let _running = lock.lock().await;
    let server = store.server(server_id).await?;
    let result = push::push(store, &server, technique, base_url).await;
    let (outcome, lastpushedid) = match &result {
        Ok(report) => (
            SyncOutcome {
                at: crate::now(),
                ok: report.ok(),
                result: report.summary(),
            },
            report.lastpushedid,
        ),
        Err(error) => (
            SyncOutcome {
                at: crate::now(),
                ok: false,
                result: error.to_string(),
            },
            None,
        ),
    };
    store
        .record_server_push(server.id, &outcome, lastpushedid)
        .await?;
    if let Err(error) = &result {
        tracing::warn!(server = server.id, name = %server.name, "push failed: {error}");
    }
    result
}

/// MISP's push on publish: a newly published event goes to every server with push on, in
/// priority order, in the background (the publishing request does not wait for peers); each
/// outcome is recorded on its server like any push. An event push would not take (no
/// attributes) is left alone rather than recorded as a failed push.
pub fn push_published_event(store: Store, event_id: i64, base_url: String) {
    push_in_background(store, vec![kizuna_store::Key::Id(event_id)], None, base_url);
}

/// MISP's passAlong: the published events a pull stored from `from_server` go on to every
/// other server with push on (never back to where they came from), in the background.
pub fn pass_along_pulled(store: Store, from_server: i64, report: &PullReport, base_url: String) {
    let events: Vec<kizuna_store::Key> = report
        .added
        .iter()
        .chain(&report.updated)
        .map(|uuid| kizuna_store::Key::Uuid(uuid.clone()))
        .collect();
    if !events.is_empty() {
        push_in_background(store, events, Some(from_server), base_url);
    }
}

fn push_in_background(
    store: Store,
    events: Vec<kizuna_store::Key>,
    skip_server: Option<i64>,
    base_url: String,
) {
    tokio::spawn(async move {
        let servers = match store.servers().await {
            Ok(servers) => servers,
            Err(error) => {
                tracing::warn!("push on publish: cannot list the servers: {error}");
                return;
            }
        };
        let pushing: Vec<Server> = servers
            .into_iter()
            .filter(|server| server.push && Some(server.id) != skip_server)
            .collect();
        if pushing.is_empty() {
            return;
        }
        for event in events {
            match store.push_candidates(0, Some(&event)).await {
                Ok(candidates) if !candidates.is_empty() => {}
                Ok(_) => continue,
                Err(error) => {
                    tracing::warn!("push on publish of {event:?}: {error}");
                    continue;
                }
            }
            let technique = PushTechnique::Single(event);
            for server in &pushing {
                // run_push records and logs the outcome on the server.
                let _ = run_push(&store, server.id, &technique, &base_url).await;
            }
        }
    });
}

/// The outcome of one server in a run over several.
#[derive(Debug)]
pub struct ServerRun {
    pub server: Server,
    pub pull: Option<Result<PullReport, SyncError>>,
    pub push: Option<Result<PushReport, SyncError>>,
}

impl ServerRun {
    pub fn ok(&self) -> bool {
        self.pull
            .as_ref()
            .is_none_or(|result| result.as_ref().is_ok_and(PullReport::ok))
            && self
                .push
                .as_ref()
                .is_none_or(|result| result.as_ref().is_ok_and(PushReport::ok))
    }
}

/// Which directions a run covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Directions {
    pub pull: bool,
    pub push: bool,
}

/// Pulls (then pushes) every server with that direction enabled, one server after the
/// other in priority order; a failing server does not stop the others.
pub async fn run_enabled(
    store: &Store,
    servers: Vec<Server>,
    directions: Directions,
    pull_technique: &PullTechnique,
    push_technique: &PushTechnique,
    user_id: i64,
    base_url: &str,
) -> Vec<ServerRun> {
    let mut runs = Vec::new();
    for server in servers {
        let pull = if directions.pull && server.pull {
            let result = run_pull(store, server.id, pull_technique, user_id).await;
            if let Ok(report) = &result {
                pass_along_pulled(store.clone(), server.id, report, base_url.to_string());
            }
            Some(result)
        } else {
            None
        };
        let push = if directions.push && server.push {
            Some(run_push(store, server.id, push_technique, base_url).await)
        } else {
            None
        };
        runs.push(ServerRun { server, pull, push });
    }
    runs
}

/// Runs the pulls and pushes of every enabled server every `interval` until `shutdown`
/// resolves (a zero interval runs nothing). The first run starts one interval after the
/// start, so that a restart does not hammer the remotes.
pub fn spawn_sync_scheduler(
    state: AppState,
    interval: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if interval.is_zero() {
            return;
        }
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(interval) => {}
            }
            let servers = match state.store.servers().await {
                Ok(servers) => servers,
                Err(error) => {
                    tracing::warn!("scheduled sync: cannot list the servers: {error}");
                    continue;
                }
            };
            let run = run_enabled(
                &state.store,
                servers,
                Directions {
                    pull: true,
                    push: true,
                },
                &PullTechnique::Full,
                &PushTechnique::Incremental,
                0,
                &state.settings.base_url,
            );
            tokio::select! {
                () = &mut shutdown => break,
                runs = run => {
                    for run in runs.iter().filter(|run| !run.ok()) {
                        tracing::warn!(server = run.server.id, name = %run.server.name, "scheduled sync did not complete");
                    }
                }
            }
        }
    })
}
