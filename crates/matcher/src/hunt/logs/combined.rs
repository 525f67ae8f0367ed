//! Apache/nginx access logs, common and combined (hunt-semantics §2.3):
//! `client ident user [time] "request" status bytes`, then either ` "referer" "user_agent"`
//! (and optional trailing whitespace) or anything else, which is ignored.

use super::super::index::ValueForm;
use super::time::parse_apache_time;
use super::{Line, LineOutcome, is_space};

type Span = (usize, usize);

/// Where the parts of an access log line are.
pub(crate) struct AccessLine {
    client: Span,
    ident: Span,
    user: Span,
    time: Span,
    request: Span,
    status: Span,
    bytes: Span,
    /// Present only when the whole ` "referer" "user_agent"` tail fits.
    referer_and_agent: Option<(Span, Span)>,
}

/// A run of at least one non-whitespace byte from `start`; its end.
fn token(bytes: &[u8], start: usize) -> Option<usize> {
    let length = bytes[start.min(bytes.len())..]
        .iter()
        .take_while(|&&byte| !is_space(byte) && byte != b'\n')
        .count();
    (length > 0).then_some(start + length)
}

fn expect(bytes: &[u8], at: usize, byte: u8) -> Option<usize> {
    (bytes.get(at) == Some(&byte)).then_some(at + 1)
}

/// A quoted part starting at its opening quote (backslash escapes any byte; nothing is
/// unescaped): the span inside the quotes and the position after the closing quote.
fn quoted(bytes: &[u8], at: usize) -> Option<(Span, usize)> {
    let start = expect(bytes, at, b'"')?;
    let mut position = start;
    loop {
        match bytes.get(position)? {
            b'"' => return Some(((start, position), position + 1)),
            b'\\' => {
                bytes.get(position + 1)?;
                position += 2;
            }
            _ => position += 1,
        }
    }
}

/// The line's parts, or None when it does not fit the grammar.
pub(crate) fn parse(bytes: &[u8]) -> Option<AccessLine> {
    let client_end = token(bytes, 0)?;
    let ident_start = expect(bytes, client_end, b' ')?;
    let ident_end = token(bytes, ident_start)?;
    let user_start = expect(bytes, ident_end, b' ')?;
    let user_end = token(bytes, user_start)?;
    let open = expect(bytes, user_end, b' ')?;
    let time_start = expect(bytes, open, b'[')?;
    let time_end = time_start + memchr::memchr(b']', &bytes[time_start..])?;
    let request_quote = expect(bytes, time_end + 1, b' ')?;
    let (request, after_request) = quoted(bytes, request_quote)?;
    let status_start = expect(bytes, after_request, b' ')?;
    let status_end = token(bytes, status_start)?;
    let bytes_start = expect(bytes, status_end, b' ')?;
    let bytes_end = token(bytes, bytes_start)?;
    let referer_and_agent = (|| {
        let referer_quote = expect(bytes, bytes_end, b' ')?;
        let (referer, after_referer) = quoted(bytes, referer_quote)?;
        let agent_quote = expect(bytes, after_referer, b' ')?;
        let (agent, after_agent) = quoted(bytes, agent_quote)?;
        bytes[after_agent..]
            .iter()
            .all(|&byte| is_space(byte))
            .then_some((referer, agent))
    })();
    Some(AccessLine {
        client: (0, client_end),
        ident: (ident_start, ident_end),
        user: (user_start, user_end),
        time: (time_start, time_end),
        request,
        status: (status_start, status_end),
        bytes: (bytes_start, bytes_end),
        referer_and_agent,
    })
}

pub(crate) fn parse_line(
    line: Line<'_>,
    on_value: &mut impl FnMut(&str, &str, ValueForm),
) -> LineOutcome {
    let bytes = line.bytes;
    let Some(access) = parse(bytes) else {
        return LineOutcome::Malformed;
    };
    let mut report = |field: &str, (start, end): Span, form: ValueForm| {
        let value = &bytes[start..end];
        if !value.is_empty()
            && value != b"-"
            && let Some(text) = line.text(start, end)
        {
            on_value(field, text, form);
        }
    };
    report("client", access.client, ValueForm::Plain);
    report("ident", access.ident, ValueForm::Plain);
    report("user", access.user, ValueForm::Plain);
    let (request_start, request_end) = access.request;
    let mut parts = [(0, 0); 3];
    let mut part_count = 0;
    let mut part_start = request_start;
    for position in memchr::memchr_iter(b' ', &bytes[request_start..request_end])
        .map(|offset| request_start + offset)
        .chain(std::iter::once(request_end))
    {
        if part_count == 3 {
            part_count = 4;
            break;
        }
        parts[part_count] = (part_start, position);
        part_count += 1;
        part_start = position + 1;
    }
    if part_count == 3 {
        let [method, target, protocol] = parts;
        let target_form = if &bytes[method.0..method.1] == b"CONNECT" {
            ValueForm::Authority
        } else {
            ValueForm::Plain
        };
        report("method", method, ValueForm::Plain);
        report("target", target, target_form);
        report("protocol", protocol, ValueForm::Plain);
    }
    report("status", access.status, ValueForm::Plain);
    report("bytes", access.bytes, ValueForm::Plain);
    if let Some((referer, agent)) = access.referer_and_agent {
        report("referer", referer, ValueForm::Plain);
        report("user_agent", agent, ValueForm::Plain);
    }
    LineOutcome::Data {
        ts: parse_apache_time(&bytes[access.time.0..access.time.1]),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{owned, pairs, values};
    use super::super::{LineOutcome, LineParser, LogFormat, LogOptions};
    use crate::hunt::index::ValueForm;

    fn parser() -> LineParser {
        LineParser::new(LogFormat::Combined, &LogOptions::default())
    }

    #[test]
    fn the_connect_example_of_the_spec() {
        let mut parser = parser();
        let (outcome, found) = values(
            &mut parser,
            "9.9.9.9 - - [01/Mar/2026:17:00:00 -0700] \"CONNECT evil.com:443 HTTP/1.1\" 200 5 \"-\" \"x",
        );
        // 2026-03-02T00:00:00Z
        assert_eq!(
            outcome,
            LineOutcome::Data {
                ts: Some(1_772_409_600_000_000)
            }
        );
        let expected: Vec<_> = [
            ("client", "9.9.9.9", ValueForm::Plain),
            ("method", "CONNECT", ValueForm::Plain),
            ("target", "evil.com:443", ValueForm::Authority),
            ("protocol", "HTTP/1.1", ValueForm::Plain),
            ("status", "200", ValueForm::Plain),
            ("bytes", "5", ValueForm::Plain),
        ]
        .iter()
        .map(|(field, value, form)| (field.to_string(), value.to_string(), *form))
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn combined_line_fields() {
        let mut parser = parser();
        let line = "83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /presentations/x.png HTTP/1.1\" 200 203023 \"http://semicomplete.com/presentations/\" \"Mozilla/5.0 (+http://evil.com/bot)\"";
        assert_eq!(
            pairs(&mut parser, line),
            owned(&[
                ("client", "83.149.9.216"),
                ("method", "GET"),
                ("target", "/presentations/x.png"),
                ("protocol", "HTTP/1.1"),
                ("status", "200"),
                ("bytes", "203023"),
                ("referer", "http://semicomplete.com/presentations/"),
                ("user_agent", "Mozilla/5.0 (+http://evil.com/bot)"),
            ])
        );
        assert_eq!(
            values(&mut parser, line).0,
            LineOutcome::Data {
                ts: Some(1_431_857_103_000_000)
            }
        );
    }

    #[test]
    fn common_format_and_ignored_tails() {
        let mut parser = parser();
        assert_eq!(
            pairs(
                &mut parser,
                "127.0.0.1 ident frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326"
            ),
            owned(&[
                ("client", "127.0.0.1"),
                ("ident", "ident"),
                ("user", "frank"),
                ("method", "GET"),
                ("target", "/apache_pb.gif"),
                ("protocol", "HTTP/1.0"),
                ("status", "200"),
                ("bytes", "2326"),
            ])
        );
        // Trailing whitespace after the user agent is allowed; anything else drops the tail.
        let base = "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1";
        let tail_fields = |parser: &mut LineParser, tail: &str| {
            pairs(parser, &format!("{base}{tail}"))
                .into_iter()
                .filter(|(field, _)| field == "referer" || field == "user_agent")
                .collect::<Vec<_>>()
        };
        assert_eq!(
            tail_fields(&mut parser, " \"r.example\" \"ua\" \t "),
            owned(&[("referer", "r.example"), ("user_agent", "ua")])
        );
        for ignored in [
            " \"r.example\" \"ua\" extra",
            " \"r.example\"",
            " \"r.example\"  \"ua\"",
            "  \"r.example\" \"ua\"",
            " \"r.example\" \"ua",
            " r.example ua",
        ] {
            assert_eq!(tail_fields(&mut parser, ignored), owned(&[]), "{ignored}");
            assert_ne!(
                values(&mut parser, &format!("{base}{ignored}")).0,
                LineOutcome::Malformed
            );
        }
    }

    #[test]
    fn quoted_parts_keep_their_escapes() {
        let mut parser = parser();
        assert_eq!(
            pairs(
                &mut parser,
                r#"1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a\"b HTTP/1.0" 200 1 "r\"x" "ua \"q\"""#
            ),
            owned(&[
                ("client", "1.2.3.4"),
                ("method", "GET"),
                ("target", r#"/a\"b"#),
                ("protocol", "HTTP/1.0"),
                ("status", "200"),
                ("bytes", "1"),
                ("referer", r#"r\"x"#),
                ("user_agent", r#"ua \"q\""#),
            ])
        );
    }

    #[test]
    fn requests_without_exactly_three_parts_give_no_fields() {
        let mut parser = parser();
        for request in [
            "",
            "GET /",
            "GET  / HTTP/1.1",
            "GET / HTTP/1.1 x",
            "\\x16\\x03\\x01",
        ] {
            let line =
                format!("1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"{request}\" 400 0 \"-\" \"-\"");
            let (outcome, found) = values(&mut parser, &line);
            assert!(matches!(outcome, LineOutcome::Data { .. }), "{line}");
            assert!(
                found.iter().all(|(field, _, _)| !matches!(
                    field.as_str(),
                    "method" | "target" | "protocol"
                )),
                "{line}"
            );
        }
        // Three parts with an empty one: the empty part is simply not a value.
        assert_eq!(
            pairs(
                &mut parser,
                "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET  HTTP/1.1\" 400 0"
            )[1..3],
            owned(&[("method", "GET"), ("protocol", "HTTP/1.1")])
        );
    }

    #[test]
    fn lines_outside_the_grammar_yield_nothing() {
        let mut parser = parser();
        for bad in [
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200",
            "1.2.3.4  - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\" 200 1",
            "1.2.3.4 - - 10/Oct/2000:13:55:36 -0700 \"GET / HTTP/1.0\" 200 1",
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] GET / HTTP/1.0 200 1",
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0 200 1",
            "1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] \"GET / HTTP/1.0\\\" 200 1",
            "hello",
        ] {
            let (outcome, found) = values(&mut parser, bad);
            assert_eq!(outcome, LineOutcome::Malformed, "{bad}");
            assert!(found.is_empty());
        }
        // A time that does not parse (or is empty) leaves the line without a timestamp.
        assert_eq!(
            values(&mut parser, "1.2.3.4 - - [] \"GET / HTTP/1.0\" 200 1").0,
            LineOutcome::Data { ts: None }
        );
        assert_eq!(
            values(
                &mut parser,
                "1.2.3.4 - - [yesterday] \"GET / HTTP/1.0\" 200 1"
            )
            .0,
            LineOutcome::Data { ts: None }
        );
    }
}
