"""PyMISP interop: event and organisation blocklists (misp-reference §3, PyMISP's
test_blocklists). Unmodified PyMISP against the server run.sh started (site admin key).
Every test removes the entries it adds."""

from __future__ import annotations

import uuid

from pymisp import MISPEvent, MISPEventBlocklist, MISPOrganisationBlocklist, PyMISP


def test_event_blocklist_round_trip(misp: PyMISP) -> None:
    blocked = str(uuid.uuid4())
    added = misp.add_event_blocklist(blocked, comment="bad feed", event_info="junk", event_orgc="NOISE")
    assert added["result"]["successes"] == [blocked], added
    try:
        entries = misp.event_blocklists(pythonify=True)
        entry = next(e for e in entries if e.event_uuid == blocked)
        assert isinstance(entry, MISPEventBlocklist)
        assert entry.comment == "bad feed" and entry.event_info == "junk"
        entry.comment = "reviewed"
        updated = misp.update_event_blocklist(entry, pythonify=True)
        assert updated.comment == "reviewed"
        assert updated.event_orgc == "NOISE"

        # MISP: a blocklisted uuid is refused on add.
        event = MISPEvent()
        event.uuid = blocked
        event.info = "comes back"
        event.add_attribute("ip-dst", "198.51.100.9")
        refused = misp.add_event(event)
        assert "errors" in refused, refused
    finally:
        removed = misp.delete_event_blocklist(blocked)
    assert removed["success"] is True, removed
    assert all(e.event_uuid != blocked for e in misp.event_blocklists(pythonify=True))


def test_organisation_blocklist_refuses_the_creators_events(misp: PyMISP) -> None:
    blocked = str(uuid.uuid4())
    added = misp.add_organisation_blocklist(blocked, comment="spam", org_name="SPAMMER")
    assert added["result"]["successes"] == [blocked], added
    try:
        entries = misp.organisation_blocklists(pythonify=True)
        entry = next(e for e in entries if e.org_uuid == blocked)
        assert isinstance(entry, MISPOrganisationBlocklist)
        assert entry.org_name == "SPAMMER"
        entry.comment = "still spam"
        updated = misp.update_organisation_blocklist(entry, pythonify=True)
        assert updated.comment == "still spam"

        event = MISPEvent()
        event.info = "from a blocked creator"
        event.Orgc = {"uuid": blocked, "name": "SPAMMER"}
        event.add_attribute("domain", "spam.example")
        refused = misp.add_event(event)
        assert "errors" in refused, refused
    finally:
        removed = misp.delete_organisation_blocklist(blocked)
    assert removed["success"] is True, removed


def test_a_malformed_uuid_is_reported_as_a_failure(misp: PyMISP) -> None:
    answer = misp.add_event_blocklist("not-a-uuid")
    assert answer["result"]["fails"] == ["not-a-uuid"], answer
    assert answer["result"]["successes"] == []
    # PyMISP returns MISP's 404 body as errors rather than raising.
    missing = misp.delete_event_blocklist(str(uuid.uuid4()))
    assert missing["errors"][0] == 404, missing
