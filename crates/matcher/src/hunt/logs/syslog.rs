//! Authentication logs in syslog files: RFC 3164 (`Mar  1 10:00:00 host prog[pid]: msg`),
//! RFC 5424 (`<pri>1 2026-03-01T10:00:00Z host app procid msgid sd msg`) and the ISO form
//! rsyslog writes (`2026-03-01T10:00:00.123+01:00 host prog[pid]: msg`).
//!
//! Fields: `host`, `program`, and only the structured parts of messages whose shape is
//! known — never words of free text:
//! - sshd: the address before `port <n>` (`client`, or `server` after `on`), an address
//!   ending the message after `from`/`by` (`client`), `user` in `for <user> from`,
//!   `user <user> from` and `user <user> <address> port`, and `getaddrinfo for <name>
//!   [<address>]` (`client_name`, `client`);
//! - PAM (`pam_…: …; key=value …`): every `key=value` after the `; ` is field `key`.

use super::super::index::{Micros, ValueForm};
use super::time::{
    civil_to_micros, digits, month_from_abbreviation, parse_iso8601_micros, valid_civil,
};
use super::{Line, LineOutcome};

type Span = (usize, usize);

#[derive(Clone, Debug)]
pub(crate) struct SyslogParser {
    year: i64,
}

/// The parts of a syslog line before its message.
struct Header {
    ts: Option<Micros>,
    host: Option<Span>,
    program: Option<Span>,
    message_start: usize,
    /// Whether a `prog[pid]:`/`prog:` tag (or RFC 5424's fixed header) was found.
    tagged: bool,
}

fn current_year() -> i64 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64);
    // The civil year of a day count (the inverse of days_from_civil, year only).
    let days = seconds.div_euclid(86_400) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let year = year_of_era + era * 400;
    if shifted_month >= 10 { year + 1 } else { year }
}

fn token_end(bytes: &[u8], start: usize) -> usize {
    start
        + bytes[start.min(bytes.len())..]
            .iter()
            .take_while(|&&byte| byte != b' ')
            .count()
}

fn expect_space(bytes: &[u8], at: usize) -> Option<usize> {
    (bytes.get(at) == Some(&b' ')).then_some(at + 1)
}

fn nil_or(bytes: &[u8], span: Span) -> Option<Span> {
    let value = &bytes[span.0..span.1];
    (!value.is_empty() && value != b"-").then_some(span)
}

/// `<pri>`: its end, or 0 when absent.
fn priority_end(bytes: &[u8]) -> Option<usize> {
    if bytes.first() != Some(&b'<') {
        return Some(0);
    }
    let close = memchr::memchr(b'>', &bytes[..bytes.len().min(5)])?;
    let priority = digits(&bytes[1..close])?;
    (priority <= 191).then_some(close + 1)
}

/// `Mmm dd hh:mm:ss ` (day padded with a space or a zero): the time and where the host
/// starts.
fn rfc3164_time(bytes: &[u8], start: usize, year: i64) -> Option<(Option<Micros>, usize)> {
    let stamp = bytes.get(start..start + 16)?;
    let month = month_from_abbreviation(&stamp[0..3])?;
    if stamp[3] != b' ' || stamp[9] != b':' || stamp[12] != b':' || stamp[15] != b' ' {
        return None;
    }
    let day = match &stamp[4..6] {
        [b' ', digit] => digits(&[*digit])?,
        two => digits(two)?,
    };
    if stamp[6] != b' ' {
        return None;
    }
    let hour = digits(&stamp[7..9])?;
    let minute = digits(&stamp[10..12])?;
    let second = digits(&stamp[13..15])?;
    let ts = valid_civil(year, month, day, hour, minute, second)
        .then(|| civil_to_micros(year, month, day, hour, minute, second));
    Some((ts, start + 16))
}

/// The tag after the host: `prog[pid]: ` or `prog: `; the program and where the message
/// starts.
fn tag(bytes: &[u8], start: usize) -> Option<(Span, usize)> {
    let name_end = start
        + bytes[start..]
            .iter()
            .take_while(|&&byte| !matches!(byte, b' ' | b'[' | b':'))
            .count();
    if name_end == start {
        return None;
    }
    let mut position = name_end;
    if bytes.get(position) == Some(&b'[') {
        position += memchr::memchr(b']', &bytes[position..])? + 1;
    }
    if bytes.get(position) != Some(&b':') {
        return None;
    }
    position += 1;
    if bytes.get(position) == Some(&b' ') {
        position += 1;
    }
    Some(((start, name_end), position))
}

/// Host (unless the first token is already the tag), tag and message of the BSD forms.
fn host_and_tag(bytes: &[u8], start: usize) -> Option<(Option<Span>, Option<Span>, usize, bool)> {
    let first_end = token_end(bytes, start);
    if first_end == start {
        return None;
    }
    if bytes[first_end - 1] == b':'
        && let Some((program, message_start)) = tag(bytes, start)
    {
        return Some((None, Some(program), message_start, true));
    }
    let host = Some((start, first_end));
    let Some(after_host) = expect_space(bytes, first_end) else {
        return Some((host, None, bytes.len(), false));
    };
    match tag(bytes, after_host) {
        Some((program, message_start)) => Some((host, Some(program), message_start, true)),
        None => Some((host, None, after_host, false)),
    }
}

/// RFC 5424 structured data (`-` or `[…]…`): its end.
fn structured_data_end(bytes: &[u8], start: usize) -> Option<usize> {
    if bytes.get(start) == Some(&b'-') {
        return Some(start + 1);
    }
    let mut position = start;
    while bytes.get(position) == Some(&b'[') {
        let mut in_quotes = false;
        position += 1;
        loop {
            match *bytes.get(position)? {
                b'\\' if in_quotes => position += 1,
                b'"' => in_quotes = !in_quotes,
                b']' if !in_quotes => break,
                _ => {}
            }
            position += 1;
        }
        position += 1;
    }
    (position > start).then_some(position)
}

fn parse_header(bytes: &[u8], year: i64) -> Option<Header> {
    let start = priority_end(bytes)?;
    if start > 0 && bytes[start..].starts_with(b"1 ") {
        let stamp_start = start + 2;
        let stamp_end = token_end(bytes, stamp_start);
        let stamp = &bytes[stamp_start..stamp_end];
        let ts = if stamp == b"-" {
            None
        } else {
            Some(parse_iso8601_micros(std::str::from_utf8(stamp).ok()?)?)
        };
        let mut fields = [(0, 0); 4];
        let mut position = stamp_end;
        for field in &mut fields {
            position = expect_space(bytes, position)?;
            let end = token_end(bytes, position);
            if end == position {
                return None;
            }
            *field = (position, end);
            position = end;
        }
        let [host, app, _procid, _msgid] = fields;
        position = structured_data_end(bytes, expect_space(bytes, position)?)?;
        let mut message_start = match bytes.get(position) {
            None => position,
            Some(b' ') => position + 1,
            Some(_) => return None,
        };
        if bytes[message_start..].starts_with("\u{feff}".as_bytes()) {
            message_start += 3;
        }
        return Some(Header {
            ts,
            host: nil_or(bytes, host),
            program: nil_or(bytes, app),
            message_start,
            tagged: true,
        });
    }
    let (ts, host_start) = match rfc3164_time(bytes, start, year) {
        Some(found) => found,
        None => {
            let stamp_end = token_end(bytes, start);
            let stamp = std::str::from_utf8(&bytes[start..stamp_end]).ok()?;
            if !stamp.contains(['T', 't']) {
                return None;
            }
            let ts = parse_iso8601_micros(stamp)?;
            (Some(ts), expect_space(bytes, stamp_end)?)
        }
    };
    let (host, program, message_start, tagged) = host_and_tag(bytes, host_start)?;
    Some(Header {
        ts,
        host,
        program,
        message_start,
        tagged,
    })
}

/// A syslog line with a timestamp, a host and a program tag.
pub(crate) fn looks_like_syslog(line: &[u8]) -> bool {
    parse_header(line, 2000).is_some_and(|header| header.tagged && header.host.is_some())
}

impl SyslogParser {
    pub(crate) fn new(options: &super::LogOptions) -> Self {
        SyslogParser {
            year: options.syslog_year.map_or_else(current_year, i64::from),
        }
    }

    pub(crate) fn parse(
        &mut self,
        line: Line<'_>,
        on_value: &mut impl FnMut(&str, &str, ValueForm),
    ) -> LineOutcome {
        let bytes = line.bytes;
        let Some(header) = parse_header(bytes, self.year) else {
            return LineOutcome::Malformed;
        };
        let mut report = |field: &str, (start, end): Span| {
            if start < end
                && let Some(text) = line.text(start, end)
            {
                on_value(field, text, ValueForm::Plain);
            }
        };
        if let Some(host) = header.host {
            report("host", host);
        }
        if let Some(program) = header.program {
            report("program", program);
            if bytes[program.0..program.1].starts_with(b"sshd") {
                sshd_fields(bytes, header.message_start, &mut report);
            }
        }
        if bytes[header.message_start..].starts_with(b"pam_") {
            pam_fields(bytes, header.message_start, &mut report);
        }
        LineOutcome::Data { ts: header.ts }
    }
}

const MAX_TOKENS: usize = 40;

/// The message's words (split on spaces), at most [`MAX_TOKENS`]: the structured parts of
/// sshd messages all come early.
fn words(bytes: &[u8], start: usize) -> ([Span; MAX_TOKENS], usize) {
    let mut spans = [(0, 0); MAX_TOKENS];
    let mut count = 0;
    let mut position = start;
    while count < MAX_TOKENS && position < bytes.len() {
        let end = token_end(bytes, position);
        if end > position {
            spans[count] = (position, end);
            count += 1;
        }
        position = end + 1;
    }
    (spans, count)
}

fn sshd_fields(bytes: &[u8], message_start: usize, report: &mut impl FnMut(&str, Span)) {
    let (spans, count) = words(bytes, message_start);
    let word = |index: usize| -> &[u8] {
        if index < count {
            &bytes[spans[index].0..spans[index].1]
        } else {
            b""
        }
    };
    for index in 0..count {
        let current = word(index);
        // `<address> port <n>`
        if index >= 1
            && word(index + 1) == b"port"
            && word(index + 2).first().is_some_and(u8::is_ascii_digit)
            && !matches!(current, b"from" | b"by" | b"with" | b"on")
        {
            let field = if index >= 1 && word(index - 1) == b"on" {
                "server"
            } else {
                "client"
            };
            report(field, spans[index]);
        }
        // `from <address>` ending the message, `by <address> [preauth]` (older sshd, no
        // port).
        let previous = if index >= 1 { word(index - 1) } else { b"" };
        let ends = index + 1 == count;
        let preauth = word(index + 1) == b"[preauth]";
        if (previous == b"from" && (ends || preauth)) || (previous == b"by" && preauth) {
            report("client", spans[index]);
        }
        // `for <user> from`, `user <user> from`, `user <user> <address> port`
        if index >= 1
            && ((word(index - 1) == b"for" && current != b"invalid" && word(index + 1) == b"from")
                || (word(index - 1) == b"user"
                    && (word(index + 1) == b"from" || word(index + 2) == b"port")))
        {
            report("user", spans[index]);
        }
        // `getaddrinfo for <name> [<address>] failed`
        if index >= 2 && word(index - 2) == b"getaddrinfo" && word(index - 1) == b"for" {
            report("client_name", spans[index]);
            let next = word(index + 1);
            if next.len() > 2 && next.starts_with(b"[") && next.ends_with(b"]") {
                let (start, end) = spans[index + 1];
                report("client", (start + 1, end - 1));
            }
        }
    }
}

/// `pam_x(service:kind): text; key=value key=value …`
fn pam_fields(bytes: &[u8], message_start: usize, report: &mut impl FnMut(&str, Span)) {
    let Some(semicolon) = memchr::memmem::find(&bytes[message_start..], b"; ") else {
        return;
    };
    let (spans, count) = words(bytes, message_start + semicolon + 2);
    for &(start, end) in &spans[..count] {
        let Some(equals) = memchr::memchr(b'=', &bytes[start..end]) else {
            continue;
        };
        let key = &bytes[start..start + equals];
        if key.is_empty()
            || !key
                .iter()
                .all(|byte| byte.is_ascii_alphanumeric() || *byte == b'_')
        {
            continue;
        }
        let Ok(key) = std::str::from_utf8(key) else {
            continue;
        };
        report(key, (start + equals + 1, end));
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{owned, pairs, values};
    use super::super::{LineOutcome, LineParser, LogFormat, LogOptions};

    fn parser() -> LineParser {
        LineParser::new(
            LogFormat::Syslog,
            &LogOptions {
                syslog_year: Some(2026),
                ..LogOptions::default()
            },
        )
    }

    fn ts(parser: &mut LineParser, line: &str) -> Option<i64> {
        match values(parser, line).0 {
            LineOutcome::Data { ts } => ts,
            other => panic!("{other:?} for {line}"),
        }
    }

    #[test]
    fn rfc3164_header_and_time() {
        let mut parser = parser();
        let line = "Mar  2 00:00:10 gw sshd[4242]: Accepted password for alice from 1.2.3.4 port 52100 ssh2";
        assert_eq!(ts(&mut parser, line), Some(1_772_409_610_000_000));
        assert_eq!(
            pairs(&mut parser, line),
            owned(&[
                ("host", "gw"),
                ("program", "sshd"),
                ("user", "alice"),
                ("client", "1.2.3.4"),
            ])
        );
        assert_eq!(
            ts(&mut parser, "Mar 02 00:00:10 gw kernel: something"),
            Some(1_772_409_610_000_000)
        );
        assert_eq!(
            pairs(
                &mut parser,
                "<38>Mar 12 00:00:10 gw CRON[12]: (root) CMD (evil.com)"
            ),
            owned(&[("host", "gw"), ("program", "CRON")])
        );
        // Without a host, the first word is the tag.
        assert_eq!(
            pairs(
                &mut parser,
                "Mar  2 00:00:10 sshd[1]: Invalid user x from 5.6.7.8"
            ),
            owned(&[("program", "sshd"), ("user", "x"), ("client", "5.6.7.8")])
        );
        // A date that does not exist keeps the line, without a time.
        assert_eq!(ts(&mut parser, "Feb 30 00:00:10 gw sshd[1]: x"), None);
        let other_year = LineParser::new(
            LogFormat::Syslog,
            &LogOptions {
                syslog_year: Some(2025),
                ..LogOptions::default()
            },
        );
        assert_eq!(
            ts(&mut other_year.clone(), "Mar  2 00:00:10 gw sshd[1]: x"),
            Some(1_740_873_610_000_000)
        );
    }

    #[test]
    fn rfc5424_and_iso_forms() {
        let mut parser = parser();
        let line = "<34>1 2026-03-02T01:00:10.5+01:00 gw.example sshd 42 ID47 [origin ip=\"9.9.9.9\" x=\"a\\]b\"] Failed password for invalid user bob from 2001:db8::1 port 22 ssh2";
        assert_eq!(ts(&mut parser, line), Some(1_772_409_610_500_000));
        assert_eq!(
            pairs(&mut parser, line),
            owned(&[
                ("host", "gw.example"),
                ("program", "sshd"),
                ("user", "bob"),
                ("client", "2001:db8::1"),
            ])
        );
        assert_eq!(pairs(&mut parser, "<34>1 - - - - - -"), owned(&[]));
        assert_eq!(ts(&mut parser, "<34>1 - - - - - -"), None);
        let iso = "2026-03-02T00:00:10.123456+00:00 gw sshd[7]: Connection closed by authenticating user root 10.1.2.3 port 22 [preauth]";
        assert_eq!(ts(&mut parser, iso), Some(1_772_409_610_123_456));
        assert_eq!(
            pairs(&mut parser, iso),
            owned(&[
                ("host", "gw"),
                ("program", "sshd"),
                ("user", "root"),
                ("client", "10.1.2.3"),
            ])
        );
    }

    #[test]
    fn sshd_messages() {
        let mut parser = parser();
        let fields = |parser: &mut LineParser, message: &str| {
            pairs(parser, &format!("Mar  2 00:00:10 gw sshd[1]: {message}"))[2..].to_vec()
        };
        assert_eq!(
            fields(
                &mut parser,
                "Connection from 1.2.3.4 port 5555 on 10.0.0.1 port 22 rdomain \"\""
            ),
            owned(&[("client", "1.2.3.4"), ("server", "10.0.0.1")])
        );
        assert_eq!(
            fields(
                &mut parser,
                "Received disconnect from 1.2.3.4 port 22:11: Bye Bye [preauth]"
            ),
            owned(&[("client", "1.2.3.4")])
        );
        assert_eq!(
            fields(&mut parser, "Disconnected from user alice 1.2.3.4 port 22"),
            owned(&[("user", "alice"), ("client", "1.2.3.4")])
        );
        assert_eq!(
            fields(&mut parser, "Connection closed by 1.2.3.4 [preauth]"),
            owned(&[("client", "1.2.3.4")])
        );
        assert_eq!(
            fields(
                &mut parser,
                "reverse mapping checking getaddrinfo for bad.example [1.2.3.4] failed - POSSIBLE BREAK-IN ATTEMPT!"
            ),
            owned(&[("client_name", "bad.example"), ("client", "1.2.3.4")])
        );
        // Free text stays free text.
        assert_eq!(
            fields(&mut parser, "Server listening on 0.0.0.0 evil.com now"),
            owned(&[])
        );
        assert_eq!(
            fields(
                &mut parser,
                "error: kex_exchange_identification: read: Connection reset by peer"
            ),
            owned(&[])
        );
    }

    #[test]
    fn pam_key_values() {
        let mut parser = parser();
        assert_eq!(
            pairs(
                &mut parser,
                "Mar  2 00:00:10 gw sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=evil.example  user=root"
            ),
            owned(&[
                ("host", "gw"),
                ("program", "sshd"),
                ("uid", "0"),
                ("euid", "0"),
                ("tty", "ssh"),
                ("rhost", "evil.example"),
                ("user", "root"),
            ])
        );
        assert_eq!(
            pairs(
                &mut parser,
                "Mar  2 00:00:10 gw login[9]: pam_unix(login:session): session opened for user x"
            ),
            owned(&[("host", "gw"), ("program", "login")])
        );
    }

    #[test]
    fn lines_that_are_not_syslog() {
        let mut parser = parser();
        for bad in [
            "hello world",
            "Mar  2 00:00:10",
            "Mar 2 00:00:10 gw sshd[1]: x",
            "Foo  2 00:00:10 gw sshd[1]: x",
            "2026-03-02 gw sshd[1]: x",
            "<999>Mar  2 00:00:10 gw sshd[1]: x",
            "<34>1 2026-03-02T00:00:00Z gw",
        ] {
            assert_eq!(values(&mut parser, bad).0, LineOutcome::Malformed, "{bad}");
        }
    }

    #[test]
    fn current_year_is_plausible() {
        let year = super::current_year();
        assert!((2024..3000).contains(&year), "{year}");
    }
}
