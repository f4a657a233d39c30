"""Typed notices and the facts the handler gathers about them.

Events become these objects at the edge (`parse_notice`); nothing past the edge digs in raw dicts.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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


class _Detail(BaseModel):
    # Real notices carry fields the documentation does not show: keep them, never fail on them.
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    instance_id: str = Field(alias="instance-id", pattern=INSTANCE_ID_PATTERN)
    instance_action: Literal["terminate", "stop", "hibernate"] | None = Field(default=None, alias="instance-action")
    instance_termination_time: datetime | None = Field(default=None, alias="instance-termination-time")


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(min_length=1, max_length=128)
    source: Literal["aws.ec2"]
    detail_type: NoticeKind = Field(alias="detail-type")
    # Nothing the handler does needs account or region: a notice without them is still acted on.
    account: str = Field(default="unknown", pattern=r"^(\d{12}|unknown)$")
    time: datetime
    region: str = Field(default="unknown", min_length=1)
    detail: _Detail


@dataclass(frozen=True)
class InterruptionNotice:
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
    """Turn an EventBridge event (dict or JSON text) into a notice, or raise MalformedNotice with the reason."""
    if isinstance(event, (str, bytes)):
        try:
            event = json.loads(event)
        except ValueError as exc:
            raise MalformedNotice(f"body is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise MalformedNotice(f"expected a JSON object, got {type(event).__name__}")
    try:
        envelope = _Envelope.model_validate(event)
    except ValidationError as exc:
        raise MalformedNotice(_describe(exc)) from None
    detail = envelope.detail
    kind = envelope.detail_type
    if kind is not NoticeKind.REBALANCE_RECOMMENDATION and detail.instance_action is None:
        raise MalformedNotice("detail.instance-action is missing")
    deadline = None
    if kind is not NoticeKind.REBALANCE_RECOMMENDATION:
        # Spot notices carry no termination time: the deadline is the notice's time + 120 s.
        deadline = detail.instance_termination_time or envelope.time + timedelta(seconds=SPOT_WARNING_SECONDS)
    return InterruptionNotice(
        notice_id=envelope.id,
        kind=kind,
        instance_id=detail.instance_id,
        action=detail.instance_action,
        noticed_at=envelope.time,
        deadline=deadline,
        region=envelope.region,
        account=envelope.account,
    )


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "event"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


# ---- facts gathered about instances and what was done ----------------------------------------------------------


@dataclass(frozen=True)
class InstanceFacts:
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
