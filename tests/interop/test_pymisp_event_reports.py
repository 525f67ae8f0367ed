"""PyMISP interop: event reports (`add_event_report`, `get_event_report`,
`get_event_reports`, `update_event_report`, `delete_event_report`, and reports carried by
`add_event`). Unmodified PyMISP against the server run.sh started (site admin key)."""

from __future__ import annotations

from pymisp import MISPEvent, MISPEventReport, PyMISP


def _new_event(misp: PyMISP, cleanup, info: str) -> MISPEvent:
    event = MISPEvent()
    event.info = info
    event.distribution = 1
    event.add_attribute("domain", "report-subject.example")
    created = misp.add_event(event, pythonify=True)
    assert isinstance(created, MISPEvent), created
    cleanup(created.uuid)
    return created


def test_event_reports_round_trip(misp: PyMISP, cleanup) -> None:
    event = _new_event(misp, cleanup, "event report round trip")
    report = MISPEventReport()
    report.from_dict(name="Intrusion write-up", content="# Findings\n\nBeacons to `report-subject.example`.",
                     distribution=5)
    added = misp.add_event_report(event, report, pythonify=True)
    assert isinstance(added, MISPEventReport), added
    assert added.name == "Intrusion write-up"
    assert added.uuid == report.uuid
    assert int(added.event_id) == int(event.id)
    assert added.distribution == 5

    by_id = misp.get_event_report(added.id, pythonify=True)
    by_uuid = misp.get_event_report(added.uuid, pythonify=True)
    assert by_id.uuid == by_uuid.uuid == added.uuid
    assert by_id.content.startswith("# Findings")

    listed = misp.get_event_reports(event.id, pythonify=True)
    assert [r.uuid for r in listed] == [added.uuid]

    added.content = "# Findings\n\nUpdated after triage."
    updated = misp.update_event_report(added, pythonify=True)
    assert isinstance(updated, MISPEventReport), updated
    assert updated.content.endswith("Updated after triage.")

    # The event lists its report, and the change unpublished it.
    full = misp.get_event(event.id, pythonify=True)
    assert [r.uuid for r in full.event_reports] == [added.uuid]
    assert full.published is False

    soft = misp.delete_event_report(added)
    assert soft.get("success") is True or "message" in soft, soft
    assert misp.get_event_reports(event.id, pythonify=True) == []
    hard = misp.delete_event_report(added, hard=True)
    assert "errors" not in hard, hard
    gone = misp.get_event_report(added.id)
    assert "errors" in gone, gone


def test_reports_travel_inside_added_events(misp: PyMISP, cleanup) -> None:
    event = MISPEvent()
    event.info = "event carrying a report"
    event.distribution = 1
    event.add_attribute("ip-dst", "198.51.100.77")
    event.add_event_report("Carried report", "Written with the event.", distribution=5)
    created = misp.add_event(event, pythonify=True)
    assert isinstance(created, MISPEvent), created
    cleanup(created.uuid)
    assert [r.name for r in created.event_reports] == ["Carried report"]
    assert created.event_reports[0].uuid == event.event_reports[0].uuid

    found = misp.search(controller="events", uuid=created.uuid, pythonify=True)
    assert [r.name for r in found[0].event_reports] == ["Carried report"]


def test_bad_reports_are_refused_with_misps_error_shape(misp: PyMISP, cleanup) -> None:
    event = _new_event(misp, cleanup, "event refusing a bad report")
    answer = misp.direct_call(f"eventReports/add/{event.id}", {"EventReport": {"content": "no name"}})
    assert "errors" in answer, answer
    missing = misp.direct_call("eventReports/add/999999999", {"EventReport": {"name": "x", "content": "y"}})
    assert "errors" in missing, missing
    assert misp.get_event_reports(event.id) == []
