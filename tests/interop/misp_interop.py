"""Helpers for the PyMISP interop suite (tests/interop/test_pymisp_l1_l2.py).

Nothing here talks to the server: finding and cleaning the real MISP event files, and
comparing what was sent with what came back.
"""

from __future__ import annotations

import copy
import json
import os
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from pymisp import MISPAttribute, MISPEvent, MISPObject

HERE = Path(__file__).resolve().parent
REPO = Path(os.environ.get("KIZUNA_REPO") or HERE.parent.parent).resolve()


# --------------------------------------------------------------------------------------
# Where the real MISP events are
# --------------------------------------------------------------------------------------


def _has_json(d: Path) -> bool:
    return d.is_dir() and any(p for p in d.rglob("*.json") if "fragments" not in p.parts)


def misp_events_dir() -> Path | None:
    """The folder of real MISP event files.

    crates/model/tests/data/misp-events/ in the repository (copies with their attribution);
    KIZUNA_MISP_EVENTS_DIR overrides it.
    """
    candidates = []
    if os.environ.get("KIZUNA_MISP_EVENTS_DIR"):
        candidates.append(Path(os.environ["KIZUNA_MISP_EVENTS_DIR"]))
    candidates += [
        REPO / "crates" / "model" / "tests" / "data" / "misp-events",
    ]
    for c in candidates:
        if _has_json(c):
            return c
    return None


def misp_event_files() -> list[Path]:
    """Every JSON event file under the events folder, skipping any `fragments` folder."""
    root = misp_events_dir()
    if root is None:
        return []
    return sorted(
        p for p in root.rglob("*.json") if "fragments" not in p.relative_to(root).parts
    )


def load_event_dict(path: Path) -> dict[str, Any]:
    """The event object of a file, whatever its shape.

    Files come as {"Event": {...}}, {"response": [{"Event": {...}}]} or a bare {...}.
    """
    with path.open("rb") as f:
        data = json.load(f)
    if isinstance(data, dict) and isinstance(data.get("response"), list):
        data = data["response"][0]
    if isinstance(data, dict) and "Event" in data and isinstance(data["Event"], dict):
        data = data["Event"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a MISP event")
    return data


# --------------------------------------------------------------------------------------
# Dropping what belongs to the instance the event was exported from
# --------------------------------------------------------------------------------------

# Event keys that are local to the exporting instance: numeric ids, owner/creator org
# stubs (the importing instance sets Org/Orgc from the API user), counters, sync/lock
# state, publishing state, proposals, correlations, galaxies and signing keys.
_EVENT_DROP = (
    "id", "org_id", "orgc_id", "Org", "Orgc", "sharing_group_id", "SharingGroup",
    "attribute_count", "event_creator_email", "locked", "proposal_email_lock",
    "publish_timestamp", "sighting_timestamp", "ShadowAttribute", "RelatedEvent",
    "Galaxy", "protected", "CryptographicKey", "user_id",
)
_ATTRIBUTE_DROP = (
    "id", "event_id", "object_id", "sharing_group_id", "SharingGroup", "ShadowAttribute",
    "Sighting", "Galaxy", "RelatedAttribute", "Event", "Object", "AttributeTag",
)
_OBJECT_DROP = ("id", "event_id", "sharing_group_id", "SharingGroup", "Event")
_REFERENCE_DROP = ("id", "event_id", "object_id", "referenced_id", "referenced_type",
                   "Object", "Attribute")
_REPORT_DROP = ("id", "event_id", "sharing_group_id", "SharingGroup")
_TAG_DROP = ("id",)


def _no_sharing_group(d: dict[str, Any]) -> None:
    # Sharing groups are instance-local: distribution 4 becomes 0 (your organisation only).
    if str(d.get("distribution")) == "4":
        d["distribution"] = "0"


def _drop(d: dict[str, Any], keys: tuple[str, ...]) -> None:
    for k in keys:
        d.pop(k, None)


def _clean_tags(owner: dict[str, Any]) -> None:
    for t in owner.get("Tag") or []:
        _drop(t, _TAG_DROP)


def _clean_attribute(a: dict[str, Any]) -> None:
    _drop(a, _ATTRIBUTE_DROP)
    _no_sharing_group(a)
    _clean_tags(a)


def strip_server_side(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of an exported event with the exporting instance's ids and state removed."""
    ev = copy.deepcopy(raw)
    _drop(ev, _EVENT_DROP)
    _no_sharing_group(ev)
    _clean_tags(ev)
    for a in ev.get("Attribute") or []:
        _clean_attribute(a)
    for o in ev.get("Object") or []:
        _drop(o, _OBJECT_DROP)
        _no_sharing_group(o)
        for a in o.get("Attribute") or []:
            _clean_attribute(a)
        for r in o.get("ObjectReference") or []:
            _drop(r, _REFERENCE_DROP)
    for r in ev.get("EventReport") or []:
        _drop(r, _REPORT_DROP)
        _no_sharing_group(r)
    return ev


# --------------------------------------------------------------------------------------
# Comparing what was sent with what came back
# --------------------------------------------------------------------------------------


_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def _expected(x: Any) -> bool:
    """Whether MISP would store this attribute/object of an imported event.

    MISP drops soft-deleted entries from the default view, and drops (with a logged
    validation error, keeping the rest of the event) any object or attribute whose uuid is
    not a valid UUID (MispObject/MispAttribute validation, Event::_add).
    """
    return not _is_deleted(x) and bool(_UUID_RE.match(str(getattr(x, "uuid", ""))))


def invalid_uuid_fields(event: Any) -> list[str]:
    """Error keys Kizuna reports for objects and attributes of `event` whose uuid is not a
    UUID, e.g. `Object.0.uuid` or `Attribute.3.uuid`."""
    fields = []
    for index, attribute in enumerate(event.attributes):
        if not _UUID_RE.match(str(getattr(attribute, "uuid", ""))):
            fields.append(f"Attribute.{index}.uuid")
    for index, obj in enumerate(event.objects):
        if not _UUID_RE.match(str(getattr(obj, "uuid", ""))):
            fields.append(f"Object.{index}.uuid")
        for attr_index, attribute in enumerate(obj.attributes):
            if not _UUID_RE.match(str(getattr(attribute, "uuid", ""))):
                fields.append(f"Object.{index}.Attribute.{attr_index}.uuid")
    return fields


def _is_deleted(x: Any) -> bool:
    return bool(getattr(x, "deleted", False)) and str(getattr(x, "deleted")) not in ("0", "False")


def _norm(v: Any) -> Any:
    """Comparable form of a field value (PyMISP gives datetimes for `datetime` values)."""
    if isinstance(v, datetime):
        # MISP reads a `datetime` value without offset as GMT and stores it with one
        # (AttributeValidationTool::modifyBeforeValidation), so naive means UTC.
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
    if isinstance(v, date):
        return v
    if v is None:
        return None
    return str(v)


def _tag_names(x: Any) -> set[str]:
    return {t.name for t in (getattr(x, "tags", None) or [])}


def _seen(x: Any, field: str) -> datetime | None:
    return getattr(x, field, None)


def _compare_attribute(where: str, s: MISPAttribute, g: MISPAttribute, diffs: list[str]) -> None:
    def check(field: str, sv: Any, gv: Any) -> None:
        if sv != gv:
            diffs.append(f"{where} {field}: sent {sv!r} != got {gv!r}")

    check("type", s.type, g.type)
    check("category", s.category, g.category)
    # Values of these files were stored by real MISP, so MISP's normalisation is a no-op
    # on them: they must come back byte for byte.
    check("value", _norm(s.value), _norm(g.value))
    check("to_ids", bool(s.to_ids), bool(g.to_ids))
    check("comment", getattr(s, "comment", "") or "", getattr(g, "comment", "") or "")
    check("first_seen", _seen(s, "first_seen"), _seen(g, "first_seen"))
    check("last_seen", _seen(s, "last_seen"), _seen(g, "last_seen"))
    check("tags", sorted(_tag_names(s)), sorted(_tag_names(g)))
    if hasattr(s, "object_relation") and getattr(s, "object_relation", None):
        check("object_relation", s.object_relation, getattr(g, "object_relation", None))


def compare_events(sent: MISPEvent, got: MISPEvent) -> list[str]:
    """Field-by-field differences between the event sent and the event read back.

    Soft-deleted attributes/objects of the source are not expected back (events/view
    hides deleted entries by default), nor are those MISP would drop (see _expected).
    """
    diffs: list[str] = []

    def check(field: str, sv: Any, gv: Any) -> None:
        if sv != gv:
            diffs.append(f"event {field}: sent {sv!r} != got {gv!r}")

    check("uuid", sent.uuid, got.uuid)
    check("info", sent.info, got.info)
    if hasattr(sent, "date"):
        check("date", sent.date, getattr(got, "date", None))
    if hasattr(sent, "threat_level_id"):
        check("threat_level_id", int(sent.threat_level_id), int(getattr(got, "threat_level_id", -1)))
    if hasattr(sent, "analysis"):
        check("analysis", int(sent.analysis), int(getattr(got, "analysis", -1)))
    check("tags", sorted(_tag_names(sent)), sorted(_tag_names(got)))

    # Top-level attributes: same set of uuids, and each one equal.
    s_attrs = {a.uuid: a for a in sent.attributes if _expected(a)}
    g_attrs = {a.uuid: a for a in got.attributes}
    for u in sorted(set(s_attrs) - set(g_attrs)):
        diffs.append(f"attribute {u} ({s_attrs[u].type} {s_attrs[u].value!r}) missing from the event")
    for u in sorted(set(g_attrs) - set(s_attrs)):
        diffs.append(f"attribute {u} ({g_attrs[u].type} {g_attrs[u].value!r}) unexpected at the top level")
    for u in sorted(set(s_attrs) & set(g_attrs)):
        _compare_attribute(f"attribute {u} ({s_attrs[u].type})", s_attrs[u], g_attrs[u], diffs)

    # Objects.
    s_objs = {o.uuid: o for o in sent.objects if _expected(o)}
    g_objs = {o.uuid: o for o in got.objects}
    for u in sorted(set(s_objs) - set(g_objs)):
        diffs.append(f"object {u} ({s_objs[u].name}) missing from the event")
    for u in sorted(set(g_objs) - set(s_objs)):
        diffs.append(f"object {u} ({g_objs[u].name}) unexpected")
    # Every uuid an object reference may point to, as MISP resolves them within the event.
    in_event = set(s_attrs) | set(s_objs) | {
        a.uuid for o in s_objs.values() for a in o.attributes if _expected(a)
    }
    for u in sorted(set(s_objs) & set(g_objs)):
        _compare_object(u, s_objs[u], g_objs[u], in_event, diffs)
    return diffs


def _compare_object(u: str, s: MISPObject, g: MISPObject, in_event: set[str], diffs: list[str]) -> None:
    where = f"object {u} ({s.name})"

    def check(field: str, sv: Any, gv: Any) -> None:
        if sv != gv:
            diffs.append(f"{where} {field}: sent {sv!r} != got {gv!r}")

    check("name", s.name, g.name)
    check("template_uuid", getattr(s, "template_uuid", None), getattr(g, "template_uuid", None))
    check("template_version", _norm(getattr(s, "template_version", None)),
          _norm(getattr(g, "template_version", None)))
    check("meta-category", getattr(s, "meta-category", None), getattr(g, "meta-category", None))

    s_attrs = {a.uuid: a for a in s.attributes if _expected(a)}
    g_attrs = {a.uuid: a for a in g.attributes}
    for au in sorted(set(s_attrs) - set(g_attrs)):
        diffs.append(f"{where} attribute {au} ({s_attrs[au].object_relation}) missing")
    for au in sorted(set(g_attrs) - set(s_attrs)):
        diffs.append(f"{where} attribute {au} ({getattr(g_attrs[au], 'object_relation', None)}) unexpected")
    for au in sorted(set(s_attrs) & set(g_attrs)):
        _compare_attribute(f"{where} attribute {au} ({s_attrs[au].type})", s_attrs[au], g_attrs[au], diffs)

    # MISP keeps a reference only when its target (attribute or object) is in the same
    # event (ObjectReference::captureReference); deleted references are hidden by default.
    s_refs = sorted(
        (r.referenced_uuid, r.relationship_type)
        for r in s.references
        if not _is_deleted(r) and r.referenced_uuid in in_event
    )
    g_refs = sorted((r.referenced_uuid, r.relationship_type) for r in g.references)
    check("references (referenced_uuid, relationship_type)", s_refs, g_refs)


def format_diffs(diffs: list[str], limit: int = 60) -> str:
    shown = diffs[:limit]
    more = f"\n  ... and {len(diffs) - limit} more" if len(diffs) > limit else ""
    return "\n  " + "\n  ".join(shown) + more
