"""PyMISP interop, ladder level L5: what another organisation's user may read (docs:
pymisp-ladder.md, misp-reference.md §2.2–2.3).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server started by
tests/interop/run.sh, which sets KIZUNA_URL and KIZUNA_KEY (a site admin's key).

As the site admin, the module makes organisations A and B, a user (role 3) and a publisher
(role 4) in A and a user in B, a sharing group of A and B and one of A alone. A's user
creates one event per distribution level (and one with attributes and objects of every
level), A's publisher publishes them, and B's user reads them through every PyMISP read
call: exactly what MISP's distribution rules allow must come back. Everything is deleted
afterwards. Comments starting with "MISP:" say which behaviour of MISP an assertion
encodes.
"""

from __future__ import annotations

import csv
import io
import os
import uuid
from typing import Any, Iterator

import pytest
from pymisp import (
    MISPAttribute,
    MISPEvent,
    MISPOrganisation,
    MISPSharingGroup,
    MISPTag,
    MISPUser,
    PyMISP,
)

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 60)
ROLE_USER = 3
ROLE_PUBLISHER = 4


def connect(key: str) -> PyMISP:
    return PyMISP(URL, key, ssl=False, timeout=TIMEOUT)


def ok(response: Any, what: str) -> Any:
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def refused(response: Any, status: int, what: str) -> dict[str, Any]:
    assert isinstance(response, dict) and "errors" in response, f"{what}: {response!r}"
    got, body = response["errors"]
    assert got == status, f"{what}: {response!r}"
    return body


class World:
    """Organisations, users, sharing groups and A's events, made once for the module.

    `events` maps a name to the event as A's user created it; `visible_to_b` names the
    events B's user may see. Each event carries `domain(name)` (for IDS), the address
    `self.ip` shared by all of them and the tag `self.tag`.
    """

    def __init__(self, admin: PyMISP) -> None:
        self.admin = admin
        self.mark = uuid.uuid4().hex[:10]
        self.tag = f"kizuna-acl:{self.mark}"
        self.ip = f"203.0.113.{int(self.mark[:2], 16) % 250 + 1}"
        self.users: list[MISPUser] = []
        self.orgs: list[MISPOrganisation] = []
        self.groups: list[MISPSharingGroup] = []
        self.events: dict[str, MISPEvent] = {}
        self.tags: list[MISPTag] = []

    def domain(self, name: str) -> str:
        return f"{name}-{self.mark}.example.org"

    # -- set-up ---------------------------------------------------------------------------

    def org(self, label: str) -> MISPOrganisation:
        org = MISPOrganisation()
        org.name = f"Kizuna ACL {label} {self.mark}"
        created = ok(self.admin.add_organisation(org, pythonify=True), "add_organisation")
        assert isinstance(created, MISPOrganisation), created
        self.orgs.append(created)
        return created

    def user(self, org: MISPOrganisation, role_id: int) -> PyMISP:
        user = MISPUser()
        user.email = f"acl-{uuid.uuid4().hex[:12]}@l5.test"
        user.org_id = org.id
        user.role_id = role_id
        created = ok(self.admin.add_user(user, pythonify=True), "add_user")
        assert isinstance(created, MISPUser) and created.authkey, created
        self.users.append(created)
        return connect(created.authkey)

    def group(self, label: str, members: list[MISPOrganisation]) -> MISPSharingGroup:
        sg = MISPSharingGroup()
        sg.name = f"kizuna acl {label} {self.mark}"
        sg.releasability = "interop tests"
        created = ok(self.admin.add_sharing_group(sg, pythonify=True), "add_sharing_group")
        assert isinstance(created, MISPSharingGroup), created
        self.groups.append(created)
        for org in members:
            ok(self.admin.add_org_to_sharing_group(created, org), "add_org_to_sharing_group")
        return created

    def event(self, name: str, distribution: int, group: MISPSharingGroup | None = None) -> MISPEvent:
        event = MISPEvent()
        event.info = f"acl interop {name} {self.mark}"
        event.distribution = distribution
        if group is not None:
            event.sharing_group_id = group.id
        event.add_tag(self.tag)
        event.add_attribute("domain", self.domain(name), to_ids=True)
        event.add_attribute("ip-dst", self.ip, to_ids=True)
        return event

    def build(self) -> None:
        # MISP: a user without perm_tag_editor (role User) may attach existing tags only.
        tag = MISPTag()
        tag.name = self.tag
        self.tags.append(ok(self.admin.add_tag(tag, pythonify=True), "add_tag"))
        org_a, org_b = self.org("A"), self.org("B")
        self.org_a, self.org_b = org_a, org_b
        self.a_user = self.user(org_a, ROLE_USER)
        self.a_publisher = self.user(org_a, ROLE_PUBLISHER)
        self.b_user = self.user(org_b, ROLE_USER)
        self.group_ab = self.group("A and B", [org_a, org_b])
        self.group_a = self.group("A alone", [org_a])

        plans: dict[str, MISPEvent] = {
            "org-only": self.event("org-only", 0),
            "community": self.event("community", 1),
            "connected": self.event("connected", 2),
            "all": self.event("all", 3),
            "group-with-b": self.event("group-with-b", 4, self.group_ab),
            "group-without-b": self.event("group-without-b", 4, self.group_a),
            "draft": self.event("draft", 1),
        }
        # Attributes and objects of every level inside an event B may see.
        mixed = plans["community"]
        mixed.add_attribute("domain", self.domain("inherited"), distribution=5, to_ids=True)
        mixed.add_attribute("domain", self.domain("hidden"), distribution=0, to_ids=True)
        with_b = mixed.add_attribute("domain", self.domain("attribute-group-with-b"), to_ids=True)
        with_b.distribution = 4
        with_b.sharing_group_id = self.group_ab.id
        without_b = mixed.add_attribute("domain", self.domain("attribute-group-without-b"), to_ids=True)
        without_b.distribution = 4
        without_b.sharing_group_id = self.group_a.id
        hidden_object = mixed.add_object(name="domain-ip", distribution=0)
        hidden_object.add_attribute("domain", value=self.domain("in-hidden-object"), to_ids=True)
        shown_object = mixed.add_object(name="domain-ip", distribution=5)
        shown_object.add_attribute("domain", value=self.domain("in-shown-object"), to_ids=True)

        for name, plan in plans.items():
            created = ok(self.a_user.add_event(plan, pythonify=True), f"add_event {name}")
            assert isinstance(created, MISPEvent), created
            self.events[name] = created
            if name != "draft":
                ok(self.a_publisher.publish(created), f"publish {name}")

    def delete(self) -> None:
        for event in self.events.values():
            self.admin.delete_event(event)
        for group in self.groups:
            self.admin.delete_sharing_group(group)
        for user in self.users:
            self.admin.delete_user(user)
        for org in self.orgs:
            self.admin.delete_organisation(org)
        for tag in self.tags:
            self.admin.delete_tag(tag)

    # -- what the rules allow ---------------------------------------------------------------

    @property
    def visible_to_b(self) -> set[str]:
        # MISP: levels 1–3 reach every organisation of the instance, level 4 the members
        # of the group, level 0 the owner only; unpublished events are shared as usual
        # (MISP.unpublishedprivate is off by default).
        return {"community", "connected", "all", "group-with-b", "draft"}

    def uuids(self, names: set[str]) -> set[str]:
        return {self.events[name].uuid for name in names}

    def hidden_domains(self) -> set[str]:
        """Domains inside `community` that B may not see."""
        return {
            self.domain(name)
            for name in ("hidden", "attribute-group-without-b", "in-hidden-object")
        }

    def community_domains_for_b(self) -> set[str]:
        return {
            self.domain(name)
            for name in ("community", "inherited", "attribute-group-with-b", "in-shown-object")
        }


@pytest.fixture(scope="module")
def admin() -> PyMISP:
    if not URL or not KEY:
        pytest.fail("KIZUNA_URL / KIZUNA_KEY are not set: run the suite with tests/interop/run.sh")
    return connect(KEY)


@pytest.fixture(scope="module")
def world(admin: PyMISP) -> Iterator[World]:
    made = World(admin)
    try:
        made.build()
        yield made
    finally:
        made.delete()


def event_uuids(found: Any) -> set[str]:
    assert isinstance(found, list), found
    return {event.uuid for event in found}


def domains_of(event: MISPEvent) -> set[str]:
    values = {a.value for a in event.attributes if a.type == "domain"}
    for obj in event.objects:
        values |= {a.value for a in obj.attributes if a.type == "domain"}
    return values


def marked(world: World, events: set[str]) -> set[str]:
    """Only this module's events (other test files share the server)."""
    ours = {event.uuid for event in world.events.values()}
    return events & ours


# --------------------------------------------------------------------------------------
# Reading one event
# --------------------------------------------------------------------------------------


def test_get_event_answers_404_for_what_another_org_may_not_see(world: World) -> None:
    for name, event in world.events.items():
        got = world.b_user.get_event(event.id, pythonify=True)
        if name in world.visible_to_b:
            assert isinstance(got, MISPEvent), f"{name}: {got!r}"
            assert got.uuid == event.uuid
        else:
            # MISP: an event the user may not see is "Invalid event." with 404, by id and uuid.
            refused(got, 404, f"get_event {name} by id")
            refused(world.b_user.get_event(event.uuid), 404, f"get_event {name} by uuid")
            assert not world.b_user.event_exists(event.uuid), name


def test_a_visible_event_hides_the_attributes_and_objects_another_org_may_not_see(world: World) -> None:
    community = world.events["community"]
    got = ok(world.b_user.get_event(community.id, pythonify=True), "get_event community")
    assert domains_of(got) == world.community_domains_for_b()
    assert len(got.objects) == 1
    # The owner organisation sees it all.
    own = ok(world.a_user.get_event(community.id, pythonify=True), "get_event as A")
    assert domains_of(own) == world.community_domains_for_b() | world.hidden_domains()
    assert len(own.objects) == 2


def test_site_admin_sees_everything(world: World, admin: PyMISP) -> None:
    for name, event in world.events.items():
        got = ok(admin.get_event(event.id, pythonify=True), f"admin get_event {name}")
        assert got.uuid == event.uuid
    found = admin.search(controller="events", value=world.ip, pythonify=True)
    assert marked(world, event_uuids(found)) == world.uuids(set(world.events))
    community = admin.get_event(world.events["community"].id, pythonify=True)
    assert world.hidden_domains() <= domains_of(community)


# --------------------------------------------------------------------------------------
# Searches
# --------------------------------------------------------------------------------------


def test_event_searches_return_only_visible_events(world: World) -> None:
    b = world.b_user
    expected = world.uuids(world.visible_to_b)
    assert marked(world, event_uuids(b.search(controller="events", value=world.ip, pythonify=True))) == expected
    assert marked(world, event_uuids(b.search(controller="events", tags=world.tag, pythonify=True))) == expected
    found = b.search(controller="events", type_attribute="ip-dst", eventinfo=f"%{world.mark}%", pythonify=True)
    assert marked(world, event_uuids(found)) == expected
    # The events that come back carry no attribute B may not see.
    for event in b.search(controller="events", tags=world.tag, pythonify=True):
        assert not domains_of(event) & world.hidden_domains(), event.info
    # A value only hidden attributes hold finds nothing.
    for value in world.hidden_domains() | {world.domain("org-only"), world.domain("group-without-b")}:
        assert b.search(controller="events", value=value, pythonify=True) == [], value


def test_attribute_searches_return_only_visible_attributes(world: World) -> None:
    b = world.b_user
    found = b.search(controller="attributes", value=world.ip, pythonify=True)
    assert isinstance(found, list), found
    ours = {str(event.id) for event in world.events.values()}
    visible = {str(world.events[name].id) for name in world.visible_to_b}
    assert {str(a.event_id) for a in found} & ours == visible
    found = b.search(controller="attributes", type_attribute="domain", tags=world.tag, pythonify=True)
    assert isinstance(found, list), found
    expected = {world.domain(name) for name in world.visible_to_b} | world.community_domains_for_b()
    assert {a.value for a in found} == expected
    for value in world.hidden_domains():
        assert b.search(controller="attributes", value=value, pythonify=True) == [], value
    # The same search as the owner organisation finds the hidden ones too.
    found = world.a_user.search(controller="attributes", type_attribute="domain", tags=world.tag, pythonify=True)
    assert world.hidden_domains() <= {a.value for a in found}


def test_search_index_lists_only_visible_events(world: World) -> None:
    found = world.b_user.search_index(eventinfo=world.mark, pythonify=True)
    assert marked(world, event_uuids(found)) == world.uuids(world.visible_to_b)
    found = world.a_user.search_index(eventinfo=world.mark, pythonify=True)
    assert marked(world, event_uuids(found)) == world.uuids(set(world.events))


def test_csv_and_text_exports_hold_only_visible_values(world: World) -> None:
    b = world.b_user
    everything = {world.domain(name) for name in world.visible_to_b} | world.community_domains_for_b()
    exported = b.search(controller="attributes", type_attribute="domain", tags=world.tag, return_format="csv")
    assert isinstance(exported, str), exported
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {row["value"] for row in rows} == everything
    # MISP: text is a restrictive format, published IDS attributes unless told otherwise;
    # the draft is not published.
    text = b.search(controller="attributes", type_attribute="domain", tags=world.tag, return_format="text")
    assert isinstance(text, str), text
    assert {line for line in text.splitlines() if line} == everything - {world.domain("draft")}


# --------------------------------------------------------------------------------------
# Sightings
# --------------------------------------------------------------------------------------


def community_attribute(world: World, name: str) -> MISPAttribute:
    own = ok(world.a_user.get_event(world.events["community"].id, pythonify=True), "get_event as A")
    for attribute in own.attributes:
        if attribute.value == world.domain(name):
            return attribute
    for obj in own.objects:
        for attribute in obj.attributes:
            if attribute.value == world.domain(name):
                return attribute
    raise AssertionError(f"no attribute {world.domain(name)} in the community event")


def sighting_orgs(found: Any) -> list[str]:
    assert isinstance(found, list), found
    return sorted(str(hit["Sighting"]["org_id"]) for hit in found)


def test_sightings_follow_attribute_visibility_and_the_sighting_policy(world: World, admin: PyMISP) -> None:
    shown = community_attribute(world, "community")
    hidden = community_attribute(world, "hidden")
    source = f"acl-{world.mark}"
    ok(world.a_user.add_sighting({"source": source}, shown), "A sights")
    ok(world.b_user.add_sighting({"source": source}, shown), "B sights")
    # MISP: an attribute the user may not see cannot be sighted (by id or by value).
    refused(world.b_user.add_sighting({"source": source}, hidden), 404, "B sights a hidden attribute")
    refused(world.b_user.add_sighting({"value": hidden.value, "source": source}), 404, "B sights a hidden value")
    org_only = world.events["org-only"]
    refused(world.b_user.add_sighting({"source": source}, org_only.attributes[0]), 404, "B sights org-only")

    a_org, b_org = str(world.org_a.id), str(world.org_b.id)
    # MISP's default sighting policy: the event's owner sees every sighting of its events,
    # other organisations their own; site admins all.
    by_b = world.b_user.search_sightings(context="attribute", context_id=shown.id, source=source)
    assert sighting_orgs(by_b) == [b_org]
    by_a = world.a_user.search_sightings(context="attribute", context_id=shown.id, source=source)
    assert sighting_orgs(by_a) == sorted([a_org, b_org])
    by_admin = admin.search_sightings(context="attribute", context_id=shown.id, source=source)
    assert sighting_orgs(by_admin) == sorted([a_org, b_org])

    listed = world.b_user.sightings(shown)
    assert isinstance(listed, list), listed
    assert sorted(str(row["Sighting"]["org_id"]) for row in listed) == [b_org]
    # Sightings of an event B may not see are not listed for B at all.
    assert world.b_user.search_sightings(context="event", context_id=org_only.id) == []
    event_view = ok(world.b_user.get_event(world.events["community"].id), "get_event")
    seen = [s for a in event_view["Event"]["Attribute"] for s in a.get("Sighting", [])]
    assert sorted(str(s["org_id"]) for s in seen if s["source"] == source) == [b_org]
