"""A small conditions database built through ``conddb`` itself, for the CLI tests of issue 17.

Tags ``ly-a`` (since 100 -> A, 200 -> B) and ``ly-b`` (100 -> A, 150 -> B) differ for runs
150-199 only; ``nl-v1`` holds one typed ``energy_nonlinearity`` payload (arrays); ``ly-empty``
has no IOV.  Global tags: ``GT-A`` (light_yield -> ly-a, nonlinearity -> nl-v1), ``GT-B``
(light_yield -> ly-b), ``GT-E`` (light_yield -> ly-empty).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from conditions.payloads import examples
from tests.support.cli import run


@dataclass(frozen=True)
class Seeded:
    url: str
    a: str  # hash of {"y0": 1345.0}
    b: str  # hash of {"y0": 1350.0}
    nl: str  # hash of the typed energy_nonlinearity example
    nl_file: Path  # the JSON document it was put from


def seed(url: str, workdir: Path) -> Seeded:
    def put(type_name: str, doc: object, name: str) -> str:
        path = workdir / name
        path.write_text(json.dumps(doc))
        return run(url, "payload", "put", type_name, str(path)).stdout.strip()

    run(url, "db", "upgrade")  # registers the payload types
    a = put("json", {"y0": 1345.0}, "a.json")
    b = put("json", {"y0": 1350.0}, "b.json")
    nl = put(
        "energy_nonlinearity", examples.energy_nonlinearity().model_dump(mode="json"), "nl.json"
    )
    for tag, type_name, iovs in [
        ("ly-a", "json", [(100, a), (200, b)]),
        ("ly-b", "json", [(100, a), (150, b)]),
        ("nl-v1", "energy_nonlinearity", [(100, nl)]),
        ("ly-empty", "json", []),
    ]:
        run(url, "tag", "create", tag, "--type", type_name)
        for since, h in iovs:
            run(url, "iov", "add", tag, "--since", str(since), "--payload", h)
    for gt, records in [
        ("GT-A", {"light_yield": "ly-a", "nonlinearity": "nl-v1"}),
        ("GT-B", {"light_yield": "ly-b"}),
        ("GT-E", {"light_yield": "ly-empty"}),
    ]:
        run(url, "gt", "create", gt)
        for record, tag in records.items():
            run(url, "gt", "set", gt, record, tag)
    return Seeded(url, a, b, nl, workdir / "nl.json")
