"""Reads what Powertools Metrics prints: embedded metric format (EMF) lines, one JSON object each."""

from __future__ import annotations

import json


def emf_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]


def emitted_metrics(output: str) -> dict[str, object]:
    """{name: value} of every metric the output's EMF lines carry (a list of values summed)."""
    found: dict[str, object] = {}
    for document in emf_lines(output):
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[definition["Name"]]
            found[definition["Name"]] = sum(value) if isinstance(value, list) else value
    return found


def interruptions(output: str) -> tuple[list[dict], float]:
    """({dimension: value} of each pool's `Interruptions` line, each of value 1; the fleet's `Interruptions`)."""
    pools, fleet = [], 0.0
    for line in emf_lines(output):
        for definition in line["_aws"]["CloudWatchMetrics"]:
            if "Interruptions" not in [m["Name"] for m in definition["Metrics"]]:
                continue
            [dimensions] = definition["Dimensions"]
            if dimensions == ["service"]:
                fleet += sum(line["Interruptions"])
            else:
                assert line["Interruptions"] == [1.0]
                pools.append({name: line[name] for name in dimensions})
    return pools, fleet
