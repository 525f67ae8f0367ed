//! `/taxii_collections/*`: administrators manage the TAXII collections (Kizuna's own
//! controller, in MISP's request and answer shapes).

use super::{Call, unknown_action};
use crate::error::ApiResult;
use axum::response::Response;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    Err(unknown_action(call))
}
