"""PyMISP interop, ladder level L4: sightings (docs: pymisp-ladder.md).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh, which sets KIZUNA_URL and KIZUNA_KEY (a site admin's key).

Every test deletes the events it creates (their sightings go with them). Comments starting
with "MISP:" say which behaviour of MISP (read in MISP's source, see misp-reference.md) an
assertion encodes.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from pymisp import (
    Distribution,
    MISPAttribute,
    MISPEvent,
    MISPSighting,
    PyMISP,
)

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
ORG_NAME = "Kizuna Interop"  # what tests/interop/run.sh passes to `kizuna init`
TIMEOUT = (10, 60)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def sighted_event(misp: PyMISP, cleanup, label: str, *values: str) -> MISPEvent:
    """A community event with one domain attribute per value, as stored."""
    ev = MISPEvent()
    ev.info = f"kizuna interop sightings: {label} {uuid.uuid4()}"
    ev.distribution = Distribution.this_community_only
    for value in values:
        ev.add_attribute("domain", value)
    cleanup(ev.uuid)
    created = ok(misp.add_event(ev, pythonify=True), "add_event")
    assert isinstance(created, MISPEvent), created
    return created


def attribute_by_value(event: MISPEvent, value: str) -> MISPAttribute:
    return next(a for a in event.attributes if a.value == value)


# --------------------------------------------------------------------------------------
# Adding and listing
# --------------------------------------------------------------------------------------


def test_sighting_add_by_value_and_by_attribute(misp: PyMISP, cleanup) -> None:
    shared = unique("shared") + ".example"
    first = sighted_event(misp, cleanup, "first", shared, unique("only") + ".example")
    second = sighted_event(misp, cleanup, "second", shared.upper())
    in_first = attribute_by_value(first, shared)

    # MISP: by value, every visible attribute whose value1/value2 matches (case-insensitive,
    # MySQL collation) is sighted; the answer is the last sighting saved, as {"Sighting": …}.
    r = ok(misp.add_sighting({"value": shared}), "add_sighting by value")
    assert set(r) == {"Sighting"}, r
    assert list(r["Sighting"]) == [
        "id", "attribute_id", "event_id", "org_id", "date_sighting", "uuid", "source", "type",
    ]
    assert r["Sighting"]["attribute_id"] == str(second.attributes[0].id)
    assert r["Sighting"]["type"] == "0"
    listed = ok(misp.sightings(first), "sightings(event)")
    assert [int(s["Sighting"]["attribute_id"]) for s in listed] == [in_first.id]
    assert listed[0]["Organisation"]["name"] == ORG_NAME

    # Types 0/1/2 with a source, on one attribute.
    for kind in ("0", "1", "2"):
        s = MISPSighting()
        s.from_dict(source="Testcases", type=kind)
        got = ok(misp.add_sighting(s, in_first, pythonify=True), f"add_sighting type {kind}")
        assert isinstance(got, MISPSighting), got
        assert got.source == "Testcases"
        assert got.type == kind
        assert int(got.attribute_id) == in_first.id
    # MISP: one expiration per organisation and attribute — a new one replaces the old.
    expiration = ok(misp.add_sighting({"type": 2, "source": "again"}, in_first.uuid), "expiration")
    listed = ok(misp.sightings(in_first, pythonify=True), "sightings(attribute)")
    assert all(isinstance(s, MISPSighting) for s in listed)
    kinds = sorted(s.type for s in listed)
    assert kinds == ["0", "0", "1", "2"], kinds
    assert [s.uuid for s in listed if s.type == "2"] == [expiration["Sighting"]["uuid"]]

    # By organisation (id or uuid).
    me = ok(misp.get_user("me", pythonify=True), "get_user")
    mine = ok(misp.sightings(in_first, org=me.org_id), "sightings(attribute, org)")
    assert len(mine) == 4
    assert ok(misp.sightings(in_first, org=999_999), "sightings(attribute, other org)") == []

    # The flat index of one event carries the attribute uuid and the reporter.
    index = ok(misp.direct_call(f"sightings/index/{first.id}"), "sightings/index")
    assert len(index) == 4
    assert {s["attribute_uuid"] for s in index} == {in_first.uuid}
    assert index[0]["Organisation"]["name"] == ORG_NAME


def test_sighting_errors_are_misp_shaped(misp: PyMISP, cleanup) -> None:
    event = sighted_event(misp, cleanup, "errors", unique("err") + ".example")
    r = misp.add_sighting({"value": unique("nowhere") + ".example"})
    status, body = r["errors"]
    assert status == 404 and "nowhere" in body["message"], r
    r = misp.add_sighting({"type": 7}, event.attributes[0])
    status, body = r["errors"]
    assert status == 400 and "type" in body["message"], r
    r = misp.add_sighting({}, 999_999_999)
    status, body = r["errors"]
    assert status == 404 and "999999999" in body["message"], r


# --------------------------------------------------------------------------------------
# Searching
# --------------------------------------------------------------------------------------


def test_sighting_search(misp: PyMISP, cleanup) -> None:
    a_value = unique("a") + ".example"
    b_value = unique("b") + ".example"
    first = sighted_event(misp, cleanup, "search first", a_value)
    second = sighted_event(misp, cleanup, "search second", b_value)
    source = unique("source")
    current_ts = int(time.time())
    ok(misp.add_sighting({"value": a_value}), "sight a")
    s = MISPSighting()
    s.from_dict(value=b_value, source=source, type="1")
    ok(misp.add_sighting(s, second.attributes[0]), "sight b")
    old = current_ts - 90 * 86_400
    ok(misp.add_sighting({"timestamp": old, "source": source}, first.attributes[0]), "old one")

    # MISP: `last` (PyMISP's publish_timestamp) bounds date_sighting from below.
    hits = ok(misp.search_sightings(publish_timestamp=current_ts, include_attribute=True,
                                    include_event_meta=True, pythonify=True), "search")
    ours = [h for h in hits if h["event"].id in (first.id, second.id)]
    assert len(ours) == 2, hits
    assert {h["attribute"].id for h in ours} == {first.attributes[0].id, second.attributes[0].id}
    assert all(isinstance(h["sighting"], MISPSighting) for h in ours)

    hits = ok(misp.search_sightings(publish_timestamp=current_ts, source=source,
                                    include_attribute=True, include_event_meta=True,
                                    pythonify=True), "search by source")
    assert len(hits) == 1
    assert hits[0]["event"].id == second.id
    assert hits[0]["attribute"].id == second.attributes[0].id

    hits = ok(misp.search_sightings(context="event", context_id=first.id, type_sighting="0",
                                    pythonify=True), "search event context")
    assert len(hits) == 1, "MISP: the last 30 days by default, so the old one is out"
    assert hits[0]["sighting"].event_id == str(first.id)

    hits = ok(misp.search_sightings(context="attribute", context_id=second.attributes[0].id,
                                    pythonify=True), "search attribute context")
    assert len(hits) == 1
    assert hits[0]["sighting"].attribute_id == str(second.attributes[0].id)
    assert hits[0]["sighting"].type == "1"

    hits = ok(misp.search_sightings(context="event", context_id=first.id,
                                    date_from=old - 60, date_to=old + 60), "date range")
    assert [h["Sighting"]["date_sighting"] for h in hits] == [str(old)]
    assert hits[0]["Sighting"]["value"] == a_value

    hits = ok(misp.search_sightings(context="event", context_id=first.id,
                                    publish_timestamp=0), "no window")
    assert len(hits) == 2


# --------------------------------------------------------------------------------------
# Deleting, and sightings inside events
# --------------------------------------------------------------------------------------


def test_sighting_delete(misp: PyMISP, cleanup) -> None:
    event = sighted_event(misp, cleanup, "delete", unique("del") + ".example")
    added = ok(misp.add_sighting({}, event.attributes[0], pythonify=True), "add")
    r = ok(misp.delete_sighting(added), "delete_sighting")
    assert r["message"] == "Sighting successfully deleted."
    assert ok(misp.sightings(event.attributes[0]), "after delete") == []
    status, body = misp.delete_sighting(added.id)["errors"]
    assert status == 404 and body["message"] == "Invalid sighting."


def test_sightings_in_get_event(misp: PyMISP, cleanup) -> None:
    value = unique("view") + ".example"
    event = sighted_event(misp, cleanup, "view", value, unique("quiet") + ".example")
    ok(misp.add_sighting({"value": value, "source": "view"}), "sight")

    got = ok(misp.get_event(event, pythonify=True), "get_event")
    sighted = attribute_by_value(got, value)
    assert len(sighted.sightings) == 1
    sighting = sighted.sightings[0]
    assert isinstance(sighting, MISPSighting)
    assert sighting.source == "view"
    assert sighting.attribute_uuid == sighted.uuid
    assert sighting.Organisation["name"] == ORG_NAME
    quiet = next(a for a in got.attributes if a.value != value)
    assert quiet.sightings == []

    raw = ok(misp.get_event(event), "get_event raw")
    assert "Sighting" not in raw["Event"], "MISP puts sightings on the attributes only"

    # MISP: noSightings:1 (PyMISP's no_sightings=True) leaves them out.
    got = ok(misp.get_event(event, no_sightings=True, pythonify=True), "get_event no_sightings")
    assert all(a.sightings == [] for a in got.attributes)
