#!/usr/bin/env python3
"""An independent, deliberately plain reading of hunt-semantics.md.

It exists to cross-check `kizuna hunt`: it was written from the specification text alone,
trades speed for obviousness, and uses only the standard library.

    oracle.py --iocs PATH [--iocs PATH …] FILE…

prints one JSON object per hit (file, line_no, ts, field, value, ioc, ioc_type), the same
records `kizuna hunt --output jsonl` gives; with `--compare KIZUNA.jsonl` it compares its hits
with that output instead and exits 1 on any difference. An IoC PATH is a MISP feed folder (§1.1), a MISP
event JSON file, a `.csv` file (§1.3) or a plain list (§1.2).
"""

import argparse
import csv
import datetime
import decimal
import ipaddress
import json
import os
import re
import sys

# ---------------------------------------------------------------------------------------------
# Shapes (§3)

IPV4_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
IPV4_RE = re.compile(rf"{IPV4_OCTET}(?:\.{IPV4_OCTET}){{3}}", re.ASCII)
HASH_RE = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}", re.ASCII)
LABEL_RE = re.compile(r"[a-z0-9_-]{1,63}", re.ASCII)
SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*", re.ASCII)
PORT_RE = re.compile(r"[0-9]{1,5}", re.ASCII)
DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_ipv4(text):
    """An IPv4Address for dotted decimal without leading zeros, else None."""
    if IPV4_RE.fullmatch(text):
        return ipaddress.IPv4Address(text)
    return None


def parse_ipv6(text):
    """An IPv6Address for RFC 4291 text (any case, IPv4 tail allowed), no brackets/zone."""
    if ":" not in text or "%" in text or "[" in text or "]" in text:
        return None
    if not text.isascii():
        return None
    # An embedded IPv4 tail must itself be strict dotted decimal.
    if "." in text and not parse_ipv4(text.rsplit(":", 1)[1]):
        return None
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        return None


def parse_ip(text):
    return parse_ipv4(text) or parse_ipv6(text)


def is_hash(text):
    return HASH_RE.fullmatch(text) is not None


def domain_shape(text):
    """The canonical domain (lower case, one trailing dot removed), or None."""
    if not text.isascii():
        return None
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    if len(name) > 253:
        return None
    labels = name.split(".")
    if len(labels) < 2:
        return None
    if not all(LABEL_RE.fullmatch(label) for label in labels):
        return None
    if not any(c.isalpha() for c in labels[-1]):
        return None
    return name


def has_whitespace(text):
    return any(c.isspace() for c in text)


def split_host_port(authority):
    """(host as written, host for matching, port or None) of `host`, `host:port`,
    `[ipv6]`, `[ipv6]:port`; None when the authority has none of these forms.

    For `[ipv6]` the host as written is the text between the brackets."""
    if authority.startswith("["):
        close = authority.find("]")
        if close < 0:
            return None
        inner = authority[1:close]
        rest = authority[close + 1 :]
        if parse_ipv6(inner) is None:
            return None
        if rest == "":
            return inner, ("ipv6", inner), None
        if not rest.startswith(":"):
            return None
        port = parse_port(rest[1:])
        if port is None:
            return None
        return inner, ("ipv6", inner), port
    if "[" in authority or "]" in authority:
        return None
    if ":" in authority:
        host, port_text = authority.split(":", 1)
        port = parse_port(port_text)
        if port is None:
            return None
    else:
        host, port = authority, None
    if host == "":
        return None
    return host, ("name", host), port


def parse_port(text):
    if not PORT_RE.fullmatch(text):
        return None
    port = int(text)
    if port > 65535:
        return None
    return port


def parse_url(text):
    """For a URL value (§3.4): (normalised URL, host as written), else None."""
    if "://" not in text or has_whitespace(text):
        return None
    scheme, rest = text.split("://", 1)
    if not SCHEME_RE.fullmatch(scheme):
        return None
    end = len(rest)
    for stop in "/?#":
        position = rest.find(stop)
        if position >= 0:
            end = min(end, position)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    parsed = split_host_port(authority)
    if parsed is None:
        return None
    host_written, (host_kind, host), port = parsed
    if "#" in tail:
        tail = tail.split("#", 1)[0]
    if "?" in tail:
        path, query = tail.split("?", 1)
    else:
        path, query = tail, ""
    scheme = scheme.lower()
    if host_kind == "ipv6":
        host_text = "[" + str(ipaddress.IPv6Address(host)) + "]"
    else:
        host_text = host.lower()
        if host_text.endswith("."):
            host_text = host_text[:-1]
        as_ipv4 = parse_ipv4(host_text)
        if as_ipv4 is not None:
            host_text = str(as_ipv4)
    normalised = scheme + "://" + host_text
    if port is not None and DEFAULT_PORTS.get(scheme) != port:
        normalised += ":" + str(port)
    normalised += path if path else "/"
    if query:
        normalised += "?" + query
    return normalised, host_written


def parse_authority_form(text):
    """The host (as written, brackets removed) of a `host:port` / `[ipv6]:port` value."""
    parsed = split_host_port(text)
    if parsed is None or parsed[2] is None:
        return None
    return parsed[0]


# ---------------------------------------------------------------------------------------------
# IoCs (§1)

MISP_KINDS = {
    "ip-dst": "ip",
    "ip-src": "ip",
    "domain": "domain",
    "hostname": "domain",
    "url": "url",
    "md5": "md5",
    "sha1": "sha1",
    "sha256": "sha256",
}
HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}


def parse_network(text):
    """Canonical CIDR text of `address/prefix` (host bits dropped), or None."""
    if text.count("/") != 1:
        return None
    address_text, prefix_text = text.split("/")
    address = parse_ip(address_text)
    if address is None or not re.fullmatch(r"[0-9]{1,3}", prefix_text, re.ASCII):
        return None
    prefix = int(prefix_text)
    if prefix > address.max_prefixlen:
        return None
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def canonical_by_shape(value):
    """(kind, canonical) inferred as in §1.2, or None."""
    if "://" in value:
        url = parse_url(value)
        return ("url", url[0]) if url else None
    if "/" in value:
        network = parse_network(value)
        if network:
            return "cidr", network
    address = parse_ip(value)
    if address is not None:
        return "ip", str(address)
    if is_hash(value):
        return "hash", value.lower()
    domain = domain_shape(value)
    if domain:
        return "domain", domain
    return None


def canonical_ioc(misp_type, value):
    """(kind, canonical) of an IoC value with an optional MISP type, or None if ignored."""
    value = value.strip()
    if not misp_type:
        return canonical_by_shape(value)
    kind = MISP_KINDS.get(misp_type)
    if kind is None:
        return None
    if kind == "ip":
        if "/" in value:
            network = parse_network(value)
            return ("cidr", network) if network else None
        address = parse_ip(value)
        return ("ip", str(address)) if address is not None else None
    if kind == "domain":
        domain = domain_shape(value)
        return ("domain", domain) if domain else None
    if kind == "url":
        url = parse_url(value)
        return ("url", url[0]) if url else None
    length = HASH_LENGTHS[kind]
    if len(value) == length and is_hash(value):
        return "hash", value.lower()
    return None


ISO_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]+))?)?)?"
    r"(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?",
    re.ASCII,
)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def iso8601_micros(text):
    """Microseconds since the epoch of an ISO 8601 date-time (no offset = UTC), or None."""
    match = ISO_RE.fullmatch(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        moment = datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError:
        return None
    micros = int((fraction or "")[:6].ljust(6, "0"))
    offset_seconds = 0
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        offset_seconds = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds - offset_seconds) * 1_000_000 + micros


def epoch_decimal_micros(text):
    """Microseconds of decimal seconds since the epoch (digits beyond µs truncated)."""
    if isinstance(text, str):
        if not re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", text.strip(), re.ASCII):
            return None
        text = text.strip()
    seconds = decimal.Decimal(text)
    if not seconds.is_finite():
        return None
    return int((seconds * 1_000_000).to_integral_value(rounding=decimal.ROUND_FLOOR))


class Iocs:
    """Canonical IoCs with the validity windows of their attributes."""

    def __init__(self):
        # (kind, canonical) -> list of (first_seen, last_seen), None = unbounded
        self.windows = {}

    def add(self, misp_type, value, first_seen=None, last_seen=None):
        if not isinstance(value, str):
            return
        key = canonical_ioc(misp_type, value)
        if key is None:
            return
        self.windows.setdefault(key, []).append((first_seen, last_seen))

    def active(self, key, ts):
        for first_seen, last_seen in self.windows[key]:
            if ts is None:
                if first_seen is None and last_seen is None:
                    return True
                continue
            if (first_seen is None or first_seen <= ts) and (
                last_seen is None or ts <= last_seen
            ):
                return True
        return False

    def of_kind(self, kind):
        return {canonical for (k, canonical) in self.windows if k == kind}


def is_false(flag):
    return flag is False or flag == 0 or (isinstance(flag, str) and flag.lower() in ("false", "0"))


def is_true(flag):
    return flag is True or flag == 1 or (isinstance(flag, str) and flag.lower() in ("true", "1"))


def window_bound(value):
    """A first_seen/last_seen bound; (ok, micros or None)."""
    if value is None or value == "":
        return True, None
    micros = iso8601_micros(value) if isinstance(value, str) else None
    return (micros is not None), micros


def add_attribute(iocs, attribute):
    if not isinstance(attribute, dict):
        return
    if is_true(attribute.get("deleted", False)):
        return
    if "to_ids" in attribute and is_false(attribute["to_ids"]):
        return
    ok_first, first_seen = window_bound(attribute.get("first_seen"))
    ok_last, last_seen = window_bound(attribute.get("last_seen"))
    if not (ok_first and ok_last):
        return
    misp_type = attribute.get("type")
    if not isinstance(misp_type, str) or not misp_type:
        return
    iocs.add(misp_type, attribute.get("value"), first_seen, last_seen)


def load_event(iocs, document):
    event = document.get("Event", document) if isinstance(document, dict) else None
    if not isinstance(event, dict):
        return
    for attribute in event.get("Attribute") or []:
        add_attribute(iocs, attribute)
    for misp_object in event.get("Object") or []:
        if not isinstance(misp_object, dict) or is_true(misp_object.get("deleted", False)):
            continue
        for attribute in misp_object.get("Attribute") or []:
            add_attribute(iocs, attribute)


def load_iocs(iocs, path):
    if os.path.isdir(path):
        with open(os.path.join(path, "manifest.json"), encoding="utf-8") as manifest_file:
            manifest = json.load(manifest_file)
        for uuid in manifest:
            with open(os.path.join(path, uuid + ".json"), encoding="utf-8") as event_file:
                load_event(iocs, json.load(event_file))
    elif path.lower().endswith(".json"):
        with open(path, encoding="utf-8") as event_file:
            load_event(iocs, json.load(event_file))
    elif path.lower().endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as csv_file:
            for row in csv.DictReader(csv_file):
                if (row.get("to_ids") or "").strip().lower() == "false":
                    continue
                ok_first, first_seen = window_bound((row.get("first_seen") or "").strip())
                ok_last, last_seen = window_bound((row.get("last_seen") or "").strip())
                if not (ok_first and ok_last):
                    continue
                misp_type = (row.get("type") or "").strip()
                iocs.add(misp_type or None, row.get("value") or "", first_seen, last_seen)
    else:
        with open(path, encoding="utf-8", errors="surrogateescape") as list_file:
            for line in list_file:
                value = line.strip()
                if not value or value.startswith("#"):
                    continue
                iocs.add(None, value)


# ---------------------------------------------------------------------------------------------
# Matching (§4)


class Matcher:
    def __init__(self, iocs):
        self.iocs = iocs
        self.domains = iocs.of_kind("domain")
        self.ips = iocs.of_kind("ip")
        self.urls = iocs.of_kind("url")
        self.hashes = iocs.of_kind("hash")
        # (version, prefix length) -> canonical texts of the CIDR IoCs of that size
        self.networks = {}
        for text in iocs.of_kind("cidr"):
            network = ipaddress.ip_network(text)
            self.networks.setdefault((network.version, network.prefixlen), set()).add(text)

    def match_ip(self, address):
        found = []
        if str(address) in self.ips:
            found.append(("ip", str(address)))
        for (version, prefix), texts in self.networks.items():
            if version != address.version:
                continue
            containing = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
            if containing in texts:
                found.append(("cidr", containing))
        return found

    def match_domain(self, name):
        found = []
        labels = name.split(".")
        for start in range(len(labels) - 1):
            parent = ".".join(labels[start:])
            if parent in self.domains:
                found.append(("domain", parent))
        return found

    def match_host(self, host):
        """A URL's or authority's host (brackets already removed) by §4.1 or §4.2."""
        address = parse_ip(host)
        if address is not None:
            return self.match_ip(address)
        domain = domain_shape(host)
        if domain:
            return self.match_domain(domain)
        return []

    def match_value(self, field, value, authority_form=False):
        """[(field, value, (kind, canonical))] for one field value."""
        if authority_form:
            host = parse_authority_form(value)
            if host is None:
                return []
            return [(field + ".host", host, key) for key in self.match_host(host)]
        if "://" in value:
            url = parse_url(value)
            if url is None:
                return []
            normalised, host = url
            hits = []
            if normalised in self.urls:
                hits.append((field, value, ("url", normalised)))
            hits.extend((field + ".host", host, key) for key in self.match_host(host))
            return hits
        address = parse_ip(value)
        if address is not None:
            return [(field, value, key) for key in self.match_ip(address)]
        if is_hash(value):
            lowered = value.lower()
            return [(field, value, ("hash", lowered))] if lowered in self.hashes else []
        domain = domain_shape(value)
        if domain:
            return [(field, value, key) for key in self.match_domain(domain)]
        return []


# ---------------------------------------------------------------------------------------------
# Log formats (§2)

SQUID_DETECT_RE = re.compile(r"[0-9]+\.[0-9]{3}[ \t]+[0-9]+[ \t]+\S+[ \t]+[A-Z_]+/[0-9]{3}(?:\s|$)", re.ASCII)
QUOTED = r'"((?:[^"\\]|\\.)*)"'
APACHE_RE = re.compile(
    rf"(\S+) (\S+) (\S+) \[([^\]]*)\] {QUOTED} (\S+) (\S+)(.*)", re.ASCII | re.DOTALL
)
APACHE_TAIL_RE = re.compile(rf" {QUOTED} {QUOTED}\s*", re.ASCII | re.DOTALL)
APACHE_TIME_RE = re.compile(
    r"([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})",
    re.ASCII,
)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
SQUID_SPLIT_RE = re.compile(r"[ \t\f\v\r]+")


def detect_format(first_line):
    if first_line.startswith("#separator") or first_line.startswith("#fields"):
        return "zeek"
    if first_line.lstrip().startswith("{"):
        return "zeek-json"
    if SQUID_DETECT_RE.match(first_line):
        return "squid"
    if APACHE_RE.fullmatch(first_line):
        return "apache"
    return None


def decode_zeek_escapes(text):
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


class ZeekTsv:
    def __init__(self):
        self.separator = "\t"
        self.set_separator = ","
        self.empty = "(empty)"
        self.unset = "-"
        self.fields = None
        self.types = None

    def header(self, line):
        if line.startswith("#separator "):
            self.separator = decode_zeek_escapes(line[len("#separator ") :])
            return
        parts = line.split(self.separator)
        keyword, values = parts[0], parts[1:]
        if keyword == "#fields":
            self.fields = values
            self.types = None
        elif keyword == "#types":
            self.types = values
        elif keyword == "#set_separator" and values:
            self.set_separator = values[0]
        elif keyword == "#empty_field" and values:
            self.empty = values[0]
        elif keyword == "#unset_field" and values:
            self.unset = values[0]

    def parse(self, line):
        """(ts, [(field, value, authority_form)]) or None for no values."""
        if line.startswith("#"):
            self.header(line)
            return None
        if self.fields is None:
            return None
        columns = line.split(self.separator)
        if len(columns) != len(self.fields):
            return None
        values = []
        ts = None
        for index, (name, column) in enumerate(zip(self.fields, columns)):
            if column in (self.unset, self.empty):
                continue
            if name == "ts":
                ts = epoch_decimal_micros(column)
            column_type = self.types[index] if self.types and index < len(self.types) else ""
            if column_type.startswith("vector[") or column_type.startswith("set["):
                for element in column.split(self.set_separator):
                    if element not in (self.unset, self.empty):
                        values.append((name, element, False))
            else:
                values.append((name, column, False))
        return ts, values


def json_values(prefix, node, out):
    if isinstance(node, str):
        out.append((prefix, node, False))
    elif isinstance(node, dict):
        for key, child in node.items():
            json_values(f"{prefix}.{key}" if prefix else key, child, out)
    elif isinstance(node, list):
        for child in node:
            json_values(prefix, child, out)


def parse_zeek_json(line):
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        record = json.loads(text, parse_float=decimal.Decimal)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    values = []
    json_values("", record, values)
    ts = None
    raw_ts = record.get("ts")
    if isinstance(raw_ts, str):
        if "-" in raw_ts or "T" in raw_ts:
            ts = iso8601_micros(raw_ts)
        else:
            ts = epoch_decimal_micros(raw_ts)
    elif isinstance(raw_ts, (int, decimal.Decimal)) and not isinstance(raw_ts, bool):
        ts = epoch_decimal_micros(raw_ts)
    return ts, values


def apache_time(text):
    match = APACHE_TIME_RE.fullmatch(text)
    if not match:
        return None
    day, month, year, hour, minute, second, sign, offset_hours, offset_minutes = match.groups()
    if month not in MONTHS:
        return None
    try:
        moment = datetime.datetime(
            int(year), MONTHS.index(month) + 1, int(day), int(hour), int(minute), int(second),
            tzinfo=datetime.timezone.utc,
        )
    except ValueError:
        return None
    offset = int(offset_hours) * 3600 + int(offset_minutes) * 60
    if sign == "-":
        offset = -offset
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds - offset) * 1_000_000


def parse_apache(line):
    match = APACHE_RE.fullmatch(line)
    if not match:
        return None
    client, ident, user, time_text, request, status, size, tail = match.groups()
    fields = [("client", client), ("ident", ident), ("user", user)]
    fields += [("status", status), ("bytes", size)]
    values = []
    parts = request.split(" ")
    if len(parts) == 3:
        method, target, protocol = parts
        fields += [("method", method), ("protocol", protocol)]
        values.append(("target", target, method == "CONNECT"))
    tail_match = APACHE_TAIL_RE.fullmatch(tail)
    if tail_match:
        fields += [("referer", tail_match.group(1)), ("user_agent", tail_match.group(2))]
    values += [(name, value, False) for name, value in fields]
    return apache_time(time_text), [v for v in values if v[1] != "-"]


SQUID_COLUMNS = ["time", "elapsed", "client", "result", "bytes", "method", "url", "user"]


def parse_squid(line):
    columns = [c for c in SQUID_SPLIT_RE.split(line) if c]
    if len(columns) < 10:
        return None
    named = dict(zip(SQUID_COLUMNS, columns))
    hierarchy, _, peer = columns[8].partition("/")
    named["hierarchy"] = hierarchy
    named["peer"] = peer
    named["type"] = columns[9]
    ts = epoch_decimal_micros(columns[0])
    values = []
    for name in ["elapsed", "client", "result", "bytes", "method", "url", "user", "hierarchy", "peer", "type"]:
        value = named[name]
        if value in ("-", ""):
            continue
        values.append((name, value, name == "url" and named["method"] == "CONNECT"))
    return ts, values


def physical_lines(data):
    """The file's lines as text, `\\r\\n` and `\\n` endings removed; undecodable bytes
    become lone surrogates, which no shape accepts."""
    text = data.decode("utf-8", errors="surrogateescape")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def hunt_file(matcher, path, data):
    lines = physical_lines(data)
    log_format = None
    for line in lines:
        if line.strip():
            log_format = detect_format(line)
            break
    if log_format is None:
        return []
    zeek = ZeekTsv()
    hits = set()
    for line_no, line in enumerate(lines, start=1):
        if log_format == "zeek":
            parsed = zeek.parse(line)
        elif log_format == "zeek-json":
            parsed = parse_zeek_json(line)
        elif log_format == "squid":
            parsed = parse_squid(line)
        else:
            parsed = parse_apache(line)
        if parsed is None:
            continue
        ts, values = parsed
        for field, value, authority_form in values:
            for hit_field, hit_value, key in matcher.match_value(field, value, authority_form):
                if matcher.iocs.active(key, ts):
                    hits.add((path, line_no, hit_field, hit_value, key[1], key[0], ts))
    return sorted(hits, key=lambda h: (h[1], h[2], h[3], h[4]))


def micros_iso(micros):
    if micros is None:
        return None
    moment = EPOCH + datetime.timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def read_hunt_output(path):
    """{(file, line_no, field, value, ioc): ioc_type} of `kizuna hunt --output jsonl`
    (`line` and `indicator` accepted for `line_no` and `ioc`), and the lines that are not
    JSON objects."""
    hits, strays = {}, []
    with open(path, encoding="utf-8", errors="surrogateescape") as output:
        for text in output:
            text = text.strip()
            if not text:
                continue
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                strays.append(text)
                continue
            line_no = record.get("line_no", record.get("line"))
            ioc = record.get("ioc", record.get("indicator"))
            key = (record.get("file"), line_no, record.get("field"), record.get("value"), ioc)
            hits[key] = record.get("ioc_type")
    return hits, strays


def compare(expected, actual_path, label):
    """Prints the differences between the oracle's hits and kizuna's; True when equal."""
    actual, strays = read_hunt_output(actual_path)
    wanted = {(f, n, fi, v, i): t for f, n, fi, v, i, t, _ in expected}
    missing = sorted(set(wanted) - set(actual), key=repr)
    extra = sorted(set(actual) - set(wanted), key=repr)
    wrong_type = sorted(
        (key for key in set(wanted) & set(actual) if actual[key] != wanted[key]), key=repr
    )
    for text in strays[:5]:
        print(f"{label}: not a JSON object: {text[:200]}")
    for key in missing[:50]:
        print(f"{label}: MISSING (oracle only) {json.dumps(list(key))} {wanted[key]}")
    for key in extra[:50]:
        print(f"{label}: EXTRA (kizuna only)   {json.dumps(list(key))} {actual[key]}")
    for key in wrong_type[:50]:
        print(f"{label}: ioc_type {actual[key]!r}, oracle {wanted[key]!r}: {json.dumps(list(key))}")
    print(
        f"{label}: oracle {len(wanted)} hits, kizuna {len(actual)}; "
        f"{len(missing)} missing, {len(extra)} extra, {len(wrong_type)} with another ioc_type"
    )
    return not (missing or extra or wrong_type or strays)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iocs", action="append", required=True)
    parser.add_argument(
        "--compare",
        metavar="JSONL",
        help="instead of printing the hits, compare them with this `kizuna hunt` output",
    )
    parser.add_argument("--label", default="oracle", help="prefix of the --compare report")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    iocs = Iocs()
    for path in args.iocs:
        load_iocs(iocs, path)
    matcher = Matcher(iocs)
    hits = []
    for path in args.files:
        with open(path, "rb") as log_file:
            hits.extend(hunt_file(matcher, path, log_file.read()))
    if args.compare:
        sys.exit(0 if compare(hits, args.compare, args.label) else 1)
    for file, line_no, field, value, ioc, ioc_type, ts in hits:
        record = {
            "file": file,
            "line_no": line_no,
            "ts": micros_iso(ts),
            "field": field,
            "value": value,
            "ioc": ioc,
            "ioc_type": ioc_type,
        }
        sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
