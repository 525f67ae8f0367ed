"""Fixtures every interop test module shares: a PyMISP client for the server run.sh started,
and event clean-up."""

from __future__ import annotations

import os

import pytest
from pymisp import PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
# (connect, read) seconds: feed fetches and large searches answer in one request.
TIMEOUT = (10, 120)


@pytest.fixture(scope="session")
def misp() -> PyMISP:
    if not URL or not KEY:
        pytest.fail("KIZUNA_URL / KIZUNA_KEY are not set: run the suite with tests/interop/run.sh")
    return PyMISP(URL, KEY, ssl=False, timeout=TIMEOUT)


@pytest.fixture
def cleanup(misp: PyMISP):
    """Register event ids or uuids to delete after the test (whatever its outcome)."""
    keys: list[str] = []
    yield keys.append
    for key in keys:
        try:
            misp.delete_event(key)
        except Exception:  # the test result matters, not the cleanup's
            pass
