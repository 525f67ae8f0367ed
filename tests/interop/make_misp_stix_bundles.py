#!/usr/bin/env python3
"""Writes the STIX 2.1 bundles misp-stix makes of the real ESET events in
crates/formats/tests/data/stix-in/misp-stix-eset/ (<name>.misp.json -> <name>.stix21.json).

The Rust test crates/formats/tests/it/stix_import.rs imports these bundles and checks that
Kizuna gets back the events' attributes and objects. The bundles are committed so that the
test needs neither Python nor misp-stix; run this again only when the pinned misp-stix
changes (tests/interop/requirements.txt), with the interop venv:

    target/interop-venv/bin/python tests/interop/make_misp_stix_bundles.py

misp-stix's output for these events is deterministic (ids come from the MISP uuids and
timestamps), so a second run leaves the files unchanged.
"""

import json
import pathlib
import sys
from importlib.metadata import version

from misp_stix_converter import MISPtoSTIX21Parser

PINNED_MISP_STIX = "2026.10.12"
DATA = pathlib.Path(__file__).resolve().parents[2] / "crates/formats/tests/data/stix-in/misp-stix-eset"


def the_event(content):
    """The event of a MISP JSON file, whichever of MISP's envelopes it comes in."""
    if "response" in content:
        return content["response"][0]["Event"]
    return content.get("Event", content)


def main():
    installed = version("misp-stix")
    if installed != PINNED_MISP_STIX:
        sys.exit(f"misp-stix {installed} is installed; these bundles are made with {PINNED_MISP_STIX}")
    sources = sorted(DATA.glob("*.misp.json"))
    if not sources:
        sys.exit(f"no <name>.misp.json event in {DATA}")
    for source in sources:
        event = the_event(json.loads(source.read_text(encoding="utf-8")))
        parser = MISPtoSTIX21Parser()
        parser.parse_misp_event({"Event": event})
        target = source.with_name(source.name.replace(".misp.json", ".stix21.json"))
        target.write_text(parser.bundle.serialize(pretty=True) + "\n", encoding="utf-8")
        print(f"{target.relative_to(DATA.parents[5])}: {len(parser.bundle.objects)} objects")


if __name__ == "__main__":
    main()
