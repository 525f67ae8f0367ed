//! MISP controller module, filled in by issue 4's work.

use super::{Call, unknown_action};
use crate::error::ApiResult;
use axum::response::Response;

pub(super) async fn handle(call: &Call) -> ApiResult<Response> {
    Err(unknown_action(call))
}
