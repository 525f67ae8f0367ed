//! Undo the usual ways indicators are "defanged" so they cannot be clicked or resolved:
//! `hxxp://`, `example[.]com`, `user[at]example.com`, `1.2.3[.]4`, `http[:]//…`.
//!
//! MISP refangs attribute values of network-ish types on save (its
//! `ComplexTypeTool::refangValue`) and freetext imports more aggressively. [`refang`]
//! covers both: every rewrite below only fires on a marker that does not occur in a
//! well-formed indicator, so refanging an already clean value changes nothing.
//!
//! Rewrites (markers are matched case-insensitively):
//! - `[.]` `(.)` `{.}` `[dot]` `(dot)` `{dot}` → `.`
//! - `[@]` `(@)` `{@}` `[at]` `(at)` `{at}` → `@`
//! - `[:]` → `:`, `[/]` → `/`, `[://]` → `://`, `[hxxp://]` → `http://`
//! - a scheme `hxxp`, `hxtp`, `htxp`, `h[tt]p`, `hxxxp`, `meow` (→ `http`) or `fxp` (→ `ftp`),
//!   optionally followed by `s`, at the start of a word and directly followed by `:` (or a
//!   bracketed colon as above).

/// Bracketed markers and what they stand for. Longest first where one is a prefix of another.
const MARKERS: &[(&str, &str)] = &[
    ("[hxxp://]", "http://"),
    ("[://]", "://"),
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("{dot}", "."),
    ("[@]", "@"),
    ("(@)", "@"),
    ("{@}", "@"),
    ("[at]", "@"),
    ("(at)", "@"),
    ("{at}", "@"),
    ("[:]", ":"),
    ("[/]", "/"),
];

/// Defanged URL schemes and their real spelling.
const SCHEMES: &[(&str, &str)] = &[
    ("h[tt]p", "http"),
    ("hxxxp", "http"),
    ("hxxp", "http"),
    ("hxtp", "http"),
    ("htxp", "http"),
    ("meow", "http"),
    ("fxp", "ftp"),
];

/// Replaces defanging markers in `text` by the characters they stand for.
pub fn refang(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if let Some((len, replacement)) = marker_at(rest) {
            out.push_str(replacement);
            i += len;
            continue;
        }
        let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if word_start && let Some((len, replacement)) = scheme_at(rest) {
            out.push_str(replacement);
            i += len;
            continue;
        }
        let ch = rest.chars().next().expect("non-empty rest");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// [`refang`] without allocating when there is nothing to rewrite (the common case for
/// values that were never defanged).
pub fn refang_cow(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let first_rewrite = (0..bytes.len()).find(|&i| {
        let b = bytes[i];
        match b {
            b'[' | b'(' | b'{' => marker_at(&text[i..]).is_some(),
            b'h' | b'H' | b'm' | b'M' | b'f' | b'F' => {
                let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
                word_start && scheme_at(&text[i..]).is_some()
            }
            _ => false,
        }
    });
    match first_rewrite {
        None => std::borrow::Cow::Borrowed(text),
        Some(i) => {
            let mut out = String::with_capacity(text.len());
            out.push_str(&text[..i]);
            out.push_str(&refang(&text[i..]));
            std::borrow::Cow::Owned(out)
        }
    }
}

/// Whether `text` contains anything [`refang`] would rewrite.
pub fn is_defanged(text: &str) -> bool {
    refang(text) != text
}

fn starts_with_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack.len() >= needle.len()
        && haystack.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
}

fn marker_at(rest: &str) -> Option<(usize, &'static str)> {
    let first = *rest.as_bytes().first()?;
    if !matches!(first, b'[' | b'(' | b'{') {
        return None;
    }
    MARKERS
        .iter()
        .find(|(marker, _)| starts_with_ignore_case(rest, marker))
        .map(|(marker, replacement)| (marker.len(), *replacement))
}

/// A defanged scheme at the start of `rest`, returning the length of the scheme word
/// (including a trailing `s`) and its refanged spelling (`http`/`https`/`ftp`/`ftps`).
fn scheme_at(rest: &str) -> Option<(usize, &'static str)> {
    let (word, real) = SCHEMES
        .iter()
        .find(|(word, _)| starts_with_ignore_case(rest, word))?;
    let mut len = word.len();
    let secure = rest
        .as_bytes()
        .get(len)
        .is_some_and(|b| b.eq_ignore_ascii_case(&b's'));
    if secure {
        len += 1;
    }
    let after = &rest[len..];
    let colon_follows = after.starts_with(':')
        || starts_with_ignore_case(after, "[:]")
        || starts_with_ignore_case(after, "[://]");
    if !colon_follows {
        return None;
    }
    let replacement = match (*real, secure) {
        ("http", false) => "http",
        ("http", true) => "https",
        ("ftp", false) => "ftp",
        _ => "ftps",
    };
    Some((len, replacement))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refangs_common_defanging() {
        let cases = [
            ("hxxp://example[.]com/a", "http://example.com/a"),
            ("hXXps://example[.]com", "https://example.com"),
            ("HXXPS[:]//evil(.)org", "https://evil.org"),
            ("hxxp[://]evil{.}org", "http://evil.org"),
            ("h[tt]p://x[dot]y", "http://x.y"),
            ("meow://x(dot)y", "http://x.y"),
            ("fxp://files[.]example", "ftp://files.example"),
            ("[hxxp://]example.com", "http://example.com"),
            ("1.2.3[.]4", "1.2.3.4"),
            ("1[.]2[.]3[.]4", "1.2.3.4"),
            ("user[at]example[.]com", "user@example.com"),
            ("user[@]example.com", "user@example.com"),
            ("user(AT)example{DOT}com", "user@example.com"),
            ("example[.]com[/]path", "example.com/path"),
            (
                "see hxxp://a[.]b and hxxps://c[.]d",
                "see http://a.b and https://c.d",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(refang(input), expected, "{input}");
        }
    }

    #[test]
    fn leaves_clean_text_alone() {
        let cases = [
            "http://example.com/a?b[1]=2",
            "https://example.com",
            "The meow of a cat",
            "thxxp://not-a-scheme",
            "hxxpx://nope",
            "file[.txt",
            "array[0].field",
            "ünïcödé [x] (y) {z}",
            "",
            "[",
        ];
        for input in cases {
            assert_eq!(refang(input), input, "{input}");
            assert!(!is_defanged(input));
        }
    }

    #[test]
    fn refang_cow_agrees_and_borrows_clean_text() {
        let inputs = [
            "hxxp://example[.]com/a",
            "see hxxp://a[.]b and hxxps://c[.]d",
            "x hxxp://a",
            "thxxp://not-a-scheme",
            "user(AT)example{DOT}com",
            "1.2.3[.]4",
            "http://example.com/a?b[1]=2",
            "ünïcödé [x] (y) {z}",
            "",
        ];
        for input in inputs {
            let cow = refang_cow(input);
            assert_eq!(cow, refang(input), "{input}");
            assert_eq!(
                matches!(cow, std::borrow::Cow::Borrowed(_)),
                !is_defanged(input),
                "{input}"
            );
        }
    }

    #[test]
    fn is_idempotent() {
        for input in ["hxxp://a[.]b", "x[at]y[.]z", "hxxps[:]//q"] {
            let once = refang(input);
            assert_eq!(refang(&once), once);
            assert!(is_defanged(input));
        }
    }
}
