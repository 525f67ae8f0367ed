"""PyMISP interop, ladder level L6: the servers (sync links) API and a pull and a push
(docs: pymisp-ladder.md).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh, which sets KIZUNA_URL and KIZUNA_KEY (a site admin's key). There is
one server only, so it is its own remote: the link points at KIZUNA_URL and authenticates
as a sync user of a separate organisation, exactly as a link to another instance would.

The test removes the servers, users, organisations and events it creates. Comments
starting with "MISP:" say which behaviour of MISP an assertion encodes.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from pymisp import MISPEvent, MISPOrganisation, MISPServer, MISPUser, PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 120)
# MISP's stock "Sync user" role.
ROLE_SYNC = 5


def connect(key: str) -> PyMISP:
    return PyMISP(URL, key, ssl=False, timeout=TIMEOUT)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def server_ids(admin: PyMISP) -> set[int]:
    listed = ok(admin.servers(), "servers")
    assert isinstance(listed, list), listed
    return {int(entry["Server"]["id"]) for entry in listed}


@pytest.fixture(scope="module")
def admin() -> PyMISP:
    if not URL or not KEY:
        pytest.fail("KIZUNA_URL / KIZUNA_KEY are not set: run the suite with tests/interop/run.sh")
    return connect(KEY)


def test_a_sync_link_to_itself_through_pymisp(admin: PyMISP) -> None:
    created_servers: list[int] = []
    created_users: list[int] = []
    created_orgs: list[int] = []
    created_events: list[str] = []
    try:
        before = server_ids(admin)

        # The peer organisation and its sync user, as a remote admin would make them.
        org = MISPOrganisation()
        org.name = unique("SYNC-PEER")
        org.local = False
        peer_org = ok(admin.add_organisation(org, pythonify=True), "add_organisation")
        created_orgs.append(int(peer_org.id))
        user = MISPUser()
        user.email = f"{unique('sync')}@peer.test"
        user.org_id = peer_org.id
        user.role_id = ROLE_SYNC
        sync_user = ok(admin.add_user(user, pythonify=True), "add_user")
        created_users.append(int(sync_user.id))
        assert sync_user.authkey, "add_user answers the new key once"
        as_sync = connect(sync_user.authkey)

        # An event the link can carry (community level, published).
        event = MISPEvent()
        event.info = unique("sync interop")
        event.distribution = 3
        event.add_attribute("domain", f"{unique('sync')}.example")
        stored = ok(admin.add_event(event, pythonify=True), "add_event")
        created_events.append(stored.uuid)
        ok(admin.publish(stored), "publish")

        # add_server: MISP wants a name, url, authkey and the remote organisation.
        link = MISPServer()
        link.name = unique("self")
        link.url = URL
        link.authkey = sync_user.authkey
        link.remote_org_id = peer_org.id
        link.push = True
        link.pull = True
        link.self_signed = True
        added = ok(admin.add_server(link, pythonify=True), "add_server")
        assert isinstance(added, MISPServer), added
        created_servers.append(int(added.id))
        assert added.url.rstrip("/") == URL.rstrip("/")
        # MISP: the key never comes back whole.
        assert added.authkey != sync_user.authkey
        assert int(added.id) in server_ids(admin) - before

        # update_server: a changed setting is kept, the key is untouched when not sent.
        change = MISPServer()
        change.name = added.name + " renamed"
        change.push_sightings = True
        updated = ok(admin.update_server(change, added.id, pythonify=True), "update_server")
        assert updated.name == added.name + " renamed"
        assert updated.push_sightings is True or updated.push_sightings in (1, "1")

        # test_server: MISP answers status 1 when the remote is reachable, the key works
        # and the versions are compatible.
        tested = ok(admin.test_server(added.id), "test_server")
        assert tested["status"] == 1, tested
        assert "version" in tested, tested

        # server_pull / server_push: MISP's success envelope with the report in message.
        pulled = ok(admin.server_pull(added.id), "server_pull")
        assert isinstance(pulled, dict), pulled
        assert pulled["message"].startswith("Pull completed."), pulled
        assert "url" in pulled and "name" in pulled, pulled
        pushed = ok(admin.server_push(added.id), "server_push")
        assert isinstance(pushed, dict), pushed
        assert pushed["message"].startswith("Push complete."), pushed
        # The event is already here (it is the same instance): nothing to fail.
        assert " 0 events could not be pushed" in pushed["message"], pushed
        pushed_one = ok(admin.server_push(added.id, stored.uuid), "server_push of one event")
        assert pushed_one["message"].startswith("Push complete."), pushed_one

        # get_sync_config as the sync user, then import_server of what it said.
        config = ok(as_sync.get_sync_config(pythonify=True), "get_sync_config")
        assert isinstance(config, MISPServer), config
        # MISP: createSync mints a fresh key for the sync user (advanced auth keys).
        assert len(config.authkey) == 40, config
        me = ok(connect(config.authkey).get_user(pythonify=True), "get_user with the new key")
        assert int(me.id) == int(sync_user.id)
        assert config.url, config
        config.name = unique("imported")
        imported = ok(admin.import_server(config, pythonify=True), "import_server")
        assert isinstance(imported, MISPServer), imported
        created_servers.append(int(imported.id))
        assert int(imported.id) != int(added.id)

        # delete_server: MISP's success envelope, and the link is gone from the list.
        for server_id in list(created_servers):
            deleted = ok(admin.delete_server(server_id), "delete_server")
            assert "deleted" in deleted["message"].lower(), deleted
            created_servers.remove(server_id)
        assert server_ids(admin) == before
    finally:
        for server_id in created_servers:
            admin.delete_server(server_id)
        for event_uuid in created_events:
            admin.delete_event(event_uuid)
        for user_id in created_users:
            admin.delete_user(user_id)
        for org_id in created_orgs:
            admin.delete_organisation(org_id)
