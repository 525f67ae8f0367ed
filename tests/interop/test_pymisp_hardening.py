"""PyMISP interop: the audit log read through PyMISP's search_logs, the client address as
a real socket reports it, and the security headers of a real server.

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh, which sets KIZUNA_URL and KIZUNA_KEY (a site admin's key).

Failed authentications are deliberately not exercised here: every test of the suite comes
from 127.0.0.1, so throttling that address would disturb the others. The in-process tests
(crates/server/tests/it/hardening.rs) cover throttling.
"""

from __future__ import annotations

import os
import uuid

import pytest
import requests
from pymisp import MISPEvent, MISPLog, PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 60)


@pytest.fixture(scope="module")
def admin() -> PyMISP:
    if not URL or not KEY:
        pytest.fail("KIZUNA_URL / KIZUNA_KEY are not set: run the suite with tests/interop/run.sh")
    return PyMISP(URL, KEY, ssl=False, timeout=TIMEOUT)


def test_search_logs_finds_a_write_with_its_client_address(admin: PyMISP) -> None:
    event = MISPEvent()
    event.info = f"audited {uuid.uuid4().hex[:10]}"
    added = admin.add_event(event, pythonify=True)
    assert isinstance(added, MISPEvent), added
    try:
        logs = admin.search_logs(model="Event", action="add", limit=50, pythonify=True)
        assert logs and all(isinstance(log, MISPLog) for log in logs), logs
        mine = [log for log in logs if str(log.model_id) == str(added.id)]
        assert len(mine) == 1, logs
        log = mine[0]
        assert log.ip == "127.0.0.1"
        assert added.info in log.title
        me = admin.get_user(pythonify=True)
        assert log.email == me.email
        # Newest first, and filtered by what was asked.
        assert all(entry.model == "Event" and entry.action == "add" for entry in logs)
        ids = [int(entry.id) for entry in logs]
        assert ids == sorted(ids, reverse=True)
        # The key that made the request is nowhere in the log.
        everything = admin.search_logs(limit=1000)
        assert KEY not in str(everything)
    finally:
        admin.delete_event(added)


def test_audit_log_index_answers_in_misp_shape(admin: PyMISP) -> None:
    answer = admin._check_json_response(
        admin._prepare_request("GET", "admin/audit_logs/index/limit:5")
    )
    assert isinstance(answer, list) and len(answer) <= 5, answer
    for item in answer:
        entry = item["AuditLog"]
        assert {"id", "created", "action", "model", "model_id", "ip", "change"} <= entry.keys()


def test_answers_carry_security_headers() -> None:
    response = requests.get(
        f"{URL}/servers/getVersion",
        headers={"Authorization": KEY, "Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response.headers["Cache-Control"] == "no-store"
    # The suite's server is reached over plain http.
    assert "Strict-Transport-Security" not in response.headers
