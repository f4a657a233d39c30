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
    LIFECYCLE_TERMINATE = "EC2 Instance-terminate Lifecycle Action"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @property
    def source(self) -> str:
        return "aws.autoscaling" if self is NoticeKind.LIFECYCLE_TERMINATE else "aws.ec2"

    @property
    def incident(self) -> str:
        """What a notice of this kind is part of: every interruption-class signal for an instance (Spot warning,
        Capacity Reservation warning, terminate lifecycle action) is one interruption; a rebalance recommendation is
        advice."""
        return self.value if self is NoticeKind.REBALANCE_RECOMMENDATION else "interruption"


_KIND_LABELS = {
    NoticeKind.SPOT_INTERRUPTION: "Spot interruption",
    NoticeKind.REBALANCE_RECOMMENDATION: "Rebalance recommendation",
    NoticeKind.CAPACITY_RESERVATION_INTERRUPTION: "Capacity Reservation interruption",
    NoticeKind.LIFECYCLE_TERMINATE: "Auto Scaling termination",
}


class LifecycleAction(NamedTuple):
    """The terminate lifecycle action an Auto Scaling notice asks the handler to complete."""

    token: str
    group_name: str
    hook_name: str
    origin: str | None = None  # AutoScalingGroup, WarmPool, ...: where the instance comes from
    destination: str | None = None  # EC2 (terminated) or WarmPool (kept, stopped): where it goes

    @property
    def where_to(self) -> str:
        if self.destination == "WarmPool":
            return "back to the group's warm pool"
        return "terminated"


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
    lifecycle: LifecycleAction | None = None  # terminate lifecycle actions only
    # The SQS messages that brought it: every copy of this signal in the batch (invocation.py); its claim is held
    # by one of them, and a claim held by any of them is this batch's own (aws/claims.py).
    deliveries: tuple[str, ...] = ()

    @property
    def incident(self) -> str:
        """What this notice is part of (NoticeKind.incident)."""
        return self.kind.incident

    @property
    def interruption_key(self) -> str:
        """Same for every notice of one interruption: EventBridge re-sends (same id), EC2 re-notices (new id), and
        the other signals of the same interruption (a Spot warning and its lifecycle action)."""
        return f"{self.account}#{self.instance_id}#{self.incident}"

    @property
    def signal_key(self) -> str:
        """Same only for copies of one signal: two of them in a batch are one. A Spot warning and a lifecycle action
        of the same interruption are two signals (each has work only it can do)."""
        return f"{self.interruption_key}#{self.lifecycle.token if self.lifecycle else self.kind.value}"

    @property
    def is_interruption(self) -> bool:
        return self.kind is not NoticeKind.REBALANCE_RECOMMENDATION

    @property
    def action_label(self) -> str:
        if self.kind is NoticeKind.REBALANCE_RECOMMENDATION:
            return "rebalance recommended (no interruption yet)"
        if self.lifecycle is not None:
            origin = f", from {self.lifecycle.origin}" if self.lifecycle.origin else ""
            return f"terminate (lifecycle hook {self.lifecycle.hook_name}{origin}; {self.lifecycle.where_to})"
        return {"terminate": "terminate", "stop": "stop", "hibernate": "hibernate"}.get(self.action or "", "terminate")


def from_json(body: Any) -> Any:
    """A record's body as a value: text is read as JSON (MalformedNotice if it is not), anything else kept."""
    if not isinstance(body, (str, bytes, bytearray)):
        return body
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser's stack
        raise MalformedNotice(f"body: not JSON ({shown(exc)})") from None


def parse_notice(event: Any) -> InterruptionNotice:
    """Turn an EventBridge event (dict or JSON text) into a notice, or raise MalformedNotice with the reason.

    Only what the handler uses is checked; any other field, documented or not, is accepted and ignored.
    """
    event = from_json(event)
    if not isinstance(event, dict):
        raise MalformedNotice(f"body: expected a JSON object, got {type(event).__name__}")
    problems: list[str] = []
    notice_id = _text(event.get("id"), "id", problems, max_length=128)
    detail_type = event.get("detail-type")
    kind = _DETAIL_TYPES.get(detail_type) if isinstance(detail_type, str) else None
    source = kind.source if kind else "aws.ec2"
    if event.get("source") != source:
        problems.append(f"source: expected {source!r}, got {shown(event.get('source'))}")
    if kind is None:
        problems.append(f"detail-type: not a notice this handler supports: {shown(detail_type)}")
    noticed_at = _timestamp(event.get("time"), "time", problems)
    account = event.get("account", "unknown")
    if not (isinstance(account, str) and _ACCOUNT.fullmatch(account)):
        problems.append(f"account: expected 12 digits, got {shown(account)}")
    # Nothing the handler does needs account or region: a notice without them is still acted on.
    region = _text(event.get("region", "unknown"), "region", problems)

    detail = event.get("detail")
    instance_id = action = termination = lifecycle = None
    if not isinstance(detail, dict):
        problems.append(f"detail: expected an object, got {type(detail).__name__}")
    elif kind is NoticeKind.LIFECYCLE_TERMINATE:
        instance_id, lifecycle = _lifecycle_detail(detail, problems)
        action = "terminate"
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
    # A lifecycle action has no deadline of its own: the instance waits for the hook (its timeout is the group's).
    if not problems and kind not in (NoticeKind.REBALANCE_RECOMMENDATION, NoticeKind.LIFECYCLE_TERMINATE):
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
        lifecycle=lifecycle,
    )


def _lifecycle_detail(detail: dict, problems: list[str]) -> tuple[str | None, LifecycleAction | None]:
    """The instance and the lifecycle action of an "EC2 Instance-terminate Lifecycle Action" detail."""
    instance_id = detail.get("EC2InstanceId")
    if not (isinstance(instance_id, str) and _INSTANCE_ID.fullmatch(instance_id)):
        problems.append(f"detail.EC2InstanceId: not an instance id: {shown(instance_id)}")
    transition = detail.get("LifecycleTransition")
    if transition != "autoscaling:EC2_INSTANCE_TERMINATING":
        problems.append(f"detail.LifecycleTransition: expected a terminating transition, got {shown(transition)}")
    token = detail.get("LifecycleActionToken")
    if not (isinstance(token, str) and _TOKEN.fullmatch(token)):  # CompleteLifecycleAction takes 36 characters
        problems.append(f"detail.LifecycleActionToken: not a lifecycle action token: {shown(token)}")
    group = _text(detail.get("AutoScalingGroupName"), "detail.AutoScalingGroupName", problems, max_length=255)
    hook = _text(detail.get("LifecycleHookName"), "detail.LifecycleHookName", problems, max_length=255)
    origin, destination = detail.get("Origin"), detail.get("Destination")
    for where, value in (("detail.Origin", origin), ("detail.Destination", destination)):
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}: expected text, got {shown(value)}")
    if problems:
        return None, None
    return instance_id, LifecycleAction(token, group, hook, origin, destination)


_DETAIL_TYPES = {kind.value: kind for kind in NoticeKind}
_ACTIONS = ("terminate", "stop", "hibernate")
_INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
_TOKEN = re.compile(r"[0-9A-Fa-f-]{36}")
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


def instance_arn(account: str, region: str, instance_id: str) -> str | None:
    """arn:PARTITION:ec2:REGION:ACCOUNT:instance/ID, or None when the notice named no account or region."""
    if account == "unknown" or not _ACCOUNT.fullmatch(account) or region in ("", "unknown"):
        return None
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:ec2:{region}:{account}:instance/{instance_id}"


def target_group_name(arn: str) -> str:
    """NAME of arn:aws:elasticloadbalancing:REGION:ACCOUNT:targetgroup/NAME/ID (the ARN itself if it is not one)."""
    parts = arn.split("/")
    return parts[1] if len(parts) >= 3 else arn


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
    already_draining: list[str] = field(default_factory=list)  # "id:port" found draining (an earlier signal's work)
    not_registered: bool = False
    delay_lowered_from: int | None = None
    delay_seconds: int | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return target_group_name(self.target_group_arn)

    @property
    def ok(self) -> bool:
        return self.error is None
