//! Status resources of POSTs: seen by the user who posted and by site admins only.

use super::{TaxiiCall, TaxiiError, taxii_response, timestamp_text};
use axum::http::StatusCode;
use axum::response::Response;
use kizuna_store::{StoreError, TaxiiStatus};

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
        render(&status),
    ))
}

/// The status resource, its stored lists written in as they are (they are JSON this server
/// wrote): parsing them back only to write them again cost ~7M instructions for a POST of
/// 1,000 objects.
pub fn render(status: &TaxiiStatus) -> String {
    let mut out = String::with_capacity(
        status.successes.len() + status.failures.len() + status.pendings.len() + 320,
    );
    let string = |out: &mut String, text: &str| {
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    };
    let list = |out: &mut String, text: &str| {
        if text.is_empty() {
            out.push_str("[]");
        } else {
            out.push_str(text);
        }
    };
    out.push_str("{\"id\":");
    string(&mut out, &status.id);
    out.push_str(",\"status\":");
    out.push_str(if status.pending_count > 0 {
        "\"pending\""
    } else {
        "\"complete\""
    });
    out.push_str(",\"request_timestamp\":");
    string(&mut out, &timestamp_text(status.request_timestamp));
    out.push_str(&format!(
        ",\"total_count\":{},\"success_count\":{},\"successes\":",
        status.total_count, status.success_count
    ));
    list(&mut out, &status.successes);
    out.push_str(&format!(
        ",\"failure_count\":{},\"failures\":",
        status.failure_count
    ));
    list(&mut out, &status.failures);
    out.push_str(&format!(
        ",\"pending_count\":{},\"pendings\":",
        status.pending_count
    ));
    list(&mut out, &status.pendings);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::render;
    use crate::taxii::timestamp_text;
    use kizuna_store::TaxiiStatus;
    use serde_json::{Value, json};

    /// The resource as a JSON tree with the lists parsed, written by serde_json.
    fn tree(status: &TaxiiStatus) -> Value {
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

    #[test]
    fn the_text_is_what_serde_json_writes_for_the_tree() {
        let status = TaxiiStatus {
            id: "2d3c1a8e-0b5f-4a49-9a9e-6f0c6a0f6d21".into(),
            collection_id: "c".into(),
            user_id: 1,
            request_timestamp: 1_767_600_000_123_456,
            total_count: 3,
            success_count: 2,
            failure_count: 1,
            pending_count: 0,
            successes: r#"[{"id":"indicator--1","version":"2026-01-05T08:00:00.000Z"},{"id":"a\"b","version":""}]"#.into(),
            failures: r#"[{"id":"x--2","version":"v","message":"not \"STIX\"\n"}]"#.into(),
            pendings: "[]".into(),
            created_at: 0,
        };
        assert_eq!(render(&status), tree(&status).to_string());
        let pending = TaxiiStatus {
            pending_count: 1,
            failures: "[]".into(),
            ..status
        };
        assert_eq!(render(&pending), tree(&pending).to_string());
    }
}
