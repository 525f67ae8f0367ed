//! The manifest: one record per object of a page (id, date_added, version, media type).

use super::collections::readable;
use super::media::STIX_21;
use super::objects::add_date_headers;
use super::paging::ListParams;
use super::view::{View, page};
use super::{TaxiiCall, TaxiiError, taxii_response, timestamp_text};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

pub async fn get(call: &TaxiiCall, id: &str) -> Result<Response, TaxiiError> {
    let access = readable(call, id).await?;
    let view = View::of(&access.collection, call.now)?;
    let params = ListParams::parse(call, &access.collection.id, "manifest")?;
    let page = page(call, &view, &params, None).await?;
    let body = if page.items.is_empty() {
        json!({})
    } else {
        let records: Vec<Value> = page
            .items
            .iter()
            .map(|item| {
                let object = item.object();
                json!({
                    "id": object.id(),
                    "date_added": timestamp_text(item.date_added),
                    "version": object.version(),
                    "media_type": STIX_21,
                })
            })
            .collect();
        let mut body = json!({ "more": page.more, "objects": records });
        if let Some(next) = &page.next {
            body["next"] = json!(next);
        }
        body
    };
    let mut response = taxii_response(call.version, StatusCode::OK, body.to_string());
    add_date_headers(&mut response, &page);
    Ok(response)
}
