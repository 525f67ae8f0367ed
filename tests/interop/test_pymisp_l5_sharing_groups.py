"""PyMISP interop, ladder level L5: sharing groups (docs: pymisp-ladder.md).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh, which sets KIZUNA_URL and KIZUNA_KEY (a site admin's key).

Every test deletes the sharing groups and events it creates. Tests that need a second
organisation create it with `add_organisation` (POST /admin/organisations/add) and, when
that endpoint is not there, capture one through a sharing group (a site admin naming an
unknown organisation by uuid and name, as MISP captures organisations). Tests that need a
user of that organisation need `add_user` (POST /admin/users/add) and are skipped while it
is missing. Comments starting with "MISP:" say which behaviour of MISP an assertion encodes.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Iterator

import pytest
from pymisp import (
    Distribution,
    MISPEvent,
    MISPOrganisation,
    MISPSharingGroup,
    MISPUser,
    PyMISP,
)

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
ORG_NAME = "Kizuna Interop"  # what tests/interop/run.sh passes to `kizuna init`
TIMEOUT = (10, 60)
ROLE_USER = 3
ROLE_ORG_ADMIN = 2


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def refused(response: Any, status: int, what: str) -> dict[str, Any]:
    """The error body of a refused call, after checking its status."""
    assert isinstance(response, dict) and "errors" in response, f"{what}: {response!r}"
    got, body = response["errors"]
    assert got == status, f"{what}: {response!r}"
    return body


@pytest.fixture
def groups(misp: PyMISP) -> Iterator[list[Any]]:
    """Sharing groups (ids or uuids) to delete after the test, whatever its outcome."""
    created: list[Any] = []
    yield created
    for group in reversed(created):
        try:
            misp.delete_sharing_group(group)
        except Exception:  # the test result matters, not the cleanup's
            pass


@pytest.fixture
def events(misp: PyMISP) -> Iterator[list[str]]:
    created: list[str] = []
    yield created
    for event in created:
        try:
            misp.delete_event(event)
        except Exception:
            pass


def new_group(misp: PyMISP, groups: list[Any], label: str, **fields: Any) -> MISPSharingGroup:
    sg = MISPSharingGroup()
    sg.name = unique(f"kizuna interop {label}")
    sg.releasability = f"{label} releasability"
    for key, value in fields.items():
        setattr(sg, key, value)
    created = ok(misp.add_sharing_group(sg, pythonify=True), "add_sharing_group")
    assert isinstance(created, MISPSharingGroup), created
    groups.append(created.id)
    return created


def second_org(misp: PyMISP, groups: list[Any]) -> MISPOrganisation:
    """A new local organisation (or, without /admin/organisations/add, a captured one)."""
    org = MISPOrganisation()
    org.name = unique("kizuna interop org")
    org.uuid = str(uuid.uuid4())
    added = misp.add_organisation(org, pythonify=True)
    if isinstance(added, MISPOrganisation):
        return added
    # MISP: a site admin's sharing group naming an unknown organisation captures it.
    new_group(misp, groups, "capture", SharingGroupOrg=[{"Organisation": {"uuid": org.uuid, "name": org.name}}])
    got = ok(misp.get_organisation(org.uuid, pythonify=True), "get_organisation")
    assert isinstance(got, MISPOrganisation), got
    return got


def user_of(misp: PyMISP, org: MISPOrganisation, role_id: int) -> PyMISP:
    """A connector for a new user of `org`; skips the test without /admin/users/add."""
    user = MISPUser()
    user.email = f"{unique('sg')}@interop.test"
    user.org_id = org.id
    user.role_id = role_id
    added = misp.add_user(user)
    if not isinstance(added, dict) or "errors" in added or "User" not in added:
        pytest.skip(f"needs POST /admin/users/add (got {added!r:.200})")
    authkey = added["User"].get("authkey")
    if not authkey:
        pytest.skip("POST /admin/users/add did not return the clear authkey")
    return PyMISP(URL, authkey, ssl=False, timeout=TIMEOUT)


def member_orgs(misp: PyMISP, group: Any) -> dict[str, bool]:
    """{organisation uuid: extend} of a group, read back with get_sharing_group."""
    raw = ok(misp.get_sharing_group(group), "get_sharing_group")
    return {m["Organisation"]["uuid"]: bool(m["extend"]) for m in raw["SharingGroupOrg"]}


# --------------------------------------------------------------------------------------
# The sharing group endpoints
# --------------------------------------------------------------------------------------


def test_add_list_get_update_and_delete(misp: PyMISP, groups: list[Any]) -> None:
    created = new_group(misp, groups, "lifecycle", description="first description")
    assert created.releasability == "lifecycle releasability"
    assert created.description == "first description"
    assert created.active is True
    # MISP: the answer to add is the group with its member organisations; the creator's
    # organisation is a member that may extend the group.
    assert [(o.Organisation.name, o.extend) for o in created.sgorgs] == [(ORG_NAME, True)]

    listed = ok(misp.sharing_groups(pythonify=True), "sharing_groups")
    assert all(isinstance(sg, MISPSharingGroup) for sg in listed)
    assert created.uuid in {sg.uuid for sg in listed}
    # MISP: the index keeps the {"response": [...]} wrapper (PyMISP unwraps it) and says
    # what the caller may do with each group.
    raw = misp._check_json_response(misp._prepare_request("GET", "sharing_groups/index"))
    entry = next(e for e in raw if e["SharingGroup"]["uuid"] == created.uuid)
    assert entry["editable"] is True and entry["deletable"] is True
    assert entry["Organisation"]["name"] == ORG_NAME
    assert [s["server_id"] for s in entry["SharingGroupServer"]] == ["0"]

    for key in (created.id, created.uuid, created):
        got = ok(misp.get_sharing_group(key, pythonify=True), f"get_sharing_group({key!r})")
        assert isinstance(got, MISPSharingGroup)
        assert (got.id, got.uuid, got.name) == (created.id, created.uuid, created.name)
        assert misp.sharing_group_exists(key) is True
    assert misp.sharing_group_exists(999_999) is False
    assert misp.sharing_group_exists(str(uuid.uuid4())) is False
    refused(misp.get_sharing_group(999_999), 404, "get_sharing_group(unknown)")

    # update_sharing_group sends back what get_sharing_group gave, changed.
    got = ok(misp.get_sharing_group(created, pythonify=True), "get_sharing_group")
    got.releasability = "updated releasability"
    got.description = "updated description"
    updated = ok(misp.update_sharing_group(got, pythonify=True), "update_sharing_group")
    assert isinstance(updated, MISPSharingGroup)
    assert updated.releasability == "updated releasability"
    assert updated.description == "updated description"
    assert updated.name == created.name
    updated = ok(
        misp.update_sharing_group({"name": created.name + " renamed"}, created.id, pythonify=True),
        "update_sharing_group by id",
    )
    assert updated.name == created.name + " renamed"

    r = ok(misp.delete_sharing_group(created.id), "delete_sharing_group")
    # MISP: RestResponse::saveSuccessResponse('SharingGroups', 'delete', …).
    assert r["message"] == "SharingGroup deleted", r
    assert misp.sharing_group_exists(created.uuid) is False
    refused(misp.delete_sharing_group(created.id), 404, "delete_sharing_group again")


def test_add_and_remove_organisations(misp: PyMISP, groups: list[Any]) -> None:
    partner = second_org(misp, groups)
    group = new_group(misp, groups, "members")

    r = ok(misp.add_org_to_sharing_group(group, partner, extend=True), "add_org_to_sharing_group")
    assert r["name"] == "Organisation added to the sharing group.", r
    assert member_orgs(misp, group.id)[partner.uuid] is True
    # MISP: adding a member twice is a save failure (403).
    body = refused(misp.add_org_to_sharing_group(group.id, partner.id), 403, "add twice")
    assert body["saved"] is False

    r = ok(misp.remove_org_from_sharing_group(group, partner), "remove_org_from_sharing_group")
    assert r["name"] == "Organisation removed from the sharing group.", r
    assert partner.uuid not in member_orgs(misp, group.uuid)
    refused(misp.remove_org_from_sharing_group(group.id, partner.id), 403, "remove twice")
    refused(misp.add_org_to_sharing_group(group.id, str(uuid.uuid4())), 404, "unknown org")
    refused(misp.add_org_to_sharing_group(999_999, partner.id), 404, "unknown group")


def test_add_and_remove_this_instance(misp: PyMISP, groups: list[Any]) -> None:
    group = new_group(misp, groups, "roaming", roaming=True)
    raw = ok(misp.get_sharing_group(group.id), "get_sharing_group")
    assert raw["SharingGroupServer"] == []

    # Server 0 is this instance; all_orgs opens the group to every organisation here.
    r = ok(misp.add_server_to_sharing_group(group, 0, all_orgs=True), "add_server_to_sharing_group")
    assert r["name"] == "Server added to the sharing group.", r
    raw = ok(misp.get_sharing_group(group.id), "get_sharing_group")
    [entry] = raw["SharingGroupServer"]
    assert (entry["server_id"], entry["all_orgs"]) == ("0", True)
    assert entry["Server"]["url"] == URL
    refused(misp.add_server_to_sharing_group(group, 0), 403, "add server twice")
    refused(misp.add_server_to_sharing_group(group, 4242), 404, "unknown server")

    r = ok(misp.remove_server_from_sharing_group(group, 0), "remove_server_from_sharing_group")
    assert r["name"] == "Server removed from the sharing group.", r
    assert ok(misp.get_sharing_group(group.id), "get_sharing_group")["SharingGroupServer"] == []
    refused(misp.remove_server_from_sharing_group(group, 0), 403, "remove server twice")


# --------------------------------------------------------------------------------------
# Using a sharing group
# --------------------------------------------------------------------------------------


def test_change_sharing_group_on_entity(misp: PyMISP, groups: list[Any], events: list[str]) -> None:
    group = new_group(misp, groups, "entities")
    ev = MISPEvent()
    ev.info = f"kizuna interop sharing groups {uuid.uuid4()}"
    ev.distribution = Distribution.this_community_only
    ev.add_attribute("domain", unique("sg") + ".example")
    events.append(ev.uuid)
    first = ok(misp.add_event(ev, pythonify=True), "add_event")

    first = ok(
        misp.change_sharing_group_on_entity(first, group.id, pythonify=True),
        "change_sharing_group_on_entity(event)",
    )
    assert isinstance(first, MISPEvent), first
    assert first.distribution == Distribution.sharing_group.value
    # MISP: events of distribution 4 carry their SharingGroup.
    assert first.SharingGroup["name"] == group.name
    assert first.SharingGroup["SharingGroupOrg"][0]["Organisation"]["name"] == ORG_NAME

    attribute = ok(
        misp.change_sharing_group_on_entity(first.attributes[0], group.id, pythonify=True),
        "change_sharing_group_on_entity(attribute)",
    )
    assert attribute.distribution == 4
    assert attribute.sharing_group_id == int(group.id)
    viewed = ok(misp.get_event(first.uuid, pythonify=True), "get_event")
    assert viewed.attributes[0].SharingGroup["uuid"] == group.uuid

    # MISP: a group still in use is not deleted.
    body = refused(misp.delete_sharing_group(group.id), 403, "delete a group in use")
    assert body["saved"] is False
    assert misp.sharing_group_exists(group.id) is True

    # An unknown group is refused and nothing changes.
    body = refused(
        misp.change_sharing_group_on_entity(viewed, 999_999),
        403,
        "change_sharing_group_on_entity(event, unknown group)",
    )
    assert "sharing_group_id" in body["errors"], body
    again = ok(misp.get_event(first.uuid, pythonify=True), "get_event")
    assert again.sharing_group_id == int(group.id)

    ok(misp.delete_event(first.uuid), "delete_event")
    events.clear()
    ok(misp.delete_sharing_group(group.id), "delete_sharing_group after the event is gone")
    groups.clear()


# --------------------------------------------------------------------------------------
# Another organisation's users
# --------------------------------------------------------------------------------------


def test_other_organisations_see_and_change_only_what_they_may(misp: PyMISP, groups: list[Any]) -> None:
    partner = second_org(misp, groups)
    plain = user_of(misp, partner, ROLE_USER)
    org_admin = user_of(misp, partner, ROLE_ORG_ADMIN)
    hidden = new_group(misp, groups, "hidden")
    listing = new_group(misp, groups, "listing partner")
    ok(misp.add_org_to_sharing_group(listing, partner, extend=False), "add_org_to_sharing_group")

    # Only the groups listing the organisation are visible to it.
    seen = {sg["SharingGroup"]["uuid"] for sg in ok(plain.sharing_groups(), "sharing_groups")}
    assert listing.uuid in seen and hidden.uuid not in seen
    assert plain.sharing_group_exists(hidden.id) is False
    refused(plain.get_sharing_group(hidden.uuid), 404, "view a hidden group")

    # MISP: creating or changing groups needs perm_sharing_group.
    sg = MISPSharingGroup()
    sg.name = unique("kizuna interop refused")
    sg.releasability = "none"
    refused(plain.add_sharing_group(sg), 403, "add without perm_sharing_group")

    # A member without `extend` may not change the group, nor add itself elsewhere.
    refused(org_admin.update_sharing_group({"name": "hijacked"}, listing.id), 403, "edit without extend")
    refused(org_admin.add_org_to_sharing_group(listing, partner, extend=True), 403, "raise own extend")
    refused(org_admin.add_org_to_sharing_group(hidden.id, partner.id), 404, "join a hidden group")
    refused(org_admin.delete_sharing_group(listing.id), 403, "delete another org's group")
    assert member_orgs(misp, listing.id)[partner.uuid] is False

    # Its own group: the organisation owns it and may extend it.
    own = new_group(org_admin, groups, "own")
    assert own.org_id == partner.id or str(own.org_id) == str(partner.id)
    assert member_orgs(org_admin, own.id) == {partner.uuid: True}
