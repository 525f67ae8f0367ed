//! What the server benches share: environment knobs, peak RSS, synthetic attributes.

use kizuna_model::Attribute;

/// The timestamp every synthetic item carries.
pub const NOW: i64 = 1_700_000_000;

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// A `/proc/self/status` field in kB.
pub fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Resets the peak RSS to the current one; false where /proc/self/clear_refs is not writable.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Deterministic, well-formed indicator values of several types.
pub fn synthetic_attribute(index: u64) -> Attribute {
    let (attr_type, category, value) = match index % 5 {
        0 => (
            "ip-dst",
            "Network activity",
            format!(
                "{}.{}.{}.{}",
                11 + (index >> 24) % 200,
                (index >> 16) % 256,
                (index >> 8) % 256,
                index % 256
            ),
        ),
        1 => (
            "domain",
            "Network activity",
            format!("host{index}.example-{}.com", index % 97),
        ),
        2 => (
            "url",
            "Network activity",
            format!("https://site{index}.example.net/path/{}", index % 13),
        ),
        3 => ("sha256", "Payload delivery", format!("{index:064x}")),
        _ => (
            "hostname",
            "Network activity",
            format!("c2-{index}.bad.example.org"),
        ),
    };
    let mut attribute = Attribute::new(
        uuid::Uuid::new_v4().to_string(),
        attr_type.into(),
        category.into(),
        value,
        String::new(),
    );
    attribute.to_ids = true;
    attribute.timestamp = NOW;
    attribute
}
