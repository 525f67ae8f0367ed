"""The oracle against every example of hunt-semantics.md §6 and the rules it leans on.

Runs with `python3 -m pytest tests/hunt-oracle/test_oracle.py` or `python3 test_oracle.py`.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import oracle  # noqa: E402

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def iocs_of(*entries):
    """Entries are plain values, or (misp_type, value, first_seen, last_seen)."""
    iocs = oracle.Iocs()
    for entry in entries:
        if isinstance(entry, str):
            iocs.add(None, entry)
        else:
            misp_type, value, first_seen, last_seen = entry
            iocs.add(
                misp_type,
                value,
                oracle.iso8601_micros(first_seen) if first_seen else None,
                oracle.iso8601_micros(last_seen) if last_seen else None,
            )
    return iocs


def hits_of(iocs, value, field="query", authority_form=False):
    """The (field, value, ioc) hits of one field value, windows ignored."""
    matcher = oracle.Matcher(iocs)
    return sorted(
        (hit_field, hit_value, key[1])
        for hit_field, hit_value, key in matcher.match_value(field, value, authority_form)
    )


def iocs_hit(iocs, value, field="query"):
    return sorted({hit[2] for hit in hits_of(iocs, value, field)})


def hunt_text(iocs, text, name="log"):
    return [
        (line_no, field, value, ioc)
        for _, line_no, field, value, ioc, _, _ in oracle.hunt_file(
            oracle.Matcher(iocs), name, text.encode()
        )
    ]


def zeek_dns(rows):
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#fields\tts\tquery\tanswers\n#types\ttime\tstring\tvector[string]\n"
    )
    return header + "".join(f"{ts}\t{query}\t{answers}\n" for ts, query, answers in rows)


def test_domain_exact_subdomain_and_case():
    iocs = iocs_of("evil.com")
    for value in ["evil.com", "a.b.evil.com", "WWW.Evil.Com."]:
        assert iocs_hit(iocs, value) == ["evil.com"], value


def test_domain_near_misses():
    iocs = iocs_of("evil.com")
    for value in ["evil.com.org", "notevil.com", "foo evil.com"]:
        assert iocs_hit(iocs, value) == [], value


def test_domain_every_parent():
    assert iocs_hit(iocs_of("evil.com", "a.evil.com"), "x.a.evil.com") == ["a.evil.com", "evil.com"]


def test_ip_near_misses():
    iocs = iocs_of("1.2.3.4")
    for value in ["1.2.3.45", "001.2.3.4", "::ffff:1.2.3.4"]:
        assert iocs_hit(iocs, value) == [], value
    assert iocs_hit(iocs, "1.2.3.4") == ["1.2.3.4"]


def test_every_containing_cidr():
    assert iocs_hit(iocs_of("10.0.0.0/8", "10.1.0.0/16"), "10.1.2.3") == ["10.0.0.0/8", "10.1.0.0/16"]


def test_ipv6_by_value():
    assert iocs_hit(iocs_of("2001:db8::1"), "2001:0DB8:0000:0000:0000:0000:0000:0001") == ["2001:db8::1"]


def test_ipv6_cidr():
    assert iocs_hit(iocs_of("2001:470:36:1250::/60"), "2001:470:36:125f::dead") == ["2001:470:36:1250::/60"]


def test_url_normalised():
    iocs = iocs_of("http://bad.example/gate.php")
    assert iocs_hit(iocs, "HTTP://BAD.Example:80/gate.php#x") == ["http://bad.example/gate.php"]
    for value in [
        "http://bad.example/GATE.php",
        "http://bad.example/gate.phpx",
        "http://bad.example/gate.php?a=1",
    ]:
        assert iocs_hit(iocs, value) == [], value


def test_url_empty_path():
    assert iocs_hit(iocs_of("https://x.example/"), "https://x.example") == ["https://x.example/"]


def test_url_host_domain():
    assert hits_of(iocs_of("evil.com"), "https://cdn.evil.com/a.js", field="referer") == [
        ("referer.host", "cdn.evil.com", "evil.com")
    ]


def test_url_host_cidr():
    assert hits_of(iocs_of("10.0.0.0/8"), "http://10.9.9.9:8080/x", field="url") == [
        ("url.host", "10.9.9.9", "10.0.0.0/8")
    ]


def test_free_text_is_not_searched():
    assert iocs_hit(iocs_of("evil.com"), "Mozilla/5.0 (+http://evil.com/bot)", field="user_agent") == []


def test_hash_ignores_case_not_longer():
    iocs = iocs_of(("md5", MD5, None, None))
    assert iocs_hit(iocs, MD5.upper()) == [MD5]
    assert iocs_hit(iocs, MD5 + "0123456789abcdef0123456789abcdef") == []


def test_first_seen_microseconds():
    iocs = iocs_of(("domain", "evil.com", "2026-03-02T00:00:10.5Z", None))
    log = '{"ts":"2026-03-02T00:00:10.499999Z","q":"evil.com"}\n{"ts":"2026-03-02T00:00:10.500000Z","q":"evil.com"}\n'
    assert hunt_text(iocs, log) == [(2, "q", "evil.com", "evil.com")]


def test_windows_of_two_attributes():
    iocs = iocs_of(
        ("ip-dst", "1.2.3.4", None, "2026-03-02T00:00:00Z"),
        ("ip-src", "1.2.3.4", "2026-03-03T00:00:00Z", None),
    )
    day2 = oracle.iso8601_micros("2026-03-02T00:00:00Z") // 1_000_000
    rows = [(day2, "x", "1.2.3.4"), (day2 + 3600, "x", "1.2.3.4"), (day2 + 86400, "x", "1.2.3.4")]
    assert [hit[0] for hit in hunt_text(iocs, zeek_dns(rows))] == [7, 9]


def test_unbounded_attribute_always_active():
    iocs = iocs_of(
        ("ip-dst", "5.6.7.8", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("ip-dst", "5.6.7.8", None, None),
    )
    log = '{"ts":"1999-01-01T00:00:00Z","a":"5.6.7.8"}\n{"a":"5.6.7.8"}\n{"ts":"nonsense","a":"5.6.7.8"}\n'
    assert [hit[0] for hit in hunt_text(iocs, log)] == [1, 2, 3]


def test_no_timestamp_needs_always_active():
    iocs = iocs_of(("ip-dst", "5.6.7.8", "2026-01-01T00:00:00Z", None))
    assert hunt_text(iocs, '{"a":"5.6.7.8"}\n') == []


def test_zeek_vector_split_string_whole():
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#fields\tts\tquery\tanswers\tnote\n#types\ttime\tstring\tvector[string]\tstring\n"
    )
    log = header + "1772409600.000000\tx.evil.com\tcname.example,1.2.3.4\tevil.com,1.2.3.4\n"
    assert hunt_text(iocs_of("evil.com", "1.2.3.4"), log) == [
        (7, "answers", "1.2.3.4", "1.2.3.4"),
        (7, "query", "x.evil.com", "evil.com"),
    ]


def test_apache_connect_unterminated_user_agent():
    line = '9.9.9.9 - - [01/Mar/2026:17:00:00 -0700] "CONNECT evil.com:443 HTTP/1.1" 200 5 "-" "x\n'
    iocs = iocs_of(("domain", "evil.com", "2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z"))
    hits = oracle.hunt_file(oracle.Matcher(iocs), "a.log", line.encode())
    assert [(h[1], h[2], h[3], h[4]) for h in hits] == [(1, "target.host", "evil.com", "evil.com")]
    assert hits[0][6] == oracle.iso8601_micros("2026-03-02T00:00:00Z")
    ts, values = oracle.parse_apache(line.rstrip("\n"))
    assert {field for field, _, _ in values} == {"client", "status", "bytes", "method", "target", "protocol"}


def test_apache_referer_and_user_agent_fields():
    line = '1.1.1.1 - - [01/Mar/2026:17:00:00 +0000] "GET / HTTP/1.1" 200 5 "https://cdn.evil.com/a.js" "Mozilla/5.0 (+http://evil.com/bot)"  '
    assert hunt_text(iocs_of("evil.com"), line) == [(1, "referer.host", "cdn.evil.com", "evil.com")]


def test_squid_connect_and_peer():
    line = "1772409600.123    5 10.0.0.1 TCP_TUNNEL/200 39 CONNECT evil.com:443 - HIER_DIRECT/1.2.3.4 -\n"
    assert hunt_text(iocs_of("evil.com", "1.2.3.4", "10.0.0.0/8"), line) == [
        (1, "client", "10.0.0.1", "10.0.0.0/8"),
        (1, "peer", "1.2.3.4", "1.2.3.4"),
        (1, "url.host", "evil.com", "evil.com"),
    ]


def test_squid_short_line_yields_nothing():
    good = "1772409600.123 5 10.0.0.1 TCP_MISS/200 39 GET http://a.example/ - HIER_DIRECT/1.2.3.4 -\n"
    short = "1772409600.123 5 10.0.0.1 TCP_MISS/200 39 GET http://a.example/ - HIER_DIRECT/1.2.3.4\n"
    assert hunt_text(iocs_of("1.2.3.4"), good + short) == [(1, "peer", "1.2.3.4", "1.2.3.4")]


def test_canonical_forms():
    assert oracle.canonical_ioc(None, "Evil.COM.") == ("domain", "evil.com")
    assert oracle.canonical_ioc(None, "2001:0DB8:0:0:0:0:0:1") == ("ip", "2001:db8::1")
    assert oracle.canonical_ioc(None, "10.1.2.3/8") == ("cidr", "10.0.0.0/8")
    assert oracle.canonical_ioc(None, "2001:0470:0036:1250::/60") == ("cidr", "2001:470:36:1250::/60")
    assert oracle.canonical_ioc(None, "HTTP://Evil.COM:80") == ("url", "http://evil.com/")
    assert oracle.canonical_ioc(None, MD5.upper()) == ("hash", MD5)
    assert oracle.canonical_ioc(None, "hxxp://evil[.]com") is None
    assert oracle.canonical_ioc(None, "evil[.]com") is None
    assert oracle.canonical_ioc("sha1", MD5) is None
    assert oracle.canonical_ioc("domain|ip", "evil.com|1.2.3.4") is None
    assert oracle.canonical_ioc("ip-dst", " 1.2.3.0/24 ") == ("cidr", "1.2.3.0/24")


def test_shapes():
    assert oracle.domain_shape("_ldap._tcp.example.com") == "_ldap._tcp.example.com"
    assert oracle.domain_shape("1.2.3.999") is None
    assert oracle.domain_shape("localhost") is None
    assert oracle.parse_ip("fe80::1%eth0") is None
    assert oracle.parse_ip("01.2.3.4") is None
    assert oracle.parse_url("http://user:pass@Host.Example.:8080/p?q#f") == (
        "http://host.example:8080/p?q",
        "Host.Example.",
    )
    assert oracle.parse_url("https://[2001:DB8::1]:443/x?") == ("https://[2001:db8::1]/x", "2001:DB8::1")
    assert oracle.parse_url("http://evil.com:99999/") is None
    assert oracle.parse_url("http://:80/") is None


def test_feed_folder_and_csv_and_list():
    with tempfile.TemporaryDirectory() as folder:
        feed = os.path.join(folder, "feed")
        os.mkdir(feed)
        uuid = "5c1b0b2e-0000-4000-8000-000000000001"
        with open(os.path.join(feed, "manifest.json"), "w") as manifest:
            manifest.write('{"%s": {"info": "x"}}' % uuid)
        with open(os.path.join(feed, uuid + ".json"), "w") as event:
            event.write(
                '{"Event": {"Attribute": ['
                '{"type": "domain", "value": " evil.com "},'
                '{"type": "domain", "value": "off.example", "to_ids": false},'
                '{"type": "domain", "value": "gone.example", "deleted": true},'
                '{"type": "email-src", "value": "a@b.example"},'
                '{"type": "md5", "value": "not-a-hash"}],'
                '"Object": [{"Attribute": [{"type": "ip-dst", "value": "1.2.3.4"}]},'
                '{"deleted": true, "Attribute": [{"type": "ip-dst", "value": "5.5.5.5"}]}]}}'
            )
        listing = os.path.join(folder, "iocs.txt")
        with open(listing, "w") as plain:
            plain.write("# comment\n\n  Evil.Example.  \nhttp://x.example\nnot a value\n")
        table = os.path.join(folder, "iocs.csv")
        with open(table, "w") as rows:
            rows.write(
                "value,type,first_seen,last_seen,to_ids\n"
                "9.9.9.9,ip-dst,,,true\n8.8.8.8,,,,false\n10.0.0.0/8,,2026-01-01T00:00:00Z,,\n"
            )
        iocs = oracle.Iocs()
        for path in (feed, listing, table):
            oracle.load_iocs(iocs, path)
        assert sorted(iocs.windows) == [
            ("cidr", "10.0.0.0/8"),
            ("domain", "evil.com"),
            ("domain", "evil.example"),
            ("ip", "1.2.3.4"),
            ("ip", "9.9.9.9"),
            ("url", "http://x.example/"),
        ]
        assert iocs.windows[("cidr", "10.0.0.0/8")] == [(oracle.iso8601_micros("2026-01-01"), None)]


def test_line_numbers_and_format_detection():
    log = "\n\n" + zeek_dns([(1772409600, "a.evil.com", "-")])
    assert hunt_text(iocs_of("evil.com"), log) == [(9, "query", "a.evil.com", "evil.com")]
    assert oracle.detect_format("garbage") is None
    assert oracle.detect_format("1198298239.740    388 127.0.0.1 TCP_MISS/301 631 GET http://x/ - DIRECT/1.2.3.4 text/html") == "squid"


if __name__ == "__main__":
    for name, test in sorted(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print("ok", name)
