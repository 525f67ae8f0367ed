"""TAXII 2.1 (and the 2.0 root) of a running kizuna server, through off-the-shelf clients.

The real taxii2-client (taxii2client.v21 Server/ApiRoot/Collection/Status and as_pages;
taxii2client.v20 for /taxii/) and stix2 (objects built with stix2.Indicator, pushed and read
with stix2.TAXIICollectionSink / TAXIICollectionSource) against the server
tests/interop/run.sh starts (KIZUNA_URL, and KIZUNA_KEY of a site admin). PyMISP sets up
what TAXII cannot: organisations, users, events to read; collections come from the admin
API (`/taxii_collections/add`).

Every STIX object the server returns is checked with stix2-validator 3.2.0 (default
options, STIX 2.1): no error allowed.

Wire facts the tests rely on (TAXII 2.1 OASIS Standard, stix-taxii-reference.md B):
discovery at /taxii2/, API root /taxii2/root/, the media type
`application/taxii+json;version=2.1` on every answer, an error resource (`title`,
optional `http_status` as a string) with every 4xx, `WWW-Authenticate: Basic` with 401,
`X-TAXII-Date-Added-First/Last` on object and manifest pages, `more`/`next` paging in 2.1
and `Range`/`Content-Range` in 2.0.
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import pytest
import requests
import stix2
from pymisp import MISPEvent, MISPOrganisation, MISPUser, PyMISP
from stix2validator import ValidationOptions, validate_instance
from taxii2client import v20, v21
from taxii2client.exceptions import AccessError

URL = os.environ.get("KIZUNA_URL", "").rstrip("/")
KEY = os.environ.get("KIZUNA_KEY", "")
TIMEOUT = (10, 120)

TAXII21 = "application/taxii+json;version=2.1"
STIX21 = "application/stix+json;version=2.1"
TAXII20 = "application/vnd.oasis.taxii+json; version=2.0"
STIX20 = "application/vnd.oasis.stix+json; version=2.0"
DISCOVERY21 = f"{URL}/taxii2/"
ROOT21 = f"{URL}/taxii2/root/"
DISCOVERY20 = f"{URL}/taxii/"
ROOT20 = f"{URL}/taxii/root/"
ROLE_USER = 3


# --------------------------------------------------------------------------------------
# Authentication as taxii2-client and requests take it
# --------------------------------------------------------------------------------------


class KeyAuth(requests.auth.AuthBase):
    """`Authorization: <API key>`, MISP's own header, on every request."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self.key
        return request


class Account:
    """A user's e-mail and API key, for Basic auth or the key header."""

    def __init__(self, email: str, key: str) -> None:
        self.email = email
        self.key = key

    def basic(self) -> dict[str, str]:
        return {"user": self.email, "password": self.key}

    def key_header(self) -> dict[str, Any]:
        return {"auth": KeyAuth(self.key)}

    def collection(self, collection_id: str, **kwargs: Any) -> v21.Collection:
        return v21.Collection(f"{ROOT21}collections/{collection_id}/", **self.basic(), **kwargs)

    def get(self, url: str, accept: str = TAXII21, **kwargs: Any) -> requests.Response:
        headers = {"Accept": accept, **kwargs.pop("headers", {})}
        return requests.get(url, headers=headers, auth=(self.email, self.key), timeout=TIMEOUT,
                            **kwargs)

    def post(self, url: str, body: bytes, content_type: str = TAXII21,
             accept: str = TAXII21) -> requests.Response:
        return requests.post(url, data=body, auth=(self.email, self.key), timeout=TIMEOUT,
                             headers={"Accept": accept, "Content-Type": content_type})


# --------------------------------------------------------------------------------------
# Validation of everything the server emits
# --------------------------------------------------------------------------------------

_VALIDATED: dict[tuple[str, str, str], list[str]] = {}
_OPTIONS = {spec: ValidationOptions(version=spec) for spec in ("2.0", "2.1")}


def version_of(obj: dict[str, Any]) -> str:
    return str(obj.get("modified") or obj.get("created") or "")


def validate_objects(objects: Iterable[dict[str, Any]], spec: str = "2.1") -> int:
    """Checks each object not checked before with stix2-validator; fails on any error.
    Returns how many objects were looked at."""
    errors: list[str] = []
    count = 0
    for obj in objects:
        count += 1
        key = (spec, str(obj.get("id")), version_of(obj))
        if key not in _VALIDATED:
            results = validate_instance(obj, _OPTIONS[spec])
            _VALIDATED[key] = [str(e) for e in results.errors]
        errors += [f"{obj.get('id')}: {e}" for e in _VALIDATED[key]]
    assert not errors, f"{len(errors)} validation errors:\n" + "\n".join(errors[:30])
    return count


def objects_of(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    objects = envelope.get("objects", [])
    validate_objects(objects)
    return objects


# --------------------------------------------------------------------------------------
# Wire checks
# --------------------------------------------------------------------------------------


def media_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").replace(" ", "").lower()


def assert_error_resource(response: requests.Response, status: int, what: str) -> dict:
    """A TAXII 2.1 error resource with the given HTTP status."""
    assert response.status_code == status, (
        f"{what}: HTTP {response.status_code}, wanted {status}: {response.text[:500]}")
    assert media_type(response) == TAXII21, f"{what}: Content-Type {media_type(response)!r}"
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("title"), str) and body["title"], (
        f"{what}: not an error resource: {body!r}")
    if "http_status" in body:
        assert body["http_status"] == str(status), f"{what}: {body!r}"
    return body


def http_status(error: BaseException) -> int | None:
    response = getattr(error, "response", None)
    return None if response is None else response.status_code


# --------------------------------------------------------------------------------------
# STIX content
# --------------------------------------------------------------------------------------


def an_hour_ago() -> datetime:
    # Whole seconds: the version a client sent is the version it can ask for.
    return (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)


def domain_indicator(domain: str, when: datetime | None = None, **extra: Any) -> stix2.Indicator:
    when = when or an_hour_ago()
    return stix2.Indicator(
        name=f"Malicious domain {domain}",
        pattern=f"[domain-name:value = '{domain}']",
        pattern_type="stix",
        valid_from=when,
        created=when,
        modified=when,
        indicator_types=["malicious-activity"],
        **extra,
    )


def envelope_of(objects: Iterable[stix2.base._STIXBase]) -> dict[str, Any]:
    return {"objects": [json.loads(o.serialize()) for o in objects]}


def add(collection: v21.Collection, envelope: dict[str, Any]) -> v21.Status:
    return collection.add_objects(envelope, wait_for_completion=True, poll_interval=0.2,
                                  timeout=120)


def assert_complete(status: v21.Status, ids: list[str], what: str) -> None:
    assert status.status == "complete", f"{what}: {status._raw}"
    assert status.total_count == len(ids), f"{what}: {status._raw}"
    assert status.success_count == len(ids) and status.failure_count == 0, f"{what}: {status._raw}"
    succeeded = {s["id"] for s in status.successes}
    assert succeeded == set(ids), f"{what}: successes {sorted(succeeded ^ set(ids))[:5]}"


def all_pages(func, per_request: int, **filters: Any) -> list[dict[str, Any]]:
    pages = list(v21.as_pages(func, per_request=per_request, **filters))
    return [item for page in pages for item in page.get("objects", [])]


# --------------------------------------------------------------------------------------
# The world: collections, and the accounts that use them
# --------------------------------------------------------------------------------------


class World:
    def __init__(self, misp: PyMISP) -> None:
        self.misp = misp
        me = misp.get_user(pythonify=True)
        assert isinstance(me, MISPUser), me
        self.admin = Account(me.email, KEY)
        self.mark = uuid.uuid4().hex[:10]
        self.collections: list[str] = []
        self.events: list[str] = []
        self.orgs: list[MISPOrganisation] = []
        self.users: list[MISPUser] = []
        # Read and write, no filter: everything its reader may see, and what they post.
        self.writable = self.add_collection(f"taxii interop rw {self.mark}", writable=True)

    def domain(self, label: str) -> str:
        return f"{label}-{self.mark}.taxii-interop.example"

    def add_collection(self, title: str, writable: bool = False,
                       filter: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"title": title, "description": "interop test",
                                "writable": writable}
        if filter is not None:
            body["filter"] = filter
        answer = self.misp.direct_call("taxii_collections/add", {"TaxiiCollection": body})
        assert isinstance(answer, dict) and "errors" not in answer, f"add collection: {answer!r}"
        collection_id = str(answer["TaxiiCollection"]["id"])
        uuid.UUID(collection_id)
        self.collections.append(collection_id)
        return collection_id

    def event(self, info: str, tags: list[str], domains: list[str], distribution: int = 0,
              misp: PyMISP | None = None) -> MISPEvent:
        """A published event with one IDS domain attribute per domain."""
        misp = misp or self.misp
        event = MISPEvent()
        event.info = f"{info} {self.mark}"
        event.distribution = distribution
        for tag in tags:
            event.add_tag(tag)
        for domain in domains:
            event.add_attribute("domain", domain, to_ids=True)
        created = misp.add_event(event, pythonify=True)
        assert isinstance(created, MISPEvent), f"add_event: {created!r}"
        self.events.append(created.uuid)
        published = misp.publish(created.id)
        assert published.get("success"), published
        return created

    def user_in_new_org(self, label: str) -> Account:
        org = MISPOrganisation()
        org.name = f"TAXII interop {label} {self.mark}"
        created_org = self.misp.add_organisation(org, pythonify=True)
        assert isinstance(created_org, MISPOrganisation), created_org
        self.orgs.append(created_org)
        user = MISPUser()
        user.email = f"taxii-{label}-{self.mark}@interop.test"
        user.org_id = created_org.id
        user.role_id = ROLE_USER
        created = self.misp.add_user(user, pythonify=True)
        assert isinstance(created, MISPUser) and created.authkey, created
        self.users.append(created)
        return Account(created.email, created.authkey)

    def tidy(self) -> None:
        for event_uuid in self.events:
            self.misp.delete_event(event_uuid)
        for collection_id in self.collections:
            self.misp.direct_call(f"taxii_collections/delete/{collection_id}", {})
        for user in self.users:
            self.misp.delete_user(user)
        for org in self.orgs:
            self.misp.delete_organisation(org)


@pytest.fixture(scope="module")
def world(misp: PyMISP):
    built = World(misp)
    yield built
    try:
        built.tidy()
    except Exception:  # the tests' results matter, not the clean-up's
        pass


# --------------------------------------------------------------------------------------
# Discovery, API root, collections
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["basic", "key-header"])
def test_discovery_lists_the_api_root(world: World, auth: str) -> None:
    credentials = world.admin.basic() if auth == "basic" else world.admin.key_header()
    server = v21.Server(DISCOVERY21, **credentials)
    assert server.title
    roots = [root.url for root in server.api_roots]
    assert ROOT21 in roots, roots
    assert server.default is not None and server.default.url == ROOT21

    response = world.admin.get(DISCOVERY21)
    assert response.status_code == 200 and media_type(response) == TAXII21, response.headers
    # The spec's URLs end with "/", clients that drop it still get an answer.
    assert world.admin.get(DISCOVERY21.rstrip("/")).status_code == 200


def test_api_root_information(world: World) -> None:
    root = v21.ApiRoot(ROOT21, **world.admin.basic())
    assert root.title
    assert TAXII21 in [v.replace(" ", "") for v in root.versions], root.versions
    assert isinstance(root.max_content_length, int) and root.max_content_length > 0


def test_collections_say_what_the_user_may_do(world: World) -> None:
    read_only = world.add_collection(f"taxii interop ro {world.mark}", writable=False,
                                     filter={"tags": [f"kizuna-taxii:{world.mark}-none"]})
    root = v21.ApiRoot(ROOT21, **world.admin.basic())
    by_id = {c.id: c for c in root.collections}
    assert world.writable in by_id and read_only in by_id, sorted(by_id)
    writable, readable = by_id[world.writable], by_id[read_only]
    assert writable.can_read and writable.can_write
    assert readable.can_read and not readable.can_write
    assert writable.title == f"taxii interop rw {world.mark}"
    assert STIX21 in [m.replace(" ", "") for m in writable.media_types], writable.media_types

    one = world.admin.collection(world.writable)
    one.refresh()
    assert one.id == world.writable and one.can_write


# --------------------------------------------------------------------------------------
# Adding objects and reading them back
# --------------------------------------------------------------------------------------


def test_add_objects_then_read_every_endpoint(world: World) -> None:
    collection = world.admin.collection(world.writable)
    indicators = [domain_indicator(world.domain(f"add{i}")) for i in range(5)]
    ids = [i.id for i in indicators]
    status = add(collection, envelope_of(indicators))
    assert_complete(status, ids, "add_objects")

    # The status resource is also at its own URL, with and without the trailing slash.
    again = v21.ApiRoot(ROOT21, **world.admin.basic()).get_status(status.id)
    assert again.id == status.id and again.success_count == len(ids), again._raw
    bare = world.admin.get(f"{ROOT21}status/{status.id}")
    assert bare.status_code == 200 and bare.json()["id"] == status.id, bare.text[:300]

    # Object by id: the version sent. (Its pattern, not every property: a write
    # collection keeps what it is sent as MISP events, and serves their STIX export.)
    wanted = indicators[0]
    envelope = collection.get_object(wanted.id)
    got = objects_of(envelope)
    assert [o["id"] for o in got] == [wanted.id], got
    assert got[0]["pattern"] == wanted.pattern, got[0]
    assert got[0]["modified"] == json.loads(wanted.serialize())["modified"], got[0]

    # Versions of it.
    versions = collection.object_versions(wanted.id)
    assert got[0]["modified"] in versions.get("versions", []), versions

    # Objects filtered by id (two of them) and type.
    envelope = collection.get_objects(id=ids[:2], type="indicator")
    assert sorted(o["id"] for o in objects_of(envelope)) == sorted(ids[:2])

    # Manifest records of the five.
    manifest = collection.get_manifest(id=ids, type="indicator")
    records = manifest.get("objects", [])
    assert sorted(r["id"] for r in records) == sorted(ids), records
    for record in records:
        assert record["media_type"].replace(" ", "") == STIX21, record
        assert record["date_added"] and record["version"], record

    # The raw page: media type and the date-added headers.
    response = world.admin.get(f"{collection.url}objects/", params={"match[id]": ",".join(ids)})
    assert response.status_code == 200 and media_type(response) == TAXII21
    first = response.headers.get("X-TAXII-Date-Added-First")
    last = response.headers.get("X-TAXII-Date-Added-Last")
    assert first and last and first <= last, response.headers


def test_added_after(world: World) -> None:
    collection = world.admin.collection(world.writable)
    early = [domain_indicator(world.domain(f"early{i}")) for i in range(3)]
    assert_complete(add(collection, envelope_of(early)), [i.id for i in early], "early")
    manifest = collection.get_manifest(id=[i.id for i in early])
    cut = max(r["date_added"] for r in manifest["objects"])

    late = [domain_indicator(world.domain(f"late{i}")) for i in range(3)]
    assert_complete(add(collection, envelope_of(late)), [i.id for i in late], "late")
    every = [i.id for i in early + late]

    after = objects_of(collection.get_objects(added_after=cut, id=every))
    assert sorted(o["id"] for o in after) == sorted(i.id for i in late), after
    records = collection.get_manifest(added_after=cut, id=every)["objects"]
    assert sorted(r["id"] for r in records) == sorted(i.id for i in late), records


def test_version_and_spec_version_filters(world: World) -> None:
    collection = world.admin.collection(world.writable)
    indicators = [domain_indicator(world.domain(f"versions{i}")) for i in range(3)]
    ids = [i.id for i in indicators]
    assert_complete(add(collection, envelope_of(indicators)), ids, "add")
    one = indicators[0]
    version = json.loads(one.serialize())["modified"]

    assert collection.object_versions(one.id)["versions"] == [version]
    for wanted in (version, "last", "first", "all", "first,last"):
        served = objects_of(collection.get_object(one.id, version=wanted))
        assert [o["modified"] for o in served] == [version], (wanted, served)
    never = collection.get_objects(id=one.id, version="2001-01-01T00:00:00.000Z")
    assert not never.get("objects"), never

    assert len(objects_of(collection.get_objects(id=ids, spec_version="2.1"))) == len(ids)
    assert not collection.get_objects(id=ids, spec_version="2.0").get("objects")


def test_a_newer_version_replaces_the_one_served(world: World) -> None:
    collection = world.admin.collection(world.writable)
    old = domain_indicator(world.domain("revised"))
    assert_complete(add(collection, envelope_of([old])), [old.id], "first version")
    newer = old.new_version(modified=old.modified + timedelta(seconds=30))
    assert_complete(add(collection, envelope_of([newer])), [newer.id], "new version")
    newer_version = json.loads(newer.serialize())["modified"]

    served = objects_of(collection.get_object(old.id))
    assert [o["modified"] for o in served] == [newer_version], served
    assert newer_version in collection.object_versions(old.id)["versions"]
    exact = objects_of(collection.get_object(old.id, version=newer_version))
    assert [o["modified"] for o in exact] == [newer_version]
    last = objects_of(collection.get_objects(id=old.id, version="last"))
    assert [o["modified"] for o in last] == [newer_version]


def test_delete_an_object(world: World) -> None:
    collection = world.admin.collection(world.writable)
    doomed = domain_indicator(world.domain("doomed"))
    assert_complete(add(collection, envelope_of([doomed])), [doomed.id], "add")
    collection.delete_object(doomed.id)
    with pytest.raises(requests.HTTPError) as caught:
        collection.get_object(doomed.id)
    assert http_status(caught.value) == 404
    assert_error_resource(world.admin.get(f"{collection.url}objects/{doomed.id}/"), 404,
                          "deleted object")


def test_stix2_sink_and_source(world: World) -> None:
    """python-stix2's TAXII data store over taxii2-client's v21 Collection."""
    collection = world.admin.collection(world.writable)
    sink = stix2.TAXIICollectionSink(collection)
    pushed = [domain_indicator(world.domain(f"sink{i}")) for i in range(3)]
    sink.add(pushed)

    source = stix2.TAXIICollectionSource(world.admin.collection(world.writable))
    for indicator in pushed:
        fetched = source.get(indicator.id)
        assert fetched is not None, indicator.id
        assert fetched.pattern == indicator.pattern
    found = source.query([stix2.Filter("type", "=", "indicator"),
                          stix2.Filter("id", "=", pushed[1].id)])
    assert [f.id for f in found] == [pushed[1].id]
    validate_objects(json.loads(f.serialize()) for f in found)


def test_paging_over_thousands_of_objects(world: World) -> None:
    """3,000 indicators in three envelopes of 1,000, then every object of the collection in
    pages of 500 following `next`: each posted indicator once, no object version twice,
    the manifest agreeing with the objects."""
    collection = world.admin.collection(world.writable)
    posted: list[str] = []
    when = an_hour_ago()
    for batch in range(3):
        indicators = [domain_indicator(world.domain(f"page{batch}-{i}"), when)
                      for i in range(1000)]
        assert_complete(add(collection, envelope_of(indicators)), [i.id for i in indicators],
                        f"envelope {batch}")
        posted += [i.id for i in indicators]

    pages = list(v21.as_pages(collection.get_objects, per_request=500))
    assert len(pages) >= 2, "a collection of thousands of objects came in one page"
    objects = [o for page in pages for o in page.get("objects", [])]
    assert all(page.get("more") for page in pages[:-1]) and not pages[-1].get("more")
    validate_objects(objects)
    ids = Counter(o["id"] for o in objects)
    missing = [i for i in posted if ids[i] == 0]
    assert not missing, f"{len(missing)} posted indicators never came back: {missing[:5]}"
    assert all(ids[i] == 1 for i in posted), "a posted indicator came back more than once"

    manifest = all_pages(collection.get_manifest, 500)
    assert {r["id"] for r in manifest} == set(ids), "the manifest and the objects differ"

    # Only the indicators, through python-stix2's reader (pages of 5,000 asked for).
    source = stix2.TAXIICollectionSource(world.admin.collection(world.writable))
    indicators = source.query([stix2.Filter("type", "=", "indicator")])
    assert set(posted) <= {i.id for i in indicators}

    # A collection holds each version of an object once, however many events share it.
    versions = Counter((o["id"], version_of(o)) for o in objects)
    twice = [key for key, n in versions.items() if n > 1]
    assert not twice, f"{len(twice)} object versions served more than once: {twice[:5]}"
    records = Counter((r["id"], r["version"]) for r in manifest)
    twice = [key for key, n in records.items() if n > 1]
    assert not twice, f"{len(twice)} manifest records listed more than once: {twice[:5]}"


# --------------------------------------------------------------------------------------
# Read collections are saved filters under the reader's visibility
# --------------------------------------------------------------------------------------


def indicator_ids(collection: v21.Collection) -> set[str]:
    objects = all_pages(collection.get_objects, 1000, type="indicator")
    validate_objects(objects)
    return {o["id"] for o in objects}


def test_read_collection_serves_only_what_its_filter_selects(world: World) -> None:
    tag = f"kizuna-taxii:{world.mark}-selected"
    selected = world.event("taxii selected", [tag, "tlp:clear"], [world.domain("selected")])
    other = world.event("taxii other", ["tlp:clear"], [world.domain("unselected")])
    collection_id = world.add_collection(f"taxii interop tag {world.mark}", filter={"tags": [tag]})
    collection = world.admin.collection(collection_id)
    assert collection.can_read and not collection.can_write

    served = indicator_ids(collection)
    assert f"indicator--{selected.attributes[0].uuid}" in served, served
    assert f"indicator--{other.attributes[0].uuid}" not in served

    objects = all_pages(collection.get_objects, 1000)
    validate_objects(objects)
    assert f"indicator--{other.attributes[0].uuid}" not in {o["id"] for o in objects}

    # No permission to write: taxii2-client refuses, and so does the server.
    with pytest.raises(AccessError):
        collection.add_objects(envelope_of([domain_indicator(world.domain("refused"))]))
    response = world.admin.post(f"{collection.url}objects/",
                                json.dumps(envelope_of([domain_indicator(world.domain("x"))])).encode())
    assert_error_resource(response, 403, "POST to a read-only collection")


def test_another_organisation_sees_only_what_it_may(world: World) -> None:
    tag = f"kizuna-taxii:{world.mark}-orgs"
    own = world.event("taxii org only", [tag], [world.domain("org-only")], distribution=0)
    shared = world.event("taxii all communities", [tag], [world.domain("shared")],
                         distribution=3)
    collection_id = world.add_collection(f"taxii interop orgs {world.mark}", filter={"tags": [tag]})
    outsider = world.user_in_new_org("outsider")

    mine = indicator_ids(world.admin.collection(collection_id))
    assert {f"indicator--{own.attributes[0].uuid}",
            f"indicator--{shared.attributes[0].uuid}"} <= mine, mine

    root = v21.ApiRoot(ROOT21, **outsider.basic())
    visible = {c.id: c for c in root.collections}
    assert collection_id in visible and visible[collection_id].can_read, sorted(visible)
    theirs = indicator_ids(outsider.collection(collection_id))
    assert f"indicator--{shared.attributes[0].uuid}" in theirs, theirs
    assert f"indicator--{own.attributes[0].uuid}" not in theirs

    # Nor by id.
    with pytest.raises(requests.HTTPError) as caught:
        outsider.collection(collection_id).get_object(f"indicator--{own.attributes[0].uuid}")
    assert http_status(caught.value) == 404


# --------------------------------------------------------------------------------------
# Bad input and refusals
# --------------------------------------------------------------------------------------


def test_bad_or_missing_credentials_are_401(world: World) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        v21.Server(DISCOVERY21, user=world.admin.email, password="0" * 40).refresh()
    assert http_status(caught.value) == 401

    # Discovery names nothing but the API root and is answered without credentials;
    # everything under the root wants them.
    response = requests.get(f"{ROOT21}collections/", headers={"Accept": TAXII21},
                            timeout=TIMEOUT)
    assert_error_resource(response, 401, "no credentials")
    assert "basic" in response.headers.get("WWW-Authenticate", "").lower(), response.headers
    response = requests.get(f"{ROOT21}collections/", headers={"Accept": TAXII21},
                            auth=(world.admin.email, "x" * 40), timeout=TIMEOUT)
    assert_error_resource(response, 401, "wrong key")
    # The key of one user with the e-mail of another is no login either.
    response = requests.get(f"{ROOT21}collections/", headers={"Accept": TAXII21},
                            auth=("nobody@interop.test", world.admin.key), timeout=TIMEOUT)
    assert_error_resource(response, 401, "key of another user")


def test_unknown_collection_object_and_status_are_404(world: World) -> None:
    missing = world.admin.collection(str(uuid.uuid4()))
    with pytest.raises(requests.HTTPError) as caught:
        missing.refresh()
    assert http_status(caught.value) == 404
    assert_error_resource(world.admin.get(missing.url), 404, "unknown collection")
    assert_error_resource(world.admin.get(f"{missing.url}objects/"), 404,
                          "objects of an unknown collection")

    collection = world.admin.collection(world.writable)
    with pytest.raises(requests.HTTPError) as caught:
        collection.get_object(f"indicator--{uuid.uuid4()}")
    assert http_status(caught.value) == 404
    assert_error_resource(world.admin.get(f"{ROOT21}status/{uuid.uuid4()}/"), 404,
                          "unknown status")


def test_wrong_media_types(world: World) -> None:
    collection_url = f"{ROOT21}collections/{world.writable}/"
    assert_error_resource(world.admin.get(collection_url, accept="application/json"), 406,
                          "Accept: application/json")
    assert_error_resource(world.admin.get(collection_url, accept=TAXII20), 406,
                          "Accept: TAXII 2.0 on the 2.1 root")
    body = json.dumps(envelope_of([domain_indicator(world.domain("mediatype"))])).encode()
    assert_error_resource(world.admin.post(f"{collection_url}objects/", body,
                                           content_type="application/json"), 415,
                          "Content-Type: application/json")


@pytest.mark.parametrize("body", [
    pytest.param(b"{not json", id="not-json"),
    pytest.param(b'{"objects": {"type": "indicator"}}', id="objects-not-a-list"),
    pytest.param(b'["indicator"]', id="not-an-object"),
])
def test_malformed_envelope(world: World, body: bytes) -> None:
    response = world.admin.post(f"{ROOT21}collections/{world.writable}/objects/", body)
    assert response.status_code in (400, 422), response.text[:300]
    assert_error_resource(response, response.status_code, "malformed envelope")


def test_partly_bad_envelope_keeps_the_valid_objects(world: World) -> None:
    collection = world.admin.collection(world.writable)
    good = [domain_indicator(world.domain(f"good{i}")) for i in range(2)]
    envelope = envelope_of(good)
    # An indicator without its required pattern, and one whose pattern is not STIX.
    no_pattern = {k: v for k, v in envelope["objects"][0].items()
                  if k not in ("pattern", "pattern_type")}
    no_pattern["id"] = f"indicator--{uuid.uuid4()}"
    broken = dict(envelope["objects"][1], id=f"indicator--{uuid.uuid4()}",
                  pattern="[domain-name:value = ")
    envelope["objects"] += [no_pattern, broken]

    status = add(collection, envelope)
    assert status.status == "complete", status._raw
    assert status.total_count == 4 and status.success_count == 2, status._raw
    assert status.failure_count == 2, status._raw
    assert {s["id"] for s in status.successes} == {g.id for g in good}, status._raw
    assert {f["id"] for f in status.failures} == {no_pattern["id"], broken["id"]}, status._raw

    served = objects_of(collection.get_objects(id=[g.id for g in good]))
    assert sorted(o["id"] for o in served) == sorted(g.id for g in good)


# --------------------------------------------------------------------------------------
# TAXII 2.0 root (legacy consumers)
# --------------------------------------------------------------------------------------


def test_taxii20_root_with_range_paging(world: World) -> None:
    tag = f"kizuna-taxii:{world.mark}-v20"
    event = world.event("taxii 2.0", [tag],
                        [world.domain(f"legacy{i}") for i in range(25)])
    collection_id = world.add_collection(f"taxii interop v20 {world.mark}", filter={"tags": [tag]})

    server = v20.Server(DISCOVERY20, **world.admin.basic())
    assert server.title
    assert ROOT20 in [root.url for root in server.api_roots]
    root = v20.ApiRoot(ROOT20, **world.admin.basic())
    assert collection_id in {c.id for c in root.collections}
    collection = v20.Collection(f"{ROOT20}collections/{collection_id}/", **world.admin.basic())
    assert collection.can_read

    response = world.admin.get(f"{collection.url}objects/", accept=STIX20,
                               headers={"Range": "items=0-9"})
    assert response.status_code in (200, 206), response.text[:300]
    assert media_type(response) == STIX20.replace(" ", ""), response.headers
    assert response.headers.get("Content-Range", "").startswith("items 0-"), response.headers
    assert response.json().get("type") == "bundle"

    bundles = list(v20.as_pages(collection.get_objects, per_request=10))
    assert len(bundles) >= 2, "25 indicators and their observables in one page of 10"
    objects = [o for bundle in bundles for o in bundle.get("objects", [])]
    assert all(bundle.get("type") == "bundle" for bundle in bundles)
    keys = Counter((o["id"], version_of(o)) for o in objects)
    assert not [k for k, n in keys.items() if n > 1], "an object served twice across ranges"
    expected = {f"indicator--{a.uuid}" for a in event.attributes}
    assert expected <= {o["id"] for o in objects}

    # The 2.1 media type is not spoken on the 2.0 root.
    wrong = world.admin.get(f"{ROOT20}collections/", accept=TAXII21)
    assert wrong.status_code == 406, wrong.text[:300]

    # STIX 2.0 objects (a 2.0 bundle names its spec version; its objects do not).
    for bundle in bundles:
        spec = "2.0" if bundle.get("spec_version") == "2.0" else "2.1"
        validate_objects(bundle.get("objects", []), spec=spec)
