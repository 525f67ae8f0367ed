//! MISP stores regex warninglist entries as PHP `preg_match` patterns: a delimiter, the
//! expression, the closing delimiter, then modifier letters (`/^abuse@.*$/i`). This turns
//! one into a [`Regex`] with the same meaning, or says why it cannot.

use regex::Regex;

/// Compiles a delimited PCRE pattern. The error text is meant to be shown to an operator.
pub(crate) fn compile(pattern: &str) -> Result<Regex, String> {
    let (body, modifiers) = split_delimited(pattern)?;
    let mut inline_flags = String::new();
    let mut anchored = false;
    for modifier in modifiers.chars() {
        match modifier {
            'i' | 'm' | 's' | 'x' | 'U' => inline_flags.push(modifier),
            'A' => anchored = true,
            // `u` (UTF-8) is how the regex crate always works, `D` (dollar only at the very
            // end) is its behaviour without `m`, and `S` (extra study) changes nothing.
            'u' | 'D' | 'S' => {}
            // PHP ignores line breaks and spaces after the closing delimiter.
            ' ' | '\n' | '\r' => {}
            other => {
                return Err(format!(
                    "the PCRE modifier `{other}` is not supported (supported: i, m, s, x, U, A, u, D, S)"
                ));
            }
        }
    }
    let mut expression = String::with_capacity(body.len() + 16);
    if !inline_flags.is_empty() {
        expression.push_str("(?");
        expression.push_str(&inline_flags);
        expression.push(')');
    }
    if anchored {
        expression.push_str(r"\A(?:");
        expression.push_str(body);
        expression.push(')');
    } else {
        expression.push_str(body);
    }
    Regex::new(&expression).map_err(|error| error.to_string())
}

/// `(expression, modifiers)` of a delimited pattern. Bracket delimiters close with their
/// partner and may nest, as in PHP; any other delimiter closes at its next unescaped
/// occurrence.
fn split_delimited(pattern: &str) -> Result<(&str, &str), String> {
    let trimmed = pattern.trim_start();
    let open = trimmed
        .chars()
        .next()
        .ok_or_else(|| "the pattern is empty".to_string())?;
    if open.is_alphanumeric() || open == '\\' {
        return Err(format!(
            "a PCRE pattern starts with a delimiter such as `/`, not `{open}`"
        ));
    }
    let close = match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '<' => '>',
        other => other,
    };
    let rest = &trimmed[open.len_utf8()..];
    let mut depth = 0usize;
    let mut escaped = false;
    for (index, character) in rest.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if character == '\\' {
            escaped = true;
        } else if character == close && depth == 0 {
            return Ok((&rest[..index], &rest[index + close.len_utf8()..]));
        } else if character == close {
            depth -= 1;
        } else if character == open && open != close {
            depth += 1;
        }
    }
    Err(format!("no closing delimiter `{close}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misp_contact_address_pattern() {
        let regex = compile(r"/^(security|noc|soc|abuse)\@.*\..*$/i").unwrap();
        assert!(regex.is_match("ABUSE@example.org"));
        assert!(regex.is_match("noc@example.org"));
        assert!(!regex.is_match("alice@example.org"));
        assert!(!regex.is_match("abuse@localhost"));
    }

    #[test]
    fn delimiters_and_escaped_delimiters() {
        let slash = compile(r"/^https?:\/\/evil\.test\//").unwrap();
        assert!(slash.is_match("https://evil.test/x"));
        let hash = compile("#^a/b$#").unwrap();
        assert!(hash.is_match("a/b"));
        let braces = compile("{^a{2}$}").unwrap();
        assert!(braces.is_match("aa"));
        assert!(!braces.is_match("a"));
    }

    #[test]
    fn modifiers() {
        assert!(compile("/^b/m").unwrap().is_match("a\nb"));
        assert!(!compile("/^b/").unwrap().is_match("a\nb"));
        assert!(compile("/a.b/s").unwrap().is_match("a\nb"));
        let anchored = compile("/b/A").unwrap();
        assert!(anchored.is_match("bc"));
        assert!(!anchored.is_match("abc"));
        assert!(compile(r"/\d+/u").unwrap().is_match("42"));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(compile("").unwrap_err().contains("empty"));
        assert!(compile("abc").unwrap_err().contains("delimiter"));
        assert!(compile("/abc").unwrap_err().contains("closing delimiter"));
        assert!(compile("/abc/e").unwrap_err().contains("modifier `e`"));
        assert!(compile("/(abc/").is_err());
    }
}
