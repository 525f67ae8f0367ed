//! `/feeds/*` (being written).

use super::Call;
use crate::error::ApiResult;
use axum::response::Response;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    Err(super::unknown_action(call))
}
