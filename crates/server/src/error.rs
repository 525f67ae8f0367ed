//! One error type for the HTTP layer, one status table, and MISP's error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kizuna_formats::misp::FieldErrors;
use kizuna_store::StoreError;
use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller's key is missing, malformed, unknown or of a disabled user.
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A save refused by validation: MISP answers 403 with `saved: false` and `errors`.
    #[error("{message}")]
    SaveFailed {
        name: String,
        message: String,
        errors: Value,
    },
    /// MISP's answer to adding an event whose uuid exists: 404 with a `Location` header.
    #[error("{message}")]
    AlreadyExists { message: String, location: String },
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated(_) | ApiError::Forbidden(_) | ApiError::SaveFailed { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound(_) | ApiError::AlreadyExists { .. } => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A validation failure of a save, with MISP's `errors` map.
    pub fn save_failed(name: impl Into<String>, errors: &FieldErrors) -> Self {
        let name = name.into();
        let mut map = Map::new();
        for (field, problems) in &errors.0 {
            map.insert(field.clone(), json!(problems));
        }
        ApiError::SaveFailed {
            message: format!("{name}: {}", errors.summary()),
            name,
            errors: Value::Object(map),
        }
    }

    /// A save refused for one reason that is not a field problem.
    pub fn save_refused(name: impl Into<String>, reason: impl Into<String>) -> Self {
        let name = name.into();
        let reason = reason.into();
        ApiError::SaveFailed {
            message: format!("{name}: {reason}"),
            name,
            errors: json!(reason),
        }
    }

    /// MISP's error body for this error at request path `url`.
    pub fn into_misp_response(self, url: &str) -> Response {
        let status = self.status();
        let mut location = None;
        let body = match self {
            ApiError::SaveFailed {
                name,
                message,
                errors,
            } => json!({
                "saved": false,
                "name": name,
                "message": message,
                "url": url,
                "errors": errors,
            }),
            ApiError::Internal(detail) => {
                let correlation = uuid::Uuid::new_v4();
                tracing::error!(%correlation, url, "internal error: {detail}");
                json!({
                    "name": "An Internal Error Has Occurred.",
                    "message": "An Internal Error Has Occurred.",
                    "url": url,
                    "correlation_id": correlation.to_string(),
                })
            }
            ApiError::AlreadyExists {
                message,
                location: target,
            } => {
                location = Some(target);
                json!({"name": message, "message": message, "url": url})
            }
            other => {
                let message = other.to_string();
                json!({"name": message, "message": message, "url": url})
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(target) = location
            && let Ok(value) = HeaderValue::from_str(&target)
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound("Not found.".into()),
            StoreError::Conflict(message) => ApiError::save_refused("Could not save", message),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
