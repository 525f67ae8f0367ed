//! STIX 2.1 identifiers and timestamps (stix-taxii-reference A.2, A.5).
//!
//! SCO ids are the spec's deterministic UUIDv5: the RFC 8785 (JCS) canonical JSON of the
//! object's ID-contributing properties, hashed under the namespace the spec fixes. The same
//! observable therefore gets the same id in every bundle, from every producer that follows
//! the spec (python-stix2 among them), which is what lets consumers deduplicate by id.

use serde_json::{Map, Value};
use std::borrow::Cow;
use time::OffsetDateTime;
use uuid::Uuid;

/// The namespace STIX 2.1 §2.9 fixes for SCO ids.
pub const SCO_NAMESPACE: Uuid = uuid::uuid!("00abedb4-aa42-466c-9c01-fed23315a9b7");

/// Kizuna's namespace for the other ids it derives from names (galaxy cluster SDOs,
/// relationships, bundles), so that exporting the same data twice gives the same ids.
pub const KIZUNA_NAMESPACE: Uuid = uuid::uuid!("6b1f3f0e-51c5-4f63-9d3b-7a0e4c2d8e11");

/// The ID-contributing properties of each SCO type (STIX 2.1 §6, "ID Contributing
/// Properties"). Types not listed have none.
fn contributing_properties(sco_type: &str) -> &'static [&'static str] {
    match sco_type {
        "artifact" => &["hashes", "payload_bin"],
        "autonomous-system" => &["number"],
        "directory" => &["path"],
        "domain-name" | "email-addr" | "ipv4-addr" | "ipv6-addr" | "mac-addr" | "url" => &["value"],
        "email-message" => &["from_ref", "subject", "body"],
        "file" => &["hashes", "name", "extensions", "parent_directory_ref"],
        "mutex" => &["name"],
        "network-traffic" => &[
            "start",
            "end",
            "src_ref",
            "dst_ref",
            "src_port",
            "dst_port",
            "protocols",
            "extensions",
        ],
        "software" => &["name", "cpe", "swid", "vendor", "version"],
        "user-account" => &["account_type", "user_id", "account_login"],
        "windows-registry-key" => &["key", "values"],
        "x509-certificate" => &["hashes", "serial_number"],
        _ => &[],
    }
}

/// The id of an SCO of `sco_type` with these properties (the object's other keys —
/// `type`, `id`, `spec_version` — are ignored if present).
///
/// With at least one ID-contributing property present this is the spec's UUIDv5. Without
/// any (an `email-message` known only by its recipients, say) the spec asks for a UUIDv4;
/// we derive its 122 free bits from a hash of the whole object instead of a random source,
/// so the export stays reproducible, and mark it version 4 as the spec requires.
pub fn sco_id(sco_type: &str, properties: &Map<String, Value>) -> String {
    // The contributing properties are written as canonical JSON straight from the borrowed
    // values (only a file's chosen hash is rebuilt): an event's export derives thousands of
    // these ids, and cloning each property into a map of its own cost more than the digest.
    let mut contributing: Vec<(&str, Cow<'_, Value>)> = Vec::new();
    for &key in contributing_properties(sco_type) {
        let Some(value) = properties.get(key) else {
            continue;
        };
        let value = if key == "hashes" {
            match one_hash(value) {
                Some(chosen) => Cow::Owned(chosen),
                None => continue,
            }
        } else {
            Cow::Borrowed(value)
        };
        contributing.push((key, value));
    }
    let uuid = if contributing.is_empty() {
        let mut whole = properties.clone();
        for key in ["type", "id", "spec_version"] {
            whole.remove(key);
        }
        whole.insert("type".to_string(), Value::String(sco_type.to_string()));
        hashed_v4(&canonical_json(&Value::Object(whole)))
    } else {
        let mut canonical = String::with_capacity(64);
        write_members(
            contributing
                .iter()
                .map(|(key, value)| (*key, value.as_ref()))
                .collect(),
            &mut canonical,
        );
        Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes())
    };
    typed_id(sco_type, &uuid)
}

/// The UUIDv5 id of an SCO whose ID-contributing properties (at least one) the caller has
/// already written as canonical JSON: the export writes its common SCOs as text, without
/// the map `sco_id` reads.
pub(crate) fn sco_id_of_canonical(sco_type: &str, canonical: &str) -> String {
    typed_id(
        sco_type,
        &Uuid::new_v5(&SCO_NAMESPACE, canonical.as_bytes()),
    )
}

/// `<type>--<uuid>`, the uuid written without the formatting machinery.
fn typed_id(object_type: &str, uuid: &Uuid) -> String {
    let mut id = String::with_capacity(object_type.len() + 38);
    id.push_str(object_type);
    id.push_str("--");
    let mut buffer = Uuid::encode_buffer();
    id.push_str(uuid.hyphenated().encode_lower(&mut buffer));
    id
}

/// The single hash that contributes to a file's id: MD5, else SHA-1, else SHA-256, else
/// SHA-512, else the first one listed (python-stix2 `_choose_one_hash`).
fn one_hash(hashes: &Value) -> Option<Value> {
    let hashes = hashes.as_object()?;
    let key = ["MD5", "SHA-1", "SHA-256", "SHA-512"]
        .into_iter()
        .find(|key| hashes.contains_key(*key))
        .map(str::to_string)
        .or_else(|| hashes.keys().next().cloned())?;
    let mut chosen = Map::new();
    chosen.insert(key.clone(), hashes[&key].clone());
    Some(Value::Object(chosen))
}

/// A version-4-shaped UUID whose bits come from a SHA-1 (UUIDv5) of `name`.
fn hashed_v4(name: &str) -> Uuid {
    let bytes = *Uuid::new_v5(&KIZUNA_NAMESPACE, name.as_bytes()).as_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// `<type>--<UUIDv5 of name under KIZUNA_NAMESPACE>`: the id of an object Kizuna derives
/// from something that has no UUID of its own (a galaxy cluster tag, a relationship).
pub fn derived_id(object_type: &str, name: &str) -> String {
    typed_id(
        object_type,
        &Uuid::new_v5(&KIZUNA_NAMESPACE, name.as_bytes()),
    )
}

// ---------------------------------------------------------------------------------------
// RFC 8785 JSON Canonicalization Scheme
// ---------------------------------------------------------------------------------------

/// RFC 8785 canonical JSON: no whitespace, object members sorted by the UTF-16 code units
/// of their names, strings escaped as ECMAScript's `JSON.stringify` does, numbers in
/// ECMAScript's shortest round-trip form.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    write_json(value, JsonForm::Canonical, out);
}

/// `value` as serde_json writes it compactly (members in their map order, the same
/// escapes and number forms), straight into `out`: `Value::to_string` goes through
/// `fmt::Write` and serde_json's byte-at-a-time escaper, a sixth of an event's render.
pub(crate) fn write_json_value(value: &Value, out: &mut String) {
    write_json(value, JsonForm::Compact, out);
}

/// The two compact JSON forms written here; they differ only in numbers and member order.
#[derive(Clone, Copy, PartialEq)]
enum JsonForm {
    /// serde_json's: members in map order, numbers as serde_json prints them.
    Compact,
    /// RFC 8785's: members sorted by UTF-16 code units, numbers as ECMAScript prints them.
    Canonical,
}

fn write_json(value: &Value, form: JsonForm, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(flag) => out.push_str(if *flag { "true" } else { "false" }),
        Value::Number(number) if form == JsonForm::Compact => {
            use std::fmt::Write as _;
            let _ = write!(out, "{number}");
        }
        Value::Number(number) => {
            if let Some(integer) = number.as_i64() {
                out.push_str(&integer.to_string());
            } else if let Some(integer) = number.as_u64() {
                out.push_str(&integer.to_string());
            } else {
                out.push_str(&ecmascript_number(number.as_f64().unwrap_or(0.0)));
            }
        }
        Value::String(text) => write_json_string(text, out),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json(item, form, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let members = members.iter().map(|(key, member)| (key.as_str(), member));
            match form {
                JsonForm::Compact => write_members_in_order(members, form, out),
                JsonForm::Canonical => write_members(members.collect(), out),
            }
        }
    }
}

/// An object's members in canonical form: sorted by their names' UTF-16 code units.
fn write_members(mut members: Vec<(&str, &Value)>, out: &mut String) {
    members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
    write_members_in_order(members.into_iter(), JsonForm::Canonical, out);
}

fn write_members_in_order<'a>(
    members: impl Iterator<Item = (&'a str, &'a Value)>,
    form: JsonForm,
    out: &mut String,
) {
    out.push('{');
    for (index, (key, member)) in members.enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_json_string(key, out);
        out.push(':');
        write_json(member, form, out);
    }
    out.push('}');
}

/// `text` as a JSON string, escaped as serde_json and RFC 8785 both escape it (the two
/// agree: `\"`, `\\`, the short forms of five controls, `\u00xx` for the other controls,
/// everything else as is), so canonical ids and exported objects share one writer.
pub(crate) fn write_json_string(text: &str, out: &mut String) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push('"');
    // Runs without anything to escape are copied whole, found eight bytes at a time: most
    // strings (ids, timestamps, values) have nothing to escape. Only ASCII needs escaping,
    // so a run always ends on a character boundary.
    let mut run = 0;
    let mut index = 0;
    while index < bytes.len() {
        // Whole words are loaded as such (a padded copy per word cost a `memcpy` call
        // each), clean ones skipped in a loop of their own.
        while let Some(chunk) = bytes.get(index..index + 8) {
            if needs_escape(u64::from_le_bytes(
                chunk.try_into().expect("a slice of eight bytes"),
            )) {
                break;
            }
            index += 8;
        }
        // A word with something to escape, or the last bytes, byte by byte.
        let end = (index + 8).min(bytes.len());
        for at in index..end {
            let byte = bytes[at];
            let escaped = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                0x08 => "\\b",
                0x0c => "\\f",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                control if control < 0x20 => "",
                _ => continue,
            };
            out.push_str(&text[run..at]);
            if escaped.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            } else {
                out.push_str(escaped);
            }
            run = at + 1;
        }
        index = end;
    }
    out.push_str(&text[run..]);
    out.push('"');
}

/// Whether a word of eight bytes holds a quote, a backslash or a control character.
#[inline(always)]
fn needs_escape(word: u64) -> bool {
    const LOWS: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |word: u64| word.wrapping_sub(LOWS) & !word & HIGHS;
    // A byte below 0x20: subtracting 0x20 borrows into its high bit (bytes of 0x80 and up
    // are excluded by `!word`).
    let controls = word.wrapping_sub(LOWS * 0x20) & !word & HIGHS;
    controls
        | has_zero(word ^ (LOWS * u64::from(b'"')))
        | has_zero(word ^ (LOWS * u64::from(b'\\')))
        != 0
}

/// ECMAScript `Number.prototype.toString` for a finite double (RFC 8785 §3.2.2.3).
fn ecmascript_number(number: f64) -> String {
    if number == 0.0 || !number.is_finite() {
        return "0".to_string();
    }
    let sign = if number < 0.0 { "-" } else { "" };
    // Rust's `{:e}` gives the shortest round-trip digits: `d[.ddd]e<exp>`.
    let scientific = format!("{:e}", number.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digit_count = digits.len() as i32;
    // ECMAScript's n: the position of the decimal point relative to the digits.
    let point = exponent + 1;
    let body = if digit_count <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - digit_count) as usize))
    } else if 0 < point && point <= 21 {
        let (whole, fraction) = digits.split_at(point as usize);
        format!("{whole}.{fraction}")
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let exponent_sign = if point - 1 < 0 { "-" } else { "+" };
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        format!("{first}{rest}e{exponent_sign}{}", (point - 1).abs())
    };
    format!("{sign}{body}")
}

// ---------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------

fn utc(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `YYYY-MM-DDTHH:MM:SS` of `seconds` appended to `out`, digit by digit: timestamps are a
/// tenth of an event's render when each goes through `format!` twice.
fn push_date_time(seconds: i64, out: &mut String) {
    let moment = utc(seconds);
    let year = moment.year();
    if !(0..=9999).contains(&year) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{year:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            u8::from(moment.month()),
            moment.day(),
            moment.hour(),
            moment.minute(),
            moment.second()
        );
        return;
    }
    let year = year.unsigned_abs();
    // Written as bytes, then appended at once: pushed char by char, each went through
    // the UTF-8 encoder.
    let two = |value: u8| [b'0' + value / 10, b'0' + value % 10];
    let [y1, y2] = two((year / 100) as u8);
    let [y3, y4] = two((year % 100) as u8);
    let [mo1, mo2] = two(u8::from(moment.month()));
    let [d1, d2] = two(moment.day());
    let [h1, h2] = two(moment.hour());
    let [mi1, mi2] = two(moment.minute());
    let [s1, s2] = two(moment.second());
    let text = [
        y1, y2, y3, y4, b'-', mo1, mo2, b'-', d1, d2, b'T', h1, h2, b':', mi1, mi2, b':', s1, s2,
    ];
    out.push_str(std::str::from_utf8(&text).expect("ASCII digits and separators"));
}

/// `created` / `modified`: RFC 3339 UTC with exactly millisecond precision, as STIX
/// requires for those two properties (`2020-10-25T16:22:00.000Z`).
pub fn timestamp_millis(seconds: i64) -> String {
    let mut text = String::with_capacity(24);
    push_date_time(seconds, &mut text);
    text.push_str(".000Z");
    text
}

/// Other timestamps (`valid_from`, `first_observed`, …) from Unix microseconds: whole
/// seconds as `…:00Z`, otherwise with the fraction the value carries (milliseconds or
/// microseconds).
pub fn timestamp_micros(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let mut text = String::with_capacity(27);
    push_date_time(seconds, &mut text);
    if fraction != 0 {
        let (digits, mut divisor) = if fraction % 1000 == 0 {
            (fraction / 1000, 100)
        } else {
            (fraction, 100_000)
        };
        text.push('.');
        while divisor > 0 {
            text.push(char::from(b'0' + ((digits / divisor) % 10) as u8));
            divisor /= 10;
        }
    }
    text.push('Z');
    text
}

/// [`timestamp_micros`] for Unix seconds.
pub fn timestamp_seconds(seconds: i64) -> String {
    let mut text = String::with_capacity(20);
    push_date_time(seconds, &mut text);
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id_of(sco: Value) -> String {
        let map = sco.as_object().unwrap().clone();
        sco_id(map["type"].as_str().unwrap(), &map)
    }

    #[test]
    fn spec_test_vectors() {
        assert_eq!(
            id_of(json!({"type": "ipv4-addr", "value": "198.51.100.3"})),
            "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4"
        );
        assert_eq!(
            id_of(json!({"type": "domain-name", "value": "example.com"})),
            "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7"
        );
        assert_eq!(
            id_of(json!({"type": "url", "value": "https://example.com/evil"})),
            "url--bda81b68-9775-5129-a9ec-0a5e3bacf6aa"
        );
        assert_eq!(
            id_of(json!({"type": "email-addr", "value": "bad@example.com"})),
            "email-addr--8453ab81-f2cb-56fb-8edc-36024381c6fd"
        );
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            id_of(json!({"type": "file", "hashes": {"SHA-256": sha256}})),
            "file--22f8ff52-8f62-5f03-a53a-6f50f54fd74c"
        );
        assert_eq!(
            id_of(json!({"type": "file", "hashes": {
                "SHA-256": sha256,
                "MD5": "d41d8cd98f00b204e9800998ecf8427e",
            }})),
            "file--02fff920-f614-527c-81d1-6353633a6d21"
        );
    }

    /// The id is written from the borrowed properties; it must be the UUIDv5 of the
    /// contributing properties' canonical JSON whatever their order, escapes or nesting.
    #[test]
    fn ids_are_the_digest_of_the_canonical_contributing_properties() {
        let cases = [
            json!({"type": "network-traffic", "protocols": ["tcp"], "dst_port": 443,
                   "src_ref": "ipv4-addr--28bb3599-77cd-5a82-a950-b5bc3caf07c4",
                   "dst_ref": "domain-name--bedb4899-d24b-5401-bc86-8f6b4cc18ec7",
                   "is_active": true}),
            json!({"type": "url", "value": "http://a.test/\"q\"\\p\u{1}\u{7f}\t\u{e9}\u{1f600}"}),
            json!({"type": "windows-registry-key", "values": [{"data": "x\ny"}], "key": "HKLM\\Run"}),
            json!({"type": "file", "name": "a.exe", "hashes": {"SHA-1": "da39a3ee5e6b4b0d3255bfef95601890afd80709", "SHA-256": "00"}}),
        ];
        for sco in cases {
            let map = sco.as_object().unwrap().clone();
            let sco_type = map["type"].as_str().unwrap();
            let mut contributing = Map::new();
            for &key in contributing_properties(sco_type) {
                if let Some(value) = map.get(key) {
                    let value = if key == "hashes" {
                        one_hash(value).unwrap()
                    } else {
                        value.clone()
                    };
                    contributing.insert(key.to_string(), value);
                }
            }
            let uuid = Uuid::new_v5(
                &SCO_NAMESPACE,
                canonical_json(&Value::Object(contributing)).as_bytes(),
            );
            assert_eq!(
                sco_id(sco_type, &map),
                format!("{sco_type}--{uuid}"),
                "{sco}"
            );
        }
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        // Escapes at every offset of a word, runs longer than a word, multi-byte
        // characters across word boundaries, every control character.
        let mut cases: Vec<String> = vec![
            String::new(),
            "plain-ascii-longer-than-a-word".into(),
            "indicator--0b4a2f6e-77a2-4f6b-9a3e-2c1f0d9e8b7a".into(),
            "\u{e9}t\u{e9} \u{1f600} caf\u{e9}\u{7f}\u{80}\u{ff}".into(),
        ];
        for special in [
            '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\u{0}', '\u{1f}',
        ] {
            for offset in 0..18 {
                let mut text: String = "abcdefghijklmnopq".chars().take(offset).collect();
                text.push(special);
                text.push_str("\u{e9}xyz01234567");
                cases.push(text);
            }
        }
        cases.push((0u8..0x80).map(char::from).collect());
        for case in cases {
            let mut written = String::new();
            write_json_string(&case, &mut written);
            assert_eq!(written, serde_json::to_string(&case).unwrap(), "{case:?}");
        }
    }

    #[test]
    fn objects_without_contributing_properties_get_a_reproducible_v4() {
        let sco = json!({"type": "email-message", "is_multipart": false, "to_refs": ["email-addr--8453ab81-f2cb-56fb-8edc-36024381c6fd"]});
        let first = id_of(sco.clone());
        assert_eq!(first, id_of(sco));
        let uuid = Uuid::parse_str(first.split_once("--").unwrap().1).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
    }

    #[test]
    fn canonical_json_orders_by_utf16_and_escapes_like_ecmascript() {
        // RFC 8785 §3.2.3's sorting example, reduced.
        let value =
            json!({"\u{20ac}": 1, "\r": 2, "\u{1f600}": 3, "1": 4, "\u{80}": 5, "\u{fb33}": 6});
        assert_eq!(
            canonical_json(&value),
            "{\"\\r\":2,\"1\":4,\"\u{80}\":5,\"\u{20ac}\":1,\"\u{1f600}\":3,\"\u{fb33}\":6}"
        );
        assert_eq!(
            canonical_json(&json!(["a\"b\\c\u{1}", true, null])),
            "[\"a\\\"b\\\\c\\u0001\",true,null]"
        );
    }

    #[test]
    fn numbers_follow_ecmascript() {
        for (number, text) in [
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (-1.5, "-1.5"),
            (123.456, "123.456"),
            (4.5e-300, "4.5e-300"),
        ] {
            assert_eq!(ecmascript_number(number), text);
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp_millis(1_603_642_920), "2020-10-25T16:22:00.000Z");
        assert_eq!(timestamp_seconds(1_603_642_920), "2020-10-25T16:22:00Z");
        assert_eq!(
            timestamp_micros(1_603_642_920_000_000),
            "2020-10-25T16:22:00Z"
        );
        assert_eq!(
            timestamp_micros(1_603_642_920_123_000),
            "2020-10-25T16:22:00.123Z"
        );
        assert_eq!(
            timestamp_micros(1_603_642_920_123_456),
            "2020-10-25T16:22:00.123456Z"
        );
    }

    #[test]
    fn timestamps_match_the_calendar_everywhere() {
        // Day, month, year and leap-year edges, the epoch, negative and far years (the
        // latter through the general formatter), every fraction width.
        let mut moments: Vec<i64> = vec![
            0,
            -1,
            951_782_400,
            951_868_799,
            4_107_542_399,
            253_402_300_799,
            253_402_300_800,
            -62_167_219_200,
            -62_167_219_201,
        ];
        moments.extend((0..400).map(|step| 86_399 + step * 7_776_013));
        for seconds in moments {
            let moment = utc(seconds);
            let expected = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                moment.year(),
                u8::from(moment.month()),
                moment.day(),
                moment.hour(),
                moment.minute(),
                moment.second()
            );
            assert_eq!(timestamp_millis(seconds), format!("{expected}.000Z"));
            assert_eq!(timestamp_seconds(seconds), format!("{expected}Z"));
            for (fraction, shown) in [
                (0, String::new()),
                (7_000, ".007".into()),
                (120_000, ".120".into()),
                (999_000, ".999".into()),
                (1, ".000001".into()),
                (123_456, ".123456".into()),
                (100_010, ".100010".into()),
            ] {
                assert_eq!(
                    timestamp_micros(seconds * 1_000_000 + fraction),
                    format!("{expected}{shown}Z"),
                    "{seconds} {fraction}"
                );
            }
        }
    }

    #[test]
    fn values_are_written_as_serde_json_writes_them() {
        let values = [
            json!(null),
            json!({}),
            json!([]),
            json!({"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "198.51.100.3", "spec_version": "2.1"}),
            json!({"z": 1, "a": [true, false, null, -7, 18_446_744_073_709_551_615_u64, 0.5, 1e300, -2.5e-7, 3.0],
                   "nested": {"\u{e9}\"k\n": ["x\u{1f600}", {"": ""}], "empty": {}}}),
            json!({"hashes": {"SHA-256": "ab".repeat(32), "MD5": "00"}, "size": 12, "name": "a\tb\\c"}),
        ];
        for value in values {
            let mut written = String::new();
            write_json_value(&value, &mut written);
            assert_eq!(written, value.to_string());
        }
    }
}
