//! Squid's native access.log (hunt-semantics §2.4): whitespace-separated columns
//! `time elapsed client result bytes method url user hierarchy/peer type`.

use super::super::index::ValueForm;
use super::time::parse_epoch_seconds;
use super::{Line, LineOutcome, is_space};

const COLUMNS: usize = 10;

/// The first `N` whitespace-separated columns as byte ranges, and how many there were
/// (at most `N`).
fn columns<const N: usize>(bytes: &[u8]) -> ([(usize, usize); N], usize) {
    let mut spans = [(0, 0); N];
    let mut count = 0;
    let mut position = 0;
    while count < N {
        while position < bytes.len() && is_space(bytes[position]) {
            position += 1;
        }
        if position == bytes.len() {
            break;
        }
        let start = position;
        while position < bytes.len() && !is_space(bytes[position]) {
            position += 1;
        }
        spans[count] = (start, position);
        count += 1;
    }
    (spans, count)
}

pub(crate) fn parse(
    line: Line<'_>,
    on_value: &mut impl FnMut(&str, &str, ValueForm),
) -> LineOutcome {
    let bytes = line.bytes;
    let (spans, count) = columns::<COLUMNS>(bytes);
    if count < COLUMNS {
        return LineOutcome::Malformed;
    }
    let column = |index: usize| &bytes[spans[index].0..spans[index].1];
    let ts = parse_epoch_seconds(column(0));
    let connect = column(5) == b"CONNECT";
    let mut report = |field: &str, start: usize, end: usize, form: ValueForm| {
        let value = &bytes[start..end];
        if !value.is_empty()
            && value != b"-"
            && let Some(text) = line.text(start, end)
        {
            on_value(field, text, form);
        }
    };
    let named = [
        (1, "elapsed"),
        (2, "client"),
        (3, "result"),
        (4, "bytes"),
        (5, "method"),
        (6, "url"),
        (7, "user"),
    ];
    for (index, field) in named {
        let form = if index == 6 && connect {
            ValueForm::Authority
        } else {
            ValueForm::Plain
        };
        report(field, spans[index].0, spans[index].1, form);
    }
    let (start, end) = spans[8];
    match memchr::memchr(b'/', &bytes[start..end]) {
        Some(slash) => {
            report("hierarchy", start, start + slash, ValueForm::Plain);
            report("peer", start + slash + 1, end, ValueForm::Plain);
        }
        None => report("hierarchy", start, end, ValueForm::Plain),
    }
    report("type", spans[9].0, spans[9].1, ValueForm::Plain);
    LineOutcome::Data { ts }
}

/// `<epoch>.<3 digits> <elapsed> <client> <CODE>/<3 digits> …`.
pub(crate) fn looks_like_squid(line: &[u8]) -> bool {
    let (spans, count) = columns::<4>(line);
    // Only spaces and tabs between the first columns, and a line end or whitespace after.
    if count < 4
        || line[..spans[3].1]
            .iter()
            .any(|&byte| is_space(byte) && byte != b' ' && byte != b'\t')
    {
        return false;
    }
    let column = |index: usize| &line[spans[index].0..spans[index].1];
    let time_ok = match memchr::memchr(b'.', column(0)) {
        Some(dot) => {
            let (seconds, fraction) = (&column(0)[..dot], &column(0)[dot + 1..]);
            !seconds.is_empty()
                && seconds.iter().all(u8::is_ascii_digit)
                && fraction.len() == 3
                && fraction.iter().all(u8::is_ascii_digit)
        }
        None => false,
    };
    let elapsed_ok = column(1).iter().all(u8::is_ascii_digit);
    let result_ok = match memchr::memchr(b'/', column(3)) {
        Some(slash) => {
            let (code, status) = (&column(3)[..slash], &column(3)[slash + 1..]);
            !code.is_empty()
                && code
                    .iter()
                    .all(|byte| byte.is_ascii_uppercase() || *byte == b'_')
                && status.len() == 3
                && status.iter().all(u8::is_ascii_digit)
        }
        None => false,
    };
    time_ok && elapsed_ok && result_ok && !column(2).is_empty()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{owned, pairs, values};
    use super::super::{LineOutcome, LineParser, LogFormat, LogOptions};
    use crate::hunt::index::ValueForm;

    fn parser() -> LineParser {
        LineParser::new(LogFormat::Squid, &LogOptions::default())
    }

    #[test]
    fn columns_become_fields() {
        let mut parser = parser();
        let line = "1198298239.740    388 127.0.0.1 TCP_MISS/301 631 GET http://www.slashdot.org/ graeme DIRECT/66.35.250.151 text/html";
        let (outcome, _) = values(&mut parser, line);
        assert_eq!(
            outcome,
            LineOutcome::Data {
                ts: Some(1_198_298_239_740_000)
            }
        );
        assert_eq!(
            pairs(&mut parser, line),
            owned(&[
                ("elapsed", "388"),
                ("client", "127.0.0.1"),
                ("result", "TCP_MISS/301"),
                ("bytes", "631"),
                ("method", "GET"),
                ("url", "http://www.slashdot.org/"),
                ("user", "graeme"),
                ("hierarchy", "DIRECT"),
                ("peer", "66.35.250.151"),
                ("type", "text/html"),
            ])
        );
    }

    #[test]
    fn hierarchy_peer_split_dashes_and_extra_columns() {
        let mut parser = parser();
        assert_eq!(
            pairs(
                &mut parser,
                "1.000 0 10.0.0.1 TCP_DENIED/403 0 GET http://x.example/ - HIER_NONE/- - extra.example more"
            ),
            owned(&[
                ("elapsed", "0"),
                ("client", "10.0.0.1"),
                ("result", "TCP_DENIED/403"),
                ("bytes", "0"),
                ("method", "GET"),
                ("url", "http://x.example/"),
                ("hierarchy", "HIER_NONE"),
            ])
        );
        assert_eq!(
            pairs(
                &mut parser,
                "1.000\t0\t10.0.0.1\tTCP_MISS/200\t5\tGET\thttp://x.example/\tu\tHIER_DIRECT/1.2.3.4/5\ttext/html"
            )[7..],
            owned(&[
                ("hierarchy", "HIER_DIRECT"),
                ("peer", "1.2.3.4/5"),
                ("type", "text/html"),
            ])
        );
        assert_eq!(
            pairs(&mut parser, "1.000 0 c r 0 GET u - NOSLASH t")[6..],
            owned(&[("hierarchy", "NOSLASH"), ("type", "t")])
        );
    }

    #[test]
    fn connect_urls_are_authorities() {
        let mut parser = parser();
        let (_, found) = values(
            &mut parser,
            "1772409600.000 5 10.0.0.1 TCP_TUNNEL/200 100 CONNECT evil.com:443 - HIER_DIRECT/1.2.3.4 -",
        );
        assert!(found.contains(&(
            "url".to_owned(),
            "evil.com:443".to_owned(),
            ValueForm::Authority
        )));
        let (_, found) = values(
            &mut parser,
            "1772409600.000 5 10.0.0.1 TCP_MISS/200 100 GET http://evil.com/ - HIER_DIRECT/1.2.3.4 -",
        );
        assert!(found.contains(&(
            "url".to_owned(),
            "http://evil.com/".to_owned(),
            ValueForm::Plain
        )));
    }

    #[test]
    fn fewer_than_ten_columns_yield_nothing() {
        let mut parser = parser();
        let (outcome, found) = values(
            &mut parser,
            "1198298239.740 388 127.0.0.1 TCP_MISS/301 631 GET http://evil.com/ graeme DIRECT/66.35.250.151",
        );
        assert_eq!(outcome, LineOutcome::Malformed);
        assert!(found.is_empty());
        assert_eq!(
            values(&mut parser, "x 0 c r 0 GET u - h t").0,
            LineOutcome::Data { ts: None }
        );
    }
}
