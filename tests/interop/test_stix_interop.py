"""STIX 2.1 through a running kizuna server, checked with the reference tools.

Unmodified PyMISP (pinned in requirements.txt) against the server tests/interop/run.sh
starts, with real ESET events (crates/model/tests/data/misp-events/eset/, attribution in
crates/model/tests/data/SOURCES.md):

(a) restSearch `returnFormat: stix2`, on /events and on /attributes, gives bundles that
    stix2-validator 3.2.0 accepts: no error, and only the warnings the export documents
    (ACCEPTED_WARNINGS of test_stix2_golden.py, which checks the same writer offline);
(b) MISP -> STIX -> MISP: misp-stix (MISP's own converter) turns the event into a bundle,
    PyMISP's upload_stix sends it to /events/upload_stix/2, and the event created holds
    the source's attributes: the same (type, category, value) multiset, objects and tags;
(c) our export of an event, read back by misp-stix's parser for MISP-made bundles, gives
    the event's attributes back.

Documented exceptions:
- exports carry only what is valid now unless `valid_at: all` is asked for (Kizuna's
  rule); SignSight's two ca.gov.vn URLs were last seen in 2020, so they are left out of
  default exports (NOT_VALID_NOW) and present with `valid_at: all`;
- in (c), objects whose template the export has no STIX form for come back from misp-stix
  as loose attributes (EXPORTED_AS_OBJECTS): the attributes are all there, the object
  around them is not.

Every event gets fresh uuids, so that these tests neither meet the events other tests
add (test_pymisp_l1_l2.py adds the same files with their own uuids) nor the blocklist
their deletion leaves.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from misp_stix_converter import MISPtoSTIX21Parser
from misp_stix_converter.stix2misp import InternalSTIX2toMISPParser
from misp_stix_converter.tools.stix2_loading_helpers import load_stix2_content
from pymisp import MISPEvent, PyMISP
from stix2validator import ValidationOptions, validate_string

import misp_interop as helpers
from test_stix2_golden import ACCEPTED_WARNINGS, warning_code

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
# (connect, read) timeouts for every request: a hung server must fail the test, not CI.
TIMEOUT = (10, 60)

# CloudMensis: 22 attributes (11 for IDS) in 8 objects, ATT&CK galaxy tags.
# SignSight: 13 loose attributes, two of them last seen in 2020.
EVENT_FILES = ["cloudmensis_cloudmensis.misp.json", "signsight_signsight-misp-event.json"]

# MISP object templates Kizuna's STIX export writes as STIX objects that misp-stix reads back
# as MISP objects. The others' attributes are written one by one (an x-misp-attribute or
# an observable each): misp-stix reads them back as loose attributes of the same type,
# category and value, without the object around them (CloudMensis: av-signature, macho).
EXPORTED_AS_OBJECTS = {"file"}

SIGNSIGHT_INSTALLERS = "https://ca.gov.vn/documents/20182/6768590"

# Attributes left out of an export by default because they are not valid now.
NOT_VALID_NOW = {
    "signsight_signsight-misp-event.json": Counter(
        {
            ("url", "Network activity", f"{SIGNSIGHT_INSTALLERS}/gca01-client-v2-x64-8.3.msi"): 1,
            ("url", "Network activity", f"{SIGNSIGHT_INSTALLERS}/gca01-client-v2-x32-8.3.msi"): 1,
        }
    ),
}


# --------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------


def eset_event(name: str) -> dict[str, Any]:
    """The event of an ESET file with new uuids for it, its objects and attributes (object
    references follow their targets)."""
    root = helpers.misp_events_dir()
    assert root is not None, "no MISP event files (crates/model/tests/data/misp-events/)"
    event = helpers.load_event_dict(root / "eset" / name)
    renamed: dict[str, str] = {}

    def rename(item: dict[str, Any]) -> None:
        new = str(uuid.uuid4())
        renamed[item["uuid"]] = new
        item["uuid"] = new

    rename(event)
    for attribute in event.get("Attribute") or []:
        rename(attribute)
    for misp_object in event.get("Object") or []:
        rename(misp_object)
        for attribute in misp_object.get("Attribute") or []:
            rename(attribute)
    for misp_object in event.get("Object") or []:
        for reference in misp_object.get("ObjectReference") or []:
            reference["uuid"] = str(uuid.uuid4())
            reference["object_uuid"] = misp_object["uuid"]
            target = reference.get("referenced_uuid")
            reference["referenced_uuid"] = renamed.get(target, target)
    return event


def source_facts(event: dict[str, Any]) -> Counter:
    """(type, category, value) of every live attribute of a MISP-JSON event."""
    attributes = [
        *(event.get("Attribute") or []),
        *(
            attribute
            for misp_object in event.get("Object") or []
            if not misp_object.get("deleted")
            for attribute in misp_object.get("Attribute") or []
        ),
    ]
    return Counter(
        (a["type"], a["category"], str(a["value"])) for a in attributes if not a.get("deleted")
    )


def event_facts(event: MISPEvent) -> Counter:
    """(type, category, value) of every attribute of a PyMISP event."""
    attributes = [*event.attributes, *(a for o in event.objects for a in o.attributes)]
    return Counter((a.type, a.category, str(a.value)) for a in attributes)


def differences(expected: Counter, got: Counter) -> str:
    return f"missing {sorted((expected - got).elements())}\nextra {sorted((got - expected).elements())}"


def add_published(misp: PyMISP, cleanup, event: dict[str, Any]) -> str:
    """Adds the event (as events/add takes a MISP export) and publishes it; its id."""
    sent = MISPEvent()
    sent.load(helpers.strip_server_side(event))
    created = misp.add_event(sent, pythonify=True)
    assert isinstance(created, MISPEvent), f"add_event failed: {created!r}"
    cleanup(created.id)
    published = misp.publish(created.id)
    assert published.get("success"), published
    return str(created.id)


def stix2_search(misp: PyMISP, controller: str, event_id: str, **filters: Any) -> dict[str, Any]:
    bundle = misp.search(controller=controller, return_format="stix2", eventid=event_id, **filters)
    assert isinstance(bundle, dict) and bundle.get("type") == "bundle", f"not a bundle: {bundle!r}"[:500]
    return bundle


def expected_in_export(name: str, event: dict[str, Any], valid_at: str | None) -> Counter:
    expected = source_facts(event)
    if valid_at != "all":
        expected -= NOT_VALID_NOW.get(name, Counter())
    return expected


def read_with_misp_stix(bundle: dict[str, Any]) -> InternalSTIX2toMISPParser:
    parser = InternalSTIX2toMISPParser()
    logging.getLogger("misp_stix_converter").setLevel(logging.ERROR)
    parser.load_stix_bundle(load_stix2_content(json.dumps(bundle)))
    parser.parse_stix_bundle(single_event=True)
    return parser


SEARCHES = [
    pytest.param(controller, valid_at, id=f"{controller}-{valid_at or 'valid-now'}")
    for controller in ("events", "attributes")
    for valid_at in (None, "all")
]


# --------------------------------------------------------------------------------------
# (a) restSearch stix2 passes stix2-validator
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_FILES)
@pytest.mark.parametrize("controller,valid_at", SEARCHES)
def test_rest_search_stix2_passes_the_validator(
    misp: PyMISP, cleanup, name: str, controller: str, valid_at: str | None
) -> None:
    event = eset_event(name)
    event_id = add_published(misp, cleanup, event)
    filters = {"valid_at": valid_at} if valid_at else {}
    bundle = stix2_search(misp, controller, event_id, **filters)

    results = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    errors = [str(error) for error in results.errors]
    assert results.is_valid and not errors, "\n".join(errors)
    unexpected = sorted(
        {str(w) for w in results.warnings if warning_code(str(w)) not in ACCEPTED_WARNINGS}
    )
    assert not unexpected, "\n".join(unexpected)

    # A published event is a report, named as the event; it holds every indicator,
    # observed-data and custom MISP object, and refers to nothing the bundle lacks.
    reports = [o for o in bundle["objects"] if o["type"] == "report"]
    assert [report["name"] for report in reports] == [event["info"]]
    held = set(reports[0]["object_refs"])
    present = {o["id"] for o in bundle["objects"]}
    assert held <= present, sorted(held - present)
    carriers = {
        o["id"] for o in bundle["objects"]
        if o["type"] in ("indicator", "observed-data") or o["type"].startswith("x-misp-")
    }
    assert carriers <= held, sorted(carriers - held)


# --------------------------------------------------------------------------------------
# (b) MISP -> misp-stix -> upload_stix -> the same event
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_FILES)
def test_misp_stix_bundle_uploads_back_to_the_event(
    misp: PyMISP, cleanup, tmp_path: Path, name: str
) -> None:
    event = eset_event(name)
    parser = MISPtoSTIX21Parser()
    parser.parse_misp_event({"Event": event})
    path = tmp_path / f"{name}.stix21.json"
    path.write_text(parser.bundle.serialize(), encoding="utf-8")

    response = misp.upload_stix(path, version="2")
    assert response.status_code == 200, response.text[:2000]
    answer = response.json()
    cleanup(answer["Event"]["uuid"])
    assert answer["rejected"] == [], answer["rejected"]
    assert [(e["uuid"], e["info"]) for e in answer["events"]] == [(event["uuid"], event["info"])]
    # MISP's answer is the created event: PyMISP reads it as one.
    answered = MISPEvent()
    answered.load(copy.deepcopy({"Event": answer["Event"]}))
    assert answered.uuid == event["uuid"]

    created = misp.get_event(answer["Event"]["id"], pythonify=True)
    assert isinstance(created, MISPEvent), created
    expected = source_facts(event)
    assert event_facts(created) == expected, differences(expected, event_facts(created))
    assert created.info == event["info"]
    objects = sorted(o["name"] for o in event.get("Object") or [])
    assert sorted(o.name for o in created.objects) == objects
    tags = {t["name"] for t in event.get("Tag") or [] if not t.get("local")}
    assert {t.name for t in created.tags} == tags
    # upload_stix's defaults (MISP): distribution 0, not published.
    assert int(created.distribution) == 0
    assert not created.published
    # The site admin is a sync user: the creator the bundle names (ESET) is kept.
    assert created.Orgc.name == event["Orgc"]["name"]


def test_upload_stix_refusals(misp: PyMISP) -> None:
    stix_1 = b'<?xml version="1.0"?><stix:STIX_Package xmlns:stix="http://stix.mitre.org/stix-1"/>'
    response = misp.upload_stix(data=stix_1, version="1")
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("STIX 1 is not supported"), response.text

    response = misp.upload_stix(data=b'{"type": "bundle", "objects": [', version="2")
    assert response.status_code == 400, response.text
    body = response.json()
    assert {"name", "message", "url"} <= set(body), body

    nothing = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [
        {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}",
         "created": "2024-01-02T00:00:00.000Z", "modified": "2024-01-02T00:00:00.000Z",
         "pattern": "[file:name MATCHES '^x$']", "pattern_type": "stix",
         "valid_from": "2024-01-02T00:00:00Z"},
    ]}
    # As bytes: PyMISP would encode a str as a JSON string.
    response = misp.upload_stix(data=json.dumps(nothing).encode(), version="2")
    assert response.status_code == 400, response.text
    assert nothing["objects"][0]["id"] in response.json()["message"], response.text


# --------------------------------------------------------------------------------------
# (c) our export, read back by misp-stix
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENT_FILES)
@pytest.mark.parametrize("controller,valid_at", SEARCHES)
def test_misp_stix_reads_our_export_back(
    misp: PyMISP, cleanup, name: str, controller: str, valid_at: str | None
) -> None:
    event = eset_event(name)
    event_id = add_published(misp, cleanup, event)
    filters = {"valid_at": valid_at} if valid_at else {}
    bundle = stix2_search(misp, controller, event_id, **filters)

    parser = read_with_misp_stix(bundle)
    imported = parser.misp_event
    assert not parser.errors, dict(parser.errors)
    expected = expected_in_export(name, event, valid_at)
    assert event_facts(imported) == expected, differences(expected, event_facts(imported))
    assert imported.uuid == event["uuid"]
    assert imported.info == event["info"]
    assert imported.published
    # Objects the export maps to STIX come back as objects; the attributes of the others
    # come back loose (see EXPORTED_AS_OBJECTS).
    names = sorted(
        o["name"] for o in event.get("Object") or [] if o["name"] in EXPORTED_AS_OBJECTS
    )
    assert sorted(o.name for o in imported.objects) == names
