//! Status resources of POSTs: seen by the user who posted and by site admins only.

use super::{TaxiiCall, TaxiiError, taxii_response, timestamp_text};
use axum::http::StatusCode;
use axum::response::Response;
use kizuna_store::{StoreError, TaxiiStatus};
use serde_json::{Value, json};

pub async fn get(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let missing = || TaxiiError::not_found(format!("There is no status {id:?} for you."));
    let status = match call.state.store.taxii_status(id).await {
        Ok(status) => status,
        Err(StoreError::NotFound) => return Err(missing()),
        Err(other) => return Err(other.into()),
    };
    if status.user_id != call.principal.user.id && !call.is_site_admin() {
        return Err(missing());
    }
    Ok(taxii_response(
        call.version,
        StatusCode::OK,
        render(&status).to_string(),
    ))
}

pub fn render(status: &TaxiiStatus) -> Value {
    let list = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!([]));
    json!({
        "id": status.id,
        "status": if status.pending_count > 0 { "pending" } else { "complete" },
        "request_timestamp": timestamp_text(status.request_timestamp),
        "total_count": status.total_count,
        "success_count": status.success_count,
        "successes": list(&status.successes),
        "failure_count": status.failure_count,
        "failures": list(&status.failures),
        "pending_count": status.pending_count,
        "pendings": list(&status.pendings),
    })
}
