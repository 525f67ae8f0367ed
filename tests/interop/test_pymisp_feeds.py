"""PyMISP interop: feeds (misp-reference §5, pymisp-ladder.md L6).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh (KIZUNA_URL, KIZUNA_KEY: the site admin). The feeds are local folders
and files the tests write into temporary directories (the server runs on this machine);
the MISP feed is a copy of crates/server/tests/data/feeds/infoblox (CC BY 4.0, Infoblox
Threat Intel). Every test deletes the feeds and events it creates. Comments starting with
"MISP:" say which behaviour of MISP an assertion encodes.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from pymisp import MISPEvent, MISPFeed, PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 120)
REPO = Path(os.environ.get("KIZUNA_REPO") or Path(__file__).resolve().parent.parent.parent)
INFOBLOX = REPO / "crates" / "server" / "tests" / "data" / "feeds" / "infoblox"
INFOBLOX_EVENTS = {
    "24e799ca-aad8-4244-8005-90b3ceb44540": 9,
    "6c1c6c4f-5cde-474f-bb69-8e5b8b041f81": 17,
    "dad88707-beb8-4a14-94e2-5ffecf5a5f85": 6,
    "f02183b6-33a0-4a69-bc22-7a0d5b034ab6": 15,
}


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


@pytest.fixture
def cleanup(misp: PyMISP):
    """Feeds and events to delete when the test ends, whatever its outcome."""
    feeds: list[int] = []
    events: list[str] = []
    yield feeds, events
    for feed_id in feeds:
        try:
            misp.delete_feed(feed_id)
        except Exception:  # the test result matters, not the cleanup's
            pass
    for event_uuid in events:
        try:
            misp.delete_event(event_uuid)
        except Exception:
            pass


@pytest.fixture
def infoblox_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "infoblox"
    shutil.copytree(INFOBLOX, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_feeds_crud_fetch_and_cache_with_pymisp(
    misp: PyMISP, cleanup, infoblox_folder: Path
) -> None:
    feeds, events = cleanup
    events.extend(INFOBLOX_EVENTS)
    feed = MISPFeed()
    feed.name = "Infoblox (interop)"
    feed.provider = "Infoblox Threat Intel"
    feed.url = str(infoblox_folder)
    feed.source_format = "misp"
    feed.input_source = "local"
    feed.distribution = 3
    feed.caching_enabled = True
    added = ok(misp.add_feed(feed, pythonify=True), "add_feed")
    assert isinstance(added, MISPFeed), added
    feeds.append(int(added.id))
    assert added.name == "Infoblox (interop)"
    assert added.url == str(infoblox_folder)
    assert added.enabled is False
    # PyMISP decodes `settings` from JSON text: an empty object here.
    assert added.settings == {}

    listed = ok(misp.feeds(pythonify=True), "feeds")
    assert any(int(f.id) == int(added.id) for f in listed)
    fetched = ok(misp.get_feed(added.id, pythonify=True), "get_feed")
    assert fetched.provider == "Infoblox Threat Intel"

    fetched.name = "Infoblox (interop, renamed)"
    updated = ok(misp.update_feed(fetched, pythonify=True), "update_feed")
    assert updated.name == "Infoblox (interop, renamed)"
    assert updated.url == str(infoblox_folder)

    # MISP: fetching a disabled feed is refused with a message, not an error.
    refused = ok(misp.fetch_feed(added.id), "fetch_feed (disabled)")
    assert refused["result"] == "Feed is currently not enabled. Make sure you enable it."

    enabled = ok(misp.enable_feed(added.id, pythonify=True), "enable_feed")
    assert enabled.enabled is True
    result = ok(misp.fetch_feed(added.id), "fetch_feed")
    assert result["result"] == (
        "Fetching the feed has successfully completed. "
        "Downloaded 4 new event(s). Updated 0 event(s)."
    ), result
    for event_uuid, attributes in INFOBLOX_EVENTS.items():
        event = ok(misp.get_event(event_uuid, pythonify=True), "get_event")
        assert isinstance(event, MISPEvent)
        assert len(event.attributes) == attributes
        assert event.Orgc.name == "Infoblox"
        assert int(event.distribution) == 3

    again = ok(misp.fetch_feed(added.id), "fetch_feed (unchanged)")
    assert "has not changed" in again["result"], again
    everything = ok(misp.fetch_all_feeds(), "fetch_all_feeds")
    assert everything["result"].startswith("Fetching the feeds has successfully completed"), everything

    cached = ok(misp.cache_feed(added.id), "cache_feed")
    assert cached["message"] == "Caching the feeds has successfully completed."
    state = ok(misp.get_feed(added.id), "get_feed (raw)")
    assert state["Feed"]["cached_elements"] == 41
    hits = ok(
        misp.direct_call("feeds/searchCaches", {"value": "ticketsparis24.com"}),
        "searchCaches",
    )
    assert [hit["Feed"]["uuid"] for hit in hits] == [["24e799ca-aad8-4244-8005-90b3ceb44540"]]

    disabled = ok(misp.disable_feed(added.id, pythonify=True), "disable_feed")
    assert disabled.enabled is False
    deleted = ok(misp.delete_feed(added.id), "delete_feed")
    assert deleted["message"] == "Feed deleted."
    feeds.clear()
    gone = misp.get_feed(added.id)
    assert "errors" in gone and gone["errors"][0] == 404, gone


def test_feeds_csv_feed_settings_survive_enable(misp: PyMISP, cleanup, tmp_path: Path) -> None:
    # PyMISP issue 574 as upstream's test_feeds checks it: enabling a csv feed through
    # update_feed sends the decoded settings back, which must come out unchanged.
    feeds, events = cleanup
    listing = tmp_path / "blocklist.csv"
    listing.write_text("id,ip,reason\n1,198.51.100.21,c2\n2,198.51.100.22,c2\n")
    feed = MISPFeed()
    feed.name = "Blocklist (interop)"
    feed.provider = "interop"
    feed.url = str(listing)
    feed.source_format = "csv"
    feed.input_source = "local"
    feed.settings = {"csv": {"value": "2", "delimiter": ","}, "common": {"excluderegex": ""}}
    added = ok(misp.add_feed(feed, pythonify=True), "add_feed")
    feeds.append(int(added.id))
    updated = ok(misp.enable_feed(added, pythonify=True), "enable_feed")
    assert updated.enabled is True
    assert updated.settings == added.settings

    result = ok(misp.fetch_feed(added.id), "fetch_feed")
    assert result["result"].startswith("Fetching the feed has successfully completed. Added 2 value(s)."), result
    event_id = result["summary"]["event_id"]
    event = ok(misp.get_event(event_id, pythonify=True), "get_event")
    events.append(event.uuid)
    # MISP: a REST-added freetext/csv feed writes into one fixed event named after it.
    assert event.info == "Blocklist (interop) feed"
    assert sorted(a.value for a in event.attributes) == ["198.51.100.21", "198.51.100.22"]


def test_feeds_fetch_failure_names_the_problem(misp: PyMISP, cleanup, tmp_path: Path) -> None:
    feeds, _ = cleanup
    (tmp_path / "manifest.json").write_text('{"broken": [1, 2}')
    feed = MISPFeed()
    feed.name = "Broken (interop)"
    feed.provider = "interop"
    feed.url = str(tmp_path)
    feed.source_format = "misp"
    feed.input_source = "local"
    feed.enabled = True
    added = ok(misp.add_feed(feed, pythonify=True), "add_feed")
    feeds.append(int(added.id))
    failed = misp.fetch_feed(added.id)
    assert "errors" in failed, failed
    status, body = failed["errors"]
    assert status == 422
    assert body["message"].startswith("Fetching the feed has failed: "), body
    assert "manifest.json" in body["message"]
    state = ok(misp.get_feed(added.id), "get_feed")
    assert state["Feed"]["last_fetch_success"] is False


def test_feeds_served_feed_lists_published_events(misp: PyMISP, cleanup) -> None:
    _, events = cleanup
    event = MISPEvent()
    event.info = f"kizuna interop: served feed {uuid.uuid4()}"
    event.distribution = 1
    event.add_attribute("domain", f"served-{uuid.uuid4().hex[:8]}.example.com")
    created = ok(misp.add_event(event, pythonify=True), "add_event")
    events.append(created.uuid)
    ok(misp.publish(created), "publish")
    headers = {"Authorization": KEY, "Accept": "application/json"}
    manifest = requests.get(f"{URL}/feeds/export/manifest.json", headers=headers, timeout=TIMEOUT)
    assert manifest.status_code == 200
    assert created.uuid in manifest.json()
    served = requests.get(f"{URL}/feeds/export/{created.uuid}.json", headers=headers, timeout=TIMEOUT)
    assert served.status_code == 200
    assert served.json()["Event"]["info"] == created.info
    # The served event reads back as a MISP event, ids and all local fields absent.
    reread = MISPEvent()
    reread.load(json.dumps(served.json()))
    assert reread.attributes[0].value == created.attributes[0].value
    hashes = requests.get(f"{URL}/feeds/export/hashes.csv", headers=headers, timeout=TIMEOUT)
    assert hashes.status_code == 200
    assert f",{created.uuid}" in hashes.text
