//! Kizuna's HTTP server: the MISP REST API (one module per MISP controller under `misp/`).
//!
//! `app(state)` builds the router (tests call it in-process); `serve` runs it on a listener
//! until the shutdown future resolves.

mod audit;
pub mod auth;
pub mod bootstrap;
pub mod client;
pub mod error;
mod event_merge;
pub mod federated;
pub mod feed_fetch;
mod hardening;
pub mod http;
pub mod import;
pub mod keys;
pub mod misp;
pub mod routing;
pub mod sync;
pub mod taxii;
pub mod taxii_client;
pub mod throttle;

pub use client::{ClientAddress, IpBlock};
pub use misp::warninglists::Warninglists;
pub use throttle::{Throttle, ThrottleSettings};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use kizuna_matcher::WarninglistSet;
use kizuna_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};

/// MISP version we report: PyMISP and MISP peers gate features on a 2.5.x version.
pub const MISP_COMPAT_VERSION: &str = "2.5.1";
/// PyMISP release we test against and recommend.
pub const PYMISP_RECOMMENDED_VERSION: &str = "2.5.34.4";
/// Default largest request body, counted after decompression (real MISP events run to tens
/// of MiB).
pub const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// Settings the server needs at run time.
#[derive(Clone, Debug)]
pub struct ServerSettings {
    /// The URL peers and users reach this instance at (MISP.baseurl).
    pub base_url: String,
    /// MISP's `MISP.unpublishedprivate`: unpublished events are seen by their owner
    /// organisation only (and site admins).
    pub unpublished_private: bool,
    /// Largest request body accepted, after decompression; larger ones get 413.
    pub max_body_bytes: usize,
    /// Limits of failed authentication per client address and per key.
    pub throttle: ThrottleSettings,
    /// Proxies whose `X-Forwarded-For` names the client; empty = the peer is the client.
    pub trusted_proxies: Vec<IpBlock>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            base_url: "http://127.0.0.1:8080".into(),
            unpublished_private: false,
            max_body_bytes: MAX_BODY_BYTES,
            throttle: ThrottleSettings::default(),
            trusted_proxies: Vec::new(),
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
    /// Failed-authentication counts, shared by every request.
    pub throttle: Arc<Throttle>,
    /// Feed fetching: limits, HTTP client, one lock per feed.
    pub feeds: Arc<feed_fetch::Feeds>,
}

impl AppState {
    pub fn new(store: Store, settings: ServerSettings) -> Self {
        Self {
            store,
            throttle: Arc::new(Throttle::new(&settings.throttle)),
            settings: Arc::new(settings),
            warninglists: Arc::new(Warninglists::new(WarninglistSet::defaults())),
            feeds: Arc::new(feed_fetch::Feeds::new(feed_fetch::FeedSettings::default())),
        }
    }
}

/// The whole HTTP application. The body limit sits inside the decompression, so it counts
/// decompressed bytes and a small gzip bomb stops at the limit.
pub fn app(state: AppState) -> Router {
    let max_body_bytes = state.settings.max_body_bytes;
    taxii::routes(Router::new())
        .fallback(misp::dispatch)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestDecompressionLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hardening::guard,
        ))
        // Spans and events name method, path and status only: headers carry API keys.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().include_headers(false))
                .on_response(DefaultOnResponse::new().include_headers(false)),
        )
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}
