//! `suricata` and `snort`: IDS rules per attribute, as MISP's NIDS export lays them out
//! (misp-reference §8, stix-taxii-reference D.1–D.2), in Suricata 5+ keyword syntax or
//! Snort 2.9 syntax.
//!
//! Every rule is `alert <proto> <src> <sport> -> <dst> <dport> (msg:"MISP e<event id>
//! [<tags>] <label>: <value>"; <detection> reference:url,<instance>/events/view/<event
//! id>; classtype:trojan-activity; sid:<sid>; rev:1; priority:<threat level>;)`. An
//! attribute's rules are numbered `sid = nids_sid_base + attribute id × 10 + n`, n = 1…9,
//! so an attribute keeps its sids from one export to the next. The reference URL is
//! written without its scheme: `reference.config` maps `url` to `http://` itself.
//!
//! Rules by attribute type (Suricata / Snort):
//! - `ip-dst`, `ip-dst|port`: outgoing traffic to the address; `ip-src`, `ip-src|port`:
//!   incoming traffic from it (one IP-only rule each).
//! - `domain`: the name and its subdomains in DNS queries (`dns.query; dotprefix;
//!   content:".<name>"; endswith` / the query's wire-format labels over UDP and TCP), in
//!   the HTTP Host header, and, for Suricata, in the TLS SNI.
//! - `hostname`: the same, matching the exact name (`bsize` / position and length).
//! - `domain|ip`: the domain's rules, then outgoing and incoming address rules.
//! - `url`: for `http` (or no scheme) the host and the path as the start of the request
//!   URI; for `https` the host in the TLS SNI (the path is encrypted); other schemes only
//!   when the host is an address.
//! - `user-agent`: the User-Agent header; `email-src`/`email-dst`/`email` (both),
//!   `email-subject`, `email-attachment`: SMTP to `$SMTP_SERVERS` port 25.
//! - Suricata only: `ja3-fingerprint-md5` (`ja3.hash`), `hassh-md5`/`hasshserver-md5`
//!   (`ssh.hassh`, `ssh.hassh.server`), `x509-fingerprint-sha1` (`tls.cert_fingerprint`).
//! - `snort`: the stored rule itself with our msg prefix, sid and rev; its own
//!   classtype, priority and references are kept, ours added where it has none.
//! - Objects `network-connection` and `ddos` (when their attributes are loaded): one rule
//!   for the whole connection, numbered from the object's lowest attribute id.
//!
//! Values are written into rules escaped (`"`, `;`, `:`, `|`, `\` and every byte outside
//! printable ASCII as `|hh|` in contents; `\` before `"`, `;` and `\` in msg). Values a
//! rule cannot express (an invalid address, a DNS label too long, a JA3 hash for Snort)
//! are left out and counted in [`ExportWriter::warnings`].

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use kizuna_model::{Attribute, MispObject};

use super::{
    ExportItem, ExportOptions, ExportWriter, Network, Skipped, UrlHost, UrlParts, dns_name,
    event_link, tag_names,
};

/// The rule language written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Suricata 5 or later (sticky buffers, transforms).
    Suricata,
    /// Snort 2.9 (content modifiers, raw DNS labels).
    Snort,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Self::Suricata => "suricata",
            Self::Snort => "snort",
        }
    }
}

const CLASSTYPE: &str = "trojan-activity";
const MAX_RULES_PER_ATTRIBUTE: usize = 9;

/// One rule before it gets its msg prefix, sid and links.
#[derive(Clone, Debug)]
struct Rule {
    proto: String,
    source: String,
    source_port: String,
    destination: String,
    destination_port: String,
    /// `<label>: <value>`, unescaped.
    label: String,
    /// Detection options, each ending in `; `.
    detection: String,
}

impl Rule {
    fn new(proto: &str, source: &str, source_port: &str, destination: &str, port: &str) -> Self {
        Self {
            proto: proto.into(),
            source: source.into(),
            source_port: source_port.into(),
            destination: destination.into(),
            destination_port: port.into(),
            label: String::new(),
            detection: String::new(),
        }
    }

    fn label(mut self, label: &str, value: &str) -> Self {
        self.label = format!("{label}: {value}");
        self
    }

    fn detect(mut self, option: impl AsRef<str>) -> Self {
        self.detection.push_str(option.as_ref());
        self.detection.push_str("; ");
        self
    }
}

/// What an attribute's rules have in common.
struct Context {
    /// `MISP e<id> [<tags>] `, unescaped.
    msg_prefix: String,
    /// `reference:url,…; ` or empty.
    reference: String,
    priority: i64,
}

/// An attribute's outcome: its rules, or why it has none although its type has rules.
type Outcome = Result<Vec<Generated>, &'static str>;

#[derive(Clone, Debug)]
enum Generated {
    Rule(Rule),
    /// A stored rule already rewritten except for the msg prefix and sid.
    Stored(StoredRule),
}

/// Writes the rules of each attribute as it arrives; keeps only which objects have had
/// their one rule and what was left out.
#[derive(Debug)]
pub struct NidsWriter {
    dialect: Dialect,
    sid_base: i64,
    base_url: String,
    objects_done: HashSet<i64>,
    skipped: Skipped,
}

impl NidsWriter {
    pub fn new(dialect: Dialect, options: &ExportOptions) -> Self {
        Self {
            dialect,
            sid_base: options.nids_sid_base,
            base_url: options.base_url.clone(),
            objects_done: HashSet::new(),
            skipped: Skipped::default(),
        }
    }

    fn context(&self, item: &ExportItem<'_>) -> Context {
        let reference = event_link(&self.base_url, item.event.id)
            .map(|link| {
                let bare = link
                    .strip_prefix("https://")
                    .or_else(|| link.strip_prefix("http://"))
                    .unwrap_or(&link);
                format!("reference:url,{}; ", reference_text(bare))
            })
            .unwrap_or_default();
        Context {
            msg_prefix: format!("MISP e{} [{}] ", item.event.id, tag_names(item).join(",")),
            reference,
            priority: item.event.threat_level.as_i64(),
        }
    }

    /// The sid of an attribute's n-th rule, if it fits the 32 bits engines use.
    fn sid(&self, attribute_id: i64, n: usize) -> Option<u32> {
        attribute_id
            .checked_mul(10)
            .and_then(|base| base.checked_add(self.sid_base))
            .and_then(|base| base.checked_add(n as i64))
            .and_then(|sid| u32::try_from(sid).ok())
            .filter(|sid| *sid > 0)
    }

    fn write(
        &mut self,
        out: &mut String,
        context: &Context,
        sid_owner: i64,
        rules: Vec<Generated>,
    ) {
        let type_label = "rules";
        for (index, generated) in rules.into_iter().take(MAX_RULES_PER_ATTRIBUTE).enumerate() {
            let Some(sid) = self.sid(sid_owner, index + 1) else {
                self.skipped.add(
                    "its sid would not fit in 32 bits",
                    &format!("{type_label} of attribute {sid_owner}"),
                );
                return;
            };
            match generated {
                Generated::Rule(rule) => {
                    let _ = writeln!(
                        out,
                        "alert {} {} {} -> {} {} (msg:\"{}\"; {}{}classtype:{CLASSTYPE}; \
                         sid:{sid}; rev:1; priority:{};)",
                        rule.proto,
                        rule.source,
                        rule.source_port,
                        rule.destination,
                        rule.destination_port,
                        msg_text(&format!("{}{}", context.msg_prefix, rule.label)),
                        rule.detection,
                        context.reference,
                        context.priority,
                    );
                }
                Generated::Stored(stored) => {
                    out.push_str(&stored.render(context, sid));
                    out.push('\n');
                }
            }
        }
    }

    fn attribute_rules(&self, attribute: &Attribute) -> Outcome {
        let value1 = attribute.value1.as_str();
        let value2 = attribute.value2.as_str();
        let one = |rule: Result<Rule, &'static str>| rule.map(|rule| vec![Generated::Rule(rule)]);
        match attribute.attr_type.as_str() {
            "ip-dst" => one(address_rule(value1, None, Way::Outgoing, value1)),
            "ip-src" => one(address_rule(value1, None, Way::Incoming, value1)),
            "ip-dst|port" => one(address_rule(
                value1,
                Some(value2),
                Way::Outgoing,
                &attribute.value(),
            )),
            "ip-src|port" => one(address_rule(
                value1,
                Some(value2),
                Way::Incoming,
                &attribute.value(),
            )),
            "domain" => self.name_rules(value1, NameScope::WithSubdomains),
            "hostname" => self.name_rules(value1, NameScope::Exact),
            "domain|ip" => {
                let mut rules = self.name_rules(value1, NameScope::WithSubdomains)?;
                rules.push(Generated::Rule(address_rule(
                    value2,
                    None,
                    Way::Outgoing,
                    value2,
                )?));
                rules.push(Generated::Rule(address_rule(
                    value2,
                    None,
                    Way::Incoming,
                    value2,
                )?));
                Ok(rules)
            }
            "url" => one(self.url_rule(value1)),
            "user-agent" => one(self.user_agent_rule(value1)),
            "email-src" => one(smtp_rule(SmtpField::MailFrom, value1)),
            "email-dst" => one(smtp_rule(SmtpField::RcptTo, value1)),
            "email" => Ok(vec![
                Generated::Rule(smtp_rule(SmtpField::MailFrom, value1)?),
                Generated::Rule(smtp_rule(SmtpField::RcptTo, value1)?),
            ]),
            "email-subject" => one(smtp_rule(SmtpField::Subject, value1)),
            "email-attachment" => one(smtp_rule(SmtpField::Attachment, value1)),
            "ja3-fingerprint-md5" => one(self.fingerprint_rule(Fingerprint::Ja3, value1)),
            "hassh-md5" => one(self.fingerprint_rule(Fingerprint::Hassh, value1)),
            "hasshserver-md5" => one(self.fingerprint_rule(Fingerprint::HasshServer, value1)),
            "x509-fingerprint-sha1" => {
                one(self.fingerprint_rule(Fingerprint::CertificateSha1, value1))
            }
            "snort" => stored_rules(value1),
            _ => Ok(Vec::new()),
        }
    }

    fn name_rules(&self, raw: &str, scope: NameScope) -> Outcome {
        let name = dns_name(raw).ok_or("not a valid DNS name")?;
        let length = name.len();
        let exact = scope == NameScope::Exact;
        let (dns_label, http_label, tls_label) = if exact {
            (
                "Hostname",
                "Outgoing HTTP Hostname",
                "Outgoing TLS Hostname",
            )
        } else {
            ("Domain", "Outgoing HTTP Domain", "Outgoing TLS Domain")
        };
        let rules = match self.dialect {
            Dialect::Suricata => {
                // dotprefix turns "a.evil.example" into ".a.evil.example", so ".evil.example"
                // at the end matches the domain and every subdomain but not "notevil.example".
                let (matcher, tail) = if exact {
                    (content(&name), format!("bsize:{length}"))
                } else {
                    (
                        format!("dotprefix; {}", content(&format!(".{name}"))),
                        "endswith".into(),
                    )
                };
                vec![
                    Rule::new("dns", "any", "any", "any", "any")
                        .label(dns_label, &name)
                        .detect(format!("dns.query; {matcher}; nocase; {tail}")),
                    Rule::new("http", "$HOME_NET", "any", "$EXTERNAL_NET", "any")
                        .label(http_label, &name)
                        .detect("flow:established,to_server")
                        .detect(format!("http.host; {matcher}; {tail}")),
                    Rule::new("tls", "$HOME_NET", "any", "$EXTERNAL_NET", "any")
                        .label(tls_label, &name)
                        .detect("flow:established,to_server")
                        .detect(format!("tls.sni; {matcher}; nocase; {tail}")),
                ]
            }
            Dialect::Snort => {
                let wire = wire_name(&name).ok_or("a DNS label longer than 63 characters")?;
                let wire_length = length + 2;
                // The question's name starts at byte 12 of a UDP query and 14 over TCP
                // (after the length prefix); the terminating |00| anchors its end.
                let position = |start: usize| {
                    if exact {
                        format!("offset:{start}; depth:{wire_length}")
                    } else {
                        format!("offset:{start}")
                    }
                };
                let host_pattern = if exact {
                    format!(
                        "/^Host\\x3a\\x20{}(?:\\x3a\\d+)?\\r?$/Hmi",
                        pcre_literal(&name)
                    )
                } else {
                    format!(
                        "/^Host\\x3a\\x20(?:[^\\r\\n]*\\.)?{}(?:\\x3a\\d+)?\\r?$/Hmi",
                        pcre_literal(&name)
                    )
                };
                vec![
                    Rule::new("udp", "any", "any", "any", "53")
                        .label(dns_label, &name)
                        .detect(format!("content:\"{wire}\"; {}; nocase", position(12))),
                    Rule::new("tcp", "any", "any", "any", "53")
                        .label(dns_label, &name)
                        .detect("flow:established,to_server")
                        .detect(format!("content:\"{wire}\"; {}; nocase", position(14))),
                    Rule::new("tcp", "$HOME_NET", "any", "$EXTERNAL_NET", "$HTTP_PORTS")
                        .label(http_label, &name)
                        .detect("flow:established,to_server")
                        .detect(format!("{}; http_header; nocase", content(&name)))
                        .detect(format!("pcre:\"{host_pattern}\"")),
                ]
            }
        };
        Ok(rules.into_iter().map(Generated::Rule).collect())
    }

    fn url_rule(&self, raw: &str) -> Result<Rule, &'static str> {
        let url = UrlParts::parse(raw).ok_or("not a URL")?;
        let shown = raw.trim();
        let (destination, host_name) = match &url.host {
            Some(UrlHost::Address(addr)) => (address_text(*addr), None),
            Some(UrlHost::Name(name)) => ("$EXTERNAL_NET".to_string(), Some(name.as_str())),
            None => ("$EXTERNAL_NET".to_string(), None),
        };
        let path = (url.path != "/" && !url.path.is_empty()).then_some(url.path.as_str());
        let explicit_port = url.port.map(|port| port.to_string());
        match url.scheme.as_deref() {
            None | Some("http") => {
                let port = match (explicit_port, self.dialect) {
                    (Some(port), _) => port,
                    (None, Dialect::Suricata) => "any".into(),
                    (None, Dialect::Snort) => "$HTTP_PORTS".into(),
                };
                let mut rule = match self.dialect {
                    Dialect::Suricata => Rule::new("http", "$HOME_NET", "any", &destination, &port),
                    Dialect::Snort => Rule::new("tcp", "$HOME_NET", "any", &destination, &port),
                }
                .label("Outgoing HTTP URL", shown)
                .detect("flow:established,to_server");
                if let Some(name) = host_name {
                    rule = match self.dialect {
                        Dialect::Suricata => rule.detect(format!(
                            "http.host; {}; bsize:{}",
                            content(name),
                            name.len()
                        )),
                        Dialect::Snort => rule
                            .detect(format!("{}; http_header; nocase", content(name)))
                            .detect(format!(
                                "pcre:\"/^Host\\x3a\\x20{}(?:\\x3a\\d+)?\\r?$/Hmi\"",
                                pcre_literal(name)
                            )),
                    };
                }
                if let Some(path) = path {
                    rule = match self.dialect {
                        Dialect::Suricata => {
                            rule.detect(format!("http.uri; {}; startswith", content(path)))
                        }
                        Dialect::Snort => rule.detect(format!(
                            "{}; http_uri; depth:{}",
                            content(path),
                            path.len()
                        )),
                    };
                }
                if host_name.is_none() && path.is_none() && url.host.is_none() {
                    return Err("not a URL");
                }
                Ok(rule)
            }
            Some("https") => {
                let port = explicit_port.unwrap_or_else(|| match self.dialect {
                    Dialect::Suricata => "any".into(),
                    Dialect::Snort => "443".into(),
                });
                let rule = match self.dialect {
                    Dialect::Suricata => Rule::new("tls", "$HOME_NET", "any", &destination, &port),
                    Dialect::Snort => Rule::new("tcp", "$HOME_NET", "any", &destination, &port),
                }
                .label("Outgoing HTTPS URL", shown)
                .detect("flow:established,to_server");
                Ok(match (host_name, self.dialect) {
                    (None, _) if url.host.is_some() => rule,
                    (None, _) => return Err("not a URL"),
                    (Some(name), Dialect::Suricata) => rule.detect(format!(
                        "tls.sni; {}; nocase; bsize:{}",
                        content(name),
                        name.len()
                    )),
                    (Some(name), Dialect::Snort) => rule
                        .detect("ssl_state:client_hello")
                        .detect(format!("{}; nocase", content(name))),
                })
            }
            Some(scheme) => {
                if host_name.is_some() || url.host.is_none() {
                    return Err("a non-HTTP URL whose host is a name (no rule can see it)");
                }
                let port = explicit_port.unwrap_or_else(|| {
                    match scheme {
                        "ftp" => "21",
                        "ssh" | "sftp" => "22",
                        _ => "any",
                    }
                    .into()
                });
                Ok(Rule::new("tcp", "$HOME_NET", "any", &destination, &port)
                    .label("Outgoing URL", shown)
                    .detect("flow:to_server"))
            }
        }
    }

    fn user_agent_rule(&self, value: &str) -> Result<Rule, &'static str> {
        if value.is_empty() {
            return Err("empty");
        }
        Ok(match self.dialect {
            Dialect::Suricata => Rule::new("http", "$HOME_NET", "any", "$EXTERNAL_NET", "any")
                .label("Outgoing User-Agent", value)
                .detect("flow:established,to_server")
                .detect(format!("http.user_agent; {}", content(value))),
            Dialect::Snort => Rule::new("tcp", "$HOME_NET", "any", "$EXTERNAL_NET", "$HTTP_PORTS")
                .label("Outgoing User-Agent", value)
                .detect("flow:established,to_server")
                .detect(format!("{}; http_header; nocase", content("User-Agent: ")))
                .detect(format!("{}; http_header; distance:0", content(value))),
        })
    }

    fn fingerprint_rule(&self, kind: Fingerprint, raw: &str) -> Result<Rule, &'static str> {
        if self.dialect == Dialect::Snort {
            return Err("Snort 2 has no keyword for this fingerprint");
        }
        let hex = raw.trim().to_ascii_lowercase();
        let (proto, buffer, label, digits) = match kind {
            Fingerprint::Ja3 => ("tls", "ja3.hash", "JA3 Hash", 32),
            Fingerprint::Hassh => ("ssh", "ssh.hassh", "HASSH", 32),
            Fingerprint::HasshServer => ("ssh", "ssh.hassh.server", "HASSH Server", 32),
            Fingerprint::CertificateSha1 => {
                ("tls", "tls.cert_fingerprint", "TLS Certificate SHA-1", 40)
            }
        };
        if hex.len() != digits || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("not a fingerprint of the right length");
        }
        let matched = if kind == Fingerprint::CertificateSha1 {
            // Suricata shows certificate fingerprints as colon-separated byte pairs.
            hex.as_bytes()
                .chunks(2)
                .map(|pair| String::from_utf8_lossy(pair).into_owned())
                .collect::<Vec<_>>()
                .join(":")
        } else {
            hex.clone()
        };
        Ok(Rule::new(proto, "any", "any", "any", "any")
            .label(label, &hex)
            .detect(format!("{buffer}; {}", content(&matched))))
    }

    /// One rule for a `network-connection` or `ddos` object: proto and both ends from
    /// its attributes. None when the object has no address at either end.
    fn object_rule(&self, object: &MispObject) -> Result<Rule, &'static str> {
        let values = |relation: &str| -> Vec<&str> {
            object
                .attributes
                .iter()
                .filter(|attribute| !attribute.deleted)
                .filter(|attribute| attribute.object_relation.as_deref() == Some(relation))
                .map(|attribute| attribute.value1.as_str())
                .collect()
        };
        let addresses = |relation: &str| -> Result<Option<String>, &'static str> {
            let mut networks = Vec::new();
            for raw in values(relation) {
                let network = Network::parse(raw).ok_or("not a valid IP address")?;
                let text = network.to_string();
                if !networks.contains(&text) {
                    networks.push(text);
                }
            }
            Ok(match networks.len() {
                0 => None,
                1 => networks.pop(),
                _ => Some(format!("[{}]", networks.join(","))),
            })
        };
        let ports = |relation: &str| -> Result<String, &'static str> {
            let mut found = Vec::new();
            for raw in values(relation) {
                let port = raw.trim();
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or("not a valid port")?;
                if !found.contains(&port) {
                    found.push(port);
                }
            }
            Ok(match found.len() {
                0 => "any".into(),
                1 => found[0].to_string(),
                _ => format!("[{}]", found.join(",")),
            })
        };
        let source = addresses("ip-src")?;
        let destination = addresses("ip-dst")?;
        if source.is_none() && destination.is_none() {
            return Err("a connection with no address at either end");
        }
        let protocol_relation = if object.name == "ddos" {
            "protocol"
        } else {
            "layer4-protocol"
        };
        let proto = values(protocol_relation)
            .first()
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| matches!(p.as_str(), "tcp" | "udp" | "icmp" | "ip" | "sctp"))
            .unwrap_or_else(|| "ip".into());
        let source = source.unwrap_or_else(|| "any".into());
        let destination = destination.unwrap_or_else(|| "any".into());
        let label = if object.name == "ddos" {
            "DDoS"
        } else {
            "Network connection"
        };
        Ok(Rule::new(
            &proto,
            &source,
            &ports("src-port")?,
            &destination,
            &ports("dst-port")?,
        )
        .label(label, &format!("{source} -> {destination}")))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NameScope {
    Exact,
    WithSubdomains,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Way {
    /// From the protected network to the address.
    Outgoing,
    /// From the address to the protected network.
    Incoming,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fingerprint {
    Ja3,
    Hassh,
    HasshServer,
    CertificateSha1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SmtpField {
    MailFrom,
    RcptTo,
    Subject,
    Attachment,
}

fn address_text(addr: IpAddr) -> String {
    Network {
        addr,
        prefix: if addr.is_ipv4() { 32 } else { 128 },
    }
    .to_string()
}

fn address_rule(
    raw: &str,
    port: Option<&str>,
    way: Way,
    shown: &str,
) -> Result<Rule, &'static str> {
    let network = Network::parse(raw)
        .ok_or("not a valid IP address or network")?
        .to_string();
    let port = match port {
        None => "any".to_string(),
        Some(text) => text
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or("not a valid port")?
            .to_string(),
    };
    Ok(match way {
        Way::Outgoing => {
            Rule::new("ip", "$HOME_NET", "any", &network, &port).label("Outgoing To IP", shown)
        }
        Way::Incoming => {
            Rule::new("ip", &network, &port, "$HOME_NET", "any").label("Incoming From IP", shown)
        }
    })
}

fn smtp_rule(field: SmtpField, value: &str) -> Result<Rule, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Err("empty");
    }
    // The value must follow its marker closely: "MAIL FROM:<a@b>", "Subject: x",
    // "filename="x"". Without the bound it would match the address anywhere in the mail.
    let (marker, label, slack) = match field {
        SmtpField::MailFrom => ("MAIL FROM:", "Source Email Address", 2),
        SmtpField::RcptTo => ("RCPT TO:", "Destination Email Address", 2),
        SmtpField::Subject => ("Subject:", "Email Subject", 1),
        SmtpField::Attachment => ("filename=", "Email Attachment", 1),
    };
    Ok(
        Rule::new("tcp", "$EXTERNAL_NET", "any", "$SMTP_SERVERS", "25")
            .label(label, value)
            .detect("flow:established,to_server")
            .detect(format!("{}; nocase", content(marker)))
            .detect(format!(
                "{}; nocase; distance:0; within:{}",
                content(value),
                value.len() + slack
            )),
    )
}

// ---------------------------------------------------------------------------------------
// Stored rules (`snort` attributes)

/// A stored rule taken apart into header and options.
#[derive(Clone, Debug)]
struct StoredRule {
    header: String,
    options: Vec<String>,
}

fn stored_rules(value: &str) -> Outcome {
    let mut rules = Vec::new();
    let mut pending = String::new();
    for line in value.lines() {
        let line = line.trim();
        if line.is_empty() || (pending.is_empty() && line.starts_with('#')) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        rules.push(Generated::Stored(
            StoredRule::parse(&pending).ok_or("not a rule (action, header and options)")?,
        ));
        pending.clear();
    }
    if !pending.trim().is_empty() {
        rules.push(Generated::Stored(
            StoredRule::parse(&pending).ok_or("not a rule (action, header and options)")?,
        ));
    }
    if rules.is_empty() {
        return Err("not a rule (action, header and options)");
    }
    Ok(rules)
}

impl StoredRule {
    fn parse(text: &str) -> Option<StoredRule> {
        let text = text.trim();
        let open = text.find('(')?;
        let close = text.rfind(')')?;
        if close < open || !text[close + 1..].trim().is_empty() {
            return None;
        }
        let header = text[..open].split_whitespace().collect::<Vec<_>>();
        let header_ok = header.len() == 7
            && header[0].bytes().all(|b| b.is_ascii_alphabetic())
            && matches!(header[4], "->" | "<>");
        if !header_ok {
            return None;
        }
        let options = split_options(&text[open + 1..close]);
        Some(StoredRule {
            header: header.join(" "),
            options,
        })
    }

    fn render(&self, context: &Context, sid: u32) -> String {
        let option_name = |option: &str| {
            option
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        };
        let has = |name: &str| {
            self.options
                .iter()
                .any(|option| option_name(option) == name)
        };
        let mut options = Vec::with_capacity(self.options.len() + 5);
        if !has("msg") {
            options.push(format!(
                "msg:\"{}\"",
                msg_text(&format!("{}Snort rule", context.msg_prefix))
            ));
        }
        for option in &self.options {
            match option_name(option).as_str() {
                "msg" => {
                    let original = option
                        .split_once(':')
                        .map(|(_, value)| value.trim())
                        .unwrap_or_default();
                    let inner = original
                        .strip_prefix('"')
                        .and_then(|rest| rest.strip_suffix('"'))
                        .unwrap_or(original);
                    options.push(format!(
                        "msg:\"{}Snort rule | {inner}\"",
                        msg_text(&context.msg_prefix)
                    ));
                }
                "sid" => options.push(format!("sid:{sid}")),
                "rev" => options.push("rev:1".into()),
                _ => options.push(option.clone()),
            }
        }
        if !context.reference.is_empty() {
            options.push(context.reference.trim_end_matches("; ").to_string());
        }
        if !has("classtype") {
            options.push(format!("classtype:{CLASSTYPE}"));
        }
        if !has("sid") {
            options.push(format!("sid:{sid}"));
        }
        if !has("rev") {
            options.push("rev:1".into());
        }
        if !has("priority") {
            options.push(format!("priority:{}", context.priority));
        }
        format!("{} ({};)", self.header, options.join("; "))
    }
}

/// Splits a rule body on the `;` that end options, not those inside quotes or escaped.
fn split_options(body: &str) -> Vec<String> {
    let mut options = Vec::new();
    let mut current = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for c in body.chars() {
        if escaped {
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => {
                let option = current.trim();
                if !option.is_empty() {
                    options.push(option.to_string());
                }
                current.clear();
            }
            _ => current.push(c),
        }
    }
    let option = current.trim();
    if !option.is_empty() {
        options.push(option.to_string());
    }
    options
}

// ---------------------------------------------------------------------------------------
// Escaping

/// `content:"…"` for a value: printable ASCII as is, except the characters the rule
/// language reserves (`"`, `;`, `:`, `|`, `\`), which, like every other byte, are
/// written as hex between pipes (`|3a 22|`).
pub(crate) fn content(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 12);
    out.push_str("content:\"");
    let mut in_hex = false;
    for byte in value.bytes() {
        let literal = (0x20..0x7f).contains(&byte) && !b"\";:|\\".contains(&byte);
        if literal {
            if in_hex {
                out.push('|');
                in_hex = false;
            }
            out.push(byte as char);
        } else {
            if in_hex {
                out.push(' ');
            } else {
                out.push('|');
                in_hex = true;
            }
            let _ = write!(out, "{byte:02x}");
        }
    }
    if in_hex {
        out.push('|');
    }
    out.push('"');
    out
}

/// A msg text: `\`, `"` and `;` escaped with a backslash, control characters as spaces.
pub(crate) fn msg_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' | '"' | ';' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A reference URL as the rule parsers take it: no spaces, quotes or semicolons.
fn reference_text(url: &str) -> String {
    url.chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '"' => "%22".to_string(),
            ';' => "%3B".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// A DNS name in wire format as content: `evil.example` → `|04|evil|07|example|00|`.
/// None when a label is longer than DNS allows.
fn wire_name(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len() + 16);
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        let _ = write!(out, "|{:02x}|{label}", label.len());
    }
    out.push_str("|00|");
    Some(out)
}

/// A DNS name (letters, digits, `-`, `_`, `.`) as a literal inside a PCRE.
fn pcre_literal(name: &str) -> String {
    name.replace('.', "\\.")
}

// ---------------------------------------------------------------------------------------

impl ExportWriter for NidsWriter {
    fn content_type(&self) -> &'static str {
        "text/plain; charset=UTF-8"
    }

    fn begin(&mut self, out: &mut String) {
        let engine = match self.dialect {
            Dialect::Suricata => "Suricata 5 or later",
            Dialect::Snort => "Snort 2.9",
        };
        let _ = writeln!(out, "# IDS rules from Kizuna for {engine}");
        out.push_str("#\n");
        out.push_str("# The rules use variables your configuration must define:\n");
        out.push_str("#   $HOME_NET      the networks you protect\n");
        out.push_str("#   $EXTERNAL_NET  the networks outside them\n");
        out.push_str("#   $SMTP_SERVERS  your mail servers\n");
        match self.dialect {
            Dialect::Suricata => {
                out.push_str(
                    "# JA3 rules need app-layer.protocols.tls.ja3-fingerprints and HASSH rules\n\
                     # app-layer.protocols.ssh.hassh enabled.\n",
                );
            }
            Dialect::Snort => {
                out.push_str("#   $HTTP_PORTS    the ports carrying HTTP\n");
            }
        }
        let _ = writeln!(
            out,
            "# Rule ids: {} + attribute id x 10 + 1..9.",
            self.sid_base
        );
        out.push_str("#\n");
    }

    fn attribute(&mut self, out: &mut String, item: &ExportItem<'_>) {
        if let Some(object) = item.object
            && matches!(object.name.as_str(), "network-connection" | "ddos")
            && !object.attributes.is_empty()
        {
            if !self.objects_done.insert(object.id) {
                return;
            }
            let context = self.context(item);
            let sid_owner = object
                .attributes
                .iter()
                .map(|attribute| attribute.id)
                .min()
                .unwrap_or(item.attribute.id);
            match self.object_rule(object) {
                Ok(rule) => self.write(out, &context, sid_owner, vec![Generated::Rule(rule)]),
                Err(reason) => self
                    .skipped
                    .add(format!("{} object: {reason}", object.name), &object.uuid),
            }
            return;
        }
        match self.attribute_rules(item.attribute) {
            Ok(rules) if rules.is_empty() => {}
            Ok(rules) => {
                let context = self.context(item);
                self.write(out, &context, item.attribute.id, rules);
            }
            Err(reason) => self.skipped.add(
                format!("{}: {reason}", item.attribute.attr_type),
                &item.attribute.value(),
            ),
        }
    }

    fn finish(&mut self, _out: &mut String) {}

    fn warnings(&self) -> Vec<String> {
        self.skipped.warnings(self.dialect.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_escape_reserved_and_non_ascii_bytes() {
        assert_eq!(content("evil.example"), "content:\"evil.example\"");
        assert_eq!(
            content("a\"b;c:d|e\\f"),
            "content:\"a|22|b|3b|c|3a|d|7c|e|5c|f\""
        );
        assert_eq!(content("é\t"), "content:\"|c3 a9 09|\"");
        assert_eq!(content(";;"), "content:\"|3b 3b|\"");
    }

    #[test]
    fn msgs_escape_with_backslashes() {
        assert_eq!(
            msg_text("APT \"28\"; C:\\x\n"),
            "APT \\\"28\\\"\\; C:\\\\x "
        );
    }

    #[test]
    fn dns_names_in_wire_format() {
        assert_eq!(
            wire_name("www.evil.example").unwrap(),
            "|03|www|04|evil|07|example|00|"
        );
        assert_eq!(wire_name(&format!("{}.example", "a".repeat(64))), None);
    }

    #[test]
    fn sids_follow_the_attribute_id() {
        let writer = NidsWriter::new(Dialect::Suricata, &ExportOptions::default());
        assert_eq!(writer.sid(7, 1), Some(4_000_071));
        assert_eq!(writer.sid(7, 9), Some(4_000_079));
        assert_eq!(writer.sid(12_345, 3), Some(4_123_453));
        assert_eq!(writer.sid(500_000_000, 1), None);
    }

    #[test]
    fn options_split_outside_quotes_only() {
        assert_eq!(
            split_options(r#"msg:"a; b \"c;\""; content:"x|3b|"; sid:1"#),
            vec![r#"msg:"a; b \"c;\"""#, r#"content:"x|3b|""#, "sid:1"]
        );
    }

    #[test]
    fn stored_rules_get_our_msg_sid_and_rev_and_keep_their_own_metadata() {
        let rule = StoredRule::parse(
            "alert tcp any any -> any 80 (msg:\"Evil beacon\"; content:\"GET /b\"; \
             classtype:bad-unknown; sid:123; rev:7;)",
        )
        .unwrap();
        let context = Context {
            msg_prefix: "MISP e5 [tlp:green] ".into(),
            reference: "reference:url,misp.example/events/view/5; ".into(),
            priority: 2,
        };
        assert_eq!(
            rule.render(&context, 4_000_091),
            "alert tcp any any -> any 80 (msg:\"MISP e5 [tlp:green] Snort rule | Evil beacon\"; \
             content:\"GET /b\"; classtype:bad-unknown; sid:4000091; rev:1; \
             reference:url,misp.example/events/view/5; priority:2;)"
        );
        assert!(StoredRule::parse("this is not a rule").is_none());
        assert!(StoredRule::parse("alert tcp any any -> any 80 (sid:1;) trailing").is_none());
    }
}
