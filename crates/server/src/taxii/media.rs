//! TAXII media types: which `Accept` and `Content-Type` values a version takes, and what it
//! answers with.

use super::{Resource, TaxiiError};
use axum::http::{HeaderMap, StatusCode, header};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaxiiVersion {
    V21,
    V20,
}

pub const TAXII_21: &str = "application/taxii+json;version=2.1";
pub const STIX_21: &str = "application/stix+json;version=2.1";
pub const TAXII_20: &str = "application/vnd.oasis.taxii+json; version=2.0";
pub const STIX_20: &str = "application/vnd.oasis.stix+json; version=2.0";

impl TaxiiVersion {
    pub fn prefix(self) -> &'static str {
        match self {
            TaxiiVersion::V21 => "/taxii2/",
            TaxiiVersion::V20 => "/taxii/",
        }
    }

    pub fn taxii_media_type(self) -> &'static str {
        match self {
            TaxiiVersion::V21 => TAXII_21,
            TaxiiVersion::V20 => TAXII_20,
        }
    }
}

/// A media type split into its lower-case essence and its `version` parameter.
fn split(media_type: &str) -> (String, Option<String>) {
    let mut parts = media_type.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let version = parts.find_map(|parameter| {
        let (name, value) = parameter.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("version")
            .then(|| value.trim().trim_matches('"').to_string())
    });
    (essence, version)
}

/// Whether one media range of `Accept` allows what `version` answers on `resource`.
fn acceptable(version: TaxiiVersion, resource: &Resource, range: &str) -> bool {
    let (essence, wanted) = split(range);
    let version_is = |expected: &str| wanted.as_deref().is_none_or(|given| given == expected);
    match essence.as_str() {
        "*/*" | "application/*" => true,
        "application/taxii+json" => version == TaxiiVersion::V21 && version_is("2.1"),
        "application/vnd.oasis.taxii+json" => version == TaxiiVersion::V20 && version_is("2.0"),
        // FortiGate asks for 2.0 objects by the STIX media type.
        "application/vnd.oasis.stix+json" | "application/json" => {
            version == TaxiiVersion::V20
                && (essence == "application/json"
                    || (matches!(resource, Resource::Objects(_) | Resource::Object(..))
                        && version_is("2.0")))
        }
        _ => false,
    }
}

/// 406 unless `Accept` is absent or allows the version's TAXII media type.
pub fn check_accept(
    version: TaxiiVersion,
    resource: &Resource,
    headers: &HeaderMap,
) -> Result<(), TaxiiError> {
    let mut offered = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(text) = value.to_str() else { continue };
        for range in text.split(',').filter(|range| !range.trim().is_empty()) {
            offered = true;
            if acceptable(version, resource, range) {
                return Ok(());
            }
        }
    }
    if !offered {
        return Ok(());
    }
    Err(TaxiiError::new(
        StatusCode::NOT_ACCEPTABLE,
        "Not acceptable",
        format!(
            "The Accept header must allow {}.",
            version.taxii_media_type()
        ),
    ))
}

/// 415 unless the body is declared as TAXII 2.1 (the version parameter may be left out).
pub fn check_content_type(headers: &HeaderMap) -> Result<(), TaxiiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let (essence, version) = split(declared);
    if essence == "application/taxii+json" && version.as_deref().is_none_or(|v| v == "2.1") {
        return Ok(());
    }
    Err(TaxiiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Unsupported media type",
        format!("POST the envelope as Content-Type: {TAXII_21} (got {declared:?})."),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(version: TaxiiVersion, resource: &Resource, value: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        check_accept(version, resource, &headers).is_ok()
    }

    #[test]
    fn accept_takes_the_version_media_types_and_wildcards() {
        let v21 = TaxiiVersion::V21;
        let v20 = TaxiiVersion::V20;
        let objects = Resource::Objects("c".into());
        assert!(accept(v21, &objects, None));
        assert!(accept(
            v21,
            &objects,
            Some("application/taxii+json;version=2.1")
        ));
        assert!(accept(v21, &objects, Some("application/taxii+json")));
        assert!(accept(v21, &objects, Some("text/html, */*;q=0.1")));
        assert!(!accept(
            v21,
            &objects,
            Some("application/taxii+json;version=2.0")
        ));
        assert!(!accept(v21, &objects, Some("application/json")));
        assert!(!accept(
            v21,
            &objects,
            Some("application/vnd.oasis.taxii+json; version=2.0")
        ));
        assert!(accept(
            v20,
            &objects,
            Some("application/vnd.oasis.stix+json; version=2.0")
        ));
        assert!(accept(
            v20,
            &Resource::ApiRoot,
            Some("application/vnd.oasis.taxii+json; version=2.0")
        ));
        assert!(!accept(
            v20,
            &Resource::ApiRoot,
            Some("application/vnd.oasis.stix+json; version=2.0")
        ));
        assert!(accept(v20, &Resource::ApiRoot, Some("application/json")));
    }

    #[test]
    fn content_type_must_be_taxii_21() {
        let check = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
            check_content_type(&headers).is_ok()
        };
        assert!(check("application/taxii+json;version=2.1"));
        assert!(check("application/taxii+json; version=2.1"));
        assert!(check("application/taxii+json"));
        assert!(!check("application/json"));
        assert!(!check("application/stix+json;version=2.1"));
        assert!(!check("application/taxii+json;version=2.0"));
    }
}
