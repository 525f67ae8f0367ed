//! Device exports against golden files: one synthetic set of events covering every type
//! the writers handle, composite values, tags, awkward characters, duplicates and a few
//! values no device could load. `KIZUNA_BLESS=1` rewrites the golden files; review the
//! diff before committing them. The RPZ zones are also loaded by BIND's `named-checkzone`
//! when it is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use kizuna_formats::export::{
    EdlList, ExportFormat, ExportItem, ExportOptions, RpzOptions, RpzPolicy, writer,
};
use kizuna_model::{
    AttachedTag, Attribute, Distribution, Event, IntendedUse, MispObject, Organisation, Tag,
    ThreatLevel,
};
use time::{Date, Month};

use crate::NOW;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/export-golden")
}

/// Compares `actual` with the golden file `name`, or rewrites it under `KIZUNA_BLESS=1`.
fn golden(name: &str, actual: &str) {
    let path = golden_dir().join(name);
    if std::env::var("KIZUNA_BLESS").as_deref() == Ok("1") {
        std::fs::create_dir_all(golden_dir()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run with KIZUNA_BLESS=1 to write it",
            path.display()
        )
    });
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             (KIZUNA_BLESS=1 rewrites it)",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

fn tag(name: &str) -> AttachedTag {
    AttachedTag {
        tag: Tag {
            name: name.into(),
            exportable: true,
            ..Tag::default()
        },
        local: false,
        relationship_type: None,
    }
}

struct Spec {
    id: i64,
    attr_type: &'static str,
    value1: &'static str,
    value2: &'static str,
    intended_use: Option<IntendedUse>,
    comment: &'static str,
}

const fn spec(id: i64, attr_type: &'static str, value1: &'static str) -> Spec {
    Spec {
        id,
        attr_type,
        value1,
        value2: "",
        intended_use: None,
        comment: "",
    }
}

const fn pair(
    id: i64,
    attr_type: &'static str,
    value1: &'static str,
    value2: &'static str,
) -> Spec {
    Spec {
        id,
        attr_type,
        value1,
        value2,
        intended_use: None,
        comment: "",
    }
}

impl Spec {
    const fn used(mut self, intended_use: IntendedUse) -> Spec {
        self.intended_use = Some(intended_use);
        self
    }

    const fn comment(mut self, comment: &'static str) -> Spec {
        self.comment = comment;
        self
    }

    fn build(&self, event_id: i64) -> Attribute {
        let mut attribute = Attribute::new(
            format!("5e1f0000-0000-4000-8000-{:012}", self.id),
            self.attr_type.into(),
            "Network activity".into(),
            self.value1.into(),
            self.value2.into(),
        );
        attribute.id = self.id;
        attribute.event_id = event_id;
        attribute.to_ids = true;
        attribute.intended_use = self.intended_use;
        attribute.comment = self.comment.into();
        attribute
    }
}

const SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const SHA1: &str = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3";
const MD5: &str = "098f6bcd4621d373cade4e832627b4f6";

/// The first event: every handled type, tags with quotes, awkward values.
fn first_event() -> Event {
    let mut event = Event::new(
        "5e1f0000-0000-4000-8000-0000000000e1".into(),
        "Phishing wave; \"Invoice\" lures\twith a tab".into(),
        Date::from_calendar_date(2023, Month::November, 1).unwrap(),
        1,
        NOW,
    );
    event.id = 12;
    event.threat_level = ThreatLevel::High;
    event.published = true;
    event.distribution = Distribution::CommunityOnly;
    event.orgc = Some(Organisation {
        id: 3,
        name: "ACME CERT".into(),
        uuid: "5e1f0000-0000-4000-8000-0000000000a3".into(),
        ..Organisation::default()
    });
    event.tags = vec![tag("tlp:green"), tag("misp-galaxy:threat-actor=\"APT 28\"")];
    let specs = [
        spec(101, "ip-dst", "198.51.100.3").comment("C2 server"),
        spec(102, "ip-src", "203.0.113.0/24").used(IntendedUse::BlockInbound),
        pair(103, "ip-dst|port", "192.0.2.10", "8080"),
        pair(104, "ip-src|port", "2001:db8::1", "443"),
        spec(105, "domain", "evil.example"),
        spec(106, "hostname", "c2.bad-actor.example").used(IntendedUse::BlockOutbound),
        pair(107, "domain|ip", "xn--bcher-kva.example", "198.51.100.77"),
        spec(108, "url", "https://evil.example/login.php?user=a\"b;c"),
        spec(109, "url", "http://198.51.100.3:8080/gate.php"),
        spec(110, "url", "evil.example/dl/payload.exe"),
        spec(
            111,
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) EvilBot/1.0 \"quoted\"",
        ),
        spec(112, "email-src", "attacker@evil.example"),
        spec(113, "email-dst", "victim@corp.example"),
        spec(114, "email-subject", "Your invoice; \"urgent\" — payé"),
        spec(115, "email-attachment", "invoice.pdf.exe"),
        spec(
            116,
            "ja3-fingerprint-md5",
            "e7d705a3286e19ea42f587b344ee6865",
        ),
        spec(
            117,
            "snort",
            "alert tcp any any -> any 80 (msg:\"Evil beacon\"; content:\"GET /b\"; sid:1; rev:3;)",
        ),
        spec(118, "md5", MD5),
        pair(119, "filename|sha256", "invoice.exe", SHA256),
        pair(120, "malware-sample", "dropper.bin", MD5),
        spec(121, "sha1", SHA1),
        spec(122, "x509-fingerprint-sha1", SHA1),
        pair(123, "hostname|port", "mail.evil.example", "25"),
        spec(124, "text", "free text the devices ignore"),
        spec(125, "domain", "evil.example").used(IntendedUse::Detect),
        spec(126, "ip-dst", "198.51.100.3").used(IntendedUse::HuntOnly),
        spec(127, "domain", "bad domain with space"),
        spec(128, "hassh-md5", "ec7378c1a92f5a8dde7e8b7a1ddf33d1"),
        spec(129, "filename", "C:\\Temp\\evil.exe"),
        spec(130, "ip-dst", "2001:db8:0:0:1:0:0:1").used(IntendedUse::BlockOutbound),
        spec(131, "email", "spoofed@evil.example"),
    ];
    event.attributes = specs.iter().map(|spec| spec.build(event.id)).collect();
    event.attributes[4].tags = vec![tag("type:OSINT"), tag("tlp:green")];
    event
}

/// The second event: duplicates of the first across events, no tags, no creator
/// organisation loaded, and a network-connection object.
fn second_event() -> Event {
    let mut event = Event::new(
        "5e1f0000-0000-4000-8000-0000000000e2".into(),
        "Second event".into(),
        Date::from_calendar_date(2023, Month::November, 2).unwrap(),
        1,
        NOW,
    );
    event.id = 13;
    event.threat_level = ThreatLevel::Undefined;
    event.published = true;
    let specs = [
        spec(201, "domain", "evil.example").used(IntendedUse::BlockOutbound),
        spec(202, "url", "http://evil.example/login.php"),
        spec(203, "ip-src", "198.51.100.3"),
    ];
    event.attributes = specs.iter().map(|spec| spec.build(event.id)).collect();
    let connection = [
        spec(210, "ip-src", "192.0.2.200"),
        spec(211, "ip-dst", "198.51.100.99"),
        spec(212, "port", "443"),
        spec(213, "text", "TCP"),
    ];
    let relations = ["ip-src", "ip-dst", "dst-port", "layer4-protocol"];
    let attributes = connection
        .iter()
        .zip(relations)
        .map(|(spec, relation)| {
            let mut attribute = spec.build(event.id);
            attribute.object_id = 50;
            attribute.object_relation = Some(relation.into());
            attribute
        })
        .collect();
    event.objects = vec![MispObject {
        id: 50,
        uuid: "5e1f0000-0000-4000-8000-000000000050".into(),
        event_id: event.id,
        name: "network-connection".into(),
        meta_category: "network".into(),
        description: String::new(),
        template_uuid: String::new(),
        template_version: "3".into(),
        timestamp: NOW,
        distribution: Distribution::InheritEvent,
        sharing_group_id: 0,
        comment: String::new(),
        deleted: false,
        first_seen: None,
        last_seen: None,
        attributes,
        references: Vec::new(),
    }];
    event
}

fn options() -> ExportOptions {
    ExportOptions {
        base_url: "https://misp.example.org/".into(),
        now: NOW,
        ..ExportOptions::default()
    }
}

fn run(format: ExportFormat, options: &ExportOptions) -> (String, Vec<String>) {
    let mut writer = writer(format, options);
    let mut out = String::new();
    writer.begin(&mut out);
    for event in [first_event(), second_event()] {
        writer.event(&mut out, &event);
    }
    writer.finish(&mut out);
    (out, writer.warnings())
}

/// Writes the output and its warnings to golden files `<name>` and `<name>.warnings`.
fn check(name: &str, format: ExportFormat, options: &ExportOptions) -> String {
    let (out, warnings) = run(format, options);
    assert!(
        !out.contains('\r') && !out.starts_with('\u{feff}'),
        "{name}: LF, no BOM"
    );
    golden(name, &out);
    let mut listed = warnings.join("\n");
    if !listed.is_empty() {
        listed.push('\n');
    }
    golden(&format!("{name}.warnings"), &listed);
    out
}

#[test]
fn text_lists_each_value_once_composites_as_stored() {
    let out = check("text.txt", ExportFormat::Text, &options());
    assert!(out.contains("\n192.0.2.10|8080\n"));
    assert_eq!(out.matches("\nevil.example\n").count(), 1);
}

#[test]
fn hashes_take_the_hash_half() {
    let out = check("hashes.txt", ExportFormat::Hashes, &options());
    assert!(!out.contains("invoice.exe") && out.contains(SHA256));
}

#[test]
fn hosts_send_names_to_the_sink() {
    check("hosts.txt", ExportFormat::Hosts, &options());
    let sinkhole = ExportOptions {
        hosts_address: "192.0.2.53".into(),
        ..options()
    };
    let (out, _) = run(ExportFormat::Hosts, &sinkhole);
    assert!(out.contains("\n192.0.2.53 evil.example\n"));
}

#[test]
fn cache_digests_each_half() {
    check("cache.txt", ExportFormat::Cache, &options());
    let with_uuid = ExportOptions {
        include_event_uuid: true,
        ..options()
    };
    let out = check("cache-event-uuid.txt", ExportFormat::Cache, &with_uuid);
    for line in out.lines() {
        let (digest, uuid) = line.split_once(',').unwrap();
        assert!(digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(uuid.starts_with("5e1f0000-"), "{line}");
    }
    // md5("evil.example"), once per event that holds it.
    assert!(
        out.contains("96119eb3210daa472225fbad69fa9770,5e1f0000-0000-4000-8000-0000000000e1\n")
    );
    assert!(
        out.contains("96119eb3210daa472225fbad69fa9770,5e1f0000-0000-4000-8000-0000000000e2\n")
    );
}

#[test]
fn edl_lists_follow_type_and_intended_use() {
    for list in EdlList::ALL {
        check(
            &format!("edl-{}.txt", list.name()),
            ExportFormat::Edl(list),
            &options(),
        );
    }
    let (inbound, _) = run(ExportFormat::Edl(EdlList::InboundAddresses), &options());
    let (outbound, _) = run(ExportFormat::Edl(EdlList::OutboundAddresses), &options());
    // Stated block-inbound only inbound, block-outbound only outbound, unstated both.
    assert!(inbound.contains("203.0.113.0/24\n") && !outbound.contains("203.0.113.0/24\n"));
    assert!(!inbound.contains("2001:db8::1:0:0:1\n") && outbound.contains("2001:db8::1:0:0:1\n"));
    assert!(inbound.contains("198.51.100.3\n") && outbound.contains("198.51.100.3\n"));
    let (domains, _) = run(ExportFormat::Edl(EdlList::OutboundDomains), &options());
    assert!(!domains.contains('#') && domains.contains("xn--bcher-kva.example\n"));
}

#[test]
fn edl_warns_past_device_capacity() {
    let mut writer = writer(ExportFormat::Edl(EdlList::OutboundDomains), &options());
    let event = second_event();
    let mut out = String::new();
    writer.begin(&mut out);
    let mut attribute = event.attributes[0].clone();
    for n in 0..131_073 {
        attribute.value1 = format!("host{n}.evil.example");
        writer.attribute(
            &mut out,
            &ExportItem {
                attribute: &attribute,
                event: &event,
                object: None,
            },
        );
        out.clear();
    }
    writer.finish(&mut out);
    let warnings = writer.warnings();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("131,073 entries") && warnings[0].contains("50,000 domains"));
    assert!(warnings[0].contains("PAN-OS"));
    assert!(warnings[1].contains("131,072 lines") && warnings[1].contains("FortiOS before 7.4.4"));
}

#[test]
fn suricata_rules() {
    let out = check("suricata.rules", ExportFormat::Suricata, &options());
    // sid = 4,000,000 + attribute id × 10 + n.
    assert!(out.contains("sid:4001011; rev:1; priority:1;)"));
    assert!(out.contains("reference:url,misp.example.org/events/view/12;"));
    assert!(out.contains("msg:\"MISP e12 [type:OSINT,tlp:green,misp-galaxy:threat-actor=\\\"APT 28\\\"] Domain: evil.example\""));
    assert!(out.contains("dns.query; dotprefix; content:\".evil.example\"; nocase; endswith;"));
    // The network-connection object is one rule, numbered from its lowest attribute id.
    assert!(out.contains("alert tcp 192.0.2.200 any -> 198.51.100.99 443 ("));
    assert!(out.contains("sid:4002101;"));
    assert!(!out.contains("sid:4002111;"));
}

#[test]
fn snort_rules() {
    let out = check("snort.rules", ExportFormat::Snort, &options());
    assert!(out.contains("content:\"|04|evil|07|example|00|\"; offset:12; nocase;"));
    assert!(!out.contains("ja3"));
    let (_, warnings) = run(ExportFormat::Snort, &options());
    assert!(warnings.iter().any(|w| w.contains("ja3-fingerprint-md5")));
}

#[test]
fn zeek_intel() {
    let out = check("zeek.intel", ExportFormat::Zeek, &options());
    for line in out.lines().skip(1) {
        assert_eq!(line.split('\t').count(), 5, "{line:?}");
    }
    assert!(out.contains("evil.example/dl/payload.exe\tIntel::URL\t"));
    assert!(out.contains("\tkizuna\tSecond event\t"));
    assert!(out.contains("C:\\x5cTemp\\x5cevil.exe\tIntel::FILE_NAME"));
    assert!(!out.contains("bad domain"));
}

#[test]
fn rpz_zone() {
    check("rpz.zone", ExportFormat::Rpz, &options());
    let walled = ExportOptions {
        rpz: RpzOptions {
            policy: RpzPolicy::LocalData,
            walled_garden: "walled.garden.example".into(),
            ns: "ns1.example.org.".into(),
            ns_alt: "ns2.example.org.".into(),
            email: "hostmaster.example.org.".into(),
            serial: "$time".into(),
            ..RpzOptions::default()
        },
        ..options()
    };
    assert_eq!(walled.validate(), Ok(()));
    check("rpz-local-data.zone", ExportFormat::Rpz, &walled);
}

/// Runs BIND's zone checker on both golden zones, as a resolver would load them.
#[test]
fn rpz_zones_load_in_bind() {
    let available = Command::new("named-checkzone").arg("-v").output().is_ok();
    if !available {
        // scripts/test installs it and sets this in CI, where skipping would hide a failure.
        assert!(
            std::env::var_os("KIZUNA_REQUIRE_NAMED_CHECKZONE").is_none(),
            "named-checkzone is required (KIZUNA_REQUIRE_NAMED_CHECKZONE) but not installed"
        );
        println!("SKIPPED: named-checkzone is not installed (Debian package bind9-utils)");
        return;
    }
    for name in ["rpz.zone", "rpz-local-data.zone"] {
        let path: &Path = &golden_dir().join(name);
        let output = Command::new("named-checkzone")
            .args(["-k", "fail", "-i", "full", "rpz.kizuna.test"])
            .arg(path)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {report}");
        assert!(report.contains("OK"), "{name}: {report}");
    }
}

/// Writing attribute by attribute with the output shipped and cleared in between gives
/// the same bytes as writing whole events.
#[test]
fn streaming_attribute_by_attribute_gives_the_same_bytes() {
    for format in [
        ExportFormat::Text,
        ExportFormat::Suricata,
        ExportFormat::Snort,
        ExportFormat::Zeek,
        ExportFormat::Rpz,
        ExportFormat::Edl(EdlList::OutboundUrls),
    ] {
        let (whole, _) = run(format, &options());
        let mut writer = writer(format, &options());
        let mut shipped = String::new();
        let mut chunk = String::new();
        writer.begin(&mut chunk);
        for event in [first_event(), second_event()] {
            let mut bare = event.clone();
            bare.attributes.clear();
            bare.objects.clear();
            for attribute in &event.attributes {
                shipped.push_str(&chunk);
                chunk.clear();
                writer.attribute(
                    &mut chunk,
                    &ExportItem {
                        attribute,
                        event: &bare,
                        object: None,
                    },
                );
            }
            for object in &event.objects {
                for attribute in &object.attributes {
                    writer.attribute(
                        &mut chunk,
                        &ExportItem {
                            attribute,
                            event: &bare,
                            object: Some(object),
                        },
                    );
                }
            }
        }
        writer.finish(&mut chunk);
        shipped.push_str(&chunk);
        assert_eq!(shipped, whole, "{}", format.name());
    }
}

#[test]
fn formats_parse_by_their_restsearch_names() {
    for name in [
        "text", "hashes", "hosts", "edl", "suricata", "snort", "zeek", "rpz", "cache", "stix2",
    ] {
        assert_eq!(ExportFormat::parse(name).unwrap().name(), name);
    }
    assert_eq!(ExportFormat::parse("bro"), Some(ExportFormat::Zeek));
    assert_eq!(ExportFormat::parse("csv"), None);
    assert_eq!(
        EdlList::parse("Inbound_Addresses"),
        Some(EdlList::InboundAddresses)
    );
    assert!(writer(ExportFormat::Stix2, &options()).wants_events());
}
