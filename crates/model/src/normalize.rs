//! PLACEHOLDER — being written (see the helper brief). Interface only.

/// Why a value was refused for its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    pub message: String,
}

/// A value after MISP's massage: trimmed, refanged, normalised for its type and split
/// into halves for composite types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedValue {
    pub value1: String,
    pub value2: String,
}

pub fn normalize_value(type_name: &str, raw: &str) -> Result<NormalizedValue, ValueError> {
    let _ = type_name;
    Ok(NormalizedValue { value1: raw.trim().to_string(), value2: String::new() })
}
