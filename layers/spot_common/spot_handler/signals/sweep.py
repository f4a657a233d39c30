"""The reconciliation sweep's schedule: the scheduled event of the stack's `<stack>-reconcile` rule (template.yaml),
delivered to the function as EventBridge sends it (`source` aws.events, `detail-type` "Scheduled Event", the rule in
`resources`). Not a notice about one instance: it starts a sweep of every account the handler serves (sweep/).

The interruptions a sweep finds are notices of their own kind (MISSED): no signal reached the handler for them.
"""

from __future__ import annotations

from typing import Any

from spot_handler.models import NoticeKind

SOURCE = "aws.events"
DETAIL_TYPE = "Scheduled Event"
RULE_SUFFIX = "-reconcile"  # the schedule rule's name: <stack>-reconcile
# An interruption only the sweep found: its deadline is when it was found (long past, for all the handler knows).
MISSED = NoticeKind(
    "Missed Spot interruption", "spot-interruption-handler", "Missed Spot interruption", warning_seconds=0
)


def is_sweep(event: Any) -> bool:
    """Whether a bare event is the sweep's schedule."""
    if not isinstance(event, dict) or event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        return False
    resources = event.get("resources")
    return isinstance(resources, list) and any(isinstance(r, str) and r.endswith(RULE_SUFFIX) for r in resources)
