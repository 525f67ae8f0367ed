//! Kizuna's HTTP server: the MISP REST API (one module per MISP controller under `misp/`).
//!
//! `app(state)` builds the router (tests call it in-process); `serve` runs it on a listener
//! until the shutdown future resolves.

pub mod auth;
pub mod bootstrap;
pub mod error;
pub mod keys;
pub mod misp;
pub mod routing;

pub use misp::warninglists::Warninglists;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use kizuna_matcher::WarninglistSet;
use kizuna_store::Store;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

/// MISP version we report: PyMISP and MISP peers gate features on a 2.5.x version.
pub const MISP_COMPAT_VERSION: &str = "2.5.1";
/// PyMISP release we test against and recommend.
pub const PYMISP_RECOMMENDED_VERSION: &str = "2.5.34.4";
/// Largest request body accepted (real MISP events run to tens of MiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Settings the server needs at run time.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// The URL peers and users reach this instance at (MISP.baseurl).
    pub base_url: String,
    /// MISP's `MISP.unpublishedprivate`: unpublished events are seen by their owner
    /// organisation only (and site admins).
    pub unpublished_private: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            unpublished_private: false,
        }
    }
}

/// Shared state of every request.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<ServerSettings>,
    /// The warninglists; see `AppState::warninglist_set` for the ones in force.
    pub warninglists: Arc<Warninglists>,
}

impl AppState {
    pub fn new(store: Store, settings: ServerSettings) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            warninglists: Arc::new(Warninglists::new(WarninglistSet::defaults())),
        }
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    Router::new()
        .fallback(misp::dispatch)
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestDecompressionLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
