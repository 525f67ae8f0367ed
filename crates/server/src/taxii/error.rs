//! TAXII's error resource (`{"title", "description", "http_status"}`), in the media type of
//! the version asked for, for every failure under `/taxii2/` and `/taxii/`.

use super::media::TaxiiVersion;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use serde_json::json;

#[derive(Debug)]
pub struct TaxiiError {
    pub status: StatusCode,
    pub title: String,
    pub description: String,
    /// Methods to list in `Allow` (405 only).
    allow: Vec<Method>,
}

impl TaxiiError {
    pub fn new(status: StatusCode, title: &str, description: impl Into<String>) -> Self {
        Self {
            status,
            title: title.to_string(),
            description: description.into(),
            allow: Vec::new(),
        }
    }

    pub fn bad_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Bad request", description)
    }

    pub fn unauthorized(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentication required",
            description,
        )
    }

    pub fn forbidden(description: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", description)
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", description)
    }

    pub fn unprocessable(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Unprocessable content",
            description,
        )
    }

    pub fn method_not_allowed(method: &Method, allowed: &[Method]) -> Self {
        let mut error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
            format!(
                "{method} is not allowed here; use {}.",
                allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        error.allow = allowed.to_vec();
        error
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "An internal error has occurred.",
        )
    }

    pub fn into_response_for(self, version: TaxiiVersion) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut response = super::taxii_response(version, self.status, body.to_string());
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"kizuna\""),
            );
        }
        if !self.allow.is_empty() {
            let allow = self
                .allow
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            if let Ok(value) = HeaderValue::from_str(&allow) {
                response.headers_mut().insert(header::ALLOW, value);
            }
        }
        response
    }
}

impl From<kizuna_store::StoreError> for TaxiiError {
    fn from(error: kizuna_store::StoreError) -> Self {
        let correlation = uuid::Uuid::new_v4();
        tracing::error!(%error, %correlation, "TAXII request failed in the store");
        Self::internal()
    }
}

impl From<crate::error::ApiError> for TaxiiError {
    fn from(error: crate::error::ApiError) -> Self {
        use crate::error::ApiError;
        match error {
            ApiError::Unauthenticated(message) => Self::unauthorized(message),
            ApiError::Forbidden(message) => Self::forbidden(message),
            ApiError::NotFound(message) => Self::not_found(message),
            ApiError::BadRequest(message) => Self::bad_request(message),
            ApiError::MethodNotAllowed(message) => Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                message,
            ),
            ApiError::SaveFailed { message, .. } | ApiError::AlreadyExists { message, .. } => {
                Self::unprocessable(message)
            }
            ApiError::Internal(message) => {
                tracing::error!(%message, "TAXII request failed");
                Self::internal()
            }
        }
    }
}
