"""PyMISP interop, ladder level L3: search() and search_index() (docs: pymisp-ladder.md).

Unmodified PyMISP against a running kizuna server (tests/interop/run.sh sets KIZUNA_URL and
KIZUNA_KEY). Other test files share the server, so every test searches for values, tags
and infos it made unique, and deletes its events afterwards.
"""

from __future__ import annotations

import csv
import io
import os
import time
import uuid
from typing import Any

import pytest
from pymisp import MISPAttribute, MISPEvent, PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 60)


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


class World:
    """Two events made for one test module: a published one and an unpublished one."""

    def __init__(self, misp: PyMISP) -> None:
        self.mark = uuid.uuid4().hex[:10]
        self.tag = f"kizuna-test:{self.mark}"
        self.domain = f"c2-{self.mark}.example.org"
        self.ip = f"198.51.100.{int(self.mark[:2], 16) % 250 + 1}"
        self.md5 = uuid.uuid4().hex
        published = MISPEvent()
        published.info = f"search interop published {self.mark}"
        published.date = "2024-03-01"
        published.add_tag(self.tag)
        published.add_attribute("domain", self.domain, to_ids=True, comment=f"c2 {self.mark}")
        published.add_attribute("ip-dst", self.ip, to_ids=True)
        obj = published.add_object(name="file")
        obj.add_attribute("md5", value=self.md5)
        obj.add_attribute("filename", value=f"dropper-{self.mark}.exe")
        self.published = ok(misp.add_event(published, pythonify=True), "add published")
        ok(misp.publish(self.published), "publish")
        draft = MISPEvent()
        draft.info = f"search interop draft {self.mark}"
        draft.date = "2024-06-01"
        draft.add_attribute("ip-dst", self.ip, to_ids=False)
        draft.add_attribute("text", f"note {self.mark}")
        self.draft = ok(misp.add_event(draft, pythonify=True), "add draft")

    def delete(self, misp: PyMISP) -> None:
        for event in (self.published, self.draft):
            try:
                misp.delete_event(event)
            except Exception:
                pass


@pytest.fixture(scope="module")
def world(misp: PyMISP):
    made = World(misp)
    yield made
    made.delete(misp)


def attributes(misp: PyMISP, **filters: Any) -> list[MISPAttribute]:
    found = ok(misp.search(controller="attributes", pythonify=True, **filters), "search")
    assert isinstance(found, list), found
    return found


def events(misp: PyMISP, **filters: Any) -> list[MISPEvent]:
    found = ok(misp.search(controller="events", pythonify=True, **filters), "search")
    assert isinstance(found, list), found
    return found


def test_search_value_event_and_attribute(misp: PyMISP, world: World) -> None:
    found = attributes(misp, value=world.ip)
    assert {a.event_id for a in found} == {world.published.id, world.draft.id}
    assert all(a.value == world.ip for a in found)
    found = events(misp, value=world.domain)
    assert [e.uuid for e in found] == [world.published.uuid]
    # The whole event comes back, not only the matching attribute.
    assert len(found[0].attributes) == 2 and len(found[0].objects) == 1
    # MISP's collation: values compare case-insensitively; % makes a LIKE.
    assert len(attributes(misp, value=world.domain.upper())) == 1
    assert len(attributes(misp, value=f"%{world.mark}.example.org")) == 1


def test_search_type_category_and_complex_query(misp: PyMISP, world: World) -> None:
    assert len(attributes(misp, type_attribute="md5", value=world.md5)) == 1
    query = misp.build_complex_query(or_parameters=["domain", "md5"], not_parameters=["ip-dst"])
    found = attributes(misp, type_attribute=query, eventid=world.published.id)
    assert sorted(a.type for a in found) == ["domain", "md5"]
    found = attributes(misp, category="Network activity", eventid=[world.published.id, world.draft.id])
    assert sorted(a.type for a in found) == ["domain", "ip-dst", "ip-dst"]
    found = attributes(misp, object_relation="filename", eventid=world.published.id)
    assert [a.value for a in found] == [f"dropper-{world.mark}.exe"]


def test_search_tags(misp: PyMISP, world: World) -> None:
    found = events(misp, tags=world.tag)
    assert [e.uuid for e in found] == [world.published.uuid]
    found = events(misp, tags=[world.tag], value=world.ip)
    assert [e.uuid for e in found] == [world.published.uuid]
    query = misp.build_complex_query(not_parameters=[world.tag])
    found = events(misp, tags=query, value=world.ip)
    assert [e.uuid for e in found] == [world.draft.uuid]
    assert events(misp, tags=f"kizuna-test:{world.mark}-absent") == []
    found = attributes(misp, tags=world.tag, include_event_tags=True, type_attribute="domain")
    assert world.tag in {t.name for t in found[0].tags}


def test_search_timestamps_and_dates(misp: PyMISP, world: World) -> None:
    marker = {"value": world.ip}
    assert len(attributes(misp, timestamp="1d", **marker)) == 2
    assert attributes(misp, timestamp=["3d", "2d"], **marker) == []
    assert len(attributes(misp, publish_timestamp="1d", **marker)) == 1
    assert len(attributes(misp, last="1d", **marker)) == 1
    assert len(attributes(misp, date_from="2024-05-01", **marker)) == 1
    assert len(attributes(misp, date_to="2024-05-01", **marker)) == 1
    now = int(time.time())
    assert len(attributes(misp, event_timestamp=now - 3600, **marker)) == 2


def test_search_flags(misp: PyMISP, world: World) -> None:
    marker = {"value": world.ip}
    assert len(attributes(misp, published=True, **marker)) == 1
    assert len(attributes(misp, to_ids=False, **marker)) == 1
    assert len(attributes(misp, to_ids=True, **marker)) == 1
    found = events(misp, metadata=True, eventinfo=f"%{world.mark}%")
    assert sorted(e.uuid for e in found) == sorted([world.published.uuid, world.draft.uuid])
    assert all(not e.attributes for e in found)
    found = events(misp, uuid=world.published.attributes[0].uuid)
    assert [e.uuid for e in found] == [world.published.uuid]
    found = attributes(misp, include_event_uuid=True, value=world.domain)
    assert found[0].event_uuid == world.published.uuid


def test_search_paging(misp: PyMISP, world: World) -> None:
    everything = attributes(misp, eventid=[world.published.id, world.draft.id])
    assert len(everything) == 6
    pages = [attributes(misp, eventid=[world.published.id, world.draft.id], limit=4, page=n) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [4, 2, 0]
    assert [a.id for p in pages for a in p] == [a.id for a in everything]


def test_search_csv(misp: PyMISP, world: World) -> None:
    text = ok(misp.search(controller="attributes", return_format="csv", value=world.domain), "csv")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:8] == ["uuid", "event_id", "category", "type", "value", "comment", "to_ids", "date"]
    assert rows[1][3:7] == ["domain", world.domain, f"c2 {world.mark}", "1"]
    text = ok(
        misp.search(
            controller="attributes",
            return_format="csv",
            value=world.domain,
            requested_attributes=["value", "type"],
            include_context=True,
            headerless=True,
        ),
        "csv with context",
    )
    row = next(csv.reader(io.StringIO(text)))
    assert row[:2] == [world.domain, "domain"]
    assert row[2] == world.published.info


def test_search_text(misp: PyMISP, world: World) -> None:
    # Restrictive format: published IDS values only, each once.
    text = ok(misp.search(controller="attributes", return_format="text", value=world.ip), "text")
    assert text == f"{world.ip}\n"
    # PyMISP's search() refuses to_ids lists, so ask the API directly to lift the defaults.
    text = ok(
        misp.direct_call(
            "attributes/restSearch",
            {"returnFormat": "text", "eventid": world.draft.id, "published": [0, 1], "to_ids": [0, 1]},
        ),
        "text",
    )
    assert sorted(text.splitlines()) == sorted([world.ip, f"note {world.mark}"])


def test_search_index(misp: PyMISP, world: World) -> None:
    found = ok(misp.search_index(eventinfo=world.mark, pythonify=True), "search_index")
    assert sorted(e.uuid for e in found) == sorted([world.published.uuid, world.draft.uuid])
    found = ok(misp.search_index(eventinfo=world.mark, published=True, pythonify=True), "search_index")
    assert [e.uuid for e in found] == [world.published.uuid]


def test_bad_filter_is_a_misp_error(misp: PyMISP, world: World) -> None:
    response = misp.search(controller="attributes", timestamp="whenever")
    assert isinstance(response, dict) and "errors" in response, response
    status, body = response["errors"]
    assert status == 400 and "timestamp" in body["message"]


def test_search_objects(misp: PyMISP, world: World) -> None:
    found = ok(misp.search(controller="objects", value=world.md5, pythonify=True), "objects search")
    assert len(found) == 1
    assert found[0].name == "file"
    assert {a.value for a in found[0].attributes} == {world.md5, f"dropper-{world.mark}.exe"}
