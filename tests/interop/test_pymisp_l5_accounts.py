"""PyMISP interop, ladder level L5 (accounts part): organisations, users, roles, API keys
(docs: pymisp-ladder.md).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh, which sets KIZUNA_URL and KIZUNA_KEY (a site admin's key).

Every test removes the users, organisations and roles it creates. Comments starting with
"MISP:" say which behaviour of MISP (read in MISP's source) an assertion encodes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from pymisp import MISPOrganisation, MISPRole, MISPUser, PyMISP

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 60)


def connect(key: str) -> PyMISP:
    return PyMISP(URL, key, ssl=False, timeout=TIMEOUT)


def authenticates(key: str) -> int:
    """The status of GET /users/view/me with `key`."""
    response = requests.get(
        f"{URL}/users/view/me",
        headers={"Authorization": key, "Accept": "application/json"},
        timeout=TIMEOUT,
    )
    return response.status_code


@pytest.fixture(scope="module")
def admin() -> PyMISP:
    if not URL or not KEY:
        pytest.fail("KIZUNA_URL / KIZUNA_KEY are not set: run the suite with tests/interop/run.sh")
    return connect(KEY)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def refused(response: Any, status: int = 403) -> dict[str, Any]:
    """PyMISP's form of a 4xx answer: {'errors': (status, body)}."""
    assert isinstance(response, dict) and "errors" in response, response
    got_status, body = response["errors"]
    assert got_status == status, response
    return body


class Cleanup:
    """Deletes users, then organisations and roles, whatever the test's outcome."""

    def __init__(self, misp: PyMISP) -> None:
        self.misp = misp
        self.users: list[Any] = []
        self.orgs: list[Any] = []
        self.roles: list[Any] = []

    def run(self) -> None:
        for user in self.users:
            self.misp.delete_user(user)
        for org in self.orgs:
            self.misp.delete_organisation(org)
        for role in self.roles:
            self.misp.delete_role(role)


@pytest.fixture
def cleanup(admin: PyMISP) -> Iterator[Cleanup]:
    registry = Cleanup(admin)
    yield registry
    registry.run()


def new_org(admin: PyMISP, cleanup: Cleanup, name: str | None = None) -> MISPOrganisation:
    org = MISPOrganisation()
    org.name = name or unique("Kizuna L5 org")
    created = ok(admin.add_organisation(org, pythonify=True), "add_organisation")
    assert isinstance(created, MISPOrganisation), created
    cleanup.orgs.append(created)
    return created


def new_user(admin: PyMISP, cleanup: Cleanup, org: MISPOrganisation, role_id: int | None = None) -> MISPUser:
    user = MISPUser()
    user.email = f"{unique('user')}@l5.test"
    user.org_id = org.id
    if role_id is not None:
        user.role_id = role_id
    created = ok(admin.add_user(user, pythonify=True), "add_user")
    assert isinstance(created, MISPUser), created
    cleanup.users.append(created)
    return created


# --------------------------------------------------------------------------------------
# Organisations
# --------------------------------------------------------------------------------------


def test_organisations_are_added_found_updated_and_deleted(admin: PyMISP, cleanup: Cleanup) -> None:
    org_uuid = str(uuid.uuid4())
    org = MISPOrganisation()
    org.name = unique("Kizuna L5 CERT")
    org.uuid = org_uuid
    org.description = "An organisation made by PyMISP"
    org.nationality = "Japan"
    org.sector = "Research"
    created = ok(admin.add_organisation(org, pythonify=True), "add_organisation")
    cleanup.orgs.append(created)
    assert created.name == org.name
    assert created.uuid == org_uuid
    # MISP: organisations added through the API are local unless told otherwise.
    assert created.local is True

    fetched = admin.get_organisation(created.id, pythonify=True)
    assert fetched.name == org.name and fetched.sector == "Research"
    assert admin.organisation_exists(org_uuid)
    assert not admin.organisation_exists(str(uuid.uuid4()))

    found = admin.organisations(scope="all", search=org.name, pythonify=True)
    assert [o.name for o in found] == [org.name]
    local = admin.organisations(pythonify=True)
    assert org.name in [o.name for o in local]

    # A second organisation of the same name is refused (MISP: name is unique).
    twin = MISPOrganisation()
    twin.name = org.name
    body = refused(admin.add_organisation(twin))
    assert body["saved"] is False and "name" in body["errors"], body

    fetched.name = unique("Kizuna L5 renamed")
    ok(admin.update_organisation(fetched), "update_organisation")
    assert admin.get_organisation(created.id, pythonify=True).name == fetched.name

    deleted = ok(admin.delete_organisation(created), "delete_organisation")
    assert deleted["message"] == "Organisation deleted", deleted
    cleanup.orgs.remove(created)
    assert not admin.organisation_exists(created.id)


def test_organisations_with_users_are_not_deleted(admin: PyMISP, cleanup: Cleanup) -> None:
    org = new_org(admin, cleanup)
    new_user(admin, cleanup, org)
    body = refused(admin.delete_organisation(org))
    assert body["saved"] is False, body
    assert admin.organisation_exists(org.id)


# --------------------------------------------------------------------------------------
# Users and keys
# --------------------------------------------------------------------------------------


def test_users_connect_with_the_key_they_are_given(admin: PyMISP, cleanup: Cleanup) -> None:
    org = new_org(admin, cleanup)
    # MISP: a user added without role_id gets the default role.
    assert ok(admin.set_default_role(3), "set_default_role")["message"] == "Default role set."
    user = new_user(admin, cleanup, org)
    assert str(user.role_id) == "3"
    assert user.password is None, "the masked password is dropped by PyMISP"
    assert len(user.authkey) == 40

    as_user = connect(user.authkey)
    me = as_user.get_user(pythonify=True)
    assert me.email == user.email and str(me.org_id) == str(org.id)
    me, role, settings = as_user.get_user(pythonify=True, expanded=True)
    assert role.name == "User" and settings == []

    # Admin edits the user (PyMISP sends the whole object back).
    me.email = f"{unique('renamed')}@l5.test"
    updated = ok(admin.update_user(me, pythonify=True), "update_user")
    assert updated.email == me.email
    ok(admin.update_user({"role_id": 6}, user), "update_user with a dict")
    assert str(admin.get_user(user, pythonify=True).role_id) == "6"

    # Search as PyMISP sends it: value: and searchorg:.
    listed = admin.users(search=me.email)
    assert [row["User"]["email"] for row in listed] == [me.email]
    listed = admin.users(search=me.email, organisation=org.id, pythonify=True)
    assert [u.email for u in listed] == [me.email]

    # A new key for oneself works next to the first one.
    second = as_user.get_new_authkey()
    assert isinstance(second, str) and len(second) == 40 and second != user.authkey
    assert connect(second).get_user(pythonify=True).email == me.email
    assert as_user.get_user(pythonify=True).email == me.email

    deleted = ok(admin.delete_user(user), "delete_user")
    assert deleted["message"] == "User deleted.", deleted
    cleanup.users.remove(user)
    # One plain request rather than PyMISP's three-request start-up: failed logins count
    # against this client address in the server's throttle, shared by the whole suite.
    assert authenticates(second) == 403


def test_user_input_errors_name_the_field(admin: PyMISP, cleanup: Cleanup) -> None:
    org = new_org(admin, cleanup)
    user = MISPUser()
    user.email = "not an e-mail address"
    user.org_id = org.id
    body = refused(admin.add_user(user))
    assert "email" in body["errors"], body
    user.email = f"{unique('weak')}@l5.test"
    user.password = "short"
    body = refused(admin.add_user(user))
    assert "password" in body["errors"], body
    assert not admin.users(search=user.email)


def test_org_admins_cannot_escalate(admin: PyMISP, cleanup: Cleanup) -> None:
    org = new_org(admin, cleanup)
    other = new_org(admin, cleanup)
    org_admin_user = new_user(admin, cleanup, org, role_id=2)
    org_admin = connect(org_admin_user.authkey)

    site_admin = MISPUser()
    site_admin.email = f"{unique('root')}@l5.test"
    site_admin.role_id = 1
    refused(org_admin.add_user(site_admin))
    elsewhere = MISPUser()
    elsewhere.email = f"{unique('elsewhere')}@l5.test"
    elsewhere.org_id = other.id
    elsewhere.role_id = 3
    refused(org_admin.add_user(elsewhere))
    assert not admin.users(search=site_admin.email)
    assert not admin.users(search=elsewhere.email)

    # Their own organisation's plain users are fine, raising them is not.
    helper = MISPUser()
    helper.email = f"{unique('helper')}@l5.test"
    helper.role_id = 4
    created = ok(org_admin.add_user(helper, pythonify=True), "org admin add_user")
    cleanup.users.append(created)
    assert str(created.org_id) == str(org.id)
    refused(org_admin.update_user({"role_id": 1}, created))
    refused(org_admin.update_user({"role_id": 1}, org_admin_user))
    assert str(admin.get_user(created, pythonify=True).role_id) == "4"
    assert str(admin.get_user(org_admin_user, pythonify=True).role_id) == "2"

    # A plain user can neither raise their own role nor edit someone else.
    plain = connect(created.authkey)
    refused(plain.update_user({"role_id": 1}, created))
    refused(plain.update_user({"email": "hijack@l5.test"}, org_admin_user))
    refused(plain.delete_user(org_admin_user))
    assert str(admin.get_user(created, pythonify=True).role_id) == "4"


# --------------------------------------------------------------------------------------
# Roles
# --------------------------------------------------------------------------------------


def test_roles_are_listed_added_updated_and_deleted(admin: PyMISP, cleanup: Cleanup) -> None:
    roles = admin.roles(pythonify=True)
    by_id = {str(role.id): role for role in roles}
    assert by_id["1"].perm_site_admin and by_id["2"].perm_admin
    assert by_id["3"].permission_description == "manage_org"
    assert by_id["4"].permission == "3"

    assert ok(admin.set_default_role(4), "set_default_role")["message"] == "Default role set."
    assert [r.id for r in admin.roles(pythonify=True) if r.default_role] == ["4"]
    ok(admin.set_default_role(3), "set_default_role")

    role = MISPRole()
    role.name = unique("testrole")
    created = ok(admin.add_role(role, pythonify=True), "add_role")
    cleanup.roles.append(created)
    assert created.perm_sighting is False
    created.perm_sighting = True
    created.max_execution_time = 1234
    updated = ok(admin.update_role(created, pythonify=True), "update_role")
    assert updated.perm_sighting is True
    assert updated.max_execution_time == "1234"

    # MISP: a role assigned to users is not deleted.
    org = new_org(admin, cleanup)
    holder = new_user(admin, cleanup, org, role_id=int(created.id))
    refused(admin.delete_role(created))
    admin.delete_user(holder)
    cleanup.users.remove(holder)
    deleted = ok(admin.delete_role(created), "delete_role")
    assert deleted["message"] == "Role deleted.", deleted
    cleanup.roles.remove(created)
