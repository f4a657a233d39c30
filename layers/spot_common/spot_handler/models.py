"""Typed notices and the facts the handler gathers about them.

Events become these objects at the edge (`parse_notice`); nothing past the edge digs in raw dicts.
"""

from __future__ import annotations

import enum
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

SPOT_WARNING_SECONDS = 120
INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8}([0-9a-f]{9})?$"


class NoticeKind(str, enum.Enum):
    """The EventBridge detail-types the handler acts on."""

    SPOT_INTERRUPTION = "EC2 Spot Instance Interruption Warning"
    REBALANCE_RECOMMENDATION = "EC2 Instance Rebalance Recommendation"
    CAPACITY_RESERVATION_INTERRUPTION = "EC2 Capacity Reservation Instance Interruption Warning"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    NoticeKind.SPOT_INTERRUPTION: "Spot interruption",
    NoticeKind.REBALANCE_RECOMMENDATION: "Rebalance recommendation",
    NoticeKind.CAPACITY_RESERVATION_INTERRUPTION: "Capacity Reservation interruption",
}


class MalformedNotice(ValueError):
    """A record that is not a notice this handler supports. `reason` says why, for the DLQ."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class InterruptionNotice(NamedTuple):
    """One EC2 notice about one instance, with the deadline everything is ordered by."""

    notice_id: str
    kind: NoticeKind
    instance_id: str
    action: str | None
    noticed_at: datetime
    deadline: datetime | None
    region: str
    account: str

    @property
    def interruption_key(self) -> str:
        """Same for every notice of one interruption: EventBridge re-sends (same id) and EC2 re-notices (new id)."""
        return f"{self.instance_id}#{self.kind.value}"

    @property
    def is_interruption(self) -> bool:
        return self.kind is not NoticeKind.REBALANCE_RECOMMENDATION

    @property
    def action_label(self) -> str:
        if self.kind is NoticeKind.REBALANCE_RECOMMENDATION:
            return "rebalance recommended (no interruption yet)"
        return {"terminate": "terminate", "stop": "stop", "hibernate": "hibernate"}.get(self.action or "", "terminate")


def parse_notice(event: Any) -> InterruptionNotice:
    """Turn an EventBridge event (dict or JSON text) into a notice, or raise MalformedNotice with the reason.

    Only what the handler uses is checked; any other field, documented or not, is accepted and ignored.
    """
    if isinstance(event, (str, bytes)):
        try:
            event = json.loads(event)
        except ValueError as exc:
            raise MalformedNotice(f"body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise MalformedNotice(f"expected a JSON object, got {type(event).__name__}")
    problems: list[str] = []
    notice_id = _text(event.get("id"), "id", problems, max_length=128)
    if event.get("source") != "aws.ec2":
        problems.append(f"source: expected 'aws.ec2', got {event.get('source')!r}")
    kind = _DETAIL_TYPES.get(event.get("detail-type"))  # type: ignore[arg-type]
    if kind is None:
        problems.append(f"detail-type: not a notice this handler supports: {event.get('detail-type')!r}")
    noticed_at = _timestamp(event.get("time"), "time", problems)
    account = event.get("account", "unknown")
    if not (isinstance(account, str) and _ACCOUNT.match(account)):
        problems.append(f"account: expected 12 digits, got {account!r}")
    # Nothing the handler does needs account or region: a notice without them is still acted on.
    region = _text(event.get("region", "unknown"), "region", problems)

    detail = event.get("detail")
    instance_id = action = termination = None
    if not isinstance(detail, dict):
        problems.append(f"detail: expected an object, got {type(detail).__name__}")
    else:
        instance_id = detail.get("instance-id")
        if not (isinstance(instance_id, str) and _INSTANCE_ID.match(instance_id)):
            problems.append(f"detail.instance-id: not an instance id: {instance_id!r}")
        action = detail.get("instance-action")
        if action is None and kind not in (None, NoticeKind.REBALANCE_RECOMMENDATION):
            problems.append("detail.instance-action is missing")
        elif action is not None and action not in _ACTIONS:
            problems.append(f"detail.instance-action: expected one of {', '.join(_ACTIONS)}, got {action!r}")
        if detail.get("instance-termination-time") is not None:
            termination = _timestamp(detail["instance-termination-time"], "detail.instance-termination-time", problems)
    if problems:
        raise MalformedNotice("; ".join(problems[:3]))

    deadline = None
    if kind is not NoticeKind.REBALANCE_RECOMMENDATION:
        # Spot notices carry no termination time: the deadline is the notice's time + 120 s.
        deadline = termination or noticed_at + timedelta(seconds=SPOT_WARNING_SECONDS)
    return InterruptionNotice(
        notice_id=notice_id,
        kind=kind,
        instance_id=instance_id,
        action=action,
        noticed_at=noticed_at,
        deadline=deadline,
        region=region,
        account=account,
    )


_DETAIL_TYPES = {kind.value: kind for kind in NoticeKind}
_ACTIONS = ("terminate", "stop", "hibernate")
_INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
_ACCOUNT = re.compile(r"^(\d{12}|unknown)$")


def _text(value: Any, where: str, problems: list[str], max_length: int = 256) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        problems.append(f"{where}: expected text of 1 to {max_length} characters, got {value!r:.80}")
        return ""
    return value


def _timestamp(value: Any, where: str, problems: list[str]) -> datetime:
    """An ISO 8601 time as EventBridge writes it (2026-11-26T10:00:00Z); a time without a zone is UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        problems.append(f"{where}: expected an ISO 8601 time, got {value!r:.80}")
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ---- facts gathered about instances and what was done ----------------------------------------------------------


class InstanceFacts(NamedTuple):
    """What DescribeInstances tells about one instance."""

    instance_id: str
    state: str
    instance_type: str
    availability_zone: str
    private_ips: tuple[str, ...]
    tags: dict[str, str]
    lifecycle: str = "on-demand"

    @property
    def name(self) -> str | None:
        return self.tags.get("Name")

    @property
    def auto_scaling_group(self) -> str | None:
        return self.tags.get("aws:autoscaling:groupName")


@dataclass
class TargetGroupDrain:
    """Outcome of draining one instance from one target group."""

    target_group_arn: str
    target_type: str | None = None
    deregistered: list[str] = field(default_factory=list)  # "id:port" of each removed registration
    not_registered: bool = False
    delay_lowered_from: int | None = None
    delay_seconds: int | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        # arn:aws:elasticloadbalancing:region:acct:targetgroup/NAME/ID
        parts = self.target_group_arn.split("/")
        return parts[1] if len(parts) >= 3 else self.target_group_arn

    @property
    def ok(self) -> bool:
        return self.error is None
