//! MISP's URL grammar: `/<controller>/<action>/<args…>` with CakePHP named parameters
//! (`key:value`, `key[]:value`) as extra segments, an optional `.json` suffix, camelCase or
//! snake_case controller names, an `/admin/` prefix, and REST verbs on bare resources
//! (`GET /events/12`).

use axum::http::Method;

/// A MISP request path, taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MispPath {
    /// Lower-case, without underscores: `sharing_groups` and `sharingGroups` → `sharinggroups`.
    pub controller: String,
    /// Lower-case, without underscores: `attachTagToObject` → `attachtagtoobject`.
    pub action: String,
    pub args: Vec<String>,
    /// Named parameters in order; `key[]` is stored as `key`.
    pub named: Vec<(String, String)>,
    /// Reached through `/admin/…`.
    pub admin: bool,
    /// The requested extension (`json`, `xml`, `csv`), if any.
    pub extension: Option<String>,
}

fn canonical(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let hex = &bytes[index + 1..index + 3];
                match std::str::from_utf8(hex)
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                {
                    Some(byte) => {
                        out.push(byte);
                        index += 3;
                    }
                    None => {
                        out.push(b'%');
                        index += 1;
                    }
                }
            }
            // CakePHP clients send spaces as '+' in paths (PyMISP does this on purpose).
            b'+' => {
                out.push(b' ');
                index += 1;
            }
            byte => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a segment names one record (a numeric id or a UUID).
fn is_record_key(segment: &str) -> bool {
    (!segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()))
        || uuid::Uuid::parse_str(segment).is_ok()
}

/// Controllers that also answer MISP's REST verbs on `/<controller>[/<id>]`.
const REST_RESOURCES: &[&str] = &["events", "attributes"];

impl MispPath {
    pub fn parse(method: &Method, path: &str) -> Option<MispPath> {
        // Named parameters are recognised on the raw text, so an encoded colon (`%3A`) in a
        // value never turns it into one.
        let mut raw: Vec<&str> = path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .collect();
        let mut extension = None;
        let mut trimmed_last = None;
        if let Some(last) = raw.last() {
            for ext in ["json", "xml", "csv"] {
                let suffix = format!(".{ext}");
                if last.len() > suffix.len() && last.to_ascii_lowercase().ends_with(&suffix) {
                    trimmed_last = Some(last[..last.len() - suffix.len()].to_string());
                    extension = Some(ext.to_string());
                    break;
                }
            }
        }
        let admin = raw.first() == Some(&"admin");
        if admin {
            raw.remove(0);
        }
        let last_index = raw.len().saturating_sub(1);
        let mut positional = Vec::new();
        let mut named = Vec::new();
        for (index, segment) in raw.iter().enumerate() {
            let segment = match (&trimmed_last, index == last_index) {
                (Some(trimmed), true) => trimmed.as_str(),
                _ => segment,
            };
            match segment.split_once(':') {
                // A named parameter's key is a plain identifier; anything else with a colon
                // (an `ip:port` value, say) stays positional.
                Some((key, value))
                    if !key.is_empty()
                        && key
                            .trim_end_matches("[]")
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.') =>
                {
                    named.push((
                        percent_decode(key.trim_end_matches("[]")),
                        percent_decode(value),
                    ));
                }
                _ => positional.push(percent_decode(segment)),
            }
        }
        let mut positional = positional.into_iter();
        let controller = canonical(&positional.next()?);
        let second = positional.next();
        let mut args: Vec<String> = positional.collect();
        let action = match second {
            Some(second)
                if REST_RESOURCES.contains(&controller.as_str()) && is_record_key(&second) =>
            {
                args.insert(0, second);
                match *method {
                    Method::GET | Method::HEAD => "view",
                    Method::DELETE => "delete",
                    _ => "edit",
                }
                .to_string()
            }
            Some(second) => canonical(&second),
            None if REST_RESOURCES.contains(&controller.as_str()) => match *method {
                Method::POST => "add".to_string(),
                _ => "index".to_string(),
            },
            None => "index".to_string(),
        };
        Some(MispPath {
            controller,
            action,
            args,
            named,
            admin,
            extension,
        })
    }

    /// The first value of a named parameter.
    pub fn named(&self, key: &str) -> Option<&str> {
        self.named
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a (possibly repeated, `key[]:`) named parameter.
    pub fn named_all(&self, key: &str) -> Vec<&str> {
        self.named
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
            .collect()
    }

    pub fn arg(&self, index: usize) -> Option<&str> {
        self.args.get(index).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(method: Method, path: &str) -> MispPath {
        MispPath::parse(&method, path).unwrap()
    }

    #[test]
    fn sync_style_view_with_named_parameters() {
        let path = parse(
            Method::GET,
            "/events/view/5f0c7a1e-0000-4000-8000-000000000001/deleted[]:0/deleted[]:1/excludeGalaxy:1",
        );
        assert_eq!(path.controller, "events");
        assert_eq!(path.action, "view");
        assert_eq!(path.args, ["5f0c7a1e-0000-4000-8000-000000000001"]);
        assert_eq!(path.named_all("deleted"), ["0", "1"]);
        assert_eq!(path.named("excludeGalaxy"), Some("1"));
    }

    #[test]
    fn json_suffix_and_camel_case_controllers() {
        let path = parse(Method::GET, "/users/view/me.json");
        assert_eq!(
            (path.controller.as_str(), path.action.as_str()),
            ("users", "view")
        );
        assert_eq!(path.args, ["me"]);
        assert_eq!(path.extension.as_deref(), Some("json"));
        let path = parse(Method::GET, "/attributes/describeTypes.json");
        assert_eq!(path.action, "describetypes");
        let camel = parse(Method::POST, "/sharingGroups/addOrg/1/2");
        let snake = parse(Method::POST, "/sharing_groups/add_org/1/2");
        assert_eq!(camel, snake);
    }

    #[test]
    fn rest_verbs_on_resources() {
        assert_eq!(parse(Method::GET, "/events").action, "index");
        assert_eq!(parse(Method::POST, "/events").action, "add");
        let view = parse(Method::GET, "/events/12");
        assert_eq!(
            (view.action.as_str(), view.args.as_slice()),
            ("view", &["12".to_string()][..])
        );
        assert_eq!(parse(Method::PUT, "/attributes/7").action, "edit");
        assert_eq!(parse(Method::DELETE, "/events/7").action, "delete");
    }

    #[test]
    fn admin_prefix_and_encoded_segments() {
        let path = parse(Method::GET, "/admin/users/index");
        assert!(path.admin);
        assert_eq!(
            (path.controller.as_str(), path.action.as_str()),
            ("users", "index")
        );
        let tag = parse(Method::POST, "/events/addTag/3/tlp%3Agreen");
        assert_eq!(tag.args, ["3", "tlp:green"]);
        let spaced = parse(Method::GET, "/tags/view/my+tag");
        assert_eq!(spaced.args, ["my tag"]);
    }
}
