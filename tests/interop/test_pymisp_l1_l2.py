"""PyMISP interop, ladder levels L1 and L2 (docs: pymisp-ladder.md).

Unmodified PyMISP (pinned in requirements.txt) against a running kizuna server.
tests/interop/run.sh starts the server and sets KIZUNA_URL and KIZUNA_KEY (the key of
the site admin created by `kizuna init`).

Every test is independent and deletes the events it creates. Comments starting with
"MISP:" say which behaviour of MISP (read in MISP's source, see misp-reference.md) an
assertion encodes.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import date
from typing import Any

import pytest
import requests
from pymisp import (
    Analysis,
    Distribution,
    MISPAttribute,
    MISPEvent,
    MISPObject,
    MISPObjectReference,
    MISPTag,
    PyMISP,
    PyMISPError,
    ThreatLevel,
)

import misp_interop as helpers

URL = os.environ.get("KIZUNA_URL", "")
KEY = os.environ.get("KIZUNA_KEY", "")
ORG_NAME = "Kizuna Interop"  # what tests/interop/run.sh passes to `kizuna init`
ADMIN_EMAIL = "admin@interop.test"
# (connect, read) timeouts for every request: a hung server must fail the test, not CI.
TIMEOUT = (10, 60)


# --------------------------------------------------------------------------------------
# Fixtures and small helpers
# --------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def ok(response: Any, what: str) -> Any:
    """Fails with the server's error if PyMISP reported one ({'errors': (status, body)})."""
    if isinstance(response, dict) and "errors" in response:
        pytest.fail(f"{what} failed: {response['errors']!r}")
    return response


def error_of(response: Any, what: str) -> tuple[int, Any]:
    """The (status, body) of an expected error, as PyMISP reports 4xx answers."""
    assert isinstance(response, dict) and "errors" in response, (
        f"{what}: expected an error, got {response!r}"
    )
    status, body = response["errors"]
    return status, body


def simple_event(label: str) -> MISPEvent:
    """A small event in the style of PyMISP's own create_simple_event()."""
    ev = MISPEvent()
    ev.info = f"kizuna interop: {label} {uuid.uuid4()}"
    ev.distribution = Distribution.your_organisation_only
    ev.threat_level_id = ThreatLevel.low
    ev.analysis = Analysis.completed
    ev.add_attribute("text", unique("interop-text"))
    return ev


def add_event(misp: PyMISP, ev: MISPEvent, cleanup) -> MISPEvent:
    cleanup(ev.uuid)
    created = ok(misp.add_event(ev, pythonify=True), "add_event")
    assert isinstance(created, MISPEvent), created
    return created


def get_event(misp: PyMISP, event: Any, **kw: Any) -> MISPEvent:
    got = ok(misp.get_event(event, pythonify=True, **kw), "get_event")
    assert isinstance(got, MISPEvent), got
    return got


def wait_published(misp: PyMISP, event: Any, expected: bool, seconds: float = 5.0) -> MISPEvent:
    # MISP may publish through a background job, so the flag can flip a moment later.
    deadline = time.monotonic() + seconds
    while True:
        got = get_event(misp, event)
        if bool(got.published) == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def tag_names(x: Any) -> set[str]:
    return {t.name for t in (x.tags or [])}


def all_attributes(ev: MISPEvent) -> list[MISPAttribute]:
    return list(ev.attributes) + [a for o in ev.objects for a in o.attributes]


# --------------------------------------------------------------------------------------
# L1: connecting
# --------------------------------------------------------------------------------------


def test_connect_and_instance_version(misp: PyMISP) -> None:
    # The constructor already did GET servers/getVersion, users/view/me and
    # attributes/describeTypes.json and refused to connect if the first ones failed.
    version = ok(misp.misp_instance_version, "GET servers/getVersion")
    # MISP: getVersion answers {"version": "2.5.x", ...}; PyMISP parses it as int tuple.
    assert re.fullmatch(r"2\.5\.\d+", str(version.get("version"))), version
    # MISP: getVersion reports the caller's permissions as JSON booleans; the key of a
    # site admin (role 1, "admin") has all of them.
    for perm in ("perm_sync", "perm_sighting", "perm_galaxy_editor"):
        assert version.get(perm) is True, f"{perm} in {version!r}"
    # MISP (>= 2.4.146): the recommended PyMISP version is part of getVersion.
    recommended = ok(misp.recommended_pymisp_version, "recommended_pymisp_version")
    assert "version" in recommended, recommended


def test_describe_types_equal_to_pymisp_bundled(misp: PyMISP) -> None:
    # MISP: attributes/describeTypes.json returns {"result": {types, categories,
    # category_type_mappings, sane_defaults}}; PyMISP ships a copy generated from MISP, and
    # the upstream live test requires the remote to equal it.
    remote = misp.describe_types_remote
    local = misp.describe_types_local
    assert remote == local, describe_types_diff(remote, local)


def describe_types_diff(remote: Any, local: Any) -> str:
    if not isinstance(remote, dict):
        return f"remote describeTypes is not an object: {remote!r:.300}"
    lines = []
    for k in sorted(set(remote) | set(local)):
        if k not in remote:
            lines.append(f"missing key {k!r}")
        elif k not in local:
            lines.append(f"extra key {k!r}")
        elif remote[k] != local[k]:
            r, l = remote[k], local[k]
            if isinstance(r, list) and isinstance(l, list):
                if sorted(map(str, r)) == sorted(map(str, l)):
                    lines.append(f"{k}: same entries, different order")
                else:
                    lines.append(f"{k}: missing {sorted(set(l) - set(r))[:20]}, extra {sorted(set(r) - set(l))[:20]}")
            elif isinstance(r, dict) and isinstance(l, dict):
                missing = sorted(set(l) - set(r))
                extra = sorted(set(r) - set(l))
                differ = [x for x in sorted(set(r) & set(l)) if r[x] != l[x]]
                lines.append(f"{k}: missing {missing[:20]}, extra {extra[:20]}, {len(differ)} differ")
                for x in differ[:10]:
                    lines.append(f"  {k}[{x!r}]: remote {r[x]!r:.200} != local {l[x]!r:.200}")
            else:
                lines.append(f"{k}: remote {r!r:.200} != local {l!r:.200}")
    return "describeTypes differs from PyMISP's bundled copy:\n  " + "\n  ".join(lines)


def test_get_user_me(misp: PyMISP) -> None:
    # MISP: users/view/me returns {"User": {...}, "Role": {...}, "UserSetting": ...,
    # "Organisation": {...}}; PyMISP needs User, Role and UserSetting.
    raw = ok(misp.get_user(), "get_user")
    for key in ("User", "Role", "UserSetting"):
        assert key in raw, f"{key} missing from users/view/me: {sorted(raw)}"
    assert raw["User"]["email"] == ADMIN_EMAIL
    # MISP: `kizuna init` creates a site admin (role "admin", perm_site_admin).
    assert raw["Role"].get("perm_site_admin") in (True, 1, "1"), raw["Role"]
    # MISP: the password hash never leaves the server ("*****" or absent).
    password = raw["User"].get("password")
    assert password is None or set(str(password)) <= {"*"}, "users/view/me leaks the password hash"

    user, role, settings = misp.get_user(pythonify=True, expanded=True)
    assert user.email == ADMIN_EMAIL
    assert isinstance(settings, list)
    assert role.name


def test_users_and_organisations_lists(misp: PyMISP) -> None:
    # Ladder L1: admin/users/index and organisations/index (scope local by default).
    users = ok(misp.users(pythonify=True), "users()")
    assert ADMIN_EMAIL in [u.email for u in users], users
    orgs = ok(misp.organisations(pythonify=True), "organisations()")
    assert ORG_NAME in [o.name for o in orgs], orgs


def test_get_unknown_event_is_404(misp: PyMISP) -> None:
    # MISP: events/view of an unknown id or uuid is a JSON 404 {"name": "Invalid event.",
    # "message": ..., "url": ...}; PyMISP turns it into {'errors': (404, body)}
    # (upstream test_get_non_exists_event).
    for ident in (0, 987654321, "ab2b6e28-fda5-4282-bf60-22b81de77851"):
        status, body = error_of(misp.get_event(ident), f"get_event({ident!r})")
        assert status == 404, (ident, status, body)
        assert isinstance(body, dict) and body.get("message"), body
    assert misp.event_exists("ab2b6e28-fda5-4282-bf60-22b81de77851") is False


def test_wrong_api_key_is_refused() -> None:
    if not URL:
        pytest.fail("KIZUNA_URL is not set: run the suite with tests/interop/run.sh")
    bad_key = "A" * 40
    # MISP: an unknown key gets HTTP 403 with the standard error JSON whose message starts
    # with "Authentication failed." (AppController).
    r = requests.get(
        f"{URL}/servers/getVersion",
        headers={"Authorization": bad_key, "Accept": "application/json",
                 "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 403, (r.status_code, r.text[:300])
    body = r.json()
    assert str(body.get("message", "")).startswith("Authentication failed"), body
    # PyMISP: the constructor cannot read users/view/me and raises a PyMISPError that
    # carries the 403.
    with pytest.raises(PyMISPError) as exc:
        PyMISP(URL, bad_key, ssl=False, timeout=TIMEOUT)
    assert "403" in str(exc.value), str(exc.value)


# --------------------------------------------------------------------------------------
# L2: real MISP events round-trip
# --------------------------------------------------------------------------------------

EVENTS_DIR = helpers.misp_events_dir()
EVENT_FILES = helpers.misp_event_files()


def test_real_event_files_present() -> None:
    assert EVENT_FILES, (
        "no MISP event files found (looked in crates/model/tests/data/misp-events/ and "
        "shared/data/misp-events/; set KIZUNA_MISP_EVENTS_DIR to point elsewhere)"
    )


@pytest.mark.parametrize(
    "path", EVENT_FILES, ids=[str(p.relative_to(EVENTS_DIR)) for p in EVENT_FILES]
)
def test_real_event_round_trip(misp: PyMISP, cleanup, path) -> None:
    # Real events exported from MISP instances, minus what belongs to the exporting
    # instance (ids, Org/Orgc, sharing groups, proposals, sightings, galaxies: see
    # misp_interop.strip_server_side), pushed with add_event and read back with get_event.
    # MISP keeps an imported event even when some entries fail validation, dropping those
    # entries with only a log line (pymisp/mispevent-misp_custom_obj.json has an object whose
    # uuid is "a"). Kizuna departs from that on purpose (docs/MISP-COMPAT.md): bad input is
    # refused whole, with MISP's saveFail shape naming the field, and nothing is stored.
    raw = helpers.strip_server_side(helpers.load_event_dict(path))
    sent = MISPEvent()
    sent.load(raw)
    cleanup(sent.uuid)

    invalid = helpers.invalid_uuid_fields(sent)
    created = misp.add_event(sent, pythonify=True)
    if invalid:
        status, body = error_of(created, f"add_event({path.name}) with invalid uuids")
        assert status == 403 and body.get("saved") is False, body
        assert set(invalid) <= set(body.get("errors", {})), (invalid, body)
        assert not misp.event_exists(sent.uuid)
        return
    ok(created, f"add_event({path.name})")
    # MISP: events/add keeps the uuid chosen by the client.
    assert created.uuid == sent.uuid

    got = get_event(misp, sent.uuid)
    diffs = helpers.compare_events(sent, got)
    if diffs:
        print(f"{path}: {len(diffs)} difference(s) between the event sent and events/view:")
        print(helpers.format_diffs(diffs, limit=200))
    assert not diffs, f"{path.name}: event read back differs from the event sent:" + helpers.format_diffs(diffs)


# --------------------------------------------------------------------------------------
# L2: event CRUD, publishing, existence checks
# --------------------------------------------------------------------------------------


def test_event_create_update_publish_delete(misp: PyMISP, cleanup) -> None:
    custom_tag = f'kizuna-interop:custom="{uuid.uuid4().hex[:12]}"'
    ev = MISPEvent()
    ev.info = f"kizuna interop: crud {uuid.uuid4()}"
    ev.distribution = Distribution.this_community_only
    ev.threat_level_id = ThreatLevel.medium
    ev.analysis = Analysis.ongoing
    ev.set_date("2024-03-05")
    ev.add_tag("tlp:green")
    ev.add_tag(custom_tag)
    ev.add_attribute("ip-dst", "198.51.100.23", comment="c2 server")

    created = add_event(misp, ev, cleanup)
    # MISP: the client's uuid and fields are kept; integers may come back as strings.
    assert created.uuid == ev.uuid
    assert created.info == ev.info
    assert int(created.distribution) == Distribution.this_community_only.value
    assert int(created.threat_level_id) == ThreatLevel.medium.value
    assert int(created.analysis) == Analysis.ongoing.value
    assert created.date == date(2024, 3, 5)
    # MISP: tags named on events/add are attached (created when unknown and the user may
    # edit tags).
    assert {"tlp:green", custom_tag} <= tag_names(created), tag_names(created)
    # MISP: new events are unpublished; they get a local numeric id.
    assert not created.published
    assert int(created.id) > 0
    # MISP: Org (owner) and Orgc (creator) are the API user's organisation.
    assert created.org.name == ORG_NAME and created.orgc.name == ORG_NAME
    assert [a.value for a in created.attributes] == ["198.51.100.23"]
    assert created.attributes[0].comment == "c2 server"

    # MISP: events/view accepts the numeric id as well as the uuid.
    assert get_event(misp, created.id).uuid == ev.uuid
    # MISP: HEAD events/view/<id|uuid> is a bare 200 (exists) / 404.
    assert misp.event_exists(ev.uuid) is True
    assert misp.event_exists(created.id) is True

    # update_event: change info on a fresh copy.
    time.sleep(1.1)  # timestamps have one-second resolution
    fresh = get_event(misp, ev.uuid)
    new_info = ev.info + " (edited)"
    fresh.info = new_info
    updated = ok(misp.update_event(fresh, pythonify=True), "update_event")
    assert updated.uuid == ev.uuid
    assert updated.info == new_info
    # MISP: an edit bumps the event timestamp.
    assert updated.timestamp > created.timestamp, (updated.timestamp, created.timestamp)
    again = get_event(misp, ev.uuid)
    assert again.info == new_info
    assert len(again.attributes) == 1

    # publish / unpublish
    r = ok(misp.publish(created), "publish")
    # MISP: saveSuccess JSON {"saved": true, "success": true, "message": ...}
    # (upstream test_simple_event checks publish_result["success"]).
    assert r.get("success") is True, r
    published = wait_published(misp, ev.uuid, True)
    assert published.published is True
    # MISP: publishing sets publish_timestamp.
    assert getattr(published, "publish_timestamp", None), "publish_timestamp not set"
    ok(misp.unpublish(created), "unpublish")
    assert wait_published(misp, ev.uuid, False).published is False

    # delete
    r = ok(misp.delete_event(created), "delete_event")
    # MISP: {"saved": true, "success": true, "name"/"message": "Event deleted.", ...}
    assert r.get("message") == "Event deleted.", r
    status, _ = error_of(misp.get_event(ev.uuid), "get_event after delete")
    assert status == 404
    assert misp.event_exists(ev.uuid) is False


# --------------------------------------------------------------------------------------
# L2: attributes
# --------------------------------------------------------------------------------------


def test_attribute_add_update_delete(misp: PyMISP, cleanup) -> None:
    created = add_event(misp, simple_event("attributes"), cleanup)

    # One attribute, category left to the server.
    a = MISPAttribute()
    a.type = "domain"
    a.value = f"{unique('interop')}.example.com"
    a.comment = "first comment"
    added = ok(misp.add_attribute(created, a, pythonify=True), "add_attribute")
    assert isinstance(added, MISPAttribute), added
    # MISP: attributes/add keeps the client's uuid and links the attribute to the event.
    assert added.uuid == a.uuid
    assert added.value == a.value
    assert int(added.event_id) == int(created.id)
    # MISP: a missing category defaults to the type's default_category (describeTypes).
    assert added.category == misp.describe_types_local["sane_defaults"]["domain"]["default_category"]

    # A list of attributes in one call.
    a1, a2 = MISPAttribute(), MISPAttribute()
    a1.type, a1.value = "ip-src", "192.0.2.10"
    a2.type, a2.value = "ip-src", "192.0.2.11"
    res = misp.add_attribute(created, [a1, a2], pythonify=True)
    ok(res, "add_attribute([a1, a2])")
    assert not res.get("errors"), res
    assert {x.value for x in res["attributes"]} == {"192.0.2.10", "192.0.2.11"}
    assert {x.uuid for x in res["attributes"]} == {a1.uuid, a2.uuid}

    # MISP batch form: one attribute whose value is an array creates one attribute per
    # value, answered as {"Attribute": [...]}.
    batch = ok(misp.add_attribute(created, {"type": "url", "value": [
        "https://one.interop.example/a", "https://two.interop.example/b"]}), "add_attribute(value=[...])")
    assert isinstance(batch.get("Attribute"), list), batch
    assert {x["value"] for x in batch["Attribute"]} == {
        "https://one.interop.example/a", "https://two.interop.example/b"}

    got = get_event(misp, created.uuid)
    assert len(got.attributes) == 1 + 1 + 2 + 2, [x.value for x in got.attributes]

    # get_attribute and HEAD, by uuid and by id
    fetched = ok(misp.get_attribute(a.uuid, pythonify=True), "get_attribute")
    assert fetched.uuid == a.uuid and fetched.value == a.value
    assert misp.attribute_exists(a.uuid) is True
    assert misp.attribute_exists(added.id) is True

    # update_attribute: comment change on a published event
    ok(misp.publish(created), "publish")
    assert wait_published(misp, created.uuid, True).published is True
    time.sleep(1.1)  # timestamps have one-second resolution
    fetched.comment = "edited comment"
    edited = ok(misp.update_attribute(fetched, pythonify=True), "update_attribute")
    assert isinstance(edited, MISPAttribute), edited
    assert edited.comment == "edited comment"
    # MISP: an edit without a client timestamp stamps the attribute with the current time.
    assert edited.timestamp > fetched.timestamp, (edited.timestamp, fetched.timestamp)
    after = get_event(misp, created.uuid)
    assert {x.uuid: x.comment for x in after.attributes}[a.uuid] == "edited comment"
    # MISP: editing an attribute unpublishes its event.
    assert not after.published

    # Soft delete: hidden by default, visible with deleted=True, flagged deleted.
    r = ok(misp.delete_attribute(a1.uuid), "delete_attribute")
    assert r.get("message") == "Attribute deleted.", r  # MISP's exact message
    visible = get_event(misp, created.uuid)
    assert a1.uuid not in {x.uuid for x in visible.attributes}
    with_deleted = get_event(misp, created.uuid, deleted=True)
    soft = {x.uuid: x for x in with_deleted.attributes}
    assert a1.uuid in soft, "soft-deleted attribute missing from get_event(deleted=True)"
    assert soft[a1.uuid].deleted is True

    # Hard delete: gone for good.
    r = ok(misp.delete_attribute(a2.uuid, hard=True), "delete_attribute(hard=True)")
    assert r.get("message") == "Attribute deleted.", r
    with_deleted = get_event(misp, created.uuid, deleted=True)
    assert a2.uuid not in {x.uuid for x in with_deleted.attributes}
    assert misp.attribute_exists(a2.uuid) is False


def test_client_uuids_are_preserved(misp: PyMISP, cleanup) -> None:
    ev = simple_event("uuids")
    attr = ev.add_attribute("url", "https://uuid.interop.example/x")
    obj = MISPObject("domain-ip")
    oa = obj.add_attribute("domain", value="uuid.interop.example")
    ev.add_object(obj)
    created = add_event(misp, ev, cleanup)
    # MISP: uuids given by the client are kept for events, attributes and objects.
    assert created.uuid == ev.uuid
    assert attr.uuid in {x.uuid for x in created.attributes}
    assert [o.uuid for o in created.objects] == [obj.uuid]
    assert [x.uuid for x in created.objects[0].attributes] == [oa.uuid]

    # MISP: uuids are lower-cased on input.
    upper = str(uuid.uuid4()).upper()
    raw = ok(misp.add_attribute(created, {"type": "text", "value": unique("upper"), "uuid": upper}),
             "add_attribute(upper-case uuid)")
    assert raw["Attribute"]["uuid"] == upper.lower(), raw


def test_duplicate_attribute_is_refused(misp: PyMISP, cleanup) -> None:
    ev = simple_event("duplicates")
    ev.add_attribute("ip-dst", "198.51.100.77", category="Network activity")
    created = add_event(misp, ev, cleanup)

    dup = MISPAttribute()
    dup.type, dup.value, dup.category = "ip-dst", "198.51.100.77", "Network activity"
    status, body = error_of(misp.add_attribute(created, dup), "duplicate add_attribute")
    # MISP: same (event, type, category, value) is refused with a 403 saveFail whose
    # errors name the field: {"value": ["A similar attribute already exists for this event."]}
    # (upstream test_attribute checks this exact message).
    assert status == 403, (status, body)
    assert body["errors"]["value"][0] == "A similar attribute already exists for this event.", body

    # MISP: the category is part of the key, so another category is not a duplicate.
    other = MISPAttribute()
    other.type, other.value, other.category = "ip-dst", "198.51.100.77", "Payload delivery"
    ok(misp.add_attribute(created, other, pythonify=True), "same value, other category")

    # MISP: soft-deleted attributes do not count as duplicates.
    original = [x for x in get_event(misp, created.uuid).attributes
                if x.value == "198.51.100.77" and x.category == "Network activity"][0]
    ok(misp.delete_attribute(original.uuid), "delete_attribute")
    again = MISPAttribute()
    again.type, again.value, again.category = "ip-dst", "198.51.100.77", "Network activity"
    ok(misp.add_attribute(created, again, pythonify=True), "re-add after soft delete")


@pytest.mark.parametrize("attr_type,value", [("ip-dst", "not-an-ip"), ("md5", "xyz")])
def test_invalid_value_is_refused(misp: PyMISP, cleanup, attr_type: str, value: str) -> None:
    created = add_event(misp, simple_event(f"invalid {attr_type}"), cleanup)
    bad = MISPAttribute()
    bad.type, bad.value = attr_type, value
    status, body = error_of(misp.add_attribute(created, bad), f"add_attribute({attr_type} {value!r})")
    # MISP: value validation (AttributeValidationTool) failures are a 403 saveFail:
    # {"saved": false, "name": "Could not add Attribute", "errors": {"value": [<reason>]}}.
    assert status == 403, (status, body)
    assert isinstance(body, dict) and body.get("saved") is False, body
    assert isinstance(body.get("errors"), dict) and body["errors"].get("value"), body
    # Nothing was stored.
    assert value not in {x.value for x in get_event(misp, created.uuid).attributes}


def test_unknown_type_is_refused(misp: PyMISP, cleanup) -> None:
    created = add_event(misp, simple_event("unknown type"), cleanup)
    # A plain dict: PyMISP's MISPAttribute would reject the type before sending.
    status, body = error_of(
        misp.add_attribute(created, {"type": "not-a-misp-type", "value": "whatever"}),
        "add_attribute(unknown type)")
    # MISP: beforeValidate rejects it: 403 saveFail with errors {"type": ["Invalid type."]}.
    assert status == 403, (status, body)
    assert isinstance(body.get("errors"), dict) and "type" in body["errors"], body


# --------------------------------------------------------------------------------------
# L2: objects
# --------------------------------------------------------------------------------------


def test_objects(misp: PyMISP, cleanup) -> None:
    created = add_event(misp, simple_event("objects"), cleanup)
    target = created.attributes[0]

    obj = MISPObject("domain-ip")  # template bundled with PyMISP
    domain = obj.add_attribute("domain", value=f"{unique('obj')}.example.net")
    ip = obj.add_attribute("ip", value="203.0.113.10")
    added = ok(misp.add_object(created, obj, pythonify=True), "add_object")
    assert isinstance(added, MISPObject), added
    # MISP: the object keeps the client's uuid and the template identity.
    assert added.uuid == obj.uuid
    assert added.name == "domain-ip"
    assert added.template_uuid == obj.template_uuid
    assert int(added.template_version) == int(obj.template_version)
    assert getattr(added, "meta-category") == getattr(obj, "meta-category") == "network"
    by_rel = {x.object_relation: x for x in added.attributes}
    assert set(by_rel) == {"domain", "ip"}
    assert by_rel["domain"].uuid == domain.uuid and by_rel["domain"].type == "domain"
    # The domain-ip template maps relation "ip" to attribute type ip-dst.
    assert by_rel["ip"].uuid == ip.uuid and by_rel["ip"].type == "ip-dst"
    assert by_rel["ip"].value == "203.0.113.10"

    fetched = ok(misp.get_object(obj.uuid, pythonify=True), "get_object")
    assert fetched.uuid == obj.uuid and fetched.name == "domain-ip"
    assert {x.object_relation for x in fetched.attributes} == {"domain", "ip"}
    assert misp.object_exists(obj.uuid) is True

    # Reference from the object to the event's text attribute.
    ref = fetched.add_reference(target.uuid, "related-to", comment="interop reference")
    new_ref = ok(misp.add_object_reference(ref, pythonify=True), "add_object_reference")
    assert isinstance(new_ref, MISPObjectReference), new_ref
    # MISP: objectReferences/add resolves the target in the event (it assigns its own
    # reference uuid, so only the link itself is compared).
    assert new_ref.referenced_uuid == target.uuid
    assert new_ref.relationship_type == "related-to"
    ev = get_event(misp, created.uuid)
    [o] = [o for o in ev.objects if o.uuid == obj.uuid]
    assert [(r.referenced_uuid, r.relationship_type) for r in o.references] == [(target.uuid, "related-to")]

    # Soft delete of the object.
    r = ok(misp.delete_object(obj.uuid), "delete_object")
    # MISP: "Object deleted." (older versions without the dot; upstream checks the prefix).
    assert str(r.get("message", "")).startswith("Object deleted"), r
    assert obj.uuid not in {o.uuid for o in get_event(misp, created.uuid).objects}
    deleted_view = {o.uuid: o for o in get_event(misp, created.uuid, deleted=True).objects}
    assert obj.uuid in deleted_view, "soft-deleted object missing from get_event(deleted=True)"
    assert deleted_view[obj.uuid].deleted is True

    # MISP: the objectReferences/add answer also names the source object (object_uuid is
    # set explicitly in ObjectReferencesController::add). Checked last so that a missing
    # field does not hide the behaviour checked above.
    assert getattr(new_ref, "object_uuid", None) == obj.uuid, new_ref.to_dict()


# --------------------------------------------------------------------------------------
# L2: tags
# --------------------------------------------------------------------------------------


def test_tags(misp: PyMISP, cleanup) -> None:
    prefix = unique("kizuna-interop-tag")
    tag = MISPTag()
    tag.name = f"{prefix}:first"
    tag.colour = "#1F2E3D"
    new = ok(misp.add_tag(tag, pythonify=True), "add_tag")
    assert isinstance(new, MISPTag), new
    # MISP: tags/add returns {"Tag": {...}} with the stored name and colour and an id.
    assert new.name == tag.name
    assert new.colour.lower() == "#1f2e3d"
    assert int(new.id) > 0

    # MISP: tags/index answers {"Tag": [...]}; PyMISP unwraps the list.
    assert tag.name in {t.name for t in ok(misp.tags(pythonify=True), "tags()")}
    fetched = ok(misp.get_tag(new, pythonify=True), "get_tag")
    assert fetched.name == tag.name and int(fetched.id) == int(new.id)

    new.name = f"{prefix}:renamed"
    new.colour = "#3D2E1F"
    updated = ok(misp.update_tag(new, pythonify=True), "update_tag")
    assert updated.name == f"{prefix}:renamed"
    assert updated.colour.lower() == "#3d2e1f"

    # MISP: tags/search matches names with SQL LIKE (% wildcard), case-insensitively.
    found = ok(misp.search_tags(f"{prefix}%", pythonify=True), "search_tags")
    assert f"{prefix}:renamed" in {t.name for t in found}, found
    assert not misp.search_tags(f"{prefix}-no-such-tag")

    # Attach to an event (global) and to an attribute (local), then detach.
    created = add_event(misp, simple_event("tags"), cleanup)
    attr = created.attributes[0]
    tagged_event = ok(misp.tag(created, updated.name), "tag(event)")
    tagged_attr = ok(misp.tag(attr.uuid, updated.name, local=True), "tag(attribute, local=True)")
    ev = get_event(misp, created.uuid)
    assert updated.name in tag_names(ev)
    [a] = [x for x in ev.attributes if x.uuid == attr.uuid]
    attr_tags = {t.name: t for t in a.tags}
    assert updated.name in attr_tags, attr_tags
    # MISP: a local tag is marked "local": true in the event view.
    assert attr_tags[updated.name].local in (True, 1, "1"), attr_tags[updated.name].to_dict()

    ok(misp.untag(created, updated.name), "untag(event)")
    ok(misp.untag(attr.uuid, updated.name), "untag(attribute)")
    ev = get_event(misp, created.uuid)
    assert updated.name not in tag_names(ev)
    assert updated.name not in tag_names([x for x in ev.attributes if x.uuid == attr.uuid][0])

    r = ok(misp.delete_tag(updated), "delete_tag")
    assert r.get("message") == "Tag deleted.", r  # MISP's exact message
    # MISP: tags/view of an unknown id is an error (MISP answers 405 "Invalid Tag").
    status, _ = error_of(misp.get_tag(int(updated.id)), "get_tag after delete")
    assert status in (404, 405), status
    assert updated.name not in {t.name for t in ok(misp.tags(pythonify=True), "tags()")}

    # MISP: attachTagToObject answers saveSuccess JSON whose message reads
    # "Global tag <name>(<id>) successfully attached to Event(<id>)." / "Local tag ...";
    # the upstream live test (test_tags) checks for "successfully" and "(<id>)" in it.
    # Checked last so that a wording difference does not hide the behaviour above.
    for what, r, entity_id in (("event", tagged_event, created.id), ("attribute", tagged_attr, attr.id)):
        message = str(r.get("message", ""))
        assert r.get("saved") is True, (what, r)
        assert "successfully" in message.lower() and f"({entity_id})" in message, (what, r)
