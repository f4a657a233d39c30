"""Typed notices and the facts the handler gathers about them.

Events become these objects at the edge (signals/: one parser per signal); nothing past the edge digs in raw dicts.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

SPOT_WARNING_SECONDS = 120
RESTORE_INCIDENT = "restore"
# EC2 taking a Spot instance back (StateReason.Code): terminated, or stopped (hibernated instances stop too).
SPOT_INTERRUPTION_REASONS = ("Server.SpotInstanceTermination", "Server.SpotInstanceShutdown")
INSTANCE_ID_PATTERN = r"^i-[0-9a-f]{8}([0-9a-f]{9})?$"  # template.yaml and the signals check ids against it


class NoticeKind(NamedTuple):
    """A signal the handler acts on: its EventBridge detail-type and what it means. Each signal module in signals/
    defines one (`KIND`)."""

    value: str  # the detail-type
    source: str  # the EventBridge source that sends it
    label: str  # how an alert names it: "Spot interruption"
    interruption: bool = True  # False: advice (a rebalance recommendation), an incident of its own, drained on request
    # The deadline is the notice's time + this when the event names none (a Spot warning: 120 s); None: no deadline
    # (advice; a lifecycle action, which waits for its hook).
    warning_seconds: int | None = SPOT_WARNING_SECONDS

    @property
    def incident(self) -> str:
        """What a notice of this kind is part of: every interruption-class signal for an instance (Spot warning,
        Capacity Reservation warning, terminate lifecycle action) is one interruption; advice is its own."""
        return "interruption" if self.interruption else self.value


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
    state: str | None = None  # state-change notices only: the state the instance entered (stopping, running, ...)
    # The SQS messages that brought it: every copy of this signal in the batch (invocation.py); its claim is held
    # by one of them, and a claim held by any of them is this batch's own (idempotency/claims.py).
    deliveries: tuple[str, ...] = ()

    @property
    def incident(self) -> str:
        """What this notice is part of (NoticeKind.incident); an instance running again is a restore of its own."""
        return RESTORE_INCIDENT if self.state == "running" else self.kind.incident

    @property
    def interruption_key(self) -> str:
        """Same for every notice of one interruption: EventBridge re-sends (same id), EC2 re-notices (new id), and
        the other signals of the same interruption (a Spot warning and its lifecycle action)."""
        return f"{self.account}#{self.instance_id}#{self.incident}"

    @property
    def claim_key(self) -> str:
        """The idempotency claim's key (idempotency/claims.py): one claim per interruption."""
        return self.interruption_key

    @property
    def claim_data(self) -> dict[str, str]:
        """The idempotency record's data; Powertools hashes [account, instance, incident] into its key."""
        return {
            "account": self.account,
            "instance": self.instance_id,
            "incident": self.incident,
            "noticeId": self.notice_id,
        }

    @property
    def signal_key(self) -> str:
        """Same only for copies of one signal: two of them in a batch are one. A Spot warning and a lifecycle action
        of the same interruption are two signals (each has work only it can do)."""
        return f"{self.interruption_key}#{self.lifecycle.token if self.lifecycle else self.kind.value}"

    @property
    def is_interruption(self) -> bool:
        return self.kind.interruption

    @property
    def action_label(self) -> str:
        if not self.kind.interruption:
            return "rebalance recommended (no interruption yet)"
        if self.lifecycle is not None:
            origin = f", from {self.lifecycle.origin}" if self.lifecycle.origin else ""
            return f"terminate (lifecycle hook {self.lifecycle.hook_name}{origin}; {self.lifecycle.where_to})"
        return {"terminate": "terminate", "stop": "stop", "hibernate": "hibernate"}.get(self.action or "", "terminate")


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


_ACCOUNT = re.compile(r"[0-9]{12}")


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
    state_reason: str | None = None  # StateReason.Code: Server.SpotInstanceTermination when EC2 took it back
    state_changed: str | None = None  # StateTransitionReason, which may carry when it changed

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
    # each removed registration as DeregisterTargets took it (Id, Port, AvailabilityZone): what a restore puts back
    removed: list[dict] = field(default_factory=list)
    already_draining: list[str] = field(default_factory=list)  # "id:port" found draining (an earlier signal's work)
    not_registered: bool = False
    delay_lowered_from: int | None = None
    delay_seconds: int | None = None
    error: str | None = None
    permanent: bool = False  # the error is not worth trying again (not ours to drain, no permission, not found)

    @property
    def name(self) -> str:
        return target_group_name(self.target_group_arn)

    @property
    def unconfirmed(self) -> bool:
        """Not taken out, for a reason that may pass: worth draining again."""
        return bool(self.error) and not (self.deregistered or self.already_draining or self.permanent)

    @property
    def ok(self) -> bool:
        return self.error is None
