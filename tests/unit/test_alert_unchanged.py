"""E-mail, SQS, Lambda and filter-policy subscribers get what they got before the chat message was added.

tests/unit/golden/alerts.json holds, for every case of tests/support/outcomes.py (each kind of sample notice, the
states an alert words differently, alerts too large for SNS that are summarized), the subject, the message
attributes (filter policies), the "email" text, the "sms" text and the "default" JSON document (what SQS, Lambda and
HTTP subscribers receive), as compose_alert wrote them before alerts carried a chat message (commit "Golden alerts:
the e-mail and JSON before chat"). Large alerts are kept as their SHA-256 and length.

SPOT_WRITE_SAMPLES=1 writes the file afresh instead of comparing (only for a deliberate change of the alert). The two
drain-unfinished entries were written again once, deliberately, when issue 21 made that alert a look's (what it
found, when it looked, what still fails: followups/looks.py); every other entry is as the old alert.py wrote it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from spot_handler.alerting.first_alert import compose_alert
from spot_handler.alerting.follow_up_alert import compose_follow_up_alert

from tests.support.outcomes import CASES, outcome, unfinished_look

GOLDEN = Path(__file__).parent / "golden" / "alerts.json"
KEPT_WHOLE_MAX = 8_000  # longer texts are kept as their digest


def _kept(text: str) -> str | dict:
    if len(text) <= KEPT_WHOLE_MAX:
        return text
    return {"sha256": hashlib.sha256(text.encode()).hexdigest(), "length": len(text)}


def _as_received(alert) -> dict:
    message = json.loads(alert.message)
    return {
        "subject": alert.subject,
        "attributes": alert.attributes,
        "email": _kept(message["email"]),
        "sms": message["sms"],
        "default": _kept(message["default"]),
    }


def current() -> dict[str, dict]:
    alerts = {name: _as_received(compose_alert(make(), "0")) for name, make in CASES.items()}
    for name, base in {"drain-unfinished": outcome(), "drain-unfinished:no-name": outcome(name_tag=None)}.items():
        look = unfinished_look(base)
        check = look.check
        looked_at = check.deadline.replace(microsecond=0) - (check.deadline - check.due) / 2
        alerts[name] = _as_received(compose_follow_up_alert(look, "0", looked_at))
    return alerts


@pytest.fixture(scope="module")
def now() -> dict[str, dict]:
    return current()


@pytest.fixture(scope="module")
def golden(now) -> dict[str, dict]:
    if os.environ.get("SPOT_WRITE_SAMPLES") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n")
    return json.loads(GOLDEN.read_text())


def test_every_case_is_in_the_golden_file(golden, now):
    assert sorted(golden) == sorted(now)


@pytest.mark.parametrize("part", ["subject", "attributes", "email", "sms", "default"])
def test_what_every_subscriber_but_https_receives_is_unchanged(golden, now, part):
    changed = [name for name in golden if now[name][part] != golden[name][part]]
    assert not changed, f"{part} differs from the golden alerts for: {changed}"
