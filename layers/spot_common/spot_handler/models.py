"""Typed notices and the facts the handler gathers about them.

Events become these objects at the edge (`parse_notice`); nothing past the edge digs in raw dicts.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
import reprlib
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
    if isinstance(event, (str, bytes, bytearray)):
        try:
            event = json.loads(event)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser's stack
            raise MalformedNotice(f"body: not JSON ({shown(exc)})") from None
    if not isinstance(event, dict):
        raise MalformedNotice(f"body: expected a JSON object, got {type(event).__name__}")
    problems: list[str] = []
    notice_id = _text(event.get("id"), "id", problems, max_length=128)
    if event.get("source") != "aws.ec2":
        problems.append(f"source: expected 'aws.ec2', got {shown(event.get('source'))}")
    detail_type = event.get("detail-type")
    kind = _DETAIL_TYPES.get(detail_type) if isinstance(detail_type, str) else None
    if kind is None:
        problems.append(f"detail-type: not a notice this handler supports: {shown(detail_type)}")
    noticed_at = _timestamp(event.get("time"), "time", problems)
    account = event.get("account", "unknown")
    if not (isinstance(account, str) and _ACCOUNT.fullmatch(account)):
        problems.append(f"account: expected 12 digits, got {shown(account)}")
    # Nothing the handler does needs account or region: a notice without them is still acted on.
    region = _text(event.get("region", "unknown"), "region", problems)

    detail = event.get("detail")
    instance_id = action = termination = None
    if not isinstance(detail, dict):
        problems.append(f"detail: expected an object, got {type(detail).__name__}")
    else:
        instance_id = detail.get("instance-id")
        # fullmatch: `$` alone would accept a trailing newline, and the id would name another instance.
        if not (isinstance(instance_id, str) and _INSTANCE_ID.fullmatch(instance_id)):
            problems.append(f"detail.instance-id: not an instance id: {shown(instance_id)}")
        action = detail.get("instance-action")
        if action is None and kind not in (None, NoticeKind.REBALANCE_RECOMMENDATION):
            problems.append("detail.instance-action is missing")
        elif action is not None and not (isinstance(action, str) and action in _ACTIONS):
            problems.append(f"detail.instance-action: expected one of {', '.join(_ACTIONS)}, got {shown(action)}")
        if detail.get("instance-termination-time") is not None:
            termination = _timestamp(detail["instance-termination-time"], "detail.instance-termination-time", problems)

    deadline = None
    if not problems and kind is not NoticeKind.REBALANCE_RECOMMENDATION:
        # Spot notices carry no termination time: the deadline is the notice's time + 120 s.
        try:
            deadline = termination or noticed_at + timedelta(seconds=SPOT_WARNING_SECONDS)
        except OverflowError:
            problems.append(f"time: no deadline can follow {noticed_at.isoformat()} (past the last date there is)")
    if problems:
        raise MalformedNotice("; ".join(problems[:3]))
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
_ACCOUNT = re.compile(r"[0-9]{12}|unknown")  # [0-9], not \d: \d takes any script's digits
_SHOWN = reprlib.Repr()  # attributes set one by one: keyword arguments need Python 3.12
_SHOWN.maxlevel, _SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlist, _SHOWN.maxdict = 2, 60, 60, 4, 4


def shown(value: Any) -> str:
    """A short, safe rendering of a value for a rejection reason: bounded in length and depth, never raising.

    reprlib rather than repr(): repr() of a body nested thousands of levels deep raises RecursionError, and of a large
    one costs its whole size. Control characters come out escaped.
    """
    try:
        return _SHOWN.repr(value)
    except Exception:  # noqa: BLE001 - a reason must be produced whatever the value is
        return f"<{type(value).__name__}>"


def _text(value: Any, where: str, problems: list[str], max_length: int = 256) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        problems.append(f"{where}: expected text of 1 to {max_length} characters, got {shown(value)}")
        return ""
    return value


def _timestamp(value: Any, where: str, problems: list[str]) -> datetime:
    """An ISO 8601 time as EventBridge writes it (2026-11-26T10:00:00Z), in UTC; a time without a zone is UTC.

    Converted to UTC here, once: a time at the edge of what datetime holds (year 1 with a positive offset, year 9999
    with a negative one) cannot be converted, and is rejected here rather than failing the alert later.
    """
    if not isinstance(value, str):
        problems.append(f"{where}: expected an ISO 8601 time as text, got {shown(value)}")
        return _EPOCH
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        problems.append(f"{where}: not a time this handler can use: {shown(value)} ({exc})")
        return _EPOCH


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def canonical_ip(text: str) -> str:
    """One spelling per address: IPv6 has many (2001:db8::1 is 2001:0DB8:0:0:0:0:0:1); anything else is kept as is."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


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
    vpc_id: str | None = None
    ipv6_addresses: tuple[str, ...] = ()

    @property
    def addresses(self) -> frozenset[str]:
        """Every address an ip target group may know this instance by, in one canonical text form."""
        return frozenset(canonical_ip(ip) for ip in (*self.private_ips, *self.ipv6_addresses))

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
