"""PyMISP interop: warninglists (misp-reference §7.2).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh (KIZUNA_URL, KIZUNA_KEY: the site admin). The shipped lists start
enabled; every test leaves them all enabled again. Comments starting with "MISP:" say
which behaviour of MISP an assertion encodes.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from pymisp import MISPWarninglist, PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 60)

EMPTY_HASHES = "List of known hashes for empty files"
RFC1918 = "List of RFC 1918 CIDR blocks"
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHIPPED_LISTS = 21


@pytest.fixture
def all_enabled_after(misp: PyMISP):
    """Switch every list back on when the test ends, whatever its outcome."""
    yield
    ids = [int(wl["Warninglist"]["id"]) for wl in misp.warninglists()]
    misp.toggle_warninglist(warninglist_id=ids, force_enable=True)


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def by_name(misp: PyMISP, name: str) -> MISPWarninglist:
    lists = ok(misp.warninglists(pythonify=True), "warninglists")
    found = [wl for wl in lists if wl.name == name]
    assert len(found) == 1, [wl.name for wl in lists]
    return found[0]


def test_update_says_the_built_in_lists_are_current(misp: PyMISP) -> None:
    # PyMISP's own test expects exactly this answer from an up-to-date MISP.
    r = ok(misp.update_warninglists(), "update_warninglists")
    assert r["name"] == "All warninglists are up to date already.", r


def test_index_and_view(misp: PyMISP) -> None:
    raw = ok(misp.warninglists(), "warninglists")
    assert len(raw) == SHIPPED_LISTS
    row = next(r["Warninglist"] for r in raw if r["Warninglist"]["name"] == RFC1918)
    # MISP: ids, versions and counts are strings; enabled/default are booleans.
    assert row["type"] == "cidr"
    assert row["warninglist_entry_count"] == "3"
    assert row["enabled"] is True and row["default"] is True
    assert row["category"] == "false_positive"
    assert "ip-dst|port" in row["valid_attributes"].split(", ")

    listed = by_name(misp, RFC1918)
    viewed = ok(misp.get_warninglist(listed, pythonify=True), "get_warninglist")
    assert isinstance(viewed, MISPWarninglist)
    assert viewed.name == RFC1918
    assert "WarninglistEntry" in viewed
    assert [e["value"] for e in viewed.WarninglistEntry] == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ]
    assert "ip-src" in [t["type"] for t in viewed.WarninglistType]

    missing = misp.get_warninglist(99999)
    assert "errors" in missing, missing
    assert missing["errors"][0] == 404


def test_enable_disable_and_check_values(misp: PyMISP, all_enabled_after) -> None:
    # The flow of PyMISP's test_warninglists, on the empty-file hash list shipped here.
    testwl = by_name(misp, EMPTY_HASHES)
    r = misp.disable_warninglist(testwl)
    assert r == {"saved": True, "success": "1 warninglist(s) disabled"}, r
    assert misp.values_in_warninglist([EMPTY_MD5]) == []
    assert ok(misp.get_warninglist(testwl), "get_warninglist")["Warninglist"]["enabled"] is False

    r = misp.enable_warninglist(testwl)
    assert r["success"] == "1 warninglist(s) enabled", r
    r = ok(misp.values_in_warninglist([EMPTY_MD5, "10.20.30.40", "8.8.8.8"]), "checkValue")
    assert r[EMPTY_MD5][0]["name"] == EMPTY_HASHES
    assert r[EMPTY_MD5][0]["id"] == str(testwl.id)
    assert r[EMPTY_MD5][0]["matched"] == EMPTY_MD5
    names = {hit["name"] for hit in r["10.20.30.40"]}
    assert RFC1918 in names
    assert "8.8.8.8" not in r


def test_toggle_by_name_pattern(misp: PyMISP, all_enabled_after) -> None:
    # MISP matches names with SQL LIKE, case-insensitively.
    r = misp.toggle_warninglist(warninglist_name="%rfc 1918%", force_enable=False)
    assert r == {"saved": True, "success": "1 warninglist(s) disabled"}, r
    assert by_name(misp, RFC1918).enabled is False
    r = misp.toggle_warninglist(warninglist_name=["%RFC 1918%", "%RFC 3849%"])
    assert r == {"saved": True, "success": "2 warninglist(s) toggled"}, r
    assert by_name(misp, RFC1918).enabled is True
    assert by_name(misp, "List of RFC 3849 CIDR blocks").enabled is False
    r = misp.toggle_warninglist(warninglist_name="%no such list%")
    assert r == {"saved": False, "errors": "Warninglist not found."}, r
