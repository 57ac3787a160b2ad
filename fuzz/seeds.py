#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into DIR/{request,prefetch,feedback} from the fixtures.

request: every request in fixtures/requests and fixtures/cases; prefetch: every distinct prefetch value
those requests hold; feedback: feedback bodies for the cards of the service's shapes (accepted with a
suggestion, overridden with a reason, several items, one invalid). The corpora are made at each run and
never committed: the fixtures are the source.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def requests():
    yield from sorted((ROOT / "fixtures" / "requests").glob("*.json"))
    yield from sorted((ROOT / "fixtures" / "cases").glob("*/request.json"))
    yield from sorted((ROOT / "fixtures" / "real-cases").glob("*/request.json"))


def feedback_bodies():
    card = "8f4a2c1e-3b5d-4e6f-9a7b-1c2d3e4f5a6b"
    accepted = {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "0b6c4f1e-2a3d-4b5c-8d7e-9f0a1b2c3d4e"}],
        "outcomeTimestamp": "2026-11-24T10:15:00Z",
    }
    overridden = {
        "card": card,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {"system": "https://dvt-cds.example/override", "code": "patient-preference", "display": "Patient preference"},
            "userComment": "discussed with the patient",
        },
        "outcomeTimestamp": "2026-11-24T10:15:00Z",
    }
    yield {"feedback": [accepted]}
    yield {"feedback": [overridden]}
    yield {"feedback": [accepted, overridden, {"card": "not-a-uuid", "outcome": "maybe"}]}


def main():
    out = pathlib.Path(sys.argv[1])
    for target in ("request", "prefetch", "feedback"):
        (out / target).mkdir(parents=True, exist_ok=True)
    values = set()
    for number, path in enumerate(requests()):
        text = path.read_text()
        (out / "request" / f"{number:04}.json").write_text(text)
        for value in (json.loads(text).get("prefetch") or {}).values():
            values.add(json.dumps(value, separators=(",", ":"), sort_keys=True))
    for number, value in enumerate(sorted(values)):
        (out / "prefetch" / f"{number:04}.json").write_text(value)
    for number, body in enumerate(feedback_bodies()):
        (out / "feedback" / f"{number:04}.json").write_text(json.dumps(body))


if __name__ == "__main__":
    main()
